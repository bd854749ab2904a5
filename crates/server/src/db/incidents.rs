//! Incidents, their components, links and timeline: the `incidents`, `incident_components`,
//! `incident_links` and `timeline_events` tables, and the notice that the status page changed.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// A user as incidents show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: Uuid,
    pub display_name: String,
    pub email: String,
}

/// An incident with its people resolved.
#[derive(Clone, Debug)]
pub struct Incident {
    pub id: Uuid,
    pub number: IncidentNumber,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub private: bool,
    pub security: bool,
    pub started_at: Timestamp,
    pub detected_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub commander: Option<Person>,
    pub comms_lead: Option<Person>,
    pub scribe: Option<Person>,
    pub labels: Vec<String>,
    pub respond_by: Timestamp,
    pub escalate_by: Timestamp,
    pub version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: i64,
    title: String,
    summary: String,
    severity: String,
    status: String,
    private: bool,
    security: bool,
    started_at: OffsetDateTime,
    detected_at: OffsetDateTime,
    acknowledged_at: Option<OffsetDateTime>,
    resolved_at: Option<OffsetDateTime>,
    commander_id: Option<Uuid>,
    commander_name: Option<String>,
    commander_email: Option<String>,
    comms_lead_id: Option<Uuid>,
    comms_lead_name: Option<String>,
    comms_lead_email: Option<String>,
    scribe_id: Option<Uuid>,
    scribe_name: Option<String>,
    scribe_email: Option<String>,
    labels: Vec<String>,
    respond_by: OffsetDateTime,
    escalate_by: OffsetDateTime,
    version: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

fn person(id: Option<Uuid>, name: Option<String>, email: Option<String>) -> Option<Person> {
    Some(Person { id: id?, display_name: name.unwrap_or_default(), email: email.unwrap_or_default() })
}

fn decode<T: std::str::FromStr>(value: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse::<T>().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl TryFrom<Row> for Incident {
    type Error = sqlx::Error;
    fn try_from(r: Row) -> Result<Self, Self::Error> {
        Ok(Incident {
            id: r.id,
            number: IncidentNumber::new(r.number).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            title: r.title,
            summary: r.summary,
            severity: decode(&r.severity)?,
            status: decode(&r.status)?,
            private: r.private,
            security: r.security,
            started_at: to_jiff(r.started_at),
            detected_at: to_jiff(r.detected_at),
            acknowledged_at: r.acknowledged_at.map(to_jiff),
            resolved_at: r.resolved_at.map(to_jiff),
            commander: person(r.commander_id, r.commander_name, r.commander_email),
            comms_lead: person(r.comms_lead_id, r.comms_lead_name, r.comms_lead_email),
            scribe: person(r.scribe_id, r.scribe_name, r.scribe_email),
            labels: r.labels,
            respond_by: to_jiff(r.respond_by),
            escalate_by: to_jiff(r.escalate_by),
            version: r.version,
            created_at: to_jiff(r.created_at),
            updated_at: to_jiff(r.updated_at),
        })
    }
}

const SELECT: &str = "select i.id, i.number, i.title, i.summary, i.severity, i.status, i.private, i.security,
        i.started_at, i.detected_at, i.acknowledged_at, i.resolved_at,
        i.commander_id, c.display_name as commander_name, c.email as commander_email,
        i.comms_lead_id, cl.display_name as comms_lead_name, cl.email as comms_lead_email,
        i.scribe_id, s.display_name as scribe_name, s.email as scribe_email,
        i.labels, i.respond_by, i.escalate_by, i.version, i.created_at, i.updated_at
   from incidents i
   left join users c on c.id = i.commander_id
   left join users cl on cl.id = i.comms_lead_id
   left join users s on s.id = i.scribe_id";

/// A new incident's fields (validated by the caller).
pub(crate) struct NewIncident<'a> {
    pub title: &'a str,
    pub summary: &'a str,
    pub severity: Severity,
    pub private: bool,
    pub security: bool,
    pub started_at: Timestamp,
    pub detected_at: Timestamp,
    pub commander_id: Option<Uuid>,
    pub labels: &'a [String],
    pub respond_by: Timestamp,
    pub escalate_by: Timestamp,
    pub created_by: Option<Uuid>,
}

/// Inserts an incident (status `triggered`) and returns its id and number.
pub(crate) async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewIncident<'_>,
) -> Result<(Uuid, i64), sqlx::Error> {
    let id = Uuid::now_v7();
    let number: i64 = sqlx::query_scalar(
        "insert into incidents (id, title, summary, severity, status, private, security, started_at, detected_at, commander_id,
                                labels, respond_by, escalate_by, created_by)
         values ($1, $2, $3, $4, 'triggered', $5, $6, $7, $8, $9, $10, $11, $12, $13)
         returning number",
    )
    .bind(id)
    .bind(new.title)
    .bind(new.summary)
    .bind(new.severity.as_str())
    .bind(new.private)
    .bind(new.security)
    .bind(from_jiff(new.started_at))
    .bind(from_jiff(new.detected_at))
    .bind(new.commander_id)
    .bind(new.labels)
    .bind(from_jiff(new.respond_by))
    .bind(from_jiff(new.escalate_by))
    .bind(new.created_by)
    .fetch_one(db)
    .await?;
    Ok((id, number))
}

/// The incident with this number.
pub(crate) async fn find(
    db: impl PgExecutor<'_>,
    number: IncidentNumber,
) -> Result<Option<Incident>, sqlx::Error> {
    let sql = format!("{SELECT} where i.number = $1");
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(number.get()).fetch_optional(db).await?;
    row.map(Incident::try_from).transpose()
}

/// Locks the incident row for a change; concurrent changes queue behind the lock.
pub(crate) async fn lock(
    db: impl PgExecutor<'_>,
    number: IncidentNumber,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from incidents where number = $1 for update")
        .bind(number.get())
        .fetch_optional(db)
        .await
}

/// Every field a change may set; `None` leaves a field as it is.
#[derive(Default)]
pub(crate) struct Changes {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub acknowledged_at: Option<Option<Timestamp>>,
    pub resolved_at: Option<Option<Timestamp>>,
    pub commander_id: Option<Option<Uuid>>,
    pub comms_lead_id: Option<Option<Uuid>>,
    pub scribe_id: Option<Option<Uuid>>,
    pub deadlines: Option<(Timestamp, Timestamp)>,
    pub private: Option<bool>,
    pub title: Option<String>,
    pub summary: Option<String>,
}

/// Applies `changes` and bumps the version.
pub(crate) async fn update(db: impl PgExecutor<'_>, id: Uuid, changes: &Changes) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update incidents set
             status = coalesce($2, status),
             severity = coalesce($3, severity),
             acknowledged_at = case when $4 then $5 else acknowledged_at end,
             resolved_at = case when $6 then $7 else resolved_at end,
             commander_id = case when $8 then $9 else commander_id end,
             comms_lead_id = case when $10 then $11 else comms_lead_id end,
             scribe_id = case when $12 then $13 else scribe_id end,
             respond_by = coalesce($14, respond_by),
             escalate_by = coalesce($15, escalate_by),
             private = coalesce($16, private),
             title = coalesce($17, title),
             summary = coalesce($18, summary),
             version = version + 1,
             updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(changes.status.map(|s| s.as_str()))
    .bind(changes.severity.map(|s| s.as_str()))
    .bind(changes.acknowledged_at.is_some())
    .bind(changes.acknowledged_at.flatten().map(from_jiff))
    .bind(changes.resolved_at.is_some())
    .bind(changes.resolved_at.flatten().map(from_jiff))
    .bind(changes.commander_id.is_some())
    .bind(changes.commander_id.flatten())
    .bind(changes.comms_lead_id.is_some())
    .bind(changes.comms_lead_id.flatten())
    .bind(changes.scribe_id.is_some())
    .bind(changes.scribe_id.flatten())
    .bind(changes.deadlines.map(|d| from_jiff(d.0)))
    .bind(changes.deadlines.map(|d| from_jiff(d.1)))
    .bind(changes.private)
    .bind(changes.title.as_deref())
    .bind(changes.summary.as_deref())
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the incident as touched by an append (note, public update, link, correction) without
/// bumping its version: appends never make another person's open form stale.
pub(crate) async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update incidents set updated_at = now() where id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// A manager escalation that fired: when, and who was paged (`None`: nobody on call).
#[derive(Clone, Debug)]
pub(crate) struct Escalation {
    pub at: Timestamp,
    pub to: Option<String>,
}

/// The latest fired manager escalation of each of `ids`, from their timelines.
pub(crate) async fn manager_escalations(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Escalation>, sqlx::Error> {
    let rows: Vec<(Uuid, OffsetDateTime, Option<String>)> = sqlx::query_as(
        "select distinct on (incident_id) incident_id, at, data->>'user'
           from timeline_events
          where incident_id = any($1) and kind = 'escalated' and data->>'to' = 'manager'
          order by incident_id, at desc",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, at, to)| (id, Escalation { at: to_jiff(at), to })).collect())
}

/// Filters of the incident list; every one optional.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListFilter {
    /// `Some(true)`: open only; `Some(false)`: resolved only.
    pub open: Option<bool>,
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub commander_id: Option<Uuid>,
    pub started_from: Option<Timestamp>,
    pub started_until: Option<Timestamp>,
    /// Words that must all appear in title or summary.
    pub text: Option<String>,
    /// Leave out private incidents (for the public status page and its API).
    pub public_only: bool,
}

/// Position after the last row of a page: open first, then newest start, then number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub resolved: bool,
    pub started_at: Timestamp,
    pub number: i64,
}

impl Cursor {
    pub(crate) fn of(incident: &Incident) -> Self {
        Self {
            resolved: incident.status == IncidentStatus::Resolved,
            started_at: incident.started_at,
            number: incident.number.get(),
        }
    }

    /// The shape of an encoded cursor, for the API's document.
    pub(crate) const PATTERN: &'static str = r"^[01]\.-?[0-9]{1,19}\.[0-9]{1,18}$";

    /// Compact text for a query string: `<0|1>.<unix nanos>.<number>`.
    pub(crate) fn encode(&self) -> String {
        format!("{}.{}.{}", u8::from(self.resolved), self.started_at.as_nanosecond(), self.number)
    }

    /// Reads what [`Cursor::encode`] wrote; the API documents the shape as [`Cursor::PATTERN`],
    /// and every text of that shape decodes.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let digits =
            |t: &str, max: usize| !t.is_empty() && t.len() <= max && t.bytes().all(|b| b.is_ascii_digit());
        let mut parts = text.split('.');
        let resolved = match parts.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let nanos = parts.next()?;
        if !digits(nanos.strip_prefix('-').unwrap_or(nanos), 19) {
            return None;
        }
        let nanos: i128 = nanos.parse().ok()?;
        let number = parts.next()?;
        if !digits(number, 18) {
            return None;
        }
        let number: i64 = number.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let started_at = Timestamp::from_nanosecond(nanos).ok()?;
        Some(Self { resolved, started_at, number })
    }
}

/// One page of incidents matching `filter`, open first, newest first; keyset-paginated.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    filter: &ListFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    let sql = format!(
        "{SELECT}
          where ($1::boolean is null or (i.status <> 'resolved') = $1)
            and ($2::text is null or i.status = $2)
            and ($3::text is null or i.severity = $3)
            and ($4::uuid is null or i.commander_id = $4)
            and ($5::timestamptz is null or i.started_at >= $5)
            and ($6::timestamptz is null or i.started_at < $6)
            and ($7::text is null or i.search @@ plainto_tsquery('simple', $7))
            and (not $8 or not i.private)
            and ($9::boolean is null or ((i.status <> 'resolved'), i.started_at, i.number) < (not $9, $10, $11))
          order by (i.status <> 'resolved') desc, i.started_at desc, i.number desc
          limit $12"
    );
    // Not a prepared statement: with a cached generic plan the optional filters defeat the
    // index after a few runs (a sequential scan over every incident); a fresh plan per call
    // uses the index for whichever filters are set.
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .bind(filter.open)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.severity.map(|s| s.as_str()))
        .bind(filter.commander_id)
        .bind(filter.started_from.map(from_jiff))
        .bind(filter.started_until.map(from_jiff))
        .bind(filter.text.as_deref().filter(|t| !t.trim().is_empty()))
        .bind(filter.public_only)
        .bind(after.map(|c| c.resolved))
        .bind(after.map(|c| from_jiff(c.started_at)))
        .bind(after.map(|c| c.number))
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.into_iter().map(Incident::try_from).collect()
}

/// A component affected by an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AffectedComponent {
    pub component_id: Uuid,
    pub name: String,
    pub impact: Impact,
}

pub(crate) async fn components(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<AffectedComponent>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "select c.id, c.name, ic.impact from incident_components ic join components c on c.id = ic.component_id
          where ic.incident_id = $1 order by c.position, c.name",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(component_id, name, impact)| {
            Ok(AffectedComponent { component_id, name, impact: decode(&impact)? })
        })
        .collect()
}

/// Sets (or with `None` removes) a component's impact; returns the previous impact.
pub(crate) async fn set_component_impact(
    db: &mut sqlx::PgConnection,
    incident_id: Uuid,
    component_id: Uuid,
    impact: Option<Impact>,
) -> Result<Option<Impact>, sqlx::Error> {
    let before: Option<String> = sqlx::query_scalar(
        "select impact from incident_components where incident_id = $1 and component_id = $2",
    )
    .bind(incident_id)
    .bind(component_id)
    .fetch_optional(&mut *db)
    .await?;
    match impact {
        Some(impact) => {
            sqlx::query(
                "insert into incident_components (incident_id, component_id, impact) values ($1, $2, $3)
                 on conflict (incident_id, component_id) do update set impact = excluded.impact",
            )
            .bind(incident_id)
            .bind(component_id)
            .bind(impact.as_str())
            .execute(&mut *db)
            .await?;
        }
        None => {
            sqlx::query("delete from incident_components where incident_id = $1 and component_id = $2")
                .bind(incident_id)
                .bind(component_id)
                .execute(&mut *db)
                .await?;
        }
    }
    before.map(|b| decode(&b)).transpose()
}

/// A link attached to an incident.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub id: Uuid,
    pub kind: String,
    pub url: String,
    pub label: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: Uuid,
    kind: String,
    url: String,
    label: String,
    created_at: OffsetDateTime,
}

pub(crate) async fn links(db: impl PgExecutor<'_>, incident_id: Uuid) -> Result<Vec<Link>, sqlx::Error> {
    let rows: Vec<LinkRow> = sqlx::query_as(
        "select id, kind, url, label, created_at from incident_links where incident_id = $1 order by created_at",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Link {
            id: r.id,
            kind: r.kind,
            url: r.url,
            label: r.label,
            created_at: to_jiff(r.created_at),
        })
        .collect())
}

pub(crate) async fn insert_link(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    kind: &str,
    url: &str,
    label: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("insert into incident_links (id, incident_id, kind, url, label) values ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(incident_id)
        .bind(kind)
        .bind(url)
        .bind(label)
        .execute(db)
        .await?;
    Ok(id)
}

/// One timeline event.
#[derive(Clone, Debug)]
pub struct TimelineEvent {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub actor_user_id: Option<Uuid>,
    pub actor_label: String,
    pub body: Option<String>,
    pub data: Value,
    pub public: bool,
    pub public_status: Option<String>,
    pub corrects_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    incident_id: Uuid,
    at: OffsetDateTime,
    kind: String,
    actor_user_id: Option<Uuid>,
    actor_label: String,
    body: Option<String>,
    data: Value,
    public: bool,
    public_status: Option<String>,
    corrects_id: Option<Uuid>,
}

impl TryFrom<EventRow> for TimelineEvent {
    type Error = sqlx::Error;
    fn try_from(r: EventRow) -> Result<Self, Self::Error> {
        Ok(TimelineEvent {
            id: r.id,
            incident_id: r.incident_id,
            at: to_jiff(r.at),
            kind: decode(&r.kind)?,
            actor_user_id: r.actor_user_id,
            actor_label: r.actor_label,
            body: r.body,
            data: r.data,
            public: r.public,
            public_status: r.public_status,
            corrects_id: r.corrects_id,
        })
    }
}

/// A new timeline event.
pub(crate) struct NewEvent<'a> {
    pub incident_id: Uuid,
    pub kind: TimelineKind,
    pub actor_user_id: Option<Uuid>,
    pub actor_label: &'a str,
    pub body: Option<&'a str>,
    pub data: Value,
    pub public: bool,
    pub public_status: Option<&'a str>,
    pub corrects_id: Option<Uuid>,
}

pub(crate) async fn append(
    db: impl PgExecutor<'_>,
    event: &NewEvent<'_>,
) -> Result<TimelineEvent, sqlx::Error> {
    let row: EventRow = sqlx::query_as(
        "insert into timeline_events (id, incident_id, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id,
                                      incident_version)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, (select version from incidents where id = $2))
         returning id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id",
    )
    .bind(Uuid::now_v7())
    .bind(event.incident_id)
    .bind(event.kind.as_str())
    .bind(event.actor_user_id)
    .bind(event.actor_label)
    .bind(event.body)
    .bind(&event.data)
    .bind(event.public)
    .bind(event.public_status)
    .bind(event.corrects_id)
    .fetch_one(db)
    .await?;
    TimelineEvent::try_from(row)
}

/// Timeline filters.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimelineFilter {
    pub kind: Option<TimelineKind>,
    pub actor_user_id: Option<Uuid>,
    pub public_only: bool,
}

/// An incident's events, oldest first.
pub(crate) async fn timeline(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    filter: &TimelineFilter,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
           from timeline_events
          where incident_id = $1
            and ($2::text is null or kind = $2)
            and ($3::uuid is null or actor_user_id = $3)
            and (not $4 or public)
          order by at, id",
    )
    .bind(incident_id)
    .bind(filter.kind.map(|k| k.as_str()))
    .bind(filter.actor_user_id)
    .bind(filter.public_only)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(TimelineEvent::try_from).collect()
}

/// Which way a page of the timeline reads from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimelineWindow {
    /// The page's order: newest first rather than oldest first.
    pub newest_first: bool,
    /// Read towards the end of that order (the next page) rather than back (the previous one).
    pub forward: bool,
    /// The event the page continues from (exclusive), by its time and id.
    pub cursor: Option<(Timestamp, Uuid)>,
    /// Events skipped before the page (only to open the page that contains an event).
    pub offset: i64,
    pub limit: i64,
}

/// One window of an incident's events matching `filter` (keyset on time and id; the index
/// `timeline_events_incident_idx` serves both orders), in the order it was read: a backward
/// read comes newest-to-cursor first and the caller reverses it.
pub(crate) async fn timeline_window(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    filter: &TimelineFilter,
    window: &TimelineWindow,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let ascending = window.newest_first != window.forward;
    let (cmp, dir) = if ascending { (">", "asc") } else { ("<", "desc") };
    // Only the two constant fragments above are spliced in; every value is bound.
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
           from timeline_events
          where incident_id = $1
            and ($2::text is null or kind = $2)
            and ($3::uuid is null or actor_user_id = $3)
            and (not $4 or public)
            and ($5::timestamptz is null or (at, id) {cmp} ($5, $6))
          order by at {dir}, id {dir} offset $7 limit $8"
    )))
    .bind(incident_id)
    .bind(filter.kind.map(|k| k.as_str()))
    .bind(filter.actor_user_id)
    .bind(filter.public_only)
    .bind(window.cursor.map(|(at, _)| from_jiff(at)))
    .bind(window.cursor.map(|(_, id)| id))
    .bind(window.offset)
    .bind(window.limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(TimelineEvent::try_from).collect()
}

/// How many of an incident's events matching `filter` come before the event at `(at, id)` in
/// the page order (older ones, or newer ones when `newest_first`).
pub(crate) async fn timeline_position(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    filter: &TimelineFilter,
    newest_first: bool,
    (at, id): (Timestamp, Uuid),
) -> Result<i64, sqlx::Error> {
    let cmp = if newest_first { ">" } else { "<" };
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from timeline_events
          where incident_id = $1
            and ($2::text is null or kind = $2)
            and ($3::uuid is null or actor_user_id = $3)
            and (not $4 or public)
            and (at, id) {cmp} ($5, $6)"
    )))
    .bind(incident_id)
    .bind(filter.kind.map(|k| k.as_str()))
    .bind(filter.actor_user_id)
    .bind(filter.public_only)
    .bind(from_jiff(at))
    .bind(id)
    .fetch_one(db)
    .await
}

/// An incident's pages to people (notified and escalated events), oldest first: whether
/// anybody was reached, whatever page of the timeline is shown.
pub(crate) async fn page_events(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
           from timeline_events where incident_id = $1 and kind in ('notified', 'escalated') order by at, id",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(TimelineEvent::try_from).collect()
}

/// One event of an incident.
pub(crate) async fn event(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    id: Uuid,
) -> Result<Option<TimelineEvent>, sqlx::Error> {
    let row: Option<EventRow> = sqlx::query_as(
        "select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
           from timeline_events where incident_id = $1 and id = $2",
    )
    .bind(incident_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(TimelineEvent::try_from).transpose()
}

/// Events written by changes after the incident had version `seen`, oldest first (to tell an
/// editor with a stale page exactly what changed).
pub(crate) async fn events_after_version(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    seen: i32,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "select id, incident_id, at, kind, actor_user_id, actor_label, body, data, public, public_status, corrects_id
           from timeline_events where incident_id = $1 and incident_version > $2 order by at, id",
    )
    .bind(incident_id)
    .bind(seen)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(TimelineEvent::try_from).collect()
}

/// The id of the incident's newest timeline event (the anchor a post/redirect/get lands on).
pub(crate) async fn latest_event_id(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from timeline_events where incident_id = $1 order by at desc, id desc limit 1",
    )
    .bind(incident_id)
    .fetch_optional(db)
    .await
}

/// Every correction of the incident as (corrected event, correcting event), oldest first.
pub(crate) async fn corrections(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "select corrects_id, id from timeline_events where incident_id = $1 and corrects_id is not null order by at, id",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// Makes the caller's transaction one read-only snapshot, so an incident's version matches the
/// timeline read with it. Call it first in the transaction.
pub(crate) async fn read_snapshot(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;
    Ok(())
}
