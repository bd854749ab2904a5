//! Component and group use cases: create, edit, delete, pin and unpin. Each runs on the
//! caller's transaction: lock, check, change, the status history when the public status may
//! change, the audit row and a `NOTIFY` for every process's status cache; the caller commits.
//! The admin pages call these; the API or the command line can call them the same way.

use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::incident::ComponentStatus;
use uuid::Uuid;

use super::history;
use crate::db::audit::{self, Actor, Entry};
use crate::db::components::{self as store, Component, ComponentFields, Group, Pin, WriteError};
use crate::db::status::notify;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;

/// Longest component or group name, in characters.
pub(crate) const MAX_NAME: usize = 100;
/// Longest description or pin reason, in characters.
pub(crate) const MAX_TEXT: usize = 500;
/// Positions admins may choose.
pub(crate) const POSITIONS: std::ops::RangeInclusive<i32> = -1000..=100_000;

/// Why a component or group change was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ComponentError {
    /// "This component" or "This group".
    #[error("{0} does not exist")]
    NotFound(&'static str),
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// A rule forbids it; the message says why and what to do instead.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<ComponentError> for AppError {
    fn from(e: ComponentError) -> Self {
        match e {
            ComponentError::NotFound(what) => AppError::NotFoundThing { what: what.into() },
            ComponentError::Invalid(errors) => AppError::Validation(errors),
            ComponentError::Refused(message) => AppError::Conflict(message),
            ComponentError::Database(e) => e.into(),
        }
    }
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Saved {
    Changed,
    /// The input matched what was stored; nothing was written.
    Unchanged,
}

/// A component as an admin enters it: text as typed (the position and group too), so every
/// field is checked here and all problems are reported at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ComponentInput {
    pub name: String,
    /// Internal notes unless `description_public`.
    pub description: String,
    pub description_public: bool,
    /// A group id, or empty for no group.
    pub group: String,
    /// A whole number in [`POSITIONS`], or empty for 0.
    pub position: String,
}

/// A group as an admin enters it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupInput {
    pub name: String,
    /// A whole number in [`POSITIONS`], or empty for 0.
    pub position: String,
}

/// A status to pin and why (the reason is for admins, never public).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PinInput {
    /// One of the component statuses (`partial_outage`…).
    pub status: String,
    pub reason: String,
}

fn check_name(raw: &str, errors: &mut FieldErrors) -> String {
    let name = raw.trim();
    if name.is_empty() {
        errors.push("name", "Enter a name.");
    } else if name.chars().count() > MAX_NAME {
        errors.push("name", format!("Use at most {MAX_NAME} characters."));
    } else if name.chars().any(char::is_control) {
        errors.push("name", "Remove the control characters.");
    }
    name.to_owned()
}

fn check_text(raw: &str, field: &str, required: bool, errors: &mut FieldErrors) -> String {
    let text = raw.trim();
    if required && text.is_empty() {
        errors.push(field, "Say why, for the other admins.");
    } else if text.chars().count() > MAX_TEXT {
        errors.push(field, format!("Use at most {MAX_TEXT} characters."));
    }
    text.to_owned()
}

fn check_position(raw: &str, errors: &mut FieldErrors) -> i32 {
    let raw = raw.trim();
    if raw.is_empty() {
        return 0;
    }
    match raw.parse::<i32>() {
        Ok(p) if POSITIONS.contains(&p) => p,
        _ => {
            errors.push(
                "position",
                format!("Enter a whole number from {} to {}.", POSITIONS.start(), POSITIONS.end()),
            );
            0
        }
    }
}

async fn check_group(
    tx: &mut PgConnection,
    raw: &str,
    errors: &mut FieldErrors,
) -> Result<Option<Uuid>, sqlx::Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let Ok(id) = raw.parse::<Uuid>() else {
        errors.push("group", "Choose one of the listed groups.");
        return Ok(None);
    };
    if !store::group_exists(&mut *tx, id).await? {
        errors.push("group", "That group no longer exists; choose another.");
    }
    Ok(Some(id))
}

/// A component's fields, checked.
struct Checked {
    name: String,
    description: String,
    description_public: bool,
    group_id: Option<Uuid>,
    position: i32,
}

impl Checked {
    fn fields(&self) -> ComponentFields<'_> {
        ComponentFields {
            name: &self.name,
            description: &self.description,
            description_public: self.description_public,
            group_id: self.group_id,
            position: self.position,
        }
    }

    fn matches(&self, c: &Component) -> bool {
        self.name == c.name
            && self.description == c.description
            && self.description_public == c.description_public
            && self.group_id == c.group_id
            && self.position == c.position
    }
}

async fn check_component(tx: &mut PgConnection, input: &ComponentInput) -> Result<Checked, ComponentError> {
    let mut errors = FieldErrors::new();
    let name = check_name(&input.name, &mut errors);
    let description = check_text(&input.description, "description", false, &mut errors);
    let position = check_position(&input.position, &mut errors);
    let group_id = check_group(tx, &input.group, &mut errors).await?;
    let checked =
        Checked { name, description, description_public: input.description_public, group_id, position };
    errors.into_result(checked).map_err(ComponentError::Invalid)
}

/// The write's constraint violations as field errors.
fn refused(e: WriteError, taken: &str) -> ComponentError {
    let invalid = |field: &str, message: &str| ComponentError::Invalid(vec![FieldError::new(field, message)]);
    match e {
        WriteError::NameTaken => invalid("name", taken),
        WriteError::GroupGone => invalid("group", "That group no longer exists; choose another."),
        WriteError::NamedByIncident => ComponentError::Refused(
            "An incident names this component, and its record keeps it, so it cannot be deleted. Rename it instead."
                .into(),
        ),
        WriteError::NamedByMaintenance => ComponentError::Refused(
            "A maintenance window names this component, and its record keeps it, so it cannot be deleted. Rename it instead."
                .into(),
        ),
        WriteError::Sql(e) => ComponentError::Database(e),
    }
}

/// Creates a component (operational; its status history starts now). Returns its id.
pub(crate) async fn create_component(
    tx: &mut PgConnection,
    actor: &Actor,
    input: &ComponentInput,
) -> Result<Uuid, ComponentError> {
    let c = check_component(tx, input).await?;
    let id = Uuid::now_v7();
    store::insert(&mut *tx, id, &c.fields())
        .await
        .map_err(|e| refused(e, "A component with this name exists already."))?;
    history::record(tx, &[id]).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component.create",
            target: format!("component:{}", c.name),
            before: None,
            after: Some(json!({"name": c.name, "group_id": c.group_id, "position": c.position,
                               "description_public": c.description_public})),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    tracing::info!(component.id = %id, component.name = %c.name, "status page component created");
    Ok(id)
}

async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Component, ComponentError> {
    store::lock(tx, id).await?.ok_or(ComponentError::NotFound("This component"))
}

/// Changes a component's name, description (and whether it is public), group and position.
pub(crate) async fn update_component(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    input: &ComponentInput,
) -> Result<Saved, ComponentError> {
    let before = lock(tx, id).await?;
    let c = check_component(tx, input).await?;
    if c.matches(&before) {
        return Ok(Saved::Unchanged);
    }
    store::update(&mut *tx, id, &c.fields())
        .await
        .map_err(|e| refused(e, "Another component has this name."))?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component.update",
            target: format!("component:{}", before.name),
            before: Some(json!({"name": before.name, "description": before.description,
                                "description_public": before.description_public,
                                "group_id": before.group_id, "position": before.position})),
            after: Some(json!({"name": c.name, "description": c.description,
                               "description_public": c.description_public,
                               "group_id": c.group_id, "position": c.position})),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    tracing::info!(component.id = %id, "status page component updated");
    Ok(Saved::Changed)
}

fn pin_json(pin: Option<&Pin>) -> serde_json::Value {
    json!({"manual_status": pin.map(|p| p.status.as_str()), "manual_reason": pin.map(|p| p.reason.as_str())})
}

/// Pins a status: the public reads it, whatever incidents say, until the pin is removed.
pub(crate) async fn pin_component(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    input: &PinInput,
) -> Result<ComponentStatus, ComponentError> {
    let before = lock(tx, id).await?;
    let mut errors = FieldErrors::new();
    let status = input.status.parse::<ComponentStatus>().ok();
    if status.is_none() {
        errors.push("status", "Choose one of the listed states.");
    }
    let reason = check_text(&input.reason, "reason", true, &mut errors);
    let (Some(status), true) = (status, errors.is_empty()) else {
        return Err(ComponentError::Invalid(errors.into_vec()));
    };
    let pin = Pin { status, reason };
    store::set_pin(&mut *tx, id, Some(&pin)).await?;
    history::record(tx, &[id]).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component.pin",
            target: format!("component:{}", before.name),
            before: Some(pin_json(before.pin.as_ref())),
            after: Some(pin_json(Some(&pin))),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    tracing::info!(component.id = %id, component.status = status.as_str(), "component status pinned");
    Ok(status)
}

/// Removes the pin: the status is computed from the signals again.
pub(crate) async fn unpin_component(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Saved, ComponentError> {
    let before = lock(tx, id).await?;
    if before.pin.is_none() {
        return Ok(Saved::Unchanged);
    }
    store::set_pin(&mut *tx, id, None).await?;
    history::record(tx, &[id]).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component.unpin",
            target: format!("component:{}", before.name),
            before: Some(pin_json(before.pin.as_ref())),
            after: Some(json!({"manual_status": null})),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    tracing::info!(component.id = %id, "component status unpinned");
    Ok(Saved::Changed)
}

/// Deletes a component and its status history. One that an incident names stays: the
/// incident's record keeps pointing at it.
pub(crate) async fn delete_component(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), ComponentError> {
    let before = lock(tx, id).await?;
    let named = store::incident_count(&mut *tx, id).await?;
    if named > 0 {
        return Err(ComponentError::Refused(format!(
            "{} is named by {named} incident{}, whose records keep it, so it cannot be deleted. Rename it instead (for example \"{} (retired)\").",
            before.name,
            if named == 1 { "" } else { "s" },
            before.name
        )));
    }
    // An incident that names it meanwhile makes the delete fail on the foreign key (mapped).
    store::delete(&mut *tx, id).await.map_err(|e| refused(e, "Another component has this name."))?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component.delete",
            target: format!("component:{}", before.name),
            before: Some(
                json!({"name": before.name, "group_id": before.group_id, "position": before.position}),
            ),
            after: None,
        },
    )
    .await?;
    notify(&mut *tx).await?;
    tracing::info!(component.id = %id, component.name = %before.name, "status page component deleted");
    Ok(())
}

fn check_group_input(input: &GroupInput) -> Result<(String, i32), ComponentError> {
    let mut errors = FieldErrors::new();
    let name = check_name(&input.name, &mut errors);
    let position = check_position(&input.position, &mut errors);
    errors.into_result((name, position)).map_err(ComponentError::Invalid)
}

/// Creates a group. Returns its id.
pub(crate) async fn create_group(
    tx: &mut PgConnection,
    actor: &Actor,
    input: &GroupInput,
) -> Result<Uuid, ComponentError> {
    let (name, position) = check_group_input(input)?;
    let id = Uuid::now_v7();
    store::insert_group(&mut *tx, id, &name, position)
        .await
        .map_err(|e| refused(e, "A group with this name exists already."))?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component_group.create",
            target: format!("component_group:{name}"),
            before: None,
            after: Some(json!({"name": name, "position": position})),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    Ok(id)
}

async fn lock_group(tx: &mut PgConnection, id: Uuid) -> Result<Group, ComponentError> {
    store::lock_group(tx, id).await?.ok_or(ComponentError::NotFound("This group"))
}

/// Renames or moves a group.
pub(crate) async fn update_group(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    input: &GroupInput,
) -> Result<Saved, ComponentError> {
    let before = lock_group(tx, id).await?;
    let (name, position) = check_group_input(input)?;
    if name == before.name && position == before.position {
        return Ok(Saved::Unchanged);
    }
    store::update_group(&mut *tx, id, &name, position)
        .await
        .map_err(|e| refused(e, "Another group has this name."))?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component_group.update",
            target: format!("component_group:{}", before.name),
            before: Some(json!({"name": before.name, "position": before.position})),
            after: Some(json!({"name": name, "position": position})),
        },
    )
    .await?;
    notify(&mut *tx).await?;
    Ok(Saved::Changed)
}

/// Deletes a group; its components stay, listed without a group.
pub(crate) async fn delete_group(
    tx: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), ComponentError> {
    let before = lock_group(tx, id).await?;
    let members = store::member_count(&mut *tx, id).await?;
    store::delete_group(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "component_group.delete",
            target: format!("component_group:{}", before.name),
            before: Some(json!({"name": before.name, "position": before.position, "components": members})),
            after: None,
        },
    )
    .await?;
    notify(&mut *tx).await?;
    Ok(())
}
