//! The audit log page: who did what, filters, days in the team's zone, keyset pages.

use serde_json::json;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::accounts::admin_audit::MAX_FILTER;
use crate::db::audit::{self, Actor, Entry};
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
    sqlx::query("insert into audit_log (at, actor_label, action, target) values ($1, 'system', $2, 'clock')")
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
            assert!(n.contains("actor=pager") && n.contains("action=page.") && n.contains("before="), "{n}");
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
        assert!(html.contains(&format!("<p class=\"field-error\" id=\"{field}-error\">")), "{path}: {html}");
        assert!(!html.contains("<script>"), "{html}");
    }
    let long = "a".repeat(MAX_FILTER + 1);
    let (status, html) = page(&app, &admin, &format!("/admin/audit?actor={long}")).await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"actor-error\""), "{html}");
}
