//! "New request": one page (patient, consent, specialty and target, question), then the
//! draft's page for photos and documents and the final "send". A refused form comes back
//! with what was typed and a clear message; nothing is created until it is valid.

use super::{Base, Lang, S, Viewer, error_text, render, see_other, unread, viewer};
use crate::cases::model::Urgency;
use crate::cases::service::{ConsentDecision, ConsentInput, ConsentMethod, NewCase};
use crate::kernel::Error;
use crate::patients::model::{PatientInput, Sex};
use askama::Template;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default, Clone)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub patient_id: String,
    #[serde(default)]
    pub birth_family_name: String,
    #[serde(default)]
    pub used_family_name: String,
    #[serde(default)]
    pub given_names: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub ins: String,
    #[serde(default, deserialize_with = "checkbox")]
    pub patient_informed: bool,
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub specialty: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub question: String,
    #[serde(default)]
    pub clinical_context: String,
    #[serde(default)]
    then: String,
}

fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = String::deserialize(d)?;
    Ok(!v.is_empty())
}

pub struct TargetOption {
    pub id: String,
    pub value: String,
    pub label: String,
    pub specialty: String,
}

#[derive(Template)]
#[template(path = "ui/new.html")]
struct NewPage {
    b: Base,
    f: NewForm,
    error: Option<String>,
    patients: Vec<(String, String)>,
    specialties: Vec<(String, String)>,
    teams: Vec<TargetOption>,
    experts: Vec<TargetOption>,
}

async fn form_response(
    s: &crate::web::AppState,
    v: &Viewer,
    f: NewForm,
    error: Option<(StatusCode, String)>,
) -> Response {
    let p = &s.platform;
    let patients = p
        .list_my_patients(&v.ctx, None, 200)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|pt| {
            (
                pt.id.clone(),
                format!(
                    "{} {} ({})",
                    pt.birth_family_name,
                    pt.given_names,
                    super::cases::french_date(&pt.birth_date)
                ),
            )
        })
        .collect();
    let labels = crate::codes::specialties();
    let label = |code: &str| {
        labels
            .get(code)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| code.to_string())
    };
    // The specialties someone answers in: every team's, every expert's.
    let mut present: std::collections::BTreeSet<String> = p
        .list_teams(None)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.specialty)
        .collect();
    for e in p
        .search_professionals(None, None, true, None, 500)
        .await
        .unwrap_or_default()
    {
        present.extend(e.specialties);
    }
    // For each, only the teams and experts that would accept this requester's request now
    // (acceptance rules, load caps, absences), with their usual delay.
    let mut specialties: BTreeMap<String, String> = BTreeMap::new();
    let mut teams = Vec::new();
    let mut experts = Vec::new();
    for sp in present {
        let Ok(offers) = p.search_offers(&v.ctx, &sp, 200).await else {
            continue;
        };
        if offers.teams.is_empty() && offers.experts.is_empty() {
            continue;
        }
        specialties.insert(sp.clone(), label(&sp));
        for t in offers.teams {
            teams.push(TargetOption {
                value: format!("team:{}", t.team.id),
                label: format!(
                    "{} — {} · {}",
                    t.team.name,
                    label(&sp),
                    delay_label(v.lang, t.expected_delay_seconds)
                ),
                specialty: sp.clone(),
                id: t.team.id,
            });
        }
        for e in offers.experts {
            experts.push(TargetOption {
                value: format!("expert:{}", e.professional.id),
                label: format!(
                    "{} — {} · {}",
                    e.professional.display_name,
                    label(&sp),
                    delay_label(v.lang, e.expected_delay_seconds)
                ),
                specialty: sp.clone(),
                id: e.professional.id,
            });
        }
    }
    let mut specialties: Vec<(String, String)> = specialties.into_iter().collect();
    specialties.sort_by(|a, b| a.1.cmp(&b.1));
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let u = unread(s, v).await;
    render(
        status,
        &NewPage {
            b: v.base(v.t("new_request"), "/cases/new", u),
            f,
            error,
            patients,
            specialties,
            teams,
            experts,
        },
    )
}

/// "usually answers in 2 days" from a median delay (none: no history yet).
fn delay_label(lang: Lang, seconds: Option<i64>) -> String {
    let t = |k| super::i18n::t(lang, k);
    match seconds {
        None => t("delay_unknown").to_string(),
        Some(s) if s < 3600 => format!("{} < 1 h", t("delay_usual")),
        Some(s) if s < 48 * 3600 => format!("{} {} h", t("delay_usual"), (s + 1800) / 3600),
        Some(s) => format!(
            "{} {} {}",
            t("delay_usual"),
            (s + 43_200) / 86_400,
            t("days_long")
        ),
    }
}

pub async fn form_page(axum::extract::State(s): S, parts: Parts) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let f = NewForm {
        sex: "F".into(),
        decision: "given".into(),
        method: "oral".into(),
        urgency: "routine".into(),
        ..Default::default()
    };
    form_response(&s, &v, f, None).await
}

fn to_new_case(lang: Lang, f: &NewForm) -> Result<NewCase, Error> {
    let t = |k| super::i18n::t(lang, k);
    let (expert_id, team_id) = match f.target.split_once(':') {
        Some(("team", id)) if !id.is_empty() => (None, Some(id.to_string())),
        Some(("expert", id)) if !id.is_empty() => (Some(id.to_string()), None),
        _ => return Err(Error::invalid("target", t("err_choose_target"))),
    };
    let patient = if f.patient_id.trim().is_empty() {
        let sex = match f.sex.as_str() {
            "M" => Sex::M,
            "U" => Sex::U,
            _ => Sex::F,
        };
        Some(PatientInput {
            birth_family_name: f.birth_family_name.clone(),
            used_family_name: Some(f.used_family_name.trim().to_string()).filter(|x| !x.is_empty()),
            given_names: f.given_names.clone(),
            birth_date: f.birth_date.clone(),
            sex,
            birth_place_code: None,
            ins: Some(f.ins.trim().to_string()).filter(|x| !x.is_empty()),
            ins_kind: None,
            identity_status: crate::patients::model::IdentityStatus::Provisional,
            medecin_traitant_id: None,
        })
    } else {
        None
    };
    Ok(NewCase {
        patient_id: Some(f.patient_id.trim().to_string()).filter(|x| !x.is_empty()),
        patient,
        expert_id,
        team_id,
        specialty: Some(f.specialty.clone()).filter(|x| !x.is_empty()),
        urgency: Some(if f.urgency == "urgent" {
            Urgency::Urgent
        } else {
            Urgency::Routine
        }),
        reason: f.reason.clone(),
        question: f.question.clone(),
        clinical_context: f.clinical_context.clone(),
    })
}

pub async fn submit(axum::extract::State(s): S, parts: Parts, body: Bytes) -> Response {
    let v = match viewer(&s, &parts).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let f: NewForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(r) = v.check_csrf(&s, &f.csrf).await {
        return r;
    }
    let refused = f.decision == "refused";
    if !f.patient_informed && !refused {
        let text = format!("{} {}", v.t("err_invalid"), v.t("err_inform_first"));
        return form_response(&s, &v, f, Some((StatusCode::UNPROCESSABLE_ENTITY, text))).await;
    }
    let input = match to_new_case(v.lang, &f) {
        Ok(i) => i,
        Err(e) => {
            let text = error_text(v.lang, &e);
            return form_response(&s, &v, f, Some((StatusCode::UNPROCESSABLE_ENTITY, text))).await;
        }
    };
    let p = &s.platform;
    let case = match p.create_case(&v.ctx, input).await {
        Ok(c) => c,
        Err(e @ (Error::Internal(_) | Error::Unavailable(_))) => return e.into_response(),
        Err(e) => {
            let status = match &e {
                Error::NotFound => StatusCode::NOT_FOUND,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let text = error_text(v.lang, &e);
            return form_response(&s, &v, f, Some((status, text))).await;
        }
    };
    let consent = ConsentInput {
        decision: if refused {
            ConsentDecision::Refused
        } else {
            ConsentDecision::Given
        },
        method: if f.method == "written" {
            ConsentMethod::Written
        } else {
            ConsentMethod::Oral
        },
        patient_informed: f.patient_informed,
        collected_at: None,
    };
    if let Err(e) = p.record_consent(&v.ctx, &case.id, consent).await {
        return see_other_with_error(&s, &v, &case.id, e).await;
    }
    if f.then == "send" && !refused {
        return match p.submit(&v.ctx, &case.id).await {
            Ok(_) => see_other(&format!("/cases/{}?done=submitted", case.id)),
            Err(e) => see_other_with_error(&s, &v, &case.id, e).await,
        };
    }
    see_other(&format!("/cases/{}?done=draft", case.id))
}

/// The draft exists but a later step was refused: its page, with the reason.
async fn see_other_with_error(
    s: &crate::web::AppState,
    v: &Viewer,
    id: &str,
    e: Error,
) -> Response {
    if matches!(e, Error::Internal(_) | Error::Unavailable(_)) {
        return e.into_response();
    }
    let text = error_text(v.lang, &e);
    super::cases::case_response(
        s,
        v,
        id,
        None,
        Some((StatusCode::UNPROCESSABLE_ENTITY, text)),
    )
    .await
}

#[derive(Template)]
#[template(path = "ui/info_sheet.html")]
struct InfoSheet {
    lang: &'static str,
    title: &'static str,
    paragraphs: Vec<&'static str>,
}

/// The printable patient information sheet (R6): what teleexpertise is, who sees what,
/// the patient's rights. Public: it holds no data.
pub async fn information_sheet(parts: Parts) -> Response {
    let lang = super::lang_of(&parts);
    let t = |k| super::i18n::t(lang, k);
    render(
        StatusCode::OK,
        &InfoSheet {
            lang: lang.code(),
            title: t("sheet_title"),
            paragraphs: vec![
                t("sheet_p1"),
                t("sheet_p2"),
                t("sheet_p3"),
                t("sheet_p4"),
                t("sheet_p5"),
            ],
        },
    )
}
