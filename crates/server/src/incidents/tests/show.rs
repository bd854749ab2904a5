//! The incident page: what each role sees, free text that stays text, the timeline filters.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{declare_via_form, number_of};
use crate::db::users::{self, NewUser};
use crate::testing::{self, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_page_renders_for_a_viewer(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "Checkout is slow"), ("severity", "P2"), ("summary", "**Slow** checkout")],
    )
    .await;
    let n = number_of(&path);

    let (response, html) = send(&app, get("/incidents", Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert!(
        html.contains(&n.to_string())
            && html.contains("Checkout is slow")
            && html.contains("P2</span> major"),
        "{html}"
    );
    assert!(html.contains("aria-current=\"page\">Incidents<"), "the navigation marks Incidents: {html}");
    assert!(!html.contains("Declare an incident"), "viewers are not offered the declare form: {html}");

    for p in [path.clone(), format!("/incidents/{}", n.get())] {
        let (response, html) = send(&app, get(&p, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{p}: {html}");
        assert!(
            html.contains("Checkout is slow") && html.contains("<strong>Slow</strong> checkout"),
            "{html}"
        );
        assert!(html.contains("ack due in") && html.contains("escalates in"), "{html}");
        assert!(html.contains("Declared as P2") && html.contains("id=\"e-"), "{html}");
        assert!(
            !html.contains("/acknowledge\"") && !html.contains("/notes\""),
            "viewers see no actions: {html}"
        );
    }

    let (response, _) = send(&app, get("/incidents/new", Some(&viewer))).await;
    assert_eq!(response.status(), 403);
    let (response, html) = send(&app, get("/incidents/INC-999999", Some(&viewer))).await;
    assert_eq!(response.status(), 404, "{html}");
    assert!(html.contains("INC-999999 does not exist"), "{html}");
    let (response, _) = send(&app, get("/incidents/not-a-number", Some(&viewer))).await;
    assert_eq!(response.status(), 404);

    let (response, html) = send(&app, get("/incidents/new", Some(&commander))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("system down")
            && html.contains("acknowledge within 15 min, escalate to a manager after 30 min"),
        "{html}"
    );
    assert!(
        html.contains(&format!("value=\"{}\" selected", commander.user.id)),
        "the commander defaults to me: {html}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn free_text_never_becomes_markup_or_script_links(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let hash = testing::password_hash().await;
    let evil = users::insert(
        &pool,
        &NewUser {
            email: "evil@twisterlab.test",
            display_name: "<script>alert('name')</script>",
            role: Role::Responder,
            password_hash: &hash,
            must_change_password: false,
        },
    )
    .await
    .expect("insert")
    .expect("new");
    let script = "<script>alert(1)</script>";
    let path = declare_via_form(
        &app,
        &commander,
        &[
            ("title", script),
            ("severity", "P2"),
            ("summary", "<script>alert(2)</script> [x](javascript:alert(3))"),
            ("labels", "<script>alert(4)</script>"),
        ],
    )
    .await;
    for (action, fields) in [
        (
            "notes",
            vec![("body", "<script>alert(5)</script> [y](javascript:alert(6)) <img src=x onerror=alert(7)>")],
        ),
        ("updates", vec![("body", "<script>alert(8)</script> [z](JavaScript:alert(9))")]),
        (
            "links",
            vec![
                ("kind", "grafana"),
                ("url", "https://grafana.twisterlab.local/d/api"),
                ("label", "<script>alert(10)</script>"),
            ],
        ),
    ] {
        let (response, body) =
            send(&app, post_form(&format!("{path}/{action}"), Some(&commander), &fields)).await;
        assert_eq!(response.status(), 303, "{action}: {body}");
    }
    let (response, _) = send(
        &app,
        post_form(
            &format!("{path}/links"),
            Some(&commander),
            &[("kind", "other"), ("url", "javascript:alert(11)")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422, "javascript: links are refused");
    let evil_id = evil.id.to_string();
    let (response, _) = send(
        &app,
        post_form(&format!("{path}/roles"), Some(&commander), &[("role", "scribe"), ("user", &evil_id)]),
    )
    .await;
    assert_eq!(response.status(), 303);

    for page in [path.clone(), "/incidents".into(), format!("{path}?kind=note")] {
        let (_, html) = send(&app, get(&page, Some(&commander))).await;
        assert!(!html.contains("<script>") && !html.contains("<img src=x"), "{page}: {html}");
        assert!(!html.to_ascii_lowercase().contains("href=\"javascript:"), "{page}: {html}");
        assert!(
            html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
            "shown as text: {html}"
        );
    }
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("href=\"https://grafana.twisterlab.local/d/api\""), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_timeline_filters_by_kind_and_actor(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let path = declare_via_form(&app, &commander, &[("title", "Agents stuck"), ("severity", "P2")]).await;
    let (response, _) =
        send(&app, post_form(&format!("{path}/notes"), Some(&responder), &[("body", "Restarted agent-7")]))
            .await;
    assert_eq!(response.status(), 303);

    let (_, html) = send(&app, get(&format!("{path}?kind=note"), Some(&commander))).await;
    assert!(html.contains("Restarted agent-7") && !html.contains("Declared as P2"), "{html}");
    let (_, html) = send(&app, get(&format!("{path}?actor={}", commander.user.id), Some(&commander))).await;
    assert!(!html.contains("Restarted agent-7") && html.contains("Declared as P2"), "{html}");
    let (response, html) = send(&app, get(&format!("{path}?kind=party"), Some(&commander))).await;
    assert_eq!(response.status(), 400);
    assert!(html.contains("kind"), "{html}");
    let (response, _) = send(&app, get(&format!("{path}?actor=someone"), Some(&commander))).await;
    assert_eq!(response.status(), 400);
}
