//! Stored routing rules (issue 5) through HTTP, on SQLite and PostgreSQL: acceptance rules
//! and absences set by experts, a team's rules and rota set by its organisation's
//! administrator; submission refused when they exclude the request; `auto_assign` skipping
//! excluded and absent members (their delegate standing in) and following the rota; the
//! requester's search with expected delays; the assigner's team board.

use crate::harness::{T0, TestApp};
use consilium::auth::{hash_token, insert_token};
use consilium::directory::model::{
    AssignStrategy, NewProfessional, NewTeam, NewTeamMember, TeamPolicy, TeamRouting,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PETIT: &str = "csl_demo_petit";
const MARTIN: &str = "csl_demo_martin";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const GARNIER: &str = "csl_demo_garnier";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const BERNARD: &str = "csl_demo_bernard";
const HOUR: i64 = 3600;

fn at(offset_seconds: i64) -> String {
    consilium::kernel::Timestamp(T0)
        .plus_seconds(offset_seconds)
        .to_rfc3339()
}

/// The current instant of the test clock, RFC 3339, shifted.
fn now_plus(app: &TestApp, seconds: i64) -> String {
    app.platform.now().plus_seconds(seconds).to_rfc3339()
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn message(v: &Value, field: &str) -> String {
    v["errors"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["field"] == field))
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// A request that must succeed (2xx); returns the body.
async fn call_ok(app: &TestApp, method: &str, token: &str, path: &str, body: Value) -> Value {
    let body = (!body.is_null()).then_some(body);
    let (s, v) = app.call(method, Some(token), path, body, None).await;
    assert!(s.is_success(), "{method} {path} → {s}: {v}");
    v
}

/// A draft with consent to `target`, then the submission's answer.
async fn try_submit(app: &TestApp, requester: &str, target: Value) -> (StatusCode, Value) {
    let c = app.draft(requester, target).await;
    let id = c["id"].as_str().unwrap().to_string();
    app.consent(requester, &id).await;
    app.post(requester, &format!("/api/v1/cases/{id}/submit"), json!({}))
        .await
}

/// A team of the demo hospital (whose administrator is Lefebvre).
async fn team(app: &TestApp, policy: TeamPolicy, members: &[(&str, bool)]) -> String {
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
                    accept_hours: 4,
                    hybrid_hours: 2,
                },
                members: list,
            },
        )
        .await
        .unwrap()
        .id
}

crate::both!(experts_set_their_rules_and_absences, |app| {
    app.seed_demo().await;
    let (_, mine) = app.get(ROUX, "/api/v1/me/routing").await;
    assert_eq!(mine["rules"]["professions"], json!([]));
    assert_eq!(mine["absences"], json!([]));

    // Every bad field is named.
    let (s, v) = app
        .put(
            ROUX,
            "/api/v1/me/acceptance-rules",
            json!({"professions": ["60", "77"], "departements": ["87", "20"], "regions": ["12"],
                   "postcodes": ["870"], "max_open": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        fields(&v),
        vec![
            "professions[1]",
            "departements[1]",
            "regions[0]",
            "postcodes[0]",
            "max_open"
        ]
    );
    let (s, v) = app
        .put(ROUX, "/api/v1/me/acceptance-rules", json!({"max_open": -1}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = app
        .put(ROUX, "/api/v1/me/acceptance-rules", json!({"unknown": 1}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let rules = json!({"professions": ["10", "60"], "departements": ["87", "2a"], "regions": ["75"],
                       "postcodes": ["33000"], "max_open": 12});
    let v = call_ok(app, "PUT", ROUX, "/api/v1/me/acceptance-rules", rules).await;
    assert_eq!(v["departements"], json!(["87", "2A"]), "normalised");
    let (_, mine) = app.get(ROUX, "/api/v1/me/routing").await;
    assert_eq!(mine["rules"]["max_open"], 12);
    assert_eq!(mine["rules"]["regions"], json!(["75"]));
    assert_eq!(
        app.audit_count("rules.set", "success").await,
        2,
        "with the demo's"
    );

    // Only doctors and midwives receive requests (R4): a nurse is refused, audited.
    let (s, _) = app
        .put(PETIT, "/api/v1/me/acceptance-rules", json!({"max_open": 3}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .post(
            PETIT,
            "/api/v1/me/absences",
            json!({"from": at(HOUR), "to": at(2 * HOUR)}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("rules.set", "denied").await, 1);
    assert_eq!(app.audit_count("absence.create", "denied").await, 1);

    // Absences: from < to, not over, a delegate who may answer, no overlap.
    let petit = app.me(PETIT).await;
    let fontaine = app.me(FONTAINE).await;
    let roux = app.me(ROUX).await;
    for (body, field) in [
        (json!({"from": at(2 * HOUR), "to": at(HOUR)}), "to"),
        (json!({"from": at(-3 * HOUR), "to": at(-HOUR)}), "to"),
        (
            json!({"from": at(HOUR), "to": at(2 * HOUR), "delegate_id": petit}),
            "delegate_id",
        ),
        (
            json!({"from": at(HOUR), "to": at(2 * HOUR), "delegate_id": roux}),
            "delegate_id",
        ),
        (
            json!({"from": at(HOUR), "to": at(2 * HOUR), "delegate_id": "nobody"}),
            "delegate_id",
        ),
        (json!({"from": "demain", "to": at(2 * HOUR)}), "from"),
    ] {
        let (s, v) = app.post(ROUX, "/api/v1/me/absences", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(fields(&v), vec![field.to_string()], "{body}: {v}");
    }
    let (s, a) = app
        .post(
            ROUX,
            "/api/v1/me/absences",
            json!({"from": at(24 * HOUR), "to": at(72 * HOUR), "delegate_id": fontaine}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["delegate"]["id"], fontaine.as_str());
    let (s, v) = app
        .post(
            ROUX,
            "/api/v1/me/absences",
            json!({"from": at(48 * HOUR), "to": at(96 * HOUR)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v, "from").contains("overlaps"), "{v}");
    let (_, mine) = app.get(ROUX, "/api/v1/me/routing").await;
    assert_eq!(mine["absences"].as_array().unwrap().len(), 1);

    // The administrator of Roux's organisation reads them; another administrator cannot.
    let (s, v) = app
        .get(
            LEFEBVRE,
            &format!("/api/v1/directory/professionals/{roux}/routing"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["rules"]["max_open"], 12);
    let (s, _) = app
        .get(
            MARTIN,
            &format!("/api/v1/directory/professionals/{roux}/routing"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Only Roux deletes his absence.
    let path = format!("/api/v1/me/absences/{}", a["id"].as_str().unwrap());
    let (s, _) = app.call("DELETE", Some(FONTAINE), &path, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.call("DELETE", Some(ROUX), &path, None, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call("DELETE", Some(ROUX), &path, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_count("absence.delete", "success").await, 1);
    assert_eq!(app.audit_count("absence.delete", "denied").await, 2);
});

crate::both!(
    submission_is_refused_when_rules_exclude_the_request,
    |app| {
        app.seed_demo().await;
        let bernard = app.me(BERNARD).await;
        let roux = app.me(ROUX).await;
        let fontaine = app.me(FONTAINE).await;
        let derm = app.team_id(LEFEBVRE).await;

        // Profession: Bernard takes doctors only; the nurse is told which rule, the GP is not.
        call_ok(
            app,
            "PUT",
            BERNARD,
            "/api/v1/me/acceptance-rules",
            json!({"professions": ["10"]}),
        )
        .await;
        let (s, v) = try_submit(app, PETIT, json!({"expert_id": bernard})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v, "expert_id").contains("Infirmier"), "{v}");
        let (s, v) = try_submit(app, MARTIN, json!({"expert_id": bernard})).await;
        assert_eq!(s, StatusCode::OK, "{v}");

        // Territory: Gironde only; the MSP is in Limoges (87000).
        call_ok(
            app,
            "PUT",
            BERNARD,
            "/api/v1/me/acceptance-rules",
            json!({"departements": ["33"]}),
        )
        .await;
        let (s, v) = try_submit(app, MARTIN, json!({"expert_id": bernard})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v, "expert_id").contains("87000"), "{v}");
        // A region containing Limoges accepts it.
        let held = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM cases WHERE assigned_expert_id = '{bernard}' AND state IN ('assigned', 'in_progress', 'awaiting_info')"
        ))
        .await;
        call_ok(
            app,
            "PUT",
            BERNARD,
            "/api/v1/me/acceptance-rules",
            json!({"regions": ["75"], "max_open": held + 1}),
        )
        .await;
        let (s, v) = try_submit(app, MARTIN, json!({"expert_id": bernard})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Load cap: Bernard now holds as many open cases as he accepts.
        let (s, v) = try_submit(app, MARTIN, json!({"expert_id": bernard})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(
            message(&v, "expert_id").contains(&format!("maximum of {}", held + 1)),
            "{v}"
        );

        // An absent expert: refused, naming the return date and the delegate, whom the requester
        // may choose instead.
        call_ok(app,
        "POST",
        ROUX,
        "/api/v1/me/absences",
        json!({"from": now_plus(app, -60), "to": now_plus(app, 3 * 24 * HOUR), "delegate_id": fontaine}),
    )
    .await;
        let (s, v) = try_submit(app, PETIT, json!({"expert_id": roux})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let m = message(&v, "expert_id");
        assert!(m.contains("absent until") && m.contains(&fontaine), "{m}");
        assert!(m.contains("Hugo Fontaine"), "{m}");
        let (s, v) = try_submit(app, PETIT, json!({"expert_id": fontaine})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Back: accepted again.
        app.advance(3 * 24 * HOUR).await;
        let (s, v) = try_submit(app, PETIT, json!({"expert_id": roux})).await;
        assert_eq!(s, StatusCode::OK, "{v}");

        // The team's rules, set by the administrator of its organisation only.
        let path = format!("/api/v1/directory/teams/{derm}/acceptance-rules");
        let (s, _) = app.put(ROUX, &path, json!({"regions": ["11"]})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(app.audit_count("team.rules", "denied").await, 1);
        let (s, v) = app
            .put(LEFEBVRE, &path, json!({"departements": ["99"]}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(fields(&v), vec!["departements[0]"]);
        call_ok(app, "PUT", LEFEBVRE, &path, json!({"regions": ["11"]})).await;
        let (s, v) = try_submit(app, PETIT, json!({"team_id": derm})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v, "team_id").contains("territory"), "{v}");
        // Nurses only, and at most as many open cases as the team holds now.
        let open = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM cases WHERE team_id = '{derm}' AND state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info')"
        ))
        .await;
        call_ok(
            app,
            "PUT",
            LEFEBVRE,
            &path,
            json!({"professions": ["60"], "max_open": open + 1}),
        )
        .await;
        let (s, v) = try_submit(app, MARTIN, json!({"team_id": derm})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v, "team_id").contains("Médecin"), "{v}");
        let (s, v) = try_submit(app, PETIT, json!({"team_id": derm})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = try_submit(app, PETIT, json!({"team_id": derm})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(message(&v, "team_id").contains("maximum"), "{v}");
        let (_, r) = app
            .get(ROUX, &format!("/api/v1/directory/teams/{derm}/routing"))
            .await;
        assert_eq!(r["rules"]["professions"], json!(["60"]));
    }
);

crate::both!(auto_assign_follows_rules_absences_and_the_rota, |app| {
    app.seed_demo().await;
    let t = team(
        app,
        TeamPolicy::AutoAssign,
        &[
            (ROUX, false),
            (FONTAINE, false),
            (GARNIER, false),
            (LEFEBVRE, true),
        ],
    )
    .await;
    let (roux, fontaine, garnier, lefebvre, bernard) = (
        app.me(ROUX).await,
        app.me(FONTAINE).await,
        app.me(GARNIER).await,
        app.me(LEFEBVRE).await,
        app.me(BERNARD).await,
    );
    // Garnier takes requests from doctors only; Fontaine is away, Bernard (not a member)
    // answering for him.
    call_ok(
        app,
        "PUT",
        GARNIER,
        "/api/v1/me/acceptance-rules",
        json!({"professions": ["10"]}),
    )
    .await;
    call_ok(app,
        "POST",
        FONTAINE,
        "/api/v1/me/absences",
        json!({"from": now_plus(app, -60), "to": now_plus(app, 10 * 24 * HOUR), "delegate_id": bernard}),
    )
    .await;
    let mut got = std::collections::HashMap::<String, usize>::new();
    for _ in 0..6 {
        let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
        assert_eq!(c["state"], "assigned", "{c}");
        *got.entry(c["assigned_expert"]["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        !got.contains_key(&garnier),
        "excluded by her rules: {got:?}"
    );
    assert!(!got.contains_key(&fontaine), "absent: {got:?}");
    assert!(
        got.contains_key(&bernard),
        "the delegate stands in: {got:?}"
    );
    assert_eq!(got.values().sum::<usize>(), 6);
    assert!(
        got.keys()
            .all(|k| [&roux, &lefebvre, &bernard].contains(&k))
    );
    // A doctor's request may go to Garnier.
    let mut garnier_got_one = false;
    for _ in 0..4 {
        let c = app.submitted_case(MARTIN, json!({"team_id": t})).await;
        garnier_got_one |= c["assigned_expert"]["id"] == garnier.as_str();
    }
    assert!(garnier_got_one);

    // A rota: only Roux is on call for the next 6 hours.
    let rota = format!("/api/v1/directory/teams/{t}/rota");
    let (s, v) = app
        .put(
            LEFEBVRE,
            &rota,
            json!({"slots": [{"professional_id": bernard, "from": now_plus(app, 0), "to": now_plus(app, 60)}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(fields(&v), vec!["slots[0].professional_id"]);
    let v = call_ok(app,
            "PUT",
            LEFEBVRE,
            &rota,
            json!({"slots": [
                {"professional_id": roux, "from": now_plus(app, -60), "to": now_plus(app, 6 * HOUR)},
                {"professional_id": garnier, "from": now_plus(app, 6 * HOUR), "to": now_plus(app, 12 * HOUR)}
            ]}),
        )
        .await;
    assert_eq!(v["rota"].as_array().unwrap().len(), 2);
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], roux.as_str(), "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    // Roux lets it lapse: nobody else is on call (Garnier's slot is later and she does not
    // take nurses' requests anyway): it goes to the assigner.
    app.advance(4 * HOUR + 60).await;
    let (_, c) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    assert_eq!(c["state"], "submitted", "{c}");
    assert!(c["assigned_expert"].is_null());
    let told = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE professional_id = '{lefebvre}' AND kind = 'to_assign' AND case_id = '{id}'"
        ))
        .await;
    assert_eq!(told, 1);
    // In Garnier's slot, a doctor's request goes to her.
    app.advance(2 * HOUR).await;
    let c = app.submitted_case(MARTIN, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], garnier.as_str(), "{c}");
    // Without a rota, everyone again.
    call_ok(app, "PUT", LEFEBVRE, &rota, json!({"slots": []})).await;
    let (_, r) = app
        .get(ROUX, &format!("/api/v1/directory/teams/{t}/routing"))
        .await;
    assert_eq!(r["rota"], json!([]));
    assert_eq!(app.audit_count("team.rota", "success").await, 2);
});

/// A new dermatologist of the demo hospital, with a bearer token.
async fn new_dermatologist(app: &TestApp, token: &str, n: u32) -> String {
    let chu = app
        .platform
        .list_teams(Some("SM15"))
        .await
        .unwrap()
        .first()
        .unwrap()
        .organisation_id
        .clone();
    let p = app
        .platform
        .create_professional(
            &TestApp::system(),
            NewProfessional {
                rpps: Some(consilium::demo::demo_rpps(n)),
                adeli: None,
                first_name: "Inès".into(),
                last_name: "Nouvelle".into(),
                profession: "10".into(),
                specialties: vec!["SM15".into()],
                email: None,
            },
            &[(chu, "member")],
        )
        .await
        .unwrap();
    let mut tx = app.db().begin().await.unwrap();
    insert_token(&mut tx, &p.id, &hash_token(token), "test", None, T0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    p.id
}

fn listed(v: &Value, key: &str, id: &str) -> Option<Value> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            let inner = if key == "experts" {
                &o["professional"]
            } else {
                &o["team"]
            };
            inner["id"] == id
        })
        .cloned()
}

crate::both!(
    search_shows_who_would_accept_with_the_expected_delay,
    |app| {
        app.seed_demo().await;
        const NOUVELLE: &str = "csl_test_nouvelle";
        let nouvelle = new_dermatologist(app, NOUVELLE, 601).await;
        let derm = app.team_id(LEFEBVRE).await;
        let (s, v) = app.get(PETIT, "/api/v1/directory/offers").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        let (s, v) = app
            .get(PETIT, "/api/v1/directory/offers?specialty=XX")
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

        let (s, v) = app
            .get(PETIT, "/api/v1/directory/offers?specialty=SM15&limit=100")
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["facts"]["postcode"], "87000");
        assert_eq!(v["facts"]["departement"], "87");
        assert_eq!(v["facts"]["region"], "75");
        let o = listed(&v, "experts", &nouvelle).expect("no rules: listed");
        assert!(o["expected_delay_seconds"].is_null(), "no history: {o}");
        assert_eq!(o["answered_last_90_days"], 0);
        assert!(
            listed(&v, "teams", &derm).is_some(),
            "the demo team takes region 75"
        );

        // Three answers: after 2, 4 and 9 hours; the median is 4 hours.
        for hours in [2, 9, 4] {
            let c = app
                .submitted_case(MARTIN, json!({"expert_id": nouvelle}))
                .await;
            let id = c["id"].as_str().unwrap();
            app.ok(NOUVELLE, &format!("/api/v1/cases/{id}/accept"), json!({}))
                .await;
            app.advance(hours * HOUR).await;
            app.ok(
                NOUVELLE,
                &format!("/api/v1/cases/{id}/answer"),
                json!({"kind": "advice", "answer": "Émollients"}),
            )
            .await;
        }
        // She takes doctors' requests only: never listed for the nurse, listed for the GP.
        call_ok(
            app,
            "PUT",
            NOUVELLE,
            "/api/v1/me/acceptance-rules",
            json!({"professions": ["10"]}),
        )
        .await;
        let (_, v) = app
            .get(PETIT, "/api/v1/directory/offers?specialty=SM15&limit=100")
            .await;
        assert!(listed(&v, "experts", &nouvelle).is_none(), "{v}");
        let (_, v) = app
            .get(MARTIN, "/api/v1/directory/offers?specialty=SM15&limit=100")
            .await;
        let o = listed(&v, "experts", &nouvelle).expect("the GP sees her");
        assert_eq!(o["expected_delay_seconds"], 4 * HOUR, "{o}");
        assert_eq!(o["answered_last_90_days"], 3);
        // Fastest first: the experts with a delay come before those without.
        let delays: Vec<Option<i64>> = v["experts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["expected_delay_seconds"].as_i64())
            .collect();
        let firsts: Vec<i64> = delays.iter().map_while(|d| *d).collect();
        assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert!(
            delays[firsts.len()..].iter().all(Option::is_none),
            "{delays:?}"
        );
        // An absent expert is not offered.
        call_ok(
            app,
            "POST",
            NOUVELLE,
            "/api/v1/me/absences",
            json!({"from": now_plus(app, -60), "to": now_plus(app, 24 * HOUR)}),
        )
        .await;
        let (_, v) = app
            .get(MARTIN, "/api/v1/directory/offers?specialty=SM15&limit=100")
            .await;
        assert!(listed(&v, "experts", &nouvelle).is_none(), "{v}");
        // Her history is 90 days deep.
        app.advance(91 * 24 * HOUR).await;
        let (_, v) = app
            .get(MARTIN, "/api/v1/directory/offers?specialty=SM15&limit=100")
            .await;
        let o = listed(&v, "experts", &nouvelle).expect("back");
        assert!(o["expected_delay_seconds"].is_null(), "{o}");

        // A team whose rules exclude the request is not offered either.
        call_ok(
            app,
            "PUT",
            LEFEBVRE,
            &format!("/api/v1/directory/teams/{derm}/acceptance-rules"),
            json!({"regions": ["11"]}),
        )
        .await;
        let (_, v) = app
            .get(PETIT, "/api/v1/directory/offers?specialty=SM15")
            .await;
        assert!(listed(&v, "teams", &derm).is_none(), "{v}");
    }
);

crate::both!(the_board_shows_load_pool_due_soon_and_overdue, |app| {
    app.seed_demo().await;
    let t = team(
        app,
        TeamPolicy::SelfService,
        &[(ROUX, false), (FONTAINE, false), (LEFEBVRE, true)],
    )
    .await;
    let (roux, fontaine) = (app.me(ROUX).await, app.me(FONTAINE).await);
    let board = format!("/api/v1/directory/teams/{t}/board");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
        ids.push(c["id"].as_str().unwrap().to_string());
        app.advance(HOUR).await;
    }
    app.ok(
        LEFEBVRE,
        &format!("/api/v1/cases/{}/assign", ids[0]),
        json!({"expert_id": roux}),
    )
    .await;
    app.ok(
        FONTAINE,
        &format!("/api/v1/cases/{}/accept", ids[1]),
        json!({}),
    )
    .await;
    let v = call_ok(app, "GET", LEFEBVRE, &board, Value::Null).await;
    assert_eq!(v["open_cases"], 3);
    assert_eq!(v["pool"]["count"], 1);
    assert_eq!(v["pool"]["oldest_age_seconds"], HOUR, "{v}");
    let member = |id: &str| {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["professional_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(member(&roux)["open_cases"], 1);
    assert_eq!(member(&roux)["oldest_age_seconds"], 3 * HOUR);
    assert_eq!(member(&fontaine)["open_cases"], 1);
    assert!(member(&roux)["on_call_now"].is_null(), "no rota");
    assert_eq!(v["due_soon"], json!([]));
    assert_eq!(v["overdue"], json!([]));

    // Five days later all three are due within 48 hours, soonest first.
    app.advance(5 * 24 * HOUR).await;
    let v = call_ok(app, "GET", LEFEBVRE, &board, Value::Null).await;
    let due: Vec<&str> = v["due_soon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(due, ids.iter().map(String::as_str).collect::<Vec<_>>());
    // Past the deadline (before the expiry timer runs): overdue.
    app.clock.advance_seconds(2 * 24 * HOUR - 150 * 60);
    let v = call_ok(app, "GET", LEFEBVRE, &board, Value::Null).await;
    assert_eq!(v["overdue"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["due_soon"].as_array().unwrap().len(), 2, "{v}");

    // A member who is not an assigner, another organisation's administrator: 404, audited.
    let denied = app.audit_count("team.board", "denied").await;
    for who in [ROUX, MARTIN, PETIT] {
        let (s, _) = app.get(who, &board).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.audit_count("team.board", "denied").await, denied + 3);
    // The platform method the web UI calls is the same.
    let lefebvre = consilium::platform::Ctx::new(
        app.platform
            .authenticate(LEFEBVRE)
            .await
            .unwrap()
            .expect("token"),
    );
    let b = app.platform.team_board(&lefebvre, &t).await.unwrap();
    assert_eq!(b.open_cases, 3);
});

crate::both!(replacing_rules_without_a_body_is_refused, |app| {
    app.seed_demo().await;
    let rules = json!({"professions": ["10"], "max_open": 12});
    let (s, v) = app.put(ROUX, "/api/v1/me/acceptance-rules", rules).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // No body at all (not even `{}`): 422, and the rules stay as they were.
    let (s, v) = app
        .call("PUT", Some(ROUX), "/api/v1/me/acceptance-rules", None, None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "body", "{v}");
    let (_, r) = app.get(ROUX, "/api/v1/me/routing").await;
    assert_eq!(r["rules"]["max_open"], 12, "{r}");
    let team = app.team_id("csl_demo_lefebvre").await;
    for path in ["acceptance-rules", "rota"] {
        let (s, _) = app
            .call(
                "PUT",
                Some("csl_demo_lefebvre"),
                &format!("/api/v1/directory/teams/{team}/{path}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    // An explicit `{}` still resets (accept everything).
    let (s, v) = app
        .put(ROUX, "/api/v1/me/acceptance-rules", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
});

crate::both!(auto_assign_follows_the_weekly_rota, |app| {
    app.seed_demo().await;
    let t = team(
        app,
        TeamPolicy::AutoAssign,
        &[(ROUX, false), (FONTAINE, false), (LEFEBVRE, true)],
    )
    .await;
    let (roux, fontaine) = (app.me(ROUX).await, app.me(FONTAINE).await);
    let weekly = format!("/api/v1/directory/teams/{t}/weekly-rota");
    // Bad times and non-members are named.
    let (s, v) = app
        .put(
            LEFEBVRE,
            &weekly,
            json!({"slots": [
                {"professional_id": roux, "day": "monday", "start": "8:00", "end": "13:00"},
                {"professional_id": roux, "day": "monday", "start": "10:00", "end": "24:01"},
                {"professional_id": app.me(BERNARD).await, "day": "monday", "start": "10:00", "end": "11:00"}
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        fields(&v),
        vec!["slots[0].start", "slots[1].end", "slots[2].professional_id"]
    );
    let (s, _) = app.put(FONTAINE, &weekly, json!({"slots": []})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "members do not set the rota");
    // Every Monday, Roux in the morning and Fontaine in the afternoon (Paris time); nights
    // from Friday 20:00 to Saturday 08:00 for Fontaine.
    let v = call_ok(
        app,
        "PUT",
        LEFEBVRE,
        &weekly,
        json!({"slots": [
            {"professional_id": roux, "day": "monday", "start": "08:00", "end": "13:00"},
            {"professional_id": fontaine, "day": "monday", "start": "13:00", "end": "20:00"},
            {"professional_id": fontaine, "day": "friday", "start": "20:00", "end": "08:00"}
        ]}),
    )
    .await;
    assert_eq!(v["weekly_rota"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v["weekly_rota"][0]["start"], "08:00");
    // T0 is Monday 2026-11-23 09:00 UTC, 10:00 in Paris: Roux's morning.
    assert!(
        app.platform
            .now()
            .to_rfc3339()
            .starts_with("2026-11-23T09:00:00")
    );
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], roux.as_str(), "{c}");
    // 11:59 UTC is 12:59 in Paris: still Roux; 12:00 UTC is 13:00: Fontaine.
    app.clock.advance_seconds(3 * HOUR - 60);
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], roux.as_str(), "{c}");
    app.clock.advance_seconds(60);
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], fontaine.as_str(), "{c}");
    // The board says who is on call now.
    let (_, b) = app
        .get(LEFEBVRE, &format!("/api/v1/directory/teams/{t}/board"))
        .await;
    let on_call: Vec<&str> = b["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["on_call_now"] == true)
        .map(|m| m["professional_id"].as_str().unwrap())
        .collect();
    assert_eq!(on_call, vec![fontaine.as_str()], "{b}");
    // Tuesday morning: nobody on call, the request goes to the assigner's pool.
    app.clock.advance_seconds(20 * HOUR);
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert!(c["assigned_expert"].is_null(), "{c}");
    // Friday 23:00 Paris (22:00 UTC) and Saturday 07:59 Paris: Fontaine's night.
    app.clock
        .set(consilium::kernel::Timestamp::parse_rfc3339("2026-11-27T22:00:00Z").unwrap());
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], fontaine.as_str(), "{c}");
    app.clock
        .set(consilium::kernel::Timestamp::parse_rfc3339("2026-11-28T06:59:00Z").unwrap());
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert_eq!(c["assigned_expert"]["id"], fontaine.as_str(), "{c}");
    app.clock
        .set(consilium::kernel::Timestamp::parse_rfc3339("2026-11-28T07:00:00Z").unwrap());
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert!(c["assigned_expert"].is_null(), "{c}");
    // Cleared: no rota, everyone again.
    let v = call_ok(app, "PUT", LEFEBVRE, &weekly, json!({"slots": []})).await;
    assert_eq!(v["weekly_rota"], json!([]));
    let c = app.submitted_case(PETIT, json!({"team_id": t})).await;
    assert!(!c["assigned_expert"].is_null(), "{c}");
    assert_eq!(app.audit_count("team.weekly_rota", "success").await, 2);
});
