//! Every kernel builds and runs within WebGPU's default limits (16 KiB of workgroup memory,
//! 256 invocations per workgroup, ...), which every WebGPU adapter offers: the device is
//! opened asking for those, not for what this machine's adapter allows beyond them.

use std::collections::BTreeSet;

use snapfreeze::checks::{self, Family};
use snapfreeze::gpu::Gpu;

#[test]
fn every_kernel_runs_within_webgpu_default_limits() {
    let gpu = pollster::block_on(Gpu::with_limits(wgpu::Limits::default()))
        .unwrap_or_else(|e| panic!("cannot open a GPU: {e}"));
    assert_eq!(gpu.limits().max_compute_workgroup_storage_size, 16384);
    let conv_cases = checks::conv::cases();
    let matmul_cases = checks::matmul::cases();
    let wide_cases = checks::matmul::wide_cases();
    // The first case of every kernel (and of every other family's first cases), so each
    // pipeline is built and run at least once.
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (seed, case) in checks::cases_for(&gpu).iter().enumerate() {
        let kernel = match case.family {
            Family::Conv => format!("{:?}", conv_cases[case.index].kernel),
            Family::Matmul => format!("{:?}", matmul_cases[case.index].algorithm),
            Family::MatmulWide => format!("{:?}", wide_cases[case.index].algorithm),
            _ => format!("{}", case.index.min(2)),
        };
        if !seen.insert((format!("{:?}", case.family), kernel)) {
            continue;
        }
        let r = pollster::block_on(checks::run(&gpu, case, seed as u64))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        ran += 1;
        if !r.passed {
            failures.push(format!("{}: {:?}", r.name, r.problem));
        }
    }
    assert!(ran > 40, "only {ran} cases ran");
    assert!(failures.is_empty(), "failed: {failures:#?}");

    // The weight gradient's widest tiles on a layer with 64 rows (16 invocations down) stay
    // within 256 invocations: every candidate the start-up choice would time builds.
    use snapfreeze::kernels::conv::{self, ChannelSlices, Conv, ConvShape};
    use snapfreeze::kernels::Operand;
    let s = ConvShape {
        n: 2,
        c: 64,
        h: 8,
        w: 8,
        k: 64,
        r: 3,
        s: 3,
        stride: 1,
        pad: 1,
    };
    let x = gpu.storage("x", s.x_len() as u64 * 4).unwrap();
    let dy = gpu.storage("dy", s.y_len() as u64 * 4).unwrap();
    let dw = gpu.storage("dw", s.w_len() as u64 * 4).unwrap();
    let slices = ChannelSlices::dense(&s);
    for candidate in conv::shared_weight_grad_candidates(&gpu, &s) {
        let w = Operand::whole;
        Conv::weight_grad_by(&gpu, candidate, s, slices, w(&x), w(&dy), w(&dw))
            .unwrap_or_else(|e| panic!("{}: {e}", candidate.label()));
    }
    assert!(pollster::block_on(gpu.finish()).is_ok());
}
