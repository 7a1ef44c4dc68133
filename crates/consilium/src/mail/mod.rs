//! Email, sent only by jobs: a use case calls [`enqueue`] in its transaction; the
//! `mail.send` job delivers through SMTP (`lettre`) and is retried with backoff when the
//! server refuses or is down.
//!
//! Mail carries **no patient data** (domain.md §4): a case number and a link to
//! `public_url`, nothing else. Builders of messages take only those ([`case_link`]).
//! Delivery is at least once (a worker that dies between the SMTP answer and the commit
//! sends again): the `Message-ID` is derived from the job id, so receivers can tell repeats.

use crate::config::Config;
use crate::db::Tx;
use crate::jobs::{self, JobError, NewJob, Registry};
use crate::kernel::{Error, Result, Timestamp};
use crate::platform::Platform;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

pub const SEND_KIND: &str = "mail.send";

/// The platform's mail settings and SMTP transport.
pub struct Mailer {
    pub from: Mailbox,
    /// Base URL of links in mail (no trailing slash).
    pub public_url: String,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("public_url", &self.public_url)
            .field("smtp", &self.transport.is_some())
            .finish()
    }
}

impl Mailer {
    /// No SMTP: mail jobs complete without sending (the demo, the CLI, benchmarks).
    pub fn disabled() -> Mailer {
        Mailer {
            from: Mailbox::new(
                Some("Consilium".into()),
                lettre::Address::new("no-reply", "consilium.localhost")
                    .expect("a valid constant address"),
            ),
            public_url: "http://127.0.0.1:8080".into(),
            transport: None,
        }
    }

    /// From `smtp_url`, `mail_from` and `public_url`. Without `smtp_url`, mail jobs complete
    /// without sending (logged): the demo and a laptop need no mail server.
    pub fn from_config(c: &Config) -> Result<Mailer> {
        let from: Mailbox = c.mail_from.parse().map_err(|e| {
            Error::Internal(format!(
                "mail_from '{}' is not an address: {e}",
                c.mail_from
            ))
        })?;
        let transport = match c.smtp_url.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(u)
                    .map_err(|e| Error::Internal(format!("smtp_url is not valid: {e}")))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            _ => None,
        };
        Ok(Mailer {
            from,
            public_url: c
                .public_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://{}", c.listen)),
            transport,
        })
    }

    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one message now (jobs only).
    async fn send(&self, job_id: &str, mail: &OutgoingMail) -> Result<(), JobError> {
        self.send_with(job_id, mail, None).await
    }

    /// Sends one message now, with an optional attachment (jobs only: the report to a
    /// médecin traitant's secure messaging address). The `Message-ID` derives from the job.
    pub async fn send_with(
        &self,
        job_id: &str,
        mail: &OutgoingMail,
        attachment: Option<&MailAttachment>,
    ) -> Result<(), JobError> {
        let Some(t) = &self.transport else {
            tracing::info!(job = job_id, "mail not sent: no smtp_url configured");
            return Ok(());
        };
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| JobError::Permanent(format!("bad recipient address: {e}")))?;
        let domain = self.from.email.domain().to_string();
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .message_id(Some(format!("<{job_id}@{domain}>")));
        let msg = match attachment {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.clone()),
            Some(a) => {
                let media = ContentType::parse(&a.media_type)
                    .map_err(|e| JobError::Permanent(format!("bad attachment type: {e}")))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(mail.text.clone()))
                        .singlepart(Attachment::new(a.name.clone()).body(a.bytes.clone(), media)),
                )
            }
        }
        .map_err(|e| JobError::Permanent(format!("cannot build the message: {e}")))?;
        match t.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(JobError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(JobError::Retry(format!("SMTP: {e}"))),
        }
    }

    /// The link to a case in the web application.
    pub fn case_link(&self, case_id: &str) -> String {
        format!("{}/cases/{}", self.public_url, case_id)
    }
}

/// A message waiting in the queue. Its text is built by the caller from a case number and
/// a link only (never a patient's name or clinical content).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// A file attached to a message (only the report, to a secure messaging address).
#[derive(Debug, Clone, PartialEq)]
pub struct MailAttachment {
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Queues a message in the caller's transaction; it is sent after the commit, by a job.
/// `dedupe_key` makes the same logical mail (e.g. "reminder D3 of case X to Y") be queued once.
pub async fn enqueue(
    tx: &mut Tx,
    now: Timestamp,
    mail: &OutgoingMail,
    dedupe_key: Option<String>,
) -> Result<bool> {
    let payload = serde_json::to_value(mail).map_err(Error::internal)?;
    let mut job = NewJob::new(SEND_KIND, payload, now);
    job.dedupe_key = dedupe_key;
    jobs::enqueue(tx, now, job).await
}

pub fn register_jobs(r: &Registry) {
    r.register(SEND_KIND, |p: Platform, job| async move {
        let mail: OutgoingMail = job.payload()?;
        p.mailer.send(&job.id, &mail).await
    });
}
