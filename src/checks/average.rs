//! Running-average checks: the first value replaces whatever the buffer held, later ones
//! weigh 1 / (n + 1), at long lengths (2-D grids) and with the batch-norm pass's scale.

use serde::Serialize;

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::average::{running_average_reference, RunningAverage};

const TOLERANCE: f64 = 1e-6;

/// One running-average check.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AverageCase {
    /// Elements.
    pub len: u32,
    /// Values already in the average.
    pub n: u32,
    /// Factor on the value added.
    pub scale: f32,
}

impl AverageCase {
    /// Like `running average 1000 elements after 3 values, scale 10`.
    pub fn describe(&self) -> String {
        format!(
            "running average {} elements after {} values, scale {}",
            self.len, self.n, self.scale
        )
    }
}

/// Every case.
pub fn cases() -> Vec<AverageCase> {
    let case = |len, n, scale| AverageCase { len, n, scale };
    vec![
        case(1, 0, 1.0),
        case(1000, 0, 1.0),
        case(1000, 3, 1.0),
        case(777, 2, 10.0),
        case(300_001, 7, 1.0),
    ]
}

/// Runs one case and compares with the reference.
pub async fn check(gpu: &Gpu, case: &AverageCase, seed: u64) -> Result<CheckResult, GpuError> {
    let len = case.len as usize;
    let x = random_values(seed, len);
    let avg = random_values(seed ^ 1, len);
    let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let want = running_average_reference(&f64s(&avg), &f64s(&x), case.n, case.scale as f64);
    let e = [Expected {
        name: "average",
        initial: avg,
        region: (0..len).collect(),
        want,
        tolerance: TOLERANCE,
    }];
    let o = harness::run(gpu, case.describe(), &[Input::F32(x)], &e, |i, o| {
        let mut average = RunningAverage::new(gpu, case.len, i[0], o[0], case.scale)?;
        average.set(gpu, case.n);
        Ok(average.dispatch().clone())
    })
    .await?;
    Ok(o.result)
}
