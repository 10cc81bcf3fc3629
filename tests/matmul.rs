//! Native matmul tests: the full self-test against the f64 reference, plus the runtime
//! properties later work relies on (pipeline cache, dispatch counters, determinism, errors).

mod common;

use pollster::block_on;
use snapfreeze::checks::{self, random_values};
use snapfreeze::gpu::{Commands, GpuError};
use snapfreeze::kernels::matmul::{self, Matmul, MatmulAlgorithm, MatmulShape};
use snapfreeze::kernels::Operand;

#[test]
fn every_case_matches_the_f64_reference() {
    let cases = checks::matmul::cases();
    assert!(
        cases.len() >= 240,
        "expected at least 30 shapes x 4 transposes x 2 kernels"
    );
    check_all(&cases);
}

#[test]
fn every_case_by_the_wide_tiles_matches_the_f64_reference() {
    let cases = checks::matmul::wide_cases();
    assert_eq!(cases.len(), checks::matmul::cases().len());
    for algorithm in [MatmulAlgorithm::Wide, MatmulAlgorithm::WideShort] {
        let by = cases.iter().filter(|c| c.algorithm == algorithm).count();
        assert_eq!(by * 2, cases.len(), "{algorithm:?}");
    }
    check_all(&cases);
}

#[test]
fn every_case_split_for_a_gpu_matches_the_f64_reference() {
    let cases = checks::matmul::split_cases();
    for algorithm in [
        MatmulAlgorithm::RegistersSplit,
        MatmulAlgorithm::SharedSplit,
        MatmulAlgorithm::WideSplit,
    ] {
        let splits: Vec<_> = cases
            .iter()
            .filter(|c| c.algorithm == algorithm)
            .map(|c| (c.shape, algorithm.split(&c.shape, 1)))
            .collect();
        // Each cuts several shapes, in every transpose, some with a shorter last part.
        assert!(splits.len() >= 12, "{algorithm:?}: {}", splits.len());
        assert!(splits.iter().all(|(_, s)| s.parts > 1));
        assert!(
            splits.iter().any(|(shape, s)| shape.k % s.part_k != 0),
            "{algorithm:?}: a shorter last part"
        );
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let n = splits
                .iter()
                .filter(|(s, _)| (s.trans_a, s.trans_b) == (ta, tb))
                .count();
            assert!(n >= 3, "{algorithm:?} trans_a={ta} trans_b={tb}: {n}");
        }
    }
    check_all(&cases);
    // The self-test runs the wide tiles and then these as their own families, after every
    // other, so that adding them moved no other case's seed.
    let families: Vec<_> = checks::all_cases().iter().map(|c| c.family).collect();
    let wide = families
        .iter()
        .position(|&f| f == checks::Family::MatmulWide);
    let split = families
        .iter()
        .position(|&f| f == checks::Family::MatmulSplit);
    assert!(wide < split, "{wide:?} {split:?}");
}

#[test]
fn every_case_by_the_pipelined_tiles_matches_the_f64_reference() {
    let cases = checks::matmul::pipelined_cases();
    let by = |a| cases.iter().filter(|c| c.algorithm == a).count();
    // Every shape and transpose unsplit; split, the shapes it cuts, with a short last part.
    assert_eq!(
        by(MatmulAlgorithm::Pipelined),
        checks::matmul::cases().len() / 2
    );
    let splits: Vec<_> = cases
        .iter()
        .filter(|c| c.algorithm == MatmulAlgorithm::PipelinedSplit)
        .map(|c| (c.shape, c.algorithm.split(&c.shape, 1)))
        .collect();
    assert!(splits.len() >= 12, "{}", splits.len());
    assert!(splits.iter().all(|(_, s)| s.parts > 1));
    assert!(splits.iter().any(|(shape, s)| shape.k % s.part_k != 0));
    check_all(&cases);
    // Their own family, last, so that adding them moved no other case's seed.
    let families: Vec<_> = checks::all_cases().iter().map(|c| c.family).collect();
    let split = families
        .iter()
        .rposition(|&f| f == checks::Family::MatmulSplit);
    let pipelined = families
        .iter()
        .position(|&f| f == checks::Family::MatmulPipelined);
    assert!(split < pipelined, "{split:?} {pipelined:?}");
    let conv_prefetch = families
        .iter()
        .position(|&f| f == checks::Family::ConvPrefetch);
    assert!(pipelined < conv_prefetch, "{pipelined:?} {conv_prefetch:?}");
}

#[test]
fn the_gpu_splits_reach_about_1024_workgroups_and_leave_large_products_whole() {
    let cube = |n| MatmulShape::new(n, n, n);
    let parts = |a: MatmulAlgorithm, n| a.split(&cube(n), 1).parts;
    // 1024^3: 256 tiles of 64 x 64 in 4 parts; 64 tiles of 128 x 128 in 16 of 64 indices.
    assert_eq!(parts(MatmulAlgorithm::SharedSplit, 1024), 4);
    assert_eq!(parts(MatmulAlgorithm::RegistersSplit, 1024), 4);
    assert_eq!(parts(MatmulAlgorithm::WideSplit, 1024), 16);
    // The pipelined tiles aim for 256: 64 tiles in 4 parts of 256 indices.
    assert_eq!(parts(MatmulAlgorithm::PipelinedSplit, 1024), 4);
    // The unsplit kernels and the software adapters' register blocks leave it whole.
    for a in [
        MatmulAlgorithm::Registers,
        MatmulAlgorithm::Shared,
        MatmulAlgorithm::Wide,
        MatmulAlgorithm::WideShort,
        MatmulAlgorithm::Pipelined,
    ] {
        assert_eq!(parts(a, 1024), 1, "{a:?}");
    }
    // 4096^3 has 4,096 tiles of 64 x 64 and 1,024 of 128 x 128: enough already.
    for a in MatmulAlgorithm::ALL {
        assert_eq!(parts(a, 4096), 1, "{a:?}");
    }
    // A batch of products is never split.
    let batched = MatmulAlgorithm::SharedSplit.split(&cube(1024), 4);
    assert_eq!(batched.parts, 1);
    for a in MatmulAlgorithm::ALL {
        assert_eq!(MatmulAlgorithm::from_label(a.label()), Some(a));
    }
}

fn check_all(cases: &[checks::matmul::MatmulCase]) {
    let gpu = common::gpu();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let r = block_on(checks::matmul::check(&gpu, *case, i as u64)).expect("GPU error");
        eprintln!(
            "{} {:<40} rel err {:.2e}",
            if r.passed { "pass" } else { "FAIL" },
            r.name,
            r.rel_l2_error
        );
        if !r.passed {
            failures.push(format!("{}: {:?}", r.name, r.problem));
        }
    }
    assert!(failures.is_empty(), "failed: {failures:#?}");
}

#[test]
fn cases_cover_degenerate_prime_and_large_shapes_in_all_transposes() {
    let all = checks::matmul::cases();
    // Every shape by both kernels.
    for algorithm in [MatmulAlgorithm::Registers, MatmulAlgorithm::Shared] {
        let by: Vec<MatmulShape> = all
            .iter()
            .filter(|c| c.algorithm == algorithm)
            .map(|c| c.shape)
            .collect();
        assert_eq!(by.len() * 2, all.len(), "{algorithm:?}");
    }
    let cases: Vec<MatmulShape> = all.iter().map(|c| c.shape).collect();
    let has = |f: &dyn Fn(&MatmulShape) -> bool| cases.iter().any(f);
    assert!(has(&|s| s.m == 1 && s.n == 1 && s.k == 1));
    assert!(has(&|s| s.m > 512 && s.n > 512 && s.k > 512));
    assert!(has(&|s| s.m == 127 && s.n == 131 && s.k == 137));
    for ta in [false, true] {
        for tb in [false, true] {
            let n = cases
                .iter()
                .filter(|s| s.trans_a == ta && s.trans_b == tb)
                .count();
            assert!(n >= 20, "only {n} shapes with trans_a={ta} trans_b={tb}");
        }
    }
}

#[test]
fn a_thin_product_narrows_its_workgroup_and_a_long_one_splits_its_inner_dimension() {
    use matmul::RegisterLayout;
    let registers = MatmulAlgorithm::Registers;
    // The small CNN's linear forward: 64 x 10 outputs over 1568 inputs. Ten columns take
    // 2 invocations across (16 columns), and the single workgroup splits k into parts.
    let shape = MatmulShape::new(64, 10, 1568).transposed(false, true);
    let forward = RegisterLayout::new(&shape);
    assert_eq!(
        (forward.across, forward.down, forward.blocks),
        (2, 8, [1, 1])
    );
    let split = registers.split(&shape, 1);
    assert!(split.parts > 1, "{split:?}");
    assert!(split.part_k * split.parts >= 1568);
    assert!(
        split.part_k * (split.parts - 1) < 1568,
        "no empty part: {split:?}"
    );
    // Its weight gradient: 10 rows take 2 invocations down; k = 64 is too short to split.
    let shape = MatmulShape::new(10, 1568, 64).transposed(true, false);
    let dw = RegisterLayout::new(&shape);
    assert_eq!(
        (
            dw.across,
            dw.down,
            dw.blocks,
            registers.split(&shape, 1).parts
        ),
        (8, 2, [25, 1], 1)
    );
    // A batch of products (the im2col forward) is never split, a large product neither.
    assert_eq!(
        registers.split(&MatmulShape::new(16, 1024, 2000), 64).parts,
        1
    );
    assert_eq!(
        registers
            .split(&MatmulShape::new(1024, 1024, 1024), 1)
            .parts,
        1
    );
    assert_eq!(RegisterLayout::new(&MatmulShape::new(1, 1, 1)).across, 1);
}

#[test]
fn the_checks_run_split_and_narrow_register_layouts() {
    use matmul::RegisterLayout;
    use matmul::Split;
    let layouts: Vec<(MatmulShape, RegisterLayout, Split)> = checks::matmul::cases()
        .iter()
        .filter(|c| c.algorithm == MatmulAlgorithm::Registers)
        .map(|c| {
            let split = c.algorithm.split(&c.shape, 1);
            (c.shape, RegisterLayout::new(&c.shape), split)
        })
        .collect();
    let has = |f: &dyn Fn(&MatmulShape, &RegisterLayout, &Split) -> bool| {
        layouts.iter().any(|(s, l, p)| f(s, l, p))
    };
    assert!(has(&|_, _, p| p.parts == 1), "an unsplit product");
    assert!(
        has(&|_, l, p| p.parts > 1 && l.blocks[0] * l.blocks[1] > 1),
        "a split over several workgroups"
    );
    assert!(
        has(&|s, _, p| p.parts > 1 && s.k % p.part_k != 0),
        "a split whose last part is shorter"
    );
    for narrow in [1, 2, 4] {
        assert!(
            has(&|_, l, _| l.across == narrow),
            "{narrow} invocations across"
        );
        assert!(
            has(&|_, l, _| l.down == narrow),
            "{narrow} invocations down"
        );
    }
    assert!(
        has(&|_, l, p| l.across < 8 && p.parts > 1),
        "a narrow split product"
    );
}

#[test]
fn a_wrong_result_is_caught() {
    // The check must be able to fail: a reference of a different product disagrees.
    let shape = MatmulShape::new(9, 7, 5);
    let a = random_values(1, shape.a_len());
    let b = random_values(2, shape.b_len());
    let right = matmul::reference(&shape, &a, &b);
    let wrong = matmul::reference(&shape, &random_values(3, shape.a_len()), &b);
    let right_f32: Vec<f32> = right.iter().map(|&v| v as f32).collect();
    assert!(checks::relative_l2_error(&right_f32, &right) < 1e-6);
    assert!(checks::relative_l2_error(&right_f32, &wrong) > 0.1);
    let mut nan = right_f32.clone();
    nan[3] = f32::NAN;
    assert!(checks::relative_l2_error(&nan, &right).is_infinite());
}

#[test]
fn reference_matches_hand_computed_products() {
    // A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]; A*B = [[19, 22], [43, 50]].
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0, 7.0, 8.0];
    let s = MatmulShape::new(2, 2, 2);
    assert_eq!(matmul::reference(&s, &a, &b), vec![19.0, 22.0, 43.0, 50.0]);
    // A^T*B = [[26, 30], [38, 44]]; A*B^T = [[17, 23], [39, 53]].
    let at = matmul::reference(&s.transposed(true, false), &a, &b);
    assert_eq!(at, vec![26.0, 30.0, 38.0, 44.0]);
    let bt = matmul::reference(&s.transposed(false, true), &a, &b);
    assert_eq!(bt, vec![17.0, 23.0, 39.0, 53.0]);
}

#[test]
fn pipeline_is_compiled_once_and_dispatches_are_counted() {
    let gpu = common::gpu();
    let shape = MatmulShape::new(40, 30, 20);
    let a = gpu
        .storage_from("a", &random_values(1, shape.a_len()))
        .unwrap();
    let b = gpu
        .storage_from("b", &random_values(2, shape.b_len()))
        .unwrap();
    let c = gpu.storage("c", shape.c_len() as u64 * 4).unwrap();
    let whole = Operand::whole;
    let first = Matmul::new(&gpu, shape, whole(&a), whole(&b), whole(&c)).unwrap();
    // Transposed, the same sizes: the same workgroup, so the same pipeline.
    let second = Matmul::new(
        &gpu,
        shape.transposed(true, true),
        whole(&a),
        whole(&b),
        whole(&c),
    )
    .unwrap();
    let stats = gpu.cache_stats();
    assert_eq!(stats.modules_compiled, 1);
    assert_eq!(stats.pipelines_created, 1);

    gpu.counters().reset();
    let mut commands = Commands::new(&gpu, "test");
    let one = |op: &Matmul| {
        assert_eq!(op.dispatches().len(), 1, "40 x 30 x 20 is not split");
        op.dispatches()[0].clone()
    };
    commands.run(&[&one(&first), &one(&second), &one(&first)]);
    commands.submit();
    block_on(gpu.finish()).unwrap();
    assert_eq!(gpu.counters().get(matmul::KERNEL), 3);
    assert_eq!(gpu.counters().get("conv2d_backward"), 0);
}

#[test]
fn same_inputs_give_bitwise_identical_outputs() {
    let gpu = common::gpu();
    let shape = MatmulShape::new(97, 89, 301).transposed(true, false);
    let a = gpu
        .storage_from("a", &random_values(5, shape.a_len()))
        .unwrap();
    let b = gpu
        .storage_from("b", &random_values(6, shape.b_len()))
        .unwrap();
    let c = gpu.storage("c", shape.c_len() as u64 * 4).unwrap();
    let whole = Operand::whole;
    for algorithm in MatmulAlgorithm::ALL {
        let op = Matmul::new_by(&gpu, algorithm, shape, whole(&a), whole(&b), whole(&c)).unwrap();
        let mut runs = Vec::new();
        for _ in 0..2 {
            let mut commands = Commands::new(&gpu, "determinism");
            commands.run(&op.dispatches().iter().collect::<Vec<_>>());
            commands.submit();
            let out = block_on(gpu.read_f32(&c, 0, shape.c_len())).unwrap();
            runs.push(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        assert_eq!(runs[0], runs[1], "{algorithm:?}");
    }
}

#[test]
fn the_pipelined_tiles_give_the_wide_tiles_bits() {
    // The same 128 x 128 tiles adding the same products in the same order, only loaded
    // earlier: a kept choice of either gives the same results to the bit.
    let gpu = common::gpu();
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let shape = MatmulShape::new(131, 257, 203).transposed(ta, tb);
        let a = gpu
            .storage_from("a", &random_values(7, shape.a_len()))
            .unwrap();
        let b = gpu
            .storage_from("b", &random_values(8, shape.b_len()))
            .unwrap();
        let mut runs = Vec::new();
        for algorithm in [MatmulAlgorithm::Wide, MatmulAlgorithm::Pipelined] {
            let c = gpu.storage("c", shape.c_len() as u64 * 4).unwrap();
            let whole = Operand::whole;
            let op =
                Matmul::new_by(&gpu, algorithm, shape, whole(&a), whole(&b), whole(&c)).unwrap();
            let mut commands = Commands::new(&gpu, "pipelined bits");
            commands.run(&op.dispatches().iter().collect::<Vec<_>>());
            commands.submit();
            let out = block_on(gpu.read_f32(&c, 0, shape.c_len())).unwrap();
            runs.push(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        assert!(runs[0] == runs[1], "{}", shape.describe());
    }
}

#[test]
fn the_kernel_choice_times_each_once_and_software_adapters_keep_register_blocks() {
    let gpu = common::gpu();
    let shape = MatmulShape::new(70, 130, 90).transposed(false, true);
    block_on(matmul::measure(&gpu, shape, 3)).unwrap();
    assert!(gpu.counters().get(matmul::KERNEL) > 0);
    assert!(gpu.counters().get(matmul::SHARED) > 0);
    assert!(gpu.counters().get(matmul::WIDE) > 0);
    assert!(gpu.counters().get(matmul::PIPELINED) > 0);
    let chosen = block_on(matmul::choose(&gpu, shape, 3)).unwrap();
    if gpu.is_software() {
        assert_eq!(chosen, MatmulAlgorithm::Registers);
    }
    let count = || {
        let c = gpu.counters();
        c.get(matmul::KERNEL)
            + c.get(matmul::SHARED)
            + c.get(matmul::WIDE)
            + c.get(matmul::PIPELINED)
    };
    let launched = count();
    assert_eq!(block_on(matmul::choose(&gpu, shape, 3)).unwrap(), chosen);
    let again = count();
    assert_eq!(again, launched, "a remembered choice is not timed again");
    let question = format!("matmul {} x3", shape.describe());
    assert_eq!(
        gpu.remembered_choice(&question),
        Some(chosen.label().into())
    );
}

#[test]
fn bad_launches_are_errors_not_panics() {
    let gpu = common::gpu();
    let small = gpu.storage("small", 16).unwrap();
    let other = gpu.storage("other", 4096).unwrap();
    let out = gpu.storage("out", 4096).unwrap();
    let whole = Operand::whole;
    let too_big = Matmul::new(
        &gpu,
        MatmulShape::new(8, 8, 8),
        whole(&small),
        whole(&other),
        whole(&out),
    );
    assert!(
        matches!(too_big, Err(GpuError::InvalidLaunch { .. })),
        "{too_big:?}"
    );
    let zero = Matmul::new(
        &gpu,
        MatmulShape::new(0, 4, 4),
        whole(&other),
        whole(&other),
        whole(&out),
    );
    assert!(matches!(zero, Err(GpuError::InvalidLaunch { .. })));
    let aliased = Matmul::new(
        &gpu,
        MatmulShape::new(4, 4, 4),
        whole(&out),
        whole(&other),
        whole(&out),
    );
    assert!(matches!(aliased, Err(GpuError::InvalidLaunch { .. })));
    let offset = Operand {
        buffer: &other,
        offset: 1020,
    };
    let past_end = Matmul::new(
        &gpu,
        MatmulShape::new(2, 4, 4),
        offset,
        whole(&other),
        whole(&out),
    );
    assert!(matches!(past_end, Err(GpuError::InvalidLaunch { .. })));
    let huge = gpu.storage("huge", u64::MAX / 2);
    assert!(
        matches!(huge, Err(GpuError::BufferTooLarge { .. })),
        "{huge:?}"
    );
    let unaligned = block_on(gpu.read_bytes(&other, 2, 4));
    assert!(matches!(unaligned, Err(GpuError::Readback(_))));
}

#[test]
fn readback_returns_what_was_written() {
    let gpu = common::gpu();
    let values: Vec<f32> = (0..1001).map(|i| i as f32 * 0.5 - 7.0).collect();
    let buf = gpu.storage_from("values", &values).unwrap();
    assert_eq!(
        block_on(gpu.read_f32(&buf, 0, values.len())).unwrap(),
        values
    );
    assert_eq!(block_on(gpu.read_f32(&buf, 17, 5)).unwrap(), values[17..22]);
    // Odd byte lengths are padded to whole words.
    let bytes = gpu.storage_from("bytes", &[1u8, 2, 3, 4, 5]).unwrap();
    assert_eq!(bytes.size(), 8);
    assert_eq!(
        block_on(gpu.read_bytes(&bytes, 0, 8)).unwrap(),
        [1, 2, 3, 4, 5, 0, 0, 0]
    );
}

#[test]
fn naive_baseline_agrees_with_the_reference() {
    let gpu = common::gpu();
    for shape in [
        MatmulShape::new(37, 29, 53),
        MatmulShape::new(8, 70, 3).transposed(true, true),
    ] {
        let (av, bv) = (
            random_values(1, shape.a_len()),
            random_values(2, shape.b_len()),
        );
        let a = gpu.storage_from("a", &av).unwrap();
        let b = gpu.storage_from("b", &bv).unwrap();
        let c = gpu.storage("c", shape.c_len() as u64 * 4).unwrap();
        let whole = Operand::whole;
        let op = Matmul::naive(&gpu, shape, whole(&a), whole(&b), whole(&c)).unwrap();
        let mut commands = Commands::new(&gpu, "naive");
        commands.run(&op.dispatches().iter().collect::<Vec<_>>());
        commands.submit();
        let got = block_on(gpu.read_f32(&c, 0, shape.c_len())).unwrap();
        let err = checks::relative_l2_error(&got, &matmul::reference(&shape, &av, &bv));
        assert!(err < 1e-5, "{}: {err}", shape.describe());
    }
}
