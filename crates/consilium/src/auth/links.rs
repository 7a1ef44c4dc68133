//! Single-use links sent by email: an administrator's invitation (the invitee sets a
//! password, then enrols a second factor if their role requires one) and the password reset.
//! Only the SHA-256 of a link's token is stored; a link works once, before it expires.
//! The mail carries no patient data, only the link.

use super::model::{self, account_key, normalise_identifier};
use super::service::{ClientInfo, IssuedSession};
use super::{generate_token, hash_token, repo};
use crate::audit::{self, NewEntry};
use crate::directory::repo as dir;
use crate::kernel::time::MICROS_PER_SECOND;
use crate::kernel::{Actor, Error, Result, new_id};
use crate::mail::{self, OutgoingMail};
use crate::platform::{Ctx, Platform};

/// An invitation link lasts 7 days; a reset link one hour.
pub const INVITATION_SECONDS: i64 = 7 * 86_400;
pub const RESET_SECONDS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Invitation,
    Reset,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invitation",
            LinkKind::Reset => "reset",
        }
    }
    fn path(self) -> &'static str {
        match self {
            LinkKind::Invitation => "/auth/invitation",
            LinkKind::Reset => "/auth/reset",
        }
    }
    fn lifetime(self) -> i64 {
        let seconds = match self {
            LinkKind::Invitation => INVITATION_SECONDS,
            LinkKind::Reset => RESET_SECONDS,
        };
        seconds * MICROS_PER_SECOND
    }
}

/// Why a link cannot be used (the page says so, in French).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    Used,
    Expired,
}

impl Platform {
    fn link_text(&self, kind: LinkKind, link: &str) -> (String, String) {
        match kind {
            LinkKind::Invitation => (
                "Consilium : invitation".into(),
                format!(
                    "Bonjour,\n\nVous êtes invité(e) à rejoindre Consilium, la plateforme de \
                     téléexpertise de votre organisation.\nChoisissez votre mot de passe avec ce \
                     lien, valable 7 jours et une seule fois :\n\n{link}\n\nSi vous n'attendiez \
                     pas ce message, ignorez-le.\n"
                ),
            ),
            LinkKind::Reset => (
                "Consilium : réinitialisation du mot de passe".into(),
                format!(
                    "Bonjour,\n\nUne réinitialisation de votre mot de passe Consilium a été \
                     demandée.\nCe lien est valable une heure et une seule fois :\n\n{link}\n\n\
                     Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre \
                     mot de passe reste inchangé.\n"
                ),
            ),
        }
    }

    /// Creates a link and queues its mail, in the caller's transaction.
    async fn issue_link(
        &self,
        tx: &mut crate::db::Tx,
        kind: LinkKind,
        professional_id: &str,
        email: &str,
        created_by: Option<&str>,
    ) -> Result<String> {
        let now = self.now();
        repo::retire_links(tx, professional_id, kind.as_str(), now.micros()).await?;
        let token = generate_token();
        let id = new_id();
        repo::insert_link(
            tx,
            &id,
            &hash_token(&token),
            kind.as_str(),
            professional_id,
            created_by,
            now.micros(),
            now.micros() + kind.lifetime(),
        )
        .await?;
        let link = format!(
            "{}{}?token={token}",
            self.mailer.public_url.trim_end_matches('/'),
            kind.path()
        );
        let (subject, text) = self.link_text(kind, &link);
        mail::enqueue(
            tx,
            now,
            &OutgoingMail {
                to: email.to_string(),
                subject,
                text,
            },
            None,
        )
        .await?;
        Ok(id)
    }

    /// An administrator of one of the professional's organisations invites them: a
    /// single-use link to choose a password, sent to their email address.
    pub async fn invite(&self, ctx: &Ctx, professional_id: &str) -> Result<()> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?;
        let mut tx = self.db.begin().await?;
        if dir::get_professional_row(&mut tx, professional_id)
            .await?
            .is_none()
        {
            tx.rollback().await?;
            return Err(Error::NotFound);
        }
        let theirs = dir::organisations_of(&mut tx, professional_id).await?;
        let mine = dir::admin_of(&mut tx, me).await?;
        if !theirs.iter().any(|o| mine.contains(o)) {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("auth.invite", "professional", professional_id),
                    Error::Forbidden(
                        "only an administrator of their organisation may invite them".into(),
                    ),
                )
                .await;
        }
        let Some(email) = repo::email_of(&mut tx, professional_id).await? else {
            tx.rollback().await?;
            return Err(Error::invalid(
                "email",
                "this professional has no email address",
            ));
        };
        let link = self
            .issue_link(
                &mut tx,
                LinkKind::Invitation,
                professional_id,
                &email,
                Some(me),
            )
            .await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[
                NewEntry::success("auth.invite", "professional", professional_id)
                    .with(serde_json::json!({"link": link})),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// "Forgot my password": the same answer whether or not the identifier names an account
    /// (no enumeration); a link is mailed only to an active account with an address.
    /// Throttled per identifier and per address (every request counts: no mail bombing).
    pub async fn request_password_reset(
        &self,
        identifier: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let ident = normalise_identifier(identifier);
        let acct = format!("reset:{}", account_key(identifier));
        let addr = format!("addr:{}", client.address);
        let keys = [
            (acct.as_str(), &self.auth.per_account),
            (addr.as_str(), &self.auth.per_address),
        ];
        let mut tx = self.db.begin().await?;
        if let Some(retry_after) = self.throttled_keys(&mut tx, &keys).await? {
            tx.rollback().await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        self.count_attempt(&mut tx, &keys).await?;
        let account = if ident.is_empty() {
            None
        } else {
            repo::find_account(&mut tx, &ident).await?
        };
        let target = match &account {
            Some(a) if a.active => repo::email_of(&mut tx, &a.id)
                .await?
                .map(|e| (a.id.clone(), e)),
            _ => None,
        };
        let object = account.as_ref().map_or("-".to_string(), |a| a.id.clone());
        let sent = match &target {
            Some((id, email)) => {
                self.issue_link(&mut tx, LinkKind::Reset, id, email, None)
                    .await?;
                true
            }
            None => false,
        };
        audit::append(
            &mut tx,
            self.now(),
            &Actor::System("auth"),
            &[
                NewEntry::success("auth.reset_request", "professional", &object)
                    .with(serde_json::json!({"mailed": sent})),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Whether a link can be used now (read only; for the page that shows the form).
    pub async fn check_link(&self, kind: LinkKind, token: &str) -> Result<Option<LinkProblem>> {
        let mut tx = self.read().await?;
        let row = repo::link_by_token(&mut tx, &hash_token(token)).await?;
        tx.rollback().await?;
        Ok(self.link_problem(kind, row.as_ref()))
    }

    fn link_problem(&self, kind: LinkKind, row: Option<&repo::LinkRow>) -> Option<LinkProblem> {
        match row {
            None => Some(LinkProblem::Unknown),
            Some(r) if r.kind != kind.as_str() => Some(LinkProblem::Unknown),
            Some(r) if r.used_at.is_some() => Some(LinkProblem::Used),
            Some(r) if self.now().micros() >= r.expires_at => Some(LinkProblem::Expired),
            Some(_) => None,
        }
    }

    /// Uses a link: sets the password, ends every other session (reset), and opens a session
    /// at the stage the account needs (a second factor to enter, or to enrol). Err carries
    /// the link's problem as `Conflict` with the problem's name.
    pub async fn use_link(
        &self,
        kind: LinkKind,
        token: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<std::result::Result<IssuedSession, LinkProblem>> {
        model::check_new_password(password).map_err(|m| Error::invalid("password", m))?;
        let hash = self.auth.hasher.hash(password.to_string()).await?;
        let mut tx = self.db.begin().await?;
        let row = repo::link_by_token(&mut tx, &hash_token(token)).await?;
        if let Some(p) = self.link_problem(kind, row.as_ref()) {
            audit::append(
                &mut tx,
                self.now(),
                &Actor::System("auth"),
                &[NewEntry::denied(
                    format!("auth.{}", kind.as_str()),
                    "link",
                    row.as_ref().map_or("-", |r| r.id.as_str()),
                )
                .with(serde_json::json!({"why": format!("{p:?}")}))],
            )
            .await?;
            tx.commit().await?;
            return Ok(Err(p));
        }
        let Some(link) = row else {
            return Err(Error::internal("link vanished"));
        };
        let Some(p) = dir::get_professional_row(&mut tx, &link.professional_id).await? else {
            return Err(Error::internal("link without a professional"));
        };
        if !p.active || !repo::use_link(&mut tx, &link.id, self.now().micros()).await? {
            tx.rollback().await?;
            return Ok(Err(LinkProblem::Used));
        }
        let now = self.now().micros();
        repo::set_password(&mut tx, &p.id, &hash, now).await?;
        let actor = Actor::Professional(crate::kernel::actor::ProfessionalActor {
            id: p.id.clone(),
            display_name: p.display_name(),
            profession: p.profession.clone(),
        });
        let why = format!("password_{}", kind.as_str());
        let ended = repo::end_sessions_of(&mut tx, &p.id, None, &why, now).await?;
        let mut entries = vec![NewEntry::success(
            format!("auth.{}", kind.as_str()),
            "professional",
            &p.id,
        )];
        entries.extend(ended.iter().map(|id| {
            NewEntry::success("session.end", "session", id).with(serde_json::json!({"why": why}))
        }));
        let stage = self.stage_for(&mut tx, &p.id, &p.profession).await?;
        let issued = self
            .open_session_for(&mut tx, &p.id, stage, kind.as_str(), client)
            .await?;
        entries.push(
            NewEntry::success("auth.login", "professional", &p.id)
                .with(serde_json::json!({"method": kind.as_str(), "stage": stage.as_str()})),
        );
        audit::append(&mut tx, self.now(), &actor, &entries).await?;
        tx.commit().await?;
        Ok(Ok(issued))
    }
}
