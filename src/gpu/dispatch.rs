//! Prepared dispatches and the command recorder that counts them.
//!
//! A [`Dispatch`] is built once (pipeline, bind group, grid) and replayed every step, so a
//! training step is only dispatch recording plus one submit.

use super::context::Gpu;
use super::error::GpuError;
use crate::shaders::Shader;

/// One kernel launch, ready to record: pipeline, bind group, its uniform parameters and
/// the workgroup grid.
#[derive(Clone, Debug)]
pub struct Dispatch {
    kernel: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    workgroups: [u32; 3],
}

impl Dispatch {
    /// Prepares a launch of `entry` in `shader`: `params` go into a uniform buffer bound at
    /// binding 0 of group 0, and each `(binding, buffer)` binds a whole buffer. `kernel`
    /// names the launch in the dispatch counters.
    #[allow(clippy::too_many_arguments)]
    pub fn new<P: bytemuck::Pod>(
        gpu: &Gpu,
        kernel: &'static str,
        shader: &Shader,
        entry: &'static str,
        params: &P,
        buffers: &[(u32, &wgpu::Buffer)],
        workgroups: [u32; 3],
    ) -> Result<Dispatch, GpuError> {
        Self::with_constants(gpu, kernel, shader, entry, &[], params, buffers, workgroups)
    }

    /// [`Dispatch::new`] with the shader's `override` constants set, as (name, value).
    #[allow(clippy::too_many_arguments)]
    pub fn with_constants<P: bytemuck::Pod>(
        gpu: &Gpu,
        kernel: &'static str,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        params: &P,
        buffers: &[(u32, &wgpu::Buffer)],
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
        let params = gpu.uniform(kernel, params);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        entries.extend(
            buffers
                .iter()
                .map(|&(binding, buffer)| wgpu::BindGroupEntry {
                    binding,
                    resource: buffer.as_entire_binding(),
                }),
        );
        gpu.resources.bind_group();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Ok(Dispatch {
            kernel,
            pipeline,
            bind_group,
            params,
            workgroups,
        })
    }

    /// Replaces the uniform parameters (same type as given to [`Dispatch::new`]); the new
    /// values apply from the next submit.
    pub fn set_params<P: bytemuck::Pod>(&self, gpu: &Gpu, params: &P) {
        gpu.write(&self.params, 0, std::slice::from_ref(params));
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

fn record(pass: &mut wgpu::ComputePass<'_>, d: &Dispatch) {
    pass.set_pipeline(&d.pipeline);
    pass.set_bind_group(0, &d.bind_group, &[]);
    let [x, y, z] = d.workgroups;
    pass.dispatch_workgroups(x, y, z);
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

    /// Records `dispatches` in order in one compute pass, counting each. While a kernel
    /// profile is open each gets its own pass, timed ([`Gpu::begin_profile`]).
    pub fn run(&mut self, dispatches: &[&Dispatch]) {
        if self.gpu.profiler.is_open() {
            for d in dispatches {
                let timing = self.gpu.profiler.next(d.kernel);
                let writes =
                    timing
                        .as_ref()
                        .map(|(queries, index)| wgpu::ComputePassTimestampWrites {
                            query_set: queries,
                            beginning_of_pass_write_index: Some(*index),
                            end_of_pass_write_index: Some(index + 1),
                        });
                let mut pass = self
                    .encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(d.kernel),
                        timestamp_writes: writes,
                    });
                record(&mut pass, d);
                self.gpu.counters().add(d.kernel);
            }
            return;
        }
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        for d in dispatches {
            record(&mut pass, d);
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

    /// Records zero-filling of `bytes` bytes of `buffer` from byte `offset`.
    pub fn clear(&mut self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) {
        self.encoder.clear_buffer(buffer, offset, Some(bytes));
    }

    /// Submits everything recorded.
    pub fn submit(self) -> wgpu::SubmissionIndex {
        self.gpu.queue.submit([self.encoder.finish()])
    }
}
