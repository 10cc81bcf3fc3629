//! Timing and profiling: training time by number of frozen blocks (the source of the run's
//! speed and of FreezeOut's measured saving), what each kind of step runs (FLOPs, launches),
//! every kernel timed on the GPU, and the forward half of a step timed alone.

use web_time::Instant;

use super::{TrainError, Trainer};
use crate::gpu::{Commands, Gpu, KernelProfile};
use crate::metrics::PhaseTime;
use crate::train::work::{forward_work, StepProfile, WorkDone};

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
}

impl Timing {
    /// A clock at zero for steps that run `profiles` (one per number of frozen blocks).
    pub fn new(profiles: Vec<Option<StepProfile>>) -> Self {
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
        }
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
}
