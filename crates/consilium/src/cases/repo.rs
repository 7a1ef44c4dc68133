//! Case SQL.

use super::model::CaseState;
use crate::db::Tx;
use crate::kernel::{Error, Result, Timestamp};
use crate::run;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: String,
    pub number: String,
    pub patient_id: String,
    pub requester_id: String,
    pub state: String,
    pub specialty: Option<String>,
    pub target_expert_id: Option<String>,
    pub target_team_id: Option<String>,
    pub team_id: Option<String>,
    pub assigned_expert_id: Option<String>,
    pub urgency: String,
    pub reason: String,
    pub question: String,
    pub clinical_context: String,
    pub consent_status: String,
    pub consent_method: Option<String>,
    pub consent_collected_by: Option<String>,
    pub consent_collected_at: Option<i64>,
    pub patient_informed: bool,
    pub submitted_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub awaiting_since: Option<i64>,
    pub awaiting_info_us: i64,
    pub decline_reason: Option<String>,
    pub decline_comment: Option<String>,
    pub opinion: Option<String>,
    pub outcome: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CaseRow {
    pub fn state(&self) -> Result<CaseState> {
        CaseState::parse(&self.state)
            .ok_or_else(|| Error::internal(format!("unknown case state {}", self.state)))
    }
}

const COLS: &str = "id, number, patient_id, requester_id, state, specialty, target_expert_id, target_team_id,
    team_id, assigned_expert_id, urgency, reason, question, clinical_context, consent_status, consent_method,
    consent_collected_by, consent_collected_at, patient_informed, submitted_at, deadline_at, accepted_at,
    answered_at, closed_at, awaiting_since, awaiting_info_us, decline_reason, decline_comment, opinion, outcome,
    version, created_at, updated_at";

pub async fn insert(tx: &mut Tx, r: &CaseRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO cases ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
            $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)"
    );
    run!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&r.id)
        .bind(&r.number)
        .bind(&r.patient_id)
        .bind(&r.requester_id)
        .bind(&r.state)
        .bind(&r.specialty)
        .bind(&r.target_expert_id)
        .bind(&r.target_team_id)
        .bind(&r.team_id)
        .bind(&r.assigned_expert_id)
        .bind(&r.urgency)
        .bind(&r.reason)
        .bind(&r.question)
        .bind(&r.clinical_context)
        .bind(&r.consent_status)
        .bind(&r.consent_method)
        .bind(&r.consent_collected_by)
        .bind(r.consent_collected_at)
        .bind(r.patient_informed)
        .bind(r.submitted_at)
        .bind(r.deadline_at)
        .bind(r.accepted_at)
        .bind(r.answered_at)
        .bind(r.closed_at)
        .bind(r.awaiting_since)
        .bind(r.awaiting_info_us)
        .bind(&r.decline_reason)
        .bind(&r.decline_comment)
        .bind(&r.opinion)
        .bind(&r.outcome)
        .bind(r.version)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Saves every mutable column if nobody changed the case since `expected_version` was read
/// (optimistic concurrency). Returns false when the case changed meanwhile.
pub async fn save(tx: &mut Tx, r: &CaseRow, expected_version: i64) -> Result<bool> {
    let res = run!(tx, |c| {
        sqlx::query(
        "UPDATE cases SET state = $3, specialty = $4, target_expert_id = $5, target_team_id = $6, team_id = $7,
            assigned_expert_id = $8, urgency = $9, reason = $10, question = $11, clinical_context = $12,
            consent_status = $13, consent_method = $14, consent_collected_by = $15, consent_collected_at = $16,
            patient_informed = $17, submitted_at = $18, deadline_at = $19, accepted_at = $20, answered_at = $21,
            closed_at = $22, awaiting_since = $23, awaiting_info_us = $24, decline_reason = $25,
            decline_comment = $26, opinion = $27, outcome = $28, version = $29, updated_at = $30, patient_id = $31
         WHERE id = $1 AND version = $2"
    )
    .bind(&r.id)
    .bind(expected_version)
    .bind(&r.state)
    .bind(&r.specialty)
    .bind(&r.target_expert_id)
    .bind(&r.target_team_id)
    .bind(&r.team_id)
    .bind(&r.assigned_expert_id)
    .bind(&r.urgency)
    .bind(&r.reason)
    .bind(&r.question)
    .bind(&r.clinical_context)
    .bind(&r.consent_status)
    .bind(&r.consent_method)
    .bind(&r.consent_collected_by)
    .bind(r.consent_collected_at)
    .bind(r.patient_informed)
    .bind(r.submitted_at)
    .bind(r.deadline_at)
    .bind(r.accepted_at)
    .bind(r.answered_at)
    .bind(r.closed_at)
    .bind(r.awaiting_since)
    .bind(r.awaiting_info_us)
    .bind(&r.decline_reason)
    .bind(&r.decline_comment)
    .bind(&r.opinion)
    .bind(&r.outcome)
    .bind(r.version)
    .bind(r.updated_at)
    .bind(&r.patient_id)
    .execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(res == 1)
}

pub async fn get(tx: &mut Tx, id: &str) -> Result<Option<CaseRow>> {
    let sql = format!("SELECT {COLS} FROM cases WHERE id = $1");
    Ok(run!(tx, |c| sqlx::query_as::<_, CaseRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Next human-readable case number for the year, e.g. `TE-2026-000042`.
pub async fn next_number(tx: &mut Tx, year: i32) -> Result<String> {
    let name = format!("case_number:{year}");
    let (v,): (i64,) = run!(tx, |c| sqlx::query_as(
        "INSERT INTO counters (name, value) VALUES ($1, 1)
         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
         RETURNING value"
    )
    .bind(&name)
    .fetch_one(c)
    .await)?;
    Ok(format!("TE-{year}-{v:06}"))
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_event(
    tx: &mut Tx,
    id: &str,
    case_id: &str,
    at: Timestamp,
    actor_id: Option<&str>,
    action: &str,
    from: &str,
    to: &str,
    details: &serde_json::Value,
) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "INSERT INTO case_events (id, case_id, at, actor_id, action, from_state, to_state, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id)
    .bind(case_id)
    .bind(at.micros())
    .bind(actor_id)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(details.to_string())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseEvent {
    pub at: Timestamp,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    actor_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    profession: Option<String>,
    action: String,
    from_state: String,
    to_state: String,
    details: String,
}

pub async fn events(tx: &mut Tx, case_id: &str) -> Result<Vec<CaseEvent>> {
    let rows: Vec<EventRow> = run!(tx, |c| {
        sqlx::query_as::<_, EventRow>(
        "SELECT e.at, e.actor_id, p.first_name, p.last_name, p.profession, e.action, e.from_state, e.to_state, e.details
         FROM case_events e LEFT JOIN professionals p ON p.id = e.actor_id
         WHERE e.case_id = $1 ORDER BY e.at, e.id"
    )
    .bind(case_id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| CaseEvent {
            at: Timestamp(r.at),
            actor_name: match (&r.first_name, &r.last_name, &r.profession) {
                (Some(f), Some(l), Some(p)) => Some(crate::directory::model::display_name(p, f, l)),
                _ => None,
            },
            actor_id: r.actor_id,
            action: r.action,
            from_state: r.from_state,
            to_state: r.to_state,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Message {
    pub id: String,
    pub author_id: String,
    pub author_name: String,
    /// `message`, `info_request` or `info_reply`.
    pub kind: String,
    pub body: String,
    pub at: Timestamp,
}

pub async fn insert_message(
    tx: &mut Tx,
    id: &str,
    case_id: &str,
    author: &str,
    kind: &str,
    body: &str,
    at: Timestamp,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO case_messages (id, case_id, author_id, kind, body, at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(id)
    .bind(case_id)
    .bind(author)
    .bind(kind)
    .bind(body)
    .bind(at.micros())
    .execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    author_id: String,
    first_name: String,
    last_name: String,
    profession: String,
    kind: String,
    body: String,
    at: i64,
}

pub async fn messages(tx: &mut Tx, case_id: &str) -> Result<Vec<Message>> {
    let rows: Vec<MessageRow> = run!(tx, |c| {
        sqlx::query_as::<_, MessageRow>(
        "SELECT m.id, m.author_id, p.first_name, p.last_name, p.profession, m.kind, m.body, m.at
         FROM case_messages m JOIN professionals p ON p.id = m.author_id
         WHERE m.case_id = $1 ORDER BY m.at, m.id"
    )
    .bind(case_id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| Message {
            author_name: crate::directory::model::display_name(
                &r.profession,
                &r.first_name,
                &r.last_name,
            ),
            id: r.id,
            author_id: r.author_id,
            kind: r.kind,
            body: r.body,
            at: Timestamp(r.at),
        })
        .collect())
}

/// One line of a case list.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema, sqlx::FromRow)]
pub struct SummaryRow {
    pub id: String,
    pub number: String,
    pub state: String,
    pub urgency: String,
    pub specialty: Option<String>,
    pub reason: String,
    pub patient_id: String,
    pub patient_family_name: String,
    pub patient_given_names: String,
    pub patient_birth_date: String,
    pub requester_id: String,
    pub requester_first: String,
    pub requester_last: String,
    pub requester_profession: String,
    pub assigned_expert_id: Option<String>,
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    /// The case's team hides patients' identities in its pool.
    pub team_hides_identity: Option<bool>,
    pub submitted_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SUMMARY_COLUMNS: &str =
    "SELECT c.id, c.number, c.state, c.urgency, c.specialty, c.reason, c.patient_id,
        COALESCE(pa.used_family_name, pa.birth_family_name) AS patient_family_name,
        pa.given_names AS patient_given_names, pa.birth_date AS patient_birth_date,
        c.requester_id, rq.first_name AS requester_first, rq.last_name AS requester_last,
        rq.profession AS requester_profession, c.assigned_expert_id, c.team_id, t.name AS team_name,
        t.hide_identity_in_pool AS team_hides_identity, c.submitted_at, c.deadline_at, c.created_at, c.updated_at";

/// The names shown in a list line; `c` is the case.
const SUMMARY_JOINS: &str = "JOIN patients pa ON pa.id = c.patient_id
    JOIN professionals rq ON rq.id = c.requester_id
    LEFT JOIN teams t ON t.id = c.team_id";

/// `c` is one of my open assigned cases (the `Mine` half of the inbox).
const MINE_WHERE: &str =
    "c.assigned_expert_id = $1 AND c.state IN ('assigned', 'in_progress', 'awaiting_info')";
/// `c` waits, unassigned, in the pool of one of my teams (the `Pool` half of the inbox).
const POOL_WHERE: &str =
    "c.team_id IN (SELECT team_id FROM team_members WHERE professional_id = $1)
   AND c.state = 'submitted' AND c.assigned_expert_id IS NULL";

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Cases I requested; newest first.
    Requested,
    /// My work: cases assigned to me and waiting in my teams' pools; earliest deadline first.
    Inbox,
    /// The first half of `Inbox`: my open assigned cases; earliest deadline first.
    Mine,
    /// The second half of `Inbox`: cases waiting in my teams' pools; earliest deadline first.
    Pool,
    /// Every case of the teams I assign for; earliest deadline first.
    Team,
}

pub struct ListFilter<'a> {
    pub me: &'a str,
    pub view: View,
    pub states: Option<Vec<String>>,
    pub overdue_at: Option<i64>,
    /// Keyset: (sort key, id) of the last row of the previous page.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// Lists a page of cases. Sort key: `created_at` descending for `Requested`,
/// `deadline_at` ascending otherwise.
pub async fn list(tx: &mut Tx, f: &ListFilter<'_>) -> Result<Vec<SummaryRow>> {
    let open = "('submitted', 'assigned', 'in_progress', 'awaiting_info')";
    let states_sql = match &f.states {
        Some(s) if !s.is_empty() => {
            // Values are checked against the enum before they get here; quote them anyway.
            let list: Vec<String> = s
                .iter()
                .filter(|x| CaseState::parse(x).is_some())
                .map(|x| format!("'{x}'"))
                .collect();
            if list.is_empty() {
                return Ok(Vec::new());
            }
            format!(" AND c.state IN ({})", list.join(", "))
        }
        _ => String::new(),
    };
    let overdue_sql = if f.overdue_at.is_some() {
        format!(" AND c.deadline_at < $4 AND c.state IN {open}")
    } else {
        String::new()
    };
    let has_after = f.after.is_some();
    let (a_key, a_id) = f.after.clone().unwrap_or((0, String::new()));
    let summary = format!("{SUMMARY_COLUMNS} FROM cases c {SUMMARY_JOINS}");
    let after_deadline = "($5 = FALSE OR c.deadline_at > $2 OR (c.deadline_at = $2 AND c.id > $3))";
    let sql = match f.view {
        View::Requested => format!(
            "{summary} WHERE c.requester_id = $1{states_sql}{overdue_sql}
               AND ($5 = FALSE OR c.created_at < $2 OR (c.created_at = $2 AND c.id < $3))
             ORDER BY c.created_at DESC, c.id DESC LIMIT $6"
        ),
        // The page is chosen from `cases` alone, through the indexes; names are then joined
        // for the page's rows only, not for every open case of the expert and their teams.
        View::Inbox | View::Mine | View::Pool => {
            let mine = format!(
                "SELECT c.id, c.deadline_at FROM cases c
                 WHERE {MINE_WHERE}{states_sql}{overdue_sql}
                   AND {after_deadline}"
            );
            let pool = format!(
                "SELECT c.id, c.deadline_at FROM cases c
                 WHERE {POOL_WHERE}{states_sql}{overdue_sql}
                   AND {after_deadline}"
            );
            let page = match f.view {
                View::Mine => mine,
                View::Pool => pool,
                _ => format!("{mine} UNION ALL {pool}"),
            };
            format!(
                "{SUMMARY_COLUMNS} FROM ({page} ORDER BY deadline_at, id LIMIT $6) page
                 JOIN cases c ON c.id = page.id
                 {SUMMARY_JOINS}
                 ORDER BY c.deadline_at, c.id"
            )
        }
        View::Team => format!(
            "{summary} WHERE c.team_id IN (SELECT team_id FROM team_members WHERE professional_id = $1 AND is_assigner = TRUE)
               AND c.state <> 'draft'{states_sql}{overdue_sql}
               AND {after_deadline}
             ORDER BY c.deadline_at, c.id LIMIT $6"
        ),
    };
    let overdue_at = f.overdue_at.unwrap_or(0);
    let rows = run!(tx, |c| sqlx::query_as::<_, SummaryRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(f.me)
    .bind(a_key)
    .bind(&a_id)
    .bind(overdue_at)
    .bind(has_after)
    .bind(f.limit)
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// How many cases each list of the web inbox holds, counted in the indexes (no names, no
/// patient data: not an audited read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct TabCounts {
    /// `View::Mine`.
    pub mine: i64,
    /// `View::Pool`.
    pub pool: i64,
    /// `View::Inbox` with a deadline before the `due_before` given.
    pub due: i64,
    /// `View::Team`, open cases only.
    pub team: i64,
    /// `View::Requested`, every state.
    pub requested: i64,
    /// `View::Requested` still in progress for the requester (drafts, open, answered).
    pub requested_open: i64,
}

/// `POOL_WHERE` as a join from my teams: SQLite (no statistics) would otherwise count the
/// pool through `cases_expert` (every unassigned case waiting in any team), 3 ms at 50,000
/// cases against 0.3 ms through `cases_pool`. `CROSS JOIN` fixes SQLite's join order;
/// PostgreSQL plans it as any join.
const POOL_COUNT: &str = "team_members tm CROSS JOIN cases c
    WHERE tm.professional_id = $1 AND c.team_id = tm.team_id
      AND c.state = 'submitted' AND c.assigned_expert_id IS NULL";

/// Counts the cases of each inbox list for `me`.
pub async fn tab_counts(tx: &mut Tx, me: &str, due_before: i64) -> Result<TabCounts> {
    let sql = format!(
        "SELECT
           (SELECT COUNT(*) FROM cases c WHERE {MINE_WHERE}) AS mine,
           (SELECT COUNT(*) FROM {POOL_COUNT}) AS pool,
           (SELECT COUNT(*) FROM cases c WHERE {MINE_WHERE} AND c.deadline_at < $2)
             + (SELECT COUNT(*) FROM {POOL_COUNT} AND c.deadline_at < $2) AS due,
           (SELECT COUNT(*) FROM cases c
             WHERE c.team_id IN (SELECT team_id FROM team_members WHERE professional_id = $1 AND is_assigner = TRUE)
               AND c.state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info')) AS team,
           (SELECT COUNT(*) FROM cases c WHERE c.requester_id = $1) AS requested,
           (SELECT COUNT(*) FROM cases c WHERE c.requester_id = $1
               AND c.state IN ('draft', 'submitted', 'assigned', 'in_progress', 'awaiting_info', 'answered')) AS requested_open"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, TabCounts>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(me)
    .bind(due_before)
    .fetch_one(c)
    .await)?)
}
