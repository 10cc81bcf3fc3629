//! The baseline's schedules: one learning rate for the whole network.

use serde::{Deserialize, Serialize};

/// A schedule for the whole network (one learning rate for every block).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// alpha until 50% of T, alpha / 10 until 75%, then alpha / 100: the baseline of the
    /// Snapshot Ensembles paper.
    Step,
    /// alpha / 2 * (1 + cos(pi * j / T)), updated every iteration.
    Cosine,
    /// alpha throughout.
    Constant,
}

impl Schedule {
    /// The name the CLI and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
            Schedule::Constant => "constant",
        }
    }

    /// The learning rate at iteration `j` of `total` for base rate `alpha`.
    pub fn lr(self, alpha: f64, j: u64, total: u64) -> f64 {
        let total = total.max(1) as f64;
        let j = j as f64;
        match self {
            Schedule::Step => {
                if j < 0.5 * total {
                    alpha
                } else if j < 0.75 * total {
                    alpha / 10.0
                } else {
                    alpha / 100.0
                }
            }
            Schedule::Cosine => alpha / 2.0 * (1.0 + (std::f64::consts::PI * j / total).cos()),
            Schedule::Constant => alpha,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn step_decays_tenfold_at_half_and_three_quarters() {
        let lr = |j| Schedule::Step.lr(0.1, j, 100);
        assert_eq!(lr(0), 0.1);
        assert_eq!(lr(49), 0.1);
        assert!((lr(50) - 0.01).abs() < 1e-15);
        assert!((lr(74) - 0.01).abs() < 1e-15);
        assert!((lr(75) - 0.001).abs() < 1e-15);
        assert!((lr(99) - 0.001).abs() < 1e-15);
    }

    #[test]
    fn cosine_starts_at_alpha_halves_midway_and_nears_zero() {
        let lr = |j| Schedule::Cosine.lr(0.2, j, 100);
        assert_eq!(lr(0), 0.2);
        assert!((lr(50) - 0.1).abs() < 1e-15);
        // cos(pi * 99 / 100): the last iteration is close to, not at, zero.
        let last = 0.1 * (1.0 + (std::f64::consts::PI * 0.99).cos());
        assert!((lr(99) - last).abs() < 1e-15 && lr(99) > 0.0);
    }
}
