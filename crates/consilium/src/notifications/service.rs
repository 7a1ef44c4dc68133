//! Notification use cases: create (in the caller's transaction, with its mail queued),
//! list and mark read (the recipient only), email settings, the daily digest job.

use super::model::{EmailMode, Kind, next_digest};
use super::repo::{self, NotificationRow};
use crate::audit::{self, NewEntry};
use crate::db::Tx;
use crate::jobs::{self, JobError, NewJob, Registry};
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::mail::{self, OutgoingMail};
use crate::platform::{Ctx, Platform};
use serde::{Deserialize, Serialize};

pub const DIGEST_KIND: &str = "notifications.digest";

/// A notification as its recipient sees it: a case number and a link, no patient data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    pub kind: Kind,
    pub case_id: Option<String>,
    pub case_number: Option<String>,
    /// What happened, in French.
    pub text: String,
    pub link: Option<String>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    pub items: Vec<Notification>,
    pub unread: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationSettings {
    /// `immediate` (one email per notification), `digest` (one a day) or `off`.
    pub email: EmailMode,
}

fn view(p: &Platform, r: NotificationRow) -> Notification {
    let kind = Kind::parse(&r.kind).unwrap_or(Kind::Reminder);
    let number = r.case_number.clone().unwrap_or_default();
    Notification {
        id: r.id,
        kind,
        text: kind.sentence(&number),
        link: r.case_id.as_deref().map(|c| p.mailer.case_link(c)),
        case_id: r.case_id,
        case_number: r.case_number,
        created_at: Timestamp(r.created_at),
        read_at: r.read_at.map(Timestamp),
    }
}

/// Notifies `to` about a case, in the caller's transaction: the in-app row, and the email
/// queued now (immediate) or a digest job set for the next digest instant. `key` makes the
/// notification once-only (the same key again does nothing; it returns false).
pub async fn notify(
    p: &Platform,
    tx: &mut Tx,
    now: Timestamp,
    to: &str,
    kind: Kind,
    case_id: &str,
    case_number: &str,
) -> Result<()> {
    let row = NotificationRow {
        id: new_id(),
        professional_id: to.to_string(),
        kind: kind.as_str().to_string(),
        case_id: Some(case_id.to_string()),
        case_number: Some(case_number.to_string()),
        created_at: now.micros(),
        read_at: None,
        emailed_at: None,
    };
    repo::insert(tx, &row).await?;
    let Some(address) = repo::email_of(tx, to).await? else {
        return Ok(());
    };
    match repo::email_mode(tx, to).await? {
        EmailMode::Off => {}
        EmailMode::Immediate => {
            let text = format!(
                "{}\n\nOuvrir la demande : {}\n\n-- \nConsilium. Ce message ne contient aucune donnée de patient.\n",
                kind.sentence(case_number),
                p.mailer.case_link(case_id)
            );
            let m = OutgoingMail {
                to: address,
                subject: kind.subject(case_number),
                text,
            };
            mail::enqueue(tx, now, &m, Some(format!("notification:{}", row.id))).await?;
            repo::mark_mailed(tx, &row.id, now).await?;
        }
        EmailMode::Digest => {
            let at = next_digest(now);
            let job = NewJob::new(
                DIGEST_KIND,
                serde_json::json!({ "professional_id": to }),
                at,
            )
            .dedupe(format!("digest:{to}:{}", at.micros()));
            jobs::enqueue(tx, now, job).await?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct DigestPayload {
    professional_id: String,
}

/// The daily digest of one user: one email listing what was not mailed yet.
async fn send_digest(p: Platform, job: jobs::Job) -> Result<(), JobError> {
    let d: DigestPayload = job.payload()?;
    let now = p.now();
    let mut tx = p.db.begin().await?;
    let pending = repo::unmailed_for(&mut tx, &d.professional_id).await?;
    let address = repo::email_of(&mut tx, &d.professional_id).await?;
    if let (false, Some(address)) = (pending.is_empty(), address) {
        let mut text = String::from("Vos notifications Consilium :\n\n");
        for n in &pending {
            let kind = Kind::parse(&n.kind).unwrap_or(Kind::Reminder);
            let number = n.case_number.clone().unwrap_or_default();
            text.push_str(&format!("- {}\n", kind.sentence(&number)));
            if let Some(c) = &n.case_id {
                text.push_str(&format!("  {}\n", p.mailer.case_link(c)));
            }
        }
        text.push_str("\n-- \nConsilium. Ce message ne contient aucune donnée de patient.\n");
        let m = OutgoingMail {
            to: address,
            subject: format!("Consilium : {} notification(s)", pending.len()),
            text,
        };
        mail::enqueue(&mut tx, now, &m, Some(format!("digest-mail:{}", job.id))).await?;
    }
    for n in &pending {
        repo::mark_mailed(&mut tx, &n.id, now).await?;
    }
    job.complete(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

pub fn register_jobs(r: &Registry) {
    r.register(DIGEST_KIND, send_digest);
}

impl Platform {
    /// The caller's notifications (newest first), with the count of unread ones.
    pub async fn list_notifications(
        &self,
        ctx: &Ctx,
        unread_only: bool,
        limit: i64,
    ) -> Result<NotificationList> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        // A read: no write lock (on SQLite, no turn in the writers' queue).
        let mut tx = self.read().await?;
        let rows = repo::list_for(&mut tx, &me, unread_only, limit.clamp(1, 200)).await?;
        let unread = repo::count_unread(&mut tx, &me).await?;
        tx.rollback().await?;
        Ok(NotificationList {
            items: rows.into_iter().map(|r| view(self, r)).collect(),
            unread,
        })
    }

    /// Marks one of the caller's notifications read; someone else's is "not found" (audited).
    pub async fn mark_notification_read(&self, ctx: &Ctx, id: &str) -> Result<Notification> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let row = match repo::get(&mut tx, id).await? {
            Some(r) if r.professional_id == me => r,
            _ => {
                let entry = NewEntry::denied("notification.read", "notification", id);
                return self.deny(tx, ctx, entry, Error::NotFound).await;
            }
        };
        repo::mark_read(&mut tx, id, now).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("notification.read", "notification", id)],
        )
        .await?;
        let row = repo::get(&mut tx, id).await?.unwrap_or(row);
        tx.commit().await?;
        Ok(view(self, row))
    }

    pub async fn notification_settings(&self, ctx: &Ctx) -> Result<NotificationSettings> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let email = repo::email_mode(&mut tx, &me).await?;
        tx.commit().await?;
        Ok(NotificationSettings { email })
    }

    pub async fn set_notification_settings(
        &self,
        ctx: &Ctx,
        input: NotificationSettings,
    ) -> Result<NotificationSettings> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        repo::set_email_mode(&mut tx, &me, input.email, now).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[
                NewEntry::success("notification.settings", "professional", &me)
                    .with(serde_json::json!({"email": input.email.as_str()})),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(input)
    }
}
