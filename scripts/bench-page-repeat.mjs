// Runs the page's default comparison several times in a row in one headless Chromium page
// (its software WebGPU adapter) and prints, for each repeat, every method's speed as the
// page reports it (median over the run's timing windows, 10th-90th percentile) and
// FreezeOut's step time saving (median and range over its interleaved rounds), then the
// spread of those figures across the repeats: how much the page's numbers move when the
// same comparison runs again on the same machine. Needs a built site (`trunk build
// --release`).
// Usage: node scripts/bench-page-repeat.mjs [repeats] [output.json]   (default 5)

import { writeFileSync } from "node:fs";
import { launchChromium, openPage, serveSite } from "../tests/browser/harness.mjs";

const repeats = Number(process.argv[2] ?? 5);
const output = process.argv[3];
if (!(Number.isInteger(repeats) && repeats >= 2)) {
  console.error(`repeats must be a whole number of 2 or more (got ${process.argv[2]})`);
  process.exit(2);
}

const pct = (v) => `${(100 * v).toFixed(1)}%`;
const spread = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1) };
};

const site = await serveSite();
const browser = await launchChromium();
const results = [];
try {
  const { page } = await openPage(browser, site.url);
  await page.waitForFunction(() => !document.getElementById("start").disabled, null, { timeout: 60_000 });
  for (let k = 1; k <= repeats; k += 1) {
    const started = Date.now();
    await page.click("#start");
    await page.waitForFunction(() => document.body.dataset.run === "running", null, { timeout: 60_000 });
    await page.waitForFunction(() => document.body.dataset.run === "done", null, { timeout: 60 * 60_000, polling: 500 });
    const rows = await page.evaluate(() => {
      return window.snapfreezePage.resultRows().map((r) => ({
        title: r.title, speed: r.speed, train_seconds: r.train_seconds?.mean,
        step_flop_saving: r.kind === "freezeout" ? r.step_flop_saving : null,
        step_time_saving: r.step_time_saving, time_saved: r.time_saved, in_run_saving: r.in_run_saving?.mean ?? null,
      }));
    });
    results.push({ repeat: k, seconds: (Date.now() - started) / 1000, rows });
    console.log(`repeat ${k} (${((Date.now() - started) / 1000).toFixed(0)} s):`);
    for (const r of rows) {
      const s = r.speed;
      const saving = r.step_time_saving
        ? `; step time saved ${pct(r.step_time_saving.median)} (${pct(r.step_time_saving.low)} to ${pct(r.step_time_saving.high)})`
          + `; vs baseline's time ${r.time_saved == null ? "–" : pct(r.time_saved)}`
        : "";
      console.log(`  ${r.title}: ${Math.round(s.median)} img/s (${Math.round(s.low)}-${Math.round(s.high)})${saving}`);
    }
  }
  const adapter = await page.evaluate(() => window.snapfreezePage.adapter);
  console.log(`\nacross ${repeats} repeats (min / median / max), adapter ${adapter.vendor} ${adapter.architecture} (${adapter.backend}, ${adapter.device_type}):`);
  const titles = results[0].rows.map((r) => r.title);
  const summary = titles.map((title, i) => {
    const of = (pick) => spread(results.map((x) => pick(x.rows[i])).filter((v) => v != null));
    const speed = of((r) => r.speed.median);
    const line = { title, speed_median: speed, speed_within_run: of((r) => (r.speed.high - r.speed.low) / r.speed.median) };
    let text = `  ${title}: median speed ${Math.round(speed.min)} / ${Math.round(speed.median)} / ${Math.round(speed.max)} img/s `
      + `(moves ${pct((speed.max - speed.min) / speed.median)}); a run's own 10-90% range is `
      + `${pct(line.speed_within_run.median)} of its median`;
    if (results[0].rows[i].step_time_saving) {
      line.step_time_saving = of((r) => r.step_time_saving.median);
      line.time_saved_vs_baseline = of((r) => r.time_saved);
      line.in_run_saving = of((r) => r.in_run_saving);
      const t = line.step_time_saving;
      const b = line.time_saved_vs_baseline;
      const w = line.in_run_saving;
      text += `\n    step time saved (interleaved): ${pct(t.min)} / ${pct(t.median)} / ${pct(t.max)}`
        + `\n    for comparison, time saved vs the baseline's run: ${pct(b.min)} / ${pct(b.median)} / ${pct(b.max)};`
        + ` saving within the run (phase means): ${pct(w.min)} / ${pct(w.median)} / ${pct(w.max)}`;
    }
    console.log(text);
    return line;
  });
  if (output) writeFileSync(output, JSON.stringify({ adapter, repeats: results, summary }, null, 2));
} finally {
  await browser.close();
  await site.close();
}
