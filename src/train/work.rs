//! What one training step runs, for a given number of frozen blocks: the dispatch list, and
//! its profile (dispatches by kernel, forward and backward FLOPs). The step and its
//! statistics come from the same list, so the statistics count what really ran.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::gpu::Dispatch;
use crate::nn::Plan;

/// The fixed launches around the model's passes.
pub struct StepParts<'a> {
    /// Gathers the batch.
    pub gather: &'a Dispatch,
    /// Loss, logits' gradient and metric accumulation.
    pub loss: [&'a Dispatch; 2],
    /// The optimizer over the trainable suffix: the gradient check, then the update.
    pub optimizer: [&'a Dispatch; 2],
}

/// The forward half of a step: the gather, every block's forward (inference mode for the
/// first `frozen`, which keep no activations for a backward pass), the loss.
pub fn forward_work<'a>(
    plan: &'a Plan,
    frozen: usize,
    gather: &'a Dispatch,
    loss: [&'a Dispatch; 2],
) -> Vec<&'a Dispatch> {
    let mut work = vec![gather];
    for (b, block) in plan.blocks.iter().enumerate() {
        let pass = if b < frozen {
            &block.infer
        } else {
            &block.train
        };
        work.extend(pass.iter());
    }
    work.extend(loss);
    work
}

/// The step's launches with the first `frozen` blocks frozen (docs/design.md §2.4): the
/// frozen prefix runs forward in inference mode, the backward pass stops at the first
/// trainable block, which computes its weight gradients but not its input's gradient, and
/// the optimizer covers the trainable suffix only.
pub fn step_work<'a>(plan: &'a Plan, frozen: usize, parts: &StepParts<'a>) -> Vec<&'a Dispatch> {
    let mut work = forward_work(plan, frozen, parts.gather, parts.loss);
    for (b, block) in plan.blocks.iter().enumerate().skip(frozen).rev() {
        work.extend(block.backward.iter());
        if b > frozen {
            work.extend(block.input_grad.iter());
        }
    }
    work.extend(parts.optimizer);
    work
}

/// What one step with `frozen_blocks` frozen blocks runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepProfile {
    /// Blocks frozen.
    pub frozen_blocks: usize,
    /// Launches by kernel name.
    pub dispatches: BTreeMap<&'static str, u32>,
    /// FLOPs of the forward pass (frozen blocks included: they still run forward).
    pub forward_flops: f64,
    /// FLOPs of the backward pass: each trainable block's weight gradients cost about its
    /// forward FLOPs, and so does its input's gradient when that runs.
    pub backward_flops: f64,
}

impl StepProfile {
    /// The profile of [`step_work`] with `frozen` blocks frozen.
    pub fn new(plan: &Plan, frozen: usize, parts: &StepParts<'_>) -> StepProfile {
        let mut dispatches = BTreeMap::new();
        for d in step_work(plan, frozen, parts) {
            *dispatches.entry(d.kernel()).or_insert(0) += 1;
        }
        let forward_flops = plan.blocks.iter().map(|b| b.forward_flops).sum();
        let backward_flops = plan
            .blocks
            .iter()
            .enumerate()
            .skip(frozen)
            .map(|(b, block)| {
                let input = b > frozen && !block.input_grad.is_empty();
                block.forward_flops * if input { 2.0 } else { 1.0 }
            })
            .sum();
        StepProfile {
            frozen_blocks: frozen,
            dispatches,
            forward_flops,
            backward_flops,
        }
    }

    /// Launches in all.
    pub fn dispatch_count(&self) -> u32 {
        self.dispatches.values().sum()
    }
}

/// The work a run has done so far, against what the same steps would cost with nothing
/// frozen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkDone {
    /// Steps run.
    pub steps: u64,
    /// Forward FLOPs executed.
    pub forward_flops: f64,
    /// Backward FLOPs executed.
    pub backward_flops: f64,
    /// Backward FLOPs the same steps would have cost with no block frozen.
    pub full_backward_flops: f64,
    /// Launches by kernel name.
    pub dispatches: BTreeMap<String, u64>,
}

impl WorkDone {
    /// Adds `steps` steps of `profile`; `full` is the profile with nothing frozen.
    pub fn add(&mut self, steps: u64, profile: &StepProfile, full: &StepProfile) {
        let n = steps as f64;
        self.steps += steps;
        self.forward_flops += n * profile.forward_flops;
        self.backward_flops += n * profile.backward_flops;
        self.full_backward_flops += n * full.backward_flops;
        for (&kernel, &count) in &profile.dispatches {
            *self.dispatches.entry(kernel.to_string()).or_insert(0) += steps * count as u64;
        }
    }

    /// Fraction of the backward FLOPs saved by freezing.
    pub fn backward_saving(&self) -> f64 {
        match self.full_backward_flops {
            f if f > 0.0 => 1.0 - self.backward_flops / f,
            _ => 0.0,
        }
    }

    /// Fraction of the whole step's FLOPs (forward and backward) saved by freezing: the
    /// wall-clock saving to expect if time followed FLOPs.
    pub fn step_saving(&self) -> f64 {
        let full = self.forward_flops + self.full_backward_flops;
        match full {
            f if f > 0.0 => 1.0 - (self.forward_flops + self.backward_flops) / f,
            _ => 0.0,
        }
    }
}
