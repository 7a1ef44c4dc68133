//! The job queue on both backends: enqueued only with its transaction, due at its time,
//! retried with backoff, dead after its last attempt, picked up again when its worker dies,
//! deduplicated, claimed once under concurrency, run by the server's own worker.

use crate::both;
use crate::harness::TestApp;
use consilium::jobs::{self, JobError, JobState, NewJob};
use consilium::kernel::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Registers `kind` to count its runs and fail the first `failures` of them.
fn counting(app: &TestApp, kind: &str, failures: usize) -> Arc<AtomicUsize> {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    app.platform.jobs.register(kind, move |_p, _j| {
        let n = r.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                Err(JobError::Retry(format!("failure {}", n + 1)))
            } else {
                Ok(())
            }
        }
    });
    runs
}

async fn enqueue(app: &TestApp, kind: &str, due_in_s: i64, key: Option<&str>) -> bool {
    let now = app.platform.now();
    let mut tx = app.db().begin().await.unwrap();
    let added = jobs::enqueue(
        &mut tx,
        now,
        NewJob {
            kind,
            payload: serde_json::json!({"n": 1}),
            due_at: now.plus_seconds(due_in_s),
            dedupe_key: key.map(str::to_string),
            max_attempts: Some(3),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    added
}

async fn count(app: &TestApp, state: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM jobs WHERE state = '{state}'"
    ))
    .await
}

both!(a_timer_runs_once_at_its_due_time, |app| {
    let runs = counting(app, "test.timer", 0);
    assert!(enqueue(app, "test.timer", 3600, None).await);
    assert_eq!(app.run_jobs().await.claimed, 0, "not due yet");
    app.clock.advance_seconds(3599);
    app.run_jobs().await;
    assert_eq!(runs.load(Ordering::SeqCst), 0, "one second early");
    let r = app.advance(2).await;
    assert_eq!((r.claimed, r.done), (1, 1));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    app.advance(86_400).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "ran once");
    assert_eq!(count(app, "done").await, 1);
});

both!(a_rolled_back_enqueue_leaves_no_job, |app| {
    counting(app, "test.rb", 0);
    let now = app.platform.now();
    let mut tx = app.db().begin().await.unwrap();
    jobs::enqueue(
        &mut tx,
        now,
        NewJob::new("test.rb", serde_json::json!({}), now),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(app.run_jobs().await.claimed, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM jobs").await, 0);
});

both!(failures_back_off_then_go_dead_and_can_be_retried, |app| {
    let runs = counting(app, "test.flaky", 10);
    enqueue(app, "test.flaky", 0, None).await;
    let r = app.run_jobs().await;
    assert_eq!((r.claimed, r.retried), (1, 1));
    // Backoff: 30 s after the first failure, 60 s after the second.
    assert_eq!(app.advance(29).await.claimed, 0);
    assert_eq!(app.advance(2).await.retried, 1);
    assert_eq!(app.advance(59).await.claimed, 0);
    let r = app.advance(2).await;
    assert_eq!(r.dead, 1, "third attempt of 3 failed: dead");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    app.advance(30 * 86_400).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "a dead job never runs by itself"
    );
    // The dead-letter list shows it with its last error.
    let mut tx = app.db().begin().await.unwrap();
    let dead = jobs::repo::list(&mut tx, Some(JobState::Dead), 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, "test.flaky");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("failure 3"));
    // An operator retries it.
    let mut tx = app.db().begin().await.unwrap();
    assert!(
        jobs::repo::retry_dead(&mut tx, app.platform.now(), &dead[0].id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(app.run_jobs().await.claimed, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 4);
});

both!(unknown_kinds_and_bad_payloads_are_dead_at_once, |app| {
    enqueue(app, "test.nobody_handles_this", 0, None).await;
    app.platform
        .jobs
        .register("test.typed", |_p, j| async move {
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            struct P {
                case_id: String,
            }
            let _: P = j.payload()?;
            Ok(())
        });
    enqueue(app, "test.typed", 0, None).await;
    let r = app.run_jobs().await;
    assert_eq!((r.claimed, r.dead), (2, 2));
    assert_eq!(count(app, "dead").await, 2);
});

both!(a_dead_workers_job_is_taken_again_after_its_lease, |app| {
    let runs = counting(app, "test.lease", 0);
    enqueue(app, "test.lease", 0, None).await;
    // A worker claims the job and dies before finishing it.
    let now = app.platform.now();
    let mut tx = app.db().begin().await.unwrap();
    let claimed = jobs::repo::claim(&mut tx, now, now.plus_seconds(300), 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        app.run_jobs().await.claimed,
        0,
        "leased: nobody else takes it"
    );
    app.clock.advance_seconds(301);
    assert_eq!(app.run_jobs().await.done, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // The first worker wakes up late: its lease is gone, it cannot mark the job again.
    let mut tx = app.db().begin().await.unwrap();
    let late = jobs::repo::fail(&mut tx, app.platform.now(), &claimed[0], None, "late")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!late);
    assert_eq!(count(app, "done").await, 1);
});

both!(a_dedupe_key_makes_one_job, |app| {
    let runs = counting(app, "test.dedupe", 0);
    assert!(enqueue(app, "test.dedupe", 10, Some("case-1:reminder")).await);
    assert!(!enqueue(app, "test.dedupe", 10, Some("case-1:reminder")).await);
    assert!(enqueue(app, "test.dedupe", 10, Some("case-2:reminder")).await);
    app.advance(11).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(
        !enqueue(app, "test.dedupe", 10, Some("case-1:reminder")).await,
        "done jobs keep their key"
    );
});

both!(a_handler_commits_its_work_with_the_completion, |app| {
    // The handler writes a row and completes the job in the same transaction: after a
    // lost lease, its work is rolled back and done once by the next worker.
    app.exec("CREATE TABLE test_effects (job_id TEXT NOT NULL)")
        .await
        .unwrap();
    app.platform
        .jobs
        .register("test.effect", |p, j| async move {
            let now = p.now();
            let mut tx = p.db.begin().await?;
            consilium::run!(&mut tx, |c| sqlx::query(
                "INSERT INTO test_effects (job_id) VALUES ($1)"
            )
            .bind(&j.id)
            .execute(c)
            .await
            .map(|_| ()))?;
            j.complete(&mut tx, now).await?;
            tx.commit().await?;
            Ok(())
        });
    for _ in 0..5 {
        enqueue(app, "test.effect", 0, None).await;
    }
    assert_eq!(app.run_jobs().await.done, 5);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM test_effects").await, 5);
});

both!(concurrent_workers_run_each_job_once, |app| {
    let runs = counting(app, "test.many", 0);
    let now = app.platform.now();
    let mut tx = app.db().begin().await.unwrap();
    for i in 0..200 {
        jobs::enqueue(
            &mut tx,
            now,
            NewJob::new("test.many", serde_json::json!({ "i": i }), now),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let p = app.platform.clone();
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let r = jobs::run_batch(&p, 7).await.expect("batch");
                if r.claimed == 0 {
                    return n;
                }
                n += r.done;
            }
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 200);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        200,
        "each job ran exactly once"
    );
    assert_eq!(count(app, "done").await, 200);
});

/// The server's own worker runs an enqueued job without anyone calling `run_jobs`.
mod server_worker {
    use super::*;

    async fn body(backend: consilium::db::Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.jobs_worker = true;
            c.jobs_poll_ms = 50;
        })
        .await;
        let runs = counting(&app, "test.served", 0);
        enqueue(&app, "test.served", 0, None).await;
        // A timer due later fires once the clock passes its due time.
        enqueue(&app, "test.served", 600, None).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while runs.load(Ordering::SeqCst) < 1 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        app.clock
            .set(Timestamp(app.platform.now().micros() + 601_000_000));
        while runs.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        app.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        body(consilium::db::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        body(consilium::db::Backend::Postgres).await;
    }
}

/// Inserts a job row in `state`, last changed `days_ago` days before the test clock's now.
async fn old_job(app: &TestApp, state: &str, days_ago: i64, key: &str) -> String {
    let id = consilium::kernel::new_id();
    let at = app.platform.now().plus_days(-days_ago).micros();
    app.exec(&format!(
        "INSERT INTO jobs (id, kind, payload, state, due_at, attempts, max_attempts, dedupe_key, created_at, updated_at) \
         VALUES ('{id}', 'test.old', '{{}}', '{state}', {at}, 1, 8, '{key}', {at}, {at})"
    ))
    .await
    .unwrap();
    id
}

async fn exists(app: &TestApp, id: &str) -> bool {
    app.scalar(&format!("SELECT COUNT(*) FROM jobs WHERE id = '{id}'"))
        .await
        == 1
}

crate::both_with!(
    done_jobs_are_purged_after_their_retention,
    |c: &mut consilium::config::Config| c.jobs_done_retention_days = 10,
    |app| {
        let old = old_job(app, "done", 11, "old-done").await;
        let recent = old_job(app, "done", 9, "recent-done").await;
        let dead = old_job(app, "dead", 400, "old-dead").await;
        let pending = old_job(app, "pending", 400, "old-pending").await;
        assert_eq!(jobs::purge_done(&app.platform).await.unwrap(), 1);
        assert!(!exists(app, &old).await, "done and older than 10 days");
        assert!(exists(app, &recent).await, "done 9 days ago: kept");
        assert!(exists(app, &dead).await, "dead jobs wait for an operator");
        assert!(exists(app, &pending).await, "pending jobs are never purged");
        // Its key is free again; the recent one's still deduplicates.
        assert!(enqueue(app, "test.old", 0, Some("old-done")).await);
        assert!(!enqueue(app, "test.old", 0, Some("recent-done")).await);
        // Two days later the recent one goes too; nothing else.
        app.clock.advance_seconds(2 * 86_400);
        assert_eq!(jobs::purge_done(&app.platform).await.unwrap(), 1);
        assert!(!exists(app, &recent).await);
        // Many at once: in batches, all of them.
        for i in 0..2500 {
            old_job(app, "done", 40, &format!("bulk-{i}")).await;
        }
        assert_eq!(jobs::purge_done(&app.platform).await.unwrap(), 2500);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM jobs WHERE dedupe_key LIKE 'bulk-%'")
                .await,
            0
        );
    }
);

crate::both_with!(
    the_retention_is_at_least_eight_days,
    |c: &mut consilium::config::Config| c.jobs_done_retention_days = 1,
    |app| {
        let kept = old_job(app, "done", 7, "seven").await;
        let gone = old_job(app, "done", 9, "nine").await;
        assert_eq!(jobs::purge_done(&app.platform).await.unwrap(), 1);
        assert!(
            exists(app, &kept).await,
            "a 1-day setting still keeps 8 days"
        );
        assert!(!exists(app, &gone).await);
    }
);

/// The server's worker purges by itself (when it starts, then every hour of its clock).
mod worker_purges {
    use super::*;

    async fn body(backend: consilium::db::Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.jobs_worker = true;
            c.jobs_poll_ms = 50;
        })
        .await;
        let old = old_job(&app, "done", 31, "worker-old").await;
        let recent = old_job(&app, "done", 29, "worker-recent").await;
        // An hour later (of the platform's clock) at the latest, the worker purges again.
        app.clock.advance_seconds(3601);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while exists(&app, &old).await && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            !exists(&app, &old).await,
            "purged by the worker (default: 30 days)"
        );
        assert!(exists(&app, &recent).await, "29 days old: kept");
        app.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        body(consilium::db::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        body(consilium::db::Backend::Postgres).await;
    }
}
