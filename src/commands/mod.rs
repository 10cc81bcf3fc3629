//! The native command-line program's subcommands that train: `train`, `compare` and
//! `schedule`, with the settings they share.

pub mod choices;
pub mod compare;
pub mod schedule;
pub mod train;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;
use snapfreeze::data::{parse_cifar10, parse_idx, Dataset};
use snapfreeze::nn::{ForwardChoice, KernelVariants, ModelSpec};
use snapfreeze::schedule::{Fge, FreezeOut, Method, Scaling, Schedule, Swa};
use snapfreeze::train::TrainConfig;

/// Which dataset to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
pub enum DatasetKind {
    /// MNIST digits (IDX files).
    Mnist,
    /// Fashion-MNIST clothes (IDX files).
    Fashion,
    /// CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin).
    Cifar10,
}

impl DatasetKind {
    fn default_dir(self) -> PathBuf {
        PathBuf::from(match self {
            DatasetKind::Mnist => "data/mnist",
            DatasetKind::Fashion => "data/fashion-mnist",
            DatasetKind::Cifar10 => "data/cifar-10-batches-bin",
        })
    }

    /// The name checkpoints record.
    fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Fashion => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar-10",
        }
    }

    /// Channels, height and width of the dataset's images.
    fn image_shape(self) -> (u32, u32, u32) {
        match self {
            DatasetKind::Mnist | DatasetKind::Fashion => (1, 28, 28),
            DatasetKind::Cifar10 => (3, 32, 32),
        }
    }
}

/// The model: family, depth, width.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model family: small, vgg, resnet or densenet.
    #[arg(long, default_value = "small")]
    model: String,
    /// Depth (vgg: 11, 13, 16, 19; resnet: 6n+2; densenet: 3n+4 with n even).
    #[arg(long)]
    depth: Option<u32>,
    /// Width of the first stage (growth rate for densenet).
    #[arg(long)]
    width: Option<u32>,
}

impl ModelArgs {
    fn spec(&self) -> Result<ModelSpec, String> {
        ModelSpec::new(&self.model, self.depth, self.width).map_err(|e| e.to_string())
    }
}

/// The method and its settings.
#[derive(Args, Debug, Clone)]
pub struct MethodArgs {
    /// Training method.
    #[arg(long, value_enum, default_value_t = MethodKind::Baseline)]
    method: MethodKind,
    /// The baseline's learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    schedule: ScheduleArg,
    /// Snapshot Ensembles: cycles M (one snapshot at the end of each).
    #[arg(long, default_value_t = 5)]
    cycles: u32,
    /// Snapshot Ensembles: the rate each cycle restarts at (default: --lr).
    #[arg(long, allow_negative_numbers = true)]
    alpha0: Option<f64>,
    /// FreezeOut: the first block's freeze fraction before scaling, in (0, 1].
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    t0: f64,
    /// FreezeOut: how freeze fractions are scaled.
    #[arg(long, value_enum, default_value_t = ScalingArg::Cubic)]
    scaling: ScalingArg,
    /// FreezeOut: start every block at --lr instead of --lr / t_i.
    #[arg(long)]
    unscaled_lr: bool,
    /// FGE: the fraction of the epochs spent pre-training (step schedule) before the cycles.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pretrain: f64,
    /// FGE: epochs per cycle (even); a member is taken at each cycle's middle.
    #[arg(long, default_value_t = 2)]
    cycle: u32,
    /// FGE: the rate at each cycle's ends (default: --lr / 2).
    #[arg(long, allow_negative_numbers = true)]
    alpha1: Option<f64>,
    /// FGE: the rate at each cycle's middle (default: alpha1 / 500).
    #[arg(long, allow_negative_numbers = true)]
    alpha2: Option<f64>,
    /// SWA: where averaging starts, as a fraction of the epochs.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    swa_start: f64,
    /// SWA: the rate averaging runs at (default: --lr / 5).
    #[arg(long, allow_negative_numbers = true)]
    swa_lr: Option<f64>,
}

/// The methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodKind {
    /// One schedule for the whole network (--schedule).
    Baseline,
    /// Snapshot Ensembles (--cycles, --alpha0).
    Snapshot,
    /// FreezeOut (--t0, --scaling, --unscaled-lr).
    Freezeout,
    /// Fast Geometric Ensembling (--pretrain, --cycle, --alpha1, --alpha2).
    Fge,
    /// Stochastic Weight Averaging (--swa-start, --swa-lr).
    Swa,
}

/// Learning-rate schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// Divide by 10 at 50% and 75% of training.
    Step,
    /// Cosine annealing to zero, every iteration.
    Cosine,
    /// Constant.
    Constant,
}

impl ScheduleArg {
    fn schedule(self) -> Schedule {
        match self {
            ScheduleArg::Step => Schedule::Step,
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
        }
    }
}

/// FreezeOut's scalings.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScalingArg {
    /// t_i = t0 + (1 - t0) i / L.
    Linear,
    /// Squared.
    Squared,
    /// Cubed.
    Cubic,
}

impl MethodArgs {
    /// The method `kind` with these settings.
    fn method_of(&self, kind: MethodKind) -> Method {
        match kind {
            MethodKind::Baseline => Method::Baseline {
                schedule: self.schedule.schedule(),
            },
            MethodKind::Snapshot => Method::Snapshot {
                cycles: self.cycles,
                alpha0: self.alpha0,
            },
            MethodKind::Freezeout => Method::Freezeout(FreezeOut {
                t0: self.t0,
                scaling: match self.scaling {
                    ScalingArg::Linear => Scaling::Linear,
                    ScalingArg::Squared => Scaling::Squared,
                    ScalingArg::Cubic => Scaling::Cubic,
                },
                scaled_lr: !self.unscaled_lr,
            }),
            MethodKind::Fge => Method::Fge(Fge {
                pretrain: self.pretrain,
                cycle: self.cycle,
                alpha1: self.alpha1,
                alpha2: self.alpha2,
            }),
            MethodKind::Swa => Method::Swa(Swa {
                start: self.swa_start,
                lr: self.swa_lr,
            }),
        }
    }

    /// The method chosen with --method.
    fn method(&self) -> Method {
        self.method_of(self.method)
    }
}

/// Forward algorithm choice.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ForwardArg {
    /// Time both on this adapter per layer shape.
    Measure,
    /// Implicit GEMM everywhere (bit-for-bit repeatable).
    Implicit,
    /// im2col + matmul everywhere.
    Im2col,
}

/// Which variant of the kernels that come in two runs: the software adapters' or the GPUs'.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KernelVariantsArg {
    /// Time both (and the weight gradient's splits) on this adapter per layer shape.
    Measure,
    /// The software adapters' everywhere: register-tiled weight gradient, one-pass batch-norm
    /// reductions (bit-for-bit repeatable).
    Registers,
    /// The GPUs' everywhere: workgroup-memory weight gradient and batch-norm reductions,
    /// both split over the batch at their default parts (bit-for-bit repeatable).
    Shared,
}

/// Everything a training run needs besides the method.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Dataset.
    #[arg(long, value_enum, default_value_t = DatasetKind::Mnist)]
    dataset: DatasetKind,
    /// Directory with the dataset's files (default: where `make setup` put them).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Epochs.
    #[arg(long, default_value_t = 2)]
    epochs: u32,
    /// Batch size (default: 16 for small, 64 for the others).
    #[arg(long)]
    batch: Option<u32>,
    /// Base learning rate (default: 0.1; for small, 0.005 at batch 16 and below, else 0.01).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Momentum.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    momentum: f64,
    /// Plain instead of Nesterov momentum.
    #[arg(long)]
    no_nesterov: bool,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true)]
    weight_decay: f64,
    /// Random crops: on or off (default: off for MNIST, on otherwise).
    #[arg(long)]
    augment: Option<bool>,
    /// Random horizontal flips: on or off (default: off for MNIST, on otherwise).
    #[arg(long)]
    flip: Option<bool>,
    /// Keep the file order instead of shuffling every epoch.
    #[arg(long)]
    no_shuffle: bool,
    /// Hold out this many training images for validation.
    #[arg(long, default_value_t = 0)]
    validation: u32,
    /// Train on only the first N training images.
    #[arg(long, default_value_t = 0)]
    train_limit: u32,
    /// Test on only the first N test images.
    #[arg(long, default_value_t = 0)]
    test_limit: u32,
    /// Read metrics back every N steps (1 to 64).
    #[arg(long, default_value_t = 16)]
    readback_every: u32,
    /// Evaluate on the test set only at the end (and at each snapshot or member), not after
    /// every epoch: long runs on small training sets spend most of their time evaluating.
    #[arg(long)]
    no_epoch_eval: bool,
    /// How each convolution's forward algorithm is chosen.
    #[arg(long, value_enum, default_value_t = ForwardArg::Measure)]
    conv_forward: ForwardArg,
    /// Which variant of the two-variant kernels runs (weight gradient, batch-norm reductions).
    #[arg(long, value_enum, default_value_t = KernelVariantsArg::Measure)]
    kernel_variants: KernelVariantsArg,
}

impl RunArgs {
    /// The settings for `method` and `seed`, checked.
    fn config(&self, method: Method, seed: u64) -> Result<TrainConfig, String> {
        let model = self.model.spec()?;
        let natural = self.dataset != DatasetKind::Mnist;
        let batch = self.batch.unwrap_or(model.default_batch());
        let config = TrainConfig {
            lr: self.lr.unwrap_or(model.default_lr_at(batch)),
            model,
            epochs: self.epochs,
            batch,
            momentum: self.momentum,
            nesterov: !self.no_nesterov,
            weight_decay: self.weight_decay,
            seed,
            method,
            augment: self.augment.unwrap_or(natural),
            flip: self.flip.unwrap_or(natural),
            shuffle: !self.no_shuffle,
            validation: self.validation,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            readback_every: self.readback_every,
            eval_every_epoch: !self.no_epoch_eval,
            forward: match self.conv_forward {
                ForwardArg::Measure => ForwardChoice::Measure,
                ForwardArg::Implicit => ForwardChoice::Implicit,
                ForwardArg::Im2col => ForwardChoice::Im2col,
            },
            kernel_variants: match self.kernel_variants {
                KernelVariantsArg::Measure => KernelVariants::Measure,
                KernelVariantsArg::Registers => KernelVariants::Registers,
                KernelVariantsArg::Shared => KernelVariants::Shared,
            },
            dataset: self.dataset.name().to_string(),
        };
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// The training and test sets.
    fn load(&self) -> Result<(Dataset, Dataset), String> {
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| self.dataset.default_dir());
        load(self.dataset, &dir)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {}: {e}; run `make setup` to fetch the datasets, or point --data-dir at them",
            path.display()
        )
    })
}

fn load_idx(dir: &Path, prefix: &str) -> Result<Dataset, String> {
    let file = |kind: &str| {
        let plain = dir.join(format!("{prefix}-{kind}"));
        let gz = dir.join(format!("{prefix}-{kind}.gz"));
        if plain.exists() {
            plain
        } else {
            gz
        }
    };
    let images = read(&file("images-idx3-ubyte"))?;
    let labels = read(&file("labels-idx1-ubyte"))?;
    parse_idx(&images, &labels).map_err(|e| format!("{prefix} set in {}: {e}", dir.display()))
}

/// The training and test sets of `kind` from `dir`.
pub fn load(kind: DatasetKind, dir: &Path) -> Result<(Dataset, Dataset), String> {
    match kind {
        DatasetKind::Mnist | DatasetKind::Fashion => {
            Ok((load_idx(dir, "train")?, load_idx(dir, "t10k")?))
        }
        DatasetKind::Cifar10 => {
            let mut batches = Vec::new();
            for i in 1..=5 {
                batches.push(read(&dir.join(format!("data_batch_{i}.bin")))?);
            }
            let slices: Vec<&[u8]> = batches.iter().map(|b| b.as_slice()).collect();
            let train = parse_cifar10(&slices).map_err(|e| e.to_string())?;
            let test = read(&dir.join("test_batch.bin"))?;
            let test = parse_cifar10(&[&test]).map_err(|e| e.to_string())?;
            Ok((train, test))
        }
    }
}

/// Checks `config` against a training set of `images` images before the GPU opens: the
/// batch and split fit, and the method fits the run's length.
fn check_data(config: &TrainConfig, images: usize) -> Result<(), String> {
    match config.problems_with_data(images).into_iter().next() {
        Some(problem) => Err(problem.to_string()),
        None => Ok(()),
    }
}

/// Writes `text` to `path`, or says why not.
fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes a file that must never be left half-written (a fault mid-write keeps the last
/// whole one): the bytes go to a sibling file first, which then replaces it.
fn replace(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    write(&partial, bytes)?;
    std::fs::rename(&partial, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}
