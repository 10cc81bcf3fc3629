// Batch norm + ReLU + 2x2 max pooling (stride 2, floor mode) fused, for a convolution unit
// whose normalised output feeds only the pooling (the small CNN's). Appended to norm.wgsl,
// whose uniform, bindings and helpers it uses; x is dense here (x_channels = c).
//
// Unfused, a training step passes over the normalised tensor z = relu(bn(x)) seven times:
// it is written, read by the pooling, read again for the pooling's argmax in backward, and
// the pooling's dense gradient is written and read twice by batch norm's backward. On the
// software adapters each of those accesses costs alike, so the fused kernels keep z and its
// gradient in registers: the forward writes the pooled output and, per window, the plane
// offset of its maximum; the backward reads those offsets. dz is zero off each window's
// maximum, so dgamma and dbeta sum one term per window, and dx needs x, dy and the offset.
// The arithmetic of every value is that of the unfused kernels (bn_apply, max_pool,
// max_pool_grad, bn_grad_apply); only the order of the reductions' terms differs.

// Per pooled output: the offset in its x plane of its window's first maximum.
@group(0) @binding(11) var<storage, read_write> argmax_out: array<u32>;
@group(0) @binding(12) var<storage, read> argmax_in: array<u32>;

// An x plane offset no window maximum has (blocks outside every window).
const NO_WINDOW: u32 = 0xffffffffu;

// The pooled plane's width and size.
fn pooled_w() -> u32 {
    return nm.w / 2u;
}

fn pooled_len() -> u32 {
    return (nm.h / 2u) * pooled_w();
}

// Offset of pooled plane (img, ch) in the pooled output, dy and the maxima.
fn pooled_plane(img: u32, ch: u32) -> u32 {
    return (img * nm.c + ch) * pooled_len();
}

// Forward, training: pooled y and the maxima' offsets. Workgroup (x, ch, img) covers
// PER_GROUP pooled outputs of one plane; one division per window, none per element.
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let c = batch_channel(ch);
    let pw = pooled_w();
    let xb = x_plane(wg.z, ch);
    let pb = pooled_plane(wg.z, ch);
    let end = min(pooled_len(), (wg.x + 1u) * PER_GROUP);
    for (var k = wg.x * PER_GROUP + lid.x; k < end; k += WG) {
        let oy = k / pw;
        let corner = 2u * (oy * nm.w + k - oy * pw);
        // The window in row-major order; the first maximum wins, as in max_pool_grad.
        var at = corner;
        var best = affine(c, (x[xb + corner] - c.shift) * c.scale);
        for (var e = 1u; e < 4u; e++) {
            let here = corner + (e / 2u) * nm.w + e % 2u;
            let v = affine(c, (x[xb + here] - c.shift) * c.scale);
            if (v > best) {
                best = v;
                at = here;
            }
        }
        out[nm.y_offset + pb + k] = best;
        argmax_out[nm.argmax_offset + pb + k] = at;
    }
}

// This invocation's share of channel ch's (sum of dz * x_hat, sum of dz) over images
// img0 .. img1: one term per window, at its maximum (dz is zero elsewhere).
fn pooled_grad_sums(ch: u32, img0: u32, img1: u32, lid: u32) -> vec2<f32> {
    let c = batch_channel(ch);
    var dg = 0.0;
    var db = 0.0;
    for (var img = img0; img < img1; img++) {
        let xb = x_plane(img, ch);
        let pb = pooled_plane(img, ch);
        for (var k = lid; k < pooled_len(); k += WG) {
            let at = argmax_in[nm.argmax_offset + pb + k];
            let x_hat = (x[xb + at] - c.shift) * c.scale;
            let g = dy_masked(dy[nm.y_offset + pb + k], c, x_hat);
            dg += g * x_hat;
            db += g;
        }
    }
    return vec2<f32>(dg, db);
}

// dgamma, dbeta of channel wg.x in one pass (as bn_grad_reduce).
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool_grad_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.x;
    let sums = pooled_grad_sums(ch, 0u, nm.n, lid.x);
    part_a[lid.x] = sums.x;
    part_b[lid.x] = sums.y;
    reduce_pair(lid.x);
    if (lid.x == 0u) {
        out[nm.gamma_offset + ch] = part_a[0];
        out[nm.beta_offset + ch] = part_b[0];
    }
}

// First pass of the two-pass dgamma, dbeta (bn_grad_merge is the second).
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool_grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let img0 = wg.x * nm.split;
    let sums = pooled_grad_sums(ch, img0, min(nm.n, img0 + nm.split), lid.x);
    write_part(ch, wg.x, nwg.x, sums, lid.x);
}

// dx, as bn_grad_apply with dz from the pooling: one invocation per 2x2 block of the x
// plane, ceil(h/2) x ceil(w/2) of them (blocks past the last full window have dz = 0 but
// still a dx), workgroup (x, ch, img) covering PER_GROUP blocks of one plane.
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool_grad_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let c = batch_channel(ch);
    let m = f32(nm.n * nm.hw);
    let dgamma = grads_in[nm.gamma_offset + ch];
    let dbeta = grads_in[nm.beta_offset + ch];
    let factor = c.gamma * c.scale / m;
    let accumulate = (nm.flags & ACCUMULATE) != 0u;
    let pw = pooled_w();
    let ph = nm.h / 2u;
    let bw = (nm.w + 1u) / 2u;
    let xb = x_plane(wg.z, ch);
    let pb = pooled_plane(wg.z, ch);
    let end = min(((nm.h + 1u) / 2u) * bw, (wg.x + 1u) * PER_GROUP);
    for (var k = wg.x * PER_GROUP + lid.x; k < end; k += WG) {
        let by = k / bw;
        let bx = k - by * bw;
        var hit = NO_WINDOW;
        var g_window = 0.0;
        if (by < ph && bx < pw) {
            let window = pb + by * pw + bx;
            hit = argmax_in[nm.argmax_offset + window];
            g_window = dy[nm.y_offset + window];
        }
        let corner = 2u * (by * nm.w + bx);
        for (var e = 0u; e < 4u; e++) {
            let row = 2u * by + e / 2u;
            let col = 2u * bx + e % 2u;
            if (row < nm.h && col < nm.w) {
                let at = corner + (e / 2u) * nm.w + e % 2u;
                let x_hat = (x[xb + at] - c.shift) * c.scale;
                let g = dy_masked(select(0.0, g_window, at == hit), c, x_hat);
                var dx = factor * (m * g - dbeta - x_hat * dgamma);
                if (accumulate) {
                    dx += out[xb + at];
                }
                out[xb + at] = dx;
            }
        }
    }
}
