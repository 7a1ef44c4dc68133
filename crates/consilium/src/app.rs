//! Builds the application: database, migrations, router, listener. Binding port 0 gives
//! each integration test its own server.

use crate::config::Config;
use crate::db::Db;
use crate::kernel::{Clock, SystemClock};
use crate::platform::Platform;
use crate::web::{self, AppState};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct App {
    pub addr: SocketAddr,
    pub platform: Platform,
    listener: TcpListener,
    router: axum::Router,
    /// Poll interval of the job worker, when this instance runs one.
    worker: Option<std::time::Duration>,
}

impl App {
    /// Connects, migrates and binds. The server runs when `run` is awaited.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        config.prepare_data_dir()?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let mut platform = Platform::new(db, clock)
            .with_auth(config.auth_settings()?)
            .with_attachments(config.attachments()?);
        platform.mailer = Arc::new(crate::mail::Mailer::from_config(&config)?);
        // TOTP and webhook secrets stored in clear by an older version (or under a retired
        // key) are sealed with the current key before anything reads them.
        let startup = crate::platform::Ctx::system("startup");
        let sealed = platform.reseal_totp_secrets(&startup).await?;
        if sealed > 0 {
            tracing::info!(sealed, "TOTP secrets sealed with the current key");
        }
        let sealed = platform.reseal_webhook_secrets(&startup).await?;
        if sealed > 0 {
            tracing::info!(sealed, "webhook secrets sealed with the current key");
        }
        platform.jobs_lease_seconds = config.jobs_lease_seconds.max(1);
        platform.jobs_done_retention_days = config
            .jobs_done_retention_days
            .max(crate::jobs::MIN_DONE_RETENTION_DAYS);
        platform.webhooks.allow_loopback = config.webhook_allow_loopback;
        platform.deadlines = crate::routing::DeadlinePolicy {
            reminder_days: config.reminder_days.clone(),
            escalation_hours_before_deadline: config.escalation_hours_before_deadline,
        };
        Self::from_platform(config, platform).await
    }

    pub async fn from_platform(config: Config, mut platform: Platform) -> anyhow::Result<App> {
        let listener = TcpListener::bind(&config.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on '{}' (CONSILIUM_LISTEN): {e}",
                config.listen
            )
        })?;
        let addr = listener.local_addr()?;
        crate::web::proxies::TrustedProxies::parse(&config.trusted_proxies)
            .map_err(anyhow::Error::msg)?;
        // The OpenID redirect URL, when not configured, is this server's own address.
        if let Some(o) = platform.auth.oidc.as_ref()
            && o.settings.redirect_url.is_empty()
        {
            if addr.ip().is_unspecified() {
                anyhow::bail!(
                    "OpenID sign-in needs public_url or oidc_redirect_url when listening on {addr}"
                );
            }
            let mut settings = o.settings.clone();
            settings.redirect_url = format!("http://{addr}/auth/oidc/callback");
            let mut auth = (*platform.auth).clone();
            auth.oidc = Some(Arc::new(crate::auth::oidc::Oidc::new(settings)?));
            platform.auth = Arc::new(auth);
        }
        // Passkeys: the relying party is the public origin, or localhost for a server on
        // loopback without one. An IP address in public_url leaves them off (WebAuthn
        // needs a domain name), with a warning.
        let passkeys = match &config.public_url {
            Some(u) => crate::auth::passkeys::PasskeySettings::for_origin(u),
            None if addr.ip().is_loopback() || addr.ip().is_unspecified() => {
                crate::auth::passkeys::PasskeySettings::for_loopback(addr.port())
            }
            None => Err(format!("passkeys need public_url when listening on {addr}")),
        };
        let mut auth = (*platform.auth).clone();
        auth.passkeys = match passkeys {
            Ok(p) => Some(Arc::new(p)),
            Err(why) => {
                tracing::warn!("{why}: passkeys are off");
                None
            }
        };
        platform.auth = Arc::new(auth);
        let worker = config
            .jobs_worker
            .then(|| std::time::Duration::from_millis(config.jobs_poll_ms.max(10)));
        let state = Arc::new(AppState {
            platform: platform.clone(),
            config,
            metrics: Arc::new(web::metrics::Metrics::default()),
        });
        Ok(App {
            addr,
            platform,
            listener,
            router: web::router(state),
            worker,
        })
    }

    /// Serves (and runs the job worker) until `shutdown` resolves, then finishes in-flight
    /// requests and the job being run.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Orphan sweep: temp files and unreferenced blobs left by interrupted uploads.
        let sweeper = self.platform.clone();
        let sweep = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                if sweeper.attachments.is_none() {
                    return;
                }
                match sweeper
                    .sweep_orphans(std::time::Duration::from_secs(3600))
                    .await
                {
                    Ok((0, 0)) => {}
                    Ok((t, b)) => tracing::info!(temp = t, blobs = b, "orphan sweep"),
                    Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
                }
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = self
            .worker
            .map(|poll| tokio::spawn(crate::jobs::worker(self.platform.clone(), poll, stop_rx)));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
        if let Some(w) = worker {
            let _ = w.await;
        }
        sweep.abort();
        self.platform.db.close().await;
        served?;
        Ok(())
    }
}
