//! A1, the authorization matrix: every case and patient operation of the API × every role,
//! through HTTP, each on a case prepared in the state the operation needs.
//!
//! Every cell checks the status, the audit trail (one "denied" entry for each denial by an
//! authenticated caller and for each presented but refused token; one success entry for each
//! answered request; nothing for a 409 or a 422) and, for every refused request, that
//! nothing changed in the database. `every_operation_has_a_row` fails when the router or
//! the OpenAPI document has a case or patient operation this table does not cover.
//!
//! The expectations follow `cases::model::Relation`: the requester sees their own cases; the
//! assigned expert theirs; a team member sees a team case only while it waits in the pool;
//! the team's assigner sees the team's cases (not drafts); anyone else gets 404. Visible but
//! not allowed is 403. A patient is visible to whoever recorded them and to whoever may see
//! one of their cases.

use crate::both;
use crate::harness::TestApp;
use consilium::audit::StoredEntry;
use consilium::directory::model::{NewTeam, NewTeamMember, TeamPolicy};
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

/// The matrix's columns. Most rows use a case that the nurse Petit sends to the
/// dermatology team; the roles are named for that case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    /// No `Authorization` header.
    Anonymous,
    /// A well-formed token that matches nothing.
    BadToken,
    /// The case's requester, disabled just for the call (a disabled user's token stops
    /// working at once, even on their own cases).
    Disabled,
    /// Petit (nurse, MSP): the requester, owner of the case and of its patient.
    Owner,
    /// Moreau (physiotherapist, same MSP): another requester.
    OtherRequester,
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

const COLUMNS: [Who; 11] = [
    Who::Anonymous,
    Who::BadToken,
    Who::Disabled,
    Who::Owner,
    Who::OtherRequester,
    Who::OrgAdmin,
    Who::Expert,
    Who::TeamMate,
    Who::Assigner,
    Who::OtherAssigner,
    Who::OtherExpert,
];

impl Who {
    fn token(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::BadToken => Some("csl_this_token_does_not_exist"),
            Who::Disabled | Who::Owner => Some(PETIT),
            Who::OtherRequester => Some(MOREAU),
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

const OK: E = E::Ok;
const NEW: E = E::Created;
const FOR: E = E::Forbidden;
const NOF: E = E::NotFound;
const CON: E = E::Conflict;
const TKN: E = E::Taken;
const INV: E = E::Invalid;
const IDN: E = E::InvalidDenied;
const LST: E = E::Listed;
const HID: E = E::Unlisted;

impl E {
    fn status(self) -> u16 {
        match self {
            E::Ok | E::Listed | E::Unlisted => 200,
            E::Created => 201,
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
    /// Roux answered.
    Answered,
    /// The requester closed it.
    Closed,
    /// Sent to Bernard by name (no team): assigned to him.
    Named,
    /// No such case or patient (random identifiers).
    Unknown,
}

struct World {
    team: String,
    roux: String,
    fontaine: String,
    bernard: String,
    ids: HashMap<Who, String>,
}

struct Target {
    case: String,
    patient: String,
}

type BodyFn = fn(&World, &Target) -> Option<Value>;

struct Row {
    method: &'static str,
    /// As in the OpenAPI document; `{id}` is the case's (or the patient's) id.
    path: &'static str,
    query: &'static str,
    state: State,
    body: BodyFn,
    /// The audit action recorded for this operation (success or denial).
    action: &'static str,
    /// Denials are recorded against the patient rather than the case.
    on_patient: bool,
    /// Other success entries the operation writes besides `action`.
    also: &'static [&'static str],
    expect: [E; 11],
}

/// A row: the eight authenticated columns; the three unauthenticated ones (anonymous, bad
/// token, disabled user) are 401 on every operation.
fn r(
    method: &'static str,
    path: &'static str,
    state: State,
    action: &'static str,
    cells: [E; 8],
) -> Row {
    let mut expect = [E::Unauthorized; 11];
    expect[3..].copy_from_slice(&cells);
    Row {
        method,
        path,
        query: "",
        state,
        body: if method == "GET" {
            |_, _| None
        } else {
            |_, _| Some(json!({}))
        },
        action,
        on_patient: path.starts_with(PATIENT),
        also: &[],
        expect,
    }
}

impl Row {
    fn q(mut self, q: &'static str) -> Self {
        self.query = q;
        self
    }
    fn body(mut self, f: BodyFn) -> Self {
        self.body = f;
        self
    }
    fn on_patient(mut self) -> Self {
        self.on_patient = true;
        self
    }
    fn also(mut self, a: &'static [&'static str]) -> Self {
        self.also = a;
        self
    }
}

const CASES: &str = "/api/v1/cases";
const CASE: &str = "/api/v1/cases/{id}";
const PATIENTS: &str = "/api/v1/patients";
const PATIENT: &str = "/api/v1/patients/{id}";

fn t(name: &str) -> &'static str {
    match name {
        "consent" => "/api/v1/cases/{id}/consent",
        "submit" => "/api/v1/cases/{id}/submit",
        "assign" => "/api/v1/cases/{id}/assign",
        "accept" => "/api/v1/cases/{id}/accept",
        "decline" => "/api/v1/cases/{id}/decline",
        "forward" => "/api/v1/cases/{id}/forward",
        "request-info" => "/api/v1/cases/{id}/request-info",
        "provide-info" => "/api/v1/cases/{id}/provide-info",
        "answer" => "/api/v1/cases/{id}/answer",
        "convert-to-consultation" => "/api/v1/cases/{id}/convert-to-consultation",
        "cancel" => "/api/v1/cases/{id}/cancel",
        "close" => "/api/v1/cases/{id}/close",
        "events" => "/api/v1/cases/{id}/events",
        "messages" => "/api/v1/cases/{id}/messages",
        other => panic!("no such case operation: {other}"),
    }
}

fn new_patient() -> Value {
    json!({
        "birth_family_name": "Nouveau",
        "given_names": "Patient",
        "birth_date": "1980-01-01",
        "sex": "F"
    })
}

/// The matrix. Columns: owner, other requester, org admin, expert, team-mate, assigner,
/// other team's assigner, other team's expert (after the three 401 columns).
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use State::*;
    vec![
        // ----- list views (first, while lists are short enough for one page) -----
        r("GET", CASES, InProgress, "case.list", [LST, HID, HID, HID, HID, HID, HID, HID]).q("?view=requested&limit=100"),
        r("GET", CASES, InProgress, "case.list", [HID, HID, HID, LST, HID, HID, HID, HID]).q("?view=inbox&limit=100"),
        r("GET", CASES, Pool,       "case.list", [HID, HID, HID, LST, LST, LST, HID, HID]).q("?view=inbox&limit=100"),
        r("GET", CASES, Named,      "case.list", [HID, HID, HID, HID, HID, HID, LST, HID]).q("?view=inbox&limit=100"),
        r("GET", CASES, InProgress, "case.list", [HID, HID, HID, HID, HID, LST, HID, HID]).q("?view=team&limit=100"),
        r("GET", CASES, Draft,      "case.list", [HID, HID, HID, HID, HID, HID, HID, HID]).q("?view=team&limit=100"),
        r("GET", PATIENTS, InProgress, "patient.list", [LST, HID, HID, HID, HID, HID, HID, HID]).q("?limit=100"),
        // ----- creation -----
        r("POST", PATIENTS, Unknown, "patient.create", [NEW, NEW, NEW, NEW, NEW, NEW, NEW, NEW])
            .body(|_, _| Some(new_patient())),
        r("POST", CASES, Unknown, "case.create", [NEW, NEW, NEW, NEW, NEW, NEW, NEW, NEW])
            .body(|w, _| Some(json!({"patient": new_patient(), "team_id": w.team, "reason": "r", "question": "q"})))
            .also(&["patient.create"]),
        // An existing patient: only one the caller may see ("unknown patient" otherwise).
        r("POST", CASES, InProgress, "case.create", [NEW, IDN, IDN, NEW, IDN, NEW, IDN, IDN])
            .body(|w, t| Some(json!({"patient_id": t.patient, "team_id": w.team, "reason": "r", "question": "q"})))
            .on_patient(),
        // ----- reading a case -----
        r("GET", CASE, Draft,      "case.read", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("GET", CASE, Pool,       "case.read", [OK, NOF, NOF, OK, OK, OK, NOF, NOF]),
        r("GET", CASE, Assigned,   "case.read", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        r("GET", CASE, InProgress, "case.read", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        r("GET", CASE, Closed,     "case.read", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        r("GET", CASE, Named,      "case.read", [OK, NOF, NOF, NOF, NOF, NOF, OK, NOF]),
        r("GET", CASE, Unknown,    "case.read", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("GET", t("events"), Pool,       "case.events", [OK, NOF, NOF, OK, OK, OK, NOF, NOF]),
        r("GET", t("events"), InProgress, "case.events", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        r("GET", t("events"), Unknown,    "case.events", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("GET", t("messages"), Draft,      "case.messages", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("GET", t("messages"), Pool,       "case.messages", [OK, NOF, NOF, OK, OK, OK, NOF, NOF]),
        r("GET", t("messages"), InProgress, "case.messages", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        // ----- patients -----
        r("GET", PATIENT, Draft,      "patient.read", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("GET", PATIENT, Pool,       "patient.read", [OK, NOF, NOF, OK, OK, OK, NOF, NOF]),
        r("GET", PATIENT, InProgress, "patient.read", [OK, NOF, NOF, OK, NOF, OK, NOF, NOF]),
        r("GET", PATIENT, Unknown,    "patient.read", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        // Only the professional who recorded the patient may change them; the code answers
        // 404 even to those who may see the patient (expert, assigner).
        r("PUT", PATIENT, InProgress, "patient.update", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"birth_family_name": "Testard", "given_names": "Paul Henri", "birth_date": "1970-01-15", "sex": "M"}))),
        r("PUT", PATIENT, InProgress, "patient.update", [INV, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"birth_family_name": "Testard", "given_names": "Paul", "birth_date": "1970-13-45", "sex": "M"}))),
        r("PUT", PATIENT, Unknown, "patient.update", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"birth_family_name": "X", "given_names": "Y", "birth_date": "1970-01-15", "sex": "M"}))),
        // ----- the draft -----
        r("PATCH", CASE, Draft,      "case.update", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"question": "Question précisée ?"}))),
        r("PATCH", CASE, Pool,       "case.update", [CON, NOF, NOF, FOR, FOR, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"question": "Question précisée ?"}))),
        r("PATCH", CASE, InProgress, "case.update", [CON, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"question": "Question précisée ?"}))),
        r("PATCH", CASE, Unknown,    "case.update", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"question": "Question précisée ?"}))),
        r("PUT", t("consent"), DraftNoConsent, "case.consent", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"decision": "given", "method": "written", "patient_informed": true}))),
        r("PUT", t("consent"), DraftNoConsent, "case.consent", [INV, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"decision": "given", "method": "oral", "patient_informed": false}))),
        r("PUT", t("consent"), Pool, "case.consent", [CON, NOF, NOF, FOR, FOR, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"decision": "given", "method": "written", "patient_informed": true}))),
        r("POST", t("submit"), Draft,          "case.submit", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("POST", t("submit"), DraftNoConsent, "case.submit", [INV, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("POST", t("submit"), Pool,           "case.submit", [CON, NOF, NOF, FOR, FOR, FOR, NOF, NOF]),
        r("POST", t("submit"), Unknown,        "case.submit", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        // ----- routing -----
        r("POST", t("assign"), Pool, "case.assign", [FOR, NOF, NOF, FOR, FOR, OK, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.roux}))),
        // Only to a member of the case's team.
        r("POST", t("assign"), Pool, "case.assign", [FOR, NOF, NOF, FOR, FOR, INV, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.bernard}))),
        r("POST", t("assign"), InProgress, "case.assign", [FOR, NOF, NOF, FOR, NOF, CON, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.fontaine}))),
        // Any team member (the assigner included) may claim a pool case.
        r("POST", t("accept"), Pool, "case.accept", [FOR, NOF, NOF, OK, OK, OK, NOF, NOF]),
        // Once someone has it, team-mates (and the assigner) learn it was taken.
        r("POST", t("accept"), Assigned,   "case.accept", [FOR, NOF, NOF, OK, TKN, TKN, NOF, NOF]),
        r("POST", t("accept"), InProgress, "case.accept", [FOR, NOF, NOF, CON, TKN, TKN, NOF, NOF]),
        r("POST", t("accept"), Named,      "case.accept", [FOR, NOF, NOF, NOF, NOF, NOF, OK, NOF]),
        r("POST", t("accept"), Unknown,    "case.accept", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF]),
        r("POST", t("decline"), Pool,       "case.decline", [FOR, NOF, NOF, FOR, FOR, OK, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "out_of_scope"}))),
        r("POST", t("decline"), InProgress, "case.decline", [FOR, NOF, NOF, OK, NOF, OK, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "out_of_scope"}))),
        r("POST", t("decline"), InProgress, "case.decline", [FOR, NOF, NOF, INV, NOF, INV, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "other"}))),
        r("POST", t("decline"), Named,      "case.decline", [FOR, NOF, NOF, NOF, NOF, NOF, OK, NOF])
            .body(|_, _| Some(json!({"reason": "image_quality"}))),
        r("POST", t("forward"), Pool,       "case.forward", [FOR, NOF, NOF, FOR, FOR, OK, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.bernard}))),
        r("POST", t("forward"), InProgress, "case.forward", [FOR, NOF, NOF, OK, NOF, OK, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.bernard}))),
        r("POST", t("forward"), InProgress, "case.forward", [FOR, NOF, NOF, OK, NOF, OK, NOF, NOF])
            .body(|w, _| Some(json!({"team_id": w.team}))),
        r("POST", t("forward"), Closed,     "case.forward", [FOR, NOF, NOF, CON, NOF, CON, NOF, NOF])
            .body(|w, _| Some(json!({"expert_id": w.bernard}))),
        // ----- the expert's work -----
        r("POST", t("request-info"), InProgress, "case.request_info", [FOR, NOF, NOF, OK, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Une photo nette ?"}))),
        r("POST", t("request-info"), Assigned,   "case.request_info", [FOR, NOF, NOF, CON, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Une photo nette ?"}))),
        r("POST", t("request-info"), InProgress, "case.request_info", [FOR, NOF, NOF, INV, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"text": "   "}))),
        r("POST", t("provide-info"), AwaitingInfo, "case.provide_info", [OK, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Photo jointe"}))),
        r("POST", t("provide-info"), InProgress,   "case.provide_info", [CON, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Photo jointe"}))),
        r("POST", t("answer"), InProgress, "case.answer", [FOR, NOF, NOF, OK, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"kind": "advice", "answer": "Dermite séborrhéique"}))),
        r("POST", t("answer"), Assigned,   "case.answer", [FOR, NOF, NOF, CON, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"kind": "advice", "answer": "Dermite séborrhéique"}))),
        r("POST", t("answer"), InProgress, "case.answer", [FOR, NOF, NOF, INV, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"kind": "consultation", "answer": "À voir"}))),
        r("POST", t("convert-to-consultation"), InProgress, "case.convert_to_consultation", [FOR, NOF, NOF, OK, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"answer": "À voir en consultation", "urgency": "routine"}))),
        r("POST", t("convert-to-consultation"), Named,      "case.convert_to_consultation", [FOR, NOF, NOF, NOF, NOF, NOF, CON, NOF])
            .body(|_, _| Some(json!({"answer": "À voir en consultation", "urgency": "routine"}))),
        // ----- the requester's end -----
        r("POST", t("cancel"), Draft,      "case.cancel", [OK, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "réglé"}))),
        r("POST", t("cancel"), InProgress, "case.cancel", [OK, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "réglé"}))),
        r("POST", t("cancel"), Answered,   "case.cancel", [CON, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"reason": "réglé"}))),
        r("POST", t("close"), Answered,   "case.close", [OK, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"outcome": "visit_avoided", "usefulness": 4}))),
        r("POST", t("close"), Answered,   "case.close", [INV, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"outcome": "visit_avoided", "usefulness": 9}))),
        r("POST", t("close"), InProgress, "case.close", [CON, NOF, NOF, FOR, NOF, FOR, NOF, NOF])
            .body(|_, _| Some(json!({"outcome": "visit_avoided"}))),
        // ----- the thread: requester, expert in charge, assigner -----
        r("POST", t("messages"), Pool,       "case.message", [NEW, NOF, NOF, FOR, FOR, NEW, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Bonjour"}))),
        r("POST", t("messages"), InProgress, "case.message", [NEW, NOF, NOF, NEW, NOF, NEW, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Bonjour"}))),
        r("POST", t("messages"), InProgress, "case.message", [INV, NOF, NOF, INV, NOF, INV, NOF, NOF])
            .body(|_, _| Some(json!({"text": ""}))),
        r("POST", t("messages"), Draft,      "case.message", [CON, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Bonjour"}))),
        r("POST", t("messages"), Closed,     "case.message", [CON, NOF, NOF, CON, NOF, CON, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Bonjour"}))),
        r("POST", t("messages"), Unknown,    "case.message", [NOF, NOF, NOF, NOF, NOF, NOF, NOF, NOF])
            .body(|_, _| Some(json!({"text": "Bonjour"}))),
    ]
}

async fn world(app: &TestApp) -> World {
    app.seed_demo().await;
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
    let cabinet = app
        .platform
        .list_organisations()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.contains("cardiologie"))
        .expect("Bernard's cabinet")
        .id;
    app.platform
        .create_team(
            &TestApp::system(),
            NewTeam {
                organisation_id: cabinet,
                name: "Cardiologie et grossesse".into(),
                specialty: "SM04".into(),
                policy: TeamPolicy::SelfService,
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
    World {
        team,
        roux: ids[&Who::Expert].clone(),
        fontaine: ids[&Who::TeamMate].clone(),
        bernard: ids[&Who::OtherAssigner].clone(),
        ids,
    }
}

async fn prepare(app: &TestApp, w: &World, state: State) -> Target {
    // Each case a second apart, so "newest first" lists are deterministic.
    app.clock.advance_seconds(1);
    if state == State::Unknown {
        return Target {
            case: consilium::kernel::new_id(),
            patient: consilium::kernel::new_id(),
        };
    }
    let c = if state == State::Named {
        app.submitted_case(PETIT, json!({"expert_id": w.bernard}))
            .await
    } else {
        app.draft(PETIT, json!({"team_id": w.team})).await
    };
    let target = Target {
        case: c["id"].as_str().unwrap().to_string(),
        patient: c["patient"]["id"].as_str().unwrap().to_string(),
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
    if state == State::Pool {
        return target;
    }
    step(LEFEBVRE, "assign", json!({"expert_id": w.roux})).await;
    if state == State::Assigned {
        return target;
    }
    step(ROUX, "accept", json!({})).await;
    match state {
        State::AwaitingInfo => {
            step(ROUX, "request-info", json!({"text": "Depuis quand ?"})).await;
        }
        State::Answered | State::Closed => {
            step(
                ROUX,
                "answer",
                json!({"kind": "advice", "answer": "Émollients"}),
            )
            .await;
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
        State::Answered => "answered",
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
    totals: (i64, i64, i64, i64, i64, i64, i64),
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
        (SELECT COUNT(*) FROM idempotency_keys)";
    let totals = crate::with_pool!(app.db(), |p| sqlx::query_as(sql).fetch_one(p).await).unwrap();
    Snapshot { case, totals }
}

/// Runs one cell; returns what went wrong (nothing when the cell holds).
async fn cell(app: &TestApp, w: &World, row: &Row, who: Who, exp: E, t: &Target) -> Vec<String> {
    let object = if row.on_patient { &t.patient } else { &t.case };
    let id_in_path = if row.path.starts_with(PATIENT) {
        &t.patient
    } else {
        &t.case
    };
    let path = format!("{}{}", row.path.replace("{id}", id_in_path), row.query);
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
    let (head, _) = app.audit_head().await;
    let before = snapshot(app, t).await;
    let body = (row.body)(w, t);
    let (status, answer) = app.call(row.method, who.token(), &path, body, None).await;
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
            let ok = entries.len() == 1
                && entries[0].action == row.action
                && entries[0].outcome == "denied"
                && entries[0].object_id == *object
                && entries[0].actor_id == me;
            if !ok {
                errs.push(format!(
                    "{label}: expected one '{}' denied entry on {object}, got {:?}",
                    row.action,
                    show(&entries)
                ));
            }
        }
        e if e.is_success() => {
            let main: Vec<&StoredEntry> =
                entries.iter().filter(|x| x.action == row.action).collect();
            let ok = main.len() == 1
                && entries.len() == 1 + row.also.len()
                && entries.iter().all(|x| {
                    x.outcome == "success"
                        && x.actor_id == me
                        && (x.action == row.action || row.also.contains(&x.action.as_str()))
                })
                && (!row.path.contains("{id}") || main[0].object_id == *id_in_path);
            if !ok {
                errs.push(format!(
                    "{label}: expected one '{}' success entry (plus {:?}), got {:?}",
                    row.action,
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
        .map(|r| (r.method.to_lowercase(), r.path.to_string()))
        .collect();
    let relevant = |p: &str| p.contains("/cases") || p.contains("/patients");

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
        routed.len() >= 20 && routed.contains(&("put".into(), t("consent").into())),
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
