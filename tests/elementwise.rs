//! Native elementwise tests: ReLU, residual add, bias add and their gradients.

mod common;

use snapfreeze::checks::{random_values, Family};
use snapfreeze::gpu::GpuError;
use snapfreeze::kernels::elementwise as ew;
use snapfreeze::kernels::Operand;

#[test]
fn every_case_matches_the_reference() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Elementwise);
    let with_fd = results
        .iter()
        .filter(|r| r.finite_difference_error.is_some())
        .count();
    assert!(
        with_fd >= 12,
        "gradients checked by finite differences: {with_fd}"
    );
}

#[test]
fn references_behave_as_defined() {
    assert_eq!(ew::relu_reference(&[-1.0, 0.0, 2.5]), [0.0, 0.0, 2.5]);
    assert_eq!(
        ew::relu_grad_reference(&[3.0, 4.0, 5.0], &[0.0, 1.0, 0.0]),
        [0.0, 4.0, 0.0]
    );
    // Two channels of two elements per image, two images.
    let y = [0.0; 8];
    assert_eq!(
        ew::bias_add_reference(&y, &[1.0, 2.0], 2),
        [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]
    );
}

#[test]
fn bad_launches_are_errors_not_panics() {
    let gpu = common::gpu();
    let a = gpu.storage_from("a", &random_values(1, 100)).unwrap();
    let out = gpu.storage("out", 400).unwrap();
    let whole = Operand::whole;
    let invalid = |r: Result<_, GpuError>| matches!(r, Err(GpuError::InvalidLaunch { .. }));
    assert!(invalid(ew::relu(&gpu, 0, whole(&a), whole(&out))));
    assert!(invalid(ew::relu(&gpu, 101, whole(&a), whole(&out))));
    assert!(invalid(ew::relu(&gpu, 10, whole(&a), whole(&a))));
    assert!(invalid(ew::bias_add(
        &gpu,
        100,
        0,
        5,
        whole(&a),
        whole(&out)
    )));
    assert!(invalid(ew::bias_add(
        &gpu,
        100,
        101,
        1,
        whole(&a),
        whole(&out)
    )));
}
