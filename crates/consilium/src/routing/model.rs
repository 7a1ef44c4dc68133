//! Pure rules of deadlines: which timers a submission sets, who an escalation reaches.

use crate::kernel::Timestamp;
use crate::kernel::time::{MICROS_PER_DAY, MICROS_PER_SECOND};
use serde::{Deserialize, Serialize};

/// When reminders and the escalation happen, relative to submission and to the R9 deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    /// Days after submission at which the assignee is reminded (default D+3 and D+5).
    pub reminder_days: Vec<i64>,
    /// Hours before the deadline at which the case assigner is told (default 24: D+6).
    pub escalation_hours_before_deadline: i64,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        Self {
            reminder_days: vec![3, 5],
            escalation_hours_before_deadline: 24,
        }
    }
}

/// A timer set at submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "timer", rename_all = "snake_case")]
pub enum Timer {
    /// Remind whoever holds the case (D+n).
    Reminder { day: i64 },
    /// Tell the case assigner (or administrator) before the deadline.
    Escalate,
    /// The deadline: the case expires and its requester is told.
    Expire,
}

impl Timer {
    /// Names the timer in dedupe keys: one of each per case.
    pub fn key(self) -> String {
        match self {
            Timer::Reminder { day } => format!("reminder-d{day}"),
            Timer::Escalate => "escalate".into(),
            Timer::Expire => "expire".into(),
        }
    }
}

/// The timers of a case submitted at `submitted_at` with deadline `deadline`, in time
/// order. Reminders at or after the escalation instant are dropped (the escalation
/// supersedes them), as is an escalation not before the deadline.
pub fn timers(
    policy: &DeadlinePolicy,
    submitted_at: Timestamp,
    deadline: Timestamp,
) -> Vec<(Timer, Timestamp)> {
    let escalate_at = Timestamp(
        deadline.micros()
            - policy.escalation_hours_before_deadline.max(0) * 3600 * MICROS_PER_SECOND,
    );
    let mut out: Vec<(Timer, Timestamp)> = Vec::new();
    let mut days: Vec<i64> = policy
        .reminder_days
        .iter()
        .copied()
        .filter(|d| *d > 0)
        .collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        let at = Timestamp(submitted_at.micros() + day * MICROS_PER_DAY);
        if at < escalate_at && at < deadline {
            out.push((Timer::Reminder { day }, at));
        }
    }
    if escalate_at > submitted_at && escalate_at < deadline {
        out.push((Timer::Escalate, escalate_at));
    }
    out.push((Timer::Expire, deadline));
    out
}

/// Who an escalation reaches: the team's case assigners; else the assigners of the
/// assignee's teams; else the administrators of the organisations concerned; else nobody in
/// charge, and the requester is told (a request never waits in silence).
pub fn escalation_recipients(
    team_assigners: &[String],
    assignee_team_assigners: &[String],
    admins: &[String],
    requester: &str,
) -> Vec<String> {
    let pick = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    for level in [team_assigners, assignee_team_assigners, admins] {
        if !level.is_empty() {
            return pick(level);
        }
    }
    vec![requester.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_424_400_000_000;

    #[test]
    fn default_week() {
        let s = Timestamp(T);
        let t = timers(&DeadlinePolicy::default(), s, s.plus_days(7));
        assert_eq!(
            t,
            vec![
                (Timer::Reminder { day: 3 }, s.plus_days(3)),
                (Timer::Reminder { day: 5 }, s.plus_days(5)),
                (Timer::Escalate, s.plus_days(6)),
                (Timer::Expire, s.plus_days(7)),
            ]
        );
    }

    #[test]
    fn escalation_goes_to_the_first_level_that_has_someone() {
        let a = vec!["a".to_string()];
        let b = vec!["b".to_string(), "b".to_string()];
        assert_eq!(escalation_recipients(&a, &b, &[], "r"), vec!["a"]);
        assert_eq!(escalation_recipients(&[], &b, &[], "r"), vec!["b"]);
        assert_eq!(escalation_recipients(&[], &[], &a, "r"), vec!["a"]);
        assert_eq!(escalation_recipients(&[], &[], &[], "r"), vec!["r"]);
    }

    proptest! {
        #[test]
        fn timers_are_ordered_unique_and_end_with_the_deadline(
            days in proptest::collection::vec(-2i64..12, 0..6),
            hours in 0i64..200,
            delay in 1i64..15,
        ) {
            let s = Timestamp(T);
            let d = s.plus_days(delay);
            let policy = DeadlinePolicy { reminder_days: days, escalation_hours_before_deadline: hours };
            let t = timers(&policy, s, d);
            prop_assert_eq!(t.last().copied(), Some((Timer::Expire, d)));
            for w in t.windows(2) {
                prop_assert!(w[0].1 < w[1].1);
            }
            let mut keys: Vec<String> = t.iter().map(|x| x.0.key()).collect();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), t.len());
            prop_assert!(t.iter().all(|x| x.1 > s));
        }

        #[test]
        fn an_escalation_always_reaches_someone(
            a in proptest::collection::vec("[a-c]", 0..3),
            b in proptest::collection::vec("[d-f]", 0..3),
            c in proptest::collection::vec("[g-i]", 0..3),
        ) {
            let r = escalation_recipients(&a, &b, &c, "req");
            prop_assert!(!r.is_empty());
        }
    }
}

// ---------------------------------------------------------------- routing (pure)
//
// Who a request may go to and in which order (domain.md §4). `assign.rs` calls them with
// the candidates and facts `rules.rs` reads from the database; `rules::check_submission`
// calls `evaluate` for a named expert.

/// What a request offers to the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRequest {
    /// TRE_G15 profession of the requester.
    pub requester_profession: String,
    /// Postcode of the requester's practice (5 digits).
    pub postcode: String,
    /// INSEE region code of that practice, when known.
    pub region: Option<String>,
    pub at: Timestamp,
}

impl RoutingRequest {
    /// The département of the postcode (Corsica: 2A below 20200, 2B from it; overseas: 3 digits).
    pub fn departement(&self) -> String {
        let p = &self.postcode;
        match (p.get(..2), p.get(..3)) {
            (Some("20"), _) => {
                if p.as_str() < "20200" {
                    "2A".into()
                } else {
                    "2B".into()
                }
            }
            (Some("97"), Some(d)) | (Some("98"), Some(d)) => d.into(),
            (Some(d), _) => d.into(),
            _ => String::new(),
        }
    }
}

/// Acceptance rules of an expert or a team; an empty list accepts anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AcceptanceRules {
    /// Requester professions accepted (TRE_G15 codes, e.g. `60` nurses); empty: all.
    pub professions: Vec<String>,
    /// Territories accepted, where the requester practises: any of these départements
    /// (`87`, `2A`, `974`), INSEE regions (`75`: Nouvelle-Aquitaine) or postcodes
    /// (all three empty: anywhere).
    pub departements: Vec<String>,
    pub regions: Vec<String>,
    pub postcodes: Vec<String>,
    /// At most this many open cases at once (none: no limit).
    pub max_open: Option<u32>,
}

/// A span of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Span {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub open_cases: u32,
    pub rules: AcceptanceRules,
    /// Absences, each with an optional delegate who answers instead.
    pub absences: Vec<(Span, Option<String>)>,
    /// On-call slots; `None`: no rota (available whenever not absent).
    pub rota: Option<Vec<Span>>,
    /// Only takes the place of an absent candidate who named them as delegate (a delegate
    /// from outside the team); never offered the request in their own right.
    pub stand_in: bool,
}

/// Why a candidate does not get a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    Profession,
    Territory,
    Full,
    Absent { delegate: Option<String> },
    OffRota,
}

/// Whether rules accept a request (ignoring load, absences and rota).
pub fn rules_accept(rules: &AcceptanceRules, r: &RoutingRequest) -> Result<(), Exclusion> {
    if !rules.professions.is_empty() && !rules.professions.contains(&r.requester_profession) {
        return Err(Exclusion::Profession);
    }
    let anywhere =
        rules.departements.is_empty() && rules.regions.is_empty() && rules.postcodes.is_empty();
    let inside = rules.departements.contains(&r.departement())
        || r.region.as_ref().is_some_and(|g| rules.regions.contains(g))
        || rules.postcodes.contains(&r.postcode);
    if !anywhere && !inside {
        return Err(Exclusion::Territory);
    }
    Ok(())
}

/// Whether a candidate would take the request now.
pub fn evaluate(c: &Candidate, r: &RoutingRequest) -> Result<(), Exclusion> {
    rules_accept(&c.rules, r)?;
    if c.rules.max_open.is_some_and(|m| c.open_cases >= m) {
        return Err(Exclusion::Full);
    }
    if let Some((_, delegate)) = c.absences.iter().find(|(s, _)| s.contains(r.at)) {
        return Err(Exclusion::Absent {
            delegate: delegate.clone(),
        });
    }
    if let Some(rota) = &c.rota
        && !rota.iter().any(|s| s.contains(r.at))
    {
        return Err(Exclusion::OffRota);
    }
    Ok(())
}

/// How an auto-assigning team orders its candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignStrategy {
    /// By id, starting after the member who got the previous request.
    RoundRobin { last: Option<String> },
    /// Fewest open cases first (ties by id).
    LeastLoaded,
}

/// The candidates who would accept `r`, in the order to offer it. An absent candidate's
/// delegate takes their place if the delegate is a candidate who would accept. Each id once.
pub fn order(
    candidates: &[Candidate],
    r: &RoutingRequest,
    strategy: &AssignStrategy,
) -> Vec<String> {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    match strategy {
        AssignStrategy::RoundRobin { last } => {
            sorted.sort_by(|a, b| a.id.cmp(&b.id));
            if let Some(last) = last {
                let k = sorted.iter().position(|c| c.id > *last).unwrap_or(0);
                sorted.rotate_left(k);
            }
        }
        AssignStrategy::LeastLoaded => {
            sorted.sort_by(|a, b| (a.open_cases, &a.id).cmp(&(b.open_cases, &b.id)));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for c in sorted {
        if c.stand_in {
            continue;
        }
        let pick = match evaluate(c, r) {
            Ok(()) => Some(c.id.clone()),
            Err(Exclusion::Absent { delegate: Some(d) }) => candidates
                .iter()
                .find(|x| x.id == d && evaluate(x, r).is_ok())
                .map(|x| x.id.clone()),
            Err(_) => None,
        };
        if let Some(id) = pick
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out
}

/// The next routing step of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Offer to this expert, who has until `until` to accept.
    Offer { expert: String, until: Timestamp },
    /// Nobody accepted in time: the case assigner decides.
    ToAssigner(String),
    /// No one can take it: the requester is told at once (never silence).
    NoOneAvailable,
}

/// After the experts in `tried` let their offers lapse (or declined), the next step:
/// the next candidate in `order`, then the assigner, then "no one available".
pub fn next_step(
    order: &[String],
    tried: &[String],
    assigner: Option<&str>,
    now: Timestamp,
    accept_hours: i64,
) -> Step {
    match order.iter().find(|c| !tried.contains(c)) {
        Some(c) => Step::Offer {
            expert: c.clone(),
            until: Timestamp(now.micros() + accept_hours.max(1) * 3600 * MICROS_PER_SECOND),
        },
        None => match assigner {
            Some(a) => Step::ToAssigner(a.to_string()),
            None => Step::NoOneAvailable,
        },
    }
}

#[cfg(test)]
mod routing_tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_795_424_400_000_000;

    fn req(prof: &str, pc: &str) -> RoutingRequest {
        RoutingRequest {
            requester_profession: prof.into(),
            postcode: pc.into(),
            region: None,
            at: Timestamp(T),
        }
    }

    fn cand(id: &str) -> Candidate {
        Candidate {
            id: id.into(),
            open_cases: 0,
            rules: AcceptanceRules::default(),
            absences: vec![],
            rota: None,
            stand_in: false,
        }
    }

    #[test]
    fn departements_from_postcodes() {
        assert_eq!(req("10", "75011").departement(), "75");
        assert_eq!(req("10", "20000").departement(), "2A");
        assert_eq!(req("10", "20200").departement(), "2B");
        assert_eq!(req("10", "97400").departement(), "974");
    }

    #[test]
    fn rules_exclude_and_delegates_stand_in() {
        let mut a = cand("a");
        a.rules.professions = vec!["10".into()];
        let mut b = cand("b");
        b.rules.departements = vec!["69".into()];
        let mut c = cand("c");
        c.absences = vec![(
            Span {
                from: Timestamp(T - 1),
                to: Timestamp(T + 1),
            },
            Some("d".into()),
        )];
        let d = cand("d");
        let mut e = cand("e");
        e.rules.max_open = Some(2);
        e.open_cases = 2;
        let all = [a, b, c, d, e];
        let r = req("60", "75011");
        assert_eq!(evaluate(&all[0], &r), Err(Exclusion::Profession));
        assert_eq!(evaluate(&all[1], &r), Err(Exclusion::Territory));
        assert_eq!(evaluate(&all[4], &r), Err(Exclusion::Full));
        assert_eq!(order(&all, &r, &AssignStrategy::LeastLoaded), vec!["d"]);
    }

    #[test]
    fn a_delegate_from_outside_stands_in_only_for_the_absent() {
        let mut a = cand("a");
        a.absences = vec![(
            Span {
                from: Timestamp(T - 1),
                to: Timestamp(T + 1),
            },
            Some("z".into()),
        )];
        let mut z = cand("z");
        z.stand_in = true;
        let b = cand("b");
        let r = req("10", "75011");
        let s = AssignStrategy::RoundRobin { last: None };
        assert_eq!(
            order(&[a.clone(), b.clone(), z.clone()], &r, &s),
            vec!["z", "b"]
        );
        a.absences.clear();
        assert_eq!(order(&[a, b, z], &r, &s), vec!["a", "b"]);
    }

    fn arb_candidate() -> impl Strategy<Value = Candidate> {
        (
            "[a-h]",
            0u32..6,
            proptest::collection::vec(prop_oneof!["10", "50", "60"], 0..3),
            proptest::collection::vec(prop_oneof!["75", "69", "13"], 0..2),
            proptest::option::of(1u32..6),
            proptest::option::of((-3i64..3, 1i64..4, proptest::option::of("[a-h]"))),
            proptest::option::of((-3i64..3, 1i64..4)),
            any::<bool>(),
        )
            .prop_map(
                |(id, open, profs, deps, max, absence, slot, stand_in)| Candidate {
                    id,
                    open_cases: open,
                    rules: AcceptanceRules {
                        professions: profs,
                        departements: deps,
                        max_open: max,
                        ..AcceptanceRules::default()
                    },
                    absences: absence
                        .map(|(s, l, d)| {
                            vec![(
                                Span {
                                    from: Timestamp(T + s),
                                    to: Timestamp(T + s + l),
                                },
                                d,
                            )]
                        })
                        .into_iter()
                        .flatten()
                        .collect(),
                    rota: slot.map(|(s, l)| {
                        vec![Span {
                            from: Timestamp(T + s),
                            to: Timestamp(T + s + l),
                        }]
                    }),
                    stand_in,
                },
            )
    }

    fn arb_request() -> impl Strategy<Value = RoutingRequest> {
        (
            prop_oneof!["10", "50", "60", "91"],
            prop_oneof!["75011", "69003", "13001", "33000"],
        )
            .prop_map(|(p, pc)| req(&p, &pc))
    }

    proptest! {
        /// A request never routes to an expert whose rules exclude it.
        #[test]
        fn never_routes_to_an_excluded_expert(
            cands in proptest::collection::vec(arb_candidate(), 0..10),
            r in arb_request(),
            rr in any::<bool>(),
            last in proptest::option::of("[a-h]"),
        ) {
            let s = if rr { AssignStrategy::RoundRobin { last } } else { AssignStrategy::LeastLoaded };
            let o = order(&cands, &r, &s);
            for id in &o {
                // Some candidate with that id accepts (ids may repeat in generated input).
                prop_assert!(cands.iter().any(|c| &c.id == id && evaluate(c, &r).is_ok()));
            }
            // A stand-in (a delegate from outside the team) only ever replaces an absent
            // candidate who named them.
            for id in &o {
                let named = |c: &Candidate| match evaluate(c, &r) {
                    Err(Exclusion::Absent { delegate: Some(d) }) => d == *id,
                    _ => false,
                };
                let ok = cands.iter().any(|c| !c.stand_in && (c.id == *id || named(c)));
                prop_assert!(ok, "{} is nobody's place", id);
            }
            let mut u = o.clone();
            u.sort();
            u.dedup();
            prop_assert_eq!(u.len(), o.len());
        }

        /// Every request reaches a human (an accepted offer or the assigner) or the explicit
        /// "no one available", within len(order)+1 steps, never offering twice to anyone.
        #[test]
        fn every_request_reaches_a_human_or_no_one(
            cands in proptest::collection::vec(arb_candidate(), 0..10),
            r in arb_request(),
            assigner in proptest::option::of("[x-z]"),
            hours in 1i64..48,
        ) {
            let o = order(&cands, &r, &AssignStrategy::LeastLoaded);
            let mut tried: Vec<String> = Vec::new();
            let mut now = Timestamp(T);
            for _ in 0..=o.len() {
                match next_step(&o, &tried, assigner.as_deref(), now, hours) {
                    Step::Offer { expert, until } => {
                        prop_assert!(!tried.contains(&expert));
                        prop_assert_eq!(until.micros() - now.micros(), hours * 3600 * MICROS_PER_SECOND);
                        tried.push(expert);
                        now = until;
                    }
                    Step::ToAssigner(a) => {
                        prop_assert_eq!(Some(a), assigner.clone());
                        prop_assert_eq!(tried.len(), o.len());
                        return Ok(());
                    }
                    Step::NoOneAvailable => {
                        prop_assert!(assigner.is_none());
                        prop_assert_eq!(tried.len(), o.len());
                        return Ok(());
                    }
                }
            }
            prop_assert!(false, "no end after {} steps", o.len() + 1);
        }

        /// Round robin among available members: after N requests no member has more than
        /// one above another.
        #[test]
        fn round_robin_stays_within_one(n_members in 1usize..8, n_requests in 0usize..60) {
            let cands: Vec<Candidate> = (0..n_members).map(|i| cand(&format!("m{i}"))).collect();
            let r = req("10", "75011");
            let mut counts = std::collections::HashMap::<String, usize>::new();
            let mut last: Option<String> = None;
            for _ in 0..n_requests {
                let o = order(&cands, &r, &AssignStrategy::RoundRobin { last: last.clone() });
                let first = o[0].clone();
                *counts.entry(first.clone()).or_default() += 1;
                last = Some(first);
            }
            let max = cands.iter().map(|c| counts.get(&c.id).copied().unwrap_or(0)).max().unwrap_or(0);
            let min = cands.iter().map(|c| counts.get(&c.id).copied().unwrap_or(0)).min().unwrap_or(0);
            prop_assert!(max - min <= 1, "{counts:?}");
        }
    }
}
