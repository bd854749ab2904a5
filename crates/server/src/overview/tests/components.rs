//! Components follow their services on the public status page (issue 14): a down service turns
//! its component through its configured impact, a flapping one does not flap the page, a pin
//! overrides, and the incident a service declares reads like a person wrote it and is private
//! unless the service says otherwise.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::{Demo, make_due, probing, without_seeded_services};
use crate::overview::scheduler::ProbeScheduler;
use crate::testing::{self, send};

const STATUS_HOST: &str = "status.twisterlab.local";

fn scheduler(pool: &PgPool) -> ProbeScheduler {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeScheduler::new(pool.clone(), 16, jiff::tz::TimeZone::UTC).expect("scheduler")
}

async fn round(s: &ProbeScheduler) {
    make_due(&s.pool).await;
    s.run_once().await.expect("probe round");
}

fn public(path: &str) -> Request<Body> {
    Request::builder().uri(path).header(header::HOST, STATUS_HOST).body(Body::empty()).expect("request")
}

/// The component's status as the Statuspage JSON and the HTML page show it.
async fn shown(app: &axum::Router, name: &str) -> (String, String) {
    let (_, json) = send(app, public("/api/v2/components.json")).await;
    let json: Value = serde_json::from_str(&json).expect("JSON");
    let status = json["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed"))["status"]
        .as_str()
        .expect("status")
        .to_owned();
    let (_, page) = send(app, public("/")).await;
    let marker = format!(r#"<span class="name">{name}</span> <span class="state state-"#);
    let at = page.find(&marker).unwrap_or_else(|| panic!("{name} on the page: {page}")) + marker.len();
    let html = page[at..].split('"').next().expect("class").to_owned();
    (status, html)
}

async fn probe_incidents(pool: &PgPool) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "select title, summary, private from incidents where 'health-probe' = any(labels) order by number",
    )
    .fetch_all(pool)
    .await
    .expect("incidents")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_down_service_turns_its_component_on_the_status_page_without_flapping_and_a_pin_overrides(
    pool: PgPool,
) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("twisterlab-api", &demo.health_url(), 2)
        .up_after(2)
        .opens(Severity::P2)
        .component("API")
        .create(&pool)
        .await;
    let s = scheduler(&pool);
    let test_app = testing::TestApp::new(&pool);
    let worker = test_app.status_worker();
    let app = test_app.router.clone();
    let rebuild = async || worker.run_once().await.expect("rebuild");
    round(&s).await;
    rebuild().await;
    assert_eq!(shown(&app, "API").await, ("operational".into(), "operational".into()));

    // One failure is below the threshold: the public page does not move.
    demo.mode("down").await;
    round(&s).await;
    rebuild().await;
    assert_eq!(shown(&app, "API").await.0, "operational", "one failure of two");

    // The second failure makes it down: the status pages are told at once (NOTIFY in the
    // probe's transaction) and show the service's impact.
    let mut listener = PgListener::connect_with(&pool).await.expect("listener");
    listener.listen(crate::status_page::worker::CHANNEL).await.expect("listen");
    round(&s).await;
    tokio::time::timeout(Duration::from_secs(1), listener.recv())
        .await
        .expect("the status pages are told within 1 s")
        .expect("notification");
    rebuild().await;
    assert_eq!(shown(&app, "API").await, ("partial_outage".into(), "partial_outage".into()));

    // The declared incident reads like a person wrote it, and is private: its impact shows
    // through the service, not through a public incident.
    let incidents = probe_incidents(&pool).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let (title, summary, private) = &incidents[0];
    assert_eq!(title, "twisterlab-api is down");
    assert!(summary.contains("HTTP 503"), "the probe's detail is in the summary: {summary}");
    assert!(*private, "auto-declared incidents are private by default");
    let (_, unresolved) = send(&app, public("/api/v2/incidents/unresolved.json")).await;
    assert!(!unresolved.contains("twisterlab-api is down"), "{unresolved}");

    // Flapping: pass, fail, pass keeps the component where it is; two passes in a row clear it.
    for mode in ["healthy", "down", "healthy"] {
        demo.mode(mode).await;
        round(&s).await;
        rebuild().await;
        assert_eq!(shown(&app, "API").await.0, "partial_outage", "after {mode}: still the outage");
    }
    round(&s).await;
    rebuild().await;
    assert_eq!(shown(&app, "API").await, ("operational".into(), "operational".into()));
    let history: Vec<String> = sqlx::query_scalar(
        "select status from component_status_history h join components c on c.id = h.component_id
          where c.name = 'API' order by h.at, h.id",
    )
    .fetch_all(&pool)
    .await
    .expect("history");
    assert_eq!(history, ["operational", "partial_outage", "operational"], "one change each way");

    // Down again; an admin pins the component operational: the pin wins over the service.
    demo.mode("down").await;
    round(&s).await;
    round(&s).await;
    rebuild().await;
    assert_eq!(shown(&app, "API").await.0, "partial_outage");
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let api: uuid::Uuid =
        crate::db::components::id_by_name(&pool, "API").await.expect("lookup").expect("API");
    let (response, body) = send(
        &app,
        testing::post_form(
            &format!("/admin/components/{api}/pin"),
            Some(&admin),
            &[("status", "operational"), ("reason", "known false alarm")],
        ),
    )
    .await;
    assert_eq!(response.status(), axum::http::StatusCode::SEE_OTHER, "{body}");
    rebuild().await;
    assert_eq!(shown(&app, "API").await, ("operational".into(), "operational".into()));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_service_set_to_public_incidents_declares_a_public_one_titled_degraded_for_a_degrading_service(
    pool: PgPool,
) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    let mut builder = probing("mcp-unified", &demo.health_url(), 1).opens(Severity::P3).component("Cache");
    builder = builder.public_incidents().degrades();
    builder.create(&pool).await;
    demo.mode("down").await;
    round(&scheduler(&pool)).await;
    let incidents = probe_incidents(&pool).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].0, "mcp-unified is degraded");
    assert!(!incidents[0].2, "this service publishes its incidents at once");
    let test_app = testing::TestApp::new(&pool);
    test_app.status_worker().run_once().await.expect("build");
    assert_eq!(shown(&test_app.router, "Cache").await.0, "degraded_performance");
}
