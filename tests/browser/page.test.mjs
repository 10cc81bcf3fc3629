// Browser tests against the site `trunk build --release` produced: the kernel self-test
// (?selftest=run starts it on opening) runs on Chromium's WebGPU adapter, the benchmark reports a figure, and a browser without
// WebGPU gets a visible explanation. A missing WebGPU adapter fails these tests; nothing skips.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { launchChromium, openPage, screenshot, serveSite } from "./harness.mjs";

const SELFTEST_TIMEOUT_MS = 15 * 60_000;

let site;
before(async () => { site = await serveSite(); });
after(async () => { await site?.close(); });

test("the wasm preload carries no integrity attribute (it drew a console warning on every load)", () => {
  const html = readFileSync("dist/index.html", "utf8");
  const preload = html.match(/<link[^>]*_bg\.wasm[^>]*>/)?.[0];
  assert.ok(preload, "the wasm module is preloaded");
  assert.doesNotMatch(preload, /\bintegrity=/, preload);
});

describe("with WebGPU", () => {
  let browser;
  let page;
  let problems;
  before(async () => {
    browser = await launchChromium();
    ({ page, problems } = await openPage(browser, `${site.url}?selftest=run`));
  });
  after(async () => { await browser?.close(); });

  test("every kernel self-test case passes on the browser's WebGPU adapter", { timeout: SELFTEST_TIMEOUT_MS }, async () => {
    await page.waitForFunction(
      () => document.body.dataset.selftest || document.body.dataset.state === "error",
      null,
      { timeout: SELFTEST_TIMEOUT_MS, polling: 500 },
    );
    await screenshot(page, "selftest");
    const state = await page.evaluate(() => document.body.dataset.state);
    const banner = await page.textContent("#fatal");
    assert.equal(state, "ready", `the page could not use WebGPU: ${banner}`);

    const rows = await page.$$eval("#selftest-table tbody tr", (trs) => trs.map((tr) => ({
      family: tr.dataset.family,
      result: tr.dataset.result,
      text: tr.innerText.replace(/\s+/g, " "),
    })));
    const count = (family) => rows.filter((r) => r.family === family).length;
    assert.ok(count("matmul") >= 120, `expected at least 120 matmul cases, got ${count("matmul")}`);
    assert.ok(count("conv") >= 80, `expected at least 80 conv cases, got ${count("conv")}`);
    assert.ok(count("elementwise") >= 25, `expected at least 25 elementwise cases, got ${count("elementwise")}`);
    assert.ok(count("loss") >= 10, `expected at least 10 loss cases, got ${count("loss")}`);
    assert.ok(count("optim") >= 7, `expected at least 7 optimiser cases, got ${count("optim")}`);
    assert.ok(count("pool") >= 30, `expected at least 30 pooling cases, got ${count("pool")}`);
    assert.ok(count("norm") >= 25, `expected at least 25 batch-norm cases, got ${count("norm")}`);
    assert.ok(count("linear") >= 20, `expected at least 20 linear cases, got ${count("linear")}`);
    assert.ok(count("data") >= 7, `expected at least 7 gather cases, got ${count("data")}`);
    assert.ok(count("ensemble") >= 10, `expected at least 10 ensemble cases, got ${count("ensemble")}`);
    // Where the adapter has subgroups of four lanes (SwiftShader does), the page asked for the
    // feature wgpu cannot name, and the register kernels' subgroup build is checked too.
    const adapter = await page.evaluate(() => window.snapfreezePage.adapter);
    if (adapter.subgroup_sizes?.[0] === 4 && adapter.subgroup_sizes?.[1] === 4) {
      assert.equal(adapter.subgroup_rows, true, "subgroups of four lanes, but not given to the device");
      assert.ok(rows.filter((r) => /by subgroup-shared rows/.test(r.text)).length >= 60, "no subgroup build cases");
    }
    const failed = rows.filter((r) => r.result !== "pass");
    assert.deepEqual(failed, [], "cases that failed in the browser");
    assert.equal(await page.getAttribute("#selftest-summary", "data-result"), "passed");
    const shapes = rows.map((r) => r.text).join("\n");
    assert.match(shapes, /C\[1x1\] = A\[1x1\] \* B\[1x1\]/);
    assert.match(shapes, /C\[521x523\] = A\^T\[521x541\] \* B\^T\[541x523\]/);
    assert.match(shapes, /conv input grad .* \(channel slices, accumulate\)/);
    assert.match(shapes, /conv weight grad 2x3x9x11 \* 5x3x3x3 \/1 pad 1 -> 2x5x9x11 \d\.\d\de[-+]\d+ \d\.\d\de[-+]\d+ /);
    assert.deepEqual(problems, []);
  });

  test("the adapter panel names the backend and the limits", async () => {
    const backend = await page.textContent('#adapter-info dd[data-key="backend"]');
    assert.equal(backend, "BrowserWebGpu");
    const binding = await page.textContent('#adapter-info dd[data-key="max storage binding"]');
    assert.match(binding, /\d+(\.\d)? (MiB|GiB)/);
  });

  test("the benchmark reports GFLOP/s", { timeout: 120_000 }, async () => {
    await page.fill("#bench-size", "256");
    await page.fill("#bench-seconds", "0.3");
    await page.click("#bench-run");
    await page.waitForFunction(() => {
      const r = document.getElementById("bench-result").dataset.result;
      return r === "done" || r === "error";
    }, null, { timeout: 110_000 });
    await screenshot(page, "benchmark");
    const text = await page.textContent("#bench-result");
    const gflops = Number(await page.getAttribute("#bench-result", "data-gflops"));
    assert.ok(gflops > 0 && Number.isFinite(gflops), `no figure: ${text}`);
    assert.match(text, /GFLOP\/s/);
  });

  test("the kernel benchmark times every kernel", { timeout: 600_000 }, async () => {
    await page.fill("#kernelbench-batch", "2");
    await page.fill("#kernelbench-seconds", "0.01");
    await page.click("#kernelbench-run");
    await page.waitForFunction(() => {
      const r = document.getElementById("kernelbench-status").dataset.result;
      return r === "done" || r === "error";
    }, null, { timeout: 590_000, polling: 500 });
    await screenshot(page, "kernel-benchmark");
    const status = await page.textContent("#kernelbench-status");
    assert.equal(await page.getAttribute("#kernelbench-status", "data-result"), "done", status);
    const rows = await page.$$eval("#kernelbench-table tbody tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    assert.ok(rows.length >= 40, `only ${rows.length} rows`);
    for (const cells of rows) assert.ok(Number(cells[2]) > 0, `no time for ${cells[0]}`);
    const matmul = rows.find((cells) => cells[0] === "matmul");
    assert.ok(Number(matmul[3]) > 0 && matmul[6].endsWith("×"), `matmul row: ${matmul}`);
    // The register-tiled forward's rows, beside the naive baseline and im2col (the variants'
    // rows have no baseline beside them).
    const convForward = rows.filter((cells) => cells[0].startsWith("conv forward ("));
    assert.ok(convForward.length >= 7);
    for (const cells of convForward) {
      assert.ok(cells[6].endsWith("×") && Number(cells[7]) > 0, `conv row: ${cells}`);
      assert.match(cells[8], /^(implicit GEMM|im2col \+ matmul)$/);
    }
  });
});

describe("without WebGPU", () => {
  const cases = {
    "no navigator.gpu": () => {
      Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
    },
    "no adapter": () => {
      if (globalThis.GPU) GPU.prototype.requestAdapter = async () => null;
    },
  };
  for (const [name, initScript] of Object.entries(cases)) {
    test(`the page explains what to do (${name})`, { timeout: 120_000 }, async () => {
      const browser = await launchChromium();
      try {
        const { page } = await openPage(browser, site.url, { initScript });
        await page.waitForFunction(() => document.body.dataset.state === "error", null, { timeout: 100_000 });
        await screenshot(page, `no-webgpu-${name.replace(/\W+/g, "-")}`);
        assert.ok(await page.isVisible("#fatal"));
        const text = await page.textContent("#fatal");
        assert.match(text, /WebGPU is unavailable/);
        assert.match(text, /enable-unsafe-webgpu/);
        assert.equal(await page.getAttribute("#fatal", "data-kind"), "no-webgpu");
      } finally {
        await browser.close();
      }
    });
  }
});
