//! The case state machine and who may drive it. Pure: no I/O.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Draft,
    Submitted,
    Assigned,
    InProgress,
    AwaitingInfo,
    Answered,
    Closed,
    Declined,
    Cancelled,
    Expired,
}

impl CaseState {
    pub const ALL: [CaseState; 10] = [
        CaseState::Draft,
        CaseState::Submitted,
        CaseState::Assigned,
        CaseState::InProgress,
        CaseState::AwaitingInfo,
        CaseState::Answered,
        CaseState::Closed,
        CaseState::Declined,
        CaseState::Cancelled,
        CaseState::Expired,
    ];
    /// States in which the R9 clock runs and the case may become overdue.
    pub const OPEN: [CaseState; 4] = [
        CaseState::Submitted,
        CaseState::Assigned,
        CaseState::InProgress,
        CaseState::AwaitingInfo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Draft => "draft",
            CaseState::Submitted => "submitted",
            CaseState::Assigned => "assigned",
            CaseState::InProgress => "in_progress",
            CaseState::AwaitingInfo => "awaiting_info",
            CaseState::Answered => "answered",
            CaseState::Closed => "closed",
            CaseState::Declined => "declined",
            CaseState::Cancelled => "cancelled",
            CaseState::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            CaseState::Closed | CaseState::Declined | CaseState::Cancelled | CaseState::Expired
        )
    }
}

/// Every transition of the lifecycle. Parameters that change the target state are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// Requester submits; to a named expert the case is routed at once (assigned),
    /// to a team it waits in the team's pool (submitted).
    Submit {
        to_team: bool,
    },
    /// Case assigner gives a pool case (or reassigns) to a team member.
    Assign,
    /// Expert accepts: their assigned case, or claims one from their team's pool.
    Accept,
    /// Expert (or the team's assigner) declines with a coded reason (R8). Terminal.
    Decline,
    /// Forward to a named colleague.
    ForwardToExpert,
    /// Give back to a team's pool.
    ForwardToTeam,
    RequestInfo,
    /// Requester answers the expert's question; the case returns.
    ProvideInfo,
    /// Answer with advice (visit needed or not).
    Answer,
    /// Answer that a consultation is needed (routine or urgent).
    ConvertToConsultation,
    /// Requester withdraws before an answer.
    Cancel,
    /// Requester closes with an outcome (close-out survey).
    Close,
    /// The deadline passed without an answer (jobs, later issue).
    Expire,
}

impl Transition {
    pub const ALL: [Transition; 14] = [
        Transition::Submit { to_team: false },
        Transition::Submit { to_team: true },
        Transition::Assign,
        Transition::Accept,
        Transition::Decline,
        Transition::ForwardToExpert,
        Transition::ForwardToTeam,
        Transition::RequestInfo,
        Transition::ProvideInfo,
        Transition::Answer,
        Transition::ConvertToConsultation,
        Transition::Cancel,
        Transition::Close,
        Transition::Expire,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transition::Submit { .. } => "submit",
            Transition::Assign => "assign",
            Transition::Accept => "accept",
            Transition::Decline => "decline",
            Transition::ForwardToExpert | Transition::ForwardToTeam => "forward",
            Transition::RequestInfo => "request_info",
            Transition::ProvideInfo => "provide_info",
            Transition::Answer => "answer",
            Transition::ConvertToConsultation => "convert_to_consultation",
            Transition::Cancel => "cancel",
            Transition::Close => "close",
            Transition::Expire => "expire",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a case that is {}", from.as_str())]
pub struct Illegal {
    pub action: &'static str,
    pub from: CaseState,
}

/// The lifecycle table (domain.md §3).
pub fn next_state(from: CaseState, t: Transition) -> Result<CaseState, Illegal> {
    use CaseState as S;
    use Transition as T;
    let to = match (t, from) {
        (T::Submit { to_team: false }, S::Draft) => S::Assigned,
        (T::Submit { to_team: true }, S::Draft) => S::Submitted,
        (T::Assign, S::Submitted | S::Assigned) => S::Assigned,
        (T::Accept, S::Submitted | S::Assigned) => S::InProgress,
        (T::Decline, S::Submitted | S::Assigned | S::InProgress) => S::Declined,
        (T::ForwardToExpert, S::Submitted | S::Assigned | S::InProgress) => S::Assigned,
        (T::ForwardToTeam, S::Submitted | S::Assigned | S::InProgress) => S::Submitted,
        (T::RequestInfo, S::InProgress) => S::AwaitingInfo,
        (T::ProvideInfo, S::AwaitingInfo) => S::InProgress,
        (T::Answer | T::ConvertToConsultation, S::InProgress) => S::Answered,
        (T::Cancel, S::Draft | S::Submitted | S::Assigned | S::InProgress | S::AwaitingInfo) => {
            S::Cancelled
        }
        (T::Close, S::Answered) => S::Closed,
        (T::Expire, S::Submitted | S::Assigned | S::InProgress | S::AwaitingInfo) => S::Expired,
        _ => {
            return Err(Illegal {
                action: t.name(),
                from,
            });
        }
    };
    Ok(to)
}

/// How the caller relates to a case; computed from the case and the caller's teams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relation {
    /// Created the request.
    pub requester: bool,
    /// The expert the case is currently assigned to.
    pub assigned_expert: bool,
    /// Member of the team whose pool holds the case (state `submitted`, nobody assigned).
    pub pool_member: bool,
    /// Case assigner of the case's current team.
    pub assigner: bool,
}

impl Relation {
    /// Object-level visibility: everything else is "not found".
    pub fn may_view(&self) -> bool {
        self.requester || self.assigned_expert || self.pool_member || self.assigner
    }

    /// Whether the caller's role allows this transition (the state is checked separately).
    pub fn may(&self, t: Transition) -> bool {
        use Transition as T;
        match t {
            T::Submit { .. } | T::ProvideInfo | T::Cancel | T::Close => self.requester,
            T::Assign => self.assigner,
            T::Accept => self.assigned_expert || self.pool_member,
            T::Decline | T::ForwardToExpert | T::ForwardToTeam => {
                self.assigned_expert || self.assigner
            }
            T::RequestInfo | T::Answer | T::ConvertToConsultation => self.assigned_expert,
            T::Expire => false,
        }
    }

    /// Who may write in the case's message thread.
    pub fn may_message(&self) -> bool {
        self.requester || self.assigned_expert || self.assigner
    }

    /// Who may edit a draft and record consent.
    pub fn may_edit_draft(&self) -> bool {
        self.requester
    }
}

/// Computes the relation. `my_teams` lists (team id, is assigner) for the caller.
pub fn relation(
    caller_id: &str,
    requester_id: &str,
    assigned_expert_id: Option<&str>,
    team_id: Option<&str>,
    state: CaseState,
    my_teams: &[(String, bool)],
) -> Relation {
    let in_team = team_id.and_then(|t| my_teams.iter().find(|(id, _)| id == t));
    Relation {
        requester: caller_id == requester_id,
        assigned_expert: assigned_expert_id == Some(caller_id),
        pool_member: in_team.is_some()
            && state == CaseState::Submitted
            && assigned_expert_id.is_none(),
        assigner: in_team.is_some_and(|(_, a)| *a) && state != CaseState::Draft,
    }
}

/// Whether the caller sees the patient's identity on a case they may see. A team may hide
/// it in its pool: while the case waits there (`in_pool`: submitted, nobody assigned), its
/// team-mates and assigners see a preview; the requester always sees it, and so does the
/// expert it is assigned to (a claim or an assignment ends the pool wait). Outside the pool,
/// and in teams that do not hide it, whoever may see the case sees the identity.
pub fn identity_visible(
    requester: bool,
    assigned_expert: bool,
    in_pool: bool,
    team_hides_identity_in_pool: bool,
) -> bool {
    requester || assigned_expert || !(in_pool && team_hides_identity_in_pool)
}

/// The transitions the caller may attempt now: role and state both allow them.
pub fn allowed_actions(rel: &Relation, state: CaseState) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in Transition::ALL {
        if rel.may(t) && next_state(state, t).is_ok() && !out.contains(&t.name()) {
            out.push(t.name());
        }
    }
    out
}

/// R8 decline reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    InsufficientData,
    ImageQuality,
    OutOfScope,
    NeedsInPersonConsultation,
    UrgentRedirectEmergency,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Routine,
    Urgent,
}

/// The expert's structured opinion: the content of the future report (compte rendu).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Opinion {
    /// `advice`, `workup_before_visit` or `consultation`.
    pub kind: OpinionKind,
    pub context: String,
    pub answer: String,
    pub recommendations: String,
    #[serde(default)]
    pub follow_up: Option<String>,
    pub visit_needed: bool,
    #[serde(default)]
    pub visit_urgency: Option<Urgency>,
    /// The expert's rating of the request's completeness, 1–5.
    #[serde(default)]
    pub request_completeness: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpinionKind {
    /// Answer with advice, no visit needed.
    Advice,
    /// Answer and recommend a work-up before a visit.
    WorkupBeforeVisit,
    /// Convert to a consultation.
    Consultation,
}

/// Close-out survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeCode {
    VisitAvoided,
    VisitStillNeeded,
    TransferAvoided,
    DiagnosisChanged,
    NotUseful,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Outcome {
    pub outcome: OutcomeCode,
    /// 1–5.
    #[serde(default)]
    pub usefulness: Option<u8>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseState as S;
    use Transition as T;
    use proptest::prelude::*;

    /// The full legal table, written out independently of `next_state`.
    fn legal() -> Vec<(S, T, S)> {
        vec![
            (S::Draft, T::Submit { to_team: false }, S::Assigned),
            (S::Draft, T::Submit { to_team: true }, S::Submitted),
            (S::Submitted, T::Assign, S::Assigned),
            (S::Assigned, T::Assign, S::Assigned),
            (S::Submitted, T::Accept, S::InProgress),
            (S::Assigned, T::Accept, S::InProgress),
            (S::Submitted, T::Decline, S::Declined),
            (S::Assigned, T::Decline, S::Declined),
            (S::InProgress, T::Decline, S::Declined),
            (S::Submitted, T::ForwardToExpert, S::Assigned),
            (S::Assigned, T::ForwardToExpert, S::Assigned),
            (S::InProgress, T::ForwardToExpert, S::Assigned),
            (S::Submitted, T::ForwardToTeam, S::Submitted),
            (S::Assigned, T::ForwardToTeam, S::Submitted),
            (S::InProgress, T::ForwardToTeam, S::Submitted),
            (S::InProgress, T::RequestInfo, S::AwaitingInfo),
            (S::AwaitingInfo, T::ProvideInfo, S::InProgress),
            (S::InProgress, T::Answer, S::Answered),
            (S::InProgress, T::ConvertToConsultation, S::Answered),
            (S::Draft, T::Cancel, S::Cancelled),
            (S::Submitted, T::Cancel, S::Cancelled),
            (S::Assigned, T::Cancel, S::Cancelled),
            (S::InProgress, T::Cancel, S::Cancelled),
            (S::AwaitingInfo, T::Cancel, S::Cancelled),
            (S::Answered, T::Close, S::Closed),
            (S::Submitted, T::Expire, S::Expired),
            (S::Assigned, T::Expire, S::Expired),
            (S::InProgress, T::Expire, S::Expired),
            (S::AwaitingInfo, T::Expire, S::Expired),
        ]
    }

    #[test]
    fn every_state_transition_pair_matches_the_table() {
        let table = legal();
        let mut checked = 0;
        for from in S::ALL {
            for t in T::ALL {
                let expected = table
                    .iter()
                    .find(|(f, tt, _)| *f == from && *tt == t)
                    .map(|x| x.2);
                match (next_state(from, t), expected) {
                    (Ok(to), Some(e)) => assert_eq!(to, e, "{from:?} --{t:?}-->"),
                    (Err(err), None) => {
                        assert_eq!(err.from, from);
                        assert!(err.to_string().contains(from.as_str()));
                    }
                    (got, exp) => panic!("{from:?} --{t:?}--> got {got:?}, expected {exp:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 10 * 14);
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for t in T::ALL {
                assert!(next_state(from, t).is_err(), "{from:?} --{t:?}");
            }
        }
    }

    #[test]
    fn state_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).expect("serialisable");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(S::parse("nonsense"), None);
    }

    #[test]
    fn roles() {
        let teams = vec![("team1".to_string(), false)];
        let assigner = vec![("team1".to_string(), true)];
        // Requester sees their own case; a stranger sees nothing.
        let r = relation("req", "req", None, None, S::Draft, &[]);
        assert!(r.may_view() && r.may(T::Submit { to_team: false }) && !r.may(T::Accept));
        let r = relation("x", "req", Some("exp"), None, S::Assigned, &[]);
        assert!(!r.may_view());
        // Pool member sees a pool case only while it is in the pool.
        let r = relation("m", "req", None, Some("team1"), S::Submitted, &teams);
        assert!(r.may_view() && r.may(T::Accept) && !r.may(T::Answer) && !r.may(T::Assign));
        let r = relation(
            "m",
            "req",
            Some("other"),
            Some("team1"),
            S::Assigned,
            &teams,
        );
        assert!(
            !r.may_view(),
            "a team-mate loses sight once someone else has the case"
        );
        // The assigner sees all of the team's cases and may assign, decline, forward.
        let r = relation(
            "a",
            "req",
            Some("other"),
            Some("team1"),
            S::InProgress,
            &assigner,
        );
        assert!(r.may_view() && r.may(T::Assign) && r.may(T::Decline) && !r.may(T::Answer));
        // The assigned expert answers; the requester closes.
        let r = relation("exp", "req", Some("exp"), None, S::InProgress, &[]);
        assert_eq!(
            allowed_actions(&r, S::InProgress),
            vec![
                "decline",
                "forward",
                "request_info",
                "answer",
                "convert_to_consultation"
            ]
        );
        let r = relation("req", "req", Some("exp"), None, S::Answered, &[]);
        assert_eq!(allowed_actions(&r, S::Answered), vec!["close"]);
        // Nobody may expire a case by hand.
        let all = Relation {
            requester: true,
            assigned_expert: true,
            pool_member: true,
            assigner: true,
        };
        assert!(!all.may(T::Expire));
    }

    #[test]
    fn a_pool_that_hides_identities_shows_a_preview_until_claimed() {
        // Team-mates and assigners of a hiding team see no identity while the case waits.
        assert!(!identity_visible(false, false, true, true));
        // The requester always does; the assigned expert too (never in the pool anyway).
        assert!(identity_visible(true, false, true, true));
        assert!(identity_visible(false, true, false, true));
        // Out of the pool (assigned, in progress, answered…), or a team that shows it.
        assert!(identity_visible(false, false, false, true));
        assert!(identity_visible(false, false, true, false));
    }

    fn any_state() -> impl Strategy<Value = S> {
        proptest::sample::select(S::ALL.to_vec())
    }
    fn any_transition() -> impl Strategy<Value = T> {
        proptest::sample::select(T::ALL.to_vec())
    }

    proptest! {
        /// Random walks from a draft never reach a state outside the table and never leave
        /// a terminal state; the time-line only moves forward through legal edges.
        #[test]
        fn random_walks_stay_legal(steps in proptest::collection::vec(any_transition(), 0..40)) {
            let table = legal();
            let mut s = S::Draft;
            for t in steps {
                match next_state(s, t) {
                    Ok(to) => {
                        prop_assert!(table.contains(&(s, t, to)));
                        prop_assert!(!s.is_terminal());
                        s = to;
                    }
                    Err(e) => prop_assert_eq!(e.from, s),
                }
            }
        }

        #[test]
        fn allowed_actions_are_all_legal(s in any_state(), bits in 0u8..16) {
            let rel = Relation {
                requester: bits & 1 != 0,
                assigned_expert: bits & 2 != 0,
                pool_member: bits & 4 != 0,
                assigner: bits & 8 != 0,
            };
            for name in allowed_actions(&rel, s) {
                prop_assert!(T::ALL.iter().any(|t| t.name() == name && rel.may(*t) && next_state(s, *t).is_ok()));
            }
        }
    }
}
