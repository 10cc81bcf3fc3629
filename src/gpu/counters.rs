//! Per-kernel dispatch counters: how many times each kernel was recorded for execution.
//!
//! Later work uses these to prove that frozen blocks dispatch no backward kernels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// GPU objects created on a device: a training run must create none after its first step.
#[derive(Debug, Default)]
pub struct ResourceCounters {
    buffers: AtomicU64,
    bytes: AtomicU64,
    bind_groups: AtomicU64,
}

/// How many buffers and bind groups a device has created so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResourceCounts {
    /// Buffers of any kind (storage, uniform, staging).
    pub buffers: u64,
    /// Their bytes: GPU memory asked for so far.
    pub bytes: u64,
    /// Bind groups.
    pub bind_groups: u64,
}

impl ResourceCounters {
    pub(crate) fn buffer(&self, bytes: u64) {
        self.buffers.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn bind_group(&self) {
        self.bind_groups.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn get(&self) -> ResourceCounts {
        ResourceCounts {
            buffers: self.buffers.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            bind_groups: self.bind_groups.load(Ordering::Relaxed),
        }
    }
}
