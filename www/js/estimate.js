// The expected time of a comparison before it starts: every run's steps times the seconds
// per step measured on this adapter for the same model, batch and image shape, either by an
// earlier run (kept in this browser) or by a quick probe of a few steps on demand.

import { adapterKey } from "./adapter.js";
import { $ } from "./dom.js";
import { duration, message } from "./format.js";
import { readSettings } from "./settings.js";
import { keepValue, loadValue } from "./saved.js";

/** Steps the probe times (the first, warm-up, is left out of the median). */
const PROBE_STEPS = 4;
/** Training images in the bundled datasets' training files, and their image shape. */
const BUNDLED = { images: 60_000, shape: { channels: 1, height: 28, width: 28 } };

/** What one measurement is filed under: the model, the batch and the image shape. */
const measurementKey = (config, shape) =>
  `${JSON.stringify(config.model)} batch ${config.batch} ${shape.channels}x${shape.height}x${shape.width}`;

/** Seconds per training step from a run's summary (median over its timing windows). */
export function secondsPerStep(summary, batch) {
  const median = summary?.speed?.median;
  return median > 0 ? batch / median : null;
}

export class Estimator {
  /** `page` gives the session, the module and the datasets (app.js's Page). */
  constructor(page) {
    this.page = page;
    this.times = {};
    this.key = null;
  }

  /** Reads the measurements kept for this adapter, then shows the estimate. */
  async load() {
    try {
      this.key = `step-times ${await adapterKey()}`;
      this.times = (await loadValue(this.key)) ?? {};
    } catch {
      this.times = {}; // no IndexedDB (private mode): measure each time
    }
    $("estimate-measure").addEventListener("click", () => this.probe());
    this.show();
  }

  /** Keeps a run's measured seconds per step for its model, batch and image shape. */
  record(config, shape, seconds) {
    if (!(seconds > 0)) return;
    this.times[measurementKey(config, shape)] = { seconds, at: Date.now() };
    if (this.key) keepValue(this.key, this.times).catch(() => {});
    this.show();
  }

  /** The dataset's training images and image shape as far as known before it loads. */
  dataShape() {
    const data = this.page.data;
    if ($("dataset").value !== "files") return BUNDLED;
    if (!data) return null;
    const d = data.train.describe();
    return { images: d.file_images, shape: d };
  }

  /** Shows the expected time under the buttons, or how to get one. */
  show() {
    const box = $("estimate");
    const { runs, problems } = readSettings(undefined);
    const data = this.dataShape();
    $("estimate-measure").hidden = true;
    if (problems.length > 0 || runs.length === 0) {
      box.textContent = "";
      return;
    }
    if (!data) {
      box.textContent = "Expected time: known once your files are read (press Train and compare).";
      return;
    }
    const config = runs[0].config;
    const images = config.train_limit > 0 ? Math.min(config.train_limit, data.images) : data.images;
    const steps = Math.floor(images / config.batch) * config.epochs;
    const measured = this.times[measurementKey(config, data.shape)];
    const work = `${runs.length} run${runs.length === 1 ? "" : "s"} of ${steps.toLocaleString("en")} steps`;
    if (!measured) {
      box.textContent = `Expected time: ${work}; the time per step of this model and batch has not been measured `
        + "on this adapter yet.";
      // The probe reads a bundled dataset (the user's files are read when a run starts).
      $("estimate-measure").hidden = $("dataset").value === "files";
      return;
    }
    const total = runs.length * steps * measured.seconds;
    const freezing = runs.some((r) => r.kind === "freezeout");
    box.textContent = `Expected time: about ${duration(total)} for ${work} at ${(1000 * measured.seconds).toFixed(0)} ms `
      + `a step (measured on this adapter ${new Date(measured.at).toLocaleString("en")}), plus the evaluations`
      + (freezing ? "; FreezeOut takes less once blocks freeze." : ".");
  }

  /** Times a few steps of the form's first run on this adapter, then shows the estimate. */
  async probe() {
    const box = $("estimate");
    const { runs, problems } = readSettings(undefined);
    if (problems.length > 0 || this.page.comparison || !this.page.session) return;
    const button = $("estimate-measure");
    button.disabled = true;
    box.textContent = "Measuring a few steps…";
    const config = {
      ...runs[0].config,
      method: { kind: "baseline", schedule: "cosine" },
      epochs: 1,
      train_limit: PROBE_STEPS * runs[0].config.batch,
      test_limit: 1,
      readback_every: 1,
      eval_every_epoch: false,
    };
    let data;
    let run;
    try {
      const source = await this.page.bundled($("dataset").value);
      data = source.open(this.page.wasm, config.train_limit, config.test_limit);
      run = await this.page.session.startTraining(config, data.train, data.test);
      await run.run(PROBE_STEPS);
      this.record(config, data.train.describe(), secondsPerStep(run.summary(), config.batch));
    } catch (e) {
      box.textContent = `The steps could not be measured: ${message(e)}`;
    } finally {
      run?.free();
      data?.train.free();
      data?.test.free();
      button.disabled = false;
    }
  }
}
