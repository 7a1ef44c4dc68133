//! Directory use cases.

use super::model::{
    AddMember, NewOrganisation, NewProfessional, NewTeam, NewTeamMember, Organisation,
    Professional, Team, TeamInput,
};
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
        for (field, h) in [
            ("routing.accept_hours", input.routing.accept_hours),
            ("routing.hybrid_hours", input.routing.hybrid_hours),
        ] {
            if !(1..=168).contains(&h) {
                v.push(
                    field,
                    "between 1 and 168 hours (the answer is due within 7 days)",
                );
            }
        }
        check_members(&mut tx, &input.members, &[], &mut v).await?;
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
        if !active {
            // Disabled: every session ends now (tokens are refused by the active check).
            self.end_all_sessions(&mut tx, &ctx.actor, id, "disabled")
                .await?;
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

    /// A professional, their teams and the organisations they administer, in one read
    /// (what every web page needs to know about its viewer).
    pub async fn standing(&self, id: &str) -> Result<(Professional, Vec<Team>, Vec<String>)> {
        let mut tx = self.read().await?;
        let p = repo::get_professional(&mut tx, id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut teams = Vec::new();
        for (team, _) in repo::teams_of(&mut tx, id).await? {
            if let Some(t) = repo::get_team(&mut tx, &team).await? {
                teams.push(t);
            }
        }
        let admin = repo::admin_of(&mut tx, id).await?;
        tx.rollback().await?;
        Ok((p, teams, admin))
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
            crate::db::Db::Sqlite(p) => Tx::Sqlite(p.begin().await?.into()),
            crate::db::Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Refuses (403, audited) unless the caller administers `org_id`; unknown organisation: 404.
    async fn require_admin_of(&self, ctx: &Ctx, org_id: &str, action: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        if repo::get_organisation(&mut tx, org_id).await?.is_none() {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        if repo::admin_of(&mut tx, me)
            .await?
            .iter()
            .any(|o| o == org_id)
        {
            tx.rollback().await?;
            return Ok(());
        }
        self.deny(
            tx,
            ctx,
            NewEntry::denied(action, "organisation", org_id),
            Error::Forbidden("only an administrator of this organisation may do this".into()),
        )
        .await
    }

    /// Organisation administrator: add a professional (new to the directory) as a member.
    pub async fn admin_add_member(
        &self,
        ctx: &Ctx,
        org_id: &str,
        input: AddMember,
    ) -> Result<Professional> {
        self.require_admin_of(ctx, org_id, "organisation.add_member")
            .await?;
        self.create_professional(
            ctx,
            input.professional,
            &[(org_id.to_string(), input.role.as_str())],
        )
        .await
    }

    /// Organisation administrator: create a team of the organisation.
    pub async fn admin_create_team(
        &self,
        ctx: &Ctx,
        org_id: &str,
        input: TeamInput,
    ) -> Result<Team> {
        self.require_admin_of(ctx, org_id, "organisation.create_team")
            .await?;
        self.create_team(ctx, input.in_organisation(org_id)).await
    }

    /// Organisation administrator: disable or re-enable a member of one of their
    /// organisations. Their tokens stop (or start) working on the very next request.
    pub async fn admin_set_active(
        &self,
        ctx: &Ctx,
        professional_id: &str,
        active: bool,
    ) -> Result<Professional> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        let theirs = repo::organisations_of(&mut tx, professional_id).await?;
        let mine = repo::admin_of(&mut tx, me).await?;
        if repo::get_professional_row(&mut tx, professional_id)
            .await?
            .is_none()
        {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        if !theirs.iter().any(|o| mine.contains(o)) || me == professional_id {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("professional.set_active", "professional", professional_id),
                    Error::Forbidden("only an administrator of their organisation may do this (and not on themselves)".into()),
                )
                .await;
        }
        tx.rollback().await?;
        self.set_professional_active(ctx, professional_id, active)
            .await?;
        self.get_professional(professional_id).await
    }

    /// The professional with this RPPS, if any (the RPPS is validated first).
    pub async fn search_by_rpps(&self, rpps: &str) -> Result<Option<Professional>> {
        let rpps = crate::identifiers::Rpps::parse(rpps)
            .map_err(|e| Error::invalid("rpps", e.to_string()))?;
        let mut tx = self.read().await?;
        let row = repo::find_by_rpps(&mut tx, rpps.as_str()).await?;
        let p = match row {
            Some(r) => Some(
                repo::get_professional(&mut tx, &r.id)
                    .await?
                    .ok_or(Error::NotFound)?,
            ),
            None => None,
        };
        tx.rollback().await?;
        Ok(p)
    }
}

/// What every team's member list must be: not empty, at least one case assigner, nobody
/// twice, only doctors and midwives (R2/R4: only they may be experts), and nobody newly
/// added whose account is disabled (`already`: the team's current members, who may stay).
pub(crate) async fn check_members(
    tx: &mut Tx,
    members: &[NewTeamMember],
    already: &[String],
    v: &mut Violations,
) -> Result<()> {
    if members.is_empty() {
        v.push("members", "a team needs at least one member");
    } else if !members.iter().any(|m| m.is_assigner) {
        v.push("members", "a team needs at least one case assigner");
    }
    let mut seen = std::collections::HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let field = format!("members[{i}].professional_id");
        if !seen.insert(m.professional_id.as_str()) {
            v.push(field, "listed twice");
            continue;
        }
        match repo::get_professional_row(tx, &m.professional_id).await? {
            None => v.push(field, "unknown professional"),
            Some(p) if !codes::may_be_expert(&p.profession) => {
                v.push(field, "only doctors and midwives may be experts (R4)")
            }
            Some(p) if !p.active && !already.contains(&p.id) => {
                v.push(field, "this professional's account is disabled")
            }
            Some(_) => {}
        }
    }
    Ok(())
}
