//! Batch normalisation (`shaders/norm.wgsl`) exactly as PyTorch's BatchNorm2d (momentum 0.1,
//! eps 1e-5, unbiased variance in the running estimate), with optional fused ReLU; and its
//! CPU references.
//!
//! Where things live: x (and dx, same layout) may be a channel prefix of a wider tensor;
//! y and dy are dense n x c x hw; gamma and beta sit in the parameter buffer and dgamma and
//! dbeta at the same offsets in the gradient buffer; the running mean and variance sit in a
//! state buffer; `saved` holds (batch mean, 1/sqrt(var + eps)) per channel for backward.

pub mod pooled;

use serde::Serialize;

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name: batch statistics and running-statistics update.
pub const STATS: &str = "bn_stats";
/// Counter name: normalisation with batch statistics.
pub const APPLY: &str = "bn_apply";
/// Counter name: normalisation with running statistics.
pub const INFERENCE: &str = "bn_inference";
/// Counter name: dgamma and dbeta.
pub const GRAD_REDUCE: &str = "bn_grad_reduce";
/// Counter name: dx.
pub const GRAD_APPLY: &str = "bn_grad_apply";
/// Counter name: the first pass of the two-pass batch statistics (sums per part).
pub const STATS_PARTIAL: &str = "bn_stats_partial";
/// Counter name: the second pass (parts added in order, running-statistics update).
pub const STATS_MERGE: &str = "bn_stats_merge";
/// Counter name: the first pass of the two-pass dgamma, dbeta.
pub const GRAD_PARTIAL: &str = "bn_grad_partial";
/// Counter name: the second pass of the two-pass dgamma, dbeta.
pub const GRAD_MERGE: &str = "bn_grad_merge";

/// Values a workgroup of the two-pass reductions aims to sum (in whole images): enough to
/// amortise a workgroup, few enough that a GPU gets channels x parts workgroups to run.
const VALUES_PER_PART: u32 = 2048;

/// Parts the per-channel reductions of `shape` are cut into by default: whole images of
/// about [`VALUES_PER_PART`] values each (1: one pass).
pub fn reduction_parts(shape: &NormShape) -> u32 {
    let images = (VALUES_PER_PART / shape.hw.max(1)).max(1);
    shape.n.div_ceil(images).max(1)
}

/// Times the reductions (statistics, then dgamma and dbeta) of `shape` in one pass and cut
/// into [`reduction_parts`] on scratch buffers, and returns the faster part count on this
/// adapter: a GPU wants the parts' many workgroups, a software adapter pays for their
/// barriers (one pass is taken there untimed: the parts were up to 25% slower per kernel
/// and 30-45% slower in a ResNet-20 step on lavapipe, BENCHMARKS.md). Remembered on the device like the convolutions' choices.
pub async fn choose_parts(gpu: &Gpu, shape: NormShape) -> Result<u32, GpuError> {
    let split = reduction_parts(&shape);
    if split == 1 || gpu.is_software() {
        return Ok(1);
    }
    let question = format!("batch norm reductions {}x{}x{}", shape.n, shape.c, shape.hw);
    let remembered = gpu.remembered_choice(&question);
    if let Some(parts) = remembered.and_then(|a| a.parse::<u32>().ok()) {
        if parts == 1 || parts == split {
            return Ok(parts);
        }
    }
    let c = shape.c as usize;
    let x = gpu.storage("choose x", shape.x_len() as u64 * 4)?;
    let dy = gpu.storage("choose dy", shape.len() as u64 * 4)?;
    let affine = gpu.storage_from("choose gamma beta", &vec![1f32; 2 * c])?;
    let grads = gpu.storage("choose dgamma dbeta", 2 * c as u64 * 4)?;
    let saved = gpu.storage_from("choose saved", &vec![1f32; 2 * c])?;
    let state = gpu.storage("choose running", (2 * c as u64 + 1) * 4)?;
    let whole = Operand::whole;
    let set = NormSettings::default();
    let (params, gradients) = (
        Affine {
            buffer: &affine,
            gamma: 0,
            beta: shape.c,
        },
        Affine {
            buffer: &grads,
            gamma: 0,
            beta: shape.c,
        },
    );
    let running = Running {
        buffer: &state,
        mean: 0,
        var: shape.c,
        guard: 2 * shape.c,
    };
    let mut best = (f64::INFINITY, 1);
    for parts in [1, split] {
        let mut ops = stats_in_parts(gpu, shape, set, whole(&x), whole(&saved), running, parts)?;
        ops.extend(grad_reduce_in_parts(
            gpu,
            shape,
            set,
            whole(&x),
            whole(&dy),
            params,
            whole(&saved),
            gradients,
            parts,
        )?);
        let refs: Vec<&Dispatch> = ops.iter().collect();
        let ms = crate::gpu::timing::ms_per_run_to_beat(gpu, &refs, best.0).await?;
        if ms < best.0 {
            best = (ms, parts);
        }
    }
    gpu.remember_choice(question, best.1.to_string());
    Ok(best.1)
}

/// Sizes: n images of c channels of hw values; x holds `x_channels` channels per image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NormShape {
    /// Batch.
    pub n: u32,
    /// Channels normalised.
    pub c: u32,
    /// Height times width.
    pub hw: u32,
    /// Channels per image in the x buffer (at least c).
    pub x_channels: u32,
}

impl NormShape {
    /// Dense elements (of y).
    pub fn len(&self) -> usize {
        self.n as usize * self.c as usize * self.hw as usize
    }

    /// Whether there is nothing to normalise.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of the x region.
    pub fn x_len(&self) -> usize {
        self.n as usize * self.x_channels as usize * self.hw as usize
    }
}

/// PyTorch's defaults and the fused ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NormSettings {
    /// Running-statistics momentum (PyTorch: 0.1).
    pub momentum: f32,
    /// Added to the variance (PyTorch: 1e-5).
    pub eps: f32,
    /// Apply ReLU after the affine transform.
    pub relu: bool,
}

impl Default for NormSettings {
    fn default() -> Self {
        NormSettings {
            momentum: 0.1,
            eps: 1e-5,
            relu: false,
        }
    }
}

wgsl_params! {
    struct Params mirrors [crate::shaders::NORM] {
        n: u32,
        c: u32,
        hw: u32,
        x_channels: u32,
        x_offset: u32,
        y_offset: u32,
        gamma_offset: u32,
        beta_offset: u32,
        saved_offset: u32,
        mean_offset: u32,
        var_offset: u32,
        flags: u32,
        momentum: f32,
        eps: f32,
        guard_offset: u32,
        split: u32,
        h: u32,
        w: u32,
        argmax_offset: u32,
        _pad: u32,
    }
}

const RELU: u32 = 1;
const ACCUMULATE: u32 = 2;

/// The per-channel parameters (gamma, beta) in one buffer, or their gradients.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Offset of gamma (or dgamma).
    pub gamma: u32,
    /// Offset of beta (or dbeta).
    pub beta: u32,
}

/// The running statistics in one buffer.
#[derive(Clone, Copy, Debug)]
pub struct Running<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Offset of the running mean.
    pub mean: u32,
    /// Offset of the running variance.
    pub var: u32,
    /// Offset of the divergence guard (see `Plan::guard`): `stats` sets it on a batch whose
    /// statistics are not finite and leaves the running statistics alone while it is set.
    pub guard: u32,
}

/// Parameters common to every kernel, after checking the shape; training kernels also need
/// more than one value per channel (PyTorch refuses the same).
fn base(
    kernel: &'static str,
    s: &NormShape,
    x: Operand<'_>,
    set: &NormSettings,
) -> Result<Params, GpuError> {
    let p = shape_params(kernel, s, x, set)?;
    if (s.n as u64) * (s.hw as u64) < 2 {
        return Err(GpuError::launch(
            kernel,
            "batch normalisation in training needs more than one value per channel (batch size 1 with 1x1 maps)",
        ));
    }
    Ok(p)
}

fn shape_params(
    kernel: &'static str,
    s: &NormShape,
    x: Operand<'_>,
    set: &NormSettings,
) -> Result<Params, GpuError> {
    if s.n == 0 || s.c == 0 || s.hw == 0 || s.x_channels < s.c {
        return Err(GpuError::launch(
            kernel,
            format!("bad batch-norm shape {s:?}"),
        ));
    }
    Ok(Params {
        n: s.n,
        c: s.c,
        hw: s.hw,
        x_channels: s.x_channels,
        x_offset: x.offset,
        flags: if set.relu { RELU } else { 0 },
        momentum: set.momentum,
        eps: set.eps,
        ..Params::default()
    })
}

impl<'a> Affine<'a> {
    fn gamma(&self) -> Operand<'a> {
        Operand {
            buffer: self.buffer,
            offset: self.gamma,
        }
    }

    fn beta(&self) -> Operand<'a> {
        Operand {
            buffer: self.buffer,
            offset: self.beta,
        }
    }
}

impl<'a> Running<'a> {
    fn at(&self, offset: u32) -> Operand<'a> {
        Operand {
            buffer: self.buffer,
            offset,
        }
    }
}

impl<'a> Launch<'a> {
    /// gamma and beta (or their gradients), one buffer at `binding`.
    fn affine(
        self,
        binding: u32,
        name: &str,
        a: &Affine<'a>,
        c: u32,
        written: bool,
    ) -> Result<Self, GpuError> {
        let gamma = format!("{name}gamma");
        self.bind(binding, &gamma, a.gamma(), c as usize, written)?
            .fits(&format!("{name}beta"), a.beta(), c as usize)
    }

    /// The running mean, variance and divergence guard, one buffer at binding 7.
    fn running(self, r: &Running<'a>, c: u32, written: bool) -> Result<Self, GpuError> {
        self.bind(7, "running mean", r.at(r.mean), c as usize, written)?
            .fits("running var", r.at(r.var), c as usize)?
            .fits("guard", r.at(r.guard), 1)
    }

    /// The dispatch of the entry point named as the kernel.
    fn norm(self, p: &Params, grid: [u32; 3]) -> Result<Dispatch, GpuError> {
        let entry = self.kernel();
        self.dispatch(&shaders::NORM, entry, p, grid)
    }
}

/// Positions of one channel plane per workgroup of the elementwise passes (`PER_GROUP`
/// in the shader).
const PER_GROUP: u32 = 1024;

/// Grid of the elementwise passes: (part of a plane, channel, image).
fn plane_grid(shape: &NormShape) -> [u32; 3] {
    [shape.hw.div_ceil(PER_GROUP), shape.c, shape.n]
}

/// Batch statistics into `saved` (2 per channel) and the running-statistics update, the
/// reduction cut into [`reduction_parts`].
pub fn stats(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    saved: Operand<'_>,
    running: Running<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    let parts = reduction_parts(&shape);
    stats_in_parts(gpu, shape, settings, x, saved, running, parts)
}

/// [`stats`] with the reduction cut into `parts` parts of whole images (clamped to 1..=n):
/// one pass when 1, else per-part sums and an in-order merge.
pub fn stats_in_parts(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    saved: Operand<'_>,
    running: Running<'_>,
    parts: u32,
) -> Result<Vec<Dispatch>, GpuError> {
    let kernel = STATS;
    let mut p = base(kernel, &shape, x, &settings)?;
    (p.saved_offset, p.mean_offset, p.var_offset) = (saved.offset, running.mean, running.var);
    p.guard_offset = running.guard;
    let c = shape.c;
    let finish = |kernel| -> Result<Launch<'_>, GpuError> {
        Launch::new(gpu, kernel)
            .read(1, "x", x, shape.x_len())?
            .write(6, "saved", saved, 2 * c as usize)?
            .running(&running, c, true)
    };
    let Some((partials, parts)) = split(gpu, &shape, parts, &mut p)? else {
        return Ok(vec![finish(kernel)?.norm(&p, [c, 1, 1])?]);
    };
    let sums = (Operand::whole(&partials), 2 * (c * parts) as usize);
    let first = Launch::new(gpu, STATS_PARTIAL)
        .read(1, "x", x, shape.x_len())?
        .write(9, "partial sums", sums.0, sums.1)?;
    let merge = finish(STATS_MERGE)?.read(10, "partial sums", sums.0, sums.1)?;
    Ok(vec![
        first.norm(&p, [parts, c, 1])?,
        merge.norm(&p, channel_grid(gpu, &shape))?,
    ])
}

/// For a reduction cut into `parts` (clamped to 1..=n) parts of whole images: None when
/// that is one part; else the scratch buffer of the parts' sums (2 per part and channel)
/// and the part count, with the images per part set in `p`.
fn split(
    gpu: &Gpu,
    shape: &NormShape,
    parts: u32,
    p: &mut Params,
) -> Result<Option<(wgpu::Buffer, u32)>, GpuError> {
    p.split = shape.n.div_ceil(parts.clamp(1, shape.n));
    let parts = shape.n.div_ceil(p.split);
    if parts == 1 {
        return Ok(None);
    }
    let bytes = 2 * 4 * shape.c as u64 * parts as u64;
    Ok(Some((
        gpu.storage("batch-norm partial sums", bytes)?,
        parts,
    )))
}

/// One invocation per channel.
fn channel_grid(gpu: &Gpu, shape: &NormShape) -> [u32; 3] {
    super::elementwise::grid_1d(gpu, shape.c, 64)
}

/// y = gamma * (x - mean) / sqrt(var + eps) + beta (+ ReLU) with the saved batch statistics.
pub fn apply(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    y: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = APPLY;
    let mut p = base(kernel, &shape, x, &settings)?;
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .affine(2, "", &affine, shape.c, false)?
        .read(5, "saved", saved, 2 * shape.c as usize)?
        .write(8, "y", y, shape.len())?;
    (p.gamma_offset, p.beta_offset, p.saved_offset, p.y_offset) =
        (affine.gamma, affine.beta, saved.offset, y.offset);
    launch.norm(&p, plane_grid(&shape))
}

/// The same with the running statistics: evaluation, and blocks frozen by FreezeOut.
pub fn inference(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    affine: Affine<'_>,
    running: Running<'_>,
    y: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = INFERENCE;
    let mut p = shape_params(kernel, &shape, x, &settings)?;
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .affine(2, "", &affine, shape.c, false)?
        .running(&running, shape.c, false)?
        .write(8, "y", y, shape.len())?;
    (p.y_offset, p.gamma_offset, p.beta_offset) = (y.offset, affine.gamma, affine.beta);
    (p.mean_offset, p.var_offset) = (running.mean, running.var);
    launch.norm(&p, plane_grid(&shape))
}

/// dgamma and dbeta (written at `grads`' offsets) from x, dy and the saved statistics, the
/// reduction cut into [`reduction_parts`].
#[allow(clippy::too_many_arguments)]
pub fn grad_reduce(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    dy: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    grads: Affine<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    let parts = reduction_parts(&shape);
    grad_reduce_in_parts(gpu, shape, settings, x, dy, affine, saved, grads, parts)
}

/// [`grad_reduce`] cut into `parts` parts of whole images (see [`stats_in_parts`]).
#[allow(clippy::too_many_arguments)]
pub fn grad_reduce_in_parts(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    dy: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    grads: Affine<'_>,
    parts: u32,
) -> Result<Vec<Dispatch>, GpuError> {
    let kernel = GRAD_REDUCE;
    let mut p = base(kernel, &shape, x, &settings)?;
    if grads.gamma != affine.gamma || grads.beta != affine.beta {
        return Err(GpuError::launch(
            kernel,
            "dgamma and dbeta must sit at gamma's and beta's offsets",
        ));
    }
    (p.y_offset, p.gamma_offset, p.beta_offset, p.saved_offset) =
        (dy.offset, affine.gamma, affine.beta, saved.offset);
    let c = shape.c;
    let reads = |kernel| -> Result<Launch<'_>, GpuError> {
        Launch::new(gpu, kernel)
            .read(1, "x", x, shape.x_len())?
            .affine(2, "", &affine, c, false)?
            .read(3, "dy", dy, shape.len())?
            .read(5, "saved", saved, 2 * c as usize)
    };
    grad_reduction(gpu, &shape, parts, p, (kernel, GRAD_PARTIAL), reads, &grads)
}

/// dgamma and dbeta by `kernels` (one pass, first pass of parts) from the launch `reads`
/// binds the inputs of: one pass when `parts` (clamped to 1..=n) is 1, else the parts'
/// sums into a scratch buffer and the in-order merge into `grads`.
fn grad_reduction<'a>(
    gpu: &'a Gpu,
    shape: &NormShape,
    parts: u32,
    mut p: Params,
    kernels: (&'static str, &'static str),
    reads: impl Fn(&'static str) -> Result<Launch<'a>, GpuError>,
    grads: &Affine<'a>,
) -> Result<Vec<Dispatch>, GpuError> {
    let c = shape.c;
    let Some((partials, parts)) = split(gpu, shape, parts, &mut p)? else {
        let launch = reads(kernels.0)?.affine(8, "d", grads, c, true)?;
        return Ok(vec![launch.norm(&p, [c, 1, 1])?]);
    };
    let sums = (Operand::whole(&partials), 2 * (c * parts) as usize);
    let first = reads(kernels.1)?.write(9, "partial sums", sums.0, sums.1)?;
    let merge = Launch::new(gpu, GRAD_MERGE)
        .affine(8, "d", grads, c, true)?
        .read(10, "partial sums", sums.0, sums.1)?;
    Ok(vec![
        first.norm(&p, [parts, c, 1])?,
        merge.norm(&p, channel_grid(gpu, shape))?,
    ])
}

/// dx (or dx += when `accumulate`, for DenseNet's shared features) from x, dy, the saved
/// statistics and dgamma, dbeta computed by [`grad_reduce`].
#[allow(clippy::too_many_arguments)]
pub fn grad_apply(
    gpu: &Gpu,
    shape: NormShape,
    settings: NormSettings,
    x: Operand<'_>,
    dy: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    grads: Affine<'_>,
    dx: Operand<'_>,
    accumulate: bool,
) -> Result<Dispatch, GpuError> {
    let kernel = GRAD_APPLY;
    let mut p = base(kernel, &shape, x, &settings)?;
    if dx.offset != x.offset || grads.gamma != affine.gamma || grads.beta != affine.beta {
        return Err(GpuError::launch(
            kernel,
            "gradients must sit at their tensors' offsets",
        ));
    }
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .affine(2, "", &affine, shape.c, false)?
        .read(3, "dy", dy, shape.len())?
        .affine(4, "d", &grads, shape.c, false)?
        .read(5, "saved", saved, 2 * shape.c as usize)?
        .write(8, "dx", dx, shape.x_len())?;
    (p.y_offset, p.gamma_offset, p.beta_offset, p.saved_offset) =
        (dy.offset, affine.gamma, affine.beta, saved.offset);
    if accumulate {
        p.flags |= ACCUMULATE;
    }
    launch.norm(&p, plane_grid(&shape))
}

/// Per-channel batch statistics of dense x: (mean, biased variance, unbiased variance).
fn channel_stats(s: &NormShape, x: &[f64]) -> Vec<(f64, f64, f64)> {
    let (c, hw) = (s.c as usize, s.hw as usize);
    let m = s.n as usize * hw;
    (0..c)
        .map(|ch| {
            let vals =
                (0..s.n as usize).flat_map(|img| (0..hw).map(move |k| (img * c + ch) * hw + k));
            let mean = vals.clone().map(|i| x[i]).sum::<f64>() / m as f64;
            let sq = vals.map(|i| (x[i] - mean).powi(2)).sum::<f64>();
            (mean, sq / m as f64, sq / (m as f64 - 1.0))
        })
        .collect()
}

/// Reference training forward on dense x: (y, saved (mean, invstd) pairs, new running mean,
/// new running variance).
pub fn train_reference(
    s: &NormShape,
    set: &NormSettings,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let stats = channel_stats(s, x);
    let eps = set.eps as f64;
    let mom = set.momentum as f64;
    let hw = s.hw as usize;
    let c = s.c as usize;
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / hw) % c;
            let (mean, var, _) = stats[ch];
            let out = gamma[ch] * (v - mean) / (var + eps).sqrt() + beta[ch];
            if set.relu {
                out.max(0.0)
            } else {
                out
            }
        })
        .collect();
    let saved = stats
        .iter()
        .flat_map(|&(mean, var, _)| [mean, 1.0 / (var + eps).sqrt()])
        .collect();
    let rm = stats
        .iter()
        .zip(running_mean)
        .map(|(st, &r)| (1.0 - mom) * r + mom * st.0)
        .collect();
    let rv = stats
        .iter()
        .zip(running_var)
        .map(|(st, &r)| (1.0 - mom) * r + mom * st.2)
        .collect();
    (y, saved, rm, rv)
}

/// Reference inference forward on dense x.
pub fn inference_reference(
    s: &NormShape,
    set: &NormSettings,
    x: &[f64],
    gamma: &[f64],
    beta: &[f64],
    running_mean: &[f64],
    running_var: &[f64],
) -> Vec<f64> {
    let (hw, c, eps) = (s.hw as usize, s.c as usize, set.eps as f64);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / hw) % c;
            let out =
                gamma[ch] * (v - running_mean[ch]) / (running_var[ch] + eps).sqrt() + beta[ch];
            if set.relu {
                out.max(0.0)
            } else {
                out
            }
        })
        .collect()
}

/// Reference backward of the training forward on dense tensors: (dx, dgamma, dbeta).
pub fn backward_reference(
    s: &NormShape,
    set: &NormSettings,
    x: &[f64],
    dy: &[f64],
    gamma: &[f64],
    beta: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let stats = channel_stats(s, x);
    let (hw, c, eps) = (s.hw as usize, s.c as usize, set.eps as f64);
    let m = (s.n as usize * hw) as f64;
    let x_hat = |i: usize| {
        let (mean, var, _) = stats[(i / hw) % c];
        (x[i] - mean) / (var + eps).sqrt()
    };
    // dy through the ReLU.
    let g: Vec<f64> = (0..x.len())
        .map(|i| {
            let ch = (i / hw) % c;
            let pre = gamma[ch] * x_hat(i) + beta[ch];
            if set.relu && pre <= 0.0 {
                0.0
            } else {
                dy[i]
            }
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0f64; c], vec![0f64; c]);
    for (i, &gi) in g.iter().enumerate() {
        let ch = (i / hw) % c;
        dgamma[ch] += gi * x_hat(i);
        dbeta[ch] += gi;
    }
    let dx = (0..x.len())
        .map(|i| {
            let ch = (i / hw) % c;
            let inv = 1.0 / (stats[ch].1 + eps).sqrt();
            gamma[ch] * inv / m * (m * g[i] - dbeta[ch] - x_hat(i) * dgamma[ch])
        })
        .collect();
    (dx, dgamma, dbeta)
}
