//! SGD checks: PyTorch's update with and without momentum, Nesterov and weight decay, the
//! first step, per-block learning rates, and a frozen prefix left untouched.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::kernels::optim::{self, Sgd, SgdBuffers, SgdSettings};

const TOLERANCE: f64 = 1e-6;

/// One SGD check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SgdCase {
    /// Parameters in the flat buffer.
    pub total: u32,
    /// Parameter blocks (random sizes).
    pub blocks: u32,
    /// Blocks at the front that are frozen (not updated).
    pub frozen: u32,
    /// Step settings.
    pub settings: SgdSettings,
}

impl SgdCase {
    /// Like `sgd 1000 params, 5 blocks (2 frozen), mu 0.9 nesterov wd 1e-4 first step`.
    pub fn describe(&self) -> String {
        let s = &self.settings;
        format!(
            "sgd {} params, {} blocks ({} frozen), mu {}{} wd {}{}",
            self.total,
            self.blocks,
            self.frozen,
            s.momentum,
            if s.nesterov { " nesterov" } else { "" },
            s.weight_decay,
            if s.first_step { ", first step" } else { "" }
        )
    }
}

/// Every case.
pub fn cases() -> Vec<SgdCase> {
    let s = |momentum, weight_decay, nesterov, first_step| SgdSettings {
        momentum,
        weight_decay,
        nesterov,
        first_step,
    };
    let case = |total, blocks, frozen, settings| SgdCase {
        total,
        blocks,
        frozen,
        settings,
    };
    vec![
        case(1, 1, 0, s(0.9, 1e-4, true, true)),
        case(1000, 5, 0, s(0.9, 1e-4, true, true)),
        case(1000, 5, 0, s(0.9, 1e-4, true, false)),
        case(1000, 5, 2, s(0.9, 1e-4, true, false)),
        case(777, 9, 8, s(0.9, 5e-4, false, false)),
        case(513, 3, 0, s(0.0, 0.0, false, false)),
        case(300_001, 40, 17, s(0.9, 1e-4, true, false)),
    ]
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &SgdCase, seed: u64) -> Result<CheckResult, GpuError> {
    let total = case.total as usize;
    let mut rng = fastrand::Rng::with_seed(seed);
    // Random block boundaries: sorted distinct cut points.
    let mut starts: Vec<u32> = vec![0];
    let mut cuts: Vec<u32> = (1..case.total).collect();
    rng.shuffle(&mut cuts);
    let mut cuts: Vec<u32> = cuts.into_iter().take(case.blocks as usize - 1).collect();
    cuts.sort_unstable();
    starts.extend(cuts);
    starts.push(case.total);
    let lrs: Vec<f32> = (0..case.blocks).map(|_| 0.01 + rng.f32() * 0.2).collect();
    let params = random_values(seed ^ 1, total);
    let grads = random_values(seed ^ 2, total);
    let momentum = random_values(seed ^ 3, total);
    let start = starts[case.frozen as usize];
    let range = start as usize..total;
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (p_want, m_want) = optim::sgd_reference(
        &f64s(&params),
        &f64s(&grads),
        &f64s(&momentum),
        &starts,
        &f64s(&lrs),
        range.clone(),
        &case.settings,
    );
    let e = [
        Expected {
            name: "params",
            initial: params,
            region: range.clone().collect(),
            want: p_want[range.clone()].to_vec(),
            tolerance: TOLERANCE,
        },
        Expected {
            name: "momentum",
            initial: momentum,
            region: range.clone().collect(),
            want: m_want[range.clone()].to_vec(),
            tolerance: TOLERANCE,
        },
    ];
    // The harness places operands at an offset; SGD indexes whole buffers, so its range and
    // block starts are shifted by the same offset.
    let offset = super::PAD_BEFORE as u32;
    let shifted: Vec<u32> = starts.iter().map(|s| s + offset).collect();
    let inputs = [Input::F32(grads), Input::U32(shifted), Input::F32(lrs)];
    let o = harness::run(
        gpu,
        case.describe(),
        &inputs,
        &e,
        |i, o| -> Result<Dispatch, GpuError> {
            let buffers = SgdBuffers {
                params: o[0].buffer,
                grads: i[0].buffer,
                momentum: o[1].buffer,
                block_starts: i[1],
                lrs: i[2],
            };
            let range = (start + offset)..(case.total + offset);
            let sgd = Sgd::new(gpu, &buffers, case.blocks, range, case.settings)?;
            Ok(sgd.dispatch().clone())
        },
    )
    .await?;
    Ok(o.result)
}
