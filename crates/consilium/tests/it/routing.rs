//! Team assignment policies through HTTP and the job queue (issue 5): `auto_assign` (round
//! robin balance, an offer lapsing to the next member, then to the assigners),
//! `moderated` (members cannot claim; the assigner assigns), `hybrid` (the pool first,
//! then the platform assigns what nobody claimed). On SQLite and PostgreSQL.

use crate::harness::TestApp;
use consilium::directory::model::{
    AssignStrategy, NewTeam, NewTeamMember, TeamPolicy, TeamRouting,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const GARNIER: &str = "csl_demo_garnier";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const HOUR: i64 = 3600;

/// A dermatology team in the demo hospital with these members (token, is assigner).
async fn team(
    app: &TestApp,
    policy: TeamPolicy,
    accept_hours: i64,
    members: &[(&str, bool)],
) -> String {
    let org = app
        .platform
        .list_teams(Some("SM15"))
        .await
        .unwrap()
        .first()
        .expect("the demo dermatology team")
        .organisation_id
        .clone();
    let mut list = Vec::new();
    for (token, assigner) in members {
        list.push(NewTeamMember {
            professional_id: app.me(token).await,
            is_assigner: *assigner,
        });
    }
    app.platform
        .create_team(
            &TestApp::system(),
            NewTeam {
                organisation_id: org,
                name: format!("Dermatologie {}", policy.as_str()),
                specialty: "SM15".into(),
                policy,
                routing: TeamRouting {
                    assign_strategy: AssignStrategy::RoundRobin,
                    accept_hours,
                    hybrid_hours: 2,
                },
                members: list,
            },
        )
        .await
        .unwrap()
        .id
}

async fn case(app: &TestApp, id: &str) -> Value {
    let (s, v) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn notified(app: &TestApp, who: &str, kind: &str, case: &str) -> bool {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM notifications WHERE professional_id = '{who}' AND kind = '{kind}' AND case_id = '{case}'"
    ))
    .await
        > 0
}

crate::both!(auto_assign_offers_in_turn_then_to_the_assigner, |app| {
    app.seed_demo().await;
    let members = [
        (ROUX, false),
        (FONTAINE, false),
        (GARNIER, false),
        (LEFEBVRE, true),
    ];
    let t = team(app, TeamPolicy::AutoAssign, 4, &members).await;
    let mut ids = HashMap::new();
    for (token, _) in members {
        ids.insert(app.me(token).await, token);
    }
    // Round robin: 8 requests over 4 members, 2 each.
    let mut cases = Vec::new();
    let mut load: HashMap<String, usize> = HashMap::new();
    for _ in 0..8 {
        let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
        assert_eq!(c["state"], "assigned", "{c}");
        let who = c["assigned_expert"]["id"].as_str().unwrap().to_string();
        assert!(ids.contains_key(&who));
        assert!(notified(app, &who, "offered", c["id"].as_str().unwrap()).await);
        *load.entry(who).or_default() += 1;
        cases.push(c["id"].as_str().unwrap().to_string());
    }
    assert_eq!(load.len(), 4);
    assert!(load.values().all(|n| *n == 2), "{load:?}");

    // The first case's offer lapses: the next member gets it, the first no longer sees it.
    let first = cases[0].clone();
    let x1 = case(app, &first).await["assigned_expert"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(4 * HOUR - 60).await;
    assert_eq!(
        case(app, &first).await["assigned_expert"]["id"],
        x1.as_str(),
        "not yet"
    );
    app.advance(120).await;
    let c = case(app, &first).await;
    let x2 = c["assigned_expert"]["id"].as_str().unwrap().to_string();
    assert_eq!(c["state"], "assigned");
    assert_ne!(x2, x1);
    if ids[&x1] != LEFEBVRE {
        // (The assigner sees the team's cases anyway.)
        let (s, _) = app.get(ids[&x1], &format!("/api/v1/cases/{first}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "the lapsed expert lost the case");
    }
    assert!(notified(app, &x2, "offered", &first).await);
    // The second accepts in time: the later timer leaves the case alone.
    app.ok(
        ids[&x2],
        &format!("/api/v1/cases/{first}/accept"),
        json!({}),
    )
    .await;
    app.advance(5 * HOUR).await;
    let c = case(app, &first).await;
    assert_eq!(
        (c["state"].as_str(), c["assigned_expert"]["id"].as_str()),
        (Some("in_progress"), Some(x2.as_str()))
    );

    // An offered expert who cannot take it gives it back to the team: the next member is
    // offered it at once, never the one who gave it back.
    let back = cases[2].clone();
    let x = case(app, &back).await["assigned_expert"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        ids[&x],
        &format!("/api/v1/cases/{back}/forward"),
        serde_json::json!({"team_id": t, "comment": "Absente cette semaine"}),
    )
    .await;
    app.run_jobs().await;
    let c = case(app, &back).await;
    assert_eq!(c["state"], "assigned", "{c}");
    assert_ne!(c["assigned_expert"]["id"], x.as_str());

    // Another case nobody accepts: offered to each member once, then to the assigner.
    let other = cases[1].clone();
    for _ in 0..4 {
        app.advance(4 * HOUR + 60).await;
    }
    let c = case(app, &other).await;
    assert_eq!(c["state"], "submitted", "{c}");
    assert!(c["assigned_expert"].is_null());
    let tried = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM case_offers WHERE case_id = '{other}'"
        ))
        .await;
    assert_eq!(tried, 4, "each member offered it once");
    let lefebvre = app.me(LEFEBVRE).await;
    assert!(notified(app, &lefebvre, "to_assign", &other).await);
    // Nothing more happens by itself; the assigner assigns.
    app.advance(24 * HOUR).await;
    assert_eq!(case(app, &other).await["state"], "submitted");
    let roux = app.me(ROUX).await;
    app.ok(
        LEFEBVRE,
        &format!("/api/v1/cases/{other}/assign"),
        json!({"expert_id": roux}),
    )
    .await;
    assert!(app.audit_count("case.route", "success").await >= 5);
});

crate::both!(moderated_teams_are_assigned_by_their_assigner, |app| {
    app.seed_demo().await;
    let t = team(
        app,
        TeamPolicy::Moderated,
        24,
        &[(ROUX, false), (FONTAINE, false), (LEFEBVRE, true)],
    )
    .await;
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["state"], "submitted");
    let lefebvre = app.me(LEFEBVRE).await;
    assert!(notified(app, &lefebvre, "to_assign", id).await);
    let denied = app.audit_count("case.accept", "denied").await;
    let (s, v) = app
        .post(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(app.audit_count("case.accept", "denied").await, denied + 1);
    assert_eq!(case(app, id).await["state"], "submitted", "nothing changed");
    let roux = app.me(ROUX).await;
    app.ok(
        LEFEBVRE,
        &format!("/api/v1/cases/{id}/assign"),
        json!({"expert_id": roux}),
    )
    .await;
    let v = app
        .ok(ROUX, &format!("/api/v1/cases/{id}/accept"), json!({}))
        .await;
    assert_eq!(v["state"], "in_progress");
});

crate::both!(hybrid_teams_assign_what_nobody_claimed, |app| {
    app.seed_demo().await;
    let t = team(
        app,
        TeamPolicy::Hybrid,
        24,
        &[(ROUX, false), (FONTAINE, false), (LEFEBVRE, true)],
    )
    .await;
    let claimed = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let claimed = claimed["id"].as_str().unwrap();
    let waiting = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let waiting = waiting["id"].as_str().unwrap();
    assert_eq!(case(app, waiting).await["state"], "submitted");
    app.advance(HOUR).await;
    app.ok(
        FONTAINE,
        &format!("/api/v1/cases/{claimed}/accept"),
        json!({}),
    )
    .await;
    app.advance(HOUR + 60).await;
    // After 2 hours in the pool: the unclaimed one is offered to a member, the claimed one
    // is left with Fontaine.
    let c = case(app, waiting).await;
    assert_eq!(c["state"], "assigned", "{c}");
    let who = c["assigned_expert"]["id"].as_str().unwrap();
    assert!(notified(app, who, "offered", waiting).await);
    let c = case(app, claimed).await;
    assert_eq!(c["state"], "in_progress");
    assert_eq!(c["assigned_expert"]["id"], app.me(FONTAINE).await.as_str());
});
