//! SQL of the job queue.

use super::model::{DEFAULT_MAX_ATTEMPTS, JobState};
use crate::db::{Db, Tx};
use crate::kernel::{Result, Timestamp, new_id};

/// A leased job, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub max_attempts: i64,
    pub due_at: Timestamp,
    /// Identifies this lease: completing or failing needs it, so a worker whose lease ran
    /// out (and whose job another worker took) cannot overwrite the newer run's outcome.
    pub lease_token: String,
}

/// A job row as listed for operators.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub due_at: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Options of a new job.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub due_at: Timestamp,
    /// At most one job ever exists with a given key (whatever its state): enqueueing the
    /// same key again does nothing. Timers use it so a retried use case never sets two.
    pub dedupe_key: Option<String>,
    pub max_attempts: Option<i64>,
}

impl<'a> NewJob<'a> {
    pub fn new(kind: &'a str, payload: serde_json::Value, due_at: Timestamp) -> Self {
        Self {
            kind,
            payload,
            due_at,
            dedupe_key: None,
            max_attempts: None,
        }
    }
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// Inserts a job in the caller's transaction: it exists only if the caller commits.
/// Returns false when a job with the same dedupe key already exists.
pub async fn insert(tx: &mut Tx, now: Timestamp, job: &NewJob<'_>) -> Result<bool> {
    let sql = "INSERT INTO jobs (id, kind, payload, state, due_at, attempts, max_attempts, dedupe_key, created_at, updated_at)
               VALUES ($1, $2, $3, 'pending', $4, 0, $5, $6, $7, $7)
               ON CONFLICT (dedupe_key) DO NOTHING";
    let payload = job.payload.to_string();
    let id = new_id();
    let n = crate::run!(tx, |c| sqlx::query(sql)
        .bind(&id)
        .bind(job.kind)
        .bind(&payload)
        .bind(job.due_at.micros())
        .bind(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
        .bind(&job.dedupe_key)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const DUE: &str =
    "(state = 'pending' AND due_at <= $1) OR (state = 'running' AND lease_until <= $1)";

/// True when some job is due at `now` (a read that takes no write lock: the idle worker
/// polls with it).
pub async fn any_due(db: &Db, now: Timestamp) -> Result<bool> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT id FROM jobs WHERE {DUE} LIMIT 1"));
    let row: Option<(String,)> = match db {
        Db::Sqlite(p) => {
            sqlx::query_as(sql)
                .bind(now.micros())
                .fetch_optional(p)
                .await?
        }
        Db::Postgres(p) => {
            sqlx::query_as(sql)
                .bind(now.micros())
                .fetch_optional(p)
                .await?
        }
    };
    Ok(row.is_some())
}

/// Leases up to `limit` due jobs until `lease_until`, oldest due first. On PostgreSQL rows
/// locked by another instance's claim are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite the
/// write transaction (`BEGIN IMMEDIATE`) serialises claims.
pub async fn claim(
    tx: &mut Tx,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> Result<Vec<Job>> {
    let token = new_id();
    let lock = match tx.backend() {
        crate::db::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::db::Backend::Sqlite => "",
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_token = $2,
                lease_until = $3, updated_at = $1
         WHERE id IN (SELECT id FROM jobs WHERE {DUE} ORDER BY due_at, id LIMIT $4{lock})
         RETURNING id, kind, payload, attempts, max_attempts, due_at"
    ));
    let rows: Vec<(String, String, String, i64, i64, i64)> = crate::run!(tx, |c| {
        sqlx::query_as(sql)
            .bind(now.micros())
            .bind(&token)
            .bind(lease_until.micros())
            .bind(limit)
            .fetch_all(c)
            .await
    })?;
    let mut jobs: Vec<Job> = rows
        .into_iter()
        .map(|(id, kind, payload, attempts, max_attempts, due_at)| Job {
            id,
            kind,
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            attempts,
            max_attempts,
            due_at: Timestamp(due_at),
            lease_token: token.clone(),
        })
        .collect();
    jobs.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    Ok(jobs)
}

/// Marks a leased job done. False when the lease was lost (the job ran too long and
/// another worker took it): the caller must then roll its own changes back.
pub async fn complete(tx: &mut Tx, now: Timestamp, job: &Job) -> Result<bool> {
    let sql = "UPDATE jobs SET state = 'done', lease_token = NULL, lease_until = NULL,
                      last_error = NULL, updated_at = $3
               WHERE id = $1 AND lease_token = $2 AND state = 'running'";
    let n = crate::run!(tx, |c| sqlx::query(sql)
        .bind(&job.id)
        .bind(&job.lease_token)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records a failed run: due again at `retry_at`, or dead when `retry_at` is None.
pub async fn fail(
    tx: &mut Tx,
    now: Timestamp,
    job: &Job,
    retry_at: Option<Timestamp>,
    error: &str,
) -> Result<bool> {
    let (state, due) = match retry_at {
        Some(t) => (JobState::Pending, t.micros()),
        None => (JobState::Dead, job.due_at.micros()),
    };
    let sql = "UPDATE jobs SET state = $3, due_at = $4, last_error = $5, lease_token = NULL,
                      lease_until = NULL, updated_at = $6
               WHERE id = $1 AND lease_token = $2 AND state = 'running'";
    let error: String = error.chars().take(2000).collect();
    let n = crate::run!(tx, |c| sqlx::query(sql)
        .bind(&job.id)
        .bind(&job.lease_token)
        .bind(state.as_str())
        .bind(due)
        .bind(&error)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Jobs in a state, most recently changed first.
pub async fn list(tx: &mut Tx, state: Option<JobState>, limit: i64) -> Result<Vec<JobRow>> {
    let sql = "SELECT id, kind, payload, state, due_at, attempts, max_attempts, last_error,
                      dedupe_key, created_at, updated_at
               FROM jobs WHERE (CAST($1 AS TEXT) IS NULL OR state = $1)
               ORDER BY updated_at DESC, id LIMIT $2";
    let state = state.map(JobState::as_str);
    Ok(crate::run!(tx, |c| sqlx::query_as(sql)
        .bind(state)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

/// Deletes up to `limit` done jobs last changed before `before`, oldest first; returns how
/// many. Their dedupe keys go with them: the retention must outlive every cause that could
/// enqueue the same key again (see `jobs::MIN_DONE_RETENTION_DAYS`).
pub async fn purge_done(tx: &mut Tx, before: Timestamp, limit: i64) -> Result<u64> {
    let sql = "DELETE FROM jobs WHERE id IN
                 (SELECT id FROM jobs WHERE state = 'done' AND updated_at < $1
                  ORDER BY updated_at LIMIT $2)";
    Ok(crate::run!(tx, |c| sqlx::query(sql)
        .bind(before.micros())
        .bind(limit)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Puts a dead job back in the queue, due at `now`, with its attempts reset.
pub async fn retry_dead(tx: &mut Tx, now: Timestamp, id: &str) -> Result<bool> {
    let sql = "UPDATE jobs SET state = 'pending', attempts = 0, due_at = $2, updated_at = $2
               WHERE id = $1 AND state = 'dead'";
    let n = crate::run!(tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(now.micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
