//! What a run gives out: its weights and snapshots as safetensors checkpoints with PyTorch's
//! names, and its summary for reports and comparisons.

use super::{TrainError, Trainer};
use crate::checkpoint::{self, NamedTensor};
use crate::gpu::Gpu;
use crate::metrics::SpeedRange;
use crate::train::data::Normalisation;
use crate::train::report::RunSummary;

impl Trainer {
    /// The weights and running statistics as named tensors, with PyTorch's names.
    pub async fn tensors(&self) -> Result<Vec<NamedTensor>, TrainError> {
        let gpu: &Gpu = &self.gpu;
        let l = &self.plan.layouts;
        let params = gpu
            .read_f32(&self.plan.params, 0, l.params.len as usize)
            .await?;
        let state = gpu
            .read_f32(&self.plan.state, 0, l.state.len as usize)
            .await?;
        Ok(self.named(&params, &state))
    }

    fn named(&self, params: &[f32], state: &[f32]) -> Vec<NamedTensor> {
        let l = &self.plan.layouts;
        let mut tensors = l.params.tensors(params);
        tensors.extend(l.state.tensors(state));
        tensors
    }

    /// Each batch norm's `num_batches_tracked` after `done` iterations: the steps its block
    /// trained for (a frozen block's norms stop counting).
    fn counters(&self, done: u64) -> Vec<(String, i64)> {
        self.plan
            .layouts
            .norms()
            .map(|(name, block)| {
                let steps = self.schedule.trained_iterations(block, done);
                (format!("{name}.num_batches_tracked"), steps as i64)
            })
            .collect()
    }

    /// What a checkpoint says of itself: the model, method and iteration, the inputs'
    /// normalisation and, when known, the dataset's name.
    fn metadata(&self, iteration: u64) -> Vec<(String, String)> {
        let mut metadata = vec![
            ("model".to_string(), self.config.model.name()),
            ("method".to_string(), self.config.method.label()),
            ("iteration".to_string(), iteration.to_string()),
        ];
        metadata.extend(self.data.normalisation.metadata());
        if !self.config.dataset.is_empty() {
            metadata.push(("dataset".to_string(), self.config.dataset.clone()));
        }
        metadata
    }

    /// How the inputs are normalised.
    pub fn normalisation(&self) -> Normalisation {
        self.data.normalisation
    }

    /// A safetensors checkpoint of the current weights (with BatchNorm's step counters, so
    /// PyTorch's strict loading accepts it) and the run's settings as metadata.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, TrainError> {
        let tensors = self.tensors().await?;
        let counters = self.counters(self.iteration);
        let metadata = self.metadata(self.iteration);
        Ok(checkpoint::save_with_counters(
            &tensors, &counters, &metadata,
        )?)
    }

    /// Snapshot `k` as a safetensors checkpoint, like [`Trainer::checkpoint`].
    pub async fn snapshot_checkpoint(&self, k: usize) -> Result<Vec<u8>, TrainError> {
        let l = &self.plan.layouts;
        let (params, state) = self
            .snapshots
            .store
            .read(&self.gpu, k, l.params.len as usize, l.state.len as usize)
            .await?;
        let done = self.snapshots().get(k).map_or(0, |s| s.iteration + 1);
        let mut metadata = self.metadata(done);
        metadata.push(("snapshot".to_string(), k.to_string()));
        Ok(checkpoint::save_with_counters(
            &self.named(&params, &state),
            &self.counters(done),
            &metadata,
        )?)
    }

    /// The run's results so far, for reports and comparisons.
    pub fn summary(&self) -> RunSummary {
        let costs: Vec<f64> = self.plan.blocks.iter().map(|b| b.forward_flops).collect();
        let images = (self.iteration * self.config.batch as u64) as f64;
        let train_seconds = self.train_seconds();
        let (record_ms, submit_ms) = self.timing.record_and_submit_ms();
        RunSummary {
            method: self.config.method.label(),
            title: self.config.method.title(),
            kind: self.config.method.kind().to_string(),
            iterations: self.iteration,
            train_seconds,
            images_per_second: match train_seconds {
                t if t > 0.0 => images / t,
                _ => 0.0,
            },
            final_test: self
                .evaluator
                .last_test
                .filter(|(at, _)| *at == self.iteration)
                .map(|(_, t)| t),
            snapshots: self.snapshots().to_vec(),
            ensemble: self.ensemble(),
            diversity: self.diversity(),
            swa: self.swa,
            theoretical_backward_saving: self.schedule.theoretical_backward_saving(&costs),
            measured_saving: self.measured_saving(),
            speed: SpeedRange::of(&self.timing.window_speeds),
            freeze_timing: self.timing.freeze.clone(),
            phases: self
                .timing
                .phases
                .iter()
                .filter(|p| p.steps > 0)
                .cloned()
                .collect(),
            record_ms,
            submit_ms,
            work: self.work(),
            resumes: self.resumes.clone(),
        }
    }
}
