//! Sign-in with Pro Santé Connect against a real OpenID provider: `oidc-provider` from the
//! npm registry (an OpenID Certified implementation), run by `tests/oidc-provider/provider.mjs`
//! on a loopback port, one process per test. The good path and the protocol attacks (state,
//! code replay, PKCE, acr) go through the real provider; the attacks a certified provider
//! never makes by itself (a tampered or unsigned ID token, algorithm confusion, wrong issuer
//! or audience, expired, replayed) are forged by the provider script's test-only hook, which
//! swaps the ID token in the next real token response: Consilium's validation sees them
//! exactly where a real one arrives.
//!
//! `npm ci` runs once in that folder when its `node_modules` is missing; without `node`
//! and `npm` the tests fail with a message saying so (they never skip silently).

use crate::both;
use crate::harness::TestApp;
use consilium::config::{Config, Secret};
use consilium::db::Db;
use consilium::directory::model::NewProfessional;
use consilium::kernel::{Actor, Clock, SystemClock};
use consilium::platform::Ctx;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

const CLIENT_ID: &str = "consilium";
const CLIENT_SECRET: &str = "consilium-test-secret-0123456789abcdef";

/// Synthetic professionals (valid Luhn keys, never real people).
const KNOWN_RPPS: &str = "10000000009";
const NEW_RPPS: &str = "10123456781";
const NEW_ADELI: &str = "879101558";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

static NPM: Mutex<()> = Mutex::new(());

/// `npm ci` once, when `node_modules` is missing (serialised across test threads, and
/// across processes with flock).
fn ensure_installed() {
    let _one = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = provider_dir();
    let ready = || dir.join("node_modules/oidc-provider/package.json").exists();
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        panic!(
            "OIDC tests need Node.js (`node` and `npm` on PATH) to run the real OpenID provider \
             (oidc-provider from the npm registry); install Debian's nodejs and npm \
             (.ci/run does) — these tests are not skipped"
        );
    }
    if ready() {
        return;
    }
    let out = Command::new("flock")
        .arg(std::env::temp_dir().join("consilium-oidc-provider-npm.lock"))
        .args([
            "sh",
            "-c",
            "[ -f node_modules/oidc-provider/package.json ] || npm ci --no-audit --no-fund --loglevel=error",
        ])
        .current_dir(&dir)
        .output()
        .expect("run npm ci (needs flock and npm)");
    assert!(
        out.status.success() && ready(),
        "npm ci in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The running provider.
pub struct Provider {
    pub issuer: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Provider {
    /// Starts the provider (it listens and prints its port; it is configured by `ready`).
    pub async fn spawn() -> Provider {
        tokio::task::spawn_blocking(|| {
            ensure_installed();
            let mut child = Command::new("node")
                .arg("provider.mjs")
                .current_dir(provider_dir())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start node");
            let stdin = child.stdin.take();
            let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            stdout.read_line(&mut line).expect("provider prints PORT");
            let port: u16 = line
                .trim()
                .strip_prefix("PORT ")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the OpenID provider did not start: {line:?}"));
            Provider {
                issuer: format!("http://127.0.0.1:{port}"),
                child,
                stdin,
                stdout,
            }
        })
        .await
        .expect("provider starts")
    }

    /// Points Consilium at this provider, asking for `required_acr`.
    pub fn configure(&self, c: &mut Config, required_acr: &str) {
        c.oidc_issuer = Some(self.issuer.clone());
        c.oidc_client_id = Some(CLIENT_ID.into());
        c.oidc_client_secret = Some(Secret(CLIENT_SECRET.into()));
        c.oidc_required_acr = required_acr.into();
    }

    /// Registers Consilium's redirect URI and the test accounts, and waits until it serves.
    pub fn ready(&mut self, app_base: &str, accounts: Value) {
        let setup = json!({
            "redirect_uri": format!("{app_base}/auth/oidc/callback"),
            "post_logout_redirect_uri": format!("{app_base}/auth/login"),
            "accounts": accounts,
        });
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{setup}").expect("configure the provider");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("READY");
        assert_eq!(line.trim(), "READY", "provider setup failed");
    }

    /// Makes the provider's next token response carry a forged ID token.
    pub async fn forge(&self, mode: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/__test/forge", self.issuer))
            .body(json!({ "mode": mode }).to_string())
            .send()
            .await
            .expect("forge");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: follows nothing by itself, keeps cookies per origin (name → value; paths and
/// flags ignored, which only ever sends more cookies than a real browser would).
pub struct Browser {
    client: reqwest::Client,
    jars: HashMap<String, HashMap<String, String>>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

fn origin(url: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jars: HashMap::new(),
        }
    }

    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let u = reqwest::Url::parse(url).ok()?;
        self.jars.get(&origin(&u))?.get(name).cloned()
    }

    pub fn take_cookie(&mut self, url: &str, name: &str) -> Option<String> {
        let u = reqwest::Url::parse(url).ok()?;
        self.jars.get_mut(&origin(&u))?.remove(name)
    }

    pub fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        let u = reqwest::Url::parse(url).expect("absolute URL");
        self.jars
            .entry(origin(&u))
            .or_default()
            .insert(name.into(), value.into());
    }

    async fn send(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let u = reqwest::Url::parse(url).expect("absolute URL");
        let jar = self.jars.entry(origin(&u)).or_default();
        let mut req = self.client.request(method, u.clone());
        if !jar.is_empty() {
            let c: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("Cookie", c.join("; "));
        }
        if let Some(f) = form {
            req = req
                .header("Origin", format!("{}://{}", u.scheme(), origin(&u)))
                .form(f);
        }
        let resp = req.send().await.expect("request");
        for v in resp.headers().get_all("set-cookie") {
            let Ok(v) = v.to_str() else { continue };
            let first = v.split(';').next().unwrap_or("");
            let Some((k, val)) = first.split_once('=') else {
                continue;
            };
            let lower = v.to_ascii_lowercase();
            if val.is_empty() || lower.contains("max-age=0") || lower.contains("1970") {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_string(), val.to_string());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| {
                u.join(l)
                    .map(|x| x.to_string())
                    .unwrap_or_else(|_| l.to_string())
            });
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            location,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.send(reqwest::Method::GET, url, None).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.send(reqwest::Method::POST, url, Some(form)).await
    }

    /// From the sign-in page, presses "Se connecter avec Pro Santé Connect": the provider's
    /// authorization URL.
    pub async fn start(&mut self, app: &TestApp) -> String {
        let page = self.get(&format!("{}/auth/login", app.base)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Se connecter avec Pro Santé Connect"),
            "the sign-in page offers the provider"
        );
        let csrf = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("form token")
            .to_string();
        let r = self
            .post(&format!("{}/auth/oidc/start", app.base), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        r.location.expect("to the provider")
    }

    /// The user at the provider: signs in as `login` at level `acr`; returns where the
    /// provider sends the browser back (Consilium's callback URL with code and state).
    pub async fn authorize(&mut self, auth_url: &str, login: &str, acr: &str) -> String {
        let mut url = auth_url.to_string();
        for _ in 0..10 {
            let r = self.get(&url).await;
            let next = r
                .location
                .unwrap_or_else(|| panic!("provider answered {} {}", r.status, r.body));
            if next.contains("/auth/oidc/callback") {
                return next;
            }
            url = if next.contains("/interaction/") {
                format!("{next}?login={login}&acr={acr}")
            } else {
                next
            };
        }
        panic!("too many redirects at the provider");
    }

    /// The whole sign-in: start, provider, callback. Returns the callback's answer.
    pub async fn sign_in(&mut self, app: &TestApp, login: &str, acr: &str) -> Page {
        let auth = self.start(app).await;
        let back = self.authorize(&auth, login, acr).await;
        self.get(&back).await
    }

    /// `GET /api/v1/me` with the session cookie.
    pub async fn me(&mut self, app: &TestApp) -> (StatusCode, Value) {
        let r = self.get(&format!("{}/api/v1/me", app.base)).await;
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }
}

fn psc_claims(idnat: &str, given: &str, family: &str, profession: &str) -> Value {
    json!({
        "IdNat_PS": idnat,
        "SubjectNameID": idnat,
        "given_name": given,
        "family_name": family,
        "SubjectRefPro": {
            "codeCivilite": "DR",
            "exercices": [{
                "codeProfession": profession,
                "codeCategorieProfessionnelle": "C",
                "nomDExercice": family,
                "prenomDExercice": given,
                "activities": []
            }]
        }
    })
}

fn accounts() -> Value {
    json!({
        "known": psc_claims(&format!("8{KNOWN_RPPS}"), "Alice", "Martin", "10"),
        "newcomer": psc_claims(&format!("8{NEW_RPPS}"), "Camille", "Durand", "10"),
        "nurse": psc_claims(&format!("0{NEW_ADELI}"), "Louis", "Petit", "60"),
        "no-idnat": { "given_name": "Nemo", "family_name": "Personne" },
    })
}

/// A provider and a server configured for it (required acr given), with the known
/// professional in the directory and the clock at the real time (the provider's tokens
/// carry real instants).
async fn setup(backend: consilium::db::Backend, required_acr: &str) -> (Provider, TestApp, String) {
    let mut provider = Provider::spawn().await;
    let acr = required_acr.to_string();
    let app = {
        let p = &provider;
        TestApp::start_with(backend, |c| p.configure(c, &acr)).await
    };
    provider.ready(&app.base, accounts());
    app.clock.set(SystemClock.now());
    let known = app
        .platform
        .create_professional(
            &Ctx::new(Actor::System("test")),
            NewProfessional {
                rpps: Some(KNOWN_RPPS.into()),
                adeli: None,
                first_name: "Alice".into(),
                last_name: "Martin".into(),
                profession: "10".into(),
                specialties: vec![],
                email: None,
            },
            &[],
        )
        .await
        .expect("known professional");
    (provider, app, known.id)
}

async fn scalar(db: &Db, sql: &'static str, bind: &str) -> i64 {
    crate::with_pool!(db, |p| sqlx::query_scalar::<_, i64>(sql)
        .bind(bind)
        .fetch_one(p)
        .await)
    .expect("count")
}

/// The `why` of every OIDC sign-in refusal, in order.
async fn refusals(app: &TestApp) -> Vec<String> {
    let sql = "SELECT details FROM audit_log WHERE action = 'auth.login' AND outcome = 'denied' ORDER BY seq";
    let rows: Vec<String> = crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(sql)
        .fetch_all(p)
        .await)
    .expect("audit rows");
    rows.iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|d| d["method"] == "oidc")
        .map(|d| {
            format!(
                "{}|{}",
                d["why"].as_str().unwrap_or(""),
                d["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A refused callback: 401, no session, and the last audited refusal says `why`.
async fn assert_refused(app: &TestApp, page: &Page, browser: &mut Browser, why: &str) {
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    let (s, _) = browser.me(app).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "no session after a refusal ({why})"
    );
    let last = refusals(app).await.pop().unwrap_or_default();
    assert!(
        last.starts_with(&format!("{why}|")),
        "expected refusal {why:?}, audited {last:?}"
    );
}

async fn run_good_path(backend: consilium::db::Backend) {
    let (_provider, app, known_id) = setup(backend, "eidas1").await;

    // An existing account is matched by its RPPS.
    let mut b = Browser::new();
    let r = b.sign_in(&app, "known", "eidas1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{}/cases", app.base).as_str())
    );
    let session = b
        .cookie(&app.base, "__Host-consilium-session")
        .expect("session cookie");
    assert!(session.starts_with("css_"));
    assert!(
        b.cookie(&app.base, "__Host-consilium-oidc").is_none(),
        "state cookie cleared"
    );
    let (s, me) = b.me(&app).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["professional"]["id"], known_id.as_str());
    let method = scalar(
        app.db(),
        "SELECT COUNT(*) FROM sessions WHERE professional_id = $1 AND method = 'oidc' AND stage = 'full' AND ended_at IS NULL",
        &known_id,
    )
    .await;
    assert_eq!(method, 1);

    // Signing in again opens a new session and ends the one the browser had (the sign-in
    // page sends a signed-in browser on, so the button is pressed from a fresh page).
    let held = b.take_cookie(&app.base, "__Host-consilium-session");
    let auth = b.start(&app).await;
    b.set_cookie(
        &app.base,
        "__Host-consilium-session",
        &held.expect("session"),
    );
    let back = b.authorize(&auth, "known", "eidas3").await;
    let r = b.get(&back).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let second = b
        .cookie(&app.base, "__Host-consilium-session")
        .expect("session cookie");
    assert_ne!(second, session, "a new session id at each sign-in");
    let open = scalar(
        app.db(),
        "SELECT COUNT(*) FROM sessions WHERE professional_id = $1 AND ended_at IS NULL",
        &known_id,
    )
    .await;
    assert_eq!(open, 1, "the replaced session ended");

    // An unknown RPPS gets a silent account with identity and profession from the claims.
    let mut n = Browser::new();
    let r = n.sign_in(&app, "newcomer", "eidas1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (s, me) = n.me(&app).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["professional"]["rpps"], NEW_RPPS);
    assert_eq!(me["professional"]["first_name"], "Camille");
    assert_eq!(me["professional"]["last_name"], "Durand");
    assert_eq!(me["professional"]["profession"], "10");
    let new_id = me["professional"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        scalar(
            app.db(),
            "SELECT COUNT(*) FROM password_credentials WHERE professional_id = $1",
            &new_id
        )
        .await,
        0,
        "a silent account has no password"
    );
    assert_eq!(
        scalar(
            app.db(),
            "SELECT COUNT(*) FROM memberships WHERE professional_id = $1",
            &new_id
        )
        .await,
        0,
        "nor any organisation"
    );
    // The second time, the same account.
    let mut n2 = Browser::new();
    let r = n2.sign_in(&app, "newcomer", "eidas2").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (_, me2) = n2.me(&app).await;
    assert_eq!(me2["professional"]["id"], new_id.as_str());
    assert_eq!(
        scalar(
            app.db(),
            "SELECT COUNT(*) FROM professionals WHERE rpps = $1",
            NEW_RPPS
        )
        .await,
        1
    );

    // IdNat_PS with an ADELI (prefix 0): a nurse's silent account.
    let mut nurse = Browser::new();
    let r = nurse.sign_in(&app, "nurse", "eidas1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, me) = nurse.me(&app).await;
    assert_eq!(me["professional"]["adeli"], NEW_ADELI);
    assert_eq!(me["professional"]["profession"], "60");

    // Audited: four sign-ins, three account creations (two silent), no refusal.
    let logins = scalar(
        app.db(),
        "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome = $1 AND details LIKE '%\"method\":\"oidc\"%'",
        "success",
    )
    .await;
    assert_eq!(logins, 5);
    assert_eq!(
        scalar(app.db(), "SELECT COUNT(*) FROM audit_log WHERE action = 'professional.create' AND details LIKE $1", "%\"silent\":true%").await,
        2
    );
    assert!(refusals(&app).await.is_empty());
    // The discovery document and keys were fetched once for all of these (cached for ten
    // minutes of the platform's clock; the expiry itself is a unit test of `auth::oidc`,
    // since this provider's tokens live one minute of real time).
    assert_eq!(app.platform.oidc_discovery_fetches(), 1);

    // Signing out of a provider session ends the provider's too (RP-initiated logout): the
    // answer sends the browser to its end_session_endpoint with the ID token as a hint,
    // which the provider accepts (it asks the user to confirm); ours ended at once.
    let page = n2.get(&format!("{}/auth/sessions", app.base)).await.body;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_string();
    let r = n2
        .post(&format!("{}/auth/logout", app.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location.clone().expect("location");
    let end = reqwest::Url::parse(&to).expect("url");
    let q: std::collections::HashMap<String, String> = end.query_pairs().into_owned().collect();
    let provider_origin = end.origin().ascii_serialization();
    assert!(!to.starts_with(&app.base), "{to}");
    assert!(
        q.get("id_token_hint")
            .is_some_and(|t| t.split('.').count() == 3),
        "{to}"
    );
    assert_eq!(
        q.get("post_logout_redirect_uri").map(String::as_str),
        Some(format!("{}/auth/login", app.base).as_str())
    );
    let (s, _) = n2.me(&app).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "our session ended");
    let at_provider = n2.get(&to).await;
    assert_eq!(
        at_provider.status,
        StatusCode::OK,
        "the provider accepts the logout request: {}",
        at_provider.body
    );
    assert_eq!(
        scalar(app.db(), "SELECT COUNT(*) FROM sessions WHERE oidc_id_token IS NOT NULL AND ended_at IS NOT NULL AND professional_id = $1", &new_id).await,
        0,
        "an ended session keeps no ID token"
    );
    // The sign-in page allows its form to go to the provider (browsers check form-action on
    // the redirect that follows the form).
    let login = reqwest::get(format!("{}/auth/login", app.base))
        .await
        .expect("login page");
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains(&format!("form-action 'self' {provider_origin}")),
        "{csp}"
    );

    // A disabled account is refused, whatever the provider says.
    crate::with_pool!(app.db(), |p| sqlx::query(
        "UPDATE professionals SET active = FALSE WHERE id = $1"
    )
    .bind(&known_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))
    .expect("disable");
    let mut d = Browser::new();
    let r = d.sign_in(&app, "known", "eidas1").await;
    assert_refused(&app, &r, &mut d, "account disabled").await;

    // A provider account without IdNat_PS is refused.
    let mut x = Browser::new();
    let r = x.sign_in(&app, "no-idnat", "eidas1").await;
    assert_refused(&app, &r, &mut x, "IdNat_PS missing").await;
    app.finish().await;
}

async fn run_protocol_attacks(backend: consilium::db::Backend) {
    let (_provider, app, _) = setup(backend, "eidas2").await;
    let cb = format!("{}/auth/oidc/callback", app.base);

    // No state at all.
    let mut b = Browser::new();
    let r = b.get(&format!("{cb}?code=abc")).await;
    assert_refused(&app, &r, &mut b, "state missing").await;

    // A real flow; the answer comes back with another state (or without the cookie): refused,
    // and the honest flow still works afterwards.
    let mut b = Browser::new();
    let auth = b.start(&app).await;
    let back = b.authorize(&auth, "known", "eidas2").await;
    let wrong = back.replace("state=", "state=x");
    let r = b.get(&wrong).await;
    assert_refused(&app, &r, &mut b, "state mismatch").await;
    let mut other = Browser::new();
    let r = other.get(&back).await;
    assert_refused(&app, &r, &mut other, "state cookie missing").await;
    let state_cookie = b
        .cookie(&app.base, "__Host-consilium-oidc")
        .expect("state cookie");
    let r = b.get(&back).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (s, _) = b.me(&app).await;
    assert_eq!(s, StatusCode::OK);

    // The same answer again, with the same state cookie (someone who copied both): the state
    // was used.
    let mut thief = Browser::new();
    thief.set_cookie(&app.base, "__Host-consilium-oidc", &state_cookie);
    let r = thief.get(&back).await;
    assert_refused(&app, &r, &mut thief, "state unknown, expired or used").await;

    // Code replay at the provider: a new flow of ours, but the old (used) code.
    let mut c = Browser::new();
    let auth2 = c.start(&app).await;
    let state2 = reqwest::Url::parse(&auth2)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .expect("state");
    let old_code = reqwest::Url::parse(&back)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let r = c.get(&format!("{cb}?code={old_code}&state={state2}")).await;
    assert_refused(&app, &r, &mut c, "code exchange refused").await;
    let last = refusals(&app).await.pop().unwrap_or_default();
    assert!(last.contains("invalid_grant"), "{last}");

    // PKCE mismatch: the code of flow A presented with flow B's state (B's verifier).
    let mut p = Browser::new();
    let auth_a = p.start(&app).await;
    let auth_b = p.start(&app).await; // the cookie now holds B's state
    let back_a = p.authorize(&auth_a, "known", "eidas2").await;
    let code_a = reqwest::Url::parse(&back_a)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let state_b = reqwest::Url::parse(&auth_b)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .expect("state");
    let r = p.get(&format!("{cb}?code={code_a}&state={state_b}")).await;
    assert_refused(&app, &r, &mut p, "code exchange refused").await;
    let last = refusals(&app).await.pop().unwrap_or_default();
    assert!(last.contains("invalid_grant"), "{last}");
    // The code itself was good: with A's own state (A's verifier) it signs in.
    let state_a = reqwest::Url::parse(&back_a)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .expect("state");
    p.set_cookie(&app.base, "__Host-consilium-oidc", &state_a);
    let r = p.get(&back_a).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // acr below the required level (the provider authenticated at eidas1 only).
    let mut l = Browser::new();
    let r = l.sign_in(&app, "known", "eidas1").await;
    assert_refused(&app, &r, &mut l, "acr below required level").await;

    // The user refused (or failed) at the provider.
    let mut u = Browser::new();
    let r = u.sign_in(&app, "nobody", "eidas2").await;
    assert_refused(&app, &r, &mut u, "provider refused").await;

    // Stronger than required is fine.
    let mut ok = Browser::new();
    let r = ok.sign_in(&app, "known", "eidas3").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    app.finish().await;
}

async fn run_forged_tokens(backend: consilium::db::Backend) {
    let (provider, app, _) = setup(backend, "eidas1").await;
    // A good sign-in first (its ID token is the one the replay mode sends again).
    let mut b = Browser::new();
    let r = b.sign_in(&app, "known", "eidas1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    for (mode, why) in [
        ("tamper", "id token signature"),
        ("none", "id token unsigned"),
        ("hs256", "id token algorithm"),
        ("other_key", "id token signature"),
        ("issuer", "id token issuer"),
        ("audience", "id token audience"),
        ("expired", "id token expired"),
        ("replay", "id token nonce"),
    ] {
        provider.forge(mode).await;
        let mut a = Browser::new();
        let r = a.sign_in(&app, "newcomer", "eidas1").await;
        assert_refused(&app, &r, &mut a, why).await;
    }
    // None of the forged tokens created the newcomer's account.
    assert_eq!(
        scalar(
            app.db(),
            "SELECT COUNT(*) FROM professionals WHERE rpps = $1",
            NEW_RPPS
        )
        .await,
        0
    );
    // And the real thing still works.
    let mut a = Browser::new();
    let r = a.sign_in(&app, "newcomer", "eidas1").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    app.finish().await;
}

macro_rules! both_backends {
    ($name:ident, $run:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$run(consilium::db::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$run(consilium::db::Backend::Postgres).await;
            }
        }
    };
}

both_backends!(good_path, run_good_path);
both_backends!(protocol_attacks, run_protocol_attacks);
both_backends!(forged_tokens, run_forged_tokens);

both!(not_configured_means_no_button_and_404, |app| {
    let mut b = Browser::new();
    let page = b.get(&format!("{}/auth/login", app.base)).await;
    assert!(!page.body.contains("Pro Santé Connect"));
    let r = b
        .get(&format!("{}/auth/oidc/callback?code=a&state=b", app.base))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
});
