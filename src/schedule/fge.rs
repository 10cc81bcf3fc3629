//! Fast Geometric Ensembling (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity, and Fast
//! Ensembling of DNNs"; docs/design.md §2.2), as the authors' `fge.py` runs it: the model is
//! first trained for part of the budget, then short cycles of c epochs move the rate linearly
//! from alpha1 down to alpha2 and back, and a member is taken where the rate is lowest, at the
//! end of each cycle's middle epoch.
//!
//! With e the 0-based epoch counted from the first cycle, I iterations per epoch and i the
//! 0-based iteration inside the epoch: t = ((e mod c) + i / I) / c, and the rate is
//! alpha1 (1 - 2t) + alpha2 2t while t < 0.5, else alpha1 (2t - 1) + alpha2 (2 - 2t).

use serde::{Deserialize, Serialize};

use super::baseline::Schedule;

/// The pre-training's schedule: the Snapshot Ensembles paper's step baseline over the
/// pre-training epochs, so it ends at alpha / 100 as the authors' pre-training does.
pub const PRETRAIN_SCHEDULE: Schedule = Schedule::Step;

/// Fast Geometric Ensembling's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fge {
    /// The fraction of the epochs spent pre-training before the first cycle (the paper: 0.8).
    /// The pre-training epochs are floor(pretrain x epochs).
    pub pretrain: f64,
    /// c, epochs per cycle, even (the paper's runs: 2; the code's default: 4).
    pub cycle: u32,
    /// alpha1, the rate at each cycle's ends; half the base rate when absent (the code's
    /// 0.05 beside its pre-training rate of 0.1).
    #[serde(default)]
    pub alpha1: Option<f64>,
    /// alpha2, the rate at each cycle's middle; alpha1 / 500 when absent (the code's 1e-4
    /// beside its alpha1 of 0.05).
    #[serde(default)]
    pub alpha2: Option<f64>,
}

impl Default for Fge {
    fn default() -> Self {
        Fge {
            pretrain: 0.8,
            cycle: 2,
            alpha1: None,
            alpha2: None,
        }
    }
}

impl Fge {
    /// Pre-training epochs in a run of `epochs` epochs.
    pub fn pretrain_epochs(&self, epochs: u64) -> u64 {
        // The margin keeps 0.6 x 10 at 6 when the product rounds just below it.
        (self.pretrain * epochs as f64 + 1e-9).floor().max(0.0) as u64
    }

    /// alpha1 for base rate `alpha`.
    pub fn alpha1(&self, alpha: f64) -> f64 {
        self.alpha1.unwrap_or(alpha / 2.0)
    }

    /// alpha2 for base rate `alpha`.
    pub fn alpha2(&self, alpha: f64) -> f64 {
        self.alpha2.unwrap_or(self.alpha1(alpha) / 500.0)
    }

    /// The rate at 0-based iteration `j` of a run of `epochs` epochs of `per_epoch`
    /// iterations, base rate `alpha`.
    pub fn lr(&self, alpha: f64, j: u64, per_epoch: u64, epochs: u64) -> f64 {
        let per_epoch = per_epoch.max(1);
        let pre = self.pretrain_epochs(epochs);
        let epoch = j / per_epoch;
        if epoch < pre {
            return PRETRAIN_SCHEDULE.lr(alpha, j, pre * per_epoch);
        }
        let c = self.cycle.max(1) as u64;
        let e = epoch - pre;
        let i = j % per_epoch;
        let t = ((e % c) as f64 + i as f64 / per_epoch as f64) / c as f64;
        let (a1, a2) = (self.alpha1(alpha), self.alpha2(alpha));
        if t < 0.5 {
            a1 * (1.0 - 2.0 * t) + a2 * 2.0 * t
        } else {
            a1 * (2.0 * t - 1.0) + a2 * (2.0 - 2.0 * t)
        }
    }

    /// Whether a member is taken after iteration `j`: the last iteration of an epoch e
    /// (counted from the first cycle) with (e mod c) + 1 = c / 2.
    pub fn member_after(&self, j: u64, per_epoch: u64, epochs: u64) -> bool {
        let per_epoch = per_epoch.max(1);
        if !(j + 1).is_multiple_of(per_epoch) {
            return false;
        }
        let epoch = j / per_epoch;
        let pre = self.pretrain_epochs(epochs);
        if epoch < pre || epoch >= epochs {
            return false;
        }
        let c = self.cycle.max(2) as u64;
        (epoch - pre) % c + 1 == c / 2
    }

    /// Members a run of `epochs` epochs takes.
    pub fn members(&self, epochs: u64) -> u64 {
        let c = self.cycle.max(2) as u64;
        let cycling = epochs.saturating_sub(self.pretrain_epochs(epochs));
        // One member per whole cycle, and one more if the last, partial cycle reaches
        // its middle epoch.
        cycling / c + u64::from(cycling % c >= c / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::Fge;

    fn fge() -> Fge {
        // 10 epochs of 4 iterations: 6 pre-training epochs (24 iterations), then two
        // cycles of 2 epochs.
        Fge {
            pretrain: 0.6,
            cycle: 2,
            alpha1: Some(0.05),
            alpha2: Some(0.001),
        }
    }

    #[test]
    fn pretraining_follows_the_step_schedule_over_its_own_epochs() {
        let f = fge();
        assert_eq!(f.pretrain_epochs(10), 6);
        // The step schedule over T = 24: alpha until 12, alpha / 10 until 18, then / 100.
        assert_eq!(f.lr(0.1, 0, 4, 10), 0.1);
        assert_eq!(f.lr(0.1, 11, 4, 10), 0.1);
        assert!((f.lr(0.1, 12, 4, 10) - 0.01).abs() < 1e-15);
        assert!((f.lr(0.1, 23, 4, 10) - 0.001).abs() < 1e-15);
    }

    #[test]
    fn cycles_fall_linearly_to_alpha2_at_their_middle_and_climb_back() {
        let f = fge();
        let lr = |j| f.lr(0.1, j, 4, 10);
        // Cycle 1 starts at iteration 24: t = 0 -> alpha1.
        assert!((lr(24) - 0.05).abs() < 1e-15);
        // Iteration 26: t = (0 + 2/4) / 2 = 0.25 -> 0.05 * 0.5 + 0.001 * 0.5 = 0.0255.
        assert!((lr(26) - 0.0255).abs() < 1e-15);
        // Iteration 28 (second epoch's first): t = 0.5 -> alpha2.
        assert!((lr(28) - 0.001).abs() < 1e-15);
        // Iteration 30: t = 0.75 -> 0.05 * 0.5 + 0.001 * 0.5.
        assert!((lr(30) - 0.0255).abs() < 1e-15);
        // Iteration 31: t = 0.875 -> 0.05 * 0.75 + 0.001 * 0.25 = 0.03775.
        assert!((lr(31) - 0.03775).abs() < 1e-15);
        // The next cycle restarts at alpha1.
        assert!((lr(32) - 0.05).abs() < 1e-15);
    }

    #[test]
    fn members_are_taken_at_the_end_of_each_cycles_middle_epoch() {
        let f = fge();
        let members: Vec<u64> = (0..40).filter(|&j| f.member_after(j, 4, 10)).collect();
        // c = 2: the middle epoch is each cycle's first (epochs 6 and 8), ending at
        // iterations 27 and 35, where t reaches 0.5.
        assert_eq!(members, vec![27, 35]);
        assert_eq!(f.members(10), 2);
        // c = 4: the member is at the end of each cycle's second epoch.
        let f4 = Fge { cycle: 4, ..f };
        let members: Vec<u64> = (0..40).filter(|&j| f4.member_after(j, 4, 10)).collect();
        assert_eq!(members, vec![31]);
        assert_eq!(f4.members(10), 1);
        // A partial last cycle that reaches its middle epoch still gives a member.
        assert_eq!(f.members(9), 2);
        assert_eq!(Fge { pretrain: 0.8, ..f }.members(10), 1);
    }

    #[test]
    fn defaults_follow_the_code_ratios() {
        let f = Fge::default();
        assert_eq!(f.alpha1(0.1), 0.05);
        assert!((f.alpha2(0.1) - 1e-4).abs() < 1e-18);
        assert_eq!(f.pretrain_epochs(20), 16);
    }
}
