//! Training: settings ([`config`]), the data on the GPU ([`data`]), what a run reports
//! ([`metrics`]) and the trainer that drives the static plan ([`trainer`]).

pub mod config;
pub mod data;
pub mod metrics;
pub mod trainer;

pub use config::{ConfigError, TrainConfig};
pub use metrics::{EpochMetrics, Evaluation, Event, StepMetrics};
pub use trainer::{TrainError, Trainer};
