//! Patient identity and its validation. Pure.

use crate::identifiers::Ins;
use crate::kernel::error::Violations;
use crate::kernel::{Result, Timestamp};
use serde::{Deserialize, Serialize};
use time::{Date, macros::format_description};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    /// Not verified: documents say so.
    Provisional,
    /// Verified against an identity document and the INS service.
    Qualified,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Provisional => "provisional",
            IdentityStatus::Qualified => "qualified",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum InsKind {
    /// NIR (registration number).
    #[serde(rename = "NIR")]
    Nir,
    /// NIA (waiting number).
    #[serde(rename = "NIA")]
    Nia,
}

impl InsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InsKind::Nir => "NIR",
            InsKind::Nia => "NIA",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Sex {
    F,
    M,
    /// Unknown / undetermined.
    U,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::F => "F",
            Sex::M => "M",
            Sex::U => "U",
        }
    }
}

/// Patient identity as entered by a professional.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientInput {
    /// Nom de naissance.
    pub birth_family_name: String,
    /// Nom d'usage, when different.
    #[serde(default)]
    pub used_family_name: Option<String>,
    /// Prénoms (all of them, space separated, as on the identity document).
    pub given_names: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    /// INSEE code of the birth place (5 characters; `99xxx` abroad).
    #[serde(default)]
    pub birth_place_code: Option<String>,
    /// INS: 13 characters and a 2-digit key, spaces allowed.
    #[serde(default)]
    pub ins: Option<String>,
    #[serde(default)]
    pub ins_kind: Option<InsKind>,
    #[serde(default = "provisional")]
    pub identity_status: IdentityStatus,
    /// The patient's médecin traitant, from the directory.
    #[serde(default)]
    pub medecin_traitant_id: Option<String>,
}

fn provisional() -> IdentityStatus {
    IdentityStatus::Provisional
}

/// A patient input that passed validation; the INS is normalised.
#[derive(Debug, Clone)]
pub struct ValidPatient {
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    pub given_names: String,
    pub birth_date: String,
    pub sex: Sex,
    pub birth_place_code: Option<String>,
    pub ins: Option<Ins>,
    pub ins_kind: Option<InsKind>,
    pub identity_status: IdentityStatus,
    pub medecin_traitant_id: Option<String>,
}

fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl PatientInput {
    /// Checks every field and reports all problems at once, each with its field name.
    pub fn validate(&self, today: Timestamp) -> Result<ValidPatient> {
        let mut v = Violations::default();
        let name_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 100;
        if !name_ok(&self.birth_family_name) {
            v.push("birth_family_name", "is required (at most 100 characters)");
        }
        if !name_ok(&self.given_names) {
            v.push("given_names", "is required (at most 100 characters)");
        }
        let fmt = format_description!("[year]-[month]-[day]");
        match Date::parse(self.birth_date.trim(), &fmt) {
            Err(_) => v.push("birth_date", "must be a date written YYYY-MM-DD"),
            Ok(d) => {
                if d > today.to_offset().date() {
                    v.push("birth_date", "is in the future");
                } else if d.year() < 1890 {
                    v.push("birth_date", "is before 1890");
                }
            }
        }
        let place = clean(&self.birth_place_code);
        if let Some(p) = &place {
            let b = p.as_bytes();
            let ok = b.len() == 5
                && (b.iter().all(u8::is_ascii_digit)
                    || (p.starts_with("2A") || p.starts_with("2B"))
                        && b[2..].iter().all(u8::is_ascii_digit));
            if !ok {
                v.push("birth_place_code", "must be a 5-character INSEE code");
            }
        }
        let ins = clean(&self.ins).and_then(|s| v.check("ins", Ins::parse(&s)));
        if self.identity_status == IdentityStatus::Qualified && clean(&self.ins).is_none() {
            v.push(
                "identity_status",
                "a qualified identity needs its INS; keep it provisional until verified",
            );
        }
        if let Some(i) = &ins {
            let sex_digit = i.as_str().as_bytes()[0];
            let consistent = match self.sex {
                Sex::M => matches!(sex_digit, b'1' | b'3' | b'7'),
                Sex::F => matches!(sex_digit, b'2' | b'4' | b'8'),
                Sex::U => true,
            };
            if !consistent {
                v.push("ins", "the first digit of the INS does not match the sex");
            }
        }
        v.into_result()?;
        Ok(ValidPatient {
            birth_family_name: self.birth_family_name.trim().to_uppercase(),
            used_family_name: clean(&self.used_family_name).map(|s| s.to_uppercase()),
            given_names: self.given_names.trim().to_string(),
            birth_date: self.birth_date.trim().to_string(),
            sex: self.sex,
            birth_place_code: place,
            ins_kind: ins.as_ref().map(|_| self.ins_kind.unwrap_or(InsKind::Nir)),
            ins,
            identity_status: self.identity_status,
            medecin_traitant_id: clean(&self.medecin_traitant_id),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Patient {
    pub id: String,
    pub birth_family_name: String,
    pub used_family_name: Option<String>,
    pub given_names: String,
    pub birth_date: String,
    pub sex: String,
    pub birth_place_code: Option<String>,
    pub ins: Option<String>,
    pub ins_kind: Option<String>,
    pub identity_status: String,
    pub medecin_traitant_id: Option<String>,
    pub medecin_traitant_name: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What someone who may not see the patient's identity sees of the patient: a team-mate or
/// assigner looking at a request that waits in the pool of a team that hides identities
/// there. No names, birth date or place, INS, médecin traitant: sex and age only, which the
/// clinical question usually needs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PatientPreview {
    pub id: String,
    pub sex: String,
    /// Age in whole years today (Europe/Paris), when the birth date is readable.
    pub age_years: Option<i32>,
    /// Always `true`: the identity is hidden until the request is claimed.
    pub identity_hidden: bool,
}

/// The patient as the caller may see them: the full identity, or a preview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PatientView {
    Identified(Box<Patient>),
    Preview(PatientPreview),
}

impl Patient {
    /// The preview of this patient (no identity).
    pub fn preview(&self, now: Timestamp) -> PatientPreview {
        let fmt = format_description!("[year]-[month]-[day]");
        let today = crate::billing::model::paris_date(now);
        let age_years = Date::parse(self.birth_date.trim(), &fmt).ok().map(|b| {
            let mut age = today.year() - b.year();
            if (today.month() as u8, today.day()) < (b.month() as u8, b.day()) {
                age -= 1;
            }
            age.max(0)
        });
        PatientPreview {
            id: self.id.clone(),
            sex: self.sex.clone(),
            age_years,
            identity_hidden: true,
        }
    }

    /// The full identity when `identified`, else the preview.
    pub fn view(self, identified: bool, now: Timestamp) -> PatientView {
        if identified {
            PatientView::Identified(Box::new(self))
        } else {
            PatientView::Preview(self.preview(now))
        }
    }
}

impl PatientView {
    pub fn id(&self) -> &str {
        match self {
            PatientView::Identified(p) => &p.id,
            PatientView::Preview(p) => &p.id,
        }
    }

    /// The full identity, when the caller may see it.
    pub fn identified(&self) -> Option<&Patient> {
        match self {
            PatientView::Identified(p) => Some(p.as_ref()),
            PatientView::Preview(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PatientInput {
        PatientInput {
            birth_family_name: "Lefèvre".into(),
            used_family_name: None,
            given_names: "Jeanne Marie".into(),
            birth_date: "1985-05-14".into(),
            sex: Sex::F,
            birth_place_code: Some("75056".into()),
            ins: Some("2 85 05 99 123 007 18".into()),
            ins_kind: None,
            identity_status: IdentityStatus::Qualified,
            medecin_traitant_id: None,
        }
    }

    fn today() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").expect("valid")
    }

    #[test]
    fn valid_patient_is_normalised() {
        let p = input().validate(today()).expect("valid");
        assert_eq!(p.birth_family_name, "LEFÈVRE");
        assert_eq!(
            p.ins.map(|i| i.to_string()).as_deref(),
            Some("285059912300718")
        );
        assert_eq!(p.ins_kind, Some(InsKind::Nir));
    }

    #[test]
    fn bad_ins_key_names_the_field() {
        let mut p = input();
        p.ins = Some("285059912300719".into());
        match p.validate(today()) {
            Err(crate::kernel::Error::Invalid(errs)) => {
                assert_eq!(errs[0].field, "ins");
                assert!(errs[0].message.contains("check digit"));
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn qualified_needs_ins_and_dates_are_checked() {
        let mut p = input();
        p.ins = None;
        p.birth_date = "2030-01-01".into();
        match p.validate(today()) {
            Err(crate::kernel::Error::Invalid(errs)) => {
                let f: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(f, vec!["birth_date", "identity_status"]);
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn ins_sex_digit_must_match() {
        let mut p = input();
        p.sex = Sex::M;
        assert!(p.validate(today()).is_err());
    }

    #[test]
    fn corsican_ins_accepted() {
        let mut p = input();
        p.sex = Sex::M;
        p.ins = Some("189122A12345646".into());
        p.birth_date = "1989-12-01".into();
        assert!(p.validate(today()).is_ok());
    }
}
