//! Unread messages: when each person last opened a case, and the messages from others
//! since then, counted for the cases a list shows.

use super::repo::{self, TabCounts};
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::{Ctx, Platform};
use crate::run;
use std::collections::HashMap;

impl Platform {
    /// Records that the caller has just seen a case (its page was shown to them, after the
    /// audited read that checked they may see it).
    pub async fn mark_case_seen(&self, ctx: &Ctx, case_id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now().micros();
        let mut tx = self.db.begin().await?;
        run!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO case_reads (case_id, professional_id, last_read_at) VALUES ($1, $2, $3)
             ON CONFLICT (case_id, professional_id) DO UPDATE SET last_read_at = excluded.last_read_at"
        )
        .bind(case_id)
        .bind(&me)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages written by others since the caller last opened each case, for the open
    /// cases they requested or hold (counts only: no content, so not an audited read).
    pub async fn unread_messages(&self, ctx: &Ctx) -> Result<HashMap<String, i64>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.read().await?;
        let unread = unread_in(&mut tx, &me).await?;
        tx.rollback().await?;
        Ok(unread)
    }

    /// How many cases each list of the web inbox holds for the caller (`due_before`: the
    /// end of the "due soon" window), and the unread messages of their cases, in one read
    /// transaction. Counts only: not an audited read.
    pub async fn inbox_counts(
        &self,
        ctx: &Ctx,
        due_before: Timestamp,
    ) -> Result<(TabCounts, HashMap<String, i64>)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.read().await?;
        let counts = repo::tab_counts(&mut tx, &me, due_before.micros()).await?;
        let unread = unread_in(&mut tx, &me).await?;
        tx.rollback().await?;
        Ok((counts, unread))
    }
}

/// The unread-message counts of `me`'s open cases, in the caller's transaction.
async fn unread_in(tx: &mut crate::db::Tx, me: &str) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = run!(tx, |c| {
        sqlx::query_as(
            // The viewer's cases through two indexes (requester, expert), not an `OR` that
            // SQLite answers by reading every open case.
            "SELECT m.case_id, COUNT(*) FROM (
             SELECT id FROM cases WHERE requester_id = $1
               AND state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info', 'answered')
             UNION
             SELECT id FROM cases WHERE assigned_expert_id = $1
               AND state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info', 'answered')
         ) k
         JOIN case_messages m ON m.case_id = k.id
         LEFT JOIN case_reads r ON r.case_id = m.case_id AND r.professional_id = $1
         WHERE m.author_id <> $1
           AND m.at > COALESCE(r.last_read_at, 0)
         GROUP BY m.case_id",
        )
        .bind(me)
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().collect())
}
