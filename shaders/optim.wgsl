// SGD with PyTorch's semantics over a range of the flat parameter buffer:
//   d = g + wd * p;  buf = mu * buf + d (buf = d on the first step);
//   d = d + mu * buf (Nesterov) or d = buf;  p -= lr * d
// The learning rate is read per parameter block (FreezeOut gives each block its own).
//
// Divergence guard: a flag word (guard[guard_offset], 0 while training is healthy) that the
// forward pass's batch norms, the loss and check_finite below set to 1 when they see a NaN
// or an infinity. SGD updates nothing while it is set, so the weights, momentum and running
// statistics stay those of the last good step, and the trainer can resume from there with
// a lower learning rate.

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
    guard_offset: u32, // element offset of the divergence flag in guard
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
@group(0) @binding(6) var<storage, read_write> guard: array<f32>;

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
    if (i >= opt.end || guard[opt.guard_offset] != 0.0) {
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

// Not a number or an infinity: every exponent bit set.
fn non_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// Sets the guard if any gradient in start..end is NaN or infinite: one invocation per
// gradient, over as many workgroups as the sgd pass (a single workgroup looping over every
// gradient took a millisecond of a ResNet-20 step on a real GPU). Every invocation that
// finds one writes the same 1.0, so concurrent writes cannot disagree; the flag is only
// ever set here, never cleared. No workgroup memory and no barrier, which software
// adapters punish.
@compute @workgroup_size(256, 1, 1)
fn check_finite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = opt.start + gid.x + gid.y * nwg.x * WG;
    if (i < opt.end && non_finite(grads[i])) {
        guard[opt.guard_offset] = 1.0;
    }
}
