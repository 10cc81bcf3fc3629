// The register-tiled convolution kernels' row loads, plain: each invocation gathers its own
// four row values (see `row_values` in conv.wgsl). Prepended to conv.wgsl by src/shaders.rs.

fn row_values(i: vec4<u32>) -> vec4<f32> {
    return gather1(i);
}
