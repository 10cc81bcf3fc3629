//! `snapfreeze train`: load a dataset, train a model with a progress bar, print and save
//! the results.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use snapfreeze::data::{parse_cifar10, parse_idx, Dataset};
use snapfreeze::gpu::Gpu;
use snapfreeze::nn::{ForwardChoice, ModelSpec};
use snapfreeze::schedule::Schedule;
use snapfreeze::train::{EpochMetrics, Event, TrainConfig, Trainer};

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
}

/// `train`'s arguments.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset.
    #[arg(long, value_enum, default_value_t = DatasetKind::Mnist)]
    dataset: DatasetKind,
    /// Directory with the dataset's files (default: where `make setup` put them).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Model family: small, vgg, resnet or densenet.
    #[arg(long, default_value = "small")]
    model: String,
    /// Depth (vgg: 11, 13, 16, 19; resnet: 6n+2; densenet: 3n+4 with n even).
    #[arg(long)]
    depth: Option<u32>,
    /// Width of the first stage (growth rate for densenet).
    #[arg(long)]
    width: Option<u32>,
    /// Epochs.
    #[arg(long, default_value_t = 2)]
    epochs: u32,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Base learning rate (default: 0.01 for small, 0.1 for the others).
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
    /// Seed of weights, shuffles and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    schedule: ScheduleArg,
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
    /// How each convolution's forward algorithm is chosen.
    #[arg(long, value_enum, default_value_t = ForwardArg::Measure)]
    conv_forward: ForwardArg,
    /// Start from these weights (safetensors with PyTorch names).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Save the final weights here (safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Also save to --save after every N epochs (0: only at the end).
    #[arg(long, default_value_t = 0)]
    save_every: u32,
    /// Write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar, one line per epoch.
    #[arg(long)]
    quiet: bool,
}

/// Learning-rate schedules.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScheduleArg {
    /// Divide by 10 at 50% and 75% of training.
    Step,
    /// Cosine annealing to zero, every iteration.
    Cosine,
    /// Constant.
    Constant,
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

/// What `--json` writes.
#[derive(Serialize)]
struct Results<'a> {
    dataset: DatasetKind,
    model: String,
    adapter: String,
    parameters: u32,
    config: &'a TrainConfig,
    iterations: u64,
    wall_seconds: f64,
    training_seconds: f64,
    images_per_second: f64,
    /// Convolution and linear FLOPs of one image's forward pass (training is about 3x).
    forward_mflop_per_image: f64,
    /// 3 x forward FLOPs x images per second: the rate the kernels sustained.
    training_gflop_per_second: f64,
    final_test_accuracy: Option<f64>,
    forward_algorithms: Vec<String>,
    epochs: &'a [EpochMetrics],
    step_losses: Vec<f64>,
}

fn config_from(args: &TrainArgs) -> Result<TrainConfig, String> {
    let model = ModelSpec::new(&args.model, args.depth, args.width).map_err(|e| e.to_string())?;
    let natural = args.dataset != DatasetKind::Mnist;
    let config = TrainConfig {
        lr: args.lr.unwrap_or(model.default_lr()),
        model,
        epochs: args.epochs,
        batch: args.batch,
        momentum: args.momentum,
        nesterov: !args.no_nesterov,
        weight_decay: args.weight_decay,
        seed: args.seed,
        schedule: match args.schedule {
            ScheduleArg::Step => Schedule::Step,
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Constant => Schedule::Constant,
        },
        augment: args.augment.unwrap_or(natural),
        flip: args.flip.unwrap_or(natural),
        shuffle: !args.no_shuffle,
        validation: args.validation,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        readback_every: args.readback_every,
        eval_every_epoch: true,
        forward: match args.conv_forward {
            ForwardArg::Measure => ForwardChoice::Measure,
            ForwardArg::Implicit => ForwardChoice::Implicit,
            ForwardArg::Im2col => ForwardChoice::Im2col,
        },
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn epoch_line(e: &EpochMetrics) -> String {
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);
    let mut line = format!(
        "epoch {:>3}: train loss {:.4} acc {}",
        e.epoch + 1,
        e.train_loss,
        pct(e.train_accuracy)
    );
    if let Some(v) = &e.validation {
        line += &format!(" | validation loss {:.4} acc {}", v.loss, pct(v.accuracy));
    }
    if let Some(t) = &e.test {
        line += &format!(" | test loss {:.4} acc {}", t.loss, pct(t.accuracy));
    }
    line + &format!(" | {:.1} s, {:.0} img/s", e.seconds, e.images_per_second)
}

/// Runs `train`; errors are one line saying what to fix.
pub async fn train(args: TrainArgs) -> Result<(), String> {
    let started = Instant::now();
    let config = config_from(&args)?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| args.dataset.default_dir());
    let (train_set, test_set) = load(args.dataset, &dir)?;
    config
        .training_images(train_set.len())
        .map_err(|e| e.to_string())?;
    let init = match &args.init {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
        None => None,
    };
    let gpu = Rc::new(Gpu::new().await.map_err(|e| e.to_string())?);
    let adapter = gpu.adapter().summary();
    let mut trainer = Trainer::new(gpu, &train_set, &test_set, config.clone(), init.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let model = config.model.name();
    eprintln!(
        "{model} ({} parameters) on {adapter}: {} epochs of {} steps, batch {}",
        trainer.plan().layouts.params.len,
        config.epochs,
        trainer.steps_per_epoch(),
        config.batch
    );
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(trainer.total_iterations());
        let style = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .map_err(|e| e.to_string())?;
        bar.set_style(style);
        bar
    };
    if args.save_every > 0 && args.save.is_none() {
        return Err("--save-every needs --save FILE to write to".into());
    }
    while !trainer.is_finished() {
        let result = trainer.run(config.readback_every as u64).await;
        let mut save_now = false;
        for event in trainer.take_events() {
            match event {
                Event::Steps {
                    first,
                    count,
                    images_per_second,
                } => {
                    if let Some(s) = trainer.steps()[first..first + count].last() {
                        let status = format!(
                            "loss {:.4}  acc {:.1}%  {:.0} img/s",
                            s.loss,
                            100.0 * s.accuracy,
                            images_per_second
                        );
                        // Quiet runs (logs, background jobs) get a line every 5% instead.
                        let every = (trainer.total_iterations() / 20).max(1);
                        let before = trainer.iteration() - count as u64;
                        if args.quiet && trainer.iteration() / every != before / every {
                            eprintln!(
                                "step {}/{}: {status}",
                                trainer.iteration(),
                                trainer.total_iterations()
                            );
                        }
                        bar.set_message(status);
                    }
                    bar.set_position(trainer.iteration());
                }
                Event::Epoch(e) => {
                    save_now |= args.save_every > 0 && (e.epoch + 1) % args.save_every == 0;
                    if args.quiet {
                        eprintln!("{}", epoch_line(&e));
                    } else {
                        bar.println(epoch_line(&e));
                    }
                }
                Event::Finished => {}
            }
        }
        if let Err(e) = result {
            bar.abandon();
            return Err(e.to_string());
        }
        if let (true, Some(path)) = (save_now, &args.save) {
            save(&trainer, path).await?;
        }
    }
    bar.finish_and_clear();
    let epochs = trainer.epochs();
    let training_seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
    let images = trainer.iteration() as f64 * config.batch as f64;
    let final_test = epochs.last().and_then(|e| e.test).map(|t| t.accuracy);
    let per_second = images / training_seconds.max(1e-9);
    let forward_flop: f64 = trainer
        .plan()
        .blocks
        .iter()
        .map(|b| b.forward_flops)
        .sum::<f64>()
        / config.batch as f64;
    let gflops = 3.0 * forward_flop * per_second / 1e9;
    println!(
        "{model}: test accuracy {} after {} epochs; {:.1} s training, {per_second:.0} img/s \
         ({:.1} MFLOP forward per image, about {gflops:.2} GFLOP/s)",
        final_test.map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a)),
        epochs.len(),
        training_seconds,
        forward_flop / 1e6,
    );
    if let Some(path) = &args.save {
        save(&trainer, path).await?;
        println!("weights saved to {}", path.display());
    }
    if let Some(path) = &args.json {
        let results = Results {
            dataset: args.dataset,
            model,
            adapter,
            parameters: trainer.plan().layouts.params.len,
            config: &config,
            iterations: trainer.iteration(),
            wall_seconds: started.elapsed().as_secs_f64(),
            training_seconds,
            images_per_second: per_second,
            forward_mflop_per_image: forward_flop / 1e6,
            training_gflop_per_second: gflops,
            final_test_accuracy: final_test,
            forward_algorithms: trainer
                .plan()
                .algorithms
                .iter()
                .map(|(s, a)| format!("{}: {a:?}", s.describe()))
                .collect(),
            epochs,
            step_losses: trainer.steps().iter().map(|s| s.loss).collect(),
        };
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

async fn save(trainer: &Trainer, path: &Path) -> Result<(), String> {
    let bytes = trainer.checkpoint().await.map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
