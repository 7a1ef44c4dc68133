//! Webhook signing secrets: generated here, shown once (at registration or rotation),
//! stored sealed with the key-encryption key and bound to the webhook's id
//! (`crate::sealing`), opened only by the delivery job to sign. Secrets stored in clear by
//! an earlier version are still read, and sealed by the server at start and by
//! `consilium keys rotate`, which also reseals those of older keys.
//!
//! Rotation replaces the secret at once: deliveries already queued are signed when they
//! are sent, with the secret current then (the job reads it at delivery), so after a
//! rotation every request, retries of earlier events included, carries the new secret's
//! signature.

use super::{NewWebhook, get, may_manage};
use crate::audit::{self, NewEntry};
use crate::kernel::{Error, Result};
use crate::platform::{Ctx, Platform};
use crate::sealing::{Purpose, replace_stored};
use rand::RngCore;
use serde_json::json;
use std::collections::BTreeSet;

/// A new secret: 32 random bytes, hex, with a prefix that names what it is.
pub(super) fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!("whsec_{}", hex::encode(b))
}

impl Platform {
    /// The form of a webhook's secret to store: sealed with the current key.
    pub(crate) fn seal_webhook_secret(&self, webhook_id: &str, secret: &str) -> String {
        self.seal_secret(Purpose::Webhook, webhook_id, secret)
    }

    /// The secret of a stored value (sealed or, from before, in clear).
    pub fn open_webhook_secret(&self, webhook_id: &str, stored: &str) -> Result<String> {
        self.open_secret(Purpose::Webhook, webhook_id, stored)
    }

    /// Seals every webhook secret in clear or under an older key (see
    /// [`Platform::reseal_secrets`]: one that does not open is left, with a warning).
    /// Returns how many were sealed.
    pub async fn reseal_webhook_secrets(&self, ctx: &Ctx) -> Result<u64> {
        self.reseal_secrets(ctx, Purpose::Webhook).await
    }

    /// The key ids webhook secrets are sealed with (a key still in this list is not
    /// retired).
    pub async fn webhook_key_ids(&self) -> Result<BTreeSet<String>> {
        self.sealing_key_ids(Purpose::Webhook).await
    }

    /// Gives a webhook a new signing secret, returned this once; the old one stops at once
    /// (deliveries still queued are signed with the new one when they are sent). Its owner,
    /// or an administrator of the owning organisation; for anyone else it does not exist
    /// (404, audited). The audit entry never holds the secret. Not replayed with an
    /// `Idempotency-Key`: the answer would have to be stored, and the secret is never stored
    /// in clear; a retry rotates again, and its answer holds the secret in force.
    pub async fn rotate_webhook_secret(&self, ctx: &Ctx, id: &str) -> Result<NewWebhook> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        let row = match get(&mut tx, id).await? {
            Some(h) if may_manage(&mut tx, &me, &h).await? => h,
            _ => {
                return self
                    .deny(
                        tx,
                        ctx,
                        NewEntry::denied("webhook.rotate_secret", "webhook", id),
                        Error::NotFound,
                    )
                    .await;
            }
        };
        let secret = new_secret();
        let sealed = self.seal_webhook_secret(&row.id, &secret);
        if !replace_stored(&mut tx, Purpose::Webhook, &row.id, &row.secret, &sealed).await? {
            tx.rollback().await?;
            return Err(Error::conflict(
                "the secret changed meanwhile: try again",
                None,
            ));
        }
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[
                NewEntry::success("webhook.rotate_secret", "webhook", &row.id).with(json!({
                    "owner_kind": row.owner_kind, "owner_id": row.owner_id, "url": row.url
                })),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(NewWebhook {
            webhook: row.view(),
            secret,
        })
    }
}
