// The kernel benchmark: runs each item in turn and adds its row as it arrives.

const fixed = (v, digits) => (v == null ? "" : v.toFixed(digits));

function rowOf(r) {
  const tr = document.createElement("tr");
  for (const text of [
    r.kernel,
    r.shape,
    fixed(r.ms, 3),
    fixed(r.gflops, 2),
    fixed(r.gbps, 2),
    fixed(r.naive_ms, 3),
    r.speedup_vs_naive == null ? "" : `${r.speedup_vs_naive.toFixed(1)}×`,
    fixed(r.im2col_matmul_ms, 3),
    PICKED[r.picked] ?? "",
  ]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

/** How the forward choice's answers read in the table. */
const PICKED = {
  implicit_gemm: "implicit GEMM",
  implicit_gemm_subgroup: "implicit GEMM, subgroup build",
  im2col_matmul: "im2col + matmul",
  shared_tiles: "workgroup-memory tiles",
  im2col_shared_matmul: "im2col + workgroup-memory matmul",
};

/** Enables the benchmark form; each run replaces the table. */
export function wireKernelBench(session, { form, button, batch, seconds, status, table }) {
  button.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const b = Number(batch.value);
    const s = Number(seconds.value);
    const items = session.kernelBenchItems(b);
    const body = table.tBodies[0];
    body.replaceChildren();
    button.disabled = true;
    status.dataset.result = "running";
    try {
      for (let i = 0; i < items.length; i += 1) {
        status.textContent = `Timing kernel ${i + 1} of ${items.length}…`;
        body.append(rowOf(await session.runKernelBench(b, i, s)));
      }
      status.textContent = `${items.length} kernels timed at batch ${b}.`;
      status.dataset.result = "done";
    } catch (e) {
      status.textContent = `Kernel benchmark failed: ${e.message ?? e}`;
      status.dataset.result = "error";
    } finally {
      button.disabled = false;
    }
  });
}
