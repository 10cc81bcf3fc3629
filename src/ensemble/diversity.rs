//! How different an ensemble's members are, from their softmax outputs on the test set: for
//! every pair, the share of images on which their predictions differ and the mean KL
//! divergence between their output distributions; and each member's accuracy alone. An
//! ensemble can only beat its best member where the members disagree, and only gains where
//! they are wrong on different images; these figures show which way a run went.

use serde::{Deserialize, Serialize};

use super::{accuracy, argmax, Snapshot};

/// Probabilities are floored here before a logarithm: a softmax in f32 can round a class's
/// probability to 0, which would make a KL divergence infinite for one image.
pub const PROBABILITY_FLOOR: f64 = 1e-12;

/// The diversity of an ensemble's members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diversity {
    /// Each member's test accuracy alone, in the order taken.
    pub accuracy: Vec<f64>,
    /// disagreement[a][b]: the fraction of test images on which members a and b predict
    /// different classes (symmetric, 0 on the diagonal).
    pub disagreement: Vec<Vec<f64>>,
    /// kl[a][b]: the mean over test images of KL(p_a || p_b), the divergence of member b's
    /// output from member a's (not symmetric, 0 on the diagonal).
    pub kl: Vec<Vec<f64>>,
}

impl Diversity {
    /// The mean of `matrix` over all ordered pairs of distinct members (0 with fewer than two).
    fn mean_off_diagonal(matrix: &[Vec<f64>]) -> f64 {
        let m = matrix.len();
        if m < 2 {
            return 0.0;
        }
        let sum: f64 = (0..m)
            .flat_map(|a| (0..m).filter(move |&b| b != a).map(move |b| (a, b)))
            .map(|(a, b)| matrix[a][b])
            .sum();
        sum / (m * (m - 1)) as f64
    }

    /// The mean disagreement over all pairs.
    pub fn mean_disagreement(&self) -> f64 {
        Self::mean_off_diagonal(&self.disagreement)
    }

    /// The mean KL divergence over all ordered pairs.
    pub fn mean_kl(&self) -> f64 {
        Self::mean_off_diagonal(&self.kl)
    }
}

/// The fraction of images on which `p` and `q` (images x classes) predict different classes.
pub fn disagreement(p: &[f32], q: &[f32], classes: usize) -> f64 {
    let images = p.len() / classes.max(1);
    let differ = p
        .chunks(classes)
        .zip(q.chunks(classes))
        .filter(|(a, b)| argmax(a) != argmax(b))
        .count();
    differ as f64 / images.max(1) as f64
}

/// The mean over images of KL(p || q) = sum_c p_c ln(p_c / q_c), with both probabilities
/// floored at [`PROBABILITY_FLOOR`] (a class with p_c = 0 adds nothing).
pub fn mean_kl(p: &[f32], q: &[f32], classes: usize) -> f64 {
    let images = p.len() / classes.max(1);
    let total: f64 = p
        .iter()
        .zip(q)
        .filter(|pair| *pair.0 > 0.0)
        .map(|(&a, &b)| {
            let (a, b) = (
                (a as f64).max(PROBABILITY_FLOOR),
                (b as f64).max(PROBABILITY_FLOOR),
            );
            a * (a / b).ln()
        })
        .sum();
    total / images.max(1) as f64
}

/// The diversity of `members` (each with its test-set probabilities) on `labels`.
pub fn diversity(members: &[Snapshot], labels: &[u32], classes: usize) -> Diversity {
    let probs: Vec<&[f32]> = members.iter().map(|s| s.probabilities.as_slice()).collect();
    let m = probs.len();
    let matrix = |f: &dyn Fn(&[f32], &[f32]) -> f64| -> Vec<Vec<f64>> {
        (0..m)
            .map(|a| {
                (0..m)
                    .map(|b| if a == b { 0.0 } else { f(probs[a], probs[b]) })
                    .collect()
            })
            .collect()
    };
    Diversity {
        accuracy: probs
            .iter()
            .map(|p| {
                let predictions: Vec<u32> =
                    p.chunks(classes).map(|row| argmax(row) as u32).collect();
                accuracy(&predictions, labels)
            })
            .collect(),
        disagreement: matrix(&|p, q| disagreement(p, q, classes)),
        kl: matrix(&|p, q| mean_kl(p, q, classes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ensemble::tests::member;

    // Two images, three classes.
    const A: [f32; 6] = [0.6, 0.1, 0.3, 0.5, 0.4, 0.1];
    const B: [f32; 6] = [0.1, 0.2, 0.7, 0.5, 0.4, 0.1];

    #[test]
    fn disagreement_counts_images_with_different_predictions() {
        // Image 0: A says 0, B says 2; image 1: both say 0.
        assert_eq!(disagreement(&A, &B, 3), 0.5);
        assert_eq!(disagreement(&A, &A, 3), 0.0);
    }

    #[test]
    fn kl_is_zero_for_equal_outputs_and_matches_a_hand_computation() {
        assert_eq!(mean_kl(&A, &A, 3), 0.0);
        // Image 0: 0.6 ln 6 + 0.1 ln 0.5 + 0.3 ln(3/7); image 1: 0. Mean over 2 images.
        let image0 = 0.6 * 6f64.ln() + 0.1 * 0.5f64.ln() + 0.3 * (3.0f64 / 7.0).ln();
        let got = mean_kl(&A, &B, 3);
        // The f32 inputs carry about 1e-7 of rounding.
        assert!((got - image0 / 2.0).abs() < 1e-6, "{got}");
        // A zero probability adds nothing on the left and is floored on the right.
        let one_hot = [1.0f32, 0.0, 0.0];
        assert_eq!(mean_kl(&one_hot, &one_hot, 3), 0.0);
        assert!(mean_kl(&[0.5, 0.5, 0.0], &one_hot, 3).is_finite());
    }

    #[test]
    fn the_matrices_are_square_with_zero_diagonals() {
        let d = diversity(&[member(0, &A), member(1, &B)], &[2, 0], 3);
        assert_eq!(d.accuracy, vec![0.5, 1.0]);
        assert_eq!(d.disagreement, vec![vec![0.0, 0.5], vec![0.5, 0.0]]);
        assert_eq!(d.kl[0][0], 0.0);
        assert!(d.kl[0][1] > 0.0 && d.kl[1][0] > 0.0 && d.kl[0][1] != d.kl[1][0]);
        assert_eq!(d.mean_disagreement(), 0.5);
        assert!((d.mean_kl() - (d.kl[0][1] + d.kl[1][0]) / 2.0).abs() < 1e-15);
        let single = diversity(&[member(0, &A)], &[2, 0], 3);
        assert_eq!((single.mean_disagreement(), single.mean_kl()), (0.0, 0.0));
    }
}
