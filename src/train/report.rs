//! What a run reports when it is done, and the comparison of several runs: one row per
//! method over its seeds (test error, the ensemble's error, time, speed, and FreezeOut's
//! savings measured against the first baseline and expected from the design). `compare` in
//! the CLI, `report` and the page's table all take their rows from [`compare`], so the same
//! runs give the same figures everywhere.

use serde::{Deserialize, Serialize};

use crate::ensemble::{Diversity, EnsemblePoint, Snapshot};
use crate::metrics::{self, Evaluation, FreezeTiming, PhaseTime, Resume, SpeedRange, SwaResult};
use crate::train::work::WorkDone;

/// A run's results: what a comparison tabulates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The method's short label (`baseline-step`, `snapshot-m5`, ...): runs with the same
    /// label are one method run with other seeds.
    pub method: String,
    /// The method's name for people (`Snapshot Ensemble (M = 5)`).
    #[serde(default)]
    pub title: String,
    /// `baseline`, `snapshot`, `freezeout`, `fge` or `swa`.
    #[serde(default)]
    pub kind: String,
    /// Iterations run.
    pub iterations: u64,
    /// Seconds in training steps (evaluations excluded).
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// The final model's test result, if it was evaluated at the end (for SWA, the
    /// averaged model's).
    pub final_test: Option<Evaluation>,
    /// Snapshots (or FGE's members) with their own test results.
    pub snapshots: Vec<Snapshot>,
    /// The ensembles of the last m snapshots.
    pub ensemble: Vec<EnsemblePoint>,
    /// How the snapshots or members differ: accuracy alone, pairwise disagreement and KL.
    #[serde(default)]
    pub diversity: Option<Diversity>,
    /// SWA's averaged model beside the last SGD iterate.
    #[serde(default)]
    pub swa: Option<SwaResult>,
    /// The expected backward saving (docs/design.md §2.5) from the freeze fractions.
    pub theoretical_backward_saving: f64,
    /// FreezeOut's wall-clock saving measured within the run (see
    /// `Trainer::measured_saving`).
    pub measured_saving: Option<f64>,
    /// Training speed over the run's timing windows: median and range.
    #[serde(default)]
    pub speed: Option<SpeedRange>,
    /// FreezeOut's step time saving timed after the run (interleaved rounds).
    #[serde(default)]
    pub freeze_timing: Option<FreezeTiming>,
    /// Training time by number of frozen blocks.
    pub phases: Vec<PhaseTime>,
    /// Milliseconds the CPU took to record one training step (every launch encoded), over
    /// the run's steps.
    #[serde(default)]
    pub record_ms: Option<metrics::PerStepMs>,
    /// Milliseconds the submission of one step took, likewise. On a GPU that is CPU work
    /// too; a software adapter may run the step's kernels inside it. Where recording and
    /// submitting on a GPU near the step's own time, the GPU waits on the CPU.
    #[serde(default)]
    pub submit_ms: Option<metrics::PerStepMs>,
    /// FLOPs executed and launches by kernel.
    pub work: WorkDone,
    /// Resumes after divergences, with the rates used from each on.
    pub resumes: Vec<Resume>,
}

impl RunSummary {
    /// The method kind, from the label for summaries kept before the kind was recorded.
    fn method_kind(&self) -> &str {
        match self.kind.as_str() {
            "" => self.method.split('-').next().unwrap_or(""),
            kind => kind,
        }
    }
}

/// One run as a comparison keeps it: its summary, whether it ran to its end, and, for a
/// baseline, its forward half's time per step (which splits its step into forward and
/// backward). The CLI's and the page's JSON both hold their runs in this form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The seed the run trained with, where the comparison had several.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Whether every iteration ran (a stopped or failed run counts for its errors, not for
    /// its time).
    #[serde(default)]
    pub finished: bool,
    /// Seconds per step of the forward half alone (`Trainer::time_forward_pass`), measured
    /// on a finished baseline.
    #[serde(default)]
    pub forward_seconds_per_step: Option<f64>,
    /// The run's results, once it has any.
    #[serde(default)]
    pub summary: Option<RunSummary>,
}

/// Mean and sample standard deviation over seeds (0 with one seed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation.
    pub std: f64,
    /// How many values.
    pub n: usize,
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
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
            n: values.len(),
        })
    }
}

/// The reference baseline: the first baseline method whose runs all finished.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Its mean training seconds.
    pub seconds: f64,
    /// Its iterations.
    pub iterations: u64,
    /// Seconds per step of its forward half, if measured.
    pub forward_seconds_per_step: Option<f64>,
    /// Its training time less its steps' forward time: the backward passes and updates.
    pub backward_seconds: Option<f64>,
    /// Its mean test error, and the test images it was measured on.
    #[serde(default)]
    pub test_error: Option<(f64, u32)>,
}

/// A timed figure that moves with the machine's load: its median and the range it moved in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// The median (over seeds, the median of the runs' medians).
    pub median: f64,
    /// The lowest it went (over seeds, the lowest run's).
    pub low: f64,
    /// The highest it went.
    pub high: f64,
}

impl Range {
    /// The ranges of several runs as one: the median of their medians and the extremes.
    fn over(runs: &[Range]) -> Option<Range> {
        let mut medians: Vec<f64> = runs.iter().map(|r| r.median).collect();
        if medians.is_empty() {
            return None;
        }
        medians.sort_by(f64::total_cmp);
        Some(Range {
            median: crate::metrics::quantile(&medians, 0.5),
            low: runs.iter().map(|r| r.low).fold(f64::INFINITY, f64::min),
            high: runs
                .iter()
                .map(|r| r.high)
                .fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// Whether the range includes zero: the figure's sign is not known.
    pub fn spans_zero(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }
}

/// A method's headline error (its ensemble's where it has one, else its final model's)
/// against the reference baseline's test error, with the test set's noise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// This method's headline error.
    pub error: f64,
    /// The baseline's test error.
    pub baseline: f64,
    /// error - baseline (negative: better than the baseline).
    pub difference: f64,
    /// Two standard errors of the difference of two error rates on this many test images,
    /// sqrt(e1 (1 - e1) / n + e2 (1 - e2) / n) x 2: a difference smaller than this is noise.
    pub noise: f64,
    /// Whether |difference| < noise.
    pub within_noise: bool,
}

impl Difference {
    /// `error` against `baseline`, both measured on `images` test images.
    pub fn new(error: f64, baseline: f64, images: u32) -> Difference {
        let n = images.max(1) as f64;
        let noise = 2.0 * ((error * (1.0 - error) + baseline * (1.0 - baseline)) / n).sqrt();
        let difference = error - baseline;
        Difference {
            error,
            baseline,
            difference,
            noise,
            within_noise: difference.abs() < noise,
        }
    }
}

/// One method's line of the table, over its seeds. Errors and savings are fractions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The method's short label.
    pub method: String,
    /// Its name for people.
    pub title: String,
    /// `baseline`, `snapshot`, `freezeout`, `fge` or `swa`.
    pub kind: String,
    /// Runs with a summary.
    pub runs: usize,
    /// Iterations the first of them ran.
    pub iterations: u64,
    /// Whether every one of them finished.
    pub finished: bool,
    /// Test error of the final model.
    pub test_error: Option<Spread>,
    /// Test error of the ensemble of all snapshots.
    pub ensemble_error: Option<Spread>,
    /// Snapshots in that ensemble (the first run's).
    pub ensemble_size: Option<usize>,
    /// Test error of the ensemble of the last m snapshots, m = 1, 2, ...
    pub ensemble_curve: Vec<Spread>,
    /// Test error of each snapshot or member alone, in the order taken.
    pub member_errors: Vec<Spread>,
    /// The mean fraction of test images on which two members disagree.
    pub disagreement: Option<Spread>,
    /// The mean KL divergence between two members' outputs (nats per image).
    pub kl: Option<Spread>,
    /// The members' diversity averaged element by element over the runs that took the most
    /// members (members are matched by the order they were taken in).
    pub diversity: Option<Diversity>,
    /// SWA: test error of the last SGD iterate the average replaced.
    pub sgd_error: Option<Spread>,
    /// Seconds in training steps.
    pub train_seconds: Option<Spread>,
    /// Training images per second.
    pub images_per_second: Option<Spread>,
    /// Training images per second over the runs' timing windows: median and range.
    pub speed: Option<Range>,
    /// FreezeOut's step time saving timed after each run in interleaved rounds (the one
    /// figure of its time saving the page and the verdict use): median and range.
    pub step_time_saving: Option<Range>,
    /// Rounds and steps per round behind `step_time_saving` (the first run's).
    pub step_time_rounds: Option<(u32, u32)>,
    /// 1 - this method's mean training time / the reference baseline's (finished runs
    /// only; none for the reference itself).
    pub time_saved: Option<f64>,
    /// FreezeOut's saving measured inside each run against its own unfrozen steps.
    pub in_run_saving: Option<Spread>,
    /// 1 - FLOPs executed / FLOPs with nothing frozen, forward and backward.
    pub step_flop_saving: f64,
    /// `time_saved` / `step_flop_saving`: how much of the FLOPs saved became time saved.
    pub time_over_flops: Option<f64>,
    /// The time saved against the reference as a fraction of the reference's backward
    /// time: the measured counterpart of `backward_saving_theory`.
    pub backward_saving_measured: Option<f64>,
    /// The expected backward saving (docs/design.md §2.5), 1 - sum c_i t_i / sum c_i
    /// (FreezeOut only).
    pub backward_saving_theory: Option<f64>,
    /// Test images the errors were measured on (the first run's).
    pub test_images: Option<u32>,
    /// The headline error against the reference baseline's, with the test set's noise (none
    /// for the reference itself).
    pub against_baseline: Option<Difference>,
}

/// A comparison: the reference baseline and one row per method, in the order the methods
/// first appear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline time savings are measured against.
    pub reference: Option<Reference>,
    /// One row per method.
    pub rows: Vec<Row>,
}

/// The summaries of `records` grouped by method label, in the order of first appearance,
/// each with whether all its runs finished.
fn by_method(records: &[RunRecord]) -> Vec<Vec<&RunRecord>> {
    let mut groups: Vec<Vec<&RunRecord>> = Vec::new();
    for r in records {
        let Some(s) = &r.summary else { continue };
        let same =
            |g: &&mut Vec<&RunRecord>| g[0].summary.as_ref().map(|x| &x.method) == Some(&s.method);
        match groups.iter_mut().find(|g| same(g)) {
            Some(group) => group.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

fn summaries<'a>(group: &[&'a RunRecord]) -> Vec<&'a RunSummary> {
    group.iter().filter_map(|r| r.summary.as_ref()).collect()
}

/// The reference: the first baseline method whose runs all finished, with its group's index.
fn reference(groups: &[Vec<&RunRecord>]) -> Option<(usize, Reference)> {
    let (index, group) = groups.iter().enumerate().find(|(_, g)| {
        let s = summaries(g);
        s[0].method_kind() == "baseline" && g.iter().all(|r| r.finished)
    })?;
    let s = summaries(group);
    let seconds: Vec<f64> = s.iter().map(|x| x.train_seconds).collect();
    let seconds = Spread::of(&seconds)?.mean;
    let iterations = s[0].iterations;
    let forward = group.iter().find_map(|r| r.forward_seconds_per_step);
    let errors: Vec<f64> = s
        .iter()
        .filter_map(|x| x.final_test.map(|t| 1.0 - t.accuracy))
        .collect();
    let images = s.iter().find_map(|x| x.final_test.map(|t| t.images));
    let reference = Reference {
        seconds,
        iterations,
        forward_seconds_per_step: forward,
        backward_seconds: forward.map(|f| seconds - f * iterations as f64),
        test_error: Spread::of(&errors).zip(images).map(|(e, n)| (e.mean, n)),
    };
    Some((index, reference))
}

fn row(group: &[&RunRecord], reference: Option<Reference>, is_reference: bool) -> Row {
    let s = summaries(group);
    let first = s[0];
    let finished = group.iter().all(|r| r.finished);
    let error = |e: &Evaluation| 1.0 - e.accuracy;
    let test: Vec<f64> = s
        .iter()
        .filter_map(|x| x.final_test.as_ref().map(error))
        .collect();
    let ensemble: Vec<f64> = s
        .iter()
        .filter_map(|x| x.ensemble.last().map(|p| 1.0 - p.accuracy))
        .collect();
    let longest = s.iter().map(|x| x.ensemble.len()).max().unwrap_or(0);
    let ensemble_curve = (0..longest)
        .filter_map(|m| {
            let at: Vec<f64> = s
                .iter()
                .filter_map(|x| x.ensemble.get(m).map(|p| 1.0 - p.accuracy))
                .collect();
            Spread::of(&at)
        })
        .collect();
    let longest = s.iter().map(|x| x.snapshots.len()).max().unwrap_or(0);
    let member_errors = (0..longest)
        .filter_map(|k| {
            let at: Vec<f64> = s
                .iter()
                .filter_map(|x| x.snapshots.get(k).map(|m| error(&m.test)))
                .collect();
            Spread::of(&at)
        })
        .collect();
    let diversity = |f: fn(&Diversity) -> f64| {
        let values: Vec<f64> = s
            .iter()
            .filter_map(|x| x.diversity.as_ref())
            .filter(|d| d.accuracy.len() > 1)
            .map(f)
            .collect();
        Spread::of(&values)
    };
    let mean_diversity = {
        let all: Vec<&Diversity> = s.iter().filter_map(|x| x.diversity.as_ref()).collect();
        let most = all.iter().map(|d| d.accuracy.len()).max().unwrap_or(0);
        let full: Vec<&Diversity> = all
            .into_iter()
            .filter(|d| d.accuracy.len() == most)
            .collect();
        (most > 0).then(|| mean_of(&full))
    };
    let sgd: Vec<f64> = s
        .iter()
        .filter_map(|x| x.swa.as_ref().map(|r| error(&r.sgd_test)))
        .collect();
    let seconds = Spread::of(&s.iter().map(|x| x.train_seconds).collect::<Vec<_>>());
    let mean_speed = Spread::of(&s.iter().map(|x| x.images_per_second).collect::<Vec<_>>());
    let in_run: Vec<f64> = s.iter().filter_map(|x| x.measured_saving).collect();
    let speed: Vec<Range> = s
        .iter()
        .filter_map(|x| x.speed)
        .map(|r| Range {
            median: r.median,
            low: r.low,
            high: r.high,
        })
        .collect();
    let freeze: Vec<Range> = s
        .iter()
        .filter_map(|x| x.freeze_timing.as_ref())
        .map(|f| Range {
            median: f.saving,
            low: f.low,
            high: f.high,
        })
        .collect();
    let step_flop_saving = first.work.step_saving();
    let compared = match (reference, seconds) {
        (Some(r), Some(t)) if finished && !is_reference && r.seconds > 0.0 => Some((r, t.mean)),
        _ => None,
    };
    let time_saved = compared.map(|(r, t)| 1.0 - t / r.seconds);
    let backward_saving_measured = match compared {
        Some((r, t)) if step_flop_saving > 0.0 => match r.backward_seconds {
            Some(b) if b > 0.0 => Some((r.seconds - t) / b),
            _ => None,
        },
        _ => None,
    };
    let freezeout = first.method_kind() == "freezeout";
    let test_error = Spread::of(&test);
    let ensemble_error = Spread::of(&ensemble);
    // The final model's test set, else a member's (mid-run), else the baseline's.
    let test_images = first
        .final_test
        .map(|t| t.images)
        .or_else(|| first.snapshots.first().map(|m| m.test.images))
        .or_else(|| reference.and_then(|r| r.test_error).map(|(_, n)| n));
    let headline = ensemble_error.or(test_error).map(|e| e.mean);
    let against_baseline = match (headline, reference.and_then(|r| r.test_error), is_reference) {
        (Some(e), Some((b, _)), false) => test_images.map(|n| Difference::new(e, b, n)),
        _ => None,
    };
    Row {
        method: first.method.clone(),
        title: match first.title.as_str() {
            "" => first.method.clone(),
            t => t.to_string(),
        },
        kind: first.method_kind().to_string(),
        runs: s.len(),
        iterations: first.iterations,
        finished,
        test_error,
        ensemble_error,
        ensemble_size: first.ensemble.last().map(|p| p.m),
        ensemble_curve,
        member_errors,
        disagreement: diversity(Diversity::mean_disagreement),
        kl: diversity(Diversity::mean_kl),
        diversity: mean_diversity,
        sgd_error: Spread::of(&sgd),
        train_seconds: seconds,
        images_per_second: mean_speed,
        speed: Range::over(&speed),
        step_time_saving: Range::over(&freeze),
        step_time_rounds: s
            .iter()
            .find_map(|x| x.freeze_timing.as_ref())
            .map(|f| (f.rounds, f.steps_per_round)),
        time_saved,
        in_run_saving: Spread::of(&in_run),
        step_flop_saving,
        time_over_flops: match time_saved {
            Some(t) if step_flop_saving > 0.0 => Some(t / step_flop_saving),
            _ => None,
        },
        backward_saving_measured,
        backward_saving_theory: freezeout.then_some(first.theoretical_backward_saving),
        test_images,
        against_baseline,
    }
}

/// The element-wise mean of diversities with the same number of members (at least one).
fn mean_of(all: &[&Diversity]) -> Diversity {
    let n = all.len() as f64;
    let m = all[0].accuracy.len();
    let matrix = |pick: fn(&Diversity) -> &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        (0..m)
            .map(|a| {
                (0..m)
                    .map(|b| all.iter().map(|d| pick(d)[a][b]).sum::<f64>() / n)
                    .collect()
            })
            .collect()
    };
    Diversity {
        accuracy: (0..m)
            .map(|k| all.iter().map(|d| d.accuracy[k]).sum::<f64>() / n)
            .collect(),
        disagreement: matrix(|d| &d.disagreement),
        kl: matrix(|d| &d.kl),
    }
}

/// The comparison of `records`: the reference baseline and one row per method.
pub fn compare(records: &[RunRecord]) -> Comparison {
    let groups = by_method(records);
    let found = reference(&groups);
    let reference = found.map(|(_, r)| r);
    let rows = groups
        .iter()
        .enumerate()
        .map(|(i, g)| row(g, reference, found.is_some_and(|(at, _)| at == i)))
        .collect();
    Comparison { reference, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(method: &str, kind: &str, seconds: f64, accuracy: f64) -> RunSummary {
        RunSummary {
            method: method.into(),
            title: String::new(),
            kind: kind.into(),
            iterations: 100,
            train_seconds: seconds,
            images_per_second: 6400.0 / seconds,
            final_test: Some(Evaluation {
                loss: 0.5,
                accuracy,
                images: 1000,
            }),
            snapshots: Vec::new(),
            ensemble: Vec::new(),
            diversity: None,
            swa: None,
            theoretical_backward_saving: 0.0,
            measured_saving: None,
            speed: None,
            freeze_timing: None,
            phases: Vec::new(),
            record_ms: None,
            submit_ms: None,
            work: WorkDone::default(),
            resumes: Vec::new(),
        }
    }

    fn record(summary: RunSummary, finished: bool, forward: Option<f64>) -> RunRecord {
        RunRecord {
            seed: None,
            finished,
            forward_seconds_per_step: forward,
            summary: Some(summary),
        }
    }

    #[test]
    fn rows_group_seeds_and_measure_against_the_first_finished_baseline() {
        let mut frozen = summary("freezeout-0.5-cubic-scaled", "freezeout", 6.0, 0.9);
        frozen.work = WorkDone {
            steps: 100,
            forward_flops: 100.0,
            backward_flops: 100.0,
            full_backward_flops: 200.0,
            ..WorkDone::default()
        };
        frozen.theoretical_backward_saving = 0.4;
        let records = vec![
            // A stopped baseline is no reference: the next finished one is.
            record(
                summary("baseline-cosine", "baseline", 1.0, 0.5),
                false,
                None,
            ),
            record(
                summary("baseline-step", "baseline", 8.0, 0.8),
                true,
                Some(0.02),
            ),
            record(summary("baseline-step", "baseline", 12.0, 0.9), true, None),
            record(frozen, true, None),
        ];
        let c = compare(&records);
        let r = c.reference.unwrap();
        assert_eq!((r.seconds, r.iterations), (10.0, 100));
        assert_eq!(r.backward_seconds, Some(10.0 - 0.02 * 100.0));
        assert_eq!(c.rows.len(), 3);
        let step = &c.rows[1];
        assert_eq!((step.runs, step.time_saved), (2, None));
        let error = step.test_error.unwrap();
        assert!(
            (error.mean - 0.15).abs() < 1e-12 && (error.std - 0.05f64.hypot(0.05)).abs() < 1e-12
        );
        let f = &c.rows[2];
        assert!((f.time_saved.unwrap() - 0.4).abs() < 1e-12);
        assert!((f.step_flop_saving - 1.0 / 3.0).abs() < 1e-12);
        assert!((f.backward_saving_measured.unwrap() - 4.0 / 8.0).abs() < 1e-12);
        assert_eq!(f.backward_saving_theory, Some(0.4));
        assert_eq!(c.rows[0].time_saved, None);
        assert!(!c.rows[0].finished);
    }

    #[test]
    fn differences_smaller_than_two_standard_errors_are_noise() {
        // 10% against 12% on 1,000 images: 2 sqrt((0.09 + 0.1056) / 1000) = 0.02797.
        let d = Difference::new(0.10, 0.12, 1000);
        assert!((d.noise - 2.0 * (0.1956f64 / 1000.0).sqrt()).abs() < 1e-15);
        assert!(d.within_noise && (d.difference + 0.02).abs() < 1e-15);
        // The same on 10,000 images is not noise.
        assert!(!Difference::new(0.10, 0.12, 10_000).within_noise);
        // In a comparison: the snapshot row against the finished step baseline.
        let mut snap = summary("snapshot-m3", "snapshot", 5.0, 0.8);
        snap.ensemble = vec![crate::ensemble::EnsemblePoint {
            m: 3,
            accuracy: 0.9,
            vote_accuracy: 0.9,
        }];
        let c = compare(&[
            record(summary("baseline-step", "baseline", 5.0, 0.85), true, None),
            record(snap, true, None),
        ]);
        assert_eq!(c.reference.unwrap().test_error.map(|(_, n)| n), Some(1000));
        assert!(c.rows[0].against_baseline.is_none());
        let d = c.rows[1].against_baseline.unwrap();
        assert!((d.error - 0.1).abs() < 1e-12 && (d.baseline - 0.15).abs() < 1e-12);
        assert!(!d.within_noise, "{d:?}");
    }

    #[test]
    fn summaries_kept_before_the_kind_was_recorded_still_compare() {
        let text = r#"{"method":"snapshot-m3","iterations":10,"train_seconds":1.0,
            "images_per_second":5.0,"final_test":null,"snapshots":[],
            "ensemble":[{"m":1,"accuracy":0.75,"vote_accuracy":0.75}],
            "theoretical_backward_saving":0.0,"measured_saving":null,"phases":[],
            "work":{"steps":10,"forward_flops":1.0,"backward_flops":1.0,
            "full_backward_flops":1.0,"dispatches":{"sgd":10}},"resumes":[]}"#;
        let summary: RunSummary = serde_json::from_str(text).unwrap();
        let c = compare(&[record(summary, true, None)]);
        assert_eq!(c.rows[0].kind, "snapshot");
        assert_eq!(c.rows[0].ensemble_error.unwrap().mean, 0.25);
        assert!(c.reference.is_none());
    }
}
