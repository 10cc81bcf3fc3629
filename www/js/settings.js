// The settings form: defaults for the adapter at hand, the model's base learning rate, and
// the form read into one training configuration per chosen method.

import { $ } from "./dom.js";
import { bindings } from "./wasm.js";

/** Defaults on a software adapter: a budget that finishes the comparison in minutes. */
const SOFTWARE_DEFAULTS = { trainLimit: 1000, testLimit: 500, epochs: 3 };

/** A setting the form cannot turn into a run. */
export class SettingsError extends Error {}

/** Fills the defaults for this adapter and keeps the LR box in step with the model. */
export function initSettings(wasm, adapter) {
  const note = $("defaults-note");
  if (adapter.device_type === "Cpu") {
    $("train-limit").value = SOFTWARE_DEFAULTS.trainLimit;
    $("test-limit").value = SOFTWARE_DEFAULTS.testLimit;
    $("epochs").value = SOFTWARE_DEFAULTS.epochs;
    note.textContent = `This browser gave a software (CPU) WebGPU adapter, so the defaults are cut to the first `
      + `${SOFTWARE_DEFAULTS.trainLimit.toLocaleString("en")} training images, ${SOFTWARE_DEFAULTS.testLimit.toLocaleString("en")} `
      + `test images and ${SOFTWARE_DEFAULTS.epochs} epochs; on a GPU, set both image counts to 0 (all) and use 6 epochs.`;
  } else {
    note.textContent = "Defaults: every MNIST image for 6 epochs with a small CNN, three times (1.08 million "
      + "training images in all); the progress bar says how long is left once it starts.";
  }
  // The rate follows the model, at the batch size in the form then (the small CNN takes a
  // lower one at batch 16 and below).
  const setLr = () => {
    const batch = Number($("batch").value);
    $("lr").value = wasm.defaultLr(JSON.parse($("model").value), Number.isInteger(batch) && batch > 0 ? batch : 64);
  };
  $("model").addEventListener("change", setLr);
  setLr();
  $("dataset").addEventListener("change", () => {
    $("files-label").hidden = $("dataset").value !== "files";
  });
}

function numberOf(id, what, { integer = true, min = -Infinity, optional = false } = {}) {
  const text = $(id).value.trim();
  if (optional && text === "") return undefined;
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) throw new SettingsError(`${what} must be a number (got '${text}')`);
  if (integer && !Number.isInteger(value)) throw new SettingsError(`${what} must be a whole number (got ${text})`);
  if (value < min) throw new SettingsError(`${what} must be at least ${min} (got ${text})`);
  return value;
}

/** The chosen runs: [{label, method, config}] with one shared budget, data and seed. */
export function readRuns() {
  const common = {
    model: JSON.parse($("model").value),
    epochs: numberOf("epochs", "epochs", { min: 1 }),
    batch: numberOf("batch", "batch size", { min: 1 }),
    lr: numberOf("lr", "base LR", { integer: false }),
    seed: numberOf("seed", "seed", { min: 0 }),
    train_limit: numberOf("train-limit", "training images", { min: 0 }),
    test_limit: numberOf("test-limit", "test images", { min: 0 }),
    readback_every: 16,
  };
  const runs = [];
  if ($("use-baseline").checked) {
    const schedule = $("baseline-schedule").value;
    runs.push({ kind: "baseline", method: { kind: "baseline", schedule } });
  }
  if ($("use-snapshot").checked) {
    const cycles = numberOf("cycles", "M (snapshots)", { min: 1 });
    const alpha0 = numberOf("alpha0", "α₀", { integer: false, optional: true });
    runs.push({
      kind: "snapshot",
      method: alpha0 === undefined ? { kind: "snapshot", cycles } : { kind: "snapshot", cycles, alpha0 },
    });
  }
  if ($("use-freezeout").checked) {
    const t0 = numberOf("t0", "t₀", { integer: false });
    const scaling = $("scaling").value;
    const scaled = $("scaled-lr").checked;
    runs.push({
      kind: "freezeout",
      method: { kind: "freezeout", t0, scaling, scaled_lr: scaled },
    });
  }
  if ($("use-fge").checked) {
    const pretrain = numberOf("fge-pretrain", "FGE's pre-training fraction", { integer: false });
    const cycle = numberOf("fge-cycle", "FGE's cycle (epochs)", { min: 2 });
    runs.push({ kind: "fge", method: { kind: "fge", pretrain, cycle } });
  }
  if ($("use-swa").checked) {
    const start = numberOf("swa-start", "SWA's start fraction", { integer: false });
    runs.push({ kind: "swa", method: { kind: "swa", start } });
  }
  if (runs.length === 0) throw new SettingsError("choose at least one method to run");
  // The names come from the module, as the CLI's tables print them.
  return runs.map((r) => ({ ...r, label: bindings().methodTitle(r.method), config: { ...common, method: r.method } }));
}

/** The dataset choice: "mnist", "fashion-mnist" or "files", and the files when chosen. */
export function readDataChoice() {
  return { key: $("dataset").value, files: $("files").files };
}

/** Disables the settings while a comparison runs. */
export function lockSettings(locked) {
  for (const el of $("settings").querySelectorAll("fieldset, .presets button")) el.disabled = locked;
}
