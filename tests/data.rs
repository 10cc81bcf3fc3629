//! Native gather-and-augment tests.

mod common;

use snapfreeze::checks::Family;
use snapfreeze::gpu::GpuError;
use snapfreeze::kernels::data::{self, DatasetBuffers, Gather, GatherSettings, ImageShape};
use snapfreeze::kernels::Operand;

fn settings(pad: u32, flip: bool) -> GatherSettings {
    GatherSettings {
        pad,
        flip,
        seed: 42,
        mean: [0.5; 4],
        std: [0.25; 4],
    }
}

#[test]
fn every_case_matches_the_reference_bit_for_bit() {
    let gpu = common::gpu();
    for r in common::run_family(&gpu, Family::Data) {
        assert_eq!(r.rel_l2_error, 0.0, "{}", r.name);
    }
}

#[test]
fn augmentation_depends_on_seed_epoch_and_image_only() {
    let s = settings(4, true);
    // The same image in the same epoch: same draw, wherever it sits in the batch.
    let shape = ImageShape {
        channels: 1,
        h: 8,
        w: 8,
    };
    let bytes: Vec<u8> = (0..3 * 64).map(|i| (i * 7 % 251) as u8).collect();
    let labels = [0, 1, 2];
    let (a, _) = data::gather_reference(&bytes, &labels, shape, &s, 3, &[2, 0]);
    let (b, _) = data::gather_reference(&bytes, &labels, shape, &s, 3, &[1, 2]);
    assert_eq!(a[..64], b[64..]);
    // Across epochs the draws vary, and every offset and both flips occur.
    let draws: Vec<_> = (0..200).map(|e| data::augmentation(&s, e, 7)).collect();
    assert!(draws.iter().any(|d| *d != draws[0]));
    for offset in 0..=8 {
        assert!(
            draws.iter().any(|d| d.0 == offset),
            "row offset {offset} never drawn"
        );
    }
    assert!(draws.iter().any(|d| d.2) && draws.iter().any(|d| !d.2));
    // Without augmentation: centred, never flipped.
    assert_eq!(data::augmentation(&settings(0, false), 5, 7), (0, 0, false));
}

#[test]
fn bytes_pack_little_endian() {
    assert_eq!(data::pack_bytes(&[1, 2, 3, 4, 5]), [0x0403_0201, 0x05]);
}

#[test]
fn bad_settings_are_errors_not_panics() {
    let gpu = common::gpu();
    let images = gpu.storage("images", 4096).unwrap();
    let labels = gpu.storage("labels", 4096).unwrap();
    let indices = gpu.storage("indices", 4096).unwrap();
    let out = gpu.storage("out", 1 << 16).unwrap();
    let out_labels = gpu.storage("out labels", 4096).unwrap();
    let dataset = DatasetBuffers {
        images: Operand::whole(&images),
        labels: Operand::whole(&labels),
        count: 4,
    };
    let shape = ImageShape {
        channels: 1,
        h: 28,
        w: 28,
    };
    let whole = Operand::whole;
    let try_gather = |s: &GatherSettings, batch| {
        Gather::new(
            &gpu,
            &dataset,
            shape,
            batch,
            s,
            whole(&indices),
            whole(&out),
            whole(&out_labels),
        )
    };
    let invalid = |r: Result<Gather, GpuError>| matches!(r, Err(GpuError::InvalidLaunch { .. }));
    assert!(try_gather(&settings(2, false), 4).is_ok());
    assert!(invalid(try_gather(&settings(28, false), 4)));
    assert!(invalid(try_gather(
        &GatherSettings {
            std: [0.0; 4],
            ..settings(2, false)
        },
        4
    )));
    assert!(invalid(try_gather(&settings(2, false), 0)));
    let too_many = DatasetBuffers {
        count: 100,
        ..dataset
    };
    let r = Gather::new(
        &gpu,
        &too_many,
        shape,
        4,
        &settings(2, false),
        whole(&indices),
        whole(&out),
        whole(&out_labels),
    );
    assert!(invalid(r));
}
