//! A whole network's forward pass on the CPU in f64, from its tensors by PyTorch name (as a
//! checkpoint holds them), written from the block descriptions alone: the independent
//! check of what the GPU plan computes end to end. The ensemble check evaluates every
//! snapshot through it in inference mode; SWA's check reads the batch statistics it sees in
//! training mode.
//!
//! Slow (plain loops over the kernels' CPU references): for tests and self-checks on small
//! models and a few hundred images.

use std::collections::{BTreeMap, HashMap};

use super::arch::{ActShape, Architecture, BlockKind, HeadPool};
use crate::checkpoint::CheckpointError;
use crate::kernels::conv::{self, ConvShape};
use crate::kernels::pool::{self, PoolKind, PoolShape};

/// Batch norm's epsilon (PyTorch's default, as the plan uses).
const EPS: f64 = 1e-5;

/// How the batch norms normalise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormMode {
    /// With the running statistics: inference, as evaluation runs.
    Running,
    /// With the batch's own statistics: training mode. The statistics are recorded.
    Batch,
}

/// Per batch norm (by name): the batch's mean and unbiased variance per channel, as a
/// training-mode pass feeds them to the running statistics.
pub type BatchStatistics = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

/// The network's tensors as f64, by name.
pub struct ReferenceModel<'a> {
    arch: &'a Architecture,
    tensors: HashMap<String, Vec<f64>>,
}

/// A batch of images as one NCHW tensor.
#[derive(Clone)]
struct Maps {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f64>,
}

impl Maps {
    fn zeros(n: usize, shape: ActShape) -> Maps {
        let (c, h, w) = (shape.channels as usize, shape.h as usize, shape.w as usize);
        Maps {
            n,
            c,
            h,
            w,
            v: vec![0.0; n * c * h * w],
        }
    }

    /// Channels `0..channels` of every image, as a dense tensor.
    fn prefix(&self, channels: usize) -> Maps {
        let plane = self.h * self.w;
        let mut v = Vec::with_capacity(self.n * channels * plane);
        for i in 0..self.n {
            let start = i * self.c * plane;
            v.extend_from_slice(&self.v[start..start + channels * plane]);
        }
        Maps {
            n: self.n,
            c: channels,
            h: self.h,
            w: self.w,
            v,
        }
    }

    /// Writes the dense `from` into channels `first..first + from.c` of every image.
    fn put(&mut self, first: usize, from: &Maps) {
        let plane = self.h * self.w;
        for i in 0..self.n {
            let src = &from.v[i * from.c * plane..(i + 1) * from.c * plane];
            let at = (i * self.c + first) * plane;
            self.v[at..at + src.len()].copy_from_slice(src);
        }
    }
}

impl<'a> ReferenceModel<'a> {
    /// The model `arch` with `tensors` (name, values), e.g. from a checkpoint; a tensor the
    /// network needs and does not find fails the forward pass.
    pub fn new(
        arch: &'a Architecture,
        tensors: impl IntoIterator<Item = (String, Vec<f32>)>,
    ) -> ReferenceModel<'a> {
        let tensors = tensors
            .into_iter()
            .map(|(name, v)| (name, v.iter().map(|&x| x as f64).collect()))
            .collect();
        ReferenceModel { arch, tensors }
    }

    fn get(&self, name: &str) -> Result<&[f64], CheckpointError> {
        self.tensors
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| CheckpointError::Missing { name: name.into() })
    }

    /// The logits (n x classes) of the `n` images in `x` (n x c x h x w, already
    /// normalised), and in [`NormMode::Batch`] the statistics each batch norm saw. Fails
    /// on a tensor the network needs and the model lacks.
    pub fn forward(
        &self,
        x: &[f64],
        n: usize,
        mode: NormMode,
    ) -> Result<(Vec<f64>, BatchStatistics), CheckpointError> {
        let arch = self.arch;
        let mut acts: Vec<Maps> = arch
            .activations
            .iter()
            .map(|&shape| Maps::zeros(n, shape))
            .collect();
        if acts[0].v.len() != x.len() {
            return Err(CheckpointError::Inconsistent {
                name: "input".into(),
                len: x.len(),
                shape: vec![n, arch.activations[0].per_image()],
            });
        }
        acts[0].v.copy_from_slice(x);
        let mut stats = BatchStatistics::new();
        let mut logits = Vec::new();
        for block in &arch.blocks {
            let input = &acts[block.input];
            match &block.kind {
                BlockKind::ConvUnit { conv, bn, pool, .. } => {
                    let y = self.conv(input, &format!("{conv}.weight"), 3, 1)?;
                    let mut y = self.norm(&y, bn, true, mode, &mut stats)?;
                    if *pool {
                        y = pool2(&y, PoolKind::Max);
                    }
                    acts[block.output] = y;
                }
                BlockKind::Residual {
                    prefix,
                    c_in,
                    c_out,
                    stride,
                } => {
                    let s = *stride as usize;
                    let a = self.conv(input, &format!("{prefix}.conv1.weight"), 3, s)?;
                    let a = self.norm(&a, &format!("{prefix}.bn1"), true, mode, &mut stats)?;
                    let b = self.conv(&a, &format!("{prefix}.conv2.weight"), 3, 1)?;
                    let mut b = self.norm(&b, &format!("{prefix}.bn2"), false, mode, &mut stats)?;
                    let skip = shortcut(input, *c_in as usize, *c_out as usize, s);
                    for (v, &k) in b.v.iter_mut().zip(&skip.v) {
                        *v = (*v + k).max(0.0);
                    }
                    acts[block.output] = b;
                }
                BlockKind::StemConv { conv, .. } => {
                    let y = self.conv(input, &format!("{conv}.weight"), 3, 1)?;
                    acts[block.output].put(0, &y);
                }
                BlockKind::DenseLayer { prefix, c_in, .. } => {
                    let x = input.prefix(*c_in as usize);
                    let a = self.norm(&x, &format!("{prefix}.norm1"), true, mode, &mut stats)?;
                    let a = self.conv(&a, &format!("{prefix}.conv1.weight"), 1, 1)?;
                    let a = self.norm(&a, &format!("{prefix}.norm2"), true, mode, &mut stats)?;
                    let y = self.conv(&a, &format!("{prefix}.conv2.weight"), 3, 1)?;
                    acts[block.output].put(*c_in as usize, &y);
                }
                BlockKind::Transition { prefix, .. } => {
                    let a = self.norm(input, &format!("{prefix}.norm"), true, mode, &mut stats)?;
                    let a = pool2(&a, PoolKind::Avg);
                    let y = self.conv(&a, &format!("{prefix}.conv.weight"), 1, 1)?;
                    acts[block.output].put(0, &y);
                }
                BlockKind::Head {
                    norm,
                    pool,
                    linear,
                    c_in,
                    classes,
                } => {
                    let x = match norm {
                        Some(name) => self.norm(input, name, true, mode, &mut stats)?,
                        None => input.prefix(input.c),
                    };
                    let features = match pool {
                        HeadPool::Global => {
                            pool::forward_reference(PoolKind::Global, &pool_shape(&x), &x.v)
                        }
                        HeadPool::Flatten => x.v,
                    };
                    let (inputs, outputs) = (*c_in as usize, *classes as usize);
                    let w = self.get(&format!("{linear}.weight"))?;
                    let b = self.get(&format!("{linear}.bias"))?;
                    logits = vec![0.0; n * outputs];
                    for i in 0..n {
                        for o in 0..outputs {
                            let row = &w[o * inputs..(o + 1) * inputs];
                            let f = &features[i * inputs..(i + 1) * inputs];
                            logits[i * outputs + o] =
                                b[o] + row.iter().zip(f).map(|(a, b)| a * b).sum::<f64>();
                        }
                    }
                }
            }
        }
        Ok((logits, stats))
    }

    /// A square convolution without bias, padding kernel / 2.
    fn conv(
        &self,
        x: &Maps,
        weight: &str,
        kernel: usize,
        stride: usize,
    ) -> Result<Maps, CheckpointError> {
        let w = self.get(weight)?;
        let k = w.len() / (x.c * kernel * kernel).max(1);
        let shape = ConvShape {
            n: x.n as u32,
            c: x.c as u32,
            h: x.h as u32,
            w: x.w as u32,
            k: k as u32,
            r: kernel as u32,
            s: kernel as u32,
            stride: stride as u32,
            pad: kernel as u32 / 2,
        };
        Ok(Maps {
            n: x.n,
            c: k,
            h: shape.p() as usize,
            w: shape.q() as usize,
            v: conv::forward_reference(&shape, &x.v, w, None),
        })
    }

    /// Batch norm (then ReLU if `relu`) named `name`, in `mode`.
    fn norm(
        &self,
        x: &Maps,
        name: &str,
        relu: bool,
        mode: NormMode,
        stats: &mut BatchStatistics,
    ) -> Result<Maps, CheckpointError> {
        let gamma = self.get(&format!("{name}.weight"))?;
        let beta = self.get(&format!("{name}.bias"))?;
        let (c, plane) = (x.c, x.h * x.w);
        let (mean, var) = match mode {
            NormMode::Running => (
                self.get(&format!("{name}.running_mean"))?.to_vec(),
                self.get(&format!("{name}.running_var"))?.to_vec(),
            ),
            NormMode::Batch => {
                let count = (x.n * plane) as f64;
                let mut mean = vec![0.0; c];
                let mut var = vec![0.0; c];
                for (i, &v) in x.v.iter().enumerate() {
                    mean[(i / plane) % c] += v / count;
                }
                for (i, &v) in x.v.iter().enumerate() {
                    let ch = (i / plane) % c;
                    var[ch] += (v - mean[ch]).powi(2) / count;
                }
                let unbiased = var
                    .iter()
                    .map(|v| v * count / (count - 1.0).max(1.0))
                    .collect();
                stats.insert(name.to_string(), (mean.clone(), unbiased));
                (mean, var)
            }
        };
        let v =
            x.v.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ch = (i / plane) % c;
                    let y = gamma[ch] * (v - mean[ch]) / (var[ch] + EPS).sqrt() + beta[ch];
                    if relu {
                        y.max(0.0)
                    } else {
                        y
                    }
                })
                .collect();
        Ok(Maps { v, ..*x })
    }
}

fn pool_shape(x: &Maps) -> PoolShape {
    PoolShape {
        n: x.n as u32,
        c: x.c as u32,
        h: x.h as u32,
        w: x.w as u32,
    }
}

/// A 2x2, stride-2 pool (floor mode).
fn pool2(x: &Maps, kind: PoolKind) -> Maps {
    Maps {
        n: x.n,
        c: x.c,
        h: x.h / 2,
        w: x.w / 2,
        v: pool::forward_reference(kind, &pool_shape(x), &x.v),
    }
}

/// He et al.'s option-A shortcut: `x` itself, or every `stride`-th pixel with the channels
/// zero-padded equally on both sides.
fn shortcut(x: &Maps, c_in: usize, c_out: usize, stride: usize) -> Maps {
    if stride == 1 && c_in == c_out {
        return x.clone();
    }
    let (h, w) = (x.h.div_ceil(stride), x.w.div_ceil(stride));
    let shift = (c_out - c_in) / 2;
    let mut v = vec![0.0; x.n * c_out * h * w];
    for i in 0..x.n {
        for c in 0..c_in {
            for y in 0..h {
                for q in 0..w {
                    v[((i * c_out + c + shift) * h + y) * w + q] =
                        x.v[((i * x.c + c) * x.h + y * stride) * x.w + q * stride];
                }
            }
        }
    }
    Maps {
        n: x.n,
        c: c_out,
        h,
        w,
        v,
    }
}
