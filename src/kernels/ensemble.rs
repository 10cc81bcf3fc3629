//! Snapshot-ensemble kernels (`shaders/ensemble.wgsl`): add a snapshot's softmax to the
//! running sum and record its votes; predict from the sum. With CPU references.

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of the accumulation.
pub const SOFTMAX_ACCUMULATE: &str = "softmax_accumulate";
/// Counter name of the prediction.
pub const ENSEMBLE_PREDICT: &str = "ensemble_predict";

wgsl_params! {
    struct Params mirrors [crate::shaders::ENSEMBLE] {
        n: u32,
        classes: u32,
        logits_offset: u32,
        sum_offset: u32,
        votes_offset: u32,
        pred_offset: u32,
        _pad: [u32; 2],
    }
}

fn sizes(kernel: &'static str, n: u32, classes: u32) -> Result<usize, GpuError> {
    if n == 0 || classes == 0 {
        return Err(GpuError::launch(
            kernel,
            "batch and classes must be at least 1",
        ));
    }
    Ok(n as usize * classes as usize)
}

/// probs_sum (n x classes) += softmax(logits); votes (n u32) = argmax(logits).
pub fn softmax_accumulate(
    gpu: &Gpu,
    n: u32,
    classes: u32,
    logits: Operand<'_>,
    probs_sum: Operand<'_>,
    votes: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = SOFTMAX_ACCUMULATE;
    let len = sizes(kernel, n, classes)?;
    let launch = Launch::new(gpu, kernel)
        .read(1, "logits", logits, len)?
        .write(2, "probs_sum", probs_sum, len)?
        .write(3, "votes", votes, n as usize)?;
    let params = Params {
        n,
        classes,
        logits_offset: logits.offset,
        sum_offset: probs_sum.offset,
        votes_offset: votes.offset,
        ..Params::default()
    };
    launch.dispatch(&shaders::ENSEMBLE, kernel, &params, [n.div_ceil(64), 1, 1])
}

/// predictions (n u32) = argmax of probs_sum per sample.
pub fn predict(
    gpu: &Gpu,
    n: u32,
    classes: u32,
    probs_sum: Operand<'_>,
    predictions: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = ENSEMBLE_PREDICT;
    let len = sizes(kernel, n, classes)?;
    let launch = Launch::new(gpu, kernel)
        .read(4, "probs_sum", probs_sum, len)?
        .write(5, "predictions", predictions, n as usize)?;
    let params = Params {
        n,
        classes,
        sum_offset: probs_sum.offset,
        pred_offset: predictions.offset,
        ..Params::default()
    };
    launch.dispatch(&shaders::ENSEMBLE, kernel, &params, [n.div_ceil(64), 1, 1])
}

/// Index of the first maximum.
pub fn argmax(row: &[f64]) -> u32 {
    let mut arg = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[arg] {
            arg = c;
        }
    }
    arg as u32
}

/// Reference softmax of each row of `logits`, f64.
pub fn softmax_reference(logits: &[f64], classes: usize) -> Vec<f64> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row.iter().map(|v| (v - top).exp()).sum();
            row.iter().map(move |v| (v - top).exp() / sum)
        })
        .collect()
}
