// Pooling over NCHW planes: max 2x2 stride 2 and average 2x2 stride 2 (floor mode, as
// PyTorch's MaxPool2d(2) and AvgPool2d(2)), and global average; forward and backward.
// Forward kernels run one invocation per output, backward kernels one per input element
// (max pooling's, one per 2x2 block of them), so every output is written by exactly one
// invocation (no atomics, deterministic).

struct Pool {
    planes: u32, // n * c
    h: u32,
    w: u32,
    p: u32, // output height (h / 2, or 1 for global)
    q: u32, // output width
    in_offset: u32,
    out_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> pl: Pool;
@group(0) @binding(1) var<storage, read> src: array<f32>; // forward: x; backward: dy
@group(0) @binding(2) var<storage, read> aux: array<f32>; // max backward: x
@group(0) @binding(3) var<storage, read_write> dst: array<f32>; // forward: y; backward: dx

const WG: u32 = 256u;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Offset of input element (plane, row, column) relative to the tensor's start.
fn at(plane: u32, row: u32, col: u32) -> u32 {
    return (plane * pl.h + row) * pl.w + col;
}

// Index within the 2x2 window at output (oy, ox) of its first maximum, in row-major order.
fn window_argmax(base: u32, plane: u32, oy: u32, ox: u32) -> u32 {
    var best = aux[base + at(plane, 2u * oy, 2u * ox)];
    var arg = 0u;
    for (var k = 1u; k < 4u; k++) {
        let v = aux[base + at(plane, 2u * oy + k / 2u, 2u * ox + k % 2u)];
        if (v > best) {
            best = v;
            arg = k;
        }
    }
    return arg;
}

@compute @workgroup_size(256, 1, 1)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= pl.planes * pl.p * pl.q) {
        return;
    }
    let plane = i / (pl.p * pl.q);
    let rem = i - plane * pl.p * pl.q;
    let oy = rem / pl.q;
    let ox = rem - oy * pl.q;
    var best = src[pl.in_offset + at(plane, 2u * oy, 2u * ox)];
    for (var k = 1u; k < 4u; k++) {
        best = max(best, src[pl.in_offset + at(plane, 2u * oy + k / 2u, 2u * ox + k % 2u)]);
    }
    dst[pl.out_offset + i] = best;
}

// dx = dy at each window's first maximum (recomputed from x in aux), 0 elsewhere. One
// invocation per 2x2 block of dx, ceil(h/2) x ceil(w/2) per plane: it finds its window's
// maximum once and writes all four; blocks past the last full window (odd h or w) are
// zeros. So every dx element is written exactly once.
@compute @workgroup_size(256, 1, 1)
fn max_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let bh = (pl.h + 1u) / 2u;
    let bw = (pl.w + 1u) / 2u;
    if (i >= pl.planes * bh * bw) {
        return;
    }
    let plane = i / (bh * bw);
    let rem = i - plane * bh * bw;
    let oy = rem / bw;
    let ox = rem - oy * bw;
    var arg = 4u; // none: a block outside every window
    var g = 0.0;
    if (oy < pl.p && ox < pl.q) {
        arg = window_argmax(pl.in_offset, plane, oy, ox);
        g = src[pl.out_offset + (plane * pl.p + oy) * pl.q + ox];
    }
    for (var k = 0u; k < 4u; k++) {
        let row = 2u * oy + k / 2u;
        let col = 2u * ox + k % 2u;
        if (row < pl.h && col < pl.w) {
            dst[pl.in_offset + at(plane, row, col)] = select(0.0, g, k == arg);
        }
    }
}

@compute @workgroup_size(256, 1, 1)
fn avg_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= pl.planes * pl.p * pl.q) {
        return;
    }
    let plane = i / (pl.p * pl.q);
    let rem = i - plane * pl.p * pl.q;
    let oy = rem / pl.q;
    let ox = rem - oy * pl.q;
    var sum = 0.0;
    for (var k = 0u; k < 4u; k++) {
        sum += src[pl.in_offset + at(plane, 2u * oy + k / 2u, 2u * ox + k % 2u)];
    }
    dst[pl.out_offset + i] = sum * 0.25;
}

@compute @workgroup_size(256, 1, 1)
fn avg_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= pl.planes * pl.h * pl.w) {
        return;
    }
    let plane = i / (pl.h * pl.w);
    let rem = i - plane * pl.h * pl.w;
    let oy = (rem / pl.w) / 2u;
    let ox = (rem % pl.w) / 2u;
    var g = 0.0;
    if (oy < pl.p && ox < pl.q) {
        g = src[pl.out_offset + (plane * pl.p + oy) * pl.q + ox] * 0.25;
    }
    dst[pl.in_offset + i] = g;
}

// y[plane] = mean of the plane, summed in order by one invocation.
@compute @workgroup_size(256, 1, 1)
fn global_avg_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = element(gid, nwg);
    if (plane >= pl.planes) {
        return;
    }
    let hw = pl.h * pl.w;
    var sum = 0.0;
    for (var k = 0u; k < hw; k++) {
        sum += src[pl.in_offset + plane * hw + k];
    }
    dst[pl.out_offset + plane] = sum / f32(hw);
}

@compute @workgroup_size(256, 1, 1)
fn global_avg_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    let hw = pl.h * pl.w;
    if (i >= pl.planes * hw) {
        return;
    }
    dst[pl.in_offset + i] = src[pl.out_offset + i / hw] / f32(hw);
}
