//! Native running-average tests: every self-test case, and SWA's use of the kernel: k
//! weight vectors added one by one end as their mean.

mod common;

use pollster::block_on;
use snapfreeze::checks::{random_values, Family};
use snapfreeze::gpu::Commands;
use snapfreeze::kernels::average::RunningAverage;
use snapfreeze::kernels::Operand;

#[test]
fn every_case_matches_the_reference() {
    let gpu = common::gpu();
    common::run_family(&gpu, Family::Average);
}

#[test]
fn the_average_of_k_weight_vectors_is_their_mean() {
    let gpu = common::gpu();
    let (len, k) = (5000usize, 6u32);
    let weights = gpu.storage("weights", len as u64 * 4).unwrap();
    // The average starts as garbage: the first vector must replace it.
    let average = gpu
        .storage_from("average", &random_values(99, len))
        .unwrap();
    let mut run = RunningAverage::new(
        &gpu,
        len as u32,
        Operand::whole(&weights),
        Operand::whole(&average),
        1.0,
    )
    .unwrap();
    let mut mean = vec![0f64; len];
    for n in 0..k {
        let w = random_values(n as u64 + 1, len);
        for (m, &v) in mean.iter_mut().zip(&w) {
            *m += v as f64 / k as f64;
        }
        gpu.write(&weights, 0, &w);
        run.set(&gpu, n);
        let mut commands = Commands::new(&gpu, "average");
        commands.run(&[run.dispatch()]);
        commands.submit();
    }
    let got = block_on(gpu.read_f32(&average, 0, len)).unwrap();
    let worst = got
        .iter()
        .zip(&mean)
        .map(|(&g, &m)| (g as f64 - m).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "largest difference from the mean: {worst}");
}
