//! Softmax cross-entropy (`shaders/loss.wgsl`): mean loss gradient, per-sample loss and
//! correctness, and on-GPU accumulation of loss and accuracy; with CPU references.

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of the loss kernel.
pub const SOFTMAX_CROSS_ENTROPY: &str = "softmax_cross_entropy";
/// Counter name of the metric accumulation.
pub const ACCUMULATE_METRICS: &str = "accumulate_metrics";
/// Floats in a metrics record: loss sum, correct count, sample count.
pub const METRICS_LEN: usize = 3;

wgsl_params! {
    struct Params mirrors [crate::shaders::LOSS] {
        n: u32,
        classes: u32,
        logits_offset: u32,
        labels_offset: u32,
        grad_offset: u32,
        stats_offset: u32,
        metrics_offset: u32,
        grad_scale: f32,
        guard_offset: u32,
        _pad: [u32; 3],
    }
}

fn check_sizes(kernel: &'static str, n: u32, classes: u32) -> Result<(), GpuError> {
    if n == 0 || classes == 0 {
        return Err(GpuError::launch(
            kernel,
            format!("batch {n} and classes {classes} must be at least 1"),
        ));
    }
    Ok(())
}

/// For a batch of `n` rows of `classes` logits and u32 labels: writes the gradient of the
/// mean loss into `grad` and, per sample, (loss, 1 if correct else 0) into `stats`.
pub fn softmax_cross_entropy(
    gpu: &Gpu,
    n: u32,
    classes: u32,
    logits: Operand<'_>,
    labels: Operand<'_>,
    grad: Operand<'_>,
    stats: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = SOFTMAX_CROSS_ENTROPY;
    check_sizes(kernel, n, classes)?;
    let len = n as usize * classes as usize;
    let launch = Launch::new(gpu, kernel)
        .read(1, "logits", logits, len)?
        .read(2, "labels", labels, n as usize)?
        .write(3, "grad", grad, len)?
        .write(4, "stats", stats, 2 * n as usize)?;
    let params = Params {
        n,
        classes,
        logits_offset: logits.offset,
        labels_offset: labels.offset,
        grad_offset: grad.offset,
        stats_offset: stats.offset,
        metrics_offset: 0,
        grad_scale: 1.0 / n as f32,
        guard_offset: 0,
        _pad: [0; 3],
    };
    launch.dispatch(&shaders::LOSS, kernel, &params, [n.div_ceil(64), 1, 1])
}

/// Adds the batch's loss sum, correct count and size (from `stats` of `n` samples) to the
/// [`METRICS_LEN`]-float record at `metrics`; a loss sum that is NaN or infinite sets the
/// divergence flag at `guard` (see `Plan::guard`).
pub fn accumulate_metrics(
    gpu: &Gpu,
    n: u32,
    stats: Operand<'_>,
    metrics: Operand<'_>,
    guard: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = ACCUMULATE_METRICS;
    check_sizes(kernel, n, 1)?;
    let launch = Launch::new(gpu, kernel)
        .read(5, "stats", stats, 2 * n as usize)?
        .write(6, "metrics", metrics, METRICS_LEN)?
        .write(7, "guard", guard, 1)?;
    let params = Params {
        n,
        classes: 1,
        logits_offset: 0,
        labels_offset: 0,
        grad_offset: 0,
        stats_offset: stats.offset,
        metrics_offset: metrics.offset,
        grad_scale: 0.0,
        guard_offset: guard.offset,
        _pad: [0; 3],
    };
    launch.dispatch(&shaders::LOSS, kernel, &params, [1, 1, 1])
}

/// CPU reference: per-sample losses, correctness (first maximum wins ties) and the
/// gradient of the mean loss, in f64.
pub fn softmax_cross_entropy_reference(
    logits: &[f64],
    labels: &[u32],
    classes: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = labels.len();
    let (mut losses, mut correct, mut grad) = (Vec::new(), Vec::new(), Vec::new());
    for (row, &label) in logits.chunks(classes).zip(labels) {
        let label = (label as usize).min(classes - 1);
        let (mut arg, mut top) = (0, row[0]);
        for (c, &v) in row.iter().enumerate() {
            if v > top {
                (arg, top) = (c, v);
            }
        }
        let sum: f64 = row.iter().map(|&v| (v - top).exp()).sum();
        losses.push(sum.ln() - (row[label] - top));
        correct.push(if arg == label { 1.0 } else { 0.0 });
        for (c, &v) in row.iter().enumerate() {
            let p = (v - top).exp() / sum;
            grad.push((p - if c == label { 1.0 } else { 0.0 }) / n as f64);
        }
    }
    (losses, correct, grad)
}
