//! API benchmark: the workloads of `docs/benchmarks.md` (W0, W2, W4, create + submit, audit
//! verify) on SQLite and PostgreSQL, with 50,000 cases in the database. It prints figures
//! and never fails because of time.
//!
//! ```text
//! cargo bench --bench api                       # full size, both backends
//! BENCH_QUICK=1 cargo bench --bench api         # small sizes, well under a minute (CI smoke)
//! BENCH_BACKENDS=sqlite cargo bench --bench api # one backend (sqlite, postgres)
//! BENCH_SKIP_W0=1 …                             # skip the cold-start / RSS measurement
//! CONSILIUM_TEST_PG=postgres://user@host:5432   # PostgreSQL server (a database is created
//!                                               # and dropped)
//! BENCH_CASES=…, BENCH_AUDIT=…                  # override the data set sizes
//! BENCH_KEEP=1                                  # keep the database, print where it is
//! BENCH_ONLY=w2,w4,pages,health,create,verify   # run only these measurements (pages: web inbox and case pages)
//! ```
//!
//! The server runs in-process on 127.0.0.1:0 and is driven over HTTP by tokio tasks with
//! reqwest, on the same cores (as in `bench.md`). The data set is written directly with SQL
//! in large transactions (directory, patients, cases, timeline events); audit entries go
//! through `consilium::audit::append`, so the chain is genuine and verifiable.

use consilium::app::App;
use consilium::audit::{self, NewEntry};
use consilium::auth::{hash_token, insert_token};
use consilium::cases::model::{Opinion, OpinionKind, Outcome, OutcomeCode};
use consilium::cases::repo::CaseRow;
use consilium::config::Config;
use consilium::db::{Db, Tx};
use consilium::identifiers::luhn_key;
use consilium::kernel::actor::ProfessionalActor;
use consilium::kernel::{Actor, SystemClock, Timestamp, new_id};
use consilium::platform::Platform;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
const EXPERTS: usize = 50;
const TEAM_SIZE: usize = 5;
const TEAM_SPECIALTIES: [&str; 10] = [
    "SM15", "SM04", "SM16", "SM18", "SM21", "SM19", "SM14", "SM08", "SM13", "SM20",
];

// ---------------------------------------------------------------- sizes

#[derive(Debug, Clone)]
struct Sizes {
    quick: bool,
    cases: usize,
    requesters: usize,
    audit_entries: usize,
    audit_batch: usize,
    /// Requests measured for one client (latency) and for eight clients (throughput).
    reqs_1: usize,
    reqs_8: usize,
    /// Complete cases (create + consent + submit) per concurrency level.
    creates: usize,
    max_time: Duration,
    warmup: usize,
}

impl Sizes {
    fn from_env() -> Sizes {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let num = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or(default)
        };
        if quick {
            Sizes {
                quick,
                cases: num("BENCH_CASES", 2_000),
                requesters: 40,
                audit_entries: num("BENCH_AUDIT", 20_000),
                audit_batch: 5_000,
                reqs_1: 200,
                reqs_8: 400,
                creates: 40,
                max_time: Duration::from_secs(5),
                warmup: 50,
            }
        } else {
            Sizes {
                quick,
                cases: num("BENCH_CASES", 50_000),
                requesters: 200,
                audit_entries: num("BENCH_AUDIT", 500_000),
                audit_batch: 10_000,
                reqs_1: 3_000,
                reqs_8: 10_000,
                creates: 1_500,
                max_time: Duration::from_secs(20),
                warmup: 300,
            }
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("CONSILIUM_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

// ---------------------------------------------------------------- results

#[derive(Debug, Clone)]
struct Figure {
    backend: &'static str,
    workload: String,
    clients: usize,
    ops: usize,
    errors: usize,
    per_sec: f64,
    /// Latency percentiles in milliseconds (p50, p95, p99); none for non-HTTP figures.
    lat: Option<(f64, f64, f64)>,
    unit: &'static str,
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn print_table(figs: &[Figure]) {
    println!();
    println!(
        "| backend | workload | clients | ops | errors | throughput | p50 ms | p95 ms | p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for f in figs {
        let (p50, p95, p99) = match f.lat {
            Some((a, b, c)) => (format!("{a:.2}"), format!("{b:.2}"), format!("{c:.2}")),
            None => ("—".into(), "—".into(), "—".into()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.0} {} | {} | {} | {} |",
            f.backend, f.workload, f.clients, f.ops, f.errors, f.per_sec, f.unit, p50, p95, p99
        );
    }
    println!();
}

// ---------------------------------------------------------------- main

fn main() {
    // Cargo passes `--bench` (and filters) to bench targets; this one takes no arguments.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let sizes = Sizes::from_env();
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!(
        "consilium API bench ({} mode): {} cases, {} experts in {} teams, {} requesters, {} extra audit entries",
        if sizes.quick { "quick" } else { "full" },
        sizes.cases,
        EXPERTS,
        EXPERTS / TEAM_SIZE,
        sizes.requesters,
        sizes.audit_entries
    );
    println!(
        "machine: {} CPUs; server and load generator share them",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut figs = Vec::new();
    if !std::env::var("BENCH_SKIP_W0").is_ok_and(|v| !v.is_empty() && v != "0") {
        w0(&backends).await;
    }
    for b in backends.split(',').map(str::trim) {
        match b {
            "sqlite" => figs.extend(bench_backend("sqlite", &sizes).await),
            "postgres" => figs.extend(bench_backend("postgres", &sizes).await),
            "" => {}
            other => println!("unknown backend {other:?} in BENCH_BACKENDS (sqlite, postgres)"),
        }
        print_table(&figs);
    }
}

// ---------------------------------------------------------------- W0

/// Starts the real binary, times spawn → first `200` on `/healthz`, then reads its RSS
/// after one idle second.
fn start_binary(data_dir: &std::path::Path, db_url: Option<&str>, demo: bool) -> (f64, u64) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_consilium"));
    cmd.arg("serve");
    if demo {
        cmd.arg("--demo");
    }
    cmd.env("CONSILIUM_LISTEN", "127.0.0.1:0")
        .env("CONSILIUM_DATA_DIR", data_dir)
        .env("CONSILIUM_LOG", "warn")
        .env_remove("CONSILIUM_DATABASE_URL")
        .env_remove("CONSILIUM_CONFIG")
        .current_dir(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(u) = db_url {
        cmd.env("CONSILIUM_DATABASE_URL", u);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn consilium");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("running on ").nth(1)
                && let Some(t) = tx.take()
            {
                let _ = t.send(rest.trim().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server prints its address");
    let ready = loop {
        // A plain HTTP/1.1 request over TCP: no client start-up cost in the measurement.
        if http_get_status(&base, "/healthz") == Some(200) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server never became healthy"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    std::thread::sleep(Duration::from_secs(1));
    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    (ready.as_secs_f64() * 1000.0, rss_kb)
}

fn http_get_status(base: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

async fn w0(backends: &str) {
    println!("\nW0 — cold start to first 200 on /healthz, and idle RSS (release binary):");
    let run = |label: &str, dir: &std::path::Path, url: Option<&str>, demo: bool| {
        let (ms, rss) = start_binary(dir, url, demo);
        println!(
            "  {label:<52} {ms:>7.0} ms   idle RSS {:>5.1} MB",
            rss as f64 / 1024.0
        );
    };
    if backends.contains("sqlite") {
        let d1 = tempfile::tempdir().expect("temp dir");
        run(
            "sqlite, new empty database (migrations run)",
            d1.path(),
            None,
            false,
        );
        run("sqlite, restart on that database", d1.path(), None, false);
        let d2 = tempfile::tempdir().expect("temp dir");
        run(
            "sqlite, new database + --demo (seeding included)",
            d2.path(),
            None,
            true,
        );
        run(
            "sqlite, restart on the demo database",
            d2.path(),
            None,
            false,
        );
    }
    if backends.contains("postgres") {
        match PgDb::create().await {
            Ok(pg) => {
                let d = tempfile::tempdir().expect("temp dir");
                run(
                    "postgres, new empty database (migrations run)",
                    d.path(),
                    Some(&pg.url),
                    false,
                );
                run(
                    "postgres, restart on that database",
                    d.path(),
                    Some(&pg.url),
                    false,
                );
                pg.drop_db().await;
            }
            Err(e) => println!("  postgres skipped: {e}"),
        }
    }
}

// ---------------------------------------------------------------- PostgreSQL database

struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    async fn create() -> Result<PgDb, String> {
        let name = format!("consilium_bench_{}", &new_id().replace('-', "")[16..]);
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url()))
            .await
            .map_err(|e| format!("PostgreSQL unreachable at {}: {e}", pg_admin_url()))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        admin.close().await;
        Ok(PgDb {
            url: format!("{}/{name}", pg_admin_url()),
            name,
        })
    }

    async fn drop_db(&self) {
        if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url())).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}

// ---------------------------------------------------------------- one backend

fn keep() -> bool {
    std::env::var("BENCH_KEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

async fn bench_backend(backend: &'static str, sizes: &Sizes) -> Vec<Figure> {
    println!("\n=== {backend} ===");
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = if backend == "postgres" {
        match PgDb::create().await {
            Ok(p) => Some(p),
            Err(e) => {
                println!("postgres skipped: {e}");
                return Vec::new();
            }
        }
    } else {
        None
    };
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: pg.as_ref().map(|p| p.url.clone()),
        listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    let figs = bench_on(backend, sizes, config).await;
    if keep() {
        // Keeps the database for inspection (EXPLAIN, sizes).
        match &pg {
            Some(pg) => println!("keeping the PostgreSQL database {}", pg.url),
            None => println!("keeping the SQLite database in {}", dir.keep().display()),
        }
    } else if let Some(pg) = pg {
        pg.drop_db().await;
    }
    figs
}

async fn bench_on(backend: &'static str, sizes: &Sizes, config: Config) -> Vec<Figure> {
    let t = Instant::now();
    let url = config.database_url();
    config.prepare_data_dir().expect("data dir");
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let platform = Platform::new(db.clone(), Arc::new(SystemClock));
    consilium::demo::seed(&platform).await.expect("demo seeds");
    println!("demo seeded in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let data = seed(&platform, sizes).await;
    println!(
        "seeded {} cases ({} patients, {} events) in {:.1} s",
        data.cases,
        data.cases,
        data.events,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    seed_audit(&platform, &data, sizes).await;
    println!(
        "appended {} audit entries through audit::append in {:.1} s ({:.0} entries/s)",
        sizes.audit_entries,
        t.elapsed().as_secs_f64(),
        sizes.audit_entries as f64 / t.elapsed().as_secs_f64()
    );
    settle(&db).await;
    print_state_counts(&db).await;

    let app = App::from_platform(config, platform.clone())
        .await
        .expect("app binds");
    let base = format!("http://{}", app.addr);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run(async {
                let _ = stop_rx.await;
            })
            .await;
    });

    let shared = Arc::new(Shared {
        base,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client"),
        data,
    });
    check_inbox(&shared).await;

    let mut figs = Vec::new();
    let mut measure = async |op: Op, clients: usize, ops: usize, label: &str| {
        if !wanted(op.key()) {
            return;
        }
        // A short warm-up (connections, caches), not counted.
        drive(&shared, op, clients, sizes.warmup.min(ops), sizes.max_time).await;
        let r = drive(&shared, op, clients, ops, sizes.max_time).await;
        let mut lat = r.lat;
        lat.sort_unstable();
        let fig = Figure {
            backend,
            workload: label.to_string(),
            clients,
            ops: r.ok,
            errors: r.errors,
            per_sec: r.ok as f64 / r.wall.as_secs_f64(),
            lat: Some((
                percentile(&lat, 0.50),
                percentile(&lat, 0.95),
                percentile(&lat, 0.99),
            )),
            unit: if matches!(op, Op::CreateSubmit) {
                "cases/s"
            } else {
                "req/s"
            },
        };
        println!(
            "  {label} ×{clients}: {} ok, {} errors, {:.0} {}, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            fig.ops,
            fig.errors,
            fig.per_sec,
            fig.unit,
            fig.lat.map_or(0.0, |l| l.0),
            fig.lat.map_or(0.0, |l| l.1),
            fig.lat.map_or(0.0, |l| l.2),
        );
        figs.push(fig);
    };
    measure(Op::Inbox, 1, sizes.reqs_1, "W2 inbox, first page of 20").await;
    measure(Op::Inbox, 8, sizes.reqs_8, "W2 inbox, first page of 20").await;
    measure(Op::ReadCase, 1, sizes.reqs_1, "W4 read one case by id").await;
    measure(Op::ReadCase, 8, sizes.reqs_8, "W4 read one case by id").await;
    measure(Op::InboxPage, 1, sizes.reqs_1, "web inbox page (HTML)").await;
    measure(Op::InboxPage, 8, sizes.reqs_8, "web inbox page (HTML)").await;
    measure(Op::CasePage, 1, sizes.reqs_1, "web case page (HTML)").await;
    measure(Op::CasePage, 8, sizes.reqs_8, "web case page (HTML)").await;
    if wanted("pages") {
        let (html, css, js) = page_weight(&shared).await;
        println!(
            "  page weight of the inbox: HTML {html} B + CSS {css} B + JS {js} B = {} KB (uncompressed)",
            (html + css + js) / 1024
        );
    }
    measure(Op::Healthz, 8, sizes.reqs_8, "/healthz (no database)").await;
    measure(
        Op::CreateSubmit,
        1,
        sizes.creates / 2,
        "create + consent + submit",
    )
    .await;
    measure(
        Op::CreateSubmit,
        4,
        sizes.creates,
        "create + consent + submit",
    )
    .await;
    measure(
        Op::CreateSubmit,
        8,
        sizes.creates,
        "create + consent + submit",
    )
    .await;

    let _ = stop_tx.send(());
    let _ = server.await;

    // Audit verify, on a fresh pool (the server closed its own when it stopped).
    let db = Db::connect(&url).await.expect("reconnect");
    let mut best: Option<(u64, f64)> = None;
    for _ in 0..if wanted("verify") { 3 } else { 0 } {
        let t = Instant::now();
        let report = audit::verify(&db)
            .await
            .expect("verify runs")
            .expect("audit chain intact");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  audit verify: {} entries in {:.2} s ({:.0} entries/s)",
            report.entries,
            secs,
            report.entries as f64 / secs
        );
        if best.is_none_or(|(_, s)| secs < s) {
            best = Some((report.entries, secs));
        }
    }
    if let Some((n, secs)) = best {
        // The floor under verify: the same rows streamed and decoded, no hashing.
        let t = Instant::now();
        let scanned = scan_audit(&db).await;
        let scan_secs = t.elapsed().as_secs_f64();
        println!(
            "  audit scan without hashing: {scanned} entries in {scan_secs:.2} s ({:.0} entries/s)",
            scanned as f64 / scan_secs
        );
        figs.push(Figure {
            backend,
            workload: "audit rows streamed, no hashing (floor of verify)".into(),
            clients: 1,
            ops: scanned,
            errors: 0,
            per_sec: scanned as f64 / scan_secs,
            lat: None,
            unit: "entries/s",
        });
        figs.push(Figure {
            backend,
            workload: "audit verify (best of 3)".into(),
            clients: 1,
            ops: n as usize,
            errors: 0,
            per_sec: n as f64 / secs,
            lat: None,
            unit: "entries/s",
        });
    }
    db.close().await;
    figs
}

/// Streams the audit log as `audit::verify` does (same query, same row type), without
/// hashing: what the database and the driver cost on their own.
async fn scan_audit(db: &Db) -> usize {
    use futures_util::TryStreamExt;
    const SQL: &str = "SELECT seq, at, actor_id, actor_label, action, object_type, object_id, outcome, details, prev_hash, hash FROM audit_log ORDER BY seq";
    let mut n = 0;
    match db {
        Db::Sqlite(p) => {
            let mut rows = sqlx::query_as::<_, audit::StoredEntry>(SQL).fetch(p);
            while let Some(r) = rows.try_next().await.expect("scan") {
                n += usize::from(r.seq > 0);
            }
        }
        Db::Postgres(p) => {
            let mut rows = sqlx::query_as::<_, audit::StoredEntry>(SQL).fetch(p);
            while let Some(r) = rows.try_next().await.expect("scan") {
                n += usize::from(r.seq > 0);
            }
        }
    }
    n
}

/// Checkpoints the SQLite WAL or vacuums and analyses PostgreSQL (what autovacuum would do
/// after a bulk load), so measurements start from a settled database.
async fn settle(db: &Db) {
    match db {
        Db::Sqlite(p) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await
                .expect("checkpoint");
        }
        Db::Postgres(p) => {
            sqlx::query("VACUUM ANALYZE")
                .execute(p)
                .await
                .expect("vacuum");
        }
    }
}

async fn print_state_counts(db: &Db) {
    let sql = "SELECT state, COUNT(*) FROM cases GROUP BY state ORDER BY state";
    let rows: Vec<(String, i64)> = match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await,
    }
    .expect("counts");
    let s: Vec<String> = rows.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("cases by state: {}", s.join(", "));
}

// ---------------------------------------------------------------- load driver

#[derive(Debug, Clone, Copy)]
enum Op {
    Inbox,
    ReadCase,
    InboxPage,
    CasePage,
    Healthz,
    CreateSubmit,
}

impl Op {
    /// Its name in `BENCH_ONLY`.
    fn key(self) -> &'static str {
        match self {
            Op::Inbox => "w2",
            Op::ReadCase => "w4",
            Op::InboxPage => "pages",
            Op::CasePage => "pages",
            Op::Healthz => "health",
            Op::CreateSubmit => "create",
        }
    }
}

/// `BENCH_ONLY=w2,w4,pages,health,create,verify` runs only those measurements (default: all).
fn wanted(key: &str) -> bool {
    std::env::var("BENCH_ONLY")
        .map(|v| v.split(',').any(|k| k.trim() == key))
        .unwrap_or(true)
}

struct Shared {
    base: String,
    http: reqwest::Client,
    data: Seeded,
}

struct RunResult {
    ok: usize,
    errors: usize,
    wall: Duration,
    /// Latencies in microseconds.
    lat: Vec<u64>,
}

/// Runs `ops` operations (or until `max_time`) from `clients` concurrent tasks.
async fn drive(
    shared: &Arc<Shared>,
    op: Op,
    clients: usize,
    ops: usize,
    max_time: Duration,
) -> RunResult {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let shared = shared.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops || start.elapsed() > max_time {
                    break;
                }
                let t = Instant::now();
                let ok = one(&shared, op, client, i).await;
                if ok {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        lat.extend(l);
        errors += e;
    }
    RunResult {
        ok: lat.len(),
        errors,
        wall: start.elapsed(),
        lat,
    }
}

async fn one(s: &Shared, op: Op, client: usize, i: usize) -> bool {
    let d = &s.data;
    match op {
        Op::Healthz => get(s, None, "/healthz").await,
        Op::Inbox => {
            let e = i % d.expert_tokens.len();
            get(
                s,
                Some(&d.expert_tokens[e]),
                "/api/v1/cases?view=inbox&limit=20",
            )
            .await
        }
        Op::ReadCase => {
            let e = i % d.expert_tokens.len();
            let ids = &d.expert_cases[e];
            if ids.is_empty() {
                return false;
            }
            let id = &ids[(i / d.expert_tokens.len()) % ids.len()];
            get(s, Some(&d.expert_tokens[e]), &format!("/api/v1/cases/{id}")).await
        }
        Op::InboxPage => {
            let e = i % d.expert_sessions.len();
            page(s, &d.expert_sessions[e], "/cases?view=mine").await
        }
        Op::CasePage => {
            let e = i % d.expert_sessions.len();
            let ids = &d.expert_cases[e];
            if ids.is_empty() {
                return false;
            }
            let id = &ids[(i / d.expert_sessions.len()) % ids.len()];
            page(s, &d.expert_sessions[e], &format!("/cases/{id}")).await
        }
        Op::CreateSubmit => {
            let token = &d.requester_tokens[client % d.requester_tokens.len()];
            // Half to a team's pool, half to a named expert, spread evenly over both.
            let k = i / 2;
            let target = if i.is_multiple_of(2) {
                json!({"team_id": d.team_ids[k % d.team_ids.len()]})
            } else {
                json!({"expert_id": d.expert_ids[k % d.expert_ids.len()]})
            };
            let mut body = json!({
                "patient": {
                    "birth_family_name": "Bench",
                    "given_names": "Alice",
                    "birth_date": "1968-04-12",
                    "sex": "F",
                    "identity_status": "provisional"
                },
                "reason": "Lésion cutanée du dos",
                "question": "Surveillance ou exérèse ?",
                "clinical_context": "Lésion pigmentée de 6 mm, évolution depuis 3 mois."
            });
            if let (Some(b), Some(t)) = (body.as_object_mut(), target.as_object()) {
                b.extend(t.clone());
            }
            let Some(case) = send(s, reqwest::Method::POST, token, "/api/v1/cases", body).await
            else {
                return false;
            };
            let Some(id) = case["id"].as_str() else {
                return false;
            };
            let consent = json!({"decision": "given", "method": "oral", "patient_informed": true});
            if send(
                s,
                reqwest::Method::PUT,
                token,
                &format!("/api/v1/cases/{id}/consent"),
                consent,
            )
            .await
            .is_none()
            {
                return false;
            }
            send(
                s,
                reqwest::Method::POST,
                token,
                &format!("/api/v1/cases/{id}/submit"),
                json!({}),
            )
            .await
            .is_some()
        }
    }
}

async fn get(s: &Shared, token: Option<&str>, path: &str) -> bool {
    let mut req = s.http.get(format!("{}{path}", s.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        Ok(r) => {
            report_error(
                path,
                r.status().as_u16(),
                &r.text().await.unwrap_or_default(),
            );
            false
        }
        Err(e) => {
            report_error(path, 0, &e.to_string());
            false
        }
    }
}

/// A web page with the session cookie; the whole body is read.
async fn page(s: &Shared, session: &str, path: &str) -> bool {
    let req = s
        .http
        .get(format!("{}{path}", s.base))
        .header("cookie", format!("__Host-consilium-session={session}"));
    match req.send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => r.bytes().await.is_ok(),
        Ok(r) => {
            report_error(
                path,
                r.status().as_u16(),
                &r.text().await.unwrap_or_default(),
            );
            false
        }
        Err(e) => {
            report_error(path, 0, &e.to_string());
            false
        }
    }
}

/// Bytes of the inbox page as an expert's browser loads it: the HTML, the stylesheet and
/// the script (uncompressed; no images on that page).
async fn page_weight(s: &Shared) -> (usize, usize, usize) {
    let cookie = format!("__Host-consilium-session={}", s.data.expert_sessions[0]);
    let mut sizes = Vec::new();
    for path in ["/cases?view=mine", "/static/app.css", "/static/app.js"] {
        let r = s
            .http
            .get(format!("{}{path}", s.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page");
        sizes.push(r.bytes().await.map(|b| b.len()).unwrap_or(0));
    }
    (sizes[0], sizes[1], sizes[2])
}

async fn send(
    s: &Shared,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> Option<serde_json::Value> {
    let r = s
        .http
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await;
    match r {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        Ok(r) => {
            report_error(
                path,
                r.status().as_u16(),
                &r.text().await.unwrap_or_default(),
            );
            None
        }
        Err(e) => {
            report_error(path, 0, &e.to_string());
            None
        }
    }
}

/// Prints the first few errors only.
fn report_error(path: &str, status: u16, body: &str) {
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    if SEEN.fetch_add(1, Ordering::Relaxed) < 5 {
        let body: String = body.chars().take(300).collect();
        println!("    error: {path} → {status}: {body}");
    }
}

/// Sanity check before measuring: an expert's inbox has a full first page.
async fn check_inbox(s: &Shared) {
    let r = s
        .http
        .get(format!("{}/api/v1/cases?view=inbox&limit=20", s.base))
        .bearer_auth(&s.data.expert_tokens[0])
        .send()
        .await
        .expect("inbox answers");
    assert!(r.status().is_success(), "inbox: {}", r.status());
    let v: serde_json::Value = r.json().await.expect("inbox JSON");
    let n = v["items"].as_array().map_or(0, Vec::len);
    println!("inbox sanity check: expert 0 sees {n} cases on the first page");
}

// ---------------------------------------------------------------- data set

struct Seeded {
    cases: usize,
    events: usize,
    expert_ids: Vec<String>,
    expert_actors: Vec<Actor>,
    expert_tokens: Vec<String>,
    /// Browser session cookies of the experts (web pages).
    expert_sessions: Vec<String>,
    team_ids: Vec<String>,
    requester_tokens: Vec<String>,
    /// Per expert: ids of cases assigned to them (for W4).
    expert_cases: Vec<Vec<String>>,
    /// A sample of case ids (for realistic audit entries).
    sample_cases: Vec<String>,
}

/// Inserts rows with one multi-row `INSERT … VALUES (…), (…)` per chunk.
macro_rules! bulk {
    ($tx:expr, $head:expr, $rows:expr, |$b:ident, $r:ident| $push:block) => {
        match $tx {
            Tx::Sqlite(t) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new($head);
                qb.push_values($rows, |mut $b, $r| $push);
                qb.build().execute(&mut **t).await.map(|_| ())
            }
            Tx::Postgres(t) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new($head);
                qb.push_values($rows, |mut $b, $r| $push);
                qb.build().execute(&mut **t).await.map(|_| ())
            }
        }
        .expect($head)
    };
}

fn rpps(prefix: &str, n: usize) -> String {
    let body = format!("{prefix}{n:04}");
    format!("{body}{}", luhn_key(&body))
}

const FAMILY: [&str; 20] = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard",
];
const GIVEN: [&str; 16] = [
    "Marie",
    "Jean",
    "Pierre",
    "Jeanne",
    "Michel",
    "Françoise",
    "André",
    "Monique",
    "Louis",
    "Catherine",
    "Paul",
    "Nathalie",
    "Hugo",
    "Léa",
    "Emma",
    "Jules",
];
const REASONS: [(&str, &str); 6] = [
    (
        "Lésion pigmentée du dos",
        "Surveillance simple ou exérèse ?",
    ),
    ("Palpitations", "Holter nécessaire ?"),
    ("Déséquilibre glycémique", "Adaptation du traitement ?"),
    ("Chutes répétées", "Bilan à prévoir ?"),
    ("Anémie modérée", "Explorations complémentaires ?"),
    ("Douleur du genou", "Imagerie avant consultation ?"),
];

use consilium::cases::CaseState as S;

/// Realistic mix: most cases are finished history; about 13 % are open.
fn pick_state(rng: &mut StdRng) -> S {
    let x: f64 = rng.random();
    let table = [
        (0.02, S::Draft),
        (0.06, S::Submitted),
        (0.08, S::Assigned),
        (0.13, S::InProgress),
        (0.15, S::AwaitingInfo),
        (0.21, S::Answered),
        (0.91, S::Closed),
        (0.94, S::Declined),
        (0.97, S::Cancelled),
    ];
    table
        .iter()
        .find(|(p, _)| x < *p)
        .map_or(S::Expired, |(_, s)| *s)
}

struct Pro {
    id: String,
    rpps: String,
    first: String,
    last: String,
    profession: &'static str,
    specialty: Option<&'static str>,
}

struct PatientRow {
    id: String,
    created_by: String,
    family: &'static str,
    given: &'static str,
    birth_date: String,
    sex: &'static str,
    medecin_traitant: Option<String>,
    at: i64,
}

struct EventRow {
    id: String,
    case_id: String,
    at: i64,
    actor: Option<String>,
    action: &'static str,
    from: &'static str,
    to: &'static str,
    details: String,
}

async fn seed(p: &Platform, sizes: &Sizes) -> Seeded {
    let now = p.now().micros();
    let mut rng = StdRng::seed_from_u64(42);
    let mut tx = p.db.begin().await.expect("begin");

    // Organisations: one hospital with the expert teams, one MSP with the requesters.
    let chu = new_id();
    let msp = new_id();
    bulk!(
        &mut tx,
        "INSERT INTO organisations (id, name, kind, finess, siret, city, postcode, created_at) ",
        [
            (&chu, "Bench — CHU", "hospital_service"),
            (&msp, "Bench — MSP", "msp")
        ],
        |b, r| {
            b.push_bind(r.0.clone())
                .push_bind(r.1)
                .push_bind(r.2)
                .push_bind(None::<String>)
                .push_bind(None::<String>)
                .push_bind("Limoges")
                .push_bind("87000")
                .push_bind(now - 400 * DAY);
        }
    );

    // Professionals: 50 experts (doctors, one specialty each) and the requesters.
    let mut pros = Vec::new();
    for e in 0..EXPERTS {
        pros.push(Pro {
            id: new_id(),
            rpps: rpps("199998", e),
            first: GIVEN[e % GIVEN.len()].into(),
            last: format!("Expert{e:02}"),
            profession: "10",
            specialty: Some(TEAM_SPECIALTIES[e / TEAM_SIZE]),
        });
    }
    for r in 0..sizes.requesters {
        let (profession, specialty) = match r % 10 {
            0..=5 => ("10", Some("SM54")),
            6..=8 => ("60", None),
            _ => ("70", None),
        };
        pros.push(Pro {
            id: new_id(),
            rpps: rpps("199997", r),
            first: GIVEN[r % GIVEN.len()].into(),
            last: format!("{}{r:03}", FAMILY[r % FAMILY.len()]),
            profession,
            specialty,
        });
    }
    for chunk in pros.chunks(500) {
        bulk!(
            &mut tx,
            "INSERT INTO professionals (id, rpps, adeli, first_name, last_name, profession, email, active, created_at) ",
            chunk,
            |b, r| {
                b.push_bind(r.id.clone())
                    .push_bind(r.rpps.clone())
                    .push_bind(None::<String>)
                    .push_bind(r.first.clone())
                    .push_bind(r.last.clone())
                    .push_bind(r.profession)
                    .push_bind(None::<String>)
                    .push_bind(true)
                    .push_bind(now - 400 * DAY);
            }
        );
        let spec: Vec<&Pro> = chunk.iter().filter(|p| p.specialty.is_some()).collect();
        if !spec.is_empty() {
            bulk!(
                &mut tx,
                "INSERT INTO professional_specialties (professional_id, specialty) ",
                spec,
                |b, r| {
                    b.push_bind(r.id.clone())
                        .push_bind(r.specialty.unwrap_or_default());
                }
            );
        }
    }
    let experts = &pros[..EXPERTS];
    let requesters = &pros[EXPERTS..];
    let mut members: Vec<(String, &str)> = Vec::new();
    for (i, pro) in pros.iter().enumerate() {
        members.push((pro.id.clone(), if i < EXPERTS { &chu } else { &msp }));
    }
    for chunk in members.chunks(500) {
        bulk!(
            &mut tx,
            "INSERT INTO memberships (professional_id, organisation_id, role) ",
            chunk,
            |b, r| {
                b.push_bind(r.0.clone())
                    .push_bind(r.1.to_string())
                    .push_bind("member");
            }
        );
    }

    // Teams of five, the first member assigns.
    let team_ids: Vec<String> = (0..EXPERTS / TEAM_SIZE).map(|_| new_id()).collect();
    bulk!(
        &mut tx,
        "INSERT INTO teams (id, organisation_id, name, specialty, policy, created_at) ",
        team_ids.iter().enumerate(),
        |b, r| {
            b.push_bind(r.1.clone())
                .push_bind(chu.clone())
                .push_bind(format!("Bench team {} ({})", r.0, TEAM_SPECIALTIES[r.0]))
                .push_bind(TEAM_SPECIALTIES[r.0])
                .push_bind("self_service")
                .push_bind(now - 400 * DAY);
        }
    );
    bulk!(
        &mut tx,
        "INSERT INTO team_members (team_id, professional_id, is_assigner) ",
        experts.iter().enumerate(),
        |b, r| {
            b.push_bind(team_ids[r.0 / TEAM_SIZE].clone())
                .push_bind(r.1.id.clone())
                .push_bind(r.0.is_multiple_of(TEAM_SIZE));
        }
    );

    // Bearer tokens: every expert, and sixteen requesters (one per load client).
    let expert_tokens: Vec<String> = (0..EXPERTS)
        .map(|e| format!("csl_bench_expert_{e:02}"))
        .collect();
    let requester_tokens: Vec<String> = (0..16.min(requesters.len()))
        .map(|r| format!("csl_bench_requester_{r:03}"))
        .collect();
    for (pro, token) in experts
        .iter()
        .zip(&expert_tokens)
        .chain(requesters.iter().zip(&requester_tokens))
    {
        insert_token(&mut tx, &pro.id, &hash_token(token), "bench", None, now)
            .await
            .expect("token");
    }
    // Browser sessions for the experts (the web pages read the session cookie), as the
    // sign-in would leave them after the second factor.
    let expert_sessions: Vec<String> = (0..EXPERTS)
        .map(|e| format!("css_bench_session_{e:02}"))
        .collect();
    for (pro, token) in experts.iter().zip(&expert_sessions) {
        consilium::run!(&mut tx, |c| sqlx::query(
            "INSERT INTO sessions (id, token_hash, professional_id, stage, method, csrf_token,
               created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, 'full', 'password+totp', $4, $5, $5, $6)"
        )
        .bind(new_id())
        .bind(hash_token(token))
        .bind(&pro.id)
        .bind(new_id())
        .bind(now)
        .bind(now + 365 * DAY)
        .execute(c)
        .await
        .map(|_| ()))
        .expect("session");
    }
    tx.commit().await.expect("commit directory");

    // Case numbers continue the per-year counters (the demo already used some).
    let mut counters: HashMap<i32, i64> = HashMap::new();
    {
        let mut tx = p.db.begin().await.expect("begin");
        let rows: Vec<(String, i64)> = consilium::run!(&mut tx, |c| sqlx::query_as(
            "SELECT name, value FROM counters WHERE name LIKE 'case_number:%'"
        )
        .fetch_all(c)
        .await)
        .expect("counters");
        tx.rollback().await.expect("rollback");
        for (name, v) in rows {
            if let Some(y) = name
                .strip_prefix("case_number:")
                .and_then(|y| y.parse().ok())
            {
                counters.insert(y, v);
            }
        }
    }

    let opinion = serde_json::to_string(&Opinion {
        kind: OpinionKind::Advice,
        context: "Demande complète, photographies de bonne qualité.".into(),
        answer: "Aspect bénin, pas d'argument pour une lésion maligne.".into(),
        recommendations: "Surveillance clinique ; nouvel avis si modification.".into(),
        follow_up: Some("Revoir dans 6 mois.".into()),
        visit_needed: false,
        visit_urgency: None,
        request_completeness: Some(4),
    })
    .expect("opinion JSON");
    let outcome = serde_json::to_string(&Outcome {
        outcome: OutcomeCode::VisitAvoided,
        usefulness: Some(5),
        comment: None,
    })
    .expect("outcome JSON");

    let mut expert_cases: Vec<Vec<String>> = vec![Vec::new(); EXPERTS];
    let mut sample_cases = Vec::new();
    let mut events_total = 0;
    let chunk_cases = 5_000;
    let mut done = 0;
    while done < sizes.cases {
        let n = chunk_cases.min(sizes.cases - done);
        let mut patients = Vec::with_capacity(n);
        let mut cases = Vec::with_capacity(n);
        let mut events = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let state = pick_state(&mut rng);
            let req = &requesters[rng.random_range(0..requesters.len())];
            let e = rng.random_range(0..EXPERTS);
            let expert = &experts[e];
            let team = &team_ids[e / TEAM_SIZE];
            // Pool cases are always team-routed; otherwise 60 % of requests go to a team.
            let to_team = state == S::Submitted || rng.random_bool(0.6);
            let rand_between = |rng: &mut StdRng, a: i64, b: i64| rng.random_range(a..b);
            // Open cases are recent; a tenth of them are past their R9 deadline.
            let submitted = match state {
                S::Draft => None,
                S::Submitted | S::Assigned | S::InProgress | S::AwaitingInfo => {
                    Some(now - rand_between(&mut rng, HOUR, 8 * DAY))
                }
                S::Answered => Some(now - rand_between(&mut rng, 3 * DAY, 14 * DAY)),
                _ => Some(now - rand_between(&mut rng, 15 * DAY, 330 * DAY)),
            };
            let created = match submitted {
                Some(s) => s - rand_between(&mut rng, 60_000_000, 2 * HOUR),
                None => now - rand_between(&mut rng, HOUR, 20 * DAY),
            };
            let accepted = match (state, submitted) {
                (S::InProgress | S::AwaitingInfo | S::Answered | S::Closed, Some(s)) => {
                    Some(s + rand_between(&mut rng, HOUR / 2, 24 * HOUR).min(now - s - 1))
                }
                _ => None,
            };
            let answered = match (state, accepted) {
                (S::Answered | S::Closed, Some(a)) => {
                    Some(a + rand_between(&mut rng, HOUR / 2, 48 * HOUR).min(now - a - 1))
                }
                _ => None,
            };
            let closed = match (state, answered) {
                (S::Closed, Some(a)) => Some(a + rand_between(&mut rng, HOUR, 5 * DAY)),
                _ => None,
            };
            let awaiting_since = match (state, accepted) {
                (S::AwaitingInfo, Some(a)) => Some(a + (now - a) / 2),
                _ => None,
            };
            // Who has it: pool cases nobody; direct requests and taken team cases an expert.
            let assigned = match state {
                S::Draft | S::Submitted => None,
                S::Declined | S::Cancelled | S::Expired if to_team => None,
                _ => Some(expert.id.clone()),
            };
            let id = new_id();
            let pid = new_id();
            let family = FAMILY[rng.random_range(0..FAMILY.len())];
            let given = GIVEN[rng.random_range(0..GIVEN.len())];
            patients.push(PatientRow {
                id: pid.clone(),
                created_by: req.id.clone(),
                family,
                given,
                birth_date: format!(
                    "{}-{:02}-{:02}",
                    rng.random_range(1930..2020),
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                ),
                sex: if rng.random_bool(0.5) { "F" } else { "M" },
                medecin_traitant: (req.profession == "10").then(|| req.id.clone()),
                at: created,
            });
            let year = Timestamp(created).to_offset().year();
            let counter = counters.entry(year).or_insert(0);
            *counter += 1;
            let (reason, question) = REASONS[rng.random_range(0..REASONS.len())];
            let consent_given = state != S::Draft || rng.random_bool(0.5);
            let row = CaseRow {
                id: id.clone(),
                number: format!("TE-{year}-{:06}", *counter),
                patient_id: pid,
                requester_id: req.id.clone(),
                state: state.as_str().into(),
                specialty: Some(TEAM_SPECIALTIES[e / TEAM_SIZE].into()),
                target_expert_id: (!to_team).then(|| expert.id.clone()),
                target_team_id: to_team.then(|| team.clone()),
                team_id: (to_team && state != S::Draft).then(|| team.clone()),
                assigned_expert_id: assigned.clone(),
                urgency: if rng.random_bool(0.1) {
                    "urgent"
                } else {
                    "routine"
                }
                .into(),
                reason: reason.into(),
                question: question.into(),
                clinical_context: "Contexte clinique : antécédents, traitement en cours, examen."
                    .into(),
                consent_status: if consent_given { "given" } else { "pending" }.into(),
                consent_method: consent_given.then(|| "oral".into()),
                consent_collected_by: consent_given.then(|| req.id.clone()),
                consent_collected_at: consent_given.then_some(created + 60_000_000),
                patient_informed: consent_given,
                submitted_at: submitted,
                deadline_at: submitted
                    .map(|s| consilium::rules::answer_deadline(Timestamp(s)).micros()),
                accepted_at: accepted,
                answered_at: answered,
                closed_at: closed,
                awaiting_since,
                awaiting_info_us: 0,
                decline_reason: (state == S::Declined).then(|| "out_of_scope".into()),
                decline_comment: None,
                opinion: answered.map(|_| opinion.clone()),
                outcome: closed.map(|_| outcome.clone()),
                version: match state {
                    S::Draft => 1,
                    S::Submitted => 2,
                    S::Closed => 5,
                    _ => 3,
                },
                created_at: created,
                updated_at: [
                    Some(created),
                    submitted,
                    accepted,
                    answered,
                    closed,
                    awaiting_since,
                ]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(created),
            };
            events.push(EventRow {
                id: new_id(),
                case_id: id.clone(),
                at: created,
                actor: Some(req.id.clone()),
                action: "create",
                from: "draft",
                to: "draft",
                details: "{}".into(),
            });
            if let Some(s) = submitted {
                events.push(EventRow {
                    id: new_id(),
                    case_id: id.clone(),
                    at: s,
                    actor: Some(req.id.clone()),
                    action: "submit",
                    from: "draft",
                    to: if to_team { "submitted" } else { "assigned" },
                    details: if to_team {
                        json!({"routed_to": {"team_id": team}})
                    } else {
                        json!({"routed_to": {"expert_id": expert.id}})
                    }
                    .to_string(),
                });
            }
            if assigned.is_some() && expert_cases[e].len() < 400 {
                expert_cases[e].push(id.clone());
            }
            if sample_cases.len() < 5_000 {
                sample_cases.push(id);
            }
            cases.push(row);
        }
        events_total += events.len();

        let mut tx = p.db.begin().await.expect("begin");
        for chunk in patients.chunks(1_000) {
            bulk!(
                &mut tx,
                "INSERT INTO patients (id, created_by, birth_family_name, used_family_name, given_names, birth_date, sex, birth_place_code, ins, ins_kind, identity_status, medecin_traitant_id, created_at, updated_at) ",
                chunk,
                |b, r| {
                    b.push_bind(r.id.clone())
                        .push_bind(r.created_by.clone())
                        .push_bind(r.family)
                        .push_bind(None::<String>)
                        .push_bind(r.given)
                        .push_bind(r.birth_date.clone())
                        .push_bind(r.sex)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind(None::<String>)
                        .push_bind("provisional")
                        .push_bind(r.medecin_traitant.clone())
                        .push_bind(r.at)
                        .push_bind(r.at);
                }
            );
        }
        for chunk in cases.chunks(500) {
            bulk!(
                &mut tx,
                "INSERT INTO cases (id, number, patient_id, requester_id, state, specialty, target_expert_id, target_team_id,
                    team_id, assigned_expert_id, urgency, reason, question, clinical_context, consent_status, consent_method,
                    consent_collected_by, consent_collected_at, patient_informed, submitted_at, deadline_at, accepted_at,
                    answered_at, closed_at, awaiting_since, awaiting_info_us, decline_reason, decline_comment, opinion, outcome,
                    version, created_at, updated_at) ",
                chunk,
                |b, r| {
                    b.push_bind(r.id.clone())
                        .push_bind(r.number.clone())
                        .push_bind(r.patient_id.clone())
                        .push_bind(r.requester_id.clone())
                        .push_bind(r.state.clone())
                        .push_bind(r.specialty.clone())
                        .push_bind(r.target_expert_id.clone())
                        .push_bind(r.target_team_id.clone())
                        .push_bind(r.team_id.clone())
                        .push_bind(r.assigned_expert_id.clone())
                        .push_bind(r.urgency.clone())
                        .push_bind(r.reason.clone())
                        .push_bind(r.question.clone())
                        .push_bind(r.clinical_context.clone())
                        .push_bind(r.consent_status.clone())
                        .push_bind(r.consent_method.clone())
                        .push_bind(r.consent_collected_by.clone())
                        .push_bind(r.consent_collected_at)
                        .push_bind(r.patient_informed)
                        .push_bind(r.submitted_at)
                        .push_bind(r.deadline_at)
                        .push_bind(r.accepted_at)
                        .push_bind(r.answered_at)
                        .push_bind(r.closed_at)
                        .push_bind(r.awaiting_since)
                        .push_bind(r.awaiting_info_us)
                        .push_bind(r.decline_reason.clone())
                        .push_bind(r.decline_comment.clone())
                        .push_bind(r.opinion.clone())
                        .push_bind(r.outcome.clone())
                        .push_bind(r.version)
                        .push_bind(r.created_at)
                        .push_bind(r.updated_at);
                }
            );
        }
        for chunk in events.chunks(1_000) {
            bulk!(
                &mut tx,
                "INSERT INTO case_events (id, case_id, at, actor_id, action, from_state, to_state, details) ",
                chunk,
                |b, r| {
                    b.push_bind(r.id.clone())
                        .push_bind(r.case_id.clone())
                        .push_bind(r.at)
                        .push_bind(r.actor.clone())
                        .push_bind(r.action)
                        .push_bind(r.from)
                        .push_bind(r.to)
                        .push_bind(r.details.clone());
                }
            );
        }
        tx.commit().await.expect("commit cases");
        done += n;
    }

    let mut tx = p.db.begin().await.expect("begin");
    for (year, value) in &counters {
        consilium::run!(&mut tx, |c| sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        .bind(format!("case_number:{year}"))
        .bind(*value)
        .execute(c)
        .await
        .map(|_| ()))
        .expect("counter");
    }
    tx.commit().await.expect("commit counters");

    Seeded {
        cases: sizes.cases,
        events: events_total,
        expert_ids: experts.iter().map(|e| e.id.clone()).collect(),
        expert_actors: experts
            .iter()
            .map(|e| {
                Actor::Professional(ProfessionalActor {
                    id: e.id.clone(),
                    display_name: format!("Dr {} {}", e.first, e.last),
                    profession: e.profession.into(),
                })
            })
            .collect(),
        expert_tokens,
        expert_sessions,
        team_ids,
        requester_tokens,
        expert_cases,
        sample_cases,
    }
}

/// Appends realistic audit entries (reads, list pages with their 20 ids, transitions)
/// through the real `audit::append`, in large transactions.
async fn seed_audit(p: &Platform, d: &Seeded, sizes: &Sizes) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut left = sizes.audit_entries;
    let mut batch_no = 0;
    let start_at = p.now().micros() - 30 * DAY;
    while left > 0 {
        let n = sizes.audit_batch.min(left);
        let actor = &d.expert_actors[batch_no % d.expert_actors.len()];
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let case = &d.sample_cases[rng.random_range(0..d.sample_cases.len())];
            let x: f64 = rng.random();
            entries.push(if x < 0.6 {
                NewEntry::success("case.read", "case", case)
            } else if x < 0.8 {
                let ids: Vec<&String> = (0..20)
                    .map(|_| &d.sample_cases[rng.random_range(0..d.sample_cases.len())])
                    .collect();
                NewEntry::success("case.list", "case", "*").with(json!({ "ids": ids }))
            } else {
                NewEntry::success("case.accept", "case", case).with(json!({
                    "from": "submitted", "to": "in_progress", "details": {}
                }))
            });
        }
        let at = Timestamp(start_at + batch_no as i64 * 60_000_000);
        let mut tx = p.db.begin().await.expect("begin");
        audit::append(&mut tx, at, actor, &entries)
            .await
            .expect("audit append");
        tx.commit().await.expect("commit audit");
        left -= n;
        batch_no += 1;
    }
}
