//! What a report says, frozen as data when its version is created (`reports.content`), and
//! how that becomes the PDF's input and the CDA header. Pure.

use super::cda::{CdaPatient, CdaPro, CdaReport};
use crate::billing::model::paris_offset_seconds;
use crate::kernel::Timestamp;
use serde::{Deserialize, Serialize};

/// A professional as the report names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProContent {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    /// TRE_G15 code and label.
    pub profession: String,
    pub profession_label: String,
    /// TRE_R38 code and label.
    pub specialty: Option<String>,
    pub specialty_label: Option<String>,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub organisation: Option<String>,
    pub finess: Option<String>,
}

impl ProContent {
    /// IdNat_PS: `8` + RPPS, or `0` + ADELI, else the platform id.
    pub fn idnat(&self) -> String {
        match (&self.rpps, &self.adeli) {
            (Some(r), _) => format!("8{r}"),
            (None, Some(a)) => format!("0{a}"),
            (None, None) => self.id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientContent {
    pub id: String,
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    pub given_names: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `F`, `M`, `U`.
    pub sex: String,
    pub birth_place_code: Option<String>,
    pub ins: Option<String>,
    /// `NIR` or `NIA`.
    pub ins_kind: Option<String>,
    /// `qualified` or `provisional`.
    pub identity_status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentContent {
    pub name: String,
    pub kind: String,
    pub media_type: String,
    pub uploaded_at: i64,
}

/// The report's content. Version 1 is built from the case when the expert answers; a
/// correction copies it with a new opinion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportContent {
    pub case_id: String,
    pub case_number: String,
    pub specialty_label: Option<String>,
    pub requester: ProContent,
    pub expert: ProContent,
    pub patient: PatientContent,
    pub requested_at: i64,
    pub answered_at: i64,
    pub reason: String,
    pub question: String,
    pub clinical_context: String,
    pub attachments: Vec<AttachmentContent>,
    /// `advice`, `workup_before_visit`, `consultation`.
    pub kind: String,
    pub context: String,
    pub answer: String,
    pub recommendations: String,
    pub follow_up: Option<String>,
    pub visit_needed: bool,
    /// `routine` or `urgent` (for a visit), else none.
    pub visit_urgency: Option<String>,
    /// Why this version replaces the previous one (corrections only).
    #[serde(default)]
    pub correction_reason: Option<String>,
}

const DAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

fn paris(t: Timestamp) -> time::OffsetDateTime {
    Timestamp(t.micros() + paris_offset_seconds(t) * 1_000_000).to_offset()
}

/// "lundi 23 novembre 2026 à 10 h 05" (Europe/Paris).
pub fn french_datetime(t: Timestamp) -> String {
    let l = paris(t);
    format!(
        "{} {} {} {} à {} h {:02}",
        DAYS[l.weekday().number_days_from_monday() as usize],
        l.day(),
        MONTHS[usize::from(u8::from(l.month())) - 1],
        l.year(),
        l.hour(),
        l.minute()
    )
}

/// "23/11/2026 10:05" (Europe/Paris).
pub fn french_short(t: Timestamp) -> String {
    let l = paris(t);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        l.day(),
        u8::from(l.month()),
        l.year(),
        l.hour(),
        l.minute()
    )
}

/// CDA TS with the Paris offset: `20261123100500+0100`.
pub fn cda_time(t: Timestamp) -> String {
    let l = paris(t);
    let off = paris_offset_seconds(t) / 3600;
    format!(
        "{}{:02}{:02}{:02}{:02}{:02}+{:02}00",
        l.year(),
        u8::from(l.month()),
        l.day(),
        l.hour(),
        l.minute(),
        l.second(),
        off
    )
}

/// `YYYY-MM-DD` → `DD/MM/YYYY` (anything else as is).
fn french_date(iso: &str) -> String {
    let p: Vec<&str> = iso.split('-').collect();
    match p.as_slice() {
        [y, m, d] if y.len() == 4 => format!("{d}/{m}/{y}"),
        _ => iso.to_string(),
    }
}

fn sex_label(s: &str) -> &'static str {
    match s {
        "F" => "Féminin",
        "M" => "Masculin",
        _ => "Indéterminé",
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "advice" => "Avis, sans consultation nécessaire",
        "workup_before_visit" => "Avis, avec bilan à réaliser avant une consultation",
        "consultation" => "Consultation nécessaire",
        _ => "Avis",
    }
}

fn attachment_kind(kind: &str, media_type: &str) -> String {
    match kind {
        "image" | "jpeg" | "png" | "webp" | "heic" => format!("Image ({media_type})"),
        "pdf" => "Document PDF".into(),
        "dicom" => "Imagerie DICOM".into(),
        "text" => "Texte".into(),
        _ => media_type.to_string(),
    }
}

fn pro_pdf(p: &ProContent) -> consilium_pdf::Professional {
    consilium_pdf::Professional {
        name: p.display_name.clone(),
        profession: p.profession_label.clone(),
        specialty: p.specialty_label.clone(),
        rpps: p.rpps.clone(),
        organisation: p.organisation.clone(),
    }
}

/// How the report's version is identified and signed, for rendering.
pub struct Rendition<'a> {
    pub document_id: &'a str,
    pub version: i64,
    pub previous_id: Option<&'a str>,
    /// `Some((signer, at))` for the signed document; `None` for a preview.
    pub signed: Option<(&'a str, Timestamp)>,
    /// When the PDF is made (its metadata date).
    pub at: Timestamp,
}

pub const PREVIEW_WATERMARK: &str = "BROUILLON — APERÇU";

/// The PDF renderer's input.
pub fn to_pdf(c: &ReportContent, r: &Rendition<'_>) -> consilium_pdf::Report {
    let pat = &c.patient;
    let ins = pat.ins.as_ref().map(|i| {
        let shown = if i.len() == 15 && i.is_char_boundary(13) {
            format!("{} {}", &i[..13], &i[13..])
        } else {
            i.clone()
        };
        match &pat.ins_kind {
            Some(k) => format!("{shown} ({k})"),
            None => shown,
        }
    });
    let identity_status = if pat.identity_status == "qualified" {
        "Identité qualifiée (INS vérifiée)".to_string()
    } else {
        "Identité provisoire : INS non qualifiée, à ne pas utiliser pour le DMP".to_string()
    };
    let mut follow_up = c.follow_up.clone().unwrap_or_default();
    if c.visit_needed {
        let when = match c.visit_urgency.as_deref() {
            Some("urgent") => "une consultation est nécessaire, en urgence.",
            _ => "une consultation est nécessaire, sans urgence.",
        };
        if !follow_up.is_empty() {
            follow_up.push_str("\n\n");
        }
        follow_up.push_str("Consultation : ");
        follow_up.push_str(when);
    }
    let mut opinion = String::new();
    if !c.context.trim().is_empty() {
        opinion.push_str(c.context.trim());
        opinion.push_str("\n\n");
    }
    opinion.push_str(&c.answer);
    if let Some(reason) = c.correction_reason.as_deref().filter(|s| !s.is_empty()) {
        opinion.push_str("\n\nMotif de la rectification : ");
        opinion.push_str(reason);
    }
    let created = r.at.to_offset();
    consilium_pdf::Report {
        document_id: r.document_id.to_uppercase(),
        version: u32::try_from(r.version).unwrap_or(u32::MAX),
        previous_document_id: r.previous_id.map(str::to_uppercase),
        case_number: c.case_number.clone(),
        title: match &c.specialty_label {
            Some(s) => format!("Avis spécialisé : {s}"),
            None => "Avis spécialisé".into(),
        },
        requester: pro_pdf(&c.requester),
        expert: pro_pdf(&c.expert),
        patient: consilium_pdf::Patient {
            birth_family_name: pat.birth_family_name.clone(),
            used_name: pat.used_family_name.clone(),
            given_names: pat.given_names.clone(),
            birth_date: french_date(&pat.birth_date),
            sex: sex_label(&pat.sex).into(),
            birth_place: pat.birth_place_code.clone().map(|c| format!("{c} (code INSEE)")),
            ins,
            identity_status,
        },
        requested_at: french_datetime(Timestamp(c.requested_at)),
        answered_at: french_datetime(Timestamp(c.answered_at)),
        reason: c.reason.clone(),
        question: c.question.clone(),
        attachments: c
            .attachments
            .iter()
            .map(|a| consilium_pdf::AttachmentLine {
                name: a.name.clone(),
                kind: attachment_kind(&a.kind, &a.media_type),
                added_at: french_short(Timestamp(a.uploaded_at)),
            })
            .collect(),
        conclusion: kind_label(&c.kind).into(),
        opinion,
        recommendations: Some(c.recommendations.clone()).filter(|s| !s.trim().is_empty()),
        follow_up: Some(follow_up).filter(|s| !s.trim().is_empty()),
        urgency: match c.visit_urgency.as_deref() {
            Some("urgent") => "Urgent".into(),
            _ => "Non urgent".into(),
        },
        signature: r.signed.map(|(signer, at)| consilium_pdf::Signature {
            signer: signer.to_string(),
            signed_at: french_datetime(at),
            statement: "Signé dans Consilium par le médecin requis, authentifié par un second facteur ; \
                        l'empreinte SHA-256 de ce document est conservée et il ne sera jamais modifié \
                        (une rectification donne une nouvelle version)."
                .into(),
        }),
        watermark: if r.signed.is_some() {
            None
        } else {
            Some(PREVIEW_WATERMARK.into())
        },
        created: Some(consilium_pdf::UtcDateTime {
            year: created.year(),
            month: u8::from(created.month()),
            day: created.day(),
            hour: created.hour(),
            minute: created.minute(),
            second: created.second(),
        }),
    }
}

fn cda_pro(p: &ProContent) -> CdaPro {
    CdaPro {
        idnat: p.idnat(),
        given: p.first_name.clone(),
        family: p.last_name.to_uppercase(),
        profession: p.profession.clone(),
        profession_label: p.profession_label.clone(),
        specialty: p.specialty.clone(),
        organisation: p
            .organisation
            .clone()
            .unwrap_or_else(|| "Exercice libéral".into()),
        finess: p.finess.clone(),
    }
}

/// The CDA R2 TLM-CR input for a signed version. `set_id` is the same for every version of
/// a case's report (the first version's id).
pub fn to_cda(
    c: &ReportContent,
    document_id: &str,
    set_id: &str,
    version: i64,
    signed_at: Timestamp,
    pdf: Vec<u8>,
) -> CdaReport {
    let pat = &c.patient;
    let ins_qualified = match (&pat.ins, pat.identity_status.as_str(), &pat.ins_kind) {
        (Some(i), "qualified", kind) => Some((
            i.clone(),
            if kind.as_deref() == Some("NIA") {
                "NIA"
            } else {
                "NIR"
            },
        )),
        _ => None,
    };
    let custodian = c
        .expert
        .organisation
        .clone()
        .unwrap_or_else(|| "Consilium".into());
    CdaReport {
        document_id: document_id.to_uppercase(),
        set_id: set_id.to_uppercase(),
        version,
        title: format!("Compte rendu de téléexpertise {}", c.case_number),
        effective_time: cda_time(signed_at),
        answered_time: cda_time(Timestamp(c.answered_at)),
        requested_time: cda_time(Timestamp(c.requested_at)),
        patient: CdaPatient {
            ins_qualified,
            local_id: pat.id.to_uppercase(),
            birth_family_name: pat.birth_family_name.clone(),
            given_names: pat.given_names.clone(),
            sex: pat.sex.clone(),
            birth_date: pat.birth_date.replace('-', ""),
            birth_place_code: pat.birth_place_code.clone(),
        },
        expert: cda_pro(&c.expert),
        requester: cda_pro(&c.requester),
        custodian_name: custodian,
        custodian_finess: c.expert.finess.clone(),
        pdf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc).expect("valid")
    }

    #[test]
    fn french_dates_follow_paris_time() {
        // Winter: UTC+1.
        assert_eq!(
            french_datetime(at("2026-11-23T09:05:00Z")),
            "lundi 23 novembre 2026 à 10 h 05"
        );
        // Summer: UTC+2, and the date moves past midnight.
        assert_eq!(
            french_datetime(at("2026-07-14T22:30:00Z")),
            "mercredi 15 juillet 2026 à 0 h 30"
        );
        assert_eq!(french_short(at("2026-02-01T23:59:00Z")), "02/02/2026 00:59");
        assert_eq!(cda_time(at("2026-07-14T22:30:07Z")), "20260715003007+0200");
        assert_eq!(cda_time(at("2026-11-23T09:05:00Z")), "20261123100500+0100");
        assert_eq!(french_date("1961-04-02"), "02/04/1961");
    }

    fn pro(id: &str, rpps: Option<&str>) -> ProContent {
        ProContent {
            id: id.into(),
            first_name: "Paul".into(),
            last_name: "Bernard".into(),
            display_name: "Dr Paul Bernard".into(),
            profession: "10".into(),
            profession_label: "Médecin".into(),
            specialty: Some("SM04".into()),
            specialty_label: Some("Cardiologie".into()),
            rpps: rpps.map(str::to_string),
            adeli: None,
            organisation: None,
            finess: None,
        }
    }

    fn content(status: &str) -> ReportContent {
        ReportContent {
            case_id: "c".into(),
            case_number: "TE-2026-000001".into(),
            specialty_label: Some("Cardiologie".into()),
            requester: pro("r", None),
            expert: pro("e", Some("10000000009")),
            patient: PatientContent {
                id: "0193a1b2-0000-7000-8000-000000000003".into(),
                birth_family_name: "DURAND".into(),
                used_family_name: None,
                given_names: "Marc".into(),
                birth_date: "1989-12-01".into(),
                sex: "M".into(),
                birth_place_code: Some("75056".into()),
                ins: Some("189127512345686".into()),
                ins_kind: Some("NIR".into()),
                identity_status: status.into(),
            },
            requested_at: at("2026-11-23T09:05:00Z").micros(),
            answered_at: at("2026-11-24T13:30:00Z").micros(),
            reason: "r".into(),
            question: "q".into(),
            clinical_context: String::new(),
            attachments: vec![],
            kind: "consultation".into(),
            context: String::new(),
            answer: "a".into(),
            recommendations: String::new(),
            follow_up: None,
            visit_needed: true,
            visit_urgency: Some("urgent".into()),
            correction_reason: None,
        }
    }

    #[test]
    fn identity_status_and_ins_are_shown_as_documents_require() {
        let r = Rendition {
            document_id: "abc",
            version: 1,
            previous_id: None,
            signed: None,
            at: at("2026-11-24T13:31:00Z"),
        };
        let q = to_pdf(&content("qualified"), &r);
        assert_eq!(q.patient.ins.as_deref(), Some("1891275123456 86 (NIR)"));
        assert!(q.patient.identity_status.starts_with("Identité qualifiée"));
        assert_eq!(
            q.watermark.as_deref(),
            Some(PREVIEW_WATERMARK),
            "unsigned: a preview"
        );
        assert_eq!(q.urgency, "Urgent");
        assert!(q.follow_up.unwrap_or_default().contains("en urgence"));
        let p = to_pdf(&content("provisional"), &r);
        assert!(p.patient.identity_status.starts_with("Identité provisoire"));
        let signed = to_pdf(
            &content("qualified"),
            &Rendition {
                signed: Some(("Dr Paul Bernard", at("2026-11-24T13:31:00Z"))),
                ..r
            },
        );
        assert!(signed.watermark.is_none());
        assert_eq!(
            signed.signature.map(|s| s.signed_at),
            Some("mardi 24 novembre 2026 à 14 h 31".to_string())
        );
        assert_eq!(
            signed.created.map(|c| (c.hour, c.minute)),
            Some((13, 31)),
            "UTC metadata"
        );
    }

    #[test]
    fn the_cda_carries_the_ins_only_for_a_qualified_identity() {
        let t = at("2026-11-24T13:31:00Z");
        let q = to_cda(&content("qualified"), "id", "set", 1, t, vec![]);
        assert_eq!(
            q.patient.ins_qualified,
            Some(("189127512345686".into(), "NIR"))
        );
        assert_eq!(q.expert.idnat, "810000000009");
        assert_eq!(q.requester.idnat, "r", "no RPPS or ADELI: the platform id");
        assert_eq!(q.patient.birth_date, "19891201");
        assert_eq!(q.effective_time, "20261124143100+0100");
        let p = to_cda(&content("provisional"), "id", "set", 1, t, vec![]);
        assert_eq!(p.patient.ins_qualified, None);
    }
}
