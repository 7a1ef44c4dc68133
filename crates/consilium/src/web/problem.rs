//! Errors as RFC 9457 `application/problem+json`, with field details.

use crate::kernel::{Error, FieldError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Field errors, for 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The case's current state, for 409.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    /// Seconds to wait, for 429 (also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

pub fn problem(status: StatusCode, kind: &str, title: &str, detail: String) -> Problem {
    Problem {
        kind: format!("https://consilium.example/problems/{kind}"),
        title: title.into(),
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
        current_state: None,
        retry_after: None,
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"consilium\""),
            );
        }
        r
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "No such object, or you may not see it.".into(),
            ),
            Error::Unauthenticated => problem(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                "Send a valid bearer token in the Authorization header, or sign in.".into(),
            ),
            Error::Forbidden(m) => problem(StatusCode::FORBIDDEN, "forbidden", "Forbidden", m),
            Error::Invalid(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Problem {
                    errors,
                    ..problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid",
                        "Invalid input",
                        detail,
                    )
                }
            }
            Error::Conflict {
                message,
                current_state,
            } => Problem {
                current_state,
                ..problem(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Not possible now",
                    message,
                )
            },
            Error::TooLarge(m) => {
                problem(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Too large", m)
            }
            Error::UnsupportedType(m) => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-type",
                "Type not accepted",
                m,
            ),
            Error::Gone(m) => problem(StatusCode::GONE, "gone", "Gone", m),
            Error::IdempotencyMismatch => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request.".into(),
            ),
            Error::TooManyRequests { retry_after } => Problem {
                retry_after: Some(retry_after),
                ..problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-attempts",
                    "Too many attempts",
                    format!("Too many failed attempts; try again in {retry_after} s."),
                )
            },
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "service unavailable");
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Temporarily unavailable",
                    "Try again shortly.".into(),
                )
            }
            Error::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "Something went wrong on our side; nothing was changed.".into(),
                )
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}
