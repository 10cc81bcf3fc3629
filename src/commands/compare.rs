//! `snapfreeze compare`: the chosen methods on the same model, data, budget and seeds, one
//! after another on one GPU, tabulated: test error of the final model and of the snapshot
//! ensemble, training time, speed, and FreezeOut's measured against its expected saving.
//! `snapfreeze report` prints the same table from a saved comparison (this command's JSON
//! or the page's results export). The rows come from `snapfreeze::train::report`, as the
//! page's do.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use snapfreeze::schedule::{Method, Schedule};
use snapfreeze::train::report::{self, Comparison, Reference, Row, RunRecord, Spread};
use snapfreeze::train::verdict::verdict;

use super::train::{drive, print_method_results, start, time_freezing};
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
    /// Fast Geometric Ensembling (--pretrain, --cycle, --alpha1, --alpha2).
    Fge,
    /// Stochastic Weight Averaging (--swa-start, --swa-lr).
    Swa,
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
            Choice::Fge => self.settings.method_of(MethodKind::Fge),
            Choice::Swa => self.settings.method_of(MethodKind::Swa),
        }
    }
}

/// Steps timed to measure the forward half of a baseline step.
const FORWARD_TIMING_STEPS: u32 = 8;

fn show(s: Option<Spread>, scale: f64, digits: usize) -> String {
    s.map_or("-".into(), |s| {
        format!("{:.digits$} ± {:.digits$}", scale * s.mean, scale * s.std)
    })
}

fn percent(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// The table's cells for one row: what `compare` and `report` print.
fn cells(r: &Row) -> [String; 12] {
    [
        r.title.clone(),
        r.runs.to_string(),
        show(r.test_error, 100.0, 2),
        show(r.ensemble_error, 100.0, 2),
        show(r.train_seconds, 1.0, 1),
        show(r.images_per_second, 1.0, 1),
        percent(r.time_saved),
        show(r.in_run_saving, 100.0, 1),
        percent(Some(r.step_flop_saving)),
        r.time_over_flops.map_or("-".into(), |v| format!("{v:.2}")),
        percent(r.backward_saving_measured),
        percent(r.backward_saving_theory),
    ]
}

/// Prints the comparison's table, its legend and the ensembles' curves.
pub fn print_table(c: &Comparison) {
    println!();
    let widths = [40, 4, 16, 16, 16, 14, 9, 13, 9, 9, 9, 9];
    let line = |cells: [String; 12]| -> String {
        let mut text = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            text += &format!(" {cell:>w$}");
        }
        text
    };
    let header = [
        "method",
        "runs",
        "test err %",
        "ensemble err %",
        "train s",
        "img/s",
        "saved",
        "in-run %",
        "FLOPs",
        "ratio",
        "bwd meas.",
        "bwd th.",
    ];
    println!("{}", line(header.map(String::from)));
    for r in &c.rows {
        println!("{}", line(cells(r)));
    }
    println!(
        "saved: training time saved against the first baseline; in-run: the same measured \
         inside each run against its own steps with nothing frozen; FLOPs: forward+backward \
         FLOPs saved by freezing (ratio: saved / FLOPs); bwd meas.: the time saved as a share \
         of the baseline's backward time (its time less its steps x its forward half's time \
         per step); bwd th.: the design's 1 - sum c_i t_i / sum c_i"
    );
    if let Some(Reference {
        forward_seconds_per_step: Some(forward),
        backward_seconds: Some(backward),
        iterations,
        ..
    }) = c.reference
    {
        println!(
            "baseline step: {forward:.3} s forward, {:.3} s backward and update",
            backward / iterations.max(1) as f64
        );
    }
    for r in c.rows.iter().filter(|r| r.ensemble_curve.len() > 1) {
        let curve: Vec<String> = r
            .ensemble_curve
            .iter()
            .enumerate()
            .map(|(m, s)| format!("m={} {:.2}±{:.2}", m + 1, 100.0 * s.mean, 100.0 * s.std))
            .collect();
        println!("{} ensemble error % by size: {}", r.title, curve.join(", "));
    }
    for sentence in verdict(c) {
        println!("{sentence}");
    }
    for r in &c.rows {
        print_diversity(r);
        if let (Some(swa), Some(sgd)) = (r.test_error, r.sgd_error) {
            println!(
                "{}: the average's test error {:.2}±{:.2}%, the last SGD weights' {:.2}±{:.2}%",
                r.title,
                100.0 * swa.mean,
                100.0 * swa.std,
                100.0 * sgd.mean,
                100.0 * sgd.std
            );
        }
    }
}

/// The members' diversity table of an ensembling method: each member's error alone, and
/// its disagreement and KL divergence with every other member (means over seeds).
fn print_diversity(r: &Row) {
    let Some(d) = r.diversity.as_ref().filter(|d| d.accuracy.len() > 1) else {
        return;
    };
    let m = d.accuracy.len();
    println!(
        "{}: members' diversity (mean over {} run{}; disagreement: share of test images on \
         which two members predict different classes; KL: mean KL(row || column) per image)",
        r.title,
        r.runs,
        if r.runs == 1 { "" } else { "s" }
    );
    let columns: String = (1..=m).map(|k| format!("{k:>6}")).collect();
    println!("  member  err % alone | disagreement % with | KL with");
    println!("                      | {columns} | {columns}");
    for a in 0..m {
        let dis: String = d.disagreement[a]
            .iter()
            .map(|v| format!("{:>6.1}", 100.0 * v))
            .collect();
        let kl: String = d.kl[a].iter().map(|v| format!("{v:>6.3}")).collect();
        let error = 100.0 * (1.0 - d.accuracy[a]);
        println!("  {:>6}  {error:>11.2} | {dis} | {kl}", a + 1);
    }
    if let (Some(dis), Some(kl)) = (r.disagreement, r.kl) {
        println!(
            "  mean over pairs: disagreement {:.1}±{:.1}%, KL {:.3}±{:.3}",
            100.0 * dis.mean,
            100.0 * dis.std,
            kl.mean,
            kl.std
        );
    }
}

/// What `compare --json` writes; `report` reads its `runs` back.
#[derive(Serialize)]
struct Saved<'a> {
    generator: &'static str,
    dataset: super::DatasetKind,
    seeds: &'a [u64],
    runs: &'a [RunRecord],
    #[serde(flatten)]
    comparison: &'a Comparison,
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

    let mut runs: Vec<RunRecord> = Vec::new();
    for config in configs {
        let seed = config.seed;
        let baseline = matches!(config.method, Method::Baseline { .. });
        let mut trainer = start(&train_set, &test_set, config, None).await?;
        drive(&mut trainer, args.quiet, None).await?;
        time_freezing(&mut trainer).await?;
        let summary = trainer.summary();
        println!(
            "seed {seed}, {}: test error {} in {:.1} s",
            summary.title,
            summary.final_test.map_or("n/a".into(), |t| format!(
                "{:.2}%",
                100.0 * (1.0 - t.accuracy)
            )),
            summary.train_seconds
        );
        print_method_results(&summary);
        // A finished baseline times its forward half, to split its step time into forward
        // and backward (the page does the same).
        let forward = match baseline {
            true => Some(
                trainer
                    .time_forward_pass(FORWARD_TIMING_STEPS)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            false => None,
        };
        runs.push(RunRecord {
            seed: Some(seed),
            finished: trainer.is_finished(),
            forward_seconds_per_step: forward,
            summary: Some(summary),
        });
    }

    let comparison = report::compare(&runs);
    print_table(&comparison);
    if let Some(path) = &args.json {
        let saved = Saved {
            generator: "snapfreeze compare",
            dataset: args.run.dataset,
            seeds: &args.seeds,
            runs: &runs,
            comparison: &comparison,
        };
        let text = serde_json::to_string_pretty(&saved).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}

/// `report`'s arguments.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A saved comparison: `compare --json`'s file or the page's results export (JSON).
    file: PathBuf,
    /// Write the reference and rows here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The part of a saved comparison `report` reads.
#[derive(Deserialize)]
struct SavedRuns {
    runs: Vec<RunRecord>,
}

/// Runs `report`: the table of a saved comparison, from its runs.
pub fn report_file(args: ReportArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let saved: SavedRuns = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a saved comparison (compare --json, or the page's results JSON): {e}",
            args.file.display()
        )
    })?;
    let comparison = report::compare(&saved.runs);
    if comparison.rows.is_empty() {
        return Err(format!("{} holds no run with results", args.file.display()));
    }
    print_table(&comparison);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&comparison).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}
