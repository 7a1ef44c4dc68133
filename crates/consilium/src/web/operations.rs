//! `/api/v1/operations/…`: the job queue for the platform's operators (`operators` in the
//! configuration): list jobs, revive a dead one.

use super::AppState;
use super::api::Q;
use super::extract::{Auth, Call};
use super::problem::Problem;
use crate::jobs::model::JobState;
use crate::jobs::operations::JobView;
use crate::kernel::Error;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

type S = State<Arc<AppState>>;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `dead` (default), `pending`, `running` or `done`.
    pub state: Option<String>,
    /// At most this many (1–500, default 100), most recently changed first.
    pub limit: Option<i64>,
}

/// Jobs of the queue (dead ones by default), for the platform's operators (others 403).
#[utoipa::path(get, path = "/api/v1/operations/jobs", tag = "operations", security(("bearer" = [])),
    params(JobQuery),
    responses((status = 200, body = Vec<JobView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_jobs(
    State(s): S,
    Auth(ctx): Auth,
    Q(q): Q<JobQuery>,
) -> Result<Json<Vec<JobView>>, Problem> {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(x) => Some(
            JobState::parse(x)
                .ok_or_else(|| Error::invalid("state", "must be dead, pending, running or done"))?,
        ),
    };
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => return Err(Error::invalid("limit", "must be between 1 and 500").into()),
    };
    Ok(Json(
        s.platform
            .list_jobs(&ctx, &s.config.operators, state, limit)
            .await?,
    ))
}

/// Put a dead job back in the queue, due now, its attempts reset (platform operators; a
/// job that is not dead: 409).
#[utoipa::path(post, path = "/api/v1/operations/jobs/{id}/retry", tag = "operations", security(("bearer" = [])),
    params(("id" = String, Path, description = "job id")),
    request_body = super::api::Empty,
    responses((status = 200, body = JobView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_job(
    State(s): S,
    Path(id): Path<String>,
    call: Call<super::api::Empty>,
) -> Result<Json<JobView>, Problem> {
    Ok(Json(
        s.platform
            .retry_job(&call.ctx, &s.config.operators, &id)
            .await?,
    ))
}
