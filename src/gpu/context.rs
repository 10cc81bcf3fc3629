//! Adapter and device creation, one code path for the browser (WebGPU) and native
//! (Vulkan, Metal, DX12, GL).

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::choices::{ChoiceKey, KernelChoices};
use super::counters::{DispatchCounters, ResourceCounters};
use super::error::GpuError;
use super::pipelines::PipelineCache;
use super::profiler::ProfilerSlot;

/// Message shown when the browser has no usable WebGPU.
pub const NO_WEBGPU_HELP: &str =
    "WebGPU is unavailable in this browser, so nothing can be trained \
here. Use a browser with WebGPU enabled: Chrome or Edge 113 or later on Windows, macOS or \
ChromeOS; Safari 26 or later; Firefox 141 or later on Windows. On Linux, Chrome and Chromium \
need the flag chrome://flags/#enable-unsafe-webgpu (or the command-line switch \
--enable-unsafe-webgpu). Then reload this page.";

/// Message shown when no native adapter is found.
pub const NO_NATIVE_ADAPTER_HELP: &str = "no GPU adapter was found. Choose a backend with the \
WGPU_BACKEND environment variable (vulkan, metal, dx12 or gl, comma-separated), check that a \
GPU driver is installed, or on a machine without a GPU install Mesa's software Vulkan driver \
(Debian/Ubuntu: apt install mesa-vulkan-drivers) and set WGPU_BACKEND=vulkan.";

/// GPU faults reported asynchronously by the device, surfaced at the next readback.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) error: Mutex<Option<String>>,
    pub(crate) lost: Mutex<Option<String>>,
}

impl Faults {
    /// The lost-device reason if any, else the first uncaptured error (which is cleared).
    pub(crate) fn take(&self) -> Option<GpuError> {
        if let Some(reason) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(GpuError::DeviceLost(reason));
        }
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(GpuError::Device)
    }
}

/// Whether the page gave the last device it opened the `subgroups` feature
/// (`www/js/subgroups.js` sets `snapfreezeSubgroups`). Natively: never, since naga does not
/// implement `enable subgroups`.
fn page_enabled_subgroups() -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Reflect::get(&js_sys::global(), &"snapfreezeSubgroups".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        false
    }
}

/// The adapter's identity and the limits that matter for training, for display and reports.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    /// Adapter name (on the web: the browser's description, often empty).
    pub name: String,
    /// Backend: Vulkan, Metal, Dx12, Gl or BrowserWebGpu.
    pub backend: String,
    /// Discrete, integrated, virtual, CPU (software) or other.
    pub device_type: String,
    /// Driver name and version where the backend reports them.
    pub driver: String,
    /// PCI vendor id (0 when unknown, always on the web).
    pub vendor_id: u32,
    /// PCI device id (0 when unknown).
    pub device_id: u32,
    /// Largest buffer the device accepts, in bytes.
    pub max_buffer_size: u64,
    /// Largest storage buffer binding, in bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Storage buffers one shader stage may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Workgroup memory, in bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroup size limit in x.
    pub max_compute_workgroup_size_x: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Fewest and most lanes of a subgroup (0 where unknown).
    pub subgroup_sizes: [u32; 2],
    /// Whether the register-tiled convolution kernels can share their row loads within a
    /// subgroup here (see [`Gpu::subgroup_rows`]).
    pub subgroup_rows: bool,
}

impl AdapterReport {
    fn new(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        AdapterReport {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver,
            vendor_id: info.vendor,
            device_id: info.device,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
            subgroup_sizes: [info.subgroup_min_size, info.subgroup_max_size],
            subgroup_rows: false,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        }
    }

    /// One line naming the adapter, for logs and benchmark tables.
    pub fn summary(&self) -> String {
        let name = if self.name.is_empty() {
            "unnamed adapter"
        } else {
            &self.name
        };
        format!("{name} ({}, {})", self.backend, self.device_type)
    }
}

/// A device and queue with everything the kernels share: pipeline cache, dispatch counters
/// and fault tracking. Create one per adapter and pass it by reference.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    pub(crate) pipelines: PipelineCache,
    pub(crate) faults: Arc<Faults>,
    counters: DispatchCounters,
    pub(crate) resources: ResourceCounters,
    pub(crate) profiler: ProfilerSlot,
    report: AdapterReport,
    choices: Mutex<KernelChoices>,
    choice_key: ChoiceKey,
}

impl Gpu {
    /// Finds the best adapter (high-performance first) and opens a device on it, asking for
    /// the adapter's own limits so large buffers work where the hardware allows them.
    ///
    /// Natively the backend can be chosen with `WGPU_BACKEND`; in the browser only WebGPU is
    /// used.
    pub async fn new() -> Result<Gpu, GpuError> {
        let adapter = best_adapter().await?;
        Self::from_adapter(&adapter).await
    }

    /// [`Gpu::new`] asking for `limits` instead of the adapter's own: with
    /// `wgpu::Limits::default()`, WebGPU's, which every WebGPU adapter offers, so a test can
    /// show that every kernel runs within them whatever this machine allows beyond them.
    pub async fn with_limits(limits: wgpu::Limits) -> Result<Gpu, GpuError> {
        let adapter = best_adapter().await?;
        Self::open(&adapter, limits).await
    }

    /// Opens a device on a chosen adapter.
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu, GpuError> {
        Self::open(adapter, adapter.limits()).await
    }

    async fn open(adapter: &wgpu::Adapter, limits: wgpu::Limits) -> Result<Gpu, GpuError> {
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("snapfreeze"),
                // Timestamps, where the adapter has them, let `begin_profile` time kernels.
                required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let faults = Arc::new(Faults::default());
        {
            // Without a handler wgpu panics on an uncaptured error; keep it for the next readback.
            let faults = Arc::clone(&faults);
            device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                log::error!("GPU error: {error}");
                let mut slot = faults.error.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| error.to_string());
            }));
        }
        {
            let faults = Arc::clone(&faults);
            device.set_device_lost_callback(move |reason, message| {
                log::error!("GPU device lost: {reason:?} {message}");
                let mut slot = faults.lost.lock().unwrap_or_else(|e| e.into_inner());
                *slot = Some(match message.is_empty() {
                    true => format!("{reason:?}"),
                    false => format!("{reason:?}: {message}"),
                });
            });
        }
        let mut report = AdapterReport::new(&adapter.get_info(), &limits);
        report.subgroup_rows = report.subgroup_sizes == [4, 4] && page_enabled_subgroups();
        let choice_key = ChoiceKey::new(&report);
        Ok(Gpu {
            device,
            queue,
            limits,
            pipelines: PipelineCache::default(),
            faults,
            counters: DispatchCounters::default(),
            resources: ResourceCounters::default(),
            profiler: ProfilerSlot::default(),
            report,
            choices: Mutex::default(),
            choice_key,
        })
    }

    /// The adapter's identity and key limits.
    pub fn adapter(&self) -> &AdapterReport {
        &self.report
    }

    /// Whether the register-tiled convolution kernels may load their rows once per subgroup
    /// and share them by broadcast (`shaders::CONV_SUBGROUP`): only in the browser, where the
    /// page added the `subgroups` feature to the device request (wgpu 30 cannot ask for it
    /// on the web; `www/js/subgroups.js`), and where every subgroup has exactly four lanes,
    /// so that the lanes of one are four neighbours with the same rows.
    pub fn subgroup_rows(&self) -> bool {
        self.report.subgroup_rows
    }

    /// Whether the adapter reports itself as a CPU (software) implementation: lavapipe,
    /// SwiftShader, WARP.
    pub fn is_software(&self) -> bool {
        self.report.device_type == "Cpu"
    }

    /// The device's limits (equal to the adapter's).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The underlying wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The underlying wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Dispatches recorded per kernel.
    pub fn counters(&self) -> &DispatchCounters {
        &self.counters
    }

    /// Buffers and bind groups created on this device so far.
    pub fn resource_counts(&self) -> super::counters::ResourceCounts {
        self.resources.get()
    }

    /// Shader modules compiled and pipelines created on this device so far.
    pub fn cache_stats(&self) -> super::pipelines::CacheStats {
        self.pipelines.stats()
    }

    /// The answer measured earlier on this adapter to a kernel-choice question (see
    /// [`KernelChoices`]), if any.
    pub fn remembered_choice(&self, question: &str) -> Option<String> {
        self.lock_choices().get(question).map(str::to_string)
    }

    /// Remembers a measured kernel choice for the rest of this device's life (and for
    /// [`Gpu::kernel_choices_json`]).
    pub fn remember_choice(&self, question: String, answer: String) {
        self.lock_choices().set(question, answer);
    }

    /// Sets the answer to `question`, or forgets it with `None`: how a measurement or a
    /// check that tries each answer in turn puts back what the device had before.
    pub fn set_choice(&self, question: &str, answer: Option<String>) {
        match answer {
            Some(a) => self.lock_choices().set(question.to_string(), a),
            None => self.lock_choices().remove(question),
        }
    }

    /// Every kernel choice made or loaded so far, as (question, answer).
    pub fn kernel_choices(&self) -> Vec<(String, String)> {
        let choices = self.lock_choices();
        let entries = choices.entries();
        entries
            .map(|(q, a)| (q.to_string(), a.to_string()))
            .collect()
    }

    /// What the kernel choices are valid for: this adapter, driver and build's kernels.
    pub fn choice_key(&self) -> &ChoiceKey {
        &self.choice_key
    }

    /// The kernel choices in their kept form (a JSON file natively, IndexedDB in the page).
    pub fn kernel_choices_json(&self) -> String {
        self.lock_choices().to_json(&self.choice_key)
    }

    /// Adds kept kernel choices, if they were measured on this adapter and driver with these
    /// kernels; returns how many, or why they were refused (then they are measured again).
    pub fn load_kernel_choices(&self, text: &str) -> Result<usize, String> {
        let kept = KernelChoices::from_json(text, &self.choice_key)?;
        let mut choices = self.lock_choices();
        for (q, a) in kept.entries() {
            choices.set(q.to_string(), a.to_string());
        }
        Ok(kept.len())
    }

    fn lock_choices(&self) -> std::sync::MutexGuard<'_, KernelChoices> {
        self.choices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the device was lost, if it was (the browser reports it shortly after the failure
    /// it causes, so a failed readback may come first).
    pub fn lost_reason(&self) -> Option<String> {
        self.faults
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Returns the pending GPU fault, if the device reported one since the last check.
    pub fn check_faults(&self) -> Result<(), GpuError> {
        match self.faults.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// The adapter wgpu finds, high-performance first (`WGPU_POWER_PREF` can say otherwise).
async fn best_adapter() -> Result<wgpu::Adapter, GpuError> {
    let instance = create_instance()?;
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env()
                .unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter(no_adapter_message(&e.to_string())))
}

#[cfg(not(target_arch = "wasm32"))]
fn create_instance() -> Result<wgpu::Instance, GpuError> {
    Ok(wgpu::Instance::new(
        wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
    ))
}

#[cfg(target_arch = "wasm32")]
fn create_instance() -> Result<wgpu::Instance, GpuError> {
    // wgpu panics if `navigator.gpu` cannot be reached, so look first.
    let global = js_sys::global();
    let navigator = js_sys::Reflect::get(&global, &"navigator".into()).unwrap_or_default();
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or_default();
    if gpu.is_undefined() || gpu.is_null() {
        return Err(GpuError::NoAdapter(NO_WEBGPU_HELP.to_string()));
    }
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::BROWSER_WEBGPU;
    Ok(wgpu::Instance::new(desc))
}

fn no_adapter_message(detail: &str) -> String {
    if cfg!(target_arch = "wasm32") {
        format!("{NO_WEBGPU_HELP} (detail: {detail})")
    } else {
        format!("{NO_NATIVE_ADAPTER_HELP} (detail: {detail})")
    }
}
