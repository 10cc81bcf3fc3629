//! `snapfreeze schedule`: every block's learning rate at every iteration, and whether it is
//! frozen, as CSV, for any method, model and budget. No GPU, no data.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use snapfreeze::nn::Architecture;
use snapfreeze::schedule::RunSchedule;

use super::{DatasetKind, MethodArgs, ModelArgs};

/// `schedule`'s arguments.
#[derive(Args, Debug)]
pub struct ScheduleArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    method: MethodArgs,
    /// T, the iterations of the run.
    #[arg(long)]
    iterations: u64,
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
    // The same checks as training, with a throwaway config.
    let config = snapfreeze::train::TrainConfig {
        model: spec.clone(),
        lr,
        method,
        ..Default::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    if args.iterations == 0 || args.iterations > 100_000_000 {
        return Err(format!(
            "iterations = {} is not allowed: use 1 to 100000000",
            args.iterations
        ));
    }
    config
        .check_budget(args.iterations)
        .map_err(|e| e.to_string())?;
    let (c, h, w) = args.dataset.image_shape();
    let arch = Architecture::new(&spec, c, h, w, 10).map_err(|e| e.to_string())?;
    let run = RunSchedule {
        method,
        alpha: lr,
        blocks: arch.blocks.len(),
        total: args.iterations,
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
        eprintln!("  snapshots after iterations {snapshots:?}");
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

/// One row per iteration and block: iteration, block, lr (0 once frozen), frozen.
fn write_csv(sink: Box<dyn Write>, run: &RunSchedule) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    out.write_record(["iteration", "block", "lr", "frozen"])?;
    for j in 0..run.total {
        for i in 0..run.blocks {
            let lr = run.block_lr(i, j);
            out.write_record([
                j.to_string(),
                i.to_string(),
                lr.unwrap_or(0.0).to_string(),
                lr.is_none().to_string(),
            ])?;
        }
    }
    out.flush()
}
