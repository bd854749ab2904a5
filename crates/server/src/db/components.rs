//! Status-page components and their groups: the `components` and `component_groups` tables.
//! Unique names and the foreign keys are mapped to [`WriteError`] here, by constraint name.

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::incident::ComponentStatus;
use uuid::Uuid;

use crate::clock::to_jiff;

/// A status an admin pinned, with the reason (for admins only, never public).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pin {
    pub status: ComponentStatus,
    pub reason: String,
}

/// A component as admins, pickers and exports see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Component {
    pub id: Uuid,
    pub name: String,
    /// Internal unless `description_public`.
    pub description: String,
    pub description_public: bool,
    pub group_id: Option<Uuid>,
    pub group_name: Option<String>,
    /// Order within its group.
    pub position: i32,
    pub pin: Option<Pin>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    description: String,
    description_public: bool,
    group_id: Option<Uuid>,
    group_name: Option<String>,
    position: i32,
    manual_status: Option<String>,
    manual_reason: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<Row> for Component {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        let pin = match row.manual_status {
            Some(status) => Some(Pin {
                status: status.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                reason: row.manual_reason.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Component {
            id: row.id,
            name: row.name,
            description: row.description,
            description_public: row.description_public,
            group_id: row.group_id,
            group_name: row.group_name,
            position: row.position,
            pin,
            created_at: to_jiff(row.created_at),
        })
    }
}

const SELECT: &str =
    "select c.id, c.name, c.description, c.description_public, c.group_id, g.name as group_name,
        c.position, c.manual_status, c.manual_reason, c.created_at
   from components c left join component_groups g on g.id = c.group_id";

/// Every component, by group position (ungrouped last), then position and name.
pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Component>, sqlx::Error> {
    let sql = format!("{SELECT} order by coalesce(g.position, 1000000), g.name, c.position, c.name");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    rows.into_iter().map(Component::try_from).collect()
}

pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Component>, sqlx::Error> {
    let sql = format!("{SELECT} where c.id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Component::try_from).transpose()
}

/// The component, locked for a change in this transaction. `no key update`: incidents that
/// name the component meanwhile (a foreign key takes `key share`) need not wait.
pub(crate) async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Component>, sqlx::Error> {
    let sql = format!("{SELECT} where c.id = $1 for no key update of c");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(tx).await?;
    row.map(Component::try_from).transpose()
}

/// What a write of a component or group ran into.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// `components_name_key` or `component_groups_name_key`.
    #[error("another component or group has this name")]
    NameTaken,
    /// `components_group_id_fkey`: the group was deleted meanwhile.
    #[error("the group no longer exists")]
    GroupGone,
    /// `incident_components_component_id_fkey`: an incident names the component.
    #[error("an incident names this component")]
    NamedByIncident,
    /// `maintenance_window_components_component_id_fkey`: a maintenance window names it.
    #[error("a maintenance window names this component")]
    NamedByMaintenance,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

fn write_error(e: sqlx::Error) -> WriteError {
    match super::constraint_violated(&e) {
        Some("components_name_key" | "component_groups_name_key") => WriteError::NameTaken,
        Some("components_group_id_fkey") => WriteError::GroupGone,
        Some("incident_components_component_id_fkey") => WriteError::NamedByIncident,
        Some("maintenance_window_components_component_id_fkey") => WriteError::NamedByMaintenance,
        _ => WriteError::Sql(e),
    }
}

/// The fields an admin edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ComponentFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub description_public: bool,
    pub group_id: Option<Uuid>,
    pub position: i32,
}

pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    c: &ComponentFields<'_>,
) -> Result<(), WriteError> {
    sqlx::query(
        "insert into components (id, group_id, name, description, description_public, position)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(c.group_id)
    .bind(c.name)
    .bind(c.description)
    .bind(c.description_public)
    .bind(c.position)
    .execute(db)
    .await
    .map_err(write_error)?;
    Ok(())
}

pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    c: &ComponentFields<'_>,
) -> Result<(), WriteError> {
    sqlx::query(
        "update components set name = $2, description = $3, description_public = $4, group_id = $5, position = $6
          where id = $1",
    )
    .bind(id)
    .bind(c.name)
    .bind(c.description)
    .bind(c.description_public)
    .bind(c.group_id)
    .bind(c.position)
    .execute(db)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Pins a status with its reason, or with `None` removes the pin.
pub(crate) async fn set_pin(db: impl PgExecutor<'_>, id: Uuid, pin: Option<&Pin>) -> Result<(), sqlx::Error> {
    sqlx::query("update components set manual_status = $2, manual_reason = $3 where id = $1")
        .bind(id)
        .bind(pin.map(|p| p.status.as_str()))
        .bind(pin.map(|p| p.reason.as_str()))
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes the component and its status history. A component an incident names stays:
/// [`WriteError::NamedByIncident`].
pub(crate) async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), WriteError> {
    sqlx::query("delete from components where id = $1").bind(id).execute(db).await.map_err(write_error)?;
    Ok(())
}

/// How many incidents name the component.
pub(crate) async fn incident_count(db: impl PgExecutor<'_>, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from incident_components where component_id = $1")
        .bind(id)
        .fetch_one(db)
        .await
}

/// A group of components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub id: Uuid,
    pub name: String,
    /// Order of the groups on the page.
    pub position: i32,
}

/// Every group, by position then name.
pub(crate) async fn groups(db: impl PgExecutor<'_>) -> Result<Vec<Group>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i32)> =
        sqlx::query_as("select id, name, position from component_groups order by position, name")
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(id, name, position)| Group { id, name, position }).collect())
}

pub(crate) async fn group_exists(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from component_groups where id = $1)")
        .bind(id)
        .fetch_one(db)
        .await
}

/// The group, locked for a change in this transaction.
pub(crate) async fn lock_group(tx: &mut PgConnection, id: Uuid) -> Result<Option<Group>, sqlx::Error> {
    let row: Option<(Uuid, String, i32)> =
        sqlx::query_as("select id, name, position from component_groups where id = $1 for no key update")
            .bind(id)
            .fetch_optional(tx)
            .await?;
    Ok(row.map(|(id, name, position)| Group { id, name, position }))
}

pub(crate) async fn insert_group(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    position: i32,
) -> Result<(), WriteError> {
    sqlx::query("insert into component_groups (id, name, position) values ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(position)
        .execute(db)
        .await
        .map_err(write_error)?;
    Ok(())
}

pub(crate) async fn update_group(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    position: i32,
) -> Result<(), WriteError> {
    sqlx::query("update component_groups set name = $2, position = $3 where id = $1")
        .bind(id)
        .bind(name)
        .bind(position)
        .execute(db)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// Deletes the group; its components stay, ungrouped.
pub(crate) async fn delete_group(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from component_groups where id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// How many components the group holds.
pub(crate) async fn member_count(db: impl PgExecutor<'_>, id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from components where group_id = $1").bind(id).fetch_one(db).await
}

/// The id of the component called `name` (any case), for `component = "API"` in the file.
pub(crate) async fn id_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from components where lower(name) = lower($1)")
        .bind(name)
        .fetch_optional(db)
        .await
}
