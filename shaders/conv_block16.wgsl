// The register-tiled convolution kernels' block of outputs per invocation: 16 rows x 8
// columns, two Tiles over the same columns. Prepended to conv.wgsl by src/shaders.rs, like
// the 8-row (conv_block8.wgsl) and 32-row (conv_block32.wgsl) blocks, which define the same
// names. A taller block multiplies each column value it loads by more rows (and, in the
// subgroup build, its row loads are shared four ways), and loads bound these kernels on the
// software adapters. Every block computes each output by the same sum in the same order, so
// all give the same bits. The workgroup is WG_X x 1 invocations covering 16 rows; invocation
// x owns rows 0..16 of its workgroup's.

const WG_Y: u32 = 1u;

struct Block {
    top: Tile,
    bottom: Tile,
}

// The invocation's rows, or one value per row (a row's start in the row operand).
struct BlockRows {
    a: Eight,
    b: Eight,
}

fn block_rows(wg: vec3<u32>, lid: vec3<u32>) -> BlockRows {
    let lo = vec4<u32>(wg.y * 16u) + vec4<u32>(0u, 1u, 2u, 3u);
    return BlockRows(Eight(lo, lo + vec4<u32>(4u)), Eight(lo + vec4<u32>(8u), lo + vec4<u32>(12u)));
}

// base + min(row, last) * scale for every row: each row's start in the row operand, rows past
// the last reading the last one (their results are not stored).
fn row_starts(rows: BlockRows, last: u32, scale: u32, base: u32) -> BlockRows {
    return BlockRows(eight_starts(rows.a, last, scale, base), eight_starts(rows.b, last, scale, base));
}

// One step of the inner dimension: the row operand at each row's start + offset, times the
// column values xl, xh.
fn block_mac(b: Block, starts: BlockRows, offset: u32, xl: vec4<f32>, xh: vec4<f32>) -> Block {
    let o = vec4<u32>(offset);
    return Block(
        mac(b.top, row_values(starts.a.lo + o), row_values(starts.a.hi + o), xl, xh),
        mac(b.bottom, row_values(starts.b.lo + o), row_values(starts.b.hi + o), xl, xh),
    );
}

// The block's outputs: rows below `limit`, columns where `at` is valid, added to what out
// holds when accumulating.
fn store_block(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight, accumulate: bool) {
    store_tile(b.top, rows.a, limit, plane, at, array<f32, 8>(), accumulate);
    store_tile(b.bottom, rows.b, limit, plane, at, array<f32, 8>(), accumulate);
}

// The same with each row's bias added (the forward).
fn store_block_biased(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight) {
    store_tile(b.top, rows.a, limit, plane, at, row_biases(rows.a), false);
    store_tile(b.bottom, rows.b, limit, plane, at, row_biases(rows.b), false);
}
