// Browser-side figures of the inbox (docs/benchmarks.md): time to interactive and page
// weight as Chromium measures them, on a `serve --demo` (release binary recommended:
// CONSILIUM_BIN=…/release/consilium node bench.mjs). Prints figures; never fails on time.
import { startServer, launch, signIn } from "./lib.mjs";

const RUNS = Number(process.env.RUNS || 30);
const server = await startServer();
const browser = await launch();
try {
  const { page, ctx } = await signIn(browser, server.url, "Roux");
  const samples = [];
  let weight = null;
  for (let i = 0; i < RUNS; i++) {
    await page.goto("/cases?view=mine", { waitUntil: "load" });
    const m = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      const res = performance.getEntriesByType("resource");
      const bytes = (e) => e.transferSize || e.encodedBodySize || 0;
      return {
        ttfb: n.responseStart - n.startTime,
        interactive: n.domInteractive - n.startTime,
        dcl: n.domContentLoadedEventEnd - n.startTime,
        load: n.loadEventEnd - n.startTime,
        html: n.encodedBodySize,
        assets: res.filter((r) => /\.(css|js)$/.test(new URL(r.name).pathname))
          .map((r) => [new URL(r.name).pathname, r.encodedBodySize || bytes(r)]),
      };
    });
    if (i === 0) weight = m;
    samples.push(m);
  }
  const pct = (k, q) => {
    const v = samples.slice(1).map((s) => s[k]).sort((a, b) => a - b);
    return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)].toFixed(1);
  };
  console.log(`inbox in headless Chromium, ${RUNS} loads (first excluded from times):`);
  for (const k of ["ttfb", "interactive", "dcl", "load"]) {
    console.log(`  ${k.padEnd(11)} p50 ${pct(k, 0.5)} ms  p95 ${pct(k, 0.95)} ms`);
  }
  const assets = weight.assets.reduce((a, [, b]) => a + b, 0);
  console.log(`  weight (first load, uncompressed): HTML ${weight.html} B, CSS+JS ${assets} B (${weight.assets.map(([p, b]) => `${p} ${b} B`).join(", ")}), total ${((weight.html + assets) / 1024).toFixed(1)} KB`);
  await ctx.close();
} finally {
  await browser.close();
  await server.stop();
}
