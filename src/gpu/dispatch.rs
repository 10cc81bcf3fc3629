//! Prepared dispatches and the command recorder that counts them.
//!
//! A [`Dispatch`] is built once (pipeline, bind group, grid) and replayed every step, so a
//! training step is only dispatch recording plus one submit.

use super::context::Gpu;
use super::error::GpuError;
use crate::shaders::Shader;

/// One kernel launch, ready to record: pipeline, bind group and workgroup grid.
#[derive(Clone, Debug)]
pub struct Dispatch {
    kernel: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl Dispatch {
    /// Prepares a launch of `entry` in `shader`, binding `buffers` to group 0 in order
    /// (binding i = buffers[i], whole buffer). `kernel` names it in the dispatch counters.
    pub fn new(
        gpu: &Gpu,
        kernel: &'static str,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        let max = gpu.limits.max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&w| w > max) {
            return Err(GpuError::launch(
                kernel,
                format!("grid {workgroups:?} exceeds the adapter's {max} workgroups per dimension"),
            ));
        }
        let pipeline = gpu.pipelines.get(&gpu.device, shader, entry, constants);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Ok(Dispatch {
            kernel,
            pipeline,
            bind_group,
            workgroups,
        })
    }

    /// The kernel's name in the dispatch counters.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }

    /// The workgroup grid.
    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }
}

/// Records GPU work into one command encoder; [`Commands::submit`] sends it as one submit.
pub struct Commands<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
}

impl<'g> Commands<'g> {
    /// Starts recording.
    pub fn new(gpu: &'g Gpu, label: &str) -> Self {
        let encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        Commands { gpu, encoder }
    }

    /// Records `dispatches` in order in one compute pass, counting each.
    pub fn run(&mut self, dispatches: &[&Dispatch]) {
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        for d in dispatches {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            pass.dispatch_workgroups(x, y, z);
            self.gpu.counters().add(d.kernel);
        }
    }

    /// Records a buffer-to-buffer copy of `bytes` bytes.
    pub fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        bytes: u64,
    ) {
        self.encoder
            .copy_buffer_to_buffer(src, src_offset, dst, dst_offset, bytes);
    }

    /// Submits everything recorded.
    pub fn submit(self) -> wgpu::SubmissionIndex {
        self.gpu.queue.submit([self.encoder.finish()])
    }
}
