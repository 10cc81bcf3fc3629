//! Fully connected layer y = x W^T + b, as PyTorch's nn.Linear (W stored [out, in]), built
//! from the matmul, bias-add and bias-gradient kernels; and its CPU references.

use serde::Serialize;

use super::conv::{ChannelSlices, Conv, ConvShape};
use super::matmul::{self, Matmul, MatmulShape};
use super::{elementwise, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};

/// Sizes of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LinearShape {
    /// Rows of x and y.
    pub batch: u32,
    /// Input features.
    pub inputs: u32,
    /// Output features.
    pub outputs: u32,
}

impl LinearShape {
    /// y = x W^T: m = batch, n = outputs, k = inputs, W transposed.
    fn forward_product(&self) -> MatmulShape {
        MatmulShape::new(self.batch, self.outputs, self.inputs).transposed(false, true)
    }

    /// dx = dy W.
    fn input_grad_product(&self) -> MatmulShape {
        MatmulShape::new(self.batch, self.inputs, self.outputs)
    }

    /// dW = dy^T x.
    fn weight_grad_product(&self) -> MatmulShape {
        MatmulShape::new(self.outputs, self.inputs, self.batch).transposed(true, false)
    }

    /// The bias gradient is a 1x1 convolution's over 1x1 maps: dy summed over the batch.
    fn as_conv(&self) -> ConvShape {
        ConvShape {
            n: self.batch,
            c: 1,
            h: 1,
            w: 1,
            k: self.outputs,
            r: 1,
            s: 1,
            stride: 1,
            pad: 0,
        }
    }
}

/// y = x W^T + b: a matmul, then the bias add.
pub fn forward(
    gpu: &Gpu,
    shape: LinearShape,
    x: Operand<'_>,
    w: Operand<'_>,
    b: Operand<'_>,
    y: Operand<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    let product = Matmul::new(gpu, shape.forward_product(), x, w, y)?;
    let len = shape.batch * shape.outputs;
    let bias = elementwise::bias_add(gpu, len, shape.outputs, 1, b, y)?;
    let mut dispatches = product.dispatches().to_vec();
    dispatches.push(bias);
    Ok(dispatches)
}

/// dx = dy W.
pub fn input_grad(
    gpu: &Gpu,
    shape: LinearShape,
    dy: Operand<'_>,
    w: Operand<'_>,
    dx: Operand<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    Ok(Matmul::new(gpu, shape.input_grad_product(), dy, w, dx)?
        .dispatches()
        .to_vec())
}

/// dW = dy^T x.
pub fn weight_grad(
    gpu: &Gpu,
    shape: LinearShape,
    dy: Operand<'_>,
    x: Operand<'_>,
    dw: Operand<'_>,
) -> Result<Vec<Dispatch>, GpuError> {
    Ok(Matmul::new(gpu, shape.weight_grad_product(), dy, x, dw)?
        .dispatches()
        .to_vec())
}

/// db = dy summed over the batch.
pub fn bias_grad(
    gpu: &Gpu,
    shape: LinearShape,
    dy: Operand<'_>,
    db: Operand<'_>,
) -> Result<Dispatch, GpuError> {
    let conv = shape.as_conv();
    let op = Conv::bias_grad(gpu, conv, ChannelSlices::dense(&conv), dy, db)?;
    Ok(op.dispatches()[0].clone())
}

/// Reference forward: x W^T + b, f64.
pub fn forward_reference(s: &LinearShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
    let mut y = matmul::reference(&s.forward_product(), x, w);
    for (i, v) in y.iter_mut().enumerate() {
        *v += b[i % s.outputs as usize] as f64;
    }
    y
}

/// Reference gradients from dy: (dx, dW, db).
pub fn backward_reference(
    s: &LinearShape,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let dx = matmul::reference(&s.input_grad_product(), dy, w);
    let dw = matmul::reference(&s.weight_grad_product(), dy, x);
    let mut db = vec![0f64; s.outputs as usize];
    for (i, &g) in dy.iter().enumerate() {
        db[i % s.outputs as usize] += g as f64;
    }
    (dx, dw, db)
}
