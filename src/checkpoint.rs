//! Checkpoints as safetensors, with PyTorch's tensor names and shapes (conv weight
//! [out, in, kh, kw], linear weight [out, in], batch-norm weight, bias, running_mean,
//! running_var), so other tools can read our snapshots and we can start from theirs.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use thiserror::Error;

/// One tensor of a checkpoint: name, shape and f32 values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// PyTorch's name, like `layer1.0.conv1.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// What was wrong with a checkpoint.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// Not a readable safetensors file.
    #[error("not a valid safetensors file ({0}); was it truncated or is it another format?")]
    Format(String),
    /// A tensor holds something other than 32-bit floats.
    #[error(
        "tensor '{name}' is {dtype}, but only F32 is supported; convert the checkpoint to float32"
    )]
    DType {
        /// Tensor.
        name: String,
        /// Its type.
        dtype: String,
    },
    /// A tensor the model needs is absent.
    #[error("tensor '{name}' is missing; the checkpoint is for another model")]
    Missing {
        /// Tensor.
        name: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor '{name}' has shape {found:?} but the model needs {expected:?}; the checkpoint is for another model or width")]
    Shape {
        /// Tensor.
        name: String,
        /// Shape the model needs.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// Tensors the model does not have.
    #[error("the checkpoint has tensors this model does not: {names:?}; it is for another model")]
    Unexpected {
        /// Their names.
        names: Vec<String>,
    },
    /// A metadata entry the program reads is malformed.
    #[error("the checkpoint's metadata '{key}' is {problem}; remove the entry or fix it")]
    Metadata {
        /// The entry.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A tensor's values do not match its shape (a bug in the caller, not a bad file).
    #[error("tensor '{name}' has {len} values for shape {shape:?}")]
    Inconsistent {
        /// Tensor.
        name: String,
        /// Values given.
        len: usize,
        /// Shape given.
        shape: Vec<usize>,
    },
}

/// BatchNorm's step counter: PyTorch writes it (as int64), we have no use for it.
const IGNORED_SUFFIX: &str = ".num_batches_tracked";

/// The checkpoint file's bytes, with `metadata` in its header.
pub fn save(
    tensors: &[NamedTensor],
    metadata: &[(String, String)],
) -> Result<Vec<u8>, CheckpointError> {
    save_with_counters(tensors, &[], metadata)
}

/// [`save`] plus int64 scalars such as BatchNorm's `num_batches_tracked`, which PyTorch's
/// strict loading expects beside each norm's statistics.
pub fn save_with_counters(
    tensors: &[NamedTensor],
    counters: &[(String, i64)],
    metadata: &[(String, String)],
) -> Result<Vec<u8>, CheckpointError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| bytemuck::cast_slice(&t.values).to_vec())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (t, data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), data).map_err(|_| {
            CheckpointError::Inconsistent {
                name: t.name.clone(),
                len: t.values.len(),
                shape: t.shape.clone(),
            }
        })?;
        views.push((t.name.clone(), view));
    }
    let counter_bytes: Vec<[u8; 8]> = counters.iter().map(|(_, v)| v.to_le_bytes()).collect();
    for ((name, _), data) in counters.iter().zip(&counter_bytes) {
        let view = TensorView::new(Dtype::I64, Vec::new(), data)
            .map_err(|e| CheckpointError::Format(e.to_string()))?;
        views.push((name.clone(), view));
    }
    let sorted: BTreeMap<String, String> = metadata.iter().cloned().collect();
    let metadata: HashMap<String, String> = metadata.iter().cloned().collect();
    let metadata = (!metadata.is_empty()).then_some(metadata);
    let mut bytes = safetensors::serialize(views, metadata)
        .map_err(|e| CheckpointError::Format(e.to_string()))?;
    metadata_in_key_order(&mut bytes, &sorted);
    Ok(bytes)
}

/// The library writes the header's metadata in a hash order that changes from run to run,
/// so the same weights would make files that differ. The metadata object is rewritten in
/// key order in place: the same entries, so the same length, and the tensors' offsets stand.
/// Anything unexpected leaves the bytes as written (a valid file either way).
fn metadata_in_key_order(bytes: &mut [u8], metadata: &BTreeMap<String, String>) {
    let Ok(sorted) = serde_json::to_string(metadata) else {
        return;
    };
    let Some(header_len) = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(|b: [u8; 8]| u64::from_le_bytes(b) as usize)
    else {
        return;
    };
    let Some(header) = bytes.get(8..8usize.saturating_add(header_len)) else {
        return;
    };
    let key = b"\"__metadata__\":";
    let Some(at) = header.windows(key.len()).position(|w| w == key) else {
        return;
    };
    let start = 8 + at + key.len();
    let end = start + sorted.len();
    // Only if those bytes are the same map as written.
    let written = bytes
        .get(start..end)
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, String>>(b).ok());
    if written.as_ref() == Some(metadata) {
        bytes[start..end].copy_from_slice(sorted.as_bytes());
    }
}

/// Every f32 tensor in the file, sorted by name (BatchNorm step counters skipped).
pub fn load(bytes: &[u8]) -> Result<Vec<NamedTensor>, CheckpointError> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let mut out = Vec::new();
    for (name, view) in file.tensors() {
        if name.ends_with(IGNORED_SUFFIX) {
            continue;
        }
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::DType {
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        // The data may not be 4-byte aligned inside the file, so copy rather than cast.
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push(NamedTensor {
            name,
            shape: view.shape().to_vec(),
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The string metadata in the file's header (empty when it has none).
pub fn load_metadata(bytes: &[u8]) -> Result<HashMap<String, String>, CheckpointError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// The tensors a model expects, in its order, each checked for presence and shape; extra
/// tensors are an error too (as PyTorch's strict loading).
pub fn load_expected(
    bytes: &[u8],
    expected: &[(String, Vec<usize>)],
) -> Result<Vec<NamedTensor>, CheckpointError> {
    let mut found: HashMap<String, NamedTensor> = load(bytes)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut out = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let tensor = found
            .remove(name)
            .ok_or_else(|| CheckpointError::Missing { name: name.clone() })?;
        if &tensor.shape != shape {
            return Err(CheckpointError::Shape {
                name: name.clone(),
                expected: shape.clone(),
                found: tensor.shape,
            });
        }
        out.push(tensor);
    }
    if !found.is_empty() {
        let mut names: Vec<String> = found.into_keys().collect();
        names.sort();
        return Err(CheckpointError::Unexpected { names });
    }
    Ok(out)
}
