//! SGD (`shaders/optim.wgsl`) with exactly PyTorch's semantics over a range of the flat
//! parameter buffer, with a learning rate per parameter block; and its CPU reference.

use serde::Serialize;

use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

use super::elementwise::grid_1d;
use super::params::wgsl_params;
use super::{Launch, Operand};

/// Counter name of the SGD step.
pub const SGD: &str = "sgd";
/// Counter name of the check that the gradients are finite, run before each SGD step.
pub const CHECK_FINITE: &str = "check_finite";

/// Hyper-parameters of one step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SgdSettings {
    /// Momentum factor mu (0 disables momentum).
    pub momentum: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// The first step: the momentum buffer starts as the first update direction.
    pub first_step: bool,
}

wgsl_params! {
    struct Params mirrors [crate::shaders::OPTIM] {
        start: u32,
        end: u32,
        blocks: u32,
        first_step: u32,
        momentum: f32,
        weight_decay: f32,
        nesterov: u32,
        starts_offset: u32,
        lrs_offset: u32,
        guard_offset: u32,
        _pad: [u32; 2],
    }
}

/// The flat buffers SGD works on: parameters, gradients and momentum share one layout
/// (element i of each is the same parameter), and `block_starts` (u32, blocks + 1 entries:
/// each block's first element in that layout, then the end) and `lrs` (f32, one per block)
/// describe the blocks.
pub struct SgdBuffers<'a> {
    /// Parameters, updated in place.
    pub params: &'a wgpu::Buffer,
    /// Gradients.
    pub grads: &'a wgpu::Buffer,
    /// Momentum buffers, updated in place.
    pub momentum: &'a wgpu::Buffer,
    /// First element of each block, then the end.
    pub block_starts: Operand<'a>,
    /// Learning rate of each block.
    pub lrs: Operand<'a>,
    /// The divergence flag (see `Plan::guard`): the gradient check sets it on a NaN or an
    /// infinity, and no parameter changes while it is set.
    pub guard: Operand<'a>,
}

/// A prepared SGD step over elements `start..end` (the trainable suffix): the gradient
/// check, then the update.
#[derive(Debug)]
pub struct Sgd {
    check: Dispatch,
    dispatch: Dispatch,
    params: Params,
}

impl Sgd {
    /// Prepares the step; `blocks` is the number of blocks described by the block buffers.
    pub fn new(
        gpu: &Gpu,
        buffers: &SgdBuffers<'_>,
        blocks: u32,
        range: std::ops::Range<u32>,
        settings: SgdSettings,
    ) -> Result<Sgd, GpuError> {
        let kernel = SGD;
        let len = range.end.saturating_sub(range.start);
        if len == 0 || blocks == 0 {
            return Err(GpuError::launch(
                kernel,
                "nothing to update: empty range or no blocks",
            ));
        }
        // The gradient check reads the gradients and sets the guard; the step reads the
        // guard and skips the update once it is set.
        let whole = Operand::whole;
        let end = range.end as usize;
        let check = Launch::new(gpu, CHECK_FINITE)
            .read(1, "grads", whole(buffers.grads), end)?
            .write(6, "guard", buffers.guard, 1)?;
        let step = Launch::new(gpu, kernel)
            .read(1, "grads", whole(buffers.grads), end)?
            .read(2, "block_starts", buffers.block_starts, blocks as usize + 1)?
            .read(3, "lrs", buffers.lrs, blocks as usize)?
            .write(4, "params", whole(buffers.params), end)?
            .write(5, "momentum", whole(buffers.momentum), end)?
            .write(6, "guard", buffers.guard, 1)?;
        let params = Params {
            start: range.start,
            end: range.end,
            blocks,
            first_step: settings.first_step as u32,
            momentum: settings.momentum,
            weight_decay: settings.weight_decay,
            nesterov: settings.nesterov as u32,
            starts_offset: buffers.block_starts.offset,
            lrs_offset: buffers.lrs.offset,
            guard_offset: buffers.guard.offset,
            _pad: [0; 2],
        };
        let grid = grid_1d(gpu, len, 256);
        let check = check.dispatch(&shaders::OPTIM, "check_finite", &params, grid)?;
        let dispatch = step.dispatch(&shaders::OPTIM, "sgd", &params, grid)?;
        Ok(Sgd {
            check,
            dispatch,
            params,
        })
    }

    /// Changes the settings (e.g. after the first step) for the next submit.
    pub fn set_settings(&mut self, gpu: &Gpu, settings: SgdSettings) {
        self.params.first_step = settings.first_step as u32;
        self.params.momentum = settings.momentum;
        self.params.weight_decay = settings.weight_decay;
        self.params.nesterov = settings.nesterov as u32;
        self.dispatch.set_params(gpu, &self.params);
        self.check.set_params(gpu, &self.params);
    }

    /// The launches to record, in order: the gradient check, then the update.
    pub fn dispatches(&self) -> [&Dispatch; 2] {
        [&self.check, &self.dispatch]
    }
}

/// CPU reference of one step over `range`: returns (parameters, momentum) after it.
pub fn sgd_reference(
    params: &[f64],
    grads: &[f64],
    momentum: &[f64],
    block_starts: &[u32],
    lrs: &[f64],
    range: std::ops::Range<usize>,
    s: &SgdSettings,
) -> (Vec<f64>, Vec<f64>) {
    let (mut p, mut m) = (params.to_vec(), momentum.to_vec());
    let (mu, wd) = (s.momentum as f64, s.weight_decay as f64);
    for i in range {
        let block = block_starts
            .iter()
            .rposition(|&b| b as usize <= i)
            .unwrap_or(0);
        let mut d = grads[i] + wd * p[i];
        let buf = if s.first_step { d } else { mu * m[i] + d };
        m[i] = buf;
        d = if s.nesterov { d + mu * buf } else { buf };
        p[i] -= lrs[block] * d;
    }
    (p, m)
}
