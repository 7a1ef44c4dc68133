//! Administering teams, on both backends: an administrator creates a team from the page,
//! changes its members and policy (page and API), records and deletes a member's absence;
//! what a member who leaves still sees; an expert's answer templates renamed and deleted.
//! Refusals change nothing.

use crate::both;
use crate::harness::TestApp;
use crate::ui::signed_in_2fa;
use reqwest::StatusCode;

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const MARTIN: &str = "csl_demo_martin";

async fn members_of(app: &TestApp, team: &str) -> Vec<(String, bool)> {
    let (s, v) = app
        .get(ROUX, &format!("/api/v1/directory/teams/{team}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut m: Vec<(String, bool)> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["professional_id"].as_str().unwrap().to_string(),
                m["is_assigner"].as_bool().unwrap(),
            )
        })
        .collect();
    m.sort();
    m
}

both!(administrators_create_a_team_and_change_its_members, |app| {
    app.seed_demo().await;
    let (roux, fontaine, lefebvre) = (
        app.me(ROUX).await,
        app.me(FONTAINE).await,
        app.me(LEFEBVRE).await,
    );
    let mut admin = signed_in_2fa(app, "lefebvre").await;
    let page = admin.get("/admin/teams").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Télé-dermatologie"), "the existing team");
    assert!(
        page.body.contains(&format!("value=\"{roux}\"")),
        "the organisation's doctors are offered as members"
    );
    let csrf = page.field("csrf");
    let teams_before = app.scalar("SELECT COUNT(*) FROM teams").await;

    // No case assigner: refused in French, what was typed comes back, nothing created.
    let p = admin
        .form(
            "/admin/teams",
            &[
                ("csrf", csrf.as_str()),
                ("name", "Plaies chroniques"),
                ("specialty", "SM15"),
                ("policy", "moderated"),
                ("member", roux.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body
            .contains("une équipe a besoin d&#x27;au moins un régulateur")
            || p.body
                .contains("une équipe a besoin d&#39;au moins un régulateur"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"Plaies chroniques\""));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM teams").await, teams_before);

    let p = admin
        .form(
            "/admin/teams",
            &[
                ("csrf", csrf.as_str()),
                ("name", "Plaies chroniques"),
                ("specialty", "SM15"),
                ("policy", "moderated"),
                ("member", roux.as_str()),
                ("assigner", lefebvre.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let loc = p.location();
    assert!(loc.ends_with("/settings?done=team_created"), "{loc}");
    let team = loc
        .trim_start_matches("/teams/")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut want = vec![(roux.clone(), false), (lefebvre.clone(), true)];
    want.sort();
    assert_eq!(members_of(app, &team).await, want);
    let (_, t) = app
        .get(ROUX, &format!("/api/v1/directory/teams/{team}"))
        .await;
    assert_eq!(t["policy"], "moderated");
    let settings = format!("/teams/{team}/settings");
    let page = admin.get(loc).await;
    assert!(page.body.contains("Équipe créée"), "{}", page.body);

    // Members: Fontaine joins, Roux leaves.
    let p = admin
        .form(
            &format!("{settings}/members"),
            &[
                ("csrf", csrf.as_str()),
                ("member", fontaine.as_str()),
                ("assigner", lefebvre.as_str()),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("{settings}?done=members_saved"),
        "{}",
        p.body
    );
    let mut want = vec![(fontaine.clone(), false), (lefebvre.clone(), true)];
    want.sort();
    assert_eq!(members_of(app, &team).await, want);
    // Nobody: refused, unchanged.
    let p = admin
        .form(&format!("{settings}/members"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert_eq!(members_of(app, &team).await, want);

    // A member's absence, recorded by the administrator, then deleted.
    let today = consilium::billing::model::paris_date(app.platform.now());
    let from = (today + time::Duration::days(2)).to_string();
    let to = (today + time::Duration::days(4)).to_string();
    let p = admin
        .form(
            &format!("{settings}/absence"),
            &[
                ("csrf", csrf.as_str()),
                ("professional_id", roux.as_str()),
                ("from", from.as_str()),
                ("to", to.as_str()),
            ],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Roux left this team"
    );
    let of_roux = format!("SELECT COUNT(*) FROM absences WHERE professional_id = '{roux}'");
    assert_eq!(app.scalar(&of_roux).await, 0);
    let p = admin
        .form(
            &format!("{settings}/absence"),
            &[
                ("csrf", csrf.as_str()),
                ("professional_id", fontaine.as_str()),
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("delegate_id", lefebvre.as_str()),
            ],
        )
        .await;
    assert_eq!(
        p.location(),
        format!("{settings}?done=absence_added"),
        "{}",
        p.body
    );
    let sql = format!(
        "SELECT COUNT(*) FROM absences WHERE professional_id = '{fontaine}' AND delegate_id = '{lefebvre}'"
    );
    assert_eq!(app.scalar(&sql).await, 1);
    // Fontaine sees it among her own absences.
    let (_, r) = app.get(FONTAINE, "/api/v1/me/routing").await;
    let absence = r["absences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["delegate"]["id"] == lefebvre.as_str())
        .unwrap_or_else(|| panic!("{r}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = admin.get(&settings).await;
    assert!(
        page.body.contains(&absence),
        "listed with its delete button"
    );
    // Someone else cannot delete it (404 through the API, audited), the administrator can.
    let (s, _) = app
        .call(
            "DELETE",
            Some(ROUX),
            &format!("/api/v1/directory/absences/{absence}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.scalar(&sql).await, 1);
    let p = admin
        .form(
            &format!("{settings}/delete-absence"),
            &[("csrf", csrf.as_str()), ("absence_id", absence.as_str())],
        )
        .await;
    assert_eq!(p.location(), format!("{settings}?done=absence_deleted"));
    assert_eq!(app.scalar(&sql).await, 0);

    // Not an administrator: the pages are not found and nothing changes.
    let mut expert = signed_in_2fa(app, "roux").await;
    assert_eq!(
        expert.get("/admin/teams").await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = expert.get("/cases").await.field("csrf");
    let p = expert
        .form(
            &format!("{settings}/members"),
            &[
                ("csrf", csrf.as_str()),
                ("member", roux.as_str()),
                ("assigner", roux.as_str()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(members_of(app, &team).await, want);
    assert!(app.audit_count("team.members", "denied").await >= 1);
    assert_eq!(app.audit_count("team.members", "success").await, 1);
});

both!(
    a_member_who_leaves_keeps_assigned_cases_but_not_the_pool,
    |app| {
        app.seed_demo().await;
        let team = app.team_id(LEFEBVRE).await;
        let (roux, fontaine, lefebvre) = (
            app.me(ROUX).await,
            app.me(FONTAINE).await,
            app.me(LEFEBVRE).await,
        );
        // One case in the pool, one assigned to Fontaine.
        let pooled = app.submitted_case(PETIT, json!({"team_id": team})).await;
        let pooled = pooled["id"].as_str().unwrap().to_string();
        let hers = app.submitted_case(PETIT, json!({"team_id": team})).await;
        let hers = hers["id"].as_str().unwrap().to_string();
        let (s, v) = app
            .post(
                LEFEBVRE,
                &format!("/api/v1/cases/{hers}/assign"),
                json!({"expert_id": fontaine}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            app.get(FONTAINE, &format!("/api/v1/cases/{pooled}"))
                .await
                .0,
            StatusCode::OK
        );

        // Through the API: not the administrator → 403, audited, unchanged.
        let body = json!({"members": [
            {"professional_id": lefebvre, "is_assigner": true},
            {"professional_id": roux},
        ]});
        let path = format!("/api/v1/directory/teams/{team}/members");
        let (s, _) = app.put(MARTIN, &path, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(members_of(app, &team).await.len(), 3);
        // Unknown fields are refused (no mass assignment).
        let (s, _) = app
            .put(
                LEFEBVRE,
                &path,
                json!({"members": body["members"], "organisation_id": "x"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, v) = app.put(LEFEBVRE, &path, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["members"].as_array().unwrap().len(), 2);

        // Fontaine left: the pool case is no longer hers to see; the assigned one still is.
        assert_eq!(
            app.get(FONTAINE, &format!("/api/v1/cases/{pooled}"))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (s, v) = app.get(FONTAINE, &format!("/api/v1/cases/{hers}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["assigned_expert"]["id"], fontaine.as_str());

        // The policy through the API: validated after the caller's right is checked.
        let path = format!("/api/v1/directory/teams/{team}/policy");
        let bad = json!({"policy": "auto_assign", "routing": {"assign_strategy": "round_robin", "accept_hours": 0, "hybrid_hours": 24}});
        assert_eq!(
            app.put(ROUX, &path, bad.clone()).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.put(LEFEBVRE, &path, bad).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let (s, v) = app
        .put(
            LEFEBVRE,
            &path,
            json!({"policy": "hybrid", "routing": {"assign_strategy": "least_loaded", "accept_hours": 12, "hybrid_hours": 6}}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["policy"], "hybrid");
        assert_eq!(v["routing"]["hybrid_hours"], 6);
    }
);

both!(
    administrators_record_an_experts_absence_through_the_api,
    |app| {
        app.seed_demo().await;
        let roux = app.me(ROUX).await;
        let petit = app.me(PETIT).await;
        let path = format!("/api/v1/directory/professionals/{roux}/absences");
        let week = json!({"from": "2031-03-01T00:00:00Z", "to": "2031-03-08T00:00:00Z"});
        let of_roux = format!("SELECT COUNT(*) FROM absences WHERE professional_id = '{roux}'");
        let before = app.scalar(&of_roux).await;
        // Martin administers another organisation: 403, nothing stored.
        assert_eq!(
            app.post(MARTIN, &path, week.clone()).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.scalar(&of_roux).await, before);
        let (s, v) = app.post(LEFEBVRE, &path, week.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // The same week again overlaps (and Roux himself is told so too).
        let (s, v) = app.post(ROUX, &path, week).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(app.scalar(&of_roux).await, before + 1);
        let (_, r) = app.get(ROUX, "/api/v1/me/routing").await;
        let id = r["absences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["from"].as_str().unwrap().starts_with("2031-03-01"))
            .expect("the week of March 2031")["id"]
            .as_str()
            .unwrap()
            .to_string();
        // Someone who receives no requests has no absence to record.
        let (s, _) = app
            .post(
                MARTIN,
                &format!("/api/v1/directory/professionals/{petit}/absences"),
                json!({"from": "2031-03-01T00:00:00Z", "to": "2031-03-08T00:00:00Z"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // The /me endpoint deletes only one's own: the administrator uses the directory one.
        let me_path = format!("/api/v1/me/absences/{id}");
        let (s, _) = app
            .call("DELETE", Some(LEFEBVRE), &me_path, None, None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app
            .call(
                "DELETE",
                Some(LEFEBVRE),
                &format!("/api/v1/directory/absences/{id}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(app.scalar(&of_roux).await, before);
    }
);

both!(experts_rename_and_delete_their_templates, |app| {
    app.seed_demo().await;
    let roux = consilium::platform::Ctx::new(
        app.platform
            .authenticate(ROUX)
            .await
            .unwrap()
            .expect("Roux's token"),
    );
    app.platform
        .save_answer_template(&roux, "Naevus bénin\nSurveillance annuelle.")
        .await
        .unwrap();
    let id: String = {
        let t = app.platform.answer_templates(&roux).await.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].title, "Naevus bénin");
        t[0].id.clone()
    };
    let mut e = signed_in_2fa(app, "roux").await;
    let page = e.get("/me/templates").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Surveillance annuelle."));
    let csrf = page.field("csrf");
    let p = e
        .form(
            &format!("/me/templates/{id}/rename"),
            &[("csrf", csrf.as_str()), ("title", "  ")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    let p = e
        .form(
            &format!("/me/templates/{id}/rename"),
            &[("csrf", csrf.as_str()), ("title", "Naevus : surveillance")],
        )
        .await;
    assert_eq!(p.location(), "/me/templates?done=template_renamed");
    assert_eq!(
        app.platform.answer_templates(&roux).await.unwrap()[0].title,
        "Naevus : surveillance"
    );
    // Another expert: not found, audited, unchanged.
    let mut other = signed_in_2fa(app, "fontaine").await;
    let csrf2 = other.get("/me/templates").await.field("csrf");
    let p = other
        .form(
            &format!("/me/templates/{id}/delete"),
            &[("csrf", csrf2.as_str())],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(app.audit_count("answer_template.delete", "denied").await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM answer_templates").await, 1);
    let p = e
        .form(
            &format!("/me/templates/{id}/delete"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(p.location(), "/me/templates?done=template_deleted");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM answer_templates").await, 0);
    // Requesters have no templates page.
    let mut r = crate::signin::signed_in(app, "petit").await;
    assert_eq!(r.get("/me/templates").await.status, StatusCode::NOT_FOUND);
});
