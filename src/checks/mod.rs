//! Kernel checks against the CPU references, shared by the native tests, the browser tests
//! and the page's visible self-test, so all three run exactly the same comparisons.

pub mod average;
pub mod conv;
pub mod data;
pub mod elementwise;
pub mod ensemble;
pub mod harness;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod norm_pool;
pub mod optim;
pub mod pool;

use serde::Serialize;

use crate::gpu::{Gpu, GpuError};

/// Padding around every operand in the checks: a kernel must neither read it (inputs are
/// padded with NaN, which would show in the result) nor write it (outputs are padded with
/// [`SENTINEL`], which must survive).
pub const PAD_BEFORE: usize = 3;
/// Padding after every operand; see [`PAD_BEFORE`].
pub const PAD_AFTER: usize = 5;
/// Value written around and between outputs that a kernel must leave alone.
pub const SENTINEL: f32 = 12345.0;

/// The kernel families the self-test covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `shaders/matmul.wgsl`.
    Matmul,
    /// `shaders/conv.wgsl`.
    Conv,
    /// `shaders/elementwise.wgsl`.
    Elementwise,
    /// `shaders/loss.wgsl`.
    Loss,
    /// `shaders/optim.wgsl`.
    Optim,
    /// `shaders/pool.wgsl`.
    Pool,
    /// `shaders/norm.wgsl`.
    Norm,
    /// The linear layer (matmul and elementwise kernels).
    Linear,
    /// `shaders/data.wgsl`.
    Data,
    /// `shaders/ensemble.wgsl`.
    Ensemble,
    /// `shaders/average.wgsl`.
    Average,
    /// Batch norm + ReLU + max pooling fused: `shaders/norm_pool.wgsl`.
    NormPool,
    /// `shaders/matmul.wgsl`'s 8x8-per-invocation workgroup-memory tiles (`main_wide`).
    MatmulWide,
    /// The matmul kernels with the inner dimension split for a GPU (`*_split`).
    MatmulSplit,
    /// The pipelined 128x128 matmul tiles (`main_pipelined`), unsplit and split.
    MatmulPipelined,
    /// The prefetching workgroup-memory weight gradient (`weight_grad_shared_prefetch`).
    ConvPrefetch,
}

/// One self-test case of any kernel family.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// Which family.
    pub family: Family,
    /// Index within the family's own case list.
    pub index: usize,
    /// What it checks.
    pub name: String,
}

/// Every self-test case, in the order the page and the tests run them.
pub fn all_cases() -> Vec<Case> {
    fn family<T>(family: Family, cases: Vec<T>, describe: impl Fn(&T) -> String) -> Vec<Case> {
        let named = cases.iter().enumerate();
        named
            .map(|(index, c)| Case {
                family,
                index,
                name: describe(c),
            })
            .collect()
    }
    [
        family(Family::Matmul, matmul::cases(), |c| c.describe()),
        family(Family::Conv, conv::cases(), |c| c.describe()),
        family(Family::Elementwise, elementwise::cases(), |c| c.describe()),
        family(Family::Loss, loss::cases(), |c| c.describe()),
        family(Family::Optim, optim::cases(), |c| c.describe()),
        family(Family::Pool, pool::cases(), |c| c.describe()),
        family(Family::Norm, norm::cases(), |c| c.describe()),
        family(Family::Linear, linear::cases(), |c| c.describe()),
        family(Family::Data, data::cases(), |c| c.describe()),
        family(Family::Ensemble, ensemble::cases(), |c| c.describe()),
        family(Family::Average, average::cases(), |c| c.describe()),
        family(Family::NormPool, norm_pool::cases(), |c| c.describe()),
        family(Family::MatmulWide, matmul::wide_cases(), |c| c.describe()),
        family(Family::MatmulSplit, matmul::split_cases(), |c| c.describe()),
        family(Family::MatmulPipelined, matmul::pipelined_cases(), |c| {
            c.describe()
        }),
        family(Family::ConvPrefetch, conv::prefetch_cases(), |c| {
            c.describe()
        }),
    ]
    .concat()
}

/// The self-test cases this device can run: every case of [`all_cases`] except the
/// convolution checks of the subgroup build where the device has no subgroups of four lanes
/// (natively: never; in the browser where the adapter has them).
pub fn cases_for(gpu: &Gpu) -> Vec<Case> {
    let conv_cases = conv::cases();
    all_cases()
        .into_iter()
        .filter(|case| match case.family {
            Family::Conv => conv_cases
                .get(case.index)
                .is_some_and(|c| gpu.subgroup_rows() || !c.kernel.needs_subgroups()),
            _ => true,
        })
        .collect()
}

/// Runs `case`; `seed` picks its random data.
pub async fn run(gpu: &Gpu, case: &Case, seed: u64) -> Result<CheckResult, GpuError> {
    let missing = || GpuError::launch("self-test", format!("no such case: {case:?}"));
    match case.family {
        Family::Matmul => {
            let matmul_case = *matmul::cases().get(case.index).ok_or_else(missing)?;
            matmul::check(gpu, matmul_case, seed).await
        }
        Family::Conv => {
            let conv_case = *conv::cases().get(case.index).ok_or_else(missing)?;
            conv::check(gpu, &conv_case, seed).await
        }
        Family::Elementwise => {
            let c = *elementwise::cases().get(case.index).ok_or_else(missing)?;
            elementwise::check(gpu, &c, seed).await
        }
        Family::Loss => {
            let c = *loss::cases().get(case.index).ok_or_else(missing)?;
            loss::check(gpu, &c, seed).await
        }
        Family::Optim => {
            let c = *optim::cases().get(case.index).ok_or_else(missing)?;
            optim::check(gpu, &c, seed).await
        }
        Family::Pool => {
            let c = *pool::cases().get(case.index).ok_or_else(missing)?;
            pool::check(gpu, &c, seed).await
        }
        Family::Norm => {
            let c = *norm::cases().get(case.index).ok_or_else(missing)?;
            norm::check(gpu, &c, seed).await
        }
        Family::Linear => {
            let c = *linear::cases().get(case.index).ok_or_else(missing)?;
            linear::check(gpu, &c, seed).await
        }
        Family::Data => {
            let c = *data::cases().get(case.index).ok_or_else(missing)?;
            data::check(gpu, &c, seed).await
        }
        Family::Ensemble => {
            let c = *ensemble::cases().get(case.index).ok_or_else(missing)?;
            ensemble::check(gpu, &c, seed).await
        }
        Family::Average => {
            let c = *average::cases().get(case.index).ok_or_else(missing)?;
            average::check(gpu, &c, seed).await
        }
        Family::NormPool => {
            let c = *norm_pool::cases().get(case.index).ok_or_else(missing)?;
            norm_pool::check(gpu, &c, seed).await
        }
        Family::MatmulWide => {
            let c = *matmul::wide_cases().get(case.index).ok_or_else(missing)?;
            matmul::check(gpu, c, seed).await
        }
        Family::MatmulSplit => {
            let c = *matmul::split_cases().get(case.index).ok_or_else(missing)?;
            matmul::check(gpu, c, seed).await
        }
        Family::MatmulPipelined => {
            let c = *matmul::pipelined_cases()
                .get(case.index)
                .ok_or_else(missing)?;
            matmul::check(gpu, c, seed).await
        }
        Family::ConvPrefetch => {
            let c = *conv::prefetch_cases().get(case.index).ok_or_else(missing)?;
            conv::check(gpu, &c, seed).await
        }
    }
}

/// `values` with [`PAD_BEFORE`] copies of `pad` before and [`PAD_AFTER`] after.
pub fn padded(values: &[f32], pad: f32) -> Vec<f32> {
    let mut out = vec![pad; PAD_BEFORE];
    out.extend_from_slice(values);
    out.extend(std::iter::repeat_n(pad, PAD_AFTER));
    out
}

/// Compares a kernel's whole output buffer with what it should hold: at `region` (indices
/// into the buffer) the values `want`, everywhere else exactly `initial`. Returns the
/// relative L2 error over the region and whether everything else was left alone.
pub fn compare_output(got: &[f32], initial: &[f32], region: &[usize], want: &[f64]) -> (f64, bool) {
    let in_region: Vec<f32> = region.iter().map(|&i| got[i]).collect();
    let err = relative_l2_error(&in_region, want);
    let mut touched = vec![false; got.len()];
    for &i in region {
        touched[i] = true;
    }
    let untouched_ok = got.len() == initial.len()
        && got
            .iter()
            .zip(initial)
            .zip(&touched)
            .all(|((g, i), &t)| t || g.to_bits() == i.to_bits());
    (err, untouched_ok)
}

/// The outcome of one kernel check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// What was checked, e.g. the product's shape.
    pub name: String,
    /// ||gpu - reference||_2 / ||reference||_2 (absolute when the reference is all zeros).
    pub rel_l2_error: f64,
    /// The largest error that passes.
    pub tolerance: f64,
    /// Whether the GPU agreed with the reference and nothing outside the output changed.
    pub passed: bool,
    /// Why it failed, when it did.
    pub problem: Option<String>,
    /// Wall-clock milliseconds from submit to results back on the CPU.
    pub gpu_ms: f64,
    /// For gradients: relative L2 error against central finite differences of the f64
    /// forward reference at sampled coordinates.
    pub finite_difference_error: Option<f64>,
}

/// Relative L2 distance between GPU output and a f64 reference. NaN or infinite output
/// yields infinity, so it can never pass.
pub fn relative_l2_error(got: &[f32], want: &[f64]) -> f64 {
    if got.len() != want.len() || got.iter().any(|v| !v.is_finite()) {
        return f64::INFINITY;
    }
    let (mut diff, mut norm) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        diff += (g as f64 - w).powi(2);
        norm += w * w;
    }
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// `len` values uniform in [-1, 1), reproducible from `seed` on every platform.
pub fn random_values(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.f32() * 2.0 - 1.0).collect()
}
