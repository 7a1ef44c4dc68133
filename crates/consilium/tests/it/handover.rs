//! A request reaching an expert by name, by the assigner's hand or forwarded by a colleague:
//! the expert is told at once (in-app, and by email as they chose: immediate or digest; no
//! patient data), and forwarding obeys the colleague's acceptance rules and absences as a
//! submission does (422 naming the reason, nothing changed).

use crate::harness::TestApp;
use crate::smtp::SmtpSink;
use consilium::db::Backend;
use serde_json::{Value, json};

const PETIT: &str = "csl_demo_petit";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const HOUR: i64 = 3600;

/// Notifications of a case: (recipient, kind).
async fn notes(app: &TestApp, case: &str) -> Vec<(String, String)> {
    let sql = format!(
        "SELECT professional_id, kind FROM notifications WHERE case_id = '{case}' ORDER BY created_at, id"
    );
    let q = sqlx::AssertSqlSafe(sql);
    crate::with_pool!(app.db(), |p| sqlx::query_as(q).fetch_all(p).await).unwrap()
}

fn message(v: &Value, field: &str) -> String {
    v["errors"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["field"] == field))
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

async fn told_at_once(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let app = TestApp::start_with(backend, |c| smtp.configure(c)).await;
    app.seed_demo().await;
    app.run_jobs().await;
    let before = smtp.messages().len();
    let (roux, fontaine) = (app.me(ROUX).await, app.me(FONTAINE).await);

    // Named: Roux hears of it with the submission, in-app and by email.
    let c = app
        .submitted_case(PETIT, json!({ "expert_id": roux }))
        .await;
    let (id, number) = (
        c["id"].as_str().unwrap().to_string(),
        c["number"].as_str().unwrap().to_string(),
    );
    assert_eq!(notes(&app, &id).await, [(roux.clone(), "assigned".into())]);
    let (_, list) = app
        .get(ROUX, "/api/v1/notifications?unread_only=true")
        .await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["case_id"] == id.as_str())
        .cloned()
        .expect("in Roux's notifications");
    assert_eq!(item["kind"], "assigned");
    assert!(item["text"].as_str().unwrap().contains(&number));
    app.run_jobs().await;
    let got = smtp.wait_for(before + 1).await;
    let mail = got
        .iter()
        .find(|m| m.header("Subject").is_some_and(|s| s.contains(&number)))
        .expect("a mail about the case");
    assert!(mail.to("roux@demo.consilium.invalid"));
    let body = mail.body();
    assert!(body.contains(&format!("/cases/{id}")), "{body}");
    for secret in ["Testard", "Paul", "1970", "Lésion", "diagnostic", "Depuis"] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }

    // Forwarded by Roux to Fontaine, who chose the daily digest: in-app at once, the
    // email with the next digest, not before.
    let (s, v) = app
        .put(
            FONTAINE,
            "/api/v1/me/notification-settings",
            json!({"email": "digest"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let about = |all: &[crate::smtp::Delivered]| {
        all.iter()
            .filter(|m| m.to("fontaine@demo.consilium.invalid") && m.body().contains(&number))
            .count()
    };
    app.ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    app.ok(
        ROUX,
        &format!("/api/v1/cases/{id}/forward"),
        json!({ "expert_id": fontaine }),
    )
    .await;
    assert_eq!(
        notes(&app, &id).await,
        [
            (roux.clone(), "assigned".into()),
            (fontaine.clone(), "assigned".into())
        ]
    );
    app.run_jobs().await;
    let now_count = smtp.messages().len();
    assert_eq!(about(&smtp.messages()), 0, "digest: no mail at once");
    app.advance(24 * HOUR).await;
    let mut got = smtp.wait_for(now_count + 1).await;
    for _ in 0..50 {
        if about(&got) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        got = smtp.messages();
    }
    assert_eq!(about(&got), 1, "Fontaine's digest names the case");
    let digest = got
        .iter()
        .find(|m| m.to("fontaine@demo.consilium.invalid") && m.body().contains(&number))
        .expect("Fontaine's digest");
    assert!(!digest.body().contains("Testard"));

    // Assigned by the team's assigner: the expert is told at once.
    let team = app.team_id(LEFEBVRE).await;
    let c = app.submitted_case(PETIT, json!({ "team_id": team })).await;
    let id2 = c["id"].as_str().unwrap().to_string();
    assert!(notes(&app, &id2).await.is_empty(), "a self-service pool");
    app.ok(
        LEFEBVRE,
        &format!("/api/v1/cases/{id2}/assign"),
        json!({ "expert_id": roux }),
    )
    .await;
    assert_eq!(notes(&app, &id2).await, [(roux.clone(), "assigned".into())]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_is_told_at_once_sqlite() {
    told_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_is_told_at_once_postgres() {
    told_at_once(Backend::Postgres).await;
}

crate::both!(forwarding_obeys_the_colleague_rules, |app| {
    app.seed_demo().await;
    let (roux, fontaine) = (app.me(ROUX).await, app.me(FONTAINE).await);
    let c = app
        .submitted_case(PETIT, json!({ "expert_id": roux }))
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    app.ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    let version = |v: &Value| v["version"].as_i64().unwrap_or_default();
    let (_, before) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    let forward = json!({ "expert_id": fontaine });
    let path = format!("/api/v1/cases/{id}/forward");

    // Fontaine accepts requests from doctors only: Petit is a nurse.
    let (s, v) = app
        .put(
            FONTAINE,
            "/api/v1/me/acceptance-rules",
            json!({"professions": ["10"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.post(ROUX, &path, forward.clone()).await;
    assert_eq!(s, 422, "{v}");
    let m = message(&v, "expert_id");
    assert!(m.contains("does not accept requests from Infirmier"), "{m}");

    // Any profession, but away this week with no delegate.
    app.put(FONTAINE, "/api/v1/me/acceptance-rules", json!({}))
        .await;
    let now = app.platform.now();
    let (s, v) = app
        .post(
            FONTAINE,
            "/api/v1/me/absences",
            json!({"from": now.to_rfc3339(), "to": now.plus_days(7).to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app.post(ROUX, &path, forward.clone()).await;
    assert_eq!(s, 422, "{v}");
    let m = message(&v, "expert_id");
    assert!(m.contains("absent"), "{m}");

    // Refused twice, nothing changed: still Roux's, same version.
    let (_, after) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(version(&after), version(&before));
    assert_eq!(after["state"], "in_progress");

    // Back from the absence: the forward goes through.
    app.clock.advance_seconds(8 * 24 * HOUR);
    let (s, v) = app.post(ROUX, &path, forward).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "assigned");
});
