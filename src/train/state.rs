//! A run's whole training state in one file, so that it can go on after a lost device, a
//! closed page or a stopped program exactly where it was: the weights, running statistics
//! and momentum, every finished snapshot's weights and test probabilities, and the history
//! the reports are built from. The file is safetensors: the buffers are its tensors and the
//! history is JSON in its header's metadata. [`crate::train::Trainer::save_state`] writes
//! one and [`crate::train::Trainer::restore`] goes on from one.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::config::TrainConfig;
use crate::checkpoint::{self, CheckpointError, NamedTensor};
use crate::data::Dataset;
use crate::metrics::{EpochMetrics, Evaluation, PhaseTime, Resume, StepMetrics, SwaResult};

/// The metadata key naming the format, and its value.
const FORMAT_KEY: &str = "format";
const FORMAT: &str = "snapfreeze training state";
/// The metadata key holding the version, and the version this build writes and reads.
const VERSION_KEY: &str = "version";
const VERSION: &str = "1";
/// The metadata key holding the history as JSON.
const HISTORY_KEY: &str = "history";

/// What was wrong with a training-state file.
#[derive(Debug, Error, PartialEq)]
pub enum StateError {
    /// Not readable as safetensors.
    #[error("not a training state file: {0}")]
    File(#[from] CheckpointError),
    /// A safetensors file, but not one of ours.
    #[error("this file is not a snapfreeze training state (it may be a weights checkpoint: start from those with init instead)")]
    NotState,
    /// Written by another version of the format.
    #[error("the training state is format version {found}, but this build reads version {VERSION}; finish the run with the build that started it")]
    Version {
        /// The version in the file.
        found: String,
    },
    /// The history is not the JSON we write.
    #[error("the training state's history is unreadable ({0}); the file is damaged")]
    History(String),
    /// A buffer is missing or has the wrong length for the model the history names.
    #[error("the training state's tensor '{name}' {problem}; the file is damaged or was edited")]
    Tensor {
        /// The tensor.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The data given to go on with is not the data the run was trained on.
    #[error("the training state was saved for {saved}, but the data given is {given}; load the same dataset with the same limits to go on")]
    OtherData {
        /// The data the state was saved for.
        saved: String,
        /// The data given now.
        given: String,
    },
}

/// Which data a run trained on: enough to refuse going on with other files or other
/// limits by mistake (not a cryptographic identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataIdentity {
    /// Training images used, the validation split included.
    pub train_images: u32,
    /// Test images used.
    pub test_images: u32,
    /// Image channels, height and width.
    pub shape: [u32; 3],
    /// Classes.
    pub classes: u32,
    /// CRC-32 of the labels used and of an evenly spaced sample of up to 256 images of
    /// each set: cheap even for a large set, in the page too.
    pub checksum: u32,
}

/// Images sampled into [`DataIdentity::checksum`] per set.
const SAMPLED_IMAGES: usize = 256;

impl DataIdentity {
    /// The identity of the first `train_images` training and `test_images` test images.
    pub fn of(train: &Dataset, train_images: usize, test: &Dataset, test_images: usize) -> Self {
        let mut crc = crc32fast::Hasher::new();
        for (set, count) in [(train, train_images), (test, test_images)] {
            let count = count.min(set.len());
            crc.update(&set.labels[..count]);
            let size = set.image_len();
            let stride = count.div_ceil(SAMPLED_IMAGES).max(1);
            for i in (0..count).step_by(stride) {
                crc.update(&set.images[i * size..(i + 1) * size]);
            }
        }
        DataIdentity {
            train_images: train_images as u32,
            test_images: test_images as u32,
            shape: [train.channels, train.height, train.width],
            classes: train.classes,
            checksum: crc.finalize(),
        }
    }

    fn describe(&self) -> String {
        let [c, h, w] = self.shape;
        format!(
            "{} training and {} test images of {c}x{h}x{w} with {} classes (checksum {:08x})",
            self.train_images, self.test_images, self.classes, self.checksum
        )
    }

    /// Fails unless `given` is the same data.
    pub fn check(&self, given: &DataIdentity) -> Result<(), StateError> {
        match self == given {
            true => Ok(()),
            false => Err(StateError::OtherData {
                saved: self.describe(),
                given: given.describe(),
            }),
        }
    }
}

/// A finished snapshot, without its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// 0-based snapshot number.
    pub index: usize,
    /// The iteration after which it was taken.
    pub iteration: u64,
    /// Its own test result.
    pub test: Evaluation,
}

/// Everything but the buffers: the settings (with any resume's lower rates), where the run
/// stands and what it has reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The settings the run goes on with.
    pub config: TrainConfig,
    /// The data it trains on.
    pub data: DataIdentity,
    /// Iterations done.
    pub iteration: u64,
    /// Blocks frozen at the last step.
    pub frozen: usize,
    /// The iteration the run diverged at, if it stands there.
    pub diverged: Option<u64>,
    /// Training seconds of the unfinished epoch so far.
    pub epoch_seconds: f64,
    /// The last test evaluation and the iteration it was made at.
    pub last_test: Option<(u64, Evaluation)>,
    /// Every step read back.
    pub steps: Vec<StepMetrics>,
    /// Every finished epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Every finished snapshot.
    pub snapshots: Vec<SnapshotRecord>,
    /// Training time by number of frozen blocks.
    pub phases: Vec<PhaseTime>,
    /// Resumes after divergences.
    pub resumes: Vec<Resume>,
    /// Models in SWA's running average (its weights are the tensor `swa.params`).
    #[serde(default)]
    pub averaged: u32,
    /// SWA's averaged model's result, once it replaced the last iterate.
    #[serde(default)]
    pub swa: Option<SwaResult>,
}

/// A snapshot's buffers: parameters, running statistics, and its softmax outputs on the
/// test set (images x classes).
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotBuffers {
    /// Flat parameters.
    pub params: Vec<f32>,
    /// Flat running statistics.
    pub state: Vec<f32>,
    /// Test-set probabilities.
    pub probabilities: Vec<f32>,
}

/// A run's whole training state.
#[derive(Clone, Debug, PartialEq)]
pub struct RunState {
    /// Settings, position and reports.
    pub history: History,
    /// Flat parameters.
    pub params: Vec<f32>,
    /// Flat running statistics.
    pub state: Vec<f32>,
    /// SGD's momentum, one value per parameter.
    pub momentum: Vec<f32>,
    /// One per finished snapshot, in order.
    pub snapshots: Vec<SnapshotBuffers>,
    /// SWA's running average of the weights, when it holds any.
    pub average: Option<Vec<f32>>,
}

fn flat(name: String, values: &[f32]) -> NamedTensor {
    NamedTensor {
        name,
        shape: vec![values.len()],
        values: values.to_vec(),
    }
}

/// The tensor holding SWA's running average of the weights.
const AVERAGE_NAME: &str = "swa.params";

fn snapshot_name(k: usize, part: &str) -> String {
    format!("snapshot.{k}.{part}")
}

impl RunState {
    /// The file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, StateError> {
        let mut tensors = vec![
            flat("params".into(), &self.params),
            flat("state".into(), &self.state),
            flat("momentum".into(), &self.momentum),
        ];
        for (k, s) in self.snapshots.iter().enumerate() {
            tensors.push(flat(snapshot_name(k, "params"), &s.params));
            tensors.push(flat(snapshot_name(k, "state"), &s.state));
            tensors.push(flat(snapshot_name(k, "probabilities"), &s.probabilities));
        }
        if let Some(average) = &self.average {
            tensors.push(flat(AVERAGE_NAME.into(), average));
        }
        let history =
            serde_json::to_string(&self.history).map_err(|e| StateError::History(e.to_string()))?;
        let metadata = [
            (FORMAT_KEY.to_string(), FORMAT.to_string()),
            (VERSION_KEY.to_string(), VERSION.to_string()),
            (HISTORY_KEY.to_string(), history),
        ];
        Ok(checkpoint::save(&tensors, &metadata)?)
    }

    /// The history of a file written by [`RunState::encode`]: what the run was, so that
    /// the caller can build it before reading the buffers with [`RunState::decode`].
    pub fn history(bytes: &[u8]) -> Result<History, StateError> {
        let metadata = checkpoint::load_metadata(bytes)?;
        if metadata.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
            return Err(StateError::NotState);
        }
        let version = metadata.get(VERSION_KEY).cloned().unwrap_or_default();
        if version != VERSION {
            return Err(StateError::Version { found: version });
        }
        let text = metadata.get(HISTORY_KEY).map_or("", String::as_str);
        serde_json::from_str(text).map_err(|e| StateError::History(e.to_string()))
    }

    /// Reads a file written by [`RunState::encode`], checking that its buffers have the
    /// lengths the model built from its history has: (parameters, running statistics,
    /// test images x classes).
    pub fn decode(bytes: &[u8], lengths: (usize, usize, usize)) -> Result<RunState, StateError> {
        RunState::with_buffers(bytes, RunState::history(bytes)?, lengths)
    }

    /// [`RunState::decode`] with the file's history already read by [`RunState::history`].
    pub fn with_buffers(
        bytes: &[u8],
        history: History,
        lengths: (usize, usize, usize),
    ) -> Result<RunState, StateError> {
        let (params_len, state_len, probabilities_len) = lengths;
        let mut tensors: std::collections::HashMap<String, Vec<f32>> = checkpoint::load(bytes)?
            .into_iter()
            .map(|t| (t.name, t.values))
            .collect();
        let mut take = |name: String, len: usize| {
            let values = tensors.remove(&name).ok_or_else(|| StateError::Tensor {
                name: name.clone(),
                problem: "is missing".into(),
            })?;
            match values.len() == len {
                true => Ok(values),
                false => Err(StateError::Tensor {
                    name,
                    problem: format!("has {} values where the model needs {len}", values.len()),
                }),
            }
        };
        let params = take("params".into(), params_len)?;
        let state = take("state".into(), state_len)?;
        let momentum = take("momentum".into(), params_len)?;
        let mut snapshots = Vec::with_capacity(history.snapshots.len());
        for k in 0..history.snapshots.len() {
            snapshots.push(SnapshotBuffers {
                params: take(snapshot_name(k, "params"), params_len)?,
                state: take(snapshot_name(k, "state"), state_len)?,
                probabilities: take(snapshot_name(k, "probabilities"), probabilities_len)?,
            });
        }
        let average = match history.averaged {
            0 => None,
            _ => Some(take(AVERAGE_NAME.into(), params_len)?),
        };
        if let Some(name) = tensors.into_keys().min() {
            return Err(StateError::Tensor {
                name,
                problem: "is not one the history accounts for".into(),
            });
        }
        Ok(RunState {
            history,
            params,
            state,
            momentum,
            snapshots,
            average,
        })
    }
}
