//! The job queue, in the database: work that follows a commit (mail, timers, routing steps).
//!
//! - A use case calls [`enqueue`] inside its own transaction: the job exists only if the
//!   change that causes it commits.
//! - A timer is a job due at an instant computed from the injected clock.
//! - A worker leases due jobs ([`run_due_jobs`]): `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//!   several instances share the queue without leader; the write transaction on SQLite. A
//!   lease that runs out (the worker died) makes the job due again.
//! - A handler is looked up by the job's kind in the [`Registry`]. Delivery is at least
//!   once, so handlers are idempotent; a handler whose effects are in the database marks the
//!   job done in its own transaction ([`Job::complete`]) and so runs them exactly once.
//! - A failed run is retried with exponential backoff ([`model::backoff_seconds`]); after the
//!   last attempt, or on a [`JobError::Permanent`], the job is `dead` and waits for an
//!   operator (`consilium jobs list --dead`, `consilium jobs retry ID`).
//! - The server runs [`worker`]: it polls every `jobs_poll_ms` and is woken at once by an
//!   enqueue in the same process. Tests drive the queue themselves with [`run_due_jobs`]
//!   and a `ManualClock`.

pub mod model;
pub mod operations;
pub mod repo;

pub use model::JobState;
pub use repo::{Job, JobRow, NewJob};

use crate::db::Tx;
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::Platform;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a claimed job is reserved for its worker.
pub const DEFAULT_LEASE_SECONDS: i64 = 300;

/// Done jobs are deleted this many days after they completed (`jobs_done_retention_days`).
pub const DEFAULT_DONE_RETENTION_DAYS: i64 = 30;
/// The shortest retention allowed. A done job's dedupe key is what stops the same timer or
/// mail being queued twice; every cause that could queue a key again lives less than this
/// (a case's R9 timers end at D+7; the other keys are unique ids or past instants).
pub const MIN_DONE_RETENTION_DAYS: i64 = 8;
/// How often the worker purges done jobs, in seconds of the platform's clock.
const PURGE_EVERY_SECONDS: i64 = 3600;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth retrying later (network, database busy, SMTP refused for now).
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (malformed payload, unknown kind): dead at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(_) | Error::NotFound | Error::Forbidden(_) => {
                JobError::Permanent(e.to_string())
            }
            _ => JobError::Retry(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
pub type Handler = Arc<dyn Fn(Platform, Job) -> JobFuture + Send + Sync>;

/// Handlers by job kind. Each domain registers its kinds in [`Registry::with_builtin`].
#[derive(Clone, Default)]
pub struct Registry(Arc<RwLock<HashMap<String, Handler>>>);

impl Registry {
    /// The handlers of every job kind the platform enqueues.
    pub fn with_builtin() -> Self {
        let r = Registry::default();
        crate::mail::register_jobs(&r);
        crate::notifications::register_jobs(&r);
        crate::routing::register_jobs(&r);
        crate::routing::assign::register_jobs(&r);
        crate::reports::service::register_jobs(&r);
        crate::webhooks::register_jobs(&r);
        r
    }

    pub fn register<F, Fut>(&self, kind: &str, f: F)
    where
        F: Fn(Platform, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let h: Handler = Arc::new(move |p, j| Box::pin(f(p, j)));
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.to_string(), h);
    }

    fn get(&self, kind: &str) -> Option<Handler> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .cloned()
    }
}

/// Wakes this process's worker when a job is enqueued.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Enqueues a job in the caller's transaction. Returns false when a job with the same
/// dedupe key already exists (nothing is added).
pub async fn enqueue(tx: &mut Tx, now: Timestamp, job: NewJob<'_>) -> Result<bool> {
    let added = repo::insert(tx, now, &job).await?;
    if added && job.due_at <= now {
        WAKE.notify_one();
    }
    Ok(added)
}

impl Job {
    /// Marks this job done inside the handler's transaction, so the handler's changes and
    /// the completion commit together. Fails (and the handler must not commit) when the
    /// lease was lost to another worker.
    pub async fn complete(&self, tx: &mut Tx, now: Timestamp) -> Result<(), JobError> {
        if repo::complete(tx, now, self).await? {
            Ok(())
        } else {
            Err(JobError::Retry("lease lost to another worker".into()))
        }
    }

    /// The payload, parsed; a malformed payload is a permanent failure.
    pub fn payload<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| JobError::Permanent(format!("bad payload for {}: {e}", self.kind)))
    }
}

/// What one pass of [`run_due_jobs`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: usize,
    pub done: usize,
    pub retried: usize,
    pub dead: usize,
}

/// Leases up to `limit` jobs due at the platform's `now` and runs them one after the other.
pub async fn run_batch(platform: &Platform, limit: i64) -> Result<RunReport> {
    let now = platform.now();
    let lease_until = now.plus_seconds(platform.jobs_lease_seconds);
    let mut tx = platform.db.begin().await?;
    let jobs = repo::claim(&mut tx, now, lease_until, limit).await?;
    tx.commit().await?;
    let mut report = RunReport {
        claimed: jobs.len(),
        ..RunReport::default()
    };
    for job in jobs {
        let outcome = if job.attempts > job.max_attempts {
            // A job whose runs keep dying with their worker (lease ran out each time).
            Err(JobError::Permanent(
                "attempts exhausted (lease expired)".into(),
            ))
        } else {
            match platform.jobs.get(&job.kind) {
                Some(h) => h(platform.clone(), job.clone()).await,
                None => Err(JobError::Permanent(format!(
                    "no handler for job kind '{}'",
                    job.kind
                ))),
            }
        };
        let now = platform.now();
        let mut tx = platform.db.begin().await?;
        match outcome {
            Ok(()) => {
                // Already done if the handler completed it in its own transaction.
                repo::complete(&mut tx, now, &job).await?;
                report.done += 1;
            }
            Err(e) => {
                let permanent = matches!(e, JobError::Permanent(_));
                let next = model::after_failure(now, job.attempts, job.max_attempts, permanent);
                let retry_at = match next {
                    model::AfterFailure::RetryAt(t) => {
                        report.retried += 1;
                        Some(t)
                    }
                    model::AfterFailure::Dead => {
                        report.dead += 1;
                        None
                    }
                };
                tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e,
                    dead = retry_at.is_none(), "job failed");
                repo::fail(&mut tx, now, &job, retry_at, &e.to_string()).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}

/// Runs every job due at the platform's clock's `now`, including the ones those jobs
/// enqueue due now, until none is left. Tests call it after moving a `ManualClock`.
pub async fn run_due_jobs(platform: &Platform) -> Result<RunReport> {
    let mut total = RunReport::default();
    loop {
        let r = run_batch(platform, 32).await?;
        total.claimed += r.claimed;
        total.done += r.done;
        total.retried += r.retried;
        total.dead += r.dead;
        if r.claimed == 0 {
            return Ok(total);
        }
    }
}

/// Deletes the done jobs older than the platform's retention (at least
/// [`MIN_DONE_RETENTION_DAYS`]), in batches of 1,000, each its own short transaction (on
/// SQLite the writers' queue is never held long). Returns how many were deleted. Pending,
/// running and dead jobs are never purged (dead ones wait for an operator).
pub async fn purge_done(platform: &Platform) -> Result<u64> {
    const BATCH: i64 = 1000;
    let days = platform
        .jobs_done_retention_days
        .max(MIN_DONE_RETENTION_DAYS);
    let before = platform.now().plus_days(-days);
    let mut total = 0;
    loop {
        let mut tx = platform.db.begin().await?;
        let n = repo::purge_done(&mut tx, before, BATCH).await?;
        tx.commit().await?;
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The server's worker: runs due jobs, then sleeps until the next poll or an enqueue in
/// this process, until `stop` changes. Once an hour (and when it starts) it purges done
/// jobs past their retention ([`purge_done`]).
pub async fn worker(
    platform: Platform,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const BATCH: i64 = 32;
    let mut next_purge = Timestamp(i64::MIN);
    loop {
        if *stop.borrow() {
            return;
        }
        let now = platform.now();
        if now >= next_purge {
            next_purge = now.plus_seconds(PURGE_EVERY_SECONDS);
            match purge_done(&platform).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "job queue: done jobs purged"),
                Err(e) => tracing::warn!(error = %e, "job queue: purge failed"),
            }
        }
        let mut busy = false;
        match repo::any_due(&platform.db, platform.now()).await {
            Ok(true) => match run_batch(&platform, BATCH).await {
                Ok(r) => busy = r.claimed as i64 == BATCH,
                Err(e) => tracing::warn!(error = %e, "job worker: claim failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "job worker: poll failed"),
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = WAKE.notified() => {
                // The enqueue happened inside a transaction that commits just after.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
