//! Timing and profiling: training time by number of frozen blocks (the source of the run's
//! speed and of FreezeOut's measured saving), what each kind of step runs (FLOPs, launches),
//! every kernel timed on the GPU, and the forward half of a step timed alone.

use web_time::Instant;

use super::{TrainError, Trainer};
use crate::gpu::{Commands, Gpu, KernelProfile};
use crate::metrics::{quantile, FreezeTiming, PerStepMs, PhaseTime};
use crate::train::work::{forward_work, step_work, StepParts, StepProfile, WorkDone};

/// How long each timed burst of one kind of step lasts: at least `seconds` (a GPU step
/// takes milliseconds; a burst that short would time the submission, not the step), at
/// most `most` steps.
#[derive(Clone, Copy, Debug)]
pub(super) struct Burst {
    pub seconds: f64,
    pub most: u32,
}

/// FreezeOut's timing after the run.
const FREEZE_BURST: Burst = Burst {
    seconds: 0.02,
    most: 16,
};

/// The run's clock: training time per phase and in the current epoch, and what a step of
/// each phase runs.
pub(super) struct Timing {
    /// Training time and steps read back, by number of frozen blocks.
    pub phases: Vec<PhaseTime>,
    /// Training seconds of the unfinished epoch so far.
    pub epoch_seconds: f64,
    /// What a step runs for each number of frozen blocks with an optimizer.
    profiles: Vec<Option<StepProfile>>,
    /// When the steps waiting to be read back started.
    window_start: Option<Instant>,
    /// Images per second of each window read back since the run (or its restore) began.
    pub window_speeds: Vec<f64>,
    /// Images per step.
    batch: u32,
    /// FreezeOut's saving timed after the run ([`Trainer::time_freezing`]).
    pub freeze: Option<FreezeTiming>,
    /// Milliseconds the CPU took to record each training step, and to submit it.
    recording: Vec<f64>,
    submitting: Vec<f64>,
}

impl Timing {
    /// A clock at zero for steps of `batch` images that run `profiles` (one per number of
    /// frozen blocks).
    pub fn new(profiles: Vec<Option<StepProfile>>, batch: u32) -> Self {
        Timing {
            phases: (0..profiles.len())
                .map(|frozen| PhaseTime {
                    frozen,
                    steps: 0,
                    seconds: 0.0,
                })
                .collect(),
            epoch_seconds: 0.0,
            profiles,
            window_start: None,
            window_speeds: Vec::new(),
            batch,
            freeze: None,
            recording: Vec::new(),
            submitting: Vec::new(),
        }
    }

    /// A training step was recorded from `started` and submitted from `submitting` until
    /// now.
    pub fn step_recorded(&mut self, started: Instant, submitting: Instant) {
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
        let now = Instant::now();
        self.recording.push(ms(started, submitting));
        self.submitting.push(ms(submitting, now));
    }

    /// The CPU's milliseconds to record a step, and to submit it, over the run's steps
    /// (since its start or restore); `None` before the first.
    pub fn record_and_submit_ms(&self) -> (Option<PerStepMs>, Option<PerStepMs>) {
        (
            PerStepMs::of(&self.recording),
            PerStepMs::of(&self.submitting),
        )
    }

    /// A step is about to be submitted: the window starts with the first since a readback.
    pub fn step_submitted(&mut self) {
        if self.window_start.is_none() {
            self.window_start = Some(Instant::now());
        }
    }

    /// The window's steps were read back: of its `count` steps (all with `frozen` blocks
    /// frozen, since windows never span a freeze), the first `good` count; the bad steps'
    /// share of the time is dropped with them. Returns the seconds counted.
    pub fn steps_read(&mut self, frozen: usize, good: usize, count: usize) -> f64 {
        let seconds = self
            .window_start
            .take()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let seconds = seconds * good as f64 / count.max(1) as f64;
        self.epoch_seconds += seconds;
        let phase = &mut self.phases[frozen];
        phase.steps += good as u64;
        phase.seconds += seconds;
        if good > 0 && seconds > 0.0 {
            self.window_speeds
                .push((good as u64 * self.batch as u64) as f64 / seconds);
        }
        seconds
    }

    /// What a step runs with `frozen` blocks frozen, if such a step can occur.
    pub fn profile(&self, frozen: usize) -> Option<&StepProfile> {
        self.profiles.get(frozen)?.as_ref()
    }

    /// Seconds spent in training steps (evaluations excluded).
    pub fn train_seconds(&self) -> f64 {
        self.phases.iter().map(|p| p.seconds).sum()
    }

    /// The work of the steps read back so far.
    pub fn work(&self) -> WorkDone {
        let mut work = WorkDone::default();
        for phase in &self.phases {
            if let (Some(profile), Some(full)) = (self.profile(phase.frozen), self.profile(0)) {
                work.add(phase.steps, profile, full);
            }
        }
        work
    }

    /// See [`Trainer::measured_saving`].
    pub fn measured_saving(&self) -> Option<f64> {
        let unfrozen = &self.phases[0];
        let later: u64 = self.phases[1..].iter().map(|p| p.steps).sum();
        if unfrozen.steps == 0 || later == 0 || unfrozen.seconds <= 0.0 {
            return None;
        }
        let per_step = unfrozen.seconds / unfrozen.steps as f64;
        let steps = unfrozen.steps + later;
        Some(1.0 - self.train_seconds() / (per_step * steps as f64))
    }
}

impl Trainer {
    /// The work of the steps read back so far: FLOPs executed and launches by kernel.
    pub fn work(&self) -> WorkDone {
        self.timing.work()
    }

    /// What a step runs with `frozen` blocks frozen, if such a step can occur.
    pub fn profile(&self, frozen: usize) -> Option<&StepProfile> {
        self.timing.profile(frozen)
    }

    /// Seconds spent in training steps (evaluations excluded).
    pub fn train_seconds(&self) -> f64 {
        self.timing.train_seconds()
    }

    /// FreezeOut's wall-clock saving measured within the run: 1 - the training time / the
    /// time the same steps take at the speed of the steps with nothing frozen. `None` until
    /// a block has frozen.
    pub fn measured_saving(&self) -> Option<f64> {
        self.timing.measured_saving()
    }

    /// Runs up to `steps` more training steps (real ones: they count) with every kernel
    /// timed on the GPU by timestamp queries; fails on adapters without them.
    pub async fn kernel_profile(&mut self, steps: u64) -> Result<KernelProfile, TrainError> {
        self.gpu.begin_profile()?;
        let ran = self.run(steps).await;
        let profile = self.gpu.end_profile().await;
        ran?;
        Ok(profile?)
    }

    /// Seconds per step of the training step's forward half alone (gather, every block's
    /// training-mode forward, loss), timed over `steps` steps after one warm-up step:
    /// `compare` and the page use it to split a baseline's step time into forward and
    /// backward. The running statistics and the epoch's order are put back afterwards, but
    /// the step metrics slot is overwritten, so call it on a finished run or a throwaway one.
    pub async fn time_forward_pass(&mut self, steps: u32) -> Result<f64, TrainError> {
        let gpu: &Gpu = &self.gpu;
        let state = gpu
            .read_f32(&self.plan.state, 0, self.plan.layouts.state.len as usize)
            .await?;
        let seconds = self.time_forward_steps(steps).await;
        let gpu: &Gpu = &self.gpu;
        gpu.write(&self.plan.state, 0, &state);
        let epoch = (self.iteration / self.steps_per_epoch) as u32;
        gpu.write(&self.data.train.indices, 0, &self.order(epoch));
        seconds
    }

    async fn time_forward_steps(&mut self, steps: u32) -> Result<f64, TrainError> {
        let gpu: &Gpu = &self.gpu;
        gpu.write(&self.data.train.indices, 0, &self.order(0));
        let mut started = None;
        for k in 0..=steps {
            if k == 1 {
                gpu.finish().await?;
                started = Some(Instant::now());
            }
            let position = (k % self.steps_per_epoch as u32) * self.config.batch;
            self.data.train.gather.set_position(gpu, 0, position);
            let gather = self.data.train.gather.dispatch();
            let work = forward_work(&self.plan, 0, gather, self.loss.scratch_loss());
            let mut commands = Commands::new(gpu, "forward pass timing");
            commands.run(&work);
            commands.submit();
        }
        gpu.finish().await?;
        let seconds = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        Ok(seconds / steps.max(1) as f64)
    }

    /// FreezeOut's step time saving, measured once the run has ended (see [`FreezeTiming`]):
    /// every kind of step the run ran (by blocks frozen) is timed in `rounds` interleaved
    /// rounds of short bursts, after one warm-up step of each. The weights and running
    /// statistics are put back afterwards; the momentum is not, so call it on a finished
    /// run. `None` when nothing froze, and on a run that has not ended.
    pub async fn time_freezing(&mut self, rounds: u32) -> Result<Option<FreezeTiming>, TrainError> {
        let kinds: Vec<PhaseTime> = self
            .timing
            .phases
            .iter()
            .filter(|p| p.steps > 0)
            .cloned()
            .collect();
        if !self.is_finished() || kinds.len() < 2 || kinds[0].frozen != 0 || rounds == 0 {
            return Ok(None);
        }
        let kept = self.keep_weights().await?;
        let recorded: Vec<_> = kinds.iter().map(|k| (k.frozen, Recording::AsIs)).collect();
        let timed = self.time_in_rounds(&recorded, rounds, FREEZE_BURST).await;
        self.put_back_weights(kept).await?;
        let (burst, seconds) = timed?;
        // One saving per round: the run's steps at this round's time for each kind, against
        // as many steps at this round's time with nothing frozen.
        let steps: u64 = kinds.iter().map(|k| k.steps).sum();
        let mut savings: Vec<f64> = (0..rounds as usize)
            .map(|r| {
                let run: f64 = kinds
                    .iter()
                    .zip(&seconds)
                    .map(|(k, t)| k.steps as f64 * t[r])
                    .sum();
                1.0 - run / (steps as f64 * seconds[0][r])
            })
            .collect();
        savings.sort_by(f64::total_cmp);
        let step_seconds = kinds
            .iter()
            .zip(&seconds)
            .map(|(k, t)| {
                let mut t = t.clone();
                t.sort_by(f64::total_cmp);
                PhaseTime {
                    frozen: k.frozen,
                    steps: k.steps,
                    seconds: quantile(&t, 0.5),
                }
            })
            .collect();
        let timing = FreezeTiming {
            saving: quantile(&savings, 0.5),
            low: savings[0],
            high: savings[savings.len() - 1],
            rounds,
            steps_per_round: burst,
            step_seconds,
        };
        self.timing.freeze = Some(timing.clone());
        Ok(Some(timing))
    }

    /// The weights, running statistics and divergence guard (just past the statistics),
    /// read before steps that are only timed, for [`Self::put_back_weights`].
    pub(super) async fn keep_weights(&self) -> Result<KeptWeights, TrainError> {
        let params_len = self.plan.layouts.params.len as usize;
        // The guard is the state buffer's element after the statistics.
        let guard = self.plan.guard();
        Ok(KeptWeights {
            params: self.gpu.read_f32(&self.plan.params, 0, params_len).await?,
            state: self
                .gpu
                .read_f32(guard.buffer, 0, guard.offset as usize + 1)
                .await?,
        })
    }

    /// Puts back what [`Self::keep_weights`] read. Fails if the timed steps set the
    /// divergence guard: the optimizer skips its work from then on, so their times are not
    /// a step's.
    pub(super) async fn put_back_weights(&mut self, kept: KeptWeights) -> Result<(), TrainError> {
        let guard = self.plan.guard();
        let after = self
            .gpu
            .read_f32(guard.buffer, guard.offset as usize, 1)
            .await?;
        self.gpu.write(&self.plan.params, 0, &kept.params);
        self.gpu.write(&self.plan.state, 0, &kept.state);
        match after.first() != kept.state.last() {
            true => Err(TrainError::TimedStepsDiverged),
            false => Ok(()),
        }
    }

    /// Seconds per step of each kind of step in `kinds` (blocks frozen, how its launches are
    /// recorded), round by round after one warm-up step of each, in bursts as long as
    /// `burst` says for the first kind: `(steps per burst, [kind][round])`.
    pub(super) async fn time_in_rounds(
        &mut self,
        kinds: &[(usize, Recording<'_>)],
        rounds: u32,
        burst: Burst,
    ) -> Result<(u32, Vec<Vec<f64>>), TrainError> {
        let mut warm = Vec::with_capacity(kinds.len());
        for &(frozen, recording) in kinds {
            warm.push(self.time_steps(frozen, 1, recording).await?);
        }
        let steps = ((burst.seconds / warm[0].max(1e-9)).ceil() as u32).clamp(1, burst.most);
        let mut seconds = vec![Vec::with_capacity(rounds as usize); kinds.len()];
        for _ in 0..rounds {
            for (&(frozen, recording), times) in kinds.iter().zip(seconds.iter_mut()) {
                times.push(self.time_steps(frozen, steps, recording).await?);
            }
        }
        Ok((steps, seconds))
    }

    /// Seconds per step of `count` training steps with `frozen` blocks frozen, their
    /// launches recorded as `recording` says (their metrics go to the scratch slot), from an
    /// idle GPU to the last step's end.
    async fn time_steps(
        &mut self,
        frozen: usize,
        count: u32,
        recording: Recording<'_>,
    ) -> Result<f64, TrainError> {
        let gpu: &Gpu = &self.gpu;
        gpu.finish().await?;
        let started = Instant::now();
        for k in 0..count {
            let position = (k as u64 % self.steps_per_epoch) as u32 * self.config.batch;
            self.data.train.gather.set_position(gpu, 0, position);
            let parts = StepParts {
                gather: self.data.train.gather.dispatch(),
                loss: self.loss.scratch_loss(),
                optimizer: self.optimizer.prepared(frozen)?,
            };
            let work = recording.apply(step_work(&self.plan, frozen, &parts), |d| d.kernel());
            let mut commands = Commands::new(gpu, "step timing");
            commands.run(&work);
            commands.submit();
        }
        gpu.finish().await?;
        Ok(started.elapsed().as_secs_f64() / count.max(1) as f64)
    }
}

/// What steps that are only timed must leave as they found it (see
/// [`Trainer::keep_weights`]).
pub(super) struct KeptWeights {
    params: Vec<f32>,
    /// The running statistics and, last, the divergence guard.
    state: Vec<f32>,
}

/// How a timed step's launches are recorded.
#[derive(Clone, Copy, Debug)]
pub(super) enum Recording<'a> {
    /// As training records them.
    AsIs,
    /// Without the launches of kernels whose names start with this.
    Without(&'a str),
    /// With each launch of those kernels recorded twice in a row.
    Twice(&'a str),
}

impl Recording<'_> {
    /// `work` (launches named by `kernel`) as this recording records it.
    fn apply<T: Copy>(&self, work: Vec<T>, kernel: impl Fn(&T) -> &'static str) -> Vec<T> {
        match *self {
            Recording::AsIs => work,
            Recording::Without(prefix) => work
                .into_iter()
                .filter(|d| !kernel(d).starts_with(prefix))
                .collect(),
            Recording::Twice(prefix) => work
                .into_iter()
                .flat_map(|d| match kernel(&d).starts_with(prefix) {
                    true => vec![d, d],
                    false => vec![d],
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Recording;

    #[test]
    fn recordings_leave_out_or_repeat_in_place_only_the_kernels_named() {
        let step = vec![
            "conv2d_forward",
            "conv2d_weight_grad",
            "conv2d_weight_grad_sum",
            "sgd",
        ];
        let name = |k: &&'static str| *k;
        assert_eq!(Recording::AsIs.apply(step.clone(), name), step);
        assert_eq!(
            Recording::Without("conv2d_weight_grad").apply(step.clone(), name),
            ["conv2d_forward", "sgd"]
        );
        assert_eq!(
            Recording::Twice("conv2d_weight_grad").apply(step.clone(), name),
            [
                "conv2d_forward",
                "conv2d_weight_grad",
                "conv2d_weight_grad",
                "conv2d_weight_grad_sum",
                "conv2d_weight_grad_sum",
                "sgd"
            ]
        );
        assert_eq!(Recording::Twice("bn_").apply(step.clone(), name), step);
    }
}
