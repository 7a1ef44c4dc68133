//! Short secrets at rest (TOTP secrets, webhook signing secrets): sealed with the
//! key-encryption key that wraps the case keys (the key file or `CONSILIUM_MASTER_KEYS`),
//! XChaCha20-Poly1305 with associated data naming what the secret is for, its owner's id
//! and the key id. Stored as `kek1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`: a
//! database copy without the key file reveals no secret, and a sealed secret moved to
//! another owner (or used for another purpose) does not open. A stored value without the
//! prefix is a secret in clear, written by an earlier version or by a platform without an
//! attachment store (hence without keys); it is still read, and sealed by the server at
//! start and by `consilium keys rotate`.

use crate::kernel::{Error, Result};
use crate::platform::Platform;

const SEALED: &str = "kek1:";

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
