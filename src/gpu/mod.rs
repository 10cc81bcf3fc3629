//! The WebGPU runtime shared by the browser and native builds: device creation, buffers,
//! pipeline cache, prepared dispatches, async readback, dispatch counters, kernel timing,
//! errors.

mod buffers;
mod choices;
mod context;
mod counters;
mod dispatch;
mod error;
mod pipelines;
mod profiler;
mod readback;
pub mod timing;

pub use choices::{ChoiceKey, KernelChoices};
pub use context::{AdapterReport, Gpu, NO_NATIVE_ADAPTER_HELP, NO_WEBGPU_HELP};
pub use counters::{DispatchCounters, ResourceCounters, ResourceCounts};
pub use dispatch::{Commands, Dispatch};
pub use error::GpuError;
pub use pipelines::CacheStats;
pub use profiler::{KernelProfile, KernelTime};
pub use readback::Staging;
