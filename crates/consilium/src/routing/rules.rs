//! Acceptance rules, absences and on-call rotas, stored (migration 0016) and applied:
//! an expert sets their own rules and absences (`/api/v1/me/…`); an administrator of a
//! team's organisation sets the team's rules and rota. Routing reads them here as the pure
//! model's `Candidate`s and `RoutingRequest` (`model.rs`), and submission refuses a request
//! the chosen expert or team would not accept.
//!
//! The facts of a request are the requester's: their profession (TRE_G15) and where they
//! practise (the postcode of their first organisation that has one, its département and
//! region). Patients carry no address in Consilium.

use super::model::{self as m, AcceptanceRules, Candidate, Exclusion, RoutingRequest, Span};
use super::territory;
use super::weekly::{Day, WeeklySlot, hhmm, parse_hhmm};
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::idempotency;
use crate::kernel::error::Violations;
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, Platform};
use crate::run;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Open states of a case (held by someone on the expert side, or waiting in a pool).
pub(crate) const OPEN_ASSIGNED: &str = "('assigned', 'in_progress', 'awaiting_info')";

// ---------------------------------------------------------------- types

/// A professional, by id and display name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub display_name: String,
}

/// How a team shares its requests (see `Platform::set_team_policy`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPolicyInput {
    pub policy: crate::directory::model::TeamPolicy,
    #[serde(default)]
    pub routing: crate::directory::model::TeamRouting,
    /// Hide the patient's identity from team-mates and assigners while a request waits in
    /// the pool (they see a preview: sex, age, the clinical request); whoever claims it or is
    /// assigned it sees the identity. Absent: unchanged.
    #[serde(default)]
    pub hide_identity_in_pool: Option<bool>,
}

/// A team's new member list (replaces the old one).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMembersInput {
    pub members: Vec<crate::directory::model::NewTeamMember>,
}

/// An absence to record: from `from` (included) to `to` (excluded). The delegate, a doctor
/// or midwife, takes the expert's place in their teams' automatic assignment meanwhile, and
/// is named to requesters who choose the expert.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceInput {
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(default)]
    pub delegate_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Absence {
    pub id: String,
    pub professional_id: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub delegate: Option<PersonRef>,
}

/// An expert's routing settings: acceptance rules and absences not yet over.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExpertRouting {
    pub professional_id: String,
    pub rules: AcceptanceRules,
    pub absences: Vec<Absence>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotaSlotInput {
    pub professional_id: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A team's whole on-call rota (replaces the previous one). Empty: no rota, every member
/// takes requests whenever not absent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotaInput {
    pub slots: Vec<RotaSlotInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RotaSlot {
    pub professional_id: String,
    pub display_name: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A weekly on-call slot to set: every `day`, from `start` to `end` (`HH:MM`, Paris time;
/// an `end` not after `start` ends the next day, e.g. a night 20:00–08:00).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklySlotInput {
    pub professional_id: String,
    pub day: Day,
    /// `HH:MM`, Europe/Paris.
    pub start: String,
    /// `HH:MM` (`24:00` for midnight), Europe/Paris.
    pub end: String,
}

/// A team's whole weekly rota (replaces the previous one; empty: none).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyRotaInput {
    pub slots: Vec<WeeklySlotInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WeeklyRotaSlot {
    pub professional_id: String,
    pub display_name: String,
    pub day: Day,
    pub start: String,
    pub end: String,
}

/// A team's routing settings: acceptance rules and the on-call rota (absolute slots, and
/// weekly ones).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamRoutingRules {
    pub team_id: String,
    pub rules: AcceptanceRules,
    pub rota: Vec<RotaSlot>,
    pub weekly_rota: Vec<WeeklyRotaSlot>,
}

// ---------------------------------------------------------------- validation (pure)

const MAX_LIST: usize = 1000;
const MAX_OPEN: u32 = 10_000;
const MAX_ABSENCE_DAYS: i64 = 366;
const MAX_SLOTS: usize = 1000;

/// Checks and normalises rules: known TRE_G15 professions, départements, INSEE regions,
/// 5-digit postcodes, each once; a load cap of at least 1.
pub fn validate_rules(mut r: AcceptanceRules) -> Result<AcceptanceRules> {
    let mut v = Violations::default();
    let norm = |list: &mut Vec<String>, upper: bool| {
        for s in list.iter_mut() {
            *s = if upper {
                s.trim().to_uppercase()
            } else {
                s.trim().to_string()
            };
        }
    };
    norm(&mut r.professions, false);
    norm(&mut r.departements, true);
    norm(&mut r.regions, false);
    norm(&mut r.postcodes, false);
    type Check = fn(&str) -> bool;
    let lists: [(&str, &Vec<String>, Check, &str); 4] = [
        (
            "professions",
            &r.professions,
            |s| codes::profession(s).is_some(),
            "unknown TRE_G15 profession code",
        ),
        (
            "departements",
            &r.departements,
            territory::is_departement,
            "not a département code (01…95, 2A, 2B, 971…976)",
        ),
        (
            "regions",
            &r.regions,
            territory::is_region,
            "not an INSEE region code (e.g. 75 for Nouvelle-Aquitaine)",
        ),
        (
            "postcodes",
            &r.postcodes,
            territory::is_postcode,
            "must be 5 digits",
        ),
    ];
    for (field, list, ok, msg) in lists {
        if list.len() > MAX_LIST {
            v.push(field, format!("at most {MAX_LIST} entries"));
            continue;
        }
        for (i, s) in list.iter().enumerate() {
            if !ok(s) {
                v.push(format!("{field}[{i}]"), msg);
            } else if list[..i].contains(s) {
                v.push(format!("{field}[{i}]"), "listed twice");
            }
        }
    }
    if let Some(n) = r.max_open
        && !(1..=MAX_OPEN).contains(&n)
    {
        v.push(
            "max_open",
            format!("between 1 and {MAX_OPEN} (leave it out for no limit)"),
        );
    }
    v.into_result()?;
    Ok(r)
}

/// Why `who` would not take the request, in plain words (for a 422).
pub fn explain(who: &str, e: &Exclusion, r: &RoutingRequest, max_open: Option<u32>) -> String {
    match e {
        Exclusion::Profession => format!(
            "{who} does not accept requests from {} (acceptance rules)",
            codes::profession(&r.requester_profession)
                .map(|p| p.label.clone())
                .unwrap_or_else(|| format!("profession {}", r.requester_profession))
        ),
        Exclusion::Territory => {
            if r.postcode.is_empty() {
                format!(
                    "{who} accepts requests from some territories only, and your practice has no postcode in the directory"
                )
            } else {
                format!(
                    "{who} does not accept requests from your territory (postcode {}, département {}) (acceptance rules)",
                    r.postcode,
                    r.departement()
                )
            }
        }
        Exclusion::Full => format!(
            "{who} already has the maximum of {} open cases they accept; choose another expert or a team",
            max_open.unwrap_or_default()
        ),
        Exclusion::Absent { .. } => format!("{who} is absent"),
        Exclusion::OffRota => format!("{who} is not on call now"),
    }
}

// ---------------------------------------------------------------- storage

#[derive(sqlx::FromRow)]
struct RulesRow {
    professions: String,
    departements: String,
    regions: String,
    postcodes: String,
    max_open: Option<i64>,
}

fn list(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| Error::internal(format!("stored rule list: {e}")))
}

fn text(l: &[String]) -> Result<String> {
    serde_json::to_string(l).map_err(Error::internal)
}

impl RulesRow {
    fn into_rules(self) -> Result<AcceptanceRules> {
        Ok(AcceptanceRules {
            professions: list(&self.professions)?,
            departements: list(&self.departements)?,
            regions: list(&self.regions)?,
            postcodes: list(&self.postcodes)?,
            max_open: self.max_open.and_then(|n| u32::try_from(n).ok()),
        })
    }
}

/// The rules of an expert (`professional`) or a team (`team`); none stored: accepts all.
pub async fn get_rules(tx: &mut Tx, kind: &str, id: &str) -> Result<AcceptanceRules> {
    let row: Option<RulesRow> = run!(tx, |c| sqlx::query_as::<_, RulesRow>(
        "SELECT professions, departements, regions, postcodes, max_open
         FROM acceptance_rules WHERE owner_kind = $1 AND owner_id = $2"
    )
    .bind(kind)
    .bind(id)
    .fetch_optional(c)
    .await)?;
    row.map_or_else(|| Ok(AcceptanceRules::default()), RulesRow::into_rules)
}

/// The rules of every owner of a kind among `ids`-producing SQL (one query for many).
pub(crate) async fn rules_where(
    tx: &mut Tx,
    kind: &str,
    owners_sql: &str,
    arg: &str,
) -> Result<std::collections::HashMap<String, AcceptanceRules>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        owner_id: String,
        #[sqlx(flatten)]
        r: RulesRow,
    }
    let sql = format!(
        "SELECT owner_id, professions, departements, regions, postcodes, max_open
         FROM acceptance_rules WHERE owner_kind = $1 AND owner_id IN ({owners_sql})"
    );
    let rows: Vec<Row> = run!(tx, |c| sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(kind)
    .bind(arg)
    .fetch_all(c)
    .await)?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        out.insert(row.owner_id, row.r.into_rules()?);
    }
    Ok(out)
}

async fn put_rules(
    tx: &mut Tx,
    kind: &str,
    id: &str,
    r: &AcceptanceRules,
    now: Timestamp,
) -> Result<()> {
    let (p, d, g, c2) = (
        text(&r.professions)?,
        text(&r.departements)?,
        text(&r.regions)?,
        text(&r.postcodes)?,
    );
    let max = r.max_open.map(i64::from);
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO acceptance_rules
             (owner_kind, owner_id, professions, departements, regions, postcodes, max_open, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (owner_kind, owner_id) DO UPDATE SET
             professions = excluded.professions, departements = excluded.departements,
             regions = excluded.regions, postcodes = excluded.postcodes,
             max_open = excluded.max_open, updated_at = excluded.updated_at"
    )
    .bind(kind)
    .bind(id)
    .bind(&p)
    .bind(&d)
    .bind(&g)
    .bind(&c2)
    .bind(max)
    .bind(now.micros())
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AbsenceRow {
    id: String,
    professional_id: String,
    from_at: i64,
    to_at: i64,
    delegate_id: Option<String>,
}

async fn person(tx: &mut Tx, id: &str) -> Result<Option<PersonRef>> {
    Ok(dir::get_professional_row(tx, id).await?.map(|p| PersonRef {
        display_name: p.display_name(),
        id: p.id,
    }))
}

async fn absence_view(tx: &mut Tx, a: AbsenceRow) -> Result<Absence> {
    let delegate = match &a.delegate_id {
        Some(d) => person(tx, d).await?,
        None => None,
    };
    Ok(Absence {
        id: a.id,
        professional_id: a.professional_id,
        from: Timestamp(a.from_at),
        to: Timestamp(a.to_at),
        delegate,
    })
}

/// The absences of `pro` not over at `now`, in time order.
async fn absence_rows(tx: &mut Tx, pro: &str, now: Timestamp) -> Result<Vec<AbsenceRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, AbsenceRow>(
        "SELECT id, professional_id, from_at, to_at, delegate_id FROM absences
         WHERE professional_id = $1 AND to_at > $2 ORDER BY from_at, id"
    )
    .bind(pro)
    .bind(now.micros())
    .fetch_all(c)
    .await)?)
}

pub async fn absences_of(tx: &mut Tx, pro: &str, now: Timestamp) -> Result<Vec<Absence>> {
    let mut out = Vec::new();
    for a in absence_rows(tx, pro, now).await? {
        out.push(absence_view(tx, a).await?);
    }
    Ok(out)
}

/// The current absence of `pro` at `now`, if any: (until, delegate).
pub async fn absent_now(
    tx: &mut Tx,
    pro: &str,
    now: Timestamp,
) -> Result<Option<(Timestamp, Option<String>)>> {
    let r: Option<(i64, Option<String>)> = run!(tx, |c| sqlx::query_as(
        "SELECT to_at, delegate_id FROM absences
         WHERE professional_id = $1 AND from_at <= $2 AND to_at > $2
         ORDER BY to_at DESC LIMIT 1"
    )
    .bind(pro)
    .bind(now.micros())
    .fetch_optional(c)
    .await)?;
    Ok(r.map(|(t, d)| (Timestamp(t), d)))
}

#[derive(sqlx::FromRow)]
struct SlotRow {
    professional_id: String,
    from_at: i64,
    to_at: i64,
}

/// A team's weekly slots: (professional, slot).
async fn weekly_rows(tx: &mut Tx, team: &str) -> Result<Vec<(String, WeeklySlot)>> {
    let rows: Vec<(String, String, i64, i64)> = run!(tx, |c| sqlx::query_as(
        "SELECT professional_id, weekday, start_minute, end_minute FROM rota_weekly
         WHERE team_id = $1 ORDER BY professional_id, weekday, start_minute"
    )
    .bind(team)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, d, s, e)| {
            let slot = WeeklySlot::new(
                Day::parse(&d)?,
                u16::try_from(s).ok()?,
                u16::try_from(e).ok()?,
            )?;
            Some((p, slot))
        })
        .collect())
}

/// The on-call spans of a team that matter at `at`: its absolute slots and the occurrences
/// of its weekly slots around `at` (from the day before to a week after). Empty: no rota.
pub(crate) async fn rota_spans(
    tx: &mut Tx,
    team: &str,
    at: Timestamp,
) -> Result<Vec<(String, Span)>> {
    let mut out: Vec<(String, Span)> = rota_rows(tx, team)
        .await?
        .into_iter()
        .map(|s| {
            (
                s.professional_id,
                Span {
                    from: Timestamp(s.from_at),
                    to: Timestamp(s.to_at),
                },
            )
        })
        .collect();
    for (p, slot) in weekly_rows(tx, team).await? {
        for span in slot.occurrences_around(at, 1, 7) {
            out.push((p.clone(), span));
        }
    }
    Ok(out)
}

pub async fn weekly_rota_of(tx: &mut Tx, team: &str) -> Result<Vec<WeeklyRotaSlot>> {
    let mut out = Vec::new();
    for (p, s) in weekly_rows(tx, team).await? {
        let name = person(tx, &p)
            .await?
            .map(|p| p.display_name)
            .unwrap_or_default();
        out.push(WeeklyRotaSlot {
            professional_id: p,
            display_name: name,
            day: s.day,
            start: hhmm(s.start),
            end: hhmm(s.end),
        });
    }
    Ok(out)
}

async fn rota_rows(tx: &mut Tx, team: &str) -> Result<Vec<SlotRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, SlotRow>(
        "SELECT professional_id, from_at, to_at FROM rota_slots
         WHERE team_id = $1 ORDER BY from_at, professional_id"
    )
    .bind(team)
    .fetch_all(c)
    .await)?)
}

pub async fn rota_of(tx: &mut Tx, team: &str) -> Result<Vec<RotaSlot>> {
    let mut out = Vec::new();
    for s in rota_rows(tx, team).await? {
        let name = person(tx, &s.professional_id)
            .await?
            .map(|p| p.display_name)
            .unwrap_or_default();
        out.push(RotaSlot {
            professional_id: s.professional_id,
            display_name: name,
            from: Timestamp(s.from_at),
            to: Timestamp(s.to_at),
        });
    }
    Ok(out)
}

/// Cases an expert holds (assigned, in progress, awaiting information).
pub async fn open_cases_of_expert(tx: &mut Tx, pro: &str) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM cases WHERE assigned_expert_id = $1 AND state IN {OPEN_ASSIGNED}"
    );
    Ok(run!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(pro)
    .fetch_one(c)
    .await)?)
}

/// Cases of a team not yet answered (in its pool or held by a member).
pub async fn open_cases_of_team(tx: &mut Tx, team: &str) -> Result<i64> {
    Ok(run!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM cases WHERE team_id = $1
         AND state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info')"
    )
    .bind(team)
    .fetch_one(c)
    .await)?)
}

/// The facts a request offers to the rules: the requester's profession and practice.
pub async fn request_of(tx: &mut Tx, requester: &str, at: Timestamp) -> Result<RoutingRequest> {
    let profession = dir::get_professional_row(tx, requester)
        .await?
        .map(|p| p.profession)
        .unwrap_or_default();
    let postcode: Option<String> = run!(tx, |c| sqlx::query_scalar(
        "SELECT o.postcode FROM memberships m JOIN organisations o ON o.id = m.organisation_id
         WHERE m.professional_id = $1 AND o.postcode IS NOT NULL
         ORDER BY o.created_at, o.id LIMIT 1"
    )
    .bind(requester)
    .fetch_optional(c)
    .await)?;
    let mut r = RoutingRequest {
        requester_profession: profession,
        postcode: postcode.unwrap_or_default(),
        region: None,
        at,
    };
    r.region = territory::region_of(&r.departement()).map(str::to_string);
    Ok(r)
}

/// An expert as the routing model sees them at `at`: rules, open cases, absences (no rota).
pub async fn candidate(tx: &mut Tx, pro: &str, at: Timestamp) -> Result<Candidate> {
    let rules = get_rules(tx, "professional", pro).await?;
    let open = open_cases_of_expert(tx, pro).await?;
    let absences = absence_rows(tx, pro, at)
        .await?
        .into_iter()
        .map(|a| {
            (
                Span {
                    from: Timestamp(a.from_at),
                    to: Timestamp(a.to_at),
                },
                a.delegate_id,
            )
        })
        .collect();
    Ok(Candidate {
        id: pro.to_string(),
        open_cases: u32::try_from(open).unwrap_or(u32::MAX),
        rules,
        absences,
        rota: None,
        stand_in: false,
    })
}

/// The candidates of an auto-assigning team at `at`: its active members but the requester,
/// with their rules, load, absences and (when the team has a rota) their slots; plus, as
/// stand-ins, the delegates named by absent members who are not members themselves.
pub async fn team_candidates(
    tx: &mut Tx,
    team: &crate::directory::model::Team,
    requester: &str,
    at: Timestamp,
) -> Result<Vec<Candidate>> {
    // Absolute slots and the weekly ones' occurrences around `at`.
    let slots = rota_spans(tx, &team.id, at).await?;
    let has_rota = !slots.is_empty();
    // A few grouped queries, whatever the team's size.
    let members = "SELECT professional_id FROM team_members WHERE team_id = $2";
    let active: Vec<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT p.id FROM team_members m JOIN professionals p ON p.id = m.professional_id
         WHERE m.team_id = $1 AND p.active = TRUE AND p.id <> $2 ORDER BY p.id"
    )
    .bind(&team.id)
    .bind(requester)
    .fetch_all(c)
    .await)?;
    let mut rules = rules_where(tx, "professional", members, &team.id).await?;
    let open_sql = format!(
        "SELECT assigned_expert_id, COUNT(*) FROM cases
         WHERE state IN {OPEN_ASSIGNED} AND assigned_expert_id IN
           (SELECT professional_id FROM team_members WHERE team_id = $1)
         GROUP BY assigned_expert_id"
    );
    let open: std::collections::HashMap<String, i64> =
        run!(tx, |c| sqlx::query_as::<_, (String, i64)>(
            sqlx::AssertSqlSafe(open_sql.clone())
        )
        .bind(&team.id)
        .fetch_all(c)
        .await)?
        .into_iter()
        .collect();
    let absences: Vec<AbsenceRow> = run!(tx, |c| sqlx::query_as::<_, AbsenceRow>(
        "SELECT id, professional_id, from_at, to_at, delegate_id FROM absences
         WHERE to_at > $2 AND professional_id IN
           (SELECT professional_id FROM team_members WHERE team_id = $1)
         ORDER BY from_at, id"
    )
    .bind(&team.id)
    .bind(at.micros())
    .fetch_all(c)
    .await)?;
    let mut out: Vec<Candidate> = Vec::new();
    for (id,) in active {
        let span = |from: i64, to: i64| Span {
            from: Timestamp(from),
            to: Timestamp(to),
        };
        out.push(Candidate {
            open_cases: open
                .get(&id)
                .map_or(0, |n| u32::try_from(*n).unwrap_or(u32::MAX)),
            rules: rules.remove(&id).unwrap_or_default(),
            absences: absences
                .iter()
                .filter(|a| a.professional_id == id)
                .map(|a| (span(a.from_at, a.to_at), a.delegate_id.clone()))
                .collect(),
            rota: has_rota.then(|| {
                slots
                    .iter()
                    .filter(|(p, _)| *p == id)
                    .map(|(_, s)| *s)
                    .collect()
            }),
            stand_in: false,
            id,
        });
    }
    // (delegate, the absent member they stand in for)
    let delegates: Vec<(String, String)> = out
        .iter()
        .flat_map(|c| {
            c.absences
                .iter()
                .filter(|(s, _)| s.contains(at))
                .filter_map(|(_, d)| d.clone().map(|d| (d, c.id.clone())))
        })
        .collect();
    for (d, absent) in &delegates {
        if d == requester || out.iter().any(|c| c.id == *d) {
            continue;
        }
        if dir::get_professional_row(tx, d)
            .await?
            .is_some_and(|x| x.active && codes::may_be_expert(&x.profession))
        {
            let mut c = candidate(tx, d, at).await?;
            c.stand_in = true;
            // With a rota, a stand-in covers the slots of the members they replace.
            if has_rota {
                c.rota = Some(
                    slots
                        .iter()
                        .filter(|(p, _)| {
                            p == absent || delegates.iter().any(|(dd, a)| dd == d && a == p)
                        })
                        .map(|(_, s)| *s)
                        .collect(),
                );
            }
            out.push(c);
        }
    }
    Ok(out)
}

/// R2/R4 and the stored rules at submission: refuses (as field errors) a request that the
/// named expert or the team would not accept. A named expert who is absent is refused with
/// their return date and their delegate, whom the requester may choose instead (the patient
/// consented to this expert: the platform does not swap them silently, R6).
pub(crate) async fn check_submission(
    tx: &mut Tx,
    v: &mut Violations,
    requester: &str,
    expert: Option<&str>,
    team: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let req = request_of(tx, requester, now).await?;
    if let Some(e) = expert {
        let Some(row) = dir::get_professional_row(tx, e).await? else {
            return Ok(());
        };
        let who = row.display_name();
        let c = candidate(tx, e, now).await?;
        match m::evaluate(&c, &req) {
            Ok(()) => {}
            Err(Exclusion::Absent { delegate }) => {
                let until = absent_now(tx, e, now)
                    .await?
                    .map(|(t, _)| t.to_rfc3339())
                    .unwrap_or_default();
                let msg = match delegate {
                    Some(d) => {
                        let name = person(tx, &d)
                            .await?
                            .map(|p| p.display_name)
                            .unwrap_or_default();
                        format!(
                            "{who} is absent until {until}; their delegate is {name} (expert_id {d}): send the request to them, or choose another expert or a team"
                        )
                    }
                    None => {
                        format!("{who} is absent until {until}; choose another expert or a team")
                    }
                };
                v.push("expert_id", msg);
            }
            Err(x) => v.push("expert_id", explain(&who, &x, &req, c.rules.max_open)),
        }
    }
    if let Some(t) = team {
        let Some(name) = dir::get_team(tx, t).await?.map(|t| t.name) else {
            return Ok(());
        };
        let rules = get_rules(tx, "team", t).await?;
        let who = format!("the team \"{name}\"");
        if let Err(x) = m::rules_accept(&rules, &req) {
            v.push("team_id", explain(&who, &x, &req, rules.max_open));
        } else if let Some(max) = rules.max_open
            && open_cases_of_team(tx, t).await? >= i64::from(max)
        {
            v.push(
                "team_id",
                explain(&who, &Exclusion::Full, &req, rules.max_open),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- use cases

impl Platform {
    fn expert_caller(&self, ctx: &Ctx) -> Result<(String, bool)> {
        let p = ctx.actor.professional().ok_or(Error::Unauthenticated)?;
        Ok((p.id.clone(), codes::may_be_expert(&p.profession)))
    }

    async fn expert_routing(&self, tx: &mut Tx, id: &str) -> Result<ExpertRouting> {
        Ok(ExpertRouting {
            professional_id: id.to_string(),
            rules: get_rules(tx, "professional", id).await?,
            absences: absences_of(tx, id, self.now()).await?,
        })
    }

    /// The caller's acceptance rules and absences (empty for those who do not answer).
    pub async fn my_routing(&self, ctx: &Ctx) -> Result<ExpertRouting> {
        let (me, _) = self.expert_caller(ctx)?;
        let mut tx = self.read().await?;
        let r = self.expert_routing(&mut tx, &me).await?;
        tx.rollback().await?;
        Ok(r)
    }

    /// Refuses (403, audited) callers who never receive requests (R4: not a doctor or midwife).
    async fn require_expert(&self, ctx: &Ctx, action: &str) -> Result<String> {
        let (me, expert) = self.expert_caller(ctx)?;
        if expert {
            return Ok(me);
        }
        let tx = self.db.begin().await?;
        self.deny(
            tx,
            ctx,
            NewEntry::denied(action, "professional", &me),
            Error::Forbidden(
                "only doctors and midwives receive requests (R4): they alone set acceptance rules and absences".into(),
            ),
        )
        .await
    }

    /// An expert replaces their acceptance rules.
    pub async fn set_my_rules(&self, ctx: &Ctx, input: AcceptanceRules) -> Result<AcceptanceRules> {
        let me = self.require_expert(ctx, "rules.set").await?;
        let rules = validate_rules(input)?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        put_rules(&mut tx, "professional", &me, &rules, now).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("rules.set", "professional", &me).with(json!(rules))],
        )
        .await?;
        tx.commit().await?;
        Ok(rules)
    }

    /// An expert records an absence, optionally naming a delegate. Accepts `Idempotency-Key`.
    pub async fn add_absence(&self, ctx: &Ctx, input: AbsenceInput) -> Result<Absence> {
        let me = self.require_expert(ctx, "absence.create").await?;
        self.insert_absence(ctx, &me, input).await
    }

    /// An administrator of one of the expert's organisations records the expert's absence
    /// (a sick leave the expert cannot enter themselves); the expert may also use it for
    /// themselves. Anyone else: 403, audited; unknown professional: 404; someone who does
    /// not receive requests (not a doctor or midwife): 422.
    pub async fn add_absence_for(
        &self,
        ctx: &Ctx,
        professional_id: &str,
        input: AbsenceInput,
    ) -> Result<Absence> {
        self.may_manage_absences_of(ctx, professional_id, "absence.create")
            .await?;
        self.insert_absence(ctx, professional_id, input).await
    }

    /// Whether the caller may record or delete `pro`'s absences: themselves (if they
    /// receive requests), or an administrator of one of their organisations.
    async fn may_manage_absences_of(&self, ctx: &Ctx, pro: &str, action: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let Some(row) = dir::get_professional_row(&mut tx, pro).await? else {
            tx.rollback().await?;
            return Err(Error::NotFound);
        };
        let theirs = dir::organisations_of(&mut tx, pro).await?;
        let mine = dir::admin_of(&mut tx, &me).await?;
        if me != pro && !theirs.iter().any(|o| mine.contains(o)) {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "professional", pro),
                    Error::Forbidden(
                        "only the professional and the administrators of their organisations may do this".into(),
                    ),
                )
                .await;
        }
        tx.rollback().await?;
        if !codes::may_be_expert(&row.profession) {
            return Err(Error::invalid(
                "professional_id",
                "only doctors and midwives receive requests (R4): others have no absences to record",
            ));
        }
        Ok(())
    }

    async fn insert_absence(&self, ctx: &Ctx, me: &str, input: AbsenceInput) -> Result<Absence> {
        let me = me.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if let Some(prev) = idempotency::replay(&mut tx, ctx).await? {
            tx.rollback().await?;
            return Ok(prev);
        }
        let mut v = Violations::default();
        if input.from >= input.to {
            v.push("to", "must be after from");
        } else if input.to <= now {
            v.push("to", "is in the past");
        } else if input.to.micros() - input.from.micros()
            > MAX_ABSENCE_DAYS * crate::kernel::time::MICROS_PER_DAY
        {
            v.push(
                "to",
                format!("an absence lasts at most {MAX_ABSENCE_DAYS} days"),
            );
        }
        if let Some(d) = input.delegate_id.as_deref() {
            match dir::get_professional_row(&mut tx, d).await? {
                None => v.push("delegate_id", "unknown professional"),
                Some(p) if p.id == me => v.push("delegate_id", "nobody is their own delegate"),
                Some(p) if !p.active => {
                    v.push("delegate_id", "this professional's account is disabled")
                }
                Some(p) if !codes::may_be_expert(&p.profession) => v.push(
                    "delegate_id",
                    "only doctors and midwives may answer in your place (R4)",
                ),
                Some(_) => {}
            }
        }
        if v.0.is_empty() {
            for a in absence_rows(&mut tx, &me, now).await? {
                if a.from_at < input.to.micros() && input.from.micros() < a.to_at {
                    v.push(
                        "from",
                        format!(
                            "overlaps the absence from {} to {}",
                            Timestamp(a.from_at).to_rfc3339(),
                            Timestamp(a.to_at).to_rfc3339()
                        ),
                    );
                    break;
                }
            }
        }
        v.into_result()?;
        let id = new_id();
        run!(&mut tx, |c| sqlx::query(
            "INSERT INTO absences (id, professional_id, from_at, to_at, delegate_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&id)
        .bind(&me)
        .bind(input.from.micros())
        .bind(input.to.micros())
        .bind(&input.delegate_id)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
        let view = absence_view(
            &mut tx,
            AbsenceRow {
                id: id.clone(),
                professional_id: me.clone(),
                from_at: input.from.micros(),
                to_at: input.to.micros(),
                delegate_id: input.delegate_id.clone(),
            },
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[
                NewEntry::success("absence.create", "absence", &id).with(json!({
                    "professional_id": me,
                    "from": input.from, "to": input.to, "delegate_id": input.delegate_id,
                })),
            ],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 201, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// An expert deletes one of their absences, or an administrator of one of the expert's
    /// organisations deletes one of theirs (anyone else's, or unknown: 404, audited).
    /// `mine_only`: the caller's own absences only (the `/me` endpoint).
    pub async fn delete_absence(&self, ctx: &Ctx, id: &str, mine_only: bool) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let owner: Option<String> = run!(&mut tx, |c| sqlx::query_scalar(
            "SELECT professional_id FROM absences WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        let allowed = match &owner {
            None => false,
            Some(o) if *o == me => true,
            Some(_) if mine_only => false,
            Some(o) => {
                let theirs = dir::organisations_of(&mut tx, o).await?;
                let mine = dir::admin_of(&mut tx, &me).await?;
                theirs.iter().any(|x| mine.contains(x))
            }
        };
        let n = if allowed {
            run!(&mut tx, |c| sqlx::query(
                "DELETE FROM absences WHERE id = $1"
            )
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?
        } else {
            0
        };
        if n == 0 {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("absence.delete", "absence", id),
                    Error::NotFound,
                )
                .await;
        }
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("absence.delete", "absence", id)],
        )
        .await?;
        tx.commit().await
    }

    /// An expert's rules and absences, for themselves or an administrator of one of their
    /// organisations (anyone else: 403, audited; unknown professional: 404).
    pub async fn professional_routing(&self, ctx: &Ctx, id: &str) -> Result<ExpertRouting> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        if dir::get_professional_row(&mut tx, id).await?.is_none() {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        let theirs = dir::organisations_of(&mut tx, id).await?;
        let mine = dir::admin_of(&mut tx, &me).await?;
        if me != id && !theirs.iter().any(|o| mine.contains(o)) {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("professional.routing", "professional", id),
                    Error::Forbidden(
                        "only the professional and the administrators of their organisations may read this".into(),
                    ),
                )
                .await;
        }
        let r = self.expert_routing(&mut tx, id).await?;
        tx.rollback().await?;
        Ok(r)
    }

    /// Whether the caller administers the team's organisation, and whether they are a
    /// member; unknown team: 404.
    async fn team_standing(
        &self,
        tx: &mut Tx,
        me: &str,
        team_id: &str,
    ) -> Result<(crate::directory::model::Team, bool, bool)> {
        let team = dir::get_team(tx, team_id).await?.ok_or(Error::NotFound)?;
        let admin = dir::admin_of(tx, me).await?.contains(&team.organisation_id);
        let member = team.members.iter().any(|m| m.professional_id == me);
        Ok((team, admin, member))
    }

    /// A team's rules and rota: for its members and the administrators of its organisation.
    pub async fn team_routing(&self, ctx: &Ctx, team_id: &str) -> Result<TeamRoutingRules> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let (_, admin, member) = match self.team_standing(&mut tx, &me, team_id).await {
            Ok(x) => x,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        if !admin && !member {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("team.routing", "team", team_id),
                    Error::Forbidden(
                        "only the team's members and its organisation's administrators may read this".into(),
                    ),
                )
                .await;
        }
        let r = TeamRoutingRules {
            team_id: team_id.to_string(),
            rules: get_rules(&mut tx, "team", team_id).await?,
            rota: rota_of(&mut tx, team_id).await?,
            weekly_rota: weekly_rota_of(&mut tx, team_id).await?,
        };
        tx.rollback().await?;
        Ok(r)
    }

    /// Begins a change of a team's settings by an administrator of its organisation.
    async fn team_admin(&self, ctx: &Ctx, team_id: &str, action: &str) -> Result<(Tx, String)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let (_, admin, _) = match self.team_standing(&mut tx, &me, team_id).await {
            Ok(x) => x,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        if !admin {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "team", team_id),
                    Error::Forbidden(
                        "only an administrator of the team's organisation may do this".into(),
                    ),
                )
                .await;
        }
        Ok((tx, me))
    }

    /// An administrator of the team's organisation changes how the team shares its
    /// requests (policy, ordering, hours to accept, hours in a hybrid pool, whether the pool
    /// shows the patient's identity; `None` leaves that as it is). Cases already waiting keep
    /// the timers they were given; new submissions follow the new policy. The identity
    /// setting applies at once, to every request in the pool (it is read at each request).
    pub async fn set_team_policy(
        &self,
        ctx: &Ctx,
        team_id: &str,
        policy: crate::directory::model::TeamPolicy,
        routing: crate::directory::model::TeamRouting,
        hide_identity_in_pool: Option<bool>,
    ) -> Result<()> {
        // Who may, first: a stranger learns nothing from the validation.
        let (mut tx, _) = self.team_admin(ctx, team_id, "team.policy").await?;
        let mut v = Violations::default();
        for (field, h) in [
            ("routing.accept_hours", routing.accept_hours),
            ("routing.hybrid_hours", routing.hybrid_hours),
        ] {
            if !(1..=168).contains(&h) {
                v.push(field, "must be between 1 and 168 hours");
            }
        }
        if let Err(e) = v.into_result() {
            tx.rollback().await?;
            return Err(e);
        }
        let strategy = routing.assign_strategy.as_str();
        run!(&mut tx, |c| {
            sqlx::query(
            "UPDATE teams SET policy = $1, assign_strategy = $2, accept_hours = $3, hybrid_hours = $4,
                    hide_identity_in_pool = COALESCE($6, hide_identity_in_pool)
             WHERE id = $5"
        )
        .bind(policy.as_str())
        .bind(strategy)
        .bind(routing.accept_hours)
        .bind(routing.hybrid_hours)
        .bind(team_id)
        .bind(hide_identity_in_pool)
        .execute(c)
        .await
        .map(|_| ())
        })?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[
                NewEntry::success("team.policy", "team", team_id).with(json!({
                    "policy": policy.as_str(),
                    "assign_strategy": strategy,
                    "accept_hours": routing.accept_hours,
                    "hybrid_hours": routing.hybrid_hours,
                    "hide_identity_in_pool": hide_identity_in_pool,
                })),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An administrator of the team's organisation replaces the team's members (the same
    /// checks as at creation). Cases already assigned to someone who leaves stay theirs (the
    /// assigner may reassign them from the board); cases in the pool are no longer visible
    /// to them; pending offers to them lapse as usual and go to the next candidate.
    pub async fn set_team_members(
        &self,
        ctx: &Ctx,
        team_id: &str,
        input: TeamMembersInput,
    ) -> Result<crate::directory::model::Team> {
        let (mut tx, _) = self.team_admin(ctx, team_id, "team.members").await?;
        let before: Vec<(String, bool)> = run!(&mut tx, |c| sqlx::query_as(
            "SELECT professional_id, is_assigner FROM team_members WHERE team_id = $1"
        )
        .bind(team_id)
        .fetch_all(c)
        .await)?;
        let already: Vec<String> = before.iter().map(|b| b.0.clone()).collect();
        let mut v = Violations::default();
        crate::directory::service::check_members(&mut tx, &input.members, &already, &mut v).await?;
        if let Err(e) = v.into_result() {
            tx.rollback().await?;
            return Err(e);
        }
        run!(&mut tx, |c| sqlx::query(
            "DELETE FROM team_members WHERE team_id = $1"
        )
        .bind(team_id)
        .execute(c)
        .await
        .map(|_| ()))?;
        for m in &input.members {
            run!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO team_members (team_id, professional_id, is_assigner) VALUES ($1, $2, $3)"
            )
            .bind(team_id)
            .bind(&m.professional_id)
            .bind(m.is_assigner)
            .execute(c)
            .await
            .map(|_| ())
            })?;
        }
        let added: Vec<&str> = input
            .members
            .iter()
            .filter(|m| !already.contains(&m.professional_id))
            .map(|m| m.professional_id.as_str())
            .collect();
        let removed: Vec<&str> = already
            .iter()
            .filter(|id| !input.members.iter().any(|m| &m.professional_id == *id))
            .map(String::as_str)
            .collect();
        let assigners: Vec<&str> = input
            .members
            .iter()
            .filter(|m| m.is_assigner)
            .map(|m| m.professional_id.as_str())
            .collect();
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[
                NewEntry::success("team.members", "team", team_id).with(json!({
                    "added": added, "removed": removed, "assigners": assigners,
                })),
            ],
        )
        .await?;
        let team = dir::get_team(&mut tx, team_id)
            .await?
            .ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(team)
    }

    /// An administrator of the team's organisation replaces the team's acceptance rules.
    pub async fn set_team_rules(
        &self,
        ctx: &Ctx,
        team_id: &str,
        input: AcceptanceRules,
    ) -> Result<TeamRoutingRules> {
        let (mut tx, _) = self.team_admin(ctx, team_id, "team.rules").await?;
        let rules = match validate_rules(input) {
            Ok(r) => r,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        let now = self.now();
        put_rules(&mut tx, "team", team_id, &rules, now).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("team.rules", "team", team_id).with(json!(rules))],
        )
        .await?;
        let r = TeamRoutingRules {
            team_id: team_id.to_string(),
            rules,
            rota: rota_of(&mut tx, team_id).await?,
            weekly_rota: weekly_rota_of(&mut tx, team_id).await?,
        };
        tx.commit().await?;
        Ok(r)
    }

    /// An administrator of the team's organisation replaces the team's on-call rota.
    pub async fn set_team_rota(
        &self,
        ctx: &Ctx,
        team_id: &str,
        input: RotaInput,
    ) -> Result<TeamRoutingRules> {
        let (mut tx, _) = self.team_admin(ctx, team_id, "team.rota").await?;
        let team = dir::get_team(&mut tx, team_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut v = Violations::default();
        if input.slots.len() > MAX_SLOTS {
            v.push("slots", format!("at most {MAX_SLOTS} slots"));
        }
        for (i, s) in input.slots.iter().enumerate() {
            if !team
                .members
                .iter()
                .any(|m| m.professional_id == s.professional_id)
            {
                v.push(
                    format!("slots[{i}].professional_id"),
                    "not a member of this team",
                );
            }
            if s.from >= s.to {
                v.push(format!("slots[{i}].to"), "must be after from");
            }
        }
        if let Err(e) = v.into_result() {
            tx.rollback().await?;
            return Err(e);
        }
        let now = self.now();
        run!(&mut tx, |c| sqlx::query(
            "DELETE FROM rota_slots WHERE team_id = $1"
        )
        .bind(team_id)
        .execute(c)
        .await
        .map(|_| ()))?;
        for s in &input.slots {
            run!(&mut tx, |c| sqlx::query(
                "INSERT INTO rota_slots (team_id, professional_id, from_at, to_at)
                 VALUES ($1, $2, $3, $4)"
            )
            .bind(team_id)
            .bind(&s.professional_id)
            .bind(s.from.micros())
            .bind(s.to.micros())
            .execute(c)
            .await
            .map(|_| ()))?;
        }
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("team.rota", "team", team_id)
                .with(json!({"slots": input.slots.len()}))],
        )
        .await?;
        let r = TeamRoutingRules {
            team_id: team_id.to_string(),
            rules: get_rules(&mut tx, "team", team_id).await?,
            rota: rota_of(&mut tx, team_id).await?,
            weekly_rota: weekly_rota_of(&mut tx, team_id).await?,
        };
        tx.commit().await?;
        Ok(r)
    }

    /// An administrator of the team's organisation replaces the team's weekly on-call
    /// slots ("every Monday 08:00–13:00", Paris time), used with the absolute ones.
    pub async fn set_team_weekly_rota(
        &self,
        ctx: &Ctx,
        team_id: &str,
        input: WeeklyRotaInput,
    ) -> Result<TeamRoutingRules> {
        let (mut tx, _) = self.team_admin(ctx, team_id, "team.weekly_rota").await?;
        let team = dir::get_team(&mut tx, team_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut v = Violations::default();
        if input.slots.len() > MAX_SLOTS {
            v.push("slots", format!("at most {MAX_SLOTS} slots"));
        }
        let mut slots = Vec::new();
        for (i, s) in input.slots.iter().enumerate() {
            if !team
                .members
                .iter()
                .any(|m| m.professional_id == s.professional_id)
            {
                v.push(
                    format!("slots[{i}].professional_id"),
                    "not a member of this team",
                );
            }
            let start = parse_hhmm(&s.start).filter(|m| *m < 24 * 60);
            let end = parse_hhmm(&s.end);
            if start.is_none() {
                v.push(
                    format!("slots[{i}].start"),
                    "a time HH:MM from 00:00 to 23:59",
                );
            }
            if end.is_none() {
                v.push(
                    format!("slots[{i}].end"),
                    "a time HH:MM from 00:00 to 24:00",
                );
            }
            if let (Some(a), Some(b)) = (start, end) {
                match WeeklySlot::new(s.day, a, b) {
                    Some(w) => slots.push((s.professional_id.clone(), w)),
                    None => v.push(format!("slots[{i}].end"), "must differ from start"),
                }
            }
        }
        if let Err(e) = v.into_result() {
            tx.rollback().await?;
            return Err(e);
        }
        let now = self.now();
        run!(&mut tx, |c| sqlx::query(
            "DELETE FROM rota_weekly WHERE team_id = $1"
        )
        .bind(team_id)
        .execute(c)
        .await
        .map(|_| ()))?;
        for (p, w) in &slots {
            run!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO rota_weekly (team_id, professional_id, weekday, start_minute, end_minute)
                 VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(team_id)
            .bind(p)
            .bind(w.day.as_str())
            .bind(i64::from(w.start))
            .bind(i64::from(w.end))
            .execute(c)
            .await
            .map(|_| ())
            })?;
        }
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("team.weekly_rota", "team", team_id)
                .with(json!({"slots": slots.len()}))],
        )
        .await?;
        let r = TeamRoutingRules {
            team_id: team_id.to_string(),
            rules: get_rules(&mut tx, "team", team_id).await?,
            rota: rota_of(&mut tx, team_id).await?,
            weekly_rota: weekly_rota_of(&mut tx, team_id).await?,
        };
        tx.commit().await?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_and_normalised() {
        let ok = validate_rules(AcceptanceRules {
            professions: vec!["60".into(), " 10".into()],
            departements: vec!["2a".into(), "87".into()],
            regions: vec!["75".into()],
            postcodes: vec!["87000".into()],
            max_open: Some(12),
        })
        .expect("valid");
        assert_eq!(ok.professions, vec!["60", "10"]);
        assert_eq!(ok.departements, vec!["2A", "87"]);
        let Err(Error::Invalid(errs)) = validate_rules(AcceptanceRules {
            professions: vec!["99".into()],
            departements: vec!["20".into(), "87".into(), "87".into()],
            regions: vec!["99".into()],
            postcodes: vec!["8700".into()],
            max_open: Some(0),
        }) else {
            panic!("invalid rules accepted");
        };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "professions[0]",
                "departements[0]",
                "departements[2]",
                "regions[0]",
                "postcodes[0]",
                "max_open"
            ]
        );
    }
}
