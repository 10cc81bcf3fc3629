// snapfreeze against TensorFlow.js in one headless Chromium on one WebGPU adapter:
// training throughput of the `small` CNN and ResNet-20 (batch 64, SGD with Nesterov
// momentum, MNIST images) against TensorFlow.js's webgpu, webgl and wasm backends, and a
// 1024^3 matmul against tf.matMul on webgpu. Prints a table of ratios (ours / theirs,
// higher is better for us) and writes everything to bench-results/tfjs.json. Natively, our
// matmul and a conv layer on wgpu's adapter (lavapipe without a GPU) against this machine's
// CPU sgemm, from `snapfreeze bench-kernels` (needs `cargo build --release`).
// Needs a built site (`trunk build --release`) and TensorFlow.js in bench/node_modules
// (`npm ci --prefix bench`); `make bench-tfjs` does all three.
//   node scripts/bench-tfjs.mjs [--quick] [--ours-only] [--model small|resnet20]
//   (--quick: fewer, shorter windows; --model: that network only)

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import sirv from "sirv";
import { launchChromium } from "../tests/browser/harness.mjs";

const quick = process.argv.includes("--quick");
// --ours-only: skip TensorFlow.js (and the native rows), for a quick look at our side.
const oursOnly = process.argv.includes("--ours-only");
const TIMING = quick ? { warmup: 2, windows: 2, steps: 2 } : { warmup: 2, windows: 3, steps: 4 };
const BATCH = 64;
const LR = 0.01;
const ALL_MODELS = [
  { name: "small", ours: { family: "small", width: 16 } },
  { name: "resnet20", ours: { family: "resnet", depth: 20, width: 16 } },
];
const only = process.argv.includes("--model") ? process.argv[process.argv.indexOf("--model") + 1] : null;
const MODELS = ALL_MODELS.filter((m) => only == null || m.name === only);
if (MODELS.length === 0) {
  console.error(`unknown --model '${only}': use ${ALL_MODELS.map((m) => m.name).join(" or ")}`);
  process.exit(2);
}
const BACKENDS = ["webgpu", "webgl", "wasm"];

/** The built site at /, TensorFlow.js from bench/node_modules at /node_modules, the bench page at /bench. */
async function serve() {
  const site = sirv("dist", { dev: true });
  const modules = sirv("bench/node_modules", { dev: true });
  const bench = sirv("bench", { dev: true });
  const server = createServer((req, res) => {
    const notFound = () => { res.statusCode = 404; res.end("not found"); };
    for (const [prefix, handler] of [["/node_modules/", modules], ["/bench/", bench]]) {
      if (req.url.startsWith(prefix)) {
        req.url = req.url.slice(prefix.length - 1);
        return handler(req, res, notFound);
      }
    }
    return site(req, res, notFound);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Our side, in the demo's module through the trainer API. */
async function oursTrain(page, model) {
  return page.evaluate(async ({ model, batch, lr, timing }) => {
    const w = window.wasmBindings;
    const bytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
    const batches = 8;
    const train = w.WebDataset.fromIdx(await bytes("/data/mnist/train-images-idx3-ubyte.gz"),
      await bytes("/data/mnist/train-labels-idx1-ubyte.gz"), batch * batches);
    const session = window.benchSession ?? (window.benchSession = await w.GpuSession.open());
    const total = timing.warmup + timing.windows * timing.steps;
    const run = await session.startTraining({
      model, batch, lr, momentum: 0.9, nesterov: true, weight_decay: 0,
      epochs: Math.ceil((total + timing.steps) / batches) + 1, train_limit: batch * batches, test_limit: batch,
      eval_every_epoch: false, augment: false, flip: false, readback_every: Math.max(timing.steps, timing.warmup),
    }, train, train);
    await run.run(timing.warmup);
    const timed = [];
    for (let k = 0; k < timing.windows; k += 1) {
      const started = performance.now();
      await run.run(timing.steps);
      timed.push((batch * timing.steps) / ((performance.now() - started) / 1000));
    }
    // Where our step's time goes: the same number of steps again, every kernel timed by
    // the GPU (timestamp queries), after the timed windows so they do not slow those down.
    let profile = null;
    try {
      profile = await run.profileKernels(timing.steps);
      profile.steps = timing.steps;
    } catch (e) {
      profile = { error: String(e.message ?? e) };
    }
    const losses = run.steps(0).map((s) => s.loss).slice(0, total);
    run.free();
    train.free();
    const sorted = [...timed].sort((a, b) => a - b);
    return {
      imagesPerSecond: sorted[Math.floor(sorted.length / 2)],
      windows: timed,
      lossFirst: losses.slice(0, timing.warmup),
      lossLast: losses.slice(-timing.steps),
      profile,
      // What this device measured and chose (algorithms, builds, blocks), as kept.
      kernelChoices: JSON.parse(session.kernelChoices()).choices ?? null,
    };
  }, { model, batch: BATCH, lr: LR, timing: TIMING });
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const falls = (r) => r && !r.error && mean(r.lossLast) < mean(r.lossFirst);
const fixed = (v, d = 1) => (v == null || !Number.isFinite(v) ? "–" : v.toFixed(d));

const server = await serve();
const browser = await launchChromium();
const results = { timing: TIMING, batch: BATCH, lr: LR, browser: `Chromium ${browser.version()}`, training: [], matmul: {} };
try {
  const ours = await browser.newPage();
  await ours.goto(`${server.url}/?selftest=off`);
  await ours.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 120_000 });
  results.adapter = await ours.evaluate(() => window.snapfreezePage?.adapter ?? null);
  const theirs = oursOnly ? null : await browser.newPage();
  if (theirs) {
    theirs.on("console", (m) => { if (m.type() === "error") console.error(`tfjs page: ${m.text()}`); });
    await theirs.goto(`${server.url}/bench/tfjs.html`);
    await theirs.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 120_000 });
    results.tfjs = await theirs.evaluate(() => window.tfBench.version);
  }

  for (const model of MODELS) {
    console.error(`ours: ${model.name}…`);
    const row = { model: model.name, ours: await oursTrain(ours, model.ours), tfjs: {} };
    for (const backend of theirs ? BACKENDS : []) {
      console.error(`TensorFlow.js ${backend}: ${model.name}…`);
      row.tfjs[backend] = await theirs.evaluate((args) => window.tfBench.train(args),
        { backend, model: model.name, batch: BATCH, lr: LR, ...TIMING });
    }
    results.training.push(row);
  }
  console.error("matmul 1024^3…");
  results.matmul.ours = await ours.evaluate(async () => window.benchSession.benchMatmul(1024, 3));
  if (theirs) results.matmul.tfjs = await theirs.evaluate(() => window.tfBench.matmul({ backend: "webgpu", size: 1024, reps: 3 }));
} finally {
  await browser.close();
  await server.close();
}

// Natively: our matmul and the stage-1 conv forward against the CPU's sgemm on the same GEMM.
const CLI = "target/release/snapfreeze";
if (oursOnly) {
  console.error("--ours-only: no native rows");
} else if (existsSync(CLI)) {
  console.error("native: snapfreeze bench-kernels…");
  mkdirSync("bench-results", { recursive: true });
  execFileSync(CLI, ["bench-kernels", "--batch", String(BATCH), "--seconds", quick ? "0.1" : "0.5", "--json", "bench-results/kernels-native.json"], { stdio: ["ignore", "ignore", "inherit"] });
  const native = JSON.parse(readFileSync("bench-results/kernels-native.json", "utf8"));
  results.native = {
    adapter: native.adapter,
    rows: native.rows.filter((r) => r.kernel === "matmul" || r.kernel === "conv forward (stage 1)").map((r) => ({
      kernel: r.kernel, shape: r.shape, gflops: r.gflops, cpuSgemmGflops: r.cpu_sgemm_gflops, ratio: r.gflops / r.cpu_sgemm_gflops,
    })),
  };
} else {
  console.error(`${CLI} is missing: run 'cargo build --release' for the native rows`);
}

// The table: ours against each backend, and against the fastest that trained.
const lines = [];
lines.push(`snapfreeze vs TensorFlow.js ${results.tfjs} — ${results.browser}, adapter ${results.adapter?.vendor ?? "?"} ${results.adapter?.architecture ?? ""}, batch ${BATCH}`);
lines.push("| network | ours img/s | webgpu img/s | webgl img/s | wasm img/s | ours / fastest TF.js | losses fall (ours; webgpu, webgl, wasm) |");
lines.push("| --- | --- | --- | --- | --- | --- | --- |");
for (const row of results.training) {
  const cells = BACKENDS.map((b) => (!row.tfjs[b] ? "–" : row.tfjs[b].error ? `cannot: ${row.tfjs[b].error.slice(0, 60)}` : fixed(row.tfjs[b].imagesPerSecond)));
  const trained = BACKENDS.filter((b) => row.tfjs[b] && !row.tfjs[b].error);
  const fastest = trained.length ? Math.max(...trained.map((b) => row.tfjs[b].imagesPerSecond)) : null;
  row.ratioToFastest = fastest ? row.ours.imagesPerSecond / fastest : null;
  const fall = [falls(row.ours), ...BACKENDS.map((b) => falls(row.tfjs[b]))].map((f) => (f ? "yes" : "no")).join("; ");
  lines.push(`| ${row.model} | ${fixed(row.ours.imagesPerSecond)} | ${cells.join(" | ")} | ${fixed(row.ratioToFastest, 2)}x | ${fall} |`);
}
const mm = results.matmul;
mm.ratio = mm.tfjs?.gflops ? mm.ours.gflops / mm.tfjs.gflops : null;
lines.push(`| matmul 1024^3 GFLOP/s | ${fixed(mm.ours?.gflops, 2)} | ${mm.tfjs?.error ?? fixed(mm.tfjs?.gflops, 2)} | | | ${fixed(mm.ratio, 2)}x | |`);
for (const r of results.native?.rows ?? []) {
  lines.push(`| native ${r.kernel} GFLOP/s (vs CPU sgemm) | ${fixed(r.gflops, 2)} | CPU ${fixed(r.cpuSgemmGflops, 1)} | | | ${fixed(r.ratio, 3)}x | |`);
}
// Our per-kernel GPU time, per model: the profile behind the throughput above.
for (const row of results.training) {
  const p = row.ours.profile;
  if (!p || p.error) {
    lines.push("", `ours, ${row.model}: no kernel profile (${p?.error ?? "not run"})`);
    continue;
  }
  const total = p.kernels.reduce((a, k) => a + k.ms, 0);
  lines.push("", `ours, ${row.model}: GPU time per step by kernel (timestamp queries, ${p.steps} steps): ${fixed(total / p.steps)} ms`);
  lines.push("| kernel | launches per step | ms per step | share |", "| --- | --- | --- | --- |");
  for (const k of p.kernels) {
    lines.push(`| ${k.kernel} | ${fixed(k.launches / p.steps, 0)} | ${fixed(k.ms / p.steps)} | ${fixed((100 * k.ms) / total)}% |`);
  }
  // The device-wide builds of the register tiles (per-layer choices are in the JSON).
  const builds = Object.entries(row.ours.kernelChoices ?? {}).filter(([q]) => q.startsWith("conv register"));
  if (builds.length) lines.push("", `register tiles on this device: ${builds.map(([q, a]) => `${q}: ${a}`).join("; ")}`);
}
console.log(lines.join("\n"));
mkdirSync("bench-results", { recursive: true });
writeFileSync("bench-results/tfjs.json", JSON.stringify(results, null, 2));
console.log("\nwritten: bench-results/tfjs.json");
