//! Escalation: the paging chain (primary at declaration, secondary after 15 minutes without
//! acknowledgement, manager per the SLA table), response-SLA breaches, and the notifications
//! every incident event sends through the outbox to Slack, signed webhooks and PagerDuty.
//!
//! The `on_*` hooks run inside the incident use case's transaction (`incidents::service`), so a
//! change, its deadlines and its notifications commit or roll back together.

pub mod admin;
pub mod channels;
pub mod deadlines;
pub mod events;
pub mod outbox;
pub mod render;
#[cfg(test)]
mod tests;

use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::incident::{IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::auth::Routes;
use crate::clock::{from_jiff, to_jiff};
use crate::db::audit::Actor;
use crate::db::incidents::{self as store, Incident, NewEvent, TimelineEvent};
use crate::db::oncall::{self as oncall, Person};
use deadlines::{Action, Deadline, DeadlineKind};
use events::{EventKind, Facts, Paged};

/// Every escalation route: the admin pages for channels and the outbox.
pub fn routes() -> Routes {
    admin::routes()
}

/// A system event on the incident's timeline.
async fn system_event(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: TimelineKind,
    data: serde_json::Value,
) -> Result<TimelineEvent, sqlx::Error> {
    let event = NewEvent {
        incident_id,
        kind,
        actor_user_id: None,
        actor_label: "system",
        body: None,
        data,
        public: false,
        public_status: None,
        corrects_id: None,
    };
    store::append(&mut *tx, &event).await
}

fn person_json(role: &str, who: Option<&Person>) -> serde_json::Value {
    json!({"to": role, "user_id": who.map(|p| p.id), "user": who.map(|p| p.name.clone()), "email": who.map(|p| p.email.clone())})
}

/// Sends `facts` to the subscribed channels; returns their names.
async fn notify(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &Facts,
) -> Result<Vec<String>, sqlx::Error> {
    outbox::enqueue(tx, incident, facts).await
}

/// After a declaration: pages the primary on call (timeline `notified`, outbox rows) and
/// schedules the secondary page (15 min), the manager escalation (`escalate_by`) and the
/// response-SLA check (`respond_by`).
pub async fn on_declared(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let on_call = oncall::on_call_now(tx).await?;
    let primary = on_call.primary();
    let mut facts = Facts::of(incident, EventKind::Declared, Some(&actor.label));
    facts.paged = Some(Paged::new("primary", primary));
    let sent = notify(tx, incident, &facts).await?;
    let mut data = person_json("primary", primary);
    data["channels"] = json!(sent);
    system_event(tx, incident.id, TimelineKind::Notified, data).await?;

    let secondary_at = from_jiff(twisterlab_domain::sla::secondary_page_at(to_jiff(now)));
    deadlines::schedule(tx, incident.id, DeadlineKind::PageSecondary, secondary_at).await?;
    deadlines::schedule(tx, incident.id, DeadlineKind::EscalateManager, from_jiff(incident.escalate_by))
        .await?;
    deadlines::schedule(tx, incident.id, DeadlineKind::ResponseSla, from_jiff(incident.respond_by)).await?;
    deadlines::notify(tx).await
}

/// After the first response: the secondary page and the response-SLA check are cancelled (the
/// manager escalation stays: it is about the incident staying unresolved).
pub async fn on_acknowledged(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    deadlines::cancel(
        tx,
        incident.id,
        &[DeadlineKind::PageSecondary, DeadlineKind::ResponseSla],
        "acknowledged",
    )
    .await?;
    notify(tx, incident, &Facts::of(incident, EventKind::Acknowledged, Some(&actor.label))).await?;
    Ok(())
}

/// After a move between open statuses.
pub async fn on_status_changed(
    tx: &mut PgConnection,
    incident: &Incident,
    from: IncidentStatus,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let mut facts = Facts::of(incident, EventKind::StatusChanged, Some(&actor.label));
    facts.from = Some(from.as_str().to_owned());
    facts.to = Some(incident.status.as_str().to_owned());
    notify(tx, incident, &facts).await?;
    Ok(())
}

/// After a severity change: pending deadlines move to the recomputed `respond_by` and
/// `escalate_by` (the secondary page keeps its time: it counts from the page).
pub async fn on_severity_changed(
    tx: &mut PgConnection,
    incident: &Incident,
    from: Severity,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    deadlines::reschedule(tx, incident.id, DeadlineKind::ResponseSla, from_jiff(incident.respond_by)).await?;
    deadlines::reschedule(tx, incident.id, DeadlineKind::EscalateManager, from_jiff(incident.escalate_by))
        .await?;
    deadlines::notify(tx).await?;
    let mut facts = Facts::of(incident, EventKind::SeverityChanged, Some(&actor.label));
    facts.from = Some(from.as_str().to_owned());
    facts.to = Some(incident.severity.as_str().to_owned());
    notify(tx, incident, &facts).await?;
    Ok(())
}

/// After a public update.
pub async fn on_public_update(
    tx: &mut PgConnection,
    incident: &Incident,
    update: &TimelineEvent,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let mut facts = Facts::of(incident, EventKind::PublicUpdate, Some(&actor.label));
    facts.body = update.body.clone();
    facts.public_status = update.public_status.clone();
    notify(tx, incident, &facts).await?;
    Ok(())
}

/// After resolving: everything pending is cancelled.
pub async fn on_resolved(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    deadlines::cancel(tx, incident.id, &DeadlineKind::ALL, "resolved").await?;
    notify(tx, incident, &Facts::of(incident, EventKind::Resolved, Some(&actor.label))).await?;
    Ok(())
}

/// After reopening: the manager escalation comes back if it never fired (at `escalate_by`, so
/// at once when that is past).
pub async fn on_reopened(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    if !deadlines::has_fired(tx, incident.id, DeadlineKind::EscalateManager).await? {
        deadlines::schedule(tx, incident.id, DeadlineKind::EscalateManager, from_jiff(incident.escalate_by))
            .await?;
        deadlines::notify(tx).await?;
    }
    notify(tx, incident, &Facts::of(incident, EventKind::Reopened, Some(&actor.label))).await?;
    Ok(())
}

/// What a due deadline does, in the worker's transaction: checks the incident still needs it,
/// then writes the timeline event and the notifications.
pub async fn act_on_deadline(tx: &mut PgConnection, d: &Deadline) -> Result<Action, sqlx::Error> {
    let number: Option<i64> = sqlx::query_scalar("select number from incidents where id = $1")
        .bind(d.incident_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(number) = number.and_then(|n| twisterlab_domain::incident::IncidentNumber::new(n).ok()) else {
        return Ok(Action::Cancelled("incident gone"));
    };
    let Some(incident) = store::find(&mut *tx, number).await? else {
        return Ok(Action::Cancelled("incident gone"));
    };
    let resolved = incident.status == IncidentStatus::Resolved;
    let acknowledged = incident.acknowledged_at.is_some();
    match d.kind {
        DeadlineKind::PageSecondary | DeadlineKind::EscalateManager => {
            if resolved {
                return Ok(Action::Cancelled("resolved"));
            }
            if d.kind == DeadlineKind::PageSecondary && acknowledged {
                return Ok(Action::Cancelled("acknowledged"));
            }
            let on_call = oncall::on_call_now(tx).await?;
            let (role, who) = match d.kind {
                DeadlineKind::PageSecondary => ("secondary", on_call.secondary()),
                _ => ("manager", on_call.manager()),
            };
            let mut facts = Facts::of(&incident, EventKind::Escalated, None);
            facts.paged = Some(Paged::new(role, who));
            let sent = notify(tx, &incident, &facts).await?;
            let mut data = person_json(role, who);
            data["channels"] = json!(sent);
            data["due_at"] = json!(crate::clock::iso(d.due_at));
            system_event(tx, incident.id, TimelineKind::Escalated, data).await?;
        }
        DeadlineKind::ResponseSla => {
            if resolved || acknowledged {
                return Ok(Action::Cancelled("acknowledged"));
            }
            let mut facts = Facts::of(&incident, EventKind::SlaBreached, None);
            facts.respond_by = Some(crate::clock::iso(incident.respond_by));
            let sent = notify(tx, &incident, &facts).await?;
            system_event(
                tx,
                incident.id,
                TimelineKind::SlaBreached,
                json!({"target": "response", "respond_by": crate::clock::iso(incident.respond_by), "severity": incident.severity.as_str(), "channels": sent}),
            )
            .await?;
        }
    }
    Ok(Action::Fired)
}
