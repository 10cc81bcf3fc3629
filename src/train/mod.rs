//! Training: settings ([`config`]), the data on the GPU ([`data`]), what a step runs
//! ([`work`]), the trainer that drives the static plan ([`trainer`]), what it tells its
//! callers as it goes ([`events`]), the training state a run goes on from after a fault
//! ([`state`]), the summary and comparison rows every front end shows ([`report`]), and
//! the ensemble's end-to-end check against a CPU recomputation ([`verify`]).

pub mod config;
pub mod data;
pub mod events;
pub mod predict;
pub mod probabilities;
pub mod report;
pub mod state;
pub mod trainer;
pub mod verdict;
pub mod verify;
pub mod work;

pub use crate::metrics::{EpochMetrics, Evaluation, PhaseTime, Resume, StepMetrics};
pub use config::{ConfigError, TrainConfig};
pub use events::Event;
pub use report::{Comparison, RunRecord, RunSummary};
pub use state::{RunState, StateError};
pub use trainer::{Advance, Outcome, Stride, TrainError, Trainer};
pub use verify::{check_ensemble, EnsembleCheck};
pub use work::{StepProfile, WorkDone};
