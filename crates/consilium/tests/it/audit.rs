//! The audit trail. Q1: tampering with `audit_log` behind the application's back is caught
//! by `audit::verify`, with the right `Break`. N3: every acknowledged request leaves exactly
//! one audit entry, every refused change none, every denial its "denied" entry.
//!
//! Tampering tests drop the append-only triggers first (that they refuse changes otherwise
//! is tested too), and end without `finish()`, whose chain check would fail on purpose.

use crate::both;
use crate::harness::TestApp;
use consilium::audit::model::entry_hash;
use consilium::audit::{Break, StoredEntry, VerifyReport};
use consilium::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

const MARTIN: &str = "csl_demo_martin";
const PETIT: &str = "csl_demo_petit";
const MOREAU: &str = "csl_demo_moreau";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const BERNARD: &str = "csl_demo_bernard";

/// A tampering test on both backends. Ends without verifying the (broken) chain.
macro_rules! tampered {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: &TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::start(Backend::Sqlite).await;
                body(&app).await;
                app.close_unverified().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = TestApp::start(Backend::Postgres).await;
                body(&app).await;
                app.close_unverified().await;
            }
        }
    };
}

/// A short real lifecycle through HTTP (a named expert's case, from draft to closed, with
/// reads), on top of the demo data. Returns the audit head's sequence number.
async fn lifecycle(app: &TestApp) -> i64 {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let c = app
        .submitted_case(PETIT, json!({"expert_id": bernard}))
        .await;
    let id = c["id"].as_str().unwrap();
    app.ok(BERNARD, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    app.get(BERNARD, &format!("/api/v1/cases/{id}")).await;
    app.ok(
        BERNARD,
        &format!("/api/v1/cases/{id}/answer"),
        json!({"kind": "advice", "answer": "Rien d'inquiétant"}),
    )
    .await;
    app.ok(
        PETIT,
        &format!("/api/v1/cases/{id}/close"),
        json!({"outcome": "visit_avoided"}),
    )
    .await;
    let (s, _) = app.get(MOREAU, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a denied entry in the chain too");
    app.get(PETIT, &format!("/api/v1/cases/{id}/events")).await;
    let report = verify(app).await.expect("intact before tampering");
    let (head, _) = app.audit_head().await;
    assert_eq!(report.last_seq, head);
    assert!(head > 20, "a chain worth tampering with: {head}");
    head
}

async fn verify(app: &TestApp) -> Result<VerifyReport, Break> {
    consilium::audit::verify(app.db())
        .await
        .expect("the verifier runs")
}

async fn drop_triggers(app: &TestApp) {
    let stmts: &[&str] = match app.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER audit_log_no_change ON audit_log",
            "DROP TRIGGER audit_log_no_truncate ON audit_log",
        ],
    };
    for s in stmts {
        app.exec(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

async fn row(app: &TestApp, seq: i64) -> StoredEntry {
    app.audit_since(seq - 1)
        .await
        .into_iter()
        .next()
        .filter(|r| r.seq == seq)
        .unwrap_or_else(|| panic!("no audit entry {seq}"))
}

/// Overwrites every column of the row whose sequence number is `e.seq`.
async fn put_row(app: &TestApp, e: &StoredEntry) {
    let sql = "UPDATE audit_log SET at = $2, actor_id = $3, actor_label = $4, action = $5,
               object_type = $6, object_id = $7, outcome = $8, details = $9, prev_hash = $10,
               hash = $11 WHERE seq = $1";
    let n = crate::with_pool!(app.db(), |p| sqlx::query(sql)
        .bind(e.seq)
        .bind(e.at)
        .bind(&e.actor_id)
        .bind(&e.actor_label)
        .bind(&e.action)
        .bind(&e.object_type)
        .bind(&e.object_id)
        .bind(&e.outcome)
        .bind(&e.details)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    assert_eq!(n, 1);
}

async fn insert_row(app: &TestApp, e: &StoredEntry) {
    let sql = "INSERT INTO audit_log (seq, at, actor_id, actor_label, action, object_type,
               object_id, outcome, details, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    crate::with_pool!(app.db(), |p| sqlx::query(sql)
        .bind(e.seq)
        .bind(e.at)
        .bind(&e.actor_id)
        .bind(&e.actor_label)
        .bind(&e.action)
        .bind(&e.object_type)
        .bind(&e.object_id)
        .bind(&e.outcome)
        .bind(&e.details)
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
}

async fn set_head(app: &TestApp, seq: i64, hash: &str) {
    let sql = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
    crate::with_pool!(app.db(), |p| sqlx::query(sql)
        .bind(seq)
        .bind(hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
}

fn rehash(e: &mut StoredEntry) {
    e.hash = entry_hash(
        e.seq,
        e.at,
        e.actor_id.as_deref(),
        &e.actor_label,
        &e.action,
        &e.object_type,
        &e.object_id,
        &e.outcome,
        &e.details,
        &e.prev_hash,
    );
}

/// Rewrites the chain from `from` to the end: `edit` changes entry `from`, then every
/// entry is re-hashed and re-linked, as a forger with the algorithm would. Returns the new
/// last hash. The head is left alone.
async fn rewrite_from(app: &TestApp, from: i64, edit: impl FnOnce(&mut StoredEntry)) -> String {
    let mut prev = row(app, from - 1).await.hash;
    let mut rows = app.audit_since(from - 1).await;
    if let Some(first) = rows.first_mut() {
        edit(first);
    }
    for e in &mut rows {
        e.prev_hash.clone_from(&prev);
        rehash(e);
        prev.clone_from(&e.hash);
        put_row(app, e).await;
    }
    prev
}

// ---------- the triggers ----------

both!(the_log_is_append_only_without_dropping_triggers, |app| {
    let head = lifecycle(app).await;
    let k = head - 3;
    for sql in [
        format!("UPDATE audit_log SET details = '{{}}' WHERE seq = {k}"),
        format!("UPDATE audit_log SET seq = seq + 1000 WHERE seq = {head}"),
        format!("DELETE FROM audit_log WHERE seq = {k}"),
        format!("DELETE FROM audit_log WHERE seq > {k}"),
        "DELETE FROM audit_log".to_string(),
    ] {
        let r = app.exec(&sql).await;
        let err = r.expect_err(&sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if app.backend == Backend::Postgres {
        let err = app.exec("TRUNCATE audit_log").await.expect_err("TRUNCATE");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log").await,
        head,
        "nothing removed"
    );
    assert!(verify(app).await.is_ok());
    // `finish()` checks the chain once more.
});

// ---------- tampering ----------

/// A change to one entry.
type Edit = fn(&mut StoredEntry);

tampered!(an_edited_field_breaks_its_own_hash, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let k = head - 4;
    let original = row(app, k).await;
    let edits: [(&str, Edit); 9] = [
        ("at", |e| e.at += 1),
        ("actor_id", |e| e.actor_id = None),
        ("actor_label", |e| e.actor_label.push('x')),
        ("action", |e| e.action.push_str(".forged")),
        ("object_type", |e| e.object_type.push('s')),
        ("object_id", |e| e.object_id = "another".into()),
        ("outcome", |e| {
            e.outcome = if e.outcome == "success" {
                "denied"
            } else {
                "success"
            }
            .into()
        }),
        ("details", |e| e.details = r#"{"tampered":true}"#.into()),
        ("hash", |e| e.hash = "0".repeat(64)),
    ];
    for (field, edit) in edits {
        let mut e = original.clone();
        edit(&mut e);
        assert_ne!(e, original, "{field}");
        put_row(app, &e).await;
        assert_eq!(
            verify(app).await,
            Err(Break::HashMismatch { seq: k }),
            "edited {field}"
        );
        put_row(app, &original).await;
        assert!(verify(app).await.is_ok(), "restored {field}");
    }
    // Pointing an entry elsewhere breaks the link, whatever its own hash says.
    let mut e = original.clone();
    e.prev_hash = "f".repeat(64);
    put_row(app, &e).await;
    assert_eq!(verify(app).await, Err(Break::PrevHashMismatch { seq: k }));
    rehash(&mut e);
    put_row(app, &e).await;
    assert_eq!(verify(app).await, Err(Break::PrevHashMismatch { seq: k }));
    // The same kind of edit through plain SQL, as an intruder would do it: the denied read
    // (second to last entry) turned into a success.
    put_row(app, &original).await;
    assert!(verify(app).await.is_ok());
    assert_eq!(row(app, head - 1).await.outcome, "denied");
    app.exec(&format!(
        "UPDATE audit_log SET outcome = 'success' WHERE seq = {}",
        head - 1
    ))
    .await
    .unwrap();
    assert_eq!(
        verify(app).await,
        Err(Break::HashMismatch { seq: head - 1 })
    );
});

tampered!(a_deleted_middle_row_is_a_sequence_gap, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let k = head / 2;
    assert_eq!(
        app.exec(&format!("DELETE FROM audit_log WHERE seq = {k}"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        verify(app).await,
        Err(Break::SequenceGap {
            expected: k,
            found: k + 1
        })
    );
});

tampered!(a_deleted_first_row_is_a_sequence_gap, |app| {
    lifecycle(app).await;
    drop_triggers(app).await;
    app.exec("DELETE FROM audit_log WHERE seq = 1")
        .await
        .unwrap();
    assert_eq!(
        verify(app).await,
        Err(Break::SequenceGap {
            expected: 1,
            found: 2
        })
    );
});

tampered!(a_truncated_tail_disagrees_with_the_head, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let k = head - 5;
    assert_eq!(
        app.exec(&format!("DELETE FROM audit_log WHERE seq > {k}"))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch { last: k, head })
    );
    // Emptied altogether.
    match app.backend {
        Backend::Postgres => app.exec("TRUNCATE audit_log").await.unwrap(),
        Backend::Sqlite => app.exec("DELETE FROM audit_log").await.unwrap(),
    };
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch { last: 0, head })
    );
});

tampered!(swapped_rows_break_at_the_first, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let a = head - 6;
    let (ra, rb) = (row(app, a).await, row(app, a + 1).await);
    // Swap the contents, keeping the sequence numbers where they were.
    put_row(
        app,
        &StoredEntry {
            seq: a,
            ..rb.clone()
        },
    )
    .await;
    put_row(
        app,
        &StoredEntry {
            seq: a + 1,
            ..ra.clone()
        },
    )
    .await;
    let r = verify(app).await;
    assert!(
        matches!(
            r,
            Err(Break::PrevHashMismatch { seq } | Break::HashMismatch { seq }) if seq == a
        ),
        "{r:?}"
    );
    // Swapped with their sequence numbers too (the rows really reordered).
    put_row(app, &ra).await;
    put_row(app, &rb).await;
    assert!(verify(app).await.is_ok(), "restored");
    let tmp = 1_000_000 + head;
    for sql in [
        format!("UPDATE audit_log SET seq = {tmp} WHERE seq = {a}"),
        format!("UPDATE audit_log SET seq = {a} WHERE seq = {}", a + 1),
        format!("UPDATE audit_log SET seq = {} WHERE seq = {tmp}", a + 1),
    ] {
        app.exec(&sql).await.unwrap();
    }
    let r = verify(app).await;
    assert!(
        matches!(
            r,
            Err(Break::PrevHashMismatch { seq } | Break::HashMismatch { seq }) if seq == a
        ),
        "{r:?}"
    );
});

tampered!(a_rehashed_entry_breaks_the_next_link, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let k = head - 3;
    let mut e = row(app, k).await;
    e.details = r#"{"note":"nothing to see"}"#.into();
    rehash(&mut e);
    put_row(app, &e).await;
    assert_eq!(
        verify(app).await,
        Err(Break::PrevHashMismatch { seq: k + 1 })
    );
});

tampered!(a_rewritten_chain_disagrees_with_the_head, |app| {
    let head = lifecycle(app).await;
    drop_triggers(app).await;
    let k = head - 8;
    let (_, head_hash) = app.audit_head().await;
    let forged = rewrite_from(app, k, |e| e.details = r#"{"forged":true}"#.into()).await;
    assert_ne!(forged, head_hash);
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch { last: head, head })
    );
    // The last entry alone, rewritten.
    let forged = rewrite_from(app, head, |e| e.details = r#"{"forged":true}"#.into()).await;
    assert_ne!(forged, head_hash);
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch { last: head, head })
    );
});

tampered!(a_forged_entry_appended_disagrees_with_the_head, |app| {
    // INSERT is allowed (it is how the log grows): no trigger to drop.
    let head = lifecycle(app).await;
    let last = row(app, head).await;
    let mut e = StoredEntry {
        seq: head + 1,
        action: "case.read".into(),
        prev_hash: last.hash.clone(),
        ..last
    };
    rehash(&mut e);
    insert_row(app, &e).await;
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch {
            last: head + 1,
            head
        })
    );
});

tampered!(an_altered_head_is_caught, |app| {
    let head = lifecycle(app).await;
    let (_, hash) = app.audit_head().await;
    // audit_head is not protected by a trigger (every append updates it).
    set_head(app, head - 1, &hash).await;
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch {
            last: head,
            head: head - 1
        })
    );
    set_head(app, head, &"a".repeat(64)).await;
    assert_eq!(
        verify(app).await,
        Err(Break::HeadMismatch { last: head, head })
    );
    set_head(app, head, &hash).await;
    assert!(verify(app).await.is_ok());
});

// The two cases below are NOT caught by `audit::verify` alone: a forger who rewrites the
// chain AND the head, or a restored old backup, leaves a consistent chain. A checkpoint
// exported outside the database (`consilium audit checkpoint`, N4) catches both.

tampered!(
    a_rewritten_chain_and_head_is_caught_by_a_checkpoint,
    |app| {
        let head = lifecycle(app).await;
        let checkpoint = verify(app).await.unwrap();
        drop_triggers(app).await;
        let forged = rewrite_from(app, head - 8, |e| e.details = r#"{"forged":true}"#.into()).await;
        set_head(app, head, &forged).await;
        let report = verify(app).await.expect("a consistent forgery");
        assert_eq!(report.last_seq, checkpoint.last_seq);
        assert_ne!(
            report.last_hash, checkpoint.last_hash,
            "the checkpoint comparison is what catches it"
        );
        let cp = consilium::audit::Checkpoint {
            seq: checkpoint.last_seq,
            hash: checkpoint.last_hash.clone(),
            at: None,
        };
        let caught = consilium::audit::verify_against(app.db(), &[cp])
            .await
            .unwrap();
        assert_eq!(
            caught,
            Err(Break::CheckpointMismatch {
                seq: checkpoint.last_seq
            })
        );
    }
);

tampered!(a_restored_old_backup_is_caught_by_a_checkpoint, |app| {
    let head = lifecycle(app).await;
    let backup = verify(app).await.unwrap();
    // Life goes on after the backup…
    app.get(PETIT, "/api/v1/cases").await;
    app.get(PETIT, "/api/v1/patients").await;
    let checkpoint = verify(app).await.unwrap();
    assert_eq!(checkpoint.last_seq, head + 2);
    // …then the old backup is restored (as far as the audit trail goes).
    drop_triggers(app).await;
    app.exec(&format!("DELETE FROM audit_log WHERE seq > {head}"))
        .await
        .unwrap();
    set_head(app, backup.last_seq, &backup.last_hash).await;
    let report = verify(app)
        .await
        .expect("an old chain is a consistent chain");
    assert!(
        report.last_seq < checkpoint.last_seq,
        "the checkpoint comparison is what catches it"
    );
    let cp = consilium::audit::Checkpoint {
        seq: checkpoint.last_seq,
        hash: checkpoint.last_hash.clone(),
        at: None,
    };
    let caught = consilium::audit::verify_against(app.db(), &[cp])
        .await
        .unwrap();
    assert_eq!(
        caught,
        Err(Break::BehindCheckpoint {
            checkpoint: checkpoint.last_seq,
            last: backup.last_seq
        })
    );
});

// ---------- N3: one entry per acknowledged request ----------

/// What a request must leave in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audited {
    /// Exactly one success entry (an acknowledged request).
    Success,
    /// Exactly one denied entry (a denial).
    Denied,
    /// Nothing (a refused change: 409, 422).
    Nothing,
}

/// One request; checks its status and the audit entries it left.
#[allow(clippy::too_many_arguments)]
async fn step(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
    action: &str,
    audited: Audited,
) -> Value {
    let (head, _) = app.audit_head().await;
    let (s, v) = app.call(method, Some(token), path, body, None).await;
    assert_eq!(s.as_u16(), status, "{method} {path}: {v}");
    let entries = app.audit_since(head).await;
    let me = app.me(token).await;
    let summary: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {} {}", e.action, e.outcome, e.object_id))
        .collect();
    match audited {
        Audited::Success => {
            assert_eq!(entries.len(), 1, "{method} {path}: {summary:?}");
            let e = &entries[0];
            assert_eq!((e.action.as_str(), e.outcome.as_str()), (action, "success"));
            assert_eq!(e.actor_id.as_deref(), Some(me.as_str()));
            // A transition records where the case went.
            if let (Some(to), Some(state)) = (
                serde_json::from_str::<Value>(&e.details).unwrap()["to"].as_str(),
                v["state"].as_str(),
            ) {
                assert_eq!(to, state, "{method} {path}");
            }
        }
        Audited::Denied => {
            assert_eq!(entries.len(), 1, "{method} {path}: {summary:?}");
            let e = &entries[0];
            assert_eq!((e.action.as_str(), e.outcome.as_str()), (action, "denied"));
            assert_eq!(e.actor_id.as_deref(), Some(me.as_str()));
        }
        Audited::Nothing => assert!(entries.is_empty(), "{method} {path}: {summary:?}"),
    }
    v
}

both!(one_audit_entry_per_acknowledged_request, |app| {
    app.seed_demo().await;
    let bernard = app.me(BERNARD).await;
    let roux = app.me(ROUX).await;
    let team = app.team_id(MARTIN).await;

    // A named expert's case, from the patient to the close-out.
    let p = step(app, PETIT, "POST", "/api/v1/patients", Some(json!({"birth_family_name": "Audit", "given_names": "Anne", "birth_date": "1975-05-05", "sex": "F"})), 201, "patient.create", Audited::Success).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let c = step(
        app,
        PETIT,
        "POST",
        "/api/v1/cases",
        Some(json!({"patient_id": pid, "expert_id": bernard, "reason": "r", "question": "q"})),
        201,
        "case.create",
        Audited::Success,
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let case = |op: &str| format!("/api/v1/cases/{id}{op}");
    step(
        app,
        PETIT,
        "PATCH",
        &case(""),
        Some(json!({"clinical_context": "Depuis hier"})),
        200,
        "case.update",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/submit"),
        Some(json!({})),
        422,
        "case.submit",
        Audited::Nothing,
    )
    .await;
    step(
        app,
        PETIT,
        "PUT",
        &case("/consent"),
        Some(json!({"decision": "given", "method": "oral", "patient_informed": true})),
        200,
        "case.consent",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/submit"),
        Some(json!({})),
        200,
        "case.submit",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "GET",
        &case(""),
        None,
        200,
        "case.read",
        Audited::Success,
    )
    .await;
    step(
        app,
        MOREAU,
        "GET",
        &case(""),
        None,
        404,
        "case.read",
        Audited::Denied,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/accept"),
        Some(json!({})),
        403,
        "case.accept",
        Audited::Denied,
    )
    .await;
    step(
        app,
        BERNARD,
        "POST",
        &case("/answer"),
        Some(json!({"kind": "advice", "answer": "x"})),
        409,
        "case.answer",
        Audited::Nothing,
    )
    .await;
    step(
        app,
        BERNARD,
        "POST",
        &case("/accept"),
        Some(json!({})),
        200,
        "case.accept",
        Audited::Success,
    )
    .await;
    step(
        app,
        BERNARD,
        "POST",
        &case("/request-info"),
        Some(json!({"text": "Poids ?"})),
        200,
        "case.request_info",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/provide-info"),
        Some(json!({"text": "70 kg"})),
        200,
        "case.provide_info",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/messages"),
        Some(json!({"text": "Merci"})),
        201,
        "case.message",
        Audited::Success,
    )
    .await;
    step(
        app,
        BERNARD,
        "GET",
        &case("/messages"),
        None,
        200,
        "case.messages",
        Audited::Success,
    )
    .await;
    step(
        app,
        BERNARD,
        "GET",
        &case("/events"),
        None,
        200,
        "case.events",
        Audited::Success,
    )
    .await;
    step(
        app,
        BERNARD,
        "POST",
        &case("/answer"),
        Some(json!({"kind": "advice", "answer": "Rien"})),
        200,
        "case.answer",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/close"),
        Some(json!({"outcome": "visit_avoided", "usefulness": 6})),
        422,
        "case.close",
        Audited::Nothing,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/close"),
        Some(json!({"outcome": "visit_avoided", "usefulness": 5})),
        200,
        "case.close",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "POST",
        &case("/cancel"),
        Some(json!({})),
        409,
        "case.cancel",
        Audited::Nothing,
    )
    .await;
    step(
        app,
        PETIT,
        "GET",
        "/api/v1/cases",
        None,
        200,
        "case.list",
        Audited::Success,
    )
    .await;
    step(
        app,
        PETIT,
        "GET",
        "/api/v1/patients",
        None,
        200,
        "patient.list",
        Audited::Success,
    )
    .await;
    step(
        app,
        BERNARD,
        "GET",
        &format!("/api/v1/patients/{pid}"),
        None,
        200,
        "patient.read",
        Audited::Success,
    )
    .await;
    step(app, PETIT, "PUT", &format!("/api/v1/patients/{pid}"), Some(json!({"birth_family_name": "Audit", "given_names": "Anne Marie", "birth_date": "1975-05-05", "sex": "F"})), 200, "patient.update", Audited::Success).await;
    step(
        app,
        MOREAU,
        "GET",
        &format!("/api/v1/patients/{pid}"),
        None,
        404,
        "patient.read",
        Audited::Denied,
    )
    .await;

    // A team case: assigned, handed back to the pool, claimed, converted.
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let case = |op: &str| format!("/api/v1/cases/{id}{op}");
    step(
        app,
        LEFEBVRE,
        "POST",
        &case("/assign"),
        Some(json!({"expert_id": roux})),
        200,
        "case.assign",
        Audited::Success,
    )
    .await;
    step(
        app,
        FONTAINE,
        "POST",
        &case("/accept"),
        Some(json!({})),
        409,
        "case.accept",
        Audited::Denied,
    )
    .await;
    step(
        app,
        ROUX,
        "POST",
        &case("/forward"),
        Some(json!({"team_id": team})),
        200,
        "case.forward",
        Audited::Success,
    )
    .await;
    step(
        app,
        FONTAINE,
        "POST",
        &case("/accept"),
        Some(json!({})),
        200,
        "case.accept",
        Audited::Success,
    )
    .await;
    step(
        app,
        FONTAINE,
        "POST",
        &case("/convert-to-consultation"),
        Some(json!({"answer": "À voir", "urgency": "urgent"})),
        200,
        "case.convert_to_consultation",
        Audited::Success,
    )
    .await;
    // Declined by the assigner; cancelled by the requester.
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let path = format!("/api/v1/cases/{}/decline", c["id"].as_str().unwrap());
    step(
        app,
        LEFEBVRE,
        "POST",
        &path,
        Some(json!({"reason": "out_of_scope"})),
        200,
        "case.decline",
        Audited::Success,
    )
    .await;
    let c = app.submitted_case(MARTIN, json!({"team_id": team})).await;
    let path = format!("/api/v1/cases/{}/cancel", c["id"].as_str().unwrap());
    step(
        app,
        MARTIN,
        "POST",
        &path,
        Some(json!({"reason": "réglé"})),
        200,
        "case.cancel",
        Audited::Success,
    )
    .await;

    // A case with a new patient records both creations (two objects, one request).
    let (head, _) = app.audit_head().await;
    let c = app.draft(PETIT, json!({"expert_id": bernard})).await;
    let actions: Vec<String> = app
        .audit_since(head)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["patient.create", "case.create"]);

    // A retried request (same Idempotency-Key) is the same request: no second object, no
    // second entry.
    let body = json!({"patient_id": c["patient"]["id"], "expert_id": bernard, "reason": "r", "question": "q"});
    let (head, _) = app.audit_head().await;
    let (s1, v1) = app
        .call(
            "POST",
            Some(PETIT),
            "/api/v1/cases",
            Some(body.clone()),
            Some("audit-k1"),
        )
        .await;
    let (s2, v2) = app
        .call(
            "POST",
            Some(PETIT),
            "/api/v1/cases",
            Some(body),
            Some("audit-k1"),
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(v1["id"], v2["id"]);
    let entries = app.audit_since(head).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].action, "case.create");
    assert_eq!(entries[0].object_id, v1["id"].as_str().unwrap());
});
