//! The wasm-bindgen API the page calls: a thin layer over the library, compiled for wasm32
//! only. Every method returns a Promise or a plain value; errors reject with a message.

use std::rc::Rc;

use js_sys::Promise;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::gpu::{Gpu, GpuError};
use crate::{bench, checks};

mod training;
pub use training::{TrainingRun, WebDataset};

/// Installs the panic hook so a bug shows its message in the console instead of
/// "unreachable executed".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()).into())
}

fn gpu_error(e: GpuError) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// The base learning rate the model family trains well with at batch size `batch` (`model`
/// as in the settings' `model` field): the page fills its rate box with it.
#[wasm_bindgen(js_name = defaultLr)]
pub fn default_lr(model: JsValue, batch: u32) -> Result<f64, JsValue> {
    let spec: crate::nn::ModelSpec = serde_wasm_bindgen::from_value(model)
        .map_err(|e| JsValue::from(JsError::new(&format!("bad model: {e}"))))?;
    Ok(spec.default_lr_at(batch))
}

/// An open GPU device in the page.
#[wasm_bindgen]
pub struct GpuSession {
    gpu: Rc<Gpu>,
}

#[wasm_bindgen]
impl GpuSession {
    /// Opens the GPU. Rejects with a message saying how to get WebGPU when it is missing.
    pub async fn open() -> Result<GpuSession, JsValue> {
        let gpu = Gpu::new().await.map_err(gpu_error)?;
        Ok(GpuSession { gpu: Rc::new(gpu) })
    }

    /// The adapter's name, backend, type and key limits.
    pub fn adapter(&self) -> Result<JsValue, JsValue> {
        to_js(self.gpu.adapter())
    }

    /// The self-test cases this device runs, in order: `[{family, index, name}]` (every case,
    /// less the subgroup build's where the adapter has no subgroups of four lanes).
    #[wasm_bindgen(js_name = selftestCases)]
    pub fn selftest_cases(&self) -> Result<JsValue, JsValue> {
        to_js(&checks::cases_for(&self.gpu))
    }

    /// Runs self-test case `index` of [`GpuSession::selftest_cases`]; resolves to a check
    /// result.
    #[wasm_bindgen(js_name = runCheck)]
    pub fn run_check(&self, index: usize) -> Promise {
        let gpu = Rc::clone(&self.gpu);
        future_to_promise(async move {
            let cases = checks::cases_for(&gpu);
            let case = cases.get(index).ok_or_else(|| {
                JsValue::from(JsError::new(&format!(
                    "there are {} self-test cases; {index} is out of range",
                    cases.len()
                )))
            })?;
            let result = checks::run(&gpu, case, index as u64)
                .await
                .map_err(gpu_error)?;
            to_js(&result)
        })
    }

    /// Measures matmul throughput at `size`^3 for at least `seconds`: both kernels on a
    /// GPU, the register blocks alone on a software adapter (where the workgroup-memory
    /// tiles lose several times over and would only make the page wait).
    #[wasm_bindgen(js_name = benchMatmul)]
    pub fn bench_matmul(&self, size: u32, seconds: f64) -> Promise {
        let gpu = Rc::clone(&self.gpu);
        future_to_promise(async move {
            use crate::kernels::matmul::MatmulAlgorithm;
            let kernels = MatmulAlgorithm::for_adapter(&gpu);
            let result = bench::matmul(&gpu, size, seconds, kernels)
                .await
                .map_err(gpu_error)?;
            to_js(&result)
        })
    }

    /// The kernel-benchmark items at `batch` on this device, in order (the subgroup build's
    /// rows only where the adapter has 4-lane subgroups).
    #[wasm_bindgen(js_name = kernelBenchItems)]
    pub fn kernel_bench_items(&self, batch: u32) -> Result<JsValue, JsValue> {
        to_js(&bench::suite::items(batch, self.gpu.subgroup_rows()))
    }

    /// Measures kernel-benchmark item `index` of [`GpuSession::kernel_bench_items`] at `batch`.
    #[wasm_bindgen(js_name = runKernelBench)]
    pub fn run_kernel_bench(&self, batch: u32, index: usize, seconds: f64) -> Promise {
        let gpu = Rc::clone(&self.gpu);
        future_to_promise(async move {
            let items = bench::suite::items(batch, gpu.subgroup_rows());
            let item = items.get(index).ok_or_else(|| {
                JsValue::from(JsError::new(&format!("no benchmark item {index}")))
            })?;
            let row = bench::suite::run_item(&gpu, item, seconds)
                .await
                .map_err(gpu_error)?;
            to_js(&row)
        })
    }

    /// Why the device was lost (a readback fails first, the reason arrives shortly
    /// after), or undefined while it works.
    #[wasm_bindgen(js_name = lostReason)]
    pub fn lost_reason(&self) -> Option<String> {
        self.gpu.lost_reason()
    }

    /// The kernel choices measured (or loaded) on this device, in their kept form (JSON):
    /// the page keeps it in IndexedDB so the next start measures nothing.
    #[wasm_bindgen(js_name = kernelChoices)]
    pub fn kernel_choices(&self) -> String {
        self.gpu.kernel_choices_json()
    }

    /// Loads kept kernel choices; resolves to how many, or rejects with why they cannot be
    /// trusted here (another adapter, driver or version of the kernels): then they are
    /// measured again.
    #[wasm_bindgen(js_name = loadKernelChoices)]
    pub fn load_kernel_choices(&self, text: &str) -> Result<usize, JsValue> {
        self.gpu
            .load_kernel_choices(text)
            .map_err(|why| JsValue::from(JsError::new(&why)))
    }

    /// The kernel choices as [question, answer] pairs, for the drawer.
    #[wasm_bindgen(js_name = kernelChoiceList)]
    pub fn kernel_choice_list(&self) -> Result<JsValue, JsValue> {
        to_js(&self.gpu.kernel_choices())
    }

    /// Dispatches recorded per kernel since the session opened.
    #[wasm_bindgen(js_name = dispatchCounts)]
    pub fn dispatch_counts(&self) -> Result<JsValue, JsValue> {
        to_js(&self.gpu.counters().snapshot())
    }
}
