//! Elementwise kernels (`shaders/elementwise.wgsl`): ReLU forward and backward, residual add
//! forward and backward, bias add; with their CPU references.

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of ReLU forward.
pub const RELU: &str = "relu";
/// Counter name of ReLU backward.
pub const RELU_GRAD: &str = "relu_grad";
/// Counter name of the residual add.
pub const ADD: &str = "add";
/// Counter name of gradient accumulation (the residual add's backward).
pub const ACCUMULATE: &str = "accumulate";
/// Counter name: residual add and ReLU fused.
pub const ADD_RELU: &str = "add_relu";
/// Counter name of the bias add.
pub const BIAS_ADD: &str = "bias_add";

/// Invocations per workgroup in `elementwise.wgsl`.
const WG: u32 = 256;

wgsl_params! {
    struct Params mirrors [crate::shaders::ELEMENTWISE] {
        len: u32,
        a_offset: u32,
        b_offset: u32,
        out_offset: u32,
        channels: u32,
        plane: u32,
        _pad: [u32; 2],
    }
}

/// A grid of `ceil(len / per_group)` workgroups, folded into 2-D when it exceeds the
/// adapter's per-dimension limit; shaders index `gid.x + gid.y * num_workgroups.x * WG`.
pub(crate) fn grid_1d(gpu: &Gpu, len: u32, per_group: u32) -> [u32; 3] {
    let groups = len.div_ceil(per_group).max(1);
    let max = gpu.limits().max_compute_workgroups_per_dimension;
    let x = groups.min(max);
    [x, groups.div_ceil(x), 1]
}

fn launch(
    gpu: &Gpu,
    kernel: &'static str,
    len: u32,
    a: Operand<'_>,
    b: Option<Operand<'_>>,
    out: Operand<'_>,
    channels_plane: (u32, u32),
) -> Result<Dispatch, GpuError> {
    if len == 0 {
        return Err(GpuError::launch(kernel, "the tensor is empty"));
    }
    let a_len = if kernel == BIAS_ADD {
        channels_plane.0 as usize
    } else {
        len as usize
    };
    // Pipeline layouts come from the shader, so an entry point that never reads `b` has
    // no binding 2 and must not be given one.
    let mut launch =
        Launch::new(gpu, kernel)
            .read(1, "a", a, a_len)?
            .write(3, "out", out, len as usize)?;
    if let Some(b) = b {
        launch = launch.read(2, "b", b, len as usize)?;
    }
    let params = Params {
        len,
        a_offset: a.offset,
        b_offset: b.map_or(0, |b| b.offset),
        out_offset: out.offset,
        channels: channels_plane.0,
        plane: channels_plane.1,
        _pad: [0; 2],
    };
    launch.dispatch(
        &shaders::ELEMENTWISE,
        kernel,
        &params,
        grid_1d(gpu, len, WG),
    )
}

/// y = max(x, 0) over `len` elements.
pub fn relu(gpu: &Gpu, len: u32, x: Operand<'_>, y: Operand<'_>) -> Result<Dispatch, GpuError> {
    launch(gpu, RELU, len, x, None, y, (1, 1))
}

/// dx = dy where y > 0, else 0 (y being the ReLU's output).
pub fn relu_grad(
    gpu: &Gpu,
    len: u32,
    dy: Operand<'_>,
    y: Operand<'_>,
    dx: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    launch(gpu, RELU_GRAD, len, dy, Some(y), dx, (1, 1))
}

/// out = a + b.
pub fn add(
    gpu: &Gpu,
    len: u32,
    a: Operand<'_>,
    b: Operand<'_>,
    out: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    launch(gpu, ADD, len, a, Some(b), out, (1, 1))
}

/// out = max(a + b, 0): a residual block's add and the ReLU after it, in one pass.
pub fn add_relu(
    gpu: &Gpu,
    len: u32,
    a: Operand<'_>,
    b: Operand<'_>,
    out: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    launch(gpu, ADD_RELU, len, a, Some(b), out, (1, 1))
}

/// dst += src: how the residual add's backward hands dy to both inputs' gradients.
pub fn accumulate(
    gpu: &Gpu,
    len: u32,
    src: Operand<'_>,
    dst: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    launch(gpu, ACCUMULATE, len, src, None, dst, (1, 1))
}

/// `y[i] += bias[(i / plane) % channels]` over `len` elements: plane = h * w for NCHW
/// tensors, 1 for a linear layer's [n, channels] output.
pub fn bias_add(
    gpu: &Gpu,
    len: u32,
    channels: u32,
    plane: u32,
    bias: Operand<'_>,
    y: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    if channels == 0 || plane == 0 {
        return Err(GpuError::launch(
            BIAS_ADD,
            "channels and plane must be at least 1",
        ));
    }
    launch(gpu, BIAS_ADD, len, bias, None, y, (channels, plane))
}

/// CPU reference of [`relu`].
pub fn relu_reference(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.max(0.0)).collect()
}

/// CPU reference of [`relu_grad`].
pub fn relu_grad_reference(dy: &[f64], y: &[f64]) -> Vec<f64> {
    dy.iter()
        .zip(y)
        .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
        .collect()
}

/// CPU reference of [`bias_add`] applied to `y`.
pub fn bias_add_reference(y: &[f64], bias: &[f64], plane: usize) -> Vec<f64> {
    let channels = bias.len();
    y.iter()
        .enumerate()
        .map(|(i, &v)| v + bias[(i / plane) % channels])
        .collect()
}
