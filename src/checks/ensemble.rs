//! Ensemble checks: softmax accumulation with votes, and predictions from the sum.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::ensemble;

const TOLERANCE: f64 = 1e-6;

/// One ensemble check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EnsembleCase {
    /// Samples.
    pub n: u32,
    /// Classes.
    pub classes: u32,
    /// Snapshots already in the sum (accumulate) or in it (predict).
    pub earlier: u32,
    /// Check the prediction instead of the accumulation.
    pub predict: bool,
}

impl EnsembleCase {
    /// Like `ensemble softmax accumulate 64 x 10 after 3 snapshots`.
    pub fn describe(&self) -> String {
        let what = if self.predict {
            "predict"
        } else {
            "softmax accumulate and vote"
        };
        format!(
            "ensemble {what} {} x {} after {} snapshots",
            self.n, self.classes, self.earlier
        )
    }
}

/// Every case.
pub fn cases() -> Vec<EnsembleCase> {
    let mut out = Vec::new();
    for (n, classes, earlier) in [
        (1, 1, 0),
        (5, 10, 2),
        (64, 10, 4),
        (100, 100, 1),
        (1000, 10, 5),
    ] {
        for predict in [false, true] {
            out.push(EnsembleCase {
                n,
                classes,
                earlier,
                predict,
            });
        }
    }
    out
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &EnsembleCase, seed: u64) -> Result<CheckResult, GpuError> {
    let (n, classes) = (case.n, case.classes);
    let len = (n * classes) as usize;
    // The sum so far: `earlier` snapshots' softmax outputs.
    let mut sum = vec![0f64; len];
    for s in 0..case.earlier {
        let logits: Vec<f64> = random_values(seed ^ (s as u64 + 100), len)
            .iter()
            .map(|&v| 4.0 * v as f64)
            .collect();
        for (acc, p) in sum
            .iter_mut()
            .zip(ensemble::softmax_reference(&logits, classes as usize))
        {
            *acc += p;
        }
    }
    let sum32: Vec<f32> = sum.iter().map(|&v| v as f32).collect();
    let name = case.describe();
    if case.predict {
        let sum64: Vec<f64> = sum32.iter().map(|&v| v as f64).collect();
        let preds: Vec<u32> = sum64
            .chunks(classes as usize)
            .map(ensemble::argmax)
            .collect();
        let e = [Expected::whole_u32("predictions", &preds)];
        let o = harness::run(gpu, name, &[Input::F32(sum32)], &e, |i, o| {
            ensemble::predict(gpu, n, classes, i[0], o[0])
        })
        .await?;
        return Ok(o.result);
    }
    let logits: Vec<f32> = random_values(seed, len).iter().map(|v| 4.0 * v).collect();
    let logits64: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
    let probs = ensemble::softmax_reference(&logits64, classes as usize);
    let want: Vec<f64> = sum32
        .iter()
        .zip(&probs)
        .map(|(&s, &p)| s as f64 + p)
        .collect();
    let votes: Vec<u32> = logits64
        .chunks(classes as usize)
        .map(ensemble::argmax)
        .collect();
    let e = [
        Expected {
            name: "probability sums",
            initial: sum32,
            region: (0..len).collect(),
            want,
            tolerance: TOLERANCE,
        },
        Expected::whole_u32("votes", &votes),
    ];
    let o = harness::run(gpu, name, &[Input::F32(logits)], &e, |i, o| {
        ensemble::softmax_accumulate(gpu, n, classes, i[0], o[0], o[1])
    })
    .await?;
    Ok(o.result)
}
