//! Status-page components and their groups: the `components` and `component_groups` tables.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A component as pickers and the status page list it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Component {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub group_name: Option<String>,
    pub manual_status: Option<String>,
    pub manual_reason: Option<String>,
}

/// Every component, by group position then component position.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Component>, sqlx::Error> {
    sqlx::query_as(
        "select c.id, c.name, c.description, g.name as group_name, c.manual_status, c.manual_reason
           from components c left join component_groups g on g.id = c.group_id
          order by coalesce(g.position, 1000000), c.position, c.name",
    )
    .fetch_all(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Component>, sqlx::Error> {
    sqlx::query_as(
        "select c.id, c.name, c.description, g.name as group_name, c.manual_status, c.manual_reason
           from components c left join component_groups g on g.id = c.group_id where c.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The id of the component called `name` (any case), for `component = "API"` in the file.
pub async fn id_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from components where lower(name) = lower($1)")
        .bind(name)
        .fetch_optional(db)
        .await
}
