//! Benchmarks shared by the CLI and the page. Figures are measured, never estimated: the
//! clock stops only once the GPU has finished.

mod matmul;
pub mod suite;

pub use matmul::{matmul, MatmulBench};

pub use crate::gpu::timing::{ms_per_run, time_runs};
