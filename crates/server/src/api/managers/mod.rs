//! `/api/v1/escalations`, `/api/v1/reports` and `/api/v1/incidents/{number}/postmortem`: the
//! managers' views as JSON with a bearer token. The escalation list and the report take the
//! page's query parameters and checks; the report's tables are the very cells of the page and
//! its CSV. The OpenAPI description is [`openapi::fragment`].

pub(crate) mod openapi;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::api::request::parse_json;
use crate::auth::{Access, CurrentUser, Routes};
use crate::db::escalations::{self as store, Cursor, Escalation};
use crate::managers::escalations::{ListQuery, PAGE_SIZE, acknowledgement_words, parse_filter};
use crate::managers::reports::{self, ReportQuery, Table};
use crate::managers::service::{self, ReviewInput};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::parse_number;

pub(crate) fn routes() -> Routes {
    let manager = Access::Role(Role::Manager);
    Routes::new()
        .get("/api/v1/escalations", manager, list_escalations)
        .post("/api/v1/escalations/{id}/review", manager, review_escalation)
        .get("/api/v1/reports", manager, show_report)
        .get("/api/v1/incidents/{number}/postmortem", Access::Role(Role::Viewer), show_postmortem)
}

fn iso(t: Timestamp) -> String {
    crate::clock::iso(t)
}

#[derive(Debug, Serialize)]
pub(crate) struct OutcomesJson {
    pub delivered: i64,
    pub delivered_after_retry: i64,
    pub retrying: i64,
    pub dead: i64,
    pub queued: i64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ReviewJson {
    pub reviewed_at: String,
    pub reviewer: Option<String>,
    pub comment: String,
    pub follow_up: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EscalationJson {
    pub id: Uuid,
    pub incident_number: i64,
    pub incident_title: String,
    /// Where the moment is on the incident's page.
    pub html_url: String,
    pub severity: String,
    pub kind: &'static str,
    pub level: &'static str,
    pub fired_at: String,
    pub on_call: Option<String>,
    pub paged: Option<String>,
    pub acknowledged_at: Option<String>,
    pub respond_by: String,
    pub acknowledgement: String,
    pub notifications: OutcomesJson,
    pub review: Option<ReviewJson>,
}

impl EscalationJson {
    fn of(e: &Escalation) -> Self {
        Self {
            id: e.event_id,
            incident_number: e.number,
            incident_title: e.title.clone(),
            html_url: format!("/incidents/{}/events/{}", e.number, e.event_id),
            severity: e.severity.clone(),
            kind: e.kind.as_str(),
            level: e.level.as_str(),
            fired_at: iso(e.fired_at),
            on_call: e.on_call.clone(),
            paged: e.paged.clone(),
            acknowledged_at: e.acknowledged_at.map(iso),
            respond_by: iso(e.respond_by),
            acknowledgement: acknowledgement_words(e),
            notifications: OutcomesJson {
                delivered: e.outcomes.delivered,
                delivered_after_retry: e.outcomes.delivered_after_retry,
                retrying: e.outcomes.retrying,
                dead: e.outcomes.dead,
                queued: e.outcomes.queued,
            },
            review: e.reviewed_at.map(|at| ReviewJson {
                reviewed_at: iso(at),
                reviewer: e.reviewer.clone(),
                comment: e.review_comment.clone().unwrap_or_default(),
                follow_up: e.follow_up.clone(),
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct EscalationListJson {
    pub escalations: Vec<EscalationJson>,
    /// The `after` value of the next page; `null` on the last.
    pub next: Option<String>,
}

/// The query string's pairs; an unreadable one is a field error like any other bad value.
fn pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, AppError> {
    query.map(|Query(pairs)| pairs).map_err(|e| {
        AppError::Validation(vec![FieldError::new(
            "query",
            format!("The query string cannot be read: {}", e.body_text()),
        )])
    })
}

/// The API holds values exactly as documented: a value with spaces around it is not the value
/// (the pages trim what people type; a client sends what it means), and the parameters in
/// `not_empty` have no empty value (the pages' forms send empty fields; a client leaves the
/// parameter out).
fn as_documented(pairs: &[(String, String)], not_empty: &[&str]) -> Result<(), AppError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for (k, v) in pairs {
        if v.trim() != v.as_str() {
            errors.push(FieldError::new(k, "Remove the spaces around the value."));
        } else if v.is_empty() && not_empty.contains(&k.as_str()) {
            errors.push(FieldError::new(k, "Give a value, or leave the parameter out."));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(AppError::Validation(errors)) }
}

/// `GET /api/v1/escalations`.
async fn list_escalations(
    State(app): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EscalationListJson>, ApiError> {
    let pairs = pairs(query)?;
    as_documented(&pairs, &["start", "end", "person", "after"])?;
    let q = ListQuery::from_pairs(&pairs).map_err(AppError::Validation)?;
    let users = crate::db::users::list(&app.pool).await.map_err(AppError::from)?;
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let (filter, cursor) = parse_filter(&q, &app.config.timezone, &ids).map_err(AppError::Validation)?;
    let limit = usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    let mut found = store::list(&app.pool, &filter, cursor, PAGE_SIZE + 1).await.map_err(AppError::from)?;
    let next = (found.len() > limit)
        .then(|| found.get(limit - 1).map(|e| Cursor { fired_at: e.fired_at, event_id: e.event_id }.encode()))
        .flatten();
    found.truncate(limit);
    Ok(Json(EscalationListJson { escalations: found.iter().map(EscalationJson::of).collect(), next }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ReviewRequest {
    comment: String,
    follow_up: String,
}

/// `POST /api/v1/escalations/{id}/review`.
async fn review_escalation(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EscalationJson>, ApiError> {
    let id = crate::web::form::parse_id(&raw, "This escalation")?;
    let request: ReviewRequest = parse_json(&headers, &body, false)?;
    let mut tx = app.pool.begin().await.map_err(AppError::from)?;
    let input = ReviewInput { comment: request.comment, follow_up: request.follow_up };
    let reviewed =
        service::review_escalation(&mut tx, &user.actor, id, &input).await.map_err(AppError::from)?;
    tx.commit().await.map_err(AppError::from)?;
    Ok(Json(EscalationJson::of(&reviewed)))
}

#[derive(Debug, Serialize)]
pub(crate) struct PeriodJson {
    pub key: String,
    pub label: String,
    pub kind: &'static str,
    pub first_day: String,
    pub last_day: String,
    pub start: String,
    pub end: String,
    pub time_zone: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct ReportJson {
    pub period: PeriodJson,
    /// `severity`, `components`, `oncall`, `trend`: exactly the page's tables and their CSV.
    pub tables: Vec<Table>,
}

/// `GET /api/v1/reports`.
async fn show_report(
    State(app): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ReportJson>, ApiError> {
    let pairs = pairs(query)?;
    as_documented(&pairs, &["date", "start", "end"])?;
    let q = ReportQuery::from_pairs(&pairs).map_err(AppError::Validation)?;
    let now = Timestamp::now();
    let request = reports::parse_request(&q, &app.config.timezone, now).map_err(AppError::Validation)?;
    let report = reports::compute(&app, &request, now).await.map_err(AppError::from)?;
    let p = &report.period;
    Ok(Json(ReportJson {
        period: PeriodJson {
            key: p.key(),
            label: p.label(),
            kind: p.kind().map_or("custom", |k| k.as_str()),
            first_day: p.first_day().to_string(),
            last_day: p.last_day().to_string(),
            start: iso(p.start()),
            end: iso(p.end()),
            time_zone: app.config.timezone_name.clone(),
        },
        tables: report.tables,
    }))
}

#[derive(Debug, Serialize)]
pub(crate) struct ActionJson {
    pub id: Uuid,
    pub title: String,
    pub owner: String,
    pub due_on: String,
    pub done_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PostmortemJson {
    pub id: Uuid,
    pub incident_number: i64,
    pub html_url: String,
    pub state: &'static str,
    pub summary: String,
    pub impact: String,
    pub root_cause: String,
    pub contributing_factors: String,
    pub went_well: String,
    pub public_summary: String,
    /// Ids of the timeline events picked, in timeline order.
    pub timeline_excerpt: Vec<Uuid>,
    pub action_items: Vec<ActionJson>,
    pub updated_at: String,
    pub published_at: Option<String>,
}

/// `GET /api/v1/incidents/{number}/postmortem`.
async fn show_postmortem(
    State(app): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<PostmortemJson>, ApiError> {
    let number = parse_number(&raw)?;
    let mut conn = app.pool.acquire().await.map_err(AppError::from)?;
    let incident = crate::db::incidents::find(&mut *conn, number)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::NotFoundThing { what: number.to_string() })?;
    let p = crate::db::postmortems::of_incident(&mut conn, incident.id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("The postmortem of {number}") })?;
    let actions = crate::db::postmortems::actions(&mut *conn, p.id).await.map_err(AppError::from)?;
    Ok(Json(PostmortemJson {
        id: p.id,
        incident_number: number.get(),
        html_url: format!("/incidents/{}/postmortem", number.get()),
        state: p.state.as_str(),
        summary: p.texts.summary,
        impact: p.texts.impact,
        root_cause: p.texts.root_cause,
        contributing_factors: p.texts.contributing_factors,
        went_well: p.texts.went_well,
        public_summary: p.texts.public_summary,
        timeline_excerpt: p.excerpt,
        action_items: actions
            .into_iter()
            .map(|a| ActionJson {
                id: a.id,
                title: a.title,
                owner: a.owner,
                due_on: a.due_on.to_string(),
                done_at: a.done_at.map(iso),
            })
            .collect(),
        updated_at: iso(p.updated_at),
        published_at: p.published_at.map(iso),
    }))
}
