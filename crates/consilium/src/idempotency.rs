//! `Idempotency-Key` support: the first answer to a keyed request is stored in the same
//! transaction as its effects, and a retry gets that answer back instead of a second object.

use crate::db::{Tx, is_unique_violation};
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::Ctx;
use crate::run;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// If this keyed request was already answered, the stored answer.
pub async fn replay<T: DeserializeOwned>(tx: &mut Tx, ctx: &Ctx) -> Result<Option<T>> {
    let (Some(k), Some(actor)) = (&ctx.idempotency, ctx.actor.id()) else {
        return Ok(None);
    };
    let row: Option<(String, String)> = run!(tx, |c| sqlx::query_as(
        "SELECT fingerprint, body FROM idempotency_keys WHERE actor_id = $1 AND idem_key = $2"
    )
    .bind(actor)
    .bind(&k.key)
    .fetch_optional(c)
    .await)?;
    match row {
        None => Ok(None),
        Some((fp, _)) if fp != k.fingerprint => Err(Error::IdempotencyMismatch),
        Some((_, body)) => serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| Error::internal(format!("stored idempotent answer unreadable: {e}"))),
    }
}

/// Whether `actor` already has an answer stored under `key` (whatever its fingerprint).
/// For streamed requests, whose fingerprint is known only once the body has been read.
pub async fn is_recorded(tx: &mut Tx, actor: &str, key: &str) -> Result<bool> {
    let n: i64 = run!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM idempotency_keys WHERE actor_id = $1 AND idem_key = $2"
    )
    .bind(actor)
    .bind(key)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

/// Stores the answer of a keyed request, in the transaction that made its effects.
/// A concurrent twin that committed first makes this fail with `Conflict`; the caller's
/// transaction then rolls back and a retry replays the twin's answer.
pub async fn record<T: Serialize>(
    tx: &mut Tx,
    ctx: &Ctx,
    status: u16,
    body: &T,
    now: Timestamp,
) -> Result<()> {
    let (Some(k), Some(actor)) = (&ctx.idempotency, ctx.actor.id()) else {
        return Ok(());
    };
    let body = serde_json::to_string(body).map_err(Error::internal)?;
    let r = run!(tx, |c| {
        sqlx::query(
        "INSERT INTO idempotency_keys (actor_id, idem_key, fingerprint, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(actor)
    .bind(&k.key)
    .bind(&k.fingerprint)
    .bind(i32::from(status))
    .bind(body)
    .bind(now.micros())
    .execute(c).await.map(|r| r.rows_affected())
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(Error::conflict(
            "a request with the same Idempotency-Key is being processed; retry it",
            None,
        )),
        Err(e) => Err(e.into()),
    }
}
