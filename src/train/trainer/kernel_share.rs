//! A family of kernels' share of the training step, measured by difference: the full step
//! timed against the step without those launches and with each of them twice (see
//! [`KernelShare`]). A timestamp profile needs the adapter's timestamp queries and times
//! each kernel in a pass of its own; this times only whole steps, recorded as training
//! records them.

use super::timing::{Burst, Recording};
use super::{TrainError, Trainer};
use crate::metrics::{KernelShare, Spread};

/// Each timed burst: at least 50 ms of steps, at most 64 steps.
const SHARE_BURST: Burst = Burst {
    seconds: 0.05,
    most: 64,
};

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
        let kinds = [
            (0, Recording::AsIs),
            (0, Recording::Without(prefix)),
            (0, Recording::Twice(prefix)),
        ];
        let timed = self.time_in_rounds(&kinds, rounds, SHARE_BURST).await;
        self.put_back_weights(kept).await?;
        let (burst, seconds) = timed?;
        let [full, without, twice] = [&seconds[0], &seconds[1], &seconds[2]];
        let removed: Vec<f64> = full.iter().zip(without).map(|(f, w)| 1.0 - w / f).collect();
        let doubled: Vec<f64> = full.iter().zip(twice).map(|(f, t)| t / f - 1.0).collect();
        Ok(Some(KernelShare {
            kernels: prefix.to_string(),
            launches,
            step_ms: 1e3 * Spread::of(full).median,
            removed: Spread::of(&removed),
            doubled: Spread::of(&doubled),
            rounds,
            steps_per_round: burst,
        }))
    }
}
