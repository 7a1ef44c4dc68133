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
