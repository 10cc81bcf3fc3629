// Matrix product C = op(A) * op(B), op being identity or transpose, all row-major f32.
//
// Register-blocked: each invocation computes an 8x8 block of C in registers and the workgroup
// uses no shared memory and no barriers, because the software adapters this must run well on
// (SwiftShader in Chromium, lavapipe natively) pay dearly for barriers.
//
// Transposition is expressed as strides, so one pipeline serves all four products a linear
// layer needs: op(A)[row, p] = a[a_base + row * a_row_stride + p * a_step]. Workgroup z
// selects one product of a batch, each operand moving by its own batch stride (0 to share).
//
// A product with few blocks of C and a long inner dimension (a linear layer's forward: 64 x 10
// outputs over 1568 inputs) would run in one or two workgroups on one core; the launcher then
// splits the inner dimension into parts of part_k indices (workgroup z picks the part, the
// batch strides step along k), each part writes its own partial C to a scratch buffer, and
// sum_parts adds the parts in order: deterministic, no atomics.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    c_offset: u32,
    a_offset: u32,
    a_row_stride: u32,
    a_step: u32,
    b_offset: u32,
    b_col_stride: u32,
    b_step: u32,
    a_batch: u32, // batch strides, in elements
    b_batch: u32,
    c_batch: u32,
    part_k: u32, // inner indices per part of a split product; 0: not split
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// The workgroup is WG_X x WG_Y invocations; invocation (x, y) owns rows y + WG_Y * i and
// columns x + WG_X * j, i, j in 0..8, so neighbouring invocations touch neighbouring
// addresses. An 8x8 block loads 16 values for 64 multiply-adds; on the software adapters
// every load is a gather across SIMD lanes, and going from 4x4 to 8x8 took SwiftShader from
// 1.8 to 3.2 GFLOP/s (BENCHMARKS.md). Larger blocks need more registers than a GPU thread
// has. The launcher narrows WG_X (WG_Y) for products with few columns (rows), so that no
// invocation computes only padding: 10 columns take 2 invocations across, not 8.
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// Tile and mac come from tile.wgsl, prepended to this file.

fn store_row(base: u32, row: u32, cl: vec4<u32>, ch: vec4<u32>, vl: vec4<f32>, vh: vec4<f32>) {
    if (row < params.m) {
        for (var j = 0u; j < 4u; j++) {
            if (cl[j] < params.n) {
                c[base + row * params.n + cl[j]] = vl[j];
            }
            if (ch[j] < params.n) {
                c[base + row * params.n + ch[j]] = vh[j];
            }
        }
    }
}

// The inner indices workgroup z runs: all k, or, in part z of a split product, part_k of
// them (the last part what is left). (select evaluates both sides; the unused one may wrap,
// harmlessly.)
fn part_len(z: u32) -> u32 {
    let split = params.part_k != 0u;
    return select(params.k, min(params.part_k, params.k - z * params.part_k), split);
}

fn load4(ptr: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(a[ptr.x], a[ptr.y], a[ptr.z], a[ptr.w]);
}

fn load4b(ptr: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(b[ptr.x], b[ptr.y], b[ptr.z], b[ptr.w]);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let down = vec4<u32>(0u, WG_Y, 2u * WG_Y, 3u * WG_Y);
    let across = vec4<u32>(0u, WG_X, 2u * WG_X, 3u * WG_X);
    let rl = vec4<u32>(wg.y * 8u * WG_Y + lid.y) + down; // rows 0-3 of this invocation
    let rh = rl + vec4<u32>(4u * WG_Y); // rows 4-7
    let cl = vec4<u32>(wg.x * 8u * WG_X + lid.x) + across;
    let ch = cl + vec4<u32>(4u * WG_X);
    // Out-of-range rows and columns load a valid neighbour instead of branching; their
    // results are never stored.
    let a_start = vec4<u32>(params.a_offset + wg.z * params.a_batch);
    let b_start = vec4<u32>(params.b_offset + wg.z * params.b_batch);
    let last_row = vec4<u32>(params.m - 1u);
    let last_col = vec4<u32>(params.n - 1u);
    var ial = a_start + min(rl, last_row) * params.a_row_stride;
    var iah = a_start + min(rh, last_row) * params.a_row_stride;
    var ibl = b_start + min(cl, last_col) * params.b_col_stride;
    var ibh = b_start + min(ch, last_col) * params.b_col_stride;
    let sa = vec4<u32>(params.a_step);
    let sb = vec4<u32>(params.b_step);

    let k_len = part_len(wg.z);
    var t = Tile();
    for (var p = 0u; p < k_len; p++) {
        t = mac(t, load4(ial), load4(iah), load4b(ibl), load4b(ibh));
        ial += sa;
        iah += sa;
        ibl += sb;
        ibh += sb;
    }

    let base = params.c_offset + wg.z * params.c_batch;
    store_row(base, rl.x, cl, ch, t.r0l, t.r0h);
    store_row(base, rl.y, cl, ch, t.r1l, t.r1h);
    store_row(base, rl.z, cl, ch, t.r2l, t.r2h);
    store_row(base, rl.w, cl, ch, t.r3l, t.r3h);
    store_row(base, rh.x, cl, ch, t.r4l, t.r4h);
    store_row(base, rh.y, cl, ch, t.r5l, t.r5h);
    store_row(base, rh.z, cl, ch, t.r6l, t.r6h);
    store_row(base, rh.w, cl, ch, t.r7l, t.r7h);
}

// Second pass of a split product: C = the parts' partial products (in a, part after part,
// m x n each), added in part order. One invocation per element of C.
@compute @workgroup_size(64, 1, 1)
fn sum_parts(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = params.m * params.n;
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= len) {
        return;
    }
    let parts = (params.k + params.part_k - 1u) / params.part_k;
    var sum = 0.0;
    for (var part = 0u; part < parts; part++) {
        sum += a[part * len + i];
    }
    c[params.c_offset + i] = sum;
}

// Baseline for the benchmark: one invocation per output, no register blocking. Kept to
// measure what the blocking buys, not used in training.
@compute @workgroup_size(8, 8, 1)
fn naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y;
    let col = gid.x;
    if (row >= params.m || col >= params.n) {
        return;
    }
    var ia = params.a_offset + gid.z * params.a_batch + row * params.a_row_stride;
    var ib = params.b_offset + gid.z * params.b_batch + col * params.b_col_stride;
    var acc = 0.0;
    for (var p = 0u; p < params.k; p++) {
        acc += a[ia] * b[ib];
        ia += params.a_step;
        ib += params.b_step;
    }
    c[params.c_offset + gid.z * params.c_batch + row * params.n + col] = acc;
}

// ---------------------------------------------------------------------------------------
// main_shared: the same product by workgroup-memory tiles, for real GPUs (the register
// blocks above suit software adapters, which pay dearly for barriers; a GPU instead wants
// each operand loaded once per workgroup and reused from workgroup memory). Which of the two
// runs is measured on the adapter in use (src/kernels/matmul.rs, `choose`). Split like the
// register blocks (part_k, workgroup z the part), it gives a GPU enough workgroups for a
// product whose tiles alone would leave most of its cores idle.
//
// The workgroup, 16 x 16 invocations, owns a 64 x 64 block of C; invocation (x, y) owns
// rows 4y .. 4y+3 and columns 4x .. 4x+3 of it. Per step of SHARED_CHUNK inner indices it
// stages a 64 x SHARED_CHUNK block of op(A) and a SHARED_CHUNK x 64 block of op(B), as
// vec4s of 4 consecutive rows (columns), then adds its 4 x 4 outer products.

const SHARED_BLOCK: u32 = 64u;
const SHARED_CHUNK: u32 = 16u;
// vec4s per inner index: 16 used and one of padding, so that the inner indices that
// neighbouring invocations store fall in different memory banks.
const SHARED_STRIDE: u32 = 17u;
var<workgroup> a_staged: array<vec4<f32>, 272>; // [SHARED_CHUNK][SHARED_STRIDE]
var<workgroup> b_staged: array<vec4<f32>, 272>;

@compute @workgroup_size(16, 16, 1)
fn main_shared(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * SHARED_BLOCK;
    let col0 = wg.x * SHARED_BLOCK;
    let a_start = params.a_offset + wg.z * params.a_batch;
    let b_start = params.b_offset + wg.z * params.b_batch;
    // Staging order follows each operand's memory order, so that neighbouring invocations
    // read neighbouring addresses: along the inner dimension where it is contiguous (A
    // untransposed, B transposed), else along the rows (columns).
    let a_inner_first = params.a_step == 1u;
    let b_inner_first = params.b_step == 1u;
    let k_len = part_len(wg.z);
    var r0 = vec4<f32>(0.0);
    var r1 = vec4<f32>(0.0);
    var r2 = vec4<f32>(0.0);
    var r3 = vec4<f32>(0.0);
    for (var p0 = 0u; p0 < k_len; p0 += SHARED_CHUNK) {
        for (var e = li; e < SHARED_BLOCK * SHARED_CHUNK; e += 256u) {
            let row = select(e % SHARED_BLOCK, e / SHARED_CHUNK, a_inner_first);
            let j = select(e / SHARED_BLOCK, e % SHARED_CHUNK, a_inner_first);
            let i = row0 + row;
            let p = p0 + j;
            var v = 0.0;
            if (i < params.m && p < k_len) {
                v = a[a_start + i * params.a_row_stride + p * params.a_step];
            }
            a_staged[j * SHARED_STRIDE + row / 4u][row % 4u] = v;
        }
        for (var e = li; e < SHARED_BLOCK * SHARED_CHUNK; e += 256u) {
            let col = select(e % SHARED_BLOCK, e / SHARED_CHUNK, b_inner_first);
            let j = select(e / SHARED_BLOCK, e % SHARED_CHUNK, b_inner_first);
            let i = col0 + col;
            let p = p0 + j;
            var v = 0.0;
            if (i < params.n && p < k_len) {
                v = b[b_start + i * params.b_col_stride + p * params.b_step];
            }
            b_staged[j * SHARED_STRIDE + col / 4u][col % 4u] = v;
        }
        workgroupBarrier();
        for (var j = 0u; j < SHARED_CHUNK; j++) {
            let ra = a_staged[j * SHARED_STRIDE + lid.y];
            let cb = b_staged[j * SHARED_STRIDE + lid.x];
            r0 += ra.x * cb;
            r1 += ra.y * cb;
            r2 += ra.z * cb;
            r3 += ra.w * cb;
        }
        workgroupBarrier();
    }
    let base = params.c_offset + wg.z * params.c_batch;
    let row = row0 + 4u * lid.y;
    let col = col0 + 4u * lid.x;
    store_shared_row(base, row, col, r0);
    store_shared_row(base, row + 1u, col, r1);
    store_shared_row(base, row + 2u, col, r2);
    store_shared_row(base, row + 3u, col, r3);
}

// C[row, col .. col + 4] = v where the row and columns exist.
fn store_shared_row(base: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= params.m) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if (col + j < params.n) {
            c[base + row * params.n + col + j] = v[j];
        }
    }
}

// ---------------------------------------------------------------------------------------
// main_wide: workgroup-memory tiles with 8 x 8 outputs per invocation, for real GPUs with
// large products. main_shared's 4 x 4 per invocation reads two vec4s of workgroup memory per
// 16 multiply-adds, so workgroup memory's bandwidth bounds it; 8 x 8 reads four per 64.
// The workgroup is WG_X x WG_Y invocations (16 x 16: a 128 x 128 tile of C; 16 x 8: 64 rows
// x 128 columns, twice the workgroups for products that would not fill the card). Invocation
// (x, y) owns rows 4y .. 4y+3 and 4(y + WG_Y) .. +3 of the tile and columns 4x .. 4x+3 and
// 4(x + WG_X) .. +3, so the vec4s that neighbouring invocations read are neighbours.

// 8 inner indices per step keep both staged blocks in 8 KiB, inside every adapter's
// workgroup memory (WebGPU promises 16 KiB).
const WIDE_CHUNK: u32 = 8u;
// vec4s per inner index: up to 32 used (128 rows or columns) and one of padding, so that the
// inner indices that neighbouring invocations store fall in different memory banks.
const WIDE_STRIDE: u32 = 33u;
var<workgroup> a_wide: array<vec4<f32>, 264>; // [WIDE_CHUNK][WIDE_STRIDE]
var<workgroup> b_wide: array<vec4<f32>, 264>;

// One invocation's 8 x 8 outputs: row i's low and high 4 columns.
struct Wide {
    r0: vec4<f32>, h0: vec4<f32>,
    r1: vec4<f32>, h1: vec4<f32>,
    r2: vec4<f32>, h2: vec4<f32>,
    r3: vec4<f32>, h3: vec4<f32>,
    r4: vec4<f32>, h4: vec4<f32>,
    r5: vec4<f32>, h5: vec4<f32>,
    r6: vec4<f32>, h6: vec4<f32>,
    r7: vec4<f32>, h7: vec4<f32>,
}

// t plus the outer product of rows lo, hi (4 each) and columns bl, bh (4 each).
fn wide_mac(t: Wide, lo: vec4<f32>, hi: vec4<f32>, bl: vec4<f32>, bh: vec4<f32>) -> Wide {
    var u = t;
    u.r0 += lo.x * bl;
    u.h0 += lo.x * bh;
    u.r1 += lo.y * bl;
    u.h1 += lo.y * bh;
    u.r2 += lo.z * bl;
    u.h2 += lo.z * bh;
    u.r3 += lo.w * bl;
    u.h3 += lo.w * bh;
    u.r4 += hi.x * bl;
    u.h4 += hi.x * bh;
    u.r5 += hi.y * bl;
    u.h5 += hi.y * bh;
    u.r6 += hi.z * bl;
    u.h6 += hi.z * bh;
    u.r7 += hi.w * bl;
    u.h7 += hi.w * bh;
    return u;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_wide(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let rows = 8u * WG_Y;
    let cols = 8u * WG_X;
    let threads = WG_X * WG_Y;
    let row0 = wg.y * rows;
    let col0 = wg.x * cols;
    let a_start = params.a_offset + wg.z * params.a_batch;
    let b_start = params.b_offset + wg.z * params.b_batch;
    // Staged in each operand's memory order, as in main_shared.
    let a_inner_first = params.a_step == 1u;
    let b_inner_first = params.b_step == 1u;
    let k_len = part_len(wg.z);
    var t = Wide();
    for (var p0 = 0u; p0 < k_len; p0 += WIDE_CHUNK) {
        for (var e = li; e < rows * WIDE_CHUNK; e += threads) {
            let row = select(e % rows, e / WIDE_CHUNK, a_inner_first);
            let j = select(e / rows, e % WIDE_CHUNK, a_inner_first);
            let i = row0 + row;
            let p = p0 + j;
            var v = 0.0;
            if (i < params.m && p < k_len) {
                v = a[a_start + i * params.a_row_stride + p * params.a_step];
            }
            a_wide[j * WIDE_STRIDE + row / 4u][row % 4u] = v;
        }
        for (var e = li; e < cols * WIDE_CHUNK; e += threads) {
            let col = select(e % cols, e / WIDE_CHUNK, b_inner_first);
            let j = select(e / cols, e % WIDE_CHUNK, b_inner_first);
            let i = col0 + col;
            let p = p0 + j;
            var v = 0.0;
            if (i < params.n && p < k_len) {
                v = b[b_start + i * params.b_col_stride + p * params.b_step];
            }
            b_wide[j * WIDE_STRIDE + col / 4u][col % 4u] = v;
        }
        workgroupBarrier();
        for (var j = 0u; j < WIDE_CHUNK; j++) {
            let at = j * WIDE_STRIDE;
            let lo = a_wide[at + lid.y];
            let hi = a_wide[at + lid.y + WG_Y];
            let bl = b_wide[at + lid.x];
            let bh = b_wide[at + lid.x + WG_X];
            t = wide_mac(t, lo, hi, bl, bh);
        }
        workgroupBarrier();
    }
    let lo_row = row0 + 4u * lid.y;
    let lo_col = col0 + 4u * lid.x;
    let base = params.c_offset + wg.z * params.c_batch;
    store_wide(base, vec2<u32>(lo_row, lo_row + 4u * WG_Y), vec2<u32>(lo_col, lo_col + 4u * WG_X), t);
}

// An invocation's 8 x 8 outputs: rows[0] .. +3 and rows[1] .. +3, each at columns cols[0] ..
// +3 and cols[1] .. +3, where they exist.
fn store_wide(base: u32, rows: vec2<u32>, cols: vec2<u32>, t: Wide) {
    let lo_row = rows[0];
    let hi_row = rows[1];
    let lo_col = cols[0];
    let hi_col = cols[1];
    store_shared_row(base, lo_row, lo_col, t.r0);
    store_shared_row(base, lo_row, hi_col, t.h0);
    store_shared_row(base, lo_row + 1u, lo_col, t.r1);
    store_shared_row(base, lo_row + 1u, hi_col, t.h1);
    store_shared_row(base, lo_row + 2u, lo_col, t.r2);
    store_shared_row(base, lo_row + 2u, hi_col, t.h2);
    store_shared_row(base, lo_row + 3u, lo_col, t.r3);
    store_shared_row(base, lo_row + 3u, hi_col, t.h3);
    store_shared_row(base, hi_row, lo_col, t.r4);
    store_shared_row(base, hi_row, hi_col, t.h4);
    store_shared_row(base, hi_row + 1u, lo_col, t.r5);
    store_shared_row(base, hi_row + 1u, hi_col, t.h5);
    store_shared_row(base, hi_row + 2u, lo_col, t.r6);
    store_shared_row(base, hi_row + 2u, hi_col, t.h6);
    store_shared_row(base, hi_row + 3u, lo_col, t.r7);
    store_shared_row(base, hi_row + 3u, hi_col, t.h7);
}

// ---------------------------------------------------------------------------------------
// main_pipelined: main_wide's 128 x 128 tiles and 8 x 8 outputs per invocation, pipelined
// for real GPUs. main_wide loads a step's operands, waits for them at a barrier, multiplies,
// and waits again before the next load, so every step pays a global load's latency with the
// multiplier idle. Here the next step's values travel from global memory into registers while
// the current step is multiplied out of workgroup memory, and land in a second pair of staged
// blocks: one barrier per step, and the loads' latency hidden behind 512 multiply-adds per
// invocation. Each invocation stages exactly 4 values of each operand per step (a 128 x 8
// block is 4 x 256), in the operand's memory order as in main_shared.

const PIPE_CHUNK: u32 = 8u;
// vec4s per staged block: PIPE_CHUNK inner indices x 32 vec4s (128 rows or columns). No
// padding: the two pairs of blocks fill exactly the 16 KiB WebGPU promises.
const PIPE_BLOCK: u32 = 256u;
var<workgroup> a_pipe: array<vec4<f32>, 512>; // two blocks of [PIPE_CHUNK][32]
var<workgroup> b_pipe: array<vec4<f32>, 512>;

// Where an invocation's 4 values of a staged 128 x PIPE_CHUNK block lie: (row or column,
// inner index) of the first, and the step to the next. Along the inner dimension when it is
// contiguous in memory (each 128 invocations take 4 consecutive inner indices of every row),
// else along the rows (32 invocations take 4 consecutive rows each at one inner index).
struct Slot {
    at: vec2<u32>,
    step: vec2<u32>,
}

fn pipe_slot(li: u32, inner_first: bool) -> Slot {
    if (inner_first) {
        return Slot(vec2<u32>(li % 128u, 4u * (li / 128u)), vec2<u32>(0u, 1u));
    }
    return Slot(vec2<u32>(4u * (li % 32u), li / 32u), vec2<u32>(1u, 0u));
}

// Where the 4 values at `s` of a block of op(A) (or op(B)) lie: their indices in the operand
// (origin: the block's first row (column); count: the rows (columns) there are; stride, step:
// the operand's row (column) stride and inner step), and which of them exist. A value
// outside the product is read at index 0 and discarded, so the loads do not branch and the
// compiler can issue all four at once.
struct Spots {
    at: vec4<u32>,
    ok: vec4<bool>,
}

fn pipe_spots(s: Slot, origin: u32, p0: u32, k_len: u32, count: u32, start: u32, stride: u32, step: u32) -> Spots {
    var spots: Spots;
    for (var q = 0u; q < 4u; q++) {
        let i = origin + s.at.x + q * s.step.x;
        let p = p0 + s.at.y + q * s.step.y;
        spots.ok[q] = i < count && p < k_len;
        spots.at[q] = select(0u, start + i * stride + p * step, spots.ok[q]);
    }
    return spots;
}

fn pipe_load_a(s: Slot, row0: u32, p0: u32, k_len: u32, start: u32) -> vec4<f32> {
    let w = pipe_spots(s, row0, p0, k_len, params.m, start, params.a_row_stride, params.a_step);
    return select(vec4<f32>(0.0), load4(w.at), w.ok);
}

fn pipe_load_b(s: Slot, col0: u32, p0: u32, k_len: u32, start: u32) -> vec4<f32> {
    let w = pipe_spots(s, col0, p0, k_len, params.n, start, params.b_col_stride, params.b_step);
    return select(vec4<f32>(0.0), load4b(w.at), w.ok);
}

// Stores an invocation's 4 values into staged block `half` (inner index major, 4 rows or
// columns to a vec4).
fn pipe_stage_a(half: u32, s: Slot, v: vec4<f32>) {
    for (var q = 0u; q < 4u; q++) {
        let r = s.at.x + q * s.step.x;
        let p = s.at.y + q * s.step.y;
        a_pipe[half * PIPE_BLOCK + p * 32u + r / 4u][r % 4u] = v[q];
    }
}

fn pipe_stage_b(half: u32, s: Slot, v: vec4<f32>) {
    for (var q = 0u; q < 4u; q++) {
        let r = s.at.x + q * s.step.x;
        let p = s.at.y + q * s.step.y;
        b_pipe[half * PIPE_BLOCK + p * 32u + r / 4u][r % 4u] = v[q];
    }
}

@compute @workgroup_size(16, 16, 1)
fn main_pipelined(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = wg.y * 128u;
    let col0 = wg.x * 128u;
    let a_start = params.a_offset + wg.z * params.a_batch;
    let b_start = params.b_offset + wg.z * params.b_batch;
    let sa = pipe_slot(li, params.a_step == 1u);
    let sb = pipe_slot(li, params.b_step == 1u);
    let k_len = part_len(wg.z);
    let steps = (k_len + PIPE_CHUNK - 1u) / PIPE_CHUNK;

    var na = pipe_load_a(sa, row0, 0u, k_len, a_start);
    var nb = pipe_load_b(sb, col0, 0u, k_len, b_start);
    pipe_stage_a(0u, sa, na);
    pipe_stage_b(0u, sb, nb);
    workgroupBarrier();
    var t = Wide();
    for (var s = 0u; s < steps; s++) {
        let half = s % 2u;
        let more = s + 1u < steps;
        if (more) {
            let p0 = (s + 1u) * PIPE_CHUNK;
            na = pipe_load_a(sa, row0, p0, k_len, a_start);
            nb = pipe_load_b(sb, col0, p0, k_len, b_start);
        }
        for (var j = 0u; j < PIPE_CHUNK; j++) {
            let at = half * PIPE_BLOCK + j * 32u;
            let lo = a_pipe[at + lid.y];
            let hi = a_pipe[at + lid.y + 16u];
            let bl = b_pipe[at + lid.x];
            let bh = b_pipe[at + lid.x + 16u];
            t = wide_mac(t, lo, hi, bl, bh);
        }
        // The other pair of blocks was last read in the step before, which every invocation
        // finished at the previous barrier.
        if (more) {
            pipe_stage_a(1u - half, sa, na);
            pipe_stage_b(1u - half, sb, nb);
        }
        workgroupBarrier();
    }
    let lo_row = row0 + 4u * lid.y;
    let lo_col = col0 + 4u * lid.x;
    let base = params.c_offset + wg.z * params.c_batch;
    store_wide(base, vec2<u32>(lo_row, lo_row + 64u), vec2<u32>(lo_col, lo_col + 64u), t);
}
