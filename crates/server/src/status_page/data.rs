//! Everything the public status documents are rendered from, read in one read-only snapshot
//! (`db::status`) and rolled up with `twisterlab_domain::status`: each component's status and
//! uptime, the public incidents with their public updates, the announced maintenance windows,
//! the page status.
//!
//! Only public facts reach this module (the reads in `db::status` filter them); it never writes.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use sqlx::PgPool;
use twisterlab_domain::incident::{ComponentStatus, Impact, IncidentStatus, TimelineKind};
use twisterlab_domain::maintenance::{PublicStatus, WindowState};
use twisterlab_domain::status::{self as rollup, DayFigure, Level, PageStatus};
use uuid::Uuid;

use super::history;
use crate::db::status as store;

/// Days of uptime history on the page.
pub(crate) const UPTIME_DAYS: usize = 90;

/// Resolved incidents stay on the status page (under "Recent incidents", in `incidents.json`
/// and the feeds) for this many days after they were resolved …
pub(crate) const RECENT_DAYS: i64 = 14;

/// … and at most this many of them (the most recently resolved): a rebuild reads the open
/// incidents and this window, never the whole past, which the history pages read page by page.
pub(crate) const RECENT_LIMIT: usize = 50;

/// Incidents per page of the public history.
pub(crate) const HISTORY_PAGE: usize = 50;

/// A component group as the public sees it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
    pub created_at: Timestamp,
}

/// A component with its computed status and uptime.
#[derive(Clone, Debug)]
pub(crate) struct Component {
    pub id: Uuid,
    pub name: String,
    /// Only descriptions an admin marked public.
    pub description: Option<String>,
    pub group_id: Option<Uuid>,
    pub position: i32,
    pub status: ComponentStatus,
    pub created_at: Timestamp,
    /// When the status last changed (from the recorded history), else the creation time.
    pub updated_at: Timestamp,
    /// The last [`UPTIME_DAYS`] days, oldest first.
    pub days: Vec<DayFigure>,
    pub uptime: Option<f64>,
}

/// One public update of an incident (or the fact that it was resolved or reopened).
#[derive(Clone, Debug)]
pub(crate) struct Update {
    pub id: Uuid,
    /// investigating, identified, monitoring or resolved.
    pub status: &'static str,
    /// Markdown.
    pub body: String,
    pub created_at: Timestamp,
    /// Later than `created_at` when the update was corrected.
    pub updated_at: Timestamp,
    /// Written by the portal (resolved, reopened) rather than by a person.
    pub generated: bool,
}

/// A public incident.
#[derive(Clone, Debug)]
pub(crate) struct Incident {
    pub id: Uuid,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Level,
    pub started_at: Timestamp,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// The latest public change (update, resolve, reopen), else the start.
    pub updated_at: Timestamp,
    /// When a public update first said "monitoring".
    pub monitoring_at: Option<Timestamp>,
    /// Newest first.
    pub updates: Vec<Update>,
    /// Affected components and how.
    pub components: Vec<(Uuid, Impact)>,
    /// The public summary of its published postmortem and when it was published (never a
    /// draft or one in review).
    pub postmortem: Option<(String, Timestamp)>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Statuspage's status value: `postmortem` once a resolved incident's postmortem is
    /// published.
    pub fn public_status(&self) -> &'static str {
        if !self.is_open() && self.postmortem.is_some() {
            return "postmortem";
        }
        rollup::public_incident_status(self.status)
    }
}

/// A public update of a maintenance window.
#[derive(Clone, Debug)]
pub(crate) struct MaintenanceUpdate {
    pub id: Uuid,
    pub status: PublicStatus,
    /// Markdown.
    pub body: String,
    pub created_at: Timestamp,
}

/// An announced maintenance window.
#[derive(Clone, Debug)]
pub(crate) struct Maintenance {
    pub id: Uuid,
    pub name: String,
    /// Markdown.
    pub description: String,
    /// Statuspage's status; `None` for a cancelled window, which only the calendar feed lists
    /// (to withdraw it).
    pub status: Option<PublicStatus>,
    pub state: WindowState,
    pub scheduled_for: Timestamp,
    pub scheduled_until: Timestamp,
    /// When it was announced.
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub verifying_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// Bumped by every change (the calendar's `SEQUENCE`).
    pub version: i32,
    /// Affected component ids.
    pub components: Vec<Uuid>,
    /// Newest first.
    pub updates: Vec<MaintenanceUpdate>,
}

impl Maintenance {
    /// Whether `upcoming.json` lists it.
    pub fn is_upcoming(&self) -> bool {
        self.status.is_some_and(PublicStatus::is_upcoming)
    }

    /// Whether `active.json` lists it.
    pub fn is_active(&self) -> bool {
        self.status.is_some_and(PublicStatus::is_active)
    }
}

/// Everything the public documents are rendered from.
#[derive(Clone, Debug)]
pub(crate) struct StatusData {
    /// When this was read.
    pub loaded_at: Timestamp,
    /// The latest public change anywhere (Statuspage's `page.updated_at`).
    pub updated_at: Timestamp,
    pub groups: Vec<Group>,
    /// By group position, then position and name.
    pub components: Vec<Component>,
    /// Every open public incident and the [`RECENT_LIMIT`] most recently resolved within
    /// [`RECENT_DAYS`], newest start first.
    pub incidents: Vec<Incident>,
    /// The first page of the history (kept with the data, so it survives a failed rebuild).
    pub history: HistoryChunk,
    /// Every announced maintenance window (cancelled ones too), latest planned start first.
    pub maintenances: Vec<Maintenance>,
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

    /// The public maintenance `id` (not a cancelled one).
    pub fn maintenance(&self, id: Uuid) -> Option<&Maintenance> {
        self.maintenances.iter().find(|m| m.id == id && m.status.is_some())
    }

    /// Maintenances on the status page: in progress first, then upcoming, soonest first.
    pub fn current_maintenances(&self) -> impl Iterator<Item = &Maintenance> {
        let active = self.maintenances.iter().rev().filter(|m| m.is_active());
        active.chain(self.maintenances.iter().rev().filter(|m| m.is_upcoming()))
    }
}

/// Reads the public state in one read-only snapshot and rolls it up.
pub(crate) async fn load(pool: &PgPool, tz: &jiff::tz::TimeZone) -> Result<StatusData, sqlx::Error> {
    let mut tx = store::begin_snapshot(pool).await?;
    let now = store::now(&mut *tx).await?;
    let groups = crate::db::components::groups(&mut *tx).await?;
    let rows = store::components(&mut *tx).await?;
    let mut impacts = store::open_impacts(&mut *tx, None).await?;
    // Back a day further than the days shown, so the first one (25 hours long across DST) lies
    // inside; the change before the window gives the status it began with.
    let window_start = now - SignedDuration::from_hours(24 * (UPTIME_DAYS as i64 + 1));
    let mut changes = store::history(&mut *tx, window_start).await?;
    let recent_from = now - SignedDuration::from_hours(24 * RECENT_DAYS);
    let incident_rows = store::page_incidents(&mut *tx, recent_from, RECENT_LIMIT as i64).await?;
    let incidents = with_updates(&mut tx, incident_rows).await?;
    let history = history_chunk(&mut tx, None).await?.unwrap_or_default();
    let in_maintenance = crate::db::maintenance::components_in_maintenance(&mut *tx, None).await?;
    let down = crate::db::health::components_down(&mut *tx, None).await?;
    let windows = crate::db::maintenance::public_windows(&mut *tx).await?;
    let window_updates = crate::db::maintenance::public_updates(&mut *tx).await?;
    tx.commit().await?;

    let days = rollup::last_days(now, tz, UPTIME_DAYS);
    let mut components = Vec::with_capacity(rows.len());
    for row in rows {
        let signals = history::signals(
            impacts.remove(&row.id).unwrap_or_default(),
            row.pinned,
            in_maintenance.contains(&row.id),
            down.get(&row.id).copied(),
        );
        let component_changes = changes.remove(&row.id).unwrap_or_default();
        let figures = rollup::day_figures(&component_changes, &days, now);
        components.push(Component {
            id: row.id,
            name: row.name,
            description: row.description,
            group_id: row.group_id,
            position: row.position,
            status: rollup::component_status(&signals),
            created_at: row.created_at,
            updated_at: component_changes.last().map(|c| c.at).unwrap_or(row.created_at),
            uptime: rollup::overall_uptime(&figures),
            days: figures,
        });
    }

    let open_levels: Vec<Level> = incidents.iter().filter(|i| i.is_open()).map(|i| i.impact).collect();
    let component_statuses: Vec<ComponentStatus> = components.iter().map(|c| c.status).collect();
    let page = rollup::page_status(&component_statuses, &open_levels);
    let maintenances = assemble_maintenances(windows, window_updates);
    let updated_at = incidents
        .iter()
        .map(|i| i.updated_at)
        .chain(maintenances.iter().filter(|m| m.status.is_some()).map(|m| m.updated_at))
        .chain(components.iter().map(|c| c.updated_at))
        .max()
        .unwrap_or(now);
    let mut created: HashMap<Uuid, Timestamp> = HashMap::new();
    for c in &components {
        if let Some(g) = c.group_id {
            let first = created.entry(g).or_insert(c.created_at);
            *first = (*first).min(c.created_at);
        }
    }
    let groups = groups
        .into_iter()
        .map(|g| Group {
            created_at: created.get(&g.id).copied().unwrap_or(now),
            id: g.id,
            name: g.name,
            position: g.position,
        })
        .collect();

    Ok(StatusData {
        loaded_at: now,
        updated_at,
        groups,
        components,
        incidents,
        history,
        maintenances,
        page,
        days,
    })
}

/// One page of the public history.
#[derive(Clone, Debug, Default)]
pub(crate) struct HistoryChunk {
    /// The incident the page starts after and its start; `None` on the first page.
    pub after: Option<(Uuid, Timestamp)>,
    /// Up to [`HISTORY_PAGE`] public incidents, newest start first.
    pub incidents: Vec<Incident>,
    /// Whether older incidents exist (the last one here is the next page's cursor).
    pub has_older: bool,
}

/// The history page that starts after the public incident `after` (the first page for
/// `None`); `None` when `after` is not a public incident.
async fn history_chunk(
    tx: &mut sqlx::PgConnection,
    after: Option<Uuid>,
) -> Result<Option<HistoryChunk>, sqlx::Error> {
    let cursor = match after {
        Some(id) => match store::history_cursor(&mut *tx, id).await? {
            Some(cursor) => Some((id, cursor)),
            None => return Ok(None),
        },
        None => None,
    };
    let mut rows =
        store::history_incidents(&mut *tx, cursor.map(|(_, c)| c), HISTORY_PAGE as i64 + 1).await?;
    let has_older = rows.len() > HISTORY_PAGE;
    rows.truncate(HISTORY_PAGE);
    Ok(Some(HistoryChunk {
        after: cursor.map(|(id, (at, _))| (id, at)),
        incidents: with_updates(tx, rows).await?,
        has_older,
    }))
}

/// Reads the history page after `after` on its own snapshot (older pages are read on demand,
/// not by the rebuild).
pub(crate) async fn load_history(pool: &PgPool, after: Uuid) -> Result<Option<HistoryChunk>, sqlx::Error> {
    let mut tx = store::begin_snapshot(pool).await?;
    let chunk = history_chunk(&mut tx, Some(after)).await?;
    tx.commit().await?;
    Ok(chunk)
}

/// Reads one public incident outside the page's window (for its own page).
pub(crate) async fn load_incident(pool: &PgPool, id: Uuid) -> Result<Option<Incident>, sqlx::Error> {
    let mut tx = store::begin_snapshot(pool).await?;
    let row = store::incident(&mut *tx, id).await?;
    let incident = match row {
        Some(row) => with_updates(&mut tx, vec![row]).await?.pop(),
        None => None,
    };
    tx.commit().await?;
    Ok(incident)
}

/// The incidents of `rows` with their public updates, affected components and published
/// postmortems, read for exactly these incidents.
async fn with_updates(
    tx: &mut sqlx::PgConnection,
    rows: Vec<store::PublicIncident>,
) -> Result<Vec<Incident>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let events = store::events(&mut *tx, &ids).await?;
    let affected = store::affected(&mut *tx, &ids).await?;
    let postmortems = crate::db::postmortems::published_public(&mut *tx, &ids).await?;
    let mut incidents = assemble_incidents(rows, events, affected);
    for (incident_id, body, published_at) in postmortems {
        if let Some(i) = incidents.iter_mut().find(|i| i.id == incident_id) {
            i.updated_at = i.updated_at.max(published_at);
            i.postmortem = Some((body, published_at));
        }
    }
    Ok(incidents)
}

/// Announced windows with their public updates (newest first).
fn assemble_maintenances(
    windows: Vec<crate::db::maintenance::PublicWindow>,
    updates: Vec<crate::db::maintenance::Update>,
) -> Vec<Maintenance> {
    let mut by_window: HashMap<Uuid, Vec<MaintenanceUpdate>> = HashMap::new();
    for u in updates {
        by_window.entry(u.window_id).or_default().push(MaintenanceUpdate {
            id: u.id,
            status: u.status,
            body: u.body,
            created_at: u.at,
        });
    }
    windows
        .into_iter()
        .map(|w| {
            let mut updates = by_window.remove(&w.id).unwrap_or_default();
            updates.reverse();
            let updated_at =
                updates.iter().map(|u| u.created_at).chain([w.updated_at]).max().unwrap_or(w.updated_at);
            Maintenance {
                id: w.id,
                name: w.title.clone(),
                description: w.description.clone(),
                status: w.public_status(),
                state: w.state,
                scheduled_for: w.starts_at,
                scheduled_until: w.ends_at,
                created_at: w.announced_at,
                started_at: w.started_at,
                verifying_at: w.verifying_at,
                ended_at: w.ended_at,
                updated_at,
                version: w.version,
                components: w.components,
                updates,
            }
        })
        .collect()
}

/// Public incidents with their public updates (newest first) and affected components.
fn assemble_incidents(
    rows: Vec<store::PublicIncident>,
    events: Vec<store::PublicEvent>,
    mut affected: HashMap<Uuid, Vec<(Uuid, Impact)>>,
) -> Vec<Incident> {
    let mut updates: HashMap<Uuid, Vec<Update>> = HashMap::new();
    for event in events {
        let list = updates.entry(event.incident_id).or_default();
        match event.kind {
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
            status: row.status,
            impact: rollup::incident_impact(row.severity, &impacts),
            started_at: row.started_at,
            created_at: row.created_at,
            resolved_at: if row.status.is_open() { None } else { row.resolved_at },
            updated_at,
            monitoring_at,
            updates: list,
            components,
            postmortem: None,
        });
    }
    incidents
}

/// How close a person's public update must be to a resolve or reopen to stand for it.
const SAME_MOMENT: SignedDuration = SignedDuration::from_secs(60);

/// Drops the portal's own "resolved"/"reopened" entry when a person's public update was
/// posted with it (the update says the same in the commander's words). Oldest first.
fn dedupe_generated(list: &mut Vec<Update>) {
    let written: Vec<(Timestamp, bool)> =
        list.iter().filter(|u| !u.generated).map(|u| (u.created_at, u.status == "resolved")).collect();
    list.retain(|u| {
        let resolves = u.status == "resolved";
        !u.generated
            || !written.iter().any(|(at, w_resolves)| {
                *w_resolves == resolves && at.duration_since(u.created_at).abs() <= SAME_MOMENT
            })
    });
}
