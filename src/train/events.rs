//! What the trainer tells the page or the CLI as it goes: steps read back, epochs, snapshots
//! and members, freezes, and SWA's average.

use serde::Serialize;

use crate::ensemble::EnsemblePoint;
use crate::metrics::{EpochMetrics, Evaluation, SwaResult};

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
    /// A snapshot (Snapshot Ensembles) or member (FGE) was taken and evaluated.
    Snapshot {
        /// 0-based snapshot number.
        index: usize,
        /// The iteration after which it was taken.
        iteration: u64,
        /// Its test loss and accuracy alone.
        test: Evaluation,
        /// The ensembles of the last m snapshots so far, m = 1, 2, ...
        ensemble: Vec<EnsemblePoint>,
    },
    /// Blocks froze (FreezeOut): from `iteration` on, the first `blocks` blocks are frozen.
    Frozen {
        /// Blocks frozen from now on.
        blocks: usize,
        /// The first iteration they are frozen at.
        iteration: u64,
    },
    /// The weights joined SWA's running average at the end of an epoch.
    Averaged {
        /// Models in the average now.
        models: u32,
        /// The iteration after which they were taken.
        iteration: u64,
    },
    /// SWA's averaged model replaced the last SGD iterate at the end of the run.
    Swa(SwaResult),
    /// All iterations are done.
    Finished,
}
