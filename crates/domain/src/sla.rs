//! SLA policy per severity, deadline math from an incident's start, and SLA clocks.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::business_hours::BusinessHours;
use crate::severity::Severity;

/// How long (wall-clock) after the primary on call is paged the secondary is paged, if
/// nobody has acknowledged: 15 minutes.
pub const SECONDARY_AFTER: SignedDuration = SignedDuration::from_mins(15);

/// The longest response target an admin may set: 7 days.
pub const MAX_RESPONSE_TARGET: SignedDuration = SignedDuration::from_hours(7 * 24);

/// When the secondary on call is paged if the page sent at `primary_paged_at` is still
/// unacknowledged.
pub fn secondary_page_at(primary_paged_at: Timestamp) -> Timestamp {
    add_saturating(primary_paged_at, SECONDARY_AFTER)
}

/// When an unresolved incident is escalated to the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// At the incident's start.
    Immediately,
    /// This long (wall-clock, must be positive) after the incident's start.
    After(SignedDuration),
    /// At the opening of the team's next business day after the day the incident started.
    NextBusinessDay,
}

impl fmt::Display for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Escalation::Immediately => f.write_str("immediately"),
            Escalation::After(delay) => write!(f, "after {}", compact_duration(*delay)),
            Escalation::NextBusinessDay => f.write_str("next business day"),
        }
    }
}

/// The targets for one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlaTarget {
    /// How long (wall-clock) after the start an incident must be acknowledged.
    pub response: SignedDuration,
    /// When an unresolved incident goes to the manager.
    pub escalation: Escalation,
}

/// Which field of an SLA target a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaField {
    /// [`SlaTarget::response`].
    Response,
    /// [`SlaTarget::escalation`].
    Escalation,
}

impl SlaField {
    /// The field's name as in forms and JSON (`"response"`, `"escalation"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SlaField::Response => "response",
            SlaField::Escalation => "escalation",
        }
    }
}

/// Why an SLA policy was refused; each names the severity and field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaPolicyError {
    /// A response target of zero or less.
    #[error("{severity} response target must be positive, got {}", compact_duration_signed(*.got))]
    ResponseNotPositive {
        /// The severity whose target is wrong.
        severity: Severity,
        /// The rejected target.
        got: SignedDuration,
    },
    /// A response target longer than [`MAX_RESPONSE_TARGET`].
    #[error("{severity} response target must be at most 7 days, got {}", compact_duration(*.got))]
    ResponseTooLong {
        /// The severity whose target is wrong.
        severity: Severity,
        /// The rejected target.
        got: SignedDuration,
    },
    /// An [`Escalation::After`] delay of zero or less.
    #[error("{severity} escalation delay must be positive, got {}", compact_duration_signed(*.got))]
    EscalationNotPositive {
        /// The severity whose escalation is wrong.
        severity: Severity,
        /// The rejected delay.
        got: SignedDuration,
    },
}

impl SlaPolicyError {
    /// The severity whose target was refused.
    pub fn severity(&self) -> Severity {
        match self {
            SlaPolicyError::ResponseNotPositive { severity, .. }
            | SlaPolicyError::ResponseTooLong { severity, .. }
            | SlaPolicyError::EscalationNotPositive { severity, .. } => *severity,
        }
    }

    /// The field that was refused, so a form can mark it.
    pub fn field(&self) -> SlaField {
        match self {
            SlaPolicyError::ResponseNotPositive { .. } | SlaPolicyError::ResponseTooLong { .. } => {
                SlaField::Response
            }
            SlaPolicyError::EscalationNotPositive { .. } => SlaField::Escalation,
        }
    }
}

impl SlaTarget {
    /// Checks this target as the one for `severity`.
    pub fn validate(&self, severity: Severity) -> Result<(), SlaPolicyError> {
        if !self.response.is_positive() {
            return Err(SlaPolicyError::ResponseNotPositive { severity, got: self.response });
        }
        if self.response > MAX_RESPONSE_TARGET {
            return Err(SlaPolicyError::ResponseTooLong { severity, got: self.response });
        }
        if let Escalation::After(delay) = self.escalation
            && !delay.is_positive()
        {
            return Err(SlaPolicyError::EscalationNotPositive { severity, got: delay });
        }
        Ok(())
    }
}

/// The validated targets for every severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlaPolicy {
    /// Indexed by severity, P0 first; every entry has passed [`SlaTarget::validate`].
    targets: [SlaTarget; 4],
}

impl SlaPolicy {
    /// The runbook's escalation matrix: P0 5 min / immediately, P1 15 min / after 30 min,
    /// P2 1 h / after 2 h, P3 4 h / next business day.
    pub const fn reference() -> SlaPolicy {
        SlaPolicy {
            targets: [
                SlaTarget { response: SignedDuration::from_mins(5), escalation: Escalation::Immediately },
                SlaTarget {
                    response: SignedDuration::from_mins(15),
                    escalation: Escalation::After(SignedDuration::from_mins(30)),
                },
                SlaTarget {
                    response: SignedDuration::from_hours(1),
                    escalation: Escalation::After(SignedDuration::from_hours(2)),
                },
                SlaTarget {
                    response: SignedDuration::from_hours(4),
                    escalation: Escalation::NextBusinessDay,
                },
            ],
        }
    }

    /// A policy from the P0, P1, P2 and P3 targets, in that order, each validated.
    pub fn new(targets: [SlaTarget; 4]) -> Result<SlaPolicy, SlaPolicyError> {
        for (severity, target) in Severity::ALL.into_iter().zip(&targets) {
            target.validate(severity)?;
        }
        Ok(SlaPolicy { targets })
    }

    /// This policy with the target for `severity` replaced (an admin editing one row).
    pub fn with_target(self, severity: Severity, target: SlaTarget) -> Result<SlaPolicy, SlaPolicyError> {
        target.validate(severity)?;
        let mut targets = self.targets;
        targets[index(severity)] = target;
        Ok(SlaPolicy { targets })
    }

    /// The target for `severity`.
    pub fn target(&self, severity: Severity) -> SlaTarget {
        self.targets[index(severity)]
    }

    /// Every severity with its target, P0 first.
    pub fn targets(&self) -> impl Iterator<Item = (Severity, SlaTarget)> + '_ {
        Severity::ALL.into_iter().zip(self.targets)
    }

    /// The deadlines of an incident of `severity` that started at `started_at`.
    ///
    /// Always computed from the start, not from now: a backdated start gives deadlines
    /// that may already be past, and a severity change is handled by calling this again
    /// with the new severity and the same start.
    pub fn deadlines(&self, severity: Severity, started_at: Timestamp, hours: &BusinessHours) -> Deadlines {
        let target = self.target(severity);
        let escalate_by = match target.escalation {
            Escalation::Immediately => started_at,
            Escalation::After(delay) => add_saturating(started_at, delay),
            Escalation::NextBusinessDay => hours.next_business_day_start(started_at),
        };
        Deadlines { respond_by: add_saturating(started_at, target.response), escalate_by }
    }
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy::reference()
    }
}

const fn index(severity: Severity) -> usize {
    match severity {
        Severity::P0 => 0,
        Severity::P1 => 1,
        Severity::P2 => 2,
        Severity::P3 => 3,
    }
}

/// The two deadlines of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deadlines {
    /// Acknowledging after this instant is a response SLA breach.
    pub respond_by: Timestamp,
    /// If still unresolved at this instant, the incident goes to the manager.
    pub escalate_by: Timestamp,
}

fn add_saturating(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() { Timestamp::MIN } else { Timestamp::MAX })
}

/// Where an SLA clock stands relative to its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// The deadline has not passed (at the deadline itself, `remaining` is zero: still met).
    Due {
        /// Time left until the deadline, zero or positive.
        remaining: SignedDuration,
    },
    /// The deadline has passed.
    Overdue {
        /// How long ago the deadline passed, positive.
        by: SignedDuration,
    },
}

impl Clock {
    /// Whether the deadline has passed.
    pub fn is_overdue(&self) -> bool {
        matches!(self, Clock::Overdue { .. })
    }
}

/// The clock of `deadline` as seen at `now`.
pub fn clock(deadline: Timestamp, now: Timestamp) -> Clock {
    let remaining = deadline.duration_since(now);
    if remaining.is_negative() { Clock::Overdue { by: -remaining } } else { Clock::Due { remaining } }
}

impl fmt::Display for Clock {
    /// `"due in 4 min"`, `"due in 1 h 20 min"`, `"due in 40 s"`, `"due now"`,
    /// `"overdue by 3 min"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::Due { remaining } if remaining.as_secs() == 0 => f.write_str("due now"),
            Clock::Due { remaining } => write!(f, "due in {}", compact_duration(*remaining)),
            Clock::Overdue { by } => write!(f, "overdue by {}", compact_duration(*by)),
        }
    }
}

/// A compact human length of `d`, sign ignored, truncated to its two largest units:
/// `"40 s"`, `"4 min"`, `"1 h 20 min"`, `"2 h"`, `"3 d 4 h"`.
///
/// Truncation means a countdown never promises more time than is left.
pub fn compact_duration(d: SignedDuration) -> String {
    let secs = d.as_secs().unsigned_abs();
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// Like [`compact_duration`] but keeps a minus sign, for error messages about bad input.
fn compact_duration_signed(d: SignedDuration) -> String {
    if d.is_negative() { format!("-{}", compact_duration(d)) } else { compact_duration(d) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use jiff::tz::TimeZone;

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
        s.parse().expect("valid RFC 3339 timestamp")
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    fn berlin() -> BusinessHours {
        BusinessHours::standard(zone("Europe/Berlin"))
    }

    fn new_york() -> BusinessHours {
        BusinessHours::standard(zone("America/New_York"))
    }

    fn deadlines(severity: Severity, started_at: Timestamp, hours: &BusinessHours) -> Deadlines {
        SlaPolicy::reference().deadlines(severity, started_at, hours)
    }

    #[test]
    fn the_reference_policy_is_the_runbook_table() {
        let policy = SlaPolicy::reference();
        let rows: Vec<_> = policy
            .targets()
            .map(|(s, t)| format!("{s} {} / {}", compact_duration(t.response), t.escalation))
            .collect();
        assert_eq!(
            rows,
            [
                "P0 5 min / immediately",
                "P1 15 min / after 30 min",
                "P2 1 h / after 2 h",
                "P3 4 h / next business day",
            ]
        );
        assert_eq!(SlaPolicy::new(policy.targets).as_ref(), Ok(&policy));
        assert_eq!(SlaPolicy::default(), policy);
    }

    #[test]
    fn p0_must_be_acknowledged_in_five_minutes_and_escalates_at_once() {
        let start = utc("2025-06-04T03:12:00Z");
        let got = deadlines(Severity::P0, start, &berlin());
        assert_eq!(got.respond_by, utc("2025-06-04T03:17:00Z"));
        assert_eq!(got.escalate_by, start);
    }

    #[test]
    fn p1_must_be_acknowledged_in_fifteen_minutes_and_escalates_after_thirty() {
        let start = utc("2025-06-04T03:12:00Z");
        let got = deadlines(Severity::P1, start, &berlin());
        assert_eq!(got.respond_by, utc("2025-06-04T03:27:00Z"));
        assert_eq!(got.escalate_by, utc("2025-06-04T03:42:00Z"));
    }

    #[test]
    fn p2_must_be_acknowledged_in_an_hour_and_escalates_after_two() {
        let start = utc("2025-06-07T22:30:00Z");
        let got = deadlines(Severity::P2, start, &berlin());
        assert_eq!(got.respond_by, utc("2025-06-07T23:30:00Z"));
        assert_eq!(got.escalate_by, utc("2025-06-08T00:30:00Z"));
    }

    #[test]
    fn p0_to_p2_deadlines_ignore_weekends_and_business_hours() {
        // Saturday 02:00 in Berlin: nothing waits for Monday.
        let start = at("Europe/Berlin", 2025, 6, 7, 2, 0);
        let got = deadlines(Severity::P1, start, &berlin());
        assert_eq!(got.respond_by, start + mins(15));
        assert_eq!(got.escalate_by, start + mins(30));
    }

    #[test]
    fn p3_declared_during_business_hours_escalates_at_the_next_business_days_opening() {
        let wednesday_ten = at("Europe/Berlin", 2025, 6, 4, 10, 0);
        let got = deadlines(Severity::P3, wednesday_ten, &berlin());
        assert_eq!(got.respond_by, at("Europe/Berlin", 2025, 6, 4, 14, 0));
        assert_eq!(got.escalate_by, at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn p3_declared_after_hours_escalates_the_next_morning() {
        let wednesday_night = at("Europe/Berlin", 2025, 6, 4, 21, 30);
        let got = deadlines(Severity::P3, wednesday_night, &berlin());
        assert_eq!(got.respond_by, at("Europe/Berlin", 2025, 6, 5, 1, 30));
        assert_eq!(got.escalate_by, at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn p3_declared_before_opening_escalates_the_following_business_day_not_the_same_morning() {
        let wednesday_early = at("Europe/Berlin", 2025, 6, 4, 6, 0);
        let got = deadlines(Severity::P3, wednesday_early, &berlin());
        assert_eq!(got.escalate_by, at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn p3_escalates_next_business_day_after_friday_evening() {
        let friday_evening = at("Europe/Berlin", 2025, 6, 6, 18, 30);
        let got = deadlines(Severity::P3, friday_evening, &berlin());
        assert_eq!(got.respond_by, at("Europe/Berlin", 2025, 6, 6, 22, 30));
        assert_eq!(got.escalate_by, at("Europe/Berlin", 2025, 6, 9, 9, 0));
    }

    #[test]
    fn p3_declared_on_friday_during_hours_escalates_on_monday() {
        let friday_morning = at("Europe/Berlin", 2025, 6, 6, 10, 0);
        let got = deadlines(Severity::P3, friday_morning, &berlin());
        assert_eq!(got.escalate_by, at("Europe/Berlin", 2025, 6, 9, 9, 0));
    }

    #[test]
    fn p3_declared_on_saturday_or_sunday_escalates_on_monday_morning() {
        let monday = at("Europe/Berlin", 2025, 6, 9, 9, 0);
        for start in [
            at("Europe/Berlin", 2025, 6, 7, 0, 0),
            at("Europe/Berlin", 2025, 6, 7, 11, 0),
            at("Europe/Berlin", 2025, 6, 8, 23, 59),
        ] {
            assert_eq!(deadlines(Severity::P3, start, &berlin()).escalate_by, monday);
        }
    }

    #[test]
    fn p3_escalation_crosses_the_berlin_spring_dst_weekend_at_nine_local() {
        // Clocks jump 02:00 -> 03:00 on Sunday 2025-03-30: Friday 09:00 was 08:00 UTC,
        // Monday 09:00 is 07:00 UTC.
        let friday_evening = at("Europe/Berlin", 2025, 3, 28, 19, 0);
        let got = deadlines(Severity::P3, friday_evening, &berlin());
        assert_eq!(got.escalate_by, utc("2025-03-31T07:00:00Z"));
        assert_eq!(got.respond_by, utc("2025-03-28T22:00:00Z"));
    }

    #[test]
    fn p3_escalation_crosses_the_berlin_autumn_dst_weekend_at_nine_local() {
        // Clocks go back 03:00 -> 02:00 on Sunday 2025-10-26: Monday 09:00 is 08:00 UTC.
        let saturday = at("Europe/Berlin", 2025, 10, 25, 12, 0);
        let got = deadlines(Severity::P3, saturday, &berlin());
        assert_eq!(got.escalate_by, utc("2025-10-27T08:00:00Z"));
    }

    #[test]
    fn p3_escalation_crosses_the_new_york_dst_weekends_at_nine_local() {
        let spring = deadlines(Severity::P3, at("America/New_York", 2025, 3, 7, 20, 0), &new_york());
        assert_eq!(spring.escalate_by, utc("2025-03-10T13:00:00Z"));
        let autumn = deadlines(Severity::P3, at("America/New_York", 2025, 10, 31, 20, 0), &new_york());
        assert_eq!(autumn.escalate_by, utc("2025-11-03T14:00:00Z"));
    }

    #[test]
    fn response_targets_are_elapsed_time_even_across_a_dst_jump() {
        // Sunday 01:50 in Berlin on 2025-03-30 plus 15 real minutes reads 03:05 on the wall.
        let start = at("Europe/Berlin", 2025, 3, 30, 1, 50);
        let got = deadlines(Severity::P1, start, &berlin());
        let local = got.respond_by.to_zoned_datetime(zone("Europe/Berlin"));
        assert_eq!((local.hour(), local.minute()), (3, 5));
        assert_eq!(got.respond_by.duration_since(start), mins(15));
    }

    #[test]
    fn response_targets_are_elapsed_time_in_the_repeated_autumn_hour() {
        // 01:50 EDT on 2025-11-02 in New York plus 15 minutes is 01:05 EST.
        let start = utc("2025-11-02T05:50:00Z");
        let got = deadlines(Severity::P1, start, &new_york());
        let local = got.respond_by.to_zoned_datetime(zone("America/New_York"));
        assert_eq!((local.hour(), local.minute()), (1, 5));
        assert_eq!(got.respond_by, utc("2025-11-02T06:05:00Z"));
    }

    #[test]
    fn a_backdated_start_gives_deadlines_that_have_already_passed() {
        let now = utc("2025-06-04T10:00:00Z");
        let started = now - SignedDuration::from_hours(2);
        let got = deadlines(Severity::P1, started, &berlin());
        assert_eq!(clock(got.respond_by, now), Clock::Overdue { by: mins(105) });
        assert_eq!(clock(got.escalate_by, now), Clock::Overdue { by: mins(90) });
        assert_eq!(clock(got.respond_by, now).to_string(), "overdue by 1 h 45 min");
    }

    #[test]
    fn a_severity_change_recomputes_deadlines_from_the_original_start() {
        let start = utc("2025-06-04T03:12:00Z");
        let as_p2 = deadlines(Severity::P2, start, &berlin());
        // Raised to P0 at 03:40: the 5-minute target counts from 03:12, already missed.
        let raised_at = utc("2025-06-04T03:40:00Z");
        let as_p0 = deadlines(Severity::P0, start, &berlin());
        assert_eq!(as_p2.respond_by, utc("2025-06-04T04:12:00Z"));
        assert_eq!(as_p0.respond_by, utc("2025-06-04T03:17:00Z"));
        assert_eq!(as_p0.escalate_by, start);
        assert!(clock(as_p0.respond_by, raised_at).is_overdue());
        // Lowered to P3 instead: escalation moves to the next business day.
        let as_p3 = deadlines(Severity::P3, start, &berlin());
        assert_eq!(as_p3.respond_by, utc("2025-06-04T07:12:00Z"));
        assert_eq!(as_p3.escalate_by, at("Europe/Berlin", 2025, 6, 5, 9, 0));
    }

    #[test]
    fn an_edited_policy_changes_only_its_severity() {
        let p1 = SlaTarget { response: mins(10), escalation: Escalation::After(mins(20)) };
        let policy = SlaPolicy::reference().with_target(Severity::P1, p1).expect("valid target");
        assert_eq!(policy.target(Severity::P1), p1);
        assert_eq!(policy.target(Severity::P0), SlaPolicy::reference().target(Severity::P0));
        let start = utc("2025-06-04T03:00:00Z");
        let got = policy.deadlines(Severity::P1, start, &berlin());
        assert_eq!(got.respond_by, start + mins(10));
        assert_eq!(got.escalate_by, start + mins(20));
    }

    #[test]
    fn response_targets_must_be_positive() {
        for bad in [SignedDuration::ZERO, mins(-5)] {
            let target = SlaTarget { response: bad, escalation: Escalation::Immediately };
            let err =
                SlaPolicy::reference().with_target(Severity::P0, target).expect_err("non-positive response");
            assert_eq!(err.field(), SlaField::Response);
            assert_eq!(err.severity(), Severity::P0);
        }
        let err = SlaTarget { response: mins(-5), escalation: Escalation::Immediately }
            .validate(Severity::P2)
            .expect_err("negative");
        assert_eq!(err.to_string(), "P2 response target must be positive, got -5 min");
    }

    #[test]
    fn response_targets_may_be_at_most_seven_days() {
        let week =
            SlaTarget { response: SignedDuration::from_hours(168), escalation: Escalation::NextBusinessDay };
        assert!(week.validate(Severity::P3).is_ok());
        let longer =
            SlaTarget { response: SignedDuration::from_hours(168) + SignedDuration::from_secs(1), ..week };
        let err = longer.validate(Severity::P3).expect_err("too long");
        assert!(matches!(err, SlaPolicyError::ResponseTooLong { severity: Severity::P3, .. }));
        assert_eq!(err.to_string(), "P3 response target must be at most 7 days, got 7 d");
    }

    #[test]
    fn escalation_delays_must_be_positive() {
        let target = SlaTarget { response: mins(15), escalation: Escalation::After(SignedDuration::ZERO) };
        let mut targets = [SlaPolicy::reference().target(Severity::P0); 4];
        targets[1] = target;
        let err = SlaPolicy::new(targets).expect_err("zero delay");
        assert_eq!(err.field(), SlaField::Escalation);
        assert_eq!(err.field().as_str(), "escalation");
        assert_eq!(err.to_string(), "P1 escalation delay must be positive, got 0 s");
    }

    #[test]
    fn the_secondary_is_paged_fifteen_minutes_after_the_primary() {
        assert_eq!(SECONDARY_AFTER, mins(15));
        // The night journey: declared 03:12, secondary at 03:27.
        assert_eq!(secondary_page_at(utc("2025-06-04T03:12:00Z")), utc("2025-06-04T03:27:00Z"));
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let got = deadlines(Severity::P2, Timestamp::MAX, &berlin());
        assert_eq!(got.respond_by, Timestamp::MAX);
        assert_eq!(got.escalate_by, Timestamp::MAX);
    }

    #[test]
    fn a_clock_is_due_until_and_including_its_deadline() {
        let deadline = utc("2025-06-04T03:27:00Z");
        assert_eq!(clock(deadline, utc("2025-06-04T03:23:00Z")), Clock::Due { remaining: mins(4) });
        assert_eq!(clock(deadline, deadline), Clock::Due { remaining: SignedDuration::ZERO });
        assert_eq!(
            clock(deadline, utc("2025-06-04T03:27:01Z")),
            Clock::Overdue { by: SignedDuration::from_secs(1) }
        );
    }

    #[test]
    fn clocks_read_as_compact_human_phrases() {
        let deadline = utc("2025-06-04T12:00:00Z");
        let cases = [
            ("2025-06-04T11:56:00Z", "due in 4 min"),
            ("2025-06-04T11:55:01Z", "due in 4 min"),
            ("2025-06-04T10:40:00Z", "due in 1 h 20 min"),
            ("2025-06-04T10:00:00Z", "due in 2 h"),
            ("2025-06-04T11:59:20Z", "due in 40 s"),
            ("2025-06-04T12:00:00Z", "due now"),
            ("2025-06-04T12:00:00.5Z", "overdue by 0 s"),
            ("2025-06-04T12:00:59Z", "overdue by 59 s"),
            ("2025-06-04T12:03:00Z", "overdue by 3 min"),
            ("2025-06-04T13:20:00Z", "overdue by 1 h 20 min"),
            ("2025-06-01T08:00:00Z", "due in 3 d 4 h"),
            ("2025-06-02T12:00:00Z", "due in 2 d"),
        ];
        for (now, want) in cases {
            assert_eq!(clock(deadline, utc(now)).to_string(), want, "at {now}");
        }
    }

    #[test]
    fn escalation_and_targets_serialize_readably() {
        let target = SlaPolicy::reference().target(Severity::P1);
        let json = serde_json::to_value(target).expect("serializable");
        assert_eq!(json, serde_json::json!({"response": "PT15M", "escalation": {"after": "PT30M"}}));
        let back: SlaTarget = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, target);
        assert_eq!(
            serde_json::to_string(&Escalation::NextBusinessDay).expect("serializable"),
            "\"next_business_day\""
        );
    }
}
