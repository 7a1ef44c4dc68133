// Every main page, for every role, with hostile text in every free-text field: no script
// ever runs (dialogs hooked, CSP violations listened to), the text shows as text; each
// page passes axe-core without serious or critical violations; each is screenshotted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, signIn, photo, newRequest, axe, shot, saveJson } from "../lib.mjs";

const HOSTILE = [
  `<script>alert("xss-script")</script>`,
  `<img src=x onerror=alert("xss-img")>`,
  `"><svg onload=alert("xss-svg")>`,
  `javascript:alert("xss-link")`,
  `<a href="javascript:alert('xss-a')">clic</a> ' " & </textarea>`,
];
const H = (i) => `${HOSTILE[i % HOSTILE.length]} n°${i}`;

let server, browser, caseId, declinedId;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.stop(); });

test("hostile text in every free-text field, written through the interface", async () => {
  const nurse = await signIn(browser, server.url, "Petit");
  const expert = await signIn(browser, server.url, "Roux");
  const n = nurse.page, e = expert.page;

  // Names are checked (letters only): a hostile name is refused with a message, nothing is created.
  await n.goto("/cases/new");
  const before = await n.locator("#patient_id option").count().catch(() => 0);
  await n.fill("#birth_family_name", HOSTILE[0]);
  await n.fill("#given_names", HOSTILE[1]);
  await n.fill("#birth_date", "1970-01-01");
  await n.check("input[name=patient_informed]");
  const first = await n.locator("#target option[value^=expert]").first().getAttribute("value");
  await n.selectOption("#target", first);
  await n.fill("#reason", H(2));
  await n.fill("#question", H(3));
  await n.click("button[name=then][value=attach]");
  const refused = n.url().endsWith("/cases/new");
  if (refused) {
    assert.ok(await n.locator(".error[role=alert]").isVisible(), "a clear error");
    assert.equal(await n.locator("#reason").inputValue(), H(2), "what was typed is kept");
    assert.equal(await n.locator("#patient_id option").count().catch(() => 0), before, "no patient created");
  }

  caseId = await newRequest(n, {
    family: "Martin", given: "Zoé", birth: "1980-02-03", target: "Roux",
    reason: H(4), question: H(5), context: H(6),
  });
  const evil = await photo(browser, "#335577", "evil");
  evil.name = `"><img src=x onerror=alert(1)>.png`;
  await n.setInputFiles("#files", [evil]);
  await n.getByRole("button", { name: "Envoyer les fichiers" }).click();
  await n.waitForURL(/done=uploaded/);
  await n.getByRole("button", { name: "Envoyer la demande" }).click();
  await n.waitForURL(/done=submitted/);

  await e.goto(`/cases/${caseId}`);
  await e.getByRole("button", { name: "Accepter la demande" }).click();
  await e.waitForURL(/done=accepted/);
  await e.fill("#message", H(7));
  await e.getByRole("button", { name: "Envoyer", exact: true }).click();
  await e.waitForURL(/done=message/);
  await e.locator("summary", { hasText: "Demander un complément" }).click();
  await e.fill("#ri-text", H(8));
  await e.locator("form[action$='/do/request_info'] button").click();
  await e.waitForURL(/done=info_requested/);

  await n.goto(`/cases/${caseId}`);
  await n.fill("#pi-text", H(9));
  await n.getByRole("button", { name: "Envoyer le complément" }).click();
  await n.waitForURL(/done=info_provided/);

  await e.goto(`/cases/${caseId}`);
  await e.fill("#answer-context", H(10));
  await e.fill("#answer-text", H(11));
  await e.fill("#answer-reco", H(12));
  await e.fill("#answer-follow", H(13));
  await e.check("input[name=save_template]");
  await e.locator("form[action$='/do/answer'] button[type=submit]").click();
  await e.waitForURL(/done=answered/);
  await e.getByRole("button", { name: "Signer et envoyer le compte rendu" }).click();
  await e.waitForURL(/done=signed/);

  await n.goto(`/cases/${caseId}`);
  await n.check("input[name=outcome][value=not_useful]");
  await n.fill("#cl-comment", H(14));
  await n.getByRole("button", { name: "Clore avec le résultat" }).click();
  await n.waitForURL(/done=closed/);

  // A second request, declined and with hostile comments.
  declinedId = await newRequest(n, {
    family: "Bernard", given: "Noé", birth: "1990-05-06", target: "Roux",
    reason: H(15), question: H(16), then: "send",
  });
  await e.goto(`/cases/${declinedId}`);
  await e.locator("summary", { hasText: "Refuser" }).click();
  await e.selectOption("#dc-reason", "out_of_scope");
  await e.fill("#dc-comment", H(17));
  await e.locator("form[action$='/do/decline'] button").click();
  await e.waitForURL(/done=declined/);

  // A webhook of the nurse's, registered through its page with a hostile address: refused
  // with a French sentence (what was typed comes back as text), then one whose path carries
  // markup (percent-encoded by the URL parser). Registered last: no case event reaches it.
  await n.goto("/auth/sessions");
  await n.getByRole("link", { name: "Mes webhooks" }).click();
  await n.waitForURL(/\/me\/webhooks$/);
  await n.fill("#wh-url", `https://x.invalid/${HOSTILE[0]}`.replace("https", "http"));
  await n.getByRole("button", { name: "Ajouter un webhook" }).click();
  assert.match(await n.locator(".error[role=alert]").textContent(), /doit utiliser https/);
  assert.equal(await n.locator("#wh-url").inputValue(), `http://x.invalid/${HOSTILE[0]}`);
  await n.fill("#wh-url", `https://logiciel-cabinet.invalid/${HOSTILE[2]}`);
  await n.check("input[name=events][value='case.answered']");
  await n.getByRole("button", { name: "Ajouter un webhook" }).click();
  await n.getByText("Copiez ce secret maintenant").waitFor();
  assert.match(await n.locator("#wh-secret").inputValue(), /^whsec_[0-9a-f]{64}$/);

  // The hostile text is shown as text.
  await n.goto(`/cases/${caseId}`);
  const body = await n.locator("main").textContent();
  assert.ok(body.includes(`<script>alert("xss-script")</script>`) || body.includes(H(5)), "hostile text rendered as text");
  for (const who of [nurse, expert]) {
    assert.deepEqual(await who.wires.check(), [], "no dialog, no script error, no CSP violation");
    await who.ctx.close();
  }
});

const ROLES = [
  { who: "Petit", role: "requester", pages: ["/cases?view=requested", "/cases/new", "/notifications", "/me/webhooks", "CASE", "DECLINED"] },
  { who: "Roux", role: "expert", pages: ["/cases?view=mine", "/me/availability", "/me/templates", "/cases?view=pool", "/cases?view=due", "/billing", "/notifications", "CASE", "DECLINED"] },
  { who: "Lefebvre", role: "assigner", pages: ["/cases?view=mine", "/cases?view=team", "BOARD", "SETTINGS", "/admin/teams", "/notifications"] },
  { who: "Martin", role: "admin", pages: ["/cases?view=requested", "/admin/members", "/admin/teams", "/admin/audit", "/admin/audit?action=case.&outcome=denied", "/admin/activity", "/admin/webhooks", "/cases/new"] },
];

test("every main page for every role: no script runs, accessible, screenshotted", async () => {
  assert.ok(caseId, "the hostile data was written");
  const report = [];
  for (const r of ROLES) {
    const s = await signIn(browser, server.url, r.who);
    const p = s.page;
    for (let path of r.pages) {
      if (path === "CASE") path = `/cases/${caseId}`;
      if (path === "DECLINED") path = `/cases/${declinedId}`;
      if (path === "BOARD" || path === "SETTINGS") {
        await p.goto("/cases");
        const link = p.locator('header a[href^="/teams/"]').first();
        path = (await link.getAttribute("href")) + (path === "SETTINGS" ? "/settings" : "");
      }
      const resp = await p.goto(path);
      const status = resp.status();
      const visible = status === 200;
      const violations = await axe(p);
      const name = `${r.role}-${path.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "")}`.slice(0, 80);
      await shot(p, name);
      report.push({ role: r.role, path, status, violations });
      assert.ok(visible || status === 404, `${r.role} ${path}: status ${status}`);
      assert.deepEqual(violations, [], `${r.role} ${path}: axe serious/critical violations`);
    }
    assert.deepEqual(await s.wires.check(), [], `${r.role}: no dialog, no script error, no CSP violation`);
    await s.ctx.close();
  }
  saveJson("pages-report.json", report);
});

test("webhooks: an administrator registers one for the organisation, copies the secret, gives it a new one, deletes it", async () => {
  const s = await signIn(browser, server.url, "Martin");
  const p = s.page;
  await p.goto("/cases");
  await p.locator("header nav").getByRole("link", { name: "Webhooks" }).click();
  await p.waitForURL(/\/admin\/webhooks$/);
  await p.fill("#wh-url", "https://logiciel-msp.invalid/consilium");
  await p.check("input[name=events][value='case.submitted']");
  await p.check("input[name=events][value='report.signed']");
  await p.getByRole("button", { name: "Ajouter un webhook" }).click();
  const first = await p.locator("#wh-secret").inputValue();
  assert.match(first, /^whsec_[0-9a-f]{64}$/);
  assert.deepEqual(await axe(p), [], "the secret page passes axe");
  await shot(p, "admin-webhook-secret");
  await p.getByRole("link", { name: /J'ai copié le secret/ }).click();
  await p.waitForURL(/\/admin\/webhooks$/);
  const row = p.locator("tr", { hasText: "logiciel-msp.invalid" });
  assert.match(await row.textContent(), /Demande envoyée, Compte rendu signé/);
  assert.match(await row.textContent(), /Aucun envoi pour l'instant/);
  assert.ok(!(await p.content()).includes(first), "the secret is never shown again");

  // A new secret, behind its disclosure.
  await row.locator("summary", { hasText: "Nouveau secret" }).click();
  await row.getByRole("button", { name: "Remplacer le secret" }).click();
  await p.getByText("Nouveau secret créé").waitFor();
  const second = await p.locator("#wh-secret").inputValue();
  assert.match(second, /^whsec_[0-9a-f]{64}$/);
  assert.notEqual(second, first);

  // Deleted, after its confirmation.
  await p.goto("/admin/webhooks");
  const again = p.locator("tr", { hasText: "logiciel-msp.invalid" });
  await again.locator("summary", { hasText: "Supprimer" }).click();
  await again.getByRole("button", { name: "Supprimer définitivement ce webhook" }).click();
  await p.waitForURL(/done=webhook_deleted/);
  await p.getByText("Webhook supprimé.").waitFor();
  assert.equal(await p.locator("tr", { hasText: "logiciel-msp.invalid" }).count(), 0);
  assert.deepEqual(await s.wires.check(), [], "no dialog, no script error, no CSP violation");
  await s.ctx.close();
});

test("the demo sign-in page lists the accounts and passes axe", async () => {
  const ctx = await browser.newContext({ baseURL: server.url });
  const p = await ctx.newPage();
  await p.goto("/auth/login");
  assert.equal(await p.locator(".demo-accounts form").count(), 8);
  assert.deepEqual(await axe(p), []);
  await shot(p, "sign-in-demo");
  await ctx.close();
});

test("English is available and French is the default", async () => {
  const s = await signIn(browser, server.url, "Petit");
  await s.page.goto("/cases");
  assert.equal(await s.page.locator("html").getAttribute("lang"), "fr");
  await s.page.getByRole("link", { name: "English" }).click();
  await s.page.waitForURL(/\/cases/);
  assert.equal(await s.page.locator("html").getAttribute("lang"), "en");
  assert.ok(await s.page.getByRole("link", { name: "New request" }).isVisible());
  await s.ctx.close();
});
