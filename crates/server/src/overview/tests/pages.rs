//! The overview page (`/`) and a service's page, from what the workers stored.

use std::time::Duration;

use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::{Demo, make_due, probing, without_seeded_services};
use crate::overview::jobs::{KeyMetricsJob, RollupJob};
use crate::overview::key_metrics;
use crate::overview::scheduler::ProbeScheduler;
use crate::testing::{self, get, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn anonymous_visitors_are_sent_to_sign_in(pool: PgPool) {
    let (response, _) = send(&testing::app(&pool), get("/", None)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?next=/");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_viewer_sees_the_overview_with_their_name_and_a_sign_out_form(pool: PgPool) {
    let browser = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = send(&testing::app(&pool), get("/", Some(&browser))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(html.contains(&browser.user.display_name) && html.contains("Sign out"), "{html}");
    assert!(!html.contains("/admin/users"), "viewers do not see admin navigation: {html}");
    // The ready-made services, disabled on a fresh install, and the panels before their first
    // snapshot.
    assert!(html.contains("twisterlab-api") && html.contains("disabled"), "{html}");
    assert!(html.contains("Key metrics") && html.contains("Kubernetes"), "{html}");
    assert!(html.contains("http://grafana.twisterlab.local/d/system-overview"), "{html}");
}

async fn rounds(pool: &PgPool, n: usize) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = ProbeScheduler::new(pool.clone(), 8, jiff::tz::TimeZone::UTC).expect("scheduler");
    for _ in 0..n {
        make_due(pool).await;
        s.run_once().await.expect("round");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_overview_puts_the_down_service_its_incident_and_the_unknown_metrics_on_one_screen(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    let broken = Demo::start(Duration::from_millis(100)).await;
    probing("healthy-api", &demo.health_url(), 2).create(&pool).await;
    probing("broken-api", &broken.health_url(), 2)
        .opens(Severity::P1)
        .public_incidents()
        .component("API")
        .create(&pool)
        .await;
    rounds(&pool, 1).await;
    broken.mode("down").await;
    rounds(&pool, 2).await;
    KeyMetricsJob {
        pool: pool.clone(),
        prometheus: None,
        specs: key_metrics::defaults(),
        min_age: Duration::ZERO,
        zone: jiff::tz::TimeZone::UTC,
    }
    .run_once()
    .await
    .expect("metrics snapshot");

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = send(&testing::app(&pool), get("/", Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains(r#"class="banner state-down""#) && html.contains("Outage: broken-api down"),
        "{html}"
    );
    let broken_at = html.find(r#"href="/health/services/broken-api""#).expect("broken-api listed");
    let healthy_at = html.find(r#"href="/health/services/healthy-api""#).expect("healthy-api listed");
    assert!(broken_at < healthy_at, "what needs action first");
    assert!(html.contains("HTTP 503 Service Unavailable; /agents is"), "the reason is shown: {html}");
    assert!(html.contains("<polyline points="), "a sparkline: {html}");
    assert!(html.contains("INC-") && html.contains("broken-api is down"), "the open incident: {html}");
    assert!(html.contains("API latency p95") && html.contains("&#60; 500 ms"), "{html}");
    assert!(html.contains("No Prometheus is configured"), "{html}");
    assert!(!html.contains(r#"state-ok">ok</span>"#), "unknown metrics are never ok: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_service_page_shows_its_definition_history_and_raw_results(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("paged-api", &demo.health_url(), 3).opens(Severity::P2).component("API").create(&pool).await;
    rounds(&pool, 2).await;
    demo.mode("degraded").await;
    rounds(&pool, 1).await;
    RollupJob { pool: pool.clone() }.run_once().await.expect("roll-up");

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let app = testing::app(&pool);
    let (response, html) = send(&app, get("/health/services/paged-api", Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert!(html.contains("failing (1 of 3)"), "{html}");
    assert!(html.contains("/database = connected"), "the expectations: {html}");
    assert!(html.contains("declares a P2 incident when down"), "{html}");
    assert!(html.contains("66.67 %"), "today's uptime: {html}");
    assert!(html.contains("wrong value") && html.contains("/redis is &#34;disconnected&#34;"), "{html}");
    assert_eq!(html.matches(r#"<span class="state state-ok">ok</span>"#).count(), 2, "{html}");

    let (response, _) = send(&app, get("/health/services/no-such-service", Some(&viewer))).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn only_admins_see_what_a_failing_probe_target_answered(pool: PgPool) {
    without_seeded_services(&pool).await;
    let id = crate::testing::builders::service("internal-api")
        .url("http://127.0.0.1:9/health")
        .create(&pool)
        .await;
    let now = jiff::Timestamp::now();
    let result = crate::db::probe_results::NewResult {
        service_id: id,
        scheduled_at: now,
        started_at: now,
        ok: false,
        latency_ms: 12,
        http_status: Some(500),
        failure: Some(twisterlab_domain::health::FailureKind::HttpStatus),
        reason: Some("500 Internal Server Error"),
        excerpt: Some("aws_secret_access_key=AKIAEXCERPT"),
    };
    crate::db::probe_results::insert(&pool, &result).await.expect("insert");
    let app = testing::app(&pool);
    for role in [Role::Viewer, Role::Responder, Role::Manager] {
        let browser = testing::signed_in(&pool, role).await;
        let (response, html) = send(&app, get("/health/services/internal-api", Some(&browser))).await;
        assert_eq!(response.status(), 200, "{html:.300}");
        assert!(html.contains("500 Internal Server Error"), "the failure itself is shown to {role}");
        assert!(!html.contains("AKIAEXCERPT"), "{role} sees the body the target answered");
    }
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (_, html) = send(&app, get("/health/services/internal-api", Some(&admin))).await;
    assert!(html.contains("AKIAEXCERPT"), "admins keep the evidence");
}
