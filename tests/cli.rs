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
