// Runs the page's benchmarks in headless Chromium on its WebGPU adapter and prints the
// results as JSON. Needs a built site in dist/ (`trunk build --release`); `make bench`
// does both.
//   node scripts/bench-browser.mjs matmul [size] [seconds]     (defaults 1024, 5)
//   node scripts/bench-browser.mjs kernels [batch] [seconds]   (defaults 64, 0.5)

import { launchChromium, openPage, serveSite } from "../tests/browser/harness.mjs";

const mode = process.argv[2] ?? "matmul";
if (!["matmul", "kernels"].includes(mode)) {
  console.error(`unknown benchmark '${mode}': use matmul or kernels`);
  process.exit(2);
}
const first = Number(process.argv[3] ?? (mode === "matmul" ? 1024 : 64));
const seconds = Number(process.argv[4] ?? (mode === "matmul" ? 5 : 0.5));

/** Fills a form, submits it and waits for its status element to settle. */
async function runForm(page, fields, button, status) {
  for (const [selector, value] of Object.entries(fields)) await page.fill(selector, String(value));
  await page.click(button);
  await page.waitForFunction((sel) => {
    const r = document.querySelector(sel).dataset.result;
    return r === "done" || r === "error";
  }, status, { timeout: 3_600_000, polling: 1000 });
  if ((await page.getAttribute(status, "data-result")) !== "done") {
    throw new Error(await page.textContent(status));
  }
}

const site = await serveSite();
const browser = await launchChromium();
try {
  const { page } = await openPage(browser, site.url);
  // The self-test runs only when asked (?selftest=run), so nothing else uses the adapter.
  await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 120_000 });
  // The benchmark forms live in the diagnostics drawer.
  await page.evaluate(() => { document.getElementById("diagnostics").open = true; });
  if (await page.evaluate(() => document.body.dataset.state === "error")) {
    throw new Error(`the page has no GPU: ${await page.textContent("#fatal")}`);
  }
  const adapter = await page.$$eval("#adapter-info dd", (dds) =>
    Object.fromEntries(dds.map((dd) => [dd.dataset.key, dd.textContent])));
  const where = {
    browser: `Chromium ${browser.version()}`,
    adapter: `${adapter.vendor} ${adapter.architecture} (${adapter.backend}, ${adapter.type})`,
  };
  if (mode === "matmul") {
    await runForm(page, { "#bench-size": first, "#bench-seconds": seconds }, "#bench-run", "#bench-result");
    const gflops = Number(await page.getAttribute("#bench-result", "data-gflops"));
    console.log(JSON.stringify({ ...where, size: first, gflops, summary: await page.textContent("#bench-result") }, null, 2));
  } else {
    await runForm(page, { "#kernelbench-batch": first, "#kernelbench-seconds": seconds }, "#kernelbench-run", "#kernelbench-status");
    const rows = await page.$$eval("#kernelbench-table tbody tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    const keys = ["kernel", "shape", "ms", "gflops", "gbps", "naive_ms", "speedup_vs_naive", "im2col_matmul_ms", "picked"];
    const table = rows.map((cells) => Object.fromEntries(keys.map((k, i) => [k, cells[i]])));
    console.log(JSON.stringify({ ...where, batch: first, rows: table }, null, 2));
  }
} finally {
  await browser.close();
  await site.close();
}
