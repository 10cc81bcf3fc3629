//! Snapshot Ensembles and FreezeOut trained on the GPU through WebGPU, in the browser
//! (wasm32) and natively. Every forward and backward op is a WGSL kernel in `shaders/`
//! with a typed launcher in [`kernels`] and a CPU reference beside it.

pub mod bench;
pub mod checkpoint;
pub mod checks;
pub mod data;
pub mod ensemble;
pub mod gpu;
pub mod kernels;
pub mod metrics;
pub mod nn;
pub mod schedule;
pub mod shaders;
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod web;
