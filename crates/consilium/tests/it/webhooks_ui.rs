//! The webhook pages of the web interface, over HTTP on both backends: a professional's
//! own (`/me/webhooks`, linked from the account page) and an organisation's
//! (`/admin/webhooks`, its administrators). Registering shows the secret once; the list
//! shows events, last delivery and creation date in French; a new secret signs the next
//! deliveries; deletion stops them. Forms without the session's token change nothing;
//! someone else's webhook is 404; a bad URL is a clear French error and stores nothing.

use crate::both_with;
use crate::harness::TestApp;
use crate::signin::signed_in;
use crate::ui::signed_in_2fa;
use crate::webhooks::{Receiver, new_event, signed, stored_secret};
use reqwest::StatusCode;

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";
const MARTIN: &str = "csl_demo_martin";

/// The secret shown on a page (the value of its read-only field).
fn shown_secret(body: &str) -> String {
    let start = body.find("value=\"whsec_").expect("a secret on the page") + 7;
    body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A page's text with the escaped apostrophes and quotes put back, to look for sentences.
fn text(body: &str) -> String {
    body.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.scalar(sql).await
}

/// The webhook ids of a professional (by token), from the API.
async fn my_hooks(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let (s, v) = app.get(token, "/api/v1/me/webhooks").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

both_with!(
    own_webhooks_page,
    |c: &mut consilium::config::Config| c.webhook_allow_loopback = true,
    |app| {
        app.seed_demo().await;
        app.run_jobs().await;
        let (rx, base, task) = Receiver::start().await;
        let mut b = signed_in(app, "petit").await;

        // Linked from the account page; empty at first; French by default.
        let account = b.get("/auth/sessions").await;
        assert!(account.body.contains("href=\"/me/webhooks\""));
        let page = b.get("/me/webhooks").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Mes webhooks"));
        assert!(text(&page.body).contains("Aucun webhook pour l'instant."));
        assert!(page.body.contains("Demande envoyée"), "the events offered");
        let csrf = page.field("csrf");

        // Without the form token: 403 (audited), nothing stored.
        let denied_before = app.audit_count("auth.csrf", "denied").await;
        let url = format!("{base}/cabinet");
        let p = b
            .form(
                "/me/webhooks",
                &[("url", url.as_str()), ("events", "case.submitted")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = b
            .form(
                "/me/webhooks",
                &[("url", url.as_str()), ("csrf", "not-the-token")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.audit_count("auth.csrf", "denied").await,
            denied_before + 2
        );
        assert_eq!(count(app, "SELECT COUNT(*) FROM webhooks").await, 0);

        // Bad URLs: 422, a French sentence naming the field, what was typed kept, nothing
        // stored.
        for (bad, says) in [
            (
                "http://logiciel.exemple.fr/consilium",
                "doit utiliser https",
            ),
            ("pas une adresse", "n'est pas une adresse web valide"),
            ("https://10.0.0.1/consilium", "adresse privée ou réservée"),
            ("https://logiciel/consilium", "nom d'hôte complet"),
        ] {
            let p = b
                .form(
                    "/me/webhooks",
                    &[("csrf", &csrf), ("url", bad), ("events", "case.answered")],
                )
                .await;
            assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(p.body.contains("role=\"alert\""), "{bad}");
            assert!(
                text(&p.body).contains("Adresse (URL)") && text(&p.body).contains(says),
                "{bad}: {}",
                p.body
            );
            assert!(p.body.contains("value=\"case.answered\" checked"), "{bad}");
            assert!(!p.body.contains("whsec_"));
        }
        assert_eq!(count(app, "SELECT COUNT(*) FROM webhooks").await, 0);

        // Registered: the secret is shown once, with the notice to copy it now.
        let p = b
            .form(
                "/me/webhooks",
                &[
                    ("csrf", &csrf),
                    ("url", &url),
                    ("events", "case.submitted"),
                    ("events", "case.answered"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
        assert!(p.body.contains("Copiez ce secret maintenant"));
        assert!(p.body.contains("ne sera plus jamais affiché"));
        let secret = shown_secret(&p.body);
        assert_eq!(secret.len(), 6 + 64, "{secret}");
        let hooks = my_hooks(app, PETIT).await;
        assert_eq!(hooks.len(), 1);
        let id = hooks[0]["id"].as_str().unwrap().to_string();
        assert_eq!(
            hooks[0]["events"],
            serde_json::json!(["case.submitted", "case.answered"])
        );
        assert!(stored_secret(app, &id).await.starts_with("kek1:"));

        // Listed: URL, events in French, nothing sent yet, created in Paris time; never
        // the secret again.
        let list = b.get("/me/webhooks").await;
        assert!(list.body.contains(&url));
        assert!(list.body.contains("Demande envoyée, Avis rendu"));
        assert!(text(&list.body).contains("Aucun envoi pour l'instant"));
        assert!(
            list.body.contains("23/11/2026 10:00"),
            "created 2026-11-23T09:00Z shown in Paris time"
        );
        assert!(!list.body.contains(&secret) && !list.body.contains("whsec_"));
        let en = b.get("/me/webhooks?lang=en").await;
        assert!(en.body.contains("My webhooks") && en.body.contains("Request sent"));

        // A delivery, then a failed one: the last outcome is shown.
        let (case, t) = new_event(app).await;
        assert!(signed(&rx.about("/cabinet", &case)[0], &secret, t));
        let list = b.get("/me/webhooks").await;
        assert!(list.body.contains("Distribué"), "{}", list.body);
        rx.fail("/cabinet", &[500]);
        new_event(app).await;
        let list = b.get("/me/webhooks").await;
        assert!(
            list.body.contains("Échec") && list.body.contains("HTTP 500"),
            "{}",
            list.body
        );

        // A new secret: not without the token; then shown once, and it signs from now on.
        let stored = stored_secret(app, &id).await;
        let p = b
            .form(&format!("/me/webhooks/{id}/secret"), &[("csrf", "x")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(stored_secret(app, &id).await, stored);
        let p = b
            .form(&format!("/me/webhooks/{id}/secret"), &[("csrf", &csrf)])
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(
            p.body.contains("Nouveau secret créé")
                && p.body.contains("Copiez ce secret maintenant")
        );
        let new = shown_secret(&p.body);
        assert_ne!(new, secret);
        assert_eq!(my_hooks(app, PETIT).await.len(), 1, "the same webhook");
        let (case, t) = new_event(app).await;
        let got = rx.about("/cabinet", &case);
        assert!(signed(&got[0], &new, t) && !signed(&got[0], &secret, t));

        // Someone else's webhook does not exist here: 404, nothing changes.
        let (s, theirs) = app
            .post(
                ROUX,
                "/api/v1/me/webhooks",
                serde_json::json!({"url": format!("{base}/roux")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let theirs = theirs["id"].as_str().unwrap().to_string();
        let their_secret = stored_secret(app, &theirs).await;
        for action in ["secret", "delete"] {
            let p = b
                .form(
                    &format!("/me/webhooks/{theirs}/{action}"),
                    &[("csrf", &csrf)],
                )
                .await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}");
            assert!(!p.body.contains("whsec_"));
        }
        assert_eq!(stored_secret(app, &theirs).await, their_secret);
        assert_eq!(my_hooks(app, ROUX).await.len(), 1);
        assert_eq!(app.audit_count("webhook.delete", "denied").await, 1);
        assert_eq!(app.audit_count("webhook.rotate_secret", "denied").await, 1);
        let p = b.form("/me/webhooks/nope/delete", &[("csrf", &csrf)]).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);

        // At most 10: the eleventh is refused with a French sentence.
        for i in 0..9 {
            let (s, _) = app
                .post(
                    PETIT,
                    "/api/v1/me/webhooks",
                    serde_json::json!({"url": format!("{base}/extra{i}")}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let p = b
            .form(
                "/me/webhooks",
                &[("csrf", &csrf), ("url", "https://logiciel.exemple.fr/onze")],
            )
            .await;
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert!(p.body.contains("10 webhooks au plus"), "{}", p.body);
        assert_eq!(my_hooks(app, PETIT).await.len(), 10);

        // Deletion: not without the token; then gone, and nothing more is sent to it.
        let p = b
            .form(&format!("/me/webhooks/{id}/delete"), &[("csrf", "")])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert_eq!(my_hooks(app, PETIT).await.len(), 10);
        let p = b
            .form(&format!("/me/webhooks/{id}/delete"), &[("csrf", &csrf)])
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location(), "/me/webhooks?done=webhook_deleted");
        let list = b.get(p.location()).await;
        assert!(list.body.contains("Webhook supprimé."));
        assert!(!list.body.contains(&url));
        let (case, _) = new_event(app).await;
        assert!(rx.about("/cabinet", &case).is_empty());
        task.abort();
    }
);

both_with!(
    organisation_webhooks_page,
    |c: &mut consilium::config::Config| c.webhook_allow_loopback = true,
    |app| {
        app.seed_demo().await;
        app.run_jobs().await;
        let (rx, base, task) = Receiver::start().await;
        // Petit, a member of the MSP but not its administrator: no such page, and her
        // posts change nothing.
        let mut petit = signed_in(app, "petit").await;
        let own = petit.get("/me/webhooks").await;
        assert!(!own.body.contains("href=\"/admin/webhooks\""));
        let p = petit.get("/admin/webhooks").await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        let petit_csrf = own.field("csrf");
        let url = format!("{base}/msp");
        let p = petit
            .form(
                "/admin/webhooks",
                &[("csrf", &petit_csrf), ("url", url.as_str())],
            )
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(count(app, "SELECT COUNT(*) FROM webhooks").await, 0);

        // Martin administers the MSP: in his menu, the organisation's page.
        let mut martin = signed_in_2fa(app, "martin").await;
        let page = martin.get("/admin/webhooks").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("href=\"/admin/webhooks\""));
        assert!(page.body.contains("<h1>Webhooks de l"), "{}", page.body);
        let csrf = page.field("csrf");
        let p = martin
            .form("/admin/webhooks", &[("url", url.as_str())])
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let p = martin
            .form(
                "/admin/webhooks",
                &[("csrf", &csrf), ("url", "https://192.168.1.20/msp")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.body.contains("adresse privée ou réservée"));
        assert_eq!(count(app, "SELECT COUNT(*) FROM webhooks").await, 0);
        let p = martin
            .form("/admin/webhooks", &[("csrf", &csrf), ("url", url.as_str())])
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
        let secret = shown_secret(&p.body);
        assert!(
            p.body
                .contains("class=\"btn primary\" href=\"/admin/webhooks\""),
            "back to the organisation's page"
        );
        let id: String = {
            let sql = "SELECT id FROM webhooks WHERE owner_kind = 'organisation'";
            crate::with_pool!(app.db(), |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap()
        };
        let list = martin.get("/admin/webhooks").await;
        assert!(list.body.contains(&url) && list.body.contains("Tous les événements"));
        assert!(my_hooks(app, MARTIN).await.is_empty(), "not his own");

        // The MSP's webhook hears its member Petit's requests, signed with its secret.
        let (case, t) = new_event(app).await;
        assert!(signed(&rx.about("/msp", &case)[0], &secret, t));

        // Petit cannot touch it through her own page either.
        for action in ["secret", "delete"] {
            let p = petit
                .form(
                    &format!("/me/webhooks/{id}/{action}"),
                    &[("csrf", &petit_csrf)],
                )
                .await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}");
        }
        // Martin's organisation page cannot reach Petit's own webhook.
        let (_, hers) = app
            .post(
                PETIT,
                "/api/v1/me/webhooks",
                serde_json::json!({"url": format!("{base}/petit")}),
            )
            .await;
        let hers = hers["id"].as_str().unwrap().to_string();
        let p = martin
            .form(
                &format!("/admin/webhooks/{hers}/delete"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(my_hooks(app, PETIT).await.len(), 1);

        // A new secret, then deletion, by the administrator.
        let p = martin
            .form(&format!("/admin/webhooks/{id}/secret"), &[("csrf", &csrf)])
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        let new = shown_secret(&p.body);
        assert_ne!(new, secret);
        let (case, t) = new_event(app).await;
        assert!(signed(&rx.about("/msp", &case)[0], &new, t));
        let p = martin
            .form(&format!("/admin/webhooks/{id}/delete"), &[("csrf", &csrf)])
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
        assert_eq!(p.location(), "/admin/webhooks?done=webhook_deleted");
        assert!(
            martin
                .get(p.location())
                .await
                .body
                .contains("Webhook supprimé.")
        );
        assert_eq!(
            count(
                app,
                "SELECT COUNT(*) FROM webhooks WHERE owner_kind = 'organisation'"
            )
            .await,
            0
        );
        task.abort();
    }
);
