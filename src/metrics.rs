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

/// Training speed over a run's timing windows (the steps between two readbacks), so that a
/// burst of other work on the machine moves the figure little: the median and the 10th and
/// 90th percentiles of the windows' images per second. The first window (pipelines
/// warming up) is left out when there are three or more.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedRange {
    /// Median images per second over the windows.
    pub median: f64,
    /// The 10th percentile.
    pub low: f64,
    /// The 90th percentile.
    pub high: f64,
    /// Windows measured.
    pub windows: usize,
}

impl SpeedRange {
    /// The range of `speeds` (one per window, in run order); `None` when there are none.
    pub fn of(speeds: &[f64]) -> Option<SpeedRange> {
        let warm = if speeds.len() >= 3 {
            &speeds[1..]
        } else {
            speeds
        };
        let mut sorted: Vec<f64> = warm.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(SpeedRange {
            median: quantile(&sorted, 0.5),
            low: quantile(&sorted, 0.1),
            high: quantile(&sorted, 0.9),
            windows: sorted.len(),
        })
    }
}

/// The `q` quantile of sorted `values` (not empty), interpolated between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (below, above) = (at.floor() as usize, at.ceil() as usize);
    sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64)
}

/// FreezeOut's step time saving, measured after the run by timing every kind of step it
/// ran (by number of blocks frozen) in interleaved rounds, so that load from other
/// programs falls on every kind alike: 1 - (the run's steps at each kind's time) / (as
/// many steps with nothing frozen), once per round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreezeTiming {
    /// The median saving over the rounds.
    pub saving: f64,
    /// The smallest round's saving.
    pub low: f64,
    /// The largest round's saving.
    pub high: f64,
    /// Rounds timed.
    pub rounds: u32,
    /// Steps timed per kind in each round.
    pub steps_per_round: u32,
    /// Median seconds per step for each kind the run ran, by blocks frozen.
    pub step_seconds: Vec<PhaseTime>,
}

/// How much of the training step's wall time one family of kernels takes, measured by
/// difference after the run (`Trainer::time_kernel_share`): the full step timed in
/// interleaved rounds against the same step without the family's launches and against it
/// with each of them recorded twice. Unlike a timestamp profile it needs no queries and
/// counts what the launches cost inside the step as it runs, pass boundaries and overlap
/// included. Left out, they also leave the caches to the kernels after them; run twice, the
/// second run finds its inputs cached: the true share lies near the two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelShare {
    /// The kernels measured: every kernel whose name starts with this.
    pub kernels: String,
    /// Their launches per step.
    pub launches: u32,
    /// Median milliseconds per full step over the rounds.
    pub step_ms: f64,
    /// 1 - (the step without them) / (the full step), over the rounds.
    pub removed: Spread,
    /// (the step with each launch twice) / (the full step) - 1, over the rounds.
    pub doubled: Spread,
    /// Rounds timed.
    pub rounds: u32,
    /// Steps timed per kind of step in each round.
    pub steps_per_round: u32,
}

/// The median of a figure measured once per round, and its smallest and largest values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median round's value.
    pub median: f64,
    /// The smallest round's value.
    pub low: f64,
    /// The largest round's value.
    pub high: f64,
}

impl Spread {
    /// The median and extremes of `values` (not empty), in any order.
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Spread {
            median: quantile(&sorted, 0.5),
            low: sorted[0],
            high: sorted[sorted.len() - 1],
        }
    }
}

/// Milliseconds measured once per training step: the mean, which a coarse clock (a
/// browser's may tick every 0.1 ms, longer than some steps' recording) leaves unbiased, the
/// median and the extremes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerStepMs {
    /// Mean over the steps.
    pub mean: f64,
    /// Median step.
    pub median: f64,
    /// Shortest step.
    pub low: f64,
    /// Longest step.
    pub high: f64,
    /// Steps measured.
    pub steps: usize,
}

impl PerStepMs {
    /// The figures of `values` (one per step); `None` when there are none. Linear in the
    /// steps, not sorted: the page asks for a run's summary after every call that trains.
    pub fn of(values: &[f64]) -> Option<PerStepMs> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mut rest = values.to_vec();
        let (below, &mut upper, _) = rest.select_nth_unstable_by(n / 2, f64::total_cmp);
        // An even count's median is midway between the two middle values (as `quantile`
        // interpolates, to the bit).
        let median = match n % 2 {
            1 => upper,
            _ => {
                let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                lower + (upper - lower) * 0.5
            }
        };
        Some(PerStepMs {
            mean: values.iter().sum::<f64>() / n as f64,
            median,
            low: values.iter().copied().fold(f64::INFINITY, f64::min),
            high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            steps: n,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::{PerStepMs, Spread};

    #[test]
    fn per_step_figures_agree_with_a_sorted_spread() {
        assert_eq!(PerStepMs::of(&[]), None);
        let one = PerStepMs::of(&[2.5]).unwrap();
        assert_eq!(
            (one.mean, one.median, one.low, one.high, one.steps),
            (2.5, 2.5, 2.5, 2.5, 1)
        );
        let even = PerStepMs::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(
            (even.median, even.mean, even.low, even.high),
            (2.5, 2.5, 1.0, 4.0)
        );
        let mut rng = fastrand::Rng::with_seed(7);
        for n in 1..40 {
            let values: Vec<f64> = (0..n).map(|_| rng.f64() * 10.0).collect();
            let (fast, sorted) = (PerStepMs::of(&values).unwrap(), Spread::of(&values));
            assert_eq!(
                (fast.median, fast.low, fast.high),
                (sorted.median, sorted.low, sorted.high),
                "{values:?}"
            );
        }
    }
}
