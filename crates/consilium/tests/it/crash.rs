//! N2/N5/N6 after kill -9 during a batch of uploads (quality.md): the real binary serves
//! uploads from several clients at once and is killed with SIGKILL mid-stream, several
//! times. The clients keep a journal of every upload (its `Idempotency-Key`, its files
//! and, if it came, the 2xx answer). After each restart:
//! - N6: `consilium blobs check` finds every referenced blob present and authentic (only
//!   orphans from uploads in flight are allowed, and `blobs sweep` collects them);
//! - N5: every unanswered upload, retried with its key, is answered 201, and no case holds
//!   a file twice (the retry of an upload that committed before the kill is a replay);
//! - N2: every acknowledged file downloads with the SHA-256 of its answer;
//! - N7 (SQLite): `PRAGMA integrity_check` is ok.
//!
//! Runs on SQLite and PostgreSQL, with the local folder store (the one whose write order,
//! temp → fsync → rename → fsync dir → commit → 201, this exercises).

use crate::harness::{multipart, pg_admin_url};
use crate::instances::Instance;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PETIT: &str = "csl_demo_petit";
const CLIENTS: usize = 6;
const CYCLES: usize = 3;

/// One upload as the client saw it.
#[derive(Clone)]
struct Entry {
    key: String,
    case: String,
    files: Vec<(String, Vec<u8>)>,
    /// The 201 answer, once received.
    acked: Option<Value>,
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A DICOM file (streamed to the store as sent) of `len` pseudo-random bytes.
fn dicom(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; 128];
    v.extend_from_slice(b"DICM");
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

async fn send(c: &reqwest::Client, base: &str, e: &Entry) -> Result<(u16, Value), String> {
    let refs: Vec<(&str, &[u8])> = e
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let (ct, body) = multipart(&refs);
    let r = c
        .post(format!("{base}/api/v1/cases/{}/attachments", e.case))
        .bearer_auth(PETIT)
        .header("Content-Type", ct)
        .header("Idempotency-Key", &e.key)
        .body(body)
        .send()
        .await
        .map_err(|x| x.to_string())?;
    let s = r.status().as_u16();
    let v = r.json().await.map_err(|x| x.to_string())?;
    Ok((s, v))
}

fn cli(args: &[&str], db_url: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_consilium"))
        .args(args)
        .env("CONSILIUM_DATABASE_URL", db_url)
        .env("CONSILIUM_DATA_DIR", dir)
        .env("CONSILIUM_LOG", "error")
        .output()
        .expect("run the consilium CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn start(db_url: &str, dir: &Path) -> Instance {
    Instance::spawn(
        &["serve", "--demo"],
        &[("CONSILIUM_DATABASE_URL", db_url)],
        dir,
    )
}

async fn run(db_url: &str, dir: &Path) {
    let c = reqwest::Client::new();
    let mut journal: Vec<Entry> = Vec::new();
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ u64::from(db_url.starts_with("postgres")));
    let mut killed_in_flight = 0usize;
    for cycle in 0..CYCLES {
        let mut inst = start(db_url, dir);
        let base = inst.base.clone();

        // After the previous kill: N6 before anything else touches the store.
        if cycle > 0 {
            let (ok, report) = cli(&["blobs", "check"], db_url, dir);
            assert!(ok, "N6 after kill {cycle}: {report}");
            // N5: every upload left without an answer is retried with its key.
            for e in journal.iter_mut().filter(|e| e.acked.is_none()) {
                let (s, v) = send(&c, &base, e).await.expect("retry sent");
                assert_eq!(s, 201, "retry of {} after the kill: {v}", e.key);
                e.acked = Some(v);
            }
        }

        // Two fresh drafts per cycle, shared by the clients.
        let mut cases = Vec::new();
        for _ in 0..2 {
            let r = c
                .post(format!("{base}/api/v1/cases"))
                .bearer_auth(PETIT)
                .json(&json!({
                    "patient": {"birth_family_name": "Crashtest", "given_names": "Anne",
                                "birth_date": "1981-02-03", "sex": "F",
                                "identity_status": "provisional"},
                    "reason": "Bilan", "question": "Avis ?"
                }))
                .send()
                .await
                .expect("draft");
            assert_eq!(r.status().as_u16(), 201);
            let v: Value = r.json().await.expect("json");
            cases.push(v["id"].as_str().expect("id").to_string());
        }

        // The batch: each client uploads until the server dies under it.
        let shared: Arc<Mutex<Vec<Entry>>> = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let mut rng = Rng(rng.next() | 1);
            let (c, base, shared) = (c.clone(), base.clone(), shared.clone());
            let cases = cases.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let files = (0..1 + rng.below(3))
                        .map(|i| {
                            let len = 32 * 1024 + rng.below(768 * 1024) as usize;
                            (
                                format!("c{cycle}-{client}-{n}-{i}.dcm"),
                                dicom(&mut rng, len),
                            )
                        })
                        .collect();
                    let mut e = Entry {
                        key: format!("crash-{cycle}-{client}-{n}"),
                        case: cases[rng.below(2) as usize].clone(),
                        files,
                        acked: None,
                    };
                    let r = send(&c, &base, &e).await;
                    let dead = match r {
                        Ok((201, v)) => {
                            e.acked = Some(v);
                            false
                        }
                        Ok((s, v)) => panic!("upload {} answered {s}: {v}", e.key),
                        Err(_) => true, // the server died during this upload
                    };
                    shared.lock().expect("journal").push(e);
                    if dead {
                        return;
                    }
                }
            }));
        }
        // Let the batch run (at least one answer per client), then kill -9 in the middle.
        for _ in 0..600 {
            let n = shared.lock().expect("journal").len();
            if n >= CLIENTS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        inst.child.kill().expect("SIGKILL");
        inst.child.wait().expect("reaped");
        for t in tasks {
            t.await.expect("client task");
        }
        let batch = std::mem::take(&mut *shared.lock().expect("journal"));
        killed_in_flight += batch.iter().filter(|e| e.acked.is_none()).count();
        let acked = batch.iter().filter(|e| e.acked.is_some()).count();
        eprintln!(
            "cycle {cycle}: {acked} uploads answered, {} cut",
            batch.len() - acked
        );
        assert!(acked >= CLIENTS, "the batch ran before the kill");
        journal.extend(batch);
        drop(inst);
    }

    // Last restart: retries, then the full verification.
    let inst = start(db_url, dir);
    let base = inst.base.clone();
    let (ok, report) = cli(&["blobs", "check"], db_url, dir);
    assert!(ok, "N6 after the last kill: {report}");
    for e in journal.iter_mut().filter(|e| e.acked.is_none()) {
        let (s, v) = send(&c, &base, e).await.expect("retry sent");
        assert_eq!(s, 201, "retry of {}: {v}", e.key);
        e.acked = Some(v);
    }
    assert!(
        killed_in_flight > 0,
        "some uploads were in flight at a kill"
    );

    // N5: each case holds exactly the acknowledged files, once.
    let mut expected: HashMap<String, HashSet<String>> = HashMap::new();
    for e in &journal {
        let views = e.acked.as_ref().and_then(Value::as_array).expect("answer");
        assert_eq!(views.len(), e.files.len(), "{}", e.key);
        for (v, (name, bytes)) in views.iter().zip(&e.files) {
            assert_eq!(v["name"], name.as_str());
            assert_eq!(v["sha256"], sha(bytes), "the answer names the bytes sent");
            expected
                .entry(e.case.clone())
                .or_default()
                .insert(v["id"].as_str().expect("id").to_string());
        }
    }
    for (case, ids) in &expected {
        let v: Value = c
            .get(format!("{base}/api/v1/cases/{case}/attachments"))
            .bearer_auth(PETIT)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let listed: Vec<String> = v
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_string())
            .collect();
        assert_eq!(
            listed.len(),
            ids.len(),
            "no duplicate, nothing lost in {case}"
        );
        assert_eq!(listed.iter().cloned().collect::<HashSet<_>>(), *ids);
    }
    // N2: every acknowledged file downloads with the SHA-256 of its answer.
    for e in &journal {
        for v in e.acked.as_ref().and_then(Value::as_array).expect("answer") {
            let r = c
                .get(format!(
                    "{base}/api/v1/cases/{}/attachments/{}",
                    e.case,
                    v["id"].as_str().expect("id")
                ))
                .bearer_auth(PETIT)
                .send()
                .await
                .expect("download");
            assert_eq!(r.status().as_u16(), 200);
            let body = r.bytes().await.expect("body");
            assert_eq!(sha(&body), v["sha256"].as_str().expect("sha"), "N2");
        }
    }
    // N6: orphans only from uploads in flight, and the sweep collects them.
    let (ok, out) = cli(&["blobs", "sweep", "--grace-minutes", "0"], db_url, dir);
    assert!(ok, "{out}");
    let (ok, report) = cli(&["blobs", "check"], db_url, dir);
    assert!(ok, "{report}");
    let r: Value = serde_json::from_str(&report).expect("report");
    assert_eq!(r["orphans"], json!([]), "{report}");
    assert_eq!(r["missing"], json!([]));
    assert_eq!(r["corrupt"], json!([]));
    let files: usize = journal.iter().map(|e| e.files.len()).sum();
    assert_eq!(r["checked"].as_u64(), Some(files as u64), "{report}");
    // The audit chain survived the kills too.
    let (ok, out) = cli(&["audit", "verify"], db_url, dir);
    assert!(ok, "N4: {out}");
    drop(inst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_uploads_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("consilium.db").display());
    run(&url, dir.path()).await;
    // N7: the engine's own check.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("check");
    assert_eq!(ok, "ok");
    let fk: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .expect("fk check");
    assert!(fk.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_uploads_postgres() {
    let name = format!(
        "consilium_t_{}",
        consilium::kernel::new_id().replace('-', "")
    );
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url()))
        .await
        .expect("PostgreSQL must be reachable for the tests");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create database");
    let url = format!("{}/{name}", pg_admin_url());
    let dir = tempfile::tempdir().expect("temp dir");
    run(&url, dir.path()).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop database");
}
