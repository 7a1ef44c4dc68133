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
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Seeds the demo data set; its users' tokens are `csl_demo_<lastname>`.
    pub async fn seed_demo(&self) {
        consilium::demo::seed(&self.platform)
            .await
            .expect("demo seeds");
    }

    pub fn db(&self) -> &Db {
        &self.platform.db
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

fn uuid_simple() -> String {
    consilium::kernel::new_id().replace('-', "")
}
