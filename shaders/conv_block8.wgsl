// The register-tiled convolution kernels' short block: 8 rows x 8 columns per invocation,
// one Tile. The workgroup is WG_X x 2 invocations covering 16 rows; invocation (x, y) owns
// rows y + 2 i, i in 0..8. Same names as conv_block16.wgsl (see there), and the same bits.
// SwiftShader ran 16-channel layers faster with it than with the 16-row block, so the
// choice between the two is measured per device (`conv::choose_register_block`).

const WG_Y: u32 = 2u;

struct Block {
    t: Tile,
}

struct BlockRows {
    a: Eight,
}

fn block_rows(wg: vec3<u32>, lid: vec3<u32>) -> BlockRows {
    let lo = vec4<u32>(wg.y * 8u * WG_Y + lid.y) + vec4<u32>(0u, WG_Y, 2u * WG_Y, 3u * WG_Y);
    return BlockRows(Eight(lo, lo + vec4<u32>(4u * WG_Y)));
}

fn row_starts(rows: BlockRows, last: u32, scale: u32, base: u32) -> BlockRows {
    return BlockRows(eight_starts(rows.a, last, scale, base));
}

fn block_mac(b: Block, starts: BlockRows, offset: u32, xl: vec4<f32>, xh: vec4<f32>) -> Block {
    let o = vec4<u32>(offset);
    return Block(mac(b.t, row_values(starts.a.lo + o), row_values(starts.a.hi + o), xl, xh));
}

fn store_block(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight, accumulate: bool) {
    store_tile(b.t, rows.a, limit, plane, at, array<f32, 8>(), accumulate);
}

fn store_block_biased(b: Block, rows: BlockRows, limit: u32, plane: u32, at: Eight) {
    store_tile(b.t, rows.a, limit, plane, at, row_biases(rows.a), false);
}
