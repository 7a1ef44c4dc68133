//! Case use cases. Each one: authorise → load → apply the model transition → persist →
//! audit → (idempotency record), in one transaction.

use super::model::{
    self, CaseState, DeclineReason, Opinion, OpinionKind, Outcome, Relation, Transition, Urgency,
};
use super::repo::{self, CaseEvent, CaseRow, ListFilter, Message, SummaryRow, View};
use crate::audit::{self, NewEntry};
use crate::codes;
use crate::db::Tx;
use crate::directory::model::display_name;
use crate::directory::repo as dir;
use crate::idempotency;
use crate::kernel::error::Violations;
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::notifications::{self, Kind};
use crate::patients::model::{PatientInput, PatientView};
use crate::patients::repo as patients;
use crate::platform::{Ctx, Platform};
use crate::rules;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

// ---------- inputs ----------

/// A new request (draft). Give an existing `patient_id` or a new `patient`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewCase {
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub patient: Option<PatientInput>,
    /// A named expert from the directory…
    #[serde(default)]
    pub expert_id: Option<String>,
    /// …or a team (its pool).
    #[serde(default)]
    pub team_id: Option<String>,
    /// TRE_R38 specialty asked for; defaults to the team's.
    #[serde(default)]
    pub specialty: Option<String>,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    /// Reason for the request (R7).
    #[serde(default)]
    pub reason: String,
    /// The question asked to the expert (R7).
    #[serde(default)]
    pub question: String,
    /// Useful clinical data (R7).
    #[serde(default)]
    pub clinical_context: String,
}

/// Changes to a draft; absent fields are left as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DraftPatch {
    pub expert_id: Option<String>,
    pub team_id: Option<String>,
    pub specialty: Option<String>,
    pub urgency: Option<Urgency>,
    pub reason: Option<String>,
    pub question: Option<String>,
    pub clinical_context: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    Given,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    Oral,
    Written,
}

/// R6: the patient was informed and consents (or refuses, which blocks the request).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ConsentInput {
    pub decision: ConsentDecision,
    pub method: ConsentMethod,
    /// The patient was told the reason, the expert's identity and specialty, and how the
    /// answer comes back.
    pub patient_informed: bool,
    /// When consent was collected; defaults to now.
    #[serde(default)]
    pub collected_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AssignInput {
    pub expert_id: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DeclineInput {
    pub reason: DeclineReason,
    /// Required when the reason is `other`.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Forward to a named colleague (`expert_id`) or to a team's pool (`team_id`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ForwardInput {
    #[serde(default)]
    pub expert_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TextInput {
    pub text: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CancelInput {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Answer with advice (no visit) or recommend a work-up before a visit.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AnswerInput {
    /// `advice` or `workup_before_visit`.
    pub kind: OpinionKind,
    #[serde(default)]
    pub context: String,
    pub answer: String,
    #[serde(default)]
    pub recommendations: String,
    #[serde(default)]
    pub follow_up: Option<String>,
    #[serde(default)]
    pub visit_needed: bool,
    #[serde(default)]
    pub visit_urgency: Option<Urgency>,
    /// 1–5.
    #[serde(default)]
    pub request_completeness: Option<u8>,
}

/// Convert to a consultation: the report says a visit is needed, and how urgently.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ConvertInput {
    #[serde(default)]
    pub context: String,
    pub answer: String,
    #[serde(default)]
    pub recommendations: String,
    #[serde(default)]
    pub follow_up: Option<String>,
    pub urgency: Urgency,
    #[serde(default)]
    pub request_completeness: Option<u8>,
}

// ---------- outputs ----------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub display_name: String,
    pub profession: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    /// `pending`, `given` or `refused`.
    pub status: String,
    pub method: Option<String>,
    pub collected_by: Option<String>,
    pub collected_at: Option<Timestamp>,
    pub patient_informed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeclineView {
    pub reason: String,
    pub comment: Option<String>,
}

/// A case as its viewer sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    /// Human-readable number, e.g. `TE-2026-000042`.
    pub number: String,
    pub state: CaseState,
    /// The patient's identity, or a preview without it for a team-mate or assigner while
    /// the case waits in the pool of a team that hides identities there.
    pub patient: PatientView,
    pub requester: PersonRef,
    pub target_expert: Option<PersonRef>,
    pub target_team: Option<TeamRef>,
    pub team: Option<TeamRef>,
    pub assigned_expert: Option<PersonRef>,
    pub specialty: Option<String>,
    pub specialty_label: Option<String>,
    pub urgency: Urgency,
    pub reason: String,
    pub question: String,
    pub clinical_context: String,
    pub consent: ConsentView,
    pub submitted_at: Option<Timestamp>,
    /// R9: submission + 7 days.
    pub deadline_at: Option<Timestamp>,
    pub overdue: bool,
    pub accepted_at: Option<Timestamp>,
    pub answered_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Time spent waiting for the requester's information, shown apart from the R9 clock.
    pub awaiting_info_seconds: i64,
    pub decline: Option<DeclineView>,
    pub opinion: Option<Opinion>,
    pub outcome: Option<Outcome>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CaseSummary {
    pub id: String,
    pub number: String,
    pub state: String,
    pub urgency: String,
    pub specialty: Option<String>,
    pub reason: String,
    pub patient_id: String,
    /// Absent when the caller may not see the patient's identity (`patient_identity_hidden`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_birth_date: Option<String>,
    /// The case waits in the pool of a team that hides the patient's identity from its
    /// members until one claims it.
    #[serde(default)]
    pub patient_identity_hidden: bool,
    pub requester_id: String,
    pub requester_name: String,
    pub assigned_expert_id: Option<String>,
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    pub submitted_at: Option<Timestamp>,
    pub deadline_at: Option<Timestamp>,
    pub overdue: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub struct ListQuery {
    pub view: View,
    pub states: Option<Vec<String>>,
    pub overdue: bool,
    /// Only open cases whose deadline comes before this instant (the web's "due soon").
    pub due_before: Option<Timestamp>,
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

fn summary(r: SummaryRow, me: &str, now: Timestamp) -> CaseSummary {
    let open = CaseState::parse(&r.state).is_some_and(|s| s.is_open());
    let identified = model::identity_visible(
        r.requester_id == me,
        r.assigned_expert_id.as_deref() == Some(me),
        r.state == "submitted" && r.assigned_expert_id.is_none(),
        r.team_hides_identity.unwrap_or(false),
    );
    CaseSummary {
        overdue: open && r.deadline_at.is_some_and(|d| d < now.micros()),
        patient_name: identified
            .then(|| format!("{} {}", r.patient_family_name, r.patient_given_names)),
        patient_birth_date: identified.then_some(r.patient_birth_date),
        patient_identity_hidden: !identified,
        requester_name: display_name(
            &r.requester_profession,
            &r.requester_first,
            &r.requester_last,
        ),
        id: r.id,
        number: r.number,
        state: r.state,
        urgency: r.urgency,
        specialty: r.specialty,
        reason: r.reason,
        patient_id: r.patient_id,
        requester_id: r.requester_id,
        assigned_expert_id: r.assigned_expert_id,
        team_id: r.team_id,
        team_name: r.team_name,
        submitted_at: ts(r.submitted_at),
        deadline_at: ts(r.deadline_at),
        created_at: Timestamp(r.created_at),
        updated_at: Timestamp(r.updated_at),
    }
}

fn urgency_str(u: Urgency) -> &'static str {
    match u {
        Urgency::Routine => "routine",
        Urgency::Urgent => "urgent",
    }
}

fn rating_ok(v: Option<u8>) -> bool {
    v.is_none_or(|r| (1..=5).contains(&r))
}

const MAX_TEXT: usize = 20_000;

fn check_text(v: &mut Violations, field: &str, s: &str, required: bool) {
    if required && s.trim().is_empty() {
        v.push(field, "is required");
    }
    if s.chars().count() > MAX_TEXT {
        v.push(field, format!("is longer than {MAX_TEXT} characters"));
    }
}

/// Validates an opinion: an answer is required; a visit (work-up first, or consultation)
/// needs its urgency; the completeness rating is 1–5.
fn build_opinion(input: AnswerInput) -> Result<Opinion> {
    let mut v = Violations::default();
    check_text(&mut v, "answer", &input.answer, true);
    check_text(&mut v, "context", &input.context, false);
    check_text(&mut v, "recommendations", &input.recommendations, false);
    let visit_needed = input.visit_needed || input.kind != OpinionKind::Advice;
    if visit_needed && input.visit_urgency.is_none() {
        v.push(
            "visit_urgency",
            "say how urgent the visit is (routine or urgent)",
        );
    }
    if !rating_ok(input.request_completeness) {
        v.push("request_completeness", "must be between 1 and 5");
    }
    v.into_result()?;
    Ok(Opinion {
        kind: input.kind,
        context: input.context.trim().into(),
        answer: input.answer.trim().into(),
        recommendations: input.recommendations.trim().into(),
        follow_up: input.follow_up,
        visit_needed,
        visit_urgency: if visit_needed {
            input.visit_urgency
        } else {
            None
        },
        request_completeness: input.request_completeness,
    })
}

/// What a transition did, for the timeline and the audit trail.
struct Applied {
    details: serde_json::Value,
    message: Option<(&'static str, String)>,
}

impl Applied {
    fn new(details: serde_json::Value) -> Self {
        Self {
            details,
            message: None,
        }
    }
}

impl Platform {
    async fn person(&self, tx: &mut Tx, id: Option<&str>) -> Result<Option<PersonRef>> {
        let Some(id) = id else { return Ok(None) };
        Ok(dir::get_professional_row(tx, id).await?.map(|p| PersonRef {
            display_name: p.display_name(),
            id: p.id,
            profession: p.profession,
        }))
    }

    async fn team_ref(&self, tx: &mut Tx, id: Option<&str>) -> Result<Option<TeamRef>> {
        let Some(id) = id else { return Ok(None) };
        let r: Option<(String, String)> = crate::run!(tx, |c| sqlx::query_as(
            "SELECT id, name FROM teams WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await)?;
        Ok(r.map(|(id, name)| TeamRef { id, name }))
    }

    async fn view(&self, tx: &mut Tx, r: &CaseRow, rel: &Relation) -> Result<CaseView> {
        let state = r.state()?;
        let now = self.now();
        // The team's setting is read now: changing it applies to the pool at once.
        let identified = model::identity_visible(
            rel.requester,
            rel.assigned_expert,
            state == CaseState::Submitted && r.assigned_expert_id.is_none(),
            dir::hides_identity_in_pool(tx, r.team_id.as_deref()).await?,
        );
        let patient = patients::get(tx, &r.patient_id)
            .await?
            .ok_or(Error::NotFound)?
            .view(identified, now);
        let requester = self
            .person(tx, Some(&r.requester_id))
            .await?
            .ok_or_else(|| Error::internal("requester missing"))?;
        Ok(CaseView {
            id: r.id.clone(),
            number: r.number.clone(),
            state,
            patient,
            requester,
            target_expert: self.person(tx, r.target_expert_id.as_deref()).await?,
            target_team: self.team_ref(tx, r.target_team_id.as_deref()).await?,
            team: self.team_ref(tx, r.team_id.as_deref()).await?,
            assigned_expert: self.person(tx, r.assigned_expert_id.as_deref()).await?,
            specialty_label: r
                .specialty
                .as_deref()
                .and_then(codes::specialty)
                .map(|s| s.label.clone()),
            specialty: r.specialty.clone(),
            urgency: if r.urgency == "urgent" {
                Urgency::Urgent
            } else {
                Urgency::Routine
            },
            reason: r.reason.clone(),
            question: r.question.clone(),
            clinical_context: r.clinical_context.clone(),
            consent: ConsentView {
                status: r.consent_status.clone(),
                method: r.consent_method.clone(),
                collected_by: r.consent_collected_by.clone(),
                collected_at: ts(r.consent_collected_at),
                patient_informed: r.patient_informed,
            },
            submitted_at: ts(r.submitted_at),
            deadline_at: ts(r.deadline_at),
            overdue: state.is_open() && r.deadline_at.is_some_and(|d| d < now.micros()),
            accepted_at: ts(r.accepted_at),
            answered_at: ts(r.answered_at),
            closed_at: ts(r.closed_at),
            awaiting_info_seconds: (r.awaiting_info_us
                + r.awaiting_since.map_or(0, |s| (now.micros() - s).max(0)))
                / 1_000_000,
            decline: r.decline_reason.as_ref().map(|reason| DeclineView {
                reason: reason.clone(),
                comment: r.decline_comment.clone(),
            }),
            opinion: r
                .opinion
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            outcome: r
                .outcome
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            allowed_actions: model::allowed_actions(rel, state)
                .into_iter()
                .map(str::to_string)
                .collect(),
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }

    pub(crate) async fn relation_of(&self, tx: &mut Tx, me: &str, r: &CaseRow) -> Result<Relation> {
        let teams = dir::teams_of(tx, me).await?;
        Ok(model::relation(
            me,
            &r.requester_id,
            r.assigned_expert_id.as_deref(),
            r.team_id.as_deref(),
            r.state()?,
            &teams,
        ))
    }

    /// The stored answer of a retried request, audited as shown again.
    pub(crate) async fn replayed<T: serde::de::DeserializeOwned>(
        &self,
        tx: &mut Tx,
        ctx: &Ctx,
        action: &str,
        id: &str,
    ) -> Result<Option<T>> {
        let prev = idempotency::replay(tx, ctx).await?;
        if prev.is_some() {
            audit::append(
                tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::success(format!("{action}.replay"), "case", id)],
            )
            .await?;
        }
        Ok(prev)
    }

    /// Loads a case the caller may see, or records the denial and answers "not found".
    pub(crate) async fn load_visible(
        &self,
        mut tx: Tx,
        ctx: &Ctx,
        id: &str,
        action: &str,
    ) -> Result<(Tx, CaseRow, Relation)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        if let Some(r) = repo::get(&mut tx, id).await? {
            let rel = self.relation_of(&mut tx, &me, &r).await?;
            if rel.may_view() {
                return Ok((tx, r, rel));
            }
            // A team-mate who lost the race for a pool case learns that it was taken.
            let taken = r.assigned_expert_id.is_some() && r.state().is_ok_and(|st| st.is_open());
            if action == "case.accept" && taken && r.team_id.is_some() {
                let teams = dir::teams_of(&mut tx, &me).await?;
                if teams.iter().any(|(t, _)| Some(t) == r.team_id.as_ref()) {
                    let state = r.state.clone();
                    return self
                        .deny(
                            tx,
                            ctx,
                            NewEntry::denied(action, "case", id)
                                .with(json!({"why": "already taken"})),
                            Error::conflict(
                                "this case was already taken by a colleague",
                                Some(state),
                            ),
                        )
                        .await;
                }
            }
        }
        self.deny(
            tx,
            ctx,
            NewEntry::denied(action, "case", id),
            Error::NotFound,
        )
        .await
    }

    /// A case's version and state, for live updates of an open page: no patient data, so
    /// it is not an audited read; an invisible case is "not found" like everywhere else
    /// (that refusal is audited).
    pub async fn case_version(&self, ctx: &Ctx, id: &str) -> Result<(i64, String)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let mut tx = self.db.begin().await?;
        if let Some(r) = repo::get(&mut tx, id).await? {
            let rel = self.relation_of(&mut tx, &me, &r).await?;
            if rel.may_view() {
                tx.rollback().await?;
                return Ok((r.version, r.state));
            }
        }
        self.deny(
            tx,
            ctx,
            NewEntry::denied("case.version", "case", id),
            Error::NotFound,
        )
        .await
    }

    // ---------- creation and drafts ----------

    pub async fn create_case(&self, ctx: &Ctx, input: NewCase) -> Result<CaseView> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if let Some(prev) = idempotency::replay(&mut tx, ctx).await? {
            tx.rollback().await?;
            return Ok(prev);
        }
        let mut v = Violations::default();
        check_text(&mut v, "reason", &input.reason, false);
        check_text(&mut v, "question", &input.question, false);
        check_text(&mut v, "clinical_context", &input.clinical_context, false);
        if let Some(s) = &input.specialty
            && codes::specialty(s).is_none()
        {
            v.push("specialty", "unknown TRE_R38 specialty code");
        }
        // The patient: an existing one the caller may see, or a new one.
        let mut audit_entries = Vec::new();
        let patient_id = match (&input.patient_id, &input.patient) {
            (Some(_), Some(_)) => {
                v.push("patient", "give either patient_id or patient, not both");
                None
            }
            (None, None) => {
                v.push(
                    "patient_id",
                    "a patient is required (patient_id or patient)",
                );
                None
            }
            (Some(pid), None) => {
                // Only a patient whose identity the caller may see: a pool preview must not
                // become a case of one's own, and with it the identity.
                let ok = match patients::get(&mut tx, pid).await? {
                    Some(p) if p.created_by == me => true,
                    Some(_) => patients::case_access(&mut tx, pid, &me).await? == Some(true),
                    None => false,
                };
                if ok {
                    Some(pid.clone())
                } else {
                    return self
                        .deny(
                            tx,
                            ctx,
                            NewEntry::denied("case.create", "patient", pid),
                            Error::invalid("patient_id", "unknown patient"),
                        )
                        .await;
                }
            }
            (None, Some(p)) => match p.validate(now) {
                Ok(valid) => {
                    let pid = new_id();
                    if v.0.is_empty() {
                        patients::insert(&mut tx, &pid, &me, &valid, now).await?;
                        audit_entries.push(NewEntry::success("patient.create", "patient", &pid));
                    }
                    Some(pid)
                }
                Err(Error::Invalid(errs)) => {
                    for e in errs {
                        v.push(format!("patient.{}", e.field), e.message);
                    }
                    None
                }
                Err(e) => return Err(e),
            },
        };
        let specialty = self
            .check_target(
                &mut tx,
                &mut v,
                &me,
                input.expert_id.as_deref(),
                input.team_id.as_deref(),
                false,
            )
            .await?
            .or(input.specialty.clone());
        v.into_result()?;
        let patient_id = patient_id.ok_or_else(|| Error::internal("patient missing"))?;
        let id = new_id();
        let number = repo::next_number(&mut tx, now.to_offset().year()).await?;
        let row = CaseRow {
            id: id.clone(),
            number,
            patient_id,
            requester_id: me.clone(),
            state: CaseState::Draft.as_str().into(),
            specialty: input.specialty.or(specialty),
            target_expert_id: input.expert_id,
            target_team_id: input.team_id,
            team_id: None,
            assigned_expert_id: None,
            urgency: urgency_str(input.urgency.unwrap_or(Urgency::Routine)).into(),
            reason: input.reason.trim().into(),
            question: input.question.trim().into(),
            clinical_context: input.clinical_context.trim().into(),
            consent_status: "pending".into(),
            consent_method: None,
            consent_collected_by: None,
            consent_collected_at: None,
            patient_informed: false,
            submitted_at: None,
            deadline_at: None,
            accepted_at: None,
            answered_at: None,
            closed_at: None,
            awaiting_since: None,
            awaiting_info_us: 0,
            decline_reason: None,
            decline_comment: None,
            opinion: None,
            outcome: None,
            version: 0,
            created_at: now.micros(),
            updated_at: now.micros(),
        };
        repo::insert(&mut tx, &row).await?;
        repo::insert_event(
            &mut tx,
            &new_id(),
            &id,
            now,
            Some(&me),
            "create",
            "draft",
            "draft",
            &json!({}),
        )
        .await?;
        let rel = self.relation_of(&mut tx, &me, &row).await?;
        let view = self.view(&mut tx, &row, &rel).await?;
        audit_entries.push(
            NewEntry::success("case.create", "case", &id).with(json!({"number": row.number})),
        );
        audit::append(&mut tx, now, &ctx.actor, &audit_entries).await?;
        idempotency::record(&mut tx, ctx, 201, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Checks a routing target (exactly one of expert and team when `required`), returning
    /// the specialty it implies.
    async fn check_target(
        &self,
        tx: &mut Tx,
        v: &mut Violations,
        me: &str,
        expert_id: Option<&str>,
        team_id: Option<&str>,
        required: bool,
    ) -> Result<Option<String>> {
        match (expert_id, team_id) {
            (Some(_), Some(_)) => {
                v.push("expert_id", "choose a named expert or a team, not both");
                Ok(None)
            }
            (None, None) => {
                if required {
                    v.push("expert_id", "choose a named expert or a team");
                }
                Ok(None)
            }
            (Some(e), None) => {
                match dir::get_professional_row(tx, e).await? {
                    None => v.push("expert_id", "unknown professional"),
                    Some(p) if !p.active => {
                        v.push("expert_id", "this professional's account is disabled")
                    }
                    // R2/R4: the expert must be a doctor or a midwife.
                    Some(p) if !codes::may_be_expert(&p.profession) => v.push(
                        "expert_id",
                        "only doctors and midwives may give an expert opinion (R4)",
                    ),
                    Some(p) if p.id == me => {
                        v.push("expert_id", "you cannot ask yourself for an opinion")
                    }
                    Some(p) => return Ok(dir::specialties_of(tx, &p.id).await?.into_iter().next()),
                }
                Ok(None)
            }
            (None, Some(t)) => match dir::get_team(tx, t).await? {
                None => {
                    v.push("team_id", "unknown team");
                    Ok(None)
                }
                Some(team) => Ok(Some(team.specialty)),
            },
        }
    }

    pub async fn update_draft(&self, ctx: &Ctx, id: &str, patch: DraftPatch) -> Result<CaseView> {
        self.change(ctx, id, "case.update", None, |p, tx, me, r, _now| {
            Box::pin(async move {
                if r.state()? != CaseState::Draft {
                    return Err(Error::conflict(
                        "only a draft can be edited",
                        Some(r.state.clone()),
                    ));
                }
                let mut v = Violations::default();
                for (f, val) in [
                    ("reason", &patch.reason),
                    ("question", &patch.question),
                    ("clinical_context", &patch.clinical_context),
                ] {
                    if let Some(s) = val {
                        check_text(&mut v, f, s, false);
                    }
                }
                if let Some(s) = &patch.specialty
                    && codes::specialty(s).is_none()
                {
                    v.push("specialty", "unknown TRE_R38 specialty code");
                }
                let (expert, team) = match (&patch.expert_id, &patch.team_id) {
                    (None, None) => (r.target_expert_id.clone(), r.target_team_id.clone()),
                    (e, t) => (
                        e.clone().filter(|s| !s.is_empty()),
                        t.clone().filter(|s| !s.is_empty()),
                    ),
                };
                let implied = p
                    .check_target(tx, &mut v, me, expert.as_deref(), team.as_deref(), false)
                    .await?;
                v.into_result()?;
                r.target_expert_id = expert;
                r.target_team_id = team;
                if let Some(s) = patch.specialty {
                    r.specialty = Some(s);
                } else if r.specialty.is_none() {
                    r.specialty = implied;
                }
                if let Some(u) = patch.urgency {
                    r.urgency = urgency_str(u).into();
                }
                if let Some(s) = patch.reason {
                    r.reason = s.trim().into();
                }
                if let Some(s) = patch.question {
                    r.question = s.trim().into();
                }
                if let Some(s) = patch.clinical_context {
                    r.clinical_context = s.trim().into();
                }
                Ok(Applied::new(json!({})))
            })
        })
        .await
    }

    /// R6: records the patient's information and consent, or refusal.
    pub async fn record_consent(
        &self,
        ctx: &Ctx,
        id: &str,
        input: ConsentInput,
    ) -> Result<CaseView> {
        self.change(ctx, id, "case.consent", None, |_p, _tx, me, r, now| {
            Box::pin(async move {
                if r.state()? != CaseState::Draft {
                    return Err(Error::conflict(
                        "consent is recorded before the request is sent",
                        Some(r.state.clone()),
                    ));
                }
                if input.decision == ConsentDecision::Given && !input.patient_informed {
                    return Err(Error::invalid(
                        "patient_informed",
                        "the patient must be informed (reason, expert, how the answer comes back) before consenting (R6)",
                    ));
                }
                let at = input.collected_at.unwrap_or(now);
                if at > now.plus_seconds(300) {
                    return Err(Error::invalid("collected_at", "is in the future"));
                }
                r.consent_status = match input.decision {
                    ConsentDecision::Given => "given",
                    ConsentDecision::Refused => "refused",
                }
                .into();
                r.consent_method = Some(match input.method {
                    ConsentMethod::Oral => "oral",
                    ConsentMethod::Written => "written",
                }
                .into());
                r.consent_collected_by = Some(me.to_string());
                r.consent_collected_at = Some(at.micros());
                r.patient_informed = input.patient_informed;
                Ok(Applied::new(json!({"decision": r.consent_status, "method": r.consent_method})))
            })
        })
        .await
    }

    // ---------- transitions ----------

    pub async fn submit(&self, ctx: &Ctx, id: &str) -> Result<CaseView> {
        // The role and state checks are the same for both targets; the closure picks the
        // target state once it knows whether the case goes to a team.
        let submit = Transition::Submit { to_team: false };
        self.change(ctx, id, "case.submit", Some(submit), |p, tx, me, r, now| {
            Box::pin(async move {
                let mut v = Violations::default();
                match r.consent_status.as_str() {
                    "given" => {}
                    "refused" => v.push(
                        "consent",
                        "the patient refused teleexpertise: this request cannot be sent (R6)",
                    ),
                    _ => v.push("consent", "record the patient's information and consent before sending (R6)"),
                }
                if r.reason.trim().is_empty() {
                    v.push("reason", "state the reason for the request (R7)");
                }
                if r.question.trim().is_empty() {
                    v.push("question", "state the question for the expert (R7)");
                }
                p.check_target(tx, &mut v, me, r.target_expert_id.as_deref(), r.target_team_id.as_deref(), true)
                    .await?;
                // The stored acceptance rules, load caps and absences of the target.
                crate::routing::rules::check_submission(
                    tx,
                    &mut v,
                    &r.requester_id,
                    r.target_expert_id.as_deref(),
                    r.target_team_id.as_deref(),
                    now,
                )
                .await?;
                v.into_result()?;
                let to_team = r.target_team_id.is_some();
                let to = model::next_state(r.state()?, Transition::Submit { to_team })
                    .map_err(|e| Error::conflict(e.to_string(), Some(r.state.clone())))?;
                r.state = to.as_str().into();
                r.submitted_at = Some(now.micros());
                let deadline = rules::answer_deadline(now);
                r.deadline_at = Some(deadline.micros());
                crate::routing::schedule_deadlines(p, tx, now, &r.id, now, deadline).await?;
                let mut routing = serde_json::Value::Null;
                if to_team {
                    r.team_id = r.target_team_id.clone();
                    r.assigned_expert_id = None;
                    if let Some(team) = r.team_id.clone() {
                        routing = crate::routing::assign::on_submission(p, tx, now, r, &team).await?;
                    }
                } else {
                    r.assigned_expert_id = r.target_expert_id.clone();
                    r.team_id = None;
                    // The named expert hears of it now, not at the first reminder.
                    if let Some(e) = r.assigned_expert_id.clone() {
                        notifications::notify(p, tx, now, &e, Kind::Assigned, &r.id, &r.number).await?;
                    }
                }
                Ok(Applied::new(json!({
                    "routed_to": if to_team { json!({"team_id": r.team_id}) } else { json!({"expert_id": r.assigned_expert_id}) },
                    "deadline_at": Timestamp(r.deadline_at.unwrap_or_default()),
                    "routing": routing,
                })))
            })
        })
        .await
    }

    pub async fn assign(&self, ctx: &Ctx, id: &str, input: AssignInput) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.assign",
            Some(Transition::Assign),
            |p, tx, _me, r, now| {
                Box::pin(async move {
                    let team = r
                        .team_id
                        .clone()
                        .ok_or_else(|| Error::conflict("this case has no team", None))?;
                    if !dir::is_team_member(tx, &team, &input.expert_id).await? {
                        return Err(Error::invalid(
                            "expert_id",
                            "must be a member of the case's team",
                        ));
                    }
                    if !dir::get_professional_row(tx, &input.expert_id)
                        .await?
                        .is_some_and(|p| p.active)
                    {
                        return Err(Error::invalid(
                            "expert_id",
                            "this professional's account is disabled",
                        ));
                    }
                    r.assigned_expert_id = Some(input.expert_id.clone());
                    notifications::notify(
                        p,
                        tx,
                        now,
                        &input.expert_id,
                        Kind::Assigned,
                        &r.id,
                        &r.number,
                    )
                    .await?;
                    Ok(Applied::new(json!({"expert_id": input.expert_id})))
                })
            },
        )
        .await
    }

    pub async fn accept(&self, ctx: &Ctx, id: &str) -> Result<CaseView> {
        // A moderated team's pool is its assigners': members are refused a claim (audited).
        let tx = self.db.begin().await?;
        let (mut tx, row, rel) = self.load_visible(tx, ctx, id, "case.accept").await?;
        let in_pool = row.assigned_expert_id.is_none() && row.state == "submitted";
        if in_pool
            && !rel.assigner
            && let Some(team) = row.team_id.as_deref()
            && !crate::routing::assign::members_may_claim(&mut tx, team).await?
        {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("case.accept", "case", id)
                        .with(json!({"reason": "moderated team"})),
                    Error::Forbidden("in this team, the case assigner assigns each request".into()),
                )
                .await;
        }
        tx.rollback().await?;
        self.change(
            ctx,
            id,
            "case.accept",
            Some(Transition::Accept),
            |_p, _tx, me, r, now| {
                Box::pin(async move {
                    let claimed = r.assigned_expert_id.is_none();
                    r.assigned_expert_id = Some(me.to_string());
                    r.accepted_at = Some(now.micros());
                    Ok(Applied::new(json!({"claimed_from_pool": claimed})))
                })
            },
        )
        .await
    }

    /// R8: the decision not to perform the act is recorded with its coded reason.
    pub async fn decline(&self, ctx: &Ctx, id: &str, input: DeclineInput) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.decline",
            Some(Transition::Decline),
            |_p, _tx, _me, r, _now| {
                Box::pin(async move {
                    let comment = input
                        .comment
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty());
                    if input.reason == DeclineReason::Other && comment.is_none() {
                        return Err(Error::invalid(
                            "comment",
                            "explain the reason when it is 'other'",
                        ));
                    }
                    let reason = serde_json::to_value(input.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    r.decline_reason = Some(reason.clone());
                    r.decline_comment = comment.map(str::to_string);
                    Ok(Applied::new(json!({"reason": reason, "comment": comment})))
                })
            },
        )
        .await
    }

    pub async fn forward(&self, ctx: &Ctx, id: &str, input: ForwardInput) -> Result<CaseView> {
        let t = if input.team_id.is_some() && input.expert_id.is_none() {
            Transition::ForwardToTeam
        } else {
            Transition::ForwardToExpert
        };
        self.change(ctx, id, "case.forward", Some(t), |p, tx, me, r, now| {
            Box::pin(async move {
                let mut v = Violations::default();
                p.check_target(
                    tx,
                    &mut v,
                    me,
                    input.expert_id.as_deref(),
                    input.team_id.as_deref(),
                    true,
                )
                .await?;
                if input.expert_id.as_deref() == Some(r.requester_id.as_str()) {
                    v.push("expert_id", "the requester cannot be the expert");
                }
                if input.expert_id.is_some() && input.expert_id == r.assigned_expert_id {
                    v.push("expert_id", "the case is already assigned to this expert");
                }
                // The colleague's (or the other team's) acceptance rules, load cap and
                // absences apply as at submission: the facts are the requester's. A case
                // given back to its own team's pool is not checked again (it was accepted
                // there; the team's cap already counts it).
                let team_target = input
                    .team_id
                    .as_deref()
                    .filter(|t| r.team_id.as_deref() != Some(*t));
                if v.0.is_empty() {
                    crate::routing::rules::check_submission(
                        tx,
                        &mut v,
                        &r.requester_id,
                        input.expert_id.as_deref(),
                        team_target,
                        now,
                    )
                    .await?;
                }
                v.into_result()?;
                let from = r.assigned_expert_id.clone();
                if let Some(e) = &input.expert_id {
                    // The team keeps oversight when the colleague is one of its members.
                    if let Some(t) = r.team_id.clone()
                        && !dir::is_team_member(tx, &t, e).await?
                    {
                        r.team_id = None;
                    }
                    r.assigned_expert_id = Some(e.clone());
                    notifications::notify(p, tx, now, e, Kind::Assigned, &r.id, &r.number).await?;
                } else {
                    r.team_id = input.team_id.clone();
                    r.assigned_expert_id = None;
                    if let Some(t) = input.team_id.as_deref() {
                        crate::routing::assign::on_forward_to_team(
                            p,
                            tx,
                            now,
                            r,
                            t,
                            from.as_deref(),
                        )
                        .await?;
                    }
                }
                r.accepted_at = None;
                let mut a = Applied::new(json!({
                    "from_expert_id": from,
                    "to_expert_id": input.expert_id,
                    "to_team_id": input.team_id,
                }));
                if let Some(c) = input.comment.filter(|c| !c.trim().is_empty()) {
                    a.message = Some(("message", c));
                }
                Ok(a)
            })
        })
        .await
    }

    pub async fn request_info(&self, ctx: &Ctx, id: &str, input: TextInput) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.request_info",
            Some(Transition::RequestInfo),
            |_p, _tx, _me, r, now| {
                Box::pin(async move {
                    let mut v = Violations::default();
                    check_text(&mut v, "text", &input.text, true);
                    v.into_result()?;
                    r.awaiting_since = Some(now.micros());
                    let mut a = Applied::new(json!({}));
                    a.message = Some(("info_request", input.text.trim().to_string()));
                    Ok(a)
                })
            },
        )
        .await
    }

    pub async fn provide_info(&self, ctx: &Ctx, id: &str, input: TextInput) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.provide_info",
            Some(Transition::ProvideInfo),
            |_p, _tx, _me, r, now| {
                Box::pin(async move {
                    let mut v = Violations::default();
                    check_text(&mut v, "text", &input.text, true);
                    v.into_result()?;
                    if let Some(since) = r.awaiting_since.take() {
                        r.awaiting_info_us += (now.micros() - since).max(0);
                    }
                    let mut a = Applied::new(json!({}));
                    a.message = Some(("info_reply", input.text.trim().to_string()));
                    Ok(a)
                })
            },
        )
        .await
    }

    pub async fn answer(&self, ctx: &Ctx, id: &str, input: AnswerInput) -> Result<CaseView> {
        self.give_opinion(ctx, id, "case.answer", Transition::Answer, input)
            .await
    }

    pub async fn convert_to_consultation(
        &self,
        ctx: &Ctx,
        id: &str,
        input: ConvertInput,
    ) -> Result<CaseView> {
        let as_answer = AnswerInput {
            kind: OpinionKind::Consultation,
            context: input.context,
            answer: input.answer,
            recommendations: input.recommendations,
            follow_up: input.follow_up,
            visit_needed: true,
            visit_urgency: Some(input.urgency),
            request_completeness: input.request_completeness,
        };
        self.give_opinion(
            ctx,
            id,
            "case.convert_to_consultation",
            Transition::ConvertToConsultation,
            as_answer,
        )
        .await
    }

    /// Records the expert's structured opinion (the content of the future report).
    async fn give_opinion(
        &self,
        ctx: &Ctx,
        id: &str,
        action: &'static str,
        transition: Transition,
        input: AnswerInput,
    ) -> Result<CaseView> {
        self.change(ctx, id, action, Some(transition), |_p, tx, _me, r, now| {
            Box::pin(async move {
                // Authorisation has passed by now: only then is the input judged.
                if transition == Transition::Answer && input.kind == OpinionKind::Consultation {
                    return Err(Error::invalid(
                        "kind",
                        "use convert-to-consultation to ask for a consultation",
                    ));
                }
                let opinion = build_opinion(input)?;
                r.opinion = Some(serde_json::to_string(&opinion).map_err(Error::internal)?);
                r.answered_at = Some(now.micros());
                // Billing (R3, R4, R11–R15): the acts are recorded with the answer.
                let billing = crate::billing::service::record_on_answer(tx, r, now).await?;
                // The report (R10) exists from the answer on, as draft version 1.
                let report = crate::reports::service::draft_on_answer(tx, r, now).await?;
                let billed: Vec<_> = billing
                    .decisions
                    .iter()
                    .filter(|d| d.billable)
                    .map(|d| json!({"code": d.code, "amount_cents": d.amount_cents}))
                    .collect();
                Ok(Applied::new(json!({
                    "kind": opinion.kind,
                    "visit_needed": opinion.visit_needed,
                    "visit_urgency": opinion.visit_urgency,
                    "billed": billed,
                    "report": report,
                })))
            })
        })
        .await
    }

    pub async fn cancel(&self, ctx: &Ctx, id: &str, input: CancelInput) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.cancel",
            Some(Transition::Cancel),
            |_p, _tx, _me, r, now| {
                Box::pin(async move {
                    if let Some(since) = r.awaiting_since.take() {
                        r.awaiting_info_us += (now.micros() - since).max(0);
                    }
                    Ok(Applied::new(json!({"reason": input.reason})))
                })
            },
        )
        .await
    }

    pub async fn close(&self, ctx: &Ctx, id: &str, input: Outcome) -> Result<CaseView> {
        self.change(
            ctx,
            id,
            "case.close",
            Some(Transition::Close),
            |_p, _tx, _me, r, now| {
                Box::pin(async move {
                    if !rating_ok(input.usefulness) {
                        return Err(Error::invalid("usefulness", "must be between 1 and 5"));
                    }
                    if input
                        .comment
                        .as_deref()
                        .is_some_and(|c| c.chars().count() > MAX_TEXT)
                    {
                        return Err(Error::invalid("comment", "is too long"));
                    }
                    r.outcome = Some(serde_json::to_string(&input).map_err(Error::internal)?);
                    r.closed_at = Some(now.micros());
                    Ok(Applied::new(json!({"outcome": input.outcome})))
                })
            },
        )
        .await
    }

    /// The shared path of every change: load (visible or denied), check role and state,
    /// apply, save with optimistic concurrency, timeline event, audit, idempotency, commit.
    async fn change<F>(
        &self,
        ctx: &Ctx,
        id: &str,
        action: &'static str,
        transition: Option<Transition>,
        apply: F,
    ) -> Result<CaseView>
    where
        F: for<'a> FnOnce(
            &'a Platform,
            &'a mut Tx,
            &'a str,
            &'a mut CaseRow,
            Timestamp,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Applied>> + Send + 'a>,
        >,
    {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let tx = self.db.begin().await?;
        // Visibility first, even for a retry: access revoked since is revoked for replays too.
        let (mut tx, mut row, rel) = self.load_visible(tx, ctx, id, action).await?;
        if let Some(prev) = self.replayed(&mut tx, ctx, action, id).await? {
            tx.commit().await?;
            return Ok(prev);
        }
        let from = row.state()?;
        let previous_expert = row.assigned_expert_id.clone();
        // Role first (403, audited), then state (409).
        let allowed = match transition {
            Some(t) => rel.may(t),
            None => rel.may_edit_draft(),
        };
        if !allowed {
            // An assigner racing team-mates for a pool case lost the race: say so.
            if transition == Some(Transition::Accept)
                && rel.assigner
                && row.assigned_expert_id.is_some()
                && from.is_open()
            {
                return self
                    .deny(
                        tx,
                        ctx,
                        NewEntry::denied(action, "case", id).with(json!({"why": "already taken"})),
                        Error::conflict(
                            "this case was already taken by a colleague",
                            Some(row.state.clone()),
                        ),
                    )
                    .await;
            }
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "case", id),
                    Error::Forbidden(format!(
                        "your role on this case does not allow '{}'",
                        action.trim_start_matches("case.")
                    )),
                )
                .await;
        }
        if let Some(t) = transition
            && let Err(e) = model::next_state(from, t)
        {
            return Err(Error::conflict(e.to_string(), Some(from.as_str().into())));
        }
        let expected_version = row.version;
        let applied = apply(self, &mut tx, &me, &mut row, now).await?;
        if let Some(t) = transition {
            // Submit decides its own target state (expert or team); the others follow the table.
            if !matches!(t, Transition::Submit { .. }) {
                let to = model::next_state(from, t)
                    .map_err(|e| Error::conflict(e.to_string(), Some(from.as_str().into())))?;
                row.state = to.as_str().into();
            }
        }
        row.version += 1;
        row.updated_at = now.micros();
        if !repo::save(&mut tx, &row, expected_version).await? {
            let current = repo::get(&mut tx, id).await?.map(|r| r.state);
            return Err(Error::conflict(
                "the case changed meanwhile; reload it and try again",
                current,
            ));
        }
        let event_name = action.trim_start_matches("case.");
        repo::insert_event(
            &mut tx,
            &new_id(),
            id,
            now,
            Some(&me),
            event_name,
            from.as_str(),
            &row.state,
            &applied.details,
        )
        .await?;
        if let Some((kind, body)) = &applied.message {
            repo::insert_message(&mut tx, &new_id(), id, &me, kind, body, now).await?;
        }
        // Practice software subscribed to this case hears of it (after this commit).
        if let Some(event) = crate::webhooks::model::EventType::of_action(action) {
            crate::webhooks::emit(&mut tx, now, &row, previous_expert.as_deref(), event).await?;
        }
        let rel = self.relation_of(&mut tx, &me, &row).await?;
        let view = self.view(&mut tx, &row, &rel).await?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(action, "case", id).with(json!({
                "from": from.as_str(),
                "to": row.state,
                "details": applied.details,
            }))],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    // ---------- reads ----------

    pub async fn get_case(&self, ctx: &Ctx, id: &str) -> Result<CaseView> {
        let tx = self.db.begin().await?;
        let (mut tx, row, rel) = self.load_visible(tx, ctx, id, "case.read").await?;
        let view = self.view(&mut tx, &row, &rel).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("case.read", "case", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn case_events(&self, ctx: &Ctx, id: &str) -> Result<Vec<CaseEvent>> {
        let tx = self.db.begin().await?;
        let (mut tx, _row, _rel) = self.load_visible(tx, ctx, id, "case.events").await?;
        let ev = repo::events(&mut tx, id).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("case.events", "case", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(ev)
    }

    pub async fn case_messages(&self, ctx: &Ctx, id: &str) -> Result<Vec<Message>> {
        let tx = self.db.begin().await?;
        let (mut tx, _row, _rel) = self.load_visible(tx, ctx, id, "case.messages").await?;
        let m = repo::messages(&mut tx, id).await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("case.messages", "case", id)],
        )
        .await?;
        tx.commit().await?;
        Ok(m)
    }

    pub async fn post_message(&self, ctx: &Ctx, id: &str, input: TextInput) -> Result<Message> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let tx = self.db.begin().await?;
        let (mut tx, row, rel) = self.load_visible(tx, ctx, id, "case.message").await?;
        if let Some(prev) = self.replayed(&mut tx, ctx, "case.message", id).await? {
            tx.commit().await?;
            return Ok(prev);
        }
        if !rel.may_message() {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied("case.message", "case", id),
                    Error::Forbidden(
                        "only the requester and the expert in charge write in the thread".into(),
                    ),
                )
                .await;
        }
        if row.state()? == CaseState::Draft || row.state()?.is_terminal() {
            return Err(Error::conflict(
                "messages are exchanged while the case is open",
                Some(row.state.clone()),
            ));
        }
        let mut v = Violations::default();
        check_text(&mut v, "text", &input.text, true);
        v.into_result()?;
        let mid = new_id();
        repo::insert_message(&mut tx, &mid, id, &me, "message", input.text.trim(), now).await?;
        let msg = repo::messages(&mut tx, id)
            .await?
            .into_iter()
            .find(|m| m.id == mid)
            .ok_or_else(|| Error::internal("message vanished"))?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("case.message", "case", id).with(json!({"message_id": mid}))],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 201, &msg, now).await?;
        tx.commit().await?;
        Ok(msg)
    }

    pub async fn list_cases(&self, ctx: &Ctx, q: ListQuery) -> Result<Vec<CaseSummary>> {
        let mut lists = self.list_cases_many(ctx, vec![q]).await?;
        Ok(lists.pop().unwrap_or_default())
    }

    /// Several lists read in one transaction, with one `case.list` audit entry naming every
    /// case listed (one commit instead of one per list). The lists come back in the order
    /// of the queries. (The web list page reads one list and counts the others.)
    pub async fn list_cases_many(
        &self,
        ctx: &Ctx,
        queries: Vec<ListQuery>,
    ) -> Result<Vec<Vec<CaseSummary>>> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mut lists = Vec::with_capacity(queries.len());
        for q in queries {
            let rows = repo::list(
                &mut tx,
                &ListFilter {
                    me: &me,
                    view: q.view,
                    states: q.states,
                    // Overdue is due before now; both given, the earlier wins.
                    overdue_at: match (q.overdue, q.due_before) {
                        (true, d) => Some(d.map_or(now.micros(), |d| d.micros().min(now.micros()))),
                        (false, d) => d.map(|d| d.micros()),
                    },
                    after: q.after,
                    limit: q.limit,
                },
            )
            .await?;
            lists.push(
                rows.into_iter()
                    .map(|r| summary(r, &me, now))
                    .collect::<Vec<CaseSummary>>(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&str> = lists
            .iter()
            .flatten()
            .map(|c| c.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect();
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success("case.list", "case", "*").with(json!({"ids": ids}))],
        )
        .await?;
        tx.commit().await?;
        Ok(lists)
    }

    /// Expires every open case whose R9 deadline has passed (system use: jobs, demo).
    /// Returns the ids of the cases it expired.
    pub async fn expire_overdue(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let sql = "SELECT id FROM cases WHERE state IN ('submitted', 'assigned', 'in_progress', 'awaiting_info') AND deadline_at < $1";
        let ids: Vec<(String,)> = crate::run!(&mut tx, |c| sqlx::query_as(sql)
            .bind(now.micros())
            .fetch_all(c)
            .await)?;
        let mut entries = Vec::new();
        let mut done = Vec::new();
        for (id,) in ids {
            if let Some(entry) = expire_in(&mut tx, &id, now).await? {
                entries.push(entry);
                done.push(id);
            }
        }
        audit::append(&mut tx, now, &ctx.actor, &entries).await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// Expires one open case in the caller's transaction (R9: its deadline passed), with its
/// timeline event; returns the audit entry to append, or None when the case is not open.
pub(crate) async fn expire_in(tx: &mut Tx, id: &str, now: Timestamp) -> Result<Option<NewEntry>> {
    let Some(mut row) = repo::get(tx, id).await? else {
        return Ok(None);
    };
    let from = row.state()?;
    let Ok(to) = model::next_state(from, Transition::Expire) else {
        return Ok(None);
    };
    let expected = row.version;
    if let Some(since) = row.awaiting_since.take() {
        row.awaiting_info_us += (now.micros() - since).max(0);
    }
    row.state = to.as_str().into();
    row.version += 1;
    row.updated_at = now.micros();
    if !repo::save(tx, &row, expected).await? {
        return Ok(None);
    }
    repo::insert_event(
        tx,
        &new_id(),
        id,
        now,
        None,
        "expire",
        from.as_str(),
        to.as_str(),
        &json!({}),
    )
    .await?;
    crate::webhooks::emit(
        tx,
        now,
        &row,
        None,
        crate::webhooks::model::EventType::Expired,
    )
    .await?;
    Ok(Some(
        NewEntry::success("case.expire", "case", id).with(json!({"from": from.as_str()})),
    ))
}
