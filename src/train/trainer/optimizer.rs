//! The update: SGD with one learning rate per block, written before each step from the
//! schedule. FreezeOut needs one launch per possible frozen prefix, each over the
//! trainable suffix only; they are all built before training so that freezing allocates
//! nothing.

use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::kernels::optim::{Sgd, SgdBuffers, SgdSettings};
use crate::kernels::Operand;
use crate::nn::Plan;
use crate::schedule::{Method, RunSchedule};
use crate::train::config::TrainConfig;

/// SGD for each number of frozen blocks that can occur, its momentum and its rates.
pub(super) struct Optimizer {
    /// One per number of frozen blocks (only the first, for methods that do not freeze).
    sgds: Vec<Option<Sgd>>,
    /// SGD's momentum, one value per parameter: part of the training state.
    pub momentum: wgpu::Buffer,
    /// The rates on the host, refilled every step.
    rates: Vec<f32>,
    /// The rates on the GPU, one per block.
    rates_buffer: wgpu::Buffer,
    _block_starts: wgpu::Buffer,
}

impl Optimizer {
    /// The optimizer of `plan`'s parameters with `config`'s momentum and weight decay.
    pub fn new(gpu: &Gpu, plan: &Plan, config: &TrainConfig) -> Result<Self, GpuError> {
        let blocks = plan.blocks.len();
        let params = &plan.layouts.params;
        let momentum = gpu.storage("momentum", plan.params.size())?;
        let starts = params.block_starts(blocks);
        let block_starts = gpu.storage_from("block starts", &starts)?;
        let rates_buffer = gpu.storage("learning rates", blocks as u64 * 4)?;
        let mut sgds = Vec::with_capacity(blocks);
        for (frozen, &first) in starts.iter().take(blocks).enumerate() {
            let needed = frozen == 0 || matches!(config.method, Method::Freezeout(_));
            if !needed || first >= params.len {
                sgds.push(None);
                continue;
            }
            let buffers = SgdBuffers {
                params: &plan.params,
                grads: &plan.grads,
                momentum: &momentum,
                block_starts: Operand::whole(&block_starts),
                lrs: Operand::whole(&rates_buffer),
                guard: plan.guard(),
            };
            let settings = SgdSettings {
                momentum: config.momentum as f32,
                weight_decay: config.weight_decay as f32,
                nesterov: config.nesterov,
                first_step: false,
            };
            let sgd = Sgd::new(gpu, &buffers, blocks as u32, first..params.len, settings)?;
            sgds.push(Some(sgd));
        }
        Ok(Optimizer {
            sgds,
            momentum,
            rates: vec![0.0; blocks],
            rates_buffer,
            _block_starts: block_starts,
        })
    }

    /// The update's launches (the gradient check, then SGD) with `frozen` blocks frozen, if
    /// such a step can occur.
    pub fn update(&self, frozen: usize) -> Option<[&Dispatch; 2]> {
        Some(self.sgds.get(frozen)?.as_ref()?.dispatches())
    }

    /// [`Optimizer::update`], or the error a step with no update prepared for `frozen` is.
    pub fn prepared(&self, frozen: usize) -> Result<[&Dispatch; 2], GpuError> {
        self.update(frozen).ok_or_else(|| {
            let why = format!("no optimizer prepared for {frozen} frozen blocks");
            GpuError::launch("sgd", why)
        })
    }

    /// Writes every block's rate at iteration `j`.
    pub fn set_rates(&mut self, gpu: &Gpu, schedule: &RunSchedule, j: u64) {
        schedule.fill_lrs(j, &mut self.rates);
        gpu.write(&self.rates_buffer, 0, &self.rates);
    }

    /// Every number of frozen blocks, with the update's launches where such a step can occur.
    pub fn updates(&self) -> impl Iterator<Item = Option<[&Dispatch; 2]>> {
        self.sgds.iter().map(|s| s.as_ref().map(Sgd::dispatches))
    }
}
