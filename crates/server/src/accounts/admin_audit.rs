//! The admin audit log page: filters and keyset pagination.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes, urlencode};
use crate::db::audit::{self, AuditRow, Filter};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

pub fn routes() -> Routes {
    Routes::new().get("/admin/audit", Access::Role(Role::Admin), show_audit_log)
}

/// Entries per page.
pub const PAGE_SIZE: usize = 50;
/// Longest text filter accepted, in characters.
const MAX_FILTER: usize = 200;
/// Longest side of the before → after summary, in characters.
const SUMMARY_CHARS: usize = 120;
/// Longest full JSON shown under an entry, in characters.
const DETAIL_CHARS: usize = 4000;

/// The query string, all text so that no value can make the extractor fail.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
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
pub struct EntryView {
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
pub struct AuditPage {
    pub layout: Layout,
    /// The filters as typed, for the form.
    pub actor: String,
    pub action: String,
    pub target: String,
    pub from: String,
    pub until: String,
    pub errors: Vec<FieldError>,
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
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    fn filtered(&self) -> bool {
        [&self.actor, &self.action, &self.target, &self.from, &self.until].iter().any(|v| !v.is_empty())
    }
}

/// `GET /admin/audit`: newest first, [`PAGE_SIZE`] per page, filtered.
async fn show_audit_log(
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
    let mut errors = vec![];
    for (field, value) in [("actor", &actor), ("action", &action), ("target", &target)] {
        if value.chars().count() > MAX_FILTER {
            errors.push(FieldError::new(field, format!("Use at most {MAX_FILTER} characters.")));
        }
    }
    let from_at = day_start(&from, tz, false).map_err(|m| errors.push(FieldError::new("from", m))).ok();
    let until_at = day_start(&until, tz, true).map_err(|m| errors.push(FieldError::new("until", m))).ok();
    if let (Some(Some(f)), Some(Some(u))) = (from_at, until_at)
        && f >= u
    {
        errors.push(FieldError::new("until", "Choose a day on or after the “From” day."));
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
        errors: vec![],
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
    use sqlx::PgPool;
    use twisterlab_domain::role::Role;

    use super::*;
    use crate::db::audit::{Actor, Entry};
    use crate::state::AppState;
    use crate::testing::{self, Browser, get, send};

    fn actor(label: &str) -> Actor {
        Actor {
            user_id: None,
            label: label.into(),
            client_addr: Some("10.0.0.7".into()),
            request_id: Some("req-1".into()),
        }
    }

    async fn record(pool: &PgPool, label: &str, action: &str, target: &str) {
        let entry = Entry { action, target: target.into(), before: None, after: None };
        audit::record(pool, &actor(label), entry).await.expect("record");
    }

    /// A row at a chosen time (the log's own insert always says "now").
    async fn record_at(pool: &PgPool, at: time::OffsetDateTime, action: &str) {
        sqlx::query(
            "insert into audit_log (at, actor_label, action, target) values ($1, 'system', $2, 'clock')",
        )
        .bind(at)
        .bind(action)
        .execute(pool)
        .await
        .expect("insert");
    }

    /// Ids of the entries on the page, in page order.
    fn ids(html: &str) -> Vec<i64> {
        html.match_indices("<tr id=\"entry-")
            .filter_map(|(i, m)| {
                let rest = &html[i + m.len()..];
                rest[..rest.find('"')?].parse().ok()
            })
            .collect()
    }

    fn unescape(s: &str) -> String {
        s.replace("&#38;", "&").replace("&amp;", "&").replace("&#61;", "=").replace("&#58;", ":")
    }

    /// The "Older entries" link, decoded.
    fn older(html: &str) -> Option<String> {
        let start = html.find("<a rel=\"next\" href=\"")? + "<a rel=\"next\" href=\"".len();
        let end = html[start..].find('"')?;
        Some(unescape(&html[start..start + end]))
    }

    async fn page(app: &axum::Router, admin: &Browser, path: &str) -> (u16, String) {
        let (response, html) = send(app, get(path, Some(admin))).await;
        (response.status().as_u16(), html)
    }

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

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn non_admins_cannot_read_the_audit_log(pool: PgPool) {
        let app = testing::app(&pool);
        for role in [Role::Viewer, Role::Responder, Role::Commander, Role::Manager] {
            let b = testing::signed_in(&pool, role).await;
            let (response, _) = send(&app, get("/admin/audit", Some(&b))).await;
            assert_eq!(response.status(), 403, "{role}");
        }
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_audit_log_shows_who_did_what_newest_first(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let (status, html) = page(&app, &admin, "/admin/audit").await;
        assert_eq!(status, 200);
        assert!(html.contains("No entries match."), "{html}");

        record(&pool, "alice@example.com", "user.create", "user:bob@example.com").await;
        let entry = Entry {
            action: "user.update",
            target: "user:<b>bob</b>".into(),
            before: Some(json!({"display_name": "bob", "role": "viewer"})),
            after: Some(json!({"display_name": "<script>alert(1)</script>", "role": "viewer"})),
        };
        audit::record(&pool, &actor("<img src=x onerror=alert(1)>"), entry).await.expect("record");
        let (status, html) = page(&app, &admin, "/admin/audit").await;
        assert_eq!(status, 200);
        let shown = ids(&html);
        assert_eq!(shown.len(), 2);
        assert!(shown[0] > shown[1], "newest first: {shown:?}");
        assert!(html.contains("alice@example.com") && html.contains("<code>user.create</code>"), "{html}");
        assert!(html.contains("10.0.0.7") && html.contains("req-1") && html.contains("just now"), "{html}");
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x") && !html.contains("<b>bob"),
            "{html}"
        );
        assert!(html.contains("display_name") && html.contains("→"), "{html}");
        assert!(older(&html).is_none(), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_audit_log_filters_by_actor_action_prefix_and_target(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        record(&pool, "alice@example.com", "user.create", "user:bob@example.com").await;
        record(&pool, "alice@example.com", "auth.sign_in", "user:alice@example.com").await;
        record(&pool, "Bob@Example.com", "user.update", "user:carol@example.com").await;
        record(&pool, "system", "userx.create", "user:100%").await;
        record(&pool, "cli", "incident.declare", "incident:INC-1").await;

        let actions = |html: &str| -> Vec<String> {
            html.match_indices("<td><code>")
                .map(|(i, m)| {
                    let rest = &html[i + m.len()..];
                    rest[..rest.find('<').unwrap_or(0)].to_owned()
                })
                // The before → after column is code too; these entries have none ("—").
                .filter(|a| a != "—")
                .collect()
        };
        let cases: [(&str, &[&str]); 8] = [
            ("actor=ALICE", &["auth.sign_in", "user.create"]),
            ("actor=bob%40example", &["user.update"]),
            ("action=user.", &["user.update", "user.create"]),
            ("action=user", &["userx.create", "user.update", "user.create"]),
            ("action=user_", &[]),
            ("target=CAROL", &["user.update"]),
            ("target=100%25", &["userx.create"]),
            ("actor=alice&action=user.&target=bob", &["user.create"]),
        ];
        for (query, expected) in cases {
            let (status, html) = page(&app, &admin, &format!("/admin/audit?{query}")).await;
            assert_eq!(status, 200, "{query}");
            assert_eq!(actions(&html), expected.to_vec(), "{query}");
        }
        let (_, html) = page(&app, &admin, "/admin/audit?actor=alice&action=user.").await;
        assert!(
            html.contains("id=\"actor\" name=\"actor\" type=\"search\" maxlength=\"200\" value=\"alice\""),
            "{html}"
        );
        assert!(html.contains("href=\"/admin/audit\">Clear the filters</a>"), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_period_is_whole_days_in_the_team_time_zone(pool: PgPool) {
        let mut config = testing::config();
        config.timezone = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
        config.timezone_name = "Europe/Berlin".into();
        let app = crate::app(AppState::new(pool.clone(), config, "test database".into()));
        let admin = testing::signed_in(&pool, Role::Admin).await;
        use time::macros::datetime;
        // 2025-06-10 in Berlin runs from 2025-06-09 22:00 UTC to 2025-06-10 22:00 UTC.
        record_at(&pool, datetime!(2025-06-09 21:59 UTC), "t.before").await;
        record_at(&pool, datetime!(2025-06-09 22:00 UTC), "t.first").await;
        record_at(&pool, datetime!(2025-06-10 21:59 UTC), "t.last").await;
        record_at(&pool, datetime!(2025-06-10 22:00 UTC), "t.after").await;

        let actions = |html: &str| -> Vec<&'static str> {
            ["t.before", "t.first", "t.last", "t.after"]
                .into_iter()
                .filter(|a| html.contains(&format!("<code>{a}</code>")))
                .collect()
        };
        let (status, html) = page(&app, &admin, "/admin/audit?from=2025-06-10&until=2025-06-10").await;
        assert_eq!(status, 200);
        assert_eq!(actions(&html), ["t.first", "t.last"]);
        assert!(html.contains("2025-06-10 00:00 CEST") && html.contains("Europe/Berlin"), "{html}");
        let (_, html) = page(&app, &admin, "/admin/audit?from=2025-06-11").await;
        assert_eq!(actions(&html), ["t.after"]);
        let (_, html) = page(&app, &admin, "/admin/audit?until=2025-06-09").await;
        assert_eq!(actions(&html), ["t.before"]);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn older_entries_page_through_every_entry_exactly_once(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        for i in 0..120 {
            record(&pool, "pager@example.com", "page.step", &format!("step:{i}")).await;
        }
        // Noise the filter must keep out of every page.
        for _ in 0..7 {
            record(&pool, "other@example.com", "other.thing", "x").await;
        }
        let expected: Vec<i64> =
            sqlx::query_scalar("select id from audit_log where action = 'page.step' order by id desc")
                .fetch_all(&pool)
                .await
                .expect("ids");

        let mut next = Some("/admin/audit?actor=pager&action=page.".to_owned());
        let mut seen = vec![];
        let mut sizes = vec![];
        while let Some(path) = next {
            let (status, html) = page(&app, &admin, &path).await;
            assert_eq!(status, 200, "{path}");
            let on_page = ids(&html);
            sizes.push(on_page.len());
            seen.extend(on_page);
            next = older(&html);
            if let Some(n) = &next {
                assert!(
                    n.contains("actor=pager") && n.contains("action=page.") && n.contains("before="),
                    "{n}"
                );
            }
            // The page after a new entry still continues where the cursor was.
            record(&pool, "pager@example.com", "page.late", "late").await;
            assert!(sizes.len() < 5, "runaway pagination");
        }
        assert_eq!(sizes, [50, 50, 20]);
        assert_eq!(seen, expected, "every entry once, newest first, no gaps");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn bad_cursors_and_dates_are_400_with_a_message_never_500(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        for path in [
            "/admin/audit?before=abc",
            "/admin/audit?before=-5",
            "/admin/audit?before=0",
            "/admin/audit?before=99999999999999999999",
        ] {
            let (status, html) = page(&app, &admin, path).await;
            assert_eq!(status, 400, "{path}");
            assert!(html.contains("not an entry number"), "{path}: {html}");
        }
        for (path, field) in [
            ("/admin/audit?from=2025-13-01", "from"),
            ("/admin/audit?until=yesterday", "until"),
            ("/admin/audit?from=%3Cscript%3E", "from"),
            ("/admin/audit?from=2025-06-10&until=2025-06-01", "until"),
        ] {
            let (status, html) = page(&app, &admin, path).await;
            assert_eq!(status, 400, "{path}");
            assert!(
                html.contains(&format!("<p class=\"field-error\" id=\"{field}-error\">")),
                "{path}: {html}"
            );
            assert!(!html.contains("<script>"), "{html}");
        }
        let long = "a".repeat(MAX_FILTER + 1);
        let (status, html) = page(&app, &admin, &format!("/admin/audit?actor={long}")).await;
        assert_eq!(status, 400);
        assert!(html.contains("id=\"actor-error\""), "{html}");
    }
}
