//! The team's business hours in its own time zone, and when they next open.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

/// How far ahead (in days) the search for an opening looks. A valid configuration opens
/// within a week; the margin covers days that DST or a skipped calendar day leave empty.
const MAX_SCAN_DAYS: usize = 370;

/// A set of weekdays, e.g. the days the team works.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    /// No day at all (not valid for [`BusinessHours`], useful to build from).
    pub const NONE: Weekdays = Weekdays(0);
    /// Monday to Friday, the default working week.
    pub const MONDAY_TO_FRIDAY: Weekdays = Weekdays(0b0001_1111);
    /// All seven days.
    pub const EVERY_DAY: Weekdays = Weekdays(0b0111_1111);

    const fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }

    /// Whether `day` is in the set.
    pub const fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    /// The set with `day` added.
    #[must_use]
    pub const fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | Self::bit(day))
    }

    /// The set with `day` removed.
    #[must_use]
    pub const fn without(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 & !Self::bit(day))
    }

    /// Whether the set holds no day.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        Weekday::Monday.cycle_forward().take(7).filter(move |day| self.contains(*day))
    }
}

impl FromIterator<Weekday> for Weekdays {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        iter.into_iter().fold(Weekdays::NONE, Weekdays::with)
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Why a business hours configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessHoursError {
    /// The opening time is not before the closing time (overnight hours are not supported).
    #[error("business hours must open before they close (open {}, close {})", hhmm(*.open), hhmm(*.close))]
    OpensAfterClosing {
        /// The configured opening time.
        open: Time,
        /// The configured closing time.
        close: Time,
    },
    /// The set of business days is empty.
    #[error("business hours need at least one business day")]
    NoDays,
}

fn hhmm(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// When the team works: a time zone, the working days and a daily window `[open, close)`.
///
/// All times are wall-clock times in `time_zone`. On a day where DST makes the opening or
/// closing time ambiguous or nonexistent, it resolves the way most software does
/// ("compatible"): a time in a gap moves forward by the gap's length, a time in a fold
/// takes its first occurrence. A day whose window becomes empty that way is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    time_zone: TimeZone,
    days: Weekdays,
    open: Time,
    close: Time,
}

impl BusinessHours {
    /// The default opening time, 09:00.
    pub const DEFAULT_OPEN: Time = Time::constant(9, 0, 0, 0);
    /// The default closing time, 17:00.
    pub const DEFAULT_CLOSE: Time = Time::constant(17, 0, 0, 0);

    /// Business hours from their parts; `open` must be before `close` and `days` not empty.
    pub fn new(
        time_zone: TimeZone,
        days: Weekdays,
        open: Time,
        close: Time,
    ) -> Result<BusinessHours, BusinessHoursError> {
        if open >= close {
            return Err(BusinessHoursError::OpensAfterClosing { open, close });
        }
        if days.is_empty() {
            return Err(BusinessHoursError::NoDays);
        }
        Ok(BusinessHours { time_zone, days, open, close })
    }

    /// Monday to Friday, 09:00 to 17:00 in `time_zone`.
    pub fn standard(time_zone: TimeZone) -> BusinessHours {
        BusinessHours {
            time_zone,
            days: Weekdays::MONDAY_TO_FRIDAY,
            open: Self::DEFAULT_OPEN,
            close: Self::DEFAULT_CLOSE,
        }
    }

    /// The team's time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The working days.
    pub fn days(&self) -> Weekdays {
        self.days
    }

    /// The daily opening time (wall clock, inclusive).
    pub fn open(&self) -> Time {
        self.open
    }

    /// The daily closing time (wall clock, exclusive).
    pub fn close(&self) -> Time {
        self.close
    }

    /// Whether `date` (in the team zone) is a working day.
    pub fn is_business_day(&self, date: Date) -> bool {
        self.days.contains(date.weekday())
    }

    /// Whether business hours are open at `t`: a working day, at or after the opening and
    /// before the closing.
    pub fn is_open(&self, t: Timestamp) -> bool {
        let date = self.time_zone.to_datetime(t).date();
        // A closing time pushed forward by a DST gap near midnight can spill into the next
        // day, so the previous day's window is checked too.
        [date.yesterday().ok(), Some(date)]
            .into_iter()
            .flatten()
            .filter_map(|day| self.window(day))
            .any(|(start, end)| start <= t && t < end)
    }

    /// The first moment at or after `t` when business hours are open (`t` itself if open).
    ///
    /// Saturates at [`Timestamp::MAX`] when no opening is representable (near year 9999).
    pub fn next_open(&self, t: Timestamp) -> Timestamp {
        let date = self.time_zone.to_datetime(t).date();
        let first = date.yesterday().unwrap_or(date);
        self.days_from(first)
            .filter_map(|day| self.window(day))
            .find(|(_, end)| *end > t)
            .map_or(Timestamp::MAX, |(start, _)| start.max(t))
    }

    /// The opening time of the first working day strictly after the team-zone day
    /// containing `t` (the "next business day" of the escalation matrix).
    ///
    /// Saturates at [`Timestamp::MAX`] when no such day is representable (near year 9999).
    pub fn next_business_day_start(&self, t: Timestamp) -> Timestamp {
        let date = self.time_zone.to_datetime(t).date();
        let Ok(first) = date.tomorrow() else {
            return Timestamp::MAX;
        };
        self.days_from(first).find_map(|day| self.window(day)).map_or(Timestamp::MAX, |(start, _)| start)
    }

    /// Consecutive dates starting at `first`, bounded by the scan limit and the calendar.
    fn days_from(&self, first: Date) -> impl Iterator<Item = Date> {
        std::iter::successors(Some(first), |day| day.tomorrow().ok()).take(MAX_SCAN_DAYS)
    }

    /// The open interval `[start, end)` of `date`, if it is a working day with a non-empty
    /// window once DST is applied.
    fn window(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.is_business_day(date) {
            return None;
        }
        let resolve =
            |time: Time| self.time_zone.to_ambiguous_timestamp(date.to_datetime(time)).compatible().ok();
        let start = resolve(self.open)?;
        let end = resolve(self.close)?;
        // A calendar day a zone skipped entirely (Pacific/Apia, 2011-12-30) would resolve
        // into the next day; that day did not happen, so it has no business hours.
        let opens_that_day = self.time_zone.to_datetime(start).date() == date;
        (opens_that_day && start < end).then_some((start, end))
    }
}

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

    fn berlin() -> BusinessHours {
        BusinessHours::standard(zone("Europe/Berlin"))
    }

    fn new_york() -> BusinessHours {
        BusinessHours::standard(zone("America/New_York"))
    }

    fn every_day(zone_name: &str, open: Time, close: Time) -> BusinessHours {
        BusinessHours::new(zone(zone_name), Weekdays::EVERY_DAY, open, close).expect("valid hours")
    }

    #[test]
    fn weekday_sets_hold_exactly_their_days() {
        let set: Weekdays = [Weekday::Saturday, Weekday::Monday].into_iter().collect();
        assert!(set.contains(Weekday::Monday));
        assert!(set.contains(Weekday::Saturday));
        assert!(!set.contains(Weekday::Sunday));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Weekday::Monday, Weekday::Saturday]);
        assert_eq!(Weekdays::MONDAY_TO_FRIDAY.iter().count(), 5);
        assert_eq!(
            Weekdays::EVERY_DAY.without(Weekday::Sunday).without(Weekday::Saturday),
            Weekdays::MONDAY_TO_FRIDAY
        );
        assert!(Weekdays::NONE.is_empty());
        assert_eq!(format!("{:?}", set), "{Monday, Saturday}");
    }

    #[test]
    fn standard_hours_are_monday_to_friday_nine_to_five() {
        let hours = berlin();
        assert_eq!(hours.days(), Weekdays::MONDAY_TO_FRIDAY);
        assert_eq!(hours.open(), time(9, 0, 0, 0));
        assert_eq!(hours.close(), time(17, 0, 0, 0));
        assert_eq!(hours.time_zone().iana_name(), Some("Europe/Berlin"));
    }

    #[test]
    fn hours_that_close_before_they_open_are_refused() {
        let err =
            BusinessHours::new(zone("UTC"), Weekdays::MONDAY_TO_FRIDAY, time(17, 0, 0, 0), time(9, 0, 0, 0))
                .expect_err("inverted window");
        assert_eq!(err.to_string(), "business hours must open before they close (open 17:00, close 09:00)");
        let same =
            BusinessHours::new(zone("UTC"), Weekdays::MONDAY_TO_FRIDAY, time(9, 0, 0, 0), time(9, 0, 0, 0));
        assert!(matches!(same, Err(BusinessHoursError::OpensAfterClosing { .. })));
    }

    #[test]
    fn hours_without_any_day_are_refused() {
        let err = BusinessHours::new(zone("UTC"), Weekdays::NONE, time(9, 0, 0, 0), time(17, 0, 0, 0))
            .expect_err("no days");
        assert_eq!(err, BusinessHoursError::NoDays);
    }

    #[test]
    fn open_is_inclusive_and_close_is_exclusive() {
        let hours = berlin();
        // 2025-06-04 is a Wednesday.
        assert!(!hours.is_open(at("Europe/Berlin", 2025, 6, 4, 8, 59)));
        assert!(hours.is_open(at("Europe/Berlin", 2025, 6, 4, 9, 0)));
        assert!(hours.is_open(at("Europe/Berlin", 2025, 6, 4, 16, 59)));
        assert!(!hours.is_open(at("Europe/Berlin", 2025, 6, 4, 17, 0)));
    }

    #[test]
    fn business_hours_are_closed_all_weekend() {
        let hours = berlin();
        assert!(!hours.is_open(at("Europe/Berlin", 2025, 6, 7, 12, 0)));
        assert!(!hours.is_open(at("Europe/Berlin", 2025, 6, 8, 12, 0)));
    }

    #[test]
    fn business_hours_follow_the_team_zone_not_utc() {
        let hours = new_york();
        // 09:30 in New York on a Monday is 13:30 UTC in summer.
        let t = at("America/New_York", 2025, 6, 2, 9, 30);
        assert_eq!(t, "2025-06-02T13:30:00Z".parse::<Timestamp>().expect("valid"));
        assert!(hours.is_open(t));
        assert!(!berlin().is_open(at("America/New_York", 2025, 6, 2, 13, 0)));
    }

    #[test]
    fn next_open_is_the_same_moment_when_already_open() {
        let t = at("Europe/Berlin", 2025, 6, 4, 11, 17);
        assert_eq!(berlin().next_open(t), t);
    }

    #[test]
    fn next_open_before_opening_is_the_same_morning() {
        let hours = berlin();
        let early = at("Europe/Berlin", 2025, 6, 4, 6, 30);
        assert_eq!(hours.next_open(early), at("Europe/Berlin", 2025, 6, 4, 9, 0));
    }

    #[test]
    fn next_open_after_closing_is_the_next_morning() {
        let hours = berlin();
        let late = at("Europe/Berlin", 2025, 6, 4, 17, 0);
        assert_eq!(hours.next_open(late), at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn next_open_from_friday_evening_or_the_weekend_is_monday_morning() {
        let hours = berlin();
        let monday = at("Europe/Berlin", 2025, 6, 9, 9, 0);
        assert_eq!(hours.next_open(at("Europe/Berlin", 2025, 6, 6, 18, 45)), monday);
        assert_eq!(hours.next_open(at("Europe/Berlin", 2025, 6, 7, 10, 0)), monday);
        assert_eq!(hours.next_open(at("Europe/Berlin", 2025, 6, 8, 23, 59)), monday);
    }

    #[test]
    fn next_open_over_the_spring_dst_weekend_in_berlin_is_monday_nine_summer_time() {
        // Clocks go 02:00 -> 03:00 on Sunday 2025-03-30; Monday 09:00 is then 07:00 UTC.
        let friday_evening = at("Europe/Berlin", 2025, 3, 28, 18, 0);
        let got = berlin().next_open(friday_evening);
        assert_eq!(got, "2025-03-31T07:00:00Z".parse::<Timestamp>().expect("valid"));
        // A naive "+ 63 hours" from Friday 18:00 would have landed at 10:00 local.
        assert_eq!(got.duration_since(friday_evening).as_hours(), 62);
    }

    #[test]
    fn next_open_over_the_autumn_dst_weekend_in_new_york_is_monday_nine_standard_time() {
        // Clocks go 02:00 -> 01:00 on Sunday 2025-11-02; Monday 09:00 is then 14:00 UTC.
        let friday_evening = at("America/New_York", 2025, 10, 31, 17, 30);
        let got = new_york().next_open(friday_evening);
        assert_eq!(got, "2025-11-03T14:00:00Z".parse::<Timestamp>().expect("valid"));
    }

    #[test]
    fn an_opening_time_inside_the_spring_gap_opens_when_the_clock_resumes() {
        // 02:30 does not exist in Berlin on 2025-03-30; opening moves forward an hour.
        let hours = every_day("Europe/Berlin", time(2, 30, 0, 0), time(6, 0, 0, 0));
        let before = at("Europe/Berlin", 2025, 3, 30, 1, 0);
        let got = hours.next_open(before);
        assert_eq!(got, "2025-03-30T01:30:00Z".parse::<Timestamp>().expect("valid"));
        assert_eq!(got.to_zoned_datetime(zone("Europe/Berlin")).time(), time(3, 30, 0, 0));
        assert!(hours.is_open(got));
        assert!(!hours.is_open(got - jiff::SignedDuration::from_secs(1)));
    }

    #[test]
    fn an_opening_time_inside_the_autumn_fold_opens_at_its_first_occurrence() {
        // 01:30 happens twice in New York on 2025-11-02: first EDT (05:30 UTC), then EST.
        let hours = every_day("America/New_York", time(1, 30, 0, 0), time(4, 0, 0, 0));
        let got = hours.next_open(at("America/New_York", 2025, 11, 2, 0, 0));
        assert_eq!(got, "2025-11-02T05:30:00Z".parse::<Timestamp>().expect("valid"));
        // And it stays open through the repeated hour.
        let second_one_fifteen = "2025-11-02T06:15:00Z".parse::<Timestamp>().expect("valid");
        assert!(hours.is_open(second_one_fifteen));
    }

    #[test]
    fn a_window_erased_by_a_dst_gap_is_skipped() {
        // 02:10-02:50 in Berlin on 2025-03-30 resolves to 03:10-03:50; but 02:30-03:10
        // resolves to 03:30-03:10, an empty window, so that day has no opening.
        let hours = every_day("Europe/Berlin", time(2, 30, 0, 0), time(3, 10, 0, 0));
        let got = hours.next_open(at("Europe/Berlin", 2025, 3, 30, 0, 0));
        assert_eq!(got, at("Europe/Berlin", 2025, 3, 31, 2, 30));
    }

    #[test]
    fn a_calendar_day_the_zone_skipped_is_not_a_business_day() {
        // Samoa jumped from Thursday 2011-12-29 straight to Saturday 2011-12-31.
        let hours = BusinessHours::standard(zone("Pacific/Apia"));
        let thursday_noon = at("Pacific/Apia", 2011, 12, 29, 12, 0);
        let monday = at("Pacific/Apia", 2012, 1, 2, 9, 0);
        assert_eq!(hours.next_business_day_start(thursday_noon), monday);
        assert_eq!(hours.next_open(at("Pacific/Apia", 2011, 12, 29, 18, 0)), monday);
    }

    #[test]
    fn next_business_day_start_skips_the_rest_of_today_even_before_opening() {
        let hours = berlin();
        let wednesday_early = at("Europe/Berlin", 2025, 6, 4, 7, 0);
        assert_eq!(hours.next_business_day_start(wednesday_early), at("Europe/Berlin", 2025, 6, 5, 9, 0));
        let wednesday_noon = at("Europe/Berlin", 2025, 6, 4, 12, 0);
        assert_eq!(hours.next_business_day_start(wednesday_noon), at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn next_business_day_after_friday_or_the_weekend_is_monday() {
        let hours = new_york();
        let monday = at("America/New_York", 2025, 3, 10, 9, 0);
        for t in [
            at("America/New_York", 2025, 3, 7, 10, 0),
            at("America/New_York", 2025, 3, 7, 23, 59),
            at("America/New_York", 2025, 3, 8, 0, 0),
            at("America/New_York", 2025, 3, 9, 12, 0),
        ] {
            assert_eq!(hours.next_business_day_start(t), monday, "from {t}");
        }
        // That Sunday was the spring DST change: Monday 09:00 EDT is 13:00 UTC.
        assert_eq!(monday, "2025-03-10T13:00:00Z".parse::<Timestamp>().expect("valid"));
    }

    #[test]
    fn next_business_day_uses_the_team_zone_date_not_the_utc_date() {
        // Thursday 23:30 in New York is already Friday in UTC; the next business day is
        // still Friday in New York.
        let thursday_night = at("America/New_York", 2025, 6, 5, 23, 30);
        assert_eq!(
            new_york().next_business_day_start(thursday_night),
            at("America/New_York", 2025, 6, 6, 9, 0)
        );
    }

    #[test]
    fn next_open_saturates_at_the_end_of_time() {
        let hours = BusinessHours::standard(zone("UTC"));
        assert_eq!(hours.next_open(Timestamp::MAX), Timestamp::MAX);
        assert_eq!(hours.next_business_day_start(Timestamp::MAX), Timestamp::MAX);
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "America/Santiago",
        "Pacific/Apia",
    ];

    fn any_hours() -> impl Strategy<Value = BusinessHours> {
        (prop::sample::select(ZONES), 1u8..=127, 0i32..(24 * 60 - 1), 1i32..(24 * 60)).prop_filter_map(
            "open before close",
            |(name, days, a, b)| {
                let (open, close) = (a.min(b), a.max(b));
                let to_time = |mins: i32| {
                    Time::new(i8::try_from(mins / 60).ok()?, i8::try_from(mins % 60).ok()?, 0, 0).ok()
                };
                BusinessHours::new(zone(name), Weekdays(days), to_time(open)?, to_time(close)?).ok()
            },
        )
    }

    fn any_instant() -> impl Strategy<Value = Timestamp> {
        // Anywhere in 1990..2050 (historical rule changes), or near the 2025 DST changes of
        // both hemispheres and Apia's skipped day, where bugs would hide.
        prop_oneof![
            631_152_000i64..2_524_608_000,
            1_743_206_400i64..1_744_156_800, // 2025-03-29 .. 2025-04-09
            1_759_276_800i64..1_760_227_200, // 2025-10-01 .. 2025-10-12
            1_761_091_200i64..1_762_560_000, // 2025-10-22 .. 2025-11-08
            1_323_993_600i64..1_325_548_800, // 2011-12-16 .. 2012-01-03
        ]
        .prop_map(|s| Timestamp::from_second(s).expect("in range"))
    }

    proptest! {
        #[test]
        fn next_open_lands_inside_business_hours_and_never_before_its_input(
            hours in any_hours(),
            t in any_instant(),
        ) {
            let opened = hours.next_open(t);
            prop_assert!(opened >= t);
            prop_assert!(hours.is_open(opened), "{opened} not open for {hours:?}");
            if hours.is_open(t) {
                prop_assert_eq!(opened, t);
            }
        }

        #[test]
        fn nothing_is_open_between_an_instant_and_its_next_open(
            hours in any_hours(),
            t in any_instant(),
        ) {
            let opened = hours.next_open(t);
            let gap = opened.duration_since(t);
            for step in 0..16 {
                let probe = t + gap / 16 * step;
                prop_assert!(probe >= opened || !hours.is_open(probe), "open at {probe} before {opened}");
            }
        }

        #[test]
        fn next_business_day_start_opens_on_a_later_team_day(
            hours in any_hours(),
            t in any_instant(),
        ) {
            let start = hours.next_business_day_start(t);
            let tz = hours.time_zone();
            prop_assert!(start > t);
            prop_assert!(hours.is_open(start));
            prop_assert!(tz.to_datetime(start).date() > tz.to_datetime(t).date());
        }
    }
}
