//! Native linear-layer tests.

mod common;

use snapfreeze::checks::Family;

#[test]
fn every_case_matches_the_reference_and_finite_differences() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Linear);
    let gradients = results.iter().filter(|r| !r.name.contains("forward"));
    assert!(gradients.clone().count() >= 15);
    assert!(gradients
        .into_iter()
        .all(|r| r.finite_difference_error.is_some()));
}
