//! Signed webhooks for practice software (issue 5).
//!
//! - A professional registers a URL for the cases they send or hold
//!   (`/api/v1/me/webhooks`); an organisation's administrator for the cases of its members
//!   and of its teams (`/api/v1/directory/organisations/{id}/webhooks`). The secret is
//!   generated here and shown once, at registration (or when it is rotated).
//! - A case change calls [`emit`] in its own transaction: one `webhook.deliver` job per
//!   subscribed webhook, so an event is delivered iff its change committed.
//! - The job POSTs the JSON body (the case's id, number, state and link: never patient
//!   data) with `Consilium-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//!   "<t>.<body>")>`, `Consilium-Event` and `Consilium-Delivery` (the event id, the same on
//!   every retry). The secret is stored sealed with the key-encryption key and opened only
//!   to sign, with the secret current at delivery ([`secret`]). Anything but a 2xx is retried with the queue's backoff, then dead-lettered
//!   (`/api/v1/operations/jobs`). Delivery is at least once.
//! - SSRF care: `https` only, to public addresses; the host is resolved at delivery and
//!   every address it resolves to is checked, then the connection is pinned to them; no
//!   redirects are followed. `webhook_allow_loopback` also allows loopback receivers (tests).

pub mod model;
pub mod secret;

use crate::audit::{self, NewEntry};
use crate::cases::repo::CaseRow;
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::jobs::{self, Job, JobError, NewJob, Registry};
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, Platform};
use crate::run;
use model::{Event, EventCase, EventType};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use utoipa::ToSchema;

pub const DELIVER_KIND: &str = "webhook.deliver";

/// Most webhooks per owner.
pub const MAX_PER_OWNER: i64 = 10;

/// How webhooks are delivered (from the configuration).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Accept loopback receivers (`http://127.0.0.1:…`): tests and a receiver on the same
    /// machine only.
    pub allow_loopback: bool,
    /// How long one delivery may take (connect, send, answer).
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A webhook to register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where events are POSTed: `https` to a public host.
    pub url: String,
    /// Event types to receive (empty or absent: all).
    #[serde(default)]
    pub events: Vec<String>,
}

/// A registered webhook (its secret is shown only in [`NewWebhook`]).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    /// `professional` or `organisation`.
    pub owner_kind: String,
    pub owner_id: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub created_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    /// `delivered (HTTP 200)`, `HTTP 500`, a network error…
    pub last_outcome: Option<String>,
}

/// A webhook just registered, with its signing secret: shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The key of the HMAC-SHA256 signature (`Consilium-Signature`); keep it secret.
    pub secret: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: String,
    owner_kind: String,
    owner_id: String,
    url: String,
    secret: String,
    events: String,
    created_at: i64,
    last_attempt_at: Option<i64>,
    last_outcome: Option<String>,
}

impl Row {
    fn events(&self) -> Vec<EventType> {
        serde_json::from_str::<Vec<String>>(&self.events)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| EventType::parse(s))
            .collect()
    }
    fn view(&self) -> Webhook {
        Webhook {
            id: self.id.clone(),
            owner_kind: self.owner_kind.clone(),
            owner_id: self.owner_id.clone(),
            url: self.url.clone(),
            events: self.events(),
            created_at: Timestamp(self.created_at),
            last_attempt_at: self.last_attempt_at.map(Timestamp),
            last_outcome: self.last_outcome.clone(),
        }
    }
}

const COLS: &str =
    "id, owner_kind, owner_id, url, secret, events, created_at, last_attempt_at, last_outcome";

async fn get(tx: &mut Tx, id: &str) -> Result<Option<Row>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM webhooks WHERE id = $1"));
    Ok(run!(tx, |c| sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(c)
        .await)?)
}

async fn list_of(tx: &mut Tx, kind: &str, owner: &str) -> Result<Vec<Row>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM webhooks WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at, id"
    ));
    Ok(run!(tx, |c| sqlx::query_as(sql)
        .bind(kind)
        .bind(owner)
        .fetch_all(c)
        .await)?)
}

/// Whether `me` may manage this webhook: its owner, or an administrator of the owning
/// organisation.
async fn may_manage(tx: &mut Tx, me: &str, h: &Row) -> Result<bool> {
    Ok(if h.owner_kind == "professional" {
        h.owner_id == me
    } else {
        dir::admin_of(tx, me).await?.contains(&h.owner_id)
    })
}

/// Queues one delivery per webhook subscribed to this case's `kind` of event, in the
/// caller's transaction. Subscribed: the webhooks of the requester, of the expert holding
/// the case (and of `previous_expert`, who held it before this change), and of the
/// organisations those professionals belong to and of the case's team's organisation.
pub async fn emit(
    tx: &mut Tx,
    now: Timestamp,
    r: &CaseRow,
    previous_expert: Option<&str>,
    kind: EventType,
) -> Result<usize> {
    let sql = "SELECT id, events FROM webhooks WHERE
          (owner_kind = 'professional' AND owner_id IN ($1, $2, $3)
           AND owner_id IN (SELECT id FROM professionals WHERE active = TRUE))
       OR (owner_kind = 'organisation' AND owner_id IN (
              SELECT organisation_id FROM memberships WHERE professional_id IN ($1, $2, $3)
              UNION SELECT organisation_id FROM teams WHERE id = $4))
       ORDER BY id";
    let hooks: Vec<(String, String)> = run!(tx, |c| sqlx::query_as(sql)
        .bind(&r.requester_id)
        .bind(&r.assigned_expert_id)
        .bind(previous_expert)
        .bind(&r.team_id)
        .fetch_all(c)
        .await)?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let event = Event {
        id: new_id(),
        kind,
        created_at: now.to_rfc3339(),
        case: EventCase {
            id: r.id.clone(),
            number: r.number.clone(),
            state: r.state.clone(),
        },
    };
    let mut n = 0;
    for (hook, events) in hooks {
        let wanted: Vec<String> = serde_json::from_str(&events).unwrap_or_default();
        if !wanted.is_empty() && !wanted.iter().any(|e| e == kind.as_str()) {
            continue;
        }
        let payload = json!({ "webhook_id": hook, "event": event });
        let job =
            NewJob::new(DELIVER_KIND, payload, now).dedupe(format!("webhook:{hook}:{}", event.id));
        jobs::enqueue(tx, now, job).await?;
        n += 1;
    }
    Ok(n)
}

#[derive(Deserialize)]
struct DeliverPayload {
    webhook_id: String,
    event: Event,
}

/// Sends one event to one webhook. A deleted webhook gets nothing (done); a URL that is
/// no longer acceptable (or resolves to a refused address) is dead at once; any answer but
/// a 2xx, or no answer, is retried by the queue.
async fn deliver(p: Platform, job: Job) -> Result<(), JobError> {
    let d: DeliverPayload = job.payload()?;
    let mut tx = p.read().await?;
    let hook = get(&mut tx, &d.webhook_id).await?;
    tx.rollback().await?;
    let Some(hook) = hook else {
        return Ok(());
    };
    let outcome = send(&p, &hook, &d.event).await;
    let text = match &outcome {
        Ok(status) => format!("delivered (HTTP {status})"),
        Err(e) => e.to_string(),
    };
    let now = p.now();
    let mut tx = p.db.begin().await?;
    run!(&mut tx, |c| sqlx::query(
        "UPDATE webhooks SET last_attempt_at = $2, last_outcome = $3 WHERE id = $1"
    )
    .bind(&hook.id)
    .bind(now.micros())
    .bind(text.chars().take(300).collect::<String>())
    .execute(c)
    .await
    .map(|_| ()))?;
    tx.commit().await?;
    outcome.map(|_| ())
}

async fn send(p: &Platform, hook: &Row, event: &Event) -> Result<u16, JobError> {
    let allow = p.webhooks.allow_loopback;
    let url = model::check_url(&hook.url, allow)
        .map_err(|e| JobError::Permanent(format!("webhook URL {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| JobError::Permanent("webhook URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| JobError::Permanent("webhook URL has no port".into()))?;
    // Resolve once, check every address, and connect only to those (no DNS rebinding).
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| JobError::Retry(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(JobError::Retry(format!("{host} resolves to no address")));
    }
    if let Some(bad) = addrs
        .iter()
        .find(|a| !model::address_allowed(a.ip(), allow))
    {
        return Err(JobError::Permanent(format!(
            "{host} resolves to {}, a private or reserved address",
            bad.ip()
        )));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(p.webhooks.timeout)
        .resolve_to_addrs(&host, &addrs)
        .user_agent("Consilium-Webhooks/1")
        .build()
        .map_err(|e| JobError::Retry(format!("HTTP client: {e}")))?;
    // The secret in force now (a rotation since the event was queued applies).
    let secret = p
        .open_webhook_secret(&hook.id, &hook.secret)
        .map_err(|e| JobError::Retry(format!("cannot open the webhook's secret: {e}")))?;
    let body = model::body(event, &p.mailer.case_link(&event.case.id));
    let t = p.now().micros().div_euclid(1_000_000);
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header(model::EVENT_HEADER, event.kind.as_str())
        .header(model::DELIVERY_HEADER, &event.id)
        .header(
            model::SIGNATURE_HEADER,
            model::signature_header(&secret, t, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| JobError::Retry(format!("no answer: {e}")))?;
    let status = answer.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(JobError::Retry(format!("HTTP {}", status.as_u16())))
    }
}

pub fn register_jobs(r: &Registry) {
    r.register(DELIVER_KIND, deliver);
}

fn validate(input: &WebhookInput, allow_loopback: bool) -> Result<(String, Vec<EventType>)> {
    let url = model::check_url(&input.url, allow_loopback)
        .map_err(|e| Error::invalid("url", e))?
        .to_string();
    let mut events = Vec::new();
    for (i, e) in input.events.iter().enumerate() {
        match EventType::parse(e.trim()) {
            Some(t) if !events.contains(&t) => events.push(t),
            Some(_) => {}
            None => {
                return Err(Error::invalid(
                    format!("events[{i}]"),
                    format!(
                        "unknown event type (one of {})",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                ));
            }
        }
    }
    Ok((url, events))
}

impl Platform {
    async fn create_webhook(
        &self,
        mut tx: Tx,
        ctx: &Ctx,
        me: &str,
        owner_kind: &str,
        owner_id: &str,
        input: WebhookInput,
    ) -> Result<NewWebhook> {
        let (url, events) = match validate(&input, self.webhooks.allow_loopback) {
            Ok(x) => x,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        if list_of(&mut tx, owner_kind, owner_id).await?.len() as i64 >= MAX_PER_OWNER {
            tx.rollback().await?;
            const _: () = assert!(MAX_PER_OWNER == 10, "say so in the message");
            return Err(Error::conflict(
                "at most 10 webhooks each: delete one first",
                None,
            ));
        }
        let now = self.now();
        let secret = secret::new_secret();
        let id = new_id();
        let row = Row {
            secret: self.seal_webhook_secret(&id, &secret),
            id,
            owner_kind: owner_kind.into(),
            owner_id: owner_id.into(),
            url,
            events: serde_json::to_string(&events.iter().map(|e| e.as_str()).collect::<Vec<_>>())
                .map_err(Error::internal)?,
            created_at: now.micros(),
            last_attempt_at: None,
            last_outcome: None,
        };
        run!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO webhooks (id, owner_kind, owner_id, url, secret, events, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&row.id)
        .bind(&row.owner_kind)
        .bind(&row.owner_id)
        .bind(&row.url)
        .bind(&row.secret)
        .bind(&row.events)
        .bind(me)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|_| ())
        })?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("webhook.create", "webhook", &row.id).with(json!({
                "owner_kind": owner_kind, "owner_id": owner_id, "url": row.url, "events": row.events()
            }))],
        )
        .await?;
        tx.commit().await?;
        Ok(NewWebhook {
            webhook: row.view(),
            secret,
        })
    }

    /// Registers a webhook for the caller's cases (requested or held).
    pub async fn create_my_webhook(&self, ctx: &Ctx, input: WebhookInput) -> Result<NewWebhook> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let tx = self.db.begin().await?;
        self.create_webhook(tx, ctx, &me, "professional", &me, input)
            .await
    }

    /// The caller's own webhooks.
    pub async fn my_webhooks(&self, ctx: &Ctx) -> Result<Vec<Webhook>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.read().await?;
        let rows = list_of(&mut tx, "professional", &me).await?;
        tx.rollback().await?;
        Ok(rows.iter().map(Row::view).collect())
    }

    /// Opens a transaction for an administrator of `org`; unknown organisation 404, anyone
    /// else 403 (audited).
    async fn org_admin_tx(&self, ctx: &Ctx, org: &str, action: &str) -> Result<(Tx, String)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        if dir::get_organisation(&mut tx, org).await?.is_none() {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        if !dir::admin_of(&mut tx, &me).await?.iter().any(|o| o == org) {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "organisation", org),
                    Error::Forbidden(
                        "only an administrator of this organisation may manage its webhooks".into(),
                    ),
                )
                .await;
        }
        Ok((tx, me))
    }

    /// Registers a webhook for an organisation (its administrators).
    pub async fn create_org_webhook(
        &self,
        ctx: &Ctx,
        org: &str,
        input: WebhookInput,
    ) -> Result<NewWebhook> {
        let (tx, me) = self.org_admin_tx(ctx, org, "webhook.create").await?;
        self.create_webhook(tx, ctx, &me, "organisation", org, input)
            .await
    }

    /// An organisation's webhooks (its administrators).
    pub async fn org_webhooks(&self, ctx: &Ctx, org: &str) -> Result<Vec<Webhook>> {
        let (mut tx, _) = self.org_admin_tx(ctx, org, "webhook.list").await?;
        let rows = list_of(&mut tx, "organisation", org).await?;
        tx.rollback().await?;
        Ok(rows.iter().map(Row::view).collect())
    }

    /// Deletes a webhook: its owner, or an administrator of the owning organisation; for
    /// anyone else it does not exist (404, audited). Deliveries still queued are dropped.
    pub async fn delete_webhook(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let allowed = match get(&mut tx, id).await? {
            Some(h) => may_manage(&mut tx, &me, &h).await?,
            None => false,
        };
        if !allowed {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("webhook.delete", "webhook", id),
                    Error::NotFound,
                )
                .await;
        }
        let now = self.now();
        run!(&mut tx, |c| sqlx::query(
            "DELETE FROM webhooks WHERE id = $1"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("webhook.delete", "webhook", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
