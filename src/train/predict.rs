//! One image through a saved model on the CPU: the page's "draw a digit" asks every snapshot
//! (and so the ensemble) what it sees. The forward pass is the f64 reference
//! ([`crate::nn::reference`]) in inference mode, from the checkpoint's tensors, with the input
//! normalised as its metadata says, exactly as the GPU's gather normalises a test image. The
//! ensemble check (`train::verify`) evaluates whole test sets the same way.

use thiserror::Error;

use super::data::Normalisation;
use crate::checkpoint::{self, CheckpointError};
use crate::kernels::data::{gather_reference, ImageShape};
use crate::kernels::ensemble::softmax_reference;
use crate::nn::reference::{NormMode, ReferenceModel};
use crate::nn::{Architecture, ModelSpec, SpecError};

/// Why an image could not be classified.
#[derive(Debug, Error)]
pub enum PredictError {
    /// The checkpoint cannot be read, lacks a tensor the model needs, or its metadata has
    /// no input normalisation.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The model cannot take images of this shape.
    #[error(transparent)]
    Model(#[from] SpecError),
    /// The pixels are not one image of the stated shape.
    #[error("{got} pixel bytes for a {channels}x{height}x{width} image (needs {needs})")]
    Pixels {
        /// Bytes given.
        got: usize,
        /// Bytes one image needs.
        needs: usize,
        /// Channels.
        channels: u32,
        /// Height.
        height: u32,
        /// Width.
        width: u32,
    },
}

/// Images per CPU forward pass (bounds its memory).
const CPU_BATCH: usize = 64;

/// The softmax outputs (`count` x classes, f64) of the model `arch` saved in checkpoint
/// `bytes` on `count` raw images (`pixels`: `count` x c x h x w bytes), normalised as the
/// checkpoint's metadata says by the gather's own CPU reference, as the GPU does for a test
/// image. The ensemble check evaluates every member's test set through it.
pub fn saved_model_probabilities(
    arch: &Architecture,
    bytes: &[u8],
    pixels: &[u8],
    count: usize,
) -> Result<Vec<f64>, CheckpointError> {
    let input = arch.activations[0];
    let metadata = checkpoint::load_metadata(bytes)?;
    let normalisation =
        Normalisation::from_metadata(&metadata, input.channels)?.ok_or_else(|| {
            CheckpointError::Metadata {
                key: "input_mean".into(),
                problem: "missing: the checkpoint does not say how its inputs were normalised"
                    .into(),
            }
        })?;
    let shape = ImageShape {
        channels: input.channels,
        h: input.h,
        w: input.w,
    };
    let indices: Vec<u32> = (0..count as u32).collect();
    let labels = vec![0; count];
    let settings = normalisation.plain_gather(0);
    let (x, _) = gather_reference(pixels, &labels, shape, &settings, 0, &indices);
    let tensors = checkpoint::load(bytes)?
        .into_iter()
        .map(|t| (t.name, t.values));
    let model = ReferenceModel::new(arch, tensors);
    let per_image = input.per_image();
    let classes = arch.classes as usize;
    let mut probabilities = Vec::with_capacity(count * classes);
    for start in (0..count).step_by(CPU_BATCH) {
        let n = CPU_BATCH.min(count - start);
        let chunk = &x[start * per_image..(start + n) * per_image];
        let (logits, _) = model.forward(chunk, n, NormMode::Running)?;
        probabilities.extend(softmax_reference(&logits, classes));
    }
    Ok(probabilities)
}

/// The softmax outputs (one per class) of the model `spec`, saved in checkpoint `bytes`, on
/// one image of raw pixels (`channels` x `height` x `width` bytes, 0 to 255).
pub fn image_probabilities(
    spec: &ModelSpec,
    classes: u32,
    (channels, height, width): (u32, u32, u32),
    bytes: &[u8],
    pixels: &[u8],
) -> Result<Vec<f64>, PredictError> {
    let needs = (channels * height * width) as usize;
    if pixels.len() != needs {
        return Err(PredictError::Pixels {
            got: pixels.len(),
            needs,
            channels,
            height,
            width,
        });
    }
    let arch = Architecture::new(spec, channels, height, width, classes)?;
    Ok(saved_model_probabilities(&arch, bytes, pixels, 1)?)
}
