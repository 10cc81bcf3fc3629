//! The IDX format of MNIST and Fashion-MNIST: a 4-byte magic number (0, 0, type 0x08 for
//! unsigned bytes, number of dimensions), the dimensions as big-endian u32, then the data.

use super::{check_labels, maybe_gunzip, DataError, Dataset};

/// Magic number of an IDX file of unsigned-byte images (three dimensions).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (one dimension).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Classes in MNIST and Fashion-MNIST.
const CLASSES: u32 = 10;

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The dimensions and data of an IDX file, checked against its length.
fn parse<'a>(
    what: &'static str,
    bytes: &'a [u8],
    wanted: u32,
    kind: &'static str,
) -> Result<(Vec<u32>, &'a [u8]), DataError> {
    let truncated = |expected: u64| DataError::Truncated {
        what,
        expected,
        actual: bytes.len() as u64,
    };
    let magic = be_u32(bytes, 0).ok_or_else(|| truncated(4))?;
    if magic != wanted {
        return Err(DataError::BadMagic {
            what,
            expected: kind,
            found: magic,
            wanted,
        });
    }
    let ndims = (wanted & 0xff) as usize;
    let header = 4 + 4 * ndims;
    let dims: Vec<u32> = (0..ndims)
        .map(|d| be_u32(bytes, 4 + 4 * d))
        .collect::<Option<_>>()
        .ok_or_else(|| truncated(header as u64))?;
    // The product of the dimensions, checked before anything is allocated.
    let len = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= usize::MAX as u64 / 2)
        .ok_or_else(|| DataError::Overflow {
            what,
            dims: dims.clone(),
        })?;
    let expected = header as u64 + len;
    let actual = bytes.len() as u64;
    if actual < expected {
        return Err(truncated(expected));
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            what,
            extra: actual - expected,
        });
    }
    Ok((dims, &bytes[header..]))
}

/// A dataset from an IDX image file and its IDX label file, each raw or gzip-compressed.
pub fn parse_idx(images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
    let images = maybe_gunzip("image file", images)?;
    let labels = maybe_gunzip("label file", labels)?;
    let (dims, pixels) = parse("image file", &images, IDX_IMAGES_MAGIC, "images")?;
    let (label_dims, label_data) = parse("label file", &labels, IDX_LABELS_MAGIC, "labels")?;
    let (count, height, width) = (dims[0], dims[1], dims[2]);
    if count == 0 || height == 0 || width == 0 {
        return Err(DataError::BadShape {
            what: "image file",
            reason: format!("{count} images of {height}x{width} pixels: nothing to train on"),
        });
    }
    if label_dims[0] != count {
        return Err(DataError::CountMismatch {
            images: count as u64,
            labels: label_dims[0] as u64,
        });
    }
    check_labels(label_data, CLASSES)?;
    Ok(Dataset {
        channels: 1,
        height,
        width,
        classes: CLASSES,
        images: pixels.to_vec(),
        labels: label_data.to_vec(),
    })
}
