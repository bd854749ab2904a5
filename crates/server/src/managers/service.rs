//! The managers' use cases, each on the caller's transaction: lock, check, change, audit row.
//! The caller commits.

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::audit::{self, Actor, Entry};
use crate::db::escalations::{self as store};
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;

/// Longest review comment, in characters.
pub(crate) const MAX_COMMENT: usize = 10_000;
/// Longest follow-up action, in characters.
pub(crate) const MAX_FOLLOW_UP: usize = 2_000;

/// Why a manager's change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManagersError {
    #[error("{what} does not exist")]
    NotFound { what: &'static str },
    /// The change does not fit the current state; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ManagersError> for AppError {
    fn from(e: ManagersError) -> Self {
        match e {
            ManagersError::NotFound { what } => AppError::NotFoundThing { what: what.to_owned() },
            ManagersError::Refused(m) => AppError::Conflict(m),
            ManagersError::Invalid(errors) => AppError::Validation(errors),
            ManagersError::Database(e) => e.into(),
        }
    }
}

/// A review as typed in its form or sent to the API.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReviewInput {
    pub(crate) comment: String,
    /// Blank: no follow-up.
    pub(crate) follow_up: String,
}

/// The checked comment and follow-up.
pub(crate) fn check_review(input: &ReviewInput) -> Result<(String, Option<String>), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let comment = input.comment.trim().to_owned();
    let n = comment.chars().count();
    if n == 0 {
        errors.push("comment", "Say what you found: a comment is required to mark an escalation reviewed.");
    } else if n > MAX_COMMENT {
        errors.push("comment", format!("Keep the comment to {MAX_COMMENT} characters (it has {n})."));
    }
    let follow_up = input.follow_up.trim().to_owned();
    let m = follow_up.chars().count();
    if m > MAX_FOLLOW_UP {
        errors.push(
            "follow_up",
            format!("Keep the follow-up action to {MAX_FOLLOW_UP} characters (it has {m})."),
        );
    }
    errors.into_result((comment, (m > 0).then_some(follow_up)))
}

/// Marks the escalation recorded by timeline event `event_id` reviewed (audited). An
/// escalation is reviewed once.
pub(crate) async fn review_escalation(
    tx: &mut PgConnection,
    actor: &Actor,
    event_id: Uuid,
    input: &ReviewInput,
) -> Result<store::Escalation, ManagersError> {
    let before = store::find_for_update(&mut *tx, event_id)
        .await?
        .ok_or(ManagersError::NotFound { what: "This escalation" })?;
    let (comment, follow_up) = check_review(input).map_err(ManagersError::Invalid)?;
    if before.reviewed_at.is_some() {
        return Err(ManagersError::Refused(format!(
            "This escalation was already reviewed by {}; its review stays as written.",
            before.reviewer.as_deref().unwrap_or("someone")
        )));
    }
    store::mark_reviewed(&mut *tx, event_id, actor.user_id, &comment, follow_up.as_deref()).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "escalation.review",
            target: format!("incident:INC-{}", before.number),
            before: Some(json!({"event_id": event_id, "kind": before.kind.as_str(), "level": before.level.as_str(), "reviewed": false})),
            after: Some(json!({"event_id": event_id, "reviewed": true, "comment": comment, "follow_up": follow_up})),
        },
    )
    .await?;
    let after = store::find_for_update(&mut *tx, event_id)
        .await?
        .ok_or(ManagersError::NotFound { what: "This escalation" })?;
    Ok(after)
}

// ---------------------------------------------------------------------------------------------
// Postmortems

use jiff::civil::Date;
use twisterlab_domain::incident::{IncidentNumber, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;

use crate::db::incidents::{self as incidents_store, Incident, NewEvent};
use crate::db::postmortems::{self as pm, Postmortem, State, Texts};

/// Longest text of a postmortem section.
pub(crate) const MAX_SECTION: usize = 20_000;
/// Longest public summary.
pub(crate) const MAX_PUBLIC_SUMMARY: usize = 5_000;
/// Longest action item.
pub(crate) const MAX_ACTION: usize = 500;

/// Whether an incident of `severity` needs a postmortem once resolved: P0 and P1 do.
pub(crate) fn postmortem_required(severity: Severity) -> bool {
    matches!(severity, Severity::P0 | Severity::P1)
}

/// The texts and excerpt as typed.
#[derive(Clone, Debug, Default)]
pub(crate) struct PostmortemInput {
    pub(crate) texts: Texts,
    pub(crate) excerpt: Vec<Uuid>,
}

/// An action item as typed.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActionInput {
    pub(crate) title: String,
    /// A user id.
    pub(crate) owner: String,
    /// `YYYY-MM-DD`.
    pub(crate) due_on: String,
}

async fn incident_of(tx: &mut PgConnection, number: IncidentNumber) -> Result<Incident, ManagersError> {
    incidents_store::lock(&mut *tx, number).await?;
    incidents_store::find(&mut *tx, number).await?.ok_or(ManagersError::NotFound { what: "This incident" })
}

async fn locked(tx: &mut PgConnection, incident: &Incident) -> Result<Postmortem, ManagersError> {
    pm::lock_of_incident(&mut *tx, incident.id)
        .await?
        .ok_or(ManagersError::NotFound { what: "This incident's postmortem" })
}

/// Tells the incident's timeline that its postmortem reached `to` (`from` is `None` when the
/// draft starts): readers of the incident see the postmortem's progress where they look.
async fn record_state(
    tx: &mut PgConnection,
    actor: &Actor,
    incident: &Incident,
    from: Option<State>,
    to: State,
) -> Result<(), sqlx::Error> {
    incidents_store::append(
        &mut *tx,
        &NewEvent {
            incident_id: incident.id,
            kind: TimelineKind::PostmortemStateChanged,
            actor_user_id: actor.user_id,
            actor_label: &actor.label,
            body: None,
            data: json!({"from": from.map(State::as_str), "to": to.as_str()}),
            public: false,
            public_status: None,
            corrects_id: None,
        },
    )
    .await?;
    Ok(())
}

fn texts_json(t: &Texts) -> serde_json::Value {
    json!({"summary": t.summary, "impact": t.impact, "root_cause": t.root_cause,
           "contributing_factors": t.contributing_factors, "went_well": t.went_well, "public_summary": t.public_summary})
}

/// Starts the postmortem of a resolved incident (audited); returns it.
pub(crate) async fn start_postmortem(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
) -> Result<Postmortem, ManagersError> {
    let incident = incident_of(tx, number).await?;
    if incident.status != IncidentStatus::Resolved {
        return Err(ManagersError::Refused(format!(
            "{number} is still open: write its postmortem once it is resolved."
        )));
    }
    if pm::insert(&mut *tx, incident.id, actor.user_id).await?.is_some() {
        audit::record(
            &mut *tx,
            actor,
            Entry {
                action: "postmortem.create",
                target: format!("incident:{number}"),
                before: None,
                after: Some(json!({"state": "draft"})),
            },
        )
        .await?;
        record_state(tx, actor, &incident, None, State::Draft).await?;
    }
    locked(tx, &incident).await
}

fn check_texts(texts: &Texts) -> Result<Texts, Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let fields = [
        ("summary", &texts.summary, MAX_SECTION),
        ("impact", &texts.impact, MAX_SECTION),
        ("root_cause", &texts.root_cause, MAX_SECTION),
        ("contributing_factors", &texts.contributing_factors, MAX_SECTION),
        ("went_well", &texts.went_well, MAX_SECTION),
        ("public_summary", &texts.public_summary, MAX_PUBLIC_SUMMARY),
    ];
    for (name, value, max) in fields {
        let n = value.trim().chars().count();
        if n > max {
            errors.push(name, format!("Keep this to {max} characters (it has {n})."));
        }
    }
    errors.into_result(Texts {
        summary: texts.summary.trim().to_owned(),
        impact: texts.impact.trim().to_owned(),
        root_cause: texts.root_cause.trim().to_owned(),
        contributing_factors: texts.contributing_factors.trim().to_owned(),
        went_well: texts.went_well.trim().to_owned(),
        public_summary: texts.public_summary.trim().to_owned(),
    })
}

/// Saves the texts and the timeline excerpt of a postmortem that is not published (audited).
pub(crate) async fn save_postmortem(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    input: &PostmortemInput,
) -> Result<(), ManagersError> {
    let incident = incident_of(tx, number).await?;
    let before = locked(tx, &incident).await?;
    let texts = check_texts(&input.texts).map_err(ManagersError::Invalid)?;
    if before.state == State::Published {
        return Err(ManagersError::Refused(
            "This postmortem is published; it stays as it was published.".into(),
        ));
    }
    pm::save(&mut *tx, before.id, &texts, &input.excerpt).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "postmortem.update",
            target: format!("incident:{number}"),
            before: Some(texts_json(&before.texts)),
            after: Some(texts_json(&texts)),
        },
    )
    .await?;
    Ok(())
}

/// The names of an action item's fields in the form that sent them.
struct ActionFields {
    title: &'static str,
    owner: &'static str,
    due_on: &'static str,
}

const ACTION_FIELDS: ActionFields = ActionFields { title: "title", owner: "owner", due_on: "due_on" };

/// The checked owner (an active user) and due date, or field errors under `fields`' names.
async fn check_owner_and_due(
    tx: &mut PgConnection,
    owner: &str,
    due_on: &str,
    fields: &ActionFields,
    errors: &mut FieldErrors,
) -> Result<Option<(crate::db::users::User, Date)>, sqlx::Error> {
    let owner = match owner.trim() {
        "" => {
            errors.push(fields.owner, "Choose who owns this action item.");
            None
        }
        raw => match raw.parse::<Uuid>() {
            Ok(id) => match crate::db::users::find(&mut *tx, id).await?.filter(|u| u.active) {
                Some(u) => Some(u),
                None => {
                    errors.push(fields.owner, "Choose an active person from the list.");
                    None
                }
            },
            Err(_) => {
                errors.push(fields.owner, "Choose an active person from the list.");
                None
            }
        },
    };
    let due = match due_on.trim().parse::<Date>() {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(fields.due_on, "Enter the due date, such as 2026-12-31.");
            None
        }
    };
    Ok(owner.zip(due))
}

/// The trimmed title, or a field error.
fn check_title<'a>(title: &'a str, field: &'static str, errors: &mut FieldErrors) -> &'a str {
    let title = title.trim();
    let n = title.chars().count();
    if n == 0 || n > MAX_ACTION {
        errors.push(field, format!("Say what must be done, in 1 to {MAX_ACTION} characters."));
    }
    title
}

/// Inserts checked action items of a postmortem that is not published, each audited.
async fn insert_actions(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    postmortem: &Postmortem,
    titles: &[&str],
    owner: &crate::db::users::User,
    due: Date,
) -> Result<Vec<Uuid>, ManagersError> {
    if postmortem.state == State::Published {
        return Err(ManagersError::Refused("This postmortem is published; track new work elsewhere.".into()));
    }
    let mut ids = Vec::with_capacity(titles.len());
    for title in titles {
        let id = pm::add_action(&mut *tx, postmortem.id, title, owner.id, due).await?;
        audit::record(
            &mut *tx,
            actor,
            Entry {
                action: "postmortem.action.add",
                target: format!("incident:{number}"),
                before: None,
                after: Some(
                    json!({"id": id, "title": title, "owner": owner.email, "due_on": due.to_string()}),
                ),
            },
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Adds an action item (audited): a title, an active owner and a due date are required.
pub(crate) async fn add_action(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    input: &ActionInput,
) -> Result<Uuid, ManagersError> {
    let incident = incident_of(tx, number).await?;
    let postmortem = locked(tx, &incident).await?;
    let mut errors = FieldErrors::new();
    let title = check_title(&input.title, ACTION_FIELDS.title, &mut errors);
    let checked = check_owner_and_due(tx, &input.owner, &input.due_on, &ACTION_FIELDS, &mut errors).await?;
    let (Some((owner, due)), true) = (checked, errors.is_empty()) else {
        return Err(ManagersError::Invalid(errors.into_vec()));
    };
    let ids = insert_actions(tx, actor, number, &postmortem, &[title], &owner, due).await?;
    ids.into_iter().next().ok_or(ManagersError::NotFound { what: "This action item" })
}

/// Starting action items kept from the runbooks' prevention lists, with one owner and due date.
#[derive(Clone, Debug, Default)]
pub(crate) struct StartingInput {
    /// The kept items' titles; blank ones are ignored.
    pub(crate) titles: Vec<String>,
    /// A user id.
    pub(crate) owner: String,
    /// `YYYY-MM-DD`.
    pub(crate) due_on: String,
}

/// The starting items' field names on the postmortem page (apart from the single item's form).
pub(crate) const STARTING_FIELDS: (&str, &str, &str) =
    ("prevention", "prevention_owner", "prevention_due_on");

/// Adds the prevention steps a commander kept as action items, all or none (each audited): at
/// least one item, an active owner and a due date are required.
pub(crate) async fn add_starting_actions(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    input: &StartingInput,
) -> Result<Vec<Uuid>, ManagersError> {
    let incident = incident_of(tx, number).await?;
    let postmortem = locked(tx, &incident).await?;
    let fields =
        ActionFields { title: STARTING_FIELDS.0, owner: STARTING_FIELDS.1, due_on: STARTING_FIELDS.2 };
    let mut errors = FieldErrors::new();
    let mut titles: Vec<&str> = Vec::new();
    for raw in &input.titles {
        if raw.trim().is_empty() {
            continue;
        }
        let title = check_title(raw, fields.title, &mut errors);
        if !titles.contains(&title) {
            titles.push(title);
        }
    }
    if titles.is_empty() {
        errors.push(fields.title, "Keep at least one item, or add action items one by one below.");
    }
    let checked = check_owner_and_due(tx, &input.owner, &input.due_on, &fields, &mut errors).await?;
    let (Some((owner, due)), true) = (checked, errors.is_empty()) else {
        return Err(ManagersError::Invalid(errors.into_vec()));
    };
    insert_actions(tx, actor, number, &postmortem, &titles, &owner, due).await
}

/// Marks an action item done (audited).
pub(crate) async fn complete_action(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
    action_id: Uuid,
) -> Result<(), ManagersError> {
    let incident = incident_of(tx, number).await?;
    let postmortem = locked(tx, &incident).await?;
    if !pm::complete_action(&mut *tx, postmortem.id, action_id).await? {
        return Err(ManagersError::NotFound { what: "This open action item" });
    }
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "postmortem.action.done",
            target: format!("incident:{number}"),
            before: None,
            after: Some(json!({"id": action_id})),
        },
    )
    .await?;
    Ok(())
}

/// Moves a draft to review (audited).
pub(crate) async fn submit_postmortem(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
) -> Result<(), ManagersError> {
    let incident = incident_of(tx, number).await?;
    let postmortem = locked(tx, &incident).await?;
    if postmortem.state != State::Draft {
        return Err(ManagersError::Refused(format!(
            "Only a draft goes to review; this one is {}.",
            postmortem.state.label()
        )));
    }
    pm::set_state(&mut *tx, postmortem.id, State::InReview, actor.user_id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "postmortem.submit",
            target: format!("incident:{number}"),
            before: Some(json!({"state": "draft"})),
            after: Some(json!({"state": "in_review"})),
        },
    )
    .await?;
    record_state(tx, actor, &incident, Some(State::Draft), State::InReview).await?;
    Ok(())
}

/// Publishes a postmortem in review (audited): it needs a root cause, and a public incident's
/// needs the public summary the status page will show (which is told to rebuild).
pub(crate) async fn publish_postmortem(
    tx: &mut PgConnection,
    actor: &Actor,
    number: IncidentNumber,
) -> Result<(), ManagersError> {
    let incident = incident_of(tx, number).await?;
    let postmortem = locked(tx, &incident).await?;
    let mut errors = FieldErrors::new();
    if postmortem.texts.root_cause.trim().is_empty() {
        errors.push("root_cause", "Write the root cause before publishing.");
    }
    if !incident.private && postmortem.texts.public_summary.trim().is_empty() {
        errors.push("public_summary", "Write the public summary: the status page shows it once published.");
    }
    if !errors.is_empty() {
        return Err(ManagersError::Invalid(errors.into_vec()));
    }
    if postmortem.state != State::InReview {
        return Err(ManagersError::Refused(format!(
            "Only a postmortem in review can be published; this one is {}.",
            postmortem.state.label()
        )));
    }
    pm::set_state(&mut *tx, postmortem.id, State::Published, actor.user_id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "postmortem.publish",
            target: format!("incident:{number}"),
            before: Some(json!({"state": "in_review"})),
            after: Some(json!({"state": "published", "public": !incident.private})),
        },
    )
    .await?;
    record_state(tx, actor, &incident, Some(State::InReview), State::Published).await?;
    if !incident.private {
        crate::db::status::notify(&mut *tx).await?;
    }
    Ok(())
}
