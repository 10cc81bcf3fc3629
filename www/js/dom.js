// The page's small DOM helpers, in one place.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A `<button type="button">` with this id and text that calls `onClick` when pressed. */
export function button(id, text, onClick) {
  const b = document.createElement("button");
  b.id = id;
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

/** Adds a message under the buttons: kind is bad-file, settings, diverged, device-lost,
 * resumed, recovered or error. */
export function say(text, kind) {
  const box = $("run-message");
  const p = document.createElement("p");
  p.dataset.kind = kind;
  p.textContent = text;
  box.append(p);
  box.hidden = false;
  box.dataset.kind = kind;
}

/** Removes every message under the buttons. */
export function clearMessages() {
  $("run-message").replaceChildren();
  $("run-message").hidden = true;
}

/** A row of choice buttons under the messages; remove it once one is chosen. */
export function choices(...buttons) {
  const p = document.createElement("p");
  p.className = "choices";
  p.append(...buttons);
  return p;
}
