// The members vote (a Snapshot Ensemble's snapshots or FGE's members): test images with every
// member's predicted class, the ensemble's averaged top-3 probabilities and the true label;
// filters for the images where the members disagree, where the ensemble fixes (or breaks)
// the last member's answer, and where it is wrong; the ensemble's accuracy against the
// number of members m; and the members' pairwise disagreement as a heatmap.

import { Chart } from "./charts.js";
import { percent } from "./format.js";
import { $ } from "./dom.js";
import { DrawView } from "./draw.js";

const SHOWN = 40;

const FILTERS = [
  ["all", "all test images", () => true],
  ["disagree", "snapshots disagree", (c) => c.disagree],
  ["fixes", "ensemble fixes the last snapshot", (c) => c.fixes],
  ["breaks", "ensemble breaks the last snapshot", (c) => c.breaks],
  ["wrong", "ensemble wrong", (c) => !c.ensembleRight],
];

/** The index of the largest of `length` values from `offset`. */
export function argmax(values, offset, length) {
  let best = 0;
  for (let c = 1; c < length; c += 1) if (values[offset + c] > values[offset + best]) best = c;
  return best;
}

/**
 * Per test image: each snapshot's prediction, the mean probabilities' top 3, and the
 * flags the filters use. `probabilities`: one Float32Array (images x classes) per snapshot.
 */
function tally(probabilities, labels, classes) {
  const m = probabilities.length;
  const cases = new Array(labels.length);
  const mean = new Float64Array(classes);
  for (let i = 0; i < labels.length; i += 1) {
    mean.fill(0);
    const votes = probabilities.map((p) => {
      for (let c = 0; c < classes; c += 1) mean[c] += p[i * classes + c] / m;
      return argmax(p, i * classes, classes);
    });
    const order = [...mean.keys()].sort((a, b) => mean[b] - mean[a]);
    const ensemble = order[0];
    const last = votes[m - 1];
    const label = labels[i];
    cases[i] = {
      index: i,
      label,
      votes,
      top: order.slice(0, 3).map((c) => ({ c, p: mean[c] })),
      ensembleRight: ensemble === label,
      disagree: votes.some((v) => v !== votes[0]),
      fixes: ensemble === label && last !== label,
      breaks: ensemble !== label && last === label,
    };
  }
  return cases;
}

function drawImage(canvas, pixels, { channels, height, width }) {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const plane = height * width;
  for (let p = 0; p < plane; p += 1) {
    for (let k = 0; k < 3; k += 1) image.data[4 * p + k] = pixels[(channels === 3 ? k * plane : 0) + p];
    image.data[4 * p + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

export class VotesView {
  constructor() {
    this.filter = "all";
    /** The page of the filtered images shown, SHOWN at a time. */
    this.page = 0;
    this.cases = null;
    this.chart = null;
    this.draw = new DrawView();
    $("votes-prev").addEventListener("click", () => this.turn(-1));
    $("votes-next").addEventListener("click", () => this.turn(1));
  }

  /** Shows the previous (-1) or next (+1) page of the filtered images. */
  turn(by) {
    this.page += by;
    this.grid();
  }

  /** Clears the view for a new comparison. */
  reset() {
    this.cases = null;
    this.page = 0;
    $("votes-pager").hidden = true;
    this.draw.reset();
    $("votes-grid").replaceChildren();
    $("votes-filters").replaceChildren();
    $("votes-status").textContent = "The ensemble's test images appear here once a Snapshot Ensemble or FGE run has taken its first member.";
    this.chart = null;
    $("chart-ensemble").replaceChildren();
    $("diversity-table").replaceChildren();
    $("diversity-note").textContent = "";
  }

  /** Shows `record`'s snapshots so far; `data` has the test images and class names. */
  show(record, data) {
    const probabilities = record.snapshots.map((s) => s.probabilities);
    if (probabilities.length === 0) return;
    const classes = probabilities[0].length / record.testLabels.length;
    this.record = record;
    this.data = data;
    this.cases = tally(probabilities, record.testLabels, classes);
    const m = probabilities.length;
    const right = this.cases.filter((c) => c.ensembleRight).length;
    const noun = record.kind === "fge" ? "member" : "snapshot";
    const whole = m === 1 ? `its one ${noun} so far` : `the ensemble of all ${m} ${noun}s so far`;
    $("votes-status").textContent = `${record.label}: ${record.testLabels.length.toLocaleString("en")} test images; `
      + `${whole} gets ${percent(right / this.cases.length, 2)} right. Each card: the true label, every ${noun}'s `
      + `answer by number (${noun} 1 first; green right, red wrong), and the ensemble's top three averaged probabilities.`;
    this.noun = noun;
    this.filters();
    this.grid();
    this.draw.attach(record, data);
    this.curve(record);
    this.diversity(record.summary?.diversity, noun);
  }

  /** The members' pairwise disagreement as a heatmap, with each member's error alone. */
  diversity(d, noun) {
    const table = $("diversity-table");
    if (!d || d.accuracy.length < 2) {
      table.replaceChildren();
      $("diversity-note").textContent = "";
      return;
    }
    const m = d.accuracy.length;
    const cell = (tag, text) => {
      const el = document.createElement(tag);
      el.textContent = text;
      return el;
    };
    const head = document.createElement("tr");
    head.append(cell("th", ""), ...d.accuracy.map((_, k) => cell("th", `${noun} ${k + 1}`)), cell("th", "error alone"));
    const most = Math.max(1e-9, ...d.disagreement.flat());
    const rows = d.disagreement.map((row, a) => {
      const tr = document.createElement("tr");
      tr.append(cell("th", `${noun} ${a + 1}`));
      row.forEach((v, b) => {
        const td = cell("td", a === b ? "–" : percent(v, 1));
        // Shade by disagreement (through the CSSOM: the page's style-src forbids attributes).
        if (a !== b) td.style.background = `rgba(51, 88, 212, ${(0.08 + 0.6 * v / most).toFixed(3)})`;
        td.title = `${noun}s ${a + 1} and ${b + 1} disagree on ${percent(v, 2)} of the test images; `
          + `mean KL(${a + 1} || ${b + 1}) ${d.kl[a][b].toFixed(3)}`;
        tr.append(td);
      });
      tr.append(cell("td", percent(1 - d.accuracy[a], 2)));
      return tr;
    });
    table.replaceChildren(head, ...rows);
    const pairs = m * (m - 1);
    const meanOf = (matrix) => matrix.flat().reduce((s, v) => s + v, 0) / pairs;
    const best = Math.min(...d.accuracy.map((a) => 1 - a));
    $("diversity-note").textContent = `Mean over pairs: ${percent(meanOf(d.disagreement), 1)} of images disagree, `
      + `mean KL ${meanOf(d.kl).toFixed(3)} nats; the best ${noun} alone errs on ${percent(best, 2)}.`;
  }

  filters() {
    const box = $("votes-filters");
    box.replaceChildren(...FILTERS.map(([key, label, test]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.filter = key;
      button.dataset.count = String(this.cases.filter(test).length);
      button.textContent = `${label} (${button.dataset.count})`;
      button.setAttribute("aria-pressed", String(key === this.filter));
      button.addEventListener("click", () => {
        this.filter = key;
        this.page = 0;
        this.filters();
        this.grid();
      });
      return button;
    }));
  }

  grid() {
    const test = FILTERS.find(([key]) => key === this.filter)[2];
    const all = this.cases.filter(test);
    const pages = Math.max(1, Math.ceil(all.length / SHOWN));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const first = this.page * SHOWN;
    const chosen = all.slice(first, first + SHOWN);
    $("votes-pager").hidden = all.length <= SHOWN;
    $("votes-prev").disabled = this.page === 0;
    $("votes-next").disabled = this.page === pages - 1;
    $("votes-page").textContent = all.length === 0 ? "no images"
      : `images ${first + 1}–${first + chosen.length} of ${all.length.toLocaleString("en")}`;
    const shape = this.data.test.describe();
    const names = this.data.classNames;
    const name = (c) => names[c] ?? String(c);
    $("votes-grid").replaceChildren(...chosen.map((c) => {
      const card = document.createElement("div");
      card.className = "vote-card";
      card.dataset.index = String(c.index);
      if (c.disagree) card.classList.add("disagree");
      if (c.fixes) card.classList.add("fixes");
      if (c.breaks) card.classList.add("breaks");
      if (!c.ensembleRight) card.classList.add("wrong");
      const canvas = document.createElement("canvas");
      drawImage(canvas, this.data.test.pixels(c.index, 1), shape);
      const truth = document.createElement("div");
      truth.className = "truth";
      truth.textContent = `true: ${name(c.label)}`;
      const votes = document.createElement("ol");
      votes.className = "votes";
      votes.append(...c.votes.map((v, k) => {
        const li = document.createElement("li");
        li.className = v === c.label ? "right" : "wrong";
        li.title = `${this.noun} ${k + 1}`;
        const number = document.createElement("small");
        number.textContent = `${k + 1}:`;
        li.append(number, name(v));
        return li;
      }));
      const bars = document.createElement("div");
      bars.className = "bars";
      bars.append(...c.top.map(({ c: k, p }) => {
        const row = document.createElement("div");
        row.className = `bar ${k === c.label ? "right" : ""}`;
        row.innerHTML = "<span class=\"name\"></span><span class=\"track\"><span class=\"fill\"></span></span><span class=\"p\"></span>";
        row.querySelector(".name").textContent = name(k);
        row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
        row.querySelector(".p").textContent = p.toFixed(2);
        return row;
      }));
      card.append(canvas, truth, votes, bars);
      return card;
    }));
  }

  curve(record) {
    const points = record.snapshots.at(-1).ensemble;
    if (!this.chart) {
      this.chart = new Chart($("chart-ensemble"), {
        title: `Ensemble accuracy against m: ${record.label}`,
        xLabel: "m (last snapshots averaged)",
        integerX: true,
        yLabel: "test accuracy",
        series: [
          { label: "mean of softmax", stroke: "#3358d4", width: 2, points: { show: true, size: 7 } },
          { label: "majority vote", stroke: "#d97706", dash: [6, 4], points: { show: true, size: 6 } },
        ],
      });
    }
    // With one member there is no curve yet: a point at m = 1 on an axis that ends there.
    this.chart.set([points.map((p) => p.m), points.map((p) => p.accuracy), points.map((p) => p.vote_accuracy)]);
  }
}
