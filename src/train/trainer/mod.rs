//! The trainer: one static plan, one submit per step, metrics read back every few steps.
//! It runs the same in the browser and natively; every wait on the GPU is async. Setup is
//! kept apart from the work, so a test brings its own device.
//!
//! Its rooms, one job each:
//! - [`build`]: the data checked and uploaded, the initial weights;
//! - [`loss`]: the loss launches, the metric slots read back, divergence found in them;
//! - [`optimizer`]: SGD for each frozen prefix and its per-block rates;
//! - [`step`]: a step (forward, loss, backward, update), the history it adds to, epochs,
//!   divergence and resume;
//! - [`run_loop`]: [`Trainer::advance`], the loop the CLI and the page share;
//! - [`evaluation`]: the test and validation sets, the test outputs and the snapshots (and
//!   FGE's members);
//! - [`averaging`]: SWA's running average of the weights and its batch-norm pass;
//! - [`timing`]: training time per phase, FLOPs and launches, kernel profiles;
//! - [`kernel_share`]: a family of kernels' share of the step, timed by difference;
//! - [`export`]: weights and snapshots as checkpoints, the run's summary;
//! - [`restore`]: the whole training state saved and gone on from.

use std::rc::Rc;

use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::data::Dataset;
use crate::gpu::{Gpu, GpuError};
use crate::metrics::{EpochMetrics, Resume, StepMetrics, SwaResult};
use crate::nn::{Architecture, Plan, SpecError};
use crate::schedule::{Method, RunSchedule};
use crate::train::config::{ConfigError, TrainConfig};
use crate::train::events::Event;
use crate::train::state::StateError;
use crate::train::work::{StepParts, StepProfile};

mod averaging;
mod build;
mod evaluation;
mod export;
mod kernel_share;
mod loss;
mod optimizer;
mod restore;
mod run_loop;
mod step;
mod timing;

pub use evaluation::SNAPSHOT_MEMORY;
pub use run_loop::{Advance, Outcome, Stride, MAX_PACED_STEPS};

use averaging::WeightAverage;
use build::{initial_weights, input_normalisation, DataSizes, RunData};
use evaluation::{Evaluator, Snapshots};
use loss::LossAndMetrics;
use optimizer::Optimizer;
use run_loop::Pace;
use timing::Timing;

/// Why training could not start or go on.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model cannot be built for this data.
    #[error(transparent)]
    Model(#[from] SpecError),
    /// The initial weights do not fit the model.
    #[error("initial weights: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The GPU failed or refused.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A saved training state cannot be gone on from.
    #[error(transparent)]
    State(#[from] StateError),
    /// A set's images do not fit in one buffer of this adapter.
    #[error("the {set} set's {images} images take {bytes} bytes on the GPU, more than the {limit} this adapter allows in one buffer; use at most {fits} {set} images (its image limit) or a GPU with larger limits")]
    DataTooLarge {
        /// "training" or "test".
        set: &'static str,
        /// Images asked for.
        images: usize,
        /// Their bytes.
        bytes: u64,
        /// The adapter's limit for one buffer.
        limit: u64,
        /// Images that would fit.
        fits: u64,
    },
    /// The training and test sets do not match.
    #[error("the test images are {test} but the training images are {train}; use files of the same dataset")]
    DataMismatch {
        /// Training images' shape.
        train: String,
        /// Test images' shape.
        test: String,
    },
    /// The loss, a batch norm or a gradient stopped being a number. The GPU stopped updating
    /// at that step, so the model is the last good step's and [`Trainer::resume`] can go on
    /// from there with a lower learning rate.
    #[error("training diverged at iteration {iteration} (loss {loss}); the weights are kept as they were before it: resume with a lower learning rate (checkpoints saved before this point are intact)")]
    Diverged {
        /// The iteration whose loss was not finite.
        iteration: u64,
        /// The loss read.
        loss: f64,
    },
    /// Steps run after training only to be timed (FreezeOut's saving, a kernel's share)
    /// stopped being finite, so the optimizer skipped its work and their times are not a
    /// step's. The weights, statistics and guard are put back as they were.
    #[error("the steps timed after the run stopped being finite, so their times are not a training step's and nothing was measured; the weights are as they were")]
    TimedStepsDiverged,
}

/// Trains one model on one dataset; see the module documentation.
pub struct Trainer {
    gpu: Rc<Gpu>,
    config: TrainConfig,
    plan: Plan,
    schedule: RunSchedule,
    data: RunData,
    loss: LossAndMetrics,
    optimizer: Optimizer,
    evaluator: Evaluator,
    snapshots: Snapshots,
    /// SWA's running average of the weights (SWA only).
    average: Option<WeightAverage>,
    /// SWA's averaged model's result, once it replaced the SGD iterate at the end.
    swa: Option<SwaResult>,
    timing: Timing,
    pace: Pace,
    steps_per_epoch: u64,
    /// Iterations in the whole run (T).
    total: u64,
    /// Iterations done.
    iteration: u64,
    /// Blocks frozen at the last step.
    frozen: usize,
    /// The iteration training diverged at, until [`Trainer::resume`].
    diverged: Option<u64>,
    /// Every resume after a divergence, in order.
    resumes: Vec<Resume>,
    steps: Vec<StepMetrics>,
    epochs: Vec<EpochMetrics>,
    events: Vec<Event>,
}

impl Trainer {
    /// Checks the settings, builds the model's plan and uploads the data. `init` (tensors
    /// by PyTorch name, as from a safetensors file) replaces the seeded initial weights.
    pub async fn new(
        gpu: Rc<Gpu>,
        train: &Dataset,
        test: &Dataset,
        config: TrainConfig,
        init: Option<&[u8]>,
    ) -> Result<Trainer, TrainError> {
        config.validate()?;
        let sizes = DataSizes::check(&gpu, train, test, &config)?;
        let steps_per_epoch = (sizes.train / config.batch) as u64;
        let total = steps_per_epoch * config.epochs as u64;
        config.check_budget(total)?;
        let (c, h, w, classes) = (train.channels, train.height, train.width, train.classes);
        let arch = Architecture::new(&config.model, c, h, w, classes)?;
        let (batch, forward, variants) = (config.batch, config.forward, config.kernel_variants);
        let plan = Plan::new(&gpu, arch, batch, forward, variants).await?;
        initial_weights(&gpu, &plan, init, config.seed)?;
        let loss = LossAndMetrics::new(&gpu, &plan, batch, classes)?;
        let input = loss.batch_input(&plan);
        let normalisation = input_normalisation(init, train, sizes.train as usize)?;
        let (data, sets) =
            RunData::upload(&gpu, train, test, sizes, &config, normalisation, input)?;
        let schedule = RunSchedule {
            method: config.method,
            alpha: config.lr,
            blocks: plan.blocks.len(),
            total,
            per_epoch: steps_per_epoch,
        };
        let optimizer = Optimizer::new(&gpu, &plan, &config)?;
        let timing = Timing::new(step_profiles(&plan, &data, &loss, &optimizer), config.batch);
        let labels = test.labels[..sizes.test]
            .iter()
            .map(|&l| l as u32)
            .collect();
        let evaluator = Evaluator::new(&gpu, &plan, &loss, sets.test, sets.validation, labels)?;
        let snapshots = Snapshots::new(&gpu, &plan, &schedule, &config)?;
        let average = match config.method {
            Method::Swa(_) => Some(WeightAverage::new(&gpu, &plan)?),
            _ => None,
        };
        Ok(Trainer {
            gpu,
            config,
            plan,
            schedule,
            data,
            loss,
            optimizer,
            evaluator,
            snapshots,
            average,
            swa: None,
            timing,
            pace: Pace::default(),
            steps_per_epoch,
            total,
            iteration: 0,
            frozen: 0,
            diverged: None,
            resumes: Vec::new(),
            steps: Vec::new(),
            epochs: Vec::new(),
            events: Vec::new(),
        })
    }

    /// The GPU the run trains on.
    pub fn gpu(&self) -> &Rc<Gpu> {
        &self.gpu
    }

    /// The adapter the run trains on, in words.
    pub fn adapter_summary(&self) -> String {
        self.gpu.adapter().summary()
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The model's plan (architecture, layouts, chosen algorithms).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The run's schedule (per-block rates, freezing, snapshot iterations).
    pub fn schedule(&self) -> &RunSchedule {
        &self.schedule
    }

    /// Iterations done.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Iterations in the whole run (T).
    pub fn total_iterations(&self) -> u64 {
        self.total
    }

    /// Iterations per epoch (the last partial batch of each epoch is dropped).
    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// Whether every iteration has run.
    pub fn is_finished(&self) -> bool {
        self.iteration >= self.total
    }

    /// Every step's metrics read back so far.
    pub fn steps(&self) -> &[StepMetrics] {
        &self.steps
    }

    /// Every finished epoch.
    pub fn epochs(&self) -> &[EpochMetrics] {
        &self.epochs
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// What a step runs for each number of frozen blocks that has an optimizer.
fn step_profiles(
    plan: &Plan,
    data: &RunData,
    loss: &LossAndMetrics,
    optimizer: &Optimizer,
) -> Vec<Option<StepProfile>> {
    optimizer
        .updates()
        .enumerate()
        .map(|(frozen, update)| {
            let parts = StepParts {
                gather: data.train.gather.dispatch(),
                loss: loss.scratch_loss(),
                optimizer: update?,
            };
            Some(StepProfile::new(plan, frozen, &parts))
        })
        .collect()
}
