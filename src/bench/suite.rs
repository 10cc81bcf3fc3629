//! The kernel benchmark: every kernel at the shapes of ResNet-20's layers (CIFAR-10,
//! 3x32x32) at a given batch, with the one-thread-per-output matmul and conv kept as
//! baselines. Items run one at a time so the page can show each as it arrives.

use serde::Serialize;

use super::ms_per_run;
use crate::checks::random_values;
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::kernels::conv::{
    self, ChannelSlices, Conv, ConvForward, ConvShape, ForwardAlgorithm, WeightGradAlgorithm,
};
use crate::kernels::data::{DatasetBuffers, Gather, GatherSettings, ImageShape};
use crate::kernels::linear::{self, LinearShape};
use crate::kernels::matmul::{Matmul, MatmulShape};
use crate::kernels::norm::{self, Affine, NormSettings, NormShape, Running};
use crate::kernels::optim::{Sgd, SgdBuffers, SgdSettings};
use crate::kernels::pool::{self, PoolKind, PoolShape};
use crate::kernels::{elementwise, ensemble, loss, Operand};

/// Parameters in ResNet-20 (He et al.'s CIFAR ResNet, 3 stages of 3 blocks).
const RESNET20_PARAMS: u32 = 272_474;

/// Which part of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvPart {
    /// Forward, register tiles, with the naive baseline and im2col + matmul beside it.
    Forward,
    /// Forward, workgroup-memory tiles (GPUs').
    ForwardShared,
    /// Gradient of the input, register tiles.
    InputGrad,
    /// Gradient of the input, workgroup-memory tiles (GPUs').
    InputGradShared,
    /// Gradient of the weights, register tiles (software adapters' kernel).
    WeightGrad,
    /// Gradient of the weights, workgroup-memory tiles: the measured choice where it is
    /// theirs, else their default split (GPUs').
    WeightGradShared,
    /// The same cut and width by the other of the plain and the prefetching kernels, to
    /// show what prefetching changes on this adapter.
    WeightGradSharedTwin,
    /// Forward, register tiles by their subgroup build (browsers with 4-lane subgroups).
    ForwardSubgroup,
    /// Gradient of the input, register tiles by their subgroup build.
    InputGradSubgroup,
    /// Gradient of the weights, register tiles by their subgroup build.
    WeightGradSubgroup,
}

/// One benchmark item.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// A square-ish matrix product, with the naive baseline.
    Matmul {
        /// Sizes.
        shape: MatmulShape,
    },
    /// A convolution of the network.
    Conv {
        /// Which layer.
        layer: &'static str,
        /// Sizes.
        shape: ConvShape,
        /// Which kernel.
        part: ConvPart,
    },
    /// Batch norm with ReLU: training forward (statistics + apply), backward, inference.
    Norm {
        /// Sizes.
        shape: NormShape,
        /// Training forward, backward or inference.
        pass: &'static str,
    },
    /// ReLU forward and the residual add over one activation.
    Elementwise {
        /// Kernel.
        kernel: &'static str,
        /// Elements.
        len: u32,
    },
    /// Pooling.
    Pool {
        /// Kind.
        kind: PoolKind,
        /// Input sizes.
        shape: PoolShape,
        /// Backward instead of forward.
        backward: bool,
    },
    /// The classifier head.
    Linear {
        /// Sizes.
        shape: LinearShape,
    },
    /// Softmax cross-entropy and metric accumulation.
    Loss {
        /// Batch.
        batch: u32,
        /// Classes.
        classes: u32,
    },
    /// One SGD step over all parameters.
    Sgd {
        /// Parameters.
        params: u32,
    },
    /// Gathering and augmenting a batch.
    Gather {
        /// Batch.
        batch: u32,
    },
    /// Adding one snapshot to the ensemble over a test set.
    Ensemble {
        /// Test images.
        n: u32,
        /// Classes.
        classes: u32,
    },
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Kernel and layer.
    pub kernel: String,
    /// Sizes.
    pub shape: String,
    /// Milliseconds per launch (all of the op's dispatches).
    pub ms: f64,
    /// Arithmetic throughput, for compute-bound kernels.
    pub gflops: Option<f64>,
    /// Memory throughput counting each tensor read and written once, for the others.
    pub gbps: Option<f64>,
    /// The one-thread-per-output baseline's milliseconds, where there is one.
    pub naive_ms: Option<f64>,
    /// naive_ms / ms.
    pub speedup_vs_naive: Option<f64>,
    /// Conv forward only: milliseconds of the alternative, im2col then matmul.
    pub im2col_matmul_ms: Option<f64>,
    /// Conv forward only: what the start-up choice (`conv::choose_forward`) picks here.
    pub picked: Option<ForwardAlgorithm>,
    /// Floating-point operations per launch (for comparisons with other processors).
    pub flops: f64,
}

fn conv(n: u32, c: u32, hw: u32, k: u32, r: u32, stride: u32) -> ConvShape {
    ConvShape {
        n,
        c,
        h: hw,
        w: hw,
        k,
        r,
        s: r,
        stride,
        pad: r / 2,
    }
}

/// Every item at batch `batch`, in order.
pub fn items(batch: u32, subgroups: bool) -> Vec<Item> {
    let b = batch;
    let mut out = vec![Item::Matmul {
        shape: MatmulShape::new(1024, 1024, 1024),
    }];
    let layers = [
        ("stem", conv(b, 3, 32, 16, 3, 1)),
        ("stage 1", conv(b, 16, 32, 16, 3, 1)),
        ("stage 2 down", conv(b, 16, 32, 32, 3, 2)),
        ("stage 2 shortcut", conv(b, 16, 32, 32, 1, 2)),
        ("stage 2", conv(b, 32, 16, 32, 3, 1)),
        ("stage 3 down", conv(b, 32, 16, 64, 3, 2)),
        ("stage 3", conv(b, 64, 8, 64, 3, 1)),
    ];
    for (layer, shape) in layers {
        for part in [
            ConvPart::Forward,
            ConvPart::ForwardShared,
            ConvPart::InputGrad,
            ConvPart::InputGradShared,
            ConvPart::WeightGrad,
            ConvPart::WeightGradShared,
            ConvPart::WeightGradSharedTwin,
            ConvPart::ForwardSubgroup,
            ConvPart::InputGradSubgroup,
            ConvPart::WeightGradSubgroup,
        ] {
            let subgroup_build = matches!(
                part,
                ConvPart::ForwardSubgroup
                    | ConvPart::InputGradSubgroup
                    | ConvPart::WeightGradSubgroup
            );
            if subgroups || !subgroup_build {
                out.push(Item::Conv { layer, shape, part });
            }
        }
    }
    for (c, hw) in [(16, 1024), (32, 256), (64, 64)] {
        let shape = NormShape {
            n: b,
            c,
            hw,
            x_channels: c,
        };
        for pass in [
            "training forward",
            "training forward in parts",
            "backward",
            "backward in parts",
            "inference",
        ] {
            out.push(Item::Norm { shape, pass });
        }
    }
    for kernel in [elementwise::RELU, elementwise::ADD] {
        out.push(Item::Elementwise {
            kernel,
            len: b * 16 * 1024,
        });
    }
    let act = PoolShape {
        n: b,
        c: 16,
        h: 32,
        w: 32,
    };
    let last = PoolShape {
        n: b,
        c: 64,
        h: 8,
        w: 8,
    };
    for (kind, shape) in [
        (PoolKind::Max, act),
        (PoolKind::Avg, act),
        (PoolKind::Global, last),
    ] {
        for backward in [false, true] {
            out.push(Item::Pool {
                kind,
                shape,
                backward,
            });
        }
    }
    out.push(Item::Linear {
        shape: LinearShape {
            batch: b,
            inputs: 64,
            outputs: 10,
        },
    });
    out.push(Item::Loss {
        batch: b,
        classes: 10,
    });
    out.push(Item::Sgd {
        params: RESNET20_PARAMS,
    });
    out.push(Item::Gather { batch: b });
    out.push(Item::Ensemble {
        n: 10_000,
        classes: 10,
    });
    out
}

/// A storage buffer of `len` random values.
fn random(gpu: &Gpu, len: usize, seed: u64) -> Result<wgpu::Buffer, GpuError> {
    gpu.storage_from("bench", &random_values(seed, len))
}

/// A zeroed storage buffer of `len` floats.
fn zeros(gpu: &Gpu, len: usize) -> Result<wgpu::Buffer, GpuError> {
    gpu.storage("bench", len as u64 * 4)
}

fn row(kernel: String, shape: String, ms: f64, flops: f64, bytes: f64) -> Row {
    let secs = ms * 1e-3;
    Row {
        kernel,
        shape,
        ms,
        gflops: (flops > 0.0).then(|| flops / secs / 1e9),
        gbps: (flops == 0.0).then(|| bytes / secs / 1e9),
        naive_ms: None,
        speedup_vs_naive: None,
        im2col_matmul_ms: None,
        picked: None,
        flops,
    }
}

fn with_naive(mut r: Row, naive_ms: f64) -> Row {
    r.naive_ms = Some(naive_ms);
    r.speedup_vs_naive = Some(naive_ms / r.ms);
    r
}

/// Measures one item for at least `min_seconds` per timed op.
pub async fn run_item(gpu: &Gpu, item: &Item, min_seconds: f64) -> Result<Row, GpuError> {
    match item {
        Item::Matmul { shape } => matmul(gpu, min_seconds, *shape).await,
        Item::Conv { layer, shape, part } => {
            conv_part(gpu, min_seconds, layer, *shape, *part).await
        }
        Item::Norm { shape, pass } => norm_pass(gpu, min_seconds, *shape, pass).await,
        Item::Elementwise { kernel, len } => elementwise_op(gpu, min_seconds, kernel, *len).await,
        Item::Pool {
            kind,
            shape,
            backward,
        } => pool_op(gpu, min_seconds, *kind, *shape, *backward).await,
        Item::Linear { shape } => linear_forward(gpu, min_seconds, *shape).await,
        Item::Loss { batch, classes } => loss_pair(gpu, min_seconds, *batch, *classes).await,
        Item::Sgd { params } => sgd_step(gpu, min_seconds, *params).await,
        Item::Gather { batch } => gather(gpu, min_seconds, *batch).await,
        Item::Ensemble { n, classes } => ensemble_accumulate(gpu, min_seconds, *n, *classes).await,
    }
}

/// The whole buffer as an operand.
fn w(buffer: &wgpu::Buffer) -> Operand<'_> {
    Operand::whole(buffer)
}

/// Milliseconds per run of `ops`, timed for at least `min_seconds`.
async fn time(gpu: &Gpu, min_seconds: f64, ops: Vec<Dispatch>) -> Result<f64, GpuError> {
    let refs: Vec<&Dispatch> = ops.iter().collect();
    ms_per_run(gpu, &refs, min_seconds).await.map(|(ms, _)| ms)
}

/// A matmul beside the naive one.
async fn matmul(gpu: &Gpu, min_seconds: f64, shape: MatmulShape) -> Result<Row, GpuError> {
    let (a, b, c) = (
        random(gpu, shape.a_len(), 1)?,
        random(gpu, shape.b_len(), 2)?,
        zeros(gpu, shape.c_len())?,
    );
    let fast = Matmul::new(gpu, shape, w(&a), w(&b), w(&c))?;
    let naive = Matmul::naive(gpu, shape, w(&a), w(&b), w(&c))?;
    let ms = time(gpu, min_seconds, fast.dispatches().to_vec()).await?;
    let naive_ms = time(gpu, min_seconds, naive.dispatches().to_vec()).await?;
    let r = row(
        "matmul".into(),
        format!("{}x{}x{}", shape.m, shape.n, shape.k),
        ms,
        shape.flops(),
        0.0,
    );
    Ok(with_naive(r, naive_ms))
}

/// One conv kernel at one layer's shape; the forward also beside the naive kernel and
/// im2col + matmul, with the choice the plan would make.
async fn conv_part(
    gpu: &Gpu,
    min_seconds: f64,
    layer: &str,
    shape: ConvShape,
    part: ConvPart,
) -> Result<Row, GpuError> {
    let s = shape;
    let slices = ChannelSlices::dense(&s);
    let (x, wt, y) = (
        random(gpu, s.x_len(), 1)?,
        random(gpu, s.w_len(), 2)?,
        random(gpu, s.y_len(), 3)?,
    );
    let out_x = zeros(gpu, s.x_len())?;
    let out_w = zeros(gpu, s.w_len())?;
    let out_y = zeros(gpu, s.y_len())?;
    // The workgroup-memory weight gradient as training would run it on this adapter: its
    // measured cut and width where it is the measured choice, else its default.
    let shared = match part {
        ConvPart::WeightGradShared | ConvPart::WeightGradSharedTwin => {
            match conv::choose_weight_grad(gpu, s).await? {
                chosen @ WeightGradAlgorithm::Shared { .. } => chosen,
                _ => WeightGradAlgorithm::shared_default(&s),
            }
        }
        _ => WeightGradAlgorithm::shared_default(&s),
    };
    let shared = match (part, shared) {
        (
            ConvPart::WeightGradSharedTwin,
            WeightGradAlgorithm::Shared {
                across, prefetch, ..
            },
        ) if across >= conv::SHARED_PREFETCH_FEWEST_ACROSS => shared.with_prefetch(!prefetch),
        _ => shared,
    };
    let name = match part {
        ConvPart::Forward => "conv forward".to_string(),
        ConvPart::ForwardShared => "conv forward shared".to_string(),
        ConvPart::InputGrad => "conv input grad".to_string(),
        ConvPart::InputGradShared => "conv input grad shared".to_string(),
        ConvPart::WeightGrad => "conv weight grad".to_string(),
        ConvPart::WeightGradShared | ConvPart::WeightGradSharedTwin => {
            format!("conv weight grad {}", shared.label())
        }
        ConvPart::ForwardSubgroup => "conv forward subgroup".to_string(),
        ConvPart::InputGradSubgroup => "conv input grad subgroup".to_string(),
        ConvPart::WeightGradSubgroup => "conv weight grad subgroup".to_string(),
    };
    let op = match part {
        ConvPart::Forward => Conv::forward(gpu, s, slices, w(&x), w(&wt), None, w(&out_y))?,
        ConvPart::ForwardShared => {
            Conv::forward_shared(gpu, s, slices, w(&x), w(&wt), None, w(&out_y))?
        }
        ConvPart::InputGrad => Conv::input_grad(gpu, s, slices, w(&y), w(&wt), w(&out_x), false)?,
        ConvPart::InputGradShared => {
            let shared = conv::InputGradAlgorithm::Shared;
            let (dy, wt, dx) = (w(&y), w(&wt), w(&out_x));
            Conv::input_grad_by(gpu, shared, s, slices, dy, wt, dx, false)?
        }
        ConvPart::WeightGrad => Conv::weight_grad(gpu, s, slices, w(&x), w(&y), w(&out_w))?,
        ConvPart::WeightGradShared | ConvPart::WeightGradSharedTwin => {
            let (x, dy, dw) = (w(&x), w(&y), w(&out_w));
            Conv::weight_grad_by(gpu, shared, s, slices, x, dy, dw)?
        }
        ConvPart::ForwardSubgroup => {
            Conv::forward_subgroup(gpu, s, slices, w(&x), w(&wt), None, w(&out_y))?
        }
        ConvPart::InputGradSubgroup => {
            let algorithm = conv::InputGradAlgorithm::RegistersSubgroup;
            let (dy, wt, dx) = (w(&y), w(&wt), w(&out_x));
            Conv::input_grad_by(gpu, algorithm, s, slices, dy, wt, dx, false)?
        }
        ConvPart::WeightGradSubgroup => {
            let algorithm = WeightGradAlgorithm::RegistersSubgroup;
            let (x, dy, dw) = (w(&x), w(&y), w(&out_w));
            Conv::weight_grad_by(gpu, algorithm, s, slices, x, dy, dw)?
        }
    };
    let ms = time(gpu, min_seconds, op.dispatches().to_vec()).await?;
    let r = row(
        format!("{name} ({layer})"),
        s.describe(),
        ms,
        s.flops(),
        0.0,
    );
    if part != ConvPart::Forward {
        return Ok(r);
    }
    let naive = Conv::forward_naive(gpu, s, slices, w(&x), w(&wt), None, w(&out_y))?;
    let mut r = with_naive(
        r,
        time(gpu, min_seconds, naive.dispatches().to_vec()).await?,
    );
    let im2col = ConvForward::new(
        gpu,
        ForwardAlgorithm::Im2colMatmul,
        s,
        slices,
        w(&x),
        w(&wt),
        None,
        w(&out_y),
    )?;
    let pair: Vec<Dispatch> = im2col.dispatches().into_iter().cloned().collect();
    r.im2col_matmul_ms = Some(time(gpu, min_seconds, pair).await?);
    r.picked = Some(conv::choose_forward(gpu, s, &ForwardAlgorithm::ALL).await?);
    Ok(r)
}

/// One batch-norm pass (training forward, backward or inference), in one pass or in parts.
async fn norm_pass(
    gpu: &Gpu,
    min_seconds: f64,
    shape: NormShape,
    pass: &str,
) -> Result<Row, GpuError> {
    let s = shape;
    let c = s.c as usize;
    let set = NormSettings {
        relu: true,
        ..NormSettings::default()
    };
    let x = random(gpu, s.x_len(), 1)?;
    let dy = random(gpu, s.len(), 2)?;
    let y = zeros(gpu, s.len())?;
    let dx = zeros(gpu, s.x_len())?;
    let params = gpu.storage_from("gamma beta", &[vec![1f32; c], vec![0f32; c]].concat())?;
    let grads = zeros(gpu, 2 * c)?;
    let saved = zeros(gpu, 2 * c)?;
    // Running mean, running variance, then the divergence guard.
    let state = gpu.storage_from("running", &[vec![0f32; c], vec![1f32; c + 1]].concat())?;
    let affine = Affine {
        buffer: &params,
        gamma: 0,
        beta: s.c,
    };
    let grad_affine = Affine {
        buffer: &grads,
        gamma: 0,
        beta: s.c,
    };
    let running = Running {
        buffer: &state,
        mean: 0,
        var: s.c,
        guard: 2 * s.c,
    };
    // One pass with a workgroup per channel, or the reductions cut into parts of
    // whole images (the GPUs' variant) and merged.
    let parts = match pass.ends_with("in parts") {
        true => norm::reduction_parts(&s),
        false => 1,
    };
    let saved_op = w(&saved);
    let ops = match pass {
        "training forward" | "training forward in parts" => [
            norm::stats_in_parts(gpu, s, set, w(&x), saved_op, running, parts)?,
            vec![norm::apply(gpu, s, set, w(&x), affine, w(&saved), w(&y))?],
        ]
        .concat(),
        "backward" | "backward in parts" => [
            norm::grad_reduce_in_parts(
                gpu,
                s,
                set,
                w(&x),
                w(&dy),
                affine,
                saved_op,
                grad_affine,
                parts,
            )?,
            vec![norm::grad_apply(
                gpu,
                s,
                set,
                w(&x),
                w(&dy),
                affine,
                w(&saved),
                grad_affine,
                w(&dx),
                false,
            )?],
        ]
        .concat(),
        _ => vec![norm::inference(gpu, s, set, w(&x), affine, running, w(&y))?],
    };
    let tensors = if pass.starts_with("backward") {
        3.0
    } else {
        2.0
    };
    let ms = time(gpu, min_seconds, ops).await?;
    Ok(row(
        format!("batch norm + relu {pass}"),
        format!("{}x{}x{}", s.n, s.c, s.hw),
        ms,
        0.0,
        tensors * 4.0 * s.len() as f64,
    ))
}

/// ReLU or the residual add.
async fn elementwise_op(
    gpu: &Gpu,
    min_seconds: f64,
    kernel: &str,
    len: u32,
) -> Result<Row, GpuError> {
    let n = len as usize;
    let (a, b, out) = (random(gpu, n, 1)?, random(gpu, n, 2)?, zeros(gpu, n)?);
    let (op, tensors) = if kernel == elementwise::ADD {
        (elementwise::add(gpu, len, w(&a), w(&b), w(&out))?, 3.0)
    } else {
        (elementwise::relu(gpu, len, w(&a), w(&out))?, 2.0)
    };
    let ms = time(gpu, min_seconds, vec![op]).await?;
    Ok(row(
        kernel.replace('_', " "),
        format!("{len} elements"),
        ms,
        0.0,
        tensors * 4.0 * n as f64,
    ))
}

/// A pooling kernel, forward or backward.
async fn pool_op(
    gpu: &Gpu,
    min_seconds: f64,
    kind: PoolKind,
    shape: PoolShape,
    backward: bool,
) -> Result<Row, GpuError> {
    let (x, dx) = (random(gpu, shape.x_len(), 1)?, zeros(gpu, shape.x_len())?);
    let (dy, y) = (
        random(gpu, shape.y_len(kind), 2)?,
        zeros(gpu, shape.y_len(kind))?,
    );
    let op = if backward {
        let input = (kind == PoolKind::Max).then(|| w(&x));
        pool::backward(gpu, kind, shape, w(&dy), input, w(&dx))?
    } else {
        pool::forward(gpu, kind, shape, w(&x), w(&y))?
    };
    let ms = time(gpu, min_seconds, vec![op]).await?;
    let name = if backward {
        kind.backward_kernel()
    } else {
        kind.forward_kernel()
    };
    let bytes = 4.0 * (shape.x_len() + shape.y_len(kind)) as f64;
    let s = shape;
    Ok(row(
        name.replace('_', " "),
        format!("{}x{}x{}x{}", s.n, s.c, s.h, s.w),
        ms,
        0.0,
        bytes,
    ))
}

/// The linear layer's forward.
async fn linear_forward(gpu: &Gpu, min_seconds: f64, shape: LinearShape) -> Result<Row, GpuError> {
    let s = shape;
    let (bt, i, o) = (s.batch as usize, s.inputs as usize, s.outputs as usize);
    let (x, wt, b, y) = (
        random(gpu, bt * i, 1)?,
        random(gpu, o * i, 2)?,
        random(gpu, o, 3)?,
        zeros(gpu, bt * o)?,
    );
    let ops = linear::forward(gpu, s, w(&x), w(&wt), w(&b), w(&y))?;
    let ms = time(gpu, min_seconds, ops).await?;
    let flops = 2.0 * (bt * i * o) as f64;
    Ok(row(
        "linear forward".into(),
        format!("{bt} x {i} -> {o}"),
        ms,
        flops,
        0.0,
    ))
}

/// The loss and its metric accumulation.
async fn loss_pair(gpu: &Gpu, min_seconds: f64, batch: u32, classes: u32) -> Result<Row, GpuError> {
    let n = (batch * classes) as usize;
    let logits = random(gpu, n, 1)?;
    let labels = gpu.storage_from("labels", &vec![1u32; batch as usize])?;
    let (grad, stats, metrics) = (
        zeros(gpu, n)?,
        zeros(gpu, 2 * batch as usize)?,
        zeros(gpu, loss::METRICS_LEN)?,
    );
    let guard = zeros(gpu, 1)?;
    let ops = vec![
        loss::softmax_cross_entropy(
            gpu,
            batch,
            classes,
            w(&logits),
            w(&labels),
            w(&grad),
            w(&stats),
        )?,
        loss::accumulate_metrics(gpu, batch, w(&stats), w(&metrics), w(&guard))?,
    ];
    let ms = time(gpu, min_seconds, ops).await?;
    Ok(row(
        "softmax cross-entropy + metrics".into(),
        format!("{batch} x {classes}"),
        ms,
        0.0,
        8.0 * n as f64,
    ))
}

/// One SGD step with the gradient check before it.
async fn sgd_step(gpu: &Gpu, min_seconds: f64, params: u32) -> Result<Row, GpuError> {
    let n = params as usize;
    let (p, g, m) = (random(gpu, n, 1)?, random(gpu, n, 2)?, zeros(gpu, n)?);
    let starts = gpu.storage_from("starts", &[0u32, params / 2, params])?;
    let lrs = gpu.storage_from("lrs", &[0.1f32, 0.1])?;
    let guard = zeros(gpu, 1)?;
    let buffers = SgdBuffers {
        params: &p,
        grads: &g,
        momentum: &m,
        block_starts: w(&starts),
        lrs: w(&lrs),
        guard: w(&guard),
    };
    let settings = SgdSettings {
        momentum: 0.9,
        weight_decay: 1e-4,
        nesterov: true,
        first_step: false,
    };
    let sgd = Sgd::new(gpu, &buffers, 2, 0..params, settings)?;
    let ms = time(
        gpu,
        min_seconds,
        sgd.dispatches().into_iter().cloned().collect(),
    )
    .await?;
    // Reads p, g, m; writes p, m (and reads g once more to check it is finite).
    Ok(row(
        "sgd (nesterov, weight decay)".into(),
        format!("{params} parameters"),
        ms,
        0.0,
        20.0 * n as f64,
    ))
}

/// The batch gather with crop, flip and normalisation.
async fn gather(gpu: &Gpu, min_seconds: f64, batch: u32) -> Result<Row, GpuError> {
    let shape = ImageShape {
        channels: 3,
        h: 32,
        w: 32,
    };
    let count = 1000u32;
    let mut rng = fastrand::Rng::with_seed(1);
    let bytes: Vec<u8> = (0..count as usize * shape.len())
        .map(|_| rng.u8(..))
        .collect();
    let images = gpu.storage_from("images", &bytes)?;
    let labels = gpu.storage_from("labels", &vec![0u32; count as usize])?;
    let mut order: Vec<u32> = (0..count).collect();
    rng.shuffle(&mut order);
    let indices = gpu.storage_from("indices", &order)?;
    let out = zeros(gpu, batch as usize * shape.len())?;
    let out_labels = zeros(gpu, batch as usize)?;
    let data = DatasetBuffers {
        images: w(&images),
        labels: w(&labels),
        count,
    };
    let settings = GatherSettings {
        pad: 4,
        flip: true,
        seed: 1,
        mean: [0.5; 4],
        std: [0.25; 4],
    };
    let g = Gather::new(
        gpu,
        &data,
        shape,
        batch,
        &settings,
        w(&indices),
        w(&out),
        w(&out_labels),
    )?;
    let ms = time(gpu, min_seconds, vec![g.dispatch().clone()]).await?;
    let bytes = (batch as usize * shape.len()) as f64 * 5.0; // u8 in, f32 out
    Ok(row(
        "gather + crop + flip + normalise".into(),
        format!("{batch} x 3x32x32"),
        ms,
        0.0,
        bytes,
    ))
}

/// The ensemble's softmax accumulation.
async fn ensemble_accumulate(
    gpu: &Gpu,
    min_seconds: f64,
    n: u32,
    classes: u32,
) -> Result<Row, GpuError> {
    let len = (n * classes) as usize;
    let (logits, sum, votes) = (
        random(gpu, len, 1)?,
        zeros(gpu, len)?,
        zeros(gpu, n as usize)?,
    );
    let op = ensemble::softmax_accumulate(gpu, n, classes, w(&logits), w(&sum), w(&votes))?;
    let ms = time(gpu, min_seconds, vec![op]).await?;
    Ok(row(
        "ensemble softmax accumulate".into(),
        format!("{n} x {classes}"),
        ms,
        0.0,
        12.0 * len as f64,
    ))
}
