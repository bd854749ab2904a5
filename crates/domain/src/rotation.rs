//! On-call rotations: who is primary, secondary and manager at an instant, across hand-offs,
//! overrides and DST.
//!
//! A rotation hands off on a weekday at a wall-clock time in the team's zone, every
//! `length_days` calendar days. Shifts are counted in calendar days, not hours, so a weekly
//! Monday 09:00 hand-off stays at 09:00 local time when DST starts or ends (that week's shift
//! lasts 167 or 169 hours). A hand-off time a DST change skips moves forward by the gap; one it
//! repeats takes its first occurrence ("compatible", as in `business_hours`).

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Length of a shift when nothing else is said: one week.
pub const DEFAULT_LENGTH_DAYS: u16 = 7;
/// The longest shift accepted, in days.
pub const MAX_LENGTH_DAYS: u16 = 365;
/// Most people in one rotation.
pub const MAX_PARTICIPANTS: usize = 100;
/// The longest override accepted: 90 days.
pub const MAX_OVERRIDE: SignedDuration = SignedDuration::from_hours(90 * 24);
/// Most hand-offs [`Rotation::plan`] walks through, whatever the window.
const MAX_PLAN_SHIFTS: i64 = 10_000;

/// Why a rotation or an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// Nobody to put on call.
    #[error("a rotation needs at least one participant")]
    NoParticipants,
    /// More than [`MAX_PARTICIPANTS`].
    #[error("a rotation has at most {MAX_PARTICIPANTS} participants, got {0}")]
    TooManyParticipants(usize),
    /// The same person twice; `position` is the 1-based place of the repeat.
    #[error("participant {position} is already in the rotation; list each person once")]
    DuplicateParticipant {
        /// 1-based position of the second occurrence.
        position: usize,
    },
    /// A shift of 0 days or more than [`MAX_LENGTH_DAYS`].
    #[error("a shift lasts 1 to {MAX_LENGTH_DAYS} days, got {0}")]
    BadLength(u16),
    /// An override that does not end after it starts.
    #[error("an override must end after it starts")]
    OverrideEndsBeforeStart,
    /// An override longer than [`MAX_OVERRIDE`].
    #[error("an override lasts at most 90 days")]
    OverrideTooLong,
}

/// When shifts change hands: the weekday and wall-clock time, the length, the zone, and the
/// day counting starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    zone: TimeZone,
    /// The date of hand-off number 0 (the first participant's first shift).
    first_day: Date,
    weekday: Weekday,
    time: Time,
    length_days: u16,
}

impl Schedule {
    /// A schedule whose first hand-off is on the first `weekday` on or after `starts_on`, at
    /// `time` in `zone`, then every `length_days` days.
    pub fn new(
        zone: TimeZone,
        starts_on: Date,
        weekday: Weekday,
        time: Time,
        length_days: u16,
    ) -> Result<Schedule, RotationError> {
        if !(1..=MAX_LENGTH_DAYS).contains(&length_days) {
            return Err(RotationError::BadLength(length_days));
        }
        let ahead = starts_on.weekday().until(weekday);
        let first_day = add_days(starts_on, i64::from(ahead)).unwrap_or(starts_on);
        Ok(Schedule { zone, first_day, weekday, time, length_days })
    }

    /// The team's zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The date of the first hand-off.
    pub fn first_day(&self) -> Date {
        self.first_day
    }

    /// The hand-off weekday.
    pub fn weekday(&self) -> Weekday {
        self.weekday
    }

    /// The hand-off wall-clock time.
    pub fn time(&self) -> Time {
        self.time
    }

    /// Days per shift.
    pub fn length_days(&self) -> u16 {
        self.length_days
    }

    /// The instant of hand-off number `index` (0 is the first; negative ones lie before it).
    /// Saturates at the ends of the representable range.
    pub fn handoff(&self, index: i64) -> Timestamp {
        let saturated = if index < 0 { Timestamp::MIN } else { Timestamp::MAX };
        let Some(days) = index.checked_mul(i64::from(self.length_days)) else {
            return saturated;
        };
        let Some(day) = add_days(self.first_day, days) else {
            return saturated;
        };
        self.zone.to_ambiguous_timestamp(day.to_datetime(self.time)).compatible().unwrap_or(saturated)
    }

    /// The number of the shift running at `t`: `handoff(i) <= t < handoff(i + 1)`.
    pub fn index_at(&self, t: Timestamp) -> i64 {
        let day = self.zone.to_datetime(t).date();
        let days = day.duration_since(self.first_day).as_hours().div_euclid(24);
        let mut index = days.div_euclid(i64::from(self.length_days));
        // The estimate is off by one at most, around the hand-off time of the day.
        for _ in 0..3 {
            if self.handoff(index) > t {
                index -= 1;
            } else if self.handoff(index + 1) <= t {
                index += 1;
            } else {
                break;
            }
        }
        index
    }

    /// Start and end of shift `index`.
    pub fn shift(&self, index: i64) -> (Timestamp, Timestamp) {
        (self.handoff(index), self.handoff(index.saturating_add(1)))
    }
}

fn add_days(day: Date, days: i64) -> Option<Date> {
    let hours = days.checked_mul(24)?;
    day.checked_add(SignedDuration::from_hours(hours)).ok()
}

/// Someone covering a rotation from `from` (inclusive) to `until` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override<P> {
    from: Timestamp,
    until: Timestamp,
    who: P,
}

impl<P> Override<P> {
    /// An override of at most [`MAX_OVERRIDE`] that ends after it starts.
    pub fn new(from: Timestamp, until: Timestamp, who: P) -> Result<Override<P>, RotationError> {
        if until <= from {
            return Err(RotationError::OverrideEndsBeforeStart);
        }
        if until.duration_since(from) > MAX_OVERRIDE {
            return Err(RotationError::OverrideTooLong);
        }
        Ok(Override { from, until, who })
    }

    /// When the cover starts.
    pub fn from(&self) -> Timestamp {
        self.from
    }

    /// When the cover ends (exclusive).
    pub fn until(&self) -> Timestamp {
        self.until
    }

    /// Who covers.
    pub fn who(&self) -> &P {
        &self.who
    }

    /// Whether the override is in force at `t`.
    pub fn covers(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.until
    }
}

/// A stretch of time with one person on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift<P> {
    /// Inclusive.
    pub start: Timestamp,
    /// Exclusive.
    pub end: Timestamp,
    pub who: P,
    /// Whether an override put `who` there rather than the schedule.
    pub overridden: bool,
}

/// Who a rotation has on call at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall<P> {
    /// The person paged first: the scheduled participant or whoever overrides them.
    pub primary: P,
    /// The next participant in rotation order who is not the primary; `None` with one person.
    pub secondary: Option<P>,
    /// Whether the primary is there by an override.
    pub overridden: bool,
    /// When the primary next changes, if that happens within the current and next shift.
    pub until: Option<Timestamp>,
}

/// An ordered list of participants on a [`Schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation<P> {
    participants: Vec<P>,
    schedule: Schedule,
}

impl<P: Clone + PartialEq> Rotation<P> {
    /// A rotation of 1 to [`MAX_PARTICIPANTS`] distinct people, in hand-off order.
    pub fn new(participants: Vec<P>, schedule: Schedule) -> Result<Rotation<P>, RotationError> {
        if participants.is_empty() {
            return Err(RotationError::NoParticipants);
        }
        if participants.len() > MAX_PARTICIPANTS {
            return Err(RotationError::TooManyParticipants(participants.len()));
        }
        for (i, p) in participants.iter().enumerate() {
            if participants[..i].contains(p) {
                return Err(RotationError::DuplicateParticipant { position: i + 1 });
            }
        }
        Ok(Rotation { participants, schedule })
    }

    /// The participants in hand-off order.
    pub fn participants(&self) -> &[P] {
        &self.participants
    }

    /// When shifts change hands.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Who the schedule puts on shift `index` (the rotation repeats in both directions).
    pub fn scheduled(&self, index: i64) -> &P {
        let n = i64::try_from(self.participants.len()).unwrap_or(1);
        let i = usize::try_from(index.rem_euclid(n)).unwrap_or(0);
        &self.participants[i]
    }

    /// The scheduled shift running at `t`, overrides aside.
    pub fn shift_at(&self, t: Timestamp) -> Shift<P> {
        let index = self.schedule.index_at(t);
        let (start, end) = self.schedule.shift(index);
        Shift { start, end, who: self.scheduled(index).clone(), overridden: false }
    }

    /// Everyone's turn from `t` on, in the order they go on call (overrides aside): the person
    /// on shift at `t` first, with the start of their shift, then each next one with the start of
    /// their next shift. Pages list people this way rather than in stored order, which starts
    /// from whoever had the first shift long ago.
    pub fn turns(&self, t: Timestamp) -> Vec<Shift<P>> {
        let first = self.schedule.index_at(t);
        let n = i64::try_from(self.participants.len()).unwrap_or(1);
        (first..first.saturating_add(n))
            .map(|index| {
                let (start, end) = self.schedule.shift(index);
                Shift { start, end, who: self.scheduled(index).clone(), overridden: false }
            })
            .collect()
    }

    /// Who is on call at `t`. Overrides later in `overrides` win over earlier ones.
    pub fn on_call_at(&self, t: Timestamp, overrides: &[Override<P>]) -> OnCall<P> {
        let index = self.schedule.index_at(t);
        let active = overrides.iter().rev().find(|o| o.covers(t));
        let primary = active.map_or_else(|| self.scheduled(index), |o| &o.who).clone();
        let n = i64::try_from(self.participants.len()).unwrap_or(1);
        let secondary = (1..=n).map(|i| self.scheduled(index + i)).find(|p| **p != primary).cloned();
        let horizon = self.schedule.handoff(index.saturating_add(2));
        let until = self.plan(t, horizon, overrides).first().map(|s| s.end).filter(|end| *end < horizon);
        OnCall { primary, secondary, overridden: active.is_some(), until }
    }

    /// Who is on call from `from` to `until`, as consecutive stretches with one person each
    /// (a stretch ends at a hand-off or an override's edge where the person changes).
    pub fn plan(&self, from: Timestamp, until: Timestamp, overrides: &[Override<P>]) -> Vec<Shift<P>> {
        if from >= until {
            return vec![];
        }
        let mut edges = vec![from, until];
        let first = self.schedule.index_at(from);
        let last = self.schedule.index_at(until).min(first.saturating_add(MAX_PLAN_SHIFTS));
        edges.extend((first + 1..=last).map(|i| self.schedule.handoff(i)));
        for o in overrides {
            edges.extend([o.from, o.until]);
        }
        edges.retain(|t| from <= *t && *t <= until);
        edges.sort();
        edges.dedup();

        let mut plan: Vec<Shift<P>> = Vec::with_capacity(edges.len());
        for pair in edges.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let (who, overridden) = match overrides.iter().rev().find(|o| o.covers(start)) {
                Some(o) => (o.who.clone(), true),
                None => (self.scheduled(self.schedule.index_at(start)).clone(), false),
            };
            match plan.last_mut() {
                Some(last) if last.who == who && last.overridden == overridden => last.end = end,
                _ => plan.push(Shift { start, end, who, overridden }),
            }
        }
        plan
    }
}

/// Everyone on call at an instant: the responders' rotation gives primary and secondary, the
/// managers' rotation the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallNow<P> {
    pub responders: Option<OnCall<P>>,
    pub manager: Option<OnCall<P>>,
}

impl<P> OnCallNow<P> {
    /// The primary on call, if there is a responders' rotation.
    pub fn primary(&self) -> Option<&P> {
        self.responders.as_ref().map(|r| &r.primary)
    }

    /// The secondary on call, if the responders' rotation has more than one person.
    pub fn secondary(&self) -> Option<&P> {
        self.responders.as_ref().and_then(|r| r.secondary.as_ref())
    }

    /// The manager on call, if there is a managers' rotation.
    pub fn manager(&self) -> Option<&P> {
        self.manager.as_ref().map(|m| &m.primary)
    }
}

/// A rotation with its overrides, as [`on_call_now`] takes them.
pub type Covered<'a, P> = (&'a Rotation<P>, &'a [Override<P>]);

/// Who is on call at `t` in each rotation that exists.
pub fn on_call_now<P: Clone + PartialEq>(
    responders: Option<Covered<'_, P>>,
    managers: Option<Covered<'_, P>>,
    t: Timestamp,
) -> OnCallNow<P> {
    OnCallNow {
        responders: responders.map(|(r, o)| r.on_call_at(t, o)),
        manager: managers.map(|(r, o)| r.on_call_at(t, o)),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};
    use proptest::prelude::*;

    use super::*;

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

    /// Alice, Bob and Carol, weekly on Mondays at 09:00 Berlin time from Monday 2026-01-05.
    fn berlin_weekly() -> Rotation<&'static str> {
        let schedule =
            Schedule::new(zone("Europe/Berlin"), date(2026, 1, 5), Weekday::Monday, time(9, 0, 0, 0), 7)
                .expect("valid schedule");
        Rotation::new(vec!["alice", "bob", "carol"], schedule).expect("valid rotation")
    }

    #[test]
    fn turns_start_with_whoever_is_on_shift_and_follow_the_hand_offs() {
        let r = berlin_weekly();
        // Week 3 from 2026-01-05 is Carol's: 2026-01-19 09:00 Berlin to 2026-01-26 09:00.
        let turns = r.turns(at("Europe/Berlin", 2026, 1, 21, 12, 0));
        let who: Vec<&str> = turns.iter().map(|s| s.who).collect();
        assert_eq!(who, ["carol", "alice", "bob"]);
        assert_eq!(turns[0].start, at("Europe/Berlin", 2026, 1, 19, 9, 0));
        assert_eq!(turns[1].start, at("Europe/Berlin", 2026, 1, 26, 9, 0));
        assert_eq!(turns[2].start, at("Europe/Berlin", 2026, 2, 2, 9, 0));
        // At the hand-off instant the new person is on shift.
        let at_handoff = r.turns(at("Europe/Berlin", 2026, 1, 26, 9, 0));
        assert_eq!(at_handoff[0].who, "alice");
    }

    fn hours(a: Timestamp, b: Timestamp) -> i64 {
        b.duration_since(a).as_hours()
    }

    #[test]
    fn the_first_participant_takes_over_at_the_first_hand_off() {
        let r = berlin_weekly();
        let on = r.on_call_at(at("Europe/Berlin", 2026, 1, 5, 9, 0), &[]);
        assert_eq!((on.primary, on.secondary), ("alice", Some("bob")));
        assert_eq!(on.until, Some(at("Europe/Berlin", 2026, 1, 12, 9, 0)));
        assert!(!on.overridden);
    }

    #[test]
    fn a_minute_before_the_hand_off_the_previous_person_is_still_on_call() {
        let r = berlin_weekly();
        // Before the first hand-off the rotation runs backwards: Carol had the week before.
        assert_eq!(r.on_call_at(at("Europe/Berlin", 2026, 1, 5, 8, 59), &[]).primary, "carol");
        assert_eq!(r.on_call_at(at("Europe/Berlin", 2026, 1, 12, 8, 59), &[]).primary, "alice");
        let bob = r.on_call_at(at("Europe/Berlin", 2026, 1, 12, 9, 0), &[]);
        assert_eq!((bob.primary, bob.secondary), ("bob", Some("carol")));
    }

    #[test]
    fn the_rotation_wraps_around_to_the_first_participant() {
        let r = berlin_weekly();
        let carol = r.on_call_at(at("Europe/Berlin", 2026, 1, 19, 12, 0), &[]);
        assert_eq!((carol.primary, carol.secondary), ("carol", Some("alice")));
        assert_eq!(r.on_call_at(at("Europe/Berlin", 2026, 1, 26, 9, 0), &[]).primary, "alice");
        // A year later the count still holds: 52 weeks after the start is shift 52, 52 % 3 = 1.
        assert_eq!(r.on_call_at(at("Europe/Berlin", 2027, 1, 4, 10, 0), &[]).primary, "bob");
    }

    #[test]
    fn a_start_date_off_the_hand_off_weekday_starts_on_the_next_such_weekday() {
        let schedule = Schedule::new(zone("UTC"), date(2026, 1, 7), Weekday::Monday, time(10, 0, 0, 0), 7)
            .expect("valid");
        assert_eq!(schedule.first_day(), date(2026, 1, 12));
        assert_eq!(schedule.handoff(0), utc("2026-01-12T10:00:00Z"));
        assert_eq!(schedule.handoff(-1), utc("2026-01-05T10:00:00Z"));
    }

    #[test]
    fn a_weekly_shift_across_spring_forward_lasts_167_hours_and_keeps_nine_oclock() {
        let r = berlin_weekly();
        // Europe/Berlin moved to CEST on Sunday 2026-03-29.
        let shift = r.shift_at(at("Europe/Berlin", 2026, 3, 28, 12, 0));
        assert_eq!(shift.start, utc("2026-03-23T08:00:00Z"), "09:00 CET");
        assert_eq!(shift.end, utc("2026-03-30T07:00:00Z"), "09:00 CEST");
        assert_eq!(hours(shift.start, shift.end), 167);
    }

    #[test]
    fn a_weekly_shift_across_fall_back_lasts_169_hours_and_keeps_nine_oclock() {
        let r = berlin_weekly();
        // Europe/Berlin went back to CET on Sunday 2026-10-25.
        let shift = r.shift_at(at("Europe/Berlin", 2026, 10, 25, 12, 0));
        assert_eq!(shift.start, utc("2026-10-19T07:00:00Z"));
        assert_eq!(shift.end, utc("2026-10-26T08:00:00Z"));
        assert_eq!(hours(shift.start, shift.end), 169);
    }

    #[test]
    fn a_hand_off_time_that_dst_skips_moves_forward_by_the_gap() {
        // Daily at 02:30 in Berlin: 2026-03-29 02:30 does not exist, so it happens at 03:30 CEST.
        let schedule =
            Schedule::new(zone("Europe/Berlin"), date(2026, 3, 1), Weekday::Sunday, time(2, 30, 0, 0), 1)
                .expect("valid");
        let r = Rotation::new(vec!["a", "b"], schedule).expect("valid");
        let gap_day = r.shift_at(at("Europe/Berlin", 2026, 3, 29, 12, 0));
        assert_eq!(gap_day.start, utc("2026-03-29T01:30:00Z"), "03:30 CEST");
        assert_eq!(hours(gap_day.start, gap_day.end), 23, "to 02:30 CEST the next day");
        let before = r.shift_at(at("Europe/Berlin", 2026, 3, 28, 12, 0));
        assert_eq!(before.end, gap_day.start);
        assert_eq!(hours(before.start, before.end), 24);
    }

    #[test]
    fn a_hand_off_time_that_dst_repeats_takes_its_first_occurrence() {
        let schedule =
            Schedule::new(zone("Europe/Berlin"), date(2026, 10, 1), Weekday::Thursday, time(2, 30, 0, 0), 1)
                .expect("valid");
        let r = Rotation::new(vec!["a", "b"], schedule).expect("valid");
        let fold_day = r.shift_at(at("Europe/Berlin", 2026, 10, 25, 12, 0));
        assert_eq!(fold_day.start, utc("2026-10-25T00:30:00Z"), "02:30 CEST, the first 02:30");
        assert_eq!(hours(fold_day.start, fold_day.end), 25);
    }

    #[test]
    fn new_york_hand_offs_follow_its_own_dst_dates() {
        let schedule = Schedule::new(
            zone("America/New_York"),
            date(2026, 3, 2),
            Weekday::Monday,
            time(10, 0, 0, 0),
            DEFAULT_LENGTH_DAYS,
        )
        .expect("valid");
        let r = Rotation::new(vec!["x", "y"], schedule).expect("valid");
        // DST began 2026-03-08 in New York (two weeks before Europe).
        let shift = r.shift_at(at("America/New_York", 2026, 3, 8, 12, 0));
        assert_eq!(shift.start, utc("2026-03-02T15:00:00Z"), "10:00 EST");
        assert_eq!(shift.end, utc("2026-03-09T14:00:00Z"), "10:00 EDT");
    }

    #[test]
    fn fortnightly_and_daily_rotations_count_their_own_lengths() {
        let fortnight = Schedule::new(zone("UTC"), date(2026, 1, 5), Weekday::Monday, time(9, 0, 0, 0), 14)
            .expect("valid");
        let r = Rotation::new(vec!["a", "b"], fortnight).expect("valid");
        assert_eq!(r.on_call_at(utc("2026-01-18T12:00:00Z"), &[]).primary, "a");
        assert_eq!(r.on_call_at(utc("2026-01-19T09:00:00Z"), &[]).primary, "b");
        let daily = Schedule::new(zone("UTC"), date(2026, 1, 5), Weekday::Monday, time(0, 0, 0, 0), 1)
            .expect("valid");
        let r = Rotation::new(vec!["a", "b", "c"], daily).expect("valid");
        assert_eq!(r.on_call_at(utc("2026-01-07T23:59:59Z"), &[]).primary, "c");
        assert_eq!(r.on_call_at(utc("2026-01-08T00:00:00Z"), &[]).primary, "a");
    }

    #[test]
    fn an_override_takes_the_primary_slot_while_it_lasts() {
        let r = berlin_weekly();
        let cover = Override::new(
            at("Europe/Berlin", 2026, 1, 7, 18, 0),
            at("Europe/Berlin", 2026, 1, 8, 8, 0),
            "dave",
        )
        .expect("valid");
        let during = r.on_call_at(at("Europe/Berlin", 2026, 1, 7, 23, 0), std::slice::from_ref(&cover));
        assert_eq!((during.primary, during.secondary), ("dave", Some("bob")));
        assert!(during.overridden);
        assert_eq!(during.until, Some(cover.until()));
        let before = r.on_call_at(at("Europe/Berlin", 2026, 1, 7, 17, 59), std::slice::from_ref(&cover));
        assert_eq!(before.primary, "alice");
        assert_eq!(before.until, Some(cover.from()), "Alice hands over to Dave at the override's start");
        let after = r.on_call_at(cover.until(), std::slice::from_ref(&cover));
        assert_eq!(after.primary, "alice", "the end is exclusive");
    }

    #[test]
    fn the_secondary_skips_someone_who_already_covers_as_primary() {
        let r = berlin_weekly();
        let cover = Override::new(
            at("Europe/Berlin", 2026, 1, 6, 0, 0),
            at("Europe/Berlin", 2026, 1, 7, 0, 0),
            "bob",
        )
        .expect("valid");
        let on = r.on_call_at(at("Europe/Berlin", 2026, 1, 6, 12, 0), &[cover]);
        assert_eq!((on.primary, on.secondary), ("bob", Some("carol")));
    }

    #[test]
    fn the_later_of_two_overlapping_overrides_wins() {
        let r = berlin_weekly();
        let first =
            Override::new(utc("2026-01-06T00:00:00Z"), utc("2026-01-08T00:00:00Z"), "dave").expect("valid");
        let second =
            Override::new(utc("2026-01-07T00:00:00Z"), utc("2026-01-07T12:00:00Z"), "erin").expect("valid");
        let overrides = [first, second];
        assert_eq!(r.on_call_at(utc("2026-01-06T12:00:00Z"), &overrides).primary, "dave");
        assert_eq!(r.on_call_at(utc("2026-01-07T06:00:00Z"), &overrides).primary, "erin");
        assert_eq!(r.on_call_at(utc("2026-01-07T12:00:00Z"), &overrides).primary, "dave");
    }

    #[test]
    fn an_override_across_a_hand_off_covers_both_shifts() {
        let r = berlin_weekly();
        let cover = Override::new(
            at("Europe/Berlin", 2026, 1, 11, 0, 0),
            at("Europe/Berlin", 2026, 1, 13, 0, 0),
            "dave",
        )
        .expect("valid");
        let monday = r.on_call_at(at("Europe/Berlin", 2026, 1, 12, 10, 0), std::slice::from_ref(&cover));
        // Bob's shift has begun (Dave covers it), so the secondary is the one after Bob.
        assert_eq!((monday.primary, monday.secondary), ("dave", Some("carol")));
        let plan =
            r.plan(at("Europe/Berlin", 2026, 1, 10, 0, 0), at("Europe/Berlin", 2026, 1, 14, 0, 0), &[cover]);
        let who: Vec<(&str, bool)> = plan.iter().map(|s| (s.who, s.overridden)).collect();
        assert_eq!(who, [("alice", false), ("dave", true), ("bob", false)]);
    }

    #[test]
    fn one_person_has_no_secondary_and_no_change_in_sight() {
        let schedule = Schedule::new(zone("UTC"), date(2026, 1, 5), Weekday::Monday, time(9, 0, 0, 0), 7)
            .expect("valid");
        let r = Rotation::new(vec!["solo"], schedule).expect("valid");
        let on = r.on_call_at(utc("2026-02-01T00:00:00Z"), &[]);
        assert_eq!((on.primary, on.secondary, on.until), ("solo", None, None));
    }

    #[test]
    fn four_weeks_ahead_lists_each_shift_with_overrides_cut_in() {
        let r = berlin_weekly();
        let from = at("Europe/Berlin", 2026, 1, 7, 12, 0);
        let until = from.checked_add(SignedDuration::from_hours(28 * 24)).expect("in range");
        let cover = Override::new(
            at("Europe/Berlin", 2026, 1, 14, 0, 0),
            at("Europe/Berlin", 2026, 1, 15, 0, 0),
            "dave",
        )
        .expect("valid");
        let plan = r.plan(from, until, &[cover]);
        let who: Vec<&str> = plan.iter().map(|s| s.who).collect();
        assert_eq!(who, ["alice", "bob", "dave", "bob", "carol", "alice", "bob"]);
        assert_eq!(plan[0].start, from);
        assert_eq!(plan[0].end, at("Europe/Berlin", 2026, 1, 12, 9, 0));
        assert_eq!(plan.last().map(|s| s.end), Some(until));
        assert!(plan.windows(2).all(|w| w[0].end == w[1].start), "no gaps, no overlaps");
        assert!(plan[2].overridden && !plan[1].overridden);
    }

    #[test]
    fn an_empty_or_backwards_window_has_no_plan() {
        let r = berlin_weekly();
        let t = utc("2026-01-07T00:00:00Z");
        assert!(r.plan(t, t, &[]).is_empty());
        assert!(r.plan(t, utc("2026-01-01T00:00:00Z"), &[]).is_empty());
    }

    #[test]
    fn manager_and_responder_rotations_are_independent() {
        let managers = Rotation::new(
            vec!["mia", "max"],
            Schedule::new(zone("Europe/Berlin"), date(2026, 1, 1), Weekday::Friday, time(17, 0, 0, 0), 14)
                .expect("valid"),
        )
        .expect("valid");
        let responders = berlin_weekly();
        let t = at("Europe/Berlin", 2026, 1, 16, 18, 0);
        let now = on_call_now(Some((&responders, &[])), Some((&managers, &[])), t);
        assert_eq!(now.primary(), Some(&"bob"));
        assert_eq!(now.secondary(), Some(&"carol"));
        assert_eq!(now.manager(), Some(&"max"));
        let nobody = on_call_now::<&str>(None, None, t);
        assert_eq!((nobody.primary(), nobody.secondary(), nobody.manager()), (None, None, None));
    }

    #[test]
    fn invalid_rotations_and_overrides_are_refused() {
        let schedule = || {
            Schedule::new(zone("UTC"), date(2026, 1, 5), Weekday::Monday, time(9, 0, 0, 0), 7).expect("valid")
        };
        assert_eq!(Rotation::<&str>::new(vec![], schedule()), Err(RotationError::NoParticipants));
        assert_eq!(
            Rotation::new(vec!["a", "b", "a"], schedule()),
            Err(RotationError::DuplicateParticipant { position: 3 })
        );
        assert_eq!(
            Rotation::new((0..101).collect(), schedule()),
            Err(RotationError::TooManyParticipants(101))
        );
        for bad in [0, 366] {
            assert_eq!(
                Schedule::new(zone("UTC"), date(2026, 1, 5), Weekday::Monday, time(9, 0, 0, 0), bad),
                Err(RotationError::BadLength(bad))
            );
        }
        let t = utc("2026-01-05T00:00:00Z");
        assert_eq!(Override::new(t, t, "a"), Err(RotationError::OverrideEndsBeforeStart));
        let far = t.checked_add(SignedDuration::from_hours(91 * 24)).expect("in range");
        assert_eq!(Override::new(t, far, "a"), Err(RotationError::OverrideTooLong));
    }

    #[test]
    fn hand_offs_far_outside_the_calendar_saturate() {
        let s = berlin_weekly().schedule().clone();
        assert_eq!(s.handoff(i64::MAX), Timestamp::MAX);
        assert_eq!(s.handoff(i64::MIN), Timestamp::MIN);
    }

    proptest! {
        #[test]
        fn every_instant_lies_in_the_shift_the_index_names(secs in 1_600_000_000i64..2_000_000_000, len in 1u16..30) {
            let schedule = Schedule::new(zone("Europe/Berlin"), date(2025, 3, 1), Weekday::Sunday, time(2, 30, 0, 0), len)
                .expect("valid");
            let t = Timestamp::from_second(secs).expect("in range");
            let i = schedule.index_at(t);
            prop_assert!(schedule.handoff(i) <= t && t < schedule.handoff(i + 1));
        }

        #[test]
        fn the_plan_agrees_with_on_call_at(secs in 1_700_000_000i64..1_800_000_000, probe in 0i64..(28 * 86_400)) {
            let r = berlin_weekly();
            let from = Timestamp::from_second(secs).expect("in range");
            let until = from.checked_add(SignedDuration::from_hours(28 * 24)).expect("in range");
            let cover = Override::new(
                from.checked_add(SignedDuration::from_hours(30)).expect("in range"),
                from.checked_add(SignedDuration::from_hours(80)).expect("in range"),
                "dave",
            ).expect("valid");
            let overrides = [cover];
            let t = from.checked_add(SignedDuration::from_secs(probe)).expect("in range");
            let plan = r.plan(from, until, &overrides);
            let segment = plan.iter().find(|s| s.start <= t && t < s.end).expect("covered");
            prop_assert_eq!(segment.who, r.on_call_at(t, &overrides).primary);
        }
    }
}
