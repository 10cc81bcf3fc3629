//! Elementwise checks: ReLU, its gradient (also by finite differences), residual add and its
//! backward (accumulate), bias add, at lengths around the 256-invocation workgroup.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::elementwise as ew;

const TOLERANCE: f64 = 1e-6;
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// Which kernel a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementwiseOp {
    /// y = max(x, 0).
    Relu,
    /// dx = dy * (y > 0).
    ReluGrad,
    /// out = a + b.
    Add,
    /// out = max(a + b, 0).
    AddRelu,
    /// dst += src.
    Accumulate,
    /// y += bias per channel.
    BiasAdd {
        /// Channels.
        channels: u32,
        /// Elements per channel and image.
        plane: u32,
    },
}

/// One elementwise check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ElementwiseCase {
    /// The kernel.
    pub op: ElementwiseOp,
    /// Elements.
    pub len: u32,
}

impl ElementwiseCase {
    /// Like `relu grad, 257 elements`.
    pub fn describe(&self) -> String {
        let op = match self.op {
            ElementwiseOp::Relu => "relu".to_string(),
            ElementwiseOp::ReluGrad => "relu grad".to_string(),
            ElementwiseOp::Add => "residual add".to_string(),
            ElementwiseOp::AddRelu => "residual add + relu".to_string(),
            ElementwiseOp::Accumulate => "residual add backward (accumulate)".to_string(),
            ElementwiseOp::BiasAdd { channels, plane } => {
                format!("bias add, {channels} channels x {plane}")
            }
        };
        format!("{op}, length {}", self.len)
    }
}

/// Every case: each plain op at lengths 1, 255, 256, 257, 1000 and 70001; bias add on NCHW
/// and linear layouts.
pub fn cases() -> Vec<ElementwiseCase> {
    let mut out = Vec::new();
    for op in [
        ElementwiseOp::Relu,
        ElementwiseOp::ReluGrad,
        ElementwiseOp::Add,
        ElementwiseOp::AddRelu,
        ElementwiseOp::Accumulate,
    ] {
        for len in [1, 255, 256, 257, 1000, 70001] {
            out.push(ElementwiseCase { op, len });
        }
    }
    for (n, channels, plane) in [
        (1, 1, 1),
        (3, 7, 25),
        (2, 16, 1024),
        (64, 10, 1),
        (5, 33, 9),
    ] {
        out.push(ElementwiseCase {
            op: ElementwiseOp::BiasAdd { channels, plane },
            len: n * channels * plane,
        });
    }
    out
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Runs one case and compares it with the reference (and the gradients with finite
/// differences).
pub async fn check(gpu: &Gpu, case: &ElementwiseCase, seed: u64) -> Result<CheckResult, GpuError> {
    let n = case.len as usize;
    let len = case.len;
    let a = random_values(seed, n);
    let b = random_values(seed ^ 0x77, n);
    let name = case.describe();
    match case.op {
        ElementwiseOp::Relu => {
            let want = ew::relu_reference(&f64s(&a));
            let e = [Expected::whole("y", want, TOLERANCE)];
            let o = harness::run(gpu, name, &[Input::F32(a)], &e, |i, o| {
                ew::relu(gpu, len, i[0], o[0])
            })
            .await?;
            Ok(o.result)
        }
        ElementwiseOp::ReluGrad => {
            // x = b, y = relu(x), dy = a.
            let y: Vec<f32> = b.iter().map(|&v| v.max(0.0)).collect();
            let want = ew::relu_grad_reference(&f64s(&a), &f64s(&y));
            let e = [Expected::whole("dx", want, TOLERANCE)];
            let inputs = [Input::F32(a.clone()), Input::F32(y)];
            let o = harness::run(gpu, name, &inputs, &e, |i, o| {
                ew::relu_grad(gpu, len, i[0], i[1], o[0])
            })
            .await?;
            // loss(x) = sum(dy * relu(x)); piecewise linear, so a tiny step is exact.
            let base: f64 = a
                .iter()
                .zip(&b)
                .map(|(&d, &x)| d as f64 * (x as f64).max(0.0))
                .sum();
            let fd = harness::finite_difference_error(
                n,
                8,
                seed,
                1e-6,
                |i, delta| {
                    base - a[i] as f64 * (b[i] as f64).max(0.0)
                        + a[i] as f64 * (b[i] as f64 + delta).max(0.0)
                },
                |i| o.outputs[0][i] as f64,
            );
            Ok(harness::with_finite_difference(
                o.result,
                fd,
                GRADIENT_TOLERANCE,
            ))
        }
        ElementwiseOp::Add | ElementwiseOp::AddRelu => {
            let relu = case.op == ElementwiseOp::AddRelu;
            let want: Vec<f64> = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| x as f64 + y as f64)
                .map(|v| if relu { v.max(0.0) } else { v })
                .collect();
            let e = [Expected::whole("out", want, TOLERANCE)];
            let inputs = [Input::F32(a), Input::F32(b)];
            let o = harness::run(gpu, name, &inputs, &e, |i, o| match relu {
                true => ew::add_relu(gpu, len, i[0], i[1], o[0]),
                false => ew::add(gpu, len, i[0], i[1], o[0]),
            })
            .await?;
            Ok(o.result)
        }
        ElementwiseOp::Accumulate => {
            // dst already holds the gradient from the other branch; src is dy.
            let want: Vec<f64> = a
                .iter()
                .zip(&b)
                .map(|(&s, &d)| s as f64 + d as f64)
                .collect();
            let e = [Expected {
                name: "dst",
                initial: b.clone(),
                region: (0..n).collect(),
                want,
                tolerance: TOLERANCE,
            }];
            let o = harness::run(gpu, name, &[Input::F32(a.clone())], &e, |i, o| {
                ew::accumulate(gpu, len, i[0], o[0])
            })
            .await?;
            // loss(x) = sum(dy * (x + other)): d loss / dx = dy, what the kernel added.
            let fd = harness::finite_difference_error(
                n,
                8,
                seed,
                1e-3,
                |i, delta| a[i] as f64 * delta,
                |i| o.outputs[0][i] as f64 - b[i] as f64,
            );
            Ok(harness::with_finite_difference(
                o.result,
                fd,
                GRADIENT_TOLERANCE,
            ))
        }
        ElementwiseOp::BiasAdd { channels, plane } => {
            let bias = random_values(seed ^ 0x99, channels as usize);
            let want = ew::bias_add_reference(&f64s(&b), &f64s(&bias), plane as usize);
            let e = [Expected {
                name: "y",
                initial: b,
                region: (0..n).collect(),
                want,
                tolerance: TOLERANCE,
            }];
            let o = harness::run(gpu, name, &[Input::F32(bias)], &e, |i, o| {
                ew::bias_add(gpu, len, channels, plane, i[0], o[0])
            })
            .await?;
            Ok(o.result)
        }
    }
}
