// Batch gather and augmentation from the u8 dataset kept on the GPU: a shuffled index list
// in, a normalised f32 batch and u32 labels out. Augmentation is a random crop from the
// image zero-padded by `pad` pixels (as torchvision's RandomCrop(size, padding)) and an
// optional horizontal flip, drawn from a counter-based hash of (seed, epoch, image): the
// same image in the same epoch gets the same crop wherever it lands in the batch, on every
// platform.

struct Gather {
    batch: u32,
    channels: u32,
    h: u32,
    w: u32,
    pad: u32,
    flags: u32, // bit 0: random crop; bit 1: random horizontal flip
    seed: u32,
    epoch: u32,
    index_offset: u32, // first entry of the index list for this batch
    out_offset: u32,
    label_offset: u32,
    images_offset: u32, // words
    labels_in_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    mean: vec4<f32>, // per channel, on the 0..1 scale
    inv_std: vec4<f32>,
}

const CROP: u32 = 1u;
const FLIP: u32 = 2u;

@group(0) @binding(0) var<uniform> g: Gather;
@group(0) @binding(1) var<storage, read> images: array<u32>; // bytes, 4 per word, little-endian
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> indices: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_labels: array<u32>;

const WG: u32 = 256u;

// A 32-bit integer hash with good avalanche (two multiply-xorshift rounds).
fn mix(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

fn pixel(byte_index: u32) -> u32 {
    return (images[g.images_offset + byte_index / 4u] >> (8u * (byte_index % 4u))) & 0xffu;
}

@compute @workgroup_size(256, 1, 1)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let plane = g.h * g.w;
    let per_image = g.channels * plane;
    if (i >= g.batch * per_image) {
        return;
    }
    let b = i / per_image;
    let rem = i - b * per_image;
    let c = rem / plane;
    let pos = rem - c * plane;
    let y = pos / g.w;
    var x = pos - y * g.w;
    let image = indices[g.index_offset + b];

    // Three draws from the (seed, epoch, image) key.
    let h1 = mix(g.seed ^ mix(g.epoch ^ mix(image)));
    let h2 = mix(h1);
    let h3 = mix(h2);
    let span = 2u * g.pad + 1u;
    let crop = (g.flags & CROP) != 0u;
    let oy = select(g.pad, h1 % span, crop); // offset into the padded image
    let ox = select(g.pad, h2 % span, crop);
    if ((g.flags & FLIP) != 0u && (h3 & 1u) == 1u) {
        x = g.w - 1u - x;
    }
    // Source pixel in the unpadded image; outside it the padding is black (0).
    let sy = i32(y + oy) - i32(g.pad);
    let sx = i32(x + ox) - i32(g.pad);
    let inside = sy >= 0 && sy < i32(g.h) && sx >= 0 && sx < i32(g.w);
    let byte_index = select(0u, image * per_image + c * plane + u32(sy) * g.w + u32(sx), inside);
    let value = f32(select(0u, pixel(byte_index), inside)) / 255.0;
    out[g.out_offset + i] = (value - g.mean[c]) * g.inv_std[c];
    if (rem == 0u) {
        out_labels[g.label_offset + b] = labels[g.labels_in_offset + image];
    }
}
