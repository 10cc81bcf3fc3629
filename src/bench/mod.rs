//! Benchmarks shared by the CLI and the page. Figures are measured, never estimated.

use serde::Serialize;
use web_time::Instant;

use crate::checks::random_values;
use crate::gpu::{Commands, Gpu, GpuError};
use crate::kernels::matmul::{Matmul, MatmulShape};
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
    /// 2 * size^3 * reps / seconds, in units of 1e9.
    pub gflops: f64,
    /// The adapter it ran on.
    pub adapter: String,
}

/// Times `size`^3 products for at least `min_seconds` after a warm-up, one submit each,
/// waiting for the GPU to finish before stopping the clock.
pub async fn matmul(gpu: &Gpu, size: u32, min_seconds: f64) -> Result<MatmulBench, GpuError> {
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
    let op = Matmul::new(
        gpu,
        shape,
        Operand::whole(&a),
        Operand::whole(&b),
        Operand::whole(&c),
    )?;
    time_products(gpu, &op, 1).await?; // warm-up: pipeline compilation, first-touch allocation
    let once = time_products(gpu, &op, 1).await?;
    let reps = ((min_seconds / once.max(1e-6)).ceil() as u32).clamp(1, 10_000);
    let seconds = time_products(gpu, &op, reps).await?;
    Ok(MatmulBench {
        size,
        reps,
        ms_per_product: seconds * 1e3 / reps as f64,
        gflops: shape.flops() * reps as f64 / seconds / 1e9,
        adapter: gpu.adapter().summary(),
    })
}

/// Seconds for `reps` products, one submit each, until the GPU has finished them.
async fn time_products(gpu: &Gpu, op: &Matmul, reps: u32) -> Result<f64, GpuError> {
    let start = Instant::now();
    for _ in 0..reps {
        let mut commands = Commands::new(gpu, "matmul bench");
        commands.run(&[op.dispatch()]);
        commands.submit();
    }
    gpu.finish().await?;
    Ok(start.elapsed().as_secs_f64())
}
