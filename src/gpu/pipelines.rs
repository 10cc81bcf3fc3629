//! Pipeline cache: each WGSL module is compiled once per device, each (module, entry point,
//! override constants) pipeline is created once.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::shaders::Shader;

/// Counts of compilations, to prove the cache works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// WGSL modules compiled.
    pub modules_compiled: u64,
    /// Compute pipelines created.
    pub pipelines_created: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: &'static str,
    entry: &'static str,
    /// Override constants as (name, bits of the f64 value), in the caller's order.
    constants: Vec<(&'static str, u64)>,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    stats: Mutex<CacheStats>,
}

impl PipelineCache {
    /// The pipeline for `entry` in `shader` with the given override constants, created on
    /// first use. Bind group layouts are derived from the shader.
    pub(crate) fn get(
        &self,
        device: &wgpu::Device,
        shader: &Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> wgpu::ComputePipeline {
        let key = PipelineKey {
            shader: shader.name,
            entry,
            constants: constants.iter().map(|&(n, v)| (n, v.to_bits())).collect(),
        };
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pipeline) = pipelines.get(&key) {
            return pipeline.clone();
        }
        let module = self.module(device, shader);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(shader.name),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Our kernels initialise what they use; zeroing costs a pass over shared memory.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        self.bump(|s| s.pipelines_created += 1);
        pipelines.insert(key, pipeline.clone());
        pipeline
    }

    fn module(&self, device: &wgpu::Device, shader: &Shader) -> wgpu::ShaderModule {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(module) = modules.get(shader.name) {
            return module.clone();
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(shader.source.into()),
        });
        self.bump(|s| s.modules_compiled += 1);
        modules.insert(shader.name, module.clone());
        module
    }

    fn bump(&self, f: impl FnOnce(&mut CacheStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn stats(&self) -> CacheStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
