// Shared browser-test plumbing: serve the built site (dist/) and launch the system
// Chromium through playwright-core. Nothing is downloaded.

import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { chromium } from "playwright-core";
import sirv from "sirv";

export const ARTIFACTS = "test-artifacts";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Serves dist/ on a free localhost port; resolves to { url, close }. */
export async function serveSite(dir = "dist") {
  if (!existsSync(join(dir, "index.html"))) {
    throw new Error(`${dir}/index.html is missing: run 'trunk build --release' first`);
  }
  const handler = sirv(dir, { dev: true });
  const server = createServer((req, res) => handler(req, res, () => {
    res.statusCode = 404;
    res.end("not found");
  }));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Launches headless Chromium; `webgpu: false` leaves WebGPU at the browser's default. */
export async function launchChromium({ webgpu = true } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: run 'make setup' (installs Debian's chromium)`);
  }
  const args = [
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
  ];
  // launch() gives every browser a fresh temporary profile (a new user-data-dir).
  if (webgpu) args.push("--enable-unsafe-webgpu");
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** Opens a page that records console errors and uncaught exceptions. */
export async function openPage(browser, url, { initScript } = {}) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  if (initScript) await page.addInitScript(initScript);
  const response = await page.goto(url);
  if (!response?.ok()) throw new Error(`${url} answered ${response?.status()}`);
  return { page, problems };
}

/** Saves a full-page screenshot under test-artifacts/. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * Serves the site, launches Chromium and opens the page at `query` (e.g. "?selftest=run"):
 * resolves to { page, problems, close }, for a test file's `before` and `after`.
 */
export async function openSite(query = "", { initScript } = {}) {
  const site = await serveSite();
  const browser = await launchChromium();
  const { page, problems } = await openPage(browser, `${site.url}${query}`, { initScript });
  return {
    page,
    problems,
    close: async () => {
      await browser.close();
      await site.close();
    },
  };
}
