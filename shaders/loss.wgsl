// Softmax cross-entropy on logits, and on-GPU accumulation of loss and accuracy so the
// trainer reads metrics back only every few steps.

struct Loss {
    n: u32,
    classes: u32,
    logits_offset: u32,
    labels_offset: u32,
    grad_offset: u32,
    stats_offset: u32,
    metrics_offset: u32,
    grad_scale: f32, // 1 / batch for a mean loss
    guard_offset: u32, // the divergence flag (see optim.wgsl) in guard
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> ls: Loss;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
// Per sample: loss, then 1 if the argmax is the label else 0.
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

// One invocation per sample. Subtracting the row maximum keeps exp() finite for logits of
// any magnitude; the loss is log(sum exp(z - max)) - (z_label - max).
@compute @workgroup_size(64, 1, 1)
fn softmax_cross_entropy(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= ls.n) {
        return;
    }
    let base = ls.logits_offset + i * ls.classes;
    var top = logits[base];
    var arg = 0u;
    for (var c = 1u; c < ls.classes; c++) {
        let v = logits[base + c];
        if (v > top) {
            top = v;
            arg = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < ls.classes; c++) {
        sum += exp(logits[base + c] - top);
    }
    // Labels are validated when data is loaded; clamping keeps a bad one in bounds.
    let label = min(labels[ls.labels_offset + i], ls.classes - 1u);
    let gbase = ls.grad_offset + i * ls.classes;
    for (var c = 0u; c < ls.classes; c++) {
        let p = exp(logits[base + c] - top) / sum;
        grad[gbase + c] = (p - select(0.0, 1.0, c == label)) * ls.grad_scale;
    }
    stats[ls.stats_offset + 2u * i] = log(sum) - (logits[base + label] - top);
    stats[ls.stats_offset + 2u * i + 1u] = select(0.0, 1.0, arg == label);
}

// metrics[0] += sum of losses, metrics[1] += correct predictions, metrics[2] += samples.
// One workgroup; a fixed-order tree keeps the sums bitwise reproducible (no atomics). A
// batch loss that is NaN or infinite sets the divergence guard, so the optimizer skips
// this step and every later one until the trainer resumes.
@group(0) @binding(5) var<storage, read> stats_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> metrics: array<f32>;
@group(0) @binding(7) var<storage, read_write> guard: array<f32>;

const REDUCE: u32 = 256u;
var<workgroup> loss_part: array<f32, 256>;
var<workgroup> correct_part: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn accumulate_metrics(@builtin(local_invocation_id) lid: vec3<u32>) {
    var loss = 0.0;
    var correct = 0.0;
    for (var i = lid.x; i < ls.n; i += REDUCE) {
        loss += stats_in[ls.stats_offset + 2u * i];
        correct += stats_in[ls.stats_offset + 2u * i + 1u];
    }
    loss_part[lid.x] = loss;
    correct_part[lid.x] = correct;
    workgroupBarrier();
    for (var width = REDUCE / 2u; width > 0u; width /= 2u) {
        if (lid.x < width) {
            loss_part[lid.x] += loss_part[lid.x + width];
            correct_part[lid.x] += correct_part[lid.x + width];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        if ((bitcast<u32>(loss_part[0]) & 0x7f800000u) == 0x7f800000u) {
            guard[ls.guard_offset] = 1.0;
        }
        metrics[ls.metrics_offset] += loss_part[0];
        metrics[ls.metrics_offset + 1u] += correct_part[0];
        metrics[ls.metrics_offset + 2u] += f32(ls.n);
    }
}
