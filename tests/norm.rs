//! Native batch-norm tests.

mod common;

use snapfreeze::checks::Family;
use snapfreeze::gpu::GpuError;
use snapfreeze::kernels::norm::{self, NormSettings, NormShape, Running};
use snapfreeze::kernels::Operand;

#[test]
fn every_case_matches_the_reference_and_finite_differences() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Norm);
    assert!(results.len() >= 25);
}

#[test]
fn reference_updates_running_statistics_as_pytorch_does() {
    // One channel, values 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3.
    let s = NormShape {
        n: 4,
        c: 1,
        hw: 1,
        x_channels: 1,
    };
    let set = NormSettings::default();
    let (y, saved, rm, rv) = norm::train_reference(
        &s,
        &set,
        &[1.0, 2.0, 3.0, 4.0],
        &[1.0],
        &[0.0],
        &[0.0],
        &[1.0],
    );
    assert!((saved[0] - 2.5).abs() < 1e-12);
    assert!((saved[1] - 1.0 / (1.25f64 + 1e-5).sqrt()).abs() < 1e-6);
    assert!((rm[0] - 0.25).abs() < 1e-7);
    assert!((rv[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-7);
    assert!((y.iter().sum::<f64>()).abs() < 1e-9);
}

#[test]
fn a_single_value_per_channel_is_rejected() {
    let gpu = common::gpu();
    let x = gpu.storage("x", 64).unwrap();
    let saved = gpu.storage("saved", 64).unwrap();
    let state = gpu.storage("state", 64).unwrap();
    let s = NormShape {
        n: 1,
        c: 3,
        hw: 1,
        x_channels: 3,
    };
    let running = Running {
        buffer: &state,
        mean: 0,
        var: 3,
        guard: 6,
    };
    let r = norm::stats(
        &gpu,
        s,
        NormSettings::default(),
        Operand::whole(&x),
        Operand::whole(&saved),
        running,
    );
    match r {
        Err(GpuError::InvalidLaunch { reason, .. }) => {
            assert!(reason.contains("more than one value"))
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
