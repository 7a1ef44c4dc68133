//! Sign-in benchmark: the cost of an Argon2id hash with the configured parameters, of a
//! sign-in over HTTP (known account with a wrong password vs unknown account: the timings
//! must be alike), and of the per-request session check (cookie) next to a bearer token.
//! It prints figures and never fails because of time.
//!
//! ```text
//! cargo bench --bench auth               # full
//! BENCH_QUICK=1 cargo bench --bench auth # a few seconds (CI smoke)
//! ```

use consilium::app::App;
use consilium::auth::password::{Argon2Params, Hasher};
use consilium::config::Config;
use consilium::demo::{demo_rpps, password_for};
use std::time::{Duration, Instant};

fn quantiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p50 = ms(v[v.len() / 2]);
    let p99 = ms(v[(v.len() * 99 / 100).min(v.len() - 1)]);
    (p50, p99)
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    println!("== Argon2id, one hash (median of runs), on this machine");
    let sets = [
        (19 * 1024, 2, 1, "default (OWASP: m=19 MiB, t=2, p=1)"),
        (46 * 1024, 1, 1, "OWASP alternative m=46 MiB, t=1"),
        (
            64 * 1024,
            3,
            1,
            "m=64 MiB, t=3 (RFC 9106 second choice, 1 lane)",
        ),
    ];
    for (m, t, p, label) in sets {
        let h = Hasher::new(Argon2Params {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        })
        .expect("params");
        let runs = if quick { 3 } else { 15 };
        let mut v = Vec::new();
        let mut stored = String::new();
        for _ in 0..runs {
            let s = Instant::now();
            stored = h.hash_now("correct horse battery staple").expect("hash");
            v.push(s.elapsed());
        }
        let (hash50, _) = quantiles(v);
        let mut v = Vec::new();
        for _ in 0..runs {
            let s = Instant::now();
            assert!(h.verify_now("correct horse battery staple", &stored));
            v.push(s.elapsed());
        }
        let (ver50, _) = quantiles(v);
        println!("  {label:<50} hash {hash50:7.1} ms   verify {ver50:7.1} ms");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(http(quick));
}

async fn http(quick: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        jobs_worker: false,
        login_max_failures: 1_000_000,
        login_max_failures_per_address: 1_000_000,
        ..Config::default()
    };
    let app = App::build(config).await.expect("app");
    consilium::demo::seed(&app.platform).await.expect("demo");
    let base = format!("http://{}", app.addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let login = |ident: String, password: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let page = client
                .get(format!("{base}/auth/login"))
                .send()
                .await
                .expect("login page");
            let cookie = page
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("__Host-consilium-csrf="))
                .and_then(|c| c.split(';').next())
                .unwrap_or_default()
                .to_string();
            let csrf = cookie
                .split_once('=')
                .map(|x| x.1)
                .unwrap_or_default()
                .to_string();
            let s = Instant::now();
            let r = client
                .post(format!("{base}/auth/login"))
                .header("cookie", cookie)
                .form(&[
                    ("identifier", ident),
                    ("password", password),
                    ("csrf", csrf),
                ])
                .send()
                .await
                .expect("login");
            let took = s.elapsed();
            let session = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("__Host-consilium-session="))
                .and_then(|c| c.split(';').next())
                .map(str::to_string);
            (r.status().as_u16(), took, session)
        }
    };

    println!("\n== Sign-in over HTTP (SQLite, default Argon2 parameters), p50 / p99");
    let n = if quick { 5 } else { 40 };
    for (label, ident, pw) in [
        (
            "known account, wrong password",
            demo_rpps(2),
            "wrong password!!".to_string(),
        ),
        (
            "unknown account",
            demo_rpps(900),
            "wrong password!!".to_string(),
        ),
        (
            "known account, right password",
            demo_rpps(2),
            password_for("petit"),
        ),
    ] {
        let mut v = Vec::new();
        let mut status = 0;
        for _ in 0..n {
            let (s, d, _) = login(ident.clone(), pw.clone()).await;
            status = s;
            v.push(d);
        }
        let (p50, p99) = quantiles(v);
        println!("  {label:<34} → {status}   {p50:6.1} / {p99:6.1} ms");
    }

    println!("\n== GET /api/v1/me, one client, p50 / p99 (the authentication check per request)");
    let (_, _, session) = login(demo_rpps(2), password_for("petit")).await;
    let session = session.expect("a session");
    let n = if quick { 200 } else { 3000 };
    for (label, header, value) in [
        (
            "bearer token",
            "authorization",
            "Bearer csl_demo_petit".to_string(),
        ),
        ("session cookie", "cookie", session),
    ] {
        let mut v = Vec::new();
        for _ in 0..n {
            let s = Instant::now();
            let r = client
                .get(format!("{base}/api/v1/me"))
                .header(header, &value)
                .send()
                .await
                .expect("me");
            assert_eq!(r.status().as_u16(), 200);
            let _ = r.bytes().await;
            v.push(s.elapsed());
        }
        let (p50, p99) = quantiles(v);
        println!("  {label:<16} {p50:6.3} / {p99:6.3} ms   ({n} requests)");
    }
    let _ = tx.send(());
    let _ = server.await;
}
