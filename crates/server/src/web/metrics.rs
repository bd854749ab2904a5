//! Prometheus metrics: request durations labelled by route template and status, pool gauges.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets in seconds: fine below 100 ms, where a healthy portal lives.
const DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Label for requests that matched no route, so scanners cannot explode the label set.
const UNMATCHED: &str = "unmatched";

/// The process-wide recorder, installed on first use (tests build many apps in one process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    DURATION_BUCKETS,
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be incomplete");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template, method and status code."
    );
    metrics::describe_gauge!(
        "db_pool_connections_in_use",
        "Database connections lent to requests or workers."
    );
    metrics::describe_gauge!("db_pool_connections_idle", "Open database connections waiting in the pool.");
    metrics::describe_gauge!(
        "db_pool_connections_max",
        "Largest number of database connections the pool may open."
    );
}

/// Records every request's duration under its route template (never the raw path).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Sets the pool gauges; called right before each scrape so they are current.
pub fn record_pool(pool: &sqlx::PgPool, max: u32) {
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections_in_use").set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_connections_idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections_max").set(f64::from(max));
}
