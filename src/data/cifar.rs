//! CIFAR-10's binary batches: records of one label byte then 3072 pixel bytes (1024 red,
//! 1024 green, 1024 blue, each 32x32 row-major), 10000 records per batch file.

use super::{check_labels, DataError, Dataset};

/// Bytes of one record.
const RECORD: usize = 1 + 3 * 32 * 32;
/// Classes in CIFAR-10.
const CLASSES: u32 = 10;

/// A dataset from one or more CIFAR-10 binary batch files, in order.
pub fn parse_cifar10(batches: &[&[u8]]) -> Result<Dataset, DataError> {
    let what = "CIFAR-10 batch";
    let mut count = 0usize;
    for batch in batches {
        if batch.is_empty() || batch.len() % RECORD != 0 {
            return Err(DataError::BadShape {
                what,
                reason: format!(
                    "{} bytes is not a whole number of {RECORD}-byte records (label + 32x32x3 pixels); \
                     is this a CIFAR-10 binary batch (data_batch_N.bin / test_batch.bin)?",
                    batch.len()
                ),
            });
        }
        count += batch.len() / RECORD;
    }
    if count == 0 {
        return Err(DataError::BadShape {
            what,
            reason: "no batch files given".into(),
        });
    }
    let mut images = Vec::with_capacity(count * (RECORD - 1));
    let mut labels = Vec::with_capacity(count);
    for batch in batches {
        for record in batch.chunks_exact(RECORD) {
            labels.push(record[0]);
            images.extend_from_slice(&record[1..]);
        }
    }
    check_labels(&labels, CLASSES)?;
    Ok(Dataset {
        channels: 3,
        height: 32,
        width: 32,
        classes: CLASSES,
        images,
        labels,
    })
}
