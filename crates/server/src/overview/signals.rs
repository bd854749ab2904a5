//! Signals into incidents: a service that goes down declares an incident (when it is set to)
//! with the probe evidence on the timeline; at most one open incident per service; recovery
//! adds a timeline event and resolves nothing.

use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::incident::{TimelineKind, Title};
use uuid::Uuid;

use super::rules::{ServiceState, Step};
use super::store::{self, ResultRow, Service};
use crate::db::audit::Actor;
use crate::db::incidents::{self as incident_store, NewEvent};
use crate::incidents::service::{self as incidents, Declaration, IncidentError};

/// How timeline events written by probes are signed.
pub const ACTOR_LABEL: &str = "health probe";
/// Label on incidents declared by probes.
pub const INCIDENT_LABEL: &str = "health-probe";

/// What a state change did to incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Nothing to tell.
    None,
    /// A new incident was declared (its number).
    Declared(i64),
    /// The service's open incident got a timeline event (its number).
    Appended(i64),
    /// Down, but this service opens no incidents.
    NoIncident,
}

/// Acts on one probe's state change, inside the transaction that holds the service's state row
/// lock (taken by [`store::lock_state`]): that lock serialises signals per service, so two
/// processes can never both find "no open incident" and declare one each.
///
/// `evidence` holds the latest results, newest first, including the probe that caused `step`.
pub async fn on_step(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    service: &Service,
    step: &Step,
    down_since: OffsetDateTime,
    evidence: &[ResultRow],
) -> Result<Signal, IncidentError> {
    if (step.went_down() || step.recovered()) && service.component_id.is_some() {
        // The status page rolls probe state into component status.
        incidents::notify_status_change(tx).await?;
    }
    if step.went_down() {
        if let Some((incident_id, number)) = store::open_signal_incident(&mut *tx, service.id).await? {
            append(tx, incident_id, &down_event(service, step, evidence)).await?;
            return Ok(Signal::Appended(number));
        }
        let Some(severity) = service.open_incident else {
            return Ok(Signal::NoIncident);
        };
        let declaration = Declaration {
            title: title(service, evidence),
            summary: format!(
                "Declared by the portal's health probe: {} failed {} checks in a row. The probe evidence is on the timeline.",
                service.name, step.consecutive_failures
            ),
            severity: Some(severity),
            components: service.component_id.map(|c| vec![(c, service.impact)]).unwrap_or_default(),
            labels: vec![INCIDENT_LABEL.to_owned()],
            ..Declaration::default()
        };
        let incident = incidents::declare(tx, &Actor::system(), zone, &declaration).await?;
        store::link_signal_incident(&mut *tx, service.id, incident.id).await?;
        append(tx, incident.id, &down_event(service, step, evidence)).await?;
        tracing::warn!(
            service.name = %service.name,
            incident.number = incident.number.get(),
            incident.severity = %severity,
            "service is down: incident declared"
        );
        return Ok(Signal::Declared(incident.number.get()));
    }
    if step.recovered()
        && let Some((incident_id, number)) = store::open_signal_incident(&mut *tx, service.id).await?
    {
        let minutes = (OffsetDateTime::now_utc() - down_since).whole_minutes();
        let event = SignalEvent {
            body: format!(
                "**{}** answers correctly again after being down for {}. The incident stays open until someone resolves it.",
                service.name,
                if minutes < 1 { "less than a minute".to_owned() } else { format!("{minutes} min") }
            ),
            data: json!({
                "service": service.name, "url": service.url, "state": ServiceState::Up.as_str(),
                "down_since": crate::clock::iso(down_since),
                "checks": checks_json(&evidence[..evidence.len().min(1)]),
            }),
        };
        append(tx, incident_id, &event).await?;
        tracing::info!(service.name = %service.name, incident.number = number, "service recovered");
        return Ok(Signal::Appended(number));
    }
    Ok(Signal::None)
}

struct SignalEvent {
    body: String,
    data: serde_json::Value,
}

async fn append(tx: &mut PgConnection, incident_id: Uuid, event: &SignalEvent) -> Result<(), sqlx::Error> {
    incident_store::append(
        &mut *tx,
        &NewEvent {
            incident_id,
            kind: TimelineKind::HealthSignal,
            actor_user_id: None,
            actor_label: ACTOR_LABEL,
            body: Some(&event.body),
            data: event.data.clone(),
            public: false,
            public_status: None,
            corrects_id: None,
        },
    )
    .await?;
    Ok(())
}

/// "twisterlab-api is down: /database is "disconnected", expected "connected"", within the
/// title limit.
fn title(service: &Service, evidence: &[ResultRow]) -> String {
    let reason = evidence.first().and_then(|r| r.reason.as_deref()).unwrap_or("health check failing");
    let text = format!("{} is down: {reason}", service.name);
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= Title::MAX_CHARS {
        clean
    } else {
        let cut: String = clean.chars().take(Title::MAX_CHARS - 1).collect();
        format!("{cut}…")
    }
}

fn down_event(service: &Service, step: &Step, evidence: &[ResultRow]) -> SignalEvent {
    let shown =
        &evidence[..evidence.len().min(usize::try_from(step.consecutive_failures.max(1)).unwrap_or(1))];
    let mut body = format!(
        "**{}** failed {} checks in a row (threshold {}) and is down.\n\n",
        service.name, step.consecutive_failures, service.failures_before_down
    );
    for r in shown {
        let status = r.http_status.map(|s| format!("HTTP {s}, ")).unwrap_or_default();
        let latency = r.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default();
        body.push_str(&format!(
            "- {} — {}{} ({status}{latency})\n",
            crate::clock::iso(r.started_at),
            r.failure.as_deref().unwrap_or("failed"),
            r.reason.as_deref().map(|x| format!(": {x}")).unwrap_or_default(),
        ));
    }
    body.push_str(&format!(
        "\nProbe: `GET {}`, timeout {} ms, every {} s.",
        service.url, service.timeout_ms, service.interval_seconds
    ));
    SignalEvent {
        body,
        data: json!({
            "service": service.name, "url": service.url, "state": ServiceState::Down.as_str(),
            "consecutive_failures": step.consecutive_failures,
            "failures_before_down": service.failures_before_down,
            "checks": checks_json(shown),
        }),
    }
}

fn checks_json(rows: &[ResultRow]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            json!({
                "at": crate::clock::iso(r.started_at), "ok": r.ok, "http_status": r.http_status,
                "latency_ms": r.latency_ms, "failure": r.failure, "reason": r.reason, "excerpt": r.excerpt,
            })
        })
        .collect()
}
