//! The public HTML pages: the status page, the incident history by month, one page per
//! public incident. Server-rendered, no JavaScript, one small stylesheet.

use std::fmt::Write as _;

use askama::Template;
use jiff::{SignedDuration, Timestamp};
use twisterlab_domain::incident::ComponentStatus;
use twisterlab_domain::status::{self as rollup, DayFigure, Level};
use uuid::Uuid;

use super::cache::{Settings, Site};
use twisterlab_domain::maintenance::PublicStatus;

use super::data::{Component, HistoryChunk, Incident, Maintenance, StatusData};
use crate::clock;
use crate::web::assets;
use crate::web::time::Moment;

/// Meta refresh interval when the reader asks for it with `?refresh=1`, in seconds.
pub(crate) const REFRESH_SECONDS: u32 = 60;

/// What every status page shares: assets, links for the site, the refresh and stale notes.
pub(crate) struct Chrome {
    pub css: String,
    pub icon: String,
    pub prefix: &'static str,
    pub refresh: bool,
    /// The "may be out of date since" note, when the last rebuild failed.
    pub stale: Option<Moment>,
    pub page_name: String,
    pub time_zone: String,
}

impl Chrome {
    fn new(settings: &Settings, site: Site, refresh: bool, stale: Option<Moment>) -> Self {
        Self {
            css: assets::url("status.css"),
            icon: assets::url("icon.svg"),
            prefix: site.prefix(),
            refresh,
            stale,
            page_name: settings.page_name.clone(),
            time_zone: settings.time_zone_name.clone(),
        }
    }

    pub fn home(&self) -> &'static str {
        if self.prefix.is_empty() { "/" } else { self.prefix }
    }

    pub fn history(&self) -> String {
        format!("{}/history", self.prefix)
    }

    pub fn incident(&self, id: &Uuid) -> String {
        format!("{}/incidents/{id}", self.prefix)
    }

    /// The stale note's words ([`STALE_NOTE`]).
    pub fn stale_note(&self) -> &'static str {
        STALE_NOTE
    }

    pub fn refresh_seconds(&self) -> u32 {
        REFRESH_SECONDS
    }
}

/// Words for a component status, capitalised for a label ("Partial outage").
fn status_label(status: ComponentStatus) -> String {
    capitalise(status.label())
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Words and colour class for an incident impact.
fn impact_words(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::None => ("No impact", "operational"),
        Level::Minor => ("Minor impact", "degraded_performance"),
        Level::Major => ("Major impact", "partial_outage"),
        Level::Critical => ("Critical impact", "major_outage"),
    }
}

/// One public update as shown.
pub(crate) struct UpdateView {
    pub status: String,
    pub at: Moment,
    /// Safe HTML from the Markdown renderer.
    pub html: String,
    pub edited: bool,
}

/// An incident as shown on the status page and its own page.
pub(crate) struct IncidentView {
    pub href: String,
    pub name: String,
    pub status: String,
    pub impact: &'static str,
    pub impact_class: &'static str,
    pub started: Moment,
    pub resolved: Option<Moment>,
    /// "API (partial outage), Database (degraded performance)".
    pub affected: String,
    /// Newest first.
    pub updates: Vec<UpdateView>,
    /// The published postmortem's public summary (rendered Markdown, raw HTML escaped).
    pub postmortem_html: Option<String>,
}

impl IncidentView {
    fn of(
        incident: &Incident,
        data: &StatusData,
        chrome: &Chrome,
        settings: &Settings,
        now: Timestamp,
    ) -> Self {
        let (impact, impact_class) = impact_words(incident.impact);
        let affected = incident
            .components
            .iter()
            .filter_map(|(id, impact)| {
                data.component(*id).map(|c| format!("{} ({})", c.name, impact.label()))
            })
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            href: chrome.incident(&incident.id),
            name: incident.name.clone(),
            status: capitalise(incident.public_status()),
            impact,
            impact_class,
            started: Moment::new(incident.started_at, &settings.time_zone, now),
            resolved: incident.resolved_at.map(|at| Moment::new(at, &settings.time_zone, now)),
            affected,
            postmortem_html: incident.postmortem.as_ref().map(|(body, _)| crate::markdown::to_html(body)),
            updates: incident
                .updates
                .iter()
                .map(|u| UpdateView {
                    status: capitalise(u.status),
                    at: Moment::new(u.created_at, &settings.time_zone, now),
                    html: crate::markdown::to_html(&u.body),
                    edited: u.updated_at != u.created_at,
                })
                .collect(),
        }
    }
}

/// A maintenance window as the status page and its own page show it.
pub(crate) struct MaintenanceView {
    pub href: String,
    pub name: String,
    /// "Scheduled", "In progress", "Verifying", "Completed".
    pub status: &'static str,
    pub status_class: &'static str,
    pub starts: Moment,
    pub ends: Moment,
    /// "API, Database".
    pub affected: String,
    /// Safe HTML of the description.
    pub description: String,
    /// Newest first.
    pub updates: Vec<UpdateView>,
}

impl MaintenanceView {
    fn of(m: &Maintenance, data: &StatusData, chrome: &Chrome, settings: &Settings, now: Timestamp) -> Self {
        let status = m.status.unwrap_or(PublicStatus::Completed);
        Self {
            href: chrome.incident(&m.id),
            name: m.name.clone(),
            status: status.label(),
            status_class: if status.is_active() { "under_maintenance" } else { "operational" },
            starts: Moment::new(m.scheduled_for, &settings.time_zone, now),
            ends: Moment::new(m.scheduled_until, &settings.time_zone, now),
            affected: m
                .components
                .iter()
                .filter_map(|id| data.component(*id).map(|c| c.name.clone()))
                .collect::<Vec<_>>()
                .join(", "),
            description: crate::markdown::to_html(&m.description),
            updates: m
                .updates
                .iter()
                .map(|u| UpdateView {
                    status: u.status.label().to_owned(),
                    at: Moment::new(u.created_at, &settings.time_zone, now),
                    html: crate::markdown::to_html(&u.body),
                    edited: false,
                })
                .collect(),
        }
    }
}

/// A past maintenance as a line of the history.
fn maintenance_line(m: &Maintenance, chrome: &Chrome, settings: &Settings) -> IncidentLine {
    let tz = &settings.time_zone;
    let (start, end) = (m.started_at.unwrap_or(m.scheduled_for), m.ended_at.unwrap_or(m.scheduled_until));
    IncidentLine {
        href: chrome.incident(&m.id),
        name: m.name.clone(),
        status: "Completed".into(),
        impact: "Maintenance",
        impact_class: "under_maintenance",
        period: format!("{} – {}", clock::absolute(start, tz), clock::time_of_day(end, tz)),
        latest: m
            .updates
            .first()
            .map(|u| shorten(&crate::markdown::to_text(&u.body), 240))
            .unwrap_or_default(),
    }
}

/// A component row.
pub(crate) struct ComponentView {
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub status_class: &'static str,
    /// "99.95 % uptime" or "No data yet".
    pub uptime: String,
    /// The 90-day bar: SVG built from numbers and fixed words only.
    pub bar: String,
    /// Days below 100 % or not fully operational, newest first.
    pub issues: Vec<String>,
}

/// A group of components (`name` is `None` for components outside any group).
pub(crate) struct GroupView {
    pub name: Option<String>,
    pub status: String,
    pub status_class: &'static str,
    pub components: Vec<ComponentView>,
}

fn day_text(figure: &DayFigure) -> String {
    let date = figure.date.strftime("%Y-%m-%d").to_string();
    match figure.uptime() {
        None => format!("{date}: no data"),
        Some(uptime) => {
            let mut text = format!("{date}: {} uptime", rollup::percent(uptime));
            for status in ComponentStatus::ALL.into_iter().filter(|s| *s != ComponentStatus::Operational) {
                let seconds = figure.seconds_of(status);
                if seconds > 0 {
                    let _ = write!(
                        text,
                        "; {} {}",
                        status.label(),
                        twisterlab_domain::sla::compact_duration(SignedDuration::from_secs(seconds))
                    );
                }
            }
            text
        }
    }
}

fn day_class(figure: &DayFigure) -> &'static str {
    match figure.worst() {
        None => "sn",
        Some(ComponentStatus::Operational) => "s0",
        Some(ComponentStatus::DegradedPerformance) => "s1",
        Some(ComponentStatus::PartialOutage) => "s2",
        Some(ComponentStatus::MajorOutage) => "s3",
        Some(ComponentStatus::UnderMaintenance) => "s4",
    }
}

/// The uptime bar: one rectangle per day, each with its figure as `<title>` (a tooltip for
/// the eye, the accessible name for screen readers).
fn uptime_bar(component: &Component) -> String {
    let n = component.days.len().max(1);
    let width = n * 5 - 2;
    let mut svg = String::with_capacity(n * 90 + 200);
    let _ = write!(
        svg,
        r#"<svg class="bar" viewBox="0 0 {width} 28" preserveAspectRatio="none" role="group" aria-label="{} uptime, one mark per day, oldest first">"#,
        escape(&component.name)
    );
    for (i, figure) in component.days.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<rect x="{}" width="3" height="28" class="{}"><title>{}</title></rect>"#,
            i * 5,
            day_class(figure),
            day_text(figure)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn component_view(c: &Component) -> ComponentView {
    let issues = c
        .days
        .iter()
        .rev()
        .filter(|f| {
            f.has_data()
                && (f.uptime().is_some_and(|u| u < 1.0) || f.worst() != Some(ComponentStatus::Operational))
        })
        .map(day_text)
        .collect();
    ComponentView {
        name: c.name.clone(),
        description: c.description.clone(),
        status: status_label(c.status),
        status_class: c.status.as_str(),
        uptime: c
            .uptime
            .map(|u| format!("{} uptime", rollup::percent(u)))
            .unwrap_or_else(|| "No data yet".into()),
        bar: uptime_bar(c),
        issues,
    }
}

/// Components by group, groups in order, ungrouped components last.
fn group_views(data: &StatusData) -> Vec<GroupView> {
    let mut views = vec![];
    for group in &data.groups {
        let members: Vec<&Component> =
            data.components.iter().filter(|c| c.group_id == Some(group.id)).collect();
        if members.is_empty() {
            continue;
        }
        let worst = ComponentStatus::worst(members.iter().map(|c| c.status));
        views.push(GroupView {
            name: Some(group.name.clone()),
            status: status_label(worst),
            status_class: worst.as_str(),
            components: members.into_iter().map(component_view).collect(),
        });
    }
    let known: Vec<Uuid> = data.groups.iter().map(|g| g.id).collect();
    let loose: Vec<&Component> =
        data.components.iter().filter(|c| c.group_id.is_none_or(|g| !known.contains(&g))).collect();
    if !loose.is_empty() {
        let worst = ComponentStatus::worst(loose.iter().map(|c| c.status));
        views.push(GroupView {
            name: None,
            status: status_label(worst),
            status_class: worst.as_str(),
            components: loose.into_iter().map(component_view).collect(),
        });
    }
    views
}

/// A line of a list of incidents (recent incidents, history).
pub(crate) struct IncidentLine {
    pub href: String,
    pub name: String,
    pub status: String,
    pub impact: &'static str,
    pub impact_class: &'static str,
    /// "2026-11-29 14:05 UTC – 15:20 UTC", or "since …".
    pub period: String,
    /// The latest update as plain text, shortened.
    pub latest: String,
}

fn incident_line(incident: &Incident, chrome: &Chrome, settings: &Settings) -> IncidentLine {
    let (impact, impact_class) = impact_words(incident.impact);
    let tz = &settings.time_zone;
    let period = match incident.resolved_at {
        Some(end) => {
            format!("{} – {}", clock::absolute(incident.started_at, tz), clock::time_of_day(end, tz))
        }
        None => format!("since {}", clock::absolute(incident.started_at, tz)),
    };
    let latest = incident
        .updates
        .first()
        .map(|u| shorten(&crate::markdown::to_text(&u.body), 240))
        .unwrap_or_default();
    IncidentLine {
        href: chrome.incident(&incident.id),
        name: incident.name.clone(),
        status: capitalise(incident.public_status()),
        impact,
        impact_class,
        period,
        latest,
    }
}

fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    }
}

#[derive(Template)]
#[template(path = "status/page.html")]
pub(crate) struct HomePage {
    pub chrome: Chrome,
    pub banner: &'static str,
    pub banner_class: &'static str,
    pub incidents: Vec<IncidentView>,
    /// In progress first, then upcoming.
    pub maintenances: Vec<MaintenanceView>,
    pub groups: Vec<GroupView>,
    pub recent: Vec<IncidentLine>,
    pub first_day: String,
    pub days: usize,
    pub updated: Moment,
}

#[derive(Template)]
#[template(path = "status/history.html")]
pub(crate) struct HistoryPage {
    pub chrome: Chrome,
    /// Newest first; only months with something in them.
    pub months: Vec<MonthView>,
    /// The first page, from a later one.
    pub latest: Option<String>,
    /// The next page, when older incidents exist.
    pub older: Option<String>,
}

/// One month of the history.
pub(crate) struct MonthView {
    pub label: String,
    pub incidents: Vec<IncidentLine>,
}

#[derive(Template)]
#[template(path = "status/incident.html")]
pub(crate) struct IncidentPage {
    pub chrome: Chrome,
    pub incident: IncidentView,
}

#[derive(Template)]
#[template(path = "status/maintenance.html")]
pub(crate) struct MaintenancePage {
    pub chrome: Chrome,
    pub maintenance: MaintenanceView,
}

/// The words of the stale note, also checked by tests.
pub(crate) const STALE_NOTE: &str = "This page may be out of date since";

fn stale_moment(stale: Option<Timestamp>, settings: &Settings, now: Timestamp) -> Option<Moment> {
    stale.map(|at| Moment::new(at, &settings.time_zone, now))
}

/// The status page.
pub(crate) fn home(
    settings: &Settings,
    data: &StatusData,
    site: Site,
    refresh: bool,
    stale: Option<Timestamp>,
    now: Timestamp,
) -> Result<String, askama::Error> {
    let chrome = Chrome::new(settings, site, refresh, stale_moment(stale, settings, now));
    let incidents =
        data.open_incidents().map(|i| IncidentView::of(i, data, &chrome, settings, now)).collect();
    // The data holds exactly the recent window (`data::RECENT_DAYS`, `data::RECENT_LIMIT`).
    let recent =
        data.incidents.iter().filter(|i| !i.is_open()).map(|i| incident_line(i, &chrome, settings)).collect();
    let page = HomePage {
        banner: data.page.banner(),
        banner_class: data.page.class(),
        incidents,
        maintenances: data
            .current_maintenances()
            .map(|m| MaintenanceView::of(m, data, &chrome, settings, now))
            .collect(),
        groups: group_views(data),
        recent,
        first_day: data.days.first().map(|d| d.date.strftime("%Y-%m-%d").to_string()).unwrap_or_default(),
        days: data.days.len(),
        updated: Moment::new(data.loaded_at, &settings.time_zone, now),
        chrome,
    };
    page.render()
}

/// Maintenances over: history only.
fn past_maintenances(data: &StatusData) -> impl Iterator<Item = &Maintenance> {
    data.maintenances.iter().filter(|m| m.status == Some(PublicStatus::Completed))
}

/// One page of the history: the incidents of `chunk` under their month, with the completed
/// maintenances that fall between its first and last incident (the first page takes every
/// later one, the last page every earlier one).
pub(crate) fn history(
    settings: &Settings,
    data: &StatusData,
    chunk: &HistoryChunk,
    site: Site,
    stale: Option<Timestamp>,
    now: Timestamp,
) -> Result<String, askama::Error> {
    let chrome = Chrome::new(settings, site, false, stale_moment(stale, settings, now));
    let upper = chunk.after.map(|(_, at)| at);
    let lower = if chunk.has_older { chunk.incidents.last().map(|i| i.started_at) } else { None };
    let mut dated: Vec<(Timestamp, IncidentLine)> = chunk
        .incidents
        .iter()
        .map(|i| (i.started_at, incident_line(i, &chrome, settings)))
        .chain(
            past_maintenances(data)
                .filter(|m| {
                    upper.is_none_or(|u| m.scheduled_for < u) && lower.is_none_or(|l| m.scheduled_for >= l)
                })
                .map(|m| (m.scheduled_for, maintenance_line(m, &chrome, settings))),
        )
        .collect();
    dated.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut months: Vec<MonthView> = vec![];
    for (at, line) in dated {
        let label = at.to_zoned_datetime(settings.time_zone.clone()).strftime("%B %Y").to_string();
        match months.last_mut() {
            Some(month) if month.label == label => month.incidents.push(line),
            _ => months.push(MonthView { label, incidents: vec![line] }),
        }
    }
    let base = chrome.history();
    let page_view = HistoryPage {
        latest: chunk.after.is_some().then(|| base.clone()),
        older: chunk
            .has_older
            .then(|| chunk.incidents.last().map(|i| format!("{base}?after={}", i.id)))
            .flatten(),
        months,
        chrome,
    };
    page_view.render()
}

/// The page of one public incident.
///
/// `loaded` is the incident read on its own when it is no longer in `data`.
pub(crate) fn incident(
    settings: &Settings,
    data: &StatusData,
    loaded: Option<&Incident>,
    site: Site,
    id: Uuid,
    stale: Option<Timestamp>,
    now: Timestamp,
) -> Option<Result<String, askama::Error>> {
    let chrome = Chrome::new(settings, site, false, stale_moment(stale, settings, now));
    let Some(incident) = data.incident(id).or(loaded.filter(|i| i.id == id)) else {
        // Statuspage links a maintenance like an incident (`/incidents/{id}`).
        let m = data.maintenance(id)?;
        let maintenance = MaintenanceView::of(m, data, &chrome, settings, now);
        return Some(MaintenancePage { chrome, maintenance }.render());
    };
    let view = IncidentView::of(incident, data, &chrome, settings, now);
    Some(IncidentPage { chrome, incident: view }.render())
}

/// The 404 page of the status host.
pub(crate) fn not_found_page() -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Not found · TwisterLab status</title><link rel=\"stylesheet\" href=\"{}\"></head>\
         <body><main class=\"wrap\"><h1>Page not found</h1><p>There is nothing at this address. \
         <a href=\"/\">See the current status of TwisterLab</a>.</p></main></body></html>\n",
        assets::url("status.css")
    )
}
