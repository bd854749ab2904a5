//! Run rules: the state of each step of a guided run, the run's own state, who may change
//! them, and progress.
//!
//! Steps go `pending → done | skipped | failed`; a failed step may be retried (→ done or
//! failed again) or skipped; done and skipped are final, so of two people acting on the same
//! step only the first wins and the second gets [`StepError::AlreadyFinal`].
//!
//! A run is `in_progress` until it is `completed` or `abandoned`:
//! - it completes by itself when its last unfinished step becomes done or skipped
//!   ([`Progress::all_final`]; the server applies [`RunChange::Complete`] in the same
//!   transaction), or explicitly with [`RunChange::Complete`] once every step is final;
//! - a commander may complete it early with a reason ([`RunChange::CompleteEarly`]), for
//!   instance when the first fix worked and the other causes' fixes do not apply; the steps
//!   left pending or failed stay so, as a record of what was not done;
//! - a commander may abandon it with a reason.
//!
//! Roles: starting a run needs [`START_ROLE`]; completing or failing a step needs the step's
//! [`Step::required_role`](super::Step::required_role) (its action's role); skipping a step
//! needs only a responder, since skipping runs nothing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// The least role that starts a run of a runbook on an incident.
pub const START_ROLE: Role = Role::Commander;
/// The least role that skips a step (with a reason).
pub const SKIP_ROLE: Role = Role::Responder;
/// The least role that completes a run early or abandons it.
pub const CLOSE_EARLY_ROLE: Role = Role::Commander;
/// The longest failure message kept, in characters; longer ones are cut with "…".
pub const MAX_FAILURE_CHARS: usize = 4000;

/// A step's state without its reason or message, as stored in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not done yet.
    Pending,
    /// Done (final).
    Done,
    /// Deliberately not done, with a reason (final).
    Skipped,
    /// Tried and failed, with the message; may be retried or skipped.
    Failed,
}

named_enum!(StepStatus, "step status", "pending, done, skipped, failed");

impl StepStatus {
    /// Every status.
    pub const ALL: [StepStatus; 4] =
        [StepStatus::Pending, StepStatus::Done, StepStatus::Skipped, StepStatus::Failed];

    /// The snake_case name stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
        }
    }

    /// Whether nothing more can happen to the step (done or skipped).
    pub const fn is_final(self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped)
    }
}

/// A reason for skipping a step or completing or abandoning a run: trimmed, 1 to
/// [`Reason::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

/// Why a reason was refused; shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Nothing after trimming.
    #[error("a reason is required: say why, for the timeline")]
    Empty,
    /// Too long.
    #[error("the reason is {chars} characters long; the limit is {max}", max = Reason::MAX_CHARS)]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
}

impl Reason {
    /// The longest reason, in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Validates and trims `input`.
    pub fn parse(input: &str) -> Result<Reason, ReasonError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ReasonError::Empty);
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ReasonError::TooLong { chars });
        }
        Ok(Reason(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Reason {
    type Error = ReasonError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Reason::parse(&value)
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> Self {
        reason.0
    }
}

/// A step's state with its reason or failure message (who and when are the server's rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepState {
    /// Not done yet.
    Pending,
    /// Done.
    Done,
    /// Skipped, and why.
    Skipped {
        /// Why it was skipped.
        reason: Reason,
    },
    /// Failed, with the message (an action's error, e.g. the API server's answer).
    Failed {
        /// What went wrong.
        message: String,
    },
}

impl StepState {
    /// The status without data.
    pub const fn status(&self) -> StepStatus {
        match self {
            StepState::Pending => StepStatus::Pending,
            StepState::Done => StepStatus::Done,
            StepState::Skipped { .. } => StepStatus::Skipped,
            StepState::Failed { .. } => StepStatus::Failed,
        }
    }
}

/// What someone does to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepChange {
    /// Mark it done (after its action succeeded, or for a manual step).
    Complete,
    /// Skip it, saying why.
    Skip {
        /// Why.
        reason: Reason,
    },
    /// Record that it failed (its action's error); the step may be retried.
    Fail {
        /// The error; blank becomes "failed without a message", long ones are cut at
        /// [`MAX_FAILURE_CHARS`].
        message: String,
    },
}

impl StepChange {
    /// The role this change needs on a step whose own role is `step_role`.
    pub fn required_role(&self, step_role: Role) -> Role {
        match self {
            StepChange::Skip { .. } => SKIP_ROLE,
            StepChange::Complete | StepChange::Fail { .. } => step_role,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Steps are being worked through.
    InProgress,
    /// Every step final, or completed early by a commander.
    Completed,
    /// Given up, with a reason.
    Abandoned,
}

named_enum!(RunStatus, "run status", "in_progress, completed, abandoned");

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 3] = [RunStatus::InProgress, RunStatus::Completed, RunStatus::Abandoned];

    /// The snake_case name stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::InProgress => "in_progress",
            RunStatus::Completed => "completed",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// Words for people ("in progress").
    pub const fn label(self) -> &'static str {
        match self {
            RunStatus::InProgress => "in progress",
            RunStatus::Completed => "completed",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// Whether steps can still change.
    pub const fn is_open(self) -> bool {
        matches!(self, RunStatus::InProgress)
    }
}

/// Why a step change was refused; the server adds who acted and when.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The step is done or skipped already (someone else got there first).
    #[error("the step is already {state}")]
    AlreadyFinal {
        /// Its current status.
        state: StepStatus,
    },
    /// The run is completed or abandoned.
    #[error("the run is {} and its steps can no longer change", status.label())]
    RunClosed {
        /// The run's status.
        status: RunStatus,
    },
    /// The actor's role is below what the change needs.
    #[error("this needs the {required} role; you are {held}")]
    NeedsRole {
        /// The least role allowed.
        required: Role,
        /// The actor's role.
        held: Role,
    },
}

/// Applies `change` to a step in state `current` of a run in status `run`, by someone with
/// role `role` on a step whose own role is `step_role`: the new state, or why not.
///
/// Checks, in order: the run is open, the role suffices, the step is not final. Failing a
/// failed step again is allowed (a retry that failed), as are completing and skipping it.
pub fn change_step(
    run: RunStatus,
    role: Role,
    step_role: Role,
    current: &StepState,
    change: StepChange,
) -> Result<StepState, StepError> {
    if !run.is_open() {
        return Err(StepError::RunClosed { status: run });
    }
    let required = change.required_role(step_role);
    if !role.allows(required) {
        return Err(StepError::NeedsRole { required, held: role });
    }
    let status = current.status();
    if status.is_final() {
        return Err(StepError::AlreadyFinal { state: status });
    }
    Ok(match change {
        StepChange::Complete => StepState::Done,
        StepChange::Skip { reason } => StepState::Skipped { reason },
        StepChange::Fail { message } => StepState::Failed { message: failure_message(&message) },
    })
}

/// Trims a failure message, names an empty one, and cuts a long one at [`MAX_FAILURE_CHARS`].
pub fn failure_message(message: &str) -> String {
    let trimmed = message.trim();
    if trimmed.is_empty() {
        return "failed without a message".to_owned();
    }
    match trimmed.char_indices().nth(MAX_FAILURE_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// How far a run is: counts of steps per status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Progress {
    /// Steps not done yet.
    pub pending: usize,
    /// Steps done.
    pub done: usize,
    /// Steps skipped.
    pub skipped: usize,
    /// Steps failed (not retried successfully yet).
    pub failed: usize,
}

impl Progress {
    /// Counts the statuses.
    pub fn of<I: IntoIterator<Item = StepStatus>>(statuses: I) -> Progress {
        statuses.into_iter().fold(Progress::default(), |mut p, status| {
            match status {
                StepStatus::Pending => p.pending += 1,
                StepStatus::Done => p.done += 1,
                StepStatus::Skipped => p.skipped += 1,
                StepStatus::Failed => p.failed += 1,
            }
            p
        })
    }

    /// All steps.
    pub const fn total(&self) -> usize {
        self.pending + self.done + self.skipped + self.failed
    }

    /// Steps done or skipped.
    pub const fn finished(&self) -> usize {
        self.done + self.skipped
    }

    /// Whether every step is done or skipped (and there is at least one).
    pub const fn all_final(&self) -> bool {
        self.total() > 0 && self.pending == 0 && self.failed == 0
    }

    /// Finished steps as a whole percentage, rounded down (100 only when all are final).
    pub const fn percent_finished(&self) -> usize {
        if self.total() == 0 { 0 } else { self.finished() * 100 / self.total() }
    }
}

impl fmt::Display for Progress {
    /// "5 of 9 steps finished (4 done, 1 skipped), 1 failed, 3 pending".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} steps finished ({} done, {} skipped), {} failed, {} pending",
            self.finished(),
            self.total(),
            self.done,
            self.skipped,
            self.failed,
            self.pending
        )
    }
}

/// What someone does to a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunChange {
    /// Complete it: every step is done or skipped.
    Complete,
    /// Complete it although some steps are pending or failed, saying why (commander).
    CompleteEarly {
        /// Why the remaining steps are not needed.
        reason: Reason,
    },
    /// Give it up, saying why (commander).
    Abandon {
        /// Why.
        reason: Reason,
    },
}

/// Why a run change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The run is completed or abandoned already.
    #[error("the run is already {}", status.label())]
    AlreadyClosed {
        /// Its status.
        status: RunStatus,
    },
    /// Completing while steps remain.
    #[error(
        "{pending} step(s) pending and {failed} failed: finish or skip them, or complete the run early with a reason"
    )]
    StepsUnfinished {
        /// Steps pending.
        pending: usize,
        /// Steps failed.
        failed: usize,
    },
    /// The actor's role is below what the change needs.
    #[error("this needs the {required} role; you are {held}")]
    NeedsRole {
        /// The least role allowed.
        required: Role,
        /// The actor's role.
        held: Role,
    },
}

/// Applies `change` to a run in status `current` with `progress`, by someone with `role`.
///
/// `Complete` needs a responder and every step final; `CompleteEarly` and `Abandon` need a
/// commander ([`CLOSE_EARLY_ROLE`]) and carry their reason.
pub fn change_run(
    current: RunStatus,
    progress: &Progress,
    role: Role,
    change: &RunChange,
) -> Result<RunStatus, RunError> {
    if !current.is_open() {
        return Err(RunError::AlreadyClosed { status: current });
    }
    let required = match change {
        RunChange::Complete => Role::Responder,
        RunChange::CompleteEarly { .. } | RunChange::Abandon { .. } => CLOSE_EARLY_ROLE,
    };
    if !role.allows(required) {
        return Err(RunError::NeedsRole { required, held: role });
    }
    match change {
        RunChange::Complete if !progress.all_final() => {
            Err(RunError::StepsUnfinished { pending: progress.pending, failed: progress.failed })
        }
        RunChange::Complete | RunChange::CompleteEarly { .. } => Ok(RunStatus::Completed),
        RunChange::Abandon { .. } => Ok(RunStatus::Abandoned),
    }
}

/// Whether a step change that left the run with `progress` completes the run by itself.
pub const fn completes_run(progress: &Progress) -> bool {
    progress.all_final()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(text: &str) -> Reason {
        Reason::parse(text).expect("valid reason")
    }

    fn skip() -> StepChange {
        StepChange::Skip { reason: reason("not this cause") }
    }

    fn fail() -> StepChange {
        StepChange::Fail { message: "deployments.apps \"x\" is forbidden".into() }
    }

    const OPEN: RunStatus = RunStatus::InProgress;
    const R: Role = Role::Responder;

    #[test]
    fn a_pending_step_can_be_done_skipped_or_failed() {
        assert_eq!(change_step(OPEN, R, R, &StepState::Pending, StepChange::Complete), Ok(StepState::Done));
        assert_eq!(
            change_step(OPEN, R, R, &StepState::Pending, skip()),
            Ok(StepState::Skipped { reason: reason("not this cause") })
        );
        assert_eq!(
            change_step(OPEN, R, R, &StepState::Pending, fail()),
            Ok(StepState::Failed { message: "deployments.apps \"x\" is forbidden".into() })
        );
    }

    #[test]
    fn a_failed_step_may_be_retried_or_skipped() {
        let failed = StepState::Failed { message: "timeout".into() };
        assert_eq!(change_step(OPEN, R, R, &failed, StepChange::Complete), Ok(StepState::Done));
        assert!(matches!(change_step(OPEN, R, R, &failed, fail()), Ok(StepState::Failed { .. })));
        assert!(matches!(change_step(OPEN, R, R, &failed, skip()), Ok(StepState::Skipped { .. })));
    }

    #[test]
    fn the_second_person_completing_a_done_step_is_told_it_is_already_done() {
        let first = change_step(OPEN, R, R, &StepState::Pending, StepChange::Complete).expect("first wins");
        let second = change_step(OPEN, R, R, &first, StepChange::Complete).expect_err("second loses");
        assert_eq!(second, StepError::AlreadyFinal { state: StepStatus::Done });
        assert_eq!(second.to_string(), "the step is already done");
    }

    #[test]
    fn done_and_skipped_steps_are_final_for_every_change() {
        let skipped = StepState::Skipped { reason: reason("n/a") };
        for state in [StepState::Done, skipped] {
            for change in [StepChange::Complete, skip(), fail()] {
                assert_eq!(
                    change_step(OPEN, Role::Admin, R, &state, change),
                    Err(StepError::AlreadyFinal { state: state.status() })
                );
            }
        }
    }

    #[test]
    fn steps_of_a_closed_run_cannot_change() {
        for status in [RunStatus::Completed, RunStatus::Abandoned] {
            let err = change_step(status, Role::Admin, R, &StepState::Pending, StepChange::Complete)
                .expect_err("closed");
            assert_eq!(err, StepError::RunClosed { status });
        }
        assert_eq!(
            StepError::RunClosed { status: RunStatus::Abandoned }.to_string(),
            "the run is abandoned and its steps can no longer change"
        );
    }

    #[test]
    fn a_changing_step_needs_its_role_but_anyone_from_responder_may_skip_it() {
        let commander_step = Role::Commander;
        assert_eq!(
            change_step(OPEN, R, commander_step, &StepState::Pending, StepChange::Complete),
            Err(StepError::NeedsRole { required: Role::Commander, held: R })
        );
        assert!(change_step(OPEN, R, commander_step, &StepState::Pending, fail()).is_err());
        assert!(change_step(OPEN, R, commander_step, &StepState::Pending, skip()).is_ok());
        assert!(
            change_step(OPEN, Role::Commander, commander_step, &StepState::Pending, StepChange::Complete)
                .is_ok()
        );
        assert_eq!(
            change_step(OPEN, Role::Viewer, R, &StepState::Pending, skip()),
            Err(StepError::NeedsRole { required: Role::Responder, held: Role::Viewer })
        );
        assert_eq!(
            change_step(OPEN, Role::Commander, Role::Manager, &StepState::Pending, StepChange::Complete)
                .expect_err("isolation")
                .to_string(),
            "this needs the manager role; you are commander"
        );
    }

    #[test]
    fn skipping_needs_a_reason() {
        assert_eq!(Reason::parse("  "), Err(ReasonError::Empty));
        assert_eq!(ReasonError::Empty.to_string(), "a reason is required: say why, for the timeline");
        assert_eq!(Reason::parse(" cause ruled out ").map(String::from), Ok("cause ruled out".to_owned()));
        assert_eq!(Reason::parse(&"x".repeat(1001)), Err(ReasonError::TooLong { chars: 1001 }));
        assert!(serde_json::from_str::<Reason>("\"\"").is_err());
    }

    #[test]
    fn failure_messages_are_never_blank_and_long_ones_are_cut() {
        assert_eq!(failure_message("  "), "failed without a message");
        assert_eq!(failure_message(" 409 Conflict "), "409 Conflict");
        let long = failure_message(&"é".repeat(5000));
        assert_eq!(long.chars().count(), MAX_FAILURE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn progress_counts_each_status() {
        use StepStatus::*;
        let p = Progress::of([Done, Done, Skipped, Failed, Pending, Pending]);
        assert_eq!(p, Progress { pending: 2, done: 2, skipped: 1, failed: 1 });
        assert_eq!(p.total(), 6);
        assert_eq!(p.finished(), 3);
        assert_eq!(p.percent_finished(), 50);
        assert!(!p.all_final());
        assert_eq!(p.to_string(), "3 of 6 steps finished (2 done, 1 skipped), 1 failed, 2 pending");
        assert!(Progress::of([Done, Skipped]).all_final());
        assert!(!Progress::of([]).all_final());
        assert_eq!(Progress::of([]).percent_finished(), 0);
    }

    #[test]
    fn a_run_completes_by_itself_when_its_last_step_is_final() {
        use StepStatus::*;
        assert!(completes_run(&Progress::of([Done, Skipped, Done])));
        assert!(!completes_run(&Progress::of([Done, Failed])));
        assert_eq!(
            change_run(OPEN, &Progress::of([Done, Skipped]), R, &RunChange::Complete),
            Ok(RunStatus::Completed)
        );
    }

    #[test]
    fn completing_with_unfinished_steps_needs_a_commander_and_a_reason() {
        use StepStatus::*;
        let p = Progress::of([Done, Pending, Pending, Failed]);
        let err = change_run(OPEN, &p, Role::Commander, &RunChange::Complete).expect_err("unfinished");
        assert_eq!(err, RunError::StepsUnfinished { pending: 2, failed: 1 });
        assert_eq!(
            err.to_string(),
            "2 step(s) pending and 1 failed: finish or skip them, or complete the run early with a reason"
        );
        let early = RunChange::CompleteEarly { reason: reason("first fix worked") };
        assert_eq!(
            change_run(OPEN, &p, R, &early),
            Err(RunError::NeedsRole { required: Role::Commander, held: R })
        );
        assert_eq!(change_run(OPEN, &p, Role::Commander, &early), Ok(RunStatus::Completed));
    }

    #[test]
    fn a_commander_may_abandon_a_run_with_a_reason_and_closed_runs_stay_closed() {
        let p = Progress::of([StepStatus::Pending]);
        let abandon = RunChange::Abandon { reason: reason("wrong runbook") };
        assert_eq!(change_run(OPEN, &p, Role::Commander, &abandon), Ok(RunStatus::Abandoned));
        assert!(matches!(change_run(OPEN, &p, R, &abandon), Err(RunError::NeedsRole { .. })));
        for closed in [RunStatus::Completed, RunStatus::Abandoned] {
            assert_eq!(
                change_run(closed, &p, Role::Admin, &abandon),
                Err(RunError::AlreadyClosed { status: closed })
            );
        }
        assert_eq!(
            RunError::AlreadyClosed { status: RunStatus::Completed }.to_string(),
            "the run is already completed"
        );
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in StepStatus::ALL {
            assert_eq!(status.as_str().parse::<StepStatus>(), Ok(status));
            assert_eq!(serde_json::to_string(&status).expect("serializable"), format!("\"{status}\""));
        }
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        }
        assert!("Done".parse::<StepStatus>().is_err());
        let json = serde_json::to_value(StepState::Skipped { reason: reason("n/a") }).expect("serializable");
        assert_eq!(json, serde_json::json!({"status": "skipped", "reason": "n/a"}));
    }

    fn any_change() -> impl Strategy<Value = StepChange> {
        prop_oneof![Just(StepChange::Complete), Just(skip()), Just(fail())]
    }

    proptest! {
        #[test]
        fn once_a_step_is_final_no_sequence_of_changes_alters_it(
            changes in proptest::collection::vec(any_change(), 1..12),
        ) {
            let mut state = StepState::Pending;
            let mut final_state: Option<StepState> = None;
            for change in changes {
                match change_step(OPEN, Role::Admin, R, &state, change) {
                    Ok(next) => {
                        prop_assert!(final_state.is_none(), "changed after final: {:?}", final_state);
                        state = next;
                        if state.status().is_final() {
                            final_state = Some(state.clone());
                        }
                    }
                    Err(StepError::AlreadyFinal { state: s }) => {
                        prop_assert_eq!(Some(s), final_state.as_ref().map(StepState::status));
                    }
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }
        }
    }
}
