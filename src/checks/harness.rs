//! A generic check for kernels with any number of inputs and outputs: upload the inputs at
//! odd offsets inside NaN padding, pre-fill the outputs (sentinel padding around them), run
//! one prepared dispatch, and compare every output with its reference, requiring that
//! nothing outside each output's region changed and that a second run on the same inputs
//! gives the same bits.

use web_time::Instant;

use super::{compare_output, padded, relative_l2_error, CheckResult, PAD_BEFORE, SENTINEL};
use crate::gpu::{Commands, Dispatch, Gpu, GpuError};
use crate::kernels::Operand;

/// An input tensor: f32 values, or raw 32-bit words (labels, indices).
pub enum Input {
    /// Floating-point data.
    F32(Vec<f32>),
    /// Unsigned integer data.
    U32(Vec<u32>),
}

/// One output: what the buffer holds before the kernel, where the kernel writes, what it
/// should write there, and how close is close enough.
pub struct Expected {
    /// Name in messages.
    pub name: &'static str,
    /// Contents before the kernel runs.
    pub initial: Vec<f32>,
    /// Indices (into `initial`) the kernel writes.
    pub region: Vec<usize>,
    /// Reference values at `region`.
    pub want: Vec<f64>,
    /// Largest accepted relative L2 error.
    pub tolerance: f64,
}

impl Expected {
    /// A u32 output (labels, votes, predictions) the kernel overwrites and that must match
    /// exactly: read back as f32 bit patterns, equal words compare with zero error.
    pub fn whole_u32(name: &'static str, want: &[u32]) -> Self {
        let bits = want.iter().map(|&u| f32::from_bits(u) as f64).collect();
        Expected::whole(name, bits, 0.0)
    }

    /// An output the kernel overwrites entirely, starting from sentinels.
    pub fn whole(name: &'static str, want: Vec<f64>, tolerance: f64) -> Self {
        Expected {
            name,
            initial: vec![SENTINEL; want.len()],
            region: (0..want.len()).collect(),
            want,
            tolerance,
        }
    }
}

/// The outcome of [`run`]: the check result plus every output as read back (region only,
/// in region order), for finite-difference checks.
pub struct Outcome {
    /// Pass or fail, with errors.
    pub result: CheckResult,
    /// Each output's values at its region.
    pub outputs: Vec<Vec<f32>>,
}

/// Runs the dispatch that `build` prepares from the inputs' and outputs' operands, and
/// compares. The error reported is the worst over the outputs.
pub async fn run(
    gpu: &Gpu,
    name: String,
    inputs: &[Input],
    expected: &[Expected],
    build: impl FnOnce(&[Operand<'_>], &[Operand<'_>]) -> Result<Dispatch, GpuError>,
) -> Result<Outcome, GpuError> {
    run_many(gpu, name, inputs, expected, |i, o| Ok(vec![build(i, o)?])).await
}

/// [`run`] for an op made of several dispatches, recorded in order in one pass.
pub async fn run_many(
    gpu: &Gpu,
    name: String,
    inputs: &[Input],
    expected: &[Expected],
    build: impl FnOnce(&[Operand<'_>], &[Operand<'_>]) -> Result<Vec<Dispatch>, GpuError>,
) -> Result<Outcome, GpuError> {
    let in_bufs = inputs
        .iter()
        .map(|input| match input {
            Input::F32(v) => gpu.storage_from("check input", &padded(v, f32::NAN)),
            Input::U32(v) => {
                let mut words = vec![u32::MAX; PAD_BEFORE];
                words.extend_from_slice(v);
                words.extend([u32::MAX; super::PAD_AFTER]);
                gpu.storage_from("check input", &words)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out_inits: Vec<Vec<f32>> = expected
        .iter()
        .map(|e| padded(&e.initial, SENTINEL))
        .collect();
    let out_bufs = out_inits
        .iter()
        .map(|init| gpu.storage_from("check output", init))
        .collect::<Result<Vec<_>, _>>()?;
    let at = |buffer| Operand {
        buffer,
        offset: PAD_BEFORE as u32,
    };
    let in_ops: Vec<Operand> = in_bufs.iter().map(at).collect();
    let out_ops: Vec<Operand> = out_bufs.iter().map(at).collect();
    let dispatches = build(&in_ops, &out_ops)?;

    let start = Instant::now();
    let got = run_once(gpu, &dispatches, &out_bufs, &out_inits).await?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    // Determinism: the same inputs again (outputs reset, since some kernels update in place)
    // must give the same bits.
    for (buf, init) in out_bufs.iter().zip(&out_inits) {
        gpu.write(buf, 0, init);
    }
    let again = run_once(gpu, &dispatches, &out_bufs, &out_inits).await?;
    let deterministic = got
        .iter()
        .zip(&again)
        .all(|(a, b)| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));

    let (mut worst, mut tolerance) = (0f64, 0f64);
    let mut problem = (!deterministic).then(|| "two runs on the same inputs differ".to_string());
    let mut outputs = Vec::new();
    for ((e, got), init) in expected.iter().zip(&got).zip(&out_inits) {
        let shifted: Vec<usize> = e.region.iter().map(|i| i + PAD_BEFORE).collect();
        let (err, untouched_ok) = compare_output(got, init, &shifted, &e.want);
        outputs.push(shifted.iter().map(|&i| got[i]).collect());
        if err.is_nan() || err / e.tolerance > worst / tolerance.max(f64::MIN_POSITIVE) {
            worst = err;
            tolerance = e.tolerance;
        }
        if problem.is_none() {
            if !untouched_ok {
                problem = Some(format!("{} written outside its region", e.name));
            } else if err.is_nan() || err > e.tolerance {
                problem = Some(format!(
                    "{}: relative L2 error {err:.3e} above {:e}",
                    e.name, e.tolerance
                ));
            }
        }
    }
    Ok(Outcome {
        result: CheckResult {
            name,
            rel_l2_error: worst,
            tolerance,
            passed: problem.is_none(),
            problem,
            gpu_ms,
            finite_difference_error: None,
        },
        outputs,
    })
}

/// Runs the dispatches once and reads every output buffer back whole.
async fn run_once(
    gpu: &Gpu,
    dispatches: &[Dispatch],
    out_bufs: &[wgpu::Buffer],
    out_inits: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>, GpuError> {
    let mut commands = Commands::new(gpu, "check");
    commands.run(&dispatches.iter().collect::<Vec<_>>());
    commands.submit();
    let mut got = Vec::with_capacity(out_bufs.len());
    for (buf, init) in out_bufs.iter().zip(out_inits) {
        got.push(gpu.read_f32(buf, 0, init.len()).await?);
    }
    Ok(got)
}

/// Relative L2 error between a GPU gradient and central finite differences of an f64 loss,
/// at `samples` coordinates drawn from `seed`. `loss(i, delta)` is the loss with coordinate
/// `i` moved by `delta`; `grad(i)` the GPU's gradient there.
pub fn finite_difference_error(
    len: usize,
    samples: usize,
    seed: u64,
    eps: f64,
    loss: impl Fn(usize, f64) -> f64,
    grad: impl Fn(usize) -> f64,
) -> f64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for _ in 0..samples.min(len) {
        let i = rng.usize(..len);
        want.push((loss(i, eps) - loss(i, -eps)) / (2.0 * eps));
        got.push(grad(i) as f32);
    }
    relative_l2_error(&got, &want)
}

/// Marks `result` failed when the finite-difference error is above `tolerance`.
pub fn with_finite_difference(mut result: CheckResult, error: f64, tolerance: f64) -> CheckResult {
    result.finite_difference_error = Some(error);
    if result.passed && (error.is_nan() || error > tolerance) {
        result.passed = false;
        result.problem = Some(format!(
            "finite-difference error {error:.3e} above {tolerance:e}"
        ));
    }
    result
}
