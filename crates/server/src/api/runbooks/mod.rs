//! `/api/v1/runbooks` and `/api/v1/runs`: runbooks and guided runs as JSON with a bearer token.
//! Step changes go through `runbooks::service` in one transaction, as the pages do (actions
//! that call Kubernetes stay on the pages, behind their preview and confirmation); the OpenAPI
//! description is [`openapi::fragment`].

pub(crate) mod openapi;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use twisterlab_domain::role::Role;
use twisterlab_domain::runbook::run::{StepChange, StepState};
use twisterlab_domain::runbook::{Runbook, Slug};
use uuid::Uuid;

use crate::api::error::{ApiError, problem};
use crate::api::request::{parse_json, version};
use crate::auth::{Access, CurrentUser, Routes};
use crate::db::incidents as incident_store;
use crate::db::runbook_runs::{self as runs, Subject};
use crate::db::runbooks as store;
use crate::runbooks::output::ActionOutput;
use crate::runbooks::service::{self, RunbookError, StepRecord};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::parse_number;

pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let responder = Access::Role(Role::Responder);
    let commander = Access::Role(Role::Commander);
    Routes::new()
        .get("/api/v1/runbooks", viewer, list_runbooks)
        .get("/api/v1/runbooks/{slug}", viewer, show_runbook)
        .get("/api/v1/incidents/{number}/runs", viewer, list_runs)
        .post("/api/v1/incidents/{number}/runs", commander, start_run)
        .get("/api/v1/runs/{id}", viewer, show_run)
        .post("/api/v1/runs/{id}/steps/{key}", responder, change_step)
}

impl From<RunbookError> for ApiError {
    fn from(e: RunbookError) -> Self {
        ApiError::App(e.into())
    }
}

fn run_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| {
        problem(
            StatusCode::NOT_FOUND,
            format!("{raw:?} is not a run id: address runs by the UUID in their `id`."),
            vec![],
        )
    })
}

// ---------------------------------------------------------------------------------------------
// JSON shapes (described in openapi.rs)

#[derive(Debug, Serialize)]
pub(crate) struct RunbookSummaryJson {
    pub slug: String,
    pub title: String,
    pub revision: u32,
    pub symptoms: Vec<String>,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunbookJson {
    pub url: String,
    #[serde(flatten)]
    pub runbook: Runbook,
}

#[derive(Debug, Serialize)]
pub(crate) struct StepJson {
    pub key: String,
    pub status: &'static str,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub note: Option<String>,
    pub by: Option<String>,
    pub at: Option<String>,
    pub output: Option<ActionOutput>,
    pub version: i32,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunJson {
    pub id: Uuid,
    pub url: String,
    pub html_url: String,
    pub runbook: String,
    pub revision: u32,
    pub incident: Option<i64>,
    pub maintenance_window: Option<Uuid>,
    pub status: &'static str,
    pub closed_reason: Option<String>,
    pub started_by: String,
    pub started_at: String,
    pub steps: Vec<StepJson>,
}

async fn run_json(conn: &mut PgConnection, id: Uuid) -> Result<RunJson, ApiError> {
    let loaded = service::load_run(conn, id).await?;
    let run = loaded.run;
    Ok(RunJson {
        id: run.id,
        url: format!("/api/v1/runs/{}", run.id),
        html_url: format!("/runs/{}", run.id),
        runbook: run.slug.clone(),
        revision: run.revision.get(),
        incident: run.incident_number,
        maintenance_window: run.window_id,
        status: run.status.as_str(),
        closed_reason: run.closed_reason.clone(),
        started_by: run.started_by_label.clone(),
        started_at: crate::clock::iso(run.started_at),
        steps: loaded
            .steps
            .into_iter()
            .map(|s| {
                let (reason, message) = match &s.state {
                    StepState::Skipped { reason } => (Some(reason.to_string()), None),
                    StepState::Failed { message } => (None, Some(message.clone())),
                    _ => (None, None),
                };
                StepJson {
                    key: s.key.to_string(),
                    status: s.state.status().as_str(),
                    reason,
                    message,
                    note: s.note,
                    by: s.actor_label,
                    at: s.changed_at.map(crate::clock::iso),
                    output: s.output.and_then(|v| serde_json::from_value(v).ok()),
                    version: s.version,
                }
            })
            .collect(),
    })
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, Json(value)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn list_runbooks(State(app): State<AppState>) -> Result<Response, ApiError> {
    let list: Vec<RunbookSummaryJson> = store::latest_all(&app.pool)
        .await?
        .into_iter()
        .map(|v| RunbookSummaryJson {
            url: format!("/api/v1/runbooks/{}", v.runbook.slug),
            slug: v.runbook.slug.to_string(),
            title: v.runbook.title.to_string(),
            revision: v.runbook.revision.get(),
            symptoms: v.runbook.symptoms,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &list))
}

async fn show_runbook(State(app): State<AppState>, Path(slug): Path<String>) -> Result<Response, ApiError> {
    let not_found = || problem(StatusCode::NOT_FOUND, format!("No runbook is called {slug:?}."), vec![]);
    Slug::parse(&slug).map_err(|_| not_found())?;
    let version = store::latest(&app.pool, &slug).await?.ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &RunbookJson { url: format!("/api/v1/runbooks/{slug}"), runbook: version.runbook },
    ))
}

async fn incident_id(conn: &mut PgConnection, raw: &str) -> Result<Uuid, ApiError> {
    let number = parse_number(raw)?;
    incident_store::lock(&mut *conn, number)
        .await?
        .ok_or_else(|| ApiError::App(AppError::NotFoundThing { what: format!("INC-{}", number.get()) }))
}

async fn list_runs(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let mut tx = app.pool.begin().await?;
    let number = parse_number(&raw)?;
    // Who may read the incident may read its runs: the incidents' one read rule.
    let scope = crate::incidents::service::ReadScope::of(&user);
    let incident = crate::incidents::service::load_readable(&mut tx, number, scope).await?;
    let mut list = Vec::new();
    for run in runs::of_incident(&mut *tx, incident.id).await? {
        list.push(run_json(&mut tx, run.id).await?);
    }
    tx.rollback().await?;
    Ok(json_response(StatusCode::OK, &list))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    runbook: String,
}

async fn start_run(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: StartRequest = parse_json(&headers, &body, false)?;
    let mut tx = app.pool.begin().await?;
    let incident = incident_id(&mut tx, &raw).await?;
    let started =
        service::start_run(&mut tx, &user.actor, user.role, &request.runbook, Subject::Incident(incident))
            .await;
    let id = match started {
        // The runbook is named in the body but is a resource like the incident: one that does
        // not exist is "not found", as the document says, not a form mistake.
        Err(RunbookError::Invalid(errors)) if errors.iter().any(|e| e.field == "runbook") => {
            return Err(ApiError::App(AppError::NotFoundThing {
                what: format!("Runbook {:?}", request.runbook),
            }));
        }
        other => other?,
    };
    let json = run_json(&mut tx, id).await?;
    tx.commit().await?;
    let mut response = json_response(StatusCode::CREATED, &json);
    if let Ok(location) = json.url.parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn show_run(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = run_id(&raw)?;
    let mut conn = app.pool.acquire().await?;
    let run = runs::find(&mut *conn, id)
        .await?
        .ok_or_else(|| ApiError::App(AppError::NotFoundThing { what: "run".into() }))?;
    service::check_readable(&mut conn, &run, crate::incidents::service::ReadScope::of(&user)).await?;
    Ok(json_response(StatusCode::OK, &run_json(&mut conn, id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepRequest {
    /// `complete`, `skip` or `fail`.
    change: String,
    /// The step's version the caller saw; a different current version is 409.
    #[serde(default, deserialize_with = "version")]
    version: Option<i32>,
    reason: Option<String>,
    message: Option<String>,
    note: Option<String>,
}

/// The longest note, in characters.
pub(crate) const MAX_NOTE: usize = 1000;

async fn change_step(
    State(app): State<AppState>,
    user: CurrentUser,
    Path((raw, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = run_id(&raw)?;
    let request: StepRequest = parse_json(&headers, &body, false)?;
    let invalid = |field: &str, message: &str| {
        ApiError::App(AppError::Validation(vec![FieldError::new(field, message)]))
    };
    // Each change takes exactly its own fields (the document's `oneOf`): a reason with
    // `complete`, say, is a mistake worth telling, not something to drop quietly.
    let stray = match request.change.as_str() {
        "complete" => {
            request.reason.as_ref().map(|_| "reason").or(request.message.as_ref().map(|_| "message"))
        }
        "skip" => request.message.as_ref().map(|_| "message"),
        "fail" => request.reason.as_ref().map(|_| "reason"),
        _ => None,
    };
    if let Some(field) = stray {
        return Err(invalid(field, "This change does not take this field."));
    }
    let change = match request.change.as_str() {
        "complete" => StepChange::Complete,
        "skip" => {
            StepChange::Skip { reason: service::reason("reason", request.reason.as_deref().unwrap_or(""))? }
        }
        "fail" => {
            let message = request.message.as_deref().unwrap_or("").trim();
            if message.is_empty() {
                return Err(invalid("message", "Say what went wrong, for the timeline."));
            }
            if message.chars().count() > twisterlab_domain::runbook::run::MAX_FAILURE_CHARS {
                return Err(invalid("message", "Use at most 4000 characters."));
            }
            StepChange::Fail { message: message.to_owned() }
        }
        _ => return Err(invalid("change", "Use complete, skip or fail.")),
    };
    if request.note.as_deref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(invalid("note", "Use at most 1000 characters."));
    }
    let mut tx = app.pool.begin().await?;
    let locked = service::lock_step_for(&mut tx, user.role, id, &key, request.version, &change).await?;
    service::apply_step_change(
        &mut tx,
        &user.actor,
        user.role,
        &locked,
        change,
        StepRecord { note: request.note.as_deref(), ..StepRecord::default() },
    )
    .await?;
    let json = run_json(&mut tx, id).await?;
    tx.commit().await?;
    Ok(json_response(StatusCode::OK, &json))
}
