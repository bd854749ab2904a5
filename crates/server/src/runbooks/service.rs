//! Runbook and run use cases, each on the caller's transaction: lock, rule from
//! `domain::runbook`, change, timeline event, audit row.

use serde_json::{Value, json};
use sqlx::PgConnection;
use twisterlab_domain::incident::TimelineKind;
use twisterlab_domain::role::Role;
use twisterlab_domain::runbook::run::{
    self as rules, Progress, Reason, RunChange, RunError, RunStatus, StepChange, StepError, StepState,
};
use twisterlab_domain::runbook::{Action, Runbook, Slug, Step, StepKey, parse_runbook};
use uuid::Uuid;

use super::output::ActionOutput;
use crate::db::audit::{self, Actor, Entry};
use crate::db::incidents::{self as incident_store, NewEvent};
use crate::db::runbook_runs::{self as runs, Run, RunStep, StepUpdate, Subject};
use crate::db::runbooks::{self as store, Source, Version};
use crate::validation::FieldError;
use crate::web::error::AppError;

/// How long a dry-run preview can be confirmed.
pub(crate) const PREVIEW_VALID_MINUTES: i64 = 15;

/// Why a runbook or run use case refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunbookError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("role {have} cannot do this; it needs {need}")]
    Forbidden { have: Role, need: Role },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<RunbookError> for AppError {
    fn from(e: RunbookError) -> Self {
        match e {
            RunbookError::NotFound(what) => AppError::NotFoundThing { what },
            RunbookError::Invalid(errors) => AppError::Validation(errors),
            RunbookError::Conflict(message) => AppError::Conflict(message),
            RunbookError::Forbidden { have, need } => AppError::Forbidden { have, need },
            RunbookError::Db(e) => AppError::from(e),
        }
    }
}

fn forbidden(have: Role, need: Role) -> RunbookError {
    RunbookError::Forbidden { have, need }
}

/// A run with its runbook version and steps.
pub(crate) struct LoadedRun {
    pub run: Run,
    pub runbook: Runbook,
    pub steps: Vec<RunStep>,
}

impl LoadedRun {
    pub(crate) fn progress(&self) -> Progress {
        Progress::of(self.steps.iter().map(|s| s.state.status()))
    }

    /// The step `key` of the version and its state.
    pub(crate) fn step(&self, key: &str) -> Option<(&Step, &RunStep)> {
        let state = self.steps.iter().find(|s| s.key.as_str() == key)?;
        Some((self.runbook.step(&state.key)?, state))
    }
}

/// Loads a run with its version and steps.
pub(crate) async fn load_run(db: &mut PgConnection, id: Uuid) -> Result<LoadedRun, RunbookError> {
    let run = runs::find(&mut *db, id).await?.ok_or_else(|| RunbookError::NotFound("run".into()))?;
    let version = version_of(db, &run).await?;
    let steps = runs::steps(&mut *db, id).await?;
    Ok(LoadedRun { run, runbook: version.runbook, steps })
}

/// Refuses a run `scope` may not see: a run on an incident is as readable as the incident
/// (the incidents' one read rule), and one it may not read does not exist for it.
pub(crate) async fn check_readable(
    db: &mut PgConnection,
    run: &Run,
    scope: crate::incidents::service::ReadScope,
) -> Result<(), RunbookError> {
    let Some(number) = run.incident_number else { return Ok(()) };
    let hidden = || RunbookError::NotFound("run".into());
    let number = twisterlab_domain::incident::IncidentNumber::new(number).map_err(|_| hidden())?;
    match crate::incidents::service::load_readable(db, number, scope).await {
        Ok(_) => Ok(()),
        Err(_) => Err(hidden()),
    }
}

async fn version_of(db: &mut PgConnection, run: &Run) -> Result<Version, RunbookError> {
    store::find(&mut *db, &run.slug, run.revision)
        .await?
        .ok_or_else(|| RunbookError::NotFound(format!("runbook {} revision {}", run.slug, run.revision)))
}

// ---------------------------------------------------------------------------------------------
// Editing a runbook

/// Saves an admin's edit of `slug` (the TOML text) as the next revision: audited.
///
/// The text is checked by the domain's parser; problems are field errors on `content`, each
/// naming its line and field. The revision in the text is ignored: an edit always makes the
/// revision after the latest stored one.
pub(crate) async fn save_edit(
    tx: &mut PgConnection,
    actor: &Actor,
    slug: &str,
    text: &str,
) -> Result<Runbook, RunbookError> {
    store::lock_slug(tx, slug).await?;
    let latest = store::latest(&mut *tx, slug)
        .await?
        .ok_or_else(|| RunbookError::NotFound(format!("runbook {slug}")))?;
    let mut runbook = parse_runbook(&format!("{slug}.toml"), text).map_err(|error| {
        let lines: Vec<String> = error
            .problems
            .iter()
            .map(|p| match &p.field {
                Some(field) => format!("line {}: {field}: {}", p.line, p.message),
                None => format!("line {}: {}", p.line, p.message),
            })
            .collect();
        RunbookError::Invalid(vec![FieldError::new("content", lines.join("\n"))])
    })?;
    let mut unchanged = runbook.clone();
    unchanged.revision = latest.runbook.revision;
    if unchanged.digest() == latest.digest {
        return Err(RunbookError::Invalid(vec![FieldError::new(
            "content",
            "Nothing changed: edit the runbook before saving a new revision.",
        )]));
    }
    runbook.revision = latest.runbook.revision.next();
    store::insert(&mut *tx, &runbook, Source::Edit, actor.user_id, &actor.label).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "runbook.edit",
            target: format!("runbook:{slug}"),
            before: Some(json!({"revision": latest.runbook.revision.get(), "digest": latest.digest})),
            after: Some(json!({"revision": runbook.revision.get(), "digest": runbook.digest()})),
        },
    )
    .await?;
    Ok(runbook)
}

// ---------------------------------------------------------------------------------------------
// Starting and closing runs

/// Starts the latest version of `slug` as a guided run on `subject`: every step pending.
/// Incidents get a `runbook_step` timeline event; both get an audit row.
pub(crate) async fn start_run(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    slug: &str,
    subject: Subject,
) -> Result<Uuid, RunbookError> {
    if !role.allows(rules::START_ROLE) {
        return Err(forbidden(role, rules::START_ROLE));
    }
    let unknown =
        || RunbookError::Invalid(vec![FieldError::new("runbook", "Choose one of the runbooks listed.")]);
    Slug::parse(slug).map_err(|_| unknown())?;
    let version = store::latest(&mut *tx, slug).await?.ok_or_else(unknown)?;
    let runbook = &version.runbook;
    let id = Uuid::now_v7();
    let keys = runbook.step_keys();
    runs::insert(tx, id, slug, runbook.revision, subject, actor.user_id, &actor.label, &keys).await?;
    if let Subject::Incident(incident_id) = subject {
        append_event(
            tx,
            incident_id,
            TimelineKind::RunbookStep,
            actor,
            &format!("Started the runbook \u{201c}{}\u{201d} (revision {})", runbook.title, runbook.revision),
            json!({"run": id, "runbook": slug, "revision": runbook.revision.get(), "change": "run_started"}),
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "runbook_run.start",
            target: format!("run:{id}"),
            before: None,
            after: Some(json!({"runbook": slug, "revision": runbook.revision.get(), "subject": subject_json(subject)})),
        },
    )
    .await?;
    Ok(id)
}

fn subject_json(subject: Subject) -> Value {
    match subject {
        Subject::Incident(id) => json!({"incident": id}),
        Subject::Window(id) => json!({"maintenance_window": id}),
    }
}

/// Abandons (or completes early) a run, with the reason; commanders only.
pub(crate) async fn close_run(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    run_id: Uuid,
    change: RunChange,
) -> Result<RunStatus, RunbookError> {
    let run = runs::lock(tx, run_id).await?.ok_or_else(|| RunbookError::NotFound("run".into()))?;
    let steps = runs::steps(&mut *tx, run_id).await?;
    let progress = Progress::of(steps.iter().map(|s| s.state.status()));
    let status = rules::change_run(run.status, &progress, role, &change).map_err(|e| match e {
        RunError::NeedsRole { required, held } => forbidden(held, required),
        other => RunbookError::Conflict(format!("{}.", capitalize(&other.to_string()))),
    })?;
    let reason = match &change {
        RunChange::Abandon { reason } | RunChange::CompleteEarly { reason } => Some(reason.as_str()),
        RunChange::Complete => None,
    };
    runs::close(tx, run_id, status, reason, actor.user_id, &actor.label).await?;
    if let Some(incident_id) = run.incident_id {
        let words = match status {
            RunStatus::Abandoned => format!("Abandoned the runbook {}: {}", run.slug, reason.unwrap_or("")),
            _ => format!("Completed the runbook {}", run.slug),
        };
        append_event(
            tx,
            incident_id,
            TimelineKind::RunbookStep,
            actor,
            &words,
            json!({"run": run_id, "runbook": run.slug, "change": format!("run_{}", status.as_str()), "reason": reason}),
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: if status == RunStatus::Abandoned {
                "runbook_run.abandon"
            } else {
                "runbook_run.complete"
            },
            target: format!("run:{run_id}"),
            before: Some(json!({"status": run.status.as_str()})),
            after: Some(json!({"status": status.as_str(), "reason": reason})),
        },
    )
    .await?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// Changing steps

/// The step a change is about, locked, with its run and definition.
pub(crate) struct LockedStep {
    pub run: Run,
    pub step: Step,
    pub state: RunStep,
}

/// Locks a run's step and checks that `change` is allowed now: the run is open, the role
/// suffices, the step is not final, and (when given) the version is the one the caller saw.
/// A lost race is a conflict naming the step's current state.
pub(crate) async fn lock_step_for(
    tx: &mut PgConnection,
    role: Role,
    run_id: Uuid,
    key: &str,
    expected_version: Option<i32>,
    change: &StepChange,
) -> Result<LockedStep, RunbookError> {
    let run = runs::lock(tx, run_id).await?.ok_or_else(|| RunbookError::NotFound("run".into()))?;
    let version = version_of(tx, &run).await?;
    let step = StepKey::parse(key)
        .ok()
        .and_then(|k| version.runbook.step(&k).cloned())
        .ok_or_else(|| RunbookError::NotFound(format!("step {key}")))?;
    let state = runs::lock_step(tx, run_id, key)
        .await?
        .ok_or_else(|| RunbookError::NotFound(format!("step {key}")))?;
    rules::change_step(run.status, role, step.required_role(), &state.state, change.clone())
        .map_err(|e| step_error(e, &state))?;
    if let Some(expected) = expected_version
        && expected != state.version
    {
        return Err(RunbookError::Conflict(format!(
            "Someone else changed this step while you were looking at it: {}. Nothing was applied; look at its current state and try again.",
            describe_state(&state)
        )));
    }
    Ok(LockedStep { run, step, state })
}

fn step_error(e: StepError, state: &RunStep) -> RunbookError {
    match e {
        StepError::NeedsRole { required, held } => forbidden(held, required),
        StepError::AlreadyFinal { .. } => RunbookError::Conflict(format!(
            "This step was already finished by someone else: {}. Nothing was applied.",
            describe_state(state)
        )),
        StepError::RunClosed { .. } => RunbookError::Conflict(format!("{}.", capitalize(&e.to_string()))),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// "it is done (by Ada, at 2026-12-03T12:00:00Z)".
pub(crate) fn describe_state(state: &RunStep) -> String {
    let what = match &state.state {
        StepState::Pending => "it is pending".to_owned(),
        StepState::Done => "it is done".to_owned(),
        StepState::Skipped { reason } => format!("it was skipped ({reason})"),
        StepState::Failed { message } => format!("it failed ({message})"),
    };
    match (&state.actor_label, state.changed_at) {
        (Some(who), Some(at)) => format!("{what} by {who} at {at}"),
        _ => what,
    }
}

/// What to write with a step change.
#[derive(Default)]
pub(crate) struct StepRecord<'a> {
    pub note: Option<&'a str>,
    pub action: Option<&'a Action>,
    pub output: Option<&'a ActionOutput>,
}

/// Applies `change` to a locked step: stores it, appends the `runbook_step` event (incident
/// runs), writes the audit row, and completes the run when every step is final.
pub(crate) async fn apply_step_change(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    locked: &LockedStep,
    change: StepChange,
    record: StepRecord<'_>,
) -> Result<StepState, RunbookError> {
    let run = &locked.run;
    let key = locked.step.key.as_str();
    let new_state =
        rules::change_step(run.status, role, locked.step.required_role(), &locked.state.state, change)
            .map_err(|e| step_error(e, &locked.state))?;
    let action_json =
        record.action.map(serde_json::to_value).transpose().map_err(|e| sqlx::Error::Encode(e.into()))?;
    let output_json =
        record.output.map(serde_json::to_value).transpose().map_err(|e| sqlx::Error::Encode(e.into()))?;
    let note = record.note.map(str::trim).filter(|n| !n.is_empty());
    runs::update_step(
        tx,
        run.id,
        key,
        &StepUpdate {
            state: &new_state,
            note,
            actor_id: actor.user_id,
            actor_label: &actor.label,
            action_input: action_json.as_ref(),
            output: output_json.as_ref(),
        },
    )
    .await?;
    let (verb, detail) = match &new_state {
        StepState::Done => ("done", None),
        StepState::Skipped { reason } => ("skipped", Some(reason.as_str().to_owned())),
        StepState::Failed { message } => ("failed", Some(message.clone())),
        StepState::Pending => ("pending", None),
    };
    if let Some(incident_id) = run.incident_id {
        let mut words = format!("Step \u{201c}{}\u{201d} of {}: {verb}", locked.step.title, run.slug);
        if let Some(detail) = &detail {
            words.push_str(&format!(" \u{2014} {detail}"));
        }
        if let Some(output) = record.output {
            words.push_str(&format!("\n\n{}", output.summary));
        }
        append_event(
            tx,
            incident_id,
            TimelineKind::RunbookStep,
            actor,
            &words,
            json!({
                "run": run.id, "runbook": run.slug, "step": key, "title": locked.step.title.as_str(),
                "status": new_state.status().as_str(), "detail": detail, "note": note,
                "output": output_json,
            }),
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "runbook_step.change",
            target: format!("run:{}:{key}", run.id),
            before: Some(json!({"status": locked.state.state.status().as_str()})),
            after: Some(json!({"status": new_state.status().as_str(), "detail": detail, "note": note})),
        },
    )
    .await?;
    let steps = runs::steps(&mut *tx, run.id).await?;
    let progress = Progress::of(steps.iter().map(|s| s.state.status()));
    if rules::completes_run(&progress) {
        close_run(tx, actor, role, run.id, RunChange::Complete).await?;
    }
    Ok(new_state)
}

/// Stores a changing action's dry run on the locked step: the preview to confirm and the
/// single-use token; returns the step's new version.
pub(crate) async fn store_preview(
    tx: &mut PgConnection,
    locked: &LockedStep,
    action: &Action,
    preview: &ActionOutput,
    token: &str,
) -> Result<i32, RunbookError> {
    let action = serde_json::to_value(action).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let preview = serde_json::to_value(preview).map_err(|e| sqlx::Error::Encode(e.into()))?;
    Ok(runs::set_preview(tx, locked.run.id, locked.step.key.as_str(), &action, &preview, token).await?)
}

/// Takes the confirmed preview of a locked step: the action to apply, if `token` is the
/// step's current one and the preview is recent. The token is used up (a second confirmation
/// finds none); returns the action and the step's new version.
pub(crate) async fn take_preview(
    tx: &mut PgConnection,
    locked: &LockedStep,
    token: &str,
) -> Result<(Action, i32), RunbookError> {
    let state = &locked.state;
    let fresh = state.preview_at.is_some_and(|at| {
        jiff::Timestamp::now().duration_since(at) < jiff::SignedDuration::from_mins(PREVIEW_VALID_MINUTES)
    });
    let matches = state.preview_token.as_deref().is_some_and(|t| !token.is_empty() && constant_eq(t, token));
    if !matches || !fresh {
        return Err(RunbookError::Conflict(
            "Nothing to confirm: this change has no current preview. Run the dry run again, check the preview, then confirm it."
                .into(),
        ));
    }
    let action: Action =
        state.action_input.clone().and_then(|v| serde_json::from_value(v).ok()).ok_or_else(|| {
            RunbookError::Conflict("The preview no longer names an action: run the dry run again.".into())
        })?;
    let version = runs::clear_preview(tx, locked.run.id, locked.step.key.as_str()).await?;
    Ok((action, version))
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Records a Kubernetes action's outcome on the incident's timeline (`kubernetes_action`)
/// and in the audit log: what was asked, whether it was a dry run, success with its summary
/// or the API server's message.
pub(crate) async fn record_kubernetes_action(
    tx: &mut PgConnection,
    actor: &Actor,
    run: &Run,
    key: &str,
    action: &Action,
    dry_run: bool,
    outcome: &Result<ActionOutput, String>,
) -> Result<(), RunbookError> {
    let (ok, text) = match outcome {
        Ok(output) => (true, output.summary.clone()),
        Err(message) => (false, message.clone()),
    };
    if let Some(incident_id) = run.incident_id {
        let words = format!(
            "{}{}: {}",
            capitalize(&action.to_string()),
            if dry_run { " (dry run)" } else { "" },
            if ok { format!("succeeded. {text}") } else { format!("failed. {text}") }
        );
        append_event(
            tx,
            incident_id,
            TimelineKind::KubernetesAction,
            actor,
            &words,
            json!({
                "run": run.id, "step": key, "action": action.kind().as_str(), "dry_run": dry_run,
                "outcome": if ok { "success" } else { "failure" }, "message": text,
            }),
        )
        .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: if dry_run { "kubernetes.dry_run" } else { "kubernetes.apply" },
            target: format!("run:{}:{key}", run.id),
            before: None,
            after: Some(json!({
                "action": action.kind().as_str(), "what": action.to_string(),
                "outcome": if ok { "success" } else { "failure" }, "message": text,
            })),
        },
    )
    .await?;
    Ok(())
}

async fn append_event(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: TimelineKind,
    actor: &Actor,
    body: &str,
    data: Value,
) -> Result<(), sqlx::Error> {
    incident_store::update(&mut *tx, incident_id, &incident_store::Changes::default()).await?;
    incident_store::append(
        &mut *tx,
        &NewEvent {
            incident_id,
            kind,
            actor_user_id: actor.user_id,
            actor_label: &actor.label,
            body: Some(body),
            data,
            public: false,
            public_status: None,
            corrects_id: None,
        },
    )
    .await?;
    Ok(())
}

/// A reason from a form or the API, as a field error on `field` when refused.
pub(crate) fn reason(field: &str, input: &str) -> Result<Reason, RunbookError> {
    Reason::parse(input)
        .map_err(|e| RunbookError::Invalid(vec![FieldError::new(field, capitalize(&e.to_string()))]))
}
