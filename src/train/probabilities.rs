//! The test set's softmax outputs, written batch by batch during an evaluation pass and read
//! back whole: what each snapshot contributes to the ensemble. Made before training starts,
//! so taking snapshots creates no buffers.

use crate::gpu::{Commands, Dispatch, Gpu, GpuError, Staging};
use crate::kernels::ensemble::softmax_accumulate;
use crate::kernels::Operand;

/// Probabilities (images x classes) of the whole test set and the launches that fill them.
pub struct TestProbabilities {
    probs: wgpu::Buffer,
    _votes: wgpu::Buffer,
    staging: Staging,
    per_batch: Vec<Dispatch>,
    len: u64,
}

impl TestProbabilities {
    /// Prepares one softmax launch per evaluation batch of `batch` images (the last one
    /// partial) from the model's `logits` into the images' rows.
    pub fn new(
        gpu: &Gpu,
        logits: &wgpu::Buffer,
        images: u32,
        batch: u32,
        classes: u32,
    ) -> Result<TestProbabilities, GpuError> {
        let len = images as u64 * classes as u64;
        let probs = gpu.storage("test probabilities", len * 4)?;
        let votes = gpu.storage("test votes", images as u64 * 4)?;
        let staging = gpu.staging("test probabilities readback", len * 4);
        let per_batch = (0..images.div_ceil(batch))
            .map(|b| {
                let first = b * batch;
                let n = batch.min(images - first);
                softmax_accumulate(
                    gpu,
                    n,
                    classes,
                    Operand::whole(logits),
                    Operand {
                        buffer: &probs,
                        offset: first * classes,
                    },
                    Operand {
                        buffer: &votes,
                        offset: first,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TestProbabilities {
            probs,
            _votes: votes,
            staging,
            per_batch,
            len,
        })
    }

    /// The launch for evaluation batch `b`.
    pub fn batch(&self, b: u32) -> &Dispatch {
        &self.per_batch[b as usize]
    }

    /// Records zeroing the sums (the launches add into them).
    pub fn clear(&self, commands: &mut Commands<'_>) {
        commands.clear(&self.probs, 0, self.len * 4);
    }

    /// The probabilities, once every submitted batch has run.
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        let bytes = gpu
            .read_into(&self.staging, &self.probs, 0, self.len * 4)
            .await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
