// Loads saved weights back into the page: a safetensors checkpoint (exported here or by the
// CLI) is built into its model on the GPU with the file's weights and running statistics and
// evaluated on the test images, so a user can check a file gives the accuracy its run said.

import { $ } from "./dom.js";
import { message, percent } from "./format.js";
import { readSettings } from "./settings.js";

/** Wires the file input; `page` gives the module, the GPU session and the data. */
export function wireLoadWeights(page) {
  $("load-weights").addEventListener("change", async () => {
    const file = $("load-weights").files[0];
    if (file) await evaluateFile(page, file);
  });
}

/**
 * Offers the evaluated weights as the starting point of the next comparison: every run
 * then starts from them instead of the seeded initialisation (the form's model must be
 * theirs; Train checks it).
 */
function offerAsStart(page, name, bytes, info) {
  const use = document.createElement("button");
  use.type = "button";
  use.id = "load-use";
  use.textContent = "train the next comparison from these weights";
  use.addEventListener("click", () => {
    page.initWeights = { name, bytes, model: info.model, title: info.metadata.model };
    showStart(page);
  });
  $("load-result").append(" ", use);
}

/** Says under Train which weights the next comparison starts from, with a way to drop them. */
export function showStart(page) {
  const box = $("start-from");
  const init = page.initWeights;
  box.hidden = !init;
  if (!init) return;
  const drop = document.createElement("button");
  drop.type = "button";
  drop.className = "link";
  drop.id = "start-from-drop";
  drop.textContent = "start from the seeded weights instead";
  drop.addEventListener("click", () => {
    page.initWeights = null;
    showStart(page);
  });
  box.replaceChildren(`Every run starts from ${init.name} (${init.title}), not from the seed's weights. `, drop);
}

async function evaluateFile(page, file) {
  const out = $("load-result");
  out.dataset.result = "pending";
  out.textContent = `Reading ${file.name}…`;
  if (page.comparison) {
    out.textContent = "A comparison is training: load the weights once it has ended.";
    out.dataset.result = "error";
    return;
  }
  let run;
  let opened = null;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const info = page.wasm.checkpointInfo(bytes);
    if (!(await page.ensureSession())) throw new Error("no GPU session");
    // The last comparison's data (its limits), else the form's dataset.
    let data = page.data;
    if (!data) {
      const { runs, problems } = readSettings(undefined);
      if (problems.length > 0) throw new Error("the form's settings have problems; fix them first");
      opened = await page.loadData(runs[0].config);
      data = opened;
    }
    const images = data.train.describe().images;
    const config = {
      model: info.model,
      epochs: 1,
      batch: Math.max(2, Math.min(64, images)),
      eval_every_epoch: false,
      dataset: info.metadata.dataset ?? "",
    };
    out.textContent = `Evaluating ${file.name} (${info.metadata.model})…`;
    run = await page.session.startTraining(config, data.train, data.test, bytes);
    const test = await run.evaluateTest();
    const from = [info.metadata.method, info.metadata.iteration && `iteration ${info.metadata.iteration}`]
      .filter(Boolean).join(", ");
    out.textContent = `${file.name}: ${info.metadata.model}${from ? ` (${from})` : ""}, test accuracy `
      + `${percent(test.accuracy, 2)} on ${test.images.toLocaleString("en")} test images (loss ${test.loss.toFixed(4)}).`;
    out.dataset.result = "done";
    out.dataset.accuracy = String(test.accuracy);
    offerAsStart(page, file.name, bytes, info);
  } catch (e) {
    out.textContent = `${file.name} cannot be evaluated: ${message(e)}`;
    out.dataset.result = "error";
  } finally {
    run?.free();
    if (opened && opened !== page.data) {
      opened.train.free();
      opened.test.free();
    }
  }
}
