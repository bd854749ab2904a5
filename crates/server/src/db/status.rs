//! What the public status page reads, and the recorded history of each component's public
//! status (`component_status_history`).
//!
//! Only public facts leave the page reads: private incidents are filtered in SQL, timeline
//! events are limited to public updates plus the fact of resolving or reopening, and component
//! descriptions come through only when marked public. Nothing here selects a user, an actor
//! label, a note, a summary or a pin's reason.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use twisterlab_domain::incident::{ComponentStatus, Impact, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use twisterlab_domain::status::Change;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// Advisory lock that serialises history recording across transactions and portal processes
/// ("twlstatu" in ASCII), so a change is never recorded twice and an older reading never lands
/// after a newer one.
const HISTORY_LOCK: i64 = 0x7477_6c73_7461_7475;

/// The channel status-relevant changes notify; every process's status page worker listens.
pub(crate) const CHANNEL: &str = "twisterlab_status";

fn decode<T: std::str::FromStr>(value: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse::<T>().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

// ---------------------------------------------------------------------------------------------
// The page's reads.

/// A read-only transaction on one snapshot, so every read of a rebuild agrees with the others
/// and none of them can write.
pub(crate) async fn begin_snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin_with("begin isolation level repeatable read, read only").await
}

/// The database's clock (the transaction's start).
pub(crate) async fn now(db: impl PgExecutor<'_>) -> Result<Timestamp, sqlx::Error> {
    let now: OffsetDateTime = sqlx::query_scalar("select now()").fetch_one(db).await?;
    Ok(to_jiff(now))
}

/// A component as the status page reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicComponent {
    pub id: Uuid,
    pub name: String,
    /// Only a description an admin marked public (and that says something).
    pub description: Option<String>,
    pub group_id: Option<Uuid>,
    pub position: i32,
    /// The pinned status (its reason stays internal and is not read).
    pub pinned: Option<ComponentStatus>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct PublicComponentRow {
    id: Uuid,
    name: String,
    description: String,
    description_public: bool,
    group_id: Option<Uuid>,
    position: i32,
    manual_status: Option<String>,
    created_at: OffsetDateTime,
}

/// Every component, by group position (ungrouped last), then position and name.
pub(crate) async fn components(db: impl PgExecutor<'_>) -> Result<Vec<PublicComponent>, sqlx::Error> {
    let rows: Vec<PublicComponentRow> = sqlx::query_as(
        "select c.id, c.name, c.description, c.description_public, c.group_id, c.position, c.manual_status, c.created_at
           from components c left join component_groups g on g.id = c.group_id
          order by coalesce(g.position, 1000000), g.name, c.position, c.name",
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(PublicComponent {
                id: row.id,
                name: row.name,
                description: (row.description_public && !row.description.trim().is_empty())
                    .then_some(row.description),
                group_id: row.group_id,
                position: row.position,
                pinned: row.manual_status.as_deref().map(decode).transpose()?,
                created_at: to_jiff(row.created_at),
            })
        })
        .collect()
}

/// The impacts of open public incidents on each component (of `only`, or of every component):
/// the incident signals of the roll-up. Private incidents never count.
pub(crate) async fn open_impacts(
    db: impl PgExecutor<'_>,
    only: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<Impact>>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select ic.component_id, ic.impact from incidents i join incident_components ic on ic.incident_id = i.id
          where i.status <> 'resolved' and not i.private and ($1::uuid[] is null or ic.component_id = any($1))",
    )
    .bind(only)
    .fetch_all(db)
    .await?;
    let mut impacts: HashMap<Uuid, Vec<Impact>> = HashMap::new();
    for (component_id, impact) in rows {
        impacts.entry(component_id).or_default().push(decode(&impact)?);
    }
    Ok(impacts)
}

/// Each component's recorded changes from `since` on, oldest first, preceded by the last change
/// before `since` (the status the window starts with).
pub(crate) async fn history(
    db: impl PgExecutor<'_>,
    since: Timestamp,
) -> Result<HashMap<Uuid, Vec<Change>>, sqlx::Error> {
    let rows: Vec<(Uuid, String, OffsetDateTime)> = sqlx::query_as(
        "select component_id, status, at from (
             select distinct on (component_id) component_id, status, at, id from component_status_history
              where at < $1 order by component_id, at desc, id desc) before_window
         union all
         select component_id, status, at from (
             select component_id, status, at, id from component_status_history where at >= $1) in_window
         order by 1, 3",
    )
    .bind(from_jiff(since))
    .fetch_all(db)
    .await?;
    let mut changes: HashMap<Uuid, Vec<Change>> = HashMap::new();
    for (component_id, status, at) in rows {
        changes.entry(component_id).or_default().push(Change { at: to_jiff(at), status: decode(&status)? });
    }
    Ok(changes)
}

/// A public incident's own facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicIncident {
    pub id: Uuid,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: Severity,
    pub started_at: Timestamp,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: Uuid,
    title: String,
    status: String,
    severity: String,
    started_at: OffsetDateTime,
    created_at: OffsetDateTime,
    resolved_at: Option<OffsetDateTime>,
}

fn public_incident(row: IncidentRow) -> Result<PublicIncident, sqlx::Error> {
    Ok(PublicIncident {
        id: row.id,
        title: row.title,
        status: decode(&row.status)?,
        severity: decode(&row.severity)?,
        started_at: to_jiff(row.started_at),
        created_at: to_jiff(row.created_at),
        resolved_at: row.resolved_at.map(to_jiff),
    })
}

/// The public incidents the status page shows: every open one, whatever its age, and the
/// `resolved_limit` most recently resolved since `resolved_since`; newest start first. Both
/// halves are read through partial indexes (migration 0040), so the cost does not grow with
/// the number of past incidents.
pub(crate) async fn page_incidents(
    db: impl PgExecutor<'_>,
    resolved_since: Timestamp,
    resolved_limit: i64,
) -> Result<Vec<PublicIncident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "(select id, title, status, severity, started_at, created_at, resolved_at, number from incidents where not private and status <> 'resolved')
         union all
         (select id, title, status, severity, started_at, created_at, resolved_at, number from incidents
           where not private and status = 'resolved' and resolved_at >= $1
           order by resolved_at desc, number desc limit $2)
         order by started_at desc, number desc",
    )
    .bind(from_jiff(resolved_since))
    .bind(resolved_limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(public_incident).collect()
}

/// Where a page of the public history starts: the start and number of the public incident
/// `id` (the last one of the page before); `None` for an unknown or private incident.
pub(crate) async fn history_cursor(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<(Timestamp, i64)>, sqlx::Error> {
    let row: Option<(OffsetDateTime, i64)> =
        sqlx::query_as("select started_at, number::bigint from incidents where id = $1 and not private")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(at, number)| (to_jiff(at), number)))
}

/// One page of the public history: up to `limit` public incidents started before `cursor`
/// (a start and number from [`history_cursor`]), or the newest ones; newest start first.
pub(crate) async fn history_incidents(
    db: impl PgExecutor<'_>,
    cursor: Option<(Timestamp, i64)>,
    limit: i64,
) -> Result<Vec<PublicIncident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "select id, title, status, severity, started_at, created_at, resolved_at, number from incidents
          where not private and ($1::timestamptz is null or (started_at, number) < ($1, $2))
          order by started_at desc, number desc limit $3",
    )
    .bind(cursor.map(|(at, _)| from_jiff(at)))
    .bind(cursor.map_or(0, |(_, number)| number))
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(public_incident).collect()
}

/// One public incident (an old one's own page); `None` when unknown or private.
pub(crate) async fn incident(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<PublicIncident>, sqlx::Error> {
    let row: Option<IncidentRow> = sqlx::query_as(
        "select id, title, status, severity, started_at, created_at, resolved_at, number from incidents where id = $1 and not private",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(public_incident).transpose()
}

/// A public timeline event: a public update (or its correction), or the fact of a resolve or
/// reopen (those events' own data names people, so only their kind and time are read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicEvent {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub at: Timestamp,
    pub kind: TimelineKind,
    /// Markdown of a public update.
    pub body: Option<String>,
    /// What the update announced: investigating, identified, monitoring or resolved.
    pub public_status: Option<String>,
    /// The update this one corrects.
    pub corrects_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    incident_id: Uuid,
    at: OffsetDateTime,
    kind: String,
    body: Option<String>,
    public_status: Option<String>,
    corrects_id: Option<Uuid>,
}

/// The public events of the public incidents `ids`, oldest first.
pub(crate) async fn events(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<Vec<PublicEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "select e.id, e.incident_id, e.at, e.kind,
                case when e.kind = 'public_update' then e.body end as body,
                case when e.kind = 'public_update' then e.public_status end as public_status,
                e.corrects_id
           from timeline_events e join incidents i on i.id = e.incident_id
          where e.incident_id = any($1) and not i.private
            and ((e.kind = 'public_update' and e.public) or e.kind in ('resolved', 'reopened'))
          order by e.at, e.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(PublicEvent {
                id: row.id,
                incident_id: row.incident_id,
                at: to_jiff(row.at),
                kind: decode(&row.kind)?,
                body: row.body,
                public_status: row.public_status,
                corrects_id: row.corrects_id,
            })
        })
        .collect()
}

/// The components each public incident of `ids` affects and how, by component position and name.
pub(crate) async fn affected(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<(Uuid, Impact)>>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "select ic.incident_id, ic.component_id, ic.impact
           from incident_components ic join incidents i on i.id = ic.incident_id
           join components c on c.id = ic.component_id
          where ic.incident_id = any($1) and not i.private order by c.position, c.name",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut affected: HashMap<Uuid, Vec<(Uuid, Impact)>> = HashMap::new();
    for (incident_id, component_id, impact) in rows {
        affected.entry(incident_id).or_default().push((component_id, decode(&impact)?));
    }
    Ok(affected)
}

// ---------------------------------------------------------------------------------------------
// Recording the history, where a status changes.

/// Takes the history lock until the transaction ends. Reads after it see every change recorded
/// before (READ COMMITTED takes a new snapshot per statement).
pub(crate) async fn lock_history(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock($1)").bind(HISTORY_LOCK).execute(&mut *tx).await?;
    Ok(())
}

/// What the history knows of a component: its pin and its last recorded status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub pinned: Option<ComponentStatus>,
    /// `None` before the first row.
    pub last: Option<ComponentStatus>,
}

/// The pin and last recorded status of each existing component of `ids` (of every component
/// when `ids` is `None`).
pub(crate) async fn recorded(
    db: impl PgExecutor<'_>,
    ids: Option<&[Uuid]>,
) -> Result<Vec<(Uuid, Recorded)>, sqlx::Error> {
    let rows: Vec<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
        "select c.id, c.manual_status,
                (select h.status from component_status_history h
                  where h.component_id = c.id order by h.at desc, h.id desc limit 1)
           from components c where $1::uuid[] is null or c.id = any($1) order by c.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(id, pinned, last)| {
            Ok((
                id,
                Recorded {
                    pinned: pinned.as_deref().map(decode).transpose()?,
                    last: last.as_deref().map(decode).transpose()?,
                },
            ))
        })
        .collect()
}

/// Appends one history row per entry, at the statement's clock (not the transaction's start:
/// a transaction that waited for the history lock records after the one it waited for).
pub(crate) async fn append_history(
    db: impl PgExecutor<'_>,
    entries: &[(Uuid, ComponentStatus)],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = entries.iter().map(|(id, _)| *id).collect();
    let statuses: Vec<&str> = entries.iter().map(|(_, s)| s.as_str()).collect();
    sqlx::query(
        "insert into component_status_history (component_id, status, at)
         select id, status, clock_timestamp() from unnest($1::uuid[], $2::text[]) as c(id, status)",
    )
    .bind(&ids)
    .bind(&statuses)
    .execute(db)
    .await?;
    Ok(())
}

/// The components an incident affects (any impact), for recording after its status changed.
pub(crate) async fn components_of_incident(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select component_id from incident_components where incident_id = $1")
        .bind(incident_id)
        .fetch_all(db)
        .await
}

/// Tells every portal process that something the status page shows has changed (delivered at
/// commit, so a rolled-back change never triggers a rebuild).
pub(crate) async fn notify(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(CHANNEL).execute(db).await?;
    Ok(())
}
