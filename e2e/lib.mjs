// Shared helpers of the browser tests: a real `consilium serve --demo` on a free port with
// its own data folder, Debian's Chromium through playwright-core, demo sign-in (the demo
// second-factor page shows the current TOTP code), script and CSP tripwires, axe-core.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
export const ARTIFACTS = join(here, "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

const targetDir = process.env.CARGO_TARGET_DIR || join(here, "..", "target");
export const BIN = process.env.CONSILIUM_BIN || join(targetDir, "debug", "consilium");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** Starts `consilium serve --demo` (SQLite in a fresh folder); resolves with its URL. */
export async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), "consilium-e2e-"));
  const env = { ...process.env };
  delete env.CONSILIUM_CONFIG;
  const child = spawn(BIN, ["serve", "--demo"], {
    env: {
      ...env,
      CONSILIUM_DATA_DIR: dir,
      CONSILIUM_LISTEN: "127.0.0.1:0",
      CONSILIUM_LOG_FORMAT: "text",
      RUST_LOG: "warn",
    },
    // No consilium.toml there: defaults and the variables above only.
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + out)), 60000);
    const onData = (d) => {
      out += d.toString();
      const m = out.match(/running on (http:\/\/[0-9.:]+)/);
      if (m && out.includes("Ready in")) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => { out += d.toString(); });
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => { child.once("exit", r); setTimeout(r, 5000); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** Hooks that must never fire: dialogs (alert/confirm/prompt) and CSP violations. */
export function tripwires(page) {
  const fired = [];
  page.on("dialog", async (d) => { fired.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on("pageerror", (e) => fired.push(`page error: ${e.message}`));
  page.addInitScript(() => {
    window.__tripped = [];
    for (const f of ["alert", "confirm", "prompt"]) {
      const orig = window[f];
      window[f] = (...a) => { window.__tripped.push(`${f}(${a.join(",")})`); return orig ? undefined : undefined; };
    }
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__tripped.push(`csp: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return {
    fired,
    async check(p = page) {
      const inPage = await p.evaluate(() => window.__tripped || []).catch(() => []);
      return fired.concat(inPage);
    },
  };
}

/** Signs in as a demo account (by last name), through the real forms. */
export async function signIn(browser, base, who, contextOptions = {}) {
  const ctx = await browser.newContext({ baseURL: base, locale: "fr-FR", ...contextOptions });
  const page = await ctx.newPage();
  const wires = tripwires(page);
  await page.goto("/auth/login");
  await page.locator(".demo-accounts form", { hasText: who }).getByRole("button").click();
  for (let attempt = 0; attempt < 3 && page.url().includes("/auth/second-factor"); attempt++) {
    const code = (await page.locator("[data-demo-code]").textContent()).trim();
    await page.fill("#code", code);
    await page.getByRole("button", { name: "Valider" }).click();
    if (page.url().includes("/auth/second-factor")) {
      // The code of this 30-second step was already used (a previous sign-in): wait for the next.
      await page.waitForTimeout(31000 - (Date.now() % 30000));
      await page.goto("/auth/second-factor");
    }
  }
  await page.waitForURL(/\/cases/);
  return { ctx, page, wires };
}

/** A real PNG photo (a screenshot of a coloured page). */
export async function photo(browser, colour, label) {
  const p = await browser.newPage({ viewport: { width: 320, height: 240 } });
  await p.setContent(`<body style="margin:0;background:${colour};font:40px sans-serif;color:#fff"><p style="padding:40px">${label}</p></body>`);
  const buffer = await p.screenshot({ type: "png" });
  await p.close();
  return { name: `${label}.png`, mimeType: "image/png", buffer };
}

/** A real PDF document (Chromium's print of a page). */
export async function pdf(browser, text) {
  const p = await browser.newPage();
  await p.setContent(`<h1>${text}</h1><p>Document de test, données fictives.</p>`);
  const buffer = await p.pdf({ format: "A4" });
  await p.close();
  return { name: "bilan.pdf", mimeType: "application/pdf", buffer };
}

/** axe-core on the current page: the serious and critical violations. */
export async function axe(page) {
  const source = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(source + "\n;null");
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

export async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Fills the new-request form for a new patient and a target whose label contains `target`. */
export async function newRequest(page, { family, given, birth, ins, target, reason, question, context, then }) {
  await page.goto("/cases/new");
  const known = page.locator("#patient_id");
  if (await known.count()) await known.selectOption("");
  await page.fill("#birth_family_name", family);
  await page.fill("#given_names", given);
  await page.fill("#birth_date", birth);
  if (ins) await page.fill("#ins", ins);
  await page.check("input[name=patient_informed]");
  const value = await page.locator("#target option").evaluateAll(
    (opts, t) => (opts.find((o) => o.textContent.includes(t)) || {}).value, target);
  if (!value) throw new Error(`no target option containing ${target}`);
  await page.selectOption("#target", value);
  await page.fill("#reason", reason);
  await page.fill("#question", question);
  if (context) await page.fill("#clinical_context", context);
  await page.click(`button[name=then][value=${then || "attach"}]`);
  await page.waitForURL(/\/cases\/[^/?]+\?done=/);
  return page.url().split("/cases/")[1].split("?")[0];
}

export function saveJson(name, data) {
  writeFileSync(join(ARTIFACTS, name), JSON.stringify(data, null, 2));
}
