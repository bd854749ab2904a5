//! `/api/v1/maintenance`: maintenance windows and their checklist as JSON with a bearer token.
//! Every change goes through `maintenance::service` in one transaction, as the pages do; the
//! OpenAPI description of these operations is [`openapi::fragment`].

pub(crate) mod openapi;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::api::error::{ApiError, problem};
use crate::api::request::{parse_json, parse_rfc3339, parse_uuid, present, version};
use crate::auth::{Access, CurrentUser, Routes};
use crate::db::maintenance::{self as store, Approval, ShownItem, Suppressed, Update, Window};
use crate::db::users;
use crate::maintenance::service::{
    self, EndInput, Ending, MaintenanceError, ScheduleInput, StartInput, WindowInput,
};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use twisterlab_domain::role::Role;

/// Windows in `GET /api/v1/maintenance` that have ended.
pub(crate) const FINISHED_LISTED: i64 = 50;

pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    Routes::new()
        .get("/api/v1/maintenance", viewer, list_windows)
        .post("/api/v1/maintenance", commander, create_window)
        .get("/api/v1/maintenance/{id}", viewer, show_window)
        .patch("/api/v1/maintenance/{id}", commander, patch_window)
        .post("/api/v1/maintenance/{id}/schedule", commander, schedule_window)
        .post("/api/v1/maintenance/{id}/start", commander, start_window)
        .post("/api/v1/maintenance/{id}/updates", commander, post_update)
        .post("/api/v1/maintenance/{id}/verify", commander, verify_window)
        .post("/api/v1/maintenance/{id}/complete", commander, complete_window)
        .post("/api/v1/maintenance/{id}/rollback", commander, roll_back_window)
        .post("/api/v1/maintenance/{id}/cancel", commander, cancel_window)
        .get("/api/v1/maintenance/{id}/checklist", viewer, show_checklist)
        .post("/api/v1/maintenance/{id}/checklist", responder, add_item)
        .post("/api/v1/maintenance/{id}/checklist/{key}/tick", responder, tick_item)
        .post("/api/v1/maintenance/{id}/checklist/{key}/untick", responder, untick_item)
}

impl From<MaintenanceError> for ApiError {
    fn from(e: MaintenanceError) -> Self {
        ApiError::App(e.into())
    }
}

fn window_id(raw: &str) -> Result<Uuid, ApiError> {
    parse_uuid(raw).ok_or(()).map_err(|_| {
        problem(
            StatusCode::NOT_FOUND,
            format!("{raw:?} is not a maintenance window id: address windows by the UUID in their `id`."),
            vec![],
        )
    })
}

fn iso(t: Timestamp) -> String {
    crate::clock::iso(t)
}

// ---------------------------------------------------------------------------------------------
// JSON shapes (described in openapi.rs)

#[derive(Debug, Serialize)]
pub(crate) struct PersonJson {
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ApprovalJson {
    pub reason: String,
    pub by: Option<String>,
    pub at: String,
}

fn approval(a: &Option<Approval>) -> Option<ApprovalJson> {
    a.as_ref().map(|a| ApprovalJson { reason: a.reason.clone(), by: a.by.clone(), at: iso(a.at) })
}

#[derive(Debug, Serialize)]
pub(crate) struct ComponentJson {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct WindowJson {
    pub id: Uuid,
    pub url: String,
    pub html_url: String,
    pub title: String,
    pub description: String,
    pub state: &'static str,
    pub public_status: Option<&'static str>,
    pub starts_at: String,
    pub ends_at: String,
    pub components: Vec<ComponentJson>,
    pub owner: PersonJson,
    pub announced_at: Option<String>,
    pub short_notice_override: Option<ApprovalJson>,
    pub overlap_reason: Option<String>,
    pub checklist_override: Option<ApprovalJson>,
    pub checklist_override_items: Vec<String>,
    pub started_at: Option<String>,
    pub verifying_at: Option<String>,
    pub ended_at: Option<String>,
    /// The guided run of the maintenance runbook, once runs attach to windows.
    pub run_id: Option<Uuid>,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl WindowJson {
    fn of(w: &Window, components: Vec<store::WindowComponent>) -> Self {
        Self {
            id: w.id,
            url: format!("/api/v1/maintenance/{}", w.id),
            html_url: format!("/maintenance/{}", w.id),
            title: w.title.clone(),
            description: w.description.clone(),
            state: w.state.as_str(),
            public_status: w.public_status().map(|s| s.as_str()),
            starts_at: iso(w.starts_at),
            ends_at: iso(w.ends_at),
            components: components.into_iter().map(|c| ComponentJson { id: c.id, name: c.name }).collect(),
            owner: PersonJson { email: w.owner_email.clone(), display_name: w.owner_name.clone() },
            announced_at: w.announced_at.map(iso),
            short_notice_override: approval(&w.short_notice),
            overlap_reason: w.overlap_reason.clone(),
            checklist_override: approval(&w.checklist_override),
            checklist_override_items: w.checklist_override_items.clone(),
            started_at: w.started_at.map(iso),
            verifying_at: w.verifying_at.map(iso),
            ended_at: w.ended_at.map(iso),
            run_id: w.run_id,
            version: w.version,
            created_at: iso(w.created_at),
            updated_at: iso(w.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ChecklistItemJson {
    pub key: String,
    pub label: String,
    pub evidence_required: bool,
    pub default: bool,
    pub ticked: bool,
    pub ticked_by: Option<String>,
    pub ticked_at: Option<String>,
    pub evidence: Option<String>,
}

fn item_json(s: &ShownItem) -> ChecklistItemJson {
    ChecklistItemJson {
        key: s.item.key.to_string(),
        label: s.item.label.clone(),
        evidence_required: s.item.evidence_required,
        default: s.item.is_default(),
        ticked: s.item.is_ticked(),
        ticked_by: s.item.tick.as_ref().and(s.ticked_by_label.clone()),
        ticked_at: s.item.tick.as_ref().map(|t| iso(t.at)),
        evidence: s.item.tick.as_ref().and_then(|t| t.evidence.clone()),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ChecklistJson {
    pub complete: bool,
    pub items: Vec<ChecklistItemJson>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UpdateJson {
    pub id: Uuid,
    pub status: &'static str,
    pub body: String,
    pub at: String,
    pub actor: String,
}

fn update_json(u: &Update) -> UpdateJson {
    UpdateJson {
        id: u.id,
        status: u.status.as_str(),
        body: u.body.clone(),
        at: iso(u.at),
        actor: u.actor_label.clone(),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct SignalJson {
    pub service: String,
    pub component: Option<String>,
    pub fired_at: String,
    pub reason: String,
    pub outcome: Option<String>,
    pub checked_at: Option<String>,
    pub incident: Option<String>,
}

fn signal_json(s: &Suppressed) -> SignalJson {
    SignalJson {
        service: s.service_name.clone(),
        component: s.component_name.clone(),
        fired_at: iso(s.fired_at),
        reason: s.reason.clone(),
        outcome: s.outcome.clone(),
        checked_at: s.checked_at.map(iso),
        incident: s.incident_number.map(|n| format!("INC-{n}")),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct WindowDetailJson {
    #[serde(flatten)]
    pub window: WindowJson,
    pub checklist: ChecklistJson,
    pub updates: Vec<UpdateJson>,
    pub suppressed_signals: Vec<SignalJson>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WindowListJson {
    pub windows: Vec<WindowJson>,
}

async fn checklist_json(conn: &mut PgConnection, id: Uuid) -> Result<ChecklistJson, sqlx::Error> {
    let (checklist, shown) = store::checklist(&mut *conn, id).await?;
    Ok(ChecklistJson { complete: checklist.is_complete(), items: shown.iter().map(item_json).collect() })
}

async fn detail(conn: &mut PgConnection, w: &Window) -> Result<WindowDetailJson, sqlx::Error> {
    let components = store::components(&mut *conn, w.id).await?;
    Ok(WindowDetailJson {
        window: WindowJson::of(w, components),
        checklist: checklist_json(&mut *conn, w.id).await?,
        updates: store::updates(&mut *conn, w.id).await?.iter().map(update_json).collect(),
        suppressed_signals: store::suppressed(&mut *conn, w.id).await?.iter().map(signal_json).collect(),
    })
}

/// The window as JSON with its version as the ETag.
fn window_response(status: StatusCode, json: &WindowDetailJson) -> Response {
    let mut response = (status, Json(json)).into_response();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", json.window.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&json.window.url)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CreateRequest {
    title: String,
    description: String,
    #[serde(deserialize_with = "present")]
    starts_at: Option<String>,
    #[serde(deserialize_with = "present")]
    ends_at: Option<String>,
    components: Vec<String>,
    /// E-mail of the owner; the caller by default.
    #[serde(deserialize_with = "present")]
    owner: Option<String>,
}

/// A change of a draft or scheduled window; what is left out stays as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PatchRequest {
    #[serde(deserialize_with = "present")]
    title: Option<String>,
    #[serde(deserialize_with = "present")]
    description: Option<String>,
    #[serde(deserialize_with = "present")]
    starts_at: Option<String>,
    #[serde(deserialize_with = "present")]
    ends_at: Option<String>,
    #[serde(deserialize_with = "present")]
    components: Option<Vec<String>>,
    short_notice_reason: String,
    overlap_reason: String,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ScheduleRequest {
    short_notice_reason: String,
    overlap_reason: String,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StartRequest {
    override_reason: String,
    message: String,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct UpdateRequest {
    body: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct VerifyRequest {
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EndRequest {
    outcome: String,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct CancelRequest {
    reason: String,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ItemRequest {
    label: String,
    evidence_required: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TickRequest {
    evidence: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyRequest {}

fn parse_time(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Timestamp> {
    let Some(value) = value else {
        errors.push(FieldError::new(field, "Give the time in RFC 3339, such as 2026-12-05T06:00:00Z."));
        return None;
    };
    parse_rfc3339(value)
        .ok_or(())
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                format!("Use an RFC 3339 time such as 2026-12-05T06:00:00Z (got {value:?})."),
            ))
        })
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `GET /api/v1/maintenance`: windows not finished and the latest finished ones.
async fn list_windows(State(app): State<AppState>) -> Result<Json<WindowListJson>, ApiError> {
    let windows = store::list(&app.pool, FINISHED_LISTED).await?;
    let mut components =
        store::components_of(&app.pool, &windows.iter().map(|w| w.id).collect::<Vec<_>>()).await?;
    Ok(Json(WindowListJson {
        windows: windows
            .iter()
            .map(|w| WindowJson::of(w, components.remove(&w.id).unwrap_or_default()))
            .collect(),
    }))
}

/// `POST /api/v1/maintenance`: a draft; 201 with its `Location`.
async fn create_window(
    State(app): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateRequest = parse_json(&headers, &body, false)?;
    let mut errors = vec![];
    let starts_at = parse_time("starts_at", request.starts_at.as_deref(), &mut errors);
    let ends_at = parse_time("ends_at", request.ends_at.as_deref(), &mut errors);
    let mut components = vec![];
    for (i, raw) in request.components.iter().enumerate() {
        match parse_uuid(raw) {
            Some(id) => components.push(id),
            None => errors.push(FieldError::new(
                format!("components[{i}]"),
                format!("{raw:?} is not a component id: use the UUID of a status-page component."),
            )),
        }
    }
    let mut tx = app.pool.begin().await?;
    let owner_id = match request.owner.as_deref() {
        None => None,
        Some(email) => match users::find_by_email(&mut *tx, email.trim()).await?.filter(|u| u.active) {
            Some(u) => Some(u.id),
            None => {
                errors.push(FieldError::new(
                    "owner",
                    format!("No active user has the e-mail address {email:?}."),
                ));
                None
            }
        },
    };
    let (Some(starts_at), Some(ends_at), true) = (starts_at, ends_at, errors.is_empty()) else {
        return Err(AppError::Validation(errors).into());
    };
    let input = WindowInput {
        title: request.title,
        description: request.description,
        starts_at,
        ends_at,
        components,
        owner_id,
    };
    let max = SignedDuration::from_hours(i64::from(app.config.maintenance_max_hours));
    let window = service::create(&mut tx, &user.actor, &input, max, Timestamp::now()).await?;
    let json = detail(&mut tx, &window).await?;
    tx.commit().await?;
    Ok(window_response(StatusCode::CREATED, &json))
}

/// `GET /api/v1/maintenance/{id}`.
async fn show_window(State(app): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let mut tx = app.pool.begin().await?;
    let window = service::load(&mut tx, id).await?;
    let json = detail(&mut tx, &window).await?;
    tx.rollback().await?;
    Ok(window_response(StatusCode::OK, &json))
}

/// `PATCH /api/v1/maintenance/{id}`: edits a draft or reschedules a scheduled window that has
/// not started, with the page's rules (`service::edit`).
async fn patch_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: PatchRequest = parse_json(&headers, &body, false)?;
    if request.title.is_none()
        && request.description.is_none()
        && request.starts_at.is_none()
        && request.ends_at.is_none()
        && request.components.is_none()
    {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Nothing to change: send at least one of title, description, starts_at, ends_at or components.",
            vec![FieldError::new(
                "body",
                "Send at least one of title, description, starts_at, ends_at or components.",
            )],
        ));
    }
    let mut errors = vec![];
    let starts_at = request.starts_at.as_deref().map(|v| parse_time("starts_at", Some(v), &mut errors));
    let ends_at = request.ends_at.as_deref().map(|v| parse_time("ends_at", Some(v), &mut errors));
    let components = request.components.as_ref().map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(i, raw)| {
                parse_uuid(raw).or_else(|| {
                    errors.push(FieldError::new(
                        format!("components[{i}]"),
                        format!("{raw:?} is not a component id: use the UUID of a status-page component."),
                    ));
                    None
                })
            })
            .collect::<Vec<_>>()
    });
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    // Reasons the window's state asks for and the request left out are a conflict with that
    // state (409), not a malformed request: the same body is fine for another window.
    let state_asks: Vec<&'static str> =
        [("short_notice_reason", &request.short_notice_reason), ("overlap_reason", &request.overlap_reason)]
            .into_iter()
            .filter(|(_, value)| value.trim().is_empty())
            .map(|(field, _)| field)
            .collect();
    let zone = app.config.timezone.clone();
    let max = SignedDuration::from_hours(i64::from(app.config.maintenance_max_hours));
    let outcome = window_action(&app, |tx| {
        Box::pin(async move {
            // Locked before reading, so the fields left out are the ones the edit replaces.
            let current = store::lock(&mut *tx, id)
                .await?
                .ok_or_else(|| MaintenanceError::NotFound { what: "This maintenance window".into() })?;
            let current_components: Vec<Uuid> =
                store::components(&mut *tx, id).await?.iter().map(|c| c.id).collect();
            let input = service::EditInput {
                window: WindowInput {
                    title: request.title.unwrap_or(current.title),
                    description: request.description.unwrap_or(current.description),
                    starts_at: starts_at.flatten().unwrap_or(current.starts_at),
                    ends_at: ends_at.flatten().unwrap_or(current.ends_at),
                    components: components.unwrap_or(current_components),
                    owner_id: None,
                },
                short_notice_reason: request.short_notice_reason,
                overlap_reason: request.overlap_reason,
                expected: request.version,
            };
            service::edit(tx, &user.actor, user.role, &zone, id, &input, max, Timestamp::now()).await
        })
    })
    .await;
    match outcome {
        Err(ApiError::App(AppError::Validation(errors)))
            if !errors.is_empty() && errors.iter().all(|e| state_asks.contains(&e.field.as_str())) =>
        {
            Err(problem(
                StatusCode::CONFLICT,
                "This change needs a written reason for this window; see `errors`.",
                errors,
            ))
        }
        other => other,
    }
}

/// Runs one window action in a transaction and answers with the window.
async fn window_action<F>(app: &AppState, action: F) -> Result<Response, ApiError>
where
    F: for<'c> FnOnce(
        &'c mut PgConnection,
    ) -> crate::workers::BoxFuture<'c, Result<Window, MaintenanceError>>,
{
    let mut tx = app.pool.begin().await?;
    let window = action(&mut tx).await?;
    let json = detail(&mut tx, &window).await?;
    tx.commit().await?;
    Ok(window_response(StatusCode::OK, &json))
}

async fn schedule_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: ScheduleRequest = parse_json(&headers, &body, true)?;
    // A reason the window's state asks for and the request left out is a conflict with that
    // state (409), not a malformed request: the same body is fine for another window.
    let left_out = |field: &str| match field {
        "short_notice_reason" => request.short_notice_reason.trim().is_empty(),
        "overlap_reason" => request.overlap_reason.trim().is_empty(),
        _ => false,
    };
    let state_asks: Vec<&'static str> =
        ["short_notice_reason", "overlap_reason"].into_iter().filter(|f| left_out(f)).collect();
    let input = ScheduleInput {
        short_notice_reason: request.short_notice_reason.clone(),
        overlap_reason: request.overlap_reason.clone(),
        expected: request.version,
    };
    let zone = app.config.timezone.clone();
    let outcome = window_action(&app, |tx| {
        Box::pin(async move {
            service::schedule(tx, &user.actor, user.role, &zone, id, &input, Timestamp::now()).await
        })
    })
    .await;
    match outcome {
        Err(ApiError::App(AppError::Validation(errors)))
            if !errors.is_empty() && errors.iter().all(|e| state_asks.contains(&e.field.as_str())) =>
        {
            Err(problem(
                StatusCode::CONFLICT,
                "This window needs a written reason to be scheduled now; see `errors`.",
                errors,
            ))
        }
        other => other,
    }
}

async fn start_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: StartRequest = parse_json(&headers, &body, true)?;
    let input = StartInput { override_reason: request.override_reason, message: request.message };
    window_action(&app, |tx| {
        Box::pin(async move {
            service::start(tx, &user.actor, user.role, id, &input, request.version, Timestamp::now()).await
        })
    })
    .await
}

/// `POST /api/v1/maintenance/{id}/updates`: 201 with the update.
async fn post_update(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: UpdateRequest = parse_json(&headers, &body, false)?;
    let mut tx = app.pool.begin().await?;
    let update = service::post_update(&mut tx, &user.actor, id, &request.body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(update_json(&update))).into_response())
}

async fn verify_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: VerifyRequest = parse_json(&headers, &body, true)?;
    window_action(&app, |tx| {
        Box::pin(async move {
            service::mark_verifying(tx, &user.actor, id, &request.message, Timestamp::now()).await
        })
    })
    .await
}

async fn end_window(
    app: AppState,
    user: CurrentUser,
    raw: String,
    headers: HeaderMap,
    body: Bytes,
    ending: Ending,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: EndRequest = parse_json(&headers, &body, ending == Ending::Completed)?;
    let input = EndInput { ending, outcome: request.outcome, expected: request.version };
    let zone = app.config.timezone.clone();
    window_action(&app, |tx| {
        Box::pin(async move { service::end(tx, &user.actor, &zone, id, &input, Timestamp::now()).await })
    })
    .await
}

async fn complete_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    end_window(app, user, raw, headers, body, Ending::Completed).await
}

async fn roll_back_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    end_window(app, user, raw, headers, body, Ending::RolledBack).await
}

async fn cancel_window(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: CancelRequest = parse_json(&headers, &body, false)?;
    window_action(&app, |tx| {
        Box::pin(async move {
            service::cancel(tx, &user.actor, id, &request.reason, request.version, Timestamp::now()).await
        })
    })
    .await
}

/// Answers with the window's checklist (`status` 200 or 201).
async fn checklist_response(
    conn: &mut PgConnection,
    id: Uuid,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let json = checklist_json(conn, id).await?;
    Ok((status, Json(json)).into_response())
}

async fn show_checklist(State(app): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let mut conn = app.pool.acquire().await?;
    service::load(&mut conn, id).await?;
    checklist_response(&mut conn, id, StatusCode::OK).await
}

async fn add_item(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: ItemRequest = parse_json(&headers, &body, false)?;
    let mut tx = app.pool.begin().await?;
    service::add_item(&mut tx, &user.actor, id, &request.label, request.evidence_required).await?;
    let response = checklist_response(&mut tx, id, StatusCode::CREATED).await?;
    tx.commit().await?;
    Ok(response)
}

async fn tick_item(
    State(app): State<AppState>,
    user: CurrentUser,
    Path((raw, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let request: TickRequest = parse_json(&headers, &body, true)?;
    let mut tx = app.pool.begin().await?;
    match service::tick(&mut tx, &user.actor, id, &key, &request.evidence, Timestamp::now()).await {
        // The item asks for evidence and the request has none: the same body ticks other items,
        // so this is the item's state refusing it (409), not a malformed request.
        Err(MaintenanceError::Invalid(errors))
            if request.evidence.trim().is_empty() && errors.iter().all(|e| e.field == "evidence") =>
        {
            return Err(problem(
                StatusCode::CONFLICT,
                "This item needs an evidence note to be ticked; see `errors`.",
                errors,
            ));
        }
        other => other?,
    };
    let response = checklist_response(&mut tx, id, StatusCode::OK).await?;
    tx.commit().await?;
    Ok(response)
}

async fn untick_item(
    State(app): State<AppState>,
    user: CurrentUser,
    Path((raw, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = window_id(&raw)?;
    let _: EmptyRequest = parse_json(&headers, &body, true)?;
    let mut tx = app.pool.begin().await?;
    service::untick(&mut tx, &user.actor, id, &key).await?;
    let response = checklist_response(&mut tx, id, StatusCode::OK).await?;
    tx.commit().await?;
    Ok(response)
}
