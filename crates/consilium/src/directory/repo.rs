//! Directory SQL.

use super::model::{Organisation, Professional, Team, TeamMember, ValidProfessional, display_name};
use crate::codes;
use crate::db::Tx;
use crate::kernel::{Result, Timestamp};
use crate::run;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfessionalRow {
    pub id: String,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub profession: String,
    pub active: bool,
}

impl ProfessionalRow {
    pub fn display_name(&self) -> String {
        display_name(&self.profession, &self.first_name, &self.last_name)
    }
    pub fn into_view(self, specialties: Vec<String>) -> Professional {
        let label = codes::profession(&self.profession)
            .map(|p| p.label.clone())
            .unwrap_or_default();
        Professional {
            display_name: self.display_name(),
            may_be_expert: codes::may_be_expert(&self.profession),
            profession_label: label,
            specialties,
            id: self.id,
            rpps: self.rpps,
            adeli: self.adeli,
            first_name: self.first_name,
            last_name: self.last_name,
            profession: self.profession,
            active: self.active,
        }
    }
}

const PRO_COLS: &str = "id, rpps, adeli, first_name, last_name, profession, active";

pub async fn insert_organisation(
    tx: &mut Tx,
    o: &super::model::NewOrganisation,
    id: &str,
    now: Timestamp,
) -> std::result::Result<(), sqlx::Error> {
    run!(tx, |c| sqlx::query(
        "INSERT INTO organisations (id, name, kind, finess, siret, city, postcode, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id)
    .bind(o.name.trim())
    .bind(o.kind.as_str())
    .bind(&o.finess)
    .bind(&o.siret)
    .bind(&o.city)
    .bind(&o.postcode)
    .bind(now.micros())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get_organisation(tx: &mut Tx, id: &str) -> Result<Option<Organisation>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, Organisation>(
        "SELECT id, name, kind, finess, siret, city, postcode FROM organisations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn list_organisations(tx: &mut Tx) -> Result<Vec<Organisation>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, Organisation>(
        "SELECT id, name, kind, finess, siret, city, postcode FROM organisations ORDER BY name, id"
    )
    .fetch_all(c)
    .await)?)
}

pub async fn insert_professional(
    tx: &mut Tx,
    p: &ValidProfessional,
    id: &str,
    now: Timestamp,
) -> std::result::Result<(), sqlx::Error> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO professionals (id, rpps, adeli, first_name, last_name, profession, email, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8)"
    )
    .bind(id)
    .bind(p.rpps.as_ref().map(|r| r.to_string()))
    .bind(p.adeli.as_ref().map(|r| r.to_string()))
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.profession)
    .bind(&p.email)
    .bind(now.micros())
    .execute(c).await.map(|r| r.rows_affected())
    })?;
    for s in &p.specialties {
        run!(tx, |c| {
            sqlx::query(
            "INSERT INTO professional_specialties (professional_id, specialty) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(id)
        .bind(s)
        .execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

pub async fn add_membership(
    tx: &mut Tx,
    professional_id: &str,
    organisation_id: &str,
    role: &str,
) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "INSERT INTO memberships (professional_id, organisation_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (professional_id, organisation_id) DO UPDATE SET role = excluded.role"
    )
    .bind(professional_id)
    .bind(organisation_id)
    .bind(role)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn get_professional_row(tx: &mut Tx, id: &str) -> Result<Option<ProfessionalRow>> {
    let sql = "SELECT id, rpps, adeli, first_name, last_name, profession, active FROM professionals WHERE id = $1";
    Ok(run!(tx, |c| sqlx::query_as::<_, ProfessionalRow>(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

pub async fn find_by_rpps(tx: &mut Tx, rpps: &str) -> Result<Option<ProfessionalRow>> {
    let sql = "SELECT id, rpps, adeli, first_name, last_name, profession, active FROM professionals WHERE rpps = $1";
    Ok(run!(tx, |c| sqlx::query_as::<_, ProfessionalRow>(sql)
        .bind(rpps)
        .fetch_optional(c)
        .await)?)
}

pub async fn specialties_of(tx: &mut Tx, id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = run!(tx, |c| {
        sqlx::query_as(
        "SELECT specialty FROM professional_specialties WHERE professional_id = $1 ORDER BY specialty"
    )
    .bind(id)
    .fetch_all(c)
    .await
    })?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn get_professional(tx: &mut Tx, id: &str) -> Result<Option<Professional>> {
    match get_professional_row(tx, id).await? {
        Some(r) => {
            let s = specialties_of(tx, id).await?;
            Ok(Some(r.into_view(s)))
        }
        None => Ok(None),
    }
}

/// Search by name prefix and/or specialty, keyset-paginated on (last_name, first_name, id).
pub async fn search_professionals(
    tx: &mut Tx,
    name_prefix: Option<&str>,
    specialty: Option<&str>,
    experts_only: bool,
    after: Option<(String, String, String)>,
    limit: i64,
) -> Result<Vec<Professional>> {
    let prefix =
        name_prefix.map(|p| format!("{}%", p.trim().to_lowercase().replace(['%', '_'], "")));
    let (a_last, a_first, a_id) = after.unwrap_or_default();
    let has_after = !a_id.is_empty();
    let sql = format!(
        "SELECT {PRO_COLS} FROM professionals p
         WHERE active = TRUE
           AND ($1 IS NULL OR lower(last_name) LIKE $1 OR lower(first_name) LIKE $1)
           AND ($2 IS NULL OR EXISTS (SELECT 1 FROM professional_specialties s WHERE s.professional_id = p.id AND s.specialty = $2))
           AND ($3 = FALSE OR profession IN ('10', '50'))
           AND ($4 = FALSE OR (last_name, first_name, id) > ($5, $6, $7))
         ORDER BY last_name, first_name, id
         LIMIT $8"
    );
    let rows: Vec<ProfessionalRow> = run!(tx, |c| sqlx::query_as::<_, ProfessionalRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(&prefix)
    .bind(specialty)
    .bind(experts_only)
    .bind(has_after)
    .bind(&a_last)
    .bind(&a_first)
    .bind(&a_id)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = specialties_of(tx, &r.id).await?;
        out.push(r.into_view(s));
    }
    Ok(out)
}

pub async fn insert_team(
    tx: &mut Tx,
    t: &super::model::NewTeam,
    id: &str,
    now: Timestamp,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
            "INSERT INTO teams (id, organisation_id, name, specialty, policy, created_at,
                            assign_strategy, accept_hours, hybrid_hours)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(&t.organisation_id)
        .bind(t.name.trim())
        .bind(&t.specialty)
        .bind(t.policy.as_str())
        .bind(now.micros())
        .bind(t.routing.assign_strategy.as_str())
        .bind(t.routing.accept_hours)
        .bind(t.routing.hybrid_hours)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    for m in &t.members {
        run!(tx, |c| sqlx::query(
            "INSERT INTO team_members (team_id, professional_id, is_assigner) VALUES ($1, $2, $3)"
        )
        .bind(id)
        .bind(&m.professional_id)
        .bind(m.is_assigner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TeamRow {
    id: String,
    organisation_id: String,
    name: String,
    specialty: String,
    policy: String,
    assign_strategy: String,
    accept_hours: i64,
    hybrid_hours: i64,
    hide_identity_in_pool: bool,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    professional_id: String,
    is_assigner: bool,
    first_name: String,
    last_name: String,
    profession: String,
}

async fn team_view(tx: &mut Tx, r: TeamRow) -> Result<Team> {
    let members: Vec<MemberRow> = run!(tx, |c| sqlx::query_as::<_, MemberRow>(
        "SELECT m.professional_id, m.is_assigner, p.first_name, p.last_name, p.profession
         FROM team_members m JOIN professionals p ON p.id = m.professional_id
         WHERE m.team_id = $1 ORDER BY p.last_name, p.first_name"
    )
    .bind(&r.id)
    .fetch_all(c)
    .await)?;
    Ok(Team {
        specialty_label: codes::specialty(&r.specialty)
            .map(|s| s.label.clone())
            .unwrap_or_default(),
        id: r.id,
        organisation_id: r.organisation_id,
        name: r.name,
        specialty: r.specialty,
        policy: r.policy,
        routing: super::model::TeamRouting {
            assign_strategy: if r.assign_strategy == "least_loaded" {
                super::model::AssignStrategy::LeastLoaded
            } else {
                super::model::AssignStrategy::RoundRobin
            },
            accept_hours: r.accept_hours,
            hybrid_hours: r.hybrid_hours,
        },
        hide_identity_in_pool: r.hide_identity_in_pool,
        members: members
            .into_iter()
            .map(|m| TeamMember {
                display_name: display_name(&m.profession, &m.first_name, &m.last_name),
                professional_id: m.professional_id,
                is_assigner: m.is_assigner,
            })
            .collect(),
    })
}

pub async fn get_team(tx: &mut Tx, id: &str) -> Result<Option<Team>> {
    let row: Option<TeamRow> = run!(tx, |c| {
        sqlx::query_as::<_, TeamRow>(
        "SELECT id, organisation_id, name, specialty, policy, assign_strategy, accept_hours, hybrid_hours, hide_identity_in_pool FROM teams WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await
    })?;
    match row {
        Some(r) => Ok(Some(team_view(tx, r).await?)),
        None => Ok(None),
    }
}

pub async fn list_teams(tx: &mut Tx, specialty: Option<&str>) -> Result<Vec<Team>> {
    let rows: Vec<TeamRow> = run!(tx, |c| {
        sqlx::query_as::<_, TeamRow>(
        "SELECT id, organisation_id, name, specialty, policy, assign_strategy, accept_hours, hybrid_hours, hide_identity_in_pool FROM teams
         WHERE ($1 IS NULL OR specialty = $1) ORDER BY name, id"
    )
    .bind(specialty)
    .fetch_all(c)
    .await
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(team_view(tx, r).await?);
    }
    Ok(out)
}

/// Whether the team hides the patient's identity in its pool (`false` for no team).
pub async fn hides_identity_in_pool(tx: &mut Tx, team_id: Option<&str>) -> Result<bool> {
    let Some(team_id) = team_id else {
        return Ok(false);
    };
    let r: Option<(bool,)> = run!(tx, |c| sqlx::query_as(
        "SELECT hide_identity_in_pool FROM teams WHERE id = $1"
    )
    .bind(team_id)
    .fetch_optional(c)
    .await)?;
    Ok(r.is_some_and(|(h,)| h))
}

/// The caller's teams as (team id, is case assigner).
pub async fn teams_of(tx: &mut Tx, professional_id: &str) -> Result<Vec<(String, bool)>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, (String, bool)>(
        "SELECT team_id, is_assigner FROM team_members WHERE professional_id = $1"
    )
    .bind(professional_id)
    .fetch_all(c)
    .await)?)
}

pub async fn is_team_member(tx: &mut Tx, team_id: &str, professional_id: &str) -> Result<bool> {
    let r: Option<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT team_id FROM team_members WHERE team_id = $1 AND professional_id = $2"
    )
    .bind(team_id)
    .bind(professional_id)
    .fetch_optional(c)
    .await)?;
    Ok(r.is_some())
}

pub async fn set_active(tx: &mut Tx, id: &str, active: bool) -> Result<bool> {
    let r = run!(tx, |c| sqlx::query(
        "UPDATE professionals SET active = $2 WHERE id = $1"
    )
    .bind(id)
    .bind(active)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// Organisations the professional administers.
pub async fn admin_of(tx: &mut Tx, professional_id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT organisation_id FROM memberships WHERE professional_id = $1 AND role = 'admin'"
    )
    .bind(professional_id)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Organisations the professional belongs to.
pub async fn organisations_of(tx: &mut Tx, professional_id: &str) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT organisation_id FROM memberships WHERE professional_id = $1"
    )
    .bind(professional_id)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}
