//! The trainer on small synthetic data: every model family learns, runs repeat to the bit,
//! nothing is allocated after the first step, checkpoints round-trip, and the architectures
//! have the published sizes.

mod common;

use std::rc::Rc;

use common::synthetic;
use snapfreeze::checkpoint;
use snapfreeze::data::Dataset;
use snapfreeze::gpu::Gpu;
use snapfreeze::nn::params::Layouts;
use snapfreeze::nn::{Architecture, ForwardChoice, KernelVariants, ModelSpec};
use snapfreeze::schedule::{Method, Schedule};
use snapfreeze::train::{TrainConfig, TrainError, Trainer};

fn config(model: ModelSpec) -> TrainConfig {
    TrainConfig {
        model,
        epochs: 3,
        batch: 8,
        lr: 0.05,
        method: Method::Baseline {
            schedule: Schedule::Cosine,
        },
        augment: true,
        flip: true,
        readback_every: 3,
        forward: ForwardChoice::Implicit,
        kernel_variants: KernelVariants::Registers,
        ..TrainConfig::default()
    }
}

/// A small CNN's Snapshot Ensemble on 40 images: 5 steps per epoch, 15 in all, snapshots
/// after iterations 4, 9 and 14.
fn three_snapshots() -> (Dataset, Dataset, TrainConfig) {
    let mut c = config(ModelSpec::Small { width: 4 });
    c.method = Method::Snapshot {
        cycles: 3,
        alpha0: None,
    };
    (synthetic(40, 1, 12, 7), synthetic(8, 1, 12, 8), c)
}

fn trainer(gpu: &Rc<Gpu>, data: &Dataset, test: &Dataset, config: TrainConfig) -> Trainer {
    pollster::block_on(Trainer::new(Rc::clone(gpu), data, test, config, None))
        .unwrap_or_else(|e| panic!("trainer: {e}"))
}

#[test]
fn every_family_learns_a_simple_task() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(64, 3, 8, 1);
    let test = synthetic(40, 3, 8, 2);
    let models = [
        ModelSpec::Small { width: 4 },
        ModelSpec::Vgg {
            depth: 11,
            width: 4,
        },
        ModelSpec::Resnet { depth: 8, width: 4 },
        ModelSpec::Densenet {
            depth: 10,
            growth: 4,
        },
    ];
    for model in models {
        let name = model.name();
        // im2col + matmul for two of them: its shared workspace and DenseNet's channel slices.
        let im2col = matches!(model, ModelSpec::Vgg { .. } | ModelSpec::Densenet { .. });
        // The GPUs' workgroup-memory kernels for two of them: the weight gradient split over
        // the batch and the input gradient, on residual blocks and on DenseNet's channel
        // slices, and the ResNet's forward too (the DenseNet's is im2col).
        let shared = matches!(model, ModelSpec::Resnet { .. } | ModelSpec::Densenet { .. });
        let mut c = config(model);
        c.epochs = 6;
        c.augment = false;
        if im2col {
            c.forward = ForwardChoice::Im2col;
        }
        if shared {
            c.kernel_variants = KernelVariants::Shared;
        }
        let mut t = trainer(&gpu, &data, &test, c);
        pollster::block_on(t.run(u64::MAX)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let epochs = t.epochs();
        let first = &epochs[0];
        let last = epochs.last().unwrap();
        let acc = last.test.unwrap().accuracy;
        eprintln!(
            "{name}: train loss {:.3} -> {:.3}, test accuracy {acc:.3}",
            first.train_loss, last.train_loss
        );
        assert!(
            last.train_loss < 0.7 * first.train_loss,
            "{name} does not learn"
        );
        assert!(acc > 0.6, "{name}: test accuracy {acc}");
        assert_eq!(last.test.unwrap().images, 40);
    }
    // The GPU variants did the ResNet's and the DenseNet's convolutions.
    use snapfreeze::kernels::conv;
    for kernel in [
        conv::WEIGHT_GRAD_SHARED,
        conv::INPUT_GRAD_SHARED,
        conv::FORWARD_SHARED,
    ] {
        assert!(gpu.counters().get(kernel) > 0, "{kernel} never ran");
    }
}

#[test]
fn same_seed_same_bits_and_no_allocation_after_the_first_step() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(72, 1, 12, 3);
    let test = synthetic(20, 1, 12, 4);
    let mut c = config(ModelSpec::Resnet { depth: 8, width: 4 });
    c.validation = 12;
    let run = |c: &TrainConfig, check_resources: bool| {
        let mut t = trainer(&gpu, &data, &test, c.clone());
        pollster::block_on(t.run(1)).unwrap();
        let after_first = gpu.resource_counts();
        pollster::block_on(t.run(u64::MAX)).unwrap();
        if check_resources {
            assert_eq!(
                gpu.resource_counts(),
                after_first,
                "buffers or bind groups were created after the first step"
            );
        }
        let weights = pollster::block_on(t.tensors()).unwrap();
        let losses: Vec<f64> = t.steps().iter().map(|s| s.loss).collect();
        (losses, weights, t.epochs().to_vec())
    };
    let (losses_a, weights_a, epochs_a) = run(&c, true);
    assert_eq!(epochs_a.len(), 3, "three epochs, each evaluated");
    assert!(epochs_a
        .iter()
        .all(|e| e.validation.is_some() && e.test.is_some()));
    assert_eq!(losses_a.len(), 3 * (60 / 8));
    let (losses_b, weights_b, _) = run(&c, false);
    assert_eq!(losses_a, losses_b, "same seed, different losses");
    assert_eq!(weights_a, weights_b, "same seed, different weights");
    c.seed = 2;
    let (losses_c, _, _) = run(&c, false);
    assert_ne!(losses_a, losses_c, "the seed changes the run");
}

#[test]
fn checkpoints_round_trip_through_safetensors_with_pytorch_counters() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(32, 1, 8, 5);
    let mut c = config(ModelSpec::Small { width: 4 });
    c.epochs = 1;
    let mut t = trainer(&gpu, &data, &data, c.clone());
    pollster::block_on(t.run(u64::MAX)).unwrap();
    let before = pollster::block_on(t.evaluate_test()).unwrap();
    let file = pollster::block_on(t.checkpoint()).unwrap();
    // PyTorch's layout: every norm has its int64 step counter beside its statistics.
    let raw = safetensors::SafeTensors::deserialize(&file).unwrap();
    let counter = raw.tensor("bn1.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), safetensors::Dtype::I64);
    assert_eq!(counter.data(), &4i64.to_le_bytes());
    assert_eq!(raw.tensor("conv2.weight").unwrap().shape(), &[8, 4, 3, 3]);
    assert_eq!(raw.tensor("fc.weight").unwrap().shape(), &[4, 32]);
    // A fresh trainer started from the file evaluates identically.
    let mut c2 = c.clone();
    c2.seed = 99;
    let mut u =
        pollster::block_on(Trainer::new(Rc::clone(&gpu), &data, &data, c2, Some(&file))).unwrap();
    let after = pollster::block_on(u.evaluate_test()).unwrap();
    assert_eq!(before, after);
    // A checkpoint of another model is refused with the tensor's name.
    let other = config(ModelSpec::Small { width: 8 });
    let err = pollster::block_on(Trainer::new(
        Rc::clone(&gpu),
        &data,
        &data,
        other,
        Some(&file),
    ))
    .err()
    .expect("a width-4 checkpoint cannot start a width-8 model");
    assert!(err.to_string().contains("conv1.weight"), "{err}");
    assert!(checkpoint::load(&file).is_ok());
}

#[test]
fn architectures_have_the_published_sizes_and_pytorch_names() {
    let arch = |spec: ModelSpec, c, side| Architecture::new(&spec, c, side, side, 10).unwrap();
    // ResNet-20 on CIFAR: 0.27M parameters (He et al. 2016, table 6), counted by hand:
    // convs 432 + 6x2304 + 4608 + 5x9216 + 18432 + 5x36864, norms 2x(16 + 6x16 + 6x32 +
    // 6x64), fc 650.
    let resnet = arch(
        ModelSpec::Resnet {
            depth: 20,
            width: 16,
        },
        3,
        32,
    );
    let l = Layouts::new(&resnet);
    assert_eq!(l.params.len, 269_722);
    assert_eq!(
        resnet.blocks.len(),
        1 + 9 + 1,
        "stem, 9 residual blocks, head"
    );
    assert!(l.params.get("layer3.2.bn2.weight").is_some());
    assert_eq!(
        l.params.get("layer2.0.conv1.weight").unwrap().shape,
        vec![32, 16, 3, 3]
    );
    // ResNet-110: 1.7M (He et al.).
    let r110 = Layouts::new(&arch(
        ModelSpec::Resnet {
            depth: 110,
            width: 16,
        },
        3,
        32,
    ));
    assert!(
        (1_700_000..1_740_000).contains(&r110.params.len),
        "{}",
        r110.params.len
    );
    // DenseNet-BC-40 (k = 12): stem, 3 x 6 dense layers, 2 transitions, head.
    let dense = arch(
        ModelSpec::Densenet {
            depth: 40,
            growth: 12,
        },
        3,
        32,
    );
    assert_eq!(dense.blocks.len(), 1 + 18 + 2 + 1);
    let dl = Layouts::new(&dense);
    let conv2 = dl
        .params
        .get("features.denseblock3.denselayer6.conv2.weight")
        .unwrap();
    assert_eq!(conv2.shape, vec![12, 48, 3, 3]);
    assert_eq!(
        dl.params.get("classifier.weight").unwrap().shape,
        vec![10, 132]
    );
    // VGG-11: 8 conv units and the head; on 28x28 inputs the last pool is dropped.
    let vgg = arch(
        ModelSpec::Vgg {
            depth: 11,
            width: 64,
        },
        1,
        28,
    );
    assert_eq!(vgg.blocks.len(), 9);
    assert_eq!(vgg.activations[vgg.blocks[7].output].h, 1);
    // Block starts are increasing and cover the buffer: frozen blocks are a prefix.
    let starts = l.params.block_starts(resnet.blocks.len());
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!((starts[0], *starts.last().unwrap()), (0, l.params.len));
}

#[test]
fn kernel_profile_times_every_launch_of_the_steps() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(40, 1, 12, 5);
    let test = synthetic(8, 1, 12, 6);
    let mut t = trainer(&gpu, &data, &test, config(ModelSpec::Small { width: 4 }));
    pollster::block_on(t.run(1)).unwrap();
    if !gpu.has_timestamps() {
        let refused = pollster::block_on(t.kernel_profile(2)).unwrap_err();
        assert!(refused.to_string().contains("timestamp"), "{refused}");
        return;
    }
    gpu.counters().reset();
    let began = std::time::Instant::now();
    let profile = pollster::block_on(t.kernel_profile(2)).unwrap();
    let wall_ms = began.elapsed().as_secs_f64() * 1e3;
    assert_eq!(t.iteration(), 3, "the profiled steps are real steps");
    assert_eq!(profile.untimed, 0);
    // No GPU time is counted twice: the kernels' times add up to no more than the time the
    // steps took (an invariant, whatever the machine's speed).
    assert!(
        profile.total_ms() <= wall_ms * 1.05,
        "{} ms of kernels in {wall_ms} ms",
        profile.total_ms()
    );
    // Every dispatch recorded meanwhile was timed, under its own kernel's name.
    let counted = gpu.counters().snapshot();
    assert_eq!(profile.kernels.len(), counted.len());
    for k in &profile.kernels {
        assert_eq!(Some(&k.launches), counted.get(k.kernel), "{}", k.kernel);
        assert!(k.ms >= 0.0 && k.ms.is_finite(), "{}: {} ms", k.kernel, k.ms);
    }
    let conv = profile
        .kernels
        .iter()
        .find(|k| k.kernel == "conv2d_forward");
    assert_eq!(conv.map(|k| k.launches), Some(4), "two convolutions a step");
    assert!(profile.total_ms() > 0.0);
    assert!(
        profile.kernels.windows(2).all(|w| w[0].ms >= w[1].ms),
        "slowest first"
    );
    // One profile at a time, and closing needs an open one.
    gpu.begin_profile().unwrap();
    assert!(gpu.begin_profile().is_err());
    pollster::block_on(gpu.end_profile()).unwrap();
    assert!(pollster::block_on(gpu.end_profile()).is_err());
}

/// `--time-share`'s measurement records the full step, the step without the kernels and the
/// step with each of their launches twice, the same number of times each, and puts the
/// weights and running statistics back. (What it finds depends on the machine; what it runs
/// does not.)
#[test]
fn a_kernel_share_times_the_step_without_the_kernels_and_with_them_twice() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(40, 1, 12, 5);
    let test = synthetic(8, 1, 12, 6);
    let mut t = trainer(&gpu, &data, &test, config(ModelSpec::Small { width: 4 }));
    pollster::block_on(t.run(u64::MAX)).unwrap();
    let before = pollster::block_on(t.tensors()).unwrap();
    let per_step = t.profile(0).unwrap().dispatches.clone();
    let prefix = "conv2d_weight_grad";
    gpu.counters().reset();
    let share = pollster::block_on(t.time_kernel_share(prefix, 3))
        .unwrap()
        .expect("the small CNN has weight gradients");
    let matching: u32 = per_step
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, &n)| n)
        .sum();
    assert_eq!(share.launches, matching);
    assert!(matching >= 2, "two convolutions a step");
    assert_eq!(share.rounds, 3);
    // One warm-up step of each kind, then a burst of each per round.
    let steps = 1 + share.rounds as u64 * share.steps_per_round as u64;
    // Full, without and twice: every kernel runs three times per step of each kind (the
    // measured ones once, never and twice; which is which, timing.rs's unit test checks).
    let counted = gpu.counters().snapshot();
    for (kernel, &n) in &per_step {
        assert_eq!(
            counted.get(kernel),
            Some(&(n as u64 * steps * 3)),
            "{kernel}"
        );
    }
    assert_eq!(counted.len(), per_step.len());
    for s in [share.removed, share.doubled] {
        assert!(s.low <= s.median && s.median <= s.high, "{s:?}");
        assert!(s.low.is_finite() && s.high.is_finite(), "{s:?}");
    }
    assert!(share.step_ms > 0.0 && share.step_ms.is_finite());
    let after = pollster::block_on(t.tensors()).unwrap();
    assert!(before == after, "the weights and statistics are put back");
    // Nothing to measure: no launch, and nothing run.
    gpu.counters().reset();
    for (prefix, rounds) in [("no_such_kernel", 3), ("", 3), (prefix, 0)] {
        let none = pollster::block_on(t.time_kernel_share(prefix, rounds)).unwrap();
        assert!(none.is_none(), "{prefix:?} x{rounds}");
    }
    assert!(gpu.counters().snapshot().is_empty());

    // Steps that overflow while timed set the divergence guard, and SGD then skips its work:
    // nothing is measured, and the weights, statistics and guard are put back.
    let fc = t.plan().layouts.params.offset("fc.weight") as u64 * 4;
    gpu.write(&t.plan().params, fc, &[3e38f32]);
    let poisoned = pollster::block_on(t.tensors()).unwrap();
    let err = pollster::block_on(t.time_kernel_share(prefix, 2)).unwrap_err();
    assert!(matches!(err, TrainError::TimedStepsDiverged), "{err}");
    assert!(err.to_string().contains("nothing was measured"), "{err}");
    assert!(pollster::block_on(t.tensors()).unwrap() == poisoned);
    let guard = t.plan().guard();
    let state =
        pollster::block_on(gpu.read_f32(guard.buffer, 0, guard.offset as usize + 1)).unwrap();
    assert_eq!(state.last(), Some(&0.0), "the guard is as it was");
}

/// The divergence guard end to end: a weight made huge mid-run overflows the logits, the
/// GPU stops updating at that step, the trainer reports it and stands there with the
/// snapshots taken before it, and after the weight is repaired training resumes at a lower
/// rate and finishes.
#[test]
fn a_divergence_stops_at_the_bad_step_and_training_resumes_at_a_lower_rate() {
    let gpu = Rc::new(common::gpu());
    let (data, test, c) = three_snapshots();
    let mut t = trainer(&gpu, &data, &test, c.clone());
    assert_eq!(t.schedule().snapshot_iterations(), &[4, 9, 14]);
    let fc = t.plan().layouts.params.offset("fc.weight") as u64 * 4;
    let poison = |t: &Trainer, value: f32| gpu.write(&t.plan().params, fc, &[value]);
    let weights = |t: &Trainer| pollster::block_on(t.tensors()).unwrap();

    pollster::block_on(t.run(8)).unwrap();
    assert_eq!(t.snapshots().len(), 1);
    let good = weights(&t);
    // Step 8 overflows; step 9 would take the second snapshot, in the same read-back window.
    poison(&t, 3e38);
    let err = pollster::block_on(t.run(u64::MAX)).unwrap_err();
    assert!(
        matches!(err, TrainError::Diverged { iteration: 8, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("resume with a lower learning rate"),
        "{err}"
    );
    assert_eq!(t.diverged_at(), Some(8));
    assert_eq!(t.iteration(), 8, "training stands at the bad step");
    assert_eq!(t.steps().len(), 8, "steps from the bad one on are not kept");
    assert_eq!(
        t.snapshots().len(),
        1,
        "the snapshot taken after it is dropped"
    );
    // Nothing but the poisoned weight changed since: SGD skipped every step from it on.
    let after = weights(&t);
    for (a, b) in good.iter().zip(&after) {
        if a.name.ends_with("running_mean") || a.name.ends_with("running_var") {
            continue; // step 8's forward updated them before its loss overflowed
        }
        if a.name == "fc.weight" {
            assert_eq!(a.values[1..], b.values[1..]);
        } else {
            assert_eq!(
                a.values, b.values,
                "{} changed after the divergence",
                a.name
            );
        }
    }

    assert!(t.resume(0.0).is_err() && t.resume(1.5).is_err() && t.resume(f64::NAN).is_err());
    poison(
        &t,
        good.iter().find(|w| w.name == "fc.weight").unwrap().values[0],
    );
    let lr = t.resume(0.5).unwrap();
    assert_eq!(lr, c.lr * 0.5);
    assert_eq!(t.schedule().alpha, lr);
    assert_eq!(t.diverged_at(), None);
    pollster::block_on(t.run(u64::MAX)).unwrap();
    assert!(t.is_finished());
    assert_eq!(t.steps().len(), 15);
    assert!(t.steps().iter().all(|s| s.loss.is_finite()));
    assert_eq!(
        t.steps().iter().map(|s| s.iteration).collect::<Vec<_>>(),
        (0..15).collect::<Vec<_>>()
    );
    let taken: Vec<u64> = t.snapshots().iter().map(|s| s.iteration).collect();
    assert_eq!(taken, [4, 9, 14]);
    let resumes = t.summary().resumes;
    assert_eq!(resumes.len(), 1);
    assert_eq!((resumes[0].iteration, resumes[0].factor), (8, 0.5));
}

/// A long run: 20 epochs with an evaluation after each and five snapshots create no GPU
/// buffer, byte or bind group after the first epoch (nothing grows as training goes on).
#[test]
fn twenty_epochs_keep_gpu_memory_and_object_counts_flat() {
    let gpu = Rc::new(common::gpu());
    let data = synthetic(40, 1, 12, 11);
    let test = synthetic(16, 1, 12, 12);
    let mut c = config(ModelSpec::Small { width: 4 });
    c.epochs = 20;
    c.method = Method::Snapshot {
        cycles: 5,
        alpha0: None,
    };
    let mut t = trainer(&gpu, &data, &test, c);
    let steps_per_epoch = t.steps_per_epoch();
    pollster::block_on(t.run(steps_per_epoch)).unwrap();
    let after_first_epoch = gpu.resource_counts();
    pollster::block_on(t.run(u64::MAX)).unwrap();
    assert!(t.is_finished());
    assert_eq!(t.epochs().len(), 20);
    assert!(
        t.epochs().iter().all(|e| e.test.is_some()),
        "every epoch evaluated"
    );
    assert_eq!(t.snapshots().len(), 5);
    assert_eq!(
        gpu.resource_counts(),
        after_first_epoch,
        "GPU buffers, bytes or bind groups grew after the first epoch"
    );
}

/// A model and batch whose activations exceed the adapter's storage-binding limit are
/// refused before training, with the limit and what to do.
#[test]
fn a_batch_too_large_for_the_adapter_is_refused_before_training() {
    let gpu = Rc::new(common::gpu());
    let limit = gpu.limits().max_storage_buffer_binding_size;
    // ResNet's first activation: 16 channels of 32x32 floats per image.
    let per_image = 16 * 32 * 32 * 4;
    let batch = (limit / per_image + 1) as u32;
    let data = synthetic(batch as usize, 3, 32, 13);
    let test = synthetic(8, 3, 32, 14);
    let mut c = config(ModelSpec::Resnet {
        depth: 8,
        width: 16,
    });
    c.batch = batch;
    let err = match pollster::block_on(Trainer::new(Rc::clone(&gpu), &data, &test, c, None)) {
        Ok(_) => panic!("a batch of {batch} fit a {limit}-byte binding"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("max_storage_buffer_binding_size"), "{err}");
    assert!(err.contains("use a smaller model or batch size"), "{err}");
    assert!(err.contains(&limit.to_string()), "{err}");
}

/// A training set too large for one buffer of the adapter is refused before anything is
/// uploaded, saying how many images would fit.
#[test]
fn a_dataset_too_large_for_the_adapter_is_refused_with_how_many_fit() {
    let gpu = Rc::new(common::gpu());
    let limits = gpu.limits();
    let limit = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    let per_image = 64 * 64;
    let count = (limit / per_image + 1) as usize;
    let data = Dataset {
        channels: 1,
        height: 64,
        width: 64,
        classes: 4,
        images: vec![0; count * per_image as usize],
        labels: vec![0; count],
    };
    let test = synthetic(8, 1, 64, 14);
    let c = config(ModelSpec::Small { width: 4 });
    let err = match pollster::block_on(Trainer::new(Rc::clone(&gpu), &data, &test, c, None)) {
        Ok(_) => panic!("{count} images fit a {limit}-byte buffer"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            TrainError::DataTooLarge {
                set: "training",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.contains(&format!("use at most {} training images", count - 1)),
        "{text}"
    );
}

/// The run loop the CLI and the page share: `advance` stops at every epoch end with the
/// training state due, at the finish, and at a divergence, as typed outcomes; whatever the
/// stride, the run gives the same losses and weights to the bit as one `run` to the end.
#[test]
fn the_run_loop_reports_epochs_finish_and_divergence_and_keeps_the_bits() {
    use snapfreeze::train::{Outcome, Stride};
    let gpu = Rc::new(common::gpu());
    let (data, test, c) = three_snapshots();
    let result = |t: &Trainer| {
        let losses: Vec<u64> = t.steps().iter().map(|s| s.loss.to_bits()).collect();
        let weights = pollster::block_on(t.tensors()).unwrap();
        let ensemble = t.ensemble();
        (losses, weights, ensemble)
    };
    let mut whole = trainer(&gpu, &data, &test, c.clone());
    pollster::block_on(whole.run(u64::MAX)).unwrap();
    let expected = result(&whole);

    for stride in [Stride::Steps(2), Stride::Steps(100), Stride::Seconds(0.05)] {
        let mut t = trainer(&gpu, &data, &test, c.clone());
        let mut outcomes = Vec::new();
        loop {
            let a = pollster::block_on(t.advance(stride)).unwrap();
            if let Stride::Steps(n) = stride {
                assert!(a.steps <= n, "{stride:?}: {} steps in one call", a.steps);
            }
            assert!(a.steps <= 5, "a call crossed an epoch end");
            assert_eq!(a.state_due, matches!(a.outcome, Outcome::EpochEnded { .. }));
            if a.outcome != Outcome::Ran {
                outcomes.push((a.iteration, a.outcome.clone()));
            }
            if a.outcome == Outcome::Finished {
                break;
            }
        }
        let epoch = |epoch| Outcome::EpochEnded { epoch };
        assert_eq!(
            outcomes,
            [(5, epoch(0)), (10, epoch(1)), (15, Outcome::Finished)],
            "{stride:?}"
        );
        assert_eq!(result(&t), expected, "{stride:?}: other bits than one run");
        // Finished: a further call runs nothing.
        let again = pollster::block_on(t.advance(stride)).unwrap();
        assert_eq!((again.steps, again.outcome), (0, Outcome::Finished));
    }

    // A divergence is an outcome, not an error, and the run stands there until resumed.
    let mut t = trainer(&gpu, &data, &test, c.clone());
    pollster::block_on(t.run(7)).unwrap();
    let fc = t.plan().layouts.params.offset("fc.weight") as u64 * 4;
    gpu.write(&t.plan().params, fc, &[3e38f32]);
    let a = pollster::block_on(t.advance(Stride::Steps(16))).unwrap();
    let Outcome::Diverged {
        iteration, message, ..
    } = &a.outcome
    else {
        panic!("{:?}", a.outcome);
    };
    assert_eq!(
        (*iteration, a.iteration, a.steps, a.state_due),
        (7, 7, 0, false)
    );
    assert!(
        message.contains("training diverged at iteration 7"),
        "{message}"
    );
    let again = pollster::block_on(t.advance(Stride::Steps(16))).unwrap();
    assert!(matches!(
        again.outcome,
        Outcome::Diverged { iteration: 7, .. }
    ));
}
