//! Sign-in rules, pure: session lifetimes, throttling of failed attempts, who must use a
//! second factor, constant-time comparison. No SQL, no HTTP, no clock reads.

use crate::kernel::time::MICROS_PER_SECOND;

/// Where a browser session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; a second-factor code is expected.
    SecondFactor,
    /// Password accepted; a second factor must be enrolled before anything else.
    Enrol,
    /// Signed in.
    Full,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second_factor",
            Stage::Enrol => "enrol",
            Stage::Full => "full",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "second_factor" => Some(Stage::SecondFactor),
            "enrol" => Some(Stage::Enrol),
            "full" => Some(Stage::Full),
            _ => None,
        }
    }
}

/// Session lifetimes, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A session unused for this long ends.
    pub idle: i64,
    /// A session ends this long after sign-in, however active.
    pub absolute: i64,
    /// Sign-in steps not completed within this long end (second factor, enrolment).
    pub pending: i64,
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    Valid,
    Idle,
    Absolute,
}

impl SessionCheck {
    pub fn reason(self) -> &'static str {
        match self {
            SessionCheck::Valid => "valid",
            SessionCheck::Idle => "idle_timeout",
            SessionCheck::Absolute => "absolute_timeout",
        }
    }
}

/// Decides whether a session is still valid at `now`.
pub fn check_session(
    now: i64,
    stage: Stage,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    l: &Lifetimes,
) -> SessionCheck {
    if now >= expires_at {
        return SessionCheck::Absolute;
    }
    if stage != Stage::Full && now >= created_at + l.pending {
        return SessionCheck::Idle;
    }
    if now >= last_seen_at + l.idle {
        return SessionCheck::Idle;
    }
    SessionCheck::Valid
}

/// How often the last-seen instant of a session is written: a session check is a read,
/// and one write per minute per session keeps the idle timeout accurate to a minute.
pub const TOUCH_EVERY_US: i64 = 60 * MICROS_PER_SECOND;

pub fn needs_touch(now: i64, last_seen_at: i64) -> bool {
    now - last_seen_at >= TOUCH_EVERY_US
}

/// Throttling of failed attempts for one key (an account identifier or an address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed in a window before the key is blocked.
    pub max_failures: i64,
    /// Failures older than this are forgotten.
    pub window: i64,
    /// First block; each further failure doubles it, up to `max_block`.
    pub base_block: i64,
    /// Longest block: there is no permanent lockout.
    pub max_block: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub window_start: i64,
    pub blocked_until: i64,
}

impl ThrottlePolicy {
    /// Seconds to wait before trying again, if blocked at `now`.
    pub fn retry_after(&self, state: Option<&ThrottleState>, now: i64) -> Option<i64> {
        let s = state?;
        if s.blocked_until > now {
            Some(((s.blocked_until - now + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND).max(1))
        } else {
            None
        }
    }

    /// The state after one more failure at `now`.
    pub fn fail(&self, state: Option<&ThrottleState>, now: i64) -> ThrottleState {
        let (failures, window_start) = match state {
            Some(s) if now - s.window_start < self.window => (s.failures + 1, s.window_start),
            _ => (1, now),
        };
        let blocked_until = if failures >= self.max_failures {
            let doublings = (failures - self.max_failures).clamp(0, 20) as u32;
            let block = self
                .base_block
                .saturating_mul(1i64 << doublings)
                .min(self.max_block);
            now + block
        } else {
            0
        };
        ThrottleState {
            failures,
            window_start,
            blocked_until,
        }
    }
}

/// The throttle key of an account identifier, the same whether the account exists or not.
pub fn account_key(identifier: &str) -> String {
    format!("login:{}", normalise_identifier(identifier))
}

pub fn normalise_identifier(identifier: &str) -> String {
    identifier.trim().to_lowercase().chars().take(200).collect()
}

/// Who must use a second factor: anyone who may act as an expert (doctors and midwives,
/// R4), organisation administrators, and members of an organisation that requires it.
pub fn second_factor_required(may_be_expert: bool, is_admin: bool, org_requires: bool) -> bool {
    may_be_expert || is_admin || org_requires
}

/// Password rules (ASVS 6.2): 12 to 128 characters, anything allowed.
pub fn check_new_password(p: &str) -> Result<(), &'static str> {
    let n = p.chars().count();
    if n < 12 {
        Err("doit comporter au moins 12 caractères")
    } else if n > 128 {
        Err("doit comporter au plus 128 caractères")
    } else {
        Ok(())
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Token scopes of personal access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads only (GET).
    Read,
    /// Everything the user may do.
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
    pub fn allows(self, safe_method: bool) -> bool {
        safe_method || self == Scope::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = MICROS_PER_SECOND;
    const L: Lifetimes = Lifetimes {
        idle: 30 * 60 * S,
        absolute: 12 * 3600 * S,
        pending: 10 * 60 * S,
    };
    const P: ThrottlePolicy = ThrottlePolicy {
        max_failures: 5,
        window: 900 * S,
        base_block: 30 * S,
        max_block: 900 * S,
    };

    #[test]
    fn sessions_end_on_idle_and_absolute_timeouts() {
        let t0 = 1_000_000 * S;
        let exp = t0 + L.absolute;
        assert_eq!(
            check_session(t0 + 29 * 60 * S, Stage::Full, t0, t0, exp, &L),
            SessionCheck::Valid
        );
        assert_eq!(
            check_session(t0 + 30 * 60 * S, Stage::Full, t0, t0, exp, &L),
            SessionCheck::Idle
        );
        // Active all along, still ends at the absolute limit.
        assert_eq!(
            check_session(exp, Stage::Full, t0, exp - S, exp, &L),
            SessionCheck::Absolute
        );
        // An unfinished sign-in lasts `pending` at most.
        assert_eq!(
            check_session(
                t0 + 10 * 60 * S,
                Stage::SecondFactor,
                t0,
                t0 + 9 * 60 * S,
                exp,
                &L
            ),
            SessionCheck::Idle
        );
    }

    #[test]
    fn throttling_blocks_after_max_failures_and_forgets() {
        let t0 = 1_000_000 * S;
        let mut s = None;
        for i in 0..4 {
            s = Some(P.fail(s.as_ref(), t0 + i * S));
            assert_eq!(P.retry_after(s.as_ref(), t0 + i * S), None);
        }
        s = Some(P.fail(s.as_ref(), t0 + 4 * S));
        assert_eq!(P.retry_after(s.as_ref(), t0 + 4 * S), Some(30));
        s = Some(P.fail(s.as_ref(), t0 + 5 * S));
        assert_eq!(P.retry_after(s.as_ref(), t0 + 5 * S), Some(60));
        // After the window, failures start again from one.
        let later = P.fail(s.as_ref(), t0 + 2000 * S);
        assert_eq!(later.failures, 1);
        assert_eq!(P.retry_after(Some(&later), t0 + 2000 * S), None);
    }

    proptest! {
        #[test]
        fn never_blocked_longer_than_max(n in 1usize..200, gaps in proptest::collection::vec(0i64..120, 200)) {
            let mut now = 5_000_000 * S;
            let mut s: Option<ThrottleState> = None;
            for g in gaps.iter().take(n) {
                now += g * S;
                s = Some(P.fail(s.as_ref(), now));
                let wait = P.retry_after(s.as_ref(), now).unwrap_or(0);
                prop_assert!(wait <= P.max_block / S);
            }
        }

        #[test]
        fn constant_time_eq_is_eq(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(constant_time_eq(&a, &b), a == b);
        }
    }

    #[test]
    fn passwords_and_identifiers() {
        assert!(check_new_password("court").is_err());
        assert!(check_new_password("douze caract").is_ok());
        assert_eq!(
            account_key("  Claire@Example.ORG "),
            "login:claire@example.org"
        );
        assert!(second_factor_required(true, false, false));
        assert!(!second_factor_required(false, false, false));
        assert!(second_factor_required(false, false, true));
    }
}
