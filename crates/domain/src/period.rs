//! Report periods in the team's zone (ISO week, month, quarter, custom range) as half-open
//! instants, their labels and URL keys, and the periods before them for trends.
//!
//! A period is a run of whole calendar days in the team's zone, `[start of the first day,
//! start of the day after the last)`. It therefore has its true length: a day with a
//! spring-forward change lasts 23 hours, March in Berlin 743 hours. A day starts at the first
//! valid instant of its date (a midnight the clocks skip starts the day when they jump).

pub mod figures;

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, ISOWeekDate, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

use crate::incident::ParseNameError;
use crate::recurrence::resolve_local;

/// How many periods a trend chart shows, the current one included.
pub const TREND_PERIODS: usize = 12;

/// The longest custom range: two calendar years.
pub const MAX_CUSTOM_YEARS: i16 = 2;

/// A calendar period kind, chosen in the report's period selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter (January to March is Q1).
    Quarter,
}

impl PeriodKind {
    /// Every kind, shortest first.
    pub const ALL: [PeriodKind; 3] = [PeriodKind::Week, PeriodKind::Month, PeriodKind::Quarter];

    /// The name in URLs and forms (`"week"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
        }
    }

    /// The first day of the period of this kind containing `date`.
    fn first_day(self, date: Date) -> Option<Date> {
        match self {
            PeriodKind::Week => {
                let back = Span::new().try_days(-i64::from(date.weekday().to_monday_zero_offset())).ok()?;
                date.checked_add(back).ok()
            }
            PeriodKind::Month => Some(date.first_of_month()),
            PeriodKind::Quarter => Date::new(date.year(), (date.month() - 1) / 3 * 3 + 1, 1).ok(),
        }
    }

    /// One period of this kind as a calendar span.
    fn span(self, n: i64) -> Option<Span> {
        match self {
            PeriodKind::Week => Span::new().try_weeks(n).ok(),
            PeriodKind::Month => Span::new().try_months(n).ok(),
            PeriodKind::Quarter => Span::new().try_months(n.checked_mul(3)?).ok(),
        }
    }
}

impl fmt::Display for PeriodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeriodKind {
    type Err = ParseNameError;

    /// Parses `week`, `month` or `quarter`, ignoring surrounding whitespace and ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        PeriodKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(wanted)).ok_or_else(|| {
            ParseNameError { kind: "report period", input: s.to_owned(), expected: "week, month, quarter" }
        })
    }
}

/// A form field of the period selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodField {
    /// The custom range's first day.
    Start,
    /// The custom range's last day.
    End,
    /// A period key (`2026-W49`…) in a URL.
    Period,
}

impl PeriodField {
    /// The field's name in forms and URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            PeriodField::Start => "start",
            PeriodField::End => "end",
            PeriodField::Period => "period",
        }
    }
}

/// Why a period was refused; [`PeriodError::field`] names the field to mark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// A custom range whose last day is before its first.
    #[error("the end date {last} is before the start date {first}")]
    EndBeforeStart {
        /// The first day asked for.
        first: Date,
        /// The last day asked for.
        last: Date,
    },
    /// A custom range longer than [`MAX_CUSTOM_YEARS`].
    #[error(
        "a custom range covers at most two years; {first} to {last} is longer: pick a later start or an earlier end"
    )]
    TooLong {
        /// The first day asked for.
        first: Date,
        /// The last day asked for.
        last: Date,
    },
    /// A key that is not a period.
    #[error(
        "{input:?} is not a report period: expected 2026-W49, 2026-11, 2026-Q4 or 2026-11-03..2026-11-17"
    )]
    Malformed {
        /// The rejected input.
        input: String,
    },
    /// A period whose start or end is not representable.
    #[error("the period is outside the supported calendar")]
    OutOfRange,
}

impl PeriodError {
    /// The field at fault.
    pub const fn field(&self) -> PeriodField {
        match self {
            PeriodError::EndBeforeStart { .. } | PeriodError::TooLong { .. } => PeriodField::End,
            PeriodError::Malformed { .. } | PeriodError::OutOfRange => PeriodField::Period,
        }
    }
}

/// A report period: whole days `first..=last` in the team's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `None` for a custom range.
    kind: Option<PeriodKind>,
    zone: TimeZone,
    first: Date,
    last: Date,
    start: Timestamp,
    end: Timestamp,
}

impl Period {
    /// The `kind` of period containing the instant `t`, in `zone`.
    pub fn containing(kind: PeriodKind, zone: &TimeZone, t: Timestamp) -> Result<Period, PeriodError> {
        Period::calendar(kind, zone, zone.to_datetime(t).date())
    }

    /// The `kind` of period containing the day `date`, in `zone`.
    pub fn calendar(kind: PeriodKind, zone: &TimeZone, date: Date) -> Result<Period, PeriodError> {
        let first = kind.first_day(date).ok_or(PeriodError::OutOfRange)?;
        let next =
            kind.span(1).and_then(|span| first.checked_add(span).ok()).ok_or(PeriodError::OutOfRange)?;
        let last = next.yesterday().map_err(|_| PeriodError::OutOfRange)?;
        Period::build(Some(kind), zone, first, last)
    }

    /// A custom range from the day `first` to the day `last`, both included, in `zone`:
    /// `last` may equal `first` (one day) but not precede it, and the range covers at most
    /// [`MAX_CUSTOM_YEARS`] calendar years (2025-01-01 to 2026-12-31 is the longest from
    /// New Year's Day 2025).
    pub fn custom(zone: &TimeZone, first: Date, last: Date) -> Result<Period, PeriodError> {
        if last < first {
            return Err(PeriodError::EndBeforeStart { first, last });
        }
        let limit =
            first.checked_add(Span::new().years(MAX_CUSTOM_YEARS)).map_err(|_| PeriodError::OutOfRange)?;
        if last >= limit {
            return Err(PeriodError::TooLong { first, last });
        }
        Period::build(None, zone, first, last)
    }

    fn build(
        kind: Option<PeriodKind>,
        zone: &TimeZone,
        first: Date,
        last: Date,
    ) -> Result<Period, PeriodError> {
        let day_start = |date: Date| resolve_local(zone, date.to_datetime(Time::midnight()));
        let start = day_start(first).ok_or(PeriodError::OutOfRange)?;
        let end = last.tomorrow().ok().and_then(day_start).ok_or(PeriodError::OutOfRange)?;
        Ok(Period { kind, zone: zone.clone(), first, last, start, end })
    }

    /// Parses a [`Period::key`] (`2026-W49`, `2026-11`, `2026-Q4`, `2026-11-03..2026-11-17`)
    /// for `zone`.
    pub fn parse(key: &str, zone: &TimeZone) -> Result<Period, PeriodError> {
        let input = key.trim();
        let malformed = || PeriodError::Malformed { input: key.to_owned() };
        if let Some((first, last)) = input.split_once("..") {
            let first = parse_date(first).ok_or_else(malformed)?;
            let last = parse_date(last).ok_or_else(malformed)?;
            return Period::custom(zone, first, last);
        }
        let (year, rest) = input.split_once('-').ok_or_else(malformed)?;
        let year: i16 = digits(year, 4).ok_or_else(malformed)?;
        let date = if let Some(week) = rest.strip_prefix('W') {
            let week: i8 = digits(week, 2).ok_or_else(malformed)?;
            ISOWeekDate::new(year, week, Weekday::Monday).map_err(|_| malformed())?.date()
        } else if let Some(quarter) = rest.strip_prefix('Q') {
            let quarter: i8 = digits(quarter, 1).filter(|q| (1..=4).contains(q)).ok_or_else(malformed)?;
            Date::new(year, quarter * 3 - 2, 1).map_err(|_| malformed())?
        } else {
            let month: i8 = digits(rest, 2).ok_or_else(malformed)?;
            Date::new(year, month, 1).map_err(|_| malformed())?
        };
        let kind = match rest.as_bytes().first() {
            Some(b'W') => PeriodKind::Week,
            Some(b'Q') => PeriodKind::Quarter,
            _ => PeriodKind::Month,
        };
        Period::calendar(kind, zone, date)
    }

    /// The kind, or `None` for a custom range.
    pub fn kind(&self) -> Option<PeriodKind> {
        self.kind
    }

    /// The team's zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first day (team zone).
    pub fn first_day(&self) -> Date {
        self.first
    }

    /// The last day (team zone), included.
    pub fn last_day(&self) -> Date {
        self.last
    }

    /// The first instant of the period (inclusive).
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first instant after the period (exclusive): the next period's start.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// The elapsed length, DST changes included.
    pub fn length(&self) -> SignedDuration {
        self.end.duration_since(self.start)
    }

    /// Whether `t` is in `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// The period `n` periods before this one (`n = 0` is this one). A custom range steps
    /// back by its own number of days. `None` before the start of the calendar.
    pub fn previous(&self, n: u32) -> Option<Period> {
        match self.kind {
            Some(kind) => {
                let first = self.first.checked_add(kind.span(-i64::from(n))?).ok()?;
                Period::calendar(kind, &self.zone, first).ok()
            }
            None => {
                let days = i64::from(self.first.until(self.last).ok()?.get_days()) + 1;
                let back = Span::new().try_days(days.checked_mul(i64::from(n))?.checked_neg()?).ok()?;
                let first = self.first.checked_add(back).ok()?;
                let last = self.last.checked_add(back).ok()?;
                Period::build(None, &self.zone, first, last).ok()
            }
        }
    }

    /// The last `count` periods ending with this one, oldest first (fewer at the start of
    /// the calendar); a trend chart uses [`TREND_PERIODS`].
    pub fn trend(&self, count: usize) -> Vec<Period> {
        let mut periods: Vec<Period> =
            (0..count).map_while(|n| u32::try_from(n).ok()).map_while(|n| self.previous(n)).collect();
        periods.reverse();
        periods
    }

    /// The stable key for URLs: `2026-W49`, `2026-11`, `2026-Q4`, `2026-11-03..2026-11-17`.
    pub fn key(&self) -> String {
        match self.kind {
            Some(PeriodKind::Week) => iso_week(self.first),
            Some(PeriodKind::Month) => format!("{:04}-{:02}", self.first.year(), self.first.month()),
            Some(PeriodKind::Quarter) => format!("{:04}-Q{}", self.first.year(), quarter(self.first)),
            None => format!("{}..{}", self.first, self.last),
        }
    }

    /// The label for people: `2026-W49`, `Nov 2026`, `2026 Q4`, `2026-11-03 – 2026-11-17`.
    pub fn label(&self) -> String {
        match self.kind {
            Some(PeriodKind::Week) => iso_week(self.first),
            Some(PeriodKind::Month) => self.first.strftime("%b %Y").to_string(),
            Some(PeriodKind::Quarter) => format!("{:04} Q{}", self.first.year(), quarter(self.first)),
            None => format!("{} \u{2013} {}", self.first, self.last),
        }
    }
}

impl fmt::Display for Period {
    /// The [`Period::label`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// `2026-W49`, with the ISO week-numbering year (2024-12-30 is in 2025-W01).
fn iso_week(date: Date) -> String {
    let week = date.iso_week_date();
    format!("{:04}-W{:02}", week.year(), week.week())
}

fn quarter(date: Date) -> i8 {
    (date.month() - 1) / 3 + 1
}

/// Exactly `len` ASCII digits as a number.
fn digits<N: FromStr>(s: &str, len: usize) -> Option<N> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD`, strictly.
fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Date::new(digits(year, 4)?, digits(month, 2)?, digits(day, 2)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone in the bundled tzdb")
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339 instant")
    }

    fn berlin() -> TimeZone {
        zone("Europe/Berlin")
    }

    #[test]
    fn a_week_is_the_iso_week_from_monday_midnight_in_the_team_zone() {
        let week =
            Period::containing(PeriodKind::Week, &berlin(), utc("2026-12-03T12:00:00Z")).expect("valid");
        assert_eq!(week.label(), "2026-W49");
        assert_eq!((week.first_day(), week.last_day()), (date(2026, 11, 30), date(2026, 12, 6)));
        assert_eq!(week.start(), utc("2026-11-29T23:00:00Z"), "Monday 00:00 CET");
        assert_eq!(week.end(), utc("2026-12-06T23:00:00Z"));
        assert_eq!(week.length().as_hours(), 168);
        // Sunday 23:30 in Berlin is already Monday in UTC but still in W49 for the team.
        assert!(week.contains(utc("2026-12-06T22:30:00Z")));
        assert!(!week.contains(week.end()));
    }

    #[test]
    fn a_week_takes_its_number_from_the_iso_week_year() {
        let week = Period::calendar(PeriodKind::Week, &TimeZone::UTC, date(2026, 12, 31)).expect("valid");
        assert_eq!(week.label(), "2026-W53");
        let week = Period::calendar(PeriodKind::Week, &TimeZone::UTC, date(2024, 12, 31)).expect("valid");
        assert_eq!((week.label(), week.first_day()), ("2025-W01".to_owned(), date(2024, 12, 30)));
    }

    #[test]
    fn months_and_quarters_have_their_labels_and_keys() {
        let month = Period::calendar(PeriodKind::Month, &berlin(), date(2026, 11, 17)).expect("valid");
        assert_eq!((month.label(), month.key()), ("Nov 2026".to_owned(), "2026-11".to_owned()));
        assert_eq!((month.first_day(), month.last_day()), (date(2026, 11, 1), date(2026, 11, 30)));
        let quarter = Period::calendar(PeriodKind::Quarter, &berlin(), date(2026, 11, 17)).expect("valid");
        assert_eq!((quarter.label(), quarter.key()), ("2026 Q4".to_owned(), "2026-Q4".to_owned()));
        assert_eq!((quarter.first_day(), quarter.last_day()), (date(2026, 10, 1), date(2026, 12, 31)));
        let custom = Period::custom(&berlin(), date(2026, 11, 3), date(2026, 11, 17)).expect("valid");
        assert_eq!(custom.label(), "2026-11-03 \u{2013} 2026-11-17");
        assert_eq!(custom.key(), "2026-11-03..2026-11-17");
        assert_eq!(custom.to_string(), custom.label());
    }

    #[test]
    fn a_period_containing_spring_forward_is_an_hour_shorter() {
        // Berlin 2026-03-29 lasts 23 hours; March 743; the first quarter 2159.
        let week = Period::calendar(PeriodKind::Week, &berlin(), date(2026, 3, 29)).expect("valid");
        assert_eq!(week.length().as_hours(), 167);
        let month = Period::calendar(PeriodKind::Month, &berlin(), date(2026, 3, 1)).expect("valid");
        assert_eq!(month.length().as_hours(), 31 * 24 - 1);
        let day = Period::custom(&berlin(), date(2026, 3, 29), date(2026, 3, 29)).expect("valid");
        assert_eq!(day.length().as_hours(), 23);
        let quarter = Period::calendar(PeriodKind::Quarter, &berlin(), date(2026, 2, 1)).expect("valid");
        assert_eq!(quarter.length().as_hours(), 90 * 24 - 1);
    }

    #[test]
    fn a_period_containing_fall_back_is_an_hour_longer() {
        let ny = zone("America/New_York");
        let day = Period::custom(&ny, date(2026, 11, 1), date(2026, 11, 1)).expect("valid");
        assert_eq!(day.length().as_hours(), 25);
        assert_eq!(day.start(), utc("2026-11-01T04:00:00Z"), "midnight EDT");
        assert_eq!(day.end(), utc("2026-11-02T05:00:00Z"), "midnight EST");
        let week = Period::calendar(PeriodKind::Week, &ny, date(2026, 11, 1)).expect("valid");
        assert_eq!(week.length().as_hours(), 169);
    }

    #[test]
    fn a_day_whose_midnight_the_clocks_skip_starts_when_they_jump() {
        // Santiago springs forward at 24:00 on Saturday 2026-09-05: Sunday starts at 01:00.
        let santiago = zone("America/Santiago");
        let sunday = Period::custom(&santiago, date(2026, 9, 6), date(2026, 9, 6)).expect("valid");
        assert_eq!(santiago.to_datetime(sunday.start()).time(), Time::constant(1, 0, 0, 0));
        assert_eq!(sunday.length().as_hours(), 23);
        let saturday = Period::custom(&santiago, date(2026, 9, 5), date(2026, 9, 5)).expect("valid");
        assert_eq!(saturday.end(), sunday.start());
    }

    #[test]
    fn the_previous_periods_follow_the_calendar_and_trends_show_the_last_twelve() {
        let month = Period::calendar(PeriodKind::Month, &berlin(), date(2026, 3, 31)).expect("valid");
        assert_eq!(month.previous(1).map(|p| p.label()), Some("Feb 2026".to_owned()));
        assert_eq!(month.previous(3).map(|p| p.label()), Some("Dec 2025".to_owned()));
        let trend = month.trend(TREND_PERIODS);
        let labels: Vec<String> = trend.iter().map(Period::label).collect();
        assert_eq!(labels.first().map(String::as_str), Some("Apr 2025"));
        assert_eq!(labels.last().map(String::as_str), Some("Mar 2026"));
        assert_eq!(trend.len(), 12);
        assert!(trend.windows(2).all(|w| w[0].end() == w[1].start()), "contiguous");
        let quarter = Period::parse("2026-Q1", &berlin()).expect("valid");
        assert_eq!(quarter.previous(1).map(|p| p.key()), Some("2025-Q4".to_owned()));
        let week = Period::parse("2026-W01", &berlin()).expect("valid");
        assert_eq!(week.previous(1).map(|p| p.key()), Some("2025-W52".to_owned()));
    }

    #[test]
    fn a_custom_range_steps_back_by_its_own_length() {
        let range = Period::custom(&berlin(), date(2026, 11, 3), date(2026, 11, 17)).expect("valid");
        let before = range.previous(1).expect("in range");
        assert_eq!((before.first_day(), before.last_day()), (date(2026, 10, 19), date(2026, 11, 2)));
        assert_eq!(before.end(), range.start());
        assert_eq!(before.kind(), None);
    }

    #[test]
    fn a_custom_range_ending_before_it_starts_is_a_field_error_on_the_end() {
        let err = Period::custom(&berlin(), date(2026, 11, 17), date(2026, 11, 3)).expect_err("backwards");
        assert_eq!(err.field(), PeriodField::End);
        assert_eq!(err.to_string(), "the end date 2026-11-03 is before the start date 2026-11-17");
        let one_day =
            Period::custom(&berlin(), date(2026, 11, 3), date(2026, 11, 3)).expect("one day is fine");
        assert_eq!(one_day.length().as_hours(), 24);
    }

    #[test]
    fn a_custom_range_covers_at_most_two_years() {
        assert!(Period::custom(&berlin(), date(2025, 1, 1), date(2026, 12, 31)).is_ok());
        let err = Period::custom(&berlin(), date(2025, 1, 1), date(2027, 1, 1)).expect_err("too long");
        assert_eq!(err.field(), PeriodField::End);
        assert!(err.to_string().starts_with("a custom range covers at most two years"), "{err}");
        assert!(Period::custom(&berlin(), date(2024, 2, 29), date(2026, 2, 27)).is_ok());
        assert!(Period::custom(&berlin(), date(2024, 2, 29), date(2026, 2, 28)).is_err());
    }

    #[test]
    fn keys_parse_back_and_anything_else_is_refused() {
        for key in ["2026-W49", "2026-11", "2026-Q4", "2026-11-03..2026-11-17", "2020-W53"] {
            let period = Period::parse(key, &berlin()).expect(key);
            assert_eq!(period.key(), key);
        }
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-W54",
            "2025-W53",
            "2026-Q5",
            "26-11",
            "2026-1",
            "2026-11-03..",
            "nov",
        ] {
            let err = Period::parse(bad, &berlin()).expect_err(bad);
            assert_eq!(err.field(), PeriodField::Period, "{bad}");
        }
        assert_eq!(
            Period::parse("2026-11-17..2026-11-03", &berlin()).map_err(|e| e.field()),
            Err(PeriodField::End)
        );
        assert_eq!(" Month ".parse::<PeriodKind>(), Ok(PeriodKind::Month));
        assert!("year".parse::<PeriodKind>().is_err());
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Pacific/Apia",
    ];

    proptest! {
        #[test]
        fn every_instant_lies_in_exactly_the_period_that_contains_it(
            name in prop::sample::select(ZONES),
            kind in prop::sample::select(PeriodKind::ALL.to_vec()),
            secs in 946_684_800i64..2_208_988_800,
        ) {
            let tz = zone(name);
            let t = Timestamp::from_second(secs).expect("in range");
            let period = Period::containing(kind, &tz, t).expect("in range");
            prop_assert!(period.contains(t), "{} misses {}", period.key(), t);
            let before = period.previous(1).expect("in range");
            prop_assert_eq!(before.end(), period.start());
            prop_assert!(!before.contains(t));
            let parsed = Period::parse(&period.key(), &tz);
            prop_assert_eq!(parsed.as_ref(), Ok(&period));
            // The length is the number of days times 24 h, give or take the zone's DST shifts.
            let span = period.first_day().until(period.last_day()).expect("in range");
            let days = i64::from(span.get_days()) + 1;
            let drift = (period.length() - SignedDuration::from_hours(24 * days)).abs();
            prop_assert!(drift <= SignedDuration::from_hours(25), "{} drifts {:?}", period.key(), drift);
        }
    }
}
