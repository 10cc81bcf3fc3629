//! `snapfreeze schedule`: every block's learning rate at every iteration, whether it is
//! frozen, and whether a snapshot or member is taken or the weights averaged after it, as
//! CSV, for any method, model and budget. No GPU, no data.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use snapfreeze::nn::Architecture;
use snapfreeze::schedule::{Method, RunSchedule};

use super::{DatasetKind, MethodArgs, ModelArgs};

/// `schedule`'s arguments.
#[derive(Args, Debug)]
pub struct ScheduleArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    method: MethodArgs,
    /// T, the iterations of the run (or give --epochs and --iterations-per-epoch).
    #[arg(long)]
    iterations: Option<u64>,
    /// Epochs of the run (FGE and SWA count in epochs), with --iterations-per-epoch.
    #[arg(long)]
    epochs: Option<u64>,
    /// Iterations per epoch, with --epochs.
    #[arg(long)]
    iterations_per_epoch: Option<u64>,
    /// Base learning rate (default: 0.01 for small, 0.1 for the others).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// The images' shape comes from this dataset (it decides the model's blocks).
    #[arg(long, value_enum, default_value_t = DatasetKind::Mnist)]
    dataset: DatasetKind,
    /// Write the CSV here instead of to standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Prints the CSV (iteration, block, lr, frozen) and a summary of the blocks on stderr.
pub fn schedule(args: ScheduleArgs) -> Result<(), String> {
    let spec = args.model.spec()?;
    let method = args.method.method();
    let lr = args.lr.unwrap_or(spec.default_lr());
    let (total, per_epoch) = budget(&args, method)?;
    // The same checks as training, with a throwaway config.
    let config = snapfreeze::train::TrainConfig {
        model: spec.clone(),
        lr,
        method,
        epochs: (total / per_epoch).try_into().unwrap_or(u32::MAX),
        ..Default::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    config.check_budget(total).map_err(|e| e.to_string())?;
    let (c, h, w) = args.dataset.image_shape();
    let arch = Architecture::new(&spec, c, h, w, 10).map_err(|e| e.to_string())?;
    let run = RunSchedule {
        method,
        alpha: lr,
        blocks: arch.blocks.len(),
        total,
        per_epoch,
    };

    eprintln!(
        "{} with {}: {} blocks, T = {}, alpha = {lr}",
        spec.name(),
        method.label(),
        run.blocks,
        run.total
    );
    for (i, block) in arch.blocks.iter().enumerate() {
        let freeze = run
            .freeze_iteration(i)
            .map_or("never".to_string(), |j| format!("at iteration {j}"));
        eprintln!(
            "  block {i:>3} {:<32} t_i {:.4}  freezes {freeze}",
            block.name,
            run.fraction(i)
        );
    }
    let snapshots = run.snapshot_iterations();
    if !snapshots.is_empty() {
        let what = match method {
            Method::Fge(_) => "members",
            _ => "snapshots",
        };
        eprintln!("  {what} after iterations {snapshots:?}");
    }
    let averages = run.average_iterations();
    if !averages.is_empty() {
        eprintln!("  weights averaged after iterations {averages:?}");
    }

    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match write_csv(sink, &run) {
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write the CSV: {e}")),
        Ok(()) => Ok(()),
    }
}

/// The most iterations `schedule` prints.
const MAX_ITERATIONS: u64 = 100_000_000;

/// T and I from `--iterations`, or from `--epochs` and `--iterations-per-epoch` (which FGE
/// and SWA need, as they count in epochs).
fn budget(args: &ScheduleArgs, method: Method) -> Result<(u64, u64), String> {
    let epoch_based = matches!(method, Method::Fge(_) | Method::Swa(_));
    let (total, per_epoch) = match (args.iterations, args.epochs, args.iterations_per_epoch) {
        (None, Some(e), Some(i)) => {
            if e == 0 || i == 0 {
                return Err(format!(
                    "epochs = {e} and iterations-per-epoch = {i} are not allowed: use at least 1 of each"
                ));
            }
            (e.saturating_mul(i), i)
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(
                "give either --iterations or --epochs with --iterations-per-epoch, not both".into(),
            )
        }
        (Some(_), None, None) if epoch_based => {
            return Err(format!(
            "{} counts in epochs: give --epochs and --iterations-per-epoch instead of --iterations",
            method.kind()
        ))
        }
        (Some(t), None, None) => (t, t.max(1)),
        _ => {
            return Err(
                "give the run's length: --iterations, or --epochs with --iterations-per-epoch"
                    .into(),
            )
        }
    };
    if total == 0 || total > MAX_ITERATIONS {
        return Err(format!(
            "iterations = {total} is not allowed: use 1 to {MAX_ITERATIONS}"
        ));
    }
    Ok((total, per_epoch))
}

/// One row per iteration and block: iteration, block, lr (0 once frozen), frozen, and
/// whether a snapshot or member is taken (`member`) or the weights join SWA's average
/// (`average`) after the iteration.
fn write_csv(sink: Box<dyn Write>, run: &RunSchedule) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    out.write_record(["iteration", "block", "lr", "frozen", "member", "average"])?;
    for j in 0..run.total {
        let (member, average) = (run.snapshot_after(j), run.average_after(j));
        for i in 0..run.blocks {
            let lr = run.block_lr(i, j);
            out.write_record([
                j.to_string(),
                i.to_string(),
                lr.unwrap_or(0.0).to_string(),
                lr.is_none().to_string(),
                member.to_string(),
                average.to_string(),
            ])?;
        }
    }
    out.flush()
}
