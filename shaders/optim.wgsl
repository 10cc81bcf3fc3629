// SGD with PyTorch's semantics over a range of the flat parameter buffer:
//   d = g + wd * p;  buf = mu * buf + d (buf = d on the first step);
//   d = d + mu * buf (Nesterov) or d = buf;  p -= lr * d
// The learning rate is read per parameter block (FreezeOut gives each block its own).

struct Sgd {
    start: u32, // first element updated
    end: u32, // one past the last
    blocks: u32, // entries in block_starts minus one
    first_step: u32,
    momentum: f32,
    weight_decay: f32,
    nesterov: u32,
    starts_offset: u32, // element offset of block_starts in its buffer
    lrs_offset: u32, // element offset of lrs in its buffer
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> opt: Sgd;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
// block_starts[b] is the first element of block b; block_starts[blocks] the total.
@group(0) @binding(2) var<storage, read> block_starts: array<u32>;
@group(0) @binding(3) var<storage, read> lrs: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: array<f32>;
@group(0) @binding(5) var<storage, read_write> momentum: array<f32>;

const WG: u32 = 256u;

// The block holding element i: the last b with block_starts[b] <= i.
fn block_of(i: u32) -> u32 {
    var lo = 0u;
    var hi = opt.blocks; // invariant: block_starts[lo] <= i < block_starts[hi]
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (block_starts[opt.starts_offset + mid] <= i) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(256, 1, 1)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = opt.start + gid.x + gid.y * nwg.x * WG;
    if (i >= opt.end) {
        return;
    }
    let lr = lrs[opt.lrs_offset + block_of(i)];
    let p = params[i];
    var d = grads[i] + opt.weight_decay * p;
    let buf = select(opt.momentum * momentum[i] + d, d, opt.first_step != 0u);
    momentum[i] = buf;
    d = select(buf, d + opt.momentum * buf, opt.nesterov != 0u);
    params[i] = p - lr * d;
}
