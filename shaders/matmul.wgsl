// Matrix product C = op(A) * op(B), op being identity or transpose, all row-major f32.
//
// Register-blocked: each invocation computes a 4x4 block of C in registers and the workgroup
// uses no shared memory and no barriers, because the software adapters this must run well on
// (SwiftShader in Chromium, lavapipe natively) pay dearly for barriers.
//
// Transposition is expressed as strides, so one pipeline serves all four products a linear
// layer needs: op(A)[row, p] = a[a_base + row * a_row_stride + p * a_step]. Workgroup z
// selects one product of a batch, each operand moving by its own batch stride (0 to share).

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
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// The workgroup is WG x WG invocations; invocation (x, y) owns rows y + WG * i and columns
// x + WG * j, i, j in 0..4, so neighbouring invocations touch neighbouring addresses.
const WG: u32 = 8u;
const BLOCK: u32 = 32u; // WG * 4: rows and columns of C per workgroup

fn store(base: u32, row: u32, col: u32, value: f32) {
    if (row < params.m && col < params.n) {
        c[base + row * params.n + col] = value;
    }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * BLOCK + lid.y;
    let col0 = wg.x * BLOCK + lid.x;
    let rows = vec4<u32>(row0, row0 + WG, row0 + 2u * WG, row0 + 3u * WG);
    let cols = vec4<u32>(col0, col0 + WG, col0 + 2u * WG, col0 + 3u * WG);
    // Out-of-range rows and columns load a valid neighbour instead of branching; their
    // results are never stored.
    let rows_in = min(rows, vec4<u32>(params.m - 1u));
    let cols_in = min(cols, vec4<u32>(params.n - 1u));

    var ia = vec4<u32>(params.a_offset + wg.z * params.a_batch) + rows_in * params.a_row_stride;
    var ib = vec4<u32>(params.b_offset + wg.z * params.b_batch) + cols_in * params.b_col_stride;
    let c_base = params.c_offset + wg.z * params.c_batch;
    let sa = params.a_step;
    let sb = params.b_step;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var p = 0u; p < params.k; p++) {
        let av = vec4<f32>(a[ia.x], a[ia.y], a[ia.z], a[ia.w]);
        let bv = vec4<f32>(b[ib.x], b[ib.y], b[ib.z], b[ib.w]);
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
        ia += vec4<u32>(sa);
        ib += vec4<u32>(sb);
    }

    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let acc = accs[i];
        store(c_base, rows[i], cols.x, acc.x);
        store(c_base, rows[i], cols.y, acc.y);
        store(c_base, rows[i], cols.z, acc.z);
        store(c_base, rows[i], cols.w, acc.w);
    }
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
