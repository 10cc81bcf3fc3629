//! Matrix product C = op(A) * op(B): the launcher for `shaders/matmul.wgsl` and its CPU
//! reference. The three products a linear layer needs are (trans_a, trans_b) =
//! (false, true) forward with PyTorch's [out, in] weights, (false, false) input gradient,
//! (true, false) weight gradient.

use serde::Serialize;

use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Name of this kernel in the dispatch counters.
pub const KERNEL: &str = "matmul";
/// Name of the workgroup-memory variant in the dispatch counters.
pub const SHARED: &str = "matmul_shared";
/// Counter name of the workgroup-memory kernel with 8x8 outputs per invocation.
pub const WIDE: &str = "matmul_wide";
/// Counter name of the pipelined 128x128 workgroup-memory kernel.
pub const PIPELINED: &str = "matmul_pipelined";
/// Name of the one-thread-per-output baseline kept for the benchmark.
pub const NAIVE: &str = "matmul_naive";

/// Rows and columns of C handled by one workgroup (8x8 invocations, 8x8 outputs each).
const BLOCK: u32 = 64;

/// Workgroups a register-blocked product aims for before it splits its inner dimension:
/// enough to keep every core of a software adapter busy (as the conv weight gradient's).
const SPLIT_WORKGROUPS: u32 = 32;

/// Workgroups the `*_split` algorithms aim for before they split the inner dimension: a
/// GPU holds thousands of invocations per multiprocessor and has up to a hundred or more
/// of them, so a 1024^3 product's 256 tiles of 64 x 64 leave most of it idle.
const GPU_SPLIT_WORKGROUPS: u32 = 1024;

/// Workgroups `pipelined_split` aims for: fewer than the other splits', since each part of
/// the pipelined kernel pays for filling its pipeline and a 1024^3 product's 64 tiles in 4
/// parts already give two workgroups to each multiprocessor of a large GPU.
const GPU_PIPELINED_SPLIT_WORKGROUPS: u32 = 256;

/// Fewest inner indices per part of a split product, so that the parts' partial products
/// (written out and added by a second pass) stay small beside the work they save.
const FEWEST_PART_K: u32 = 64;

/// Name of the second pass of a split product in the dispatch counters.
pub const SUM_PARTS: &str = "matmul_sum_parts";

/// Sizes and transposition of one product: C is m x n, the inner dimension is k.
/// A is stored m x k (k x m when `trans_a`), B is k x n (n x k when `trans_b`), row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MatmulShape {
    /// Rows of C.
    pub m: u32,
    /// Columns of C.
    pub n: u32,
    /// Inner dimension.
    pub k: u32,
    /// A is stored transposed (k x m).
    pub trans_a: bool,
    /// B is stored transposed (n x k).
    pub trans_b: bool,
}

impl MatmulShape {
    /// A shape without transposition.
    pub fn new(m: u32, n: u32, k: u32) -> Self {
        MatmulShape {
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
        }
    }

    /// The same sizes with the given transposition.
    pub fn transposed(self, trans_a: bool, trans_b: bool) -> Self {
        MatmulShape {
            trans_a,
            trans_b,
            ..self
        }
    }

    /// Elements of A.
    pub fn a_len(&self) -> usize {
        self.m as usize * self.k as usize
    }

    /// Elements of B.
    pub fn b_len(&self) -> usize {
        self.k as usize * self.n as usize
    }

    /// Elements of C.
    pub fn c_len(&self) -> usize {
        self.m as usize * self.n as usize
    }

    /// Floating-point operations (a multiply and an add per inner-product term).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// Like `C[3x5] = A^T[3x4] * B[4x5]`.
    pub fn describe(&self) -> String {
        let t = |b: bool| if b { "^T" } else { "" };
        format!(
            "C[{m}x{n}] = A{ta}[{m}x{k}] * B{tb}[{k}x{n}]",
            m = self.m,
            n = self.n,
            k = self.k,
            ta = t(self.trans_a),
            tb = t(self.trans_b)
        )
    }
}

wgsl_params! {
    /// Uniforms, laid out as `Params` in the shader.
    struct Params mirrors [crate::shaders::MATMUL] {
        m: u32,
        n: u32,
        k: u32,
        c_offset: u32,
        a_offset: u32,
        a_row_stride: u32,
        a_step: u32,
        b_offset: u32,
        b_col_stride: u32,
        b_step: u32,
        a_batch: u32,
        b_batch: u32,
        c_batch: u32,
        part_k: u32,
        _pad: [u32; 2],
    }
}

/// A batch of equally shaped products: `count` of them, each operand `a`, `b`, `c`
/// elements after the previous one (a stride of 0 shares the operand).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// Products.
    pub count: u32,
    /// Stride of A between products.
    pub a: u32,
    /// Stride of B.
    pub b: u32,
    /// Stride of C.
    pub c: u32,
}

impl Batch {
    /// A single product.
    pub const ONE: Batch = Batch {
        count: 1,
        a: 0,
        b: 0,
        c: 0,
    };
}

impl Params {
    fn new(s: &MatmulShape, batch: &Batch, a_offset: u32, b_offset: u32, c_offset: u32) -> Self {
        // op(A)[row, p] = a[a_offset + row * a_row_stride + p * a_step], likewise B by column.
        let (a_row_stride, a_step) = if s.trans_a { (1, s.m) } else { (s.k, 1) };
        let (b_col_stride, b_step) = if s.trans_b { (s.k, 1) } else { (1, s.n) };
        Params {
            m: s.m,
            n: s.n,
            k: s.k,
            c_offset,
            a_offset,
            a_row_stride,
            a_step,
            b_offset,
            b_col_stride,
            b_step,
            a_batch: batch.a,
            b_batch: batch.b,
            c_batch: batch.c,
            part_k: 0,
            _pad: [0; 2],
        }
    }
}

/// Which kernel computes a product. Which is faster depends on the adapter, so [`choose`]
/// measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatmulAlgorithm {
    /// `main`: 8x8 register blocks, no workgroup memory (software adapters).
    Registers,
    /// `main_shared`: 64x64 workgroup-memory tiles, 4x4 outputs per invocation (real GPUs).
    Shared,
    /// `main_wide`: 128x128 workgroup-memory tiles, 8x8 outputs per invocation (real GPUs,
    /// large products).
    Wide,
    /// `main_wide` with 64-row tiles: twice the workgroups, for products that 128x128 tiles
    /// would leave too few of to fill a GPU.
    WideShort,
    /// The register blocks with the inner dimension split until there are about 1,024
    /// workgroups (a GPU's count; the plain register blocks aim for a CPU's 32).
    RegistersSplit,
    /// `main_shared` with the inner dimension split until there are about 1,024 workgroups.
    SharedSplit,
    /// `main_wide` (128x128) with the inner dimension split until there are about 1,024
    /// workgroups.
    WideSplit,
    /// `main_pipelined`: `main_wide`'s 128x128 tiles with the next step's operands loaded
    /// while the current one is multiplied, into a second pair of staged blocks.
    Pipelined,
    /// `main_pipelined` with the inner dimension split until there are about 256 workgroups.
    PipelinedSplit,
}

impl MatmulAlgorithm {
    /// Every algorithm, the software adapters' first.
    pub const ALL: [MatmulAlgorithm; 9] = [
        MatmulAlgorithm::Registers,
        MatmulAlgorithm::Shared,
        MatmulAlgorithm::Wide,
        MatmulAlgorithm::WideShort,
        MatmulAlgorithm::RegistersSplit,
        MatmulAlgorithm::SharedSplit,
        MatmulAlgorithm::WideSplit,
        MatmulAlgorithm::Pipelined,
        MatmulAlgorithm::PipelinedSplit,
    ];

    /// `registers`, `shared`, `wide`, `wide_short`, `pipelined`, or one of them but
    /// `wide_short` with `_split`.
    pub fn label(&self) -> &'static str {
        match self {
            MatmulAlgorithm::Registers => "registers",
            MatmulAlgorithm::Shared => "shared",
            MatmulAlgorithm::Wide => "wide",
            MatmulAlgorithm::WideShort => "wide_short",
            MatmulAlgorithm::RegistersSplit => "registers_split",
            MatmulAlgorithm::SharedSplit => "shared_split",
            MatmulAlgorithm::WideSplit => "wide_split",
            MatmulAlgorithm::Pipelined => "pipelined",
            MatmulAlgorithm::PipelinedSplit => "pipelined_split",
        }
    }

    /// How this algorithm cuts the inner dimension of `count` products of `shape`.
    pub fn split(&self, shape: &MatmulShape, count: u32) -> Split {
        self.kernel().split(shape, count)
    }

    /// The kernel that runs this algorithm, with the workgroups it splits to reach.
    fn kernel(&self) -> Kernel {
        match self {
            MatmulAlgorithm::Registers => Kernel::Registers(SPLIT_WORKGROUPS),
            MatmulAlgorithm::Shared => Kernel::Shared(0),
            MatmulAlgorithm::Wide => Kernel::Wide(16, 0),
            MatmulAlgorithm::WideShort => Kernel::Wide(8, 0),
            MatmulAlgorithm::RegistersSplit => Kernel::Registers(GPU_SPLIT_WORKGROUPS),
            MatmulAlgorithm::SharedSplit => Kernel::Shared(GPU_SPLIT_WORKGROUPS),
            MatmulAlgorithm::WideSplit => Kernel::Wide(16, GPU_SPLIT_WORKGROUPS),
            MatmulAlgorithm::Pipelined => Kernel::Pipelined(0),
            MatmulAlgorithm::PipelinedSplit => Kernel::Pipelined(GPU_PIPELINED_SPLIT_WORKGROUPS),
        }
    }

    /// A `*_split` algorithm: one that runs its unsplit kernel where it does not split.
    pub fn splits_for_a_gpu(&self) -> bool {
        matches!(
            self,
            MatmulAlgorithm::RegistersSplit
                | MatmulAlgorithm::SharedSplit
                | MatmulAlgorithm::WideSplit
                | MatmulAlgorithm::PipelinedSplit
        )
    }

    /// The algorithm a [`MatmulAlgorithm::label`] names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// The algorithms worth timing on this adapter: the register blocks alone on a software
    /// adapter (workgroup-memory tiles lose there several times over), else all.
    pub fn for_adapter(gpu: &Gpu) -> &'static [MatmulAlgorithm] {
        match gpu.is_software() {
            true => &Self::ALL[..1],
            false => &Self::ALL,
        }
    }
}

/// The kernels a [`Matmul`] can run, and the workgroups a single product splits its
/// inner dimension to reach (0: never split).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Registers(u32),
    Shared(u32),
    /// `main_wide` with this many invocations down (16 or 8).
    Wide(u32, u32),
    Pipelined(u32),
    Naive,
}

impl Kernel {
    /// Workgroups across and down C for a product of `shape`.
    fn blocks(&self, shape: &MatmulShape) -> [u32; 2] {
        match *self {
            Kernel::Registers(_) => RegisterLayout::new(shape).blocks,
            // The 64x64 tile is as large as the register blocks' widest.
            Kernel::Shared(_) => [shape.n.div_ceil(BLOCK), shape.m.div_ceil(BLOCK)],
            // 16 x `down` invocations of 8 x 8 outputs.
            Kernel::Wide(down, _) => [shape.n.div_ceil(8 * 16), shape.m.div_ceil(8 * down)],
            Kernel::Pipelined(_) => [shape.n.div_ceil(128), shape.m.div_ceil(128)],
            Kernel::Naive => [shape.n.div_ceil(8), shape.m.div_ceil(8)],
        }
    }

    /// How the inner dimension of `count` products of `shape` is cut.
    fn split(&self, shape: &MatmulShape, count: u32) -> Split {
        let aim = match *self {
            Kernel::Registers(aim)
            | Kernel::Shared(aim)
            | Kernel::Wide(_, aim)
            | Kernel::Pipelined(aim) => aim,
            Kernel::Naive => 0,
        };
        Split::new(shape, self.blocks(shape), count, aim)
    }
}

/// A prepared matrix product over fixed buffers; record [`Matmul::dispatches`] as often as
/// needed.
#[derive(Debug)]
pub struct Matmul {
    shape: MatmulShape,
    dispatches: Vec<Dispatch>,
}

impl Matmul {
    /// Checks the operands against the shape and the adapter, then builds the dispatch.
    pub fn new(
        gpu: &Gpu,
        shape: MatmulShape,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
    ) -> Result<Matmul, GpuError> {
        Self::build(
            gpu,
            shape,
            Batch::ONE,
            a,
            b,
            c,
            MatmulAlgorithm::Registers.kernel(),
        )
    }

    /// [`Matmul::new`] by the given algorithm (see [`choose`]).
    pub fn new_by(
        gpu: &Gpu,
        algorithm: MatmulAlgorithm,
        shape: MatmulShape,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
    ) -> Result<Matmul, GpuError> {
        Self::batched_by(gpu, algorithm, shape, Batch::ONE, a, b, c)
    }

    /// `batch.count` products in one dispatch (workgroup z picks the product).
    pub fn batched(
        gpu: &Gpu,
        shape: MatmulShape,
        batch: Batch,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
    ) -> Result<Matmul, GpuError> {
        Self::build(
            gpu,
            shape,
            batch,
            a,
            b,
            c,
            MatmulAlgorithm::Registers.kernel(),
        )
    }

    /// [`Matmul::batched`] by the given algorithm.
    pub fn batched_by(
        gpu: &Gpu,
        algorithm: MatmulAlgorithm,
        shape: MatmulShape,
        batch: Batch,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
    ) -> Result<Matmul, GpuError> {
        Self::build(gpu, shape, batch, a, b, c, algorithm.kernel())
    }

    /// The one-thread-per-output baseline, for the benchmark only.
    pub fn naive(
        gpu: &Gpu,
        shape: MatmulShape,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
    ) -> Result<Matmul, GpuError> {
        Self::build(gpu, shape, Batch::ONE, a, b, c, Kernel::Naive)
    }

    fn build(
        gpu: &Gpu,
        shape: MatmulShape,
        batch: Batch,
        a: Operand<'_>,
        b: Operand<'_>,
        c: Operand<'_>,
        variant: Kernel,
    ) -> Result<Matmul, GpuError> {
        if shape.m == 0 || shape.n == 0 || shape.k == 0 {
            return Err(GpuError::launch(
                KERNEL,
                format!("every dimension must be at least 1: {}", shape.describe()),
            ));
        }
        if batch.count == 0 {
            return Err(GpuError::launch(
                KERNEL,
                "a batch needs at least one product",
            ));
        }
        // Extent of each operand over the batch: the last product's start plus one product.
        let extent = |stride: u32, len: usize| (batch.count as usize - 1) * stride as usize + len;
        let params = Params::new(&shape, &batch, a.offset, b.offset, c.offset);
        let c_extent = extent(batch.c, shape.c_len());
        let operands = |kernel: &'static str| {
            Launch::new(gpu, kernel)
                .read(1, "A", a, extent(batch.a, shape.a_len()))?
                .read(2, "B", b, extent(batch.b, shape.b_len()))
        };
        // Each kernel's name, entry point and override constants.
        let (kernel, entry, constants) = match variant {
            Kernel::Registers(_) => {
                let layout = RegisterLayout::new(&shape);
                let constants = vec![("WG_X", layout.across as f64), ("WG_Y", layout.down as f64)];
                (KERNEL, "main", constants)
            }
            Kernel::Wide(down, _) => (
                WIDE,
                "main_wide",
                vec![("WG_X", 16.0), ("WG_Y", down as f64)],
            ),
            Kernel::Shared(_) => (SHARED, "main_shared", Vec::new()),
            Kernel::Pipelined(_) => (PIPELINED, "main_pipelined", Vec::new()),
            Kernel::Naive => (NAIVE, "naive", Vec::new()),
        };
        let blocks = variant.blocks(&shape);
        let split = variant.split(&shape, batch.count);
        let dispatches = match split.parts {
            1 => {
                let launch = operands(kernel)?.write(3, "C", c, c_extent)?;
                let grid = [blocks[0], blocks[1], batch.count];
                vec![launch.dispatch_with(&shaders::MATMUL, entry, &constants, &params, grid)?]
            }
            _ => {
                let first = operands(kernel)?;
                let run = (entry, constants.as_slice(), blocks);
                split_product(gpu, &shape, split, params, first, run, c)?
            }
        };
        Ok(Matmul { shape, dispatches })
    }

    /// The product's shape.
    pub fn shape(&self) -> MatmulShape {
        self.shape
    }

    /// The launches to record, in order: one, or a split product's parts and their sum.
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }
}

/// How the register-blocked kernel covers a product: its workgroup (invocations across and
/// down, each owning 8 x 8 outputs) and the grid of workgroups over C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterLayout {
    /// Invocations across (columns of C): 8, or fewer for a product with few columns.
    pub across: u32,
    /// Invocations down (rows of C).
    pub down: u32,
    /// Workgroups across and down C.
    pub blocks: [u32; 2],
}

impl RegisterLayout {
    /// The layout for a product of this shape.
    pub fn new(shape: &MatmulShape) -> Self {
        // The fewest invocations (a power of two, at most 8) whose 8 outputs each cover len.
        let narrow = |len: u32| len.div_ceil(8).next_power_of_two().min(8);
        let across = narrow(shape.n);
        let down = narrow(shape.m);
        let blocks = [shape.n.div_ceil(8 * across), shape.m.div_ceil(8 * down)];
        RegisterLayout {
            across,
            down,
            blocks,
        }
    }
}

/// How a product's inner dimension is cut: into `parts` of `part_k` indices (the last may
/// have fewer), 1 when not split (always for a batch of products).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Parts of the inner dimension.
    pub parts: u32,
    /// Inner indices per part.
    pub part_k: u32,
}

impl Split {
    /// Few workgroups (`blocks` over C) and a long inner dimension: split it until there
    /// are about `aim` workgroups, each part keeping at least [`FEWEST_PART_K`] indices.
    pub fn new(shape: &MatmulShape, blocks: [u32; 2], count: u32, aim: u32) -> Self {
        let parts = match count {
            1 => aim
                .div_ceil(blocks[0] * blocks[1])
                .min(shape.k / FEWEST_PART_K)
                .max(1),
            _ => 1,
        };
        let part_k = shape.k.div_ceil(parts);
        Split {
            parts: shape.k.div_ceil(part_k),
            part_k,
        }
    }
}

/// The two launches of a split product: the parts into a scratch buffer by `run` (entry
/// point, override constants, workgroups over C; workgroup z picks the part, whose operands
/// start part_k inner indices further on), then their sum into C.
fn split_product(
    gpu: &Gpu,
    shape: &MatmulShape,
    split: Split,
    params: Params,
    operands: Launch<'_>,
    run: (&'static str, &[(&'static str, f64)], [u32; 2]),
    c: Operand<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    let (entry, constants, blocks) = run;
    let len = shape.c_len();
    let scratch_len = split.parts as usize * len;
    let scratch = gpu.storage("matmul parts", (scratch_len * 4) as u64)?;
    let first = Params {
        c_offset: 0,
        a_batch: split.part_k * params.a_step,
        b_batch: split.part_k * params.b_step,
        c_batch: len as u32,
        part_k: split.part_k,
        ..params
    };
    let grid = [blocks[0], blocks[1], split.parts];
    let parts = operands
        .write(3, "C parts", Operand::whole(&scratch), scratch_len)?
        .dispatch_with(&shaders::MATMUL, entry, constants, &first, grid)?;
    let sum = Launch::new(gpu, SUM_PARTS)
        .read(1, "C parts", Operand::whole(&scratch), scratch_len)?
        .write(3, "C", c, len)?;
    let second = Params {
        part_k: split.part_k,
        ..params
    };
    let grid = super::elementwise::grid_1d(gpu, len as u32, 64);
    Ok(vec![
        parts,
        sum.dispatch(&shaders::MATMUL, "sum_parts", &second, grid)?,
    ])
}

/// Times every kernel once on scratch buffers of this shape and batch and returns the
/// fastest on this adapter; on a software adapter the register blocks, untimed (the workgroup-memory
/// kernel's barriers cost software adapters dearly). Remembered on the device like the
/// convolutions' choices (`conv::choose_forward`).
pub async fn choose(
    gpu: &Gpu,
    shape: MatmulShape,
    count: u32,
) -> Result<MatmulAlgorithm, GpuError> {
    let question = format!("matmul {} x{count}", shape.describe());
    let remembered = gpu.remembered_choice(&question);
    if let Some(known) = remembered.as_deref().and_then(MatmulAlgorithm::from_label) {
        return Ok(known);
    }
    let chosen = match gpu.is_software() {
        true => MatmulAlgorithm::Registers,
        false => measure(gpu, shape, count).await?,
    };
    gpu.remember_choice(question, chosen.label().into());
    Ok(chosen)
}

/// The timing behind [`choose`], on any adapter and remembering nothing.
pub async fn measure(
    gpu: &Gpu,
    shape: MatmulShape,
    count: u32,
) -> Result<MatmulAlgorithm, GpuError> {
    let bytes = |len: usize| (len * count.max(1) as usize * 4) as u64;
    let a = gpu.storage("choose A", bytes(shape.a_len()))?;
    let b = gpu.storage("choose B", bytes(shape.b_len()))?;
    let c = gpu.storage("choose C", bytes(shape.c_len()))?;
    let batch = Batch {
        count: count.max(1),
        a: shape.a_len() as u32,
        b: shape.b_len() as u32,
        c: shape.c_len() as u32,
    };
    let mut best = (f64::INFINITY, MatmulAlgorithm::Registers);
    for algorithm in MatmulAlgorithm::ALL {
        // A split variant that does not split this product is its unsplit kernel, timed
        // already.
        if algorithm.splits_for_a_gpu() && algorithm.split(&shape, count).parts == 1 {
            continue;
        }
        let w = Operand::whole;
        let op = Matmul::batched_by(gpu, algorithm, shape, batch, w(&a), w(&b), w(&c))?;
        let ms = crate::gpu::timing::ms_per_run_to_beat(
            gpu,
            &op.dispatches().iter().collect::<Vec<_>>(),
            best.0,
        )
        .await?;
        if ms < best.0 {
            best = (ms, algorithm);
        }
    }
    Ok(best.1)
}

/// CPU reference: C = op(A) * op(B) accumulated in f64, from row-major A and B stored as
/// `shape` says.
pub fn reference(shape: &MatmulShape, a: &[f32], b: &[f32]) -> Vec<f64> {
    let (m, n, k) = (shape.m as usize, shape.n as usize, shape.k as usize);
    assert_eq!(
        a.len(),
        m * k,
        "A has the wrong length for {}",
        shape.describe()
    );
    assert_eq!(
        b.len(),
        k * n,
        "B has the wrong length for {}",
        shape.describe()
    );
    // op(A) row-major and op(B) column-major (op(B)^T row-major), so the inner loop walks
    // contiguous memory.
    let a_rows = materialise(a, m, k, shape.trans_a);
    let b_cols = materialise(b, n, k, !shape.trans_b);
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        let row = &a_rows[i * k..(i + 1) * k];
        for j in 0..n {
            let col = &b_cols[j * k..(j + 1) * k];
            c[i * n + j] = row.iter().zip(col).map(|(x, y)| x * y).sum();
        }
    }
    c
}

/// X as a rows x cols row-major f64 matrix, X being stored row-major as rows x cols, or as
/// cols x rows when `transposed`.
fn materialise(x: &[f32], rows: usize, cols: usize, transposed: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let v = if transposed {
                x[c * rows + r]
            } else {
                x[r * cols + c]
            };
            out.push(v as f64);
        }
    }
    out
}
