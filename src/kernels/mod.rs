//! Typed launchers, one module per WGSL file in `shaders/`, each with its CPU reference.

pub mod conv;
pub mod data;
pub mod elementwise;
pub mod ensemble;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;

use crate::gpu::GpuError;

/// Where a kernel argument lives: a buffer and the element offset of its first value, so
/// that tensors can sit in place inside flat parameter and activation buffers.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Offset of the first element, in f32 elements.
    pub offset: u32,
}

impl<'a> Operand<'a> {
    /// The operand starts at the beginning of `buffer`.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Operand { buffer, offset: 0 }
    }
}

/// Checks that `len` f32 elements from the operand's offset lie inside its buffer and within
/// 32-bit indexing.
pub(crate) fn check_fits(
    kernel: &'static str,
    name: &str,
    operand: Operand<'_>,
    len: usize,
) -> Result<(), GpuError> {
    let available = operand.buffer.size() / 4;
    let needed = operand.offset as u64 + len as u64;
    if needed > available {
        return Err(GpuError::launch(
            kernel,
            format!(
                "{name} needs elements {}..{needed} but its buffer holds {available}",
                operand.offset
            ),
        ));
    }
    if needed > u32::MAX as u64 {
        return Err(GpuError::launch(
            kernel,
            format!("{name} ends at element {needed}, beyond 32-bit indexing"),
        ));
    }
    Ok(())
}

/// Rejects a launch where an output buffer is also an input: WebGPU forbids binding one
/// buffer for reading and for writing in the same dispatch.
pub(crate) fn check_distinct(
    kernel: &'static str,
    output: &wgpu::Buffer,
    inputs: &[&wgpu::Buffer],
) -> Result<(), GpuError> {
    if inputs.contains(&output) {
        return Err(GpuError::launch(
            kernel,
            "the output must be in a different buffer from the inputs (WebGPU forbids binding \
             one buffer for reading and writing in one dispatch)",
        ));
    }
    Ok(())
}
