//! Matmul checks: every transpose combination on shapes that are not multiples of the
//! 64x64 tile, including 1x1x1, primes and sizes above 512, by every kernel (register
//! blocks and the three workgroup-memory tilings).

use super::harness::{self, Expected, Input};
use super::{random_values, CheckResult};
use crate::gpu::{Gpu, GpuError};
use crate::kernels::matmul::{self, Matmul, MatmulAlgorithm, MatmulShape};

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

/// One product to check, by one kernel.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MatmulCase {
    /// Sizes and transposition.
    pub shape: MatmulShape,
    /// Which kernel.
    pub algorithm: MatmulAlgorithm,
}

impl MatmulCase {
    /// Like `C[3x5] = A^T[3x4] * B[4x5]`, with ` by workgroup-memory tiles` for that kernel.
    pub fn describe(&self) -> String {
        let by = match self.algorithm {
            MatmulAlgorithm::Registers => return self.shape.describe(),
            MatmulAlgorithm::Shared => "workgroup-memory tiles",
            MatmulAlgorithm::Wide => "128x128 workgroup-memory tiles",
            MatmulAlgorithm::WideShort => "64x128 workgroup-memory tiles",
            MatmulAlgorithm::RegistersSplit => "register blocks split for a GPU",
            MatmulAlgorithm::SharedSplit => "workgroup-memory tiles split",
            MatmulAlgorithm::WideSplit => "128x128 workgroup-memory tiles split",
            MatmulAlgorithm::Pipelined => "pipelined 128x128 tiles",
            MatmulAlgorithm::PipelinedSplit => "pipelined 128x128 tiles split",
        };
        format!("{} by {by}", self.shape.describe())
    }
}

/// Every shape to check, each in all four transpose combinations, by the register blocks
/// and the 64x64 workgroup-memory tiles.
pub fn cases() -> Vec<MatmulCase> {
    by(&[MatmulAlgorithm::Registers, MatmulAlgorithm::Shared])
}

/// The same shapes by the 8x8-per-invocation workgroup-memory tiles, 128 and 64 rows tall:
/// their own family, after every other, so that adding them moved no other case's seed.
pub fn wide_cases() -> Vec<MatmulCase> {
    by(&[MatmulAlgorithm::Wide, MatmulAlgorithm::WideShort])
}

/// The shapes each `*_split` algorithm cuts into parts (on the others it runs as its unsplit
/// kernel, which the families above check): their own family, last of all.
pub fn split_cases() -> Vec<MatmulCase> {
    let split = [
        MatmulAlgorithm::RegistersSplit,
        MatmulAlgorithm::SharedSplit,
        MatmulAlgorithm::WideSplit,
    ];
    by(&split)
        .into_iter()
        .filter(|c| c.algorithm.split(&c.shape, 1).parts > 1)
        .collect()
}

/// The same shapes by the pipelined 128x128 tiles, unsplit and (where it cuts the shape)
/// split: their own family, after every other.
pub fn pipelined_cases() -> Vec<MatmulCase> {
    by(&[MatmulAlgorithm::Pipelined, MatmulAlgorithm::PipelinedSplit])
        .into_iter()
        .filter(|c| match c.algorithm {
            MatmulAlgorithm::PipelinedSplit => c.algorithm.split(&c.shape, 1).parts > 1,
            _ => true,
        })
        .collect()
}

fn by(algorithms: &[MatmulAlgorithm]) -> Vec<MatmulCase> {
    shapes()
        .into_iter()
        .flat_map(|shape| {
            algorithms
                .iter()
                .map(move |&algorithm| MatmulCase { shape, algorithm })
        })
        .collect()
}

/// Every shape to check, each in all four transpose combinations.
fn shapes() -> Vec<MatmulShape> {
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
pub async fn check(gpu: &Gpu, case: MatmulCase, seed: u64) -> Result<CheckResult, GpuError> {
    let shape = case.shape;
    let a = random_values(seed, shape.a_len());
    let b = random_values(seed ^ 0x9e37_79b9, shape.b_len());
    let want = matmul::reference(&shape, &a, &b);
    let expected = [Expected::whole("C", want, TOLERANCE)];
    let inputs = [Input::F32(a), Input::F32(b)];
    let o = harness::run_many(gpu, case.describe(), &inputs, &expected, |i, o| {
        Ok(
            Matmul::new_by(gpu, case.algorithm, shape, i[0], i[1], o[0])?
                .dispatches()
                .to_vec(),
        )
    })
    .await?;
    Ok(o.result)
}
