//! SGD checks: PyTorch's update with and without momentum, Nesterov and weight decay, the
//! first step, per-block learning rates, and a frozen prefix left untouched; and the
//! divergence guard: a NaN gradient in the trained range sets it and nothing is updated, an
//! infinite one in the frozen prefix is none of the step's business.

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
    /// A non-finite gradient planted in the data, if any.
    pub poison: Poison,
}

/// Where a check plants a non-finite gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Poison {
    /// Nowhere: every gradient is finite.
    None,
    /// A NaN inside the updated range: the guard is set and nothing changes.
    InRange,
    /// An infinity in the frozen prefix: the step goes on as usual.
    InFrozen,
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
        ) + match self.poison {
            Poison::None => "",
            Poison::InRange => ", a NaN gradient (guard set, nothing updated)",
            Poison::InFrozen => ", an infinite gradient in the frozen prefix",
        }
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
        poison: Poison::None,
    };
    let poisoned = |poison, frozen| SgdCase {
        poison,
        ..case(1000, 5, frozen, s(0.9, 1e-4, true, false))
    };
    vec![
        case(1, 1, 0, s(0.9, 1e-4, true, true)),
        case(1000, 5, 0, s(0.9, 1e-4, true, true)),
        case(1000, 5, 0, s(0.9, 1e-4, true, false)),
        case(1000, 5, 2, s(0.9, 1e-4, true, false)),
        case(777, 9, 8, s(0.9, 5e-4, false, false)),
        case(513, 3, 0, s(0.0, 0.0, false, false)),
        case(300_001, 40, 17, s(0.9, 1e-4, true, false)),
        poisoned(Poison::InRange, 0),
        poisoned(Poison::InRange, 2),
        poisoned(Poison::InFrozen, 2),
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
    let mut grads = random_values(seed ^ 2, total);
    let momentum = random_values(seed ^ 3, total);
    let start = starts[case.frozen as usize];
    let range = start as usize..total;
    match case.poison {
        Poison::None => {}
        Poison::InRange => grads[rng.usize(range.clone())] = f32::NAN,
        Poison::InFrozen => grads[rng.usize(..start as usize)] = f32::INFINITY,
    }
    // With the guard set nothing may change: the updated region is empty.
    let (updated, guard_want): (Vec<usize>, Vec<(usize, f64)>) = match case.poison {
        Poison::InRange => (Vec::new(), vec![(0, 1.0)]),
        _ => (range.clone().collect(), Vec::new()),
    };
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
            want: updated.iter().map(|&i| p_want[i]).collect(),
            region: updated.clone(),
            tolerance: TOLERANCE,
        },
        Expected {
            name: "momentum",
            initial: momentum,
            want: updated.iter().map(|&i| m_want[i]).collect(),
            region: updated,
            tolerance: TOLERANCE,
        },
        // The divergence guard: 1 after a NaN in the range, else left at 0.
        Expected {
            name: "guard",
            initial: vec![0.0],
            region: guard_want.iter().map(|&(i, _)| i).collect(),
            want: guard_want.iter().map(|&(_, v)| v).collect(),
            tolerance: 0.0,
        },
    ];
    // The harness places operands at an offset; SGD indexes whole buffers, so its range and
    // block starts are shifted by the same offset.
    let offset = super::PAD_BEFORE as u32;
    let shifted: Vec<u32> = starts.iter().map(|s| s + offset).collect();
    let inputs = [Input::F32(grads), Input::U32(shifted), Input::F32(lrs)];
    let o = harness::run_many(
        gpu,
        case.describe(),
        &inputs,
        &e,
        |i, o| -> Result<Vec<Dispatch>, GpuError> {
            let buffers = SgdBuffers {
                params: o[0].buffer,
                grads: i[0].buffer,
                momentum: o[1].buffer,
                block_starts: i[1],
                lrs: i[2],
                guard: o[2],
            };
            let range = (start + offset)..(case.total + offset);
            let sgd = Sgd::new(gpu, &buffers, case.blocks, range, case.settings)?;
            Ok(sgd.dispatches().into_iter().cloned().collect())
        },
    )
    .await?;
    Ok(o.result)
}
