//! Training settings and the checks that reject absurd ones before anything runs.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::nn::{ForwardChoice, KernelVariants, ModelSpec, SpecError};
use crate::schedule::Method;

/// Everything that defines a training run. Missing fields take their defaults when read
/// from JSON (the page sends only what the user changed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The network.
    pub model: ModelSpec,
    /// Passes over the training images.
    pub epochs: u32,
    /// Images per step.
    pub batch: u32,
    /// Base learning rate (default 0.01, the small CNN's; see `ModelSpec::default_lr`).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum (the papers' choice).
    pub nesterov: bool,
    /// L2 weight decay, applied to every parameter as PyTorch's SGD does.
    pub weight_decay: f64,
    /// Seed of the initial weights, the shuffles and the augmentation.
    pub seed: u64,
    /// The method: baseline schedule, Snapshot Ensembles or FreezeOut.
    pub method: Method,
    /// Random crops (zero padding of 2 pixels for 28x28 images, 4 otherwise).
    pub augment: bool,
    /// Random horizontal flips (for natural images and clothes, not digits).
    pub flip: bool,
    /// A new random order of the training images every epoch.
    pub shuffle: bool,
    /// Training images held out (the last ones of the training file) to validate on.
    pub validation: u32,
    /// Use only the first this-many training images (0: all).
    pub train_limit: u32,
    /// Use only the first this-many test images (0: all).
    pub test_limit: u32,
    /// Read loss and accuracy back every this-many steps (1 to 64).
    pub readback_every: u32,
    /// Evaluate on the test set (and validation split) after every epoch.
    pub eval_every_epoch: bool,
    /// How the convolutions' forward algorithm is picked.
    pub forward: ForwardChoice,
    /// How the convolutions' weight-gradient kernel is picked.
    pub kernel_variants: KernelVariants,
    /// The dataset's name (`mnist`, `fashion`, `cifar10`, or a user's), recorded in
    /// checkpoints; empty when unknown.
    pub dataset: String,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelSpec::Small { width: 32 },
            epochs: 2,
            batch: 64,
            lr: 0.01,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            seed: 1,
            method: Method::default(),
            augment: false,
            flip: false,
            shuffle: true,
            validation: 0,
            train_limit: 0,
            test_limit: 0,
            readback_every: 16,
            eval_every_epoch: true,
            forward: ForwardChoice::Measure,
            kernel_variants: KernelVariants::Measure,
            dataset: String::new(),
        }
    }
}

/// A method's optional rate: positive and at most 10 when given.
fn check_rate(setting: &'static str, rate: Option<f64>) -> Result<(), ConfigError> {
    match rate {
        Some(a) if !(a.is_finite() && a > 0.0 && a <= 10.0) => {
            Err(bad(setting, a, "use a positive learning rate up to 10"))
        }
        _ => Ok(()),
    }
}

/// The most steps between readbacks (metric slots on the GPU).
pub const MAX_READBACK_EVERY: u32 = 64;

/// A setting that cannot work, and what to do instead.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// A setting out of its range.
    #[error("{setting} = {value} is not allowed: {fix}")]
    Bad {
        /// The setting's name as the CLI spells it.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What to use instead.
        fix: String,
    },
    /// The model's depth or width is not allowed.
    #[error(transparent)]
    Model(#[from] SpecError),
}

impl ConfigError {
    /// The setting at fault as the CLI spells it (`model` for the network's shape).
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Bad { setting, .. } => setting,
            ConfigError::Model(_) => "model",
        }
    }

    /// What to do instead, without the setting's name (for a message beside its field).
    pub fn fix(&self) -> String {
        match self {
            ConfigError::Bad { fix, .. } => fix.clone(),
            ConfigError::Model(e) => e.to_string(),
        }
    }
}

/// A [`ConfigError::Bad`] for `setting`.
pub(crate) fn bad(
    setting: &'static str,
    value: impl ToString,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError::Bad {
        setting,
        value: value.to_string(),
        fix: fix.into(),
    }
}

impl TrainConfig {
    /// Checks the settings that do not depend on the data: the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Every setting that does not depend on the data and cannot work, one error per
    /// setting, so a form can mark each bad field at once.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut found = Vec::new();
        if let Err(e) = self.model.validate() {
            found.push(e.into());
        }
        if self.epochs == 0 || self.epochs > 10_000 {
            found.push(bad("epochs", self.epochs, "use 1 to 10000"));
        }
        if self.batch < 2 || self.batch > 4096 {
            found.push(bad(
                "batch",
                self.batch,
                "use 2 to 4096 (batch norm needs at least 2 images per batch)",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            found.push(bad("lr", self.lr, "use a positive learning rate up to 10"));
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            found.push(bad("momentum", self.momentum, "use 0 <= momentum < 1"));
        } else if self.nesterov && self.momentum == 0.0 {
            found.push(bad(
                "momentum",
                self.momentum,
                "Nesterov momentum needs momentum > 0; set momentum or turn Nesterov off",
            ));
        }
        if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
            found.push(bad(
                "weight-decay",
                self.weight_decay,
                "use 0 <= weight decay < 1",
            ));
        }
        found.extend(self.method_problems());
        if !(1..=MAX_READBACK_EVERY).contains(&self.readback_every) {
            found.push(bad(
                "readback-every",
                self.readback_every,
                format!("use 1 to {MAX_READBACK_EVERY}"),
            ));
        }
        found
    }

    fn method_problems(&self) -> Vec<ConfigError> {
        let mut found = Vec::new();
        match self.method {
            Method::Baseline { .. } => {}
            Method::Snapshot { cycles, alpha0 } => {
                if cycles == 0 || cycles > 1000 {
                    found.push(bad("cycles", cycles, "use 1 to 1000 snapshot cycles"));
                }
                found.extend(check_rate("alpha0", alpha0).err());
            }
            Method::Freezeout(f) => {
                if !(f.t0.is_finite() && f.t0 > 0.0 && f.t0 <= 1.0) {
                    found.push(bad("t0", f.t0, "use 0 < t0 <= 1"));
                }
            }
            Method::Fge(f) => {
                if !(f.pretrain.is_finite() && f.pretrain > 0.0 && f.pretrain < 1.0) {
                    let fix = "use a fraction of the epochs between 0 and 1 (the paper: 0.8)";
                    found.push(bad("pretrain", f.pretrain, fix));
                }
                if f.cycle < 2 || f.cycle > 1000 || f.cycle % 2 == 1 {
                    let fix = "use an even number of epochs per cycle, 2 to 1000";
                    found.push(bad("cycle", f.cycle, fix));
                }
                found.extend(check_rate("alpha1", f.alpha1).err());
                found.extend(check_rate("alpha2", f.alpha2).err());
            }
            Method::Swa(w) => {
                if !(w.start.is_finite() && w.start > 0.0 && w.start <= 1.0) {
                    let fix = "use a fraction of the epochs in (0, 1] (the papers: about 0.54)";
                    found.push(bad("swa-start", w.start, fix));
                }
                found.extend(check_rate("swa-lr", w.lr).err());
            }
        }
        found
    }

    /// Every problem with these settings on a training set of `images` images (before the
    /// validation split and limit): those of [`Self::problems`], then, when the settings
    /// that size the run are sound, the data's and the run length's
    /// ([`Self::training_images`], [`Self::check_budget`]). What the page checks before
    /// any of a comparison's runs trains.
    pub fn problems_with_data(&self, images: usize) -> Vec<ConfigError> {
        let mut found = self.problems();
        let sizes_run = ["epochs", "batch", "validation"];
        if found.iter().any(|e| sizes_run.contains(&e.setting())) {
            return found;
        }
        match self.training_images(images) {
            Err(e) => found.push(e),
            Ok(train) => {
                let total = (train / self.batch) as u64 * self.epochs as u64;
                let method_checked = found
                    .iter()
                    .any(|e| matches!(e.setting(), "cycles" | "pretrain" | "cycle"));
                if !method_checked {
                    found.extend(self.check_budget(total).err());
                }
            }
        }
        found
    }

    /// Checks the settings that need the run's length: `total` iterations of `images`
    /// training images.
    pub fn check_budget(&self, total: u64) -> Result<(), ConfigError> {
        let epochs = self.epochs as u64;
        match self.method {
            Method::Snapshot { cycles, .. } if cycles as u64 > total => Err(bad(
                "cycles",
                cycles,
                format!(
                    "the run has only {total} iteration{}; use at most that many cycles or train longer",
                    if total == 1 { "" } else { "s" }
                ),
            )),
            Method::Fge(f) if f.pretrain_epochs(epochs) == 0 => Err(bad(
                "pretrain",
                f.pretrain,
                format!("{epochs} epochs x {} leaves no whole epoch of pre-training; raise it or train longer", f.pretrain),
            )),
            Method::Fge(f) if f.members(epochs) == 0 => Err(bad(
                "cycle",
                f.cycle,
                format!(
                    "the {} epochs after pre-training never reach a cycle's middle epoch, so no member would be taken; use shorter cycles, less pre-training or more epochs",
                    epochs - f.pretrain_epochs(epochs)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checks the settings against a training set of `images` images (before the
    /// validation split and limit); returns the number of images trained on.
    pub fn training_images(&self, images: usize) -> Result<u32, ConfigError> {
        let available = if self.train_limit > 0 {
            images.min(self.train_limit as usize)
        } else {
            images
        };
        if self.validation as usize >= available {
            return Err(bad(
                "validation",
                self.validation,
                format!("hold out fewer than the {available} training images"),
            ));
        }
        let train = available - self.validation as usize;
        if (self.batch as usize) > train {
            return Err(bad(
                "batch",
                self.batch,
                format!("the batch is larger than the {train} training images; lower it"),
            ));
        }
        Ok(train as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Fge, FreezeOut};

    fn settings(found: &[ConfigError]) -> Vec<&'static str> {
        found.iter().map(ConfigError::setting).collect()
    }

    #[test]
    fn every_bad_setting_is_reported_once() {
        let config = TrainConfig {
            lr: 1000.0,
            epochs: 0,
            method: Method::Freezeout(FreezeOut {
                t0: 0.0,
                ..FreezeOut::default()
            }),
            ..TrainConfig::default()
        };
        assert_eq!(settings(&config.problems()), ["epochs", "lr", "t0"]);
        assert_eq!(config.validate(), Err(config.problems().remove(0)));
        let fge = TrainConfig {
            method: Method::Fge(Fge {
                pretrain: 1.5,
                cycle: 3,
                alpha1: Some(0.0),
                alpha2: Some(f64::NAN),
            }),
            ..TrainConfig::default()
        };
        assert_eq!(
            settings(&fge.problems()),
            ["pretrain", "cycle", "alpha1", "alpha2"]
        );
        assert!(TrainConfig::default().problems().is_empty());
    }

    #[test]
    fn the_data_and_the_run_length_are_checked_when_the_sizes_are_sound() {
        // 5 images cannot fill a batch of 64.
        let config = TrainConfig::default();
        assert_eq!(settings(&config.problems_with_data(5)), ["batch"]);
        assert_eq!(
            config.problems_with_data(5)[0].fix(),
            "the batch is larger than the 5 training images; lower it"
        );
        // 100 snapshot cycles in 2 epochs of 640 / 64 = 10 steps: 20 iterations.
        let snapshot = TrainConfig {
            method: Method::Snapshot {
                cycles: 100,
                alpha0: None,
            },
            ..TrainConfig::default()
        };
        assert_eq!(settings(&snapshot.problems_with_data(640)), ["cycles"]);
        assert!(snapshot.problems_with_data(64_000).is_empty());
        // A bad batch hides the length check (it would be computed from a bad size).
        let both = TrainConfig {
            batch: 1,
            ..snapshot
        };
        assert_eq!(settings(&both.problems_with_data(640)), ["batch"]);
    }
}
