//! Native pooling tests.

mod common;

use snapfreeze::checks::{random_values, Family};
use snapfreeze::gpu::GpuError;
use snapfreeze::kernels::pool::{self, PoolKind, PoolShape};
use snapfreeze::kernels::Operand;

#[test]
fn every_case_matches_the_reference_and_finite_differences() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Pool);
    let backward = results.iter().filter(|r| r.name.contains("backward"));
    assert!(backward.clone().count() >= 15);
    assert!(backward
        .into_iter()
        .all(|r| r.finite_difference_error.is_some()));
}

#[test]
fn reference_routes_max_gradient_to_the_first_maximum() {
    let s = PoolShape {
        n: 1,
        c: 1,
        h: 2,
        w: 3,
    };
    // One 2x2 window (the odd third column is dropped); maxima tie at positions 1 and 3.
    let x = [0.0, 5.0, 9.0, 5.0, 1.0, 9.0];
    assert_eq!(pool::forward_reference(PoolKind::Max, &s, &x), [5.0]);
    let dx = pool::backward_reference(PoolKind::Max, &s, &x, &[2.0]);
    assert_eq!(dx, [0.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
    let avg = pool::backward_reference(PoolKind::Avg, &s, &x, &[2.0]);
    assert_eq!(avg, [0.5, 0.5, 0.0, 0.5, 0.5, 0.0]);
}

#[test]
fn bad_launches_are_errors_not_panics() {
    let gpu = common::gpu();
    let x = gpu.storage_from("x", &random_values(1, 64)).unwrap();
    let y = gpu.storage("y", 256).unwrap();
    let whole = Operand::whole;
    let invalid = |r: Result<_, GpuError>| matches!(r, Err(GpuError::InvalidLaunch { .. }));
    let tiny = PoolShape {
        n: 1,
        c: 1,
        h: 1,
        w: 8,
    };
    assert!(invalid(pool::forward(
        &gpu,
        PoolKind::Max,
        tiny,
        whole(&x),
        whole(&y)
    )));
    let big = PoolShape {
        n: 2,
        c: 2,
        h: 8,
        w: 8,
    };
    assert!(invalid(pool::forward(
        &gpu,
        PoolKind::Avg,
        big,
        whole(&x),
        whole(&y)
    )));
    let s = PoolShape {
        n: 1,
        c: 1,
        h: 8,
        w: 8,
    };
    assert!(invalid(pool::backward(
        &gpu,
        PoolKind::Max,
        s,
        whole(&y),
        None,
        whole(&x)
    )));
}
