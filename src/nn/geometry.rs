//! The convolution shapes of each block at a given batch size, in the order the block runs
//! them: the one place that turns a block description into layer sizes, used to pick each
//! layer's forward algorithm, to size the shared im2col workspace, to count FLOPs and to
//! build the block.

use super::arch::{Architecture, BlockKind, HeadPool};
use crate::kernels::conv::ConvShape;

/// The sizes of one block's layers.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockGeometry {
    /// Convolutions in order (see each block kind for which is which).
    pub convs: Vec<ConvShape>,
    /// The head's linear layer: (inputs, outputs).
    pub linear: Option<(u32, u32)>,
    /// Batch norms: (channels, positions per image), to pick each one's reduction split.
    pub norms: Vec<(u32, u32)>,
}

fn conv(n: u32, c: u32, h: u32, w: u32, k: u32, kernel: u32, stride: u32) -> ConvShape {
    ConvShape {
        n,
        c,
        h,
        w,
        k,
        r: kernel,
        s: kernel,
        stride,
        pad: kernel / 2,
    }
}

impl BlockGeometry {
    /// The layers of block `b` of `arch` at batch size `n`.
    pub fn new(arch: &Architecture, b: usize, n: u32) -> BlockGeometry {
        let block = &arch.blocks[b];
        let x = arch.activations[block.input];
        let (h, w) = (x.h, x.w);
        let convs = match block.kind {
            // conv 3x3.
            BlockKind::ConvUnit { c_in, c_out, .. } => vec![conv(n, c_in, h, w, c_out, 3, 1)],
            // conv1, conv2, then the shortcut's 1x1 (fixed weights) where the shape changes.
            BlockKind::Residual {
                c_in,
                c_out,
                stride,
                ..
            } => {
                let (ho, wo) = (h.div_ceil(stride), w.div_ceil(stride));
                let mut v = vec![
                    conv(n, c_in, h, w, c_out, 3, stride),
                    conv(n, c_out, ho, wo, c_out, 3, 1),
                ];
                if stride != 1 || c_in != c_out {
                    v.push(conv(n, c_in, h, w, c_out, 1, stride));
                }
                v
            }
            BlockKind::StemConv { c_in, c_out, .. } => vec![conv(n, c_in, h, w, c_out, 3, 1)],
            // conv1 (1x1 bottleneck), conv2 (3x3).
            BlockKind::DenseLayer { c_in, growth, .. } => vec![
                conv(n, c_in, h, w, 4 * growth, 1, 1),
                conv(n, 4 * growth, h, w, growth, 3, 1),
            ],
            // conv 1x1 on the pooled maps.
            BlockKind::Transition { c_in, c_out, .. } => {
                vec![conv(n, c_in, h / 2, w / 2, c_out, 1, 1)]
            }
            BlockKind::Head { .. } => Vec::new(),
        };
        let linear = match block.kind {
            BlockKind::Head {
                c_in,
                classes,
                pool,
                ..
            } => {
                debug_assert!(pool == HeadPool::Global || c_in == x.per_image() as u32);
                Some((c_in, classes))
            }
            _ => None,
        };
        let out = |c: &ConvShape| (c.k, c.p() * c.q());
        let norms = match &block.kind {
            BlockKind::ConvUnit { .. } => vec![out(&convs[0])],
            BlockKind::Residual { .. } => vec![out(&convs[0]), out(&convs[0])],
            BlockKind::DenseLayer { c_in, .. } => vec![(*c_in, h * w), out(&convs[0])],
            BlockKind::Transition { c_in, .. } => vec![(*c_in, h * w)],
            BlockKind::Head { norm: Some(_), .. } => vec![(x.channels, h * w)],
            BlockKind::Head { norm: None, .. } | BlockKind::StemConv { .. } => Vec::new(),
        };
        BlockGeometry {
            convs,
            linear,
            norms,
        }
    }

    /// FLOPs of the block's forward pass for the whole batch (convolutions and the linear
    /// layer; normalisation, pooling and activations are memory-bound and not counted).
    /// The weight gradient and the input gradient each cost about as much again.
    pub fn forward_flops(&self, n: u32) -> f64 {
        let convs: f64 = self.convs.iter().map(|c| c.flops()).sum();
        let linear = self
            .linear
            .map_or(0.0, |(i, o)| 2.0 * n as f64 * i as f64 * o as f64);
        convs + linear
    }
}
