//! The whole training step checked end to end: the `small` CNN with fixed weights loaded
//! from safetensors, no augmentation, no shuffling, 20 SGD steps on the GPU, against an
//! independent float64 implementation of the same forward, backward and update written
//! here. Every step's loss and the final weights must agree to 1e-4 (relative).

mod common;

use std::rc::Rc;

use snapfreeze::checkpoint::{self, NamedTensor};
use snapfreeze::data::Dataset;
use snapfreeze::nn::{ForwardChoice, KernelVariants, ModelSpec};
use snapfreeze::schedule::{Method, Schedule};
use snapfreeze::train::{TrainConfig, Trainer};

const W: usize = 4; // first conv's channels
const H: usize = 12; // image side
const CLASSES: usize = 10;
const BATCH: usize = 8;
const STEPS: usize = 20;
const LR: f64 = 0.05;
const MOMENTUM: f64 = 0.9;
const DECAY: f64 = 5e-4;
const EPS: f64 = 1e-5;

/// NCHW tensor in f64.
#[derive(Clone)]
struct T {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f64>,
}

impl T {
    fn zeros(n: usize, c: usize, h: usize, w: usize) -> T {
        T {
            n,
            c,
            h,
            w,
            v: vec![0.0; n * c * h * w],
        }
    }
    fn at(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
        ((n * self.c + c) * self.h + y) * self.w + x
    }
}

/// 3x3 convolution, padding 1, stride 1, no bias; weights [k][c][3][3].
fn conv(x: &T, w: &[f64], k: usize) -> T {
    let mut y = T::zeros(x.n, k, x.h, x.w);
    for n in 0..x.n {
        for ko in 0..k {
            for i in 0..x.h {
                for j in 0..x.w {
                    let mut s = 0.0;
                    for c in 0..x.c {
                        for r in 0..3 {
                            for q in 0..3 {
                                let (yy, xx) = (i as i64 + r as i64 - 1, j as i64 + q as i64 - 1);
                                if yy < 0 || xx < 0 || yy >= x.h as i64 || xx >= x.w as i64 {
                                    continue;
                                }
                                s += w[((ko * x.c + c) * 3 + r) * 3 + q]
                                    * x.v[x.at(n, c, yy as usize, xx as usize)];
                            }
                        }
                    }
                    let at = y.at(n, ko, i, j);
                    y.v[at] = s;
                }
            }
        }
    }
    y
}

/// Gradients of conv: (dx, dw).
fn conv_back(x: &T, w: &[f64], dy: &T) -> (T, Vec<f64>) {
    let mut dx = T::zeros(x.n, x.c, x.h, x.w);
    let mut dw = vec![0.0; w.len()];
    for n in 0..x.n {
        for ko in 0..dy.c {
            for i in 0..x.h {
                for j in 0..x.w {
                    let g = dy.v[dy.at(n, ko, i, j)];
                    for c in 0..x.c {
                        for r in 0..3 {
                            for q in 0..3 {
                                let (yy, xx) = (i as i64 + r as i64 - 1, j as i64 + q as i64 - 1);
                                if yy < 0 || xx < 0 || yy >= x.h as i64 || xx >= x.w as i64 {
                                    continue;
                                }
                                let xi = x.at(n, c, yy as usize, xx as usize);
                                let wi = ((ko * x.c + c) * 3 + r) * 3 + q;
                                dw[wi] += g * x.v[xi];
                                dx.v[xi] += g * w[wi];
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw)
}

/// Training-mode batch norm + ReLU; returns (y, x_hat, 1/std, batch mean, unbiased var).
fn bn_relu(x: &T, gamma: &[f64], beta: &[f64]) -> (T, T, Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = (x.n * x.h * x.w) as f64;
    let mut y = x.clone();
    let mut xh = x.clone();
    let (mut inv, mut means, mut vars) = (vec![], vec![], vec![]);
    for c in 0..x.c {
        let vals: Vec<usize> = (0..x.n)
            .flat_map(|n| (0..x.h * x.w).map(move |p| (n * x.c + c) * x.h * x.w + p))
            .collect();
        let mean = vals.iter().map(|&i| x.v[i]).sum::<f64>() / m;
        let var = vals.iter().map(|&i| (x.v[i] - mean).powi(2)).sum::<f64>() / m;
        let is = 1.0 / (var + EPS).sqrt();
        for &i in &vals {
            xh.v[i] = (x.v[i] - mean) * is;
            y.v[i] = (gamma[c] * xh.v[i] + beta[c]).max(0.0);
        }
        inv.push(is);
        means.push(mean);
        vars.push(var * m / (m - 1.0));
    }
    (y, xh, inv, means, vars)
}

/// Backward of bn_relu: (dx, dgamma, dbeta).
fn bn_relu_back(y: &T, xh: &T, inv: &[f64], gamma: &[f64], dy: &T) -> (T, Vec<f64>, Vec<f64>) {
    let m = (y.n * y.h * y.w) as f64;
    let mut dx = y.clone();
    let (mut dg, mut db) = (vec![0.0; y.c], vec![0.0; y.c]);
    for c in 0..y.c {
        let vals: Vec<usize> = (0..y.n)
            .flat_map(|n| (0..y.h * y.w).map(move |p| (n * y.c + c) * y.h * y.w + p))
            .collect();
        let g = |i: usize| if y.v[i] > 0.0 { dy.v[i] } else { 0.0 };
        for &i in &vals {
            dg[c] += g(i) * xh.v[i];
            db[c] += g(i);
        }
        for &i in &vals {
            dx.v[i] = gamma[c] * inv[c] / m * (m * g(i) - db[c] - xh.v[i] * dg[c]);
        }
    }
    (dx, dg, db)
}

fn maxpool(x: &T) -> (T, Vec<usize>) {
    let mut y = T::zeros(x.n, x.c, x.h / 2, x.w / 2);
    let mut arg = vec![0; y.v.len()];
    for n in 0..x.n {
        for c in 0..x.c {
            for i in 0..y.h {
                for j in 0..y.w {
                    let mut best = (f64::NEG_INFINITY, 0);
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let xi = x.at(n, c, 2 * i + dy, 2 * j + dx);
                        if x.v[xi] > best.0 {
                            best = (x.v[xi], xi);
                        }
                    }
                    let yi = y.at(n, c, i, j);
                    y.v[yi] = best.0;
                    arg[yi] = best.1;
                }
            }
        }
    }
    (y, arg)
}

/// The parameters by PyTorch name.
struct Params {
    names: Vec<String>,
    values: Vec<Vec<f64>>,
}

impl Params {
    fn get(&self, name: &str) -> &[f64] {
        let i = self.names.iter().position(|n| n == name).unwrap();
        &self.values[i]
    }
}

/// One SGD step on the CPU: returns the loss; updates params, momentum and running stats.
fn cpu_step(
    p: &mut Params,
    momentum: &mut [Vec<f64>],
    running: &mut [(Vec<f64>, Vec<f64>); 2],
    x: &T,
    labels: &[usize],
) -> f64 {
    let w2c = 2 * W;
    let a1 = conv(x, p.get("conv1.weight"), W);
    let (b1, xh1, inv1, m1, v1) = bn_relu(&a1, p.get("bn1.weight"), p.get("bn1.bias"));
    let (c1, arg1) = maxpool(&b1);
    let a2 = conv(&c1, p.get("conv2.weight"), w2c);
    let (b2, xh2, inv2, m2, v2) = bn_relu(&a2, p.get("bn2.weight"), p.get("bn2.bias"));
    let (c2, arg2) = maxpool(&b2);
    let features = c2.c * c2.h * c2.w;
    let (fw, fb) = (p.get("fc.weight"), p.get("fc.bias"));
    let n = x.n;
    let mut loss = 0.0;
    let mut dlogits = vec![0.0; n * CLASSES];
    for s in 0..n {
        let z: Vec<f64> = (0..CLASSES)
            .map(|k| {
                fb[k]
                    + (0..features)
                        .map(|f| fw[k * features + f] * c2.v[s * features + f])
                        .sum::<f64>()
            })
            .collect();
        let top = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - top).exp()).sum();
        loss += sum.ln() - (z[labels[s]] - top);
        for k in 0..CLASSES {
            let prob = (z[k] - top).exp() / sum;
            dlogits[s * CLASSES + k] = (prob - if k == labels[s] { 1.0 } else { 0.0 }) / n as f64;
        }
    }
    // Backward.
    let mut dfw = vec![0.0; fw.len()];
    let mut dfb = vec![0.0; CLASSES];
    let mut dc2 = T::zeros(c2.n, c2.c, c2.h, c2.w);
    for s in 0..n {
        for k in 0..CLASSES {
            let g = dlogits[s * CLASSES + k];
            dfb[k] += g;
            for f in 0..features {
                dfw[k * features + f] += g * c2.v[s * features + f];
                dc2.v[s * features + f] += g * fw[k * features + f];
            }
        }
    }
    let mut db2 = T::zeros(b2.n, b2.c, b2.h, b2.w);
    for (yi, &xi) in arg2.iter().enumerate() {
        db2.v[xi] += dc2.v[yi];
    }
    let (da2, dg2, dbeta2) = bn_relu_back(&b2, &xh2, &inv2, p.get("bn2.weight"), &db2);
    let (dc1, dw2) = conv_back(&c1, p.get("conv2.weight"), &da2);
    let mut db1 = T::zeros(b1.n, b1.c, b1.h, b1.w);
    for (yi, &xi) in arg1.iter().enumerate() {
        db1.v[xi] += dc1.v[yi];
    }
    let (da1, dg1, dbeta1) = bn_relu_back(&b1, &xh1, &inv1, p.get("bn1.weight"), &db1);
    let (_, dw1) = conv_back(x, p.get("conv1.weight"), &da1);
    let grads = [
        ("conv1.weight", dw1),
        ("bn1.weight", dg1),
        ("bn1.bias", dbeta1),
        ("conv2.weight", dw2),
        ("bn2.weight", dg2),
        ("bn2.bias", dbeta2),
        ("fc.weight", dfw),
        ("fc.bias", dfb),
    ];
    for (name, g) in grads {
        let i = p.names.iter().position(|n| n == name).unwrap();
        for (j, gj) in g.iter().enumerate() {
            let pj = p.values[i][j];
            let d = gj + DECAY * pj;
            momentum[i][j] = MOMENTUM * momentum[i][j] + d;
            let step = d + MOMENTUM * momentum[i][j];
            p.values[i][j] = pj - LR * step;
        }
    }
    for (r, (m, v)) in running.iter_mut().zip([(m1, v1), (m2, v2)]) {
        for c in 0..m.len() {
            r.0[c] = 0.9 * r.0[c] + 0.1 * m[c];
            r.1[c] = 0.9 * r.1[c] + 0.1 * v[c];
        }
    }
    loss / n as f64
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

#[test]
fn twenty_sgd_steps_match_a_float64_implementation() {
    let gpu = Rc::new(common::gpu());
    // A synthetic dataset whose brightness gives the label away, so the model learns.
    let mut rng = fastrand::Rng::with_seed(7);
    let images = BATCH * STEPS;
    let labels: Vec<u8> = (0..images).map(|_| rng.u8(..CLASSES as u8)).collect();
    let pixels: Vec<u8> = (0..images * H * H)
        .map(|i| labels[i / (H * H)] * 18 + rng.u8(..80))
        .collect();
    let data = Dataset {
        channels: 1,
        height: H as u32,
        width: H as u32,
        classes: CLASSES as u32,
        images: pixels,
        labels,
    };
    // Fixed starting weights, written to and loaded from a safetensors file.
    let mut names = Vec::new();
    let mut tensors = Vec::new();
    let features = 2 * W * (H / 4) * (H / 4);
    let shapes: Vec<(&str, Vec<usize>)> = vec![
        ("conv1.weight", vec![W, 1, 3, 3]),
        ("bn1.weight", vec![W]),
        ("bn1.bias", vec![W]),
        ("conv2.weight", vec![2 * W, W, 3, 3]),
        ("bn2.weight", vec![2 * W]),
        ("bn2.bias", vec![2 * W]),
        ("fc.weight", vec![CLASSES, features]),
        ("fc.bias", vec![CLASSES]),
        ("bn1.running_mean", vec![W]),
        ("bn1.running_var", vec![W]),
        ("bn2.running_mean", vec![2 * W]),
        ("bn2.running_var", vec![2 * W]),
    ];
    for (name, shape) in &shapes {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = (0..len)
            .map(|_| match *name {
                n if n.ends_with("running_var") => 1.0,
                n if n.ends_with("running_mean") => 0.0,
                n if n.starts_with("bn") && n.ends_with("weight") => 0.8 + 0.4 * rng.f32(),
                n if n.starts_with("bn") => 0.2 * rng.f32() - 0.1,
                _ => (rng.f32() * 2.0 - 1.0) * 0.4,
            })
            .collect();
        names.push(name.to_string());
        tensors.push(NamedTensor {
            name: name.to_string(),
            shape: shape.clone(),
            values,
        });
    }
    let file = checkpoint::save(&tensors, &[]).unwrap();

    let config = TrainConfig {
        model: ModelSpec::Small { width: W as u32 },
        epochs: 1,
        batch: BATCH as u32,
        lr: LR,
        momentum: MOMENTUM,
        nesterov: true,
        weight_decay: DECAY,
        seed: 3,
        method: Method::Baseline {
            schedule: Schedule::Constant,
        },
        augment: false,
        flip: false,
        shuffle: false,
        validation: 0,
        train_limit: 0,
        test_limit: 0,
        readback_every: 1,
        eval_every_epoch: false,
        forward: ForwardChoice::Implicit,
        kernel_variants: KernelVariants::Registers,
        dataset: String::new(),
    };
    let mut trainer = pollster::block_on(Trainer::new(
        Rc::clone(&gpu),
        &data,
        &data,
        config,
        Some(&file),
    ))
    .unwrap_or_else(|e| panic!("trainer: {e}"));
    assert_eq!(trainer.total_iterations(), STEPS as u64);
    pollster::block_on(trainer.run(STEPS as u64)).unwrap();
    // The conv units' norm, ReLU and pooling trained through the fused kernels.
    use snapfreeze::kernels::norm::pooled;
    assert!(gpu.counters().get(pooled::FORWARD) > 0);
    assert!(gpu.counters().get(pooled::GRAD_APPLY) > 0);
    assert_eq!(gpu.counters().get("max_pool_grad"), 0);
    let gpu_losses: Vec<f64> = trainer.steps().iter().map(|s| s.loss).collect();
    let gpu_final = pollster::block_on(trainer.tensors()).unwrap();

    // The same on the CPU. Inputs are normalised with the training set's mean and std.
    let n_pix = (images * H * H) as f64;
    let mean = data.images.iter().map(|&p| p as f64 / 255.0).sum::<f64>() / n_pix;
    let var = data
        .images
        .iter()
        .map(|&p| (p as f64 / 255.0).powi(2))
        .sum::<f64>()
        / n_pix
        - mean * mean;
    let (mean32, std32) = (mean as f32, var.sqrt() as f32);
    let mut params = Params {
        names: names[..8].to_vec(),
        values: tensors[..8]
            .iter()
            .map(|t| t.values.iter().map(|&v| v as f64).collect())
            .collect(),
    };
    let mut momentum: Vec<Vec<f64>> = params.values.iter().map(|v| vec![0.0; v.len()]).collect();
    let mut running = [
        (vec![0.0; W], vec![1.0; W]),
        (vec![0.0; 2 * W], vec![1.0; 2 * W]),
    ];
    let mut cpu_losses = Vec::new();
    for step in 0..STEPS {
        let mut x = T::zeros(BATCH, 1, H, H);
        let mut y = Vec::new();
        for b in 0..BATCH {
            let i = step * BATCH + b;
            for p in 0..H * H {
                // As the gather kernel: (pixel / 255 - mean) / std in f32.
                let v = (data.images[i * H * H + p] as f32 / 255.0 - mean32) * (1.0 / std32);
                x.v[b * H * H + p] = v as f64;
            }
            y.push(data.labels[i] as usize);
        }
        cpu_losses.push(cpu_step(&mut params, &mut momentum, &mut running, &x, &y));
    }

    for (step, (g, c)) in gpu_losses.iter().zip(&cpu_losses).enumerate() {
        eprintln!("step {step:2}: gpu loss {g:.7}  cpu loss {c:.7}");
    }
    for (step, (g, c)) in gpu_losses.iter().zip(&cpu_losses).enumerate() {
        assert!(
            ((g - c) / c).abs() < 1e-4,
            "step {step}: GPU loss {g} vs CPU {c}"
        );
    }
    assert!(cpu_losses[STEPS - 1] < cpu_losses[0], "the model learns");
    let by_name = |name: &str| -> Vec<f64> {
        gpu_final
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .values
            .iter()
            .map(|&v| v as f64)
            .collect()
    };
    for (i, name) in params.names.iter().enumerate() {
        let e = rel(&by_name(name), &params.values[i]);
        eprintln!("{name}: relative error {e:.2e}");
        assert!(e < 1e-4, "{name}: relative error {e:.2e}");
    }
    for (k, (m, v)) in running.iter().enumerate() {
        let e = rel(&by_name(&format!("bn{}.running_mean", k + 1)), m);
        let f = rel(&by_name(&format!("bn{}.running_var", k + 1)), v);
        assert!(
            e < 1e-4 && f < 1e-4,
            "bn{} running statistics: {e:.2e} {f:.2e}",
            k + 1
        );
    }
}
