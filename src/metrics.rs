//! What a training run records: metrics per step and per epoch, evaluations, the time spent
//! per FreezeOut phase and the resumes after divergences. Plain data with no dependencies, so
//! that the trainer, the training state and the ensembles can all use it.

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

/// Training time spent with a given number of blocks frozen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    /// Blocks frozen.
    pub frozen: usize,
    /// Steps run so.
    pub steps: u64,
    /// Seconds they took.
    pub seconds: f64,
}

/// Training went on after a divergence, from `iteration`, with its rates multiplied by
/// `factor` (see `Trainer::resume`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The first iteration run again.
    pub iteration: u64,
    /// What every learning rate was multiplied by.
    pub factor: f64,
    /// The base learning rate from then on.
    pub lr: f64,
}

/// Stochastic Weight Averaging's model at the end of a run, beside the last SGD iterate it
/// replaced.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwaResult {
    /// Models (epoch ends) in the average.
    pub models: u32,
    /// The last SGD iterate's test result, before the average replaced it.
    pub sgd_test: Evaluation,
    /// The averaged model's test result, its batch-norm statistics recomputed.
    pub test: Evaluation,
}
