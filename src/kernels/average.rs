//! The running average of a flat buffer (`shaders/average.wgsl`): SWA's average of the
//! weights, and the equal-weight mean of the averaged model's batch-norm statistics over
//! batches. With its CPU reference.

use super::elementwise::grid_1d;
use super::params::wgsl_params;
use super::{Launch, Operand};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::shaders;

/// Counter name of the running average.
pub const RUNNING_AVERAGE: &str = "running_average";

wgsl_params! {
    struct Params mirrors [crate::shaders::AVERAGE] {
        len: u32,
        x_offset: u32,
        avg_offset: u32,
        _pad0: u32,
        weight: f32,
        scale: f32,
        _pad: [u32; 2],
    }
}

/// A prepared running average of `len` elements of `x` into `avg`; [`RunningAverage::set`]
/// says how many values the average already holds before each use.
#[derive(Debug)]
pub struct RunningAverage {
    dispatch: Dispatch,
    params: Params,
}

impl RunningAverage {
    /// avg = avg (1 - 1 / (n + 1)) + scale x / (n + 1), starting with n = 0 (avg = scale x).
    pub fn new(
        gpu: &Gpu,
        len: u32,
        x: Operand<'_>,
        avg: Operand<'_>,
        scale: f32,
    ) -> Result<RunningAverage, GpuError> {
        let kernel = RUNNING_AVERAGE;
        if len == 0 {
            return Err(GpuError::launch(kernel, "nothing to average: length 0"));
        }
        let launch = Launch::new(gpu, kernel)
            .read(1, "x", x, len as usize)?
            .write(2, "avg", avg, len as usize)?;
        let params = Params {
            len,
            x_offset: x.offset,
            avg_offset: avg.offset,
            weight: 1.0,
            scale,
            ..Params::default()
        };
        let dispatch =
            launch.dispatch(&shaders::AVERAGE, kernel, &params, grid_1d(gpu, len, 256))?;
        Ok(RunningAverage { dispatch, params })
    }

    /// The next use adds to an average of `n` values: weight 1 / (n + 1).
    pub fn set(&mut self, gpu: &Gpu, n: u32) {
        self.params.weight = 1.0 / (n as f32 + 1.0);
        self.dispatch.set_params(gpu, &self.params);
    }

    /// The launch to record.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}

/// CPU reference: the average after adding `scale x` to `avg`, an average of `n` values.
pub fn running_average_reference(avg: &[f64], x: &[f64], n: u32, scale: f64) -> Vec<f64> {
    let w = 1.0 / (n as f64 + 1.0);
    avg.iter()
        .zip(x)
        .map(|(&a, &v)| a * (1.0 - w) + scale * v * w)
        .collect()
}
