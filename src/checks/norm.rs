//! Batch-norm checks: batch statistics and the running-statistics update, training and
//! inference forward (with and without fused ReLU), and the backward kernels, the gradients
//! also by finite differences of the f64 training forward; channel prefixes and
//! accumulation as DenseNet uses them.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult, SENTINEL};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::norm::{self, Affine, NormSettings, NormShape, Running};
use crate::kernels::Operand;

const TOLERANCE: f64 = 1e-5;
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// Which kernel a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKernel {
    /// Batch statistics and running update (the launcher's own split).
    Stats,
    /// The same cut into one part per image: partial sums, then the in-order merge.
    StatsPerImage,
    /// Training normalisation.
    Apply,
    /// Inference normalisation.
    Inference,
    /// dgamma, dbeta (the launcher's own split).
    GradReduce,
    /// The same cut into one part per image.
    GradReducePerImage,
    /// dx.
    GradApply,
}

/// One batch-norm check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct NormCase {
    /// The kernel.
    pub kernel: NormKernel,
    /// Sizes and layout.
    pub shape: NormShape,
    /// Fused ReLU.
    pub relu: bool,
    /// Accumulate into dx (GradApply).
    pub accumulate: bool,
}

impl NormCase {
    /// Like `batch norm grad apply 3x7x25 of 10 channels, relu, accumulate`.
    pub fn describe(&self) -> String {
        let kernel = match self.kernel {
            NormKernel::Stats => "statistics",
            NormKernel::StatsPerImage => "statistics in parts of one image",
            NormKernel::Apply => "forward",
            NormKernel::Inference => "inference",
            NormKernel::GradReduce => "dgamma dbeta",
            NormKernel::GradReducePerImage => "dgamma dbeta in parts of one image",
            NormKernel::GradApply => "dx",
        };
        let s = &self.shape;
        let mut notes = Vec::new();
        if s.x_channels != s.c {
            notes.push(format!("prefix of {} channels", s.x_channels));
        }
        if self.relu {
            notes.push("relu".into());
        }
        if self.accumulate {
            notes.push("accumulate".into());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join(", "))
        };
        format!("batch norm {kernel} {}x{}x{}{notes}", s.n, s.c, s.hw)
    }
}

/// Every case.
pub fn cases() -> Vec<NormCase> {
    let shape = |n, c, hw, x_channels| NormShape {
        n,
        c,
        hw,
        x_channels,
    };
    let shapes = [
        (shape(2, 1, 3, 1), false),
        (shape(6, 3, 1, 3), true),
        (shape(4, 5, 42, 5), false),
        (shape(3, 7, 25, 10), true),
        (shape(8, 16, 1024, 16), true),
    ];
    let mut out = Vec::new();
    for (s, relu) in shapes {
        for kernel in [
            NormKernel::Stats,
            NormKernel::StatsPerImage,
            NormKernel::Apply,
            NormKernel::Inference,
            NormKernel::GradReduce,
            NormKernel::GradReducePerImage,
            NormKernel::GradApply,
        ] {
            let accumulate = kernel == NormKernel::GradApply && s.x_channels != s.c;
            out.push(NormCase {
                kernel,
                shape: s,
                relu,
                accumulate,
            });
        }
    }
    out
}

/// Parts a reduction case is cut into: the launcher's default, or one per image.
fn parts_of(case: &NormCase) -> u32 {
    match case.kernel {
        NormKernel::StatsPerImage | NormKernel::GradReducePerImage => case.shape.n,
        _ => norm::reduction_parts(&case.shape),
    }
}

/// Buffer indices of the normalised channels of x, in dense order.
fn x_region(s: &NormShape) -> Vec<usize> {
    let (c, hw, xc) = (s.c as usize, s.hw as usize, s.x_channels as usize);
    (0..s.n as usize)
        .flat_map(|img| (0..c * hw).map(move |k| img * xc * hw + k))
        .collect()
}

/// gamma then beta (or their gradients), c values each, from the operand's offset.
fn affine_of(o: Operand<'_>, c: u32) -> Affine<'_> {
    Affine {
        buffer: o.buffer,
        gamma: o.offset,
        beta: o.offset + c,
    }
}

/// Running mean then running variance, c values each, then the divergence guard, from the
/// operand's offset.
fn running_of(o: Operand<'_>, c: u32) -> Running<'_> {
    Running {
        buffer: o.buffer,
        mean: o.offset,
        var: o.offset + c,
        guard: o.offset + 2 * c,
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &NormCase, seed: u64) -> Result<CheckResult, GpuError> {
    let s = case.shape;
    let c = s.c as usize;
    // The loss is piecewise smooth with ReLU; a smaller step rarely crosses a kink.
    let eps = if case.relu { 1e-6 } else { 1e-4 };
    let set = NormSettings {
        relu: case.relu,
        ..NormSettings::default()
    };
    // Non-zero means and spread so the statistics matter.
    let x_dense: Vec<f32> = random_values(seed, s.len())
        .iter()
        .map(|v| 2.0 * v + 0.7)
        .collect();
    let region = x_region(&s);
    let mut x_buf = vec![f32::NAN; s.x_len()];
    for (&i, &v) in region.iter().zip(&x_dense) {
        x_buf[i] = v;
    }
    let gamma: Vec<f32> = random_values(seed ^ 1, c)
        .iter()
        .map(|v| 1.0 + 0.5 * v)
        .collect();
    let beta = random_values(seed ^ 2, c);
    let rm = random_values(seed ^ 3, c);
    let rv: Vec<f32> = random_values(seed ^ 4, c)
        .iter()
        .map(|v| 1.0 + 0.5 * v)
        .collect();
    let dy = random_values(seed ^ 5, s.len());
    let (x64, g64, b64) = (f64s(&x_dense), f64s(&gamma), f64s(&beta));
    let (y, saved, new_rm, new_rv) =
        norm::train_reference(&s, &set, &x64, &g64, &b64, &f64s(&rm), &f64s(&rv));
    let affine_data = [gamma.clone(), beta.clone()].concat();
    // The guard (0: healthy) follows the statistics; finite data must leave it alone.
    let running_data = [rm.clone(), rv.clone(), vec![0.0]].concat();
    let name = case.describe();
    let cu = s.c;
    match case.kernel {
        NormKernel::Stats | NormKernel::StatsPerImage => {
            let e = [
                Expected::whole("saved", saved, TOLERANCE),
                Expected {
                    name: "running",
                    initial: running_data,
                    region: (0..2 * c).collect(),
                    want: [new_rm, new_rv].concat(),
                    tolerance: TOLERANCE,
                },
            ];
            let parts = parts_of(case);
            let o = harness::run_many(gpu, name, &[Input::F32(x_buf)], &e, |i, o| {
                norm::stats_in_parts(gpu, s, set, i[0], o[0], running_of(o[1], cu), parts)
            })
            .await?;
            Ok(o.result)
        }
        NormKernel::Apply => {
            let e = [Expected::whole("y", y, TOLERANCE)];
            let inputs = [
                Input::F32(x_buf),
                Input::F32(affine_data),
                Input::F32(f32s(&saved)),
            ];
            let o = harness::run(gpu, name, &inputs, &e, |i, o| {
                norm::apply(gpu, s, set, i[0], affine_of(i[1], cu), i[2], o[0])
            })
            .await?;
            Ok(o.result)
        }
        NormKernel::Inference => {
            let want =
                norm::inference_reference(&s, &set, &x64, &g64, &b64, &f64s(&rm), &f64s(&rv));
            let e = [Expected::whole("y", want, TOLERANCE)];
            let inputs = [
                Input::F32(x_buf),
                Input::F32(affine_data),
                Input::F32(running_data),
            ];
            let o = harness::run(gpu, name, &inputs, &e, |i, o| {
                norm::inference(
                    gpu,
                    s,
                    set,
                    i[0],
                    affine_of(i[1], cu),
                    running_of(i[2], cu),
                    o[0],
                )
            })
            .await?;
            Ok(o.result)
        }
        NormKernel::GradReduce | NormKernel::GradReducePerImage | NormKernel::GradApply => {
            let dy64 = f64s(&dy);
            let (dx, dgamma, dbeta) = norm::backward_reference(&s, &set, &x64, &dy64, &g64, &b64);
            // loss = sum(dy * y(x, gamma, beta)) with batch statistics, in f64.
            let loss = |x: &[f64], g: &[f64], b: &[f64]| {
                let (y, _, _, _) = norm::train_reference(&s, &set, x, g, b, &f64s(&rm), &f64s(&rv));
                y.iter().zip(&dy64).map(|(a, b)| a * b).sum::<f64>()
            };
            if case.kernel != NormKernel::GradApply {
                let e = [Expected::whole(
                    "dgamma dbeta",
                    [dgamma, dbeta].concat(),
                    GRADIENT_TOLERANCE,
                )];
                let inputs = [
                    Input::F32(x_buf),
                    Input::F32(dy),
                    Input::F32(affine_data),
                    Input::F32(f32s(&saved)),
                ];
                let parts = parts_of(case);
                let o = harness::run_many(gpu, name, &inputs, &e, |i, o| {
                    norm::grad_reduce_in_parts(
                        gpu,
                        s,
                        set,
                        i[0],
                        i[1],
                        affine_of(i[2], cu),
                        i[3],
                        affine_of(o[0], cu),
                        parts,
                    )
                })
                .await?;
                let fd_loss = |i: usize, delta: f64| {
                    let (mut g, mut b) = (g64.clone(), b64.clone());
                    if i < c {
                        g[i] += delta
                    } else {
                        b[i - c] += delta
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
            // dx: sentinels outside the normalised channels; earlier gradient when accumulating.
            let mut initial = vec![SENTINEL; s.x_len()];
            let mut want = dx.clone();
            if case.accumulate {
                let earlier = random_values(seed ^ 6, region.len());
                for ((&i, &e), w) in region.iter().zip(&earlier).zip(want.iter_mut()) {
                    initial[i] = e;
                    *w += e as f64;
                }
            }
            let e = [Expected {
                name: "dx",
                initial: initial.clone(),
                region: region.clone(),
                want,
                tolerance: GRADIENT_TOLERANCE,
            }];
            let grads = f32s(&[dgamma, dbeta].concat());
            let inputs = [
                Input::F32(x_buf),
                Input::F32(dy),
                Input::F32(affine_data),
                Input::F32(f32s(&saved)),
                Input::F32(grads),
            ];
            let acc = case.accumulate;
            let o = harness::run(gpu, name, &inputs, &e, |i, o| {
                norm::grad_apply(
                    gpu,
                    s,
                    set,
                    i[0],
                    i[1],
                    affine_of(i[2], cu),
                    i[3],
                    affine_of(i[4], cu),
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
            let earlier = |i: usize| if acc { initial[region[i]] as f64 } else { 0.0 };
            let fd = harness::finite_difference_error(s.len(), 8, seed, eps, fd_loss, |i| {
                o.outputs[0][i] as f64 - earlier(i)
            });
            Ok(harness::with_finite_difference(
                o.result,
                fd,
                GRADIENT_TOLERANCE,
            ))
        }
    }
}
