// 2-D convolution, NCHW, any kernel size, stride and padding, as implicit GEMM (no im2col
// buffer): forward, gradient of the input, gradient of the weights, gradient of the bias.
//
// Like matmul.wgsl, each invocation of the three GEMM-shaped kernels computes a block of
// outputs in registers (Tile and mac from tile.wgsl, prepended) with no workgroup memory,
// because software adapters pay dearly for barriers and for every load. The block is 8, 16
// or 32 rows by 8 columns, as the prepended conv_block8/16/32.wgsl defines it (Block,
// BlockRows and their functions). A workgroup covers 16 rows (channels: ResNet's narrowest
// layers have 16, and taller workgroups would idle), or 32 with the 32-row block, by 8 WG_X
// columns (positions); invocation x owns columns x + WG_X j, j in 0..8. weight_grad narrows
// the workgroup (WG_X) for layers with few columns and may split the batch over workgroup
// z, weight_grad_sum adding the parts. Each kernel's inner loop is one flat loop with its
// indices stepped by hand (measured: nested loops of three trips cost SwiftShader more than
// their bodies; BENCHMARKS.md).
//
// Tensors may be channel slices of larger ones (DenseNet concatenation without copies): x
// has x_channels channels in memory and the layer reads the first c; y and dy have
// y_channels and the layer's k channels start at y_first.

// The uniform `Conv` comes from conv_params.wgsl, prepended (src/shaders.rs).

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> cv: Conv;
// forward: x, w, b -> y.  input_grad: dy, w -> dx.  weight_grad: x, dy -> dw.  bias_grad: dy -> db.
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Invocations across (columns) and down (rows). weight_grad sets WG_X lower for layers
// with few columns (see its launcher; never below 4 in the subgroup build, so that the four
// lanes of a subgroup share their rows); the others keep 8.
override WG_X: u32 = 8u;

// Eight row or column indices of one invocation: lo holds 0-3, hi 4-7.
struct Eight {
    lo: vec4<u32>,
    hi: vec4<u32>,
}

// base + min(row, last) * scale for eight rows (row_starts in the block files).
fn eight_starts(rows: Eight, last: u32, scale: u32, base: u32) -> Eight {
    let l = vec4<u32>(last);
    return Eight(vec4<u32>(base) + min(rows.lo, l) * scale, vec4<u32>(base) + min(rows.hi, l) * scale);
}

fn tile_cols(wg: vec3<u32>, lid: vec3<u32>) -> Eight {
    let lo = vec4<u32>(wg.x * 8u * WG_X + lid.x) + vec4<u32>(0u, WG_X, 2u * WG_X, 3u * WG_X);
    return Eight(lo, lo + vec4<u32>(4u * WG_X));
}

fn gather0(i: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(in0[i.x], in0[i.y], in0[i.z], in0[i.w]);
}

fn gather1(i: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(in1[i.x], in1[i.y], in1[i.z], in1[i.w]);
}

// The GEMM's row operand (w in forward and input_grad, dy in weight_grad) is read through
// `row_values`, defined by conv_rows.wgsl (a plain gather1) or, in the browser where the
// adapter has subgroups of four lanes, by conv_rows_subgroup.wgsl (one load per lane, shared
// by broadcast: the four lanes of a subgroup hold the same rows). Both give the same values,
// so the two builds compute the same bits. `row_lane` is the invocation's lane among the
// four, set at the start of each kernel that uses `row_values`.
var<private> row_lane: u32;

// Four 2-D windows into in0: a base address each and the (row, column) of their origin.
struct Windows {
    base: vec4<u32>,
    h0: vec4<i32>,
    w0: vec4<i32>,
}

// in0[base + offset + (h0 + dh) * width + (w0 + dw)] for each window, 0 outside the
// height x width plane (the zero padding). A negative row or column wraps to a huge
// unsigned one, so one comparison per axis finds the padding; the load there is still made
// (WebGPU keeps every access inside the buffer) and its value dropped, which is cheaper
// than steering the address.
fn gather_window(win: Windows, offset: u32, dh: i32, dw: i32, height: u32, width: u32) -> vec4<f32> {
    let hi = vec4<u32>(win.h0 + vec4<i32>(dh));
    let wi = vec4<u32>(win.w0 + vec4<i32>(dw));
    let inside = (hi < vec4<u32>(height)) & (wi < vec4<u32>(width));
    let at = win.base + vec4<u32>(offset) + hi * width + wi;
    return select(vec4<f32>(0.0), gather0(at), inside);
}

// Input value at (image base, channel c, row hi, column wi) or 0 in the padding; for the
// one-output-per-invocation kernels below.
fn x_at(base: u32, c: u32, hi: i32, wi: i32) -> f32 {
    let inside = hi >= 0 && hi < i32(cv.h) && wi >= 0 && wi < i32(cv.w);
    let idx = select(0u, base + (c * cv.h + u32(hi)) * cv.w + u32(wi), inside);
    return select(0.0, in0[idx], inside);
}

// ---------------------------------------------------------------------------------------
// forward: y[n, y_first + k, p, q] = b[k] + sum_{c,r,s} w[k, c, r, s] x[n, c, p*st-pad+r, q*st-pad+s]
// GEMM rows = output channels k, columns = output positions (n, p, q), inner = (c, r, s).

@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Per column: the input window of output position col = (n, p, q).
fn forward_windows(col: vec4<u32>) -> Windows {
    let pq = cv.p * cv.q;
    let n = col / pq;
    let rem = col - n * pq;
    let p = rem / cv.q;
    let q = rem - p * cv.q;
    let base = vec4<u32>(cv.x_offset) + n * (cv.x_channels * cv.h * cv.w);
    let h0 = vec4<i32>(p * cv.stride) - vec4<i32>(i32(cv.pad));
    let w0 = vec4<i32>(q * cv.stride) - vec4<i32>(i32(cv.pad));
    return Windows(base, h0, w0);
}

// Per column: y offset of (n, channel 0, p, q), or u32 max past the last column.
fn y_at(col: vec4<u32>) -> vec4<u32> {
    let pq = cv.p * cv.q;
    let n = col / pq;
    let at = vec4<u32>(cv.y_offset) + (n * cv.y_channels + vec4<u32>(cv.y_first)) * pq + (col - n * pq);
    return select(vec4<u32>(0xffffffffu), at, col < vec4<u32>(cv.n * pq));
}

// out[i] = value, plus what out[i] held when accumulating; i = u32 max is past the last
// column and skipped.
fn store_one(i: u32, value: f32, accumulate: bool) {
    if (i == 0xffffffffu) {
        return;
    }
    var v = value;
    if (accumulate) {
        v += out[i];
    }
    out[i] = v;
}

// One row of a tile: out[at + channel * plane] for its eight columns, the row's bias added.
fn store_row(channel: u32, limit: u32, plane: u32, at: Eight, vl: vec4<f32>, vh: vec4<f32>, add: f32, accumulate: bool) {
    if (channel >= limit) {
        return;
    }
    let offset = channel * plane;
    for (var j = 0u; j < 4u; j++) {
        store_one(select(0xffffffffu, at.lo[j] + offset, at.lo[j] != 0xffffffffu), vl[j] + add, accumulate);
        store_one(select(0xffffffffu, at.hi[j] + offset, at.hi[j] != 0xffffffffu), vh[j] + add, accumulate);
    }
}

// The whole 8x8 tile: rows below `limit` (channels), columns where `at` is valid, row i's
// value `b[i]` added (the forward's bias, else zeros).
fn store_tile(t: Tile, rows: Eight, limit: u32, plane: u32, at: Eight, b: array<f32, 8>, accumulate: bool) {
    store_row(rows.lo.x, limit, plane, at, t.r0l, t.r0h, b[0], accumulate);
    store_row(rows.lo.y, limit, plane, at, t.r1l, t.r1h, b[1], accumulate);
    store_row(rows.lo.z, limit, plane, at, t.r2l, t.r2h, b[2], accumulate);
    store_row(rows.lo.w, limit, plane, at, t.r3l, t.r3h, b[3], accumulate);
    store_row(rows.hi.x, limit, plane, at, t.r4l, t.r4h, b[4], accumulate);
    store_row(rows.hi.y, limit, plane, at, t.r5l, t.r5h, b[5], accumulate);
    store_row(rows.hi.z, limit, plane, at, t.r6l, t.r6h, b[6], accumulate);
    store_row(rows.hi.w, limit, plane, at, t.r7l, t.r7h, b[7], accumulate);
}

fn bias_of(k: u32) -> f32 {
    let has = (cv.flags & HAS_BIAS) != 0u && k < cv.k;
    return select(0.0, bias[cv.b_offset + select(0u, k, has)], has);
}

// The forward's bias of each of eight rows (only the forward may name `bias`: the other
// kernels' bind groups have no binding 4).
fn row_biases(rows: Eight) -> array<f32, 8> {
    return array<f32, 8>(
        bias_of(rows.lo.x), bias_of(rows.lo.y), bias_of(rows.lo.z), bias_of(rows.lo.w),
        bias_of(rows.hi.x), bias_of(rows.hi.y), bias_of(rows.hi.z), bias_of(rows.hi.w));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    row_lane = lid.x & 3u;
    let pq = cv.p * cv.q;
    let rows = block_rows(wg, lid);
    let cols = tile_cols(wg, lid);
    // Out-of-range rows and columns read a valid neighbour; their results are not stored.
    let last_col = vec4<u32>(cv.n * pq - 1u);
    let win_lo = forward_windows(min(cols.lo, last_col));
    let win_hi = forward_windows(min(cols.hi, last_col));
    let crs = cv.c * cv.r * cv.s;
    let iw = row_starts(rows, cv.k - 1u, crs, cv.w_offset);
    let hw = cv.h * cv.w;

    // One flat loop over (c, r, s) with the indices stepped by hand: nested loops with three
    // trips each cost more than their bodies on the software adapters.
    var b = Block();
    var plane = 0u;
    var r = 0;
    var s = 0;
    for (var i = 0u; i < crs; i++) {
        let xl = gather_window(win_lo, plane, r, s, cv.h, cv.w);
        let xh = gather_window(win_hi, plane, r, s, cv.h, cv.w);
        b = block_mac(b, iw, i, xl, xh);
        s += 1;
        let next_row = s == i32(cv.s);
        s = select(s, 0, next_row);
        r += select(0, 1, next_row);
        let next_plane = r == i32(cv.r);
        r = select(r, 0, next_plane);
        plane += select(0u, hw, next_plane);
    }

    let at = Eight(y_at(cols.lo), y_at(cols.hi));
    store_block_biased(b, rows, cv.k, pq, at);
}

// ---------------------------------------------------------------------------------------
// input_grad: dx[n, c, h, w] (+)= sum_{k,r,s} w[k, c, r, s] dy[n, k, p, q]
// where h = p*st - pad + r and w = q*st - pad + s, i.e. p = (h + pad - r) / st when exact.
// GEMM rows = input channels c, columns = input positions (n, h, w), inner = (k, r, s).
//
// With stride st only every st-th kernel row and column reaches a given input position, and
// which ones depends on the position's phase (h mod st, w mod st). Workgroup z handles one
// phase, so all its columns share the same taps and the loops visit only those: taps
// r = r0 + st * i reach p = p0 - i, with p0 = (h + pad - r0) / st exact, so the loop needs
// no division.

struct PhaseColumns {
    win: Windows, // dy window: base of (n, channel y_first), origin (p0, q0)
    dx: vec4<u32>, // dx offset of (n, channel 0, h, w); u32 max when outside
}

fn input_grad_columns(col_in: vec4<u32>, col: vec4<u32>, ph: u32, pw: u32, r0: u32, s0: u32) -> PhaseColumns {
    let st = cv.stride;
    let hs = (cv.h + st - 1u) / st; // positions per phase, rounded up
    let ws = (cv.w + st - 1u) / st;
    let per_image = hs * ws;
    let n = col_in / per_image;
    let rem = col_in - n * per_image;
    let hh = rem / ws;
    let h = hh * st + vec4<u32>(ph);
    let w = (rem - hh * ws) * st + vec4<u32>(pw);
    let pq = cv.p * cv.q;
    let base = vec4<u32>(cv.y_offset) + (n * cv.y_channels + vec4<u32>(cv.y_first)) * pq;
    // h + pad - r0 >= 0 (r0 <= ph + pad <= h + pad), so the sum, taken modulo 2^32, is exact.
    let p0 = vec4<i32>((h + vec4<u32>(cv.pad - r0)) / st);
    let q0 = vec4<i32>((w + vec4<u32>(cv.pad - s0)) / st);
    let inside = (col < vec4<u32>(cv.n * per_image)) & (h < vec4<u32>(cv.h)) & (w < vec4<u32>(cv.w));
    let dx = vec4<u32>(cv.x_offset) + n * (cv.x_channels * cv.h * cv.w) + h * cv.w + w;
    return PhaseColumns(Windows(base, p0, q0), select(vec4<u32>(0xffffffffu), dx, inside));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    row_lane = lid.x & 3u;
    let st = cv.stride;
    let ph = wg.z / st;
    let pw = wg.z % st;
    // First kernel row and column that reach this phase.
    let r0 = (ph + cv.pad) % st;
    let s0 = (pw + cv.pad) % st;
    let per_image = ((cv.h + st - 1u) / st) * ((cv.w + st - 1u) / st);
    let rows = block_rows(wg, lid);
    let cols = tile_cols(wg, lid);
    let last_col = vec4<u32>(cv.n * per_image - 1u);
    let lo = input_grad_columns(min(cols.lo, last_col), cols.lo, ph, pw, r0, s0);
    let hi = input_grad_columns(min(cols.hi, last_col), cols.hi, ph, pw, r0, s0);
    let rs = cv.r * cv.s;
    let pq = cv.p * cv.q;
    let wrow = row_starts(rows, cv.c - 1u, rs, cv.w_offset);
    let taps_r = (cv.r - r0 + st - 1u) / st;
    let taps_s = (cv.s - s0 + st - 1u) / st;

    // One flat loop over (k, i, j), indices stepped by hand (see forward).
    var b = Block();
    var plane = 0u; // k * pq
    var wk = 0u; // k * c * r * s
    var i = 0u;
    var j = 0u;
    let taps = cv.k * taps_r * taps_s;
    for (var step = 0u; step < taps; step++) {
        // w[k, c, r, s] for the eight rows c at this tap.
        let o = wk + (r0 + i * st) * cv.s + s0 + j * st;
        let dl = gather_window(lo.win, plane, -i32(i), -i32(j), cv.p, cv.q);
        let dh = gather_window(hi.win, plane, -i32(i), -i32(j), cv.p, cv.q);
        b = block_mac(b, wrow, o, dl, dh);
        j += 1u;
        let next_i = j == taps_s;
        j = select(j, 0u, next_i);
        i += select(0u, 1u, next_i);
        let next_k = i == taps_r;
        i = select(i, 0u, next_k);
        plane += select(0u, pq, next_k);
        wk += select(0u, cv.c * rs, next_k);
    }

    let at = Eight(lo.dx, hi.dx);
    let hw = cv.h * cv.w;
    let acc = (cv.flags & ACCUMULATE) != 0u;
    store_block(b, rows, cv.c, hw, at, acc);
}

// ---------------------------------------------------------------------------------------
// weight_grad: dw[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] x[n, c, p*st-pad+r, q*st-pad+s]
// GEMM rows = output channels k, columns = (c, r, s), inner = (n, p, q).
// in0 = x, in1 = dy.

// Per column (c, r, s): the x window, relative to an image, of output position (0, 0).
fn weight_grad_windows(col: vec4<u32>) -> Windows {
    let rs = cv.r * cv.s;
    let c = col / rs;
    let rem = col - c * rs;
    let r = rem / cv.s;
    let s = rem - r * cv.s;
    let pad = vec4<i32>(i32(cv.pad));
    return Windows(c * (cv.h * cv.w), vec4<i32>(r) - pad, vec4<i32>(s) - pad);
}

// Per column: dw offset of (channel 0, column) in part `part`'s k x (c r s) block, or u32
// max past the last column.
fn dw_at(col: vec4<u32>, part: u32) -> vec4<u32> {
    let crs = cv.c * cv.r * cv.s;
    let at = vec4<u32>(cv.w_offset + part * cv.k * crs) + col;
    return select(vec4<u32>(0xffffffffu), at, col < vec4<u32>(crs));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    row_lane = lid.x & 3u;
    let crs = cv.c * cv.r * cv.s;
    let pq = cv.p * cv.q;
    let hw = cv.h * cv.w;
    let rows = block_rows(wg, lid);
    let cols = tile_cols(wg, lid);
    let last_col = vec4<u32>(crs - 1u);
    let win_lo = weight_grad_windows(min(cols.lo, last_col));
    let win_hi = weight_grad_windows(min(cols.hi, last_col));
    let dy_rows = row_starts(rows, cv.k - 1u, pq, 0u);
    let st = i32(cv.stride);

    // Workgroup z sums images n0 .. n1 only; with more than one part, weight_grad_sum adds
    // the parts up (the batch is split so that small layers still fill the adapter).
    let n0 = wg.z * cv.split;
    let n1 = min(cv.n, n0 + cv.split);
    // One flat loop over (n, p, q), indices stepped by hand (see forward).
    var b = Block();
    var xb = cv.x_offset + n0 * cv.x_channels * hw; // image n in x
    var yb = cv.y_offset + (n0 * cv.y_channels + cv.y_first) * pq; // (n, p, q) of channel 0 in dy
    var p = 0;
    var q = 0;
    let total = (n1 - n0) * pq;
    let y_skip = (cv.y_channels - 1u) * pq; // from the end of image n's channel 0 to n + 1's
    for (var step = 0u; step < total; step++) {
        let xl = gather_window(win_lo, xb, p * st, q * st, cv.h, cv.w);
        let xh = gather_window(win_hi, xb, p * st, q * st, cv.h, cv.w);
        b = block_mac(b, dy_rows, yb, xl, xh);
        yb += 1u;
        q += 1;
        let next_p = q == i32(cv.q);
        q = select(q, 0, next_p);
        p += select(0, 1, next_p);
        let next_n = p == i32(cv.p);
        p = select(p, 0, next_n);
        xb += select(0u, cv.x_channels * hw, next_n);
        yb += select(0u, y_skip, next_n);
    }

    let at = Eight(dw_at(cols.lo, wg.z), dw_at(cols.hi, wg.z));
    store_block(b, rows, cv.k, crs, at, false);
}

// weight_grad_sum: dw = the sum of weight_grad's parts, in part order (deterministic).
// in0 = the parts, one k x (c r s) block each; out = dw.
@compute @workgroup_size(64, 1, 1)
fn weight_grad_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = cv.k * cv.c * cv.r * cv.s;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= len) {
        return;
    }
    var sum = 0.0;
    for (var part = 0u; part < cv.parts; part++) {
        sum += in0[part * len + i];
    }
    out[cv.w_offset + i] = sum;
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
