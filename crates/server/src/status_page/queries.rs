//! Reads everything the public status documents show in one transaction, computes each
//! component's status with the roll-up rules and records status changes for the uptime bars.
//!
//! Only public facts leave this module: private incidents are filtered in SQL, timeline
//! events are limited to public updates plus the fact of resolving or reopening, and
//! component descriptions come through only when marked public. Nothing here selects a
//! user, an actor label, a note, a summary or a manual reason.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use twisterlab_domain::incident::{ComponentStatus, Impact, IncidentStatus, TimelineKind};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};
use twisterlab_domain::status::{self as rollup, Change, DayFigure, Level, PageStatus, Signals};

/// Days of uptime history on the page.
pub const UPTIME_DAYS: usize = 90;

/// Advisory lock that serialises status computation and history recording across processes
/// ("twlstatu" in ASCII).
const HISTORY_LOCK: i64 = 0x7477_6c73_7461_7475;

/// A component group as the public sees it.
#[derive(Clone, Debug)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
    pub created_at: OffsetDateTime,
}

/// A component with its computed status and uptime.
#[derive(Clone, Debug)]
pub struct Component {
    pub id: Uuid,
    pub name: String,
    /// Only descriptions an admin marked public.
    pub description: Option<String>,
    pub group_id: Option<Uuid>,
    pub position: i32,
    pub status: ComponentStatus,
    pub created_at: OffsetDateTime,
    /// When the status last changed (from the recorded history), else the creation time.
    pub updated_at: OffsetDateTime,
    /// The last [`UPTIME_DAYS`] days, oldest first.
    pub days: Vec<DayFigure>,
    pub uptime: Option<f64>,
}

/// One public update of an incident (or the fact that it was resolved or reopened).
#[derive(Clone, Debug)]
pub struct Update {
    pub id: Uuid,
    /// investigating, identified, monitoring or resolved.
    pub status: &'static str,
    /// Markdown.
    pub body: String,
    pub created_at: OffsetDateTime,
    /// Later than `created_at` when the update was corrected.
    pub updated_at: OffsetDateTime,
    /// Written by the portal (resolved, reopened) rather than by a person.
    pub generated: bool,
}

/// A public incident.
#[derive(Clone, Debug)]
pub struct Incident {
    pub id: Uuid,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Level,
    pub started_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    /// The latest public change (update, resolve, reopen), else the start.
    pub updated_at: OffsetDateTime,
    /// When a public update first said "monitoring".
    pub monitoring_at: Option<OffsetDateTime>,
    /// Newest first.
    pub updates: Vec<Update>,
    /// Affected components and how.
    pub components: Vec<(Uuid, Impact)>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Statuspage's status value.
    pub fn public_status(&self) -> &'static str {
        rollup::public_incident_status(self.status)
    }
}

/// Everything the public documents are rendered from.
#[derive(Clone, Debug)]
pub struct StatusData {
    /// When this was read.
    pub loaded_at: OffsetDateTime,
    /// The latest public change anywhere (Statuspage's `page.updated_at`).
    pub updated_at: OffsetDateTime,
    pub groups: Vec<Group>,
    /// By group position, then position and name.
    pub components: Vec<Component>,
    /// Every public incident, newest start first.
    pub incidents: Vec<Incident>,
    pub page: PageStatus,
    /// The uptime days, oldest first (dates and bounds in the team's zone).
    pub days: Vec<rollup::Day>,
}

impl StatusData {
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| i.is_open())
    }

    pub fn incident(&self, id: Uuid) -> Option<&Incident> {
        self.incidents.iter().find(|i| i.id == id)
    }

    pub fn component(&self, id: Uuid) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: Uuid,
    name: String,
    description: String,
    description_public: bool,
    group_id: Option<Uuid>,
    position: i32,
    manual_status: Option<String>,
    created_at: OffsetDateTime,
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

fn decode<T: std::str::FromStr>(value: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse::<T>().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Reads the public state, records component status changes, and returns the data.
pub async fn load(pool: &PgPool, tz: &jiff::tz::TimeZone) -> Result<StatusData, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let data = load_in(&mut tx, tz).await?;
    tx.commit().await?;
    Ok(data)
}

async fn load_in(tx: &mut PgConnection, tz: &jiff::tz::TimeZone) -> Result<StatusData, sqlx::Error> {
    // Serialises the compute-and-record step across portal processes, so two of them never
    // record one change twice or interleave an older reading after a newer one.
    sqlx::query("select pg_advisory_xact_lock($1)").bind(HISTORY_LOCK).execute(&mut *tx).await?;
    let now: OffsetDateTime = sqlx::query_scalar("select now()").fetch_one(&mut *tx).await?;

    let groups: Vec<(Uuid, String, i32)> =
        sqlx::query_as("select id, name, position from component_groups order by position, name")
            .fetch_all(&mut *tx)
            .await?;
    let rows: Vec<ComponentRow> = sqlx::query_as(
        "select c.id, c.name, c.description, c.description_public, c.group_id, c.position, c.manual_status, c.created_at
           from components c left join component_groups g on g.id = c.group_id
          order by coalesce(g.position, 1000000), g.name, c.position, c.name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let open_impacts: Vec<(Uuid, String)> = sqlx::query_as(
        "select ic.component_id, ic.impact from incident_components ic join incidents i on i.id = ic.incident_id
          where i.status <> 'resolved' and not i.private",
    )
    .fetch_all(&mut *tx)
    .await?;

    let mut signals: HashMap<Uuid, Signals> = HashMap::new();
    for (component_id, impact) in &open_impacts {
        signals.entry(*component_id).or_default().incident_impacts.push(decode(impact)?);
    }
    let mut statuses = Vec::with_capacity(rows.len());
    for row in &rows {
        let entry = signals.entry(row.id).or_default();
        entry.manual = row.manual_status.as_deref().map(decode).transpose()?;
        // Seams: active maintenance windows and health probe verdicts set
        // `in_maintenance` and `probe` here once those areas exist.
        statuses.push(rollup::component_status(entry));
    }

    record_changes(&mut *tx, &rows, &statuses).await?;
    let window_start = now - time::Duration::days(UPTIME_DAYS as i64 + 1);
    let history: Vec<(Uuid, String, OffsetDateTime)> = sqlx::query_as(
        "select component_id, status, at from (
             select distinct on (component_id) component_id, status, at, id from component_status_history
              where at < $1 order by component_id, at desc, id desc) before_window
         union all
         select component_id, status, at from (
             select component_id, status, at, id from component_status_history where at >= $1) in_window
         order by 1, 3",
    )
    .bind(window_start)
    .fetch_all(&mut *tx)
    .await?;
    let mut changes: HashMap<Uuid, Vec<Change>> = HashMap::new();
    for (component_id, status, at) in history {
        changes.entry(component_id).or_default().push(Change { at: to_jiff(at), status: decode(&status)? });
    }

    let now_jiff: Timestamp = to_jiff(now);
    let days = rollup::last_days(now_jiff, tz, UPTIME_DAYS);
    let mut components = Vec::with_capacity(rows.len());
    for (row, status) in rows.into_iter().zip(statuses) {
        let component_changes = changes.remove(&row.id).unwrap_or_default();
        let figures = rollup::day_figures(&component_changes, &days, now_jiff);
        let updated_at = component_changes.last().map(|c| from_jiff(c.at)).unwrap_or(row.created_at);
        components.push(Component {
            id: row.id,
            name: row.name,
            description: (row.description_public && !row.description.trim().is_empty())
                .then_some(row.description),
            group_id: row.group_id,
            position: row.position,
            status,
            created_at: row.created_at,
            updated_at,
            uptime: rollup::overall_uptime(&figures),
            days: figures,
        });
    }

    let incidents = load_incidents(&mut *tx).await?;
    let open_levels: Vec<Level> = incidents.iter().filter(|i| i.is_open()).map(|i| i.impact).collect();
    let component_statuses: Vec<ComponentStatus> = components.iter().map(|c| c.status).collect();
    let page = rollup::page_status(&component_statuses, &open_levels);
    let updated_at = incidents
        .iter()
        .map(|i| i.updated_at)
        .chain(components.iter().map(|c| c.updated_at))
        .max()
        .unwrap_or(now);
    let created: HashMap<Uuid, OffsetDateTime> = components
        .iter()
        .filter_map(|c| c.group_id.map(|g| (g, c.created_at)))
        .fold(HashMap::new(), |mut m, (g, at)| {
            let e = m.entry(g).or_insert(at);
            *e = (*e).min(at);
            m
        });
    let groups = groups
        .into_iter()
        .map(|(id, name, position)| Group {
            id,
            name,
            position,
            created_at: created.get(&id).copied().unwrap_or(now),
        })
        .collect();

    Ok(StatusData { loaded_at: now, updated_at, groups, components, incidents, page, days })
}

/// Inserts a history row for each component whose status differs from its last recorded one.
async fn record_changes(
    tx: &mut PgConnection,
    rows: &[ComponentRow],
    statuses: &[ComponentStatus],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "insert into component_status_history (component_id, status)
         select c.id, c.status from unnest($1::uuid[], $2::text[]) as c(id, status)
          where c.status is distinct from (
                select h.status from component_status_history h
                 where h.component_id = c.id order by h.at desc, h.id desc limit 1)",
    )
    .bind(&ids)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Every public incident with its public updates and affected components, newest first.
async fn load_incidents(tx: &mut PgConnection) -> Result<Vec<Incident>, sqlx::Error> {
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "select id, title, status, severity, started_at, created_at, resolved_at
           from incidents where not private order by started_at desc, number desc",
    )
    .fetch_all(&mut *tx)
    .await?;
    // Public updates (and their corrections), plus resolve/reopen facts with fixed words:
    // those events' own data names people, so only their kind and time are used.
    let events: Vec<EventRow> = sqlx::query_as(
        "select e.id, e.incident_id, e.at, e.kind, e.body, e.public_status, e.corrects_id
           from timeline_events e join incidents i on i.id = e.incident_id
          where not i.private
            and ((e.kind = 'public_update' and e.public) or e.kind in ('resolved', 'reopened'))
          order by e.at, e.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let impacts: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "select ic.incident_id, ic.component_id, ic.impact
           from incident_components ic join incidents i on i.id = ic.incident_id
           join components c on c.id = ic.component_id
          where not i.private order by c.position, c.name",
    )
    .fetch_all(&mut *tx)
    .await?;

    let mut affected: HashMap<Uuid, Vec<(Uuid, Impact)>> = HashMap::new();
    for (incident_id, component_id, impact) in impacts {
        affected.entry(incident_id).or_default().push((component_id, decode(&impact)?));
    }
    let mut updates: HashMap<Uuid, Vec<Update>> = HashMap::new();
    for event in events {
        let kind: TimelineKind = decode(&event.kind)?;
        let list = updates.entry(event.incident_id).or_default();
        match kind {
            TimelineKind::PublicUpdate => {
                let body = event.body.unwrap_or_default();
                // A correction replaces the text of the update it points at, in place.
                if let Some(original) = event.corrects_id.and_then(|id| list.iter_mut().find(|u| u.id == id))
                {
                    original.body = body;
                    original.updated_at = event.at;
                    continue;
                }
                let status = match event.public_status.as_deref() {
                    Some("identified") => "identified",
                    Some("monitoring") => "monitoring",
                    Some("resolved") => "resolved",
                    _ => "investigating",
                };
                list.push(Update {
                    id: event.id,
                    status,
                    body,
                    created_at: event.at,
                    updated_at: event.at,
                    generated: false,
                });
            }
            TimelineKind::Resolved => list.push(Update {
                id: event.id,
                status: "resolved",
                body: "This incident has been resolved.".into(),
                created_at: event.at,
                updated_at: event.at,
                generated: true,
            }),
            TimelineKind::Reopened => list.push(Update {
                id: event.id,
                status: "investigating",
                body: "This incident has been reopened and we are investigating.".into(),
                created_at: event.at,
                updated_at: event.at,
                generated: true,
            }),
            _ => {}
        }
    }

    let mut incidents = Vec::with_capacity(rows.len());
    for row in rows {
        let severity: Severity = decode(&row.severity)?;
        let status: IncidentStatus = decode(&row.status)?;
        let components = affected.remove(&row.id).unwrap_or_default();
        let mut list = updates.remove(&row.id).unwrap_or_default();
        dedupe_generated(&mut list);
        let monitoring_at = list.iter().find(|u| u.status == "monitoring").map(|u| u.created_at);
        let updated_at = list
            .iter()
            .map(|u| u.updated_at)
            .chain([row.started_at])
            .chain(row.resolved_at)
            .max()
            .unwrap_or(row.started_at);
        list.reverse();
        let impacts: Vec<Impact> = components.iter().map(|(_, i)| *i).collect();
        incidents.push(Incident {
            id: row.id,
            name: row.title,
            status,
            impact: rollup::incident_impact(severity, &impacts),
            started_at: row.started_at,
            created_at: row.created_at,
            resolved_at: if status.is_open() { None } else { row.resolved_at },
            updated_at,
            monitoring_at,
            updates: list,
            components,
        });
    }
    Ok(incidents)
}

/// How close a person's public update must be to a resolve or reopen to stand for it.
const SAME_MOMENT: time::Duration = time::Duration::minutes(1);

/// Drops the portal's own "resolved"/"reopened" entry when a person's public update was
/// posted with it (the update says the same in the commander's words). Oldest first.
fn dedupe_generated(list: &mut Vec<Update>) {
    let written: Vec<(OffsetDateTime, bool)> =
        list.iter().filter(|u| !u.generated).map(|u| (u.created_at, u.status == "resolved")).collect();
    list.retain(|u| {
        let resolves = u.status == "resolved";
        !u.generated
            || !written
                .iter()
                .any(|(at, w_resolves)| *w_resolves == resolves && (*at - u.created_at).abs() <= SAME_MOMENT)
    });
}
