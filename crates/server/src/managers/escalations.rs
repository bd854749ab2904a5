//! `/escalations`: every escalation, SLA breach and missed acknowledgement for managers to
//! review, filtered and keyset-paginated, each linking to its moment on the incident's
//! timeline; `/escalations/{id}` shows one with the review form.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum_extra::extract::Form;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::service::{self, ReviewInput};
use crate::auth::{CurrentUser, urlencode};
use crate::db::escalations::{self as store, Cursor, Escalation, Filter, Level};
use crate::incidents::view::span;
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, PathId, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Rows per page.
pub(crate) const PAGE_SIZE: i64 = 50;

const NOTICES: Notices = &[("reviewed", "Marked reviewed. The review shows on the incident.")];

/// The list's query string, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    /// First day, `YYYY-MM-DD` in the team's zone.
    pub start: String,
    /// Last day, included.
    pub end: String,
    pub severity: String,
    pub level: String,
    /// A user id: on call or paged.
    pub person: String,
    /// `""`, `"no"` (unreviewed) or `"yes"`.
    pub reviewed: String,
    /// The cursor of the next page.
    pub after: String,
}

impl ListQuery {
    /// The query from a query string's pairs (each parameter at most once; others ignored).
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Result<Self, Vec<FieldError>> {
        let values = super::query_values(pairs)?;
        let get = |k: &str| values.get(k).map_or_else(String::new, |v| (*v).to_owned());
        Ok(Self {
            start: get("start"),
            end: get("end"),
            severity: get("severity"),
            level: get("level"),
            person: get("person"),
            reviewed: get("reviewed"),
            after: get("after"),
        })
    }
}

/// The checked filters, or the fields at fault. Either end of the range may be left out (an
/// open range). Unlike a report's custom range, the list's range has no length limit: it only
/// narrows a keyset-paginated list.
pub(crate) fn parse_filter(
    q: &ListQuery,
    zone: &TimeZone,
    people: &[Uuid],
) -> Result<(Filter, Option<Cursor>), Vec<FieldError>> {
    let mut errors = FieldErrors::new();
    let mut filter = Filter::default();
    let date = |field: &str, raw: &str, errors: &mut FieldErrors| {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        super::parse_day(raw).or_else(|| {
            errors.push(field, super::day_error(raw));
            None
        })
    };
    // Each bound on its own: a range ending before it starts is a valid filter matching nothing.
    if let Some(first) = date("start", &q.start, &mut errors) {
        filter.from = day_start(zone, first);
    }
    if let Some(last) = date("end", &q.end, &mut errors) {
        filter.until = last.tomorrow().ok().and_then(|d| day_start(zone, d));
    }
    match q.severity.trim() {
        "" => {}
        s => match s.parse::<Severity>() {
            Ok(s) => filter.severity = Some(s.as_str()),
            Err(_) => errors.push("severity", "Choose a severity from the list (P0, P1, P2, P3)."),
        },
    }
    match q.level.trim() {
        "" => {}
        l => match Level::parse(l) {
            Some(l) => filter.level = Some(l),
            None => errors.push("level", "Choose a level from the list (primary, secondary, manager)."),
        },
    }
    match q.person.trim() {
        "" => {}
        p => match p.parse::<Uuid>().ok().filter(|id| people.contains(id)) {
            Some(id) => filter.person = Some(id),
            None => errors.push("person", "Choose a person from the list: nobody has this id."),
        },
    }
    match q.reviewed.trim() {
        "" => {}
        "yes" => filter.reviewed = Some(true),
        "no" => filter.reviewed = Some(false),
        _ => errors.push("reviewed", "Choose reviewed, unreviewed or both."),
    }
    let cursor = match q.after.trim() {
        "" => None,
        a => match Cursor::decode(a) {
            Some(c) => Some(c),
            None => {
                errors.push("after", "This page link is damaged: start again from the first page.");
                None
            }
        },
    };
    errors.into_result((filter, cursor))
}

/// When `day` begins in `zone`; `None` past the last representable day, where a bound
/// excludes nothing.
fn day_start(zone: &TimeZone, day: jiff::civil::Date) -> Option<Timestamp> {
    zone.to_timestamp(day.to_datetime(jiff::civil::Time::midnight())).ok()
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How late the acknowledgement came against the response target, in words.
pub(crate) fn acknowledgement_words(e: &Escalation) -> String {
    match e.acknowledged_at {
        None => "never acknowledged".to_owned(),
        Some(ack) if ack <= e.respond_by => "acknowledged within the response target".to_owned(),
        Some(ack) => format!("acknowledged {} after the response target", span(e.respond_by, ack)),
    }
}

/// The notification outcomes in words.
pub(crate) fn outcome_words(e: &Escalation) -> String {
    let o = &e.outcomes;
    if o.delivered + o.retrying + o.dead + o.queued == 0 {
        return "no notification (no channel subscribed)".to_owned();
    }
    let mut parts = vec![format!(
        "{} delivered{}",
        o.delivered,
        if o.delivered_after_retry > 0 {
            format!(" ({} after retries)", o.delivered_after_retry)
        } else {
            String::new()
        }
    )];
    if o.retrying > 0 {
        parts.push(format!("{} retrying", o.retrying));
    }
    if o.dead > 0 {
        parts.push(format!("{} dead", o.dead));
    }
    if o.queued > 0 {
        parts.push(format!("{} queued", o.queued));
    }
    parts.join(", ")
}

/// One escalation as the pages show it.
pub(crate) struct EscalationView {
    pub id: Uuid,
    pub incident: String,
    pub incident_title: String,
    /// `/incidents/42/events/<event id>`: the moment on the timeline, on whichever page holds it.
    pub href: String,
    pub severity: String,
    pub kind: &'static str,
    pub level: &'static str,
    pub fired: Moment,
    pub on_call: String,
    pub paged: String,
    pub acknowledgement: String,
    pub outcomes: String,
    pub dead: bool,
    pub reviewed: Option<Moment>,
    pub reviewer: String,
    pub comment: String,
    pub follow_up: String,
}

impl EscalationView {
    pub(crate) fn of(e: &Escalation, zone: &TimeZone, now: Timestamp) -> Self {
        Self {
            id: e.event_id,
            incident: format!("INC-{}", e.number),
            incident_title: e.title.clone(),
            href: format!("/incidents/{}/events/{}", e.number, e.event_id),
            severity: e.severity.clone(),
            kind: e.kind.label(),
            level: e.level.as_str(),
            fired: Moment::new(e.fired_at, zone, now),
            on_call: e.on_call.clone().unwrap_or_else(|| "nobody".to_owned()),
            paged: match (e.kind, &e.paged) {
                (store::EscalationKind::SlaBreach, _) => "(breach: nobody new paged)".to_owned(),
                (_, Some(p)) => p.clone(),
                (_, None) => "nobody held the role".to_owned(),
            },
            acknowledgement: acknowledgement_words(e),
            outcomes: outcome_words(e),
            dead: e.outcomes.dead > 0,
            reviewed: e.reviewed_at.map(|t| Moment::new(t, zone, now)),
            reviewer: e.reviewer.clone().unwrap_or_default(),
            comment: e.review_comment.clone().unwrap_or_default(),
            follow_up: e.follow_up.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "managers/escalations.html")]
pub(crate) struct ListPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub query: ListQuery,
    pub severities: Vec<Choice>,
    pub levels: Vec<Choice>,
    pub people: Vec<Choice>,
    pub reviewed: Vec<Choice>,
    pub rows: Vec<EscalationView>,
    /// The query string of the next page, when there is one.
    pub next: Option<String>,
    pub time_zone: String,
}

fn choices(all: &[(&str, &str)], selected: &str) -> Vec<Choice> {
    all.iter().map(|(v, l)| Choice::new(*v, *l, *v == selected.trim())).collect()
}

/// The query string of the page after `cursor`, keeping the filters.
fn next_query(q: &ListQuery, cursor: &Cursor) -> String {
    let pairs = [
        ("start", q.start.trim()),
        ("end", q.end.trim()),
        ("severity", q.severity.trim()),
        ("level", q.level.trim()),
        ("person", q.person.trim()),
        ("reviewed", q.reviewed.trim()),
    ];
    let mut parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    parts.push(format!("after={}", urlencode(&cursor.encode())));
    parts.join("&")
}

/// `GET /escalations`.
pub(crate) async fn list_escalations(
    State(app): State<AppState>,
    layout: Layout,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let zone = &app.config.timezone;
    let users = crate::db::users::list(&app.pool).await?;
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let parsed = ListQuery::from_pairs(&pairs).map(|q| (parse_filter(&q, zone, &ids), q));
    let (q, parsed) = match parsed {
        Ok((parsed, q)) => (q, parsed),
        Err(errors) => (ListQuery::default(), Err(errors)),
    };
    let (rows, next, errors) = match parsed {
        Ok((filter, cursor)) => {
            let mut found = store::list(&app.pool, &filter, cursor, PAGE_SIZE + 1).await?;
            let more = found.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
            found.truncate(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX));
            let next = if more {
                found.last().map(|e| next_query(&q, &Cursor { fired_at: e.fired_at, event_id: e.event_id }))
            } else {
                None
            };
            (found, next, FieldErrors::new())
        }
        Err(errors) => (vec![], None, FieldErrors::from(errors)),
    };
    let now = Timestamp::now();
    let mut severities = vec![Choice::new("", "any severity", q.severity.trim().is_empty())];
    severities.extend(Severity::ALL.iter().map(|s| {
        Choice::new(s.as_str(), format!("{} {}", s.as_str(), s.label()), s.as_str() == q.severity.trim())
    }));
    let mut people = vec![Choice::new("", "anyone", q.person.trim().is_empty())];
    people.extend(users.iter().map(|u| {
        Choice::new(
            u.id.to_string(),
            format!("{} ({})", u.display_name, u.email),
            u.id.to_string() == q.person.trim(),
        )
    }));
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ListPage {
        severities,
        levels: choices(
            &[("", "any level"), ("primary", "primary"), ("secondary", "secondary"), ("manager", "manager")],
            &q.level,
        ),
        reviewed: choices(&[("", "reviewed or not"), ("no", "unreviewed"), ("yes", "reviewed")], &q.reviewed),
        people,
        rows: rows.iter().map(|e| EscalationView::of(e, zone, now)).collect(),
        next,
        errors,
        query: q,
        time_zone: app.config.timezone_name.clone(),
        layout,
    };
    let mut response = render_page(&page);
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Template)]
#[template(path = "managers/escalation.html")]
pub(crate) struct ReviewPage {
    pub layout: Layout,
    pub errors: FieldErrors,
    pub e: EscalationView,
    pub comment: String,
    pub follow_up: String,
    pub max_comment: usize,
    pub max_follow_up: usize,
    pub notice: Option<&'static str>,
}

async fn review_page(
    app: &AppState,
    layout: Layout,
    id: Uuid,
    form: ReviewForm,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Result<Response, AppError> {
    let mut conn = app.pool.begin().await?;
    let found = store::find_for_update(&mut conn, id).await?;
    drop(conn);
    let e = found.ok_or_else(|| AppError::NotFoundThing { what: "This escalation".to_owned() })?;
    Ok(render_page(&ReviewPage {
        layout,
        errors,
        e: EscalationView::of(&e, &app.config.timezone, Timestamp::now()),
        comment: form.comment,
        follow_up: form.follow_up,
        max_comment: service::MAX_COMMENT,
        max_follow_up: service::MAX_FOLLOW_UP,
        notice,
    }))
}

/// `GET /escalations/{id}`.
pub(crate) async fn show_escalation(
    State(app): State<AppState>,
    layout: Layout,
    PathId(id): PathId,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    review_page(&app, layout, id, ReviewForm::default(), FieldErrors::new(), notice.text(NOTICES)).await
}

/// The review form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReviewForm {
    pub comment: String,
    pub follow_up: String,
}

/// `POST /escalations/{id}/review`.
pub(crate) async fn review_escalation(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    PathId(id): PathId,
    Form(form): Form<ReviewForm>,
) -> Result<Response, AppError> {
    let input = ReviewInput { comment: form.comment.clone(), follow_up: form.follow_up.clone() };
    let result = async {
        let mut tx = app.pool.begin().await?;
        service::review_escalation(&mut tx, &user.actor, id, &input).await?;
        tx.commit().await?;
        Ok(see_other_with_notice(&format!("/escalations/{id}"), "reviewed"))
    }
    .await;
    match result {
        Err(AppError::Validation(errors)) => {
            let mut response = review_page(&app, layout, id, form, errors.into(), None).await?;
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        other => other,
    }
}
