//! SQL of report versions and their deliveries (both backends).

use crate::db::Tx;
use crate::kernel::{Result, Timestamp};
use crate::run;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: String,
    pub case_id: String,
    pub version: i64,
    pub previous_id: Option<String>,
    pub state: String,
    pub author_id: String,
    pub content: String,
    pub created_at: i64,
    pub signed_at: Option<i64>,
    pub signed_by: Option<String>,
    pub pdf_sha256: Option<String>,
}

const COLS: &str = "id, case_id, version, previous_id, state, author_id, content, created_at, signed_at, signed_by, pdf_sha256";

pub async fn insert_draft(tx: &mut Tx, r: &ReportRow) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO reports (id, case_id, version, previous_id, state, author_id, content, created_at)
         VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7)"
    )
    .bind(&r.id)
    .bind(&r.case_id)
    .bind(r.version)
    .bind(&r.previous_id)
    .bind(&r.author_id)
    .bind(&r.content)
    .bind(r.created_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Every version of a case's report, oldest first.
pub async fn versions(tx: &mut Tx, case_id: &str) -> Result<Vec<ReportRow>> {
    let sql = format!("SELECT {COLS} FROM reports WHERE case_id = $1 ORDER BY version");
    Ok(run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(case_id)
    .fetch_all(c)
    .await)?)
}

pub async fn get(tx: &mut Tx, id: &str) -> Result<Option<ReportRow>> {
    let sql = format!("SELECT {COLS} FROM reports WHERE id = $1");
    Ok(run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Rewrites a draft's content (never a signed version: the WHERE and a trigger refuse it).
pub async fn rewrite_draft(tx: &mut Tx, id: &str, content: &str, now: Timestamp) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE reports SET content = $2, created_at = $3 WHERE id = $1 AND state = 'draft'"
    )
    .bind(id)
    .bind(content)
    .bind(now.micros())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Freezes a draft whose content is still `content` (what was rendered). False when the
/// draft was signed or rewritten meanwhile.
pub async fn sign(
    tx: &mut Tx,
    id: &str,
    content: &str,
    signed_by: &str,
    at: Timestamp,
    pdf: &[u8],
    sha256: &str,
) -> Result<bool> {
    let n = run!(tx, |c| {
        sqlx::query(
        "UPDATE reports SET state = 'signed', signed_at = $3, signed_by = $4, pdf = $5, pdf_sha256 = $6
         WHERE id = $1 AND state = 'draft' AND content = $2"
    )
    .bind(id)
    .bind(content)
    .bind(at.micros())
    .bind(signed_by)
    .bind(pdf)
    .bind(sha256)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

pub async fn pdf(tx: &mut Tx, id: &str) -> Result<Option<Vec<u8>>> {
    let r: Option<(Option<Vec<u8>>,)> = run!(tx, |c| sqlx::query_as(
        "SELECT pdf FROM reports WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(r.and_then(|r| r.0))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub report_id: String,
    pub recipient: String,
    pub professional_id: String,
    pub channel: String,
    pub address: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

const DCOLS: &str = "id, report_id, recipient, professional_id, channel, address, status, attempts, last_error, created_at, updated_at, delivered_at";

pub async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO report_deliveries (id, report_id, recipient, professional_id, channel, address, status,
             attempts, last_error, created_at, updated_at, delivered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )
    .bind(&d.id)
    .bind(&d.report_id)
    .bind(&d.recipient)
    .bind(&d.professional_id)
    .bind(&d.channel)
    .bind(&d.address)
    .bind(&d.status)
    .bind(d.attempts)
    .bind(&d.last_error)
    .bind(d.created_at)
    .bind(d.updated_at)
    .bind(d.delivered_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn deliveries_of_case(tx: &mut Tx, case_id: &str) -> Result<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DCOLS} FROM report_deliveries WHERE report_id IN (SELECT id FROM reports WHERE case_id = $1)
         ORDER BY created_at, recipient"
    );
    Ok(run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(case_id)
    .fetch_all(c)
    .await)?)
}

pub async fn get_delivery(tx: &mut Tx, id: &str) -> Result<Option<DeliveryRow>> {
    let sql = format!("SELECT {DCOLS} FROM report_deliveries WHERE id = $1");
    Ok(run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Records one delivery attempt's outcome.
pub async fn record_attempt(
    tx: &mut Tx,
    id: &str,
    status: &str,
    error: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let delivered = (status == "sent").then_some(now.micros());
    run!(tx, |c| sqlx::query(
        "UPDATE report_deliveries SET status = $2, attempts = attempts + 1, last_error = $3,
             updated_at = $4, delivered_at = COALESCE(delivered_at, $5)
         WHERE id = $1"
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .bind(now.micros())
    .bind(delivered)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The attachments of a case, as the report lists them: (name, kind, media type, uploaded at).
pub async fn attachment_lines(
    tx: &mut Tx,
    case_id: &str,
) -> Result<Vec<(String, String, String, i64)>> {
    Ok(run!(tx, |c| sqlx::query_as(
        "SELECT display_name, kind, media_type, uploaded_at FROM attachments
         WHERE case_id = $1 ORDER BY uploaded_at, id"
    )
    .bind(case_id)
    .fetch_all(c)
    .await)?)
}

/// A professional's first organisation (name, FINESS), for the report's header.
pub async fn organisation_of(
    tx: &mut Tx,
    professional_id: &str,
) -> Result<Option<(String, Option<String>)>> {
    Ok(run!(tx, |c| {
        sqlx::query_as(
        "SELECT o.name, o.finess FROM memberships m JOIN organisations o ON o.id = m.organisation_id
         WHERE m.professional_id = $1 ORDER BY o.name, o.id LIMIT 1"
    )
    .bind(professional_id)
    .fetch_optional(c)
    .await
    })?)
}
