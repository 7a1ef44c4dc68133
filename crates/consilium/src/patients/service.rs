//! Patient use cases. A patient is visible to the professional who recorded them and to
//! anyone who may see one of their cases; everyone else gets "not found" (audited). Someone
//! who sees them only in the pool of a team that hides identities there gets a preview.

use super::model::{Patient, PatientInput, PatientView};
use super::repo;
use crate::audit::{self, NewEntry};
use crate::directory::repo as dir;
use crate::idempotency;
use crate::kernel::{Error, Result, new_id};
use crate::platform::{Ctx, Platform};

/// The médecin traitant, when given, must be a doctor of the directory.
async fn check_medecin_traitant(tx: &mut crate::db::Tx, id: Option<&str>) -> Result<()> {
    let Some(id) = id else { return Ok(()) };
    match dir::get_professional_row(tx, id).await? {
        Some(p) if p.profession == "10" => Ok(()),
        Some(_) => Err(Error::invalid(
            "medecin_traitant_id",
            "the médecin traitant must be a doctor",
        )),
        None => Err(Error::invalid(
            "medecin_traitant_id",
            "unknown professional",
        )),
    }
}

impl Platform {
    pub async fn create_patient(&self, ctx: &Ctx, input: PatientInput) -> Result<Patient> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let valid = input.validate(now)?;
        let mut tx = self.db.begin().await?;
        if let Some(prev) = idempotency::replay(&mut tx, ctx).await? {
            tx.rollback().await?;
            return Ok(prev);
        }
        check_medecin_traitant(&mut tx, valid.medecin_traitant_id.as_deref()).await?;
        let id = new_id();
        repo::insert(&mut tx, &id, &me, &valid, now).await?;
        let p = repo::get(&mut tx, &id).await?.ok_or(Error::NotFound)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("patient.create", "patient", &id)],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 201, &p, now).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_patient(
        &self,
        ctx: &Ctx,
        id: &str,
        input: PatientInput,
    ) -> Result<Patient> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let existing = repo::get(&mut tx, id).await?;
        match existing {
            Some(p) if p.created_by == me => {}
            _ => {
                return self
                    .deny(
                        tx,
                        ctx,
                        NewEntry::denied("patient.update", "patient", id),
                        Error::NotFound,
                    )
                    .await;
            }
        }
        let valid = input.validate(now)?;
        check_medecin_traitant(&mut tx, valid.medecin_traitant_id.as_deref()).await?;
        repo::update(&mut tx, id, &valid, now).await?;
        let p = repo::get(&mut tx, id).await?.ok_or(Error::NotFound)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("patient.update", "patient", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(p)
    }

    /// A patient: the full identity for whoever recorded them or may see it on one of their
    /// cases; a preview (no identity) for someone who sees them only in the pool of a team
    /// that hides identities there; "not found" for everyone else.
    pub async fn get_patient(&self, ctx: &Ctx, id: &str) -> Result<PatientView> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let p = repo::get(&mut tx, id).await?;
        let access = match &p {
            Some(p) if p.created_by == me => Some(true),
            Some(_) => repo::case_access(&mut tx, id, &me).await?,
            None => None,
        };
        match (p, access) {
            (Some(p), Some(identified)) => {
                audit::append(
                    &mut tx,
                    self.now(),
                    &ctx.actor,
                    &[NewEntry::success("patient.read", "patient", id)
                        .with(serde_json::json!({ "identity": identified }))],
                )
                .await?;
                tx.commit().await?;
                Ok(p.view(identified, self.now()))
            }
            _ => {
                self.deny(
                    tx,
                    ctx,
                    NewEntry::denied("patient.read", "patient", id),
                    Error::NotFound,
                )
                .await
            }
        }
    }

    pub async fn list_my_patients(
        &self,
        ctx: &Ctx,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Patient>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let list = repo::list_by_creator(&mut tx, &me, after, limit).await?;
        let ids: Vec<&str> = list.iter().map(|p| p.id.as_str()).collect();
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("patient.list", "patient", "*")
                .with(serde_json::json!({ "ids": ids }))],
        )
        .await?;
        tx.commit().await?;
        Ok(list)
    }
}
