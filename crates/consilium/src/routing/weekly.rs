//! Weekly on-call slots ("every Monday 08:00–13:00, Paris time"), pure: their occurrences
//! as instants, through summer-time changes.
//!
//! A slot is a weekday and two wall-clock times in Europe/Paris. It starts on its weekday
//! at `start` and ends at `end` the same day, or the next day when `end` is not after
//! `start` (a night: Friday 20:00–08:00). Its length in real time follows the clock: a
//! night across the spring change lasts an hour less, across the autumn change an hour
//! more. A wall-clock time that does not exist (02:30 on the last Sunday of March) is taken
//! as the instant the clock jumps to (03:00, i.e. 01:00 UTC); one that happens twice (02:30
//! on the last Sunday of October) as its first occurrence (summer time).

use super::model::Span;
use crate::billing::model::paris_offset_seconds;
use crate::kernel::Timestamp;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, Weekday};
use utoipa::ToSchema;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Day::Monday => "monday",
            Day::Tuesday => "tuesday",
            Day::Wednesday => "wednesday",
            Day::Thursday => "thursday",
            Day::Friday => "friday",
            Day::Saturday => "saturday",
            Day::Sunday => "sunday",
        }
    }
    pub fn parse(s: &str) -> Option<Day> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
    fn weekday(self) -> Weekday {
        match self {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }
}

/// A weekly slot: `day`, from `start` to `end` (minutes after midnight, Paris time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklySlot {
    pub day: Day,
    pub start: u16,
    pub end: u16,
}

/// Parses `HH:MM` (00:00–23:59; `24:00` for an end at midnight) into minutes.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Minutes as `HH:MM`.
pub fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl WeeklySlot {
    /// A slot from its parts (an `end` of 00:00 is midnight at the end of the day, 24:00);
    /// `None` when `start` is 24:00 or equals `end`.
    pub fn new(day: Day, start: u16, end: u16) -> Option<WeeklySlot> {
        let end = if end == 0 { MINUTES_PER_DAY } else { end };
        (start < MINUTES_PER_DAY && end <= MINUTES_PER_DAY && start != end).then_some(WeeklySlot {
            day,
            start,
            end,
        })
    }

    /// The occurrence that starts on `date` (which must be the slot's weekday).
    pub fn on(&self, date: Date) -> Span {
        let from = paris_instant(date, self.start);
        let to = if self.end > self.start {
            paris_instant(date, self.end)
        } else {
            paris_instant(date + Duration::days(1), self.end)
        };
        Span { from, to }
    }

    /// The occurrences starting from `days_before` days before `at`'s Paris date to
    /// `days_after` days after it, in order.
    pub fn occurrences_around(
        &self,
        at: Timestamp,
        days_before: i64,
        days_after: i64,
    ) -> Vec<Span> {
        let today = crate::billing::model::paris_date(at);
        (-days_before..=days_after)
            .map(|k| today + Duration::days(k))
            .filter(|d| d.weekday() == self.day.weekday())
            .map(|d| self.on(d))
            .collect()
    }

    /// Whether `at` falls in one of the slot's occurrences.
    pub fn contains(&self, at: Timestamp) -> bool {
        // An occurrence lasts at most a day (plus an hour in autumn): it started today or
        // yesterday (Paris dates).
        self.occurrences_around(at, 1, 0)
            .iter()
            .any(|s| s.contains(at))
    }
}

/// The instant at wall-clock `minutes` (0–1440) on `date` in Paris. A time in the spring
/// gap is the instant the clock jumps to; a time in the autumn overlap is its first (summer
/// time) occurrence.
pub fn paris_instant(date: Date, minutes: u16) -> Timestamp {
    let local =
        Timestamp::from_offset(date.midnight().assume_utc()).plus_seconds(i64::from(minutes) * 60);
    // Summer time first: in the autumn overlap both readings are valid, and the first
    // occurrence is the summer one.
    let summer = local.plus_seconds(-7200);
    if paris_offset_seconds(summer) == 7200 {
        return summer;
    }
    let winter = local.plus_seconds(-3600);
    if paris_offset_seconds(winter) == 3600 {
        return winter;
    }
    // Neither: the spring gap (02:00–03:00 does not exist); the clock jumped at 01:00 UTC,
    // to 03:00 summer time.
    let jump = local.plus_seconds(-7200);
    let hour = jump.micros().rem_euclid(3_600_000_000);
    Timestamp(jump.micros() - hour + 3_600_000_000).min(winter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Month;

    fn utc(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }
    fn date(y: i32, m: Month, d: u8) -> Date {
        Date::from_calendar_date(y, m, d).unwrap()
    }
    fn monday_morning() -> WeeklySlot {
        WeeklySlot::new(Day::Monday, 8 * 60, 13 * 60).unwrap()
    }

    #[test]
    fn hours_parse_and_print() {
        assert_eq!(parse_hhmm("08:00"), Some(480));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        for bad in ["8:00", "24:01", "12:60", "noon", "", "1200"] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
        assert_eq!(hhmm(480), "08:00");
        assert!(WeeklySlot::new(Day::Monday, 480, 480).is_none());
        assert!(WeeklySlot::new(Day::Monday, 0, 1440).is_some());
        assert!(WeeklySlot::new(Day::Monday, 1440, 60).is_none());
        assert_eq!(
            WeeklySlot::new(Day::Monday, 1200, 0).map(|s| s.end),
            Some(1440)
        );
    }

    #[test]
    fn winter_and_summer_mondays() {
        let s = monday_morning();
        // 2026-01-05 is a Monday, CET (UTC+1).
        let w = s.on(date(2026, Month::January, 5));
        assert_eq!(w.from, utc("2026-01-05T07:00:00Z"));
        assert_eq!(w.to, utc("2026-01-05T12:00:00Z"));
        // 2026-06-01 is a Monday, CEST (UTC+2).
        let su = s.on(date(2026, Month::June, 1));
        assert_eq!(su.from, utc("2026-06-01T06:00:00Z"));
        assert_eq!(su.to, utc("2026-06-01T11:00:00Z"));
        assert!(s.contains(utc("2026-06-01T06:00:00Z")));
        assert!(s.contains(utc("2026-06-01T10:59:59Z")));
        assert!(!s.contains(utc("2026-06-01T11:00:00Z")));
        assert!(!s.contains(utc("2026-06-01T05:59:59Z")));
        assert!(!s.contains(utc("2026-06-02T07:00:00Z")), "a Tuesday");
    }

    #[test]
    fn the_monday_after_each_change_keeps_its_wall_clock() {
        let s = monday_morning();
        // Summer time began Sunday 2026-03-29 01:00 UTC; ended Sunday 2026-10-25 01:00 UTC.
        let before = s.on(date(2026, Month::March, 23));
        let after = s.on(date(2026, Month::March, 30));
        assert_eq!(before.from, utc("2026-03-23T07:00:00Z"));
        assert_eq!(after.from, utc("2026-03-30T06:00:00Z"));
        let before = s.on(date(2026, Month::October, 19));
        let after = s.on(date(2026, Month::October, 26));
        assert_eq!(before.from, utc("2026-10-19T06:00:00Z"));
        assert_eq!(after.from, utc("2026-10-26T07:00:00Z"));
    }

    #[test]
    fn nights_across_the_changes_last_what_the_clock_says() {
        // Saturday 22:00 to Sunday 06:00: 8 hours, 7 in spring, 9 in autumn.
        let night = WeeklySlot::new(Day::Saturday, 22 * 60, 6 * 60).unwrap();
        let hours = |sp: Span| (sp.to.micros() - sp.from.micros()) / 3_600_000_000;
        assert_eq!(hours(night.on(date(2026, Month::March, 21))), 8);
        let spring = night.on(date(2026, Month::March, 28));
        assert_eq!(spring.from, utc("2026-03-28T21:00:00Z"));
        assert_eq!(spring.to, utc("2026-03-29T04:00:00Z"));
        assert_eq!(hours(spring), 7);
        let autumn = night.on(date(2026, Month::October, 24));
        assert_eq!(autumn.from, utc("2026-10-24T20:00:00Z"));
        assert_eq!(autumn.to, utc("2026-10-25T05:00:00Z"));
        assert_eq!(hours(autumn), 9);
        // Sunday 03:00 UTC is inside both nights' occurrences of that weekend.
        assert!(night.contains(utc("2026-03-29T03:59:59Z")));
        assert!(!night.contains(utc("2026-03-29T04:00:00Z")));
        assert!(night.contains(utc("2026-10-25T04:59:59Z")));
    }

    #[test]
    fn times_in_the_gap_and_the_overlap() {
        let sunday_spring = date(2026, Month::March, 29);
        // 02:30 does not exist: the clock jumped from 02:00 CET to 03:00 CEST at 01:00 UTC.
        assert_eq!(
            paris_instant(sunday_spring, 150),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            paris_instant(sunday_spring, 180),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            paris_instant(sunday_spring, 119),
            utc("2026-03-29T00:59:00Z")
        );
        let sunday_autumn = date(2026, Month::October, 25);
        // 02:30 happens twice: the first time, in summer time (00:30 UTC).
        assert_eq!(
            paris_instant(sunday_autumn, 150),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            paris_instant(sunday_autumn, 180),
            utc("2026-10-25T02:00:00Z")
        );
    }

    proptest! {
        /// Every week of twenty years: an occurrence starts at its wall-clock time in Paris,
        /// on the right weekday, and `contains` agrees with it at its edges.
        #[test]
        fn occurrences_start_at_their_wall_clock(
            week in 0i64..1040,
            day in 0usize..7,
            start in 0u16..1440,
            len in 1u16..1440,
        ) {
            let d = Day::ALL[day];
            let end = (start + len) % 1440;
            let end = if end == 0 { 1440 } else { end };
            let slot = WeeklySlot::new(d, start, end).unwrap();
            let first_monday = date(2020, Month::January, 6);
            let on = first_monday + Duration::days(week * 7 + day as i64);
            let sp = slot.on(on);
            prop_assert!(sp.from < sp.to);
            let local = sp.from.plus_seconds(paris_offset_seconds(sp.from));
            let local_dt = local.to_offset();
            // Outside the spring gap, the local start is the slot's wall-clock time.
            let in_gap = on.weekday() == Weekday::Sunday
                && on.month() == Month::March
                && on.day() + 7 > 31
                && (120..180).contains(&start);
            if !in_gap {
                prop_assert_eq!(local_dt.date(), on);
                prop_assert_eq!(u16::from(local_dt.hour()) * 60 + u16::from(local_dt.minute()), start);
            }
            prop_assert!(slot.contains(sp.from));
            prop_assert!(slot.contains(Timestamp(sp.to.micros() - 1)));
            prop_assert!(!slot.contains(Timestamp(sp.from.micros() - 1)) || len >= 1380);
        }
    }
}
