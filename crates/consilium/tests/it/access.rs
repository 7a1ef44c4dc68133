//! A1, the authorization matrix: every operation of the API × every role (13 columns, among
//! them a requester of another organisation and an expired browser session), through HTTP,
//! each on a case (or other object) prepared in the state the operation needs.
//!
//! Every cell checks the status, the audit trail (one "denied" entry for each denial by an
//! authenticated caller and for each presented but refused token; one success entry for each
//! answered request; nothing for a 409 or a 422), for every refused request, that nothing
//! changed in the database, and, for every answered one, what the answer carries: never a
//! secret of the platform (password or token hashes, session and CSRF tokens, TOTP and
//! webhook secrets, wrapped keys: by field name, and by value against what the database
//! holds at that moment), and, for the columns a row names in `hide=`, none of the patient's
//! identity (by field name in the part of the answer about the row's object, and by value
//! anywhere in the answer), while the columns in `show=` must see it. The expectations are data, in `access_matrix.txt`;
//! `every_operation_has_a_row` fails when the router or the OpenAPI document has an
//! operation that file does not cover.
//!
//! The expectations follow `cases::model::Relation`: the requester sees their own cases; the
//! assigned expert theirs; a team member sees a team case only while it waits in the pool;
//! the team's assigner sees the team's cases (not drafts); anyone else gets 404. Visible but
//! not allowed is 403. A patient is visible to whoever recorded them and to whoever may see
//! one of their cases.

use crate::both;
use crate::harness::T0;
use crate::harness::TestApp;
use consilium::audit::StoredEntry;
use consilium::auth::{hash_token, insert_token};
use consilium::directory::model::{NewProfessional, NewTeam, NewTeamMember, TeamPolicy};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

const MARTIN: &str = "csl_demo_martin";
const PETIT: &str = "csl_demo_petit";
const MOREAU: &str = "csl_demo_moreau";
const LEFEBVRE: &str = "csl_demo_lefebvre";
const ROUX: &str = "csl_demo_roux";
const FONTAINE: &str = "csl_demo_fontaine";
const BERNARD: &str = "csl_demo_bernard";
const GARNIER: &str = "csl_demo_garnier";

/// The matrix's columns, in the order of `access_matrix.txt`. Most rows use a case that the
/// nurse Petit sends to the dermatology team; the roles are named for that case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    /// No `Authorization` header.
    Anonymous,
    /// A well-formed token that matches nothing.
    BadToken,
    /// The case's requester, disabled just for the call (a disabled user's token stops
    /// working at once, even on their own cases).
    Disabled,
    /// The case's requester, with a browser session past its idle limit.
    ExpiredSession,
    /// Petit (nurse, MSP): the requester, owner of the case and of its patient.
    Owner,
    /// Moreau (physiotherapist, same MSP): another requester.
    OtherRequester,
    /// Dupuis (nurse in Bernard's cabinet, created by the test): a requester of another
    /// organisation.
    OtherOrgRequester,
    /// Martin (GP, MSP admin): administrator of the requester's organisation, not a
    /// participant (sees no clinical content).
    OrgAdmin,
    /// Roux (dermatology team): the assigned expert once the assigner gave the case to
    /// them; before that, a member of the team whose pool holds it.
    Expert,
    /// Fontaine (dermatology team): a team-mate; sees the case only while it is in the pool.
    TeamMate,
    /// Lefebvre: case assigner of the dermatology team.
    Assigner,
    /// Bernard (cardiologist): assigner of another team; the named expert of `Named` cases.
    OtherAssigner,
    /// Garnier (midwife): member of that other team.
    OtherExpert,
}

const COLUMNS: [Who; 13] = [
    Who::Anonymous,
    Who::BadToken,
    Who::Disabled,
    Who::ExpiredSession,
    Who::Owner,
    Who::OtherRequester,
    Who::OtherOrgRequester,
    Who::OrgAdmin,
    Who::Expert,
    Who::TeamMate,
    Who::Assigner,
    Who::OtherAssigner,
    Who::OtherExpert,
];

const OTHER_ORG: &str = "csl_test_dupuis";

impl Who {
    /// A column by its name in `access_matrix.txt`'s header (for `hide=` and `show=`).
    fn column(name: &str) -> Option<Who> {
        Some(match name {
            "anonymous" => Who::Anonymous,
            "bad_token" => Who::BadToken,
            "disabled" => Who::Disabled,
            "expired_session" => Who::ExpiredSession,
            "owner" => Who::Owner,
            "other_requester" => Who::OtherRequester,
            "other_org_requester" => Who::OtherOrgRequester,
            "org_admin" => Who::OrgAdmin,
            "expert" => Who::Expert,
            "team_mate" => Who::TeamMate,
            "assigner" => Who::Assigner,
            "other_assigner" => Who::OtherAssigner,
            "other_expert" => Who::OtherExpert,
            _ => return None,
        })
    }

    fn token(self) -> Option<&'static str> {
        match self {
            Who::Anonymous | Who::ExpiredSession => None,
            Who::BadToken => Some("csl_this_token_does_not_exist"),
            Who::Disabled | Who::Owner => Some(PETIT),
            Who::OtherRequester => Some(MOREAU),
            Who::OtherOrgRequester => Some(OTHER_ORG),
            Who::OrgAdmin => Some(MARTIN),
            Who::Expert => Some(ROUX),
            Who::TeamMate => Some(FONTAINE),
            Who::Assigner => Some(LEFEBVRE),
            Who::OtherAssigner => Some(BERNARD),
            Who::OtherExpert => Some(GARNIER),
        }
    }
}

/// What a cell expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    /// 200.
    Ok,
    /// 201.
    Created,
    /// 204.
    NoContent,
    /// 401.
    Unauthorized,
    /// 403, audited as denied.
    Forbidden,
    /// 404, audited as denied.
    NotFound,
    /// 409 (the role allows it, the state does not); nothing audited.
    Conflict,
    /// 409 "already taken by a colleague", audited as denied.
    Taken,
    /// 422 (the role allows it, the input does not); nothing audited.
    Invalid,
    /// 422 "unknown patient" for a patient the caller may not see, audited as denied.
    InvalidDenied,
    /// 200, and the list holds the row's object.
    Listed,
    /// 200, and the list does not hold the row's object.
    Unlisted,
}

impl E {
    fn parse(code: &str) -> Option<E> {
        Some(match code {
            "OK" => E::Ok,
            "NEW" => E::Created,
            "GON" => E::NoContent,
            "UNA" => E::Unauthorized,
            "FOR" => E::Forbidden,
            "NOF" => E::NotFound,
            "CON" => E::Conflict,
            "TKN" => E::Taken,
            "INV" => E::Invalid,
            "IDN" => E::InvalidDenied,
            "LST" => E::Listed,
            "HID" => E::Unlisted,
            _ => return None,
        })
    }
    fn status(self) -> u16 {
        match self {
            E::Ok | E::Listed | E::Unlisted => 200,
            E::Created => 201,
            E::NoContent => 204,
            E::Unauthorized => 401,
            E::Forbidden => 403,
            E::NotFound => 404,
            E::Conflict | E::Taken => 409,
            E::Invalid | E::InvalidDenied => 422,
        }
    }
    fn is_denial(self) -> bool {
        matches!(
            self,
            E::Forbidden | E::NotFound | E::Taken | E::InvalidDenied
        )
    }
    fn is_success(self) -> bool {
        self.status() < 300
    }
}

/// The state a row's case is prepared in (a fresh case per row, and again after every
/// cell that changed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Draft to the dermatology team, consent not recorded.
    DraftNoConsent,
    /// Draft to the dermatology team, consent given.
    Draft,
    /// Submitted to the team: waiting in its pool.
    Pool,
    /// The assigner gave it to Roux.
    Assigned,
    /// Roux accepted it.
    InProgress,
    /// Roux asked for more information.
    AwaitingInfo,
    /// Roux answered (the report is a draft, version 1).
    Answered,
    /// Roux answered and signed the report (version 1 signed).
    Signed,
    /// The requester closed it.
    Closed,
    /// Sent to Bernard by name (no team): assigned to him.
    Named,
    /// Submitted to the second dermatology team (same members: Lefebvre assigns, Roux and
    /// Fontaine), which hides the patient's identity in its pool: waiting there.
    PoolHidden,
    /// The same, then assigned to Roux by Lefebvre: out of the pool.
    HiddenAssigned,
    /// No such case or patient (random identifiers).
    Unknown,
    /// Rows on other objects: no object (`None`); the requester's MSP (`Org`); a new member
    /// of the MSP (`Member`); the dermatology team (`Team`); a personal access token and a
    /// browser session of the case's requester (`OwnerToken`, `OwnerSession`).
    None,
    Org,
    Member,
    Team,
    OwnerToken,
    OwnerSession,
    /// A notification addressed to the case's requester.
    OwnerNotification,
    /// An absence of the expert Roux (in 2031).
    ExpertAbsence,
    /// A dead job of the queue.
    DeadJob,
    /// A new doctor of the CHU (the dermatology team's organisation), in no team.
    TeamDoctor,
    /// A webhook of the case's requester; a webhook of the requester's MSP.
    OwnerWebhook,
    OrgWebhook,
}

impl State {
    fn parse(s: &str) -> Option<State> {
        use State::*;
        Some(match s {
            "DraftNoConsent" => DraftNoConsent,
            "Draft" => Draft,
            "Pool" => Pool,
            "Assigned" => Assigned,
            "InProgress" => InProgress,
            "AwaitingInfo" => AwaitingInfo,
            "Answered" => Answered,
            "Signed" => Signed,
            "Closed" => Closed,
            "Named" => Named,
            "PoolHidden" => PoolHidden,
            "HiddenAssigned" => HiddenAssigned,
            "Unknown" => Unknown,
            "None" => None,
            "Org" => Org,
            "Member" => Member,
            "Team" => Team,
            "OwnerToken" => OwnerToken,
            "OwnerSession" => OwnerSession,
            "OwnerNotification" => OwnerNotification,
            "ExpertAbsence" => ExpertAbsence,
            "TeamDoctor" => TeamDoctor,
            "DeadJob" => DeadJob,
            "OwnerWebhook" => OwnerWebhook,
            "OrgWebhook" => OrgWebhook,
            _ => return Option::None,
        })
    }
}

struct World {
    msp: String,
    team: String,
    /// A second dermatology team of the CHU, with the same members, that hides the
    /// patient's identity in its pool.
    hidden_team: String,
    roux: String,
    fontaine: String,
    bernard: String,
    ids: HashMap<Who, String>,
}

struct Target {
    case: String,
    patient: String,
    /// For rows on other objects (organisation, professional, team, token, session): the
    /// object's id, used in the path and expected in audit entries.
    other: Option<String>,
    /// An image attached while the case was a draft (a random id where there is none).
    attachment: String,
    /// The patient's identity as recorded (family, used and given names, birth date, INS),
    /// unique to this target, for the `hide=` and `show=` checks; empty for the usual patient.
    identity: Vec<String>,
}

struct Row {
    /// Line in `access_matrix.txt`, for messages.
    line: usize,
    method: String,
    /// As in the OpenAPI document; `{id}` is the case's (or the patient's) id.
    path: String,
    query: String,
    state: State,
    /// JSON with `$team`, `$roux`, `$fontaine`, `$bernard`, `$patient` placeholders.
    body: Option<String>,
    /// The audit action recorded for this operation (success or denial).
    action: String,
    /// Denials are recorded against the patient rather than the case.
    on_patient: bool,
    /// Other success entries the operation writes besides `action`.
    also: Vec<String>,
    /// The audit action of a success when it differs from the denial's (`ok=…`); `-` for
    /// operations that are not audited.
    ok_action: Option<String>,
    /// `multipart`: the request is an upload of one small image (the JSON body is ignored).
    multipart: bool,
    /// `hide=COL,…`: these columns' successful answers carry none of the patient's identity.
    hide: Vec<Who>,
    /// `show=COL,…`: these columns' successful answers carry the patient's identity.
    show: Vec<Who>,
    expect: [E; 13],
}

impl Row {
    fn success_action(&self) -> &str {
        self.ok_action.as_deref().unwrap_or(&self.action)
    }

    fn body(&self, w: &World, t: &Target) -> Option<Value> {
        match &self.body {
            Some(b) => {
                let text = b
                    .replace("$team", &w.team)
                    .replace("$roux", &w.roux)
                    .replace("$fontaine", &w.fontaine)
                    .replace("$bernard", &w.bernard)
                    .replace("$martin", &w.ids[&Who::OrgAdmin])
                    .replace("$lefebvre", &w.ids[&Who::Assigner])
                    .replace("$patient", &t.patient)
                    .replace("$rpps", &fresh_rpps());
                Some(serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!("access_matrix.txt line {}: bad JSON body: {e}", self.line)
                }))
            }
            None if self.method == "GET" => None,
            None => Some(json!({})),
        }
    }
}

const PATIENTS: &str = "/api/v1/patients";
const PATIENT: &str = "/api/v1/patients/{id}";

/// The columns named by a `hide=` or `show=` flag.
fn columns_flag(flags: &[&str], prefix: &str, line: usize) -> Vec<Who> {
    flags
        .iter()
        .filter_map(|f| f.strip_prefix(prefix))
        .flat_map(|f| f.split(','))
        .map(|c| {
            Who::column(c).unwrap_or_else(|| panic!("access_matrix.txt line {line}: no column {c}"))
        })
        .collect()
}

/// The matrix, read from `access_matrix.txt` (see its header for the format).
fn table() -> Vec<Row> {
    let text = include_str!("access_matrix.txt");
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut parts = l.splitn(3, '|');
        let head: Vec<&str> = parts
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let cells: Vec<&str> = parts
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let body = parts.next().map(|b| b.trim().to_string());
        assert!(head.len() >= 4, "access_matrix.txt line {line}: {l}");
        assert_eq!(
            cells.len(),
            13,
            "access_matrix.txt line {line}: 13 cells expected"
        );
        let (path, query) = match head[1].split_once('?') {
            Some((p, q)) => (p.to_string(), format!("?{q}")),
            None => (head[1].to_string(), String::new()),
        };
        let mut expect = [E::Unauthorized; 13];
        for (k, c) in cells.iter().enumerate() {
            expect[k] = E::parse(c)
                .unwrap_or_else(|| panic!("access_matrix.txt line {line}: bad cell {c}"));
        }
        let flags = &head[4..];
        rows.push(Row {
            line,
            method: head[0].to_string(),
            state: State::parse(head[2])
                .unwrap_or_else(|| panic!("access_matrix.txt line {line}: bad state")),
            action: head[3].to_string(),
            on_patient: path.starts_with(PATIENT) || flags.contains(&"on_patient"),
            also: flags
                .iter()
                .filter_map(|f| f.strip_prefix("also="))
                .flat_map(|f| f.split(','))
                .map(str::to_string)
                .collect(),
            ok_action: flags
                .iter()
                .find_map(|f| f.strip_prefix("ok="))
                .map(str::to_string),
            multipart: flags.contains(&"multipart"),
            hide: columns_flag(flags, "hide=", line),
            show: columns_flag(flags, "show=", line),
            path,
            query,
            body,
            expect,
        });
    }
    for r in &rows {
        if r.state == State::PoolHidden {
            assert!(
                !r.hide.is_empty() || !r.show.is_empty(),
                "access_matrix.txt line {}: a PoolHidden row says who may not see the identity (hide=) or who now may (show=)",
                r.line
            );
        }
    }
    rows
}

async fn world(app: &TestApp) -> World {
    app.seed_demo().await;
    // A requester of another organisation: a nurse in Bernard's cabinet.
    let cabinet = app
        .platform
        .list_organisations()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.contains("cardiologie"))
        .expect("Bernard's cabinet")
        .id;
    let dupuis = app
        .platform
        .create_professional(
            &TestApp::system(),
            NewProfessional {
                rpps: Some(consilium::demo::demo_rpps(77)),
                adeli: None,
                first_name: "Léa".into(),
                last_name: "Dupuis".into(),
                profession: "60".into(),
                specialties: vec![],
                email: None,
            },
            &[(cabinet.clone(), "member")],
        )
        .await
        .unwrap();
    let mut tx = app.db().begin().await.unwrap();
    insert_token(
        &mut tx,
        &dupuis.id,
        &hash_token(OTHER_ORG),
        "test",
        None,
        T0,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut ids = HashMap::new();
    for who in COLUMNS {
        if let (Some(token), false) = (who.token(), who == Who::BadToken) {
            ids.insert(who, app.me(token).await);
        }
    }
    let team = app
        .platform
        .list_teams(Some("SM15"))
        .await
        .unwrap()
        .into_iter()
        .find(|t| {
            t.members
                .iter()
                .any(|m| m.professional_id == ids[&Who::Assigner])
        })
        .expect("the dermatology team")
        .id;
    // Another team: Bernard assigns for it, Garnier is a member.
    app.platform
        .create_team(
            &TestApp::system(),
            NewTeam {
                organisation_id: cabinet,
                name: "Cardiologie et grossesse".into(),
                specialty: "SM04".into(),
                policy: TeamPolicy::SelfService,
                routing: Default::default(),
                members: vec![
                    NewTeamMember {
                        professional_id: ids[&Who::OtherAssigner].clone(),
                        is_assigner: true,
                    },
                    NewTeamMember {
                        professional_id: ids[&Who::OtherExpert].clone(),
                        is_assigner: false,
                    },
                ],
            },
        )
        .await
        .unwrap();
    let msp = app
        .platform
        .list_organisations()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.contains("Tilleuls"))
        .expect("the MSP")
        .id;
    // The second dermatology team, which hides identities in its pool (set by the CHU's
    // administrator through the API, as a user would).
    let hidden_team = app
        .platform
        .create_team(
            &TestApp::system(),
            NewTeam {
                organisation_id: app.platform.get_team(&team).await.unwrap().organisation_id,
                name: "Dermatologie, avis anonymisés".into(),
                specialty: "SM15".into(),
                policy: TeamPolicy::SelfService,
                routing: Default::default(),
                members: [
                    (Who::Assigner, true),
                    (Who::Expert, false),
                    (Who::TeamMate, false),
                ]
                .into_iter()
                .map(|(w, a)| NewTeamMember {
                    professional_id: ids[&w].clone(),
                    is_assigner: a,
                })
                .collect(),
            },
        )
        .await
        .unwrap()
        .id;
    let (s, v) = app
        .put(
            LEFEBVRE,
            &format!("/api/v1/directory/teams/{hidden_team}/policy"),
            json!({"policy": "self_service", "hide_identity_in_pool": true}),
        )
        .await;
    assert!(
        s.is_success() && v["hide_identity_in_pool"] == true,
        "{s} {v}"
    );
    World {
        msp,
        team,
        hidden_team,
        roux: ids[&Who::Expert].clone(),
        fontaine: ids[&Who::TeamMate].clone(),
        bernard: ids[&Who::OtherAssigner].clone(),
        ids,
    }
}

/// A synthetic patient found nowhere else: names and INS made from a counter (letters of
/// a fixed length, so that no value is part of another), a birth date of their own.
fn unique_patient() -> Value {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let code: String = (0..4)
        .map(|i| char::from(b'a' + ((n / 26u32.pow(i)) % 26) as u8))
        .collect();
    let birth = time::Date::from_calendar_date(1941, time::Month::March, 1).unwrap()
        + time::Duration::days(i64::from(n) * 3);
    let body = format!(
        "2{:02}{:02}99{:06}",
        birth.year() % 100,
        u8::from(birth.month()),
        400_000 + n
    );
    let key = consilium::identifiers::Ins::key_for(&body).unwrap();
    json!({
        "birth_family_name": format!("Cachelin{code}"),
        "used_family_name": format!("Vasseur{code}"),
        "given_names": format!("Ondine{code}"),
        "birth_date": birth.to_string(),
        "sex": "F",
        "ins": format!("{body}{key}"),
        "identity_status": "qualified"
    })
}

/// A new synthetic RPPS for each use (members created by the matrix).
fn fresh_rpps() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(2000);
    consilium::demo::demo_rpps(N.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}

/// The object of a row that is not about a case or a patient.
async fn prepare_other(app: &TestApp, w: &World, state: State) -> Option<String> {
    Some(match state {
        State::None => String::new(),
        State::Org => w.msp.clone(),
        State::Team => w.team.clone(),
        State::Member => {
            app.platform
                .create_professional(
                    &TestApp::system(),
                    NewProfessional {
                        rpps: Some(fresh_rpps()),
                        adeli: None,
                        first_name: "Marc".into(),
                        last_name: "Nouvel".into(),
                        profession: "70".into(),
                        specialties: vec![],
                        email: Some("marc.nouvel@example.org".into()),
                    },
                    &[(w.msp.clone(), "member")],
                )
                .await
                .unwrap()
                .id
        }
        State::TeamDoctor => {
            let chu = app
                .platform
                .get_team(&w.team)
                .await
                .unwrap()
                .organisation_id;
            app.platform
                .create_professional(
                    &TestApp::system(),
                    NewProfessional {
                        rpps: Some(fresh_rpps()),
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
                .unwrap()
                .id
        }
        State::OwnerToken => {
            let owner = consilium::platform::Ctx::new(
                app.platform
                    .authenticate(PETIT)
                    .await
                    .unwrap()
                    .expect("Petit's token"),
            );
            app.platform
                .create_personal_token(&owner, "matrix", "read", 5)
                .await
                .unwrap()
                .info
                .id
        }
        State::OwnerSession => {
            let s = app
                .platform
                .sign_in_password(
                    &consilium::demo::demo_rpps(2),
                    &consilium::demo::password_for("petit"),
                    &Default::default(),
                )
                .await
                .unwrap();
            let sql = format!(
                "SELECT id FROM sessions WHERE token_hash = '{}'",
                hash_token(&s.token)
            );
            crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(
                sqlx::AssertSqlSafe(sql.clone())
            )
            .fetch_one(p)
            .await)
            .unwrap()
        }
        State::OwnerNotification => {
            let id = consilium::kernel::new_id();
            app.exec(&format!(
                "INSERT INTO notifications (id, professional_id, kind, created_at) \
                 VALUES ('{id}', '{}', 'reminder', {T0})",
                w.ids[&Who::Owner]
            ))
            .await
            .unwrap();
            id
        }
        State::ExpertAbsence => {
            // One at a time: what an earlier row left would overlap.
            app.exec(&format!(
                "DELETE FROM absences WHERE professional_id = '{}' AND from_at = {}",
                w.roux,
                consilium::kernel::Timestamp::parse_rfc3339("2031-06-01T00:00:00Z")
                    .unwrap()
                    .micros()
            ))
            .await
            .unwrap();
            let roux = consilium::platform::Ctx::new(
                app.platform
                    .authenticate(ROUX)
                    .await
                    .unwrap()
                    .expect("Roux's token"),
            );
            app.platform
                .add_absence(
                    &roux,
                    consilium::routing::rules::AbsenceInput {
                        from: consilium::kernel::Timestamp::parse_rfc3339("2031-06-01T00:00:00Z")
                            .unwrap(),
                        to: consilium::kernel::Timestamp::parse_rfc3339("2031-06-08T00:00:00Z")
                            .unwrap(),
                        delegate_id: None,
                    },
                )
                .await
                .unwrap()
                .id
        }
        State::DeadJob => {
            let id = consilium::kernel::new_id();
            app.exec(&format!(
                "INSERT INTO jobs (id, kind, payload, state, due_at, attempts, max_attempts, last_error, created_at, updated_at) \
                 VALUES ('{id}', 'mail.send', '{{}}', 'dead', {T0}, 8, 8, 'matrix', {T0}, {T0})"
            ))
            .await
            .unwrap();
            id
        }
        State::OwnerWebhook | State::OrgWebhook => {
            let (token, path) = if state == State::OwnerWebhook {
                (PETIT, "/api/v1/me/webhooks".to_string())
            } else {
                (
                    MARTIN,
                    format!("/api/v1/directory/organisations/{}/webhooks", w.msp),
                )
            };
            let (s, v) = app
                .post(
                    token,
                    &path,
                    json!({"url": "https://hooks.example.org/matrix"}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "setup webhook: {v}");
            v["id"].as_str().unwrap().to_string()
        }
        _ => return Option::None,
    })
}

async fn prepare(app: &TestApp, w: &World, state: State) -> Target {
    // Each case a second apart, so "newest first" lists are deterministic.
    app.clock.advance_seconds(1);
    if state == State::Unknown {
        return Target {
            case: consilium::kernel::new_id(),
            patient: consilium::kernel::new_id(),
            other: None,
            attachment: consilium::kernel::new_id(),
            identity: Vec::new(),
        };
    }
    if let Some(other) = prepare_other(app, w, state).await {
        return Target {
            case: consilium::kernel::new_id(),
            patient: consilium::kernel::new_id(),
            other: Some(other),
            attachment: consilium::kernel::new_id(),
            identity: Vec::new(),
        };
    }
    let hidden = matches!(state, State::PoolHidden | State::HiddenAssigned);
    let mut identity = Vec::new();
    let c = if state == State::Named {
        app.submitted_case(PETIT, json!({"expert_id": w.bernard}))
            .await
    } else if hidden {
        // A patient of their own: names, birth date and INS found nowhere else.
        let patient = unique_patient();
        identity = ["birth_family_name", "used_family_name", "given_names"]
            .iter()
            .map(|k| patient[k].as_str().unwrap().to_string())
            .collect();
        identity.push(
            consilium::identifiers::Ins::parse(patient["ins"].as_str().unwrap())
                .unwrap()
                .as_str()
                .to_string(),
        );
        app.draft(PETIT, json!({"team_id": w.hidden_team, "patient": patient}))
            .await
    } else {
        app.draft(PETIT, json!({"team_id": w.team})).await
    };
    let case = c["id"].as_str().unwrap().to_string();
    let attachment = if state == State::Named {
        consilium::kernel::new_id()
    } else {
        let png = crate::harness::tiny_png();
        let (s, v) = app
            .upload(
                Some(PETIT),
                &format!("/api/v1/cases/{case}/attachments"),
                &[("photo.png", &png)],
            )
            .await;
        assert_eq!(s.as_u16(), 201, "setup upload: {v}");
        v[0]["id"].as_str().unwrap().to_string()
    };
    let target = Target {
        case,
        patient: c["patient"]["id"].as_str().unwrap().to_string(),
        other: None,
        attachment,
        identity,
    };
    let id = target.case.clone();
    let step = |token: &'static str, op: &'static str, body: Value| {
        let path = format!("/api/v1/cases/{id}/{op}");
        async move { app.ok(token, &path, body).await }
    };
    if matches!(state, State::DraftNoConsent | State::Named) {
        return target;
    }
    app.consent(PETIT, &id).await;
    if state == State::Draft {
        return target;
    }
    step(PETIT, "submit", json!({})).await;
    if matches!(state, State::Pool | State::PoolHidden) {
        return target;
    }
    step(LEFEBVRE, "assign", json!({"expert_id": w.roux})).await;
    if matches!(state, State::Assigned | State::HiddenAssigned) {
        return target;
    }
    step(ROUX, "accept", json!({})).await;
    match state {
        State::AwaitingInfo => {
            step(ROUX, "request-info", json!({"text": "Depuis quand ?"})).await;
        }
        State::Answered | State::Closed | State::Signed => {
            step(
                ROUX,
                "answer",
                json!({"kind": "advice", "answer": "Émollients"}),
            )
            .await;
            if state == State::Signed {
                step(ROUX, "report/sign", json!({})).await;
            }
            if state == State::Closed {
                step(PETIT, "close", json!({"outcome": "visit_avoided"})).await;
            }
        }
        _ => {}
    }
    let (_, v) = app.get(PETIT, &format!("/api/v1/cases/{id}")).await;
    let expected = match state {
        State::InProgress => "in_progress",
        State::AwaitingInfo => "awaiting_info",
        State::Answered | State::Signed => "answered",
        State::Closed => "closed",
        other => panic!("unexpected state {other:?}"),
    };
    assert_eq!(v["state"], expected, "setup");
    target
}

/// What a refused request must leave untouched: the target case's version and state, and
/// counts over every table a request can write (but the audit log).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    case: Option<(i64, String)>,
    totals: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64),
}

async fn snapshot(app: &TestApp, t: &Target) -> Snapshot {
    let case_sql = "SELECT version, state FROM cases WHERE id = $1";
    let case: Option<(i64, String)> = crate::with_pool!(app.db(), |p| sqlx::query_as(case_sql)
        .bind(&t.case)
        .fetch_optional(p)
        .await)
    .unwrap();
    let sql = "SELECT
        (SELECT COUNT(*) FROM cases),
        (SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM cases),
        (SELECT COUNT(*) FROM patients),
        (SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM patients),
        (SELECT COUNT(*) FROM case_events),
        (SELECT COUNT(*) FROM case_messages),
        (SELECT COUNT(*) FROM idempotency_keys),
        (SELECT COUNT(*) FROM attachments),
        (SELECT COUNT(*) FROM reports),
        (SELECT COUNT(*) FROM report_deliveries)";
    let totals = crate::with_pool!(app.db(), |p| sqlx::query_as(sql).fetch_one(p).await).unwrap();
    Snapshot { case, totals }
}

/// Fields that name the patient: never in what a `hide=` column gets about the row's object.
const IDENTITY_FIELDS: [&str; 14] = [
    "birth_family_name",
    "used_family_name",
    "given_names",
    "birth_date",
    "birth_place_code",
    "ins",
    "ins_kind",
    "medecin_traitant_id",
    "medecin_traitant_name",
    "patient_name",
    "patient_birth_date",
    "patient_family_name",
    "patient_given_names",
    "patient_ins",
];

/// Fields that would carry a secret of the platform: in no answer, to anyone. (`secret` and
/// `token` are allowed once: in the answer that creates a webhook (or gives it a new secret)
/// or a personal token.)
const SECRET_FIELDS: [&str; 16] = [
    "password",
    "password_hash",
    "token_hash",
    "totp_secret",
    "csrf",
    "csrf_token",
    "session_token",
    "pkce_verifier",
    "nonce",
    "wrapped",
    "wrapped_key",
    "blob_key",
    "thumb_blob_key",
    "original_blob_key",
    "lease_token",
    "secret",
];

/// Every secret the database holds now (hashes of passwords and tokens, session and CSRF
/// tokens, TOTP and webhook secrets both as stored (sealed) and opened, wrapped keys, OIDC
/// nonces and verifiers), and the bearer tokens the test uses: an answer may carry none of
/// them.
async fn secrets(app: &TestApp) -> std::collections::HashSet<String> {
    let sql = "SELECT hash FROM password_credentials
        UNION ALL SELECT token_hash FROM sessions
        UNION ALL SELECT csrf_token FROM sessions
        UNION ALL SELECT secret FROM totp_credentials
        UNION ALL SELECT token_hash FROM api_tokens
        UNION ALL SELECT token_hash FROM one_time_links
        UNION ALL SELECT secret FROM webhooks
        UNION ALL SELECT wrapped FROM case_keys WHERE wrapped IS NOT NULL
        UNION ALL SELECT wrapped_key FROM attachments
        UNION ALL SELECT nonce FROM oidc_flows
        UNION ALL SELECT pkce_verifier FROM oidc_flows";
    let mut out: std::collections::HashSet<String> =
        crate::with_pool!(app.db(), |p| sqlx::query_scalar::<_, String>(sql)
            .fetch_all(p)
            .await)
        .unwrap()
        .into_iter()
        .collect();
    // Sealed secrets (TOTP, webhooks) are looked for as what they seal, too.
    let sealed: Vec<(String, String, String)> = crate::with_pool!(app.db(), |p| sqlx::query_as(
        "SELECT 'webhook', id, secret FROM webhooks
         UNION ALL SELECT 'totp', professional_id, secret FROM totp_credentials"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    for (kind, owner, stored) in sealed {
        let plain = if kind == "webhook" {
            app.platform.open_webhook_secret(&owner, &stored)
        } else {
            app.platform.open_totp_secret(&owner, &stored)
        };
        out.insert(plain.expect("a sealed secret opens"));
    }
    out.extend(
        [
            MARTIN, PETIT, MOREAU, LEFEBVRE, ROUX, FONTAINE, BERNARD, GARNIER, OTHER_ORG,
        ]
        .map(str::to_string),
    );
    out
}

/// Every string of an answer, whole and cut into words, and every field name.
fn strings_and_keys(v: &Value, words: &mut Vec<String>, keys: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            words.push(s.clone());
            words.extend(
                s.split(|c: char| c.is_whitespace() || "\"'<>(),;".contains(c))
                    .filter(|w| !w.is_empty())
                    .map(str::to_string),
            );
        }
        Value::Array(a) => a.iter().for_each(|x| strings_and_keys(x, words, keys)),
        Value::Object(o) => {
            for (k, x) in o {
                keys.push(k.clone());
                strings_and_keys(x, words, keys);
            }
        }
        _ => {}
    }
}

/// Field names present (and not null) anywhere in `v`.
fn present_fields<'a>(v: &Value, names: &[&'a str], out: &mut BTreeSet<&'a str>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| present_fields(x, names, out)),
        Value::Object(o) => {
            for (k, x) in o {
                if let Some(n) = names.iter().find(|n| **n == k.as_str())
                    && !x.is_null()
                {
                    out.insert(n);
                }
                present_fields(x, names, out);
            }
        }
        _ => {}
    }
}

/// What a successful answer carries: no secret to anyone; for `hide=` columns none of the
/// patient's identity; for `show=` columns the identity.
fn check_answer(
    row: &Row,
    who: Who,
    t: &Target,
    answer: &Value,
    secrets: &std::collections::HashSet<String>,
    label: &str,
) -> Vec<String> {
    let mut errs = Vec::new();
    let (mut words, mut keys) = (Vec::new(), Vec::new());
    strings_and_keys(answer, &mut words, &mut keys);
    let leaked: BTreeSet<&String> = words.iter().filter(|w| secrets.contains(*w)).collect();
    if !leaked.is_empty() {
        errs.push(format!("{label}: the answer carries a secret: {leaked:?}"));
    }
    let creates_secret = (
        row.method == "POST"
            && (row.path.ends_with("/webhooks") || row.path == "/api/v1/webhooks/{id}/secret"),
        row.method == "POST" && row.path == "/api/v1/me/tokens",
    );
    let bad_keys: BTreeSet<&String> = keys
        .iter()
        .filter(|k| SECRET_FIELDS.contains(&k.as_str()))
        .filter(|k| !(k.as_str() == "secret" && creates_secret.0))
        .collect();
    let bad_token = keys.iter().any(|k| k == "token") && !creates_secret.1;
    if !bad_keys.is_empty() || bad_token {
        errs.push(format!(
            "{label}: the answer has secret fields {bad_keys:?}{}",
            if bad_token { " token" } else { "" }
        ));
    }
    if !row.hide.contains(&who) && !row.show.contains(&who) {
        return errs;
    }
    // The part of the answer about the row's object: its line in a list, else all of it.
    let object = match answer.get("items").and_then(Value::as_array) {
        Some(items) => {
            let id = if row.path == PATIENTS {
                &t.patient
            } else {
                &t.case
            };
            match items.iter().find(|i| i["id"] == id.as_str()) {
                Some(item) => item,
                None => return errs,
            }
        }
        None => answer,
    };
    let text = answer.to_string().to_lowercase();
    if row.hide.contains(&who) {
        let mut fields = BTreeSet::new();
        present_fields(object, &IDENTITY_FIELDS, &mut fields);
        if !fields.is_empty() {
            errs.push(format!(
                "{label}: may not see the patient's identity, yet the answer has {fields:?}: {object}"
            ));
        }
        for v in &t.identity {
            if text.contains(&v.to_lowercase()) {
                errs.push(format!(
                    "{label}: may not see the patient's identity, yet the answer holds '{v}'"
                ));
            }
        }
    }
    if row.show.contains(&who) {
        // Lists name the patient by their used name (else the birth name) and given names.
        let part = object.to_string().to_lowercase();
        let seen = t.identity.len() == 4
            && t.identity[1..3]
                .iter()
                .all(|x| part.contains(&x.to_lowercase()));
        if !seen {
            errs.push(format!(
                "{label}: should see the patient's identity, not in the answer: {object}"
            ));
        }
    }
    errs
}

/// Runs one cell; returns what went wrong (nothing when the cell holds).
async fn cell(app: &TestApp, w: &World, row: &Row, who: Who, exp: E, t: &Target) -> Vec<String> {
    let object = match &t.other {
        Some(o) => o,
        None if row.on_patient => &t.patient,
        None => &t.case,
    };
    let id_in_path = match &t.other {
        Some(o) => o,
        None if row.path.starts_with(PATIENT) => &t.patient,
        None => &t.case,
    };
    let path = format!(
        "{}{}",
        row.path
            .replace("{id}", id_in_path)
            .replace("{attachment_id}", &t.attachment)
            .replace("{version}", "1"),
        row.query
    );
    let label = format!(
        "{} {}{} on a {:?} case, as {:?}",
        row.method, row.path, row.query, row.state, who
    );
    let owner = &w.ids[&Who::Owner];
    if who == Who::Disabled {
        app.platform
            .set_professional_active(&TestApp::system(), owner, false)
            .await
            .unwrap();
    }
    // A session of the owner's, past its idle limit.
    let expired = if who == Who::ExpiredSession {
        let s = app
            .platform
            .sign_in_password(
                &consilium::demo::demo_rpps(2),
                &consilium::demo::password_for("petit"),
                &Default::default(),
            )
            .await
            .unwrap();
        app.exec(&format!(
            "UPDATE sessions SET last_seen_at = 0 WHERE token_hash = '{}'",
            hash_token(&s.token)
        ))
        .await
        .unwrap();
        Some(s)
    } else {
        None
    };
    let (head, _) = app.audit_head().await;
    let before = snapshot(app, t).await;
    let mut secrets_before = if exp.is_success() {
        secrets(app).await
    } else {
        Default::default()
    };
    if let Some(s) = &expired {
        secrets_before.insert(s.token.clone());
    }
    let body = row.body(w, t);
    let (status, answer) = match &expired {
        None if row.multipart => {
            let png = crate::harness::tiny_png();
            app.upload(who.token(), &path, &[("photo.png", &png)]).await
        }
        None => app.call(&row.method, who.token(), &path, body, None).await,
        Some(s) => {
            let m = reqwest::Method::from_bytes(row.method.as_bytes()).unwrap();
            let mut req = app
                .client
                .request(m, format!("{}{path}", app.base))
                .header("cookie", format!("__Host-consilium-session={}", s.token))
                .header("x-csrf-token", &s.csrf);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.unwrap();
            let st = r.status();
            (st, Value::String(r.text().await.unwrap_or_default()))
        }
    };
    let entries = app.audit_since(head).await;
    let after = snapshot(app, t).await;
    if who == Who::Disabled {
        app.platform
            .set_professional_active(&TestApp::system(), owner, true)
            .await
            .unwrap();
    }

    let mut errs = Vec::new();
    if status.as_u16() != exp.status() {
        errs.push(format!(
            "{label}: expected {} ({exp:?}), got {status}: {answer}",
            exp.status()
        ));
        return errs;
    }
    if exp.is_success() {
        errs.extend(check_answer(row, who, t, &answer, &secrets_before, &label));
    }
    if matches!(exp, E::Listed | E::Unlisted) {
        let listed_id = if row.path == PATIENTS {
            &t.patient
        } else {
            &t.case
        };
        let items = answer["items"].as_array().cloned().unwrap_or_default();
        let listed = items.iter().any(|i| i["id"] == listed_id.as_str());
        if listed != (exp == E::Listed) {
            errs.push(format!("{label}: expected {exp:?}, listed = {listed}"));
        }
        if !answer["next_cursor"].is_null() {
            errs.push(format!("{label}: the list does not fit one page any more"));
        }
    }
    let me = w.ids.get(&who).cloned();
    let show = |e: &[StoredEntry]| {
        e.iter()
            .map(|x| {
                format!(
                    "#{} {} {} {} {}",
                    x.seq, x.action, x.outcome, x.object_type, x.object_id
                )
            })
            .collect::<Vec<_>>()
    };
    match exp {
        E::Unauthorized if who == Who::Anonymous => {
            if !entries.is_empty() {
                errs.push(format!(
                    "{label}: no credential, yet audited: {:?}",
                    show(&entries)
                ));
            }
        }
        E::Unauthorized if who == Who::ExpiredSession => {
            let ok = entries.len() == 2
                && entries[0].action == "session.end"
                && entries[0].details.contains("idle_timeout")
                && entries[1].action == "auth.session"
                && entries[1].outcome == "denied";
            if !ok {
                errs.push(format!(
                    "{label}: an expired session needs 'session.end' then 'auth.session' denied, got {:?}",
                    show(&entries)
                ));
            }
        }
        E::Unauthorized => {
            let ok = entries.len() == 1
                && entries[0].action == "auth.token"
                && entries[0].outcome == "denied"
                && entries[0].actor_id.is_none();
            if !ok {
                errs.push(format!(
                    "{label}: a refused token needs one 'auth.token' denied entry, got {:?}",
                    show(&entries)
                ));
            }
        }
        e if e.is_denial() => {
            // A refusal about no object in particular (`None`) is recorded against the caller.
            let on_caller = object.is_empty()
                && entries
                    .first()
                    .is_some_and(|e| Some(&e.object_id) == me.as_ref());
            let ok = entries.len() == 1
                && entries[0].action == row.action
                && entries[0].outcome == "denied"
                && (entries[0].object_id == *object || on_caller)
                && entries[0].actor_id == me;
            if !ok {
                errs.push(format!(
                    "{label}: expected one '{}' denied entry on {object}, got {:?}",
                    row.action,
                    show(&entries)
                ));
            }
        }
        e if e.is_success() && row.success_action() == "-" => {
            // Directory and code reads are not audited.
            if !entries.is_empty() {
                errs.push(format!(
                    "{label}: expected no audit entry, got {:?}",
                    show(&entries)
                ));
            }
        }
        e if e.is_success() => {
            let main: Vec<&StoredEntry> = entries
                .iter()
                .filter(|x| x.action == row.success_action())
                .collect();
            let ok = main.len() == 1
                && entries.len() == 1 + row.also.len()
                && entries.iter().all(|x| {
                    x.outcome == "success"
                        && x.actor_id == me
                        && (x.action == row.success_action() || row.also.contains(&x.action))
                })
                // An operation that creates an object records that object (not the path's).
                && (!row.path.contains("{id}")
                    || row.ok_action.is_some()
                    || main[0].object_id == *id_in_path);
            if !ok {
                errs.push(format!(
                    "{label}: expected one '{}' success entry (plus {:?}), got {:?}",
                    row.success_action(),
                    row.also,
                    show(&entries)
                ));
            }
        }
        _ => {
            // 409 or 422 where the role allows it: nothing happened, nothing to audit.
            if !entries.is_empty() {
                errs.push(format!(
                    "{label}: a refused change left audit entries {:?}",
                    show(&entries)
                ));
            }
        }
    }
    if !exp.is_success() && before != after {
        errs.push(format!(
            "{label}: the request was refused but changed the database: {before:?} → {after:?}"
        ));
    }
    errs
}

both!(authorization_matrix, |app| {
    let w = world(app).await;
    let rows = table();
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let mut target: Option<Target> = None;
        for (who, exp) in COLUMNS.into_iter().zip(row.expect) {
            if target.is_none() {
                target = Some(prepare(app, &w, row.state).await);
            }
            let t = target.as_ref().unwrap();
            failures.extend(cell(app, &w, row, who, exp, t).await);
            cells += 1;
            // A cell that changed something: the next one gets a fresh case.
            if exp.is_success() && row.method != "GET" {
                target = None;
            }
        }
    }
    assert_eq!(cells, rows.len() * COLUMNS.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
});

/// The `(method, path)` of every route in `api::routes()`, read from the source: a route
/// added to the router without a row here (or without OpenAPI documentation) fails the test.
fn router_operations() -> Vec<(String, String)> {
    let src = include_str!("../../src/web/api.rs");
    let start = src.find("pub fn routes()").expect("api::routes()");
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").expect("end of routes()")];
    let mut out = Vec::new();
    for chunk in body.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).expect("a route path");
        for m in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{m}(");
            let found = chunk.match_indices(&call).any(|(i, _)| {
                !chunk[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if found {
                out.push((m.to_string(), format!("/api/v1{path}")));
            }
        }
    }
    out
}

both!(every_operation_has_a_row, |app| {
    let covered: BTreeSet<(String, String)> = table()
        .iter()
        .map(|r| (r.method.to_lowercase(), r.path.clone()))
        .collect();
    let relevant = |_: &str| true;

    let doc: Value = app
        .client
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = router_operations().into_iter().collect();
    assert!(
        routed.len() >= 20 && routed.contains(&("put".into(), "/api/v1/cases/{id}/consent".into())),
        "the router parser found {routed:?}"
    );

    let missing: Vec<_> = documented
        .union(&routed)
        .filter(|(_, p)| relevant(p))
        .filter(|op| !covered.contains(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a row in the authorization matrix: {missing:?}"
    );
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for operations that do not exist: {stale:?}"
    );
});

/// The fields a caller may never set, as they should be for a draft of `petit`'s.
async fn protected(app: &TestApp, id: &str, patient: &str, petit: &str) -> (i64, i64) {
    (
        app.scalar(&format!("SELECT COUNT(*) FROM cases WHERE id = '{id}' AND state = 'draft' AND requester_id = '{petit}' AND assigned_expert_id IS NULL AND deadline_at IS NULL AND version < 10")).await,
        app.scalar(&format!("SELECT COUNT(*) FROM patients WHERE id = '{patient}' AND created_by = '{petit}'")).await,
    )
}

// Mass assignment: fields a caller may not set (`state`, owner, assignee, organisation,
// version, deadline) sent in bodies change nothing, whatever the answer.
both!(mass_assignment_probes_change_nothing, |app| {
    let w = world(app).await;
    let petit = &w.ids[&Who::Owner];
    let probe = json!({
        "state": "closed", "status": "closed", "owner": w.roux, "owner_id": w.roux,
        "requester_id": w.roux, "assignee": w.roux, "assigned_expert_id": w.roux,
        "organisation": w.team, "organisation_id": w.team, "team_id": w.team,
        "version": 99, "created_by": w.roux, "deadline_at": "2030-01-01T00:00:00Z"
    });
    let draft = app.draft(PETIT, json!({"team_id": w.team})).await;
    let id = draft["id"].as_str().unwrap().to_string();
    let patient = draft["patient"]["id"].as_str().unwrap().to_string();
    assert_eq!(protected(app, &id, &patient, petit).await, (1, 1));
    let merge = |base: Value| {
        let mut b = base;
        for (k, v) in probe.as_object().unwrap() {
            b.as_object_mut()
                .unwrap()
                .entry(k.clone())
                .or_insert(v.clone());
        }
        b
    };
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/v1/cases/{id}"),
            merge(json!({"question": "Autre ?"})),
        ),
        (
            "PUT",
            format!("/api/v1/patients/{patient}"),
            merge(
                json!({"birth_family_name": "Testard", "given_names": "Paul", "birth_date": "1970-01-15", "sex": "M"}),
            ),
        ),
        (
            "PUT",
            format!("/api/v1/cases/{id}/consent"),
            merge(json!({"decision": "given", "method": "oral", "patient_informed": true})),
        ),
        (
            "POST",
            format!("/api/v1/cases/{id}/messages"),
            merge(json!({"text": "x"})),
        ),
    ] {
        let (s, v) = app.call(method, Some(PETIT), &path, Some(body), None).await;
        assert!(
            s.is_success() || s.as_u16() == 422 || s.as_u16() == 409,
            "{method} {path}: {s} {v}"
        );
        assert_eq!(
            protected(app, &id, &patient, petit).await,
            (1, 1),
            "{method} {path} changed a protected field"
        );
    }
    // Created objects belong to the caller and start where the lifecycle says.
    let (s, v) = app
        .call(
            "POST",
            Some(PETIT),
            "/api/v1/cases",
            Some(merge(
                json!({"patient_id": patient, "reason": "r", "question": "q"}),
            )),
            None,
        )
        .await;
    if s.is_success() {
        let nid = v["id"].as_str().unwrap();
        assert_eq!(protected(app, nid, &patient, petit).await, (1, 1), "{v}");
    } else {
        assert_eq!(s.as_u16(), 422, "{v}");
    }
});
