//! Evaluation and snapshots: the test set and the validation split run through the model in
//! inference mode, the test set's softmax outputs, and the snapshots (Snapshot Ensembles)
//! with the ensembles of the last m of them.

use super::loss::LossAndMetrics;
use super::{TrainError, Trainer};
use crate::ensemble::{
    diversity, ensemble_curve, Diversity, EnsemblePoint, Snapshot, SnapshotStore,
};
use crate::gpu::{Commands, Dispatch, Gpu, GpuError};
use crate::metrics::Evaluation;
use crate::nn::Plan;
use crate::schedule::{Method, RunSchedule};
use crate::train::config::bad;
use crate::train::config::{ConfigError, TrainConfig};
use crate::train::data::EvalSet;
use crate::train::events::Event;
use crate::train::probabilities::TestProbabilities;

/// The most GPU memory all snapshots together may take: they are kept on the GPU for the
/// whole run, beside the model.
pub const SNAPSHOT_MEMORY: u64 = 1 << 30;

/// An evaluation set with the loss launches of its full batches and of its last, partial one.
pub(super) struct Scored {
    set: EvalSet,
    full: [Dispatch; 2],
    last: Option<[Dispatch; 2]>,
}

impl Scored {
    pub fn new(
        gpu: &Gpu,
        plan: &Plan,
        loss: &LossAndMetrics,
        set: EvalSet,
    ) -> Result<Self, GpuError> {
        let classes = plan.arch.classes;
        let full = loss.evaluation_loss(gpu, plan, set.batch, classes)?;
        let rest = set.images % set.batch;
        let last = match rest {
            0 => None,
            n => Some(loss.evaluation_loss(gpu, plan, n, classes)?),
        };
        Ok(Scored { set, full, last })
    }

    /// Runs the set through the model in inference mode, batch by batch (writing the test
    /// set's `probabilities` too, if given), and reads back the loss and accuracy.
    async fn evaluate(
        &mut self,
        gpu: &Gpu,
        plan: &Plan,
        loss: &LossAndMetrics,
        probabilities: Option<&TestProbabilities>,
    ) -> Result<Evaluation, GpuError> {
        let set = &mut self.set;
        for b in 0..set.batches {
            set.gather.set_position(gpu, 0, b * set.batch);
            let head = match (&self.last, b + 1 == set.batches) {
                (Some(partial), true) => partial,
                _ => &self.full,
            };
            let mut work: Vec<&Dispatch> = vec![set.gather.dispatch()];
            for block in &plan.blocks {
                work.extend(block.infer.iter());
            }
            work.extend(head.iter());
            if let Some(p) = probabilities {
                work.push(p.batch(b));
            }
            let mut commands = Commands::new(gpu, "evaluation batch");
            if b == 0 {
                loss.open_evaluation(&mut commands);
                if let Some(p) = probabilities {
                    p.clear(&mut commands);
                }
            }
            commands.run(&work);
            commands.submit();
        }
        loss.read_evaluation(gpu).await
    }
}

/// The sets a run is evaluated on and the test set's outputs.
pub(super) struct Evaluator {
    test: Scored,
    validation: Option<Scored>,
    probabilities: TestProbabilities,
    /// The test labels, in the order of the probabilities.
    pub labels: Vec<u32>,
    /// The last test evaluation and the iteration count it was made at.
    pub last_test: Option<(u64, Evaluation)>,
}

impl Evaluator {
    /// Evaluation of `test` (with these `labels`) and of the `validation` split, if any.
    pub fn new(
        gpu: &Gpu,
        plan: &Plan,
        loss: &LossAndMetrics,
        test: EvalSet,
        validation: Option<EvalSet>,
        labels: Vec<u32>,
    ) -> Result<Self, GpuError> {
        let probabilities = TestProbabilities::new(
            gpu,
            plan.logits(),
            test.images,
            test.batch,
            plan.arch.classes,
        )?;
        Ok(Evaluator {
            test: Scored::new(gpu, plan, loss, test)?,
            validation: match validation {
                Some(v) => Some(Scored::new(gpu, plan, loss, v)?),
                None => None,
            },
            probabilities,
            labels,
            last_test: None,
        })
    }

    /// Whether the run holds out a validation split.
    pub fn has_validation(&self) -> bool {
        self.validation.is_some()
    }
}

/// The snapshots taken so far: their weights on the GPU, their test outputs on the host,
/// and what is computed from those outputs. The ensemble curve and the diversity are
/// recomputed only when a member is added or dropped: the page asks for the run's summary
/// after every paced call, and the pairwise comparisons over the test set are not free.
pub(super) struct Snapshots {
    pub store: SnapshotStore,
    taken: Vec<Snapshot>,
    curve: Vec<EnsemblePoint>,
    diversity: Option<Diversity>,
}

impl Snapshots {
    /// Room on the GPU for every snapshot `schedule` takes, so taking one is only a copy;
    /// refused when they would take more than [`SNAPSHOT_MEMORY`].
    pub fn new(
        gpu: &Gpu,
        plan: &Plan,
        schedule: &RunSchedule,
        config: &TrainConfig,
    ) -> Result<Self, TrainError> {
        let count = schedule.snapshot_iterations().len();
        let bytes = count as u64 * (plan.params.size() + plan.state.size());
        if bytes > SNAPSHOT_MEMORY {
            let (mib, allowed) = (bytes >> 20, SNAPSHOT_MEMORY >> 20);
            let need = format!("{count} members of this model need {mib} MiB of GPU memory, more than the {allowed} MiB allowed");
            return Err(match config.method {
                Method::Fge(f) => bad("cycle", f.cycle, format!("{need}; use longer cycles")),
                Method::Snapshot { cycles, .. } => {
                    bad("cycles", cycles, format!("{need}; use fewer cycles"))
                }
                _ => bad("method", config.method.label(), need),
            }
            .into());
        }
        Ok(Snapshots {
            store: SnapshotStore::new(gpu, count, &plan.params, &plan.state)?,
            taken: Vec::new(),
            curve: Vec::new(),
            diversity: None,
        })
    }

    /// Records a member (its weights are already in the store) with the test `labels` of
    /// its `classes`-class outputs.
    pub fn push(&mut self, member: Snapshot, labels: &[u32], classes: usize) {
        self.taken.push(member);
        self.refresh(labels, classes);
    }

    /// Drops the snapshots from `keep` on (they are taken again).
    pub fn truncate(&mut self, keep: usize, labels: &[u32], classes: usize) {
        self.store.truncate(keep);
        self.taken.truncate(keep);
        self.refresh(labels, classes);
    }

    fn refresh(&mut self, labels: &[u32], classes: usize) {
        self.curve = ensemble_curve(&self.taken, labels, classes);
        self.diversity = match self.taken.is_empty() {
            true => None,
            false => Some(diversity(&self.taken, labels, classes)),
        };
    }

    /// The members so far, in the order taken.
    pub fn taken(&self) -> &[Snapshot] {
        &self.taken
    }
}

impl Trainer {
    /// Loss and accuracy on the test set in inference mode.
    pub async fn evaluate_test(&mut self) -> Result<Evaluation, TrainError> {
        self.evaluate_test_set(false).await
    }

    /// The current model's softmax outputs on the test set (images x classes) with its
    /// loss and accuracy.
    pub async fn test_probabilities(&mut self) -> Result<(Evaluation, Vec<f32>), TrainError> {
        let test = self.evaluate_test_set(true).await?;
        Ok((test, self.evaluator.probabilities.read(&self.gpu).await?))
    }

    /// Evaluates the test set (writing its probabilities too, if asked) and remembers the
    /// result with the iteration it belongs to.
    async fn evaluate_test_set(&mut self, probabilities: bool) -> Result<Evaluation, TrainError> {
        let e = &mut self.evaluator;
        let probabilities = probabilities.then_some(&e.probabilities);
        let test = e
            .test
            .evaluate(&self.gpu, &self.plan, &self.loss, probabilities)
            .await?;
        e.last_test = Some((self.iteration, test));
        Ok(test)
    }

    /// Loss and accuracy on the validation split, if there is one.
    pub async fn evaluate_validation(&mut self) -> Result<Evaluation, TrainError> {
        let Some(set) = self.evaluator.validation.as_mut() else {
            return Err(TrainError::Config(ConfigError::Bad {
                setting: "validation",
                value: "0".into(),
                fix: "hold out some training images to evaluate on".into(),
            }));
        };
        Ok(set
            .evaluate(&self.gpu, &self.plan, &self.loss, None)
            .await?)
    }

    /// The test result for the end of an epoch: the one just made, if a snapshot taken at
    /// this very iteration was evaluated, else a new one.
    pub(super) async fn current_test(&mut self) -> Result<Evaluation, TrainError> {
        match self.evaluator.last_test {
            Some((at, test)) if at == self.iteration => Ok(test),
            _ => self.evaluate_test().await,
        }
    }

    /// Evaluates the snapshot just taken (the live weights are its weights) and records it.
    pub(super) async fn evaluate_snapshot(&mut self, index: usize) -> Result<(), TrainError> {
        let (test, probabilities) = self.test_probabilities().await?;
        let iteration = self.iteration - 1;
        let member = Snapshot {
            index,
            iteration,
            test,
            probabilities,
        };
        let classes = self.plan.arch.classes as usize;
        self.snapshots.push(member, &self.evaluator.labels, classes);
        self.events.push(Event::Snapshot {
            index,
            iteration,
            test,
            ensemble: self.ensemble(),
        });
        Ok(())
    }

    /// The snapshots taken so far, with their test-set probabilities.
    pub fn snapshots(&self) -> &[Snapshot] {
        self.snapshots.taken()
    }

    /// The test labels the probabilities are in the order of.
    pub fn test_labels(&self) -> &[u32] {
        &self.evaluator.labels
    }

    /// The ensembles of the last m snapshots, m = 1..=M so far (empty before the first).
    pub fn ensemble(&self) -> Vec<EnsemblePoint> {
        self.snapshots.curve.clone()
    }

    /// How the snapshots or members taken so far differ from each other (none before the
    /// first).
    pub fn diversity(&self) -> Option<Diversity> {
        self.snapshots.diversity.clone()
    }
}
