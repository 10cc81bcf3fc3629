// The register-tiled convolution kernels' tall block: 16 rows x 8 columns per invocation,
// two Tiles over the same columns, so each column value loaded feeds twice the
// multiply-adds of conv_block8.wgsl's block (and, in the subgroup build, the row loads
// shared four ways cost a quarter). The workgroup is WG_X x 1 invocations covering 16 rows;
// invocation x owns rows 0..16 of its workgroup's. Same names as conv_block8.wgsl, and the
// same sums in the same order per output, so the same bits.

const WG_Y: u32 = 1u;

struct Block {
    top: Tile,
    bottom: Tile,
}

struct BlockRows {
    a: Eight,
    b: Eight,
}

fn block_rows(wg: vec3<u32>, lid: vec3<u32>) -> BlockRows {
    let lo = vec4<u32>(wg.y * 16u) + vec4<u32>(0u, 1u, 2u, 3u);
    return BlockRows(Eight(lo, lo + vec4<u32>(4u)), Eight(lo + vec4<u32>(8u), lo + vec4<u32>(12u)));
}

fn row_starts(rows: BlockRows, last: u32, scale: u32, base: u32) -> BlockRows {
    return BlockRows(eight_starts(rows.a, last, scale, base), eight_starts(rows.b, last, scale, base));
}

fn block_mac(b: Block, starts: BlockRows, offset: u32, xl: vec4<f32>, xh: vec4<f32>) -> Block {
    let o = vec4<u32>(offset);
    return Block(
        mac(b.top, row_values(starts.a.lo + o), row_values(starts.a.hi + o), xl, xh),
        mac(b.bottom, row_values(starts.b.lo + o), row_values(starts.b.hi + o), xl, xh),
    );
}

fn store_block(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight, accumulate: bool) {
    store_tile(b.top, rows.a, limit, plane, at, array<f32, 8>(), accumulate);
    store_tile(b.bottom, rows.b, limit, plane, at, array<f32, 8>(), accumulate);
}

fn store_block_biased(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight) {
    store_tile(b.top, rows.a, limit, plane, at, row_biases(rows.a), false);
    store_tile(b.bottom, rows.b, limit, plane, at, row_biases(rows.b), false);
}
