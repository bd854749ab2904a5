//! The recorded history of each component's public status, which the 90-day uptime bars are
//! computed from. It is written where a status changes, in the transaction of the change:
//! incident impacts, resolve and reopen (`incidents::service`), an admin's pin and a new
//! component (`status_page::service`), a maintenance window's start and end
//! (`maintenance::service`), a health service that starts or stops counting against its
//! component (`overview::scheduler`, `overview::service`). The status page only reads it.
//!
//! [`record`] recomputes the status with the roll-up rules and appends a row when it differs
//! from the last one. Recording is serialised by a transaction-scoped lock, so concurrent
//! changes to one component record each resulting status once and in order.

use sqlx::{PgConnection, PgPool};
use twisterlab_domain::incident::{ComponentStatus, Impact};
use twisterlab_domain::status::{Signals, component_status};
use uuid::Uuid;

use crate::db::status as store;

/// Recomputes the public status of `component_ids` and records each one that differs from its
/// last recorded status. Returns the components whose status changed. Call it after the change,
/// in the same transaction.
pub(crate) async fn record(
    tx: &mut PgConnection,
    component_ids: &[Uuid],
) -> Result<Vec<(Uuid, ComponentStatus)>, sqlx::Error> {
    if component_ids.is_empty() {
        return Ok(vec![]);
    }
    record_some(tx, Some(component_ids)).await
}

/// [`record`] for every component an incident affects (after a resolve or reopen, which change
/// whether its impacts count).
pub(crate) async fn record_incident(
    tx: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Vec<(Uuid, ComponentStatus)>, sqlx::Error> {
    let ids = store::components_of_incident(&mut *tx, incident_id).await?;
    record(tx, &ids).await
}

/// [`record`] for every component, in its own transaction: at start-up, so a deploy that changed
/// the rules (or a change made by hand in SQL) is recorded from then on.
pub(crate) async fn reconcile(pool: &PgPool) -> Result<Vec<(Uuid, ComponentStatus)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let changed = record_some(&mut tx, None).await?;
    if !changed.is_empty() {
        store::notify(&mut *tx).await?;
    }
    tx.commit().await?;
    if !changed.is_empty() {
        tracing::info!(
            components = changed.len(),
            "recorded component statuses that changed while the portal was stopped"
        );
    }
    Ok(changed)
}

async fn record_some(
    tx: &mut PgConnection,
    ids: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, ComponentStatus)>, sqlx::Error> {
    // Taken before reading, so the reads below see every change recorded before this one.
    store::lock_history(&mut *tx).await?;
    let recorded = store::recorded(&mut *tx, ids).await?;
    let mut impacts = store::open_impacts(&mut *tx, ids).await?;
    let maintenance = crate::db::maintenance::components_in_maintenance(&mut *tx, ids).await?;
    let down = crate::db::health::components_down(&mut *tx, ids).await?;
    let mut changed = vec![];
    for (id, known) in recorded {
        let status = component_status(&signals(
            impacts.remove(&id).unwrap_or_default(),
            known.pinned,
            maintenance.contains(&id),
            down.get(&id).copied(),
        ));
        if known.last != Some(status) {
            changed.push((id, status));
        }
    }
    store::append_history(&mut *tx, &changed).await?;
    Ok(changed)
}

/// What a component's status is computed from, the same for the page and for the history:
/// open public incidents' impacts, an admin's pin, and whether an in-progress maintenance window
/// covers it (recorded where windows start and end, `maintenance::service`), and the worst
/// impact of the health services that count against it (recorded where a service starts or
/// stops counting, `overview::scheduler`, and where a service's definition changes,
/// `overview::service`).
pub(crate) fn signals(
    incident_impacts: Vec<Impact>,
    pinned: Option<ComponentStatus>,
    in_maintenance: bool,
    probe: Option<ComponentStatus>,
) -> Signals {
    Signals { incident_impacts, manual: pinned, in_maintenance, probe }
}
