//! Which network to build: the model families, their settings and the checks on them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A network family and its size settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum ModelSpec {
    /// Two conv-BN-ReLU-maxpool units and a linear classifier on the flattened maps: the
    /// quick demo model.
    Small {
        /// Channels of the first unit (the second has twice as many).
        width: u32,
    },
    /// VGG (Simonyan and Zisserman) with batch norm: conv-BN-ReLU units and max pooling,
    /// as torchvision's configurations A, B, D, E (11, 13, 16, 19 layers counting three
    /// classifier layers; here the classifier is one linear layer after global pooling).
    Vgg {
        /// 11, 13, 16 or 19.
        depth: u32,
        /// Channels of the first unit (64 in the paper; later units double up to 8x).
        width: u32,
    },
    /// The CIFAR ResNet of He et al. (2016), depth 6n + 2, identity shortcuts with
    /// zero-padded channels where the shape changes (their option A).
    Resnet {
        /// 20, 32, 44, 56, 110, ...
        depth: u32,
        /// Channels of the first stage (16 in the paper).
        width: u32,
    },
    /// DenseNet-BC (Huang et al. 2017): bottleneck dense layers, compression 0.5.
    Densenet {
        /// 40, 100, ... (depth - 4 divisible by 6).
        depth: u32,
        /// Growth rate k.
        growth: u32,
    },
}

/// Why a model cannot be built.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// Unknown family name.
    #[error("unknown model '{0}'; choose small, vgg, resnet or densenet")]
    UnknownFamily(String),
    /// A depth the family does not define.
    #[error("{family} depth {depth} is not allowed: {rule}")]
    Depth {
        /// Family.
        family: &'static str,
        /// Depth asked for.
        depth: u32,
        /// What is allowed.
        rule: &'static str,
    },
    /// A width or growth rate out of range.
    #[error("{what} {value} is out of range: use {range}")]
    Width {
        /// Which setting.
        what: &'static str,
        /// Value asked for.
        value: u32,
        /// The allowed range.
        range: &'static str,
    },
    /// The input images do not suit the model.
    #[error("the model cannot take {c}x{h}x{w} images: {reason}")]
    Input {
        /// Channels.
        c: u32,
        /// Height.
        h: u32,
        /// Width.
        w: u32,
        /// Why.
        reason: String,
    },
}

/// VGG configurations by depth: channel multiples of the base width, 0 for a max pool.
pub(crate) fn vgg_config(depth: u32) -> Option<&'static [u32]> {
    Some(match depth {
        11 => &[1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0],
        13 => &[1, 1, 0, 2, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0],
        16 => &[1, 1, 0, 2, 2, 0, 4, 4, 4, 0, 8, 8, 8, 0, 8, 8, 8, 0],
        19 => &[
            1, 1, 0, 2, 2, 0, 4, 4, 4, 4, 0, 8, 8, 8, 8, 0, 8, 8, 8, 8, 0,
        ],
        _ => return None,
    })
}

fn check_width(what: &'static str, value: u32) -> Result<(), SpecError> {
    if !(1..=1024).contains(&value) {
        return Err(SpecError::Width {
            what,
            value,
            range: "1 to 1024",
        });
    }
    Ok(())
}

impl ModelSpec {
    /// The family's default settings: small (width 32), VGG-11 (width 64), ResNet-20
    /// (width 16), DenseNet-BC-40 (k = 12).
    pub fn default_for(family: &str) -> Result<ModelSpec, SpecError> {
        Ok(match family {
            "small" => ModelSpec::Small { width: 32 },
            "vgg" => ModelSpec::Vgg {
                depth: 11,
                width: 64,
            },
            "resnet" => ModelSpec::Resnet {
                depth: 20,
                width: 16,
            },
            "densenet" => ModelSpec::Densenet {
                depth: 40,
                growth: 12,
            },
            other => return Err(SpecError::UnknownFamily(other.to_string())),
        })
    }

    /// The family with `depth` and `width` (growth rate for DenseNet) where given, else the
    /// defaults; checked.
    pub fn new(
        family: &str,
        depth: Option<u32>,
        width: Option<u32>,
    ) -> Result<ModelSpec, SpecError> {
        let mut spec = Self::default_for(family)?;
        match &mut spec {
            ModelSpec::Small { width: w } => {
                if depth.is_some() {
                    return Err(SpecError::Depth {
                        family: "small",
                        depth: depth.unwrap_or(0),
                        rule: "the small CNN has a fixed depth; leave depth unset",
                    });
                }
                *w = width.unwrap_or(*w);
            }
            ModelSpec::Vgg { depth: d, width: w }
            | ModelSpec::Resnet { depth: d, width: w }
            | ModelSpec::Densenet {
                depth: d,
                growth: w,
            } => {
                *d = depth.unwrap_or(*d);
                *w = width.unwrap_or(*w);
            }
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Checks depth and width.
    pub fn validate(&self) -> Result<(), SpecError> {
        match *self {
            ModelSpec::Small { width } => check_width("width", width),
            ModelSpec::Vgg { depth, width } => {
                if vgg_config(depth).is_none() {
                    return Err(SpecError::Depth {
                        family: "vgg",
                        depth,
                        rule: "use 11, 13, 16 or 19",
                    });
                }
                check_width("width", width)
            }
            ModelSpec::Resnet { depth, width } => {
                if depth < 8 || (depth - 2) % 6 != 0 {
                    return Err(SpecError::Depth {
                        family: "resnet",
                        depth,
                        rule: "it must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110)",
                    });
                }
                check_width("width", width)
            }
            ModelSpec::Densenet { depth, growth } => {
                if depth < 10 || (depth - 4) % 6 != 0 {
                    return Err(SpecError::Depth {
                        family: "densenet",
                        depth,
                        rule:
                            "DenseNet-BC needs depth - 4 divisible by 6, at least 10 (40, 100, 190)",
                    });
                }
                check_width("growth rate", growth)
            }
        }
    }

    /// The base learning rate the family trains well with at batch 64: 0.1 (the papers')
    /// for the deep families; 0.01 for the small CNN, whose linear layer over thousands of
    /// flattened features takes steps too large at 0.1 (measured in BENCHMARKS.md).
    pub fn default_lr(&self) -> f64 {
        self.default_lr_at(64)
    }

    /// The base learning rate for batches of `batch` images: as [`ModelSpec::default_lr`],
    /// except that the small CNN takes 0.005 at batch 16 and below, where it reaches 99%
    /// MNIST test accuracy in 2 epochs (98.9% at batch 32 and 64 with 0.01; BENCHMARKS.md).
    pub fn default_lr_at(&self, batch: u32) -> f64 {
        match self {
            ModelSpec::Small { .. } if batch <= 16 => 0.005,
            ModelSpec::Small { .. } => 0.01,
            _ => 0.1,
        }
    }

    /// The command line's batch size: 16 for the small CNN (the batch that reaches 99% on
    /// MNIST in 2 epochs, at the software adapters' speed per image of batch 64), 64 for
    /// the deep families.
    pub fn default_batch(&self) -> u32 {
        match self {
            ModelSpec::Small { .. } => 16,
            _ => 64,
        }
    }

    /// The model a short name from [`ModelSpec::name`] stands for (as checkpoints record it
    /// in their metadata); `None` for a name it never gives.
    pub fn from_name(name: &str) -> Option<ModelSpec> {
        let number = |text: &str| text.parse::<u32>().ok();
        let spec = if let Some(rest) = name.strip_prefix("small-w") {
            ModelSpec::Small {
                width: number(rest)?,
            }
        } else if let Some(rest) = name.strip_prefix("densenet-bc-") {
            let (depth, growth) = rest.split_once("-k")?;
            ModelSpec::Densenet {
                depth: number(depth)?,
                growth: number(growth)?,
            }
        } else if let Some(rest) = name.strip_prefix("vgg-") {
            let (depth, width) = rest.split_once("-w")?;
            ModelSpec::Vgg {
                depth: number(depth)?,
                width: number(width)?,
            }
        } else if let Some(rest) = name.strip_prefix("resnet-") {
            match rest.split_once("-w") {
                Some((depth, width)) => ModelSpec::Resnet {
                    depth: number(depth)?,
                    width: number(width)?,
                },
                None => ModelSpec::Resnet {
                    depth: number(rest)?,
                    width: 16,
                },
            }
        } else {
            return None;
        };
        (spec.name() == name).then_some(spec)
    }

    /// A short name such as `resnet-20`.
    pub fn name(&self) -> String {
        match *self {
            ModelSpec::Small { width } => format!("small-w{width}"),
            ModelSpec::Vgg { depth, width } => format!("vgg-{depth}-w{width}"),
            ModelSpec::Resnet { depth, width: 16 } => format!("resnet-{depth}"),
            ModelSpec::Resnet { depth, width } => format!("resnet-{depth}-w{width}"),
            ModelSpec::Densenet { depth, growth } => format!("densenet-bc-{depth}-k{growth}"),
        }
    }
}

#[cfg(test)]
mod name_tests {
    use super::ModelSpec;

    #[test]
    fn every_name_reads_back_as_its_model() {
        let specs = [
            ModelSpec::Small { width: 16 },
            ModelSpec::Vgg {
                depth: 11,
                width: 32,
            },
            ModelSpec::Resnet {
                depth: 20,
                width: 16,
            },
            ModelSpec::Resnet { depth: 8, width: 4 },
            ModelSpec::Densenet {
                depth: 40,
                growth: 12,
            },
        ];
        for spec in specs {
            assert_eq!(
                ModelSpec::from_name(&spec.name()),
                Some(spec.clone()),
                "{}",
                spec.name()
            );
        }
        for bad in [
            "",
            "small",
            "small-w",
            "small-wx",
            "resnet-20-w16",
            "vgg-11",
            "lenet-5",
            "small-w016",
        ] {
            assert_eq!(ModelSpec::from_name(bad), None, "{bad}");
        }
    }
}
