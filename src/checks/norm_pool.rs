//! Checks of batch norm + ReLU + max pooling fused (`kernels::norm::pooled`) against the
//! unfused references composed: the pooled output and the windows' maxima, dgamma and dbeta
//! in one pass and in parts, and dx (also accumulated); the gradients also by finite
//! differences of the f64 forward. Planes of odd height or width cover the rows and
//! columns no window reaches.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult, SENTINEL};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::norm::{self, pooled, Affine, NormSettings};
use crate::kernels::pool::{self, PoolKind, PoolShape};
use crate::kernels::Operand;

const TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-4;
/// The maxima are offsets: they must match exactly (any wrong one moves the error by far
/// more than this).
const EXACT: f64 = 1e-12;

/// Which kernel a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormPoolKernel {
    /// Pooled output and maxima.
    Forward,
    /// dgamma and dbeta in the launcher's default parts.
    GradReduce,
    /// The same cut into one part per image.
    GradReducePerImage,
    /// dx.
    GradApply,
}

/// One fused-kernel check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct NormPoolCase {
    /// The kernel.
    pub kernel: NormPoolKernel,
    /// Sizes (before pooling).
    pub shape: PoolShape,
    /// ReLU between the norm and the pooling.
    pub relu: bool,
    /// Accumulate into dx (GradApply).
    pub accumulate: bool,
}

impl NormPoolCase {
    /// Like `batch norm + max pool dx 3x2x5x7 (relu, accumulate)`.
    pub fn describe(&self) -> String {
        let kernel = match self.kernel {
            NormPoolKernel::Forward => "forward",
            NormPoolKernel::GradReduce => "dgamma dbeta",
            NormPoolKernel::GradReducePerImage => "dgamma dbeta in parts of one image",
            NormPoolKernel::GradApply => "dx",
        };
        let s = &self.shape;
        let notes: Vec<&str> = [(self.relu, "relu"), (self.accumulate, "accumulate")]
            .iter()
            .filter_map(|&(on, note)| on.then_some(note))
            .collect();
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!(" ({})", notes.join(", ")),
        };
        format!(
            "batch norm + max pool {kernel} {}x{}x{}x{}{notes}",
            s.n, s.c, s.h, s.w
        )
    }
}

/// Every case.
pub fn cases() -> Vec<NormPoolCase> {
    let shape = |n, c, h, w| PoolShape { n, c, h, w };
    let shapes = [
        (shape(1, 1, 2, 2), false),
        (shape(2, 3, 4, 4), true),
        (shape(3, 2, 5, 7), true),
        (shape(4, 5, 6, 3), true),
        (shape(2, 4, 13, 14), false),
        (shape(8, 16, 28, 28), true),
    ];
    let mut out = Vec::new();
    for (shape, relu) in shapes {
        for kernel in [
            NormPoolKernel::Forward,
            NormPoolKernel::GradReduce,
            NormPoolKernel::GradReducePerImage,
            NormPoolKernel::GradApply,
        ] {
            out.push(NormPoolCase {
                kernel,
                shape,
                relu,
                accumulate: false,
            });
        }
    }
    // dx accumulated, on odd planes.
    out.push(NormPoolCase {
        kernel: NormPoolKernel::GradApply,
        shape: shape(3, 2, 5, 7),
        relu: true,
        accumulate: true,
    });
    out
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// gamma then beta (or their gradients), c values each, from the operand's offset.
fn affine_of(o: Operand<'_>, c: u32) -> Affine<'_> {
    Affine {
        buffer: o.buffer,
        gamma: o.offset,
        beta: o.offset + c,
    }
}

/// Runs one case and compares with the references.
pub async fn check(gpu: &Gpu, case: &NormPoolCase, seed: u64) -> Result<CheckResult, GpuError> {
    let ps = case.shape;
    let s = pooled::norm_shape(&ps);
    let c = s.c as usize;
    let cu = s.c;
    // The loss is piecewise smooth with ReLU and max; a small step rarely crosses a kink.
    let eps = if case.relu { 1e-6 } else { 1e-4 };
    let set = NormSettings {
        relu: case.relu,
        ..NormSettings::default()
    };
    let x: Vec<f32> = random_values(seed, s.len())
        .iter()
        .map(|v| 2.0 * v + 0.7)
        .collect();
    let gamma: Vec<f32> = random_values(seed ^ 1, c)
        .iter()
        .map(|v| 1.0 + 0.5 * v)
        .collect();
    let beta = random_values(seed ^ 2, c);
    let running = (vec![0.0; c], vec![1.0; c]);
    let dy = random_values(seed ^ 5, pooled::pooled_len(&ps));
    let (x64, g64, b64, dy64) = (f64s(&x), f64s(&gamma), f64s(&beta), f64s(&dy));
    let (z, saved, _, _) =
        norm::train_reference(&s, &set, &x64, &g64, &b64, &running.0, &running.1);
    let (y, maxima) = pooled::forward_reference(&ps, &z);
    let affine_data = [gamma, beta].concat();
    let name = case.describe();
    if case.kernel == NormPoolKernel::Forward {
        // The maxima compared as the f32 values their bits spell: exact or far off.
        let bits: Vec<f64> = maxima.iter().map(|&m| f32::from_bits(m) as f64).collect();
        let e = [
            Expected::whole("y", y, TOLERANCE),
            Expected::whole("maxima", bits, EXACT),
        ];
        let inputs = [
            Input::F32(x),
            Input::F32(affine_data),
            Input::F32(f32s(&saved)),
        ];
        let o = harness::run(gpu, name, &inputs, &e, |i, o| {
            pooled::forward(gpu, ps, set, i[0], affine_of(i[1], cu), i[2], o[0], o[1])
        })
        .await?;
        return Ok(o.result);
    }
    let dz = pool::backward_reference(PoolKind::Max, &ps, &z, &dy64);
    let (dx, dgamma, dbeta) = norm::backward_reference(&s, &set, &x64, &dz, &g64, &b64);
    // loss = sum(dy * maxpool(relu(bn(x)))) with batch statistics, in f64.
    let loss = |x: &[f64], g: &[f64], b: &[f64]| {
        let (z, _, _, _) = norm::train_reference(&s, &set, x, g, b, &running.0, &running.1);
        let y = pool::forward_reference(PoolKind::Max, &ps, &z);
        y.iter().zip(&dy64).map(|(a, b)| a * b).sum::<f64>()
    };
    if case.kernel != NormPoolKernel::GradApply {
        let e = [Expected::whole(
            "dgamma dbeta",
            [dgamma, dbeta].concat(),
            GRADIENT_TOLERANCE,
        )];
        let inputs = [
            Input::F32(x),
            Input::F32(dy),
            Input::F32(affine_data),
            Input::F32(f32s(&saved)),
            Input::U32(maxima),
        ];
        let parts = match case.kernel {
            NormPoolKernel::GradReducePerImage => s.n,
            _ => norm::reduction_parts(&s),
        };
        let o = harness::run_many(gpu, name, &inputs, &e, |i, o| {
            pooled::grad_reduce_in_parts(
                gpu,
                ps,
                set,
                i[0],
                i[1],
                affine_of(i[2], cu),
                i[3],
                i[4],
                affine_of(o[0], cu),
                parts,
            )
        })
        .await?;
        let fd_loss = |i: usize, delta: f64| {
            let (mut g, mut b) = (g64.clone(), b64.clone());
            match i < c {
                true => g[i] += delta,
                false => b[i - c] += delta,
            }
            loss(&x64, &g, &b)
        };
        let fd = harness::finite_difference_error(2 * c, 8, seed, eps, fd_loss, |i| {
            o.outputs[0][i] as f64
        });
        return Ok(harness::with_finite_difference(
            o.result,
            fd,
            GRADIENT_TOLERANCE,
        ));
    }
    // dx: an earlier gradient underneath when accumulating.
    let (initial, want) = match case.accumulate {
        true => {
            let earlier = random_values(seed ^ 6, s.len());
            let want = dx
                .iter()
                .zip(&earlier)
                .map(|(d, e)| d + *e as f64)
                .collect();
            (earlier, want)
        }
        false => (vec![SENTINEL; s.len()], dx),
    };
    let e = [Expected {
        name: "dx",
        initial: initial.clone(),
        region: (0..s.len()).collect(),
        want,
        tolerance: GRADIENT_TOLERANCE,
    }];
    let inputs = [
        Input::F32(x),
        Input::F32(dy),
        Input::F32(affine_data),
        Input::F32(f32s(&saved)),
        Input::U32(maxima),
        Input::F32(f32s(&[dgamma, dbeta].concat())),
    ];
    let acc = case.accumulate;
    let o = harness::run(gpu, name, &inputs, &e, |i, o| {
        pooled::grad_apply(
            gpu,
            ps,
            set,
            i[0],
            i[1],
            affine_of(i[2], cu),
            i[3],
            i[4],
            affine_of(i[5], cu),
            o[0],
            acc,
        )
    })
    .await?;
    let fd_loss = |i: usize, delta: f64| {
        let mut x = x64.clone();
        x[i] += delta;
        loss(&x, &g64, &b64)
    };
    let earlier = |i: usize| if acc { initial[i] as f64 } else { 0.0 };
    let fd = harness::finite_difference_error(s.len(), 8, seed, eps, fd_loss, |i| {
        o.outputs[0][i] as f64 - earlier(i)
    });
    Ok(harness::with_finite_difference(
        o.result,
        fd,
        GRADIENT_TOLERANCE,
    ))
}
