//! Changing a window after it was created: which states allow it, and the 48-hour rule for a
//! scheduled window whose start moves.
//!
//! The public was told the planned times at the announcement. Moving the start later gives
//! them more notice than promised, so it is always allowed. Moving it earlier takes notice
//! away: the notice is counted from the ORIGINAL announcement (re-announcing does not restart
//! the clock, or a window could be pulled forward one small step at a time), and if it falls
//! under 48 hours a manager must approve it with a written reason, as at scheduling.

use jiff::Timestamp;

use super::notice::{Notice, NoticeDecision};
use super::overrides::{OverrideError, OverrideKind, OverrideRequest, Reason, authorize_override};
use super::window::WindowState;

/// Why a window cannot be edited in its state; the message is shown to the user as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditRefused {
    /// Work has begun: the planned times are history, the title is on the status page.
    #[error(
        "an in-progress window cannot be edited: its work has started; post a public update to tell readers what changed"
    )]
    Started,
    /// Completed, rolled back or cancelled: nothing about it changes any more.
    #[error("{} window cannot be edited: nothing about it changes any more", .0.with_article())]
    Finished(WindowState),
}

/// Checks that a window in `state` may have its title, description, times and components
/// changed: drafts and scheduled windows (not started) may.
pub const fn check_editable(state: WindowState) -> Result<(), EditRefused> {
    match state {
        WindowState::Draft | WindowState::Scheduled => Ok(()),
        WindowState::InProgress => Err(EditRefused::Started),
        other => Err(EditRefused::Finished(other)),
    }
}

/// What moving a scheduled window's start means for the 48-hour rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RescheduleDecision {
    /// The start stays or moves later: readers get at least the notice they were given.
    Later,
    /// The start moves earlier and still leaves at least 48 hours after the announcement.
    EarlierWithNotice {
        /// The notice from the original announcement to the new start.
        notice: Notice,
    },
    /// The start moves earlier to less than 48 hours after the announcement: only a manager's
    /// override with a reason lets it through ([`check_reschedule_override`]).
    EarlierNeedsOverride {
        /// The notice from the original announcement to the new start.
        notice: Notice,
    },
}

impl RescheduleDecision {
    /// Whether the move needs a manager's override.
    pub const fn needs_override(&self) -> bool {
        matches!(self, RescheduleDecision::EarlierNeedsOverride { .. })
    }
}

/// The 48-hour rule for moving a scheduled window, announced at `announced_at`, from
/// `old_start` to `new_start`. Exact elapsed time, whatever DST does in between.
///
/// A new start before the announcement is impossible for a window being moved now (the
/// announcement is in the past and a new start must not be), so it counts as short notice.
pub fn reschedule(announced_at: Timestamp, old_start: Timestamp, new_start: Timestamp) -> RescheduleDecision {
    if new_start >= old_start {
        return RescheduleDecision::Later;
    }
    let notice = Notice::new(announced_at, new_start);
    match notice.decision() {
        NoticeDecision::Sufficient { .. } => RescheduleDecision::EarlierWithNotice { notice },
        NoticeDecision::NeedsOverride { .. } | NoticeDecision::StartsBeforeAnnouncement { .. } => {
            RescheduleDecision::EarlierNeedsOverride { notice }
        }
    }
}

/// Checks a manager's override of a move that leaves less than 48 hours' notice, and returns
/// the reason to record. `Ok(None)` when the move needs none (the reason, if any, is unused).
pub fn check_reschedule_override(
    decision: &RescheduleDecision,
    request: OverrideRequest<'_>,
) -> Result<Option<Reason>, OverrideError> {
    match decision {
        RescheduleDecision::Later | RescheduleDecision::EarlierWithNotice { .. } => Ok(None),
        RescheduleDecision::EarlierNeedsOverride { .. } => {
            authorize_override(OverrideKind::EarlierStart, request).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::overrides::ReasonError;
    use crate::role::Role;
    use jiff::SignedDuration;
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    fn at(zone: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        date(y, mo, d)
            .at(h, mi, 0, 0)
            .to_zoned_datetime(TimeZone::get(zone).expect("zone in the bundled tzdb"))
            .expect("valid local time")
            .timestamp()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339 instant")
    }

    #[test]
    fn only_drafts_and_scheduled_windows_can_be_edited() {
        assert_eq!(check_editable(WindowState::Draft), Ok(()));
        assert_eq!(check_editable(WindowState::Scheduled), Ok(()));
        assert_eq!(
            check_editable(WindowState::InProgress).expect_err("started").to_string(),
            "an in-progress window cannot be edited: its work has started; post a public update to tell readers what changed"
        );
        for done in [WindowState::Completed, WindowState::RolledBack, WindowState::Cancelled] {
            assert_eq!(check_editable(done), Err(EditRefused::Finished(done)));
        }
        assert_eq!(
            check_editable(WindowState::Cancelled).expect_err("finished").to_string(),
            "a cancelled window cannot be edited: nothing about it changes any more"
        );
    }

    #[test]
    fn moving_the_start_later_is_always_fine_even_with_little_notice_left() {
        let announced = utc("2026-12-01T10:00:00Z");
        // Scheduled with a manager's short notice (20 h), moved 2 h later: still under 48 h.
        let old = utc("2026-12-02T06:00:00Z");
        assert_eq!(reschedule(announced, old, utc("2026-12-02T08:00:00Z")), RescheduleDecision::Later);
        assert_eq!(reschedule(announced, old, old), RescheduleDecision::Later);
        let none = check_reschedule_override(
            &RescheduleDecision::Later,
            OverrideRequest { role: Role::Viewer, reason: "" },
        );
        assert_eq!(none, Ok(None));
    }

    #[test]
    fn moving_earlier_counts_the_notice_from_the_original_announcement_not_from_the_move() {
        let announced = utc("2026-12-01T10:00:00Z");
        let old = utc("2026-12-06T10:00:00Z");
        // 49 h after the announcement: fine, although the move happens later and leaves less
        // than 48 h from the moment of the move.
        let new = utc("2026-12-03T11:00:00Z");
        assert_eq!(
            reschedule(announced, old, new),
            RescheduleDecision::EarlierWithNotice { notice: Notice::new(announced, new) }
        );
        let short = utc("2026-12-03T09:59:00Z");
        let decision = reschedule(announced, old, short);
        assert!(decision.needs_override());
        assert_eq!(
            decision,
            RescheduleDecision::EarlierNeedsOverride { notice: Notice::new(announced, short) }
        );
    }

    #[test]
    fn an_earlier_start_under_48_hours_needs_a_manager_with_a_reason() {
        let announced = utc("2026-12-01T10:00:00Z");
        let decision = reschedule(announced, utc("2026-12-06T10:00:00Z"), utc("2026-12-02T10:00:00Z"));
        let approved = check_reschedule_override(
            &decision,
            OverrideRequest { role: Role::Manager, reason: " database disk failing " },
        )
        .expect("manager with a reason");
        assert_eq!(approved.map(String::from).as_deref(), Some("database disk failing"));
        let commander = check_reschedule_override(
            &decision,
            OverrideRequest { role: Role::Commander, reason: "database disk failing" },
        )
        .expect_err("commander");
        assert_eq!(
            commander.to_string(),
            "only a manager or an admin can move a window's start to less than 48 hours after its announcement \
             (your role is commander)"
        );
        let blank = check_reschedule_override(&decision, OverrideRequest { role: Role::Admin, reason: " " });
        assert_eq!(blank, Err(OverrideError::Reason(ReasonError::Empty)));
    }

    #[test]
    fn moving_earlier_across_spring_forward_loses_the_skipped_hour() {
        // Announced Friday 2027-03-26 10:00 CET; Berlin skips 02:00-03:00 on Sunday 03-28.
        let announced = at("Europe/Berlin", 2027, 3, 26, 10, 0);
        let old = at("Europe/Berlin", 2027, 3, 29, 9, 0);
        // Sunday 10:00 CEST reads as "two days later, same clock time" but is 47 h.
        let same_clock = at("Europe/Berlin", 2027, 3, 28, 10, 0);
        let decision = reschedule(announced, old, same_clock);
        assert!(decision.needs_override(), "{decision:?}");
        let RescheduleDecision::EarlierNeedsOverride { notice } = decision else { unreachable!() };
        assert_eq!(notice.length(), SignedDuration::from_hours(47));
        assert_eq!(
            notice.describe(&TimeZone::get("Europe/Berlin").expect("zone")),
            "announced Fri 2027-03-26 10:00 CET, starts Sun 2027-03-28 10:00 CEST: 47 h notice, 1 h short of 48 h"
        );
        assert!(!reschedule(announced, old, at("Europe/Berlin", 2027, 3, 28, 11, 0)).needs_override());
    }

    #[test]
    fn moving_earlier_across_fall_back_gains_the_repeated_hour() {
        // Announced Friday 2027-10-29 10:00 CEST; Berlin repeats 02:00-03:00 on Sunday 10-31.
        let announced = at("Europe/Berlin", 2027, 10, 29, 10, 0);
        let old = at("Europe/Berlin", 2027, 11, 1, 9, 0);
        // Sunday 09:00 CET reads as 47 h on the clock but is exactly 48 h.
        let decision = reschedule(announced, old, at("Europe/Berlin", 2027, 10, 31, 9, 0));
        assert!(matches!(decision, RescheduleDecision::EarlierWithNotice { .. }), "{decision:?}");
        assert!(reschedule(announced, old, at("Europe/Berlin", 2027, 10, 31, 8, 59)).needs_override());
    }

    #[test]
    fn moving_earlier_across_new_york_spring_forward_needs_an_override() {
        let announced = at("America/New_York", 2027, 3, 12, 9, 0);
        let old = at("America/New_York", 2027, 3, 16, 9, 0);
        assert!(reschedule(announced, old, at("America/New_York", 2027, 3, 14, 9, 0)).needs_override());
        assert!(!reschedule(announced, old, at("America/New_York", 2027, 3, 14, 10, 0)).needs_override());
    }
}
