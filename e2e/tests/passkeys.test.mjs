// Passkeys in the browser: Chromium's own WebAuthn stack with a virtual authenticator (set
// up through the DevTools protocol, as a platform authenticator with user verification).
// An expert adds a passkey from the signed-in pages, signs out, and signs in again with the
// password and the passkey instead of a code. WebAuthn needs a domain name: the browser is
// on http://localhost:<port> (the relying party of a server on loopback).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, signIn, axe, shot } from "../lib.mjs";

let server, browser;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.stop(); });

test("add a passkey, then sign in with it", async () => {
  const base = server.url.replace("127.0.0.1", "localhost");
  const { ctx, page, wires } = await signIn(browser, base, "Roux");
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  await page.goto("/auth/sessions");
  await page.getByRole("link", { name: "Mes clés d'accès" }).click();
  await page.waitForURL(/\/auth\/passkeys$/);
  assert.ok(await page.getByText("Aucune clé d'accès enregistrée.").isVisible());
  await page.fill("#passkey-label", "Ordinateur du cabinet");
  await page.getByRole("button", { name: "Ajouter" }).click();
  await page.waitForSelector("td:has-text('Ordinateur du cabinet')");
  assert.deepEqual(await axe(page), [], "no serious accessibility violation");
  await shot(page, "auth-passkeys");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  assert.equal(credentials.length, 1, "the authenticator holds the new credential");
  assert.equal(credentials[0].rpId, "localhost");

  // Sign out, sign in again: the password, then the passkey instead of the code.
  await page.goto("/auth/sessions");
  await page.getByRole("button", { name: "Se déconnecter" }).click();
  await page.waitForURL(/\/auth\/login/);
  await page.locator(".demo-accounts form", { hasText: "Roux" }).getByRole("button").click();
  await page.waitForURL(/\/auth\/second-factor/);
  const use = page.getByRole("button", { name: "Utiliser ma clé d'accès" });
  await use.waitFor({ state: "visible" });
  assert.ok(await page.locator("#code").isVisible(), "the code form is still there");
  assert.deepEqual(await axe(page), [], "no serious accessibility violation");
  await shot(page, "auth-second-factor-passkey");
  await use.click();
  await page.waitForURL(/\/cases/);
  await page.goto("/auth/sessions");
  assert.ok(await page.locator("td", { hasText: "password+passkey" }).first().isVisible(),
    "the session says how it was opened");
  assert.deepEqual(await wires.check(page), [], "no dialog, no CSP violation");
  await ctx.close();
});
