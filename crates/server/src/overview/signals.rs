//! Signals into incidents: a service that goes down declares an incident (when it is set to)
//! with the probe evidence on the timeline; at most one open incident per service; recovery
//! adds a timeline event and resolves nothing.
//!
//! A signal source decides *when* (here: [`on_step`], under the service's state row lock) and
//! writes its evidence as a [`SignalEvent`]; declaring and appending are shared, so another
//! source (a key metric held over its threshold, an external alert) adds its own `on_*`
//! function and evidence text without touching them.

use jiff::Timestamp;
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::health::{FailureKind, ServiceState, Step};
use twisterlab_domain::incident::{Impact, TimelineKind, Title};
use uuid::Uuid;

use crate::clock;
use crate::db::audit::Actor;
use crate::db::health::{self as store, Service};
use crate::db::incidents::{self as incident_store, Incident, NewEvent};
use crate::db::probe_results::ProbeResult;
use crate::incidents::service::{self as incidents, Declaration, IncidentError};

/// How timeline events written by probes are signed.
pub(crate) const ACTOR_LABEL: &str = "health probe";
/// Label on incidents declared by probes.
pub(crate) const INCIDENT_LABEL: &str = "health-probe";

/// What a state change did to incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Nothing to tell.
    None,
    /// A new incident was declared (its number).
    Declared(i64),
    /// The service's open incident got a timeline event (its number).
    Appended(i64),
    /// Down, but this service opens no incidents.
    NoIncident,
    /// Down while a maintenance window covers its component: held back on that window (its
    /// id) until the window ends.
    Suppressed(Uuid),
}

/// Acts on one probe's state change, inside the transaction that holds the service's state row
/// lock (taken by [`store::lock_state`]): that lock serialises signals per service, so two
/// processes can never both find "no open incident" and declare one each.
///
/// `evidence` holds the latest results, newest first, including the probe that caused `step`.
pub(crate) async fn on_step(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    service: &Service,
    step: &Step,
    down_since: Timestamp,
    evidence: &[ProbeResult],
) -> Result<Signal, IncidentError> {
    if step.went_down() {
        if let Some(window) = crate::maintenance::suppression::hold_back(&mut *tx, service, evidence).await? {
            return Ok(Signal::Suppressed(window));
        }
        if let Some((incident_id, number)) = store::open_signal_incident(&mut *tx, service.id).await? {
            append(tx, incident_id, &down_event(service, step, evidence)).await?;
            return Ok(Signal::Appended(number));
        }
        let Some(severity) = service.open_incident else {
            return Ok(Signal::NoIncident);
        };
        let declaration = Declaration {
            title: title(service),
            summary: format!(
                "Declared by the portal's health probe: {} failed {} checks in a row. Latest reason: {}. The probe evidence is on the timeline.",
                service.name,
                step.consecutive_failures,
                one_line(
                    evidence.first().and_then(|r| r.reason.as_deref()).unwrap_or("health check failing")
                )
            ),
            severity: Some(severity),
            private: Some(!service.public_incidents),
            components: service.component_id.map(|c| vec![(c, service.impact)]).unwrap_or_default(),
            labels: vec![INCIDENT_LABEL.to_owned()],
            ..Declaration::default()
        };
        let incident = declare(tx, zone, &declaration).await?;
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
        let minutes = clock::between(down_since, Timestamp::now()).as_mins();
        let event = SignalEvent {
            body: format!(
                "**{}** answers correctly again after being down for {}. The incident stays open until someone resolves it.",
                service.name,
                if minutes < 1 { "less than a minute".to_owned() } else { format!("{minutes} min") }
            ),
            data: json!({
                "service": service.name, "url": service.url, "state": ServiceState::Up.as_str(),
                "down_since": clock::iso(down_since),
                "checks": checks_json(&evidence[..evidence.len().min(1)]),
            }),
        };
        append(tx, incident_id, &event).await?;
        tracing::info!(service.name = %service.name, incident.number = number, "service recovered");
        return Ok(Signal::Appended(number));
    }
    Ok(Signal::None)
}

/// Declares the incident a down service did not open while a maintenance window held its
/// signal back, now that the window has ended with the service still down. Call it under the
/// service's state row lock ([`store::lock_state`]), after checking that no incident of the
/// service is open; `None` when the service opens no incidents.
pub(crate) async fn declare_after_maintenance(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    service: &Service,
    window_title: &str,
) -> Result<Option<Incident>, IncidentError> {
    let Some(severity) = service.open_incident else {
        return Ok(None);
    };
    let evidence = crate::db::probe_results::recent(&mut *tx, service.id, 5).await?;
    let declaration = Declaration {
        title: title(service),
        summary: format!(
            "Declared by the portal's health probe: {} went down during the maintenance window \u{201c}{window_title}\u{201d} and was still down when it ended. Latest reason: {}. The probe evidence is on the timeline.",
            service.name,
            one_line(service.last_reason.as_deref().unwrap_or("health check failing"))
        ),
        severity: Some(severity),
        private: Some(!service.public_incidents),
        components: service.component_id.map(|c| vec![(c, service.impact)]).unwrap_or_default(),
        labels: vec![INCIDENT_LABEL.to_owned()],
        ..Declaration::default()
    };
    let incident = declare(tx, zone, &declaration).await?;
    store::link_signal_incident(&mut *tx, service.id, incident.id).await?;
    let shown = &evidence[..evidence.len().min(3)];
    let event = SignalEvent {
        body: format!(
            "**{}** is still down after the maintenance window \u{201c}{window_title}\u{201d}, which held its signal back while it ran. Latest reason: {}.",
            service.name,
            service.last_reason.as_deref().unwrap_or("health check failing")
        ),
        data: json!({
            "service": service.name, "url": service.url, "state": ServiceState::Down.as_str(),
            "after_maintenance": window_title, "checks": checks_json(shown),
        }),
    };
    append(tx, incident.id, &event).await?;
    tracing::warn!(
        service.name = %service.name,
        incident.number = incident.number.get(),
        "service still down after a maintenance window: incident declared"
    );
    Ok(Some(incident))
}

/// Label on incidents declared by key metrics.
pub(crate) const METRIC_INCIDENT_LABEL: &str = "key-metric";
/// How timeline events written for key metrics are signed.
pub(crate) const METRIC_ACTOR_LABEL: &str = "key metric";

/// Judges one read of a key metric and acts on it, in its own transaction under the metric's
/// signal row lock (one open incident per metric, as for probes): stores the read, steps the
/// signal, and when a breach has lasted the metric's "for" duration declares an incident (or
/// adds to the open one) with the value on the timeline; a healthy read after that clears it
/// with an event. An unknown read never fires nor clears.
pub(crate) async fn on_metric_read(
    pool: &sqlx::PgPool,
    zone: &jiff::tz::TimeZone,
    spec: &crate::overview::key_metrics::KeyMetricSpec,
    reading: &crate::overview::key_metrics::Reading,
) -> Result<Signal, IncidentError> {
    use crate::db::metric_signals as metrics;
    use twisterlab_domain::health::{MetricChange, step_signal};
    let mut tx = pool.begin().await?;
    let before = metrics::lock_signal(&mut tx, &spec.name).await?;
    let now = Timestamp::now();
    let (after, change) = step_signal(before, reading.state, now, spec.hold());
    metrics::insert_reading(&mut *tx, &spec.name, reading.value, reading.threshold, reading.state).await?;
    metrics::save_signal(&mut *tx, &spec.name, after, reading.state, reading.value).await?;
    let value = reading.value_text();
    let threshold = reading.threshold_text();
    let data = json!({
        "metric": spec.name, "label": spec.label, "query": spec.query, "value": reading.value,
        "threshold": spec.threshold, "direction": spec.direction, "for_seconds": spec.for_seconds,
        "breach_since": after.breach_since.map(clock::iso),
    });
    let signal = match change {
        MetricChange::None => Signal::None,
        MetricChange::Fired => {
            let minutes = after.breach_since.map(|s| clock::between(s, now).as_mins()).unwrap_or(0);
            let event = SignalEvent {
                body: format!(
                    "**{}** reads {value}, over its threshold ({threshold}) for {} — its \"for\" duration is {} s.\n\nQuery: `{}`",
                    spec.label,
                    if minutes < 1 { "less than a minute".to_owned() } else { format!("{minutes} min") },
                    spec.for_seconds,
                    spec.query.replace('`', "'"),
                ),
                data: json!({"state": "firing", "reading": data}),
            };
            if let Some((incident_id, number)) = metrics::open_incident(&mut *tx, &spec.name).await? {
                append_as(&mut tx, incident_id, METRIC_ACTOR_LABEL, &event).await?;
                Signal::Appended(number)
            } else if let Some(severity) = spec.open_incident {
                let declaration = Declaration {
                    title: format!("{} is over its threshold", spec.label),
                    summary: format!(
                        "Declared by the portal's key metrics: {} read {value}, over its threshold ({threshold}) for {} s or more. The readings are on the timeline.",
                        spec.label, spec.for_seconds
                    ),
                    severity: Some(severity),
                    private: Some(true),
                    labels: vec![METRIC_INCIDENT_LABEL.to_owned()],
                    ..Declaration::default()
                };
                let incident = declare(&mut tx, zone, &declaration).await?;
                metrics::link_incident(&mut *tx, &spec.name, incident.id).await?;
                append_as(&mut tx, incident.id, METRIC_ACTOR_LABEL, &event).await?;
                tracing::warn!(
                    metric = %spec.name,
                    incident.number = incident.number.get(),
                    "key metric over its threshold: incident declared"
                );
                Signal::Declared(incident.number.get())
            } else {
                Signal::NoIncident
            }
        }
        MetricChange::Cleared => match metrics::open_incident(&mut *tx, &spec.name).await? {
            Some((incident_id, number)) => {
                let event = SignalEvent {
                    body: format!(
                        "**{}** is back within its threshold ({threshold}): it reads {value}. The incident stays open until someone resolves it.",
                        spec.label
                    ),
                    data: json!({"state": "ok", "reading": data}),
                };
                append_as(&mut tx, incident_id, METRIC_ACTOR_LABEL, &event).await?;
                tracing::info!(metric = %spec.name, incident.number = number, "key metric recovered");
                Signal::Appended(number)
            }
            None => Signal::None,
        },
    };
    tx.commit().await?;
    Ok(signal)
}

/// What a signal writes on an incident's timeline: words for people (Markdown) and the
/// evidence as data.
pub(crate) struct SignalEvent {
    pub body: String,
    pub data: serde_json::Value,
}

/// Declares an incident on behalf of a signal (signed by the system).
async fn declare(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    declaration: &Declaration,
) -> Result<Incident, IncidentError> {
    incidents::declare(tx, &Actor::system(), zone, declaration).await
}

/// Appends a signal's event to an incident's timeline, signed [`ACTOR_LABEL`].
async fn append(tx: &mut PgConnection, incident_id: Uuid, event: &SignalEvent) -> Result<(), sqlx::Error> {
    append_as(tx, incident_id, ACTOR_LABEL, event).await
}

/// Appends a signal's event to an incident's timeline, signed `actor_label`.
pub(crate) async fn append_as(
    tx: &mut PgConnection,
    incident_id: Uuid,
    actor_label: &str,
    event: &SignalEvent,
) -> Result<(), sqlx::Error> {
    incident_store::append(
        &mut *tx,
        &NewEvent {
            incident_id,
            kind: TimelineKind::HealthSignal,
            actor_user_id: None,
            actor_label,
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

/// "twisterlab-api is down", or "… is degraded" for a service whose failure only degrades its
/// component: what a person would write. The probe's words go into the summary and the
/// timeline, never the title.
pub(crate) fn title(service: &Service) -> String {
    let verb = if service.impact == Impact::DegradedPerformance { "is degraded" } else { "is down" };
    let text = format!("{} {verb}", service.name);
    if text.chars().count() <= Title::MAX_CHARS {
        text
    } else {
        let cut: String = text.chars().take(Title::MAX_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// Text on one line (control characters become spaces), at most 500 characters.
fn one_line(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= 500 {
        clean
    } else {
        format!("{}…", clean.chars().take(499).collect::<String>())
    }
}

fn down_event(service: &Service, step: &Step, evidence: &[ProbeResult]) -> SignalEvent {
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
            clock::iso(r.started_at),
            r.failure.map(FailureKind::as_str).unwrap_or("failed"),
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

fn checks_json(rows: &[ProbeResult]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            json!({
                "at": clock::iso(r.started_at), "ok": r.ok, "http_status": r.http_status,
                "latency_ms": r.latency_ms, "failure": r.failure.map(FailureKind::as_str),
                "reason": r.reason, "excerpt": r.excerpt,
            })
        })
        .collect()
}
