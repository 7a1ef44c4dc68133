//! Deadline timers as jobs: set at submission, each run once (its effects and its completion
//! commit together), each checking the case's state when it fires (a case answered in the
//! meantime is left alone).

use super::model::{self, Timer};
use crate::audit::{self, NewEntry};
use crate::cases::model::CaseState;
use crate::db::Tx;
use crate::jobs::{self, Job, JobError, NewJob, Registry};
use crate::kernel::{Actor, Result, Timestamp};
use crate::notifications::{self, Kind};
use crate::platform::Platform;
use serde::{Deserialize, Serialize};

pub const TIMER_KIND: &str = "case.timer";

#[derive(Debug, Serialize, Deserialize)]
struct TimerPayload {
    case_id: String,
    #[serde(flatten)]
    timer: Timer,
}

/// Sets a submitted case's timers (reminders, escalation, expiry) in the caller's
/// transaction. Once per case: a case forwarded and resubmitted keeps its first timers,
/// as R9 counts from the first submission.
pub async fn schedule_deadlines(
    p: &Platform,
    tx: &mut Tx,
    now: Timestamp,
    case_id: &str,
    submitted_at: Timestamp,
    deadline: Timestamp,
) -> Result<()> {
    for (timer, at) in model::timers(&p.deadlines, submitted_at, deadline) {
        let payload = serde_json::to_value(TimerPayload {
            case_id: case_id.to_string(),
            timer,
        })
        .map_err(crate::kernel::Error::internal)?;
        let job =
            NewJob::new(TIMER_KIND, payload, at).dedupe(format!("case:{case_id}:{}", timer.key()));
        jobs::enqueue(tx, now, job).await?;
    }
    Ok(())
}

async fn ids(tx: &mut Tx, sql: &'static str, arg: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        crate::run!(tx, |c| sqlx::query_as(sql).bind(arg).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

const TEAM_MEMBERS: &str = "SELECT m.professional_id FROM team_members m
     JOIN professionals p ON p.id = m.professional_id
     WHERE m.team_id = $1 AND p.active = TRUE ORDER BY m.professional_id";
const TEAM_ASSIGNERS: &str = "SELECT m.professional_id FROM team_members m
     JOIN professionals p ON p.id = m.professional_id
     WHERE m.team_id = $1 AND m.is_assigner = TRUE AND p.active = TRUE";
const ASSIGNERS_OF_TEAMS_OF: &str = "SELECT a.professional_id FROM team_members m
     JOIN team_members a ON a.team_id = m.team_id AND a.is_assigner = TRUE
     JOIN professionals p ON p.id = a.professional_id
     WHERE m.professional_id = $1 AND p.active = TRUE AND a.professional_id <> $1";
const ADMINS_OF_TEAM_ORG: &str = "SELECT m.professional_id FROM memberships m
     JOIN teams t ON t.organisation_id = m.organisation_id
     JOIN professionals p ON p.id = m.professional_id
     WHERE t.id = $1 AND m.role = 'admin' AND p.active = TRUE";
const ADMINS_OF_ORGS_OF: &str = "SELECT a.professional_id FROM memberships m
     JOIN memberships a ON a.organisation_id = m.organisation_id AND a.role = 'admin'
     JOIN professionals p ON p.id = a.professional_id
     WHERE m.professional_id = $1 AND p.active = TRUE AND a.professional_id <> $1";

async fn run_timer(p: Platform, job: Job) -> Result<(), JobError> {
    let t: TimerPayload = job.payload()?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let Some(case) = crate::cases::repo::get(&mut tx, &t.case_id).await? else {
        return Err(JobError::Permanent(format!("no case {}", t.case_id)));
    };
    let state = case.state()?;
    let actor = Actor::System("deadlines");
    let mut entries = Vec::new();
    match t.timer {
        Timer::Reminder { day } => {
            // Only while the expert side holds the case (not while the requester is asked).
            if matches!(
                state,
                CaseState::Submitted | CaseState::Assigned | CaseState::InProgress
            ) {
                let to = match (&case.assigned_expert_id, &case.team_id) {
                    (Some(a), _) => vec![a.clone()],
                    // In a moderated team's pool only the assigners may act: they are
                    // reminded; in any other pool, every member who may claim it.
                    (None, Some(team)) => {
                        if super::assign::members_may_claim(&mut tx, team).await? {
                            ids(&mut tx, TEAM_MEMBERS, team).await?
                        } else {
                            ids(&mut tx, TEAM_ASSIGNERS, team).await?
                        }
                    }
                    (None, None) => Vec::new(),
                };
                for who in &to {
                    notifications::notify(
                        &p,
                        &mut tx,
                        now,
                        who,
                        Kind::Reminder,
                        &case.id,
                        &case.number,
                    )
                    .await?;
                }
                entries.push(
                    NewEntry::success("case.remind", "case", &case.id)
                        .with(serde_json::json!({"day": day, "to": to})),
                );
            }
        }
        Timer::Escalate => {
            if state.is_open() {
                let team_assigners = match &case.team_id {
                    Some(team) => ids(&mut tx, TEAM_ASSIGNERS, team).await?,
                    None => Vec::new(),
                };
                let assignee_assigners = match &case.assigned_expert_id {
                    Some(a) => ids(&mut tx, ASSIGNERS_OF_TEAMS_OF, a).await?,
                    None => Vec::new(),
                };
                let mut admins = match &case.team_id {
                    Some(team) => ids(&mut tx, ADMINS_OF_TEAM_ORG, team).await?,
                    None => Vec::new(),
                };
                if let Some(a) = &case.assigned_expert_id {
                    admins.extend(ids(&mut tx, ADMINS_OF_ORGS_OF, a).await?);
                }
                let to = model::escalation_recipients(
                    &team_assigners,
                    &assignee_assigners,
                    &admins,
                    &case.requester_id,
                );
                for who in &to {
                    notifications::notify(
                        &p,
                        &mut tx,
                        now,
                        who,
                        Kind::Escalated,
                        &case.id,
                        &case.number,
                    )
                    .await?;
                }
                entries.push(
                    NewEntry::success("case.escalate", "case", &case.id)
                        .with(serde_json::json!({"to": to})),
                );
            }
        }
        Timer::Expire => {
            let due = case.deadline_at.is_some_and(|d| d <= now.micros());
            if due
                && let Some(entry) =
                    crate::cases::service::expire_in(&mut tx, &case.id, now).await?
            {
                entries.push(entry);
                notifications::notify(
                    &p,
                    &mut tx,
                    now,
                    &case.requester_id,
                    Kind::Expired,
                    &case.id,
                    &case.number,
                )
                .await?;
            }
        }
    }
    audit::append(&mut tx, now, &actor, &entries).await?;
    job.complete(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

pub fn register_jobs(r: &Registry) {
    r.register(TIMER_KIND, run_timer);
}
