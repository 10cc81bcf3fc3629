//! Learning-rate schedules as pure functions of the 0-based iteration j and the budget of T
//! iterations (docs/design.md §2): no GPU, no state, so they can be tested at hand-computed points
//! and printed (`snapfreeze schedule`).
//!
//! - [`baseline`]: one rate for the whole network (step decay, cosine, constant);
//! - [`snapshot`]: Snapshot Ensembles' cyclic cosine and its snapshot iterations;
//! - [`freezeout`]: FreezeOut's per-block rates and freeze iterations;
//! - [`fge`]: Fast Geometric Ensembling's pre-training, cycles and members;
//! - [`swa`]: Stochastic Weight Averaging's rate and the epochs it averages;
//! - [`RunSchedule`]: a method applied to one run, block by block.

pub mod baseline;
pub mod fge;
pub mod freezeout;
pub mod snapshot;
pub mod swa;

use serde::{Deserialize, Serialize};

pub use baseline::Schedule;
pub use fge::Fge;
pub use freezeout::{FreezeOut, Scaling};
pub use snapshot::CyclicCosine;
pub use swa::Swa;

/// A training method: how every block's learning rate moves, whether blocks freeze, and
/// whether snapshots or members are taken or weights averaged.
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
    /// Fast Geometric Ensembling: pre-training, then short linear cycles with a member at
    /// each cycle's middle; the members are ensembled like snapshots.
    Fge(Fge),
    /// Stochastic Weight Averaging: the weights at the end of every epoch from swa_start on
    /// averaged into one model.
    Swa(Swa),
}

impl Default for Method {
    fn default() -> Self {
        Method::Baseline {
            schedule: Schedule::Cosine,
        }
    }
}

impl Method {
    /// Which method, as the JSON's `kind` names it: `baseline`, `snapshot`, `freezeout`,
    /// `fge` or `swa`.
    pub fn kind(&self) -> &'static str {
        match self {
            Method::Baseline { .. } => "baseline",
            Method::Snapshot { .. } => "snapshot",
            Method::Freezeout(_) => "freezeout",
            Method::Fge(_) => "fge",
            Method::Swa(_) => "swa",
        }
    }

    /// Whether the method takes members to ensemble (snapshots or FGE's members).
    pub fn ensembles(&self) -> bool {
        matches!(self, Method::Snapshot { .. } | Method::Fge(_))
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
            Method::Fge(f) => format!(
                "FGE (c = {}, from {}%{})",
                f.cycle,
                percent(f.pretrain),
                rates(&[("α₁", f.alpha1), ("α₂", f.alpha2)])
            ),
            Method::Swa(w) => format!(
                "SWA (from {}%{})",
                percent(w.start),
                rates(&[("swa_lr", w.lr)])
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
            Method::Fge(f) => {
                let mut label = format!("fge-c{}-p{}", f.cycle, f.pretrain);
                if let Some(a) = f.alpha1 {
                    label += &format!("-a{a}");
                }
                if let Some(a) = f.alpha2 {
                    label += &format!("-b{a}");
                }
                label
            }
            Method::Swa(w) => match w.lr {
                Some(a) => format!("swa-s{}-a{a}", w.start),
                None => format!("swa-s{}", w.start),
            },
        }
    }
}

/// A fraction as a percentage without float noise: 0.57 -> 57, 0.125 -> 12.5.
fn percent(fraction: f64) -> f64 {
    (fraction * 1e4).round() / 1e2
}

/// `, α₁ = 0.05, α₂ = 0.0001` for the rates given (none for rates left at their default).
fn rates(named: &[(&str, Option<f64>)]) -> String {
    named
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!(", {name} = {v}")))
        .collect()
}

/// A method applied to one run: `blocks` freezable blocks, T = `total` iterations of
/// `per_epoch` a epoch, and base rate alpha.
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
    /// I, iterations per epoch (FGE and SWA count in epochs; T is a whole number of them).
    pub per_epoch: u64,
}

impl RunSchedule {
    /// Epochs in the run: T / I.
    pub fn epochs(&self) -> u64 {
        self.total / self.per_epoch.max(1)
    }

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
            Method::Fge(f) => Some(f.lr(self.alpha, j, self.per_epoch, self.epochs())),
            Method::Swa(w) => {
                let epoch = j / self.per_epoch.max(1);
                Some(w.lr(self.alpha, epoch, self.epochs()))
            }
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

    /// Whether a snapshot (Snapshot Ensembles) or member (FGE) is taken after iteration `j`.
    pub fn snapshot_after(&self, j: u64) -> bool {
        match self.method {
            Method::Snapshot { .. } => self.cyclic().is_some_and(|c| c.snapshot_after(j)),
            Method::Fge(f) => f.member_after(j, self.per_epoch, self.epochs()),
            _ => false,
        }
    }

    /// The iterations after which snapshots or members are taken.
    pub fn snapshot_iterations(&self) -> Vec<u64> {
        match self.method {
            Method::Snapshot { .. } => self
                .cyclic()
                .map_or_else(Vec::new, |c| c.snapshot_iterations()),
            Method::Fge(_) => (self.per_epoch.max(1) - 1..self.total)
                .step_by(self.per_epoch.max(1) as usize)
                .filter(|&j| self.snapshot_after(j))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the weights join SWA's running average after iteration `j`.
    pub fn average_after(&self, j: u64) -> bool {
        match self.method {
            Method::Swa(w) => w.average_after(j, self.per_epoch, self.epochs()),
            _ => false,
        }
    }

    /// The iterations after which the weights join SWA's average.
    pub fn average_iterations(&self) -> Vec<u64> {
        match self.method {
            Method::Swa(_) => (self.per_epoch.max(1) - 1..self.total)
                .step_by(self.per_epoch.max(1) as usize)
                .filter(|&j| self.average_after(j))
                .collect(),
            _ => Vec::new(),
        }
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
    use super::{Fge, FreezeOut, Method, RunSchedule, Scaling, Schedule, Swa};

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
            per_epoch: 10,
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
            per_epoch: 4,
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
        let fge: Method =
            serde_json::from_str(r#"{"kind":"fge","pretrain":0.8,"cycle":2}"#).unwrap();
        assert_eq!(fge, Method::Fge(Fge::default()));
        assert_eq!(fge.label(), "fge-c2-p0.8");
        let swa: Method = serde_json::from_str(r#"{"kind":"swa","start":0.5,"lr":0.01}"#).unwrap();
        assert_eq!(swa.label(), "swa-s0.5-a0.01");
        assert_eq!(swa.title(), "SWA (from 50%, swa_lr = 0.01)");
    }

    #[test]
    fn fge_members_and_swa_averages_fall_on_epoch_ends() {
        // 10 epochs of 4 iterations; FGE pre-trains 6 (24 iterations), then c = 2.
        let fge = RunSchedule {
            method: Method::Fge(Fge {
                pretrain: 0.6,
                ..Fge::default()
            }),
            alpha: 0.1,
            blocks: 3,
            total: 40,
            per_epoch: 4,
        };
        assert_eq!(fge.epochs(), 10);
        assert_eq!(fge.snapshot_iterations(), vec![27, 35]);
        assert!(fge.snapshot_after(27) && !fge.snapshot_after(31));
        assert!(fge.average_iterations().is_empty());
        // Every block has the same rate: alpha1 = 0.05 at a cycle's start.
        assert_eq!(fge.block_lr(0, 24), Some(0.05));
        assert_eq!(fge.block_lr(2, 24), Some(0.05));
        assert_eq!(fge.frozen_blocks(39), 0);
        let swa = RunSchedule {
            method: Method::Swa(Swa {
                start: 0.5,
                lr: Some(0.01),
            }),
            ..fge
        };
        // swa_start = 5: the ends of epochs 4..9.
        assert_eq!(swa.average_iterations(), vec![19, 23, 27, 31, 35, 39]);
        assert!(swa.snapshot_iterations().is_empty());
        // The rate is constant within an epoch: epoch 3 has t = 0.6.
        assert_eq!(swa.block_lr(1, 12), swa.block_lr(1, 15));
        assert!((swa.head_lr(12) - 0.0775).abs() < 1e-15);
    }
}
