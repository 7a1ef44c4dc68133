//! One error type for the whole core, mapped to HTTP at the edge (`web::problem`).

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `patient.ins`.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown, or not visible to the caller: the two are indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthenticated,
    /// The caller can see the object but their role does not allow this action.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The action is not allowed in the object's current state (or lost a race).
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        current_state: Option<String>,
    },
    /// A body (an upload) over its size limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Content of a type that is not accepted.
    #[error("unsupported media type: {0}")]
    UnsupportedType(String),
    /// The object existed but was destroyed on purpose (a purged case's attachments).
    #[error("gone: {0}")]
    Gone(String),
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// Too many failed attempts: try again after `retry_after` seconds.
    #[error("too many attempts, retry after {retry_after} s")]
    TooManyRequests { retry_after: i64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
    pub fn conflict(message: impl Into<String>, current_state: Option<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            current_state,
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Error::Unavailable("database unreachable".into())
            }
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

/// Collects field errors while validating a whole input, so the caller gets all of them at once.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        r: std::result::Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.to_string());
                None
            }
        }
    }
    pub fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
