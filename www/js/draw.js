// Draw a digit (or drop an image) and see what every member of the ensemble answers, and
// the ensemble's averaged answer. The drawing is scaled to the dataset's image size and
// each member's saved weights classify it on the CPU (the module's `predictImage`, the same
// f64 forward pass the ensemble check uses).

import { $ } from "./dom.js";
import { message } from "./format.js";
import { bindings } from "./wasm.js";

/** The drawing canvas's side in CSS pixels, and the brush's width on it. */
const SIDE = 196;
const BRUSH = 16;

export class DrawView {
  constructor() {
    this.record = null;
    this.data = null;
    this.canvas = $("draw-canvas");
    this.canvas.width = SIDE;
    this.canvas.height = SIDE;
    this.clear();
    let drawing = false;
    const at = (e) => {
      const r = this.canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (SIDE / r.width), (e.clientY - r.top) * (SIDE / r.height)];
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      drawing = true;
      this.canvas.setPointerCapture(e.pointerId);
      const ctx = this.canvas.getContext("2d");
      ctx.beginPath();
      ctx.moveTo(...at(e));
      ctx.lineTo(...at(e));
      ctx.stroke();
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      const ctx = this.canvas.getContext("2d");
      ctx.lineTo(...at(e));
      ctx.stroke();
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      this.answer();
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
    $("draw-clear").addEventListener("click", () => {
      this.clear();
      $("draw-answers").replaceChildren();
    });
    $("draw-file").addEventListener("change", () => this.load($("draw-file").files[0]));
    this.canvas.addEventListener("dragover", (e) => e.preventDefault());
    this.canvas.addEventListener("drop", (e) => {
      e.preventDefault();
      this.load(e.dataTransfer.files[0]);
    });
  }

  /** Black, with a white brush: MNIST's digits are light on dark. */
  clear() {
    const ctx = this.canvas.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, SIDE, SIDE);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = BRUSH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  /** Draws an image file scaled into the canvas, then asks the members. */
  async load(file) {
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      this.clear();
      this.canvas.getContext("2d").drawImage(bitmap, 0, 0, SIDE, SIDE);
      this.answer();
    } catch (e) {
      $("draw-answers").textContent = `That file cannot be read as an image: ${message(e)}`;
    }
  }

  /** Uses `record`'s members (snapshots with their weights) on images shaped like `data`'s. */
  attach(record, data) {
    this.record = record;
    this.data = data;
    $("draw-box").hidden = false;
  }

  /** Hides the box until a comparison has members again. */
  reset() {
    this.record = null;
    $("draw-box").hidden = true;
    $("draw-answers").replaceChildren();
  }

  /** The drawing as the dataset's raw pixels: channels x height x width bytes. */
  pixels({ channels, height, width }) {
    const small = document.createElement("canvas");
    small.width = width;
    small.height = height;
    const ctx = small.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.canvas, 0, 0, width, height);
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const plane = height * width;
    const out = new Uint8Array(channels * plane);
    for (let p = 0; p < plane; p += 1) {
      if (channels === 1) {
        out[p] = Math.round((rgba[4 * p] + rgba[4 * p + 1] + rgba[4 * p + 2]) / 3);
      } else {
        for (let c = 0; c < channels; c += 1) out[c * plane + p] = rgba[4 * p + Math.min(c, 2)];
      }
    }
    return out;
  }

  /** Every member's answer and the ensemble's (the mean of their softmax outputs). */
  answer() {
    const record = this.record;
    const box = $("draw-answers");
    const members = record?.snapshots.filter((s) => s.weights) ?? [];
    if (members.length === 0) return;
    const shape = this.data.test.describe();
    const names = this.data.classNames;
    const name = (c) => names?.[c] ?? String(c);
    const pixels = this.pixels(shape);
    let outputs;
    try {
      outputs = members.map((s) => bindings().predictImage(record.config.model, shape.classes,
        shape.channels, shape.height, shape.width, s.weights, pixels));
    } catch (e) {
      box.textContent = `The members could not answer: ${message(e)}`;
      return;
    }
    const top = (p) => [...p.keys()].sort((a, b) => p[b] - p[a]);
    const mean = outputs[0].map((_, c) => outputs.reduce((sum, p) => sum + p[c], 0) / outputs.length);
    const noun = record.kind === "fge" ? "member" : "snapshot";
    const line = (label, p, kind) => {
      const li = document.createElement("li");
      li.dataset.kind = kind;
      const best = top(p);
      li.textContent = `${label}: ${name(best[0])} (${p[best[0]].toFixed(2)})`
        + (kind === "ensemble" ? `, then ${name(best[1])} (${p[best[1]].toFixed(2)}), ${name(best[2])} (${p[best[2]].toFixed(2)})` : "");
      return li;
    };
    box.replaceChildren(
      ...outputs.map((p, k) => line(`${noun} ${k + 1}`, p, "member")),
      line(`the ensemble of ${outputs.length}`, mean, "ensemble"),
    );
  }
}
