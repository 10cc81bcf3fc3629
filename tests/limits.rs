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
    let split_cases = checks::matmul::split_cases();
    let pipelined_cases = checks::matmul::pipelined_cases();
    let prefetch_cases = checks::conv::prefetch_cases();
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
            Family::MatmulSplit => format!("{:?}", split_cases[case.index].algorithm),
            Family::MatmulPipelined => format!("{:?}", pipelined_cases[case.index].algorithm),
            Family::ConvPrefetch => format!("{:?}", prefetch_cases[case.index].kernel),
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

/// The weight gradient's parts are its grid's third dimension: on an adapter that launches
/// few workgroups per dimension, a request for many parts is cut into fewer, longer ones,
/// and the sum still matches the reference.
#[test]
fn the_weight_gradient_parts_stay_within_the_workgroups_per_dimension() {
    use snapfreeze::checks::{random_values, relative_l2_error};
    use snapfreeze::gpu::Commands;
    use snapfreeze::kernels::conv::{self, ChannelSlices, Conv, ConvShape, WeightGradAlgorithm};
    use snapfreeze::kernels::Operand;
    let most = 8;
    let limits = wgpu::Limits {
        max_compute_workgroups_per_dimension: most,
        ..wgpu::Limits::default()
    };
    let gpu = pollster::block_on(Gpu::with_limits(limits))
        .unwrap_or_else(|e| panic!("cannot open a GPU: {e}"));
    // 20 images of 12 x 12: 2,880 positions, 180 chunks of 16; the register kernel would
    // cut the batch into 20 parts, the workgroup-memory one into 180.
    let s = ConvShape {
        n: 20,
        c: 3,
        h: 12,
        w: 12,
        k: 5,
        r: 3,
        s: 3,
        stride: 1,
        pad: 1,
    };
    let (xs, dys) = (random_values(11, s.x_len()), random_values(12, s.y_len()));
    let x = gpu.storage_from("x", &xs).unwrap();
    let dy = gpu.storage_from("dy", &dys).unwrap();
    let dw = gpu.storage("dw", s.w_len() as u64 * 4).unwrap();
    let to_f64 = |v: &[f32]| v.iter().map(|&f| f as f64).collect::<Vec<_>>();
    let expected = conv::weight_grad_reference(&s, &to_f64(&xs), &to_f64(&dys));
    let slices = ChannelSlices::dense(&s);
    for algorithm in [
        WeightGradAlgorithm::Registers,
        WeightGradAlgorithm::Shared {
            parts: 180,
            across: conv::SHARED_ACROSS,
            prefetch: false,
        },
        WeightGradAlgorithm::Shared {
            parts: 180,
            across: conv::SHARED_ACROSS,
            prefetch: true,
        },
    ] {
        let w = Operand::whole;
        let op = Conv::weight_grad_by(&gpu, algorithm, s, slices, w(&x), w(&dy), w(&dw))
            .unwrap_or_else(|e| panic!("{}: {e}", algorithm.label()));
        let mut commands = Commands::new(&gpu, "weight grad parts");
        commands.run(&op.dispatches().iter().collect::<Vec<_>>());
        commands.submit();
        let got = pollster::block_on(gpu.read_f32(&dw, 0, s.w_len())).unwrap();
        let error = relative_l2_error(&got, &expected);
        assert!(
            error < 1e-5,
            "{}: relative error {error}",
            algorithm.label()
        );
    }
}
