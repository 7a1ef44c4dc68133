//! The French rule pack (domain.md §5) as dated data, not scattered `if`s: rules change by
//! convention amendment, so each value carries the date from which it applies.

use crate::kernel::Timestamp;

/// A value in force from `from` (inclusive, UTC micros) until the next entry.
#[derive(Debug, Clone, Copy)]
pub struct Dated<T: Copy> {
    pub from: i64,
    pub value: T,
}

/// 2022-04-01T00:00:00Z, when avenant 9 opened teleexpertise to every patient (R5).
const APRIL_2022: i64 = 1_648_771_200_000_000;

/// R9: the expert answers within 7 days of submission.
pub const ANSWER_DELAY_DAYS: &[Dated<i64>] = &[Dated {
    from: APRIL_2022,
    value: 7,
}];

/// The value in force at `at` (the first entry applies before its own date too).
pub fn in_force<T: Copy>(table: &[Dated<T>], at: Timestamp) -> Option<T> {
    let mut current = table.first().map(|d| d.value);
    for d in table {
        if d.from <= at.micros() {
            current = Some(d.value);
        }
    }
    current
}

/// R9: deadline = submission + the answer delay in force at submission.
pub fn answer_deadline(submitted_at: Timestamp) -> Timestamp {
    submitted_at.plus_days(in_force(ANSWER_DELAY_DAYS, submitted_at).unwrap_or(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r9_deadline_is_seven_days_after_submission() {
        let t = Timestamp::parse_rfc3339("2026-11-23T10:00:00Z").expect("valid");
        assert_eq!(
            answer_deadline(t).to_rfc3339(),
            "2026-11-30T10:00:00.000000Z"
        );
    }

    #[test]
    fn dated_table_picks_latest_applicable() {
        let table = [
            Dated { from: 0, value: 20 },
            Dated {
                from: 100,
                value: 23,
            },
        ];
        assert_eq!(in_force(&table, Timestamp(99)), Some(20));
        assert_eq!(in_force(&table, Timestamp(100)), Some(23));
    }
}
