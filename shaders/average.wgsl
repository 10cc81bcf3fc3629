// Running average of a flat buffer, one element per invocation:
//   avg = avg * (1 - weight) + (scale * x) * weight,   weight = 1 / (n + 1)
// with n the values averaged so far. SWA's average of the weights takes scale 1; the
// averaged model's batch-norm statistics, an equal-weight mean over batches, take the
// statistics a batch leaves in running buffers cleared before it (momentum x the batch's
// value) with scale 1 / momentum.

struct Average {
    len: u32,
    x_offset: u32,
    avg_offset: u32,
    _pad0: u32,
    weight: f32,
    scale: f32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> av: Average;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> avg: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn running_average(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= av.len) {
        return;
    }
    let a = avg[av.avg_offset + i];
    avg[av.avg_offset + i] = a * (1.0 - av.weight) + (av.scale * x[av.x_offset + i]) * av.weight;
}
