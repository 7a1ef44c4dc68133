//! Webhooks in the web interface: a professional's own (`/me/webhooks`, linked from the
//! account page) and an organisation's (`/admin/webhooks`, its administrators, in the
//! administration menu), over the same use cases as the API. The list shows each URL, its
//! events, its last delivery and its creation date; the form registers one; each line has a
//! new secret and a deletion, both behind a disclosure that says what they do.
//!
//! The secret is shown once, on the page that answers the registration (or the new secret)
//! form: the one place where a form is not followed by a redirect, because a redirect could
//! carry the secret only by storing it somewhere in clear. That page is `no-store` like
//! every page, and reloading it asks the browser to post again (a second webhook, or yet
//! another secret), never shows the same secret twice.

use super::admin::admin_viewer;
use super::availability::{DoneParams, field};
use super::{
    Base, Lang, S, Viewer, error_text, i18n, not_found, render, see_other, unread, viewer,
};
use crate::kernel::Error;
use crate::webhooks::model::EventType;
use crate::webhooks::{MAX_PER_OWNER, NewWebhook, Webhook, WebhookInput};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// Whose webhooks a page manages.
enum Scope {
    /// The signed-in professional's.
    Mine,
    /// The organisation the signed-in administrator administers.
    Org(String),
}

impl Scope {
    fn path(&self) -> &'static str {
        match self {
            Scope::Mine => "/me/webhooks",
            Scope::Org(_) => "/admin/webhooks",
        }
    }
}

/// An event type's label in the interface.
pub fn event_label(lang: Lang, e: EventType) -> &'static str {
    i18n::t(lang, &format!("event_{}", e.as_str().replace('.', "_")))
}

pub struct HookLine {
    pub id: String,
    pub url: String,
    /// The events' labels, or "every event".
    pub events: String,
    /// The last delivery: (delivered, when, the outcome as recorded).
    pub last: Option<(bool, String, String)>,
    pub created: String,
}

fn line(b: &Base, w: &Webhook) -> HookLine {
    let events = if w.events.is_empty() {
        b.t("webhook_all_events").to_string()
    } else {
        w.events
            .iter()
            .map(|e| event_label(b.lang, *e))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let last = match (&w.last_attempt_at, &w.last_outcome) {
        (Some(at), Some(outcome)) => Some((
            outcome.starts_with("delivered"),
            b.when(at),
            outcome.clone(),
        )),
        _ => None,
    };
    HookLine {
        id: w.id.clone(),
        url: w.url.clone(),
        events,
        last,
        created: b.when(&w.created_at),
    }
}

/// What the registration form holds (kept when it is refused).
#[derive(Default)]
struct Form {
    url: String,
    events: Vec<String>,
}

#[derive(Template)]
#[template(path = "ui/webhooks.html")]
struct WebhooksPage {
    b: Base,
    /// The organisation's page (else one's own).
    org: bool,
    action: &'static str,
    notice: Option<String>,
    error: Option<String>,
    hooks: Vec<HookLine>,
    url: String,
    /// Every event type: (value, label, checked).
    events: Vec<(&'static str, &'static str, bool)>,
    /// As many webhooks as allowed: the form says so.
    full: bool,
}

#[derive(Template)]
#[template(path = "ui/webhook_secret.html")]
struct SecretPage {
    b: Base,
    back: &'static str,
    /// Registered just now (else a new secret of an existing webhook).
    created: bool,
    line: HookLine,
    secret: String,
}

async fn list(
    s: &crate::web::AppState,
    v: &Viewer,
    scope: &Scope,
) -> crate::kernel::Result<Vec<Webhook>> {
    match scope {
        Scope::Mine => s.platform.my_webhooks(&v.ctx).await,
        Scope::Org(org) => s.platform.org_webhooks(&v.ctx, org).await,
    }
}

async fn page(
    s: &crate::web::AppState,
    v: &Viewer,
    scope: &Scope,
    form: Form,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let hooks = match list(s, v, scope).await {
        Ok(h) => h,
        Err(Error::NotFound) => return not_found(v),
        Err(e) => return e.into_response(),
    };
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let org = matches!(scope, Scope::Org(_));
    let title = if org { "webhooks_org" } else { "webhooks_mine" };
    let b = v.base(v.t(title), scope.path(), unread(s, v).await);
    let full = hooks.len() as i64 >= MAX_PER_OWNER;
    let hooks = hooks.iter().map(|w| line(&b, w)).collect();
    let events = EventType::ALL
        .iter()
        .map(|e| {
            (
                e.as_str(),
                event_label(v.lang, *e),
                form.events.iter().any(|x| x == e.as_str()),
            )
        })
        .collect();
    render(
        status,
        &WebhooksPage {
            b,
            org,
            action: scope.path(),
            notice,
            error,
            hooks,
            url: form.url,
            events,
            full,
        },
    )
}

fn secret_page(v: &Viewer, scope: &Scope, created: bool, new: NewWebhook, unread: i64) -> Response {
    let b = v.base(v.t("webhook_secret_title"), scope.path(), unread);
    let line = line(&b, &new.webhook);
    render(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &SecretPage {
            b,
            back: scope.path(),
            created,
            line,
            secret: new.secret,
        },
    )
}

/// The status a refusal re-renders the page with.
fn refusal(e: &Error) -> Option<StatusCode> {
    Some(match e {
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => return None,
    })
}

async fn scope_of(
    s: &crate::web::AppState,
    parts: &Parts,
    org: bool,
) -> Result<(Viewer, Scope), Response> {
    if org {
        let (v, org) = admin_viewer(s, parts).await?;
        Ok((v, Scope::Org(org)))
    } else {
        Ok((viewer(s, parts).await?, Scope::Mine))
    }
}

async fn show(s: &crate::web::AppState, parts: Parts, q: DoneParams, org: bool) -> Response {
    let (v, scope) = match scope_of(s, &parts, org).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let notice = q
        .done()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    page(s, &v, &scope, Form::default(), notice, None).await
}

async fn create(s: &crate::web::AppState, parts: Parts, body: Bytes, org: bool) -> Response {
    let (v, scope) = match scope_of(s, &parts, org).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(s, &field(&pairs, "csrf")).await {
        return r;
    }
    let form = Form {
        url: field(&pairs, "url"),
        events: pairs
            .iter()
            .filter(|(k, _)| k == "events")
            .map(|(_, e)| e.clone())
            .collect(),
    };
    let input = WebhookInput {
        url: form.url.clone(),
        events: form.events.clone(),
    };
    let result = match &scope {
        Scope::Mine => s.platform.create_my_webhook(&v.ctx, input).await,
        Scope::Org(org) => s.platform.create_org_webhook(&v.ctx, org, input).await,
    };
    match result {
        Ok(new) => {
            let u = unread(s, &v).await;
            secret_page(&v, &scope, true, new, u)
        }
        Err(Error::NotFound) => not_found(&v),
        Err(e) => match refusal(&e) {
            Some(status) => {
                let text = error_text(v.lang, &e);
                page(s, &v, &scope, form, None, Some((status, text))).await
            }
            None => e.into_response(),
        },
    }
}

async fn act(
    s: &crate::web::AppState,
    parts: Parts,
    id: String,
    action: String,
    body: Bytes,
    org: bool,
) -> Response {
    let (v, scope) = match scope_of(s, &parts, org).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(s, &field(&pairs, "csrf")).await {
        return r;
    }
    // The use cases decide who may (the owner, or an administrator of the owning
    // organisation); anyone else gets the same 404 as for an unknown webhook, audited.
    match action.as_str() {
        "secret" => match s.platform.rotate_webhook_secret(&v.ctx, &id).await {
            Ok(new) => {
                let u = unread(s, &v).await;
                secret_page(&v, &scope, false, new, u)
            }
            Err(Error::NotFound) => not_found(&v),
            Err(e @ Error::Conflict { .. }) => {
                let text = error_text(v.lang, &e);
                page(
                    s,
                    &v,
                    &scope,
                    Form::default(),
                    None,
                    Some((StatusCode::CONFLICT, text)),
                )
                .await
            }
            Err(e) => e.into_response(),
        },
        "delete" => match s.platform.delete_webhook(&v.ctx, &id).await {
            Ok(()) => see_other(&format!("{}?done=webhook_deleted", scope.path())),
            Err(Error::NotFound) => not_found(&v),
            Err(e) => e.into_response(),
        },
        _ => not_found(&v),
    }
}

pub async fn my_page(
    axum::extract::State(s): S,
    parts: Parts,
    Query(q): Query<DoneParams>,
) -> Response {
    show(&s, parts, q, false).await
}

pub async fn my_create(axum::extract::State(s): S, parts: Parts, body: Bytes) -> Response {
    create(&s, parts, body, false).await
}

pub async fn my_action(
    axum::extract::State(s): S,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    act(&s, parts, id, action, body, false).await
}

pub async fn org_page(
    axum::extract::State(s): S,
    parts: Parts,
    Query(q): Query<DoneParams>,
) -> Response {
    show(&s, parts, q, true).await
}

pub async fn org_create(axum::extract::State(s): S, parts: Parts, body: Bytes) -> Response {
    create(&s, parts, body, true).await
}

pub async fn org_action(
    axum::extract::State(s): S,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    act(&s, parts, id, action, body, true).await
}
