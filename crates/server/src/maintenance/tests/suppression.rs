//! Probe signals during a window, with the demo target: a service going down on a component
//! under maintenance opens no incident and pages nobody, the signal is recorded on the window,
//! and when the window ends with the service still down its incident opens then.

use std::time::Duration;

use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::severity::Severity;

use super::{post_expect, started_window};
use crate::overview::scheduler::ProbeScheduler;
use crate::overview::tests::{Demo, make_due, probing, without_seeded_services};
use crate::testing::{TestApp, get};

fn scheduler(pool: &PgPool) -> ProbeScheduler {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeScheduler::new(pool.clone(), 4, jiff::tz::TimeZone::UTC).expect("scheduler")
}

async fn round(s: &ProbeScheduler) {
    make_due(&s.pool).await;
    s.run_once().await.expect("probe round");
}

async fn probe_incidents(pool: &PgPool) -> Vec<(i64, String)> {
    sqlx::query_as("select number, title from incidents where 'health-probe' = any(labels) order by number")
        .fetch_all(pool)
        .await
        .expect("incidents")
}

async fn escalations(pool: &PgPool) -> i64 {
    let deadlines: i64 =
        sqlx::query_scalar("select count(*) from escalation_deadlines").fetch_one(pool).await.expect("count");
    let notifications: i64 =
        sqlx::query_scalar("select count(*) from notifications").fetch_one(pool).await.expect("count");
    deadlines + notifications
}

async fn held_back(pool: &PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query_as("select service_name, outcome from maintenance_suppressed_signals order by fired_at")
        .fetch_all(pool)
        .await
        .expect("held back")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_probe_failing_during_a_window_opens_no_incident_until_the_window_ends_still_failing(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("api-under-test", &demo.health_url(), 1).opens(Severity::P1).component("API").create(&pool).await;
    let s = scheduler(&pool);
    round(&s).await;
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Deploy v2.0", &["API"]).await;

    demo.mode("down").await;
    round(&s).await;
    round(&s).await;
    assert!(probe_incidents(&pool).await.is_empty(), "no incident during the window");
    assert_eq!(escalations(&pool).await, 0, "nobody paged");
    assert_eq!(
        held_back(&pool).await,
        [("api-under-test".to_owned(), None)],
        "recorded once, when it went down"
    );
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(html.contains("Held-back health signals") && html.contains("api-under-test"), "{html:.6000}");
    assert!(html.contains("checked when the window ends"), "{html:.6000}");

    post_expect(&app, &commander, &format!("/maintenance/{id}/complete"), &[], StatusCode::SEE_OTHER).await;
    let incidents = probe_incidents(&pool).await;
    assert_eq!(incidents.len(), 1, "still down at the end: the incident opens now");
    assert!(incidents[0].1.starts_with("api-under-test is down"), "{incidents:?}");
    assert!(escalations(&pool).await > 0, "and the paging chain starts");
    assert_eq!(held_back(&pool).await, [("api-under-test".to_owned(), Some("incident".to_owned()))]);
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(html.contains(&format!("INC-{}", incidents[0].0)), "{html:.6000}");

    // Later failures go the usual way: the open incident gets them, no second incident.
    round(&s).await;
    assert_eq!(probe_incidents(&pool).await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_probe_that_recovers_before_the_window_ends_opens_nothing(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("api-under-test", &demo.health_url(), 1).opens(Severity::P1).component("API").create(&pool).await;
    let s = scheduler(&pool);
    round(&s).await;
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Deploy v2.0", &["API"]).await;
    demo.mode("down").await;
    round(&s).await;
    demo.mode("healthy").await;
    round(&s).await;
    post_expect(&app, &commander, &format!("/maintenance/{id}/complete"), &[], StatusCode::SEE_OTHER).await;
    assert!(probe_incidents(&pool).await.is_empty());
    assert_eq!(escalations(&pool).await, 0);
    assert_eq!(held_back(&pool).await, [("api-under-test".to_owned(), Some("recovered".to_owned()))]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_probe_on_a_component_outside_the_window_still_declares_its_incident(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("cache-under-test", &demo.health_url(), 1)
        .opens(Severity::P2)
        .component("Cache")
        .create(&pool)
        .await;
    let s = scheduler(&pool);
    round(&s).await;
    let app = TestApp::new(&pool);
    started_window(&app, "Deploy v2.0", &["API"]).await;
    demo.mode("down").await;
    round(&s).await;
    assert_eq!(probe_incidents(&pool).await.len(), 1);
    assert!(held_back(&pool).await.is_empty());
}
