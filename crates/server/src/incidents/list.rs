//! `GET /incidents`: open incidents first, newest first, with their SLA clocks; filters and
//! keyset pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use twisterlab_domain::incident::IncidentStatus;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::view::{self, SlaView, incident_path, param, person_name, severity_class, status_class};
use crate::auth::urlencode;
use crate::db::incidents::{self as store, Cursor, Escalation, Incident, ListFilter};
use crate::db::users;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::Choice;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Incidents per list page unless `limit` says otherwise, and the most it may ask for.
pub(crate) const DEFAULT_PAGE_SIZE: i64 = 50;
pub(crate) const MAX_PAGE_SIZE: i64 = 200;
/// Longest text filter accepted, in characters.
const MAX_FILTER_TEXT: usize = 200;
/// The query parameters that filter the list (`limit` and `after` page it).
const FILTER_KEYS: [&str; 6] = ["status", "severity", "commander", "from", "until", "q"];

/// One incident in the list.
pub(crate) struct IncidentRow {
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
    fn of(i: &Incident, escalated: Option<&Escalation>, now: Timestamp, zone: &TimeZone) -> Self {
        Self {
            number: i.number.to_string(),
            href: incident_path(i.number),
            title: i.title.clone(),
            severity: i.severity.as_str(),
            severity_label: i.severity.label(),
            severity_class: severity_class(i.severity),
            status: i.status.as_str(),
            status_class: status_class(i.status),
            commander: person_name(&i.commander),
            private: i.private,
            security: i.security,
            started: Moment::new(i.started_at, zone, now),
            sla: SlaView::of(i, escalated, now, zone),
        }
    }
}

#[derive(Template)]
#[template(path = "incidents/list.html")]
pub(crate) struct ListPage {
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
    pub errors: FieldErrors,
    pub can_declare: bool,
    pub is_admin: bool,
    pub time_zone: String,
}

/// The list's filters, parsed.
struct ListParams {
    filter: ListFilter,
    after: Option<Cursor>,
    limit: i64,
}

/// Parses the query; what does not parse becomes a field error.
fn parse_list_params(pairs: &[(String, String)], zone: &TimeZone, errors: &mut FieldErrors) -> ListParams {
    let mut filter = ListFilter::default();
    match param(pairs, "status").trim() {
        "" | "all" => {}
        "open" => filter.open = Some(true),
        other => match other.parse::<IncidentStatus>() {
            Ok(s) => filter.status = Some(s),
            Err(_) => errors.push(
                "status",
                format!("Unknown status {other:?}: choose open, resolved, all or one of the statuses."),
            ),
        },
    }
    match param(pairs, "severity").trim() {
        "" => {}
        other => match other.parse::<Severity>() {
            Ok(s) => filter.severity = Some(s),
            Err(_) => {
                errors.push("severity", format!("Unknown severity {other:?}: choose P0, P1, P2 or P3."))
            }
        },
    }
    match param(pairs, "commander").trim() {
        "" => {}
        other => match other.parse::<Uuid>() {
            Ok(id) => filter.commander_id = Some(id),
            Err(_) => errors.push("commander", "Choose a commander from the list."),
        },
    }
    let date = |field: &str, errors: &mut FieldErrors| -> Option<jiff::civil::Date> {
        let raw = param(pairs, field).trim();
        if raw.is_empty() {
            return None;
        }
        raw.parse::<jiff::civil::Date>()
            .map_err(|_| errors.push(field, format!("Enter a date such as 2026-11-29 (got {raw:?}).")))
            .ok()
    };
    let start_of = |d: jiff::civil::Date| d.to_zoned_datetime(zone.clone()).ok().map(|z| z.timestamp());
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
        errors.push("until", "The period ends before it starts.");
    }
    let text = param(pairs, "q").trim();
    if text.chars().count() > MAX_FILTER_TEXT {
        errors.push("q", format!("Search for at most {MAX_FILTER_TEXT} characters."));
    } else if !text.is_empty() {
        filter.text = Some(text.to_owned());
    }
    let after = match param(pairs, "after").trim() {
        "" => None,
        raw => Cursor::decode(raw).or_else(|| {
            errors.push("after", "The page position is not valid; start from the first page.");
            None
        }),
    };
    let limit = match param(pairs, "limit").trim() {
        "" => DEFAULT_PAGE_SIZE,
        raw => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                errors.push("limit", format!("Show between 1 and {MAX_PAGE_SIZE} incidents per page."));
                DEFAULT_PAGE_SIZE
            }
        },
    };
    ListParams { filter, after, limit }
}

/// `?a=1&b=2` from the non-empty pairs (empty string when none).
fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// `GET /incidents`: open incidents first, newest first, with their SLA clocks. Filters that do
/// not parse show the form again with 400 and no rows.
pub(crate) async fn list_incidents(
    State(app): State<AppState>,
    layout: Layout,
    user: crate::identity::CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let now = Timestamp::now();
    let mut errors = FieldErrors::new();
    let mut params = parse_list_params(&pairs, zone, &mut errors);
    super::service::ReadScope::of(&user).restrict(&mut params.filter);
    let people = users::list(&app.pool).await?;

    let (rows, next_href) = if errors.is_empty() {
        // One more than shown tells whether another page follows.
        let mut found = store::list(&app.pool, &params.filter, params.after, params.limit + 1).await?;
        let page_size = usize::try_from(params.limit).unwrap_or(usize::MAX);
        let more = found.len() > page_size;
        found.truncate(page_size);
        let next = match found.last() {
            Some(last) if more => {
                let cursor = Cursor::of(last).encode();
                let mut keep: Vec<(&str, &str)> =
                    FILTER_KEYS.iter().chain(&["limit"]).map(|k| (*k, param(&pairs, k))).collect();
                keep.push(("after", &cursor));
                Some(format!("/incidents{}", query_string(&keep)))
            }
            _ => None,
        };
        let ids: Vec<uuid::Uuid> = found.iter().map(|i| i.id).collect();
        let escalations = store::manager_escalations(&app.pool, &ids).await?;
        (found.iter().map(|i| IncidentRow::of(i, escalations.get(&i.id), now, zone)).collect(), next)
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
        people
            .iter()
            .map(|u| Choice::new(u.id.to_string(), view::user_label(u), commander == u.id.to_string())),
    );
    let filtered = FILTER_KEYS.iter().any(|k| {
        let v = param(&pairs, k).trim();
        let everything = v.is_empty() || (*k == "status" && v == "all");
        !everything
    });
    let keep: Vec<(&str, &str)> =
        FILTER_KEYS.iter().chain(&["limit"]).map(|k| (*k, param(&pairs, k))).collect();
    let page = ListPage {
        can_declare: layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Commander)),
        is_admin: layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin)),
        statuses,
        severities,
        commanders,
        from: param(&pairs, "from").trim().to_owned(),
        until: param(&pairs, "until").trim().to_owned(),
        text: param(&pairs, "q").trim().to_owned(),
        limit: param(&pairs, "limit").trim().to_owned(),
        filtered,
        paged: !param(&pairs, "after").trim().is_empty(),
        next_href,
        first_href: format!("/incidents{}", query_string(&keep)),
        time_zone: app.config.timezone_name.clone(),
        layout,
        rows,
        errors,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    Ok((status, render_page(&page)).into_response())
}
