//! `serve --demo` with the real binary: the simulated services come up inside the portal, the
//! demo services probe them, and breaking one from the admins' panel declares an incident.

use std::time::{Duration, Instant};

use crate::support::{Portal, connect, fresh_database, hidden_value, signed_in};

/// Polls `query` (one text column, one row or none) until it returns `wanted`, for at most 30 s.
async fn wait_for(portal: &Portal, query: &'static str, wanted: &str, what: &str) {
    let mut db = connect(&portal.database_url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: Option<String> = sqlx::query_scalar(query).fetch_optional(&mut db).await.expect("query");
        if found.as_deref() == Some(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {found:?} after 30 s; portal logs:\n{}",
            portal.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const API_STATE: &str =
    "select st.state from health_service_state st join health_services s on s.id = st.service_id
                          where s.name = 'demo-twisterlab-api' and s.demo and s.enabled";
const API_INCIDENT: &str =
    "select severity from incidents where title like 'demo-twisterlab-api is down%' order by number limit 1";

#[tokio::test]
async fn the_demo_flag_brings_up_simulated_services_and_breaking_one_declares_an_incident() {
    let url = fresh_database().await;
    let portal = Portal::start_serving(&url, &["--demo"], &[("TWISTERLAB_KUBE_ENABLED", "false")]).await;
    assert!(portal.logs().contains("demo mode"), "the log says it runs in demo mode: {}", portal.logs());
    let admin = signed_in(&portal, "admin").await;

    // The demo services probe the simulated ones (every 5 s) and find them healthy.
    wait_for(&portal, API_STATE, "up", "demo-twisterlab-api probed healthy").await;
    let panel = admin.get(portal.url("/admin/demo")).send().await.expect("GET /admin/demo");
    assert_eq!(panel.status(), 200);
    let html = panel.text().await.expect("body");
    assert!(html.contains("Demo data.") && html.contains("demo-twisterlab-api"), "{html}");

    let answer = admin
        .post(portal.url("/admin/demo/demo-twisterlab-api/mode"))
        .header("origin", &portal.base)
        .form(&[("mode", "down"), ("csrf_token", hidden_value(&html, "csrf_token").as_str())])
        .send()
        .await
        .expect("POST mode");
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap_or_default());

    // Two failed checks 5 s apart: down, and its P1 declared.
    wait_for(&portal, API_INCIDENT, "P1", "an incident for the broken demo service").await;
    let overview = admin.get(portal.url("/")).send().await.expect("GET /").text().await.expect("body");
    assert!(overview.contains("demo-twisterlab-api is down"), "{overview}");
}

#[tokio::test]
async fn without_the_demo_flag_there_is_no_panel_and_no_demo_service() {
    let url = fresh_database().await;
    let portal = Portal::start_with(&url, &[("TWISTERLAB_KUBE_ENABLED", "false")]).await;
    let admin = signed_in(&portal, "admin").await;
    let panel = admin.get(portal.url("/admin/demo")).send().await.expect("GET /admin/demo");
    assert_eq!(panel.status(), 404);
    let mut db = connect(&portal.database_url).await;
    let demo: i64 = sqlx::query_scalar("select count(*) from health_services where demo")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(demo, 0);
}
