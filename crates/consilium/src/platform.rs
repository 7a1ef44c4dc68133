//! The core the transports call: the database, the clock and the use cases (one module per
//! domain adds its `impl Platform` block in its `service.rs`).

use crate::audit::{self, NewEntry};
use crate::auth::password::{Argon2Params, Hasher};
use crate::auth::service::AuthSettings;
use crate::db::{Db, Tx};
use crate::kernel::{Actor, Clock, Error, Result, Timestamp};
use std::sync::{Arc, LazyLock};

/// Default settings, built once.
fn default_auth() -> Arc<AuthSettings> {
    static DEFAULT: LazyLock<Arc<AuthSettings>> = LazyLock::new(|| {
        let hasher = Hasher::new(Argon2Params::default()).unwrap_or_else(|e| {
            // The default parameters are valid; this cannot happen.
            panic!("default Argon2 parameters: {e}")
        });
        Arc::new(AuthSettings::new(hasher))
    });
    DEFAULT.clone()
}

#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// Handlers of the job queue, by kind.
    pub jobs: crate::jobs::Registry,
    /// How long a worker keeps a claimed job before another may take it.
    pub jobs_lease_seconds: i64,
    /// Done jobs are deleted this many days after completion (at least 8).
    pub jobs_done_retention_days: i64,
    /// Sign-in settings (password hashing, session lifetimes, throttling).
    pub auth: Arc<AuthSettings>,
    /// SMTP transport and mail settings (used by mail jobs only).
    pub mailer: Arc<crate::mail::Mailer>,
    /// When reminders and escalations fire (R9 timers).
    pub deadlines: crate::routing::DeadlinePolicy,
    /// The blob store, keys and limits of attachments; `None` where no store is configured
    /// (attachment use cases then answer 503).
    pub attachments: Option<Arc<crate::attachments::Attachments>>,
    /// How webhooks are delivered (which receivers are allowed, timeout).
    pub webhooks: crate::webhooks::WebhookSettings,
}

/// Per-request context: who acts, and the idempotency key of a retried POST.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    pub idempotency: Option<IdempotencyKey>,
    /// The browser session the request came with, if any (not for bearer tokens).
    pub session: Option<String>,
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
            session: None,
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
    /// A platform with default sign-in settings (see [`Platform::with_auth`]).
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            jobs: crate::jobs::Registry::with_builtin(),
            jobs_lease_seconds: crate::jobs::DEFAULT_LEASE_SECONDS,
            jobs_done_retention_days: crate::jobs::DEFAULT_DONE_RETENTION_DAYS,
            auth: default_auth(),
            mailer: Arc::new(crate::mail::Mailer::disabled()),
            deadlines: crate::routing::DeadlinePolicy::default(),
            attachments: None,
            webhooks: crate::webhooks::WebhookSettings::default(),
        }
    }

    pub fn with_auth(mut self, auth: AuthSettings) -> Self {
        self.auth = Arc::new(auth);
        self
    }

    /// The same platform seen through another clock (demo seeding in the past).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..self.clone()
        }
    }

    pub fn with_attachments(mut self, a: crate::attachments::Attachments) -> Self {
        self.attachments = Some(Arc::new(a));
        self
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
