//! The job queue over the API for the platform's operators (`operators` in the
//! configuration, by RPPS): list dead jobs, revive one; everyone else 403, audited. On
//! SQLite and PostgreSQL.

use crate::harness::T0;
use consilium::config::Config;
use reqwest::StatusCode;
use serde_json::Value;

const MARTIN: &str = "csl_demo_martin";
const LEFEBVRE: &str = "csl_demo_lefebvre";

fn martin_operates(c: &mut Config) {
    // Dr Martin (demo RPPS 1) is the operator.
    c.operators = vec![consilium::demo::demo_rpps(1)];
}

crate::both_with!(
    operators_list_and_revive_dead_jobs,
    martin_operates,
    |app| {
        app.seed_demo().await;
        let id = consilium::kernel::new_id();
        app.exec(&format!(
        "INSERT INTO jobs (id, kind, payload, state, due_at, attempts, max_attempts, last_error, created_at, updated_at) \
         VALUES ('{id}', 'bench.noop', '{{\"i\": 1}}', 'dead', {T0}, 8, 8, 'gave up', {T0}, {T0})"
    ))
    .await
    .unwrap();

        // Not an operator: 403, audited.
        let (s, _) = app.get(LEFEBVRE, "/api/v1/operations/jobs").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app
            .post(
                LEFEBVRE,
                &format!("/api/v1/operations/jobs/{id}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(app.audit_count("jobs.list", "denied").await, 1);
        assert_eq!(app.audit_count("jobs.retry", "denied").await, 1);

        let (s, v) = app.get(MARTIN, "/api/v1/operations/jobs").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let dead: Vec<&Value> = v.as_array().unwrap().iter().collect();
        assert!(dead.iter().all(|j| j["state"] == "dead"));
        let j = dead
            .iter()
            .find(|j| j["id"] == id.as_str())
            .expect("listed");
        assert_eq!(j["last_error"], "gave up");
        assert_eq!(j["payload"]["i"], 1);
        let (s, v) = app.get(MARTIN, "/api/v1/operations/jobs?state=stuck").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

        let (s, v) = app
            .post(
                MARTIN,
                &format!("/api/v1/operations/jobs/{id}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "pending");
        assert_eq!(v["attempts"], 0);
        // Again: it is not dead any more; an unknown job is 404.
        let (s, v) = app
            .post(
                MARTIN,
                &format!("/api/v1/operations/jobs/{id}/retry"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{v}");
        let (s, _) = app
            .post(MARTIN, "/api/v1/operations/jobs/nothing/retry", json!({}))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, v) = app
            .get(MARTIN, "/api/v1/operations/jobs?state=pending")
            .await;
        assert!(v.as_array().unwrap().iter().any(|j| j["id"] == id.as_str()));
        assert_eq!(app.audit_count("jobs.retry", "success").await, 1);
        assert_eq!(app.audit_count("jobs.list", "success").await, 2);
    }
);
