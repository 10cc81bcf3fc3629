//! The snapshots' weights on the GPU: buffers for all M snapshots are made before training
//! starts, and taking a snapshot is one buffer copy each of the parameters and the running
//! statistics, recorded into the step's own submit.

use crate::gpu::{Commands, Gpu, GpuError};

/// Preallocated copies of the flat parameter and running-statistics buffers.
pub struct SnapshotStore {
    params: Vec<wgpu::Buffer>,
    state: Vec<wgpu::Buffer>,
    taken: usize,
}

impl SnapshotStore {
    /// Room for `capacity` snapshots of buffers as large as `params` and `state`.
    pub fn new(
        gpu: &Gpu,
        capacity: usize,
        params: &wgpu::Buffer,
        state: &wgpu::Buffer,
    ) -> Result<SnapshotStore, GpuError> {
        let mut store = SnapshotStore {
            params: Vec::with_capacity(capacity),
            state: Vec::with_capacity(capacity),
            taken: 0,
        };
        for k in 0..capacity {
            store
                .params
                .push(gpu.storage(&format!("snapshot {k} parameters"), params.size())?);
            store
                .state
                .push(gpu.storage(&format!("snapshot {k} statistics"), state.size())?);
        }
        Ok(store)
    }

    /// Snapshots taken.
    pub fn len(&self) -> usize {
        self.taken
    }

    /// Whether none has been taken.
    pub fn is_empty(&self) -> bool {
        self.taken == 0
    }

    /// Records the copies of `params` and `state` into the next free slot; returns its
    /// index, or `None` when every slot is used.
    pub fn take(
        &mut self,
        commands: &mut Commands<'_>,
        params: &wgpu::Buffer,
        state: &wgpu::Buffer,
    ) -> Option<usize> {
        let k = self.taken;
        let (p, s) = (self.params.get(k)?, self.state.get(k)?);
        commands.copy(params, 0, p, 0, params.size());
        commands.copy(state, 0, s, 0, state.size());
        self.taken += 1;
        Some(k)
    }

    /// Puts a snapshot saved earlier (flat parameters and running statistics) into the
    /// next free slot, when a run goes on from a saved training state; returns its index,
    /// or `None` when every slot is used.
    pub fn restore(&mut self, gpu: &Gpu, params: &[f32], state: &[f32]) -> Option<usize> {
        let k = self.taken;
        let (p, s) = (self.params.get(k)?, self.state.get(k)?);
        gpu.write(p, 0, params);
        gpu.write(s, 0, state);
        self.taken += 1;
        Some(k)
    }

    /// Forgets every snapshot after the first `keep` (their slots are reused); after a
    /// divergence, the ones taken since are not of the model they claim to be.
    pub fn truncate(&mut self, keep: usize) {
        self.taken = self.taken.min(keep);
    }

    /// Snapshot `k`'s parameters and running statistics (`params_len` and `state_len`
    /// floats), read back.
    pub async fn read(
        &self,
        gpu: &Gpu,
        k: usize,
        params_len: usize,
        state_len: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        if k >= self.taken {
            return Err(GpuError::Readback(format!(
                "snapshot {k} does not exist; {} taken so far",
                self.taken
            )));
        }
        let params = gpu.read_f32(&self.params[k], 0, params_len).await?;
        let state = gpu.read_f32(&self.state[k], 0, state_len).await?;
        Ok((params, state))
    }
}
