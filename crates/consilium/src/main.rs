//! The `consilium` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use consilium::app::App;
use consilium::config::Config;
use consilium::db::{Db, redact_url};
use consilium::platform::{Ctx, Platform};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "consilium",
    version,
    about = "Open-source teleexpertise platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Seed the synthetic demo data set (once; running again does not duplicate it).
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Seed the synthetic demo data set into the configured database.
    Demo,
    /// Audit trail commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Directory administration.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// The job queue (mail, timers): list jobs, retry dead ones.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Check that the configured server answers on /readyz (exit 0) or not (exit 1).
    Healthcheck,
    /// Key-encryption keys of attachments.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The attachment blob store.
    Blobs {
        #[command(subcommand)]
        command: BlobsCommand,
    },
    /// Case administration.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new current key to the key file and rewrap every case key with it (blobs are
    /// not re-encrypted), and reseal TOTP and webhook secrets with it. Safe to interrupt and
    /// run again.
    Rotate {
        /// Do not add a key: rewrap with the current (last) key only (keys from
        /// CONSILIUM_MASTER_KEYS, or finishing an interrupted rotation).
        #[arg(long)]
        rewrap_only: bool,
        /// Then remove from the key file the keys no case key or sealed secret uses any more.
        #[arg(long)]
        retire: bool,
    },
    /// List key ids and how many case keys each wraps.
    Status,
}

#[derive(Subcommand)]
enum BlobsCommand {
    /// Check every referenced blob exists and authenticates (N2/N6); exit 1 if not.
    Check,
    /// Remove temp files and unreferenced blobs older than the grace period.
    Sweep {
        #[arg(long, default_value = "60")]
        grace_minutes: u64,
    },
}

#[derive(Subcommand)]
enum CaseCommand {
    /// Purge an ended case after its retention period: destroy its data key
    /// (crypto-shredding) and delete its blobs.
    Purge {
        case_id: String,
        /// Override the configured retention period (days).
        #[arg(long)]
        retention_days: Option<i64>,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs (one JSON line each), most recently changed first.
    List {
        /// Only dead jobs (given up after their last attempt): the dead-letter list.
        #[arg(long)]
        dead: bool,
        /// Only jobs in this state (pending, running, done, dead).
        #[arg(long, conflicts_with = "dead")]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Put a dead job back in the queue, due now, with its attempts reset.
    Retry { id: String },
    /// Delete the done jobs older than `jobs_done_retention_days` (the server's worker does
    /// it hourly).
    Purge,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation with its first administrator; prints the administrator's
    /// bearer token (they then add members and teams through the API).
    Create {
        #[arg(long)]
        name: String,
        /// cabinet, msp, centre_sante, hospital_service or cpts
        #[arg(long)]
        kind: String,
        #[arg(long)]
        finess: Option<String>,
        #[arg(long)]
        city: Option<String>,
        #[arg(long)]
        postcode: Option<String>,
        #[arg(long)]
        admin_rpps: String,
        #[arg(long)]
        admin_first_name: String,
        #[arg(long)]
        admin_last_name: String,
        /// TRE_G15 profession code of the administrator.
        #[arg(long, default_value = "10")]
        admin_profession: String,
        #[arg(long)]
        admin_email: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the whole hash chain offline; reports the first broken entry.
    Verify {
        /// A file of exported checkpoints (JSON lines from `audit checkpoint`): the chain must
        /// contain each of them, which catches a rewritten chain or a restored old copy.
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Verify the chain, then print its current head as a checkpoint (one JSON line) to keep
    /// outside the database, or append it to `--out`.
    Checkpoint {
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new bearer token for the professional with this RPPS.
    Create {
        #[arg(long)]
        rpps: String,
        #[arg(long, default_value = "cli")]
        label: String,
        /// Expire after this many days (default: never).
        #[arg(long)]
        days: Option<i64>,
    },
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONSILIUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(config: &Config) -> anyhow::Result<Platform> {
    config
        .prepare_data_dir()
        .context("cannot create the data directory")?;
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    Ok(Platform::new(db, Arc::new(consilium::kernel::SystemClock))
        .with_auth(config.auth_settings()?))
}

/// `open`, with the attachment store and keys.
async fn open_with_store(config: &Config) -> anyhow::Result<Platform> {
    let p = open(config).await?;
    Ok(p.with_attachments(config.attachments()?))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&config);
    match run(cli, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve { demo } => {
            let started = Instant::now();
            let mut config = config;
            config.demo_mode = demo;
            let app = App::build(config.clone()).await?;
            let demo_info = if demo {
                let info = consilium::demo::seed(&app.platform).await?;
                consilium::demo::enrol_second_factors(&app.platform).await?;
                Some(info)
            } else {
                None
            };
            let base = format!("http://{}", app.addr);
            println!("Consilium is running on {base}");
            println!("  database: {}", redact_url(&config.database_url()));
            println!(
                "  API: {base}/api/v1   OpenAPI: {base}/api/openapi.json   health: {base}/healthz"
            );
            if let Some(info) = demo_info {
                println!("{}", info.banner(&base));
            }
            println!(
                "Ready in {} ms. Press Ctrl+C to stop.",
                started.elapsed().as_millis()
            );
            let _ = std::io::stdout().flush();
            app.run(shutdown_signal()).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    rewrap_only,
                    retire,
                },
        } => {
            let p = open_with_store(&config).await?;
            let r = p
                .rotate_keys(&Ctx::system("cli"), !rewrap_only, retire)
                .await?;
            println!(
                "current key {}; {} case key(s) rewrapped; {} TOTP secret(s) sealed; {} webhook secret(s) sealed; case keys per key: {:?}{}",
                r.current_key,
                r.rewrapped,
                r.totp_resealed,
                r.webhooks_resealed,
                r.by_key,
                if r.retired.is_empty() {
                    String::new()
                } else {
                    format!("; retired {:?}", r.retired)
                }
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Status,
        } => {
            let p = open_with_store(&config).await?;
            let r = p.rotate_keys(&Ctx::system("cli"), false, false).await;
            match r {
                Ok(r) => println!(
                    "current key {}; case keys per key: {:?}",
                    r.current_key, r.by_key
                ),
                Err(e) => return Err(e.into()),
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Blobs {
            command: BlobsCommand::Check,
        } => {
            let p = open_with_store(&config).await?;
            let r = p.check_store().await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(if r.is_clean() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
        Command::Blobs {
            command: BlobsCommand::Sweep { grace_minutes },
        } => {
            let p = open_with_store(&config).await?;
            let (temp, blobs) = p
                .sweep_orphans(std::time::Duration::from_secs(grace_minutes * 60))
                .await?;
            println!("removed {temp} temp file(s) and {blobs} orphan blob(s)");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Case {
            command:
                CaseCommand::Purge {
                    case_id,
                    retention_days,
                },
        } => {
            let p = open_with_store(&config).await?;
            let n = p
                .purge_case(
                    &Ctx::system("cli"),
                    &case_id,
                    retention_days.unwrap_or(config.retention_days),
                )
                .await?;
            println!(
                "case {case_id} purged: data key destroyed, {n} attachment(s) unreadable and deleted"
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&config).await?;
            println!("database migrated: {}", redact_url(&config.database_url()));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Demo => {
            let p = open(&config).await?;
            let info = consilium::demo::seed(&p).await?;
            println!("{}", info.banner(&format!("http://{}", config.listen)));
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { checkpoints },
        } => {
            let checkpoints = match &checkpoints {
                Some(path) => read_checkpoints(path)?,
                None => Vec::new(),
            };
            let p = open(&config).await?;
            let start = Instant::now();
            match consilium::audit::verify_against(&p.db, &checkpoints).await? {
                Ok(rep) => {
                    let secs = start.elapsed().as_secs_f64();
                    println!(
                        "audit chain intact: {} entries, last #{} {} ({:.0} entries/s){}",
                        rep.entries,
                        rep.last_seq,
                        rep.last_hash,
                        rep.entries as f64 / secs.max(1e-9),
                        if checkpoints.is_empty() {
                            String::new()
                        } else {
                            format!("; consistent with {} checkpoint(s)", checkpoints.len())
                        }
                    );
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(b) => {
                    println!("AUDIT CHAIN BROKEN at entry {}: {b}", b.seq());
                    Ok(std::process::ExitCode::from(1))
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Checkpoint { out },
        } => {
            let p = open(&config).await?;
            match consilium::audit::verify(&p.db).await? {
                Ok(rep) => {
                    let cp = consilium::audit::Checkpoint {
                        seq: rep.last_seq,
                        hash: rep.last_hash,
                        at: Some(p.now().to_rfc3339()),
                    };
                    let line = serde_json::to_string(&cp)?;
                    match out {
                        Some(path) => {
                            let mut f = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(&path)?;
                            writeln!(f, "{line}")?;
                            f.sync_all()?;
                            eprintln!("checkpoint #{} appended to {}", cp.seq, path.display());
                        }
                        None => println!("{line}"),
                    }
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(b) => {
                    println!(
                        "AUDIT CHAIN BROKEN at entry {}: {b}; no checkpoint taken",
                        b.seq()
                    );
                    Ok(std::process::ExitCode::from(1))
                }
            }
        }
        Command::Token {
            command: TokenCommand::Create { rpps, label, days },
        } => {
            let p = open(&config).await?;
            match p
                .create_token_for_rpps(&Ctx::system("cli"), &rpps, &label, days)
                .await
            {
                Ok(t) => {
                    println!("{t}");
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(e) => usage_error(e),
            }
        }
        Command::Org {
            command:
                OrgCommand::Create {
                    name,
                    kind,
                    finess,
                    city,
                    postcode,
                    admin_rpps,
                    admin_first_name,
                    admin_last_name,
                    admin_profession,
                    admin_email,
                },
        } => {
            use consilium::directory::model::{NewOrganisation, NewProfessional, OrganisationKind};
            let Some(kind) = OrganisationKind::parse(&kind) else {
                eprintln!("kind: must be cabinet, msp, centre_sante, hospital_service or cpts");
                return Ok(std::process::ExitCode::from(2));
            };
            let p = open(&config).await?;
            let ctx = Ctx::system("cli");
            let admin_input = NewProfessional {
                rpps: Some(admin_rpps.clone()),
                adeli: None,
                first_name: admin_first_name,
                last_name: admin_last_name,
                profession: admin_profession,
                specialties: Vec::new(),
                email: admin_email,
            };
            let result = async {
                // Check everything before writing anything, so a typo leaves no orphan.
                let org_input = NewOrganisation {
                    name,
                    kind,
                    finess,
                    siret: None,
                    city,
                    postcode,
                }
                .validate()?;
                admin_input
                    .clone()
                    .validate()
                    .map_err(consilium::kernel::Error::Invalid)?;
                if p.search_by_rpps(&admin_rpps).await?.is_some() {
                    return Err(consilium::kernel::Error::invalid(
                        "admin_rpps",
                        "a professional with this RPPS already exists",
                    ));
                }
                let org = p.create_organisation(&ctx, org_input).await?;
                let admin = p
                    .create_professional(&ctx, admin_input, &[(org.id.clone(), "admin")])
                    .await?;
                let token = p
                    .create_token_for_rpps(&ctx, &admin_rpps, "org-admin", None)
                    .await?;
                Ok::<_, consilium::kernel::Error>((org, admin, token))
            }
            .await;
            match result {
                Ok((org, admin, token)) => {
                    println!("organisation {} ({})", org.name, org.id);
                    println!("administrator {} ({})", admin.display_name, admin.id);
                    println!("{token}");
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(e) => usage_error(e),
            }
        }
        Command::Jobs {
            command: JobsCommand::List { dead, state, limit },
        } => {
            use consilium::jobs::JobState;
            let state = match (dead, state) {
                (true, _) => Some(JobState::Dead),
                (false, Some(s)) => Some(JobState::parse(&s).ok_or_else(|| {
                    anyhow::anyhow!("unknown state '{s}' (pending, running, done, dead)")
                })?),
                (false, None) => None,
            };
            let p = open(&config).await?;
            let mut tx = p.db.begin().await?;
            let rows = consilium::jobs::repo::list(&mut tx, state, limit.clamp(1, 10_000)).await?;
            tx.commit().await?;
            for r in &rows {
                println!("{}", serde_json::to_string(r)?);
            }
            eprintln!("{} job(s)", rows.len());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Jobs {
            command: JobsCommand::Retry { id },
        } => {
            let p = open(&config).await?;
            let mut tx = p.db.begin().await?;
            let ok = consilium::jobs::repo::retry_dead(&mut tx, p.now(), &id).await?;
            tx.commit().await?;
            if ok {
                println!("job {id} is pending again");
                Ok(std::process::ExitCode::SUCCESS)
            } else {
                eprintln!("no dead job with id {id}");
                Ok(std::process::ExitCode::FAILURE)
            }
        }
        Command::Jobs {
            command: JobsCommand::Purge,
        } => {
            let mut p = open(&config).await?;
            p.jobs_done_retention_days = config
                .jobs_done_retention_days
                .max(consilium::jobs::MIN_DONE_RETENTION_DAYS);
            let n = consilium::jobs::purge_done(&p).await?;
            println!(
                "{n} done job(s) older than {} days deleted",
                p.jobs_done_retention_days
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Healthcheck => {
            let addr = config.listen.replace("0.0.0.0", "127.0.0.1");
            match healthcheck(&addr).await {
                Ok(()) => {
                    println!("ok: {addr} is ready");
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("not ready: {addr}: {e}");
                    Ok(std::process::ExitCode::FAILURE)
                }
            }
        }
    }
}

/// Invalid input is the user's to fix: each field on stderr and exit 2; anything else fails.
fn usage_error(e: consilium::kernel::Error) -> anyhow::Result<std::process::ExitCode> {
    match e {
        consilium::kernel::Error::Invalid(errs) => {
            for e in errs {
                eprintln!("{}: {}", e.field, e.message);
            }
            Ok(std::process::ExitCode::from(2))
        }
        e => Err(e.into()),
    }
}

fn read_checkpoints(path: &std::path::Path) -> anyhow::Result<Vec<consilium::audit::Checkpoint>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a checkpoint line", path.display(), i + 1))
        })
        .collect()
}

/// A plain HTTP/1.1 GET of /readyz, with a timeout.
async fn healthcheck(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let head = String::from_utf8_lossy(&buf);
        if head.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            anyhow::bail!("{}", head.lines().next().unwrap_or("no answer"))
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), fut)
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))?
}
