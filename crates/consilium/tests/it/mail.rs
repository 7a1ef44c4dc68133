//! Mail through a real SMTP server (aiosmtpd on loopback): queued in a transaction, sent by
//! a job, retried while the server is down.

use crate::harness::TestApp;
use crate::smtp::SmtpSink;
use consilium::db::Backend;
use consilium::mail::{self, OutgoingMail};

fn sample(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "Consilium : demande CAS-2026-000001".into(),
        text: "Une demande vous attend : http://consilium.test/cases/abc\n".into(),
    }
}

async fn queue(app: &TestApp, m: &OutgoingMail, key: Option<&str>) {
    let now = app.platform.now();
    let mut tx = app.db().begin().await.unwrap();
    mail::enqueue(&mut tx, now, m, key.map(str::to_string))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn delivered_by_a_job(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let app = TestApp::start_with(backend, |c| {
        smtp.configure(c);
        c.mail_from = "Consilium <no-reply@consilium.test>".into();
    })
    .await;
    queue(&app, &sample("dr.roux@example.org"), Some("m1")).await;
    queue(&app, &sample("dr.roux@example.org"), Some("m1")).await; // same key: once
    assert!(
        smtp.messages().is_empty(),
        "nothing is sent before a job runs"
    );
    assert_eq!(app.run_jobs().await.done, 1);
    let got = smtp.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].to("dr.roux@example.org"));
    assert_eq!(got[0].mail_from, "no-reply@consilium.test");
    assert_eq!(
        got[0]
            .header("Subject")
            .as_deref()
            .map(|s| s.contains("CAS-2026-000001")),
        Some(true),
        "{:?}",
        got[0].header("Subject")
    );
    assert!(got[0].body().contains("http://consilium.test/cases/abc"));
    assert!(got[0].header("Message-ID").is_some());
    app.run_jobs().await;
    assert_eq!(smtp.wait_for(2).await.len(), 1, "sent once");
    app.finish().await;
}

async fn retried_while_the_server_is_down(backend: Backend) {
    // A port where nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    queue(&app, &sample("dr.roux@example.org"), None).await;
    let r = app.run_jobs().await;
    assert_eq!(
        (r.retried, r.dead),
        (1, 0),
        "a refused connection is retried"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND last_error LIKE 'SMTP%'")
            .await,
        1
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_by_a_job_sqlite() {
    delivered_by_a_job(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_by_a_job_postgres() {
    delivered_by_a_job(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_while_the_server_is_down_sqlite() {
    retried_while_the_server_is_down(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_while_the_server_is_down_postgres() {
    retried_while_the_server_is_down(Backend::Postgres).await;
}
