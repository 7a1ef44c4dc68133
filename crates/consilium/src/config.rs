//! Configuration, layered: defaults → optional TOML file → `CONSILIUM_*` environment.
//! The file is `$CONSILIUM_CONFIG` if set, else `consilium.toml` in the working directory
//! when it exists.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Where local state lives (SQLite file, later attachments).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data_dir>/consilium.db`.
    pub database_url: Option<String>,
    /// Address the server listens on.
    pub listen: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Whether `serve` runs the job worker (mail, timers). Turn it off only on an instance
    /// that must not do background work; at least one instance must run it.
    pub jobs_worker: bool,
    /// How often an idle worker looks for due jobs, in milliseconds (timers fire within
    /// this delay; an enqueue in the same process wakes it at once).
    pub jobs_poll_ms: u64,
    /// How long a worker may hold a job before another instance takes it over (seconds):
    /// longer than the slowest job, short enough that a dead instance's work resumes soon.
    pub jobs_lease_seconds: i64,
    /// Days a done job is kept (for `jobs list` and investigations) before the worker
    /// deletes it; at least 8 (a dedupe key must outlive whatever could set it again).
    #[serde(default = "default_done_retention")]
    pub jobs_done_retention_days: i64,
    /// Set by `serve --demo`: the sign-in page lists the synthetic demo accounts and the
    /// second-factor page shows their current code. Never for real accounts.
    #[serde(default)]
    pub demo_mode: bool,
    /// The address users reach the platform at (e.g. `https://consilium.example.org`): links
    /// in emails, and the `Origin` a browser must send with state-changing requests. When
    /// unset, the `Origin` must match the request's `Host`.
    pub public_url: Option<String>,
    /// A browser session unused this long ends.
    pub session_idle_minutes: i64,
    /// A browser session ends this long after sign-in, however active.
    pub session_absolute_hours: i64,
    /// Argon2id memory cost, in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Failed sign-ins (or second-factor codes) per account before a delay is imposed.
    pub login_max_failures: i64,
    /// Failed attempts per client address before a delay is imposed.
    pub login_max_failures_per_address: i64,
    /// SMTP server for outgoing mail: `smtp://host:port` (plain, a local relay),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://…` (TLS). Unset: no
    /// mail is sent (mail jobs complete and log it).
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail, e.g. `Consilium <no-reply@example.org>`.
    pub mail_from: String,
    /// Days after submission when the assignee is reminded of an unanswered request (R9).
    pub reminder_days: Vec<i64>,
    /// Hours before the 7-day deadline when the case assigner (or an administrator) is told.
    pub escalation_hours_before_deadline: i64,
    /// Where attachment blobs live: empty for `<data_dir>/blobs`, `file:///path`.
    pub blob_url: Option<String>,
    /// S3 endpoint (`http(s)://host:port`), for `s3://` blob URLs; default AWS.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key: Option<String>,
    pub s3_secret_key: Option<Secret>,
    /// Path-style S3 requests (self-hosted stores); `false` for virtual-hosted style.
    pub s3_path_style: bool,
    /// Key-encryption keys from the environment (`id:base64[,id:base64…]`, current last);
    /// when unset, the key file is used.
    pub master_keys: Option<Secret>,
    /// The key file (created with mode 0600 on first start); default `<data_dir>/keys/master.keys`.
    pub key_file: Option<PathBuf>,
    /// Largest attachment, in bytes.
    pub attachment_max_file_bytes: u64,
    /// Most attachment bytes per case.
    pub attachment_max_case_bytes: u64,
    /// Keep the original of re-encoded images (encrypted too).
    pub attachment_keep_originals: bool,
    /// How long a closed case is kept before it may be purged, in days.
    pub retention_days: i64,
    /// RPPS numbers of the platform's operators: they list the job queue and revive dead
    /// jobs through the API (`/api/v1/operations/jobs`). Nobody by default (the CLI's
    /// `jobs list` and `jobs retry` remain).
    #[serde(default)]
    pub operators: Vec<String>,
    /// OpenID Connect sign-in (Pro Santé Connect): the provider's issuer URL, exactly as its
    /// discovery document says (e.g. `https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet`).
    /// Unset: no OpenID sign-in.
    #[serde(default)]
    pub oidc_issuer: Option<String>,
    /// The client id Consilium is registered with at the provider.
    #[serde(default)]
    pub oidc_client_id: Option<String>,
    /// The client secret (sent with HTTP Basic to the token endpoint).
    #[serde(default)]
    pub oidc_client_secret: Option<Secret>,
    /// Scopes asked for; `openid` is always included. PSC: `openid scope_all`.
    pub oidc_scopes: Vec<String>,
    /// The lowest `acr` (eIDAS level) accepted, asked for with `acr_values`.
    pub oidc_required_acr: String,
    /// Known `acr` values, weakest first (a stronger one than required is accepted).
    pub oidc_acr_levels: Vec<String>,
    /// The redirect URI registered at the provider; default `<public_url>/auth/oidc/callback`,
    /// or, without `public_url`, `http://<listen address>/auth/oidc/callback` (local use).
    #[serde(default)]
    pub oidc_redirect_url: Option<String>,
    /// The provider's name on the sign-in button.
    pub oidc_label: String,
    /// Reverse proxies (addresses or CIDR ranges, e.g. `["10.0.0.0/8", "::1"]`) whose
    /// `X-Forwarded-For` gives the client's address (throttling, the sessions list, audit).
    /// Empty: the connection's peer is the client and the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Also accept webhook receivers on loopback (`http://127.0.0.1:…`, `localhost`): for
    /// tests and a receiver on the same machine only. Off: webhooks must be `https` to a
    /// public address (never a private network's: SSRF).
    #[serde(default)]
    pub webhook_allow_loopback: bool,
}

fn default_done_retention() -> i64 {
    crate::jobs::DEFAULT_DONE_RETENTION_DAYS
}

/// A secret setting: never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            log_format: "text".into(),
            jobs_worker: true,
            jobs_poll_ms: 500,
            jobs_lease_seconds: 300,
            jobs_done_retention_days: crate::jobs::DEFAULT_DONE_RETENTION_DAYS,
            demo_mode: false,
            public_url: None,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            login_max_failures: 5,
            login_max_failures_per_address: 30,
            smtp_url: None,
            mail_from: "Consilium <no-reply@consilium.localhost>".into(),
            reminder_days: vec![3, 5],
            escalation_hours_before_deadline: 24,
            blob_url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key: None,
            s3_secret_key: None,
            s3_path_style: true,
            master_keys: None,
            key_file: None,
            attachment_max_file_bytes: 50 * 1024 * 1024,
            attachment_max_case_bytes: 500 * 1024 * 1024,
            attachment_keep_originals: false,
            retention_days: 20 * 365,
            operators: Vec::new(),
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_scopes: vec!["openid".into(), "scope_all".into()],
            oidc_required_acr: "eidas1".into(),
            oidc_acr_levels: vec!["eidas1".into(), "eidas2".into(), "eidas3".into()],
            oidc_redirect_url: None,
            oidc_label: "Pro Santé Connect".into(),
            trusted_proxies: Vec::new(),
            webhook_allow_loopback: false,
        }
    }
}

impl Config {
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        let file = std::env::var("CONSILIUM_CONFIG")
            .map(PathBuf::from)
            .ok()
            .or_else(|| Some(PathBuf::from("consilium.toml")).filter(|p| p.exists()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        f.merge(Env::prefixed("CONSILIUM_").ignore(&["CONFIG"]))
            .extract()
            .map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) if !u.trim().is_empty() => u.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("consilium.db").display()),
        }
    }

    /// Sign-in settings from this configuration.
    pub fn auth_settings(&self) -> crate::kernel::Result<crate::auth::service::AuthSettings> {
        use crate::auth::password::{Argon2Params, Hasher};
        use crate::kernel::time::MICROS_PER_SECOND;
        let hasher = Hasher::new(Argon2Params {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        })?;
        let mut s = crate::auth::service::AuthSettings::new(hasher);
        let minute = 60 * MICROS_PER_SECOND;
        s.lifetimes.idle = self.session_idle_minutes.max(1) * minute;
        s.lifetimes.absolute = self.session_absolute_hours.max(1) * 60 * minute;
        s.per_account.max_failures = self.login_max_failures.max(1);
        s.per_address.max_failures = self.login_max_failures_per_address.max(1);
        s.oidc = self
            .oidc_settings()?
            .map(|o| crate::auth::oidc::Oidc::new(o).map(std::sync::Arc::new))
            .transpose()?;
        Ok(s)
    }

    /// The OpenID provider's settings, if an issuer is configured. The redirect URL stays
    /// empty when neither `oidc_redirect_url` nor `public_url` is set: the server fills it
    /// in from the address it listens on.
    pub fn oidc_settings(&self) -> crate::kernel::Result<Option<crate::auth::oidc::OidcSettings>> {
        use crate::kernel::Error;
        let Some(issuer) = self.oidc_issuer.as_ref().filter(|i| !i.trim().is_empty()) else {
            return Ok(None);
        };
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                Error::Unavailable("oidc_issuer is set but oidc_client_id is not".into())
            })?;
        if self.oidc_required_acr.trim().is_empty() {
            return Err(Error::Unavailable(
                "oidc_required_acr must not be empty".into(),
            ));
        }
        let redirect_url = match (&self.oidc_redirect_url, &self.public_url) {
            (Some(r), _) if !r.trim().is_empty() => r.trim().to_string(),
            (_, Some(p)) if !p.trim().is_empty() => {
                format!("{}/auth/oidc/callback", p.trim().trim_end_matches('/'))
            }
            _ => String::new(),
        };
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(self.oidc_scopes.iter().filter(|s| *s != "openid").cloned());
        Ok(Some(crate::auth::oidc::OidcSettings {
            issuer: issuer.trim().to_string(),
            client_id,
            client_secret: self.oidc_client_secret.as_ref().map(|s| s.0.clone()),
            scopes,
            required_acr: self.oidc_required_acr.trim().to_string(),
            acr_levels: self.oidc_acr_levels.clone(),
            redirect_url,
            label: self.oidc_label.clone(),
        }))
    }

    /// The key file path.
    pub fn key_file(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("master.keys"))
    }

    /// Where the key-encryption keys come from.
    pub fn key_source(&self) -> crate::attachments::KeySource {
        match &self.master_keys {
            Some(Secret(v)) if !v.trim().is_empty() => {
                crate::attachments::KeySource::Env(v.clone())
            }
            _ => crate::attachments::KeySource::File(self.key_file()),
        }
    }

    /// The attachment store, keys (the key file is created if absent) and limits.
    pub fn attachments(&self) -> crate::kernel::Result<crate::attachments::Attachments> {
        let store =
            crate::storage::BlobStore::from_url(self.blob_url.as_deref(), &self.data_dir, |url| {
                crate::storage::s3::S3Settings {
                    url: url.to_string(),
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                    access_key: self.s3_access_key.clone().unwrap_or_default(),
                    secret_key: self
                        .s3_secret_key
                        .as_ref()
                        .map(|s| s.0.clone())
                        .unwrap_or_default(),
                    path_style: self.s3_path_style,
                }
            })?;
        crate::attachments::Attachments::new(
            store,
            self.key_source(),
            crate::attachments::Limits {
                max_file_bytes: self.attachment_max_file_bytes,
                max_case_bytes: self.attachment_max_case_bytes,
                keep_originals: self.attachment_keep_originals,
            },
        )
    }

    /// Creates the data directory for a SQLite database that lives in it.
    pub fn prepare_data_dir(&self) -> std::io::Result<()> {
        if self.database_url().starts_with("sqlite:") {
            std::fs::create_dir_all(&self.data_dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_env() {
        #[allow(clippy::result_large_err)]
        figment::Jail::expect_with(|jail| {
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c, Config::default());
            assert_eq!(c.database_url(), "sqlite://data/consilium.db");
            jail.create_file(
                "consilium.toml",
                "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/c\"",
            )?;
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "0.0.0.0:9000");
            assert_eq!(c.database_url(), "sqlite:///srv/c/consilium.db");
            jail.set_env("CONSILIUM_LISTEN", "127.0.0.1:1");
            jail.set_env("CONSILIUM_DATABASE_URL", "postgres://u@h/db");
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:1");
            assert_eq!(c.database_url(), "postgres://u@h/db");
            Ok(())
        });
    }
}
