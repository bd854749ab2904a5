//! The runbooks an incident's signals suggest: its health-signal events (a database reported
//! disconnected, an unreachable service), the last key-metrics reading (database connections
//! above their share of the pool) and the cluster's pods (CrashLoopBackOff, OOMKilled).

use serde_json::Value;
use sqlx::PgPool;
use twisterlab_domain::health::MetricState;
use twisterlab_domain::incident::TimelineKind;
use twisterlab_domain::runbook::{Runbook, Signal, Suggestion, suggest};
use twisterlab_k8s::Problem;
use uuid::Uuid;

use crate::db::health_snapshots::{self, SnapshotKind};
use crate::db::incidents::{self as incident_store, TimelineFilter};
use crate::overview::key_metrics::MetricsSnapshot;
use crate::state::AppState;

/// What the portal observes about `incident_id`, as the domain's signals.
pub(crate) async fn signals(app: &AppState, incident_id: Uuid) -> Result<Vec<Signal>, sqlx::Error> {
    let mut signals = incident_signals(&app.pool, incident_id).await?;
    signals.extend(metric_signals(&app.pool).await?);
    let cluster = app.cluster().await;
    if let Ok(pods) = cluster.pods().await {
        for pod in pods {
            let Some(deployment) = pod.deployment.clone() else { continue };
            let signal = match twisterlab_k8s::pod_problem(&pod) {
                Some(Problem::CrashLoopBackOff { .. }) => Signal::PodCrashLoop { deployment },
                Some(Problem::OomKilled { .. }) => Signal::PodOomKilled { deployment },
                _ => continue,
            };
            if !signals.contains(&signal) {
                signals.push(signal);
            }
        }
    }
    Ok(signals)
}

async fn incident_signals(pool: &PgPool, incident_id: Uuid) -> Result<Vec<Signal>, sqlx::Error> {
    let filter = TimelineFilter { kind: Some(TimelineKind::HealthSignal), ..TimelineFilter::default() };
    let events = incident_store::timeline(pool, incident_id, &filter).await?;
    let mut signals = Vec::new();
    for event in events {
        let Some(service) = event.data.get("service").and_then(Value::as_str) else { continue };
        let text = event.data.to_string().to_lowercase();
        let signal = if text.contains("database") && text.contains("disconnected") {
            Signal::DatabaseDisconnected { service: service.to_owned() }
        } else if text.contains("redis") && text.contains("disconnected") {
            Signal::RedisDisconnected { service: service.to_owned() }
        } else if event.data.get("state").and_then(Value::as_str) == Some("down") {
            Signal::ServiceUnreachable { service: service.to_owned() }
        } else {
            continue;
        };
        if !signals.contains(&signal) {
            signals.push(signal);
        }
    }
    Ok(signals)
}

fn basis_points(share: f64) -> u32 {
    // A share of 0..=1 (or a little over) as basis points; negative or absurd values clamp.
    (share * 10_000.0).round().clamp(0.0, 1_000_000.0) as u32
}

async fn metric_signals(pool: &PgPool) -> Result<Vec<Signal>, sqlx::Error> {
    let Some((snapshot, _)) =
        health_snapshots::load::<MetricsSnapshot>(pool, SnapshotKind::KeyMetrics).await?
    else {
        return Ok(Vec::new());
    };
    let mut signals = Vec::new();
    for reading in snapshot.readings.iter().filter(|r| r.state == MetricState::Breach) {
        let Some(value) = reading.value else { continue };
        if reading.name == "db_connections" {
            signals.push(Signal::DbConnectionsHigh {
                observed_bp: basis_points(value),
                threshold_bp: basis_points(reading.threshold),
            });
        }
    }
    Ok(signals)
}

/// The suggested runbooks among `runbooks`, best first.
pub(crate) fn suggestions(signals: &[Signal], runbooks: &[Runbook]) -> Vec<Suggestion> {
    suggest(signals, runbooks)
}
