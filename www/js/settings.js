// The settings form: defaults for the adapter at hand, the model's base learning rate, and
// the form read into one training configuration per chosen method.

import { $ } from "./dom.js";
import { bindings } from "./wasm.js";

/** Defaults on a software adapter: a budget that finishes the comparison in minutes. */
const SOFTWARE_DEFAULTS = { trainLimit: 1000, testLimit: 500, epochs: 3 };

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
  $("settings").addEventListener("input", checkAsTyped);
  $("settings").addEventListener("change", checkAsTyped);
}

/**
 * The form's number fields: how each parses. The ranges are the engine's (`checkSettings`),
 * so the page and the CLI refuse the same values with the same words; this only turns the
 * text into a number of the right kind.
 */
const NUMBER_FIELDS = {
  "train-limit": { what: "training images", whole: true },
  "test-limit": { what: "test images", whole: true },
  epochs: { what: "epochs", whole: true },
  batch: { what: "batch size", whole: true },
  lr: { what: "base LR" },
  seed: { what: "seed", whole: true },
  cycles: { what: "M (snapshots)", whole: true },
  alpha0: { what: "α₀", optional: true },
  t0: { what: "t₀" },
  "fge-pretrain": { what: "FGE's pre-training fraction" },
  "fge-cycle": { what: "FGE's cycle (epochs)", whole: true },
  "swa-start": { what: "SWA's start fraction" },
};

/** The engine's setting names (as the CLI spells them) and the field that holds each. */
const FIELD_OF_SETTING = {
  model: "model",
  epochs: "epochs",
  batch: "batch",
  lr: "lr",
  cycles: "cycles",
  alpha0: "alpha0",
  t0: "t0",
  pretrain: "fge-pretrain",
  cycle: "fge-cycle",
  "swa-start": "swa-start",
};

/** The largest whole number the engine's settings hold (u32). */
const MAX_WHOLE = 4294967295;

/** Parses field `id`: {value} or {problem}; an empty optional field is {value: undefined}. */
function parseField(id) {
  const rule = NUMBER_FIELDS[id];
  const text = $(id).value.trim();
  if (rule.optional && text === "") return { value: undefined };
  if (text === "") return { problem: `enter ${rule.whole ? "a whole number" : "a number"}` };
  // Number() takes what people type ("1e-3", ".5", " 3 "), and refuses letters.
  const value = Number(text);
  if (!Number.isFinite(value)) return { problem: `'${text}' is not a number` };
  if (rule.whole && !(Number.isInteger(value) && value >= 0)) {
    return { problem: `use a whole number of 0 or more (got ${text})` };
  }
  if (rule.whole && value > MAX_WHOLE) return { problem: `use at most ${MAX_WHOLE.toLocaleString("en")}` };
  return { value };
}

/**
 * The form read into runs: {runs: [{kind, label, method, config}], problems: [{field,
 * text}]}, with every problem the form shows on its own (values that are not numbers)
 * and those the engine finds in each run's settings (ranges, and the data's and the run
 * length's when `trainImages` is given). Fields of methods not chosen are not read.
 */
export function readSettings(trainImages) {
  const problems = new Map();
  // A value that does not parse is marked, and its field's default stands in for it, so
  // the engine still checks every other setting in the same pass.
  const number = (id) => {
    const parsed = parseField(id);
    if (parsed.problem === undefined) return parsed.value;
    if (!problems.has(id)) problems.set(id, parsed.problem);
    const fallback = $(id).defaultValue.trim();
    return fallback === "" ? undefined : Number(fallback);
  };
  const common = {
    model: JSON.parse($("model").value),
    epochs: number("epochs"),
    batch: number("batch"),
    lr: number("lr"),
    seed: number("seed"),
    train_limit: number("train-limit"),
    test_limit: number("test-limit"),
    readback_every: 16,
  };
  const runs = [];
  if ($("use-baseline").checked) {
    runs.push({ kind: "baseline", method: { kind: "baseline", schedule: $("baseline-schedule").value } });
  }
  if ($("use-snapshot").checked) {
    const cycles = number("cycles");
    const alpha0 = number("alpha0");
    runs.push({
      kind: "snapshot",
      method: alpha0 === undefined ? { kind: "snapshot", cycles } : { kind: "snapshot", cycles, alpha0 },
    });
  }
  if ($("use-freezeout").checked) {
    runs.push({
      kind: "freezeout",
      method: { kind: "freezeout", t0: number("t0"), scaling: $("scaling").value, scaled_lr: $("scaled-lr").checked },
    });
  }
  if ($("use-fge").checked) {
    runs.push({ kind: "fge", method: { kind: "fge", pretrain: number("fge-pretrain"), cycle: number("fge-cycle") } });
  }
  if ($("use-swa").checked) {
    runs.push({ kind: "swa", method: { kind: "swa", start: number("swa-start") } });
  }
  if (runs.length === 0) problems.set("methods", "choose at least one method to run");
  // The data's checks only once every value parsed: a stand-in would size the run wrongly.
  const images = problems.size === 0 ? trainImages : undefined;
  for (const run of runs) {
    const config = { ...common, method: run.method };
    for (const p of bindings().checkSettings(config, images)) {
      const field = FIELD_OF_SETTING[p.setting] ?? "form";
      if (!problems.has(field)) problems.set(field, FIELD_OF_SETTING[p.setting] ? p.fix : p.message);
    }
  }
  return {
    // The names come from the module, as the CLI's tables print them.
    runs: problems.size ? [] : runs.map((r) => ({
      ...r, label: bindings().methodTitle(r.method), config: { ...common, method: r.method },
    })),
    problems: [...problems].map(([field, text]) => ({ field, text })),
  };
}

/** Clears every field's message, then shows each of `problems` beside its field. */
export function showProblems(problems) {
  for (const el of $("settings").querySelectorAll(".field-error")) el.remove();
  for (const el of $("settings").querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
  for (const { field, text } of problems) {
    const input = $(field === "methods" || field === "form" ? `${field}-problems` : field);
    const note = document.createElement("span");
    note.className = "field-error";
    note.id = `${field}-error`;
    note.dataset.field = field;
    note.textContent = text;
    if (field === "methods" || field === "form") {
      input.append(note);
    } else {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      input.closest("label").append(note);
    }
  }
}

/**
 * Checks the form as the user types: each value that does not parse or that the engine
 * refuses is marked beside its field at once (the data's checks wait for Train).
 */
function checkAsTyped() {
  showProblems(readSettings(undefined).problems);
}

/** The dataset choice: "mnist", "fashion-mnist" or "files", and the files when chosen. */
export function readDataChoice() {
  return { key: $("dataset").value, files: $("files").files };
}

/** Disables the settings while a comparison runs. */
export function lockSettings(locked) {
  for (const el of $("settings").querySelectorAll("fieldset, .presets button")) el.disabled = locked;
}
