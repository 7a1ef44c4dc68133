//! Pure rules of the job queue: when a failed job runs again, when it is given up.

use crate::kernel::Timestamp;
use crate::kernel::time::MICROS_PER_SECOND;

/// First retry after this long; each further failure doubles it.
pub const BACKOFF_BASE_SECONDS: i64 = 30;
/// The wait between two attempts never exceeds this (6 hours).
pub const BACKOFF_MAX_SECONDS: i64 = 6 * 3600;
/// Attempts before a job is dead by default (the last retry comes about 1 h after the first
/// failure: 30 s, 1, 2, 4, 8, 16, 32 min).
pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;

/// The state of a job row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones (≥ 1):
/// `base · 2^(attempts-1)`, capped.
pub fn backoff_seconds(attempts: i64) -> i64 {
    let exp = (attempts.max(1) - 1).min(30) as u32;
    BACKOFF_BASE_SECONDS
        .saturating_mul(1i64 << exp)
        .min(BACKOFF_MAX_SECONDS)
}

/// What happens to a job whose run `attempts` (counting this one) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    Dead,
}

pub fn after_failure(
    now: Timestamp,
    attempts: i64,
    max_attempts: i64,
    permanent: bool,
) -> AfterFailure {
    if permanent || attempts >= max_attempts {
        AfterFailure::Dead
    } else {
        AfterFailure::RetryAt(Timestamp(
            now.micros() + backoff_seconds(attempts) * MICROS_PER_SECOND,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_seconds(1), 30);
        assert_eq!(backoff_seconds(2), 60);
        assert_eq!(backoff_seconds(3), 120);
        assert_eq!(backoff_seconds(20), BACKOFF_MAX_SECONDS);
        assert_eq!(backoff_seconds(i64::MAX), BACKOFF_MAX_SECONDS);
    }

    #[test]
    fn dead_after_the_last_attempt_or_a_permanent_error() {
        let now = Timestamp(1_000_000);
        assert_eq!(after_failure(now, 8, 8, false), AfterFailure::Dead);
        assert_eq!(after_failure(now, 1, 8, true), AfterFailure::Dead);
        assert_eq!(
            after_failure(now, 1, 8, false),
            AfterFailure::RetryAt(Timestamp(1_000_000 + 30 * MICROS_PER_SECOND))
        );
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_bounded(a in 1i64..100) {
            prop_assert!(backoff_seconds(a) <= backoff_seconds(a + 1));
            prop_assert!(backoff_seconds(a) >= BACKOFF_BASE_SECONDS);
            prop_assert!(backoff_seconds(a) <= BACKOFF_MAX_SECONDS);
        }

        #[test]
        fn a_retry_is_always_later(now in 0i64..1i64 << 52, a in 1i64..20, max in 1i64..20) {
            match after_failure(Timestamp(now), a, max, false) {
                AfterFailure::RetryAt(t) => { prop_assert!(a < max); prop_assert!(t.micros() > now); }
                AfterFailure::Dead => prop_assert!(a >= max),
            }
        }
    }
}
