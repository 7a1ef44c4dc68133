//! Webhooks over HTTP: a professional's own (`/me/webhooks`), an organisation's (its
//! administrators), a new secret, and deletion (owner or administrator; anyone else 404).

use super::AppState;
use super::extract::{Auth, Call};
use super::problem::Problem;
use crate::webhooks::{NewWebhook, Webhook, WebhookInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;

type S = State<Arc<AppState>>;
type ApiResult<T> = std::result::Result<Json<T>, Problem>;
type Created<T> = std::result::Result<(StatusCode, Json<T>), Problem>;

/// The caller's webhooks (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/me/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 401, body = Problem)))]
pub async fn my_webhooks(State(s): S, Auth(ctx): Auth) -> ApiResult<Vec<Webhook>> {
    Ok(Json(s.platform.my_webhooks(&ctx).await?))
}

/// Register a webhook for the caller's cases (those they requested or hold): events are
/// POSTed to `url` (https, public host), signed with HMAC-SHA256 in `Consilium-Signature:
/// t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<body>")>`. The secret is in this answer
/// only. At most 10 webhooks each (409).
#[utoipa::path(post, path = "/api/v1/me/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = WebhookInput,
    responses((status = 201, body = NewWebhook), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_my_webhook(State(s): S, call: Call<WebhookInput>) -> Created<NewWebhook> {
    Ok((
        StatusCode::CREATED,
        Json(s.platform.create_my_webhook(&call.ctx, call.body).await?),
    ))
}

/// An organisation's webhooks (its administrators; others 403).
#[utoipa::path(get, path = "/api/v1/directory/organisations/{id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "organisation id")),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn org_webhooks(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<Vec<Webhook>> {
    Ok(Json(s.platform.org_webhooks(&ctx, &id).await?))
}

/// Register a webhook for an organisation (its administrators; others 403): events of the
/// cases its members request or hold and of its teams' cases.
#[utoipa::path(post, path = "/api/v1/directory/organisations/{id}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "organisation id")),
    request_body = WebhookInput,
    responses((status = 201, body = NewWebhook), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_org_webhook(
    State(s): S,
    Path(id): Path<String>,
    call: Call<WebhookInput>,
) -> Created<NewWebhook> {
    Ok((
        StatusCode::CREATED,
        Json(
            s.platform
                .create_org_webhook(&call.ctx, &id, call.body)
                .await?,
        ),
    ))
}

/// Give a webhook a new signing secret, in this answer only: its owner, or an administrator
/// of its organisation (others 404). The old secret stops at once: deliveries already
/// queued, retries included, are signed when they are sent, with the secret in force then.
/// No body. Not replayed with `Idempotency-Key` (the answer holds a secret, which is never
/// stored in clear): a retry rotates again, and the last answer holds the secret in force.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, body = NewWebhook), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_secret(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<NewWebhook> {
    Ok(Json(s.platform.rotate_webhook_secret(&ctx, &id).await?))
}

/// Delete a webhook: its owner, or an administrator of its organisation (others 404).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, Problem> {
    s.platform.delete_webhook(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
