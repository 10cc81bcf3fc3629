//! Where every parameter and batch-norm statistic lives in the flat buffers, under its
//! PyTorch name, and how it is initialised.
//!
//! Parameters are laid out block after block, so the blocks FreezeOut has frozen are a
//! prefix and the trainable ones a suffix; gradients and momentum share the layout.

use super::arch::{Architecture, BlockKind, HeadPool};
use crate::checkpoint::NamedTensor;

/// How a tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// He et al.'s normal initialisation for a conv feeding a ReLU, as torchvision's ResNet,
    /// VGG and DenseNet use: N(0, 2 / fan_out) with fan_out = out channels x kernel area.
    KaimingNormal {
        /// Output channels x kernel area.
        fan_out: u32,
    },
    /// PyTorch's default for nn.Linear (weight and bias): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    Uniform {
        /// Input features.
        fan_in: u32,
    },
    /// A constant (batch norm: weight and running variance 1, bias and running mean 0).
    Constant(f32),
}

/// One tensor in a flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// PyTorch's name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// First element in the buffer.
    pub offset: u32,
    /// The block that owns it.
    pub block: usize,
    /// Initial values.
    pub init: Init,
}

impl Entry {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The tensors of one flat buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    /// Tensors in buffer order.
    pub entries: Vec<Entry>,
    /// Elements in all.
    pub len: u32,
}

impl Layout {
    fn push(&mut self, name: String, shape: Vec<usize>, block: usize, init: Init) {
        let len: usize = shape.iter().product();
        self.entries.push(Entry {
            name,
            shape,
            offset: self.len,
            block,
            init,
        });
        self.len += len as u32;
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Offset of the tensor called `name`; the layout is built from the same architecture as
    /// the plan that asks, so a miss is a bug.
    pub fn offset(&self, name: &str) -> u32 {
        match self.get(name) {
            Some(e) => e.offset,
            None => panic!("no tensor '{name}' in the layout"),
        }
    }

    /// The first element of each of `blocks` blocks, then the end: the optimizer's table.
    pub fn block_starts(&self, blocks: usize) -> Vec<u32> {
        let mut starts = vec![self.len; blocks + 1];
        for e in self.entries.iter().rev() {
            starts[e.block] = e.offset;
        }
        // Blocks without parameters start where the next one does.
        for b in (0..blocks).rev() {
            starts[b] = starts[b].min(starts[b + 1]);
        }
        starts
    }

    /// Initial values from a seed.
    pub fn initial_values(&self, seed: u64) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut values = Vec::with_capacity(self.len as usize);
        for e in &self.entries {
            for _ in 0..e.len() {
                values.push(match e.init {
                    Init::KaimingNormal { fan_out } => {
                        normal(&mut rng) * (2.0 / fan_out as f64).sqrt()
                    }
                    Init::Uniform { fan_in } => {
                        let bound = 1.0 / (fan_in as f64).sqrt();
                        (rng.f64() * 2.0 - 1.0) * bound
                    }
                    Init::Constant(v) => v as f64,
                } as f32);
            }
        }
        values
    }

    /// Splits a flat buffer's values into named tensors.
    pub fn tensors(&self, values: &[f32]) -> Vec<NamedTensor> {
        self.entries
            .iter()
            .map(|e| NamedTensor {
                name: e.name.clone(),
                shape: e.shape.clone(),
                values: values[e.offset as usize..e.offset as usize + e.len()].to_vec(),
            })
            .collect()
    }

    /// The names and shapes, for strict checkpoint loading.
    pub fn expected(&self) -> Vec<(String, Vec<usize>)> {
        self.entries
            .iter()
            .map(|e| (e.name.clone(), e.shape.clone()))
            .collect()
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64(); // (0, 1]: log stays finite
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The two flat layouts of a model: trained parameters, and batch-norm running statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layouts {
    /// Weights and biases.
    pub params: Layout,
    /// Running means and variances.
    pub state: Layout,
}

impl Layouts {
    fn conv(&mut self, name: &str, block: usize, c_in: u32, c_out: u32, kernel: u32) {
        let shape = [c_out, c_in, kernel, kernel].map(|d| d as usize).to_vec();
        let fan_out = c_out * kernel * kernel;
        self.params.push(
            format!("{name}.weight"),
            shape,
            block,
            Init::KaimingNormal { fan_out },
        );
    }

    fn norm(&mut self, name: &str, block: usize, c: u32) {
        let c = vec![c as usize];
        let p = &mut self.params;
        p.push(
            format!("{name}.weight"),
            c.clone(),
            block,
            Init::Constant(1.0),
        );
        p.push(
            format!("{name}.bias"),
            c.clone(),
            block,
            Init::Constant(0.0),
        );
        let s = &mut self.state;
        s.push(
            format!("{name}.running_mean"),
            c.clone(),
            block,
            Init::Constant(0.0),
        );
        s.push(format!("{name}.running_var"), c, block, Init::Constant(1.0));
    }

    fn linear(&mut self, name: &str, block: usize, inputs: u32, outputs: u32) {
        let init = Init::Uniform { fan_in: inputs };
        let shape = vec![outputs as usize, inputs as usize];
        self.params
            .push(format!("{name}.weight"), shape, block, init);
        self.params
            .push(format!("{name}.bias"), vec![outputs as usize], block, init);
    }

    /// The batch norms' names with the block that owns each, from their running means.
    pub fn norms(&self) -> impl Iterator<Item = (&str, usize)> {
        self.state
            .entries
            .iter()
            .filter_map(|e| Some((e.name.strip_suffix(".running_mean")?, e.block)))
    }

    /// The layouts of `arch`.
    pub fn new(arch: &Architecture) -> Layouts {
        let mut l = Layouts::default();
        for (b, block) in arch.blocks.iter().enumerate() {
            match &block.kind {
                BlockKind::ConvUnit {
                    conv,
                    bn,
                    c_in,
                    c_out,
                    ..
                } => {
                    l.conv(conv, b, *c_in, *c_out, 3);
                    l.norm(bn, b, *c_out);
                }
                BlockKind::Residual {
                    prefix,
                    c_in,
                    c_out,
                    ..
                } => {
                    l.conv(&format!("{prefix}.conv1"), b, *c_in, *c_out, 3);
                    l.norm(&format!("{prefix}.bn1"), b, *c_out);
                    l.conv(&format!("{prefix}.conv2"), b, *c_out, *c_out, 3);
                    l.norm(&format!("{prefix}.bn2"), b, *c_out);
                }
                BlockKind::StemConv { conv, c_in, c_out } => l.conv(conv, b, *c_in, *c_out, 3),
                BlockKind::DenseLayer {
                    prefix,
                    c_in,
                    growth,
                } => {
                    let inner = 4 * growth;
                    l.norm(&format!("{prefix}.norm1"), b, *c_in);
                    l.conv(&format!("{prefix}.conv1"), b, *c_in, inner, 1);
                    l.norm(&format!("{prefix}.norm2"), b, inner);
                    l.conv(&format!("{prefix}.conv2"), b, inner, *growth, 3);
                }
                BlockKind::Transition {
                    prefix,
                    c_in,
                    c_out,
                } => {
                    l.norm(&format!("{prefix}.norm"), b, *c_in);
                    l.conv(&format!("{prefix}.conv"), b, *c_in, *c_out, 1);
                }
                BlockKind::Head {
                    norm,
                    pool,
                    linear,
                    c_in,
                    classes,
                } => {
                    if let Some(norm) = norm {
                        let channels = match pool {
                            HeadPool::Global => *c_in,
                            HeadPool::Flatten => arch.activations[block.input].channels,
                        };
                        l.norm(norm, b, channels);
                    }
                    l.linear(linear, b, *c_in, *classes);
                }
            }
        }
        l
    }
}
