// Per class: the confusion matrix and each class's accuracy for any model of the comparison:
// each run's final model (its predictions are read when it ends), each snapshot or FGE
// member, and each ensemble of all its members (their averaged softmax outputs).

import { $ } from "./dom.js";
import { percent } from "./format.js";
import { argmax } from "./votes.js";

/** Every model of `records` with predictions: [{value, label, record, kind, k}]. */
function models(records) {
  const list = [];
  records.forEach((r, i) => {
    if (!r.testLabels) return;
    if (r.predictions) list.push({ value: `${i}:final`, label: `${r.label}: final model`, record: r, kind: "final" });
    const members = r.snapshots.filter((s) => s.probabilities);
    const noun = r.kind === "fge" ? "member" : "snapshot";
    if (members.length > 1) list.push({ value: `${i}:ensemble`, label: `${r.label}: ensemble of ${members.length}`, record: r, kind: "ensemble" });
    members.forEach((s, k) => list.push({ value: `${i}:member:${k}`, label: `${r.label}: ${noun} ${k + 1}`, record: r, kind: "member", k }));
  });
  return list;
}

/** The predicted class of every test image for `model`. */
function predicted(model) {
  const r = model.record;
  const n = r.testLabels.length;
  if (model.kind === "final") return r.predictions;
  const members = r.snapshots.filter((s) => s.probabilities);
  const classes = members[0].probabilities.length / n;
  if (model.kind === "member") {
    const p = members[model.k].probabilities;
    return Uint16Array.from({ length: n }, (_, i) => argmax(p, i * classes, classes));
  }
  const mean = new Float64Array(classes);
  return Uint16Array.from({ length: n }, (_, i) => {
    mean.fill(0);
    for (const s of members) for (let c = 0; c < classes; c += 1) mean[c] += s.probabilities[i * classes + c];
    return argmax(mean, 0, classes);
  });
}

export class ConfusionView {
  constructor() {
    this.list = [];
    this.classNames = null;
    $("confusion-model").addEventListener("change", () => this.draw());
  }

  /** Lists the models of `records` (keeping the one chosen); redraws when the list changed. */
  update(records, classNames) {
    const list = models(records);
    const same = list.length === this.list.length && list.every((m, i) => m.value === this.list[i].value);
    this.list = list;
    this.classNames = classNames;
    $("confusion-box").hidden = list.length === 0;
    if (same) return;
    const select = $("confusion-model");
    const chosen = select.value;
    select.replaceChildren(...list.map((m) => {
      const option = document.createElement("option");
      option.value = m.value;
      option.textContent = m.label;
      return option;
    }));
    if (list.some((m) => m.value === chosen)) select.value = chosen;
    this.draw();
  }

  draw() {
    const model = this.list.find((m) => m.value === $("confusion-model").value);
    const table = $("confusion-table");
    if (!model) {
      table.replaceChildren();
      $("confusion-note").textContent = "";
      return;
    }
    const labels = model.record.testLabels;
    const guesses = predicted(model);
    const classes = Math.max(...labels, ...guesses) + 1;
    const counts = Array.from({ length: classes }, () => new Array(classes).fill(0));
    for (let i = 0; i < labels.length; i += 1) counts[labels[i]][guesses[i]] += 1;
    const name = (c) => this.classNames?.[c] ?? String(c);
    const cell = (tag, text) => {
      const el = document.createElement(tag);
      el.textContent = text;
      return el;
    };
    const head = document.createElement("tr");
    head.append(cell("th", "true ↓ predicted →"), ...counts.map((_, c) => cell("th", name(c))), cell("th", "accuracy"));
    let worst = null;
    const rows = counts.map((row, t) => {
      const tr = document.createElement("tr");
      const total = row.reduce((s, v) => s + v, 0);
      tr.append(cell("th", name(t)));
      row.forEach((v, p) => {
        const td = cell("td", String(v));
        const share = total ? v / total : 0;
        // Shaded through the CSSOM (the page's style-src forbids style attributes).
        if (v > 0) td.style.background = t === p ? `rgba(26, 127, 55, ${(0.1 + 0.5 * share).toFixed(3)})` : `rgba(198, 40, 40, ${(0.1 + 0.6 * share).toFixed(3)})`;
        if (t !== p && v > 0 && (!worst || v > worst.v)) worst = { t, p, v };
        tr.append(td);
      });
      tr.append(cell("td", total ? percent(row[t] / total, 1) : "–"));
      return tr;
    });
    table.replaceChildren(head, ...rows);
    const right = counts.reduce((s, row, t) => s + row[t], 0);
    $("confusion-note").textContent = `${model.label}: ${percent(right / labels.length, 2)} of ${labels.length.toLocaleString("en")} `
      + "test images right"
      + (worst ? `; the most frequent mistake: ${name(worst.t)} taken for ${name(worst.p)} (${worst.v} image${worst.v === 1 ? "" : "s"}).` : ".");
  }
}
