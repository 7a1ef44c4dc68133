//! A whole week per team policy (issue 5: `auto_assign`, `moderated`, `hybrid`), hour by
//! hour with the `ManualClock`, on SQLite and PostgreSQL: every offer, hand-over to the
//! assigner, reminder, escalation and expiry happens once, at its hour, to the right person. (`deadlines.rs` covers a case assigned
//! in a self-service team, with the mails.)

use crate::harness::TestApp;
use consilium::directory::model::{
    AssignStrategy, NewTeam, NewTeamMember, TeamPolicy, TeamRouting,
};
use consilium::kernel::Timestamp;
use consilium::kernel::time::MICROS_PER_SECOND;

const PETIT: &str = "csl_demo_petit";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const HOUR: i64 = 3600;

async fn team(app: &TestApp, policy: TeamPolicy, accept_hours: i64) -> String {
    let org = app
        .platform
        .list_teams(Some("SM15"))
        .await
        .unwrap()
        .first()
        .expect("the demo dermatology team")
        .organisation_id
        .clone();
    let mut members = Vec::new();
    for (token, assigner) in [(ROUX, false), (FONTAINE, false), (LEFEBVRE, true)] {
        members.push(NewTeamMember {
            professional_id: app.me(token).await,
            is_assigner: assigner,
        });
    }
    app.platform
        .create_team(
            &TestApp::system(),
            NewTeam {
                organisation_id: org,
                name: format!("Semaine {}", policy.as_str()),
                specialty: "SM15".into(),
                policy,
                routing: TeamRouting {
                    assign_strategy: AssignStrategy::RoundRobin,
                    accept_hours,
                    hybrid_hours: 24,
                },
                members,
            },
        )
        .await
        .unwrap()
        .id
}

/// Notifications of a case: (recipient, kind, created_at).
async fn notes(app: &TestApp, case: &str) -> Vec<(String, String, i64)> {
    let sql = format!(
        "SELECT professional_id, kind, created_at FROM notifications WHERE case_id = '{case}' ORDER BY created_at, professional_id, kind"
    );
    let q = sqlx::AssertSqlSafe(sql);
    crate::with_pool!(app.db(), |p| sqlx::query_as(q).fetch_all(p).await).unwrap()
}

/// (hour after submission, recipient, kind) of every notification of each case, moving the
/// clock hour by hour for 9 days from the last submission and running the jobs; `act` runs
/// at each hour (before the jobs) for what people do. (The cases are submitted a few
/// microseconds apart: the test clock ticks on every read.)
async fn week<F, Fut>(
    app: &TestApp,
    cases: &[String],
    mut act: F,
) -> Vec<Vec<(i64, String, String)>>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut start = 0;
    for c in cases {
        start = start.max(
            app.scalar(&format!("SELECT submitted_at FROM cases WHERE id = '{c}'"))
                .await,
        );
    }
    for h in 1..=9 * 24 {
        app.clock
            .set(Timestamp(start + h * HOUR * MICROS_PER_SECOND));
        act(h).await;
        app.run_jobs().await;
    }
    let mut out = Vec::new();
    for c in cases {
        out.push(
            notes(app, c)
                .await
                .into_iter()
                .map(|(who, kind, at)| ((at - start) / (HOUR * MICROS_PER_SECOND), who, kind))
                .collect(),
        );
    }
    out
}

fn entry(h: i64, who: &str, kind: &str) -> (i64, String, String) {
    (h, who.to_string(), kind.to_string())
}

crate::both!(auto_assign_week, |app| {
    app.seed_demo().await;
    app.run_jobs().await;
    let t = team(app, TeamPolicy::AutoAssign, 20).await;
    let (roux, fontaine, lefebvre, petit) = (
        app.me(ROUX).await,
        app.me(FONTAINE).await,
        app.me(LEFEBVRE).await,
        app.me(PETIT).await,
    );
    // A: nobody accepts. B: whoever is offered it accepts an hour later.
    let a = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let b = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let b_expert = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM cases WHERE id = '{b}' AND state = 'assigned'"
        ))
        .await;
    assert_eq!(b_expert, 1);
    let token_of = |id: &str| {
        [(&roux, ROUX), (&fontaine, FONTAINE), (&lefebvre, LEFEBVRE)]
            .into_iter()
            .find(|(x, _)| x.as_str() == id)
            .map(|(_, t)| t)
            .unwrap()
    };
    let (_, bv) = app.get(PETIT, &format!("/api/v1/cases/{b}")).await;
    let b_first = bv["assigned_expert"]["id"].as_str().unwrap().to_string();
    let b_path = format!("/api/v1/cases/{b}/accept");
    let b_token = token_of(&b_first);
    let lines = week(app, &[a.clone(), b.clone()], |h| {
        let path = b_path.clone();
        async move {
            if h == 1 {
                app.ok(b_token, &path, json!({})).await;
            }
        }
    })
    .await;

    // A: offered to each member in turn, each offer lapsing exactly 20 hours after it was
    // made (and taken up by the next hourly run of the jobs), then to the assigner;
    // reminders to the whole pool (it is back there), escalation to the assigner, expiry to
    // the requester.
    let us = HOUR * MICROS_PER_SECOND;
    let sql = format!(
        "SELECT expert_id, offered_at, until_at, outcome FROM case_offers WHERE case_id = '{a}' ORDER BY offered_at"
    );
    let q = sqlx::AssertSqlSafe(sql);
    let offers: Vec<(String, i64, i64, Option<String>)> =
        crate::with_pool!(app.db(), |p| sqlx::query_as(q).fetch_all(p).await).unwrap();
    let mut offered: Vec<&str> = offers.iter().map(|o| o.0.as_str()).collect();
    offered.sort_unstable();
    let mut members = vec![roux.as_str(), fontaine.as_str(), lefebvre.as_str()];
    members.sort_unstable();
    assert_eq!(offered, members, "each member once");
    for o in &offers {
        assert_eq!(o.2 - o.1, 20 * us, "20 hours to accept");
        assert_eq!(o.3.as_deref(), Some("lapsed"));
    }
    for w in offers.windows(2) {
        assert!((0..=us).contains(&(w[1].1 - w[0].2)), "{offers:?}");
    }
    let la = &lines[0];
    let made: Vec<(i64, String, String)> = offers
        .iter()
        .map(|o| (o.1, o.0.clone(), "offered".to_string()))
        .collect();
    let notes_a = notes(app, &a).await;
    let offered_notes: Vec<(i64, String, String)> = notes_a
        .iter()
        .filter(|n| n.1 == "offered")
        .map(|n| (n.2, n.0.clone(), n.1.clone()))
        .collect();
    assert_eq!(
        offered_notes, made,
        "each offer told to its expert when made"
    );
    let handed: Vec<&(String, String, i64)> =
        notes_a.iter().filter(|n| n.1 == "to_assign").collect();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].0, lefebvre);
    assert!((0..=us).contains(&(handed[0].2 - offers[2].2)));
    let mut expected = Vec::new();
    for h in [72, 120] {
        for m in &members {
            expected.push(entry(h, m, "reminder"));
        }
    }
    expected.push(entry(144, &lefebvre, "escalated"));
    expected.push(entry(168, &petit, "expired"));
    let timers: Vec<(i64, String, String)> = la
        .iter()
        .filter(|x| !["offered", "to_assign"].contains(&x.2.as_str()))
        .cloned()
        .collect();
    assert_eq!(timers, expected);

    // B: offered once, accepted: reminders to the one who holds it, then the same ends.
    assert_eq!(
        lines[1],
        vec![
            entry(0, &b_first, "offered"),
            entry(72, &b_first, "reminder"),
            entry(120, &b_first, "reminder"),
            entry(144, &lefebvre, "escalated"),
            entry(168, &petit, "expired"),
        ]
    );
    // Each step once in the audit trail: A's three automatic routing steps (two offers
    // and the hand-over to the assigner; the first offer is the submission's).
    let routed = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'case.route' AND object_id = '{a}'"
        ))
        .await;
    assert_eq!(routed, 3);
    for (id, n) in [(&a, 2), (&b, 2)] {
        let reminded = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'case.remind' AND object_id = '{id}'"
            ))
            .await;
        assert_eq!(reminded, n);
    }
});

crate::both!(moderated_week, |app| {
    app.seed_demo().await;
    app.run_jobs().await;
    let t = team(app, TeamPolicy::Moderated, 24).await;
    let (roux, lefebvre, petit) = (
        app.me(ROUX).await,
        app.me(LEFEBVRE).await,
        app.me(PETIT).await,
    );
    // A: the assigner never assigns. B: he gives it to Roux after 2 hours, who never accepts.
    let a = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let b = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let assign = format!("/api/v1/cases/{b}/assign");
    let lines = week(app, &[a.clone(), b.clone()], |h| {
        let (path, roux) = (assign.clone(), roux.clone());
        async move {
            if h == 2 {
                app.ok(LEFEBVRE, &path, json!({"expert_id": roux})).await;
            }
        }
    })
    .await;
    // In a moderated pool only the assigner can act: he is the one reminded.
    assert_eq!(
        lines[0],
        vec![
            entry(0, &lefebvre, "to_assign"),
            entry(72, &lefebvre, "reminder"),
            entry(120, &lefebvre, "reminder"),
            entry(144, &lefebvre, "escalated"),
            entry(168, &petit, "expired"),
        ]
    );
    assert_eq!(
        lines[1],
        vec![
            entry(0, &lefebvre, "to_assign"),
            // Roux is told at once when the assigner gives it to him.
            entry(2, &roux, "assigned"),
            entry(72, &roux, "reminder"),
            entry(120, &roux, "reminder"),
            entry(144, &lefebvre, "escalated"),
            entry(168, &petit, "expired"),
        ]
    );
    for id in [&a, &b] {
        let (_, c) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
        assert_eq!(c["state"], "expired");
    }
});

crate::both!(hybrid_week, |app| {
    app.seed_demo().await;
    app.run_jobs().await;
    // Members may claim for 24 hours; then the platform offers it, 20 hours per member.
    let t = team(app, TeamPolicy::Hybrid, 20).await;
    let (roux, fontaine, lefebvre, petit) = (
        app.me(ROUX).await,
        app.me(FONTAINE).await,
        app.me(LEFEBVRE).await,
        app.me(PETIT).await,
    );
    // A: nobody claims nor accepts. B: Fontaine claims it after 3 hours.
    let a = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let b = app.submitted_case(PETIT, json!({"team_id": t})).await;
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let claim = format!("/api/v1/cases/{b}/accept");
    let lines = week(app, &[a.clone(), b.clone()], |h| {
        let path = claim.clone();
        async move {
            if h == 3 {
                app.ok(FONTAINE, &path, json!({})).await;
            }
        }
    })
    .await;
    let us = HOUR * MICROS_PER_SECOND;
    let submitted = app
        .scalar(&format!("SELECT submitted_at FROM cases WHERE id = '{a}'"))
        .await;
    let sql = format!(
        "SELECT expert_id, offered_at, until_at, outcome FROM case_offers WHERE case_id = '{a}' ORDER BY offered_at"
    );
    let q = sqlx::AssertSqlSafe(sql);
    let offers: Vec<(String, i64, i64, Option<String>)> =
        crate::with_pool!(app.db(), |p| sqlx::query_as(q).fetch_all(p).await).unwrap();
    let mut offered: Vec<&str> = offers.iter().map(|o| o.0.as_str()).collect();
    offered.sort_unstable();
    let mut members = vec![roux.as_str(), fontaine.as_str(), lefebvre.as_str()];
    members.sort_unstable();
    assert_eq!(
        offered, members,
        "each member once, after the pool's 24 hours"
    );
    assert!(
        (24 * us..=25 * us).contains(&(offers[0].1 - submitted)),
        "{offers:?}"
    );
    for o in &offers {
        assert_eq!(o.2 - o.1, 20 * us);
        assert_eq!(o.3.as_deref(), Some("lapsed"));
    }
    for w in offers.windows(2) {
        assert!((0..=us).contains(&(w[1].1 - w[0].2)), "{offers:?}");
    }
    let notes_a = notes(app, &a).await;
    let handed: Vec<_> = notes_a.iter().filter(|n| n.1 == "to_assign").collect();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].0, lefebvre);
    assert!((0..=us).contains(&(handed[0].2 - offers[2].2)));
    // At D+3 the third member offered it holds it (offered about 66 hours in): reminded
    // alone; at D+5 it is back in the pool: every member is; then the assigner, then the
    // requester.
    assert!(offers[2].1 - submitted < 72 * us && offers[2].2 - submitted > 72 * us);
    let mut expected = vec![entry(72, &offers[2].0, "reminder")];
    for m in &members {
        expected.push(entry(120, m, "reminder"));
    }
    expected.push(entry(144, &lefebvre, "escalated"));
    expected.push(entry(168, &petit, "expired"));
    let timers: Vec<(i64, String, String)> = lines[0]
        .iter()
        .filter(|x| !["offered", "to_assign"].contains(&x.2.as_str()))
        .cloned()
        .collect();
    assert_eq!(timers, expected);
    // B: claimed within the pool's hours, never offered.
    assert_eq!(
        lines[1],
        vec![
            entry(72, &fontaine, "reminder"),
            entry(120, &fontaine, "reminder"),
            entry(144, &lefebvre, "escalated"),
            entry(168, &petit, "expired"),
        ]
    );
    let offered_b = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM case_offers WHERE case_id = '{b}'"
        ))
        .await;
    assert_eq!(offered_b, 0);
});
