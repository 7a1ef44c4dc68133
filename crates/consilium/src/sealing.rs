//! Short secrets at rest (TOTP secrets, webhook signing secrets): sealed with the
//! key-encryption key that wraps the case keys (the key file or `CONSILIUM_MASTER_KEYS`),
//! XChaCha20-Poly1305 with associated data naming what the secret is for, its owner's id
//! and the key id. Stored as `kek1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`: a
//! database copy without the key file reveals no secret, and a sealed secret moved to
//! another owner (or used for another purpose) does not open. A stored value without the
//! prefix is a secret in clear, written by an earlier version or by a platform without an
//! attachment store (hence without keys); it is still read, and sealed by the server at
//! start and by `consilium keys rotate`.

use crate::audit::{self, NewEntry};
use crate::db::Tx;
use crate::kernel::{Error, Result};
use crate::platform::{Ctx, Platform};
use crate::run;
use std::collections::BTreeSet;

const SEALED: &str = "kek1:";

/// Secrets resealed per transaction.
const BATCH: usize = 200;

/// What a sealed secret is for (part of what it is bound to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A professional's TOTP secret (owner: the professional).
    Totp,
    /// A webhook's HMAC signing secret (owner: the webhook).
    Webhook,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Totp => "totp-secret",
            Purpose::Webhook => "webhook-secret",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Purpose::Totp => "TOTP secret",
            Purpose::Webhook => "webhook secret",
        }
    }
    /// Where these secrets are stored: the table and its owner column (the secret is in
    /// its `secret` column).
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Purpose::Totp => ("totp_credentials", "professional_id"),
            Purpose::Webhook => ("webhooks", "id"),
        }
    }
    /// The audit action of a reseal batch, and the name of its count.
    fn reseal_audit(self) -> (&'static str, &'static str) {
        match self {
            Purpose::Totp => ("keys.reseal_totp", "totp_secrets"),
            Purpose::Webhook => ("keys.reseal_webhooks", "webhook_secrets"),
        }
    }
}

/// Every stored secret of a purpose: (owner, stored value).
async fn stored_secrets(tx: &mut Tx, purpose: Purpose) -> Result<Vec<(String, String)>> {
    let (table, owner) = purpose.table();
    let sql = format!("SELECT {owner}, secret FROM {table} ORDER BY {owner}");
    Ok(run!(tx, |c| sqlx::query_as::<_, (String, String)>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .fetch_all(c)
    .await)?)
}

/// Replaces a stored secret by `new`, only if it is still `old` (not changed meanwhile by
/// a new enrolment or a rotation). True when replaced.
pub async fn replace_stored(
    tx: &mut Tx,
    purpose: Purpose,
    owner_id: &str,
    old: &str,
    new: &str,
) -> Result<bool> {
    let (table, owner) = purpose.table();
    let sql = format!("UPDATE {table} SET secret = $3 WHERE {owner} = $1 AND secret = $2");
    let n = run!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(owner_id)
        .bind(old)
        .bind(new)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// The associated data a secret is sealed with.
pub fn context(purpose: Purpose, owner_id: &str, kek_id: &str) -> String {
    format!(
        "consilium/{}/v1\u{1f}{owner_id}\u{1f}{kek_id}",
        purpose.name()
    )
}

/// The key id a stored secret is sealed with (`None`: in clear).
pub fn sealed_with(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(SEALED)
        .and_then(|rest| rest.split_once(':'))
        .map(|(id, _)| id)
}

impl Platform {
    /// The form of a secret to store: sealed with the current key when there is one, in
    /// clear on a platform without keys.
    pub fn seal_secret(&self, purpose: Purpose, owner_id: &str, secret: &str) -> String {
        match self.attachments.as_deref() {
            Some(a) => {
                let (id, k) = a.current_kek();
                let sealed = k.seal(secret.as_bytes(), &context(purpose, owner_id, &id));
                format!("{SEALED}{id}:{sealed}")
            }
            None => secret.to_string(),
        }
    }

    /// The secret a stored value holds (sealed or, from before, in clear). A value sealed
    /// for another owner or purpose, under a key the platform does not have, or altered,
    /// is an error (never the secret of someone else).
    pub fn open_secret(&self, purpose: Purpose, owner_id: &str, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        let (id, sealed) = rest
            .split_once(':')
            .ok_or_else(|| Error::internal(format!("malformed sealed {}", purpose.label())))?;
        let a = self.attachments.as_deref().ok_or_else(|| {
            Error::Unavailable(format!(
                "{}s are sealed but no key is configured",
                purpose.label()
            ))
        })?;
        let plain = a
            .kek(id)?
            .open(sealed, &context(purpose, owner_id, id))
            .map_err(|e| Error::internal(format!("{} of {owner_id}: {e}", purpose.label())))?;
        String::from_utf8(plain).map_err(Error::internal)
    }

    /// Seals every secret of a purpose that is in clear or sealed with another key than
    /// the current one, in small audited transactions; a secret changed meanwhile is left
    /// as it is. A secret that does not open (its key is gone): a TOTP secret stops the
    /// reseal (an error: no one could sign in with it); a webhook secret is left as it is
    /// with a warning (its deliveries fail until the key is back or the secret is rotated,
    /// and the other webhooks are not held up). Returns how many were sealed. Without
    /// keys, does nothing.
    pub async fn reseal_secrets(&self, ctx: &Ctx, purpose: Purpose) -> Result<u64> {
        let Some(a) = self.attachments.as_deref() else {
            return Ok(0);
        };
        let (current, _) = a.current_kek();
        let (action, count) = purpose.reseal_audit();
        let mut tx = self.read().await?;
        let rows = stored_secrets(&mut tx, purpose).await?;
        tx.rollback().await?;
        let stale: Vec<(String, String)> = rows
            .into_iter()
            .filter(|(_, s)| sealed_with(s) != Some(current.as_str()))
            .collect();
        let mut done = 0u64;
        for batch in stale.chunks(BATCH) {
            let mut tx = self.db.begin().await?;
            let mut n = 0u64;
            for (owner, stored) in batch {
                let secret = match self.open_secret(purpose, owner, stored) {
                    Ok(s) => s,
                    Err(e) if purpose == Purpose::Webhook => {
                        tracing::warn!(webhook = %owner, error = %e, "webhook secret left as it is");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let sealed = self.seal_secret(purpose, owner, &secret);
                if replace_stored(&mut tx, purpose, owner, stored, &sealed).await? {
                    n += 1;
                }
            }
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[
                    NewEntry::success(action, "key", &current)
                        .with(serde_json::json!({ count: n })),
                ],
            )
            .await?;
            tx.commit().await?;
            done += n;
        }
        Ok(done)
    }

    /// The key ids the secrets of a purpose are sealed with (a key still in this list is
    /// not retired).
    pub async fn sealing_key_ids(&self, purpose: Purpose) -> Result<BTreeSet<String>> {
        let mut tx = self.read().await?;
        let rows = stored_secrets(&mut tx, purpose).await?;
        tx.rollback().await?;
        Ok(rows
            .iter()
            .filter_map(|(_, s)| sealed_with(s).map(str::to_string))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachments::crypto::Key;

    #[test]
    fn sealed_secrets_name_their_key() {
        assert_eq!(sealed_with("kek1:k-2024:AAAA"), Some("k-2024"));
        assert_eq!(sealed_with("JBSWY3DPEHPK3PXP"), None);
        assert_eq!(sealed_with("whsec_0123"), None);
        assert_eq!(sealed_with("kek1:nocolon"), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_purpose_and_key() {
        let k = Key::random();
        let ctx = context(Purpose::Webhook, "w1", "k1");
        let s = k.seal(b"whsec_abc", &ctx);
        assert!(!s.contains("whsec_abc"));
        assert_eq!(k.open(&s, &ctx).unwrap(), b"whsec_abc".to_vec());
        assert!(k.open(&s, &context(Purpose::Webhook, "w2", "k1")).is_err());
        assert!(k.open(&s, &context(Purpose::Totp, "w1", "k1")).is_err());
        assert!(k.open(&s, &context(Purpose::Webhook, "w1", "k2")).is_err());
        assert!(Key::random().open(&s, &ctx).is_err());
    }

    #[test]
    fn the_totp_context_is_the_one_stored_secrets_were_sealed_with() {
        // Changing it would make every sealed TOTP secret unreadable.
        assert_eq!(
            context(Purpose::Totp, "p1", "k1"),
            "consilium/totp-secret/v1\u{1f}p1\u{1f}k1"
        );
    }
}
