//! Pooling (`shaders/pool.wgsl`): max 2x2/2, average 2x2/2 and global average, forward and
//! backward, with CPU references. Gradients mirror their tensors: dx at x's offset, dy at
//! y's.

use serde::Serialize;

use super::elementwise::grid_1d;
use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// 2x2 windows, stride 2, maximum (floor mode).
    Max,
    /// 2x2 windows, stride 2, mean (floor mode).
    Avg,
    /// The whole plane, mean.
    Global,
}

impl PoolKind {
    /// The forward kernel's counter name (also its entry point).
    pub fn forward_kernel(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool",
            PoolKind::Avg => "avg_pool",
            PoolKind::Global => "global_avg_pool",
        }
    }

    /// The backward kernel's counter name (also its entry point).
    pub fn backward_kernel(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pool_grad",
            PoolKind::Avg => "avg_pool_grad",
            PoolKind::Global => "global_avg_pool_grad",
        }
    }
}

/// The input's sizes, NCHW.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PoolShape {
    /// Batch.
    pub n: u32,
    /// Channels.
    pub c: u32,
    /// Height.
    pub h: u32,
    /// Width.
    pub w: u32,
}

impl PoolShape {
    /// Output height and width.
    pub fn out_hw(&self, kind: PoolKind) -> (u32, u32) {
        match kind {
            PoolKind::Global => (1, 1),
            _ => (self.h / 2, self.w / 2),
        }
    }

    /// Input elements.
    pub fn x_len(&self) -> usize {
        [self.n, self.c, self.h, self.w]
            .iter()
            .map(|&v| v as usize)
            .product()
    }

    /// Output elements.
    pub fn y_len(&self, kind: PoolKind) -> usize {
        let (p, q) = self.out_hw(kind);
        self.n as usize * self.c as usize * p as usize * q as usize
    }
}

wgsl_params! {
    struct Params mirrors [crate::shaders::POOL] {
        planes: u32,
        h: u32,
        w: u32,
        p: u32,
        q: u32,
        in_offset: u32,
        out_offset: u32,
        _pad: u32,
    }
}

fn params(
    kind: PoolKind,
    s: &PoolShape,
    in_offset: u32,
    out_offset: u32,
) -> Result<Params, GpuError> {
    let kernel = kind.forward_kernel();
    if [s.n, s.c, s.h, s.w].contains(&0) {
        return Err(GpuError::launch(kernel, format!("empty input {s:?}")));
    }
    if kind != PoolKind::Global && (s.h < 2 || s.w < 2) {
        return Err(GpuError::launch(
            kernel,
            format!("a {}x{} input is smaller than the 2x2 window", s.h, s.w),
        ));
    }
    let (p, q) = s.out_hw(kind);
    Ok(Params {
        planes: s.n * s.c,
        h: s.h,
        w: s.w,
        p,
        q,
        in_offset,
        out_offset,
        _pad: 0,
    })
}

/// y = pool(x).
pub fn forward(
    gpu: &Gpu,
    kind: PoolKind,
    shape: PoolShape,
    x: Operand<'_>,
    y: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = kind.forward_kernel();
    let p = params(kind, &shape, x.offset, y.offset)?;
    let launch = Launch::new(gpu, kernel)
        .read(1, "x", x, shape.x_len())?
        .write(3, "y", y, shape.y_len(kind))?;
    let work = if kind == PoolKind::Global {
        p.planes
    } else {
        shape.y_len(kind) as u32
    };
    launch.dispatch(&shaders::POOL, kernel, &p, grid_1d(gpu, work, 256))
}

/// dx = the gradient through the pooling from dy; max pooling also needs the input x, at
/// the same offset in its buffer as dx in its own.
pub fn backward(
    gpu: &Gpu,
    kind: PoolKind,
    shape: PoolShape,
    dy: Operand<'_>,
    x: Option<Operand<'_>>,
    dx: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let kernel = kind.backward_kernel();
    let p = params(kind, &shape, dx.offset, dy.offset)?;
    let mut launch = Launch::new(gpu, kernel)
        .read(1, "dy", dy, shape.y_len(kind))?
        .write(3, "dx", dx, shape.x_len())?;
    match (kind, x) {
        (PoolKind::Max, Some(x)) => {
            if x.offset != dx.offset {
                return Err(GpuError::launch(
                    kernel,
                    "x and dx must sit at the same offset in their buffers",
                ));
            }
            launch = launch.read(2, "x", x, shape.x_len())?;
        }
        (PoolKind::Max, None) => {
            return Err(GpuError::launch(
                kernel,
                "max pooling's gradient needs its input x",
            ))
        }
        _ => {}
    }
    // Max pooling's gradient runs one invocation per 2x2 block of dx.
    let work = match kind {
        PoolKind::Max => {
            (shape.n * shape.c) as usize * (shape.h.div_ceil(2) * shape.w.div_ceil(2)) as usize
        }
        _ => shape.x_len(),
    };
    launch.dispatch(&shaders::POOL, kernel, &p, grid_1d(gpu, work as u32, 256))
}

/// Input indices of output (plane, oy, ox)'s window, row-major; the whole plane for global.
fn window(kind: PoolKind, s: &PoolShape, plane: usize, oy: usize, ox: usize) -> Vec<usize> {
    let (h, w) = (s.h as usize, s.w as usize);
    match kind {
        PoolKind::Global => (plane * h * w..(plane + 1) * h * w).collect(),
        _ => (0..4)
            .map(|k| (plane * h + 2 * oy + k / 2) * w + 2 * ox + k % 2)
            .collect(),
    }
}

fn for_each_output(kind: PoolKind, s: &PoolShape, mut f: impl FnMut(usize, Vec<usize>)) {
    let (p, q) = s.out_hw(kind);
    let (p, q) = (p as usize, q as usize);
    for plane in 0..(s.n * s.c) as usize {
        for oy in 0..p {
            for ox in 0..q {
                f((plane * p + oy) * q + ox, window(kind, s, plane, oy, ox));
            }
        }
    }
}

/// CPU reference forward.
pub fn forward_reference(kind: PoolKind, s: &PoolShape, x: &[f64]) -> Vec<f64> {
    let mut y = vec![0f64; s.y_len(kind)];
    for_each_output(kind, s, |o, win| {
        y[o] = match kind {
            PoolKind::Max => win.iter().map(|&i| x[i]).fold(f64::NEG_INFINITY, f64::max),
            _ => win.iter().map(|&i| x[i]).sum::<f64>() / win.len() as f64,
        };
    });
    y
}

/// CPU reference backward: max routes dy to each window's first maximum.
pub fn backward_reference(kind: PoolKind, s: &PoolShape, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dx = vec![0f64; s.x_len()];
    for_each_output(kind, s, |o, win| match kind {
        PoolKind::Max => {
            let mut arg = win[0];
            for &i in &win[1..] {
                if x[i] > x[arg] {
                    arg = i;
                }
            }
            dx[arg] += dy[o];
        }
        _ => {
            for &i in &win {
                dx[i] += dy[o] / win.len() as f64;
            }
        }
    });
    dx
}
