//! A comparison's verdict in plain sentences: how precisely this test set measures an
//! error, which method did best, each method against the baseline, whether each ensemble
//! beat its best member, SWA's average against its last SGD weights, and what FreezeOut
//! saved. Every difference is judged against the test set's noise ([`Difference`]). The
//! CLI prints it under `compare`'s table and the page shows it at the top.

use super::report::{Comparison, Difference, Row};

/// An error as percent with two decimals.
fn percent(error: f64) -> String {
    format!("{:.2}%", 100.0 * error)
}

/// A difference of two errors as points with two decimals.
fn points(difference: f64) -> String {
    format!("{:.2}", 100.0 * difference.abs())
}

/// A difference in test images (rounded), as people count them.
fn images(fraction: f64, n: u32) -> String {
    let count = (fraction.abs() * n as f64).round() as u64;
    format!("{count} image{}", if count == 1 { "" } else { "s" })
}

/// "better by 1.20 points (24 images), more than noise" or "within noise".
fn judged(d: &Difference, n: u32, better: &str, worse: &str) -> String {
    if d.within_noise {
        format!(
            "a difference of {} points ({}), within noise",
            points(d.difference),
            images(d.difference, n)
        )
    } else {
        format!(
            "{} by {} points ({}), more than noise",
            if d.difference < 0.0 { better } else { worse },
            points(d.difference),
            images(d.difference, n)
        )
    }
}

/// The row's headline error (its ensemble's where it has one) and what it is.
fn headline(r: &Row) -> Option<(f64, &'static str)> {
    match (r.ensemble_error, r.test_error) {
        (Some(e), _) => Some((e.mean, "ensemble error")),
        (None, Some(e)) => Some((e.mean, "test error")),
        _ => None,
    }
}

/// The sentences, most important first; empty while no method has a test error.
pub fn verdict(c: &Comparison) -> Vec<String> {
    let mut said = Vec::new();
    let scored: Vec<(&Row, f64, &str)> = c
        .rows
        .iter()
        .filter_map(|r| headline(r).map(|(e, what)| (r, e, what)))
        .collect();
    let Some(n) = scored.iter().find_map(|(r, ..)| r.test_images) else {
        return said;
    };
    let baseline = c.reference.and_then(|r| r.test_error).map(|(e, _)| e);
    let typical = baseline.unwrap_or(scored[0].1);
    let noise = Difference::new(typical, typical, n).noise;
    let runs = scored.iter().map(|(r, ..)| r.runs).max().unwrap_or(1);
    said.push(format!(
        "On these {n} test images, two errors near {} that differ by less than {} points ({}) \
         cannot be told apart{}: that is the noise every sentence below is judged against.",
        percent(typical),
        points(noise),
        images(noise, n),
        if runs > 1 {
            format!(" (errors are means over {runs} seeds)")
        } else {
            String::new()
        }
    ));
    if scored.len() > 1 {
        let (best, e, what) = scored
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
            .unwrap_or(scored[0]);
        let close: Vec<&str> = scored
            .iter()
            .filter(|(r, x, _)| !std::ptr::eq(*r, best) && Difference::new(*x, e, n).within_noise)
            .map(|(r, ..)| r.title.as_str())
            .collect();
        said.push(format!(
            "Lowest error: {} ({what} {}){}.",
            best.title,
            percent(e),
            match close.len() {
                0 => ", more than noise below every other method".to_string(),
                _ => format!("; within noise of it: {}", close.join(", ")),
            }
        ));
    }
    for (r, e, what) in &scored {
        if let Some(d) = r.against_baseline {
            said.push(format!(
                "{}: {what} {} against the baseline's {}: {}.",
                r.title,
                percent(*e),
                percent(d.baseline),
                judged(&d, n, "better", "worse")
            ));
        }
        said.extend(ensemble_sentence(r, n));
        said.extend(swa_sentence(r, n));
        said.extend(freezeout_sentence(r));
    }
    said
}

/// Whether an ensemble beat its best member alone, and how much its members disagree.
fn ensemble_sentence(r: &Row, n: u32) -> Option<String> {
    let ensemble = r.ensemble_error?.mean;
    if r.member_errors.len() < 2 {
        return None;
    }
    let (k, best) = r
        .member_errors
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.mean.total_cmp(&b.1.mean))?;
    let d = Difference::new(ensemble, best.mean, n);
    let outcome = if d.difference < 0.0 && !d.within_noise {
        "beat"
    } else if d.difference < 0.0 {
        "matched (within noise)"
    } else {
        "did not beat"
    };
    let disagree = r
        .disagreement
        .map(|s| {
            format!(
                " Its members disagree on {:.1}% of the test images; an ensemble gains only where they do.",
                100.0 * s.mean
            )
        })
        .unwrap_or_default();
    Some(format!(
        "{}: the ensemble of {} members ({}) {outcome} its best member alone (member {}, {}): {}.{disagree}",
        r.title,
        r.ensemble_size.unwrap_or(r.member_errors.len()),
        percent(ensemble),
        k + 1,
        percent(best.mean),
        judged(&d, n, "better", "worse")
    ))
}

/// SWA's averaged weights against the last SGD weights they replaced.
fn swa_sentence(r: &Row, n: u32) -> Option<String> {
    let (average, sgd) = (r.test_error?.mean, r.sgd_error?.mean);
    let d = Difference::new(average, sgd, n);
    Some(format!(
        "{}: the averaged weights ({}) against the last SGD weights ({}): {}.",
        r.title,
        percent(average),
        percent(sgd),
        judged(&d, n, "better", "worse")
    ))
}

/// What FreezeOut's freezing saved: the work skipped, and the step time saved as timed in
/// interleaved rounds after the run (the one time figure the page explains).
fn freezeout_sentence(r: &Row) -> Option<String> {
    r.backward_saving_theory?;
    let flops = format!(
        "{}: freezing skipped {:.1}% of the training FLOPs",
        r.title,
        100.0 * r.step_flop_saving
    );
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    Some(match (r.step_time_saving, r.step_time_rounds) {
        (Some(s), Some((rounds, _))) => format!(
            "{flops}; timed in {rounds} interleaved rounds after the run, its steps take {} less \
             time than as many steps with nothing frozen ({} to {} over the rounds{}).",
            pct(s.median),
            pct(s.low),
            pct(s.high),
            if s.spans_zero() {
                ", so the sign of the saving is within the timing's noise"
            } else {
                ""
            }
        ),
        _ => format!("{flops}."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::report::{Range, Reference, Spread};

    fn spread(mean: f64) -> Option<Spread> {
        Some(Spread {
            mean,
            std: 0.0,
            n: 1,
        })
    }

    fn row(title: &str, kind: &str, error: f64) -> Row {
        Row {
            method: title.to_string(),
            title: title.to_string(),
            kind: kind.to_string(),
            runs: 1,
            iterations: 100,
            finished: true,
            test_error: spread(error),
            ensemble_error: None,
            ensemble_size: None,
            ensemble_curve: Vec::new(),
            member_errors: Vec::new(),
            disagreement: None,
            kl: None,
            diversity: None,
            sgd_error: None,
            train_seconds: spread(10.0),
            images_per_second: spread(100.0),
            speed: None,
            step_time_saving: None,
            step_time_rounds: None,
            time_saved: None,
            in_run_saving: None,
            step_flop_saving: 0.0,
            time_over_flops: None,
            backward_saving_measured: None,
            backward_saving_theory: None,
            test_images: Some(1000),
            against_baseline: None,
        }
    }

    fn comparison(rows: Vec<Row>) -> Comparison {
        let baseline = rows[0].test_error.map(|s| s.mean).unwrap();
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                if i > 0 {
                    let e = r.ensemble_error.or(r.test_error).unwrap().mean;
                    r.against_baseline = Some(Difference::new(e, baseline, 1000));
                }
                r
            })
            .collect();
        Comparison {
            reference: Some(Reference {
                seconds: 10.0,
                iterations: 100,
                forward_seconds_per_step: None,
                backward_seconds: None,
                test_error: Some((baseline, 1000)),
            }),
            rows,
        }
    }

    #[test]
    fn the_noise_comes_first_and_every_difference_is_judged_against_it() {
        // 10% error on 1000 images: 2 x sqrt(2 x 0.09 / 1000) = 2.68 points, 27 images.
        let mut snapshot = row("Snapshot Ensemble (M = 3)", "snapshot", 0.095);
        snapshot.ensemble_error = spread(0.08);
        snapshot.ensemble_size = Some(3);
        snapshot.member_errors = vec![
            spread(0.12).unwrap(),
            spread(0.10).unwrap(),
            spread(0.09).unwrap(),
        ];
        snapshot.disagreement = spread(0.061);
        let mut freeze = row("FreezeOut", "freezeout", 0.14);
        freeze.backward_saving_theory = Some(0.3);
        freeze.step_flop_saving = 0.205;
        freeze.step_time_saving = Some(Range {
            median: 0.153,
            low: 0.121,
            high: 0.2,
        });
        freeze.step_time_rounds = Some((5, 2));
        let said = verdict(&comparison(vec![
            row("baseline", "baseline", 0.10),
            snapshot,
            freeze,
        ]));
        assert_eq!(
            said[0],
            "On these 1000 test images, two errors near 10.00% that differ by less than 2.68 \
             points (27 images) cannot be told apart: that is the noise every sentence below is \
             judged against."
        );
        assert_eq!(
            said[1],
            "Lowest error: Snapshot Ensemble (M = 3) (ensemble error 8.00%); within noise of it: baseline."
        );
        assert_eq!(
            said[2],
            "Snapshot Ensemble (M = 3): ensemble error 8.00% against the baseline's 10.00%: a \
             difference of 2.00 points (20 images), within noise."
        );
        assert_eq!(
            said[3],
            "Snapshot Ensemble (M = 3): the ensemble of 3 members (8.00%) matched (within noise) \
             its best member alone (member 3, 9.00%): a difference of 1.00 points (10 images), \
             within noise. Its members disagree on 6.1% of the test images; an ensemble gains \
             only where they do."
        );
        assert_eq!(
            said[4],
            "FreezeOut: test error 14.00% against the baseline's 10.00%: worse by 4.00 points \
             (40 images), more than noise."
        );
        assert_eq!(
            said[5],
            "FreezeOut: freezing skipped 20.5% of the training FLOPs; timed in 5 interleaved \
             rounds after the run, its steps take 15.3% less time than as many steps with \
             nothing frozen (12.1% to 20.0% over the rounds)."
        );
        assert_eq!(said.len(), 6);
    }

    #[test]
    fn swa_is_judged_against_its_last_sgd_weights_and_nothing_is_said_without_errors() {
        let mut swa = row("SWA", "swa", 0.05);
        swa.sgd_error = spread(0.10);
        let said = verdict(&comparison(vec![row("baseline", "baseline", 0.10), swa]));
        assert!(said.contains(
            &"SWA: the averaged weights (5.00%) against the last SGD weights (10.00%): better by \
              5.00 points (50 images), more than noise."
                .to_string()
        ));
        assert!(
            said[1].ends_with("more than noise below every other method."),
            "{}",
            said[1]
        );
        let mut empty = row("baseline", "baseline", 0.1);
        empty.test_error = None;
        assert!(verdict(&Comparison {
            reference: None,
            rows: vec![empty]
        })
        .is_empty());
    }
}
