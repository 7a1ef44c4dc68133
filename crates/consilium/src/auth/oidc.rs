//! Sign-in with an OpenID Connect provider configured as Pro Santé Connect is.
//!
//! Authorization code flow with PKCE (S256), `state` (bound to the browser by a cookie and
//! to one server-side row, single use, 10 minutes), `nonce`, and `acr_values` asking for the
//! configured eIDAS level. The ID token is checked by the `openidconnect` crate (signature
//! with the provider's JWKS, asymmetric algorithms only, so no `alg=none` and no HMAC keyed
//! with a public key; issuer, audience, expiry against the platform's clock, nonce), then
//! here: access-token hash, `acr` at or above the required level. Userinfo (same `sub`)
//! gives the national professional identifier `IdNat_PS` (`8` + RPPS or `0` + ADELI): an
//! existing account with that number is signed in; an unknown number gets a **silent
//! account** (no password, no organisation) with the profession and identity from the
//! claims. The session is opened exactly as a password sign-in's (new token, audited);
//! every refusal is audited as `auth.login` denied with `method: oidc` and why.

use super::model::Stage;
use super::service::{ClientInfo, IssuedSession};
use super::{hash_token, repo};
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::{Tx, is_unique_violation};
use crate::directory::model::NewProfessional;
use crate::directory::repo as dir;
use crate::identifiers::{Adeli, Rpps};
use crate::kernel::{Actor, Error, Result, new_id};
use crate::platform::Platform;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthenticationContextClass, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The provider, from the configuration.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Issuer URL, exactly as the provider's discovery document names it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Scopes asked for (`openid` is always included).
    pub scopes: Vec<String>,
    /// The lowest `acr` accepted.
    pub required_acr: String,
    /// Known `acr` values, weakest first: an `acr` is accepted when it is the required one
    /// or comes after it.
    pub acr_levels: Vec<String>,
    /// Where the provider sends the browser back (`…/auth/oidc/callback`); empty until the
    /// server knows its address (then `http://<listen address>/auth/oidc/callback`).
    pub redirect_url: String,
    /// The provider's name on the sign-in button.
    pub label: String,
}

impl OidcSettings {
    /// Whether `acr` meets the required level.
    pub fn acr_sufficient(&self, acr: &str) -> bool {
        let pos = |v: &str| self.acr_levels.iter().position(|l| l == v);
        match (pos(acr), pos(&self.required_acr)) {
            (Some(got), Some(need)) => got >= need,
            // A required value outside the known levels must be met exactly.
            (_, None) => acr == self.required_acr,
            (None, Some(_)) => false,
        }
    }
}

/// How long the provider's discovery document and signing keys are reused before being
/// fetched again (an ID token signed with a key not in the cached set fetches them at once).
pub const METADATA_TTL_US: i64 = 10 * 60 * crate::kernel::time::MICROS_PER_SECOND;

/// Whether metadata fetched at `at` may still be used at `now` (a clock that went back
/// counts as stale).
fn still_fresh(at: i64, now: i64) -> bool {
    now >= at && now - at < METADATA_TTL_US
}

/// The configured provider and the HTTP client that talks to it (no redirects followed).
#[derive(Debug)]
pub struct Oidc {
    pub settings: OidcSettings,
    http: reqwest::Client,
    /// The discovery document with its keys (JWKS), and when it was fetched (platform
    /// clock, microseconds). Each instance keeps its own; nothing secret.
    metadata: std::sync::Mutex<Option<(i64, ProviderMetadataWithLogout)>>,
    /// Discovery documents fetched since start (metrics and tests).
    fetches: std::sync::atomic::AtomicU64,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            settings,
            http,
            metadata: std::sync::Mutex::new(None),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn cached(&self, now: i64) -> Option<ProviderMetadataWithLogout> {
        let guard = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| still_fresh(*at, now))
            .map(|(_, m)| m.clone())
    }

    /// How many times the discovery document (with the keys) was fetched.
    pub fn discovery_fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn remember(&self, now: i64, m: &ProviderMetadataWithLogout) {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, m.clone()));
    }

    /// The ID token verifier for these keys: as `CoreClient::id_token_verifier`, with the
    /// asymmetric algorithms only and the platform's clock.
    fn id_verifier(
        &self,
        jwks: CoreJsonWebKeySet,
        clock: std::sync::Arc<dyn crate::kernel::Clock>,
    ) -> std::result::Result<CoreIdTokenVerifier<'static>, Refusal> {
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| refuse("config", e))?;
        let client_id = ClientId::new(self.settings.client_id.clone());
        let v = match &self.settings.client_secret {
            Some(secret) => CoreIdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.clone()),
                issuer,
                jwks,
            ),
            None => CoreIdTokenVerifier::new_public_client(client_id, issuer, jwks),
        };
        Ok(v.set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        .set_time_fn(move || {
            chrono::DateTime::<chrono::Utc>::from_timestamp_micros(clock.now().micros())
                .unwrap_or_default()
        }))
    }
}

/// The claims Pro Santé Connect adds in userinfo (scope `scope_all`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PscClaims {
    /// National professional identifier: `8` + RPPS or `0` + ADELI.
    #[serde(rename = "IdNat_PS", default, skip_serializing_if = "Option::is_none")]
    pub idnat_ps: Option<String>,
    /// PSC's name for the same identifier.
    #[serde(
        rename = "SubjectNameID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_name_id: Option<String>,
    /// PSC's professional record: `exercices[].codeProfession` (TRE_G15) among others.
    /// Kept as JSON: only a few fields are read, and a change elsewhere in it must not
    /// break sign-in.
    #[serde(
        rename = "SubjectRefPro",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_ref_pro: Option<serde_json::Value>,
}

impl AdditionalClaims for PscClaims {}

type PscUserInfo = UserInfoClaims<PscClaims, CoreGenderClaim>;

/// A professional's national identifier, parsed from `IdNat_PS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NationalId {
    Rpps(Rpps),
    Adeli(Adeli),
}

impl NationalId {
    /// `8` + RPPS (11 digits, Luhn) or `0` + ADELI (9 digits, Luhn).
    pub fn parse(idnat: &str) -> Option<Self> {
        let s = idnat.trim();
        if let Some(r) = s.strip_prefix('8').filter(|r| r.len() == 11) {
            return Rpps::parse(r).ok().map(Self::Rpps);
        }
        if let Some(a) = s.strip_prefix('0').filter(|a| a.len() == 9) {
            return Adeli::parse(a).ok().map(Self::Adeli);
        }
        None
    }
}

/// Where to send the browser, and the `state` to keep in its cookie.
#[derive(Debug, Clone)]
pub struct OidcStart {
    pub url: String,
    pub state: String,
}

/// What the provider sent back through the browser, and the browser's state cookie.
#[derive(Debug, Clone, Default)]
pub struct OidcCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// RFC 9207 `iss` in the authorization response, when the provider sends it.
    pub iss: Option<String>,
    pub cookie_state: Option<String>,
}

/// A refusal: a short stable reason (audited, tested) and details for the log.
struct Refusal {
    why: &'static str,
    detail: String,
}

fn refuse(why: &'static str, detail: impl std::fmt::Display) -> Refusal {
    Refusal {
        why,
        detail: detail.to_string().chars().take(300).collect(),
    }
}

/// What the provider vouched for, once every check passed.
struct Verified {
    /// The ID token as received (sent back as `id_token_hint` when signing out).
    id_token: String,
    subject: String,
    acr: String,
    id: NationalId,
    first_name: Option<String>,
    last_name: Option<String>,
    profession: Option<String>,
    email: Option<String>,
}

/// The TRE_G15 profession of a PSC `SubjectRefPro`: the first `exercices[].codeProfession`
/// that is a known code.
fn profession_of(ref_pro: Option<&serde_json::Value>) -> Option<String> {
    ref_pro?
        .get("exercices")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("codeProfession")?.as_str())
        .find(|c| codes::profession(c).is_some())
        .map(str::to_string)
}

fn claim_verification_reason(e: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::ClaimsVerificationError as E;
    use openidconnect::SignatureVerificationError as S;
    match e {
        E::Expired(_) => "id token expired",
        E::InvalidAudience(_) => "id token audience",
        E::InvalidIssuer(_) => "id token issuer",
        E::InvalidNonce(_) => "id token nonce",
        E::SignatureVerification(S::NoSignature) => "id token unsigned",
        E::SignatureVerification(S::DisallowedAlg(_) | S::UnsupportedAlg(_)) => {
            "id token algorithm"
        }
        E::SignatureVerification(S::NoMatchingKey) => "id token unknown key",
        E::SignatureVerification(_) => "id token signature",
        E::Unsupported(_) => "id token algorithm",
        _ => "id token invalid",
    }
}

impl Platform {
    fn oidc(&self) -> Result<&Oidc> {
        self.auth.oidc.as_deref().ok_or(Error::NotFound)
    }

    /// Where to send the browser when a session opened with the provider signs out: the
    /// provider's `end_session_endpoint` (RP-initiated logout) with the session's ID token
    /// as `id_token_hint`, our client id and the sign-in page as `post_logout_redirect_uri`,
    /// so the provider ends its own session too. `None` for other sessions, or when the
    /// provider has no such endpoint or cannot be reached (signing out here still happens).
    pub async fn oidc_logout_url(&self, session_id: &str) -> Result<Option<String>> {
        let Ok(o) = self.oidc() else {
            return Ok(None);
        };
        let mut tx = self.read().await?;
        let token = repo::session_id_token(&mut tx, session_id).await?;
        tx.rollback().await?;
        let Some(token) = token else {
            return Ok(None);
        };
        let metadata = match self.oidc_metadata(false).await {
            Ok((m, _)) => m,
            Err(r) => {
                tracing::warn!(why = r.why, detail = %r.detail, "OpenID provider unreachable at sign-out");
                return Ok(None);
            }
        };
        let Some(end) = metadata.additional_metadata().end_session_endpoint.as_ref() else {
            return Ok(None);
        };
        let mut url = end.url().clone();
        let back = url::Url::parse(&o.settings.redirect_url)
            .and_then(|u| u.join("/auth/login"))
            .map_err(Error::internal)?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", &token)
            .append_pair("client_id", &o.settings.client_id)
            .append_pair("post_logout_redirect_uri", back.as_str());
        Ok(Some(url.to_string()))
    }

    /// How many times the provider's discovery document was fetched (0 when not configured).
    pub fn oidc_discovery_fetches(&self) -> u64 {
        self.auth.oidc.as_deref().map_or(0, Oidc::discovery_fetches)
    }

    /// Whether sign-in with an OpenID provider is configured, and the provider's name.
    pub fn oidc_label(&self) -> Option<&str> {
        self.auth.oidc.as_deref().map(|o| o.settings.label.as_str())
    }

    /// The provider's discovery document and keys: cached for `METADATA_TTL_US`, fetched
    /// again when older or when `fresh`. The flag says whether it came from the cache.
    async fn oidc_metadata(
        &self,
        fresh: bool,
    ) -> std::result::Result<(ProviderMetadataWithLogout, bool), Refusal> {
        let o = self.oidc().map_err(|e| refuse("not configured", e))?;
        let now = self.now().micros();
        if !fresh && let Some(m) = o.cached(now) {
            return Ok((m, true));
        }
        let issuer = IssuerUrl::new(o.settings.issuer.clone())
            .map_err(|e| refuse("provider unreachable", e))?;
        let m = ProviderMetadataWithLogout::discover_async(issuer, &o.http)
            .await
            .map_err(|e| refuse("provider unreachable", e))?;
        o.remember(now, &m);
        Ok((m, false))
    }

    /// Starts a sign-in: discovery, then a `state`, a `nonce` and a PKCE verifier kept in
    /// `oidc_flows` (the `state` by its hash), and the provider's authorization URL.
    pub async fn oidc_begin(&self) -> Result<OidcStart> {
        let o = self.oidc()?;
        let (metadata, _) = self.oidc_metadata(false).await.map_err(|r| {
            tracing::warn!(why = r.why, detail = %r.detail, "OpenID provider discovery failed");
            Error::Unavailable("the identity provider cannot be reached".into())
        })?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(o.settings.client_id.clone()),
            o.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(
            RedirectUrl::new(o.settings.redirect_url.clone()).map_err(Error::internal)?,
        );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_auth_context_value(AuthenticationContextClass::new(
                o.settings.required_acr.clone(),
            ));
        for s in o.settings.scopes.iter().filter(|s| s.as_str() != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.url();
        let now = self.now().micros();
        let mut tx = self.db.begin().await?;
        repo::oidc_flow_purge(&mut tx, now - self.auth.lifetimes.pending).await?;
        repo::oidc_flow_insert(
            &mut tx,
            &hash_token(state.secret()),
            nonce.secret(),
            verifier.secret(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(OidcStart {
            url: url.to_string(),
            state: state.secret().clone(),
        })
    }

    /// Finishes a sign-in from the provider's answer. Any refusal is audited (`auth.login`
    /// denied, `method: oidc`, why), counted against the client's address, and answered
    /// `Unauthenticated`; throttled addresses get `TooManyRequests` first.
    pub async fn oidc_complete(
        &self,
        cb: OidcCallback,
        client: &ClientInfo,
    ) -> Result<IssuedSession> {
        self.oidc()?;
        let addr = format!("addr:{}", client.address);
        let keys = [(addr.as_str(), &self.auth.per_address)];
        let mut tx = self.read().await?;
        let blocked = self.throttled_keys(&mut tx, &keys).await?;
        tx.rollback().await?;
        if let Some(retry_after) = blocked {
            self.oidc_audit_refusal("throttled", "", None).await?;
            return Err(Error::TooManyRequests { retry_after });
        }
        match self.oidc_verify(cb).await {
            Ok(v) => self.oidc_sign_in(v, client, &keys).await,
            Err(r) => {
                tracing::info!(why = r.why, detail = %r.detail, "OpenID sign-in refused");
                let mut tx = self.db.begin().await?;
                self.count_attempt(&mut tx, &keys).await?;
                tx.commit().await?;
                self.oidc_audit_refusal(r.why, &r.detail, None).await?;
                Err(Error::Unauthenticated)
            }
        }
    }

    async fn oidc_audit_refusal(
        &self,
        why: &str,
        detail: &str,
        object: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        audit::append(
            &mut tx,
            self.now(),
            &Actor::System("auth"),
            &[
                NewEntry::denied("auth.login", "professional", object.unwrap_or("-"))
                    .with(json!({"method": "oidc", "why": why, "detail": detail})),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Every check of the protocol, in order; nothing is written but the flow's use.
    async fn oidc_verify(&self, cb: OidcCallback) -> std::result::Result<Verified, Refusal> {
        let o = self.oidc().map_err(|e| refuse("not configured", e))?;
        let state = cb
            .state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse("state missing", ""))?;
        let cookie = cb
            .cookie_state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| refuse("state cookie missing", ""))?;
        if !super::model::constant_time_eq(state.as_bytes(), cookie.as_bytes()) {
            return Err(refuse("state mismatch", ""));
        }
        // The flow is used up now, whatever follows: a state works once.
        let now = self.now().micros();
        let flow = async {
            let mut tx = self.db.begin().await?;
            let f = repo::oidc_flow_take(
                &mut tx,
                &hash_token(&state),
                now,
                now - self.auth.lifetimes.pending,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(f)
        }
        .await
        .map_err(|e| refuse("storage", e))?;
        let (nonce, verifier) = flow.ok_or_else(|| refuse("state unknown, expired or used", ""))?;
        if let Some(err) = cb.error {
            return Err(refuse("provider refused", err));
        }
        if let Some(iss) = cb.iss
            && iss != o.settings.issuer
        {
            return Err(refuse("authorization response issuer", iss));
        }
        let code = cb
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refuse("code missing", ""))?;
        let (metadata, cached) = self.oidc_metadata(false).await?;
        let jwks = metadata.jwks().clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(o.settings.client_id.clone()),
            o.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(
            RedirectUrl::new(o.settings.redirect_url.clone()).map_err(|e| refuse("config", e))?,
        );
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| refuse("provider has no token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&o.http)
            .await
            .map_err(|e| {
                let detail = match &e {
                    openidconnect::RequestTokenError::ServerResponse(r) => {
                        format!("{} {}", r.error(), r.error_description().map_or("", |d| d))
                    }
                    other => other.to_string(),
                };
                refuse("code exchange refused", detail)
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| refuse("id token missing", ""))?;
        let mut id_verifier = o.id_verifier(jwks, self.clock.clone())?;
        let nonce = Nonce::new(nonce);
        let mut checked = id_token.claims(&id_verifier, &nonce).map(|_| ());
        // A key the cached set does not have: the provider may have rotated its keys since
        // they were fetched. Fetch them once more and check again (the same token, the same
        // rules).
        if cached
            && matches!(
                &checked,
                Err(
                    openidconnect::ClaimsVerificationError::SignatureVerification(
                        openidconnect::SignatureVerificationError::NoMatchingKey
                    )
                )
            )
        {
            let (fresh, _) = self.oidc_metadata(true).await?;
            id_verifier = o.id_verifier(fresh.jwks().clone(), self.clock.clone())?;
            checked = id_token.claims(&id_verifier, &nonce).map(|_| ());
        }
        checked.map_err(|e| refuse(claim_verification_reason(&e), &e))?;
        let claims = id_token
            .claims(&id_verifier, &nonce)
            .map_err(|e| refuse(claim_verification_reason(&e), &e))?;
        // The access token must be the one this ID token was issued with.
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| refuse("id token algorithm", e))?;
            let key = id_token
                .signing_key(&id_verifier)
                .map_err(|e| refuse("id token signature", e))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|e| refuse("access token hash", e))?;
            if actual != *expected {
                return Err(refuse("access token hash", "mismatch"));
            }
        }
        let acr = claims
            .auth_context_ref()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| refuse("acr missing", ""))?;
        if !o.settings.acr_sufficient(&acr) {
            return Err(refuse(
                "acr below required level",
                format!("{acr} < {}", o.settings.required_acr),
            ));
        }
        let subject = claims.subject().clone();
        let info: PscUserInfo = client
            .user_info(tokens.access_token().clone(), Some(subject.clone()))
            .map_err(|e| refuse("provider has no userinfo endpoint", e))?
            .request_async(&o.http)
            .await
            .map_err(|e| refuse("userinfo refused", e))?;
        let extra = info.additional_claims();
        let idnat = extra
            .idnat_ps
            .as_deref()
            .or(extra.subject_name_id.as_deref())
            .ok_or_else(|| refuse("IdNat_PS missing", ""))?;
        let id = NationalId::parse(idnat).ok_or_else(|| refuse("IdNat_PS invalid", idnat))?;
        Ok(Verified {
            id_token: id_token.to_string(),
            subject: subject.as_str().to_string(),
            acr,
            id,
            first_name: info
                .given_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().trim().to_string()),
            last_name: info
                .family_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().trim().to_string()),
            profession: profession_of(extra.subject_ref_pro.as_ref()),
            email: info.email().map(|e| e.as_str().to_string()),
        })
    }

    /// Signs the verified professional in, creating their silent account if the number is
    /// unknown; one transaction with the audit entries.
    async fn oidc_sign_in(
        &self,
        v: Verified,
        client: &ClientInfo,
        keys: &[(&str, &super::model::ThrottlePolicy)],
    ) -> Result<IssuedSession> {
        let mut tx = self.db.begin().await?;
        let existing = match &v.id {
            NationalId::Rpps(r) => dir::find_by_rpps(&mut tx, r.as_str()).await?,
            NationalId::Adeli(a) => find_by_adeli(&mut tx, a.as_str()).await?,
        };
        let (row, created) = match existing {
            Some(row) if !row.active => {
                tx.rollback().await?;
                let mut tx = self.db.begin().await?;
                self.count_attempt(&mut tx, keys).await?;
                tx.commit().await?;
                self.oidc_audit_refusal("account disabled", "", Some(&row.id))
                    .await?;
                return Err(Error::Unauthenticated);
            }
            Some(row) => (row, false),
            None => match self.oidc_silent_account(&mut tx, &v).await {
                Ok(row) => (row, true),
                Err(why) => {
                    tx.rollback().await?;
                    self.oidc_audit_refusal(why, "", None).await?;
                    return Err(Error::Unauthenticated);
                }
            },
        };
        let issued = self
            .open_session_for(&mut tx, &row.id, Stage::Full, "oidc", client)
            .await?;
        repo::set_session_id_token(&mut tx, &hash_token(&issued.token), &v.id_token).await?;
        let actor = Actor::Professional(crate::kernel::actor::ProfessionalActor {
            id: row.id.clone(),
            display_name: row.display_name(),
            profession: row.profession.clone(),
        });
        let mut entries = Vec::new();
        if created {
            entries.push(
                NewEntry::success("professional.create", "professional", &row.id)
                    .with(json!({"silent": true, "via": "oidc"})),
            );
        }
        entries.push(
            NewEntry::success("auth.login", "professional", &row.id).with(json!({
                "method": "oidc",
                "acr": v.acr,
                "stage": Stage::Full.as_str(),
                "silent_account_created": created,
            })),
        );
        audit::append(&mut tx, self.now(), &actor, &entries).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// A professional unknown here, vouched for by the provider: a silent account with the
    /// identity and profession from the claims, no password, no organisation.
    async fn oidc_silent_account(
        &self,
        tx: &mut Tx,
        v: &Verified,
    ) -> std::result::Result<dir::ProfessionalRow, &'static str> {
        let (rpps, adeli) = match &v.id {
            NationalId::Rpps(r) => (Some(r.to_string()), None),
            NationalId::Adeli(a) => (None, Some(a.to_string())),
        };
        let input = NewProfessional {
            rpps,
            adeli,
            first_name: v.first_name.clone().unwrap_or_default(),
            last_name: v.last_name.clone().unwrap_or_default(),
            profession: v
                .profession
                .clone()
                .ok_or("profession missing for a new account")?,
            specialties: Vec::new(),
            email: v.email.clone().filter(|e| e.contains('@')),
        };
        let valid = input
            .validate()
            .map_err(|_| "identity claims invalid for a new account")?;
        let id = new_id();
        match dir::insert_professional(tx, &valid, &id, self.now()).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err("account created concurrently"),
            Err(_) => return Err("storage"),
        }
        tracing::info!(subject = %v.subject, professional = %id, "silent account created");
        dir::get_professional_row(tx, &id)
            .await
            .ok()
            .flatten()
            .ok_or("storage")
    }
}

async fn find_by_adeli(tx: &mut Tx, adeli: &str) -> Result<Option<dir::ProfessionalRow>> {
    let sql = "SELECT id, rpps, adeli, first_name, last_name, profession, active
               FROM professionals WHERE adeli = $1";
    Ok(crate::run!(tx, |c| sqlx::query_as::<
        _,
        dir::ProfessionalRow,
    >(sql)
    .bind(adeli)
    .fetch_optional(c)
    .await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_reused_for_ten_minutes() {
        let t = 1_000_000_000;
        assert!(still_fresh(t, t));
        assert!(still_fresh(t, t + METADATA_TTL_US - 1));
        assert!(!still_fresh(t, t + METADATA_TTL_US));
        assert!(!still_fresh(t, t - 1), "a clock that went back refetches");
    }

    fn settings(required: &str) -> OidcSettings {
        OidcSettings {
            issuer: "https://auth.example".into(),
            client_id: "c".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
            required_acr: required.into(),
            acr_levels: vec!["eidas1".into(), "eidas2".into(), "eidas3".into()],
            redirect_url: String::new(),
            label: "Pro Santé Connect".into(),
        }
    }

    #[test]
    fn acr_levels_are_ordered() {
        let s = settings("eidas2");
        assert!(!s.acr_sufficient("eidas1"));
        assert!(s.acr_sufficient("eidas2"));
        assert!(s.acr_sufficient("eidas3"));
        assert!(!s.acr_sufficient("unknown"));
        assert!(!s.acr_sufficient(""));
        let odd = settings("urn:custom");
        assert!(odd.acr_sufficient("urn:custom"));
        assert!(!odd.acr_sufficient("eidas3"));
    }

    #[test]
    fn idnat_ps_parses_rpps_and_adeli_with_their_prefix() {
        assert_eq!(
            NationalId::parse("810000000009"),
            Some(NationalId::Rpps(Rpps::parse("10000000009").expect("valid")))
        );
        assert_eq!(
            NationalId::parse("0879101558"),
            Some(NationalId::Adeli(Adeli::parse("879101558").expect("valid")))
        );
        for bad in [
            "10000000009",
            "810000000008",
            "8100000000091",
            "0879101559",
            "",
            "8",
            "x10000000009",
        ] {
            assert_eq!(NationalId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn profession_is_the_first_known_tre_g15_code() {
        let v = serde_json::json!({"exercices": [
            {"codeProfession": "zz"}, {"codeProfession": "10"}, {"codeProfession": "60"}
        ]});
        assert_eq!(profession_of(Some(&v)), Some("10".into()));
        assert_eq!(profession_of(Some(&serde_json::json!({}))), None);
        assert_eq!(profession_of(None), None);
    }
}
