//! Sign-in SQL: credentials, sessions, throttling, TOTP, personal access tokens.

use super::model::ThrottleState;
use crate::db::Tx;
use crate::kernel::Result;
use crate::run;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub profession: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub password_hash: Option<String>,
}

/// The account an identifier names: an RPPS number, an ADELI number or an email address.
pub async fn find_account(tx: &mut Tx, identifier: &str) -> Result<Option<Account>> {
    let sql = "SELECT p.id, p.profession, p.first_name, p.last_name, p.active,
                      c.hash AS password_hash
               FROM professionals p LEFT JOIN password_credentials c ON c.professional_id = p.id
               WHERE p.rpps = $1 OR p.adeli = $1 OR LOWER(p.email) = $1
               ORDER BY p.created_at LIMIT 1";
    Ok(run!(tx, |c| sqlx::query_as::<_, Account>(sql)
        .bind(identifier)
        .fetch_optional(c)
        .await)?)
}

pub async fn set_password(tx: &mut Tx, professional_id: &str, hash: &str, now: i64) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO password_credentials (professional_id, hash, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (professional_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at"
    )
    .bind(professional_id)
    .bind(hash)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn password_hash(tx: &mut Tx, professional_id: &str) -> Result<Option<String>> {
    let r: Option<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT hash FROM password_credentials WHERE professional_id = $1"
    )
    .bind(professional_id)
    .fetch_optional(c)
    .await)?;
    Ok(r.map(|r| r.0))
}

/// Facts that decide whether a second factor is required.
pub async fn second_factor_facts(tx: &mut Tx, professional_id: &str) -> Result<(bool, bool)> {
    let r: (i64, i64) = run!(tx, |c| sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM memberships WHERE professional_id = $1 AND role = 'admin'),
           (SELECT COUNT(*) FROM memberships m JOIN organisations o ON o.id = m.organisation_id
             WHERE m.professional_id = $1 AND o.require_second_factor = TRUE)"
    )
    .bind(professional_id)
    .fetch_one(c)
    .await)?;
    Ok((r.0 > 0, r.1 > 0))
}

// ---------- throttling ----------

pub async fn throttle_get(tx: &mut Tx, key: &str) -> Result<Option<ThrottleState>> {
    let r: Option<(i64, i64, i64)> = run!(tx, |c| sqlx::query_as(
        "SELECT failures, window_start, blocked_until FROM auth_throttle WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(c)
    .await)?;
    Ok(
        r.map(|(failures, window_start, blocked_until)| ThrottleState {
            failures,
            window_start,
            blocked_until,
        }),
    )
}

pub async fn throttle_put(tx: &mut Tx, key: &str, s: &ThrottleState) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO auth_throttle (key, failures, window_start, blocked_until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
           window_start = excluded.window_start, blocked_until = excluded.blocked_until"
    )
    .bind(key)
    .bind(s.failures)
    .bind(s.window_start)
    .bind(s.blocked_until)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn throttle_clear(tx: &mut Tx, key: &str) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "DELETE FROM auth_throttle WHERE key = $1"
    )
    .bind(key)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

// ---------- sessions ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub professional_id: String,
    pub stage: String,
    pub method: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub address: String,
    pub user_agent: String,
}

/// A session with what the per-request check needs about its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionWithOwner {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub first_name: String,
    pub last_name: String,
    pub profession: String,
    pub active: bool,
}

const SESSION_COLS: &str = "s.id, s.professional_id, s.stage, s.method, s.csrf_token, s.created_at,
    s.last_seen_at, s.expires_at, s.ended_at, s.address, s.user_agent";

pub struct NewSession<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub professional_id: &'a str,
    pub stage: &'a str,
    pub method: &'a str,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub address: &'a str,
    pub user_agent: &'a str,
}

pub async fn insert_session(tx: &mut Tx, s: &NewSession<'_>) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "INSERT INTO sessions (id, token_hash, professional_id, stage, method, csrf_token,
            created_at, last_seen_at, expires_at, address, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)"
    )
    .bind(s.id)
    .bind(s.token_hash)
    .bind(s.professional_id)
    .bind(s.stage)
    .bind(s.method)
    .bind(s.csrf_token)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.address)
    .bind(s.user_agent)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The session a cookie token names, if it was not ended.
pub async fn session_by_token(tx: &mut Tx, token_hash: &str) -> Result<Option<SessionWithOwner>> {
    let sql = format!(
        "SELECT {SESSION_COLS}, p.first_name, p.last_name, p.profession, p.active
         FROM sessions s JOIN professionals p ON p.id = s.professional_id
         WHERE s.token_hash = $1 AND s.ended_at IS NULL"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, SessionWithOwner>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await)?)
}

pub async fn sessions_of(tx: &mut Tx, professional_id: &str, now: i64) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {SESSION_COLS} FROM sessions s
         WHERE s.professional_id = $1 AND s.ended_at IS NULL AND s.expires_at > $2
           AND s.stage = 'full'
         ORDER BY s.created_at DESC LIMIT 100"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, SessionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(professional_id)
    .bind(now)
    .fetch_all(c)
    .await)?)
}

pub async fn session_owner(tx: &mut Tx, id: &str) -> Result<Option<(String, Option<i64>)>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, (String, Option<i64>)>(
        "SELECT professional_id, ended_at FROM sessions WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn touch_session(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Ends a session; false when it had already ended.
pub async fn end_session(tx: &mut Tx, id: &str, reason: &str, now: i64) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE sessions SET ended_at = $2, end_reason = $3, oidc_id_token = NULL
         WHERE id = $1 AND ended_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .bind(reason)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Ends every open session of a professional (but `except`); returns their ids.
pub async fn end_sessions_of(
    tx: &mut Tx,
    professional_id: &str,
    except: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<Vec<String>> {
    let ids: Vec<(String,)> = run!(tx, |c| sqlx::query_as(
        "SELECT id FROM sessions WHERE professional_id = $1 AND ended_at IS NULL
           AND id <> COALESCE($2, '')"
    )
    .bind(professional_id)
    .bind(except)
    .fetch_all(c)
    .await)?;
    for (id,) in &ids {
        end_session(tx, id, reason, now).await?;
    }
    Ok(ids.into_iter().map(|r| r.0).collect())
}

/// Moves a session to another stage under a new token and CSRF token (the old token stops
/// working: a new session identifier at every privilege change).
#[allow(clippy::too_many_arguments)]
pub async fn rotate_session(
    tx: &mut Tx,
    id: &str,
    token_hash: &str,
    csrf: &str,
    stage: &str,
    method: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "UPDATE sessions SET token_hash = $2, csrf_token = $3, stage = $4, method = $5,
            last_seen_at = $6, expires_at = $7 WHERE id = $1"
    )
    .bind(id)
    .bind(token_hash)
    .bind(csrf)
    .bind(stage)
    .bind(method)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

// ---------- TOTP ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

pub async fn totp_get(tx: &mut Tx, professional_id: &str) -> Result<Option<TotpRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, TotpRow>(
        "SELECT secret, confirmed_at, last_step FROM totp_credentials WHERE professional_id = $1"
    )
    .bind(professional_id)
    .fetch_optional(c)
    .await)?)
}

/// Stores a new, unconfirmed secret (replacing an unconfirmed one).
pub async fn totp_start(tx: &mut Tx, professional_id: &str, secret: &str, now: i64) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "INSERT INTO totp_credentials (professional_id, secret, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (professional_id) DO UPDATE SET secret = excluded.secret,
           created_at = excluded.created_at, confirmed_at = NULL, last_step = -1"
    )
    .bind(professional_id)
    .bind(secret)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Records `step` as used, only if it is later than the last one used: of two instances
/// accepting the same code at once, one wins. True when this call won.
pub async fn totp_use_step(
    tx: &mut Tx,
    professional_id: &str,
    step: i64,
    confirm_at: Option<i64>,
) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE totp_credentials SET last_step = $2,
            confirmed_at = COALESCE(confirmed_at, $3)
         WHERE professional_id = $1 AND last_step < $2"
    )
    .bind(professional_id)
    .bind(step)
    .bind(confirm_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

// ---------- personal access tokens ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub professional_id: String,
    pub label: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn tokens_of(tx: &mut Tx, professional_id: &str) -> Result<Vec<TokenRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, TokenRow>(
        "SELECT id, professional_id, label, scope, created_at, expires_at, revoked_at
         FROM api_tokens WHERE professional_id = $1 ORDER BY created_at DESC, id LIMIT 200"
    )
    .bind(professional_id)
    .fetch_all(c)
    .await)?)
}

pub async fn token_by_id(tx: &mut Tx, id: &str) -> Result<Option<TokenRow>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, TokenRow>(
        "SELECT id, professional_id, label, scope, created_at, expires_at, revoked_at
         FROM api_tokens WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

pub async fn revoke_token(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

// ---------- one-time links (invitations, password resets) ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: String,
    pub kind: String,
    pub professional_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_link(
    tx: &mut Tx,
    id: &str,
    token_hash: &str,
    kind: &str,
    professional_id: &str,
    created_by: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO one_time_links (id, token_hash, kind, professional_id, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(id)
    .bind(token_hash)
    .bind(kind)
    .bind(professional_id)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

pub async fn link_by_token(tx: &mut Tx, token_hash: &str) -> Result<Option<LinkRow>> {
    Ok(run!(tx, |c| {
        sqlx::query_as::<_, LinkRow>(
        "SELECT id, kind, professional_id, expires_at, used_at FROM one_time_links WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await
    })?)
}

/// Marks a link used; false when it already was (of two concurrent uses, one wins).
pub async fn use_link(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "UPDATE one_time_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Ends the other unused links of this kind for this professional (a new one replaces them).
pub async fn retire_links(tx: &mut Tx, professional_id: &str, kind: &str, now: i64) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "UPDATE one_time_links SET used_at = $3
         WHERE professional_id = $1 AND kind = $2 AND used_at IS NULL"
    )
    .bind(professional_id)
    .bind(kind)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn email_of(tx: &mut Tx, professional_id: &str) -> Result<Option<String>> {
    let r: Option<(Option<String>,)> = run!(tx, |c| sqlx::query_as(
        "SELECT email FROM professionals WHERE id = $1"
    )
    .bind(professional_id)
    .fetch_optional(c)
    .await)?;
    Ok(r.and_then(|r| r.0))
}

/// Forgets OpenID flows started before `before` (never finished, or finished).
pub async fn oidc_flow_purge(tx: &mut Tx, before: i64) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "DELETE FROM oidc_flows WHERE created_at < $1"
    )
    .bind(before)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn oidc_flow_insert(
    tx: &mut Tx,
    state_hash: &str,
    nonce: &str,
    pkce_verifier: &str,
    now: i64,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO oidc_flows (state_hash, nonce, pkce_verifier, created_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(pkce_verifier)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Uses up the flow of a `state` (by its hash) started after `not_before`: its nonce and
/// PKCE verifier, once; `None` if unknown, expired or already used.
pub async fn oidc_flow_take(
    tx: &mut Tx,
    state_hash: &str,
    now: i64,
    not_before: i64,
) -> Result<Option<(String, String)>> {
    Ok(run!(tx, |c| sqlx::query_as::<_, (String, String)>(
        "UPDATE oidc_flows SET used_at = $2
         WHERE state_hash = $1 AND used_at IS NULL AND created_at >= $3
         RETURNING nonce, pkce_verifier"
    )
    .bind(state_hash)
    .bind(now)
    .bind(not_before)
    .fetch_optional(c)
    .await)?)
}

// ---------- WebAuthn passkeys ----------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub professional_id: String,
    pub credential_id: String,
    pub label: String,
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const PASSKEY_COLUMNS: &str =
    "id, professional_id, credential_id, label, credential, created_at, last_used_at";

pub async fn passkeys_of(tx: &mut Tx, professional_id: &str) -> Result<Vec<PasskeyRow>> {
    let sql = format!(
        "SELECT {PASSKEY_COLUMNS} FROM webauthn_credentials WHERE professional_id = $1
         ORDER BY created_at, id"
    );
    Ok(run!(tx, |c| sqlx::query_as::<_, PasskeyRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(professional_id)
    .fetch_all(c)
    .await)?)
}

pub async fn passkey_by_id(tx: &mut Tx, id: &str) -> Result<Option<PasskeyRow>> {
    let sql = format!("SELECT {PASSKEY_COLUMNS} FROM webauthn_credentials WHERE id = $1");
    Ok(run!(tx, |c| sqlx::query_as::<_, PasskeyRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// Stores a verified credential; false when its credential id is already registered (to
/// this account or another: a credential belongs to one account).
pub async fn passkey_insert(tx: &mut Tx, row: &PasskeyRow) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "INSERT INTO webauthn_credentials
            (id, professional_id, credential_id, label, credential, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING"
    )
    .bind(&row.id)
    .bind(&row.professional_id)
    .bind(&row.credential_id)
    .bind(&row.label)
    .bind(&row.credential)
    .bind(row.created_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// After a successful authentication: the credential's new counter and backup state.
pub async fn passkey_used(tx: &mut Tx, id: &str, credential: &str, now: i64) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "UPDATE webauthn_credentials SET credential = $2, last_used_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(credential)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

pub async fn passkey_delete(tx: &mut Tx, id: &str, professional_id: &str) -> Result<bool> {
    let n = run!(tx, |c| sqlx::query(
        "DELETE FROM webauthn_credentials WHERE id = $1 AND professional_id = $2"
    )
    .bind(id)
    .bind(professional_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Starts a ceremony for a session, replacing any other in flight for it, and forgets
/// ceremonies of any session started before `stale_before`.
pub async fn ceremony_put(
    tx: &mut Tx,
    session_id: &str,
    kind: &str,
    state: &str,
    now: i64,
    stale_before: i64,
) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "DELETE FROM webauthn_ceremonies WHERE created_at < $1"
    )
    .bind(stale_before)
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    run!(tx, |c| sqlx::query(
        "INSERT INTO webauthn_ceremonies (session_id, kind, state, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (session_id) DO UPDATE SET kind = excluded.kind, state = excluded.state,
           created_at = excluded.created_at"
    )
    .bind(session_id)
    .bind(kind)
    .bind(state)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Takes the session's ceremony of this kind, once: `None` if there is none, it is of the
/// other kind, or it started before `not_before` (it is forgotten all the same).
pub async fn ceremony_take(
    tx: &mut Tx,
    session_id: &str,
    kind: &str,
    not_before: i64,
) -> Result<Option<String>> {
    let row = run!(tx, |c| {
        sqlx::query_as::<_, (String, String, i64)>(
        "DELETE FROM webauthn_ceremonies WHERE session_id = $1 RETURNING kind, state, created_at"
    )
    .bind(session_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(row
        .filter(|(k, _, at)| k == kind && *at >= not_before)
        .map(|(_, s, _)| s))
}

/// Keeps the provider's ID token with the session it opened (by the session's token hash).
pub async fn set_session_id_token(tx: &mut Tx, token_hash: &str, id_token: &str) -> Result<()> {
    run!(tx, |c| sqlx::query(
        "UPDATE sessions SET oidc_id_token = $2 WHERE token_hash = $1"
    )
    .bind(token_hash)
    .bind(id_token)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The provider's ID token of a session still open, if it was opened with the provider.
pub async fn session_id_token(tx: &mut Tx, id: &str) -> Result<Option<String>> {
    let r: Option<(Option<String>,)> = run!(tx, |c| sqlx::query_as(
        "SELECT oidc_id_token FROM sessions WHERE id = $1 AND ended_at IS NULL"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(r.and_then(|r| r.0))
}
