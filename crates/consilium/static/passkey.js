// Consilium: passkeys (WebAuthn) on the sign-in pages. The page carries a section
// [data-passkey="register"|"login"] with the session's CSRF token and the relying party;
// this script asks the server for options, runs the browser's ceremony and posts the answer.
// Without this script (or WebAuthn) the button stays hidden and the code form still works.
"use strict";
(function () {
  const box = document.querySelector("[data-passkey]");
  if (!box) return;
  const button = box.querySelector("[data-passkey-action]");
  const status = box.querySelector("[data-passkey-status]");
  const labelInput = box.querySelector("[data-passkey-label]");
  const say = (text) => { if (status) status.textContent = text; };
  const mode = box.dataset.passkey;
  const rpId = box.dataset.rpId || "";
  const host = location.hostname;

  if (!window.PublicKeyCredential || !navigator.credentials || !window.isSecureContext) {
    say("Ce navigateur ne gère pas les clés d'accès ici.");
    return;
  }
  if (host !== rpId && !host.endsWith("." + rpId)) {
    say(`Clés d'accès : ouvrez Consilium à l'adresse ${box.dataset.origin}.`);
    return;
  }
  say("");
  if (button) button.hidden = false;

  // base64url (no padding) <-> bytes, the encoding of the server's JSON.
  function toBytes(s) {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(b, (c) => c.charCodeAt(0));
  }
  function toB64u(buf) {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": box.dataset.csrf },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    return [r, data];
  }

  function refusal(r) {
    switch (r.status) {
      case 401: return "Clé d'accès refusée. Réessayez, ou utilisez une autre clé.";
      case 403: return "La page a expiré. Rechargez-la et recommencez.";
      case 409: return mode === "register"
        ? "Cette clé d'accès ne peut pas être ajoutée (déjà enregistrée, ou 10 clés au plus)."
        : "Aucune clé d'accès n'est attendue ici. Rechargez la page.";
      case 422: return "La clé d'accès n'a pas pu être vérifiée. Réessayez.";
      case 429: return "Trop de tentatives. Réessayez dans quelques minutes.";
      default: return `Erreur ${r.status}. Réessayez.`;
    }
  }

  function cancelled(e) {
    if (e && e.name === "NotAllowedError") return "Opération annulée ou délai dépassé.";
    if (e && e.name === "InvalidStateError") return "Cette clé d'accès est déjà enregistrée.";
    return "La clé d'accès n'a pas répondu. Réessayez.";
  }

  async function register() {
    const [r1, options] = await post("/auth/passkey/register/start");
    if (!r1.ok || !options) return say(refusal(r1));
    const pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    let cred;
    try { cred = await navigator.credentials.create({ publicKey: pk }); } catch (e) { return say(cancelled(e)); }
    const credential = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64u(cred.response.attestationObject),
        clientDataJSON: toB64u(cred.response.clientDataJSON),
      },
      extensions: {},
    };
    const label = labelInput ? labelInput.value : "";
    const [r2, done] = await post("/auth/passkey/register/finish", { label, credential });
    if (!r2.ok || !done) return say(refusal(r2));
    say("Clé d'accès enregistrée.");
    location.assign(done.next);
  }

  async function login() {
    const [r1, options] = await post("/auth/passkey/login/start");
    if (!r1.ok || !options) return say(refusal(r1));
    const pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
    let cred;
    try { cred = await navigator.credentials.get({ publicKey: pk }); } catch (e) { return say(cancelled(e)); }
    const credential = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64u(cred.response.authenticatorData),
        clientDataJSON: toB64u(cred.response.clientDataJSON),
        signature: toB64u(cred.response.signature),
        userHandle: cred.response.userHandle ? toB64u(cred.response.userHandle) : null,
      },
      extensions: {},
    };
    const [r2, done] = await post("/auth/passkey/login/finish", { credential });
    if (!r2.ok || !done) return say(refusal(r2));
    location.assign(done.next);
  }

  if (button) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      say(mode === "register" ? "Suivez les indications de votre appareil…" : "Touchez votre clé ou confirmez sur votre appareil…");
      try { await (mode === "register" ? register() : login()); }
      catch (e) { say("Le serveur n'a pas répondu. Vérifiez la connexion et réessayez."); }
      finally { button.disabled = false; }
    });
  }
})();
