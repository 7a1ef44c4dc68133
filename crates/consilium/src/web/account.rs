//! `/api/v1/me/…`: the caller's own sessions and personal access tokens.

use super::AppState;
use super::extract::{Auth, Call};
use super::problem::Problem;
use crate::auth::service::{CreatedToken, SessionView, TokenView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// The caller's open browser sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>)))]
pub async fn list_sessions(
    State(s): S,
    Auth(ctx): Auth,
) -> Result<Json<Vec<SessionView>>, Problem> {
    Ok(Json(s.platform.list_sessions(&ctx).await?))
}

/// Ends one of the caller's sessions (another person's, or an unknown one: 404).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, body = Problem)))]
pub async fn revoke_session(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.platform.revoke_session(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's personal access tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(State(s): S, Auth(ctx): Auth) -> Result<Json<Vec<TokenView>>, Problem> {
    Ok(Json(s.platform.list_tokens(&ctx).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. "logiciel de cabinet".
    pub label: String,
    /// `read` (GET only) or `write`.
    pub scope: String,
    /// Lifetime in days, 1 to 365.
    pub days: i64,
}

/// Creates a personal access token; the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "account", security(("bearer" = [])),
    request_body = NewToken,
    responses((status = 201, body = CreatedToken)))]
pub async fn create_token(
    State(s): S,
    call: Call<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    let b = call.body;
    let t = s
        .platform
        .create_personal_token(&call.ctx, &b.label, &b.scope, b.days)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Revokes one of the caller's tokens (another person's, or an unknown one: 404).
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    s.platform.revoke_personal_token(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An administrator of one of the professional's organisations invites them: a single-use
/// link, valid 7 days, is emailed to them to choose a password (then enrol a second factor
/// if their role requires one).
#[utoipa::path(post, path = "/api/v1/directory/professionals/{id}/invite", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "invitation queued"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn invite(
    State(s): S,
    Path(id): Path<String>,
    call: Call<super::api::Empty>,
) -> Result<StatusCode, Problem> {
    s.platform.invite(&call.ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
