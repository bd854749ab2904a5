//! Key metrics through a real Prometheus (Debian package `prometheus`) scraping a demo target
//! every second, and through servers that are not Prometheus at all.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use sqlx::PgPool;

use super::{Demo, serve};
use twisterlab_domain::health::{Direction, MetricState, Unit};

use crate::db::health_snapshots::{self, SnapshotKind};
use crate::overview::jobs::KeyMetricsJob;
use crate::overview::key_metrics::{self, KeyMetricSpec, MetricsSnapshot, Prometheus, Reading};
use crate::testing::close;

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A Prometheus server on a free 127.0.0.1 port with its own storage, killed when dropped.
struct PrometheusServer {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` every second; waits until a rate query has data.
    async fn start(target: std::net::SocketAddr) -> Self {
        let binary = Path::new(PROMETHEUS);
        assert!(
            binary.exists(),
            "{PROMETHEUS} is missing: install Prometheus with `apt-get install prometheus` (Debian package \
             `prometheus`) so the key-metrics tests can run against a real server"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: demo\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            listener.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        let server = PrometheusServer { child, base: format!("http://127.0.0.1:{port}"), _dir: dir };
        let client = Prometheus::new(&server.base).expect("client");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(samples) = client.query("sum(rate(http_requests_total[5m]))").await
                && samples.iter().any(|v| v.is_finite())
            {
                break;
            }
            assert!(Instant::now() < deadline, "Prometheus at {} has no data after 90 s", server.base);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        server
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn find<'a>(snapshot: &'a MetricsSnapshot, name: &str) -> &'a Reading {
    snapshot.readings.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no {name} in {snapshot:?}"))
}

/// Whether two snapshots read the same, values compared with a tolerance: a reading stored as
/// JSON and read back may differ from the one computed in its last bits (`0.2124999999999999`
/// against `0.21249999999999994`).
fn same_snapshot(a: &MetricsSnapshot, b: &MetricsSnapshot) -> bool {
    let same_value = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => close(x, y),
        (None, None) => true,
        _ => false,
    };
    a.configured == b.configured
        && a.prometheus_url == b.prometheus_url
        && a.readings.len() == b.readings.len()
        && a.readings.iter().zip(&b.readings).all(|(x, y)| {
            x.name == y.name
                && x.label == y.label
                && x.query == y.query
                && same_value(x.value, y.value)
                && close(x.threshold, y.threshold)
                && x.direction == y.direction
                && x.unit == y.unit
                && x.state == y.state
                && x.reason == y.reason
        })
}

fn job(pool: &PgPool, prometheus: Option<Prometheus>, specs: Vec<KeyMetricSpec>) -> KeyMetricsJob {
    KeyMetricsJob {
        pool: pool.clone(),
        prometheus,
        specs,
        min_age: Duration::ZERO,
        zone: jiff::tz::TimeZone::UTC,
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn key_metrics_come_from_a_real_prometheus_and_cross_their_thresholds(pool: PgPool) {
    let demo = Demo::start(Duration::from_millis(100)).await;
    let server = PrometheusServer::start(demo.addr).await;
    let mut specs = key_metrics::defaults();
    specs.push(KeyMetricSpec {
        name: "broken".into(),
        label: "Broken query".into(),
        query: "rate(http_requests_total[5m".into(),
        threshold: 1.0,
        direction: Direction::Below,
        unit: Unit::Number,
        for_seconds: 0,
        open_incident: None,
    });
    specs.push(KeyMetricSpec {
        name: "absent".into(),
        label: "Absent series".into(),
        query: "no_such_metric_anywhere".into(),
        threshold: 1.0,
        direction: Direction::Below,
        unit: Unit::Number,
        for_seconds: 0,
        open_incident: None,
    });
    let job = job(&pool, Some(Prometheus::new(&server.base).expect("client")), specs);

    let healthy = job.run_once().await.expect("stored").expect("refreshed");
    for name in
        ["api_latency_p95", "api_latency_p99", "error_rate", "agent_success_rate", "db_connections", "memory"]
    {
        let r = find(&healthy, name);
        assert_eq!(r.state, MetricState::Ok, "{name} in healthy mode: {r:?}");
        assert!(r.value.is_some_and(f64::is_finite), "{r:?}");
    }
    let p95 = find(&healthy, "api_latency_p95");
    assert!(p95.value_text().ends_with(" ms") && p95.threshold_text() == "< 500 ms", "{p95:?}");
    let broken = find(&healthy, "broken");
    assert_eq!(broken.state, MetricState::Unknown);
    assert!(
        broken.reason.as_deref().is_some_and(|r| r.starts_with("Prometheus refused the query (bad_data)")),
        "{broken:?}"
    );
    let absent = find(&healthy, "absent");
    assert_eq!(absent.state, MetricState::Unknown);
    assert!(absent.reason.as_deref().is_some_and(|r| r.contains("no data")), "{absent:?}");

    // The page reads what the job stored.
    let (stored, _) = health_snapshots::load::<MetricsSnapshot>(&pool, SnapshotKind::KeyMetrics)
        .await
        .expect("load")
        .expect("a snapshot");
    assert!(same_snapshot(&stored, &healthy), "stored {stored:?}\ntaken {healthy:?}");

    demo.mode("down").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let down = loop {
        let snapshot = job.run_once().await.expect("stored").expect("refreshed");
        let breached = |n: &str| find(&snapshot, n).state == MetricState::Breach;
        if breached("error_rate")
            && breached("memory")
            && breached("db_connections")
            && breached("agent_success_rate")
        {
            break snapshot;
        }
        assert!(Instant::now() < deadline, "no breach 60 s after the demo went down: {snapshot:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(find(&down, "memory").value.is_some_and(|v| v > 0.8));
    drop(server);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn prometheus_unreachable_or_not_prometheus_is_unknown_never_ok(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closed = listener.local_addr().expect("addr");
    drop(listener);
    let unreachable = job(
        &pool,
        Some(Prometheus::new(&format!("http://{closed}")).expect("client")),
        key_metrics::defaults(),
    )
    .run_once()
    .await
    .expect("stored")
    .expect("refreshed");
    for r in &unreachable.readings {
        assert_eq!(r.state, MetricState::Unknown, "{r:?}");
        assert!(r.reason.as_deref().is_some_and(|x| x.starts_with("Prometheus is unreachable")), "{r:?}");
    }

    let garbage = serve(Router::new().route(
        "/api/v1/query",
        get(|| async { ([("content-type", "text/html")], "<html>SSO login</html>") }),
    ))
    .await;
    let snapshot = job(
        &pool,
        Some(Prometheus::new(&format!("http://{garbage}")).expect("client")),
        key_metrics::defaults(),
    )
    .run_once()
    .await
    .expect("stored")
    .expect("refreshed");
    assert!(
        snapshot.readings.iter().all(|r| r.state == MetricState::Unknown
            && r.reason.as_deref().is_some_and(|x| x.contains("not Prometheus's JSON API"))),
        "{snapshot:?}"
    );

    let hanging = serve(Router::new().route("/api/v1/query", get(std::future::pending::<String>))).await;
    let started = Instant::now();
    let snapshot = job(
        &pool,
        Some(Prometheus::new(&format!("http://{hanging}")).expect("client")),
        key_metrics::defaults(),
    )
    .run_once()
    .await
    .expect("stored")
    .expect("refreshed");
    assert!(
        started.elapsed() < key_metrics::QUERY_TIMEOUT + Duration::from_secs(5),
        "queries run concurrently"
    );
    assert!(
        snapshot.readings.iter().all(|r| r.state == MetricState::Unknown
            && r.reason.as_deref().is_some_and(|x| x.contains("did not answer"))),
        "{snapshot:?}"
    );

    let none =
        job(&pool, None, key_metrics::defaults()).run_once().await.expect("stored").expect("refreshed");
    assert!(!none.configured);
    assert!(none.readings.iter().all(|r| r.state == MetricState::Unknown));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_fresh_snapshot_is_not_refreshed_again_by_another_process(pool: PgPool) {
    let mut first = job(&pool, None, key_metrics::defaults());
    first.min_age = Duration::from_secs(60);
    assert!(first.run_once().await.expect("stored").is_some(), "the first snapshot is taken");
    assert!(first.run_once().await.expect("stored").is_none(), "a fresh snapshot is left alone");
}

async fn metric_incidents(pool: &PgPool) -> Vec<(uuid::Uuid, String, bool)> {
    sqlx::query_as(
        "select id, title, private from incidents where 'key-metric' = any(labels) order by number",
    )
    .fetch_all(pool)
    .await
    .expect("incidents")
}

async fn metric_events(pool: &PgPool, incident: uuid::Uuid) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "select data from timeline_events where incident_id = $1 and kind = 'health_signal' order by at, id",
    )
    .bind(incident)
    .fetch_all(pool)
    .await
    .expect("events")
}

async fn signal_row(pool: &PgPool, metric: &str) -> crate::db::metric_signals::SignalRow {
    crate::db::metric_signals::signals(pool)
        .await
        .expect("signals")
        .into_iter()
        .find(|s| s.metric == metric)
        .unwrap_or_else(|| panic!("no signal for {metric}"))
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_breach_held_for_its_duration_opens_one_incident_and_recovery_clears_it(pool: PgPool) {
    let demo = Demo::start(Duration::from_millis(100)).await;
    let server = PrometheusServer::start(demo.addr).await;
    let memory = KeyMetricSpec {
        for_seconds: 2,
        open_incident: Some(twisterlab_domain::severity::Severity::P2),
        ..key_metrics::defaults().into_iter().find(|s| s.name == "memory").expect("memory metric")
    };
    let job = job(&pool, Some(Prometheus::new(&server.base).expect("client")), vec![memory]);
    job.run_once().await.expect("stored").expect("refreshed");
    assert_eq!(signal_row(&pool, "memory").await.last_state, MetricState::Ok);

    demo.mode("down").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_breach: Option<Instant> = None;
    loop {
        let snapshot = job.run_once().await.expect("stored").expect("refreshed");
        if find(&snapshot, "memory").state == MetricState::Breach {
            let first = *first_breach.get_or_insert_with(Instant::now);
            let incidents = metric_incidents(&pool).await;
            if !incidents.is_empty() {
                assert!(first.elapsed() >= Duration::from_secs(2), "fired before its 2 s \"for\" duration");
                break;
            }
        }
        assert!(Instant::now() < deadline, "no incident 60 s after the demo went down");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let incidents = metric_incidents(&pool).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let (incident, title, private) = incidents[0].clone();
    assert_eq!(title, "Memory (share of limit) is over its threshold");
    assert!(private);
    let events = metric_events(&pool, incident).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["state"], "firing");
    assert!(events[0]["reading"]["value"].as_f64().is_some_and(|v| v > 0.8), "{events:?}");
    assert!(signal_row(&pool, "memory").await.signal.firing);

    // Still over its threshold: nothing new.
    for _ in 0..3 {
        job.run_once().await.expect("stored");
    }
    assert_eq!(metric_incidents(&pool).await.len(), 1);
    assert_eq!(metric_events(&pool, incident).await.len(), 1);

    // Prometheus unreachable: unknown, neither cleared nor fired again.
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        KeyMetricsJob {
            prometheus: Some(Prometheus::new(&format!("http://{addr}")).expect("client")),
            ..self::job(&pool, None, job.specs.clone())
        }
    };
    unreachable.run_once().await.expect("stored");
    let row = signal_row(&pool, "memory").await;
    assert_eq!(row.last_state, MetricState::Unknown);
    assert!(row.signal.firing, "unknown is not a recovery");
    assert_eq!(twisterlab_domain::health::signal_label(row.signal, row.last_state), "unknown");
    assert_eq!(metric_events(&pool, incident).await.len(), 1);

    demo.mode("healthy").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        job.run_once().await.expect("stored");
        if !signal_row(&pool, "memory").await.signal.firing {
            break;
        }
        assert!(Instant::now() < deadline, "not cleared 60 s after the demo recovered");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let events = metric_events(&pool, incident).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["state"], "ok");
    assert_eq!(metric_incidents(&pool).await.len(), 1, "recovery declares nothing");
    // Every read is kept for the charts, the unknown one as a gap.
    let readings = crate::db::metric_signals::readings(
        &pool,
        "memory",
        jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1),
    )
    .await
    .expect("readings");
    assert!(readings.len() >= 6, "{readings:?}");
    assert!(readings.iter().any(|r| r.value.is_none()));
    drop(server);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn readings_older_than_30_days_are_pruned(pool: PgPool) {
    for days in [0, 29, 31, 60] {
        sqlx::query("insert into metric_readings (metric, read_at, value, threshold, state) values ('memory', now() - make_interval(days => $1), 0.5, 0.8, 'ok')")
            .bind(days)
            .execute(&pool)
            .await
            .expect("insert");
    }
    let pruned =
        crate::overview::jobs::ReadingPruneJob { pool: pool.clone() }.run_once().await.expect("prune");
    assert_eq!(pruned, 2);
    let left: i64 =
        sqlx::query_scalar("select count(*) from metric_readings").fetch_one(&pool).await.expect("count");
    assert_eq!(left, 2);
}
