//! The run loop the CLI and the page share: [`Trainer::advance`] runs to the next epoch end
//! (or fewer steps, paced so that the caller can show progress), and says what happened as
//! data: steps ran, an epoch ended and the training state is due, the run finished, a step
//! diverged, or the device was lost. The callers only show it and ask the user what to do.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::{TrainError, Trainer};
use crate::gpu::GpuError;

/// The most steps one paced call runs: one submission and one readback each, so the page
/// stays responsive and a stop lands within a call.
pub const MAX_PACED_STEPS: u64 = 16;

/// How far one call to [`Trainer::advance`] may go; it stops at an epoch's end either way.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stride {
    /// At most this many steps.
    Steps(u64),
    /// About this many seconds: one step on the first call (so the first metrics show at
    /// once), then as many as the last call's speed says fit, 1 to [`MAX_PACED_STEPS`].
    Seconds(f64),
}

/// What a call to [`Trainer::advance`] ended with.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Steps ran and the epoch goes on.
    Ran,
    /// Epoch `epoch` (0-based) ended, evaluated if configured: the training state is due,
    /// so that after a fault the run goes on from here.
    EpochEnded {
        /// The epoch that ended.
        epoch: u32,
    },
    /// Every iteration has run (the last epoch ended too).
    Finished,
    /// A step's loss or gradients stopped being numbers. The run stands before it, with the
    /// last good step's weights, until [`Trainer::resume`] goes on at lower rates.
    Diverged {
        /// The iteration that diverged.
        iteration: u64,
        /// Its loss (not a number, or infinite).
        loss: f64,
        /// What to tell the user.
        message: String,
    },
    /// The GPU device was lost: this run is over on it, and can go on from its last
    /// training state on a new device.
    DeviceLost {
        /// The reason the GPU gave.
        reason: String,
        /// What to tell the user.
        message: String,
    },
}

/// The result of one [`Trainer::advance`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advance {
    /// Steps run and read back by this call.
    pub steps: u64,
    /// Iterations done now.
    pub iteration: u64,
    /// Whether the caller should keep the training state now (see [`Outcome::EpochEnded`]).
    pub state_due: bool,
    /// How the call ended.
    pub outcome: Outcome,
}

/// How long a failed GPU call waits for the device-lost reason behind it: the browser
/// reports the loss shortly after the failure it causes.
const LOST_GRACE_MS: u32 = 500;

/// Steps per paced call, from the last call's speed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pace {
    seconds_per_step: Option<f64>,
}

impl Pace {
    fn steps(&self, stride: Stride) -> u64 {
        match (stride, self.seconds_per_step) {
            (Stride::Steps(n), _) => n.max(1),
            (Stride::Seconds(_), None) => 1,
            (Stride::Seconds(s), Some(per_step)) => {
                let fit = (s / per_step.max(1e-9)).round();
                (fit.max(1.0) as u64).min(MAX_PACED_STEPS)
            }
        }
    }

    fn record(&mut self, steps: u64, seconds: f64) {
        if steps > 0 {
            self.seconds_per_step = Some(seconds / steps as f64);
        }
    }

    /// After a resume: one step first again.
    pub fn restart(&mut self) {
        self.seconds_per_step = None;
    }
}

impl Trainer {
    /// Runs up to the next epoch end, at most as far as `stride` allows, and says how the
    /// call ended. Failures other than a divergence or a lost device (a GPU validation
    /// error, say) are errors.
    pub async fn advance(&mut self, stride: Stride) -> Result<Advance, TrainError> {
        let before = self.iteration;
        let ended = |outcome| Advance {
            steps: 0,
            iteration: before,
            state_due: false,
            outcome,
        };
        if self.is_finished() {
            return Ok(ended(Outcome::Finished));
        }
        if let Some(iteration) = self.diverged {
            let error = TrainError::Diverged {
                iteration,
                loss: f64::NAN,
            };
            return Ok(ended(diverged(&error, iteration, f64::NAN)));
        }
        let per_epoch = self.steps_per_epoch;
        let to_epoch_end = per_epoch - before % per_epoch;
        let steps = self.pace.steps(stride).min(to_epoch_end);
        let started = Instant::now();
        let result = self.run(steps).await;
        let outcome = match result {
            Ok(()) => {
                self.pace.record(steps, started.elapsed().as_secs_f64());
                match self.iteration {
                    _ if self.is_finished() => Outcome::Finished,
                    j if j.is_multiple_of(per_epoch) => Outcome::EpochEnded {
                        epoch: (j / per_epoch - 1) as u32,
                    },
                    _ => Outcome::Ran,
                }
            }
            Err(e @ TrainError::Diverged { iteration, loss }) => diverged(&e, iteration, loss),
            Err(TrainError::Gpu(e)) => match self.lost_reason(&e).await {
                Some(reason) => Outcome::DeviceLost {
                    message: match e {
                        GpuError::DeviceLost(_) => e.to_string(),
                        other => GpuError::DeviceLost(format!("{reason}: {other}")).to_string(),
                    },
                    reason,
                },
                None => return Err(e.into()),
            },
            Err(e) => return Err(e),
        };
        Ok(Advance {
            steps: self.iteration.saturating_sub(before),
            iteration: self.iteration,
            state_due: matches!(outcome, Outcome::EpochEnded { .. }),
            outcome,
        })
    }

    /// The device-lost reason behind GPU error `e`, if the device was lost: at once when the
    /// error says so, else after waiting briefly for the browser to report it.
    async fn lost_reason(&self, e: &GpuError) -> Option<String> {
        if let GpuError::DeviceLost(reason) = e {
            return Some(reason.clone());
        }
        let mut waited = 0;
        loop {
            if let Some(reason) = self.gpu.lost_reason() {
                return Some(reason);
            }
            if waited >= LOST_GRACE_MS {
                return None;
            }
            crate::gpu::timing::pause_ms(50).await;
            waited += 50;
        }
    }
}

fn diverged(error: &TrainError, iteration: u64, loss: f64) -> Outcome {
    Outcome::Diverged {
        iteration,
        loss,
        message: error.to_string(),
    }
}
