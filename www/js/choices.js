// The kernel choices measured on this adapter (which convolution kernels and splits are
// fastest here), kept in IndexedDB so the next start measures nothing. The engine refuses a
// kept set made on another adapter or driver, or with other kernels; then it measures again.
// On the web wgpu passes no vendor, device or driver through (only the description, which
// browsers often leave empty), so each set is also kept under the browser's own adapter info:
// a laptop that switches between its integrated and discrete GPU keeps one set for each.

import { loadValue, keepValue } from "./saved.js";
import { message } from "./format.js";
import { adapterKey } from "./adapter.js";

let key;

/** The IndexedDB key of this adapter's choices, like `kernel-choices nvidia/hopper//`. */
async function choicesKey() {
  if (key === undefined) {
    key = `kernel-choices ${await adapterKey()}`;
  }
  return key;
}

/** Opens a GPU session with the kept kernel choices loaded; resolves to the session. */
export async function openSession(wasm) {
  const session = await wasm.GpuSession.open();
  let kept;
  try {
    kept = await loadValue(await choicesKey());
  } catch {
    return session; // no IndexedDB here (private mode): measure as before
  }
  if (typeof kept === "string") {
    try {
      session.loadKernelChoices(kept);
    } catch (e) {
      console.info(`kept kernel choices not used: ${message(e)}`);
    }
  }
  return session;
}

/** Keeps the session's kernel choices (after a run has measured them). */
export async function keepChoices(session) {
  try {
    await keepValue(await choicesKey(), session.kernelChoices());
  } catch {
    // Only the next start's measuring is lost.
  }
}

/** Fills `container` (a <dl>) with the kernel choices made so far on this adapter. */
export function showChoices(session, container) {
  const pairs = session.kernelChoiceList();
  if (pairs.length === 0) {
    const dd = document.createElement("dd");
    dd.textContent = "none measured yet (they are measured when a model is built)";
    container.replaceChildren(dd);
    return;
  }
  container.replaceChildren(...pairs.flatMap(([question, answer]) => {
    const dt = document.createElement("dt");
    dt.textContent = question;
    const dd = document.createElement("dd");
    dd.textContent = answer;
    return [dt, dd];
  }));
}
