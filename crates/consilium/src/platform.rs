//! The core the transports call: the database, the clock and the use cases (one module per
//! domain adds its `impl Platform` block in its `service.rs`).

use crate::audit::{self, NewEntry};
use crate::db::{Db, Tx};
use crate::kernel::{Actor, Clock, Error, Result, Timestamp};
use std::sync::Arc;

#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Handlers of the job queue, by kind.
    pub jobs: crate::jobs::Registry,
    /// How long a worker keeps a claimed job before another may take it.
    pub jobs_lease_seconds: i64,
}

/// Per-request context: who acts, and the idempotency key of a retried POST.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub idempotency: Option<IdempotencyKey>,
}

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    /// Hash of method, path and body: a key reused for another request is an error.
    pub fingerprint: String,
}

impl Ctx {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            idempotency: None,
        }
    }
    pub fn system(name: &'static str) -> Self {
        Self::new(Actor::System(name))
    }
    pub fn with_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency = Some(key);
        self
    }
}

impl Platform {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            jobs: crate::jobs::Registry::with_builtin(),
            jobs_lease_seconds: crate::jobs::DEFAULT_LEASE_SECONDS,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Records a denied access in its own committed transaction and answers "not found"
    /// (or `err`): denials are audited even though the request changes nothing.
    pub async fn deny<T>(&self, tx: Tx, ctx: &Ctx, entry: NewEntry, err: Error) -> Result<T> {
        let mut tx = tx;
        audit::append(&mut tx, self.now(), &ctx.actor, &[entry]).await?;
        tx.commit().await?;
        Err(err)
    }
}
