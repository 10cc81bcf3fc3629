// Snapshot-ensemble evaluation: each snapshot's logits add their softmax into a running
// sum and cast a vote (its argmax); the ensemble's prediction is the argmax of the sum
// (the mean's argmax). One invocation per sample, so sums are reproducible.

struct Ensemble {
    n: u32,
    classes: u32,
    logits_offset: u32,
    sum_offset: u32,
    votes_offset: u32, // where this snapshot's votes go
    pred_offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> en: Ensemble;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs_sum: array<f32>;
@group(0) @binding(3) var<storage, read_write> votes: array<u32>;

// probs_sum += softmax(logits); votes[i] = argmax(logits) (first maximum on ties).
@compute @workgroup_size(64, 1, 1)
fn softmax_accumulate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= en.n) {
        return;
    }
    let base = en.logits_offset + i * en.classes;
    var top = logits[base];
    var arg = 0u;
    for (var c = 1u; c < en.classes; c++) {
        let v = logits[base + c];
        if (v > top) {
            top = v;
            arg = c;
        }
    }
    var sum = 0.0;
    for (var c = 0u; c < en.classes; c++) {
        sum += exp(logits[base + c] - top);
    }
    let sbase = en.sum_offset + i * en.classes;
    for (var c = 0u; c < en.classes; c++) {
        probs_sum[sbase + c] += exp(logits[base + c] - top) / sum;
    }
    votes[en.votes_offset + i] = arg;
}

@group(0) @binding(4) var<storage, read> sums_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> predictions: array<u32>;

// predictions[i] = argmax of the summed probabilities (first maximum on ties).
@compute @workgroup_size(64, 1, 1)
fn ensemble_predict(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= en.n) {
        return;
    }
    let base = en.sum_offset + i * en.classes;
    var top = sums_in[base];
    var arg = 0u;
    for (var c = 1u; c < en.classes; c++) {
        let v = sums_in[base + c];
        if (v > top) {
            top = v;
            arg = c;
        }
    }
    predictions[en.pred_offset + i] = arg;
}
