//! The WGSL sources, one file per op family under `shaders/`, embedded at build time.

/// One WGSL module: a name for caches, counters and messages, and its source.
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    /// Short unique name (the file stem).
    pub name: &'static str,
    /// The WGSL text.
    pub source: &'static str,
}

/// Matrix products: `shaders/matmul.wgsl`, after the register tile of `shaders/tile.wgsl`.
pub const MATMUL: Shader = Shader {
    name: "matmul",
    source: concat!(
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/matmul.wgsl")
    ),
};

/// 2-D convolution, forward and backward: `shaders/conv.wgsl`, after the register tile of
/// `shaders/tile.wgsl`, the uniform of `shaders/conv_params.wgsl`, the plain row loads of
/// `shaders/conv_rows.wgsl` and the 16-row block of `shaders/conv_block16.wgsl`.
pub const CONV: Shader = Shader {
    name: "conv",
    source: concat!(
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows.wgsl"),
        include_str!("../shaders/conv_block16.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The same kernels with the 8-row block of `shaders/conv_block8.wgsl` (`conv::RegisterBlock`).
pub const CONV_SHORT: Shader = Shader {
    name: "conv_short",
    source: concat!(
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows.wgsl"),
        include_str!("../shaders/conv_block8.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The same kernels with the 32-row block of `shaders/conv_block32.wgsl`.
pub const CONV_TALL: Shader = Shader {
    name: "conv_tall",
    source: concat!(
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows.wgsl"),
        include_str!("../shaders/conv_block32.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The 16-row kernels with their row loads shared by subgroup broadcast
/// (`shaders/conv_rows_subgroup.wgsl`): browsers only, where the adapter has subgroups of
/// four lanes (`Gpu::subgroup_rows`); naga does not take `enable subgroups`.
pub const CONV_SUBGROUP: Shader = Shader {
    name: "conv_subgroup",
    source: concat!(
        "enable subgroups;\n",
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows_subgroup.wgsl"),
        include_str!("../shaders/conv_block16.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The 8-row kernels with their row loads shared by subgroup broadcast.
pub const CONV_SUBGROUP_SHORT: Shader = Shader {
    name: "conv_subgroup_short",
    source: concat!(
        "enable subgroups;\n",
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows_subgroup.wgsl"),
        include_str!("../shaders/conv_block8.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The 32-row kernels with their row loads shared by subgroup broadcast.
pub const CONV_SUBGROUP_TALL: Shader = Shader {
    name: "conv_subgroup_tall",
    source: concat!(
        "enable subgroups;\n",
        include_str!("../shaders/tile.wgsl"),
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_rows_subgroup.wgsl"),
        include_str!("../shaders/conv_block32.wgsl"),
        include_str!("../shaders/conv.wgsl")
    ),
};

/// The workgroup-memory tiled convolution kernels for real GPUs: `shaders/conv_shared.wgsl`,
/// after the uniform of `shaders/conv_params.wgsl`.
pub const CONV_SHARED: Shader = Shader {
    name: "conv_shared",
    source: concat!(
        include_str!("../shaders/conv_params.wgsl"),
        include_str!("../shaders/conv_shared.wgsl")
    ),
};

/// ReLU, residual add, bias add: `shaders/elementwise.wgsl`.
pub const ELEMENTWISE: Shader = Shader {
    name: "elementwise",
    source: include_str!("../shaders/elementwise.wgsl"),
};

/// Softmax cross-entropy and metric accumulation: `shaders/loss.wgsl`.
pub const LOSS: Shader = Shader {
    name: "loss",
    source: include_str!("../shaders/loss.wgsl"),
};

/// SGD with momentum, Nesterov and weight decay: `shaders/optim.wgsl`.
pub const OPTIM: Shader = Shader {
    name: "optim",
    source: include_str!("../shaders/optim.wgsl"),
};

/// Max, average and global average pooling: `shaders/pool.wgsl`.
pub const POOL: Shader = Shader {
    name: "pool",
    source: include_str!("../shaders/pool.wgsl"),
};

/// Batch normalisation, training and inference, forward and backward: `shaders/norm.wgsl`,
/// then its fusion with ReLU and max pooling, `shaders/norm_pool.wgsl`.
pub const NORM: Shader = Shader {
    name: "norm",
    source: concat!(
        include_str!("../shaders/norm.wgsl"),
        include_str!("../shaders/norm_pool.wgsl")
    ),
};

/// Batch gather with augmentation and normalisation: `shaders/data.wgsl`.
pub const DATA: Shader = Shader {
    name: "data",
    source: include_str!("../shaders/data.wgsl"),
};

/// Snapshot-ensemble softmax accumulation, votes and predictions: `shaders/ensemble.wgsl`.
pub const ENSEMBLE: Shader = Shader {
    name: "ensemble",
    source: include_str!("../shaders/ensemble.wgsl"),
};

/// Running averages of flat buffers (SWA's weights and batch-norm statistics):
/// `shaders/average.wgsl`.
pub const AVERAGE: Shader = Shader {
    name: "average",
    source: include_str!("../shaders/average.wgsl"),
};

/// Every module, for the hash that ties measured kernel choices to these sources.
pub const ALL: [Shader; 16] = [
    MATMUL,
    CONV,
    CONV_SHORT,
    CONV_TALL,
    CONV_SUBGROUP,
    CONV_SUBGROUP_SHORT,
    CONV_SUBGROUP_TALL,
    CONV_SHARED,
    ELEMENTWISE,
    LOSS,
    OPTIM,
    POOL,
    NORM,
    DATA,
    ENSEMBLE,
    AVERAGE,
];
