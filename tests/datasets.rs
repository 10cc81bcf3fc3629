//! Dataset readers: the real MNIST and Fashion-MNIST files setup prepared, and one test per
//! kind of bad file.

use std::io::Write;

use snapfreeze::data::{self, DataError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn images(count: u32, h: u32, w: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..count * h * w).map(|i| (i % 251) as u8).collect();
    idx(IDX_IMAGES_MAGIC, &[count, h, w], &data)
}

fn labels(values: &[u8]) -> Vec<u8> {
    idx(IDX_LABELS_MAGIC, &[values.len() as u32], values)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn the_prepared_mnist_and_fashion_mnist_files_parse() {
    for (dir, first_label) in [("mnist", 5), ("fashion-mnist", 9)] {
        let read = |name: &str| {
            let path = format!("data/{dir}/{name}-ubyte.gz");
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run make setup"))
        };
        let train =
            data::parse_idx(&read("train-images-idx3"), &read("train-labels-idx1")).unwrap();
        let test = data::parse_idx(&read("t10k-images-idx3"), &read("t10k-labels-idx1")).unwrap();
        assert_eq!((train.len(), test.len()), (60_000, 10_000), "{dir}");
        assert_eq!(
            (train.channels, train.height, train.width, train.classes),
            (1, 28, 28, 10)
        );
        assert_eq!(train.images.len(), 60_000 * 784);
        assert_eq!(train.labels[0], first_label, "{dir}");
    }
}

#[test]
fn small_files_parse_raw_and_gzipped() {
    let (img, lab) = (images(3, 4, 5), labels(&[0, 9, 4]));
    let raw = data::parse_idx(&img, &lab).unwrap();
    assert_eq!((raw.len(), raw.height, raw.width), (3, 4, 5));
    assert_eq!(raw.images[..3], [0, 1, 2]);
    assert_eq!(data::parse_idx(&gzip(&img), &gzip(&lab)).unwrap(), raw);
}

#[test]
fn wrong_magic_is_reported() {
    let err = data::parse_idx(&labels(&[1, 2]), &labels(&[1, 2])).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: "images",
                ..
            }
        ),
        "{err}"
    );
    let err = data::parse_idx(&images(2, 2, 2), &images(2, 2, 2)).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: "labels",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_files_are_reported() {
    let img = images(3, 4, 5);
    for cut in [0, 3, 10, img.len() - 1] {
        let err = data::parse_idx(&img[..cut], &labels(&[0, 1, 2])).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { .. }),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn trailing_bytes_are_reported() {
    let mut img = images(2, 3, 3);
    img.push(7);
    let err = data::parse_idx(&img, &labels(&[0, 1])).unwrap_err();
    assert_eq!(
        err,
        DataError::TrailingBytes {
            what: "image file",
            extra: 1
        }
    );
}

#[test]
fn dimensions_that_overflow_are_rejected_before_allocating() {
    let img = idx(IDX_IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]);
    let err = data::parse_idx(&img, &labels(&[0])).unwrap_err();
    assert!(matches!(err, DataError::Overflow { .. }), "{err}");
    // Large but representable: a truncation, found without allocating 4 GB.
    let img = idx(IDX_IMAGES_MAGIC, &[65_536, 256, 256], &[]);
    let err = data::parse_idx(&img, &labels(&[0])).unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { expected, .. } if expected == 16 + (1 << 32)),
        "{err}"
    );
}

#[test]
fn mismatched_counts_bad_labels_and_empty_files_are_reported() {
    let err = data::parse_idx(&images(3, 2, 2), &labels(&[0, 1])).unwrap_err();
    assert_eq!(
        err,
        DataError::CountMismatch {
            images: 3,
            labels: 2
        }
    );
    let err = data::parse_idx(&images(2, 2, 2), &labels(&[3, 10])).unwrap_err();
    assert_eq!(
        err,
        DataError::LabelOutOfRange {
            index: 1,
            label: 10,
            classes: 10
        }
    );
    let err = data::parse_idx(&images(0, 2, 2), &labels(&[])).unwrap_err();
    assert!(matches!(err, DataError::BadShape { .. }), "{err}");
}

#[test]
fn damaged_gzip_is_reported() {
    let mut gz = gzip(&images(3, 4, 5));
    let mid = gz.len() / 2;
    gz.truncate(mid);
    let err = data::parse_idx(&gz, &labels(&[0, 1, 2])).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert!(err.to_string().contains("download the file again"));
}

#[test]
fn cifar10_batches_parse_and_bad_ones_are_reported() {
    let record = |label: u8, fill: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(fill, 3072));
        r
    };
    let batch: Vec<u8> = [record(3, 1), record(9, 2)].concat();
    let other = record(0, 5);
    let set = data::parse_cifar10(&[&batch, &other]).unwrap();
    assert_eq!(
        (set.len(), set.channels, set.height, set.width),
        (3, 3, 32, 32)
    );
    assert_eq!(set.labels, [3, 9, 0]);
    assert_eq!(set.images[3072], 2);
    let err = data::parse_cifar10(&[&batch[..5000]]).unwrap_err();
    assert!(matches!(err, DataError::BadShape { .. }), "{err}");
    let err = data::parse_cifar10(&[&record(10, 0)]).unwrap_err();
    assert!(
        matches!(err, DataError::LabelOutOfRange { label: 10, .. }),
        "{err}"
    );
    assert!(matches!(
        data::parse_cifar10(&[]).unwrap_err(),
        DataError::BadShape { .. }
    ));
}
