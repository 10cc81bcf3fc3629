//! Saving a run's whole training state and building a run from one (see
//! [`crate::train::state`] for the file): after a lost device, a closed page or a stopped
//! program, the run goes on exactly where it was.

use std::rc::Rc;

use super::build::test_images;
use super::{TrainError, Trainer};
use crate::data::Dataset;
use crate::ensemble::Snapshot;
use crate::gpu::Gpu;
use crate::train::state::{
    DataIdentity, History, RunState, SnapshotBuffers, SnapshotRecord, StateError,
};

impl Trainer {
    /// The whole training state as a file's bytes (see [`crate::train::state`]): weights, running
    /// statistics, momentum, finished snapshots and the history. [`Trainer::restore`] goes
    /// on from it exactly as this run would have. Call it between [`Trainer::run`] calls.
    pub async fn save_state(&self) -> Result<Vec<u8>, TrainError> {
        let gpu: &Gpu = &self.gpu;
        let l = &self.plan.layouts;
        let (params_len, state_len) = (l.params.len as usize, l.state.len as usize);
        let params = gpu.read_f32(&self.plan.params, 0, params_len).await?;
        let state = gpu.read_f32(&self.plan.state, 0, state_len).await?;
        let momentum = gpu
            .read_f32(&self.optimizer.momentum, 0, params_len)
            .await?;
        let taken = self.snapshots();
        let mut snapshots = Vec::with_capacity(taken.len());
        for s in taken {
            let store = &self.snapshots.store;
            let (params, state) = store.read(gpu, s.index, params_len, state_len).await?;
            snapshots.push(SnapshotBuffers {
                params,
                state,
                probabilities: s.probabilities.clone(),
            });
        }
        let average = match &self.average {
            Some(a) if a.models > 0 => Some(gpu.read_f32(&a.weights, 0, params_len).await?),
            _ => None,
        };
        let history = History {
            config: self.config.clone(),
            data: self.data.identity,
            iteration: self.iteration,
            frozen: self.frozen,
            diverged: self.diverged,
            epoch_seconds: self.timing.epoch_seconds,
            last_test: self.evaluator.last_test,
            steps: self.steps.clone(),
            epochs: self.epochs.clone(),
            snapshots: taken
                .iter()
                .map(|s| SnapshotRecord {
                    index: s.index,
                    iteration: s.iteration,
                    test: s.test,
                })
                .collect(),
            phases: self.timing.phases.clone(),
            resumes: self.resumes.clone(),
            averaged: self.average.as_ref().map_or(0, |a| a.models),
            swa: self.swa,
        };
        let file = RunState {
            history,
            params,
            state,
            momentum,
            snapshots,
            average,
        };
        Ok(file.encode()?)
    }

    /// Checks, without a GPU, that a training state can go on with `train` and `test`: it
    /// is one, and it was saved for this data with its limits. Returns its history.
    pub fn check_state(
        bytes: &[u8],
        train: &Dataset,
        test: &Dataset,
    ) -> Result<History, TrainError> {
        let history = RunState::history(bytes)?;
        let config = &history.config;
        // Too few images for the saved settings is other data too (and said as such).
        let available = config
            .training_images(train.len())
            .map_or(0, |n| n + config.validation);
        let given = DataIdentity::of(train, available as usize, test, test_images(config, test));
        history.data.check(&given)?;
        Ok(history)
    }

    /// Builds the run a state from [`Trainer::save_state`] was saved from, on `gpu` (a new
    /// device after a lost one, or another process), and puts it where it was: the next
    /// [`Trainer::run`] goes on from the saved iteration. `train` and `test` must be the
    /// data it trained on, with the same limits.
    pub async fn restore(
        gpu: Rc<Gpu>,
        train: &Dataset,
        test: &Dataset,
        bytes: &[u8],
    ) -> Result<Trainer, TrainError> {
        let history = Trainer::check_state(bytes, train, test)?;
        let mut t = Trainer::new(gpu, train, test, history.config.clone(), None).await?;
        let damaged = |what: String| TrainError::State(StateError::History(what));
        if history.iteration > t.total {
            return Err(damaged(format!(
                "iteration {} is past the run's {} iterations",
                history.iteration, t.total
            )));
        }
        let taken = t
            .schedule
            .snapshot_iterations()
            .iter()
            .filter(|&&j| j < history.iteration)
            .count();
        let phases = t.timing.phases.len();
        if history.snapshots.len() != taken || history.phases.len() != phases {
            return Err(damaged(format!(
                "{} snapshots and {} phases where the schedule has {taken} and {phases}",
                history.snapshots.len(),
                history.phases.len(),
            )));
        }
        let averaged = t
            .schedule
            .average_iterations()
            .iter()
            .filter(|&&j| j < history.iteration)
            .count() as u32;
        // Averages are taken only after a clean readback, so a diverged run has them all.
        if history.averaged != averaged {
            return Err(damaged(format!(
                "{} models in SWA's average where the schedule has {averaged}",
                history.averaged
            )));
        }
        let l = &t.plan.layouts;
        let classes = t.plan.arch.classes as usize;
        let lengths = (
            l.params.len as usize,
            l.state.len as usize,
            t.evaluator.labels.len() * classes,
        );
        let saved = RunState::with_buffers(bytes, history, lengths)?;
        let history = saved.history;
        let gpu: &Gpu = &t.gpu;
        gpu.write(&t.plan.params, 0, &saved.params);
        gpu.write(&t.plan.state, 0, &saved.state);
        gpu.write(&t.optimizer.momentum, 0, &saved.momentum);
        // A run saved while standing at a divergence stands there again until resumed.
        let guard = t.plan.guard();
        let flag = if history.diverged.is_some() {
            1.0f32
        } else {
            0.0
        };
        gpu.write(guard.buffer, guard.offset as u64 * 4, &[flag]);
        let classes = t.plan.arch.classes as usize;
        for (record, buffers) in history.snapshots.iter().zip(saved.snapshots) {
            t.snapshots
                .store
                .restore(gpu, &buffers.params, &buffers.state);
            let member = Snapshot {
                index: record.index,
                iteration: record.iteration,
                test: record.test,
                probabilities: buffers.probabilities,
            };
            t.snapshots.push(member, &t.evaluator.labels, classes);
        }
        if let (Some(average), Some(weights)) = (t.average.as_mut(), &saved.average) {
            gpu.write(&average.weights, 0, weights);
            average.models = history.averaged;
        }
        t.swa = history.swa;
        // Mid-epoch, the epoch's order is not written again by the next step.
        let epoch = (history.iteration / t.steps_per_epoch) as u32;
        gpu.write(&t.data.train.indices, 0, &t.order(epoch));
        t.iteration = history.iteration;
        t.frozen = history.frozen;
        t.diverged = history.diverged;
        t.timing.epoch_seconds = history.epoch_seconds;
        t.evaluator.last_test = history.last_test;
        t.steps = history.steps;
        t.epochs = history.epochs;
        t.timing.phases = history.phases;
        t.resumes = history.resumes;
        Ok(t)
    }
}
