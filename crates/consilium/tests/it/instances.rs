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

/// The id of a demo professional by last name.
async fn pro(db: &Db, last_name: &str) -> String {
    let q = sqlx::AssertSqlSafe(format!(
        "SELECT id FROM professionals WHERE last_name = '{last_name}'"
    ));
    crate::with_pool!(db, |p| sqlx::query_scalar(q).fetch_one(p).await).unwrap()
}

fn now_us() -> i64 {
    consilium::kernel::Clock::now(&SystemClock).micros()
}

/// Creates a draft (consent given) and submits it through `base`.
async fn submit(c: &reqwest::Client, base: &str, team: &str) -> String {
    let (s, v) = call(
        c,
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
    let s = c
        .put(format!("{base}/api/v1/cases/{id}/consent"))
        .bearer_auth(PETIT)
        .json(&json!({"decision": "given", "method": "oral", "patient_informed": true}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(s, 200);
    let (s, v) = call(c, base, PETIT, &format!("/cases/{id}/submit"), json!({})).await;
    assert_eq!(s, 200, "{v}");
    id
}

/// `auto_assign` and `hybrid` teams on two instances: the offers' and pools' timers are
/// made due while the experts accept and claim through both instances at the same moment,
/// and one instance is killed while the queue is busy. No case is accepted twice or by
/// someone it was not offered to, no offer is made twice to the same expert, every due
/// timer runs once (none lost, none twice), and no mail is sent twice but the one in
/// flight at the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_auto_assign_and_hybrid_teams() {
    use consilium::directory::model::{
        AssignStrategy, NewTeam, NewTeamMember, TeamPolicy, TeamRouting,
    };
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
    // The demo's own jobs are not this test's business.
    crate::with_pool!(&db, |x| sqlx::query("DELETE FROM jobs")
        .execute(x)
        .await
        .map(|_| ()))
    .unwrap();
    let (roux, fontaine, lefebvre) = (
        pro(&db, "Roux").await,
        pro(&db, "Fontaine").await,
        pro(&db, "Lefebvre").await,
    );
    let org = p.list_teams(Some("SM15")).await.unwrap()[0]
        .organisation_id
        .clone();
    let mut teams = Vec::new();
    for policy in [TeamPolicy::AutoAssign, TeamPolicy::Hybrid] {
        let t = p
            .create_team(
                &consilium::platform::Ctx::system("test"),
                NewTeam {
                    organisation_id: org.clone(),
                    name: format!("Dermatologie {}", policy.as_str()),
                    specialty: "SM15".into(),
                    policy,
                    routing: TeamRouting {
                        assign_strategy: AssignStrategy::RoundRobin,
                        accept_hours: 1,
                        hybrid_hours: 1,
                    },
                    members: vec![
                        NewTeamMember {
                            professional_id: roux.clone(),
                            is_assigner: false,
                        },
                        NewTeamMember {
                            professional_id: fontaine.clone(),
                            is_assigner: false,
                        },
                        NewTeamMember {
                            professional_id: lefebvre.clone(),
                            is_assigner: true,
                        },
                    ],
                },
            )
            .await
            .unwrap();
        teams.push(t.id);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut a = Some(Instance::start(&url, &smtp.url(), dir.path()));
    let b = Instance::start(&url, &smtp.url(), dir.path());
    let a_base = a.as_ref().unwrap().base.clone();
    let b_base = b.base.clone();
    let c = reqwest::Client::new();

    // 1. Requests to both teams through both instances. The auto-assigning team offers each
    // at once (round robin); the hybrid team's wait in its pool for an hour.
    let (mut auto, mut hybrid) = (Vec::new(), Vec::new());
    for i in 0..12 {
        let base = if i % 2 == 0 { &a_base } else { &b_base };
        auto.push(submit(&c, base, &teams[0]).await);
        hybrid.push(submit(&c, base, &teams[1]).await);
    }
    let offered_to = |id: &String| {
        let db = db.clone();
        let id = id.clone();
        async move {
            let q = sqlx::AssertSqlSafe(format!(
                "SELECT COALESCE(assigned_expert_id, '') FROM cases WHERE id = '{id}'"
            ));
            crate::with_pool!(&db, |x| sqlx::query_scalar::<_, String>(q)
                .fetch_one(x)
                .await)
            .unwrap()
        }
    };
    let mut first_offer = HashMap::new();
    for id in &auto {
        let e = offered_to(id).await;
        assert!(
            e == roux || e == fontaine || e == lefebvre,
            "offered at once"
        );
        first_offer.insert(id.clone(), e);
    }
    // Some load on the queue, so the kill below lands while work remains.
    let now = p.now();
    let mut tx = db.begin().await.unwrap();
    for i in 0..120 {
        let m = OutgoingMail {
            to: format!("dest{i}@example.org"),
            subject: format!("load {i}"),
            text: "x".into(),
        };
        mail::enqueue(&mut tx, now, &m, None).await.unwrap();
    }
    tx.commit().await.unwrap();

    // 2. At the same moment: every offer lapses and every pool wait ends (their timers made
    // due), while the offered experts accept and both experts claim the pool cases, through
    // both instances.
    let token = |id: &str| {
        if id == roux {
            ROUX
        } else if id == fontaine {
            FONTAINE
        } else {
            LEFEBVRE
        }
    };
    let due_now = async {
        let q = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET due_at = {} WHERE kind IN ('routing.offer', 'routing.from_pool') AND state = 'pending'",
            now_us()
        ));
        crate::with_pool!(&db, |x| sqlx::query(q).execute(x).await.map(|_| ())).unwrap();
    };
    // Half the cases are contested (accepted or claimed while their timer fires); the other
    // half are left to their timers, which must route them.
    let accepts =
        futures_util::future::join_all(auto.iter().enumerate().step_by(2).map(|(i, id)| {
            let base = if i % 4 == 0 {
                a_base.clone()
            } else {
                b_base.clone()
            };
            let who = first_offer[id].clone();
            let c = c.clone();
            let path = format!("/cases/{id}/accept");
            async move {
                let (s, _) = call(&c, &base, token(&who), &path, json!({})).await;
                (id.clone(), who, s)
            }
        }));
    let claims = futures_util::future::join_all(hybrid.iter().step_by(2).map(|id| {
        let c = c.clone();
        let (a_base, b_base) = (a_base.clone(), b_base.clone());
        let path = format!("/cases/{id}/accept");
        async move {
            let (ra, rb) = tokio::join!(
                call(&c, &a_base, ROUX, &path, json!({})),
                call(&c, &b_base, FONTAINE, &path, json!({}))
            );
            (id.clone(), ra.0, rb.0)
        }
    }));
    let ((), accepted, claimed) = tokio::join!(due_now, accepts, claims);

    // 3. Kill one instance while the queue is busy.
    let until = Instant::now() + Duration::from_secs(90);
    while smtp.messages().len() < 20 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(a.take()); // SIGKILL
    let at_kill = smtp.messages().len();

    // 4. The survivor finishes every due job, the dead instance's leased ones included.
    let due = || {
        format!(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running') AND due_at <= {}",
            now_us()
        )
    };
    while scalar(&db, &due()).await > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(scalar(&db, &due()).await, 0, "no timer or mail lost");
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await,
        0
    );
    assert!(
        at_kill < 200,
        "killed while work remained ({at_kill} delivered)"
    );

    // No case accepted twice, or by anyone but its holder.
    for (id, who, s) in &accepted {
        assert!([200, 403, 404, 409].contains(s), "accept of {id}: {s}");
        let accepts = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM case_events WHERE case_id = '{id}' AND action = 'accept'"
            ),
        )
        .await;
        let holder = offered_to(id).await;
        let state: String = {
            let q = sqlx::AssertSqlSafe(format!("SELECT state FROM cases WHERE id = '{id}'"));
            crate::with_pool!(&db, |x| sqlx::query_scalar(q).fetch_one(x).await).unwrap()
        };
        if *s == 200 {
            assert_eq!(accepts, 1);
            assert_eq!(
                (state.as_str(), holder.as_str()),
                ("in_progress", who.as_str())
            );
        } else {
            assert_eq!(accepts, 0, "{id}: refused, yet accepted");
            assert_ne!(state, "in_progress");
        }
    }
    for (id, ra, rb) in &claimed {
        let wins = [ra, rb].iter().filter(|s| ***s == 200).count();
        assert!(wins <= 1, "{id}: two claims won ({ra}, {rb})");
        let accepts = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM case_events WHERE case_id = '{id}' AND action = 'accept'"
            ),
        )
        .await;
        assert_eq!(accepts, wins as i64, "{id}");
    }
    // Never the same offer twice; every due routing timer ran exactly once (a timer run
    // twice would write a second step).
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM (SELECT case_id, professional_id FROM notifications
             WHERE kind = 'offered' GROUP BY case_id, professional_id HAVING COUNT(*) > 1) x"
        )
        .await,
        0,
        "an expert offered the same case twice"
    );
    for id in auto.iter().chain(&hybrid) {
        let steps = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM case_events WHERE case_id = '{id}' AND action = 'route'"
            ),
        )
        .await;
        let ran = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM jobs WHERE kind IN ('routing.offer', 'routing.from_pool')
                 AND payload LIKE '%{id}%' AND state = 'done'"
            ),
        )
        .await;
        let audited = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'case.route' AND object_id = '{id}'"
            ),
        )
        .await;
        assert!(
            steps <= ran,
            "{id}: {steps} routing steps from {ran} timers"
        );
        assert_eq!(steps, audited, "{id}");
    }
    // The hybrid cases nobody claimed were offered when their pool wait ended; the
    // uncontested offers lapsed to the next member (each routed exactly once).
    for (id, ra, rb) in &claimed {
        if *ra != 200 && *rb != 200 {
            let holder = offered_to(id).await;
            assert!(!holder.is_empty(), "{id}: unclaimed, yet not offered");
        }
    }
    for id in hybrid.iter().skip(1).step_by(2) {
        assert!(
            !offered_to(id).await.is_empty(),
            "{id}: not offered after its pool wait"
        );
    }
    for id in auto.iter().skip(1).step_by(2) {
        let steps = scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM case_events WHERE case_id = '{id}' AND action = 'route'"
            ),
        )
        .await;
        assert_eq!(steps, 1, "{id}: its lapsed offer routed it once");
        assert_ne!(
            offered_to(id).await,
            first_offer[id],
            "{id}: offered to the next member"
        );
    }

    // Every mail delivered; only the one in flight at the kill may have gone twice.
    let mails = scalar(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'mail.send'").await as usize;
    let mut all = smtp.wait_for(mails).await;
    for _ in 0..50 {
        if all.len() >= mails {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        all = smtp.messages();
    }
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in &all {
        *by_id
            .entry(m.header("Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(by_id.len(), mails, "every mail delivered");
    let twice: usize = by_id.values().map(|n| n.saturating_sub(1)).sum();
    assert!(twice <= 1, "{twice} mails sent twice");
    for m in &all {
        assert!(!m.data.contains("Testard"), "patient name in a mail");
    }

    drop(b);
    db.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
