//! Batch gather and augmentation (`shaders/data.wgsl`) from the u8 dataset on the GPU, and
//! its CPU reference, including the counter-based hash that makes augmentation
//! reproducible everywhere.

use serde::Serialize;

use super::elementwise::grid_1d;
use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of the gather.
pub const GATHER: &str = "gather";

/// Image sizes of the dataset and the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ImageShape {
    /// Channels (1 to 4).
    pub channels: u32,
    /// Height.
    pub h: u32,
    /// Width.
    pub w: u32,
}

impl ImageShape {
    /// Bytes (and batch floats) per image.
    pub fn len(&self) -> usize {
        (self.channels * self.h * self.w) as usize
    }

    /// Whether an image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Augmentation and normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GatherSettings {
    /// Random crop from the image padded by this many pixels (0: no crop).
    pub pad: u32,
    /// Random horizontal flip (for natural images, not digits).
    pub flip: bool,
    /// Augmentation seed.
    pub seed: u32,
    /// Per-channel mean on the 0..1 scale.
    pub mean: [f32; 4],
    /// Per-channel standard deviation on the 0..1 scale.
    pub std: [f32; 4],
}

wgsl_params! {
    struct Params mirrors [crate::shaders::DATA] {
        batch: u32,
        channels: u32,
        h: u32,
        w: u32,
        pad: u32,
        flags: u32,
        seed: u32,
        epoch: u32,
        index_offset: u32,
        out_offset: u32,
        label_offset: u32,
        images_offset: u32,
        labels_in_offset: u32,
        _pad: [u32; 3],
        mean: [f32; 4],
        inv_std: [f32; 4],
    }
}

/// The dataset as the GPU holds it: pixels (bytes packed four to a u32 word, the offset
/// counted in words) and labels.
pub struct DatasetBuffers<'a> {
    /// Pixel bytes of all images, image after image, CHW.
    pub images: Operand<'a>,
    /// One u32 label per image.
    pub labels: Operand<'a>,
    /// Number of images.
    pub count: u32,
}

/// A prepared gather of `batch` images named by an index list.
#[derive(Debug)]
pub struct Gather {
    dispatch: Dispatch,
    params: Params,
}

impl Gather {
    /// Prepares the gather of entries `0..batch` of `indices` (move along with
    /// [`Gather::set_position`]) into `out` (batch x c x h x w floats) and `out_labels`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        data: &DatasetBuffers<'_>,
        shape: ImageShape,
        batch: u32,
        settings: &GatherSettings,
        indices: Operand<'_>,
        out: Operand<'_>,
        out_labels: Operand<'_>,
    ) -> Result<Gather, GpuError> {
        let kernel = GATHER;
        if batch == 0 || shape.is_empty() || shape.channels > 4 {
            return Err(GpuError::launch(
                kernel,
                format!("batch {batch} of {shape:?} (1 to 4 channels)"),
            ));
        }
        if settings.pad >= shape.h.min(shape.w) {
            return Err(GpuError::launch(
                kernel,
                format!(
                    "crop padding {} is not smaller than the image",
                    settings.pad
                ),
            ));
        }
        if settings.std[..shape.channels as usize]
            .iter()
            .any(|&s| !(s > 0.0 && s.is_finite()))
        {
            return Err(GpuError::launch(
                kernel,
                "standard deviations must be positive",
            ));
        }
        let words = (data.count as usize * shape.len()).div_ceil(4);
        let launch = Launch::new(gpu, kernel)
            .read(1, "images", data.images, words)?
            .read(2, "labels", data.labels, data.count as usize)?
            .read(3, "indices", indices, batch as usize)?
            .write(4, "out", out, batch as usize * shape.len())?
            .write(5, "out_labels", out_labels, batch as usize)?;
        let mut inv_std = [1f32; 4];
        for (inv, &s) in inv_std.iter_mut().zip(&settings.std) {
            *inv = 1.0 / s;
        }
        let params = Params {
            batch,
            channels: shape.channels,
            h: shape.h,
            w: shape.w,
            pad: settings.pad,
            flags: u32::from(settings.pad > 0) | (u32::from(settings.flip) << 1),
            seed: settings.seed,
            epoch: 0,
            index_offset: indices.offset,
            out_offset: out.offset,
            label_offset: out_labels.offset,
            images_offset: data.images.offset,
            labels_in_offset: data.labels.offset,
            _pad: [0; 3],
            mean: settings.mean,
            inv_std,
        };
        let grid = grid_1d(gpu, batch * shape.len() as u32, 256);
        let dispatch = launch.dispatch(&shaders::DATA, "gather", &params, grid)?;
        Ok(Gather { dispatch, params })
    }

    /// Moves to another epoch (new augmentation draws) and another stretch of the index
    /// list, starting at element `first_index` of the indices buffer; applies from the next
    /// submit. The caller keeps `first_index + batch` within the list.
    pub fn set_position(&mut self, gpu: &Gpu, epoch: u32, first_index: u32) {
        self.params.epoch = epoch;
        self.params.index_offset = first_index;
        self.dispatch.set_params(gpu, &self.params);
    }

    /// The launch to record.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}

/// Packs bytes four to a little-endian u32 word, as the shader reads them.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| c.iter().rev().fold(0u32, |w, &b| (w << 8) | b as u32))
        .collect()
}

/// The shader's 32-bit hash.
pub fn mix(v: u32) -> u32 {
    let mut x = v;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The augmentation drawn for `image` in `epoch`: crop offsets into the padded image (row,
/// column) and whether it is flipped.
pub fn augmentation(settings: &GatherSettings, epoch: u32, image: u32) -> (u32, u32, bool) {
    let h1 = mix(settings.seed ^ mix(epoch ^ mix(image)));
    let h2 = mix(h1);
    let h3 = mix(h2);
    let span = 2 * settings.pad + 1;
    let (oy, ox) = if settings.pad > 0 {
        (h1 % span, h2 % span)
    } else {
        (settings.pad, settings.pad)
    };
    (oy, ox, settings.flip && h3 & 1 == 1)
}

/// CPU reference: the batch (f64) and labels for `indices`.
pub fn gather_reference(
    images: &[u8],
    labels: &[u32],
    shape: ImageShape,
    settings: &GatherSettings,
    epoch: u32,
    indices: &[u32],
) -> (Vec<f64>, Vec<u32>) {
    let (c, h, w) = (shape.channels as usize, shape.h as i64, shape.w as i64);
    let pad = settings.pad as i64;
    let mut out = Vec::with_capacity(indices.len() * shape.len());
    for &image in indices {
        let (oy, ox, flip) = augmentation(settings, epoch, image);
        let base = image as usize * shape.len();
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let x = if flip { w - 1 - x } else { x };
                    let (sy, sx) = (y + oy as i64 - pad, x + ox as i64 - pad);
                    let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                    let byte = if inside {
                        images[base + ch * (h * w) as usize + (sy * w + sx) as usize]
                    } else {
                        0
                    };
                    let v = byte as f32 / 255.0;
                    // The same f32 operations as the shader, so the comparison is tight.
                    out.push(((v - settings.mean[ch]) * (1.0 / settings.std[ch])) as f64);
                }
            }
        }
    }
    let out_labels = indices.iter().map(|&i| labels[i as usize]).collect();
    (out, out_labels)
}
