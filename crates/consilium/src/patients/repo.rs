//! Patient SQL.

use super::model::{Patient, ValidPatient};
use crate::db::Tx;
use crate::directory::model::display_name;
use crate::kernel::{Result, Timestamp};
use crate::run;

#[derive(sqlx::FromRow)]
struct PatientRow {
    id: String,
    birth_family_name: String,
    used_family_name: Option<String>,
    given_names: String,
    birth_date: String,
    sex: String,
    birth_place_code: Option<String>,
    ins: Option<String>,
    ins_kind: Option<String>,
    identity_status: String,
    medecin_traitant_id: Option<String>,
    mt_first: Option<String>,
    mt_last: Option<String>,
    mt_profession: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str =
    "SELECT p.id, p.birth_family_name, p.used_family_name, p.given_names, p.birth_date, p.sex,
        p.birth_place_code, p.ins, p.ins_kind, p.identity_status, p.medecin_traitant_id,
        m.first_name AS mt_first, m.last_name AS mt_last, m.profession AS mt_profession,
        p.created_by, p.created_at, p.updated_at
    FROM patients p LEFT JOIN professionals m ON m.id = p.medecin_traitant_id";

impl From<PatientRow> for Patient {
    fn from(r: PatientRow) -> Self {
        let mt_name = match (&r.mt_first, &r.mt_last, &r.mt_profession) {
            (Some(f), Some(l), Some(p)) => Some(display_name(p, f, l)),
            _ => None,
        };
        Patient {
            id: r.id,
            birth_family_name: r.birth_family_name,
            used_family_name: r.used_family_name,
            given_names: r.given_names,
            birth_date: r.birth_date,
            sex: r.sex,
            birth_place_code: r.birth_place_code,
            ins: r.ins,
            ins_kind: r.ins_kind,
            identity_status: r.identity_status,
            medecin_traitant_id: r.medecin_traitant_id,
            medecin_traitant_name: mt_name,
            created_by: r.created_by,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

pub async fn insert(
    tx: &mut Tx,
    id: &str,
    by: &str,
    p: &ValidPatient,
    now: Timestamp,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO patients (id, created_by, birth_family_name, used_family_name, given_names, birth_date, sex,
            birth_place_code, ins, ins_kind, identity_status, medecin_traitant_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
    )
    .bind(id)
    .bind(by)
    .bind(&p.birth_family_name)
    .bind(&p.used_family_name)
    .bind(&p.given_names)
    .bind(&p.birth_date)
    .bind(p.sex.as_str())
    .bind(&p.birth_place_code)
    .bind(p.ins.as_ref().map(|i| i.to_string()))
    .bind(p.ins_kind.map(|k| k.as_str()))
    .bind(p.identity_status.as_str())
    .bind(&p.medecin_traitant_id)
    .bind(now.micros())
    .execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn update(tx: &mut Tx, id: &str, p: &ValidPatient, now: Timestamp) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "UPDATE patients SET birth_family_name = $2, used_family_name = $3, given_names = $4, birth_date = $5,
            sex = $6, birth_place_code = $7, ins = $8, ins_kind = $9, identity_status = $10,
            medecin_traitant_id = $11, updated_at = $12
         WHERE id = $1"
    )
    .bind(id)
    .bind(&p.birth_family_name)
    .bind(&p.used_family_name)
    .bind(&p.given_names)
    .bind(&p.birth_date)
    .bind(p.sex.as_str())
    .bind(&p.birth_place_code)
    .bind(p.ins.as_ref().map(|i| i.to_string()))
    .bind(p.ins_kind.map(|k| k.as_str()))
    .bind(p.identity_status.as_str())
    .bind(&p.medecin_traitant_id)
    .bind(now.micros())
    .execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn get(tx: &mut Tx, id: &str) -> Result<Option<Patient>> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    let r: Option<PatientRow> = run!(tx, |c| sqlx::query_as::<_, PatientRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(r.map(Into::into))
}

/// Patients created by a professional, newest first, keyset on (created_at, id).
pub async fn list_by_creator(
    tx: &mut Tx,
    by: &str,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<Patient>> {
    let (a_at, a_id) = after.clone().unwrap_or((i64::MAX, String::new()));
    let sql = format!(
        "{SELECT} WHERE p.created_by = $1 AND ($2 = FALSE OR p.created_at < $3 OR (p.created_at = $3 AND p.id < $4))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $5"
    );
    let rows: Vec<PatientRow> = run!(tx, |c| sqlx::query_as::<_, PatientRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(by)
    .bind(after.is_some())
    .bind(a_at)
    .bind(&a_id)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How the professional sees this patient through the patient's cases: `None` when they
/// may see none of them (requester, assigned expert, assigner of the case's team but for
/// drafts, member of the team whose pool holds it); `Some(true)` when one of those cases
/// shows them the identity; `Some(false)` when they see the patient only in pool previews
/// of teams that hide it (`cases::model::identity_visible`).
pub async fn case_access(
    tx: &mut Tx,
    patient_id: &str,
    professional_id: &str,
) -> Result<Option<bool>> {
    let rows: Vec<(String, Option<String>, String, Option<bool>)> = run!(tx, |c| {
        sqlx::query_as(
        "SELECT c.requester_id, c.assigned_expert_id, c.state, t.hide_identity_in_pool
         FROM cases c LEFT JOIN teams t ON t.id = c.team_id
         WHERE c.patient_id = $1 AND (c.requester_id = $2 OR c.assigned_expert_id = $2
            OR (c.state <> 'draft' AND c.team_id IN (SELECT team_id FROM team_members WHERE professional_id = $2 AND is_assigner = TRUE))
            OR (c.state = 'submitted' AND c.assigned_expert_id IS NULL AND c.team_id IN (SELECT team_id FROM team_members WHERE professional_id = $2)))"
    )
    .bind(patient_id)
    .bind(professional_id)
    .fetch_all(c)
    .await
    })?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.iter().any(
        |(requester, assigned, state, hides)| {
            crate::cases::model::identity_visible(
                requester == professional_id,
                assigned.as_deref() == Some(professional_id),
                state == "submitted" && assigned.is_none(),
                hides.unwrap_or(false),
            )
        },
    )))
}
