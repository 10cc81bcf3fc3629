// Runs the page's matmul benchmark in headless Chromium on its WebGPU adapter and prints
// the result as JSON. Usage: node scripts/bench-browser.mjs [size] [seconds]
// Needs a built site in dist/ (`trunk build --release`); `make bench` does both.

import { launchChromium, openPage, serveSite } from "../tests/browser/harness.mjs";

const size = Number(process.argv[2] ?? 1024);
const seconds = Number(process.argv[3] ?? 5);

const site = await serveSite();
const browser = await launchChromium();
try {
  const { page } = await openPage(browser, site.url);
  // Wait for the self-test to finish so it does not share the adapter with the timing.
  await page.waitForFunction(
    () => document.body.dataset.selftest || document.body.dataset.state === "error",
    null,
    { timeout: 600_000 },
  );
  if (await page.evaluate(() => document.body.dataset.state === "error")) {
    throw new Error(`the page has no GPU: ${await page.textContent("#fatal")}`);
  }
  await page.fill("#bench-size", String(size));
  await page.fill("#bench-seconds", String(seconds));
  await page.click("#bench-run");
  await page.waitForFunction(() => {
    const r = document.getElementById("bench-result").dataset.result;
    return r === "done" || r === "error";
  }, null, { timeout: 600_000 });
  const text = await page.textContent("#bench-result");
  const gflops = Number(await page.getAttribute("#bench-result", "data-gflops"));
  if (!(gflops > 0)) throw new Error(text);
  const adapter = await page.$$eval("#adapter-info dd", (dds) =>
    Object.fromEntries(dds.map((dd) => [dd.dataset.key, dd.textContent])));
  console.log(JSON.stringify({
    where: "browser",
    browser: browser.version(),
    adapter: `${adapter.vendor} ${adapter.architecture} (${adapter.backend}, ${adapter.type})`,
    size,
    gflops,
    summary: text,
  }, null, 2));
} finally {
  await browser.close();
  await site.close();
}
