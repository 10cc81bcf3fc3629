// The live views of the run in progress: loss and accuracy, every block's learning rate
// with the current position and the snapshot and freeze points, the trainable-blocks
// timeline, the speed and saving figures, and the progress bar.

import { Chart, ramp } from "./charts.js";
import { duration, number, percent } from "./format.js";
import { $ } from "./dom.js";
import { STATUS, isActive } from "./status.js";

const TRAIN = "#3358d4";
const TEST = "#d97706";
const SNAPSHOT = "#7c3aed";

/** Running mean over the last `window` values (the step metrics are noisy). */
export function runningMean(values, window) {
  const out = new Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i += 1) {
    sum += values[i];
    if (i >= window) sum -= values[i - window];
    out[i] = sum / Math.min(i + 1, window);
  }
  return out;
}

/** Steps in the running mean: about a fifth of an epoch, at least 1. */
export const smoothing = (record) => Math.max(1, Math.min(50, Math.round(record.stepsPerEpoch / 5)));

export class LiveViews {
  constructor() {
    this.record = null;
  }

  /** Rebuilds the charts for a new run. */
  start(record) {
    this.record = record;
    $("live-method").textContent = record.label;
    const blocks = record.schedule.blocks;
    const position = () => ({
      lines: [
        ...this.snapshotLines(),
        { x: this.record.iteration / this.record.stepsPerEpoch, stroke: "#c62828", width: 1.5 },
      ],
      dots: this.freezeDots(),
    });
    this.loss = new Chart($("chart-loss"), {
      title: `Loss: ${record.label}`,
      xLabel: "epoch",
      yLabel: "cross-entropy",
      logY: true,
      series: [
        { label: "train", stroke: TRAIN },
        { label: "test", stroke: TEST, width: 2, points: { show: true, size: 6 } },
        { label: "snapshot (test)", stroke: SNAPSHOT, width: 0, points: { show: true, size: 8 } },
      ],
    });
    this.accuracy = new Chart($("chart-accuracy"), {
      title: `Accuracy: ${record.label}`,
      xLabel: "epoch",
      yLabel: "accuracy",
      series: [
        { label: "train", stroke: TRAIN },
        { label: "test", stroke: TEST, width: 2, points: { show: true, size: 6 } },
        { label: "snapshot (test)", stroke: SNAPSHOT, width: 0, points: { show: true, size: 8 } },
      ],
    });
    this.lr = new Chart($("chart-lr"), {
      title: `Learning rate per block: ${record.label}`,
      xLabel: "epoch",
      yLabel: "learning rate",
      legend: false,
      series: blocks.map((b, i) => ({ label: b.name, stroke: ramp(i, blocks.length), spanGaps: false })),
      overlays: position,
    });
    this.blocks = new Chart($("chart-blocks"), {
      title: `Trainable blocks: ${record.label}`,
      xLabel: "epoch",
      yLabel: "block",
      legend: false,
      yRange: [-0.7, blocks.length - 0.3],
      series: blocks.map((b, i) => ({ label: b.name, stroke: ramp(i, blocks.length), width: blocks.length > 24 ? 2 : 5, spanGaps: false })),
      overlays: () => ({ lines: position().lines }),
    });
    const s = record.schedule;
    const xs = s.iterations.map((j) => j / record.stepsPerEpoch);
    this.lr.set([xs, ...s.blocks.map((b) => b.lrs)]);
    this.blocks.set([xs, ...s.blocks.map((b, i) => b.lrs.map((lr) => (lr == null ? null : i)))]);
    this.update(record);
  }

  snapshotLines() {
    const r = this.record;
    return (r.schedule?.snapshotIterations ?? []).map((j) => ({
      x: (j + 1) / r.stepsPerEpoch,
      stroke: "#9aa3b2",
      dash: [4, 4],
    }));
  }

  freezeDots() {
    const r = this.record;
    return r.schedule.blocks
      .filter((b) => b.freezeIteration != null && b.freezeIteration < r.schedule.total)
      .map((b) => ({ x: b.freezeIteration / r.stepsPerEpoch, y: 0, fill: ramp(r.schedule.blocks.indexOf(b), r.schedule.blocks.length) }));
  }

  /** New points for the current run. */
  update(record) {
    if (record !== this.record) return;
    const spe = record.stepsPerEpoch;
    const n = record.steps.length;
    const xs = new Array(n);
    for (let i = 0; i < n; i += 1) xs[i] = (record.steps[i].iteration + 1) / spe;
    const w = smoothing(record);
    const trainLoss = runningMean(record.steps.map((s) => s.loss), w);
    const trainAcc = runningMean(record.steps.map((s) => s.accuracy), w);
    const at = (iteration) => iteration < n ? iteration : -1;
    const testLoss = new Array(n).fill(null);
    const testAcc = new Array(n).fill(null);
    for (const e of record.epochs) {
      const i = at((e.epoch + 1) * spe - 1);
      if (e.test && i >= 0) { testLoss[i] = e.test.loss; testAcc[i] = e.test.accuracy; }
    }
    const snapLoss = new Array(n).fill(null);
    const snapAcc = new Array(n).fill(null);
    for (const s of record.snapshots) {
      const i = at(s.iteration);
      if (i >= 0) { snapLoss[i] = s.test.loss; snapAcc[i] = s.test.accuracy; }
    }
    this.loss.set([xs, trainLoss, testLoss, snapLoss]);
    this.accuracy.set([xs, trainAcc, testAcc, snapAcc]);
    this.lr.redraw();
    this.blocks.redraw();
    this.stats(record);
  }

  stats(record) {
    // While a run trains, the last timing window's speed; once it has ended, the median
    // over all its windows (the figure the table shows).
    const median = isActive(record.status) ? null : record.summary?.speed?.median;
    const ips = median ?? record.imagesPerSecond;
    $("stat-speed-label").textContent = median == null ? "images / s" : "images / s (median of the run)";
    $("stat-speed").textContent = ips ? Math.round(ips).toLocaleString("en") : "–";
    $("stat-ms").textContent = ips ? number((1000 * record.config.batch) / ips) : "–";
    // The mean: a browser's clock may tick every 0.1 ms, longer than a step's recording,
    // which leaves most steps at 0 and the median with them; the mean stays unbiased.
    const recording = record.summary?.record_ms?.mean;
    $("stat-record").textContent = recording == null ? "–" : number(recording);
    const blocks = record.schedule.blocks.length;
    const frozen = record.steps.at(-1)?.frozen_blocks ?? 0;
    $("stat-blocks").textContent = `${blocks - frozen} of ${blocks}`;
    const work = record.summary?.work;
    const full = work ? work.forward_flops + work.full_backward_flops : 0;
    const skipped = full > 0 ? 1 - (work.forward_flops + work.backward_flops) / full : null;
    const freezing = record.kind === "freezeout";
    $("stat-flops").textContent = freezing ? percent(skipped) : "–";
    const timed = record.summary?.freeze_timing;
    $("stat-saved").textContent = !freezing ? "–"
      : timed ? `${percent(timed.saving)} (${percent(timed.low)} to ${percent(timed.high)})`
        : "once it finishes";
  }
}

/** The progress bar and its line: the run, its epoch, and about how long is left overall. */
export function showProgress(records, current) {
  // Only finished runs count whole: a stopped, failed or skipped run counts the steps it
  // ran, so Stop leaves the bar where training stood.
  const total = records.reduce((sum, r) => sum + (r.total || current.total), 0);
  const done = records.reduce((sum, r) => sum + (r.status === STATUS.done ? r.total : r.iteration), 0);
  $("progress").max = Math.max(1, total);
  $("progress").value = done;
  const position = records.indexOf(current) + 1;
  const head = `${current.label} (${position} of ${records.length}): ${current.status}`;
  if (!(current.total > 0 && current.stepsPerEpoch > 0)) {
    // Its model was never built (it failed or was skipped before its first step).
    $("progress-text").textContent = head;
    return;
  }
  // Until the run's first epoch ends, the last timing window's speed (the wall time of the
  // first steps includes building the model, which made the first estimate 3x too long);
  // from then on wall time per step, which counts the evaluations too.
  const windowed = current.imagesPerSecond > 0 ? current.config.batch / current.imagesPerSecond : null;
  const perIteration = current.epochs.length === 0 && windowed != null ? windowed
    : current.iteration > 0 ? current.wallSeconds / current.iteration : null;
  const left = perIteration == null ? null : (total - done) * perIteration;
  const epoch = Math.min(current.config.epochs, Math.floor(current.iteration / current.stepsPerEpoch) + 1);
  $("progress-text").textContent = `${head}, epoch ${epoch} of ${current.config.epochs}, `
    + `step ${current.iteration} of ${current.total}`
    + (left == null || ![STATUS.running, STATUS.paused].includes(current.status) ? "" : `; about ${duration(left)} left`);
}
