//! Dataset files: IDX (MNIST, Fashion-MNIST; raw or gzip) and CIFAR-10 binary batches.
//! Headers are validated against the file lengths before anything is allocated, and every
//! kind of bad file gets its own error saying what was wrong.

mod cifar;
mod idx;

pub use cifar::parse_cifar10;
pub use idx::{idx_images_needed, parse_idx, parse_idx_prefix, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};

use std::borrow::Cow;
use std::io::Read;

use serde::Serialize;
use thiserror::Error;

/// Largest decompressed file accepted (MNIST's training images are 47 MB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// What was wrong with a dataset file; each message says what to do.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DataError {
    /// The file is not of the expected kind.
    #[error("{what}: not an IDX {expected} file (magic number {found:#010x}, expected {wanted:#010x}); pick the right file")]
    BadMagic {
        /// Which file.
        what: &'static str,
        /// "images" or "labels".
        expected: &'static str,
        /// The magic number read.
        found: u32,
        /// The magic number wanted.
        wanted: u32,
    },
    /// The file is shorter than its header says.
    #[error("{what}: truncated, the header promises {expected} bytes but the file has {actual}; download it again")]
    Truncated {
        /// Which file.
        what: &'static str,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error(
        "{what}: {extra} unexpected bytes after the data the header describes; the file is corrupt"
    )]
    TrailingBytes {
        /// Which file.
        what: &'static str,
        /// Bytes beyond the data.
        extra: u64,
    },
    /// The dimensions multiply to more than can be addressed.
    #[error("{what}: the dimensions {dims:?} are too large to be real; the header is corrupt")]
    Overflow {
        /// Which file.
        what: &'static str,
        /// The dimensions read.
        dims: Vec<u32>,
    },
    /// A dimension the format needs is zero or the layout is not what images need.
    #[error("{what}: {reason}")]
    BadShape {
        /// Which file.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Images and labels disagree on how many samples there are.
    #[error(
        "{images} images but {labels} labels; use the label file that belongs to the image file"
    )]
    CountMismatch {
        /// Images.
        images: u64,
        /// Labels.
        labels: u64,
    },
    /// A label is not one of the classes.
    #[error("label {label} of sample {index} is not below {classes}, the number of classes")]
    LabelOutOfRange {
        /// Sample.
        index: u64,
        /// The label.
        label: u8,
        /// Classes allowed.
        classes: u32,
    },
    /// The gzip stream is damaged, or inflates beyond the limit.
    #[error("{what}: {reason}")]
    Gzip {
        /// Which file.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// Images (bytes, image after image, channels then rows then columns) and their labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dataset {
    /// Channels per image.
    pub channels: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Number of classes labels range over.
    pub classes: u32,
    /// Pixels.
    #[serde(skip)]
    pub images: Vec<u8>,
    /// One label per image.
    #[serde(skip)]
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        (self.channels * self.height * self.width) as usize
    }
}

/// The first bytes of a gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The bytes of a file that may be gzip-compressed (recognised by its magic bytes), inflated
/// up to [`MAX_DECOMPRESSED_BYTES`].
pub fn maybe_gunzip<'a>(what: &'static str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    let decoder = flate2::read::GzDecoder::new(bytes);
    decoder
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            what,
            reason: format!("the gzip data is damaged ({e}); download the file again"),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DataError::Gzip {
            what,
            reason: format!(
                "inflates to more than {MAX_DECOMPRESSED_BYTES} bytes; this is not a dataset file"
            ),
        });
    }
    Ok(Cow::Owned(out))
}

/// Checks that every label is below `classes`.
fn check_labels(labels: &[u8], classes: u32) -> Result<(), DataError> {
    match labels.iter().position(|&l| l as u32 >= classes) {
        Some(index) => Err(DataError::LabelOutOfRange {
            index: index as u64,
            label: labels[index],
            classes,
        }),
        None => Ok(()),
    }
}
