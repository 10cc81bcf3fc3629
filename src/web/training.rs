//! The trainer for the page: datasets from file bytes, a training run driven step by step
//! from JavaScript, metrics, events and checkpoints. Thin over [`crate::train`].

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{to_js, GpuSession};
use crate::data::{
    idx_images_needed, maybe_gunzip, parse_cifar10, parse_idx_prefix, Dataset, GZIP_MAGIC,
};
use crate::schedule::Method;
use crate::train::report::{self, RunRecord};
use crate::train::{Stride, TrainConfig, Trainer};

fn js_error(message: impl std::fmt::Display) -> JsValue {
    JsError::new(&message.to_string()).into()
}

/// Reads a plain JS object as `T` through JSON text: serde-wasm-bindgen only looks up the
/// fields it knows, so a misspelt field would be silently ignored, where serde_json's
/// `deny_unknown_fields` types and missing fields are caught.
fn from_js<T: serde::de::DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    let text = js_sys::JSON::stringify(value)
        .map(String::from)
        .map_err(|_| js_error(format!("the {what} are not a plain object")))?;
    serde_json::from_str(&text).map_err(|e| js_error(format!("bad {what}: {e}")))
}

/// The comparison of runs kept as `[{finished, forward_seconds_per_step, summary}]` (the
/// summaries from `TrainingRun.summary`): `{reference, rows}`, one row per method, the
/// same rows `snapfreeze compare` and `snapfreeze report` print.
#[wasm_bindgen(js_name = compareRuns)]
pub fn compare_runs(records: JsValue) -> Result<JsValue, JsValue> {
    let records: Vec<RunRecord> = from_js(&records, "run records")?;
    to_js(&report::compare(&records))
}

/// The comparison's verdict in plain sentences (`records` as `compareRuns` takes them): the
/// test set's noise, the best method, each against the baseline, each ensemble against its
/// best member, SWA against its last SGD weights, what FreezeOut saved.
#[wasm_bindgen(js_name = comparisonVerdict)]
pub fn comparison_verdict(records: JsValue) -> Result<JsValue, JsValue> {
    let records: Vec<RunRecord> = from_js(&records, "run records")?;
    to_js(&crate::train::verdict::verdict(&report::compare(&records)))
}

/// The most steps one paced `TrainingRun.advance` call runs.
#[wasm_bindgen(js_name = maxPacedSteps)]
pub fn max_paced_steps() -> u32 {
    crate::train::trainer::MAX_PACED_STEPS as u32
}

/// A method's name for people (`method` as in the settings' `method` field), as the CLI's
/// tables print it: `Snapshot Ensemble (M = 5)`.
#[wasm_bindgen(js_name = methodTitle)]
pub fn method_title(method: JsValue) -> Result<String, JsValue> {
    let method: Method = from_js(&method, "method settings")?;
    Ok(method.title())
}

/// One setting that cannot work, for the page to show beside its field.
#[derive(serde::Serialize)]
struct SettingProblem {
    /// The setting as the CLI spells it (`lr`, `t0`, `cycles`, `swa-start`, `model`, ...).
    setting: &'static str,
    /// What to do instead.
    fix: String,
    /// The whole sentence, naming the setting and the value given.
    message: String,
}

/// Every problem with the training settings `config` (as `startTraining` takes them),
/// before anything trains: `[{setting, fix, message}]`, empty when the run can start. With
/// `trainImages` (the training set's size) the data's and the run length's checks too.
/// Throws only when `config` is not settings.
#[wasm_bindgen(js_name = checkSettings)]
pub fn check_settings(config: JsValue, train_images: Option<u32>) -> Result<JsValue, JsValue> {
    let config: TrainConfig = from_js(&config, "training settings")?;
    let problems = match train_images {
        Some(images) => config.problems_with_data(images as usize),
        None => config.problems(),
    };
    let problems: Vec<SettingProblem> = problems
        .into_iter()
        .map(|e| SettingProblem {
            setting: e.setting(),
            fix: e.fix(),
            message: e.to_string(),
        })
        .collect();
    to_js(&problems)
}

/// The softmax outputs (Float64Array, one per class) of the model `model` (as in the
/// settings' `model` field) saved in `checkpoint` (safetensors, as the page exports them) on
/// one image of raw pixels (`channels` x `height` x `width` bytes): the page's "draw a digit".
/// Computed on the CPU in f64 (`train::predict`); throws a message on a bad checkpoint or
/// shape.
#[wasm_bindgen(js_name = predictImage)]
pub fn predict_image(
    model: JsValue,
    classes: u32,
    channels: u32,
    height: u32,
    width: u32,
    checkpoint: &[u8],
    pixels: &[u8],
) -> Result<js_sys::Float64Array, JsValue> {
    let spec: crate::nn::ModelSpec = from_js(&model, "model")?;
    let p = crate::train::predict::image_probabilities(
        &spec,
        classes,
        (channels, height, width),
        checkpoint,
        pixels,
    )
    .map_err(js_error)?;
    Ok(js_sys::Float64Array::from(p.as_slice()))
}

/// What a safetensors checkpoint says of itself: `{model, metadata}`, `model` as the
/// settings' `model` field (from its metadata's model name), `metadata` every entry. Throws a
/// message when the file is not a checkpoint or names no model this program builds.
#[wasm_bindgen(js_name = checkpointInfo)]
pub fn checkpoint_info(bytes: &[u8]) -> Result<JsValue, JsValue> {
    #[derive(serde::Serialize)]
    struct Info {
        model: crate::nn::ModelSpec,
        metadata: std::collections::BTreeMap<String, String>,
    }
    let metadata = crate::checkpoint::load_metadata(bytes).map_err(js_error)?;
    let name = metadata
        .get("model")
        .ok_or_else(|| js_error("the checkpoint's metadata names no model"))?;
    let model = crate::nn::ModelSpec::from_name(name).ok_or_else(|| {
        js_error(format!(
            "the checkpoint's model '{name}' is not one this program builds"
        ))
    })?;
    to_js(&Info {
        model,
        metadata: metadata.into_iter().collect(),
    })
}

/// A dataset parsed in the page.
#[wasm_bindgen]
pub struct WebDataset {
    data: Rc<Dataset>,
    /// Images in the files it came from (it may keep only the first few).
    file_images: usize,
}

#[wasm_bindgen]
impl WebDataset {
    /// Parses IDX image and label files (raw or gzip), keeping the first `limit` images
    /// (all when 0 or absent). Of raw images only those bytes are copied out of the array,
    /// so a small subset of a large file costs little. Throws a message naming what is
    /// wrong with a bad file (the whole file is checked).
    #[wasm_bindgen(js_name = fromIdx)]
    pub fn from_idx(
        images: &js_sys::Uint8Array,
        labels: &[u8],
        limit: Option<u32>,
    ) -> Result<WebDataset, JsValue> {
        let limit = limit.unwrap_or(0) as usize;
        let total = images.length();
        let head = images.subarray(0, total.min(16)).to_vec();
        let (data, file_images) = if head.starts_with(&GZIP_MAGIC) {
            // Compressed: the whole file is needed to inflate the part kept.
            let compressed = images.to_vec();
            let bytes = maybe_gunzip("image file", &compressed).map_err(js_error)?;
            parse_idx_prefix(&bytes, bytes.len() as u64, labels, limit)
        } else {
            let needed = idx_images_needed(&head, limit).min(total as usize) as u32;
            parse_idx_prefix(
                &images.subarray(0, needed).to_vec(),
                total as u64,
                labels,
                limit,
            )
        }
        .map_err(js_error)?;
        Ok(WebDataset {
            data: Rc::new(data),
            file_images: file_images as usize,
        })
    }

    /// Parses CIFAR-10 binary batches (an array of byte arrays).
    #[wasm_bindgen(js_name = fromCifar10)]
    pub fn from_cifar10(batches: Vec<js_sys::Uint8Array>) -> Result<WebDataset, JsValue> {
        let bytes: Vec<Vec<u8>> = batches.iter().map(|b| b.to_vec()).collect();
        let slices: Vec<&[u8]> = bytes.iter().map(|b| b.as_slice()).collect();
        let data = parse_cifar10(&slices).map_err(js_error)?;
        Ok(WebDataset {
            file_images: data.len(),
            data: Rc::new(data),
        })
    }

    /// Pixels of images `start..start + count` (clipped to the set), each channels x
    /// height x width bytes, for drawing them in the page.
    pub fn pixels(&self, start: usize, count: usize) -> js_sys::Uint8Array {
        let size = self.data.image_len();
        let end = start.saturating_add(count).min(self.data.len());
        let start = start.min(end);
        js_sys::Uint8Array::from(&self.data.images[start * size..end * size])
    }

    /// `{channels, height, width, classes}`, the image count, and the count in the files.
    pub fn describe(&self) -> Result<JsValue, JsValue> {
        #[derive(serde::Serialize)]
        struct Description<'a> {
            #[serde(flatten)]
            shape: &'a Dataset,
            images: usize,
            file_images: usize,
        }
        to_js(&Description {
            shape: &self.data,
            images: self.data.len(),
            file_images: self.file_images,
        })
    }
}

/// Checks, without the GPU, that a training state (`TrainingRun.saveState`) can go on with
/// these datasets: it is one, and it was saved for this data with its limits. Throws a
/// message saying what does not fit.
#[wasm_bindgen(js_name = checkTrainingState)]
pub fn check_training_state(
    state: &[u8],
    train: &WebDataset,
    test: &WebDataset,
) -> Result<(), JsValue> {
    Trainer::check_state(state, &train.data, &test.data)
        .map(|_| ())
        .map_err(js_error)
}

/// A training run in the page. Methods that touch the GPU return Promises; call one at a
/// time (a second call while one runs is rejected, not queued).
#[wasm_bindgen]
pub struct TrainingRun {
    // Empty while an async call has the trainer out: a concurrent call finds it missing and
    // is refused with a message.
    trainer: Rc<RefCell<Option<Trainer>>>,
}

#[wasm_bindgen]
impl GpuSession {
    /// Builds a run: `config` holds any [`TrainConfig`] fields (the rest take defaults),
    /// `init` optional safetensors weights. Resolves to a [`TrainingRun`].
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(
        &self,
        config: JsValue,
        train: &WebDataset,
        test: &WebDataset,
        init: Option<Vec<u8>>,
    ) -> Promise {
        let gpu = Rc::clone(&self.gpu);
        let (train, test) = (Rc::clone(&train.data), Rc::clone(&test.data));
        future_to_promise(async move {
            let config: TrainConfig = if config.is_undefined() || config.is_null() {
                TrainConfig::default()
            } else {
                from_js(&config, "training settings")?
            };
            let trainer = Trainer::new(gpu, &train, &test, config, init.as_deref())
                .await
                .map_err(js_error)?;
            Ok(TrainingRun {
                trainer: Rc::new(RefCell::new(Some(trainer))),
            }
            .into())
        })
    }

    /// Goes on with a run from a training state (`TrainingRun.saveState`), typically on a
    /// new session after the device was lost: `train` and `test` must be the data it
    /// trained on, opened with the same limits. Resolves to a [`TrainingRun`] standing where
    /// the state was saved; rejects with a message naming what does not fit.
    #[wasm_bindgen(js_name = restoreTraining)]
    pub fn restore_training(
        &self,
        state: Vec<u8>,
        train: &WebDataset,
        test: &WebDataset,
    ) -> Promise {
        let gpu = Rc::clone(&self.gpu);
        let (train, test) = (Rc::clone(&train.data), Rc::clone(&test.data));
        future_to_promise(async move {
            let trainer = Trainer::restore(gpu, &train, &test, &state)
                .await
                .map_err(js_error)?;
            Ok(TrainingRun {
                trainer: Rc::new(RefCell::new(Some(trainer))),
            }
            .into())
        })
    }

    /// Buffers and bind groups created on this device so far.
    #[wasm_bindgen(js_name = resourceCounts)]
    pub fn resource_counts(&self) -> Result<JsValue, JsValue> {
        to_js(&self.gpu.resource_counts())
    }
}

const BUSY: &str = "the training run is busy with another call; wait for it to finish";

impl TrainingRun {
    /// Runs `f` on the trainer unless an async call has it.
    fn with<T>(&self, f: impl FnOnce(&mut Trainer) -> T) -> Result<T, JsValue> {
        let mut slot = self.trainer.borrow_mut();
        let trainer = slot.as_mut().ok_or_else(|| js_error(BUSY))?;
        Ok(f(trainer))
    }
}

/// Takes the trainer out for an async call; [`put_back`] returns it.
fn take(cell: &RefCell<Option<Trainer>>) -> Result<Trainer, JsValue> {
    cell.borrow_mut().take().ok_or_else(|| js_error(BUSY))
}

fn put_back(cell: &RefCell<Option<Trainer>>, trainer: Trainer) {
    *cell.borrow_mut() = Some(trainer);
}

#[wasm_bindgen]
impl TrainingRun {
    /// Runs to the next epoch end at most as far as `stride` allows (`{steps: n}` or
    /// `{seconds: s}`: about s seconds, paced by the last call's speed); resolves to
    /// `{steps, iteration, state_due, outcome}` with `outcome.kind` one of `ran`,
    /// `epoch_ended` (keep the training state now: `state_due`), `finished`, `diverged`
    /// (`iteration`, `loss`, `message`: stands there until `resume`) or `device_lost`
    /// (`reason`, `message`: go on from the last state on a new session). Rejects on other
    /// failures.
    pub fn advance(&self, stride: JsValue) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let stride: Stride = from_js(&stride, "stride")?;
            let mut t = take(&trainer)?;
            let result = t.advance(stride).await;
            put_back(&trainer, t);
            to_js(&result.map_err(js_error)?)
        })
    }

    /// Runs up to `iterations` more steps; resolves when their metrics are read back.
    pub fn run(&self, iterations: u32) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = t.run(iterations as u64).await;
            put_back(&trainer, t);
            result.map_err(js_error)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Runs up to `steps` more steps with every kernel timed on the GPU (timestamp
    /// queries); resolves to `{kernels: [{kernel, launches, ms}], untimed}`, slowest first.
    /// Rejects on adapters without the `timestamp-query` feature.
    #[wasm_bindgen(js_name = profileKernels)]
    pub fn profile_kernels(&self, steps: u32) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = t.kernel_profile(steps as u64).await;
            put_back(&trainer, t);
            to_js(&result.map_err(js_error)?)
        })
    }

    /// The share of a full training step taken by the kernels whose names start with
    /// `prefix`, measured by difference, without timestamps: the step against the step
    /// without those launches and with each of them twice, in `rounds` interleaved rounds.
    /// Resolves to `{kernels, launches, step_ms, removed: {median, low, high}, doubled:
    /// {median, low, high}, rounds, steps_per_round}` (removed: 1 - without / full; doubled:
    /// twice / full - 1), or null when no kernel of the step matches. The weights and
    /// running statistics are put back, the momentum is not: call it on a finished run.
    #[wasm_bindgen(js_name = timeKernelShare)]
    pub fn time_kernel_share(&self, prefix: String, rounds: u32) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = t.time_kernel_share(&prefix, rounds).await;
            put_back(&trainer, t);
            to_js(&result.map_err(js_error)?)
        })
    }

    /// Evaluates the test set now; resolves to `{loss, accuracy, images}`.
    #[wasm_bindgen(js_name = evaluateTest)]
    pub fn evaluate_test(&self) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = t.evaluate_test().await;
            put_back(&trainer, t);
            to_js(&result.map_err(js_error)?)
        })
    }

    /// `{iteration, total, stepsPerEpoch, finished, divergedAt}`; `divergedAt` is the
    /// iteration training diverged at (and stands at) until `resume`, else null.
    pub fn progress(&self) -> Result<JsValue, JsValue> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Progress {
            iteration: u64,
            total: u64,
            steps_per_epoch: u64,
            finished: bool,
            diverged_at: Option<u64>,
        }
        let p = self.with(|t| Progress {
            iteration: t.iteration(),
            total: t.total_iterations(),
            steps_per_epoch: t.steps_per_epoch(),
            finished: t.is_finished(),
            diverged_at: t.diverged_at(),
        })?;
        to_js(&p)
    }

    /// After a divergence: multiplies every learning rate by `factor` (0 < factor <= 1) from
    /// the step that diverged on, and lets `run` go on from there; returns the new base rate.
    pub fn resume(&self, factor: f64) -> Result<f64, JsValue> {
        let trainer = Rc::clone(&self.trainer);
        let mut t = take(&trainer)?;
        let result = t.resume(factor);
        put_back(&trainer, t);
        result.map_err(js_error)
    }

    /// Step metrics from index `from` on.
    pub fn steps(&self, from: usize) -> Result<JsValue, JsValue> {
        let steps = self.with(|t| t.steps().get(from..).unwrap_or(&[]).to_vec())?;
        to_js(&steps)
    }

    /// Every finished epoch's metrics.
    pub fn epochs(&self) -> Result<JsValue, JsValue> {
        let epochs = self.with(|t| t.epochs().to_vec())?;
        to_js(&epochs)
    }

    /// Events since the last call.
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&self) -> Result<JsValue, JsValue> {
        let events = self.with(|t| t.take_events())?;
        to_js(&events)
    }

    /// The model: name, parameter count, blocks, and the forward algorithm and weight-gradient
    /// kernel per conv shape.
    pub fn model(&self) -> Result<JsValue, JsValue> {
        #[derive(serde::Serialize)]
        struct Model {
            name: String,
            parameters: u32,
            blocks: Vec<String>,
            forward_algorithms: Vec<String>,
            input_grad_kernels: Vec<String>,
            weight_grad_kernels: Vec<String>,
        }
        let m = self.with(|t| {
            let plan = t.plan();
            Model {
                name: t.config().model.name(),
                parameters: plan.layouts.params.len,
                blocks: plan.arch.blocks.iter().map(|b| b.name.clone()).collect(),
                forward_algorithms: plan
                    .algorithms
                    .iter()
                    .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                    .collect(),
                input_grad_kernels: plan
                    .input_grads
                    .iter()
                    .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                    .collect(),
                weight_grad_kernels: plan
                    .weight_grads
                    .iter()
                    .map(|(s, a)| format!("{}: {}", s.describe(), a.label()))
                    .collect(),
            }
        })?;
        to_js(&m)
    }

    /// The current weights as a safetensors file (Uint8Array).
    pub fn checkpoint(&self) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let t = take(&trainer)?;
            let result = t.checkpoint().await;
            put_back(&trainer, t);
            let bytes = result.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The whole training state (Uint8Array): weights, running statistics, momentum,
    /// finished snapshots and the history. `GpuSession.restoreTraining` goes on from it, on
    /// this device or a new one, exactly as this run would have.
    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(&self) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let t = take(&trainer)?;
            let result = t.save_state().await;
            put_back(&trainer, t);
            let bytes = result.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The run so far: method, training time and speed, snapshots with their test results,
    /// the ensemble curve (m = 1..M), FLOPs executed, launches by kernel and FreezeOut's
    /// expected saving.
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        let summary = self.with(|t| t.summary())?;
        to_js(&summary)
    }

    /// The schedule sampled at `samples` evenly spaced iterations (at least 2):
    /// `{total, iterations, blocks: [{name, fraction, freezeIteration, lrs}], snapshotIterations}`,
    /// with `lrs[k]` the block's rate at `iterations[k]` (null once frozen).
    #[wasm_bindgen(js_name = scheduleTable)]
    pub fn schedule_table(&self, samples: u32) -> Result<JsValue, JsValue> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Block {
            name: String,
            fraction: f64,
            freeze_iteration: Option<u64>,
            lrs: Vec<Option<f64>>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Table {
            total: u64,
            iterations: Vec<u64>,
            blocks: Vec<Block>,
            snapshot_iterations: Vec<u64>,
        }
        let table = self.with(|t| {
            let run = *t.schedule();
            let samples = samples.clamp(2, 10_000) as u64;
            let last = run.total.saturating_sub(1);
            let iterations: Vec<u64> = (0..samples).map(|k| k * last / (samples - 1)).collect();
            let blocks = t
                .plan()
                .arch
                .blocks
                .iter()
                .enumerate()
                .map(|(i, b)| Block {
                    name: b.name.clone(),
                    fraction: run.fraction(i),
                    freeze_iteration: run.freeze_iteration(i),
                    lrs: iterations.iter().map(|&j| run.block_lr(i, j)).collect(),
                })
                .collect();
            Table {
                total: run.total,
                iterations,
                blocks,
                snapshot_iterations: run.snapshot_iterations(),
            }
        })?;
        to_js(&table)
    }

    /// Snapshot `k`'s softmax outputs on the test set (Float32Array, images x classes).
    #[wasm_bindgen(js_name = snapshotProbabilities)]
    pub fn snapshot_probabilities(&self, k: usize) -> Result<js_sys::Float32Array, JsValue> {
        let probs = self.with(|t| t.snapshots().get(k).map(|s| s.probabilities.clone()))?;
        let probs = probs.ok_or_else(|| js_error(format!("there is no snapshot {k}")))?;
        Ok(js_sys::Float32Array::from(probs.as_slice()))
    }

    /// The class the model as it stands now predicts for every test image (Uint16Array, in
    /// the order of `testLabels`): one more pass over the test set. The page's per-class
    /// view and confusion matrix read a finished or stopped run's final model from it.
    #[wasm_bindgen(js_name = testPredictions)]
    pub fn test_predictions(&self) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let classes = t.plan().arch.classes as usize;
            let result = t.test_probabilities().await;
            put_back(&trainer, t);
            let (_, probabilities) = result.map_err(js_error)?;
            let predicted: Vec<u16> = probabilities
                .chunks(classes.max(1))
                .map(|row| {
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(0, |best, (c, &p)| if p > row[best] { c } else { best });
                    best as u16
                })
                .collect();
            Ok(js_sys::Uint16Array::from(predicted.as_slice()).into())
        })
    }

    /// The test labels, in the order of the probabilities (Uint32Array).
    #[wasm_bindgen(js_name = testLabels)]
    pub fn test_labels(&self) -> Result<js_sys::Uint32Array, JsValue> {
        let labels = self.with(|t| t.test_labels().to_vec())?;
        Ok(js_sys::Uint32Array::from(labels.as_slice()))
    }

    /// Seconds per step of the training step's forward half alone, timed over `steps`
    /// steps once the run has finished (the page splits a baseline's step time into forward
    /// and backward with it). Rejects while steps remain.
    #[wasm_bindgen(js_name = timeForwardPass)]
    pub fn time_forward_pass(&self, steps: u32) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = if t.is_finished() {
                t.time_forward_pass(steps.clamp(1, 64))
                    .await
                    .map_err(js_error)
            } else {
                Err(js_error("time the forward pass after the run has finished"))
            };
            put_back(&trainer, t);
            Ok(JsValue::from_f64(result?))
        })
    }

    /// FreezeOut's step time saving, timed once the run has finished in `rounds`
    /// interleaved rounds of every kind of step it ran (`Trainer::time_freezing`); the
    /// summary carries it from then on. Resolves to `{saving, low, high, rounds,
    /// steps_per_round, step_seconds}`, or null when nothing froze.
    #[wasm_bindgen(js_name = timeFreezing)]
    pub fn time_freezing(&self, rounds: u32) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = t.time_freezing(rounds.clamp(1, 20)).await.map_err(js_error);
            put_back(&trainer, t);
            match result? {
                Some(timing) => to_js(&timing),
                None => Ok(JsValue::NULL),
            }
        })
    }

    /// The ensemble checked end to end on the CPU (`train::verify`): every snapshot or FGE
    /// member (or the final model, for a run without members) evaluated again in f64 from
    /// its checkpoint file on `test`, the test set it trained with. Resolves to
    /// `{members, images, ties, max_probability_difference, member_accuracy, curve, vote,
    /// mismatches}`; `mismatches` is empty when the trainer and the CPU agree. Slow on large
    /// test sets: meant for checks on a few hundred images.
    #[wasm_bindgen(js_name = checkEnsemble)]
    pub fn check_ensemble(&self, test: &WebDataset) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        let test = Rc::clone(&test.data);
        future_to_promise(async move {
            let mut t = take(&trainer)?;
            let result = crate::train::check_ensemble(&mut t, &test).await;
            put_back(&trainer, t);
            to_js(&result.map_err(js_error)?)
        })
    }

    /// Snapshot `k` as a safetensors file (Uint8Array).
    #[wasm_bindgen(js_name = snapshotCheckpoint)]
    pub fn snapshot_checkpoint(&self, k: usize) -> Promise {
        let trainer = Rc::clone(&self.trainer);
        future_to_promise(async move {
            let t = take(&trainer)?;
            let result = t.snapshot_checkpoint(k).await;
            put_back(&trainer, t);
            let bytes = result.map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }
}
