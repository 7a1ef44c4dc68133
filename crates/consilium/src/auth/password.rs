//! Argon2id password hashing, parameters from the configuration. Hashing runs on the
//! blocking pool: it takes tens of milliseconds of CPU on purpose.

use crate::kernel::{Error, Result};
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Params {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's first recommended Argon2id setting: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password with the same parameters: verifying against it for an
    /// unknown account costs what a real verification costs (no timing oracle). Made at
    /// the first sign-in that needs it, not at start: hashing takes the Argon2 memory
    /// (19 MiB by default), which the allocator keeps, so an idle server that no one has
    /// signed in to stays small. Shared by the clones.
    dummy: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("m", &self.params.m_cost())
            .field("t", &self.params.t_cost())
            .field("p", &self.params.p_cost())
            .finish()
    }
}

impl Hasher {
    pub fn new(p: Argon2Params) -> Result<Self> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| Error::Internal(format!("invalid Argon2 parameters: {e}")))?;
        Ok(Self {
            params,
            dummy: Arc::new(OnceLock::new()),
        })
    }

    /// The dummy hash, made on first use.
    fn dummy(&self) -> &str {
        self.dummy.get_or_init(|| {
            // The parameters were checked by `new`, so hashing cannot fail; were it to,
            // an empty hash never matches (and unknown accounts would answer faster).
            self.hash_now(&crate::auth::generate_token())
                .unwrap_or_default()
        })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes on the calling thread (use [`Hasher::hash`] from async code).
    pub fn hash_now(&self, password: &str) -> Result<String> {
        self.argon()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    }

    /// Verifies on the calling thread. A malformed stored hash never matches.
    pub fn verify_now(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(h) => self
                .argon()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// True when the stored hash was made with other parameters (rehash at sign-in).
    pub fn outdated(&self, stored: &str) -> bool {
        let Ok(h) = PasswordHash::new(stored) else {
            return true;
        };
        let get = |k: &str| h.params.get_decimal(k);
        h.algorithm.as_str() != "argon2id"
            || get("m") != Some(self.params.m_cost())
            || get("t") != Some(self.params.t_cost())
            || get("p") != Some(self.params.p_cost())
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        let h = self.clone();
        tokio::task::spawn_blocking(move || h.hash_now(&password))
            .await
            .map_err(Error::internal)?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// stored hash (unknown account): the same work either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let h = self.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(s) => h.verify_now(&password, &s),
            None => {
                let _ = h.verify_now(&password, h.dummy());
                false
            }
        })
        .await
        .map_err(Error::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_detect_outdated_parameters() {
        let small = Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let h = Hasher::new(small).expect("params");
        let stored = h.hash_now("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify_now("correct horse battery", &stored));
        assert!(!h.verify_now("correct horse batterY", &stored));
        assert!(!h.verify_now("x", "not a hash"));
        assert!(!h.outdated(&stored));
        let bigger = Hasher::new(Argon2Params {
            memory_kib: 128,
            ..small
        })
        .expect("params");
        assert!(bigger.outdated(&stored));
        // Verification uses the parameters stored with the hash.
        assert!(bigger.verify_now("correct horse battery", &stored));
    }

    #[tokio::test]
    async fn unknown_accounts_verify_against_a_dummy_made_on_first_use() {
        let h = Hasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params");
        let clone = h.clone();
        assert!(h.dummy.get().is_none(), "no hashing at construction");
        assert!(!h.verify("anything".into(), None).await.expect("verify"));
        let dummy = h
            .dummy
            .get()
            .expect("made by the first unknown account")
            .clone();
        assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{dummy}");
        assert!(!h.outdated(&dummy), "same parameters: the same work");
        assert_eq!(clone.dummy(), dummy, "shared by the clones");
        assert!(!clone.verify("anything".into(), None).await.expect("verify"));
    }
}
