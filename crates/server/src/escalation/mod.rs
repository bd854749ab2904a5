//! Escalation: the paging chain (primary at declaration, secondary after 15 minutes without
//! acknowledgement, manager per the SLA table), response-SLA breaches, and the notifications
//! every incident event sends through the outbox to Slack, signed webhooks and PagerDuty.
//!
//! The `on_*` hooks run inside the incident use case's transaction (`incidents::service`), so a
//! change, its deadlines and its notifications commit or roll back together.

pub(crate) mod admin;
pub(crate) mod channels;
pub(crate) mod deadlines;
pub(crate) mod events;
pub(crate) mod outbox;
pub(crate) mod render;
pub(crate) mod service;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::incident::{IncidentStatus, TimelineKind};
use twisterlab_domain::notification::EventKind;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::auth::Routes;
use crate::clock::Instant as _;
use crate::db::audit::Actor;
use crate::db::deadlines::{self as schedule, Deadline, DeadlineKind};
use crate::db::incidents::{self as store, Incident, NewEvent, TimelineEvent};
use crate::db::oncall::{self as oncall, Person};
use deadlines::Action;
use events::{Facts, Paged};

/// Every escalation route: the admin pages for channels and the outbox.
pub(crate) fn routes() -> Routes {
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

/// What a page records: who was on call in `role`, and what was actually queued where. With
/// no channel, `notified` is false and the timeline says nobody was notified (never "notified
/// someone" when nothing was sent); the delivery outcome of each row is read from the outbox.
fn page_json(role: &str, who: Option<&Person>, sent: &[outbox::Queued]) -> serde_json::Value {
    json!({"to": role, "user_id": who.map(|p| p.id), "user": who.map(|p| p.name.clone()),
           "channels": sent.iter().map(|q| q.channel.clone()).collect::<Vec<_>>(),
           "notification_ids": sent.iter().map(|q| q.notification_id).collect::<Vec<_>>(),
           "notified": !sent.is_empty()})
}

/// Sends `facts` to the subscribed channels; returns what was queued where.
async fn notify(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &Facts,
) -> Result<Vec<outbox::Queued>, sqlx::Error> {
    outbox::enqueue(tx, incident, facts).await
}

/// After a declaration: pages the primary on call (timeline `notified`, outbox rows) and
/// schedules the secondary page (15 min), the manager escalation (`escalate_by`) and the
/// response-SLA check (`respond_by`).
pub(crate) async fn on_declared(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now();
    let on_call = oncall::on_call_now(tx).await?;
    let primary = on_call.primary();
    let mut facts = Facts::of(incident, EventKind::Declared, Some(&actor.label));
    facts.paged = Some(Paged::new("primary", primary));
    let sent = notify(tx, incident, &facts).await?;
    let data = page_json("primary", primary, &sent);
    system_event(tx, incident.id, TimelineKind::Notified, data).await?;

    let secondary_at = twisterlab_domain::sla::secondary_page_at(now);
    schedule::schedule(tx, incident.id, DeadlineKind::PageSecondary, secondary_at).await?;
    schedule::schedule(tx, incident.id, DeadlineKind::EscalateManager, incident.escalate_by.timestamp())
        .await?;
    schedule::schedule(tx, incident.id, DeadlineKind::ResponseSla, incident.respond_by.timestamp()).await?;
    schedule::notify(tx).await
}

/// After the first response: the secondary page and the response-SLA check are cancelled (the
/// manager escalation stays: it is about the incident staying unresolved).
pub(crate) async fn on_acknowledged(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    schedule::cancel(
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
pub(crate) async fn on_status_changed(
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
pub(crate) async fn on_severity_changed(
    tx: &mut PgConnection,
    incident: &Incident,
    from: Severity,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    schedule::reschedule(tx, incident.id, DeadlineKind::ResponseSla, incident.respond_by.timestamp()).await?;
    schedule::reschedule(tx, incident.id, DeadlineKind::EscalateManager, incident.escalate_by.timestamp())
        .await?;
    schedule::notify(tx).await?;
    let mut facts = Facts::of(incident, EventKind::SeverityChanged, Some(&actor.label));
    facts.from = Some(from.as_str().to_owned());
    facts.to = Some(incident.severity.as_str().to_owned());
    notify(tx, incident, &facts).await?;
    Ok(())
}

/// After a public update.
pub(crate) async fn on_public_update(
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
pub(crate) async fn on_resolved(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    schedule::cancel(tx, incident.id, &DeadlineKind::ALL, "resolved").await?;
    notify(tx, incident, &Facts::of(incident, EventKind::Resolved, Some(&actor.label))).await?;
    Ok(())
}

/// After reopening: the manager escalation comes back if it never fired (at `escalate_by`, so
/// at once when that is past).
pub(crate) async fn on_reopened(
    tx: &mut PgConnection,
    incident: &Incident,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    if !schedule::has_fired(tx, incident.id, DeadlineKind::EscalateManager).await? {
        schedule::schedule(tx, incident.id, DeadlineKind::EscalateManager, incident.escalate_by.timestamp())
            .await?;
        schedule::notify(tx).await?;
    }
    notify(tx, incident, &Facts::of(incident, EventKind::Reopened, Some(&actor.label))).await?;
    Ok(())
}

/// What a due deadline does, in the worker's transaction: checks the incident still needs it,
/// then writes the timeline event and the notifications.
pub(crate) async fn act_on_deadline(tx: &mut PgConnection, d: &Deadline) -> Result<Action, sqlx::Error> {
    let Some(number) = d.incident_number else {
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
            let mut data = page_json(role, who, &sent);
            data["due_at"] = json!(crate::clock::iso(d.due_at));
            system_event(tx, incident.id, TimelineKind::Escalated, data).await?;
        }
        DeadlineKind::ResponseSla => {
            if resolved || acknowledged {
                return Ok(Action::Cancelled("acknowledged"));
            }
            let mut facts = Facts::of(&incident, EventKind::SlaBreached, None);
            facts.respond_by = Some(crate::clock::iso(incident.respond_by));
            let sent: Vec<String> =
                notify(tx, &incident, &facts).await?.into_iter().map(|q| q.channel).collect();
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
