//! The health overview with the real binaries: a `demo-target` process probed by a portal whose
//! configuration file defines the service, from healthy to down (incident declared) and back.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BINARY, Portal, client, connect, fresh_database, signed_in};

/// A `twisterlab-portal demo-target` process on a free 127.0.0.1 port.
struct DemoTarget {
    child: Child,
    base: String,
}

impl DemoTarget {
    async fn start() -> DemoTarget {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new(BINARY)
            .args(["demo-target", "--bind", &format!("127.0.0.1:{port}")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo target");
        let target = DemoTarget { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while client().get(format!("{}/mode", target.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "the demo target did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        target
    }

    async fn mode(&self, mode: &str) {
        let answer = client()
            .post(format!("{}/mode", self.base))
            .body(mode.to_owned())
            .send()
            .await
            .expect("POST /mode");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `query` (one text column, one row or none) until it returns `wanted`.
async fn wait_for(portal: &Portal, query: &'static str, wanted: &str, what: &str) {
    let mut db = connect(&portal.database_url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found: Option<String> = sqlx::query_scalar(query).fetch_optional(&mut db).await.expect("query");
        if found.as_deref() == Some(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {found:?} after 60 s; portal logs:\n{}",
            portal.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const STATE: &str = "select st.state from health_service_state st join health_services s on s.id = st.service_id where s.name = 'demo-api'";
const INCIDENT: &str =
    "select status from incidents where title like 'demo-api is down%' order by number limit 1";

#[tokio::test]
async fn the_overview_follows_a_service_from_healthy_to_down_with_its_incident_and_back() {
    let demo = DemoTarget::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("portal.toml");
    std::fs::write(
        &file,
        format!(
            "[[services]]\nname = \"demo-api\"\nurl = \"{}/health\"\ninterval_seconds = 5\ntimeout_ms = 1000\n\
             failures_before_down = 2\ncomponent = \"API\"\nimpact = \"partial_outage\"\nopen_incident = \"P2\"\n\
             public_incidents = true\n\
             expect = {{ \"/status\" = \"healthy\", \"/database\" = \"connected\" }}\n",
            demo.base
        ),
    )
    .expect("write the configuration file");
    let config = file.to_string_lossy().into_owned();
    let url = fresh_database().await;
    let portal =
        Portal::start_with(&url, &[("TWISTERLAB_CONFIG", &config), ("TWISTERLAB_KUBE_ENABLED", "false")])
            .await;
    let viewer = signed_in(&portal, "viewer").await;

    wait_for(&portal, STATE, "up", "demo-api healthy").await;
    let html = viewer.get(portal.url("/")).send().await.expect("GET /").text().await.expect("body");
    assert!(html.contains(r#"href="/health/services/demo-api""#), "{html}");
    assert!(html.contains("<polyline points="), "the sparkline: {html}");
    assert!(html.contains("No Prometheus is configured"), "{html}");
    assert!(html.contains("System Overview"), "Grafana links: {html}");

    demo.mode("down").await;
    wait_for(&portal, INCIDENT, "triggered", "an incident for demo-api").await;
    let html = viewer.get(portal.url("/")).send().await.expect("GET /").text().await.expect("body");
    assert!(html.contains("Outage: demo-api down"), "{html}");
    assert!(html.contains("HTTP 503 Service Unavailable"), "the reason: {html}");
    assert!(html.contains("INC-") && html.contains("demo-api is down"), "the open incident: {html}");
    let page = viewer.get(portal.url("/health/services/demo-api")).send().await.expect("GET service");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("body");
    assert!(html.contains("declares a P2 incident when down") && html.contains("HTTP 503"), "{html}");

    // The panel waits on no cluster: it says it is off.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let html = viewer.get(portal.url("/")).send().await.expect("GET /").text().await.expect("body");
        if html.contains("the Kubernetes panel is turned off") {
            break;
        }
        assert!(Instant::now() < deadline, "no Kubernetes snapshot after 30 s: {html}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let admin = signed_in(&portal, "admin").await;
    let html =
        admin.get(portal.url("/admin/services")).send().await.expect("GET admin").text().await.expect("body");
    assert!(html.contains("demo-api") && html.contains("managed by the configuration file"), "{html}");

    demo.mode("healthy").await;
    wait_for(&portal, STATE, "up", "demo-api recovered").await;
    let mut db = connect(&portal.database_url).await;
    let signals: i64 = sqlx::query_scalar(
        "select count(*) from timeline_events e join incidents i on i.id = e.incident_id
          where i.title like 'demo-api is down%' and e.kind = 'health_signal'",
    )
    .fetch_one(&mut db)
    .await
    .expect("count signals");
    assert_eq!(signals, 2, "down, then recovered");
    let incidents: i64 =
        sqlx::query_scalar("select count(*) from incidents where title like 'demo-api is down%'")
            .fetch_one(&mut db)
            .await
            .expect("count incidents");
    assert_eq!(incidents, 1);
    wait_for(&portal, INCIDENT, "triggered", "the incident stays open after recovery").await;
}
