//! Passkeys (WebAuthn) as a second factor, through the sign-in pages' JSON endpoints, with
//! a software authenticator from the WebAuthn project itself (`SoftPasskey`, a CTAP2
//! implementation that signs with real keys): enrolment at the enrolment stage, sign-in at
//! the second-factor stage, adding and deleting passkeys, and the attacks: no ceremony,
//! replayed answers, a tampered signature, another origin, another account's credential,
//! the wrong stage, a missing CSRF token, throttling.

use crate::both;
use crate::harness::TestApp;
use crate::signin::{Browser, rpps};
use consilium::demo::password_for;
use reqwest::StatusCode;
use serde_json::Value;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// The origin a browser on this machine would be at: the test server listens on loopback
/// without `public_url`, so its relying party is `localhost` on its port.
fn origin(app: &TestApp) -> Url {
    let port = app.base.rsplit(':').next().unwrap();
    Url::parse(&format!("http://localhost:{port}")).unwrap()
}

/// A software authenticator that performs user verification (as passkeys require).
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn csrf_of(b: &mut Browser<'_>, page: &str) -> String {
    let p = b.get(page).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    p.field("csrf")
}

/// The `data-csrf` of the passkey section of a page.
fn data_csrf(body: &str) -> String {
    body.split("data-csrf=\"")
        .nth(1)
        .expect("a passkey section")
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// Starts a registration and lets `auth` answer it for `origin`.
async fn registration(
    b: &mut Browser<'_>,
    csrf: &str,
    auth: &mut SoftPasskey,
    origin: Url,
) -> Value {
    let p = b
        .api("POST", "/auth/passkey/register/start", None, Some(csrf))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let options: CreationChallengeResponse = serde_json::from_str(&p.body).unwrap();
    let cred = auth
        .do_registration(origin, options)
        .expect("authenticator registers");
    serde_json::to_value(cred).unwrap()
}

async fn finish_registration(
    b: &mut Browser<'_>,
    csrf: &str,
    label: &str,
    credential: Value,
) -> crate::signin::Page {
    b.api(
        "POST",
        "/auth/passkey/register/finish",
        Some(serde_json::json!({"label": label, "credential": credential})),
        Some(csrf),
    )
    .await
}

/// Starts a passkey sign-in; the options as the server sent them.
async fn login_options(b: &mut Browser<'_>, csrf: &str) -> Value {
    let p = b
        .api("POST", "/auth/passkey/login/start", None, Some(csrf))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    p.json()
}

fn assertion(auth: &mut SoftPasskey, origin: Url, options: Value) -> Value {
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let cred = auth
        .do_authentication(origin, options)
        .expect("authenticator signs");
    serde_json::to_value(cred).unwrap()
}

async fn finish_login(b: &mut Browser<'_>, csrf: &str, credential: Value) -> crate::signin::Page {
    b.api(
        "POST",
        "/auth/passkey/login/finish",
        Some(serde_json::json!({"credential": credential})),
        Some(csrf),
    )
    .await
}

/// Signs `key` in with their password; the browser is at the stage the server chose.
async fn password_step<'a>(app: &'a TestApp, key: &str, expect: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps(key), &password_for(key)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), expect);
    b
}

/// Enrols a passkey for `key` (who has no second factor yet) at the enrolment stage; the
/// browser ends signed in.
async fn enrol<'a>(app: &'a TestApp, key: &str, auth: &mut SoftPasskey) -> Browser<'a> {
    let mut b = password_step(app, key, "/auth/enrol").await;
    let page = b.get("/auth/enrol").await;
    let csrf = data_csrf(&page.body);
    let cred = registration(&mut b, &csrf, auth, origin(app)).await;
    let p = finish_registration(&mut b, &csrf, "Téléphone", cred).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["next"], "/cases");
    b
}

fn flip_signature(mut cred: Value) -> Value {
    let sig = cred["response"]["signature"].as_str().unwrap().to_string();
    let mut chars: Vec<char> = sig.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    cred["response"]["signature"] = Value::String(chars.into_iter().collect());
    cred
}

both!(passkey_enrolment_then_second_factor, |app| {
    app.seed_demo().await;
    // Roux is a dermatologist: a second factor is required and none is enrolled.
    let mut b = password_step(app, "roux", "/auth/enrol").await;
    let enrol_cookie = b.session().unwrap();
    let page = b.get("/auth/enrol").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-passkey=\"register\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-rp-id=\"localhost\""));
    assert!(page.body.contains("otpauth://totp/"), "TOTP stays offered");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let csrf = data_csrf(&page.body);

    // No CSRF header, a wrong one: 403, audited, nothing started.
    let p = b
        .api("POST", "/auth/passkey/register/start", None, None)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .api("POST", "/auth/passkey/register/start", None, Some("nope"))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_ceremonies").await,
        0
    );
    // Finishing what was never started.
    let mut auth = authenticator();
    let p = finish_registration(
        &mut b,
        &csrf,
        "x",
        serde_json::json!({"id": "AA", "rawId": "AA", "type": "public-key",
            "response": {"attestationObject": "AA", "clientDataJSON": "AA"}}),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    // An answer made for another origin (same host, another port): refused.
    let mut wrong = origin(app);
    wrong.set_port(Some(1)).unwrap();
    let cred = registration(&mut b, &csrf, &mut auth, wrong).await;
    let p = finish_registration(&mut b, &csrf, "x", cred).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    // A label too long: refused before anything is used up.
    let cred = registration(&mut b, &csrf, &mut auth, origin(app)).await;
    let p = finish_registration(&mut b, &csrf, &"x".repeat(61), cred.clone()).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_credentials")
            .await,
        0
    );
    // The real thing completes the sign-in under a new session identifier.
    let p = finish_registration(&mut b, &csrf, "Téléphone", cred.clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["next"], "/cases");
    let full = b.session().unwrap();
    assert_ne!(
        full, enrol_cookie,
        "a new session identifier once signed in"
    );
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::OK
    );
    let method = app
        .scalar(
            "SELECT COUNT(*) FROM sessions WHERE method = 'password+passkey' AND ended_at IS NULL",
        )
        .await;
    assert_eq!(method, 1);
    // The same answer again: its ceremony is gone.
    let p = finish_registration(&mut b, &csrf, "again", cred).await;
    assert_eq!(
        p.status,
        StatusCode::FORBIDDEN,
        "the old CSRF token went with the old session"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_credentials")
            .await,
        1
    );
    assert_eq!(app.audit_count("auth.passkey_enrol", "success").await, 1);
    assert!(app.audit_count("auth.passkey_enrol", "denied").await >= 2);

    // Next sign-in: the password leads to the second factor, which is the passkey alone
    // (no code form: Roux has no TOTP application).
    let mut b = password_step(app, "roux", "/auth/second-factor").await;
    let page = b.get("/auth/second-factor").await;
    assert!(
        page.body.contains("data-passkey=\"login\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name=\"code\""));
    let csrf = data_csrf(&page.body);
    // Not signed in yet; adding a passkey half-way is refused.
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let p = b
        .api("POST", "/auth/passkey/register/start", None, Some(&csrf))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // An answer without a ceremony, then a tampered signature: refused.
    let p = finish_login(&mut b, &csrf, serde_json::json!({"id": "x"})).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let options = login_options(&mut b, &csrf).await;
    let good = assertion(&mut auth, origin(app), options);
    let p = finish_login(&mut b, &csrf, flip_signature(good.clone())).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
    let p = finish_login(&mut b, &csrf, good.clone()).await;
    assert_eq!(
        p.status,
        StatusCode::UNAUTHORIZED,
        "the ceremony was used up by the failed attempt"
    );
    // A fresh ceremony: the old assertion answers another challenge.
    let _ = login_options(&mut b, &csrf).await;
    let p = finish_login(&mut b, &csrf, good).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    // The right answer.
    let options = login_options(&mut b, &csrf).await;
    let cred = assertion(&mut auth, origin(app), options);
    let p = finish_login(&mut b, &csrf, cred.clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["next"], "/cases");
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::OK
    );
    // Signed in: no second factor is expected any more.
    let csrf = b.csrf().await;
    let p = b
        .api("POST", "/auth/passkey/login/start", None, Some(&csrf))
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    let used = app
        .scalar("SELECT COUNT(*) FROM webauthn_credentials WHERE last_used_at IS NOT NULL")
        .await;
    assert_eq!(used, 1);
    assert_eq!(app.audit_count("auth.second_factor", "success").await, 2);
    assert!(app.audit_count("auth.second_factor", "denied").await >= 4);
});

both!(another_accounts_passkey_is_refused, |app| {
    app.seed_demo().await;
    let mut roux_key = authenticator();
    let mut lefebvre_key = authenticator();
    drop(enrol(app, "roux", &mut roux_key).await);
    drop(enrol(app, "lefebvre", &mut lefebvre_key).await);
    let lefebvre_cred_id = app
        .scalar("SELECT COUNT(*) FROM webauthn_credentials")
        .await;
    assert_eq!(lefebvre_cred_id, 2);

    // Lefebvre's authenticator signs Roux's challenge with Lefebvre's credential (the
    // options are rewritten to name it, as a hostile client would): refused.
    let mut b = password_step(app, "roux", "/auth/second-factor").await;
    let csrf = data_csrf(&b.get("/auth/second-factor").await.body);
    let mut options = login_options(&mut b, &csrf).await;
    let theirs: String = {
        let mut lb = password_step(app, "lefebvre", "/auth/second-factor").await;
        let lcsrf = data_csrf(&lb.get("/auth/second-factor").await.body);
        let lo = login_options(&mut lb, &lcsrf).await;
        lo["publicKey"]["allowCredentials"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    options["publicKey"]["allowCredentials"][0]["id"] = Value::String(theirs);
    let forged = assertion(&mut lefebvre_key, origin(app), options);
    let p = finish_login(&mut b, &csrf, forged).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "{}", p.body);
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Throttling: failures count with the codes' budget; then even a good answer waits.
    for _ in 0..4 {
        // (one failure already: the forged assertion)
        let _ = login_options(&mut b, &csrf).await;
        let p = finish_login(&mut b, &csrf, serde_json::json!({"id": "x"})).await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    let options = login_options(&mut b, &csrf).await;
    let good = assertion(&mut roux_key, origin(app), options);
    let p = finish_login(&mut b, &csrf, good).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "{}", p.body);
    assert!(p.headers.contains_key("retry-after"));
    app.advance(16 * 60).await;
    let mut b = password_step(app, "roux", "/auth/second-factor").await;
    let csrf = data_csrf(&b.get("/auth/second-factor").await.body);
    let options = login_options(&mut b, &csrf).await;
    let good = assertion(&mut roux_key, origin(app), options);
    let p = finish_login(&mut b, &csrf, good).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
});

both!(adding_and_deleting_passkeys, |app| {
    app.seed_demo().await;
    let mut first = authenticator();
    let mut b = enrol(app, "roux", &mut first).await;
    let page = b.get("/auth/passkeys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Téléphone"));
    let csrf = page.field("csrf");
    let first_id: String = page
        .body
        .split("/auth/passkeys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // The only second factor of a doctor: kept.
    let p = b
        .form(
            &format!("/auth/passkeys/{first_id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_credentials")
            .await,
        1
    );
    // A second one is added from the signed-in session, which stays as it is.
    let session = b.session().unwrap();
    let mut second = authenticator();
    let cred = registration(&mut b, &csrf, &mut second, origin(app)).await;
    let p = finish_registration(&mut b, &csrf, "Clé USB", cred).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.json()["next"], "/auth/passkeys");
    assert_eq!(b.session().unwrap(), session);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_credentials")
            .await,
        2
    );
    // Someone else cannot delete it (not found, audited).
    let mut other = crate::signin::signed_in(app, "petit").await;
    let ocsrf = csrf_of(&mut other, "/auth/sessions").await;
    let p = other
        .form(
            &format!("/auth/passkeys/{first_id}/delete"),
            &[("csrf", &ocsrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_count("auth.passkey_delete", "denied").await, 1);
    // Without the form token: 403, nothing deleted.
    let p = b
        .form(
            &format!("/auth/passkeys/{first_id}/delete"),
            &[("csrf", "x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Now the first can go.
    let p = b
        .form(
            &format!("/auth/passkeys/{first_id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webauthn_credentials")
            .await,
        1
    );
    assert_eq!(app.audit_count("auth.passkey_delete", "success").await, 1);
    // Only the remaining passkey is asked for, and it signs in.
    let mut b = password_step(app, "roux", "/auth/second-factor").await;
    let csrf = data_csrf(&b.get("/auth/second-factor").await.body);
    let options = login_options(&mut b, &csrf).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let good = assertion(&mut second, origin(app), options);
    let p = finish_login(&mut b, &csrf, good).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
});
