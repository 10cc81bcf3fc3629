//! Native convolution tests: every self-test case against the references and finite
//! differences, plus determinism, dispatch counting and launch validation.

mod common;

use pollster::block_on;
use snapfreeze::checks::conv::{self as conv_checks, ConvKernel};
use snapfreeze::checks::{self, random_values, Family};
use snapfreeze::gpu::{Commands, Gpu, GpuError};
use snapfreeze::kernels::conv::{
    self, ChannelSlices, Conv, ConvShape, ForwardAlgorithm, InputGradAlgorithm, RegisterBlock,
    WeightGradAlgorithm,
};
use snapfreeze::kernels::Operand;

#[allow(clippy::too_many_arguments)]
fn shape(n: u32, c: u32, h: u32, w: u32, k: u32, r: u32, stride: u32, pad: u32) -> ConvShape {
    ConvShape {
        n,
        c,
        h,
        w,
        k,
        r,
        s: r,
        stride,
        pad,
    }
}

#[test]
fn every_case_matches_the_references_and_finite_differences() {
    let gpu = common::gpu();
    let results = common::run_family(&gpu, Family::Conv);
    assert!(results.len() >= 80);
    let with_fd = results
        .iter()
        .filter(|r| r.finite_difference_error.is_some())
        .count();
    assert!(
        with_fd >= 30,
        "only {with_fd} cases were checked by finite differences"
    );
    for r in &results {
        if r.name.starts_with("conv forward") {
            assert!(r.finite_difference_error.is_none());
        }
    }
}

#[test]
fn the_prefetching_weight_gradient_matches_the_references_and_finite_differences() {
    let gpu = common::gpu();
    let cases = conv_checks::prefetch_cases();
    // Every workgroup-memory weight-gradient case again, unsplit and split.
    let shared = |k| {
        conv_checks::cases()
            .iter()
            .filter(|c| c.kernel == k)
            .count()
    };
    let by = |k| cases.iter().filter(|c| c.kernel == k).count();
    assert_eq!(
        by(ConvKernel::WeightGradSharedPrefetch),
        shared(ConvKernel::WeightGradShared)
    );
    assert_eq!(
        by(ConvKernel::WeightGradSharedPrefetchSplit),
        shared(ConvKernel::WeightGradSharedSplit)
    );
    let results = common::run_family(&gpu, Family::ConvPrefetch);
    assert_eq!(results.len(), cases.len());
    let with_fd = results
        .iter()
        .filter(|r| r.finite_difference_error.is_some())
        .count();
    assert!(with_fd >= 10, "only {with_fd} by finite differences");
    // Their own family, last, so that adding them moved no other case's seed.
    let families: Vec<_> = checks::all_cases().iter().map(|c| c.family).collect();
    assert_eq!(families.last(), Some(&Family::ConvPrefetch));
}

#[test]
fn cases_cover_the_kernel_sizes_strides_and_layouts_the_models_need() {
    let cases = conv_checks::cases();
    let has = |f: &dyn Fn(&conv_checks::ConvCase) -> bool| cases.iter().any(f);
    for (r, stride) in [(1, 1), (1, 2), (3, 1), (3, 2), (5, 1)] {
        for kernel in [
            ConvKernel::Forward,
            ConvKernel::InputGrad,
            ConvKernel::WeightGrad,
            ConvKernel::BiasGrad,
        ] {
            assert!(
                has(&|c| c.shape.r == r && c.shape.stride == stride && c.kernel == kernel),
                "no {kernel:?} case with a {r}x{r} kernel at stride {stride}"
            );
        }
    }
    assert!(has(&|c| c.shape.r != c.shape.s));
    assert!(has(&|c| c.kernel == ConvKernel::InputGrad
        && c.option
        && c.slices != ChannelSlices::dense(&c.shape)));
    assert!(has(&|c| c.shape.k > 32 && c.shape.c > 32));
    // The workgroup-memory kernels at each of their tile heights (16, 32, 64 rows of output
    // channels, or input channels for the input gradient), with more than one tile down and
    // across, at strides 1, 2 and 3, and on channel slices.
    for kernel in [
        ConvKernel::ForwardShared,
        ConvKernel::InputGradShared,
        ConvKernel::WeightGradShared,
        ConvKernel::WeightGradSharedSplit,
    ] {
        let rows = |c: &conv_checks::ConvCase| match kernel {
            ConvKernel::InputGradShared => c.shape.c,
            _ => c.shape.k,
        };
        for (low, high) in [(1, 16), (17, 32), (33, 64), (65, u32::MAX)] {
            assert!(
                has(&|c| c.kernel == kernel && (low..=high).contains(&rows(c))),
                "no {kernel:?} case with {low}..={high} rows"
            );
        }
        for stride in 1..=3 {
            assert!(has(&|c| c.kernel == kernel && c.shape.stride == stride));
        }
        assert!(has(
            &|c| c.kernel == kernel && c.shape.c * c.shape.r * c.shape.s > 64
        ));
        assert!(has(
            &|c| c.kernel == kernel && c.slices != ChannelSlices::dense(&c.shape)
        ));
    }
    assert!(has(&|c| c.kernel == ConvKernel::ForwardShared && c.option));
    assert!(has(&|c| c.kernel == ConvKernel::InputGradShared && c.option));
    // The register tiles in each block, each over one workgroup and over several with the
    // last one part empty, on the plain build and the subgroup build.
    for kernel in [
        ConvKernel::Forward,
        ConvKernel::InputGrad,
        ConvKernel::WeightGrad,
        ConvKernel::ForwardSubgroup,
        ConvKernel::InputGradSubgroup,
        ConvKernel::WeightGradSubgroup,
    ] {
        for (tall, short_rows) in [(false, false), (false, true), (true, false)] {
            let per_workgroup = if tall { 32 } else { 16 };
            for several in [false, true] {
                assert!(
                    has(&|c| {
                        let rows = kernel.rows(&c.shape);
                        c.kernel == kernel
                            && c.short_rows == short_rows
                            && RegisterBlock::tall_fits(rows) == tall
                            && (rows > per_workgroup) == several
                            && rows % per_workgroup != 0
                    }),
                    "no {kernel:?} case (32 rows: {tall}, 8 rows: {short_rows}, several workgroups: {several})"
                );
            }
        }
    }
}

#[test]
fn the_register_tiles_take_the_32_row_block_only_where_it_idles_no_more_rows() {
    for (rows, fits) in [
        (1, false),
        (16, false),
        (17, true),
        (32, true),
        (33, false),
        (48, false),
        (49, true),
        (64, true),
        (80, false),
        (96, true),
    ] {
        assert_eq!(RegisterBlock::tall_fits(rows), fits, "{rows} rows");
    }
    // Below that, the device's answer: 16 rows per invocation until one is measured.
    let gpu = common::gpu();
    assert_eq!(RegisterBlock::for_rows(&gpu, 16), RegisterBlock::Rows16);
    assert_eq!(RegisterBlock::for_rows(&gpu, 24), RegisterBlock::Rows32);
    gpu.remember_choice(conv::REGISTER_BLOCK_QUESTION.into(), "8".into());
    assert_eq!(RegisterBlock::for_rows(&gpu, 16), RegisterBlock::Rows8);
    assert_eq!(RegisterBlock::for_rows(&gpu, 24), RegisterBlock::Rows32);
}

#[test]
fn the_register_block_is_measured_once_and_the_measurement_leaves_the_answer_alone() {
    let gpu = common::gpu();
    let s = shape(2, 8, 12, 12, 16, 3, 1, 1);
    let question = conv::REGISTER_BLOCK_QUESTION;
    let measured = block_on(conv::measure_register_block(&gpu, s, false)).unwrap();
    assert!(matches!(
        measured,
        RegisterBlock::Rows8 | RegisterBlock::Rows16
    ));
    assert_eq!(gpu.remembered_choice(question), None);
    gpu.remember_choice(question.into(), "8".into());
    block_on(conv::measure_register_block(&gpu, s, false)).unwrap();
    assert_eq!(gpu.remembered_choice(question).as_deref(), Some("8"));
    // Kept: choose answers from the device without timing.
    assert_eq!(
        block_on(conv::choose_register_block(&gpu, s, false)).unwrap(),
        RegisterBlock::Rows8
    );
    gpu.set_choice(question, None);
    let chosen = block_on(conv::choose_register_block(&gpu, s, false)).unwrap();
    let answer = chosen.rows().to_string();
    assert_eq!(gpu.remembered_choice(question), Some(answer));
    // A layer the 32-row block fits is refused, not measured.
    let wide = shape(2, 8, 12, 12, 32, 3, 1, 1);
    assert!(block_on(conv::measure_register_block(&gpu, wide, false)).is_err());
}

#[test]
fn references_agree_with_finite_differences_and_a_wrong_gradient_does_not() {
    // The CPU references themselves, against the definition, without a GPU.
    let s = shape(2, 3, 5, 6, 4, 3, 2, 1);
    let f64s = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
    let (x, w) = (
        f64s(random_values(1, s.x_len())),
        f64s(random_values(2, s.w_len())),
    );
    let dy = f64s(random_values(3, s.y_len()));
    let loss = |x: &[f64], w: &[f64]| -> f64 {
        let y = conv::forward_reference(&s, x, w, None);
        y.iter().zip(&dy).map(|(a, b)| a * b).sum()
    };
    let dx = conv::input_grad_reference(&s, &dy, &w);
    let dw = conv::weight_grad_reference(&s, &x, &dy);
    let eps = 1e-3;
    for i in (0..s.x_len()).step_by(7) {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += eps;
        xm[i] -= eps;
        let fd = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * eps);
        assert!((fd - dx[i]).abs() < 1e-9, "dx[{i}]: {fd} vs {}", dx[i]);
    }
    for i in (0..s.w_len()).step_by(5) {
        let (mut wp, mut wm) = (w.clone(), w.clone());
        wp[i] += eps;
        wm[i] -= eps;
        let fd = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * eps);
        assert!((fd - dw[i]).abs() < 1e-9, "dw[{i}]: {fd} vs {}", dw[i]);
    }
    // A gradient computed with other weights is caught.
    let other_w = f64s(random_values(4, s.w_len()));
    let wrong = conv::input_grad_reference(&s, &dy, &other_w);
    let f32s: Vec<f32> = wrong.iter().map(|&v| v as f32).collect();
    assert!(checks::relative_l2_error(&f32s, &dx) > 0.1);
}

/// Random x, w and dy of shape `s` on the GPU.
fn random_operands(gpu: &Gpu, s: &ConvShape) -> [wgpu::Buffer; 3] {
    let upload = |name, seed, len| gpu.storage_from(name, &random_values(seed, len)).unwrap();
    [
        upload("x", 1, s.x_len()),
        upload("w", 2, s.w_len()),
        upload("dy", 3, s.y_len()),
    ]
}

/// Runs `ops` in one command buffer and reads `outputs` back, as bits.
fn run_to_bits(gpu: &Gpu, ops: &[Conv], outputs: &[&wgpu::Buffer]) -> Vec<Vec<u32>> {
    let mut commands = Commands::new(gpu, "conv bits");
    commands.run(
        &ops.iter()
            .flat_map(|op| op.dispatches())
            .collect::<Vec<_>>(),
    );
    commands.submit();
    outputs
        .iter()
        .map(|b| {
            let v = block_on(gpu.read_f32(b, 0, b.size() as usize / 4)).unwrap();
            v.iter().map(|f| f.to_bits()).collect()
        })
        .collect()
}

#[test]
fn same_inputs_give_bitwise_identical_outputs() {
    let gpu = common::gpu();
    let s = shape(3, 17, 13, 11, 19, 3, 1, 1);
    let slices = ChannelSlices::dense(&s);
    let [x, w, dy] = random_operands(&gpu, &s);
    let (y, dx) = (
        gpu.storage("y", s.y_len() as u64 * 4).unwrap(),
        gpu.storage("dx", s.x_len() as u64 * 4).unwrap(),
    );
    let (dw, db) = (
        gpu.storage("dw", s.w_len() as u64 * 4).unwrap(),
        gpu.storage("db", s.k as u64 * 4).unwrap(),
    );
    let whole = Operand::whole;
    let ops = [
        Conv::forward(&gpu, s, slices, whole(&x), whole(&w), None, whole(&y)).unwrap(),
        Conv::input_grad(&gpu, s, slices, whole(&dy), whole(&w), whole(&dx), false).unwrap(),
        Conv::weight_grad(&gpu, s, slices, whole(&x), whole(&dy), whole(&dw)).unwrap(),
        Conv::bias_grad(&gpu, s, slices, whole(&dy), whole(&db)).unwrap(),
    ];
    let outputs = [&y, &dx, &dw, &db];
    let runs: Vec<_> = (0..2).map(|_| run_to_bits(&gpu, &ops, &outputs)).collect();
    assert_eq!(runs[0], runs[1]);
    for (kernel, n) in [
        (conv::FORWARD, 2),
        (conv::INPUT_GRAD, 2),
        (conv::WEIGHT_GRAD, 2),
        (conv::BIAS_GRAD, 2),
    ] {
        assert_eq!(gpu.counters().get(kernel), n, "{kernel}");
    }
}

#[test]
fn the_prefetching_weight_gradient_gives_the_plain_kernels_bits() {
    // Same cut, same width, same sums in the same order: a kept choice of either gives the
    // same training run to the bit. Unsplit and split, 64-column and fitted tiles, a
    // strided layer with a short last chunk.
    let gpu = common::gpu();
    let s = shape(3, 16, 13, 11, 20, 3, 2, 1);
    let slices = ChannelSlices::dense(&s);
    let [x, _, dy] = random_operands(&gpu, &s);
    let fitted = conv::shared_weight_grad_fitted_across(
        &s,
        gpu.limits().max_compute_invocations_per_workgroup,
    );
    for (parts, across) in [
        (1, conv::SHARED_ACROSS),
        (7, fitted),
        (5, conv::SHARED_ACROSS),
    ] {
        let mut runs = Vec::new();
        for prefetch in [false, true] {
            let algorithm = WeightGradAlgorithm::Shared {
                parts,
                across,
                prefetch,
            };
            let dw = gpu.storage("dw", s.w_len() as u64 * 4).unwrap();
            let whole = Operand::whole;
            let op = Conv::weight_grad_by(
                &gpu,
                algorithm,
                s,
                slices,
                whole(&x),
                whole(&dy),
                whole(&dw),
            )
            .unwrap();
            runs.push(run_to_bits(&gpu, &[op], &[&dw]));
        }
        assert_eq!(runs[0], runs[1], "{parts} parts, {across} across");
    }
    assert!(gpu.counters().get(conv::WEIGHT_GRAD_SHARED_PREFETCH) >= 3);
    // Narrower than 8 invocations, its registers would not hold a chunk: refused.
    let narrow = WeightGradAlgorithm::Shared {
        parts: 1,
        across: 4,
        prefetch: true,
    };
    let dw = gpu.storage("dw", s.w_len() as u64 * 4).unwrap();
    let whole = Operand::whole;
    let refused = Conv::weight_grad_by(&gpu, narrow, s, slices, whole(&x), whole(&dy), whole(&dw));
    let message = refused.map(|_| ()).unwrap_err().to_string();
    assert!(
        message.contains("needs at least 8 invocations across"),
        "{message}"
    );
}

#[test]
fn the_8_and_16_row_blocks_give_the_same_bits() {
    let gpu = common::gpu();
    let s = shape(3, 10, 13, 11, 12, 3, 2, 1);
    let slices = ChannelSlices::dense(&s);
    let [x, w, dy] = random_operands(&gpu, &s);
    let mut runs = Vec::new();
    for rows in ["8", "16"] {
        let whole = Operand::whole;
        gpu.remember_choice(conv::REGISTER_BLOCK_QUESTION.into(), rows.into());
        let y = gpu.storage("y", s.y_len() as u64 * 4).unwrap();
        let dx = gpu.storage("dx", s.x_len() as u64 * 4).unwrap();
        let dw = gpu.storage("dw", s.w_len() as u64 * 4).unwrap();
        let ops = [
            Conv::forward(&gpu, s, slices, whole(&x), whole(&w), None, whole(&y)).unwrap(),
            Conv::input_grad(&gpu, s, slices, whole(&dy), whole(&w), whole(&dx), false).unwrap(),
            Conv::weight_grad(&gpu, s, slices, whole(&x), whole(&dy), whole(&dw)).unwrap(),
        ];
        runs.push(run_to_bits(&gpu, &ops, &[&y, &dx, &dw]));
    }
    assert_eq!(runs[0], runs[1]);
    // Both ran: two modules of the register kernels were compiled.
    assert!(gpu.cache_stats().modules_compiled >= 2);
}

#[test]
fn a_measured_choice_is_timed_once_kept_and_trusted_only_on_its_adapter() {
    let s = shape(4, 6, 9, 9, 20, 3, 1, 1);
    let gpu = common::gpu();
    // Both weight-gradient variants are timed (the register tiles first, then the
    // workgroup-memory tiles, at least at their default split).
    let measured = block_on(conv::measure_weight_grad(&gpu, s)).unwrap();
    assert!(gpu.counters().get(conv::WEIGHT_GRAD) > 0);
    assert!(gpu.counters().get(conv::WEIGHT_GRAD_SHARED) > 0);
    eprintln!("measured: {}", measured.label());

    // So are both input-gradient variants and every forward algorithm asked for.
    let both = [InputGradAlgorithm::Registers, InputGradAlgorithm::Shared];
    block_on(conv::measure_input_grad(&gpu, s, &both)).unwrap();
    assert!(gpu.counters().get(conv::INPUT_GRAD) > 0);
    assert!(gpu.counters().get(conv::INPUT_GRAD_SHARED) > 0);
    // Natively there is no subgroup build (naga does not take `enable subgroups`): asked
    // for, it is refused with a message, and choices leave it out.
    assert!(!gpu.subgroup_rows());
    let all = ForwardAlgorithm::ALL;
    let runnable: Vec<ForwardAlgorithm> = all
        .into_iter()
        .filter(|a| *a != ForwardAlgorithm::ImplicitGemmSubgroup)
        .collect();
    block_on(conv::measure_forward(&gpu, s, &runnable)).unwrap();
    assert!(gpu.counters().get(conv::FORWARD_SHARED) > 0);
    assert!(gpu.counters().get(conv::IM2COL) > 0);

    // The start-up choices are remembered on the device: asked again, nothing is launched.
    let forward = block_on(conv::choose_forward(&gpu, s, &all)).unwrap();
    let chosen = block_on(conv::choose_weight_grad(&gpu, s)).unwrap();
    let input = block_on(conv::choose_input_grad(&gpu, s)).unwrap();
    if gpu.is_software() {
        // Where the GPU variants are not even timed (see choose_weight_grad).
        assert_eq!(chosen, WeightGradAlgorithm::Registers);
        assert_eq!(input, InputGradAlgorithm::Registers);
        assert_ne!(forward, ForwardAlgorithm::SharedTiles);
    }
    let launched = (
        gpu.counters().get(conv::FORWARD),
        gpu.counters().get(conv::WEIGHT_GRAD),
    );
    assert!(launched.0 > 0);
    assert_eq!(
        block_on(conv::choose_forward(&gpu, s, &all)).unwrap(),
        forward
    );
    assert_eq!(block_on(conv::choose_weight_grad(&gpu, s)).unwrap(), chosen);
    assert_eq!(block_on(conv::choose_input_grad(&gpu, s)).unwrap(), input);
    let again = (
        gpu.counters().get(conv::FORWARD),
        gpu.counters().get(conv::WEIGHT_GRAD),
    );
    assert_eq!(again, launched);
    let question = format!("conv weight grad {}", s.describe());
    assert_eq!(gpu.remembered_choice(&question), Some(chosen.label()));

    // Kept and loaded on a new device of the same adapter: answered without timing.
    let kept = gpu.kernel_choices_json();
    let fresh = common::gpu();
    assert_eq!(fresh.load_kernel_choices(&kept), Ok(3));
    assert_eq!(
        block_on(conv::choose_forward(&fresh, s, &all)).unwrap(),
        forward
    );
    assert_eq!(
        block_on(conv::choose_weight_grad(&fresh, s)).unwrap(),
        chosen
    );
    assert_eq!(fresh.counters().get(conv::FORWARD), 0);

    // Made on another adapter, by another driver, with other kernels or another format:
    // refused with the reason, and nothing is loaded.
    let key = gpu.choice_key().clone();
    let field = |name: &str, value: &str| format!("\"{name}\": {value:?}");
    let edits = [
        (
            field("adapter", &key.adapter),
            field("adapter", "NVIDIA H200"),
            "another adapter",
        ),
        (
            field("driver", &key.driver),
            field("driver", "580.159"),
            "another driver",
        ),
        (
            field("kernels", &key.kernels),
            field("kernels", "00000000"),
            "other kernels",
        ),
        (
            "\"format\": 1".into(),
            "\"format\": 7".into(),
            "another version",
        ),
    ];
    for (from, to, why) in edits {
        assert!(kept.contains(&from), "{from} not in {kept}");
        let other = common::gpu();
        let refused = other.load_kernel_choices(&kept.replace(&from, &to));
        assert!(
            refused.as_ref().is_err_and(|e| e.contains(why)),
            "{why}: {refused:?}"
        );
        assert!(other.kernel_choices().is_empty());
    }
    // An answer that names no algorithm is not trusted either: the shape is timed again.
    let garbled = kept.replace(&format!("\"{}\"", forward.label()), "\"sideways\"");
    let other = common::gpu();
    other.load_kernel_choices(&garbled).unwrap();
    block_on(conv::choose_forward(&other, s, &all)).unwrap();
    assert!(other.counters().get(conv::FORWARD) > 0);
    // A kept answer outside the candidates asked for is not taken: with the register
    // kernel and im2col alone, a kept "shared_tiles" would be wrong.
    let pair = [
        ForwardAlgorithm::ImplicitGemm,
        ForwardAlgorithm::Im2colMatmul,
    ];
    let picked = block_on(conv::choose_forward(&fresh, s, &pair)).unwrap();
    assert!(pair.contains(&picked));
}

#[test]
fn bad_launches_are_errors_not_panics() {
    let gpu = common::gpu();
    let buf = gpu.storage("buf", 1 << 16).unwrap();
    let out = gpu.storage("out", 1 << 16).unwrap();
    let whole = Operand::whole;
    let s = shape(2, 3, 8, 8, 4, 3, 1, 1);
    let dense = ChannelSlices::dense(&s);
    let invalid = |r: Result<Conv, GpuError>| matches!(r, Err(GpuError::InvalidLaunch { .. }));

    // The subgroup build where the device has no subgroups of four lanes (natively, always).
    let (x, dy, dw) = (whole(&buf), whole(&buf), whole(&out));
    let subgroup = WeightGradAlgorithm::RegistersSubgroup;
    let refused = Conv::weight_grad_by(&gpu, subgroup, s, dense, x, dy, dw);
    assert!(
        matches!(&refused, Err(GpuError::InvalidLaunch { reason, .. }) if reason.contains("subgroups")),
        "{refused:?}"
    );
    let forward = Conv::forward_subgroup(&gpu, s, dense, x, whole(&buf), None, whole(&out));
    assert!(invalid(forward));
    let input = InputGradAlgorithm::RegistersSubgroup;
    let refused = Conv::input_grad_by(&gpu, input, s, dense, dy, whole(&buf), dw, false);
    assert!(invalid(refused));

    let too_big_kernel = ConvShape { r: 11, s: 11, ..s };
    assert!(invalid(Conv::forward(
        &gpu,
        too_big_kernel,
        dense,
        whole(&buf),
        whole(&buf),
        None,
        whole(&out)
    )));
    let zero_stride = ConvShape { stride: 0, ..s };
    assert!(invalid(Conv::weight_grad(
        &gpu,
        zero_stride,
        dense,
        whole(&buf),
        whole(&buf),
        whole(&out)
    )));
    let narrow = ChannelSlices {
        x_channels: 2,
        ..dense
    };
    assert!(invalid(Conv::forward(
        &gpu,
        s,
        narrow,
        whole(&buf),
        whole(&buf),
        None,
        whole(&out)
    )));
    let overflowing = ChannelSlices {
        y_first: 1,
        ..dense
    };
    assert!(invalid(Conv::bias_grad(
        &gpu,
        s,
        overflowing,
        whole(&buf),
        whole(&out)
    )));
    let aliased = Conv::input_grad(&gpu, s, dense, whole(&out), whole(&buf), whole(&out), false);
    assert!(invalid(aliased));
    let small = gpu.storage("small", 64).unwrap();
    assert!(invalid(Conv::forward(
        &gpu,
        s,
        dense,
        whole(&small),
        whole(&buf),
        None,
        whole(&out)
    )));
}

#[test]
fn both_forward_algorithms_and_the_naive_baseline_agree_with_the_reference() {
    use snapfreeze::kernels::conv::{ConvForward, ForwardAlgorithm};
    let gpu = common::gpu();
    let s = shape(3, 5, 9, 7, 6, 3, 2, 1);
    let slices = ChannelSlices::dense(&s);
    let (xv, wv, bv) = (
        random_values(1, s.x_len()),
        random_values(2, s.w_len()),
        random_values(3, 6),
    );
    let x = gpu.storage_from("x", &xv).unwrap();
    let w = gpu.storage_from("w", &wv).unwrap();
    let b = gpu.storage_from("b", &bv).unwrap();
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let want = conv::forward_reference(&s, &f64s(&xv), &f64s(&wv), Some(&f64s(&bv)));
    for algorithm in [
        ForwardAlgorithm::ImplicitGemm,
        ForwardAlgorithm::Im2colMatmul,
    ] {
        let y = gpu.storage("y", s.y_len() as u64 * 4).unwrap();
        let op = ConvForward::new(
            &gpu,
            algorithm,
            s,
            slices,
            Operand::whole(&x),
            Operand::whole(&w),
            Some(Operand::whole(&b)),
            Operand::whole(&y),
        )
        .unwrap();
        let mut commands = Commands::new(&gpu, "forward");
        commands.run(&op.dispatches());
        commands.submit();
        let got = block_on(gpu.read_f32(&y, 0, s.y_len())).unwrap();
        assert!(
            checks::relative_l2_error(&got, &want) < 1e-5,
            "{algorithm:?}"
        );
    }
    let y = gpu.storage("y", s.y_len() as u64 * 4).unwrap();
    let naive = Conv::forward_naive(
        &gpu,
        s,
        slices,
        Operand::whole(&x),
        Operand::whole(&w),
        Some(Operand::whole(&b)),
        Operand::whole(&y),
    )
    .unwrap();
    let mut commands = Commands::new(&gpu, "naive");
    commands.run(&naive.dispatches().iter().collect::<Vec<_>>());
    commands.submit();
    let got = block_on(gpu.read_f32(&y, 0, s.y_len())).unwrap();
    assert!(checks::relative_l2_error(&got, &want) < 1e-5);
    // The start-up choice returns one of the two, whichever this adapter runs faster.
    let chosen = block_on(conv::choose_forward(&gpu, s, &ForwardAlgorithm::ALL)).unwrap();
    eprintln!("choose_forward picked {chosen:?} for {}", s.describe());
}

#[test]
fn the_weight_gradient_fits_its_tile_width_to_the_taps_and_labels_say_it() {
    use snapfreeze::kernels::conv::{shared_weight_grad_fitted_across, WeightGradAlgorithm};
    // (c, r, s) = 144 fills one 144-column tile; 288 two; 9 the narrowest (32 columns);
    // 576 four of 144.
    let fitted =
        |c, r, k, limit| shared_weight_grad_fitted_across(&shape(8, c, 14, 14, k, r, 1, 1), limit);
    let across = |c, r| fitted(c, r, 16, 1024);
    assert_eq!(
        (across(16, 3), across(32, 3), across(1, 3), across(64, 3)),
        (36, 36, 8, 36)
    );
    // 5 x 3 x 3 = 45 taps: one tile of 48 columns.
    assert_eq!(across(5, 3), 12);
    // Within the device's invocations per workgroup: 64 rows are 16 invocations down, so 256
    // leave 16 across (four tiles of 64 for 576 taps), 1024 leave 36.
    assert_eq!((fitted(64, 3, 64, 256), fitted(64, 3, 64, 1024)), (16, 36));
    // 32 rows (8 down) under 256: at most 128 columns, so 144 taps in two tiles of 72.
    assert_eq!(fitted(16, 3, 32, 256), 18);
    let wide = WeightGradAlgorithm::Shared {
        parts: 342,
        across: 36,
        prefetch: false,
    };
    let default = WeightGradAlgorithm::Shared {
        parts: 8,
        across: snapfreeze::kernels::conv::SHARED_ACROSS,
        prefetch: false,
    };
    assert_eq!(
        (wide.label(), default.label()),
        ("shared/342/144".into(), "shared/8".into())
    );
    assert_eq!(
        (
            wide.prefetching().label(),
            default.prefetching().label(),
            WeightGradAlgorithm::Registers.prefetching().label()
        ),
        (
            "shared_prefetch/342/144".into(),
            "shared_prefetch/8".into(),
            "registers".into()
        )
    );
    let narrow = WeightGradAlgorithm::from_label("shared/8/16");
    assert!(matches!(
        narrow,
        Some(WeightGradAlgorithm::Shared { across: 4, .. })
    ));
    for a in [
        wide,
        default,
        wide.prefetching(),
        default.prefetching(),
        WeightGradAlgorithm::Registers,
        WeightGradAlgorithm::RegistersSubgroup,
    ] {
        assert_eq!(WeightGradAlgorithm::from_label(&a.label()), Some(a));
    }
    for bad in [
        "shared/0",
        "shared/8/146",
        "shared/8/148",
        "shared/x",
        "shared/8/64/2",
        // The prefetching kernel needs 8 invocations (32 columns) across.
        "shared_prefetch/8/16",
        "shared_prefetch/0",
        "registers/2",
        "prefetch/8",
    ] {
        assert_eq!(WeightGradAlgorithm::from_label(bad), None, "{bad}");
    }
}
