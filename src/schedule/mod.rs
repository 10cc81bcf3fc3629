//! Learning-rate schedules as pure functions of the 0-based iteration j and the budget of T
//! iterations (docs/design.md §2): no GPU, no state, so they can be tested at hand-computed points
//! and printed (`snapfreeze schedule`).
//!
//! - [`baseline`]: one rate for the whole network (step decay, cosine, constant);
//! - [`snapshot`]: Snapshot Ensembles' cyclic cosine and its snapshot iterations;
//! - [`freezeout`]: FreezeOut's per-block rates and freeze iterations;
//! - [`RunSchedule`]: a method applied to one run, block by block.

pub mod baseline;
pub mod freezeout;
pub mod snapshot;

use serde::{Deserialize, Serialize};

pub use baseline::Schedule;
pub use freezeout::{FreezeOut, Scaling};
pub use snapshot::CyclicCosine;

/// A training method: how every block's learning rate moves, whether blocks freeze and
/// whether snapshots are taken.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// One schedule for every block; no snapshots, no freezing.
    Baseline {
        /// Step decay (the Snapshot Ensembles paper's baseline) or cosine.
        schedule: Schedule,
    },
    /// Snapshot Ensembles: M cycles of cyclic cosine, a snapshot at the end of each.
    Snapshot {
        /// M, the number of cycles and snapshots.
        cycles: u32,
        /// The rate each cycle restarts at; the base learning rate when absent.
        alpha0: Option<f64>,
    },
    /// FreezeOut: per-block cosine rates that reach zero at staggered times.
    Freezeout(FreezeOut),
}

impl Default for Method {
    fn default() -> Self {
        Method::Baseline {
            schedule: Schedule::Cosine,
        }
    }
}

impl Method {
    /// Which method, as the JSON's `kind` names it: `baseline`, `snapshot` or `freezeout`.
    pub fn kind(&self) -> &'static str {
        match self {
            Method::Baseline { .. } => "baseline",
            Method::Snapshot { .. } => "snapshot",
            Method::Freezeout(_) => "freezeout",
        }
    }

    /// The name people read in the page and in `compare`'s table: `baseline (step)`,
    /// `Snapshot Ensemble (M = 5)`, `FreezeOut (t₀ = 0.5, cubic, scaled)`.
    pub fn title(&self) -> String {
        match self {
            Method::Baseline { schedule } => format!("baseline ({})", schedule.name()),
            Method::Snapshot { cycles, alpha0 } => match alpha0 {
                Some(a) => format!("Snapshot Ensemble (M = {cycles}, α₀ = {a})"),
                None => format!("Snapshot Ensemble (M = {cycles})"),
            },
            Method::Freezeout(f) => format!(
                "FreezeOut (t₀ = {}, {}{})",
                f.t0,
                f.scaling.name(),
                if f.scaled_lr { ", scaled" } else { "" }
            ),
        }
    }

    /// A short name for tables and files: `baseline-step`, `snapshot-m5`, `freezeout-0.5-linear-scaled`.
    pub fn label(&self) -> String {
        match self {
            Method::Baseline { schedule } => format!("baseline-{}", schedule.name()),
            Method::Snapshot { cycles, alpha0 } => match alpha0 {
                Some(a) => format!("snapshot-m{cycles}-a{a}"),
                None => format!("snapshot-m{cycles}"),
            },
            Method::Freezeout(f) => format!(
                "freezeout-{}-{}-{}",
                f.t0,
                f.scaling.name(),
                if f.scaled_lr { "scaled" } else { "unscaled" }
            ),
        }
    }
}

/// A method applied to one run: `blocks` freezable blocks, T = `total` iterations and base
/// rate alpha.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSchedule {
    /// The method.
    pub method: Method,
    /// The base learning rate alpha.
    pub alpha: f64,
    /// Freezable blocks, the head last.
    pub blocks: usize,
    /// T.
    pub total: u64,
}

impl RunSchedule {
    /// The cyclic schedule, for the snapshot method.
    pub fn cyclic(&self) -> Option<CyclicCosine> {
        match self.method {
            Method::Snapshot { cycles, .. } => Some(CyclicCosine {
                cycles,
                total: self.total,
            }),
            _ => None,
        }
    }

    /// Block `i`'s learning rate at iteration `j`, or `None` if it is frozen.
    pub fn block_lr(&self, i: usize, j: u64) -> Option<f64> {
        match self.method {
            Method::Baseline { schedule } => Some(schedule.lr(self.alpha, j, self.total)),
            Method::Snapshot { alpha0, .. } => {
                let cyclic = self.cyclic()?;
                Some(cyclic.lr(alpha0.unwrap_or(self.alpha), j))
            }
            Method::Freezeout(f) => f.lr(self.alpha, i, self.blocks, j, self.total),
        }
    }

    /// How many blocks, from the first, are frozen at iteration `j`. Freeze fractions grow
    /// with the block index, so the frozen blocks are always a prefix.
    pub fn frozen_blocks(&self, j: u64) -> usize {
        match self.method {
            Method::Freezeout(f) => (0..self.blocks)
                .take_while(|&i| f.is_frozen(i, self.blocks, j, self.total))
                .count(),
            _ => 0,
        }
    }

    /// Every block's rate at iteration `j` (0 for frozen blocks) into `out`.
    pub fn fill_lrs(&self, j: u64, out: &mut [f32]) {
        for (i, lr) in out.iter_mut().enumerate() {
            *lr = self.block_lr(i, j).unwrap_or(0.0) as f32;
        }
    }

    /// The head's rate at iteration `j`: the one to plot when a single rate is shown.
    pub fn head_lr(&self, j: u64) -> f64 {
        self.block_lr(self.blocks - 1, j).unwrap_or(0.0)
    }

    /// Whether a snapshot is taken after iteration `j`.
    pub fn snapshot_after(&self, j: u64) -> bool {
        self.cyclic().is_some_and(|c| c.snapshot_after(j))
    }

    /// The iterations after which snapshots are taken.
    pub fn snapshot_iterations(&self) -> Vec<u64> {
        self.cyclic()
            .map_or_else(Vec::new, |c| c.snapshot_iterations())
    }

    /// The first iteration at which block `i` is frozen, if it freezes before the end.
    pub fn freeze_iteration(&self, i: usize) -> Option<u64> {
        match self.method {
            Method::Freezeout(f) => f.freeze_iteration(i, self.blocks, self.total),
            _ => None,
        }
    }

    /// Iterations block `i` trains for (its batch norms' `num_batches_tracked`).
    pub fn trained_iterations(&self, i: usize, done: u64) -> u64 {
        self.freeze_iteration(i).unwrap_or(u64::MAX).min(done)
    }

    /// Block `i`'s freeze fraction t_i (1 for methods that do not freeze).
    pub fn fraction(&self, i: usize) -> f64 {
        match self.method {
            Method::Freezeout(f) => f.fraction(i, self.blocks),
            _ => 1.0,
        }
    }

    /// The expected backward saving (docs/design.md §2.5) for per-block forward costs `costs`: the
    /// backward work is sum 2 c_i t_i instead of sum 2 c_i.
    pub fn theoretical_backward_saving(&self, costs: &[f64]) -> f64 {
        let full: f64 = costs.iter().sum();
        if full <= 0.0 {
            return 0.0;
        }
        let done: f64 = costs
            .iter()
            .enumerate()
            .map(|(i, c)| c * self.fraction(i))
            .sum();
        1.0 - done / full
    }
}

#[cfg(test)]
mod tests {
    use super::{FreezeOut, Method, RunSchedule, Scaling, Schedule};

    fn freezeout_run() -> RunSchedule {
        RunSchedule {
            method: Method::Freezeout(FreezeOut {
                t0: 0.5,
                scaling: Scaling::Linear,
                scaled_lr: true,
            }),
            alpha: 0.1,
            blocks: 5,
            total: 80,
        }
    }

    #[test]
    fn frozen_blocks_grow_as_a_prefix() {
        let run = freezeout_run();
        assert_eq!(run.frozen_blocks(0), 0);
        assert_eq!(run.frozen_blocks(40), 0);
        assert_eq!(run.frozen_blocks(41), 1);
        assert_eq!(run.frozen_blocks(51), 2);
        assert_eq!(run.frozen_blocks(79), 4);
        let mut lrs = [1f32; 5];
        run.fill_lrs(51, &mut lrs);
        assert_eq!(&lrs[..2], &[0.0, 0.0]);
        assert!(lrs[2] > 0.0);
        assert_eq!(run.trained_iterations(0, 80), 41);
        assert_eq!(run.trained_iterations(0, 30), 30);
        assert_eq!(run.trained_iterations(4, 80), 80);
    }

    #[test]
    fn theoretical_saving_weights_fractions_by_cost() {
        // Equal costs: 1 - mean(0.5, 0.625, 0.75, 0.875, 1) = 0.25.
        let run = freezeout_run();
        assert!((run.theoretical_backward_saving(&[1.0; 5]) - 0.25).abs() < 1e-15);
        // All the cost in the head: nothing saved.
        assert_eq!(
            run.theoretical_backward_saving(&[0.0, 0.0, 0.0, 0.0, 1.0]),
            0.0
        );
    }

    #[test]
    fn snapshot_and_baseline_rates_are_the_same_for_every_block() {
        let snapshot = RunSchedule {
            method: Method::Snapshot {
                cycles: 2,
                alpha0: Some(0.2),
            },
            alpha: 0.1,
            blocks: 3,
            total: 8,
        };
        assert_eq!(snapshot.block_lr(0, 4), Some(0.2));
        assert_eq!(snapshot.block_lr(2, 4), Some(0.2));
        assert_eq!(snapshot.snapshot_iterations(), vec![3, 7]);
        assert!(snapshot.snapshot_after(3) && !snapshot.snapshot_after(4));
        assert_eq!(snapshot.frozen_blocks(7), 0);
        let step = RunSchedule {
            method: Method::Baseline {
                schedule: Schedule::Step,
            },
            ..snapshot
        };
        assert_eq!(step.block_lr(1, 3), Some(0.1));
        assert!(step.snapshot_iterations().is_empty());
    }

    #[test]
    fn methods_read_from_json() {
        let f: Method = serde_json::from_str(
            r#"{"kind":"freezeout","t0":0.5,"scaling":"linear","scaled_lr":true}"#,
        )
        .unwrap();
        assert_eq!(f, freezeout_run().method);
        let s: Method = serde_json::from_str(r#"{"kind":"snapshot","cycles":5}"#).unwrap();
        assert_eq!(
            s,
            Method::Snapshot {
                cycles: 5,
                alpha0: None
            }
        );
        assert!(serde_json::from_str::<Method>(r#"{"kind":"freezeout","t0":0.5}"#).is_err());
        assert_eq!(f.label(), "freezeout-0.5-linear-scaled");
    }
}
