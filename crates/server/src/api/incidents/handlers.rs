//! The handlers of `/api/v1/incidents`: each reads its request, runs `incidents::service` in
//! one transaction, as the pages do, and answers with the incident or event as JSON.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use sqlx::PgConnection;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, Title};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::types::{
    EventJson, IncidentJson, IncidentListJson, IncidentSummaryJson, incident_response, set_etag,
};
use super::{DEFAULT_LIMIT, LIST_PARAMETERS, MAX_LIMIT, MAX_QUERY_TEXT};
use crate::api::error::{ApiError, problem};
use crate::api::request::{expected_version, parse_json, parse_rfc3339, parse_uuid, present, version};
use crate::auth::CurrentUser;
use crate::clock::from_jiff;
use crate::db::incidents::{self as store, Cursor, Incident, ListFilter};
use crate::db::users;
use crate::incidents::service::{self, Declaration, IncidentRole};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::parse_number;

/// The incident a path names: `42` or `INC-42`.
fn incident_number(raw: &str) -> Result<IncidentNumber, ApiError> {
    parse_number(raw).map_err(|_| {
        problem(
            StatusCode::NOT_FOUND,
            format!("{raw:?} is not an incident number: address incidents as /api/v1/incidents/42 or /api/v1/incidents/INC-42."),
            vec![],
        )
    })
}

/// The value whose name is exactly `text`: the API takes the names the document lists, as they
/// are (the pages' forms are more forgiving about case and spaces).
fn exact<T: Copy>(all: &[T], name: fn(T) -> &'static str, text: &str) -> Option<T> {
    all.iter().copied().find(|v| name(*v) == text)
}

/// `P1` or `p1` (the document's `SeverityInput`).
fn parse_severity(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<Severity> {
    Severity::ALL
        .into_iter()
        .find(|s| s.as_str() == value || s.as_str().to_ascii_lowercase() == value)
        .ok_or(())
        .map_err(|_| {
            errors.push(FieldError::new(field, format!("Unknown severity {value:?}: use P0, P1, P2 or P3.")))
        })
        .ok()
}

fn parse_status(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<IncidentStatus> {
    exact(&IncidentStatus::ALL, IncidentStatus::as_str, value)
        .ok_or(())
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                format!("Unknown status {value:?}: use triggered, acknowledged, investigating, identified, monitoring or resolved."),
            ))
        })
        .ok()
}

fn parse_time(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<Timestamp> {
    parse_rfc3339(value)
        .ok_or(())
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                format!("Use an RFC 3339 time such as 2026-03-01T14:05:00Z (got {value:?})."),
            ))
        })
        .ok()
}

/// Loads what [`IncidentJson`] shows besides the incident itself, on `conn`.
async fn detail(conn: &mut PgConnection, incident: &Incident) -> Result<IncidentJson, sqlx::Error> {
    let components = store::components(&mut *conn, incident.id).await?;
    let links = store::links(&mut *conn, incident.id).await?;
    let events = store::timeline(&mut *conn, incident.id, &Default::default()).await?;
    Ok(IncidentJson::of(incident, &components, &links, &events, Timestamp::now()))
}

/// `POST /api/v1/incidents`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DeclareRequest {
    title: String,
    #[serde(deserialize_with = "present")]
    severity: Option<String>,
    summary: String,
    components: Vec<ComponentRequest>,
    #[serde(deserialize_with = "present")]
    private: Option<bool>,
    security: bool,
    #[serde(deserialize_with = "present")]
    started_at: Option<String>,
    #[serde(deserialize_with = "present")]
    detected_at: Option<String>,
    labels: Vec<String>,
    /// E-mail of the commander; the caller by default.
    #[serde(deserialize_with = "present")]
    commander: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentRequest {
    id: String,
    impact: String,
}

/// `PATCH /api/v1/incidents/{number}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PatchRequest {
    #[serde(deserialize_with = "present")]
    severity: Option<String>,
    #[serde(deserialize_with = "present")]
    status: Option<String>,
    #[serde(deserialize_with = "present")]
    commander: Option<String>,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

/// `/acknowledge` and `/resolve`: an optional version.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ActionRequest {
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

/// `POST /api/v1/incidents/{number}/resolve`: an optional version and resolution note.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ResolveRequest {
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
    #[serde(deserialize_with = "present")]
    resolution: Option<String>,
}

/// `POST /api/v1/incidents/{number}/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EventRequest {
    kind: String,
    body: String,
    #[serde(deserialize_with = "present")]
    status: Option<String>,
    #[serde(deserialize_with = "version")]
    version: Option<i32>,
}

/// `GET /api/v1/incidents`: open first, newest first, keyset-paginated.
pub(super) async fn list_incidents(
    State(state): State<AppState>,
    user: CurrentUser,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<IncidentListJson>, ApiError> {
    let Query(pairs) = query.map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            format!("The query string cannot be read: {}", e.body_text()),
            vec![],
        )
    })?;
    let mut errors = vec![];
    let mut filter = ListFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    let mut commander = None;
    let mut seen = HashSet::new();
    for (key, value) in &pairs {
        if !seen.insert(key.as_str()) {
            errors.push(FieldError::new(key, "Give this parameter once."));
            continue;
        }
        let value = value.as_str();
        if value.contains('\0') {
            errors.push(FieldError::new(
                key,
                "Remove the NUL character (U+0000): no text in the portal may contain it.",
            ));
            continue;
        }
        match key.as_str() {
            "status" => match value {
                "open" => filter.open = Some(true),
                "resolved" => filter.open = Some(false),
                other => {
                    filter.status = exact(&IncidentStatus::ALL, IncidentStatus::as_str, other)
                        .ok_or(())
                        .map_err(|_| {
                            errors.push(FieldError::new(
                                "status",
                                format!("Unknown status {other:?}: use open, resolved, triggered, acknowledged, investigating, identified or monitoring."),
                            ))
                        })
                        .ok();
                }
            },
            "severity" => filter.severity = parse_severity("severity", value, &mut errors),
            "commander" => commander = Some(value),
            "from" => filter.started_from = parse_time("from", value, &mut errors),
            "until" => filter.started_until = parse_time("until", value, &mut errors),
            "q" => {
                if value.chars().count() > MAX_QUERY_TEXT {
                    errors.push(FieldError::new("q", format!("Search for at most {MAX_QUERY_TEXT} characters.")));
                } else if !value.is_empty() {
                    filter.text = Some(value.to_owned());
                }
            }
            "limit" => match value.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => errors.push(FieldError::new("limit", format!("Use a whole number from 1 to {MAX_LIMIT} (got {value:?})."))),
            },
            "cursor" => match Cursor::decode(value) {
                Some(c) => cursor = Some(c),
                None => errors.push(FieldError::new(
                    "cursor",
                    "This is not a cursor this API handed out: pass `next_cursor` from the previous page as it is, or start without one.",
                )),
            },
            other => errors.push(FieldError::new(other, format!("Unknown parameter: use {}.", LIST_PARAMETERS.join(", ")))),
        }
    }
    // `until` at or before `from` is an empty range: a valid filter that matches nothing.
    if let Some(email) = commander {
        match users::find_by_email(&state.pool, email).await? {
            Some(user) => filter.commander_id = Some(user.id),
            None => errors
                .push(FieldError::new("commander", format!("No user has the e-mail address {email:?}."))),
        }
    }
    if !errors.is_empty() {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Some query parameters are not valid; see `errors`.",
            errors,
        ));
    }

    service::ReadScope::of(&user).restrict(&mut filter);
    // One more than asked tells whether another page follows.
    let mut rows = store::list(&state.pool, &filter, cursor, limit + 1).await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > page {
        rows.truncate(page);
        rows.last().map(|i| Cursor::of(i).encode())
    } else {
        None
    };
    let now = Timestamp::now();
    Ok(Json(IncidentListJson {
        incidents: rows.iter().map(|i| IncidentSummaryJson::of(i, now)).collect(),
        next_cursor,
    }))
}

/// `POST /api/v1/incidents`: declares an incident; 201 with its `Location`.
pub(super) async fn declare_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: DeclareRequest = parse_json(&headers, &body, false)?;
    let mut errors = vec![];
    let severity = request.severity.as_deref().and_then(|s| parse_severity("severity", s, &mut errors));
    let started_at = request.started_at.as_deref().and_then(|s| parse_time("started_at", s, &mut errors));
    let detected_at = request.detected_at.as_deref().and_then(|s| parse_time("detected_at", s, &mut errors));
    let mut components: Vec<(Uuid, Impact)> = vec![];
    for (i, c) in request.components.iter().enumerate() {
        let id = parse_uuid(&c.id)
            .ok_or(())
            .map_err(|_| {
                errors.push(FieldError::new(
                    format!("components[{i}].id"),
                    format!("{:?} is not a component id: use the UUID of a status-page component.", c.id),
                ))
            })
            .ok();
        let impact = exact(&Impact::ALL, Impact::as_str, &c.impact)
            .ok_or(())
            .map_err(|_| {
                errors.push(FieldError::new(
                    format!("components[{i}].impact"),
                    format!(
                        "Unknown impact {:?}: use degraded_performance, partial_outage or major_outage.",
                        c.impact
                    ),
                ))
            })
            .ok();
        if let (Some(id), Some(impact)) = (id, impact) {
            if components.iter().any(|(seen, _)| *seen == id) {
                errors
                    .push(FieldError::new(format!("components[{i}].id"), "This component is listed twice."));
            } else {
                components.push((id, impact));
            }
        }
    }

    let mut tx = state.pool.begin().await?;
    let commander_id = match request.commander.as_deref() {
        None => None,
        Some(email) => match users::find_by_email(&mut *tx, email.trim()).await?.filter(|u| u.active) {
            Some(u) => Some(u.id),
            None => {
                errors.push(FieldError::new(
                    "commander",
                    format!("No active user has the e-mail address {email:?}."),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        // The service checks the rest; report what it would say about the title and severity too.
        if let Err(e) = Title::parse(&request.title) {
            errors.insert(0, FieldError::new("title", e.to_string()));
        }
        if request.severity.is_none() {
            errors.push(FieldError::new("severity", "Choose a severity: P0, P1, P2 or P3."));
        }
        return Err(AppError::Validation(errors).into());
    }
    let declaration = Declaration {
        title: request.title,
        summary: request.summary,
        severity,
        started_at: started_at.map(from_jiff),
        detected_at: detected_at.map(from_jiff),
        private: request.private,
        security: request.security,
        components,
        labels: request.labels,
        commander_id,
    };
    let incident = service::declare(&mut tx, &user.actor, &state.config.timezone, &declaration).await?;
    let json = detail(&mut tx, &incident).await?;
    tx.commit().await?;
    Ok(incident_response(StatusCode::CREATED, &json))
}

/// `GET /api/v1/incidents/{number}`: the incident with components, links, SLA and timeline.
pub(super) async fn show_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let mut tx = state.pool.begin().await?;
    // One snapshot, so the version matches the timeline shown with it.
    store::read_snapshot(&mut tx).await?;
    let incident = service::load_readable(&mut tx, number, service::ReadScope::of(&user)).await?;
    let json = detail(&mut tx, &incident).await?;
    tx.rollback().await?;
    Ok(incident_response(StatusCode::OK, &json))
}

/// `POST /api/v1/incidents/{number}/acknowledge`.
pub(super) async fn acknowledge_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let request: ActionRequest = parse_json(&headers, &body, true)?;
    let expected = expected_version(&headers, request.version)?;
    let mut tx = state.pool.begin().await?;
    let incident = service::acknowledge(&mut tx, &user.actor, number, expected).await?;
    let json = detail(&mut tx, &incident).await?;
    tx.commit().await?;
    Ok(incident_response(StatusCode::OK, &json))
}

/// `POST /api/v1/incidents/{number}/resolve`.
pub(super) async fn resolve_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let request: ResolveRequest = parse_json(&headers, &body, true)?;
    let expected = expected_version(&headers, request.version)?;
    let mut tx = state.pool.begin().await?;
    service::authorize_command(&mut tx, &user.actor, user.role, number).await?;
    let incident = match request.resolution.as_deref() {
        Some(note) => service::resolve_with_note(&mut tx, &user.actor, number, expected, note).await?,
        None => service::resolve(&mut tx, &user.actor, number, expected).await?,
    };
    let json = detail(&mut tx, &incident).await?;
    tx.commit().await?;
    Ok(incident_response(StatusCode::OK, &json))
}

/// `POST /api/v1/incidents/{number}/events`: a note (responder) or a public update (commander);
/// 201 with the event, the incident's new version as `ETag`.
pub(super) async fn add_incident_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let request: EventRequest = parse_json(&headers, &body, false)?;
    let public = match request.kind.as_str() {
        "note" => false,
        "public_update" => true,
        other => {
            return Err(AppError::Validation(vec![FieldError::new(
                "kind",
                format!(
                    "Unknown kind {other:?}: use note (internal) or public_update (for the status page)."
                ),
            )])
            .into());
        }
    };
    let mut errors = vec![];
    let status = match (&request.status, public) {
        (None, _) => None,
        (Some(s), true) => parse_status("status", s, &mut errors),
        (Some(_), false) => {
            errors.push(FieldError::new(
                "status",
                "Only a public update announces a status; leave it out of notes.",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    let expected = expected_version(&headers, request.version)?;

    let mut tx = state.pool.begin().await?;
    let event = if public {
        service::authorize_command(&mut tx, &user.actor, user.role, number).await?;
        service::post_public_update(&mut tx, &user.actor, number, &request.body, status, expected).await?
    } else {
        // A note is an append: it overwrites nothing and never conflicts, so a version sent
        // with it is not checked.
        service::add_note(&mut tx, &user.actor, number, &request.body).await?
    };
    let incident = service::load(&mut tx, number).await?;
    tx.commit().await?;
    let mut response = (StatusCode::CREATED, Json(EventJson::of(&event))).into_response();
    set_etag(&mut response, incident.version);
    Ok(response)
}

/// `PATCH /api/v1/incidents/{number}`: severity, status and commander in one transaction.
///
/// A field already at the requested value is left alone (PATCH is idempotent); the rest apply
/// in the order commander, severity, status, each with its timeline event and audit row.
pub(super) async fn update_incident(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let request: PatchRequest = parse_json(&headers, &body, false)?;
    if request.severity.is_none() && request.status.is_none() && request.commander.is_none() {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Nothing to change: send at least one of severity, status or commander.",
            vec![FieldError::new("body", "Send at least one of severity, status or commander.")],
        ));
    }
    let mut errors = vec![];
    let severity = request.severity.as_deref().and_then(|s| parse_severity("severity", s, &mut errors));
    let status = request.status.as_deref().and_then(|s| parse_status("status", s, &mut errors));
    let expected = expected_version(&headers, request.version)?;

    let mut tx = state.pool.begin().await?;
    let commander = match request.commander.as_deref() {
        None => None,
        Some(email) => {
            let found = users::find_by_email(&mut *tx, email.trim()).await?.filter(|u| u.active);
            if found.is_none() {
                errors.push(FieldError::new(
                    "commander",
                    format!("No active user has the e-mail address {email:?}."),
                ));
            }
            found
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }

    service::authorize_command(&mut tx, &user.actor, user.role, number).await?;
    let mut incident = service::lock_current(&mut tx, number, expected).await?;
    if let Some(commander) = commander
        && incident.commander.as_ref().map(|p| p.id) != Some(commander.id)
    {
        incident = service::assign_role(
            &mut tx,
            &user.actor,
            number,
            IncidentRole::Commander,
            Some(commander.id),
            None,
        )
        .await?;
    }
    if let Some(severity) = severity
        && severity != incident.severity
    {
        incident =
            service::change_severity(&mut tx, &user.actor, &state.config.timezone, number, severity, None)
                .await?;
    }
    if let Some(status) = status
        && status != incident.status
    {
        incident = if status == IncidentStatus::Acknowledged {
            service::acknowledge(&mut tx, &user.actor, number, None).await?
        } else {
            service::change_status(&mut tx, &user.actor, number, status, None).await?
        };
    }
    let json = detail(&mut tx, &incident).await?;
    tx.commit().await?;
    Ok(incident_response(StatusCode::OK, &json))
}
