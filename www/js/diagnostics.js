// The diagnostics drawer: the kernel self-test (on demand, or on opening with
// ?selftest=run), the matmul benchmark and the kernel benchmark.

import { runSelftest } from "./selftest.js";
import { wireKernelBench } from "./kernelbench.js";
import { $ } from "./dom.js";


function wireMatmulBench(session) {
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

/** Enables the self-test and both benchmarks on `session`. */
export function wireDiagnostics(session) {
  wireMatmulBench(session);
  wireKernelBench(session, {
    form: $("kernelbench-form"),
    button: $("kernelbench-run"),
    batch: $("kernelbench-batch"),
    seconds: $("kernelbench-seconds"),
    status: $("kernelbench-status"),
    table: $("kernelbench-table"),
  });
  const button = $("selftest-run");
  const selftest = async () => {
    button.disabled = true;
    const outcome = await runSelftest(session, {
      table: $("selftest-table"),
      summary: $("selftest-summary"),
      progress: $("selftest-progress"),
    });
    document.body.dataset.selftest = outcome.failed === 0 ? "passed" : "failed";
    button.disabled = false;
  };
  button.disabled = false;
  button.addEventListener("click", selftest);
  if (new URLSearchParams(location.search).get("selftest") === "run") {
    $("diagnostics").open = true;
    selftest();
  }
}
