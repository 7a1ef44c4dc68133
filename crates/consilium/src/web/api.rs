//! `/api/v1` handlers.

use super::AppState;
use super::account;
use super::attachments;
use super::extract::{Auth, Call};
use super::operations;
use super::problem::Problem;
use super::reports;
use super::routing;
use super::webhooks;
use crate::billing::service::{ActView, CaseBilling, Counters};
use crate::cases::model::Outcome;
use crate::cases::repo::{CaseEvent, Message, View};
use crate::cases::service::{
    AnswerInput, AssignInput, CancelInput, CaseSummary, CaseView, ConsentInput, ConvertInput,
    DeclineInput, DraftPatch, ForwardInput, ListQuery, NewCase, TextInput,
};
use crate::codes::{self, Profession, Specialty};
use crate::directory::model::{AddMember, Organisation, Professional, Team, TeamInput};
use crate::kernel::{Error, Result, Timestamp};
use crate::patients::model::{Patient, PatientInput, PatientView};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

type S = State<Arc<AppState>>;
type ApiResult<T> = std::result::Result<Json<T>, Problem>;
type Created<T> = std::result::Result<(StatusCode, Json<T>), Problem>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/me", get(me))
        .route(
            "/me/notification-settings",
            get(get_notification_settings).put(put_notification_settings),
        )
        .route("/notifications", get(list_notifications))
        .route("/notifications/{id}/read", post(read_notification))
        .route(
            "/directory/professionals/{id}/invite",
            post(account::invite),
        )
        .route("/me/sessions", get(account::list_sessions))
        .route(
            "/me/sessions/{id}",
            axum::routing::delete(account::revoke_session),
        )
        .route(
            "/me/tokens",
            get(account::list_tokens).post(account::create_token),
        )
        .route(
            "/me/tokens/{id}",
            axum::routing::delete(account::revoke_token),
        )
        .route("/me/routing", get(routing::my_routing))
        .route(
            "/me/acceptance-rules",
            axum::routing::put(routing::put_my_rules),
        )
        .route("/me/absences", post(routing::add_absence))
        .route(
            "/me/absences/{id}",
            axum::routing::delete(routing::delete_absence),
        )
        .route(
            "/directory/professionals/{id}/routing",
            get(routing::professional_routing),
        )
        .route(
            "/directory/professionals/{id}/absences",
            post(routing::add_absence_for),
        )
        .route(
            "/directory/absences/{id}",
            axum::routing::delete(routing::delete_any_absence),
        )
        .route(
            "/directory/teams/{id}/members",
            axum::routing::put(routing::put_team_members),
        )
        .route(
            "/directory/teams/{id}/policy",
            axum::routing::put(routing::put_team_policy),
        )
        .route("/directory/teams/{id}/routing", get(routing::team_routing))
        .route(
            "/directory/teams/{id}/acceptance-rules",
            axum::routing::put(routing::put_team_rules),
        )
        .route(
            "/directory/teams/{id}/rota",
            axum::routing::put(routing::put_team_rota),
        )
        .route(
            "/directory/teams/{id}/weekly-rota",
            axum::routing::put(routing::put_team_weekly_rota),
        )
        .route("/directory/offers", get(routing::offers))
        .route("/directory/teams/{id}/board", get(routing::board))
        .route(
            "/me/webhooks",
            get(webhooks::my_webhooks).post(webhooks::create_my_webhook),
        )
        .route(
            "/directory/organisations/{id}/webhooks",
            get(webhooks::org_webhooks).post(webhooks::create_org_webhook),
        )
        .route(
            "/webhooks/{id}",
            axum::routing::delete(webhooks::delete_webhook),
        )
        .route("/webhooks/{id}/secret", post(webhooks::rotate_secret))
        .route("/operations/jobs", get(operations::list_jobs))
        .route("/operations/jobs/{id}/retry", post(operations::retry_job))
        .route("/codes/professions", get(professions))
        .route("/codes/specialties", get(specialties))
        .route("/directory/organisations", get(list_organisations))
        .route("/directory/professionals", get(search_professionals))
        .route("/directory/professionals/{id}", get(get_professional))
        .route("/directory/teams", get(list_teams))
        .route("/directory/teams/{id}", get(get_team))
        .route("/directory/organisations/{id}/members", post(add_member))
        .route("/directory/organisations/{id}/teams", post(create_team))
        .route(
            "/directory/professionals/{id}/disable",
            post(disable_professional),
        )
        .route(
            "/directory/professionals/{id}/enable",
            post(enable_professional),
        )
        .route("/patients", post(create_patient).get(list_patients))
        .route("/patients/{id}", get(get_patient).put(update_patient))
        .route("/cases", post(create_case).get(list_cases))
        .route("/cases/{id}", get(get_case).patch(update_draft))
        .route("/cases/{id}/consent", axum::routing::put(record_consent))
        .route("/cases/{id}/submit", post(submit))
        .route("/cases/{id}/assign", post(assign))
        .route("/cases/{id}/accept", post(accept))
        .route("/cases/{id}/decline", post(decline))
        .route("/cases/{id}/forward", post(forward))
        .route("/cases/{id}/request-info", post(request_info))
        .route("/cases/{id}/provide-info", post(provide_info))
        .route("/cases/{id}/answer", post(answer))
        .route("/cases/{id}/convert-to-consultation", post(convert))
        .route("/cases/{id}/cancel", post(cancel))
        .route("/cases/{id}/close", post(close))
        .route("/cases/{id}/events", get(events))
        .route(
            "/cases/{id}/messages",
            get(list_messages).post(post_message),
        )
        .route("/cases/{id}/billing", get(case_billing))
        .route("/billing/acts", get(my_acts))
        .route("/billing/counters", get(my_counters))
        .route("/billing/establishments/{id}/acts", get(establishment_acts))
        .route("/cases/{id}/report", get(reports::get_report))
        .route("/cases/{id}/report/preview", get(reports::preview))
        .route("/cases/{id}/report/sign", post(reports::sign))
        .route("/cases/{id}/report/draft", post(reports::write_draft))
        .route(
            "/cases/{id}/report/versions/{version}/pdf",
            get(reports::download_pdf),
        )
        .route(
            "/cases/{id}/report/versions/{version}/cda",
            get(reports::download_cda),
        )
        .route("/cases/{id}/attachments", get(attachments::list))
        .route("/cases/{id}/purge", post(attachments::purge))
        .route(
            "/cases/{id}/attachments/{attachment_id}",
            get(attachments::download),
        )
        .route(
            "/cases/{id}/attachments/{attachment_id}/thumbnail",
            get(attachments::thumbnail),
        )
}

/// Routes whose bodies stream past `max_body_bytes`: attachment uploads enforce their own
/// limits (per file, per case) while reading. The router mounts them outside the global
/// body limit.
pub fn upload_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/cases/{id}/attachments",
        post(attachments::upload).layer(DefaultBodyLimit::disable()),
    )
}

/// Query string parsed with serde; errors become 422 with the parameter named.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, St: Send + Sync> FromRequestParts<St> for Q<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &St) -> std::result::Result<Self, Problem> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(q)
            .map(Q)
            .map_err(|e| Error::invalid("query", e.to_string()).into())
    }
}

/// A page of results; pass `next_cursor` back as `cursor` for the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(parts: &[&str]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(parts.join("\u{1f}"))
}

fn decode_cursor(c: &str, n: usize) -> Result<Vec<String>> {
    let bad = || Error::invalid("cursor", "is not a cursor returned by this API");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let v: Vec<String> = s.split('\u{1f}').map(str::to_string).collect();
    if v.len() != n {
        return Err(bad());
    }
    Ok(v)
}

fn page_limit(l: Option<i64>) -> Result<i64> {
    match l {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", "must be between 1 and 100")),
    }
}

fn paginate<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(key) } else { None };
    Page { items, next_cursor }
}

// ---------- me, codes, directory ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub professional: Professional,
    pub teams: Vec<Team>,
}

/// The caller's identity and teams.
#[utoipa::path(get, path = "/api/v1/me", tag = "directory", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(State(s): S, Auth(ctx): Auth) -> ApiResult<Me> {
    let id = ctx.actor.id().ok_or(Error::Unauthenticated)?;
    let professional = s.platform.get_professional(id).await?;
    let mut teams = Vec::new();
    for t in s.platform.list_teams(None).await? {
        if t.members.iter().any(|m| m.professional_id == id) {
            teams.push(t);
        }
    }
    Ok(Json(Me {
        professional,
        teams,
    }))
}

/// Professions (TRE_G15), with who may answer (R4) and bill a request (R3).
#[utoipa::path(get, path = "/api/v1/codes/professions", tag = "codes",
    responses((status = 200, body = Vec<Profession>)))]
pub async fn professions() -> Json<Vec<Profession>> {
    Json(codes::professions().values().cloned().collect())
}

/// Specialties (TRE_R38).
#[utoipa::path(get, path = "/api/v1/codes/specialties", tag = "codes",
    responses((status = 200, body = Vec<Specialty>)))]
pub async fn specialties() -> Json<Vec<Specialty>> {
    Json(codes::specialties().values().cloned().collect())
}

#[utoipa::path(get, path = "/api/v1/directory/organisations", tag = "directory", security(("bearer" = [])),
    responses((status = 200, body = Vec<Organisation>), (status = 401, body = Problem)))]
pub async fn list_organisations(State(s): S, Auth(_): Auth) -> ApiResult<Vec<Organisation>> {
    Ok(Json(s.platform.list_organisations().await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProfessionalSearch {
    /// Name prefix (last or first name).
    pub q: Option<String>,
    /// TRE_R38 specialty code.
    pub specialty: Option<String>,
    /// Only doctors and midwives (who may answer).
    pub experts: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Search the directory.
#[utoipa::path(get, path = "/api/v1/directory/professionals", tag = "directory", security(("bearer" = [])),
    params(ProfessionalSearch),
    responses((status = 200, body = Page<Professional>), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn search_professionals(
    State(s): S,
    Auth(_): Auth,
    Q(q): Q<ProfessionalSearch>,
) -> ApiResult<Page<Professional>> {
    let limit = page_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => {
            let v = decode_cursor(c, 3)?;
            Some((v[0].clone(), v[1].clone(), v[2].clone()))
        }
        None => None,
    };
    let items = s
        .platform
        .search_professionals(
            q.q.as_deref().filter(|s| !s.is_empty()),
            q.specialty.as_deref(),
            q.experts.unwrap_or(false),
            after,
            limit + 1,
        )
        .await?;
    Ok(Json(paginate(items, limit, |p| {
        encode_cursor(&[&p.last_name, &p.first_name, &p.id])
    })))
}

#[utoipa::path(get, path = "/api/v1/directory/professionals/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = Professional), (status = 404, body = Problem)))]
pub async fn get_professional(
    State(s): S,
    Auth(_): Auth,
    Path(id): Path<String>,
) -> ApiResult<Professional> {
    Ok(Json(s.platform.get_professional(&id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamSearch {
    pub specialty: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/directory/teams", tag = "directory", security(("bearer" = [])),
    params(TeamSearch), responses((status = 200, body = Vec<Team>)))]
pub async fn list_teams(State(s): S, Auth(_): Auth, Q(q): Q<TeamSearch>) -> ApiResult<Vec<Team>> {
    Ok(Json(s.platform.list_teams(q.specialty.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/directory/teams/{id}", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
pub async fn get_team(State(s): S, Auth(_): Auth, Path(id): Path<String>) -> ApiResult<Team> {
    Ok(Json(s.platform.get_team(&id).await?))
}

/// Organisation administrator: add a professional to the directory as a member.
#[utoipa::path(post, path = "/api/v1/directory/organisations/{id}/members", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = AddMember,
    responses((status = 201, body = Professional), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_member(
    State(s): S,
    Path(id): Path<String>,
    call: Call<AddMember>,
) -> Created<Professional> {
    Ok((
        StatusCode::CREATED,
        Json(
            s.platform
                .admin_add_member(&call.ctx, &id, call.body)
                .await?,
        ),
    ))
}

/// Organisation administrator: create a team (members must be doctors or midwives, R4;
/// at least one case assigner).
#[utoipa::path(post, path = "/api/v1/directory/organisations/{id}/teams", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = TeamInput,
    responses((status = 201, body = Team), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_team(
    State(s): S,
    Path(id): Path<String>,
    call: Call<TeamInput>,
) -> Created<Team> {
    Ok((
        StatusCode::CREATED,
        Json(
            s.platform
                .admin_create_team(&call.ctx, &id, call.body)
                .await?,
        ),
    ))
}

/// Organisation administrator: disable a member; their tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/directory/professionals/{id}/disable", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = Empty,
    responses((status = 200, body = Professional), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn disable_professional(
    State(s): S,
    Path(id): Path<String>,
    call: Call<Empty>,
) -> ApiResult<Professional> {
    Ok(Json(
        s.platform.admin_set_active(&call.ctx, &id, false).await?,
    ))
}

/// Organisation administrator: re-enable a member.
#[utoipa::path(post, path = "/api/v1/directory/professionals/{id}/enable", tag = "directory", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = Empty,
    responses((status = 200, body = Professional), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn enable_professional(
    State(s): S,
    Path(id): Path<String>,
    call: Call<Empty>,
) -> ApiResult<Professional> {
    Ok(Json(
        s.platform.admin_set_active(&call.ctx, &id, true).await?,
    ))
}

// ---------- patients ----------

/// Record a patient. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", security(("bearer" = [])),
    request_body = PatientInput,
    responses((status = 201, body = Patient), (status = 422, body = Problem)))]
pub async fn create_patient(State(s): S, call: Call<PatientInput>) -> Created<Patient> {
    Ok((
        StatusCode::CREATED,
        Json(s.platform.create_patient(&call.ctx, call.body).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Patients I recorded, newest first.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<Patient>)))]
pub async fn list_patients(
    State(s): S,
    Auth(ctx): Auth,
    Q(q): Q<PageParams>,
) -> ApiResult<Page<Patient>> {
    let limit = page_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => {
            let v = decode_cursor(c, 2)?;
            let at = v[0]
                .parse()
                .map_err(|_| Error::invalid("cursor", "is not a cursor returned by this API"))?;
            Some((at, v[1].clone()))
        }
        None => None,
    };
    let items = s.platform.list_my_patients(&ctx, after, limit + 1).await?;
    Ok(Json(paginate(items, limit, |p| {
        encode_cursor(&[&p.created_at.micros().to_string(), &p.id])
    })))
}

/// A patient: the identity for whoever recorded them or may see it on one of their cases;
/// a preview without it (`identity_hidden`) for someone who sees them only in the pool of a
/// team that hides identities there.
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = PatientView), (status = 404, body = Problem)))]
pub async fn get_patient(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<PatientView> {
    Ok(Json(s.platform.get_patient(&ctx, &id).await?))
}

/// Replace a patient's identity (only the professional who recorded them).
#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = PatientInput,
    responses((status = 200, body = Patient), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_patient(
    State(s): S,
    Path(id): Path<String>,
    call: Call<PatientInput>,
) -> ApiResult<Patient> {
    Ok(Json(
        s.platform.update_patient(&call.ctx, &id, call.body).await?,
    ))
}

// ---------- cases ----------

/// Create a draft request. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", security(("bearer" = [])),
    request_body = NewCase,
    responses((status = 201, body = CaseView), (status = 422, body = Problem)))]
pub async fn create_case(State(s): S, call: Call<NewCase>) -> Created<CaseView> {
    Ok((
        StatusCode::CREATED,
        Json(s.platform.create_case(&call.ctx, call.body).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    /// `requested` (default: cases I asked for), `inbox` (assigned to me and my teams'
    /// pools) or `team` (every case of the teams I assign for).
    pub view: Option<String>,
    /// Comma-separated states.
    pub state: Option<String>,
    /// Only open cases past their R9 deadline.
    pub overdue: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List cases.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", security(("bearer" = [])),
    params(CaseListParams), responses((status = 200, body = Page<CaseSummary>), (status = 422, body = Problem)))]
pub async fn list_cases(
    State(s): S,
    Auth(ctx): Auth,
    Q(q): Q<CaseListParams>,
) -> ApiResult<Page<CaseSummary>> {
    let view = match q.view.as_deref() {
        None | Some("requested") => View::Requested,
        Some("inbox") => View::Inbox,
        Some("team") => View::Team,
        Some(_) => return Err(Error::invalid("view", "must be requested, inbox or team").into()),
    };
    let states = match &q.state {
        Some(st) => {
            let v: Vec<String> = st
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect();
            if let Some(bad) = v
                .iter()
                .find(|x| crate::cases::CaseState::parse(x).is_none())
            {
                return Err(Error::invalid("state", format!("unknown state '{bad}'")).into());
            }
            Some(v)
        }
        None => None,
    };
    let limit = page_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => {
            let v = decode_cursor(c, 2)?;
            let k = v[0]
                .parse()
                .map_err(|_| Error::invalid("cursor", "is not a cursor returned by this API"))?;
            Some((k, v[1].clone()))
        }
        None => None,
    };
    let items = s
        .platform
        .list_cases(
            &ctx,
            ListQuery {
                view,
                states,
                overdue: q.overdue.unwrap_or(false),
                due_before: None,
                after,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(paginate(items, limit, |c| {
        let k = match view {
            View::Requested => c.created_at.micros(),
            _ => c.deadline_at.map(|d| d.micros()).unwrap_or_default(),
        };
        encode_cursor(&[&k.to_string(), &c.id])
    })))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = CaseView), (status = 404, body = Problem)))]
pub async fn get_case(State(s): S, Auth(ctx): Auth, Path(id): Path<String>) -> ApiResult<CaseView> {
    Ok(Json(s.platform.get_case(&ctx, &id).await?))
}

/// Edit a draft.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = DraftPatch,
    responses((status = 200, body = CaseView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_draft(
    State(s): S,
    Path(id): Path<String>,
    call: Call<DraftPatch>,
) -> ApiResult<CaseView> {
    Ok(Json(
        s.platform.update_draft(&call.ctx, &id, call.body).await?,
    ))
}

/// Record the patient's information and consent or refusal (R6).
#[utoipa::path(put, path = "/api/v1/cases/{id}/consent", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = ConsentInput,
    responses((status = 200, body = CaseView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn record_consent(
    State(s): S,
    Path(id): Path<String>,
    call: Call<ConsentInput>,
) -> ApiResult<CaseView> {
    Ok(Json(
        s.platform.record_consent(&call.ctx, &id, call.body).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Empty {}

macro_rules! transition_handler {
    ($name:ident, $path:literal, $input:ty, $doc:literal, |$p:ident, $ctx:ident, $id:ident, $body:ident| $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "cases", security(("bearer" = [])),
            params(("id" = String, Path, description = "case id")),
            request_body = $input,
            responses(
                (status = 200, body = CaseView),
                (status = 403, body = Problem, description = "your role on the case does not allow it"),
                (status = 404, body = Problem),
                (status = 409, body = Problem, description = "not possible in the current state"),
                (status = 422, body = Problem)))]
        pub async fn $name(State(s): S, Path($id): Path<String>, call: Call<$input>) -> ApiResult<CaseView> {
            let $p = &s.platform;
            let $ctx = &call.ctx;
            let $body = call.body;
            Ok(Json($call.await?))
        }
    };
}

transition_handler!(
    submit,
    "/api/v1/cases/{id}/submit",
    Empty,
    "Send the request (consent given, reason and question stated, expert or team chosen).",
    |p, ctx, id, _b| p.submit(ctx, &id)
);
transition_handler!(
    assign,
    "/api/v1/cases/{id}/assign",
    AssignInput,
    "Case assigner: give a pool case to a team member.",
    |p, ctx, id, b| p.assign(ctx, &id, b)
);
transition_handler!(
    accept,
    "/api/v1/cases/{id}/accept",
    Empty,
    "Expert: accept an assigned case, or claim one from the team's pool.",
    |p, ctx, id, _b| p.accept(ctx, &id)
);
transition_handler!(
    decline,
    "/api/v1/cases/{id}/decline",
    DeclineInput,
    "Expert or assigner: decline with a coded reason (R8).",
    |p, ctx, id, b| p.decline(ctx, &id, b)
);
transition_handler!(
    forward,
    "/api/v1/cases/{id}/forward",
    ForwardInput,
    "Forward to a colleague or back to a team's pool.",
    |p, ctx, id, b| p.forward(ctx, &id, b)
);
transition_handler!(
    request_info,
    "/api/v1/cases/{id}/request-info",
    TextInput,
    "Expert: ask the requester for more information.",
    |p, ctx, id, b| p.request_info(ctx, &id, b)
);
transition_handler!(
    provide_info,
    "/api/v1/cases/{id}/provide-info",
    TextInput,
    "Requester: answer the expert's question; the case returns to the expert.",
    |p, ctx, id, b| p.provide_info(ctx, &id, b)
);
transition_handler!(
    answer,
    "/api/v1/cases/{id}/answer",
    AnswerInput,
    "Expert: answer with a structured opinion.",
    |p, ctx, id, b| p.answer(ctx, &id, b)
);
transition_handler!(
    convert,
    "/api/v1/cases/{id}/convert-to-consultation",
    ConvertInput,
    "Expert: answer that a consultation is needed (routine or urgent).",
    |p, ctx, id, b| p.convert_to_consultation(ctx, &id, b)
);
transition_handler!(
    cancel,
    "/api/v1/cases/{id}/cancel",
    CancelInput,
    "Requester: withdraw the request before it is answered.",
    |p, ctx, id, b| p.cancel(ctx, &id, b)
);
transition_handler!(
    close,
    "/api/v1/cases/{id}/close",
    Outcome,
    "Requester: close an answered case with its outcome.",
    |p, ctx, id, b| p.close(ctx, &id, b)
);

/// The case's timeline: every transition, who, when, why.
#[utoipa::path(get, path = "/api/v1/cases/{id}/events", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = Vec<CaseEvent>), (status = 404, body = Problem)))]
pub async fn events(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<Vec<CaseEvent>> {
    Ok(Json(s.platform.case_events(&ctx, &id).await?))
}

/// The case's message thread.
#[utoipa::path(get, path = "/api/v1/cases/{id}/messages", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = Vec<Message>), (status = 404, body = Problem)))]
pub async fn list_messages(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<Vec<Message>> {
    Ok(Json(s.platform.case_messages(&ctx, &id).await?))
}

/// Write in the case's thread. Accepts `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/messages", tag = "cases", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    request_body = TextInput,
    responses((status = 201, body = Message), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn post_message(
    State(s): S,
    Path(id): Path<String>,
    call: Call<TextInput>,
) -> Created<Message> {
    Ok((
        StatusCode::CREATED,
        Json(s.platform.post_message(&call.ctx, &id, call.body).await?),
    ))
}

// ---------- notifications ----------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only unread notifications.
    #[serde(default)]
    pub unread: bool,
    /// At most this many (1–200, default 50), newest first.
    pub limit: Option<i64>,
}

/// The caller's notifications (reminders, escalations, expiries): a case number and a link,
/// never patient data; with the count of unread ones.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationQuery),
    responses((status = 200, body = crate::notifications::service::NotificationList), (status = 401, body = Problem)))]
pub async fn list_notifications(
    State(s): S,
    Auth(ctx): Auth,
    Q(q): Q<NotificationQuery>,
) -> ApiResult<crate::notifications::service::NotificationList> {
    Ok(Json(
        s.platform
            .list_notifications(&ctx, q.unread, q.limit.unwrap_or(50))
            .await?,
    ))
}

/// Mark one of the caller's notifications read (someone else's: 404).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "notification id")),
    request_body = Empty,
    responses((status = 200, body = crate::notifications::Notification), (status = 404, body = Problem)))]
pub async fn read_notification(
    State(s): S,
    Path(id): Path<String>,
    call: Call<Empty>,
) -> ApiResult<crate::notifications::Notification> {
    Ok(Json(
        s.platform.mark_notification_read(&call.ctx, &id).await?,
    ))
}

/// The caller's email setting for notifications.
#[utoipa::path(get, path = "/api/v1/me/notification-settings", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = crate::notifications::service::NotificationSettings), (status = 401, body = Problem)))]
pub async fn get_notification_settings(
    State(s): S,
    Auth(ctx): Auth,
) -> ApiResult<crate::notifications::service::NotificationSettings> {
    Ok(Json(s.platform.notification_settings(&ctx).await?))
}

/// Choose immediate emails, a daily digest, or no email.
#[utoipa::path(put, path = "/api/v1/me/notification-settings", tag = "notifications", security(("bearer" = [])),
    request_body = crate::notifications::service::NotificationSettings,
    responses((status = 200, body = crate::notifications::service::NotificationSettings), (status = 422, body = Problem)))]
pub async fn put_notification_settings(
    State(s): S,
    call: Call<crate::notifications::service::NotificationSettings>,
) -> ApiResult<crate::notifications::service::NotificationSettings> {
    Ok(Json(
        s.platform
            .set_notification_settings(&call.ctx, call.body)
            .await?,
    ))
}

// ---------- billing ----------

/// What each side of the case may bill (RQD, TE2), and why, citing the rule.
#[utoipa::path(get, path = "/api/v1/cases/{id}/billing", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "object id")),
    responses((status = 200, body = CaseBilling), (status = 404, body = Problem)))]
pub async fn case_billing(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> ApiResult<CaseBilling> {
    Ok(Json(s.platform.case_billing(&ctx, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActsQuery {
    /// Month, `YYYY-MM` (Europe/Paris); defaults to the current month.
    pub month: Option<String>,
    /// `json` (default) or `csv` (a download, `;`-separated).
    pub format: Option<String>,
}

fn month_or_now(s: &AppState, month: Option<&str>) -> Result<(Timestamp, Timestamp)> {
    let current;
    let m = match month {
        Some(m) => m,
        None => {
            let d = crate::billing::model::paris_date(s.platform.now());
            current = format!("{:04}-{:02}", d.year(), u8::from(d.month()));
            &current
        }
    };
    crate::billing::service::month_bounds(m)
}

fn acts_answer(acts: Vec<ActView>, format: Option<&str>, name: &str) -> Result<Response> {
    match format.unwrap_or("json") {
        "json" => Ok(Json(acts).into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.csv\""),
                ),
            ],
            crate::billing::service::to_csv(&acts),
        )
            .into_response()),
        _ => Err(Error::invalid("format", "must be json or csv")),
    }
}

/// The caller's billable acts for a month (export per professional and month).
#[utoipa::path(get, path = "/api/v1/billing/acts", tag = "billing", security(("bearer" = [])),
    params(ActsQuery),
    responses((status = 200, description = "JSON, or CSV with format=csv", content((Vec<ActView> = "application/json"), (String = "text/csv"))), (status = 422, body = Problem)))]
pub async fn my_acts(
    State(s): S,
    Auth(ctx): Auth,
    Q(q): Q<ActsQuery>,
) -> std::result::Result<Response, Problem> {
    let (from, to) = month_or_now(&s, q.month.as_deref())?;
    let acts = s.platform.my_acts(&ctx, from, to).await?;
    let name = format!("actes-{}", q.month.as_deref().unwrap_or("mois"));
    Ok(acts_answer(acts, q.format.as_deref(), &name)?)
}

/// The caller's annual counters per patient and act (R14), and the R16 count.
#[utoipa::path(get, path = "/api/v1/billing/counters", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Counters)))]
pub async fn my_counters(State(s): S, Auth(ctx): Auth) -> ApiResult<Counters> {
    Ok(Json(s.platform.my_counters(&ctx).await?))
}

/// An establishment's acts for a month, for its billing office (R17); administrators of
/// the organisation only.
#[utoipa::path(get, path = "/api/v1/billing/establishments/{id}/acts", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "organisation id"), ActsQuery),
    responses((status = 200, description = "JSON, or CSV with format=csv", content((Vec<ActView> = "application/json"), (String = "text/csv"))), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn establishment_acts(
    State(s): S,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Q(q): Q<ActsQuery>,
) -> std::result::Result<Response, Problem> {
    let (from, to) = month_or_now(&s, q.month.as_deref())?;
    let acts = s.platform.establishment_acts(&ctx, &id, from, to).await?;
    let name = format!(
        "actes-etablissement-{}",
        q.month.as_deref().unwrap_or("mois")
    );
    Ok(acts_answer(acts, q.format.as_deref(), &name)?)
}
