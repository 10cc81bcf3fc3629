//! Ensembles and their successors in the trainer, checked against independent
//! computations: every Snapshot Ensemble and FGE member evaluated again on the CPU in f64
//! from its checkpoint file, FGE's rates and members where its schedule puts them, and SWA's
//! running average and recomputed batch-norm statistics against a CPU computation over the
//! same batches.

mod common;

use std::collections::BTreeMap;
use std::rc::Rc;

use common::synthetic;
use snapfreeze::checkpoint;
use snapfreeze::data::Dataset;
use snapfreeze::gpu::Gpu;
use snapfreeze::kernels::data::{gather_reference, ImageShape};
use snapfreeze::nn::reference::{NormMode, ReferenceModel};
use snapfreeze::nn::ModelSpec;
use snapfreeze::schedule::{Fge, Method, Swa};
use snapfreeze::train::data::Normalisation;
use snapfreeze::train::{check_ensemble, Event, RunState, TrainConfig, Trainer};

fn data() -> (Dataset, Dataset) {
    (synthetic(48, 1, 8, 5), synthetic(64, 1, 8, 6))
}

fn config(method: Method, epochs: u32) -> TrainConfig {
    common::method_config(ModelSpec::Small { width: 4 }, method, epochs)
}

fn trainer(gpu: &Rc<Gpu>, config: TrainConfig) -> Trainer {
    let (train, test) = data();
    pollster::block_on(Trainer::new(Rc::clone(gpu), &train, &test, config, None))
        .unwrap_or_else(|e| panic!("trainer: {e}"))
}

/// Runs the ensemble check and requires it to pass with few ties.
fn assert_ensemble_checks(t: &mut Trainer, members: usize) {
    let (_, test) = data();
    let check = pollster::block_on(check_ensemble(t, &test)).unwrap();
    assert!(check.passed(), "{:#?}", check.mismatches);
    assert_eq!((check.members, check.images), (members, 64));
    assert!(check.ties <= 3, "{} ties", check.ties);
    assert!(
        check.max_probability_difference < 1e-3,
        "probabilities differ by {}",
        check.max_probability_difference
    );
    assert_eq!(check.curve.len(), members);
}

#[test]
fn snapshot_ensemble_equals_a_float64_recomputation_from_its_checkpoints() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Snapshot {
        cycles: 3,
        alpha0: Some(0.1),
    };
    let mut t = trainer(&gpu, config(method, 3));
    pollster::block_on(t.run(u64::MAX)).unwrap();
    assert_eq!(t.snapshots().len(), 3);
    assert_ensemble_checks(&mut t, 3);
    // The diversity the summary reports comes from the same outputs.
    let d = t.summary().diversity.expect("diversity");
    assert_eq!(d.disagreement.len(), 3);
    let alone: Vec<f64> = t.snapshots().iter().map(|s| s.test.accuracy).collect();
    assert_eq!(d.accuracy, alone);
}

#[test]
fn fge_follows_its_schedule_and_its_members_ensemble_correctly() {
    let gpu = Rc::new(common::gpu());
    // 6 epochs of 6 iterations: 3 of pre-training (18 iterations), then c = 2: members
    // after the epochs 3 and 5, iterations 23 and 35.
    let fge = Fge {
        pretrain: 0.5,
        cycle: 2,
        alpha1: Some(0.05),
        alpha2: Some(0.001),
    };
    let mut t = trainer(&gpu, config(Method::Fge(fge), 6));
    pollster::block_on(t.run(u64::MAX)).unwrap();
    let taken: Vec<u64> = t.snapshots().iter().map(|s| s.iteration).collect();
    assert_eq!(taken, vec![23, 35]);
    for s in t.steps() {
        let want = fge.lr(0.05, s.iteration, 6, 6);
        assert!((s.lr - want).abs() < 1e-12, "iteration {}", s.iteration);
    }
    assert!(t
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::Snapshot { index: 1, .. })));
    assert_eq!(t.summary().kind, "fge");
    assert_ensemble_checks(&mut t, 2);
}

/// The mean of each batch norm's batch statistics over `batches` training batches of the
/// model in `bytes`, on the CPU: (running mean, running variance) by name.
fn cpu_statistics(
    bytes: &[u8],
    train: &Dataset,
    batches: usize,
    batch: usize,
) -> BTreeMap<String, (Vec<f64>, Vec<f64>)> {
    let metadata = checkpoint::load_metadata(bytes).unwrap();
    let norm = Normalisation::from_metadata(&metadata, 1).unwrap().unwrap();
    let arch =
        snapfreeze::nn::Architecture::new(&ModelSpec::Small { width: 4 }, 1, 8, 8, 4).unwrap();
    let tensors = checkpoint::load(bytes)
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.values));
    let model = ReferenceModel::new(&arch, tensors);
    let settings = norm.plain_gather(0);
    let shape = ImageShape {
        channels: 1,
        h: 8,
        w: 8,
    };
    let labels: Vec<u32> = train.labels.iter().map(|&l| l as u32).collect();
    let mut sums: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for b in 0..batches {
        // No shuffling: batch b is images b * batch.. in file order.
        let indices: Vec<u32> = (b * batch..(b + 1) * batch).map(|i| i as u32).collect();
        let (x, _) = gather_reference(&train.images, &labels, shape, &settings, 0, &indices);
        let (_, stats) = model.forward(&x, batch, NormMode::Batch).unwrap();
        for (name, (mean, var)) in stats {
            let entry = sums
                .entry(name)
                .or_insert_with(|| (vec![0.0; mean.len()], vec![0.0; var.len()]));
            for (s, m) in entry.0.iter_mut().zip(&mean) {
                *s += m / batches as f64;
            }
            for (s, v) in entry.1.iter_mut().zip(&var) {
                *s += v / batches as f64;
            }
        }
    }
    sums
}

#[test]
fn swa_averages_epoch_ends_and_recomputes_batch_norm_statistics() {
    let gpu = Rc::new(common::gpu());
    // 4 epochs of 6 iterations; swa_start = 2: the ends of epochs 1, 2 and 3 averaged.
    let swa = Swa {
        start: 0.5,
        lr: Some(0.02),
    };
    let mut c = config(Method::Swa(swa), 4);
    c.shuffle = false;
    let mut t = trainer(&gpu, c);
    assert_eq!(t.schedule().average_iterations(), vec![11, 17, 23]);
    let params = |t: &Trainer| {
        let len = t.plan().layouts.params.len as usize;
        pollster::block_on(t.gpu().read_f32(&t.plan().params, 0, len)).unwrap()
    };
    // The average after two epoch ends is their mean.
    pollster::block_on(t.run(12)).unwrap();
    let first = params(&t);
    pollster::block_on(t.run(6)).unwrap();
    let second = params(&t);
    let state = pollster::block_on(t.save_state()).unwrap();
    let history = RunState::history(&state).unwrap();
    assert_eq!(history.averaged, 2);
    let l = &t.plan().layouts;
    let lengths = (l.params.len as usize, l.state.len as usize, 64 * 4);
    let saved = RunState::decode(&state, lengths).unwrap();
    let average = saved.average.expect("the state keeps the average");
    for ((&a, &x), &y) in average.iter().zip(&first).zip(&second) {
        let mean = (x as f64 + y as f64) / 2.0;
        assert!(
            (a as f64 - mean).abs() <= 1e-6 * mean.abs().max(1.0),
            "{a} vs {mean}"
        );
    }
    // Every step's rate is SWA's for its epoch.
    pollster::block_on(t.run(u64::MAX)).unwrap();
    for s in t.steps() {
        let want = swa.lr(0.05, s.iteration / 6, 4);
        assert!((s.lr - want).abs() < 1e-12, "iteration {}", s.iteration);
    }
    let result = t.swa().expect("SWA's result");
    assert_eq!(result.models, 3);
    let summary = t.summary();
    assert_eq!(summary.final_test, Some(result.test));
    assert_eq!(summary.swa, Some(result));

    // The averaged model's statistics are the mean over the 6 batches of an epoch of each
    // batch norm's batch mean and unbiased variance, computed with the averaged weights.
    let bytes = pollster::block_on(t.checkpoint()).unwrap();
    let (train, _) = data();
    let want = cpu_statistics(&bytes, &train, 6, 8);
    let got: BTreeMap<String, Vec<f32>> = checkpoint::load(&bytes)
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.values))
        .collect();
    assert_eq!(want.len(), 2, "the small CNN has two batch norms");
    for (name, (mean, var)) in &want {
        for (what, cpu) in [("running_mean", mean), ("running_var", var)] {
            let gpu = &got[&format!("{name}.{what}")];
            for (g, c) in gpu.iter().zip(cpu) {
                assert!(
                    (*g as f64 - c).abs() <= 1e-4 * c.abs().max(1e-2),
                    "{name}.{what}: GPU {g}, CPU {c}"
                );
            }
        }
    }
    // And the averaged model's test predictions are what the CPU computes from its file.
    assert_ensemble_checks(&mut t, 1);
}

#[test]
fn checkpoints_carry_the_normalisation_and_init_uses_it() {
    let gpu = Rc::new(common::gpu());
    let mut c = config(Method::default(), 1);
    c.dataset = "synthetic".into();
    let t = trainer(&gpu, c.clone());
    let bytes = pollster::block_on(t.checkpoint()).unwrap();
    let metadata = checkpoint::load_metadata(&bytes).unwrap();
    assert_eq!(metadata["dataset"], "synthetic");
    let recorded = Normalisation::from_metadata(&metadata, 1).unwrap().unwrap();
    assert_eq!(recorded, t.normalisation());
    // A run started from it on other images keeps the checkpoint's normalisation.
    let other = synthetic(48, 1, 8, 77);
    let (_, test) = data();
    let again = pollster::block_on(Trainer::new(
        Rc::clone(&gpu),
        &other,
        &test,
        c,
        Some(&bytes),
    ))
    .unwrap();
    assert_eq!(again.normalisation(), recorded);
    assert_ne!(Normalisation::of(&other, 48), recorded);
    // A malformed entry is refused with its name.
    let tensors = checkpoint::load(&bytes).unwrap();
    let bad = checkpoint::save(
        &tensors,
        &[
            ("input_mean".to_string(), "[0.5, 0.5]".to_string()),
            ("input_std".to_string(), "[0.2]".to_string()),
        ],
    )
    .unwrap();
    let (train, _) = data();
    let refused = pollster::block_on(Trainer::new(
        gpu,
        &train,
        &test,
        config(Method::default(), 1),
        Some(&bad),
    ));
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("input_mean"), "{message}");
}

#[test]
fn one_image_through_a_saved_snapshot_gives_the_gpus_probabilities() {
    let gpu = Rc::new(common::gpu());
    let method = Method::Snapshot {
        cycles: 2,
        alpha0: Some(0.1),
    };
    let mut t = trainer(&gpu, config(method, 2));
    pollster::block_on(t.run(u64::MAX)).unwrap();
    let (_, test) = data();
    let size = test.image_len();
    let classes = test.classes as usize;
    let shape = (test.channels, test.height, test.width);
    let spec = ModelSpec::Small { width: 4 };
    for (k, snapshot) in t.snapshots().to_vec().iter().enumerate() {
        let bytes = pollster::block_on(t.snapshot_checkpoint(k)).unwrap();
        for image in [0, 17, 63] {
            let pixels = &test.images[image * size..(image + 1) * size];
            let p = snapfreeze::train::predict::image_probabilities(
                &spec,
                test.classes,
                shape,
                &bytes,
                pixels,
            )
            .unwrap();
            let gpu_row = &snapshot.probabilities[image * classes..(image + 1) * classes];
            for (a, b) in p.iter().zip(gpu_row) {
                assert!(
                    (a - *b as f64).abs() < 1e-4,
                    "snapshot {k}, image {image}: {p:?} vs {gpu_row:?}"
                );
            }
        }
    }
    // A wrong number of pixels is refused with the shape it needs.
    let bytes = pollster::block_on(t.snapshot_checkpoint(0)).unwrap();
    let short = snapfreeze::train::predict::image_probabilities(
        &spec,
        test.classes,
        shape,
        &bytes,
        &[0; 5],
    );
    assert!(short.unwrap_err().to_string().contains("needs 64"));
}
