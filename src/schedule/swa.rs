//! Stochastic Weight Averaging (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima
//! and Better Generalization"; docs/design.md §2.3), as the authors' `train.py` runs it: a rate
//! per epoch that holds alpha for the first half of the way to swa_start, falls linearly to
//! swa_lr by 90% of it and stays there; from epoch swa_start on, the weights at the end of
//! every epoch join a running average. The averaged model is the one that predicts (its batch
//! norms' statistics recomputed by one pass over the training set).

use serde::{Deserialize, Serialize};

/// Stochastic Weight Averaging's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Swa {
    /// Where averaging starts, as a fraction of the epochs: swa_start = ceil(start x epochs)
    /// (the published runs: 161 of 300, about 0.54).
    pub start: f64,
    /// swa_lr, the rate averaging runs at; a fifth of the base rate when absent (the
    /// published VGG-16 run: 0.01 beside 0.05).
    #[serde(default)]
    pub lr: Option<f64>,
}

impl Default for Swa {
    fn default() -> Self {
        Swa {
            start: 0.5,
            lr: None,
        }
    }
}

impl Swa {
    /// swa_start: the number of epochs before the first one whose end is averaged, at
    /// least 1 and at most `epochs`.
    pub fn start_epoch(&self, epochs: u64) -> u64 {
        // The margin keeps 0.5 x 4 at 2 when the product rounds just above it.
        let start = (self.start * epochs as f64 - 1e-9).ceil();
        (start.max(1.0) as u64).min(epochs.max(1))
    }

    /// swa_lr for base rate `alpha`.
    pub fn swa_lr(&self, alpha: f64) -> f64 {
        self.lr.unwrap_or(alpha / 5.0)
    }

    /// The rate in 0-based epoch `epoch` of a run of `epochs` epochs: with t = epoch /
    /// swa_start, alpha while t <= 0.5, then linear down to swa_lr at t = 0.9, then swa_lr.
    pub fn lr(&self, alpha: f64, epoch: u64, epochs: u64) -> f64 {
        let t = epoch as f64 / self.start_epoch(epochs) as f64;
        let low = self.swa_lr(alpha);
        if t <= 0.5 {
            alpha
        } else if t <= 0.9 {
            alpha + (low - alpha) * (t - 0.5) / 0.4
        } else {
            low
        }
    }

    /// Whether the weights join the average after 0-based iteration `j`: the last
    /// iteration of an epoch e with e + 1 >= swa_start.
    pub fn average_after(&self, j: u64, per_epoch: u64, epochs: u64) -> bool {
        let per_epoch = per_epoch.max(1);
        let epoch = j / per_epoch;
        (j + 1).is_multiple_of(per_epoch) && epoch < epochs && epoch + 1 >= self.start_epoch(epochs)
    }

    /// Models the average holds at the end of a run of `epochs` epochs.
    pub fn models(&self, epochs: u64) -> u64 {
        epochs + 1 - self.start_epoch(epochs)
    }
}

#[cfg(test)]
mod tests {
    use super::Swa;

    #[test]
    fn the_rate_holds_then_falls_linearly_to_swa_lr() {
        // 20 epochs, start 0.5: swa_start = 10, so t = e / 10.
        let s = Swa {
            start: 0.5,
            lr: Some(0.01),
        };
        assert_eq!(s.start_epoch(20), 10);
        let lr = |e| s.lr(0.1, e, 20);
        // t <= 0.5: alpha (e = 0..5).
        assert_eq!(lr(0), 0.1);
        assert_eq!(lr(5), 0.1);
        // t = 0.7: halfway down the ramp, 0.1 + (0.01 - 0.1) * 0.5 = 0.055.
        assert!((lr(7) - 0.055).abs() < 1e-15);
        // t = 0.9: the ramp's end.
        assert!((lr(9) - 0.01).abs() < 1e-15);
        // From swa_start on, and before it past t = 0.9: swa_lr.
        assert_eq!(lr(10), 0.01);
        assert_eq!(lr(19), 0.01);
        // t = 0.6: 0.1 - 0.09 * 0.25 = 0.0775.
        assert!((lr(6) - 0.0775).abs() < 1e-15);
    }

    #[test]
    fn averaging_starts_at_swa_start_and_takes_every_epoch_end() {
        let s = Swa {
            start: 0.5,
            lr: None,
        };
        // 6 epochs of 3 iterations: swa_start = 3, so the ends of epochs 2..5.
        let taken: Vec<u64> = (0..18).filter(|&j| s.average_after(j, 3, 6)).collect();
        assert_eq!(taken, vec![8, 11, 14, 17]);
        assert_eq!(s.models(6), 4);
        // start 1.0: only the last epoch's end.
        let last = Swa { start: 1.0, ..s };
        assert_eq!(last.models(6), 1);
        assert!(last.average_after(17, 3, 6) && !last.average_after(14, 3, 6));
        // A start below one epoch still waits for the first epoch's end.
        assert_eq!(Swa { start: 0.01, ..s }.start_epoch(6), 1);
        assert!((s.swa_lr(0.1) - 0.02).abs() < 1e-17);
    }
}
