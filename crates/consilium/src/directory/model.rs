//! Directory types and their validation. Pure.

use crate::codes;
use crate::identifiers::{Adeli, Finess, Rpps, Siret};
use crate::kernel::error::Violations;
use crate::kernel::{FieldError, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    Cabinet,
    Msp,
    CentreSante,
    HospitalService,
    Cpts,
}

impl OrganisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::Cabinet => "cabinet",
            OrganisationKind::Msp => "msp",
            OrganisationKind::CentreSante => "centre_sante",
            OrganisationKind::HospitalService => "hospital_service",
            OrganisationKind::Cpts => "cpts",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Cabinet,
            Self::Msp,
            Self::CentreSante,
            Self::HospitalService,
            Self::Cpts,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewOrganisation {
    pub name: String,
    pub kind: OrganisationKind,
    #[serde(default)]
    pub finess: Option<String>,
    #[serde(default)]
    pub siret: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postcode: Option<String>,
}

impl NewOrganisation {
    /// Validates and normalises identifiers.
    pub fn validate(mut self) -> Result<Self> {
        let mut v = Violations::default();
        if self.name.trim().is_empty() {
            v.push("name", "is required");
        }
        if let Some(f) = self.finess.as_deref().filter(|s| !s.trim().is_empty()) {
            self.finess = v.check("finess", Finess::parse(f)).map(|f| f.to_string());
        } else {
            self.finess = None;
        }
        if let Some(s) = self.siret.as_deref().filter(|s| !s.trim().is_empty()) {
            self.siret = v.check("siret", Siret::parse(s)).map(|s| s.to_string());
        } else {
            self.siret = None;
        }
        if let Some(p) = self.postcode.as_deref()
            && !(p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()))
        {
            v.push("postcode", "must be 5 digits");
        }
        v.into_result()?;
        Ok(self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub finess: Option<String>,
    pub siret: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewProfessional {
    #[serde(default)]
    pub rpps: Option<String>,
    #[serde(default)]
    pub adeli: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// TRE_G15 code, e.g. `10` (Médecin), `60` (Infirmier).
    pub profession: String,
    /// TRE_R38 codes, e.g. `SM15` (dermatology).
    #[serde(default)]
    pub specialties: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// A professional input whose identifiers and codes are known valid.
#[derive(Debug, Clone)]
pub struct ValidProfessional {
    pub rpps: Option<Rpps>,
    pub adeli: Option<Adeli>,
    pub first_name: String,
    pub last_name: String,
    pub profession: String,
    pub specialties: Vec<String>,
    pub email: Option<String>,
}

impl NewProfessional {
    pub fn validate(self) -> std::result::Result<ValidProfessional, Vec<FieldError>> {
        let mut v = Violations::default();
        let rpps = self
            .rpps
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| v.check("rpps", Rpps::parse(s)));
        let adeli = self
            .adeli
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| v.check("adeli", Adeli::parse(s)));
        if self.rpps.as_deref().is_none_or(|s| s.trim().is_empty())
            && self.adeli.as_deref().is_none_or(|s| s.trim().is_empty())
        {
            v.push("rpps", "an RPPS or an ADELI number is required");
        }
        if self.first_name.trim().is_empty() {
            v.push("first_name", "is required");
        }
        if self.last_name.trim().is_empty() {
            v.push("last_name", "is required");
        }
        if codes::profession(&self.profession).is_none() {
            v.push("profession", "unknown TRE_G15 profession code");
        }
        for (i, s) in self.specialties.iter().enumerate() {
            if codes::specialty(s).is_none() {
                v.push(
                    format!("specialties[{i}]"),
                    "unknown TRE_R38 specialty code",
                );
            }
        }
        if let Some(e) = self.email.as_deref()
            && !(e.contains('@') && e.len() <= 254)
        {
            v.push("email", "is not an email address");
        }
        if !v.0.is_empty() {
            return Err(v.0);
        }
        Ok(ValidProfessional {
            rpps,
            adeli,
            first_name: self.first_name.trim().to_string(),
            last_name: self.last_name.trim().to_string(),
            profession: self.profession,
            specialties: self.specialties,
            email: self.email,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Professional {
    pub id: String,
    pub rpps: Option<String>,
    pub adeli: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub profession: String,
    pub profession_label: String,
    pub specialties: Vec<String>,
    /// R4: doctors and midwives may answer.
    pub may_be_expert: bool,
    pub active: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamPolicy {
    SelfService,
    AutoAssign,
    Moderated,
    Hybrid,
}

impl TeamPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamPolicy::SelfService => "self_service",
            TeamPolicy::AutoAssign => "auto_assign",
            TeamPolicy::Moderated => "moderated",
            TeamPolicy::Hybrid => "hybrid",
        }
    }
}

/// How an auto-assigning team (or a hybrid team, after its pool wait) orders its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignStrategy {
    /// In turn, starting after the member who got the previous request.
    #[default]
    RoundRobin,
    /// Fewest open cases first.
    LeastLoaded,
}

impl AssignStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignStrategy::RoundRobin => "round_robin",
            AssignStrategy::LeastLoaded => "least_loaded",
        }
    }
}

/// A team's routing settings (defaults: round robin, 24 h to accept, 24 h in a hybrid pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TeamRouting {
    #[serde(default)]
    pub assign_strategy: AssignStrategy,
    /// Hours an offered expert has to accept before the next member is offered the case.
    #[serde(default = "day")]
    pub accept_hours: i64,
    /// Hybrid teams: hours a case waits in the pool before the platform assigns it.
    #[serde(default = "day")]
    pub hybrid_hours: i64,
}

fn day() -> i64 {
    24
}

impl Default for TeamRouting {
    fn default() -> Self {
        TeamRouting {
            assign_strategy: AssignStrategy::RoundRobin,
            accept_hours: 24,
            hybrid_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewTeamMember {
    pub professional_id: String,
    #[serde(default)]
    pub is_assigner: bool,
}

/// A team to create in an organisation (the organisation comes from the URL).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TeamInput {
    pub name: String,
    /// TRE_R38 code.
    pub specialty: String,
    #[serde(default = "self_service")]
    pub policy: TeamPolicy,
    /// Used by `auto_assign` and `hybrid` teams.
    #[serde(default)]
    pub routing: TeamRouting,
    pub members: Vec<NewTeamMember>,
}

fn self_service() -> TeamPolicy {
    TeamPolicy::SelfService
}

impl TeamInput {
    pub fn in_organisation(self, organisation_id: &str) -> NewTeam {
        NewTeam {
            organisation_id: organisation_id.to_string(),
            name: self.name,
            specialty: self.specialty,
            policy: self.policy,
            routing: self.routing,
            members: self.members,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Member,
    /// Manages the organisation's members and teams.
    Admin,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Member => "member",
            MemberRole::Admin => "admin",
        }
    }
}

/// A professional to add to an organisation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddMember {
    pub professional: NewProfessional,
    #[serde(default = "member")]
    pub role: MemberRole,
}

fn member() -> MemberRole {
    MemberRole::Member
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewTeam {
    pub organisation_id: String,
    pub name: String,
    /// TRE_R38 code.
    pub specialty: String,
    pub policy: TeamPolicy,
    pub routing: TeamRouting,
    pub members: Vec<NewTeamMember>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamMember {
    pub professional_id: String,
    pub display_name: String,
    pub is_assigner: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: String,
    pub organisation_id: String,
    pub name: String,
    pub specialty: String,
    pub specialty_label: String,
    pub policy: String,
    pub routing: TeamRouting,
    /// Team-mates and assigners who see a request waiting in the team's pool get a preview
    /// without the patient's identity (names, birth date and place, INS); whoever claims it
    /// or is assigned it sees the identity. Set with the team's policy; default `false`.
    #[serde(default)]
    pub hide_identity_in_pool: bool,
    pub members: Vec<TeamMember>,
}

/// "Dr" for doctors, nothing for others, as French practice software displays names.
pub fn display_name(profession: &str, first: &str, last: &str) -> String {
    match profession {
        "10" => format!("Dr {first} {last}"),
        _ => format!("{first} {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewProfessional {
        NewProfessional {
            rpps: Some("10000000009".into()),
            adeli: None,
            first_name: "Claire".into(),
            last_name: "Durand".into(),
            profession: "10".into(),
            specialties: vec!["SM26".into()],
            email: None,
        }
    }

    #[test]
    fn valid_professional() {
        assert!(input().validate().is_ok());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut p = input();
        p.rpps = Some("10000000008".into());
        p.profession = "77".into();
        p.specialties = vec!["XX".into()];
        p.first_name = " ".into();
        let errs = p.validate().expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["rpps", "first_name", "profession", "specialties[0]"]
        );
        assert!(errs[0].message.contains("check digit"));
    }

    #[test]
    fn an_identifier_is_required() {
        let mut p = input();
        p.rpps = None;
        let errs = p.validate().expect_err("invalid");
        assert_eq!(errs[0].field, "rpps");
    }
}
