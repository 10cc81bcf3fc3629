//! Per-kernel GPU time from timestamp queries. While a profile is open, every dispatch is
//! recorded in its own compute pass with a timestamp at the pass's start and end, so the
//! GPU itself says how long each kernel ran; closing the profile reads the timestamps back
//! and sums them by kernel name. Only adapters with the `timestamp-query` feature can do
//! this (both software adapters this project is tested on have it; browsers may round the
//! values, Chromium to 100 microseconds unless its developer features are on).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::context::Gpu;
use super::error::GpuError;

/// Most timestamps one query set may hold (WebGPU's limit), so most dispatches timed per
/// profile: half as many.
const MAX_QUERIES: u32 = 4096;

/// GPU time of one kernel over a profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelTime {
    /// Its name in the dispatch counters.
    pub kernel: &'static str,
    /// Dispatches timed.
    pub launches: u64,
    /// Milliseconds between the starts and ends of its passes, summed.
    pub ms: f64,
}

/// What a closed profile measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KernelProfile {
    /// Per kernel, slowest first.
    pub kernels: Vec<KernelTime>,
    /// Dispatches recorded after the query set was full, so not timed.
    pub untimed: u64,
}

impl KernelProfile {
    /// Milliseconds of all timed kernels.
    pub fn total_ms(&self) -> f64 {
        self.kernels.iter().map(|k| k.ms).sum()
    }
}

/// An open profile: the query set and which kernel each pair of its slots belongs to.
pub(crate) struct Profiler {
    queries: wgpu::QuerySet,
    labels: Vec<&'static str>,
    untimed: u64,
}

/// Slot in the gpu for the open profile, if any.
#[derive(Default)]
pub(crate) struct ProfilerSlot(Mutex<Option<Profiler>>);

impl ProfilerSlot {
    /// Timestamp writes for the next dispatch of `kernel`, or None when no profile is open
    /// (or it is full, which is counted).
    pub(crate) fn next(&self, kernel: &'static str) -> Option<(wgpu::QuerySet, u32)> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let profiler = slot.as_mut()?;
        let index = profiler.labels.len() as u32 * 2;
        if index + 2 > MAX_QUERIES {
            profiler.untimed += 1;
            return None;
        }
        profiler.labels.push(kernel);
        Some((profiler.queries.clone(), index))
    }

    pub(crate) fn is_open(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

impl Gpu {
    /// Whether this adapter can time kernels ([`Gpu::begin_profile`]).
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Starts timing every dispatch recorded from now on, until [`Gpu::end_profile`].
    pub fn begin_profile(&self) -> Result<(), GpuError> {
        if !self.has_timestamps() {
            return Err(GpuError::launch(
                "profile",
                format!(
                    "{} has no timestamp queries (the 'timestamp-query' feature), so kernels \
                     cannot be timed one by one on it",
                    self.adapter().summary()
                ),
            ));
        }
        let mut slot = self.profiler.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(GpuError::launch("profile", "a profile is already open"));
        }
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel profile"),
            ty: wgpu::QueryType::Timestamp,
            count: MAX_QUERIES,
        });
        *slot = Some(Profiler {
            queries,
            labels: Vec::new(),
            untimed: 0,
        });
        Ok(())
    }

    /// Stops timing and returns each kernel's GPU time since [`Gpu::begin_profile`], once the
    /// GPU has finished the work recorded meanwhile.
    pub async fn end_profile(&self) -> Result<KernelProfile, GpuError> {
        let taken = self
            .profiler
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(profiler) = taken else {
            return Err(GpuError::launch("profile", "no profile is open"));
        };
        let count = profiler.labels.len() as u32 * 2;
        let mut profile = KernelProfile {
            kernels: Vec::new(),
            untimed: profiler.untimed,
        };
        if count == 0 {
            return Ok(profile);
        }
        self.resources.buffer(count as u64 * 8);
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel profile timestamps"),
            size: count as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("kernel profile"),
            });
        encoder.resolve_query_set(&profiler.queries, 0..count, &resolved, 0);
        self.queue.submit([encoder.finish()]);
        let bytes = self.read_bytes(&resolved, 0, count as u64 * 8).await;
        resolved.destroy();
        profiler.queries.destroy();
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes?);
        let ns_per_tick = self.queue.get_timestamp_period() as f64;
        let mut by_kernel: BTreeMap<&'static str, (u64, f64)> = BTreeMap::new();
        let mut previous_end = 0u64;
        for (i, kernel) in profiler.labels.iter().enumerate() {
            let (start, end) = (ticks[2 * i], ticks[2 * i + 1]);
            // From the later of its start and the previous dispatch's end where that one
            // ended first (recorded first), so no GPU time is counted twice; a different
            // order of submission leaves the start as it is.
            let start = match previous_end <= end {
                true => start.max(previous_end),
                false => start,
            };
            previous_end = end;
            let entry = by_kernel.entry(kernel).or_default();
            entry.0 += 1;
            entry.1 += end.saturating_sub(start) as f64 * ns_per_tick / 1e6;
        }
        profile.kernels = by_kernel
            .into_iter()
            .map(|(kernel, (launches, ms))| KernelTime {
                kernel,
                launches,
                ms,
            })
            .collect();
        profile.kernels.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(profile)
    }
}
