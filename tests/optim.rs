//! Native SGD tests: every self-test case, and several consecutive steps against the
//! reference, the frozen prefix untouched to the bit.

mod common;

use pollster::block_on;
use snapfreeze::checks::{random_values, Family};
use snapfreeze::gpu::{Commands, Gpu};
use snapfreeze::kernels::optim::{self, Sgd, SgdBuffers, SgdSettings};
use snapfreeze::kernels::Operand;

/// SGD's buffers over `params`: gradients and momentum zeroed, the block table, the rates
/// and the divergence guard (0).
struct Buffers {
    params: wgpu::Buffer,
    grads: wgpu::Buffer,
    momentum: wgpu::Buffer,
    starts: wgpu::Buffer,
    lrs: wgpu::Buffer,
    guard: wgpu::Buffer,
}

impl Buffers {
    fn new(gpu: &Gpu, params: &[f32], starts: &[u32], lrs: &[f32]) -> Buffers {
        let bytes = params.len() as u64 * 4;
        Buffers {
            params: gpu.storage_from("params", params).unwrap(),
            grads: gpu.storage("grads", bytes).unwrap(),
            momentum: gpu.storage("momentum", bytes).unwrap(),
            starts: gpu.storage_from("starts", starts).unwrap(),
            lrs: gpu.storage_from("lrs", lrs).unwrap(),
            guard: gpu.storage("guard", 4).unwrap(),
        }
    }

    fn sgd(&self) -> SgdBuffers<'_> {
        SgdBuffers {
            params: &self.params,
            grads: &self.grads,
            momentum: &self.momentum,
            block_starts: Operand::whole(&self.starts),
            lrs: Operand::whole(&self.lrs),
            guard: Operand::whole(&self.guard),
        }
    }
}

#[test]
fn every_case_matches_the_reference() {
    let gpu = common::gpu();
    common::run_family(&gpu, Family::Optim);
}

#[test]
fn consecutive_steps_follow_pytorch_and_leave_frozen_blocks_alone() {
    let gpu = common::gpu();
    let total = 2000usize;
    let starts: Vec<u32> = vec![0, 300, 900, 1400, 2000];
    let lrs = [0.1f32, 0.05, 0.2, 0.01];
    let params0 = random_values(1, total);
    let b = Buffers::new(&gpu, &params0, &starts, &lrs);
    let (params, grads) = (&b.params, &b.grads);
    let buffers = b.sgd();
    let mut settings = SgdSettings {
        momentum: 0.9,
        weight_decay: 1e-4,
        nesterov: true,
        first_step: true,
    };
    // Block 0 frozen: the step covers 300..2000.
    let mut sgd = Sgd::new(&gpu, &buffers, 4, 300..2000, settings).unwrap();
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (mut p_ref, mut m_ref) = (f64s(&params0), vec![0f64; total]);
    for step in 0..4 {
        let g = random_values(10 + step, total);
        gpu.write(grads, 0, &g);
        let mut commands = Commands::new(&gpu, "sgd");
        commands.run(&sgd.dispatches());
        commands.submit();
        (p_ref, m_ref) = optim::sgd_reference(
            &p_ref,
            &f64s(&g),
            &m_ref,
            &starts,
            &f64s(&lrs),
            300..total,
            &settings,
        );
        settings.first_step = false;
        sgd.set_settings(&gpu, settings);
    }
    let got = block_on(gpu.read_f32(params, 0, total)).unwrap();
    assert_eq!(
        got[..300].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        params0[..300]
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        "a frozen block changed"
    );
    let update_err: f64 = got[300..]
        .iter()
        .zip(&p_ref[300..])
        .zip(&params0[300..])
        .map(|((&g, &r), &p0)| ((g as f64 - p0 as f64) - (r - p0 as f64)).powi(2))
        .sum::<f64>()
        .sqrt();
    let update_norm: f64 = p_ref[300..]
        .iter()
        .zip(&params0[300..])
        .map(|(&r, &p0)| (r - p0 as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    // Compare the change made by four steps, not the parameters, so small terms (weight
    // decay) cannot hide in the parameters' magnitude.
    assert!(
        update_err / update_norm < 1e-4,
        "update error {}",
        update_err / update_norm
    );
}

/// The divergence guard: a NaN gradient stops every update until the flag is cleared, and
/// the weights and momentum stay those of the last good step.
#[test]
fn a_nan_gradient_stops_all_updates_until_the_guard_is_cleared() {
    let gpu = common::gpu();
    let total = 1000usize;
    let b = Buffers::new(&gpu, &random_values(5, total), &[0, 400, 1000], &[0.1, 0.1]);
    let (params, grads, momentum, guard) = (&b.params, &b.grads, &b.momentum, &b.guard);
    let buffers = b.sgd();
    let settings = SgdSettings {
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
        first_step: false,
    };
    // Block 0 frozen: the step covers 400..1000.
    let sgd = Sgd::new(&gpu, &buffers, 2, 400..1000, settings).unwrap();
    let read = |b: &wgpu::Buffer| block_on(gpu.read_f32(b, 0, b.size() as usize / 4)).unwrap();
    let step = |g: Vec<f32>| {
        gpu.write(grads, 0, &g);
        let mut commands = Commands::new(&gpu, "sgd");
        commands.run(&sgd.dispatches());
        commands.submit();
        (read(params), read(momentum), read(guard)[0])
    };
    let finite = random_values(6, total);
    let (p1, _, flag) = step(finite.clone());
    assert_eq!(flag, 0.0);
    // An infinity in the frozen block is not this step's gradient: nothing happens.
    let mut frozen_inf = finite.clone();
    frozen_inf[10] = f32::INFINITY;
    let (p2, m2, flag) = step(frozen_inf);
    assert_eq!(flag, 0.0);
    assert_ne!(p2, p1, "the step went on");
    // A NaN in the trained range: the guard is set and nothing moves, now or later.
    let mut poisoned = finite.clone();
    poisoned[700] = f32::NAN;
    let (p3, m3, flag) = step(poisoned);
    assert_eq!(flag, 1.0);
    assert_eq!(p3, p2, "parameters changed after a NaN gradient");
    assert_eq!(m3, m2, "momentum changed after a NaN gradient");
    let (p4, _, flag) = step(finite.clone());
    assert_eq!(
        (p4 == p2, flag),
        (true, 1.0),
        "the guard holds until cleared"
    );
    // Cleared (as the trainer does on resume), training goes on from the last good state.
    gpu.write(guard, 0, &[0.0f32]);
    let (p5, _, flag) = step(finite.clone());
    assert_eq!(flag, 0.0);
    assert_ne!(p5, p2);
    assert!(p5.iter().all(|v| v.is_finite()));
    // The check spans every workgroup: an infinity in the last trained element (the third
    // workgroup of 256) is seen too.
    let mut last_inf = finite;
    last_inf[total - 1] = f32::NEG_INFINITY;
    let (p6, _, flag) = step(last_inf);
    assert_eq!((flag, p6 == p5), (1.0, true));
}
