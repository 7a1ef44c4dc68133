//! Test harness: a server per test, on a fresh SQLite file or a fresh PostgreSQL database.

#![allow(dead_code)]

use consilium::app::App;
use consilium::config::Config;
use consilium::db::{Backend, Db};
use consilium::kernel::{ManualClock, Timestamp};
use consilium::platform::{Ctx, Platform};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

/// Admin URL of the PostgreSQL server used by tests (it must be reachable: tests never
/// silently skip PostgreSQL).
pub fn pg_admin_url() -> String {
    std::env::var("CONSILIUM_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub struct TestApp {
    pub base: String,
    pub backend: Backend,
    pub platform: Platform,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    pg_db: Option<String>,
    _dir: tempfile::TempDir,
    /// The S3 server (s3s-fs) when the blob store is S3.
    pub s3: Option<S3Server>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Runs a test body on both backends.
#[macro_export]
macro_rules! both {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use serde_json::json;

            async fn body($app: &$crate::harness::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::harness::TestApp::start(consilium::db::Backend::Sqlite).await;
                body(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::harness::TestApp::start(consilium::db::Backend::Postgres).await;
                body(&app).await;
                app.finish().await;
            }
        }
    };
}

/// Like `both!`, with a configuration tweak (`|c: &mut Config| …`).
#[macro_export]
macro_rules! both_with {
    ($name:ident, $tweak:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use serde_json::json;

            async fn body($app: &$crate::harness::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::harness::TestApp::start_with(consilium::db::Backend::Sqlite, $tweak).await;
                body(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::harness::TestApp::start_with(consilium::db::Backend::Postgres, $tweak).await;
                body(&app).await;
                app.finish().await;
            }
        }
    };
}

/// Runs an expression against the backend's pool, whichever it is:
/// `with_pool!(app.db(), |p| sqlx::query("…").execute(p).await)`.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            consilium::db::Db::Sqlite($p) => $body,
            consilium::db::Db::Postgres($p) => $body,
        }
    };
}

/// 2026-11-23T09:00:00Z: tests start at a fixed instant and move the clock themselves.
pub const T0: i64 = 1_795_424_400_000_000;

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".into(),
            // Tests run the job queue themselves (`run_jobs`) after moving the clock; a
            // test that wants the server's worker turns it on in `start_with`.
            jobs_worker: false,
            // Cheap hashes in tests (the parameters are stored with each hash).
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            ..Config::default()
        };
        let mut pg_db = None;
        if backend == Backend::Postgres {
            let name = format!("consilium_t_{}", uuid_simple());
            let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url()))
                .await
                .expect("PostgreSQL must be reachable for the tests (CONSILIUM_TEST_PG)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("create test database");
            admin.close().await;
            config.database_url = Some(format!("{}/{name}", pg_admin_url()));
            pg_db = Some(name);
        }
        tweak(&mut config);
        let clock = ManualClock::new(Timestamp(T0));
        let app = App::build_with_clock(config, Arc::new(clock.clone()))
            .await
            .expect("app builds");
        let base = format!("http://{}", app.addr);
        let platform = app.platform.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            base,
            backend,
            platform,
            clock,
            client: reqwest::Client::new(),
            pg_db,
            _dir: dir,
            s3: None,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Like `start_with`, with the attachment store on a real S3 server (s3s-fs) of its own,
    /// run on loopback for this test.
    pub async fn start_s3(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let server = S3Server::start().await;
        let endpoint = server.endpoint.clone();
        let mut app = Self::start_with(backend, move |c| {
            c.blob_url = Some(format!("s3://{S3_BUCKET}/blobs"));
            c.s3_endpoint = Some(endpoint);
            c.s3_access_key = Some(S3_ACCESS_KEY.into());
            c.s3_secret_key = Some(consilium::config::Secret(S3_SECRET_KEY.into()));
            tweak(c);
        })
        .await;
        app.s3 = Some(server);
        app
    }

    /// Where the raw blobs are on disk: the local store's folder, or the S3 server's folder
    /// for the bucket and prefix.
    pub fn raw_blob_dir(&self) -> std::path::PathBuf {
        match &self.s3 {
            Some(s) => s.root.path().join(S3_BUCKET).join("blobs"),
            None => self.data_dir().join("blobs").join("blobs"),
        }
    }

    /// The raw file of a blob.
    pub fn raw_blob(&self, key: &str) -> std::path::PathBuf {
        match &self.s3 {
            Some(_) => self.raw_blob_dir().join(key),
            None => self.raw_blob_dir().join(&key[key.len() - 2..]).join(key),
        }
    }

    /// Seeds the demo data set; its users' tokens are `csl_demo_<lastname>`.
    pub async fn seed_demo(&self) {
        consilium::demo::seed(&self.platform)
            .await
            .expect("demo seeds");
    }

    /// The test's data directory (SQLite file, key file, local blob store).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn db(&self) -> &Db {
        &self.platform.db
    }

    /// The configuration of another instance on this test's database and data folder (same
    /// key file), as a restart or an upgrade would start with; jobs off, cheap hashes.
    pub fn same_database_config(&self) -> Config {
        Config {
            data_dir: self._dir.path().to_path_buf(),
            listen: "127.0.0.1:0".into(),
            jobs_worker: false,
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            database_url: self
                .pg_db
                .as_ref()
                .map(|name| format!("{}/{name}", pg_admin_url())),
            ..Config::default()
        }
    }

    pub async fn call(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{}", self.base, path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.call("GET", Some(token), path, None, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", Some(token), path, Some(body), None).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("PUT", Some(token), path, Some(body), None).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", Some(token), path, Some(body), None)
            .await
    }

    /// POST that must succeed; returns the body.
    pub async fn ok(&self, token: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.post(token, path, body).await;
        assert!(s.is_success(), "POST {path} → {s}: {v}");
        v
    }

    /// Uploads files (`(name, bytes)`) as multipart/form-data; `None` token = anonymous.
    pub async fn upload(
        &self,
        token: Option<&str>,
        path: &str,
        files: &[(&str, &[u8])],
    ) -> (StatusCode, Value) {
        self.upload_keyed(token, path, files, None).await
    }

    /// An upload with an `Idempotency-Key`.
    pub async fn upload_keyed(
        &self,
        token: Option<&str>,
        path: &str,
        files: &[(&str, &[u8])],
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let (ct, body) = multipart(files);
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("Content-Type", ct)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET returning raw bytes and headers (a body cut short comes back empty).
    pub async fn fetch(
        &self,
        token: &str,
        path: &str,
        range: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self
            .client
            .get(format!("{}{}", self.base, path))
            .bearer_auth(token);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        // A download whose stream breaks (a blob that fails to authenticate mid-way) may
        // break the connection before the head arrives: reported as status 599.
        let Ok(resp) = req.send().await else {
            return (
                StatusCode::from_u16(599).expect("status"),
                reqwest::header::HeaderMap::new(),
                Vec::new(),
            );
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, headers, body)
    }

    /// Professional id of a demo user (by token).
    pub async fn me(&self, token: &str) -> String {
        let (s, v) = self.get(token, "/api/v1/me").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["professional"]["id"].as_str().expect("id").to_string()
    }

    pub async fn team_id(&self, token: &str) -> String {
        let (_, v) = self.get(token, "/api/v1/directory/teams").await;
        v[0]["id"].as_str().expect("a team").to_string()
    }

    /// Creates a draft for a new patient, with consent given, to `target` (`expert_id` or
    /// `team_id` JSON), and submits it. Returns the case.
    pub async fn submitted_case(&self, requester: &str, target: Value) -> Value {
        let c = self.draft(requester, target).await;
        let id = c["id"].as_str().expect("id").to_string();
        self.consent(requester, &id).await;
        self.ok(
            requester,
            &format!("/api/v1/cases/{id}/submit"),
            serde_json::json!({}),
        )
        .await
    }

    pub async fn draft(&self, requester: &str, target: Value) -> Value {
        let mut body = serde_json::json!({
            "patient": {
                "birth_family_name": "Testard",
                "given_names": "Paul",
                "birth_date": "1970-01-15",
                "sex": "M",
                "identity_status": "provisional"
            },
            "reason": "Lésion cutanée",
            "question": "Quel diagnostic ?",
            "clinical_context": "Depuis 2 mois."
        });
        if let (Some(b), Some(t)) = (body.as_object_mut(), target.as_object()) {
            for (k, v) in t {
                b.insert(k.clone(), v.clone());
            }
        }
        let (s, v) = self.post(requester, "/api/v1/cases", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn consent(&self, requester: &str, id: &str) {
        let (s, v) = self
            .put(
                requester,
                &format!("/api/v1/cases/{id}/consent"),
                serde_json::json!({
                    "decision": "given", "method": "oral", "patient_informed": true
                }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    pub async fn audit_count(&self, action: &str, outcome: &str) -> i64 {
        let sql = "SELECT COUNT(*) FROM audit_log WHERE action = $1 AND outcome = $2";
        match self.db() {
            Db::Sqlite(p) => {
                sqlx::query_scalar(sql)
                    .bind(action)
                    .bind(outcome)
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(sql)
                    .bind(action)
                    .bind(outcome)
                    .fetch_one(p)
                    .await
            }
        }
        .expect("count")
    }

    /// The audit chain head `(seq, hash)` as stored.
    pub async fn audit_head(&self) -> (i64, String) {
        let sql = "SELECT seq, hash FROM audit_head WHERE id = 1";
        with_pool!(self.db(), |p| sqlx::query_as(sql).fetch_one(p).await).expect("audit head")
    }

    /// Audit entries after `seq`, in order.
    pub async fn audit_since(&self, seq: i64) -> Vec<consilium::audit::StoredEntry> {
        let sql = "SELECT seq, at, actor_id, actor_label, action, object_type, object_id, outcome, details, prev_hash, hash
                   FROM audit_log WHERE seq > $1 ORDER BY seq";
        with_pool!(self.db(), |p| sqlx::query_as(sql)
            .bind(seq)
            .fetch_all(p)
            .await)
        .expect("audit entries")
    }

    /// Runs one raw SQL statement (tests that tamper with the database).
    pub async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        with_pool!(self.db(), |p| sqlx::query(sql)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
    }

    /// A single BIGINT (or INTEGER) value.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        with_pool!(self.db(), |p| sqlx::query_scalar(q).fetch_one(p).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs every job due at the test clock's current instant (and those they enqueue due
    /// now), as the server's worker would.
    pub async fn run_jobs(&self) -> consilium::jobs::RunReport {
        consilium::jobs::run_due_jobs(&self.platform)
            .await
            .expect("jobs run")
    }

    /// Moves the test clock forward by `seconds` and runs the jobs then due.
    pub async fn advance(&self, seconds: i64) -> consilium::jobs::RunReport {
        self.clock.advance_seconds(seconds);
        self.run_jobs().await
    }

    pub fn system() -> Ctx {
        Ctx::system("test")
    }

    /// Stops the server, checks the audit chain is intact, and drops the test database.
    pub async fn finish(mut self) {
        let report = consilium::audit::verify(self.db())
            .await
            .expect("verify runs");
        assert!(
            report.is_ok(),
            "audit chain broken at the end of the test: {report:?}"
        );
        self.stop().await;
    }

    /// Stops the server and drops the test database WITHOUT verifying the audit chain:
    /// for tests that tamper with it on purpose.
    pub async fn close_unverified(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        self.platform.db.close().await;
        if let Some(name) = self.pg_db.take() {
            drop_pg(&name).await;
        }
    }
}

async fn drop_pg(name: &str) {
    if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url())).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A failed test skips `finish`: still drop its database.
        if let Some(name) = self.pg_db.take() {
            let url = format!("{}/postgres", pg_admin_url());
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        if let Ok(admin) = sqlx::PgPool::connect(&url).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&admin)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub const S3_BUCKET: &str = "consilium";
const S3_ACCESS_KEY: &str = "consilium-test";
const S3_SECRET_KEY: &str = "consilium-test-secret";
const S3S_FS_VERSION: &str = "0.14.1";

/// A real S3 server (s3s-fs) on a loopback port, over a temp folder; stopped on drop.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    child: std::process::Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The s3s-fs binary: `$CONSILIUM_S3S_FS`, else installed once (cargo install, a few
/// minutes) under `~/.cache/consilium-test/s3s-fs`.
pub fn s3s_fs_binary() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("CONSILIUM_S3S_FS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let root = std::path::PathBuf::from(home).join(".cache/consilium-test/s3s-fs");
    let bin = root.join("bin/s3s-fs");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(&root).expect("cache folder");
    // One installer at a time (tests run in parallel): an exclusive lock file.
    let lock = root.join(".install.lock");
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) if bin.exists() => return bin,
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(2)),
        }
    }
    if !bin.exists() {
        eprintln!("installing s3s-fs {S3S_FS_VERSION} for the S3 tests (once, a few minutes)…");
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "install",
                    &format!("s3s-fs@{S3S_FS_VERSION}"),
                    "--features",
                    "binary",
                    "--locked",
                    "--quiet",
                    "--root",
                ])
                .arg(&root)
                .status();
        let _ = std::fs::remove_file(&lock);
        assert!(
            status.is_ok_and(|s| s.success()) && bin.exists(),
            "could not install s3s-fs: run `cargo install s3s-fs@{S3S_FS_VERSION} --features binary --locked --root ~/.cache/consilium-test/s3s-fs` (or set CONSILIUM_S3S_FS)"
        );
    } else {
        let _ = std::fs::remove_file(&lock);
    }
    bin
}

impl S3Server {
    pub async fn start() -> S3Server {
        let bin = tokio::task::spawn_blocking(s3s_fs_binary)
            .await
            .expect("installer");
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join(S3_BUCKET)).expect("bucket folder");
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
                l.local_addr().expect("addr").port()
            };
            let mut child = std::process::Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(root.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("s3s-fs starts");
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return S3Server {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        root,
                        child,
                    };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }
}

/// A JPEG (64 × 48) with an EXIF segment carrying GPS coordinates.
pub fn jpeg_with_gps() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
        .encode_image(&img)
        .expect("JPEG");
    let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 48.8566 N GPSLongitude 2.3522 E";
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A minimal HEIC container (ftyp, meta/iprp/ipco/ispe with the given size, then an mdat
/// holding EXIF with GPS): enough for header checks; it is never decoded.
pub fn fake_heic(w: u32, h: u32) -> Vec<u8> {
    let boxed = |tag: &[u8], body: &[u8]| {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(tag);
        v.extend_from_slice(body);
        v
    };
    let full = |tag: &[u8], body: &[u8]| boxed(tag, &[&[0u8, 0, 0, 0][..], body].concat());
    let infe = |id: u16, t: &[u8; 4], ct: &[u8]| {
        let b = [&id.to_be_bytes()[..], &[0, 0], t, &[0], ct].concat();
        boxed(b"infe", &[&[2u8, 0, 0, 0][..], &b].concat())
    };
    let pixels = b"HEVC coded pixels (synthetic)".repeat(8);
    let exif = b"\0\0\0\x06Exif\0\0MM\0*GPSLatitude 43.2965 N; Make SynthPhone".to_vec();
    let xmp = b"<x:xmpmeta><exif:GPSLongitude>5.3698E</exif:GPSLongitude></x:xmpmeta>".to_vec();
    let iinf = full(
        b"iinf",
        &[
            &3u16.to_be_bytes()[..],
            &infe(1, b"hvc1", b""),
            &infe(2, b"Exif", b""),
            &infe(3, b"mime", b"application/rdf+xml\0"),
        ]
        .concat(),
    );
    let lens = [pixels.len() as u32, exif.len() as u32, xmp.len() as u32];
    let iloc = |first: u32| {
        let mut b = vec![0x44, 0x00];
        b.extend_from_slice(&3u16.to_be_bytes());
        let mut at = first;
        for (i, len) in lens.iter().enumerate() {
            b.extend_from_slice(&((i + 1) as u16).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 1]);
            b.extend_from_slice(&at.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            at += len;
        }
        full(b"iloc", &b)
    };
    let mut ispe = vec![0u8; 4];
    ispe.extend_from_slice(&w.to_be_bytes());
    ispe.extend_from_slice(&h.to_be_bytes());
    let iprp = boxed(b"iprp", &boxed(b"ipco", &boxed(b"ispe", &ispe)));
    let ftyp = boxed(b"ftyp", b"heic\0\0\0\0mif1heic");
    let meta_len = 12 + iinf.len() + iloc(0).len() + iprp.len();
    let first = (ftyp.len() + meta_len + 8) as u32;
    let meta = full(b"meta", &[iinf, iloc(first), iprp].concat());
    let mut out = ftyp;
    out.extend_from_slice(&meta);
    out.extend_from_slice(&boxed(b"mdat", &[pixels, exif, xmp].concat()));
    out
}

/// A PNG header claiming `w` × `h` (the pixel data is a few bytes of nothing).
pub fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(b"\0\0\0\x0aIDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01\0\0\0\0");
    v
}

/// A small real PNG (a gradient), 48 × 32.
pub fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(48, 32, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 7) as u8, 128])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("PNG");
    out
}

/// A multipart/form-data body with one `file` part per `(name, bytes)`; the name is sent
/// as given (tests use hostile names on purpose).
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("----consilium{}", uuid_simple());
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n",
                name.replace('"', "%22")
            )
            .as_bytes(),
        );
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn uuid_simple() -> String {
    consilium::kernel::new_id().replace('-', "")
}
