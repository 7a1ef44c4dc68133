//! Routing rules over HTTP: an expert's own acceptance rules and absences (`/me/…`), a
//! team's rules and rota (its organisation's administrators), the requester's search for
//! who would accept a request, and the case assigner's team board.

use super::AppState;
use super::api::Q;
use super::extract::{Auth, Call};
use super::problem::Problem;
use crate::directory::model::Team;
use crate::kernel::Error;
use crate::routing::board::{Offers, TeamBoard};
use crate::routing::model::AcceptanceRules;
use crate::routing::rules::{
    Absence, AbsenceInput, ExpertRouting, RotaInput, TeamMembersInput, TeamPolicyInput,
    TeamRoutingRules, WeeklyRotaInput,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

type S = State<Arc<AppState>>;
type ApiResult<T> = std::result::Result<Json<T>, Problem>;

/// The caller's acceptance rules and absences not yet over (empty for those who do not
/// answer requests).
#[utoipa::path(get, path = "/api/v1/me/routing", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = ExpertRouting), (status = 401, body = Problem)))]
pub async fn my_routing(State(s): S, Auth(ctx): Auth) -> ApiResult<ExpertRouting> {
    Ok(Json(s.platform.my_routing(&ctx).await?))
}

/// Replace the caller's acceptance rules: requester professions (TRE_G15), territories
/// (départements, INSEE regions, postcodes; all empty: anywhere), maximum open cases.
/// Doctors and midwives only (R4; others 403).
#[utoipa::path(put, path = "/api/v1/me/acceptance-rules", tag = "routing", security(("bearer" = [])),
    request_body = AcceptanceRules,
    responses((status = 200, body = AcceptanceRules), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_my_rules(State(s): S, call: Call<AcceptanceRules>) -> ApiResult<AcceptanceRules> {
    call.require_body()?;
    Ok(Json(s.platform.set_my_rules(&call.ctx, call.body).await?))
}

/// Record an absence (from, to, optional delegate who may answer). Doctors and midwives
/// only. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/me/absences", tag = "routing", security(("bearer" = [])),
    request_body = AbsenceInput,
    responses((status = 201, body = Absence), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn add_absence(
    State(s): S,
    call: Call<AbsenceInput>,
) -> std::result::Result<(StatusCode, Json<Absence>), Problem> {
    Ok((
        StatusCode::CREATED,
        Json(s.platform.add_absence(&call.ctx, call.body).await?),
    ))
}

/// Delete one of the caller's absences (someone else's, or an unknown one: 404).
#[utoipa::path(delete, path = "/api/v1/me/absences/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "absence id")),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete_absence(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, Problem> {
    s.platform.delete_absence(&ctx, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Record a professional's absence: an administrator of one of their organisations (for a
/// sick leave, say), or the professional themselves. Others 403; someone who receives no
/// requests (not a doctor or midwife) 422. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/directory/professionals/{id}/absences", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = AbsenceInput,
    responses((status = 201, body = Absence), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_absence_for(
    State(s): S,
    Path(id): Path<String>,
    call: Call<AbsenceInput>,
) -> std::result::Result<(StatusCode, Json<Absence>), Problem> {
    call.require_body()?;
    Ok((
        StatusCode::CREATED,
        Json(
            s.platform
                .add_absence_for(&call.ctx, &id, call.body)
                .await?,
        ),
    ))
}

/// Delete an absence: the absent professional, or an administrator of one of their
/// organisations (anyone else, or an unknown absence: 404).
#[utoipa::path(delete, path = "/api/v1/directory/absences/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "absence id")),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete_any_absence(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, Problem> {
    s.platform.delete_absence(&ctx, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a team's members (an administrator of its organisation): at least one member,
/// at least one case assigner, doctors and midwives only. Cases already assigned to someone
/// who leaves stay theirs until reassigned.
#[utoipa::path(put, path = "/api/v1/directory/teams/{id}/members", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = TeamMembersInput,
    responses((status = 200, body = Team), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_team_members(
    State(s): S,
    Path(id): Path<String>,
    call: Call<TeamMembersInput>,
) -> ApiResult<Team> {
    call.require_body()?;
    Ok(Json(
        s.platform
            .set_team_members(&call.ctx, &id, call.body)
            .await?,
    ))
}

/// Change how a team shares its requests (an administrator of its organisation): policy
/// (`self_service`, `moderated`, `auto_assign`, `hybrid`), ordering, hours to accept, hours
/// in a hybrid pool, and whether team-mates see the patient's identity in the pool
/// (`hide_identity_in_pool`; absent: unchanged). Cases already waiting keep their timers.
#[utoipa::path(put, path = "/api/v1/directory/teams/{id}/policy", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = TeamPolicyInput,
    responses((status = 200, body = Team), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_team_policy(
    State(s): S,
    Path(id): Path<String>,
    call: Call<TeamPolicyInput>,
) -> ApiResult<Team> {
    call.require_body()?;
    let body = call.body;
    s.platform
        .set_team_policy(
            &call.ctx,
            &id,
            body.policy,
            body.routing,
            body.hide_identity_in_pool,
        )
        .await?;
    Ok(Json(s.platform.get_team(&id).await?))
}

/// A professional's acceptance rules and absences: themselves, or an administrator of one
/// of their organisations (others 403).
#[utoipa::path(get, path = "/api/v1/directory/professionals/{id}/routing", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = ExpertRouting), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn professional_routing(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<ExpertRouting> {
    Ok(Json(s.platform.professional_routing(&ctx, &id).await?))
}

/// A team's acceptance rules and on-call rota: its members and the administrators of its
/// organisation (others 403).
#[utoipa::path(get, path = "/api/v1/directory/teams/{id}/routing", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = TeamRoutingRules), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn team_routing(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<TeamRoutingRules> {
    Ok(Json(s.platform.team_routing(&ctx, &id).await?))
}

/// Replace a team's acceptance rules (an administrator of its organisation).
#[utoipa::path(put, path = "/api/v1/directory/teams/{id}/acceptance-rules", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = AcceptanceRules,
    responses((status = 200, body = TeamRoutingRules), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_team_rules(
    State(s): S,
    Path(id): Path<String>,
    call: Call<AcceptanceRules>,
) -> ApiResult<TeamRoutingRules> {
    call.require_body()?;
    Ok(Json(
        s.platform.set_team_rules(&call.ctx, &id, call.body).await?,
    ))
}

/// Replace a team's on-call rota (an administrator of its organisation): slots of its
/// members; with a rota, automatic assignment offers requests only to the member(s) on
/// call. An empty list removes the rota.
#[utoipa::path(put, path = "/api/v1/directory/teams/{id}/rota", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = RotaInput,
    responses((status = 200, body = TeamRoutingRules), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_team_rota(
    State(s): S,
    Path(id): Path<String>,
    call: Call<RotaInput>,
) -> ApiResult<TeamRoutingRules> {
    call.require_body()?;
    Ok(Json(
        s.platform.set_team_rota(&call.ctx, &id, call.body).await?,
    ))
}

/// Replace a team's weekly on-call slots (an administrator of its organisation): every
/// `day` from `start` to `end`, Paris time (`end` not after `start`: the next day), used
/// with the absolute slots of `/rota`. An empty list removes them.
#[utoipa::path(put, path = "/api/v1/directory/teams/{id}/weekly-rota", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = WeeklyRotaInput,
    responses((status = 200, body = TeamRoutingRules), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_team_weekly_rota(
    State(s): S,
    Path(id): Path<String>,
    call: Call<WeeklyRotaInput>,
) -> ApiResult<TeamRoutingRules> {
    call.require_body()?;
    Ok(Json(
        s.platform
            .set_team_weekly_rota(&call.ctx, &id, call.body)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferSearch {
    /// TRE_R38 specialty code (required).
    pub specialty: Option<String>,
    /// At most this many experts (1–100, default 20).
    pub limit: Option<i64>,
}

/// Who would accept the caller's request in a specialty now: experts and teams whose
/// acceptance rules take the caller's profession and practice territory, not at their load
/// cap, not absent; each with its expected delay (median time to answer over the last 90
/// days, null without history).
#[utoipa::path(get, path = "/api/v1/directory/offers", tag = "routing", security(("bearer" = [])),
    params(OfferSearch),
    responses((status = 200, body = Offers), (status = 422, body = Problem)))]
pub async fn offers(State(s): S, Auth(ctx): Auth, Q(q): Q<OfferSearch>) -> ApiResult<Offers> {
    let specialty = q
        .specialty
        .filter(|x| !x.is_empty())
        .ok_or_else(|| Error::invalid("specialty", "is required"))?;
    let limit = match q.limit {
        None => 20,
        Some(n) if (1..=100).contains(&n) => n,
        Some(_) => return Err(Error::invalid("limit", "must be between 1 and 100").into()),
    };
    Ok(Json(
        s.platform.search_offers(&ctx, &specialty, limit).await?,
    ))
}

/// The team board for its case assigners and its organisation's administrators: open
/// cases per member (count, oldest), pool, due within 48 hours, overdue. Anyone else: 404.
#[utoipa::path(get, path = "/api/v1/directory/teams/{id}/board", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = TeamBoard), (status = 404, body = Problem)))]
pub async fn board(State(s): S, Auth(ctx): Auth, Path(id): Path<String>) -> ApiResult<TeamBoard> {
    Ok(Json(s.platform.team_board(&ctx, &id).await?))
}
