// Presets for the settings form: the quick comparison the page starts with, and the regime
// where the ensembles were measured to help (BENCHMARKS.md, "Ensembles: where they help"):
// a small network on few images without augmentation for many epochs, so that variance
// dominates and long cycles let every member converge.

import { $ } from "./dom.js";

/** The ensembles' regime: field values, then which methods run. */
const ENSEMBLES = {
  values: {
    dataset: "fashion-mnist",
    model: '{"family":"small","width":8}',
    "train-limit": "1000",
    "test-limit": "2000",
    epochs: "60",
    batch: "64",
    lr: "0.01",
    "baseline-schedule": "step",
    cycles: "5",
    alpha0: "0.02",
    "fge-pretrain": "0.8",
    "fge-cycle": "4",
    "swa-start": "0.5",
  },
  methods: { "use-baseline": true, "use-snapshot": true, "use-freezeout": false, "use-fge": true, "use-swa": true },
  note: "Where ensembles help: the small CNN (width 8) on 1,000 Fashion-MNIST images without augmentation "
    + "for 60 epochs, a step baseline, a Snapshot Ensemble of 5 cycles of 12 epochs (α₀ 0.02), FGE and SWA: "
    + "4 runs of 60,000 training images each. On a 2-core machine's software adapter each run took about 5 "
    + "minutes (BENCHMARKS.md); a GPU takes seconds. The progress bar estimates this adapter's time once "
    + "training starts.",
};

/** Every setting of the form, by id: its value, or whether it is checked. */
function formState() {
  const state = {};
  for (const el of $("settings").querySelectorAll("input, select")) {
    if (!el.id || el.type === "file") continue;
    state[el.id] = el.type === "checkbox" ? el.checked : el.value;
  }
  return state;
}

function apply(state) {
  for (const [id, value] of Object.entries(state)) {
    const el = $(id);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = value;
    else el.value = value;
    el.dispatchEvent(new Event("change"));
  }
}

/**
 * Wires the preset buttons; call once the adapter's defaults are in the form, which the
 * quick preset then restores.
 */
export function initPresets() {
  const quick = formState();
  const note = $("preset-note");
  $("preset-quick").addEventListener("click", () => {
    apply(quick);
    note.textContent = "The quick comparison: the page's defaults for this adapter.";
  });
  $("preset-ensembles").addEventListener("click", () => {
    apply(ENSEMBLES.values);
    // The rate after the model's change handler has set its default.
    $("lr").value = ENSEMBLES.values.lr;
    apply(ENSEMBLES.methods);
    note.textContent = ENSEMBLES.note;
  });
}
