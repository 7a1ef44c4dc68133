//! Billing use cases: acts recorded when a case is answered (inside the answer's
//! transaction), a case's billing, a professional's acts and counters, exports per
//! professional and per establishment (R17).

use super::model::{self, Assessment, CaseFacts, Decision, RulePack, Side, Warning};
use super::repo::{self, ActRow, NewAct};
use crate::audit::{self, NewEntry};
use crate::cases::model::CaseState;
use crate::cases::repo::CaseRow;
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, Platform};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use time::{Date, Month};
use utoipa::ToSchema;

/// Facts of a case as billing sees them, with what the export needs of each side.
async fn facts_of(
    tx: &mut Tx,
    r: &CaseRow,
    state: CaseState,
    answered_at: Option<Timestamp>,
) -> Result<(CaseFacts, Vec<(repo::ProRow, Option<String>)>)> {
    let (req, req_row, req_est) = repo::party(tx, &r.requester_id)
        .await?
        .ok_or_else(|| Error::internal("requester missing"))?;
    let mut rows = vec![(req_row, req_est)];
    let expert = match r.assigned_expert_id.as_deref() {
        Some(e) => {
            let (p, row, est) = repo::party(tx, e)
                .await?
                .ok_or_else(|| Error::internal("expert missing"))?;
            rows.push((row, est));
            Some(p)
        }
        None => None,
    };
    Ok((
        CaseFacts {
            case_id: r.id.clone(),
            patient_id: r.patient_id.clone(),
            state,
            answered_at,
            requester: req,
            expert,
        },
        rows,
    ))
}

/// Records what each side may bill for a case being answered at `now`, in the caller's
/// transaction (the answer's): the assessment, and one act per billable side.
pub(crate) async fn record_on_answer(
    tx: &mut Tx,
    r: &CaseRow,
    now: Timestamp,
) -> Result<Assessment> {
    repo::lock_patient(tx, &r.patient_id).await?;
    let (facts, rows) = facts_of(tx, r, CaseState::Answered, Some(now)).await?;
    let ids: Vec<&str> = rows.iter().map(|(p, _)| p.id.as_str()).collect();
    let prior = repo::prior_acts(tx, &r.patient_id, &ids).await?;
    let pack = RulePack::current();
    let a = model::assess(pack, &facts, &prior);
    let ins: Option<(Option<String>,)> = crate::run!(tx, |c| sqlx::query_as(
        "SELECT ins FROM patients WHERE id = $1"
    )
    .bind(&r.patient_id)
    .fetch_optional(c)
    .await)?;
    let ins = ins.and_then(|x| x.0);
    for d in a.decisions.iter().filter(|d| d.billable) {
        let Some((pro, est)) = rows.iter().find(|(p, _)| p.id == d.professional_id) else {
            continue;
        };
        repo::insert_act(
            tx,
            &NewAct {
                id: &new_id(),
                case_id: &r.id,
                side: d.side.as_str(),
                code: &d.code,
                professional_id: &pro.id,
                rpps: pro.rpps.as_deref(),
                adeli: pro.adeli.as_deref(),
                patient_id: &r.patient_id,
                patient_ins: ins.as_deref(),
                establishment_id: est.as_deref(),
                at: now,
                amount_cents: d.amount_cents.unwrap_or(0),
                tiers_payant: d.tiers_payant,
                rules_version: &a.rules_version,
                created_at: now,
            },
        )
        .await?;
    }
    repo::save_assessment(tx, &r.id, now, &a).await?;
    Ok(a)
}

/// An act with its date in Paris.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActView {
    #[serde(flatten)]
    pub act: ActRow,
    pub at: Timestamp,
    /// Date of the act, Europe/Paris (`YYYY-MM-DD`).
    pub date: String,
    /// Amount in euros, e.g. `23.00`.
    pub amount: String,
}

impl From<ActRow> for ActView {
    fn from(act: ActRow) -> Self {
        let at = Timestamp(act.at);
        Self {
            date: model::paris_date(at).to_string(),
            amount: format!("{}.{:02}", act.amount_cents / 100, act.amount_cents % 100),
            at,
            act,
        }
    }
}

/// What each side of a case may bill, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseBilling {
    pub case_id: String,
    pub rules_version: String,
    /// `recorded` once the case was answered (decisions as made then), else `provisional`
    /// (what the rules say now).
    pub status: String,
    pub decisions: Vec<Decision>,
    pub warnings: Vec<Warning>,
    pub acts: Vec<ActView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CounterRow {
    pub patient_id: String,
    pub patient_ins: Option<String>,
    pub code: String,
    pub used: u32,
    pub limit: u32,
}

/// A professional's R14 counters for the current period, and the R16 informational count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Counters {
    pub professional_id: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub counters: Vec<CounterRow>,
    /// R16: teleexpertise acts in the period; outside the 20 % cap on remote activity since
    /// the 2024–2029 convention (teleconsultation only), shown for information.
    pub teleexpertise_acts: u32,
    pub note: String,
}

/// `YYYY-MM` → the month's bounds in Paris time.
pub fn month_bounds(month: &str) -> Result<(Timestamp, Timestamp)> {
    let bad = || Error::invalid("month", "must be written YYYY-MM");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    if !(2000..=2200).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let month = Month::try_from(m).map_err(|_| bad())?;
    let first = Date::from_calendar_date(y, month, 1).map_err(|_| bad())?;
    let next = if month == Month::December {
        Date::from_calendar_date(y + 1, Month::January, 1)
    } else {
        Date::from_calendar_date(y, month.next(), 1)
    }
    .map_err(|_| bad())?;
    Ok((model::paris_midnight(first), model::paris_midnight(next)))
}

impl Platform {
    /// What each side of a case may bill (whoever may see the case).
    pub async fn case_billing(&self, ctx: &Ctx, id: &str) -> Result<CaseBilling> {
        let tx = self.db.begin().await?;
        let (mut tx, row, _rel) = self.load_visible(tx, ctx, id, "case.billing").await?;
        let state = row.state()?;
        let (status, a) = match repo::assessment(&mut tx, id).await? {
            Some(a) => ("recorded", a),
            None => {
                let (facts, rows) =
                    facts_of(&mut tx, &row, state, row.answered_at.map(Timestamp)).await?;
                let ids: Vec<&str> = rows.iter().map(|(p, _)| p.id.as_str()).collect();
                let prior = repo::prior_acts(&mut tx, &row.patient_id, &ids).await?;
                (
                    "provisional",
                    model::assess(RulePack::current(), &facts, &prior),
                )
            }
        };
        let acts = repo::acts_of_case(&mut tx, id).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("case.billing", "case", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(CaseBilling {
            case_id: id.to_string(),
            rules_version: a.rules_version,
            status: status.into(),
            decisions: a.decisions,
            warnings: a.warnings,
            acts: acts.into_iter().map(ActView::from).collect(),
        })
    }

    /// The caller's own billable acts in `[from, to)`.
    pub async fn my_acts(&self, ctx: &Ctx, from: Timestamp, to: Timestamp) -> Result<Vec<ActView>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let acts = repo::acts_of_professional(&mut tx, &me, from, to).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("billing.acts", "professional", &me)
                .with(json!({"from": from, "to": to, "count": acts.len()}))],
        )
        .await?;
        tx.commit().await?;
        Ok(acts.into_iter().map(ActView::from).collect())
    }

    /// The caller's R14 counters for the period in force now.
    pub async fn my_counters(&self, ctx: &Ctx) -> Result<Counters> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let pack = RulePack::current();
        let now = self.now();
        let (start, end) = model::period(pack.annual_period, now);
        let mut tx = self.db.begin().await?;
        let pro = repo::professional(&mut tx, &me)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let acts = repo::acts_of_professional(&mut tx, &me, start, end).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("billing.counters", "professional", &me)],
        )
        .await?;
        tx.commit().await?;
        let mut map: BTreeMap<(String, String), CounterRow> = BTreeMap::new();
        for a in &acts {
            let side = if a.side == "expert" {
                Side::Expert
            } else {
                Side::Requester
            };
            let limit = pack.act(side).map_or(0, |r| r.limit_for(&pro.profession));
            map.entry((a.patient_id.clone(), a.code.clone()))
                .or_insert_with(|| CounterRow {
                    patient_id: a.patient_id.clone(),
                    patient_ins: a.patient_ins.clone(),
                    code: a.code.clone(),
                    used: 0,
                    limit,
                })
                .used += 1;
        }
        Ok(Counters {
            professional_id: me,
            period_start: start,
            period_end: end,
            counters: map.into_values().collect(),
            teleexpertise_acts: acts.len() as u32,
            note: "R16 : la téléexpertise n'entre pas dans le plafond de 20 % d'activité à distance (téléconsultation seulement) ; compteur donné pour information.".into(),
        })
    }

    /// R17: the acts of an establishment's professionals, for its billing office. Only the
    /// organisation's administrators; anyone else gets "not found" (audited).
    pub async fn establishment_acts(
        &self,
        ctx: &Ctx,
        organisation_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ActView>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let admin_of = dir::admin_of(&mut tx, &me).await?;
        if !admin_of.iter().any(|o| o == organisation_id) {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("billing.establishment", "organisation", organisation_id),
                    Error::NotFound,
                )
                .await;
        }
        let acts = repo::acts_of_establishment(&mut tx, organisation_id, from, to).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[
                NewEntry::success("billing.establishment", "organisation", organisation_id)
                    .with(json!({"from": from, "to": to, "count": acts.len()})),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(acts.into_iter().map(ActView::from).collect())
    }
}

/// CSV export: one line per act, `;`-separated as French spreadsheets expect, every field
/// quoted; a field that a spreadsheet would read as a formula is prefixed with `'`.
pub fn to_csv(acts: &[ActView]) -> String {
    fn field(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    }
    let mut out = String::from(
        "date;code;montant_eur;tiers_payant;rpps;adeli;professionnel;patient_ins;patient_nom;patient_prenoms;patient_naissance;demande;etablissement;finess;version_regles\r\n",
    );
    for a in acts {
        let r = &a.act;
        let cols = [
            a.date.as_str(),
            r.code.as_str(),
            a.amount.as_str(),
            if r.tiers_payant { "oui" } else { "non" },
            r.rpps.as_deref().unwrap_or(""),
            r.adeli.as_deref().unwrap_or(""),
            r.professional_name.as_str(),
            r.patient_ins.as_deref().unwrap_or(""),
            r.patient_family_name.as_str(),
            r.patient_given_names.as_str(),
            r.patient_birth_date.as_str(),
            r.case_number.as_str(),
            r.establishment_name.as_deref().unwrap_or(""),
            r.establishment_finess.as_deref().unwrap_or(""),
            r.rules_version.as_str(),
        ];
        out.push_str(&cols.iter().map(|c| field(c)).collect::<Vec<_>>().join(";"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_are_paris_months() {
        let (a, b) = month_bounds("2026-01").expect("valid");
        assert_eq!(a.to_rfc3339(), "2025-12-31T23:00:00.000000Z");
        assert_eq!(b.to_rfc3339(), "2026-01-31T23:00:00.000000Z");
        let (a, b) = month_bounds("2026-12").expect("valid");
        assert_eq!(a.to_rfc3339(), "2026-11-30T23:00:00.000000Z");
        assert_eq!(b.to_rfc3339(), "2026-12-31T23:00:00.000000Z");
        for bad in ["2026", "2026-13", "2026-00", "x-01", "1999-01", "2026-1a"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }
}
