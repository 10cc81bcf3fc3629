//! Convolution checks: forward and the three gradients against the f64 references, the
//! gradients also against finite differences of the f64 forward, on kernel sizes 1x1, 3x3,
//! 5x5 and 2x3, strides 1 and 2, shapes that are not multiples of the 32x32 tile, and
//! DenseNet-style channel slices with gradient accumulation.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult, SENTINEL};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::conv::{
    self, ChannelSlices, Conv, ConvForward, ConvShape, ForwardAlgorithm, RegisterBlock,
    WeightGradAlgorithm, REGISTER_BLOCK_QUESTION,
};

/// Largest accepted relative L2 error of the forward output.
pub const FORWARD_TOLERANCE: f64 = 1e-5;
/// Largest accepted relative L2 error of a gradient (against the reference and against
/// finite differences).
pub const GRADIENT_TOLERANCE: f64 = 1e-4;
/// Finite differences are taken where the forward pass costs at most this many
/// multiply-adds, at this many sampled coordinates.
const FD_MAX_MACS: f64 = 3e5;
const FD_SAMPLES: usize = 6;

/// Which of the four kernels a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvKernel {
    /// y = conv(x, w) + b.
    Forward,
    /// The same by im2col + batched matmul.
    ForwardIm2col,
    /// The same by the workgroup-memory kernel.
    ForwardShared,
    /// The same by im2col + the workgroup-memory batched matmul.
    ForwardIm2colShared,
    /// The same by the register tiles' subgroup build (browsers with subgroups of four lanes).
    ForwardSubgroup,
    /// dx from dy and w.
    InputGrad,
    /// dx by the register tiles' subgroup build.
    InputGradSubgroup,
    /// dx by the workgroup-memory kernel.
    InputGradShared,
    /// dw from x and dy.
    WeightGrad,
    /// dw by the register tiles' subgroup build.
    WeightGradSubgroup,
    /// dw by the workgroup-memory kernel, the batch in one part.
    WeightGradShared,
    /// dw by the workgroup-memory kernel, every image its own part (then summed).
    WeightGradSharedSplit,
    /// dw by the prefetching workgroup-memory kernel, unsplit, in 64-column tiles.
    WeightGradSharedPrefetch,
    /// dw by the prefetching workgroup-memory kernel, split as `WeightGradSharedSplit`.
    WeightGradSharedPrefetchSplit,
    /// db from dy.
    BiasGrad,
}

impl ConvKernel {
    /// Whether it runs the subgroup build (`shaders::CONV_SUBGROUP`), which only browsers whose
    /// adapter has subgroups of four lanes compile.
    pub fn needs_subgroups(&self) -> bool {
        matches!(
            self,
            ConvKernel::ForwardSubgroup
                | ConvKernel::InputGradSubgroup
                | ConvKernel::WeightGradSubgroup
        )
    }

    /// The GEMM's rows: input channels for an input gradient, else output channels.
    pub fn rows(&self, s: &ConvShape) -> u32 {
        match self.is_input_grad() {
            true => s.c,
            false => s.k,
        }
    }

    fn is_forward(&self) -> bool {
        matches!(
            self,
            ConvKernel::Forward
                | ConvKernel::ForwardIm2col
                | ConvKernel::ForwardShared
                | ConvKernel::ForwardIm2colShared
                | ConvKernel::ForwardSubgroup
        )
    }

    fn is_input_grad(&self) -> bool {
        matches!(
            self,
            ConvKernel::InputGrad | ConvKernel::InputGradShared | ConvKernel::InputGradSubgroup
        )
    }

    fn is_weight_grad(&self) -> bool {
        matches!(
            self,
            ConvKernel::WeightGrad
                | ConvKernel::WeightGradShared
                | ConvKernel::WeightGradSharedSplit
                | ConvKernel::WeightGradSharedPrefetch
                | ConvKernel::WeightGradSharedPrefetchSplit
                | ConvKernel::WeightGradSubgroup
        )
    }
}

/// One convolution check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ConvCase {
    /// Sizes.
    pub shape: ConvShape,
    /// Memory layout of x and y.
    pub slices: ChannelSlices,
    /// Which kernel.
    pub kernel: ConvKernel,
    /// Forward: add a bias. InputGrad: accumulate into dx.
    pub option: bool,
    /// Register tiles below 32 rows: 8 rows per invocation instead of 16 (the two answers to
    /// `conv::REGISTER_BLOCK_QUESTION`, set for the case whatever the device measured).
    pub short_rows: bool,
}

impl ConvCase {
    /// Like `conv input_grad 2x3x9x9 * ... (slices, accumulate)`.
    pub fn describe(&self) -> String {
        let kernel = match self.kernel {
            ConvKernel::Forward => "forward",
            ConvKernel::ForwardIm2col => "forward by im2col + matmul",
            ConvKernel::ForwardShared => "forward by workgroup-memory tiles",
            ConvKernel::ForwardIm2colShared => "forward by im2col + workgroup-memory matmul",
            ConvKernel::ForwardSubgroup => "forward by subgroup-shared rows",
            ConvKernel::InputGradSubgroup => "input grad by subgroup-shared rows",
            ConvKernel::WeightGradSubgroup => "weight grad by subgroup-shared rows",
            ConvKernel::InputGrad => "input grad",
            ConvKernel::InputGradShared => "input grad by workgroup-memory tiles",
            ConvKernel::WeightGrad => "weight grad",
            ConvKernel::WeightGradShared => "weight grad by workgroup-memory tiles",
            ConvKernel::WeightGradSharedSplit => {
                "weight grad by workgroup-memory tiles of the fitted width, positions cut in 2n+1 parts"
            }
            ConvKernel::WeightGradSharedPrefetch => "weight grad by prefetching workgroup-memory tiles",
            ConvKernel::WeightGradSharedPrefetchSplit => {
                "weight grad by prefetching workgroup-memory tiles of the fitted width, positions cut in 2n+1 parts"
            }
            ConvKernel::BiasGrad => "bias grad",
        };
        let mut notes = Vec::new();
        if self.slices != ChannelSlices::dense(&self.shape) {
            notes.push("channel slices");
        }
        match (self.option, self.kernel) {
            (true, k) if k.is_forward() => notes.push("bias"),
            (true, k) if k.is_input_grad() => notes.push("accumulate"),
            _ => {}
        }
        if self.short_rows {
            notes.push("8-row blocks");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        format!("conv {kernel} {}{notes}", self.shape.describe())
    }
}

#[allow(clippy::too_many_arguments)]
const fn shape(
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    r: u32,
    s: u32,
    stride: u32,
    pad: u32,
) -> ConvShape {
    ConvShape {
        n,
        c,
        h,
        w,
        k,
        r,
        s,
        stride,
        pad,
    }
}

/// Hand-picked shapes: the 1x1 and 3x3 kernels at strides 1 and 2 that the models use, a
/// 5x5 and a non-square kernel, a non-square kernel at stride 3 (nine input-gradient
/// phases with different taps), channel counts on both sides of the 16-row tile, output
/// channels for each tile height of the workgroup-memory weight gradient (16, 32, 64 rows,
/// and more than one tile of 64; input channels likewise for the input gradient), a
/// ResNet-20 first-stage layer at batch 4, and both blocks of the register tiles
/// (`conv::RegisterBlock`): 16 rows for 2-16, 33-48 and 65-80 channels, 32 rows for 19-32
/// and, over two workgroups with the last one part empty, 50 and 58.
const FIXED: [ConvShape; 15] = [
    shape(2, 5, 7, 6, 3, 1, 1, 1, 0),
    shape(2, 3, 9, 11, 5, 3, 3, 1, 1),
    shape(3, 4, 10, 9, 6, 3, 3, 2, 1),
    shape(2, 6, 9, 8, 7, 1, 1, 2, 0),
    shape(1, 2, 12, 7, 3, 5, 5, 1, 2),
    shape(2, 3, 6, 8, 4, 2, 3, 1, 0),
    shape(2, 3, 8, 8, 33, 3, 3, 2, 0),
    shape(1, 2, 3, 3, 2, 1, 1, 1, 1),
    shape(2, 35, 11, 9, 37, 3, 3, 1, 1),
    shape(4, 16, 32, 32, 16, 3, 3, 1, 1),
    shape(3, 19, 11, 10, 35, 5, 3, 3, 2),
    shape(2, 20, 7, 9, 24, 3, 3, 1, 1),
    shape(3, 8, 6, 5, 70, 3, 3, 1, 1),
    shape(2, 67, 5, 6, 9, 3, 3, 2, 1),
    shape(2, 50, 6, 5, 58, 3, 3, 2, 1),
];

/// Random shapes drawn after the fixed ones.
const RANDOM_SHAPES: usize = 6;

/// Every case: each shape with all four kernels; some shapes also with channel slices.
pub fn cases() -> Vec<ConvCase> {
    let mut rng = fastrand::Rng::with_seed(0x0c0f_fee5);
    let mut shapes = FIXED.to_vec();
    for _ in 0..RANDOM_SHAPES {
        let r = [1, 3, 3, 5][rng.usize(..4)];
        let stride = rng.u32(1..=2);
        shapes.push(shape(
            rng.u32(1..=4),
            rng.u32(1..=20),
            rng.u32(r..=17),
            rng.u32(r..=17),
            rng.u32(1..=40),
            r,
            r,
            stride,
            r / 2,
        ));
    }
    let mut out = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let dense = ChannelSlices::dense(s);
        // Every third shape again as a DenseNet layer: reads a prefix of a wider input and
        // writes a slice of a wider output.
        let sliced = ChannelSlices {
            x_channels: s.c + 3,
            y_channels: s.k + 5,
            y_first: 2,
        };
        let layouts: &[ChannelSlices] = if i % 3 == 1 {
            &[dense, sliced]
        } else {
            &[dense]
        };
        for &slices in layouts {
            let sliced = slices != dense;
            for (kernel, option) in [
                (ConvKernel::Forward, i % 2 == 0),
                // im2col + matmul adds a bias only to dense outputs.
                (ConvKernel::ForwardIm2col, i % 2 == 0 && !sliced),
                (ConvKernel::ForwardShared, i % 2 == 0),
                (ConvKernel::ForwardSubgroup, i % 2 == 0),
                (ConvKernel::ForwardIm2colShared, i % 2 == 0 && !sliced),
                (ConvKernel::InputGrad, sliced),
                (ConvKernel::InputGradShared, sliced),
                (ConvKernel::InputGradSubgroup, sliced),
                (ConvKernel::WeightGrad, false),
                (ConvKernel::WeightGradShared, false),
                (ConvKernel::WeightGradSharedSplit, false),
                (ConvKernel::WeightGradSubgroup, false),
                (ConvKernel::BiasGrad, false),
            ] {
                out.push(ConvCase {
                    shape: *s,
                    slices,
                    kernel,
                    option,
                    short_rows: false,
                });
            }
        }
        // The register tiles again with the other block below 32 rows, on dense layouts.
        for kernel in [
            ConvKernel::Forward,
            ConvKernel::ForwardSubgroup,
            ConvKernel::InputGrad,
            ConvKernel::InputGradSubgroup,
            ConvKernel::WeightGrad,
            ConvKernel::WeightGradSubgroup,
        ] {
            if !RegisterBlock::tall_fits(kernel.rows(s)) {
                out.push(ConvCase {
                    shape: *s,
                    slices: dense,
                    kernel,
                    option: i % 2 == 0,
                    short_rows: true,
                });
            }
        }
    }
    out
}

/// The workgroup-memory weight gradient's cases of [`cases`] again by its prefetching kernel
/// (unsplit and split alike): their own self-test family, last, so that adding them moved no
/// other case's seed.
pub fn prefetch_cases() -> Vec<ConvCase> {
    cases()
        .into_iter()
        .filter_map(|c| {
            let kernel = match c.kernel {
                ConvKernel::WeightGradShared => ConvKernel::WeightGradSharedPrefetch,
                ConvKernel::WeightGradSharedSplit => ConvKernel::WeightGradSharedPrefetchSplit,
                _ => return None,
            };
            Some(ConvCase { kernel, ..c })
        })
        .collect()
}

/// Buffer indices (relative to the tensor's start) of `count` channels from `first` of a
/// tensor with `channels` channels per image, in dense NCHW order.
fn slice_indices(n: u32, channels: u32, first: u32, count: u32, plane: u32) -> Vec<usize> {
    let plane = plane as usize;
    let mut idx = Vec::with_capacity(n as usize * count as usize * plane);
    for ni in 0..n as usize {
        for ci in 0..count as usize {
            let start = (ni * channels as usize + first as usize + ci) * plane;
            idx.extend(start..start + plane);
        }
    }
    idx
}

/// A tensor region of `len` elements filled with `fill`, with `values` at `idx`.
fn scatter(len: usize, fill: f32, idx: &[usize], values: &[f32]) -> Vec<f32> {
    let mut out = vec![fill; len];
    for (&i, &v) in idx.iter().zip(values) {
        out[i] = v;
    }
    out
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The dense data of one check: every tensor the forward pass and the gradients use.
struct Data {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
    dy: Vec<f32>,
}

impl Data {
    /// sum(dy * conv(x, w, b)) in f64: the loss whose gradients the backward kernels compute.
    fn loss(&self, s: &ConvShape, x: &[f64], w: &[f64], b: &[f64]) -> f64 {
        let y = conv::forward_reference(s, x, w, Some(b));
        y.iter().zip(&self.dy).map(|(y, d)| y * *d as f64).sum()
    }

    /// The loss with coordinate `i` of the tensor whose gradient `kernel` computes moved by
    /// `delta`. The loss is linear in each tensor, so central differences of it are exact up
    /// to f64 rounding: they check the kernels against the forward math, not against our own
    /// backward references.
    fn loss_moved(&self, s: &ConvShape, kernel: ConvKernel, i: usize, delta: f64) -> f64 {
        let (mut x, mut w, mut b) = (to_f64(&self.x), to_f64(&self.w), to_f64(&self.b));
        let target = match kernel {
            k if k.is_input_grad() => &mut x,
            k if k.is_weight_grad() => &mut w,
            _ => &mut b,
        };
        target[i] += delta;
        self.loss(s, &x, &w, &b)
    }
}

/// Runs one case on the GPU and compares it with the references (and, for gradients of
/// small problems, with finite differences).
pub async fn check(gpu: &Gpu, case: &ConvCase, seed: u64) -> Result<CheckResult, GpuError> {
    let s = case.shape;
    let l = case.slices;
    if let Some(problem) = s.problem() {
        return Err(GpuError::launch("conv check", problem));
    }
    let data = Data {
        x: random_values(seed, s.x_len()),
        w: random_values(seed ^ 0x1111, s.w_len()),
        b: random_values(seed ^ 0x2222, s.k as usize),
        dy: random_values(seed ^ 0x3333, s.y_len()),
    };
    let (hw, pq) = (s.h * s.w, s.p() * s.q());
    let x_idx = slice_indices(s.n, l.x_channels, 0, s.c, hw);
    let y_idx = slice_indices(s.n, l.y_channels, l.y_first, s.k, pq);
    let (x64, w64, dy64) = (to_f64(&data.x), to_f64(&data.w), to_f64(&data.dy));

    // The output region, its initial contents and the expected values there.
    let (region, out_len, mut want, tolerance) = match case.kernel {
        k if k.is_forward() => {
            let bias = case.option.then(|| to_f64(&data.b));
            let want = conv::forward_reference(&s, &x64, &w64, bias.as_deref());
            (y_idx.clone(), l.y_len(&s), want, FORWARD_TOLERANCE)
        }
        k if k.is_input_grad() => {
            let want = conv::input_grad_reference(&s, &dy64, &w64);
            (x_idx.clone(), l.x_len(&s), want, GRADIENT_TOLERANCE)
        }
        k if k.is_weight_grad() => {
            let want = conv::weight_grad_reference(&s, &x64, &dy64);
            (
                (0..s.w_len()).collect(),
                s.w_len(),
                want,
                GRADIENT_TOLERANCE,
            )
        }
        _ => {
            let want = conv::bias_grad_reference(&s, &dy64);
            let k = s.k as usize;
            ((0..k).collect(), k, want, GRADIENT_TOLERANCE)
        }
    };
    let mut initial_values = vec![SENTINEL; out_len];
    let accumulate = case.kernel.is_input_grad() && case.option;
    if accumulate {
        // dx already holds gradient from other consumers of x; the kernel adds to it.
        let earlier = random_values(seed ^ 0x4444, region.len());
        for ((&i, &e), w) in region.iter().zip(&earlier).zip(want.iter_mut()) {
            initial_values[i] = e;
            *w += e as f64;
        }
    }
    let expected = [Expected {
        name: "output",
        initial: initial_values.clone(),
        region: region.clone(),
        want,
        tolerance,
    }];
    // Inputs in their buffer layouts, NaN wherever the kernel must not read.
    let inputs = [
        Input::F32(scatter(l.x_len(&s), f32::NAN, &x_idx, &data.x)),
        Input::F32(data.w.clone()),
        Input::F32(data.b.clone()),
        Input::F32(scatter(l.y_len(&s), f32::NAN, &y_idx, &data.dy)),
    ];
    // The register tiles' block below 32 rows is the device's answer when a launch is built:
    // set it for this case, and put the device's own back after.
    let before = gpu.remembered_choice(REGISTER_BLOCK_QUESTION);
    let rows = if case.short_rows { "8" } else { "16" };
    gpu.set_choice(REGISTER_BLOCK_QUESTION, Some(rows.into()));
    let o = harness::run_many(gpu, case.describe(), &inputs, &expected, |i, o| {
        let (x, w, b, dy, out) = (i[0], i[1], i[2], i[3], o[0]);
        let op = match case.kernel {
            ConvKernel::Forward => Conv::forward(gpu, s, l, x, w, case.option.then_some(b), out),
            ConvKernel::ForwardIm2col | ConvKernel::ForwardIm2colShared => {
                let algorithm = match case.kernel {
                    ConvKernel::ForwardIm2col => ForwardAlgorithm::Im2colMatmul,
                    _ => ForwardAlgorithm::Im2colSharedMatmul,
                };
                let bias = case.option.then_some(b);
                let op = ConvForward::new(gpu, algorithm, s, l, x, w, bias, out)?;
                return Ok(op.dispatches().into_iter().cloned().collect());
            }
            ConvKernel::ForwardShared => {
                Conv::forward_shared(gpu, s, l, x, w, case.option.then_some(b), out)
            }
            ConvKernel::ForwardSubgroup => {
                Conv::forward_subgroup(gpu, s, l, x, w, case.option.then_some(b), out)
            }
            ConvKernel::InputGradSubgroup => {
                let algorithm = conv::InputGradAlgorithm::RegistersSubgroup;
                Conv::input_grad_by(gpu, algorithm, s, l, dy, w, out, accumulate)
            }
            ConvKernel::WeightGradSubgroup => {
                let algorithm = WeightGradAlgorithm::RegistersSubgroup;
                Conv::weight_grad_by(gpu, algorithm, s, l, x, dy, out)
            }
            ConvKernel::InputGrad => Conv::input_grad(gpu, s, l, dy, w, out, accumulate),
            ConvKernel::InputGradShared => {
                let algorithm = conv::InputGradAlgorithm::Shared;
                Conv::input_grad_by(gpu, algorithm, s, l, dy, w, out, accumulate)
            }
            ConvKernel::WeightGrad => Conv::weight_grad(gpu, s, l, x, dy, out),
            ConvKernel::WeightGradShared
            | ConvKernel::WeightGradSharedSplit
            | ConvKernel::WeightGradSharedPrefetch
            | ConvKernel::WeightGradSharedPrefetchSplit => {
                // Unsplit in 64-column tiles; split (more parts than images: cuts inside
                // images and a short last part) in the layer's fitted width.
                let (parts, across) = match case.kernel {
                    ConvKernel::WeightGradShared | ConvKernel::WeightGradSharedPrefetch => {
                        (1, conv::SHARED_ACROSS)
                    }
                    _ => (
                        2 * s.n + 1,
                        conv::shared_weight_grad_fitted_across(
                            &s,
                            gpu.limits().max_compute_invocations_per_workgroup,
                        ),
                    ),
                };
                let prefetch = matches!(
                    case.kernel,
                    ConvKernel::WeightGradSharedPrefetch
                        | ConvKernel::WeightGradSharedPrefetchSplit
                );
                let algorithm = WeightGradAlgorithm::Shared {
                    parts,
                    across,
                    prefetch,
                };
                Conv::weight_grad_by(gpu, algorithm, s, l, x, dy, out)
            }
            ConvKernel::BiasGrad => Conv::bias_grad(gpu, s, l, dy, out),
        }?;
        Ok(op.dispatches().to_vec())
    })
    .await;
    gpu.set_choice(REGISTER_BLOCK_QUESTION, before);
    let o = o?;

    if case.kernel.is_forward() || s.flops() / 2.0 > FD_MAX_MACS {
        return Ok(o.result);
    }
    let earlier = |i: usize| {
        if accumulate {
            initial_values[region[i]] as f64
        } else {
            0.0
        }
    };
    let fd = harness::finite_difference_error(
        region.len(),
        FD_SAMPLES,
        seed ^ 0x5555,
        1e-3,
        |i, delta| data.loss_moved(&s, case.kernel, i, delta),
        |i| o.outputs[0][i] as f64 - earlier(i),
    );
    Ok(harness::with_finite_difference(
        o.result,
        fd,
        GRADIENT_TOLERANCE,
    ))
}
