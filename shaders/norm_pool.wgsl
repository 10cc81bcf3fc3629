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
        // The window in row-major order; the first maximum wins, as in max_pool_grad.
        // Written out: a loop over the four cost the software adapters a third more.
        let at0 = 2u * (oy * nm.w + k - oy * pw);
        let at2 = at0 + nm.w;
        var at = at0;
        var best = affine(c, (x[xb + at0] - c.shift) * c.scale);
        let v1 = affine(c, (x[xb + at0 + 1u] - c.shift) * c.scale);
        if (v1 > best) {
            best = v1;
            at = at0 + 1u;
        }
        let v2 = affine(c, (x[xb + at2] - c.shift) * c.scale);
        if (v2 > best) {
            best = v2;
            at = at2;
        }
        let v3 = affine(c, (x[xb + at2 + 1u] - c.shift) * c.scale);
        if (v3 > best) {
            best = v3;
            at = at2 + 1u;
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
    write_channel_grads(wg.x, pooled_grad_sums(wg.x, 0u, nm.n, lid.x), lid.x);
}

// First pass of the two-pass dgamma, dbeta (bn_grad_merge is the second).
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool_grad_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let img0 = wg.x * nm.split;
    let sums = pooled_grad_sums(ch, img0, min(nm.n, img0 + nm.split), lid.x);
    write_part(ch, wg.x, nwg.x, sums, lid.x);
}

// The constants of channel ch's dx = factor * (m * dz - dbeta - x_hat * dgamma).
struct DxTerms {
    c: Channel,
    m: f32,
    factor: f32,
    dgamma: f32,
    dbeta: f32,
    accumulate: bool,
}

fn dx_terms(ch: u32) -> DxTerms {
    let c = batch_channel(ch);
    let m = f32(nm.n * nm.hw);
    return DxTerms(
        c,
        m,
        c.gamma * c.scale / m,
        grads_in[nm.gamma_offset + ch],
        grads_in[nm.beta_offset + ch],
        (nm.flags & ACCUMULATE) != 0u,
    );
}

// dx at x offset i, whose dz (before the ReLU's mask) is g.
fn store_dx(t: DxTerms, i: u32, g: f32) {
    let x_hat = (x[i] - t.c.shift) * t.c.scale;
    var dx = t.factor * (t.m * dy_masked(g, t.c, x_hat) - t.dbeta - x_hat * t.dgamma);
    if (t.accumulate) {
        dx += out[i];
    }
    out[i] = dx;
}

// dx, as bn_grad_apply with dz from the pooling: one invocation per 2x2 block of the x
// plane, ceil(h/2) x ceil(w/2) of them (blocks past the last full window have dz = 0 but
// still a dx), workgroup (x, ch, img) covering PER_GROUP blocks of one plane.
@compute @workgroup_size(64, 1, 1)
fn bn_relu_max_pool_grad_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = wg.y;
    let t = dx_terms(ch);
    let pw = pooled_w();
    let ph = nm.h / 2u;
    let bw = (nm.w + 1u) / 2u;
    let xb = x_plane(wg.z, ch);
    let pb = pooled_plane(wg.z, ch);
    let end = min(((nm.h + 1u) / 2u) * bw, (wg.x + 1u) * PER_GROUP);
    for (var k = wg.x * PER_GROUP + lid.x; k < end; k += WG) {
        let by = k / bw;
        let bx = k - by * bw;
        let at0 = 2u * (by * nm.w + bx);
        if (by < ph && bx < pw) {
            // A window: dz is dy at its maximum, zero at the other three.
            let window = pb + by * pw + bx;
            let hit = argmax_in[nm.argmax_offset + window];
            let g = dy[nm.y_offset + window];
            let at2 = at0 + nm.w;
            store_dx(t, xb + at0, select(0.0, g, hit == at0));
            store_dx(t, xb + at0 + 1u, select(0.0, g, hit == at0 + 1u));
            store_dx(t, xb + at2, select(0.0, g, hit == at2));
            store_dx(t, xb + at2 + 1u, select(0.0, g, hit == at2 + 1u));
        } else {
            // The last row or column of an odd plane: no window, dz = 0.
            for (var e = 0u; e < 4u; e++) {
                let row = 2u * by + e / 2u;
                let col = 2u * bx + e % 2u;
                if (row < nm.h && col < nm.w) {
                    store_dx(t, xb + at0 + (e / 2u) * nm.w + e % 2u, 0.0);
                }
            }
        }
    }
}
