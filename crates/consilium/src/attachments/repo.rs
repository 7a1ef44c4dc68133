//! Attachment and case-key SQL (both backends).

use crate::db::Tx;
use crate::kernel::Result;
use crate::run;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: String,
    pub case_id: String,
    pub uploaded_by: String,
    pub uploaded_at: i64,
    pub display_name: String,
    pub kind: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_size: i64,
    pub uploaded_sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub wrapped_key: String,
    pub blob_key: String,
    pub thumb_blob_key: Option<String>,
    pub thumb_size: Option<i64>,
    pub original_blob_key: Option<String>,
    pub notes: String,
}

const COLS: &str = "id, case_id, uploaded_by, uploaded_at, display_name, kind, media_type, size, sha256, \
    uploaded_size, uploaded_sha256, width, height, wrapped_key, blob_key, thumb_blob_key, thumb_size, \
    original_blob_key, notes";

pub async fn insert(tx: &mut Tx, r: &AttachmentRow) -> Result<()> {
    let sql = format!(
        "INSERT INTO attachments ({COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
    );
    run!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&r.id)
        .bind(&r.case_id)
        .bind(&r.uploaded_by)
        .bind(r.uploaded_at)
        .bind(&r.display_name)
        .bind(&r.kind)
        .bind(&r.media_type)
        .bind(r.size)
        .bind(&r.sha256)
        .bind(r.uploaded_size)
        .bind(&r.uploaded_sha256)
        .bind(r.width)
        .bind(r.height)
        .bind(&r.wrapped_key)
        .bind(&r.blob_key)
        .bind(&r.thumb_blob_key)
        .bind(r.thumb_size)
        .bind(&r.original_blob_key)
        .bind(&r.notes)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn list(tx: &mut Tx, case_id: &str) -> Result<Vec<AttachmentRow>> {
    let sql = format!("SELECT {COLS} FROM attachments WHERE case_id = $1 ORDER BY uploaded_at, id");
    Ok(run!(tx, |c| sqlx::query_as::<_, AttachmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(case_id)
    .fetch_all(c)
    .await)?)
}

pub async fn get(tx: &mut Tx, case_id: &str, id: &str) -> Result<Option<AttachmentRow>> {
    let sql = format!("SELECT {COLS} FROM attachments WHERE case_id = $1 AND id = $2");
    Ok(run!(tx, |c| sqlx::query_as::<_, AttachmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(case_id)
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Bytes uploaded to a case so far (what the per-case limit counts).
pub async fn used_bytes(tx: &mut Tx, case_id: &str) -> Result<i64> {
    let (n,): (i64,) = run!(tx, |c| {
        sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(uploaded_size), 0) AS BIGINT) FROM attachments WHERE case_id = $1"
    )
    .bind(case_id)
    .fetch_one(c)
    .await
    })?;
    Ok(n)
}

/// Every blob key the database references (main, thumbnail, original).
pub async fn all_blob_keys(tx: &mut Tx) -> Result<Vec<(String, Option<String>, Option<String>)>> {
    Ok(run!(tx, |c| sqlx::query_as(
        "SELECT blob_key, thumb_blob_key, original_blob_key FROM attachments"
    )
    .fetch_all(c)
    .await)?)
}

pub async fn all(tx: &mut Tx) -> Result<Vec<AttachmentRow>> {
    let sql = format!("SELECT {COLS} FROM attachments ORDER BY id");
    Ok(run!(tx, |c| sqlx::query_as::<_, AttachmentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .fetch_all(c)
    .await)?)
}

// ---------- case keys ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseKeyRow {
    pub case_id: String,
    pub kek_id: Option<String>,
    pub wrapped: Option<String>,
    pub created_at: i64,
    pub destroyed_at: Option<i64>,
}

pub async fn case_key(tx: &mut Tx, case_id: &str) -> Result<Option<CaseKeyRow>> {
    Ok(run!(tx, |c| {
        sqlx::query_as::<_, CaseKeyRow>(
        "SELECT case_id, kek_id, wrapped, created_at, destroyed_at FROM case_keys WHERE case_id = $1"
    )
    .bind(case_id)
    .fetch_optional(c)
    .await
    })?)
}

pub async fn insert_case_key(
    tx: &mut Tx,
    case_id: &str,
    kek_id: &str,
    wrapped: &str,
    at: i64,
) -> Result<bool> {
    // Two first uploads to a case race to create its key: one wins, the other reads it.
    let n = run!(tx, |c| sqlx::query(
        "INSERT INTO case_keys (case_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (case_id) DO NOTHING"
    )
    .bind(case_id)
    .bind(kek_id)
    .bind(wrapped)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Case keys wrapped by another KEK than `current`, a batch at a time.
pub async fn keys_to_rewrap(tx: &mut Tx, current: &str, limit: i64) -> Result<Vec<CaseKeyRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, CaseKeyRow>(
        "SELECT case_id, kek_id, wrapped, created_at, destroyed_at FROM case_keys
         WHERE wrapped IS NOT NULL AND kek_id <> $1 ORDER BY case_id LIMIT $2"
    )
    .bind(current)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// Replaces a wrapped case key, only if it is still wrapped by `old_kek` (a concurrent
/// rotation or purge wins).
pub async fn rewrap(
    tx: &mut Tx,
    case_id: &str,
    old_kek: &str,
    new_kek: &str,
    wrapped: &str,
) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE case_keys SET kek_id = $3, wrapped = $4
         WHERE case_id = $1 AND kek_id = $2 AND wrapped IS NOT NULL"
    )
    .bind(case_id)
    .bind(old_kek)
    .bind(new_kek)
    .bind(wrapped)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// How many live case keys each KEK wraps.
pub async fn keys_by_kek(tx: &mut Tx) -> Result<Vec<(String, i64)>> {
    Ok(run!(tx, |c| {
        sqlx::query_as(
        "SELECT kek_id, COUNT(*) FROM case_keys WHERE wrapped IS NOT NULL GROUP BY kek_id ORDER BY kek_id"
    )
    .fetch_all(c)
    .await
    })?)
}

/// Crypto-shredding: forgets the case key for good.
pub async fn destroy_case_key(tx: &mut Tx, case_id: &str, at: i64) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE case_keys SET wrapped = NULL, kek_id = NULL, destroyed_at = $2
         WHERE case_id = $1 AND wrapped IS NOT NULL"
    )
    .bind(case_id)
    .bind(at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
