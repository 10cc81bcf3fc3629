//! The ensemble checked end to end, independently of the GPU: every snapshot or FGE member
//! (or, for a run without members such as SWA, the final model) is written as a safetensors
//! checkpoint, read back from those bytes and evaluated on the CPU in f64
//! ([`crate::nn::reference`]) on the test images normalised as the checkpoint's metadata
//! says; the softmax outputs are averaged; and the trainer's per-member accuracies, its
//! ensemble curve and its majority votes must equal the recomputation image by image.
//! Images whose two most likely classes are within [`TIE`] of each other, for any member or
//! any ensemble, are kept out: there, f32 and f64 may rightly pick different classes.

use serde::Serialize;

use super::predict::saved_model_probabilities;
use super::trainer::{TrainError, Trainer};
use crate::data::Dataset;
use crate::ensemble::{accuracy, mean_predictions, vote_predictions};

/// Two classes whose probabilities differ by less than this make an image a tie.
pub const TIE: f64 = 1e-4;

/// What the recomputation found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnsembleCheck {
    /// Members checked (1 for a single model).
    pub members: usize,
    /// Test images.
    pub images: usize,
    /// Images kept out as ties.
    pub ties: usize,
    /// The largest difference between a probability the trainer computed and the CPU's.
    pub max_probability_difference: f64,
    /// Each member's accuracy over the images kept: [trainer, CPU].
    pub member_accuracy: Vec<[f64; 2]>,
    /// The ensemble of the last m members' accuracy over the images kept, m = 1, 2, ...:
    /// [trainer, CPU].
    pub curve: Vec<[f64; 2]>,
    /// The same for the majority vote.
    pub vote: Vec<[f64; 2]>,
    /// Every disagreement found, in words; empty when the check passed.
    pub mismatches: Vec<String>,
}

impl EnsembleCheck {
    /// Whether the trainer and the CPU agree everywhere they must.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Whether the two largest values of `row` are within [`TIE`].
fn tied(row: &[f64]) -> bool {
    let mut top = [f64::NEG_INFINITY; 2];
    for &v in row {
        if v > top[0] {
            top = [v, top[0]];
        } else if v > top[1] {
            top[1] = v;
        }
    }
    top[0] - top[1] < TIE
}

/// The softmax outputs (images x classes, f64) of the model in checkpoint `bytes` on the
/// first `images` test images.
fn cpu_probabilities(
    trainer: &Trainer,
    bytes: &[u8],
    test: &Dataset,
    images: usize,
) -> Result<Vec<f64>, TrainError> {
    let pixels = &test.images[..images * test.image_len()];
    Ok(saved_model_probabilities(
        &trainer.plan().arch,
        bytes,
        pixels,
        images,
    )?)
}

/// Checks the run's ensemble (or its final model, when it took no members) against the
/// CPU recomputation on `test`, the test set it was trained with.
pub async fn check_ensemble(
    trainer: &mut Trainer,
    test: &Dataset,
) -> Result<EnsembleCheck, TrainError> {
    let labels = trainer.test_labels().to_vec();
    let images = labels.len();
    let classes = trainer.plan().arch.classes as usize;
    // Each member: its checkpoint, the trainer's probabilities and reported accuracy.
    let mut members: Vec<(Vec<u8>, Vec<f32>, f64)> = Vec::new();
    let snapshots = trainer.snapshots().to_vec();
    for s in &snapshots {
        let bytes = trainer.snapshot_checkpoint(s.index).await?;
        members.push((bytes, s.probabilities.clone(), s.test.accuracy));
    }
    let reported_curve: Vec<(f64, f64)> = trainer
        .ensemble()
        .iter()
        .map(|p| (p.accuracy, p.vote_accuracy))
        .collect();
    if members.is_empty() {
        let bytes = trainer.checkpoint().await?;
        let (test_result, probabilities) = trainer.test_probabilities().await?;
        members.push((bytes, probabilities, test_result.accuracy));
    }
    let mut cpu: Vec<Vec<f64>> = Vec::new();
    for (bytes, _, _) in &members {
        cpu.push(cpu_probabilities(trainer, bytes, test, images)?);
    }
    let gpu: Vec<&[f32]> = members.iter().map(|m| m.1.as_slice()).collect();
    let cpu32: Vec<Vec<f32>> = cpu
        .iter()
        .map(|p| p.iter().map(|&v| v as f32).collect())
        .collect();
    let cpu_refs: Vec<&[f32]> = cpu32.iter().map(Vec::as_slice).collect();
    let count = members.len();

    // Ties: any member's or any ensemble's top two within TIE, on the CPU's outputs.
    let mut tie = vec![false; images];
    let mut mark = |p: &[f64]| {
        for (i, t) in tie.iter_mut().enumerate() {
            *t |= tied(&p[i * classes..(i + 1) * classes]);
        }
    };
    for m in 1..=count {
        let last = &cpu[count - m..];
        let mean: Vec<f64> = (0..images * classes)
            .map(|j| last.iter().map(|p| p[j]).sum::<f64>() / m as f64)
            .collect();
        mark(&mean);
    }
    for p in &cpu {
        mark(p);
    }
    let kept: Vec<usize> = (0..images).filter(|&i| !tie[i]).collect();
    let ties = images - kept.len();
    let kept_labels: Vec<u32> = kept.iter().map(|&i| labels[i]).collect();
    let on_kept = |p: &[u32]| -> Vec<u32> { kept.iter().map(|&i| p[i]).collect() };

    let mut mismatches: Vec<String> = Vec::new();
    // The images kept on which the trainer's and the CPU's predictions differ, in words.
    let compare = |what: String, a: &[u32], b: &[u32]| -> Option<String> {
        let differ: Vec<usize> = kept.iter().copied().filter(|&i| a[i] != b[i]).collect();
        let &i = differ.first()?;
        Some(format!(
            "{what}: {} of {} images differ (first: image {i}, trainer class {}, CPU class {})",
            differ.len(),
            kept.len(),
            a[i],
            b[i]
        ))
    };
    let max_probability_difference = gpu
        .iter()
        .zip(&cpu)
        .flat_map(|(g, c)| g.iter().zip(c.iter()).map(|(&a, &b)| (a as f64 - b).abs()))
        .fold(0.0, f64::max);

    let mut member_accuracy = Vec::new();
    for k in 0..count {
        let (a, b) = (
            mean_predictions(&[gpu[k]], classes),
            mean_predictions(&[cpu_refs[k]], classes),
        );
        mismatches.extend(compare(format!("member {k} alone"), &a, &b));
        member_accuracy.push([
            accuracy(&on_kept(&a), &kept_labels),
            accuracy(&on_kept(&b), &kept_labels),
        ]);
        let reported = members[k].2;
        let recomputed = accuracy(&b, &labels);
        if ties == 0 && reported != recomputed {
            mismatches.push(format!(
                "member {k}: the trainer reported accuracy {reported}, the CPU gives {recomputed}"
            ));
        }
    }
    let (mut curve, mut vote) = (Vec::new(), Vec::new());
    for m in 1..=count {
        let (g, c) = (&gpu[count - m..], &cpu_refs[count - m..]);
        let (gm, cm) = (mean_predictions(g, classes), mean_predictions(c, classes));
        let (gv, cv) = (vote_predictions(g, classes), vote_predictions(c, classes));
        mismatches.extend(compare(format!("ensemble of the last {m}"), &gm, &cm));
        mismatches.extend(compare(format!("majority vote of the last {m}"), &gv, &cv));
        curve.push([
            accuracy(&on_kept(&gm), &kept_labels),
            accuracy(&on_kept(&cm), &kept_labels),
        ]);
        vote.push([
            accuracy(&on_kept(&gv), &kept_labels),
            accuracy(&on_kept(&cv), &kept_labels),
        ]);
        // The curve the trainer reports (members only), over every image.
        if let Some(&(mean_acc, vote_acc)) = reported_curve.get(m - 1) {
            let (cpu_mean, cpu_vote) = (accuracy(&cm, &labels), accuracy(&cv, &labels));
            if ties == 0 && (mean_acc != cpu_mean || vote_acc != cpu_vote) {
                mismatches.push(format!(
                    "ensemble of the last {m}: the trainer reported {mean_acc} (vote {vote_acc}), the CPU gives {cpu_mean} (vote {cpu_vote})"
                ));
            }
        }
    }
    Ok(EnsembleCheck {
        members: count,
        images,
        ties,
        max_probability_difference,
        member_accuracy,
        curve,
        vote,
        mismatches,
    })
}
