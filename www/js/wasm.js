// Waits for the module Trunk's loader instantiates, and exposes its bindings.

const LOAD_TIMEOUT_MS = 60_000;

/** Resolves to the wasm-bindgen exports once Trunk's loader has started the module. */
export function wasmReady() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the WebAssembly module did not load within 60 s; check the console and reload")),
      LOAD_TIMEOUT_MS,
    );
    window.addEventListener("TrunkApplicationStarted", () => {
      clearTimeout(timer);
      resolve(window.wasmBindings);
    }, { once: true });
  });
}

/** The wasm-bindgen exports, once loaded (after `wasmReady`). */
export function bindings() {
  if (!window.wasmBindings) throw new Error("the WebAssembly module is not loaded yet");
  return window.wasmBindings;
}
