// Runs the kernel self-test case by case, showing each result as it arrives.

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** Runs every case; resolves to { passed, failed, total }. */
export async function runSelftest(session, { table, summary, progress }) {
  const cases = session.selftestCases();
  const body = table.tBodies[0];
  body.replaceChildren();
  progress.max = cases.length;
  progress.value = 0;
  summary.dataset.result = "running";
  let failed = 0;
  for (let i = 0; i < cases.length; i += 1) {
    summary.textContent = `Running case ${i + 1} of ${cases.length}…`;
    const row = document.createElement("tr");
    row.dataset.case = String(i);
    row.dataset.family = cases[i].family;
    try {
      const r = await session.runCheck(i);
      row.append(
        cell(String(i + 1)),
        cell(r.name),
        cell(r.rel_l2_error.toExponential(2)),
        cell(r.finite_difference_error == null ? "" : r.finite_difference_error.toExponential(2)),
        cell(r.gpu_ms.toFixed(1)),
        cell(r.passed ? "pass" : `FAIL: ${r.problem}`, r.passed ? "pass" : "fail"),
      );
      row.dataset.result = r.passed ? "pass" : "fail";
      if (!r.passed) failed += 1;
    } catch (e) {
      row.append(cell(String(i + 1)), cell(cases[i].name), cell("-"), cell("-"), cell("-"),
        cell(`ERROR: ${e.message ?? e}`, "fail"));
      row.dataset.result = "fail";
      failed += 1;
    }
    body.append(row);
    progress.value = i + 1;
  }
  const passed = cases.length - failed;
  summary.textContent = `${passed} of ${cases.length} kernel checks passed`;
  summary.dataset.result = failed === 0 ? "passed" : "failed";
  return { passed, failed, total: cases.length };
}
