//! Minimal server-rendered sign-in pages (French): sign-in, second factor, TOTP enrolment,
//! open sessions, sign-out. The full web interface is its own issue; these pages exist so
//! the flows work in a browser now. No script at all; the CSP forbids them.
//!
//! CSRF: the sign-in form uses a double-submit cookie (there is no session yet); every
//! other form carries the session's synchronizer token; on top, `same_origin_guard` refuses
//! cross-site state-changing requests.

use super::AppState;
use super::extract::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_info, cookie};
use crate::auth::links::{LinkKind, LinkProblem};
use crate::auth::model::{Stage, constant_time_eq};
use crate::auth::service::{IssuedSession, SessionInfo};
use crate::kernel::{Error, Timestamp};
use crate::platform::Ctx;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

const HTML_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/login", get(login_page).post(login_submit))
        .route(
            "/auth/second-factor",
            get(second_factor_page).post(second_factor_submit),
        )
        .route("/auth/enrol", get(enrol_page).post(enrol_submit))
        .route("/auth/sessions", get(sessions_page))
        .route("/auth/sessions/{id}/revoke", post(revoke_submit))
        .route("/auth/logout", post(logout_submit))
        .route("/auth/password", get(password_page).post(password_submit))
        .route("/auth/forgot", get(forgot_page).post(forgot_submit))
        .route(
            "/auth/invitation",
            get(invitation_page).post(invitation_submit),
        )
        .route("/auth/reset", get(reset_page).post(reset_submit))
        .route("/auth/oidc/start", post(oidc_start))
        .route("/auth/oidc/callback", get(oidc_callback))
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    identifier: &'a str,
    message: Option<&'a str>,
    /// `serve --demo`: the synthetic accounts, one button each.
    demo: Vec<crate::demo::DemoUser>,
    /// The OpenID provider's name, when sign-in with it is configured.
    oidc: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "auth/second_factor.html")]
struct SecondFactorPage<'a> {
    csrf: &'a str,
    message: Option<&'a str>,
    /// `serve --demo`: the synthetic account's current code.
    demo_code: Option<String>,
    /// The account has a confirmed TOTP application.
    totp: bool,
    /// The account has passkeys and this server offers them.
    passkey: Option<PasskeyOffer>,
}

/// What the passkey script needs to know (data attributes of the page).
pub(super) struct PasskeyOffer {
    pub rp_id: String,
    pub origin: String,
}

pub(super) fn passkey_offer(s: &AppState) -> Option<PasskeyOffer> {
    s.platform.passkey_settings().map(|p| PasskeyOffer {
        rp_id: p.rp_id.clone(),
        origin: p.origin.clone(),
    })
}

/// Pages that run the passkey script: as `HTML_CSP`, plus our own script and fetches.
pub(super) const PASSKEY_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

#[derive(Template)]
#[template(path = "auth/enrol.html")]
struct EnrolPage<'a> {
    csrf: &'a str,
    secret: &'a str,
    otpauth_url: &'a str,
    message: Option<&'a str>,
    passkey: Option<PasskeyOffer>,
}

struct SessionLine {
    id: String,
    created: String,
    last_seen: String,
    method: String,
    address: String,
    user_agent: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "auth/sessions.html")]
struct SessionsPage<'a> {
    csrf: &'a str,
    name: &'a str,
    sessions: Vec<SessionLine>,
}

#[derive(Template)]
#[template(path = "auth/password.html")]
struct PasswordPage<'a> {
    csrf: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "auth/set_password.html")]
struct SetPasswordPage<'a> {
    title: &'a str,
    action: &'a str,
    csrf: &'a str,
    token: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "auth/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
}

pub(super) fn html(status: StatusCode, t: &impl Template) -> Response {
    render_with_csp(status, t, HTML_CSP)
}

/// Renders a template as an HTML page with its content security policy.
pub fn render_with_csp(status: StatusCode, t: &impl Template, csp: &'static str) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = (status, body).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(csp),
            );
            r
        }
        Err(e) => Error::internal(e).into_response(),
    }
}

pub(super) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    html(status, &MessagePage { title, text })
}

pub(super) fn redirect(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

pub(super) fn add_cookie(r: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Where a session at this stage goes next.
pub(super) fn next_page(stage: Stage) -> &'static str {
    match stage {
        Stage::SecondFactor => "/auth/second-factor",
        Stage::Enrol => "/auth/enrol",
        Stage::Full => "/cases",
    }
}

fn issued_redirect(issued: &IssuedSession) -> Response {
    let mut r = redirect(next_page(issued.stage));
    add_cookie(&mut r, session_cookie(&issued.token));
    r
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Europe/Paris wall-clock time (CET/CEST: the EU rule, last Sundays of March and October
/// at 01:00 UTC), for display only.
pub fn paris(t: Timestamp) -> String {
    let utc = t.to_offset();
    let year = utc.year();
    let last_sunday = |month: time::Month| {
        let mut d = time::Date::from_calendar_date(year, month, 31)
            .unwrap_or(time::Date::MIN)
            .midnight()
            .assume_utc();
        while d.weekday() != time::Weekday::Sunday {
            d -= time::Duration::days(1);
        }
        d + time::Duration::hours(1)
    };
    let summer = utc >= last_sunday(time::Month::March) && utc < last_sunday(time::Month::October);
    let local = utc + time::Duration::hours(if summer { 2 } else { 1 });
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        local.day(),
        u8::from(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    end_others: Option<String>,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) fn parse_form<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

/// The session the browser presents, whatever its stage.
pub(super) async fn current_session(
    s: &AppState,
    parts: &Parts,
) -> Result<Option<SessionInfo>, Error> {
    match cookie(&parts.headers, SESSION_COOKIE) {
        Some(t) => s.platform.session(&t).await,
        None => Ok(None),
    }
}

/// A refused form (CSRF): audited, 403, nothing changed.
pub(super) async fn csrf_refused(s: &AppState, session: Option<&SessionInfo>) -> Response {
    if let Err(e) = s
        .platform
        .audit_refusal(
            "auth.csrf",
            session.map(|x| &x.actor),
            "missing or wrong form token",
        )
        .await
    {
        return e.into_response();
    }
    message(
        StatusCode::FORBIDDEN,
        "Formulaire expiré",
        "Ce formulaire n'est plus valide. Rechargez la page et recommencez.",
    )
}

fn login_form(status: StatusCode, identifier: &str, msg: Option<&str>, s: &AppState) -> Response {
    let demo = s.config.demo_mode;
    let csrf = random_token();
    let r = html(
        status,
        &LoginPage {
            csrf: &csrf,
            identifier,
            message: msg,
            demo: if demo {
                crate::demo::users()
            } else {
                Vec::new()
            },
            oidc: s.platform.oidc_label(),
        },
    );
    with_login_csrf(r, &csrf)
}

async fn login_page(State(s): S, parts: Parts) -> Response {
    match current_session(&s, &parts).await {
        Ok(Some(sess)) => redirect(next_page(sess.stage)),
        Ok(None) => login_form(StatusCode::OK, "", None, &s),
        Err(e) => e.into_response(),
    }
}

async fn login_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    let Some(form) = parse_form::<LoginForm>(&body) else {
        return login_form(
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            Some("Formulaire invalide."),
            &s,
        );
    };
    let expected = cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return csrf_refused(&s, None).await;
    }
    // Whatever session this browser had ends here: sign-in always opens a new one
    // (no session fixation).
    if let Ok(Some(old)) = current_session(&s, &parts).await
        && let Err(e) = s.platform.replace_session(&old).await
    {
        return e.into_response();
    }
    let client = client_info(&parts);
    match s
        .platform
        .sign_in_password(&form.identifier, &form.password, &client)
        .await
    {
        Ok(issued) => {
            let mut r = issued_redirect(&issued);
            add_cookie(&mut r, clear_cookie(LOGIN_CSRF_COOKIE));
            r
        }
        Err(Error::Unauthenticated) => login_form(
            StatusCode::UNAUTHORIZED,
            &form.identifier,
            Some("Identifiant ou mot de passe incorrect."),
            &s,
        ),
        Err(Error::TooManyRequests { retry_after }) => {
            let text = format!(
                "Trop de tentatives. Réessayez dans {} minute(s).",
                (retry_after + 59) / 60
            );
            let mut r = login_form(
                StatusCode::TOO_MANY_REQUESTS,
                &form.identifier,
                Some(&text),
                &s,
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn second_factor_page(State(s): S, parts: Parts) -> Response {
    match current_session(&s, &parts).await {
        Ok(Some(sess)) if sess.stage == Stage::SecondFactor => {
            second_factor_form(&s, &sess, StatusCode::OK, None).await
        }
        Ok(Some(sess)) => redirect(next_page(sess.stage)),
        Ok(None) => redirect("/auth/login"),
        Err(e) => e.into_response(),
    }
}

/// The second-factor page: the code form when the account has a TOTP application, the
/// passkey button when it has passkeys (and the server offers them).
async fn second_factor_form(
    s: &AppState,
    sess: &SessionInfo,
    status: StatusCode,
    msg: Option<&str>,
) -> Response {
    let factors = match s.platform.second_factors(sess).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let passkey = if factors.passkeys > 0 {
        passkey_offer(s)
    } else {
        None
    };
    let page = SecondFactorPage {
        csrf: &sess.csrf,
        message: msg,
        demo_code: if factors.totp {
            demo_code(s, sess).await
        } else {
            None
        },
        // Without a usable passkey, the code form is the way (even with no TOTP: the
        // answer is then a refusal, never a dead end without a form).
        totp: factors.totp || passkey.is_none(),
        passkey,
    };
    if page.passkey.is_some() {
        render_with_csp(status, &page, PASSKEY_CSP)
    } else {
        html(status, &page)
    }
}

/// On a demo server only, the synthetic account's current code.
async fn demo_code(s: &AppState, sess: &SessionInfo) -> Option<String> {
    if !s.config.demo_mode {
        return None;
    }
    let id = sess.actor.id()?;
    s.platform.demo_totp_code(id).await.ok().flatten()
}

/// Checks the code of a session at `stage`; on success, the session's new cookie.
async fn code_submit(s: &AppState, parts: &Parts, body: &[u8], stage: Stage) -> Response {
    let sess = match current_session(s, parts).await {
        Ok(Some(x)) if x.stage == stage => x,
        Ok(Some(x)) => return redirect(next_page(x.stage)),
        Ok(None) => return redirect("/auth/login"),
        Err(e) => return e.into_response(),
    };
    let form = parse_form::<CodeForm>(body).unwrap_or(CodeForm {
        code: String::new(),
        csrf: String::new(),
    });
    if !constant_time_eq(form.csrf.as_bytes(), sess.csrf.as_bytes()) {
        return csrf_refused(s, Some(&sess)).await;
    }
    let client = client_info(parts);
    let (status, msg, wait) = match s.platform.totp_verify(&sess, &form.code, &client).await {
        Ok(issued) => return issued_redirect(&issued),
        Err(Error::Unauthenticated) => (
            StatusCode::UNAUTHORIZED,
            "Code incorrect ou déjà utilisé. Attendez le code suivant.".to_string(),
            None,
        ),
        Err(Error::TooManyRequests { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Trop de tentatives. Réessayez dans {} minute(s).",
                (retry_after + 59) / 60
            ),
            Some(retry_after),
        ),
        Err(e) => return e.into_response(),
    };
    let mut r = if stage == Stage::SecondFactor {
        second_factor_form(s, &sess, status, Some(&msg)).await
    } else {
        message(status, "Code incorrect", &msg)
    };
    if let Some(retry_after) = wait
        && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn second_factor_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    code_submit(&s, &parts, &body, Stage::SecondFactor).await
}

async fn enrol_page(State(s): S, parts: Parts) -> Response {
    let sess = match current_session(&s, &parts).await {
        Ok(Some(x)) if x.stage == Stage::Enrol => x,
        Ok(Some(x)) => return redirect(next_page(x.stage)),
        Ok(None) => return redirect("/auth/login"),
        Err(e) => return e.into_response(),
    };
    match s.platform.totp_begin(&sess).await {
        Ok(e) => {
            let page = EnrolPage {
                csrf: &sess.csrf,
                secret: &e.secret,
                otpauth_url: &e.otpauth_url,
                message: None,
                passkey: passkey_offer(&s),
            };
            if page.passkey.is_some() {
                render_with_csp(StatusCode::OK, &page, PASSKEY_CSP)
            } else {
                html(StatusCode::OK, &page)
            }
        }
        Err(e) => e.into_response(),
    }
}

async fn enrol_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    code_submit(&s, &parts, &body, Stage::Enrol).await
}

async fn sessions_page(State(s): S, parts: Parts) -> Response {
    let sess = match current_session(&s, &parts).await {
        Ok(Some(x)) if x.stage == Stage::Full => x,
        Ok(Some(x)) => return redirect(next_page(x.stage)),
        Ok(None) => return redirect("/auth/login"),
        Err(e) => return e.into_response(),
    };
    let mut ctx = Ctx::new(sess.actor.clone());
    ctx.session = Some(sess.id.clone());
    match s.platform.list_sessions(&ctx).await {
        Ok(list) => html(
            StatusCode::OK,
            &SessionsPage {
                csrf: &sess.csrf,
                name: &sess.actor.label(),
                sessions: list
                    .into_iter()
                    .map(|v| SessionLine {
                        id: v.id,
                        created: paris(v.created_at),
                        last_seen: paris(v.last_seen_at),
                        method: v.method,
                        address: v.address,
                        user_agent: v.user_agent,
                        current: v.current,
                    })
                    .collect(),
            },
        ),
        Err(e) => e.into_response(),
    }
}

async fn revoke_submit(State(s): S, Path(id): Path<String>, parts: Parts, body: Bytes) -> Response {
    let sess = match current_session(&s, &parts).await {
        Ok(Some(x)) if x.stage == Stage::Full => x,
        Ok(_) => return redirect("/auth/login"),
        Err(e) => return e.into_response(),
    };
    let form = parse_form::<CsrfForm>(&body).unwrap_or(CsrfForm {
        csrf: String::new(),
    });
    if !constant_time_eq(form.csrf.as_bytes(), sess.csrf.as_bytes()) {
        return csrf_refused(&s, Some(&sess)).await;
    }
    let mut ctx = Ctx::new(sess.actor.clone());
    ctx.session = Some(sess.id.clone());
    match s.platform.revoke_session(&ctx, &id).await {
        Ok(()) if id == sess.id => {
            let mut r = redirect("/auth/login");
            add_cookie(&mut r, clear_cookie(SESSION_COOKIE));
            r
        }
        Ok(()) => redirect("/auth/sessions"),
        Err(Error::NotFound) => message(
            StatusCode::NOT_FOUND,
            "Session introuvable",
            "Cette session n'existe pas ou ne vous appartient pas.",
        ),
        Err(e) => e.into_response(),
    }
}

async fn logout_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    let sess = match current_session(&s, &parts).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            let mut r = redirect("/auth/login");
            add_cookie(&mut r, clear_cookie(SESSION_COOKIE));
            return r;
        }
        Err(e) => return e.into_response(),
    };
    let form = parse_form::<CsrfForm>(&body).unwrap_or(CsrfForm {
        csrf: String::new(),
    });
    if !constant_time_eq(form.csrf.as_bytes(), sess.csrf.as_bytes()) {
        return csrf_refused(&s, Some(&sess)).await;
    }
    // A session opened with the OpenID provider also ends the provider's (read before
    // ending ours, which forgets the ID token).
    let provider_logout = match s.platform.oidc_logout_url(&sess.id).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = s.platform.sign_out(&sess).await {
        return e.into_response();
    }
    let mut r = redirect("/auth/login");
    if let Some(url) = provider_logout
        && let Ok(v) = HeaderValue::from_str(&url)
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    add_cookie(&mut r, clear_cookie(SESSION_COOKIE));
    r
}

async fn password_page(State(s): S, parts: Parts) -> Response {
    match current_session(&s, &parts).await {
        Ok(Some(x)) if x.stage == Stage::Full => html(
            StatusCode::OK,
            &PasswordPage {
                csrf: &x.csrf,
                message: None,
            },
        ),
        Ok(Some(x)) => redirect(next_page(x.stage)),
        Ok(None) => redirect("/auth/login"),
        Err(e) => e.into_response(),
    }
}

async fn password_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    let sess = match current_session(&s, &parts).await {
        Ok(Some(x)) if x.stage == Stage::Full => x,
        Ok(_) => return redirect("/auth/login"),
        Err(e) => return e.into_response(),
    };
    let Some(form) = parse_form::<PasswordForm>(&body) else {
        return csrf_refused(&s, Some(&sess)).await;
    };
    if !constant_time_eq(form.csrf.as_bytes(), sess.csrf.as_bytes()) {
        return csrf_refused(&s, Some(&sess)).await;
    }
    let again = |status: StatusCode, msg: &str| {
        html(
            status,
            &PasswordPage {
                csrf: &sess.csrf,
                message: Some(msg),
            },
        )
    };
    if form.new != form.confirm {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Les deux saisies du nouveau mot de passe diffèrent.",
        );
    }
    let client = client_info(&parts);
    match s
        .platform
        .change_password(
            &sess,
            &form.current,
            &form.new,
            form.end_others.is_some(),
            &client,
        )
        .await
    {
        Ok(()) => redirect("/auth/sessions"),
        Err(Error::Unauthenticated) => {
            again(StatusCode::UNAUTHORIZED, "Mot de passe actuel incorrect.")
        }
        Err(Error::Invalid(errs)) => {
            let text = format!(
                "Nouveau mot de passe : {}.",
                errs.first()
                    .map(|e| e.message.as_str())
                    .unwrap_or("invalide")
            );
            again(StatusCode::UNPROCESSABLE_ENTITY, &text)
        }
        Err(Error::TooManyRequests { retry_after }) => {
            let mut r = again(
                StatusCode::TOO_MANY_REQUESTS,
                "Trop de tentatives. Réessayez plus tard.",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

/// A page for users without a session (sign-in, forgotten password, links), with the
/// double-submit CSRF cookie.
fn with_login_csrf(mut r: Response, csrf: &str) -> Response {
    add_cookie(
        &mut r,
        format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/; Secure; HttpOnly; SameSite=Strict"),
    );
    r
}

fn login_csrf_ok(parts: &Parts, sent: &str) -> bool {
    let expected = cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    !expected.is_empty() && constant_time_eq(sent.as_bytes(), expected.as_bytes())
}

fn forgot_form(status: StatusCode, msg: Option<&str>) -> Response {
    let csrf = random_token();
    let r = html(
        status,
        &ForgotPage {
            csrf: &csrf,
            message: msg,
        },
    );
    with_login_csrf(r, &csrf)
}

async fn forgot_page() -> Response {
    forgot_form(StatusCode::OK, None)
}

/// Always the same answer: whether the identifier names an account is not disclosed.
async fn forgot_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    let form = parse_form::<ForgotForm>(&body).unwrap_or(ForgotForm {
        identifier: String::new(),
        csrf: String::new(),
    });
    if !login_csrf_ok(&parts, &form.csrf) {
        return csrf_refused(&s, None).await;
    }
    match s
        .platform
        .request_password_reset(&form.identifier, &client_info(&parts))
        .await
    {
        Ok(()) => forgot_form(
            StatusCode::OK,
            Some(
                "Si un compte correspond à cet identifiant, un message contenant un lien \
                 vient de lui être envoyé.",
            ),
        ),
        Err(Error::TooManyRequests { retry_after }) => {
            let mut r = forgot_form(
                StatusCode::TOO_MANY_REQUESTS,
                Some("Trop de demandes. Réessayez plus tard."),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

fn link_texts(kind: LinkKind) -> (&'static str, &'static str) {
    match kind {
        LinkKind::Invitation => (
            "Bienvenue : choisissez votre mot de passe",
            "/auth/invitation",
        ),
        LinkKind::Reset => ("Nouveau mot de passe", "/auth/reset"),
    }
}

fn link_problem_page(p: LinkProblem) -> Response {
    let text = match p {
        LinkProblem::Unknown => "Ce lien n'est pas valide.",
        LinkProblem::Used => "Ce lien a déjà servi : il ne fonctionne qu'une fois.",
        LinkProblem::Expired => "Ce lien a expiré. Demandez-en un nouveau.",
    };
    message(StatusCode::GONE, "Lien inutilisable", text)
}

fn link_form(kind: LinkKind, token: &str, status: StatusCode, msg: Option<&str>) -> Response {
    let (title, action) = link_texts(kind);
    let csrf = random_token();
    let r = html(
        status,
        &SetPasswordPage {
            title,
            action,
            csrf: &csrf,
            token,
            message: msg,
        },
    );
    with_login_csrf(r, &csrf)
}

async fn link_page(s: &AppState, parts: &Parts, kind: LinkKind) -> Response {
    let q: TokenQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
        .unwrap_or(TokenQuery {
            token: String::new(),
        });
    match s.platform.check_link(kind, &q.token).await {
        Ok(None) => link_form(kind, &q.token, StatusCode::OK, None),
        Ok(Some(p)) => link_problem_page(p),
        Err(e) => e.into_response(),
    }
}

async fn link_submit(s: &AppState, parts: &Parts, body: &[u8], kind: LinkKind) -> Response {
    let Some(form) = parse_form::<LinkForm>(body) else {
        return csrf_refused(s, None).await;
    };
    if !login_csrf_ok(parts, &form.csrf) {
        return csrf_refused(s, None).await;
    }
    if form.new != form.confirm {
        return link_form(
            kind,
            &form.token,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Les deux saisies diffèrent."),
        );
    }
    match s
        .platform
        .use_link(kind, &form.token, &form.new, &client_info(parts))
        .await
    {
        Ok(Ok(issued)) => {
            let mut r = issued_redirect(&issued);
            add_cookie(&mut r, clear_cookie(LOGIN_CSRF_COOKIE));
            r
        }
        Ok(Err(p)) => link_problem_page(p),
        Err(Error::Invalid(errs)) => {
            let text = format!(
                "Mot de passe : {}.",
                errs.first()
                    .map(|e| e.message.as_str())
                    .unwrap_or("invalide")
            );
            link_form(
                kind,
                &form.token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&text),
            )
        }
        Err(e) => e.into_response(),
    }
}

async fn invitation_page(State(s): S, parts: Parts) -> Response {
    link_page(&s, &parts, LinkKind::Invitation).await
}

async fn invitation_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    link_submit(&s, &parts, &body, LinkKind::Invitation).await
}

async fn reset_page(State(s): S, parts: Parts) -> Response {
    link_page(&s, &parts, LinkKind::Reset).await
}

async fn reset_submit(State(s): S, parts: Parts, body: Bytes) -> Response {
    link_submit(&s, &parts, &body, LinkKind::Reset).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn paris_time_follows_summer_time() {
        let winter = crate::kernel::Timestamp::parse_rfc3339("2026-01-15T12:00:00Z")
            .unwrap_or(crate::kernel::Timestamp(0));
        assert_eq!(super::paris(winter), "15/01/2026 13:00");
        let summer = crate::kernel::Timestamp::parse_rfc3339("2026-07-15T12:00:00Z")
            .unwrap_or(crate::kernel::Timestamp(0));
        assert_eq!(super::paris(summer), "15/07/2026 14:00");
        // 2026-03-29 is the last Sunday of March: 01:00 UTC switches to CEST.
        let before = crate::kernel::Timestamp::parse_rfc3339("2026-03-29T00:59:00Z")
            .unwrap_or(crate::kernel::Timestamp(0));
        assert_eq!(super::paris(before), "29/03/2026 01:59");
        let after = crate::kernel::Timestamp::parse_rfc3339("2026-03-29T01:00:00Z")
            .unwrap_or(crate::kernel::Timestamp(0));
        assert_eq!(super::paris(after), "29/03/2026 03:00");
    }
}

/// The browser's `state` of an OpenID sign-in in flight (sent back on the provider's
/// top-level redirect, hence `SameSite=Lax`).
const OIDC_STATE_COOKIE: &str = "__Host-consilium-oidc";

/// "Se connecter avec Pro Santé Connect": the login form's double-submit token, then off
/// to the provider with a fresh `state`, `nonce` and PKCE challenge.
async fn oidc_start(State(s): S, parts: Parts, body: Bytes) -> Response {
    if s.platform.oidc_label().is_none() {
        return Error::NotFound.into_response();
    }
    let form = parse_form::<CsrfForm>(&body).unwrap_or(CsrfForm {
        csrf: String::new(),
    });
    if !login_csrf_ok(&parts, &form.csrf) {
        return csrf_refused(&s, None).await;
    }
    match s.platform.oidc_begin().await {
        Ok(start) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&start.url) {
                Ok(v) => {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                Err(e) => return Error::internal(e).into_response(),
            }
            add_cookie(
                &mut r,
                format!(
                    "{OIDC_STATE_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600",
                    start.state
                ),
            );
            r
        }
        Err(Error::Unavailable(_)) => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service indisponible",
            "Le service d'identification ne répond pas. Réessayez dans quelques minutes \
             ou connectez-vous avec votre mot de passe.",
        ),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct OidcQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The provider sends the browser back here. Every check is in `Platform::oidc_complete`;
/// a session this browser had is replaced only once the sign-in succeeded (a forged
/// callback must not sign anyone out).
async fn oidc_callback(State(s): S, parts: Parts) -> Response {
    if s.platform.oidc_label().is_none() {
        return Error::NotFound.into_response();
    }
    let q: OidcQuery =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or(OidcQuery {
            code: None,
            state: None,
            error: None,
            iss: None,
        });
    let cookie_state = cookie(&parts.headers, OIDC_STATE_COOKIE);
    // The flow is used up when the answer names this browser's state; an answer with
    // another state (perhaps planted by someone else) leaves the browser's flow alone.
    let used_up = q.state.is_some() && q.state == cookie_state;
    let cb = crate::auth::oidc::OidcCallback {
        code: q.code,
        state: q.state,
        error: q.error,
        iss: q.iss,
        cookie_state,
    };
    let client = client_info(&parts);
    let mut r = match s.platform.oidc_complete(cb, &client).await {
        Ok(issued) => {
            if let Ok(Some(old)) = current_session(&s, &parts).await
                && let Err(e) = s.platform.replace_session(&old).await
            {
                return e.into_response();
            }
            let mut r = issued_redirect(&issued);
            add_cookie(&mut r, clear_cookie(LOGIN_CSRF_COOKIE));
            r
        }
        Err(Error::Unauthenticated) => message(
            StatusCode::UNAUTHORIZED,
            "Connexion refusée",
            "La connexion avec le service d'identification a échoué. \
             Recommencez depuis la page de connexion.",
        ),
        Err(Error::TooManyRequests { retry_after }) => {
            let text = format!(
                "Trop de tentatives. Réessayez dans {} minute(s).",
                (retry_after + 59) / 60
            );
            let mut r = message(StatusCode::TOO_MANY_REQUESTS, "Connexion refusée", &text);
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => e.into_response(),
    };
    if used_up {
        add_cookie(&mut r, clear_cookie(OIDC_STATE_COOKIE));
    }
    r
}
