//! Native command-line program: training, adapter information, kernel self-tests and
//! benchmarks.

#[cfg(not(target_arch = "wasm32"))]
mod commands;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use snapfreeze::gpu::{Gpu, GpuError};
    use snapfreeze::{bench, checks};

    /// Snapshot Ensembles and FreezeOut on WebGPU: the native command-line program.
    #[derive(Parser)]
    #[command(version, about)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Train a model on MNIST, Fashion-MNIST or CIFAR-10 and report test accuracy.
        Train(Box<super::commands::train::TrainArgs>),
        /// Run several methods on the same model, data, budget and seeds and tabulate them.
        Compare(Box<super::commands::compare::CompareArgs>),
        /// Print the table of a saved comparison (compare --json, or the page's results
        /// JSON), computed as `compare` and the page compute it.
        Report(super::commands::compare::ReportArgs),
        /// Print every block's learning rate at every iteration, whether it is frozen, and
        /// whether a member is taken or the weights averaged after it, as CSV (iteration,
        /// block, lr, frozen, member, average).
        Schedule(Box<super::commands::schedule::ScheduleArgs>),
        /// Show the GPU adapter wgpu picks (choose with WGPU_BACKEND) and its limits.
        Info {
            /// Print JSON instead of text.
            #[arg(long)]
            json: bool,
        },
        /// Check every kernel against its CPU reference on this adapter.
        Selftest,
        /// Time every kernel at the shapes of ResNet-20's layers, beside the naive matmul and
        /// conv baselines and this machine's CPU sgemm.
        BenchKernels {
            /// Batch size of the layer shapes.
            #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
            batch: u32,
            /// Time each kernel for at least this many seconds.
            #[arg(long, default_value_t = 0.5)]
            seconds: f64,
            /// Also write the rows as JSON to this file.
            #[arg(long)]
            json: Option<std::path::PathBuf>,
        },
        /// Measure matmul throughput (GFLOP/s) on square matrices.
        BenchMatmul {
            /// m = n = k.
            #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=16384))]
            size: u32,
            /// Keep timing for at least this many seconds (per kernel).
            #[arg(long, default_value_t = 3.0)]
            seconds: f64,
            /// Which kernel: both, reporting the faster, or one of them.
            #[arg(long, value_enum, default_value_t = MatmulKernelArg::All)]
            kernel: MatmulKernelArg,
            /// Print JSON instead of text.
            #[arg(long)]
            json: bool,
        },
    }

    /// The matmul kernels `bench-matmul` times.
    #[derive(Clone, Copy, Debug, clap::ValueEnum)]
    pub enum MatmulKernelArg {
        /// Every kernel below.
        All,
        /// Register blocks (software adapters' kernel).
        Registers,
        /// 64x64 workgroup-memory tiles, 4x4 outputs per invocation (GPUs).
        Shared,
        /// 128x128 workgroup-memory tiles, 8x8 outputs per invocation (GPUs).
        Wide,
        /// 64x128 workgroup-memory tiles, 8x8 outputs per invocation (GPUs).
        WideShort,
        /// The register blocks with the inner dimension split for about 1,024 workgroups.
        RegistersSplit,
        /// The 64x64 tiles split likewise.
        SharedSplit,
        /// The 128x128 tiles split likewise.
        WideSplit,
        /// 128x128 tiles with the next step's operands loaded during the current one (GPUs).
        Pipelined,
        /// The pipelined tiles split for about 256 workgroups.
        PipelinedSplit,
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        use super::commands;
        let done = match cli.command {
            Command::Train(args) => pollster::block_on(commands::train::train(*args)),
            Command::Compare(args) => pollster::block_on(commands::compare::compare(*args)),
            Command::Schedule(args) => commands::schedule::schedule(*args),
            Command::Report(args) => commands::compare::report_file(args),
            other => {
                return match pollster::block_on(run(other)) {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        };
        match done {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(command: Command) -> Result<ExitCode, GpuError> {
        let (gpu, kept) = crate::commands::choices::open_gpu().await?;
        match command {
            Command::Train(_) | Command::Compare(_) | Command::Schedule(_) | Command::Report(_) => {
                unreachable!("handled in main")
            }
            Command::Info { json } => {
                let report = gpu.adapter();
                if json {
                    println!("{}", to_json(report));
                } else {
                    println!("adapter: {}", report.summary());
                    println!("{}", to_json(report));
                    // The kernel choices measured on this adapter so far (by `train`,
                    // `compare` or `bench-kernels`), kept for the next start.
                    println!("{kept}");
                    for (question, answer) in gpu.kernel_choices() {
                        println!("  {question}: {answer}");
                    }
                }
            }
            Command::Selftest => {
                println!("adapter: {}", gpu.adapter().summary());
                let mut failed = 0;
                let cases = checks::cases_for(&gpu);
                for (i, case) in cases.iter().enumerate() {
                    let r = checks::run(&gpu, case, i as u64).await?;
                    let verdict = if r.passed { "pass" } else { "FAIL" };
                    let fd = r
                        .finite_difference_error
                        .map(|e| format!("  fd err {e:.2e}"))
                        .unwrap_or_default();
                    println!(
                        "{verdict} {:<80} rel err {:.2e}{fd}  {:.1} ms{}",
                        r.name,
                        r.rel_l2_error,
                        r.gpu_ms,
                        r.problem.map(|p| format!("  {p}")).unwrap_or_default()
                    );
                    failed += usize::from(!r.passed);
                }
                println!(
                    "{} of {} kernel checks passed",
                    cases.len() - failed,
                    cases.len()
                );
                if failed > 0 {
                    return Ok(ExitCode::FAILURE);
                }
            }
            Command::BenchKernels {
                batch,
                seconds,
                json,
            } => {
                if !(seconds.is_finite() && seconds > 0.0 && seconds <= 60.0) {
                    eprintln!("error: --seconds must be a number in (0, 60], got {seconds}");
                    return Ok(ExitCode::FAILURE);
                }
                let code = bench_kernels(&gpu, batch, seconds, json.as_deref()).await?;
                crate::commands::choices::keep(&gpu);
                return Ok(code);
            }
            Command::BenchMatmul {
                size,
                seconds,
                kernel,
                json,
            } => {
                if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
                    eprintln!("error: --seconds must be a number in (0, 3600], got {seconds}");
                    return Ok(ExitCode::FAILURE);
                }
                use snapfreeze::kernels::matmul::MatmulAlgorithm;
                let kernels: &[MatmulAlgorithm] = match kernel {
                    MatmulKernelArg::All => &MatmulAlgorithm::ALL,
                    MatmulKernelArg::Registers => &[MatmulAlgorithm::Registers],
                    MatmulKernelArg::Shared => &[MatmulAlgorithm::Shared],
                    MatmulKernelArg::Wide => &[MatmulAlgorithm::Wide],
                    MatmulKernelArg::WideShort => &[MatmulAlgorithm::WideShort],
                    MatmulKernelArg::RegistersSplit => &[MatmulAlgorithm::RegistersSplit],
                    MatmulKernelArg::SharedSplit => &[MatmulAlgorithm::SharedSplit],
                    MatmulKernelArg::WideSplit => &[MatmulAlgorithm::WideSplit],
                    MatmulKernelArg::Pipelined => &[MatmulAlgorithm::Pipelined],
                    MatmulKernelArg::PipelinedSplit => &[MatmulAlgorithm::PipelinedSplit],
                };
                let r = bench::matmul(&gpu, size, seconds, kernels).await?;
                if json {
                    println!("{}", to_json(&r));
                } else {
                    for (name, gflops) in &r.by_kernel {
                        println!("  {name}: {gflops:.2} GFLOP/s");
                    }
                    println!(
                        "matmul {s}x{s}x{s}: {:.2} GFLOP/s by {} ({:.1} ms per product, {} reps) on {}",
                        r.gflops,
                        r.kernel,
                        r.ms_per_product,
                        r.reps,
                        r.adapter,
                        s = r.size
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A kernel-benchmark row with the CPU ceiling beside it.
    #[derive(serde::Serialize)]
    struct RowWithCpu {
        #[serde(flatten)]
        row: bench::suite::Row,
        cpu_sgemm_gflops: Option<f64>,
    }

    async fn bench_kernels(
        gpu: &Gpu,
        batch: u32,
        seconds: f64,
        json: Option<&std::path::Path>,
    ) -> Result<ExitCode, GpuError> {
        use bench::suite::{self, ConvPart, Item};
        println!("adapter: {}", gpu.adapter().summary());
        println!(
            "{:<44} {:<34} {:>9} {:>8} {:>7} {:>9} {:>7} {:>9} {:>8} {:>9} {:>7}",
            "kernel",
            "shape",
            "ms",
            "GFLOP/s",
            "GB/s",
            "naive ms",
            "xnaive",
            "i2c+mm ms",
            "picked",
            "CPU GF/s",
            "xCPU"
        );
        let opt =
            |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_default();
        let mut rows = Vec::new();
        for item in suite::items(batch, gpu.subgroup_rows()) {
            let row = suite::run_item(gpu, &item, seconds).await?;
            // The same machine's CPU sgemm on the equivalent product is the ceiling to beat.
            let gemm = match &item {
                Item::Matmul { shape } => Some((shape.m, shape.n, shape.k)),
                Item::Conv {
                    shape,
                    part: ConvPart::Forward,
                    ..
                } => Some((
                    shape.k,
                    shape.n * shape.p() * shape.q(),
                    shape.c * shape.r * shape.s,
                )),
                _ => None,
            };
            let cpu =
                gemm.map(|(m, n, k)| cpu_sgemm_gflops(m as usize, n as usize, k as usize, seconds));
            let vs_cpu = cpu.zip(row.gflops).map(|(c, g)| g / c);
            println!(
                "{:<44} {:<34} {:>9.3} {:>8} {:>7} {:>9} {:>7} {:>9} {:>8} {:>9} {:>7}",
                row.kernel,
                row.shape,
                row.ms,
                opt(row.gflops, 2),
                opt(row.gbps, 2),
                opt(row.naive_ms, 3),
                opt(row.speedup_vs_naive, 1),
                opt(row.im2col_matmul_ms, 3),
                row.picked.map_or("", |a| a.label()),
                opt(cpu, 1),
                opt(vs_cpu, 3)
            );
            rows.push(RowWithCpu {
                row,
                cpu_sgemm_gflops: cpu,
            });
        }
        if let Some(path) = json {
            let report =
                serde_json::json!({ "adapter": gpu.adapter(), "batch": batch, "rows": rows });
            if let Err(e) = std::fs::write(path, to_json(&report)) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return Ok(ExitCode::FAILURE);
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// GFLOP/s of this machine's CPU sgemm (the matrixmultiply crate, one thread) on an
    /// m x k by k x n product, timed for at least `seconds`.
    fn cpu_sgemm_gflops(m: usize, n: usize, k: usize, seconds: f64) -> f64 {
        let a = snapfreeze::checks::random_values(1, m * k);
        let b = snapfreeze::checks::random_values(2, k * n);
        let mut c = vec![0f32; m * n];
        let run = |c: &mut [f32]| unsafe {
            // Safety: the slices hold m*k, k*n and m*n elements with the row-major strides given.
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        };
        run(&mut c);
        let start = std::time::Instant::now();
        let mut reps = 0u32;
        while start.elapsed().as_secs_f64() < seconds || reps == 0 {
            run(&mut c);
            reps += 1;
        }
        2.0 * (m * n * k) as f64 * reps as f64 / start.elapsed().as_secs_f64() / 1e9
    }

    fn to_json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

// The page is built from the library; the binary has nothing to do in a browser.
#[cfg(target_arch = "wasm32")]
fn main() {}
