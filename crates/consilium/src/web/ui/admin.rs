//! The case assigner's team board and the administrator's pages: the organisation's audit
//! log with filters, and its activity with charts drawn on the server (SVG).

use super::{Base, S, render, unread, viewer};
use crate::kernel::{Error, Timestamp};
use crate::reporting::{Activity, AuditFilter};
use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The signed-in caller and the organisation they administer, or the response to send
/// instead (sign-in, or "not found" for anyone who administers nothing).
pub(super) async fn admin_viewer(
    s: &crate::web::AppState,
    parts: &Parts,
) -> Result<(super::Viewer, String), Response> {
    let v = viewer(s, parts).await?;
    match v.admin_orgs.first().cloned() {
        Some(org) => Ok((v, org)),
        None => Err(super::not_found(&v)),
    }
}

pub struct MemberLine {
    pub name: String,
    pub open: i64,
    pub everywhere: i64,
    pub oldest: String,
    pub absent: Option<String>,
    pub on_call: Option<bool>,
    pub assigner_only: bool,
}

pub struct BoardLine {
    pub id: String,
    pub number: String,
    pub state_label: &'static str,
    pub state: String,
    pub who: String,
    pub deadline: String,
}

#[derive(Template)]
#[template(path = "ui/board.html")]
struct BoardPage {
    b: Base,
    team_id: String,
    team: String,
    policy: &'static str,
    open: i64,
    pool: i64,
    pool_oldest: String,
    members: Vec<MemberLine>,
    due_soon: Vec<BoardLine>,
    overdue: Vec<BoardLine>,
}

fn age(lang: super::Lang, seconds: Option<i64>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s < 86_400 => format!("{} h", s / 3600),
        Some(s) => format!("{} {}", s / 86_400, super::i18n::t(lang, "days")),
    }
}

pub async fn team_board(
    axum::extract::State(s): S,
    Path(team_id): Path<String>,
    parts: Parts,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let board = match s.platform.team_board(&v.ctx, &team_id).await {
        Ok(b) => b,
        Err(Error::NotFound | Error::Forbidden(_)) => return super::not_found(&v),
        Err(e) => return e.into_response(),
    };
    let names: std::collections::HashMap<&str, &str> = board
        .members
        .iter()
        .map(|m| (m.professional_id.as_str(), m.display_name.as_str()))
        .collect();
    let line = |c: &crate::routing::board::BoardCase| BoardLine {
        id: c.id.clone(),
        number: c.number.clone(),
        state_label: super::cases::state_label(v.lang, &c.state),
        state: c.state.clone(),
        who: c
            .assigned_expert_id
            .as_deref()
            .and_then(|id| names.get(id).map(|n| n.to_string()))
            .unwrap_or_else(|| v.t("in_pool").to_string()),
        deadline: c
            .deadline_at
            .map(crate::web::pages::paris)
            .unwrap_or_default(),
    };
    let members = board
        .members
        .iter()
        .map(|m| MemberLine {
            name: m.display_name.clone(),
            open: m.open_cases,
            everywhere: m.open_cases_everywhere,
            oldest: age(v.lang, m.oldest_age_seconds),
            absent: m.absent_until.map(|t| {
                let until = crate::web::pages::paris(t);
                match &m.delegate {
                    Some(d) => format!("{until} ({} {})", v.t("delegate"), d.display_name),
                    None => until,
                }
            }),
            on_call: m.on_call_now,
            assigner_only: m.is_assigner && !m.is_member,
        })
        .collect();
    let u = unread(&s, &v).await;
    render(
        StatusCode::OK,
        &BoardPage {
            b: v.base(
                format!("{} · {}", v.t("board"), board.name),
                format!("/teams/{}", board.team_id),
                u,
            ),
            policy: v.t(&format!("policy_{}", board.policy)),
            team_id: board.team_id.clone(),
            team: board.name.clone(),
            open: board.open_cases,
            pool: board.pool.count,
            pool_oldest: age(v.lang, board.pool.oldest_age_seconds),
            members,
            due_soon: board.due_soon.iter().map(line).collect(),
            overdue: board.overdue.iter().map(line).collect(),
        },
    )
}

#[derive(Deserialize, Default)]
pub struct AuditParams {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

pub struct AuditRow {
    pub seq: i64,
    pub when: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub denied: bool,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    b: Base,
    f_action: String,
    f_outcome: String,
    f_from: String,
    f_to: String,
    rows: Vec<AuditRow>,
    next: Option<String>,
    error: Option<String>,
}

/// `YYYY-MM-DD` (a day in Europe/Paris) → its first instant.
fn day_start(s: &str) -> Result<Option<Timestamp>, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = super::availability::parse_date(s)
        .ok_or_else(|| Error::invalid("date", "write it YYYY-MM-DD"))?;
    Ok(Some(crate::billing::model::paris_midnight(d)))
}

pub async fn audit_page(
    axum::extract::State(s): S,
    parts: Parts,
    Query(q): Query<AuditParams>,
) -> Response {
    let (v, org) = match admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let action = q.action.clone().unwrap_or_default();
    let outcome = q.outcome.clone().unwrap_or_default();
    let from = q.from.clone().unwrap_or_default();
    let to = q.to.clone().unwrap_or_default();
    let dates = day_start(&from)
        .and_then(|f| day_start(&to).map(|t| (f, t.map(|t| t.plus_seconds(24 * 3600)))));
    let (rows, error) = match dates {
        Err(e) => (Vec::new(), Some(super::error_text(v.lang, &e))),
        Ok((from_t, to_t)) => {
            let filter = AuditFilter {
                action: Some(action.trim().to_string()).filter(|x| !x.is_empty()),
                outcome: Some(outcome.clone()).filter(|x| x == "success" || x == "denied"),
                from: from_t,
                to: to_t,
                before_seq: q.before,
                limit: 100,
            };
            match s.platform.organisation_audit(&v.ctx, &org, &filter).await {
                Ok(r) => (r, None),
                Err(e) => return e.into_response(),
            }
        }
    };
    let next = (rows.len() == 100).then(|| {
        let last = rows.last().map(|r| r.seq).unwrap_or(0);
        format!(
            "/admin/audit?action={}&outcome={}&from={}&to={}&before={last}",
            super::percent_encode(&action),
            super::percent_encode(&outcome),
            super::percent_encode(&from),
            super::percent_encode(&to)
        )
    });
    let rows = rows
        .into_iter()
        .map(|r| AuditRow {
            seq: r.seq,
            when: crate::web::pages::paris(Timestamp(r.at)),
            actor: r.actor_label,
            action: r.action,
            object: format!("{} {}", r.object_type, r.object_id),
            denied: r.outcome == "denied",
        })
        .collect();
    let u = unread(&s, &v).await;
    render(
        StatusCode::OK,
        &AuditPage {
            b: v.base(v.t("audit"), "/admin/audit", u),
            f_action: action,
            f_outcome: outcome,
            f_from: from,
            f_to: to,
            rows,
            next,
            error,
        },
    )
}

#[derive(Template)]
#[template(path = "ui/activity.html")]
struct ActivityPage {
    b: Base,
    a: Activity,
    chart: String,
    median: String,
    p90: String,
    within: String,
    reasons: Vec<(String, i64, String)>,
}

fn hours(s: Option<i64>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s >= 48 * 3600 => format!("{:.1} j", s as f64 / 86_400.0),
        Some(s) => format!("{:.1} h", s as f64 / 3600.0),
    }
}

/// A bar chart of requests per week, as SVG markup built from numbers only (labels are
/// dates we format), so nothing from users reaches it.
pub fn bar_chart(weeks: &[(String, i64)], label: &str) -> String {
    let w = 640;
    let h = 220;
    let max = weeks.iter().map(|x| x.1).max().unwrap_or(0).max(1);
    let n = weeks.len().max(1) as i64;
    let slot = (w - 40) / n;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\" class=\"chart\">"
    );
    for (i, (week, count)) in weeks.iter().enumerate() {
        let bh = count * (h - 60) / max;
        let x = 30 + i as i64 * slot;
        let y = h - 30 - bh;
        let day = week.get(8..10).unwrap_or("");
        let month = week.get(5..7).unwrap_or("");
        s.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{bh}\" class=\"bar\"><title>{day}/{month} : {count}</title></rect>\
             <text x=\"{}\" y=\"{}\" class=\"val\">{count}</text>\
             <text x=\"{}\" y=\"{}\" class=\"lbl\">{day}/{month}</text>",
            slot - 8,
            x + (slot - 8) / 2,
            y - 4,
            x + (slot - 8) / 2,
            h - 12
        ));
    }
    s.push_str("</svg>");
    s
}

pub async fn activity_page(axum::extract::State(s): S, parts: Parts) -> Response {
    let (v, org) = match admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = match s.platform.organisation_activity(&v.ctx, &org, 12).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let chart = bar_chart(&a.weeks, v.t("requests_per_week"));
    let max = a
        .decline_reasons
        .iter()
        .map(|r| r.1)
        .max()
        .unwrap_or(1)
        .max(1);
    let reasons = a
        .decline_reasons
        .iter()
        .map(|(r, n)| {
            (
                v.t(&format!("decline_{r}")).to_string(),
                *n,
                format!("w{}", (n * 10 / max).clamp(1, 10)),
            )
        })
        .collect();
    let u = unread(&s, &v).await;
    render(
        StatusCode::OK,
        &ActivityPage {
            b: v.base(v.t("activity"), "/admin/activity", u),
            median: hours(a.median_answer_seconds),
            p90: hours(a.p90_answer_seconds),
            within: a
                .within_7_days_percent
                .map(|p| format!("{p:.0} %"))
                .unwrap_or_else(|| "—".into()),
            chart,
            reasons,
            a,
        },
    )
}

// ---------- members and invitations ----------

pub struct MemberRowView {
    pub id: String,
    pub name: String,
    pub profession: String,
    pub ids: String,
    pub email: bool,
    pub admin: bool,
    pub active: bool,
    pub has_password: bool,
    pub has_second_factor: bool,
}

#[derive(Template)]
#[template(path = "ui/members.html")]
struct MembersPage {
    b: Base,
    notice: Option<String>,
    error: Option<String>,
    members: Vec<MemberRowView>,
    professions: Vec<(String, String)>,
    specialties: Vec<(String, String)>,
    f: MemberForm,
}

#[derive(Deserialize, Default, Clone)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub profession: String,
    #[serde(default)]
    pub specialty: String,
    #[serde(default)]
    pub rpps: String,
    #[serde(default)]
    pub adeli: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub invite: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DoneParams {
    #[serde(default)]
    done: Option<String>,
}

async fn members_response(
    s: &crate::web::AppState,
    v: &super::Viewer,
    org: &str,
    f: MemberForm,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let list = match s.platform.organisation_members(&v.ctx, org).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let members = list
        .into_iter()
        .map(|m| MemberRowView {
            ids: [
                m.professional.rpps.as_ref().map(|r| format!("RPPS {r}")),
                m.professional.adeli.as_ref().map(|a| format!("ADELI {a}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            id: m.professional.id.clone(),
            name: m.professional.display_name.clone(),
            profession: m.professional.profession_label.clone(),
            email: m.has_email,
            admin: m.role == "admin",
            active: m.professional.active,
            has_password: m.has_password,
            has_second_factor: m.has_second_factor,
        })
        .collect();
    let professions = crate::codes::professions()
        .values()
        .map(|p| (p.code.clone(), p.label.clone()))
        .collect();
    let mut specialties: Vec<(String, String)> = crate::codes::specialties()
        .values()
        .map(|p| (p.code.clone(), p.label.clone()))
        .collect();
    specialties.sort_by(|a, b| a.1.cmp(&b.1));
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    render(
        status,
        &MembersPage {
            b: v.base(v.t("members"), "/admin/members", u),
            notice,
            error,
            members,
            professions,
            specialties,
            f,
        },
    )
}

pub async fn members_page(
    axum::extract::State(s): S,
    parts: Parts,
    Query(q): Query<DoneParams>,
) -> Response {
    let (v, org) = match admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let notice = q
        .done
        .as_deref()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    let f = MemberForm {
        profession: "10".into(),
        role: "member".into(),
        invite: Some("1".into()),
        ..Default::default()
    };
    members_response(&s, &v, &org, f, notice, None).await
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn refusal(e: &Error) -> Option<StatusCode> {
    Some(match e {
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => return None,
    })
}

pub async fn add_member(
    axum::extract::State(s): S,
    parts: Parts,
    body: axum::body::Bytes,
) -> Response {
    let (v, org) = match admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f: MemberForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &f.csrf).await {
        return r;
    }
    let input = crate::directory::model::AddMember {
        professional: crate::directory::model::NewProfessional {
            rpps: opt(&f.rpps),
            adeli: opt(&f.adeli),
            first_name: f.first_name.clone(),
            last_name: f.last_name.clone(),
            profession: f.profession.clone(),
            specialties: opt(&f.specialty).into_iter().collect(),
            email: opt(&f.email),
        },
        role: if f.role == "admin" {
            crate::directory::model::MemberRole::Admin
        } else {
            crate::directory::model::MemberRole::Member
        },
    };
    let added = match s.platform.admin_add_member(&v.ctx, &org, input).await {
        Ok(p) => p,
        Err(e) => {
            let Some(status) = refusal(&e) else {
                return e.into_response();
            };
            let text = super::error_text(v.lang, &e);
            return members_response(&s, &v, &org, f, None, Some((status, text))).await;
        }
    };
    if f.invite.is_some() && opt(&f.email).is_some() {
        if let Err(e) = s.platform.invite(&v.ctx, &added.id).await {
            let text = super::error_text(v.lang, &e);
            return members_response(
                &s,
                &v,
                &org,
                MemberForm::default(),
                Some(v.t("done_member_added").to_string()),
                Some((StatusCode::OK, text)),
            )
            .await;
        }
        return super::see_other("/admin/members?done=member_invited");
    }
    super::see_other("/admin/members?done=member_added")
}

#[derive(Deserialize, Default)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn member_action(
    axum::extract::State(s): S,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Response {
    let (v, org) = match admin_viewer(&s, &parts).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f: CsrfOnly = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &f.csrf).await {
        return r;
    }
    let p = &s.platform;
    let result = match action.as_str() {
        "invite" => p.invite(&v.ctx, &id).await.map(|_| "member_invited"),
        "disable" => p
            .admin_set_active(&v.ctx, &id, false)
            .await
            .map(|_| "member_disabled"),
        "enable" => p
            .admin_set_active(&v.ctx, &id, true)
            .await
            .map(|_| "member_enabled"),
        _ => Err(Error::NotFound),
    };
    match result {
        Ok(done) => super::see_other(&format!("/admin/members?done={done}")),
        Err(e) => {
            let Some(status) = refusal(&e) else {
                return e.into_response();
            };
            let text = super::error_text(v.lang, &e);
            members_response(
                &s,
                &v,
                &org,
                MemberForm::default(),
                None,
                Some((status, text)),
            )
            .await
        }
    }
}
