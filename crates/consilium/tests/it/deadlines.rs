//! R9 deadlines through a whole week, hour by hour, on both backends, with mail delivered to
//! a real SMTP server: reminders to the assignee at D+3 and D+5, escalation to the case
//! assigner at D+6, expiry at D+7 with the requester told; each once, at its time, to the
//! right person; no patient data in any mail. Notifications API: list, mark read, settings.

use crate::harness::TestApp;
use crate::smtp::{Delivered, SmtpSink};
use consilium::db::Backend;
use consilium::kernel::time::MICROS_PER_SECOND;
use serde_json::{Value, json};

const PETIT: &str = "csl_demo_petit";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const HOUR: i64 = 3600;

/// The demo, with its own (past) timers run, and a dermatology team case from Petit that
/// the assigner Lefebvre gives to Roux. Returns (case id, case number, submission instant).
async fn setup(app: &TestApp) -> (String, String, i64) {
    app.seed_demo().await;
    app.run_jobs().await;
    let team = app.team_id(LEFEBVRE).await;
    let c = app.submitted_case(PETIT, json!({ "team_id": team })).await;
    let id = c["id"].as_str().unwrap().to_string();
    let number = c["number"].as_str().unwrap().to_string();
    let roux = app.me(ROUX).await;
    app.ok(
        LEFEBVRE,
        &format!("/api/v1/cases/{id}/assign"),
        json!({ "expert_id": roux }),
    )
    .await;
    let submitted = app
        .scalar(&format!("SELECT submitted_at FROM cases WHERE id = '{id}'"))
        .await;
    (id, number, submitted)
}

/// Notifications of a case: (recipient, kind, created_at), in order.
async fn notes(app: &TestApp, case: &str) -> Vec<(String, String, i64)> {
    let sql = format!(
        "SELECT professional_id, kind, created_at FROM notifications WHERE case_id = '{case}' ORDER BY created_at, id"
    );
    let q = sqlx::AssertSqlSafe(sql);
    crate::with_pool!(app.db(), |p| sqlx::query_as(q).fetch_all(p).await).unwrap()
}

fn mails_about<'a>(all: &'a [Delivered], number: &str) -> Vec<&'a Delivered> {
    all.iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains(number)))
        .collect()
}

async fn whole_week(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let app = TestApp::start_with(backend, |c| smtp.configure(c)).await;
    let (id, number, submitted) = setup(&app).await;
    let (roux, lefebvre, petit) = (
        app.me(ROUX).await,
        app.me(LEFEBVRE).await,
        app.me(PETIT).await,
    );
    // Roux was told when the assigner gave him the case.
    assert_eq!(
        notes(&app, &id)
            .await
            .into_iter()
            .map(|n| (n.0, n.1))
            .collect::<Vec<_>>(),
        vec![(roux.clone(), "assigned".to_string())]
    );
    // Hour by hour through two weeks; note when each notification appeared.
    let mut seen = 1;
    let mut at_hour = Vec::new();
    for h in 1..=14 * 24 {
        app.clock.set(consilium::kernel::Timestamp(
            submitted + h * HOUR * MICROS_PER_SECOND,
        ));
        app.run_jobs().await;
        let n = notes(&app, &id).await;
        for x in &n[seen..] {
            at_hour.push((h, x.0.clone(), x.1.clone()));
        }
        seen = n.len();
    }
    assert_eq!(
        at_hour,
        vec![
            (72, roux.clone(), "reminder".to_string()),
            (120, roux.clone(), "reminder".to_string()),
            (144, lefebvre.clone(), "escalated".to_string()),
            (168, petit.clone(), "expired".to_string()),
        ],
        "each timer once, at its hour, to its person"
    );
    let (_, case) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["state"], "expired");
    for (action, n) in [("case.remind", 2), ("case.escalate", 1), ("case.expire", 1)] {
        let count = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND object_id = '{id}'"
            ))
            .await;
        assert_eq!(count, n, "{action}");
    }
    // The mail actually delivered: one per notification, to the right address, with the
    // case number and link, and no patient data.
    let all = smtp.wait_for(1).await;
    let mut mails = mails_about(&all, &number);
    for _ in 0..50 {
        if mails.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        mails = mails_about(&all, &number);
    }
    let all = smtp.messages();
    let mails = mails_about(&all, &number);
    let to: Vec<&str> = mails.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    assert_eq!(
        to,
        vec![
            "roux@demo.consilium.invalid",
            "roux@demo.consilium.invalid",
            "roux@demo.consilium.invalid",
            "lefebvre@demo.consilium.invalid",
            "petit@demo.consilium.invalid",
        ]
    );
    for m in &mails {
        let body = m.body();
        assert!(body.contains(&number), "{body}");
        assert!(body.contains(&format!("/cases/{id}")), "{body}");
        for patient_data in [
            "Testard",
            "TESTARD",
            "Paul",
            "1970",
            "Lésion",
            "Quel diagnostic",
            "Depuis 2 mois",
        ] {
            assert!(
                !m.data.contains(patient_data) && !body.contains(patient_data),
                "patient data '{patient_data}' in a mail: {}",
                m.data
            );
        }
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_week_sqlite() {
    whole_week(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_week_postgres() {
    whole_week(Backend::Postgres).await;
}

crate::both!(an_answered_case_gets_no_reminder_and_never_expires, |app| {
    let (id, _number, _) = setup(app).await;
    app.ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    app.ok(
        ROUX,
        &format!("/api/v1/cases/{id}/answer"),
        json!({"kind": "advice", "answer": "Naevus bénin."}),
    )
    .await;
    for _ in 0..10 {
        app.advance(24 * HOUR).await;
    }
    let kinds: Vec<String> = notes(app, &id).await.into_iter().map(|n| n.1).collect();
    assert_eq!(
        kinds,
        ["assigned"],
        "told when assigned; no reminder after the answer"
    );
    let (_, case) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(case["state"], "answered");
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM jobs WHERE dedupe_key LIKE 'case:{id}:%' AND state = 'done'"
        ))
        .await,
        4,
        "the four timers ran (and did nothing)"
    );
});

crate::both!(a_pool_case_reminds_the_whole_team, |app| {
    app.seed_demo().await;
    app.run_jobs().await;
    let team = app.team_id(LEFEBVRE).await;
    let c = app.submitted_case(PETIT, json!({ "team_id": team })).await;
    let id = c["id"].as_str().unwrap().to_string();
    app.advance(3 * 24 * HOUR).await;
    let mut to: Vec<String> = notes(app, &id).await.into_iter().map(|n| n.0).collect();
    to.sort();
    let mut members: Vec<String> = Vec::new();
    let (_, t) = app
        .get(LEFEBVRE, &format!("/api/v1/directory/teams/{team}"))
        .await;
    for m in t["members"].as_array().unwrap() {
        members.push(m["professional_id"].as_str().unwrap().to_string());
    }
    members.sort();
    assert!(!members.is_empty());
    assert_eq!(to, members);
});

crate::both!(notifications_api_lists_marks_read_and_sets_digest, |app| {
    let (id, number, _) = setup(app).await;
    app.advance(3 * 24 * HOUR).await;
    app.advance(2 * 24 * HOUR).await;
    // (The demo's own cases notify Roux too: look at this case's.)
    let mine = |v: &Value| -> Vec<Value> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["case_id"] == Value::String(id.clone()))
            .cloned()
            .collect()
    };
    let (s, v) = app
        .get(ROUX, "/api/v1/notifications?unread=true&limit=200")
        .await;
    assert_eq!(s, 200, "{v}");
    let unread = v["unread"].as_i64().unwrap();
    let items = mine(&v);
    // Two reminders, and the assignment (oldest).
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["kind"], "assigned");
    assert_eq!(items[0]["case_number"], Value::String(number.clone()));
    assert_eq!(items[0]["kind"], "reminder");
    assert!(items[0]["text"].as_str().unwrap().contains(&number));
    assert!(!items[0].to_string().contains("Testard"));
    let nid = items[0]["id"].as_str().unwrap().to_string();
    // Someone else cannot mark it (404, audited); its recipient can.
    let denied = app.audit_count("notification.read", "denied").await;
    let (s, _) = app
        .post(
            FONTAINE,
            &format!("/api/v1/notifications/{nid}/read"),
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        app.audit_count("notification.read", "denied").await,
        denied + 1
    );
    let (s, v) = app
        .post(
            ROUX,
            &format!("/api/v1/notifications/{nid}/read"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["read_at"].is_string());
    let (_, v) = app
        .get(ROUX, "/api/v1/notifications?unread=true&limit=200")
        .await;
    assert_eq!(v["unread"].as_i64(), Some(unread - 1));
    assert_eq!(mine(&v).len(), 2);
    let (_, v) = app.get(ROUX, "/api/v1/notifications?limit=200").await;
    assert_eq!(mine(&v).len(), 3);
    let (_, v) = app.get(FONTAINE, "/api/v1/notifications?limit=200").await;
    assert!(
        mine(&v).is_empty(),
        "assigned to Roux: only Roux is reminded"
    );
    // Anonymous: 401.
    let (s, _) = app
        .call("GET", None, "/api/v1/notifications", None, None)
        .await;
    assert_eq!(s, 401);
    // Digest: the escalation mail to Lefebvre waits for the next digest hour.
    let (s, v) = app
        .put(
            LEFEBVRE,
            "/api/v1/me/notification-settings",
            json!({"email": "digest"}),
        )
        .await;
    assert_eq!((s.as_u16(), v["email"].as_str()), (200, Some("digest")));
    let (s, _) = app
        .put(
            LEFEBVRE,
            "/api/v1/me/notification-settings",
            json!({"email": "weekly"}),
        )
        .await;
    assert_eq!(s, 422);
    app.advance(24 * HOUR).await; // D+6: escalation
    let mailed = format!(
        "SELECT COUNT(*) FROM jobs WHERE kind = 'mail.send' AND payload LIKE '%lefebvre@%' AND payload LIKE '%{number}%'"
    );
    assert_eq!(app.scalar(&mailed).await, 0, "digest: not mailed at once");
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE case_id = '{id}' AND kind = 'escalated' AND emailed_at IS NULL"
        ))
        .await,
        1
    );
    app.advance(24 * HOUR).await; // the digest hour has passed
    assert_eq!(
        app.scalar(&mailed).await,
        1,
        "one digest mail names the case"
    );
});
