//! What the rules mean for people: the requester's search (the experts and teams of a
//! specialty that would accept the caller's request now, with their expected delay) and the
//! case assigner's team board (load per member, pool, due soon, overdue).
//!
//! Expected delay: the median time from submission to answer of the cases the expert (or
//! the team) answered in the last 90 days; `null` without such a case.

use super::model::{self as m, Candidate, Span};
use super::rules::{self, OPEN_ASSIGNED, PersonRef};
use crate::audit::NewEntry;
use crate::codes;
use crate::db::Tx;
use crate::directory::model::{Professional, Team};
use crate::directory::repo as dir;
use crate::kernel::time::MICROS_PER_DAY;
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::{Ctx, Platform};
use crate::run;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Window of answered cases behind the expected delay.
pub const DELAY_WINDOW_DAYS: i64 = 90;
/// "Due soon" on the board: an R9 deadline within this many hours.
pub const DUE_SOON_HOURS: i64 = 48;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// The facts of the caller's request that the rules look at.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestFacts {
    /// TRE_G15 code of the requester.
    pub requester_profession: String,
    /// Postcode of the requester's practice (their first organisation that has one).
    pub postcode: Option<String>,
    pub departement: Option<String>,
    /// INSEE region code.
    pub region: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpertOffer {
    pub professional: Professional,
    /// Median seconds from submission to answer over the last 90 days; null without history.
    pub expected_delay_seconds: Option<i64>,
    /// Cases answered in the last 90 days (the median's sample).
    pub answered_last_90_days: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamOffer {
    pub team: Team,
    /// Median seconds from submission to answer over the last 90 days; null without history.
    pub expected_delay_seconds: Option<i64>,
    pub answered_last_90_days: i64,
}

/// The experts and teams of a specialty that would accept the caller's request now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Offers {
    pub specialty: String,
    pub facts: RequestFacts,
    /// Fastest expected delay first, those without history last (then by name).
    pub experts: Vec<ExpertOffer>,
    pub teams: Vec<TeamOffer>,
}

/// The median of a sample, `None` when empty.
pub fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2
    })
}

/// Answer times (µs) of the last 90 days, grouped by `column` (`assigned_expert_id` or
/// `team_id`), for the experts (or teams) of a specialty.
async fn delays(
    tx: &mut Tx,
    column: &str,
    specialty: &str,
    now: Timestamp,
) -> Result<HashMap<String, Vec<i64>>> {
    let scope = if column == "team_id" {
        "c.team_id IN (SELECT id FROM teams WHERE specialty = $1)"
    } else {
        "c.assigned_expert_id IN (SELECT professional_id FROM professional_specialties WHERE specialty = $1)"
    };
    let sql = format!(
        "SELECT c.{column}, c.answered_at - c.submitted_at FROM cases c
         WHERE {scope} AND c.answered_at >= $2 AND c.submitted_at IS NOT NULL"
    );
    let since = now.micros() - DELAY_WINDOW_DAYS * MICROS_PER_DAY;
    let rows: Vec<(String, i64)> = run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(specialty)
        .bind(since)
        .fetch_all(c)
        .await)?;
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for (k, d) in rows {
        out.entry(k).or_default().push(d);
    }
    Ok(out)
}

fn delay_of(d: &HashMap<String, Vec<i64>>, id: &str) -> (Option<i64>, i64) {
    match d.get(id) {
        Some(v) => (
            median(v.clone()).map(|us| us / MICROS_PER_SECOND),
            v.len() as i64,
        ),
        None => (None, 0),
    }
}

fn by_delay(a: Option<i64>, b: Option<i64>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

// ---------------------------------------------------------------- the board

/// A case on the board: identifiers and dates only (no clinical content).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardCase {
    pub id: String,
    pub number: String,
    pub state: String,
    pub assigned_expert_id: Option<String>,
    pub submitted_at: Option<Timestamp>,
    pub deadline_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberLoad {
    pub professional_id: String,
    pub display_name: String,
    /// False for someone outside the team holding one of its cases (a delegate).
    pub is_member: bool,
    pub is_assigner: bool,
    /// The team's open cases this person holds (assigned, in progress, awaiting information).
    pub open_cases: i64,
    /// Submission of the oldest of them, and its age in seconds.
    pub oldest_submitted_at: Option<Timestamp>,
    pub oldest_age_seconds: Option<i64>,
    /// All the open cases they hold, in every team and by name.
    pub open_cases_everywhere: i64,
    /// Their current absence, if any.
    pub absent_until: Option<Timestamp>,
    pub delegate: Option<PersonRef>,
    /// With a rota: whether they are on call now (null: the team has no rota).
    pub on_call_now: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoolLoad {
    /// Cases waiting in the pool (submitted, nobody holds them).
    pub count: i64,
    pub oldest_submitted_at: Option<Timestamp>,
    pub oldest_age_seconds: Option<i64>,
}

/// The case assigner's view of a team now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamBoard {
    pub team_id: String,
    pub name: String,
    pub policy: String,
    pub at: Timestamp,
    /// Every open case of the team (pool and held).
    pub open_cases: i64,
    pub pool: PoolLoad,
    pub members: Vec<MemberLoad>,
    /// Open cases whose R9 deadline falls within the next 48 hours, soonest first.
    pub due_soon: Vec<BoardCase>,
    /// Open cases past their R9 deadline, oldest deadline first.
    pub overdue: Vec<BoardCase>,
}

#[derive(sqlx::FromRow)]
struct OpenRow {
    id: String,
    number: String,
    state: String,
    assigned_expert_id: Option<String>,
    submitted_at: Option<i64>,
    deadline_at: Option<i64>,
}

impl OpenRow {
    fn view(&self) -> BoardCase {
        BoardCase {
            id: self.id.clone(),
            number: self.number.clone(),
            state: self.state.clone(),
            assigned_expert_id: self.assigned_expert_id.clone(),
            submitted_at: self.submitted_at.map(Timestamp),
            deadline_at: self.deadline_at.map(Timestamp),
        }
    }
}

fn oldest(rows: &[&OpenRow], now: Timestamp) -> (Option<Timestamp>, Option<i64>) {
    let o = rows.iter().filter_map(|r| r.submitted_at).min();
    (
        o.map(Timestamp),
        o.map(|t| (now.micros() - t).max(0) / MICROS_PER_SECOND),
    )
}

impl Platform {
    /// The experts and teams of `specialty` that would accept the caller's request now
    /// (acceptance rules, load caps, absences), with their expected delay. At most `limit`
    /// experts (fastest first).
    pub async fn search_offers(&self, ctx: &Ctx, specialty: &str, limit: i64) -> Result<Offers> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        if codes::specialty(specialty).is_none() {
            return Err(Error::invalid(
                "specialty",
                "unknown TRE_R38 specialty code",
            ));
        }
        let now = self.now();
        let mut tx = self.read().await?;
        let req = rules::request_of(&mut tx, &me, now).await?;

        // Experts: every active doctor or midwife of the specialty but the caller.
        let experts: Vec<(String,)> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT p.id FROM professionals p
             JOIN professional_specialties s ON s.professional_id = p.id
             WHERE s.specialty = $1 AND p.active = TRUE AND p.profession IN ('10', '50')
               AND p.id <> $2
             ORDER BY p.last_name, p.first_name, p.id"
        )
        .bind(specialty)
        .bind(&me)
        .fetch_all(c)
        .await)?;
        let of_specialty =
            "SELECT professional_id FROM professional_specialties WHERE specialty = $2";
        let expert_rules =
            rules::rules_where(&mut tx, "professional", of_specialty, specialty).await?;
        let open_sql = format!(
            "SELECT c.assigned_expert_id, COUNT(*) FROM cases c
             WHERE c.state IN {OPEN_ASSIGNED} AND c.assigned_expert_id IN
               (SELECT professional_id FROM professional_specialties WHERE specialty = $1)
             GROUP BY c.assigned_expert_id"
        );
        let open: HashMap<String, i64> = run!(&mut tx, |c| sqlx::query_as::<_, (String, i64)>(
            sqlx::AssertSqlSafe(open_sql.clone())
        )
        .bind(specialty)
        .fetch_all(c)
        .await)?
        .into_iter()
        .collect();
        let absent: Vec<(String, i64, i64, Option<String>)> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT a.professional_id, a.from_at, a.to_at, a.delegate_id FROM absences a
             WHERE a.from_at <= $2 AND a.to_at > $2 AND a.professional_id IN
               (SELECT professional_id FROM professional_specialties WHERE specialty = $1)"
        )
        .bind(specialty)
        .bind(now.micros())
        .fetch_all(c)
        .await)?;
        let expert_delays = delays(&mut tx, "assigned_expert_id", specialty, now).await?;
        let mut accepted: Vec<(String, Option<i64>, i64)> = Vec::new();
        for (id,) in experts {
            let c = Candidate {
                open_cases: open
                    .get(&id)
                    .map_or(0, |n| u32::try_from(*n).unwrap_or(u32::MAX)),
                rules: expert_rules.get(&id).cloned().unwrap_or_default(),
                absences: absent
                    .iter()
                    .filter(|a| a.0 == id)
                    .map(|a| {
                        (
                            Span {
                                from: Timestamp(a.1),
                                to: Timestamp(a.2),
                            },
                            a.3.clone(),
                        )
                    })
                    .collect(),
                rota: None,
                stand_in: false,
                id,
            };
            if m::evaluate(&c, &req).is_ok() {
                let (d, n) = delay_of(&expert_delays, &c.id);
                accepted.push((c.id, d, n));
            }
        }
        // Stable: name order within equal delays.
        accepted.sort_by(|a, b| by_delay(a.1, b.1));
        accepted.truncate(usize::try_from(limit).unwrap_or(0));
        let mut expert_offers = Vec::with_capacity(accepted.len());
        for (id, d, n) in accepted {
            if let Some(p) = dir::get_professional(&mut tx, &id).await? {
                expert_offers.push(ExpertOffer {
                    professional: p,
                    expected_delay_seconds: d,
                    answered_last_90_days: n,
                });
            }
        }

        // Teams of the specialty whose rules accept the request and that are not full.
        let teams = dir::list_teams(&mut tx, Some(specialty)).await?;
        let team_rules = rules::rules_where(
            &mut tx,
            "team",
            "SELECT id FROM teams WHERE specialty = $2",
            specialty,
        )
        .await?;
        let team_delays = delays(&mut tx, "team_id", specialty, now).await?;
        let mut team_offers = Vec::new();
        for t in teams {
            let r = team_rules.get(&t.id).cloned().unwrap_or_default();
            if m::rules_accept(&r, &req).is_err() {
                continue;
            }
            if let Some(max) = r.max_open
                && rules::open_cases_of_team(&mut tx, &t.id).await? >= i64::from(max)
            {
                continue;
            }
            let (d, n) = delay_of(&team_delays, &t.id);
            team_offers.push(TeamOffer {
                team: t,
                expected_delay_seconds: d,
                answered_last_90_days: n,
            });
        }
        team_offers.sort_by(|a, b| by_delay(a.expected_delay_seconds, b.expected_delay_seconds));
        tx.rollback().await?;
        let dep = req.departement();
        Ok(Offers {
            specialty: specialty.to_string(),
            facts: RequestFacts {
                requester_profession: req.requester_profession.clone(),
                postcode: Some(req.postcode.clone()).filter(|p| !p.is_empty()),
                departement: Some(dep).filter(|d| !d.is_empty()),
                region: req.region.clone(),
            },
            experts: expert_offers,
            teams: team_offers,
        })
    }

    /// The team board, for the team's case assigners and the administrators of its
    /// organisation; anyone else: 404 (audited), as for an unknown team.
    pub async fn team_board(&self, ctx: &Ctx, team_id: &str) -> Result<TeamBoard> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let team = dir::get_team(&mut tx, team_id).await?;
        let allowed = match &team {
            Some(t) => {
                t.members
                    .iter()
                    .any(|m| m.professional_id == me && m.is_assigner)
                    || dir::admin_of(&mut tx, &me)
                        .await?
                        .contains(&t.organisation_id)
            }
            None => false,
        };
        let Some(team) = team.filter(|_| allowed) else {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("team.board", "team", team_id),
                    Error::NotFound,
                )
                .await;
        };
        let open: Vec<OpenRow> = run!(&mut tx, |c| {
            sqlx::query_as::<_, OpenRow>(
            "SELECT id, number, state, assigned_expert_id, submitted_at, deadline_at FROM cases
             WHERE team_id = $1 AND state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info')
             ORDER BY deadline_at, id"
        )
        .bind(team_id)
        .fetch_all(c)
        .await
        })?;
        let pool: Vec<&OpenRow> = open
            .iter()
            .filter(|r| r.assigned_expert_id.is_none())
            .collect();
        let (pool_oldest, pool_age) = oldest(&pool, now);
        // Absolute and weekly on-call slots.
        let slots = rules::rota_spans(&mut tx, team_id, now).await?;
        let mut people: Vec<(String, String, bool, bool)> = team
            .members
            .iter()
            .map(|m| {
                (
                    m.professional_id.clone(),
                    m.display_name.clone(),
                    true,
                    m.is_assigner,
                )
            })
            .collect();
        for r in &open {
            if let Some(x) = &r.assigned_expert_id
                && !people.iter().any(|p| p.0 == *x)
            {
                let name = dir::get_professional_row(&mut tx, x)
                    .await?
                    .map(|p| p.display_name())
                    .unwrap_or_default();
                people.push((x.clone(), name, false, false));
            }
        }
        let mut members = Vec::with_capacity(people.len());
        for (id, name, is_member, is_assigner) in people {
            let held: Vec<&OpenRow> = open
                .iter()
                .filter(|r| r.assigned_expert_id.as_deref() == Some(id.as_str()))
                .collect();
            let (o, age) = oldest(&held, now);
            let absence = rules::absent_now(&mut tx, &id, now).await?;
            let delegate = match absence.as_ref().and_then(|a| a.1.clone()) {
                Some(d) => dir::get_professional_row(&mut tx, &d)
                    .await?
                    .map(|p| PersonRef {
                        display_name: p.display_name(),
                        id: p.id,
                    }),
                None => None,
            };
            members.push(MemberLoad {
                open_cases: held.len() as i64,
                oldest_submitted_at: o,
                oldest_age_seconds: age,
                open_cases_everywhere: rules::open_cases_of_expert(&mut tx, &id).await?,
                absent_until: absence.map(|a| a.0),
                delegate,
                on_call_now: (!slots.is_empty())
                    .then(|| slots.iter().any(|(p, s)| *p == id && s.contains(now))),
                professional_id: id,
                display_name: name,
                is_member,
                is_assigner,
            });
        }
        let soon = now.micros() + DUE_SOON_HOURS * 3600 * MICROS_PER_SECOND;
        let overdue: Vec<BoardCase> = open
            .iter()
            .filter(|r| r.deadline_at.is_some_and(|d| d < now.micros()))
            .map(OpenRow::view)
            .collect();
        let due_soon: Vec<BoardCase> = open
            .iter()
            .filter(|r| {
                r.deadline_at
                    .is_some_and(|d| d >= now.micros() && d <= soon)
            })
            .map(OpenRow::view)
            .collect();
        tx.rollback().await?;
        Ok(TeamBoard {
            team_id: team.id,
            name: team.name,
            policy: team.policy,
            at: now,
            open_cases: open.len() as i64,
            pool: PoolLoad {
                count: pool.len() as i64,
                oldest_submitted_at: pool_oldest,
                oldest_age_seconds: pool_age,
            },
            members,
            due_soon,
            overdue,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5]), Some(5));
        assert_eq!(median(vec![9, 1, 5]), Some(5));
        assert_eq!(median(vec![4, 1, 10, 2]), Some(3));
    }
}
