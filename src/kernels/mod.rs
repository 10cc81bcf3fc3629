//! Typed launchers, one module per WGSL file in `shaders/`, each with its CPU reference.

pub mod matmul;
