//! Pooling checks: max, average and global average, forward and backward (the backward
//! also by finite differences), on even and odd sizes.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::pool::{self, PoolKind, PoolShape};

const TOLERANCE: f64 = 1e-6;
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// One pooling check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PoolCase {
    /// Which pooling.
    pub kind: PoolKind,
    /// Input sizes.
    pub shape: PoolShape,
    /// Check the backward kernel.
    pub backward: bool,
}

impl PoolCase {
    /// Like `max pool backward 2x3x7x8`.
    pub fn describe(&self) -> String {
        let s = &self.shape;
        format!(
            "{} {} {}x{}x{}x{}",
            self.kind.forward_kernel().replace('_', " "),
            if self.backward { "backward" } else { "forward" },
            s.n,
            s.c,
            s.h,
            s.w
        )
    }
}

/// Every case: each kind forward and backward on several shapes, odd sizes included.
pub fn cases() -> Vec<PoolCase> {
    let shape = |n, c, h, w| PoolShape { n, c, h, w };
    let shapes = [
        shape(1, 1, 2, 2),
        shape(2, 3, 7, 8),
        shape(4, 16, 32, 32),
        shape(3, 5, 9, 5),
        shape(2, 64, 8, 8),
    ];
    let mut out = Vec::new();
    for kind in [PoolKind::Max, PoolKind::Avg, PoolKind::Global] {
        for s in shapes {
            for backward in [false, true] {
                out.push(PoolCase {
                    kind,
                    shape: s,
                    backward,
                });
            }
        }
    }
    out
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &PoolCase, seed: u64) -> Result<CheckResult, GpuError> {
    let (kind, s) = (case.kind, case.shape);
    let x = random_values(seed, s.x_len());
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let name = case.describe();
    if !case.backward {
        let want = pool::forward_reference(kind, &s, &x64);
        let e = [Expected::whole("y", want, TOLERANCE)];
        let o = harness::run(gpu, name, &[Input::F32(x)], &e, |i, o| {
            pool::forward(gpu, kind, s, i[0], o[0])
        })
        .await?;
        return Ok(o.result);
    }
    let dy = random_values(seed ^ 5, s.y_len(kind));
    let dy64: Vec<f64> = dy.iter().map(|&v| v as f64).collect();
    let want = pool::backward_reference(kind, &s, &x64, &dy64);
    let e = [Expected::whole("dx", want, GRADIENT_TOLERANCE)];
    let inputs = [Input::F32(dy), Input::F32(x)];
    let o = harness::run(gpu, name, &inputs, &e, |i, o| {
        let x = (kind == PoolKind::Max).then_some(i[1]);
        pool::backward(gpu, kind, s, i[0], x, o[0])
    })
    .await?;
    // loss(x) = sum(dy * pool(x)); piecewise linear, so a tiny step is exact.
    let loss = |i: usize, delta: f64| {
        let mut z = x64.clone();
        z[i] += delta;
        pool::forward_reference(kind, &s, &z)
            .iter()
            .zip(&dy64)
            .map(|(a, b)| a * b)
            .sum::<f64>()
    };
    let fd = harness::finite_difference_error(s.x_len(), 8, seed, 1e-6, loss, |i| {
        o.outputs[0][i] as f64
    });
    Ok(harness::with_finite_difference(
        o.result,
        fd,
        GRADIENT_TOLERANCE,
    ))
}
