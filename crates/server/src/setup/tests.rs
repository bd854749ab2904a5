//! The first-run checklist on the overview, the Admin menu and index, error pages keeping the
//! menu.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::db::oncall::{self, RotationKind, RotationSettings};
use crate::testing::{self, audit_actions, builders, get, post_form, send};

/// A fresh install as H4's quiet start leaves it: the ready-made services exist, disabled.
async fn nothing_probed(pool: &PgPool) {
    sqlx::query("update health_services set enabled = false").execute(pool).await.expect("disable services");
}

/// The checklist's heading on the overview ("Set up the portal: 2 of 6 done"), if shown.
fn progress(html: &str) -> Option<String> {
    let start = html.find("Set up the portal: ")?;
    let rest = &html[start + "Set up the portal: ".len()..];
    Some(rest[..rest.find(" done")?].to_owned())
}

/// The checklist item whose link is `href`, as its `<li>` reads.
fn item<'a>(html: &'a str, href: &str) -> &'a str {
    // The checklist's own list: the Admin page also links the same pages above it.
    let html = &html[html.find("class=\"checklist\"").unwrap_or_else(|| panic!("no checklist: {html}"))..];
    let at = html
        .find(&format!("<a href=\"{href}\">"))
        .unwrap_or_else(|| panic!("no item linking {href}: {html}"));
    let start = html[..at].rfind("<li").expect("inside an item");
    let end = at + html[at..].find("</li>").expect("item ends");
    &html[start..end]
}

fn is_done(html: &str, href: &str) -> bool {
    let li = item(html, href);
    li.contains("class=\"done\"") && li.contains(">done<")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn checklist_items_turn_done_as_the_real_data_appears_and_the_list_goes_away_when_all_are(
    pool: PgPool,
) {
    nothing_probed(&pool).await;
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let overview = || async { send(&app, get("/", Some(&admin))).await.1 };

    let html = overview().await;
    assert_eq!(progress(&html).as_deref(), Some("0 of 6"), "{html}");
    for href in [
        "/admin/components",
        "/admin/services",
        "/admin/users",
        "/oncall/rotations/responders",
        "/admin/channels",
        "/admin/sla",
    ] {
        assert!(!is_done(&html, href), "{href} is not done on a fresh install: {}", item(&html, href));
    }

    // Components: an admin shapes the status page.
    let (response, body) = send(
        &app,
        post_form(
            "/admin/component-groups",
            Some(&admin),
            &[("group_name", "Edge"), ("group_position", "5")],
        ),
    )
    .await;
    assert_eq!(response.status(), 303, "{body}");
    // Services: one enabled service.
    builders::service("staging-api").create(&pool).await;
    // Users: a teammate.
    let teammate = testing::person(&pool, "Alice", Role::Responder).await;
    let html = overview().await;
    assert_eq!(progress(&html).as_deref(), Some("3 of 6"), "{html}");
    for href in ["/admin/components", "/admin/services", "/admin/users"] {
        assert!(is_done(&html, href), "{href}: {}", item(&html, href));
    }

    // The responders' rotation with someone in it.
    let mut tx = pool.begin().await.expect("begin");
    let settings = RotationSettings {
        time_zone: "UTC",
        starts_on: jiff::civil::date(2026, 1, 5),
        handoff_weekday: 1,
        handoff_time: jiff::civil::time(9, 0, 0, 0),
        length_days: 7,
        participants: &[teammate.id],
    };
    oncall::save_rotation(&mut tx, RotationKind::Responders, &settings).await.expect("rotation");
    tx.commit().await.expect("commit");
    // A channel.
    let (response, body) = send(
        &app,
        post_form(
            "/admin/channels",
            Some(&admin),
            &[
                ("kind", "slack"),
                ("name", "Slack"),
                ("enabled", "on"),
                ("url", "https://hooks.slack.com/services/T0/B0/xyz"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), 303, "{body}");
    let html = overview().await;
    assert_eq!(progress(&html).as_deref(), Some("5 of 6"), "{html}");
    assert!(is_done(&html, "/oncall/rotations/responders") && is_done(&html, "/admin/channels"), "{html}");
    assert!(!is_done(&html, "/admin/sla"), "{html}");

    // The SLA policy, saved as shipped: reviewed.
    let (response, body) = send(&app, post_form("/admin/sla", Some(&admin), &sla_as_shipped())).await;
    assert_eq!(response.status(), 303, "{body}");
    let html = overview().await;
    assert!(
        progress(&html).is_none() && !html.contains("first-run-checklist"),
        "all done, no checklist: {html}"
    );

    // The Admin page still shows it, every item done.
    let (_, html) = send(&app, get("/admin", Some(&admin))).await;
    for href in [
        "/admin/components",
        "/admin/services",
        "/admin/users",
        "/oncall/rotations/responders",
        "/admin/channels",
        "/admin/sla",
    ] {
        assert!(is_done(&html, href), "{href} on /admin: {html}");
    }
}

fn sla_as_shipped() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_P0", "5"),
        ("escalation_P0", "immediately"),
        ("response_P1", "15"),
        ("escalation_P1", "after"),
        ("escalation_minutes_P1", "30"),
        ("response_P2", "60"),
        ("escalation_P2", "after"),
        ("escalation_minutes_P2", "120"),
        ("response_P3", "240"),
        ("escalation_P3", "next_business_day"),
        ("days", "1"),
        ("days", "2"),
        ("days", "3"),
        ("days", "4"),
        ("days", "5"),
        ("opens", "09:00"),
        ("closes", "17:00"),
    ]
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn only_admins_see_the_checklist_and_only_admins_may_dismiss_it(pool: PgPool) {
    nothing_probed(&pool).await;
    let app = testing::app(&pool);
    for role in [Role::Viewer, Role::Responder, Role::Commander, Role::Manager] {
        let browser = testing::signed_in(&pool, role).await;
        let (response, html) = send(&app, get("/", Some(&browser))).await;
        assert_eq!(response.status(), 200);
        assert!(
            !html.contains("first-run-checklist") && !html.contains("Set up the portal"),
            "{role:?}: {html}"
        );
        let (response, _) = send(&app, post_form("/admin/checklist/dismiss", Some(&browser), &[])).await;
        assert_eq!(response.status(), 403, "{role:?} may not dismiss it");
    }
    assert!(crate::db::setup::dismissed(&pool).await.expect("read").is_none());
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (_, html) = send(&app, get("/", Some(&admin))).await;
    assert!(html.contains("first-run-checklist"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_dismisses_the_checklist_for_every_admin_and_it_is_audited_once(pool: PgPool) {
    nothing_probed(&pool).await;
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let other = testing::signed_in(&pool, Role::Admin).await;

    let (response, _) = send(&app, post_form("/admin/checklist/dismiss", Some(&admin), &[])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/?notice=checklist_dismissed");
    let (_, html) = send(&app, get("/?notice=checklist_dismissed", Some(&admin))).await;
    assert!(html.contains("Checklist dismissed for every admin"), "{html}");
    assert!(!html.contains("first-run-checklist"), "{html}");
    let (_, html) = send(&app, get("/", Some(&other))).await;
    assert!(!html.contains("first-run-checklist"), "gone for the other admin too: {html}");

    // Twice is once.
    let (response, _) = send(&app, post_form("/admin/checklist/dismiss", Some(&other), &[])).await;
    assert_eq!(response.status(), 303);
    let rows = audit_actions(&pool, "checklist.dismiss").await;
    assert_eq!(rows.len(), 1, "one audit row");
    assert_eq!(rows[0].actor_label, admin.user.email);
    let open = rows[0].after.as_ref().expect("after")["open_items"].as_array().expect("list").len();
    assert_eq!(open, 5, "what was still open is on record (a second admin makes Users done)");

    // The Admin page keeps it.
    let (_, html) = send(&app, get("/admin", Some(&admin))).await;
    assert!(html.contains("The checklist was dismissed from the overview"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn one_admin_menu_entry_leads_to_an_index_of_every_admin_page_and_each_opens(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (_, html) = send(&app, get("/", Some(&admin))).await;
    assert!(html.contains("<a href=\"/admin\">Admin</a>"), "the menu has Admin: {html}");
    assert!(!html.contains(">Audit log</a></li>"), "one entry, not one per page: {html}");

    let (response, html) = send(&app, get("/admin", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("aria-current=\"page\">Admin<"), "{html}");
    for page in crate::setup::pages::ADMIN_PAGES {
        assert!(
            html.contains(&format!("<a href=\"{}\">{}</a>", page.href, page.label)),
            "{}: {html}",
            page.label
        );
        let (response, body) = send(&app, get(page.href, Some(&admin))).await;
        assert_eq!(response.status(), 200, "{}: {body}", page.href);
    }
    // Every admin-only page in the route table is reachable from the index (forms and pages of
    // one item are reached from their list).
    for path in [
        "/admin/users",
        "/admin/audit",
        "/admin/services",
        "/admin/components",
        "/admin/sla",
        "/admin/channels",
        "/admin/notifications",
        "/admin/signals",
    ] {
        assert!(crate::setup::pages::ADMIN_PAGES.iter().any(|p| p.href == path), "{path} missing");
    }
    let (_, html) = send(&app, get("/admin/users", Some(&admin))).await;
    assert!(html.contains("aria-current=\"page\">Admin<"), "admin pages mark Admin: {html}");

    let responder = testing::signed_in(&pool, Role::Responder).await;
    let (_, html) = send(&app, get("/", Some(&responder))).await;
    assert!(!html.contains("href=\"/admin\""), "no Admin menu for a responder: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn forbidden_and_not_found_pages_keep_the_menu_and_the_signed_in_user(pool: PgPool) {
    let app = testing::app(&pool);
    let responder = testing::signed_in(&pool, Role::Responder).await;
    for (path, status) in
        [("/admin", 403), ("/admin/users", 403), ("/no/such/page", 404), ("/incidents/INC-999999", 404)]
    {
        let (response, html) = send(&app, get(path, Some(&responder))).await;
        assert_eq!(response.status(), status, "{path}");
        assert!(html.contains("nav class=\"areas\""), "{path}: the menu: {html}");
        assert!(html.contains(">Incidents</a>"), "{path}: {html}");
        assert!(
            html.contains(&responder.user.display_name) && html.contains("Sign out"),
            "{path}: the user: {html}"
        );
    }
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (response, html) = send(&app, get("/admin/nothing-here", Some(&admin))).await;
    assert_eq!(response.status(), 404);
    assert!(html.contains("<a href=\"/admin\">Admin</a>") || html.contains(">Admin</a>"), "{html}");
}
