//! Native ensemble-kernel tests.

mod common;

use snapfreeze::checks::Family;
use snapfreeze::kernels::ensemble;

#[test]
fn every_case_matches_the_reference() {
    let gpu = common::gpu();
    common::run_family(&gpu, Family::Ensemble);
}

#[test]
fn reference_softmax_and_argmax_behave() {
    let p = ensemble::softmax_reference(&[0.0, 0.0, 1e4, -1e4], 2);
    assert_eq!(p[..2], [0.5, 0.5]);
    assert!((p[2] - 1.0).abs() < 1e-12 && p[3] < 1e-300);
    assert_eq!(ensemble::argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
}
