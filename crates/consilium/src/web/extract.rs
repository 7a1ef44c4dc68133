//! Request extractors: the authenticated caller, and JSON bodies with precise errors and
//! an idempotency fingerprint.

use super::AppState;
use super::problem::{Problem, problem};
use crate::auth::model::{Stage, constant_time_eq};
use crate::auth::service::ClientInfo;
use crate::kernel::{Error, FieldError};
use crate::platform::{Ctx, IdempotencyKey};
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;

/// The authenticated caller.
pub struct Auth(pub Ctx);

/// The browser session cookie (`__Host-`: Secure, Path=/, no Domain).
pub const SESSION_COOKIE: &str = "__Host-consilium-session";
/// The sign-in form's CSRF cookie, before there is a session (double submit).
pub const LOGIN_CSRF_COOKIE: &str = "__Host-consilium-csrf";
/// The header carrying the session's CSRF token on state-changing API calls made with the
/// session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Where the request comes from: the peer address (the connection's) and the user agent.
/// The client's address, as decided for this request (`web::client_address`: the peer, or
/// what a trusted proxy's `X-Forwarded-For` says).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

pub fn client_info(parts: &Parts) -> ClientInfo {
    let address = parts
        .extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    ClientInfo {
        address,
        user_agent,
    }
}

pub fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticates by bearer token (API clients) or by session cookie (browsers). A
/// state-changing request authenticated by cookie must carry the session's CSRF token in
/// `X-CSRF-Token` (bearer requests cannot be forged cross-site: a browser never adds the
/// header by itself). A read-only token may only read.
async fn authenticate(parts: &Parts, state: &Arc<AppState>) -> Result<Ctx, Problem> {
    let safe = is_safe_method(&parts.method);
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        return match state.platform.authenticate_token(token).await? {
            Some((actor, scope)) if scope.allows(safe) => Ok(Ctx::new(actor)),
            Some((actor, _)) => {
                state
                    .platform
                    .audit_refusal("auth.scope", Some(&actor), "read-only token")
                    .await?;
                Err(Error::Forbidden("this token may only read".into()).into())
            }
            None => {
                state
                    .platform
                    .audit_auth_failure("unknown, expired or revoked token")
                    .await?;
                Err(Error::Unauthenticated.into())
            }
        };
    }
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(Error::Unauthenticated.into());
    };
    match state.platform.session(&token).await? {
        Some(s) if s.stage == Stage::Full => {
            if !safe {
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !constant_time_eq(sent.as_bytes(), s.csrf.as_bytes()) {
                    state
                        .platform
                        .audit_refusal("auth.csrf", Some(&s.actor), "missing or wrong CSRF token")
                        .await?;
                    return Err(Error::Forbidden("missing or wrong CSRF token".into()).into());
                }
            }
            let mut ctx = Ctx::new(s.actor);
            ctx.session = Some(s.id);
            Ok(ctx)
        }
        _ => {
            state
                .platform
                .audit_refusal("auth.session", None, "unknown, ended or incomplete session")
                .await?;
            Err(Error::Unauthenticated.into())
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        authenticate(parts, state).await.map(Auth)
    }
}

/// An authenticated request with a JSON body. Carries the `Idempotency-Key`, if any,
/// fingerprinted with the method, path and body.
pub struct Call<T> {
    pub ctx: Ctx,
    pub body: T,
    /// No body was sent (parsed as `{}`): a replacing `PUT` refuses that rather than
    /// reset everything.
    pub empty: bool,
}

impl<T> Call<T> {
    /// For operations that replace a whole setting: a missing body is an error.
    #[allow(clippy::result_large_err)]
    pub fn require_body(&self) -> Result<(), Problem> {
        if self.empty {
            return Err(Error::invalid(
                "body",
                "the new value is required (send {} explicitly to reset it)",
            )
            .into());
        }
        Ok(())
    }
}

#[allow(clippy::result_large_err)]
/// Parses a JSON object. A request that sends no body at all (no `Content-Type`, nothing or
/// only blanks) counts as `{}`, so `curl -X POST …/accept` works; a body declared as JSON
/// must be JSON.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], declared_json: bool) -> Result<T, Problem> {
    let bytes = if !declared_json && bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    // Every body of this API is an object; serde would also accept a struct as an array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid("body", "must be a JSON object").into());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        let text = inner.to_string();
        // "missing field `x`" is about x, not about the object that lacks it.
        if let Some(name) = text
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            field = if field == "body" {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("is not valid JSON ({inner})")
        } else {
            text
        };
        Error::Invalid(vec![FieldError::new(field, message)]).into()
    })
}

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for Call<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Problem> {
        let (parts, body) = req.into_parts();
        let ctx = authenticate(&parts, state).await?;
        let declared_json = parts.headers.contains_key(header::CONTENT_TYPE);
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE)
            && !ct
                .to_str()
                .unwrap_or_default()
                .starts_with("application/json")
        {
            return Err(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".into(),
            ));
        }
        let key = idempotency_key(&parts.headers)?;
        let method = parts.method.clone();
        let path = parts.uri.path().to_string();
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too-large",
                        "Request too large",
                        format!("The body exceeds {} bytes.", state.config.max_body_bytes),
                    )
                } else {
                    problem(
                        StatusCode::BAD_REQUEST,
                        "bad-body",
                        "Unreadable body",
                        e.body_text(),
                    )
                }
            })?;
        let ctx = match key {
            None => ctx,
            Some(k) => {
                let mut h = Sha256::new();
                h.update(method.as_str());
                h.update([0]);
                h.update(path.as_bytes());
                h.update([0]);
                h.update(&bytes);
                ctx.with_key(IdempotencyKey {
                    key: k,
                    fingerprint: hex::encode(h.finalize()),
                })
            }
        };
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        let body = parse_json(&bytes, declared_json)?;
        Ok(Call { ctx, body, empty })
    }
}

/// The `Idempotency-Key` header, if any: 1 to 200 visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> crate::kernel::Result<Option<String>> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(k)) if !k.is_empty() && k.len() <= 200 => Ok(Some(k.to_string())),
        Some(_) => Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 200 visible ASCII characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_json;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: u8,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        name: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Outer>(br#"{"inner": {"a": 1}}"#, true).expect_err("missing name");
        assert_eq!(e.errors[0].field, "name");
        let e = parse_json::<Outer>(br#"{"inner": {}, "name": "x"}"#, true).expect_err("missing a");
        assert_eq!(e.errors[0].field, "inner.a");
        let e = parse_json::<Outer>(br#"{"inner": {"a": 300}, "name": "x"}"#, true)
            .expect_err("overflow");
        assert_eq!(e.errors[0].field, "inner.a");
        let e = parse_json::<Inner>(b"[1]", true).expect_err("array for a struct");
        assert_eq!(e.errors[0].message, "must be a JSON object");
        let e = parse_json::<Inner>(b"\n", true).expect_err("declared JSON, blank body");
        assert_eq!(e.errors[0].field, "body");
        assert!(
            parse_json::<super::super::api::Empty>(b"", false).is_ok(),
            "no body at all"
        );
        let e = parse_json::<Outer>(b"{not json", true).expect_err("syntax");
        assert_eq!(e.errors[0].field, "body");
        assert!(e.errors[0].message.contains("not valid JSON"));
    }
}
