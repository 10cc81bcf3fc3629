// Workgroup-memory tiled convolution kernels, for real GPUs. conv.wgsl's register tiles
// suit software adapters (no barriers, SIMD lanes); a GPU instead wants many workgroups
// that stage their operands in workgroup memory and reuse each load many times. Which of
// the two runs is measured per layer on the adapter in use (src/kernels/conv.rs,
// `choose_weight_grad`).
//
// weight_grad_shared: dw[k, c, r, s] = sum_{n,p,q} dy[n, k, p, q] x[n, c, p*st-pad+r, q*st-pad+s]
// as a GEMM: rows = output channels k, columns = (c, r, s), reduction over positions
// l = (n, p, q). Workgroup (x, y) owns a TILE_ROWS x 64 block of dw; workgroup z one part of
// the batch (images z*split .. (z+1)*split), so that layers with few outputs still give the
// card enough workgroups. With several parts each writes its own copy of dw and conv.wgsl's
// weight_grad_sum adds them in part order: no float atomics, the same bits every run.
//
// Per step of CHUNK positions the workgroup stages a TILE_ROWS x CHUNK block of dy and a
// CHUNK x 64 block of the implicit im2col matrix of x, then each invocation adds the 4 x 4
// outer products of its rows and columns. The positions' (n, p, q) and the columns' (c, r, s)
// are decoded once into small tables, so no load divides.

@group(0) @binding(0) var<uniform> cv: Conv;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Invocations down the tile (rows of 4): 4, 8 or 16, so a tile is 16, 32 or 64 channels
// tall; the launcher picks the smallest that covers the layer's k (up to 64).
override WG_Y: u32 = 16u;
const WG_X: u32 = 16u; // across: 16 invocations x 4 columns = 64 columns
const TILE_COLS: u32 = 64u;
const CHUNK: u32 = 16u; // positions staged per step
const FAR: i32 = -1048576; // a row or column origin that puts every tap in the padding
const NONE: u32 = 0xffffffffu;

// The staged blocks, as vec4s of 4 consecutive rows (dy) or columns (x) per position:
// [CHUNK][STRIDE], 16 vec4s used per position. The one vec4 of padding per position puts
// the positions that neighbouring invocations store into different memory banks.
const STRIDE: u32 = 17u;
var<workgroup> dy_tile: array<vec4<f32>, 272>; // CHUNK * STRIDE
var<workgroup> x_tile: array<vec4<f32>, 272>;
// Per column of the tile: offset of channel c in an image, and the tap (r, s) - pad.
var<workgroup> col_plane: array<u32, 64>;
var<workgroup> col_r: array<i32, 64>;
var<workgroup> col_s: array<i32, 64>;
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

@compute @workgroup_size(WG_X, WG_Y, 1)
fn weight_grad_shared(
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
    let l_begin = wg.z * cv.split * pq;
    let l_end = min(cv.n, (wg.z + 1u) * cv.split) * pq;

    // The tile's columns (c, r, s), decoded once.
    let rs = cv.r * cv.s;
    for (var i = li; i < TILE_COLS; i += threads) {
        let col = col0 + i;
        let c = col / rs;
        let r = (col - c * rs) / cv.s;
        let s = col - c * rs - r * cv.s;
        let inside = col < crs;
        col_plane[i] = select(0u, c * cv.h * cv.w, inside);
        col_r[i] = select(FAR, i32(r), inside);
        col_s[i] = select(FAR, i32(s), inside);
    }
    if (li < CHUNK) {
        decode_position(li, l_begin + li, l_end);
    }
    workgroupBarrier();

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var buf = 0u;
    for (var l0 = l_begin; l0 < l_end; l0 += CHUNK) {
        let slot0 = buf * CHUNK;
        // Stage dy: element e is (row e / CHUNK, position e % CHUNK), so neighbouring
        // invocations read neighbouring positions of one channel plane.
        for (var e = li; e < tile_rows * CHUNK; e += threads) {
            let j = e % CHUNK;
            let row = e / CHUNK;
            let k = row0 + row;
            let at = pos_y[slot0 + j];
            var v = 0.0;
            if (k < cv.k && at != NONE) {
                v = dy[at + k * pq];
            }
            dy_tile[j * STRIDE + row / 4u][row % 4u] = v;
        }
        // Stage x's windows the same way: (column e / CHUNK, position e % CHUNK).
        for (var e = li; e < TILE_COLS * CHUNK; e += threads) {
            let j = e % CHUNK;
            let col = e / CHUNK;
            let hi = pos_h[slot0 + j] + col_r[col];
            let wi = pos_w[slot0 + j] + col_s[col];
            var v = 0.0;
            if (u32(hi) < cv.h && u32(wi) < cv.w) {
                v = x[pos_x[slot0 + j] + col_plane[col] + u32(hi) * cv.w + u32(wi)];
            }
            x_tile[j * STRIDE + col / 4u][col % 4u] = v;
        }
        // Meanwhile the next chunk's positions go into the other half of the tables (last
        // read two barriers ago).
        if (li < CHUNK) {
            decode_position((1u - buf) * CHUNK + li, l0 + CHUNK + li, l_end);
        }
        workgroupBarrier();
        for (var j = 0u; j < CHUNK; j++) {
            let a = dy_tile[j * STRIDE + lid.y];
            let b = x_tile[j * STRIDE + lid.x];
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        workgroupBarrier();
        buf = 1u - buf;
    }

    // Part z's copy of dw starts at w_offset + z * k * crs (only z = 0 when unsplit).
    let base = cv.w_offset + wg.z * cv.k * crs;
    let col = col0 + 4u * lid.x;
    let row = row0 + 4u * lid.y;
    store_row(base, row, col, crs, acc0);
    store_row(base, row + 1u, col, crs, acc1);
    store_row(base, row + 2u, col, crs, acc2);
    store_row(base, row + 3u, col, crs, acc3);
}

// dw[row, col .. col + 4] = v where the row and columns exist.
fn store_row(base: u32, row: u32, col: u32, crs: u32, v: vec4<f32>) {
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
