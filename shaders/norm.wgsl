// Batch normalisation over NCHW, per channel over n * h * w values, exactly as PyTorch's
// BatchNorm2d: training uses the batch statistics (biased variance) and updates the
// running statistics with momentum and the unbiased variance; inference uses the running
// statistics. ReLU can be fused after it. x may be a channel prefix of a wider tensor
// (DenseNet), and the input gradient can be accumulated into dx.
//
// Per-channel reductions use fixed-order trees, so results are bitwise reproducible (no
// atomics). A channel's values are cut into parts of whole images, one workgroup each
// (bn_stats_partial, bn_grad_partial), and a second pass adds the parts in order
// (bn_stats_merge, bn_grad_merge): a GPU then has c x parts workgroups to run, not c. With
// one part a single pass does both (bn_stats, bn_grad_reduce). Nothing divides per
// element: software adapters run integer division lane by lane.

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
    guard_offset: u32, // the divergence flag (see optim.wgsl) in state
    split: u32, // images per part of the two-pass reductions
    h: u32, // plane height and width, for the fused max pooling (norm_pool.wgsl)
    w: u32,
    argmax_offset: u32, // the fused pooling's window maxima, one per pooled output
    _pad0: u32,
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
// The two-pass reductions' partial sums: [channel][part][2].
@group(0) @binding(9) var<storage, read_write> parts_out: array<f32>;
@group(0) @binding(10) var<storage, read> parts_in: array<f32>;

// Reductions (bn_stats, bn_grad_reduce): one workgroup of WG invocations per channel, each
// summing a strided share of every image's plane, then a fixed-order tree.
const WG: u32 = 64u;
var<workgroup> part_a: array<f32, 64>;
var<workgroup> part_b: array<f32, 64>;

// Elementwise passes (bn_apply, bn_inference, bn_grad_apply): workgroup (x, ch, img) covers
// PER_GROUP positions of one channel plane of one image, so nothing is divided per element
// and the channel's constants are loaded once per invocation, not once per element.
const PER_GROUP: u32 = 1024u;

// Offset in x (or dx) of channel ch of image img.
fn x_plane(img: u32, ch: u32) -> u32 {
    return nm.x_offset + (img * nm.x_channels + ch) * nm.hw;
}

// Offset in y (or dy), dense n x c x hw, of channel ch of image img.
fn y_plane(img: u32, ch: u32) -> u32 {
    return nm.y_offset + (img * nm.c + ch) * nm.hw;
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

// Shifted sums of channel ch over images img0 .. img1, this invocation's strided share:
// (sum of d, sum of d^2) with d = x - shift.
fn shifted_sums(ch: u32, img0: u32, img1: u32, shift: f32, lid: u32) -> vec2<f32> {
    var sum = 0.0;
    var sq = 0.0;
    for (var img = img0; img < img1; img++) {
        let base = x_plane(img, ch);
        for (var k = lid; k < nm.hw; k += WG) {
            let d = x[base + k] - shift;
            sum += d;
            sq += d * d;
        }
    }
    return vec2<f32>(sum, sq);
}

// The shift of channel ch's sums: its first value (every part uses the same one, so the
// parts' sums add up).
fn channel_shift(ch: u32) -> f32 {
    return x[x_plane(0u, ch)];
}

// From channel ch's shifted sums over all its m values: the saved batch statistics and the
// running statistics' update.
fn finish_stats(ch: u32, shift: f32, sum: f32, sq: f32) {
    let m = nm.n * nm.hw;
    let mean_d = sum / f32(m);
    let mean = shift + mean_d;
    let var_biased = max(sq / f32(m) - mean_d * mean_d, 0.0);
    saved_out[nm.saved_offset + 2u * ch] = mean;
    saved_out[nm.saved_offset + 2u * ch + 1u] = 1.0 / sqrt(var_biased + nm.eps);
    let var_unbiased = var_biased * f32(m) / f32(m - 1u);
    // A NaN or infinite batch sets the divergence guard (see optim.wgsl); while it is
    // set the running statistics keep the last good step's values. (Within the bad step
    // another channel may read the guard before this write lands; either way its own
    // statistics were finite, and the trainer stops at this step.)
    let non_finite = (bitcast<u32>(mean) & 0x7f800000u) == 0x7f800000u
        || (bitcast<u32>(var_biased) & 0x7f800000u) == 0x7f800000u;
    if (non_finite) {
        state[nm.guard_offset] = 1.0;
    }
    if (!non_finite && state[nm.guard_offset] == 0.0) {
        let mi = nm.mean_offset + ch;
        let vi = nm.var_offset + ch;
        state[mi] = (1.0 - nm.momentum) * state[mi] + nm.momentum * mean;
        state[vi] = (1.0 - nm.momentum) * state[vi] + nm.momentum * var_unbiased;
    }
}

// Batch statistics of channel wg.x; updates the running statistics. One pass over shifted
// values d = x - x0 (x0 the channel's first value): mean = x0 + E[d] and
// var = E[d^2] - E[d]^2 lose nothing to cancellation as long as x0 is a typical value of
// the channel, as it is for activations, and the data is read once instead of twice.
// (The loop is written out here rather than calling shifted_sums: SwiftShader and lavapipe
// ran the one-pass kernels about 10% slower through the helper.)
@compute @workgroup_size(64, 1, 1)
fn bn_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.x;
    let shift = x[x_plane(0u, ch)];
    var sum = 0.0;
    var sq = 0.0;
    for (var img = 0u; img < nm.n; img++) {
        let base = x_plane(img, ch);
        for (var k = lid.x; k < nm.hw; k += WG) {
            let d = x[base + k] - shift;
            sum += d;
            sq += d * d;
        }
    }
    part_a[lid.x] = sum;
    part_b[lid.x] = sq;
    reduce_pair(lid.x);
    if (lid.x == 0u) {
        finish_stats(ch, shift, part_a[0], part_b[0]);
    }
}

// First pass of the two-pass statistics: workgroup (part, channel) sums its images.
@compute @workgroup_size(64, 1, 1)
fn bn_stats_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let img0 = wg.x * nm.split;
    let sums = shifted_sums(ch, img0, min(nm.n, img0 + nm.split), channel_shift(ch), lid.x);
    write_part(ch, wg.x, nwg.x, sums, lid.x);
}

// Channel ch's two sums over all its parts, added in part order (the second pass).
fn merged_parts(ch: u32) -> vec2<f32> {
    let parts = (nm.n + nm.split - 1u) / nm.split;
    var sums = vec2<f32>(0.0);
    for (var i = 0u; i < parts; i++) {
        sums += vec2<f32>(parts_in[2u * (ch * parts + i)], parts_in[2u * (ch * parts + i) + 1u]);
    }
    return sums;
}

// The first pass's end: this workgroup's two sums, tree-reduced, into its part's slot.
fn write_part(ch: u32, part: u32, parts: u32, sums: vec2<f32>, lid: u32) {
    part_a[lid] = sums.x;
    part_b[lid] = sums.y;
    reduce_pair(lid);
    if (lid == 0u) {
        let at = 2u * (ch * parts + part);
        parts_out[at] = part_a[0];
        parts_out[at + 1u] = part_b[0];
    }
}

// Second pass: one invocation per channel adds its parts in order and finishes.
@compute @workgroup_size(64, 1, 1)
fn bn_stats_merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= nm.c) {
        return;
    }
    let sums = merged_parts(ch);
    finish_stats(ch, channel_shift(ch), sums.x, sums.y);
}

// One channel's normalisation: x_hat = (x - shift) * scale, then gamma, beta and the ReLU.
struct Channel {
    shift: f32,
    scale: f32,
    gamma: f32,
    beta: f32,
}

fn affine(c: Channel, x_hat: f32) -> f32 {
    let v = c.gamma * x_hat + c.beta;
    return select(v, max(v, 0.0), (nm.flags & RELU) != 0u);
}

fn batch_channel(ch: u32) -> Channel {
    return Channel(
        saved_in[nm.saved_offset + 2u * ch],
        saved_in[nm.saved_offset + 2u * ch + 1u],
        params[nm.gamma_offset + ch],
        params[nm.beta_offset + ch],
    );
}

// Positions of this invocation: first, then every WG up to end (exclusive).
fn plane_start(wg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return wg.x * PER_GROUP + lid.x;
}

fn plane_end(wg: vec3<u32>) -> u32 {
    return min(nm.hw, (wg.x + 1u) * PER_GROUP);
}

// y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch statistics (+ ReLU).
@compute @workgroup_size(64, 1, 1)
fn bn_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = batch_channel(wg.y);
    let xb = x_plane(wg.z, wg.y);
    let yb = y_plane(wg.z, wg.y);
    for (var k = plane_start(wg, lid); k < plane_end(wg); k += WG) {
        out[yb + k] = affine(c, (x[xb + k] - c.shift) * c.scale);
    }
}

// The same with the running statistics (evaluation, and frozen blocks).
@compute @workgroup_size(64, 1, 1)
fn bn_inference(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let c = Channel(
        state[nm.mean_offset + ch],
        1.0 / sqrt(state[nm.var_offset + ch] + nm.eps),
        params[nm.gamma_offset + ch],
        params[nm.beta_offset + ch],
    );
    let xb = x_plane(wg.z, ch);
    let yb = y_plane(wg.z, ch);
    for (var k = plane_start(wg, lid); k < plane_end(wg); k += WG) {
        out[yb + k] = affine(c, (x[xb + k] - c.shift) * c.scale);
    }
}

// dy through the fused ReLU: zero where the output was not positive.
fn dy_masked(g: f32, c: Channel, x_hat: f32) -> f32 {
    let blocked = (nm.flags & RELU) != 0u && !(c.gamma * x_hat + c.beta > 0.0);
    return select(g, 0.0, blocked);
}

// This invocation's share of channel ch's (sum of dy * x_hat, sum of dy) over images
// img0 .. img1, dy through the ReLU.
fn grad_sums(ch: u32, img0: u32, img1: u32, lid: u32) -> vec2<f32> {
    let c = batch_channel(ch);
    var dg = 0.0;
    var db = 0.0;
    for (var img = img0; img < img1; img++) {
        let xb = x_plane(img, ch);
        let yb = y_plane(img, ch);
        for (var k = lid; k < nm.hw; k += WG) {
            let x_hat = (x[xb + k] - c.shift) * c.scale;
            let g = dy_masked(dy[yb + k], c, x_hat);
            dg += g * x_hat;
            db += g;
        }
    }
    return vec2<f32>(dg, db);
}

// dgamma = sum(dy * x_hat), dbeta = sum(dy) for channel wg.x, written at gamma's and
// beta's offsets in the gradient buffer.
// (Written out like bn_stats, for the same reason.)
@compute @workgroup_size(64, 1, 1)
fn bn_grad_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.x;
    let c = batch_channel(ch);
    var dg = 0.0;
    var db = 0.0;
    for (var img = 0u; img < nm.n; img++) {
        let xb = x_plane(img, ch);
        let yb = y_plane(img, ch);
        for (var k = lid.x; k < nm.hw; k += WG) {
            let x_hat = (x[xb + k] - c.shift) * c.scale;
            let g = dy_masked(dy[yb + k], c, x_hat);
            dg += g * x_hat;
            db += g;
        }
    }
    write_channel_grads(ch, vec2<f32>(dg, db), lid.x);
}

// The end of a one-pass dgamma, dbeta: this invocation's two sums, tree-reduced over the
// workgroup, into channel ch's gradients.
fn write_channel_grads(ch: u32, sums: vec2<f32>, lid: u32) {
    part_a[lid] = sums.x;
    part_b[lid] = sums.y;
    reduce_pair(lid);
    if (lid == 0u) {
        out[nm.gamma_offset + ch] = part_a[0];
        out[nm.beta_offset + ch] = part_b[0];
    }
}

// First pass of the two-pass dgamma, dbeta: workgroup (part, channel) sums its images.
@compute @workgroup_size(64, 1, 1)
fn bn_grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let img0 = wg.x * nm.split;
    let sums = grad_sums(ch, img0, min(nm.n, img0 + nm.split), lid.x);
    write_part(ch, wg.x, nwg.x, sums, lid.x);
}

// Second pass: one invocation per channel adds its parts in order.
@compute @workgroup_size(64, 1, 1)
fn bn_grad_merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= nm.c) {
        return;
    }
    let sums = merged_parts(ch);
    out[nm.gamma_offset + ch] = sums.x;
    out[nm.beta_offset + ch] = sums.y;
}

// dx = gamma * inv / m * (m * dy - dbeta - x_hat * dgamma), with dy through the ReLU.
@compute @workgroup_size(64, 1, 1)
fn bn_grad_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let c = batch_channel(ch);
    let m = f32(nm.n * nm.hw);
    let dgamma = grads_in[nm.gamma_offset + ch];
    let dbeta = grads_in[nm.beta_offset + ch];
    let factor = c.gamma * c.scale / m;
    let accumulate = (nm.flags & ACCUMULATE) != 0u;
    let xb = x_plane(wg.z, ch);
    let yb = y_plane(wg.z, ch);
    for (var k = plane_start(wg, lid); k < plane_end(wg); k += WG) {
        let x_hat = (x[xb + k] - c.shift) * c.scale;
        let g = dy_masked(dy[yb + k], c, x_hat);
        var dx = factor * (m * g - dbeta - x_hat * dgamma);
        if (accumulate) {
            dx += out[xb + k];
        }
        out[xb + k] = dx;
    }
}
