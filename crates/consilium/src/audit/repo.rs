//! Appending to and reading the audit chain.

use super::model::{Break, Checkpoint, NewEntry, StoredEntry, Verifier, VerifyReport, chain};
use crate::db::{Db, Tx};
use crate::kernel::{Actor, Result, Timestamp};
use crate::run;
use futures_util::TryStreamExt;

/// Appends entries to the chain inside the caller's transaction. Call it last, just before
/// commit: on PostgreSQL it locks the chain head until the transaction ends.
pub async fn append(tx: &mut Tx, at: Timestamp, actor: &Actor, entries: &[NewEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let (seq, hash): (i64, String) = match tx {
        Tx::Sqlite(t) => {
            // BEGIN IMMEDIATE already holds the database write lock.
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut **t)
                .await?
        }
    };
    let label = actor.label();
    let rows = chain(seq, &hash, at, actor.id(), &label, entries);
    for r in &rows {
        run!(tx, |c| {
            sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_id, actor_label, action, object_type, object_id, outcome, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
        .bind(r.seq)
        .bind(r.at)
        .bind(&r.actor_id)
        .bind(&r.actor_label)
        .bind(&r.action)
        .bind(&r.object_type)
        .bind(&r.object_id)
        .bind(&r.outcome)
        .bind(&r.details)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    if let Some(last) = rows.last() {
        run!(tx, |c| sqlx::query(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"
        )
        .bind(last.seq)
        .bind(&last.hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

const SELECT_ALL: &str = "SELECT seq, at, actor_id, actor_label, action, object_type, object_id, outcome, details, prev_hash, hash FROM audit_log ORDER BY seq";

/// Verifies the whole chain, streaming it in sequence order. `Ok(Err(b))` is a broken chain;
/// `Err` is a database failure.
pub async fn verify(db: &Db) -> Result<std::result::Result<VerifyReport, Break>> {
    verify_against(db, &[]).await
}

/// Verifies the chain and that it contains every exported checkpoint: this is what catches
/// a chain rewritten together with its head, or an older copy of the database restored.
pub async fn verify_against(
    db: &Db,
    checkpoints: &[Checkpoint],
) -> Result<std::result::Result<VerifyReport, Break>> {
    let mut v = Verifier::with_checkpoints(checkpoints);
    // One consistent snapshot, so a server appending meanwhile cannot cause a false alarm.
    macro_rules! walk {
        ($tx:expr) => {{
            let mut tx = $tx;
            let (head_seq, head_hash): (i64, String) =
                sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            {
                let mut rows = sqlx::query_as::<_, StoredEntry>(SELECT_ALL).fetch(&mut *tx);
                while let Some(row) = rows.try_next().await? {
                    if let Err(b) = v.feed(&row) {
                        return Ok(Err(b));
                    }
                }
            }
            tx.rollback().await?;
            Ok(v.finish(head_seq, &head_hash))
        }};
    }
    match db {
        Db::Sqlite(p) => walk!(p.begin().await?),
        Db::Postgres(p) => {
            walk!(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            )
        }
    }
}
