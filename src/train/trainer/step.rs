//! The step: the batch gathered, forward, loss, backward and update recorded into one
//! command buffer and submitted; steps run until the next readback, epoch end, snapshot,
//! SWA average or freeze; the metrics read back turned into the run's history; and what
//! happens when a step diverged.

use super::loss::Pending;
use super::{TrainError, Trainer};
use crate::gpu::{Commands, Gpu};
use crate::metrics::{EpochMetrics, Resume, StepMetrics};
use crate::schedule::{Fge, Method, Swa};
use crate::train::config::bad;
use crate::train::events::Event;
use crate::train::work::{step_work, StepParts};

impl Trainer {
    /// Runs up to `iterations` more steps (fewer at the end of the run), reading metrics
    /// back every `readback_every` steps and evaluating at the end of each epoch.
    pub async fn run(&mut self, iterations: u64) -> Result<(), TrainError> {
        let end = self.iteration.saturating_add(iterations).min(self.total);
        while self.iteration < end {
            let snapshot = self.step()?;
            let epoch_done = self.iteration.is_multiple_of(self.steps_per_epoch);
            let due = self.loss.pending() as u32 >= self.config.readback_every;
            // A freeze ends the timing window, so each phase's step time is measured.
            let freezing = self.schedule.frozen_blocks(self.iteration) != self.frozen;
            if due || epoch_done || snapshot.is_some() || freezing {
                self.read_back().await?;
            }
            if let Some(index) = snapshot {
                self.evaluate_snapshot(index).await?;
            }
            // After the readback, so a diverged epoch's weights never join the average.
            if self.schedule.average_after(self.iteration - 1) {
                self.add_to_average();
            }
            if epoch_done {
                self.finish_epoch().await?;
            }
        }
        self.read_back().await?;
        Ok(())
    }

    /// Records and submits one training step; returns the index of the snapshot taken
    /// after it, if one was.
    fn step(&mut self) -> Result<Option<usize>, TrainError> {
        let recording = web_time::Instant::now();
        let gpu: &Gpu = &self.gpu;
        let j = self.iteration;
        let epoch = (j / self.steps_per_epoch) as u32;
        let within = j % self.steps_per_epoch;
        if within == 0 {
            let order = self.order(epoch);
            gpu.write(&self.data.train.indices, 0, &order);
        }
        self.timing.step_submitted();
        let position = (within * self.config.batch as u64) as u32;
        self.data.train.gather.set_position(gpu, epoch, position);
        let frozen = self.schedule.frozen_blocks(j);
        if frozen != self.frozen {
            self.frozen = frozen;
            self.events.push(Event::Frozen {
                blocks: frozen,
                iteration: j,
            });
        }
        self.optimizer.set_rates(gpu, &self.schedule, j);
        let parts = StepParts {
            gather: self.data.train.gather.dispatch(),
            loss: self.loss.step_loss(),
            optimizer: self.optimizer.prepared(frozen)?,
        };
        // Forward, loss, backward (stopping at the first trainable block), update.
        let work = step_work(&self.plan, frozen, &parts);
        let mut commands = Commands::new(gpu, "training step");
        self.loss.open_step(&mut commands);
        commands.run(&work);
        let step = Pending {
            iteration: j,
            epoch,
            lr: self.schedule.head_lr(j),
            frozen: frozen as u32,
        };
        self.loss.close_step(&mut commands, self.plan.guard(), step);
        let snapshot = match self.schedule.snapshot_after(j) {
            true => self
                .snapshots
                .store
                .take(&mut commands, &self.plan.params, &self.plan.state),
            false => None,
        };
        let submitting = web_time::Instant::now();
        commands.submit();
        self.timing.step_recorded(recording, submitting);
        self.iteration += 1;
        Ok(snapshot)
    }

    /// The order of the training images in `epoch`: a seeded shuffle, or file order.
    pub(super) fn order(&self, epoch: u32) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.data.train.images).collect();
        if self.config.shuffle {
            let key = self.config.seed ^ (epoch as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            fastrand::Rng::with_seed(key).shuffle(&mut order);
        }
        order
    }

    /// Reads back the metrics of the steps submitted since the last readback into the
    /// history; fails with [`TrainError::Diverged`] at the first step that went wrong.
    async fn read_back(&mut self) -> Result<(), TrainError> {
        let read = self.loss.read_steps(&self.gpu).await?;
        let Some(&(first_step, _)) = read.steps.first() else {
            return Ok(());
        };
        let good = read.good();
        let seconds = self
            .timing
            .steps_read(first_step.frozen as usize, good, read.steps.len());
        let first = self.steps.len();
        for (p, record) in &read.steps[..good] {
            let profile = self.timing.profile(p.frozen as usize);
            self.steps.push(StepMetrics {
                iteration: p.iteration,
                epoch: p.epoch,
                loss: record.loss(),
                accuracy: record.accuracy(),
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
        if let Some(i) = read.first_bad {
            let (step, record) = read.steps[i];
            self.stop_at(step.iteration);
            return Err(TrainError::Diverged {
                iteration: step.iteration,
                loss: record.loss(),
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
        let classes = self.plan.arch.classes as usize;
        self.snapshots
            .truncate(keep, &self.evaluator.labels, classes);
    }

    /// The iteration training diverged at, if it has and was not resumed since.
    pub fn diverged_at(&self) -> Option<u64> {
        self.diverged
    }

    /// Goes on after a divergence (or any stop) with every learning rate multiplied by
    /// `factor` (0 < factor <= 1) from the current iteration on: the base rate, Snapshot
    /// Ensembles' restart rate alpha0, FGE's alpha1 and alpha2, SWA's swa_lr, and so
    /// FreezeOut's per-block rates. Clears the GPU's
    /// divergence guard; the next [`Trainer::run`] repeats the step that diverged.
    pub fn resume(&mut self, factor: f64) -> Result<f64, TrainError> {
        if !(factor > 0.0 && factor <= 1.0) {
            let fix = "resume with a learning-rate factor in (0, 1]";
            return Err(bad("factor", factor, fix).into());
        }
        // Rates given explicitly scale too; the others follow the base rate.
        let times = |a: Option<f64>| a.map(|a| a * factor);
        let scale = |m: Method| match m {
            Method::Snapshot { cycles, alpha0 } => Method::Snapshot {
                cycles,
                alpha0: times(alpha0),
            },
            Method::Fge(f) => Method::Fge(Fge {
                alpha1: times(f.alpha1),
                alpha2: times(f.alpha2),
                ..f
            }),
            Method::Swa(w) => Method::Swa(Swa {
                lr: times(w.lr),
                ..w
            }),
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
        self.pace.restart();
        Ok(self.config.lr)
    }

    /// Every resume so far.
    pub fn resumes(&self) -> &[Resume] {
        &self.resumes
    }

    /// Closes the epoch just run: its mean training loss and accuracy, its time, and the
    /// test (and validation) results when they are evaluated.
    async fn finish_epoch(&mut self) -> Result<(), TrainError> {
        let epoch = (self.iteration / self.steps_per_epoch - 1) as u32;
        let of_epoch: Vec<&StepMetrics> = self.steps.iter().filter(|s| s.epoch == epoch).collect();
        let n = of_epoch.len().max(1) as f64;
        let train_loss = of_epoch.iter().map(|s| s.loss).sum::<f64>() / n;
        let train_accuracy = of_epoch.iter().map(|s| s.accuracy).sum::<f64>() / n;
        let seconds = std::mem::take(&mut self.timing.epoch_seconds);
        let images = (self.steps_per_epoch * self.config.batch as u64) as f64;
        let (test, validation) = if self.config.eval_every_epoch || self.is_finished() {
            let test = Some(self.current_test().await?);
            let validation = match self.evaluator.has_validation() {
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
            // SWA's prediction is the averaged model's: it replaces the last iterate.
            self.apply_average().await?;
            self.events.push(Event::Finished);
        }
        Ok(())
    }
}
