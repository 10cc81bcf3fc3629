//! FreezeOut's per-block schedule (Brock et al. 2017; docs/design.md §2.4): block i of blocks 0..=L
//! trains while j <= t_i * T with its own cosine rate that reaches zero there, then
//! freezes for good.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// How the interpolated freeze fraction is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// t_i = t0 + (1 - t0) i / L.
    Linear,
    /// Its square.
    Squared,
    /// Its cube (the original code's default).
    Cubic,
}

impl Scaling {
    /// The name the CLI and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Scaling::Linear => "linear",
            Scaling::Squared => "squared",
            Scaling::Cubic => "cubic",
        }
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Scaling::Linear => x,
            Scaling::Squared => x * x,
            Scaling::Cubic => x * x * x,
        }
    }
}

/// FreezeOut's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeOut {
    /// The first block's unscaled freeze fraction, in (0, 1].
    pub t0: f64,
    /// The shape applied to the interpolated fraction.
    pub scaling: Scaling,
    /// Start each block at alpha / t_i instead of alpha ("scaled", the default).
    pub scaled_lr: bool,
}

impl Default for FreezeOut {
    /// The original code's defaults: t0 0.8, cubic, scaled.
    fn default() -> Self {
        FreezeOut {
            t0: 0.8,
            scaling: Scaling::Cubic,
            scaled_lr: true,
        }
    }
}

impl FreezeOut {
    /// t_i = s(t0 + (1 - t0) * i / L) for block `i` of `blocks` = L + 1; the last block
    /// (the classifier head) gets 1.
    pub fn fraction(&self, i: usize, blocks: usize) -> f64 {
        let last = blocks.saturating_sub(1);
        if i >= last {
            return 1.0;
        }
        let x = self.t0 + (1.0 - self.t0) * i as f64 / last as f64;
        self.scaling.apply(x)
    }

    /// max_j(i) = t_i * T: block `i` trains at every iteration j <= max_j(i).
    pub fn max_j(&self, i: usize, blocks: usize, total: u64) -> f64 {
        self.fraction(i, blocks) * total as f64
    }

    /// Whether block `i` is frozen at iteration `j` (j > max_j(i)).
    pub fn is_frozen(&self, i: usize, blocks: usize, j: u64, total: u64) -> bool {
        j as f64 > self.max_j(i, blocks, total)
    }

    /// The first iteration at which block `i` is frozen, or `None` if it trains to the end.
    pub fn freeze_iteration(&self, i: usize, blocks: usize, total: u64) -> Option<u64> {
        // The first integer j with j > max_j: floor(max_j) + 1.
        let first = self.max_j(i, blocks, total).floor() as u64 + 1;
        (first < total).then_some(first)
    }

    /// alpha_i(j) = alpha_i(0) / 2 * (1 + cos(pi * j / max_j(i))), with alpha_i(0) =
    /// alpha / t_i when scaled; `None` once the block is frozen.
    pub fn lr(&self, alpha: f64, i: usize, blocks: usize, j: u64, total: u64) -> Option<f64> {
        if self.is_frozen(i, blocks, j, total) {
            return None;
        }
        let t = self.fraction(i, blocks);
        let start = if self.scaled_lr { alpha / t } else { alpha };
        let max_j = self.max_j(i, blocks, total);
        // max_j is 0 only when j is 0 too: the block's single step runs at its start rate.
        let phase = if max_j > 0.0 { j as f64 / max_j } else { 0.0 };
        Some(start / 2.0 * (1.0 + (PI * phase).cos()))
    }
}

#[cfg(test)]
mod tests {
    use super::{FreezeOut, Scaling};

    fn freezeout(t0: f64, scaling: Scaling, scaled_lr: bool) -> FreezeOut {
        FreezeOut {
            t0,
            scaling,
            scaled_lr,
        }
    }

    #[test]
    fn fractions_interpolate_then_scale() {
        // L = 4 (5 blocks), t0 = 0.5: linear 0.5, 0.625, 0.75, 0.875, 1.
        let f = freezeout(0.5, Scaling::Linear, true);
        let t: Vec<f64> = (0..5).map(|i| f.fraction(i, 5)).collect();
        assert_eq!(t, vec![0.5, 0.625, 0.75, 0.875, 1.0]);
        // Cubic with t0 = 0.8: the first block freezes at 0.8^3 = 0.512 of training.
        let c = freezeout(0.8, Scaling::Cubic, true);
        assert!((c.fraction(0, 5) - 0.512).abs() < 1e-15);
        assert!((c.fraction(2, 5) - 0.9f64.powi(3)).abs() < 1e-15);
        assert_eq!(c.fraction(4, 5), 1.0);
        let s = freezeout(0.8, Scaling::Squared, true);
        assert!((s.fraction(0, 5) - 0.64).abs() < 1e-15);
    }

    #[test]
    fn freeze_iterations_follow_max_j() {
        // T = 80, linear t0 = 0.5, 5 blocks: max_j = 40, 50, 60, 70, 80. Block 0 trains at
        // j = 40 (j <= max_j) and is frozen from 41 on.
        let f = freezeout(0.5, Scaling::Linear, true);
        let firsts: Vec<Option<u64>> = (0..5).map(|i| f.freeze_iteration(i, 5, 80)).collect();
        assert_eq!(firsts, vec![Some(41), Some(51), Some(61), Some(71), None]);
        assert!(!f.is_frozen(0, 5, 40, 80));
        assert!(f.is_frozen(0, 5, 41, 80));
        // A fractional max_j: T = 10, cubic t0 0.8 -> 5.12, so the last trained j is 5.
        let c = freezeout(0.8, Scaling::Cubic, true);
        assert_eq!(c.freeze_iteration(0, 5, 10), Some(6));
    }

    #[test]
    fn rates_before_and_after_a_freeze() {
        let f = freezeout(0.5, Scaling::Linear, true);
        // Block 0, scaled: starts at 0.1 / 0.5 = 0.2, halves at j = 20 (of max_j 40),
        // reaches exactly 0 at j = 40, then has no rate.
        assert_eq!(f.lr(0.1, 0, 5, 0, 80), Some(0.2));
        assert!((f.lr(0.1, 0, 5, 20, 80).unwrap() - 0.1).abs() < 1e-15);
        let before = f.lr(0.1, 0, 5, 39, 80).unwrap();
        let expected = 0.1 * (1.0 + (std::f64::consts::PI * 39.0 / 40.0).cos());
        assert!((before - expected).abs() < 1e-15);
        assert!(f.lr(0.1, 0, 5, 40, 80).unwrap().abs() < 1e-15);
        assert_eq!(f.lr(0.1, 0, 5, 41, 80), None);
        // The head keeps alpha's plain cosine over the whole run.
        assert_eq!(f.lr(0.1, 4, 5, 0, 80), Some(0.1));
        assert!((f.lr(0.1, 4, 5, 40, 80).unwrap() - 0.05).abs() < 1e-15);
        // Unscaled: every block starts at alpha.
        let u = freezeout(0.5, Scaling::Linear, false);
        assert_eq!(u.lr(0.1, 0, 5, 0, 80), Some(0.1));
        assert!((u.lr(0.1, 1, 5, 25, 80).unwrap() - 0.05).abs() < 1e-15);
    }
}
