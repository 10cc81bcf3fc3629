//! Square matmul throughput, the headline figure for the kernels.

use serde::Serialize;

use super::ms_per_run;
use crate::checks::random_values;
use crate::gpu::{Gpu, GpuError};
use crate::kernels::matmul::{Matmul, MatmulAlgorithm, MatmulShape};
use crate::kernels::Operand;

/// Throughput of one square matrix product size.
#[derive(Clone, Debug, Serialize)]
pub struct MatmulBench {
    /// m = n = k.
    pub size: u32,
    /// Products timed.
    pub reps: u32,
    /// Mean milliseconds per product, submit to completion.
    pub ms_per_product: f64,
    /// 2 * size^3 * reps / seconds, in units of 1e9: the fastest kernel's.
    pub gflops: f64,
    /// The fastest kernel (`registers` or `shared`).
    pub kernel: String,
    /// Every kernel timed, with its GFLOP/s.
    pub by_kernel: Vec<(String, f64)>,
    /// The adapter it ran on.
    pub adapter: String,
}

/// Times `size`^3 products by each of `kernels` for at least `min_seconds` after a warm-up,
/// and reports the fastest.
pub async fn matmul(
    gpu: &Gpu,
    size: u32,
    min_seconds: f64,
    kernels: &[MatmulAlgorithm],
) -> Result<MatmulBench, GpuError> {
    if size == 0 {
        return Err(GpuError::launch(
            "matmul",
            "benchmark size must be at least 1",
        ));
    }
    let shape = MatmulShape::new(size, size, size);
    let a = gpu.storage_from("bench A", &random_values(1, shape.a_len()))?;
    let b = gpu.storage_from("bench B", &random_values(2, shape.b_len()))?;
    let c = gpu.storage("bench C", shape.c_len() as u64 * 4)?;
    let whole = Operand::whole;
    let gflops = |ms: f64| shape.flops() / (ms * 1e-3) / 1e9;
    let mut best: Option<(f64, u32, MatmulAlgorithm)> = None;
    let mut by_kernel = Vec::new();
    for &algorithm in kernels {
        let op = Matmul::new_by(gpu, algorithm, shape, whole(&a), whole(&b), whole(&c))?;
        let (ms, reps) = ms_per_run(
            gpu,
            &op.dispatches().iter().collect::<Vec<_>>(),
            min_seconds,
        )
        .await?;
        by_kernel.push((algorithm.label().to_string(), gflops(ms)));
        if best.is_none_or(|(b, _, _)| ms < b) {
            best = Some((ms, reps, algorithm));
        }
    }
    let Some((ms, reps, algorithm)) = best else {
        return Err(GpuError::launch("matmul", "no kernel to benchmark"));
    };
    Ok(MatmulBench {
        size,
        reps,
        ms_per_product: ms,
        gflops: gflops(ms),
        kernel: algorithm.label().into(),
        by_kernel,
        adapter: gpu.adapter().summary(),
    })
}
