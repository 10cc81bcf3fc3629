//! Asynchronous readback. Nothing here blocks in the browser: the map callback fires from
//! the browser's event loop and the future resolves then. Natively the device is polled.

use super::context::Gpu;
use super::dispatch::Commands;
use super::error::GpuError;

/// A mappable buffer kept for repeated readbacks, so a training loop that reads its metrics
/// every few steps creates no buffers while it runs.
#[derive(Debug)]
pub struct Staging {
    buffer: wgpu::Buffer,
}

impl Staging {
    /// Its capacity in bytes.
    pub fn size(&self) -> u64 {
        self.buffer.size()
    }
}

fn check_range(buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<(), GpuError> {
    if !offset.is_multiple_of(4) || !bytes.is_multiple_of(4) || offset + bytes > buffer.size() {
        return Err(GpuError::Readback(format!(
            "range {offset}..{} of a {}-byte buffer is out of bounds or not 4-byte aligned",
            offset + bytes,
            buffer.size()
        )));
    }
    Ok(())
}

impl Gpu {
    /// A staging buffer for [`Gpu::read_into`] of up to `bytes` bytes.
    pub fn staging(&self, label: &str, bytes: u64) -> Staging {
        let size = bytes.max(4).next_multiple_of(4);
        self.resources.buffer(size);
        Staging {
            buffer: self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }

    /// Copies `bytes` bytes of `buffer` from byte `offset` (both multiples of 4) and returns
    /// them once the GPU has finished all work submitted before.
    pub async fn read_bytes(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<u8>, GpuError> {
        check_range(buffer, offset, bytes)?;
        self.check_faults()?;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.staging("readback", bytes);
        let data = self.read_into(&staging, buffer, offset, bytes).await;
        staging.buffer.destroy();
        data
    }

    /// [`Gpu::read_bytes`] through a staging buffer kept by the caller.
    pub async fn read_into(
        &self,
        staging: &Staging,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Vec<u8>, GpuError> {
        check_range(buffer, offset, bytes)?;
        if bytes > staging.size() {
            return Err(GpuError::Readback(format!(
                "{bytes} bytes do not fit a {}-byte staging buffer",
                staging.size()
            )));
        }
        self.check_faults()?;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = &staging.buffer;
        let mut commands = Commands::new(self, "readback");
        commands.copy(buffer, offset, staging, 0, bytes);
        commands.submit();

        let (sender, receiver) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes, move |result| {
            // The receiver only disappears if the caller dropped the future; nothing to do then.
            let _ = sender.send(result);
        });
        #[cfg(not(target_arch = "wasm32"))]
        if let Err(e) = self.device.poll(wgpu::PollType::wait_indefinitely()) {
            self.check_faults()?;
            return Err(GpuError::Readback(e.to_string()));
        }
        let mapped = receiver
            .await
            .map_err(|_| GpuError::Readback("the map request was dropped".into()))?;
        self.check_faults()?;
        mapped.map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = staging
            .get_mapped_range(..bytes)
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Reads `len` f32 values of `buffer` starting at element `offset`.
    pub async fn read_f32(
        &self,
        buffer: &wgpu::Buffer,
        offset: usize,
        len: usize,
    ) -> Result<Vec<f32>, GpuError> {
        let bytes = self
            .read_bytes(buffer, offset as u64 * 4, len as u64 * 4)
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Resolves once the GPU has finished everything submitted so far.
    pub async fn finish(&self) -> Result<(), GpuError> {
        // A tiny readback is the one completion signal that works on every platform.
        let marker = self.storage("finish marker", 4)?;
        self.read_bytes(&marker, 0, 4).await.map(|_| ())
    }
}
