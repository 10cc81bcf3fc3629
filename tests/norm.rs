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
fn the_fused_norm_relu_max_pool_matches_the_unfused_references() {
    use snapfreeze::checks::norm_pool::{self, NormPoolKernel};
    let cases = norm_pool::cases();
    // Every kernel, on planes of odd height and width, with and without ReLU, accumulated.
    for kernel in [
        NormPoolKernel::Forward,
        NormPoolKernel::GradReduce,
        NormPoolKernel::GradReducePerImage,
        NormPoolKernel::GradApply,
    ] {
        let of = |f: &dyn Fn(&norm_pool::NormPoolCase) -> bool| {
            cases.iter().any(|c| c.kernel == kernel && f(c))
        };
        assert!(
            of(&|c| c.shape.h % 2 == 1 && c.shape.w % 2 == 1),
            "{kernel:?}"
        );
        assert!(of(&|c| c.relu) && of(&|c| !c.relu), "{kernel:?}");
        assert!(
            of(&|c| c.shape.h * c.shape.w > 256),
            "{kernel:?}: planes over several rounds"
        );
    }
    assert!(cases.iter().any(|c| c.accumulate));
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::NormPool);
    assert_eq!(results.len(), cases.len());
}

#[test]
fn the_fused_forward_refuses_planes_without_a_window() {
    use snapfreeze::kernels::norm::{pooled, Affine};
    use snapfreeze::kernels::pool::PoolShape;
    let gpu = common::gpu();
    let buffer = gpu.storage("b", 4096).unwrap();
    let whole = Operand::whole(&buffer);
    let affine = Affine {
        buffer: &buffer,
        gamma: 0,
        beta: 1,
    };
    let shape = PoolShape {
        n: 4,
        c: 1,
        h: 1,
        w: 8,
    };
    let other = gpu.storage("y", 4096).unwrap();
    let maxima = gpu.storage("m", 4096).unwrap();
    let set = NormSettings::default();
    let err = pooled::forward(
        &gpu,
        shape,
        set,
        whole,
        affine,
        whole,
        Operand::whole(&other),
        Operand::whole(&maxima),
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 2x2"), "{err}");
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
