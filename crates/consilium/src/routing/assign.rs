//! Team assignment policies, wired (domain.md §4): what happens when a request reaches a
//! team, decided by the pure functions of `model.rs` over the team's members.
//!
//! - `self_service`: the request waits in the pool; the first member to claim it wins.
//! - `moderated`: the pool is the assigner's: members cannot claim (`accept` refuses), the
//!   assigners are told at once.
//! - `auto_assign`: the platform offers the request to a member (round robin or least
//!   open load), who has `accept_hours` to accept; an `routing.offer` job then offers it to
//!   the next member, and after the last one hands it to the assigners (or, without
//!   assigners, tells the requester that no one is available). Never silence.
//! - `hybrid`: a pool first; a `routing.from_pool` job after `hybrid_hours` starts the
//!   auto-assign sequence if nobody claimed it.
//!
//! A case forwarded back to a team (an offered expert who cannot take it, or any
//! assignee) enters its pool again: the same policy applies, the returning expert is not
//! offered it again.
//!
//! Each step runs in the transaction that causes it (submission, or the job and its
//! completion), so it happens once even with several instances.

use super::model::{self as m, Step};
use crate::audit::{self, NewEntry};
use crate::cases::model::CaseState;
use crate::cases::repo::{self as cases, CaseRow};
use crate::db::Tx;
use crate::directory::model::{AssignStrategy, Team};
use crate::directory::repo as dir;
use crate::jobs::{self, Job, JobError, NewJob, Registry};
use crate::kernel::{Actor, Error, Result, Timestamp, new_id};
use crate::notifications::{self, Kind};
use crate::platform::Platform;
use crate::run;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const OFFER_KIND: &str = "routing.offer";
pub const FROM_POOL_KIND: &str = "routing.from_pool";
const HOUR: i64 = 3_600_000_000;

#[derive(Debug, Serialize, Deserialize)]
struct OfferPayload {
    case_id: String,
    expert_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct FromPoolPayload {
    case_id: String,
}

async fn strings(tx: &mut Tx, sql: &'static str, arg: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = run!(tx, |c| sqlx::query_as(sql).bind(arg).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

async fn assigners(tx: &mut Tx, team: &str) -> Result<Vec<String>> {
    strings(
        tx,
        "SELECT m.professional_id FROM team_members m
         JOIN professionals p ON p.id = m.professional_id
         WHERE m.team_id = $1 AND m.is_assigner = TRUE AND p.active = TRUE
         ORDER BY m.professional_id",
        team,
    )
    .await
}

/// Whether members of the case's team may claim it from the pool (not in a moderated team).
pub async fn members_may_claim(tx: &mut Tx, team_id: &str) -> Result<bool> {
    let policy: Option<String> = run!(tx, |c| sqlx::query_scalar(
        "SELECT policy FROM teams WHERE id = $1"
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)?;
    Ok(policy.as_deref() != Some("moderated"))
}

/// Called by `submit`, in its transaction, once `r` is in `team`'s pool. May assign `r`
/// (auto_assign). Returns what was decided, for the timeline.
pub(crate) async fn on_submission(
    p: &Platform,
    tx: &mut Tx,
    now: Timestamp,
    r: &mut CaseRow,
    team_id: &str,
) -> Result<Value> {
    let team = dir::get_team(tx, team_id)
        .await?
        .ok_or_else(|| Error::internal("the case's team vanished"))?;
    match team.policy.as_str() {
        "auto_assign" => offer_next(p, tx, now, r, &team).await,
        "moderated" => {
            let to = assigners(tx, team_id).await?;
            for a in &to {
                notifications::notify(p, tx, now, a, Kind::ToAssign, &r.id, &r.number).await?;
            }
            Ok(json!({"policy": "moderated", "to_assign": to}))
        }
        "hybrid" => {
            let at = Timestamp(now.micros() + team.routing.hybrid_hours * HOUR);
            let payload = serde_json::to_value(FromPoolPayload {
                case_id: r.id.clone(),
            })
            .map_err(Error::internal)?;
            jobs::enqueue(
                tx,
                now,
                NewJob::new(FROM_POOL_KIND, payload, at).dedupe(format!("case:{}:hybrid", r.id)),
            )
            .await?;
            Ok(json!({"policy": "hybrid", "auto_assign_at": at}))
        }
        _ => Ok(json!({"policy": "self_service"})),
    }
}

/// Called by `forward` (in its transaction) when a case is sent to `team_id`'s pool:
/// the policy applies again, through a job (the forward's own state change comes first).
/// The expert who returned it is not offered it again.
pub(crate) async fn on_forward_to_team(
    p: &Platform,
    tx: &mut Tx,
    now: Timestamp,
    r: &CaseRow,
    team_id: &str,
    returned_by: Option<&str>,
) -> Result<()> {
    if let Some(x) = returned_by {
        run!(tx, |c| sqlx::query(
            "INSERT INTO case_offers (case_id, expert_id, offered_at, until_at, outcome)
             VALUES ($1, $2, $3, $3, 'returned')
             ON CONFLICT (case_id, expert_id) DO UPDATE SET outcome = 'returned'"
        )
        .bind(&r.id)
        .bind(x)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    let team = dir::get_team(tx, team_id)
        .await?
        .ok_or_else(|| Error::internal("the target team vanished"))?;
    let at = match team.policy.as_str() {
        "auto_assign" => now,
        "hybrid" => Timestamp(now.micros() + team.routing.hybrid_hours * HOUR),
        "moderated" => {
            for a in &assigners(tx, team_id).await? {
                notifications::notify(p, tx, now, a, Kind::ToAssign, &r.id, &r.number).await?;
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let payload = serde_json::to_value(FromPoolPayload {
        case_id: r.id.clone(),
    })
    .map_err(Error::internal)?;
    jobs::enqueue(
        tx,
        now,
        NewJob::new(FROM_POOL_KIND, payload, at).dedupe(format!("case:{}:pool:{}", r.id, new_id())),
    )
    .await?;
    Ok(())
}

/// The next step for a case in `team`'s pool: offer it to the next member not yet tried,
/// else to the assigners, else tell the requester. Mutates `r` (assignment) and records
/// the offer, its timer and the notifications in `tx`.
async fn offer_next(
    p: &Platform,
    tx: &mut Tx,
    now: Timestamp,
    r: &mut CaseRow,
    team: &Team,
) -> Result<Value> {
    // The members with their stored rules, load, absences (delegates stand in) and rota.
    let candidates = super::rules::team_candidates(tx, team, &r.requester_id, now).await?;
    let last: Option<String> = run!(tx, |c| sqlx::query_scalar(
        "SELECT last_assigned_id FROM teams WHERE id = $1"
    )
    .bind(&team.id)
    .fetch_one(c)
    .await)?;
    let strategy = match team.routing.assign_strategy {
        AssignStrategy::RoundRobin => m::AssignStrategy::RoundRobin { last },
        AssignStrategy::LeastLoaded => m::AssignStrategy::LeastLoaded,
    };
    let request = super::rules::request_of(tx, &r.requester_id, now).await?;
    let order = m::order(&candidates, &request, &strategy);
    let tried = strings(
        tx,
        "SELECT expert_id FROM case_offers WHERE case_id = $1",
        &r.id,
    )
    .await?;
    let to_assign = assigners(tx, &team.id).await?;
    match m::next_step(
        &order,
        &tried,
        to_assign.first().map(String::as_str),
        now,
        team.routing.accept_hours,
    ) {
        Step::Offer { expert, until } => {
            r.assigned_expert_id = Some(expert.clone());
            r.state = CaseState::Assigned.as_str().into();
            run!(tx, |c| sqlx::query(
                "INSERT INTO case_offers (case_id, expert_id, offered_at, until_at)
                 VALUES ($1, $2, $3, $4)"
            )
            .bind(&r.id)
            .bind(&expert)
            .bind(now.micros())
            .bind(until.micros())
            .execute(c)
            .await
            .map(|_| ()))?;
            run!(tx, |c| sqlx::query(
                "UPDATE teams SET last_assigned_id = $1 WHERE id = $2"
            )
            .bind(&expert)
            .bind(&team.id)
            .execute(c)
            .await
            .map(|_| ()))?;
            let payload = serde_json::to_value(OfferPayload {
                case_id: r.id.clone(),
                expert_id: expert.clone(),
            })
            .map_err(Error::internal)?;
            jobs::enqueue(
                tx,
                now,
                NewJob::new(OFFER_KIND, payload, until)
                    .dedupe(format!("case:{}:offer:{expert}", r.id)),
            )
            .await?;
            notifications::notify(p, tx, now, &expert, Kind::Offered, &r.id, &r.number).await?;
            Ok(json!({"policy": "auto_assign", "offered_to": expert, "accept_until": until}))
        }
        Step::ToAssigner(_) => {
            r.assigned_expert_id = None;
            r.state = CaseState::Submitted.as_str().into();
            for a in &to_assign {
                notifications::notify(p, tx, now, a, Kind::ToAssign, &r.id, &r.number).await?;
            }
            Ok(json!({"policy": "auto_assign", "to_assign": to_assign, "tried": tried}))
        }
        Step::NoOneAvailable => {
            r.assigned_expert_id = None;
            r.state = CaseState::Submitted.as_str().into();
            notifications::notify(
                p,
                tx,
                now,
                &r.requester_id,
                Kind::NoOneAvailable,
                &r.id,
                &r.number,
            )
            .await?;
            Ok(json!({"policy": "auto_assign", "no_one_available": true, "tried": tried}))
        }
    }
}

/// Saves a routing step made by a job: version-checked, with its timeline event and a
/// system audit entry. `false`: the case changed meanwhile (nothing written).
async fn save_step(
    tx: &mut Tx,
    now: Timestamp,
    r: &mut CaseRow,
    from: &str,
    previous_expert: Option<&str>,
    details: Value,
) -> Result<bool> {
    let expected = r.version;
    r.version += 1;
    r.updated_at = now.micros();
    if !cases::save(tx, r, expected).await? {
        return Ok(false);
    }
    cases::insert_event(
        tx,
        &new_id(),
        &r.id,
        now,
        None,
        "route",
        from,
        &r.state,
        &details,
    )
    .await?;
    audit::append(
        tx,
        now,
        &Actor::System("routing"),
        &[NewEntry::success("case.route", "case", &r.id).with(details)],
    )
    .await?;
    crate::webhooks::emit(
        tx,
        now,
        r,
        previous_expert,
        crate::webhooks::model::EventType::Routed,
    )
    .await?;
    Ok(true)
}

/// An offer's time ran out: if the expert has not accepted (the case is still assigned to
/// them, untouched), the next member is offered it.
async fn run_offer(p: Platform, job: Job) -> Result<(), JobError> {
    let o: OfferPayload = job.payload()?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let Some(mut r) = cases::get(&mut tx, &o.case_id).await? else {
        return Err(JobError::Permanent(format!("no case {}", o.case_id)));
    };
    let lapsed = r.state == CaseState::Assigned.as_str()
        && r.assigned_expert_id.as_deref() == Some(o.expert_id.as_str());
    if lapsed && let Some(team_id) = r.team_id.clone() {
        run!(&mut tx, |c| sqlx::query(
            "UPDATE case_offers SET outcome = 'lapsed' WHERE case_id = $1 AND expert_id = $2"
        )
        .bind(&o.case_id)
        .bind(&o.expert_id)
        .execute(c)
        .await
        .map(|_| ()))?;
        let team = dir::get_team(&mut tx, &team_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("no team {team_id}")))?;
        let from = r.state.clone();
        let mut details = offer_next(&p, &mut tx, now, &mut r, &team).await?;
        details["lapsed"] = json!(o.expert_id);
        if !save_step(&mut tx, now, &mut r, &from, Some(&o.expert_id), details).await? {
            tx.rollback().await?;
            return Err(JobError::Retry("the case changed meanwhile".into()));
        }
    } else if r.state == CaseState::InProgress.as_str() {
        run!(&mut tx, |c| sqlx::query(
            "UPDATE case_offers SET outcome = 'accepted'
             WHERE case_id = $1 AND expert_id = $2 AND outcome IS NULL"
        )
        .bind(&o.case_id)
        .bind(&o.expert_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    job.complete(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A case waited in a pool long enough (hybrid), or came back to an auto-assigning team's
/// pool: if nobody claimed it meanwhile, offer it to the next member.
async fn run_from_pool(p: Platform, job: Job) -> Result<(), JobError> {
    let h: FromPoolPayload = job.payload()?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let Some(mut r) = cases::get(&mut tx, &h.case_id).await? else {
        return Err(JobError::Permanent(format!("no case {}", h.case_id)));
    };
    if r.state == CaseState::Submitted.as_str()
        && r.assigned_expert_id.is_none()
        && let Some(team_id) = r.team_id.clone()
    {
        let team = dir::get_team(&mut tx, &team_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("no team {team_id}")))?;
        let from = r.state.clone();
        let mut details = offer_next(&p, &mut tx, now, &mut r, &team).await?;
        details["from_pool"] = json!(team.policy);
        if !save_step(&mut tx, now, &mut r, &from, None, details).await? {
            tx.rollback().await?;
            return Err(JobError::Retry("the case changed meanwhile".into()));
        }
    }
    job.complete(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

pub fn register_jobs(r: &Registry) {
    r.register(OFFER_KIND, run_offer);
    r.register(FROM_POOL_KIND, run_from_pool);
}
