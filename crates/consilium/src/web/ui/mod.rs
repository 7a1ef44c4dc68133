//! The web interface: server-rendered pages (askama) for requesters, experts, case
//! assigners and administrators, in French by default (English with `?lang=en`).
//!
//! Every page is a thin layer over the same `Platform` use cases as the JSON API: a page
//! handler resolves the browser session, calls use cases with the caller's `Ctx`, and
//! renders. Forms post back here with the session's synchronizer token (hidden field
//! `csrf`); a success redirects (303, post/redirect/get), a refusal re-renders the page
//! with a clear message and changes nothing. Pages work without script; `app.js` adds
//! upload progress, drag and drop, live INS key checking, the image viewer and live
//! updates (it polls a small JSON endpoint).

pub mod admin;
pub mod availability;
pub mod cases;
pub mod i18n;
pub mod my_templates;
pub mod new_request;
pub mod team_settings;
pub mod teams;
pub mod webhooks;

use super::AppState;
use super::extract::{SESSION_COOKIE, cookie};
use crate::auth::model::{Stage, constant_time_eq};
use crate::auth::service::SessionInfo;
use crate::directory::model::{Professional, Team};
use crate::kernel::{Error, Timestamp};
use crate::platform::Ctx;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
pub use i18n::Lang;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// The pages' policy: our own script and style only, images from us (thumbnails, the
/// viewer's blob URLs), fetches to us; nothing inline.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// The language cookie (a preference, not a secret).
const LANG_COOKIE: &str = "consilium-lang";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/lang/{code}", get(set_lang))
        .route("/cases", get(cases::list_page))
        .route(
            "/cases/new",
            get(new_request::form_page).post(new_request::submit),
        )
        .route("/cases/{id}", get(cases::case_page))
        .route("/cases/{id}/live", get(cases::live))
        .route("/cases/{id}/do/{action}", post(cases::action))
        .route("/live", get(cases::live_counts))
        .route("/notifications", get(cases::notifications_page))
        .route("/billing", get(cases::billing_page))
        .route("/me/availability", get(availability::availability_page))
        .route("/me/templates", get(my_templates::templates_page))
        .route("/me/templates/{id}/{action}", post(my_templates::post))
        .route("/me/availability/{action}", post(availability::post))
        .route(
            "/me/availability/absences/{id}/delete",
            post(availability::delete_absence),
        )
        .route("/teams/{id}", get(admin::team_board))
        .route("/teams/{id}/settings", get(team_settings::settings_page))
        .route("/teams/{id}/settings/{action}", post(team_settings::post))
        .route("/admin/audit", get(admin::audit_page))
        .route(
            "/admin/teams",
            get(teams::teams_page).post(teams::create_team),
        )
        .route(
            "/admin/members",
            get(admin::members_page).post(admin::add_member),
        )
        .route("/admin/members/{id}/{action}", post(admin::member_action))
        .route("/admin/activity", get(admin::activity_page))
        .route(
            "/me/webhooks",
            get(webhooks::my_page).post(webhooks::my_create),
        )
        .route("/me/webhooks/{id}/{action}", post(webhooks::my_action))
        .route(
            "/admin/webhooks",
            get(webhooks::org_page).post(webhooks::org_create),
        )
        .route("/admin/webhooks/{id}/{action}", post(webhooks::org_action))
        .route("/patient-information", get(new_request::information_sheet))
}

/// The page upload, outside the general body limit like the API's (the attachment limits
/// apply while the body streams).
pub fn upload_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/cases/{id}/files",
        post(cases::upload).layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

/// What every page's frame needs: language, the caller, the CSRF token, counters.
pub struct Base {
    pub lang: Lang,
    pub title: String,
    pub csrf: String,
    pub name: String,
    pub profession: String,
    pub is_expert: bool,
    /// Teams whose case assigner the caller is: (id, name).
    pub assigner_of: Vec<(String, String)>,
    pub is_admin: bool,
    pub unread: i64,
    /// The path of this page, for the language switch.
    pub path: String,
}

impl Base {
    pub fn t(&self, key: &str) -> &'static str {
        i18n::t(self.lang, key)
    }
    pub fn other_lang(&self) -> &'static str {
        match self.lang {
            Lang::Fr => "en",
            Lang::En => "fr",
        }
    }
    pub fn other_lang_label(&self) -> &'static str {
        match self.lang {
            Lang::Fr => "English",
            Lang::En => "Français",
        }
    }
    pub fn html_lang(&self) -> &'static str {
        match self.lang {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
    /// Date and time for display: Europe/Paris, French format in both languages.
    pub fn when(&self, t: &Timestamp) -> String {
        super::pages::paris(*t)
    }
}

/// The signed-in caller of a page.
pub struct Viewer {
    pub ctx: Ctx,
    pub session: SessionInfo,
    pub me: Professional,
    pub teams: Vec<Team>,
    pub admin_orgs: Vec<String>,
    pub lang: Lang,
}

impl Viewer {
    pub fn id(&self) -> &str {
        &self.me.id
    }
    pub fn base(&self, title: impl Into<String>, path: impl Into<String>, unread: i64) -> Base {
        Base {
            lang: self.lang,
            title: title.into(),
            csrf: self.session.csrf.clone(),
            name: self.me.display_name.clone(),
            profession: self.me.profession_label.clone(),
            is_expert: self.me.may_be_expert,
            assigner_of: self
                .teams
                .iter()
                .filter(|t| {
                    t.members
                        .iter()
                        .any(|m| m.professional_id == self.me.id && m.is_assigner)
                })
                .map(|t| (t.id.clone(), t.name.clone()))
                .collect(),
            is_admin: !self.admin_orgs.is_empty(),
            unread,
            path: percent_encode(&path.into()),
        }
    }
    pub fn t(&self, key: &str) -> &'static str {
        i18n::t(self.lang, key)
    }
    /// Checks a form's synchronizer token; a mismatch is audited and refused.
    pub async fn check_csrf(&self, s: &AppState, sent: &str) -> Result<(), Response> {
        if constant_time_eq(sent.as_bytes(), self.session.csrf.as_bytes()) {
            return Ok(());
        }
        if let Err(e) = s
            .platform
            .audit_refusal(
                "auth.csrf",
                Some(&self.session.actor),
                "missing or wrong form token",
            )
            .await
        {
            return Err(e.into_response());
        }
        Err(simple_page(
            StatusCode::FORBIDDEN,
            self.lang,
            self.t("form_expired"),
            self.t("form_expired_text"),
        ))
    }
}

/// The language: the `lang` query parameter wins, then the cookie the language switch
/// sets; French otherwise (the product's default, whatever the browser's language).
pub fn lang_of(parts: &Parts) -> Lang {
    if let Some(q) = parts.uri.query() {
        for kv in q.split('&') {
            if let Some(v) = kv.strip_prefix("lang=") {
                return Lang::parse(v);
            }
        }
    }
    match cookie(&parts.headers, LANG_COOKIE) {
        Some(c) => Lang::parse(&c),
        None => Lang::Fr,
    }
}

/// The signed-in caller, or the response to send instead (the sign-in page).
pub async fn viewer(s: &AppState, parts: &Parts) -> Result<Viewer, Response> {
    let lang = lang_of(parts);
    let session = match cookie(&parts.headers, SESSION_COOKIE) {
        Some(t) => s
            .platform
            .session(&t)
            .await
            .map_err(|e| e.into_response())?,
        None => None,
    };
    let session = match session {
        Some(x) if x.stage == Stage::Full => x,
        Some(x) if x.stage == Stage::SecondFactor => return Err(see_other("/auth/second-factor")),
        Some(_) => return Err(see_other("/auth/enrol")),
        None => return Err(see_other("/auth/login")),
    };
    let me_id = session
        .actor
        .id()
        .ok_or(Error::Unauthenticated)
        .map_err(|e| e.into_response())?
        .to_string();
    let (me, teams, admin_orgs) = s
        .platform
        .standing(&me_id)
        .await
        .map_err(|e| e.into_response())?;
    let mut ctx = Ctx::new(session.actor.clone());
    ctx.session = Some(session.id.clone());
    Ok(Viewer {
        ctx,
        session,
        me,
        teams,
        admin_orgs,
        lang,
    })
}

/// The count of unread notifications (the badge in the header).
pub async fn unread(s: &AppState, v: &Viewer) -> i64 {
    s.platform
        .list_notifications(&v.ctx, true, 1)
        .await
        .map(|l| l.unread)
        .unwrap_or(0)
}

pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Renders a page with the pages' CSP.
pub fn render(status: StatusCode, t: &impl Template) -> Response {
    super::pages::render_with_csp(status, t, APP_CSP)
}

/// The "not found" page: unknown, invisible, or not for this role (indistinguishable).
pub fn not_found(v: &Viewer) -> Response {
    simple_page(
        StatusCode::NOT_FOUND,
        v.lang,
        v.t("err_not_found_title"),
        v.t("err_not_found"),
    )
}

#[derive(Template)]
#[template(path = "ui/message.html")]
struct SimplePage<'a> {
    lang: &'a str,
    title: &'a str,
    text: &'a str,
}

/// A page with a title and a sentence (errors outside the frame).
pub fn simple_page(status: StatusCode, lang: Lang, title: &str, text: &str) -> Response {
    render(
        status,
        &SimplePage {
            lang: match lang {
                Lang::Fr => "fr",
                Lang::En => "en",
            },
            title,
            text,
        },
    )
}

/// What a refused action tells the user, in their language. Details written for the API
/// (field names, English) are kept for invalid input, after a translated lead.
pub fn error_text(lang: Lang, e: &Error) -> String {
    let t = |k| i18n::t(lang, k);
    match e {
        Error::NotFound => t("err_not_found").to_string(),
        Error::Unauthenticated => t("err_unauthenticated").to_string(),
        Error::Forbidden(m) => format!("{} ({m})", t("err_forbidden")),
        Error::Invalid(list) => {
            let details: Vec<String> = list
                .iter()
                .map(|f| {
                    format!(
                        "{} : {}",
                        i18n::field_label(lang, &f.field),
                        i18n::message(lang, &f.message)
                    )
                })
                .collect();
            format!("{} {}", t("err_invalid"), details.join(" ; "))
        }
        Error::Conflict { message, .. } => {
            format!("{} ({})", t("err_conflict"), i18n::message(lang, message))
        }
        Error::TooLarge(m) => format!("{} ({m})", t("err_too_large")),
        Error::UnsupportedType(m) => format!("{} ({m})", t("err_type")),
        Error::Gone(_) => t("err_gone").to_string(),
        Error::TooManyRequests { .. } => t("err_too_many").to_string(),
        Error::IdempotencyMismatch => t("err_conflict").to_string(),
        Error::Unavailable(_) | Error::Internal(_) => t("err_internal").to_string(),
    }
}

async fn home(State(s): S, parts: Parts) -> Response {
    match viewer(&s, &parts).await {
        Ok(_) => see_other("/cases"),
        Err(r) => r,
    }
}

async fn set_lang(
    axum::extract::Path(code): axum::extract::Path<String>,
    parts: Parts,
) -> Response {
    let lang = Lang::parse(&code);
    // Back where the user was (same-origin paths only).
    let back = parts
        .uri
        .query()
        .and_then(|q| q.strip_prefix("back="))
        .map(percent_decode)
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/cases".into());
    let mut r = see_other(&back);
    let value = format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn css() -> Response {
    static_asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    )
}

async fn js() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    )
}

pub(crate) fn static_asset(kind: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, kind)], body).into_response();
    // Not health data: cacheable for an hour (the security layer keeps `no-store` for the rest).
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}
