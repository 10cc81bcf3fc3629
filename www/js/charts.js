// Line charts on uPlot (bundled from node_modules by Trunk), with the two overlays the
// schedule views need: vertical markers (snapshots, the current iteration) and dots
// (freeze points). Every chart registers itself so the export can draw them all to PNG.

import uPlot from "../uPlot.esm.js";

const registry = new Map();
const HEIGHT = 220;

/** `n` distinguishable colours; `i` in 0..n, darkest first (blocks go dark to light). */
export function ramp(i, n) {
  const t = n <= 1 ? 0 : i / (n - 1);
  return `hsl(${Math.round(220 - 190 * t)}, 70%, ${Math.round(28 + 42 * t)}%)`;
}

/** Fixed colours for the methods, in the order they are listed. */
export const METHOD_COLOURS = ["#5b6473", "#3358d4", "#d97706", "#1a7f37", "#b42318", "#7c3aed"];

/**
 * A chart in `container`. `series`: [{label, stroke, width, dash, points, spanGaps}];
 * `overlays()` returns {lines: [{x, stroke, dash, width}], dots: [{x, y, fill}]} at draw time;
 * `integerX` keeps the x ticks on whole numbers (epochs, snapshot counts).
 */
export class Chart {
  constructor(container, { title, xLabel, yLabel, series, yRange, logY = false, overlays, legend = true, integerX = false }) {
    this.container = container;
    this.title = title;
    this.overlays = overlays;
    this.legend = legend ? series.filter((s) => s.label).map((s) => ({ label: s.label, stroke: s.stroke })) : [];
    container.replaceChildren();
    const options = {
      width: Math.max(240, container.clientWidth || 480),
      height: HEIGHT,
      scales: {
        // Whole-number x (epochs, members): one point gets a half step either side, not
        // uPlot's quarter, so its one tick reads as a whole number.
        x: integerX ? { time: false, range: (u, min, max) => (min === max ? [min - 0.5, max + 0.5] : [min, max]) } : { time: false },
        y: logY ? { distr: 3 } : { range: yRange ?? ((u, min, max) => padRange(min, max)) },
      },
      axes: [
        { label: xLabel, size: 36, labelSize: 18, ...(integerX ? { incrs: [1, 2, 5, 10, 20, 50, 100] } : {}) },
        // Ticks to four significant digits: uPlot's own rounding showed 0.0075 as 0.008.
        { label: yLabel, size: 56, labelSize: 18, values: (u, splits) => splits.map((v) => (v == null ? "" : String(Number(v.toPrecision(4))))) },
      ],
      legend: { show: legend, live: false },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: xLabel },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: s.width ?? 1.5,
          dash: s.dash,
          spanGaps: s.spanGaps ?? true,
          points: s.points ?? { show: false },
        })),
      ],
      hooks: { draw: [(u) => this.drawOverlays(u)] },
    };
    this.plot = new uPlot(options, [[], ...series.map(() => [])], container);
    this.points = 0;
    registry.set(container.id, this);
  }

  /** Replaces the data: `[xs, ys1, ys2, ...]`, all the same length (null for gaps). */
  set(data) {
    this.points = data[0].length;
    this.plot.setData(data);
  }

  /** Redraws the overlays without new data (the current-iteration line moves). */
  redraw() {
    this.plot.redraw(false, false);
  }

  drawOverlays(u) {
    const o = this.overlays?.();
    if (!o) return;
    const { ctx, bbox } = u;
    ctx.save();
    ctx.beginPath();
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
    ctx.clip();
    for (const line of o.lines ?? []) {
      const x = u.valToPos(line.x, "x", true);
      ctx.beginPath();
      ctx.strokeStyle = line.stroke;
      ctx.lineWidth = (line.width ?? 1) * devicePixelRatio;
      ctx.setLineDash((line.dash ?? []).map((d) => d * devicePixelRatio));
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const dot of o.dots ?? []) {
      const x = u.valToPos(dot.x, "x", true);
      const y = u.valToPos(dot.y, "y", true);
      ctx.beginPath();
      ctx.fillStyle = dot.fill;
      ctx.arc(x, y, 4 * devicePixelRatio, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
  }

  resize() {
    this.plot.setSize({ width: Math.max(240, this.container.clientWidth), height: HEIGHT });
  }
}

function padRange(min, max) {
  if (min == null || max == null) return [0, 1];
  if (min === max) return [min - 0.5, max + 0.5];
  const pad = 0.05 * (max - min);
  return [min - pad, max + pad];
}

window.addEventListener("resize", () => {
  for (const chart of registry.values()) if (chart.container.isConnected) chart.resize();
});

/** The charts that hold data, in page order, as [{title, canvas}]. */
export function chartsWithData() {
  return [...registry.values()]
    .filter((c) => c.container.isConnected && c.points > 0)
    .sort((a, b) => (a.container.compareDocumentPosition(b.container) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1))
    .map((c) => ({ title: c.title, canvas: c.plot.ctx.canvas, legend: c.legend }));
}
