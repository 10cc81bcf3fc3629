//! Typed launchers, one module per WGSL file in `shaders/`, each with its CPU reference.

pub mod average;
pub mod conv;
pub mod data;
pub mod elementwise;
pub mod ensemble;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod params;
pub mod pool;

use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders::Shader;

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

/// The checks and bindings every launcher shares: each operand is bound at its binding
/// number after checking that its elements fit its buffer, and the dispatch is only built
/// when no buffer the kernel writes is bound anywhere else (WebGPU forbids binding one
/// buffer for reading and writing in one dispatch).
pub(crate) struct Launch<'a> {
    gpu: &'a Gpu,
    kernel: &'static str,
    /// (binding, buffer, written by the kernel)
    bindings: Vec<(u32, &'a wgpu::Buffer, bool)>,
}

impl<'a> Launch<'a> {
    /// A launch of `kernel` (the name errors and counters use).
    pub fn new(gpu: &'a Gpu, kernel: &'static str) -> Self {
        Launch {
            gpu,
            kernel,
            bindings: Vec::new(),
        }
    }

    /// The kernel launched.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }

    /// Checks that `len` elements of `operand` fit, where its buffer is bound already (a
    /// second tensor in one binding).
    pub fn fits(self, name: &str, operand: Operand<'a>, len: usize) -> Result<Self, GpuError> {
        check_fits(self.kernel, name, operand, len)?;
        Ok(self)
    }

    /// `operand`, `len` elements the kernel reads or (`written`) writes, at `binding`.
    pub fn bind(
        mut self,
        binding: u32,
        name: &str,
        operand: Operand<'a>,
        len: usize,
        written: bool,
    ) -> Result<Self, GpuError> {
        check_fits(self.kernel, name, operand, len)?;
        self.bindings.push((binding, operand.buffer, written));
        Ok(self)
    }

    /// `operand`, `len` elements the kernel reads, at `binding`.
    pub fn read(
        self,
        binding: u32,
        name: &str,
        operand: Operand<'a>,
        len: usize,
    ) -> Result<Self, GpuError> {
        self.bind(binding, name, operand, len, false)
    }

    /// `operand`, `len` elements the kernel writes (or updates), at `binding`.
    pub fn write(
        self,
        binding: u32,
        name: &str,
        operand: Operand<'a>,
        len: usize,
    ) -> Result<Self, GpuError> {
        self.bind(binding, name, operand, len, true)
    }

    /// A buffer the layout needs at `binding` that this launch never touches (an absent
    /// optional operand): any buffer already read will do.
    pub fn unused(mut self, binding: u32, buffer: &'a wgpu::Buffer) -> Self {
        self.bindings.push((binding, buffer, false));
        self
    }

    /// Builds the dispatch of `entry` in `shader` over `grid` workgroups.
    pub fn dispatch<P: bytemuck::Pod>(
        self,
        shader: &Shader,
        entry: &'static str,
        params: &P,
        grid: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        self.dispatch_with(shader, entry, &[], params, grid)
    }

    /// [`Launch::dispatch`] with the shader's `override` constants set.
    pub fn dispatch_with<P: bytemuck::Pod>(
        self,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        params: &P,
        grid: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        let bound = |buffer| self.bindings.iter().filter(|b| b.1 == buffer).count();
        if self
            .bindings
            .iter()
            .any(|&(_, buffer, written)| written && bound(buffer) > 1)
        {
            return Err(GpuError::launch(
                self.kernel,
                "the output must be in a different buffer from the inputs (WebGPU forbids \
                 binding one buffer for reading and writing in one dispatch)",
            ));
        }
        let buffers: Vec<(u32, &wgpu::Buffer)> = self
            .bindings
            .iter()
            .map(|&(b, buffer, _)| (b, buffer))
            .collect();
        Dispatch::with_constants(
            self.gpu,
            self.kernel,
            shader,
            entry,
            constants,
            params,
            &buffers,
            grid,
        )
    }
}
