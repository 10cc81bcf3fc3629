// A comparison kept in this browser from an earlier visit (saved.js keeps it): the offer
// at start-up, showing it with its curves, table, exports and votes, and going on with a
// run that a reload or a crash of the tab cut off.

import { $, button, choices, clearMessages, say } from "./dom.js";
import { DataFileError, loadFiles } from "./datasets.js";
import { message } from "./format.js";
import { readDataChoice } from "./settings.js";
import { canContinue, continueRecords } from "./runner.js";
import { forgetSaved, loadSaved, loadSavedSummary } from "./saved.js";
import { STATUS, isActive, isCutOff } from "./status.js";

/** A files dataset's test images as kept with its comparison (the votes draw them). */
export function testImagesOf(data) {
  const shape = data.test.describe();
  return { shape, classNames: data.classNames, pixels: data.test.pixels(0, shape.images) };
}

/** Kept test images, shaped as the votes view reads a dataset. */
function keptTestImages({ shape, classNames, pixels }) {
  const size = shape.channels * shape.height * shape.width;
  return {
    classNames,
    test: {
      describe: () => shape,
      pixels: (start, count) => pixels.subarray(start * size, (start + count) * size),
    },
  };
}

/** Whether a kept comparison trained on a bundled dataset, which can be opened again (the
 * user's own files are not kept). */
const isBundled = (saved) => ["mnist", "fashion-mnist"].includes(saved.dataset?.key);

/** Shows a comparison kept from an earlier visit: curves, table and exports, and the
 * snapshots' votes when its dataset is a bundled one (their images come from the dataset,
 * which is not kept). */
export async function showKept(page, saved) {
  // A run kept while it trained was cut off: nothing runs it now, so never show it running.
  for (const r of saved.records) if (isActive(r.status)) r.status = STATUS.cutOff;
  page.records = saved.records;
  page.dataset = saved.dataset;
  page.votes.reset();
  page.compare.reset(page.records);
  const last = [...page.records].reverse().find((r) => r.steps.length > 0);
  if (last) page.live.start(last);
  page.render(true);
  if (last) page.live.update(last);
  const voted = [...page.records].reverse().find((r) => r.snapshots.length > 0);
  if (!voted) return;
  if (!isBundled(saved)) {
    if (saved.testImages) {
      page.votes.show(voted, keptTestImages(saved.testImages));
    } else {
      $("votes-status").textContent = "The snapshots' votes need the test images of your own files: train again to see them.";
    }
    return;
  }
  try {
    page.useData(await reopen(page, saved));
    page.votes.show(voted, page.data);
  } catch (e) {
    $("votes-status").textContent = `The snapshots' votes could not be shown: ${message(e)}`;
  }
}

/** A kept comparison's bundled dataset, opened again with its limits. */
async function reopen(page, saved) {
  const source = await page.bundled(saved.dataset.key);
  return source.open(page.wasm, saved.dataset.trainLimit ?? 0, saved.dataset.testLimit ?? 0);
}

/**
 * Goes on with a kept comparison whose training was cut off (a reload, a crash of the
 * tab): the cut-off run goes on from its checkpoint and the runs after it follow. A
 * bundled dataset is opened again; the user's own files must be chosen again in the
 * form (the run checks they are the same data).
 */
async function continueKept(page, saved) {
  clearMessages();
  const choice = readDataChoice();
  if (!isBundled(saved) && !(choice.key === "files" && choice.files.length > 0)) {
    say("This comparison trained on your own files, which the page does not keep: choose the same files "
      + "under Data (\"your own files\"), then press Go on training again.", "bad-file");
    return false;
  }
  await showKept(page, saved);
  let data;
  try {
    data = isBundled(saved)
      ? page.data ?? (await reopen(page, saved))
      : (await loadFiles(choice.files)).open(page.wasm, saved.dataset.trainLimit ?? 0, saved.dataset.testLimit ?? 0);
  } catch (e) {
    say(`The dataset cannot be opened again: ${message(e)}`, e instanceof DataFileError ? "bad-file" : "error");
    return false;
  }
  // Other files (or limits) would make the cut-off run fail to restore: say so, and let
  // the user choose again.
  const wrong = page.records.map((r) => r.checkpoint).filter(Boolean).map((c) => {
    try {
      page.wasm.checkTrainingState(c.bytes, data.train, data.test);
      return null;
    } catch (e) {
      return message(e);
    }
  }).find(Boolean);
  if (wrong) {
    if (data !== page.data) {
      data.train.free();
      data.test.free();
    }
    say(`These files cannot continue the kept comparison: ${wrong}`, "bad-file");
    return false;
  }
  if (!(await page.ensureSession())) return false;
  page.useData(data);
  continueRecords(page.records);
  page.compare.reset(page.records);
  await page.train();
  return true;
}

/**
 * Offers the comparison kept in this browser, if there is one. Only its summary is read
 * now; the whole comparison when the user asks for it.
 */
export async function offerKept(page) {
  let summary;
  try {
    summary = await loadSavedSummary();
  } catch {
    return; // No storage (some private windows): nothing was kept.
  }
  if (!summary?.runs?.length) return;
  const whole = async () => {
    const saved = await loadSaved();
    if (!saved) throw new Error("the kept comparison is gone (forgotten in another tab?)");
    return saved;
  };
  const box = $("saved");
  const when = new Date(summary.savedAt).toLocaleString("en");
  const runs = summary.runs.map((r) => `${r.label} (${isActive(r.status) ? "cut off by a reload" : r.status})`).join(", ");
  const text = document.createElement("p");
  text.textContent = `Kept in this browser from ${when}: ${summary.dataset?.title ?? "a dataset"}, ${runs}.`;
  const failed = (e) => say(`The kept comparison cannot be read: ${message(e)}`, "error");
  const show = button("saved-show", "Show and export it", async () => {
    try {
      await showKept(page, await whole());
    } catch (e) {
      failed(e);
      return;
    }
    text.textContent = `Showing the comparison kept from ${when}; Train and compare starts a new one.`;
    row.remove();
  });
  const forget = button("saved-forget", "Forget it", async () => {
    await forgetSaved().catch(() => {});
    box.hidden = true;
  });
  const row = choices(show);
  if (canContinue(summary.runs)) {
    // The run that was cut off under way (the later ones only wait their turn).
    const cut = summary.runs.find((r) => isCutOff(r.status) && r.status !== STATUS.waiting);
    const label = cut?.checkpointEpoch ? `Go on training from ${cut.label}'s epoch ${cut.checkpointEpoch}` : "Go on training";
    row.append(button("saved-continue", label, async () => {
      box.hidden = true;
      let going = false;
      try {
        going = await continueKept(page, await whole());
      } catch (e) {
        failed(e);
      }
      if (!going) box.hidden = false;
    }));
  }
  row.append(forget);
  box.replaceChildren(text, row);
  box.hidden = false;
}
