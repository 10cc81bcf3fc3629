//! What a training run reports: metrics per step and per epoch, and evaluations.

use serde::{Deserialize, Serialize};

/// One training step, as read back from the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// 0-based iteration.
    pub iteration: u64,
    /// 0-based epoch.
    pub epoch: u32,
    /// Mean cross-entropy over the batch.
    pub loss: f64,
    /// Fraction of the batch classified correctly.
    pub accuracy: f64,
    /// Learning rate used (the head's, for methods with a rate per block).
    pub lr: f64,
    /// Blocks frozen during the step (FreezeOut).
    pub frozen_blocks: u32,
    /// Forward FLOPs the step executed (convolutions and linear layers).
    pub forward_flops: f64,
    /// Backward FLOPs the step executed.
    pub backward_flops: f64,
}

/// Loss and accuracy over a whole evaluation set, in inference mode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Images evaluated.
    pub images: u32,
}

/// A finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: u32,
    /// Mean training loss over its steps.
    pub train_loss: f64,
    /// Mean training accuracy over its steps.
    pub train_accuracy: f64,
    /// Test set, when evaluated.
    pub test: Option<Evaluation>,
    /// Validation split, when there is one and it was evaluated.
    pub validation: Option<Evaluation>,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub seconds: f64,
    /// Training images per second in this epoch.
    pub images_per_second: f64,
}

/// Something the page or the CLI should show.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Steps were read back (their metrics are in the step history from `first`).
    Steps {
        /// Index of the first new step in the history.
        first: usize,
        /// How many.
        count: usize,
        /// Training images per second over these steps.
        images_per_second: f64,
    },
    /// An epoch ended (and was evaluated if configured).
    Epoch(EpochMetrics),
    /// A snapshot was taken and evaluated (Snapshot Ensembles).
    Snapshot {
        /// 0-based snapshot number.
        index: usize,
        /// The iteration after which it was taken.
        iteration: u64,
        /// Its test loss and accuracy alone.
        test: Evaluation,
        /// The ensembles of the last m snapshots so far, m = 1, 2, ...
        ensemble: Vec<crate::ensemble::EnsemblePoint>,
    },
    /// Blocks froze (FreezeOut): from `iteration` on, the first `blocks` blocks are frozen.
    Frozen {
        /// Blocks frozen from now on.
        blocks: usize,
        /// The first iteration they are frozen at.
        iteration: u64,
    },
    /// All iterations are done.
    Finished,
}
