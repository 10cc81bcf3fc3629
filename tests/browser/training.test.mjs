// The trainer API from the page's WebAssembly module, in headless Chromium on its WebGPU
// adapter: parse MNIST from the files the site serves, train a small CNN for an epoch on a
// subset, read metrics, evaluate, export a checkpoint; bad files and overlapping calls are
// refused with messages.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openSite } from "./harness.mjs";

let opened;
let page;
let problems;
before(async () => {
  opened = await openSite();
  ({ page, problems } = opened);
  await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 60_000 });
  const banner = await page.textContent("#fatal");
  assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", banner);
  // MNIST parsed from the files the site serves, for every test below.
  await page.evaluate(() => {
    window.loadMnist = async () => {
      const w = window.wasmBindings;
      const bytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
      const set = async (prefix) => w.WebDataset.fromIdx(
        await bytes(`data/mnist/${prefix}-images-idx3-ubyte.gz`),
        await bytes(`data/mnist/${prefix}-labels-idx1-ubyte.gz`));
      return { train: await set("train"), test: await set("t10k") };
    };
  });
});
after(async () => { await opened?.close(); });

test("a small CNN trains on an MNIST subset through the trainer API", { timeout: 300_000 }, async () => {
  const r = await page.evaluate(async () => {
    const w = window.wasmBindings;
    const { train, test } = await window.loadMnist();
    const session = await w.GpuSession.open();
    const config = {
      model: { family: "small", width: 8 },
      epochs: 2, batch: 32, lr: 0.02, train_limit: 512, test_limit: 300, readback_every: 4,
      forward: "measure",
    };
    const run = await session.startTraining(config, train, test);
    // Two steps with every kernel timed by the GPU (SwiftShader has timestamp queries); the
    // profile's own query set and buffers come before the allocation check below.
    const profile = await run.profileKernels(2);
    await run.run(1);
    const resourcesAfterFirstStep = session.resourceCounts();
    // A second call while one runs is refused, not queued.
    const first = run.run(7);
    let busy = null;
    try { await run.run(1); } catch (e) { busy = e.message; }
    await first;
    while (!run.progress().finished) await run.run(8);
    const resourcesAtEnd = session.resourceCounts();
    const checkpoint = await run.checkpoint();
    // The weight gradient's share of the finished run's step, by difference.
    const share = await run.timeKernelShare("conv2d_weight_grad", 2);
    const noShare = await run.timeKernelShare("no_such_kernel", 2);
    return {
      describe: train.describe(),
      model: run.model(),
      progress: run.progress(),
      steps: run.steps(0),
      epochs: run.epochs(),
      events: run.takeEvents().map((e) => e.kind),
      busy,
      profile,
      share,
      noShare,
      resourcesAfterFirstStep,
      resourcesAtEnd,
      checkpointBytes: checkpoint.length,
      headerLength: Number(new DataView(checkpoint.buffer).getBigUint64(0, true)),
      header: new TextDecoder().decode(checkpoint.slice(8, 8 + Number(new DataView(checkpoint.buffer).getBigUint64(0, true)))),
    };
  });
  assert.deepEqual(r.describe, { channels: 1, height: 28, width: 28, classes: 10, images: 60000, file_images: 60000 });
  assert.equal(r.model.name, "small-w8");
  assert.equal(r.model.blocks.length, 3);
  assert.deepEqual({ ...r.progress }, { iteration: 32, total: 32, stepsPerEpoch: 16, finished: true, divergedAt: null });
  assert.equal(r.steps.length, 32);
  assert.ok(r.steps.every((s) => Number.isFinite(s.loss)), "every loss is a number");
  assert.equal(r.epochs.length, 2);
  const last = r.epochs[1];
  assert.equal(last.test.images, 300);
  assert.ok(last.train_loss < r.epochs[0].train_loss, `training loss falls: ${JSON.stringify(r.epochs)}`);
  assert.ok(last.test.accuracy > 0.6, `test accuracy ${last.test.accuracy} after 2 short epochs`);
  assert.ok(r.events.includes("epoch") && r.events.includes("finished"), r.events.join(","));
  assert.match(r.busy ?? "", /busy/);
  assert.equal(r.share.kernels, "conv2d_weight_grad");
  assert.equal(r.share.rounds, 2);
  assert.ok(r.share.launches >= 2, `two convolutions a step: ${JSON.stringify(r.share)}`);
  for (const s of [r.share.removed, r.share.doubled]) {
    assert.ok(Number.isFinite(s.median) && s.low <= s.median && s.median <= s.high, JSON.stringify(s));
  }
  assert.ok(r.share.step_ms > 0 && r.share.steps_per_round >= 1, JSON.stringify(r.share));
  assert.equal(r.noShare, null);
  const timed = Object.fromEntries(r.profile.kernels.map((k) => [k.kernel, k]));
  assert.equal(r.profile.untimed, 0);
  // The register-tiled weight gradient, by its plain or its subgroup build (the same bits;
  // which one is timed once per device where the adapter has 4-lane subgroups).
  const wgrad = timed.conv2d_weight_grad ?? timed.conv2d_weight_grad_subgroup;
  assert.equal(wgrad?.launches % 2, 0, JSON.stringify(r.profile));
  assert.ok(wgrad.launches >= 4, "two convolutions in each of two steps");
  assert.equal(timed.sgd?.launches, 2, "one optimizer step per step");
  assert.ok(r.profile.kernels.every((k) => k.ms >= 0) && r.profile.kernels.some((k) => k.ms > 0), JSON.stringify(r.profile));
  assert.deepEqual(r.resourcesAtEnd, r.resourcesAfterFirstStep, "no GPU buffers or bind groups after the first step");
  const header = JSON.parse(r.header);
  assert.deepEqual(header["conv2.weight"].shape, [16, 8, 3, 3]);
  assert.deepEqual(header["fc.weight"].shape, [10, 16 * 7 * 7]);
  assert.equal(header["bn1.num_batches_tracked"].dtype, "I64");
  assert.ok(r.checkpointBytes > 8 + r.headerLength);
  assert.deepEqual(problems, []);
});

test("snapshots and FreezeOut through the trainer API", { timeout: 300_000 }, async () => {
  const r = await page.evaluate(async () => {
    const w = window.wasmBindings;
    const { train, test } = await window.loadMnist();
    const session = await w.GpuSession.open();
    const base = {
      model: { family: "small", width: 8 }, epochs: 2, batch: 32, lr: 0.02,
      train_limit: 256, test_limit: 100, readback_every: 4, forward: "implicit",
    };
    const snap = await session.startTraining({ ...base, method: { kind: "snapshot", cycles: 2 } }, train, test);
    while (!snap.progress().finished) await snap.run(8);
    const snapEvents = snap.takeEvents().filter((e) => e.kind === "snapshot");
    const file = await snap.snapshotCheckpoint(0);
    const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
    let missing = null;
    try { await snap.snapshotCheckpoint(5); } catch (e) { missing = e.message; }
    const freeze = await session.startTraining(
      { ...base, method: { kind: "freezeout", t0: 0.5, scaling: "linear", scaled_lr: true } }, train, test);
    while (!freeze.progress().finished) await freeze.run(8);
    return {
      snapSummary: snap.summary(),
      snapEvents,
      probabilities: snap.snapshotProbabilities(1).length,
      labels: snap.testLabels().length,
      header: JSON.parse(new TextDecoder().decode(file.slice(8, 8 + headerLength))),
      missing,
      table: snap.scheduleTable(5),
      freezeSummary: freeze.summary(),
      frozenEvents: freeze.takeEvents().filter((e) => e.kind === "frozen"),
      freezeTable: freeze.scheduleTable(16),
    };
  });
  // 8 steps per epoch, 16 in all, 2 cycles: snapshots after iterations 7 and 15.
  assert.deepEqual(r.snapSummary.snapshots.map((s) => s.iteration), [7, 15]);
  assert.deepEqual(r.snapEvents.map((e) => e.ensemble.length), [1, 2]);
  assert.equal(r.snapSummary.ensemble.length, 2);
  assert.ok(r.snapSummary.ensemble.every((p) => p.accuracy > 0.3 && p.accuracy <= 1), JSON.stringify(r.snapSummary.ensemble));
  assert.equal(r.probabilities, 100 * 10);
  assert.equal(r.labels, 100);
  assert.equal(r.header.__metadata__.snapshot, "0");
  assert.equal(r.header.__metadata__.iteration, "8");
  assert.match(r.missing ?? "", /snapshot 5 does not exist/);
  assert.deepEqual(r.table.snapshotIterations, [7, 15]);
  assert.equal(r.table.blocks[0].lrs[0], 0.02);
  // Small CNN: 3 blocks, t = 0.5, 0.75, 1 of 16 iterations -> frozen from 9 and 13.
  assert.deepEqual(r.frozenEvents.map((e) => [e.blocks, e.iteration]), [[1, 9], [2, 13]]);
  const work = r.freezeSummary.work;
  assert.ok(work.backward_flops < work.full_backward_flops, JSON.stringify(work));
  assert.ok(r.freezeSummary.theoretical_backward_saving > 0);
  assert.equal(r.freezeTable.blocks[0].freezeIteration, 9);
  assert.equal(r.freezeTable.blocks[2].freezeIteration, null);
  assert.equal(r.freezeTable.blocks[0].lrs.at(-1), null);
  assert.ok(r.freezeSummary.work.dispatches.sgd > 0);
  assert.deepEqual(problems, []);
});

test("every ensemble, FGE's members and SWA's average equal a float64 recomputation from their files", { timeout: 300_000 }, async () => {
  const r = await page.evaluate(async () => {
    const w = window.wasmBindings;
    const { train, test } = await window.loadMnist();
    const session = await w.GpuSession.open();
    // 8 steps per epoch.
    const base = {
      model: { family: "small", width: 4 }, batch: 32, lr: 0.02, dataset: "mnist",
      train_limit: 256, test_limit: 200, readback_every: 4, forward: "implicit",
    };
    const checked = async (config) => {
      const run = await session.startTraining({ ...base, ...config }, train, test);
      while (!run.progress().finished) await run.run(8);
      const check = await run.checkEnsemble(test);
      const file = await run.checkpoint();
      const headerLength = Number(new DataView(file.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(file.slice(8, 8 + headerLength)));
      return { check, summary: run.summary(), metadata: header.__metadata__, events: run.takeEvents().map((e) => e.kind) };
    };
    return {
      snapshot: await checked({ epochs: 3, method: { kind: "snapshot", cycles: 3 } }),
      // 3 epochs of pre-training, then c = 2: members after epochs 3 and 5.
      fge: await checked({ epochs: 6, method: { kind: "fge", pretrain: 0.5, cycle: 2 } }),
      // swa_start = 2 of 4 epochs: the ends of epochs 1, 2 and 3 averaged.
      swa: await checked({ epochs: 4, method: { kind: "swa", start: 0.5 } }),
    };
  });
  for (const [name, run] of Object.entries(r)) {
    assert.deepEqual(run.check.mismatches, [], name);
    assert.equal(run.check.images, 200, name);
    assert.ok(run.check.ties <= 4, `${name}: ${run.check.ties} ties`);
    assert.ok(run.check.max_probability_difference < 1e-3, `${name}: ${run.check.max_probability_difference}`);
    assert.equal(run.metadata.dataset, "mnist", name);
    assert.equal(JSON.parse(run.metadata.input_mean).length, 1, name);
  }
  assert.equal(r.snapshot.check.members, 3);
  assert.equal(r.snapshot.summary.diversity.disagreement.length, 3);
  assert.deepEqual(r.fge.summary.snapshots.map((s) => s.iteration), [31, 47]);
  assert.equal(r.fge.check.members, 2);
  assert.equal(r.fge.summary.kind, "fge");
  assert.equal(r.swa.check.members, 1);
  assert.equal(r.swa.summary.swa.models, 3);
  assert.deepEqual(r.swa.summary.final_test, r.swa.summary.swa.test);
  assert.equal(r.swa.events.filter((k) => k === "averaged").length, 3);
  assert.ok(r.swa.events.includes("swa"));
  assert.deepEqual(problems, []);
});

test("bad dataset files and settings are refused with messages", async () => {
  const r = await page.evaluate(async () => {
    const w = window.wasmBindings;
    const message = async (f) => { try { await f(); return null; } catch (e) { return e.message ?? String(e); } };
    const junk = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 0]);
    const images = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4]);
    const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 7]);
    const tiny = w.WebDataset.fromIdx(images, labels);
    const twoTiny = w.WebDataset.fromIdx(
      new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]),
      new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 3, 4]));
    // Four 8x8 images: big enough for the small CNN, small enough for every refusal below.
    const four = w.WebDataset.fromIdx(
      new Uint8Array([0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 8, ...new Array(256).fill(7)]),
      new Uint8Array([0, 0, 8, 1, 0, 0, 0, 4, 0, 1, 2, 3]));
    const session = await w.GpuSession.open();
    return {
      magic: await message(() => w.WebDataset.fromIdx(junk, junk)),
      truncated: await message(() => w.WebDataset.fromIdx(images.slice(0, 18), labels)),
      cifar: await message(() => w.WebDataset.fromCifar10([new Uint8Array(100)])),
      batch: await message(() => session.startTraining({ batch: 0 }, tiny, tiny)),
      lr: await message(() => session.startTraining({ lr: -1 }, tiny, tiny)),
      unknown: await message(() => session.startTraining({ learning_rate: 1 }, tiny, tiny)),
      depth: await message(() => session.startTraining({ model: { family: "resnet", depth: 21, width: 16 } }, tiny, tiny)),
      t0: await message(() => session.startTraining({ method: { kind: "freezeout", t0: 0, scaling: "cubic", scaled_lr: true } }, tiny, tiny)),
      method: await message(() => session.startTraining({ method: { kind: "dropout" } }, tiny, tiny)),
      // Files: dimensions whose product overflows, a label past the classes, bytes after
      // the last image, images too small for the model.
      overflow: await message(() => w.WebDataset.fromIdx(
        new Uint8Array([0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), labels)),
      label: await message(() => w.WebDataset.fromIdx(images, new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 200]))),
      trailing: await message(() => w.WebDataset.fromIdx(new Uint8Array([...images, 9, 9]), labels)),
      imageSize: await message(() => session.startTraining({ batch: 2, model: { family: "small", width: 4 } }, twoTiny, twoTiny)),
      // Settings: a batch larger than the data, a rate that is not a number, t0 past 1, more
      // snapshots than iterations.
      bigBatch: await message(() => session.startTraining({ batch: 64 }, four, four)),
      nan: await message(() => session.startTraining({ lr: NaN }, four, four)),
      t0high: await message(() => session.startTraining({ method: { kind: "freezeout", t0: 1.5, scaling: "linear", scaled_lr: true } }, four, four)),
      cycles: await message(() => session.startTraining({ batch: 2, epochs: 1, method: { kind: "snapshot", cycles: 5 } }, four, four)),
      fgeCycle: await message(() => session.startTraining({ method: { kind: "fge", pretrain: 0.8, cycle: 3 } }, four, four)),
      fgeShort: await message(() => session.startTraining({ batch: 2, epochs: 1, method: { kind: "fge", pretrain: 0.8, cycle: 2 } }, four, four)),
      swaStart: await message(() => session.startTraining({ method: { kind: "swa", start: 1.5 } }, four, four)),
      // A training set one 64x64 image larger than the adapter's largest buffer.
      tooLarge: await (async () => {
        const info = session.adapter();
        const limit = Math.min(Number(info.max_buffer_size), Number(info.max_storage_buffer_binding_size));
        const n = Math.floor(limit / 4096) + 1;
        const idx = (count, magic, dims, body) => {
          const bytes = new Uint8Array(4 + 4 * dims.length + body);
          const view = new DataView(bytes.buffer);
          view.setUint32(0, magic);
          dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
          return bytes;
        };
        const big = w.WebDataset.fromIdx(idx(n, 0x803, [n, 64, 64], n * 4096), idx(n, 0x801, [n], n));
        const small = w.WebDataset.fromIdx(idx(2, 0x803, [2, 64, 64], 2 * 4096), idx(2, 0x801, [2], 2));
        const said = await message(() => session.startTraining({ batch: 64, model: { family: "small", width: 4 } }, big, small));
        big.free();
        return { said, fits: n - 1 };
      })(),
    };
  });
  assert.match(r.magic, /not an IDX images file/);
  assert.match(r.truncated, /truncated/);
  assert.match(r.cifar, /CIFAR|3073/);
  assert.match(r.batch, /batch = 0 is not allowed/);
  assert.match(r.lr, /lr = -1 is not allowed/);
  assert.match(r.unknown, /learning_rate/);
  assert.match(r.depth, /6n \+ 2/);
  assert.match(r.t0, /t0 = 0 is not allowed/);
  assert.match(r.method, /dropout/);
  assert.match(r.overflow, /too large to be real/);
  assert.match(r.label, /label 200 of sample 0 is not below/);
  assert.match(r.trailing, /bytes after|trailing|more bytes/i);
  assert.match(r.imageSize, /needs at least 4x4/);
  assert.match(r.bigBatch, /larger than the 4 training images/);
  assert.match(r.nan, /lr|number|null/i);
  assert.match(r.t0high, /t0 = 1.5 is not allowed/);
  assert.match(r.cycles, /only 2 iterations/);
  assert.match(r.fgeCycle, /cycle = 3 is not allowed: use an even number/);
  assert.match(r.fgeShort, /leaves no whole epoch of pre-training/);
  assert.match(r.swaStart, /swa-start = 1.5 is not allowed/);
  assert.match(r.tooLarge.said, new RegExp(`more than the \\d+ this adapter allows in one buffer; use at most ${r.tooLarge.fits} training images`));
});
