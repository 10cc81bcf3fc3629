//! Native loss tests: softmax cross-entropy and metric accumulation.

mod common;

use snapfreeze::checks::Family;
use snapfreeze::kernels::loss;

#[test]
fn every_case_matches_the_reference() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Loss);
    assert!(results.iter().any(|r| r.name.contains("10000")));
}

#[test]
fn reference_is_stable_and_hand_checkable() {
    // Two classes with equal logits: loss ln 2, gradient (0.5 - onehot) / n.
    let (losses, correct, grad) = loss::softmax_cross_entropy_reference(&[3.0, 3.0], &[1], 2);
    assert!((losses[0] - 2f64.ln()).abs() < 1e-12);
    assert_eq!(correct, [0.0]); // ties go to the first class
    assert_eq!(grad, [0.5, -0.5]);
    // Huge logits stay finite.
    let (losses, correct, _) = loss::softmax_cross_entropy_reference(&[1e4, -1e4, 0.0], &[0], 3);
    assert!(losses[0].is_finite() && losses[0] < 1e-12);
    assert_eq!(correct, [1.0]);
}
