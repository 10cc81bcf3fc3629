// Entry point: open the GPU, show the adapter, run the self-test, offer the benchmark.

import { wasmReady } from "./wasm.js";
import { showAdapter } from "./adapter.js";
import { runSelftest } from "./selftest.js";
import { wireKernelBench } from "./kernelbench.js";

const $ = (id) => document.getElementById(id);

function fatal(message, kind) {
  const banner = $("fatal");
  banner.textContent = message;
  banner.hidden = false;
  banner.dataset.kind = kind;
  document.body.dataset.state = "error";
}

function wireBenchmark(session) {
  const form = $("bench-form");
  const button = $("bench-run");
  const out = $("bench-result");
  button.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const size = Number($("bench-size").value);
    const seconds = Number($("bench-seconds").value);
    button.disabled = true;
    out.dataset.result = "running";
    out.textContent = `Timing ${size}×${size}×${size} products…`;
    try {
      const r = await session.benchMatmul(size, seconds);
      out.textContent = `${r.gflops.toFixed(2)} GFLOP/s — ${r.ms_per_product.toFixed(1)} ms per `
        + `${r.size}³ product, ${r.reps} timed`;
      out.dataset.result = "done";
      out.dataset.gflops = String(r.gflops);
    } catch (e) {
      out.textContent = `Benchmark failed: ${e.message ?? e}`;
      out.dataset.result = "error";
    } finally {
      button.disabled = false;
    }
  });
}

async function main() {
  let wasm;
  try {
    wasm = await wasmReady();
  } catch (e) {
    fatal(e.message, "load");
    return;
  }
  let session;
  try {
    session = await wasm.GpuSession.open();
  } catch (e) {
    $("adapter-status").textContent = "No GPU available.";
    $("selftest-summary").textContent = "Not run: no GPU.";
    $("selftest-summary").dataset.result = "error";
    fatal(e.message ?? String(e), "no-webgpu");
    return;
  }
  $("adapter-status").textContent = "";
  await showAdapter(session, $("adapter-info"));
  document.body.dataset.state = "ready";
  wireBenchmark(session);
  wireKernelBench(wasm, session, {
    form: $("kernelbench-form"),
    button: $("kernelbench-run"),
    batch: $("kernelbench-batch"),
    seconds: $("kernelbench-seconds"),
    status: $("kernelbench-status"),
    table: $("kernelbench-table"),
  });
  // ?selftest=off skips the self-test (the browser tests of training use it).
  if (new URLSearchParams(location.search).get("selftest") === "off") {
    $("selftest-summary").textContent = "Skipped (selftest=off in the address).";
    return;
  }
  const outcome = await runSelftest(wasm, session, {
    table: $("selftest-table"),
    summary: $("selftest-summary"),
    progress: $("selftest-progress"),
  });
  document.body.dataset.selftest = outcome.failed === 0 ? "passed" : "failed";
}

main();
