//! Shared setup for the native GPU tests.

use snapfreeze::data::Dataset;
use snapfreeze::gpu::Gpu;
use snapfreeze::nn::{ForwardChoice, KernelVariants, ModelSpec};
use snapfreeze::schedule::Method;
use snapfreeze::train::TrainConfig;

/// Opens whatever adapter wgpu finds (the software Vulkan driver on a machine without a GPU)
/// and says which one, so a failure report names it.
pub fn gpu() -> Gpu {
    let gpu = pollster::block_on(Gpu::new()).unwrap_or_else(|e| panic!("cannot open a GPU: {e}"));
    eprintln!("adapter: {}", gpu.adapter().summary());
    gpu
}

/// Runs every self-test case of `family` (the same checks the page runs), prints each
/// result, and returns them; panics listing the failures if any case failed.
#[allow(dead_code)] // not every test file uses it
pub fn run_family(
    gpu: &Gpu,
    family: snapfreeze::checks::Family,
) -> Vec<snapfreeze::checks::CheckResult> {
    use snapfreeze::checks;
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (seed, case) in checks::cases_for(gpu).iter().enumerate() {
        if case.family != family {
            continue;
        }
        let r = pollster::block_on(checks::run(gpu, case, seed as u64))
            .unwrap_or_else(|e| panic!("{}: GPU error: {e}", case.name));
        eprintln!(
            "{} {:<80} rel {:.2e} fd {:?}",
            if r.passed { "pass" } else { "FAIL" },
            r.name,
            r.rel_l2_error,
            r.finite_difference_error
        );
        if !r.passed {
            failures.push(format!("{}: {:?}", r.name, r.problem));
        }
        results.push(r);
    }
    assert!(!results.is_empty(), "no cases for {family:?}");
    assert!(failures.is_empty(), "failed: {failures:#?}");
    results
}

/// `count` random c x side x side images whose label depends on their brightness.
#[allow(dead_code)] // not every test file uses it
pub fn synthetic(count: usize, c: u32, side: u32, seed: u64) -> Dataset {
    let mut rng = fastrand::Rng::with_seed(seed);
    let per = (c * side * side) as usize;
    let mut images = Vec::with_capacity(count * per);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let label = rng.u8(..4);
        for _ in 0..per {
            images.push((label as u32 * 50 + rng.u32(..80)) as u8);
        }
        labels.push(label);
    }
    Dataset {
        channels: c,
        height: side,
        width: side,
        classes: 4,
        images,
        labels,
    }
}

/// A short run of `method` on `model` for the methods' tests: batch 8, lr 0.05, metrics read
/// back every step, no evaluation per epoch, and the kernels that repeat to the bit.
#[allow(dead_code)] // not every test file uses it
pub fn method_config(model: ModelSpec, method: Method, epochs: u32) -> TrainConfig {
    TrainConfig {
        model,
        epochs,
        batch: 8,
        lr: 0.05,
        method,
        readback_every: 1,
        eval_every_epoch: false,
        forward: ForwardChoice::Implicit,
        kernel_variants: KernelVariants::Registers,
        ..TrainConfig::default()
    }
}
