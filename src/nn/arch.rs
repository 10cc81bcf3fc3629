//! Model families as sequences of freezable blocks (docs/design.md §3.3): the stem is block 0, then
//! each VGG unit, residual block, dense layer or transition is a block, and the classifier
//! head is the last. This module only describes the network; `plan` puts it on the GPU.

use super::spec::{vgg_config, ModelSpec, SpecError};

/// An activation tensor between blocks, per image: `channels` x `h` x `w` floats. DenseNet's
/// blocks share one such tensor per dense block, each layer appending its channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActShape {
    /// Channels held per image.
    pub channels: u32,
    /// Height.
    pub h: u32,
    /// Width.
    pub w: u32,
}

impl ActShape {
    /// Floats per image.
    pub fn per_image(&self) -> usize {
        (self.channels * self.h * self.w) as usize
    }
}

/// How the head turns the last feature maps into a vector for the linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadPool {
    /// Global average pooling to one value per channel.
    Global,
    /// The maps flattened as they are (C x H x W features).
    Flatten,
}

/// What a block computes. Channel counts are the block's own; where the input or output is
/// a slice of a wider shared tensor, `in_channels` is the prefix read and `out_first` the
/// first channel written.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockKind {
    /// conv 3x3 (no bias) - BN - ReLU, then a 2x2 max pool if `pool`.
    ConvUnit {
        /// Conv layer name.
        conv: String,
        /// BN layer name.
        bn: String,
        /// Input channels.
        c_in: u32,
        /// Output channels.
        c_out: u32,
        /// Max pool after.
        pool: bool,
    },
    /// He et al.'s basic block: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU. Where
    /// the shape changes the shortcut takes every second pixel and zero-pads the channels
    /// equally on both sides.
    Residual {
        /// Name prefix, like `layer2.0`.
        prefix: String,
        /// Input channels.
        c_in: u32,
        /// Output channels.
        c_out: u32,
        /// 1, or 2 where the stage changes.
        stride: u32,
    },
    /// A 3x3 convolution (no bias, no BN) writing channels `0..c_out` of the first dense
    /// block's shared tensor: DenseNet's stem.
    StemConv {
        /// Conv layer name.
        conv: String,
        /// Input channels.
        c_in: u32,
        /// Output channels.
        c_out: u32,
    },
    /// DenseNet-BC bottleneck: BN-ReLU-conv1x1 (4k) - BN-ReLU-conv3x3 (k), the k new channels
    /// written at `c_in` of the shared tensor that holds the `c_in` it reads.
    DenseLayer {
        /// Name prefix, like `features.denseblock1.denselayer1`.
        prefix: String,
        /// Channels read (the prefix of the shared tensor).
        c_in: u32,
        /// Growth rate k.
        growth: u32,
    },
    /// DenseNet transition: BN-ReLU, 2x2 average pool, conv1x1 into channels `0..c_out` of
    /// the next dense block's tensor. (The original convolves, then pools; both are linear
    /// maps of the same values, so pooling first gives the same function with a quarter of
    /// the work.)
    Transition {
        /// Name prefix, like `features.transition1`.
        prefix: String,
        /// Input channels.
        c_in: u32,
        /// Output channels.
        c_out: u32,
    },
    /// The classifier: optional BN-ReLU, pooling, linear.
    Head {
        /// BN layer name when the head starts with BN-ReLU (DenseNet).
        norm: Option<String>,
        /// How the features are pooled.
        pool: HeadPool,
        /// Linear layer name.
        linear: String,
        /// Channels in.
        c_in: u32,
        /// Classes out.
        classes: u32,
    },
}

/// One freezable block: what it computes and which activation tensors it reads and writes.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSpec {
    /// Display name.
    pub name: String,
    /// What it computes.
    pub kind: BlockKind,
    /// Activation read.
    pub input: usize,
    /// Activation written (for the head: the logits, an [n, classes] tensor).
    pub output: usize,
}

/// A whole network: its blocks and the activation tensors between them (tensor 0 is the
/// input batch).
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// The model it was built from.
    pub spec: ModelSpec,
    /// Blocks in order; the last is the head.
    pub blocks: Vec<BlockSpec>,
    /// Activation tensors.
    pub activations: Vec<ActShape>,
    /// Classes.
    pub classes: u32,
}

struct Builder {
    blocks: Vec<BlockSpec>,
    activations: Vec<ActShape>,
}

impl Builder {
    fn new(input: ActShape) -> Self {
        Builder {
            blocks: Vec::new(),
            activations: vec![input],
        }
    }

    fn act(&mut self, shape: ActShape) -> usize {
        self.activations.push(shape);
        self.activations.len() - 1
    }

    fn last(&self) -> usize {
        self.activations.len() - 1
    }

    fn push(&mut self, name: String, kind: BlockKind, input: usize, output: usize) {
        self.blocks.push(BlockSpec {
            name,
            kind,
            input,
            output,
        });
    }

    fn head(&mut self, norm: Option<String>, pool: HeadPool, linear: &str, classes: u32) {
        let input = self.last();
        let a = self.activations[input];
        let c_in = match pool {
            HeadPool::Global => a.channels,
            HeadPool::Flatten => a.channels * a.h * a.w,
        };
        let output = self.act(ActShape {
            channels: classes,
            h: 1,
            w: 1,
        });
        let kind = BlockKind::Head {
            norm,
            pool,
            linear: linear.to_string(),
            c_in,
            classes,
        };
        self.push("head".to_string(), kind, input, output);
    }

    /// conv-BN-ReLU(-pool) on the last activation.
    fn conv_unit(&mut self, name: String, conv: String, bn: String, c_out: u32, pool: bool) {
        let input = self.last();
        let a = self.activations[input];
        let (h, w) = if pool { (a.h / 2, a.w / 2) } else { (a.h, a.w) };
        let output = self.act(ActShape {
            channels: c_out,
            h,
            w,
        });
        let kind = BlockKind::ConvUnit {
            conv,
            bn,
            c_in: a.channels,
            c_out,
            pool,
        };
        self.push(name, kind, input, output);
    }
}

impl Architecture {
    /// The blocks of `spec` for `c` x `h` x `w` images and `classes` classes.
    pub fn new(spec: &ModelSpec, c: u32, h: u32, w: u32, classes: u32) -> Result<Self, SpecError> {
        spec.validate()?;
        let bad = |reason: String| SpecError::Input { c, h, w, reason };
        if c == 0 || h == 0 || w == 0 || c > 4 {
            return Err(bad("images need 1 to 4 channels and a non-zero size".into()));
        }
        if classes < 2 {
            return Err(bad(format!("{classes} classes; at least 2 are needed")));
        }
        let mut b = Builder::new(ActShape { channels: c, h, w });
        match *spec {
            ModelSpec::Small { width } => {
                if h < 4 || w < 4 {
                    return Err(bad(
                        "the small CNN pools twice and needs at least 4x4".into()
                    ));
                }
                // The classic MNIST network: the linear layer sees the flattened maps (global
                // pooling learns more slowly and stopped short of 99% in 2 epochs).
                for (i, c_out) in [width, 2 * width].into_iter().enumerate() {
                    let n = i + 1;
                    b.conv_unit(
                        format!("conv{n}"),
                        format!("conv{n}"),
                        format!("bn{n}"),
                        c_out,
                        true,
                    );
                }
                b.head(None, HeadPool::Flatten, "fc", classes);
            }
            ModelSpec::Vgg { depth, width } => {
                let config = vgg_config(depth).unwrap_or(&[]);
                let mut unit = 0;
                for (i, &m) in config.iter().enumerate() {
                    if m == 0 {
                        continue;
                    }
                    let a = b.activations[b.last()];
                    // Pool after this unit if the configuration says so and the maps are
                    // still at least 2x2 (28x28 inputs run out of pixels before 32x32 do).
                    let pool = config.get(i + 1) == Some(&0) && a.h >= 2 && a.w >= 2;
                    b.conv_unit(
                        format!("features.{unit}"),
                        format!("features.{unit}.conv"),
                        format!("features.{unit}.bn"),
                        m * width,
                        pool,
                    );
                    unit += 1;
                }
                b.head(None, HeadPool::Global, "classifier", classes);
            }
            ModelSpec::Resnet { depth, width } => {
                let n = (depth - 2) / 6;
                if h < 4 || w < 4 {
                    return Err(bad(
                        "ResNet halves the maps twice and needs at least 4x4".into()
                    ));
                }
                b.conv_unit("stem".into(), "conv1".into(), "bn1".into(), width, false);
                for stage in 0..3u32 {
                    for i in 0..n {
                        let input = b.last();
                        let a = b.activations[input];
                        let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                        let c_out = width << stage;
                        let output = b.act(ActShape {
                            channels: c_out,
                            h: a.h.div_ceil(stride),
                            w: a.w.div_ceil(stride),
                        });
                        let prefix = format!("layer{}.{i}", stage + 1);
                        let kind = BlockKind::Residual {
                            prefix: prefix.clone(),
                            c_in: a.channels,
                            c_out,
                            stride,
                        };
                        b.push(prefix, kind, input, output);
                    }
                }
                b.head(None, HeadPool::Global, "fc", classes);
            }
            ModelSpec::Densenet { depth, growth } => {
                let layers = (depth - 4) / 6;
                if h < 4 || w < 4 {
                    return Err(bad("DenseNet pools twice and needs at least 4x4".into()));
                }
                let mut channels = 2 * growth;
                let (mut mh, mut mw) = (h, w);
                for block in 1..=3u32 {
                    // The dense block's shared tensor: its input channels plus every layer's.
                    let total = channels + layers * growth;
                    let shared = b.act(ActShape {
                        channels: total,
                        h: mh,
                        w: mw,
                    });
                    let input = shared - 1;
                    let a_in = b.activations[input].channels;
                    if block == 1 {
                        let kind = BlockKind::StemConv {
                            conv: "features.conv0".into(),
                            c_in: a_in,
                            c_out: channels,
                        };
                        b.push("stem".into(), kind, input, shared);
                    } else {
                        let prefix = format!("features.transition{}", block - 1);
                        let kind = BlockKind::Transition {
                            prefix: prefix.clone(),
                            c_in: a_in,
                            c_out: channels,
                        };
                        b.push(prefix, kind, input, shared);
                    }
                    for l in 1..=layers {
                        let prefix = format!("features.denseblock{block}.denselayer{l}");
                        let kind = BlockKind::DenseLayer {
                            prefix: prefix.clone(),
                            c_in: channels,
                            growth,
                        };
                        b.push(prefix, kind, shared, shared);
                        channels += growth;
                    }
                    if block < 3 {
                        // The transition's output: half the channels, half the size.
                        channels /= 2;
                        mh /= 2;
                        mw /= 2;
                    }
                }
                b.head(
                    Some("features.norm5".into()),
                    HeadPool::Global,
                    "classifier",
                    classes,
                );
            }
        }
        Ok(Architecture {
            spec: spec.clone(),
            blocks: b.blocks,
            activations: b.activations,
            classes,
        })
    }
}
