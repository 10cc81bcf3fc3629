// The questions a fault asks: after a divergence, resume at lower rates or give the run up;
// after a lost device, go on on a new device from the run's last checkpoint or end here;
// and what the page says when a run resumed or failed.

import { $, button, choices, say } from "./dom.js";
import { openSession } from "./choices.js";
import { message } from "./format.js";

/** A run diverged and waits: offer to resume it at half its rates, or to give it up. */
export function offerResumeLower(page, record) {
  page.buttons("diverged");
  say(`${record.label} diverged: ${record.error}. Its curves and snapshots up to that point are kept.`, "diverged");
  const decide = (factor) => () => {
    row.remove();
    page.buttons("running");
    page.comparison?.decideDivergence(factor);
  };
  const row = choices(button("resume-lower", "Resume at half the learning rate", decide(0.5)),
    button("give-up", "Give this run up", decide(null)));
  $("run-message").append(row);
  page.render(true);
}

/**
 * The device was lost under a run, which waits: offer to open a new device and go on from
 * the run's last checkpoint (or from its start, if it had none), or to end here.
 */
export function offerRecovery(page, record) {
  page.session = null;
  page.buttons("interrupted");
  const from = record.checkpoint;
  const text = from
    ? `Go on from epoch ${from.epoch} (iteration ${from.iteration}) on a new device`
    : "Start this run again on a new device";
  const go = button("recover", text, async () => {
    go.disabled = true;
    let session;
    try {
      session = await openSession(page.wasm);
    } catch (e) {
      say(`Could not open a new GPU device: ${message(e)}. Try again in a moment, or end here.`, "device-lost");
      go.disabled = false;
      return;
    }
    page.session = session;
    row.remove();
    page.buttons("running");
    say(from ? `${record.label} goes on from its checkpoint after epoch ${from.epoch}; the steps after it are `
      + "trained again." : `${record.label} starts again.`, "recovered");
    page.comparison?.decideRecovery(session);
  });
  const end = button("end-here", "End the comparison here", () => {
    row.remove();
    page.comparison?.decideRecovery(null);
  });
  const row = choices(go, end);
  $("run-message").append(row);
  page.render(true);
}

/** Says at which iteration and rates a diverged run went on. */
export function sayResumed(page, record) {
  const last = record.resumes.at(-1);
  say(`${record.label} resumed at iteration ${last.iteration} with every learning rate × ${last.factor} `
    + `(base ${last.lr.toPrecision(3)}).`, "resumed");
  page.render(true);
}

/** Says why a run ended early, and what is kept. */
export function sayFailed(record, { lost, diverged }) {
  if (lost) {
    say(`${record.label} stopped: ${record.error}. Everything finished before it is kept below and can be `
      + "exported.", "device-lost");
  } else if (diverged) {
    say(`${record.label} was given up after it diverged. Its curves and snapshots up to that point are `
      + "kept; lower the base LR (or α₀) and run again.", "diverged");
  } else {
    say(`${record.label} failed: ${record.error}`, "error");
  }
}

