//! Recurring maintenance tasks: schedules in the team's zone, one occurrence per period, and
//! when an occurrence is overdue.
//!
//! A schedule names a wall-clock time (and a weekday or day of month) in the team's zone, so
//! a weekly vacuum at Sunday 03:00 stays at 03:00 local time across DST changes (that week is
//! 167 or 169 hours long). A time the clocks skip (spring-forward gap) happens at the first
//! valid instant after it, the moment the clocks jump (02:30 in Berlin → 03:00 CEST); a time
//! they repeat (fall-back fold) happens at its earlier occurrence. Note that this differs
//! from `business_hours` and `rotation`, which move a skipped time forward by the gap's
//! length (02:30 → 03:30): a task should run as soon as its time has come.
//!
//! A calendar day the zone skipped entirely (Pacific/Apia, 2011-12-30) has no occurrence.

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp};

/// Most occurrences [`occurrences`] returns for one call (27 years of a daily task).
pub const MAX_OCCURRENCES: usize = 10_000;

/// The instant of the wall-clock time `datetime` in `zone`: a time in a DST gap moves to
/// the first valid instant after it (when the clocks jump), a time in a fold takes its
/// earlier occurrence. `None` outside the representable range.
pub fn resolve_local(zone: &TimeZone, datetime: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(datetime);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => ambiguous.earlier().ok(),
        AmbiguousOffset::Gap { .. } => {
            // Read with the offset after the gap, the time lands just before the transition;
            // the transition itself is the first instant the clock shows a valid time again.
            let before_jump = ambiguous.earlier().ok()?;
            zone.following(before_jump).next().map(|transition| transition.timestamp())
        }
    }
}

/// Whether the calendar day `date` happened at all in `zone`.
fn day_exists(zone: &TimeZone, date: Date) -> bool {
    resolve_local(zone, date.to_datetime(Time::midnight()))
        .is_some_and(|t| zone.to_datetime(t).date() == date)
}

/// A day of the month from 1 to 31; in a shorter month, 29 to 31 mean its last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayOfMonth(i8);

impl DayOfMonth {
    /// Day `day`, from 1 to 31.
    pub const fn new(day: i8) -> Result<DayOfMonth, RecurrenceError> {
        if day >= 1 && day <= 31 { Ok(DayOfMonth(day)) } else { Err(RecurrenceError::BadDayOfMonth(day)) }
    }

    /// The day number.
    pub const fn get(self) -> i8 {
        self.0
    }

    /// The date of this day in the month starting at `first_of_month`, clamped to its end.
    fn in_month(self, first_of_month: Date) -> Date {
        let day = self.0.min(first_of_month.days_in_month());
        Date::new(first_of_month.year(), first_of_month.month(), day).unwrap_or(first_of_month)
    }
}

impl TryFrom<i8> for DayOfMonth {
    type Error = RecurrenceError;

    fn try_from(value: i8) -> Result<Self, Self::Error> {
        DayOfMonth::new(value)
    }
}

/// Why a schedule was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    /// A day of month outside 1 to 31.
    #[error("the day of the month must be 1 to 31, got {0} (29 to 31 mean the last day in shorter months)")]
    BadDayOfMonth(i8),
}

/// How often a task comes back; each cadence has one occurrence per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cadence {
    /// Every day (period: the calendar day).
    Daily,
    /// Every week on this weekday (period: the ISO week, Monday to Sunday).
    Weekly(Weekday),
    /// Every month on this day (period: the calendar month).
    Monthly(DayOfMonth),
}

/// A recurring schedule: a cadence and a wall-clock time in the team's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recurrence {
    /// How often.
    pub cadence: Cadence,
    /// At what wall-clock time.
    pub at: Time,
}

impl Recurrence {
    /// Every day at `at`.
    pub const fn daily(at: Time) -> Recurrence {
        Recurrence { cadence: Cadence::Daily, at }
    }

    /// Every `weekday` at `at`.
    pub const fn weekly(weekday: Weekday, at: Time) -> Recurrence {
        Recurrence { cadence: Cadence::Weekly(weekday), at }
    }

    /// Every month on `day` at `at`.
    pub const fn monthly(day: DayOfMonth, at: Time) -> Recurrence {
        Recurrence { cadence: Cadence::Monthly(day), at }
    }

    /// The first day of the period containing `date`.
    fn period_start(&self, date: Date) -> Option<Date> {
        match self.cadence {
            Cadence::Daily => Some(date),
            Cadence::Weekly(_) => {
                let back = Span::new().try_days(-i64::from(date.weekday().to_monday_zero_offset())).ok()?;
                date.checked_add(back).ok()
            }
            Cadence::Monthly(_) => Some(date.first_of_month()),
        }
    }

    /// The first day of the period `n` periods after the one starting at `start`.
    fn shift_period(&self, start: Date, n: i64) -> Option<Date> {
        let span = match self.cadence {
            Cadence::Daily => Span::new().try_days(n),
            Cadence::Weekly(_) => Span::new().try_weeks(n),
            Cadence::Monthly(_) => Span::new().try_months(n),
        };
        start.checked_add(span.ok()?).ok()
    }

    /// The occurrence of the period starting at `start` in `zone`, unless its day was skipped.
    fn occurrence_in(&self, zone: &TimeZone, start: Date) -> Option<Timestamp> {
        let day = match self.cadence {
            Cadence::Daily => start,
            Cadence::Weekly(weekday) => {
                let ahead = Span::new().try_days(i64::from(weekday.to_monday_zero_offset())).ok()?;
                start.checked_add(ahead).ok()?
            }
            Cadence::Monthly(day) => day.in_month(start),
        };
        if !day_exists(zone, day) {
            return None;
        }
        resolve_local(zone, day.to_datetime(self.at))
    }
}

impl fmt::Display for Recurrence {
    /// `"every day at 03:00"`, `"every Sunday at 03:00"`, `"every month on day 15 at 03:00"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("{:02}:{:02}", self.at.hour(), self.at.minute());
        match self.cadence {
            Cadence::Daily => write!(f, "every day at {at}"),
            Cadence::Weekly(weekday) => write!(f, "every {} at {at}", weekday_name(weekday)),
            Cadence::Monthly(day) if day.get() > 28 => {
                write!(f, "every month on day {} (the last day in shorter months) at {at}", day.get())
            }
            Cadence::Monthly(day) => write!(f, "every month on day {} at {at}", day.get()),
        }
    }
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

/// Every occurrence of `recurrence` in `zone` within `[from, until)`, earliest first, one per
/// period, at most [`MAX_OCCURRENCES`].
pub fn occurrences(
    recurrence: &Recurrence,
    zone: &TimeZone,
    from: Timestamp,
    until: Timestamp,
) -> Vec<Timestamp> {
    let mut found = Vec::new();
    if from >= until {
        return found;
    }
    let last_day = zone.to_datetime(until).date();
    // One period early: a previous period's time pushed forward by a gap may land after `from`.
    let Some(mut start) = recurrence
        .period_start(zone.to_datetime(from).date())
        .and_then(|first| recurrence.shift_period(first, -1))
    else {
        return found;
    };
    while start <= last_day && found.len() < MAX_OCCURRENCES {
        if let Some(t) = recurrence.occurrence_in(zone, start) {
            if t >= until {
                break;
            }
            if t >= from {
                found.push(t);
            }
        }
        let Some(next) = recurrence.shift_period(start, 1) else {
            break;
        };
        start = next;
    }
    found
}

/// The first occurrence of `recurrence` in `zone` strictly after `after`; `None` past the end
/// of the calendar.
pub fn next_after(recurrence: &Recurrence, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let first = recurrence.shift_period(recurrence.period_start(zone.to_datetime(after).date())?, -1)?;
    // Three periods always hold the next occurrence; a few more cover days a zone skipped.
    (0..8)
        .filter_map(|n| recurrence.shift_period(first, n))
        .filter_map(|start| recurrence.occurrence_in(zone, start))
        .find(|t| *t > after)
}

/// Where one occurrence of a recurring task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Its time has not come.
    Upcoming,
    /// Its time has come and the grace period runs until `overdue_after`.
    Due {
        /// The last instant at which it is not yet overdue.
        overdue_after: Timestamp,
    },
    /// Not completed and the grace period has passed.
    Overdue {
        /// How long ago the grace period ended, positive.
        by: SignedDuration,
    },
    /// Completed.
    Done {
        /// Whether it was completed after the grace period.
        late: bool,
    },
}

/// The status at `now` of the occurrence at `occurrence` with `grace` (negative counts as
/// zero), completed at `completed_at` if at all.
///
/// Overdue means `now > occurrence + grace` without completion: at the end of the grace
/// period itself it is still due (as an SLA deadline is still met at the deadline).
pub fn task_status(
    occurrence: Timestamp,
    grace: SignedDuration,
    completed_at: Option<Timestamp>,
    now: Timestamp,
) -> TaskStatus {
    let deadline = occurrence.checked_add(grace.max(SignedDuration::ZERO)).unwrap_or(Timestamp::MAX);
    match completed_at {
        Some(done) => TaskStatus::Done { late: done > deadline },
        None if now < occurrence => TaskStatus::Upcoming,
        None if now <= deadline => TaskStatus::Due { overdue_after: deadline },
        None => TaskStatus::Overdue { by: now.duration_since(deadline) },
    }
}

/// Whether the occurrence is overdue at `now` (see [`task_status`]).
pub fn is_overdue(
    occurrence: Timestamp,
    grace: SignedDuration,
    completed_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    matches!(task_status(occurrence, grace, completed_at, now), TaskStatus::Overdue { .. })
}

/// A recurring task every team starts with, from the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultTask {
    /// Stable key, never renamed.
    pub key: &'static str,
    /// The task as shown.
    pub title: &'static str,
    /// When it comes back, in the team's zone.
    pub recurrence: Recurrence,
    /// How long after its time it may be done before it is overdue.
    pub grace: SignedDuration,
}

/// The runbook's recurring tasks: the weekly vacuum and analyze "during low-traffic hours"
/// (Sunday 03:00) and the weekly log cleanup after it (Sunday 04:00), each with a day's grace.
pub const DEFAULT_TASKS: [DefaultTask; 2] = [
    DefaultTask {
        key: "vacuum_analyze",
        title: "Database vacuum and analyze",
        recurrence: Recurrence::weekly(Weekday::Sunday, Time::constant(3, 0, 0, 0)),
        grace: SignedDuration::from_hours(24),
    },
    DefaultTask {
        key: "log_cleanup",
        title: "Log rotation and cleanup",
        recurrence: Recurrence::weekly(Weekday::Sunday, Time::constant(4, 0, 0, 0)),
        grace: SignedDuration::from_hours(24),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};
    use proptest::prelude::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone in the bundled tzdb")
    }

    fn at(zone_name: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned_datetime(zone(zone_name))
            .expect("valid local time")
            .timestamp()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339 instant")
    }

    fn local(t: Timestamp, zone_name: &str) -> String {
        t.to_zoned_datetime(zone(zone_name)).strftime("%a %Y-%m-%d %H:%M %Z").to_string()
    }

    fn vacuum() -> Recurrence {
        DEFAULT_TASKS[0].recurrence
    }

    #[test]
    fn the_weekly_vacuum_keeps_sunday_three_oclock_across_both_berlin_dst_changes() {
        let berlin = zone("Europe/Berlin");
        let spring = occurrences(
            &vacuum(),
            &berlin,
            at("Europe/Berlin", 2027, 3, 15, 0, 0),
            at("Europe/Berlin", 2027, 4, 5, 0, 0),
        );
        let shown: Vec<String> = spring.iter().map(|t| local(*t, "Europe/Berlin")).collect();
        assert_eq!(
            shown,
            ["Sun 2027-03-21 03:00 CET", "Sun 2027-03-28 03:00 CEST", "Sun 2027-04-04 03:00 CEST"]
        );
        assert_eq!(spring[1].duration_since(spring[0]).as_hours(), 167);
        let autumn = occurrences(
            &vacuum(),
            &berlin,
            at("Europe/Berlin", 2027, 10, 25, 0, 0),
            at("Europe/Berlin", 2027, 11, 8, 0, 0),
        );
        assert_eq!(autumn, [utc("2027-10-31T02:00:00Z"), utc("2027-11-07T02:00:00Z")]);
        let before = next_after(&vacuum(), &berlin, utc("2027-10-25T00:00:00Z")).expect("next");
        assert_eq!(
            before.duration_since(utc("2027-10-24T01:00:00Z")).as_hours(),
            169,
            "03:00 CEST to 03:00 CET"
        );
    }

    #[test]
    fn a_daily_task_inside_the_spring_gap_runs_when_the_clocks_jump() {
        // 02:30 does not exist in Berlin on 2027-03-28: the task runs at 03:00 CEST.
        let task = Recurrence::daily(time(2, 30, 0, 0));
        let got = occurrences(
            &task,
            &zone("Europe/Berlin"),
            utc("2027-03-26T12:00:00Z"),
            utc("2027-03-30T12:00:00Z"),
        );
        let shown: Vec<String> = got.iter().map(|t| local(*t, "Europe/Berlin")).collect();
        assert_eq!(
            shown,
            [
                "Sat 2027-03-27 02:30 CET",
                "Sun 2027-03-28 03:00 CEST",
                "Mon 2027-03-29 02:30 CEST",
                "Tue 2027-03-30 02:30 CEST"
            ]
        );
    }

    #[test]
    fn a_weekly_task_inside_the_new_york_gap_runs_at_three_and_in_the_fold_at_the_first_one_thirty() {
        let ny = zone("America/New_York");
        let spring = Recurrence::weekly(Weekday::Sunday, time(2, 15, 0, 0));
        assert_eq!(next_after(&spring, &ny, utc("2027-03-10T00:00:00Z")), Some(utc("2027-03-14T07:00:00Z")));
        assert_eq!(local(utc("2027-03-14T07:00:00Z"), "America/New_York"), "Sun 2027-03-14 03:00 EDT");
        let autumn = Recurrence::weekly(Weekday::Sunday, time(1, 30, 0, 0));
        let got = next_after(&autumn, &ny, utc("2027-11-03T00:00:00Z")).expect("next");
        assert_eq!(got, utc("2027-11-07T05:30:00Z"), "01:30 EDT, the earlier of the two");
        assert_eq!(local(got, "America/New_York"), "Sun 2027-11-07 01:30 EDT");
        // The repeated 01:30 EST an hour later is not a second occurrence.
        assert_eq!(next_after(&autumn, &ny, got), Some(utc("2027-11-14T06:30:00Z")));
    }

    #[test]
    fn a_monthly_task_on_the_31st_runs_on_the_last_day_of_shorter_months() {
        let task = Recurrence::monthly(DayOfMonth::new(31).expect("valid"), time(22, 0, 0, 0));
        let got =
            occurrences(&task, &TimeZone::UTC, utc("2027-01-01T00:00:00Z"), utc("2027-05-01T00:00:00Z"));
        assert_eq!(
            got,
            [
                utc("2027-01-31T22:00:00Z"),
                utc("2027-02-28T22:00:00Z"),
                utc("2027-03-31T22:00:00Z"),
                utc("2027-04-30T22:00:00Z"),
            ]
        );
        assert_eq!(task.to_string(), "every month on day 31 (the last day in shorter months) at 22:00");
        assert_eq!(DayOfMonth::new(0), Err(RecurrenceError::BadDayOfMonth(0)));
        assert_eq!(DayOfMonth::try_from(32), Err(RecurrenceError::BadDayOfMonth(32)));
    }

    #[test]
    fn a_day_the_zone_skipped_has_no_occurrence() {
        // Samoa went from Thursday 2011-12-29 straight to Saturday 2011-12-31.
        let task = Recurrence::daily(time(9, 0, 0, 0));
        let got = occurrences(
            &task,
            &zone("Pacific/Apia"),
            at("Pacific/Apia", 2011, 12, 28, 12, 0),
            at("Pacific/Apia", 2012, 1, 1, 12, 0),
        );
        let days: Vec<String> = got.iter().map(|t| local(*t, "Pacific/Apia")[4..14].to_owned()).collect();
        assert_eq!(days, ["2011-12-29", "2011-12-31", "2012-01-01"]);
    }

    #[test]
    fn occurrences_are_half_open_and_next_after_is_strict() {
        let task = Recurrence::daily(time(3, 0, 0, 0));
        let three = utc("2027-06-02T03:00:00Z");
        let got = occurrences(&task, &TimeZone::UTC, three, utc("2027-06-04T03:00:00Z"));
        assert_eq!(got, [three, utc("2027-06-03T03:00:00Z")]);
        assert_eq!(next_after(&task, &TimeZone::UTC, three), Some(utc("2027-06-03T03:00:00Z")));
        assert_eq!(occurrences(&task, &TimeZone::UTC, three, three), []);
    }

    #[test]
    fn a_task_is_overdue_once_its_grace_period_has_passed_without_completion() {
        let occurrence = utc("2027-06-06T01:00:00Z");
        let grace = SignedDuration::from_hours(24);
        let deadline = utc("2027-06-07T01:00:00Z");
        assert_eq!(task_status(occurrence, grace, None, utc("2027-06-06T00:59:00Z")), TaskStatus::Upcoming);
        assert_eq!(
            task_status(occurrence, grace, None, occurrence),
            TaskStatus::Due { overdue_after: deadline }
        );
        assert!(!is_overdue(occurrence, grace, None, deadline), "still due at the end of the grace period");
        let late = deadline + SignedDuration::from_mins(90);
        assert_eq!(
            task_status(occurrence, grace, None, late),
            TaskStatus::Overdue { by: SignedDuration::from_mins(90) }
        );
        assert!(is_overdue(occurrence, grace, None, late));
        assert_eq!(task_status(occurrence, grace, Some(late), late), TaskStatus::Done { late: true });
        assert_eq!(task_status(occurrence, grace, Some(occurrence), late), TaskStatus::Done { late: false });
        assert!(is_overdue(
            occurrence,
            SignedDuration::from_hours(-5),
            None,
            occurrence + SignedDuration::from_secs(1)
        ));
    }

    #[test]
    fn the_runbook_tasks_run_weekly_in_low_traffic_hours() {
        let shown: Vec<String> =
            DEFAULT_TASKS.iter().map(|t| format!("{}: {}", t.key, t.recurrence)).collect();
        assert_eq!(shown, ["vacuum_analyze: every Sunday at 03:00", "log_cleanup: every Sunday at 04:00"]);
        assert_eq!(Recurrence::daily(time(6, 5, 0, 0)).to_string(), "every day at 06:05");
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kolkata",
    ];

    fn any_recurrence() -> impl Strategy<Value = Recurrence> {
        let at = (0i8..24, prop::sample::select(vec![0i8, 15, 30, 59])).prop_map(|(h, m)| time(h, m, 0, 0));
        let weekday = (0i8..7).prop_map(|n| Weekday::Monday.wrapping_add(n));
        prop_oneof![
            at.clone().prop_map(Recurrence::daily),
            (weekday, at.clone()).prop_map(|(w, a)| Recurrence::weekly(w, a)),
            (1i8..=31, at).prop_map(|(d, a)| Recurrence::monthly(DayOfMonth::new(d).expect("1..=31"), a)),
        ]
    }

    /// The period an occurrence falls in, from its local date.
    fn period_key(recurrence: &Recurrence, zone: &TimeZone, t: Timestamp) -> Date {
        recurrence.period_start(zone.to_datetime(t).date()).expect("in range")
    }

    proptest! {
        #[test]
        fn occurrences_strictly_increase_and_fall_one_in_each_period(
            recurrence in any_recurrence(),
            name in prop::sample::select(ZONES),
            from in prop_oneof![
                1_577_836_800i64..1_893_456_000, // 2020 .. 2030
                1_805_500_000i64..1_807_000_000, // 2027-03
                1_822_500_000i64..1_825_000_000, // 2027-10 .. 2027-11
            ],
            days in 1i64..120,
        ) {
            let tz = zone(name);
            let from = Timestamp::from_second(from).expect("in range");
            let until = from + SignedDuration::from_hours(days * 24);
            let got = occurrences(&recurrence, &tz, from, until);
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "not increasing: {got:?}");
            prop_assert!(got.iter().all(|t| from <= *t && *t < until));
            let periods: Vec<Date> = got.iter().map(|t| period_key(&recurrence, &tz, *t)).collect();
            for pair in periods.windows(2) {
                let next = recurrence.shift_period(pair[0], 1);
                prop_assert_eq!(next, Some(pair[1]), "{:?} then {:?}", pair[0], pair[1]);
            }
            // Nothing was missed before the first and after the last occurrence.
            let first = next_after(&recurrence, &tz, from - SignedDuration::from_nanos(1)).expect("in range");
            prop_assert_eq!(got.first().copied(), (first < until).then_some(first));
            if let Some(last) = got.last() {
                prop_assert!(next_after(&recurrence, &tz, *last).is_some_and(|next| next >= until));
            }
        }
    }
}
