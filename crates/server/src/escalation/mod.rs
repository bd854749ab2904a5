//! Escalation: the paging chain (primary at declaration, secondary after 15 minutes without
//! acknowledgement, manager per the SLA table), response-SLA breaches, and the notifications
//! every incident event sends through the outbox to Slack, signed webhooks and PagerDuty.
//!
//! The `on_*` hooks run inside the incident use case's transaction (`incidents::service`), so a
//! change, its deadlines and its notifications commit or roll back together.

pub(crate) mod admin;
pub(crate) mod channels;
pub(crate) mod contact_pages;
pub(crate) mod contacts;
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
use twisterlab_domain::contact::ContactKind;
use twisterlab_domain::incident::{IncidentStatus, TimelineKind};
use twisterlab_domain::notification::{ChannelKind, EventKind};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::auth::{Access, Routes};
use crate::clock::Instant as _;
use crate::db::audit::Actor;
use crate::db::contact_methods;
use crate::db::deadlines::{self as schedule, Deadline, DeadlineKind};
use crate::db::incidents::{self as store, Incident, NewEvent, TimelineEvent};
use crate::db::notifications::{self, To};
use crate::db::oncall::{self as oncall, Person};
use deadlines::Action;
use events::{Facts, Paged};

/// Every escalation route: the admin pages for channels and the outbox, and contact methods —
/// each person's own from the responder role up (only they can be on call and paged; a viewer
/// has nothing to be reached for, and a contact's "Send a test" makes the portal send a request
/// to the address typed) and anyone's for admins.
pub(crate) fn routes() -> Routes {
    use contact_pages as c;
    let own = Access::Role(Role::Responder);
    let admin = Access::Role(Role::Admin);
    admin::routes()
        .get("/account/contacts", own, c::my_list)
        .post("/account/contacts", own, c::my_create)
        .get("/account/contacts/{id}", own, c::my_show)
        .post("/account/contacts/{id}", own, c::my_update)
        .post("/account/contacts/{id}/enabled", own, c::my_enable)
        .get("/account/contacts/{id}/delete", own, c::my_confirm_delete)
        .post("/account/contacts/{id}/delete", own, c::my_delete)
        .post("/account/contacts/{id}/test", own, c::my_test)
        .get("/admin/users/{id}/contacts", admin, c::user_list)
        .post("/admin/users/{id}/contacts", admin, c::user_create)
        .get("/admin/users/{id}/contacts/{contact}", admin, c::user_show)
        .post("/admin/users/{id}/contacts/{contact}", admin, c::user_update)
        .post("/admin/users/{id}/contacts/{contact}/enabled", admin, c::user_enable)
        .get("/admin/users/{id}/contacts/{contact}/delete", admin, c::user_confirm_delete)
        .post("/admin/users/{id}/contacts/{contact}/delete", admin, c::user_delete)
        .post("/admin/users/{id}/contacts/{contact}/test", admin, c::user_test)
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

/// One of the paged person's contact methods, as the page records it: its name ("Maya's
/// PagerDuty"), and either its outbox row or a note ("mentioned in Slack #incidents", or why
/// nothing could be sent).
#[derive(Clone, Debug)]
struct Reached {
    name: String,
    kind: ContactKind,
    notification_id: Option<Uuid>,
    /// Whether something is on its way (a row to deliver, or a mention in a channel message).
    queued: bool,
    note: Option<String>,
}

/// What a page records: who was on call in `role`, and what was actually queued where — the
/// channels, and each of the person's contact methods. `notified` is true only if something
/// was queued (a channel row, a contact row to deliver, a mention in a Slack channel message);
/// otherwise the timeline says nobody was notified (never "notified someone" when nothing was
/// sent). The delivery outcome of each row is read from the outbox.
fn page_json(
    role: &str,
    who: Option<&Person>,
    sent: &[outbox::Queued],
    reached: &[Reached],
) -> serde_json::Value {
    let mut ids: Vec<Uuid> = sent.iter().map(|q| q.notification_id).collect();
    ids.extend(reached.iter().filter_map(|r| r.notification_id));
    json!({"to": role, "user_id": who.map(|p| p.id), "user": who.map(|p| p.name.clone()),
           "channels": sent.iter().map(|q| q.channel.clone()).collect::<Vec<_>>(),
           "contacts": reached.iter().map(|r| json!({"name": r.name, "kind": r.kind.as_str(),
                                                     "notification_id": r.notification_id, "note": r.note}))
                              .collect::<Vec<_>>(),
           "notification_ids": ids,
           "notified": !sent.is_empty() || reached.iter().any(|r| r.queued)})
}

/// Pages `who` about `facts`: the subscribed channels (their Slack messages mention the
/// person's Slack member IDs) and one outbox row per enabled contact method of the person, in
/// the caller's transaction. Returns what was queued where.
async fn page(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &mut Facts,
    who: Option<&Person>,
) -> Result<(Vec<outbox::Queued>, Vec<Reached>), sqlx::Error> {
    let methods = match who {
        Some(p) => {
            contact_methods::of_user(&mut *tx, p.id).await?.into_iter().filter(|m| m.enabled).collect()
        }
        None => vec![],
    };
    if let Some(paged) = facts.paged.as_mut() {
        paged.slack =
            methods.iter().filter(|m| m.kind == ContactKind::Slack).map(|m| m.target.clone()).collect();
    }
    let direct = methods.iter().any(|m| m.kind == ContactKind::Slack)
        && contact_methods::slack_direct_messages(&mut *tx).await?;
    let sent = notify(tx, incident, facts).await?;
    let slack_channels: Vec<&str> =
        sent.iter().filter(|q| q.kind == ChannelKind::Slack).map(|q| q.channel.as_str()).collect();
    let Some(kind) = facts.kind() else { return Ok((sent, vec![])) };
    let payload = serde_json::to_value(&*facts).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut reached = Vec::with_capacity(methods.len());
    for m in methods {
        let (notification_id, queued, note) = match m.kind {
            ContactKind::Slack if direct => {
                let ids =
                    notifications::enqueue(tx, &[To::Contact(m.id)], incident.id, kind.as_str(), &payload)
                        .await?;
                (ids.first().copied(), true, None)
            }
            ContactKind::Webhook | ContactKind::Pagerduty => {
                let ids =
                    notifications::enqueue(tx, &[To::Contact(m.id)], incident.id, kind.as_str(), &payload)
                        .await?;
                (ids.first().copied(), true, None)
            }
            ContactKind::Email => {
                let id = notifications::enqueue_dead(
                    tx,
                    m.id,
                    incident.id,
                    kind.as_str(),
                    &payload,
                    outbox::EMAIL_NOT_SET_UP,
                )
                .await?;
                (Some(id), false, Some(outbox::EMAIL_NOT_SET_UP.to_owned()))
            }
            ContactKind::Slack if slack_channels.is_empty() => {
                (None, false, Some("not mentioned: no Slack channel carries this page".to_owned()))
            }
            ContactKind::Slack => (None, true, Some(format!("mentioned in {}", slack_channels.join(", ")))),
        };
        reached.push(Reached { name: m.name(), kind: m.kind, notification_id, queued, note });
    }
    Ok((sent, reached))
}

/// Sends `facts` to the subscribed channels; returns what was queued where.
async fn notify(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &Facts,
) -> Result<Vec<outbox::Queued>, sqlx::Error> {
    outbox::enqueue(tx, incident, facts).await
}

/// Acknowledges or resolves the alerts a page raised on people's own PagerDuty services (their
/// PagerDuty would otherwise keep paging them).
async fn follow_up_pagerduty(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &Facts,
) -> Result<(), sqlx::Error> {
    let Some(kind) = facts.kind() else { return Ok(()) };
    let methods = notifications::paged_pagerduty_contacts(&mut *tx, incident.id).await?;
    if methods.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_value(facts).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let targets: Vec<To> = methods.into_iter().map(To::Contact).collect();
    notifications::enqueue(tx, &targets, incident.id, kind.as_str(), &payload).await?;
    Ok(())
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
    let (sent, reached) = page(tx, incident, &mut facts, primary).await?;
    let data = page_json("primary", primary, &sent, &reached);
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
    let facts = Facts::of(incident, EventKind::Acknowledged, Some(&actor.label));
    notify(tx, incident, &facts).await?;
    follow_up_pagerduty(tx, incident, &facts).await
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
    let facts = Facts::of(incident, EventKind::Resolved, Some(&actor.label));
    notify(tx, incident, &facts).await?;
    follow_up_pagerduty(tx, incident, &facts).await
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
            let (sent, reached) = page(tx, &incident, &mut facts, who).await?;
            let mut data = page_json(role, who, &sent, &reached);
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
