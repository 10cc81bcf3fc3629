//! Training: settings ([`config`]), the data on the GPU ([`data`]), what a run reports
//! ([`metrics`]), the trainer that drives the static plan ([`trainer`]) and the
//! training state a run goes on from after a fault ([`state`]).

pub mod config;
pub mod data;
pub mod metrics;
pub mod probabilities;
pub mod state;
pub mod trainer;
pub mod work;

pub use config::{ConfigError, TrainConfig};
pub use metrics::{EpochMetrics, Evaluation, Event, StepMetrics};
pub use state::{RunState, StateError};
pub use trainer::{PhaseTime, Resume, RunSummary, TrainError, Trainer};
pub use work::{StepProfile, WorkDone};
