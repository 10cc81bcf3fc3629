// The 8x8 register block shared by the GEMM-shaped kernels (matmul.wgsl, conv.wgsl), which
// are compiled with this file prepended (src/shaders.rs).
//
// An 8x8 block of accumulators, row i's columns 0-3 in r{i}l and 4-7 in r{i}h. A struct of
// named vectors, not an array, so that every value stays in a register.
struct Tile {
    r0l: vec4<f32>, r0h: vec4<f32>, r1l: vec4<f32>, r1h: vec4<f32>,
    r2l: vec4<f32>, r2h: vec4<f32>, r3l: vec4<f32>, r3h: vec4<f32>,
    r4l: vec4<f32>, r4h: vec4<f32>, r5l: vec4<f32>, r5h: vec4<f32>,
    r6l: vec4<f32>, r6h: vec4<f32>, r7l: vec4<f32>, r7h: vec4<f32>,
}

// t + (rows al, ah) x (columns bl, bh): one step of the inner dimension.
fn mac(t: Tile, al: vec4<f32>, ah: vec4<f32>, bl: vec4<f32>, bh: vec4<f32>) -> Tile {
    return Tile(
        t.r0l + al.x * bl, t.r0h + al.x * bh, t.r1l + al.y * bl, t.r1h + al.y * bh,
        t.r2l + al.z * bl, t.r2h + al.z * bh, t.r3l + al.w * bl, t.r3h + al.w * bh,
        t.r4l + ah.x * bl, t.r4h + ah.x * bh, t.r5l + ah.y * bl, t.r5h + ah.y * bh,
        t.r6l + ah.z * bl, t.r6h + ah.z * bh, t.r7l + ah.w * bl, t.r7h + ah.w * bh);
}

