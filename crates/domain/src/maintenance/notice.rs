//! The 48-hour rule: how long before its start a window was announced, and when a manager
//! must approve a shorter notice.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::overrides::{OverrideError, OverrideKind, OverrideRequest, Reason, authorize_override};

/// The least notice a window needs without an override: 48 hours of elapsed time.
///
/// Elapsed time, not "two calendar days at the same clock time": announced on the Friday
/// before spring-forward at 10:00, a window at 10:00 on Sunday gets only 47 hours.
pub const MIN_NOTICE: SignedDuration = SignedDuration::from_hours(48);

/// When a window was announced and when it is planned to start.
///
/// The announcement is the moment the window is scheduled (draft → scheduled): that is
/// when it appears on the status page. Moving a scheduled window's start announces the new
/// time; the notice still counts from the original announcement (see [`super::reschedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Notice {
    announced_at: Timestamp,
    starts_at: Timestamp,
}

/// Whether a window's notice meets the 48-hour rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeDecision {
    /// At least [`MIN_NOTICE`]: schedule it.
    Sufficient {
        /// Elapsed time from the announcement to the start.
        notice: SignedDuration,
    },
    /// Less than [`MIN_NOTICE`]: only a manager's override with a reason lets it through
    /// (see [`check_short_notice_override`]).
    NeedsOverride {
        /// Elapsed time from the announcement to the start, zero or positive.
        notice: SignedDuration,
        /// How much is missing to reach [`MIN_NOTICE`], positive.
        short_by: SignedDuration,
    },
    /// The planned start is before the announcement: nobody can be warned of the past.
    /// Not overridable; the start must be moved.
    StartsBeforeAnnouncement {
        /// How long before the announcement the start lies, positive.
        by: SignedDuration,
    },
}

impl NoticeDecision {
    /// Whether the window may be scheduled without an override.
    pub const fn is_sufficient(&self) -> bool {
        matches!(self, NoticeDecision::Sufficient { .. })
    }

    /// Whether the window may be scheduled only with a manager's override.
    pub const fn needs_override(&self) -> bool {
        matches!(self, NoticeDecision::NeedsOverride { .. })
    }
}

impl Notice {
    /// The notice of a window announced at `announced_at` and starting at `starts_at`.
    pub const fn new(announced_at: Timestamp, starts_at: Timestamp) -> Notice {
        Notice { announced_at, starts_at }
    }

    /// When the window was announced.
    pub const fn announced_at(&self) -> Timestamp {
        self.announced_at
    }

    /// When the window is planned to start.
    pub const fn starts_at(&self) -> Timestamp {
        self.starts_at
    }

    /// Elapsed time from the announcement to the start (negative if the start is earlier).
    pub fn length(&self) -> SignedDuration {
        self.starts_at.duration_since(self.announced_at)
    }

    /// The 48-hour rule: exactly `starts_at − announced_at ≥ 48 h`, whatever the zone.
    pub fn decision(&self) -> NoticeDecision {
        let notice = self.length();
        if notice.is_negative() {
            NoticeDecision::StartsBeforeAnnouncement { by: -notice }
        } else if notice < MIN_NOTICE {
            NoticeDecision::NeedsOverride { notice, short_by: MIN_NOTICE - notice }
        } else {
            NoticeDecision::Sufficient { notice }
        }
    }

    /// The notice in words, with both times in `zone`:
    /// `"announced Fri 2027-03-26 10:00 CET, starts Sun 2027-03-28 09:00 CEST: 46 h notice,
    /// 2 h short of 48 h"`.
    ///
    /// The notice is rounded down and the shortfall up to the minute, so the message never
    /// claims more notice than was given.
    pub fn describe(&self, zone: &TimeZone) -> String {
        let times = format!(
            "announced {}, starts {}",
            local_minute(self.announced_at, zone),
            local_minute(self.starts_at, zone)
        );
        match self.decision() {
            NoticeDecision::Sufficient { notice } => {
                format!("{times}: {} notice", hours_minutes(notice, false))
            }
            NoticeDecision::NeedsOverride { notice, short_by } => format!(
                "{times}: {} notice, {} short of {}",
                hours_minutes(notice, false),
                hours_minutes(short_by, true),
                hours_minutes(MIN_NOTICE, false)
            ),
            NoticeDecision::StartsBeforeAnnouncement { by } => {
                format!("{times}: the start is {} before the announcement", hours_minutes(by, true))
            }
        }
    }
}

/// Checks a manager's override of a short notice and returns the reason to record.
///
/// Refused when the notice is sufficient ([`OverrideError::NotNeeded`]), when the start is
/// before the announcement ([`OverrideError::NotOverridable`]), for a role below manager or
/// without a reason.
pub fn check_short_notice_override(
    decision: &NoticeDecision,
    request: OverrideRequest<'_>,
) -> Result<Reason, OverrideError> {
    match decision {
        NoticeDecision::Sufficient { .. } => {
            Err(OverrideError::NotNeeded { detail: "the window is announced at least 48 hours ahead" })
        }
        NoticeDecision::StartsBeforeAnnouncement { .. } => Err(OverrideError::NotOverridable {
            detail: "the window starts before it is announced; move the start",
        }),
        NoticeDecision::NeedsOverride { .. } => authorize_override(OverrideKind::ShortNotice, request),
    }
}

/// `t` in `zone` to the minute with weekday and zone abbreviation: `Fri 2027-03-26 10:00 CET`.
fn local_minute(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned_datetime(zone.clone()).strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

/// A length in hours and minutes, sign ignored (`"46 h"`, `"47 h 30 min"`, `"30 min"`),
/// rounded down to the minute, or up when `round_up`.
fn hours_minutes(d: SignedDuration, round_up: bool) -> String {
    let secs = d.as_secs().unsigned_abs();
    let partial = d.subsec_nanos() != 0 || !secs.is_multiple_of(60);
    let mins = secs / 60 + u64::from(round_up && partial);
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
    use jiff::civil::{DateTime, date};
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

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    #[test]
    fn a_window_announced_the_friday_before_spring_forward_in_berlin_gets_one_hour_less() {
        // Berlin moves to CEST on Sunday 2027-03-28 at 02:00.
        let announced = at("Europe/Berlin", 2027, 3, 26, 10, 0);
        let notice = Notice::new(announced, at("Europe/Berlin", 2027, 3, 28, 9, 0));
        assert_eq!(
            notice.decision(),
            NoticeDecision::NeedsOverride { notice: hours(46), short_by: hours(2) }
        );
        assert_eq!(
            notice.describe(&zone("Europe/Berlin")),
            "announced Fri 2027-03-26 10:00 CET, starts Sun 2027-03-28 09:00 CEST: 46 h notice, 2 h short of 48 h"
        );
        // The same clock time two days later is 47 h, still short; 11:00 CEST is the first 48 h start.
        let same_clock = Notice::new(announced, at("Europe/Berlin", 2027, 3, 28, 10, 0));
        assert_eq!(
            same_clock.decision(),
            NoticeDecision::NeedsOverride { notice: hours(47), short_by: hours(1) }
        );
        let enough = Notice::new(announced, at("Europe/Berlin", 2027, 3, 28, 11, 0));
        assert_eq!(enough.decision(), NoticeDecision::Sufficient { notice: hours(48) });
    }

    #[test]
    fn a_window_announced_the_friday_before_fall_back_in_berlin_gets_one_hour_more() {
        // Berlin returns to CET on Sunday 2027-10-31 at 03:00: 09:00 CET on Sunday is exactly
        // 48 h after 10:00 CEST on Friday although the clock says 47 h.
        let announced = at("Europe/Berlin", 2027, 10, 29, 10, 0);
        let notice = Notice::new(announced, at("Europe/Berlin", 2027, 10, 31, 9, 0));
        assert_eq!(notice.decision(), NoticeDecision::Sufficient { notice: hours(48) });
        assert_eq!(
            notice.describe(&zone("Europe/Berlin")),
            "announced Fri 2027-10-29 10:00 CEST, starts Sun 2027-10-31 09:00 CET: 48 h notice"
        );
        let earlier = Notice::new(announced, at("Europe/Berlin", 2027, 10, 31, 8, 30));
        assert_eq!(
            earlier.describe(&zone("Europe/Berlin")),
            "announced Fri 2027-10-29 10:00 CEST, starts Sun 2027-10-31 08:30 CET: \
             47 h 30 min notice, 30 min short of 48 h"
        );
    }

    #[test]
    fn a_window_announced_the_friday_before_spring_forward_in_new_york_gets_one_hour_less() {
        // New York moves to EDT on Sunday 2027-03-14.
        let notice =
            Notice::new(at("America/New_York", 2027, 3, 12, 9, 0), at("America/New_York", 2027, 3, 14, 9, 0));
        assert_eq!(
            notice.decision(),
            NoticeDecision::NeedsOverride { notice: hours(47), short_by: hours(1) }
        );
        assert_eq!(
            notice.describe(&zone("America/New_York")),
            "announced Fri 2027-03-12 09:00 EST, starts Sun 2027-03-14 09:00 EDT: 47 h notice, 1 h short of 48 h"
        );
    }

    #[test]
    fn a_window_announced_the_friday_before_fall_back_in_new_york_reaches_48_hours_an_hour_early() {
        // New York returns to EST on Sunday 2027-11-07.
        let announced = at("America/New_York", 2027, 11, 5, 9, 0);
        let notice = Notice::new(announced, at("America/New_York", 2027, 11, 7, 8, 0));
        assert_eq!(notice.decision(), NoticeDecision::Sufficient { notice: hours(48) });
        let short = Notice::new(announced, at("America/New_York", 2027, 11, 7, 7, 59));
        assert_eq!(
            short.decision(),
            NoticeDecision::NeedsOverride {
                notice: hours(48) - SignedDuration::from_mins(1),
                short_by: SignedDuration::from_mins(1)
            }
        );
    }

    #[test]
    fn one_second_short_of_48_hours_needs_an_override_and_says_a_minute_short() {
        let announced: Timestamp = "2027-06-01T10:00:00Z".parse().expect("valid");
        let notice = Notice::new(announced, announced + hours(48) - SignedDuration::from_secs(1));
        assert!(notice.decision().needs_override());
        assert_eq!(
            notice.describe(&TimeZone::UTC),
            "announced Tue 2027-06-01 10:00 UTC, starts Thu 2027-06-03 09:59 UTC: \
             47 h 59 min notice, 1 min short of 48 h"
        );
        assert!(Notice::new(announced, announced + hours(48)).decision().is_sufficient());
    }

    #[test]
    fn a_start_before_the_announcement_cannot_be_overridden() {
        let announced: Timestamp = "2027-06-01T10:00:00Z".parse().expect("valid");
        let notice = Notice::new(announced, announced - hours(2));
        let decision = notice.decision();
        assert_eq!(decision, NoticeDecision::StartsBeforeAnnouncement { by: hours(2) });
        assert!(notice.describe(&TimeZone::UTC).ends_with(": the start is 2 h before the announcement"));
        let err =
            check_short_notice_override(&decision, OverrideRequest { role: Role::Admin, reason: "now" })
                .expect_err("not overridable");
        assert!(matches!(err, OverrideError::NotOverridable { .. }), "{err}");
    }

    #[test]
    fn a_manager_may_approve_a_short_notice_with_a_reason_and_nobody_else_may() {
        let announced = at("Europe/Berlin", 2027, 3, 26, 10, 0);
        let decision = Notice::new(announced, at("Europe/Berlin", 2027, 3, 28, 9, 0)).decision();
        let approved = check_short_notice_override(
            &decision,
            OverrideRequest { role: Role::Manager, reason: "CVE fix" },
        )
        .expect("manager with reason");
        assert_eq!(approved.as_str(), "CVE fix");
        let refused = check_short_notice_override(
            &decision,
            OverrideRequest { role: Role::Commander, reason: "CVE fix" },
        );
        assert!(matches!(refused, Err(OverrideError::RoleTooLow { role: Role::Commander, .. })));
        let blank =
            check_short_notice_override(&decision, OverrideRequest { role: Role::Manager, reason: "" });
        assert!(matches!(blank, Err(OverrideError::Reason(_))));
        let ok = Notice::new(announced, announced + hours(72)).decision();
        let not_needed =
            check_short_notice_override(&ok, OverrideRequest { role: Role::Manager, reason: "x" });
        assert!(matches!(not_needed, Err(OverrideError::NotNeeded { .. })));
    }

    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kolkata",
        "Pacific/Apia",
    ];

    proptest! {
        #[test]
        fn the_rule_is_exactly_start_minus_announced_at_least_48_hours_in_any_zone(
            name in prop::sample::select(ZONES),
            // Around the 2027 DST changes of both hemispheres, and anywhere in 2000..2040.
            base in prop_oneof![
                1_805_500_000i64..1_807_000_000, // 2027-03 (Europe and the US)
                1_822_500_000i64..1_825_000_000, // 2027-10 .. 2027-11
                946_684_800i64..2_208_988_800,
            ],
            lead_secs in -3_600i64..(5 * 86_400),
        ) {
            let tz = zone(name);
            // The announcement as a team-zone wall-clock time, as a user would enter it.
            let local: DateTime = tz.to_datetime(Timestamp::from_second(base).expect("in range"));
            let announced = tz.to_ambiguous_timestamp(local).compatible().expect("in range");
            let starts = announced + SignedDuration::from_secs(lead_secs);
            let notice = Notice::new(announced, starts);
            let elapsed = starts.duration_since(announced);
            prop_assert_eq!(notice.decision().is_sufficient(), elapsed >= MIN_NOTICE);
            prop_assert_eq!(
                notice.decision().needs_override(),
                elapsed >= SignedDuration::ZERO && elapsed < MIN_NOTICE
            );
            if let NoticeDecision::NeedsOverride { notice: n, short_by } = notice.decision() {
                prop_assert_eq!(n + short_by, MIN_NOTICE);
            }
            let text = notice.describe(&tz);
            let whole_hours = elapsed.as_secs().div_euclid(3_600);
            if elapsed >= SignedDuration::ZERO {
                let shown_hours = format!(": {whole_hours} h");
                let shown_minutes = format!(": {} min", elapsed.as_secs() / 60);
                let shown = text.contains(&shown_hours) || (whole_hours == 0 && text.contains(&shown_minutes));
                prop_assert!(shown, "{}", text);
            }
        }
    }
}
