//! Guided runs with JavaScript off: starting one from an incident (with suggestions), the run
//! page `/runs/{id}` (steps in order with state, who, when, note and output), and one form per
//! step change. Action steps: parameters (field errors before anything is sent) → read-only
//! actions run at once; changing ones run as a server-side dry run and show a preview whose
//! explicit confirmation applies them.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use jiff::Timestamp;
use twisterlab_domain::role::Role;
use twisterlab_domain::runbook::run::{Progress, RunChange, StepChange, StepState};
use uuid::Uuid;

use super::actions;
use super::output::ActionOutput;
use super::service::{self, LoadedRun, StepRecord};
use super::suggest;
use super::view::{OutputView, StepView, param_field, step_field};
use crate::auth::CurrentUser;
use crate::db::incidents as incident_store;
use crate::db::runbook_runs::Subject;
use crate::db::runbooks as store;
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, PathNumber, form_outcome, parse_id, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

const NOTICES: Notices = &[
    ("started", "Run started: work through the steps in order."),
    ("step-done", "Step marked done."),
    ("step-skipped", "Step skipped."),
    ("step-failed", "Step marked failed."),
    ("action-done", "The action ran; its output is in the step."),
    ("action-failed", "The action failed; the step shows the message."),
    ("applied", "Change applied; the outcome is in the step and on the timeline."),
    ("abandoned", "Run abandoned."),
];

type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn version_of(fields: &Fields) -> Option<i32> {
    field(fields, "version").trim().parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Starting a run from an incident

/// A runbook to choose, with why it is suggested.
pub(crate) struct Choice {
    pub slug: String,
    pub title: String,
    pub symptoms: Vec<String>,
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "runs/new.html")]
pub(crate) struct NewPage {
    pub layout: Layout,
    pub number: String,
    pub incident_title: String,
    pub suggested: Vec<Choice>,
    pub others: Vec<Choice>,
    pub errors: FieldErrors,
}

async fn new_page(
    app: &AppState,
    layout: Layout,
    number: PathNumber,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let incident = incident_store::find(&app.pool, number.0)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("INC-{}", number.0.get()) })?;
    let versions = store::latest_all(&app.pool).await?;
    let runbooks: Vec<_> = versions.iter().map(|v| v.runbook.clone()).collect();
    let signals = suggest::signals(app, incident.id).await?;
    let suggestions = suggest::suggestions(&signals, &runbooks);
    let choice = |rb: &twisterlab_domain::runbook::Runbook, reason: Option<String>| Choice {
        slug: rb.slug.to_string(),
        title: rb.title.to_string(),
        symptoms: rb.symptoms.clone(),
        reason,
    };
    let suggested = suggestions
        .iter()
        .filter_map(|s| {
            runbooks.iter().find(|r| r.slug == s.slug).map(|rb| choice(rb, Some(s.reason.clone())))
        })
        .collect();
    let others = runbooks
        .iter()
        .filter(|rb| !suggestions.iter().any(|s| s.slug == rb.slug))
        .map(|rb| choice(rb, None))
        .collect();
    Ok(render_page(&NewPage {
        layout,
        number: format!("INC-{}", incident.number.get()),
        incident_title: incident.title,
        suggested,
        others,
        errors,
    }))
}

pub(crate) async fn new_run(
    State(app): State<AppState>,
    layout: Layout,
    number: PathNumber,
) -> Result<Response, AppError> {
    new_page(&app, layout, number, FieldErrors::new()).await
}

pub(crate) async fn start(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    number: PathNumber,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        let incident_id = incident_store::lock(&mut *tx, number.0)
            .await?
            .ok_or_else(|| AppError::NotFoundThing { what: format!("INC-{}", number.0.get()) })?;
        let id = service::start_run(
            &mut tx,
            &user.actor,
            user.role,
            field(&fields, "runbook"),
            Subject::Incident(incident_id),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(see_other_with_notice(&format!("/runs/{id}"), "started"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let page = new_page(&app, layout, number, errors.clone().into()).await;
            Ok(form_outcome(Err(AppError::Validation(errors)), |_| {
                page.unwrap_or_else(axum::response::IntoResponse::into_response)
            }))
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// The run page

/// One step of a run as its page shows it.
pub(crate) struct RunStepView {
    pub section: String,
    pub step: StepView,
    pub status: &'static str,
    pub detail: Option<String>,
    pub who: Option<String>,
    pub when: Option<Moment>,
    pub note: Option<String>,
    pub output: Option<OutputView>,
    pub version: i32,
    pub open: bool,
    pub note_field: String,
    pub reason_field: String,
    pub message_field: String,
    /// Whether the viewer's role may complete or run it (its action's role).
    pub may_run: bool,
}

#[derive(Template)]
#[template(path = "runs/show.html")]
pub(crate) struct RunPage {
    pub layout: Layout,
    pub id: Uuid,
    pub title: String,
    pub slug: String,
    pub revision: u32,
    pub subject: (String, String),
    pub status: &'static str,
    pub open: bool,
    pub closed_reason: Option<String>,
    pub started_by: String,
    pub started: Moment,
    pub progress: String,
    pub percent: usize,
    pub steps: Vec<RunStepView>,
    pub can_respond: bool,
    pub can_abandon: bool,
    pub errors: FieldErrors,
    /// The values typed into the refused form.
    pub values: BTreeMap<String, String>,
    pub message: Option<String>,
    pub notice: Option<&'static str>,
}

impl RunPage {
    fn value<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.values.get(name).map_or(default, String::as_str)
    }
}

fn status_word(state: &StepState) -> &'static str {
    state.status().as_str()
}

async fn subject_of(app: &AppState, loaded: &LoadedRun) -> Result<(String, String), AppError> {
    if let Some(number) = loaded.run.incident_number {
        return Ok((format!("INC-{number}"), format!("/incidents/{number}")));
    }
    if let Some(window) = loaded.run.window_id {
        let title =
            crate::db::maintenance::find(&app.pool, window).await?.map(|w| w.title).unwrap_or_default();
        return Ok((format!("Maintenance: {title}"), format!("/maintenance/{window}")));
    }
    Ok((String::new(), String::new()))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_page(
    app: &AppState,
    user: &CurrentUser,
    layout: Layout,
    id: Uuid,
    errors: FieldErrors,
    values: BTreeMap<String, String>,
    message: Option<String>,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let mut conn = app.pool.acquire().await?;
    let loaded = service::load_run(&mut conn, id).await?;
    service::check_readable(&mut conn, &loaded.run, crate::incidents::service::ReadScope::of(user)).await?;
    drop(conn);
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let open = loaded.run.status.is_open();
    let mut steps = Vec::new();
    for section in &loaded.runbook.sections {
        for step in &section.steps {
            let Some(state) = loaded.steps.iter().find(|s| s.key == step.key) else { continue };
            let key = step.key.as_str();
            let detail = match &state.state {
                StepState::Skipped { reason } => Some(reason.to_string()),
                StepState::Failed { message } => Some(message.clone()),
                _ => None,
            };
            steps.push(RunStepView {
                section: section.title.to_string(),
                step: StepView::of(step),
                status: status_word(&state.state),
                detail,
                who: state.actor_label.clone(),
                when: state.changed_at.map(|t| Moment::new(t, zone, now)),
                note: state.note.clone(),
                output: OutputView::from_json(state.output.as_ref()),
                version: state.version,
                open: open && !state.state.status().is_final(),
                note_field: step_field(key, "note"),
                reason_field: step_field(key, "reason"),
                message_field: step_field(key, "message"),
                may_run: user.role.allows(step.required_role()),
            });
        }
    }
    let progress: Progress = loaded.progress();
    let subject = subject_of(app, &loaded).await?;
    Ok(render_page(&RunPage {
        id,
        title: loaded.runbook.title.to_string(),
        slug: loaded.run.slug.clone(),
        revision: loaded.run.revision.get(),
        subject,
        status: loaded.run.status.label(),
        open,
        closed_reason: loaded.run.closed_reason.clone(),
        started_by: loaded.run.started_by_label.clone(),
        started: Moment::new(loaded.run.started_at, zone, now),
        progress: progress.to_string(),
        percent: progress.percent_finished(),
        steps,
        can_respond: user.role.allows(Role::Responder),
        can_abandon: user.role.allows(twisterlab_domain::runbook::run::CLOSE_EARLY_ROLE),
        errors,
        values,
        message,
        notice,
        layout,
    }))
}

pub(crate) async fn show(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This run")?;
    run_page(&app, &user, layout, id, FieldErrors::new(), BTreeMap::new(), None, notice.text(NOTICES)).await
}

/// The end of a step form: a redirect with `notice`; field errors → the page again (422)
/// with the values; a conflict → the page again (409) with the step's current state and the
/// message.
async fn finish(
    app: &AppState,
    user: &CurrentUser,
    layout: Layout,
    id: Uuid,
    fields: &Fields,
    result: Result<&'static str, AppError>,
) -> Response {
    let values: BTreeMap<String, String> =
        fields.iter().filter(|(k, _)| k != "csrf_token").cloned().collect();
    match result {
        Ok(notice) => see_other_with_notice(&format!("/runs/{id}#steps"), notice),
        Err(AppError::Validation(errors)) => {
            let page = run_page(app, user, layout, id, errors.clone().into(), values, None, None).await;
            form_outcome(Err(AppError::Validation(errors)), |_| {
                page.unwrap_or_else(axum::response::IntoResponse::into_response)
            })
        }
        Err(AppError::Conflict(message)) => {
            let page =
                run_page(app, user, layout, id, FieldErrors::new(), BTreeMap::new(), Some(message), None)
                    .await;
            match page {
                Ok(mut page) => {
                    *page.status_mut() = axum::http::StatusCode::CONFLICT;
                    page
                }
                Err(e) => axum::response::IntoResponse::into_response(e),
            }
        }
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

fn ids(id: &str, key: &str) -> Result<(Uuid, String), AppError> {
    Ok((parse_id(id, "This run")?, key.to_owned()))
}

/// Marks a step done, skipped or failed (manual change, with the note, reason or message).
async fn manual(
    app: &AppState,
    user: &CurrentUser,
    id: Uuid,
    key: &str,
    fields: &Fields,
    change: StepChange,
) -> Result<(), AppError> {
    let mut tx = app.pool.begin().await?;
    let locked = service::lock_step_for(&mut tx, user.role, id, key, version_of(fields), &change).await?;
    let note = field(fields, &step_field(key, "note"));
    service::apply_step_change(
        &mut tx,
        &user.actor,
        user.role,
        &locked,
        change,
        StepRecord { note: Some(note), ..StepRecord::default() },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn complete(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let result = manual(&app, &user, id, &key, &fields, StepChange::Complete).await.map(|()| "step-done");
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}

pub(crate) async fn skip(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let reason_field = step_field(&key, "reason");
    let result = async {
        let reason = service::reason(&reason_field, field(&fields, &reason_field))?;
        manual(&app, &user, id, &key, &fields, StepChange::Skip { reason }).await
    }
    .await
    .map(|()| "step-skipped");
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}

pub(crate) async fn fail(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let message_field = step_field(&key, "message");
    let message = field(&fields, &message_field).trim().to_owned();
    let result = if message.is_empty() {
        Err(AppError::Validation(vec![FieldError::new(
            &message_field,
            "Say what went wrong, for the timeline.",
        )]))
    } else {
        manual(&app, &user, id, &key, &fields, StepChange::Fail { message }).await.map(|()| "step-failed")
    };
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}

pub(crate) async fn abandon(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, "This run")?;
    let result = async {
        let reason = service::reason("reason", field(&fields, "reason"))?;
        let mut tx = app.pool.begin().await?;
        service::close_run(&mut tx, &user.actor, user.role, id, RunChange::Abandon { reason }).await?;
        tx.commit().await?;
        Ok::<_, AppError>("abandoned")
    }
    .await;
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}

// ---------------------------------------------------------------------------------------------
// Actions

/// The step's action with the person's parameters, checked: field errors name the form fields.
async fn resolve(
    app: &AppState,
    id: Uuid,
    key: &str,
    fields: &Fields,
) -> Result<twisterlab_domain::runbook::Action, AppError> {
    let mut conn = app.pool.acquire().await?;
    let loaded = service::load_run(&mut conn, id).await?;
    let (step, _) =
        loaded.step(key).ok_or_else(|| AppError::NotFoundThing { what: format!("The step {key}") })?;
    let Some(step_action) = &step.action else {
        return Err(AppError::Conflict(
            "This step has no action to run: mark it done, skip it or mark it failed.".into(),
        ));
    };
    let prefix = param_field(key, "");
    let input: BTreeMap<String, String> = fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|name| (name.to_owned(), v.clone())))
        .collect();
    step_action.resolve(&input).map_err(|errors| {
        AppError::Validation(
            errors.into_iter().map(|e| FieldError::new(param_field(key, &e.field), e.message)).collect(),
        )
    })
}

/// Runs a read-only action and records its outcome: done with the output, or failed with
/// the message. Changing actions go through `preview` and `apply`.
pub(crate) async fn run_action(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let result = async {
        let action = resolve(&app, id, &key, &fields).await?;
        if action.changes() {
            return Err(AppError::Conflict(
                "This action changes something: run its dry run and confirm the preview.".into(),
            ));
        }
        {
            // Refuse before running anything when the step cannot change (role, final, version).
            let mut tx = app.pool.begin().await?;
            service::lock_step_for(&mut tx, user.role, id, &key, version_of(&fields), &StepChange::Complete)
                .await?;
            tx.rollback().await?;
        }
        let outcome = actions::execute(&app, &action, false).await;
        record_outcome(&app, &user, id, &key, None, &action, false, outcome).await
    }
    .await;
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}

/// Writes an action's outcome: the `kubernetes_action` event and audit row, then the step
/// done (success) or failed (the message), checked against `version` when given.
#[allow(clippy::too_many_arguments)]
async fn record_outcome(
    app: &AppState,
    user: &CurrentUser,
    id: Uuid,
    key: &str,
    version: Option<i32>,
    action: &twisterlab_domain::runbook::Action,
    dry_run: bool,
    outcome: Result<ActionOutput, String>,
) -> Result<&'static str, AppError> {
    let mut tx = app.pool.begin().await?;
    let run = crate::db::runbook_runs::find(&mut *tx, id).await?.ok_or(AppError::NotFound)?;
    if action.kind().uses_kubernetes() {
        service::record_kubernetes_action(&mut tx, &user.actor, &run, key, action, dry_run, &outcome).await?;
    }
    let (change, output, notice) = match &outcome {
        Ok(output) => {
            (StepChange::Complete, Some(output), if action.changes() { "applied" } else { "action-done" })
        }
        Err(message) => (StepChange::Fail { message: message.clone() }, None, "action-failed"),
    };
    let locked = match service::lock_step_for(&mut tx, user.role, id, key, version, &change).await {
        Ok(locked) => locked,
        Err(e) => {
            // The action ran: its event and audit row stay even when the step moved on.
            tx.commit().await?;
            return Err(e.into());
        }
    };
    service::apply_step_change(
        &mut tx,
        &user.actor,
        user.role,
        &locked,
        change,
        StepRecord { note: None, action: Some(action), output },
    )
    .await?;
    tx.commit().await?;
    Ok(notice)
}

#[derive(Template)]
#[template(path = "runs/preview.html")]
pub(crate) struct PreviewPage {
    pub layout: Layout,
    pub id: Uuid,
    pub key: String,
    pub step_title: String,
    pub action: String,
    pub output: OutputView,
    pub token: String,
    pub version: i32,
}

/// Dry-runs a changing action on the server (`dryRun=All`) and shows the preview with a
/// confirmation form carrying a single-use token.
pub(crate) async fn preview(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let result = async {
        let action = resolve(&app, id, &key, &fields).await?;
        if !action.changes() {
            return Err(AppError::Conflict("This action changes nothing: run it directly.".into()));
        }
        {
            let mut tx = app.pool.begin().await?;
            service::lock_step_for(&mut tx, user.role, id, &key, version_of(&fields), &StepChange::Complete)
                .await?;
            tx.rollback().await?;
        }
        let outcome = actions::execute(&app, &action, false).await;
        let output = match outcome {
            Ok(output) => output,
            Err(message) => {
                // The API server refused even the dry run: the step fails with its message.
                let failed = Err(message);
                return record_outcome(&app, &user, id, &key, None, &action, true, failed).await.map(Err);
            }
        };
        let mut tx = app.pool.begin().await?;
        let locked =
            service::lock_step_for(&mut tx, user.role, id, &key, version_of(&fields), &StepChange::Complete)
                .await?;
        let run = locked.run.clone();
        if action.kind().uses_kubernetes() {
            service::record_kubernetes_action(
                &mut tx,
                &user.actor,
                &run,
                &key,
                &action,
                true,
                &Ok(output.clone()),
            )
            .await?;
        }
        let mut bytes = [0u8; 24];
        rand::fill(&mut bytes);
        let token = hex::encode(bytes);
        let version = service::store_preview(&mut tx, &locked, &action, &output, &token).await?;
        tx.commit().await?;
        Ok(Ok(render_page(&PreviewPage {
            id,
            key: key.clone(),
            step_title: locked.step.title.to_string(),
            action: action.to_string(),
            output: OutputView::of(&output),
            token,
            version,
            layout: layout.clone(),
        })))
    }
    .await;
    match result {
        Ok(Ok(page)) => Ok(page),
        Ok(Err(notice)) => Ok(finish(&app, &user, layout, id, &fields, Ok(notice)).await),
        Err(e) => Ok(finish(&app, &user, layout, id, &fields, Err(e)).await),
    }
}

/// Applies a previewed change: only with the preview's token, once.
pub(crate) async fn apply(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((id, key)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let (id, key) = ids(&id, &key)?;
    let result = async {
        let mut tx = app.pool.begin().await?;
        let locked =
            service::lock_step_for(&mut tx, user.role, id, &key, version_of(&fields), &StepChange::Complete)
                .await?;
        let (action, version) = service::take_preview(&mut tx, &locked, field(&fields, "token")).await?;
        tx.commit().await?;
        let outcome = actions::execute(&app, &action, true).await;
        record_outcome(&app, &user, id, &key, Some(version), &action, false, outcome).await
    }
    .await;
    Ok(finish(&app, &user, layout, id, &fields, result).await)
}
