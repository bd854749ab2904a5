//! Incident pages: the list, the declare form, and the incident page with its quick actions and
//! timeline. Every action is a plain form handled with post/redirect/get.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus, TimelineKind, Title};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use twisterlab_domain::sla::{SlaPolicy, compact_duration};
use uuid::Uuid;

use super::service::{self, Declaration, IncidentError, IncidentRole, LINK_KINDS, PUBLIC_STATUSES};
use super::view::{self, Moment, SlaView};
use crate::auth::{CurrentUser, urlencode};
use crate::clock::{from_jiff, to_jiff};
use crate::db::incidents::{self as store, Cursor, Incident, ListFilter, TimelineEvent, TimelineFilter};
use crate::db::users::User;
use crate::db::{components, sla, users};
use crate::markdown;
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

/// Incidents per list page unless `limit` says otherwise, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;
/// Longest text filter accepted, in characters.
const MAX_FILTER_TEXT: usize = 200;

// ---------------------------------------------------------------------------------------------
// Shared pieces.

/// One choice of a select or radio group.
#[derive(Clone, Debug)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Self {
        Self { value: value.into(), label: label.into(), selected }
    }
}

/// The colour class of a severity (its name is always written beside it).
pub fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::P0 => "state-major_outage",
        Severity::P1 => "state-partial_outage",
        Severity::P2 => "state-degraded_performance",
        Severity::P3 => "state-under_maintenance",
    }
}

/// The colour class of a status: red until someone responds, green once resolved.
pub fn status_class(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Triggered => "state-major_outage",
        IncidentStatus::Resolved => "state-operational",
        _ => "state-under_maintenance",
    }
}

/// `/incidents/INC-42`.
pub fn incident_path(number: IncidentNumber) -> String {
    format!("/incidents/{number}")
}

/// "INC-42" or "42"; anything else is an incident that does not exist.
pub fn parse_number(raw: &str) -> Result<IncidentNumber, AppError> {
    raw.parse::<IncidentNumber>().map_err(|_| AppError::NotFoundThing {
        what: format!("Incident {}", raw.chars().take(40).collect::<String>()),
    })
}

fn first_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// The last value of `key` among query or form pairs.
fn param<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// `?a=1&b=2` from the non-empty pairs (empty string when none).
fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// A `datetime-local` value in the team zone; empty means "not given".
fn parse_local(raw: &str, zone: &TimeZone) -> Result<Option<OffsetDateTime>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let civil: jiff::civil::DateTime =
        raw.parse().map_err(|_| format!("Enter a date and time such as 2026-11-29T14:05 (got {raw:?})."))?;
    let zoned = civil
        .to_zoned_datetime(zone.clone())
        .map_err(|_| "That time does not exist in the team's time zone.".to_owned())?;
    Ok(Some(from_jiff(zoned.timestamp())))
}

/// The value a `datetime-local` input shows for `t` in the team zone.
fn local_input(t: OffsetDateTime, zone: &TimeZone) -> String {
    to_jiff(t).to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
}

fn parse_version(raw: &str) -> Result<Option<i32>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i32>().map(Some).map_err(|_| {
        AppError::BadRequest(
            "The form's `version` field is not a number; reload the page and try again.".into(),
        )
    })
}

fn display_name(p: &Option<store::Person>) -> Option<String> {
    p.as_ref().map(|p| if p.display_name.is_empty() { p.email.clone() } else { p.display_name.clone() })
}

fn user_label(u: &User) -> String {
    if u.display_name.is_empty() || u.display_name == u.email {
        u.email.clone()
    } else {
        format!("{} ({})", u.display_name, u.email)
    }
}

// ---------------------------------------------------------------------------------------------
// GET /incidents

/// One incident in the list.
pub struct IncidentRow {
    pub number: String,
    pub href: String,
    pub title: String,
    pub severity: &'static str,
    pub severity_label: &'static str,
    pub severity_class: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub commander: Option<String>,
    pub private: bool,
    pub security: bool,
    pub started: Moment,
    pub sla: SlaView,
}

impl IncidentRow {
    fn of(i: &Incident, now: OffsetDateTime, zone: &TimeZone) -> Self {
        Self {
            number: i.number.to_string(),
            href: incident_path(i.number),
            title: i.title.clone(),
            severity: i.severity.as_str(),
            severity_label: i.severity.label(),
            severity_class: severity_class(i.severity),
            status: i.status.as_str(),
            status_class: status_class(i.status),
            commander: display_name(&i.commander),
            private: i.private,
            security: i.security,
            started: Moment::new(i.started_at, zone, now),
            sla: SlaView::of(i, now, zone),
        }
    }
}

#[derive(Template)]
#[template(path = "incidents/list.html")]
pub struct ListPage {
    pub layout: Layout,
    pub rows: Vec<IncidentRow>,
    pub statuses: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub commanders: Vec<Choice>,
    pub from: String,
    pub until: String,
    pub text: String,
    pub limit: String,
    pub filtered: bool,
    pub paged: bool,
    pub next_href: Option<String>,
    pub first_href: String,
    pub errors: Vec<FieldError>,
    pub can_declare: bool,
    pub is_admin: bool,
    pub time_zone: String,
}

impl ListPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

/// The list's filters, parsed; field errors for what does not parse.
struct ListParams {
    filter: ListFilter,
    after: Option<Cursor>,
    limit: i64,
}

fn parse_list_params(
    pairs: &[(String, String)],
    zone: &TimeZone,
    errors: &mut Vec<FieldError>,
) -> ListParams {
    let mut filter = ListFilter::default();
    match param(pairs, "status").trim() {
        "" | "all" => {}
        "open" => filter.open = Some(true),
        other => match other.parse::<IncidentStatus>() {
            Ok(s) => filter.status = Some(s),
            Err(_) => errors.push(FieldError::new(
                "status",
                format!("Unknown status {other:?}: choose open, resolved, all or one of the statuses."),
            )),
        },
    }
    match param(pairs, "severity").trim() {
        "" => {}
        other => match other.parse::<Severity>() {
            Ok(s) => filter.severity = Some(s),
            Err(_) => errors.push(FieldError::new(
                "severity",
                format!("Unknown severity {other:?}: choose P0, P1, P2 or P3."),
            )),
        },
    }
    match param(pairs, "commander").trim() {
        "" => {}
        other => match other.parse::<Uuid>() {
            Ok(id) => filter.commander_id = Some(id),
            Err(_) => errors.push(FieldError::new("commander", "Choose a commander from the list.")),
        },
    }
    let date = |field: &str, errors: &mut Vec<FieldError>| -> Option<jiff::civil::Date> {
        let raw = param(pairs, field).trim();
        if raw.is_empty() {
            return None;
        }
        raw.parse::<jiff::civil::Date>()
            .map_err(|_| {
                errors.push(FieldError::new(field, format!("Enter a date such as 2026-11-29 (got {raw:?}).")))
            })
            .ok()
    };
    let start_of =
        |d: jiff::civil::Date| d.to_zoned_datetime(zone.clone()).ok().map(|z| from_jiff(z.timestamp()));
    if let Some(from) = date("from", errors) {
        filter.started_from = start_of(from);
    }
    if let Some(until) = date("until", errors) {
        // Inclusive: everything that started on the `until` day.
        filter.started_until = until.tomorrow().ok().and_then(start_of);
    }
    if let (Some(from), Some(until)) = (filter.started_from, filter.started_until)
        && until <= from
    {
        errors.push(FieldError::new("until", "The period ends before it starts."));
    }
    let text = param(pairs, "q").trim();
    if text.chars().count() > MAX_FILTER_TEXT {
        errors.push(FieldError::new("q", format!("Search for at most {MAX_FILTER_TEXT} characters.")));
    } else if !text.is_empty() {
        filter.text = Some(text.to_owned());
    }
    let after = match param(pairs, "after").trim() {
        "" => None,
        raw => Cursor::decode(raw).or_else(|| {
            errors
                .push(FieldError::new("after", "The page position is not valid; start from the first page."));
            None
        }),
    };
    let limit = match param(pairs, "limit").trim() {
        "" => DEFAULT_PAGE_SIZE,
        raw => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("Show between 1 and {MAX_PAGE_SIZE} incidents per page."),
                ));
                DEFAULT_PAGE_SIZE
            }
        },
    };
    ListParams { filter, after, limit }
}

/// `GET /incidents`: open incidents first, newest first, with their SLA clocks.
pub async fn list_incidents(
    State(app): State<AppState>,
    layout: Layout,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let now = OffsetDateTime::now_utc();
    let mut errors = vec![];
    let params = parse_list_params(&pairs, zone, &mut errors);
    let people = users::list(&app.pool).await?;

    let (rows, next_href) = if errors.is_empty() {
        let mut found = store::list(&app.pool, &params.filter, params.after, params.limit + 1).await?;
        let more = found.len() > usize::try_from(params.limit).unwrap_or(usize::MAX);
        found.truncate(usize::try_from(params.limit).unwrap_or(usize::MAX));
        let next = match found.last() {
            Some(last) if more => {
                let cursor = Cursor::of(last).encode();
                let mut keep: Vec<(&str, &str)> =
                    ["status", "severity", "commander", "from", "until", "q", "limit"]
                        .iter()
                        .map(|k| (*k, param(&pairs, k)))
                        .collect();
                keep.push(("after", &cursor));
                Some(format!("/incidents{}", query_string(&keep)))
            }
            _ => None,
        };
        (found.iter().map(|i| IncidentRow::of(i, now, zone)).collect(), next)
    } else {
        (vec![], None)
    };

    let status = param(&pairs, "status").trim();
    let mut statuses = vec![
        Choice::new("all", "all", status.is_empty() || status == "all"),
        Choice::new("open", "open", status == "open"),
    ];
    statuses.extend(
        IncidentStatus::ALL
            .iter()
            .map(|s| Choice::new(s.as_str(), s.as_str(), status.eq_ignore_ascii_case(s.as_str()))),
    );
    let severity = param(&pairs, "severity").trim();
    let mut severities = vec![Choice::new("", "any", severity.is_empty())];
    severities.extend(Severity::ALL.iter().map(|s| {
        Choice::new(
            s.as_str(),
            format!("{} {}", s.as_str(), s.label()),
            severity.eq_ignore_ascii_case(s.as_str()),
        )
    }));
    let commander = param(&pairs, "commander").trim();
    let mut commanders = vec![Choice::new("", "anyone", commander.is_empty())];
    commanders.extend(
        people.iter().map(|u| Choice::new(u.id.to_string(), user_label(u), commander == u.id.to_string())),
    );
    let filter_keys = ["status", "severity", "commander", "from", "until", "q"];
    let filtered = filter_keys.iter().any(|k| {
        let v = param(&pairs, k).trim();
        let everything = v.is_empty() || (*k == "status" && v == "all");
        !everything
    });
    let limit = param(&pairs, "limit").trim().to_owned();
    let keep: Vec<(&str, &str)> =
        filter_keys.iter().chain(["limit"].iter()).map(|k| (*k, param(&pairs, k))).collect();
    let page = ListPage {
        can_declare: layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Commander)),
        is_admin: layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin)),
        layout,
        rows,
        statuses,
        severities,
        commanders,
        from: param(&pairs, "from").trim().to_owned(),
        until: param(&pairs, "until").trim().to_owned(),
        text: param(&pairs, "q").trim().to_owned(),
        limit,
        filtered,
        paged: !param(&pairs, "after").trim().is_empty(),
        next_href,
        first_href: format!("/incidents{}", query_string(&keep)),
        errors,
        time_zone: app.config.timezone_name.clone(),
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, render_page(&page)).into_response())
}

// ---------------------------------------------------------------------------------------------
// GET /incidents/new, POST /incidents

/// A severity choice with what it means and its current SLA.
pub struct SeverityChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub sla: String,
    pub checked: bool,
}

/// One component of the declare form, with the impact chosen for it.
pub struct ComponentChoice {
    pub field: String,
    pub name: String,
    pub group: String,
    pub impacts: Vec<Choice>,
}

fn impact_choices(current: &str) -> Vec<Choice> {
    let mut out = vec![Choice::new("", "not affected", current.is_empty())];
    out.extend(Impact::ALL.iter().map(|i| Choice::new(i.as_str(), i.label(), current == i.as_str())));
    out
}

#[derive(Template)]
#[template(path = "incidents/new.html")]
pub struct NewPage {
    pub layout: Layout,
    pub title: String,
    pub summary: String,
    pub severities: Vec<SeverityChoice>,
    pub started_at: String,
    pub detected_at: String,
    pub security: bool,
    pub private: bool,
    pub components: Vec<ComponentChoice>,
    pub labels: String,
    pub commanders: Vec<Choice>,
    pub errors: Vec<FieldError>,
    pub time_zone: String,
    pub is_admin: bool,
}

impl NewPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

/// Form values as typed, to build or re-render the declare form.
#[derive(Default)]
struct DeclareInput {
    title: String,
    summary: String,
    severity: String,
    started_at: String,
    detected_at: String,
    security: bool,
    private: bool,
    labels: String,
    commander: String,
    /// Component id (as typed) → impact name (as typed).
    impacts: HashMap<String, String>,
}

impl DeclareInput {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let impacts = pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("impact_")?.to_owned(), v.trim().to_owned())))
            .collect();
        Self {
            title: param(pairs, "title").to_owned(),
            summary: param(pairs, "summary").to_owned(),
            severity: param(pairs, "severity").trim().to_owned(),
            started_at: param(pairs, "started_at").trim().to_owned(),
            detected_at: param(pairs, "detected_at").trim().to_owned(),
            security: !param(pairs, "security").is_empty(),
            private: !param(pairs, "private").is_empty(),
            labels: param(pairs, "labels").to_owned(),
            commander: param(pairs, "commander").trim().to_owned(),
            impacts,
        }
    }
}

async fn new_page(
    app: &AppState,
    layout: Layout,
    input: DeclareInput,
    errors: Vec<FieldError>,
) -> Result<NewPage, AppError> {
    let mut conn = app.pool.acquire().await?;
    let policy: SlaPolicy = sla::policy(&mut *conn).await?;
    let all_components = components::list(&mut *conn).await?;
    let people = users::list(&mut *conn).await?;
    let severities = policy
        .targets()
        .map(|(s, t)| SeverityChoice {
            value: s.as_str(),
            label: s.label(),
            sla: format!(
                "acknowledge within {}, escalate to a manager {}",
                compact_duration(t.response),
                t.escalation
            ),
            checked: input.severity.eq_ignore_ascii_case(s.as_str()),
        })
        .collect();
    let components = all_components
        .iter()
        .map(|c| {
            let current = input.impacts.get(&c.id.to_string()).map(String::as_str).unwrap_or("");
            ComponentChoice {
                field: format!("impact_{}", c.id),
                name: c.name.clone(),
                group: c.group_name.clone().unwrap_or_default(),
                impacts: impact_choices(current),
            }
        })
        .collect();
    let commanders = people
        .iter()
        .filter(|u| u.active && u.role.allows(Role::Commander))
        .map(|u| Choice::new(u.id.to_string(), user_label(u), input.commander == u.id.to_string()))
        .collect();
    let is_admin = layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin));
    Ok(NewPage {
        layout,
        title: input.title,
        summary: input.summary,
        severities,
        started_at: input.started_at,
        detected_at: input.detected_at,
        security: input.security,
        private: input.private,
        components,
        labels: input.labels,
        commanders,
        errors,
        time_zone: app.config.timezone_name.clone(),
        is_admin,
    })
}

/// `GET /incidents/new`: the declare form, starting now, commanded by me.
pub async fn new_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
) -> Result<Response, AppError> {
    let now = local_input(OffsetDateTime::now_utc(), &app.config.timezone);
    let input = DeclareInput {
        started_at: now.clone(),
        detected_at: now,
        commander: user.user.id.to_string(),
        ..Default::default()
    };
    Ok(render_page(&new_page(&app, layout, input, vec![]).await?))
}

/// `POST /incidents`: declares, then shows the new incident; field errors re-render the form.
pub async fn declare_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let input = DeclareInput::from_pairs(&pairs);
    let mut errors = vec![];
    let severity = match input.severity.as_str() {
        "" => None,
        raw => raw
            .parse::<Severity>()
            .map_err(|e| errors.push(FieldError::new("severity", format!("{e}."))))
            .ok(),
    };
    let started_at = parse_local(&input.started_at, zone)
        .map_err(|m| errors.push(FieldError::new("started_at", m)))
        .ok()
        .flatten();
    let detected_at = parse_local(&input.detected_at, zone)
        .map_err(|m| errors.push(FieldError::new("detected_at", m)))
        .ok()
        .flatten();
    let mut component_impacts = vec![];
    for (id, impact) in &input.impacts {
        if impact.is_empty() {
            continue;
        }
        match (id.parse::<Uuid>(), impact.parse::<Impact>()) {
            (Ok(id), Ok(impact)) => component_impacts.push((id, impact)),
            _ => errors
                .push(FieldError::new("components", "Choose an impact from the list for each component.")),
        }
    }
    let commander_id = match input.commander.as_str() {
        "" => None,
        raw => raw
            .parse::<Uuid>()
            .map_err(|_| errors.push(FieldError::new("commander", "Choose a commander from the list.")))
            .ok(),
    };
    let declaration = Declaration {
        title: input.title.clone(),
        summary: input.summary.clone(),
        severity,
        started_at,
        detected_at,
        private: input.private.then_some(true),
        security: input.security,
        components: component_impacts,
        labels: input.labels.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        commander_id,
    };
    if !errors.is_empty() {
        // Say what else is wrong too, without writing anything.
        if let Err(e) = Title::parse(&declaration.title) {
            errors.push(FieldError::new("title", e.to_string()));
        }
        if declaration.severity.is_none() && first_error(&errors, "severity").is_none() {
            errors.push(FieldError::new("severity", "Choose a severity: P0, P1, P2 or P3."));
        }
        let page = new_page(&app, layout, input, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    let mut tx = app.pool.begin().await?;
    match service::declare(&mut tx, &user.actor, zone, &declaration).await {
        Ok(incident) => {
            tx.commit().await?;
            Ok(see_other(&incident_path(incident.number)))
        }
        Err(IncidentError::Invalid(errors)) => {
            drop(tx);
            let page = new_page(&app, layout, input, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// GET /incidents/{number}

/// A component the incident affects.
pub struct AffectedView {
    pub name: String,
    pub impact: &'static str,
    pub impact_class: String,
}

/// A link the incident carries; `href` only for http(s) addresses.
pub struct LinkView {
    pub kind: String,
    pub text: String,
    pub href: Option<String>,
}

/// Where a correction points.
pub struct CorrectionRef {
    pub href: String,
    pub text: String,
}

/// One timeline event as the page shows it.
pub struct EventView {
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

#[derive(Template)]
#[template(path = "incidents/show.html")]
pub struct ShowPage {
    pub layout: Layout,
    pub number: String,
    pub path: String,
    pub title: String,
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
    pub next_statuses: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub roles: Vec<Choice>,
    pub people: Vec<Choice>,
    pub public_statuses: Vec<Choice>,
    pub components: Vec<Choice>,
    pub impacts: Vec<Choice>,
    pub link_kinds: Vec<Choice>,
    pub events: Vec<EventView>,
    pub kinds: Vec<Choice>,
    pub actors: Vec<Choice>,
    pub filtered: bool,
    pub time_zone: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TimelineQuery {
    kind: String,
    actor: String,
}

/// `GET /incidents/{number}`: the header, quick actions for the caller's role, the timeline.
pub async fn show_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, AppError> {
    let number = parse_number(&raw)?;
    let mut filter = TimelineFilter::default();
    match q.kind.trim() {
        "" => {}
        k => {
            filter.kind = Some(
                k.parse::<TimelineKind>()
                    .map_err(|e| AppError::BadRequest(format!("Timeline filter `kind`: {e}.")))?,
            );
        }
    }
    match q.actor.trim() {
        "" => {}
        a => {
            filter.actor_user_id = Some(a.parse::<Uuid>().map_err(|_| {
                AppError::BadRequest("Timeline filter `actor`: choose a person from the list.".into())
            })?);
        }
    }
    let filtered = filter.kind.is_some() || filter.actor_user_id.is_some();

    let mut conn = app.pool.acquire().await?;
    let incident = service::load(&mut conn, number).await?;
    let events = store::timeline(&mut *conn, incident.id, &filter).await?;
    let affected = store::components(&mut *conn, incident.id).await?;
    let links = store::links(&mut *conn, incident.id).await?;
    let all_components = components::list(&mut *conn).await?;
    let people = users::list(&mut *conn).await?;
    // Corrections of events the filter hides still mark their originals.
    let corrections = if filtered {
        store::corrections(&mut *conn, incident.id).await?
    } else {
        events.iter().filter_map(|e| Some((e.corrects_id?, e.id))).collect()
    };
    drop(conn);

    let zone = &app.config.timezone;
    let now = OffsetDateTime::now_utc();
    let role = user.role;
    let can_respond = role.allows(Role::Responder);
    let can_command = role.allows(Role::Commander);
    let component_names: HashMap<Uuid, String> =
        all_components.iter().map(|c| (c.id, c.name.clone())).collect();
    let events = event_views(&events, &corrections, number, zone, &component_names, |e| {
        can_command || (can_respond && e.actor_user_id.is_some() && e.actor_user_id == Some(user.user.id))
    });

    let current_impacts: HashMap<Uuid, Impact> =
        affected.iter().map(|a| (a.component_id, a.impact)).collect();
    let page =
        ShowPage {
            number: number.to_string(),
            path: incident_path(number),
            title: incident.title.clone(),
            summary_html: markdown::to_html(&incident.summary),
            severity: incident.severity.as_str(),
            severity_label: incident.severity.label(),
            severity_class: severity_class(incident.severity),
            status: incident.status.as_str(),
            status_class: status_class(incident.status),
            open: incident.status.is_open(),
            private: incident.private,
            security: incident.security,
            commander: display_name(&incident.commander),
            comms_lead: display_name(&incident.comms_lead),
            scribe: display_name(&incident.scribe),
            started: Moment::new(incident.started_at, zone, now),
            detected: Moment::new(incident.detected_at, zone, now),
            acknowledged: incident.acknowledged_at.map(|t| Moment::new(t, zone, now)),
            resolved: incident.resolved_at.map(|t| Moment::new(t, zone, now)),
            resolved_after: incident.resolved_at.map(|t| view::span(incident.started_at, t)),
            sla: SlaView::of(&incident, now, zone),
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
            roles: [IncidentRole::Commander, IncidentRole::CommsLead, IncidentRole::Scribe]
                .iter()
                .map(|r| Choice::new(r.as_str(), view::role_words(r.as_str()), false))
                .collect(),
            people: people
                .iter()
                .filter(|u| u.active)
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
            time_zone: app.config.timezone_name.clone(),
            layout,
        };
    Ok(render_page(&page))
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
    let path = incident_path(number);
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
                CorrectionRef { href: format!("{path}#e-{original}"), text }
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

// ---------------------------------------------------------------------------------------------
// Quick actions: POST /incidents/{number}/…

/// Why an action changed nothing, with the way back to the incident.
#[derive(Template)]
#[template(path = "incidents/action_error.html")]
pub struct ActionErrorPage {
    pub layout: Layout,
    pub heading: &'static str,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub back: String,
    pub number: String,
}

/// Renders refusals and invalid input on a page that leads back to the incident; other errors
/// take the portal's error page.
fn action_outcome(layout: Layout, number: &str, result: Result<Response, AppError>) -> Response {
    let (status, heading, message, errors) = match result {
        Ok(response) => return response,
        Err(AppError::Conflict(message)) => (StatusCode::CONFLICT, "Nothing was changed", message, vec![]),
        Err(AppError::Validation(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Nothing was changed",
            "Correct the fields below and try again.".into(),
            errors,
        ),
        Err(AppError::BadRequest(message)) => {
            (StatusCode::BAD_REQUEST, "Nothing was changed", message, vec![])
        }
        Err(AppError::Forbidden { have, need }) => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!(
                "Your role ({have}) cannot do this: it needs {need}. Responders may correct only their own notes."
            ),
            vec![],
        ),
        Err(other) => return other.into_response(),
    };
    let number = parse_number(number).map(|n| n.to_string()).unwrap_or_default();
    let back = if number.is_empty() { "/incidents".to_owned() } else { format!("/incidents/{number}") };
    let page = ActionErrorPage { layout, heading, message, errors, back, number };
    (status, render_page(&page)).into_response()
}

/// Commits and sends the browser to the incident's newest event.
async fn committed(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    incident: &Incident,
) -> Result<Response, AppError> {
    let anchor = store::latest_event_id(&mut *tx, incident.id).await?;
    tx.commit().await?;
    Ok(see_other(&event_href(incident.number, anchor)))
}

fn event_href(number: IncidentNumber, event: Option<Uuid>) -> String {
    match event {
        Some(id) => format!("{}#e-{id}", incident_path(number)),
        None => incident_path(number),
    }
}

/// Locks the incident and refuses when it changed since the form's `version`, naming what
/// changed. For the actions whose service call takes no expected version.
async fn check_fresh(
    tx: &mut PgConnection,
    number: IncidentNumber,
    expected: Option<i32>,
) -> Result<(), IncidentError> {
    let Some(expected) = expected else { return Ok(()) };
    store::lock(&mut *tx, number).await?.ok_or(IncidentError::NotFound(number.get()))?;
    let incident = service::load(tx, number).await?;
    if incident.version == expected {
        return Ok(());
    }
    let missed = i64::from((incident.version - expected).clamp(1, 5));
    let recent = store::recent_events(&mut *tx, incident.id, missed).await?;
    let changes: Vec<String> = recent.iter().map(service::describe_event).collect();
    Err(IncidentError::Stale {
        number: number.get(),
        current: incident.version,
        changes: if changes.is_empty() {
            "reload the page to see the current state".into()
        } else {
            changes.join("; ")
        },
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VersionForm {
    version: String,
}

/// `POST /incidents/{number}/acknowledge` (responder).
pub async fn acknowledge_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<VersionForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let mut tx = app.pool.begin().await?;
        let incident = service::acknowledge(&mut tx, &user.actor, number, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    version: String,
    status: String,
}

/// `POST /incidents/{number}/status` (commander).
pub async fn change_status(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let to = form
            .status
            .parse::<IncidentStatus>()
            .map_err(|e| AppError::Validation(vec![FieldError::new("status", format!("{e}."))]))?;
        let mut tx = app.pool.begin().await?;
        let incident = service::change_status(&mut tx, &user.actor, number, to, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SeverityForm {
    version: String,
    severity: String,
}

/// `POST /incidents/{number}/severity` (commander): recomputes the deadlines from the start.
pub async fn change_severity(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<SeverityForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let to = form
            .severity
            .parse::<Severity>()
            .map_err(|e| AppError::Validation(vec![FieldError::new("severity", format!("{e}."))]))?;
        let mut tx = app.pool.begin().await?;
        let incident =
            service::change_severity(&mut tx, &user.actor, &app.config.timezone, number, to, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    version: String,
    role: String,
    /// Empty: nobody (not for the commander).
    user: String,
}

/// `POST /incidents/{number}/roles` (commander).
pub async fn assign_role(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let role = IncidentRole::parse(form.role.trim()).ok_or_else(|| {
            AppError::Validation(vec![FieldError::new("role", "Choose commander, comms lead or scribe.")])
        })?;
        let person = match form.user.trim() {
            "" => None,
            id => Some(id.parse::<Uuid>().map_err(|_| {
                AppError::Validation(vec![FieldError::new("user", "Choose a person from the list.")])
            })?),
        };
        let mut tx = app.pool.begin().await?;
        let incident = service::assign_role(&mut tx, &user.actor, number, role, person, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BodyForm {
    version: String,
    body: String,
    /// Public updates: the status to announce (empty: keep).
    status: String,
}

/// `POST /incidents/{number}/notes` (responder). Notes never conflict, so no version check.
pub async fn add_note(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<BodyForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let mut tx = app.pool.begin().await?;
        let event = service::add_note(&mut tx, &user.actor, number, &form.body).await?;
        tx.commit().await?;
        Ok(see_other(&event_href(number, Some(event.id))))
    }
    .await;
    action_outcome(layout, &raw, result)
}

/// `POST /incidents/{number}/updates` (commander): a public update, optionally with a status.
pub async fn post_update(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<BodyForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let status = match form.status.trim() {
            "" => None,
            s => Some(
                s.parse::<IncidentStatus>()
                    .map_err(|e| AppError::Validation(vec![FieldError::new("status", format!("{e}."))]))?,
            ),
        };
        let mut tx = app.pool.begin().await?;
        let event =
            service::post_public_update(&mut tx, &user.actor, number, &form.body, status, version).await?;
        tx.commit().await?;
        Ok(see_other(&event_href(number, Some(event.id))))
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ComponentForm {
    version: String,
    component: String,
    /// Empty: not affected.
    impact: String,
}

/// `POST /incidents/{number}/components` (commander).
pub async fn set_component_impact(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<ComponentForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let component = form.component.trim().parse::<Uuid>().map_err(|_| {
            AppError::Validation(vec![FieldError::new("component", "Choose a component from the list.")])
        })?;
        let impact = match form.impact.trim() {
            "" => None,
            i => Some(
                i.parse::<Impact>()
                    .map_err(|e| AppError::Validation(vec![FieldError::new("impact", format!("{e}."))]))?,
            ),
        };
        let mut tx = app.pool.begin().await?;
        check_fresh(&mut tx, number, version).await?;
        let incident = service::set_component_impact(&mut tx, &user.actor, number, component, impact).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    kind: String,
    url: String,
    label: String,
}

/// `POST /incidents/{number}/links` (commander).
pub async fn add_link(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<LinkForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let mut tx = app.pool.begin().await?;
        let incident =
            service::add_link(&mut tx, &user.actor, number, form.kind.trim(), &form.url, &form.label).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

/// `POST /incidents/{number}/resolve` (commander).
pub async fn resolve_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<VersionForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let mut tx = app.pool.begin().await?;
        let incident = service::resolve(&mut tx, &user.actor, number, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

/// `POST /incidents/{number}/reopen` (commander).
pub async fn reopen_incident(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<VersionForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let version = parse_version(&form.version)?;
        let mut tx = app.pool.begin().await?;
        let incident = service::reopen(&mut tx, &user.actor, number, version).await?;
        committed(tx, &incident).await
    }
    .await;
    action_outcome(layout, &raw, result)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CorrectForm {
    body: String,
}

/// `POST /incidents/{number}/events/{id}/correct` (responder: their own events; commander: any).
pub async fn correct_event(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Path((raw, event_raw)): Path<(String, String)>,
    Form(form): Form<CorrectForm>,
) -> Response {
    let result = async {
        let number = parse_number(&raw)?;
        let not_found = || AppError::NotFoundThing { what: format!("This event of {number}") };
        let event_id = event_raw.parse::<Uuid>().map_err(|_| not_found())?;
        let mut tx = app.pool.begin().await?;
        let incident = service::load(&mut tx, number).await?;
        let original = store::event(&mut *tx, incident.id, event_id).await?.ok_or_else(not_found)?;
        let own = original.actor_user_id.is_some() && original.actor_user_id == Some(user.user.id);
        if !user.role.allows(Role::Commander) && !own {
            return Err(AppError::Forbidden { have: user.role, need: Role::Commander });
        }
        let event = service::correct(&mut tx, &user.actor, number, event_id, &form.body).await?;
        tx.commit().await?;
        Ok(see_other(&event_href(number, Some(event.id))))
    }
    .await;
    action_outcome(layout, &raw, result)
}
