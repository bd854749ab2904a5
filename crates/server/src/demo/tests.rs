//! Demo mode on real Postgres with the simulated services on loopback ports: the panel only with
//! `--demo` and only for admins, breaking a service shows in the next probe passes, and without
//! the flag nothing of the demo is created or probed.

use axum::http::StatusCode;
use sqlx::PgPool;
use tokio::sync::watch;
use twisterlab_domain::health::ServiceState;
use twisterlab_domain::role::Role;

use super::{BLUEPRINTS, Simulated, service};
use crate::db::health;
use crate::overview::scheduler::ProbeScheduler;
use crate::overview::tests::make_due;
use crate::state::AppState;
use crate::testing::{self, TestApp, audit_actions, get, post_form};

/// A portal as `serve --demo` builds it: simulated services started, demo services pointed at
/// them. Keep the sender: dropping it stops the simulated services.
async fn demo_app(pool: &PgPool) -> (TestApp, watch::Sender<bool>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (stop, stopped) = watch::channel(false);
    let simulated = Simulated::start(stopped).await.expect("simulated services start");
    service::point_services(pool, &simulated).await.expect("demo services");
    let state = AppState::new(pool.clone(), testing::config(), "test database".into()).with_demo(simulated);
    (TestApp::with_state(state), stop)
}

fn scheduler(pool: &PgPool, demo: bool) -> ProbeScheduler {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeScheduler::new(pool.clone(), 8, jiff::tz::TimeZone::UTC).expect("scheduler").including_demo(demo)
}

/// Makes everything due and runs one pass; returns how many probes ran.
async fn pass(s: &ProbeScheduler) -> usize {
    make_due(&s.pool).await;
    s.run_once().await.expect("probe pass")
}

async fn state_of(pool: &PgPool, name: &str) -> health::Service {
    health::find_by_name(pool, name).await.expect("query").expect("the demo service exists")
}

async fn demo_service_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from health_services where demo")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_demo_panel_is_404_without_demo_mode_and_admin_only_with_it(pool: PgPool) {
    let plain = TestApp::new(&pool);
    let admin = plain.signed_in(Role::Admin).await;
    let (response, _) = plain.send(get("/admin/demo", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (response, _) = plain
        .send(post_form("/admin/demo/demo-twisterlab-api/mode", Some(&admin), &[("mode", "down")]))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, html) = plain.send(get("/admin/services", Some(&admin))).await;
    assert!(!html.contains("/admin/demo"), "no link to a panel that is not there: {html}");
    assert!(audit_actions(&pool, "demo.mode").await.is_empty());

    let (app, _stop) = demo_app(&pool).await;
    let (response, html) = app.send(get("/admin/demo", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains("Demo data."), "the panel says it is demo data: {html}");
    for blueprint in BLUEPRINTS {
        assert!(html.contains(blueprint.name), "{} on the panel: {html}", blueprint.name);
    }
    for mode in ["healthy", "degraded", "down", "slow", "garbage", "hang"] {
        assert!(html.contains(&format!("name=\"mode\" value=\"{mode}\"")), "a {mode} button: {html}");
    }
    let (_, html) = app.send(get("/admin/services", Some(&admin))).await;
    assert!(html.contains("href=\"/admin/demo\""), "the services page links the panel: {html}");
    assert!(html.contains("demo data"), "demo services are marked: {html}");

    let commander = app.signed_in(Role::Commander).await;
    let (response, _) = app.send(get("/admin/demo", Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (response, _) = app
        .send(post_form("/admin/demo/demo-twisterlab-api/mode", Some(&commander), &[("mode", "down")]))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(audit_actions(&pool, "demo.mode").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn breaking_a_simulated_service_makes_the_next_probe_passes_mark_it_down_with_its_incident(
    pool: PgPool,
) {
    let (app, _stop) = demo_app(&pool).await;
    let admin = app.signed_in(Role::Admin).await;
    let probes = scheduler(&pool, true);
    assert_eq!(pass(&probes).await, BLUEPRINTS.len(), "only the demo services are probed");
    assert_eq!(state_of(&pool, "demo-twisterlab-api").await.state, ServiceState::Up);

    let (response, _) =
        app.send(post_form("/admin/demo/demo-twisterlab-api/mode", Some(&admin), &[("mode", "down")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.send(get("/admin/demo?notice=switched", Some(&admin))).await;
    assert!(html.contains("Mode switched") && html.contains("<code>down</code>"), "{html}");
    let audit = audit_actions(&pool, "demo.mode").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_user_id, Some(admin.user.id));
    assert_eq!(audit[0].target, "service:demo-twisterlab-api");

    pass(&probes).await;
    let failing = state_of(&pool, "demo-twisterlab-api").await;
    assert_eq!((failing.state, failing.consecutive_failures), (ServiceState::Failing, 1));
    pass(&probes).await;
    let down = state_of(&pool, "demo-twisterlab-api").await;
    assert_eq!(down.state, ServiceState::Down);
    assert!(down.last_reason.as_deref().is_some_and(|r| r.starts_with("HTTP 503")), "{down:?}");
    let incidents: Vec<(String, String)> = sqlx::query_as(
        "select title, severity from incidents where title like 'demo-twisterlab-api is down%'",
    )
    .fetch_all(&pool)
    .await
    .expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].1, "P1");
    assert_eq!(state_of(&pool, "demo-mcp-unified").await.state, ServiceState::Up, "the others stay up");
    let (_, html) = app.send(get("/admin/demo", Some(&admin))).await;
    assert!(html.contains("HTTP 503"), "the panel shows why the probe failed: {html}");

    // Bad input is a 4xx page, never a switch.
    let (response, _) = app
        .send(post_form("/admin/demo/demo-twisterlab-api/mode", Some(&admin), &[("mode", "sideways")]))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (response, _) =
        app.send(post_form("/admin/demo/twisterlab-api/mode", Some(&admin), &[("mode", "down")])).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(audit_actions(&pool, "demo.mode").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn without_the_flag_no_demo_data_is_created_or_probed(pool: PgPool) {
    let config = testing::config();
    crate::serve::start_up(&config, &pool, false).await.expect("start-up without --demo");
    assert_eq!(demo_service_count(&pool).await, 0, "a start without --demo creates no demo data");
    assert_eq!(pass(&scheduler(&pool, false)).await, 0, "and probes nothing");

    // An earlier --demo run left its services enabled.
    let (_app, stop) = demo_app(&pool).await;
    drop(stop);
    assert_eq!(demo_service_count(&pool).await, 3);
    crate::serve::start_up(&config, &pool, false).await.expect("start-up without --demo");
    let enabled: i64 = sqlx::query_scalar("select count(*) from health_services where demo and enabled")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(enabled, 0, "the start without --demo disabled them");
    let disabled_by = audit_actions(&pool, "service.update").await;
    assert_eq!(disabled_by.len(), 3);
    assert!(disabled_by.iter().all(|row| row.actor_label == "system"), "{disabled_by:?}");

    // Even enabled by hand they are never probed without the flag.
    sqlx::query("update health_services set enabled = true where demo").execute(&pool).await.expect("enable");
    assert_eq!(pass(&scheduler(&pool, false)).await, 0);
    assert_eq!(pass(&scheduler(&pool, true)).await, 3, "a --demo portal probes them");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_second_demo_run_points_the_same_demo_services_at_its_new_ports(pool: PgPool) {
    let (first, _stop_first) = demo_app(&pool).await;
    let (second, _stop_second) = demo_app(&pool).await;
    assert_eq!(demo_service_count(&pool).await, 3, "reused, not duplicated");
    let api = state_of(&pool, "demo-twisterlab-api").await;
    let now_at =
        second.state.demo.as_ref().expect("demo").find("demo-twisterlab-api").expect("sim").health_url();
    let before =
        first.state.demo.as_ref().expect("demo").find("demo-twisterlab-api").expect("sim").health_url();
    assert_eq!(api.url, now_at);
    assert_ne!(api.url, before);
    assert!(api.enabled && api.demo);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_demo_never_takes_over_a_real_service_of_the_same_name(pool: PgPool) {
    crate::testing::builders::service("demo-twisterlab-api").create(&pool).await;
    let (_stop, stopped) = watch::channel(false);
    let simulated = Simulated::start(stopped).await.expect("simulated services start");
    let refused = service::point_services(&pool, &simulated).await.expect_err("the name is taken");
    assert!(refused.to_string().contains("is not demo data"), "{refused}");
    assert_eq!(demo_service_count(&pool).await, 0, "nothing written");
}
