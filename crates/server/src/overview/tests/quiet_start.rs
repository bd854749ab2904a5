//! A fresh install starts quiet: the runbook's services are ready-made, disabled entries, so
//! nothing is probed or declared until an admin enables one, and uptime covers each component's
//! own life only.

use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::incident::ComponentStatus;
use twisterlab_domain::role::Role;

use super::make_due;
use crate::db::{components, health as store};
use crate::overview::scheduler::ProbeScheduler;
use crate::testing::{self, TestApp, audit_actions, get, post_form};

fn scheduler(pool: &PgPool) -> ProbeScheduler {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeScheduler::new(pool.clone(), 8, jiff::tz::TimeZone::UTC).expect("scheduler")
}

const READY_MADE: [&str; 3] = ["mcp-unified", "ollama", "twisterlab-api"];

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_fresh_database_probes_nothing_declares_nothing_and_keeps_the_status_page_operational(
    pool: PgPool,
) {
    let services = store::list(&pool).await.expect("services");
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, READY_MADE, "the runbook's services are offered");
    assert!(services.iter().all(|s| s.ready_made && !s.enabled), "all ready-made and disabled: {services:?}");

    make_due(&pool).await;
    assert_eq!(scheduler(&pool).run_once().await.expect("pass"), 0, "a scheduler pass probes nothing");
    let incidents: i64 =
        sqlx::query_scalar("select count(*) from incidents").fetch_one(&pool).await.expect("count");
    assert_eq!(incidents, 0, "nothing is declared");

    let app = TestApp::new(&pool);
    app.status_worker().run_once().await.expect("status page build");
    let data = crate::status_page::data::load(&pool, &jiff::tz::TimeZone::UTC).await.expect("status data");
    assert!(
        data.components.iter().all(|c| c.status == ComponentStatus::Operational),
        "no public status change: {:?}",
        data.components.iter().map(|c| (&c.name, c.status)).collect::<Vec<_>>()
    );

    let admin = app.signed_in(Role::Admin).await;
    let (_, html) = app.send(get("/admin/services", Some(&admin))).await;
    assert_eq!(html.matches("ready-made, disabled").count(), 3, "{html}");
    assert!(html.contains("Enable twisterlab-api") && html.contains("set its URL"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_sets_a_ready_made_services_url_then_enables_it_with_one_click(pool: PgPool) {
    let app = TestApp::new(&pool);
    let admin = app.signed_in(Role::Admin).await;
    let api = components::id_by_name(&pool, "API").await.expect("lookup").expect("API").to_string();
    let edit = [
        ("name", "twisterlab-api"),
        ("url", "http://127.0.0.1:9/health"),
        ("expect", "/status = healthy"),
        ("interval_seconds", "30"),
        ("timeout_ms", "2000"),
        ("failures_before_down", "3"),
        ("component", api.as_str()),
        ("impact", "partial_outage"),
        ("open_incident", "P1"),
    ];
    let (response, _) = app.send(post_form("/admin/services/twisterlab-api", Some(&admin), &edit)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let edited = store::find_by_name(&pool, "twisterlab-api").await.expect("query").expect("kept");
    assert_eq!((edited.url.as_str(), edited.enabled), ("http://127.0.0.1:9/health", false));

    let (response, _) = app.send(post_form("/admin/services/twisterlab-api/enable", Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let enabled = store::find_by_name(&pool, "twisterlab-api").await.expect("query").expect("kept");
    assert!(enabled.enabled);
    assert_eq!(enabled.url, "http://127.0.0.1:9/health", "enabling keeps the URL the admin set");
    let audit = audit_actions(&pool, "service.update").await;
    assert_eq!(audit.len(), 2, "the edit and the enable");
    assert_eq!(audit[1].after.as_ref().and_then(|a| a["enabled"].as_bool()), Some(true));
    let (_, html) = app.send(get("/admin/services?notice=enabled", Some(&admin))).await;
    assert!(html.contains("Service enabled") && !html.contains("Enable twisterlab-api"), "{html}");
    assert_eq!(html.matches("ready-made, disabled").count(), 2, "{html}");

    make_due(&pool).await;
    assert_eq!(scheduler(&pool).run_once().await.expect("pass"), 1, "only the enabled one is probed");

    let (response, _) = app.send(post_form("/admin/services/nothing-here/enable", Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_component_created_today_reports_uptime_over_its_own_life_only(pool: PgPool) {
    let app = TestApp::new(&pool);
    let admin = app.signed_in(Role::Admin).await;
    let (response, _) =
        app.send(post_form("/admin/components", Some(&admin), &[("name", "Edge"), ("position", "9")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Created an hour ago (or at midnight, whichever is later): today has some history to count.
    sqlx::query(
        "with edge as (select id from components where name = 'Edge'),
              born as (select greatest(date_trunc('day', now(), 'UTC'), now() - interval '1 hour') as at)
         update component_status_history h set at = born.at from edge, born where h.component_id = edge.id",
    )
    .execute(&pool)
    .await
    .expect("backdate the history");
    sqlx::query(
        "update components set created_at = greatest(date_trunc('day', now(), 'UTC'), now() - interval '1 hour')
          where name = 'Edge'",
    )
    .execute(&pool)
    .await
    .expect("backdate the component");
    make_due(&pool).await;
    scheduler(&pool).run_once().await.expect("pass");

    let data = crate::status_page::data::load(&pool, &jiff::tz::TimeZone::UTC).await.expect("status data");
    let edge = data.components.iter().find(|c| c.name == "Edge").expect("Edge on the page");
    let (today, before) = edge.days.split_last().expect("days");
    assert!(before.iter().all(|d| !d.has_data()), "no data before it existed");
    assert!(today.has_data());
    assert!(edge.uptime.is_some_and(|u| testing::close(u, 1.0)), "{:?}", edge.uptime);

    let worker = app.status_worker();
    worker.run_once().await.expect("status page build");
    let status =
        axum::http::Request::get("/status").header("host", "localhost").body(axum::body::Body::empty());
    let (_, html) = app.send(status.expect("request")).await;
    assert!(html.contains("100 % uptime"), "{html:.4000}");
    assert!(html.contains(": no data</title>"), "days before it existed read no data: {html:.4000}");
    assert_eq!(
        html.matches("% uptime</span>").count(),
        html.matches("100 % uptime</span>").count(),
        "every component reads 100 %: {html:.4000}"
    );
}
