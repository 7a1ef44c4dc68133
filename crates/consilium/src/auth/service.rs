//! Sign-in use cases: password, second factor (TOTP), sessions, personal access tokens.
//! Every sign-in, failure, second-factor use and session end is written to the audit chain.

use super::model::{
    self, Lifetimes, Scope, SessionCheck, Stage, ThrottlePolicy, account_key, normalise_identifier,
};
use super::password::Hasher;
use super::{generate_token, hash_token, repo};
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::Tx;
use crate::kernel::actor::ProfessionalActor;
use crate::kernel::time::{MICROS_PER_DAY, MICROS_PER_SECOND};
use crate::kernel::{Actor, Error, Result, Timestamp, new_id};
use crate::platform::{Ctx, Platform};
use base64::Engine;
use rand::RngCore;
use serde::Serialize;

/// Sign-in settings, from the configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub hasher: Hasher,
    pub lifetimes: Lifetimes,
    /// Failed sign-ins per account identifier (known or not).
    pub per_account: ThrottlePolicy,
    /// Failed sign-ins and codes per client address.
    pub per_address: ThrottlePolicy,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// Sign-in with an OpenID provider (Pro Santé Connect), when configured.
    pub oidc: Option<std::sync::Arc<super::oidc::Oidc>>,
    /// WebAuthn passkeys, when this server has an origin with a domain name.
    pub passkeys: Option<std::sync::Arc<super::passkeys::PasskeySettings>>,
}

impl AuthSettings {
    pub fn new(hasher: Hasher) -> Self {
        let m = 60 * MICROS_PER_SECOND;
        Self {
            hasher,
            lifetimes: Lifetimes {
                idle: 30 * m,
                absolute: 12 * 60 * m,
                pending: 10 * m,
            },
            per_account: ThrottlePolicy {
                max_failures: 5,
                window: 15 * m,
                base_block: 30 * MICROS_PER_SECOND,
                max_block: 15 * m,
            },
            per_address: ThrottlePolicy {
                max_failures: 30,
                window: 15 * m,
                base_block: 60 * MICROS_PER_SECOND,
                max_block: 15 * m,
            },
            totp_issuer: "Consilium".into(),
            oidc: None,
            passkeys: None,
        }
    }
}

/// Where a request comes from (for throttling and the sessions list).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub address: String,
    pub user_agent: String,
}

/// A session token to set as a cookie (shown once, never stored in clear).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub stage: Stage,
    pub csrf: String,
}

/// A valid session, as checked on a request.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub actor: Actor,
    pub stage: Stage,
    pub csrf: String,
    pub method: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    /// How the session was opened, e.g. `password+totp`.
    pub method: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub address: String,
    pub user_agent: String,
    /// The session this request came with.
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub label: String,
    /// `read` (GET only) or `write`.
    pub scope: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenView,
    /// The token, shown once: only its hash is kept.
    pub token: String,
}

/// A new TOTP secret to show for enrolment.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_url: String,
}

pub const SESSION_PREFIX: &str = "css_";

pub(crate) fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn actor_of(id: &str, profession: &str, first: &str, last: &str) -> Actor {
    Actor::Professional(ProfessionalActor {
        id: id.to_string(),
        display_name: crate::directory::model::display_name(profession, first, last),
        profession: profession.to_string(),
    })
}

fn entry_login(outcome_ok: bool, object: &str) -> NewEntry {
    if outcome_ok {
        NewEntry::success("auth.login", "professional", object)
    } else {
        NewEntry::denied("auth.login", "professional", object)
    }
}

impl Platform {
    fn auth(&self) -> &AuthSettings {
        &self.auth
    }

    async fn throttled(
        &self,
        tx: &mut Tx,
        keys: &[(&str, &ThrottlePolicy)],
    ) -> Result<Option<i64>> {
        let now = self.now().micros();
        let mut wait = None;
        for (k, p) in keys {
            let s = repo::throttle_get(tx, k).await?;
            if let Some(w) = p.retry_after(s.as_ref(), now) {
                wait = Some(wait.map_or(w, |x: i64| x.max(w)));
            }
        }
        Ok(wait)
    }

    async fn record_failures(&self, tx: &mut Tx, keys: &[(&str, &ThrottlePolicy)]) -> Result<()> {
        let now = self.now().micros();
        for (k, p) in keys {
            let s = repo::throttle_get(tx, k).await?;
            repo::throttle_put(tx, k, &p.fail(s.as_ref(), now)).await?;
        }
        Ok(())
    }

    /// Signs in with an identifier (RPPS, ADELI or email) and a password. Unknown accounts,
    /// wrong passwords and disabled accounts get the same answer after the same work (a
    /// dummy hash is verified when there is no real one). Throttled per identifier and per
    /// address: 429 with a delay, never a permanent lockout.
    pub async fn sign_in_password(
        &self,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        let ident = normalise_identifier(identifier);
        let acct = account_key(identifier);
        let addr = format!("addr:{}", client.address);
        let keys = [
            (acct.as_str(), &self.auth().per_account),
            (addr.as_str(), &self.auth().per_address),
        ];
        let mut tx = self.read().await?;
        let blocked = self.throttled(&mut tx, &keys).await?;
        let account = if blocked.is_none() && !ident.is_empty() {
            repo::find_account(&mut tx, &ident).await?
        } else {
            None
        };
        tx.rollback().await?;
        if let Some(retry_after) = blocked {
            let mut tx = self.db.begin().await?;
            audit::append(
                &mut tx,
                self.now(),
                &Actor::System("auth"),
                &[entry_login(false, "-").with(serde_json::json!({"why": "throttled"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        let stored = account.as_ref().and_then(|a| a.password_hash.clone());
        let matches = self
            .auth()
            .hasher
            .verify(password.chars().take(1024).collect(), stored.clone())
            .await?;
        let object = account.as_ref().map_or("-".to_string(), |a| a.id.clone());
        let why = match &account {
            None => "unknown account",
            Some(a) if a.password_hash.is_none() => "no password set",
            Some(_) if !matches => "wrong password",
            Some(a) if !a.active => "account disabled",
            Some(_) => "ok",
        };
        let ok_account = account.filter(|a| a.active && matches);
        let Some(a) = ok_account else {
            let mut tx = self.db.begin().await?;
            self.record_failures(&mut tx, &keys).await?;
            audit::append(
                &mut tx,
                self.now(),
                &Actor::System("auth"),
                &[entry_login(false, &object).with(serde_json::json!({"why": why}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated);
        };
        // Upgrade a hash made with older parameters, before taking the write lock.
        let rehash = match &stored {
            Some(s) if self.auth().hasher.outdated(s) => {
                Some(self.auth().hasher.hash(password.to_string()).await?)
            }
            _ => None,
        };
        let mut tx = self.db.begin().await?;
        repo::throttle_clear(&mut tx, &acct).await?;
        if let Some(h) = rehash {
            repo::set_password(&mut tx, &a.id, &h, self.now().micros()).await?;
        }
        let stage = self
            .stage_after_password(&mut tx, &a.id, &a.profession)
            .await?;
        let issued = self
            .open_session(&mut tx, &a.id, stage, "password", client)
            .await?;
        let actor = actor_of(&a.id, &a.profession, &a.first_name, &a.last_name);
        audit::append(
            &mut tx,
            self.now(),
            &actor,
            &[entry_login(true, &a.id)
                .with(serde_json::json!({"method": "password", "stage": stage.as_str()}))],
        )
        .await?;
        tx.commit().await?;
        Ok(issued)
    }

    pub(crate) async fn stage_for(&self, tx: &mut Tx, id: &str, profession: &str) -> Result<Stage> {
        self.stage_after_password(tx, id, profession).await
    }

    pub(crate) async fn open_session_for(
        &self,
        tx: &mut Tx,
        professional_id: &str,
        stage: Stage,
        method: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        self.open_session(tx, professional_id, stage, method, client)
            .await
    }

    pub(crate) async fn throttled_keys(
        &self,
        tx: &mut Tx,
        keys: &[(&str, &ThrottlePolicy)],
    ) -> Result<Option<i64>> {
        self.throttled(tx, keys).await
    }

    /// Counts an attempt against the keys (requests that are limited whatever their result).
    pub(crate) async fn count_attempt(
        &self,
        tx: &mut Tx,
        keys: &[(&str, &ThrottlePolicy)],
    ) -> Result<()> {
        self.record_failures(tx, keys).await
    }

    /// Demo only: enrols a confirmed TOTP for a synthetic account that needs a second
    /// factor (so a newcomer can try each role at once), unless it has one. Returns whether
    /// it enrolled one.
    pub async fn demo_enrol_totp(&self, id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let Some(pro) = crate::directory::repo::get_professional(&mut tx, id).await? else {
            tx.rollback().await?;
            return Err(Error::NotFound);
        };
        if repo::totp_get(&mut tx, id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some())
        {
            tx.rollback().await?;
            return Ok(false);
        }
        let (is_admin, org_requires) = repo::second_factor_facts(&mut tx, id).await?;
        if !model::second_factor_required(
            codes::may_be_expert(&pro.profession),
            is_admin,
            org_requires,
        ) {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        let secret = totp_rs::Secret::new(bytes.to_vec().into_boxed_slice()).to_base32();
        let now = self.now().micros();
        repo::totp_start(&mut tx, id, &self.seal_totp_secret(id, &secret), now).await?;
        repo::totp_use_step(&mut tx, id, 0, Some(now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Demo only: the current TOTP code of an account (shown on the second-factor page of a
    /// server started with `--demo`, whose accounts are synthetic).
    pub async fn demo_totp_code(&self, id: &str) -> Result<Option<String>> {
        let mut tx = self.read().await?;
        let row = repo::totp_get(&mut tx, id).await?;
        tx.rollback().await?;
        let Some(row) = row.filter(|r| r.confirmed_at.is_some()) else {
            return Ok(None);
        };
        let t = self.totp(&self.open_totp_secret(id, &row.secret)?)?;
        let secs = (self.now().micros() / 1_000_000).max(0) as u64;
        Ok(Some(t.generate(secs).to_string()))
    }

    async fn stage_after_password(&self, tx: &mut Tx, id: &str, profession: &str) -> Result<Stage> {
        let f = self.factors_of(tx, id).await?;
        if f.totp || f.passkeys > 0 {
            return Ok(Stage::SecondFactor);
        }
        let (is_admin, org_requires) = repo::second_factor_facts(tx, id).await?;
        Ok(
            if model::second_factor_required(
                codes::may_be_expert(profession),
                is_admin,
                org_requires,
            ) {
                Stage::Enrol
            } else {
                Stage::Full
            },
        )
    }

    async fn open_session(
        &self,
        tx: &mut Tx,
        professional_id: &str,
        stage: Stage,
        method: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        let token = format!("{SESSION_PREFIX}{}", random_b64(32));
        let csrf = random_b64(32);
        let now = self.now().micros();
        repo::insert_session(
            tx,
            &repo::NewSession {
                id: &new_id(),
                token_hash: &hash_token(&token),
                professional_id,
                stage: stage.as_str(),
                method,
                csrf_token: &csrf,
                now,
                expires_at: now + self.auth().lifetimes.absolute,
                address: &client.address.chars().take(100).collect::<String>(),
                user_agent: &client.user_agent.chars().take(300).collect::<String>(),
            },
        )
        .await?;
        Ok(IssuedSession { token, stage, csrf })
    }

    /// The session a cookie token names, if valid now. A session past its idle or absolute
    /// limit, or whose owner was disabled, is ended (and audited) and gives `None`. The
    /// check is a read; the last-seen instant is written at most once a minute.
    pub async fn session(&self, token: &str) -> Result<Option<SessionInfo>> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        let now = self.now().micros();
        let mut tx = self.read().await?;
        let row = repo::session_by_token(&mut tx, &hash_token(token)).await?;
        tx.rollback().await?;
        let Some(r) = row else { return Ok(None) };
        let s = &r.session;
        let Some(stage) = Stage::parse(&s.stage) else {
            return Ok(None);
        };
        let check = model::check_session(
            now,
            stage,
            s.created_at,
            s.last_seen_at,
            s.expires_at,
            &self.auth().lifetimes,
        );
        let actor = actor_of(
            &s.professional_id,
            &r.profession,
            &r.first_name,
            &r.last_name,
        );
        let end_reason = match (check, r.active) {
            (_, false) => Some("disabled"),
            (SessionCheck::Valid, true) => None,
            (c, true) => Some(c.reason()),
        };
        if let Some(reason) = end_reason {
            let mut tx = self.db.begin().await?;
            if repo::end_session(&mut tx, &s.id, reason, now).await? {
                audit::append(
                    &mut tx,
                    self.now(),
                    &actor,
                    &[NewEntry::success("session.end", "session", &s.id)
                        .with(serde_json::json!({"why": reason}))],
                )
                .await?;
            }
            tx.commit().await?;
            return Ok(None);
        }
        if model::needs_touch(now, s.last_seen_at) {
            let mut tx = self.db.begin().await?;
            repo::touch_session(&mut tx, &s.id, now).await?;
            tx.commit().await?;
        }
        Ok(Some(SessionInfo {
            id: s.id.clone(),
            actor,
            stage,
            csrf: s.csrf_token.clone(),
            method: s.method.clone(),
        }))
    }

    /// Records a request refused at the door (unknown session cookie, failed CSRF check).
    pub async fn audit_refusal(
        &self,
        action: &str,
        actor: Option<&Actor>,
        why: &str,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        let system = Actor::System("auth");
        audit::append(
            &mut tx,
            self.now(),
            actor.unwrap_or(&system),
            &[NewEntry::denied(action, "request", "-").with(serde_json::json!({"why": why}))],
        )
        .await?;
        tx.commit().await
    }

    /// Ends the caller's own session (sign-out).
    pub async fn sign_out(&self, session: &SessionInfo) -> Result<()> {
        self.end_one_session(&session.actor, &session.id, "logout")
            .await
    }

    /// Ends a session presented at sign-in: sign-in always opens a new one.
    pub async fn replace_session(&self, session: &SessionInfo) -> Result<()> {
        self.end_one_session(&session.actor, &session.id, "replaced")
            .await
    }

    async fn end_one_session(&self, actor: &Actor, id: &str, why: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if repo::end_session(&mut tx, id, why, self.now().micros()).await? {
            audit::append(
                &mut tx,
                self.now(),
                actor,
                &[NewEntry::success("session.end", "session", id)
                    .with(serde_json::json!({"why": why}))],
            )
            .await?;
        }
        tx.commit().await
    }

    /// The caller's open sessions.
    pub async fn list_sessions(&self, ctx: &Ctx) -> Result<Vec<SessionView>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        let rows = repo::sessions_of(&mut tx, me, self.now().micros()).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("session.list", "professional", me)],
        )
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|s| SessionView {
                current: ctx.session.as_deref() == Some(s.id.as_str()),
                id: s.id,
                method: s.method,
                created_at: Timestamp(s.created_at),
                last_seen_at: Timestamp(s.last_seen_at),
                expires_at: Timestamp(s.expires_at),
                address: s.address,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Ends one of the caller's sessions; someone else's (or an unknown one) is 404, audited.
    pub async fn revoke_session(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        match repo::session_owner(&mut tx, id).await? {
            Some((owner, ended)) if owner == me => {
                if ended.is_none() {
                    repo::end_session(&mut tx, id, "revoked", self.now().micros()).await?;
                }
                audit::append(
                    &mut tx,
                    self.now(),
                    &ctx.actor,
                    &[NewEntry::success("session.end", "session", id)
                        .with(serde_json::json!({"why": "revoked"}))],
                )
                .await?;
                tx.commit().await
            }
            _ => {
                self.deny(
                    tx,
                    ctx,
                    NewEntry::denied("session.end", "session", id),
                    Error::NotFound,
                )
                .await
            }
        }
    }

    /// Ends every session of a professional (account disabled); in the caller's transaction.
    pub async fn end_all_sessions(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        professional_id: &str,
        why: &str,
    ) -> Result<()> {
        let ended =
            repo::end_sessions_of(tx, professional_id, None, why, self.now().micros()).await?;
        let entries: Vec<NewEntry> = ended
            .iter()
            .map(|id| {
                NewEntry::success("session.end", "session", id)
                    .with(serde_json::json!({"why": why}))
            })
            .collect();
        if !entries.is_empty() {
            audit::append(tx, self.now(), actor, &entries).await?;
        }
        Ok(())
    }

    /// Sets a professional's password (demo seeding, administration, the CLI).
    pub async fn set_password(
        &self,
        ctx: &Ctx,
        professional_id: &str,
        password: &str,
    ) -> Result<()> {
        model::check_new_password(password).map_err(|m| Error::invalid("password", m))?;
        let hash = self.auth().hasher.hash(password.to_string()).await?;
        let mut tx = self.db.begin().await?;
        if crate::directory::repo::get_professional_row(&mut tx, professional_id)
            .await?
            .is_none()
        {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        repo::set_password(&mut tx, professional_id, &hash, self.now().micros()).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success(
                "password.set",
                "professional",
                professional_id,
            )],
        )
        .await?;
        tx.commit().await
    }

    /// Changes the caller's password after checking the current one (throttled like a
    /// sign-in); optionally ends every other session of theirs. Audited.
    pub async fn change_password(
        &self,
        session: &SessionInfo,
        current: &str,
        new: &str,
        end_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<()> {
        let me = session
            .actor
            .id()
            .ok_or(Error::Unauthenticated)?
            .to_string();
        model::check_new_password(new).map_err(|m| Error::invalid("new_password", m))?;
        let acct = format!("password:{me}");
        let addr = format!("addr:{}", client.address);
        let keys = [
            (acct.as_str(), &self.auth().per_account),
            (addr.as_str(), &self.auth().per_address),
        ];
        let mut tx = self.read().await?;
        let blocked = self.throttled(&mut tx, &keys).await?;
        let stored = repo::password_hash(&mut tx, &me).await?;
        tx.rollback().await?;
        if let Some(retry_after) = blocked {
            return Err(Error::TooManyRequests { retry_after });
        }
        let ok = self
            .auth()
            .hasher
            .verify(current.chars().take(1024).collect(), stored)
            .await?;
        if !ok {
            let mut tx = self.db.begin().await?;
            self.record_failures(&mut tx, &keys).await?;
            audit::append(
                &mut tx,
                self.now(),
                &session.actor,
                &[NewEntry::denied("password.change", "professional", &me)
                    .with(serde_json::json!({"why": "wrong current password"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated);
        }
        let hash = self.auth().hasher.hash(new.to_string()).await?;
        let mut tx = self.db.begin().await?;
        repo::throttle_clear(&mut tx, &acct).await?;
        repo::set_password(&mut tx, &me, &hash, self.now().micros()).await?;
        let mut entries = vec![
            NewEntry::success("password.change", "professional", &me)
                .with(serde_json::json!({"end_other_sessions": end_other_sessions})),
        ];
        if end_other_sessions {
            let ended = repo::end_sessions_of(
                &mut tx,
                &me,
                Some(&session.id),
                "password_change",
                self.now().micros(),
            )
            .await?;
            entries.extend(ended.iter().map(|id| {
                NewEntry::success("session.end", "session", id)
                    .with(serde_json::json!({"why": "password_change"}))
            }));
        }
        audit::append(&mut tx, self.now(), &session.actor, &entries).await?;
        tx.commit().await
    }

    // ---------- TOTP ----------

    /// RFC 6238 defaults: SHA-1, 6 digits, 30-second steps, one step of skew either side.
    fn totp(&self, secret_b32: &str) -> Result<totp_rs::Totp> {
        let secret = totp_rs::Secret::try_from_base32(secret_b32)
            .map_err(|_| Error::internal("stored TOTP secret is not base32"))?;
        totp_rs::Builder::new()
            .with_secret(secret)
            .build()
            .map_err(Error::internal)
    }

    /// Starts (or restarts) TOTP enrolment for a session at the enrolment stage (or a signed-in
    /// user without a confirmed factor): a new secret, confirmed by a first valid code.
    pub async fn totp_begin(&self, session: &SessionInfo) -> Result<TotpEnrolment> {
        let me = session.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        if let Some(t) = repo::totp_get(&mut tx, me).await?
            && t.confirmed_at.is_some()
        {
            tx.rollback().await?;
            return Err(Error::conflict("a second factor is already enrolled", None));
        }
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        let secret = totp_rs::Secret::new(bytes.to_vec().into_boxed_slice()).to_base32();
        repo::totp_start(
            &mut tx,
            me,
            &self.seal_totp_secret(me, &secret),
            self.now().micros(),
        )
        .await?;
        tx.commit().await?;
        let account = session.actor.label();
        let t = self.totp(&secret)?;
        let otpauth_url = format!(
            "otpauth://totp/{issuer}:{acct}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={d}&period={p}",
            issuer = url_escape(&self.auth().totp_issuer),
            acct = url_escape(&account),
            d = t.digits(),
            p = t.step(),
        );
        Ok(TotpEnrolment {
            secret,
            otpauth_url,
        })
    }

    /// Checks a TOTP code for a session waiting for its second factor (or confirming
    /// enrolment). A code is accepted within one step either side of the server's time and
    /// never twice (the last accepted step is stored, so a replay fails on any instance).
    /// On success the session moves to `full` under a new token.
    pub async fn totp_verify(
        &self,
        session: &SessionInfo,
        code: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        let me = session
            .actor
            .id()
            .ok_or(Error::Unauthenticated)?
            .to_string();
        if session.stage == Stage::Full {
            return Err(Error::conflict("already signed in", None));
        }
        let acct = super::passkeys::second_factor_key(&me);
        let addr = format!("addr:{}", client.address);
        let keys = [
            (acct.as_str(), &self.auth().per_account),
            (addr.as_str(), &self.auth().per_address),
        ];
        let mut tx = self.db.begin().await?;
        if let Some(retry_after) = self.throttled(&mut tx, &keys).await? {
            audit::append(
                &mut tx,
                self.now(),
                &session.actor,
                &[NewEntry::denied("auth.second_factor", "professional", &me)
                    .with(serde_json::json!({"why": "throttled"}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        let row = repo::totp_get(&mut tx, &me).await?;
        let enrolling = session.stage == Stage::Enrol;
        let valid_row = row.filter(|r| r.confirmed_at.is_some() != enrolling);
        let now = self.now();
        let secs = u64::try_from(now.micros() / MICROS_PER_SECOND).unwrap_or(0);
        let step = match &valid_row {
            Some(r) => {
                let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
                self.totp(&self.open_totp_secret(&me, &r.secret)?)?
                    .check(&code, secs)
                    .and_then(|s| i64::try_from(s).ok())
            }
            None => None,
        };
        let accepted = match step {
            Some(s) => {
                repo::totp_use_step(&mut tx, &me, s, enrolling.then_some(now.micros())).await?
            }
            None => false,
        };
        if !accepted {
            let why = if step.is_some() {
                "code already used"
            } else {
                "wrong code"
            };
            self.record_failures(&mut tx, &keys).await?;
            audit::append(
                &mut tx,
                self.now(),
                &session.actor,
                &[NewEntry::denied("auth.second_factor", "professional", &me)
                    .with(serde_json::json!({"why": why}))],
            )
            .await?;
            tx.commit().await?;
            return Err(Error::Unauthenticated);
        }
        repo::throttle_clear(&mut tx, &acct).await?;
        let issued = self.promote_session(&mut tx, session, "totp", now).await?;
        let mut entries = Vec::new();
        if enrolling {
            entries.push(NewEntry::success("auth.totp_enrol", "professional", &me));
        }
        entries.push(
            NewEntry::success("auth.second_factor", "professional", &me)
                .with(serde_json::json!({"method": "totp"})),
        );
        audit::append(&mut tx, self.now(), &session.actor, &entries).await?;
        tx.commit().await?;
        Ok(issued)
    }

    // ---------- personal access tokens ----------

    pub async fn list_tokens(&self, ctx: &Ctx) -> Result<Vec<TokenView>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.read().await?;
        let rows = repo::tokens_of(&mut tx, me).await?;
        tx.rollback().await?;
        Ok(rows.into_iter().map(token_view).collect())
    }

    /// Creates a personal access token for the caller: scoped, expiring (1 to 365 days).
    pub async fn create_personal_token(
        &self,
        ctx: &Ctx,
        label: &str,
        scope: &str,
        days: i64,
    ) -> Result<CreatedToken> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut v = crate::kernel::error::Violations::default();
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 {
            v.push("label", "must be 1 to 100 characters");
        }
        let scope = Scope::parse(scope);
        if scope.is_none() {
            v.push("scope", "must be 'read' or 'write'");
        }
        if !(1..=365).contains(&days) {
            v.push("days", "must be between 1 and 365");
        }
        v.into_result()?;
        let scope = scope.unwrap_or(Scope::Read);
        let token = generate_token();
        let now = self.now().micros();
        let id = new_id();
        let expires = now + days * MICROS_PER_DAY;
        let mut tx = self.db.begin().await?;
        super::insert_scoped_token(
            &mut tx,
            &id,
            me,
            &hash_token(&token),
            label,
            scope,
            Some(expires),
            now,
        )
        .await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("token.create", "token", &id)
                .with(serde_json::json!({"scope": scope.as_str(), "days": days}))],
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedToken {
            info: TokenView {
                id,
                label: label.to_string(),
                scope: scope.as_str().into(),
                created_at: Timestamp(now),
                expires_at: Some(Timestamp(expires)),
                revoked_at: None,
            },
            token,
        })
    }

    /// Revokes one of the caller's tokens; someone else's (or unknown) is 404, audited.
    pub async fn revoke_personal_token(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        match repo::token_by_id(&mut tx, id).await? {
            Some(t) if t.professional_id == me => {
                repo::revoke_token(&mut tx, id, self.now().micros()).await?;
                audit::append(
                    &mut tx,
                    self.now(),
                    &ctx.actor,
                    &[NewEntry::success("token.revoke", "token", id)],
                )
                .await?;
                tx.commit().await
            }
            _ => {
                self.deny(
                    tx,
                    ctx,
                    NewEntry::denied("token.revoke", "token", id),
                    Error::NotFound,
                )
                .await
            }
        }
    }
}

fn token_view(t: repo::TokenRow) -> TokenView {
    TokenView {
        id: t.id,
        label: t.label,
        scope: t.scope,
        created_at: Timestamp(t.created_at),
        expires_at: t.expires_at.map(Timestamp),
        revoked_at: t.revoked_at.map(Timestamp),
    }
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
