// The complete flow in a real browser: a nurse creates a patient and a request with two
// photos; the expert (another browser context) asks for information; the nurse replies
// with a PDF; the expert answers and signs; the nurse downloads the report and closes
// with an outcome. Then the same through a team pool with a claim, and the expert's part
// on a phone viewport.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, signIn, photo, pdf, newRequest, shot } from "../lib.mjs";

let server, browser;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.stop(); });

async function stateOf(page) {
  return (await page.locator(".status .state").first().textContent()).trim();
}

async function openAction(page, summary) {
  const d = page.locator("details", { has: page.locator("summary", { hasText: summary }) });
  if (!(await d.getAttribute("open") !== null)) await d.locator("summary").click();
  return d;
}

async function run(expertName, targetLabel, viaPool, expertOptions = {}, tag = "named") {
  const nurse = await signIn(browser, server.url, "Petit");
  const expert = await signIn(browser, server.url, expertName, expertOptions);
  const n = nurse.page;
  const e = expert.page;

  // 1. The request, with two photos.
  const id = await newRequest(n, {
    family: "Durand", given: "Léa", birth: "1961-04-12", ins: "2 85 05 99 123 007 18",
    target: targetLabel, reason: "Lésion pigmentée du dos", question: "Faut-il l'exciser ?",
    context: "Évolution depuis 3 mois.",
  });
  await n.setInputFiles("#files", [await photo(browser, "#7a3b2e", "dos-1"), await photo(browser, "#4b2a20", "dos-2")]);
  await n.getByRole("button", { name: "Envoyer les fichiers" }).click();
  await n.waitForURL(/done=uploaded/);
  assert.equal(await n.locator("ul.files li").count(), 2, "two photos attached");
  await shot(n, `requester-draft-${tag}`);
  await n.getByRole("button", { name: "Envoyer la demande" }).click();
  await n.waitForURL(/done=submitted/);
  assert.match(await stateOf(n), viaPool ? /En attente/ : /Attribuée/);

  // 2. The expert finds it in the inbox, takes it, looks at the photos, asks for information.
  await e.goto(viaPool ? "/cases?view=pool" : "/cases?view=mine");
  await shot(e, `expert-inbox-${tag}`);
  assert.match(await e.title(), /^\(\d+\)/, "the inbox title counts the cases");
  await e.locator(`a[href="/cases/${id}"]`).click();
  await e.getByRole("button", { name: viaPool ? "Prendre en charge" : "Accepter la demande" }).click();
  await e.waitForURL(/done=accepted/);
  assert.match(await stateOf(e), /En cours/);
  await shot(e, `expert-case-${tag}`);
  await e.locator("a[data-viewer]").first().click();
  await e.locator(".viewer:not([hidden])").waitFor();
  await e.getByRole("button", { name: "Suivante" }).click();
  assert.match(await e.locator(".viewer-name").textContent(), /2\/2/);
  await e.keyboard.press("Escape");
  const ri = await openAction(e, "Demander un complément");
  await ri.locator("textarea").fill("Pouvez-vous joindre le compte rendu histologique de 2019 ?");
  await ri.getByRole("button", { name: "Demander un complément" }).click();
  await e.waitForURL(/done=info_requested/);

  // 3. The nurse answers with a PDF.
  await n.goto(`/cases/${id}`);
  assert.match(await stateOf(n), /Complément demandé/);
  await n.setInputFiles("#files", [await pdf(browser, "Histologie 2019")]);
  await n.getByRole("button", { name: "Envoyer les fichiers" }).click();
  await n.waitForURL(/done=uploaded/);
  await n.fill("#pi-text", "Voici le compte rendu de 2019.");
  await n.getByRole("button", { name: "Envoyer le complément" }).click();
  await n.waitForURL(/done=info_provided/);

  // 4. The expert answers and signs.
  await e.goto(`/cases/${id}`);
  assert.match(await e.locator("ol.thread").textContent(), /compte rendu de 2019/);
  await e.fill("#answer-context", "Naevus atypique du dos, évolutif.");
  await e.fill("#answer-text", "Exérèse conseillée avec marges de 2 mm.");
  await e.fill("#answer-reco", "Adresser au dermatologue pour exérèse sous 1 mois.");
  await e.locator("form[action$='/do/answer']").getByRole("button", { name: "Répondre" }).click();
  await e.waitForURL(/done=answered/);
  await shot(e, `expert-answered-${tag}`);
  await e.getByRole("button", { name: "Signer et envoyer le compte rendu" }).click();
  await e.waitForURL(/done=signed/);

  // 5. The nurse downloads the report and closes with an outcome.
  await n.goto(`/cases/${id}`);
  assert.match(await stateOf(n), /Répondue/);
  const [download] = await Promise.all([
    n.waitForEvent("download"),
    n.getByRole("link", { name: "Télécharger le PDF" }).first().click(),
  ]);
  const path = await download.path();
  const { readFileSync } = await import("node:fs");
  assert.equal(readFileSync(path).subarray(0, 5).toString(), "%PDF-", "the report is a PDF");
  await n.check("input[name=outcome][value=visit_avoided]");
  await n.getByRole("button", { name: "Clore avec le résultat" }).click();
  await n.waitForURL(/done=closed/);
  assert.match(await stateOf(n), /Close/);
  await shot(n, `requester-closed-${tag}`);

  for (const who of [nurse, expert]) {
    assert.deepEqual(await who.wires.check(), [], "no dialog, no script error, no CSP violation");
    await who.ctx.close();
  }
  return id;
}

test("named expert: request, information, answer, signature, report, closing", async () => {
  await run("Roux", "Roux", false);
});

test("team pool: a member claims, then the same flow", async () => {
  await run("Fontaine", "Télé-dermatologie", true, {}, "pool");
});

test("the expert's part on a phone", async () => {
  await run("Roux", "Roux", false, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }, "phone");
});
