//! SQL of notifications.

use super::model::EmailMode;
use crate::db::Tx;
use crate::kernel::{Result, Timestamp};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub professional_id: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub case_number: Option<String>,
    pub created_at: i64,
    pub read_at: Option<i64>,
    pub emailed_at: Option<i64>,
}

const COLS: &str =
    "id, professional_id, kind, case_id, case_number, created_at, read_at, emailed_at";

pub async fn insert(tx: &mut Tx, n: &NotificationRow) -> Result<()> {
    let sql = "INSERT INTO notifications (id, professional_id, kind, case_id, case_number, created_at, read_at, emailed_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    crate::run!(tx, |c| sqlx::query(sql)
        .bind(&n.id)
        .bind(&n.professional_id)
        .bind(&n.kind)
        .bind(&n.case_id)
        .bind(&n.case_number)
        .bind(n.created_at)
        .bind(n.read_at)
        .bind(n.emailed_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn get(tx: &mut Tx, id: &str) -> Result<Option<NotificationRow>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM notifications WHERE id = $1"));
    Ok(crate::run!(tx, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

/// A user's notifications, newest first.
pub async fn list_for(
    tx: &mut Tx,
    professional_id: &str,
    unread_only: bool,
    limit: i64,
) -> Result<Vec<NotificationRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM notifications
         WHERE professional_id = $1 AND ($2 = FALSE OR read_at IS NULL)
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ));
    Ok(crate::run!(tx, |c| sqlx::query_as(sql)
        .bind(professional_id)
        .bind(unread_only)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

pub async fn count_unread(tx: &mut Tx, professional_id: &str) -> Result<i64> {
    let sql = "SELECT COUNT(*) FROM notifications WHERE professional_id = $1 AND read_at IS NULL";
    Ok(crate::run!(tx, |c| sqlx::query_scalar(sql)
        .bind(professional_id)
        .fetch_one(c)
        .await)?)
}

pub async fn mark_read(tx: &mut Tx, id: &str, at: Timestamp) -> Result<()> {
    let sql = "UPDATE notifications SET read_at = $2 WHERE id = $1 AND read_at IS NULL";
    crate::run!(tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(at.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Notifications of a user not mailed yet (for a digest), oldest first.
pub async fn unmailed_for(tx: &mut Tx, professional_id: &str) -> Result<Vec<NotificationRow>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM notifications WHERE professional_id = $1 AND emailed_at IS NULL
         ORDER BY created_at, id"
    ));
    Ok(crate::run!(tx, |c| sqlx::query_as(sql)
        .bind(professional_id)
        .fetch_all(c)
        .await)?)
}

pub async fn mark_mailed(tx: &mut Tx, id: &str, at: Timestamp) -> Result<()> {
    let sql = "UPDATE notifications SET emailed_at = $2 WHERE id = $1";
    crate::run!(tx, |c| sqlx::query(sql)
        .bind(id)
        .bind(at.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn email_mode(tx: &mut Tx, professional_id: &str) -> Result<EmailMode> {
    let sql = "SELECT email FROM notification_settings WHERE professional_id = $1";
    let v: Option<String> = crate::run!(tx, |c| sqlx::query_scalar(sql)
        .bind(professional_id)
        .fetch_optional(c)
        .await)?;
    Ok(v.and_then(|s| EmailMode::parse(&s)).unwrap_or_default())
}

pub async fn set_email_mode(
    tx: &mut Tx,
    professional_id: &str,
    mode: EmailMode,
    at: Timestamp,
) -> Result<()> {
    let sql = "INSERT INTO notification_settings (professional_id, email, updated_at) VALUES ($1, $2, $3)
               ON CONFLICT (professional_id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at";
    crate::run!(tx, |c| sqlx::query(sql)
        .bind(professional_id)
        .bind(mode.as_str())
        .bind(at.micros())
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The email address of a professional, if any (and only if the account is active).
pub async fn email_of(tx: &mut Tx, professional_id: &str) -> Result<Option<String>> {
    let sql = "SELECT email FROM professionals WHERE id = $1 AND active = TRUE";
    let v: Option<Option<String>> = crate::run!(tx, |c| sqlx::query_scalar(sql)
        .bind(professional_id)
        .fetch_optional(c)
        .await)?;
    Ok(v.flatten().filter(|e| !e.trim().is_empty()))
}
