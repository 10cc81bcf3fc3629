// Compare: every method's curves overlaid and their results side by side. The row figures
// come from `resultRows`, which the CSV and JSON exports use too.

import { Chart, METHOD_COLOURS } from "./charts.js";
import { duration, percent } from "./format.js";
import { runningMean, smoothing } from "./live.js";

const $ = (id) => document.getElementById(id);

/**
 * One row per record: test error of the final model, the ensemble's error (Snapshot),
 * training time and speed, time saved against the baseline, and FreezeOut's measured
 * backward saving (time saved over the baseline's backward time) beside the theory (docs/design.md §2.5).
 */
export function resultRows(records) {
  const baseline = records.find((r) => r.kind === "baseline" && r.status === "done" && r.summary);
  const baseSeconds = baseline?.summary.train_seconds;
  const baseBackward = baseline && baseline.forwardSeconds != null
    ? baseSeconds - baseline.summary.iterations * baseline.forwardSeconds
    : null;
  return records.map((r) => {
    const s = r.summary;
    const finished = r.status === "done" && s;
    const ensemble = s?.ensemble?.at(-1);
    const seconds = s?.train_seconds ?? null;
    const saved = finished && baseSeconds && r !== baseline ? 1 - seconds / baseSeconds : null;
    const backward = finished && r.kind === "freezeout" && baseBackward > 0 ? (baseSeconds - seconds) / baseBackward : null;
    return {
      method: r.label,
      kind: r.kind,
      status: r.status,
      error: r.error,
      // After a divergence the run went on at lower rates: not the same method any more.
      resumed: r.resumes.length ? r.resumes.map((x) => `rates ×${x.factor} from iteration ${x.iteration}`).join(", ") : null,
      // After a lost device the run went on from its last checkpoint: the same run, with
      // the steps after the checkpoint trained again.
      recovered: r.recoveries?.length
        ? r.recoveries.map((x) => `lost at iteration ${x.lostAt}, went on from ${x.from}`).join(", ") : null,
      iterations: s?.iterations ?? r.iteration,
      test_error: s?.final_test ? 1 - s.final_test.accuracy : null,
      ensemble_error: ensemble ? 1 - ensemble.accuracy : null,
      ensemble_size: ensemble?.m ?? null,
      train_seconds: seconds,
      images_per_second: s?.images_per_second ?? null,
      time_saved: saved,
      backward_saving_measured: backward,
      backward_saving_theory: r.kind === "freezeout" ? s?.theoretical_backward_saving ?? null : null,
    };
  });
}

export class CompareView {
  reset(records) {
    this.records = records;
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
        row.method,
        row.status + (row.error ? `: ${row.error}` : "") + (row.resumed ? ` (resumed: ${row.resumed})` : "")
          + (row.recovered ? ` (device lost: ${row.recovered})` : ""),
        percent(row.test_error, 2),
        row.ensemble_error == null ? "–" : `${percent(row.ensemble_error, 2)} (m = ${row.ensemble_size})`,
        duration(row.train_seconds),
        row.images_per_second == null ? "–" : Math.round(row.images_per_second).toLocaleString("en"),
        percent(row.time_saved),
        row.backward_saving_theory == null ? "–" : `${percent(row.backward_saving_measured)} / ${percent(row.backward_saving_theory)}`,
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
