//! TOTP secrets at rest, sealed as `crate::sealing` describes (bound to the professional
//! and the key id): a database copy without the key file reveals no secret, and a sealed
//! secret moved to another account does not open. Secrets stored in clear before this (or
//! on a platform without an attachment store, hence without keys) are still read, and
//! sealed by the server at start and by `consilium keys rotate`, which also reseals those
//! of older keys.

use super::repo;
use crate::audit::{self, NewEntry};
use crate::kernel::Result;
use crate::platform::{Ctx, Platform};
use crate::sealing::Purpose;
use std::collections::BTreeSet;

/// Secrets resealed per transaction.
const BATCH: usize = 200;

pub use crate::sealing::sealed_with;

impl Platform {
    /// The form of a TOTP secret to store: sealed with the current key when there is one.
    pub(crate) fn seal_totp_secret(&self, professional_id: &str, secret_b32: &str) -> String {
        self.seal_secret(Purpose::Totp, professional_id, secret_b32)
    }

    /// The base32 secret of a stored TOTP secret (sealed or, from before, in clear).
    pub fn open_totp_secret(&self, professional_id: &str, stored: &str) -> Result<String> {
        self.open_secret(Purpose::Totp, professional_id, stored)
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

    fn context(professional_id: &str, kek_id: &str) -> String {
        crate::sealing::context(Purpose::Totp, professional_id, kek_id)
    }

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
