//! Fuzzing of every parser of outside bytes: IDX image and label files (raw and gzipped),
//! CIFAR-10 binary batches, safetensors checkpoints and training-state files. Each target
//! takes arbitrary bytes and must answer Ok or an error, never panic and never allocate what
//! the input does not hold.
//!
//! Inputs come from the committed corpus in `tests/corpus/<target>/` (seeds written by
//! `scripts/make-fuzz-corpus.py`, plus any regression found later; the training state's
//! seed is made here by its own encoder, so it follows the format), replayed as they are
//! and then mutated by proptest: bit flips, byte and 32-bit header overwrites with edge
//! values, truncation, extension, removal and duplication of chunks. Proptest keeps any
//! failing case in `tests/fuzz.proptest-regressions` (commit it) and replays it first.
//!
//! The test command runs 256 mutated inputs per target; for a long run set the case count:
//! `PROPTEST_CASES=200000 cargo test --release --test fuzz` (BENCHMARKS.md records how long
//! each target ran clean).

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use snapfreeze::checkpoint;
use snapfreeze::data::{idx_images_needed, parse_cifar10, parse_idx, parse_idx_prefix};
use snapfreeze::train::state::{DataIdentity, History, SnapshotBuffers, SnapshotRecord};
use snapfreeze::train::{Evaluation, RunState, StepMetrics, TrainConfig};

/// One corpus input per file of `tests/corpus/<target>/`, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

/// IDX inputs hold a pair: the image file's length (u32, little-endian), the image file,
/// then the label file. Short or inconsistent framing still gives two byte strings.
fn split_pair(input: &[u8]) -> (&[u8], &[u8]) {
    let Some(head) = input.get(..4) else {
        return (input, &[]);
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let rest = &input[4..];
    rest.split_at(len.min(rest.len()))
}

/// Every IDX entry point; true when the whole pair parsed.
fn idx_target(input: &[u8]) -> bool {
    let (images, labels) = split_pair(input);
    let whole = parse_idx(images, labels);
    // The page's path: only the first images of a raw image file, the rest by length.
    let needed = idx_images_needed(&images[..images.len().min(16)], 2);
    let prefix = &images[..needed.min(images.len())];
    let _ = parse_idx_prefix(prefix, images.len() as u64, labels, 2);
    let _ = parse_idx_prefix(images, images.len() as u64, labels, 0);
    whole.is_ok()
}

/// CIFAR-10 batches: the input as one batch, and cut in two.
fn cifar_target(input: &[u8]) -> bool {
    let whole = parse_cifar10(&[input]);
    let (a, b) = input.split_at(input.len() / 2);
    let _ = parse_cifar10(&[a, b]);
    whole.is_ok()
}

/// Safetensors: any tensors, then as a checkpoint of a model expecting the seed's tensors.
fn safetensors_target(input: &[u8]) -> bool {
    let loaded = checkpoint::load(input);
    let expected = [
        ("conv1.weight".to_string(), vec![2, 1, 3, 3]),
        ("conv1.bias".to_string(), vec![2]),
    ];
    let _ = checkpoint::load_expected(input, &expected);
    loaded.is_ok()
}

/// The buffer lengths the state target's model has: parameters, statistics, probabilities.
const STATE_LENGTHS: (usize, usize, usize) = (10, 4, 6);

/// A small valid training state: three steps and one snapshot.
fn state_seed() -> Vec<u8> {
    let (params, state, probabilities) = STATE_LENGTHS;
    let values = |n: usize, k: f32| (0..n).map(|i| i as f32 * k).collect::<Vec<f32>>();
    let test = Evaluation {
        loss: 0.5,
        accuracy: 0.75,
        images: 3,
    };
    let history = History {
        config: TrainConfig::default(),
        data: DataIdentity {
            train_images: 8,
            test_images: 3,
            shape: [1, 2, 2],
            classes: 2,
            checksum: 0x1234_5678,
        },
        iteration: 3,
        frozen: 0,
        diverged: None,
        epoch_seconds: 0.25,
        last_test: Some((2, test)),
        steps: (0..3)
            .map(|i| StepMetrics {
                iteration: i,
                epoch: 0,
                loss: 1.0 / (i + 1) as f64,
                accuracy: 0.5,
                lr: 0.01,
                frozen_blocks: 0,
                forward_flops: 1e6,
                backward_flops: 2e6,
            })
            .collect(),
        epochs: Vec::new(),
        snapshots: vec![SnapshotRecord {
            index: 0,
            iteration: 2,
            test,
        }],
        phases: Vec::new(),
        resumes: Vec::new(),
        averaged: 1,
        swa: None,
    };
    RunState {
        history,
        params: values(params, 0.1),
        state: values(state, 0.2),
        momentum: values(params, -0.1),
        snapshots: vec![SnapshotBuffers {
            params: values(params, 0.3),
            state: values(state, 0.4),
            probabilities: values(probabilities, 0.125),
        }],
        average: Some(values(params, 0.5)),
    }
    .encode()
    .expect("the seed state encodes")
}

/// Training states: the history alone, then the whole file for a model of known lengths.
fn state_target(input: &[u8]) -> bool {
    let _ = RunState::history(input);
    RunState::decode(input, STATE_LENGTHS).is_ok()
}

/// A fuzz target: true when the input parsed.
type Target = fn(&[u8]) -> bool;

/// What a mutation does to an input; positions wrap around its length.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    /// A 32-bit value written big-endian (IDX headers) or little-endian (safetensors, framing).
    SetU32 {
        at: usize,
        value: u32,
        big_endian: bool,
    },
    Truncate {
        keep: usize,
    },
    Extend {
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        len: usize,
    },
    Duplicate {
        at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let edge_u32 = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7fff_ffff),
        Just(0xffff_ffff),
        Just(0x0000_0803),
        Just(0x0000_0801),
        Just(60_000),
        any::<u32>(),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (
            any::<usize>(),
            prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(b'{'), any::<u8>()]
        )
            .prop_map(|(at, value)| Mutation::SetByte { at, value }),
        (0usize..64, edge_u32, any::<bool>()).prop_map(|(at, value, big_endian)| {
            Mutation::SetU32 {
                at,
                value,
                big_endian,
            }
        }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
        (any::<usize>(), 1usize..512).prop_map(|(at, len)| Mutation::Remove { at, len }),
        (any::<usize>(), 1usize..512).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn mutate(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = data.len();
        match m {
            Mutation::FlipBit { at, bit } if n > 0 => data[at % n] ^= 1 << bit,
            Mutation::SetByte { at, value } if n > 0 => data[at % n] = *value,
            Mutation::SetU32 {
                at,
                value,
                big_endian,
            } if n >= 4 => {
                let at = at % (n - 3);
                let bytes = if *big_endian {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                data[at..at + 4].copy_from_slice(&bytes);
            }
            Mutation::Truncate { keep } => data.truncate(keep % (n + 1)),
            Mutation::Extend { bytes } => data.extend_from_slice(bytes),
            Mutation::Remove { at, len } if n > 0 => {
                let at = at % n;
                data.drain(at..(at + len).min(n));
            }
            Mutation::Duplicate { at, len } if n > 0 => {
                let at = at % n;
                let chunk = data[at..(at + len).min(n)].to_vec();
                data.splice(at..at, chunk);
            }
            _ => {}
        }
    }
    data
}

#[test]
fn the_corpus_replays_without_panicking_and_its_seeds_parse() {
    let targets: [(&str, Target); 4] = [
        ("idx", idx_target),
        ("cifar", cifar_target),
        ("safetensors", safetensors_target),
        ("state", state_target),
    ];
    for (target, run) in targets {
        for (name, input) in inputs(target) {
            let parsed = run(&input);
            // Seeds are valid files: if they stop parsing, the mutations below test nothing.
            if name.starts_with("valid-") {
                assert!(parsed, "{target}/{name} no longer parses");
            }
        }
    }
}

/// A target's inputs: its corpus, and for the training state the seed made here too.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut inputs = corpus(target);
    if target == "state" {
        inputs.push(("valid-made-here".into(), state_seed()));
    }
    inputs
}

fn seed_and_mutations(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = inputs(target).into_iter().map(|(_, bytes)| bytes).collect();
    (0..seeds.len(), prop::collection::vec(mutation(), 1..8))
        .prop_map(move |(i, mutations)| mutate(seeds[i].clone(), &mutations))
}

proptest! {
    #[test]
    fn mutated_idx_files_never_panic(input in seed_and_mutations("idx")) {
        idx_target(&input);
    }

    #[test]
    fn mutated_cifar_batches_never_panic(input in seed_and_mutations("cifar")) {
        cifar_target(&input);
    }

    #[test]
    fn mutated_safetensors_never_panic(input in seed_and_mutations("safetensors")) {
        safetensors_target(&input);
    }

    #[test]
    fn mutated_training_states_never_panic(input in seed_and_mutations("state")) {
        state_target(&input);
    }

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        idx_target(&input);
        cifar_target(&input);
        safetensors_target(&input);
        state_target(&input);
    }
}
