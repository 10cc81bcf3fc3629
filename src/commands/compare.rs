//! `snapfreeze compare`: the chosen methods on the same model, data, budget and seeds, one
//! after another on one GPU, tabulated: test error of the final model and of the snapshot
//! ensemble, training time, speed, and FreezeOut's measured against its expected saving.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use snapfreeze::schedule::{Method, Schedule};
use snapfreeze::train::RunSummary;

use super::train::{drive, print_method_results, start};
use super::{check_data, write, MethodArgs, MethodKind, RunArgs};

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

/// Steps timed to measure the forward half of a baseline step.
const FORWARD_TIMING_STEPS: u32 = 8;

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
    /// FreezeOut's saving (%) measured inside each run against its own unfrozen steps.
    in_run_saving: Option<Spread>,
    /// The time saved against the reference baseline as a fraction of the baseline's
    /// backward time (its training time less its steps' forward time): the measured
    /// counterpart of `theoretical_backward_saving`.
    measured_backward_saving: Option<f64>,
    /// 1 - FLOPs executed / FLOPs with nothing frozen, forward and backward.
    step_flop_saving: f64,
    /// The expected backward saving (docs/design.md §2.5), 1 - sum c_i t_i / sum c_i.
    theoretical_backward_saving: f64,
    /// measured_saving / step_flop_saving.
    measured_over_expected: Option<f64>,
}

/// The reference baseline's mean training time and its backward part.
#[derive(Clone, Copy, Serialize)]
struct Reference {
    seconds: f64,
    iterations: u64,
    forward_seconds_per_step: f64,
    backward_seconds: f64,
}

fn row(runs: &[&Run], reference: Option<Reference>) -> Row {
    let reference_seconds = reference.map(|r| r.seconds);
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
    let measured_backward_saving = match (reference, seconds) {
        (Some(r), Some(s)) if r.backward_seconds > 0.0 && step_flop_saving > 0.0 => {
            Some((r.seconds - s.mean) / r.backward_seconds)
        }
        _ => None,
    };
    let in_run: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.summary.measured_saving.map(|m| 100.0 * m))
        .collect();
    Row {
        in_run_saving: spread(&in_run),
        method: first.method.clone(),
        runs: runs.len(),
        single_error: spread(&single),
        ensemble_error: spread(&ensemble),
        ensemble_curve: curve,
        train_seconds: seconds,
        images_per_second: spread(&speed),
        measured_saving,
        step_flop_saving,
        measured_backward_saving,
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
    for config in &configs {
        check_data(config, train_set.len())?;
    }

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
    let baseline = args
        .methods
        .iter()
        .position(|c| matches!(c, Choice::Step | Choice::Cosine));
    let reference = match baseline {
        Some(i) => {
            let runs = of(&labels[i]);
            let seconds: Vec<f64> = runs.iter().map(|r| r.summary.train_seconds).collect();
            let seconds = spread(&seconds).map_or(0.0, |s| s.mean);
            let iterations = runs[0].summary.iterations;
            // The forward half of a baseline step, timed on a throwaway trainer.
            let config = args
                .run
                .config(args.method(args.methods[i]), args.seeds[0])?;
            let mut probe = start(&train_set, &test_set, config, None).await?;
            let forward = probe
                .time_forward_pass(FORWARD_TIMING_STEPS)
                .await
                .map_err(|e| e.to_string())?;
            Some(Reference {
                seconds,
                iterations,
                forward_seconds_per_step: forward,
                backward_seconds: seconds - forward * iterations as f64,
            })
        }
        None => None,
    };
    let mut rows: Vec<Row> = Vec::new();
    for label in &labels {
        if rows.iter().any(|r| &r.method == label) {
            continue;
        }
        rows.push(row(&of(label), reference));
    }

    println!();
    let widths = [34, 4, 16, 16, 16, 14, 9, 13, 9, 9, 9, 9, 9];
    let line = |cells: [String; 13]| -> String {
        let mut text = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            text += &format!(" {cell:>w$}");
        }
        text
    };
    let header = [
        "method",
        "runs",
        "single err %",
        "ensemble err %",
        "train s",
        "img/s",
        "saved",
        "in-run %",
        "FLOPs",
        "ratio",
        "bwd meas.",
        "bwd th.",
        "ratio",
    ];
    println!("{}", line(header.map(String::from)));
    for r in &rows {
        println!(
            "{}",
            line([
                r.method.clone(),
                r.runs.to_string(),
                show(r.single_error, 2),
                show(r.ensemble_error, 2),
                show(r.train_seconds, 1),
                show(r.images_per_second, 1),
                percent(r.measured_saving),
                show(r.in_run_saving, 1),
                percent(Some(r.step_flop_saving)),
                r.measured_over_expected
                    .map_or("-".into(), |v| format!("{v:.2}")),
                percent(r.measured_backward_saving),
                percent(Some(r.theoretical_backward_saving)),
                match (r.measured_backward_saving, r.theoretical_backward_saving) {
                    (Some(m), t) if t > 0.0 => format!("{:.2}", m / t),
                    _ => "-".into(),
                },
            ])
        );
    }
    println!(
        "saved: training time saved against the first baseline; in-run: the same measured \
         inside each run against its own steps with nothing frozen; FLOPs: forward+backward \
         FLOPs saved by freezing (ratio: saved / FLOPs); bwd meas.: the time saved as a share \
         of the baseline's backward time (its time less its steps x the mean of \
         {FORWARD_TIMING_STEPS} timed forward halves); bwd th.: the design's 1 - sum c_i t_i / \
         sum c_i (ratio: bwd meas. / bwd th.)"
    );
    if let Some(r) = reference {
        println!(
            "baseline step: {:.3} s forward, {:.3} s backward and update",
            r.forward_seconds_per_step,
            r.backward_seconds / r.iterations.max(1) as f64
        );
    }
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
            reference: Option<Reference>,
            rows: &'a [Row],
            runs: &'a [Run],
        }
        let report = Report {
            dataset: args.run.dataset,
            seeds: &args.seeds,
            reference,
            rows: &rows,
            runs: &runs,
        };
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}
