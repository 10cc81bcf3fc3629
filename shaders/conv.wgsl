// 2-D convolution, NCHW, any kernel size, stride and padding, as implicit GEMM (no im2col
// buffer): forward, gradient of the input, gradient of the weights, gradient of the bias.
//
// Like matmul.wgsl, each invocation of the three GEMM-shaped kernels computes a 4x4 block of
// outputs in registers with no workgroup memory, because software adapters pay dearly for
// barriers. The workgroup is 16 x 4 invocations, so it covers 16 rows (channels: ResNet's
// narrowest layers have 16, and taller tiles would idle) by 64 columns (positions);
// invocation (x, y) owns rows y + 4 i and columns x + 16 j.
//
// Tensors may be channel slices of larger ones (DenseNet concatenation without copies): x
// has x_channels channels in memory and the layer reads the first c; y and dy have
// y_channels and the layer's k channels start at y_first.

struct Conv {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    r: u32, // kernel height
    s: u32, // kernel width
    stride: u32,
    pad: u32,
    p: u32, // output height
    q: u32, // output width
    x_channels: u32,
    y_channels: u32,
    y_first: u32,
    x_offset: u32,
    w_offset: u32,
    y_offset: u32,
    b_offset: u32,
    flags: u32, // bit 0: add bias (forward); bit 1: accumulate into dx (input_grad)
    _pad0: u32,
}

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> cv: Conv;
// forward: x, w, b -> y.  input_grad: dy, w -> dx.  weight_grad: x, dy -> dw.  bias_grad: dy -> db.
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG_X: u32 = 16u;
const WG_Y: u32 = 4u;

fn block_rows(wg: vec3<u32>, lid: vec3<u32>) -> vec4<u32> {
    let r0 = wg.y * 4u * WG_Y + lid.y;
    return vec4<u32>(r0, r0 + WG_Y, r0 + 2u * WG_Y, r0 + 3u * WG_Y);
}

fn block_cols(wg: vec3<u32>, lid: vec3<u32>) -> vec4<u32> {
    let c0 = wg.x * 4u * WG_X + lid.x;
    return vec4<u32>(c0, c0 + WG_X, c0 + 2u * WG_X, c0 + 3u * WG_X);
}

// Input value at (image base, channel c, row hi, column wi) or 0 in the padding.
fn x_at(base: u32, c: u32, hi: i32, wi: i32) -> f32 {
    let inside = hi >= 0 && hi < i32(cv.h) && wi >= 0 && wi < i32(cv.w);
    let idx = select(0u, base + (c * cv.h + u32(hi)) * cv.w + u32(wi), inside);
    return select(0.0, in0[idx], inside);
}

// ---------------------------------------------------------------------------------------
// forward: y[n, y_first + k, p, q] = b[k] + sum_{c,r,s} w[k, c, r, s] x[n, c, p*st-pad+r, q*st-pad+s]
// GEMM rows = output channels k, columns = output positions (n, p, q), inner = (c, r, s).

@group(0) @binding(4) var<storage, read> bias: array<f32>;

@compute @workgroup_size(16, 4, 1)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let pq = cv.p * cv.q;
    let cols_total = cv.n * pq;
    let rows = block_rows(wg, lid);
    let cols = block_cols(wg, lid);
    let rows_in = min(rows, vec4<u32>(cv.k - 1u));
    let cols_in = min(cols, vec4<u32>(cols_total - 1u));

    // Per column: image base address and top-left input coordinate of its window.
    var xbase: array<u32, 4>;
    var h0: array<i32, 4>;
    var w0: array<i32, 4>;
    for (var j = 0u; j < 4u; j++) {
        let col = cols_in[j];
        let n = col / pq;
        let rem = col - n * pq;
        let p = rem / cv.q;
        let q = rem - p * cv.q;
        xbase[j] = cv.x_offset + n * cv.x_channels * cv.h * cv.w;
        h0[j] = i32(p * cv.stride) - i32(cv.pad);
        w0[j] = i32(q * cv.stride) - i32(cv.pad);
    }
    let crs = cv.c * cv.r * cv.s;
    var iw = vec4<u32>(cv.w_offset) + rows_in * crs;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var c = 0u; c < cv.c; c++) {
        for (var r = 0u; r < cv.r; r++) {
            for (var s = 0u; s < cv.s; s++) {
                let wv = vec4<f32>(in1[iw.x], in1[iw.y], in1[iw.z], in1[iw.w]);
                let ri = i32(r);
                let si = i32(s);
                let xv = vec4<f32>(
                    x_at(xbase[0], c, h0[0] + ri, w0[0] + si),
                    x_at(xbase[1], c, h0[1] + ri, w0[1] + si),
                    x_at(xbase[2], c, h0[2] + ri, w0[2] + si),
                    x_at(xbase[3], c, h0[3] + ri, w0[3] + si),
                );
                acc0 += wv.x * xv;
                acc1 += wv.y * xv;
                acc2 += wv.z * xv;
                acc3 += wv.w * xv;
                iw += vec4<u32>(1u);
            }
        }
    }

    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    let add_bias = (cv.flags & HAS_BIAS) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let k = rows[i];
        if (k >= cv.k) {
            continue;
        }
        let b = select(0.0, bias[cv.b_offset + k], add_bias);
        for (var j = 0u; j < 4u; j++) {
            let col = cols[j];
            if (col < cols_total) {
                let n = col / pq;
                let rem = col - n * pq;
                out[cv.y_offset + (n * cv.y_channels + cv.y_first + k) * pq + rem] = accs[i][j] + b;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// input_grad: dx[n, c, h, w] (+)= sum_{k,r,s} w[k, c, r, s] dy[n, k, p, q]
// where h = p*st - pad + r and w = q*st - pad + s, i.e. p = (h + pad - r) / st when exact.
// GEMM rows = input channels c, columns = input positions (n, h, w), inner = (k, r, s).
//
// With stride st only every st-th kernel row and column reaches a given input position, and
// which ones depends on the position's phase (h mod st, w mod st). Workgroup z handles one
// phase, so all its columns share the same taps and the loops visit only those.

@compute @workgroup_size(16, 4, 1)
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let st = cv.stride;
    let ph = wg.z / st;
    let pw = wg.z % st;
    let hs = (cv.h + st - 1u) / st; // positions per phase, rounded up
    let ws = (cv.w + st - 1u) / st;
    let per_image = hs * ws;
    let cols_total = cv.n * per_image;
    let hw = cv.h * cv.w;
    let pq = cv.p * cv.q;
    let rows = block_rows(wg, lid);
    let cols = block_cols(wg, lid);
    let rows_in = min(rows, vec4<u32>(cv.c - 1u));
    let cols_in = min(cols, vec4<u32>(cols_total - 1u));

    var dybase: array<u32, 4>;
    var hp: array<i32, 4>; // h + pad
    var wp: array<i32, 4>; // w + pad
    var dx_at: array<u32, 4>; // dx offset of (n, channel 0, h, w); u32 max when outside
    for (var j = 0u; j < 4u; j++) {
        let col = cols_in[j];
        let n = col / per_image;
        let rem = col - n * per_image;
        let hh = rem / ws;
        let h = hh * st + ph;
        let w = (rem - hh * ws) * st + pw;
        dybase[j] = cv.y_offset + (n * cv.y_channels + cv.y_first) * pq;
        hp[j] = i32(h + cv.pad);
        wp[j] = i32(w + cv.pad);
        let inside = cols[j] < cols_total && h < cv.h && w < cv.w;
        dx_at[j] = select(0xffffffffu, cv.x_offset + n * cv.x_channels * hw + h * cv.w + w, inside);
    }
    let rs = cv.r * cv.s;
    let r0 = (ph + cv.pad) % st;
    let s0 = (pw + cv.pad) % st;
    let sti = i32(st);

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k = 0u; k < cv.k; k++) {
        // w[k, c, r, s] for the four rows c at (r, s) = (0, 0).
        let iw = vec4<u32>(cv.w_offset + k * cv.c * rs) + rows_in * rs;
        for (var r = r0; r < cv.r; r += st) {
            for (var s = s0; s < cv.s; s += st) {
                let o = r * cv.s + s;
                let wv = vec4<f32>(in1[iw.x + o], in1[iw.y + o], in1[iw.z + o], in1[iw.w + o]);
                var dv = vec4<f32>(0.0);
                for (var j = 0u; j < 4u; j++) {
                    // Exact divisions: r and s were chosen to match this phase.
                    let p = (hp[j] - i32(r)) / sti;
                    let q = (wp[j] - i32(s)) / sti;
                    let hit = hp[j] >= i32(r) && wp[j] >= i32(s) && p < i32(cv.p) && q < i32(cv.q);
                    let idx = select(0u, dybase[j] + k * pq + u32(p) * cv.q + u32(q), hit);
                    dv[j] = select(0.0, in0[idx], hit);
                }
                acc0 += wv.x * dv;
                acc1 += wv.y * dv;
                acc2 += wv.z * dv;
                acc3 += wv.w * dv;
            }
        }
    }

    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    let accumulate = (cv.flags & ACCUMULATE) != 0u;
    for (var i = 0u; i < 4u; i++) {
        let c = rows[i];
        if (c >= cv.c) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            if (dx_at[j] != 0xffffffffu) {
                let idx = dx_at[j] + c * hw;
                out[idx] = accs[i][j] + select(0.0, out[idx], accumulate);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// weight_grad: dw[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] x[n, c, p*st-pad+r, q*st-pad+s]
// GEMM rows = output channels k, columns = (c, r, s), inner = (n, p, q).
// in0 = x, in1 = dy.

@compute @workgroup_size(16, 4, 1)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let rs = cv.r * cv.s;
    let crs = cv.c * rs;
    let pq = cv.p * cv.q;
    let hw = cv.h * cv.w;
    let rows = block_rows(wg, lid);
    let cols = block_cols(wg, lid);
    let rows_in = min(rows, vec4<u32>(cv.k - 1u));
    let cols_in = min(cols, vec4<u32>(crs - 1u));

    var xch: array<u32, 4>; // channel offset c * h * w within an image
    var roff: array<i32, 4>; // r - pad
    var soff: array<i32, 4>; // s - pad
    for (var j = 0u; j < 4u; j++) {
        let col = cols_in[j];
        let c = col / rs;
        let rem = col - c * rs;
        let r = rem / cv.s;
        let s = rem - r * cv.s;
        xch[j] = c * hw;
        roff[j] = i32(r) - i32(cv.pad);
        soff[j] = i32(s) - i32(cv.pad);
    }

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var n = 0u; n < cv.n; n++) {
        let xb = cv.x_offset + n * cv.x_channels * hw;
        let idy = vec4<u32>(cv.y_offset + (n * cv.y_channels + cv.y_first) * pq) + rows_in * pq;
        for (var p = 0u; p < cv.p; p++) {
            let hbase = i32(p * cv.stride);
            for (var q = 0u; q < cv.q; q++) {
                let o = p * cv.q + q;
                let dv = vec4<f32>(in1[idy.x + o], in1[idy.y + o], in1[idy.z + o], in1[idy.w + o]);
                let wbase = i32(q * cv.stride);
                var xv = vec4<f32>(0.0);
                for (var j = 0u; j < 4u; j++) {
                    let hi = hbase + roff[j];
                    let wi = wbase + soff[j];
                    let inside = hi >= 0 && hi < i32(cv.h) && wi >= 0 && wi < i32(cv.w);
                    let idx = select(0u, xb + xch[j] + u32(hi) * cv.w + u32(wi), inside);
                    xv[j] = select(0.0, in0[idx], inside);
                }
                acc0 += dv.x * xv;
                acc1 += dv.y * xv;
                acc2 += dv.z * xv;
                acc3 += dv.w * xv;
            }
        }
    }

    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let k = rows[i];
        if (k >= cv.k) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = cols[j];
            if (col < crs) {
                out[cv.w_offset + k * crs + col] = accs[i][j];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// bias_grad: db[k] = sum_{n,p,q} dy[n, k, p, q]. One workgroup per channel; a fixed-order
// tree reduction keeps it deterministic (no atomics). in0 = dy.

const REDUCE: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64, 1, 1)
fn bias_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let k = wg.x;
    let pq = cv.p * cv.q;
    let total = cv.n * pq;
    var sum = 0.0;
    for (var i = lid.x; i < total; i += REDUCE) {
        let n = i / pq;
        let o = i - n * pq;
        sum += in0[cv.y_offset + (n * cv.y_channels + cv.y_first + k) * pq + o];
    }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var width = REDUCE / 2u; width > 0u; width /= 2u) {
        if (lid.x < width) {
            partial[lid.x] += partial[lid.x + width];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        out[cv.b_offset + k] = partial[0];
    }
}

// ---------------------------------------------------------------------------------------
// Baseline for the benchmark: forward with one invocation per output, no register
// blocking. Kept to measure what the blocking buys, not used in training.

@compute @workgroup_size(64, 1, 1)
fn forward_naive(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let pq = cv.p * cv.q;
    if (i >= cv.n * cv.k * pq) {
        return;
    }
    let n = i / (cv.k * pq);
    let rem = i - n * cv.k * pq;
    let k = rem / pq;
    let o = rem - k * pq;
    let p = o / cv.q;
    let q = o - p * cv.q;
    let xbase = cv.x_offset + n * cv.x_channels * cv.h * cv.w;
    let h0 = i32(p * cv.stride) - i32(cv.pad);
    let w0 = i32(q * cv.stride) - i32(cv.pad);
    var iw = cv.w_offset + k * cv.c * cv.r * cv.s;
    var acc = 0.0;
    for (var c = 0u; c < cv.c; c++) {
        for (var r = 0u; r < cv.r; r++) {
            for (var s = 0u; s < cv.s; s++) {
                acc += in1[iw] * x_at(xbase, c, h0 + i32(r), w0 + i32(s));
                iw += 1u;
            }
        }
    }
    let b = select(0.0, bias[cv.b_offset + k], (cv.flags & HAS_BIAS) != 0u);
    out[cv.y_offset + (n * cv.y_channels + cv.y_first + k) * pq + o] = acc + b;
}

// ---------------------------------------------------------------------------------------
// The other idea: im2col writes every input window as a column, image by image:
// col[n][(c, r, s)][(p, q)], so that the forward pass becomes one batched matmul
// y[n] = w * col[n]. It costs an extra buffer of n*c*r*s*p*q floats and a pass over it; it
// wins on some adapters and layers, so the choice is measured (`choose_forward`).

@compute @workgroup_size(64, 1, 1)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let pq = cv.p * cv.q;
    let rs = cv.r * cv.s;
    let per_image = cv.c * rs * pq;
    if (i >= cv.n * per_image) {
        return;
    }
    let n = i / per_image;
    let rem = i - n * per_image;
    let row = rem / pq; // (c, r, s)
    let o = rem - row * pq; // (p, q)
    let c = row / rs;
    let r = (row - c * rs) / cv.s;
    let s = row - c * rs - r * cv.s;
    let p = o / cv.q;
    let q = o - p * cv.q;
    let xbase = cv.x_offset + n * cv.x_channels * cv.h * cv.w;
    let hi = i32(p * cv.stride) - i32(cv.pad) + i32(r);
    let wi = i32(q * cv.stride) - i32(cv.pad) + i32(s);
    out[cv.y_offset + i] = x_at(xbase, c, hi, wi);
}
