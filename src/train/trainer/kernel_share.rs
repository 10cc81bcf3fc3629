//! A family of kernels' share of the training step, measured by difference: the full step
//! timed against the step without those launches and with each of them twice (see
//! [`KernelShare`]). A timestamp profile needs the adapter's timestamp queries and times
//! each kernel in a pass of its own; this times only whole steps, recorded as training
//! records them.

use super::timing::Recording;
use super::{TrainError, Trainer};
use crate::metrics::{KernelShare, Spread};

/// Each timed burst of one kind of step lasts at least this long.
const BURST_SECONDS: f64 = 0.05;
/// The most steps in one burst.
const MAX_BURST: u32 = 64;

impl Trainer {
    /// The share of a full step (nothing frozen) taken by the kernels whose names start with
    /// `prefix`, timed in `rounds` interleaved rounds of bursts (full, without, twice) after
    /// one warm-up step of each. The weights and running statistics are put back afterwards;
    /// the momentum is not, so call it on a finished run. `None` when no launch of the step
    /// matches or `rounds` is 0.
    pub async fn time_kernel_share(
        &mut self,
        prefix: &str,
        rounds: u32,
    ) -> Result<Option<KernelShare>, TrainError> {
        let launches: u32 = self.profile(0).map_or(0, |p| {
            p.dispatches
                .iter()
                .filter(|(kernel, _)| kernel.starts_with(prefix))
                .map(|(_, &n)| n)
                .sum()
        });
        if prefix.is_empty() || launches == 0 || rounds == 0 {
            return Ok(None);
        }
        let kept = self.keep_weights().await?;
        let timed = self.time_recordings(prefix, rounds).await;
        self.put_back_weights(kept).await?;
        let (burst, [full, without, twice]) = timed?;
        let removed: Vec<f64> = full
            .iter()
            .zip(&without)
            .map(|(f, w)| 1.0 - w / f)
            .collect();
        let doubled: Vec<f64> = full.iter().zip(&twice).map(|(f, t)| t / f - 1.0).collect();
        Ok(Some(KernelShare {
            kernels: prefix.to_string(),
            launches,
            step_ms: 1e3 * Spread::of(&full).median,
            removed: Spread::of(&removed),
            doubled: Spread::of(&doubled),
            rounds,
            steps_per_round: burst,
        }))
    }

    /// Seconds per step, round by round, of the full step, the step without the `prefix`
    /// launches and the step with them twice: `(burst, [full, without, twice])`.
    async fn time_recordings(
        &mut self,
        prefix: &str,
        rounds: u32,
    ) -> Result<(u32, [Vec<f64>; 3]), TrainError> {
        let kinds = [
            Recording::AsIs,
            Recording::Without(prefix),
            Recording::Twice(prefix),
        ];
        let mut warm = [0.0; 3];
        for (kind, seconds) in kinds.iter().zip(warm.iter_mut()) {
            *seconds = self.time_steps_recorded(0, 1, *kind).await?;
        }
        let burst = ((BURST_SECONDS / warm[0].max(1e-9)).ceil() as u32).clamp(1, MAX_BURST);
        let mut seconds: [Vec<f64>; 3] = Default::default();
        for _ in 0..rounds {
            for (kind, times) in kinds.iter().zip(seconds.iter_mut()) {
                times.push(self.time_steps_recorded(0, burst, *kind).await?);
            }
        }
        Ok((burst, seconds))
    }
}
