// Consilium: progressive enhancement of server-rendered pages. Every page works without
// this file; with it: upload progress and drag and drop, live INS key check, specialty
// filter, image viewer, and live updates (polling small JSON endpoints).
"use strict";
(function () {
  const $ = (s, r) => (r || document).querySelector(s);
  const $$ = (s, r) => Array.from((r || document).querySelectorAll(s));
  const fr = document.documentElement.lang !== "en";

  // --- INS: 13 characters + 2-digit key, key = 97 - (N mod 97); Corsica 2A -> 19, 2B -> 18.
  function insStatus(raw) {
    const s = raw.replace(/[\s.-]/g, "").toUpperCase();
    if (s === "") return [null, ""];
    if (s.length !== 15) return [false, fr ? `${s.length} caractères sur 15` : `${s.length} of 15 characters`];
    let body = s.slice(0, 13);
    const dept = body.slice(5, 7);
    if (dept === "2A") body = body.slice(0, 5) + "19" + body.slice(7);
    if (dept === "2B") body = body.slice(0, 5) + "18" + body.slice(7);
    if (!/^\d{13}$/.test(body) || !/^\d{2}$/.test(s.slice(13))) return [false, fr ? "Chiffres attendus" : "Digits expected"];
    const key = 97 - Number(BigInt(body) % 97n);
    if (key !== Number(s.slice(13))) return [false, fr ? "Clé incorrecte : vérifiez la saisie" : "Wrong key: check the number"];
    return [true, fr ? "Clé correcte" : "Key is correct"];
  }
  $$("[data-ins]").forEach((input) => {
    const out = $("[data-ins-status]");
    const hint = out ? out.textContent : "";
    input.addEventListener("input", () => {
      const [ok, text] = insStatus(input.value);
      if (!out) return;
      out.textContent = ok === null ? hint : text;
      out.className = ok === false ? "hint late" : "hint";
      input.setAttribute("aria-invalid", ok === false ? "true" : "false");
    });
  });

  // --- New request: known patient hides the identity fields; specialty filters targets.
  const patientSelect = $("[data-patient-select]");
  const newPatient = $("[data-new-patient]");
  if (patientSelect && newPatient) {
    const sync = () => { newPatient.hidden = patientSelect.value !== ""; };
    patientSelect.addEventListener("change", sync);
    sync();
  }
  const specialty = $("[data-specialty]");
  const target = $("[data-target]");
  if (specialty && target) {
    const sync = () => {
      const sp = specialty.value;
      $$("option[data-specialty]", target).forEach((o) => {
        const show = sp === "" || o.dataset.specialty === sp;
        o.hidden = !show;
        o.disabled = !show;
        if (!show && o.selected) target.value = "";
      });
    };
    specialty.addEventListener("change", sync);
    target.addEventListener("change", () => {
      const o = target.selectedOptions[0];
      if (o && o.dataset.specialty && specialty.value === "") specialty.value = o.dataset.specialty;
    });
    sync();
  }

  // --- Answer templates fill the answer.
  $$("[data-template-target]").forEach((sel) => {
    sel.addEventListener("change", () => {
      const area = document.getElementById(sel.dataset.templateTarget);
      if (!area || sel.value === "") return;
      area.value = area.value.trim() === "" ? sel.value : area.value + "\n\n" + sel.value;
      area.focus();
    });
  });

  // --- Uploads: drag and drop, progress bar (XHR), then the page the server answers.
  $$("form[data-upload]").forEach((form) => {
    const drop = $("[data-drop]", form);
    const input = $("input[type=file][name=files]", form);
    const bar = $("progress", form);
    if (drop && input) {
      ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
      ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
      drop.addEventListener("drop", (e) => {
        e.preventDefault();
        if (e.dataTransfer && e.dataTransfer.files.length) input.files = e.dataTransfer.files;
      });
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      if (bar) { bar.hidden = false; bar.value = 0; }
      xhr.upload.addEventListener("progress", (ev) => {
        if (bar && ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
        document.open(); document.write(xhr.responseText); document.close();
      });
      xhr.addEventListener("error", () => {
        if (bar) bar.hidden = true;
        alertBox(form, fr ? "Envoi interrompu : vérifiez la connexion et réessayez." : "Upload interrupted: check the connection and try again.");
      });
      const data = new FormData(form);
      // File inputs left empty (the camera when unused) are not sent.
      for (const [k, v] of Array.from(data.entries())) {
        if (v instanceof File && v.name === "" && v.size === 0) data.delete(k);
      }
      xhr.send(data);
    });
  });
  function alertBox(where, text) {
    const p = document.createElement("p");
    p.className = "error"; p.setAttribute("role", "alert"); p.textContent = text;
    where.prepend(p);
  }

  // --- Image viewer: zoom, full screen, previous/next, keyboard.
  const viewer = $(".viewer");
  const thumbs = $$("a[data-viewer]");
  if (viewer && thumbs.length) {
    const img = $(".viewer-stage img", viewer);
    const name = $(".viewer-name", viewer);
    let index = 0, zoom = 1, opener = null;
    const show = (i) => {
      index = (i + thumbs.length) % thumbs.length;
      zoom = 1; img.style.transform = "";
      img.src = thumbs[index].dataset.full;
      img.alt = thumbs[index].dataset.name || "";
      name.textContent = `${thumbs[index].dataset.name || ""} (${index + 1}/${thumbs.length})`;
    };
    const close = () => { viewer.hidden = true; img.removeAttribute("src"); if (document.fullscreenElement) document.exitFullscreen(); if (opener) opener.focus(); };
    const setZoom = (z) => { zoom = Math.min(8, Math.max(0.25, z)); img.style.transform = `scale(${zoom})`; };
    thumbs.forEach((a, i) => a.addEventListener("click", (e) => {
      e.preventDefault(); opener = a; viewer.hidden = false; show(i); $("[data-v=close]", viewer).focus();
    }));
    viewer.addEventListener("click", (e) => {
      const b = e.target.closest("[data-v]");
      if (!b) return;
      const v = b.dataset.v;
      if (v === "prev") show(index - 1);
      if (v === "next") show(index + 1);
      if (v === "zoomin") setZoom(zoom * 1.25);
      if (v === "zoomout") setZoom(zoom / 1.25);
      if (v === "full" && viewer.requestFullscreen) viewer.requestFullscreen();
      if (v === "close") close();
    });
    $(".viewer-stage", viewer).addEventListener("wheel", (e) => { e.preventDefault(); setZoom(zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1)); }, { passive: false });
    document.addEventListener("keydown", (e) => {
      if (viewer.hidden) return;
      if (e.key === "Escape") close();
      if (e.key === "ArrowLeft") show(index - 1);
      if (e.key === "ArrowRight") show(index + 1);
      if (e.key === "+") setZoom(zoom * 1.25);
      if (e.key === "-") setZoom(zoom / 1.25);
    });
  }

  // --- Live updates. A case page checks its version; when it changed, the page reloads
  // by itself unless the user is typing (then a banner offers to reload).
  const live = $("[data-live-case]");
  const typing = () => $$("textarea, input[type=text], input:not([type])").some((x) => x.value.trim() !== "" && !x.readOnly && x.type !== "hidden");
  if (live) {
    const version = live.dataset.version;
    const url = `/cases/${encodeURIComponent(live.dataset.liveCase)}/live`;
    const banner = $(".live-banner");
    const tick = async () => {
      try {
        const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (r.ok) {
          const j = await r.json();
          if (String(j.version) !== version) {
            if (!typing() && !document.querySelector(".viewer:not([hidden])")) { window.location.reload(); return; }
            if (banner) banner.hidden = false;
            return;
          }
        }
      } catch (_) { /* offline: try again later */ }
      setTimeout(tick, 10000);
    };
    setTimeout(tick, 10000);
  }
  // Every page: the unread badge.
  const badgeTick = async () => {
    try {
      const r = await fetch("/live", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) {
        const j = await r.json();
        const link = $('header a[href="/notifications"]');
        if (link) {
          let b = $(".badge", link);
          if (j.unread > 0) {
            if (!b) { b = document.createElement("span"); b.className = "badge"; link.append(" ", b); }
            b.textContent = String(j.unread);
          } else if (b) { b.remove(); }
        }
      }
    } catch (_) { /* ignore */ }
    setTimeout(badgeTick, 30000);
  };
  if ($("header.top")) setTimeout(badgeTick, 30000);
})();
