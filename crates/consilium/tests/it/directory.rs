//! Directory: search, administration by organisation admins, R4 on teams, disabling.

use crate::both;
use reqwest::StatusCode;

const MARTIN: &str = "csl_demo_martin"; // admin of the MSP
const LEFEBVRE: &str = "csl_demo_lefebvre"; // admin of the CHU dermatology service
const PETIT: &str = "csl_demo_petit";

async fn org_id(app: &crate::harness::TestApp, name_prefix: &str) -> String {
    let (_, v) = app.get(MARTIN, "/api/v1/directory/organisations").await;
    v.as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"].as_str().unwrap().starts_with(name_prefix))
        .map(|o| o["id"].as_str().unwrap().to_string())
        .expect("organisation")
}

both!(search_and_codes, |app| {
    app.seed_demo().await;
    let (s, v) = app
        .get(
            PETIT,
            "/api/v1/directory/professionals?specialty=SM15&experts=true",
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["last_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Fontaine", "Lefebvre", "Roux"]);
    let (_, v) = app
        .get(PETIT, "/api/v1/directory/professionals?q=ber")
        .await;
    assert_eq!(v["items"][0]["display_name"], "Dr Paul Bernard");
    assert_eq!(v["items"][0]["may_be_expert"], true);
    let (_, v) = app
        .get(PETIT, "/api/v1/directory/professionals?q=pet")
        .await;
    assert_eq!(
        v["items"][0]["may_be_expert"], false,
        "a nurse cannot answer (R4)"
    );
    let (s, v) = app.get(PETIT, "/api/v1/codes/professions").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 30);
    let (_, v) = app.get(PETIT, "/api/v1/codes/specialties").await;
    assert!(v.as_array().unwrap().iter().any(|x| x["code"] == "SM54"));
    let (s, _) = app
        .call("GET", None, "/api/v1/directory/professionals", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

both!(admin_adds_members_and_teams, |app| {
    app.seed_demo().await;
    let msp = org_id(app, "MSP").await;
    let new = json!({"professional": {"rpps": "10000000009", "first_name": "Inès", "last_name": "Carpentier", "profession": "10", "specialties": ["SM54"]}});
    // Not an admin of this organisation: 403, audited, nothing created.
    let (s, _) = app
        .post(
            PETIT,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            new.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .post(
            LEFEBVRE,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            new.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(app.audit_count("organisation.add_member", "denied").await >= 2);
    // Invalid identifiers name the field.
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/directory/organisations/{msp}/members"), json!({"professional": {"rpps": "10000000008", "first_name": "A", "last_name": "B", "profession": "10"}}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["errors"][0]["field"], "rpps");
    let (s, p) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            new.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            new,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "duplicate RPPS: {v}");
    let adeli = json!({"professional": {"adeli": "879101558", "first_name": "Zoé", "last_name": "Marchand", "profession": "91"}});
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/organisations/{msp}/members"),
            adeli,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Teams: only doctors and midwives (R4), at least one assigner.
    let petit = app.me(PETIT).await;
    let martin = app.me(MARTIN).await;
    let ines = p["id"].as_str().unwrap();
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/directory/organisations/{msp}/teams"), json!({"name": "Avis MG", "specialty": "SM54", "members": [{"professional_id": petit, "is_assigner": true}]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        v["errors"][0]["message"].as_str().unwrap().contains("R4"),
        "{v}"
    );
    let (s, v) = app
        .post(MARTIN, &format!("/api/v1/directory/organisations/{msp}/teams"), json!({"name": "Avis MG", "specialty": "SM54", "members": [{"professional_id": martin}, {"professional_id": ines}]}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, t) = app
        .post(MARTIN, &format!("/api/v1/directory/organisations/{msp}/teams"), json!({"name": "Avis MG", "specialty": "SM54", "members": [{"professional_id": martin, "is_assigner": true}, {"professional_id": ines}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["policy"], "self_service");
    assert_eq!(t["members"].as_array().unwrap().len(), 2);
    let (s, _) = app
        .post(
            MARTIN,
            "/api/v1/directory/organisations/nope/teams",
            json!({"name": "x", "specialty": "SM54", "members": []}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

both!(admin_disables_and_enables_a_member, |app| {
    app.seed_demo().await;
    let petit = app.me(PETIT).await;
    // Another organisation's admin may not.
    let (s, _) = app
        .post(
            LEFEBVRE,
            &format!("/api/v1/directory/professionals/{petit}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{petit}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["active"], false);
    let (s, _) = app.get(PETIT, "/api/v1/cases").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "disabled: the very next request fails"
    );
    // A disabled professional cannot be chosen as expert either.
    let (s, _) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{petit}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get(PETIT, "/api/v1/cases").await;
    assert_eq!(s, StatusCode::OK);
    let martin = app.me(MARTIN).await;
    let (s, _) = app
        .post(
            MARTIN,
            &format!("/api/v1/directory/professionals/{martin}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "not on oneself");
});
