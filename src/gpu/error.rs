//! Typed errors for everything that can go wrong between us and the GPU.

use thiserror::Error;

/// What went wrong talking to the GPU; every message says what to do about it.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter at all: the browser lacks WebGPU, or no native driver was found.
    #[error("{0}")]
    NoAdapter(String),
    /// The adapter exists but refused to create a device.
    #[error("the GPU adapter refused to create a device: {0}")]
    RequestDevice(String),
    /// A buffer larger than the adapter allows was asked for.
    #[error(
        "buffer '{label}' needs {bytes} bytes but this adapter allows at most {limit} ({what}); \
         use a smaller model or batch size, or a GPU with larger limits"
    )]
    BufferTooLarge {
        /// Which buffer.
        label: String,
        /// Bytes requested.
        bytes: u64,
        /// The adapter's limit.
        limit: u64,
        /// Which limit was exceeded.
        what: &'static str,
    },
    /// A kernel was launched with arguments that do not fit its buffers or the adapter.
    #[error("invalid launch of kernel '{kernel}': {reason}")]
    InvalidLaunch {
        /// The kernel.
        kernel: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The GPU reported a validation or out-of-memory error.
    #[error("the GPU reported an error: {0}")]
    Device(String),
    /// The device was lost (driver reset, tab in background too long, device destroyed).
    #[error("the GPU device was lost ({0}); a run can go on from its last saved training state on a new device")]
    DeviceLost(String),
    /// Reading a buffer back from the GPU failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
}

impl GpuError {
    /// Shorthand for an [`GpuError::InvalidLaunch`].
    pub fn launch(kernel: &'static str, reason: impl Into<String>) -> Self {
        GpuError::InvalidLaunch {
            kernel,
            reason: reason.into(),
        }
    }
}
