//! What the incidents API returns: incidents, their SLA clocks, components, links and timeline
//! as JSON, with the version as the `ETag`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use twisterlab_domain::incident::{Impact, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::clock::Instant;
use crate::db::incidents::{self as store, AffectedComponent, Incident, Link, TimelineEvent};
use crate::incidents::service;

/// RFC 3339 in UTC with milliseconds, e.g. `2026-03-01T14:05:06.123Z`.
pub(crate) fn timestamp(t: impl Instant) -> String {
    t.timestamp().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A person in an incident role.
#[derive(Debug, Serialize)]
pub(crate) struct PersonJson {
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
pub(crate) struct SlaJson {
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
pub(crate) struct IncidentSummaryJson {
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
    pub(crate) fn of(i: &Incident, now: Timestamp) -> Self {
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
pub(crate) struct ComponentJson {
    pub id: Uuid,
    pub name: String,
    pub impact: Impact,
}

/// A link attached to the incident.
#[derive(Debug, Serialize)]
pub(crate) struct LinkJson {
    pub id: Uuid,
    pub kind: String,
    pub url: String,
    pub label: String,
    pub created_at: String,
}

/// One timeline event. Bodies are Markdown as written: JSON is not HTML, so nothing is escaped.
#[derive(Debug, Serialize)]
pub(crate) struct EventJson {
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
    pub(crate) fn of(e: &TimelineEvent) -> Self {
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
pub(crate) struct IncidentJson {
    #[serde(flatten)]
    pub incident: IncidentSummaryJson,
    pub components: Vec<ComponentJson>,
    pub links: Vec<LinkJson>,
    /// Oldest first.
    pub timeline: Vec<EventJson>,
}

impl IncidentJson {
    pub(crate) fn of(
        i: &Incident,
        components: &[AffectedComponent],
        links: &[Link],
        events: &[TimelineEvent],
        now: Timestamp,
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
pub(crate) struct IncidentListJson {
    pub incidents: Vec<IncidentSummaryJson>,
    /// Pass as `cursor` (with the same filters) for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub(super) fn set_etag(response: &mut Response, version: i32) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
}

/// The incident as JSON with its version as the `ETag`, and a `Location` when it was created.
pub(super) fn incident_response(status: StatusCode, json: &IncidentJson) -> Response {
    let mut response = (status, Json(json)).into_response();
    set_etag(&mut response, json.incident.version);
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&json.incident.url)
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_always_carry_milliseconds_in_utc() {
        let t = time::macros::datetime!(2026-03-01 15:05:06 +01:00);
        assert_eq!(timestamp(t), "2026-03-01T14:05:06.000Z");
        let t = time::macros::datetime!(2026-03-01 14:05:06.1234 UTC);
        assert_eq!(timestamp(t), "2026-03-01T14:05:06.123Z");
    }
}
