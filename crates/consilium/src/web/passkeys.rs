//! Passkey endpoints of the sign-in pages. The browser side is `static/passkey.js`: it asks
//! for options (`…/start`), runs `navigator.credentials.create()` or `get()`, and posts the
//! answer (`…/finish`). These are JSON requests made with the session cookie: the session's
//! CSRF token travels in the `X-CSRF-Token` header (and `same_origin_guard` runs first).
//! The management page (`/auth/passkeys`) lists the signed-in user's passkeys, adds one and
//! deletes one.

use super::AppState;
use super::extract::{CSRF_HEADER, client_info};
use super::pages::{
    CsrfForm, PASSKEY_CSP, PasskeyOffer, add_cookie, csrf_refused, current_session, next_page,
    paris, parse_form, passkey_offer, redirect, render_with_csp, session_cookie,
};
use crate::auth::model::{Stage, constant_time_eq};
use crate::auth::service::SessionInfo;
use crate::kernel::Error;
use crate::platform::Ctx;
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/passkey/register/start", post(register_start))
        .route("/auth/passkey/register/finish", post(register_finish))
        .route("/auth/passkey/login/start", post(login_start))
        .route("/auth/passkey/login/finish", post(login_finish))
        .route("/auth/passkeys", get(manage_page))
        .route("/auth/passkeys/{id}/delete", post(delete_submit))
        .route("/static/passkey.js", get(script))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFinish {
    #[serde(default)]
    label: String,
    credential: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginFinish {
    credential: serde_json::Value,
}

/// The session behind a JSON passkey request, with its CSRF header checked. Refusals are
/// answers already (401 without a session, 403 on a missing or wrong token, audited).
async fn session_for_json(s: &AppState, parts: &Parts) -> Result<SessionInfo, Response> {
    let sess = match current_session(s, parts).await {
        Ok(Some(x)) => x,
        Ok(None) => return Err(Error::Unauthenticated.into_response()),
        Err(e) => return Err(e.into_response()),
    };
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent.is_empty() || !constant_time_eq(sent.as_bytes(), sess.csrf.as_bytes()) {
        if let Err(e) = s
            .platform
            .audit_refusal(
                "auth.csrf",
                Some(&sess.actor),
                "missing or wrong CSRF header",
            )
            .await
        {
            return Err(e.into_response());
        }
        return Err(Error::Forbidden("missing or wrong CSRF token".into()).into_response());
    }
    Ok(sess)
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("not the expected JSON: {e}")))
}

/// `{"next": …}` and, when the session moved on, its new cookie.
fn done(next: &str, issued: Option<&crate::auth::service::IssuedSession>) -> Response {
    let mut r = axum::Json(serde_json::json!({ "next": next })).into_response();
    if let Some(i) = issued {
        add_cookie(&mut r, session_cookie(&i.token));
    }
    r
}

async fn register_start(State(s): S, parts: Parts) -> Response {
    let sess = match session_for_json(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.platform.passkey_register_start(&sess).await {
        Ok(options) => axum::Json(options).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn register_finish(State(s): S, parts: Parts, body: Bytes) -> Response {
    let sess = match session_for_json(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form: RegisterFinish = match json_body(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let client = client_info(&parts);
    match s
        .platform
        .passkey_register_finish(&sess, &form.label, form.credential, &client)
        .await
    {
        Ok(Some(issued)) => done(next_page(issued.stage), Some(&issued)),
        Ok(None) => done("/auth/passkeys", None),
        Err(e) => e.into_response(),
    }
}

async fn login_start(State(s): S, parts: Parts) -> Response {
    let sess = match session_for_json(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.platform.passkey_login_start(&sess).await {
        Ok(options) => axum::Json(options).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn login_finish(State(s): S, parts: Parts, body: Bytes) -> Response {
    let sess = match session_for_json(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form: LoginFinish = match json_body(&body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let client = client_info(&parts);
    match s
        .platform
        .passkey_login_finish(&sess, form.credential, &client)
        .await
    {
        Ok(issued) => done(next_page(issued.stage), Some(&issued)),
        Err(e) => e.into_response(),
    }
}

struct PasskeyLine {
    id: String,
    label: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "auth/passkeys.html")]
struct ManagePage<'a> {
    csrf: &'a str,
    passkeys: Vec<PasskeyLine>,
    passkey: Option<PasskeyOffer>,
    message: Option<&'a str>,
}

async fn full_session(s: &AppState, parts: &Parts) -> Result<SessionInfo, Response> {
    match current_session(s, parts).await {
        Ok(Some(x)) if x.stage == Stage::Full => Ok(x),
        Ok(Some(x)) => Err(redirect(next_page(x.stage))),
        Ok(None) => Err(redirect("/auth/login")),
        Err(e) => Err(e.into_response()),
    }
}

fn ctx_of(sess: &SessionInfo) -> Ctx {
    let mut ctx = Ctx::new(sess.actor.clone());
    ctx.session = Some(sess.id.clone());
    ctx
}

async fn manage(
    s: &AppState,
    sess: &SessionInfo,
    status: StatusCode,
    msg: Option<&str>,
) -> Response {
    match s.platform.list_passkeys(&ctx_of(sess)).await {
        Ok(list) => render_with_csp(
            status,
            &ManagePage {
                csrf: &sess.csrf,
                passkeys: list
                    .into_iter()
                    .map(|p| PasskeyLine {
                        id: p.id,
                        label: p.label,
                        created: paris(p.created_at),
                        last_used: p.last_used_at.map(paris).unwrap_or_else(|| "jamais".into()),
                    })
                    .collect(),
                passkey: passkey_offer(s),
                message: msg,
            },
            PASSKEY_CSP,
        ),
        Err(e) => e.into_response(),
    }
}

async fn manage_page(State(s): S, parts: Parts) -> Response {
    match full_session(&s, &parts).await {
        Ok(sess) => manage(&s, &sess, StatusCode::OK, None).await,
        Err(r) => r,
    }
}

async fn delete_submit(State(s): S, Path(id): Path<String>, parts: Parts, body: Bytes) -> Response {
    let sess = match full_session(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = parse_form::<CsrfForm>(&body).unwrap_or(CsrfForm {
        csrf: String::new(),
    });
    if !constant_time_eq(form.csrf.as_bytes(), sess.csrf.as_bytes()) {
        return csrf_refused(&s, Some(&sess)).await;
    }
    match s.platform.delete_passkey(&ctx_of(&sess), &id).await {
        Ok(()) => redirect("/auth/passkeys"),
        Err(Error::Conflict { .. }) => {
            manage(
                &s,
                &sess,
                StatusCode::CONFLICT,
                Some(
                    "C'est votre seul second facteur et votre rôle en exige un : \
                     ajoutez d'abord une autre clé d'accès.",
                ),
            )
            .await
        }
        Err(Error::NotFound) => {
            manage(
                &s,
                &sess,
                StatusCode::NOT_FOUND,
                Some("Clé d'accès introuvable."),
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn script() -> Response {
    super::ui::static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../static/passkey.js"),
    )
}
