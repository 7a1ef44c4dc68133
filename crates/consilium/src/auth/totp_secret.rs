//! TOTP secrets at rest, sealed as `crate::sealing` describes (bound to the professional
//! and the key id): a database copy without the key file reveals no secret, and a sealed
//! secret moved to another account does not open. Secrets stored in clear before this (or
//! on a platform without an attachment store, hence without keys) are still read, and
//! sealed by the server at start and by `consilium keys rotate`, which also reseals those
//! of older keys.

use crate::kernel::Result;
use crate::platform::{Ctx, Platform};
use crate::sealing::Purpose;
use std::collections::BTreeSet;

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

    /// Seals every TOTP secret in clear or under an older key (see
    /// [`Platform::reseal_secrets`]). Returns how many were sealed.
    pub async fn reseal_totp_secrets(&self, ctx: &Ctx) -> Result<u64> {
        self.reseal_secrets(ctx, Purpose::Totp).await
    }

    /// The key ids TOTP secrets are sealed with (a key still in this list is not retired).
    pub async fn totp_key_ids(&self) -> Result<BTreeSet<String>> {
        self.sealing_key_ids(Purpose::Totp).await
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
