//! One image through a saved model on the CPU: the page's "draw a digit" asks every snapshot
//! (and so the ensemble) what it sees. The forward pass is the f64 reference
//! ([`crate::nn::reference`]) in inference mode, from the checkpoint's tensors, with the input
//! normalised as its metadata says, exactly as the GPU's gather normalises a test image.

use thiserror::Error;

use super::data::Normalisation;
use crate::checkpoint::{self, CheckpointError};
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
    let metadata = checkpoint::load_metadata(bytes)?;
    let normalisation = Normalisation::from_metadata(&metadata, channels)?.ok_or_else(|| {
        CheckpointError::Metadata {
            key: "input_mean".into(),
            problem: "missing: the checkpoint does not say how its inputs were normalised".into(),
        }
    })?;
    let plane = (height * width) as usize;
    // The gather's formula: (byte / 255 - mean) x (1 / std), in f32, per channel.
    let x: Vec<f64> = pixels
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            let c = i / plane;
            let v = byte as f32 / 255.0;
            ((v - normalisation.mean[c]) * (1.0 / normalisation.std[c])) as f64
        })
        .collect();
    let tensors = checkpoint::load(bytes)?
        .into_iter()
        .map(|t| (t.name, t.values));
    let model = ReferenceModel::new(&arch, tensors);
    let (logits, _) = model.forward(&x, 1, NormMode::Running)?;
    Ok(softmax_reference(&logits, classes as usize))
}
