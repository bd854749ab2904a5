//! The maintenance pages: `/maintenance` (in progress, upcoming, past), `/maintenance/new`,
//! `/maintenance/{id}` (checklist, steps, held-back signals, updates, actions) and
//! `/maintenance/tasks` (recurring tasks). Plain forms; each action is a use case of
//! `service` or `tasks` in one transaction, then a redirect, or the page again with the errors.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use twisterlab_domain::maintenance::{self as rules, WindowState};
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::run::{self, StepView};
use super::service::{self, EndInput, Ending, MaintenanceError, ScheduleInput, StartInput, WindowInput};
use super::tasks;
use super::view::{TaskView, WindowView};
use crate::auth::CurrentUser;
use crate::db::maintenance::{self as store, Event, ShownItem, Suppressed, Update};
use crate::db::maintenance_tasks as task_store;
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, PathId, form_outcome, parse_id, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Finished windows listed under "Past".
const PAST_SHOWN: i64 = 50;
/// Completed tasks listed on the tasks page.
const DONE_SHOWN: i64 = 30;

const NOTICES: Notices = &[
    ("created", "Draft created. Schedule it to announce it on the status page."),
    ("edited", "Saved. If the window is announced, the status page says what changed."),
    ("scheduled", "Scheduled: the window is announced on the status page."),
    ("item-added", "Item added to the checklist."),
    ("ticked", "Item ticked."),
    ("unticked", "Tick withdrawn."),
    (
        "started",
        "Started: the affected components are under maintenance and their probe signals are held back.",
    ),
    ("update-posted", "Update posted on the status page."),
    ("verifying", "The status page now says the maintenance is being verified."),
    ("completed", "Completed: the outcome is on the status page."),
    ("rolled-back", "Rolled back: the outcome is on the status page."),
    ("cancelled", "Cancelled: the window is off the status page."),
    ("task-completed", "Task completed."),
    ("schedule-added", "Recurring task added."),
];

fn max_duration(app: &AppState) -> SignedDuration {
    SignedDuration::from_hours(i64::from(app.config.maintenance_max_hours))
}

// ---------------------------------------------------------------------------------------------
// GET /maintenance

#[derive(Template)]
#[template(path = "maintenance/list.html")]
pub(crate) struct ListPage {
    pub layout: Layout,
    pub in_progress: Vec<WindowView>,
    pub upcoming: Vec<WindowView>,
    pub past: Vec<WindowView>,
    pub overdue_tasks: usize,
    pub can_create: bool,
    pub time_zone: String,
    pub notice: Option<&'static str>,
}

pub(crate) async fn list_windows(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let windows = store::list(&app.pool, PAST_SHOWN).await?;
    let components =
        store::components_of(&app.pool, &windows.iter().map(|w| w.id).collect::<Vec<_>>()).await?;
    let view = |w: &store::Window| {
        WindowView::of(w, components.get(&w.id).map_or(&[][..], Vec::as_slice), zone, now)
    };
    let mut upcoming: Vec<WindowView> = windows
        .iter()
        .filter(|w| matches!(w.state, WindowState::Draft | WindowState::Scheduled))
        .map(view)
        .collect();
    upcoming.reverse();
    let page = ListPage {
        in_progress: windows.iter().filter(|w| w.state == WindowState::InProgress).map(view).collect(),
        upcoming,
        past: windows.iter().filter(|w| w.state.is_finished()).map(view).collect(),
        overdue_tasks: task_store::overdue(&app.pool, now).await?.len(),
        can_create: user.role.allows(Role::Commander),
        time_zone: app.config.timezone_name.clone(),
        notice: notice.text(NOTICES),
        layout,
    };
    Ok(render_page(&page))
}

// ---------------------------------------------------------------------------------------------
// GET /maintenance/new, POST /maintenance

/// A component to tick on the new-window form.
pub(crate) struct ComponentChoice {
    pub id: Uuid,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "maintenance/new.html")]
pub(crate) struct NewPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub form: NewForm,
    pub components: Vec<ComponentChoice>,
    pub time_zone: String,
    pub max_hours: u32,
}

/// The new-window form.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct NewForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `2026-12-05T06:00`, in the team's zone.
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub components: Vec<String>,
}

/// Every component as a checkbox, ticked where its id is in `picked`.
async fn component_choices(app: &AppState, picked: &[String]) -> Result<Vec<ComponentChoice>, AppError> {
    Ok(crate::db::components::list(&app.pool)
        .await?
        .into_iter()
        .map(|c| ComponentChoice { checked: picked.contains(&c.id.to_string()), id: c.id, name: c.name })
        .collect())
}

async fn new_page(
    app: &AppState,
    layout: Layout,
    form: NewForm,
    errors: FieldErrors,
) -> Result<Response, AppError> {
    let components = component_choices(app, &form.components).await?;
    Ok(render_page(&NewPage {
        layout,
        errors,
        form,
        components,
        time_zone: app.config.timezone_name.clone(),
        max_hours: app.config.maintenance_max_hours,
    }))
}

pub(crate) async fn new_window(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    new_page(&app, layout, NewForm::default(), FieldErrors::new()).await
}

/// A wall-clock time typed in the team's zone; field errors name gaps and folds.
fn local_time(
    field: &str,
    raw: &str,
    zone: &jiff::tz::TimeZone,
    errors: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.push(FieldError::new(field, "Enter a date and time."));
        return None;
    }
    let Ok(datetime) = raw.parse::<jiff::civil::DateTime>() else {
        errors.push(FieldError::new(
            field,
            format!("Enter a date and time such as 2026-12-05T06:00 (got {raw:?})."),
        ));
        return None;
    };
    rules::local_to_timestamp(datetime, zone)
        .map_err(|e| errors.push(FieldError::new(field, capitalise(&e.to_string()))))
        .ok()
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The window typed in the new-window or edit form, or every field error at once.
fn window_input(form: &NewForm, zone: &jiff::tz::TimeZone) -> Result<WindowInput, AppError> {
    let mut errors = vec![];
    let starts_at = local_time("starts_at", &form.starts_at, zone, &mut errors);
    let ends_at = local_time("ends_at", &form.ends_at, zone, &mut errors);
    let mut components = vec![];
    for raw in &form.components {
        match raw.parse::<Uuid>() {
            Ok(id) => components.push(id),
            Err(_) => errors.push(FieldError::new("components", "Choose components from the list.")),
        }
    }
    let (Some(starts_at), Some(ends_at), true) = (starts_at, ends_at, errors.is_empty()) else {
        // Report the other fields' problems too, as the use case would.
        let mut all = errors;
        if let Err(e) = twisterlab_domain::incident::Title::parse(&form.title) {
            all.insert(0, FieldError::new("title", e.to_string()));
        }
        if form.components.is_empty() {
            all.push(FieldError::new("components", "Choose at least one affected component."));
        }
        return Err(AppError::Validation(all));
    };
    Ok(WindowInput {
        title: form.title.clone(),
        description: form.description.clone(),
        starts_at,
        ends_at,
        components,
        owner_id: None,
    })
}

pub(crate) async fn create_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<NewForm>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let result = async {
        let input = window_input(&form, zone)?;
        let mut tx = app.pool.begin().await?;
        let window =
            service::create(&mut tx, &user.actor, &input, max_duration(&app), Timestamp::now()).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&format!("/maintenance/{}", window.id), "created"))
    }
    .await;
    let again = form.clone();
    match result {
        Err(AppError::Validation(errors)) => {
            let mut response = new_page(&app, layout, again, errors.into()).await?;
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// GET /maintenance/{id}/edit, POST /maintenance/{id}/edit

#[derive(Template)]
#[template(path = "maintenance/edit.html")]
pub(crate) struct EditPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub form: NewForm,
    pub components: Vec<ComponentChoice>,
    pub time_zone: String,
    pub max_hours: u32,
    pub href: String,
    pub window_title: String,
    /// When a scheduled window was announced; `None` for a draft.
    pub announced: Option<Moment>,
    /// The window's version the form saves against.
    pub version: i32,
    /// How many log entries the form's author has seen: the ones after it are what changed.
    pub log_seen: usize,
    pub values: Values,
    /// The version sent was stale.
    pub stale: bool,
    /// What changed since the form was opened, when it was stale.
    pub changed: Vec<EventView>,
}

/// The edit form: the window's fields plus the reasons a scheduled window may need.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    short_notice_reason: String,
    #[serde(default)]
    overlap_reason: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    log_seen: String,
}

impl EditForm {
    fn fields(&self) -> NewForm {
        NewForm {
            title: self.title.clone(),
            description: self.description.clone(),
            starts_at: self.starts_at.clone(),
            ends_at: self.ends_at.clone(),
            components: self.components.clone(),
        }
    }
}

/// `t` as the form's `datetime-local` value in the team's zone.
fn form_time(t: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// What the edit page shows again after a refused save.
struct EditRetry {
    form: NewForm,
    values: Values,
    errors: FieldErrors,
    /// The log entries the author had seen, when the version was stale.
    stale_since: Option<usize>,
}

async fn edit_page(
    app: &AppState,
    layout: Layout,
    id: Uuid,
    retry: Option<EditRetry>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let mut conn = app.pool.acquire().await?;
    let window = service::load(&mut conn, id).await?;
    rules::check_editable(window.state)
        .map_err(|e| AppError::Conflict(format!("{}.", capitalise(&e.to_string()))))?;
    let events = store::events(&mut *conn, id).await?;
    let current = store::components(&mut *conn, id).await?;
    drop(conn);
    let (form, values, errors, stale_since) = match retry {
        Some(r) => (r.form, r.values, r.errors, r.stale_since),
        None => (
            NewForm {
                title: window.title.clone(),
                description: window.description.clone(),
                starts_at: form_time(window.starts_at, zone),
                ends_at: form_time(window.ends_at, zone),
                components: current.iter().map(|c| c.id.to_string()).collect(),
            },
            Values { overlap_reason: window.overlap_reason.clone().unwrap_or_default(), ..Values::default() },
            FieldErrors::new(),
            None,
        ),
    };
    let changed = stale_since
        .map(|seen| {
            events
                .iter()
                .skip(seen)
                .map(|e| EventView { at: Moment::new(e.at, zone, now), summary: e.summary.clone() })
                .collect()
        })
        .unwrap_or_default();
    let components = component_choices(app, &form.components).await?;
    Ok(render_page(&EditPage {
        layout,
        errors,
        form,
        components,
        time_zone: app.config.timezone_name.clone(),
        max_hours: app.config.maintenance_max_hours,
        href: format!("/maintenance/{id}"),
        window_title: window.title.clone(),
        announced: window.announced_at.map(|t| Moment::new(t, zone, now)),
        version: window.version,
        log_seen: events.len(),
        values,
        stale: stale_since.is_some(),
        changed,
    }))
}

pub(crate) async fn edit_window(
    State(app): State<AppState>,
    layout: Layout,
    PathId(id): PathId,
) -> Result<Response, AppError> {
    edit_page(&app, layout, id, None).await
}

pub(crate) async fn save_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<EditForm>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let fields = form.fields();
    let mut stale = false;
    let result = async {
        let mut input = service::EditInput {
            window: window_input(&fields, zone)?,
            short_notice_reason: form.short_notice_reason.clone(),
            overlap_reason: form.overlap_reason.clone(),
            expected: version(&form.version),
        };
        let mut tx = app.pool.begin().await?;
        // The form shows times to the minute: a time left as shown keeps its stored seconds, so
        // a title fix is not taken for a move.
        let current = service::load(&mut tx, id).await?;
        if form.starts_at.trim() == form_time(current.starts_at, zone) {
            input.window.starts_at = current.starts_at;
        }
        if form.ends_at.trim() == form_time(current.ends_at, zone) {
            input.window.ends_at = current.ends_at;
        }
        let saved = service::edit(
            &mut tx,
            &user.actor,
            user.role,
            zone,
            id,
            &input,
            max_duration(&app),
            Timestamp::now(),
        )
        .await;
        stale = matches!(saved, Err(MaintenanceError::Stale { .. }));
        saved?;
        tx.commit().await?;
        Ok(see_other_with_notice(&format!("/maintenance/{id}"), "edited"))
    }
    .await;
    let values = Values {
        short_notice_reason: form.short_notice_reason.clone(),
        overlap_reason: form.overlap_reason.clone(),
        ..Values::default()
    };
    let (status, errors, stale_since) = match result {
        Err(AppError::Validation(errors)) => {
            (axum::http::StatusCode::UNPROCESSABLE_ENTITY, errors.into(), None)
        }
        Err(AppError::Conflict(_)) if stale => (
            axum::http::StatusCode::CONFLICT,
            FieldErrors::new(),
            Some(form.log_seen.trim().parse().unwrap_or(usize::MAX)),
        ),
        other => return other,
    };
    let retry = EditRetry { form: fields, values, errors, stale_since };
    let mut response = edit_page(&app, layout, id, Some(retry)).await?;
    *response.status_mut() = status;
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// GET /maintenance/{id}

/// What the forms of the window page held when one came back with errors.
#[derive(Clone, Debug, Default)]
pub(crate) struct Values {
    pub short_notice_reason: String,
    pub overlap_reason: String,
    pub label: String,
    /// The item whose tick form failed, with its evidence.
    pub item: Option<String>,
    pub evidence: String,
    pub override_reason: String,
    pub message: String,
    pub body: String,
    pub verify_message: String,
    pub outcome: String,
    pub reason: String,
}

/// A checklist item as shown.
pub(crate) struct ItemView {
    pub key: String,
    pub label: String,
    pub evidence_required: bool,
    pub default: bool,
    pub ticked: Option<(String, Moment)>,
    pub evidence: Option<String>,
}

/// A public update as shown.
pub(crate) struct UpdateView {
    pub status: &'static str,
    pub at: Moment,
    pub html: String,
    pub by: String,
}

/// A log entry as shown.
pub(crate) struct EventView {
    pub at: Moment,
    pub summary: String,
}

/// A held-back signal as shown.
pub(crate) struct SignalView {
    pub service: String,
    pub component: String,
    pub fired: Moment,
    pub reason: String,
    /// What the end-of-window check found, in words.
    pub outcome: Option<String>,
    pub incident: Option<i64>,
}

#[derive(Template)]
#[template(path = "maintenance/show.html")]
pub(crate) struct ShowPage {
    pub layout: Layout,
    pub window: WindowView,
    pub items: Vec<ItemView>,
    pub all_ticked: bool,
    pub steps: Vec<StepView>,
    pub runbook: &'static str,
    /// The guided runs of the window's work, with their progress.
    pub runs: Vec<crate::runbooks::view::RunSummary>,
    pub updates: Vec<UpdateView>,
    pub events: Vec<EventView>,
    pub signals: Vec<SignalView>,
    pub can_tick: bool,
    pub can_act: bool,
    /// A commander looking at a draft or a scheduled window that has not started.
    pub can_edit: bool,
    pub can_override: bool,
    pub errors: FieldErrors,
    pub values: Values,
    pub notice: Option<&'static str>,
    pub time_zone: String,
}

impl ShowPage {
    fn is(&self, state: &str) -> bool {
        self.window.state.as_str() == state
    }

    /// The errors of item `key`'s tick form (none unless it was the one refused).
    fn item_errors(&self, key: &str) -> FieldErrors {
        if self.values.item.as_deref() == Some(key) { self.errors.clone() } else { FieldErrors::new() }
    }

    fn item_evidence(&self, key: &str) -> &str {
        if self.values.item.as_deref() == Some(key) { &self.values.evidence } else { "" }
    }
}

/// The step changes of the window's guided runs, for its log: read from the runs' steps (each
/// step's latest change: done, skipped or failed, by whom, when), not stored twice.
async fn step_changes(
    conn: &mut sqlx::PgConnection,
    runs: &[crate::db::runbook_runs::Run],
) -> Result<Vec<(Timestamp, String)>, sqlx::Error> {
    use twisterlab_domain::runbook::StepState;
    let mut out = vec![];
    for run in runs {
        let version = crate::db::runbooks::find(&mut *conn, &run.slug, run.revision).await?;
        for step in crate::db::runbook_runs::steps(&mut *conn, run.id).await? {
            let Some(at) = step.changed_at else { continue };
            let what = match &step.state {
                StepState::Pending => continue,
                StepState::Done => "done".to_owned(),
                StepState::Skipped { reason } => format!("skipped: {reason}"),
                StepState::Failed { message } => format!("failed: {message}"),
            };
            let title = version
                .as_ref()
                .and_then(|v| v.runbook.step(&step.key))
                .map_or_else(|| step.key.to_string(), |s| s.title.to_string());
            let who = step.actor_label.clone().unwrap_or_else(|| "someone".to_owned());
            out.push((at, format!("{who} marked step \u{201c}{title}\u{201d} of the guided run {what}")));
        }
    }
    Ok(out)
}

fn outcome_words(s: &Suppressed) -> Option<String> {
    Some(
        match s.outcome.as_deref()? {
            "recovered" => "up again when the window ended: no incident",
            "incident" => "still down when the window ended: incident declared",
            "open_incident" => "still down when the window ended; an incident was already open",
            "no_incident" => "still down when the window ended; the service opens no incidents",
            "held_over" => "still down; another window in progress holds it",
            other => other,
        }
        .to_owned(),
    )
}

async fn show_page(
    app: &AppState,
    user: &CurrentUser,
    layout: Layout,
    id: Uuid,
    errors: FieldErrors,
    values: Values,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let mut conn = app.pool.acquire().await?;
    let window = service::load(&mut conn, id).await?;
    let components = store::components(&mut *conn, id).await?;
    let (checklist, shown) = store::checklist(&mut *conn, id).await?;
    let updates: Vec<Update> = store::updates(&mut *conn, id).await?;
    let events: Vec<Event> = store::events(&mut *conn, id).await?;
    let signals = store::suppressed(&mut *conn, id).await?;
    let runs = crate::db::runbook_runs::of_window(&mut *conn, id).await?;
    let step_events = step_changes(&mut conn, &runs).await?;
    let runs = crate::runbooks::view::summaries(&mut conn, runs).await?;
    drop(conn);
    let mut log: Vec<(Timestamp, String)> =
        events.iter().map(|e| (e.at, e.summary.clone())).chain(step_events).collect();
    // Stable: a step changed in the same millisecond as a window event stays after it.
    log.sort_by_key(|(at, _)| *at);
    let items = shown
        .iter()
        .map(|s: &ShownItem| ItemView {
            key: s.item.key.to_string(),
            label: s.item.label.clone(),
            evidence_required: s.item.evidence_required,
            default: s.item.is_default(),
            ticked: s
                .item
                .tick
                .as_ref()
                .map(|t| (s.ticked_by_label.clone().unwrap_or_default(), Moment::new(t.at, zone, now))),
            evidence: s.item.tick.as_ref().and_then(|t| t.evidence.clone()),
        })
        .collect();
    let page = ShowPage {
        window: WindowView::of(&window, &components, zone, now),
        items,
        all_ticked: checklist.is_complete(),
        steps: run::steps(),
        runbook: run::RUNBOOK,
        runs,
        updates: updates
            .iter()
            .map(|u| UpdateView {
                status: u.status.label(),
                at: Moment::new(u.at, zone, now),
                html: crate::markdown::to_html(&u.body),
                by: u.actor_label.clone(),
            })
            .collect(),
        events: log
            .into_iter()
            .map(|(at, summary)| EventView { at: Moment::new(at, zone, now), summary })
            .collect(),
        signals: signals
            .iter()
            .map(|s| SignalView {
                service: s.service_name.clone(),
                component: s.component_name.clone().unwrap_or_default(),
                fired: Moment::new(s.fired_at, zone, now),
                reason: s.reason.clone(),
                outcome: outcome_words(s),
                incident: s.incident_number,
            })
            .collect(),
        can_tick: user.role.allows(Role::Responder),
        can_act: user.role.allows(Role::Commander),
        can_edit: user.role.allows(Role::Commander) && rules::check_editable(window.state).is_ok(),
        can_override: user.role.allows(rules::OVERRIDE_ROLE),
        errors,
        values,
        notice,
        time_zone: app.config.timezone_name.clone(),
        layout,
    };
    Ok(render_page(&page))
}

pub(crate) async fn show_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    show_page(&app, &user, layout, id, FieldErrors::new(), Values::default(), notice.text(NOTICES)).await
}

/// The end of a window action: a redirect with `notice`, or the page again with the errors.
async fn act(
    app: &AppState,
    user: &CurrentUser,
    layout: Layout,
    id: Uuid,
    values: Values,
    notice: &str,
    result: Result<(), MaintenanceError>,
) -> Response {
    let result =
        result.map(|()| see_other_with_notice(&format!("/maintenance/{id}"), notice)).map_err(AppError::from);
    let errors = match result {
        Err(AppError::Validation(errors)) => errors,
        other => return form_outcome(other, |_| Response::default()),
    };
    let again = show_page(app, user, layout, id, errors.clone().into(), values, None).await;
    form_outcome(Err(AppError::Validation(errors)), |_| match again {
        Ok(page) => page,
        Err(e) => axum::response::IntoResponse::into_response(e),
    })
}

/// The window's version as the form saw it.
fn version(raw: &str) -> Option<i32> {
    raw.trim().parse().ok()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ScheduleForm {
    #[serde(default)]
    short_notice_reason: String,
    #[serde(default)]
    overlap_reason: String,
    #[serde(default)]
    version: String,
}

pub(crate) async fn schedule_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let input = ScheduleInput {
        short_notice_reason: form.short_notice_reason.clone(),
        overlap_reason: form.overlap_reason.clone(),
        expected: version(&form.version),
    };
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::schedule(
            &mut tx,
            &user.actor,
            user.role,
            &app.config.timezone,
            id,
            &input,
            Timestamp::now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values {
        short_notice_reason: form.short_notice_reason,
        overlap_reason: form.overlap_reason,
        ..Values::default()
    };
    Ok(act(&app, &user, layout, id, values, "scheduled", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ItemForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    evidence_required: Option<String>,
}

pub(crate) async fn add_item(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<ItemForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::add_item(&mut tx, &user.actor, id, &form.label, form.evidence_required.is_some()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values { label: form.label, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "item-added", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TickForm {
    #[serde(default)]
    evidence: String,
}

pub(crate) async fn tick_item(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((raw_id, key)): Path<(String, String)>,
    Form(form): Form<TickForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw_id, "This maintenance window")?;
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::tick(&mut tx, &user.actor, id, &key, &form.evidence, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values { item: Some(key), evidence: form.evidence, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "ticked", result).await)
}

pub(crate) async fn untick_item(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Path((raw_id, key)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw_id, "This maintenance window")?;
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::untick(&mut tx, &user.actor, id, &key).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    Ok(act(&app, &user, layout, id, Values::default(), "unticked", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StartForm {
    #[serde(default)]
    override_reason: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    version: String,
}

pub(crate) async fn start_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<StartForm>,
) -> Result<Response, AppError> {
    let input = StartInput { override_reason: form.override_reason.clone(), message: form.message.clone() };
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::start(&mut tx, &user.actor, user.role, id, &input, version(&form.version), Timestamp::now())
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values { override_reason: form.override_reason, message: form.message, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "started", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct UpdateForm {
    #[serde(default)]
    body: String,
}

pub(crate) async fn post_update(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<UpdateForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::post_update(&mut tx, &user.actor, id, &form.body).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values { body: form.body, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "update-posted", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct VerifyForm {
    #[serde(default)]
    verify_message: String,
}

pub(crate) async fn verify_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<VerifyForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::mark_verifying(&mut tx, &user.actor, id, &form.verify_message, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await
    .map_err(|e| match e {
        // The form calls its field verify_message (the start form has a message too).
        MaintenanceError::Invalid(errors) => MaintenanceError::Invalid(
            errors.into_iter().map(|f| FieldError::new("verify_message", f.message)).collect(),
        ),
        other => other,
    });
    let values = Values { verify_message: form.verify_message, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "verifying", result).await)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EndForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    version: String,
}

async fn end_window(
    app: AppState,
    user: CurrentUser,
    layout: Layout,
    id: Uuid,
    form: EndForm,
    ending: Ending,
) -> Result<Response, AppError> {
    let input = EndInput { ending, outcome: form.outcome.clone(), expected: version(&form.version) };
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::end(&mut tx, &user.actor, &app.config.timezone, id, &input, Timestamp::now()).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let notice = if ending == Ending::Completed { "completed" } else { "rolled-back" };
    let values = Values { outcome: form.outcome, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, notice, result).await)
}

pub(crate) async fn complete_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<EndForm>,
) -> Result<Response, AppError> {
    end_window(app, user, layout, id, form, Ending::Completed).await
}

pub(crate) async fn roll_back_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<EndForm>,
) -> Result<Response, AppError> {
    end_window(app, user, layout, id, form, Ending::RolledBack).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CancelForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    version: String,
}

pub(crate) async fn cancel_window(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<CancelForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::cancel(&mut tx, &user.actor, id, &form.reason, version(&form.version), Timestamp::now())
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    let values = Values { reason: form.reason, ..Values::default() };
    Ok(act(&app, &user, layout, id, values, "cancelled", result).await)
}

// ---------------------------------------------------------------------------------------------
// GET /maintenance/tasks

/// A schedule as the tasks page lists it.
pub(crate) struct ScheduleView {
    /// The schedule's stable key (the row's anchor).
    pub key: String,
    pub title: String,
    pub when: String,
    pub grace: String,
    pub runbook: Option<String>,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "maintenance/tasks.html")]
pub(crate) struct TasksPage {
    pub layout: Layout,
    pub open: Vec<TaskView>,
    pub done: Vec<TaskView>,
    pub schedules: Vec<ScheduleView>,
    pub can_complete: bool,
    pub is_admin: bool,
    pub failed_task: Option<Uuid>,
    pub errors: FieldErrors,
    pub form: tasks::ScheduleInput,
    pub note: String,
    pub notice: Option<&'static str>,
    pub time_zone: String,
}

impl TasksPage {
    fn task_errors(&self, id: &Uuid) -> FieldErrors {
        if self.failed_task == Some(*id) { self.errors.clone() } else { FieldErrors::new() }
    }

    fn schedule_errors(&self) -> FieldErrors {
        if self.failed_task.is_none() { self.errors.clone() } else { FieldErrors::new() }
    }
}

/// What the tasks page shows again after a refused form.
#[derive(Default)]
pub(crate) struct TasksRetry {
    /// The task whose completion was refused; `None`: the schedule form (or nothing).
    pub failed_task: Option<Uuid>,
    pub errors: FieldErrors,
    pub form: tasks::ScheduleInput,
    pub note: String,
}

async fn tasks_page(
    app: &AppState,
    user: &CurrentUser,
    layout: Layout,
    retry: TasksRetry,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let TasksRetry { failed_task, errors, form, note } = retry;
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let all = task_store::tasks(&app.pool, DONE_SHOWN).await?;
    let (open, done): (Vec<_>, Vec<_>) = all.iter().partition(|t| t.completed_at.is_none());
    let mut open: Vec<TaskView> = open.into_iter().map(|t| TaskView::of(t, zone, now)).collect();
    open.sort_by_key(|t| (!t.overdue, t.due.iso.clone()));
    let schedules = task_store::schedules(&app.pool)
        .await?
        .into_iter()
        .map(|s| ScheduleView {
            when: format!("{} ({})", s.recurrence, app.config.timezone_name),
            grace: twisterlab_domain::sla::compact_duration(s.grace),
            title: s.title,
            key: s.key,
            runbook: s.runbook_slug,
            active: s.active,
        })
        .collect();
    Ok(render_page(&TasksPage {
        open,
        done: done.into_iter().map(|t| TaskView::of(t, zone, now)).collect(),
        schedules,
        can_complete: user.role.allows(Role::Responder),
        is_admin: user.role.allows(Role::Admin),
        failed_task,
        errors,
        form,
        note,
        notice,
        time_zone: app.config.timezone_name.clone(),
        layout,
    }))
}

pub(crate) async fn list_tasks(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    tasks_page(&app, &user, layout, TasksRetry::default(), notice.text(NOTICES)).await
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompleteTaskForm {
    #[serde(default)]
    item: Vec<usize>,
    #[serde(default)]
    note: String,
}

pub(crate) async fn complete_task(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    PathId(id): PathId,
    Form(form): Form<CompleteTaskForm>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        tasks::complete(&mut tx, &user.actor, id, &form.item, &form.note, Timestamp::now()).await?;
        tx.commit().await?;
        Ok::<_, MaintenanceError>(())
    }
    .await;
    match result.map_err(AppError::from) {
        Ok(()) => Ok(see_other_with_notice("/maintenance/tasks", "task-completed")),
        Err(AppError::Validation(errors)) => {
            let retry = TasksRetry {
                failed_task: Some(id),
                errors: errors.clone().into(),
                note: form.note,
                ..TasksRetry::default()
            };
            let page = tasks_page(&app, &user, layout, retry, None).await;
            Ok(form_outcome(Err(AppError::Validation(errors)), |_| {
                page.unwrap_or_else(axum::response::IntoResponse::into_response)
            }))
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn add_schedule(
    State(app): State<AppState>,
    user: CurrentUser,
    layout: Layout,
    Form(form): Form<tasks::ScheduleInput>,
) -> Result<Response, AppError> {
    let result = async {
        let mut tx = app.pool.begin().await?;
        tasks::add_schedule(&mut tx, &user.actor, &form).await?;
        // The new schedule's first task, if it is due within a day.
        tasks::generate(&mut tx, &app.config.timezone, Timestamp::now()).await?;
        tx.commit().await?;
        Ok::<_, MaintenanceError>(())
    }
    .await;
    match result.map_err(AppError::from) {
        Ok(()) => Ok(see_other_with_notice("/maintenance/tasks", "schedule-added")),
        Err(AppError::Validation(errors)) => {
            let page = tasks_page(
                &app,
                &user,
                layout,
                TasksRetry { errors: errors.clone().into(), form, ..TasksRetry::default() },
                None,
            )
            .await;
            Ok(form_outcome(Err(AppError::Validation(errors)), |_| {
                page.unwrap_or_else(axum::response::IntoResponse::into_response)
            }))
        }
        Err(e) => Err(e),
    }
}
