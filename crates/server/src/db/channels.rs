//! The notification channels (`notification_channels`): Slack, signed webhook and PagerDuty
//! targets with their per-severity routing.

use serde_json::Value;
use sqlx::PgExecutor;
use twisterlab_domain::notification::{ChannelKind, EventKind, Routing};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::config::Secret;

/// One channel.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub(crate) id: Uuid,
    pub(crate) kind: ChannelKind,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// Set for the channel configured by `TWISTERLAB_*` settings (`slack`, `webhook`,
    /// `pagerduty`): its URL and secret come from the configuration, never from this row.
    pub(crate) config_key: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) secret: Option<Secret>,
    pub(crate) routing: Routing,
}

impl Channel {
    /// Whether the URL and secret come from the configuration rather than this row.
    pub(crate) fn is_configured(&self) -> bool {
        self.config_key.is_some()
    }
}

/// The unique constraint on channel names.
const NAME_KEY: &str = "notification_channels_name_key";

/// Another channel already has the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NameTaken;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    name: String,
    enabled: bool,
    config_key: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    routes: Value,
}

impl TryFrom<Row> for Channel {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        let kind = ChannelKind::parse(&r.kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown channel kind {:?}", r.kind).into()))?;
        Ok(Channel {
            id: r.id,
            kind,
            name: r.name,
            enabled: r.enabled,
            config_key: r.config_key,
            url: r.url,
            secret: r.secret.map(Secret::new),
            routing: Routing::from_json(&r.routes),
        })
    }
}

const COLUMNS: &str = "id, kind, name, enabled, config_key, url, secret, routes";

/// Every channel, configured ones first, then by name.
pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels order by config_key is null, name");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// One channel.
pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels where id = $1");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Channel::try_from).transpose()
}

/// Locks a channel for an edit.
pub(crate) async fn find_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Channel>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from notification_channels where id = $1 for update");
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(db).await?;
    row.map(Channel::try_from).transpose()
}

/// The enabled channels that take `event` at `severity`.
pub(crate) async fn subscribed(
    db: impl PgExecutor<'_>,
    severity: Severity,
    event: EventKind,
) -> Result<Vec<Channel>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from notification_channels
          where enabled and routes @> jsonb_build_object($1::text, jsonb_build_array($2::text))
          order by config_key is null, name"
    );
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(severity.as_str())
        .bind(event.as_str())
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// A channel's editable fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelDraft<'a> {
    pub(crate) kind: ChannelKind,
    pub(crate) name: &'a str,
    pub(crate) enabled: bool,
    pub(crate) url: Option<&'a str>,
    pub(crate) secret: Option<&'a str>,
    pub(crate) routing: &'a Routing,
}

/// A taken name as [`NameTaken`]; any other error as it is. The failed statement aborts the
/// transaction it ran in.
fn name_taken<T>(result: Result<T, sqlx::Error>) -> Result<Result<T, NameTaken>, sqlx::Error> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(e) if super::constraint_violated(&e) == Some(NAME_KEY) => Ok(Err(NameTaken)),
        Err(e) => Err(e),
    }
}

/// Inserts a channel; returns its id.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    d: &ChannelDraft<'_>,
) -> Result<Result<Uuid, NameTaken>, sqlx::Error> {
    let id = Uuid::now_v7();
    let result = sqlx::query(
        "insert into notification_channels (id, kind, name, enabled, url, secret, routes)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(d.kind.as_str())
    .bind(d.name)
    .bind(d.enabled)
    .bind(d.url)
    .bind(d.secret)
    .bind(d.routing.to_json())
    .execute(db)
    .await;
    name_taken(result.map(|_| id))
}

/// Updates a channel (its kind never changes).
pub(crate) async fn update(
    db: impl PgExecutor<'_>,
    id: Uuid,
    d: &ChannelDraft<'_>,
) -> Result<Result<(), NameTaken>, sqlx::Error> {
    let result = sqlx::query(
        "update notification_channels set name = $2, enabled = $3, url = $4, secret = $5, routes = $6, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(d.name)
    .bind(d.enabled)
    .bind(d.url)
    .bind(d.secret)
    .bind(d.routing.to_json())
    .execute(db)
    .await;
    name_taken(result.map(|_| ()))
}

/// Deletes a channel and its outbox rows; returns whether it existed.
pub(crate) async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from notification_channels where id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

/// Adds the channel the configuration names under `config_key` unless it exists (by key or by
/// name), with `routing`; returns whether it was added. Safe to run from several processes.
pub(crate) async fn insert_configured(
    db: impl PgExecutor<'_>,
    config_key: &str,
    kind: ChannelKind,
    name: &str,
    routing: &Routing,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into notification_channels (id, kind, name, config_key, routes)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(kind.as_str())
    .bind(name)
    .bind(config_key)
    .bind(routing.to_json())
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}
