//! Directory use cases.

use super::model::{NewOrganisation, NewProfessional, NewTeam, Organisation, Professional, Team};
use super::repo;
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::{Tx, is_unique_violation};
use crate::kernel::error::Violations;
use crate::kernel::{Error, FieldError, Result, new_id};
use crate::platform::{Ctx, Platform};
use serde_json::json;

impl Platform {
    pub async fn create_organisation(
        &self,
        ctx: &Ctx,
        input: NewOrganisation,
    ) -> Result<Organisation> {
        let input = input.validate()?;
        let mut tx = self.db.begin().await?;
        let id = new_id();
        let now = self.now();
        if let Err(e) = repo::insert_organisation(&mut tx, &input, &id, now).await {
            return Err(if is_unique_violation(&e) {
                Error::invalid(
                    "finess",
                    "an organisation with this FINESS number already exists",
                )
            } else {
                e.into()
            });
        }
        let org = repo::get_organisation(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[
                NewEntry::success("organisation.create", "organisation", &id)
                    .with(json!({"name": org.name})),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Creates a professional with their memberships (organisation id, role).
    pub async fn create_professional(
        &self,
        ctx: &Ctx,
        input: NewProfessional,
        memberships: &[(String, &str)],
    ) -> Result<Professional> {
        let valid = input.validate().map_err(Error::Invalid)?;
        let mut tx = self.db.begin().await?;
        let id = new_id();
        let now = self.now();
        if let Err(e) = repo::insert_professional(&mut tx, &valid, &id, now).await {
            return Err(if is_unique_violation(&e) {
                Error::Invalid(vec![FieldError::new(
                    if valid.rpps.is_some() {
                        "rpps"
                    } else {
                        "adeli"
                    },
                    "a professional with this number already exists",
                )])
            } else {
                e.into()
            });
        }
        for (org, role) in memberships {
            if repo::get_organisation(&mut tx, org).await?.is_none() {
                return Err(Error::invalid("organisation_id", "unknown organisation"));
            }
            repo::add_membership(&mut tx, &id, org, role).await?;
        }
        let p = repo::get_professional(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(
                "professional.create",
                "professional",
                &id,
            )],
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn create_team(&self, ctx: &Ctx, input: NewTeam) -> Result<Team> {
        let mut tx = self.db.begin().await?;
        let mut v = Violations::default();
        if input.name.trim().is_empty() {
            v.push("name", "is required");
        }
        if codes::specialty(&input.specialty).is_none() {
            v.push("specialty", "unknown TRE_R38 specialty code");
        }
        if repo::get_organisation(&mut tx, &input.organisation_id)
            .await?
            .is_none()
        {
            v.push("organisation_id", "unknown organisation");
        }
        if input.members.is_empty() {
            v.push("members", "a team needs at least one member");
        }
        if !input.members.iter().any(|m| m.is_assigner) {
            v.push("members", "a team needs at least one case assigner");
        }
        for (i, m) in input.members.iter().enumerate() {
            match repo::get_professional_row(&mut tx, &m.professional_id).await? {
                None => v.push(
                    format!("members[{i}].professional_id"),
                    "unknown professional",
                ),
                // R2/R4: only doctors and midwives may be experts.
                Some(p) if !codes::may_be_expert(&p.profession) => v.push(
                    format!("members[{i}].professional_id"),
                    "only doctors and midwives may be experts (R4)",
                ),
                Some(_) => {}
            }
        }
        v.into_result()?;
        let id = new_id();
        let now = self.now();
        repo::insert_team(&mut tx, &input, &id, now).await?;
        let team = repo::get_team(&mut tx, &id).await?.ok_or(Error::NotFound)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("team.create", "team", &id)],
        )
        .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Disables or re-enables a professional: their tokens stop working at once.
    pub async fn set_professional_active(&self, ctx: &Ctx, id: &str, active: bool) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !repo::set_active(&mut tx, id, active).await? {
            return Err(Error::NotFound);
        }
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success(
                if active {
                    "professional.enable"
                } else {
                    "professional.disable"
                },
                "professional",
                id,
            )],
        )
        .await?;
        tx.commit().await
    }

    pub async fn get_professional(&self, id: &str) -> Result<Professional> {
        let mut tx = self.read().await?;
        let p = repo::get_professional(&mut tx, id)
            .await?
            .ok_or(Error::NotFound)?;
        tx.rollback().await?;
        Ok(p)
    }

    pub async fn search_professionals(
        &self,
        name_prefix: Option<&str>,
        specialty: Option<&str>,
        experts_only: bool,
        after: Option<(String, String, String)>,
        limit: i64,
    ) -> Result<Vec<Professional>> {
        let mut tx = self.read().await?;
        let r =
            repo::search_professionals(&mut tx, name_prefix, specialty, experts_only, after, limit)
                .await?;
        tx.rollback().await?;
        Ok(r)
    }

    pub async fn list_teams(&self, specialty: Option<&str>) -> Result<Vec<Team>> {
        let mut tx = self.read().await?;
        let r = repo::list_teams(&mut tx, specialty).await?;
        tx.rollback().await?;
        Ok(r)
    }

    pub async fn get_team(&self, id: &str) -> Result<Team> {
        let mut tx = self.read().await?;
        let r = repo::get_team(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.rollback().await?;
        Ok(r)
    }

    pub async fn list_organisations(&self) -> Result<Vec<Organisation>> {
        let mut tx = self.read().await?;
        let r = repo::list_organisations(&mut tx).await?;
        tx.rollback().await?;
        Ok(r)
    }

    /// A read-only transaction (plain `BEGIN`: no write lock on SQLite).
    pub async fn read(&self) -> Result<Tx> {
        Ok(match &self.db {
            crate::db::Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            crate::db::Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }
}
