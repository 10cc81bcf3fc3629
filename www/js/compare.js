// Compare: every method's curves overlaid and their results side by side. The figures
// come from the module's `compareRuns`, the same code `snapfreeze compare` and `report`
// tabulate with; `resultRows` adds the page's own columns (status, resumes, recoveries),
// and the CSV and JSON exports use it too.

import { Chart, METHOD_COLOURS } from "./charts.js";
import { $ } from "./dom.js";
import { duration, percent } from "./format.js";
import { runningMean, smoothing } from "./live.js";
import { STATUS } from "./status.js";
import { bindings } from "./wasm.js";
import { ConfusionView } from "./confusion.js";

/** The records as the module's comparison reads them (`RunRecord`). */
export function runRecords(records) {
  return records.map((r) => ({
    finished: r.status === STATUS.done,
    forward_seconds_per_step: r.forwardSeconds ?? null,
    summary: r.summary ?? null,
  }));
}

/**
 * The comparison `{reference, rows}` of `records`, and one row per record: the module's
 * row for its method (test error, the ensemble's, time, speed, time saved against the
 * baseline, FreezeOut's measured backward saving beside the theory, docs/design.md §2.5)
 * with the record's status, error, resumes and recoveries.
 */
export function comparison(records) {
  const { reference, rows } = bindings().compareRuns(runRecords(records));
  const byMethod = new Map(rows.map((row) => [row.method, row]));
  return {
    reference,
    rows: records.map((r) => ({
      // A run without results yet has no row of its own: its name and progress only.
      ...(byMethod.get(r.summary?.method) ?? { title: r.label, kind: r.kind, iterations: r.iteration }),
      status: r.status,
      error: r.error,
      // After a divergence the run went on at lower rates: not the same method any more.
      resumed: r.resumes.length ? r.resumes.map((x) => `rates ×${x.factor} from iteration ${x.iteration}`).join(", ") : null,
      // After a lost device or a reload the run went on from its last checkpoint: the same
      // run, with the steps after the checkpoint trained again.
      recovered: r.recoveries?.length ? r.recoveries.map(recoveryText).join(", ") : null,
    })),
  };
}

/** How a run went on from its checkpoint: after a reload, or a lost device. */
function recoveryText(x) {
  const why = x.cause === "reload" ? "cut off by a reload" : "device lost";
  return `${why} at iteration ${x.lostAt}, went on from ${x.from}`;
}

/** The rows of `comparison(records)`. */
export const resultRows = (records) => comparison(records).rows;

/** A spread's mean, or null. */
const mean = (spread) => spread?.mean ?? null;

const whole = (v) => Math.round(v).toLocaleString("en");

/** Images per second: the median over the runs' timing windows and its range. */
function speedCell(row) {
  const s = row.speed;
  if (s) return `${whole(s.median)} (${whole(s.low)}–${whole(s.high)})`;
  return row.images_per_second == null ? "–" : whole(mean(row.images_per_second));
}

/** FreezeOut's FLOPs skipped and its step time saved as timed after the run. */
function freezeCell(row) {
  if (row.kind !== "freezeout") return "–";
  const flops = `${percent(row.step_flop_saving)} FLOPs`;
  const s = row.step_time_saving;
  if (!s) return `${flops}; time: once it finishes`;
  return `${flops}; ${percent(s.median)} time (${percent(s.low)} to ${percent(s.high)})`;
}

export class CompareView {
  constructor() {
    this.confusion = new ConfusionView();
  }

  reset(records) {
    this.records = records;
    $("verdict-panel").hidden = true;
    const series = (extra) => records.map((r, i) => ({ label: r.label, stroke: METHOD_COLOURS[i % METHOD_COLOURS.length], ...extra }));
    this.accuracy = new Chart($("chart-compare-accuracy"), {
      title: "Test accuracy by epoch",
      xLabel: "epoch",
      integerX: true,
      yLabel: "test accuracy",
      series: series({ width: 2, points: { show: true, size: 6 } }),
    });
    this.loss = new Chart($("chart-compare-loss"), {
      title: "Training loss (running mean)",
      xLabel: "epoch",
      yLabel: "cross-entropy",
      logY: true,
      series: series({ width: 1.5 }),
    });
    this.table();
  }

  /**
   * The verdict at the top of the page, once no run of the comparison is under way (during
   * training it would judge unfinished runs): plain sentences from the module, each
   * difference judged against the test set's noise.
   */
  verdict(underWay) {
    const records = this.records ?? [];
    const sentences = underWay ? [] : bindings().comparisonVerdict(runRecords(records));
    $("verdict-panel").hidden = sentences.length === 0;
    if (sentences.length === 0) return;
    const finished = records.filter((r) => r.status === STATUS.done).length;
    const others = records.filter((r) => r.status !== STATUS.done).map((r) => `${r.label}: ${r.status}`);
    $("verdict-status").textContent = `${finished} of ${records.length} methods trained to the end`
      + (others.length ? ` (${others.join("; ")}); the sentences cover what each run measured.` : ".");
    $("verdict").replaceChildren(...sentences.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }));
  }

  update() {
    const records = this.records;
    const epochs = Math.max(0, ...records.map((r) => r.epochs.length));
    const xs = Array.from({ length: epochs }, (_, e) => e + 1);
    this.accuracy.set([xs, ...records.map((r) => xs.map((_, e) => r.epochs[e]?.test?.accuracy ?? null))]);
    // The loss curves on one x grid: each run's step x positions, merged.
    const spe = records.find((r) => r.stepsPerEpoch)?.stepsPerEpoch ?? 1;
    const steps = Math.max(0, ...records.map((r) => r.steps.length));
    const stride = Math.max(1, Math.floor(steps / 600));
    const index = [];
    for (let i = stride - 1; i < steps; i += stride) index.push(i);
    const lx = index.map((i) => (i + 1) / spe);
    this.loss.set([lx, ...records.map((r) => {
      const mean = runningMean(r.steps.map((s) => s.loss), smoothing(r));
      return index.map((i) => mean[i] ?? null);
    })]);
    this.table();
  }

  table() {
    const rows = resultRows(this.records);
    $("compare-table").tBodies[0].replaceChildren(...rows.map((row, i) => {
      const tr = document.createElement("tr");
      tr.dataset.kind = row.kind;
      tr.dataset.status = row.status;
      // The colour goes through the CSSOM: the page's style-src forbids style attributes.
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = METHOD_COLOURS[i % METHOD_COLOURS.length];
      const cells = [
        row.title,
        row.status + (row.error ? `: ${row.error}` : "") + (row.resumed ? ` (resumed: ${row.resumed})` : "")
          + (row.recovered ? ` (${row.recovered})` : ""),
        percent(mean(row.test_error), 2)
          + (row.sgd_error == null ? "" : ` (last SGD weights ${percent(mean(row.sgd_error), 2)})`),
        row.ensemble_error == null ? "–" : `${percent(mean(row.ensemble_error), 2)} (m = ${row.ensemble_size})`,
        duration(mean(row.train_seconds)),
        speedCell(row),
        freezeCell(row),
      ];
      cells.forEach((text, k) => {
        const td = document.createElement("td");
        if (k === 0) td.append(swatch);
        td.append(text);
        tr.append(td);
      });
      return tr;
    }));
  }
}
