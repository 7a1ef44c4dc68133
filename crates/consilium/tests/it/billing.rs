//! Billing through HTTP on both backends: acts recorded with the answer (R3, R4, R11),
//! nothing when declined (R8), same MSP (R15), annual limits (R14), counters, exports per
//! professional and per establishment (R17), CSV and JSON.

use crate::both;
use crate::harness::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

const MARTIN: &str = "csl_demo_martin";
const PETIT: &str = "csl_demo_petit";
const MOREAU: &str = "csl_demo_moreau";
const BERNARD: &str = "csl_demo_bernard";
const ROUX: &str = "csl_demo_roux";
const LEFEBVRE: &str = "csl_demo_lefebvre";

/// A case from `requester` to the named expert, accepted and answered. Returns its id.
async fn answered(app: &TestApp, requester: &str, expert: &str, patient: Option<&str>) -> String {
    let expert_id = app.me(expert).await;
    let mut target = json!({"expert_id": expert_id});
    if let Some(p) = patient {
        target["patient_id"] = json!(p);
        target
            .as_object_mut()
            .unwrap()
            .insert("patient".into(), Value::Null);
    }
    let c = app.submitted_case(requester, target).await;
    let id = c["id"].as_str().unwrap().to_string();
    app.ok(expert, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    app.ok(
        expert,
        &format!("/api/v1/cases/{id}/answer"),
        json!({"kind": "advice", "answer": "Bilan lipidique", "recommendations": "Contrôle à 3 mois"}),
    )
    .await;
    id
}

fn decision<'a>(b: &'a Value, side: &str) -> &'a Value {
    b["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["side"] == side)
        .unwrap_or_else(|| panic!("no {side} decision in {b}"))
}

both!(acts_are_recorded_with_the_answer, |app| {
    app.seed_demo().await;
    let id = answered(app, MARTIN, BERNARD, None).await;
    let (s, b) = app
        .get(MARTIN, &format!("/api/v1/cases/{id}/billing"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "recorded");
    let rqd = decision(&b, "requester");
    assert_eq!(rqd["code"], "RQD");
    assert_eq!(rqd["billable"], true);
    assert_eq!(rqd["amount_cents"], 1000, "R11: RQD 10 €");
    let te2 = decision(&b, "expert");
    assert_eq!(te2["code"], "TE2");
    assert_eq!(te2["amount_cents"], 2300, "R11: TE2 23 € in November 2026");
    assert_eq!(te2["tiers_payant"], true);
    assert!(te2["explanation"].as_str().unwrap().contains("23,00 €"));
    let acts = b["acts"].as_array().unwrap();
    assert_eq!(acts.len(), 2);
    assert!(
        acts.iter()
            .all(|a| a["rpps"].as_str().is_some_and(|r| r.starts_with("199999")))
    );
    // The expert sees the same; a stranger does not see the case at all.
    let (s, _) = app
        .get(BERNARD, &format!("/api/v1/cases/{id}/billing"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get(ROUX, &format!("/api/v1/cases/{id}/billing")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_count("case.billing", "denied").await, 1);

    // The professional's acts for the month, JSON and CSV, and counters.
    let (s, v) = app.get(MARTIN, "/api/v1/billing/acts?month=2026-11").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mine: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["case_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["code"], "RQD");
    assert_eq!(mine[0]["amount"], "10.00");
    assert_eq!(mine[0]["tiers_payant"], true);
    assert_eq!(mine[0]["establishment_name"], "MSP des Tilleuls");
    let r = app
        .client
        .get(format!(
            "{}/api/v1/billing/acts?month=2026-11&format=csv",
            app.base
        ))
        .bearer_auth(MARTIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("date;code;montant_eur;tiers_payant;rpps")
    );
    assert!(
        csv.lines()
            .any(|l| l.contains("\"RQD\";\"10.00\";\"oui\";\"199999")),
        "{csv}"
    );
    // Another month: nothing of this case.
    let (_, v) = app.get(MARTIN, "/api/v1/billing/acts?month=2026-10").await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|a| a["case_id"] != id.as_str())
    );
    let (s, v) = app.get(MARTIN, "/api/v1/billing/acts?month=2026-13").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = app.get(MARTIN, "/api/v1/billing/acts?format=xml").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = app.get(BERNARD, "/api/v1/billing/counters").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["counters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["code"] == "TE2" && c["used"] == 1 && c["limit"] == 4)
    );
});

both!(same_msp_declined_and_limits, |app| {
    app.seed_demo().await;
    // R15: the nurse asks the GP of her own MSP: nothing is billable on either side.
    let id = answered(app, PETIT, MARTIN, None).await;
    let (_, b) = app.get(PETIT, &format!("/api/v1/cases/{id}/billing")).await;
    for side in ["requester", "expert"] {
        assert_eq!(decision(&b, side)["billable"], false, "{b}");
        assert_eq!(decision(&b, side)["rule"], "R15");
    }
    assert!(b["acts"].as_array().unwrap().is_empty());

    // R8: declined, nothing; the billing is provisional (no answer).
    let bernard = app.me(BERNARD).await;
    let c = app
        .submitted_case(MARTIN, json!({"expert_id": bernard}))
        .await;
    let did = c["id"].as_str().unwrap();
    app.ok(
        BERNARD,
        &format!("/api/v1/cases/{did}/decline"),
        json!({"reason": "out_of_scope"}),
    )
    .await;
    let (_, b) = app
        .get(MARTIN, &format!("/api/v1/cases/{did}/billing"))
        .await;
    assert_eq!(b["status"], "provisional");
    assert_eq!(decision(&b, "requester")["rule"], "R8");
    assert_eq!(decision(&b, "expert")["billable"], false);

    // R14: a physiotherapist bills RQD twice a year for one patient, not a third time;
    // the cardiologist keeps billing TE2 (limit 4).
    let first = answered(app, MOREAU, BERNARD, None).await;
    let (_, b) = app
        .get(MOREAU, &format!("/api/v1/cases/{first}/billing"))
        .await;
    let patient = b["acts"][0]["patient_id"].as_str().unwrap().to_string();
    let mut rqd = vec![decision(&b, "requester")["billable"].clone()];
    for _ in 0..2 {
        app.clock.advance_seconds(3600 * 24 * 2);
        let id = answered(app, MOREAU, BERNARD, Some(&patient)).await;
        let (_, b) = app
            .get(MOREAU, &format!("/api/v1/cases/{id}/billing"))
            .await;
        rqd.push(decision(&b, "requester")["billable"].clone());
        assert_eq!(decision(&b, "expert")["billable"], true, "{b}");
        if rqd.len() == 3 {
            assert_eq!(decision(&b, "requester")["rule"], "R14");
            assert_eq!(decision(&b, "requester")["counter"]["used"], 2);
            assert_eq!(decision(&b, "requester")["counter"]["limit"], 2);
        }
    }
    assert_eq!(rqd, vec![json!(true), json!(true), json!(false)]);
    let n = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM billable_acts WHERE patient_id = '{patient}' AND code = 'RQD'"
        ))
        .await;
    assert_eq!(n, 2);
});

both!(establishment_export_is_for_its_administrators, |app| {
    app.seed_demo().await;
    let orgs = app.platform.list_organisations().await.unwrap();
    let chu = orgs
        .iter()
        .find(|o| o.kind == "hospital_service")
        .unwrap()
        .id
        .clone();
    // A CHU dermatologist answers a GP: the TE2 act belongs to the CHU's export (R17).
    let id = answered(app, MARTIN, ROUX, None).await;
    let path = format!("/api/v1/billing/establishments/{chu}/acts?month=2026-11");
    let (s, v) = app.get(LEFEBVRE, &path).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let acts = v.as_array().unwrap();
    assert!(acts.iter().any(|a| a["case_id"] == id.as_str()
        && a["code"] == "TE2"
        && a["establishment_finess"].is_string()));
    assert!(acts.iter().all(|a| a["establishment_id"] == chu.as_str()));
    // Not an administrator of the CHU: not found, and audited.
    for token in [ROUX, MARTIN] {
        let (s, _) = app.get(token, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.audit_count("billing.establishment", "denied").await, 2);
    let r = app
        .client
        .get(format!("{}{path}&format=csv", app.base))
        .bearer_auth(LEFEBVRE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.contains("\"TE2\";\"23.00\";\"oui\""), "{csv}");
});
