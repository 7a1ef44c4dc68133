//! TOTP secrets at rest: sealed with the key-encryption key that wraps the case keys (the
//! key file or `CONSILIUM_MASTER_KEYS`), XChaCha20-Poly1305 bound to the professional and
//! the key id. Stored as `kek1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`; a database
//! copy without the key file reveals no secret, and a sealed secret moved to another
//! account does not open. Secrets stored in clear before this (or on a platform without
//! an attachment store, hence without keys) are still read, and sealed by the server at
//! start and by `consilium keys rotate`, which also reseals those of older keys.

use super::repo;
use crate::audit::{self, NewEntry};
use crate::kernel::{Error, Result};
use crate::platform::{Ctx, Platform};
use std::collections::BTreeSet;

const SEALED: &str = "kek1:";
/// Secrets resealed per transaction.
const BATCH: usize = 200;

fn context(professional_id: &str, kek_id: &str) -> String {
    format!("consilium/totp-secret/v1\u{1f}{professional_id}\u{1f}{kek_id}")
}

/// The key id a stored secret is sealed with (`None`: in clear).
pub fn sealed_with(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(SEALED)
        .and_then(|rest| rest.split_once(':'))
        .map(|(id, _)| id)
}

impl Platform {
    /// The form of a TOTP secret to store: sealed with the current key when there is one.
    pub(crate) fn seal_totp_secret(&self, professional_id: &str, secret_b32: &str) -> String {
        match self.attachments.as_deref() {
            Some(a) => {
                let (id, k) = a.current_kek();
                let sealed = k.seal(secret_b32.as_bytes(), &context(professional_id, &id));
                format!("{SEALED}{id}:{sealed}")
            }
            None => secret_b32.to_string(),
        }
    }

    /// The base32 secret of a stored TOTP secret (sealed or, from before, in clear).
    pub(crate) fn open_totp_secret(&self, professional_id: &str, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        let (id, sealed) = rest
            .split_once(':')
            .ok_or_else(|| Error::internal("malformed sealed TOTP secret"))?;
        let a = self.attachments.as_deref().ok_or_else(|| {
            Error::Unavailable("TOTP secrets are sealed but no key is configured".into())
        })?;
        let plain = a
            .kek(id)?
            .open(sealed, &context(professional_id, id))
            .map_err(|e| Error::internal(format!("TOTP secret of {professional_id}: {e}")))?;
        String::from_utf8(plain).map_err(Error::internal)
    }

    /// Seals every TOTP secret that is in clear or sealed with another key than the current
    /// one, in small transactions; a secret changed meanwhile (a new enrolment) is left as
    /// it is. Returns how many were sealed. Without keys, does nothing.
    pub async fn reseal_totp_secrets(&self, ctx: &Ctx) -> Result<u64> {
        let Some(a) = self.attachments.as_deref() else {
            return Ok(0);
        };
        let (current, _) = a.current_kek();
        let mut tx = self.read().await?;
        let rows = repo::totp_secrets(&mut tx).await?;
        tx.rollback().await?;
        let stale: Vec<(String, String)> = rows
            .into_iter()
            .filter(|(_, s)| sealed_with(s) != Some(current.as_str()))
            .collect();
        let mut done = 0u64;
        for batch in stale.chunks(BATCH) {
            let mut tx = self.db.begin().await?;
            let mut n = 0u64;
            for (pid, stored) in batch {
                let secret = self.open_totp_secret(pid, stored)?;
                let sealed = self.seal_totp_secret(pid, &secret);
                if repo::totp_replace_secret(&mut tx, pid, stored, &sealed).await? {
                    n += 1;
                }
            }
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::success("keys.reseal_totp", "key", &current)
                    .with(serde_json::json!({"totp_secrets": n}))],
            )
            .await?;
            tx.commit().await?;
            done += n;
        }
        Ok(done)
    }

    /// The key ids TOTP secrets are sealed with (a key still in this list is not retired).
    pub async fn totp_key_ids(&self) -> Result<BTreeSet<String>> {
        let mut tx = self.read().await?;
        let rows = repo::totp_secrets(&mut tx).await?;
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

    #[test]
    fn sealed_secrets_name_their_key() {
        assert_eq!(sealed_with("kek1:k-2024:AAAA"), Some("k-2024"));
        assert_eq!(sealed_with("JBSWY3DPEHPK3PXP"), None);
        assert_eq!(sealed_with("kek1:nocolon"), None);
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_key() {
        let k = crate::attachments::crypto::Key::random();
        let s = k.seal(b"JBSWY3DPEHPK3PXP", &context("p1", "k1"));
        assert!(!s.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            k.open(&s, &context("p1", "k1")).unwrap(),
            b"JBSWY3DPEHPK3PXP".to_vec()
        );
        assert!(
            k.open(&s, &context("p2", "k1")).is_err(),
            "moved to another account"
        );
        assert!(k.open(&s, &context("p1", "k2")).is_err());
        let other = crate::attachments::crypto::Key::random();
        assert!(other.open(&s, &context("p1", "k1")).is_err());
    }
}
