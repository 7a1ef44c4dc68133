//! HTTP transport: the JSON API under `/api/v1`, its OpenAPI document, health and metrics.
//! Handlers parse, call one `Platform` use case, and shape the answer; nothing else.

pub mod account;
pub mod api;
pub mod attachments;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod operations;
pub mod pages;
pub mod passkeys;
pub mod problem;
pub mod proxies;
pub mod reports;
pub mod routing;
pub mod ui;
pub mod webhooks;

use crate::config::Config;
use crate::platform::Platform;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub struct AppState {
    pub platform: Platform,
    pub config: Config,
    pub metrics: Arc<metrics::Metrics>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_body_bytes;
    let metrics = state.metrics.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .route("/api/openapi.json", get(openapi::serve))
        .nest("/api/v1", api::routes())
        .merge(pages::routes())
        .merge(passkeys::routes())
        .merge(ui::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(limit, body_limit))
        // Added after the body limit, so it does not wrap them (see `api::upload_routes`).
        .nest("/api/v1", api::upload_routes())
        .merge(ui::upload_routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            same_origin_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            provider_origin(&state),
            security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(
                proxies::TrustedProxies::parse(&state.config.trusted_proxies).unwrap_or_default(),
            ),
            client_address,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            crate::kernel::Error::Internal("panic".into()).into_response()
        }))
        .with_state(state)
}

/// Caps request bodies at `max_body_bytes` (413 before reading when the length is announced).
/// Attachment uploads are mounted outside it (`api::upload_routes`).
async fn body_limit(
    State(limit): State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return problem::problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request too large",
            format!("The body exceeds {limit} bytes."),
        )
        .into_response();
    }
    let req = req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit)));
    next.run(req).await
}

/// Decides the client's address once per request (`extract::ClientAddr`): the peer, or
/// behind a trusted proxy the address its `X-Forwarded-For` vouches for.
async fn client_address(
    State(trusted): State<Arc<proxies::TrustedProxies>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let client = trusted.client(peer, &forwarded);
        req.extensions_mut().insert(extract::ClientAddr(client));
    }
    next.run(req).await
}

async fn not_found() -> Response {
    crate::kernel::Error::NotFound.into_response()
}

/// The OpenID provider's origin, when sign-in with it is configured: forms of our pages
/// (sign-in with the provider, sign-out) answer with a redirect there, and browsers check
/// `form-action` on the redirects of a form submission too.
fn provider_origin(state: &AppState) -> Option<Arc<str>> {
    let issuer = &state.platform.auth.oidc.as_ref()?.settings.issuer;
    let origin = url::Url::parse(issuer).ok()?.origin();
    origin
        .is_tuple()
        .then(|| Arc::from(origin.ascii_serialization().as_str()))
}

async fn security_headers(
    State(provider): State<Option<Arc<str>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(origin) = provider.as_deref()
        && let Some(csp) = h
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.contains("form-action 'self'"))
        && let Ok(v) = HeaderValue::from_str(&csp.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ))
    {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Our own pages may tell our own server where a click came from; nobody else learns
    // a URL (case ids). With `no-referrer`, browsers send `Origin: null` on our own form
    // posts, which the CSRF guard must then treat as unknown.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // HTML pages set their own (still strict) policy; everything else gets the strictest.
    // A handler may also set a stricter one (downloads add `sandbox`).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    // Health data is never cached.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// CSRF, first line: a state-changing request that may ride on the browser's cookies (no
/// `Authorization` header) must come from our own origin: `Sec-Fetch-Site`, when the browser
/// sends it, must be `same-origin` or `none`, and `Origin`, when sent, must be ours. The
/// second line is the synchronizer token (`X-CSRF-Token` or the forms' hidden field).
async fn same_origin_guard(
    State(s): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let h = req.headers();
    if extract::is_safe_method(req.method()) || h.contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let site_ok = h
        .get("sec-fetch-site")
        .map(|v| matches!(v.to_str().unwrap_or(""), "same-origin" | "none"))
        .unwrap_or(true);
    let fetch_same_origin = h
        .get("sec-fetch-site")
        .is_some_and(|v| v.to_str().unwrap_or("") == "same-origin");
    let origin_ok = match h.get(header::ORIGIN).map(|v| v.to_str().unwrap_or("")) {
        None => true,
        // An opaque origin (a browser hiding it, or a sandboxed frame): only the browser's
        // own `Sec-Fetch-Site: same-origin` vouches for it.
        Some("null") => fetch_same_origin,
        Some(origin) => match &s.config.public_url {
            Some(u) => origin == u.trim_end_matches('/'),
            None => {
                let host = h
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let bare = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                !host.is_empty() && bare == Some(host)
            }
        },
    };
    if site_ok && origin_ok {
        return next.run(req).await;
    }
    if let Err(e) = s
        .platform
        .audit_refusal("auth.csrf", None, "cross-site request")
        .await
    {
        return e.into_response();
    }
    crate::kernel::Error::Forbidden("cross-site request refused".into()).into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    match s.platform.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

async fn metrics_endpoint(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
