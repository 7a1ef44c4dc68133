//! The report's use cases: the draft made with the answer, the list of versions, preview,
//! signing (which freezes the PDF and queues delivery, R10), corrections (a new version),
//! downloads (PDF, CDA TLM-CR), and the `report.deliver` job.

use super::content::{
    self, AttachmentContent, PatientContent, ProContent, Rendition, ReportContent,
};
use super::repo::{self, DeliveryRow, ReportRow};
use crate::audit::{self, NewEntry};
use crate::cases::model::{OpinionKind, Urgency};
use crate::cases::repo::{self as case_repo, CaseRow};
use crate::codes;
use crate::db::Tx;
use crate::directory::repo as dir;
use crate::idempotency;
use crate::jobs::{self, JobError, NewJob, Registry};
use crate::kernel::{Error, Result, Timestamp, new_id};
use crate::mail::{MailAttachment, OutgoingMail};
use crate::notifications::{self, Kind};
use crate::patients;
use crate::platform::{Ctx, Platform};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

pub const DELIVER_KIND: &str = "report.deliver";

/// Renders run on the blocking pool, at most two at a time (the machine's cores are the
/// limit; a third waits rather than slowing every request down).
static RENDERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// Renders a report off the async executor.
pub async fn render_pdf(report: consilium_pdf::Report) -> Result<Vec<u8>> {
    let _permit = RENDERS
        .acquire()
        .await
        .map_err(|_| Error::internal("render queue closed"))?;
    tokio::task::spawn_blocking(move || consilium_pdf::render(&report))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

// ---------- views ----------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// `requester` or `medecin_traitant`.
    pub recipient: String,
    pub professional_id: String,
    pub professional_name: String,
    /// `app_and_email` (requester: in-app notification and an email with a link) or
    /// `secure_email` (médecin traitant: the report attached, through the SMTP relay).
    pub channel: String,
    /// `pending`, `retrying`, `sent`, `in_app_only` (no email address), `not_sent` (no SMTP
    /// relay configured, or no address for the médecin traitant), `failed` (gave up).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportVersionView {
    /// The document id (a new one per version).
    pub id: String,
    pub version: i64,
    /// The version this one replaces (corrections).
    pub previous_id: Option<String>,
    /// `draft` (the expert only sees it) or `signed` (frozen).
    pub state: String,
    pub created_at: Timestamp,
    pub signed_at: Option<Timestamp>,
    pub signed_by: Option<String>,
    /// SHA-256 of the signed PDF, hex.
    pub pdf_sha256: Option<String>,
    /// Download links (signed versions only).
    pub pdf_url: Option<String>,
    pub cda_url: Option<String>,
    pub correction_reason: Option<String>,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportList {
    pub case_id: String,
    /// What the caller may see: every version for the expert who writes it, signed ones
    /// for everyone else who may see the case.
    pub items: Vec<ReportVersionView>,
}

/// A new draft: the next version after a signed one (a correction), or the current draft
/// rewritten. Fields not given keep the previous version's value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DraftInput {
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub recommendations: Option<String>,
    #[serde(default)]
    pub follow_up: Option<String>,
    #[serde(default)]
    pub visit_needed: Option<bool>,
    #[serde(default)]
    pub visit_urgency: Option<Urgency>,
    /// Required for a correction (version 2 and later): why it replaces the signed one.
    #[serde(default)]
    pub correction_reason: Option<String>,
}

/// A file to send.
#[derive(Debug)]
pub struct Download {
    pub name: String,
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

fn parse_content(r: &ReportRow) -> Result<ReportContent> {
    serde_json::from_str(&r.content).map_err(Error::internal)
}

const MAX_TEXT: usize = 20_000;

// ---------- the draft made with the answer ----------

async fn pro_content(tx: &mut Tx, id: &str) -> Result<ProContent> {
    let p = dir::get_professional_row(tx, id)
        .await?
        .ok_or_else(|| Error::internal("professional missing"))?;
    let specialty = dir::specialties_of(tx, id).await?.into_iter().next();
    let org = repo::organisation_of(tx, id).await?;
    Ok(ProContent {
        display_name: p.display_name(),
        profession_label: codes::profession(&p.profession)
            .map(|c| c.label.clone())
            .unwrap_or_default(),
        specialty_label: specialty
            .as_deref()
            .and_then(codes::specialty)
            .map(|s| s.label.clone()),
        specialty,
        organisation: org.as_ref().map(|o| o.0.clone()),
        finess: org.and_then(|o| o.1),
        id: p.id,
        first_name: p.first_name,
        last_name: p.last_name,
        profession: p.profession,
        rpps: p.rpps,
        adeli: p.adeli,
    })
}

/// Builds the content of a case's report from its rows, at the answer.
async fn content_of(tx: &mut Tx, r: &CaseRow) -> Result<ReportContent> {
    let expert_id = r
        .assigned_expert_id
        .as_deref()
        .ok_or_else(|| Error::internal("an answered case has an expert"))?;
    let opinion: crate::cases::model::Opinion = r
        .opinion
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(Error::internal)?
        .ok_or_else(|| Error::internal("an answered case has an opinion"))?;
    let p = patients::repo::get(tx, &r.patient_id)
        .await?
        .ok_or_else(|| Error::internal("patient missing"))?;
    let attachments = repo::attachment_lines(tx, &r.id)
        .await?
        .into_iter()
        .map(|(name, kind, media_type, uploaded_at)| AttachmentContent {
            name,
            kind,
            media_type,
            uploaded_at,
        })
        .collect();
    Ok(ReportContent {
        case_id: r.id.clone(),
        case_number: r.number.clone(),
        specialty_label: r
            .specialty
            .as_deref()
            .and_then(codes::specialty)
            .map(|s| s.label.clone()),
        requester: pro_content(tx, &r.requester_id).await?,
        expert: pro_content(tx, expert_id).await?,
        patient: PatientContent {
            id: p.id,
            birth_family_name: p.birth_family_name,
            used_family_name: p.used_family_name,
            given_names: p.given_names,
            birth_date: p.birth_date,
            sex: p.sex,
            birth_place_code: p.birth_place_code,
            ins: p.ins,
            ins_kind: p.ins_kind,
            identity_status: p.identity_status,
        },
        requested_at: r.submitted_at.unwrap_or(r.created_at),
        answered_at: r.answered_at.unwrap_or(r.updated_at),
        reason: r.reason.clone(),
        question: r.question.clone(),
        clinical_context: r.clinical_context.clone(),
        attachments,
        kind: match opinion.kind {
            OpinionKind::Advice => "advice",
            OpinionKind::WorkupBeforeVisit => "workup_before_visit",
            OpinionKind::Consultation => "consultation",
        }
        .into(),
        context: opinion.context,
        answer: opinion.answer,
        recommendations: opinion.recommendations,
        follow_up: opinion.follow_up,
        visit_needed: opinion.visit_needed,
        visit_urgency: opinion.visit_urgency.map(urgency_str),
        correction_reason: None,
    })
}

fn urgency_str(u: Urgency) -> String {
    match u {
        Urgency::Routine => "routine".into(),
        Urgency::Urgent => "urgent".into(),
    }
}

/// Called by the answer (and convert-to-consultation) in its transaction: the case's
/// report exists from then on, as draft version 1 written by the answering expert.
pub(crate) async fn draft_on_answer(tx: &mut Tx, r: &CaseRow, now: Timestamp) -> Result<String> {
    let content = content_of(tx, r).await?;
    let row = ReportRow {
        id: new_id(),
        case_id: r.id.clone(),
        version: 1,
        previous_id: None,
        state: "draft".into(),
        author_id: content.expert.id.clone(),
        content: serde_json::to_string(&content).map_err(Error::internal)?,
        created_at: now.micros(),
        signed_at: None,
        signed_by: None,
        pdf_sha256: None,
    };
    repo::insert_draft(tx, &row).await?;
    Ok(row.id)
}

impl Platform {
    /// Loads a case the caller may see (404 and a denial otherwise), with its versions.
    async fn report_case(
        &self,
        ctx: &Ctx,
        case_id: &str,
        action: &str,
    ) -> Result<(Tx, CaseRow, String, Vec<ReportRow>)> {
        let me = ctx.actor.id().ok_or(Error::Unauthenticated)?.to_string();
        let tx = self.db.begin().await?;
        let (mut tx, row, _rel) = self.load_visible(tx, ctx, case_id, action).await?;
        let versions = repo::versions(&mut tx, case_id).await?;
        Ok((tx, row, me, versions))
    }

    /// Refuses (403, audited) anyone but the expert who answered the case.
    async fn require_author(
        &self,
        tx: Tx,
        ctx: &Ctx,
        row: &CaseRow,
        me: &str,
        action: &str,
    ) -> Result<Tx> {
        if row.assigned_expert_id.as_deref() == Some(me) {
            return Ok(tx);
        }
        self.deny(
            tx,
            ctx,
            NewEntry::denied(action, "case", &row.id),
            Error::Forbidden("only the expert who answered may do this with the report".into()),
        )
        .await
    }

    async fn version_views(
        &self,
        tx: &mut Tx,
        case_id: &str,
        versions: &[ReportRow],
        with_drafts: bool,
    ) -> Result<Vec<ReportVersionView>> {
        let deliveries = repo::deliveries_of_case(tx, case_id).await?;
        let mut names = std::collections::HashMap::new();
        for d in &deliveries {
            if !names.contains_key(&d.professional_id) {
                let n = dir::get_professional_row(tx, &d.professional_id)
                    .await?
                    .map(|p| p.display_name())
                    .unwrap_or_default();
                names.insert(d.professional_id.clone(), n);
            }
        }
        let mut out = Vec::new();
        for v in versions {
            let signed = v.state == "signed";
            if !signed && !with_drafts {
                continue;
            }
            let content = parse_content(v)?;
            let base = format!("/api/v1/cases/{case_id}/report/versions/{}", v.version);
            out.push(ReportVersionView {
                id: v.id.clone(),
                version: v.version,
                previous_id: v.previous_id.clone(),
                state: v.state.clone(),
                created_at: Timestamp(v.created_at),
                signed_at: ts(v.signed_at),
                signed_by: v.signed_by.clone(),
                pdf_sha256: v.pdf_sha256.clone(),
                pdf_url: signed.then(|| format!("{base}/pdf")),
                cda_url: signed.then(|| format!("{base}/cda")),
                correction_reason: content.correction_reason,
                deliveries: deliveries
                    .iter()
                    .filter(|d| d.report_id == v.id)
                    .map(|d| DeliveryView {
                        id: d.id.clone(),
                        recipient: d.recipient.clone(),
                        professional_name: names
                            .get(&d.professional_id)
                            .cloned()
                            .unwrap_or_default(),
                        professional_id: d.professional_id.clone(),
                        channel: d.channel.clone(),
                        status: d.status.clone(),
                        attempts: d.attempts,
                        last_error: d.last_error.clone(),
                        delivered_at: ts(d.delivered_at),
                        updated_at: Timestamp(d.updated_at),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The report's versions the caller may see, with their delivery status.
    pub async fn case_report(&self, ctx: &Ctx, case_id: &str) -> Result<ReportList> {
        let (mut tx, row, me, versions) = self.report_case(ctx, case_id, "report.read").await?;
        let author = row.assigned_expert_id.as_deref() == Some(me.as_str());
        let items = self
            .version_views(&mut tx, case_id, &versions, author)
            .await?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success("report.read", "case", case_id)],
        )
        .await?;
        tx.commit().await?;
        Ok(ReportList {
            case_id: case_id.to_string(),
            items,
        })
    }

    /// The draft as a PDF marked "BROUILLON — APERÇU", for its author before signing.
    pub async fn preview_report(&self, ctx: &Ctx, case_id: &str) -> Result<Download> {
        let action = "report.preview";
        let (tx, row, me, versions) = self.report_case(ctx, case_id, action).await?;
        let mut tx = self.require_author(tx, ctx, &row, &me, action).await?;
        let Some(draft) = versions.iter().find(|v| v.state == "draft") else {
            tx.rollback().await?;
            return Err(Error::conflict(
                "there is no draft to preview: the report is signed (download it), or not written yet",
                Some(row.state.clone()),
            ));
        };
        let now = self.now();
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(action, "case", case_id)
                .with(json!({"report": draft.id, "version": draft.version}))],
        )
        .await?;
        tx.commit().await?;
        let c = parse_content(draft)?;
        let input = content::to_pdf(
            &c,
            &Rendition {
                document_id: &draft.id,
                version: draft.version,
                previous_id: draft.previous_id.as_deref(),
                signed: None,
                at: now,
            },
        );
        let bytes = render_pdf(input).await?;
        Ok(Download {
            name: format!(
                "apercu-compte-rendu-{}-v{}.pdf",
                c.case_number, draft.version
            ),
            media_type: "application/pdf",
            bytes,
        })
    }

    /// Signs the draft: renders the final PDF (outside any transaction), then, in one
    /// transaction, freezes it with its SHA-256, notifies the requester, queues delivery
    /// (R10), writes the timeline event and the audit entry. Signing again when nothing is
    /// left to sign answers the signed version (idempotent).
    pub async fn sign_report(&self, ctx: &Ctx, case_id: &str) -> Result<ReportVersionView> {
        let action = "report.sign";
        let (mut tx, row, me, versions) = self.report_case(ctx, case_id, action).await?;
        if let Some(prev) = idempotency::replay(&mut tx, ctx).await? {
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::success(
                    format!("{action}.replay"),
                    "case",
                    case_id,
                )],
            )
            .await?;
            tx.commit().await?;
            return Ok(prev);
        }
        let mut tx = self.require_author(tx, ctx, &row, &me, action).await?;
        let Some(draft) = versions.iter().find(|v| v.state == "draft").cloned() else {
            // Nothing to sign: the latest signed version, if any, is the answer.
            let Some(last) = versions.iter().rev().find(|v| v.state == "signed") else {
                tx.rollback().await?;
                return Err(Error::conflict(
                    "the case has no report yet: answer it first",
                    Some(row.state.clone()),
                ));
            };
            let view = self
                .version_views(&mut tx, case_id, std::slice::from_ref(last), true)
                .await?
                .pop()
                .ok_or_else(|| Error::internal("view of a signed version"))?;
            audit::append(
                &mut tx,
                self.now(),
                &ctx.actor,
                &[NewEntry::success(action, "case", case_id).with(
                    json!({"report": last.id, "version": last.version, "already_signed": true}),
                )],
            )
            .await?;
            tx.commit().await?;
            return Ok(view);
        };
        // Nothing is held while rendering.
        tx.rollback().await?;
        let now = self.now();
        let c = parse_content(&draft)?;
        // The author is the answering expert (checked above), named as the report names them.
        let signer = c.expert.display_name.clone();
        let input = content::to_pdf(
            &c,
            &Rendition {
                document_id: &draft.id,
                version: draft.version,
                previous_id: draft.previous_id.as_deref(),
                signed: Some((&signer, now)),
                at: now,
            },
        );
        let pdf = render_pdf(input).await?;
        let sha = hex::encode(Sha256::digest(&pdf));

        let mut tx = self.db.begin().await?;
        let current = case_repo::get(&mut tx, case_id)
            .await?
            .ok_or(Error::NotFound)?;
        if current.assigned_expert_id.as_deref() != Some(me.as_str()) {
            tx.rollback().await?;
            return Err(Error::conflict(
                "the case changed meanwhile",
                Some(current.state),
            ));
        }
        if !repo::sign(&mut tx, &draft.id, &draft.content, &me, now, &pdf, &sha).await? {
            tx.rollback().await?;
            return Err(Error::conflict(
                "the draft changed or was signed meanwhile; reload the report",
                Some(current.state),
            ));
        }
        let deliveries = self
            .queue_delivery(&mut tx, &current, &draft, &c, now)
            .await?;
        case_repo::insert_event(
            &mut tx,
            &new_id(),
            case_id,
            now,
            Some(&me),
            "report_signed",
            &current.state,
            &current.state,
            &json!({"report": draft.id, "version": draft.version, "pdf_sha256": sha}),
        )
        .await?;
        crate::webhooks::emit(
            &mut tx,
            now,
            &current,
            None,
            crate::webhooks::model::EventType::ReportSigned,
        )
        .await?;
        let signed = repo::get(&mut tx, &draft.id)
            .await?
            .ok_or_else(|| Error::internal("signed report vanished"))?;
        let view = self
            .version_views(&mut tx, case_id, std::slice::from_ref(&signed), true)
            .await?
            .pop()
            .ok_or_else(|| Error::internal("view of a signed version"))?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(action, "case", case_id).with(json!({
                "report": draft.id,
                "version": draft.version,
                "pdf_sha256": sha,
                "deliveries": deliveries,
            }))],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// R10: the requester (in-app now, an email with a link by a job) and the patient's
    /// médecin traitant when known and someone else (the report attached, by a job, through
    /// the SMTP relay: MSSanté is SMTP). One `report_deliveries` row per recipient.
    async fn queue_delivery(
        &self,
        tx: &mut Tx,
        case: &CaseRow,
        report: &ReportRow,
        c: &ReportContent,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        // In-app, now: the notification row (marked mailed: the delivery job sends the mail,
        // whatever the requester's digest setting, because R10 requires it).
        let n = notifications::repo::NotificationRow {
            id: new_id(),
            professional_id: case.requester_id.clone(),
            kind: Kind::ReportSigned.as_str().into(),
            case_id: Some(case.id.clone()),
            case_number: Some(case.number.clone()),
            created_at: now.micros(),
            read_at: None,
            emailed_at: Some(now.micros()),
        };
        notifications::repo::insert(tx, &n).await?;

        let mut recipients = vec![("requester", case.requester_id.clone(), "app_and_email")];
        let mt = patients::repo::get(tx, &case.patient_id)
            .await?
            .and_then(|p| p.medecin_traitant_id);
        if let Some(mt) = mt.filter(|m| *m != case.requester_id && *m != c.expert.id) {
            recipients.push(("medecin_traitant", mt, "secure_email"));
        }
        let mut out = Vec::new();
        for (recipient, pro, channel) in recipients {
            let address = notifications::repo::email_of(tx, &pro).await?;
            let status = match (&address, recipient) {
                (None, "requester") => "in_app_only",
                (None, _) => "not_sent",
                (Some(_), _) => "pending",
            };
            let d = DeliveryRow {
                id: new_id(),
                report_id: report.id.clone(),
                recipient: recipient.into(),
                professional_id: pro,
                channel: channel.into(),
                address,
                status: status.into(),
                attempts: 0,
                last_error: (status == "not_sent")
                    .then(|| "no secure messaging address in the directory".to_string()),
                created_at: now.micros(),
                updated_at: now.micros(),
                delivered_at: (status == "in_app_only").then_some(now.micros()),
            };
            repo::insert_delivery(tx, &d).await?;
            if status == "pending" {
                let job = NewJob::new(DELIVER_KIND, json!({"delivery_id": d.id}), now)
                    .dedupe(format!("report-delivery:{}", d.id));
                jobs::enqueue(tx, now, job).await?;
            }
            out.push(format!("{recipient}:{status}"));
        }
        Ok(out)
    }

    /// Writes the next draft: a correction after a signed version (version n + 1, naming
    /// the one it replaces; a reason is required), or the current draft rewritten. A signed
    /// version is never edited.
    pub async fn write_report_draft(
        &self,
        ctx: &Ctx,
        case_id: &str,
        input: DraftInput,
    ) -> Result<ReportVersionView> {
        let action = "report.draft";
        let (mut tx, row, me, versions) = self.report_case(ctx, case_id, action).await?;
        if let Some(prev) = idempotency::replay(&mut tx, ctx).await? {
            tx.commit().await?;
            return Ok(prev);
        }
        let mut tx = self.require_author(tx, ctx, &row, &me, action).await?;
        let Some(last) = versions.last().cloned() else {
            tx.rollback().await?;
            return Err(Error::conflict(
                "the case has no report yet: answer it first",
                Some(row.state.clone()),
            ));
        };
        let mut v = crate::kernel::error::Violations::default();
        for (field, value) in [
            ("context", &input.context),
            ("answer", &input.answer),
            ("recommendations", &input.recommendations),
            ("follow_up", &input.follow_up),
            ("correction_reason", &input.correction_reason),
        ] {
            if value
                .as_deref()
                .is_some_and(|s| s.chars().count() > MAX_TEXT)
            {
                v.push(field, format!("is longer than {MAX_TEXT} characters"));
            }
        }
        if input.answer.as_deref().is_some_and(|a| a.trim().is_empty()) {
            v.push("answer", "is required");
        }
        let correcting = last.state == "signed";
        let reason = input
            .correction_reason
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let next_version = if correcting {
            last.version + 1
        } else {
            last.version
        };
        if next_version > 1 && reason.is_none() {
            v.push(
                "correction_reason",
                "say why this version replaces the signed one",
            );
        }
        v.into_result()?;
        let mut c = parse_content(&last)?;
        if let Some(s) = input.context {
            c.context = s.trim().into();
        }
        if let Some(s) = input.answer {
            c.answer = s.trim().into();
        }
        if let Some(s) = input.recommendations {
            c.recommendations = s.trim().into();
        }
        if let Some(s) = input.follow_up {
            c.follow_up = Some(s.trim().to_string()).filter(|s| !s.is_empty());
        }
        if let Some(b) = input.visit_needed {
            c.visit_needed = b;
        }
        if let Some(u) = input.visit_urgency {
            c.visit_urgency = Some(urgency_str(u));
        }
        if c.visit_needed && c.visit_urgency.is_none() {
            tx.rollback().await?;
            return Err(Error::invalid(
                "visit_urgency",
                "say how urgent the visit is (routine or urgent)",
            ));
        }
        if !c.visit_needed {
            c.visit_urgency = None;
        }
        c.correction_reason = reason.map(str::to_string);
        let now = self.now();
        let text = serde_json::to_string(&c).map_err(Error::internal)?;
        let id = if correcting {
            let draft = ReportRow {
                id: new_id(),
                case_id: case_id.into(),
                version: next_version,
                previous_id: Some(last.id.clone()),
                state: "draft".into(),
                author_id: me.clone(),
                content: text,
                created_at: now.micros(),
                signed_at: None,
                signed_by: None,
                pdf_sha256: None,
            };
            repo::insert_draft(&mut tx, &draft).await?;
            draft.id
        } else {
            if !repo::rewrite_draft(&mut tx, &last.id, &text, now).await? {
                tx.rollback().await?;
                return Err(Error::conflict(
                    "the draft was signed meanwhile; reload the report",
                    Some(row.state.clone()),
                ));
            }
            last.id.clone()
        };
        let saved = repo::get(&mut tx, &id)
            .await?
            .ok_or_else(|| Error::internal("draft vanished"))?;
        let view = self
            .version_views(&mut tx, case_id, std::slice::from_ref(&saved), true)
            .await?
            .pop()
            .ok_or_else(|| Error::internal("view of a draft"))?;
        audit::append(
            &mut tx,
            now,
            &ctx.actor,
            &[NewEntry::success(action, "case", case_id).with(json!({
                "report": id,
                "version": next_version,
                "correction": correcting,
            }))],
        )
        .await?;
        idempotency::record(&mut tx, ctx, 200, &view, now).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A signed version, as PDF or CDA R2 TLM-CR (the PDF inside), for whoever may see the
    /// case. A draft is not a document: 404 (the author previews it instead).
    pub async fn download_report(
        &self,
        ctx: &Ctx,
        case_id: &str,
        version: i64,
        format: ReportFormat,
    ) -> Result<Download> {
        let action = "report.download";
        let (mut tx, _row, _me, versions) = self.report_case(ctx, case_id, action).await?;
        let Some(v) = versions
            .iter()
            .find(|v| v.version == version && v.state == "signed")
        else {
            return self
                .deny(
                    tx,
                    ctx,
                    NewEntry::denied(action, "case", case_id)
                        .with(json!({"version": version, "why": "no such signed version"})),
                    Error::NotFound,
                )
                .await;
        };
        let pdf = repo::pdf(&mut tx, &v.id)
            .await?
            .ok_or_else(|| Error::internal("a signed report has its PDF"))?;
        audit::append(
            &mut tx,
            self.now(),
            &ctx.actor,
            &[NewEntry::success(action, "case", case_id).with(json!({
                "report": v.id,
                "version": v.version,
                "format": format.as_str(),
            }))],
        )
        .await?;
        tx.commit().await?;
        let c = parse_content(v)?;
        let base = format!("compte-rendu-{}-v{}", c.case_number, v.version);
        Ok(match format {
            ReportFormat::Pdf => Download {
                name: format!("{base}.pdf"),
                media_type: "application/pdf",
                bytes: pdf,
            },
            ReportFormat::Cda => {
                let set_id = versions.first().map_or(v.id.as_str(), |f| f.id.as_str());
                let cda = content::to_cda(
                    &c,
                    &v.id,
                    set_id,
                    v.version,
                    Timestamp(v.signed_at.unwrap_or(v.created_at)),
                    pdf,
                );
                Download {
                    name: format!("{base}.xml"),
                    media_type: "application/xml",
                    bytes: super::cda::tlm_cr(&cda).into_bytes(),
                }
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Pdf,
    Cda,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Pdf => "pdf",
            ReportFormat::Cda => "cda",
        }
    }
}

// ---------- the delivery job ----------

#[derive(Deserialize)]
struct DeliverPayload {
    delivery_id: String,
}

/// Sends one delivery. The outcome of every attempt is recorded on the delivery row; the
/// queue retries with its backoff, and the last attempt marks it `failed`.
async fn deliver(p: Platform, job: jobs::Job) -> Result<(), JobError> {
    let d: DeliverPayload = job.payload()?;
    let mut tx = p.db.begin().await?;
    let Some(row) = repo::get_delivery(&mut tx, &d.delivery_id).await? else {
        return Err(JobError::Permanent("no such delivery".into()));
    };
    // `failed` is sent again when an operator revives the dead job (`consilium jobs retry`).
    if !matches!(row.status.as_str(), "pending" | "retrying" | "failed") {
        job.complete(&mut tx, p.now()).await?;
        tx.commit().await?;
        return Ok(());
    }
    let report = repo::get(&mut tx, &row.report_id)
        .await?
        .ok_or_else(|| JobError::Permanent("no such report".into()))?;
    let c = parse_content(&report)?;
    let pdf = if row.recipient == "medecin_traitant" {
        repo::pdf(&mut tx, &report.id).await?
    } else {
        None
    };
    tx.rollback().await?;
    let Some(address) = row.address.clone() else {
        return Err(JobError::Permanent("no address".into()));
    };
    let now = p.now();
    if !p.mailer.enabled() {
        let mut tx = p.db.begin().await?;
        repo::record_attempt(
            &mut tx,
            &row.id,
            "not_sent",
            Some("no SMTP relay configured (smtp_url)"),
            now,
        )
        .await?;
        job.complete(&mut tx, now).await?;
        tx.commit().await?;
        return Ok(());
    }
    let link = p.mailer.case_link(&c.case_id);
    let (mail, attachment) = if row.recipient == "medecin_traitant" {
        (
            OutgoingMail {
                to: address,
                subject: format!("Compte rendu de téléexpertise, dossier {}", c.case_number),
                text: format!(
                    "Bonjour,\n\nVous êtes le médecin traitant d'un patient pour lequel une téléexpertise a été \
                     réalisée (dossier {}). Le compte rendu signé est joint à ce message (PDF) : \
                     le médecin requis l'adresse au demandeur et au médecin traitant du patient.\n\n\
                     -- \nConsilium, message envoyé par messagerie sécurisée de santé.\n",
                    c.case_number
                ),
            },
            pdf.map(|bytes| MailAttachment {
                name: format!("compte-rendu-{}-v{}.pdf", c.case_number, report.version),
                media_type: "application/pdf".into(),
                bytes,
            }),
        )
    } else {
        (
            OutgoingMail {
                to: address,
                subject: Kind::ReportSigned.subject(&c.case_number),
                text: format!(
                    "{}\n\nLe consulter : {link}\n\n-- \nConsilium. Ce message ne contient aucune donnée de patient.\n",
                    Kind::ReportSigned.sentence(&c.case_number)
                ),
            },
            None,
        )
    };
    let sent = p
        .mailer
        .send_with(&job.id, &mail, attachment.as_ref())
        .await;
    let mut tx = p.db.begin().await?;
    match sent {
        Ok(()) => {
            repo::record_attempt(&mut tx, &row.id, "sent", None, now).await?;
            job.complete(&mut tx, now).await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            let last = matches!(e, JobError::Permanent(_)) || job.attempts >= job.max_attempts;
            let status = if last { "failed" } else { "retrying" };
            repo::record_attempt(&mut tx, &row.id, status, Some(&e.to_string()), now).await?;
            tx.commit().await?;
            Err(e)
        }
    }
}

pub fn register_jobs(r: &Registry) {
    r.register(DELIVER_KIND, deliver);
}
