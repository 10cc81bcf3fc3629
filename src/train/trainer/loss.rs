//! The loss and what it reports: the launches that compute the batch's loss and accumulate
//! its metrics into a record slot, the slots themselves, reading them back every few steps,
//! and finding in them the first step that diverged.

use crate::gpu::{Commands, Dispatch, Gpu, GpuError, Staging};
use crate::kernels::loss::{self, METRICS_LEN};
use crate::kernels::Operand;
use crate::metrics::Evaluation;
use crate::nn::Plan;
use crate::train::config::MAX_READBACK_EVERY;
use crate::train::data::BatchInput;

/// Floats per metric record slot: a record of [`METRICS_LEN`] floats (loss sum, correct
/// answers, images), then the divergence guard as it was after the step (see `Plan::guard`).
const SLOT: usize = 4;
const _: () = assert!(METRICS_LEN < SLOT);

/// Slots: one per step between readbacks, and the last one for evaluations.
const SLOTS: usize = MAX_READBACK_EVERY as usize + 1;
const EVAL_SLOT: usize = SLOTS - 1;

/// A training step waiting for its metrics to be read back.
#[derive(Clone, Copy)]
pub(super) struct Pending {
    pub iteration: u64,
    pub epoch: u32,
    pub lr: f64,
    pub frozen: u32,
}

/// One record read back: sums over the batch.
#[derive(Clone, Copy)]
pub(super) struct Record([f32; SLOT]);

impl Record {
    fn mean(&self, k: usize) -> f64 {
        self.0[k] as f64 / self.0[2].max(1.0) as f64
    }

    /// Mean cross-entropy over the batch.
    pub fn loss(&self) -> f64 {
        self.mean(0)
    }

    /// Fraction of the batch right.
    pub fn accuracy(&self) -> f64 {
        self.mean(1)
    }

    /// Whether the step went wrong: the guard was set or the loss is not finite.
    fn diverged(&self) -> bool {
        self.0[METRICS_LEN] != 0.0 || !self.loss().is_finite()
    }
}

/// The steps read back by one [`LossAndMetrics::read_steps`].
pub(super) struct ReadSteps {
    /// The steps, in order, with their records.
    pub steps: Vec<(Pending, Record)>,
    /// The first step that went wrong. The GPU updated nothing from it on, so the weights
    /// are those before it, and only the steps before it count.
    pub first_bad: Option<usize>,
}

impl ReadSteps {
    /// Steps before the first bad one.
    pub fn good(&self) -> usize {
        self.first_bad.unwrap_or(self.steps.len())
    }
}

/// The loss launches, the metric slots and the steps waiting to be read back.
pub(super) struct LossAndMetrics {
    /// The batch's labels, written by the gathers.
    labels: wgpu::Buffer,
    /// Per-sample loss and correctness.
    stats: wgpu::Buffer,
    /// The metric records, [`SLOTS`] of [`SLOT`] floats.
    records: wgpu::Buffer,
    staging: Staging,
    /// The training batch's loss; its per-sample results go to the step's own slot.
    train_loss: Dispatch,
    /// Accumulation of the per-sample results into slot i.
    accumulate: Vec<Dispatch>,
    pending: Vec<Pending>,
}

/// Where the model's batch goes and where losses and metrics are written.
struct Targets<'a> {
    logits: &'a wgpu::Buffer,
    logits_grad: &'a wgpu::Buffer,
    labels: &'a wgpu::Buffer,
    stats: &'a wgpu::Buffer,
    metrics: Operand<'a>,
    guard: Operand<'a>,
}

/// Loss and metric accumulation over the first `n` images of the batch.
fn loss_and_metrics(
    gpu: &Gpu,
    n: u32,
    classes: u32,
    t: &Targets<'_>,
) -> Result<[Dispatch; 2], GpuError> {
    let whole = Operand::whole;
    let loss = loss::softmax_cross_entropy(
        gpu,
        n,
        classes,
        whole(t.logits),
        whole(t.labels),
        whole(t.logits_grad),
        whole(t.stats),
    )?;
    let metrics = loss::accumulate_metrics(gpu, n, whole(t.stats), t.metrics, t.guard)?;
    Ok([loss, metrics])
}

impl LossAndMetrics {
    /// The loss of a training batch of `batch` images and `classes` classes, and its slots.
    pub fn new(gpu: &Gpu, plan: &Plan, batch: u32, classes: u32) -> Result<Self, GpuError> {
        let stats = gpu.storage("per-sample loss", batch as u64 * 2 * 4)?;
        let bytes = (SLOTS * SLOT * 4) as u64;
        let records = gpu.storage("metrics", bytes)?;
        let staging = gpu.staging("metrics readback", bytes);
        let labels = gpu.storage("batch labels", batch as u64 * 4)?;
        let slot = |i: usize| Operand {
            buffer: &records,
            offset: (i * SLOT) as u32,
        };
        let targets = |i| Targets {
            logits: plan.logits(),
            logits_grad: plan.logits_grad(),
            labels: &labels,
            stats: &stats,
            metrics: slot(i),
            guard: plan.guard(),
        };
        let [train_loss, first] = loss_and_metrics(gpu, batch, classes, &targets(0))?;
        let mut accumulate = vec![first];
        for i in 1..EVAL_SLOT {
            let stats = Operand::whole(&stats);
            accumulate.push(loss::accumulate_metrics(
                gpu,
                batch,
                stats,
                slot(i),
                plan.guard(),
            )?);
        }
        Ok(LossAndMetrics {
            labels,
            stats,
            records,
            staging,
            train_loss,
            accumulate,
            pending: Vec::new(),
        })
    }

    /// Where the gathers write a batch.
    pub fn batch_input<'a>(&'a self, plan: &'a Plan) -> BatchInput<'a> {
        BatchInput {
            input: plan.input(),
            labels: &self.labels,
        }
    }

    /// The loss and metric launches of an evaluation batch of `n` real images, into the
    /// evaluation slot.
    pub fn evaluation_loss(
        &self,
        gpu: &Gpu,
        plan: &Plan,
        n: u32,
        classes: u32,
    ) -> Result<[Dispatch; 2], GpuError> {
        let targets = Targets {
            logits: plan.logits(),
            logits_grad: plan.logits_grad(),
            labels: &self.labels,
            stats: &self.stats,
            metrics: Operand {
                buffer: &self.records,
                offset: (EVAL_SLOT * SLOT) as u32,
            },
            guard: plan.guard(),
        };
        loss_and_metrics(gpu, n, classes, &targets)
    }

    /// Steps waiting to be read back.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The training loss launches of the next step, into its own slot.
    pub fn step_loss(&self) -> [&Dispatch; 2] {
        [&self.train_loss, &self.accumulate[self.pending.len()]]
    }

    /// The training loss launches into the first slot (for timing passes whose metrics are
    /// thrown away).
    pub fn scratch_loss(&self) -> [&Dispatch; 2] {
        [&self.train_loss, &self.accumulate[0]]
    }

    /// Before the next step's work: its slot starts from zero.
    pub fn open_step(&self, commands: &mut Commands<'_>) {
        let at = (self.pending.len() * SLOT * 4) as u64;
        commands.clear(&self.records, at, (SLOT * 4) as u64);
    }

    /// After the step's work: the divergence guard beside its metrics, read back with them;
    /// the step then waits for [`LossAndMetrics::read_steps`].
    pub fn close_step(&mut self, commands: &mut Commands<'_>, guard: Operand<'_>, step: Pending) {
        let at = (self.pending.len() * SLOT + METRICS_LEN) as u64 * 4;
        commands.copy(guard.buffer, guard.offset as u64 * 4, &self.records, at, 4);
        self.pending.push(step);
    }

    /// Reads back the records of the steps submitted since the last read.
    pub async fn read_steps(&mut self, gpu: &Gpu) -> Result<ReadSteps, GpuError> {
        if self.pending.is_empty() {
            return Ok(ReadSteps {
                steps: Vec::new(),
                first_bad: None,
            });
        }
        let bytes = (self.pending.len() * SLOT * 4) as u64;
        let data = gpu
            .read_into(&self.staging, &self.records, 0, bytes)
            .await?;
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(&data);
        let steps: Vec<(Pending, Record)> = std::mem::take(&mut self.pending)
            .into_iter()
            .zip(values.chunks_exact(SLOT))
            .map(|(p, r)| {
                let mut record = [0.0; SLOT];
                record.copy_from_slice(r);
                (p, Record(record))
            })
            .collect();
        let first_bad = steps.iter().position(|(_, r)| r.diverged());
        Ok(ReadSteps { steps, first_bad })
    }

    /// Before an evaluation's first batch: its slot starts from zero.
    pub fn open_evaluation(&self, commands: &mut Commands<'_>) {
        let at = (EVAL_SLOT * SLOT * 4) as u64;
        commands.clear(&self.records, at, (SLOT * 4) as u64);
    }

    /// Reads back the evaluation slot: loss and accuracy over every image evaluated.
    pub async fn read_evaluation(&self, gpu: &Gpu) -> Result<Evaluation, GpuError> {
        let at = (EVAL_SLOT * SLOT * 4) as u64;
        let data = gpu
            .read_into(&self.staging, &self.records, at, (SLOT * 4) as u64)
            .await?;
        let r: Vec<f32> = bytemuck::pod_collect_to_vec(&data);
        let count = r[2].max(1.0) as f64;
        Ok(Evaluation {
            loss: r[0] as f64 / count,
            accuracy: r[1] as f64 / count,
            images: r[2] as u32,
        })
    }
}
