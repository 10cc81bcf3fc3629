// Elementwise kernels: ReLU forward and backward, residual add forward (alone, and fused
// with the ReLU after it) and backward (accumulate), and a per-channel bias add for NCHW (plane = h * w) or linear (plane = 1)
// outputs. One invocation per element; the grid is 2-D when one dimension is not enough.

struct Elementwise {
    len: u32,
    a_offset: u32,
    b_offset: u32,
    out_offset: u32,
    channels: u32,
    plane: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> e: Elementwise;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// out = max(a, 0)
@compute @workgroup_size(256, 1, 1)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] = max(a[e.a_offset + i], 0.0);
    }
}

// out = a where b > 0, else 0 (a = dy, b = the ReLU's output, as PyTorch does)
@compute @workgroup_size(256, 1, 1)
fn relu_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] = select(0.0, a[e.a_offset + i], b[e.b_offset + i] > 0.0);
    }
}

// out = a + b (residual add)
@compute @workgroup_size(256, 1, 1)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] = a[e.a_offset + i] + b[e.b_offset + i];
    }
}

// out = max(a + b, 0): the residual block's add and ReLU in one pass
@compute @workgroup_size(256, 1, 1)
fn add_relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] = max(a[e.a_offset + i] + b[e.b_offset + i], 0.0);
    }
}

// out += a (the residual add's backward: each input's gradient gains dy)
@compute @workgroup_size(256, 1, 1)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] += a[e.a_offset + i];
    }
}

// out[i] += a[channel of i], channel = (i / plane) % channels
@compute @workgroup_size(256, 1, 1)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i < e.len) {
        out[e.out_offset + i] += a[e.a_offset + (i / e.plane) % e.channels];
    }
}
