//! Sign-in through the browser pages and the session cookie: H1 (fixation, sign-out,
//! disabled user, timeouts), G1 (CSRF: 403 and nothing changed), I1 (throttling, no
//! enumeration), M1 (TOTP window with the injected clock, no replay), personal access tokens.

use crate::both;
use crate::harness::TestApp;
use consilium::demo::{demo_rpps, password_for};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

const SESSION: &str = "__Host-consilium-session";
const LOGIN_CSRF: &str = "__Host-consilium-csrf";
const PETIT: &str = "csl_demo_petit";
const MARTIN: &str = "csl_demo_martin";

/// Demo people by key, with their RPPS (index in the demo's list, from 1).
pub fn rpps(key: &str) -> String {
    let n = match key {
        "martin" => 1,
        "petit" => 2,
        "moreau" => 3,
        "lefebvre" => 4,
        "roux" => 5,
        "fontaine" => 6,
        "bernard" => 7,
        "garnier" => 8,
        other => panic!("no demo user {other}"),
    };
    demo_rpps(n)
}

/// A browser: keeps cookies by hand (the `__Host-` cookies are `Secure`, and the test server
/// is plain HTTP on loopback), never follows redirects.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: HashMap<String, String>,
    /// The raw `Set-Cookie` values of the last answer.
    pub set_cookies: Vec<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// The value of a hidden input.
    pub fn field(&self, name: &str) -> String {
        let pat = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&pat)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + pat.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
        }
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie)
        };
        let resp = req.send().await.expect("request");
        self.set_cookies = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &self.set_cookies {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self.client.get(format!("{}{path}", self.app.base));
        self.send(r).await
    }

    pub async fn form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.app.base))
            .form(fields);
        self.send(r).await
    }

    /// A JSON API call with the session cookie (and the CSRF header when given).
    pub async fn api(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> Page {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.client.request(m, format!("{}{path}", self.app.base));
        if let Some(t) = csrf {
            r = r.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.send(r).await
    }

    pub fn session(&self) -> Option<String> {
        self.cookies.get(SESSION).cloned()
    }

    /// Opens the sign-in page and submits it.
    pub async fn sign_in(&mut self, identifier: &str, password: &str) -> Page {
        let p = self.get("/auth/login").await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        let csrf = p.field("csrf");
        self.form(
            "/auth/login",
            &[
                ("identifier", identifier),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// The session's CSRF token, read from the sessions page.
    pub async fn csrf(&mut self) -> String {
        let p = self.get("/auth/sessions").await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        p.field("csrf")
    }
}

pub async fn signed_in<'a>(app: &'a TestApp, key: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps(key), &password_for(key)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/cases");
    b
}

async fn open_sessions(app: &TestApp, professional: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM sessions WHERE professional_id = '{professional}' AND ended_at IS NULL"
    ))
    .await
}

both!(sign_in_sign_out_and_fixation, |app| {
    app.seed_demo().await;
    let petit = app.me(PETIT).await;
    let mut b = Browser::new(app);
    let page = b.get("/auth/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(!page.body.contains("<script"));
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers.contains_key("referrer-policy"));
    assert!(page.body.contains("Se connecter"), "French by default");
    assert!(
        b.cookies.contains_key(LOGIN_CSRF),
        "the form's double-submit cookie"
    );

    // An attacker plants a session identifier of their choosing before sign-in.
    let planted = "css_planted_by_an_attacker_0123456789abcdefghijklmnop";
    b.cookies.insert(SESSION.into(), planted.into());
    let csrf = page.field("csrf");
    let p = b
        .form(
            "/auth/login",
            &[
                ("identifier", &rpps("petit")),
                ("password", &password_for("petit")),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/cases", "a nurse needs no second factor");
    let set = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with(SESSION))
        .expect("a session cookie");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Domain"), "__Host- cookies carry no Domain");
    let first = b.session().unwrap();
    assert_ne!(first, planted, "the server chose a new identifier");
    assert!(first.starts_with("css_") && first.len() > 40);
    let (s, v) = app.call("GET", None, "/api/v1/me", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let me = b.api("GET", "/api/v1/me", None, None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["professional"]["id"], petit.as_str());
    assert_eq!(app.audit_count("auth.login", "success").await, 1);

    // A signed-in browser is sent on from the sign-in page...
    let p = b.get("/auth/login").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    // ...and signing in again from it replaces the session: the old one is ended.
    b.cookies.remove(SESSION);
    let csrf = b.get("/auth/login").await.field("csrf");
    b.cookies.insert(SESSION.into(), first.clone());
    let p = b
        .form(
            "/auth/login",
            &[
                ("identifier", &rpps("petit")),
                ("password", &password_for("petit")),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let second = b.session().unwrap();
    assert_ne!(first, second);
    let mut old = Browser::new(app);
    old.cookies.insert(SESSION.into(), first.clone());
    assert_eq!(
        old.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(open_sessions(app, &petit).await, 1);

    // The sessions page lists the session; the JSON API too.
    let page = b.get("/auth/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("cette session"));
    let list = b.api("GET", "/api/v1/me/sessions", None, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["current"], true);

    // Sign-out ends the server session: the cookie is useless afterwards, even if kept.
    let csrf = page.field("csrf");
    let out = b.form("/auth/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        b.set_cookies
            .iter()
            .any(|c| c.starts_with(SESSION) && c.contains("Max-Age=0"))
    );
    let mut kept = Browser::new(app);
    kept.cookies.insert(SESSION.into(), second);
    assert_eq!(
        kept.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(open_sessions(app, &petit).await, 0);
    let ended = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'session.end' AND details LIKE '%logout%'")
        .await;
    assert_eq!(ended, 1);
});

both!(idle_and_absolute_timeouts, |app| {
    app.seed_demo().await;
    let mut b = signed_in(app, "petit").await;
    // Activity keeps the session alive past the idle limit (30 minutes by default)...
    for _ in 0..3 {
        app.clock.advance_seconds(25 * 60);
        assert_eq!(
            b.api("GET", "/api/v1/me", None, None).await.status,
            StatusCode::OK
        );
    }
    // ...inactivity ends it.
    app.clock.advance_seconds(31 * 60);
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let idle = app
        .scalar("SELECT COUNT(*) FROM sessions WHERE end_reason = 'idle_timeout'")
        .await;
    assert_eq!(idle, 1);

    // However active, a session ends 12 hours after sign-in.
    let mut b = signed_in(app, "petit").await;
    let mut minutes = 0;
    loop {
        app.clock.advance_seconds(20 * 60);
        minutes += 20;
        let s = b.api("GET", "/api/v1/me", None, None).await.status;
        if s != StatusCode::OK {
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            break;
        }
        assert!(minutes < 12 * 60, "still valid after {minutes} minutes");
    }
    assert_eq!(minutes, 12 * 60);
    let absolute = app
        .scalar("SELECT COUNT(*) FROM sessions WHERE end_reason = 'absolute_timeout'")
        .await;
    assert_eq!(absolute, 1);
    assert_eq!(app.audit_count("session.end", "success").await, 2);
});

both!(disabling_a_user_ends_sessions_and_tokens_at_once, |app| {
    app.seed_demo().await;
    let petit = app.me(PETIT).await;
    let mut b = signed_in(app, "petit").await;
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::OK
    );
    // Martin administers Petit's MSP.
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{petit}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(PETIT, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(open_sessions(app, &petit).await, 0);
    let why = app
        .scalar("SELECT COUNT(*) FROM sessions WHERE end_reason = 'disabled'")
        .await;
    assert_eq!(why, 1);
    // Re-enabling does not bring the session back; a disabled user cannot sign in.
    let (s, _) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{petit}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.post(
        MARTIN,
        &format!("/api/v1/directory/professionals/{petit}/disable"),
        json!({}),
    )
    .await;
    let p = Browser::new(app)
        .sign_in(&rpps("petit"), &password_for("petit"))
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
});

/// What a refused request must leave unchanged: every business table.
async fn business_state(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM cases",
        "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM cases",
        "SELECT COUNT(*) FROM patients",
        "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM patients",
        "SELECT COUNT(*) FROM case_events",
        "SELECT COUNT(*) FROM case_messages",
        "SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL",
        "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL",
        "SELECT COUNT(*) FROM professionals WHERE active = TRUE",
        "SELECT COUNT(*) FROM memberships",
        "SELECT COUNT(*) FROM teams",
        "SELECT COUNT(*) FROM team_members",
    ] {
        out.push(app.scalar(sql).await);
    }
    out
}

both!(csrf_every_state_changing_operation, |app| {
    app.seed_demo().await;
    let team = app.team_id(PETIT).await;
    let case = app.draft(PETIT, json!({"team_id": team})).await;
    let case_id = case["id"].as_str().unwrap().to_string();
    let patient_id = case["patient"]["id"].as_str().unwrap().to_string();
    let mut b = signed_in(app, "petit").await;
    let csrf = b.csrf().await;
    let sessions = b.api("GET", "/api/v1/me/sessions", None, None).await.json();
    let session_id = sessions[0]["id"].as_str().unwrap().to_string();

    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let id = if path.contains("/cases/") {
                    &case_id
                } else if path.contains("/patients/") {
                    &patient_id
                } else if path.contains("/sessions/") {
                    &session_id
                } else {
                    &case_id
                };
                ops.push((method.to_uppercase(), path.replace("{id}", id)));
            }
        }
    }
    assert!(ops.len() >= 20, "{ops:?}");
    let before = business_state(app).await;
    let body = json!({"text": "x", "reason": "r", "question": "q", "label": "l", "scope": "write", "days": 3});
    for (method, path) in &ops {
        // No token.
        let p = b.api(method, path, Some(body.clone()), None).await;
        assert_eq!(
            p.status,
            StatusCode::FORBIDDEN,
            "{method} {path} without a CSRF token: {}",
            p.body
        );
        // A wrong token.
        let p = b
            .api(method, path, Some(body.clone()), Some("forged"))
            .await;
        assert_eq!(
            p.status,
            StatusCode::FORBIDDEN,
            "{method} {path} with a wrong token"
        );
        // The right token, from another site.
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = b
            .client
            .request(m.clone(), format!("{}{path}", app.base))
            .header("x-csrf-token", &csrf)
            .header("origin", "https://evil.example")
            .json(&body);
        let p = b.send(r).await;
        assert_eq!(
            p.status,
            StatusCode::FORBIDDEN,
            "{method} {path} from another origin"
        );
        let r = b
            .client
            .request(m, format!("{}{path}", app.base))
            .header("x-csrf-token", &csrf)
            .header("sec-fetch-site", "cross-site")
            .json(&body);
        let p = b.send(r).await;
        assert_eq!(
            p.status,
            StatusCode::FORBIDDEN,
            "{method} {path} cross-site"
        );
    }
    // The forms: sign-out and revoke without their token change nothing.
    let p = b.form("/auth/logout", &[("csrf", "forged")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b
        .form(&format!("/auth/sessions/{session_id}/revoke"), &[])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A sign-in form posted without its cookie (login CSRF) opens no session.
    let mut other = Browser::new(app);
    let p = other
        .form(
            "/auth/login",
            &[
                ("identifier", &rpps("moreau")),
                ("password", &password_for("moreau")),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        business_state(app).await,
        before,
        "a refused request changed the database"
    );
    assert!(app.audit_count("auth.csrf", "denied").await >= (ops.len() * 4 + 3) as i64);

    // Control: the same session with its token, from our own origin, may act.
    let host = app.base.clone();
    let r = b
        .client
        .post(format!("{}/api/v1/cases/{case_id}/cancel", app.base))
        .header("x-csrf-token", &csrf)
        .header("origin", host)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"reason": "réglé"}));
    let p = b.send(r).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_ne!(business_state(app).await, before);
    // Bearer calls are not subject to the cookie's CSRF token.
    let (s, v) = app.post(PETIT, "/api/v1/patients", json!({"birth_family_name": "A", "given_names": "B", "birth_date": "1990-01-01", "sex": "F"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
});

both!(throttling_without_enumeration, |app| {
    app.seed_demo().await;
    let known = rpps("petit");
    let unknown = demo_rpps(999);
    let mut answers = Vec::new();
    for ident in [&known, &unknown] {
        let mut b = Browser::new(app);
        let p = b.sign_in(ident, "wrong password here").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
        let csrf = p.field("csrf");
        answers.push(p.body.replace(&csrf, "CSRF").replace(ident.as_str(), "ID"));
    }
    assert_eq!(
        answers[0], answers[1],
        "same page for a known and an unknown account"
    );
    // Four more failures for each: the fifth blocks, the same way for both.
    for ident in [&known, &unknown] {
        let mut b = Browser::new(app);
        for i in 0..4 {
            let p = b.sign_in(ident, "wrong password here").await;
            assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        }
        let p = b.sign_in(ident, "wrong password here").await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(p.headers.contains_key("retry-after"));
    }
    // Even the right password waits; then it works (no permanent lockout).
    let mut b = Browser::new(app);
    let p = b.sign_in(&known, &password_for("petit")).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: i64 = p.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    app.clock.advance_seconds(wait);
    let p = b.sign_in(&known, &password_for("petit")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    // Every failure is in the audit chain, the unknown account's too.
    assert!(app.audit_count("auth.login", "denied").await >= 12);
});

mod per_address {
    use super::*;

    async fn body(app: &TestApp) {
        app.seed_demo().await;
        // Failures spread over many identifiers from one address: the address is blocked.
        for i in 0..8 {
            let p = Browser::new(app)
                .sign_in(&demo_rpps(500 + i), "nope nope nope")
                .await;
            assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        }
        let p = Browser::new(app)
            .sign_in(&rpps("moreau"), &password_for("moreau"))
            .await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::start_with(consilium::db::Backend::Sqlite, |c| {
            c.login_max_failures_per_address = 8
        })
        .await;
        body(&app).await;
        app.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let app = TestApp::start_with(consilium::db::Backend::Postgres, |c| {
            c.login_max_failures_per_address = 8
        })
        .await;
        body(&app).await;
        app.finish().await;
    }
}

fn totp_code(secret: &str, at_micros: i64) -> String {
    let t = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    t.generate((at_micros / 1_000_000) as u64).to_string()
}

fn now(app: &TestApp) -> i64 {
    use consilium::kernel::Clock;
    // Reading the manual clock moves it by a microsecond; that is all.
    app.clock.now().micros()
}

both!(totp_enrolment_window_and_replay, |app| {
    app.seed_demo().await;
    // Roux is a dermatologist: a second factor is required, none is enrolled yet.
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps("roux"), &password_for("roux")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/auth/enrol");
    let enrol_cookie = b.session().unwrap();
    // Not signed in yet: the API refuses the half-open session.
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = b.get("/auth/enrol").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = page
        .body
        .split("class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(page.body.contains("otpauth://totp/"));
    let csrf = page.field("csrf");
    let p = b
        .form("/auth/enrol", &[("code", "000000"), ("csrf", &csrf)])
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNAUTHORIZED,
        "a wrong code is refused"
    );
    let code = totp_code(&secret, now(app));
    let p = b
        .form("/auth/enrol", &[("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/cases");
    let full = b.session().unwrap();
    assert_ne!(
        full, enrol_cookie,
        "a new session identifier once signed in"
    );
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::OK
    );
    let mut stale = Browser::new(app);
    stale.cookies.insert(SESSION.into(), enrol_cookie);
    assert_eq!(
        stale.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Next sign-in asks for a code; the code just used is refused (same time step).
    let mut b2 = Browser::new(app);
    let p = b2.sign_in(&rpps("roux"), &password_for("roux")).await;
    assert_eq!(p.location(), "/auth/second-factor");
    let page = b2.get("/auth/second-factor").await;
    let csrf2 = page.field("csrf");
    let p = b2
        .form("/auth/second-factor", &[("code", &code), ("csrf", &csrf2)])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "replayed code");
    // The clock is 40 s later: the code of the previous step is still inside the window
    // (one step either side) but it is no later than the last accepted step: refused.
    app.clock.advance_seconds(40);
    let prev = totp_code(&secret, now(app) - 30_000_000);
    if prev != code {
        let p = b2
            .form("/auth/second-factor", &[("code", &prev), ("csrf", &csrf2)])
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    // A code from two steps ahead (clock skew beyond the window) is refused.
    let ahead = totp_code(&secret, now(app) + 65_000_000);
    let p = b2
        .form("/auth/second-factor", &[("code", &ahead), ("csrf", &csrf2)])
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "outside the window");
    // One step ahead (a phone 30 s fast) is inside the window.
    let next = totp_code(&secret, now(app) + 30_000_000);
    let p = b2
        .form("/auth/second-factor", &[("code", &next), ("csrf", &csrf2)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location(), "/cases");
    // That step is now used: the current step's code, earlier than it, is refused next time.
    let mut b3 = Browser::new(app);
    b3.sign_in(&rpps("roux"), &password_for("roux")).await;
    let csrf3 = b3.get("/auth/second-factor").await.field("csrf");
    let current = totp_code(&secret, now(app));
    let p = b3
        .form(
            "/auth/second-factor",
            &[("code", &current), ("csrf", &csrf3)],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    // Wrong codes are throttled like passwords: after five failures (the success above
    // cleared the count), the sixth attempt waits.
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        last = b3
            .form(
                "/auth/second-factor",
                &[("code", "123456"), ("csrf", &csrf3)],
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.audit_count("auth.totp_enrol", "success").await, 1);
    assert_eq!(app.audit_count("auth.second_factor", "success").await, 2);
    assert!(app.audit_count("auth.second_factor", "denied").await >= 5);
});

/// Roux enrols a TOTP through the pages; returns the secret shown to him.
async fn enrol_totp(app: &TestApp, key: &str) -> String {
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps(key), &password_for(key)).await;
    assert_eq!(p.location(), "/auth/enrol");
    let page = b.get("/auth/enrol").await;
    let secret = page
        .body
        .split("class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let csrf = page.field("csrf");
    let code = totp_code(&secret, now(app));
    let p = b
        .form("/auth/enrol", &[("code", &code), ("csrf", &csrf)])
        .await;
    assert_eq!(p.location(), "/cases", "{}", p.body);
    secret
}

/// Signs in with the password and the current code (after moving the clock to a fresh step).
async fn code_sign_in(app: &TestApp, key: &str, secret: &str) -> StatusCode {
    app.clock.advance_seconds(30);
    let mut b = Browser::new(app);
    let p = b.sign_in(&rpps(key), &password_for(key)).await;
    assert_eq!(p.location(), "/auth/second-factor");
    let csrf = b.get("/auth/second-factor").await.field("csrf");
    let code = totp_code(secret, now(app));
    b.form("/auth/second-factor", &[("code", &code), ("csrf", &csrf)])
        .await
        .status
}

both!(totp_secrets_are_sealed_at_rest, |app| {
    app.seed_demo().await;
    let secret = enrol_totp(app, "roux").await;
    let clear =
        |s: &str| format!("SELECT COUNT(*) FROM totp_credentials WHERE secret LIKE '%{s}%'");
    assert_eq!(
        app.scalar(&clear(&secret)).await,
        0,
        "the secret is not in the database"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM totp_credentials WHERE secret LIKE 'kek1:%'")
            .await,
        1
    );
    assert_eq!(
        code_sign_in(app, "roux", &secret).await,
        StatusCode::SEE_OTHER
    );
    // A sealed secret copied to another account does not open there (bound to its owner).
    let fontaine = app.me("csl_demo_fontaine").await;
    let roux = app.me("csl_demo_roux").await;
    app.exec(&format!(
        "INSERT INTO totp_credentials (professional_id, secret, confirmed_at, created_at)
         SELECT '{fontaine}', secret, confirmed_at, created_at FROM totp_credentials
         WHERE professional_id = '{roux}'"
    ))
    .await
    .unwrap();
    app.clock.advance_seconds(30);
    let mut b = Browser::new(app);
    b.sign_in(&rpps("fontaine"), &password_for("fontaine"))
        .await;
    let csrf = b.get("/auth/second-factor").await.field("csrf");
    let code = totp_code(&secret, now(app));
    let p = b
        .form("/auth/second-factor", &[("code", &code), ("csrf", &csrf)])
        .await;
    assert_ne!(
        p.status,
        StatusCode::SEE_OTHER,
        "a moved secret opens nowhere else"
    );
    app.exec(&format!(
        "DELETE FROM totp_credentials WHERE professional_id = '{fontaine}'"
    ))
    .await
    .unwrap();

    // A secret stored in clear by an older version still works, and is sealed by the
    // next key rotation, with the secrets of the older key.
    let legacy = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    app.exec(&format!(
        "INSERT INTO totp_credentials (professional_id, secret, confirmed_at, created_at)
         VALUES ('{fontaine}', '{legacy}', 1, 1)"
    ))
    .await
    .unwrap();
    assert_eq!(
        code_sign_in(app, "fontaine", legacy).await,
        StatusCode::SEE_OTHER
    );
    let r = app
        .platform
        .rotate_keys(&TestApp::system(), true, true)
        .await
        .unwrap();
    assert_eq!(
        r.totp_resealed, 2,
        "the clear one and the one of the old key"
    );
    assert_eq!(app.scalar(&clear(legacy)).await, 0);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM totp_credentials WHERE secret LIKE 'kek1:{}:%'",
            r.current_key
        ))
        .await,
        2
    );
    assert!(
        !r.retired.is_empty(),
        "the old key is used by nothing any more"
    );
    // Both still sign in, with the new key.
    assert_eq!(
        code_sign_in(app, "roux", &secret).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        code_sign_in(app, "fontaine", legacy).await,
        StatusCode::SEE_OTHER
    );
    let again = app
        .platform
        .reseal_totp_secrets(&TestApp::system())
        .await
        .unwrap();
    assert_eq!(again, 0, "nothing left to seal");
});

both!(personal_access_tokens, |app| {
    app.seed_demo().await;
    let (s, t) = app
        .post(
            PETIT,
            "/api/v1/me/tokens",
            json!({"label": "logiciel de cabinet", "scope": "read", "days": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(app.get(&token, "/api/v1/cases").await.0, StatusCode::OK);
    // Read-only: it may not write.
    let (s, _) = app.post(&token, "/api/v1/patients", json!({"birth_family_name": "A", "given_names": "B", "birth_date": "1990-01-01", "sex": "F"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, list) = app.get(PETIT, "/api/v1/me/tokens").await;
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert_eq!(mine["scope"], "read");
    assert!(mine.get("token").is_none(), "tokens are shown once");
    // Someone else cannot revoke it (404, audited); its owner can.
    let (s, _) = app
        .call(
            "DELETE",
            Some("csl_demo_moreau"),
            &format!("/api/v1/me/tokens/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_count("token.revoke", "denied").await, 1);
    let (s, _) = app
        .call(
            "DELETE",
            Some(PETIT),
            &format!("/api/v1/me/tokens/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&token, "/api/v1/cases").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Expiry.
    let (_, t) = app
        .post(
            PETIT,
            "/api/v1/me/tokens",
            json!({"label": "court", "scope": "write", "days": 1}),
        )
        .await;
    let short = t["token"].as_str().unwrap().to_string();
    assert_eq!(app.get(&short, "/api/v1/me").await.0, StatusCode::OK);
    app.clock.advance_days(2);
    assert_eq!(
        app.get(&short, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = app
        .post(
            PETIT,
            "/api/v1/me/tokens",
            json!({"label": "", "scope": "admin", "days": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
});

both!(password_change_can_end_other_sessions, |app| {
    app.seed_demo().await;
    let petit = app.me(PETIT).await;
    let mut a = signed_in(app, "petit").await;
    let mut other = signed_in(app, "petit").await;
    let csrf = a.get("/auth/password").await.field("csrf");
    let new = "un tout nouveau mot de passe";
    // Wrong current password: refused, nothing changes.
    let p = a
        .form(
            "/auth/password",
            &[
                ("current", "pas le bon du tout"),
                ("new", new),
                ("confirm", new),
                ("end_others", "1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert_eq!(open_sessions(app, &petit).await, 2);
    // Too short.
    let p = a
        .form(
            "/auth/password",
            &[
                ("current", &password_for("petit")),
                ("new", "court"),
                ("confirm", "court"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = a
        .form(
            "/auth/password",
            &[
                ("current", &password_for("petit")),
                ("new", new),
                ("confirm", new),
                ("end_others", "1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        a.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        other.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(open_sessions(app, &petit).await, 1);
    assert_eq!(
        Browser::new(app)
            .sign_in(&rpps("petit"), &password_for("petit"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Browser::new(app).sign_in(&rpps("petit"), new).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.audit_count("password.change", "success").await, 1);
    assert_eq!(app.audit_count("password.change", "denied").await, 1);
});

/// The link in a delivered message, as a path on the test server.
fn link_in(body: &str, path: &str) -> String {
    let start = body
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {body}"));
    let link: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    // Quoted-printable soft breaks, if any.
    link.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

async fn invitation_and_reset(backend: consilium::db::Backend) {
    let smtp = crate::smtp::SmtpSink::start().await;
    let app = TestApp::start_with(backend, |c| {
        smtp.configure(c);
        c.public_url = Some("http://consilium.test".into());
    })
    .await;
    invitation_and_reset_on(&app, &smtp).await;
    app.finish().await;
}

/// The messages delivered to `addr` carrying a link to `path` (the demo's own notification
/// mails are left out), waiting (a few seconds at most) for at least `n`.
async fn mail_to(
    smtp: &crate::smtp::SmtpSink,
    addr: &str,
    path: &str,
    n: usize,
) -> Vec<crate::smtp::Delivered> {
    let mine = || -> Vec<crate::smtp::Delivered> {
        smtp.messages()
            .into_iter()
            .filter(|m| m.to(addr) && m.body().contains(path))
            .collect()
    };
    for _ in 0..100 {
        let got = mine();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    mine()
}

async fn invitation_and_reset_on(app: &TestApp, smtp: &crate::smtp::SmtpSink) {
    app.seed_demo().await;
    // Martin (MSP administrator) adds a nurse, then invites her.
    let msp = app
        .platform
        .list_organisations()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.contains("Tilleuls"))
        .unwrap()
        .id;
    let new_rpps = demo_rpps(321);
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            serde_json::json!({"professional": {"rpps": new_rpps, "first_name": "Inès", "last_name": "Nouvelle", "profession": "60", "email": "ines.nouvelle@example.org"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ines = v["id"].as_str().unwrap().to_string();
    // Only an administrator of her organisation may invite her.
    let (s, _) = app
        .post(
            "csl_demo_lefebvre",
            &format!("/api/v1/directory/professionals/{ines}/invite"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{ines}/invite"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(
        smtp.messages().is_empty(),
        "mail goes out from a job, after the commit"
    );
    app.run_jobs().await;
    let got = mail_to(smtp, "ines.nouvelle@example.org", "/auth/invitation", 1).await;
    assert_eq!(got.len(), 1);
    let body = got[0].body();
    assert!(
        body.contains("http://consilium.test/auth/invitation?token="),
        "{body}"
    );
    let link = link_in(&body, "/auth/invitation");

    let mut b = Browser::new(app);
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    let token = page.field("token");
    let new_password = "mon mot de passe d'infirmière";
    let p = b
        .form(
            "/auth/invitation",
            &[
                ("token", &token),
                ("new", new_password),
                ("confirm", new_password),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        p.location(),
        "/cases",
        "a nurse of an MSP needs no second factor"
    );
    assert_eq!(
        b.api("GET", "/api/v1/me", None, None).await.json()["professional"]["id"],
        ines.as_str()
    );
    // Single use.
    let mut again = Browser::new(app);
    let page = again.get(&link).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("déjà servi"));
    // She can sign in with the password she chose.
    assert_eq!(
        Browser::new(app)
            .sign_in(&new_rpps, new_password)
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // Reset: the same answer for an unknown identifier, and no mail for it.
    let mut f = Browser::new(app);
    let page = f.get("/auth/forgot").await;
    let csrf = page.field("csrf");
    let unknown = f
        .form(
            "/auth/forgot",
            &[("identifier", &demo_rpps(998)), ("csrf", &csrf)],
        )
        .await;
    let csrf = unknown.field("csrf");
    let known = f
        .form(
            "/auth/forgot",
            &[
                ("identifier", "petit@demo.consilium.invalid"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(unknown.status, known.status);
    assert_eq!(
        unknown.body.replace(&unknown.field("csrf"), "X"),
        known.body.replace(&known.field("csrf"), "X")
    );
    app.run_jobs().await;
    let got = mail_to(smtp, "petit@demo.consilium.invalid", "/auth/reset", 1).await;
    assert_eq!(got.len(), 1);
    let mailed = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.reset_request' AND details LIKE '%\"mailed\":false%'")
        .await;
    assert_eq!(mailed, 1, "no mail for the unknown identifier");
    let link = link_in(&got[0].body(), "/auth/reset");
    // Petit was signed in elsewhere: the reset ends that session.
    let mut elsewhere = signed_in(app, "petit").await;
    let mut r = Browser::new(app);
    let page = r.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    let (csrf, token) = (page.field("csrf"), page.field("token"));
    let p = r
        .form(
            "/auth/reset",
            &[
                ("token", &token),
                ("new", "court"),
                ("confirm", "court"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "too short");
    let csrf = p.field("csrf");
    let fresh = "un nouveau mot de passe bien long";
    let p = r
        .form(
            "/auth/reset",
            &[
                ("token", &token),
                ("new", fresh),
                ("confirm", fresh),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        elsewhere.api("GET", "/api/v1/me", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Browser::new(app)
            .sign_in(&rpps("petit"), &password_for("petit"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Browser::new(app)
            .sign_in(&rpps("petit"), fresh)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // An expired link: a second request, then the clock moves past its hour.
    let page = f.get("/auth/forgot").await;
    let csrf = page.field("csrf");
    f.form(
        "/auth/forgot",
        &[("identifier", &rpps("moreau")), ("csrf", &csrf)],
    )
    .await;
    app.run_jobs().await;
    let got = mail_to(smtp, "moreau@demo.consilium.invalid", "/auth/reset", 1).await;
    let link = link_in(&got[0].body(), "/auth/reset");
    app.clock.advance_seconds(3601);
    assert_eq!(Browser::new(app).get(&link).await.status, StatusCode::GONE);
    assert_eq!(app.audit_count("auth.invitation", "success").await, 1);
    assert_eq!(app.audit_count("auth.reset", "success").await, 1);
    assert_eq!(app.audit_count("auth.reset_request", "success").await, 3);
}

mod links {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invitation_and_reset_sqlite() {
        super::invitation_and_reset(consilium::db::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invitation_and_reset_postgres() {
        super::invitation_and_reset(consilium::db::Backend::Postgres).await;
    }
}
