// Exports: results as JSON and CSV, every step as CSV, the charts as one PNG, and each
// run's final weights and snapshots as safetensors files.

import { chartsWithData } from "./charts.js";
import { comparison, resultRows, runRecords } from "./compare.js";
import { $ } from "./dom.js";
import { STATUS } from "./status.js";

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function csvField(value) {
  if (value == null) return "";
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text with a header row from `columns` (keys of each row). */
function toCsv(columns, rows) {
  return [columns, ...rows.map((row) => columns.map((c) => row[c]))]
    .map((fields) => fields.map(csvField).join(","))
    .join("\n") + "\n";
}

/**
 * Everything the comparison measured, without the large arrays (weights, probabilities).
 * Its `runs` are also what `snapfreeze report FILE` reads: it prints the same rows.
 */
function resultsJson(state) {
  const { reference, rows } = comparison(state.records);
  const records = runRecords(state.records);
  return {
    generator: "snapfreeze page",
    created: new Date().toISOString(),
    adapter: state.adapter,
    dataset: state.dataset,
    reference,
    rows,
    runs: state.records.map((r, i) => ({
      ...records[i],
      label: r.label,
      kind: r.kind,
      config: r.config,
      // The weights file the run started from, when not the seed's initialisation.
      started_from: r.init?.name ?? null,
      status: r.status,
      error: r.error,
      model: r.model,
      iterations: r.iteration,
      total: r.total,
      steps_per_epoch: r.stepsPerEpoch,
      epochs: r.epochs,
      freezes: r.freezes,
      resumes: r.resumes,
      recoveries: r.recoveries ?? [],
      snapshots: r.snapshots.map((s) => ({ index: s.index, iteration: s.iteration, test: s.test, ensemble: s.ensemble })),
      steps: r.steps,
    })),
  };
}

const STEP_COLUMNS = ["method", "iteration", "epoch", "loss", "accuracy", "lr", "frozen_blocks", "forward_flops", "backward_flops"];
const RESULT_COLUMNS = ["title", "method", "status", "iterations", "test_error", "ensemble_error", "ensemble_size",
  "disagreement", "kl", "sgd_error", "test_images",
  "train_seconds", "images_per_second", "speed_median", "speed_low", "speed_high",
  "step_flop_saving", "step_time_saving", "step_time_saving_low", "step_time_saving_high",
  "time_saved", "in_run_saving", "backward_saving_measured", "backward_saving_theory"];

/**
 * A result row for the CSV: each spread over seeds as its mean (the page runs one seed),
 * each timed range as its median, low and high.
 */
const flat = (row) => ({
  ...Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v?.mean ?? v])),
  speed_median: row.speed?.median, speed_low: row.speed?.low, speed_high: row.speed?.high,
  step_time_saving: row.step_time_saving?.median,
  step_time_saving_low: row.step_time_saving?.low,
  step_time_saving_high: row.step_time_saving?.high,
});

/** `text` cut into lines no wider than `width` in `ctx`'s font. */
function wrap(ctx, text, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(" ")) {
    const next = line ? `${line} ${word}` : word;
    if (line && ctx.measureText(next).width > width) {
      lines.push(line);
      line = word;
    } else {
      line = next;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The comparison table's rows and the verdict as lines of text, as the page shows them. */
function resultLines() {
  const rows = [...document.querySelectorAll("#compare-table tr")]
    .map((tr) => [...tr.cells].map((c) => c.textContent.trim()).join("  |  "));
  const verdict = [...document.querySelectorAll("#verdict li")].map((li) => `• ${li.textContent}`);
  return { rows, verdict };
}

/** Draws every chart with data onto one canvas, titled, with its legend, then the results
 * table and the verdict. */
async function chartsPng() {
  const charts = chartsWithData();
  const scale = devicePixelRatio;
  const pad = 12 * scale;
  const titleHeight = 26 * scale;
  const lineHeight = 17 * scale;
  const width = Math.max(900 * scale, ...charts.map((c) => c.canvas.width)) + 2 * pad;
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = `${12 * scale}px system-ui, sans-serif`;
  const { rows, verdict } = resultLines();
  const textLines = [...rows, "", ...verdict].flatMap((line) => (line ? wrap(measure, line, width - 2 * pad) : [""]));
  const textHeight = rows.length ? titleHeight + textLines.length * lineHeight + pad : 0;
  const height = charts.reduce((h, c) => h + titleHeight + c.canvas.height + pad, pad) + textHeight;
  const sheet = document.createElement("canvas");
  sheet.width = width;
  sheet.height = height;
  const ctx = sheet.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  let y = pad;
  for (const chart of charts) {
    ctx.fillStyle = "#1d2430";
    ctx.font = `600 ${13 * scale}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(chart.title, pad, y);
    let x = pad + ctx.measureText(chart.title).width + 16 * scale;
    ctx.font = `${12 * scale}px system-ui, sans-serif`;
    for (const item of chart.legend) {
      ctx.fillStyle = item.stroke;
      ctx.fillRect(x, y + 4 * scale, 14 * scale, 4 * scale);
      ctx.fillStyle = "#1d2430";
      ctx.fillText(item.label, x + 18 * scale, y);
      x += 26 * scale + ctx.measureText(item.label).width;
    }
    y += titleHeight;
    ctx.drawImage(chart.canvas, pad, y);
    y += chart.canvas.height + pad;
  }
  if (rows.length) {
    ctx.fillStyle = "#1d2430";
    ctx.font = `600 ${13 * scale}px system-ui, sans-serif`;
    ctx.fillText("Results and verdict", pad, y);
    y += titleHeight;
    ctx.font = `${12 * scale}px system-ui, sans-serif`;
    for (const line of textLines) {
      ctx.fillText(line, pad, y);
      y += lineHeight;
    }
  }
  return new Promise((resolve) => sheet.toBlob(resolve, "image/png"));
}

/** Wires the export buttons; `state()` gives {adapter, data, records}. */
export function wireExports(state) {
  const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  $("export-json").addEventListener("click", () => {
    download(`snapfreeze-results-${stamp()}.json`, new Blob([JSON.stringify(resultsJson(state()), null, 1)], { type: "application/json" }));
  });
  $("export-csv").addEventListener("click", () => {
    download(`snapfreeze-results-${stamp()}.csv`, new Blob([toCsv(RESULT_COLUMNS, resultRows(state().records).map(flat))], { type: "text/csv" }));
  });
  $("export-curves").addEventListener("click", () => {
    const rows = state().records.flatMap((r) => r.steps.map((s) => ({ method: r.label, ...s })));
    download(`snapfreeze-steps-${stamp()}.csv`, new Blob([toCsv(STEP_COLUMNS, rows)], { type: "text/csv" }));
  });
  $("export-png").addEventListener("click", async () => {
    download(`snapfreeze-charts-${stamp()}.png`, await chartsPng());
  });
}

/** The comparison and files the weight list shows now. */
const shown = { records: null, key: null };

/** Enables the exports that have something to export, and lists the weight files. */
export function refreshExports(records) {
  const any = records.some((r) => r.steps.length > 0);
  for (const id of ["export-json", "export-csv", "export-curves", "export-png"]) $(id).disabled = !any;
  const slug = (r) => `${r.kind}-${r.model?.name ?? "model"}`;
  const lists = records.map((r) => {
    const files = [];
    if (r.weights) {
      const done = r.status === STATUS.done;
      const label = done ? "final weights" : `weights at step ${r.iteration} (${r.status})`;
      files.push([label, `${slug(r)}-${done ? "final" : `step-${r.iteration}`}.safetensors`, r.weights]);
    }
    for (const s of r.snapshots) {
      files.push([`snapshot ${s.index + 1} (after iteration ${s.iteration + 1})`, `${slug(r)}-snapshot-${s.index + 1}.safetensors`, s.weights]);
    }
    // An unfinished run's whole training state: `snapfreeze train --state FILE --resume`
    // goes on from it natively (given the same dataset).
    if (r.checkpoint) {
      const c = r.checkpoint;
      files.push([`training state after epoch ${c.epoch}`, `${slug(r)}-state-epoch-${c.epoch}.safetensors`, c.bytes]);
    }
    return { label: r.label, files };
  }).filter((l) => l.files.length > 0);
  // Views redraw a few times a second; rebuild the list only when a file comes or goes.
  const key = lists.map((l) => l.files.map(([label, name]) => `${label}:${name}`).join(",")).join(";");
  const list = $("export-weights");
  if (shown.records === records && shown.key === key) return;
  Object.assign(shown, { records, key });
  list.replaceChildren(...lists.map(({ label: run, files }) => {
    const li = document.createElement("li");
    li.append(`${run}: `);
    for (const [label, name, bytes] of files) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.file = name;
      button.textContent = label;
      button.addEventListener("click", () => download(name, new Blob([bytes], { type: "application/octet-stream" })));
      li.append(button, " ");
    }
    return li;
  }));
}
