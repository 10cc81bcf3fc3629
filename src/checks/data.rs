//! Gather-and-augment checks: MNIST- and CIFAR-shaped data, with and without random crops
//! and flips, against the reference (the same hash, so the same draws).

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::CheckResult;
use crate::gpu::{Gpu, GpuError};
use crate::kernels::data::{self, DatasetBuffers, Gather, GatherSettings, ImageShape};

const TOLERANCE: f64 = 1e-6;

/// One gather check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DataCase {
    /// Image sizes.
    pub shape: ImageShape,
    /// Images in the dataset.
    pub images: u32,
    /// Batch size.
    pub batch: u32,
    /// Augmentation.
    pub pad: u32,
    /// Random horizontal flips.
    pub flip: bool,
    /// Epoch (selects the draws).
    pub epoch: u32,
}

impl DataCase {
    /// Like `gather 64 of 100 images 3x32x32, crop pad 4, flip, epoch 3`.
    pub fn describe(&self) -> String {
        let s = &self.shape;
        let aug = match (self.pad, self.flip) {
            (0, false) => "no augmentation".to_string(),
            (p, f) => format!("crop pad {p}{}", if f { ", flip" } else { "" }),
        };
        format!(
            "gather {} of {} images {}x{}x{}, {aug}, epoch {}",
            self.batch, self.images, s.channels, s.h, s.w, self.epoch
        )
    }
}

/// Every case.
pub fn cases() -> Vec<DataCase> {
    let mnist = ImageShape {
        channels: 1,
        h: 28,
        w: 28,
    };
    let cifar = ImageShape {
        channels: 3,
        h: 32,
        w: 32,
    };
    let case = |shape, images, batch, pad, flip, epoch| DataCase {
        shape,
        images,
        batch,
        pad,
        flip,
        epoch,
    };
    vec![
        case(mnist, 50, 1, 0, false, 0),
        case(mnist, 50, 7, 2, false, 0),
        case(mnist, 100, 64, 2, false, 5),
        case(cifar, 40, 9, 0, false, 0),
        case(cifar, 40, 9, 4, true, 0),
        case(cifar, 100, 64, 4, true, 3),
        case(
            ImageShape {
                channels: 2,
                h: 5,
                w: 7,
            },
            13,
            13,
            1,
            true,
            1,
        ),
    ]
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &DataCase, seed: u64) -> Result<CheckResult, GpuError> {
    let shape = case.shape;
    let mut rng = fastrand::Rng::with_seed(seed);
    let bytes: Vec<u8> = (0..case.images as usize * shape.len())
        .map(|_| rng.u8(..))
        .collect();
    let labels: Vec<u32> = (0..case.images).map(|_| rng.u32(..10)).collect();
    // A shuffled index list; this batch is a stretch of it that does not start at zero.
    let mut order: Vec<u32> = (0..case.images).collect();
    rng.shuffle(&mut order);
    let first = (case.images - case.batch) / 2;
    let settings = GatherSettings {
        pad: case.pad,
        flip: case.flip,
        seed: rng.u32(..),
        mean: [0.49, 0.48, 0.45, 0.5],
        std: [0.25, 0.24, 0.26, 0.3],
    };
    let batch_indices = &order[first as usize..(first + case.batch) as usize];
    let (want, want_labels) =
        data::gather_reference(&bytes, &labels, shape, &settings, case.epoch, batch_indices);
    let e = [
        Expected::whole("batch", want, TOLERANCE),
        Expected::whole_u32("labels", &want_labels),
    ];
    let inputs = [
        Input::U32(data::pack_bytes(&bytes)),
        Input::U32(labels),
        Input::U32(order),
    ];
    let (batch, epoch) = (case.batch, case.epoch);
    let o = harness::run(gpu, case.describe(), &inputs, &e, |i, o| {
        let dataset = DatasetBuffers {
            images: i[0],
            labels: i[1],
            count: case.images,
        };
        let mut gather = Gather::new(gpu, &dataset, shape, batch, &settings, i[2], o[0], o[1])?;
        gather.set_position(gpu, epoch, i[2].offset + first);
        Ok(gather.dispatch().clone())
    })
    .await?;
    Ok(o.result)
}
