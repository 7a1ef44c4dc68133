//! The web interface over HTTP, on both backends: pages need a full session; forms carry
//! the session's token (a missing or wrong one is 403, audited, and changes nothing); the
//! new-request form, actions and uploads go through the same use cases as the API;
//! invisible cases are 404 (audited); user text is escaped; administrator and assigner
//! pages are refused to others. (The browser flows are in `e2e/`.)

use crate::both;
use crate::harness::{TestApp, png_header};
use crate::signin::{Browser, rpps, signed_in};
use consilium::demo::password_for;
use reqwest::StatusCode;

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";

/// Signs in a demo user who needs a second factor (enrolled for the test, code from the
/// platform's clock).
pub async fn signed_in_2fa<'a>(app: &'a TestApp, key: &str) -> Browser<'a> {
    let id = app.me(&format!("csl_demo_{key}")).await;
    app.platform.demo_enrol_totp(&id).await.unwrap();
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps(key), &password_for(key)).await;
    assert_eq!(p.location(), "/auth/second-factor", "{}", p.body);
    let page = b.get("/auth/second-factor").await;
    let csrf = page.field("csrf");
    let code = app.platform.demo_totp_code(&id).await.unwrap().unwrap();
    let p = b
        .form("/auth/second-factor", &[("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/cases");
    b
}

/// The form token of a page.
async fn token(b: &mut Browser<'_>, path: &str) -> String {
    let p = b.get(path).await;
    assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
    p.field("csrf")
}

async fn state(app: &TestApp, token: &str, id: &str) -> String {
    let (s, v) = app.get(token, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["state"].as_str().unwrap().to_string()
}

both!(pages_need_a_full_session, |app| {
    app.seed_demo().await;
    let mut anon = Browser::new(app);
    for path in [
        "/",
        "/cases",
        "/cases/new",
        "/notifications",
        "/admin/audit",
    ] {
        let p = anon.get(path).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(p.location(), "/auth/login", "{path}");
    }
    let p = anon.form("/cases/new", &[("csrf", "x")]).await;
    assert_eq!(p.location(), "/auth/login");

    let mut b = signed_in(app, "petit").await;
    let p = b.get("/cases").await;
    assert_eq!(p.status, StatusCode::OK);
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(p.body.contains("Mes demandes"), "French by default");
    assert!(p.body.contains("lang=\"fr\""));
    let p = b.get("/cases?lang=en").await;
    assert!(p.body.contains("My requests") && p.body.contains("lang=\"en\""));
    // The language switch keeps the choice in a cookie and goes back where the user was.
    let p = b.get("/lang/en?back=%2Fcases%2Fnew").await;
    assert_eq!(p.location(), "/cases/new");
    assert!(b.get("/cases").await.body.contains("New request"));
    // Only local paths are followed back.
    let p = b.get("/lang/fr?back=%2F%2Fevil.example").await;
    assert_eq!(p.location(), "/cases");
});

both!(a_request_made_with_the_form_is_sent, |app| {
    app.seed_demo().await;
    let mut b = signed_in(app, "petit").await;
    let page = b.get("/cases/new").await;
    assert!(
        page.body.contains("appelez le 15"),
        "the emergency reminder"
    );
    let csrf = page.field("csrf");
    let roux = app.me(ROUX).await;
    let target = format!("expert:{roux}");
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("birth_family_name", "Durand"),
        ("given_names", "Léa"),
        ("birth_date", "1961-04-12"),
        ("sex", "F"),
        ("ins", "2 85 05 99 123 007 18"),
        ("patient_informed", "1"),
        ("decision", "given"),
        ("method", "oral"),
        ("specialty", "SM15"),
        ("target", target.as_str()),
        ("urgency", "routine"),
        ("reason", "Lésion pigmentée"),
        ("question", "Exérèse ?"),
        ("then", "attach"),
    ];
    let before = app.scalar("SELECT COUNT(*) FROM cases").await;
    // Not informed: refused, what was typed comes back, nothing is created.
    let uninformed: Vec<_> = fields
        .iter()
        .filter(|(k, _)| *k != "patient_informed")
        .cloned()
        .collect();
    let p = b.form("/cases/new", &uninformed).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("R6") && p.body.contains("value=\"Lésion pigmentée\""));
    // A wrong INS key: refused with the field named.
    let mut bad = fields.clone();
    bad[5] = ("ins", "2 85 05 99 123 007 19");
    let p = b.form("/cases/new", &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("INS"), "{}", p.body);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM cases").await, before);

    let p = b.form("/cases/new", &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let loc = p.location().to_string();
    assert!(loc.ends_with("?done=draft"), "{loc}");
    let id = loc
        .trim_start_matches("/cases/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(state(app, PETIT, &id).await, "draft");
    let page = b.get(&loc).await;
    assert!(page.body.contains("Brouillon créé"));
    let csrf = page.field("csrf");

    // A photo through the page's upload form (token first).
    let png = png_header(8, 8);
    let (ct, body) = form_multipart(&csrf, &[("photo.png", &png)]);
    let p = b
        .send(
            b_client()
                .post(format!("{}/cases/{id}/files", app.base))
                .header("content-type", ct)
                .body(body),
        )
        .await;
    assert!(
        p.status == StatusCode::SEE_OTHER || p.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        p.body
    );

    let p = b
        .form(&format!("/cases/{id}/do/submit"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        p.location(),
        format!("/cases/{id}?done=submitted"),
        "{}",
        p.body
    );
    assert_eq!(state(app, PETIT, &id).await, "assigned");
    fields.clear();
});

fn b_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A multipart form as a browser sends the upload form: the token, then the files.
fn form_multipart(csrf: &str, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----consiliumform7d3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
            .as_bytes(),
    );
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

both!(forms_without_the_token_change_nothing, |app| {
    app.seed_demo().await;
    let case = app
        .draft(PETIT, serde_json::json!({"expert_id": app.me(ROUX).await}))
        .await;
    let id = case["id"].as_str().unwrap();
    let mut b = signed_in(app, "petit").await;
    let refusals = app.audit_count("auth.csrf", "denied").await;
    for fields in [vec![], vec![("csrf", "forged")]] {
        let p = b.form(&format!("/cases/{id}/do/cancel"), &fields).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
        assert!(p.body.contains("Formulaire expiré"));
    }
    assert_eq!(app.audit_count("auth.csrf", "denied").await, refusals + 2);
    assert_eq!(state(app, PETIT, id).await, "draft");
    // The upload form too: without its token first, nothing is stored.
    let png = png_header(8, 8);
    let (ct, body) = form_multipart("forged", &[("photo.png", &png)]);
    let p = b
        .send(
            b_client()
                .post(format!("{}/cases/{id}/files", app.base))
                .header("content-type", ct)
                .body(body),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM attachments WHERE case_id = '{id}'"
        ))
        .await,
        0
    );
    // With the token but from another site (an opaque `Origin: null` from a sandboxed
    // frame): refused by the origin guard, unchanged.
    let csrf = token(&mut b, &format!("/cases/{id}")).await;
    let p = b
        .send(
            b_client()
                .post(format!("{}/cases/{id}/do/cancel", app.base))
                .header("origin", "null")
                .header("sec-fetch-site", "cross-site")
                .form(&[("csrf", csrf.as_str())]),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(state(app, PETIT, id).await, "draft");
    // With the token, the same action works (a browser under `Referrer-Policy:
    // same-origin` may still send `Origin: null` with `Sec-Fetch-Site: same-origin`).
    let p = b
        .form(&format!("/cases/{id}/do/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.location(), format!("/cases/{id}?done=cancelled"));
    assert_eq!(state(app, PETIT, id).await, "cancelled");
});

both!(user_text_is_escaped_and_invisible_cases_are_404, |app| {
    app.seed_demo().await;
    let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)> javascript:alert(3)"#;
    let case = app
        .draft(PETIT, serde_json::json!({"expert_id": app.me(ROUX).await, "reason": hostile, "question": hostile}))
        .await;
    let id = case["id"].as_str().unwrap();
    let mut b = signed_in(app, "petit").await;
    let p = b.get(&format!("/cases/{id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        !p.body.contains("<script>alert(1)"),
        "raw script in the page"
    );
    assert!(!p.body.contains("<img src=x"), "raw handler in the page");
    assert!(
        p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
    let p = b.get("/cases?view=requested").await;
    assert!(!p.body.contains("<script>alert(1)") && p.body.contains("alert(1)"));

    // Another requester: not found, audited, no patient data.
    let denied = app.audit_count("case.read", "denied").await;
    let mut other = signed_in(app, "moreau").await;
    let p = other.get(&format!("/cases/{id}")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(!p.body.contains("Testard"));
    assert_eq!(app.audit_count("case.read", "denied").await, denied + 1);
    let p = other.get(&format!("/cases/{id}/live")).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    // The requester's live view: the version only.
    let p = b.get(&format!("/cases/{id}/live")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.json()["state"], "draft");
    assert!(!p.body.contains("Testard"));
});

both!(the_expert_answers_from_the_page, |app| {
    app.seed_demo().await;
    let case = app
        .submitted_case(PETIT, serde_json::json!({"expert_id": app.me(ROUX).await}))
        .await;
    let id = case["id"].as_str().unwrap();
    let mut e = signed_in_2fa(app, "roux").await;
    let inbox = e.get("/cases?view=mine").await;
    assert!(inbox.body.contains(id), "in the expert's inbox");
    assert!(inbox.body.contains("<title>("), "the count in the title");
    let csrf = token(&mut e, &format!("/cases/{id}")).await;
    let p = e
        .form(&format!("/cases/{id}/do/accept"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        p.location(),
        format!("/cases/{id}?done=accepted"),
        "{}",
        p.body
    );
    // An incomplete answer: 422 with the field, the case unchanged.
    let p = e
        .form(
            &format!("/cases/{id}/do/answer"),
            &[("csrf", &csrf), ("kind", "advice"), ("context", "c")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("À corriger"));
    assert_eq!(state(app, ROUX, id).await, "in_progress");
    let p = e
        .form(
            &format!("/cases/{id}/do/answer"),
            &[
                ("csrf", &csrf),
                ("kind", "advice"),
                ("context", "Naevus."),
                ("answer", "Surveillance simple."),
                ("recommendations", "Photo dans 6 mois."),
                ("save_template", "1"),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("/cases/{id}?done=answered"),
        "{}",
        p.body
    );
    assert_eq!(state(app, ROUX, id).await, "answered");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM answer_templates").await, 1);
    let p = e.get(&format!("/cases/{id}")).await;
    assert!(p.body.contains("Signer et envoyer le compte rendu"));
    let p = e
        .form(&format!("/cases/{id}/do/sign"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        p.location(),
        format!("/cases/{id}?done=signed"),
        "{}",
        p.body
    );
    // The requester sees the report's download link.
    let mut r = signed_in(app, "petit").await;
    let p = r.get(&format!("/cases/{id}")).await;
    assert!(p.body.contains("Télécharger le PDF"));
    // A claim on a case that is not in a pool of theirs: refused, unchanged.
    let p = e
        .form(&format!("/cases/{id}/do/accept"), &[("csrf", &csrf)])
        .await;
    assert!(p.status.is_client_error(), "{}", p.status);
    assert_eq!(state(app, ROUX, id).await, "answered");
});

both!(board_and_admin_pages_are_for_their_roles, |app| {
    app.seed_demo().await;
    let team = app.team_id("csl_demo_lefebvre").await;
    let mut assigner = signed_in_2fa(app, "lefebvre").await;
    let p = assigner.get(&format!("/teams/{team}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("Charge par membre"));
    let mut expert = signed_in_2fa(app, "roux").await;
    assert_eq!(
        expert.get(&format!("/teams/{team}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        expert.get("/admin/audit").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        expert.get("/admin/activity").await.status,
        StatusCode::NOT_FOUND
    );

    let mut admin = signed_in_2fa(app, "martin").await;
    let p = admin.get("/admin/audit").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body.contains("case."),
        "entries by the organisation's members"
    );
    let p = admin
        .get("/admin/audit?action=case.&outcome=denied&from=2020-01-01&to=2099-12-31")
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let p = admin.get("/admin/audit?from=yesterday").await;
    assert!(
        p.body.contains("JJ/MM/AAAA"),
        "a bad date is explained (in French)"
    );
    let p = admin.get("/admin/activity").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("<svg") && p.body.contains("Demandes par semaine"));
    assert!(app.audit_count("audit.read", "success").await >= 2);
});

both!(administrators_manage_members_from_the_page, |app| {
    app.seed_demo().await;
    let mut admin = signed_in_2fa(app, "martin").await;
    let page = admin.get("/admin/members").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Julien Petit"),
        "the MSP's members are listed"
    );
    let csrf = page.field("csrf");
    let before = app.scalar("SELECT COUNT(*) FROM professionals").await;
    let rpps_ok = consilium::demo::demo_rpps(50);
    let last = rpps_ok.chars().last().unwrap().to_digit(10).unwrap();
    let rpps_bad = format!("{}{}", &rpps_ok[..10], (last + 1) % 10);
    // A wrong RPPS key: refused, what was typed comes back, nothing created.
    let mut bad = [
        ("csrf", csrf.as_str()),
        ("first_name", "Inès"),
        ("last_name", "Garcia"),
        ("profession", "60"),
        ("rpps", rpps_bad.as_str()),
        ("email", "ines.garcia@demo.consilium.invalid"),
        ("role", "member"),
        ("invite", "1"),
    ];
    let p = admin.form("/admin/members", &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("value=\"Garcia\""));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM professionals").await,
        before
    );
    bad[4] = ("rpps", rpps_ok.as_str());
    let p = admin.form("/admin/members", &bad).await;
    assert_eq!(
        p.location(),
        "/admin/members?done=member_invited",
        "{}",
        p.body
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM professionals").await,
        before + 1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM one_time_links WHERE kind = 'invitation'")
            .await,
        1,
        "the invitation link exists (mailed by the mail job)"
    );
    let page = admin.get("/admin/members?done=member_invited").await;
    assert!(page.body.contains("Invitation envoyée") && page.body.contains("Garcia"));

    // Disabling a member ends their sessions at once.
    let petit = app.me(PETIT).await;
    let mut nurse = signed_in(app, "petit").await;
    assert_eq!(nurse.get("/cases").await.status, StatusCode::OK);
    let p = admin
        .form(
            &format!("/admin/members/{petit}/disable"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.location(), "/admin/members?done=member_disabled");
    assert_eq!(nurse.get("/cases").await.location(), "/auth/login");
    let p = admin
        .form(
            &format!("/admin/members/{petit}/enable"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.location(), "/admin/members?done=member_enabled");

    // Someone else's member, and non-administrators: refused, nothing changed.
    let roux = app.me(ROUX).await;
    let p = admin
        .form(
            &format!("/admin/members/{roux}/disable"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(p.status.is_client_error(), "{}", p.status);
    let mut expert = signed_in_2fa(app, "roux").await;
    assert_eq!(
        expert.get("/admin/members").await.status,
        StatusCode::NOT_FOUND
    );
    let csrf_e = token(&mut expert, "/cases").await;
    let p = expert
        .form(
            "/admin/members",
            &[
                ("csrf", csrf_e.as_str()),
                ("first_name", "X"),
                ("last_name", "Y"),
                ("profession", "10"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM professionals").await,
        before + 1
    );
});

both!(the_form_offers_only_those_who_would_accept, |app| {
    app.seed_demo().await;
    let roux = app.me(ROUX).await;
    let mut b = signed_in(app, "petit").await;
    let page = b.get("/cases/new").await;
    assert!(
        page.body.contains(&format!("value=\"expert:{roux}\"")),
        "Roux accepts nurses"
    );
    assert!(
        page.body.contains("pas encore de délai connu")
            || page.body.contains("répond habituellement en")
    );
    // Roux stops accepting nurses (TRE_G15 60): he is no longer offered to the nurse.
    let (s, v) = app
        .put(ROUX, "/api/v1/me/acceptance-rules", serde_json::json!({"professions": ["10", "50"], "departements": [], "regions": [], "postcodes": [], "max_open": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let page = b.get("/cases/new").await;
    assert!(
        !page.body.contains(&format!("value=\"expert:{roux}\"")),
        "Roux is not offered any more"
    );
    // A doctor still gets him.
    let mut gp = signed_in_2fa(app, "martin").await;
    let page = gp.get("/cases/new").await;
    assert!(page.body.contains(&format!("value=\"expert:{roux}\"")));
});

both!(experts_set_their_availability_from_the_page, |app| {
    app.seed_demo().await;
    let fontaine = app.me("csl_demo_fontaine").await;
    let mut e = signed_in_2fa(app, "roux").await;
    let page = e.get("/me/availability").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    // Dates in Europe/Paris, from the injected clock.
    let today = consilium::billing::model::paris_date(app.platform.now());
    let d = |n: i64| (today + time::Duration::days(n)).to_string();
    let (from, to) = (d(2), d(4));
    // The end before the start: refused with the field, nothing stored.
    let p = e
        .form(
            "/me/availability/absence",
            &[
                ("csrf", csrf.as_str()),
                ("from", to.as_str()),
                ("to", from.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("À corriger"));
    let absences = "SELECT COUNT(*) FROM absences";
    let before = app.scalar(absences).await;
    let p = e
        .form(
            "/me/availability/absence",
            &[
                ("csrf", csrf.as_str()),
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("delegate_id", fontaine.as_str()),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        "/me/availability?done=absence_added",
        "{}",
        p.body
    );
    assert_eq!(app.scalar(absences).await, before + 1);
    let page = e.get("/me/availability?done=absence_added").await;
    assert!(page.body.contains("Absence enregistrée") && page.body.contains("Fontaine"));
    // Rules through the form: doctors only; the nurse no longer gets Roux.
    let roux = app.me(ROUX).await;
    let p = e
        .form(
            "/me/availability/rules",
            &[
                ("csrf", csrf.as_str()),
                ("professions", "10"),
                ("departements", ""),
                ("max_open", ""),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        "/me/availability?done=rules_saved",
        "{}",
        p.body
    );
    let mut nurse = signed_in(app, "petit").await;
    let page = nurse.get("/cases/new").await;
    assert!(!page.body.contains(&format!("value=\"expert:{roux}\"")));
    // Not for those who never receive requests.
    assert_eq!(
        nurse.get("/me/availability").await.status,
        StatusCode::NOT_FOUND
    );
});

both!(administrators_set_a_teams_rules_and_rota, |app| {
    app.seed_demo().await;
    let team = app.team_id("csl_demo_lefebvre").await;
    let roux = app.me(ROUX).await;
    let mut admin = signed_in_2fa(app, "lefebvre").await;
    let path = format!("/teams/{team}/settings");
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    let today = consilium::billing::model::paris_date(app.platform.now());
    let tomorrow = (today + time::Duration::days(1)).to_string();
    let from = format!("{tomorrow}T08:00");
    let to = format!("{tomorrow}T20:00");
    // The end before the start: refused, nothing stored.
    let p = admin
        .form(
            &format!("{path}/add-slot"),
            &[
                ("csrf", csrf.as_str()),
                ("professional_id", roux.as_str()),
                ("from", to.as_str()),
                ("to", from.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_slots").await, 0);
    let p = admin
        .form(
            &format!("{path}/add-slot"),
            &[
                ("csrf", csrf.as_str()),
                ("professional_id", roux.as_str()),
                ("from", from.as_str()),
                ("to", to.as_str()),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("{path}?done=rota_saved"),
        "{}",
        p.body
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_slots").await, 1);
    let page = admin.get(&path).await;
    assert!(
        page.body.contains("08:00") && page.body.contains("Roux"),
        "Paris wall-clock time shown"
    );
    // Removed by value (the page's hidden fields), not by position.
    let (from_us, to_us) = (page.field("from"), page.field("to"));
    assert_eq!(
        from_us.parse::<i64>().ok(),
        Some(app.scalar("SELECT from_at FROM rota_slots").await)
    );
    let remove = [
        ("csrf", csrf.as_str()),
        ("professional_id", roux.as_str()),
        ("from", from_us.as_str()),
        ("to", to_us.as_str()),
    ];
    let p = admin.form(&format!("{path}/remove-slot"), &remove).await;
    assert_eq!(p.location(), format!("{path}?done=rota_saved"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_slots").await, 0);
    // The same form again (a second tab, a double click): a clear refusal, nothing else.
    let p = admin.form(&format!("{path}/remove-slot"), &remove).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("créneau introuvable"), "{}", p.body);

    // Weekly on-call: a night (Friday 20:00 → Saturday 08:00), listed in French.
    let weekly = |day: &'static str, start: &'static str, end: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("professional_id", roux.clone()),
            ("day", day.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ]
    };
    for (form, field) in [
        (weekly("friday", "25:00", "08:00"), "Début"),
        (weekly("friday", "20:00", "8h"), "Fin"),
        (weekly("caturday", "20:00", "08:00"), "Jour"),
        (weekly("friday", "20:00", "20:00"), "doit différer du début"),
    ] {
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = admin.form(&format!("{path}/add-weekly"), &refs).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
        assert!(p.body.contains(field), "{field}: {}", p.body);
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_weekly").await, 0);
    let night = weekly("friday", "20:00", "08:00");
    let refs: Vec<(&str, &str)> = night.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = admin.form(&format!("{path}/add-weekly"), &refs).await;
    assert_eq!(
        p.location(),
        format!("{path}?done=weekly_saved"),
        "{}",
        p.body
    );
    let (_, r) = app
        .get(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/teams/{team}/routing"),
        )
        .await;
    assert_eq!(r["weekly_rota"][0]["day"], "friday", "{r}");
    assert_eq!(r["weekly_rota"][0]["start"], "20:00");
    assert_eq!(r["weekly_rota"][0]["end"], "08:00");
    let page = admin.get(&format!("{path}?done=weekly_saved")).await;
    assert!(page.body.contains("Garde hebdomadaire enregistrée."));
    assert!(
        page.body
            .contains("Vendredi · 20:00 → 08:00 · Dr Camille Roux"),
        "{}",
        page.body
    );
    let p = admin.form(&format!("{path}/remove-weekly"), &refs).await;
    assert_eq!(p.location(), format!("{path}?done=weekly_saved"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_weekly").await, 0);
    assert_eq!(app.audit_count("team.weekly_rota", "success").await, 2);
    let p = admin
        .form(
            &format!("{path}/rules"),
            &[
                ("csrf", csrf.as_str()),
                ("professions", "10"),
                ("regions", "75"),
                ("max_open", "30"),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("{path}?done=rules_saved"),
        "{}",
        p.body
    );
    // The team's policy: out-of-range hours refused, then auto-assign, least loaded first.
    let p = admin
        .form(
            &format!("{path}/policy"),
            &[
                ("csrf", csrf.as_str()),
                ("policy", "auto_assign"),
                ("assign_strategy", "least_loaded"),
                ("accept_hours", "0"),
                ("hybrid_hours", "24"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let (_, t) = app
        .get(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/teams/{team}"),
        )
        .await;
    assert_eq!(t["policy"], "self_service", "unchanged");
    let p = admin
        .form(
            &format!("{path}/policy"),
            &[
                ("csrf", csrf.as_str()),
                ("policy", "auto_assign"),
                ("assign_strategy", "least_loaded"),
                ("accept_hours", "8"),
                ("hybrid_hours", "24"),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("{path}?done=policy_saved"),
        "{}",
        p.body
    );
    let (_, t) = app
        .get(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/teams/{team}"),
        )
        .await;
    assert_eq!(t["policy"], "auto_assign", "{t}");
    assert_eq!(t["routing"]["assign_strategy"], "least_loaded");
    assert_eq!(t["routing"]["accept_hours"], 8);
    assert_eq!(app.audit_count("team.policy", "success").await, 1);
    // A request to the team (from a doctor, as its rules now ask) goes to a member at once.
    let case = app
        .submitted_case("csl_demo_martin", serde_json::json!({"team_id": team}))
        .await;
    assert_eq!(case["state"], "assigned", "{case}");
    // Members who do not administer the organisation: not found, nothing changed.
    let mut member = signed_in_2fa(app, "roux").await;
    assert_eq!(member.get(&path).await.status, StatusCode::NOT_FOUND);
    let csrf_m = token(&mut member, "/cases").await;
    for action in ["rules", "policy", "add-weekly"] {
        let p = member
            .form(
                &format!("{path}/{action}"),
                &[
                    ("csrf", csrf_m.as_str()),
                    ("policy", "moderated"),
                    ("accept_hours", "24"),
                    ("hybrid_hours", "24"),
                    ("professional_id", roux.as_str()),
                    ("day", "monday"),
                    ("start", "08:00"),
                    ("end", "12:00"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM rota_weekly").await, 0);
    let (_, t) = app
        .get(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/teams/{team}"),
        )
        .await;
    assert_eq!(t["policy"], "auto_assign", "unchanged by a member");
    let (_, v) = app
        .get(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/teams/{team}/routing"),
        )
        .await;
    assert_eq!(v["rules"]["max_open"], 30, "{v}");
});

both!(my_requests_count_unread_messages, |app| {
    app.seed_demo().await;
    let case = app
        .submitted_case(PETIT, serde_json::json!({"expert_id": app.me(ROUX).await}))
        .await;
    let id = case["id"].as_str().unwrap();
    app.ok(
        ROUX,
        &format!("/api/v1/cases/{id}/accept"),
        serde_json::json!({}),
    )
    .await;
    let mut b = signed_in(app, "petit").await;
    let list = b.get("/cases?view=requested").await;
    assert!(
        !list.body.contains("nouveau(x) message(s)"),
        "nothing unread yet"
    );
    for text in ["Une photo de plus près ?", "Et de profil ?"] {
        app.ok(
            ROUX,
            &format!("/api/v1/cases/{id}/messages"),
            serde_json::json!({"text": text}),
        )
        .await;
    }
    let list = b.get("/cases?view=requested").await;
    assert!(
        list.body.contains("2 nouveau(x) message(s)"),
        "{}",
        list.body
    );
    // Her own messages never count; opening the case reads them.
    assert_eq!(b.get(&format!("/cases/{id}")).await.status, StatusCode::OK);
    let list = b.get("/cases?view=requested").await;
    assert!(!list.body.contains("nouveau(x) message(s)"));
    // Another requester's list never shows it.
    let mut other = signed_in(app, "moreau").await;
    assert!(!other.get("/cases?view=requested").await.body.contains(id));
});

// A team that hides the patient's identity in its pool (set on its settings page): its
// members see a waiting request without the patient's names or birth date, on the list and
// on the case page; the requester sees them; claiming the request shows them.
both!(
    a_pool_that_hides_identities_shows_a_preview_on_pages,
    |app| {
        app.seed_demo().await;
        let team = app.team_id("csl_demo_lefebvre").await;
        let mut admin = signed_in_2fa(app, "lefebvre").await;
        let path = format!("/teams/{team}/settings");
        let page = admin.get(&path).await;
        assert!(
            page.body
                .contains("name=\"hide_identity_in_pool\" value=\"on\">"),
            "unchecked by default: {}",
            page.body
        );
        let csrf = page.field("csrf");
        let p = admin
            .form(
                &format!("{path}/policy"),
                &[
                    ("csrf", csrf.as_str()),
                    ("policy", "self_service"),
                    ("assign_strategy", "round_robin"),
                    ("accept_hours", "24"),
                    ("hybrid_hours", "24"),
                    ("hide_identity_in_pool", "on"),
                ],
            )
            .await;
        assert_eq!(
            p.location(),
            format!("{path}?done=policy_saved"),
            "{}",
            p.body
        );
        let (_, t) = app
            .get(
                "csl_demo_lefebvre",
                &format!("/api/v1/directory/teams/{team}"),
            )
            .await;
        assert_eq!(t["hide_identity_in_pool"], true, "{t}");
        assert!(
            admin
                .get(&path)
                .await
                .body
                .contains("name=\"hide_identity_in_pool\" value=\"on\" checked>")
        );

        let case = app
            .submitted_case(
                PETIT,
                serde_json::json!({"team_id": team, "patient": {
                    "birth_family_name": "Cachelin", "used_family_name": "Vasseur",
                    "given_names": "Ondine", "birth_date": "1961-02-03", "sex": "F"
                }}),
            )
            .await;
        let id = case["id"].as_str().unwrap();
        let identity = ["CACHELIN", "VASSEUR", "Ondine", "03/02/1961", "1961-02-03"];
        let mut mate = signed_in_2fa(app, "fontaine").await;
        for page in [
            mate.get("/cases?view=pool").await,
            mate.get(&format!("/cases/{id}")).await,
        ] {
            assert_eq!(page.status, StatusCode::OK);
            for x in identity {
                assert!(!page.body.contains(x), "{x} shown to a team-mate");
            }
            assert!(page.body.contains("Identité masquée"), "{}", page.body);
        }
        let mut requester = signed_in(app, "petit").await;
        let mine = requester.get(&format!("/cases/{id}")).await;
        assert!(mine.body.contains("CACHELIN") && !mine.body.contains("Identité masquée"));
        // Claimed: the identity is shown to the one who took it.
        app.ok(
            "csl_demo_fontaine",
            &format!("/api/v1/cases/{id}/accept"),
            serde_json::json!({}),
        )
        .await;
        let page = mate.get(&format!("/cases/{id}")).await;
        assert!(page.body.contains("CACHELIN") && page.body.contains("Ondine"));
    }
);

/// The tab counts of a list page, by view key.
fn tab_counts(body: &str) -> std::collections::HashMap<String, i64> {
    let mut out = std::collections::HashMap::new();
    for part in body.split("<a href=\"/cases?view=").skip(1) {
        let key: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let count = part
            .split("<span class=\"count\">")
            .nth(1)
            .and_then(|x| x.split('<').next())
            .and_then(|x| x.parse::<i64>().ok());
        if let Some(n) = count {
            out.insert(key, n);
        }
    }
    out
}

/// The API's list of a view, every page.
async fn api_list(app: &TestApp, token: &str, query: &str) -> Vec<serde_json::Value> {
    let (s, v) = app
        .get(token, &format!("/api/v1/cases?{query}&limit=100"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["next_cursor"].is_null(), "more than one page: {v}");
    v["items"].as_array().unwrap().clone()
}

// The list page shows one tab's list and every tab's exact count (read from the indexes,
// not from the listed rows): the counts agree with the API's lists, the team tab holds the
// team's open cases only (its empty text says so), and a list longer than the page links
// to the rest.
both!(tabs_count_every_case_and_show_one_list, |app| {
    app.seed_demo().await;
    // An expert: mine, pool and due soon against the API's inbox.
    let inbox = api_list(app, ROUX, "view=inbox").await;
    let roux = app.me(ROUX).await;
    let mine = inbox
        .iter()
        .filter(|c| c["assigned_expert_id"] == roux.as_str())
        .count() as i64;
    let pool = inbox
        .iter()
        .filter(|c| c["assigned_expert_id"].is_null())
        .count() as i64;
    assert!(
        mine > 0 && pool > 0,
        "the demo gives Dr Roux both: {inbox:?}"
    );
    let mut b = signed_in_2fa(app, "roux").await;
    let page = b.get("/cases?view=mine").await;
    assert_eq!(page.status, StatusCode::OK);
    let counts = tab_counts(&page.body);
    assert_eq!(counts.get("mine"), Some(&mine), "{}", page.body);
    assert_eq!(counts.get("pool"), Some(&pool), "{}", page.body);
    assert!(counts.get("due").is_some_and(|d| *d <= mine + pool));
    assert!(!counts.contains_key("team"), "not an assigner");
    assert!(
        page.body.contains(&format!("<title>({})", mine + pool)),
        "{}",
        page.body
    );
    // Each tab lists its own cases and none of the others'.
    let pool_page = b.get("/cases?view=pool").await.body;
    for c in &inbox {
        let id = c["id"].as_str().unwrap();
        let mine_case = c["assigned_expert_id"] == roux.as_str();
        assert_eq!(page.body.contains(id), mine_case, "{id} on the mine tab");
        assert_eq!(pool_page.contains(id), !mine_case, "{id} on the pool tab");
    }

    // The assigner's team tab: the team's open cases, not the closed ones.
    let lefebvre = "csl_demo_lefebvre";
    let all = api_list(app, lefebvre, "view=team").await;
    let open = api_list(
        app,
        lefebvre,
        "view=team&state=submitted,assigned,in_progress,awaiting_info",
    )
    .await;
    let closed: Vec<&str> = all
        .iter()
        .filter(|c| c["state"] == "closed")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!closed.is_empty(), "the demo team has a closed case");
    let mut a = signed_in_2fa(app, "lefebvre").await;
    let team = a.get("/cases?view=team").await;
    assert_eq!(team.status, StatusCode::OK);
    assert_eq!(
        tab_counts(&team.body).get("team"),
        Some(&(open.len() as i64))
    );
    for c in &open {
        assert!(team.body.contains(c["id"].as_str().unwrap()));
    }
    for id in closed {
        assert!(!team.body.contains(id), "closed case {id} on the board tab");
    }

    // A long list: 51 drafts for a requester, 50 shown, the exact count, a link to the rest.
    let before = api_list(app, PETIT, "view=requested").await.len() as i64;
    for _ in 0..51 {
        app.draft(PETIT, serde_json::json!({})).await;
    }
    let mut p = signed_in(app, "petit").await;
    let page = p.get("/cases?view=requested").await;
    assert_eq!(
        tab_counts(&page.body).get("requested"),
        Some(&(before + 51))
    );
    assert_eq!(page.body.matches("<li class=\"case").count(), 50);
    assert!(page.body.contains("/cases?view=requested&amp;more=1"));
    let rest = p.get("/cases?view=requested&more=1").await;
    assert_eq!(
        rest.body.matches("<li class=\"case").count() as i64,
        before + 51
    );
    assert!(!rest.body.contains("more=1"));
});
