//! The Statuspage-compatible JSON documents (`/api/v2/*.json`), with Atlassian Statuspage's
//! field names and value sets, so tools that read a Statuspage page read ours unchanged.
//!
//! Mapping (see `twisterlab_domain::status` for the rules):
//! - component `status`: ours are Statuspage's (`operational`, `degraded_performance`,
//!   `partial_outage`, `major_outage`, `under_maintenance`); groups are components with
//!   `group: true`, the worst status of their members, and `components` listing member ids.
//! - `status.indicator`: `none` / `minor` / `major` / `critical` from the worst component
//!   status (degraded / partial / major outage) and open incidents' impacts.
//! - incident `status`: triggered and acknowledged read `investigating`; `postmortem` once a
//!   resolved incident's postmortem is published (with `postmortem_body`).
//! - incident `impact`: the worse of severity (P0 critical, P1 major, P2/P3 minor) and the
//!   worst component impact (degraded minor, partial major, major outage critical).
//! - `incident_updates`: public updates (corrected text in place), plus "resolved" and
//!   "reopened" entries the portal writes when no public update said so; newest first.
//! - `incidents.json` holds at most the 50 most recent incidents, as Statuspage's does: every
//!   unresolved one, then the most recently resolved within the status page's window (14 days,
//!   `data::RECENT_DAYS`); older ones are only on the history pages. The Atom and RSS feeds
//!   list the same incidents. `summary.json` and `incidents/unresolved.json` list the
//!   unresolved ones only.
//! - `shortlink`: the incident's page on the status site. Timestamps: RFC 3339 (ISO 8601), UTC.
//! - Scheduled maintenances: announced windows (not drafts, not cancelled ones), with
//!   `scheduled_for`/`scheduled_until` (planned), `status` `scheduled` / `in_progress` /
//!   `verifying` / `completed` (a rolled-back window is `completed`; its last update says so),
//!   `impact` `maintenance`, their updates as `incident_updates` and affected `components`.
//!   `summary.json` lists the upcoming and active ones; `scheduled-maintenances.json` the 50 with
//!   the latest planned start.

use serde::Serialize;
use twisterlab_domain::incident::ComponentStatus;
use uuid::Uuid;

use super::cache::{ApiDoc, Settings};
use twisterlab_domain::maintenance::PublicStatus;

use super::data::{Component, Group, Incident, Maintenance, StatusData};
use crate::clock::iso;

/// Incidents in `incidents.json`, newest first (Statuspage's limit), unresolved ones always.
pub(crate) const INCIDENT_LIMIT: usize = 50;

/// The incidents `incidents.json` and the feeds list: every open one, and resolved ones (newest
/// start first) while fewer than [`INCIDENT_LIMIT`] are listed.
pub(crate) fn listed(data: &StatusData) -> impl Iterator<Item = &Incident> {
    let room = INCIDENT_LIMIT.saturating_sub(data.open_incidents().count());
    let mut resolved = 0usize;
    data.incidents.iter().filter(move |i| {
        if i.is_open() {
            return true;
        }
        resolved += 1;
        resolved <= room
    })
}

#[derive(Serialize)]
pub(crate) struct PageJson {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub updated_at: String,
}

#[derive(Serialize)]
pub(crate) struct StatusJson {
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Serialize)]
pub(crate) struct ComponentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub position: i32,
    pub description: Option<String>,
    pub showcase: bool,
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

#[derive(Serialize)]
pub(crate) struct UpdateJson {
    pub id: String,
    pub status: &'static str,
    pub body: String,
    pub incident_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
    pub affected_components: Option<Vec<serde_json::Value>>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IncidentJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    pub incident_updates: Vec<UpdateJson>,
    pub components: Vec<ComponentJson>,
    /// The published postmortem's public summary (Markdown); absent before publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postmortem_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postmortem_published_at: Option<String>,
}

/// A scheduled maintenance, as Statuspage writes one (an incident with `scheduled_for`).
#[derive(Serialize)]
pub(crate) struct MaintenanceJson {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    pub incident_updates: Vec<UpdateJson>,
    pub components: Vec<ComponentJson>,
    pub scheduled_for: String,
    pub scheduled_until: String,
}

/// Maintenances in `scheduled-maintenances.json`, latest planned start first (Statuspage's limit).
pub(crate) const MAINTENANCE_LIMIT: usize = 50;

fn maintenance(settings: &Settings, data: &StatusData, m: &Maintenance) -> Option<MaintenanceJson> {
    let status = m.status?;
    let id = m.id.to_string();
    Some(MaintenanceJson {
        name: m.name.clone(),
        status: status.as_str(),
        created_at: iso(m.created_at),
        updated_at: iso(m.updated_at),
        monitoring_at: m.verifying_at.map(iso),
        resolved_at: m.ended_at.filter(|_| status == PublicStatus::Completed).map(iso),
        impact: "maintenance",
        shortlink: format!("{}/incidents/{id}", settings.base_url),
        started_at: iso(m.started_at.unwrap_or(m.scheduled_for)),
        page_id: settings.page_id.clone(),
        incident_updates: m
            .updates
            .iter()
            .map(|u| UpdateJson {
                id: u.id.to_string(),
                status: u.status.as_str(),
                body: u.body.clone(),
                incident_id: id.clone(),
                created_at: iso(u.created_at),
                updated_at: iso(u.created_at),
                display_at: iso(u.created_at),
                affected_components: None,
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            })
            .collect(),
        components: m
            .components
            .iter()
            .filter_map(|c| data.component(*c))
            .map(|c| component(settings, c))
            .collect(),
        scheduled_for: iso(m.scheduled_for),
        scheduled_until: iso(m.scheduled_until),
        id,
    })
}

/// The maintenances `keep` selects, in Statuspage's order: by planned start, latest first.
fn maintenances(
    settings: &Settings,
    data: &StatusData,
    keep: impl Fn(&Maintenance) -> bool,
    limit: usize,
) -> Vec<MaintenanceJson> {
    data.maintenances
        .iter()
        .filter(|m| keep(m))
        .filter_map(|m| maintenance(settings, data, m))
        .take(limit)
        .collect()
}

#[derive(Serialize)]
struct SummaryJson {
    page: PageJson,
    components: Vec<ComponentJson>,
    incidents: Vec<IncidentJson>,
    scheduled_maintenances: Vec<MaintenanceJson>,
    status: StatusJson,
}

#[derive(Serialize)]
struct StatusDocJson {
    page: PageJson,
    status: StatusJson,
}

#[derive(Serialize)]
struct ComponentsJson {
    page: PageJson,
    components: Vec<ComponentJson>,
}

#[derive(Serialize)]
struct IncidentsJson {
    page: PageJson,
    incidents: Vec<IncidentJson>,
}

#[derive(Serialize)]
struct MaintenancesJson {
    page: PageJson,
    scheduled_maintenances: Vec<MaintenanceJson>,
}

fn page(settings: &Settings, data: &StatusData) -> PageJson {
    PageJson {
        id: settings.page_id.clone(),
        name: settings.page_name.clone(),
        url: settings.base_url.clone(),
        time_zone: settings.time_zone_name.clone(),
        updated_at: iso(data.updated_at),
    }
}

fn status(data: &StatusData) -> StatusJson {
    StatusJson { indicator: data.page.indicator.as_str(), description: data.page.description() }
}

fn component(settings: &Settings, c: &Component) -> ComponentJson {
    ComponentJson {
        id: c.id.to_string(),
        name: c.name.clone(),
        status: c.status.as_str(),
        created_at: iso(c.created_at),
        updated_at: iso(c.updated_at),
        position: c.position,
        description: c.description.clone(),
        showcase: true,
        start_date: None,
        group_id: c.group_id.map(|g| g.to_string()),
        page_id: settings.page_id.clone(),
        group: false,
        only_show_if_degraded: false,
        components: None,
    }
}

fn group(settings: &Settings, g: &Group, members: &[&Component]) -> ComponentJson {
    let status = ComponentStatus::worst(members.iter().map(|c| c.status));
    let updated = members.iter().map(|c| c.updated_at).max().unwrap_or(g.created_at);
    ComponentJson {
        id: g.id.to_string(),
        name: g.name.clone(),
        status: status.as_str(),
        created_at: iso(g.created_at),
        updated_at: iso(updated),
        position: g.position,
        description: None,
        showcase: false,
        start_date: None,
        group_id: None,
        page_id: settings.page_id.clone(),
        group: true,
        only_show_if_degraded: false,
        components: Some(members.iter().map(|c| c.id.to_string()).collect()),
    }
}

/// Every component, groups first in their order, each followed by its members.
fn components(settings: &Settings, data: &StatusData) -> Vec<ComponentJson> {
    let mut out = vec![];
    for g in &data.groups {
        let members: Vec<&Component> = data.components.iter().filter(|c| c.group_id == Some(g.id)).collect();
        if members.is_empty() {
            continue;
        }
        out.push(group(settings, g, &members));
        out.extend(members.into_iter().map(|c| component(settings, c)));
    }
    let known: Vec<Uuid> = data.groups.iter().map(|g| g.id).collect();
    out.extend(data.components.iter().filter(|c| c.group_id.is_none_or(|g| !known.contains(&g))).map(|c| {
        let mut json = component(settings, c);
        json.group_id = None;
        json
    }));
    out
}

fn incident(settings: &Settings, data: &StatusData, i: &Incident) -> IncidentJson {
    let id = i.id.to_string();
    IncidentJson {
        name: i.name.clone(),
        status: i.public_status(),
        created_at: iso(i.created_at),
        updated_at: iso(i.updated_at),
        monitoring_at: i.monitoring_at.map(iso),
        resolved_at: i.resolved_at.map(iso),
        postmortem_body: i.postmortem.as_ref().map(|(body, _)| body.clone()),
        postmortem_published_at: i.postmortem.as_ref().map(|(_, at)| iso(*at)),
        impact: i.impact.as_str(),
        shortlink: format!("{}/incidents/{id}", settings.base_url),
        started_at: iso(i.started_at),
        page_id: settings.page_id.clone(),
        incident_updates: i
            .updates
            .iter()
            .map(|u| UpdateJson {
                id: u.id.to_string(),
                status: u.status,
                body: u.body.clone(),
                incident_id: id.clone(),
                created_at: iso(u.created_at),
                updated_at: iso(u.updated_at),
                display_at: iso(u.created_at),
                affected_components: None,
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            })
            .collect(),
        components: i
            .components
            .iter()
            .filter_map(|(cid, _)| data.component(*cid))
            .map(|c| component(settings, c))
            .collect(),
        id,
    }
}

/// The JSON bytes of `doc`.
pub(crate) fn render(
    settings: &Settings,
    data: &StatusData,
    doc: ApiDoc,
) -> Result<Vec<u8>, serde_json::Error> {
    let page = page(settings, data);
    let unresolved = || data.open_incidents().map(|i| incident(settings, data, i)).collect::<Vec<_>>();
    match doc {
        ApiDoc::Summary => serde_json::to_vec(&SummaryJson {
            page,
            components: components(settings, data),
            incidents: unresolved(),
            scheduled_maintenances: maintenances(
                settings,
                data,
                |m| m.is_upcoming() || m.is_active(),
                usize::MAX,
            ),
            status: status(data),
        }),
        ApiDoc::Status => serde_json::to_vec(&StatusDocJson { page, status: status(data) }),
        ApiDoc::Components => {
            serde_json::to_vec(&ComponentsJson { page, components: components(settings, data) })
        }
        ApiDoc::Incidents => serde_json::to_vec(&IncidentsJson {
            page,
            incidents: listed(data).map(|i| incident(settings, data, i)).collect(),
        }),
        ApiDoc::UnresolvedIncidents => serde_json::to_vec(&IncidentsJson { page, incidents: unresolved() }),
        ApiDoc::ScheduledMaintenances => serde_json::to_vec(&MaintenancesJson {
            page,
            scheduled_maintenances: maintenances(settings, data, |_| true, MAINTENANCE_LIMIT),
        }),
        ApiDoc::UpcomingMaintenances => serde_json::to_vec(&MaintenancesJson {
            page,
            scheduled_maintenances: maintenances(settings, data, Maintenance::is_upcoming, usize::MAX),
        }),
        ApiDoc::ActiveMaintenances => serde_json::to_vec(&MaintenancesJson {
            page,
            scheduled_maintenances: maintenances(settings, data, Maintenance::is_active, usize::MAX),
        }),
    }
}
