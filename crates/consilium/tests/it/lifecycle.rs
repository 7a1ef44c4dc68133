//! Whole lifecycles through HTTP, and the API's hygiene rules.

use crate::both;
use reqwest::StatusCode;

const MARTIN: &str = "csl_demo_martin";
const PETIT: &str = "csl_demo_petit";
const BERNARD: &str = "csl_demo_bernard";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";

both!(named_expert_full_lifecycle, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let c = app
        .submitted_case(PETIT, json!({"expert_id": bernard}))
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["state"], "assigned");
    assert_eq!(c["assigned_expert"]["id"], bernard.as_str());
    // R9: deadline = submission + 7 days.
    let sub =
        consilium::kernel::Timestamp::parse_rfc3339(c["submitted_at"].as_str().unwrap()).unwrap();
    let dl =
        consilium::kernel::Timestamp::parse_rfc3339(c["deadline_at"].as_str().unwrap()).unwrap();
    assert_eq!(dl, sub.plus_days(7));

    let v = app
        .ok(BERNARD, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    assert_eq!(v["state"], "in_progress");
    let v = app
        .ok(
            BERNARD,
            &format!("/api/v1/cases/{id}/request-info"),
            json!({"text": "Poids actuel ?"}),
        )
        .await;
    assert_eq!(v["state"], "awaiting_info");
    app.clock.advance_seconds(7200);
    let v = app
        .ok(
            PETIT,
            &format!("/api/v1/cases/{id}/provide-info"),
            json!({"text": "82 kg"}),
        )
        .await;
    assert_eq!(v["state"], "in_progress");
    assert!(v["awaiting_info_seconds"].as_i64().unwrap() >= 7200);
    let (s, _) = app
        .post(
            PETIT,
            &format!("/api/v1/cases/{id}/messages"),
            json!({"text": "Merci"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let v = app
        .ok(
            BERNARD,
            &format!("/api/v1/cases/{id}/answer"),
            json!({
                "kind": "workup_before_visit",
                "context": "IC connue",
                "answer": "Augmenter le furosémide",
                "recommendations": "Ionogramme à J7",
                "visit_urgency": "routine",
                "request_completeness": 4
            }),
        )
        .await;
    assert_eq!(v["state"], "answered");
    assert_eq!(v["opinion"]["visit_needed"], true);
    let v = app
        .ok(
            PETIT,
            &format!("/api/v1/cases/{id}/close"),
            json!({"outcome": "visit_avoided", "usefulness": 5}),
        )
        .await;
    assert_eq!(v["state"], "closed");
    assert_eq!(v["allowed_actions"], json!([]));

    let (_, events) = app.get(PETIT, &format!("/api/v1/cases/{id}/events")).await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "create",
            "consent",
            "submit",
            "accept",
            "request_info",
            "provide_info",
            "answer",
            "close"
        ]
    );
    let (_, msgs) = app
        .get(BERNARD, &format!("/api/v1/cases/{id}/messages"))
        .await;
    let kinds: Vec<&str> = msgs
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["info_request", "info_reply", "message"]);
});

both!(team_pool_lifecycle, |app| {
    app.seed_demo().await;
    let team = app.team_id(MARTIN).await;
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["state"], "submitted");
    assert_eq!(c["specialty"], "SM15");
    // In the pool: every team member sees it in their inbox.
    for t in [ROUX, FONTAINE, LEFEBVRE] {
        let (_, inbox) = app.get(t, "/api/v1/cases?view=inbox").await;
        assert!(
            inbox["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == id.as_str()),
            "{t}"
        );
    }
    // Fontaine claims, then gives it back to the pool; Roux claims it.
    app.ok(FONTAINE, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    let (s, _) = app.get(ROUX, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a team-mate no longer sees a case taken by a colleague"
    );
    let v = app
        .ok(
            FONTAINE,
            &format!("/api/v1/cases/{id}/forward"),
            json!({"team_id": team, "comment": "absent"}),
        )
        .await;
    assert_eq!(v["state"], "submitted");
    let (s, _) = app.get(FONTAINE, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "back in the pool: visible to the team again"
    );
    app.ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    // Roux forwards to the cardiologist, a named colleague outside the team.
    let bernard = app.me(BERNARD).await;
    let v = app
        .ok(
            ROUX,
            &format!("/api/v1/cases/{id}/forward"),
            json!({"expert_id": bernard}),
        )
        .await;
    assert_eq!(v["state"], "assigned");
    let (s, _) = app.get(ROUX, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "forwarding away revokes access at once"
    );
    app.ok(BERNARD, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    let v = app
        .ok(
            BERNARD,
            &format!("/api/v1/cases/{id}/convert-to-consultation"),
            json!({"answer": "À voir", "urgency": "urgent"}),
        )
        .await;
    assert_eq!(v["state"], "answered");
    assert_eq!(v["opinion"]["kind"], "consultation");
    assert_eq!(v["opinion"]["visit_urgency"], "urgent");
    app.ok(
        MARTIN,
        &format!("/api/v1/cases/{id}/close"),
        json!({"outcome": "visit_still_needed"}),
    )
    .await;
});

both!(assigner_assigns_and_declines, |app| {
    app.seed_demo().await;
    let team = app.team_id(MARTIN).await;
    let roux = app.me(ROUX).await;
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let id = c["id"].as_str().unwrap();
    // Only the assigner may assign.
    let (s, _) = app
        .post(
            FONTAINE,
            &format!("/api/v1/cases/{id}/assign"),
            json!({"expert_id": roux}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let bernard = app.me(BERNARD).await;
    let (s, v) = app
        .post(
            LEFEBVRE,
            &format!("/api/v1/cases/{id}/assign"),
            json!({"expert_id": bernard}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "expert_id");
    let v = app
        .ok(
            LEFEBVRE,
            &format!("/api/v1/cases/{id}/assign"),
            json!({"expert_id": roux}),
        )
        .await;
    assert_eq!(v["state"], "assigned");
    // Decline needs a coded reason (R8); "other" needs a comment.
    let (s, v) = app
        .post(
            ROUX,
            &format!("/api/v1/cases/{id}/decline"),
            json!({"reason": "because"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "reason");
    let (s, _) = app
        .post(
            ROUX,
            &format!("/api/v1/cases/{id}/decline"),
            json!({"reason": "other"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let v = app
        .ok(
            ROUX,
            &format!("/api/v1/cases/{id}/decline"),
            json!({"reason": "image_quality"}),
        )
        .await;
    assert_eq!(v["state"], "declined");
    assert_eq!(v["decline"]["reason"], "image_quality");
    // Terminal: nothing more.
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/cases/{id}/cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["current_state"], "declined");
});

both!(consent_refusal_blocks_submission, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let c = app.draft(MARTIN, json!({"expert_id": bernard})).await;
    let id = c["id"].as_str().unwrap();
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["errors"][0]["field"], "consent");
    // Consent without information is refused (R6).
    let (s, _) = app
        .put(
            MARTIN,
            &format!("/api/v1/cases/{id}/consent"),
            json!({"decision": "given", "method": "oral", "patient_informed": false}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .put(
            MARTIN,
            &format!("/api/v1/cases/{id}/consent"),
            json!({"decision": "refused", "method": "written", "patient_informed": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{v}"
    );
    let (_, v) = app.get(MARTIN, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(v["state"], "draft", "a refused request stays a draft");
    // The requester can still cancel it.
    app.ok(MARTIN, &format!("/api/v1/cases/{id}/cancel"), json!({}))
        .await;
});

both!(draft_edit_and_validation, |app| {
    app.seed_demo().await;
    // R4: a nurse cannot be the expert.
    let petit = app.me(PETIT).await;
    let (s, v) = app
        .post(MARTIN, "/api/v1/cases", json!({"patient": {"birth_family_name": "A", "given_names": "B", "birth_date": "1990-01-01", "sex": "F", "ins": "285059912300719", "identity_status": "qualified"}, "expert_id": petit}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"patient.ins"), "{v}");
    assert!(fields.contains(&"expert_id"), "{v}");
    let (_, list) = app.get(MARTIN, "/api/v1/patients?limit=100").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["birth_family_name"] != "A"),
        "nothing half-created"
    );

    let c = app.draft(MARTIN, json!({})).await;
    let id = c["id"].as_str().unwrap();
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "expert_id"),
        "{v}"
    );
    let team = app.team_id(MARTIN).await;
    let v = app
        .patch(
            MARTIN,
            &format!("/api/v1/cases/{id}"),
            json!({"team_id": team, "question": "Nouvelle question ?"}),
        )
        .await
        .1;
    assert_eq!(v["question"], "Nouvelle question ?");
    assert_eq!(v["target_team"]["id"], team.as_str());
    app.consent(MARTIN, id).await;
    app.ok(MARTIN, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await;
    let (s, v) = app
        .patch(
            MARTIN,
            &format!("/api/v1/cases/{id}"),
            json!({"question": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["current_state"], "submitted");
    // Bad JSON and unknown enum values name the field.
    let (s, v) = app
        .post(
            ROUX,
            &format!("/api/v1/cases/{id}/decline"),
            json!({"reason": 3}),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::FORBIDDEN,
        "{s} {v}"
    );
});

both!(illegal_transition_is_409_with_state, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let c = app
        .submitted_case(MARTIN, json!({"expert_id": bernard}))
        .await;
    let id = c["id"].as_str().unwrap();
    let (s, v) = app
        .post(
            BERNARD,
            &format!("/api/v1/cases/{id}/answer"),
            json!({"kind": "advice", "answer": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["current_state"], "assigned");
    assert_eq!(v["status"], 409);
    let (s, _) = app
        .post(
            MARTIN,
            &format!("/api/v1/cases/{id}/close"),
            json!({"outcome": "visit_avoided"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Role before state: the requester may not accept (403).
    let (s, _) = app
        .post(MARTIN, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
});

both!(concurrent_pool_accept_has_one_winner, |app| {
    app.seed_demo().await;
    let team = app.team_id(MARTIN).await;
    for _ in 0..3 {
        let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
        let id = c["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/cases/{id}/accept");
        let (a, b, c3) = tokio::join!(
            app.post(ROUX, &path, json!({})),
            app.post(FONTAINE, &path, json!({})),
            app.post(LEFEBVRE, &path, json!({}))
        );
        let statuses = [a.0, b.0, c3.0];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
            "{statuses:?}"
        );
        let (_, v) = app.get(MARTIN, &format!("/api/v1/cases/{id}")).await;
        assert_eq!(v["state"], "in_progress");
        assert_eq!(v["version"], 3, "exactly one accept applied");
    }
});

both!(idempotency_key_never_duplicates, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let body = json!({"patient": {"birth_family_name": "Idem", "given_names": "Potent", "birth_date": "1980-02-02", "sex": "F"}, "expert_id": bernard, "reason": "r", "question": "q"});
    let (s1, v1) = app
        .call(
            "POST",
            Some(MARTIN),
            "/api/v1/cases",
            Some(body.clone()),
            Some("k-1"),
        )
        .await;
    let (s2, v2) = app
        .call(
            "POST",
            Some(MARTIN),
            "/api/v1/cases",
            Some(body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(v1["id"], v2["id"]);
    let (_, list) = app.get(MARTIN, "/api/v1/patients?limit=100").await;
    assert_eq!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["birth_family_name"] == "IDEM")
            .count(),
        1
    );
    // Same key, different body: refused.
    let mut other = body.clone();
    other["reason"] = json!("autre");
    let (s, v) = app
        .call(
            "POST",
            Some(MARTIN),
            "/api/v1/cases",
            Some(other),
            Some("k-1"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Concurrent retries of one transition: one effect.
    let id = v1["id"].as_str().unwrap();
    app.consent(MARTIN, id).await;
    let path = format!("/api/v1/cases/{id}/submit");
    let (a, b) = tokio::join!(
        app.call(
            "POST",
            Some(MARTIN),
            &path,
            Some(json!({})),
            Some("submit-1")
        ),
        app.call(
            "POST",
            Some(MARTIN),
            &path,
            Some(json!({})),
            Some("submit-1")
        )
    );
    assert!(a.0.is_success() || b.0.is_success());
    let (s, v) = app
        .call(
            "POST",
            Some(MARTIN),
            &path,
            Some(json!({})),
            Some("submit-1"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "a later retry replays the answer: {v}");
    assert_eq!(v["state"], "assigned");
    let (_, ev) = app.get(MARTIN, &format!("/api/v1/cases/{id}/events")).await;
    assert_eq!(
        ev.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "submit")
            .count(),
        1
    );
});

both!(overdue_cases_are_listed, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let c = app
        .submitted_case(PETIT, json!({"expert_id": bernard}))
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let overdue = |v: &serde_json::Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str())
    };
    let (_, v) = app
        .get(BERNARD, "/api/v1/cases?view=inbox&overdue=true")
        .await;
    assert!(!overdue(&v));
    app.clock.advance_days(7);
    app.clock.advance_seconds(60);
    let (_, v) = app
        .get(BERNARD, "/api/v1/cases?view=inbox&overdue=true")
        .await;
    assert!(overdue(&v), "{v}");
    let (_, v) = app.get(PETIT, "/api/v1/cases?overdue=true").await;
    assert!(overdue(&v));
    let (_, v) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(v["overdue"], true);
});

both!(pagination_walks_every_case_once, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    for _ in 0..7 {
        app.submitted_case(PETIT, json!({"expert_id": bernard}))
            .await;
    }
    for (token, view) in [(PETIT, "requested"), (BERNARD, "inbox")] {
        let (_, all) = app
            .get(token, &format!("/api/v1/cases?view={view}&limit=100"))
            .await;
        let total = all["items"].as_array().unwrap().len();
        assert!(total >= 7);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/cases?view={view}&limit=3&cursor={c}"),
                None => format!("/api/v1/cases?view={view}&limit=3"),
            };
            let (s, page) = app.get(token, &path).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            for it in page["items"].as_array().unwrap() {
                seen.push(it["id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), seen.len(), "no case twice");
        assert_eq!(seen.len(), total, "every case once ({view})");
    }
    let (s, v) = app.get(PETIT, "/api/v1/cases?cursor=garbage").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = app.get(PETIT, "/api/v1/cases?limit=1000").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app.get(PETIT, "/api/v1/cases?state=bogus").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(hygiene_limits_health_metrics_openapi, |app| {
    app.seed_demo().await;
    // An announced body over the limit is refused before it is read.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = app.base.trim_start_matches("http://").to_string();
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/cases HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {MARTIN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            2 * 1024 * 1024
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    }
    // Just under the limit is read (and judged on its content).
    let (s, _) = app
        .post(
            MARTIN,
            "/api/v1/cases",
            json!({"reason": "x".repeat(1000 * 1000)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = app
        .call("GET", Some("csl_nope"), "/api/v1/cases", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(app.audit_count("auth.token", "denied").await >= 1);
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let m = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(
            "consilium_http_requests_total{method=\"POST\",route=\"/api/v1/cases\",status=\"413\"}"
        ),
        "{m}"
    );
    let doc: serde_json::Value = app
        .client
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/cases/{id}/convert-to-consultation"]["post"].is_object());
    // Problem documents for unknown routes too.
    let (s, v) = app.get(MARTIN, "/api/v1/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["status"], 404);
});

both!(disabled_user_loses_access_at_once, |app| {
    app.seed_demo().await;
    let roux = app.me(ROUX).await;
    app.platform
        .set_professional_active(&crate::harness::TestApp::system(), &roux, false)
        .await
        .unwrap();
    let (s, _) = app.get(ROUX, "/api/v1/cases?view=inbox").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

both!(demo_seed_is_idempotent_and_covers_every_state, |app| {
    app.seed_demo().await;
    app.seed_demo().await;
    let (_, v) = app
        .get(MARTIN, "/api/v1/directory/professionals?limit=100")
        .await;
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        8,
        "no duplicate professionals"
    );
    let sql = "SELECT DISTINCT state FROM cases ORDER BY state";
    let states: Vec<String> = match app.db() {
        consilium::db::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        consilium::db::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
    };
    let mut all: Vec<String> = consilium::cases::CaseState::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    all.sort();
    assert_eq!(states, all);
});

both!(replay_after_access_revoked_is_refused, |app| {
    app.seed_demo().await;
    let team = app.team_id(MARTIN).await;
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let id = c["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{id}/accept");
    let (s, _) = app
        .call("POST", Some(ROUX), &path, Some(json!({})), Some("acc-1"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app
        .call("POST", Some(ROUX), &path, Some(json!({})), Some("acc-1"))
        .await;
    assert_eq!(s, StatusCode::OK, "a retry while allowed replays: {v}");
    assert_eq!(
        app.audit_count("case.accept.replay", "success").await,
        1,
        "the replay is audited"
    );
    let bernard = app.me(BERNARD).await;
    app.ok(
        ROUX,
        &format!("/api/v1/cases/{id}/forward"),
        json!({"expert_id": bernard}),
    )
    .await;
    let (s, _) = app
        .call("POST", Some(ROUX), &path, Some(json!({})), Some("acc-1"))
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "access revoked: the stored answer is not shown again"
    );
});
