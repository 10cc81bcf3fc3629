//! Kernel checks against the CPU references, shared by the native tests, the browser tests
//! and the page's visible self-test, so all three run exactly the same comparisons.

pub mod matmul;

use serde::Serialize;

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
