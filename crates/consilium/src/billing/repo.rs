//! Billing SQL (both backends through `run!`).

use super::model::{Assessment, Party, PriorAct};
use crate::db::Tx;
use crate::kernel::{Result, Timestamp};
use crate::run;
use serde::Serialize;
use utoipa::ToSchema;

/// What billing needs of a professional.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProRow {
    pub id: String,
    pub profession: String,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
}

pub async fn professional(tx: &mut Tx, id: &str) -> Result<Option<ProRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, ProRow>(
        "SELECT id, profession, rpps, adeli FROM professionals WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// The professional's organisations as (id, kind), hospitals first (R17: a salaried
/// expert's acts are billed by the establishment).
pub async fn organisations(tx: &mut Tx, professional_id: &str) -> Result<Vec<(String, String)>> {
    Ok(run!(tx, |c| {
        sqlx::query_as::<_, (String, String)>(
        "SELECT o.id, o.kind FROM memberships m JOIN organisations o ON o.id = m.organisation_id
         WHERE m.professional_id = $1
         ORDER BY CASE o.kind WHEN 'hospital_service' THEN 0 WHEN 'centre_sante' THEN 1 ELSE 2 END, o.id"
    )
    .bind(professional_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn party(tx: &mut Tx, id: &str) -> Result<Option<(Party, ProRow, Option<String>)>> {
    let Some(p) = professional(tx, id).await? else {
        return Ok(None);
    };
    let orgs = organisations(tx, id).await?;
    let msps = orgs
        .iter()
        .filter(|(_, k)| k == "msp")
        .map(|(o, _)| o.clone())
        .collect();
    let establishment = orgs.first().map(|(o, _)| o.clone());
    Ok(Some((
        Party {
            id: p.id.clone(),
            profession: p.profession.clone(),
            msps,
        },
        p,
        establishment,
    )))
}

/// Serialises concurrent billing for one patient on PostgreSQL (SQLite already holds the
/// write lock), so two answers at once cannot both take the last act of a limit (R14).
pub async fn lock_patient(tx: &mut Tx, patient_id: &str) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT id FROM patients WHERE id = $1 FOR UPDATE")
            .bind(patient_id)
            .fetch_optional(&mut **t)
            .await?;
    }
    Ok(())
}

/// Acts recorded for this patient by these professionals.
pub async fn prior_acts(
    tx: &mut Tx,
    patient_id: &str,
    professionals: &[&str],
) -> Result<Vec<PriorAct>> {
    let mut out = Vec::new();
    for pro in professionals {
        let rows: Vec<(String, String, String, String, i64)> = run!(tx, |c| sqlx::query_as(
            "SELECT case_id, professional_id, patient_id, code, at FROM billable_acts
             WHERE patient_id = $1 AND professional_id = $2"
        )
        .bind(patient_id)
        .bind(*pro)
        .fetch_all(c)
        .await)?;
        out.extend(
            rows.into_iter().map(
                |(case_id, professional_id, patient_id, code, at)| PriorAct {
                    case_id,
                    professional_id,
                    patient_id,
                    code,
                    at: Timestamp(at),
                },
            ),
        );
    }
    Ok(out)
}

pub struct NewAct<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub side: &'a str,
    pub code: &'a str,
    pub professional_id: &'a str,
    pub rpps: Option<&'a str>,
    pub adeli: Option<&'a str>,
    pub patient_id: &'a str,
    pub patient_ins: Option<&'a str>,
    pub establishment_id: Option<&'a str>,
    pub at: Timestamp,
    pub amount_cents: i64,
    pub tiers_payant: bool,
    pub rules_version: &'a str,
    pub created_at: Timestamp,
}

pub async fn insert_act(tx: &mut Tx, a: &NewAct<'_>) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO billable_acts (id, case_id, side, code, professional_id, rpps, adeli, patient_id,
             patient_ins, establishment_id, at, amount_cents, tiers_payant, rules_version, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )
    .bind(a.id)
    .bind(a.case_id)
    .bind(a.side)
    .bind(a.code)
    .bind(a.professional_id)
    .bind(a.rpps)
    .bind(a.adeli)
    .bind(a.patient_id)
    .bind(a.patient_ins)
    .bind(a.establishment_id)
    .bind(a.at.micros())
    .bind(a.amount_cents)
    .bind(a.tiers_payant)
    .bind(a.rules_version)
    .bind(a.created_at.micros())
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn save_assessment(
    tx: &mut Tx,
    case_id: &str,
    at: Timestamp,
    a: &Assessment,
) -> Result<()> {
    let json = serde_json::to_string(a).map_err(crate::kernel::Error::internal)?;
    run!(tx, |c| sqlx::query(
        "INSERT INTO billing_assessments (case_id, assessed_at, rules_version, assessment)
         VALUES ($1, $2, $3, $4)"
    )
    .bind(case_id)
    .bind(at.micros())
    .bind(&a.rules_version)
    .bind(&json)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn assessment(tx: &mut Tx, case_id: &str) -> Result<Option<Assessment>> {
    let r: Option<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT assessment FROM billing_assessments WHERE case_id = $1"
    )
    .bind(case_id)
    .fetch_optional(c)
    .await)?;
    r.map(|(j,)| serde_json::from_str(&j).map_err(crate::kernel::Error::internal))
        .transpose()
}

/// One act as a billing clerk needs it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ActRow {
    pub id: String,
    pub case_id: String,
    pub case_number: String,
    pub side: String,
    /// `TE2` or `RQD`.
    pub code: String,
    pub professional_id: String,
    pub professional_name: String,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub patient_id: String,
    pub patient_family_name: String,
    pub patient_given_names: String,
    pub patient_birth_date: String,
    /// The patient's INS when known.
    pub patient_ins: Option<String>,
    pub establishment_id: Option<String>,
    pub establishment_name: Option<String>,
    pub establishment_finess: Option<String>,
    /// Instant of the act, microseconds UTC (the API shows `date`, Paris).
    #[serde(skip)]
    pub at: i64,
    pub amount_cents: i64,
    pub tiers_payant: bool,
    pub rules_version: String,
}

const ACT_SELECT: &str =
    "SELECT a.id, a.case_id, c.number AS case_number, a.side, a.code, a.professional_id,
        p.last_name || ' ' || p.first_name AS professional_name, a.rpps, a.adeli, a.patient_id,
        pt.birth_family_name AS patient_family_name, pt.given_names AS patient_given_names,
        pt.birth_date AS patient_birth_date, a.patient_ins, a.establishment_id,
        o.name AS establishment_name, o.finess AS establishment_finess, a.at, a.amount_cents,
        a.tiers_payant, a.rules_version
    FROM billable_acts a
    JOIN cases c ON c.id = a.case_id
    JOIN professionals p ON p.id = a.professional_id
    JOIN patients pt ON pt.id = a.patient_id
    LEFT JOIN organisations o ON o.id = a.establishment_id";

pub async fn acts_of_case(tx: &mut Tx, case_id: &str) -> Result<Vec<ActRow>> {
    let sql = format!("{ACT_SELECT} WHERE a.case_id = $1 ORDER BY a.side, a.code");
    Ok(run!(tx, |c| sqlx::query_as::<_, ActRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(case_id)
    .fetch_all(c)
    .await)?)
}

pub async fn acts_of_professional(
    tx: &mut Tx,
    professional_id: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<ActRow>> {
    let sql = format!(
        "{ACT_SELECT} WHERE a.professional_id = $1 AND a.at >= $2 AND a.at < $3 ORDER BY a.at, a.id"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, ActRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(professional_id)
    .bind(from.micros())
    .bind(to.micros())
    .fetch_all(c)
    .await)?)
}

pub async fn acts_of_establishment(
    tx: &mut Tx,
    organisation_id: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<ActRow>> {
    let sql = format!(
        "{ACT_SELECT} WHERE a.establishment_id = $1 AND a.at >= $2 AND a.at < $3 ORDER BY a.at, a.id"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, ActRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(organisation_id)
    .bind(from.micros())
    .bind(to.micros())
    .fetch_all(c)
    .await)?)
}
