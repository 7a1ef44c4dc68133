//! WebAuthn passkeys as a second factor (webauthn-rs). A passkey is enrolled instead of, or
//! besides, a TOTP application: at the enrolment stage (it then completes the sign-in), or
//! later from a signed-in session. At the second-factor stage a passkey assertion does what
//! a TOTP code does. Passkeys always require user verification (fingerprint, face, PIN).
//!
//! Each ceremony has two requests: `start` returns the options for
//! `navigator.credentials.create()/get()` and stores what the answer must match (the
//! challenge) in `webauthn_ceremonies`, keyed by the session, so that any instance can
//! finish it; `finish` takes that state once and verifies the browser's answer. Failures
//! are throttled with the TOTP codes (same per-account and per-address budgets) and every
//! outcome is in the audit chain.
//!
//! The relying party is this server's public origin (`public_url`); a server without one
//! that listens on loopback uses `http://localhost:<port>`. WebAuthn needs a domain name:
//! a `public_url` with an IP address leaves passkeys off.

use super::model::{self, Stage, ThrottlePolicy};
use super::service::{ClientInfo, IssuedSession, SessionInfo};
use super::{hash_token, repo};
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::Tx;
use crate::kernel::time::MICROS_PER_SECOND;
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, Platform};
use serde::Serialize;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long a ceremony may take between its two requests (the browser's own timeout is 5
/// minutes; a little more for the network).
const CEREMONY_MAX_AGE: i64 = 6 * 60 * MICROS_PER_SECOND;
/// Passkeys one account may register.
pub const MAX_PASSKEYS: usize = 10;
/// Longest label, in characters.
const MAX_LABEL: usize = 60;
/// Namespace of the WebAuthn user handles: a UUID v5 of the professional's id, so the
/// authenticator stores no identifier of ours in clear and the handle never changes.
const USER_HANDLE_NS: Uuid = Uuid::from_u128(0x6c0b_1f4e_9a57_4d3b_8e21_5f0c_c0a1_7a11);

/// The relying party: this server's origin and WebAuthn id.
pub struct PasskeySettings {
    pub webauthn: Webauthn,
    /// The WebAuthn relying-party id (the host name).
    pub rp_id: String,
    /// The origin browsers must be on (`https://consilium.example.org`).
    pub origin: String,
}

impl std::fmt::Debug for PasskeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeySettings")
            .field("rp_id", &self.rp_id)
            .field("origin", &self.origin)
            .finish()
    }
}

impl PasskeySettings {
    /// For an origin (`public_url`). Fails when its host is not a domain name (WebAuthn
    /// does not accept IP addresses).
    pub fn for_origin(origin: &str) -> std::result::Result<Self, String> {
        let url = Url::parse(origin.trim_end_matches('/'))
            .map_err(|e| format!("'{origin}' is not a URL: {e}"))?;
        let rp_id = url
            .domain()
            .ok_or_else(|| {
                format!("passkeys need a domain name in public_url, not an address ('{origin}')")
            })?
            .to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, &url)
            .and_then(|b| b.rp_name("Consilium").build())
            .map_err(|e| format!("WebAuthn settings for '{origin}': {e}"))?;
        Ok(Self {
            webauthn,
            rp_id,
            origin: url.origin().ascii_serialization(),
        })
    }

    /// Where a server without `public_url` is reached on its own machine.
    pub fn for_loopback(port: u16) -> std::result::Result<Self, String> {
        Self::for_origin(&format!("http://localhost:{port}"))
    }
}

/// A registered passkey, as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyView {
    pub id: String,
    pub label: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// The second factors an account has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: usize,
}

/// The throttling key of an account's second-factor attempts (codes and passkeys alike).
pub fn second_factor_key(professional_id: &str) -> String {
    format!("2fa:{professional_id}")
}

fn stored_passkey(row: &repo::PasskeyRow) -> Result<Passkey> {
    serde_json::from_str(&row.credential)
        .map_err(|e| Error::internal(format!("stored passkey {} unreadable: {e}", row.id)))
}

fn credential_id_b64(pk: &Passkey) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pk.cred_id().as_slice())
}

fn clean_label(label: &str) -> Result<String> {
    let label = label.trim();
    if label.chars().count() > MAX_LABEL {
        return Err(Error::invalid(
            "label",
            format!("at most {MAX_LABEL} characters"),
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::invalid("label", "no control characters"));
    }
    Ok(if label.is_empty() {
        "Clé d'accès".to_string()
    } else {
        label.to_string()
    })
}

impl Platform {
    /// The relying party, when passkeys are available on this server.
    pub fn passkey_settings(&self) -> Option<&PasskeySettings> {
        self.auth.passkeys.as_deref()
    }

    fn passkeys_on(&self) -> Result<&PasskeySettings> {
        self.passkey_settings().ok_or_else(|| {
            Error::conflict(
                "passkeys are not available on this server (public_url needs a domain name)",
                None,
            )
        })
    }

    pub(crate) async fn factors_of(&self, tx: &mut Tx, professional_id: &str) -> Result<Factors> {
        let totp = repo::totp_get(tx, professional_id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let passkeys = repo::passkeys_of(tx, professional_id).await?.len();
        Ok(Factors { totp, passkeys })
    }

    /// The second factors of the session's owner (which forms the second-factor page shows).
    pub async fn second_factors(&self, session: &SessionInfo) -> Result<Factors> {
        let me = session.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.read().await?;
        let f = self.factors_of(&mut tx, me).await?;
        tx.rollback().await?;
        Ok(f)
    }

    fn second_factor_keys(&self, me: &str, client: &ClientInfo) -> [(String, ThrottlePolicy); 2] {
        [
            (second_factor_key(me), self.auth.per_account),
            (format!("addr:{}", client.address), self.auth.per_address),
        ]
    }

    /// Options for `navigator.credentials.create()`: a new passkey for the session's owner.
    /// At the enrolment stage, or signed in (to add one); not half-way through a sign-in.
    pub async fn passkey_register_start(&self, session: &SessionInfo) -> Result<serde_json::Value> {
        let rp = self.passkeys_on()?;
        let me = session.actor.id().ok_or(Error::Unauthenticated)?;
        if session.stage == Stage::SecondFactor {
            return Err(Error::Forbidden(
                "finish signing in before adding a passkey".into(),
            ));
        }
        let mut tx = self.db.begin().await?;
        let existing = repo::passkeys_of(&mut tx, me).await?;
        if existing.len() >= MAX_PASSKEYS {
            tx.rollback().await?;
            return Err(Error::conflict(
                format!("at most {MAX_PASSKEYS} passkeys per account: delete one first"),
                None,
            ));
        }
        let exclude = existing
            .iter()
            .map(|r| stored_passkey(r).map(|p| p.cred_id().clone()))
            .collect::<Result<Vec<_>>>()?;
        let name = session.actor.label();
        let (options, state) = rp
            .webauthn
            .start_passkey_registration(
                Uuid::new_v5(&USER_HANDLE_NS, me.as_bytes()),
                &name,
                &name,
                Some(exclude),
            )
            .map_err(Error::internal)?;
        self.keep_ceremony(tx, session, "register", &state, &options)
            .await
    }

    /// Verifies the browser's answer to `passkey_register_start` and stores the passkey. At
    /// the enrolment stage this completes the sign-in: the session moves to `full` under a
    /// new token, returned here.
    pub async fn passkey_register_finish(
        &self,
        session: &SessionInfo,
        label: &str,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<Option<IssuedSession>> {
        let rp = self.passkeys_on()?;
        let me = session
            .actor
            .id()
            .ok_or(Error::Unauthenticated)?
            .to_string();
        if session.stage == Stage::SecondFactor {
            return Err(Error::Forbidden(
                "finish signing in before adding a passkey".into(),
            ));
        }
        let label = clean_label(label)?;
        let keys = self.second_factor_keys(&me, client);
        let keys: Vec<(&str, &ThrottlePolicy)> =
            keys.iter().map(|(k, p)| (k.as_str(), p)).collect();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if let Some(retry_after) = self.throttled_keys(&mut tx, &keys).await? {
            audit::append(
                &mut tx,
                now,
                &session.actor,
                &[NewEntry::denied("auth.passkey_enrol", "professional", &me)
                    .with(serde_json::json!({"why": "throttled"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        let state = repo::ceremony_take(
            &mut tx,
            &session.id,
            "register",
            now.micros() - CEREMONY_MAX_AGE,
        )
        .await?;
        let verified = match (
            state,
            serde_json::from_value::<RegisterPublicKeyCredential>(credential),
        ) {
            (None, _) => Err("no registration in progress (it may have expired)".to_string()),
            (Some(_), Err(e)) => Err(format!("not a WebAuthn registration response: {e}")),
            (Some(s), Ok(reg)) => serde_json::from_str::<PasskeyRegistration>(&s)
                .map_err(|e| format!("stored ceremony unreadable: {e}"))
                .and_then(|state| {
                    rp.webauthn
                        .finish_passkey_registration(&reg, &state)
                        .map_err(|e| format!("registration refused: {e}"))
                }),
        };
        let passkey = match verified {
            Ok(p) => p,
            Err(why) => {
                self.count_attempt(&mut tx, &keys).await?;
                audit::append(
                    &mut tx,
                    now,
                    &session.actor,
                    &[NewEntry::denied("auth.passkey_enrol", "professional", &me)
                        .with(serde_json::json!({"why": why}))],
                )
                .await?;
                tx.commit().await?;
                return Err(Error::invalid("credential", why));
            }
        };
        let row = repo::PasskeyRow {
            id: new_id(),
            professional_id: me.clone(),
            credential_id: credential_id_b64(&passkey),
            label,
            credential: serde_json::to_string(&passkey).map_err(Error::internal)?,
            created_at: now.micros(),
            last_used_at: None,
        };
        if !repo::passkey_insert(&mut tx, &row).await? {
            audit::append(
                &mut tx,
                now,
                &session.actor,
                &[NewEntry::denied("auth.passkey_enrol", "professional", &me)
                    .with(serde_json::json!({"why": "credential already registered"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::conflict("this passkey is already registered", None));
        }
        let mut entries = vec![
            NewEntry::success("auth.passkey_enrol", "passkey", &row.id)
                .with(serde_json::json!({"professional": me})),
        ];
        let issued = if session.stage == Stage::Enrol {
            repo::throttle_clear(&mut tx, &second_factor_key(&me)).await?;
            entries.push(
                NewEntry::success("auth.second_factor", "professional", &me)
                    .with(serde_json::json!({"method": "passkey"})),
            );
            Some(
                self.promote_session(&mut tx, session, "passkey", now)
                    .await?,
            )
        } else {
            None
        };
        audit::append(&mut tx, now, &session.actor, &entries).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Options for `navigator.credentials.get()`, at the second-factor stage: any of the
    /// owner's passkeys will do.
    pub async fn passkey_login_start(&self, session: &SessionInfo) -> Result<serde_json::Value> {
        let rp = self.passkeys_on()?;
        let me = session.actor.id().ok_or(Error::Unauthenticated)?;
        match session.stage {
            Stage::SecondFactor => {}
            Stage::Full => return Err(Error::conflict("already signed in", None)),
            Stage::Enrol => {
                return Err(Error::Forbidden("enrol a second factor first".into()));
            }
        }
        let mut tx = self.db.begin().await?;
        let rows = repo::passkeys_of(&mut tx, me).await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Err(Error::conflict(
                "no passkey is registered for this account",
                None,
            ));
        }
        let passkeys = rows
            .iter()
            .map(stored_passkey)
            .collect::<Result<Vec<_>>>()?;
        let (options, state) = rp
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(Error::internal)?;
        self.keep_ceremony(tx, session, "authenticate", &state, &options)
            .await
    }

    /// Verifies a passkey assertion for a session waiting for its second factor. The
    /// challenge is used once; the credential must be one of the owner's; its signature
    /// counter must move forward (a cloned authenticator is refused). On success the
    /// session moves to `full` under a new token.
    pub async fn passkey_login_finish(
        &self,
        session: &SessionInfo,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        let rp = self.passkeys_on()?;
        let me = session
            .actor
            .id()
            .ok_or(Error::Unauthenticated)?
            .to_string();
        if session.stage != Stage::SecondFactor {
            return Err(Error::conflict("no second factor is expected", None));
        }
        let keys = self.second_factor_keys(&me, client);
        let keys: Vec<(&str, &ThrottlePolicy)> =
            keys.iter().map(|(k, p)| (k.as_str(), p)).collect();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if let Some(retry_after) = self.throttled_keys(&mut tx, &keys).await? {
            audit::append(
                &mut tx,
                now,
                &session.actor,
                &[NewEntry::denied("auth.second_factor", "professional", &me)
                    .with(serde_json::json!({"why": "throttled", "method": "passkey"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        let state = repo::ceremony_take(
            &mut tx,
            &session.id,
            "authenticate",
            now.micros() - CEREMONY_MAX_AGE,
        )
        .await?;
        let rows = repo::passkeys_of(&mut tx, &me).await?;
        let verified = match (
            state,
            serde_json::from_value::<PublicKeyCredential>(credential),
        ) {
            (None, _) => Err("no passkey sign-in in progress (it may have expired)".to_string()),
            (Some(_), Err(e)) => Err(format!("not a WebAuthn assertion: {e}")),
            (Some(s), Ok(cred)) => serde_json::from_str::<PasskeyAuthentication>(&s)
                .map_err(|e| format!("stored ceremony unreadable: {e}"))
                .and_then(|state| {
                    rp.webauthn
                        .finish_passkey_authentication(&cred, &state)
                        .map_err(|e| format!("assertion refused: {e}"))
                }),
        };
        // The credential that signed, among the owner's (webauthn-rs only accepts those it
        // was started with, which were the owner's).
        let used = match verified {
            Ok(result) => {
                let mut found = None;
                for r in &rows {
                    let mut pk = stored_passkey(r)?;
                    if pk.cred_id() == result.cred_id() {
                        pk.update_credential(&result);
                        found = Some((r.id.clone(), pk));
                        break;
                    }
                }
                found.ok_or_else(|| "credential is not one of this account's".to_string())
            }
            Err(why) => Err(why),
        };
        let (passkey_id, updated) = match used {
            Ok(x) => x,
            Err(why) => {
                self.count_attempt(&mut tx, &keys).await?;
                audit::append(
                    &mut tx,
                    now,
                    &session.actor,
                    &[NewEntry::denied("auth.second_factor", "professional", &me)
                        .with(serde_json::json!({"why": why, "method": "passkey"}))],
                )
                .await?;
                tx.commit().await?;
                return Err(Error::Unauthenticated);
            }
        };
        repo::passkey_used(
            &mut tx,
            &passkey_id,
            &serde_json::to_string(&updated).map_err(Error::internal)?,
            now.micros(),
        )
        .await?;
        repo::throttle_clear(&mut tx, &second_factor_key(&me)).await?;
        let issued = self
            .promote_session(&mut tx, session, "passkey", now)
            .await?;
        audit::append(
            &mut tx,
            now,
            &session.actor,
            &[NewEntry::success("auth.second_factor", "professional", &me)
                .with(serde_json::json!({"method": "passkey", "passkey": passkey_id}))],
        )
        .await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// The caller's passkeys.
    pub async fn list_passkeys(&self, ctx: &Ctx) -> Result<Vec<PasskeyView>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.read().await?;
        let rows = repo::passkeys_of(&mut tx, me).await?;
        tx.rollback().await?;
        Ok(rows
            .into_iter()
            .map(|r| PasskeyView {
                id: r.id,
                label: r.label,
                created_at: Timestamp(r.created_at),
                last_used_at: r.last_used_at.map(Timestamp),
            })
            .collect())
    }

    /// Deletes one of the caller's passkeys. Someone else's is not found (and audited). The
    /// last second factor of an account whose role requires one is kept: add another first.
    pub async fn delete_passkey(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        let row = repo::passkey_by_id(&mut tx, id).await?;
        let Some(row) = row.filter(|r| r.professional_id == me) else {
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::denied("auth.passkey_delete", "passkey", id)
                    .with(serde_json::json!({"why": "not found or not the caller's"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::NotFound);
        };
        let f = self.factors_of(&mut tx, me).await?;
        if !f.totp && f.passkeys <= 1 && self.second_factor_required_for(&mut tx, me).await? {
            tx.rollback().await?;
            return Err(Error::conflict(
                "this is your only second factor and your role requires one: add another first",
                None,
            ));
        }
        repo::passkey_delete(&mut tx, &row.id, me).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("auth.passkey_delete", "passkey", &row.id)],
        )
        .await?;
        tx.commit().await
    }

    async fn second_factor_required_for(&self, tx: &mut Tx, id: &str) -> Result<bool> {
        let Some(pro) = crate::directory::repo::get_professional(tx, id).await? else {
            return Err(Error::NotFound);
        };
        let (is_admin, org_requires) = repo::second_factor_facts(tx, id).await?;
        Ok(model::second_factor_required(
            codes::may_be_expert(&pro.profession),
            is_admin,
            org_requires,
        ))
    }

    /// Stores a ceremony's state for the session (commits `tx`) and returns the options to
    /// send to the browser.
    async fn keep_ceremony(
        &self,
        mut tx: Tx,
        session: &SessionInfo,
        kind: &str,
        state: &impl Serialize,
        options: &impl Serialize,
    ) -> Result<serde_json::Value> {
        let now = self.now().micros();
        repo::ceremony_put(
            &mut tx,
            &session.id,
            kind,
            &serde_json::to_string(state).map_err(Error::internal)?,
            now,
            now - CEREMONY_MAX_AGE,
        )
        .await?;
        tx.commit().await?;
        serde_json::to_value(options).map_err(Error::internal)
    }

    /// Moves a session past its second factor: stage `full`, a new token and CSRF token,
    /// the method extended with the factor used.
    pub(crate) async fn promote_session(
        &self,
        tx: &mut Tx,
        session: &SessionInfo,
        factor: &str,
        now: Timestamp,
    ) -> Result<IssuedSession> {
        let token = format!(
            "{}{}",
            super::service::SESSION_PREFIX,
            super::service::random_b64(32)
        );
        let csrf = super::service::random_b64(32);
        repo::rotate_session(
            tx,
            &session.id,
            &hash_token(&token),
            &csrf,
            Stage::Full.as_str(),
            &format!("{}+{factor}", session.method),
            now.micros(),
            now.micros() + self.auth.lifetimes.absolute,
        )
        .await?;
        Ok(IssuedSession {
            token,
            stage: Stage::Full,
            csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_needs_a_domain_name() {
        let rp = PasskeySettings::for_origin("https://consilium.example.org/").unwrap();
        assert_eq!(rp.rp_id, "consilium.example.org");
        assert_eq!(rp.origin, "https://consilium.example.org");
        let local = PasskeySettings::for_loopback(8080).unwrap();
        assert_eq!(local.origin, "http://localhost:8080");
        assert!(PasskeySettings::for_origin("http://127.0.0.1:8080").is_err());
        assert!(PasskeySettings::for_origin("https://[::1]:8443").is_err());
        assert!(PasskeySettings::for_origin("not a url").is_err());
    }

    #[test]
    fn labels_are_trimmed_bounded_and_defaulted() {
        assert_eq!(clean_label("  Téléphone  ").unwrap(), "Téléphone");
        assert_eq!(clean_label("").unwrap(), "Clé d'accès");
        assert!(clean_label(&"x".repeat(61)).is_err());
        assert!(clean_label("a\u{7}b").is_err());
    }

    #[test]
    fn user_handles_are_stable_and_distinct() {
        let a = Uuid::new_v5(&USER_HANDLE_NS, b"p1");
        assert_eq!(a, Uuid::new_v5(&USER_HANDLE_NS, b"p1"));
        assert_ne!(a, Uuid::new_v5(&USER_HANDLE_NS, b"p2"));
    }
}
