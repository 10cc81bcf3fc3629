//! Stochastic Weight Averaging's model (docs/design.md §2.3): the running average of the
//! weights, taken on the GPU at the end of every epoch from swa_start on, and at the end of
//! the run the averaged model put in place of the last SGD iterate: its weights copied in,
//! its batch-norm statistics recomputed by one pass over the training set (the equal-weight
//! mean over batches), and its test result.

use super::{TrainError, Trainer};
use crate::gpu::{Commands, Gpu, GpuError};
use crate::kernels::average::RunningAverage;
use crate::kernels::norm::NormSettings;
use crate::kernels::Operand;
use crate::metrics::SwaResult;
use crate::nn::Plan;
use crate::train::events::Event;

/// The averaged weights and the launches that build them.
pub(super) struct WeightAverage {
    /// The average of the weights taken so far.
    pub weights: wgpu::Buffer,
    add_weights: RunningAverage,
    /// The averaged model's batch-norm statistics, while they are recomputed.
    stats: wgpu::Buffer,
    add_stats: RunningAverage,
    /// Models in the average.
    pub models: u32,
}

impl WeightAverage {
    /// Room for the average of `plan`'s weights and statistics.
    pub fn new(gpu: &Gpu, plan: &Plan) -> Result<Self, GpuError> {
        let l = &plan.layouts;
        let weights = gpu.storage("SWA weights", plan.params.size())?;
        let stats = gpu.storage("SWA batch-norm statistics", plan.state.size().max(4))?;
        let whole = Operand::whole;
        let add_weights =
            RunningAverage::new(gpu, l.params.len, whole(&plan.params), whole(&weights), 1.0)?;
        // A batch leaves momentum x its statistics in running buffers cleared before it.
        let momentum = NormSettings::default().momentum;
        let add_stats = RunningAverage::new(
            gpu,
            l.state.len.max(1),
            whole(&plan.state),
            whole(&stats),
            1.0 / momentum,
        )?;
        Ok(WeightAverage {
            weights,
            add_weights,
            stats,
            add_stats,
            models: 0,
        })
    }
}

impl Trainer {
    /// Adds the current weights to SWA's average (after an epoch whose steps were read back
    /// without a divergence, so no diverged step's weights get in).
    pub(super) fn add_to_average(&mut self) {
        let Some(average) = self.average.as_mut() else {
            return;
        };
        average.add_weights.set(&self.gpu, average.models);
        let mut commands = Commands::new(&self.gpu, "SWA average");
        commands.run(&[average.add_weights.dispatch()]);
        commands.submit();
        average.models += 1;
        self.events.push(Event::Averaged {
            models: average.models,
            iteration: self.iteration - 1,
        });
    }

    /// Puts SWA's averaged model in place of the live weights, recomputes its batch-norm
    /// statistics and evaluates it; the last SGD iterate's test result is kept beside.
    pub(super) async fn apply_average(&mut self) -> Result<(), TrainError> {
        let models = match &self.average {
            Some(a) if a.models > 0 => a.models,
            _ => return Ok(()),
        };
        let sgd_test = self.current_test().await?;
        self.recompute_statistics()?;
        let test = self.evaluate_test().await?;
        let result = SwaResult {
            models,
            sgd_test,
            test,
        };
        self.swa = Some(result);
        self.events.push(Event::Swa(result));
        Ok(())
    }

    /// Copies the averaged weights in, then passes the training set through the model once
    /// in training mode: each batch runs with the running statistics cleared, so it leaves
    /// momentum x its own statistics there, and the average of those over the batches
    /// becomes the model's statistics (PyTorch's `update_bn` with momentum None).
    fn recompute_statistics(&mut self) -> Result<(), TrainError> {
        // An epoch past the last: its own order and augmentation, as a data loader gives.
        let epoch = self.config.epochs;
        let order = self.order(epoch);
        let Some(average) = self.average.as_mut() else {
            return Ok(());
        };
        let gpu: &Gpu = &self.gpu;
        let plan = &self.plan;
        let mut commands = Commands::new(gpu, "SWA weights");
        commands.copy(&average.weights, 0, &plan.params, 0, plan.params.size());
        commands.submit();
        if plan.layouts.state.len == 0 {
            return Ok(());
        }
        gpu.write(&self.data.train.indices, 0, &order);
        let state_bytes = plan.layouts.state.len as u64 * 4;
        for b in 0..self.steps_per_epoch {
            let position = (b * self.config.batch as u64) as u32;
            self.data.train.gather.set_position(gpu, epoch, position);
            average.add_stats.set(gpu, b as u32);
            let mut work = vec![self.data.train.gather.dispatch()];
            for block in &plan.blocks {
                work.extend(block.train.iter());
            }
            work.push(average.add_stats.dispatch());
            let mut commands = Commands::new(gpu, "SWA batch norms");
            commands.clear(&plan.state, 0, state_bytes);
            commands.run(&work);
            commands.submit();
        }
        let mut commands = Commands::new(gpu, "SWA statistics");
        commands.copy(&average.stats, 0, &plan.state, 0, state_bytes);
        commands.submit();
        Ok(())
    }

    /// SWA's averaged model's result, once the run has finished.
    pub fn swa(&self) -> Option<SwaResult> {
        self.swa
    }
}
