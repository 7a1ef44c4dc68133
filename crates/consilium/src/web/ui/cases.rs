//! Case pages: the lists (my requests; for experts: assigned to me, my teams' pools, due
//! soon), the case page with every action its caller may take, uploads, live updates,
//! notifications and billing counters.

use super::{Base, Lang, S, Viewer, error_text, render, see_other, unread, viewer};
use crate::cases::CaseState;
use crate::cases::model::{DeclineReason, OpinionKind, Outcome, OutcomeCode, Urgency};
use crate::cases::repo::View;
use crate::cases::service::{
    AnswerInput, AssignInput, CancelInput, CaseSummary, CaseView, ConvertInput, DeclineInput,
    ForwardInput, ListQuery, TextInput,
};
use crate::kernel::Error;
use crate::patients::model::PatientView;
use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;

/// How many cases a list shows at first (the most urgent or newest), and with "show more".
const LIST_LIMIT: i64 = 50;
const LIST_MORE: i64 = 500;
/// "Due soon": the deadline is within this many hours.
const DUE_SOON_HOURS: i64 = 48;

pub struct Tab {
    pub key: &'static str,
    pub label: &'static str,
    /// "12", or "50+" when the list was cut.
    pub count: String,
    pub current: bool,
}

pub struct CaseLine {
    pub id: String,
    pub number: String,
    pub state: String,
    pub state_label: &'static str,
    pub urgent: bool,
    pub patient: String,
    pub reason: String,
    pub who: String,
    pub deadline: Option<String>,
    pub overdue: bool,
    /// Messages from others since the viewer last opened the case.
    pub unread: i64,
}

#[derive(Template)]
#[template(path = "ui/list.html")]
struct ListPage {
    b: Base,
    heading: &'static str,
    notice: Option<String>,
    tabs: Vec<Tab>,
    view: &'static str,
    cases: Vec<CaseLine>,
    empty: &'static str,
    /// The list was cut: a link shows more.
    more: bool,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    view: Option<String>,
    #[serde(default)]
    more: Option<String>,
    #[serde(default)]
    sent: Option<String>,
}

pub fn state_label(lang: Lang, state: &str) -> &'static str {
    super::i18n::t(lang, &format!("state_{state}"))
}

fn line(v: &Viewer, c: &CaseSummary, inbox: bool) -> CaseLine {
    let who = if inbox {
        c.requester_name.clone()
    } else {
        c.team_name.clone().unwrap_or_default()
    };
    CaseLine {
        id: c.id.clone(),
        number: c.number.clone(),
        state_label: state_label(v.lang, &c.state),
        state: c.state.clone(),
        urgent: c.urgency == "urgent",
        patient: c
            .patient_name
            .clone()
            .unwrap_or_else(|| v.t("identity_hidden").to_string()),
        reason: c.reason.clone(),
        who,
        deadline: c.deadline_at.map(super::super::pages::paris),
        overdue: c.overdue,
        unread: 0,
    }
}

pub async fn list_page(
    axum::extract::State(s): S,
    parts: Parts,
    axum::extract::Query(q): axum::extract::Query<ListParams>,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let limit = if q.more.is_some() {
        LIST_MORE
    } else {
        LIST_LIMIT
    };
    let is_assigner = v.teams.iter().any(|t| {
        t.members
            .iter()
            .any(|m| m.professional_id == v.me.id && m.is_assigner)
    });
    let default = if v.me.may_be_expert && !v.teams.is_empty() {
        "mine"
    } else {
        "requested"
    };
    let view: &'static str = match q.view.as_deref() {
        Some("mine") if v.me.may_be_expert => "mine",
        Some("pool") if v.me.may_be_expert => "pool",
        Some("due") if v.me.may_be_expert => "due",
        Some("requested") => "requested",
        Some("team") if is_assigner => "team",
        _ => default,
    };
    let soon = s.platform.now().plus_seconds(DUE_SOON_HOURS * 3600);
    // Every tab's count and the unread messages from the indexes (no patient data); then
    // the one list shown, an audited read.
    let (counts, unread_by_case) = match s.platform.inbox_counts(&v.ctx, soon).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let open_states = || {
        Some(
            ["submitted", "assigned", "in_progress", "awaiting_info"]
                .map(String::from)
                .to_vec(),
        )
    };
    let (repo_view, states, due_before, total, empty) = match view {
        "mine" => (View::Mine, None, None, counts.mine, "empty_mine"),
        "pool" => (View::Pool, None, None, counts.pool, "empty_pool"),
        "due" => (View::Inbox, None, Some(soon), counts.due, "empty_due"),
        "team" => (View::Team, open_states(), None, counts.team, "empty_board"),
        _ => (
            View::Requested,
            None,
            None,
            counts.requested,
            "empty_requested",
        ),
    };
    let listed = match s
        .platform
        .list_cases(
            &v.ctx,
            ListQuery {
                view: repo_view,
                states,
                overdue: false,
                due_before,
                after: None,
                limit,
            },
        )
        .await
    {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let mut tabs = Vec::new();
    if v.me.may_be_expert {
        tabs.push(("mine", "tab_mine", counts.mine));
        tabs.push(("pool", "tab_pool", counts.pool));
        tabs.push(("due", "tab_due", counts.due));
    }
    if is_assigner {
        tabs.push(("team", "tab_team", counts.team));
    }
    tabs.push(("requested", "tab_requested", counts.requested));
    let tabs = tabs
        .into_iter()
        .map(|(key, label, count)| Tab {
            key,
            label: v.t(label),
            count: count.to_string(),
            current: key == view,
        })
        .collect();
    // More rows than shown: a link shows more.
    let more = total > listed.len() as i64;
    let mut cases: Vec<CaseLine> = listed
        .iter()
        .map(|c| line(&v, c, view != "requested"))
        .collect();
    for c in &mut cases {
        c.unread = unread_by_case.get(&c.id).copied().unwrap_or(0);
    }
    // The title counts what waits for the caller: their cases and their pools (experts),
    // or their open requests.
    let count = if v.me.may_be_expert {
        counts.mine + counts.pool
    } else {
        counts.requested_open
    };
    let heading = v.t(if view == "requested" {
        "my_requests"
    } else {
        "my_inbox"
    });
    let title = if count > 0 {
        format!("({count}) {heading}")
    } else {
        heading.to_string()
    };
    let notice = q
        .sent
        .as_ref()
        .map(|n| format!("{} {n}", v.t("sent_notice")));
    let u = unread(&s, &v).await;
    render(
        StatusCode::OK,
        &ListPage {
            b: v.base(title, format!("/cases?view={view}"), u),
            heading,
            notice,
            tabs,
            view,
            cases,
            empty: v.t(empty),
            more,
        },
    )
}

// ---------- the case page ----------

pub struct FileLine {
    pub name: String,
    pub url: String,
    pub thumb: String,
    pub is_image: bool,
    pub kind: String,
    pub size: String,
}

pub struct ThreadLine {
    pub at: i64,
    pub when: String,
    pub who: String,
    pub what: String,
    pub text: String,
    pub class: &'static str,
}

pub struct ReportLine {
    pub version: i64,
    pub state_label: &'static str,
    pub signed: Option<String>,
    pub pdf_url: Option<String>,
    pub cda_url: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/case.html")]
struct CasePage {
    b: Base,
    c: CaseView,
    notice: Option<String>,
    error: Option<String>,
    patient_name: String,
    /// The patient's identity, when the viewer may see it (else a preview: sex and age).
    identified: Option<crate::patients::model::Patient>,
    age: Option<i32>,
    birth_date: String,
    identity_label: &'static str,
    consent_label: String,
    state: String,
    state_label: &'static str,
    urgent: bool,
    deadline: Option<String>,
    submitted: Option<String>,
    awaiting: String,
    assignee: Option<String>,
    files: Vec<FileLine>,
    can_upload: bool,
    can_message: bool,
    can_sign: bool,
    in_pool: bool,
    thread: Vec<ThreadLine>,
    reports: Vec<ReportLine>,
    opinion_kind: &'static str,
    sex_label: &'static str,
    decline_label: &'static str,
    outcome_label: &'static str,
    actions: Vec<String>,
    members: Vec<(String, String)>,
    targets: Vec<(String, String)>,
    decline_reasons: Vec<(&'static str, &'static str)>,
    outcomes: Vec<(&'static str, &'static str)>,
    templates: Vec<(String, String)>,
}

impl CasePage {
    fn has(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }
}

fn human_size(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} Mo", n as f64 / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{} ko", n / 1024)
    } else {
        format!("{n} o")
    }
}

fn duration_label(lang: Lang, seconds: i64) -> String {
    let h = seconds / 3600;
    let d = h / 24;
    match lang {
        Lang::Fr if d > 0 => format!("{d} j {} h", h % 24),
        Lang::Fr => format!("{h} h {} min", (seconds % 3600) / 60),
        Lang::En if d > 0 => format!("{d} d {} h", h % 24),
        Lang::En => format!("{h} h {} min", (seconds % 3600) / 60),
    }
}

/// `YYYY-MM-DD` → `DD/MM/YYYY`.
pub fn french_date(iso: &str) -> String {
    let p: Vec<&str> = iso.split('-').collect();
    if p.len() == 3 {
        format!("{}/{}/{}", p[2], p[1], p[0])
    } else {
        iso.to_string()
    }
}

const DECLINE_REASONS: [&str; 6] = [
    "insufficient_data",
    "image_quality",
    "out_of_scope",
    "needs_in_person_consultation",
    "urgent_redirect_emergency",
    "other",
];
const OUTCOMES: [&str; 5] = [
    "visit_avoided",
    "visit_still_needed",
    "transfer_avoided",
    "diagnosis_changed",
    "not_useful",
];

/// Renders the case page for the viewer, with an optional confirmation or error.
pub(super) async fn case_response(
    s: &crate::web::AppState,
    v: &Viewer,
    id: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let p = &s.platform;
    let c = match p.get_case(&v.ctx, id).await {
        Ok(c) => c,
        Err(Error::NotFound) => {
            return super::not_found(v);
        }
        Err(e) => return e.into_response(),
    };
    // Seen now: the thread's messages are no longer unread for this viewer.
    if let Err(e) = p.mark_case_seen(&v.ctx, id).await {
        tracing::warn!(error = %e, "case not marked as seen");
    }
    let events = p.case_events(&v.ctx, id).await.unwrap_or_default();
    let messages = p.case_messages(&v.ctx, id).await.unwrap_or_default();
    let attachments = match p.list_attachments(&v.ctx, id).await {
        Ok(a) => a,
        Err(Error::Unavailable(_)) => Vec::new(),
        Err(e) => return e.into_response(),
    };
    let reports = p
        .case_report(&v.ctx, id)
        .await
        .map(|r| r.items)
        .unwrap_or_default();
    let me = v.id().to_string();
    let state = Some(c.state);
    let state_str = c.state.as_str().to_string();
    let is_requester = c.requester.id == me;
    let is_assignee = c.assigned_expert.as_ref().is_some_and(|a| a.id == me);
    let my_assigner_teams: Vec<String> = v
        .teams
        .iter()
        .filter(|t| {
            t.members
                .iter()
                .any(|m| m.professional_id == me && m.is_assigner)
        })
        .map(|t| t.id.clone())
        .collect();
    let is_assigner = c
        .team
        .as_ref()
        .is_some_and(|t| my_assigner_teams.contains(&t.id));
    let open_thread = state.is_some_and(|st| st != CaseState::Draft && !st.is_terminal());
    let files = attachments
        .iter()
        .map(|a| {
            let url = format!("/api/v1/cases/{}/attachments/{}", c.id, a.id);
            FileLine {
                name: a.name.clone(),
                thumb: format!("{url}/thumbnail"),
                is_image: a.has_thumbnail,
                kind: a.detected_type.to_uppercase(),
                size: human_size(a.size),
                url,
            }
        })
        .collect();
    let mut thread: Vec<ThreadLine> = events
        .iter()
        .filter(|e| !matches!(e.action.as_str(), "request_info" | "provide_info"))
        .map(|e| ThreadLine {
            at: e.at.micros(),
            when: super::super::pages::paris(e.at),
            who: e
                .actor_name
                .clone()
                .unwrap_or_else(|| v.t("system").to_string()),
            what: event_label(v.lang, &e.action, &e.to_state),
            text: e
                .details
                .get("comment")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            class: "event",
        })
        .collect();
    thread.extend(messages.iter().map(|m| {
        ThreadLine {
            at: m.at.micros(),
            when: super::super::pages::paris(m.at),
            who: m.author_name.clone(),
            what: v
                .t(match m.kind.as_str() {
                    "info_request" => "msg_info_request",
                    "info_reply" => "msg_info_reply",
                    _ => "msg_message",
                })
                .to_string(),
            text: m.body.clone(),
            class: "message",
        }
    }));
    thread.sort_by_key(|t| t.at);
    let report_lines = reports
        .iter()
        .map(|r| ReportLine {
            version: r.version,
            state_label: v.t(if r.state == "signed" {
                "report_signed"
            } else {
                "report_draft"
            }),
            signed: r.signed_at.map(super::super::pages::paris),
            pdf_url: r.pdf_url.clone(),
            cda_url: r.cda_url.clone(),
        })
        .collect();
    let can_sign = is_assignee && reports.iter().any(|r| r.state == "draft");
    let mut members = Vec::new();
    if c.allowed_actions.iter().any(|a| a == "assign")
        && let Some(t) = &c.team
        && let Some(team) = p.get_team(&t.id).await.ok()
    {
        members = team
            .members
            .iter()
            .filter(|m| m.professional_id != c.requester.id)
            .map(|m| (m.professional_id.clone(), m.display_name.clone()))
            .collect();
    }
    let mut targets = Vec::new();
    if c.allowed_actions.iter().any(|a| a == "forward") {
        if let Ok(teams) = p.list_teams(c.specialty.as_deref()).await {
            for t in teams {
                targets.push((
                    format!("team:{}", t.id),
                    format!("{} · {}", v.t("team"), t.name),
                ));
            }
        }
        if let Ok(experts) = p
            .search_professionals(None, c.specialty.as_deref(), true, None, 100)
            .await
        {
            for e in experts {
                if e.id != me && e.id != c.requester.id {
                    targets.push((format!("expert:{}", e.id), e.display_name));
                }
            }
        }
    }
    let templates = if c.allowed_actions.iter().any(|a| a == "answer") {
        p.answer_templates(&v.ctx)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.title, t.body))
            .collect()
    } else {
        Vec::new()
    };
    // A team-mate looking at the pool of a team that hides identities sees a preview.
    let (identified, age, sex) = match &c.patient {
        PatientView::Identified(p) => (Some(p.as_ref().clone()), None, p.sex.clone()),
        PatientView::Preview(p) => (None, p.age_years, p.sex.clone()),
    };
    let patient_name = match &identified {
        Some(p) => format!("{} {}", p.birth_family_name, p.given_names),
        None => v.t("identity_hidden").to_string(),
    };
    let consent_label = match c.consent.status.as_str() {
        "given" => format!(
            "{}{}",
            v.t("consent_given"),
            c.consent
                .collected_at
                .map(|t| format!(" ({})", super::super::pages::paris(t)))
                .unwrap_or_default()
        ),
        "refused" => v.t("consent_refused").to_string(),
        _ => v.t("consent_missing").to_string(),
    };
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    let page = CasePage {
        b: v.base(c.number.clone(), format!("/cases/{}", c.id), u),
        notice,
        error,
        birth_date: identified
            .as_ref()
            .map(|p| french_date(&p.birth_date))
            .unwrap_or_default(),
        identity_label: v.t(
            if identified
                .as_ref()
                .is_some_and(|p| p.identity_status == "qualified")
            {
                "identity_qualified"
            } else {
                "identity_provisional"
            },
        ),
        consent_label,
        state_label: state_label(v.lang, &state_str),
        state: state_str,
        urgent: c.urgency == Urgency::Urgent,
        deadline: state
            .filter(|st| st.is_open())
            .and(c.deadline_at)
            .map(super::super::pages::paris),
        submitted: c.submitted_at.map(super::super::pages::paris),
        awaiting: duration_label(v.lang, c.awaiting_info_seconds),
        assignee: c.assigned_expert.as_ref().map(|a| a.display_name.clone()),
        files,
        can_upload: is_requester
            && matches!(
                state,
                Some(CaseState::Draft) | Some(CaseState::AwaitingInfo)
            ),
        can_message: open_thread && (is_requester || is_assignee || is_assigner),
        can_sign,
        in_pool: c.assigned_expert.is_none(),
        thread,
        reports: report_lines,
        opinion_kind: c
            .opinion
            .as_ref()
            .map(|o| {
                v.t(match o.kind {
                    OpinionKind::Advice => "kind_advice",
                    OpinionKind::WorkupBeforeVisit => "kind_workup",
                    OpinionKind::Consultation => "kind_consultation",
                })
            })
            .unwrap_or(""),
        sex_label: v.t(match sex.as_str() {
            "F" => "sex_f",
            "M" => "sex_m",
            _ => "sex_u",
        }),
        decline_label: c
            .decline
            .as_ref()
            .map(|d| v.t(&format!("decline_{}", d.reason)))
            .unwrap_or(""),
        outcome_label: c
            .outcome
            .as_ref()
            .and_then(|o| serde_json::to_value(o.outcome).ok())
            .and_then(|x| x.as_str().map(|k| v.t(&format!("outcome_{k}"))))
            .unwrap_or(""),
        actions: c.allowed_actions.clone(),
        members,
        targets,
        decline_reasons: DECLINE_REASONS
            .iter()
            .map(|r| (*r, v.t(&format!("decline_{r}"))))
            .collect(),
        outcomes: OUTCOMES
            .iter()
            .map(|o| (*o, v.t(&format!("outcome_{o}"))))
            .collect(),
        templates,
        patient_name,
        identified,
        age,
        c,
    };
    render(status, &page)
}

fn event_label(lang: Lang, action: &str, to_state: &str) -> String {
    let key = format!("ev_{action}");
    let label = super::i18n::t(lang, &key);
    if label.is_empty() {
        // An action without its own sentence: say the state it led to.
        format!("→ {}", state_label(lang, to_state))
    } else {
        label.to_string()
    }
}

#[derive(Deserialize, Default)]
pub struct CaseParams {
    #[serde(default)]
    done: Option<String>,
}

pub async fn case_page(
    axum::extract::State(s): S,
    Path(id): Path<String>,
    parts: Parts,
    axum::extract::Query(q): axum::extract::Query<CaseParams>,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let notice = q
        .done
        .as_deref()
        .map(|d| v.t(&format!("done_{d}")).to_string())
        .filter(|t| !t.is_empty());
    case_response(&s, &v, &id, notice, None).await
}

// ---------- actions ----------

#[derive(Deserialize, Default)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    expert_id: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    context: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    recommendations: String,
    #[serde(default)]
    follow_up: String,
    #[serde(default)]
    visit_needed: Option<String>,
    #[serde(default)]
    urgent: Option<String>,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    usefulness: String,
    #[serde(default)]
    save_template: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn parse_enum<T: for<'de> Deserialize<'de>>(field: &str, value: &str) -> Result<T, Error> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| Error::invalid(field, "choose one of the options"))
}

pub async fn action(
    axum::extract::State(s): S,
    Path((id, action)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form: ActionForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &form.csrf).await {
        return r;
    }
    let p = &s.platform;
    let ctx = &v.ctx;
    let result: Result<&'static str, Error> = async {
        match action.as_str() {
            "submit" => p.submit(ctx, &id).await.map(|_| "submitted"),
            "accept" => p.accept(ctx, &id).await.map(|_| "accepted"),
            "assign" => p
                .assign(
                    ctx,
                    &id,
                    AssignInput {
                        expert_id: form.expert_id.clone(),
                    },
                )
                .await
                .map(|_| "assigned"),
            "decline" => {
                let reason: DeclineReason = parse_enum("reason", &form.reason)?;
                p.decline(
                    ctx,
                    &id,
                    DeclineInput {
                        reason,
                        comment: opt(&form.comment),
                    },
                )
                .await
                .map(|_| "declined")
            }
            "forward" => {
                let (expert_id, team_id) = match form.target.split_once(':') {
                    Some(("team", t)) => (None, Some(t.to_string())),
                    Some(("expert", e)) => (Some(e.to_string()), None),
                    _ => return Err(Error::invalid("target", "choose a team or an expert")),
                };
                p.forward(
                    ctx,
                    &id,
                    ForwardInput {
                        expert_id,
                        team_id,
                        comment: opt(&form.comment),
                    },
                )
                .await
                .map(|_| "forwarded")
            }
            "request_info" => p
                .request_info(
                    ctx,
                    &id,
                    TextInput {
                        text: form.text.clone(),
                    },
                )
                .await
                .map(|_| "info_requested"),
            "provide_info" => p
                .provide_info(
                    ctx,
                    &id,
                    TextInput {
                        text: form.text.clone(),
                    },
                )
                .await
                .map(|_| "info_provided"),
            "message" => p
                .post_message(
                    ctx,
                    &id,
                    TextInput {
                        text: form.text.clone(),
                    },
                )
                .await
                .map(|_| "message"),
            "answer" => {
                let kind: OpinionKind = parse_enum("kind", &form.kind)?;
                let done = p
                    .answer(
                        ctx,
                        &id,
                        AnswerInput {
                            kind,
                            context: form.context.clone(),
                            answer: form.answer.clone(),
                            recommendations: form.recommendations.clone(),
                            follow_up: opt(&form.follow_up),
                            visit_needed: form.visit_needed.is_some(),
                            visit_urgency: None,
                            request_completeness: None,
                        },
                    )
                    .await
                    .map(|_| "answered")?;
                if form.save_template.is_some() {
                    // The answer stands even if the template cannot be saved.
                    if let Err(e) = p.save_answer_template(ctx, &form.answer).await {
                        tracing::warn!(error = %e, "answer template not saved");
                    }
                }
                Ok(done)
            }
            "convert" => p
                .convert_to_consultation(
                    ctx,
                    &id,
                    ConvertInput {
                        context: form.context.clone(),
                        answer: form.answer.clone(),
                        recommendations: form.recommendations.clone(),
                        follow_up: opt(&form.follow_up),
                        urgency: if form.urgent.is_some() {
                            Urgency::Urgent
                        } else {
                            Urgency::Routine
                        },
                        request_completeness: None,
                    },
                )
                .await
                .map(|_| "converted"),
            "cancel" => p
                .cancel(
                    ctx,
                    &id,
                    CancelInput {
                        reason: opt(&form.reason),
                    },
                )
                .await
                .map(|_| "cancelled"),
            "close" => {
                let outcome: OutcomeCode = parse_enum("outcome", &form.outcome)?;
                let usefulness = match form.usefulness.trim() {
                    "" => None,
                    u => Some(
                        u.parse::<u8>()
                            .map_err(|_| Error::invalid("usefulness", "1 to 5"))?,
                    ),
                };
                p.close(
                    ctx,
                    &id,
                    Outcome {
                        outcome,
                        usefulness,
                        comment: opt(&form.comment),
                    },
                )
                .await
                .map(|_| "closed")
            }
            "sign" => p.sign_report(ctx, &id).await.map(|_| "signed"),
            _ => Err(Error::NotFound),
        }
    }
    .await;
    match result {
        Ok(done) => see_other(&format!("/cases/{id}?done={done}")),
        Err(e) => {
            let status = match &e {
                Error::NotFound => StatusCode::NOT_FOUND,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::Internal(_) | Error::Unavailable(_) => return e.into_response(),
                _ => StatusCode::BAD_REQUEST,
            };
            let text = error_text(v.lang, &e);
            case_response(&s, &v, &id, None, Some((status, text))).await
        }
    }
}

/// Files added from the case page: a plain multipart form (the first part is the form
/// token), or the same form sent by `app.js` with a progress bar.
pub async fn upload(axum::extract::State(s): S, Path(id): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let req = Request::from_parts(parts, body);
    let mut multipart = match Multipart::from_request(req, &s).await {
        Ok(m) => m,
        Err(_) => {
            let text = v.t("err_upload_form").to_string();
            return case_response(&s, &v, &id, None, Some((StatusCode::BAD_REQUEST, text))).await;
        }
    };
    // The form token comes first, before any byte of a file is stored.
    let sent = match multipart.next_field().await {
        Ok(Some(f)) if f.name() == Some("csrf") => f.text().await.unwrap_or_default(),
        _ => String::new(),
    };
    if let Err(r) = v.check_csrf(&s, &sent).await {
        return r;
    }
    match crate::web::attachments::receive_multipart(&s, &v.ctx, &id, None, &mut multipart).await {
        Ok(views) if views.is_empty() => {
            let text = v.t("err_no_file").to_string();
            case_response(
                &s,
                &v,
                &id,
                None,
                Some((StatusCode::UNPROCESSABLE_ENTITY, text)),
            )
            .await
        }
        Ok(_) => see_other(&format!("/cases/{id}?done=uploaded")),
        Err(e) => {
            let status = match &e {
                Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                Error::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::NotFound => StatusCode::NOT_FOUND,
                Error::Internal(_) | Error::Unavailable(_) => return e.into_response(),
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let text = error_text(v.lang, &e);
            let mut r = case_response(&s, &v, &id, None, Some((status, text))).await;
            // The body may be left unread: the connection cannot carry another request.
            r.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            r
        }
    }
}

/// `{version, state}` of a case, polled by an open case page (`app.js`).
pub async fn live(axum::extract::State(s): S, Path(id): Path<String>, parts: Parts) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    match s.platform.case_version(&v.ctx, &id).await {
        Ok((version, state)) => {
            Json(serde_json::json!({"version": version, "state": state})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `{unread}`: the header's badge, polled by every page.
pub async fn live_counts(axum::extract::State(s): S, parts: Parts) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    Json(serde_json::json!({"unread": unread(&s, &v).await})).into_response()
}

// ---------- notifications and billing ----------

pub struct NoteLine {
    pub text: String,
    pub when: String,
    pub link: Option<String>,
    pub unread: bool,
}

#[derive(Template)]
#[template(path = "ui/notifications.html")]
struct NotificationsPage {
    b: Base,
    items: Vec<NoteLine>,
}

pub async fn notifications_page(axum::extract::State(s): S, parts: Parts) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = match s.platform.list_notifications(&v.ctx, false, 100).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let items = list
        .items
        .iter()
        .map(|n| NoteLine {
            text: n.text.clone(),
            when: super::super::pages::paris(n.created_at),
            link: n.case_id.as_ref().map(|c| format!("/cases/{c}")),
            unread: n.read_at.is_none(),
        })
        .collect();
    // Seen: the list was shown.
    for n in list.items.iter().filter(|n| n.read_at.is_none()) {
        let _ = s.platform.mark_notification_read(&v.ctx, &n.id).await;
    }
    render(
        StatusCode::OK,
        &NotificationsPage {
            b: v.base(v.t("notifications"), "/notifications", list.unread),
            items,
        },
    )
}

pub struct CounterLine {
    pub patient: String,
    pub code: String,
    pub used: u32,
    pub limit: u32,
}

#[derive(Template)]
#[template(path = "ui/billing.html")]
struct BillingPage {
    b: Base,
    period: String,
    counters: Vec<CounterLine>,
    acts: u32,
    note: String,
}

pub async fn billing_page(axum::extract::State(s): S, parts: Parts) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let c = match s.platform.my_counters(&v.ctx).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut names: HashMap<String, String> = HashMap::new();
    for r in &c.counters {
        if !names.contains_key(&r.patient_id)
            && let Ok(PatientView::Identified(pt)) =
                s.platform.get_patient(&v.ctx, &r.patient_id).await
        {
            names.insert(
                r.patient_id.clone(),
                format!("{} {}", pt.birth_family_name, pt.given_names),
            );
        }
    }
    let counters = c
        .counters
        .iter()
        .map(|r| CounterLine {
            patient: names
                .get(&r.patient_id)
                .cloned()
                .or_else(|| r.patient_ins.clone())
                .unwrap_or_else(|| r.patient_id.clone()),
            code: r.code.clone(),
            used: r.used,
            limit: r.limit,
        })
        .collect();
    let period = format!(
        "{} – {}",
        super::super::pages::paris(c.period_start),
        super::super::pages::paris(c.period_end)
    );
    let u = unread(&s, &v).await;
    render(
        StatusCode::OK,
        &BillingPage {
            b: v.base(v.t("billing"), "/billing", u),
            period,
            counters,
            acts: c.teleexpertise_acts,
            note: c.note.clone(),
        },
    )
}
