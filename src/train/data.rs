//! The dataset on the GPU: uploaded once as bytes, batches gathered and augmented there.
//! What the model does with a batch (loss, metrics) is the trainer's.

use crate::checkpoint::CheckpointError;
use crate::data::Dataset;
use crate::gpu::{Gpu, GpuError};
use crate::kernels::data::{pack_bytes, DatasetBuffers, Gather, GatherSettings, ImageShape};
use crate::kernels::Operand;

/// Images and labels of one file, on the GPU.
pub struct GpuImages {
    images: wgpu::Buffer,
    labels: wgpu::Buffer,
    count: u32,
}

impl GpuImages {
    /// Uploads the first `count` images of `data`.
    pub fn upload(gpu: &Gpu, what: &str, data: &Dataset, count: usize) -> Result<Self, GpuError> {
        let count = count.min(data.len());
        let bytes = &data.images[..count * data.image_len()];
        let images = gpu.storage_from(&format!("{what} images"), &pack_bytes(bytes))?;
        let labels: Vec<u32> = data.labels[..count].iter().map(|&l| l as u32).collect();
        let labels = gpu.storage_from(&format!("{what} labels"), &labels)?;
        Ok(GpuImages {
            images,
            labels,
            count: count as u32,
        })
    }

    fn buffers(&self) -> DatasetBuffers<'_> {
        DatasetBuffers {
            images: Operand::whole(&self.images),
            labels: Operand::whole(&self.labels),
            count: self.count,
        }
    }
}

/// Per-channel mean and standard deviation of `count` images' pixels on the 0..1 scale, to
/// normalise the inputs with.
fn channel_statistics(data: &Dataset, count: usize) -> ([f32; 4], [f32; 4]) {
    let plane = (data.height * data.width) as usize;
    let c = data.channels as usize;
    let mut sums = [0f64; 4];
    let mut squares = [0f64; 4];
    for image in data.images[..count * data.image_len()].chunks_exact(data.image_len()) {
        for (ch, pixels) in image.chunks_exact(plane).enumerate().take(c.min(4)) {
            for &p in pixels {
                let v = p as f64 / 255.0;
                sums[ch] += v;
                squares[ch] += v * v;
            }
        }
    }
    let m = (count * plane).max(1) as f64;
    let (mut mean, mut std) = ([0f32; 4], [1f32; 4]);
    for ch in 0..c.min(4) {
        let mu = sums[ch] / m;
        mean[ch] = mu as f32;
        let var = (squares[ch] / m - mu * mu).max(0.0);
        // A constant channel would divide by zero; leave it unscaled.
        std[ch] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
    }
    (mean, std)
}

/// How a run's inputs are normalised: each channel's pixel x becomes (x / 255 - mean) / std,
/// with the training subset's mean and standard deviation. Checkpoints carry it in their
/// metadata (`input_mean`, `input_std`: JSON arrays, one value per channel), so another tool
/// reproduces the preprocessing and `--init` goes on with the same.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation {
    /// Channels in use (1 to 4).
    pub channels: u32,
    /// Per-channel mean on the 0..1 scale.
    pub mean: [f32; 4],
    /// Per-channel standard deviation on the 0..1 scale.
    pub std: [f32; 4],
}

/// The metadata keys of [`Normalisation`].
const MEAN_KEY: &str = "input_mean";
const STD_KEY: &str = "input_std";

impl Normalisation {
    /// The statistics of the first `count` images of `data`.
    pub fn of(data: &Dataset, count: usize) -> Normalisation {
        let (mean, std) = channel_statistics(data, count);
        Normalisation {
            channels: data.channels.min(4),
            mean,
            std,
        }
    }

    /// A gather that only normalises: no crop, no flip (evaluation sets; `seed` is unused
    /// without augmentation but kept in the uniform).
    pub fn plain_gather(&self, seed: u32) -> GatherSettings {
        GatherSettings {
            pad: 0,
            flip: false,
            seed,
            mean: self.mean,
            std: self.std,
        }
    }

    /// Its metadata entries.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let c = self.channels as usize;
        let json = |v: &[f32]| serde_json::to_string(&v[..c]).unwrap_or_default();
        vec![
            (MEAN_KEY.to_string(), json(&self.mean)),
            (STD_KEY.to_string(), json(&self.std)),
        ]
    }

    /// The normalisation a checkpoint's `metadata` records for `channels`-channel images;
    /// `None` when it records none (a checkpoint from elsewhere).
    pub fn from_metadata(
        metadata: &std::collections::HashMap<String, String>,
        channels: u32,
    ) -> Result<Option<Normalisation>, CheckpointError> {
        let (Some(mean), Some(std)) = (metadata.get(MEAN_KEY), metadata.get(STD_KEY)) else {
            return Ok(None);
        };
        let read = |key: &str, text: &str, positive: bool| {
            let bad = |problem: String| CheckpointError::Metadata {
                key: key.to_string(),
                problem,
            };
            let values: Vec<f32> = serde_json::from_str(text)
                .map_err(|e| bad(format!("not a JSON array of numbers ({e})")))?;
            if values.len() != channels as usize {
                return Err(bad(format!(
                    "{} values for images of {channels} channels",
                    values.len()
                )));
            }
            if values
                .iter()
                .any(|v| !v.is_finite() || (positive && *v <= 0.0))
            {
                return Err(bad(format!(
                    "{values:?}, not finite{}",
                    if positive { " and positive" } else { "" }
                )));
            }
            let mut out = [if positive { 1.0 } else { 0.0 }; 4];
            out[..values.len()].copy_from_slice(&values);
            Ok(out)
        };
        Ok(Some(Normalisation {
            channels,
            mean: read(MEAN_KEY, mean, false)?,
            std: read(STD_KEY, std, true)?,
        }))
    }
}

/// A fixed list of images gathered batch by batch for evaluation (the test set or the
/// validation split): its index list, padded to whole batches, and its gather.
pub struct EvalSet {
    /// Images in the set.
    pub images: u32,
    /// Images per batch.
    pub batch: u32,
    /// Batches to run.
    pub batches: u32,
    /// The gather into the model's input.
    pub gather: Gather,
    _indices: wgpu::Buffer,
}

/// Where a gather writes a batch: the model's input and the batch's labels.
#[derive(Clone, Copy)]
pub struct BatchInput<'a> {
    /// The model's input buffer.
    pub input: &'a wgpu::Buffer,
    /// Labels of the batch (u32).
    pub labels: &'a wgpu::Buffer,
}

impl EvalSet {
    /// Prepares evaluation of `indices` of `source` in batches of `batch`.
    pub fn new(
        gpu: &Gpu,
        source: &GpuImages,
        shape: ImageShape,
        indices: &[u32],
        batch: u32,
        settings: &GatherSettings,
        into: BatchInput<'_>,
    ) -> Result<EvalSet, GpuError> {
        let images = indices.len() as u32;
        let batches = images.div_ceil(batch);
        // Pad the list to whole batches; the padding is computed but not counted.
        let mut padded = indices.to_vec();
        padded.resize(
            (batches * batch) as usize,
            indices.first().copied().unwrap_or(0),
        );
        let list = gpu.storage_from("evaluation indices", &padded)?;
        let gather = Gather::new(
            gpu,
            &source.buffers(),
            shape,
            batch,
            settings,
            Operand::whole(&list),
            Operand::whole(into.input),
            Operand::whole(into.labels),
        )?;
        Ok(EvalSet {
            images,
            batch,
            batches,
            gather,
            _indices: list,
        })
    }
}

/// The training set's gather over a per-epoch index list.
pub struct TrainSet {
    /// Images trained on.
    pub images: u32,
    /// The index list, rewritten every epoch.
    pub indices: wgpu::Buffer,
    /// The gather into the model's input.
    pub gather: Gather,
}

impl TrainSet {
    /// Prepares gathering batches of `batch` from the first `images` of `source`.
    pub fn new(
        gpu: &Gpu,
        source: &GpuImages,
        shape: ImageShape,
        images: u32,
        batch: u32,
        settings: &GatherSettings,
        into: BatchInput<'_>,
    ) -> Result<TrainSet, GpuError> {
        let indices = gpu.storage("training order", images as u64 * 4)?;
        let gather = Gather::new(
            gpu,
            &source.buffers(),
            shape,
            batch,
            settings,
            Operand::whole(&indices),
            Operand::whole(into.input),
            Operand::whole(into.labels),
        )?;
        Ok(TrainSet {
            images,
            indices,
            gather,
        })
    }
}
