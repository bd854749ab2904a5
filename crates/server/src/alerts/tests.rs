//! The Alertmanager receiver: through the app with API tokens (idempotency, grouping, mappings,
//! resolved → monitoring or resolve, bad input), and end to end with a real Alertmanager
//! (Debian package `prometheus-alertmanager`) started by the test and fed through its own API.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::config::{Config, Sources};
use crate::testing::{self, TestApp, send};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_sources(&Sources::from_pairs(pairs.iter().copied(), toml::Table::new()))
        .expect("valid config")
}

fn alert(status: &str, fingerprint: &str, labels: Value, summary: &str) -> Value {
    json!({
        "status": status, "labels": labels,
        "annotations": {"summary": summary, "description": "p95 above 500 ms"},
        "startsAt": "2026-06-01T10:00:00Z",
        "endsAt": if status == "resolved" { "2026-06-01T10:30:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": fingerprint
    })
}

fn payload(alerts: Vec<Value>) -> Value {
    json!({"version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0, "status": "firing",
           "receiver": "twisterlab-portal", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
           "externalURL": "http://alertmanager:9093", "alerts": alerts})
}

async fn deliver(app: &axum::Router, token: &str, body: &Value) -> (StatusCode, Value) {
    let (response, text) =
        send(app, testing::api_request(Method::POST, "/api/v1/alertmanager", Some(token), Some(body))).await;
    let status = response.status();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn incidents(pool: &PgPool) -> Vec<(i64, String, String, String, bool)> {
    sqlx::query_as(
        "select number, title, severity, status, private from incidents where 'alertmanager' = any(labels) order by number",
    )
    .fetch_all(pool)
    .await
    .expect("incidents")
}

async fn signal_events(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "select count(*) from timeline_events where kind = 'health_signal' and actor_label = 'Alertmanager'",
    )
    .fetch_one(pool)
    .await
    .expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn firing_alerts_open_one_incident_per_group_repeats_change_nothing_and_resolved_moves_to_monitoring(
    pool: PgPool,
) {
    let test_app =
        TestApp::with_config(&pool, config(&[("TWISTERLAB_ALERTMANAGER_COMPONENTS", "twisterlab-api=API")]));
    let app = test_app.router.clone();
    let responder = testing::user(&pool, Role::Responder).await;
    let token = testing::api_token(&pool, &responder, "alertmanager").await;
    let api =
        json!({"alertname": "HighLatency", "service": "twisterlab-api", "severity": "critical", "pod": "a"});
    let api_b =
        json!({"alertname": "HighLatency", "service": "twisterlab-api", "severity": "critical", "pod": "b"});
    let db = json!({"alertname": "HighLatency", "service": "postgres", "severity": "strange"});
    let first = payload(vec![
        alert("firing", "aaaa000000000001", api.clone(), "API p95 latency above 500 ms"),
        alert("firing", "aaaa000000000002", api_b.clone(), "API p95 latency above 500 ms"),
        alert("firing", "aaaa000000000003", db.clone(), "Database latency high"),
    ]);
    let (status, outcome) = deliver(&app, &token, &first).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["declared"].as_array().map(Vec::len), Some(2), "{outcome}");
    let listed = incidents(&pool).await;
    assert_eq!(listed.len(), 2, "one incident per alertname + service: {listed:?}");
    let (api_number, title, severity, state, private) = listed[0].clone();
    assert_eq!(
        (title.as_str(), severity.as_str(), state.as_str(), private),
        ("API p95 latency above 500 ms", "P1", "triggered", true)
    );
    assert_eq!(listed[1].2, "P3", "an unknown severity label is P3");
    let affected = crate::db::incidents::components(
        &pool,
        sqlx::query_scalar("select id from incidents where number = $1")
            .bind(api_number)
            .fetch_one(&pool)
            .await
            .expect("id"),
    )
    .await
    .expect("components");
    assert_eq!(affected.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["API"], "the service mapping");
    let events = signal_events(&pool).await;
    assert_eq!(events, 3);

    // Alertmanager repeats and retries: nothing new.
    for _ in 0..2 {
        let (status, outcome) = deliver(&app, &token, &first).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(outcome["unchanged"], 3, "{outcome}");
    }
    assert_eq!(incidents(&pool).await.len(), 2);
    assert_eq!(signal_events(&pool).await, events);

    // The overview lists the firing alerts beside probes and key metrics, with their source.
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, overview) = send(&app, testing::get("/", Some(&viewer))).await;
    let signals = overview
        .split("id=\"signals-title\"")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or("");
    assert!(signals.contains("<td>Alertmanager</td>") && signals.contains("INC-"), "{signals}");

    // One of the two API alerts ends: the incident stays; both ended: monitoring.
    let (_, outcome) =
        deliver(&app, &token, &payload(vec![alert("resolved", "aaaa000000000001", api.clone(), "x")])).await;
    assert_eq!(outcome["resolved"], 1, "{outcome}");
    assert_eq!(incidents(&pool).await[0].3, "triggered");
    deliver(&app, &token, &payload(vec![alert("resolved", "aaaa000000000002", api_b, "x")])).await;
    assert_eq!(incidents(&pool).await[0].3, "monitoring");
    assert_eq!(incidents(&pool).await[1].3, "triggered", "the other group still fires");

    // Payloads are kept as received, and the admin page lists them.
    let stored: Vec<String> = sqlx::query_scalar("select body from alertmanager_deliveries order by id")
        .fetch_all(&pool)
        .await
        .expect("bodies");
    assert_eq!(stored.len(), 5);
    assert_eq!(serde_json::from_str::<Value>(&stored[0]).expect("json"), first);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (response, page) = send(&app, testing::get("/admin/signals", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        page.contains("credentials: &#60;API token of a responder") && page.contains("type: Bearer"),
        "{page}"
    );
    assert!(page.contains("critical") && page.contains("P1"));
    assert!(page.contains("declared INC-"), "{page}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn with_resolve_configured_an_incident_whose_alerts_all_ended_is_resolved(pool: PgPool) {
    let app =
        TestApp::with_config(&pool, config(&[("TWISTERLAB_ALERTMANAGER_ON_RESOLVED", "resolve")])).router;
    let responder = testing::user(&pool, Role::Responder).await;
    let token = testing::api_token(&pool, &responder, "am").await;
    let labels = json!({"alertname": "DiskFull", "service": "postgres"});
    deliver(&app, &token, &payload(vec![alert("firing", "bbbb1", labels.clone(), "Disk full")])).await;
    deliver(&app, &token, &payload(vec![alert("resolved", "bbbb1", labels, "Disk full")])).await;
    assert_eq!(incidents(&pool).await[0].3, "resolved");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn malformed_deliveries_are_refused_with_problem_json_and_create_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let responder = testing::user(&pool, Role::Responder).await;
    let token = testing::api_token(&pool, &responder, "am").await;
    let viewer = testing::user(&pool, Role::Viewer).await;
    let viewer_token = testing::api_token(&pool, &viewer, "am").await;
    let raw = |body: Vec<u8>, content_type: &str, token: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/alertmanager")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let many: Vec<Value> = (0..10_000).map(|i| alert("firing", &format!("f{i}"), json!({}), "x")).collect();
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode)> = vec![
        (
            "malformed JSON",
            b"{\"version\": \"4\", \"alerts\": [".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "version 3",
            serde_json::to_vec(&json!({"version": "3", "alerts": []})).expect("json"),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "no alerts",
            serde_json::to_vec(&json!({"version": "4"})).expect("json"),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "alerts not a list",
            serde_json::to_vec(&json!({"version": "4", "alerts": {}})).expect("json"),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "a bad alert among good ones",
            serde_json::to_vec(&payload(vec![
                alert("firing", "cccc1", json!({"alertname": "A"}), "fine"),
                alert("exploding", "cccc2", json!({"alertname": "B"}), "bad"),
            ]))
            .expect("json"),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "10,000 alerts",
            serde_json::to_vec(&payload(many)).expect("json"),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        ("10 MB", vec![b' '; 10 * 1024 * 1024], "application/json", StatusCode::PAYLOAD_TOO_LARGE),
        (
            "form content type",
            serde_json::to_vec(&payload(vec![])).expect("json"),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (what, body, content_type, expected) in cases {
        let (response, text) = send(&app, raw(body, content_type, &token)).await;
        assert_eq!(response.status(), expected, "{what}: {text:.300}");
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{what}"
        );
    }
    assert!(incidents(&pool).await.is_empty(), "nothing half-created");
    let (response, _) = send(
        &app,
        raw(serde_json::to_vec(&payload(vec![])).expect("json"), "application/json", &viewer_token),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "viewers cannot declare");
    let rejected: i64 =
        sqlx::query_scalar("select count(*) from alertmanager_deliveries where outcome = 'rejected'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(
        rejected, 6,
        "refused deliveries the handler saw are listed (oversized bodies never reach it)"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn html_and_slack_mentions_in_labels_are_escaped_everywhere(pool: PgPool) {
    let app = testing::app(&pool);
    let responder = testing::user(&pool, Role::Responder).await;
    let token = testing::api_token(&pool, &responder, "am").await;
    let evil =
        json!({"alertname": "<script>alert(1)</script>", "service": "<!channel>", "team": "<b>ops</b>"});
    let (status, outcome) = deliver(
        &app,
        &token,
        &payload(vec![alert("firing", "dddd1", evil, "<!channel> <img src=x onerror=alert(1)>")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let number = outcome["declared"][0].as_i64().expect("declared");
    let commander = testing::signed_in(&pool, Role::Commander).await;
    for path in [format!("/incidents/{number}"), "/incidents".to_owned()] {
        let (_, page) = send(&app, testing::get(&path, Some(&commander))).await;
        for raw in ["<script>alert(1)", "<img src=x", "<!channel>", "<b>ops</b>"] {
            assert!(!page.contains(raw), "{path} shows {raw} unescaped");
        }
        assert!(page.contains("&#60;!channel&#62;"), "{path} shows it escaped");
    }
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (_, page) = send(&app, testing::get("/admin/signals", Some(&admin))).await;
    assert!(!page.contains("<script>alert(1)") && !page.contains("<!channel>"), "{page}");
    let title: String = sqlx::query_scalar("select title from incidents where number = $1")
        .bind(number)
        .fetch_one(&pool)
        .await
        .expect("title");
    let slack = crate::escalation::render::slack_escape(&title);
    assert!(!slack.contains("<!channel>") && slack.contains("&lt;!channel&gt;"), "{slack}");
}

/// An Alertmanager on a free 127.0.0.1 port sending to `webhook` with `token`, killed when dropped.
struct AlertmanagerServer {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl AlertmanagerServer {
    async fn start(webhook: &str, token: &str) -> Self {
        let binary = Path::new(ALERTMANAGER);
        assert!(
            binary.exists(),
            "{ALERTMANAGER} is missing: install it with `apt-get install prometheus-alertmanager` (Debian package \
             `prometheus-alertmanager`) so the receiver's end-to-end test can run"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: portal\n  group_by: [alertname, service]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1s\n\
                 receivers:\n  - name: portal\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n        http_config:\n          authorization:\n            type: Bearer\n            credentials: {token}\n"
            ),
        )
        .expect("write alertmanager.yml");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start alertmanager");
        let server = Self { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        while !http
            .get(format!("{}/-/ready", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "Alertmanager at {} not ready after 60 s", server.base);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    async fn post(&self, alerts: &Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.base))
            .json(alerts)
            .send()
            .await
            .expect("POST /api/v2/alerts");
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

impl Drop for AlertmanagerServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn poll<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn processed(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from alertmanager_deliveries where outcome = 'processed'")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_real_alertmanager_declares_one_incident_repeats_nothing_and_resolved_moves_it_to_monitoring(
    pool: PgPool,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = crate::overview::tests::serve(testing::app(&pool)).await;
    let responder = testing::user(&pool, Role::Responder).await;
    let token = testing::api_token(&pool, &responder, "alertmanager").await;
    let am = AlertmanagerServer::start(&format!("http://{addr}/api/v1/alertmanager"), &token).await;
    let labels = json!({"alertname": "HighErrorRate", "service": "twisterlab-api", "severity": "critical"});
    let starts = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    let firing = json!([{"labels": labels, "annotations": {"summary": "API error rate above 1 %"},
                         "startsAt": crate::clock::iso(starts), "generatorURL": "http://prometheus:9090/graph"}]);
    am.post(&firing).await;
    poll("an incident from Alertmanager", || async { incidents(&pool).await.len() == 1 }).await;
    let listed = incidents(&pool).await;
    assert_eq!((listed[0].1.as_str(), listed[0].2.as_str()), ("API error rate above 1 %", "P1"));

    // Alertmanager notifies again (repeat_interval 1 s, and the alert posted again): nothing new.
    let before = processed(&pool).await;
    am.post(&firing).await;
    poll("a repeated notification", || async { processed(&pool).await >= before + 2 }).await;
    assert_eq!(incidents(&pool).await.len(), 1);
    assert_eq!(signal_events(&pool).await, 1);

    let resolved = json!([{"labels": labels, "annotations": {"summary": "API error rate above 1 %"},
                           "startsAt": crate::clock::iso(starts), "endsAt": crate::clock::iso(jiff::Timestamp::now()),
                           "generatorURL": "http://prometheus:9090/graph"}]);
    am.post(&resolved).await;
    poll("the incident in monitoring", || async { incidents(&pool).await[0].3 == "monitoring" }).await;
    assert_eq!(incidents(&pool).await.len(), 1);
    drop(am);
}
