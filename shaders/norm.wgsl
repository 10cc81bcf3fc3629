// Batch normalisation over NCHW, per channel over n * h * w values, exactly as PyTorch's
// BatchNorm2d: training uses the batch statistics (biased variance) and updates the
// running statistics with momentum and the unbiased variance; inference uses the running
// statistics. ReLU can be fused after it. x may be a channel prefix of a wider tensor
// (DenseNet), and the input gradient can be accumulated into dx.
//
// Per-channel reductions use one workgroup per channel and a fixed-order tree, so results
// are bitwise reproducible (no atomics).

struct Norm {
    n: u32,
    c: u32,
    hw: u32,
    x_channels: u32, // channels per image in x and dx
    x_offset: u32,
    y_offset: u32, // y, dy (dense n x c x hw)
    gamma_offset: u32, // gamma in params, dgamma in grads
    beta_offset: u32, // beta in params, dbeta in grads
    saved_offset: u32, // per channel: batch mean, 1 / sqrt(batch var + eps)
    mean_offset: u32, // running mean in state
    var_offset: u32, // running variance in state
    flags: u32, // bit 0: fused ReLU; bit 1: accumulate into dx
    momentum: f32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
}

const RELU: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> nm: Norm;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> grads_in: array<f32>;
@group(0) @binding(5) var<storage, read> saved_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> saved_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> state: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> part_a: array<f32, 256>;
var<workgroup> part_b: array<f32, 256>;

fn element(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// Offset in x (or dx) of value k (0 <= k < n * hw) of channel ch.
fn x_index(ch: u32, k: u32) -> u32 {
    let img = k / nm.hw;
    return nm.x_offset + (img * nm.x_channels + ch) * nm.hw + (k - img * nm.hw);
}

// Channel and x offset of element i of the dense n x c x hw layout.
fn channel_of(i: u32) -> u32 {
    return (i / nm.hw) % nm.c;
}

fn x_of_dense(i: u32) -> u32 {
    let img = i / (nm.c * nm.hw);
    let rest = i - img * nm.c * nm.hw; // ch * hw + position
    return nm.x_offset + img * nm.x_channels * nm.hw + rest;
}

// Sums part_a and part_b over the workgroup; the totals end in element 0.
fn reduce_pair(lid: u32) {
    workgroupBarrier();
    for (var width = WG / 2u; width > 0u; width /= 2u) {
        if (lid < width) {
            part_a[lid] += part_a[lid + width];
            part_b[lid] += part_b[lid + width];
        }
        workgroupBarrier();
    }
}

// Batch statistics of channel wg.x; updates the running statistics.
@compute @workgroup_size(256, 1, 1)
fn bn_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.x;
    let m = nm.n * nm.hw;
    var sum = 0.0;
    for (var k = lid.x; k < m; k += WG) {
        sum += x[x_index(ch, k)];
    }
    part_a[lid.x] = sum;
    part_b[lid.x] = 0.0;
    reduce_pair(lid.x);
    let mean = part_a[0] / f32(m);
    workgroupBarrier();
    // Second pass over squared deviations: more accurate than E[x^2] - E[x]^2.
    var sq = 0.0;
    for (var k = lid.x; k < m; k += WG) {
        let d = x[x_index(ch, k)] - mean;
        sq += d * d;
    }
    part_a[lid.x] = sq;
    reduce_pair(lid.x);
    if (lid.x == 0u) {
        let var_biased = part_a[0] / f32(m);
        saved_out[nm.saved_offset + 2u * ch] = mean;
        saved_out[nm.saved_offset + 2u * ch + 1u] = 1.0 / sqrt(var_biased + nm.eps);
        let var_unbiased = part_a[0] / f32(m - 1u);
        let mi = nm.mean_offset + ch;
        let vi = nm.var_offset + ch;
        state[mi] = (1.0 - nm.momentum) * state[mi] + nm.momentum * mean;
        state[vi] = (1.0 - nm.momentum) * state[vi] + nm.momentum * var_unbiased;
    }
}

fn affine(ch: u32, x_hat: f32) -> f32 {
    let v = params[nm.gamma_offset + ch] * x_hat + params[nm.beta_offset + ch];
    return select(v, max(v, 0.0), (nm.flags & RELU) != 0u);
}

// y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch statistics (+ ReLU).
@compute @workgroup_size(256, 1, 1)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= nm.n * nm.c * nm.hw) {
        return;
    }
    let ch = channel_of(i);
    let x_hat = (x[x_of_dense(i)] - saved_in[nm.saved_offset + 2u * ch]) * saved_in[nm.saved_offset + 2u * ch + 1u];
    out[nm.y_offset + i] = affine(ch, x_hat);
}

// The same with the running statistics (evaluation, and frozen blocks).
@compute @workgroup_size(256, 1, 1)
fn bn_inference(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= nm.n * nm.c * nm.hw) {
        return;
    }
    let ch = channel_of(i);
    let x_hat = (x[x_of_dense(i)] - state[nm.mean_offset + ch]) / sqrt(state[nm.var_offset + ch] + nm.eps);
    out[nm.y_offset + i] = affine(ch, x_hat);
}

// dy through the fused ReLU: zero where the output was not positive.
fn dy_masked(i: u32, ch: u32, x_hat: f32) -> f32 {
    let g = dy[nm.y_offset + i];
    if ((nm.flags & RELU) != 0u) {
        let pre = params[nm.gamma_offset + ch] * x_hat + params[nm.beta_offset + ch];
        return select(0.0, g, pre > 0.0);
    }
    return g;
}

// Dense element i of channel ch from position k within the channel.
fn dense_index(ch: u32, k: u32) -> u32 {
    let img = k / nm.hw;
    return (img * nm.c + ch) * nm.hw + (k - img * nm.hw);
}

// dgamma = sum(dy * x_hat), dbeta = sum(dy) for channel wg.x, written at gamma's and
// beta's offsets in the gradient buffer.
@compute @workgroup_size(256, 1, 1)
fn bn_grad_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.x;
    let m = nm.n * nm.hw;
    let mean = saved_in[nm.saved_offset + 2u * ch];
    let inv = saved_in[nm.saved_offset + 2u * ch + 1u];
    var dg = 0.0;
    var db = 0.0;
    for (var k = lid.x; k < m; k += WG) {
        let x_hat = (x[x_index(ch, k)] - mean) * inv;
        let g = dy_masked(dense_index(ch, k), ch, x_hat);
        dg += g * x_hat;
        db += g;
    }
    part_a[lid.x] = dg;
    part_b[lid.x] = db;
    reduce_pair(lid.x);
    if (lid.x == 0u) {
        out[nm.gamma_offset + ch] = part_a[0];
        out[nm.beta_offset + ch] = part_b[0];
    }
}

// dx = gamma * inv / m * (m * dy - dbeta - x_hat * dgamma), with dy through the ReLU.
@compute @workgroup_size(256, 1, 1)
fn bn_grad_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = element(gid, nwg);
    if (i >= nm.n * nm.c * nm.hw) {
        return;
    }
    let ch = channel_of(i);
    let m = f32(nm.n * nm.hw);
    let inv = saved_in[nm.saved_offset + 2u * ch + 1u];
    let xi = x_of_dense(i);
    let x_hat = (x[xi] - saved_in[nm.saved_offset + 2u * ch]) * inv;
    let g = dy_masked(i, ch, x_hat);
    let dgamma = grads_in[nm.gamma_offset + ch];
    let dbeta = grads_in[nm.beta_offset + ch];
    let dx = params[nm.gamma_offset + ch] * inv / m * (m * g - dbeta - x_hat * dgamma);
    out[xi] = dx + select(0.0, out[xi], (nm.flags & ACCUMULATE) != 0u);
}
