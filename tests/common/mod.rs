//! Shared setup for the native GPU tests.

use snapfreeze::gpu::Gpu;

/// Opens whatever adapter wgpu finds (the software Vulkan driver on a machine without a GPU)
/// and says which one, so a failure report names it.
pub fn gpu() -> Gpu {
    let gpu = pollster::block_on(Gpu::new()).unwrap_or_else(|e| panic!("cannot open a GPU: {e}"));
    eprintln!("adapter: {}", gpu.adapter().summary());
    gpu
}
