//! Going on from a saved training state: after the device is destroyed mid-run, a new
//! device restores the state and the run ends with the same bits as one never interrupted;
//! a damaged, foreign or mismatched state is refused with a message.

mod common;

use std::rc::Rc;

use common::synthetic;
use snapfreeze::data::Dataset;
use snapfreeze::gpu::Gpu;
use snapfreeze::nn::{ForwardChoice, KernelVariants, ModelSpec};
use snapfreeze::schedule::{FreezeOut, Method, Scaling};
use snapfreeze::train::{RunState, StateError, TrainConfig, TrainError, Trainer};

fn config(method: Method) -> TrainConfig {
    TrainConfig {
        model: ModelSpec::Resnet { depth: 8, width: 4 },
        epochs: 3,
        batch: 8,
        lr: 0.05,
        method,
        augment: true,
        flip: true,
        readback_every: 3,
        forward: ForwardChoice::Implicit,
        kernel_variants: KernelVariants::Registers,
        ..TrainConfig::default()
    }
}

fn new_trainer(gpu: &Rc<Gpu>, train: &Dataset, test: &Dataset, c: &TrainConfig) -> Trainer {
    pollster::block_on(Trainer::new(Rc::clone(gpu), train, test, c.clone(), None))
        .unwrap_or_else(|e| panic!("trainer: {e}"))
}

fn restore(
    gpu: &Rc<Gpu>,
    train: &Dataset,
    test: &Dataset,
    bytes: &[u8],
) -> Result<Trainer, TrainError> {
    pollster::block_on(Trainer::restore(Rc::clone(gpu), train, test, bytes))
}

/// What must come out the same, bit for bit.
struct Outcome {
    /// Every weight and statistic.
    weights: Vec<Vec<f32>>,
    /// Every step's loss.
    losses: Vec<f64>,
    /// Every epoch's losses and test results.
    epochs: Vec<String>,
    /// Every snapshot's probabilities.
    snapshots: Vec<Vec<f32>>,
}

fn outcome(t: &Trainer) -> Outcome {
    let tensors = pollster::block_on(t.tensors()).unwrap();
    Outcome {
        weights: tensors.into_iter().map(|t| t.values).collect(),
        losses: t.steps().iter().map(|s| s.loss).collect(),
        epochs: t
            .epochs()
            .iter()
            .map(|e| format!("{} {} {:?}", e.train_loss, e.train_accuracy, e.test))
            .collect(),
        snapshots: t
            .snapshots()
            .iter()
            .map(|s| s.probabilities.clone())
            .collect(),
    }
}

#[test]
fn a_run_restored_on_a_new_device_after_a_loss_ends_with_the_same_bits() {
    let train = synthetic(40, 1, 12, 3);
    let test = synthetic(12, 1, 12, 4);
    let methods = [
        Method::Snapshot {
            cycles: 3,
            alpha0: None,
        },
        // The first block freezes at 0.3 x 15 steps, before the state is saved.
        Method::Freezeout(FreezeOut {
            t0: 0.3,
            scaling: Scaling::Linear,
            scaled_lr: true,
        }),
    ];
    for method in methods {
        let c = config(method);
        let label = c.method.label();
        // 5 steps per epoch, 15 in all.
        let gpu = Rc::new(common::gpu());
        let mut whole = new_trainer(&gpu, &train, &test, &c);
        pollster::block_on(whole.run(u64::MAX)).unwrap();
        let expected = outcome(&whole);
        drop(whole);

        let lost = Rc::new(common::gpu());
        let mut t = new_trainer(&lost, &train, &test, &c);
        // Mid-epoch, after the first snapshot (iteration 4) and, for FreezeOut, after
        // the first freeze.
        pollster::block_on(t.run(7)).unwrap();
        let saved = pollster::block_on(t.save_state()).unwrap();
        pollster::block_on(t.run(2)).unwrap();
        lost.device().destroy();
        let err = pollster::block_on(t.run(u64::MAX)).expect_err("a destroyed device trains on");
        eprintln!("{label}: after destroy: {err}");
        assert!(
            lost.lost_reason().is_some(),
            "{label}: the loss is not reported"
        );
        drop(t);

        let fresh = Rc::new(common::gpu());
        let mut t = restore(&fresh, &train, &test, &saved).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.iteration(), 7);
        assert_eq!(t.steps().len(), 7);
        let snapshots_before = t.snapshots().len();
        pollster::block_on(t.run(u64::MAX)).unwrap();
        assert!(t.is_finished());
        let got = outcome(&t);
        assert_eq!(got.weights, expected.weights, "{label}: weights differ");
        assert_eq!(got.losses, expected.losses, "{label}: step losses differ");
        assert_eq!(got.epochs, expected.epochs, "{label}: epochs differ");
        assert_eq!(
            got.snapshots, expected.snapshots,
            "{label}: snapshots differ"
        );
        if let Method::Snapshot { .. } = c.method {
            assert_eq!(snapshots_before, 1, "the first snapshot comes back");
            // Its weights came back too: the saved file and the restored one agree.
            let k0 = pollster::block_on(t.snapshot_checkpoint(0)).unwrap();
            assert!(!k0.is_empty());
        } else {
            assert!(t.summary().phases.len() > 1, "{label}: nothing froze");
        }
    }
}

#[test]
fn a_damaged_foreign_or_mismatched_state_is_refused_with_a_message() {
    let gpu = Rc::new(common::gpu());
    let train = synthetic(40, 1, 12, 3);
    let test = synthetic(12, 1, 12, 4);
    let c = config(Method::Snapshot {
        cycles: 3,
        alpha0: None,
    });
    let mut t = new_trainer(&gpu, &train, &test, &c);
    pollster::block_on(t.run(6)).unwrap();
    let saved = pollster::block_on(t.save_state()).unwrap();
    let weights = pollster::block_on(t.checkpoint()).unwrap();
    let refused =
        |bytes: &[u8], train: &Dataset, test: &Dataset| match restore(&gpu, train, test, bytes) {
            Ok(_) => panic!("a bad state was accepted"),
            Err(e) => {
                eprintln!("{e}");
                e
            }
        };

    let e = refused(&saved[..saved.len() / 2], &train, &test);
    assert!(matches!(e, TrainError::State(StateError::File(_))), "{e}");
    let e = refused(&weights, &train, &test);
    assert!(matches!(e, TrainError::State(StateError::NotState)), "{e}");
    assert!(e.to_string().contains("weights checkpoint"), "{e}");
    // A state of another format version, as a later build might write.
    let metadata = [
        (
            "format".to_string(),
            "snapfreeze training state".to_string(),
        ),
        ("version".to_string(), "2".to_string()),
    ];
    let newer = snapfreeze::checkpoint::save(&[], &metadata).unwrap();
    let e = refused(&newer, &train, &test);
    assert!(
        matches!(e, TrainError::State(StateError::Version { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("format version 2"), "{e}");

    let other = synthetic(40, 1, 12, 5);
    let e = refused(&saved, &other, &test);
    assert!(
        matches!(e, TrainError::State(StateError::OtherData { .. })),
        "{e}"
    );
    let fewer = synthetic(12, 1, 12, 4);
    let fewer = Dataset {
        images: fewer.images[..10 * 144].to_vec(),
        labels: fewer.labels[..10].to_vec(),
        ..fewer
    };
    let e = refused(&saved, &train, &fewer);
    assert!(
        e.to_string().contains("same dataset with the same limits"),
        "{e}"
    );

    // Edited files: a buffer one value short, and a position past the run's end.
    let lengths = |s: &RunState| {
        (
            s.params.len(),
            s.state.len(),
            s.snapshots[0].probabilities.len(),
        )
    };
    let history = RunState::history(&saved).unwrap();
    assert!(RunState::decode(&saved, (0, 0, 0)).is_err());
    let params = t.plan().layouts.params.len as usize;
    let state = t.plan().layouts.state.len as usize;
    let state_file = RunState::decode(&saved, (params, state, 12 * 4)).unwrap();
    assert_eq!(lengths(&state_file), (params, state, 12 * 4));
    assert_eq!(state_file.history, history);
    let mut short = state_file.clone();
    short.momentum.pop();
    let e = refused(&short.encode().unwrap(), &train, &test);
    assert!(
        matches!(e, TrainError::State(StateError::Tensor { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("'momentum'"), "{e}");
    let mut late = state_file;
    late.history.iteration = 1_000;
    let e = refused(&late.encode().unwrap(), &train, &test);
    assert!(
        matches!(e, TrainError::State(StateError::History(_))),
        "{e}"
    );
}

/// Every number of the history comes back to the bit (JSON's shortest form alone does not
/// round-trip every f64), as do the buffers.
#[test]
fn a_state_file_round_trips_every_value_exactly() {
    use snapfreeze::train::state::{DataIdentity, History};
    use snapfreeze::train::StepMetrics;
    let mut rng = fastrand::Rng::with_seed(9);
    let steps = (0..500)
        .map(|i| StepMetrics {
            iteration: i,
            epoch: 0,
            loss: f64::from(rng.f32() * 4.0) / 3.0,
            accuracy: rng.f64(),
            lr: rng.f64() * 1e-3,
            frozen_blocks: 0,
            forward_flops: rng.f64() * 1e12,
            backward_flops: rng.f64() * 1e12,
        })
        .collect();
    let history = History {
        config: TrainConfig::default(),
        data: DataIdentity {
            train_images: 1,
            test_images: 1,
            shape: [1, 2, 2],
            classes: 2,
            checksum: 7,
        },
        iteration: 500,
        frozen: 0,
        diverged: None,
        epoch_seconds: rng.f64(),
        last_test: None,
        steps,
        epochs: Vec::new(),
        snapshots: Vec::new(),
        phases: Vec::new(),
        resumes: Vec::new(),
        averaged: 2,
        swa: None,
    };
    let mut values = |n: usize| (0..n).map(|_| rng.f32() - 0.5).collect::<Vec<f32>>();
    let state = RunState {
        history,
        params: values(33),
        state: values(6),
        momentum: values(33),
        snapshots: Vec::new(),
        average: Some(values(33)),
    };
    let bytes = state.encode().unwrap();
    assert_eq!(RunState::decode(&bytes, (33, 6, 0)).unwrap(), state);
}
