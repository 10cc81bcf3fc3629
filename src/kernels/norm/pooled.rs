//! Batch norm (+ ReLU) fused with the 2x2 max pooling after it (`shaders/norm_pool.wgsl`):
//! the training forward and backward of a convolution unit whose normalised output feeds
//! only the pooling, without the normalised tensor or its gradient in memory. The forward
//! writes the pooled output and, per pooled output, the plane offset of its window's first
//! maximum (the "maxima", a u32 buffer the backward reads). Evaluation keeps the unfused
//! `norm::inference` and `pool::forward`. CPU references are the unfused ones composed.

use super::{base, grad_reduction, Affine, Launch, NormSettings, NormShape, Params};
use super::{ACCUMULATE, PER_GROUP};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::kernels::pool::{self, PoolKind, PoolShape};
use crate::kernels::Operand;

/// Counter name: normalisation, ReLU and pooling, with the windows' maxima.
pub const FORWARD: &str = "bn_relu_max_pool";
/// Counter name: dgamma and dbeta from the pooled gradient, one pass.
pub const GRAD_REDUCE: &str = "bn_relu_max_pool_grad_reduce";
/// Counter name: the first pass of the two-pass dgamma and dbeta.
pub const GRAD_PARTIAL: &str = "bn_relu_max_pool_grad_partial";
/// Counter name: dx from the pooled gradient.
pub const GRAD_APPLY: &str = "bn_relu_max_pool_grad_apply";

/// The batch norm's shape: every channel of x, h x w planes.
pub fn norm_shape(s: &PoolShape) -> NormShape {
    NormShape {
        n: s.n,
        c: s.c,
        hw: s.h * s.w,
        x_channels: s.c,
    }
}

/// Pooled outputs (of y, dy and the maxima).
pub fn pooled_len(s: &PoolShape) -> usize {
    s.y_len(PoolKind::Max)
}

/// The batch norm's parameters plus the planes' height and width, after checking them.
fn params(
    kernel: &'static str,
    s: &PoolShape,
    x: Operand<'_>,
    set: &NormSettings,
) -> Result<Params, GpuError> {
    if s.h < 2 || s.w < 2 {
        return Err(GpuError::launch(
            kernel,
            format!(
                "2x2 max pooling needs planes of at least 2x2, not {}x{}",
                s.h, s.w
            ),
        ));
    }
    let mut p = base(kernel, &norm_shape(s), x, set)?;
    (p.h, p.w) = (s.h, s.w);
    Ok(p)
}

/// Grid over (groups of PER_GROUP items of a plane, channel, image).
fn grid(s: &PoolShape, per_plane: u32) -> [u32; 3] {
    [per_plane.div_ceil(PER_GROUP), s.c, s.n]
}

/// Training forward: y = maxpool(relu(bn(x))) with the saved batch statistics (from
/// `norm::stats`), and the windows' maxima.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    gpu: &Gpu,
    shape: PoolShape,
    settings: NormSettings,
    x: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    y: Operand<'_>,
    maxima: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = FORWARD;
    let mut p = params(kernel, &shape, x, &settings)?;
    let pooled = pooled_len(&shape);
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .affine(2, "", &affine, shape.c, false)?
        .read(5, "saved", saved, 2 * shape.c as usize)?
        .write(8, "y", y, pooled)?
        .write(11, "maxima", maxima, pooled)?;
    (p.gamma_offset, p.beta_offset, p.saved_offset) = (affine.gamma, affine.beta, saved.offset);
    (p.y_offset, p.argmax_offset) = (y.offset, maxima.offset);
    let (ph, pw) = shape.out_hw(PoolKind::Max);
    launch.norm(&p, grid(&shape, ph * pw))
}

/// dgamma and dbeta (at `grads`' offsets) from the pooled gradient dy, cut into `parts`
/// parts of whole images (see `norm::stats_in_parts`).
#[allow(clippy::too_many_arguments)]
pub fn grad_reduce_in_parts(
    gpu: &Gpu,
    shape: PoolShape,
    settings: NormSettings,
    x: Operand<'_>,
    dy: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    maxima: Operand<'_>,
    grads: Affine<'_>,
    parts: u32,
) -> Result<Vec<Dispatch>, GpuError> {
    let kernel = GRAD_REDUCE;
    let mut p = params(kernel, &shape, x, &settings)?;
    if grads.gamma != affine.gamma || grads.beta != affine.beta {
        return Err(GpuError::launch(
            kernel,
            "dgamma and dbeta must sit at gamma's and beta's offsets",
        ));
    }
    (p.gamma_offset, p.beta_offset, p.saved_offset) = (affine.gamma, affine.beta, saved.offset);
    (p.y_offset, p.argmax_offset) = (dy.offset, maxima.offset);
    let (c, pooled) = (shape.c, pooled_len(&shape));
    let reads = |kernel| -> Result<Launch<'_>, GpuError> {
        Launch::new(gpu, kernel)
            .read(1, "x", x, shape.x_len())?
            .affine(2, "", &affine, c, false)?
            .read(3, "dy", dy, pooled)?
            .read(5, "saved", saved, 2 * c as usize)?
            .read(12, "maxima", maxima, pooled)
    };
    let kernels = (kernel, GRAD_PARTIAL);
    grad_reduction(gpu, &norm_shape(&shape), parts, p, kernels, reads, &grads)
}

/// dx (or dx += when `accumulate`) from the pooled gradient dy, the maxima, the saved
/// statistics and dgamma, dbeta from [`grad_reduce_in_parts`].
#[allow(clippy::too_many_arguments)]
pub fn grad_apply(
    gpu: &Gpu,
    shape: PoolShape,
    settings: NormSettings,
    x: Operand<'_>,
    dy: Operand<'_>,
    affine: Affine<'_>,
    saved: Operand<'_>,
    maxima: Operand<'_>,
    grads: Affine<'_>,
    dx: Operand<'_>,
    accumulate: bool,
) -> Result<Dispatch, GpuError> {
    let kernel = GRAD_APPLY;
    let mut p = params(kernel, &shape, x, &settings)?;
    if dx.offset != x.offset || grads.gamma != affine.gamma || grads.beta != affine.beta {
        return Err(GpuError::launch(
            kernel,
            "gradients must sit at their tensors' offsets",
        ));
    }
    let (c, pooled) = (shape.c, pooled_len(&shape));
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .affine(2, "", &affine, c, false)?
        .read(3, "dy", dy, pooled)?
        .affine(4, "d", &grads, c, false)?
        .read(5, "saved", saved, 2 * c as usize)?
        .read(12, "maxima", maxima, pooled)?
        .write(8, "dx", dx, shape.x_len())?;
    (p.gamma_offset, p.beta_offset, p.saved_offset) = (affine.gamma, affine.beta, saved.offset);
    (p.y_offset, p.argmax_offset) = (dy.offset, maxima.offset);
    if accumulate {
        p.flags |= ACCUMULATE;
    }
    // One invocation per 2x2 block of a plane, the blocks past the last window included.
    let blocks = shape.h.div_ceil(2) * shape.w.div_ceil(2);
    launch.norm(&p, grid(&shape, blocks))
}

/// Reference: the plane offset of each window's first maximum of z (the normalised,
/// rectified x), in pooled order.
pub fn maxima_reference(s: &PoolShape, z: &[f64]) -> Vec<u32> {
    let plane = (s.h * s.w) as usize;
    let (ph, pw) = s.out_hw(PoolKind::Max);
    let mut out = Vec::with_capacity(pooled_len(s));
    for p in 0..(s.n * s.c) as usize {
        for oy in 0..ph as usize {
            for ox in 0..pw as usize {
                let corner = 2 * oy * s.w as usize + 2 * ox;
                let window = [
                    corner,
                    corner + 1,
                    corner + s.w as usize,
                    corner + s.w as usize + 1,
                ];
                let mut best = window[0];
                for &i in &window[1..] {
                    if z[p * plane + i] > z[p * plane + best] {
                        best = i;
                    }
                }
                out.push(best as u32);
            }
        }
    }
    out
}

/// Reference forward from the batch-norm reference's z: (pooled y, the windows' maxima).
pub fn forward_reference(s: &PoolShape, z: &[f64]) -> (Vec<f64>, Vec<u32>) {
    (
        pool::forward_reference(PoolKind::Max, s, z),
        maxima_reference(s, z),
    )
}
