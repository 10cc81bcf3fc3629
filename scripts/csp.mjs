// Trunk post-build hook: puts the page's Content-Security-Policy into the built index.html.
// Trunk writes an inline module script that loads the wasm module; its SHA-256 goes into
// script-src, so no other inline script can run. Run by Trunk with TRUNK_STAGING_DIR set
// (see Trunk.toml); README "Content Security Policy" says what each directive allows.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) {
  console.error("csp.mjs: TRUNK_STAGING_DIR is not set; run it as Trunk's post_build hook");
  process.exit(1);
}
const path = join(dir, "index.html");
const html = readFileSync(path, "utf8");
const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
if (inline.length === 0) {
  console.error("csp.mjs: no inline loader script found in index.html; has Trunk's output changed?");
  process.exit(1);
}
const hashes = inline.map((body) => `'sha256-${createHash("sha256").update(body, "utf8").digest("base64")}'`);
const policy = [
  "default-src 'self'",
  // Our modules, Trunk's loader (by hash) and WebAssembly compilation; no eval.
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`,
  "style-src 'self'",
  // The favicon is a data: URL; exported PNGs are drawn from canvases.
  "img-src 'self' data: blob:",
  // Dataset files and the module come from this origin only.
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
const meta = `<meta http-equiv="Content-Security-Policy" content="${policy}">`;
if (html.includes('http-equiv="Content-Security-Policy"')) {
  console.error("csp.mjs: index.html already has a policy");
  process.exit(1);
}
writeFileSync(path, html.replace(/<meta charset="utf-8">/, (m) => `${m}\n  ${meta}`));
console.log(`csp.mjs: policy set (${hashes.length} inline script hashed)`);
