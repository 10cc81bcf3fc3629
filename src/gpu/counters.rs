//! Per-kernel dispatch counters: how many times each kernel was recorded for execution.
//!
//! Later work uses these to prove that frozen blocks dispatch no backward kernels.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts dispatches per kernel name; cheap enough to stay on in production.
#[derive(Debug, Default)]
pub struct DispatchCounters {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl DispatchCounters {
    /// Adds one dispatch of `kernel`.
    pub fn add(&self, kernel: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(kernel).or_insert(0) += 1;
    }

    /// How many times `kernel` was dispatched since the last reset.
    pub fn get(&self, kernel: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(kernel).copied().unwrap_or(0)
    }

    /// All counts since the last reset, by kernel name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
