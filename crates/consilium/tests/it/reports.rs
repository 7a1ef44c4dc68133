//! The compte rendu (R10) through HTTP on both backends: answer → draft v1 → preview →
//! sign (frozen PDF) → downloads (PDF, CDA TLM-CR checked by the ANS validator) → delivery
//! to the requester and the médecin traitant through a real SMTP server → correction as
//! version 2. PDFs are checked with poppler-utils and qpdf.

use crate::both;
use crate::harness::{TestApp, tiny_png};
use crate::smtp::SmtpSink;
use base64::Engine;
use consilium::db::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::process::Command;

const MARTIN: &str = "csl_demo_martin";
const PETIT: &str = "csl_demo_petit";
const MOREAU: &str = "csl_demo_moreau";
const BERNARD: &str = "csl_demo_bernard";

const HOSTILE_QUESTION: &str =
    "Souffle ? #set page(fill: red) #panic(\"x\") ] <script>alert('x')</script> & \u{200F}RLM";
const HOSTILE_ANSWER: &str = "Échographie #read(\"/etc/passwd\") $x^2$ <b>&amp;</b> ]]> fin";

async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (s, v) = app.get(token, path).await;
    assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
    v
}

/// A raw download: status, headers, body.
async fn fetch(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn tool(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (poppler-utils, qpdf): {e}"))
}

/// pdfinfo opens it, qpdf --check passes, no script or open action, and its text.
fn check_pdf(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    let p = path.to_str().unwrap();
    let info = tool("pdfinfo", &[p]);
    assert!(
        info.status.success(),
        "pdfinfo: {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let check = tool("qpdf", &["--check", p]);
    assert!(
        check.status.success(),
        "qpdf --check: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let plain = dir.path().join("plain.pdf");
    let qdf = tool(
        "qpdf",
        &[
            "--qdf",
            "--object-streams=disable",
            p,
            plain.to_str().unwrap(),
        ],
    );
    assert!(qdf.status.success());
    let raw = std::fs::read(&plain).unwrap();
    for name in [&b"/JavaScript"[..], b"/JS ", b"/OpenAction", b"/Launch"] {
        assert!(
            !raw.windows(name.len()).any(|w| w == name),
            "the PDF carries {}",
            String::from_utf8_lossy(name)
        );
    }
    let text = tool("pdftotext", &["-enc", "UTF-8", p, "-"]);
    assert!(text.status.success());
    String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_cda(xml: &[u8]) {
    let kit = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/validation/cda/validate.sh");
    assert!(
        kit.exists(),
        "../shared/validation/cda/validate.sh is missing"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cr.xml");
    std::fs::write(&f, xml).unwrap();
    let out = Command::new("bash").arg(&kit).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "validate.sh refused the CDA of a real case:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn download_headers_ok(h: &reqwest::header::HeaderMap, media: &str) {
    assert_eq!(h["content-type"], media);
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
}

/// Petit (a nurse) asks Bernard about a patient whose médecin traitant is Martin; an image
/// is attached; Bernard accepts and answers. Returns the case id.
async fn answered_case(app: &TestApp) -> String {
    let bernard = app.me(BERNARD).await;
    let martin = app.me(MARTIN).await;
    let c = app
        .draft(
            PETIT,
            json!({
                "expert_id": bernard,
                "patient": {
                    "birth_family_name": "Durand",
                    "given_names": "Marc Pierre",
                    "birth_date": "1989-12-01",
                    "sex": "M",
                    "birth_place_code": "75056",
                    "ins": "1891275123456 86",
                    "identity_status": "qualified",
                    "medecin_traitant_id": martin
                },
                "reason": "Souffle cardiaque",
                "question": HOSTILE_QUESTION,
            }),
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let (s, v) = app
        .upload(
            Some(PETIT),
            &format!("/api/v1/cases/{id}/attachments"),
            &[("ecg.png", &tiny_png())],
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    app.consent(PETIT, &id).await;
    app.ok(PETIT, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await;
    app.ok(BERNARD, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    app.ok(
        BERNARD,
        &format!("/api/v1/cases/{id}/answer"),
        json!({"kind": "workup_before_visit", "answer": HOSTILE_ANSWER,
               "recommendations": "ETT dans le mois", "follow_up": "Revoir avec le résultat",
               "visit_urgency": "routine"}),
    )
    .await;
    id
}

async fn full_flow(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let app = TestApp::start_with(backend, |c| {
        smtp.configure(c);
        c.mail_from = "Consilium <no-reply@consilium.test>".into();
        c.public_url = Some("http://consilium.test".into());
    })
    .await;
    app.seed_demo().await;
    let id = answered_case(&app).await;
    let report = format!("/api/v1/cases/{id}/report");
    // The demo's own mail (invitations, notifications) goes first.
    app.run_jobs().await;
    // (The sink records a message before it answers 250, so a sent job's mail is there.)
    let before = smtp.messages().len();

    // The answer made draft v1: the expert sees it, the requester sees nothing yet.
    let v = get_ok(&app, BERNARD, &report).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["state"], "draft");
    assert_eq!(v["items"][0]["version"], 1);
    assert!(v["items"][0]["pdf_url"].is_null());
    let (s, v) = app.get(PETIT, &report).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["items"],
        json!([]),
        "the requester sees signed versions only"
    );

    // Preview: the expert only, watermarked.
    let (s, h, pdf) = fetch(&app, BERNARD, &format!("{report}/preview")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
    download_headers_ok(&h, "application/pdf");
    let text = check_pdf(&pdf);
    assert!(text.contains("BROUILLON — APERÇU"), "{text}");
    assert!(text.contains("Non signé."), "{text}");
    let (s, _, _) = fetch(&app, PETIT, &format!("{report}/preview")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The requester cannot sign; a stranger gets 404 everywhere.
    let (s, _) = app.post(PETIT, &format!("{report}/sign"), json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app.post(MOREAU, &format!("{report}/sign"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get(MOREAU, &report).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM reports WHERE case_id = '{id}' AND state = 'signed'"
        ))
        .await,
        0
    );

    // Signing freezes the PDF; signing again answers the same version.
    app.clock.advance_seconds(120);
    let signed = app.ok(BERNARD, &format!("{report}/sign"), json!({})).await;
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["version"], 1);
    let sha = signed["pdf_sha256"].as_str().unwrap().to_string();
    let again = app.ok(BERNARD, &format!("{report}/sign"), json!({})).await;
    assert_eq!(again["id"], signed["id"]);
    assert_eq!(again["pdf_sha256"], sha.as_str());
    let (s, _, _) = fetch(&app, BERNARD, &format!("{report}/preview")).await;
    assert_eq!(s, StatusCode::CONFLICT, "nothing left to preview");

    // Downloads: whoever may see the case; the bytes are the signed ones.
    let pdf_path = format!("{report}/versions/1/pdf");
    let (s, h, pdf) = fetch(&app, PETIT, &pdf_path).await;
    assert_eq!(s, StatusCode::OK);
    download_headers_ok(&h, "application/pdf");
    assert_eq!(hex::encode(Sha256::digest(&pdf)), sha);
    let text = check_pdf(&pdf);
    for expected in [
        "Compte rendu de téléexpertise",
        "Signé électroniquement par Dr Paul Bernard",
        "DURAND",
        "Marc Pierre",
        "1891275123456 86",
        "Identité qualifiée",
        "Julien Petit",
        "ecg.png",
        "ETT dans le mois",
        "Revoir avec le résultat",
        "#set page(fill: red) #panic(\"x\") ] <script>alert('x')</script> &",
        "Échographie #read(\"/etc/passwd\") $x^2$ <b>&amp;</b> ]]> fin",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("BROUILLON"), "{text}");
    let (s, _, _) = fetch(&app, MOREAU, &pdf_path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, h, cda) = fetch(&app, PETIT, &format!("{report}/versions/1/cda")).await;
    assert_eq!(s, StatusCode::OK);
    download_headers_ok(&h, "application/xml");
    validate_cda(&cda);
    let xml = String::from_utf8(cda).unwrap();
    assert!(xml.contains("85208-7") && xml.contains("TE2"));
    assert!(
        xml.contains("extension=\"189127512345686\""),
        "qualified INS in the header"
    );
    assert!(xml.contains("&lt;script&gt;") || !xml.contains("<script>"));
    let b64 = xml
        .split("representation=\"B64\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the PDF in a nonXMLBody");
    let inner = base64::engine::general_purpose::STANDARD
        .decode(b64.split_whitespace().collect::<String>())
        .unwrap();
    assert_eq!(inner, pdf, "the CDA carries the signed PDF");

    // Delivery (R10): the requester in-app now, and by email (a link); the médecin
    // traitant by email with the report attached. Jobs send; statuses are recorded.
    let (_, n) = app.get(PETIT, "/api/v1/notifications").await;
    assert!(
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "report_signed" && i["case_id"] == id.as_str()),
        "{n}"
    );
    let v = get_ok(&app, PETIT, &report).await;
    let statuses: Vec<(String, String)> = v["items"][0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["recipient"].as_str().unwrap().into(),
                d["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("medecin_traitant".into(), "pending".into()),
            ("requester".into(), "pending".into())
        ]
    );
    app.run_jobs().await;
    let got = smtp.wait_for(before + 2).await.split_off(before);
    assert_eq!(got.len(), 2, "two deliveries");
    let to_petit = got
        .iter()
        .find(|m| m.to("petit@demo.consilium.invalid"))
        .expect("mail to the requester");
    let to_martin = got
        .iter()
        .find(|m| m.to("martin@demo.consilium.invalid"))
        .expect("mail to the médecin traitant");
    assert!(
        to_petit
            .body()
            .contains(&format!("http://consilium.test/cases/{id}")),
        "{}",
        to_petit.body()
    );
    for m in [to_petit, to_martin] {
        let subject = m.header("Subject").unwrap_or_default();
        for secret in [
            "Durand",
            "DURAND",
            "Marc",
            "1891275123456",
            "Souffle",
            "Échographie",
        ] {
            assert!(
                !subject.contains(secret),
                "patient data in the subject: {subject}"
            );
        }
    }
    for secret in ["DURAND", "Marc Pierre", "1891275123456", "Échographie"] {
        assert!(
            !to_petit.data.contains(secret),
            "patient data in the requester's mail"
        );
    }
    assert!(
        to_martin.data.contains("application/pdf"),
        "the report is attached"
    );
    assert!(
        to_martin.data.contains("compte-rendu-"),
        "{}",
        to_martin.data.len()
    );
    let v = get_ok(&app, PETIT, &report).await;
    for d in v["items"][0]["deliveries"].as_array().unwrap() {
        assert_eq!(d["status"], "sent", "{d}");
        assert_eq!(d["attempts"], 1);
        assert!(d["delivered_at"].is_string());
    }

    // A correction is version 2, naming version 1; version 1 never changes.
    let (s, v) = app
        .post(
            BERNARD,
            &format!("{report}/draft"),
            json!({"answer": "Échographie sous 8 jours"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {v}"
    );
    let (s, _) = app
        .post(
            PETIT,
            &format!("{report}/draft"),
            json!({"answer": "x", "correction_reason": "y"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let v2 = app
        .ok(
            BERNARD,
            &format!("{report}/draft"),
            json!({"answer": "Échographie sous 8 jours", "correction_reason": "délai précisé"}),
        )
        .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["state"], "draft");
    assert_eq!(v2["previous_id"], signed["id"]);
    let v = get_ok(&app, PETIT, &report).await;
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        1,
        "the requester does not see drafts"
    );
    let s2 = app.ok(BERNARD, &format!("{report}/sign"), json!({})).await;
    assert_eq!(s2["version"], 2);
    assert_ne!(s2["pdf_sha256"], sha.as_str());
    let (_, _, pdf2) = fetch(&app, PETIT, &format!("{report}/versions/2/pdf")).await;
    let text2 = check_pdf(&pdf2);
    assert!(text2.contains("Échographie sous 8 jours"), "{text2}");
    assert!(text2.contains("délai précisé"), "{text2}");
    assert!(
        text2.contains(&signed["id"].as_str().unwrap().to_uppercase()),
        "version 2 names the document it replaces: {text2}"
    );
    let (_, _, pdf1) = fetch(&app, PETIT, &pdf_path).await;
    assert_eq!(pdf1, pdf, "version 1 is unchanged");
    // Martin (the médecin traitant) got the PDF by mail but is not on the case: 404.
    let (s, _, _) = fetch(&app, MARTIN, &format!("{report}/versions/2/cda")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, cda2) = fetch(&app, PETIT, &format!("{report}/versions/2/cda")).await;
    validate_cda(&cda2);

    // The database refuses any change to a signed version.
    let edit = app
        .exec(&format!(
            "UPDATE reports SET content = '{{}}' WHERE case_id = '{id}' AND version = 1"
        ))
        .await;
    assert!(edit.is_err(), "a signed report never changes");
    let delete = app
        .exec(&format!(
            "DELETE FROM reports WHERE case_id = '{id}' AND version = 1"
        ))
        .await;
    assert!(delete.is_err(), "a signed report is never deleted");

    assert!(app.audit_count("report.sign", "success").await >= 3);
    assert!(app.audit_count("report.download", "success").await >= 5);
    assert!(app.audit_count("report.sign", "denied").await >= 2);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_sqlite() {
    full_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_postgres() {
    full_flow(Backend::Postgres).await;
}

async fn delivery_is_retried(backend: Backend) {
    // A relay where nothing listens: the delivery waits and says why.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::start_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    })
    .await;
    app.seed_demo().await;
    let id = answered_case(&app).await;
    let report = format!("/api/v1/cases/{id}/report");
    app.ok(BERNARD, &format!("{report}/sign"), json!({})).await;
    let r = app.run_jobs().await;
    assert!(
        r.retried >= 2,
        "both deliveries are retried (and the demo's mail)"
    );
    let v = get_ok(&app, BERNARD, &report).await;
    for d in v["items"][0]["deliveries"].as_array().unwrap() {
        assert_eq!(d["status"], "retrying", "{d}");
        assert_eq!(d["attempts"], 1);
        assert!(d["last_error"].as_str().unwrap().contains("SMTP"), "{d}");
    }
    // The queue keeps trying with its backoff; after the last attempt the delivery has
    // failed, and says so.
    for _ in 0..10 {
        app.advance(7 * 3600).await;
    }
    let v = get_ok(&app, BERNARD, &report).await;
    for d in v["items"][0]["deliveries"].as_array().unwrap() {
        assert_eq!(d["status"], "failed", "{d}");
        assert_eq!(d["attempts"], 8);
    }
    // An operator revives the dead jobs once the relay is fixed: they run again (and fail
    // again here, the relay being still down), and the status follows.
    let mut dead = Vec::new();
    for d in v["items"][0]["deliveries"].as_array().unwrap() {
        let sql = format!(
            "SELECT id FROM jobs WHERE kind = 'report.deliver' AND state = 'dead' AND payload LIKE '%{}%'",
            d["id"].as_str().unwrap()
        );
        let id: String = crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(
            sqlx::AssertSqlSafe(sql.clone())
        )
        .fetch_one(p)
        .await)
        .unwrap();
        dead.push(id);
    }
    for id in &dead {
        let now = app.platform.now();
        let mut tx = app.db().begin().await.unwrap();
        assert!(
            consilium::jobs::repo::retry_dead(&mut tx, now, id)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
    }
    app.run_jobs().await;
    let v = get_ok(&app, BERNARD, &report).await;
    for d in v["items"][0]["deliveries"].as_array().unwrap() {
        assert_eq!(d["attempts"], 9, "the revived job tried again: {d}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_is_retried_sqlite() {
    delivery_is_retried(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_is_retried_postgres() {
    delivery_is_retried(Backend::Postgres).await;
}

both!(
    without_a_medecin_traitant_only_the_requester_is_served,
    |app| {
        app.seed_demo().await;
        // Martin asks for her own patient (no médecin traitant recorded): one delivery. No SMTP
        // relay is configured, so the delivery says it was not sent.
        let bernard = app.me(BERNARD).await;
        let c = app
            .submitted_case(MARTIN, json!({"expert_id": bernard}))
            .await;
        let id = c["id"].as_str().unwrap();
        app.ok(BERNARD, &format!("/api/v1/cases/{id}/accept"), json!({}))
            .await;
        app.ok(
            BERNARD,
            &format!("/api/v1/cases/{id}/answer"),
            json!({"kind": "advice", "answer": "Rien d'inquiétant"}),
        )
        .await;
        let v = app
            .ok(
                BERNARD,
                &format!("/api/v1/cases/{id}/report/sign"),
                json!({}),
            )
            .await;
        let d = v["deliveries"].as_array().unwrap();
        assert_eq!(d.len(), 1, "{v}");
        assert_eq!(d[0]["recipient"], "requester");
        app.run_jobs().await;
        let v = get_ok(app, MARTIN, &format!("/api/v1/cases/{id}/report")).await;
        assert_eq!(v["items"][0]["deliveries"][0]["status"], "not_sent");
        assert!(
            v["items"][0]["deliveries"][0]["last_error"]
                .as_str()
                .unwrap()
                .contains("smtp_url")
        );
    }
);
