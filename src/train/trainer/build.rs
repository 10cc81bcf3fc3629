//! What a run starts from: the data checked against the settings and the adapter (before
//! anything is read onto the GPU), the initial weights, and the images uploaded once with
//! their gathers.

use super::TrainError;
use crate::checkpoint::{self, NamedTensor};
use crate::data::Dataset;
use crate::gpu::Gpu;
use crate::kernels::data::{GatherSettings, ImageShape};
use crate::nn::Plan;
use crate::train::config::TrainConfig;
use crate::train::data::{BatchInput, EvalSet, GpuImages, Normalisation, TrainSet};
use crate::train::state::DataIdentity;

/// How many images of each set a run uses.
#[derive(Clone, Copy)]
pub(super) struct DataSizes {
    /// Images trained on.
    pub train: u32,
    /// Training images uploaded: those trained on, then the validation split.
    pub available: u32,
    /// Test images evaluated.
    pub test: usize,
}

impl DataSizes {
    /// The sizes `config` asks of `train` and `test`, refused when the sets do not match or
    /// a set does not fit in one buffer of the adapter.
    pub fn check(
        gpu: &Gpu,
        train: &Dataset,
        test: &Dataset,
        config: &TrainConfig,
    ) -> Result<Self, TrainError> {
        let train_images = config.training_images(train.len())?;
        if (train.channels, train.height, train.width) != (test.channels, test.height, test.width)
            || train.classes != test.classes
        {
            return Err(TrainError::DataMismatch {
                train: image_shape(train),
                test: image_shape(test),
            });
        }
        // Each set is one buffer on the GPU: refuse what cannot fit before reading it.
        let available = train_images + config.validation;
        let test_count = test_images(config, test);
        for (set, count) in [("training", available as usize), ("test", test_count)] {
            check_fits(gpu, set, count, train.image_len())?;
        }
        Ok(DataSizes {
            train: train_images,
            available,
            test: test_count,
        })
    }
}

/// The test images a run with `config` evaluates on.
pub(super) fn test_images(config: &TrainConfig, test: &Dataset) -> usize {
    match config.test_limit {
        0 => test.len(),
        n => test.len().min(n as usize),
    }
}

fn image_shape(d: &Dataset) -> String {
    format!(
        "{}x{}x{} with {} classes",
        d.channels, d.height, d.width, d.classes
    )
}

/// Fails with a message saying how many would fit when `count` images of `image_len` bytes
/// do not fit in one buffer of the adapter (the gather reads one buffer per set).
fn check_fits(
    gpu: &Gpu,
    set: &'static str,
    count: usize,
    image_len: usize,
) -> Result<(), TrainError> {
    let limits = gpu.limits();
    let limit = limits
        .max_buffer_size
        .min(limits.max_storage_buffer_binding_size);
    let bytes = (count as u64).saturating_mul(image_len as u64);
    match bytes > limit {
        false => Ok(()),
        true => Err(TrainError::DataTooLarge {
            set,
            images: count,
            bytes,
            limit,
            fits: limit / image_len.max(1) as u64,
        }),
    }
}

/// Writes the initial weights and running statistics: `init` (tensors by PyTorch name, as
/// from a safetensors file) if given, else the seeded initialisation.
pub(super) fn initial_weights(
    gpu: &Gpu,
    plan: &Plan,
    init: Option<&[u8]>,
    seed: u64,
) -> Result<(), TrainError> {
    let layouts = &plan.layouts;
    let (params, state) = match init {
        Some(bytes) => {
            let mut expected = layouts.params.expected();
            expected.extend(layouts.state.expected());
            let tensors = checkpoint::load_expected(bytes, &expected)?;
            let (p, s) = tensors.split_at(layouts.params.entries.len());
            (flatten(p), flatten(s))
        }
        None => (
            layouts.params.initial_values(seed),
            layouts.state.initial_values(seed),
        ),
    };
    gpu.write(&plan.params, 0, &params);
    gpu.write(&plan.state, 0, &state);
    Ok(())
}

/// The inputs' normalisation: the one a checkpoint to start from records, so a model goes
/// on with the preprocessing it was trained with, else the first `count` training images'.
pub(super) fn input_normalisation(
    init: Option<&[u8]>,
    train: &Dataset,
    count: usize,
) -> Result<Normalisation, TrainError> {
    let recorded = match init {
        Some(bytes) => {
            let metadata = checkpoint::load_metadata(bytes)?;
            Normalisation::from_metadata(&metadata, train.channels)?
        }
        None => None,
    };
    Ok(recorded.unwrap_or_else(|| Normalisation::of(train, count)))
}

fn flatten(tensors: &[NamedTensor]) -> Vec<f32> {
    tensors
        .iter()
        .flat_map(|t| t.values.iter().copied())
        .collect()
}

/// The run's images on the GPU and their gathers.
pub(super) struct RunData {
    /// The training set, gathered (and augmented) in each epoch's order.
    pub train: TrainSet,
    /// How every set's inputs are normalised.
    pub normalisation: Normalisation,
    /// Which data the run trains on, so a saved state is only gone on from with the same.
    pub identity: DataIdentity,
    _sources: [GpuImages; 2],
}

/// The evaluation sets made with the data: the test set and the validation split, if any.
pub(super) struct EvalSets {
    pub test: EvalSet,
    pub validation: Option<EvalSet>,
}

impl RunData {
    /// Uploads the images once (the training images first in the file, the validation
    /// split after them) and prepares their gathers into `into`. The inputs are normalised
    /// by the training images' channel statistics; the training gather augments as asked.
    pub fn upload(
        gpu: &Gpu,
        train: &Dataset,
        test: &Dataset,
        sizes: DataSizes,
        config: &TrainConfig,
        normalisation: Normalisation,
        into: BatchInput<'_>,
    ) -> Result<(RunData, EvalSets), TrainError> {
        let shape = ImageShape {
            channels: train.channels,
            h: train.height,
            w: train.width,
        };
        let plain = normalisation.plain_gather(config.seed as u32);
        let pad = match (config.augment, train.height.min(train.width) <= 28) {
            (false, _) => 0,
            (true, true) => 2,
            (true, false) => 4,
        };
        let augmented = GatherSettings {
            pad,
            flip: config.flip,
            ..plain
        };
        let available = sizes.available as usize;
        let train_source = GpuImages::upload(gpu, "training", train, available)?;
        let test_source = GpuImages::upload(gpu, "test", test, sizes.test)?;
        let identity = DataIdentity::of(train, available, test, sizes.test);
        let batch = config.batch;
        let train_set = TrainSet::new(
            gpu,
            &train_source,
            shape,
            sizes.train,
            batch,
            &augmented,
            into,
        )?;
        let all_test: Vec<u32> = (0..sizes.test as u32).collect();
        let test_set = EvalSet::new(gpu, &test_source, shape, &all_test, batch, &plain, into)?;
        let validation = match config.validation {
            0 => None,
            _ => {
                let held_out: Vec<u32> = (sizes.train..sizes.available).collect();
                let set = EvalSet::new(gpu, &train_source, shape, &held_out, batch, &plain, into);
                Some(set?)
            }
        };
        let data = RunData {
            train: train_set,
            normalisation,
            identity,
            _sources: [train_source, test_source],
        };
        let sets = EvalSets {
            test: test_set,
            validation,
        };
        Ok((data, sets))
    }
}
