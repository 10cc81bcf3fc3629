// Entry point: open the GPU, fill the settings for this adapter, preload the default
// dataset, and run comparisons when asked, feeding the live, votes, compare and export
// views. Training runs on this thread between GPU submissions: each call into the module
// records and submits a few steps and then awaits the GPU, so the page stays responsive.

import "./subgroups.js"; // first: before any device is requested
import { wasmReady } from "./wasm.js";
import { showAdapter } from "./adapter.js";
import { keepChoices, openSession, showChoices } from "./choices.js";
import { wireDiagnostics } from "./diagnostics.js";
import { DataFileError, loadBundled, loadFiles } from "./datasets.js";
import { $, clearMessages, say } from "./dom.js";
import { initPresets } from "./presets.js";
import { initSettings, lockSettings, readDataChoice, readSettings, showProblems } from "./settings.js";
import { Comparison, callStats, newRecords } from "./runner.js";
import { LiveViews, showProgress } from "./live.js";
import { VotesView } from "./votes.js";
import { CompareView, resultRows } from "./compare.js";
import { Estimator, secondsPerStep } from "./estimate.js";
import { wireLoadWeights } from "./load-weights.js";
import { refreshExports, wireExports } from "./exports.js";
import { message } from "./format.js";
import { Saver } from "./saved.js";
import { offerKept, testImagesOf } from "./kept.js";
import { offerRecovery, offerResumeLower, sayFailed, sayResumed } from "./faults.js";
import { STATUS, isActive } from "./status.js";
/** The views redraw at most this often while training. */
const RENDER_INTERVAL_MS = 250;

function fatal(text, kind) {
  const banner = $("fatal");
  banner.textContent = text;
  banner.hidden = false;
  banner.dataset.kind = kind;
  document.body.dataset.state = "error";
}

class Page {
  constructor(wasm, session, adapter) {
    this.wasm = wasm;
    this.session = session;
    this.adapter = adapter;
    this.live = new LiveViews();
    this.votes = new VotesView();
    this.compare = new CompareView();
    this.records = [];
    this.data = null;
    /** What the records were trained on: {title, train, test} as `describe()` gives them. */
    this.dataset = null;
    this.saver = null;
    this.sources = new Map();
    this.comparison = null;
    this.lastRender = 0;
    this.renderQueued = false;
    wireExports(() => ({ adapter: this.adapter, dataset: this.dataset, records: this.records }));
    /** Calls into the module's run loop and the most steps one ran (see runner.js). */
    this.callStats = callStats;
  }

  /** The comparison table's rows, as the exports hold them (for scripts and tests). */
  resultRows() {
    return resultRows(this.records);
  }

  /** The bundled dataset `key`, fetched once (the default one starts loading at once). */
  bundled(key) {
    if (!this.sources.has(key)) {
      const loading = loadBundled(key);
      loading.catch(() => this.sources.delete(key));
      this.sources.set(key, loading);
    }
    return this.sources.get(key);
  }

  /** The chosen dataset opened with the runs' image limits; says what it holds. */
  async loadData(config) {
    const choice = readDataChoice();
    $("data-status").textContent = "Loading the dataset…";
    const source = choice.key === "files" ? await loadFiles(choice.files) : await this.bundled(choice.key);
    const data = source.open(this.wasm, config.train_limit, config.test_limit);
    const train = data.train.describe();
    const test = data.test.describe();
    const count = (d) => (d.images === d.file_images
      ? d.images.toLocaleString("en")
      : `the first ${d.images.toLocaleString("en")} of ${d.file_images.toLocaleString("en")}`);
    $("data-status").textContent = `${data.title}: ${count(train)} training and ${count(test)} test images of `
      + `${train.channels}x${train.height}x${train.width}, ${train.classes} classes.`;
    return data;
  }

  async start() {
    if (this.starting) return;
    this.starting = true;
    $("start").disabled = true;
    try {
      await this.compareMethods();
    } finally {
      this.starting = false;
      $("start").disabled = Boolean(this.comparison);
    }
  }

  async compareMethods() {
    clearMessages();
    document.body.dataset.run = "starting";
    // Every setting is checked before anything loads or trains: first what the form alone
    // can tell, then, with the data's size, whether the batch and each method fit the run.
    let { runs, problems } = readSettings(undefined);
    let data;
    if (problems.length === 0) {
      try {
        data = await this.loadData(runs[0].config);
      } catch (e) {
        const kind = e instanceof DataFileError ? "bad-file" : "error";
        $("data-status").textContent = "";
        say(kind === "bad-file" ? `That dataset cannot be used: ${message(e)}` : `Cannot start: ${message(e)}`, kind);
        document.body.dataset.run = "not-started";
        return;
      }
      ({ runs, problems } = readSettings(data.train.describe().images));
    }
    // Loaded weights fit only their own model.
    if (problems.length === 0 && this.initWeights
      && JSON.stringify(runs[0].config.model) !== JSON.stringify(this.initWeights.model)) {
      problems = [{ field: "model", text: `the weights to start from are a ${this.initWeights.title}: choose that model, `
        + "or start from the seeded weights" }];
    }
    showProblems(problems);
    if (problems.length > 0) {
      if (data && data !== this.data) {
        data.train.free();
        data.test.free();
      }
      const n = problems.length;
      say(`Nothing was trained: ${n === 1 ? "one setting needs" : `${n} settings need`} changing (marked in the form).`,
        "settings");
      const first = problems[0].field;
      (["methods", "form"].includes(first) ? $("start") : $(first)).focus();
      document.body.dataset.run = "not-started";
      return;
    }
    if (!(await this.ensureSession())) {
      document.body.dataset.run = "not-started";
      return;
    }
    this.useData(data);
    // `key` and the limits let a kept comparison reopen a bundled dataset for its votes.
    this.dataset = {
      title: data.title,
      key: readDataChoice().key,
      trainLimit: runs[0].config.train_limit,
      testLimit: runs[0].config.test_limit,
      train: data.train.describe(),
      test: data.test.describe(),
    };
    const init = this.initWeights ? { name: this.initWeights.name, bytes: this.initWeights.bytes } : null;
    this.records = newRecords(runs.map((r) => ({ ...r, init })));
    this.votes.reset();
    this.compare.reset(this.records);
    await this.train();
  }

  /** Opens a GPU session if there is none (the last one's device was lost); says why not. */
  async ensureSession() {
    if (this.session) return true;
    try {
      this.session = await openSession(this.wasm);
      return true;
    } catch (e) {
      say(`Could not open the GPU again: ${message(e)}`, "device-lost");
      return false;
    }
  }

  /** Makes `data` the dataset the views and training use (the previous one is freed). */
  useData(data) {
    if (this.data && this.data !== data) {
      this.data.train.free();
      this.data.test.free();
    }
    this.data = data;
  }

  /** Trains `this.records` on `this.data` (those still waiting), keeping them as they go. */
  async train() {
    const data = this.data;
    $("saved").hidden = true;
    // Kept in the browser as it goes, so a reload loses nothing (saved.js).
    const saver = new Saver(
      () => ({ adapter: this.adapter, dataset: this.dataset, records: this.records }),
      (e) => say(`The results cannot be kept in this browser's storage (${message(e)}); export them before `
        + "closing the page.", "error"),
      this.dataset.key === "files" ? testImagesOf(data) : null,
    );
    this.saver = saver;
    this.comparison = new Comparison(this.session, data, this.records, {
      started: (r) => {
        this.live.start(r);
        this.render(true);
        saver.now();
        // The model's build measured its kernel choices: keep them for the next start.
        if (this.session) {
          keepChoices(this.session);
          showChoices(this.session, $("kernel-choices"));
        }
      },
      progress: () => { this.render(false); saver.soon(); },
      checkpointed: () => { saver.now(); },
      snapshot: (r) => { this.votes.show(r, data); saver.now(); },
      changed: (r) => {
        this.render(true);
        saver.now();
        // A finished run's step time estimates the next comparison's (FreezeOut's median
        // mixes in its frozen steps, so it is not used).
        if (r.status === STATUS.done && r.kind !== "freezeout") {
          this.estimator?.record(r.config, this.dataset.train, secondsPerStep(r.summary, r.config.batch));
        }
      },
      failed: (r, how) => { sayFailed(r, how); saver.now(); },
      diverged: (r) => { offerResumeLower(this, r); saver.now(); },
      resumed: (r) => { sayResumed(this, r); saver.now(); },
      lost: (r) => { offerRecovery(this, r); saver.now(); },
    });
    lockSettings(true);
    this.buttons("running");
    const outcome = await this.comparison.run();
    if (outcome.deviceLost) this.session = null;
    this.render(true);
    await saver.now();
    lockSettings(false);
    const stopped = this.comparison.stopping;
    this.comparison = null;
    this.buttons(stopped ? "stopped" : "done");
    this.render(true); // the verdict, now that nothing runs
  }

  buttons(state) {
    document.body.dataset.run = state;
    const held = state === "diverged" || state === "interrupted";
    const running = state === "running" || state === "paused" || held;
    $("start").disabled = running;
    $("pause").disabled = !running || held;
    $("stop").disabled = !running;
    $("pause").textContent = state === "paused" ? "Resume" : "Pause";
    // A button that pressed itself disabled (Train when a run starts, Stop when it ends)
    // would drop the keyboard's focus to the page's top: keep it on the next useful control.
    const focused = document.activeElement;
    if (!focused || focused === document.body || focused.disabled) {
      if (running) $("stop").focus();
      else if (!$("verdict-panel").hidden) $("verdict-title").focus();
      else $("start").focus();
    }
  }

  togglePause() {
    if (!this.comparison) return;
    if (this.comparison.paused) {
      this.comparison.unpause();
      this.buttons("running");
    } else {
      this.comparison.pause();
      this.buttons("paused");
    }
  }

  /** Redraws the views, at most every RENDER_INTERVAL_MS unless `now`. */
  render(now) {
    const due = now || performance.now() - this.lastRender >= RENDER_INTERVAL_MS;
    if (!due) {
      if (!this.renderQueued) {
        this.renderQueued = true;
        setTimeout(() => { this.renderQueued = false; this.render(true); }, RENDER_INTERVAL_MS);
      }
      return;
    }
    this.lastRender = performance.now();
    const current = this.records.find((r) => isActive(r.status))
      ?? [...this.records].reverse().find((r) => r.steps.length > 0);
    if (current && current === this.live.record) this.live.update(current);
    if (current) showProgress(this.records, current);
    if (!document.body.dataset.firstStepMs && this.records.some((r) => r.steps.length > 0)) {
      document.body.dataset.firstStepMs = String(Math.round(performance.now()));
    }
    this.compare.update();
    this.compare.verdict(Boolean(this.comparison));
    this.compare.confusion.update(this.records, this.data?.classNames);
    refreshExports(this.records);
  }
}

async function main() {
  let wasm;
  try {
    wasm = await wasmReady();
  } catch (e) {
    fatal(message(e), "load");
    return;
  }
  let session;
  try {
    session = await openSession(wasm);
  } catch (e) {
    $("adapter-status").textContent = "No GPU available.";
    $("progress-text").textContent = "Cannot train: no WebGPU adapter.";
    fatal(message(e), "no-webgpu");
    return;
  }
  $("adapter-status").textContent = "";
  const adapter = await showAdapter(session, $("adapter-info"));
  showChoices(session, $("kernel-choices"));
  initSettings(wasm, adapter);
  initPresets();
  const page = new Page(wasm, session, adapter);
  window.snapfreezePage = page;
  page.bundled("mnist").catch(() => {});
  $("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    page.start();
  });
  $("pause").addEventListener("click", () => page.togglePause());
  $("stop").addEventListener("click", () => page.comparison?.stop());
  $("start").disabled = false;
  wireLoadWeights(page);
  page.estimator = new Estimator(page);
  const estimate = () => page.estimator.show();
  $("settings").addEventListener("input", estimate);
  $("settings").addEventListener("change", estimate);
  await page.estimator.load();
  await offerKept(page);
  document.body.dataset.state = "ready";
  // When start-up ended (module and WebAssembly evaluation, first layout, the GPU opened):
  // the responsiveness test counts the main thread's long tasks from here.
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  wireDiagnostics(session);
}

main();
