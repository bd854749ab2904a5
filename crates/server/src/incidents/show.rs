//! `GET /incidents/{number}`: the header with the SLA clocks, the quick actions the caller's role
//! allows, and the timeline (filterable by kind and actor, corrections linked both ways).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use twisterlab_domain::incident::{self as rules, Impact, IncidentNumber, IncidentStatus, TimelineKind};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::service::{self, IncidentRole, LINK_KINDS, PUBLIC_STATUSES};
use super::view::{
    self, SlaView, impact_choices, incident_path, person_name, severity_class, status_class, user_label,
};
use crate::auth::CurrentUser;
use crate::db::incidents::{self as store, Incident, TimelineEvent, TimelineFilter};
use crate::db::notifications::{self, Listed, State as NotificationState};
use crate::db::{components, users};
use crate::markdown;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::{Choice, PathId, PathNumber, see_other};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// A component the incident affects.
pub(crate) struct AffectedView {
    pub name: String,
    pub impact: &'static str,
    pub impact_class: String,
}

/// A link the incident carries; `href` only for http(s) addresses.
pub(crate) struct LinkView {
    pub kind: String,
    pub text: String,
    pub href: Option<String>,
}

/// Where a correction points.
pub(crate) struct CorrectionRef {
    pub href: String,
    pub text: String,
}

/// One outbox row about the incident: where it went and what became of it.
pub(crate) struct DeliveryView {
    pub channel: String,
    pub event: String,
    pub state: &'static str,
    pub state_class: &'static str,
    /// "delivered", "waiting to be sent", "failed 3 times, retrying: HTTP 500", …
    pub detail: String,
    pub queued: Moment,
}

/// One timeline event as the page shows it.
pub(crate) struct EventView {
    pub id: Uuid,
    pub iso: String,
    pub time: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub actor: String,
    pub summary: String,
    pub link_href: Option<String>,
    /// Safe HTML from `markdown::to_html`, rendered once.
    pub body_html: Option<String>,
    pub facts: Vec<(String, String)>,
    pub public: bool,
    pub corrects: Option<CorrectionRef>,
    /// Ids of the events that correct this one.
    pub corrected_by: Vec<Uuid>,
    pub can_correct: bool,
}

/// A manager's review of one of the incident's escalations.
pub(crate) struct ReviewNote {
    pub event_id: Uuid,
    pub kind: &'static str,
    pub reviewer: String,
    pub at: Moment,
    pub comment: String,
    pub follow_up: Option<String>,
}

#[derive(Template)]
#[template(path = "incidents/show.html")]
pub(crate) struct ShowPage {
    pub layout: Layout,
    pub number: String,
    pub path: String,
    pub title: String,
    /// The summary as written, for the correction form.
    pub summary: String,
    pub summary_html: String,
    pub severity: &'static str,
    pub severity_label: &'static str,
    pub severity_class: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub open: bool,
    pub private: bool,
    pub security: bool,
    pub commander: Option<String>,
    pub comms_lead: Option<String>,
    pub scribe: Option<String>,
    pub started: Moment,
    pub detected: Moment,
    pub acknowledged: Option<Moment>,
    pub resolved: Option<Moment>,
    pub resolved_after: Option<String>,
    pub sla: SlaView,
    pub affected: Vec<AffectedView>,
    pub labels: Vec<String>,
    pub links: Vec<LinkView>,
    pub version: i32,
    pub can_respond: bool,
    pub can_command: bool,
    pub can_acknowledge: bool,
    /// A responder or above who does not command this open incident yet.
    pub can_take_command: bool,
    pub next_statuses: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub roles: Vec<Choice>,
    pub people: Vec<Choice>,
    /// Only people allowed to command (`rules::may_be_commander`).
    pub commanders: Vec<Choice>,
    pub public_statuses: Vec<Choice>,
    pub components: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub link_kinds: Vec<Choice>,
    pub events: Vec<EventView>,
    /// Every notification about the incident, with its delivery outcome.
    pub deliveries: Vec<DeliveryView>,
    /// How many deliveries failed (retrying or given up).
    pub failed_deliveries: usize,
    /// Open, unacknowledged, and no page reached anyone: said prominently at the top.
    pub unreached: Option<String>,
    pub kinds: Vec<Choice>,
    pub actors: Vec<Choice>,
    pub filtered: bool,
    pub newest_first: bool,
    pub orders: Vec<Choice>,
    /// Links to the first, previous and next page of the timeline (same filter and order).
    pub timeline_first: Option<String>,
    pub timeline_previous: Option<String>,
    pub timeline_next: Option<String>,
    pub page_size: usize,
    pub time_zone: String,
    /// Guided runs on the incident, with their progress.
    pub runs: Vec<crate::runbooks::view::RunSummary>,
    /// Reviews of the incident's escalations, oldest first.
    pub reviews: Vec<ReviewNote>,
    /// The postmortem's state (`draft`, `in review`, `published`), if started.
    pub postmortem: Option<&'static str>,
    /// A resolved P0 or P1 without a published postmortem.
    pub postmortem_due: bool,
}

/// Events per page of the timeline.
pub(crate) const TIMELINE_PAGE: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TimelineQuery {
    kind: String,
    actor: String,
    /// `newest` or `oldest` (the default).
    order: String,
    /// The page after this event (in the chosen order).
    after: String,
    /// The page before this event.
    before: String,
    /// The page that contains this event (where a permalink lands).
    at: String,
}

/// Which page of the timeline to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimelineNav {
    First,
    After(Uuid),
    Before(Uuid),
    At(Uuid),
}

impl TimelineQuery {
    fn newest_first(&self) -> Result<bool, AppError> {
        match self.order.trim() {
            "" | "oldest" => Ok(false),
            "newest" => Ok(true),
            _ => Err(AppError::BadRequest("Timeline order: `newest` or `oldest`.".into())),
        }
    }

    fn nav(&self) -> Result<TimelineNav, AppError> {
        let id = |name: &str, value: &str| {
            value.trim().parse::<Uuid>().map_err(|_| {
                AppError::BadRequest(format!("Timeline `{name}`: not an event of this incident."))
            })
        };
        Ok(match (self.after.trim(), self.before.trim(), self.at.trim()) {
            ("", "", "") => TimelineNav::First,
            (a, "", "") => TimelineNav::After(id("after", a)?),
            ("", b, "") => TimelineNav::Before(id("before", b)?),
            ("", "", at) => TimelineNav::At(id("at", at)?),
            _ => {
                return Err(AppError::BadRequest("Timeline: give one of `after`, `before` and `at`.".into()));
            }
        })
    }

    fn filter(&self) -> Result<TimelineFilter, AppError> {
        let mut filter = TimelineFilter::default();
        match self.kind.trim() {
            "" => {}
            k => {
                filter.kind = Some(
                    k.parse::<TimelineKind>()
                        .map_err(|e| AppError::BadRequest(format!("Timeline filter `kind`: {e}.")))?,
                );
            }
        }
        match self.actor.trim() {
            "" => {}
            a => {
                filter.actor_user_id = Some(a.parse::<Uuid>().map_err(|_| {
                    AppError::BadRequest("Timeline filter `actor`: choose a person from the list.".into())
                })?);
            }
        }
        Ok(filter)
    }
}

/// `GET /incidents/{number}`: the header, quick actions for the caller's role, the timeline.
pub(crate) async fn show_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, AppError> {
    let filter = q.filter()?;
    let filtered = filter.kind.is_some() || filter.actor_user_id.is_some();
    let newest_first = q.newest_first()?;
    let nav = q.nav()?;

    let mut conn = app.pool.acquire().await?;
    let incident = service::load_readable(&mut conn, number, service::ReadScope::of(&user)).await?;
    let timeline = timeline_page(&mut conn, incident.id, &filter, newest_first, nav).await?;
    let events = timeline.events;
    let affected = store::components(&mut *conn, incident.id).await?;
    let links = store::links(&mut *conn, incident.id).await?;
    let runs = crate::db::runbook_runs::of_incident(&mut *conn, incident.id).await?;
    let runs = crate::runbooks::view::summaries(&mut conn, runs).await?;
    let all_components = components::list(&mut *conn).await?;
    let people = users::list(&mut *conn).await?;
    let escalations = crate::db::escalations::of_incident(&mut *conn, incident.id).await?;
    let postmortem = crate::db::postmortems::of_incident(&mut conn, incident.id).await?.map(|p| p.state);
    let escalation = store::manager_escalations(&mut *conn, &[incident.id]).await?.remove(&incident.id);
    let notifications = notifications::for_incident(&mut *conn, incident.id, MAX_DELIVERIES).await?;
    let pages = store::page_events(&mut *conn, incident.id).await?;
    // Corrections on other pages, or hidden by the filter, still mark their originals.
    let corrections = store::corrections(&mut *conn, incident.id).await?;
    drop(conn);

    let zone = &app.config.timezone;
    let now = Timestamp::now();
    let role = user.role;
    let can_respond = role.allows(Role::Responder);
    let commands_it = service::is_commander(&incident, &user.actor);
    let can_command = rules::may_command(role, commands_it);
    let component_names: HashMap<Uuid, String> =
        all_components.iter().map(|c| (c.id, c.name.clone())).collect();
    let events = event_views(&events, &corrections, number, zone, &component_names, |e| {
        can_command || (can_respond && e.actor_user_id.is_some() && e.actor_user_id == Some(user.user.id))
    });

    let unreached = unreached(&incident, &pages, &notifications);
    let failed_deliveries = notifications
        .iter()
        .filter(|n| matches!(n.state, NotificationState::Failed | NotificationState::Dead))
        .count();
    let deliveries = notifications.iter().map(|n| delivery_view(n, zone, now)).collect();
    let current_impacts: HashMap<Uuid, Impact> =
        affected.iter().map(|a| (a.component_id, a.impact)).collect();
    let page =
        ShowPage {
            runs,
            number: number.to_string(),
            path: incident_path(number),
            title: incident.title.clone(),
            summary: incident.summary.clone(),
            summary_html: markdown::to_html(&incident.summary),
            severity: incident.severity.as_str(),
            severity_label: incident.severity.label(),
            severity_class: severity_class(incident.severity),
            status: incident.status.as_str(),
            status_class: status_class(incident.status),
            open: incident.status.is_open(),
            private: incident.private,
            security: incident.security,
            commander: person_name(&incident.commander),
            comms_lead: person_name(&incident.comms_lead),
            scribe: person_name(&incident.scribe),
            started: Moment::new(incident.started_at, zone, now),
            detected: Moment::new(incident.detected_at, zone, now),
            acknowledged: incident.acknowledged_at.map(|t| Moment::new(t, zone, now)),
            resolved: incident.resolved_at.map(|t| Moment::new(t, zone, now)),
            resolved_after: incident.resolved_at.map(|t| view::span(incident.started_at, t)),
            sla: SlaView::of(&incident, escalation.as_ref(), now, zone),
            affected: affected
                .iter()
                .map(|a| AffectedView {
                    name: a.name.clone(),
                    impact: a.impact.label(),
                    impact_class: format!("state-{}", a.impact.as_str()),
                })
                .collect(),
            labels: incident.labels.clone(),
            links: links
                .iter()
                .map(|l| LinkView {
                    kind: l.kind.clone(),
                    text: if l.label.is_empty() { l.url.clone() } else { l.label.clone() },
                    href: view::safe_href(&l.url).map(str::to_owned),
                })
                .collect(),
            version: incident.version,
            can_respond,
            can_command,
            can_acknowledge: can_respond && incident.acknowledged_at.is_none() && incident.status.is_open(),
            can_take_command: rules::may_be_commander(role) && !commands_it && incident.status.is_open(),
            next_statuses: incident
                .status
                .allowed_next()
                .filter(|s| !matches!(s, IncidentStatus::Resolved | IncidentStatus::Acknowledged))
                .map(|s| Choice::new(s.as_str(), s.as_str(), false))
                .collect(),
            severities: Severity::ALL
                .iter()
                .filter(|s| **s != incident.severity)
                .map(|s| Choice::new(s.as_str(), format!("{} {}", s.as_str(), s.label()), false))
                .collect(),
            roles: [IncidentRole::CommsLead, IncidentRole::Scribe]
                .iter()
                .map(|r| Choice::new(r.as_str(), view::role_words(r.as_str()), false))
                .collect(),
            people: people
                .iter()
                .filter(|u| u.active)
                .map(|u| Choice::new(u.id.to_string(), user_label(u), false))
                .collect(),
            commanders: people
                .iter()
                .filter(|u| u.active && rules::may_be_commander(u.role))
                .filter(|u| incident.commander.as_ref().map(|p| p.id) != Some(u.id))
                .map(|u| Choice::new(u.id.to_string(), user_label(u), false))
                .collect(),
            public_statuses: {
                let mut v = vec![Choice::new("", "keep the current status", true)];
                v.extend(PUBLIC_STATUSES.iter().map(|s| Choice::new(s.as_str(), s.as_str(), false)));
                v
            },
            components: all_components
                .iter()
                .map(|c| {
                    let now = current_impacts.get(&c.id).map(|i| i.label()).unwrap_or("not affected");
                    Choice::new(c.id.to_string(), format!("{} (now {now})", c.name), false)
                })
                .collect(),
            impacts: impact_choices(""),
            link_kinds: LINK_KINDS.iter().map(|k| Choice::new(*k, *k, false)).collect(),
            events,
            deliveries,
            failed_deliveries,
            unreached,
            kinds: {
                let mut v = vec![Choice::new("", "every kind", filter.kind.is_none())];
                v.extend(
                    TimelineKind::ALL
                        .iter()
                        .map(|k| Choice::new(k.as_str(), view::kind_label(*k), filter.kind == Some(*k))),
                );
                v
            },
            actors: {
                let mut v = vec![Choice::new("", "anyone", filter.actor_user_id.is_none())];
                v.extend(people.iter().map(|u| {
                    Choice::new(u.id.to_string(), user_label(u), filter.actor_user_id == Some(u.id))
                }));
                v
            },
            filtered,
            newest_first,
            orders: vec![
                Choice::new("oldest", "oldest first", !newest_first),
                Choice::new("newest", "newest first", newest_first),
            ],
            timeline_first: (nav != TimelineNav::First && timeline.previous.is_some())
                .then(|| timeline_href(number, &filter, newest_first, None)),
            timeline_previous: timeline
                .previous
                .map(|id| timeline_href(number, &filter, newest_first, Some(("before", id)))),
            timeline_next: timeline
                .next
                .map(|id| timeline_href(number, &filter, newest_first, Some(("after", id)))),
            page_size: TIMELINE_PAGE,
            time_zone: app.config.timezone_name.clone(),
            postmortem: postmortem.map(crate::db::postmortems::State::label),
            postmortem_due: incident.status == IncidentStatus::Resolved
                && crate::managers::service::postmortem_required(incident.severity)
                && postmortem != Some(crate::db::postmortems::State::Published),
            reviews: escalations
                .iter()
                .filter_map(|e| {
                    Some(ReviewNote {
                        event_id: e.event_id,
                        kind: e.kind.label(),
                        reviewer: e.reviewer.clone().unwrap_or_default(),
                        at: Moment::new(e.reviewed_at?, zone, now),
                        comment: e.review_comment.clone().unwrap_or_default(),
                        follow_up: e.follow_up.clone(),
                    })
                })
                .collect(),
            layout,
        };
    Ok(render_page(&page))
}

/// One page of the timeline and the events its neighbours continue from.
struct TimelinePage {
    events: Vec<TimelineEvent>,
    /// The first event shown, when earlier pages exist (`before=` it).
    previous: Option<Uuid>,
    /// The last event shown, when later pages exist (`after=` it).
    next: Option<Uuid>,
}

/// Reads the page `nav` asks for: [`TIMELINE_PAGE`] events at most, keyset on time and id,
/// pages aligned on multiples of [`TIMELINE_PAGE`] from the start of the order so that a
/// permalink opens the same page the "next" links reach. An event named by `nav` that is not
/// on this incident is "not found".
async fn timeline_page(
    conn: &mut sqlx::PgConnection,
    incident_id: Uuid,
    filter: &TimelineFilter,
    newest_first: bool,
    nav: TimelineNav,
) -> Result<TimelinePage, AppError> {
    let size = TIMELINE_PAGE as i64;
    let mut cursor_of = async |id: Uuid| -> Result<(Timestamp, Uuid), AppError> {
        let event = store::event(&mut *conn, incident_id, id).await?.ok_or(AppError::NotFound)?;
        Ok((event.at, event.id))
    };
    let (cursor, forward, offset) = match nav {
        TimelineNav::First => (None, true, 0),
        TimelineNav::After(id) => (Some(cursor_of(id).await?), true, 0),
        TimelineNav::Before(id) => (Some(cursor_of(id).await?), false, 0),
        TimelineNav::At(id) => {
            let at = cursor_of(id).await?;
            let position =
                store::timeline_position(&mut *conn, incident_id, filter, newest_first, at).await?;
            (None, true, position / size * size)
        }
    };
    let window = store::TimelineWindow { newest_first, forward, cursor, offset, limit: size + 1 };
    let mut events = store::timeline_window(&mut *conn, incident_id, filter, &window).await?;
    let more = events.len() > TIMELINE_PAGE;
    events.truncate(TIMELINE_PAGE);
    if !forward {
        events.reverse();
    }
    let (earlier, later) = if forward { (cursor.is_some() || offset > 0, more) } else { (more, true) };
    Ok(TimelinePage {
        previous: earlier.then(|| events.first().map(|e| e.id)).flatten(),
        next: later.then(|| events.last().map(|e| e.id)).flatten(),
        events,
    })
}

/// The incident page with the timeline's (checked) filter and order, at the page `cursor` names.
fn timeline_href(
    number: IncidentNumber,
    filter: &TimelineFilter,
    newest_first: bool,
    cursor: Option<(&str, Uuid)>,
) -> String {
    let mut params: Vec<String> = vec![];
    if let Some(kind) = filter.kind {
        params.push(format!("kind={}", kind.as_str()));
    }
    if let Some(actor) = filter.actor_user_id {
        params.push(format!("actor={actor}"));
    }
    if newest_first {
        params.push("order=newest".into());
    }
    if let Some((name, id)) = cursor {
        params.push(format!("{name}={id}"));
    }
    let path = incident_path(number);
    if params.is_empty() {
        format!("{path}#timeline-title")
    } else {
        format!("{path}?{}#timeline-title", params.join("&"))
    }
}

/// `GET /incidents/{number}/events/{id}`: the lasting link to one event (escalation reviews,
/// postmortems and the timeline's own permalinks use it); sends the reader to the page of the
/// timeline that holds the event, scrolled to it.
pub(crate) async fn event_permalink(
    State(app): State<AppState>,
    user: CurrentUser,
    PathNumber(number): PathNumber,
    PathId(event_id): PathId,
) -> Result<Response, AppError> {
    let mut conn = app.pool.acquire().await?;
    let incident = service::load_readable(&mut conn, number, service::ReadScope::of(&user)).await?;
    store::event(&mut *conn, incident.id, event_id).await?.ok_or(AppError::NotFound)?;
    Ok(see_other(&view::event_href(number, Some(event_id))))
}

/// Most notifications listed on the incident page.
const MAX_DELIVERIES: i64 = 200;

/// "Nobody could be reached" while the incident is open and unacknowledged and no page (to the
/// primary, secondary or manager) reached anyone: none was queued, or every row queued for one
/// was given up on. `None` once someone responds or a page is on its way.
fn unreached(incident: &Incident, pages: &[TimelineEvent], notifications: &[Listed]) -> Option<String> {
    if !incident.status.is_open() || incident.acknowledged_at.is_some() || pages.is_empty() {
        return None;
    }
    let state: HashMap<Uuid, NotificationState> = notifications.iter().map(|n| (n.id, n.state)).collect();
    let ids = |e: &TimelineEvent| -> Vec<Uuid> {
        e.data
            .get("notification_ids")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    };
    // A mention of the person in a Slack channel message reaches them as far as that message
    // does: it is the channel's row that counts.
    let reached = pages.iter().any(|e| {
        !view::nobody_notified(e) && {
            let ids = ids(e);
            // Pages recorded before their rows were named count as sent.
            ids.is_empty()
                || ids.iter().any(|id| state.get(id).is_some_and(|s| *s != NotificationState::Dead))
        }
    });
    if reached {
        return None;
    }
    let sent_any = pages.iter().any(|e| !view::nobody_notified(e) || !ids(e).is_empty());
    Some(if sent_any {
        "Nobody could be reached: every page failed to deliver (see the deliveries below). Escalation continues; call the people on call directly.".into()
    } else {
        "Nobody could be reached: no notification channel carries this incident's pages and the people paged have no contact method that works, so nobody was notified. Escalation continues; call the people on call directly, and have an admin set up a channel (or add your own contact methods under Your account).".into()
    })
}

/// A notification's outcome in words.
fn delivery_view(n: &Listed, zone: &TimeZone, now: Timestamp) -> DeliveryView {
    let error = n.last_error.clone().unwrap_or_default();
    let (state_class, detail) = match n.state {
        NotificationState::Delivered => ("state-operational", "delivered".to_owned()),
        NotificationState::Pending | NotificationState::Delivering => {
            ("state-under_maintenance", "waiting to be sent".to_owned())
        }
        NotificationState::Failed => {
            ("state-partial_outage", format!("failed {} time(s), retrying: {error}", n.attempts))
        }
        NotificationState::Dead => ("state-major_outage", format!("not delivered, given up: {error}")),
    };
    DeliveryView {
        channel: n.channel_name.clone(),
        event: n.event.replace('_', " "),
        state: n.state.as_str(),
        state_class,
        detail,
        queued: Moment::new(n.created_at, zone, now),
    }
}

/// The confirmation before resolving: asks for the resolution note (works without JavaScript).
#[derive(Template)]
#[template(path = "incidents/resolve.html")]
pub(crate) struct ResolvePage {
    pub layout: Layout,
    pub number: String,
    pub path: String,
    pub title: String,
    pub status: &'static str,
    pub acknowledged: bool,
    pub private: bool,
    pub version: i32,
    pub resolution: String,
    pub errors: crate::validation::FieldErrors,
}

/// `GET /incidents/{number}/resolve`: the confirmation page, for whoever may run the incident.
pub(crate) async fn confirm_resolve(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathNumber(number): PathNumber,
) -> Result<Response, AppError> {
    let mut conn = app.pool.acquire().await?;
    let incident = service::load(&mut conn, number).await?;
    drop(conn);
    if !rules::may_command(user.role, service::is_commander(&incident, &user.actor)) {
        return Err(AppError::Forbidden { have: user.role, need: Role::Commander });
    }
    if !incident.status.is_open() {
        return Err(AppError::Conflict(format!("{number} is already resolved.")));
    }
    Ok(render_page(&ResolvePage {
        layout,
        number: number.to_string(),
        path: incident_path(number),
        title: incident.title.clone(),
        status: incident.status.as_str(),
        acknowledged: incident.acknowledged_at.is_some(),
        private: incident.private,
        version: incident.version,
        resolution: String::new(),
        errors: crate::validation::FieldErrors::new(),
    }))
}

/// Timeline rows: Markdown rendered once per event, corrections linked both ways.
fn event_views(
    events: &[TimelineEvent],
    corrections: &[(Uuid, Uuid)],
    number: IncidentNumber,
    zone: &TimeZone,
    component_names: &HashMap<Uuid, String>,
    may_correct: impl Fn(&TimelineEvent) -> bool,
) -> Vec<EventView> {
    let index: HashMap<Uuid, usize> = events.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut corrected_by: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (original, correction) in corrections {
        corrected_by.entry(*original).or_default().push(*correction);
    }
    events
        .iter()
        .map(|e| {
            let corrects = e.corrects_id.map(|original| {
                let text = match index.get(&original).map(|i| &events[*i]) {
                    Some(o) => format!(
                        "correction of the {} by {} at {}",
                        view::kind_label(o.kind).to_lowercase(),
                        o.actor_label,
                        view::precise(o.at, zone)
                    ),
                    None => "correction of an earlier event".into(),
                };
                CorrectionRef { href: view::event_permalink(number, original), text }
            });
            let link_href = (e.kind == TimelineKind::LinkAdded)
                .then(|| {
                    e.data.get("url").and_then(|v| v.as_str()).and_then(view::safe_href).map(str::to_owned)
                })
                .flatten();
            EventView {
                id: e.id,
                iso: crate::clock::iso(e.at),
                time: view::precise(e.at, zone),
                kind: e.kind.as_str(),
                kind_label: view::kind_label(e.kind),
                actor: e.actor_label.clone(),
                summary: view::event_summary(e, zone, component_names),
                link_href,
                body_html: e.body.as_deref().filter(|b| !b.is_empty()).map(markdown::to_html),
                facts: view::generic_facts(e),
                public: e.public,
                corrects,
                corrected_by: corrected_by.remove(&e.id).unwrap_or_default(),
                can_correct: matches!(e.kind, TimelineKind::Note | TimelineKind::PublicUpdate)
                    && may_correct(e),
            }
        })
        .collect()
}
