//! `/api/v1/incidents`: declare, list, show, act on and patch incidents as JSON with a bearer
//! token. Every change goes through `incidents::service` in one transaction, as the pages do.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, TimelineKind, Title};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::auth::{Access, CurrentUser, Routes};
use crate::db::incidents::{
    self as store, AffectedComponent, Cursor, Incident, Link, ListFilter, TimelineEvent,
};
use crate::db::users;
use crate::incidents::service::{self, Declaration, IncidentError, IncidentRole};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::{AppError, Problem};

/// Incidents per page of `GET /api/v1/incidents` unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most incidents one page may hold.
pub const MAX_LIMIT: i64 = 200;
/// Longest `q` search text, in characters.
pub const MAX_QUERY_TEXT: usize = 200;

/// The query parameters `GET /api/v1/incidents` understands.
pub const LIST_PARAMETERS: [&str; 8] =
    ["status", "severity", "commander", "from", "until", "q", "limit", "cursor"];

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/incidents", Access::Role(Role::Viewer), list_incidents)
        .post("/api/v1/incidents", Access::Role(Role::Commander), declare_incident)
        .get("/api/v1/incidents/{number}", Access::Role(Role::Viewer), show_incident)
        .patch("/api/v1/incidents/{number}", Access::Role(Role::Commander), update_incident)
        .post("/api/v1/incidents/{number}/acknowledge", Access::Role(Role::Responder), acknowledge_incident)
        .post("/api/v1/incidents/{number}/resolve", Access::Role(Role::Commander), resolve_incident)
        // Notes need a responder, public updates a commander: checked in the handler.
        .post("/api/v1/incidents/{number}/events", Access::Role(Role::Responder), add_incident_event)
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An API failure: one of the portal's errors, or a problem only the API describes (415, a bad
/// query parameter). Both become `application/problem+json` in the error middleware.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    Problem(Box<Problem>),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> Self {
        ApiError::App(e.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::App(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::App(e) => e.into_response(),
            ApiError::Problem(p) => {
                let mut response = p.status().into_response();
                response.extensions_mut().insert(*p);
                response
            }
        }
    }
}

fn problem(status: StatusCode, detail: impl Into<String>, errors: Vec<FieldError>) -> ApiError {
    let mut p = Problem::new(status, detail);
    p.errors = errors;
    ApiError::Problem(Box::new(p))
}

// ---------------------------------------------------------------------------------------------
// Reading requests

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body into `T`. With `optional`, an empty body is `T::default()`.
///
/// Syntax errors are 400 with the position; a well-formed body of the wrong shape (unknown
/// field, wrong type, missing field) is 422 with `errors` naming the field.
fn parse_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
    optional: bool,
) -> Result<T, ApiError> {
    if optional && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json(headers) {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the request body as JSON with `Content-Type: application/json`.",
            vec![],
        ));
    }
    match Json::<T>::from_bytes(body) {
        Ok(Json(value)) => Ok(value),
        Err(rejection) => Err(json_problem(&rejection)),
    }
}

/// The serde message behind a JSON rejection: `path: message at line L column C`.
fn rejection_message(rejection: &JsonRejection) -> String {
    use std::error::Error as _;
    // JsonRejection → axum::Error → serde_path_to_error::Error (which prints the path).
    rejection
        .source()
        .and_then(|e| e.source())
        .map(ToString::to_string)
        .unwrap_or_else(|| rejection.body_text())
}

fn json_problem(rejection: &JsonRejection) -> ApiError {
    let message = rejection_message(rejection);
    match rejection {
        JsonRejection::JsonSyntaxError(_) => problem(
            StatusCode::BAD_REQUEST,
            format!("The request body is not valid JSON: {message}."),
            vec![FieldError::new("body", message.clone())],
        ),
        JsonRejection::JsonDataError(_) => {
            let (field, text) = data_error_field(&message);
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The JSON does not have the expected shape: {message}. See `errors`."),
                vec![FieldError::new(field, text)],
            )
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::App(AppError::PayloadTooLarge),
        other => problem(other.status(), other.body_text(), vec![]),
    }
}

/// Splits serde's `components[0].impact: unknown variant … at line 1 column 9` into the field
/// (`components[0].impact`) and a message without the position. Unknown and missing fields name
/// the field itself (`colour`, not the object holding it).
fn data_error_field(message: &str) -> (String, String) {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let (path, text) = match message.split_once(": ") {
        Some((path, text)) if !path.is_empty() && !path.contains(' ') => (path.to_owned(), text.to_owned()),
        _ => (String::new(), message.to_owned()),
    };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let field = match (path.as_str(), named) {
        ("" | "?", Some(name)) => name,
        (parent, Some(name)) if text.starts_with("missing") => format!("{parent}.{name}"),
        // For unknown fields serde_path_to_error already ends the path with the field.
        (_, Some(name)) if !path.ends_with(&name) => format!("{path}.{name}"),
        ("" | "?", None) => "body".to_owned(),
        _ => path,
    };
    (field, text)
}

/// The incident a path names: `42` or `INC-42`.
fn incident_number(raw: &str) -> Result<IncidentNumber, ApiError> {
    raw.parse::<IncidentNumber>().map_err(|_| {
        problem(
            StatusCode::NOT_FOUND,
            format!("{raw:?} is not an incident number: address incidents as /api/v1/incidents/42 or /api/v1/incidents/INC-42."),
            vec![],
        )
    })
}

/// The version the caller last saw, from the body's `version` or an `If-Match: "<version>"`.
fn expected_version(headers: &HeaderMap, body: Option<i32>) -> Result<Option<i32>, ApiError> {
    let from_header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or("").trim();
            if text == "*" {
                None
            } else {
                let tag = text.strip_prefix("W/").unwrap_or(text);
                let parsed = tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .and_then(|t| t.parse::<i32>().ok());
                match parsed.filter(|v| *v > 0) {
                    Some(v) => Some(v),
                    None => {
                        let message = "Use the incident's version as an entity tag, e.g. If-Match: \"3\" (the ETag of the last response).";
                        return Err(problem(
                            StatusCode::BAD_REQUEST,
                            message,
                            vec![FieldError::new("If-Match", message)],
                        ));
                    }
                }
            }
        }
    };
    match (from_header, body) {
        (Some(h), Some(b)) if h != b => {
            let message = format!("If-Match says version {h} but the body says {b}; send one of them.");
            Err(problem(StatusCode::BAD_REQUEST, message.clone(), vec![FieldError::new("version", message)]))
        }
        (h, b) => Ok(h.or(b)),
    }
}

fn parse_severity(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<Severity> {
    value
        .parse::<Severity>()
        .map_err(|_| {
            errors.push(FieldError::new(field, format!("Unknown severity {value:?}: use P0, P1, P2 or P3.")))
        })
        .ok()
}

fn parse_status(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<IncidentStatus> {
    value
        .parse::<IncidentStatus>()
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                format!("Unknown status {value:?}: use triggered, acknowledged, investigating, identified, monitoring or resolved."),
            ))
        })
        .ok()
}

fn parse_time(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value.trim(), &Rfc3339)
        .map_err(|_| {
            errors.push(FieldError::new(
                field,
                format!("Use an RFC 3339 time such as 2026-03-01T14:05:00Z (got {value:?})."),
            ))
        })
        .ok()
}

// ---------------------------------------------------------------------------------------------
// What the API returns

/// RFC 3339 in UTC with milliseconds, e.g. `2026-03-01T14:05:06.123Z`.
pub fn timestamp(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(FORMAT).unwrap_or_else(|_| crate::clock::iso(t))
}

/// A person in an incident role.
#[derive(Debug, Serialize)]
pub struct PersonJson {
    pub email: String,
    pub display_name: String,
}

impl PersonJson {
    fn of(p: &store::Person) -> Self {
        Self { email: p.email.clone(), display_name: p.display_name.clone() }
    }
}

/// The incident's SLA clocks.
#[derive(Debug, Serialize)]
pub struct SlaJson {
    /// Acknowledge deadline.
    pub respond_by: String,
    /// When it escalates to a manager if still unresolved.
    pub escalate_by: String,
    /// `null` until acknowledged.
    pub acknowledged_within_sla: Option<bool>,
    /// Not acknowledged and past `respond_by`.
    pub response_overdue: bool,
}

/// An incident without its components, links and timeline (as lists show it).
#[derive(Debug, Serialize)]
pub struct IncidentSummaryJson {
    pub number: i64,
    /// `INC-42`.
    pub reference: String,
    /// This incident in the API.
    pub url: String,
    /// The incident's page.
    pub html_url: String,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub private: bool,
    pub security: bool,
    pub started_at: String,
    pub detected_at: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    pub commander: Option<PersonJson>,
    pub comms_lead: Option<PersonJson>,
    pub scribe: Option<PersonJson>,
    pub labels: Vec<String>,
    pub sla: SlaJson,
    /// Bumped by every change; send it back as `version` or `If-Match` to detect conflicts.
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

impl IncidentSummaryJson {
    pub fn of(i: &Incident, now: OffsetDateTime) -> Self {
        let number = i.number.get();
        Self {
            number,
            reference: i.number.to_string(),
            url: format!("/api/v1/incidents/{number}"),
            html_url: format!("/incidents/{number}"),
            title: i.title.clone(),
            summary: i.summary.clone(),
            severity: i.severity,
            status: i.status,
            private: i.private,
            security: i.security,
            started_at: timestamp(i.started_at),
            detected_at: timestamp(i.detected_at),
            acknowledged_at: i.acknowledged_at.map(timestamp),
            resolved_at: i.resolved_at.map(timestamp),
            commander: i.commander.as_ref().map(PersonJson::of),
            comms_lead: i.comms_lead.as_ref().map(PersonJson::of),
            scribe: i.scribe.as_ref().map(PersonJson::of),
            labels: i.labels.clone(),
            sla: SlaJson {
                respond_by: timestamp(i.respond_by),
                escalate_by: timestamp(i.escalate_by),
                acknowledged_within_sla: i.acknowledged_at.map(|at| at <= i.respond_by),
                response_overdue: i.acknowledged_at.is_none() && now > i.respond_by,
            },
            version: i.version,
            created_at: timestamp(i.created_at),
            updated_at: timestamp(i.updated_at),
        }
    }
}

/// A status-page component the incident affects.
#[derive(Debug, Serialize)]
pub struct ComponentJson {
    pub id: Uuid,
    pub name: String,
    pub impact: Impact,
}

/// A link attached to the incident.
#[derive(Debug, Serialize)]
pub struct LinkJson {
    pub id: Uuid,
    pub kind: String,
    pub url: String,
    pub label: String,
    pub created_at: String,
}

/// One timeline event. Bodies are Markdown as written: JSON is not HTML, so nothing is escaped.
#[derive(Debug, Serialize)]
pub struct EventJson {
    pub id: Uuid,
    pub at: String,
    pub kind: TimelineKind,
    /// Who did it (`alice@example.com`, `alice@example.com (token ci)`, `system`).
    pub actor: String,
    /// One line for people: "alice acknowledged".
    pub description: String,
    pub body: Option<String>,
    pub public: bool,
    pub public_status: Option<String>,
    /// The event this one corrects.
    pub corrects: Option<Uuid>,
    pub data: Value,
}

impl EventJson {
    pub fn of(e: &TimelineEvent) -> Self {
        Self {
            id: e.id,
            at: timestamp(e.at),
            kind: e.kind,
            actor: e.actor_label.clone(),
            description: service::describe_event(e),
            body: e.body.clone(),
            public: e.public,
            public_status: e.public_status.clone(),
            corrects: e.corrects_id,
            data: e.data.clone(),
        }
    }
}

/// An incident with everything about it.
#[derive(Debug, Serialize)]
pub struct IncidentJson {
    #[serde(flatten)]
    pub incident: IncidentSummaryJson,
    pub components: Vec<ComponentJson>,
    pub links: Vec<LinkJson>,
    /// Oldest first.
    pub timeline: Vec<EventJson>,
}

impl IncidentJson {
    pub fn of(
        i: &Incident,
        components: &[AffectedComponent],
        links: &[Link],
        events: &[TimelineEvent],
        now: OffsetDateTime,
    ) -> Self {
        Self {
            incident: IncidentSummaryJson::of(i, now),
            components: components
                .iter()
                .map(|c| ComponentJson { id: c.component_id, name: c.name.clone(), impact: c.impact })
                .collect(),
            links: links
                .iter()
                .map(|l| LinkJson {
                    id: l.id,
                    kind: l.kind.clone(),
                    url: l.url.clone(),
                    label: l.label.clone(),
                    created_at: timestamp(l.created_at),
                })
                .collect(),
            timeline: events.iter().map(EventJson::of).collect(),
        }
    }
}

/// One page of incidents.
#[derive(Debug, Serialize)]
pub struct IncidentListJson {
    pub incidents: Vec<IncidentSummaryJson>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Loads what [`IncidentJson`] shows besides the incident itself, on `conn`.
async fn detail(conn: &mut PgConnection, incident: &Incident) -> Result<IncidentJson, sqlx::Error> {
    let components = store::components(&mut *conn, incident.id).await?;
    let links = store::links(&mut *conn, incident.id).await?;
    let events = store::timeline(&mut *conn, incident.id, &Default::default()).await?;
    Ok(IncidentJson::of(incident, &components, &links, &events, OffsetDateTime::now_utc()))
}

fn set_etag(response: &mut Response, version: i32) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
}

/// The incident as JSON with its version as the `ETag`, and a `Location` when it was created.
fn incident_response(status: StatusCode, json: &IncidentJson) -> Response {
    let mut response = (status, Json(json)).into_response();
    set_etag(&mut response, json.incident.version);
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&json.incident.url)
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// `POST /api/v1/incidents`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DeclareRequest {
    title: String,
    severity: Option<String>,
    summary: String,
    components: Vec<ComponentRequest>,
    private: Option<bool>,
    security: bool,
    started_at: Option<String>,
    detected_at: Option<String>,
    labels: Vec<String>,
    /// E-mail of the commander; the caller by default.
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
    severity: Option<String>,
    status: Option<String>,
    commander: Option<String>,
    version: Option<i32>,
}

/// `/acknowledge` and `/resolve`: an optional version.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ActionRequest {
    version: Option<i32>,
}

/// `POST /api/v1/incidents/{number}/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EventRequest {
    kind: String,
    body: String,
    status: Option<String>,
    version: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `GET /api/v1/incidents`: open first, newest first, keyset-paginated.
async fn list_incidents(
    State(state): State<AppState>,
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
        let value = value.trim();
        match key.as_str() {
            "status" => match value {
                "open" => filter.open = Some(true),
                "resolved" => filter.open = Some(false),
                other => {
                    filter.status = other
                        .parse::<IncidentStatus>()
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
    if let (Some(from), Some(until)) = (filter.started_from, filter.started_until)
        && from >= until
    {
        errors.push(FieldError::new("until", "`until` must come after `from`."));
    }
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

    // One more than asked tells whether another page follows.
    let mut rows = store::list(&state.pool, &filter, cursor, limit + 1).await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > page {
        rows.truncate(page);
        rows.last().map(|i| Cursor::of(i).encode())
    } else {
        None
    };
    let now = OffsetDateTime::now_utc();
    Ok(Json(IncidentListJson {
        incidents: rows.iter().map(|i| IncidentSummaryJson::of(i, now)).collect(),
        next_cursor,
    }))
}

/// `POST /api/v1/incidents`: declares an incident; 201 with its `Location`.
async fn declare_incident(
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
        let id = Uuid::parse_str(c.id.trim())
            .map_err(|_| {
                errors.push(FieldError::new(
                    format!("components[{i}].id"),
                    format!("{:?} is not a component id: use the UUID of a status-page component.", c.id),
                ))
            })
            .ok();
        let impact = c
            .impact
            .parse::<Impact>()
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
        started_at,
        detected_at,
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
async fn show_incident(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let mut tx = state.pool.begin().await?;
    // One snapshot, so the version matches the timeline shown with it.
    store::read_snapshot(&mut tx).await?;
    let incident = service::load(&mut tx, number).await?;
    let json = detail(&mut tx, &incident).await?;
    tx.rollback().await?;
    Ok(incident_response(StatusCode::OK, &json))
}

/// `POST /api/v1/incidents/{number}/acknowledge`.
async fn acknowledge_incident(
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
async fn resolve_incident(
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
    let incident = service::resolve(&mut tx, &user.actor, number, expected).await?;
    let json = detail(&mut tx, &incident).await?;
    tx.commit().await?;
    Ok(incident_response(StatusCode::OK, &json))
}

/// `POST /api/v1/incidents/{number}/events`: a note (responder) or a public update (commander);
/// 201 with the event, the incident's new version as `ETag`.
async fn add_incident_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let number = incident_number(&raw)?;
    let request: EventRequest = parse_json(&headers, &body, false)?;
    let public = match request.kind.trim() {
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
    if public && !user.role.allows(Role::Commander) {
        return Err(AppError::Forbidden { have: user.role, need: Role::Commander }.into());
    }
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
        service::post_public_update(&mut tx, &user.actor, number, &request.body, status, expected).await?
    } else {
        // `add_note` takes no version: a note overwrites nothing, but a caller who sends one
        // asked for the check, so it is made here under the same row lock.
        if expected.is_some() {
            service::lock_current(&mut tx, number, expected).await?;
        }
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
async fn update_incident(
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

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn serde_paths_become_field_names() {
        let (f, m) = data_error_field(
            "components[0].impact: invalid type: integer `3`, expected a string at line 1 column 40",
        );
        assert_eq!(f, "components[0].impact");
        assert_eq!(m, "invalid type: integer `3`, expected a string");
        let (f, _) = data_error_field(
            "unknown field `colour`, expected one of `title`, `severity` at line 1 column 10",
        );
        assert_eq!(f, "colour");
        let (f, _) = data_error_field("components[0]: missing field `impact` at line 1 column 30");
        assert_eq!(f, "components[0].impact");
        let (f, _) =
            data_error_field("invalid type: string \"x\", expected struct DeclareRequest at line 1 column 3");
        assert_eq!(f, "body");
    }

    #[test]
    fn timestamps_always_carry_milliseconds_in_utc() {
        let t = time::macros::datetime!(2026-03-01 15:05:06 +01:00);
        assert_eq!(timestamp(t), "2026-03-01T14:05:06.000Z");
        let t = time::macros::datetime!(2026-03-01 14:05:06.1234 UTC);
        assert_eq!(timestamp(t), "2026-03-01T14:05:06.123Z");
    }

    #[test]
    fn if_match_takes_an_entity_tag_and_must_agree_with_the_body() {
        let mut h = HeaderMap::new();
        assert_eq!(expected_version(&h, Some(3)).ok(), Some(Some(3)));
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"4\""));
        assert_eq!(expected_version(&h, None).ok(), Some(Some(4)));
        assert!(expected_version(&h, Some(3)).is_err());
        h.insert(header::IF_MATCH, HeaderValue::from_static("W/\"5\""));
        assert_eq!(expected_version(&h, None).ok(), Some(Some(5)));
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(expected_version(&h, None).ok(), Some(None));
        h.insert(header::IF_MATCH, HeaderValue::from_static("5"));
        assert!(expected_version(&h, None).is_err());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
