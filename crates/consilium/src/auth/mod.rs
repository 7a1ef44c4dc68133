//! Authentication. Bearer tokens (personal access tokens, scoped and expiring): only a
//! SHA-256 of each token is stored; the token itself is shown once, when created. Browser
//! sign-in (password, second factor, sessions) is in `service.rs`, its rules in `model.rs`.

pub mod links;
pub mod model;
pub mod oidc;
pub mod passkeys;
pub mod password;
pub mod repo;
pub mod service;
pub mod totp_secret;

use crate::audit::{self, NewEntry};
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::kernel::actor::ProfessionalActor;
use crate::kernel::{Actor, Error, Result, new_id};
use crate::platform::{Ctx, Platform};
use crate::run;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "csl_";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[derive(sqlx::FromRow)]
struct TokenActor {
    id: String,
    first_name: String,
    last_name: String,
    profession: String,
    scope: String,
}

impl Platform {
    /// The professional behind a bearer token, if the token is known, unexpired, unrevoked
    /// and its owner active. Checked on every request: disabling takes effect at once.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Actor>> {
        Ok(self.authenticate_token(token).await?.map(|(a, _)| a))
    }

    /// The professional behind a bearer token and the token's scope.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<(Actor, model::Scope)>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        let h = hash_token(token);
        let now = self.now().micros();
        let sql = "SELECT p.id, p.first_name, p.last_name, p.profession, t.scope
             FROM api_tokens t JOIN professionals p ON p.id = t.professional_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2) AND p.active = TRUE";
        let row: Option<TokenActor> = match &self.db {
            crate::db::Db::Sqlite(p) => {
                sqlx::query_as(sql)
                    .bind(&h)
                    .bind(now)
                    .fetch_optional(p)
                    .await?
            }
            crate::db::Db::Postgres(p) => {
                sqlx::query_as(sql)
                    .bind(&h)
                    .bind(now)
                    .fetch_optional(p)
                    .await?
            }
        };
        Ok(row.map(|r| {
            let scope = model::Scope::parse(&r.scope).unwrap_or(model::Scope::Read);
            (
                Actor::Professional(ProfessionalActor {
                    display_name: crate::directory::model::display_name(
                        &r.profession,
                        &r.first_name,
                        &r.last_name,
                    ),
                    id: r.id,
                    profession: r.profession,
                }),
                scope,
            )
        }))
    }

    /// Records a failed authentication (unknown, expired or revoked token).
    pub async fn audit_auth_failure(&self, reason: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        audit::append(
            &mut tx,
            self.now(),
            &Actor::System("auth"),
            &[NewEntry::denied("auth.token", "token", "-")
                .with(serde_json::json!({"why": reason}))],
        )
        .await?;
        tx.commit().await
    }

    /// Creates a token for the professional with this RPPS; returns the token in clear.
    pub async fn create_token_for_rpps(
        &self,
        ctx: &Ctx,
        rpps: &str,
        label: &str,
        days: Option<i64>,
    ) -> Result<String> {
        let rpps = crate::identifiers::Rpps::parse(rpps)
            .map_err(|e| Error::invalid("rpps", e.to_string()))?;
        let mut tx = self.db.begin().await?;
        let p = dir::find_by_rpps(&mut tx, rpps.as_str())
            .await?
            .ok_or_else(|| {
                Error::invalid("rpps", "no professional with this RPPS in the directory")
            })?;
        if !p.active {
            return Err(Error::invalid(
                "rpps",
                "this professional's account is disabled",
            ));
        }
        let token = generate_token();
        insert_token(
            &mut tx,
            &p.id,
            &hash_token(&token),
            label,
            days.map(|d| self.now().plus_days(d).micros()),
            self.now().micros(),
        )
        .await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("token.create", "professional", &p.id)],
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }
}

pub async fn insert_token(
    tx: &mut Tx,
    professional_id: &str,
    hash: &str,
    label: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<()> {
    insert_scoped_token(
        tx,
        &new_id(),
        professional_id,
        hash,
        label,
        model::Scope::Write,
        expires_at,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_scoped_token(
    tx: &mut Tx,
    id: &str,
    professional_id: &str,
    hash: &str,
    label: &str,
    scope: model::Scope,
    expires_at: Option<i64>,
    now: i64,
) -> Result<()> {
    run!(tx, |c| {
        sqlx::query(
        "INSERT INTO api_tokens (id, professional_id, token_hash, label, created_at, expires_at, scope)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (token_hash) DO NOTHING"
    )
    .bind(id)
    .bind(professional_id)
    .bind(hash)
    .bind(label)
    .bind(now)
    .bind(expires_at)
    .bind(scope.as_str())
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = super::generate_token();
        let b = super::generate_token();
        assert!(a.starts_with("csl_") && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(super::hash_token(&a).len(), 64);
    }
}
