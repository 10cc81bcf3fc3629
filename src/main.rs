//! Native command-line program: adapter information, kernel self-tests and benchmarks.

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
        /// Show the GPU adapter wgpu picks (choose with WGPU_BACKEND) and its limits.
        Info {
            /// Print JSON instead of text.
            #[arg(long)]
            json: bool,
        },
        /// Check every kernel against its CPU reference on this adapter.
        Selftest,
        /// Measure matmul throughput (GFLOP/s) on square matrices.
        BenchMatmul {
            /// m = n = k.
            #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=16384))]
            size: u32,
            /// Keep timing for at least this many seconds.
            #[arg(long, default_value_t = 3.0)]
            seconds: f64,
            /// Print JSON instead of text.
            #[arg(long)]
            json: bool,
        },
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match pollster::block_on(run(cli.command)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(command: Command) -> Result<ExitCode, GpuError> {
        let gpu = Gpu::new().await?;
        match command {
            Command::Info { json } => {
                let report = gpu.adapter();
                if json {
                    println!("{}", to_json(report));
                } else {
                    println!("adapter: {}", report.summary());
                    println!("{}", to_json(report));
                }
            }
            Command::Selftest => {
                println!("adapter: {}", gpu.adapter().summary());
                let mut failed = 0;
                let cases = checks::all_cases();
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
            Command::BenchMatmul {
                size,
                seconds,
                json,
            } => {
                if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
                    eprintln!("error: --seconds must be a number in (0, 3600], got {seconds}");
                    return Ok(ExitCode::FAILURE);
                }
                let r = bench::matmul(&gpu, size, seconds).await?;
                if json {
                    println!("{}", to_json(&r));
                } else {
                    println!(
                        "matmul {s}x{s}x{s}: {:.2} GFLOP/s ({:.1} ms per product, {} reps) on {}",
                        r.gflops,
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
