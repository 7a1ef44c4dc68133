//! What a notification says (French, no patient data) and when digests go out.

use crate::kernel::Timestamp;
use crate::kernel::time::MICROS_PER_DAY;
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The assignee (or the pool) is reminded that a request waits (R9, D+3 / D+5).
    Reminder,
    /// The case assigner (or administrator) is told a request nears its deadline unanswered.
    Escalated,
    /// The requester is told their request expired unanswered (R9): look elsewhere.
    Expired,
    /// The platform offers a request to an expert of an auto-assigning team: accept in time.
    Offered,
    /// A moderated team's assigners (or any team's, when no member took it) must assign.
    ToAssign,
    /// The requester is told no expert of the team can take the request: look elsewhere.
    NoOneAvailable,
    /// The requester is told the expert signed the report (R10).
    ReportSigned,
    /// An expert is sent a request by name, assigned one by the case assigner, or forwarded
    /// one by a colleague: accept it (or decline, or forward it).
    Assigned,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Reminder => "reminder",
            Kind::Escalated => "escalated",
            Kind::Expired => "expired",
            Kind::Offered => "offered",
            Kind::ToAssign => "to_assign",
            Kind::NoOneAvailable => "no_one_available",
            Kind::ReportSigned => "report_signed",
            Kind::Assigned => "assigned",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reminder" => Kind::Reminder,
            "escalated" => Kind::Escalated,
            "expired" => Kind::Expired,
            "offered" => Kind::Offered,
            "to_assign" => Kind::ToAssign,
            "no_one_available" => Kind::NoOneAvailable,
            "report_signed" => Kind::ReportSigned,
            "assigned" => Kind::Assigned,
            _ => return None,
        })
    }

    /// One line in French, naming the case by its number only.
    pub fn sentence(self, case_number: &str) -> String {
        match self {
            Kind::Reminder => format!("La demande {case_number} attend votre réponse."),
            Kind::Escalated => format!(
                "La demande {case_number} n'a pas de réponse et arrive à son délai de 7 jours : merci de la réattribuer."
            ),
            Kind::Expired => format!(
                "La demande {case_number} a expiré sans réponse dans le délai de 7 jours : adressez-la à un autre expert."
            ),
            Kind::Offered => format!(
                "La demande {case_number} vous est attribuée par votre équipe : acceptez-la ou rendez-la à l'équipe."
            ),
            Kind::ToAssign => {
                format!("La demande {case_number} attend d'être attribuée à un membre de l'équipe.")
            }
            Kind::NoOneAvailable => format!(
                "Aucun expert de l'équipe ne peut prendre la demande {case_number} : adressez-la à un autre expert ou une autre équipe."
            ),
            Kind::ReportSigned => {
                format!("Le compte rendu de la demande {case_number} est signé et disponible.")
            }
            Kind::Assigned => format!(
                "La demande {case_number} vous est adressée : acceptez-la, déclinez-la ou transférez-la."
            ),
        }
    }

    pub fn subject(self, case_number: &str) -> String {
        match self {
            Kind::Reminder => format!("Consilium : rappel, demande {case_number}"),
            Kind::Escalated => format!("Consilium : demande {case_number} sans réponse"),
            Kind::Expired => format!("Consilium : demande {case_number} expirée"),
            Kind::Offered => format!("Consilium : demande {case_number} attribuée"),
            Kind::ToAssign => format!("Consilium : demande {case_number} à attribuer"),
            Kind::NoOneAvailable => format!("Consilium : demande {case_number} sans expert"),
            Kind::ReportSigned => {
                format!("Consilium : compte rendu disponible, demande {case_number}")
            }
            Kind::Assigned => format!("Consilium : nouvelle demande {case_number}"),
        }
    }
}

/// How a user gets notifications by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmailMode {
    /// One email per notification, as it happens.
    #[default]
    Immediate,
    /// One email a day listing the day's notifications (at [`DIGEST_HOUR_UTC`]).
    Digest,
    /// In-app only.
    Off,
}

impl EmailMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailMode::Immediate => "immediate",
            EmailMode::Digest => "digest",
            EmailMode::Off => "off",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "immediate" => EmailMode::Immediate,
            "digest" => EmailMode::Digest,
            "off" => EmailMode::Off,
            _ => return None,
        })
    }
}

/// Digests go out daily at this hour, UTC (07:00 or 08:00 in Paris).
pub const DIGEST_HOUR_UTC: i64 = 6;

/// The next digest instant strictly after `now`.
pub fn next_digest(now: Timestamp) -> Timestamp {
    let hour = DIGEST_HOUR_UTC * MICROS_PER_DAY / 24;
    let day_start = now.micros().div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let today = day_start + hour;
    Timestamp(if today > now.micros() {
        today
    } else {
        today + MICROS_PER_DAY
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sentences_name_the_case_only() {
        for k in [
            Kind::Reminder,
            Kind::Escalated,
            Kind::Expired,
            Kind::Offered,
            Kind::ToAssign,
            Kind::NoOneAvailable,
            Kind::ReportSigned,
            Kind::Assigned,
        ] {
            assert!(k.sentence("CAS-2026-000042").contains("CAS-2026-000042"));
            assert!(k.subject("CAS-2026-000042").contains("CAS-2026-000042"));
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    proptest! {
        #[test]
        fn the_next_digest_is_within_a_day_at_the_hour(now in 0i64..1i64 << 52) {
            let d = next_digest(Timestamp(now)).micros();
            prop_assert!(d > now && d <= now + MICROS_PER_DAY);
            prop_assert_eq!(d.rem_euclid(MICROS_PER_DAY), DIGEST_HOUR_UTC * MICROS_PER_DAY / 24);
        }
    }
}
