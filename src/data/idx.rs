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

/// The dimensions and data of an IDX file `total` bytes long, of which `bytes` holds the
/// start (all of it, or the header and a prefix of the data), checked against its length.
fn parse<'a>(
    what: &'static str,
    bytes: &'a [u8],
    total: u64,
    wanted: u32,
    kind: &'static str,
) -> Result<(Vec<u32>, &'a [u8]), DataError> {
    let truncated = |expected: u64| DataError::Truncated {
        what,
        expected,
        actual: total,
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
    let actual = total;
    if actual < expected {
        return Err(truncated(expected));
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            what,
            extra: actual - expected,
        });
    }
    Ok((dims, bytes.get(header..).unwrap_or(&[])))
}

/// Images kept of `count` under `limit` (all when 0).
fn kept(count: u32, limit: usize) -> usize {
    match limit {
        0 => count as usize,
        n => (count as usize).min(n),
    }
}

/// Bytes at the start of an IDX image file that hold its header and its first `limit`
/// images (all when `limit` is 0), from `head`, the file's first 16 bytes: the page copies
/// only these out of a large file. A header that does not parse gives `head.len()`, so that
/// [`parse_idx_prefix`] reports what is wrong.
pub fn idx_images_needed(head: &[u8], limit: usize) -> usize {
    let dims = (be_u32(head, 0) == Some(IDX_IMAGES_MAGIC))
        .then(|| Some((be_u32(head, 4)?, be_u32(head, 8)?, be_u32(head, 12)?)))
        .flatten();
    let Some((count, height, width)) = dims else {
        return head.len();
    };
    let bytes = (kept(count, limit) as u64)
        .checked_mul(height as u64)
        .and_then(|n| n.checked_mul(width as u64))
        .and_then(|n| n.checked_add(16));
    bytes.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Like [`parse_idx`] for raw (not compressed) images, keeping only the first `limit`
/// images (all when 0): `images` holds the start of an image file `images_len` bytes long,
/// at least [`idx_images_needed`] bytes of it. The whole file's length and every label are
/// still checked. Also gives the number of images in the file.
pub fn parse_idx_prefix(
    images: &[u8],
    images_len: u64,
    labels: &[u8],
    limit: usize,
) -> Result<(Dataset, u32), DataError> {
    let labels = maybe_gunzip("label file", labels)?;
    let (dims, pixels) = parse("image file", images, images_len, IDX_IMAGES_MAGIC, "images")?;
    let (label_dims, label_data) = parse(
        "label file",
        &labels,
        labels.len() as u64,
        IDX_LABELS_MAGIC,
        "labels",
    )?;
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
    let keep = kept(count, limit);
    let size = height as usize * width as usize;
    let pixels = pixels.get(..keep * size).ok_or(DataError::Truncated {
        what: "image prefix",
        expected: (16 + keep * size) as u64,
        actual: images.len() as u64,
    })?;
    let dataset = Dataset {
        channels: 1,
        height,
        width,
        classes: CLASSES,
        images: pixels.to_vec(),
        labels: label_data[..keep].to_vec(),
    };
    Ok((dataset, count))
}

/// A dataset from an IDX image file and its IDX label file, each raw or gzip-compressed.
pub fn parse_idx(images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
    let images = maybe_gunzip("image file", images)?;
    parse_idx_prefix(&images, images.len() as u64, labels, 0).map(|(dataset, _)| dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IDX image file of `count` 2x3 images (pixel values from their index) and labels.
    fn files(count: u32) -> (Vec<u8>, Vec<u8>) {
        let mut images = [IDX_IMAGES_MAGIC, count, 2, 3]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        images.extend((0..count * 6).map(|i| i as u8));
        let mut labels = [IDX_LABELS_MAGIC, count]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        labels.extend((0..count).map(|i| (i % 10) as u8));
        (images, labels)
    }

    #[test]
    fn a_prefix_gives_the_first_images_of_the_whole_file() {
        let (images, labels) = files(7);
        let all = parse_idx(&images, &labels).unwrap();
        let needed = idx_images_needed(&images[..16], 3);
        assert_eq!(needed, 16 + 3 * 6);
        let (first, count) =
            parse_idx_prefix(&images[..needed], images.len() as u64, &labels, 3).unwrap();
        assert_eq!(count, 7);
        assert_eq!(first.images, all.images[..18]);
        assert_eq!(first.labels, all.labels[..3]);
        // No limit, or one past the end, keeps everything.
        assert_eq!(idx_images_needed(&images[..16], 0), images.len());
        assert_eq!(idx_images_needed(&images[..16], 50), images.len());
    }

    #[test]
    fn a_prefix_still_checks_the_whole_file() {
        let (images, labels) = files(7);
        let needed = idx_images_needed(&images[..16], 2);
        let short = images.len() as u64 - 1;
        let e = parse_idx_prefix(&images[..needed], short, &labels, 2).unwrap_err();
        assert!(matches!(e, DataError::Truncated { .. }), "{e}");
        let e = parse_idx_prefix(&images[..needed], short + 2, &labels, 2).unwrap_err();
        assert!(matches!(e, DataError::TrailingBytes { .. }), "{e}");
        let mut bad_labels = labels.clone();
        *bad_labels.last_mut().unwrap() = 10;
        let e = parse_idx_prefix(&images[..needed], images.len() as u64, &bad_labels, 2);
        assert!(matches!(
            e,
            Err(DataError::LabelOutOfRange { index: 6, .. })
        ));
        // A header that does not parse asks for no more bytes and is reported.
        assert_eq!(idx_images_needed(b"nonsense", 2), 8);
        assert!(parse_idx_prefix(b"nonsense", 8, &labels, 2).is_err());
    }
}
