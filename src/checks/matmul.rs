//! Matmul checks: every transpose combination on shapes that are not multiples of the
//! 32x32 tile, including 1x1x1, primes and sizes above 512.

use web_time::Instant;

use super::{
    padded, random_values, relative_l2_error, CheckResult, PAD_AFTER, PAD_BEFORE, SENTINEL,
};
use crate::gpu::{Commands, Gpu, GpuError};
use crate::kernels::matmul::{self, Matmul, MatmulShape};
use crate::kernels::Operand;

/// Largest accepted relative L2 error (f32 accumulation against an f64 reference).
pub const TOLERANCE: f64 = 1e-5;

/// Hand-picked shapes: degenerate, prime, exact-tile, and larger than 512.
const FIXED: [(u32, u32, u32); 11] = [
    (1, 1, 1),
    (1, 7, 3),
    (5, 1, 9),
    (3, 4, 1),
    (31, 37, 41),
    (32, 32, 32),
    (33, 65, 17),
    (127, 131, 137),
    (521, 523, 541),
    (1, 1031, 517),
    (1024, 3, 515),
];

/// Random shapes drawn after the fixed ones.
const RANDOM_SHAPES: usize = 20;

/// Every shape to check, each in all four transpose combinations.
pub fn cases() -> Vec<MatmulShape> {
    let mut rng = fastrand::Rng::with_seed(0x05ee_d3a7);
    // Log-uniform sizes in 1..=300 so small and medium shapes are both common.
    let mut size = || (300f64.powf(rng.f64())).round().max(1.0) as u32;
    let mut sizes: Vec<(u32, u32, u32)> = FIXED.to_vec();
    sizes.extend((0..RANDOM_SHAPES).map(|_| (size(), size(), size())));
    sizes
        .into_iter()
        .flat_map(|(m, n, k)| {
            [(false, false), (false, true), (true, false), (true, true)]
                .map(|(ta, tb)| MatmulShape::new(m, n, k).transposed(ta, tb))
        })
        .collect()
}

/// Runs one product on the GPU with operands at odd offsets inside padded buffers and
/// compares it with the f64 reference.
pub async fn check(gpu: &Gpu, shape: MatmulShape, seed: u64) -> Result<CheckResult, GpuError> {
    let a = random_values(seed, shape.a_len());
    let b = random_values(seed ^ 0x9e37_79b9, shape.b_len());
    let a_buf = gpu.storage_from("check A", &padded(&a, f32::NAN))?;
    let b_buf = gpu.storage_from("check B", &padded(&b, f32::NAN))?;
    let c_init = vec![SENTINEL; PAD_BEFORE + shape.c_len() + PAD_AFTER];
    let c_buf = gpu.storage_from("check C", &c_init)?;
    let at = |buffer| Operand {
        buffer,
        offset: PAD_BEFORE as u32,
    };
    let op = Matmul::new(gpu, shape, at(&a_buf), at(&b_buf), at(&c_buf))?;

    let start = Instant::now();
    let mut commands = Commands::new(gpu, "matmul check");
    commands.run(&[op.dispatch()]);
    commands.submit();
    let c_all = gpu.read_f32(&c_buf, 0, c_init.len()).await?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;

    let want = matmul::reference(&shape, &a, &b);
    let c = &c_all[PAD_BEFORE..PAD_BEFORE + shape.c_len()];
    let err = relative_l2_error(c, &want);
    let pads_intact = c_all[..PAD_BEFORE]
        .iter()
        .chain(&c_all[PAD_BEFORE + shape.c_len()..])
        .all(|&v| v == SENTINEL);
    let problem = if !pads_intact {
        Some("wrote outside C".to_string())
    } else if err.is_nan() || err > TOLERANCE {
        Some(format!("relative L2 error {err:.3e} above {TOLERANCE:e}"))
    } else {
        None
    };
    Ok(CheckResult {
        name: shape.describe(),
        rel_l2_error: err,
        tolerance: TOLERANCE,
        passed: problem.is_none(),
        problem,
        gpu_ms,
        finite_difference_error: None,
    })
}
