//! Incident use cases. Each one runs on the caller's transaction: it locks the incident, checks
//! the rule, applies the change, appends the timeline event and writes the audit row; the
//! caller commits. Pages and the JSON API both call these, so they behave the same.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::incident::{
    self as rules, Impact, IncidentNumber, IncidentStatus, TimelineKind, Title, TransitionError,
};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::clock::to_jiff;
use crate::db::audit::{self, Actor, Entry};
use crate::db::incidents::{self as store, Changes, Incident, NewEvent, NewIncident, TimelineEvent};
/// Status page changes are announced the same way from every area that makes them.
/// Tells every portal process that something the status page shows has changed (delivered at
/// commit, so a rolled-back change never triggers a rebuild).
pub(crate) use crate::db::status::notify as notify_status_change;
use crate::db::{components, sla, users};
use crate::validation::FieldError;
use crate::web::error::AppError;

/// Longest summary, note or public update accepted, in characters.
pub(crate) const MAX_BODY: usize = 20_000;
/// Most labels on one incident, and the longest label.
pub(crate) const MAX_LABELS: usize = 20;
pub(crate) const MAX_LABEL: usize = 40;
/// How far in the past an incident may be declared to have started.
pub(crate) const MAX_BACKDATE_DAYS: i64 = 90;

/// Why an incident action was refused.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("INC-{0} does not exist")]
    NotFound(i64),
    #[error("INC-{0} has no such timeline event")]
    EventNotFound(i64),
    #[error("role {have} cannot do this; it needs {need}")]
    Forbidden { have: Role, need: Role },
    #[error("INC-{number} changed since you loaded it (now version {current}): {changes}")]
    Stale { number: i64, current: i32, changes: String },
    #[error("INC-{number}: {source}")]
    Transition { number: i64, source: TransitionError },
    #[error("{0}")]
    Refused(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<IncidentError> for AppError {
    fn from(e: IncidentError) -> Self {
        match e {
            IncidentError::NotFound(n) => AppError::NotFoundThing { what: format!("Incident INC-{n}") },
            IncidentError::EventNotFound(n) => {
                AppError::NotFoundThing { what: format!("This event of INC-{n}") }
            }
            IncidentError::Forbidden { have, need } => AppError::Forbidden { have, need },
            IncidentError::Stale { .. } | IncidentError::Transition { .. } | IncidentError::Refused(_) => {
                AppError::Conflict(e.to_string())
            }
            IncidentError::Invalid(errors) => AppError::Validation(errors),
            IncidentError::Database(e) => e.into(),
            IncidentError::Other(e) => AppError::Internal(e),
        }
    }
}

/// What a declaration needs.
#[derive(Clone, Debug, Default)]
pub struct Declaration {
    pub title: String,
    pub summary: String,
    pub severity: Option<Severity>,
    /// When it began; defaults to now, may be in the past.
    pub started_at: Option<OffsetDateTime>,
    /// When it was noticed; defaults to now.
    pub detected_at: Option<OffsetDateTime>,
    /// `None`: private when it is a security incident, public otherwise.
    pub private: Option<bool>,
    pub security: bool,
    pub components: Vec<(Uuid, Impact)>,
    pub labels: Vec<String>,
    /// Defaults to the declaring user.
    pub commander_id: Option<Uuid>,
}

fn check_body(field: &str, body: &str, required: bool, errors: &mut Vec<FieldError>) {
    if required && body.trim().is_empty() {
        errors.push(FieldError::new(field, "Write something."));
    } else if body.chars().count() > MAX_BODY {
        errors.push(FieldError::new(
            field,
            format!("Use at most {MAX_BODY} characters (this has {}).", body.chars().count()),
        ));
    }
}

fn actor_event<'a>(incident_id: Uuid, kind: TimelineKind, actor: &'a Actor) -> NewEvent<'a> {
    NewEvent {
        incident_id,
        kind,
        actor_user_id: actor.user_id,
        actor_label: &actor.label,
        body: None,
        data: json!({}),
        public: false,
        public_status: None,
        corrects_id: None,
    }
}

async fn audit_incident(
    tx: &mut PgConnection,
    actor: &Actor,
    action: &str,
    number: i64,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *tx,
        actor,
        Entry { action, target: format!("incident:INC-{number}"), before: Some(before), after: Some(after) },
    )
    .await
}

/// Declares an incident: status `triggered`, SLA deadlines from the stored policy.
pub async fn declare(
    tx: &mut PgConnection,
    actor: &Actor,
    zone: &jiff::tz::TimeZone,
    d: &Declaration,
) -> Result<Incident, IncidentError> {
    let now = Timestamp::now();
    let mut errors = vec![];
    let title = Title::parse(&d.title).map_err(|e| errors.push(FieldError::new("title", e.to_string()))).ok();
    check_body("summary", &d.summary, false, &mut errors);
    let severity = d.severity;
    if severity.is_none() {
        errors.push(FieldError::new("severity", "Choose a severity: P0, P1, P2 or P3."));
    }
    let started_at = d.started_at.map(to_jiff).unwrap_or(now);
    let detected_at = d.detected_at.map(to_jiff).unwrap_or(now);
    if started_at > now + SignedDuration::from_mins(1) {
        errors.push(FieldError::new("started_at", "An incident cannot start in the future."));
    } else if started_at < now - SignedDuration::from_hours(24 * MAX_BACKDATE_DAYS) {
        errors
            .push(FieldError::new("started_at", format!("Start within the last {MAX_BACKDATE_DAYS} days.")));
    }
    if detected_at < started_at {
        errors.push(FieldError::new("detected_at", "Detection cannot come before the start."));
    }
    if d.labels.len() > MAX_LABELS
        || d.labels.iter().any(|l| l.chars().count() > MAX_LABEL || l.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "labels",
            format!("Use at most {MAX_LABELS} labels of at most {MAX_LABEL} characters."),
        ));
    }
    let mut affected = Vec::with_capacity(d.components.len());
    for (component_id, impact) in &d.components {
        match components::find(&mut *tx, *component_id).await? {
            Some(component) => affected.push((component, *impact)),
            None => errors
                .push(FieldError::new("components", format!("Component {component_id} does not exist."))),
        }
    }
    let commander_id = d.commander_id.or(actor.user_id);
    if let Some(id) = d.commander_id
        && users::find(&mut *tx, id).await?.filter(|u| u.active).is_none()
    {
        errors.push(FieldError::new("commander", "Choose an active user as commander."));
    }
    let (Some(title), Some(severity), true) = (title, severity, errors.is_empty()) else {
        return Err(IncidentError::Invalid(errors));
    };

    let policy = sla::policy(&mut *tx).await?;
    let hours = sla::business_hours(&mut *tx, zone).await?;
    let deadlines = policy.deadlines(severity, started_at, &hours);
    let private = d.private.unwrap_or(d.security);
    let mut labels: Vec<String> =
        d.labels.iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
    labels.sort();
    labels.dedup();
    let new = NewIncident {
        title: title.as_str(),
        summary: d.summary.trim(),
        severity,
        private,
        security: d.security,
        started_at,
        detected_at,
        commander_id,
        labels: &labels,
        respond_by: deadlines.respond_by,
        escalate_by: deadlines.escalate_by,
        created_by: actor.user_id,
    };
    let (id, number) = store::insert(&mut *tx, &new).await?;
    let mut event = actor_event(id, TimelineKind::Declared, actor);
    event.public = !private;
    event.data = json!({"title": title.as_str(), "severity": severity.as_str(), "private": private, "security": d.security,
                        "started_at": crate::clock::iso(started_at)});
    store::append(&mut *tx, &event).await?;
    for (component, impact) in &affected {
        store::set_component_impact(&mut *tx, id, component.id, Some(*impact)).await?;
        let mut e = actor_event(id, TimelineKind::ComponentImpactChanged, actor);
        e.public = !private;
        e.data = json!({"component_id": component.id, "component": component.name, "from": null, "to": impact.as_str()});
        store::append(&mut *tx, &e).await?;
    }
    let affected_ids: Vec<Uuid> = affected.iter().map(|(c, _)| c.id).collect();
    crate::status_page::history::record(tx, &affected_ids).await?;
    if !private {
        notify_status_change(&mut *tx).await?;
    }
    audit_incident(
        tx,
        actor,
        "incident.declare",
        number,
        json!(null),
        json!({"title": title.as_str(), "severity": severity.as_str(), "private": private}),
    )
    .await?;
    let incident = load(tx, IncidentNumber::new(number).map_err(|e| anyhow::anyhow!(e))?).await?;
    crate::escalation::on_declared(&mut *tx, &incident, actor).await?;
    Ok(incident)
}

/// The incident, or `NotFound`.
pub(crate) async fn load(db: &mut PgConnection, number: IncidentNumber) -> Result<Incident, IncidentError> {
    store::find(&mut *db, number).await?.ok_or(IncidentError::NotFound(number.get()))
}

/// What one caller may read: built once per request from the caller and applied by every read
/// path, so the rule (`rules::may_read`) is decided in one place. A hidden incident is "not
/// found", never "forbidden", so its existence is not told either.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadScope {
    role: Role,
}

impl ReadScope {
    pub(crate) fn of(user: &crate::identity::CurrentUser) -> Self {
        Self { role: user.role }
    }

    pub(crate) fn for_role(role: Role) -> Self {
        Self { role }
    }

    /// Whether the caller may read `incident`.
    pub(crate) fn may_read(&self, incident: &Incident) -> bool {
        rules::may_read(self.role, incident.private)
    }

    /// Whether the caller may read an incident that is private or not.
    pub(crate) fn may_read_flag(&self, private: bool) -> bool {
        rules::may_read(self.role, private)
    }

    /// Narrows a list or search filter to what the caller may read.
    pub(crate) fn restrict(&self, filter: &mut store::ListFilter) {
        if !rules::may_read(self.role, true) {
            filter.public_only = true;
        }
    }
}

/// [`load`] for a reader: an incident `scope` may not read is [`IncidentError::NotFound`].
pub(crate) async fn load_readable(
    db: &mut PgConnection,
    number: IncidentNumber,
    scope: ReadScope,
) -> Result<Incident, IncidentError> {
    let incident = load(db, number).await?;
    if scope.may_read(&incident) { Ok(incident) } else { Err(IncidentError::NotFound(number.get())) }
}

/// Locks the incident and checks the version the caller saw, if they sent one; a mismatch is
/// `Stale`, naming the changes the caller missed.
pub(crate) async fn lock_current(
    tx: &mut PgConnection,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    store::lock(&mut *tx, number).await?.ok_or(IncidentError::NotFound(number.get()))?;
    let incident = load(tx, number).await?;
    if let Some(expected) = expected
        && expected != incident.version
    {
        return Err(IncidentError::Stale {
            number: number.get(),
            current: incident.version,
            changes: describe_recent(tx, &incident, expected).await?,
        });
    }
    Ok(incident)
}

/// "Bob acknowledged; Carol changed severity P2 → P1": what a stale editor missed.
async fn describe_recent(
    tx: &mut PgConnection,
    incident: &Incident,
    seen_version: i32,
) -> Result<String, IncidentError> {
    let missed = store::events_after_version(&mut *tx, incident.id, seen_version).await?;
    let mut lines: Vec<String> = missed.iter().map(describe_event).collect();
    if lines.len() > 8 {
        let more = lines.len() - 8;
        lines.truncate(8);
        lines.push(format!("and {more} more"));
    }
    Ok(if lines.is_empty() { "reload the page to see the current state".into() } else { lines.join("; ") })
}

/// A one-line description of an event, for conflicts and exports.
pub(crate) fn describe_event(e: &TimelineEvent) -> String {
    let s = |k: &str| e.data.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
    match e.kind {
        TimelineKind::Declared => format!("{} declared the incident ({})", e.actor_label, s("severity")),
        TimelineKind::Acknowledged => format!("{} acknowledged", e.actor_label),
        TimelineKind::StatusChanged => {
            format!("{} changed status {} → {}", e.actor_label, s("from"), s("to"))
        }
        TimelineKind::SeverityChanged => {
            format!("{} changed severity {} → {}", e.actor_label, s("from"), s("to"))
        }
        TimelineKind::RoleAssigned => {
            format!("{} made {} {}", e.actor_label, s("user"), s("role").replace('_', " "))
        }
        TimelineKind::Note => format!("{} added a note", e.actor_label),
        TimelineKind::PublicUpdate => format!("{} posted a public update", e.actor_label),
        TimelineKind::ComponentImpactChanged => {
            format!("{} set {} to {}", e.actor_label, s("component"), s("to").replace('_', " "))
        }
        TimelineKind::LinkAdded => format!("{} linked {}", e.actor_label, s("url")),
        TimelineKind::Resolved => format!("{} resolved the incident", e.actor_label),
        TimelineKind::Reopened => format!("{} reopened the incident", e.actor_label),
        TimelineKind::DetailsChanged => format!("{} corrected the {}", e.actor_label, s("field")),
        TimelineKind::Withdrawn => format!("{} withdrew the incident from the status page", e.actor_label),
        TimelineKind::PostmortemStateChanged => format!(
            "{}: {}",
            e.actor_label,
            crate::incidents::view::postmortem_words(e.data.get("to").and_then(|v| v.as_str()))
        ),
        other => format!("{} ({})", other.as_str().replace('_', " "), e.actor_label),
    }
}

fn transition_error(number: IncidentNumber, source: TransitionError) -> IncidentError {
    IncidentError::Transition { number: number.get(), source }
}

/// Acknowledges: the first response, which stops the paging chain.
pub(crate) async fn acknowledge(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    if incident.status == IncidentStatus::Resolved {
        return Err(IncidentError::Refused(format!(
            "INC-{} is resolved: reopen it before acknowledging.",
            number.get()
        )));
    }
    if incident.acknowledged_at.is_some() {
        return Err(IncidentError::Refused(format!(
            "INC-{} was already acknowledged; nothing changed.",
            number.get()
        )));
    }
    rules::transition(incident.status, IncidentStatus::Acknowledged)
        .map_err(|e| transition_error(number, e))?;
    let now = Timestamp::now();
    store::update(
        &mut *tx,
        incident.id,
        &Changes {
            status: Some(IncidentStatus::Acknowledged),
            acknowledged_at: Some(Some(now)),
            ..Default::default()
        },
    )
    .await?;
    let mut event = actor_event(incident.id, TimelineKind::Acknowledged, actor);
    let late = now > incident.respond_by;
    event.data = json!({"within_sla": !late, "respond_by": crate::clock::iso(incident.respond_by)});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.acknowledge",
        number.get(),
        json!({"status": incident.status.as_str()}),
        json!({"status": "acknowledged"}),
    )
    .await?;
    let incident = load(tx, number).await?;
    crate::escalation::on_acknowledged(&mut *tx, &incident, actor).await?;
    Ok(incident)
}

/// Moves to another open status (not resolve or reopen: those have their own actions).
pub(crate) async fn change_status(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    to: IncidentStatus,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    if to == IncidentStatus::Resolved {
        return resolve_locked(tx, actor, incident, None).await;
    }
    if incident.status == IncidentStatus::Resolved {
        return reopen_locked(tx, actor, incident, Some(to)).await;
    }
    rules::transition(incident.status, to).map_err(|e| transition_error(number, e))?;
    let mut changes = Changes { status: Some(to), ..Default::default() };
    // Skipping straight past `acknowledged` is still the first response.
    let first_response = incident.acknowledged_at.is_none() && rules::acknowledges(incident.status, to);
    if first_response {
        changes.acknowledged_at = Some(Some(Timestamp::now()));
    }
    store::update(&mut *tx, incident.id, &changes).await?;
    if first_response {
        store::append(&mut *tx, &actor_event(incident.id, TimelineKind::Acknowledged, actor)).await?;
    }
    let mut event = actor_event(incident.id, TimelineKind::StatusChanged, actor);
    event.data = json!({"from": incident.status.as_str(), "to": to.as_str()});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.status",
        number.get(),
        json!({"status": incident.status.as_str()}),
        json!({"status": to.as_str()}),
    )
    .await?;
    let changed = load(tx, number).await?;
    if first_response {
        crate::escalation::on_acknowledged(&mut *tx, &changed, actor).await?;
    }
    crate::escalation::on_status_changed(&mut *tx, &changed, incident.status, actor).await?;
    Ok(changed)
}

/// Changes severity and recomputes the SLA deadlines from the incident's start.
pub(crate) async fn change_severity(
    tx: &mut PgConnection,
    actor: &Actor,
    zone: &jiff::tz::TimeZone,
    number: IncidentNumber,
    to: Severity,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    if incident.severity == to {
        return Err(IncidentError::Refused(format!(
            "INC-{} is already {}; nothing changed.",
            number.get(),
            to.as_str()
        )));
    }
    let policy = sla::policy(&mut *tx).await?;
    let hours = sla::business_hours(&mut *tx, zone).await?;
    let deadlines = policy.deadlines(to, incident.started_at, &hours);
    let (respond_by, escalate_by) = (deadlines.respond_by, deadlines.escalate_by);
    store::update(
        &mut *tx,
        incident.id,
        &Changes { severity: Some(to), deadlines: Some((respond_by, escalate_by)), ..Default::default() },
    )
    .await?;
    let mut event = actor_event(incident.id, TimelineKind::SeverityChanged, actor);
    event.data = json!({"from": incident.severity.as_str(), "to": to.as_str(), "respond_by": crate::clock::iso(respond_by), "escalate_by": crate::clock::iso(escalate_by)});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.severity",
        number.get(),
        json!({"severity": incident.severity.as_str()}),
        json!({"severity": to.as_str()}),
    )
    .await?;
    let changed = load(tx, number).await?;
    crate::escalation::on_severity_changed(&mut *tx, &changed, incident.severity, actor).await?;
    Ok(changed)
}

/// Checks that the caller may run this incident (`rules::may_command`: commanders and above,
/// or this incident's own commander); locks and returns it. Pages and the API call it before
/// every commander action, so both apply the one rule.
pub(crate) async fn authorize_command(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    number: IncidentNumber,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, None).await?;
    if rules::may_command(role, is_commander(&incident, actor)) {
        Ok(incident)
    } else {
        Err(IncidentError::Forbidden { have: role, need: Role::Commander })
    }
}

/// Whether `actor` is the incident's commander.
pub(crate) fn is_commander(incident: &Incident, actor: &Actor) -> bool {
    actor.user_id.is_some() && incident.commander.as_ref().map(|p| p.id) == actor.user_id
}

/// A responder (or anyone above) takes command of the incident: they become its commander
/// and may then do every commander action on it. Audited as `incident.take_command`.
pub(crate) async fn take_command(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    number: IncidentNumber,
) -> Result<Incident, IncidentError> {
    if !rules::may_be_commander(role) {
        return Err(IncidentError::Forbidden { have: role, need: Role::Responder });
    }
    let incident = lock_current(tx, number, None).await?;
    let Some(user_id) = actor.user_id else {
        return Err(IncidentError::Refused("Only a person can take command.".into()));
    };
    if is_commander(&incident, actor) {
        return Err(IncidentError::Refused(format!(
            "You already command INC-{}; nothing changed.",
            number.get()
        )));
    }
    if !incident.status.is_open() {
        return Err(IncidentError::Refused(format!(
            "INC-{} is resolved: reopen it before taking command.",
            number.get()
        )));
    }
    let user = users::find(&mut *tx, user_id).await?.filter(|u| u.active).ok_or_else(|| {
        IncidentError::Refused("Your account is not active, so it cannot take command.".into())
    })?;
    store::update(
        &mut *tx,
        incident.id,
        &Changes { commander_id: Some(Some(user.id)), ..Default::default() },
    )
    .await?;
    let previous = incident.commander.as_ref().map(|p| p.display_name.clone());
    let mut event = actor_event(incident.id, TimelineKind::RoleAssigned, actor);
    event.data = json!({"role": "commander", "user_id": user.id, "user": user.display_name, "previous": previous,
                        "taken": true});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.take_command",
        number.get(),
        json!({"commander": incident.commander.as_ref().map(|p| p.email.clone())}),
        json!({"commander": user.email}),
    )
    .await?;
    load(tx, number).await
}

/// Longest reason for withdrawing an incident from the status page.
pub(crate) const MAX_REASON: usize = 1000;

/// Corrects the title and summary: each changed field is a `details_changed` event with its
/// before and after (the timeline keeps both; only the incident row changes). Audited as
/// `incident.correct_details`; a public incident's new title reaches the status page.
pub(crate) async fn correct_details(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
    title: &str,
    summary: &str,
) -> Result<Incident, IncidentError> {
    let mut errors = vec![];
    let title = Title::parse(title).map_err(|e| errors.push(FieldError::new("title", e.to_string()))).ok();
    check_body("summary", summary, false, &mut errors);
    let (Some(title), true) = (title, errors.is_empty()) else {
        return Err(IncidentError::Invalid(errors));
    };
    let summary = summary.trim();
    let incident = lock_current(tx, number, expected).await?;
    let mut changes = Changes::default();
    let mut changed = vec![];
    if title.as_str() != incident.title {
        changes.title = Some(title.as_str().to_owned());
        changed.push(("title", incident.title.clone(), title.as_str().to_owned()));
    }
    if summary != incident.summary {
        changes.summary = Some(summary.to_owned());
        changed.push(("summary", incident.summary.clone(), summary.to_owned()));
    }
    if changed.is_empty() {
        return Err(IncidentError::Refused(
            "The title and summary are already these; nothing changed.".into(),
        ));
    }
    store::update(&mut *tx, incident.id, &changes).await?;
    for (field, before, after) in &changed {
        let mut event = actor_event(incident.id, TimelineKind::DetailsChanged, actor);
        event.data = json!({"field": field, "before": before, "after": after});
        store::append(&mut *tx, &event).await?;
    }
    let before: serde_json::Map<String, serde_json::Value> =
        changed.iter().map(|(f, b, _)| ((*f).to_owned(), json!(b))).collect();
    let after: serde_json::Map<String, serde_json::Value> =
        changed.iter().map(|(f, _, a)| ((*f).to_owned(), json!(a))).collect();
    audit_incident(tx, actor, "incident.correct_details", number.get(), before.into(), after.into()).await?;
    if !incident.private {
        notify_status_change(&mut *tx).await?;
    }
    load(tx, number).await
}

/// Takes a public incident off the status page (it becomes private), with the reason on a
/// `withdrawn` event; the affected components' public history is recomputed. Audited as
/// `incident.withdraw`.
pub(crate) async fn withdraw(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
    reason: &str,
) -> Result<Incident, IncidentError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(IncidentError::Invalid(vec![FieldError::new(
            "reason",
            format!("Say why it is withdrawn, in 1 to {MAX_REASON} characters (kept on the timeline)."),
        )]));
    }
    let incident = lock_current(tx, number, expected).await?;
    if incident.private {
        return Err(IncidentError::Refused(format!(
            "INC-{} is private already: it is not on the status page.",
            number.get()
        )));
    }
    store::update(&mut *tx, incident.id, &Changes { private: Some(true), ..Default::default() }).await?;
    let mut event = actor_event(incident.id, TimelineKind::Withdrawn, actor);
    event.data = json!({"reason": reason});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.withdraw",
        number.get(),
        json!({"private": false}),
        json!({"private": true, "reason": reason}),
    )
    .await?;
    crate::status_page::history::record_incident(tx, incident.id).await?;
    notify_status_change(&mut *tx).await?;
    load(tx, number).await
}

/// Puts a private incident on the status page: a `details_changed` event (visibility private
/// → public). Audited as `incident.publish`.
pub(crate) async fn publish(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    if !incident.private {
        return Err(IncidentError::Refused(format!("INC-{} is public already.", number.get())));
    }
    store::update(&mut *tx, incident.id, &Changes { private: Some(false), ..Default::default() }).await?;
    let mut event = actor_event(incident.id, TimelineKind::DetailsChanged, actor);
    event.data = json!({"field": "visibility", "before": "private", "after": "public"});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.publish",
        number.get(),
        json!({"private": true}),
        json!({"private": false}),
    )
    .await?;
    crate::status_page::history::record_incident(tx, incident.id).await?;
    notify_status_change(&mut *tx).await?;
    load(tx, number).await
}

/// Incident roles besides responders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncidentRole {
    Commander,
    CommsLead,
    Scribe,
}

impl IncidentRole {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Commander => "commander",
            Self::CommsLead => "comms_lead",
            Self::Scribe => "scribe",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "commander" => Some(Self::Commander),
            "comms_lead" => Some(Self::CommsLead),
            "scribe" => Some(Self::Scribe),
            _ => None,
        }
    }
}

/// Assigns (or with `None` clears) an incident role. The commander cannot be cleared.
pub(crate) async fn assign_role(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    role: IncidentRole,
    user_id: Option<Uuid>,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    let user = match user_id {
        Some(id) => Some(users::find(&mut *tx, id).await?.filter(|u| u.active).ok_or_else(|| {
            IncidentError::Invalid(vec![FieldError::new("user", "Choose an active user.")])
        })?),
        None if role == IncidentRole::Commander => {
            return Err(IncidentError::Invalid(vec![FieldError::new(
                "user",
                "An incident always has a commander.",
            )]));
        }
        None => None,
    };
    if role == IncidentRole::Commander
        && let Some(u) = &user
        && !rules::may_be_commander(u.role)
    {
        return Err(IncidentError::Invalid(vec![FieldError::new(
            "user",
            format!(
                "{} is a viewer and cannot command an incident; choose a responder or above.",
                u.display_name
            ),
        )]));
    }
    let current = match role {
        IncidentRole::Commander => &incident.commander,
        IncidentRole::CommsLead => &incident.comms_lead,
        IncidentRole::Scribe => &incident.scribe,
    };
    if current.as_ref().map(|p| p.id) == user.as_ref().map(|u| u.id) {
        return Err(IncidentError::Refused("That person already has this role; nothing changed.".into()));
    }
    let id = Some(user.as_ref().map(|u| u.id));
    let changes = match role {
        IncidentRole::Commander => Changes { commander_id: id, ..Default::default() },
        IncidentRole::CommsLead => Changes { comms_lead_id: id, ..Default::default() },
        IncidentRole::Scribe => Changes { scribe_id: id, ..Default::default() },
    };
    store::update(&mut *tx, incident.id, &changes).await?;
    let name = user.as_ref().map(|u| u.display_name.clone()).unwrap_or_else(|| "nobody".into());
    let mut event = actor_event(incident.id, TimelineKind::RoleAssigned, actor);
    event.data = json!({"role": role.as_str(), "user_id": user.as_ref().map(|u| u.id), "user": name,
                        "previous": current.as_ref().map(|p| p.display_name.clone())});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.role",
        number.get(),
        json!({role.as_str(): current.as_ref().map(|p| p.email.clone())}),
        json!({role.as_str(): user.as_ref().map(|u| u.email.clone())}),
    )
    .await?;
    load(tx, number).await
}

/// Adds an internal note (Markdown).
pub(crate) async fn add_note(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    body: &str,
) -> Result<TimelineEvent, IncidentError> {
    let mut errors = vec![];
    check_body("body", body, true, &mut errors);
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors));
    }
    let incident = lock_current(tx, number, None).await?;
    store::touch(&mut *tx, incident.id).await?;
    let mut event = actor_event(incident.id, TimelineKind::Note, actor);
    event.body = Some(body.trim());
    let event = store::append(&mut *tx, &event).await?;
    audit_incident(tx, actor, "incident.note", number.get(), json!(null), json!({"event": event.id})).await?;
    Ok(event)
}

/// Statuses a public update may announce (Statuspage's incident statuses).
pub(crate) const PUBLIC_STATUSES: [IncidentStatus; 4] = [
    IncidentStatus::Investigating,
    IncidentStatus::Identified,
    IncidentStatus::Monitoring,
    IncidentStatus::Resolved,
];

/// Posts a public update for the status page, optionally moving the incident to `status`.
///
/// The update itself is an append and never conflicts: `expected` (the version the writer saw)
/// is checked only when the update also moves the incident to another status, the one part
/// that can collide with a teammate's change.
pub(crate) async fn post_public_update(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    body: &str,
    status: Option<IncidentStatus>,
    expected: Option<i32>,
) -> Result<TimelineEvent, IncidentError> {
    let mut errors = vec![];
    check_body("body", body, true, &mut errors);
    if let Some(s) = status
        && !PUBLIC_STATUSES.contains(&s)
    {
        errors.push(FieldError::new(
            "status",
            "A public update announces investigating, identified, monitoring or resolved.",
        ));
    }
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors));
    }
    let mut incident = lock_current(tx, number, None).await?;
    if status.is_some_and(|to| to != incident.status) {
        incident = lock_current(tx, number, expected).await?;
    }
    if incident.private {
        return Err(IncidentError::Refused(format!(
            "INC-{} is private, so it never reaches the status page. Add an internal note instead, or make the incident public first.",
            number.get()
        )));
    }
    if let Some(to) = status
        && to != incident.status
    {
        incident = change_status(tx, actor, number, to, None).await?;
    }
    let shown = status.unwrap_or(match incident.status {
        IncidentStatus::Triggered | IncidentStatus::Acknowledged => IncidentStatus::Investigating,
        s => s,
    });
    store::touch(&mut *tx, incident.id).await?;
    let mut event = actor_event(incident.id, TimelineKind::PublicUpdate, actor);
    event.body = Some(body.trim());
    event.public = true;
    event.public_status = Some(shown.as_str());
    let event = store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.public_update",
        number.get(),
        json!(null),
        json!({"event": event.id, "status": shown.as_str()}),
    )
    .await?;
    notify_status_change(&mut *tx).await?;
    crate::escalation::on_public_update(&mut *tx, &incident, &event, actor).await?;
    Ok(event)
}

/// Sets or clears one component's impact.
pub(crate) async fn set_component_impact(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    component_id: Uuid,
    impact: Option<Impact>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, None).await?;
    let component = components::find(&mut *tx, component_id).await?.ok_or_else(|| {
        IncidentError::Invalid(vec![FieldError::new("component", "Choose an existing component.")])
    })?;
    let before = store::set_component_impact(&mut *tx, incident.id, component_id, impact).await?;
    if before == impact {
        return Err(IncidentError::Refused(format!(
            "{} already has that impact; nothing changed.",
            component.name
        )));
    }
    store::update(&mut *tx, incident.id, &Changes::default()).await?;
    let mut event = actor_event(incident.id, TimelineKind::ComponentImpactChanged, actor);
    event.public = !incident.private;
    event.data = json!({"component_id": component_id, "component": component.name, "from": before.map(Impact::as_str), "to": impact.map(Impact::as_str)});
    store::append(&mut *tx, &event).await?;
    crate::status_page::history::record(tx, &[component_id]).await?;
    audit_incident(
        tx,
        actor,
        "incident.component",
        number.get(),
        json!({"component": component.name, "impact": before.map(Impact::as_str)}),
        json!({"component": component.name, "impact": impact.map(Impact::as_str)}),
    )
    .await?;
    notify_status_change(&mut *tx).await?;
    load(tx, number).await
}

/// Kinds of links an incident may carry.
pub(crate) const LINK_KINDS: [&str; 5] = ["slack", "bridge", "grafana", "runbook", "other"];

/// Attaches a link (Slack channel, bridge, dashboard…); only http(s) URLs.
pub(crate) async fn add_link(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    kind: &str,
    url: &str,
    label: &str,
) -> Result<Incident, IncidentError> {
    let url = url.trim();
    let label = label.trim();
    let mut errors = vec![];
    if !LINK_KINDS.contains(&kind) {
        errors.push(FieldError::new("kind", "Choose slack, bridge, grafana, runbook or other."));
    }
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok
        || url.len() < 10
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(FieldError::new("url", "Enter an http:// or https:// address."));
    }
    if label.chars().count() > 100 {
        errors.push(FieldError::new("label", "Use at most 100 characters."));
    }
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors));
    }
    let incident = lock_current(tx, number, None).await?;
    store::insert_link(&mut *tx, incident.id, kind, url, label).await?;
    store::touch(&mut *tx, incident.id).await?;
    let mut event = actor_event(incident.id, TimelineKind::LinkAdded, actor);
    event.data = json!({"kind": kind, "url": url, "label": label});
    store::append(&mut *tx, &event).await?;
    audit_incident(tx, actor, "incident.link", number.get(), json!(null), json!({"kind": kind, "url": url}))
        .await?;
    load(tx, number).await
}

/// Resolves the incident.
pub(crate) async fn resolve(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    resolve_locked(tx, actor, incident, None).await
}

/// Resolves the incident with a resolution note (what fixed it), which the `resolved` event
/// carries; the confirmation page asks for it.
pub(crate) async fn resolve_with_note(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
    note: &str,
) -> Result<Incident, IncidentError> {
    let mut errors = vec![];
    check_body("resolution", note, true, &mut errors);
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors));
    }
    let incident = lock_current(tx, number, expected).await?;
    resolve_locked(tx, actor, incident, Some(note.trim())).await
}

async fn resolve_locked(
    tx: &mut PgConnection,
    actor: &Actor,
    incident: Incident,
    note: Option<&str>,
) -> Result<Incident, IncidentError> {
    rules::transition(incident.status, IncidentStatus::Resolved)
        .map_err(|e| transition_error(incident.number, e))?;
    let now = Timestamp::now();
    let mut changes = Changes {
        status: Some(IncidentStatus::Resolved),
        resolved_at: Some(Some(now)),
        ..Default::default()
    };
    if incident.acknowledged_at.is_none() {
        changes.acknowledged_at = Some(Some(now));
    }
    store::update(&mut *tx, incident.id, &changes).await?;
    let mut event = actor_event(incident.id, TimelineKind::Resolved, actor);
    event.public = !incident.private;
    event.body = note;
    event.data = json!({"from": incident.status.as_str(), "duration_seconds": now.duration_since(incident.started_at).as_secs(),
                        "acknowledged": incident.acknowledged_at.is_some()});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.resolve",
        incident.number.get(),
        json!({"status": incident.status.as_str()}),
        json!({"status": "resolved"}),
    )
    .await?;
    crate::status_page::history::record_incident(tx, incident.id).await?;
    notify_status_change(&mut *tx).await?;
    let resolved = load(tx, incident.number).await?;
    crate::escalation::on_resolved(&mut *tx, &resolved, actor).await?;
    Ok(resolved)
}

/// Reopens a resolved incident (to `investigating` unless told otherwise).
pub(crate) async fn reopen(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<Incident, IncidentError> {
    let incident = lock_current(tx, number, expected).await?;
    reopen_locked(tx, actor, incident, None).await
}

async fn reopen_locked(
    tx: &mut PgConnection,
    actor: &Actor,
    incident: Incident,
    to: Option<IncidentStatus>,
) -> Result<Incident, IncidentError> {
    if incident.status != IncidentStatus::Resolved {
        return Err(IncidentError::Refused(format!(
            "INC-{} is not resolved, so it cannot be reopened.",
            incident.number.get()
        )));
    }
    // Reopening is the one way out of `resolved`; it may land on any working status the
    // commander names (a regression already understood goes straight to identified).
    rules::transition(incident.status, IncidentStatus::Investigating)
        .map_err(|e| transition_error(incident.number, e))?;
    let to = match to {
        Some(
            s @ (IncidentStatus::Investigating | IncidentStatus::Identified | IncidentStatus::Monitoring),
        ) => s,
        Some(other @ (IncidentStatus::Triggered | IncidentStatus::Acknowledged)) => {
            return Err(IncidentError::Refused(format!(
                "A reopened incident continues at investigating, identified or monitoring, not {}.",
                other.as_str()
            )));
        }
        _ => IncidentStatus::Investigating,
    };
    store::update(
        &mut *tx,
        incident.id,
        &Changes { status: Some(to), resolved_at: Some(None), ..Default::default() },
    )
    .await?;
    let mut event = actor_event(incident.id, TimelineKind::Reopened, actor);
    event.public = !incident.private;
    event.data = json!({"to": to.as_str()});
    store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.reopen",
        incident.number.get(),
        json!({"status": "resolved"}),
        json!({"status": to.as_str()}),
    )
    .await?;
    crate::status_page::history::record_incident(tx, incident.id).await?;
    notify_status_change(&mut *tx).await?;
    let reopened = load(tx, incident.number).await?;
    crate::escalation::on_reopened(&mut *tx, &reopened, actor).await?;
    Ok(reopened)
}

/// Corrects a note or public update with a new event that points at it; nothing is edited.
///
/// Commanders correct any event; others (responders) only their own.
pub(crate) async fn correct(
    tx: &mut PgConnection,
    actor: &Actor,
    role: Role,
    number: IncidentNumber,
    event_id: Uuid,
    body: &str,
) -> Result<TimelineEvent, IncidentError> {
    let incident = lock_current(tx, number, None).await?;
    let original = store::event(&mut *tx, incident.id, event_id)
        .await?
        .ok_or(IncidentError::EventNotFound(number.get()))?;
    let own = original.actor_user_id.is_some() && original.actor_user_id == actor.user_id;
    if !role.allows(Role::Commander) && !own {
        return Err(IncidentError::Forbidden { have: role, need: Role::Commander });
    }
    let mut errors = vec![];
    check_body("body", body, true, &mut errors);
    if !errors.is_empty() {
        return Err(IncidentError::Invalid(errors));
    }
    if !matches!(original.kind, TimelineKind::Note | TimelineKind::PublicUpdate) {
        return Err(IncidentError::Refused("Only notes and public updates can be corrected.".into()));
    }
    store::touch(&mut *tx, incident.id).await?;
    let mut event = actor_event(incident.id, original.kind, actor);
    event.body = Some(body.trim());
    event.public = original.public;
    event.public_status = original.public_status.as_deref();
    event.corrects_id = Some(original.id);
    let event = store::append(&mut *tx, &event).await?;
    audit_incident(
        tx,
        actor,
        "incident.correct",
        number.get(),
        json!({"event": original.id}),
        json!({"event": event.id}),
    )
    .await?;
    if event.public {
        notify_status_change(&mut *tx).await?;
    }
    Ok(event)
}
