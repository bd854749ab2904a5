//! "Test now" on the admin service pages: one probe, shown at once, nothing recorded.

use std::time::Duration;

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{Demo, probing, without_seeded_services};
use crate::db::health as store;
use crate::testing::{self, post_form, send};

fn typed<'a>(name: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("url", url),
        ("expect", "/status = healthy"),
        ("interval_seconds", "30"),
        ("timeout_ms", "2000"),
        ("failures_before_down", "3"),
        ("component", ""),
        ("impact", "major_outage"),
        ("open_incident", ""),
        ("enabled", "on"),
        ("intent", "test"),
    ]
}

async fn probe_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from health_probe_results").fetch_one(pool).await.expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn testing_a_new_service_form_probes_the_typed_url_once_and_saves_nothing(pool: PgPool) {
    without_seeded_services(&pool).await;
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let demo = Demo::start(Duration::from_secs(5)).await;
    let url = demo.health_url();

    let (response, html) =
        send(&app, post_form("/admin/services", Some(&admin), &typed("staging-api", &url))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert!(html.contains(&format!("Passed: {url} answered 200 OK in")), "{html}");
    assert!(html.contains("value=\"staging-api\""), "the typed form comes back: {html}");

    demo.mode("down").await;
    let (response, html) =
        send(&app, post_form("/admin/services", Some(&admin), &typed("staging-api", &url))).await;
    assert_eq!(response.status(), 200);
    let result =
        html.split("id=\"test-result\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or("");
    assert!(result.contains("Failed (") && result.contains("503"), "{result}");
    assert!(result.contains("unhealthy"), "the answer's start is shown: {result}");

    let (response, html) =
        send(&app, post_form("/admin/services", Some(&admin), &typed("staging-api", "ftp://staging/health")))
            .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"url-error\""), "{html}");
    assert!(!html.contains("id=\"test-result\""));

    assert!(
        store::find_by_name(&pool, "staging-api").await.expect("query").is_none(),
        "a test saves nothing"
    );
    assert!(testing::audit_actions(&pool, "service.create").await.is_empty());
    assert_eq!(probe_rows(&pool).await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn test_now_on_a_saved_service_shows_the_answer_and_leaves_its_state_alone(pool: PgPool) {
    without_seeded_services(&pool).await;
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let demo = Demo::start(Duration::from_secs(5)).await;
    demo.mode("down").await;
    probing("edge-api", &demo.health_url(), 1).create(&pool).await;
    let before = store::find_by_name(&pool, "edge-api").await.expect("query").expect("created");

    let (_, list) = send(&app, testing::get("/admin/services", Some(&admin))).await;
    assert!(list.contains("action=\"/admin/services/edge-api/test\""), "{list}");
    let (response, html) = send(&app, post_form("/admin/services/edge-api/test", Some(&admin), &[])).await;
    assert_eq!(response.status(), 200, "{html}");
    let result =
        html.split("id=\"test-result\"").nth(1).and_then(|s| s.split("</section>").next()).unwrap_or("");
    assert!(result.contains("Failed (") && result.contains(&demo.health_url()), "{result}");
    assert!(result.contains("Nothing was recorded"), "{result}");

    let after = store::find_by_name(&pool, "edge-api").await.expect("query").expect("still there");
    assert_eq!(after.state, before.state, "a test does not move the service's state");
    assert_eq!(probe_rows(&pool).await, 0);
    let incidents: i64 =
        sqlx::query_scalar("select count(*) from incidents").fetch_one(&pool).await.expect("count");
    assert_eq!(incidents, 0, "a failing test declares nothing");

    let (response, _) = send(&app, post_form("/admin/services/nothing-here/test", Some(&admin), &[])).await;
    assert_eq!(response.status(), 404);
}
