//! The client's address behind a reverse proxy: `X-Forwarded-For` counts only from the
//! configured `trusted_proxies` (throttling per address, the sessions list).

use crate::both_with;
use crate::harness::TestApp;
use crate::signin::rpps;
use consilium::demo::password_for;
use reqwest::StatusCode;

/// A password sign-in whose request carries `X-Forwarded-For: forwarded`.
async fn sign_in(app: &TestApp, forwarded: &str, identifier: &str, password: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(format!("{}/auth/login", app.base))
        .header("X-Forwarded-For", forwarded)
        .send()
        .await
        .expect("login page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .filter(|c| c.starts_with("__Host-consilium-csrf="))
        })
        .expect("csrf cookie")
        .to_string();
    let csrf = cookie
        .split_once('=')
        .map(|x| x.1.to_string())
        .expect("value");
    client
        .post(format!("{}/auth/login", app.base))
        .header("X-Forwarded-For", forwarded)
        .header("Cookie", cookie)
        .header("Origin", app.base.clone())
        .form(&[
            ("identifier", identifier),
            ("password", password),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("sign in")
        .status()
}

async fn session_addresses(app: &TestApp) -> Vec<String> {
    crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(
        "SELECT address FROM sessions ORDER BY created_at"
    )
    .fetch_all(p)
    .await)
    .expect("sessions")
}

both_with!(
    forwarded_for_from_a_trusted_proxy,
    |c: &mut consilium::config::Config| {
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
        c.login_max_failures_per_address = 3;
    },
    |app| {
        app.seed_demo().await;
        // Three failures from one client behind the proxy block that client…
        for _ in 0..3 {
            let s = sign_in(app, "203.0.113.9", &rpps("petit"), "wrong wrong wrong").await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let s = sign_in(app, "203.0.113.9", &rpps("petit"), &password_for("petit")).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        // …not everyone behind the same proxy; and a client cannot pick its address by
        // writing the header's left part itself (the proxy appends the real one).
        let s = sign_in(
            app,
            "203.0.113.77, 198.51.100.7",
            &rpps("petit"),
            &password_for("petit"),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(
            session_addresses(app).await,
            vec!["198.51.100.7".to_string()]
        );
    }
);

both_with!(
    forwarded_for_ignored_without_trusted_proxies,
    |c: &mut consilium::config::Config| c.login_max_failures_per_address = 3,
    |app| {
        app.seed_demo().await;
        // Changing the header at each try does not escape the per-address limit.
        for i in 0..3 {
            let s = sign_in(
                app,
                &format!("203.0.113.{i}"),
                &rpps("petit"),
                "wrong wrong wrong",
            )
            .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let s = sign_in(app, "198.51.100.7", &rpps("petit"), &password_for("petit")).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance_seconds(3600);
        let s = sign_in(app, "198.51.100.7", &rpps("petit"), &password_for("petit")).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(session_addresses(app).await, vec!["127.0.0.1".to_string()]);
    }
);
