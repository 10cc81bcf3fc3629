//! The static training plan (docs/design.md §3.2): for one model and batch size, every buffer and
//! bind group is made here, once. A training step then only records the prepared dispatches
//! of each block; nothing is allocated while training runs.

use std::collections::HashMap;

use serde::Serialize;

use super::arch::{ActShape, Architecture, BlockKind, HeadPool};
use super::geometry::BlockGeometry;
use super::params::Layouts;
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::kernels::conv::{
    self, ChannelSlices, Conv, ConvForward, ConvShape, ForwardAlgorithm, InputGradAlgorithm,
    WeightGradAlgorithm,
};
use crate::kernels::linear::{self, LinearShape};
use crate::kernels::norm::{self, pooled, Affine, NormSettings, NormShape, Running};
use crate::kernels::pool::{self, PoolKind, PoolShape};
use crate::kernels::{elementwise, Operand};

/// How each convolution's forward algorithm is picked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardChoice {
    /// Time the algorithms per layer shape on this adapter and keep the fastest (the
    /// default; two runs can then differ in the last bits if the timings flip).
    #[default]
    Measure,
    /// Always an implicit GEMM (register or workgroup-memory tiles, as [`KernelVariants`]
    /// says): bit-for-bit repeatable runs on one platform when the variants are fixed too.
    Implicit,
    /// Always im2col + matmul.
    Im2col,
}

/// How the kernels that come in two variants are picked: one for software adapters (no
/// workgroup memory, few workgroups, few barriers) and one for GPUs (workgroup-memory tiles,
/// work cut into many workgroups). `Measure` also times, once per device in browsers whose
/// adapter has subgroups of four lanes, the register tiles' subgroup build (same bits,
/// fewer loads; `conv::choose_subgroup_rows`), and the register tiles' rows per invocation
/// below 32 channels (`conv::choose_register_block`). Today: the convolutions' implicit-GEMM forward and input
/// gradient (register or workgroup-memory tiles), their weight gradient (register tiles, or
/// workgroup-memory tiles split over the batch) and batch norm's per-channel reductions
/// (one pass with a workgroup per channel, or per-part sums merged by a second pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelVariants {
    /// Time both variants (and, where the GPU one wins, the weight gradient's splits) per
    /// layer shape on this adapter and keep the fastest.
    #[default]
    Measure,
    /// Always the software adapters' variants.
    Registers,
    /// Always the GPUs' variants at their default splits.
    Shared,
}

/// A block's prepared work, in the order to record it.
#[derive(Debug, Default)]
pub struct BlockPlan {
    /// Forward in training mode (batch statistics, running statistics updated).
    pub train: Vec<Dispatch>,
    /// Forward in inference mode (running statistics): evaluation, and frozen blocks.
    pub infer: Vec<Dispatch>,
    /// Backward inside the block: parameter gradients and internal gradients.
    pub backward: Vec<Dispatch>,
    /// The gradient of the block's input, run after `backward`; skipped when nothing
    /// before the block trains (the input is data, or FreezeOut froze the blocks before).
    pub input_grad: Vec<Dispatch>,
    /// FLOPs of the forward pass; the weight gradients and the input gradient each cost
    /// about as much again.
    pub forward_flops: f64,
}

/// One model at one batch size on the GPU.
pub struct Plan {
    /// The network.
    pub arch: Architecture,
    /// Where its tensors live.
    pub layouts: Layouts,
    /// Batch size.
    pub batch: u32,
    /// Parameters, block after block.
    pub params: wgpu::Buffer,
    /// Gradients, laid out as the parameters.
    pub grads: wgpu::Buffer,
    /// Batch-norm running statistics.
    pub state: wgpu::Buffer,
    /// Activations between blocks: 0 is the input batch, the last the logits.
    pub acts: Vec<wgpu::Buffer>,
    /// Their gradients (none for the input).
    pub act_grads: Vec<Option<wgpu::Buffer>>,
    /// The blocks' prepared work.
    pub blocks: Vec<BlockPlan>,
    /// The forward algorithm chosen for each distinct convolution shape.
    pub algorithms: Vec<(ConvShape, ForwardAlgorithm)>,
    /// The input-gradient kernel chosen for each distinct convolution shape.
    pub input_grads: Vec<(ConvShape, InputGradAlgorithm)>,
    /// The weight-gradient kernel chosen for each distinct convolution shape.
    pub weight_grads: Vec<(ConvShape, WeightGradAlgorithm)>,
    // Buffers only the prepared dispatches refer to; kept alive here.
    _owned: Vec<wgpu::Buffer>,
    _convs: Vec<ConvForward>,
}

impl Plan {
    /// Builds everything for `arch` at batch size `batch`; `choice` says how to pick the
    /// convolutions' forward algorithm, `variants` the kernels that come in a software
    /// adapter's and a GPU's variant.
    pub async fn new(
        gpu: &Gpu,
        arch: Architecture,
        batch: u32,
        choice: ForwardChoice,
        variants: KernelVariants,
    ) -> Result<Plan, GpuError> {
        let geometry: Vec<BlockGeometry> = (0..arch.blocks.len())
            .map(|b| BlockGeometry::new(&arch, b, batch))
            .collect();
        let mut algorithms = choose_algorithms(gpu, &geometry, choice, variants).await?;
        let mut input_grads = choose_input_grads(gpu, &geometry, variants).await?;
        let mut weight_grads = choose_weight_grads(gpu, &geometry, variants).await?;
        if variants == KernelVariants::Measure {
            // The register tiles by their subgroup build, where the device has one and it
            // wins on the costliest layer (the same bits either way).
            let costliest = geometry
                .iter()
                .flat_map(|g| g.convs.iter())
                .max_by(|a, b| a.flops().total_cmp(&b.flops()));
            let mut subgroup = false;
            if let Some(&shape) = costliest {
                subgroup = conv::choose_subgroup_rows(gpu, shape).await?;
                if subgroup {
                    algorithms
                        .values_mut()
                        .for_each(|a| *a = a.with_subgroup_rows());
                    input_grads
                        .values_mut()
                        .for_each(|a| *a = a.with_subgroup_rows());
                    weight_grads
                        .values_mut()
                        .for_each(|a| *a = a.with_subgroup_rows());
                }
            }
            // The register tiles' rows per invocation below 32 channels (8 or 16; the same
            // bits either way), timed on the costliest such layer by the build that runs.
            let narrow = geometry
                .iter()
                .flat_map(|g| g.convs.iter())
                .filter(|s| !conv::RegisterBlock::tall_fits(s.k))
                .max_by(|a, b| a.flops().total_cmp(&b.flops()));
            if let Some(&shape) = narrow {
                conv::choose_register_block(gpu, shape, subgroup).await?;
            }
        }
        let norm_parts = choose_norm_parts(gpu, &geometry, batch, variants).await?;
        let layouts = Layouts::new(&arch);
        let bytes = |elements: usize| elements as u64 * 4;
        let params = gpu.storage("parameters", bytes(layouts.params.len as usize))?;
        let grads = gpu.storage("gradients", bytes(layouts.params.len as usize))?;
        // The running statistics, then the divergence guard (see `Plan::guard`).
        let state = gpu.storage("running statistics", bytes(layouts.state.len as usize + 1))?;
        // Two floats per channel per norm, like the running statistics.
        let saved_len = layouts.state.len;
        let saved = gpu.storage("batch statistics", bytes(saved_len as usize))?;
        let mut acts = Vec::new();
        let mut act_grads = Vec::new();
        for (i, a) in arch.activations.iter().enumerate() {
            let len = bytes(batch as usize * a.per_image());
            acts.push(gpu.storage(&format!("activation {i}"), len)?);
            act_grads.push(if i == 0 {
                None
            } else {
                Some(gpu.storage(&format!("activation {i} gradient"), len)?)
            });
        }
        let workspace_len = geometry
            .iter()
            .flat_map(|g| g.convs.iter())
            .filter(|s| algorithms.get(*s).is_some_and(|a| a.uses_im2col()))
            .map(conv::im2col_len)
            .max();
        let workspace = match workspace_len {
            Some(len) => Some(gpu.storage("im2col workspace", bytes(len))?),
            None => None,
        };
        let mut ctx = Ctx {
            gpu,
            n: batch,
            layouts: &layouts,
            params: &params,
            grads: &grads,
            state: &state,
            saved: &saved,
            saved_next: 0,
            saved_at: HashMap::new(),
            workspace: workspace.as_ref(),
            algorithms: &algorithms,
            input_grads: &input_grads,
            weight_grads: &weight_grads,
            norm_parts: &norm_parts,
            convs: Vec::new(),
            owned: Vec::new(),
            pool: HashMap::new(),
        };
        let mut blocks = Vec::new();
        for (b, g) in geometry.iter().enumerate() {
            // Each block makes dozens of pipelines and bind groups: in the page, one task
            // for all of them held the main thread too long.
            crate::gpu::timing::yield_to_page().await;
            let spec = &arch.blocks[b];
            let io = Io {
                x: &acts[spec.input],
                dx: act_grads[spec.input].as_ref(),
                x_shape: arch.activations[spec.input],
                y: &acts[spec.output],
                dy: act_grads[spec.output]
                    .as_ref()
                    .expect("only the input has no gradient"),
                y_shape: arch.activations[spec.output],
            };
            let mut plan = ctx.block(&spec.kind, g, &io)?;
            plan.forward_flops = g.forward_flops(batch);
            blocks.push(plan);
        }
        let (mut owned, convs) = (ctx.owned, ctx.convs);
        owned.extend(ctx.pool.into_values());
        owned.push(saved);
        owned.extend(workspace);
        let mut algorithms: Vec<_> = algorithms.into_iter().collect();
        algorithms.sort_by_key(|(s, _)| (s.c, s.h, s.k, s.r, s.stride));
        let mut input_grads: Vec<_> = input_grads.into_iter().collect();
        input_grads.sort_by_key(|(s, _)| (s.c, s.h, s.k, s.r, s.stride));
        let mut weight_grads: Vec<_> = weight_grads.into_iter().collect();
        weight_grads.sort_by_key(|(s, _)| (s.c, s.h, s.k, s.r, s.stride));
        Ok(Plan {
            arch,
            layouts,
            batch,
            params,
            grads,
            state,
            acts,
            act_grads,
            blocks,
            algorithms,
            input_grads,
            weight_grads,
            _owned: owned,
            _convs: convs,
        })
    }

    /// The logits of the last forward pass: [batch, classes].
    pub fn logits(&self) -> &wgpu::Buffer {
        self.acts.last().expect("a model has activations")
    }

    /// Where the loss writes the gradient of the logits.
    pub fn logits_grad(&self) -> &wgpu::Buffer {
        self.act_grads
            .last()
            .and_then(|g| g.as_ref())
            .expect("the logits have a gradient")
    }

    /// The divergence guard: one float after the running statistics, 0 while training is
    /// healthy. The batch norms, the loss and the gradient check set it to 1 on a NaN or an
    /// infinity, and SGD updates nothing while it is set (`shaders/optim.wgsl`).
    pub fn guard(&self) -> Operand<'_> {
        Operand {
            buffer: &self.state,
            offset: self.layouts.state.len,
        }
    }

    /// The input batch, [batch, c, h, w].
    pub fn input(&self) -> &wgpu::Buffer {
        &self.acts[0]
    }

    /// Input image shape.
    pub fn input_shape(&self) -> ActShape {
        self.arch.activations[0]
    }
}

/// The forward algorithms `choice` and `variants` leave to choose from.
fn forward_candidates(choice: ForwardChoice, variants: KernelVariants) -> Vec<ForwardAlgorithm> {
    use ForwardAlgorithm::*;
    let (implicit, im2col) = match variants {
        KernelVariants::Registers => (vec![ImplicitGemm], vec![Im2colMatmul]),
        KernelVariants::Shared => (vec![SharedTiles], vec![Im2colSharedMatmul]),
        KernelVariants::Measure => (
            vec![ImplicitGemm, SharedTiles],
            vec![Im2colMatmul, Im2colSharedMatmul],
        ),
    };
    match choice {
        ForwardChoice::Implicit => implicit,
        ForwardChoice::Im2col => im2col,
        ForwardChoice::Measure => [implicit, im2col].concat(),
    }
}

async fn choose_algorithms(
    gpu: &Gpu,
    geometry: &[BlockGeometry],
    choice: ForwardChoice,
    variants: KernelVariants,
) -> Result<HashMap<ConvShape, ForwardAlgorithm>, GpuError> {
    let candidates = forward_candidates(choice, variants);
    let mut chosen = HashMap::new();
    for shape in geometry.iter().flat_map(|g| g.convs.iter()) {
        if chosen.contains_key(shape) {
            continue;
        }
        let algorithm = conv::choose_forward(gpu, *shape, &candidates).await?;
        chosen.insert(*shape, algorithm);
    }
    Ok(chosen)
}

async fn choose_input_grads(
    gpu: &Gpu,
    geometry: &[BlockGeometry],
    choice: KernelVariants,
) -> Result<HashMap<ConvShape, InputGradAlgorithm>, GpuError> {
    let mut chosen = HashMap::new();
    for shape in geometry.iter().flat_map(|g| g.convs.iter()) {
        if chosen.contains_key(shape) {
            continue;
        }
        let algorithm = match choice {
            KernelVariants::Registers => InputGradAlgorithm::Registers,
            KernelVariants::Shared => InputGradAlgorithm::Shared,
            KernelVariants::Measure => conv::choose_input_grad(gpu, *shape).await?,
        };
        chosen.insert(*shape, algorithm);
    }
    Ok(chosen)
}

/// Parts of each batch norm's reductions, by (channels, positions per image).
async fn choose_norm_parts(
    gpu: &Gpu,
    geometry: &[BlockGeometry],
    n: u32,
    variants: KernelVariants,
) -> Result<HashMap<(u32, u32), u32>, GpuError> {
    let mut chosen = HashMap::new();
    for &(c, hw) in geometry.iter().flat_map(|g| g.norms.iter()) {
        if chosen.contains_key(&(c, hw)) {
            continue;
        }
        let shape = NormShape {
            n,
            c,
            hw,
            x_channels: c,
        };
        let parts = match variants {
            KernelVariants::Registers => 1,
            KernelVariants::Shared => norm::reduction_parts(&shape),
            KernelVariants::Measure => norm::choose_parts(gpu, shape).await?,
        };
        chosen.insert((c, hw), parts);
    }
    Ok(chosen)
}

async fn choose_weight_grads(
    gpu: &Gpu,
    geometry: &[BlockGeometry],
    choice: KernelVariants,
) -> Result<HashMap<ConvShape, WeightGradAlgorithm>, GpuError> {
    let mut chosen = HashMap::new();
    for shape in geometry.iter().flat_map(|g| g.convs.iter()) {
        if chosen.contains_key(shape) {
            continue;
        }
        let algorithm = match choice {
            KernelVariants::Registers => WeightGradAlgorithm::Registers,
            KernelVariants::Shared => WeightGradAlgorithm::shared_default(shape),
            KernelVariants::Measure => conv::choose_weight_grad(gpu, *shape).await?,
        };
        chosen.insert(*shape, algorithm);
    }
    Ok(chosen)
}

/// A block's input and output tensors and their gradients.
struct Io<'a> {
    x: &'a wgpu::Buffer,
    dx: Option<&'a wgpu::Buffer>,
    x_shape: ActShape,
    y: &'a wgpu::Buffer,
    dy: &'a wgpu::Buffer,
    y_shape: ActShape,
}

/// Everything the layer helpers share while the plan is built.
struct Ctx<'a> {
    gpu: &'a Gpu,
    n: u32,
    layouts: &'a Layouts,
    params: &'a wgpu::Buffer,
    grads: &'a wgpu::Buffer,
    state: &'a wgpu::Buffer,
    saved: &'a wgpu::Buffer,
    saved_next: u32,
    saved_at: HashMap<String, u32>,
    workspace: Option<&'a wgpu::Buffer>,
    algorithms: &'a HashMap<ConvShape, ForwardAlgorithm>,
    input_grads: &'a HashMap<ConvShape, InputGradAlgorithm>,
    weight_grads: &'a HashMap<ConvShape, WeightGradAlgorithm>,
    norm_parts: &'a HashMap<(u32, u32), u32>,
    convs: Vec<ConvForward>,
    owned: Vec<wgpu::Buffer>,
    pool: HashMap<(u64, usize), wgpu::Buffer>,
}

fn whole(buffer: &wgpu::Buffer) -> Operand<'_> {
    Operand::whole(buffer)
}

impl<'a> Ctx<'a> {
    /// A buffer of `elements` floats owned by one block (values kept for the backward pass).
    fn kept(&mut self, label: &str, elements: usize) -> Result<wgpu::Buffer, GpuError> {
        let buffer = self.gpu.storage(label, elements as u64 * 4)?;
        self.owned.push(buffer.clone());
        Ok(buffer)
    }

    /// A buffer of `elements` floats that only lives within one block's forward or backward
    /// pass, shared between blocks: slot `slot` of that size.
    fn shared(&mut self, elements: usize, slot: usize) -> Result<wgpu::Buffer, GpuError> {
        let key = (elements as u64 * 4, slot);
        if let Some(b) = self.pool.get(&key) {
            return Ok(b.clone());
        }
        let buffer = self.gpu.storage("block scratch", key.0)?;
        self.pool.insert(key, buffer.clone());
        Ok(buffer)
    }

    fn param(&self, name: &str) -> Operand<'a> {
        Operand {
            buffer: self.params,
            offset: self.layouts.params.offset(name),
        }
    }

    fn grad(&self, name: &str) -> Operand<'a> {
        Operand {
            buffer: self.grads,
            offset: self.layouts.params.offset(name),
        }
    }

    fn conv_forward(
        &mut self,
        shape: ConvShape,
        slices: ChannelSlices,
        x: &wgpu::Buffer,
        w: Operand<'_>,
        y: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let algorithm = self
            .algorithms
            .get(&shape)
            .copied()
            .unwrap_or(ForwardAlgorithm::ImplicitGemm);
        let op = match (algorithm.uses_im2col(), self.workspace) {
            (true, Some(ws)) => ConvForward::with_workspace(
                self.gpu,
                algorithm,
                shape,
                slices,
                whole(x),
                w,
                whole(y),
                ws,
            )?,
            _ => ConvForward::new(
                self.gpu,
                algorithm,
                shape,
                slices,
                whole(x),
                w,
                None,
                whole(y),
            )?,
        };
        let dispatches = op.dispatches().into_iter().cloned().collect();
        self.convs.push(op);
        Ok(dispatches)
    }

    fn conv_weight_grad(
        &self,
        name: &str,
        shape: ConvShape,
        slices: ChannelSlices,
        x: &wgpu::Buffer,
        dy: &wgpu::Buffer,
    ) -> Result<Vec<Dispatch>, GpuError> {
        let dw = self.grad(&format!("{name}.weight"));
        let algorithm = self
            .weight_grads
            .get(&shape)
            .copied()
            .unwrap_or(WeightGradAlgorithm::Registers);
        let (x, dy) = (whole(x), whole(dy));
        let op = Conv::weight_grad_by(self.gpu, algorithm, shape, slices, x, dy, dw)?;
        Ok(op.dispatches().to_vec())
    }

    #[allow(clippy::too_many_arguments)]
    fn conv_input_grad(
        &self,
        shape: ConvShape,
        slices: ChannelSlices,
        dy: &wgpu::Buffer,
        w: Operand<'_>,
        dx: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<Dispatch, GpuError> {
        let algorithm = self
            .input_grads
            .get(&shape)
            .copied()
            .unwrap_or(InputGradAlgorithm::Registers);
        let (dy, dx) = (whole(dy), whole(dx));
        let op = Conv::input_grad_by(self.gpu, algorithm, shape, slices, dy, w, dx, accumulate)?;
        Ok(op.dispatches()[0].clone())
    }

    fn affine(&self, name: &str, grads: bool) -> Affine<'a> {
        let e = |suffix: &str| self.layouts.params.offset(&format!("{name}.{suffix}"));
        Affine {
            buffer: if grads { self.grads } else { self.params },
            gamma: e("weight"),
            beta: e("bias"),
        }
    }

    fn running(&self, name: &str) -> Running<'a> {
        let e = |suffix: &str| self.layouts.state.offset(&format!("{name}.{suffix}"));
        Running {
            buffer: self.state,
            mean: e("running_mean"),
            var: e("running_var"),
            guard: self.layouts.state.len,
        }
    }

    fn saved_for(&mut self, name: &str, c: u32) -> Operand<'a> {
        let offset = match self.saved_at.get(name) {
            Some(&o) => o,
            None => {
                let o = self.saved_next;
                self.saved_next += 2 * c;
                self.saved_at.insert(name.to_string(), o);
                o
            }
        };
        Operand {
            buffer: self.saved,
            offset,
        }
    }

    /// The parts chosen for a batch norm's reductions (the default split if not chosen).
    fn parts_of(&self, shape: &NormShape) -> u32 {
        let chosen = self.norm_parts.get(&(shape.c, shape.hw)).copied();
        chosen.unwrap_or_else(|| norm::reduction_parts(shape))
    }

    /// Batch norm (+ ReLU) of `x` into dense `y`: (training forward, inference forward).
    fn norm_forward(
        &mut self,
        name: &str,
        shape: NormShape,
        relu: bool,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
    ) -> Result<(Vec<Dispatch>, Dispatch), GpuError> {
        let set = NormSettings {
            relu,
            ..NormSettings::default()
        };
        let saved = self.saved_for(name, shape.c);
        let (gpu, affine, running) = (self.gpu, self.affine(name, false), self.running(name));
        let parts = self.parts_of(&shape);
        let mut train = norm::stats_in_parts(gpu, shape, set, whole(x), saved, running, parts)?;
        train.push(norm::apply(
            gpu,
            shape,
            set,
            whole(x),
            affine,
            saved,
            whole(y),
        )?);
        let infer = norm::inference(gpu, shape, set, whole(x), affine, running, whole(y))?;
        Ok((train, infer))
    }

    /// Batch norm's backward: (dgamma and dbeta, then dx written or accumulated).
    #[allow(clippy::too_many_arguments)]
    fn norm_backward(
        &mut self,
        name: &str,
        shape: NormShape,
        relu: bool,
        x: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        accumulate: bool,
    ) -> Result<(Vec<Dispatch>, Dispatch), GpuError> {
        let set = NormSettings {
            relu,
            ..NormSettings::default()
        };
        let saved = self.saved_for(name, shape.c);
        let (gpu, affine, grads) = (self.gpu, self.affine(name, false), self.affine(name, true));
        let (x, dy) = (whole(x), whole(dy));
        let parts = self.parts_of(&shape);
        let reduce =
            norm::grad_reduce_in_parts(gpu, shape, set, x, dy, affine, saved, grads, parts)?;
        let dx = whole(dx);
        let apply = norm::grad_apply(gpu, shape, set, x, dy, affine, saved, grads, dx, accumulate)?;
        Ok((reduce, apply))
    }

    fn block(
        &mut self,
        kind: &BlockKind,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        match kind {
            BlockKind::ConvUnit { conv, bn, pool, .. } => self.conv_unit(conv, bn, *pool, g, io),
            BlockKind::Residual { prefix, .. } => self.residual(prefix, g, io),
            BlockKind::StemConv { conv, .. } => self.stem_conv(conv, g, io),
            BlockKind::DenseLayer { prefix, .. } => self.dense_layer(prefix, g, io),
            BlockKind::Transition { prefix, .. } => self.transition(prefix, g, io),
            BlockKind::Head {
                norm, pool, linear, ..
            } => self.head(norm.as_deref(), *pool, linear, g, io),
        }
    }

    fn conv_unit(
        &mut self,
        conv: &str,
        bn: &str,
        pool: bool,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let s = g.convs[0];
        let slices = ChannelSlices::dense(&s);
        let len = s.y_len();
        let a = self.kept(&format!("{conv} output"), len)?;
        let da = self.shared(len, 0)?;
        let ns = NormShape {
            n: s.n,
            c: s.k,
            hw: s.p() * s.q(),
            x_channels: s.k,
        };
        let w = self.param(&format!("{conv}.weight"));
        let fwd = self.conv_forward(s, slices, io.x, w, &a)?;
        let mut p = if pool {
            let ps = PoolShape {
                n: s.n,
                c: s.k,
                h: s.p(),
                w: s.q(),
            };
            self.norm_relu_max_pool(bn, ps, &a, &da, io)?
        } else {
            let (train, infer) = self.norm_forward(bn, ns, true, &a, io.y)?;
            let (reduce, apply) = self.norm_backward(bn, ns, true, &a, io.dy, &da, false)?;
            BlockPlan {
                train,
                infer: vec![infer],
                backward: [reduce, vec![apply]].concat(),
                ..BlockPlan::default()
            }
        };
        p.train.splice(0..0, fwd.iter().cloned());
        p.infer.splice(0..0, fwd);
        p.backward
            .extend(self.conv_weight_grad(conv, s, slices, io.x, &da)?);
        if let Some(dx) = io.dx {
            p.input_grad
                .push(self.conv_input_grad(s, slices, &da, w, dx, false)?);
        }
        Ok(p)
    }

    /// Batch norm, ReLU and 2x2 max pooling of `x` into `io.y`, and the gradient back to
    /// `dx`. Training runs the fused kernels (`norm::pooled`: the normalised tensor and its
    /// gradient never reach memory); evaluation the unfused ones, through a kept buffer.
    fn norm_relu_max_pool(
        &mut self,
        name: &str,
        ps: PoolShape,
        x: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let ns = pooled::norm_shape(&ps);
        let set = NormSettings {
            relu: true,
            ..NormSettings::default()
        };
        let saved = self.saved_for(name, ns.c);
        let (gpu, affine, grads) = (self.gpu, self.affine(name, false), self.affine(name, true));
        let running = self.running(name);
        let parts = self.parts_of(&ns);
        let maxima = self.kept(&format!("{name} pooling maxima"), pooled::pooled_len(&ps))?;
        let mut train = norm::stats_in_parts(gpu, ns, set, whole(x), saved, running, parts)?;
        train.push(pooled::forward(
            gpu,
            ps,
            set,
            whole(x),
            affine,
            saved,
            whole(io.y),
            whole(&maxima),
        )?);
        let normalised = self.kept(&format!("{name} output"), ns.len())?;
        let infer = vec![
            norm::inference(gpu, ns, set, whole(x), affine, running, whole(&normalised))?,
            pool::forward(gpu, PoolKind::Max, ps, whole(&normalised), whole(io.y))?,
        ];
        let (x, dy, maxima) = (whole(x), whole(io.dy), whole(&maxima));
        let mut backward =
            pooled::grad_reduce_in_parts(gpu, ps, set, x, dy, affine, saved, maxima, grads, parts)?;
        backward.push(pooled::grad_apply(
            gpu,
            ps,
            set,
            x,
            dy,
            affine,
            saved,
            maxima,
            grads,
            whole(dx),
            false,
        )?);
        Ok(BlockPlan {
            train,
            infer,
            backward,
            ..BlockPlan::default()
        })
    }

    fn residual(
        &mut self,
        prefix: &str,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let (s1, s2) = (g.convs[0], g.convs[1]);
        let len = s1.y_len();
        let (conv1, conv2) = (format!("{prefix}.conv1"), format!("{prefix}.conv2"));
        let (bn1, bn2) = (format!("{prefix}.bn1"), format!("{prefix}.bn2"));
        // Kept for the backward pass: conv1's output a, bn1's b, conv2's c.
        let a = self.kept(&format!("{conv1} output"), len)?;
        let b = self.kept(&format!("{bn1} output"), len)?;
        let c = self.kept(&format!("{conv2} output"), len)?;
        // Forward-only: bn2's output d, the shortcut's output.
        let d = self.shared(len, 0)?;
        // Gradients of a, b, e (the sum's, which bn2 and the shortcut both receive) and c.
        let (da, db, de) = (
            self.shared(len, 2)?,
            self.shared(len, 3)?,
            self.shared(len, 4)?,
        );
        let dc = self.shared(len, 5)?;
        let ns = NormShape {
            n: s1.n,
            c: s1.k,
            hw: s1.p() * s1.q(),
            x_channels: s1.k,
        };
        let (w1, w2) = (
            self.param(&format!("{conv1}.weight")),
            self.param(&format!("{conv2}.weight")),
        );
        let dense = ChannelSlices::dense;
        let f1 = self.conv_forward(s1, dense(&s1), io.x, w1, &a)?;
        let (n1_train, n1_infer) = self.norm_forward(&bn1, ns, true, &a, &b)?;
        let f2 = self.conv_forward(s2, dense(&s2), &b, w2, &c)?;
        let (n2_train, n2_infer) = self.norm_forward(&bn2, ns, false, &c, &d)?;
        // The shortcut: x itself, or x subsampled with its channels zero-padded, computed as
        // a 1x1 strided convolution by a fixed 0/1 matrix.
        let shortcut = match g.convs.get(2) {
            None => None,
            Some(&ss) => {
                let (c_in, c_out) = (ss.c, ss.k);
                let shift = (c_out - c_in) / 2;
                let mut eye = vec![0f32; (c_out * c_in) as usize];
                for ch in 0..c_in {
                    eye[((ch + shift) * c_in + ch) as usize] = 1.0;
                }
                let weights = self.gpu.storage_from("shortcut weights", &eye)?;
                self.owned.push(weights.clone());
                let out = self.shared(len, 6)?;
                Some((ss, weights, out))
            }
        };
        let mut tail = Vec::new();
        let skip = match &shortcut {
            None => io.x.clone(),
            Some((ss, weights, out)) => {
                tail.extend(self.conv_forward(*ss, dense(ss), io.x, whole(weights), out)?);
                out.clone()
            }
        };
        let len32 = len as u32;
        tail.push(elementwise::add_relu(
            self.gpu,
            len32,
            whole(&d),
            whole(&skip),
            whole(io.y),
        )?);
        let mut p = BlockPlan {
            train: [f1.clone(), n1_train, f2.clone(), n2_train, tail.clone()].concat(),
            infer: [f1, vec![n1_infer], f2, vec![n2_infer], tail].concat(),
            ..BlockPlan::default()
        };
        // Backward: the ReLU, then bn2 (its dy is de: the sum passes dy to both inputs).
        p.backward.push(elementwise::relu_grad(
            self.gpu,
            len32,
            whole(io.dy),
            whole(io.y),
            whole(&de),
        )?);
        let (r2, a2) = self.norm_backward(&bn2, ns, false, &c, &de, &dc, false)?;
        p.backward.extend(r2);
        p.backward.push(a2);
        p.backward
            .extend(self.conv_weight_grad(&conv2, s2, dense(&s2), &b, &dc)?);
        p.backward
            .push(self.conv_input_grad(s2, dense(&s2), &dc, w2, &db, false)?);
        let (r1, a1) = self.norm_backward(&bn1, ns, true, &a, &db, &da, false)?;
        p.backward.extend(r1);
        p.backward.push(a1);
        p.backward
            .extend(self.conv_weight_grad(&conv1, s1, dense(&s1), io.x, &da)?);
        if let Some(dx) = io.dx {
            p.input_grad
                .push(self.conv_input_grad(s1, dense(&s1), &da, w1, dx, false)?);
            p.input_grad.push(match &shortcut {
                None => elementwise::accumulate(self.gpu, len32, whole(&de), whole(dx))?,
                Some((ss, weights, _)) => {
                    self.conv_input_grad(*ss, dense(ss), &de, whole(weights), dx, true)?
                }
            });
        }
        Ok(p)
    }

    fn stem_conv(
        &mut self,
        conv: &str,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let s = g.convs[0];
        let slices = ChannelSlices {
            x_channels: io.x_shape.channels,
            y_channels: io.y_shape.channels,
            y_first: 0,
        };
        let w = self.param(&format!("{conv}.weight"));
        let fwd = self.conv_forward(s, slices, io.x, w, io.y)?;
        let mut p = BlockPlan {
            train: fwd.clone(),
            infer: fwd,
            ..BlockPlan::default()
        };
        p.backward
            .extend(self.conv_weight_grad(conv, s, slices, io.x, io.dy)?);
        if let Some(dx) = io.dx {
            p.input_grad
                .push(self.conv_input_grad(s, slices, io.dy, w, dx, false)?);
        }
        Ok(p)
    }

    fn dense_layer(
        &mut self,
        prefix: &str,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let (s1, s2) = (g.convs[0], g.convs[1]);
        let total = io.x_shape.channels;
        let hw = s1.h * s1.w;
        let (norm1, norm2) = (format!("{prefix}.norm1"), format!("{prefix}.norm2"));
        let (conv1, conv2) = (format!("{prefix}.conv1"), format!("{prefix}.conv2"));
        // t1 = relu(norm1(x)) (c_in channels), t2 = conv1(t1), t3 = relu(norm2(t2)).
        let t1 = self.kept(&format!("{norm1} output"), s1.x_len())?;
        let t2 = self.kept(&format!("{conv1} output"), s1.y_len())?;
        let t3 = self.kept(&format!("{norm2} output"), s1.y_len())?;
        let (dt1, dt2, dt3) = (
            self.shared(s1.x_len(), 0)?,
            self.shared(s1.y_len(), 1)?,
            self.shared(s1.y_len(), 2)?,
        );
        let ns1 = NormShape {
            n: s1.n,
            c: s1.c,
            hw,
            x_channels: total,
        };
        let ns2 = NormShape {
            n: s1.n,
            c: s1.k,
            hw,
            x_channels: s1.k,
        };
        let out = ChannelSlices {
            x_channels: s2.c,
            y_channels: total,
            y_first: s1.c,
        };
        let dense = ChannelSlices::dense;
        let (w1, w2) = (
            self.param(&format!("{conv1}.weight")),
            self.param(&format!("{conv2}.weight")),
        );
        let (n1_train, n1_infer) = self.norm_forward(&norm1, ns1, true, io.x, &t1)?;
        let f1 = self.conv_forward(s1, dense(&s1), &t1, w1, &t2)?;
        let (n2_train, n2_infer) = self.norm_forward(&norm2, ns2, true, &t2, &t3)?;
        let f2 = self.conv_forward(s2, out, &t3, w2, io.y)?;
        let mut p = BlockPlan {
            train: [n1_train, f1.clone(), n2_train, f2.clone()].concat(),
            infer: [vec![n1_infer], f1, vec![n2_infer], f2].concat(),
            ..BlockPlan::default()
        };
        p.backward
            .extend(self.conv_weight_grad(&conv2, s2, out, &t3, io.dy)?);
        p.backward
            .push(self.conv_input_grad(s2, out, io.dy, w2, &dt3, false)?);
        let (r2, a2) = self.norm_backward(&norm2, ns2, true, &t2, &dt3, &dt2, false)?;
        p.backward.extend(r2);
        p.backward.push(a2);
        p.backward
            .extend(self.conv_weight_grad(&conv1, s1, dense(&s1), &t1, &dt2)?);
        p.backward
            .push(self.conv_input_grad(s1, dense(&s1), &dt2, w1, &dt1, false)?);
        // dx: the shared tensor's gradient, to which every later layer adds its share.
        let dx = io.dx.expect("a dense layer reads a tensor with a gradient");
        let (r1, a1) = self.norm_backward(&norm1, ns1, true, io.x, &dt1, dx, true)?;
        p.backward.extend(r1);
        p.input_grad.push(a1);
        Ok(p)
    }

    fn transition(
        &mut self,
        prefix: &str,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let s = g.convs[0];
        let (h, w) = (io.x_shape.h, io.x_shape.w);
        let c_in = io.x_shape.channels;
        let (name_norm, name_conv) = (format!("{prefix}.norm"), format!("{prefix}.conv"));
        let full = (s.n * c_in * h * w) as usize;
        let t1 = self.kept(&format!("{name_norm} output"), full)?;
        let t2 = self.kept(&format!("{prefix} pooled"), s.x_len())?;
        let (dt1, dt2) = (self.shared(full, 0)?, self.shared(s.x_len(), 1)?);
        let ns = NormShape {
            n: s.n,
            c: c_in,
            hw: h * w,
            x_channels: c_in,
        };
        let ps = PoolShape {
            n: s.n,
            c: c_in,
            h,
            w,
        };
        let out = ChannelSlices {
            x_channels: s.c,
            y_channels: io.y_shape.channels,
            y_first: 0,
        };
        let wt = self.param(&format!("{name_conv}.weight"));
        let (n_train, n_infer) = self.norm_forward(&name_norm, ns, true, io.x, &t1)?;
        let pooled = pool::forward(self.gpu, PoolKind::Avg, ps, whole(&t1), whole(&t2))?;
        let mut tail = vec![pooled];
        tail.extend(self.conv_forward(s, out, &t2, wt, io.y)?);
        let mut p = BlockPlan {
            train: [n_train, tail.clone()].concat(),
            infer: [vec![n_infer], tail].concat(),
            ..BlockPlan::default()
        };
        p.backward
            .extend(self.conv_weight_grad(&name_conv, s, out, &t2, io.dy)?);
        p.backward
            .push(self.conv_input_grad(s, out, io.dy, wt, &dt2, false)?);
        p.backward.push(pool::backward(
            self.gpu,
            PoolKind::Avg,
            ps,
            whole(&dt2),
            None,
            whole(&dt1),
        )?);
        let dx = io.dx.expect("a transition reads a tensor with a gradient");
        let (r, a) = self.norm_backward(&name_norm, ns, true, io.x, &dt1, dx, false)?;
        p.backward.extend(r);
        p.input_grad.push(a);
        Ok(p)
    }

    fn head(
        &mut self,
        norm: Option<&str>,
        pool_kind: HeadPool,
        linear_name: &str,
        g: &BlockGeometry,
        io: &Io<'_>,
    ) -> Result<BlockPlan, GpuError> {
        let (inputs, outputs) = g.linear.expect("a head has a linear layer");
        let n = self.n;
        let x = io.x_shape;
        let ls = LinearShape {
            batch: n,
            inputs,
            outputs,
        };
        let mut p = BlockPlan::default();
        // src: what the pooling reads, x or relu(norm(x)); dsrc its gradient.
        let ns = NormShape {
            n,
            c: x.channels,
            hw: x.h * x.w,
            x_channels: x.channels,
        };
        let (src, dsrc) = match norm {
            None => (io.x.clone(), io.dx.cloned()),
            Some(name) => {
                let len = n as usize * x.per_image();
                let t = self.kept(&format!("{name} output"), len)?;
                let (train, infer) = self.norm_forward(name, ns, true, io.x, &t)?;
                p.train.extend(train);
                p.infer.push(infer);
                (t, Some(self.shared(len, 0)?))
            }
        };
        let ps = PoolShape {
            n,
            c: x.channels,
            h: x.h,
            w: x.w,
        };
        let (features, dfeatures) = match pool_kind {
            HeadPool::Flatten => (src.clone(), dsrc.clone()),
            HeadPool::Global => {
                let len = (n * x.channels) as usize;
                let pooled = self.kept("pooled features", len)?;
                let f = pool::forward(self.gpu, PoolKind::Global, ps, whole(&src), whole(&pooled))?;
                p.train.push(f.clone());
                p.infer.push(f);
                (pooled, Some(self.shared(len, 1)?))
            }
        };
        let w = self.param(&format!("{linear_name}.weight"));
        let b = self.param(&format!("{linear_name}.bias"));
        let fwd = linear::forward(self.gpu, ls, whole(&features), w, b, whole(io.y))?;
        p.train.extend(fwd.iter().cloned());
        p.infer.extend(fwd);

        let dw = self.grad(&format!("{linear_name}.weight"));
        let db = self.grad(&format!("{linear_name}.bias"));
        p.backward.extend(linear::weight_grad(
            self.gpu,
            ls,
            whole(io.dy),
            whole(&features),
            dw,
        )?);
        p.backward
            .push(linear::bias_grad(self.gpu, ls, whole(io.dy), db)?);
        // The gradient down to src: the linear layer's input gradient, then the pooling's.
        let mut chain = Vec::new();
        if let (Some(df), Some(ds)) = (&dfeatures, &dsrc) {
            chain.extend(linear::input_grad(
                self.gpu,
                ls,
                whole(io.dy),
                w,
                whole(df),
            )?);
            if pool_kind == HeadPool::Global {
                let back =
                    pool::backward(self.gpu, PoolKind::Global, ps, whole(df), None, whole(ds))?;
                chain.push(back);
            }
        }
        match (norm, &dsrc) {
            (Some(name), Some(dt)) => {
                // The norm's parameters need the chain; only its dx is the input gradient.
                let dx = io
                    .dx
                    .expect("the head's norm reads a tensor with a gradient");
                let (r, a) = self.norm_backward(name, ns, true, io.x, dt, dx, false)?;
                p.backward.extend(chain);
                p.backward.extend(r);
                p.input_grad.push(a);
            }
            // Without a norm the chain only serves the input gradient.
            _ => p.input_grad.extend(chain),
        }
        Ok(p)
    }
}
