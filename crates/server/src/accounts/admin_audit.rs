//! The admin audit log page: filters (days in the team time zone) and keyset pagination.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::urlencode;
use crate::db::audit::{self, AuditRow, Filter};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Entries per page.
pub(crate) const PAGE_SIZE: usize = 50;
/// Longest text filter accepted, in characters.
pub(super) const MAX_FILTER: usize = 200;
/// Longest side of the before → after summary, in characters.
const SUMMARY_CHARS: usize = 120;
/// Longest full JSON shown under an entry, in characters.
const DETAIL_CHARS: usize = 4000;

/// The query string, all text so that no value can make the extractor fail.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// A day (`YYYY-MM-DD`) in the team time zone; entries from its start.
    from: Option<String>,
    /// A day (`YYYY-MM-DD`) in the team time zone; entries until its end (inclusive).
    until: Option<String>,
    /// Keyset cursor: entries with a smaller id.
    before: Option<String>,
}

/// One entry as the page shows it.
pub(crate) struct EntryView {
    pub id: i64,
    pub at: Moment,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub client_addr: String,
    pub request_id: String,
    /// Compact "before → after", changed keys only when both are objects.
    pub change: String,
    /// The full before and after, when the summary had to leave something out.
    pub detail: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/audit/list.html")]
pub(crate) struct AuditPage {
    pub layout: Layout,
    /// The filters as typed, for the form.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub from: String,
    pub until: String,
    pub errors: FieldErrors,
    pub entries: Vec<EntryView>,
    /// Whether this is a later page (a `before` cursor was given).
    pub paged: bool,
    /// Link to the first page with the same filters.
    pub newest_href: String,
    /// Link to the next (older) page, when there is one.
    pub older_href: Option<String>,
    pub time_zone: String,
}

impl AuditPage {
    fn filtered(&self) -> bool {
        [&self.actor, &self.action, &self.target, &self.from, &self.until].iter().any(|v| !v.is_empty())
    }
}

/// `GET /admin/audit`: newest first, [`PAGE_SIZE`] per page, filtered.
pub(super) async fn show_audit_log(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
    let (actor, action, target, from, until) =
        (text(&q.actor), text(&q.action), text(&q.target), text(&q.from), text(&q.until));
    let before_id = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                return Err(AppError::BadRequest(
                    "The `before` value of this link is not an entry number, so there is no page to show. Open the audit log again from the navigation.".into(),
                ));
            }
        },
    };

    let tz = &app.config.timezone;
    let mut errors = FieldErrors::new();
    for (field, value) in [("actor", &actor), ("action", &action), ("target", &target)] {
        if value.chars().count() > MAX_FILTER {
            errors.push(field, format!("Use at most {MAX_FILTER} characters."));
        }
    }
    let from_at = day_start(&from, tz, false).map_err(|m| errors.push("from", m)).ok();
    let until_at = day_start(&until, tz, true).map_err(|m| errors.push("until", m)).ok();
    if let (Some(Some(f)), Some(Some(u))) = (from_at, until_at)
        && f >= u
    {
        errors.push("until", "Choose a day on or after the “From” day.");
    }

    let query = |before: Option<i64>| {
        let mut pairs = vec![];
        for (k, v) in
            [("actor", &actor), ("action", &action), ("target", &target), ("from", &from), ("until", &until)]
        {
            if !v.is_empty() {
                pairs.push(format!("{k}={}", urlencode(v)));
            }
        }
        if let Some(b) = before {
            pairs.push(format!("before={b}"));
        }
        if pairs.is_empty() { "/admin/audit".to_owned() } else { format!("/admin/audit?{}", pairs.join("&")) }
    };
    let mut page = AuditPage {
        layout,
        actor: actor.clone(),
        action: action.clone(),
        target: target.clone(),
        from: from.clone(),
        until: until.clone(),
        errors: FieldErrors::new(),
        entries: vec![],
        paged: before_id.is_some(),
        newest_href: query(None),
        older_href: None,
        time_zone: app.config.timezone_name.clone(),
    };
    if !errors.is_empty() {
        page.errors = errors;
        return Ok((StatusCode::BAD_REQUEST, render_page(&page)).into_response());
    }

    let filter = Filter {
        actor: like_literal(&actor),
        action: like_literal(&action),
        target: like_literal(&target),
        from: from_at.flatten(),
        until: until_at.flatten(),
        before_id,
    };
    // One more than a page tells whether an older page exists.
    let limit = i64::try_from(PAGE_SIZE + 1).unwrap_or(i64::MAX);
    let mut rows = audit::search(&app.pool, &filter, limit).await?;
    if rows.len() > PAGE_SIZE {
        rows.truncate(PAGE_SIZE);
        page.older_href = rows.last().map(|r| query(Some(r.id)));
    }
    let now = Timestamp::now();
    page.entries = rows.iter().map(|r| entry_view(r, tz, now)).collect();
    Ok(render_page(&page))
}

/// The filter text, or `None` when blank (the store matches it literally, wildcards included).
fn like_literal(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// Start of the day `raw` (`YYYY-MM-DD`) in `tz`, or of the day after when `next_day` (so an
/// "until" day is included whole). Blank is `Ok(None)`.
fn day_start(raw: &str, tz: &jiff::tz::TimeZone, next_day: bool) -> Result<Option<Timestamp>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || format!("“{}” is not a date: use the form YYYY-MM-DD, e.g. 2025-03-31.", shorten(raw, 40));
    if raw.len() != 10 {
        return Err(bad());
    }
    let date: jiff::civil::Date = raw.parse().map_err(|_| bad())?;
    let date = if next_day { date.tomorrow().map_err(|_| bad())? } else { date };
    // Midnight may not exist in a zone with a DST gap at midnight; jiff then takes the first
    // instant of the day.
    let zoned = date.to_zoned_datetime(tz.clone()).map_err(|_| bad())?;
    Ok(Some(zoned.timestamp()))
}

fn entry_view(row: &AuditRow, tz: &jiff::tz::TimeZone, now: Timestamp) -> EntryView {
    let (change, shortened) = change_summary(row.before.as_ref(), row.after.as_ref());
    let detail = shortened.then(|| {
        let side = |v: Option<&Value>| v.map(Value::to_string).unwrap_or_else(|| "—".into());
        shorten(
            &format!("before: {}\nafter: {}", side(row.before.as_ref()), side(row.after.as_ref())),
            DETAIL_CHARS,
        )
    });
    EntryView {
        id: row.id,
        at: Moment::new(row.at, tz, now),
        actor: row.actor_label.clone(),
        action: row.action.clone(),
        target: row.target.clone(),
        client_addr: row.client_addr.clone().unwrap_or_default(),
        request_id: row.request_id.clone().unwrap_or_default(),
        change,
        detail,
    }
}

/// "before → after", each compact JSON truncated; when both are objects, only the keys that
/// differ. Also says whether anything was left out.
fn change_summary(before: Option<&Value>, after: Option<&Value>) -> (String, bool) {
    let (before, after, mut left_out) = match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let changed = |x: &Map<String, Value>, y: &Map<String, Value>| -> Map<String, Value> {
                x.iter().filter(|(k, v)| y.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            let (db, da) = (changed(b, a), changed(a, b));
            if db.is_empty() && da.is_empty() {
                (Some(Value::Object(b.clone())), Some(Value::Object(a.clone())), false)
            } else {
                let dropped = db.len() < b.len() || da.len() < a.len();
                let opt = |m: Map<String, Value>| (!m.is_empty()).then_some(Value::Object(m));
                (opt(db), opt(da), dropped)
            }
        }
        (b, a) => (b.cloned(), a.cloned(), false),
    };
    if before.is_none() && after.is_none() {
        return ("—".into(), left_out);
    }
    let mut side = |v: Option<Value>| match v {
        None => "—".to_owned(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > SUMMARY_CHARS {
                left_out = true;
            }
            shorten(&text, SUMMARY_CHARS)
        }
    };
    let text = format!("{} → {}", side(before), side(after));
    (text, left_out)
}

/// At most `max` characters of `text`, with "…" when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_summary_keeps_the_changed_keys_and_escaping_is_left_to_the_template() {
        let before = json!({"display_name": "Ann", "role": "viewer", "active": true});
        let after = json!({"display_name": "Ann", "role": "manager", "active": true});
        assert_eq!(
            change_summary(Some(&before), Some(&after)),
            (r#"{"role":"viewer"} → {"role":"manager"}"#.to_owned(), true)
        );
        assert_eq!(change_summary(None, None), ("—".to_owned(), false));
        assert_eq!(change_summary(None, Some(&json!({"a": 1}))), (r#"— → {"a":1}"#.to_owned(), false));
        let long = json!({"note": "x".repeat(500)});
        let (text, cut) = change_summary(None, Some(&long));
        assert!(cut && text.ends_with('…') && text.chars().count() <= SUMMARY_CHARS + 4, "{text}");
    }

    #[test]
    fn filter_text_is_matched_literally() {
        assert_eq!(like_literal(""), None);
        assert_eq!(like_literal("user.").as_deref(), Some("user."));
        assert_eq!(like_literal(r"50%_\").as_deref(), Some(r"50%_\"));
    }

    #[test]
    fn days_are_read_in_the_team_time_zone() {
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
        assert_eq!(
            day_start("2025-03-30", &berlin, false),
            Ok(Some(crate::clock::to_jiff(time::macros::datetime!(2025-03-29 23:00 UTC))))
        );
        // The DST day is 23 hours long; "until" includes all of it.
        assert_eq!(
            day_start("2025-03-30", &berlin, true),
            Ok(Some(crate::clock::to_jiff(time::macros::datetime!(2025-03-30 22:00 UTC))))
        );
        assert_eq!(day_start("", &berlin, false), Ok(None));
        for bad in ["2025-02-30", "30/03/2025", "2025-3-1", "yesterday", "2025-03-30T00:00", "+002025-03-30"]
        {
            assert!(day_start(bad, &berlin, false).is_err(), "{bad}");
        }
    }
}
