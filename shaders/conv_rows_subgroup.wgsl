// The register-tiled convolution kernels' row loads, shared within a subgroup: the build
// of conv.wgsl for browsers whose adapter has subgroups of exactly four lanes (SwiftShader).
// The invocations of one workgroup row (WG_X >= 4 across) own the same rows (see the block
// files), and invocations are numbered x + WG_X y, so the four lanes of a subgroup are four
// neighbours in x with the same rows: each loads one of the four values and takes the other three by
// broadcast, one load where there were four. On SwiftShader every load is a gather with a
// bounds check, scalarised lane by lane, and loads bound these kernels (BENCHMARKS.md).
//
// Browser only: naga (the native WGSL front end) does not implement `enable subgroups`, so
// this build is never compiled natively; src/shaders.rs prepends the directive.

fn row_values(i: vec4<u32>) -> vec4<f32> {
    let mine = in1[i[row_lane]];
    return vec4<f32>(
        subgroupBroadcast(mine, 0u),
        subgroupBroadcast(mine, 1u),
        subgroupBroadcast(mine, 2u),
        subgroupBroadcast(mine, 3u),
    );
}
