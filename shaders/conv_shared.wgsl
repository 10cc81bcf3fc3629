// Workgroup-memory tiled convolution kernels, for real GPUs. conv.wgsl's register tiles
// suit software adapters (no barriers, SIMD lanes); a GPU instead wants many workgroups
// that stage their operands in workgroup memory and reuse each load many times. Which of
// the two runs is measured per layer on the adapter in use (src/kernels/conv.rs,
// `choose_forward`, `choose_input_grad`, `choose_weight_grad`).
//
// All three kernels are one GEMM shape, out[row, col] = sum_t A[row, t] B[t, col], with a
// workgroup owning a TILE_ROWS x 64 block of out:
//   forward_shared:     rows = output channels k, columns = output positions (n, p, q),
//                       reduction over taps (c, r, s); A = w, B = x's windows.
//   input_grad_shared:  rows = input channels c, columns = input positions (n, h, w),
//                       reduction over (k, r, s); A = w transposed, B = dy where the tap
//                       lands on an output position (masked, so a stride-2 layer does 4x
//                       the useful work; the register kernel splits by stride phase).
//   weight_grad_shared: rows = output channels k, columns = taps (c, r, s), reduction over
//                       positions (n, p, q); A = dy, B = x's windows. Workgroup z takes
//                       one part of the positions (z*split .. (z+1)*split, cut anywhere,
//                       even inside an image), so that layers with few outputs and a long
//                       reduction still give the card enough workgroups; with
//                       several parts each writes its own copy of dw and conv.wgsl's
//                       weight_grad_sum adds them in part order: no float atomics, the same
//                       bits every run.
// Per step of CHUNK reduction indices the workgroup stages a TILE_ROWS x CHUNK block of A and
// a CHUNK x 64 block of B, then each invocation adds the 4 x 4 outer products of its rows
// and columns (`multiply_staged`). Column and reduction indices are decoded once into small
// workgroup tables (the reduction's double-buffered, filled for the next chunk while this
// one is staged), so no load divides.

// forward: x, w (, bias) -> y.  input_grad: dy, w -> dx.  weight_grad: x, dy -> dw.
@group(0) @binding(0) var<uniform> cv: Conv;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

// Invocations down the tile (rows of 4): 4, 8 or 16, so a tile is 16, 32 or 64 rows
// tall; the launcher picks the smallest that covers the layer's rows (up to 64).
override WG_Y: u32 = 16u;
// input_grad_shared's stride, a constant so that its divisions become shifts.
override ST: u32 = 1u;
// Invocations across (4 columns each): 16, a 64-column tile, for the forward and the input
// gradient; the weight gradient may take up to MAX_WG_X, so that a layer's taps (c, r, s), 144
// for a 3x3 layer of 16 channels, fill one or two tiles instead of three 64-column tiles at 75%.
override WG_X: u32 = 16u;
const MAX_WG_X: u32 = 36u;
const TILE_COLS: u32 = 64u; // forward_shared and input_grad_shared (WG_X = 16)
const CHUNK: u32 = 16u; // reduction indices staged per step
const FAR: i32 = -1048576; // an origin that puts every tap in the padding
const NONE: u32 = 0xffffffffu;

// The staged blocks, as vec4s of 4 consecutive rows (A) or columns (B) per reduction index:
// [CHUNK][STRIDE], 16 vec4s used per index. The one vec4 of padding per index puts the
// indices that neighbouring invocations store into different memory banks.
const STRIDE: u32 = 17u;
var<workgroup> a_tile: array<vec4<f32>, 272>; // CHUNK * STRIDE
var<workgroup> b_tile: array<vec4<f32>, 272>;
// The weight gradient's B, up to MAX_WG_X vec4s used per index ([CHUNK][WG_X + 1]). Its own
// block, so that the forward and the input gradient keep their smaller footprint (on an H200
// the larger one slowed the 64-invocation workgroups of 16-channel layers by 40%: fewer fit
// on a multiprocessor); with it the weight gradient stays within WebGPU's 16 KiB.
var<workgroup> wide_b_tile: array<vec4<f32>, 592>; // CHUNK * (MAX_WG_X + 1)

// One invocation's 4 x 4 block of out: row i of the block in r_i, its 4 columns as a vec4.
struct Block {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
}

// acc plus the outer products of the staged chunk for invocation lid's rows and columns.
fn multiply_staged(acc: Block, lid: vec3<u32>) -> Block {
    var t = acc;
    for (var j = 0u; j < CHUNK; j++) {
        let a = a_tile[j * STRIDE + lid.y];
        let b = b_tile[j * STRIDE + lid.x];
        t.r0 += a.x * b;
        t.r1 += a.y * b;
        t.r2 += a.z * b;
        t.r3 += a.w * b;
    }
    return t;
}

fn stage_a(row: u32, j: u32, v: f32) {
    a_tile[j * STRIDE + row / 4u][row % 4u] = v;
}

fn stage_b(col: u32, j: u32, v: f32) {
    b_tile[j * STRIDE + col / 4u][col % 4u] = v;
}

// multiply_staged and stage_b for the weight gradient's B (wide_b_tile, WG_X + 1 per index).
fn multiply_staged_wide(acc: Block, lid: vec3<u32>) -> Block {
    var t = acc;
    let stride = WG_X + 1u;
    for (var j = 0u; j < CHUNK; j++) {
        let a = a_tile[j * STRIDE + lid.y];
        let b = wide_b_tile[j * stride + lid.x];
        t.r0 += a.x * b;
        t.r1 += a.y * b;
        t.r2 += a.z * b;
        t.r3 += a.w * b;
    }
    return t;
}

fn stage_b_wide(col: u32, j: u32, v: f32) {
    wide_b_tile[j * (WG_X + 1u) + col / 4u][col % 4u] = v;
}

// ---------------------------------------------------------------------------------------
// weight_grad_shared: dw[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] x[n, c, p*st-pad+r, q*st-pad+s]

// Per column of the tile: offset of channel c in an image, and the tap (r, s).
var<workgroup> col_plane: array<u32, 144>; // 4 * MAX_WG_X
var<workgroup> col_r: array<i32, 144>;
var<workgroup> col_s: array<i32, 144>;
// Per position of a chunk, double-buffered ([2][CHUNK]): the image's offset in x, the
// window's origin row and column, and the offset of (n, channel y_first, p, q) in dy
// (NONE past the part's end).
var<workgroup> pos_x: array<u32, 32>;
var<workgroup> pos_h: array<i32, 32>;
var<workgroup> pos_w: array<i32, 32>;
var<workgroup> pos_y: array<u32, 32>;

// Decodes position l (an index over (n, p, q)) into slot `slot` of the position tables.
fn decode_position(slot: u32, l: u32, end: u32) {
    if (l >= end) {
        pos_x[slot] = 0u;
        pos_h[slot] = FAR;
        pos_w[slot] = FAR;
        pos_y[slot] = NONE;
        return;
    }
    let pq = cv.p * cv.q;
    let n = l / pq;
    let o = l - n * pq;
    let p = o / cv.q;
    let q = o - p * cv.q;
    pos_x[slot] = cv.x_offset + n * cv.x_channels * cv.h * cv.w;
    pos_h[slot] = i32(p * cv.stride) - i32(cv.pad);
    pos_w[slot] = i32(q * cv.stride) - i32(cv.pad);
    pos_y[slot] = cv.y_offset + (n * cv.y_channels + cv.y_first) * pq + o;
}

// Element e of a chunk's staged dy block, (row e / CHUNK, position e % CHUNK), so that
// neighbouring invocations read neighbouring positions of one channel plane; the position
// tables' half from slot0. Zero past the layer's channels or the part's end.
fn load_dy(e: u32, slot0: u32, row0: u32) -> f32 {
    let k = row0 + e / CHUNK;
    let at = pos_y[slot0 + e % CHUNK];
    if (k < cv.k && at != NONE) {
        return in1[at + k * cv.p * cv.q];
    }
    return 0.0;
}

// Element e of a chunk's staged block of x's windows, (column e / CHUNK, position
// e % CHUNK) likewise; zero in the padding.
fn load_window(e: u32, slot0: u32) -> f32 {
    let j = slot0 + e % CHUNK;
    let col = e / CHUNK;
    let hi = pos_h[j] + col_r[col];
    let wi = pos_w[j] + col_s[col];
    if (u32(hi) < cv.h && u32(wi) < cv.w) {
        return in0[pos_x[j] + col_plane[col] + u32(hi) * cv.w + u32(wi)];
    }
    return 0.0;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn weight_grad_shared(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let threads = WG_X * WG_Y;
    let tile_rows = 4u * WG_Y;
    let tile_cols = 4u * WG_X;
    let row0 = wg.y * tile_rows;
    let col0 = wg.x * tile_cols;
    let l_begin = wg.z * cv.split;
    let l_end = part_end(wg.z);
    begin_weight_grad(li, col0, l_begin, l_end);

    var acc = Block();
    var buf = 0u;
    for (var l0 = l_begin; l0 < l_end; l0 += CHUNK) {
        let slot0 = buf * CHUNK;
        // Stage dy: element e is (row e / CHUNK, position e % CHUNK), so neighbouring
        // invocations read neighbouring positions of one channel plane.
        for (var e = li; e < tile_rows * CHUNK; e += threads) {
            stage_a(e / CHUNK, e % CHUNK, load_dy(e, slot0, row0));
        }
        // Stage x's windows the same way: (column e / CHUNK, position e % CHUNK).
        for (var e = li; e < tile_cols * CHUNK; e += threads) {
            stage_b_wide(e / CHUNK, e % CHUNK, load_window(e, slot0));
        }
        // Meanwhile the next chunk's positions go into the other half of the tables (last
        // read two barriers ago).
        if (li < CHUNK) {
            decode_position((1u - buf) * CHUNK + li, l0 + CHUNK + li, l_end);
        }
        workgroupBarrier();
        acc = multiply_staged_wide(acc, lid);
        workgroupBarrier();
        buf = 1u - buf;
    }

    store_dw_block(wg.z, row0 + 4u * lid.y, col0 + 4u * lid.x, acc);
}

// Where part z of the positions (n, p, q) ends: it starts at z * split.
fn part_end(z: u32) -> u32 {
    return min(cv.n * cv.p * cv.q, z * cv.split + cv.split);
}

// Both weight-gradient kernels' set-up: the tile's columns (c, r, s) from col0 decoded once
// into the column tables, the part's first chunk of positions into the first half of the
// position tables, then a barrier (so it is called in uniform control flow).
fn begin_weight_grad(li: u32, col0: u32, l_begin: u32, l_end: u32) {
    let crs = cv.c * cv.r * cv.s;
    for (var i = li; i < 4u * WG_X; i += WG_X * WG_Y) {
        let tap = tap_of(col0 + i, crs);
        col_plane[i] = tap.plane;
        col_r[i] = tap.r;
        col_s[i] = tap.s;
    }
    if (li < CHUNK) {
        decode_position(li, l_begin + li, l_end);
    }
    workgroupBarrier();
}

// Tap t, an index over (c, r, s): the offset of channel c's plane in an image, and the tap's
// row and column; past `end`, a tap in the padding (FAR).
struct Tap {
    plane: u32,
    r: i32,
    s: i32,
}

fn tap_of(t: u32, end: u32) -> Tap {
    let rs = cv.r * cv.s;
    let c = t / rs;
    let r = (t - c * rs) / cv.s;
    let s = t - c * rs - r * cv.s;
    let inside = t < end;
    return Tap(select(0u, c * cv.h * cv.w, inside), select(FAR, i32(r), inside), select(FAR, i32(s), inside));
}

// An invocation's 4 x 4 block of part z's copy of dw, which starts at w_offset + z * k * crs
// (only z = 0 when unsplit).
fn store_dw_block(z: u32, row: u32, col: u32, acc: Block) {
    let crs = cv.c * cv.r * cv.s;
    let base = cv.w_offset + z * cv.k * crs;
    store_dw_row(base, row, col, crs, acc.r0);
    store_dw_row(base, row + 1u, col, crs, acc.r1);
    store_dw_row(base, row + 2u, col, crs, acc.r2);
    store_dw_row(base, row + 3u, col, crs, acc.r3);
}

// weight_grad_shared_prefetch: the same sums in the same order, with the next chunk's values
// loaded from global memory into registers while the current chunk is multiplied, so that a
// load's latency is not paid with the multiplier idle between the barriers (a real GPU's
// workgroups of this kernel are few per multiprocessor, too few to hide it by switching).
// Each invocation holds at most PREFETCH_A values of dy and PREFETCH_B of x's windows per
// chunk: 64 / WG_X and 64 / WG_Y, so the launcher keeps WG_X >= 8 (WG_Y is at least 4).
// The position tables are decoded two chunks ahead, into the half the chunk now staged was
// loaded from.
const PREFETCH_A: u32 = 8u;
const PREFETCH_B: u32 = 16u;

// One invocation's values of a chunk: element li + i * threads of the staged dy block in
// a[i], of the windows' block in b[i].
struct Prefetched {
    a: array<f32, PREFETCH_A>,
    b: array<f32, PREFETCH_B>,
}

// Invocation li's values of the chunk whose positions are in the tables' half from slot0.
// Past a block's end it loads the block's last element again (unused), so no load branches.
fn prefetch_chunk(li: u32, slot0: u32, row0: u32) -> Prefetched {
    let threads = WG_X * WG_Y;
    var v: Prefetched;
    for (var i = 0u; i < PREFETCH_A; i++) {
        v.a[i] = load_dy(min(li + i * threads, 4u * WG_Y * CHUNK - 1u), slot0, row0);
    }
    for (var i = 0u; i < PREFETCH_B; i++) {
        v.b[i] = load_window(min(li + i * threads, 4u * WG_X * CHUNK - 1u), slot0);
    }
    return v;
}

// Stores invocation li's prefetched values into the staged blocks.
fn stage_prefetched(li: u32, v: Prefetched) {
    let threads = WG_X * WG_Y;
    for (var i = 0u; i < PREFETCH_A; i++) {
        let e = li + i * threads;
        if (e < 4u * WG_Y * CHUNK) {
            stage_a(e / CHUNK, e % CHUNK, v.a[i]);
        }
    }
    for (var i = 0u; i < PREFETCH_B; i++) {
        let e = li + i * threads;
        if (e < 4u * WG_X * CHUNK) {
            stage_b_wide(e / CHUNK, e % CHUNK, v.b[i]);
        }
    }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn weight_grad_shared_prefetch(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * 4u * WG_Y;
    let col0 = wg.x * 4u * WG_X;
    let l_begin = wg.z * cv.split;
    let l_end = part_end(wg.z);
    begin_weight_grad(li, col0, l_begin, l_end);
    var next = prefetch_chunk(li, 0u, row0);
    if (li < CHUNK) {
        decode_position(CHUNK + li, l_begin + CHUNK + li, l_end);
    }

    var acc = Block();
    var buf = 0u;
    for (var l0 = l_begin; l0 < l_end; l0 += CHUNK) {
        // Every invocation is done multiplying the previous chunk, and the next chunk's
        // positions are decoded.
        workgroupBarrier();
        stage_prefetched(li, next);
        // This chunk's values came from this half of the tables, all read before the
        // barrier above: it takes the positions two chunks on.
        if (li < CHUNK) {
            decode_position(buf * CHUNK + li, l0 + 2u * CHUNK + li, l_end);
        }
        workgroupBarrier();
        if (l0 + CHUNK < l_end) {
            next = prefetch_chunk(li, (1u - buf) * CHUNK, row0);
        }
        acc = multiply_staged_wide(acc, lid);
        buf = 1u - buf;
    }
    store_dw_block(wg.z, row0 + 4u * lid.y, col0 + 4u * lid.x, acc);
}

// weight_grad_sum_lanes: dw = the sum of weight_grad_shared's parts (in0, one k x (c r s)
// block each). A GPU split may have a thousand parts, and one invocation per output adding
// them one after another (conv.wgsl's weight_grad_sum, the register kernels' pass) would wait
// on each load in turn; here each workgroup takes 16 outputs and 16 lanes of parts: lane g
// adds parts g, g + 16, g + 32, ... in order, then the lanes' sums meet in a fixed tree, so
// the bits are the same every run.
const SUM_LANES: u32 = 16u;
var<workgroup> lane_sums: array<f32, 256>; // [SUM_LANES lanes][16 outputs]

@compute @workgroup_size(16, 16, 1)
fn weight_grad_sum_lanes(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let len = cv.k * cv.c * cv.r * cv.s;
    let i = (wg.x + wg.y * nwg.x) * 16u + lid.x;
    var sum = 0.0;
    if (i < len) {
        for (var part = lid.y; part < cv.parts; part += SUM_LANES) {
            sum += in0[part * len + i];
        }
    }
    lane_sums[lid.y * 16u + lid.x] = sum;
    workgroupBarrier();
    for (var width = SUM_LANES / 2u; width > 0u; width /= 2u) {
        if (lid.y < width) {
            lane_sums[lid.y * 16u + lid.x] += lane_sums[(lid.y + width) * 16u + lid.x];
        }
        workgroupBarrier();
    }
    if (lid.y == 0u && i < len) {
        out[cv.w_offset + i] = lane_sums[lid.x];
    }
}

// dw[row, col .. col + 4] = v where the row and columns exist.
fn store_dw_row(base: u32, row: u32, col: u32, crs: u32, v: vec4<f32>) {
    if (row >= cv.k) {
        return;
    }
    let at = base + row * crs + col;
    for (var j = 0u; j < 4u; j++) {
        if (col + j < crs) {
            out[at + j] = v[j];
        }
    }
}

// ---------------------------------------------------------------------------------------
// forward_shared: y[n, y_first + k, p, q] = b[k] + sum_{c,r,s} w[k, c, r, s] x[n, c, p*st-pad+r, q*st-pad+s]

// Per column of the tile (forward_shared: an output position; input_grad_shared: an input
// position): where the column's image starts in the B operand, the row and column its taps
// are counted from (FAR past the last column), and the column's offset in the output
// (NONE past the last column).
var<workgroup> col_base: array<u32, 64>;
var<workgroup> col_h0: array<i32, 64>;
var<workgroup> col_w0: array<i32, 64>;
var<workgroup> col_out: array<u32, 64>;
// Per tap (c, r, s) of a chunk, double-buffered ([2][CHUNK]): the channel's offset in an
// image and the tap's row and column (FAR past the last tap).
var<workgroup> tap_plane: array<u32, 32>;
var<workgroup> tap_r: array<i32, 32>;
var<workgroup> tap_s: array<i32, 32>;

// Decodes tap t (an index over (c, r, s)) into slot `slot` of the tap tables.
fn decode_forward_tap(slot: u32, t: u32, end: u32) {
    let tap = tap_of(t, end);
    tap_plane[slot] = tap.plane;
    tap_r[slot] = tap.r;
    tap_s[slot] = tap.s;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn forward_shared(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let threads = WG_X * WG_Y;
    let tile_rows = 4u * WG_Y;
    let crs = cv.c * cv.r * cv.s;
    let pq = cv.p * cv.q;
    let row0 = wg.y * tile_rows;
    let col0 = wg.x * TILE_COLS;

    // The tile's output positions (n, p, q), decoded once.
    for (var i = li; i < TILE_COLS; i += threads) {
        let col = col0 + i;
        let n = col / pq;
        let o = col - n * pq;
        let p = o / cv.q;
        let q = o - p * cv.q;
        let inside = col < cv.n * pq;
        col_base[i] = select(0u, cv.x_offset + n * cv.x_channels * cv.h * cv.w, inside);
        col_h0[i] = select(FAR, i32(p * cv.stride) - i32(cv.pad), inside);
        col_w0[i] = select(FAR, i32(q * cv.stride) - i32(cv.pad), inside);
        col_out[i] = select(NONE, cv.y_offset + (n * cv.y_channels + cv.y_first) * pq + o, inside);
    }
    if (li < CHUNK) {
        decode_forward_tap(li, li, crs);
    }
    workgroupBarrier();

    var acc = Block();
    var buf = 0u;
    for (var t0 = 0u; t0 < crs; t0 += CHUNK) {
        let slot0 = buf * CHUNK;
        // Stage w: element e is (row e / CHUNK, tap e % CHUNK), so neighbouring
        // invocations read neighbouring weights of one filter.
        for (var e = li; e < tile_rows * CHUNK; e += threads) {
            let j = e % CHUNK;
            let row = e / CHUNK;
            let k = row0 + row;
            let t = t0 + j;
            var v = 0.0;
            if (k < cv.k && t < crs) {
                v = in1[cv.w_offset + k * crs + t];
            }
            stage_a(row, j, v);
        }
        // Stage x's windows: element e is (tap e / 64, column e % 64), so neighbouring
        // invocations read neighbouring positions of one row of an input plane.
        for (var e = li; e < TILE_COLS * CHUNK; e += threads) {
            let col = e % TILE_COLS;
            let j = e / TILE_COLS;
            let hi = col_h0[col] + tap_r[slot0 + j];
            let wi = col_w0[col] + tap_s[slot0 + j];
            var v = 0.0;
            if (u32(hi) < cv.h && u32(wi) < cv.w) {
                v = in0[col_base[col] + tap_plane[slot0 + j] + u32(hi) * cv.w + u32(wi)];
            }
            stage_b(col, j, v);
        }
        if (li < CHUNK) {
            decode_forward_tap((1u - buf) * CHUNK + li, t0 + CHUNK + li, crs);
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid);
        workgroupBarrier();
        buf = 1u - buf;
    }

    let row = row0 + 4u * lid.y;
    let first = 4u * lid.x;
    store_channel_row(row, cv.k, first, pq, acc.r0, bias_of(row), false);
    store_channel_row(row + 1u, cv.k, first, pq, acc.r1, bias_of(row + 1u), false);
    store_channel_row(row + 2u, cv.k, first, pq, acc.r2, bias_of(row + 2u), false);
    store_channel_row(row + 3u, cv.k, first, pq, acc.r3, bias_of(row + 3u), false);
}

// ---------------------------------------------------------------------------------------
// input_grad_shared: dx[n, c, h, w] (+)= sum_{k,r,s} w[k, c, r, s] dy[n, k, (h+pad-r)/st, (w+pad-s)/st]
// over the taps where both divisions are exact and land inside dy.
// Column tables: col_base = the offset of (n, y_first, 0, 0) in dy, col_h0 and col_w0 =
// h + pad and w + pad, col_out = dx's offset of (n, 0, h, w).

// Per tap (k, r, s) of a chunk, double-buffered: the channel's offset in a dy image, w's
// offset of (k, 0, r, s) (NONE past the last tap), and the tap's row and column (-FAR past
// the last tap, so that no position reaches it).
var<workgroup> tap_dy: array<u32, 32>;
var<workgroup> tap_w: array<u32, 32>;

fn decode_input_tap(slot: u32, t: u32, end: u32) {
    let rs = cv.r * cv.s;
    let k = t / rs;
    let r = (t - k * rs) / cv.s;
    let s = t - k * rs - r * cv.s;
    let inside = t < end;
    tap_dy[slot] = select(0u, k * cv.p * cv.q, inside);
    tap_w[slot] = select(NONE, cv.w_offset + k * cv.c * rs + r * cv.s + s, inside);
    tap_r[slot] = select(-FAR, i32(r), inside);
    tap_s[slot] = select(-FAR, i32(s), inside);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn input_grad_shared(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let threads = WG_X * WG_Y;
    let tile_rows = 4u * WG_Y;
    let rs = cv.r * cv.s;
    let krs = cv.k * rs;
    let hw = cv.h * cv.w;
    let row0 = wg.y * tile_rows;
    let col0 = wg.x * TILE_COLS;

    // The tile's input positions (n, h, w), decoded once.
    for (var i = li; i < TILE_COLS; i += threads) {
        let col = col0 + i;
        let n = col / hw;
        let o = col - n * hw;
        let h = o / cv.w;
        let w = o - h * cv.w;
        let inside = col < cv.n * hw;
        col_base[i] = select(0u, cv.y_offset + (n * cv.y_channels + cv.y_first) * cv.p * cv.q, inside);
        col_h0[i] = select(FAR, i32(h + cv.pad), inside);
        col_w0[i] = select(FAR, i32(w + cv.pad), inside);
        col_out[i] = select(NONE, cv.x_offset + n * cv.x_channels * hw + o, inside);
    }
    if (li < CHUNK) {
        decode_input_tap(li, li, krs);
    }
    workgroupBarrier();

    var acc = Block();
    var buf = 0u;
    for (var t0 = 0u; t0 < krs; t0 += CHUNK) {
        let slot0 = buf * CHUNK;
        // Stage w transposed: element e is (row c = e / CHUNK, tap e % CHUNK).
        for (var e = li; e < tile_rows * CHUNK; e += threads) {
            let j = e % CHUNK;
            let row = e / CHUNK;
            let c = row0 + row;
            let at = tap_w[slot0 + j];
            var v = 0.0;
            if (c < cv.c && at != NONE) {
                v = in1[at + c * rs];
            }
            stage_a(row, j, v);
        }
        // Stage dy: element e is (tap e / 64, column e % 64). A position receives the tap
        // where (h + pad - r) is a non-negative multiple of the stride below p * stride
        // (negative differences wrap to huge unsigned values and fail the bound).
        for (var e = li; e < TILE_COLS * CHUNK; e += threads) {
            let col = e % TILE_COLS;
            let j = e / TILE_COLS;
            let dh = u32(col_h0[col] - tap_r[slot0 + j]);
            let dw = u32(col_w0[col] - tap_s[slot0 + j]);
            let p = dh / ST;
            let q = dw / ST;
            var v = 0.0;
            if (p < cv.p && q < cv.q && p * ST == dh && q * ST == dw) {
                v = in0[col_base[col] + tap_dy[slot0 + j] + p * cv.q + q];
            }
            stage_b(col, j, v);
        }
        if (li < CHUNK) {
            decode_input_tap((1u - buf) * CHUNK + li, t0 + CHUNK + li, krs);
        }
        workgroupBarrier();
        acc = multiply_staged(acc, lid);
        workgroupBarrier();
        buf = 1u - buf;
    }

    let row = row0 + 4u * lid.y;
    let first = 4u * lid.x;
    let accumulate = (cv.flags & ACCUMULATE) != 0u;
    store_channel_row(row, cv.c, first, hw, acc.r0, 0.0, accumulate);
    store_channel_row(row + 1u, cv.c, first, hw, acc.r1, 0.0, accumulate);
    store_channel_row(row + 2u, cv.c, first, hw, acc.r2, 0.0, accumulate);
    store_channel_row(row + 3u, cv.c, first, hw, acc.r3, 0.0, accumulate);
}

// The forward's bias of channel k (0 without a bias or past the last channel).
fn bias_of(k: u32) -> f32 {
    if ((cv.flags & HAS_BIAS) == 0u || k >= cv.k) {
        return 0.0;
    }
    return bias[cv.b_offset + k];
}

// Stores row `channel` (below `limit`) of the tile for the 4 columns from tile column
// `first`: out[col_out[col] + channel * plane] = v + add (+ what it held when
// accumulating), where col_out is valid.
fn store_channel_row(channel: u32, limit: u32, first: u32, plane: u32, v: vec4<f32>, add: f32, accumulate: bool) {
    if (channel >= limit) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let at = col_out[first + j];
        if (at == NONE) {
            continue;
        }
        let i = at + channel * plane;
        var value = v[j] + add;
        if (accumulate) {
            value += out[i];
        }
        out[i] = value;
    }
}
