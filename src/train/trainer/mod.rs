//! The trainer: one static plan, one submit per step, metrics read back every few steps.
//! It runs the same in the browser and natively; every wait on the GPU is async.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use web_time::Instant;

use super::config::{bad, ConfigError, TrainConfig};
use super::data::{
    channel_statistics, loss_and_metrics, BatchTargets, EvalSet, GpuImages, TrainSet, SLOT,
};
use super::metrics::{EpochMetrics, Evaluation, Event, StepMetrics};
use super::probabilities::TestProbabilities;
use super::state::{DataIdentity, StateError};
use super::work::{forward_work, step_work, StepParts, StepProfile, WorkDone};
use crate::checkpoint::{self, CheckpointError, NamedTensor};
use crate::data::Dataset;
use crate::ensemble::{ensemble_curve, EnsemblePoint, Snapshot, SnapshotStore};
use crate::gpu::{Commands, Dispatch, Gpu, GpuError, KernelProfile, Staging};
use crate::kernels::data::{GatherSettings, ImageShape};
use crate::kernels::loss::METRICS_LEN;
use crate::kernels::optim::{Sgd, SgdBuffers, SgdSettings};
use crate::kernels::{loss, Operand};
use crate::nn::{Architecture, Plan, SpecError};
use crate::schedule::{Method, RunSchedule};

/// Saving the training state and going on from one.
mod restore;

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
}

/// The most GPU memory all snapshots together may take: they are kept on the GPU for the
/// whole run, beside the model.
pub const SNAPSHOT_MEMORY: u64 = 1 << 30;

/// Training went on after a divergence, from `iteration`, with its rates multiplied by
/// `factor` (see [`Trainer::resume`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// The first iteration run again.
    pub iteration: u64,
    /// What every learning rate was multiplied by.
    pub factor: f64,
    /// The base learning rate from then on.
    pub lr: f64,
}

/// A training step waiting for its metrics to be read back.
#[derive(Clone, Copy)]
struct Pending {
    iteration: u64,
    epoch: u32,
    lr: f64,
    frozen: u32,
}

/// Trains one model on one dataset; see the module documentation.
pub struct Trainer {
    gpu: Rc<Gpu>,
    config: TrainConfig,
    plan: Plan,
    train: TrainSet,
    test: Option<EvalSet>,
    validation: Option<EvalSet>,
    train_loss: Dispatch,
    step_metrics: Vec<Dispatch>,
    eval_metrics_at: u64,
    schedule: RunSchedule,
    /// The optimizer for each possible number of frozen blocks (one, for methods that do
    /// not freeze): prebuilt so that freezing allocates nothing.
    sgds: Vec<Option<Sgd>>,
    /// What a step runs for each number of frozen blocks with an optimizer.
    profiles: Vec<Option<StepProfile>>,
    frozen: usize,
    lrs_host: Vec<f32>,
    lrs: wgpu::Buffer,
    /// SGD's momentum, one value per parameter: part of the training state.
    momentum: wgpu::Buffer,
    store: SnapshotStore,
    snapshots: Vec<Snapshot>,
    test_probabilities: TestProbabilities,
    test_labels: Vec<u32>,
    /// Training time and steps read back, by number of frozen blocks: the source of the
    /// run's training time, FLOPs and launches.
    phases: Vec<PhaseTime>,
    /// The last test evaluation and the iteration count it was made at.
    last_test: Option<(u64, Evaluation)>,
    metrics: wgpu::Buffer,
    staging: Staging,
    steps_per_epoch: u64,
    total: u64,
    iteration: u64,
    pending: Vec<Pending>,
    window_start: Option<Instant>,
    epoch_seconds: f64,
    steps: Vec<StepMetrics>,
    epochs: Vec<EpochMetrics>,
    events: Vec<Event>,
    /// The iteration training diverged at, until [`Trainer::resume`].
    diverged: Option<u64>,
    /// Every resume after a divergence, in order.
    resumes: Vec<Resume>,
    /// The data trained on, so a saved state is only gone on from with the same data.
    data: DataIdentity,
    _sources: Vec<GpuImages>,
    _scratch: Vec<wgpu::Buffer>,
}

/// Fails with a message saying how many would fit when `count` images of `image_len` bytes
/// do not fit in one buffer of the adapter (the gather reads one buffer per set).
fn check_fits(
    gpu: &Gpu,
    set: &'static str,
    count: usize,
    image_len: usize,
) -> Result<(), TrainError> {
    let limits = gpu.limits();
    let limit = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    let bytes = (count as u64).saturating_mul(image_len as u64);
    match bytes > limit {
        false => Ok(()),
        true => Err(TrainError::DataTooLarge {
            set,
            images: count,
            bytes,
            limit,
            fits: limit / image_len.max(1) as u64,
        }),
    }
}

/// The test images a run with `config` evaluates on.
fn test_images(config: &TrainConfig, test: &Dataset) -> usize {
    match config.test_limit {
        0 => test.len(),
        n => test.len().min(n as usize),
    }
}

fn image_shape(d: &Dataset) -> String {
    format!(
        "{}x{}x{} with {} classes",
        d.channels, d.height, d.width, d.classes
    )
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
        let train_images = config.training_images(train.len())?;
        if (train.channels, train.height, train.width) != (test.channels, test.height, test.width)
            || train.classes != test.classes
        {
            return Err(TrainError::DataMismatch {
                train: image_shape(train),
                test: image_shape(test),
            });
        }
        // Each set is one buffer on the GPU: refuse what cannot fit before reading it.
        let available = train_images + config.validation;
        let test_count = test_images(&config, test);
        for (set, count) in [("training", available as usize), ("test", test_count)] {
            check_fits(&gpu, set, count, train.image_len())?;
        }
        let arch = Architecture::new(
            &config.model,
            train.channels,
            train.height,
            train.width,
            train.classes,
        )?;
        let gpu_ref: &Gpu = &gpu;
        let plan = Plan::new(
            gpu_ref,
            arch,
            config.batch,
            config.forward,
            config.kernel_variants,
        )
        .await?;
        let layouts = &plan.layouts;
        let (params, state) = match init {
            Some(bytes) => {
                let mut expected = layouts.params.expected();
                expected.extend(layouts.state.expected());
                let tensors = checkpoint::load_expected(bytes, &expected)?;
                let (p, s) = tensors.split_at(layouts.params.entries.len());
                (flatten(p), flatten(s))
            }
            None => (
                layouts.params.initial_values(config.seed),
                layouts.state.initial_values(config.seed),
            ),
        };
        gpu.write(&plan.params, 0, &params);
        gpu.write(&plan.state, 0, &state);

        let stats = gpu.storage("per-sample loss", config.batch as u64 * 2 * 4)?;
        let slots = super::config::MAX_READBACK_EVERY as usize + 1;
        let metrics = gpu.storage("metrics", (slots * SLOT * 4) as u64)?;
        let staging = gpu.staging("metrics readback", (slots * SLOT * 4) as u64);
        let labels = gpu.storage("batch labels", config.batch as u64 * 4)?;
        let slot = |i: usize| Operand {
            buffer: &metrics,
            offset: (i * SLOT) as u32,
        };
        let targets = |metrics| BatchTargets {
            input: plan.input(),
            labels: &labels,
            logits: plan.logits(),
            logits_grad: plan.logits_grad(),
            stats: &stats,
            metrics,
            guard: plan.guard(),
        };
        let classes = train.classes;
        // One loss launch; the per-sample results go to the step's own metric slot.
        let [train_loss, first_slot] =
            loss_and_metrics(gpu_ref, config.batch, classes, &targets(slot(0)))?;
        let mut step_metrics = vec![first_slot];
        for i in 1..slots - 1 {
            let stats = Operand::whole(&stats);
            step_metrics.push(loss::accumulate_metrics(
                gpu_ref,
                config.batch,
                stats,
                slot(i),
                plan.guard(),
            )?);
        }

        // Data: uploaded once. The training images come first in the file, the validation
        // split after them.
        let (mean, std) = channel_statistics(train, train_images as usize);
        let shape = ImageShape {
            channels: train.channels,
            h: train.height,
            w: train.width,
        };
        let plain = GatherSettings {
            pad: 0,
            flip: false,
            seed: config.seed as u32,
            mean,
            std,
        };
        let augmented = GatherSettings {
            pad: if config.augment {
                if train.height.min(train.width) <= 28 {
                    2
                } else {
                    4
                }
            } else {
                0
            },
            flip: config.flip,
            ..plain
        };
        let train_source = GpuImages::upload(gpu_ref, "training", train, available as usize)?;
        let test_source = GpuImages::upload(gpu_ref, "test", test, test_count)?;
        let data = DataIdentity::of(train, available as usize, test, test_count);
        let eval_slot = slot(slots - 1);
        let train_set = TrainSet::new(
            gpu_ref,
            &train_source,
            shape,
            train_images,
            config.batch,
            &augmented,
            &targets(slot(0)),
        )?;
        let all_test: Vec<u32> = (0..test_count as u32).collect();
        let test_set = EvalSet::new(
            gpu_ref,
            &test_source,
            shape,
            &all_test,
            config.batch,
            &plain,
            classes,
            &targets(eval_slot),
        )?;
        let validation = if config.validation > 0 {
            let held_out: Vec<u32> = (train_images..available).collect();
            Some(EvalSet::new(
                gpu_ref,
                &train_source,
                shape,
                &held_out,
                config.batch,
                &plain,
                classes,
                &targets(eval_slot),
            )?)
        } else {
            None
        };

        let steps_per_epoch = (train_images / config.batch) as u64;
        let total = steps_per_epoch * config.epochs as u64;
        config.check_budget(total)?;
        let blocks = plan.blocks.len();
        let schedule = RunSchedule {
            method: config.method,
            alpha: config.lr,
            blocks,
            total,
        };

        // The optimizer: one learning rate per block. FreezeOut needs one launch per
        // possible frozen prefix, each over the trainable suffix only.
        let momentum = gpu.storage("momentum", plan.params.size())?;
        let starts = plan.layouts.params.block_starts(blocks);
        let block_starts = gpu.storage_from("block starts", &starts)?;
        let lrs = gpu.storage("learning rates", blocks as u64 * 4)?;
        let mut sgds = Vec::with_capacity(blocks);
        for (frozen, &first) in starts.iter().take(blocks).enumerate() {
            let needed = frozen == 0 || matches!(config.method, Method::Freezeout(_));
            if !needed || first >= plan.layouts.params.len {
                sgds.push(None);
                continue;
            }
            sgds.push(Some(Sgd::new(
                gpu_ref,
                &SgdBuffers {
                    params: &plan.params,
                    grads: &plan.grads,
                    momentum: &momentum,
                    block_starts: Operand::whole(&block_starts),
                    lrs: Operand::whole(&lrs),
                    guard: plan.guard(),
                },
                blocks as u32,
                first..plan.layouts.params.len,
                SgdSettings {
                    momentum: config.momentum as f32,
                    weight_decay: config.weight_decay as f32,
                    nesterov: config.nesterov,
                    first_step: false,
                },
            )?));
        }
        let profiles = sgds
            .iter()
            .enumerate()
            .map(|(frozen, sgd)| {
                let parts = StepParts {
                    gather: train_set.gather.dispatch(),
                    loss: [&train_loss, &step_metrics[0]],
                    optimizer: sgd.as_ref()?.dispatches(),
                };
                Some(StepProfile::new(&plan, frozen, &parts))
            })
            .collect();

        // Snapshots: room for all of them now, so taking one is only a copy.
        let cycles = schedule.snapshot_iterations().len();
        let bytes = cycles as u64 * (plan.params.size() + plan.state.size());
        if bytes > SNAPSHOT_MEMORY {
            let asked = match config.method {
                Method::Snapshot { cycles, .. } => cycles as usize,
                _ => cycles,
            };
            let fix = format!(
                "{cycles} snapshots of this model need {} MiB of GPU memory, more than the {} MiB allowed; use fewer cycles",
                bytes >> 20,
                SNAPSHOT_MEMORY >> 20
            );
            return Err(bad("cycles", asked, fix).into());
        }
        let store = SnapshotStore::new(gpu_ref, cycles, &plan.params, &plan.state)?;
        let test_probabilities = TestProbabilities::new(
            gpu_ref,
            plan.logits(),
            test_count as u32,
            config.batch,
            classes,
        )?;
        let test_labels = test.labels[..test_count]
            .iter()
            .map(|&l| l as u32)
            .collect();
        Ok(Trainer {
            gpu,
            plan,
            train: train_set,
            test: Some(test_set),
            validation,
            train_loss,
            step_metrics,
            eval_metrics_at: ((slots - 1) * SLOT * 4) as u64,
            schedule,
            sgds,
            profiles,
            frozen: 0,
            lrs_host: vec![0.0; blocks],
            lrs,
            store,
            snapshots: Vec::new(),
            test_probabilities,
            test_labels,
            last_test: None,
            phases: (0..blocks)
                .map(|frozen| PhaseTime {
                    frozen,
                    steps: 0,
                    seconds: 0.0,
                })
                .collect(),
            metrics,
            staging,
            steps_per_epoch,
            total,
            iteration: 0,
            pending: Vec::new(),
            window_start: None,
            epoch_seconds: 0.0,
            steps: Vec::new(),
            epochs: Vec::new(),
            events: Vec::new(),
            diverged: None,
            resumes: Vec::new(),
            data,
            config,
            momentum,
            _sources: vec![train_source, test_source],
            _scratch: vec![stats, labels, block_starts],
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

    /// Runs up to `iterations` more steps (fewer at the end of the run), reading metrics
    /// back every `readback_every` steps and evaluating at the end of each epoch.
    pub async fn run(&mut self, iterations: u64) -> Result<(), TrainError> {
        let end = self.iteration.saturating_add(iterations).min(self.total);
        while self.iteration < end {
            let snapshot = self.step()?;
            let epoch_done = self.iteration.is_multiple_of(self.steps_per_epoch);
            let due = self.pending.len() as u32 >= self.config.readback_every;
            // A freeze ends the timing window, so each phase's step time is measured.
            let freezing = self.schedule.frozen_blocks(self.iteration) != self.frozen;
            if due || epoch_done || snapshot.is_some() || freezing {
                self.flush().await?;
            }
            if let Some(index) = snapshot {
                self.evaluate_snapshot(index).await?;
            }
            if epoch_done {
                self.finish_epoch().await?;
            }
        }
        self.flush().await?;
        Ok(())
    }

    /// Records and submits one training step; returns the index of the snapshot taken
    /// after it, if one was.
    fn step(&mut self) -> Result<Option<usize>, TrainError> {
        let gpu: &Gpu = &self.gpu;
        let j = self.iteration;
        let epoch = (j / self.steps_per_epoch) as u32;
        let within = j % self.steps_per_epoch;
        if within == 0 {
            let order = self.order(epoch);
            gpu.write(&self.train.indices, 0, &order);
        }
        if self.window_start.is_none() {
            self.window_start = Some(Instant::now());
        }
        self.train
            .gather
            .set_position(gpu, epoch, (within * self.config.batch as u64) as u32);
        let frozen = self.schedule.frozen_blocks(j);
        if frozen != self.frozen {
            self.frozen = frozen;
            self.events.push(Event::Frozen {
                blocks: frozen,
                iteration: j,
            });
        }
        self.schedule.fill_lrs(j, &mut self.lrs_host);
        gpu.write(&self.lrs, 0, &self.lrs_host);

        let Some(sgd) = self.sgds[frozen].as_ref() else {
            return Err(GpuError::launch(
                "sgd",
                format!("no optimizer prepared for {frozen} frozen blocks"),
            )
            .into());
        };
        let slot = self.pending.len();
        let parts = StepParts {
            gather: self.train.gather.dispatch(),
            loss: [&self.train_loss, &self.step_metrics[slot]],
            optimizer: sgd.dispatches(),
        };
        let work = step_work(&self.plan, frozen, &parts);
        let mut commands = Commands::new(gpu, "training step");
        commands.clear(&self.metrics, (slot * SLOT * 4) as u64, (SLOT * 4) as u64);
        commands.run(&work);
        // The divergence guard after this step, beside its metrics: read back with them.
        let guard = self.plan.guard();
        let at = (slot * SLOT + METRICS_LEN) as u64 * 4;
        commands.copy(guard.buffer, guard.offset as u64 * 4, &self.metrics, at, 4);
        let snapshot = match self.schedule.snapshot_after(j) {
            true => self
                .store
                .take(&mut commands, &self.plan.params, &self.plan.state),
            false => None,
        };
        commands.submit();
        self.pending.push(Pending {
            iteration: j,
            epoch,
            lr: self.schedule.head_lr(j),
            frozen: frozen as u32,
        });
        self.iteration += 1;
        Ok(snapshot)
    }

    /// The order of the training images in `epoch`: a seeded shuffle, or file order.
    fn order(&self, epoch: u32) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.train.images).collect();
        if self.config.shuffle {
            let key = self.config.seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            fastrand::Rng::with_seed(key).shuffle(&mut order);
        }
        order
    }

    /// Reads back the metrics of the steps submitted since the last flush.
    async fn flush(&mut self) -> Result<(), TrainError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = (self.pending.len() * SLOT * 4) as u64;
        let data = self
            .gpu
            .read_into(&self.staging, &self.metrics, 0, bytes)
            .await?;
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(&data);
        let seconds = self
            .window_start
            .take()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let first = self.steps.len();
        let pending = std::mem::take(&mut self.pending);
        let record = |i: usize| &values[i * SLOT..(i + 1) * SLOT];
        // Sums of the step's batch: loss, correct answers, images.
        let mean = |r: &[f32], k: usize| r[k] as f64 / r[2].max(1.0) as f64;
        let mean_loss = |r: &[f32]| mean(r, 0);
        // The first step that went wrong: its guard (the slot's last float) is set or its
        // loss is not finite. The GPU updated nothing from it on, so the weights are those
        // before it, and only the steps before it count.
        let bad = (0..pending.len()).find(|&i| {
            let r = record(i);
            r[METRICS_LEN] != 0.0 || !mean_loss(r).is_finite()
        });
        let good = bad.unwrap_or(pending.len());
        // Windows never span a freeze (see `run`), so the time belongs to one phase.
        let phase = &mut self.phases[pending[0].frozen as usize];
        // The bad steps' share of the window's time is dropped with them.
        let seconds = seconds * good as f64 / pending.len() as f64;
        self.epoch_seconds += seconds;
        phase.steps += good as u64;
        phase.seconds += seconds;
        for (i, p) in pending.iter().enumerate().take(good) {
            let profile = self.profiles[p.frozen as usize].as_ref();
            let r = record(i);
            self.steps.push(StepMetrics {
                iteration: p.iteration,
                epoch: p.epoch,
                loss: mean_loss(r),
                accuracy: mean(r, 1),
                lr: p.lr,
                frozen_blocks: p.frozen,
                forward_flops: profile.map_or(0.0, |f| f.forward_flops),
                backward_flops: profile.map_or(0.0, |f| f.backward_flops),
            });
        }
        if good > 0 {
            let images = (good as u64 * self.config.batch as u64) as f64;
            self.events.push(Event::Steps {
                first,
                count: good,
                images_per_second: if seconds > 0.0 { images / seconds } else { 0.0 },
            });
        }
        if let Some(i) = bad {
            let iteration = pending[i].iteration;
            self.stop_at(iteration);
            return Err(TrainError::Diverged {
                iteration,
                loss: mean_loss(record(i)),
            });
        }
        Ok(())
    }

    /// After a divergence at `iteration`: training stands there (the GPU updated nothing
    /// from that step on), and snapshots taken since are dropped, to be taken again.
    fn stop_at(&mut self, iteration: u64) {
        self.diverged = Some(iteration);
        self.iteration = iteration;
        let keep = self
            .schedule
            .snapshot_iterations()
            .iter()
            .filter(|&&j| j < iteration)
            .count();
        self.store.truncate(keep);
        self.snapshots.truncate(keep);
    }

    /// The iteration training diverged at, if it has and was not resumed since.
    pub fn diverged_at(&self) -> Option<u64> {
        self.diverged
    }

    /// Goes on after a divergence (or any stop) with every learning rate multiplied by
    /// `factor` (0 < factor <= 1) from the current iteration on: the base rate, Snapshot
    /// Ensembles' restart rate alpha0, and so FreezeOut's per-block rates. Clears the GPU's
    /// divergence guard; the next [`Trainer::run`] repeats the step that diverged.
    pub fn resume(&mut self, factor: f64) -> Result<f64, TrainError> {
        if !(factor > 0.0 && factor <= 1.0) {
            return Err(bad(
                "factor",
                factor,
                "resume with a learning-rate factor in (0, 1]",
            )
            .into());
        }
        let scale = |m: Method| match m {
            Method::Snapshot { cycles, alpha0 } => Method::Snapshot {
                cycles,
                alpha0: alpha0.map(|a| a * factor),
            },
            other => other,
        };
        self.config.lr *= factor;
        self.config.method = scale(self.config.method);
        self.schedule.alpha = self.config.lr;
        self.schedule.method = self.config.method;
        let guard = self.plan.guard();
        self.gpu
            .write(guard.buffer, guard.offset as u64 * 4, &[0.0f32]);
        self.resumes.push(Resume {
            iteration: self.iteration,
            factor,
            lr: self.config.lr,
        });
        self.diverged = None;
        Ok(self.config.lr)
    }

    /// Every resume so far.
    pub fn resumes(&self) -> &[Resume] {
        &self.resumes
    }

    async fn finish_epoch(&mut self) -> Result<(), TrainError> {
        let epoch = (self.iteration / self.steps_per_epoch - 1) as u32;
        let of_epoch: Vec<&StepMetrics> = self.steps.iter().filter(|s| s.epoch == epoch).collect();
        let n = of_epoch.len().max(1) as f64;
        let train_loss = of_epoch.iter().map(|s| s.loss).sum::<f64>() / n;
        let train_accuracy = of_epoch.iter().map(|s| s.accuracy).sum::<f64>() / n;
        let seconds = std::mem::take(&mut self.epoch_seconds);
        let images = (self.steps_per_epoch * self.config.batch as u64) as f64;
        let (test, validation) = if self.config.eval_every_epoch || self.is_finished() {
            // A snapshot taken at this very iteration has just been evaluated.
            let test = match self.last_test {
                Some((at, test)) if at == self.iteration => test,
                _ => self.evaluate_test().await?,
            };
            let test = Some(test);
            let validation = match self.validation.is_some() {
                true => Some(self.evaluate_validation().await?),
                false => None,
            };
            (test, validation)
        } else {
            (None, None)
        };
        let metrics = EpochMetrics {
            epoch,
            train_loss,
            train_accuracy,
            test,
            validation,
            seconds,
            images_per_second: if seconds > 0.0 { images / seconds } else { 0.0 },
        };
        self.epochs.push(metrics.clone());
        self.events.push(Event::Epoch(metrics));
        if self.is_finished() {
            self.events.push(Event::Finished);
        }
        Ok(())
    }

    /// Loss and accuracy on the test set in inference mode.
    pub async fn evaluate_test(&mut self) -> Result<Evaluation, TrainError> {
        self.evaluate_test_set(false).await
    }

    /// The current model's softmax outputs on the test set (images x classes) with its
    /// loss and accuracy.
    pub async fn test_probabilities(&mut self) -> Result<(Evaluation, Vec<f32>), TrainError> {
        let test = self.evaluate_test_set(true).await?;
        Ok((test, self.test_probabilities.read(&self.gpu).await?))
    }

    /// Evaluates the test set (writing its probabilities too, if asked) and remembers the
    /// result with the iteration it belongs to.
    async fn evaluate_test_set(&mut self, probabilities: bool) -> Result<Evaluation, TrainError> {
        let mut set = self.test.take();
        let result = self.evaluate(set.as_mut(), probabilities).await;
        self.test = set;
        let test = result?;
        self.last_test = Some((self.iteration, test));
        Ok(test)
    }

    /// Evaluates the snapshot just taken (the live weights are its weights) and records it.
    async fn evaluate_snapshot(&mut self, index: usize) -> Result<(), TrainError> {
        let (test, probabilities) = self.test_probabilities().await?;
        let iteration = self.iteration - 1;
        self.snapshots.push(Snapshot {
            index,
            iteration,
            test,
            probabilities,
        });
        self.events.push(Event::Snapshot {
            index,
            iteration,
            test,
            ensemble: self.ensemble(),
        });
        Ok(())
    }

    /// The snapshots taken so far, with their test-set probabilities.
    pub fn snapshots(&self) -> &[Snapshot] {
        &self.snapshots
    }

    /// The test labels the probabilities are in the order of.
    pub fn test_labels(&self) -> &[u32] {
        &self.test_labels
    }

    /// The ensembles of the last m snapshots, m = 1..=M so far (empty before the first).
    pub fn ensemble(&self) -> Vec<EnsemblePoint> {
        let classes = self.plan.arch.classes as usize;
        ensemble_curve(&self.snapshots, &self.test_labels, classes)
    }

    /// The run's schedule (per-block rates, freezing, snapshot iterations).
    pub fn schedule(&self) -> &RunSchedule {
        &self.schedule
    }

    /// The work of the steps read back so far: FLOPs executed and launches by kernel.
    pub fn work(&self) -> WorkDone {
        let mut work = WorkDone::default();
        for phase in &self.phases {
            if let (Some(profile), Some(full)) = (self.profile(phase.frozen), self.profile(0)) {
                work.add(phase.steps, profile, full);
            }
        }
        work
    }

    /// What a step runs with `frozen` blocks frozen, if such a step can occur.
    pub fn profile(&self, frozen: usize) -> Option<&StepProfile> {
        self.profiles.get(frozen)?.as_ref()
    }

    /// Seconds spent in training steps (evaluations excluded).
    pub fn train_seconds(&self) -> f64 {
        self.phases.iter().map(|p| p.seconds).sum()
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
        gpu.write(&self.train.indices, 0, &self.order(epoch));
        seconds
    }

    async fn time_forward_steps(&mut self, steps: u32) -> Result<f64, TrainError> {
        let gpu: &Gpu = &self.gpu;
        gpu.write(&self.train.indices, 0, &self.order(0));
        let mut started = None;
        for k in 0..=steps {
            if k == 1 {
                gpu.finish().await?;
                started = Some(Instant::now());
            }
            let position = (k % self.steps_per_epoch as u32) * self.config.batch;
            self.train.gather.set_position(gpu, 0, position);
            let loss = [&self.train_loss, &self.step_metrics[0]];
            let work = forward_work(&self.plan, 0, self.train.gather.dispatch(), loss);
            let mut commands = Commands::new(gpu, "forward pass timing");
            commands.run(&work);
            commands.submit();
        }
        gpu.finish().await?;
        let seconds = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        Ok(seconds / steps.max(1) as f64)
    }

    /// The run's results so far, for reports and comparisons.
    pub fn summary(&self) -> RunSummary {
        let costs: Vec<f64> = self.plan.blocks.iter().map(|b| b.forward_flops).collect();
        let images = (self.iteration * self.config.batch as u64) as f64;
        let train_seconds = self.train_seconds();
        RunSummary {
            method: self.config.method.label(),
            iterations: self.iteration,
            train_seconds,
            images_per_second: match train_seconds {
                t if t > 0.0 => images / t,
                _ => 0.0,
            },
            final_test: self
                .last_test
                .filter(|(at, _)| *at == self.iteration)
                .map(|(_, t)| t),
            snapshots: self.snapshots.clone(),
            ensemble: self.ensemble(),
            theoretical_backward_saving: self.schedule.theoretical_backward_saving(&costs),
            measured_saving: self.measured_saving(),
            phases: self
                .phases
                .iter()
                .filter(|p| p.steps > 0)
                .cloned()
                .collect(),
            work: self.work(),
            resumes: self.resumes.clone(),
        }
    }

    /// FreezeOut's wall-clock saving measured within the run: 1 - the training time / the
    /// time the same steps take at the speed of the steps with nothing frozen. `None` until
    /// a block has frozen.
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

    /// Loss and accuracy on the validation split, if there is one.
    pub async fn evaluate_validation(&mut self) -> Result<Evaluation, TrainError> {
        let mut set = self.validation.take();
        let result = self.evaluate(set.as_mut(), false).await;
        self.validation = set;
        result
    }

    /// Runs `set` through the model in inference mode, batch by batch, and reads back the
    /// accumulated loss and accuracy.
    async fn evaluate(
        &self,
        set: Option<&mut EvalSet>,
        probabilities: bool,
    ) -> Result<Evaluation, TrainError> {
        let Some(set) = set else {
            return Err(TrainError::Config(ConfigError::Bad {
                setting: "validation",
                value: "0".into(),
                fix: "hold out some training images to evaluate on".into(),
            }));
        };
        let gpu: &Gpu = &self.gpu;
        for b in 0..set.batches {
            set.gather.set_position(gpu, 0, b * self.config.batch);
            let last = b + 1 == set.batches;
            let head = match (&set.last, last) {
                (Some(partial), true) => partial,
                _ => &set.full,
            };
            let mut work: Vec<&Dispatch> = vec![set.gather.dispatch()];
            for block in &self.plan.blocks {
                work.extend(block.infer.iter());
            }
            work.extend(head.iter());
            if probabilities {
                work.push(self.test_probabilities.batch(b));
            }
            let mut commands = Commands::new(gpu, "evaluation batch");
            if b == 0 {
                commands.clear(&self.metrics, self.eval_metrics_at, (SLOT * 4) as u64);
                if probabilities {
                    self.test_probabilities.clear(&mut commands);
                }
            }
            commands.run(&work);
            commands.submit();
        }
        let data = gpu
            .read_into(
                &self.staging,
                &self.metrics,
                self.eval_metrics_at,
                (SLOT * 4) as u64,
            )
            .await?;
        let r: Vec<f32> = bytemuck::pod_collect_to_vec(&data);
        let count = r[2].max(1.0) as f64;
        Ok(Evaluation {
            loss: r[0] as f64 / count,
            accuracy: r[1] as f64 / count,
            images: r[2] as u32,
        })
    }

    /// The weights and running statistics as named tensors, with PyTorch's names.
    pub async fn tensors(&self) -> Result<Vec<NamedTensor>, TrainError> {
        let gpu: &Gpu = &self.gpu;
        let l = &self.plan.layouts;
        let params = gpu
            .read_f32(&self.plan.params, 0, l.params.len as usize)
            .await?;
        let state = gpu
            .read_f32(&self.plan.state, 0, l.state.len as usize)
            .await?;
        Ok(self.named(&params, &state))
    }

    fn named(&self, params: &[f32], state: &[f32]) -> Vec<NamedTensor> {
        let l = &self.plan.layouts;
        let mut tensors = l.params.tensors(params);
        tensors.extend(l.state.tensors(state));
        tensors
    }

    /// Each batch norm's `num_batches_tracked` after `done` iterations: the steps its block
    /// trained for (a frozen block's norms stop counting).
    fn counters(&self, done: u64) -> Vec<(String, i64)> {
        self.plan
            .layouts
            .norms()
            .map(|(name, block)| {
                let steps = self.schedule.trained_iterations(block, done);
                (format!("{name}.num_batches_tracked"), steps as i64)
            })
            .collect()
    }

    fn metadata(&self, iteration: u64) -> Vec<(String, String)> {
        vec![
            ("model".to_string(), self.config.model.name()),
            ("method".to_string(), self.config.method.label()),
            ("iteration".to_string(), iteration.to_string()),
        ]
    }

    /// A safetensors checkpoint of the current weights (with BatchNorm's step counters, so
    /// PyTorch's strict loading accepts it) and the run's settings as metadata.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, TrainError> {
        let tensors = self.tensors().await?;
        let counters = self.counters(self.iteration);
        let metadata = self.metadata(self.iteration);
        Ok(checkpoint::save_with_counters(
            &tensors, &counters, &metadata,
        )?)
    }

    /// Snapshot `k` as a safetensors checkpoint, like [`Trainer::checkpoint`].
    pub async fn snapshot_checkpoint(&self, k: usize) -> Result<Vec<u8>, TrainError> {
        let l = &self.plan.layouts;
        let (params, state) = self
            .store
            .read(&self.gpu, k, l.params.len as usize, l.state.len as usize)
            .await?;
        let done = self.snapshots.get(k).map_or(0, |s| s.iteration + 1);
        let mut metadata = self.metadata(done);
        metadata.push(("snapshot".to_string(), k.to_string()));
        Ok(checkpoint::save_with_counters(
            &self.named(&params, &state),
            &self.counters(done),
            &metadata,
        )?)
    }
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

/// A run's results: what `compare` tabulates.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    /// The method's label.
    pub method: String,
    /// Iterations run.
    pub iterations: u64,
    /// Seconds in training steps (evaluations excluded).
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// The final model's test result, if it was evaluated at the end.
    pub final_test: Option<Evaluation>,
    /// Snapshots with their own test results.
    pub snapshots: Vec<Snapshot>,
    /// The ensembles of the last m snapshots.
    pub ensemble: Vec<EnsemblePoint>,
    /// The expected backward saving (docs/design.md §2.5) from the freeze fractions.
    pub theoretical_backward_saving: f64,
    /// FreezeOut's wall-clock saving measured within the run (see
    /// [`Trainer::measured_saving`]).
    pub measured_saving: Option<f64>,
    /// Training time by number of frozen blocks.
    pub phases: Vec<PhaseTime>,
    /// FLOPs executed and launches by kernel.
    pub work: WorkDone,
    /// Resumes after divergences, with the rates used from each on.
    pub resumes: Vec<Resume>,
}

fn flatten(tensors: &[NamedTensor]) -> Vec<f32> {
    tensors
        .iter()
        .flat_map(|t| t.values.iter().copied())
        .collect()
}
