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
import { SettingsError, initSettings, lockSettings, readDataChoice, readRuns } from "./settings.js";
import { Comparison, canContinue, continueRecords, newRecords } from "./runner.js";
import { LiveViews, showProgress } from "./live.js";
import { VotesView } from "./votes.js";
import { CompareView } from "./compare.js";
import { refreshExports, wireExports } from "./exports.js";
import { message } from "./format.js";
import { Saver, forgetSaved, loadSaved, loadSavedSummary } from "./saved.js";

const $ = (id) => document.getElementById(id);
/** The views redraw at most this often while training. */
const RENDER_INTERVAL_MS = 250;

function fatal(text, kind) {
  const banner = $("fatal");
  banner.textContent = text;
  banner.hidden = false;
  banner.dataset.kind = kind;
  document.body.dataset.state = "error";
}

/** Adds a message under the buttons: kind is bad-file, settings, diverged, device-lost or error. */
function say(text, kind) {
  const box = $("run-message");
  const p = document.createElement("p");
  p.dataset.kind = kind;
  p.textContent = text;
  box.append(p);
  box.hidden = false;
  box.dataset.kind = kind;
}

function clearMessages() {
  $("run-message").replaceChildren();
  $("run-message").hidden = true;
}

/** A files dataset's test images as kept with its comparison (the votes draw them). */
function testImagesOf(data) {
  const shape = data.test.describe();
  return { shape, classNames: data.classNames, pixels: data.test.pixels(0, shape.images) };
}

/** Kept test images, shaped as the votes view reads a dataset. */
function keptTestImages({ shape, classNames, pixels }) {
  const size = shape.channels * shape.height * shape.width;
  return {
    classNames,
    test: {
      describe: () => shape,
      pixels: (start, count) => pixels.subarray(start * size, (start + count) * size),
    },
  };
}

/** Whether a kept comparison trained on a bundled dataset, which can be opened again (the
 * user's own files are not kept). */
const isBundled = (saved) => ["mnist", "fashion-mnist"].includes(saved.dataset?.key);

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
    let runs;
    let data;
    try {
      runs = readRuns();
      data = await this.loadData(runs[0].config);
    } catch (e) {
      const kind = e instanceof DataFileError ? "bad-file" : e instanceof SettingsError ? "settings" : "error";
      $("data-status").textContent = "";
      say(kind === "bad-file" ? `That dataset cannot be used: ${message(e)}` : `Cannot start: ${message(e)}`, kind);
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
    this.records = newRecords(runs);
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
      snapshot: (r) => { this.votes.show(r, data); saver.now(); },
      changed: () => { this.render(true); saver.now(); },
      failed: (r, how) => { this.failed(r, how); saver.now(); },
      diverged: (r) => { this.diverged(r); saver.now(); },
      resumed: (r) => { this.resumed(r); saver.now(); },
      lost: (r) => { this.lost(r); saver.now(); },
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
  }

  /** Shows a comparison kept from an earlier visit: curves, table and exports, and the
   * snapshots' votes when its dataset is a bundled one (their images come from the dataset,
   * which is not kept). */
  async restore(saved) {
    this.records = saved.records;
    this.dataset = saved.dataset;
    this.votes.reset();
    this.compare.reset(this.records);
    const last = [...this.records].reverse().find((r) => r.steps.length > 0);
    if (last) this.live.start(last);
    this.render(true);
    if (last) this.live.update(last);
    const voted = [...this.records].reverse().find((r) => r.snapshots.length > 0);
    if (!voted) return;
    if (!isBundled(saved)) {
      if (saved.testImages) {
        this.votes.show(voted, keptTestImages(saved.testImages));
      } else {
        $("votes-status").textContent = "The snapshots' votes need the test images of your own files: train again to see them.";
      }
      return;
    }
    try {
      this.useData(await this.reopen(saved));
      this.votes.show(voted, this.data);
    } catch (e) {
      $("votes-status").textContent = `The snapshots' votes could not be shown: ${message(e)}`;
    }
  }

  /** A kept comparison's bundled dataset, opened again with its limits. */
  async reopen(saved) {
    const source = await this.bundled(saved.dataset.key);
    return source.open(this.wasm, saved.dataset.trainLimit ?? 0, saved.dataset.testLimit ?? 0);
  }

  /**
   * Goes on with a kept comparison whose training was cut off (a reload, a crash of the
   * tab): the cut-off run goes on from its checkpoint and the runs after it follow. A
   * bundled dataset is opened again; the user's own files must be chosen again in the
   * form (the run checks they are the same data).
   */
  async continueSaved(saved) {
    clearMessages();
    const choice = readDataChoice();
    if (!isBundled(saved) && !(choice.key === "files" && choice.files.length > 0)) {
      say("This comparison trained on your own files, which the page does not keep: choose the same files "
        + "under Data (\"your own files\"), then press Go on training again.", "bad-file");
      return false;
    }
    await this.restore(saved);
    let data;
    try {
      data = isBundled(saved)
        ? this.data ?? (await this.reopen(saved))
        : (await loadFiles(choice.files)).open(this.wasm, saved.dataset.trainLimit ?? 0, saved.dataset.testLimit ?? 0);
    } catch (e) {
      say(`The dataset cannot be opened again: ${message(e)}`, e instanceof DataFileError ? "bad-file" : "error");
      return false;
    }
    // Other files (or limits) would make the cut-off run fail to restore: say so, and let
    // the user choose again.
    const wrong = this.records.map((r) => r.checkpoint).filter(Boolean).map((c) => {
      try {
        this.wasm.checkTrainingState(c.bytes, data.train, data.test);
        return null;
      } catch (e) {
        return message(e);
      }
    }).find(Boolean);
    if (wrong) {
      if (data !== this.data) {
        data.train.free();
        data.test.free();
      }
      say(`These files cannot continue the kept comparison: ${wrong}`, "bad-file");
      return false;
    }
    if (!(await this.ensureSession())) return false;
    this.useData(data);
    continueRecords(this.records);
    this.compare.reset(this.records);
    await this.train();
    return true;
  }

  /**
   * Offers the comparison kept in this browser, if there is one. Only its summary is read
   * now; the whole comparison when the user asks for it.
   */
  async offerSaved() {
    let summary;
    try {
      summary = await loadSavedSummary();
    } catch {
      return; // No storage (some private windows): nothing was kept.
    }
    if (!summary?.runs?.length) return;
    const whole = async () => {
      const saved = await loadSaved();
      if (!saved) throw new Error("the kept comparison is gone (forgotten in another tab?)");
      return saved;
    };
    const box = $("saved");
    const when = new Date(summary.savedAt).toLocaleString("en");
    const runs = summary.runs.map((r) => `${r.label} (${r.status})`).join(", ");
    const text = document.createElement("p");
    text.textContent = `Kept in this browser from ${when}: ${summary.dataset?.title ?? "a dataset"}, ${runs}.`;
    const choices = document.createElement("p");
    choices.className = "choices";
    const failed = (e) => say(`The kept comparison cannot be read: ${message(e)}`, "error");
    const show = document.createElement("button");
    show.id = "saved-show";
    show.type = "button";
    show.textContent = "Show and export it";
    show.addEventListener("click", async () => {
      try {
        await this.restore(await whole());
      } catch (e) {
        failed(e);
        return;
      }
      text.textContent = `Showing the comparison kept from ${when}; Train and compare starts a new one.`;
      choices.remove();
    });
    const forget = document.createElement("button");
    forget.id = "saved-forget";
    forget.type = "button";
    forget.textContent = "Forget it";
    forget.addEventListener("click", async () => {
      await forgetSaved().catch(() => {});
      box.hidden = true;
    });
    choices.append(show);
    if (canContinue(summary.runs)) {
      const cut = summary.runs.find((r) => ["starting", "running", "paused", "interrupted"].includes(r.status));
      const go = document.createElement("button");
      go.id = "saved-continue";
      go.type = "button";
      go.textContent = cut?.checkpointEpoch ? `Go on training from ${cut.label}'s epoch ${cut.checkpointEpoch}` : "Go on training";
      go.addEventListener("click", async () => {
        box.hidden = true;
        let going = false;
        try {
          going = await this.continueSaved(await whole());
        } catch (e) {
          failed(e);
        }
        if (!going) box.hidden = false;
      });
      choices.append(go);
    }
    choices.append(forget);
    box.replaceChildren(text, choices);
    box.hidden = false;
  }

  /** A run diverged and waits: offer to resume it at half its rates, or to give it up. */
  diverged(record) {
    this.buttons("diverged");
    say(`${record.label} diverged: ${record.error}. Its curves and snapshots up to that point are kept.`, "diverged");
    const choice = document.createElement("p");
    choice.className = "choices";
    const button = (id, text, factor) => {
      const b = document.createElement("button");
      b.id = id;
      b.type = "button";
      b.textContent = text;
      b.addEventListener("click", () => {
        choice.remove();
        this.buttons("running");
        this.comparison?.decideDivergence(factor);
      });
      return b;
    };
    choice.append(button("resume-lower", "Resume at half the learning rate", 0.5),
      button("give-up", "Give this run up", null));
    $("run-message").append(choice);
    this.render(true);
  }

  /**
   * The device was lost under a run, which waits: offer to open a new device and go on from
   * the run's last checkpoint (or from its start, if it had none), or to end here.
   */
  lost(record) {
    this.session = null;
    this.buttons("interrupted");
    const from = record.checkpoint;
    const choice = document.createElement("p");
    choice.className = "choices";
    const go = document.createElement("button");
    go.id = "recover";
    go.type = "button";
    go.textContent = from
      ? `Go on from epoch ${from.epoch} (iteration ${from.iteration}) on a new device`
      : "Start this run again on a new device";
    go.addEventListener("click", async () => {
      go.disabled = true;
      let session;
      try {
        session = await openSession(this.wasm);
      } catch (e) {
        say(`Could not open a new GPU device: ${message(e)}. Try again in a moment, or end here.`, "device-lost");
        go.disabled = false;
        return;
      }
      this.session = session;
      choice.remove();
      this.buttons("running");
      say(from ? `${record.label} goes on from its checkpoint after epoch ${from.epoch}; the steps after it are `
        + "trained again." : `${record.label} starts again.`, "recovered");
      this.comparison?.decideRecovery(session);
    });
    const end = document.createElement("button");
    end.id = "end-here";
    end.type = "button";
    end.textContent = "End the comparison here";
    end.addEventListener("click", () => {
      choice.remove();
      this.comparison?.decideRecovery(null);
    });
    choice.append(go, end);
    $("run-message").append(choice);
    this.render(true);
  }

  resumed(record) {
    const last = record.resumes.at(-1);
    say(`${record.label} resumed at iteration ${last.iteration} with every learning rate × ${last.factor} `
      + `(base ${last.lr.toPrecision(3)}).`, "resumed");
    this.render(true);
  }

  failed(record, { lost, diverged }) {
    if (lost) {
      say(`${record.label} stopped: ${record.error}. Everything finished before it is kept below and can be `
        + "exported.", "device-lost");
    } else if (diverged) {
      say(`${record.label} was given up after it diverged. Its curves and snapshots up to that point are `
        + "kept; lower the base LR (or α₀) and run again.", "diverged");
    } else {
      say(`${record.label} failed: ${record.error}`, "error");
    }
  }

  buttons(state) {
    document.body.dataset.run = state;
    const held = state === "diverged" || state === "interrupted";
    const running = state === "running" || state === "paused" || held;
    $("start").disabled = running;
    $("pause").disabled = !running || held;
    $("stop").disabled = !running;
    $("pause").textContent = state === "paused" ? "Resume" : "Pause";
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
    const current = this.records.find((r) => ["starting", "running", "paused"].includes(r.status))
      ?? [...this.records].reverse().find((r) => r.steps.length > 0);
    if (current && current === this.live.record) this.live.update(current);
    if (current) showProgress(this.records, current);
    if (!document.body.dataset.firstStepMs && this.records.some((r) => r.steps.length > 0)) {
      document.body.dataset.firstStepMs = String(Math.round(performance.now()));
    }
    this.compare.update();
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
  await page.offerSaved();
  document.body.dataset.state = "ready";
  // When start-up ended (module and WebAssembly evaluation, first layout, the GPU opened):
  // the responsiveness test counts the main thread's long tasks from here.
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  wireDiagnostics(session);
}

main();
