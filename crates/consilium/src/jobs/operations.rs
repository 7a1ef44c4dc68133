//! The job queue for the platform's operators (`operators` in the configuration, by RPPS):
//! list jobs (dead ones by default) and put a dead job back in the queue, over the API.
//! Anyone else is refused (403, audited). The CLI (`jobs list`, `jobs retry`) does the same
//! for whoever holds the database.

use super::model::JobState;
use super::repo::{self, JobRow};
use crate::audit::{self, NewEntry};
use crate::directory::repo as dir;
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::{Ctx, Platform};
use serde::Serialize;
use utoipa::ToSchema;

/// A job as operators see it. Payloads name cases and recipients, never patient data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub state: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub due_at: Timestamp,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<JobRow> for JobView {
    fn from(j: JobRow) -> Self {
        JobView {
            payload: serde_json::from_str(&j.payload).unwrap_or(serde_json::Value::Null),
            id: j.id,
            kind: j.kind,
            state: j.state,
            due_at: Timestamp(j.due_at),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            created_at: Timestamp(j.created_at),
            updated_at: Timestamp(j.updated_at),
        }
    }
}

impl Platform {
    /// Begins an operator's request; anyone else: 403, audited (against the job, or the
    /// caller for a list).
    async fn operator(
        &self,
        ctx: &Ctx,
        operators: &[String],
        action: &str,
        object: Option<(&'static str, &str)>,
    ) -> Result<crate::db::Tx> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let rpps = dir::get_professional_row(&mut tx, &me)
            .await?
            .and_then(|p| p.rpps);
        if rpps.is_some_and(|r| operators.iter().any(|o| o.trim() == r)) {
            return Ok(tx);
        }
        self.deny(
            tx,
            ctx,
            match object {
                Some((kind, id)) => NewEntry::denied(action, kind, id),
                None => NewEntry::denied(action, "professional", &me),
            },
            Error::Forbidden("only the platform's operators may do this".into()),
        )
        .await
    }

    /// Jobs in `state` (default dead), most recently changed first.
    pub async fn list_jobs(
        &self,
        ctx: &Ctx,
        operators: &[String],
        state: Option<JobState>,
        limit: i64,
    ) -> Result<Vec<JobView>> {
        let mut tx = self.operator(ctx, operators, "jobs.list", None).await?;
        let state = state.unwrap_or(JobState::Dead);
        let rows = repo::list(&mut tx, Some(state), limit).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("jobs.list", "jobs", state.as_str())
                .with(serde_json::json!({"count": rows.len()}))],
        )
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(JobView::from).collect())
    }

    /// Puts a dead job back in the queue, due now, attempts reset (unknown: 404; not
    /// dead: 409).
    pub async fn retry_job(&self, ctx: &Ctx, operators: &[String], id: &str) -> Result<JobView> {
        let mut tx = self
            .operator(ctx, operators, "jobs.retry", Some(("job", id)))
            .await?;
        let now = self.now();
        if !repo::retry_dead(&mut tx, now, id).await? {
            let state: Option<String> = crate::run!(&mut tx, |c| sqlx::query_scalar(
                "SELECT state FROM jobs WHERE id = $1"
            )
            .bind(id)
            .fetch_optional(c)
            .await)?;
            tx.rollback().await?;
            return Err(match state {
                None => Error::NotFound,
                Some(s) => Error::conflict("only a dead job can be retried", Some(s)),
            });
        }
        let row: JobRow = crate::run!(&mut tx, |c| sqlx::query_as(
            "SELECT id, kind, payload, state, due_at, attempts, max_attempts, last_error,
                    dedupe_key, created_at, updated_at FROM jobs WHERE id = $1"
        )
        .bind(id)
        .fetch_one(c)
        .await)?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("jobs.retry", "job", id)
                .with(serde_json::json!({"kind": row.kind}))],
        )
        .await?;
        tx.commit().await?;
        Ok(row.into())
    }
}
