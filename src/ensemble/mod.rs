//! Snapshot Ensembles' evaluation (docs/design.md §2.1): each snapshot's softmax outputs on the test
//! set, combined as the mean over the last m snapshots (the headline) or by majority vote
//! (a second view). Pure functions over probabilities read back from the GPU, the members'
//! diversity ([`diversity`]), and the GPU store that keeps the snapshots' weights
//! ([`store`]). FGE's members are ensembled exactly as snapshots are.

pub mod diversity;
pub mod store;

use serde::{Deserialize, Serialize};

pub use diversity::{diversity, Diversity};
pub use store::SnapshotStore;

/// One snapshot: when it was taken and what it predicts on the test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// 0-based snapshot number.
    pub index: usize,
    /// The iteration after which it was taken.
    pub iteration: u64,
    /// Its test loss and accuracy alone.
    pub test: crate::metrics::Evaluation,
    /// Its softmax outputs, images x classes, in test-set order.
    #[serde(skip)]
    pub probabilities: Vec<f32>,
}

/// The ensemble of the last `m` snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsemblePoint {
    /// Snapshots in the ensemble (the most recent m).
    pub m: usize,
    /// Accuracy of the argmax of their mean softmax.
    pub accuracy: f64,
    /// Accuracy of their majority vote (ties go to the class with the larger mean
    /// probability).
    pub vote_accuracy: f64,
}

/// Index of the first maximum of `row`.
fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    let mut best = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = c;
        }
    }
    best
}

/// The mean of the snapshots' probabilities (each images x classes), in f64.
pub fn mean_probabilities(snapshots: &[&[f32]]) -> Vec<f64> {
    let len = snapshots.first().map_or(0, |p| p.len());
    let mut mean = vec![0f64; len];
    for probs in snapshots {
        for (m, &p) in mean.iter_mut().zip(probs.iter()) {
            *m += p as f64;
        }
    }
    let count = snapshots.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= count);
    mean
}

/// The ensemble's predictions: argmax of the mean softmax.
pub fn mean_predictions(snapshots: &[&[f32]], classes: usize) -> Vec<u32> {
    mean_probabilities(snapshots)
        .chunks(classes)
        .map(|row| argmax(row) as u32)
        .collect()
}

/// The snapshots' majority vote; a tie goes to the tied class with the larger mean
/// probability.
pub fn vote_predictions(snapshots: &[&[f32]], classes: usize) -> Vec<u32> {
    let mean = mean_probabilities(snapshots);
    let images = mean.len() / classes.max(1);
    (0..images)
        .map(|i| {
            let mut votes = vec![0u32; classes];
            for probs in snapshots {
                votes[argmax(&probs[i * classes..(i + 1) * classes])] += 1;
            }
            let top = votes.iter().copied().max().unwrap_or(0);
            let row = &mean[i * classes..(i + 1) * classes];
            (0..classes)
                .filter(|&c| votes[c] == top)
                .fold(None, |best: Option<usize>, c| match best {
                    Some(b) if row[b] >= row[c] => Some(b),
                    _ => Some(c),
                })
                .unwrap_or(0) as u32
        })
        .collect()
}

/// Fraction of `predictions` equal to `labels`.
pub fn accuracy(predictions: &[u32], labels: &[u32]) -> f64 {
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    right as f64 / labels.len().max(1) as f64
}

/// The paper's ensemble-size curve: for m = 1..=M, the ensemble of the last m snapshots.
pub fn ensemble_curve(
    snapshots: &[Snapshot],
    labels: &[u32],
    classes: usize,
) -> Vec<EnsemblePoint> {
    (1..=snapshots.len())
        .map(|m| {
            let last: Vec<&[f32]> = snapshots[snapshots.len() - m..]
                .iter()
                .map(|s| s.probabilities.as_slice())
                .collect();
            EnsemblePoint {
                m,
                accuracy: accuracy(&mean_predictions(&last, classes), labels),
                vote_accuracy: accuracy(&vote_predictions(&last, classes), labels),
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Three snapshots, two images, three classes; image 0 is class 2, image 1 class 0.
    const A: [f32; 6] = [0.6, 0.1, 0.3, 0.5, 0.4, 0.1];
    const B: [f32; 6] = [0.1, 0.2, 0.7, 0.2, 0.7, 0.1];
    const C: [f32; 6] = [0.45, 0.1, 0.45, 0.6, 0.1, 0.3];

    #[test]
    fn the_mean_decides_where_single_models_disagree() {
        // Image 0: means 0.383, 0.133, 0.483 -> class 2, though A says 0.
        // Image 1: means 0.433, 0.4, 0.167 -> class 0, though B says 1.
        assert_eq!(mean_predictions(&[&A, &B, &C], 3), vec![2, 0]);
        assert_eq!(mean_predictions(&[&A], 3), vec![0, 0]);
    }

    #[test]
    fn votes_break_ties_by_mean_probability() {
        // Image 0: votes A 0, B 2 -> tie; mean of class 0 is 0.35 < class 2's 0.5 -> 2.
        // Image 1: votes A 0, B 1 -> tie; means 0.35 vs 0.55 -> 1.
        assert_eq!(vote_predictions(&[&A, &B], 3), vec![2, 1]);
        // Image 0 with C: C's first maximum is class 0, so votes 0, 2, 0 -> 0.
        assert_eq!(vote_predictions(&[&A, &B, &C], 3), vec![0, 0]);
    }

    /// Member `index` with probabilities `p` on two test images (its test result unused).
    pub(crate) fn member(index: usize, p: &[f32]) -> Snapshot {
        Snapshot {
            index,
            iteration: index as u64,
            test: crate::metrics::Evaluation {
                loss: 0.0,
                accuracy: 0.0,
                images: 2,
            },
            probabilities: p.to_vec(),
        }
    }

    #[test]
    fn the_curve_takes_the_most_recent_snapshots() {
        let all = [member(0, &A), member(1, &B), member(2, &C)];
        let curve = ensemble_curve(&all, &[2, 0], 3);
        let acc: Vec<f64> = curve.iter().map(|p| p.accuracy).collect();
        // m = 1: C alone predicts 0, 0 (first maximum) -> 1 of 2. m = 2 (B, C): means
        // image 0: 0.275, 0.15, 0.575 -> 2; image 1: 0.4, 0.4, 0.2 -> 0 -> 2 of 2.
        assert_eq!(acc, vec![0.5, 1.0, 1.0]);
        assert_eq!(curve[2].vote_accuracy, 0.5);
    }
}
