//! The billing rule pack and what each side of a case may bill. Pure: no I/O.
//!
//! The rules are data (`data/billing_rules.toml`, compiled in): dated tariffs (R11),
//! annual limits (R14), who may bill (R3, R4, from TRE_G15 in `codes`). [`assess`] is a
//! pure function of (rule pack, case facts, previous acts): it says, for each side, whether
//! an act is billable, how much, and why, citing the rule.

use crate::cases::model::CaseState;
use crate::codes;
use crate::kernel::Timestamp;
use crate::kernel::time::MICROS_PER_DAY;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use time::{Date, Month, OffsetDateTime, Weekday};
use utoipa::ToSchema;

pub const RULES_TOML: &str = include_str!("../../data/billing_rules.toml");

// ---------- Europe/Paris time ----------

/// UTC offset of Europe/Paris at `t`, in seconds: CET (+1 h) or CEST (+2 h). EU rule in
/// force since 1996: summer time from the last Sunday of March to the last Sunday of
/// October, switching at 01:00 UTC.
pub fn paris_offset_seconds(t: Timestamp) -> i64 {
    let utc = t.to_offset();
    let year = utc.year();
    let start = last_sunday_01utc(year, Month::March);
    let end = last_sunday_01utc(year, Month::October);
    if utc >= start && utc < end {
        7200
    } else {
        3600
    }
}

fn last_sunday_01utc(year: i32, month: Month) -> OffsetDateTime {
    let mut d = Date::from_calendar_date(year, month, 31)
        .or_else(|_| Date::from_calendar_date(year, month, 30))
        .unwrap_or(Date::MIN);
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day().unwrap_or(Date::MIN);
    }
    d.with_hms(1, 0, 0)
        .unwrap_or(time::PrimitiveDateTime::MIN)
        .assume_utc()
}

/// The calendar date in Paris at instant `t`.
pub fn paris_date(t: Timestamp) -> Date {
    let local = t.micros() + paris_offset_seconds(t) * 1_000_000;
    Timestamp(local).to_offset().date()
}

/// The instant of 00:00 Paris time on `d` (midnight is never inside a DST switch).
pub fn paris_midnight(d: Date) -> Timestamp {
    let utc_midnight = Timestamp::from_offset(d.midnight().assume_utc());
    let guess = utc_midnight.plus_seconds(-3600);
    if paris_offset_seconds(guess) == 7200 {
        utc_midnight.plus_seconds(-7200)
    } else {
        guess
    }
}

// ---------- the rule pack ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The requester (requérant): act RQD.
    Requester,
    /// The expert (requis): act TE2.
    Expert,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Requester => "requester",
            Side::Expert => "expert",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnualPeriod {
    /// 1 January to 31 December, Paris time.
    Calendar,
    /// The 365 days before the act.
    Rolling,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Tariff {
    /// Paris calendar date from which this amount applies (`YYYY-MM-DD`).
    pub from: String,
    /// Amount in euro cents.
    pub cents: i64,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct LimitOverride {
    /// TRE_G15 profession code.
    pub profession: String,
    pub limit: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ActRule {
    pub code: String,
    pub side: Side,
    pub label: String,
    pub eligibility_rule: String,
    pub annual_limit: u32,
    #[serde(default)]
    pub limit_overrides: Vec<LimitOverride>,
    pub tariffs: Vec<Tariff>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct RulePack {
    pub version: String,
    pub time_zone: String,
    pub annual_period: AnnualPeriod,
    pub acts: Vec<ActRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("rule pack: {0}")]
    Parse(String),
    #[error("rule pack: {0}")]
    Invalid(String),
}

fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

impl RulePack {
    /// Parses and checks a pack: one act per side, known time zone, tariffs dated in
    /// increasing order, positive amounts.
    pub fn parse(toml_text: &str) -> Result<RulePack, PackError> {
        let pack: RulePack =
            toml::from_str(toml_text).map_err(|e| PackError::Parse(e.to_string()))?;
        if pack.time_zone != "Europe/Paris" {
            return Err(PackError::Invalid("only Europe/Paris is supported".into()));
        }
        for side in [Side::Requester, Side::Expert] {
            if pack.acts.iter().filter(|a| a.side == side).count() != 1 {
                return Err(PackError::Invalid(format!(
                    "exactly one act for the {} side",
                    side.as_str()
                )));
            }
        }
        for a in &pack.acts {
            if a.tariffs.is_empty() {
                return Err(PackError::Invalid(format!("{}: no tariff", a.code)));
            }
            let mut prev: Option<Date> = None;
            for t in &a.tariffs {
                let d = parse_date(&t.from).ok_or_else(|| {
                    PackError::Invalid(format!("{}: bad date {}", a.code, t.from))
                })?;
                if prev.is_some_and(|p| p >= d) || t.cents <= 0 {
                    return Err(PackError::Invalid(format!(
                        "{}: tariffs must be positive and dated in increasing order",
                        a.code
                    )));
                }
                prev = Some(d);
            }
        }
        Ok(pack)
    }

    /// The compiled-in pack.
    pub fn current() -> &'static RulePack {
        static P: OnceLock<RulePack> = OnceLock::new();
        P.get_or_init(|| match RulePack::parse(RULES_TOML) {
            Ok(p) => p,
            // The file is compiled in and checked by a unit test: this cannot happen in a
            // build that passed its tests.
            Err(e) => panic!("{e}"),
        })
    }

    pub fn act(&self, side: Side) -> Option<&ActRule> {
        self.acts.iter().find(|a| a.side == side)
    }
}

impl ActRule {
    /// The tariff in force at `at` (Paris calendar date), with its source; none before the
    /// first dated row.
    pub fn tariff_at(&self, at: Timestamp) -> Option<&Tariff> {
        let day = paris_date(at);
        self.tariffs
            .iter()
            .rfind(|t| parse_date(&t.from).is_some_and(|d| d <= day))
    }

    /// R14: the annual limit for a professional of this profession.
    pub fn limit_for(&self, profession: &str) -> u32 {
        self.limit_overrides
            .iter()
            .find(|o| o.profession == profession)
            .map_or(self.annual_limit, |o| o.limit)
    }

    /// R3 / R4: whether this profession may bill this act (TRE_G15 flags).
    pub fn may_bill(&self, profession: &str) -> bool {
        codes::profession(profession).is_some_and(|p| match self.side {
            Side::Requester => p.may_bill_rqd,
            Side::Expert => p.may_answer_te2,
        })
    }
}

/// The counting window of R14 for an act at `at`: `[start, end)`.
pub fn period(kind: AnnualPeriod, at: Timestamp) -> (Timestamp, Timestamp) {
    match kind {
        AnnualPeriod::Calendar => {
            let y = paris_date(at).year();
            let jan1 = |y| Date::from_calendar_date(y, Month::January, 1).unwrap_or(Date::MIN);
            (paris_midnight(jan1(y)), paris_midnight(jan1(y + 1)))
        }
        AnnualPeriod::Rolling => (
            Timestamp(at.micros() - 365 * MICROS_PER_DAY),
            Timestamp(at.micros() + 1),
        ),
    }
}

// ---------- facts and decisions ----------

/// One side of a case, as billing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    /// TRE_G15 profession code.
    pub profession: String,
    /// Organisations of kind `msp` the professional belongs to (R15).
    pub msps: Vec<String>,
}

/// What billing needs of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub case_id: String,
    pub patient_id: String,
    pub state: CaseState,
    /// When the expert answered: the date of both acts.
    pub answered_at: Option<Timestamp>,
    pub requester: Party,
    /// The expert who answered (or holds the case).
    pub expert: Option<Party>,
}

/// An act already recorded (any case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorAct {
    pub case_id: String,
    pub professional_id: String,
    pub patient_id: String,
    pub code: String,
    pub at: Timestamp,
}

/// R14 counter for one professional, patient and act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counter {
    /// Acts already recorded in the period, before this one.
    pub used: u32,
    pub limit: u32,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
}

/// What one side may bill for a case, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub side: Side,
    pub professional_id: String,
    pub code: String,
    pub billable: bool,
    /// Euro cents, when billable.
    pub amount_cents: Option<i64>,
    /// Date of the act (the answer), when there is one.
    pub at: Option<Timestamp>,
    /// R12: paid 100 % by the Assurance Maladie, no extra fee.
    pub tiers_payant: bool,
    /// The rule that decided (R3, R4, R8, R9, R11, R14, R15…).
    pub rule: String,
    /// Why, in French, for the professional.
    pub explanation: String,
    pub counter: Option<Counter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    pub rule: String,
    pub professional_id: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Assessment {
    pub rules_version: String,
    pub decisions: Vec<Decision>,
    pub warnings: Vec<Warning>,
}

fn euros(cents: i64) -> String {
    format!("{},{:02} €", cents / 100, cents % 100)
}

/// What each side of a case may bill. Pure.
pub fn assess(pack: &RulePack, facts: &CaseFacts, prior: &[PriorAct]) -> Assessment {
    let mut decisions = Vec::new();
    let mut warnings = Vec::new();
    let sides: [(Side, Option<&Party>); 2] = [
        (Side::Requester, Some(&facts.requester)),
        (Side::Expert, facts.expert.as_ref()),
    ];
    let same_msp = facts.expert.as_ref().is_some_and(|e| {
        facts
            .requester
            .msps
            .iter()
            .any(|m| e.msps.iter().any(|n| n == m))
    });
    for (side, party) in sides {
        let Some(act) = pack.act(side) else { continue };
        let Some(party) = party else { continue };
        let mut d = Decision {
            side,
            professional_id: party.id.clone(),
            code: act.code.clone(),
            billable: false,
            amount_cents: None,
            at: facts.answered_at,
            tiers_payant: true,
            rule: String::new(),
            explanation: String::new(),
            counter: None,
        };
        let refuse = |d: &mut Decision, rule: &str, why: String| {
            d.rule = rule.into();
            d.explanation = why;
        };
        match (facts.state, facts.answered_at) {
            (CaseState::Declined, _) => {
                refuse(&mut d, "R8", "Demande refusée par le requis : l'acte n'a pas été réalisé et n'est pas facturable.".into());
            }
            (CaseState::Cancelled, _) => {
                refuse(
                    &mut d,
                    "R8",
                    "Demande annulée avant réponse : aucun acte réalisé, rien à facturer.".into(),
                );
            }
            (CaseState::Expired, _) => {
                refuse(
                    &mut d,
                    "R9",
                    "Aucune réponse dans le délai de 7 jours : aucun acte réalisé.".into(),
                );
            }
            (CaseState::Answered | CaseState::Closed, Some(at)) => {
                if !act.may_bill(&party.profession) {
                    let label = codes::profession(&party.profession)
                        .map_or(party.profession.clone(), |p| p.label.clone());
                    refuse(
                        &mut d,
                        &act.eligibility_rule,
                        format!(
                            "La profession « {label} » ne peut pas facturer l'acte {} ({}).",
                            act.code, act.eligibility_rule
                        ),
                    );
                } else if same_msp {
                    refuse(&mut d, "R15", "Requérant et requis exercent dans la même maison de santé pluriprofessionnelle : la téléexpertise n'est pas facturable (coordination interne).".into());
                } else {
                    let (start, end) = period(pack.annual_period, at);
                    let used = prior
                        .iter()
                        .filter(|p| {
                            p.professional_id == party.id
                                && p.patient_id == facts.patient_id
                                && p.code == act.code
                                && p.case_id != facts.case_id
                                && p.at >= start
                                && p.at < end
                        })
                        .count() as u32;
                    let limit = act.limit_for(&party.profession);
                    d.counter = Some(Counter {
                        used,
                        limit,
                        period_start: start,
                        period_end: end,
                    });
                    if used >= limit {
                        refuse(
                            &mut d,
                            "R14",
                            format!(
                                "Plafond atteint : {used} actes {} déjà facturés pour ce patient sur la période (maximum {limit} par an).",
                                act.code
                            ),
                        );
                    } else if let Some(t) = act.tariff_at(at) {
                        d.billable = true;
                        d.amount_cents = Some(t.cents);
                        d.rule = "R11".into();
                        d.explanation = format!(
                            "Acte {} facturable : {} au {} ({}), pris en charge à 100 % en tiers payant (R12) ; {} sur {limit} actes utilisés cette année pour ce patient (R14).",
                            act.code,
                            euros(t.cents),
                            paris_date(at),
                            t.source,
                            used + 1
                        );
                        // R13: not cumulable with another act for the same patient by the
                        // same professional at the same time.
                        let day = paris_date(at);
                        if prior.iter().any(|p| {
                            p.professional_id == party.id
                                && p.patient_id == facts.patient_id
                                && p.case_id != facts.case_id
                                && paris_date(p.at) == day
                        }) {
                            warnings.push(Warning {
                                rule: "R13".into(),
                                professional_id: party.id.clone(),
                                message: format!(
                                    "Un autre acte a déjà été enregistré le même jour pour ce patient : l'acte {} n'est pas cumulable avec un autre acte ou supplément au même moment.",
                                    act.code
                                ),
                            });
                        }
                    } else {
                        refuse(&mut d, "R11", "Aucun tarif en vigueur à cette date.".into());
                    }
                }
            }
            _ => {
                refuse(
                    &mut d,
                    "R10",
                    "La demande n'a pas encore reçu de réponse : rien à facturer pour l'instant."
                        .into(),
                );
            }
        }
        // A case never yields two acts of the same code: an act already recorded for this
        // case is the act, not a second one.
        if d.billable
            && prior.iter().any(|p| {
                p.case_id == facts.case_id && p.code == act.code && p.professional_id == party.id
            })
        {
            d.explanation
                .push_str(" (déjà enregistré pour cette demande)");
        }
        decisions.push(d);
    }
    Assessment {
        rules_version: pack.version.clone(),
        decisions,
        warnings,
    }
}

#[cfg(test)]
mod tests;
