//! Signed webhooks, delivered to a real HTTP receiver on loopback started by the test (an
//! axum server recording what it is sent): the signature verifies with the secret shown at
//! registration, a 500 is retried with the queue's backoff and the event id stays the same,
//! an endless failure ends dead, filters and deletion hold, and no patient data is sent.

use crate::both_with;
use axum::http::{HeaderMap, StatusCode};
use consilium::webhooks::model::verify;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const PETIT: &str = "csl_demo_petit";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) answered: u16,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A receiver on 127.0.0.1: each path answers from its script (500s first, then 200), or
/// 200 when it has none.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Receiver, String, tokio::task::JoinHandle<()>) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let path = uri.path().to_string();
                    let status = {
                        let mut s = state.script.lock().unwrap();
                        match s.get_mut(&path) {
                            Some(v) if !v.is_empty() => v.remove(0),
                            _ => 200,
                        }
                    };
                    state.got.lock().unwrap().push(Received {
                        path,
                        headers,
                        body,
                        answered: status,
                    });
                    StatusCode::from_u16(status).unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (r, base, task)
    }
    pub(crate) fn fail(&self, path: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_string(), statuses.to_vec());
    }
    pub(crate) fn at(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
    /// What `path` got about case `id`.
    pub(crate) fn about(&self, path: &str, id: &str) -> Vec<Received> {
        self.at(path)
            .into_iter()
            .filter(|r| r.json()["case"]["id"] == id)
            .collect()
    }
    pub(crate) fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

pub(crate) fn signed(r: &Received, secret: &str, now_s: i64) -> bool {
    verify(
        secret,
        &r.header("consilium-signature"),
        &r.body,
        now_s,
        300,
    )
}

both_with!(
    delivered_signed_retried_and_without_patient_data,
    |c: &mut consilium::config::Config| {
        c.webhook_allow_loopback = true;
        c.public_url = Some("https://consilium.example.org".into());
    },
    |app| {
        app.seed_demo().await;
        app.run_jobs().await; // the demo's own past timers
        let (rx, base, task) = Receiver::start().await;
        let team = app.team_id(LEFEBVRE).await;
        let (_, t) = app
            .get(LEFEBVRE, &format!("/api/v1/directory/teams/{team}"))
            .await;
        let org = t["organisation_id"]
            .as_str()
            .expect("the team's organisation")
            .to_string();

        // The requester's own webhook (all events), the team organisation's (submissions only).
        let (s, mine) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                json!({"url": format!("{base}/petit")}),
            )
            .await;
        assert_eq!(s, 201, "{mine}");
        let my_secret = mine["secret"].as_str().unwrap().to_string();
        assert!(my_secret.starts_with("whsec_"));
        let (s, orgs) = app
            .post(
                LEFEBVRE,
                &format!("/api/v1/directory/organisations/{org}/webhooks"),
                json!({"url": format!("{base}/chu"), "events": ["case.submitted"]}),
            )
            .await;
        assert_eq!(s, 201, "{orgs}");
        let org_secret = orgs["secret"].as_str().unwrap().to_string();
        // Listed without their secret.
        let (_, list) = app.get(PETIT, "/api/v1/me/webhooks").await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(list[0].get("secret").is_none(), "{list}");
        let (s, _) = app
            .get(
                PETIT,
                &format!("/api/v1/directory/organisations/{org}/webhooks"),
            )
            .await;
        assert_eq!(s, 403);

        // SSRF: private networks refused even with loopback allowed; plain http refused.
        for url in [
            "https://10.0.0.1/x",
            "https://192.168.1.20/x",
            "https://169.254.169.254/latest",
            "http://hooks.example.org/x",
            "https://user:pw@hooks.example.org/x",
        ] {
            let (s, v) = app
                .post(PETIT, "/api/v1/me/webhooks", json!({"url": url}))
                .await;
            assert_eq!(s, 422, "{url}: {v}");
        }
        let (s, _) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                json!({"url": "https://hooks.example.org/x", "events": ["case.nope"]}),
            )
            .await;
        assert_eq!(s, 422);

        // A case with a qualified INS and a name to look for.
        let draft = app
            .draft(
                PETIT,
                json!({
                    "team_id": team,
                    "patient": {
                        "birth_family_name": "Zéphyrin", "given_names": "Anatole",
                        "birth_date": "1985-05-01", "sex": "F",
                        "ins": "285059912300718", "identity_status": "qualified"
                    }
                }),
            )
            .await;
        let id = draft["id"].as_str().unwrap().to_string();
        app.consent(PETIT, &id).await;
        rx.fail("/petit", &[500]);
        let case = app
            .ok(PETIT, &format!("/api/v1/cases/{id}/submit"), json!({}))
            .await;
        let number = case["number"].as_str().unwrap().to_string();
        // Nothing leaves before the queue runs (the job was enqueued with the change).
        assert!(rx.all().is_empty());
        let r = app.run_jobs().await;
        assert_eq!(r.retried, 1, "{r:?}");
        let t0 = app.platform.now().micros().div_euclid(1_000_000);
        let petit = rx.about("/petit", &id);
        assert_eq!(petit.len(), 1);
        assert_eq!(petit[0].answered, 500);
        let chu = rx.about("/chu", &id);
        assert_eq!(chu.len(), 1);
        assert!(signed(&chu[0], &org_secret, t0));
        assert!(
            !signed(&chu[0], &my_secret, t0),
            "each webhook its own secret"
        );

        // The retry, after the queue's backoff (30 s), carries the same event.
        app.advance(29).await;
        assert_eq!(rx.about("/petit", &id).len(), 1, "not before its time");
        let r = app.advance(2).await;
        assert_eq!(r.done, 1, "{r:?}");
        let petit = rx.about("/petit", &id);
        assert_eq!(petit.len(), 2);
        assert_eq!(petit[1].answered, 200);
        let t1 = app.platform.now().micros().div_euclid(1_000_000);
        assert!(signed(&petit[1], &my_secret, t1));
        assert_eq!(
            petit[0].header("consilium-delivery"),
            petit[1].header("consilium-delivery")
        );
        let ev = petit[1].json();
        assert_eq!(ev["type"], "case.submitted");
        assert_eq!(petit[1].header("consilium-event"), "case.submitted");
        assert_eq!(ev["id"], petit[1].header("consilium-delivery"));
        assert_eq!(ev["case"]["id"], id.as_str());
        assert_eq!(ev["case"]["number"], number.as_str());
        assert_eq!(ev["case"]["state"], "submitted");
        assert_eq!(
            ev["case"]["link"],
            format!("https://consilium.example.org/cases/{id}")
        );
        // A body altered in transit no longer verifies.
        let mut forged = petit[1].clone();
        forged.body = forged.body.replace("submitted", "answered");
        assert!(!signed(&forged, &my_secret, t1));
        let (_, list) = app.get(PETIT, "/api/v1/me/webhooks").await;
        assert_eq!(list[0]["last_outcome"], "delivered (HTTP 200)");

        // The assigner assigns, the expert asks for information: the requester's webhook hears
        // both, the organisation's (submissions only) nothing more.
        let roux = app.me(ROUX).await;
        app.ok(
            LEFEBVRE,
            &format!("/api/v1/cases/{id}/assign"),
            json!({"expert_id": roux}),
        )
        .await;
        app.ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
            .await;
        app.ok(
            ROUX,
            &format!("/api/v1/cases/{id}/request-info"),
            json!({"text": "Zéphyrin : depuis quand ?"}),
        )
        .await;
        app.run_jobs().await;
        let types: Vec<String> = rx.about("/petit", &id)[2..]
            .iter()
            .map(|r| r.json()["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            types,
            ["case.assigned", "case.accepted", "case.info_requested"]
        );
        assert_eq!(rx.about("/chu", &id).len(), 1);

        // No patient data in any request: name, birth date, INS, clinical text.
        for r in rx.all() {
            let text = format!("{:?} {}", r.headers, r.body);
            for secret in [
                "Zéphyrin",
                "Zephyrin",
                "Anatole",
                "1985-05-01",
                "285059912300718",
                "Lésion",
                "diagnostic",
                "depuis quand",
            ] {
                assert!(!text.contains(secret), "{secret} sent in {text}");
            }
        }

        // Deleted: nothing more is sent; someone else cannot delete it (404).
        let hook = mine["id"].as_str().unwrap();
        let (s, _) = app
            .call(
                "DELETE",
                Some(ROUX),
                &format!("/api/v1/webhooks/{hook}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, 404);
        let (s, _) = app
            .call(
                "DELETE",
                Some(PETIT),
                &format!("/api/v1/webhooks/{hook}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, 204);
        let before = rx.about("/petit", &id).len();
        app.ok(
            PETIT,
            &format!("/api/v1/cases/{id}/provide-info"),
            json!({"text": "Trois semaines."}),
        )
        .await;
        app.run_jobs().await;
        assert_eq!(rx.about("/petit", &id).len(), before);

        // A receiver that always fails: retried with backoff, then dead (visible to operators).
        let (s, dead) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                json!({"url": format!("{base}/down")}),
            )
            .await;
        assert_eq!(s, 201, "{dead}");
        rx.fail("/down", &[500; 20]);
        app.ok(
            ROUX,
            &format!("/api/v1/cases/{id}/answer"),
            json!({"kind": "advice", "answer": "Émollients"}),
        )
        .await;
        app.run_jobs().await;
        for _ in 0..10 {
            app.advance(6 * 3600).await;
        }
        let attempts = rx.about("/down", &id).len();
        assert_eq!(attempts, 8, "max attempts of the queue");
        let dead_jobs = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver' AND state = 'dead' AND payload LIKE '%{id}%'"
            ))
            .await;
        assert_eq!(dead_jobs, 1);
        task.abort();
    }
);

/// What the database holds for a webhook's secret.
pub(crate) async fn stored_secret(app: &crate::harness::TestApp, id: &str) -> String {
    let sql = sqlx::AssertSqlSafe(format!("SELECT secret FROM webhooks WHERE id = '{id}'"));
    crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(sql)
        .fetch_one(p)
        .await)
    .expect("the webhook's row")
}

/// Petit sends a new request to Roux and the queue runs: Petit's webhooks hear
/// `case.submitted`. Returns the case's id and the instant of delivery (unix seconds).
pub(crate) async fn new_event(app: &crate::harness::TestApp) -> (String, i64) {
    let roux = app.me(ROUX).await;
    let c = app
        .submitted_case(PETIT, serde_json::json!({"expert_id": roux}))
        .await;
    app.run_jobs().await;
    (
        c["id"].as_str().expect("case id").to_string(),
        app.platform.now().micros().div_euclid(1_000_000),
    )
}

both_with!(
    secrets_sealed_at_rest_through_restart_and_key_rotation,
    |c: &mut consilium::config::Config| c.webhook_allow_loopback = true,
    |app| {
        app.seed_demo().await;
        app.run_jobs().await;
        let (rx, base, task) = Receiver::start().await;
        let (s, created) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                json!({"url": format!("{base}/sealed")}),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let secret = created["secret"].as_str().unwrap().to_string();
        let random = secret.trim_start_matches("whsec_").to_string();
        assert_eq!(random.len(), 64);

        // The database holds a sealed value, not the secret, nor its random part; nor does
        // the audit log.
        let stored = stored_secret(app, &id).await;
        assert!(stored.starts_with("kek1:"), "{stored}");
        assert_ne!(stored, secret);
        assert!(!stored.contains(&random));
        assert_eq!(
            app.scalar(&format!(
                "SELECT COUNT(*) FROM webhooks WHERE secret LIKE '%{random}%'"
            ))
            .await,
            0
        );
        assert_eq!(
            app.scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%{random}%'"
            ))
            .await,
            0
        );
        // Deliveries are signed with the secret given at registration.
        let (case, t) = new_event(app).await;
        let got = rx.about("/sealed", &case);
        assert_eq!(got.len(), 1);
        assert!(signed(&got[0], &secret, t));

        // A webhook registered by an earlier version, its secret stored in clear, keeps
        // working; the next start seals it (an upgrade loses no webhook).
        let petit = app.me(PETIT).await;
        let legacy_id = consilium::kernel::new_id();
        let legacy = "whsec_legacy0123456789abcdef0123456789abcdef";
        app.exec(&format!(
            "INSERT INTO webhooks (id, owner_kind, owner_id, url, secret, events, created_by, created_at)
             VALUES ('{legacy_id}', 'professional', '{petit}', '{base}/legacy', '{legacy}', '[]', '{petit}', 1)"
        ))
        .await
        .unwrap();
        let (case, t) = new_event(app).await;
        let got = rx.about("/legacy", &case);
        assert_eq!(got.len(), 1);
        assert!(signed(&got[0], legacy, t));
        let mut config = app.same_database_config();
        config.webhook_allow_loopback = true;
        let restarted =
            consilium::app::App::build_with_clock(config, std::sync::Arc::new(app.clock.clone()))
                .await
                .expect("the server starts again");
        restarted.platform.db.close().await;
        drop(restarted);
        let sealed_legacy = stored_secret(app, &legacy_id).await;
        assert!(sealed_legacy.starts_with("kek1:"), "{sealed_legacy}");
        assert!(!sealed_legacy.contains("legacy0123"));
        assert_eq!(app.audit_count("keys.reseal_webhooks", "success").await, 1);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%legacy0123%'")
                .await,
            0
        );
        let (case, t) = new_event(app).await;
        assert!(signed(&rx.about("/legacy", &case)[0], legacy, t));
        assert!(signed(&rx.about("/sealed", &case)[0], &secret, t));

        // A sealed secret is bound to its webhook: copied onto another, it opens nowhere,
        // and that webhook's delivery waits (retried) rather than sign with another's secret.
        app.exec(&format!(
            "UPDATE webhooks SET secret = '{sealed_legacy}' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
        let (case, _) = new_event(app).await;
        assert!(rx.about("/sealed", &case).is_empty());
        assert_eq!(rx.about("/legacy", &case).len(), 1);
        let (_, list) = app.get(PETIT, "/api/v1/me/webhooks").await;
        let outcome = list
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id.as_str())
            .map(|w| w["last_outcome"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        assert!(
            outcome.starts_with("cannot open the webhook's secret"),
            "{outcome}"
        );
        app.exec(&format!(
            "UPDATE webhooks SET secret = '{stored}' WHERE id = '{id}'"
        ))
        .await
        .unwrap();
        let t = {
            app.advance(31).await;
            app.platform.now().micros().div_euclid(1_000_000)
        };
        let late = rx.about("/sealed", &case);
        assert_eq!(late.len(), 1, "the retry goes once the secret opens");
        assert!(signed(&late[0], &secret, t));

        // Key rotation reseals both under the new key and retires the old one; deliveries
        // still verify with the secrets given at registration.
        let r = app
            .platform
            .rotate_keys(&crate::harness::TestApp::system(), true, true)
            .await
            .unwrap();
        assert_eq!(r.webhooks_resealed, 2, "{r:?}");
        assert!(!r.retired.is_empty(), "{r:?}");
        for h in [&id, &legacy_id] {
            let s = stored_secret(app, h).await;
            assert!(s.starts_with(&format!("kek1:{}:", r.current_key)), "{s}");
        }
        let (case, t) = new_event(app).await;
        assert!(signed(&rx.about("/sealed", &case)[0], &secret, t));
        assert!(signed(&rx.about("/legacy", &case)[0], legacy, t));
        let again = app
            .platform
            .reseal_webhook_secrets(&crate::harness::TestApp::system())
            .await
            .unwrap();
        assert_eq!(again, 0, "nothing left to seal");
        task.abort();
    }
);

both_with!(
    secret_rotated_without_deleting_the_webhook,
    |c: &mut consilium::config::Config| c.webhook_allow_loopback = true,
    |app| {
        app.seed_demo().await;
        app.run_jobs().await;
        let (rx, base, task) = Receiver::start().await;
        let (s, created) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                json!({"url": format!("{base}/rot"), "events": ["case.submitted"]}),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        let old = created["secret"].as_str().unwrap().to_string();
        let path = format!("/api/v1/webhooks/{id}/secret");

        // An event queued before the rotation, its first attempt refused by the receiver.
        rx.fail("/rot", &[500]);
        let (first, _) = new_event(app).await;
        assert_eq!(rx.about("/rot", &first).len(), 1);

        // Someone else: 404 (audited), unknown id 404, a read-only token 403; nothing changes.
        let stored = stored_secret(app, &id).await;
        let (s, _) = app.post(ROUX, &path, json!({})).await;
        assert_eq!(s, 404);
        let (s, _) = app
            .post(PETIT, "/api/v1/webhooks/nope/secret", json!({}))
            .await;
        assert_eq!(s, 404);
        let (s, t) = app
            .post(
                PETIT,
                "/api/v1/me/tokens",
                json!({"label": "lecture", "scope": "read", "days": 1}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        let (s, _) = app
            .post(t["token"].as_str().unwrap(), &path, json!({}))
            .await;
        assert_eq!(s, 403);
        assert_eq!(stored_secret(app, &id).await, stored);
        assert_eq!(app.audit_count("webhook.rotate_secret", "denied").await, 2);
        assert_eq!(app.audit_count("webhook.rotate_secret", "success").await, 0);

        // The owner rotates: a new secret, shown once; the same webhook (id, URL, events,
        // creation date).
        let (s, rotated) = app.post(PETIT, &path, json!({})).await;
        assert_eq!(s, 200, "{rotated}");
        let new = rotated["secret"].as_str().unwrap().to_string();
        assert!(new.starts_with("whsec_") && new != old);
        for f in ["id", "url", "events", "created_at", "owner_id"] {
            assert_eq!(rotated[f], created[f], "{f}");
        }
        let (_, list) = app.get(PETIT, "/api/v1/me/webhooks").await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert!(list[0].get("secret").is_none());
        assert_eq!(app.audit_count("webhook.rotate_secret", "success").await, 1);
        let random = new.trim_start_matches("whsec_");
        for sql in [
            format!("SELECT COUNT(*) FROM webhooks WHERE secret LIKE '%{random}%'"),
            format!("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%{random}%'"),
        ] {
            assert_eq!(app.scalar(&sql).await, 0, "{sql}");
        }
        assert!(stored_secret(app, &id).await.starts_with("kek1:"));

        // The retry of the event queued before is signed with the secret in force when it
        // is sent: the new one.
        app.advance(31).await;
        let t1 = app.platform.now().micros().div_euclid(1_000_000);
        let retried = rx.about("/rot", &first);
        assert_eq!(retried.len(), 2);
        assert_eq!(retried[1].answered, 200);
        assert!(signed(&retried[1], &new, t1));
        assert!(!signed(&retried[1], &old, t1));
        let (next, t2) = new_event(app).await;
        let got = rx.about("/rot", &next);
        assert!(signed(&got[0], &new, t2));
        assert!(!signed(&got[0], &old, t2));

        // An Idempotency-Key does not replay the answer (it would have to store the secret):
        // each call rotates, and the last answer holds the secret in force; no answer with a
        // secret is stored.
        let (s, a) = app
            .call("POST", Some(PETIT), &path, None, Some("rot-1"))
            .await;
        assert_eq!(s, 200, "{a}");
        let (s, b) = app
            .call("POST", Some(PETIT), &path, None, Some("rot-1"))
            .await;
        assert_eq!(s, 200, "{b}");
        let last = b["secret"].as_str().unwrap().to_string();
        assert_ne!(a["secret"], b["secret"]);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM idempotency_keys WHERE body LIKE '%whsec_%'")
                .await,
            0
        );
        let (next, t3) = new_event(app).await;
        assert!(signed(&rx.about("/rot", &next)[0], &last, t3));
        assert_eq!(app.audit_count("webhook.rotate_secret", "success").await, 3);
        task.abort();
    }
);
