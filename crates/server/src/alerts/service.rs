//! The Alertmanager use case: one validated webhook delivery, processed in the caller's
//! transaction under a processing lock — each alert keyed by its fingerprint and start, so a
//! repeated or retried notification changes nothing; a firing alert opens (or joins) the one
//! open incident of its group; a resolved alert records its end, and when every alert of the
//! incident has ended, the incident moves to monitoring (or is resolved, as configured).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::alerting::{component_of, group_key, severity_of};
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, TimelineKind, Title};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::config::Config;
use crate::db::alertmanager::{self as store, NewAlert};
use crate::db::audit::{self, Actor, Entry};
use crate::db::incidents::{self as incident_store, NewEvent};
use crate::incidents::service::{self as incidents, Declaration, IncidentError};

/// Label on incidents Alertmanager declared.
pub(crate) const INCIDENT_LABEL: &str = "alertmanager";
/// How timeline events written for alerts are signed.
pub(crate) const ACTOR_LABEL: &str = "Alertmanager";

/// An alert's state in a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlertStatus {
    Firing,
    Resolved,
}

/// One alert of a delivery, checked.
#[derive(Clone, Debug)]
pub(crate) struct Alert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// `None` for a firing alert (Alertmanager sends year 1 or a time in the future).
    pub ends_at: Option<Timestamp>,
    pub generator_url: Option<String>,
    pub fingerprint: String,
}

/// What a delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Outcome {
    pub delivery: i64,
    pub alerts: usize,
    /// Numbers of the incidents declared.
    pub declared: Vec<i64>,
    /// Numbers of open incidents a newly firing alert joined.
    pub joined: Vec<i64>,
    /// Alerts whose end was recorded.
    pub resolved: usize,
    /// Alerts already known in this state (repeats and retries), or resolved without a known start.
    pub unchanged: usize,
}

impl Outcome {
    /// In words, for the deliveries list.
    pub(crate) fn text(&self) -> String {
        let numbers = |v: &[i64]| v.iter().map(|n| format!("INC-{n}")).collect::<Vec<_>>().join(", ");
        let mut parts = vec![format!("{} alerts", self.alerts)];
        if !self.declared.is_empty() {
            parts.push(format!("declared {}", numbers(&self.declared)));
        }
        if !self.joined.is_empty() {
            parts.push(format!("joined {}", numbers(&self.joined)));
        }
        if self.resolved > 0 {
            parts.push(format!("{} resolved", self.resolved));
        }
        if self.unchanged > 0 {
            parts.push(format!("{} unchanged", self.unchanged));
        }
        parts.join(", ")
    }
}

/// Text on one line without control characters, at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    let one: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let one = one.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        format!("{}…", one.chars().take(max - 1).collect::<String>())
    }
}

/// Inline code in Markdown that no value can break out of.
fn code(text: &str) -> String {
    format!("`{}`", clean(text, 500).replace('`', "'"))
}

fn title_of(alert: &Alert) -> String {
    let summary = alert.annotations.get("summary").map(|s| clean(s, Title::MAX_CHARS)).unwrap_or_default();
    if !summary.is_empty() {
        return summary;
    }
    let name = alert.labels.get("alertname").map(|s| s.as_str()).unwrap_or("Alert");
    match alert.labels.get("service") {
        Some(service) => clean(&format!("{name} on {service}"), Title::MAX_CHARS),
        None => clean(name, Title::MAX_CHARS),
    }
}

fn impact_of(severity: Severity) -> Impact {
    match severity {
        Severity::P0 => Impact::MajorOutage,
        Severity::P1 => Impact::PartialOutage,
        Severity::P2 | Severity::P3 => Impact::DegradedPerformance,
    }
}

fn event_body(alert: &Alert, headline: &str) -> String {
    let mut body = format!("**{headline}**: {}\n\n", code(&title_of(alert)));
    if let Some(d) = alert.annotations.get("description") {
        body.push_str(&format!("Description: {}\n\n", code(d)));
    }
    body.push_str("Labels:\n");
    for (k, v) in &alert.labels {
        body.push_str(&format!("- {}: {}\n", code(k), code(v)));
    }
    if alert.annotations.len() > usize::from(alert.annotations.contains_key("description")) {
        body.push_str("\nAnnotations:\n");
        for (k, v) in alert.annotations.iter().filter(|(k, _)| *k != "description") {
            body.push_str(&format!("- {}: {}\n", code(k), code(v)));
        }
    }
    if let Some(url) = &alert.generator_url {
        body.push_str(&format!("\nSource: {}\n", code(url)));
    }
    body
}

fn event_data(alert: &Alert, state: &str) -> serde_json::Value {
    json!({
        "source": "alertmanager", "state": state, "fingerprint": alert.fingerprint,
        "labels": alert.labels, "annotations": alert.annotations,
        "starts_at": crate::clock::iso(alert.starts_at), "ends_at": alert.ends_at.map(crate::clock::iso),
        "generator_url": alert.generator_url,
    })
}

async fn append(
    tx: &mut PgConnection,
    incident_id: Uuid,
    body: &str,
    data: serde_json::Value,
) -> Result<(), sqlx::Error> {
    incident_store::append(
        &mut *tx,
        &NewEvent {
            incident_id,
            kind: TimelineKind::HealthSignal,
            actor_user_id: None,
            actor_label: ACTOR_LABEL,
            body: Some(body),
            data,
            public: false,
            public_status: None,
            corrects_id: None,
        },
    )
    .await?;
    Ok(())
}

/// Processes one checked delivery (already stored as `delivery`), on the caller's transaction.
pub(crate) async fn process(
    tx: &mut PgConnection,
    actor: &Actor,
    config: &Config,
    delivery: i64,
    alerts: &[Alert],
) -> Result<Outcome, IncidentError> {
    store::lock_processing(&mut *tx).await?;
    let mut out = Outcome { delivery, alerts: alerts.len(), ..Outcome::default() };
    let mut touched: Vec<(Uuid, i64)> = vec![];
    for alert in alerts {
        let known = store::lock_alert(&mut *tx, &alert.fingerprint, alert.starts_at).await?;
        match (alert.status, known) {
            (AlertStatus::Firing, Some(_)) => out.unchanged += 1,
            (AlertStatus::Firing, None) => {
                let key = group_key(&alert.labels, &config.alertmanager_group_by);
                let incident_id = match store::open_group_incident(&mut *tx, &key).await? {
                    Some((id, number)) => {
                        if !out.declared.contains(&number) && !out.joined.contains(&number) {
                            out.joined.push(number);
                        }
                        id
                    }
                    None => {
                        let severity = severity_of(&alert.labels, &config.alertmanager_severities);
                        let mut components = vec![];
                        if let Some(name) = component_of(&alert.labels, &config.alertmanager_components)
                            && let Some(id) = crate::db::components::id_by_name(&mut *tx, &name).await?
                        {
                            components.push((id, impact_of(severity)));
                        }
                        let summary = format!(
                            "Declared by Prometheus Alertmanager (group {}). {}The alerts' labels, annotations and sources are on the timeline.",
                            clean(&key, 300),
                            alert
                                .annotations
                                .get("description")
                                .map(|d| format!("{} ", clean(d, 2000)))
                                .unwrap_or_default()
                        );
                        let declaration = Declaration {
                            title: title_of(alert),
                            summary,
                            severity: Some(severity),
                            private: Some(true),
                            components,
                            labels: vec![INCIDENT_LABEL.to_owned()],
                            ..Declaration::default()
                        };
                        let incident = incidents::declare(tx, actor, &config.timezone, &declaration).await?;
                        store::link_group(&mut *tx, &key, incident.id).await?;
                        out.declared.push(incident.number.get());
                        incident.id
                    }
                };
                store::insert_alert(
                    &mut *tx,
                    &NewAlert {
                        fingerprint: &alert.fingerprint,
                        starts_at: alert.starts_at,
                        incident_id,
                        group_key: &key,
                        labels: json!(alert.labels),
                        annotations: json!(alert.annotations),
                        generator_url: alert.generator_url.as_deref(),
                    },
                )
                .await?;
                append(tx, incident_id, &event_body(alert, "Firing"), event_data(alert, "firing")).await?;
            }
            (AlertStatus::Resolved, Some(stored)) if stored.firing => {
                let ends_at = alert.ends_at.unwrap_or_else(Timestamp::now);
                store::resolve_alert(&mut *tx, &alert.fingerprint, alert.starts_at, ends_at).await?;
                append(tx, stored.incident_id, &event_body(alert, "Resolved"), event_data(alert, "resolved"))
                    .await?;
                out.resolved += 1;
                if !touched.iter().any(|(id, _)| *id == stored.incident_id) {
                    touched.push((stored.incident_id, stored.incident_number));
                }
            }
            (AlertStatus::Resolved, _) => out.unchanged += 1,
        }
    }
    for (incident_id, number) in touched {
        if store::firing_count(&mut *tx, incident_id).await? > 0 {
            continue;
        }
        let number = IncidentNumber::new(number).map_err(|e| anyhow::anyhow!(e))?;
        let incident = incidents::load(tx, number).await?;
        match (config.alertmanager_on_resolved.as_str(), incident.status) {
            (_, IncidentStatus::Resolved) => {}
            ("resolve", _) => {
                incidents::resolve(tx, actor, number, None).await?;
            }
            (_, IncidentStatus::Monitoring) => {}
            _ => {
                incidents::change_status(tx, actor, number, IncidentStatus::Monitoring, None).await?;
            }
        }
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "alertmanager.delivery",
            target: format!("alertmanager_delivery:{delivery}"),
            before: None,
            after: Some(json!(out)),
        },
    )
    .await?;
    Ok(out)
}
