//! Linear-layer checks: forward with bias, and the three gradients (also by finite
//! differences of the f64 forward).

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::linear::{self, LinearShape};

const TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// Which part of the layer a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearKernel {
    /// y = x W^T + b.
    Forward,
    /// dx.
    InputGrad,
    /// dW.
    WeightGrad,
    /// db.
    BiasGrad,
}

/// One linear-layer check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LinearCase {
    /// Which part.
    pub kernel: LinearKernel,
    /// Sizes.
    pub shape: LinearShape,
}

impl LinearCase {
    /// Like `linear weight grad 64 x 64 -> 10`.
    pub fn describe(&self) -> String {
        let kernel = match self.kernel {
            LinearKernel::Forward => "forward",
            LinearKernel::InputGrad => "input grad",
            LinearKernel::WeightGrad => "weight grad",
            LinearKernel::BiasGrad => "bias grad",
        };
        let s = &self.shape;
        format!(
            "linear {kernel} {} x {} -> {}",
            s.batch, s.inputs, s.outputs
        )
    }
}

/// Every case.
pub fn cases() -> Vec<LinearCase> {
    let shape = |batch, inputs, outputs| LinearShape {
        batch,
        inputs,
        outputs,
    };
    let shapes = [
        shape(1, 1, 1),
        shape(7, 13, 5),
        shape(33, 65, 17),
        shape(64, 64, 10),
        shape(2, 300, 257),
    ];
    let kernels = [
        LinearKernel::Forward,
        LinearKernel::InputGrad,
        LinearKernel::WeightGrad,
        LinearKernel::BiasGrad,
    ];
    shapes
        .iter()
        .flat_map(|&shape| kernels.map(|kernel| LinearCase { kernel, shape }))
        .collect()
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &LinearCase, seed: u64) -> Result<CheckResult, GpuError> {
    let s = case.shape;
    let (batch, ins, outs) = (s.batch as usize, s.inputs as usize, s.outputs as usize);
    let x = random_values(seed, batch * ins);
    let w = random_values(seed ^ 1, outs * ins);
    let b = random_values(seed ^ 2, outs);
    let dy = random_values(seed ^ 3, batch * outs);
    let name = case.describe();
    if case.kernel == LinearKernel::Forward {
        let e = [Expected::whole(
            "y",
            linear::forward_reference(&s, &x, &w, &b),
            TOLERANCE,
        )];
        let inputs = [Input::F32(x), Input::F32(w), Input::F32(b)];
        let o = harness::run_many(gpu, name, &inputs, &e, |i, o| {
            linear::forward(gpu, s, i[0], i[1], i[2], o[0])
        })
        .await?;
        return Ok(o.result);
    }
    let (dx, dw, db) = linear::backward_reference(&s, &x, &w, &dy);
    let want = match case.kernel {
        LinearKernel::InputGrad => dx,
        LinearKernel::WeightGrad => dw,
        _ => db,
    };
    let len = want.len();
    let e = [Expected::whole("gradient", want, GRADIENT_TOLERANCE)];
    let inputs = [
        Input::F32(x.clone()),
        Input::F32(w.clone()),
        Input::F32(dy.clone()),
    ];
    let kernel = case.kernel;
    let o = harness::run_many(gpu, name, &inputs, &e, |i, o| match kernel {
        LinearKernel::InputGrad => linear::input_grad(gpu, s, i[2], i[1], o[0]),
        LinearKernel::WeightGrad => linear::weight_grad(gpu, s, i[2], i[0], o[0]),
        _ => Ok(vec![linear::bias_grad(gpu, s, i[2], o[0])?]),
    })
    .await?;
    // loss = sum(dy * (x W^T + b)) with one coordinate moved; linear, so exact.
    let loss = |i: usize, delta: f64| {
        let (mut x, mut w, mut b) = (x.clone(), w.clone(), b.clone());
        let target = match kernel {
            LinearKernel::InputGrad => &mut x,
            LinearKernel::WeightGrad => &mut w,
            _ => &mut b,
        };
        target[i] += delta as f32;
        let y = linear::forward_reference(&s, &x, &w, &b);
        y.iter().zip(&dy).map(|(y, d)| y * *d as f64).sum::<f64>()
    };
    // The step must be representable in f32 after adding to values near 1.
    let fd = harness::finite_difference_error(len, 8, seed, 1.0 / 64.0, loss, |i| {
        o.outputs[0][i] as f64
    });
    Ok(harness::with_finite_difference(
        o.result,
        fd,
        GRADIENT_TOLERANCE,
    ))
}
