//! `snapfreeze compare`: the chosen methods on the same model, data, budget and seeds, one
//! after another on one GPU, tabulated: test error of the final model and of the snapshot
//! ensemble, training time, speed, and FreezeOut's measured against its expected saving.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use snapfreeze::schedule::{Method, Schedule};
use snapfreeze::train::RunSummary;

use super::train::{drive, print_method_results, start};
use super::{write, MethodArgs, MethodKind, RunArgs};

/// A method to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Choice {
    /// Baseline with step decay (x0.1 at 50% and 75%).
    Step,
    /// Baseline with cosine annealing.
    Cosine,
    /// Snapshot Ensembles (--cycles, --alpha0).
    Snapshot,
    /// FreezeOut (--t0, --scaling, --unscaled-lr).
    Freezeout,
}

/// `compare`'s arguments.
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    settings: MethodArgs,
    /// The methods, in order; the first baseline is the reference for time savings.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Choice::Step, Choice::Snapshot, Choice::Freezeout])]
    methods: Vec<Choice>,
    /// Seeds: every method runs once per seed.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64])]
    seeds: Vec<u64>,
    /// Write every run and the table here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

impl CompareArgs {
    fn method(&self, choice: Choice) -> Method {
        match choice {
            Choice::Step => Method::Baseline {
                schedule: Schedule::Step,
            },
            Choice::Cosine => Method::Baseline {
                schedule: Schedule::Cosine,
            },
            Choice::Snapshot => self.settings.method_of(MethodKind::Snapshot),
            Choice::Freezeout => self.settings.method_of(MethodKind::Freezeout),
        }
    }
}

/// One run.
#[derive(Serialize)]
struct Run {
    seed: u64,
    summary: RunSummary,
}

/// Mean and sample standard deviation.
#[derive(Clone, Copy, Debug, Serialize)]
struct Spread {
    mean: f64,
    std: f64,
}

fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = match values.len() {
        1 => 0.0,
        _ => values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0),
    };
    Some(Spread {
        mean,
        std: var.sqrt(),
    })
}

/// One method's line of the table, over its seeds.
#[derive(Serialize)]
struct Row {
    method: String,
    runs: usize,
    /// Test error (%) of the final model.
    single_error: Option<Spread>,
    /// Test error (%) of the ensemble of all snapshots.
    ensemble_error: Option<Spread>,
    /// Test error (%) of the ensemble of the last m snapshots, m = 1, 2, ...
    ensemble_curve: Vec<Spread>,
    train_seconds: Option<Spread>,
    images_per_second: Option<Spread>,
    /// 1 - this method's training time / the reference baseline's, from the mean times.
    measured_saving: Option<f64>,
    /// 1 - FLOPs executed / FLOPs with nothing frozen, forward and backward.
    step_flop_saving: f64,
    /// DESIGN 2's expected backward saving, 1 - sum c_i t_i / sum c_i.
    theoretical_backward_saving: f64,
    /// measured_saving / step_flop_saving.
    measured_over_expected: Option<f64>,
}

fn row(runs: &[&Run], reference_seconds: Option<f64>) -> Row {
    let error = |a: f64| 100.0 * (1.0 - a);
    let single: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.summary.final_test.map(|t| error(t.accuracy)))
        .collect();
    let ensemble: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.summary.ensemble.last().map(|p| error(p.accuracy)))
        .collect();
    let longest = runs
        .iter()
        .map(|r| r.summary.ensemble.len())
        .max()
        .unwrap_or(0);
    let curve = (0..longest)
        .filter_map(|m| {
            let at: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.summary.ensemble.get(m).map(|p| error(p.accuracy)))
                .collect();
            spread(&at)
        })
        .collect();
    let seconds: Vec<f64> = runs.iter().map(|r| r.summary.train_seconds).collect();
    let speed: Vec<f64> = runs.iter().map(|r| r.summary.images_per_second).collect();
    let first = &runs[0].summary;
    let seconds = spread(&seconds);
    let measured_saving = match (reference_seconds, seconds) {
        (Some(reference), Some(s)) if reference > 0.0 => Some(1.0 - s.mean / reference),
        _ => None,
    };
    let step_flop_saving = first.work.step_saving();
    Row {
        method: first.method.clone(),
        runs: runs.len(),
        single_error: spread(&single),
        ensemble_error: spread(&ensemble),
        ensemble_curve: curve,
        train_seconds: seconds,
        images_per_second: spread(&speed),
        measured_saving,
        step_flop_saving,
        theoretical_backward_saving: first.theoretical_backward_saving,
        measured_over_expected: match (measured_saving, step_flop_saving) {
            (Some(m), e) if e > 0.0 => Some(m / e),
            _ => None,
        },
    }
}

fn show(s: Option<Spread>, digits: usize) -> String {
    s.map_or("-".into(), |s| {
        format!("{:.digits$} ± {:.digits$}", s.mean, s.std)
    })
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// Runs `compare`; errors are one line saying what to fix.
pub async fn compare(args: CompareArgs) -> Result<(), String> {
    if args.methods.is_empty() || args.seeds.is_empty() {
        return Err("give at least one method (--methods) and one seed (--seeds)".into());
    }
    // Check every configuration before the first run starts.
    let mut configs = Vec::new();
    for &seed in &args.seeds {
        for &choice in &args.methods {
            configs.push(args.run.config(args.method(choice), seed)?);
        }
    }
    let (train_set, test_set) = args.run.load()?;
    configs[0]
        .training_images(train_set.len())
        .map_err(|e| e.to_string())?;

    let mut runs: Vec<Run> = Vec::new();
    for config in configs {
        let seed = config.seed;
        let mut trainer = start(&train_set, &test_set, config, None).await?;
        drive(&mut trainer, args.quiet, None).await?;
        let summary = trainer.summary();
        println!(
            "seed {seed}, {}: test error {} in {:.1} s",
            summary.method,
            summary.final_test.map_or("n/a".into(), |t| format!(
                "{:.2}%",
                100.0 * (1.0 - t.accuracy)
            )),
            summary.train_seconds
        );
        print_method_results(&summary);
        runs.push(Run { seed, summary });
    }

    let labels: Vec<String> = args
        .methods
        .iter()
        .map(|&c| args.method(c).label())
        .collect();
    let of =
        |label: &str| -> Vec<&Run> { runs.iter().filter(|r| r.summary.method == label).collect() };
    let reference = args
        .methods
        .iter()
        .position(|c| matches!(c, Choice::Step | Choice::Cosine))
        .and_then(|i| {
            spread(
                &of(&labels[i])
                    .iter()
                    .map(|r| r.summary.train_seconds)
                    .collect::<Vec<_>>(),
            )
        })
        .map(|s| s.mean);
    let mut rows: Vec<Row> = Vec::new();
    for label in &labels {
        if rows.iter().any(|r| &r.method == label) {
            continue;
        }
        rows.push(row(&of(label), reference));
    }

    println!();
    println!(
        "{:<34} {:>4} {:>16} {:>16} {:>16} {:>14} {:>9} {:>9} {:>9} {:>9}",
        "method",
        "runs",
        "single err %",
        "ensemble err %",
        "train s",
        "img/s",
        "saved",
        "FLOPs",
        "bwd th.",
        "ratio"
    );
    for r in &rows {
        println!(
            "{:<34} {:>4} {:>16} {:>16} {:>16} {:>14} {:>9} {:>9} {:>9} {:>9}",
            r.method,
            r.runs,
            show(r.single_error, 2),
            show(r.ensemble_error, 2),
            show(r.train_seconds, 1),
            show(r.images_per_second, 1),
            percent(r.measured_saving),
            percent(Some(r.step_flop_saving)),
            percent(Some(r.theoretical_backward_saving)),
            r.measured_over_expected
                .map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
    println!(
        "saved: training time saved against the first baseline; FLOPs: forward+backward FLOPs \
         saved by freezing; bwd th.: DESIGN's 1 - sum c_i t_i / sum c_i; ratio: saved / FLOPs"
    );
    for r in rows.iter().filter(|r| r.ensemble_curve.len() > 1) {
        let curve: Vec<String> = r
            .ensemble_curve
            .iter()
            .enumerate()
            .map(|(m, s)| format!("m={} {:.2}±{:.2}", m + 1, s.mean, s.std))
            .collect();
        println!(
            "{} ensemble error % by size: {}",
            r.method,
            curve.join(", ")
        );
    }

    if let Some(path) = &args.json {
        #[derive(Serialize)]
        struct Report<'a> {
            dataset: super::DatasetKind,
            seeds: &'a [u64],
            rows: &'a [Row],
            runs: &'a [Run],
        }
        let report = Report {
            dataset: args.run.dataset,
            seeds: &args.seeds,
            rows: &rows,
            runs: &runs,
        };
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}
