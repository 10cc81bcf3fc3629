//! 2-D convolution, NCHW: launchers for `shaders/conv.wgsl` (forward, input gradient, weight
//! gradient, bias gradient) and their CPU references.
//!
//! Gradients mirror their tensors' layouts: dx sits where x would, dw at the weights' offset
//! in a gradient buffer shaped like the parameter buffer, and so on.

use serde::Serialize;

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of the forward kernel.
pub const FORWARD: &str = "conv2d_forward";
/// Counter name of the forward kernel with its row loads shared by subgroup broadcast.
pub const FORWARD_SUBGROUP: &str = "conv2d_forward_subgroup";
/// Counter name of the input-gradient kernel with its row loads shared by subgroup broadcast.
pub const INPUT_GRAD_SUBGROUP: &str = "conv2d_input_grad_subgroup";
/// Counter name of the weight-gradient kernel with its row loads shared by subgroup broadcast.
pub const WEIGHT_GRAD_SUBGROUP: &str = "conv2d_weight_grad_subgroup";
/// Counter name of the workgroup-memory forward kernel (`conv_shared.wgsl`).
pub const FORWARD_SHARED: &str = "conv2d_forward_shared";
/// Counter name of the input-gradient kernel.
pub const INPUT_GRAD: &str = "conv2d_input_grad";
/// Counter name of the workgroup-memory input-gradient kernel (`conv_shared.wgsl`).
pub const INPUT_GRAD_SHARED: &str = "conv2d_input_grad_shared";
/// Counter name of the weight-gradient kernel.
pub const WEIGHT_GRAD: &str = "conv2d_weight_grad";
/// Counter name of the workgroup-memory weight-gradient kernel (`conv_shared.wgsl`).
pub const WEIGHT_GRAD_SHARED: &str = "conv2d_weight_grad_shared";
/// Counter name of the workgroup-memory weight gradient that loads the next chunk while it
/// multiplies the current one.
pub const WEIGHT_GRAD_SHARED_PREFETCH: &str = "conv2d_weight_grad_shared_prefetch";
/// Counter name of the pass that adds up a weight gradient split over the batch.
pub const WEIGHT_GRAD_SUM: &str = "conv2d_weight_grad_sum";
/// Counter name of the bias-gradient kernel.
pub const BIAS_GRAD: &str = "conv2d_bias_grad";
/// Counter name of the one-thread-per-output forward baseline kept for the benchmark.
pub const FORWARD_NAIVE: &str = "conv2d_forward_naive";
/// Counter name of im2col, the first half of the im2col + matmul alternative.
pub const IM2COL: &str = "im2col";

/// Outputs per workgroup of the register-tiled kernels along the GEMM's columns
/// (positions): 8 invocations across, 8 columns each. Along the rows, see [`RegisterBlock`].
const BLOCK_COLS: u32 = 64;

/// How many rows (channels) each invocation of the register-tiled kernels computes, over 8
/// columns: `conv_block8.wgsl`, `conv_block16.wgsl` or `conv_block32.wgsl`. A taller block
/// multiplies each column value it loads by more rows, and loads bound these kernels on the
/// software adapters: on lavapipe 16 rows ran 14-34% faster than 8 on every ResNet-20
/// layer, and 32 another 3-20% where the layer has 32 or 64 channels (BENCHMARKS.md). Rows
/// past the layer's channels are computed and dropped, so the 32-row block is used only
/// where it drops no more of them than a 16-row workgroup. Below that, 8 or 16 rows per
/// invocation (both 16 per workgroup) is the device's measured choice
/// ([`choose_register_block`]; 16 where not measured): SwiftShader ran 16-channel layers
/// slower with 16. Every block computes each output by the same sum in the same order: the
/// same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterBlock {
    /// 8 rows per invocation, two invocations down: 16 rows per workgroup.
    Rows8,
    /// 16 rows per invocation (and per workgroup).
    Rows16,
    /// 32 rows per invocation.
    Rows32,
}

/// The device's kernel-choice question behind [`RegisterBlock::for_rows`]'s 8 or 16.
pub const REGISTER_BLOCK_QUESTION: &str = "conv register rows per invocation below 32 channels";

impl RegisterBlock {
    /// Where the 32-row block applies: a GEMM of `rows` rows, padded to 32, idles no more
    /// rows than padded to 16.
    pub fn tall_fits(rows: u32) -> bool {
        rows.div_ceil(32) * 32 == rows.div_ceil(16) * 16
    }

    /// The block for a GEMM of `rows` rows on `gpu`: 32 where it fits, else the device's
    /// measured 8 or 16.
    pub fn for_rows(gpu: &Gpu, rows: u32) -> Self {
        if Self::tall_fits(rows) {
            return RegisterBlock::Rows32;
        }
        match gpu.remembered_choice(REGISTER_BLOCK_QUESTION).as_deref() {
            Some("8") => RegisterBlock::Rows8,
            _ => RegisterBlock::Rows16,
        }
    }

    /// Rows per invocation.
    pub fn rows(self) -> u32 {
        match self {
            RegisterBlock::Rows8 => 8,
            RegisterBlock::Rows16 => 16,
            RegisterBlock::Rows32 => 32,
        }
    }

    /// Rows per workgroup.
    pub fn workgroup_rows(self) -> u32 {
        self.rows().max(16)
    }
}

/// Workgroups the register-tiled weight gradient aims for at least, splitting the batch if
/// it must: enough for the cores of a software adapter.
const WEIGHT_GRAD_WORKGROUPS: u32 = 32;

/// Workgroups the workgroup-memory weight gradient aims for when its split is not
/// measured: a GPU of 100+ multiprocessors wants several resident workgroups on each.
const SHARED_WEIGHT_GRAD_WORKGROUPS: u32 = 1024;

/// Columns of one workgroup of the workgroup-memory kernels (`conv_shared.wgsl`).
const SHARED_TILE_COLS: u32 = 64;

/// Sizes of one convolution: input n x c x h x w, k filters of c x r x s, stride, zero padding
/// on all four sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ConvShape {
    /// Batch size.
    pub n: u32,
    /// Input channels.
    pub c: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Output channels (filters).
    pub k: u32,
    /// Kernel height.
    pub r: u32,
    /// Kernel width.
    pub s: u32,
    /// Stride, both directions.
    pub stride: u32,
    /// Zero padding, all sides.
    pub pad: u32,
}

impl ConvShape {
    /// Output height.
    pub fn p(&self) -> u32 {
        (self.h + 2 * self.pad).saturating_sub(self.r) / self.stride.max(1) + 1
    }

    /// Output width.
    pub fn q(&self) -> u32 {
        (self.w + 2 * self.pad).saturating_sub(self.s) / self.stride.max(1) + 1
    }

    /// Elements of x (dense).
    pub fn x_len(&self) -> usize {
        [self.n, self.c, self.h, self.w]
            .iter()
            .map(|&v| v as usize)
            .product()
    }

    /// Elements of the weights.
    pub fn w_len(&self) -> usize {
        [self.k, self.c, self.r, self.s]
            .iter()
            .map(|&v| v as usize)
            .product()
    }

    /// Elements of y (dense).
    pub fn y_len(&self) -> usize {
        [self.n, self.k, self.p(), self.q()]
            .iter()
            .map(|&v| v as usize)
            .product()
    }

    /// Multiply-adds of the forward pass, times two.
    pub fn flops(&self) -> f64 {
        2.0 * self.y_len() as f64 * (self.c * self.r * self.s) as f64
    }

    /// Like `2x3x9x9 * 5x3x3x3 /2 pad 1 -> 2x5x5x5`.
    pub fn describe(&self) -> String {
        format!(
            "{}x{}x{}x{} * {}x{}x{}x{} /{} pad {} -> {}x{}x{}x{}",
            self.n,
            self.c,
            self.h,
            self.w,
            self.k,
            self.c,
            self.r,
            self.s,
            self.stride,
            self.pad,
            self.n,
            self.k,
            self.p(),
            self.q()
        )
    }

    /// Why the shape is unusable, if it is.
    pub fn problem(&self) -> Option<String> {
        let dims = [
            self.n,
            self.c,
            self.h,
            self.w,
            self.k,
            self.r,
            self.s,
            self.stride,
        ];
        if dims.contains(&0) {
            return Some(format!(
                "every size and the stride must be at least 1: {self:?}"
            ));
        }
        if self.h + 2 * self.pad < self.r || self.w + 2 * self.pad < self.s {
            return Some(format!(
                "the {}x{} kernel is larger than the padded {}x{} input",
                self.r,
                self.s,
                self.h + 2 * self.pad,
                self.w + 2 * self.pad
            ));
        }
        None
    }
}

/// Where the layer's channels sit in memory. x holds `x_channels` channels per image and the
/// layer reads the first `c`; y holds `y_channels` and the layer's `k` start at `y_first`.
/// This is how DenseNet concatenates without copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelSlices {
    /// Channels per image in the x (and dx) buffer.
    pub x_channels: u32,
    /// Channels per image in the y (and dy) buffer.
    pub y_channels: u32,
    /// First of the layer's output channels in y.
    pub y_first: u32,
}

impl ChannelSlices {
    /// x and y hold exactly this layer's channels.
    pub fn dense(shape: &ConvShape) -> Self {
        ChannelSlices {
            x_channels: shape.c,
            y_channels: shape.k,
            y_first: 0,
        }
    }

    /// Elements of the x buffer region.
    pub fn x_len(&self, s: &ConvShape) -> usize {
        s.n as usize * self.x_channels as usize * (s.h * s.w) as usize
    }

    /// Elements of the y buffer region.
    pub fn y_len(&self, s: &ConvShape) -> usize {
        s.n as usize * self.y_channels as usize * (s.p() * s.q()) as usize
    }
}

wgsl_params! {
    /// Uniforms, laid out as `Conv` in the shader.
    struct Params mirrors [
        crate::shaders::CONV,
        crate::shaders::CONV_SHORT,
        crate::shaders::CONV_TALL,
        crate::shaders::CONV_SUBGROUP,
        crate::shaders::CONV_SUBGROUP_SHORT,
        crate::shaders::CONV_SUBGROUP_TALL,
        crate::shaders::CONV_SHARED,
    ] {
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        k: u32,
        r: u32,
        s: u32,
        stride: u32,
        pad: u32,
        p: u32,
        q: u32,
        x_channels: u32,
        y_channels: u32,
        y_first: u32,
        x_offset: u32,
        w_offset: u32,
        y_offset: u32,
        b_offset: u32,
        flags: u32,
        split: u32,
        parts: u32,
    }
}

const HAS_BIAS: u32 = 1;
const ACCUMULATE: u32 = 2;

/// Element offsets of the four tensors (or their gradients) in their buffers.
#[derive(Clone, Copy, Default)]
struct Offsets {
    x: u32,
    w: u32,
    y: u32,
    b: u32,
}

impl Params {
    fn new(s: &ConvShape, l: &ChannelSlices, o: Offsets, flags: u32) -> Self {
        Params {
            n: s.n,
            c: s.c,
            h: s.h,
            w: s.w,
            k: s.k,
            r: s.r,
            s: s.s,
            stride: s.stride,
            pad: s.pad,
            p: s.p(),
            q: s.q(),
            x_channels: l.x_channels,
            y_channels: l.y_channels,
            y_first: l.y_first,
            x_offset: o.x,
            w_offset: o.w,
            y_offset: o.y,
            b_offset: o.b,
            flags,
            split: s.n,
            parts: 1,
        }
    }
}

/// One prepared convolution kernel (forward or one of the gradients) over fixed buffers.
#[derive(Debug)]
pub struct Conv {
    shape: ConvShape,
    dispatches: Vec<Dispatch>,
}

fn validate(kernel: &'static str, s: &ConvShape, l: &ChannelSlices) -> Result<(), GpuError> {
    if let Some(problem) = s.problem() {
        return Err(GpuError::launch(kernel, problem));
    }
    if l.x_channels < s.c || l.y_first + s.k > l.y_channels {
        return Err(GpuError::launch(
            kernel,
            format!(
                "channel slices {l:?} do not hold {} input and {} output channels",
                s.c, s.k
            ),
        ));
    }
    Ok(())
}

/// One z layer per stride phase, each covering the input positions of that phase.
fn input_grad_grid(gpu: &Gpu, s: &ConvShape) -> [u32; 3] {
    let per_phase = s.n * s.h.div_ceil(s.stride) * s.w.div_ceil(s.stride);
    let [x, y, _] = grid(gpu, per_phase, s.c);
    [x, y, s.stride * s.stride]
}

/// Workgroups of a register-tiled kernel over a `rows` x `cols` output.
fn grid(gpu: &Gpu, cols: u32, rows: u32) -> [u32; 3] {
    let block = RegisterBlock::for_rows(gpu, rows);
    [
        cols.div_ceil(BLOCK_COLS),
        rows.div_ceil(block.workgroup_rows()),
        1,
    ]
}

/// Workgroups of a workgroup-memory kernel over a `rows` x `cols` output.
fn shared_grid(cols: u32, rows: u32) -> [u32; 3] {
    let tile_rows = 4 * shared_tile_invocations_down(rows);
    [cols.div_ceil(SHARED_TILE_COLS), rows.div_ceil(tile_rows), 1]
}

/// The forward kernels of [`Conv`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum ForwardKernel {
    Registers,
    Subgroup,
    Naive,
    Shared,
}

/// The register-tiled kernels' module for a GEMM of `rows` rows: its block (see
/// [`RegisterBlock`]), with plain row loads or sharing them by subgroup.
fn register_module(gpu: &Gpu, subgroup: bool, rows: u32) -> &'static shaders::Shader {
    match (subgroup, RegisterBlock::for_rows(gpu, rows)) {
        (false, RegisterBlock::Rows8) => &shaders::CONV_SHORT,
        (false, RegisterBlock::Rows16) => &shaders::CONV,
        (false, RegisterBlock::Rows32) => &shaders::CONV_TALL,
        (true, RegisterBlock::Rows8) => &shaders::CONV_SUBGROUP_SHORT,
        (true, RegisterBlock::Rows16) => &shaders::CONV_SUBGROUP,
        (true, RegisterBlock::Rows32) => &shaders::CONV_SUBGROUP_TALL,
    }
}

/// The subgroup build compiles only where the page gave the device subgroups of four lanes.
fn check_subgroup_rows(gpu: &Gpu, kernel: &'static str) -> Result<(), GpuError> {
    match gpu.subgroup_rows() {
        true => Ok(()),
        false => Err(GpuError::launch(
            kernel,
            "this device has no subgroups of four lanes (the subgroup build is for browsers \
             whose adapter has them)",
        )),
    }
}

impl Conv {
    /// y = conv(x, w) (+ bias): y's layer channels are overwritten.
    pub fn forward(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        Self::forward_variant(gpu, shape, slices, x, w, bias, y, ForwardKernel::Registers)
    }

    /// The same by the register tiles with their row loads shared by subgroup broadcast
    /// (`shaders::CONV_SUBGROUP`; only where [`Gpu::subgroup_rows`]). Same bits as
    /// [`Conv::forward`].
    #[allow(clippy::too_many_arguments)]
    pub fn forward_subgroup(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        Self::forward_variant(gpu, shape, slices, x, w, bias, y, ForwardKernel::Subgroup)
    }

    /// The same by workgroup-memory tiles (`conv_shared.wgsl`, for real GPUs).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_shared(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        Self::forward_variant(gpu, shape, slices, x, w, bias, y, ForwardKernel::Shared)
    }

    /// The one-thread-per-output forward baseline, for the benchmark only.
    pub fn forward_naive(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        Self::forward_variant(gpu, shape, slices, x, w, bias, y, ForwardKernel::Naive)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_variant(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
        variant: ForwardKernel,
    ) -> Result<Conv, GpuError> {
        let kernel = match variant {
            ForwardKernel::Registers => FORWARD,
            ForwardKernel::Subgroup => FORWARD_SUBGROUP,
            ForwardKernel::Naive => FORWARD_NAIVE,
            ForwardKernel::Shared => FORWARD_SHARED,
        };
        if variant == ForwardKernel::Subgroup {
            check_subgroup_rows(gpu, kernel)?;
        }
        validate(kernel, &shape, &slices)?;
        let mut launch = Launch::new(gpu, kernel)
            .read(1, "x", x, slices.x_len(&shape))?
            .read(2, "w", w, shape.w_len())?
            .write(3, "y", y, slices.y_len(&shape))?;
        launch = match bias {
            Some(b) => launch.read(4, "bias", b, shape.k as usize)?,
            // Without a bias the binding still needs a buffer; the shader never reads it.
            None => launch.unused(4, w.buffer),
        };
        let offsets = Offsets {
            x: x.offset,
            w: w.offset,
            y: y.offset,
            b: bias.map_or(0, |b| b.offset),
        };
        let flags = if bias.is_some() { HAS_BIAS } else { 0 };
        let params = Params::new(&shape, &slices, offsets, flags);
        let outputs = shape.n * shape.p() * shape.q();
        let dispatch = match variant {
            ForwardKernel::Registers | ForwardKernel::Subgroup => {
                let module = register_module(gpu, variant == ForwardKernel::Subgroup, shape.k);
                launch.dispatch(module, "forward", &params, grid(gpu, outputs, shape.k))?
            }
            ForwardKernel::Naive => {
                let grid = super::elementwise::grid_1d(gpu, outputs * shape.k, 64);
                launch.dispatch(&shaders::CONV, "forward_naive", &params, grid)?
            }
            ForwardKernel::Shared => launch.dispatch_with(
                &shaders::CONV_SHARED,
                "forward_shared",
                &[("WG_Y", shared_tile_invocations_down(shape.k) as f64)],
                &params,
                shared_grid(outputs, shape.k),
            )?,
        };
        Ok(Conv {
            shape,
            dispatches: vec![dispatch],
        })
    }

    /// dx = (or += when `accumulate`) the gradient of the loss with respect to x, from dy,
    /// by the register-tiled kernel.
    #[allow(clippy::too_many_arguments)]
    pub fn input_grad(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        dy: Operand<'_>,
        w: Operand<'_>,
        dx: Operand<'_>,
        accumulate: bool,
    ) -> Result<Conv, GpuError> {
        let algorithm = InputGradAlgorithm::Registers;
        Self::input_grad_by(gpu, algorithm, shape, slices, dy, w, dx, accumulate)
    }

    /// dx by the given algorithm (see [`choose_input_grad`]).
    #[allow(clippy::too_many_arguments)]
    pub fn input_grad_by(
        gpu: &Gpu,
        algorithm: InputGradAlgorithm,
        shape: ConvShape,
        slices: ChannelSlices,
        dy: Operand<'_>,
        w: Operand<'_>,
        dx: Operand<'_>,
        accumulate: bool,
    ) -> Result<Conv, GpuError> {
        let kernel = match algorithm {
            InputGradAlgorithm::Registers => INPUT_GRAD,
            InputGradAlgorithm::RegistersSubgroup => INPUT_GRAD_SUBGROUP,
            InputGradAlgorithm::Shared => INPUT_GRAD_SHARED,
        };
        if algorithm == InputGradAlgorithm::RegistersSubgroup {
            check_subgroup_rows(gpu, kernel)?;
        }
        validate(kernel, &shape, &slices)?;
        let launch = Launch::new(gpu, kernel)
            .read(1, "dy", dy, slices.y_len(&shape))?
            .read(2, "w", w, shape.w_len())?
            .write(3, "dx", dx, slices.x_len(&shape))?;
        let offsets = Offsets {
            x: dx.offset,
            w: w.offset,
            y: dy.offset,
            b: 0,
        };
        let flags = if accumulate { ACCUMULATE } else { 0 };
        let params = Params::new(&shape, &slices, offsets, flags);
        let dispatch = match algorithm {
            InputGradAlgorithm::Registers | InputGradAlgorithm::RegistersSubgroup => {
                let subgroup = algorithm == InputGradAlgorithm::RegistersSubgroup;
                let module = register_module(gpu, subgroup, shape.c);
                let grid = input_grad_grid(gpu, &shape);
                launch.dispatch(module, "input_grad", &params, grid)?
            }
            InputGradAlgorithm::Shared => launch.dispatch_with(
                &shaders::CONV_SHARED,
                "input_grad_shared",
                &[
                    ("WG_Y", shared_tile_invocations_down(shape.c) as f64),
                    ("ST", shape.stride as f64),
                ],
                &params,
                shared_grid(shape.n * shape.h * shape.w, shape.c),
            )?,
        };
        Ok(Conv {
            shape,
            dispatches: vec![dispatch],
        })
    }

    /// dw = the gradient of the loss with respect to the weights, from x and dy, by the
    /// register-tiled kernel (the software adapters' choice).
    pub fn weight_grad(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        dy: Operand<'_>,
        dw: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        let algorithm = WeightGradAlgorithm::Registers;
        Self::weight_grad_by(gpu, algorithm, shape, slices, x, dy, dw)
    }

    /// dw by the given algorithm (see [`choose_weight_grad`]).
    #[allow(clippy::too_many_arguments)]
    pub fn weight_grad_by(
        gpu: &Gpu,
        algorithm: WeightGradAlgorithm,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        dy: Operand<'_>,
        dw: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        let kernel = match algorithm {
            WeightGradAlgorithm::RegistersSubgroup => WEIGHT_GRAD_SUBGROUP,
            _ => WEIGHT_GRAD,
        };
        if algorithm == WeightGradAlgorithm::RegistersSubgroup {
            check_subgroup_rows(gpu, kernel)?;
        }
        validate(kernel, &shape, &slices)?;
        // dw is only checked here: the first pass writes a scratch buffer when split.
        Launch::new(gpu, kernel).fits("dw", dw, shape.w_len())?;
        let offsets = Offsets {
            x: x.offset,
            w: dw.offset,
            y: dy.offset,
            b: 0,
        };
        let mut params = Params::new(&shape, &slices, offsets, 0);
        let cols = shape.c * shape.r * shape.s;
        // The parts are the grid's third dimension: a big batch times many positions would
        // ask for more than the adapter launches (65,535 by default), so fewer, longer parts.
        let most_parts = gpu.limits().max_compute_workgroups_per_dimension;
        // How the reduction is cut: (units per part, parts). The register kernel cuts the
        // batch into images per part; the workgroup-memory kernel cuts the positions
        // (n, p, q) anywhere, in whole chunks of its reduction.
        let (kernel, entry, shader, constants, grid, (split, parts)) = match algorithm {
            WeightGradAlgorithm::Registers | WeightGradAlgorithm::RegistersSubgroup => {
                let subgroup = algorithm == WeightGradAlgorithm::RegistersSubgroup;
                // Few columns (c r s, 9 for a one-channel 3x3 layer) would leave most of a
                // 64-column tile idle in a single workgroup: narrow the workgroup to 2 or 4
                // invocations across instead, so no invocation computes only padding and
                // more workgroups share the work. The subgroup build keeps at least 4, the
                // lanes that share their rows.
                let fewest = if subgroup { 4 } else { 1 };
                let across = cols.div_ceil(8).next_power_of_two().clamp(fewest, 8);
                let down = RegisterBlock::for_rows(gpu, shape.k).workgroup_rows();
                let grid = [cols.div_ceil(8 * across), shape.k.div_ceil(down), 1];
                // A small layer's GEMM has a long inner dimension (n p q) and few outputs,
                // so few workgroups: split the batch into parts, summed by a second pass,
                // until there are enough workgroups to keep every core busy.
                let parts = WEIGHT_GRAD_WORKGROUPS
                    .div_ceil(grid[0] * grid[1])
                    .clamp(1, shape.n.min(most_parts));
                let split = shape.n.div_ceil(parts);
                let entry = "weight_grad";
                let shader = register_module(gpu, subgroup, shape.k);
                let cut = (split, shape.n.div_ceil(split));
                let constants = vec![("WG_X", across as f64)];
                (kernel, entry, shader, constants, grid, cut)
            }
            WeightGradAlgorithm::Shared {
                parts,
                across,
                prefetch,
            } => {
                let down = shared_tile_invocations_down(shape.k);
                let widest = shared_weight_grad_widest(
                    &shape,
                    gpu.limits().max_compute_invocations_per_workgroup,
                );
                let across = across.clamp(1, widest);
                let (kernel, entry) = match prefetch {
                    false => (WEIGHT_GRAD_SHARED, "weight_grad_shared"),
                    true => (WEIGHT_GRAD_SHARED_PREFETCH, "weight_grad_shared_prefetch"),
                };
                // The prefetching kernel holds 64 / across values of dy per invocation in
                // registers, at most PREFETCH_A = 8.
                if prefetch && across < SHARED_PREFETCH_FEWEST_ACROSS {
                    return Err(GpuError::launch(
                        kernel,
                        format!(
                            "needs at least {SHARED_PREFETCH_FEWEST_ACROSS} invocations across, \
                             got {across} (this device allows up to {widest}) for {}",
                            shape.describe()
                        ),
                    ));
                }
                let grid = shared_weight_grad_grid(&shape, across);
                let cut = shared_weight_grad_cut(&shape, parts.min(most_parts));
                (
                    kernel,
                    entry,
                    &shaders::CONV_SHARED,
                    vec![("WG_X", across as f64), ("WG_Y", down as f64)],
                    grid,
                    cut,
                )
            }
        };
        params.split = split;
        params.parts = parts;
        // Split, the parts go to a scratch buffer, one k x (c r s) block each, from offset 0.
        let len = shape.w_len();
        let partial = match parts {
            1 => None,
            _ => Some(gpu.storage("conv weight grad parts", (parts as usize * len * 4) as u64)?),
        };
        let (target, target_params) = match &partial {
            Some(buffer) => (
                Operand::whole(buffer),
                Params {
                    w_offset: 0,
                    ..params
                },
            ),
            None => (dw, params),
        };
        let first = Launch::new(gpu, kernel)
            .read(1, "x", x, slices.x_len(&shape))?
            .read(2, "dy", dy, slices.y_len(&shape))?
            .write(3, "dw", target, parts as usize * len)?;
        let mut dispatches = vec![first.dispatch_with(
            shader,
            entry,
            &constants,
            &target_params,
            [grid[0], grid[1], parts],
        )?];
        if let Some(buffer) = &partial {
            let sum = Launch::new(gpu, WEIGHT_GRAD_SUM)
                .read(1, "dw parts", Operand::whole(buffer), parts as usize * len)?
                .write(3, "dw", dw, len)?;
            // The workgroup-memory kernel's many parts are added by lanes of parts (real
            // GPUs); the register kernel's few, one output per invocation (no barriers).
            let (shader, entry, per_group) = match algorithm {
                WeightGradAlgorithm::Shared { .. } => {
                    (&shaders::CONV_SHARED, "weight_grad_sum_lanes", 16)
                }
                _ => (&shaders::CONV, "weight_grad_sum", 64),
            };
            let grid = super::elementwise::grid_1d(gpu, len as u32, per_group);
            dispatches.push(sum.dispatch(shader, entry, &params, grid)?);
        }
        Ok(Conv { shape, dispatches })
    }

    /// db = the gradient of the loss with respect to the bias: dy summed per channel.
    pub fn bias_grad(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        dy: Operand<'_>,
        db: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        let kernel = BIAS_GRAD;
        validate(kernel, &shape, &slices)?;
        let launch = Launch::new(gpu, kernel)
            .read(1, "dy", dy, slices.y_len(&shape))?
            .write(3, "db", db, shape.k as usize)?;
        let offsets = Offsets {
            y: dy.offset,
            b: db.offset,
            ..Offsets::default()
        };
        let params = Params::new(&shape, &slices, offsets, 0);
        let dispatch = launch.dispatch(&shaders::CONV, "bias_grad", &params, [shape.k, 1, 1])?;
        Ok(Conv {
            shape,
            dispatches: vec![dispatch],
        })
    }

    /// Writes x's windows as columns, image by image: col[n][(c, r, s)][(p, q)], so that a
    /// batched matmul of the weights by each image's block gives y. See [`ConvForward`].
    pub fn im2col(
        gpu: &Gpu,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        col: Operand<'_>,
    ) -> Result<Conv, GpuError> {
        let kernel = IM2COL;
        validate(kernel, &shape, &slices)?;
        let len = im2col_len(&shape);
        let launch = Launch::new(gpu, kernel)
            .read(1, "x", x, slices.x_len(&shape))?
            .write(3, "col", col, len)?;
        let offsets = Offsets {
            x: x.offset,
            y: col.offset,
            ..Offsets::default()
        };
        let params = Params::new(&shape, &slices, offsets, 0);
        if len > u32::MAX as usize {
            return Err(GpuError::launch(
                kernel,
                "the im2col buffer is beyond 32-bit indexing",
            ));
        }
        let grid = super::elementwise::grid_1d(gpu, len as u32, 64);
        let dispatch = launch.dispatch(&shaders::CONV, "im2col", &params, grid)?;
        Ok(Conv {
            shape,
            dispatches: vec![dispatch],
        })
    }

    /// The convolution's shape.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// The launches to record, in order (one, or two for a weight gradient split over
    /// the batch).
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }
}

/// Floats in the im2col buffer: every image's (c r s) x (p q) block.
pub fn im2col_len(s: &ConvShape) -> usize {
    s.n as usize * (s.c * s.r * s.s) as usize * (s.p() * s.q()) as usize
}

/// How a convolution's forward pass runs. Which is faster depends on the adapter and the
/// layer (see BENCHMARKS.md), so [`choose_forward`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardAlgorithm {
    /// One register-blocked kernel reading x directly (software adapters).
    ImplicitGemm,
    /// im2col into a workspace, then one batched matmul (and a bias add if any).
    Im2colMatmul,
    /// One workgroup-memory tiled kernel reading x directly (real GPUs).
    SharedTiles,
    /// The register-blocked kernel with its row loads shared by subgroup broadcast (browsers
    /// whose adapter has subgroups of four lanes); the same bits as `ImplicitGemm`.
    ImplicitGemmSubgroup,
    /// im2col, then the workgroup-memory tiled batched matmul (real GPUs).
    Im2colSharedMatmul,
}

impl ForwardAlgorithm {
    /// Every algorithm.
    pub const ALL: [ForwardAlgorithm; 5] = [
        ForwardAlgorithm::ImplicitGemm,
        ForwardAlgorithm::ImplicitGemmSubgroup,
        ForwardAlgorithm::Im2colMatmul,
        ForwardAlgorithm::SharedTiles,
        ForwardAlgorithm::Im2colSharedMatmul,
    ];

    /// `implicit_gemm`, `implicit_gemm_subgroup`, `im2col_matmul`, `shared_tiles` or
    /// `im2col_shared_matmul`.
    pub fn label(&self) -> &'static str {
        match self {
            ForwardAlgorithm::ImplicitGemm => "implicit_gemm",
            ForwardAlgorithm::ImplicitGemmSubgroup => "implicit_gemm_subgroup",
            ForwardAlgorithm::Im2colMatmul => "im2col_matmul",
            ForwardAlgorithm::SharedTiles => "shared_tiles",
            ForwardAlgorithm::Im2colSharedMatmul => "im2col_shared_matmul",
        }
    }

    /// Whether [`choose_forward`] times it on this device: the workgroup-memory variants
    /// not on software adapters (they lose there 3-8x; see [`choose_weight_grad`]), and the
    /// subgroup build never (it computes the same bits as `ImplicitGemm`; whether it runs is
    /// decided once per device, by [`choose_subgroup_rows`]).
    pub fn worth_timing_on(&self, gpu: &Gpu) -> bool {
        match self {
            ForwardAlgorithm::ImplicitGemmSubgroup => false,
            a if a.is_shared() => !gpu.is_software(),
            _ => true,
        }
    }

    /// The same algorithm by the register tiles' subgroup build, where there is one.
    pub fn with_subgroup_rows(self) -> Self {
        match self {
            ForwardAlgorithm::ImplicitGemm => ForwardAlgorithm::ImplicitGemmSubgroup,
            other => other,
        }
    }

    /// Whether it goes through im2col's workspace.
    pub fn uses_im2col(&self) -> bool {
        matches!(
            self,
            ForwardAlgorithm::Im2colMatmul | ForwardAlgorithm::Im2colSharedMatmul
        )
    }

    /// Whether it is one of the GPUs' workgroup-memory variants.
    pub fn is_shared(&self) -> bool {
        matches!(
            self,
            ForwardAlgorithm::SharedTiles | ForwardAlgorithm::Im2colSharedMatmul
        )
    }

    /// The algorithm a [`ForwardAlgorithm::label`] names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }
}

/// A prepared forward pass by either algorithm; im2col's workspace is owned here.
#[derive(Debug)]
pub struct ConvForward {
    algorithm: ForwardAlgorithm,
    dispatches: Vec<Dispatch>,
    _workspace: Option<wgpu::Buffer>,
}

impl ConvForward {
    /// y = conv(x, w) (+ bias) by `algorithm`. im2col + matmul supports a bias only when y
    /// holds exactly this layer's channels.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        algorithm: ForwardAlgorithm,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
    ) -> Result<ConvForward, GpuError> {
        Self::build(gpu, algorithm, shape, slices, x, w, bias, y, None)
    }

    /// The same, with im2col's columns in a workspace shared with other layers (at least
    /// [`im2col_len`] floats): layers run one after another, so one workspace serves all.
    #[allow(clippy::too_many_arguments)]
    pub fn with_workspace(
        gpu: &Gpu,
        algorithm: ForwardAlgorithm,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        y: Operand<'_>,
        workspace: &wgpu::Buffer,
    ) -> Result<ConvForward, GpuError> {
        Self::build(
            gpu,
            algorithm,
            shape,
            slices,
            x,
            w,
            None,
            y,
            Some(workspace),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        gpu: &Gpu,
        algorithm: ForwardAlgorithm,
        shape: ConvShape,
        slices: ChannelSlices,
        x: Operand<'_>,
        w: Operand<'_>,
        bias: Option<Operand<'_>>,
        y: Operand<'_>,
        shared: Option<&wgpu::Buffer>,
    ) -> Result<ConvForward, GpuError> {
        let direct = match algorithm {
            ForwardAlgorithm::ImplicitGemm => {
                Some(Conv::forward(gpu, shape, slices, x, w, bias, y)?)
            }
            ForwardAlgorithm::ImplicitGemmSubgroup => {
                Some(Conv::forward_subgroup(gpu, shape, slices, x, w, bias, y)?)
            }
            ForwardAlgorithm::SharedTiles => {
                Some(Conv::forward_shared(gpu, shape, slices, x, w, bias, y)?)
            }
            ForwardAlgorithm::Im2colMatmul | ForwardAlgorithm::Im2colSharedMatmul => None,
        };
        if let Some(conv) = direct {
            return Ok(ConvForward {
                algorithm,
                dispatches: conv.dispatches,
                _workspace: None,
            });
        }
        validate(IM2COL, &shape, &slices)?;
        Launch::new(gpu, FORWARD).fits("y", y, slices.y_len(&shape))?;
        let owned = match shared {
            Some(_) => None,
            None => Some(gpu.storage("im2col workspace", im2col_len(&shape) as u64 * 4)?),
        };
        let col = Operand::whole(shared.or(owned.as_ref()).expect("one of the two is set"));
        let im2col = Conv::im2col(gpu, shape, slices, x, col)?;
        let (crs, pq) = (shape.c * shape.r * shape.s, shape.p() * shape.q());
        // y[n] (k x pq, starting at the layer's first channel) = w (k x crs) * col[n] (crs x pq).
        let batch = super::matmul::Batch {
            count: shape.n,
            a: 0,
            b: crs * pq,
            c: slices.y_channels * pq,
        };
        let y_first = Operand {
            buffer: y.buffer,
            offset: y.offset + slices.y_first * pq,
        };
        let matmul = match algorithm {
            ForwardAlgorithm::Im2colSharedMatmul => super::matmul::MatmulAlgorithm::Shared,
            _ => super::matmul::MatmulAlgorithm::Registers,
        };
        let product = super::matmul::Matmul::batched_by(
            gpu,
            matmul,
            super::matmul::MatmulShape::new(shape.k, pq, crs),
            batch,
            w,
            col,
            y_first,
        )?;
        let mut dispatches = im2col.dispatches;
        dispatches.extend(product.dispatches().iter().cloned());
        if let Some(b) = bias {
            if slices != ChannelSlices::dense(&shape) {
                return Err(GpuError::launch(
                    FORWARD,
                    "im2col + matmul adds a bias only to a dense output",
                ));
            }
            let len = shape.y_len() as u32;
            dispatches.push(super::elementwise::bias_add(gpu, len, shape.k, pq, b, y)?);
        }
        Ok(ConvForward {
            algorithm,
            dispatches,
            _workspace: owned,
        })
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> ForwardAlgorithm {
        self.algorithm
    }

    /// The launches to record, in order.
    pub fn dispatches(&self) -> Vec<&Dispatch> {
        self.dispatches.iter().collect()
    }
}

/// Times the forward algorithms in `candidates` once on scratch buffers of this shape and
/// returns the fastest on this adapter: the start-up choice the training plan makes per
/// layer. The answer is remembered on the device ([`Gpu::remember_choice`]), so each shape
/// is timed once per adapter and candidate set, and not at all where kept choices were
/// loaded. Candidates not [`ForwardAlgorithm::worth_timing_on`] this device are dropped
/// untimed.
pub async fn choose_forward(
    gpu: &Gpu,
    shape: ConvShape,
    candidates: &[ForwardAlgorithm],
) -> Result<ForwardAlgorithm, GpuError> {
    let mut candidates: Vec<ForwardAlgorithm> = candidates.to_vec();
    if candidates.len() > 1 {
        candidates.retain(|a| a.worth_timing_on(gpu));
    }
    if candidates.len() <= 1 {
        return Ok(candidates
            .first()
            .copied()
            .unwrap_or(ForwardAlgorithm::ImplicitGemm));
    }
    let labels: Vec<&str> = candidates.iter().map(|a| a.label()).collect();
    let question = format!("conv forward of {} {}", labels.join("|"), shape.describe());
    let remembered = gpu.remembered_choice(&question);
    if let Some(known) = remembered.as_deref().and_then(ForwardAlgorithm::from_label) {
        if candidates.contains(&known) {
            return Ok(known);
        }
    }
    let chosen = measure_forward(gpu, shape, &candidates).await?;
    gpu.remember_choice(question, chosen.label().into());
    Ok(chosen)
}

/// The timing behind [`choose_forward`], on any adapter and remembering nothing.
pub async fn measure_forward(
    gpu: &Gpu,
    shape: ConvShape,
    candidates: &[ForwardAlgorithm],
) -> Result<ForwardAlgorithm, GpuError> {
    let slices = ChannelSlices::dense(&shape);
    let x = gpu.storage("choose x", shape.x_len() as u64 * 4)?;
    let w = gpu.storage("choose w", shape.w_len() as u64 * 4)?;
    let y = gpu.storage("choose y", shape.y_len() as u64 * 4)?;
    let mut best = (f64::INFINITY, ForwardAlgorithm::ImplicitGemm);
    for &algorithm in candidates {
        let whole = Operand::whole;
        let op = match ConvForward::new(
            gpu,
            algorithm,
            shape,
            slices,
            whole(&x),
            whole(&w),
            None,
            whole(&y),
        ) {
            Ok(op) => op,
            // im2col's workspace may not fit this adapter; the implicit GEMM always can.
            Err(GpuError::BufferTooLarge { .. }) => continue,
            Err(e) => return Err(e),
        };
        let ms = crate::gpu::timing::ms_per_run_to_beat(gpu, &op.dispatches(), best.0).await?;
        if ms < best.0 {
            best = (ms, algorithm);
        }
    }
    Ok(best.1)
}

/// Whether the register-tiled kernels run by their subgroup build on this device (rows
/// loaded once per subgroup and shared by broadcast; the same bits either way): where
/// [`Gpu::subgroup_rows`], the forward pass of `shape` (the plan passes its costliest layer)
/// is timed both ways, once per device, and the answer holds for the input and weight
/// gradients too: what the build trades (one load for three broadcasts, in the same loop)
/// is the adapter's, not the layer's or the kernel's. Timing every kernel of every layer
/// shape both ways had made the page's first start several seconds slower. Remembered on
/// the device like [`choose_forward`].
pub async fn choose_subgroup_rows(gpu: &Gpu, shape: ConvShape) -> Result<bool, GpuError> {
    if !gpu.subgroup_rows() {
        return Ok(false);
    }
    let question = "conv register rows by subgroup broadcast";
    if let Some(known) = gpu.remembered_choice(question) {
        match known.as_str() {
            "yes" => return Ok(true),
            "no" => return Ok(false),
            _ => {}
        }
    }
    let chosen = measure_subgroup_rows(gpu, shape).await?;
    gpu.remember_choice(question.into(), if chosen { "yes" } else { "no" }.into());
    Ok(chosen)
}

/// The timing behind [`choose_subgroup_rows`], remembering nothing: both builds of the
/// forward pass warmed up (compiled) first, then timed twice each, alternating, and the
/// best time of each compared.
pub async fn measure_subgroup_rows(gpu: &Gpu, shape: ConvShape) -> Result<bool, GpuError> {
    let slices = ChannelSlices::dense(&shape);
    let x = gpu.storage("choose x", shape.x_len() as u64 * 4)?;
    let w = gpu.storage("choose w", shape.w_len() as u64 * 4)?;
    let y = gpu.storage("choose y", shape.y_len() as u64 * 4)?;
    let o = Operand::whole;
    let builds = [
        Conv::forward(gpu, shape, slices, o(&x), o(&w), None, o(&y))?,
        Conv::forward_subgroup(gpu, shape, slices, o(&x), o(&w), None, o(&y))?,
    ];
    Ok(fastest_build(gpu, &builds, 3).await? == 1)
}

/// Which of `builds` runs fastest: all warmed up (compiled) in a first round, then timed
/// in `rounds - 1` more, alternating, and the best time of each compared.
async fn fastest_build(gpu: &Gpu, builds: &[Conv], rounds: usize) -> Result<usize, GpuError> {
    let mut best = vec![f64::INFINITY; builds.len()];
    for round in 0..rounds {
        for (i, build) in builds.iter().enumerate() {
            let dispatches: Vec<&Dispatch> = build.dispatches().iter().collect();
            let ms = crate::gpu::timing::time_runs(gpu, &dispatches, 1).await? * 1e3;
            if round > 0 {
                best[i] = best[i].min(ms);
            }
        }
    }
    let fastest = (0..builds.len()).min_by(|&a, &b| best[a].total_cmp(&best[b]));
    Ok(fastest.unwrap_or(0))
}

/// The register tiles' rows per invocation below 32 channels on this device, 8 or 16 (see
/// [`RegisterBlock`]): the forward pass of `shape` (the plan passes its costliest layer of
/// fewer than 32 channels) timed with each, by the build that will run (`subgroup`), once
/// per device, and remembered like [`choose_forward`].
pub async fn choose_register_block(
    gpu: &Gpu,
    shape: ConvShape,
    subgroup: bool,
) -> Result<RegisterBlock, GpuError> {
    match gpu.remembered_choice(REGISTER_BLOCK_QUESTION).as_deref() {
        Some("8") => return Ok(RegisterBlock::Rows8),
        Some("16") => return Ok(RegisterBlock::Rows16),
        _ => {}
    }
    let chosen = measure_register_block(gpu, shape, subgroup).await?;
    gpu.remember_choice(REGISTER_BLOCK_QUESTION.into(), chosen.rows().to_string());
    Ok(chosen)
}

/// The timing behind [`choose_register_block`], remembering nothing (the device's answer
/// is put back as it was).
pub async fn measure_register_block(
    gpu: &Gpu,
    shape: ConvShape,
    subgroup: bool,
) -> Result<RegisterBlock, GpuError> {
    if RegisterBlock::tall_fits(shape.k) {
        return Err(GpuError::launch(
            FORWARD,
            "the 8- and 16-row blocks are chosen on a layer the 32-row block does not fit",
        ));
    }
    let slices = ChannelSlices::dense(&shape);
    let x = gpu.storage("choose x", shape.x_len() as u64 * 4)?;
    let w = gpu.storage("choose w", shape.w_len() as u64 * 4)?;
    let y = gpu.storage("choose y", shape.y_len() as u64 * 4)?;
    let o = Operand::whole;
    let blocks = [RegisterBlock::Rows8, RegisterBlock::Rows16];
    let before = gpu.remembered_choice(REGISTER_BLOCK_QUESTION);
    // Each launch takes its block from the device's answer when it is built.
    let builds: Result<Vec<Conv>, GpuError> = blocks
        .iter()
        .map(|block| {
            gpu.set_choice(REGISTER_BLOCK_QUESTION, Some(block.rows().to_string()));
            let (x, w, y) = (o(&x), o(&w), o(&y));
            match subgroup {
                true => Conv::forward_subgroup(gpu, shape, slices, x, w, None, y),
                false => Conv::forward(gpu, shape, slices, x, w, None, y),
            }
        })
        .collect();
    gpu.set_choice(REGISTER_BLOCK_QUESTION, before);
    Ok(blocks[fastest_build(gpu, &builds?, 4).await?])
}

/// How a convolution's input gradient runs. Which is faster depends on the adapter and the
/// layer, so [`choose_input_grad`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputGradAlgorithm {
    /// `conv.wgsl`'s register tiles, one z layer per stride phase (software adapters).
    Registers,
    /// The same with their row loads shared by subgroup broadcast (browsers whose adapter has
    /// subgroups of four lanes); the same bits as `Registers`.
    RegistersSubgroup,
    /// `conv_shared.wgsl`'s workgroup-memory tiles, every tap masked (real GPUs).
    Shared,
}

impl InputGradAlgorithm {
    /// Every algorithm.
    pub const ALL: [InputGradAlgorithm; 3] = [
        InputGradAlgorithm::Registers,
        InputGradAlgorithm::RegistersSubgroup,
        InputGradAlgorithm::Shared,
    ];

    /// `registers`, `registers_subgroup` or `shared`.
    pub fn label(&self) -> &'static str {
        match self {
            InputGradAlgorithm::Registers => "registers",
            InputGradAlgorithm::RegistersSubgroup => "registers_subgroup",
            InputGradAlgorithm::Shared => "shared",
        }
    }

    /// The algorithm a [`InputGradAlgorithm::label`] names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// Whether [`choose_input_grad`] times it on this device (as
    /// [`ForwardAlgorithm::worth_timing_on`]).
    pub fn worth_timing_on(&self, gpu: &Gpu) -> bool {
        match self {
            InputGradAlgorithm::Registers => true,
            InputGradAlgorithm::RegistersSubgroup => false,
            InputGradAlgorithm::Shared => !gpu.is_software(),
        }
    }

    /// The same algorithm by the register tiles' subgroup build, where there is one.
    pub fn with_subgroup_rows(self) -> Self {
        match self {
            InputGradAlgorithm::Registers => InputGradAlgorithm::RegistersSubgroup,
            other => other,
        }
    }
}

/// Times the input-gradient kernels worth timing on this device, on scratch buffers of this
/// shape, and returns the fastest (on a software adapter without subgroups: the register
/// tiles, untimed). Remembered on the device like [`choose_forward`].
pub async fn choose_input_grad(
    gpu: &Gpu,
    shape: ConvShape,
) -> Result<InputGradAlgorithm, GpuError> {
    let question = format!("conv input grad {}", shape.describe());
    let remembered = gpu.remembered_choice(&question);
    if let Some(known) = remembered
        .as_deref()
        .and_then(InputGradAlgorithm::from_label)
    {
        return Ok(known);
    }
    let candidates: Vec<InputGradAlgorithm> = InputGradAlgorithm::ALL
        .into_iter()
        .filter(|a| a.worth_timing_on(gpu))
        .collect();
    let chosen = match candidates.as_slice() {
        [only] => *only,
        _ => measure_input_grad(gpu, shape, &candidates).await?,
    };
    gpu.remember_choice(question, chosen.label().into());
    Ok(chosen)
}

/// The timing behind [`choose_input_grad`], of any candidates this device can run,
/// remembering nothing.
pub async fn measure_input_grad(
    gpu: &Gpu,
    shape: ConvShape,
    candidates: &[InputGradAlgorithm],
) -> Result<InputGradAlgorithm, GpuError> {
    let slices = ChannelSlices::dense(&shape);
    let dy = gpu.storage("choose dy", shape.y_len() as u64 * 4)?;
    let w = gpu.storage("choose w", shape.w_len() as u64 * 4)?;
    let dx = gpu.storage("choose dx", shape.x_len() as u64 * 4)?;
    let mut best = (f64::INFINITY, InputGradAlgorithm::Registers);
    for &algorithm in candidates {
        let whole = Operand::whole;
        let op = Conv::input_grad_by(
            gpu,
            algorithm,
            shape,
            slices,
            whole(&dy),
            whole(&w),
            whole(&dx),
            false,
        )?;
        let dispatches: Vec<&Dispatch> = op.dispatches().iter().collect();
        let ms = crate::gpu::timing::ms_per_run_to_beat(gpu, &dispatches, best.0).await?;
        if ms < best.0 {
            best = (ms, algorithm);
        }
    }
    Ok(best.1)
}

/// How a convolution's weight gradient runs. Which is faster depends on the adapter and the
/// layer, so [`choose_weight_grad`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kernel")]
pub enum WeightGradAlgorithm {
    /// `conv.wgsl`'s register tiles, no workgroup memory; the batch is split until 32
    /// workgroups run (software adapters' cores).
    Registers,
    /// The same with their row loads shared by subgroup broadcast (browsers whose adapter has
    /// subgroups of four lanes); the same bits as `Registers`.
    RegistersSubgroup,
    /// `conv_shared.wgsl`'s workgroup-memory tiles, the positions (n, p, q) cut into about
    /// `parts` parts (see [`shared_weight_grad_cut`]) whose copies of dw a second pass adds
    /// in order (real GPUs).
    Shared {
        /// Parts of the reduction over positions, each its own workgroups.
        parts: u32,
        /// Invocations across the workgroup, 4 columns (c, r, s) each: 16 (64-column tiles)
        /// or a layer's fitted width (see [`shared_weight_grad_fitted_across`]).
        across: u32,
        /// By `weight_grad_shared_prefetch`: the next chunk's values loaded into registers
        /// while the current chunk is multiplied (the same sums in the same order).
        #[serde(default)]
        prefetch: bool,
    },
}

impl WeightGradAlgorithm {
    /// The same algorithm by the register tiles' subgroup build, where there is one.
    pub fn with_subgroup_rows(self) -> Self {
        match self {
            WeightGradAlgorithm::Registers => WeightGradAlgorithm::RegistersSubgroup,
            other => other,
        }
    }

    /// The workgroup-memory kernel with the positions cut so that about 1,024 workgroups
    /// run, each part at least [`SHARED_WEIGHT_GRAD_FEWEST_POSITIONS`] long.
    pub fn shared_default(shape: &ConvShape) -> Self {
        Self::shared_parts_for(shape, SHARED_ACROSS)
    }

    /// The workgroup-memory kernel `across` invocations wide, its positions cut as
    /// [`WeightGradAlgorithm::shared_default`] cuts them.
    fn shared_parts_for(shape: &ConvShape, across: u32) -> Self {
        let [x, y, _] = shared_weight_grad_grid(shape, across);
        let parts = SHARED_WEIGHT_GRAD_WORKGROUPS
            .div_ceil(x * y)
            .clamp(1, shared_weight_grad_most_parts(shape));
        WeightGradAlgorithm::Shared {
            parts,
            across,
            prefetch: false,
        }
    }

    /// The same cut and width by the prefetching kernel.
    pub fn prefetching(self) -> Self {
        self.with_prefetch(true)
    }

    /// The same cut and width by the prefetching (`true`) or the plain kernel; the register
    /// tiles as they are.
    pub fn with_prefetch(self, prefetch: bool) -> Self {
        match self {
            WeightGradAlgorithm::Shared { parts, across, .. } => WeightGradAlgorithm::Shared {
                parts,
                across,
                prefetch,
            },
            other => other,
        }
    }

    /// Like `registers`, `shared/8` (64-column tiles), `shared/8/144` (144-column tiles),
    /// or `shared_prefetch/8/144` by the prefetching kernel.
    pub fn label(&self) -> String {
        match *self {
            WeightGradAlgorithm::Registers => "registers".into(),
            WeightGradAlgorithm::RegistersSubgroup => "registers_subgroup".into(),
            WeightGradAlgorithm::Shared {
                parts,
                across,
                prefetch,
            } => {
                let name = if prefetch {
                    "shared_prefetch"
                } else {
                    "shared"
                };
                match across == SHARED_ACROSS {
                    true => format!("{name}/{parts}"),
                    false => format!("{name}/{parts}/{}", 4 * across),
                }
            }
        }
    }

    /// The algorithm a [`WeightGradAlgorithm::label`] names.
    pub fn from_label(label: &str) -> Option<Self> {
        let mut fields = label.split('/');
        let name = fields.next()?;
        let numbers: Vec<u32> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
        let prefetch = match (name, numbers.as_slice()) {
            ("registers", []) => return Some(WeightGradAlgorithm::Registers),
            ("registers_subgroup", []) => return Some(WeightGradAlgorithm::RegistersSubgroup),
            ("shared", _) => false,
            ("shared_prefetch", _) => true,
            _ => return None,
        };
        let fewest = if prefetch {
            SHARED_PREFETCH_FEWEST_ACROSS
        } else {
            1
        };
        let widths = 4 * fewest..=4 * SHARED_MAX_ACROSS;
        let (parts, across) = match *numbers.as_slice() {
            [parts] => (parts, SHARED_ACROSS),
            [parts, cols] if cols % 4 == 0 && widths.contains(&cols) => (parts, cols / 4),
            _ => return None,
        };
        (parts >= 1).then_some(WeightGradAlgorithm::Shared {
            parts,
            across,
            prefetch,
        })
    }
}

/// Invocations down a workgroup-memory kernel's workgroup (4 rows each): the fewest of 4,
/// 8, 16 whose tile covers `rows` channels, so thin layers do not compute idle rows.
fn shared_tile_invocations_down(rows: u32) -> u32 {
    match rows {
        0..=16 => 4,
        17..=32 => 8,
        _ => 16,
    }
}

/// Invocations across the workgroup-memory kernels' workgroups by default (64 columns).
pub const SHARED_ACROSS: u32 = 16;

/// The most invocations across `weight_grad_shared` takes (144 columns; `MAX_WG_X` in
/// `conv_shared.wgsl`, whose workgroup memory is sized for it).
const SHARED_MAX_ACROSS: u32 = 36;

/// The fewest invocations across `weight_grad_shared_prefetch` takes: each holds 64 / across
/// values of dy per chunk in registers, at most 8 (`PREFETCH_A` in `conv_shared.wgsl`).
pub const SHARED_PREFETCH_FEWEST_ACROSS: u32 = 8;

/// The width that fits a layer's taps (c, r, s) into the fewest tiles of at most 144
/// columns, as evenly as they go, at least 32 columns: 144 taps (a 3x3 layer of 16
/// channels) take one tile of 144 where 64-column tiles would take three, the last half
/// empty. Never wider than `max_invocations` (the device's invocations per workgroup, 256
/// on some WebGPU adapters) allows with the layer's rows.
pub fn shared_weight_grad_fitted_across(s: &ConvShape, max_invocations: u32) -> u32 {
    let widest = shared_weight_grad_widest(s, max_invocations);
    let cols = s.c * s.r * s.s;
    let tiles = cols.div_ceil(4 * widest);
    cols.div_ceil(tiles)
        .div_ceil(4)
        .clamp(8.min(widest), widest)
}

/// The most invocations across `weight_grad_shared` may take for this layer's rows.
fn shared_weight_grad_widest(s: &ConvShape, max_invocations: u32) -> u32 {
    let down = shared_tile_invocations_down(s.k);
    (max_invocations / down).clamp(1, SHARED_MAX_ACROSS)
}

/// `weight_grad_shared`'s workgroups over dw for one part of the positions, `across`
/// invocations (4 columns each) wide.
fn shared_weight_grad_grid(s: &ConvShape, across: u32) -> [u32; 3] {
    let tile_rows = 4 * shared_tile_invocations_down(s.k);
    [
        (s.c * s.r * s.s).div_ceil(4 * across),
        s.k.div_ceil(tile_rows),
        1,
    ]
}

/// Reduction indices `weight_grad_shared` stages per step (its CHUNK): parts are cut in
/// whole chunks.
const SHARED_WEIGHT_GRAD_CHUNK: u32 = 16;

/// Positions (n, p, q) a part of the workgroup-memory weight gradient keeps at least, so
/// that its loop outlasts its set-up and the parts' copies of dw stay fewer than the terms.
pub const SHARED_WEIGHT_GRAD_FEWEST_POSITIONS: u32 = 64;

/// The most parts worth cutting a layer's positions into.
fn shared_weight_grad_most_parts(shape: &ConvShape) -> u32 {
    let positions = shape.n * shape.p() * shape.q();
    positions
        .div_ceil(SHARED_WEIGHT_GRAD_FEWEST_POSITIONS)
        .max(1)
}

/// (positions per part, parts) for `weight_grad_shared` asked for `parts` parts: the
/// positions are cut into parts of whole chunks (at least one), the last part taking what
/// is left, so the parts that run may be fewer than asked.
pub fn shared_weight_grad_cut(shape: &ConvShape, parts: u32) -> (u32, u32) {
    let positions = shape.n * shape.p() * shape.q();
    let chunk = SHARED_WEIGHT_GRAD_CHUNK;
    let parts = parts.clamp(1, positions.div_ceil(chunk).max(1));
    let split = positions.div_ceil(parts).div_ceil(chunk) * chunk;
    (split, positions.div_ceil(split))
}

/// The cuts and widths worth timing for the workgroup-memory kernel: 1, 2, 4, ... parts up
/// to the most worth cutting, and the default aim, each in 64-column tiles and, where it
/// differs, in the layer's fitted width; each by the plain kernel and then, where the width
/// allows it, by the prefetching one.
pub fn shared_weight_grad_candidates(gpu: &Gpu, shape: &ConvShape) -> Vec<WeightGradAlgorithm> {
    let most = shared_weight_grad_most_parts(shape);
    let invocations = gpu.limits().max_compute_invocations_per_workgroup;
    let fitted = shared_weight_grad_fitted_across(shape, invocations);
    let mut widths = vec![SHARED_ACROSS];
    if fitted != SHARED_ACROSS {
        widths.push(fitted);
    }
    let mut candidates = Vec::new();
    for across in widths {
        let mut parts: Vec<u32> = std::iter::successors(Some(1u32), |p| p.checked_mul(2))
            .take_while(|&p| p <= most)
            .collect();
        if let WeightGradAlgorithm::Shared { parts: p, .. } =
            WeightGradAlgorithm::shared_parts_for(shape, across)
        {
            parts.push(p);
        }
        // Asks that cut the positions the same way run the same work.
        let mut seen = std::collections::BTreeSet::new();
        parts.sort_unstable();
        candidates.extend(
            parts
                .into_iter()
                .filter(|&p| seen.insert(shared_weight_grad_cut(shape, p)))
                .flat_map(|parts| {
                    let plain = WeightGradAlgorithm::Shared {
                        parts,
                        across,
                        prefetch: false,
                    };
                    let prefetching = across >= SHARED_PREFETCH_FEWEST_ACROSS;
                    std::iter::once(plain).chain(prefetching.then(|| plain.prefetching()))
                }),
        );
    }
    candidates
}

/// Times the weight-gradient kernels on scratch buffers of this shape and returns the
/// fastest on this adapter: first the register tiles against the workgroup-memory tiles
/// at their default split; only where the latter wins (a real GPU) are its other splits
/// timed. On a software adapter the register tiles are taken untimed: the workgroup-memory
/// kernel ran 3-8 times slower on every ResNet-20 layer on both software adapters
/// (BENCHMARKS.md), and timing it there cost the page seconds at start-up. Remembered on
/// the device like [`choose_forward`].
pub async fn choose_weight_grad(
    gpu: &Gpu,
    shape: ConvShape,
) -> Result<WeightGradAlgorithm, GpuError> {
    let question = format!("conv weight grad {}", shape.describe());
    let remembered = gpu.remembered_choice(&question);
    if let Some(known) = remembered
        .as_deref()
        .and_then(WeightGradAlgorithm::from_label)
    {
        return Ok(known);
    }
    let chosen = match gpu.is_software() {
        true => WeightGradAlgorithm::Registers,
        false => measure_weight_grad(gpu, shape).await?,
    };
    gpu.remember_choice(question, chosen.label());
    Ok(chosen)
}

/// The timing behind [`choose_weight_grad`], on any adapter and remembering nothing: the
/// register tiles against the workgroup-memory tiles and, where those win, their splits and
/// widths, each plain and prefetching.
pub async fn measure_weight_grad(
    gpu: &Gpu,
    shape: ConvShape,
) -> Result<WeightGradAlgorithm, GpuError> {
    let slices = ChannelSlices::dense(&shape);
    let x = gpu.storage("choose x", shape.x_len() as u64 * 4)?;
    let dy = gpu.storage("choose dy", shape.y_len() as u64 * 4)?;
    let dw = gpu.storage("choose dw", shape.w_len() as u64 * 4)?;
    // Milliseconds per run of `algorithm`, or more than twice `to_beat` when it cannot win.
    let time = |algorithm: WeightGradAlgorithm, to_beat: f64| {
        let (x, dy, dw) = (&x, &dy, &dw);
        async move {
            let whole = Operand::whole;
            let op = Conv::weight_grad_by(
                gpu,
                algorithm,
                shape,
                slices,
                whole(x),
                whole(dy),
                whole(dw),
            );
            match op {
                Ok(op) => {
                    let dispatches: Vec<&Dispatch> = op.dispatches().iter().collect();
                    crate::gpu::timing::ms_per_run_to_beat(gpu, &dispatches, to_beat).await
                }
                // A split's scratch buffer may not fit this adapter: that split cannot run.
                Err(GpuError::BufferTooLarge { .. }) => Ok(f64::INFINITY),
                Err(e) => Err(e),
            }
        }
    };
    let registers = time(WeightGradAlgorithm::Registers, f64::INFINITY).await?;
    let default = WeightGradAlgorithm::shared_default(&shape);
    let mut best = (time(default, registers).await?, default);
    if best.0 >= registers {
        return Ok(WeightGradAlgorithm::Registers);
    }
    for candidate in shared_weight_grad_candidates(gpu, &shape) {
        if candidate == default {
            continue;
        }
        let ms = time(candidate, best.0).await?;
        if ms < best.0 {
            best = (ms, candidate);
        }
    }
    Ok(best.1)
}

/// Calls `f(y index, x index, w index)` for every multiply-add of the convolution, skipping
/// taps that fall in the zero padding. All three references are built on it.
fn for_each_tap(s: &ConvShape, mut f: impl FnMut(usize, usize, usize)) {
    let (n, c, h, w, k) = (
        s.n as usize,
        s.c as usize,
        s.h as i64,
        s.w as i64,
        s.k as usize,
    );
    let (r, ss, p, q) = (s.r as usize, s.s as usize, s.p() as usize, s.q() as usize);
    let (stride, pad) = (s.stride as i64, s.pad as i64);
    for ni in 0..n {
        for ki in 0..k {
            for pi in 0..p {
                for qi in 0..q {
                    let yi = ((ni * k + ki) * p + pi) * q + qi;
                    for ci in 0..c {
                        for ri in 0..r {
                            let hi = pi as i64 * stride - pad + ri as i64;
                            if hi < 0 || hi >= h {
                                continue;
                            }
                            for si in 0..ss {
                                let wi = qi as i64 * stride - pad + si as i64;
                                if wi < 0 || wi >= w {
                                    continue;
                                }
                                let xi = ((ni * c + ci) * h as usize + hi as usize) * w as usize
                                    + wi as usize;
                                let wti = ((ki * c + ci) * r + ri) * ss + si;
                                f(yi, xi, wti);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// CPU reference forward, f64, dense NCHW tensors: y = conv(x, w) + bias.
pub fn forward_reference(s: &ConvShape, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let mut y = vec![0f64; s.y_len()];
    for_each_tap(s, |yi, xi, wi| y[yi] += w[wi] * x[xi]);
    if let Some(b) = bias {
        let pq = (s.p() * s.q()) as usize;
        for (i, v) in y.iter_mut().enumerate() {
            *v += b[(i / pq) % s.k as usize];
        }
    }
    y
}

/// CPU reference input gradient: dx = sum over taps of w * dy.
pub fn input_grad_reference(s: &ConvShape, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let mut dx = vec![0f64; s.x_len()];
    for_each_tap(s, |yi, xi, wi| dx[xi] += w[wi] * dy[yi]);
    dx
}

/// CPU reference weight gradient: dw = sum over taps of dy * x.
pub fn weight_grad_reference(s: &ConvShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dw = vec![0f64; s.w_len()];
    for_each_tap(s, |yi, xi, wi| dw[wi] += dy[yi] * x[xi]);
    dw
}

/// CPU reference bias gradient: dy summed over batch and positions, per channel.
pub fn bias_grad_reference(s: &ConvShape, dy: &[f64]) -> Vec<f64> {
    let pq = (s.p() * s.q()) as usize;
    let mut db = vec![0f64; s.k as usize];
    for (i, v) in dy.iter().enumerate() {
        db[(i / pq) % s.k as usize] += v;
    }
    db
}
