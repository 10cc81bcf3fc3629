// The uniform of every convolution kernel (conv.wgsl, conv_shared.wgsl), prepended to both
// by src/shaders.rs and mirrored by `Params` in src/kernels/conv.rs.

struct Conv {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    k: u32,
    r: u32, // kernel height
    s: u32, // kernel width
    stride: u32,
    pad: u32,
    p: u32, // output height
    q: u32, // output width
    x_channels: u32,
    y_channels: u32,
    y_first: u32,
    x_offset: u32,
    w_offset: u32,
    y_offset: u32,
    b_offset: u32,
    flags: u32, // bit 0: add bias (forward); bit 1: accumulate into dx (input_grad)
    split: u32, // weight_grad: images per workgroup z; weight_grad_shared: positions (n, p, q)
    parts: u32, // weight_grad_sum: the parts to add (split = 1 part)
}
