//! Safetensors checkpoints: round trip, and one test per kind of bad file.

use snapfreeze::checkpoint::{self, CheckpointError, NamedTensor};

fn tensor(name: &str, shape: &[usize]) -> NamedTensor {
    let len = shape.iter().product();
    NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        values: (0..len).map(|i| i as f32 * 0.5 - 3.0).collect(),
    }
}

fn model() -> Vec<NamedTensor> {
    vec![
        tensor("conv1.weight", &[16, 3, 3, 3]),
        tensor("bn1.weight", &[16]),
        tensor("bn1.bias", &[16]),
        tensor("bn1.running_mean", &[16]),
        tensor("bn1.running_var", &[16]),
        tensor("fc.weight", &[10, 16]),
        tensor("fc.bias", &[10]),
    ]
}

fn expected() -> Vec<(String, Vec<usize>)> {
    model().into_iter().map(|t| (t.name, t.shape)).collect()
}

#[test]
fn round_trip_keeps_names_shapes_values_and_order() {
    let bytes = checkpoint::save(&model(), &[("format".into(), "pt".into())]).unwrap();
    assert_eq!(
        checkpoint::load_expected(&bytes, &expected()).unwrap(),
        model()
    );
    let mut sorted = model();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(checkpoint::load(&bytes).unwrap(), sorted);
}

/// The same weights and settings make the same file, whatever order the settings come in
/// (the library alone writes its metadata map in a hash order that changes every time).
#[test]
fn the_same_checkpoint_is_the_same_bytes_every_time() {
    let entries: Vec<(String, String)> = [
        ("model", "resnet-20"),
        ("method", "snapshot-3"),
        ("iteration", "1170"),
        ("input_mean", "[0.2860]"),
        ("input_std", "[0.3530]"),
        ("dataset", "fashion \"mnist\" \u{e9}"),
    ]
    .iter()
    .map(|&(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let first = checkpoint::save(&model(), &entries).unwrap();
    let mut reversed = entries.clone();
    reversed.reverse();
    for k in 0..20 {
        let order = if k % 2 == 0 { &entries } else { &reversed };
        assert!(
            checkpoint::save(&model(), order).unwrap() == first,
            "save {k}"
        );
    }
    // The metadata reads back whole, its keys in order in the header.
    let read = checkpoint::load_metadata(&first).unwrap();
    assert_eq!(read.len(), entries.len());
    for (k, v) in &entries {
        assert_eq!(read.get(k), Some(v), "{k}");
    }
    let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
    let mut keys: Vec<usize> = entries
        .iter()
        .map(|(k, _)| header.find(&format!("\"{k}\":")).unwrap())
        .collect();
    let by_name = {
        let mut named: Vec<_> = entries
            .iter()
            .map(|(k, _)| k.clone())
            .zip(keys.clone())
            .collect();
        named.sort();
        named.into_iter().map(|(_, at)| at).collect::<Vec<_>>()
    };
    keys.sort();
    assert_eq!(by_name, keys, "metadata keys in name order");
    assert_eq!(
        checkpoint::load_expected(&first, &expected()).unwrap(),
        model()
    );
}

#[test]
fn missing_extra_and_misshapen_tensors_are_reported() {
    let mut fewer = model();
    fewer.remove(1);
    let bytes = checkpoint::save(&fewer, &[]).unwrap();
    let err = checkpoint::load_expected(&bytes, &expected()).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::Missing {
            name: "bn1.weight".into()
        }
    );

    let mut more = model();
    more.push(tensor("layer9.weight", &[2]));
    let bytes = checkpoint::save(&more, &[]).unwrap();
    let err = checkpoint::load_expected(&bytes, &expected()).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::Unexpected {
            names: vec!["layer9.weight".into()]
        }
    );

    let mut wrong = model();
    wrong[5] = tensor("fc.weight", &[16, 10]);
    let bytes = checkpoint::save(&wrong, &[]).unwrap();
    let err = checkpoint::load_expected(&bytes, &expected()).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Shape { ref name, .. } if name == "fc.weight"),
        "{err}"
    );
}

#[test]
fn corrupt_and_truncated_files_are_reported() {
    let bytes = checkpoint::save(&model(), &[]).unwrap();
    for cut in [0, 4, 8, 20, bytes.len() - 1] {
        let err = checkpoint::load(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Format(_)),
            "cut at {cut}: {err}"
        );
    }
    let mut garbage = bytes.clone();
    garbage[8..40].fill(b'#');
    assert!(matches!(
        checkpoint::load(&garbage).unwrap_err(),
        CheckpointError::Format(_)
    ));
    // A header length far beyond the file.
    let mut huge = bytes;
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        checkpoint::load(&huge).unwrap_err(),
        CheckpointError::Format(_)
    ));
}

#[test]
fn other_dtypes_are_reported_and_batch_counters_skipped() {
    use safetensors::tensor::{Dtype, TensorView};
    let half = [0u8; 4];
    let counter = 7i64.to_le_bytes();
    let views = vec![
        (
            "bn1.num_batches_tracked",
            TensorView::new(Dtype::I64, vec![], &counter).unwrap(),
        ),
        ("w", TensorView::new(Dtype::F16, vec![2], &half).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let err = checkpoint::load(&bytes).unwrap_err();
    assert!(
        matches!(err, CheckpointError::DType { ref name, .. } if name == "w"),
        "{err}"
    );
    let only_counter = vec![(
        "bn1.num_batches_tracked",
        TensorView::new(Dtype::I64, vec![], &counter).unwrap(),
    )];
    assert_eq!(
        checkpoint::load(&safetensors::serialize(only_counter, None).unwrap()).unwrap(),
        vec![]
    );
}

#[test]
fn values_that_do_not_fit_the_shape_are_an_error_not_a_panic() {
    let bad = NamedTensor {
        name: "x".into(),
        shape: vec![3],
        values: vec![1.0],
    };
    assert!(matches!(
        checkpoint::save(&[bad], &[]).unwrap_err(),
        CheckpointError::Inconsistent { .. }
    ));
}
