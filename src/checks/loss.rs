//! Loss checks: softmax cross-entropy (gradient also by finite differences, stable for
//! logits of magnitude 1e4) and the on-GPU metric accumulation.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::loss;

const TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// One loss check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LossCase {
    /// Batch size.
    pub n: u32,
    /// Classes.
    pub classes: u32,
    /// Logits are uniform in (-scale, scale).
    pub scale: f32,
    /// Check the metric accumulation instead of the loss.
    pub metrics: bool,
}

impl LossCase {
    /// Like `softmax cross-entropy, 64 x 10, logits up to 1e4`.
    pub fn describe(&self) -> String {
        if self.metrics {
            format!("loss and accuracy accumulation, batch {}", self.n)
        } else {
            format!(
                "softmax cross-entropy, batch {} x {} classes, |logits| < {}",
                self.n, self.classes, self.scale
            )
        }
    }
}

/// Every case.
pub fn cases() -> Vec<LossCase> {
    let loss = |n, classes, scale| LossCase {
        n,
        classes,
        scale,
        metrics: false,
    };
    let metrics = |n| LossCase {
        n,
        classes: 1,
        scale: 1.0,
        metrics: true,
    };
    vec![
        loss(1, 1, 3.0),
        loss(1, 10, 3.0),
        loss(7, 3, 3.0),
        loss(64, 10, 5.0),
        loss(65, 100, 5.0),
        loss(3, 1000, 5.0),
        loss(33, 10, 1e4),
        metrics(1),
        metrics(64),
        metrics(257),
        metrics(1000),
    ]
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &LossCase, seed: u64) -> Result<CheckResult, GpuError> {
    let (n, classes) = (case.n, case.classes);
    let name = case.describe();
    if case.metrics {
        // Per-sample losses and 0/1 correctness, as the loss kernel writes them.
        let mut rng = fastrand::Rng::with_seed(seed);
        let stats: Vec<f32> = (0..n)
            .flat_map(|_| [rng.f32() * 3.0, (rng.bool() as u8) as f32])
            .collect();
        let initial = random_values(seed ^ 1, loss::METRICS_LEN);
        let sum = |k: usize| {
            stats
                .iter()
                .skip(k)
                .step_by(2)
                .map(|&v| v as f64)
                .sum::<f64>()
        };
        let want = vec![
            initial[0] as f64 + sum(0),
            initial[1] as f64 + sum(1),
            initial[2] as f64 + n as f64,
        ];
        let e = [
            Expected {
                name: "metrics",
                initial,
                region: (0..loss::METRICS_LEN).collect(),
                want,
                tolerance: TOLERANCE,
            },
            // The divergence guard: finite losses leave it at 0.
            Expected {
                name: "guard",
                initial: vec![0.0],
                region: Vec::new(),
                want: Vec::new(),
                tolerance: 0.0,
            },
        ];
        let o = harness::run(gpu, name, &[Input::F32(stats)], &e, |i, o| {
            loss::accumulate_metrics(gpu, n, i[0], o[0], o[1])
        })
        .await?;
        return Ok(o.result);
    }
    let logits: Vec<f32> = random_values(seed, (n * classes) as usize)
        .iter()
        .map(|v| v * case.scale)
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed ^ 2);
    let labels: Vec<u32> = (0..n).map(|_| rng.u32(..classes)).collect();
    let logits64: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
    let (losses, correct, grad) =
        loss::softmax_cross_entropy_reference(&logits64, &labels, classes as usize);
    let stats_want: Vec<f64> = losses
        .iter()
        .zip(&correct)
        .flat_map(|(&l, &c)| [l, c])
        .collect();
    let e = [
        Expected::whole("grad", grad, GRADIENT_TOLERANCE),
        Expected::whole("stats", stats_want, TOLERANCE),
    ];
    let inputs = [Input::F32(logits), Input::U32(labels.clone())];
    let o = harness::run(gpu, name, &inputs, &e, |i, o| {
        loss::softmax_cross_entropy(gpu, n, classes, i[0], i[1], o[0], o[1])
    })
    .await?;
    // Mean loss as a function of one logit, in f64.
    let mean_loss = |i: usize, delta: f64| {
        let mut z = logits64.clone();
        z[i] += delta;
        let (losses, _, _) = loss::softmax_cross_entropy_reference(&z, &labels, classes as usize);
        losses.iter().sum::<f64>() / n as f64
    };
    // Softmax bends over about one unit of logit whatever the logits' size, so the step is
    // absolute: one scaled with the logits (1.0 at |logits| < 10000) straddled the bend
    // wherever two logits of a row came within a unit of each other. The reference is f64,
    // so a small step loses nothing to rounding even at that size.
    let eps = 1e-3;
    // Sampled: in each of 4 rows its label's logit, whose gradient is far from zero even
    // where the softmax is one-hot (large logits), and one other logit. With only random
    // logits, all of whose gradients may be zero there, the relative error compares two
    // near-zero vectors and means nothing.
    let mut rng = fastrand::Rng::with_seed(seed ^ 3);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let row = rng.usize(..n as usize);
        let start = row * classes as usize;
        for i in [
            start + labels[row] as usize,
            start + rng.usize(..classes as usize),
        ] {
            want.push((mean_loss(i, eps) - mean_loss(i, -eps)) / (2.0 * eps));
            got.push(o.outputs[0][i]);
        }
    }
    let fd = super::relative_l2_error(&got, &want);
    Ok(harness::with_finite_difference(
        o.result,
        fd,
        GRADIENT_TOLERANCE,
    ))
}
