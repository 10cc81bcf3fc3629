//! Snapshot Ensembles and FreezeOut in the trainer: frozen blocks never change by a bit and
//! get no backward launches; snapshots are taken where the schedule says, evaluated, kept
//! bit for bit and exported.

mod common;

use std::rc::Rc;

use common::synthetic;
use snapfreeze::checkpoint;
use snapfreeze::ensemble::mean_predictions;
use snapfreeze::gpu::Gpu;
use snapfreeze::nn::ModelSpec;
use snapfreeze::schedule::{CyclicCosine, FreezeOut, Method, Scaling};
use snapfreeze::train::{Event, TrainConfig, Trainer};

fn trainer(gpu: &Rc<Gpu>, config: TrainConfig, init: Option<&[u8]>) -> Trainer {
    let data = synthetic(48, 1, 8, 5);
    let test = synthetic(20, 1, 8, 6);
    pollster::block_on(Trainer::new(Rc::clone(gpu), &data, &test, config, init))
        .unwrap_or_else(|e| panic!("trainer: {e}"))
}

fn config(model: ModelSpec, method: Method) -> TrainConfig {
    common::method_config(model, method, 4)
}

/// The bits of `len` floats from `offset` of `buffer`.
fn bits(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u32, len: u32) -> Vec<u32> {
    let v = pollster::block_on(gpu.read_f32(buffer, offset as usize, len as usize)).unwrap();
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn frozen_blocks_never_change_and_get_no_backward_launch() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Freezeout(FreezeOut {
        t0: 0.5,
        scaling: Scaling::Linear,
        scaled_lr: true,
    });
    let mut t = trainer(
        &gpu,
        config(ModelSpec::Resnet { depth: 8, width: 4 }, method),
        None,
    );
    let total = t.total_iterations();
    assert_eq!(total, 24);
    let schedule = *t.schedule();
    let blocks = t.plan().blocks.len();
    assert_eq!(blocks, 5);
    // Each block's parameters, running statistics and gradients, by block.
    let l = &t.plan().layouts;
    let slices = |entries: &[snapfreeze::nn::params::Entry], b: usize| -> (u32, u32) {
        let own: Vec<_> = entries.iter().filter(|e| e.block == b).collect();
        let start = own.first().map_or(0, |e| e.offset);
        let end = own.last().map_or(0, |e| e.offset + e.len() as u32);
        (start, end - start)
    };
    let param_slices: Vec<(u32, u32)> = (0..blocks).map(|b| slices(&l.params.entries, b)).collect();
    let state_slices: Vec<(u32, u32)> = (0..blocks).map(|b| slices(&l.state.entries, b)).collect();
    let read_block = |t: &Trainer, b: usize| {
        let p = t.plan();
        let (po, pl) = param_slices[b];
        let (so, sl) = state_slices[b];
        (
            bits(&gpu, &p.params, po, pl),
            bits(&gpu, &p.state, so, sl),
            bits(&gpu, &p.grads, po, pl),
        )
    };

    let mut at_freeze: Vec<Option<_>> = vec![None; blocks];
    let full_launches = t.profile(0).unwrap().dispatch_count();
    let mut head_before = read_block(&t, blocks - 1).0;
    for j in 0..total {
        let frozen = schedule.frozen_blocks(j);
        gpu.counters().reset();
        pollster::block_on(t.run(1)).unwrap();
        let launched = gpu.counters().snapshot();

        // The launches are exactly the profile's, and their number follows from the plan:
        // inference forward for the frozen prefix, training forward and backward for the
        // rest, no input gradient for the first trainable block.
        if j + 1 < total {
            let profile = t.profile(frozen).unwrap();
            let expected: std::collections::BTreeMap<&str, u64> = profile
                .dispatches
                .iter()
                .map(|(&k, &n)| (k, n as u64))
                .collect();
            assert_eq!(launched, expected, "iteration {j}");
            let plan = t.plan();
            let mut count = 1 + 2 + 2; // gather, loss and metrics, gradient check and optimizer
            for (b, block) in plan.blocks.iter().enumerate() {
                if b < frozen {
                    count += block.infer.len();
                } else {
                    count += block.train.len() + block.backward.len();
                    if b > frozen {
                        count += block.input_grad.len();
                    }
                }
            }
            assert_eq!(profile.dispatch_count() as usize, count, "iteration {j}");
            if frozen > 0 {
                assert!(profile.dispatch_count() < full_launches);
                let full_backward = t.profile(0).unwrap().backward_flops;
                assert!(profile.backward_flops < full_backward);
            }
        }

        // A block's parameters, statistics and gradients are fixed from its freeze on.
        for (b, kept) in at_freeze.iter_mut().enumerate() {
            match schedule.freeze_iteration(b) {
                Some(f) if j + 1 == f => *kept = Some(read_block(&t, b)),
                Some(f) if j + 1 > f => {
                    let now = read_block(&t, b);
                    let then = kept.as_ref().unwrap();
                    assert!(now.0 == then.0, "block {b} parameters changed at {j}");
                    assert!(now.1 == then.1, "block {b} statistics changed at {j}");
                    assert!(now.2 == then.2, "block {b} gradients written at {j}");
                }
                _ => {}
            }
        }
        // The head trains to the end: the check above can fail.
        let head = read_block(&t, blocks - 1).0;
        assert!(head != head_before, "the head did not train at {j}");
        head_before = head;
    }
    assert!(at_freeze.iter().take(blocks - 1).all(|s| s.is_some()));

    // Freeze events at the schedule's iterations; rates 0 for frozen blocks.
    let frozen_at: Vec<(usize, u64)> = t
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Frozen { blocks, iteration } => Some((blocks, iteration)),
            _ => None,
        })
        .collect();
    let expected: Vec<(usize, u64)> = (0..blocks - 1)
        .map(|b| (b + 1, schedule.freeze_iteration(b).unwrap()))
        .collect();
    assert_eq!(frozen_at, expected);
    let steps = t.steps();
    assert_eq!(steps[23].frozen_blocks, 4);
    assert_eq!(steps[0].frozen_blocks, 0);

    // The work done adds up, and the saving is between none and the theory's bound.
    let work = t.work();
    assert_eq!(work.steps, total);
    let saving = work.backward_saving();
    assert!(saving > 0.05 && saving < 0.6, "backward saving {saving}");

    // Each norm's num_batches_tracked is the steps its block trained.
    let file = pollster::block_on(t.checkpoint()).unwrap();
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&file[8..8 + header_len]).unwrap();
    let counter = |name: &str| -> i64 {
        let entry = &header[name];
        let [start, _end] = [0, 1].map(|i| entry["data_offsets"][i].as_u64().unwrap() as usize);
        let at = 8 + header_len + start;
        i64::from_le_bytes(file[at..at + 8].try_into().unwrap())
    };
    let stem_steps = schedule.freeze_iteration(0).unwrap() as i64;
    assert_eq!(counter("bn1.num_batches_tracked"), stem_steps);
    let last_residual = schedule.freeze_iteration(3).unwrap() as i64;
    assert_eq!(counter("layer3.0.bn2.num_batches_tracked"), last_residual);
}

#[test]
fn snapshots_are_taken_each_cycle_kept_and_ensembled() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Snapshot {
        cycles: 3,
        alpha0: Some(0.1),
    };
    let mut c = config(ModelSpec::Small { width: 4 }, method);
    c.epochs = 2;
    let mut t = trainer(&gpu, c.clone(), None);
    let total = t.total_iterations();
    assert_eq!(total, 12);
    pollster::block_on(t.run(1)).unwrap();
    let after_first = gpu.resource_counts();
    pollster::block_on(t.run(u64::MAX)).unwrap();
    assert_eq!(
        gpu.resource_counts(),
        after_first,
        "snapshots must not create buffers or bind groups"
    );

    // Taken after iterations 3, 7 and 11, with the cyclic rate in between.
    let snapshots = t.snapshots().to_vec();
    let iterations: Vec<u64> = snapshots.iter().map(|s| s.iteration).collect();
    assert_eq!(iterations, vec![3, 7, 11]);
    let cyclic = CyclicCosine { cycles: 3, total };
    for s in t.steps() {
        assert!((s.lr - cyclic.lr(0.1, s.iteration)).abs() < 1e-12);
    }

    // Each snapshot's probabilities are distributions, and their argmax gives the
    // accuracy the loss kernel counted.
    let labels = t.test_labels().to_vec();
    assert_eq!(labels.len(), 20);
    for s in &snapshots {
        assert_eq!(s.probabilities.len(), 20 * 4);
        for row in s.probabilities.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let alone = mean_predictions(&[&s.probabilities], 4);
        let right = alone.iter().zip(&labels).filter(|(p, l)| p == l).count();
        assert!((s.test.accuracy - right as f64 / 20.0).abs() < 1e-9);
    }
    let curve = t.ensemble();
    assert_eq!(curve.len(), 3);
    assert!((curve[0].accuracy - snapshots[2].test.accuracy).abs() < 1e-9);

    // The last snapshot is the final model; the first is kept bit for bit: a trainer
    // started from its file evaluates exactly as it did.
    let last = pollster::block_on(t.snapshot_checkpoint(2)).unwrap();
    let live = pollster::block_on(t.checkpoint()).unwrap();
    assert_eq!(
        checkpoint::load(&last).unwrap(),
        checkpoint::load(&live).unwrap()
    );
    let first = pollster::block_on(t.snapshot_checkpoint(0)).unwrap();
    assert_ne!(
        checkpoint::load(&first).unwrap(),
        checkpoint::load(&live).unwrap()
    );
    let mut again = trainer(&gpu, c, Some(&first));
    let (test, probabilities) = pollster::block_on(again.test_probabilities()).unwrap();
    assert_eq!(test, snapshots[0].test);
    assert_eq!(probabilities, snapshots[0].probabilities);
}

#[test]
fn snapshot_cycles_beyond_the_budget_are_refused() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Snapshot {
        cycles: 25,
        alpha0: None,
    };
    let data = synthetic(48, 1, 8, 5);
    let c = config(ModelSpec::Small { width: 4 }, method);
    let refused = pollster::block_on(Trainer::new(gpu, &data, &data, c, None));
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("only 24 iterations"), "{message}");

    // 1000 snapshots of a 1.2M-parameter model would need 4.6 GiB beside it.
    let method = Method::Snapshot {
        cycles: 1000,
        alpha0: None,
    };
    let mut c = config(ModelSpec::Small { width: 256 }, method);
    c.epochs = 200;
    let refused = pollster::block_on(Trainer::new(Rc::new(common::gpu()), &data, &data, c, None));
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("MiB of GPU memory"), "{message}");
    assert!(
        message.starts_with("cycles = 1000 is not allowed"),
        "{message}"
    );
}

#[test]
fn freezeouts_step_time_saving_is_timed_after_the_run_and_leaves_the_model_as_it_was() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Freezeout(FreezeOut {
        t0: 0.5,
        scaling: Scaling::Linear,
        scaled_lr: true,
    });
    let model = ModelSpec::Resnet { depth: 8, width: 4 };
    let mut t = trainer(&gpu, config(model.clone(), method), None);
    // Not before the run has ended.
    assert_eq!(pollster::block_on(t.time_freezing(3)).unwrap(), None);
    pollster::block_on(t.run(t.total_iterations())).unwrap();
    let before = pollster::block_on(t.checkpoint()).unwrap();
    let ran: Vec<(usize, u64)> = t
        .summary()
        .phases
        .iter()
        .map(|p| (p.frozen, p.steps))
        .collect();
    assert!(ran.len() >= 2, "{ran:?}");
    let timing = pollster::block_on(t.time_freezing(3))
        .unwrap()
        .expect("blocks froze, so the saving is timed");
    assert_eq!(timing.rounds, 3);
    assert!((1..=16).contains(&timing.steps_per_round));
    // One median step time per kind of step the run ran, with the steps it ran of each.
    let kinds: Vec<(usize, u64)> = timing
        .step_seconds
        .iter()
        .map(|p| (p.frozen, p.steps))
        .collect();
    assert_eq!(kinds, ran);
    assert!(timing.step_seconds.iter().all(|p| p.seconds > 0.0));
    assert!(
        timing.low <= timing.saving && timing.saving <= timing.high,
        "{timing:?}"
    );
    assert!(timing.high < 1.0);
    // The weights and running statistics are put back: the final model is unchanged.
    let after = pollster::block_on(t.checkpoint()).unwrap();
    let (was, is) = (
        checkpoint::load(&before).unwrap(),
        checkpoint::load(&after).unwrap(),
    );
    assert_eq!(was.len(), is.len());
    for (a, b) in was.iter().zip(&is) {
        assert_eq!(a, b, "tensor {} changed", a.name);
    }
    assert_eq!(t.summary().freeze_timing, Some(timing));
    // The run's speed over its timing windows.
    let speed = t.summary().speed.expect("windows were timed");
    assert!(speed.low <= speed.median && speed.median <= speed.high && speed.windows >= 1);

    // A run where nothing froze has nothing to time.
    let mut plain = trainer(&gpu, config(model, Method::default()), None);
    pollster::block_on(plain.run(plain.total_iterations())).unwrap();
    assert_eq!(pollster::block_on(plain.time_freezing(3)).unwrap(), None);
    assert_eq!(plain.summary().freeze_timing, None);
}
