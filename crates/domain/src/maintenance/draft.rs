//! Validating a window's title, times and components, team-zone times typed in a form, and
//! overlaps with other windows on the same components.

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use super::overrides::{Reason, ReasonError};
use super::window::WindowState;
use crate::incident::Title;
use crate::recurrence::resolve_local;
use crate::sla::compact_duration;

/// The longest window when the team has not configured its own limit: 12 hours.
pub const DEFAULT_MAX_DURATION: SignedDuration = SignedDuration::from_hours(12);

/// A window as entered, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDraft {
    /// The title as typed.
    pub title: String,
    /// Planned start.
    pub starts_at: Timestamp,
    /// Planned end (exclusive).
    pub ends_at: Timestamp,
    /// Ids of the affected status-page components, in any order, repeats allowed.
    pub components: Vec<Uuid>,
}

/// A window that passed [`validate_draft`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidWindow {
    /// The trimmed title.
    pub title: Title,
    /// Planned start, not in the past when validated.
    pub starts_at: Timestamp,
    /// Planned end, after the start and within the maximum duration.
    pub ends_at: Timestamp,
    /// The affected components, sorted, each once, at least one.
    pub components: Vec<Uuid>,
}

impl ValidWindow {
    /// The planned length (elapsed time).
    pub fn duration(&self) -> SignedDuration {
        self.ends_at.duration_since(self.starts_at)
    }
}

/// A form field of a maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowField {
    /// [`WindowDraft::title`].
    Title,
    /// [`WindowDraft::starts_at`].
    StartsAt,
    /// [`WindowDraft::ends_at`].
    EndsAt,
    /// [`WindowDraft::components`].
    Components,
    /// The reason given for scheduling despite overlaps.
    OverlapReason,
}

impl WindowField {
    /// The field's name in forms and JSON (`"starts_at"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowField::Title => "title",
            WindowField::StartsAt => "starts_at",
            WindowField::EndsAt => "ends_at",
            WindowField::Components => "components",
            WindowField::OverlapReason => "overlap_reason",
        }
    }
}

impl fmt::Display for WindowField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refusal for one field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field at fault.
    pub field: WindowField,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FieldError {
    fn new(field: WindowField, message: impl Into<String>) -> FieldError {
        FieldError { field, message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Checks a draft at `now` against a maximum length of `max_duration`; every problem is
/// reported, in field order, so the form can mark them all at once.
///
/// Refused: an invalid title (the incident title rules), a start before `now`, an end not
/// after the start, a window longer than `max_duration`, and no affected component. Whether
/// the components exist is the caller's check (it needs the database). Use it for new windows
/// and for moving one that has not started; an in-progress window's start is in the past.
pub fn validate_draft(
    draft: &WindowDraft,
    now: Timestamp,
    max_duration: SignedDuration,
) -> Result<ValidWindow, Vec<FieldError>> {
    let mut errors = Vec::new();
    let title = match Title::parse(&draft.title) {
        Ok(title) => Some(title),
        Err(e) => {
            errors.push(FieldError::new(WindowField::Title, e.to_string()));
            None
        }
    };
    if draft.starts_at < now {
        errors.push(FieldError::new(
            WindowField::StartsAt,
            "the start is in the past: pick a time from now on",
        ));
    }
    let duration = draft.ends_at.duration_since(draft.starts_at);
    if !duration.is_positive() {
        errors.push(FieldError::new(WindowField::EndsAt, "the end must be after the start"));
    } else if duration > max_duration {
        errors.push(FieldError::new(
            WindowField::EndsAt,
            format!(
                "the window lasts {}; the longest allowed is {}: split the work or ask an admin to raise the limit",
                compact_duration(duration),
                compact_duration(max_duration)
            ),
        ));
    }
    let mut components = draft.components.clone();
    components.sort_unstable();
    components.dedup();
    if components.is_empty() {
        errors.push(FieldError::new(WindowField::Components, "choose at least one affected component"));
    }
    match title {
        Some(title) if errors.is_empty() => {
            Ok(ValidWindow { title, starts_at: draft.starts_at, ends_at: draft.ends_at, components })
        }
        _ => Err(errors),
    }
}

/// Why a wall-clock time typed in the team's zone does not name one instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    /// The time falls in a DST gap: the clocks skip it.
    #[error(
        "{} does not exist in {zone}: the clocks jump forward over it; the first valid time after it is {}",
        minute(.datetime),
        minute(.resumes_at)
    )]
    Nonexistent {
        /// The time as entered.
        datetime: DateTime,
        /// The zone's name.
        zone: String,
        /// The local time at which the clocks resume.
        resumes_at: DateTime,
    },
    /// The time falls in a DST fold: it happens twice.
    #[error(
        "{} happens twice in {zone} (the clocks go back): pick a time outside the repeated hour or enter it in UTC",
        minute(.datetime)
    )]
    Ambiguous {
        /// The time as entered.
        datetime: DateTime,
        /// The zone's name.
        zone: String,
    },
    /// Outside the range of representable instants.
    #[error("{} is out of range", minute(.datetime))]
    OutOfRange {
        /// The time as entered.
        datetime: DateTime,
    },
}

fn minute(dt: &DateTime) -> String {
    dt.strftime("%Y-%m-%d %H:%M").to_string()
}

/// The instant of a wall-clock time entered for a window in `zone`, refusing times that do
/// not exist or happen twice: a planned start must be unmistakable for readers and for the
/// 48-hour rule.
pub fn local_to_timestamp(datetime: DateTime, zone: &TimeZone) -> Result<Timestamp, LocalTimeError> {
    let zone_name = || zone.iana_name().unwrap_or("the team's time zone").to_owned();
    let ambiguous = zone.to_ambiguous_timestamp(datetime);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => {
            ambiguous.unambiguous().map_err(|_| LocalTimeError::OutOfRange { datetime })
        }
        AmbiguousOffset::Gap { .. } => {
            let resumes = resolve_local(zone, datetime).ok_or(LocalTimeError::OutOfRange { datetime })?;
            Err(LocalTimeError::Nonexistent {
                datetime,
                zone: zone_name(),
                resumes_at: zone.to_datetime(resumes),
            })
        }
        AmbiguousOffset::Fold { .. } => Err(LocalTimeError::Ambiguous { datetime, zone: zone_name() }),
    }
}

/// Another window, as the overlap check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherWindow {
    /// Its id.
    pub id: Uuid,
    /// Its affected components.
    pub components: Vec<Uuid>,
    /// Planned start.
    pub starts_at: Timestamp,
    /// Planned end (exclusive).
    pub ends_at: Timestamp,
    /// Its state; only scheduled and in-progress windows can overlap.
    pub state: WindowState,
}

/// A window sharing components and time with the one being checked: a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The other window's id.
    pub window: Uuid,
    /// The components both windows affect, sorted.
    pub components: Vec<Uuid>,
    /// Where the shared time starts.
    pub from: Timestamp,
    /// Where the shared time ends (exclusive).
    pub until: Timestamp,
}

/// The windows among `others` that affect one of `window`'s components at the same time,
/// earliest first. Times are half-open, so a window ending at 04:00 and one starting at 04:00
/// do not overlap. Drafts and finished windows are ignored (nothing is committed for them),
/// as is the window itself (`own_id`) when it is being edited.
pub fn overlaps(window: &ValidWindow, own_id: Option<Uuid>, others: &[OtherWindow]) -> Vec<Overlap> {
    let mut found: Vec<Overlap> = others
        .iter()
        .filter(|other| Some(other.id) != own_id)
        .filter(|other| matches!(other.state, WindowState::Scheduled | WindowState::InProgress))
        .filter(|other| other.starts_at < window.ends_at && window.starts_at < other.ends_at)
        .filter_map(|other| {
            let mut shared: Vec<Uuid> =
                window.components.iter().copied().filter(|c| other.components.contains(c)).collect();
            shared.sort_unstable();
            shared.dedup();
            (!shared.is_empty()).then(|| Overlap {
                window: other.id,
                components: shared,
                from: window.starts_at.max(other.starts_at),
                until: window.ends_at.min(other.ends_at),
            })
        })
        .collect();
    found.sort_by_key(|overlap| (overlap.from, overlap.window));
    found
}

/// Why overlaps were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverlapError {
    /// Overlaps exist and no reason was given.
    #[error(
        "this window overlaps {overlapping} other window{s} on the same components: give a reason to schedule it anyway",
        s = if *.overlapping == 1 { "" } else { "s" }
    )]
    ReasonMissing {
        /// How many windows overlap.
        overlapping: usize,
    },
    /// The reason given is too long.
    #[error(transparent)]
    Reason(ReasonError),
}

impl OverlapError {
    /// The form field to mark.
    pub const fn field(&self) -> WindowField {
        WindowField::OverlapReason
    }
}

/// Accepts `overlaps` with the `reason` typed by the user (any role that may edit windows).
/// No overlap needs no reason (`Ok(None)`); otherwise the reason must be non-empty.
pub fn accept_overlaps(overlaps: &[Overlap], reason: &str) -> Result<Option<Reason>, OverlapError> {
    if overlaps.is_empty() {
        return Ok(None);
    }
    match Reason::parse(reason) {
        Ok(reason) => Ok(Some(reason)),
        Err(ReasonError::Empty) => Err(OverlapError::ReasonMissing { overlapping: overlaps.len() }),
        Err(other) => Err(OverlapError::Reason(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn utc(s: &str) -> Timestamp {
        s.parse().expect("RFC 3339 instant")
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn draft(start: &str, end: &str) -> WindowDraft {
        WindowDraft {
            title: "Postgres 16 upgrade".to_owned(),
            starts_at: utc(start),
            ends_at: utc(end),
            components: vec![id(2), id(1), id(2)],
        }
    }

    const NOW: &str = "2026-12-01T12:00:00Z";

    fn fields(errors: &[FieldError]) -> Vec<&'static str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_good_draft_is_accepted_with_its_components_sorted_once() {
        let valid = validate_draft(
            &draft("2026-12-05T01:00:00Z", "2026-12-05T04:00:00Z"),
            utc(NOW),
            DEFAULT_MAX_DURATION,
        )
        .expect("valid");
        assert_eq!(valid.title.as_str(), "Postgres 16 upgrade");
        assert_eq!(valid.components, [id(1), id(2)]);
        assert_eq!(valid.duration(), SignedDuration::from_hours(3));
    }

    #[test]
    fn a_window_ending_before_it_starts_is_a_field_error_on_the_end() {
        let errors = validate_draft(
            &draft("2026-12-05T04:00:00Z", "2026-12-05T01:00:00Z"),
            utc(NOW),
            DEFAULT_MAX_DURATION,
        )
        .expect_err("refused");
        assert_eq!(errors, [FieldError::new(WindowField::EndsAt, "the end must be after the start")]);
        let same = validate_draft(
            &draft("2026-12-05T04:00:00Z", "2026-12-05T04:00:00Z"),
            utc(NOW),
            DEFAULT_MAX_DURATION,
        );
        assert_eq!(same.map_err(|e| fields(&e)), Err(vec!["ends_at"]));
    }

    #[test]
    fn a_start_in_the_past_is_refused_but_a_start_right_now_is_not() {
        let errors = validate_draft(
            &draft("2026-12-01T11:59:00Z", "2026-12-01T13:00:00Z"),
            utc(NOW),
            DEFAULT_MAX_DURATION,
        )
        .expect_err("refused");
        assert_eq!(errors[0].to_string(), "starts_at: the start is in the past: pick a time from now on");
        assert!(validate_draft(&draft(NOW, "2026-12-01T13:00:00Z"), utc(NOW), DEFAULT_MAX_DURATION).is_ok());
    }

    #[test]
    fn a_window_longer_than_the_configured_maximum_is_refused() {
        let errors = validate_draft(
            &draft("2026-12-05T00:00:00Z", "2026-12-05T14:30:00Z"),
            utc(NOW),
            DEFAULT_MAX_DURATION,
        )
        .expect_err("refused");
        assert_eq!(errors[0].field, WindowField::EndsAt);
        assert_eq!(
            errors[0].message,
            "the window lasts 14 h 30 min; the longest allowed is 12 h: split the work or ask an admin to raise the limit"
        );
        let longer_limit = SignedDuration::from_hours(24);
        assert!(
            validate_draft(&draft("2026-12-05T00:00:00Z", "2026-12-05T14:30:00Z"), utc(NOW), longer_limit)
                .is_ok()
        );
        assert!(
            validate_draft(
                &draft("2026-12-05T00:00:00Z", "2026-12-05T12:00:00Z"),
                utc(NOW),
                DEFAULT_MAX_DURATION
            )
            .is_ok()
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_in_field_order() {
        let mut bad = draft("2026-11-30T00:00:00Z", "2026-11-29T00:00:00Z");
        bad.title = "   ".to_owned();
        bad.components.clear();
        let errors = validate_draft(&bad, utc(NOW), DEFAULT_MAX_DURATION).expect_err("refused");
        assert_eq!(fields(&errors), ["title", "starts_at", "ends_at", "components"]);
        assert_eq!(errors[0].message, "the title is empty");
        assert_eq!(errors[3].message, "choose at least one affected component");
    }

    fn other(n: u128, components: &[u128], start: &str, end: &str, state: WindowState) -> OtherWindow {
        OtherWindow {
            id: id(n),
            components: components.iter().copied().map(id).collect(),
            starts_at: utc(start),
            ends_at: utc(end),
            state,
        }
    }

    fn valid(start: &str, end: &str, components: &[u128]) -> ValidWindow {
        ValidWindow {
            title: Title::parse("Upgrade").expect("valid"),
            starts_at: utc(start),
            ends_at: utc(end),
            components: components.iter().copied().map(id).collect(),
        }
    }

    #[test]
    fn a_scheduled_window_on_a_shared_component_at_the_same_time_is_an_overlap() {
        let mine = valid("2026-12-05T01:00:00Z", "2026-12-05T04:00:00Z", &[1, 2]);
        let others = [
            other(10, &[2, 3], "2026-12-05T03:00:00Z", "2026-12-05T06:00:00Z", WindowState::Scheduled),
            other(11, &[3], "2026-12-05T02:00:00Z", "2026-12-05T03:00:00Z", WindowState::Scheduled),
            other(12, &[1], "2026-12-05T00:00:00Z", "2026-12-05T02:00:00Z", WindowState::InProgress),
        ];
        let found = overlaps(&mine, None, &others);
        assert_eq!(
            found,
            [
                Overlap {
                    window: id(12),
                    components: vec![id(1)],
                    from: utc("2026-12-05T01:00:00Z"),
                    until: utc("2026-12-05T02:00:00Z"),
                },
                Overlap {
                    window: id(10),
                    components: vec![id(2)],
                    from: utc("2026-12-05T03:00:00Z"),
                    until: utc("2026-12-05T04:00:00Z"),
                },
            ]
        );
    }

    #[test]
    fn back_to_back_windows_drafts_finished_windows_and_the_window_itself_do_not_overlap() {
        let mine = valid("2026-12-05T01:00:00Z", "2026-12-05T04:00:00Z", &[1]);
        let others = [
            other(10, &[1], "2026-12-05T04:00:00Z", "2026-12-05T06:00:00Z", WindowState::Scheduled),
            other(11, &[1], "2026-12-04T22:00:00Z", "2026-12-05T01:00:00Z", WindowState::Scheduled),
            other(12, &[1], "2026-12-05T02:00:00Z", "2026-12-05T03:00:00Z", WindowState::Draft),
            other(13, &[1], "2026-12-05T02:00:00Z", "2026-12-05T03:00:00Z", WindowState::Cancelled),
            other(14, &[1], "2026-12-05T02:00:00Z", "2026-12-05T03:00:00Z", WindowState::Completed),
            other(15, &[1], "2026-12-05T01:00:00Z", "2026-12-05T04:00:00Z", WindowState::Scheduled),
        ];
        assert_eq!(overlaps(&mine, Some(id(15)), &others), []);
        assert_eq!(overlaps(&mine, None, &others).len(), 1);
    }

    #[test]
    fn overlaps_are_accepted_only_with_a_reason() {
        let mine = valid("2026-12-05T01:00:00Z", "2026-12-05T04:00:00Z", &[1]);
        let found = overlaps(
            &mine,
            None,
            &[other(10, &[1], "2026-12-05T02:00:00Z", "2026-12-05T03:00:00Z", WindowState::Scheduled)],
        );
        let err = accept_overlaps(&found, "  ").expect_err("no reason");
        assert_eq!(err.field(), WindowField::OverlapReason);
        assert_eq!(
            err.to_string(),
            "this window overlaps 1 other window on the same components: give a reason to schedule it anyway"
        );
        let reason = accept_overlaps(&found, "both are read-only for users").expect("reason given");
        assert_eq!(reason.map(String::from).as_deref(), Some("both are read-only for users"));
        assert_eq!(accept_overlaps(&[], ""), Ok(None));
    }

    #[test]
    fn a_start_typed_inside_the_spring_gap_is_refused_with_the_time_the_clocks_resume() {
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        let err = local_to_timestamp(date(2027, 3, 28).at(2, 30, 0, 0), &berlin).expect_err("gap");
        assert_eq!(
            err.to_string(),
            "2027-03-28 02:30 does not exist in Europe/Berlin: the clocks jump forward over it; \
             the first valid time after it is 2027-03-28 03:00"
        );
    }

    #[test]
    fn a_start_typed_inside_the_autumn_fold_is_refused_as_ambiguous() {
        let new_york = TimeZone::get("America/New_York").expect("zone");
        let err = local_to_timestamp(date(2027, 11, 7).at(1, 30, 0, 0), &new_york).expect_err("fold");
        assert!(matches!(err, LocalTimeError::Ambiguous { .. }));
        assert!(err.to_string().starts_with("2027-11-07 01:30 happens twice in America/New_York"), "{err}");
        let fine = local_to_timestamp(date(2027, 11, 7).at(3, 0, 0, 0), &new_york).expect("unambiguous");
        assert_eq!(fine, utc("2027-11-07T08:00:00Z"));
    }
}
