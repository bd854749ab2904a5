//! Health signals during maintenance: while a window is in progress, a probed service that goes
//! down on one of its components opens no incident and pages nobody; the signal is recorded on
//! the window instead ([`hold_back`]), so nothing is silently lost. When the window ends,
//! [`release`] checks each held-back service again: one still down opens its incident then.
//!
//! Locks: the probe holds the service's state row lock when it calls [`hold_back`], and the
//! window's end holds the window (`for no key update`) and then takes each service's state
//! lock in [`release`]. Recording a held-back signal only needs a key-share lock on the window,
//! which `no key update` does not block, so the two never wait on each other in a circle; and
//! whichever commits second sees the other's change.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::health::ServiceState;
use uuid::Uuid;

use crate::db::health::{self as health_store, Service};
use crate::db::maintenance::{self as store, Window};
use crate::db::probe_results::ProbeResult;
use crate::incidents::service::IncidentError;
use crate::overview::signals::{self, ACTOR_LABEL};

/// Records `service` going down as held back when an in-progress window covers its component;
/// returns that window's id, or `None` when no window covers it (the signal goes on as usual).
/// `evidence` holds the latest results, newest first.
pub(crate) async fn hold_back(
    tx: &mut PgConnection,
    service: &Service,
    evidence: &[ProbeResult],
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(component_id) = service.component_id else {
        return Ok(None);
    };
    let Some((window_id, title)) = store::active_window_for(&mut *tx, component_id).await? else {
        return Ok(None);
    };
    let reason =
        evidence.first().and_then(|r| r.reason.clone()).unwrap_or_else(|| "health check failing".into());
    store::insert_suppressed(&mut *tx, window_id, service.id, &service.name, component_id, &reason).await?;
    store::append_event(
        &mut *tx,
        window_id,
        "signal_suppressed",
        None,
        ACTOR_LABEL,
        &format!("{} went down ({reason}); no incident while the window is in progress", service.name),
        json!({"service": service.name, "reason": reason}),
    )
    .await?;
    tracing::info!(
        service.name = %service.name,
        maintenance.title = %title,
        "service down during a maintenance window: signal held back"
    );
    Ok(Some(window_id))
}

/// Checks every signal `window` held back, now that it has ended (call it in the transaction
/// that ends it): a service still down opens its incident (when it is set to and none is open),
/// unless another window still in progress covers the component, which then holds it.
pub(crate) async fn release(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    window: &Window,
) -> Result<(), IncidentError> {
    let held = store::suppressed(&mut *tx, window.id).await?;
    let mut services: Vec<Uuid> =
        held.iter().filter(|s| s.checked_at.is_none()).filter_map(|s| s.service_id).collect();
    services.sort_unstable();
    services.dedup();
    let orphaned: Vec<Uuid> =
        held.iter().filter(|s| s.checked_at.is_none() && s.service_id.is_none()).map(|s| s.id).collect();
    if !orphaned.is_empty() {
        store::mark_checked(&mut *tx, &orphaned, "no_incident", None).await?;
    }
    for service_id in services {
        let ids: Vec<Uuid> = held
            .iter()
            .filter(|s| s.checked_at.is_none() && s.service_id == Some(service_id))
            .map(|s| s.id)
            .collect();
        let locked = health_store::lock_state(&mut *tx, service_id).await?;
        let service = health_store::find(&mut *tx, service_id).await?;
        let (outcome, incident, words) = match (locked, service) {
            (Some(locked), Some(service)) if locked.state == ServiceState::Down => {
                check_down(tx, zone, window, &service).await?
            }
            (_, Some(service)) => ("recovered", None, format!("{} is up again: no incident", service.name)),
            _ => ("no_incident", None, "the service was deleted: no incident".to_owned()),
        };
        store::mark_checked(&mut *tx, &ids, outcome, incident).await?;
        store::append_event(
            &mut *tx,
            window.id,
            "signal_checked",
            None,
            ACTOR_LABEL,
            &words,
            json!({"outcome": outcome}),
        )
        .await?;
    }
    Ok(())
}

/// What to do about a service still down at the window's end.
async fn check_down(
    tx: &mut PgConnection,
    zone: &jiff::tz::TimeZone,
    window: &Window,
    service: &Service,
) -> Result<(&'static str, Option<Uuid>, String), IncidentError> {
    if let Some(component_id) = service.component_id
        && let Some((other, title)) = store::active_window_for(&mut *tx, component_id).await?
    {
        store::insert_suppressed(
            &mut *tx,
            other,
            service.id,
            &service.name,
            component_id,
            service.last_reason.as_deref().unwrap_or("health check failing"),
        )
        .await?;
        return Ok((
            "held_over",
            None,
            format!(
                "{} is still down; the window \u{201c}{title}\u{201d} still covers it and holds the signal",
                service.name
            ),
        ));
    }
    if let Some((incident_id, number)) = health_store::open_signal_incident(&mut *tx, service.id).await? {
        return Ok((
            "open_incident",
            Some(incident_id),
            format!("{} is still down; INC-{number} is already open for it", service.name),
        ));
    }
    match signals::declare_after_maintenance(tx, zone, service, &window.title).await? {
        Some(incident) => Ok((
            "incident",
            Some(incident.id),
            format!("{} is still down: INC-{} declared", service.name, incident.number.get()),
        )),
        None => Ok((
            "no_incident",
            None,
            format!("{} is still down; it opens no incidents (set on the service)", service.name),
        )),
    }
}
