//! Snapshot Ensembles' cyclic cosine schedule (Huang et al. 2017, Eq. 2; docs/design.md §2.1): M
//! cycles of P = ceil(T / M) iterations, the rate restarting at alpha0 each cycle, and a
//! snapshot after the last iteration of every cycle.

use std::f64::consts::PI;

/// The cyclic schedule of M cycles over T iterations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CyclicCosine {
    /// M, the number of cycles asked for.
    pub cycles: u32,
    /// T, the iterations of the whole run.
    pub total: u64,
}

impl CyclicCosine {
    /// P = ceil(T / M), iterations per cycle.
    pub fn cycle_length(&self) -> u64 {
        self.total.div_ceil(self.cycles.max(1) as u64).max(1)
    }

    /// alpha0 / 2 * (cos(pi * (j mod P) / P) + 1): alpha0 at each cycle's first iteration,
    /// nearly 0 at its last.
    pub fn lr(&self, alpha0: f64, j: u64) -> f64 {
        let p = self.cycle_length();
        alpha0 / 2.0 * ((PI * (j % p) as f64 / p as f64).cos() + 1.0)
    }

    /// The 0-based cycle iteration `j` belongs to.
    pub fn cycle(&self, j: u64) -> u64 {
        j / self.cycle_length()
    }

    /// Whether a snapshot is taken after iteration `j`: the end of a cycle, or the run's
    /// last iteration.
    pub fn snapshot_after(&self, j: u64) -> bool {
        (j + 1).is_multiple_of(self.cycle_length()) || j + 1 == self.total
    }

    /// The iterations after which snapshots are taken, in order (M of them when P divides
    /// T; fewer when rounding P up leaves the last cycle short of a whole one).
    pub fn snapshot_iterations(&self) -> Vec<u64> {
        (0..self.total)
            .filter(|&j| self.snapshot_after(j))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::CyclicCosine;

    #[test]
    fn each_cycle_starts_at_alpha0_and_ends_near_zero() {
        // T = 12, M = 3: P = 4; the rate at j mod 4 = 0, 1, 2, 3 is
        // 0.1 * (cos(k pi / 4) + 1) = 0.2, 0.1707.., 0.1, 0.0292..
        let s = CyclicCosine {
            cycles: 3,
            total: 12,
        };
        assert_eq!(s.cycle_length(), 4);
        let half_root = std::f64::consts::FRAC_1_SQRT_2;
        for start in [0, 4, 8] {
            assert_eq!(s.lr(0.2, start), 0.2);
            assert!((s.lr(0.2, start + 1) - 0.1 * (1.0 + half_root)).abs() < 1e-15);
            assert!((s.lr(0.2, start + 2) - 0.1).abs() < 1e-15);
            assert!((s.lr(0.2, start + 3) - 0.1 * (1.0 - half_root)).abs() < 1e-15);
        }
        assert_eq!(s.snapshot_iterations(), vec![3, 7, 11]);
        assert_eq!((s.cycle(3), s.cycle(4), s.cycle(11)), (0, 1, 2));
    }

    #[test]
    fn cycle_length_rounds_up_and_the_last_iteration_always_snapshots() {
        // T = 10, M = 4: P = ceil(2.5) = 3; snapshots after 2, 5, 8 and the last, 9.
        let s = CyclicCosine {
            cycles: 4,
            total: 10,
        };
        assert_eq!(s.cycle_length(), 3);
        assert_eq!(s.snapshot_iterations(), vec![2, 5, 8, 9]);
        // T = 9, M = 4: P = 3, so only three cycles fit.
        let s = CyclicCosine {
            cycles: 4,
            total: 9,
        };
        assert_eq!(s.snapshot_iterations(), vec![2, 5, 8]);
        // M = 1 is a single cosine over the whole run.
        let one = CyclicCosine {
            cycles: 1,
            total: 100,
        };
        assert!((one.lr(0.1, 50) - 0.05).abs() < 1e-15);
        assert_eq!(one.snapshot_iterations(), vec![99]);
    }
}
