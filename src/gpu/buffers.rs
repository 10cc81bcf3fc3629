//! Buffer helpers that check the adapter's limits before asking for memory.

use wgpu::util::DeviceExt;

use super::context::Gpu;
use super::error::GpuError;

/// Usage of every storage buffer: bound to kernels, filled by uploads, copied for readback
/// and snapshots.
const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// Checks that a storage buffer of `bytes` fits this adapter's limits.
    pub fn check_storage_size(&self, label: &str, bytes: u64) -> Result<(), GpuError> {
        let too_large = |limit: u64, what: &'static str| GpuError::BufferTooLarge {
            label: label.to_string(),
            bytes,
            limit,
            what,
        };
        if bytes > self.limits.max_buffer_size {
            return Err(too_large(self.limits.max_buffer_size, "max_buffer_size"));
        }
        let binding = self.limits.max_storage_buffer_binding_size;
        if bytes > binding {
            return Err(too_large(binding, "max_storage_buffer_binding_size"));
        }
        Ok(())
    }

    /// A zero-filled storage buffer of `bytes` (rounded up to a whole, non-zero number of
    /// 4-byte words, since bindings must be).
    pub fn storage(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
        let size = bytes.max(4).next_multiple_of(4);
        self.check_storage_size(label, size)?;
        self.resources.buffer(size);
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data` (zero-padded to a whole number of words).
    pub fn storage_from<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
    ) -> Result<wgpu::Buffer, GpuError> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let buffer = self.storage(label, bytes.len() as u64)?;
        if bytes.len().is_multiple_of(4) {
            self.queue.write_buffer(&buffer, 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            self.queue.write_buffer(&buffer, 0, &padded);
        }
        Ok(buffer)
    }

    /// A uniform buffer holding `value`, rewritable with [`Gpu::write`].
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.resources.buffer(std::mem::size_of::<T>() as u64);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Queues a write of `data` into `buffer` at byte `offset`; it lands before the next submit.
    pub fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, offset: u64, data: &[T]) {
        self.queue
            .write_buffer(buffer, offset, bytemuck::cast_slice(data));
    }
}
