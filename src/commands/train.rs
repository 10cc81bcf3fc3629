//! `snapfreeze train`: load a dataset, train a model with a progress bar, print and save
//! the results.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use snapfreeze::data::Dataset;
use snapfreeze::gpu::KernelProfile;
use snapfreeze::metrics::{KernelShare, PerStepMs, Spread};
use snapfreeze::schedule::Method;
use snapfreeze::train::{EpochMetrics, Event, Outcome, RunSummary, Stride, TrainConfig, Trainer};

use super::{check_data, replace, write, DatasetKind, MethodArgs, RunArgs};

/// `train`'s arguments.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    method: MethodArgs,
    /// Seed of weights, shuffles and augmentation.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start from these weights (safetensors with PyTorch names).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Save the final weights here (safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Also save to --save after every N epochs (0: only at the end).
    #[arg(long, default_value_t = 0)]
    save_every: u32,
    /// Save every snapshot (Snapshot Ensembles) into this directory as
    /// snapshot-K.safetensors.
    #[arg(long)]
    save_snapshots: Option<PathBuf>,
    /// Keep the run's whole training state here (weights, momentum, running statistics,
    /// snapshots and history), replaced after every epoch, so that after a lost device or a
    /// stopped program `--resume` goes on from the last finished epoch.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Go on from the training state in --state FILE instead of starting anew. The run's
    /// settings are the saved ones; the dataset arguments must name the same data.
    #[arg(long, requires = "state", conflicts_with = "init")]
    resume: bool,
    /// Destroy the GPU device after this many iterations, to see a lost device handled
    /// (the tests use it).
    #[arg(long, hide = true)]
    lose_device_at: Option<u64>,
    /// Write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar, one line per epoch.
    #[arg(long)]
    quiet: bool,
    /// Time every kernel of N steps on the GPU (timestamp queries), after 3 untimed ones,
    /// and print where the step's time goes before training on.
    #[arg(long, default_value_t = 0)]
    profile_steps: u32,
    /// After the run, time the share of a full step taken by the kernels whose names start
    /// with PREFIX (e.g. conv2d_weight_grad, bn_), by difference: the step against the step
    /// without them and with each launch twice, in interleaved rounds. Repeatable.
    #[arg(long, value_name = "PREFIX")]
    time_share: Vec<String>,
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
    /// The forward algorithm chosen per conv shape (`implicit_gemm`, `im2col_matmul` or
    /// `shared_tiles`).
    forward_algorithms: Vec<String>,
    /// The input-gradient kernel chosen per conv shape (`registers` or `shared`).
    input_grad_kernels: Vec<String>,
    /// The weight-gradient kernel chosen per conv shape (`registers` or `shared/PARTS`).
    weight_grad_kernels: Vec<String>,
    /// Every kernel choice measured or loaded on this adapter: question to answer.
    kernel_choices: std::collections::BTreeMap<String, String>,
    epochs: &'a [EpochMetrics],
    /// Snapshots, ensemble curve, FLOPs executed and launches by kernel.
    summary: &'a RunSummary,
    step_losses: Vec<f64>,
    /// Per-kernel GPU time of the --profile-steps steps (after 3 untimed ones).
    kernel_profile: Option<KernelProfile>,
    /// The --time-share measurements, one per prefix.
    kernel_shares: Vec<KernelShare>,
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

/// Opens the GPU and builds a trainer for `config`; errors are one line.
pub async fn start(
    train_set: &Dataset,
    test_set: &Dataset,
    config: TrainConfig,
    init: Option<&[u8]>,
) -> Result<Trainer, String> {
    let (gpu, _) = super::choices::open_gpu()
        .await
        .map_err(|e| e.to_string())?;
    let gpu = Rc::new(gpu);
    let adapter = gpu.adapter().summary();
    let trainer = Trainer::new(Rc::clone(&gpu), train_set, test_set, config.clone(), init)
        .await
        .map_err(|e| e.to_string())?;
    super::choices::keep(&gpu);
    eprintln!(
        "{} with {} ({} parameters, {} blocks) on {adapter}: {} epochs of {} steps, batch {}",
        config.model.name(),
        config.method.label(),
        trainer.plan().layouts.params.len,
        trainer.plan().blocks.len(),
        config.epochs,
        trainer.steps_per_epoch(),
        config.batch
    );
    Ok(trainer)
}

/// Opens the GPU and goes on with the run whose training state is in `path`.
async fn go_on(train_set: &Dataset, test_set: &Dataset, path: &Path) -> Result<Trainer, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (gpu, _) = super::choices::open_gpu()
        .await
        .map_err(|e| e.to_string())?;
    let gpu = Rc::new(gpu);
    let adapter = gpu.adapter().summary();
    let trainer = Trainer::restore(Rc::clone(&gpu), train_set, test_set, &bytes)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    super::choices::keep(&gpu);
    let config = trainer.config();
    eprintln!(
        "{} with {} on {adapter}: going on from iteration {} of {} ({} snapshots kept), saved in {}",
        config.model.name(),
        config.method.label(),
        trainer.iteration(),
        trainer.total_iterations(),
        trainer.snapshots().len(),
        path.display()
    );
    Ok(trainer)
}

/// Runs the first `steps` steps with every kernel timed, prints the table and returns it.
async fn profile(trainer: &mut Trainer, steps: u32) -> Result<KernelProfile, String> {
    // The first steps run slower than the rest (an adapter compiles or places some work on
    // first use: lavapipe's first small-CNN steps take five times as long), so they are run
    // first, untimed.
    let warm_up = PROFILE_WARM_UP_STEPS;
    trainer.run(warm_up).await.map_err(|e| e.to_string())?;
    let first = trainer.iteration() + 1;
    let profile = trainer
        .kernel_profile(steps as u64)
        .await
        .map_err(|e| e.to_string())?;
    let last = trainer.iteration();
    let steps = (last + 1 - first).max(1) as f64;
    let total = profile.total_ms();
    println!(
        "GPU time per kernel over steps {first}-{last}, after {warm_up} untimed (timestamp \
         queries): {:.1} ms per step",
        total / steps
    );
    println!(
        "{:<32} {:>10} {:>12} {:>7}",
        "kernel", "launches", "ms per step", "share"
    );
    for k in &profile.kernels {
        println!(
            "{:<32} {:>10} {:>12.3} {:>6.1}%",
            k.kernel,
            k.launches,
            k.ms / steps,
            100.0 * k.ms / total.max(1e-12)
        );
    }
    if profile.untimed > 0 {
        println!(
            "({} dispatches not timed: the query set was full)",
            profile.untimed
        );
    }
    Ok(profile)
}

/// What to save while training, and a fault to simulate.
pub struct Saving<'a> {
    /// The weights file.
    pub path: Option<&'a Path>,
    /// Every this many epochs (0: only at the end, by the caller).
    pub every: u32,
    /// The training-state file, replaced after every epoch.
    pub state: Option<&'a Path>,
    /// Destroy the GPU device once this many iterations are done (a simulated loss).
    pub lose_device_at: Option<u64>,
}

fn say(bar: &ProgressBar, quiet: bool, line: String) {
    if quiet {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Trains to the end with a progress bar (or, with `quiet`, a line every 5%), printing
/// epochs, snapshots and freezes as they happen; keeps the training state at every epoch
/// end when asked.
pub async fn drive(
    trainer: &mut Trainer,
    quiet: bool,
    saving: Option<Saving<'_>>,
) -> Result<(), String> {
    let bar = if quiet {
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
    let lose_at = saving.as_ref().and_then(|s| s.lose_device_at);
    let stride = Stride::Steps(trainer.config().readback_every as u64);
    loop {
        if lose_at.is_some_and(|at| trainer.iteration() >= at) {
            trainer.gpu().device().destroy();
        }
        let advance = trainer.advance(stride).await.map_err(|e| e.to_string());
        show_events(trainer, &bar, quiet);
        let problem = match &advance {
            Err(message) => Some(message.clone()),
            Ok(a) => match &a.outcome {
                Outcome::Diverged { message, .. } | Outcome::DeviceLost { message, .. } => {
                    Some(message.clone())
                }
                _ => None,
            },
        };
        let (Some(advance), None) = (advance.ok(), problem.clone()) else {
            bar.abandon();
            let message = problem.unwrap_or_default();
            // `train` says how to go on; `compare` (no saving) just fails.
            return Err(match saving.as_ref().map(|s| s.state) {
                Some(Some(path)) => format!(
                    "{message}\nthe training state of the last finished epoch is in {0}: go on from it with --state {0} --resume",
                    path.display()
                ),
                Some(None) => format!("{message}\n(with --state FILE a run keeps its training state at every epoch end and can go on after a fault)"),
                None => message,
            });
        };
        let finished = advance.outcome == Outcome::Finished;
        if let Some(s) = &saving {
            let epochs = trainer.epochs().len() as u32;
            let epoch_ended = advance.state_due || (finished && advance.steps > 0);
            if epoch_ended && s.every > 0 && epochs.is_multiple_of(s.every) {
                if let Some(path) = s.path {
                    save(trainer, path).await?;
                }
            }
            // The state is due at each epoch end; a finished run keeps its last too, so
            // that --resume on it reports the results.
            if let (true, Some(path)) = (epoch_ended, s.state) {
                keep_state(trainer, path, &bar, quiet).await?;
            }
        }
        if finished {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Prints what the trainer reported since the last call: progress, epochs, snapshots and
/// members, freezes and SWA's average.
fn show_events(trainer: &mut Trainer, bar: &ProgressBar, quiet: bool) {
    let names: Vec<String> = trainer
        .plan()
        .arch
        .blocks
        .iter()
        .map(|b| b.name.clone())
        .collect();
    let member_name = match trainer.config().method {
        Method::Fge(_) => "member",
        _ => "snapshot",
    };
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
                    let done = s.iteration + 1;
                    let before = done - count as u64;
                    if quiet && done / every != before / every {
                        eprintln!("step {done}/{}: {status}", trainer.total_iterations());
                    }
                    bar.set_message(status);
                    bar.set_position(done);
                }
            }
            Event::Epoch(e) => say(bar, quiet, epoch_line(&e)),
            Event::Snapshot {
                index,
                iteration,
                test,
                ensemble,
            } => {
                let all = ensemble.last().map_or(0.0, |p| p.accuracy);
                say(
                    bar,
                    quiet,
                    format!(
                        "{} {} after iteration {}: test acc {:.2}% alone, ensemble of {} {:.2}%",
                        member_name,
                        index + 1,
                        iteration + 1,
                        100.0 * test.accuracy,
                        ensemble.len(),
                        100.0 * all
                    ),
                );
            }
            Event::Averaged { models, iteration } => say(
                bar,
                quiet,
                format!(
                    "iteration {}: the weights joined SWA's average ({models} model{})",
                    iteration + 1,
                    if models == 1 { "" } else { "s" }
                ),
            ),
            Event::Swa(r) => say(
                bar,
                quiet,
                format!(
                    "SWA: the average of {} models gets {:.2}% test accuracy (the last SGD weights {:.2}%)",
                    r.models,
                    100.0 * r.test.accuracy,
                    100.0 * r.sgd_test.accuracy
                ),
            ),
            Event::Frozen { blocks, iteration } => {
                let last = names.get(blocks - 1).map_or("", |n| n.as_str());
                say(
                    bar,
                    quiet,
                    format!(
                        "iteration {iteration}: {blocks} block{} frozen (up to {last})",
                        if blocks == 1 { "" } else { "s" }
                    ),
                );
            }
            Event::Finished => {}
        }
    }
}

/// Replaces the training-state file with the run's state now.
async fn keep_state(
    trainer: &Trainer,
    path: &Path,
    bar: &ProgressBar,
    quiet: bool,
) -> Result<(), String> {
    let started = Instant::now();
    let bytes = trainer.save_state().await.map_err(|e| e.to_string())?;
    let size = bytes.len();
    replace(path, bytes)?;
    let line = format!(
        "training state saved to {} ({:.2} MB in {:.0} ms)",
        path.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64() * 1e3
    );
    say(bar, quiet, line);
    Ok(())
}

/// Convolution and linear FLOPs of one image's forward pass.
pub fn forward_flop_per_image(trainer: &Trainer) -> f64 {
    let batch = trainer.config().batch as f64;
    trainer
        .plan()
        .blocks
        .iter()
        .map(|b| b.forward_flops)
        .sum::<f64>()
        / batch
}

/// Runs `train`; errors are one line saying what to fix.
pub async fn train(args: TrainArgs) -> Result<(), String> {
    let started = Instant::now();
    let config = args.run.config(args.method.method(), args.seed)?;
    if args.time_share.iter().any(|p| p.trim().is_empty()) {
        return Err(
            "--time-share needs the start of a kernel name, like conv2d_weight_grad".into(),
        );
    }
    if args.save_every > 0 && args.save.is_none() {
        return Err("--save-every needs --save FILE to write to".into());
    }
    let (train_set, test_set) = args.run.load()?;
    let init = match &args.init {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
        None => None,
    };
    if let Some(dir) = &args.save_snapshots {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut trainer = match (&args.state, args.resume) {
        (Some(path), true) => go_on(&train_set, &test_set, path).await?,
        _ => {
            check_data(&config, train_set.len())?;
            start(&train_set, &test_set, config, init.as_deref()).await?
        }
    };
    let config = trainer.config().clone();
    let adapter = trainer.adapter_summary();
    let kernel_profile = match args.profile_steps {
        0 => None,
        n => Some(profile(&mut trainer, n).await?),
    };
    let saving = Saving {
        path: args.save.as_deref(),
        every: args.save_every,
        state: args.state.as_deref(),
        lose_device_at: args.lose_device_at,
    };
    drive(&mut trainer, args.quiet, Some(saving)).await?;
    time_freezing(&mut trainer).await?;
    let kernel_shares = time_shares(&mut trainer, &args.time_share).await?;

    let model = config.model.name();
    let summary = trainer.summary();
    let epochs = trainer.epochs();
    let training_seconds = summary.train_seconds;
    let final_test = summary.final_test.map(|t| t.accuracy);
    let per_second = summary.images_per_second;
    let forward_flop = forward_flop_per_image(&trainer);
    let gflops = 3.0 * forward_flop * per_second / 1e9;
    println!(
        "{model}, {}: test accuracy {} after {} epochs; {:.1} s training, {per_second:.0} img/s \
         ({:.1} MFLOP forward per image, about {gflops:.2} GFLOP/s)",
        summary.method,
        final_test.map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a)),
        epochs.len(),
        training_seconds,
        forward_flop / 1e6,
    );
    print_method_results(&summary);
    if let Some(line) = recording_line(&summary, trainer.gpu().is_software()) {
        println!("{line}");
    }
    if let Some(path) = &args.save {
        save(&trainer, path).await?;
        println!("weights saved to {}", path.display());
    }
    if let Some(dir) = &args.save_snapshots {
        for k in 0..trainer.snapshots().len() {
            let bytes = trainer
                .snapshot_checkpoint(k)
                .await
                .map_err(|e| e.to_string())?;
            write(&dir.join(format!("snapshot-{}.safetensors", k + 1)), bytes)?;
        }
        println!(
            "{} snapshots saved to {}",
            trainer.snapshots().len(),
            dir.display()
        );
    }
    if let Some(path) = &args.json {
        let results = Results {
            dataset: args.run.dataset,
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
                .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                .collect(),
            input_grad_kernels: trainer
                .plan()
                .input_grads
                .iter()
                .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                .collect(),
            weight_grad_kernels: trainer
                .plan()
                .weight_grads
                .iter()
                .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                .collect(),
            kernel_choices: trainer.gpu().kernel_choices().into_iter().collect(),
            epochs,
            summary: &summary,
            step_losses: trainer.steps().iter().map(|s| s.loss).collect(),
            kernel_profile,
            kernel_shares,
        };
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        write(path, text)?;
    }
    Ok(())
}

/// How long the CPU took to record and to submit a step, beside the step's own time. On a
/// GPU both are CPU work, and near the step's time the GPU waits on the CPU; a software
/// adapter (`software`) may run the step inside the submission, so there it says nothing.
pub fn recording_line(summary: &RunSummary, software: bool) -> Option<String> {
    let (record, submit) = (summary.record_ms?, summary.submit_ms?);
    let steps: u64 = summary.phases.iter().map(|p| p.steps).sum();
    let step_ms = 1e3 * summary.train_seconds / steps.max(1) as f64;
    let cpu_ms = record.mean + submit.mean;
    let verdict = match (software, cpu_ms >= 0.8 * step_ms) {
        (true, _) => " (a software adapter: its submission may run the step)",
        (false, true) => ": the GPU waits on the CPU",
        (false, false) => "",
    };
    let ms = |t: PerStepMs| {
        format!(
            "{:.3} ms (mean; median {:.3}, {:.3}-{:.3})",
            t.mean, t.median, t.low, t.high
        )
    };
    Some(format!(
        "the CPU recorded a step in {} and submitted it in {}, of {step_ms:.3} ms per \
         step{verdict}",
        ms(record),
        ms(submit)
    ))
}

/// The snapshot ensemble's curve and FreezeOut's savings, when the method has them.
pub fn print_method_results(summary: &RunSummary) {
    if !summary.ensemble.is_empty() {
        let curve: Vec<String> = summary
            .ensemble
            .iter()
            .map(|p| {
                format!(
                    "m={} {:.2}% (vote {:.2}%)",
                    p.m,
                    100.0 * p.accuracy,
                    100.0 * p.vote_accuracy
                )
            })
            .collect();
        let members = match summary.kind.as_str() {
            "fge" => "members",
            _ => "snapshots",
        };
        println!("ensemble of the last m {members}: {}", curve.join(", "));
    }
    if let Some(d) = summary.diversity.as_ref().filter(|d| d.accuracy.len() > 1) {
        println!(
            "members disagree on {:.1}% of test images on average (mean KL {:.3})",
            100.0 * d.mean_disagreement(),
            d.mean_kl()
        );
    }
    if let Some(r) = summary.swa {
        println!(
            "SWA: the average of {} models {:.2}% test accuracy, the last SGD weights {:.2}%",
            r.models,
            100.0 * r.test.accuracy,
            100.0 * r.sgd_test.accuracy
        );
    }
    let work = &summary.work;
    if work.backward_saving() > 0.0 {
        println!(
            "FreezeOut: backward FLOPs saved {:.1}% (theory, sum c_i t_i: {:.1}%); whole-step FLOPs saved {:.1}%",
            100.0 * work.backward_saving(),
            100.0 * summary.theoretical_backward_saving,
            100.0 * work.step_saving()
        );
    }
    if let Some(f) = &summary.freeze_timing {
        println!(
            "FreezeOut: step time saved {:.1}% ({:.1}% to {:.1}% over {} interleaved rounds of {} \
             steps of each kind, timed after the run)",
            100.0 * f.saving,
            100.0 * f.low,
            100.0 * f.high,
            f.rounds,
            f.steps_per_round
        );
    }
}

/// Interleaved rounds FreezeOut's kinds of step are timed in after the run.
const FREEZE_TIMING_ROUNDS: u32 = 5;

/// A finished FreezeOut run's step time saving, timed in interleaved rounds (see
/// `Trainer::time_freezing`); nothing for other runs.
pub async fn time_freezing(trainer: &mut Trainer) -> Result<(), String> {
    trainer
        .time_freezing(FREEZE_TIMING_ROUNDS)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Steps run before `--profile-steps` times its steps.
const PROFILE_WARM_UP_STEPS: u64 = 3;

/// Rounds of the --time-share measurement: its median and extremes are printed.
const SHARE_ROUNDS: u32 = 7;

/// Each --time-share prefix's share of the finished run's step, printed as it is measured.
async fn time_shares(
    trainer: &mut Trainer,
    prefixes: &[String],
) -> Result<Vec<KernelShare>, String> {
    let mut shares = Vec::new();
    for prefix in prefixes {
        let share = trainer
            .time_kernel_share(prefix, SHARE_ROUNDS)
            .await
            .map_err(|e| e.to_string())?;
        let Some(share) = share else {
            println!("--time-share {prefix}: no kernel of the step starts with that");
            continue;
        };
        let pct = |s: Spread| {
            format!(
                "{:.1}% ({:.1}% to {:.1}%)",
                100.0 * s.median,
                100.0 * s.low,
                100.0 * s.high
            )
        };
        println!(
            "{prefix}* ({} launches per step) by difference, of a {:.3} ms step: left out {}, \
             run twice {} ({} interleaved rounds of {} steps of each)",
            share.launches,
            share.step_ms,
            pct(share.removed),
            pct(share.doubled),
            share.rounds,
            share.steps_per_round
        );
        shares.push(share);
    }
    Ok(shares)
}

async fn save(trainer: &Trainer, path: &Path) -> Result<(), String> {
    let bytes = trainer.checkpoint().await.map_err(|e| e.to_string())?;
    write(path, bytes)
}
