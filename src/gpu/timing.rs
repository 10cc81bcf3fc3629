//! Wall-clock timing of prepared dispatches, for the benchmarks and for choosing between
//! kernel variants at start-up. The clock stops only once the GPU has finished.

use web_time::Instant;

use super::context::Gpu;
use super::dispatch::{Commands, Dispatch};
use super::error::GpuError;

/// Most repetitions recorded into one submit.
const MAX_REPS_PER_SUBMIT: u32 = 200;

/// Seconds for `reps` runs of `op` (its dispatches in order), recorded into as few submits
/// as possible, until the GPU has finished them.
pub async fn time_runs(gpu: &Gpu, op: &[&Dispatch], reps: u32) -> Result<f64, GpuError> {
    let start = Instant::now();
    let mut left = reps;
    while left > 0 {
        let now = left.min(MAX_REPS_PER_SUBMIT);
        let mut commands = Commands::new(gpu, "timing");
        let recorded: Vec<&Dispatch> = (0..now).flat_map(|_| op.iter().copied()).collect();
        commands.run(&recorded);
        commands.submit();
        left -= now;
    }
    gpu.finish().await?;
    Ok(start.elapsed().as_secs_f64())
}

/// Milliseconds per run of `op` and the runs timed: one warm-up, one timed run to size the
/// measurement, then enough runs to last at least `min_seconds`.
pub async fn ms_per_run(
    gpu: &Gpu,
    op: &[&Dispatch],
    min_seconds: f64,
) -> Result<(f64, u32), GpuError> {
    time_runs(gpu, op, 1).await?;
    let once = time_runs(gpu, op, 1).await?;
    if once >= min_seconds {
        return Ok((once * 1e3, 1));
    }
    let reps = ((min_seconds / once.max(1e-6)).ceil() as u32).clamp(1, 10_000);
    let seconds = time_runs(gpu, op, reps).await?;
    Ok((seconds * 1e3 / reps as f64, reps))
}

/// Milliseconds a start-up choice times each candidate for at least: on a real GPU one run
/// of a layer's kernel takes a tenth of a millisecond, less than the submit and the wait
/// around it, and timed once the choice was noise (an H200 took a kernel 1.5 times slower
/// than its rival for ResNet-20's stage 1 in one run of three). Software adapters take
/// longer than this for one run, so they still time one.
const CHOICE_MIN_MS: f64 = 3.0;

/// Most runs a start-up choice times one candidate for.
const CHOICE_MAX_REPS: u32 = 64;

/// [`ms_per_run`] for a candidate that must beat `to_beat_ms`: on a software adapter, when
/// its warm-up run alone already takes more than twice that, it cannot win and is not timed
/// again (that warm-up time is returned), so the page spends little time on GPU variants
/// that such an adapter runs several times slower. Else one run sizes the timing, and enough
/// runs in one submit to last [`CHOICE_MIN_MS`] are timed together. On a real GPU the
/// warm-up run is no guide: it pays for first use (fresh buffers), which can dwarf a kernel
/// of a tenth of a millisecond; cut short by it, an H200 once took batch norm's reductions
/// in one workgroup per channel, ten times slower than in parts, for a ResNet-20 stage.
pub async fn ms_per_run_to_beat(
    gpu: &Gpu,
    op: &[&Dispatch],
    to_beat_ms: f64,
) -> Result<f64, GpuError> {
    let first_ms = time_runs(gpu, op, 1).await? * 1e3;
    if gpu.is_software() && first_ms > 2.0 * to_beat_ms {
        return Ok(first_ms);
    }
    let once_ms = time_runs(gpu, op, 1).await? * 1e3;
    let reps = (CHOICE_MIN_MS / once_ms.max(1e-3)).ceil() as u32;
    if reps <= 1 {
        return Ok(once_ms);
    }
    let reps = reps.min(CHOICE_MAX_REPS);
    Ok(time_runs(gpu, op, reps).await? * 1e3 / reps as f64)
}

/// Lets the page run between long stretches of set-up work (building a training plan makes
/// hundreds of pipelines and bind groups): in the browser it waits for a zero-delay timer,
/// so the main thread's task ends and input and painting get their turn; natively it does
/// nothing.
pub async fn yield_to_page() {
    #[cfg(target_arch = "wasm32")]
    browser_timer(0).await;
}

/// Waits `ms` milliseconds without blocking the page (a timer in the browser; natively the
/// thread sleeps, since nothing else runs on it).
pub async fn pause_ms(ms: u32) {
    #[cfg(target_arch = "wasm32")]
    browser_timer(ms).await;
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::sleep(std::time::Duration::from_millis(ms as u64));
}

/// Resolves after a `setTimeout` of `ms` (at once where there is no timer).
#[cfg(target_arch = "wasm32")]
async fn browser_timer(ms: u32) {
    use wasm_bindgen::JsCast;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let global = js_sys::global();
        let timer = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = timer.map(|f| f.call2(&global, &resolve, &ms.into()).is_ok());
        if scheduled != Some(true) {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
