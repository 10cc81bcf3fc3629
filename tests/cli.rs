//! The native command-line program: adapter report, the no-adapter message, bad arguments.

use std::process::{Command, Output};

fn snapfreeze(args: &[&str], backend: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_snapfreeze"));
    command.args(args);
    if let Some(backend) = backend {
        command.env("WGPU_BACKEND", backend);
    }
    command.output().expect("the snapfreeze binary runs")
}

/// Runs the command line `line` (words separated by spaces).
fn snapfreeze_line(line: &str) -> Output {
    snapfreeze(&line.split_whitespace().collect::<Vec<_>>(), None)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn info_reports_the_adapter_as_json() {
    let out = snapfreeze(&["info", "--json"], None);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(report["backend"].is_string());
    assert!(report["max_storage_buffer_binding_size"].as_u64().unwrap() >= 128 << 20);
}

#[test]
fn no_adapter_says_which_variable_to_set() {
    // Metal is never compiled in on Linux and Windows, and asking only for it finds nothing;
    // on macOS ask for DX12 instead.
    let absent = if cfg!(target_os = "macos") {
        "dx12"
    } else {
        "metal"
    };
    let out = snapfreeze(&["info"], Some(absent));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no GPU adapter was found"), "{stderr}");
    assert!(stderr.contains("WGPU_BACKEND"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn absurd_arguments_are_rejected_with_a_message() {
    for args in [
        &["bench-matmul", "--size", "0"][..],
        &["bench-matmul", "--size", "banana"],
        &["bench-matmul", "--seconds", "-1"],
        &["bench-matmul", "--seconds", "NaN"],
        &["no-such-command"],
    ] {
        let out = snapfreeze(args, None);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// stderr without the software Vulkan driver's environment warnings.
fn message(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn train_rejects_bad_settings_and_files_with_one_line_saying_what_to_fix() {
    let dir = std::env::temp_dir().join(format!("snapfreeze-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // An IDX image file whose magic number is wrong, beside a valid label file.
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 0],
    )
    .unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 0],
    )
    .unwrap();
    let bad_dir = dir.to_str().unwrap();
    let cases: [(&[&str], &str); 20] = [
        (&["--batch", "0"], "batch = 0 is not allowed"),
        (
            &["--time-share", ""],
            "--time-share needs the start of a kernel name",
        ),
        (&["--lr", "-0.1"], "lr = -0.1 is not allowed"),
        (&["--lr", "NaN"], "lr = NaN is not allowed"),
        (&["--model", "resnet", "--depth", "21"], "6n + 2"),
        (
            &["--model", "densenet", "--depth", "41"],
            "depth - 4 divisible by 6",
        ),
        (&["--model", "alexnet"], "unknown model 'alexnet'"),
        (&["--epochs", "0"], "epochs = 0 is not allowed"),
        (&["--data-dir", "/nonexistent/mnist"], "make setup"),
        (&["--data-dir", bad_dir], "not an IDX images file"),
        (
            &["--train-limit", "10", "--batch", "64"],
            "larger than the 10 training images",
        ),
        (
            &["--method", "freezeout", "--t0", "0"],
            "t0 = 0 is not allowed",
        ),
        (
            &["--method", "freezeout", "--t0", "1.5"],
            "t0 = 1.5 is not allowed",
        ),
        (
            &["--method", "snapshot", "--cycles", "0"],
            "cycles = 0 is not allowed",
        ),
        (
            &["--method", "snapshot", "--alpha0", "-1"],
            "alpha0 = -1 is not allowed",
        ),
        (
            &[
                "--method",
                "snapshot",
                "--cycles",
                "500",
                "--train-limit",
                "640",
            ],
            // The small CNN's batch of 16: 40 steps an epoch, 2 epochs.
            "only 80 iterations",
        ),
        (
            &["--method", "fge", "--cycle", "3"],
            "cycle = 3 is not allowed: use an even number",
        ),
        (
            &["--method", "fge", "--pretrain", "1"],
            "pretrain = 1 is not allowed",
        ),
        (
            &["--method", "fge", "--epochs", "2", "--cycle", "4"],
            "never reach a cycle's middle epoch",
        ),
        (
            &["--method", "swa", "--swa-start", "0"],
            "swa-start = 0 is not allowed",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["train", "--quiet"];
        all.extend_from_slice(args);
        let out = snapfreeze(&all, None);
        let stderr = message(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} was accepted: {stderr}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_runs_end_to_end_and_saves_weights_and_results() {
    let dir = std::env::temp_dir().join(format!("snapfreeze-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (weights, json) = (dir.join("w.safetensors"), dir.join("r.json"));
    let args = [
        "train",
        "--quiet",
        "--width",
        "4",
        "--train-limit",
        "256",
        "--test-limit",
        "100",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--save",
        weights.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--time-share",
        "conv2d_weight_grad",
        "--time-share",
        "no_such_kernel",
    ];
    let out = snapfreeze(&args, None);
    assert!(out.status.success(), "{}", message(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("test accuracy"), "{stdout}");
    // Two convolutions, each with or without a second pass that adds its parts.
    let launches = ["2", "3", "4"].iter().any(|n| {
        stdout.contains(&format!(
            "conv2d_weight_grad* ({n} launches per step) by difference"
        ))
    });
    assert!(launches, "{stdout}");
    assert!(
        stdout.contains("--time-share no_such_kernel: no kernel of the step starts with that"),
        "{stdout}"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let shares = results["kernel_shares"].as_array().unwrap();
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(shares[0]["kernels"], "conv2d_weight_grad");
    assert_eq!(shares[0]["rounds"], 7);
    assert!(shares[0]["removed"]["median"].is_f64(), "{shares:?}");
    assert_eq!(results["iterations"], 8);
    assert_eq!(results["epochs"][0]["test"]["images"], 100);
    // The CPU's recording time per step, over the 8 steps: printed and in the JSON.
    assert!(stdout.contains("the CPU recorded a step in"), "{stdout}");
    for field in ["record_ms", "submit_ms"] {
        let ms = &results["summary"][field];
        let [low, median, mean, high] =
            ["low", "median", "mean", "high"].map(|k| ms[k].as_f64().unwrap());
        assert!(
            0.0 < low && low <= median && median <= high,
            "{field}: {ms}"
        );
        assert!(low <= mean && mean <= high, "{field}: {ms}");
        assert_eq!(ms["steps"], 8, "{field}: {ms}");
    }
    let saved = snapfreeze::checkpoint::load(&std::fs::read(&weights).unwrap()).unwrap();
    assert!(saved
        .iter()
        .any(|t| t.name == "conv1.weight" && t.shape == [4, 1, 3, 3]));
    // The saved weights start a new run.
    let again = snapfreeze(
        &[
            "train",
            "--quiet",
            "--width",
            "4",
            "--train-limit",
            "64",
            "--test-limit",
            "50",
            "--epochs",
            "1",
            "--batch",
            "32",
            "--init",
            weights.to_str().unwrap(),
        ],
        None,
    );
    assert!(again.status.success(), "{}", message(&again));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn schedule_prints_every_block_rate_as_csv() {
    let out = snapfreeze_line(
        "schedule --model resnet --depth 8 --method freezeout --t0 0.5 --scaling linear \
         --iterations 24",
    );
    assert!(out.status.success(), "{}", message(&out));
    let csv = text(&out.stdout);
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        ["iteration", "block", "lr", "frozen", "member", "average"]
    );
    // ResNet-8: 5 blocks, 24 iterations.
    assert_eq!(rows.len(), 1 + 24 * 5);
    let at = |j: usize, b: usize| &rows[1 + j * 5 + b];
    // Block 0 (t = 0.5): scaled start 0.1 / 0.5 = 0.2, trains up to j = 12, frozen from 13.
    assert_eq!(at(0, 0)[2], "0.2");
    assert_eq!(at(12, 0)[3], "false");
    assert_eq!(at(13, 0)[3], "true");
    assert_eq!(at(13, 0)[2], "0");
    assert_eq!(at(23, 4)[3], "false");
    // The stem's freeze shows in the summary on stderr.
    assert!(
        message(&out).contains("freezes at iteration 13"),
        "{}",
        message(&out)
    );

    let snapshot =
        snapfreeze_line("schedule --method snapshot --cycles 3 --iterations 12 --lr 0.1");
    assert!(snapshot.status.success(), "{}", message(&snapshot));
    let csv = text(&snapshot.stdout);
    // Small CNN: 3 blocks; every cycle of 4 restarts at 0.1.
    let lrs: Vec<&str> = csv
        .lines()
        .skip(1)
        .step_by(3)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!((lrs[0], lrs[4], lrs[8]), ("0.1", "0.1", "0.1"));
    assert!(message(&snapshot).contains("snapshots after iterations [3, 7, 11]"));

    // FGE and SWA count in epochs: 5 epochs of 4 iterations.
    let fge = snapfreeze_line(
        "schedule --method fge --pretrain 0.6 --cycle 2 --alpha1 0.05 --alpha2 0.001 \
         --epochs 5 --iterations-per-epoch 4",
    );
    assert!(fge.status.success(), "{}", message(&fge));
    let csv = text(&fge.stdout);
    let head: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .step_by(3)
        .map(|l| l.split(',').collect())
        .collect();
    // Pre-training ends after 3 epochs; the first cycle starts at alpha1, reaches alpha2
    // at its middle, where the member is taken (after iteration 15).
    assert_eq!(head[12][2], "0.05");
    assert_eq!(head[16][2], "0.001");
    assert_eq!(head[15][4], "true");
    assert_eq!(head.iter().filter(|r| r[4] == "true").count(), 1);
    assert!(message(&fge).contains("members after iterations [15]"));
    let swa = snapfreeze_line(
        "schedule --method swa --swa-start 0.5 --swa-lr 0.01 --lr 0.1 --epochs 4 \
         --iterations-per-epoch 2",
    );
    assert!(swa.status.success(), "{}", message(&swa));
    assert!(
        message(&swa).contains("weights averaged after iterations [3, 5, 7]"),
        "{}",
        message(&swa)
    );
    let by_iterations = snapfreeze_line("schedule --method swa --iterations 8");
    assert_eq!(by_iterations.status.code(), Some(1));
    assert!(message(&by_iterations).contains("counts in epochs"));

    let bad = snapfreeze(
        &[
            "schedule",
            "--method",
            "snapshot",
            "--cycles",
            "30",
            "--iterations",
            "12",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        message(&bad).contains("only 12 iterations"),
        "{}",
        message(&bad)
    );
}

#[test]
fn compare_tabulates_methods_over_seeds() {
    let dir = std::env::temp_dir().join(format!("snapfreeze-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("c.json");
    let out = snapfreeze_line(&format!(
        "compare --quiet --width 4 --train-limit 256 --test-limit 64 --epochs 1 --batch 32 \
         --methods step,snapshot,freezeout --cycles 2 --t0 0.5 --scaling linear --seeds 1,2 \
         --json {}",
        json.display()
    ));
    assert!(out.status.success(), "{}", message(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("test err %") && stdout.contains("ensemble err %"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(report["runs"].as_array().unwrap().len(), 6);
    assert_eq!(rows[0]["method"], "baseline-step");
    assert_eq!(rows[0]["runs"], 2);
    assert!(rows[0]["ensemble_error"].is_null());
    assert_eq!(rows[1]["ensemble_curve"].as_array().unwrap().len(), 2);
    assert!(rows[1]["ensemble_error"]["mean"].as_f64().unwrap() <= 1.0);
    assert!(rows[2]["step_flop_saving"].as_f64().unwrap() > 0.0);
    assert!(rows[2]["backward_saving_theory"].as_f64().unwrap() > 0.0);
    assert!(rows[2]["time_saved"].is_number());
    assert!(rows[2]["backward_saving_measured"].is_number());
    // The baseline timed its forward half, the reference of the backward saving.
    assert!(
        report["reference"]["forward_seconds_per_step"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    // `report` prints the same rows from the saved file.
    let again = dir.join("again.json");
    let out = snapfreeze_line(&format!(
        "report {} --json {}",
        json.display(),
        again.display()
    ));
    assert!(out.status.success(), "{}", message(&out));
    assert!(text(&out.stdout).contains("FreezeOut (t₀ = 0.5, linear, scaled)"));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(again["rows"], report["rows"]);
    assert_eq!(again["reference"], report["reference"]);
    // A file that is not a saved comparison is refused with a message.
    let out = snapfreeze_line(&format!("report {}", dir.join("again.json").display()));
    assert!(!out.status.success());
    assert!(
        message(&out).contains("not a saved comparison"),
        "{}",
        message(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_saves_every_snapshot() {
    let dir = std::env::temp_dir().join(format!("snapfreeze-snapshots-{}", std::process::id()));
    let out = snapfreeze_line(&format!(
        "train --quiet --width 4 --train-limit 128 --test-limit 32 --epochs 1 --batch 32 \
         --method snapshot --cycles 2 --save-snapshots {}",
        dir.display()
    ));
    assert!(out.status.success(), "{}", message(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ensemble of the last m snapshots: m=1"),
        "{stdout}"
    );
    assert!(stdout.contains("2 snapshots saved"), "{stdout}");
    for k in 1..=2 {
        let bytes = std::fs::read(dir.join(format!("snapshot-{k}.safetensors"))).unwrap();
        let tensors = snapfreeze::checkpoint::load(&bytes).unwrap();
        assert!(tensors.iter().any(|t| t.name == "fc.weight"));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_goes_on_from_its_saved_state_after_a_lost_device_to_the_same_results() {
    let dir = std::env::temp_dir().join(format!("snapfreeze-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    // 8 steps per epoch, 24 in all, read back every 4; snapshots after iterations 7, 15
    // and 23.
    let run = "train --quiet --width 4 --train-limit 256 --test-limit 64 --epochs 3 \
               --batch 32 --readback-every 4 --method snapshot --cycles 3";
    let whole = snapfreeze_line(&format!("{run} --json {}", path("whole.json")));
    assert!(whole.status.success(), "{}", message(&whole));

    // The device is destroyed halfway through epoch 2; the state of epoch 1 is kept.
    let lost = snapfreeze_line(&format!(
        "{run} --state {} --lose-device-at 12",
        path("run.state")
    ));
    assert!(!lost.status.success(), "a destroyed device trained on");
    let said = message(&lost);
    assert!(said.contains("device was lost"), "{said}");
    assert!(said.contains("run.state"), "{said}");
    let history =
        snapfreeze::train::RunState::history(&std::fs::read(path("run.state")).unwrap()).unwrap();
    assert_eq!(history.iteration, 8);
    assert_eq!(history.snapshots.len(), 1);

    // Only the dataset is named again: the settings come from the state.
    let resumed = snapfreeze_line(&format!(
        "train --quiet --state {} --resume --json {}",
        path("run.state"),
        path("resumed.json")
    ));
    assert!(resumed.status.success(), "{}", message(&resumed));
    assert!(message(&resumed).contains("going on from iteration 8 of 24"));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path(name)).unwrap()).unwrap()
    };
    let (a, b) = (read("whole.json"), read("resumed.json"));
    for key in ["iterations", "final_test_accuracy", "step_losses"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["summary"]["ensemble"], b["summary"]["ensemble"]);
    // A state that does not fit the data named is refused with a message.
    let other = snapfreeze_line(&format!(
        "train --quiet --state {} --resume --dataset fashion",
        path("run.state")
    ));
    assert!(!other.status.success());
    assert!(
        message(&other).contains("same dataset"),
        "{}",
        message(&other)
    );
    std::fs::remove_dir_all(&dir).ok();
}
