//! Incident lifecycle rules, impact and component status, timeline kinds, numbers and titles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that did not match any variant of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {input:?}: expected one of {expected}")]
pub struct ParseNameError {
    /// What was being parsed, e.g. `"incident status"`.
    pub kind: &'static str,
    /// The rejected input, as given.
    pub input: String,
    /// The accepted names, comma separated.
    pub expected: &'static str,
}

/// Implements `as_str`-based `Display`, `FromStr` and `TryFrom<&str>` for a fieldless enum
/// with an `ALL` array, so every name table lives in one `as_str` match.
macro_rules! named_enum {
    ($ty:ident, $kind:literal, $expected:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParseNameError;

            /// Parses the snake_case name, ignoring surrounding whitespace and ASCII case.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                $ty::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| ParseNameError { kind: $kind, input: s.to_owned(), expected: $expected })
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = ParseNameError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                value.parse()
            }
        }
    };
}

/// Where an incident is in its lifecycle, in the usual forward order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Declared or alerted, nobody has responded yet; the paging chain is running.
    Triggered,
    /// A responder has taken it; paging stops.
    Acknowledged,
    /// Looking for the cause.
    Investigating,
    /// The cause is known, a fix is under way.
    Identified,
    /// A fix is in place, watching that it holds.
    Monitoring,
    /// Over. Only a reopen brings it back.
    Resolved,
}

named_enum!(
    IncidentStatus,
    "incident status",
    "triggered, acknowledged, investigating, identified, monitoring, resolved"
);

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IncidentStatus; 6] = [
        IncidentStatus::Triggered,
        IncidentStatus::Acknowledged,
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];

    /// The lowercase name stored and shown (`"triggered"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// Whether the incident is still open (anything but resolved).
    pub const fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Resolved)
    }

    /// Whether someone has responded, i.e. the response SLA clock has stopped.
    pub const fn is_acknowledged(self) -> bool {
        !matches!(self, IncidentStatus::Triggered)
    }

    /// The statuses this one may move to, in lifecycle order (for the page's buttons).
    pub fn allowed_next(self) -> impl Iterator<Item = IncidentStatus> {
        IncidentStatus::ALL.into_iter().filter(move |to| transition(self, *to).is_ok())
    }
}

/// Why a status change was refused; the message is shown to the user as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The incident already has that status.
    #[error("the incident is already {status}")]
    Unchanged {
        /// The current (and requested) status.
        status: IncidentStatus,
    },
    /// Acknowledging something a responder already took.
    #[error("the incident was already acknowledged (it is {status})")]
    AlreadyAcknowledged {
        /// The current status.
        status: IncidentStatus,
    },
    /// Any change other than a reopen on a resolved incident.
    #[error("the incident is resolved: reopen it first")]
    Resolved {
        /// The refused target status.
        to: IncidentStatus,
    },
    /// Moving a responded-to incident back to triggered.
    #[error("the incident cannot go back to triggered once someone has responded (it is {from})")]
    BackToTriggered {
        /// The current status.
        from: IncidentStatus,
    },
}

/// Checks that an incident may move from `from` to `to`.
///
/// - Acknowledging is only valid from `triggered`; an open incident past that is
///   [`TransitionError::AlreadyAcknowledged`], a resolved one [`TransitionError::Resolved`].
/// - A triggered incident may jump to any later status (doing so counts as acknowledging,
///   see [`acknowledges`]).
/// - Among investigating, identified and monitoring any order is fine (real incidents
///   bounce), and any open status may resolve.
/// - Nothing goes back to `triggered`.
/// - A resolved incident only leaves by a reopen, which goes to `investigating`.
/// - Asking for the current status is [`TransitionError::Unchanged`].
pub fn transition(from: IncidentStatus, to: IncidentStatus) -> Result<(), TransitionError> {
    use IncidentStatus::{Acknowledged, Investigating, Resolved, Triggered};

    // Acknowledge is checked first: re-acknowledging is its own, clearer error than
    // "already acknowledged" reported as Unchanged.
    match (from, to) {
        (Triggered, Acknowledged) => Ok(()),
        (Resolved, Acknowledged) => Err(TransitionError::Resolved { to }),
        (_, Acknowledged) => Err(TransitionError::AlreadyAcknowledged { status: from }),
        _ if from == to => Err(TransitionError::Unchanged { status: from }),
        (Resolved, Investigating) => Ok(()),
        (Resolved, _) => Err(TransitionError::Resolved { to }),
        (_, Triggered) => Err(TransitionError::BackToTriggered { from }),
        _ => Ok(()),
    }
}

/// Whether the (allowed) move from `from` to `to` is the incident's first response, so the
/// response SLA clock stops and paging is cancelled.
pub fn acknowledges(from: IncidentStatus, to: IncidentStatus) -> bool {
    !from.is_acknowledged() && to.is_acknowledged()
}

/// Whether the (allowed) move from `from` to `to` reopens a resolved incident.
pub fn reopens(from: IncidentStatus, to: IncidentStatus) -> bool {
    !from.is_open() && to.is_open()
}

/// How badly an incident hurts a component, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Works, but slowly.
    DegradedPerformance,
    /// Some users or features fail.
    PartialOutage,
    /// Down for everyone.
    MajorOutage,
}

named_enum!(Impact, "impact", "degraded_performance, partial_outage, major_outage");

impl Impact {
    /// Every impact, mildest first.
    pub const ALL: [Impact; 3] = [Impact::DegradedPerformance, Impact::PartialOutage, Impact::MajorOutage];

    /// The snake_case name stored and used by the Statuspage-compatible API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Impact::DegradedPerformance => "degraded_performance",
            Impact::PartialOutage => "partial_outage",
            Impact::MajorOutage => "major_outage",
        }
    }

    /// Words for people (`"partial outage"`).
    pub const fn label(self) -> &'static str {
        ComponentStatus::from_impact(self).label()
    }
}

/// The state of one status-page component, with the Statuspage API's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// Working normally.
    Operational,
    /// Working, but slowly.
    DegradedPerformance,
    /// Failing for some users or features.
    PartialOutage,
    /// Down.
    MajorOutage,
    /// In an announced maintenance window.
    UnderMaintenance,
}

named_enum!(
    ComponentStatus,
    "component status",
    "operational, degraded_performance, partial_outage, major_outage, under_maintenance"
);

impl ComponentStatus {
    /// Every status, in the order the Statuspage API lists them.
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
        ComponentStatus::UnderMaintenance,
    ];

    /// The snake_case name stored and used by the Statuspage-compatible API.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::UnderMaintenance => "under_maintenance",
        }
    }

    /// Words for people (`"under maintenance"`).
    pub const fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::DegradedPerformance => "degraded performance",
            ComponentStatus::PartialOutage => "partial outage",
            ComponentStatus::MajorOutage => "major outage",
            ComponentStatus::UnderMaintenance => "under maintenance",
        }
    }

    /// The status an incident of this impact gives its component (`const` form of `From`).
    pub const fn from_impact(impact: Impact) -> ComponentStatus {
        match impact {
            Impact::DegradedPerformance => ComponentStatus::DegradedPerformance,
            Impact::PartialOutage => ComponentStatus::PartialOutage,
            Impact::MajorOutage => ComponentStatus::MajorOutage,
        }
    }

    /// How bad the status is for a roll-up, higher is worse.
    ///
    /// Maintenance ranks above operational but below any outage: it is planned and
    /// announced, while an unplanned failure anywhere is the news a reader needs first.
    pub const fn badness(self) -> u8 {
        match self {
            ComponentStatus::Operational => 0,
            ComponentStatus::UnderMaintenance => 1,
            ComponentStatus::DegradedPerformance => 2,
            ComponentStatus::PartialOutage => 3,
            ComponentStatus::MajorOutage => 4,
        }
    }

    /// The worst of `statuses` by [`ComponentStatus::badness`]; operational when empty.
    pub fn worst<I: IntoIterator<Item = ComponentStatus>>(statuses: I) -> ComponentStatus {
        statuses.into_iter().max_by_key(|status| status.badness()).unwrap_or(ComponentStatus::Operational)
    }
}

impl From<Impact> for ComponentStatus {
    fn from(impact: Impact) -> Self {
        ComponentStatus::from_impact(impact)
    }
}

/// What a timeline entry records. The timeline is append-only; this is its kind column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The incident was opened (by a person, an alert or a probe).
    Declared,
    /// A responder acknowledged.
    Acknowledged,
    /// The status moved (other than acknowledge, resolve and reopen).
    StatusChanged,
    /// The severity changed; deadlines were recomputed.
    SeverityChanged,
    /// Someone became commander or took another role.
    RoleAssigned,
    /// An internal note.
    Note,
    /// An update written for the public status page.
    PublicUpdate,
    /// A component's impact was set or cleared.
    ComponentImpactChanged,
    /// A link (dashboard, ticket, chat thread) was attached.
    LinkAdded,
    /// The incident was escalated (secondary on call or manager).
    Escalated,
    /// A notification was queued (Slack, webhook, PagerDuty).
    Notified,
    /// A response or escalation deadline was missed.
    SlaBreached,
    /// A runbook step was done, skipped or failed.
    RunbookStep,
    /// A Kubernetes action ran from the page.
    KubernetesAction,
    /// A health probe or metric reported on an affected service.
    HealthSignal,
    /// The incident was resolved.
    Resolved,
    /// A resolved incident was reopened.
    Reopened,
    /// A commander corrected the title, summary or visibility (before and after recorded).
    DetailsChanged,
    /// A public incident was taken off the status page, with a reason.
    Withdrawn,
    /// The incident's postmortem was started, sent to review or published (data: from, to).
    PostmortemStateChanged,
}

named_enum!(
    TimelineKind,
    "timeline kind",
    "declared, acknowledged, status_changed, severity_changed, role_assigned, note, \
     public_update, component_impact_changed, link_added, escalated, notified, \
     sla_breached, runbook_step, kubernetes_action, health_signal, resolved, reopened, \
     details_changed, withdrawn, postmortem_state_changed"
);

impl TimelineKind {
    /// Every kind, roughly in the order they happen.
    pub const ALL: [TimelineKind; 20] = [
        TimelineKind::Declared,
        TimelineKind::Acknowledged,
        TimelineKind::StatusChanged,
        TimelineKind::SeverityChanged,
        TimelineKind::RoleAssigned,
        TimelineKind::Note,
        TimelineKind::PublicUpdate,
        TimelineKind::ComponentImpactChanged,
        TimelineKind::LinkAdded,
        TimelineKind::Escalated,
        TimelineKind::Notified,
        TimelineKind::SlaBreached,
        TimelineKind::RunbookStep,
        TimelineKind::KubernetesAction,
        TimelineKind::HealthSignal,
        TimelineKind::Resolved,
        TimelineKind::Reopened,
        TimelineKind::DetailsChanged,
        TimelineKind::Withdrawn,
        TimelineKind::PostmortemStateChanged,
    ];

    /// The snake_case name stored in the timeline table.
    pub const fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Declared => "declared",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::StatusChanged => "status_changed",
            TimelineKind::SeverityChanged => "severity_changed",
            TimelineKind::RoleAssigned => "role_assigned",
            TimelineKind::Note => "note",
            TimelineKind::PublicUpdate => "public_update",
            TimelineKind::ComponentImpactChanged => "component_impact_changed",
            TimelineKind::LinkAdded => "link_added",
            TimelineKind::Escalated => "escalated",
            TimelineKind::Notified => "notified",
            TimelineKind::SlaBreached => "sla_breached",
            TimelineKind::RunbookStep => "runbook_step",
            TimelineKind::KubernetesAction => "kubernetes_action",
            TimelineKind::HealthSignal => "health_signal",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Reopened => "reopened",
            TimelineKind::DetailsChanged => "details_changed",
            TimelineKind::Withdrawn => "withdrawn",
            TimelineKind::PostmortemStateChanged => "postmortem_state_changed",
        }
    }

    /// Whether entries of this kind may appear on the public status page.
    ///
    /// Only `declared`, `public_update`, `resolved` and `reopened`: the public sees that an
    /// incident began, what the commander chose to tell them, and that it ended or came
    /// back. Everything else can name people, pods, hosts or internal reasoning, so it
    /// stays internal even when harmless; component states reach the public page through
    /// the components themselves, not through timeline entries.
    pub const fn is_public(self) -> bool {
        matches!(
            self,
            TimelineKind::Declared
                | TimelineKind::PublicUpdate
                | TimelineKind::Resolved
                | TimelineKind::Reopened
        )
    }
}

/// Who may run an incident (change its status, severity, roles, components, public updates,
/// resolve and reopen it): commanders and above on every incident, and a responder on the
/// incident they command (after taking command or being made commander). Viewers never.
pub fn may_command(role: crate::role::Role, is_incident_commander: bool) -> bool {
    use crate::role::Role;
    role.allows(Role::Commander) || (is_incident_commander && role.allows(Role::Responder))
}

/// Who may be made an incident's commander: anyone who could then run it (responders and
/// above); viewers only read.
pub fn may_be_commander(role: crate::role::Role) -> bool {
    role.allows(crate::role::Role::Responder)
}

/// An incident's human number, shown as `INC-42`; always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct IncidentNumber(i64);

/// Why an incident number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentNumberError {
    /// Zero or negative.
    #[error("incident numbers start at 1, got {0}")]
    NotPositive(i64),
    /// Not `INC-<digits>` or `<digits>`, or too large.
    #[error("{0:?} is not an incident number: expected INC-42 or 42")]
    Malformed(String),
}

impl IncidentNumber {
    /// The number `n`, which must be at least 1.
    pub const fn new(n: i64) -> Result<IncidentNumber, IncidentNumberError> {
        if n > 0 { Ok(IncidentNumber(n)) } else { Err(IncidentNumberError::NotPositive(n)) }
    }

    /// The plain number, as stored.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentNumber {
    type Err = IncidentNumberError;

    /// Parses `INC-42` (any case) or `42`, ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || IncidentNumberError::Malformed(s.to_owned());
        let trimmed = s.trim();
        let digits = match trimmed.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("INC-") => &trimmed[4..],
            _ => trimmed,
        };
        // i64::from_str accepts a leading '+' or '-'; an incident number is digits only.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let n: i64 = digits.parse().map_err(|_| malformed())?;
        IncidentNumber::new(n)
    }
}

impl TryFrom<i64> for IncidentNumber {
    type Error = IncidentNumberError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        IncidentNumber::new(value)
    }
}

impl From<IncidentNumber> for i64 {
    fn from(number: IncidentNumber) -> Self {
        number.0
    }
}

/// An incident title: trimmed, 1 to [`Title::MAX_CHARS`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

/// Why a title was refused; the message is shown beside the form field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Nothing left after trimming.
    #[error("the title is empty")]
    Empty,
    /// More than [`Title::MAX_CHARS`] characters after trimming.
    #[error("the title is {chars} characters long; the limit is {max}", max = Title::MAX_CHARS)]
    TooLong {
        /// Its length in characters (Unicode scalar values).
        chars: usize,
    },
    /// A control or text-direction character, which would garble lists and notifications.
    #[error("the title contains an invisible control character (U+{:04X})", u32::from(*.found))]
    ControlCharacter {
        /// The offending character.
        found: char,
    },
}

impl Title {
    /// The longest title, in characters (Unicode scalar values).
    pub const MAX_CHARS: usize = 200;

    /// Validates and trims `input`.
    pub fn parse(input: &str) -> Result<Title, TitleError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        // Bidirectional overrides and isolates are rejected with the C0/C1 controls:
        // they let a title display as something other than what it says.
        if let Some(found) = trimmed
            .chars()
            .find(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        {
            return Err(TitleError::ControlCharacter { found });
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(TitleError::TooLong { chars });
        }
        Ok(Title(trimmed.to_owned()))
    }

    /// The title text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Title {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Title {
    type Err = TitleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Title::parse(s)
    }
}

impl TryFrom<&str> for Title {
    type Error = TitleError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Title::parse(value)
    }
}

impl TryFrom<String> for Title {
    type Error = TitleError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Title::parse(&value)
    }
}

impl From<Title> for String {
    fn from(title: Title) -> Self {
        title.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::{
        Acknowledged as Ack, Identified as Idf, Investigating as Inv, Monitoring as Mon, Resolved as Res,
        Triggered as Trg,
    };

    #[test]
    fn the_incident_commander_runs_their_incident_whatever_their_role_above_viewer() {
        use crate::role::Role;
        assert!(may_command(Role::Commander, false) && may_command(Role::Admin, false));
        assert!(may_command(Role::Responder, true), "a responder who took command runs it");
        assert!(!may_command(Role::Responder, false), "another responder does not");
        assert!(!may_command(Role::Viewer, true), "a viewer never runs an incident");
        assert!(may_be_commander(Role::Responder) && !may_be_commander(Role::Viewer));
    }

    /// The whole state machine: `ok` or the expected error, row = from, column = to.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Ok,
        Unchanged,
        AlreadyAck,
        Resolved,
        BackToTriggered,
    }

    fn outcome(from: IncidentStatus, to: IncidentStatus) -> Want {
        match transition(from, to) {
            Ok(()) => Want::Ok,
            Err(TransitionError::Unchanged { status }) => {
                assert_eq!(status, from);
                Want::Unchanged
            }
            Err(TransitionError::AlreadyAcknowledged { status }) => {
                assert_eq!(status, from);
                Want::AlreadyAck
            }
            Err(TransitionError::Resolved { to: refused }) => {
                assert_eq!(refused, to);
                Want::Resolved
            }
            Err(TransitionError::BackToTriggered { from: current }) => {
                assert_eq!(current, from);
                Want::BackToTriggered
            }
        }
    }

    #[test]
    fn the_status_transition_table_holds_for_every_pair() {
        use Want::{AlreadyAck as AA, BackToTriggered as BT, Ok as OK, Resolved as RS, Unchanged as UN};
        let columns = [Trg, Ack, Inv, Idf, Mon, Res];
        let table = [
            (Trg, [UN, OK, OK, OK, OK, OK]),
            (Ack, [BT, AA, OK, OK, OK, OK]),
            (Inv, [BT, AA, UN, OK, OK, OK]),
            (Idf, [BT, AA, OK, UN, OK, OK]),
            (Mon, [BT, AA, OK, OK, UN, OK]),
            (Res, [RS, RS, OK, RS, RS, UN]),
        ];
        for (from, row) in table {
            for (to, want) in columns.into_iter().zip(row) {
                assert_eq!(outcome(from, to), want, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn open_incidents_bounce_freely_between_investigating_identified_and_monitoring() {
        for path in [[Inv, Mon, Idf], [Mon, Inv, Idf], [Idf, Inv, Mon]] {
            for pair in path.windows(2) {
                assert_eq!(transition(pair[0], pair[1]), Ok(()));
            }
        }
    }

    #[test]
    fn acknowledging_twice_explains_it_was_already_acknowledged() {
        let err = transition(Ack, Ack).expect_err("double acknowledge");
        assert_eq!(err, TransitionError::AlreadyAcknowledged { status: Ack });
        assert_eq!(err.to_string(), "the incident was already acknowledged (it is acknowledged)");
        assert_eq!(
            transition(Mon, Ack).expect_err("late acknowledge").to_string(),
            "the incident was already acknowledged (it is monitoring)"
        );
    }

    #[test]
    fn a_resolved_incident_must_be_reopened_before_anything_else() {
        let err = transition(Res, Ack).expect_err("acknowledge resolved");
        assert_eq!(err.to_string(), "the incident is resolved: reopen it first");
        assert_eq!(transition(Res, Inv), Ok(()));
        assert!(reopens(Res, Inv));
        assert!(!reopens(Mon, Inv));
    }

    #[test]
    fn nothing_goes_back_to_triggered() {
        for from in IncidentStatus::ALL {
            assert!(transition(from, Trg).is_err(), "{from} -> triggered");
        }
        assert_eq!(
            transition(Idf, Trg).expect_err("back").to_string(),
            "the incident cannot go back to triggered once someone has responded (it is identified)"
        );
    }

    #[test]
    fn same_status_is_reported_as_unchanged() {
        assert_eq!(
            transition(Inv, Inv).expect_err("same").to_string(),
            "the incident is already investigating"
        );
    }

    #[test]
    fn leaving_triggered_in_any_direction_counts_as_acknowledging() {
        for to in [Ack, Inv, Idf, Mon, Res] {
            assert!(acknowledges(Trg, to), "{to}");
        }
        assert!(!acknowledges(Ack, Inv));
        assert!(!acknowledges(Res, Inv));
    }

    #[test]
    fn allowed_next_lists_exactly_the_legal_moves() {
        assert_eq!(Trg.allowed_next().collect::<Vec<_>>(), [Ack, Inv, Idf, Mon, Res]);
        assert_eq!(Ack.allowed_next().collect::<Vec<_>>(), [Inv, Idf, Mon, Res]);
        assert_eq!(Mon.allowed_next().collect::<Vec<_>>(), [Inv, Idf, Res]);
        assert_eq!(Res.allowed_next().collect::<Vec<_>>(), [Inv]);
    }

    #[test]
    fn only_resolved_is_closed_and_only_triggered_is_unacknowledged() {
        for status in IncidentStatus::ALL {
            assert_eq!(status.is_open(), status != Res);
            assert_eq!(status.is_acknowledged(), status != Trg);
        }
    }

    #[test]
    fn every_named_enum_round_trips_through_its_name_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr + PartialEq + fmt::Debug + Serialize,
            T: for<'de> Deserialize<'de>,
            <T as FromStr>::Err: fmt::Debug,
        {
            for value in all {
                let name = value.to_string();
                assert_eq!(name.parse::<T>().expect("own name parses"), *value);
                let json = serde_json::to_string(value).expect("serializable");
                assert_eq!(json, format!("\"{name}\""));
                assert_eq!(serde_json::from_str::<T>(&json).expect("round trip"), *value);
            }
        }
        check(&IncidentStatus::ALL);
        check(&Impact::ALL);
        check(&ComponentStatus::ALL);
        check(&TimelineKind::ALL);
    }

    #[test]
    fn names_parse_with_any_case_and_padding_and_unknown_ones_list_the_choices() {
        assert_eq!(" Monitoring ".parse::<IncidentStatus>(), Ok(Mon));
        assert_eq!(IncidentStatus::try_from("RESOLVED"), Ok(Res));
        assert_eq!(TimelineKind::try_from("sla_breached"), Ok(TimelineKind::SlaBreached));
        let err = "fixed".parse::<IncidentStatus>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown incident status \"fixed\": expected one of triggered, acknowledged, \
             investigating, identified, monitoring, resolved"
        );
        assert!("major outage".parse::<Impact>().is_err());
        assert!("down".parse::<ComponentStatus>().is_err());
    }

    #[test]
    fn timeline_kind_names_are_unique_snake_case() {
        let mut names: Vec<_> = TimelineKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TimelineKind::ALL.len());
    }

    #[test]
    fn only_declared_public_updates_resolved_and_reopened_reach_the_public_page() {
        let public: Vec<_> = TimelineKind::ALL.into_iter().filter(|k| k.is_public()).collect();
        assert_eq!(
            public,
            [
                TimelineKind::Declared,
                TimelineKind::PublicUpdate,
                TimelineKind::Resolved,
                TimelineKind::Reopened
            ]
        );
        assert!(!TimelineKind::Note.is_public());
        assert!(!TimelineKind::KubernetesAction.is_public());
    }

    #[test]
    fn impacts_are_ordered_by_badness_and_map_to_component_statuses() {
        assert!(Impact::DegradedPerformance < Impact::PartialOutage);
        assert!(Impact::PartialOutage < Impact::MajorOutage);
        for impact in Impact::ALL {
            let status = ComponentStatus::from(impact);
            assert_eq!(status.as_str(), impact.as_str());
            assert_eq!(status.label(), impact.label());
        }
        assert_eq!(Impact::PartialOutage.label(), "partial outage");
    }

    #[test]
    fn the_worst_component_status_wins_the_roll_up() {
        use ComponentStatus::*;
        assert_eq!(ComponentStatus::worst([]), Operational);
        assert_eq!(ComponentStatus::worst([Operational, Operational]), Operational);
        assert_eq!(ComponentStatus::worst([Operational, UnderMaintenance]), UnderMaintenance);
        assert_eq!(ComponentStatus::worst([UnderMaintenance, DegradedPerformance]), DegradedPerformance);
        assert_eq!(ComponentStatus::worst([PartialOutage, MajorOutage, Operational]), MajorOutage);
        assert_eq!(ComponentStatus::worst([PartialOutage, UnderMaintenance]), PartialOutage);
        let ranks: Vec<_> = ComponentStatus::ALL.iter().map(|s| s.badness()).collect();
        let mut unique = ranks.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ranks.len(), "badness is a total order");
    }

    #[test]
    fn incident_numbers_display_and_parse_as_inc_dash_n() {
        let n = IncidentNumber::new(57).expect("positive");
        assert_eq!(n.to_string(), "INC-57");
        for input in ["INC-57", "inc-57", "57", " INC-57 ", "Inc-057"] {
            assert_eq!(input.parse::<IncidentNumber>(), Ok(n), "{input:?}");
        }
        assert_eq!(n.to_string().parse::<IncidentNumber>(), Ok(n));
        assert_eq!(n.get(), 57);
        assert_eq!(i64::from(n), 57);
    }

    #[test]
    fn incident_numbers_below_one_are_rejected() {
        assert_eq!(IncidentNumber::new(0), Err(IncidentNumberError::NotPositive(0)));
        assert_eq!(IncidentNumber::new(-3), Err(IncidentNumberError::NotPositive(-3)));
        assert_eq!("INC-0".parse::<IncidentNumber>(), Err(IncidentNumberError::NotPositive(0)));
        assert_eq!(
            IncidentNumber::new(0).expect_err("zero").to_string(),
            "incident numbers start at 1, got 0"
        );
    }

    #[test]
    fn malformed_incident_numbers_are_rejected() {
        for bad in [
            "",
            "INC-",
            "INC--4",
            "-4",
            "+4",
            "INC-4a",
            "PRB-4",
            "4.0",
            "INC 4",
            "99999999999999999999",
            "INC-४",
        ] {
            assert!(
                matches!(bad.parse::<IncidentNumber>(), Err(IncidentNumberError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            "x".parse::<IncidentNumber>().expect_err("malformed").to_string(),
            "\"x\" is not an incident number: expected INC-42 or 42"
        );
    }

    #[test]
    fn incident_numbers_serialize_as_plain_integers_and_refuse_zero() {
        let n = IncidentNumber::new(42).expect("positive");
        assert_eq!(serde_json::to_string(&n).expect("serializable"), "42");
        assert_eq!(serde_json::from_str::<IncidentNumber>("42").expect("valid"), n);
        assert!(serde_json::from_str::<IncidentNumber>("0").is_err());
    }

    #[test]
    fn titles_are_trimmed() {
        let title = Title::parse("  Database connections exhausted \n").expect("valid");
        assert_eq!(title.as_str(), "Database connections exhausted");
        assert_eq!(title.to_string(), "Database connections exhausted");
    }

    #[test]
    fn empty_and_blank_titles_are_rejected() {
        assert_eq!(Title::parse(""), Err(TitleError::Empty));
        assert_eq!(Title::parse(" \t\n "), Err(TitleError::Empty));
        assert_eq!(TitleError::Empty.to_string(), "the title is empty");
    }

    #[test]
    fn titles_may_have_two_hundred_characters_counted_as_characters_not_bytes() {
        let max = "é".repeat(200);
        assert_eq!(Title::parse(&max).map(|t| t.as_str().chars().count()), Ok(200));
        let err = Title::parse(&"a".repeat(201)).expect_err("too long");
        assert_eq!(err, TitleError::TooLong { chars: 201 });
        assert_eq!(err.to_string(), "the title is 201 characters long; the limit is 200");
    }

    #[test]
    fn titles_with_control_or_direction_characters_are_rejected() {
        for (input, found) in [
            ("API\ndown", '\n'),
            ("API\tdown", '\t'),
            ("bell\u{7}", '\u{7}'),
            ("c1\u{85}x", '\u{85}'),
            ("evil\u{202E}txt.exe", '\u{202E}'),
            ("iso\u{2066}late", '\u{2066}'),
        ] {
            assert_eq!(Title::parse(input), Err(TitleError::ControlCharacter { found }), "{input:?}");
        }
        assert_eq!(
            Title::parse("a\u{7}b").expect_err("bell").to_string(),
            "the title contains an invisible control character (U+0007)"
        );
    }

    #[test]
    fn titles_round_trip_through_serde_and_are_validated_on_the_way_in() {
        let title = Title::parse("API latency").expect("valid");
        let json = serde_json::to_string(&title).expect("serializable");
        assert_eq!(json, "\"API latency\"");
        assert_eq!(serde_json::from_str::<Title>(&json).expect("valid"), title);
        assert!(serde_json::from_str::<Title>("\"\"").is_err());
        assert_eq!(Title::try_from(String::from(" x ")).map(String::from), Ok("x".to_owned()));
        assert_eq!("y".parse::<Title>().map(|t| t.as_ref().to_owned()), Ok("y".to_owned()));
    }
}

/// Who may read an incident: the one rule behind every read path (pages, search, exports, the
/// API). A private incident is for responders and above; everything else is for every
/// signed-in role. A further rule (for instance a member list) joins here as another argument.
pub fn may_read(role: crate::role::Role, private: bool) -> bool {
    !private || role.allows(crate::role::Role::Responder)
}

#[cfg(test)]
mod read_tests {
    use super::may_read;
    use crate::role::Role;

    #[test]
    fn private_incidents_are_for_responders_and_above() {
        assert!(may_read(Role::Viewer, false));
        assert!(!may_read(Role::Viewer, true));
        for role in [Role::Responder, Role::Commander, Role::Manager, Role::Admin] {
            assert!(may_read(role, true), "{role}");
        }
    }
}
