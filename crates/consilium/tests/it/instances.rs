//! Several instances (issue 5): two `consilium serve` processes on the same PostgreSQL
//! database, each running its job worker, with a real SMTP server. Experts claim the same
//! pool cases through both at once; timers and mail jobs are fired; one instance is killed
//! (SIGKILL) in the middle. Afterwards: no case assigned twice, every timer ran exactly once,
//! every mail was delivered, and at most the one mail in flight at the kill was sent twice.

use crate::harness::pg_admin_url;
use crate::smtp::SmtpSink;
use consilium::db::Db;
use consilium::jobs::{self, NewJob};
use consilium::kernel::SystemClock;
use consilium::mail::{self, OutgoingMail};
use consilium::platform::Platform;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const LEFEBVRE: &str = "csl_demo_lefebvre";

/// A `consilium serve` process (the real binary), killed when dropped.
pub(crate) struct Instance {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Instance {
    fn start(db_url: &str, smtp: &str, dir: &std::path::Path) -> Instance {
        Instance::spawn(
            &["serve"],
            &[
                ("CONSILIUM_DATABASE_URL", db_url),
                ("CONSILIUM_SMTP_URL", smtp),
                ("CONSILIUM_JOBS_POLL_MS", "50"),
                ("CONSILIUM_JOBS_LEASE_SECONDS", "3"),
            ],
            dir,
        )
    }

    /// Starts `consilium <args>` on `dir` with extra environment, and waits until it
    /// prints its address.
    pub(crate) fn spawn(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Instance {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_consilium"));
        cmd.args(args)
            .env("CONSILIUM_DATA_DIR", dir)
            .env("CONSILIUM_LISTEN", "127.0.0.1:0")
            .env("CONSILIUM_ARGON2_MEMORY_KIB", "1024")
            .env("CONSILIUM_ARGON2_ITERATIONS", "1")
            .env("CONSILIUM_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start consilium serve");
        let out = child.stdout.take().expect("stdout");
        let mut base = None;
        let mut lines = BufReader::new(out).lines();
        for line in lines.by_ref() {
            let line = line.expect("a line");
            if let Some(rest) = line.strip_prefix("Consilium is running on ") {
                base = Some(rest.trim().to_string());
                break;
            }
        }
        // Keep reading, so the instance never writes to a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Instance {
            child,
            base: base.expect("the instance printed its address"),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(
    c: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = c
        .post(format!("{base}/api/v1{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let q = sqlx::AssertSqlSafe(sql.to_string());
    crate::with_pool!(db, |p| sqlx::query_scalar(q).fetch_one(p).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_claims_timers_and_mail() {
    let smtp = SmtpSink::start().await;
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
        .unwrap();
    let url = format!("{}/{name}", pg_admin_url());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let p = Platform::new(db.clone(), Arc::new(SystemClock));
    consilium::demo::seed(&p).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = Instance::start(&url, &smtp.url(), dir.path());
    let mut b = Some(Instance::start(&url, &smtp.url(), dir.path()));
    let b_base = b.as_ref().unwrap().base.clone();
    let mut a = Some(a);
    let a_base = a.as_ref().unwrap().base.clone();
    let c = reqwest::Client::new();

    // 1. Pool cases claimed at the same moment through both instances: one winner each.
    let team: String = {
        let r: Value = c
            .get(format!("{a_base}/api/v1/directory/teams"))
            .bearer_auth(LEFEBVRE)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r[0]["id"].as_str().unwrap().to_string()
    };
    let mut cases = Vec::new();
    for i in 0..20 {
        let base = if i % 2 == 0 { &a_base } else { &b_base };
        let (s, v) = call(
            &c,
            base,
            PETIT,
            "/cases",
            json!({
                "patient": {"birth_family_name": "Testard", "given_names": "Paul",
                            "birth_date": "1970-01-15", "sex": "M"},
                "team_id": team, "reason": "Lésion", "question": "Diagnostic ?"
            }),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let (s, _) = c
            .put(format!("{base}/api/v1/cases/{id}/consent"))
            .bearer_auth(PETIT)
            .json(&json!({"decision": "given", "method": "oral", "patient_informed": true}))
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .unwrap();
        assert_eq!(s, 200);
        let (s, v) = call(&c, base, PETIT, &format!("/cases/{id}/submit"), json!({})).await;
        assert_eq!(s, 200, "{v}");
        cases.push(id);
    }
    let mut winners = HashMap::new();
    for id in &cases {
        let path = format!("/cases/{id}/accept");
        let (ra, rb) = tokio::join!(
            call(&c, &a_base, ROUX, &path, json!({})),
            call(&c, &b_base, FONTAINE, &path, json!({}))
        );
        let ok: Vec<&str> = [(ra.0, "roux"), (rb.0, "fontaine")]
            .iter()
            .filter(|x| x.0 == 200)
            .map(|x| x.1)
            .collect();
        assert_eq!(ok.len(), 1, "exactly one claim wins: {ra:?} {rb:?}");
        assert!([ra.0, rb.0].contains(&409), "the other is told it is taken");
        winners.insert(id.clone(), ok[0]);
    }
    for id in &cases {
        let n = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM case_events WHERE case_id = '{id}' AND action = 'accept'"
            ),
        )
        .await;
        assert_eq!(n, 1, "one acceptance recorded per case");
    }

    // 2. Timers (a reminder per case, due now) and 150 mails, fired at once.
    let now = p.now();
    let mut tx = db.begin().await.unwrap();
    for id in &cases {
        let payload = json!({"case_id": id, "timer": "reminder", "day": 3});
        jobs::enqueue(
            &mut tx,
            now,
            NewJob::new("case.timer", payload, now).dedupe(format!("test:{id}:reminder")),
        )
        .await
        .unwrap();
    }
    for i in 0..150 {
        let m = OutgoingMail {
            to: format!("dest{i}@example.org"),
            subject: format!("load {i}"),
            text: "x".into(),
        };
        mail::enqueue(&mut tx, now, &m, None).await.unwrap();
    }
    tx.commit().await.unwrap();

    // 3. Kill one instance in the middle of the work.
    let until = Instant::now() + Duration::from_secs(60);
    while smtp.messages().len() < 30 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at = smtp.messages().len();
    drop(a.take()); // SIGKILL
    assert!(
        killed_at < 170,
        "killed while work remained ({killed_at} delivered)"
    );

    // 4. The survivor finishes everything, the dead instance's leased jobs included.
    let pending = "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running') AND due_at <= (SELECT MAX(created_at) FROM jobs)";
    while scalar(&db, pending).await > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scalar(&db, pending).await, 0, "no job lost");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await,
        0
    );
    for id in &cases {
        let n = scalar(
            &db,
            &format!("SELECT COUNT(*) FROM notifications WHERE case_id = '{id}'"),
        )
        .await;
        assert_eq!(n, 1, "each timer ran exactly once");
        let to = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM notifications n JOIN cases c ON c.id = n.case_id
                 WHERE n.case_id = '{id}' AND n.professional_id = c.assigned_expert_id"
            ),
        )
        .await;
        assert_eq!(to, 1, "the reminder went to the winner ({})", winners[id]);
    }
    // Every mail delivered; at most the one being sent at the kill went out twice.
    let mut all = smtp.wait_for(170).await;
    for _ in 0..50 {
        if all.len() >= 170 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        all = smtp.messages();
    }
    let subjects: std::collections::HashSet<String> =
        all.iter().filter_map(|m| m.header("Subject")).collect();
    for i in 0..150 {
        assert!(
            subjects.contains(&format!("load {i}")),
            "mail {i} delivered"
        );
    }
    // A mail sent again is the same job: the same Message-ID.
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in &all {
        *by_id
            .entry(m.header("Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    let reminders = all
        .iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains("rappel")))
        .count();
    assert!(reminders >= 20, "each reminder mailed ({reminders})");
    let twice: usize = by_id.values().map(|n| n.saturating_sub(1)).sum();
    assert!(twice <= 1, "{twice} mails sent twice");
    for m in &all {
        assert!(!m.data.contains("Testard"), "patient name in a mail");
    }

    drop(b.take());
    db.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
