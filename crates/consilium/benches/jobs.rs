//! Job queue benchmark (issue 5): throughput (jobs/s) on each backend, with 1 and 4
//! workers, and the delay between a timer's due time and its run while the queue is loaded.
//!
//! `cargo bench --bench jobs` (`BENCH_QUICK=1` for a short run). Prints figures; never fails
//! on time. PostgreSQL at `$CONSILIUM_TEST_PG` or `postgres://postgres@127.0.0.1:5432`.

use consilium::db::Db;
use consilium::jobs::{self, NewJob};
use consilium::kernel::{SystemClock, Timestamp, new_id};
use consilium::platform::Platform;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn pg_admin_url() -> String {
    std::env::var("CONSILIUM_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

async fn enqueue_many(p: &Platform, kind: &str, n: usize, due: Timestamp) {
    let now = p.now();
    let mut done = 0;
    while done < n {
        let mut tx = p.db.begin().await.expect("begin");
        for i in done..(done + 500).min(n) {
            jobs::enqueue(
                &mut tx,
                now,
                NewJob::new(kind, serde_json::json!({ "i": i }), due),
            )
            .await
            .expect("enqueue");
        }
        tx.commit().await.expect("commit");
        done = (done + 500).min(n);
    }
}

/// Runs `n` no-op jobs with `workers` concurrent workers; returns jobs/s.
async fn throughput(p: &Platform, n: usize, workers: usize) -> f64 {
    enqueue_many(p, "bench.noop", n, p.now()).await;
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let p = p.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let r = jobs::run_batch(&p, 32).await.expect("batch");
                if r.claimed == 0 {
                    return;
                }
            }
        }));
    }
    for h in handles {
        h.await.expect("worker");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Timers due over `spread` seconds, run by the server's worker loop (default poll 500 ms),
/// while `load` no-op jobs are also queued: the delay from due time to run, in ms.
async fn timer_delay(p: &Platform, timers: usize, load: usize, spread_s: i64) -> Vec<f64> {
    let delays: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let d = delays.clone();
    p.jobs
        .register("bench.timer", move |p: Platform, j: jobs::Job| {
            let d = d.clone();
            async move {
                let late_ms = (p.now().micros() - j.due_at.micros()) as f64 / 1000.0;
                d.lock().unwrap_or_else(|e| e.into_inner()).push(late_ms);
                Ok(())
            }
        });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(jobs::worker(p.clone(), Duration::from_millis(500), stop_rx));
    let start = p.now();
    // Load: a steady stream of no-op jobs due now, enqueued while timers fall due.
    let per_tick = load / (spread_s as usize * 10).max(1);
    let now = p.now();
    let mut tx = p.db.begin().await.expect("begin");
    for i in 0..timers {
        let due =
            start.plus_seconds(1).micros() + (i as i64 * spread_s * 1_000_000) / timers as i64;
        jobs::enqueue(
            &mut tx,
            now,
            NewJob::new("bench.timer", serde_json::json!({}), Timestamp(due)),
        )
        .await
        .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let until = Instant::now() + Duration::from_secs(spread_s as u64 + 1);
    while Instant::now() < until {
        enqueue_many(p, "bench.noop", per_tick.max(1), p.now()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wait = Instant::now() + Duration::from_secs(30);
    while delays.lock().map(|v| v.len()).unwrap_or(0) < timers && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let mut v = delays.lock().map(|v| v.clone()).unwrap_or_default();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn pct(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

async fn bench(label: &str, url: &str) {
    let db = Db::connect(url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let p = Platform::new(db.clone(), Arc::new(SystemClock));
    p.jobs.register("bench.noop", |_p, _j| async { Ok(()) });
    let n = if quick() { 1_000 } else { 10_000 };
    for workers in [1, 4] {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(throughput(&p, n, workers).await);
        }
        runs.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{label}: {n} no-op jobs, {workers} worker(s): {:.0} jobs/s (median of 3: {:.0} / {:.0} / {:.0})",
            runs[1], runs[0], runs[1], runs[2]
        );
    }
    let (timers, load, spread) = if quick() {
        (50, 2_000, 3)
    } else {
        (200, 20_000, 10)
    };
    let v = timer_delay(&p, timers, load, spread).await;
    println!(
        "{label}: timer delay, {} timers over {spread} s with {load} other jobs queued meanwhile, poll 500 ms: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
    db.close().await;
}

/// One routing decision (candidates who accept, ordered, first step) over 1,000 experts
/// with rules (professions, territories, load caps, absences with delegates, rotas).
fn routing() {
    use consilium::routing::model::{
        AcceptanceRules, AssignStrategy, Candidate, RoutingRequest, Span, next_step, order,
    };
    let at = Timestamp(1_795_424_400_000_000);
    let deps = ["75", "69", "13", "33", "59", "31"];
    let cands: Vec<Candidate> = (0..1000)
        .map(|i| Candidate {
            id: format!("expert-{i:04}"),
            open_cases: (i * 7 % 13) as u32,
            rules: AcceptanceRules {
                professions: if i % 3 == 0 {
                    vec!["10".into(), "50".into()]
                } else {
                    vec![]
                },
                departements: vec![deps[i % 6].into(), deps[(i + 1) % 6].into()],
                regions: vec![],
                postcodes: vec![],
                max_open: Some(10),
            },
            absences: if i % 10 == 0 {
                vec![(
                    Span {
                        from: at,
                        to: at.plus_days(7),
                    },
                    Some(format!("expert-{:04}", i + 1)),
                )]
            } else {
                vec![]
            },
            rota: if i % 4 == 0 {
                Some(vec![Span {
                    from: at,
                    to: at.plus_days(1),
                }])
            } else {
                None
            },
            stand_in: false,
        })
        .collect();
    let r = RoutingRequest {
        requester_profession: "60".into(),
        postcode: "75011".into(),
        region: None,
        at,
    };
    let n = if quick() { 200 } else { 2000 };
    let mut times = Vec::with_capacity(n);
    let mut accepted = 0;
    for k in 0..n {
        let strategy = if k % 2 == 0 {
            AssignStrategy::LeastLoaded
        } else {
            AssignStrategy::RoundRobin {
                last: Some(format!("expert-{:04}", k % 1000)),
            }
        };
        let t = Instant::now();
        let o = order(&cands, &r, &strategy);
        let step = next_step(&o, &[], Some("assigner"), at, 4);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        accepted = o.len();
        std::hint::black_box(step);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "routing: 1,000 experts with rules ({accepted} accept the request): p50 {:.0} µs, p99 {:.0} µs per decision",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}

#[tokio::main]
async fn main() {
    routing();
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("jobs.db").display());
    bench("SQLite", &sqlite).await;

    let name = format!("consilium_bench_jobs_{}", &new_id().replace('-', "")[16..]);
    match sqlx::PgPool::connect(&format!("{}/postgres", pg_admin_url())).await {
        Ok(admin) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("create database");
            bench("PostgreSQL", &format!("{}/{name}", pg_admin_url())).await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
        }
        Err(e) => println!("PostgreSQL skipped: {e}"),
    }
}
