// The register-tiled convolution kernels' 32-row block: 32 rows x 8 columns per invocation,
// four Tiles over the same columns (see conv_block16.wgsl for the names). The workgroup is
// WG_X x 1 invocations covering 32 rows. For layers of 17-32, 49-64, ... channels, where
// it computes no more idle rows than the 16-row block.

const WG_Y: u32 = 1u;

struct Block {
    a: Tile,
    b: Tile,
    c: Tile,
    d: Tile,
}

struct BlockRows {
    a: Eight,
    b: Eight,
    c: Eight,
    d: Eight,
}

fn block_rows(wg: vec3<u32>, lid: vec3<u32>) -> BlockRows {
    let lo = vec4<u32>(wg.y * 32u) + vec4<u32>(0u, 1u, 2u, 3u);
    return BlockRows(
        Eight(lo, lo + vec4<u32>(4u)),
        Eight(lo + vec4<u32>(8u), lo + vec4<u32>(12u)),
        Eight(lo + vec4<u32>(16u), lo + vec4<u32>(20u)),
        Eight(lo + vec4<u32>(24u), lo + vec4<u32>(28u)),
    );
}

fn row_starts(rows: BlockRows, last: u32, scale: u32, base: u32) -> BlockRows {
    return BlockRows(
        eight_starts(rows.a, last, scale, base),
        eight_starts(rows.b, last, scale, base),
        eight_starts(rows.c, last, scale, base),
        eight_starts(rows.d, last, scale, base),
    );
}

fn block_mac(b: Block, starts: BlockRows, offset: u32, xl: vec4<f32>, xh: vec4<f32>) -> Block {
    let o = vec4<u32>(offset);
    return Block(
        mac(b.a, row_values(starts.a.lo + o), row_values(starts.a.hi + o), xl, xh),
        mac(b.b, row_values(starts.b.lo + o), row_values(starts.b.hi + o), xl, xh),
        mac(b.c, row_values(starts.c.lo + o), row_values(starts.c.hi + o), xl, xh),
        mac(b.d, row_values(starts.d.lo + o), row_values(starts.d.hi + o), xl, xh),
    );
}

fn store_block(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight, accumulate: bool) {
    store_tile(b.a, rows.a, limit, plane, at, array<f32, 8>(), accumulate);
    store_tile(b.b, rows.b, limit, plane, at, array<f32, 8>(), accumulate);
    store_tile(b.c, rows.c, limit, plane, at, array<f32, 8>(), accumulate);
    store_tile(b.d, rows.d, limit, plane, at, array<f32, 8>(), accumulate);
}

fn store_block_biased(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight) {
    store_tile(b.a, rows.a, limit, plane, at, row_biases(rows.a), false);
    store_tile(b.b, rows.b, limit, plane, at, row_biases(rows.b), false);
    store_tile(b.c, rows.c, limit, plane, at, row_biases(rows.c), false);
    store_tile(b.d, rows.d, limit, plane, at, row_biases(rows.d), false);
}
