//! The window lifecycle and what the public status page says about each state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::incident::{ComponentStatus, ParseNameError};

/// Where a maintenance window is in its lifecycle.
///
/// `draft` → `scheduled` → `in_progress` → `completed` | `rolled_back`; a draft or scheduled
/// window may instead be `cancelled`. An in-progress window cannot be cancelled: work has
/// begun on the system, so it ends either as completed or through its rollback checklist as
/// rolled back — both say publicly what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    /// Being written; not announced, not public.
    Draft,
    /// Announced: on the status page as upcoming, the 48-hour notice counts from then.
    Scheduled,
    /// Work has started: affected components are under maintenance, their probes suppressed.
    InProgress,
    /// Work finished as planned. Final.
    Completed,
    /// Work was undone through the rollback plan. Final.
    RolledBack,
    /// Called off before it started. Final.
    Cancelled,
}

impl WindowState {
    /// Every state, in lifecycle order.
    pub const ALL: [WindowState; 6] = [
        WindowState::Draft,
        WindowState::Scheduled,
        WindowState::InProgress,
        WindowState::Completed,
        WindowState::RolledBack,
        WindowState::Cancelled,
    ];

    /// The snake_case name stored and used in forms and JSON (`"in_progress"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            WindowState::Draft => "draft",
            WindowState::Scheduled => "scheduled",
            WindowState::InProgress => "in_progress",
            WindowState::Completed => "completed",
            WindowState::RolledBack => "rolled_back",
            WindowState::Cancelled => "cancelled",
        }
    }

    /// Words for people (`"in progress"`, `"rolled back"`).
    pub const fn label(self) -> &'static str {
        match self {
            WindowState::Draft => "draft",
            WindowState::Scheduled => "scheduled",
            WindowState::InProgress => "in progress",
            WindowState::Completed => "completed",
            WindowState::RolledBack => "rolled back",
            WindowState::Cancelled => "cancelled",
        }
    }

    /// Whether the window is over (completed, rolled back or cancelled): nothing about it
    /// changes any more, its checklist included.
    pub const fn is_finished(self) -> bool {
        matches!(self, WindowState::Completed | WindowState::RolledBack | WindowState::Cancelled)
    }

    /// Whether work is under way, so the affected components' probe signals are suppressed.
    pub const fn is_active(self) -> bool {
        matches!(self, WindowState::InProgress)
    }

    /// The states this one may move to, in lifecycle order (for the page's buttons).
    pub fn allowed_next(self) -> impl Iterator<Item = WindowState> {
        WindowState::ALL.into_iter().filter(move |to| transition(self, *to).is_ok())
    }

    /// What the window's affected components show on the status page, if the window
    /// decides it: `under_maintenance` while in progress (verifying included), else nothing.
    pub const fn component_status(self) -> Option<ComponentStatus> {
        match self {
            WindowState::InProgress => Some(ComponentStatus::UnderMaintenance),
            _ => None,
        }
    }

    /// The Statuspage status of a window in this state, or `None` when it is not public.
    ///
    /// - `draft` is not announced and `cancelled` is withdrawn: Statuspage v2 has no
    ///   cancelled status, and a window that will not happen must not show as upcoming or
    ///   completed (post an update before cancelling to tell readers).
    /// - `in_progress` is `in_progress` while maintenance steps remain, and `verifying` once
    ///   `all_steps_done` — the last step of the window's guided run is finished and the team
    ///   is watching that the system holds before declaring it completed (the maintenance
    ///   counterpart of an incident's `monitoring`).
    /// - `completed` and `rolled_back` are both `completed`: the window is over either way;
    ///   the outcome is told in its final update.
    pub const fn public_status(self, all_steps_done: bool) -> Option<PublicStatus> {
        match self {
            WindowState::Draft | WindowState::Cancelled => None,
            WindowState::Scheduled => Some(PublicStatus::Scheduled),
            WindowState::InProgress if all_steps_done => Some(PublicStatus::Verifying),
            WindowState::InProgress => Some(PublicStatus::InProgress),
            WindowState::Completed | WindowState::RolledBack => Some(PublicStatus::Completed),
        }
    }

    /// The verb phrase for moving *to* this state, used in refusals ("cannot start").
    const fn verb(self) -> &'static str {
        match self {
            WindowState::Draft => "go back to draft",
            WindowState::Scheduled => "be scheduled",
            WindowState::InProgress => "start",
            WindowState::Completed => "be completed",
            WindowState::RolledBack => "be rolled back",
            WindowState::Cancelled => "be cancelled",
        }
    }

    /// The state as an adjective with its indefinite article ("a draft", "an in-progress").
    pub(crate) fn with_article(self) -> &'static str {
        match self {
            WindowState::Draft => "a draft",
            WindowState::Scheduled => "a scheduled",
            WindowState::InProgress => "an in-progress",
            WindowState::Completed => "a completed",
            WindowState::RolledBack => "a rolled-back",
            WindowState::Cancelled => "a cancelled",
        }
    }
}

impl fmt::Display for WindowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WindowState {
    type Err = ParseNameError;

    /// Parses the snake_case name, ignoring surrounding whitespace and ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        WindowState::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(wanted)).ok_or_else(|| {
            ParseNameError {
                kind: "maintenance window state",
                input: s.to_owned(),
                expected: "draft, scheduled, in_progress, completed, rolled_back, cancelled",
            }
        })
    }
}

impl TryFrom<&str> for WindowState {
    type Error = ParseNameError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// Why a window's state change was refused; the message is shown to the user as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowTransitionError {
    /// The window already has that state.
    #[error("the window is already {}", .state.label())]
    Unchanged {
        /// The current (and requested) state.
        state: WindowState,
    },
    /// Any change to a completed, rolled-back or cancelled window.
    #[error("{} window cannot {}", .from.with_article(), .to.verb())]
    Finished {
        /// The current, final state.
        from: WindowState,
        /// The refused target state.
        to: WindowState,
    },
    /// Starting, completing or rolling back a draft.
    #[error("a draft window cannot {}: schedule it first", .to.verb())]
    NotScheduled {
        /// The refused target state.
        to: WindowState,
    },
    /// Completing or rolling back a window that has not started.
    #[error("a scheduled window cannot {}: start it first", .to.verb())]
    NotStarted {
        /// The refused target state.
        to: WindowState,
    },
    /// Cancelling a window whose work has begun.
    #[error("an in-progress window cannot be cancelled: roll it back instead")]
    CancelInProgress,
    /// Going back to draft or to scheduled.
    #[error("{} window cannot {}", .from.with_article(), .to.verb())]
    Backwards {
        /// The current state.
        from: WindowState,
        /// The refused earlier state.
        to: WindowState,
    },
}

/// Checks that a window may move from `from` to `to`.
///
/// Allowed: draft → scheduled (subject to the 48-hour rule, see [`super::Notice`]),
/// scheduled → in progress (subject to the checklist, see [`super::start_gate`]),
/// in progress → completed or rolled back, and draft or scheduled → cancelled. Everything
/// else is refused with the reason.
pub fn transition(from: WindowState, to: WindowState) -> Result<(), WindowTransitionError> {
    use WindowState::{Cancelled, Completed, Draft, InProgress, RolledBack, Scheduled};

    match (from, to) {
        _ if from == to => Err(WindowTransitionError::Unchanged { state: from }),
        _ if from.is_finished() => Err(WindowTransitionError::Finished { from, to }),
        (Draft, Scheduled) | (Scheduled, InProgress) => Ok(()),
        (InProgress, Completed | RolledBack) => Ok(()),
        (Draft | Scheduled, Cancelled) => Ok(()),
        (InProgress, Cancelled) => Err(WindowTransitionError::CancelInProgress),
        (Draft, InProgress | Completed | RolledBack) => Err(WindowTransitionError::NotScheduled { to }),
        (Scheduled, Completed | RolledBack) => Err(WindowTransitionError::NotStarted { to }),
        _ => Err(WindowTransitionError::Backwards { from, to }),
    }
}

/// A maintenance's status in the Statuspage v2 API (`scheduled_maintenances[].status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    /// Announced, not started: listed by `scheduled-maintenances/upcoming.json`.
    Scheduled,
    /// Work under way: listed by `scheduled-maintenances/active.json`.
    InProgress,
    /// Work done, watching that it holds: also listed as active.
    Verifying,
    /// Over: history only.
    Completed,
}

impl PublicStatus {
    /// Every status, in order.
    pub const ALL: [PublicStatus; 4] =
        [PublicStatus::Scheduled, PublicStatus::InProgress, PublicStatus::Verifying, PublicStatus::Completed];

    /// The name in Statuspage's JSON (`"in_progress"`…).
    pub const fn as_str(self) -> &'static str {
        match self {
            PublicStatus::Scheduled => "scheduled",
            PublicStatus::InProgress => "in_progress",
            PublicStatus::Verifying => "verifying",
            PublicStatus::Completed => "completed",
        }
    }

    /// Words for the status page (`"In progress"`).
    pub const fn label(self) -> &'static str {
        match self {
            PublicStatus::Scheduled => "Scheduled",
            PublicStatus::InProgress => "In progress",
            PublicStatus::Verifying => "Verifying",
            PublicStatus::Completed => "Completed",
        }
    }

    /// Whether `upcoming.json` lists it.
    pub const fn is_upcoming(self) -> bool {
        matches!(self, PublicStatus::Scheduled)
    }

    /// Whether `active.json` lists it.
    pub const fn is_active(self) -> bool {
        matches!(self, PublicStatus::InProgress | PublicStatus::Verifying)
    }
}

impl fmt::Display for PublicStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WindowState::{
        Cancelled as Can, Completed as Com, Draft as Drf, InProgress as Run, RolledBack as Rbk,
        Scheduled as Sch,
    };

    /// The expected outcome of one move, by error variant.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        Ok,
        Same,
        Fin,
        NotSch,
        NotRun,
        CanRun,
        Back,
    }

    fn outcome(from: WindowState, to: WindowState) -> Want {
        match transition(from, to) {
            Ok(()) => Want::Ok,
            Err(WindowTransitionError::Unchanged { .. }) => Want::Same,
            Err(WindowTransitionError::Finished { .. }) => Want::Fin,
            Err(WindowTransitionError::NotScheduled { .. }) => Want::NotSch,
            Err(WindowTransitionError::NotStarted { .. }) => Want::NotRun,
            Err(WindowTransitionError::CancelInProgress) => Want::CanRun,
            Err(WindowTransitionError::Backwards { .. }) => Want::Back,
        }
    }

    #[test]
    fn the_window_transition_table_holds_for_every_pair() {
        use Want::{Back as BK, CanRun as CR, Fin as FN, NotRun as NR, NotSch as NS, Ok as OK, Same as SM};
        let columns = [Drf, Sch, Run, Com, Rbk, Can];
        let table = [
            (Drf, [SM, OK, NS, NS, NS, OK]),
            (Sch, [BK, SM, OK, NR, NR, OK]),
            (Run, [BK, BK, SM, OK, OK, CR]),
            (Com, [FN, FN, FN, SM, FN, FN]),
            (Rbk, [FN, FN, FN, FN, SM, FN]),
            (Can, [FN, FN, FN, FN, FN, SM]),
        ];
        for (from, row) in table {
            for (to, want) in columns.into_iter().zip(row) {
                assert_eq!(outcome(from, to), want, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_cancelled_window_cannot_start() {
        assert_eq!(transition(Can, Run).expect_err("refused").to_string(), "a cancelled window cannot start");
        assert_eq!(
            transition(Com, Rbk).expect_err("refused").to_string(),
            "a completed window cannot be rolled back"
        );
    }

    #[test]
    fn an_in_progress_window_cannot_be_cancelled_and_must_roll_back_instead() {
        assert_eq!(
            transition(Run, Can).expect_err("refused").to_string(),
            "an in-progress window cannot be cancelled: roll it back instead"
        );
        assert_eq!(transition(Run, Rbk), Ok(()));
    }

    #[test]
    fn a_draft_must_be_scheduled_and_a_scheduled_window_started_before_it_ends() {
        assert_eq!(
            transition(Drf, Run).expect_err("refused").to_string(),
            "a draft window cannot start: schedule it first"
        );
        assert_eq!(
            transition(Sch, Com).expect_err("refused").to_string(),
            "a scheduled window cannot be completed: start it first"
        );
        assert_eq!(
            transition(Run, Drf).expect_err("refused").to_string(),
            "an in-progress window cannot go back to draft"
        );
        assert_eq!(transition(Sch, Sch).expect_err("refused").to_string(), "the window is already scheduled");
    }

    #[test]
    fn allowed_next_lists_exactly_the_legal_moves() {
        assert_eq!(Drf.allowed_next().collect::<Vec<_>>(), [Sch, Can]);
        assert_eq!(Sch.allowed_next().collect::<Vec<_>>(), [Run, Can]);
        assert_eq!(Run.allowed_next().collect::<Vec<_>>(), [Com, Rbk]);
        for done in [Com, Rbk, Can] {
            assert!(done.is_finished());
            assert_eq!(done.allowed_next().count(), 0, "{done}");
        }
    }

    #[test]
    fn the_status_page_shows_scheduled_then_in_progress_then_verifying_then_completed() {
        assert_eq!(Drf.public_status(false), None);
        assert_eq!(Sch.public_status(false), Some(PublicStatus::Scheduled));
        assert_eq!(Run.public_status(false), Some(PublicStatus::InProgress));
        assert_eq!(Run.public_status(true), Some(PublicStatus::Verifying));
        assert_eq!(Com.public_status(true), Some(PublicStatus::Completed));
        assert_eq!(Rbk.public_status(false), Some(PublicStatus::Completed));
        assert_eq!(Can.public_status(false), None, "a cancelled window leaves the page");
        let active: Vec<_> = PublicStatus::ALL.into_iter().filter(|s| s.is_active()).collect();
        assert_eq!(active, [PublicStatus::InProgress, PublicStatus::Verifying]);
        assert!(PublicStatus::Scheduled.is_upcoming() && !PublicStatus::Verifying.is_upcoming());
    }

    #[test]
    fn only_an_in_progress_window_puts_its_components_under_maintenance() {
        for state in WindowState::ALL {
            let want = (state == Run).then_some(ComponentStatus::UnderMaintenance);
            assert_eq!(state.component_status(), want, "{state}");
            assert_eq!(state.is_active(), state == Run);
        }
    }

    #[test]
    fn window_states_round_trip_through_their_names() {
        for state in WindowState::ALL {
            assert_eq!(state.as_str().parse::<WindowState>(), Ok(state));
            let json = serde_json::to_string(&state).expect("serializable");
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert_eq!(" Rolled_Back ".parse::<WindowState>(), Ok(Rbk));
        let err = "done".parse::<WindowState>().expect_err("unknown");
        assert!(err.to_string().contains("expected one of draft, scheduled"), "{err}");
        assert_eq!(serde_json::to_string(&PublicStatus::Verifying).expect("serializable"), "\"verifying\"");
    }
}
