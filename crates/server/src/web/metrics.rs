//! Prometheus metrics: request durations labelled by route template, method and status, pool
//! gauges.
//!
//! Memory stays flat: the request durations are counted straight into fixed buckets by
//! [`HttpMetrics`] (owned by `AppState`; no sample is kept between scrapes), every label comes
//! from a closed set (route templates, [`method_label`], status codes), and the exporter's own
//! upkeep runs on a timer ([`UpkeepJob`]) whether or not anything scrapes `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::workers::{BoxFuture, NextPass, Worker};

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
            let recorder = PrometheusBuilder::new().build_recorder();
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

/// The label of `method`: the standard methods a client may send, and `other` for any other
/// token, so a scanner inventing methods cannot add series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One series: a count per bucket (not cumulative), the total and the sum of seconds.
#[derive(Clone, Debug, Default)]
struct Buckets {
    counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request durations by (route template, method label, status code), counted into
/// [`DURATION_BUCKETS`] as they happen: a fixed amount of memory per series, nothing queued
/// for a scrape.
/// One route's series: its buckets per method and status code.
type ByMethodAndStatus = HashMap<(&'static str, u16), Buckets>;

#[derive(Debug, Default)]
pub struct HttpMetrics {
    // Route first, so recording looks a route up by `&str` and allocates only for a route's
    // first request (this runs on every request, the status page's included).
    series: Mutex<HashMap<String, ByMethodAndStatus>>,
}

impl HttpMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request.
    pub fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let Ok(mut series) = self.series.lock() else { return };
        if !series.contains_key(route) {
            series.insert(route.to_owned(), HashMap::new());
        }
        let Some(by_route) = series.get_mut(route) else { return };
        let entry = by_route.entry((method, status)).or_default();
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| seconds <= *le) {
            entry.counts[i] += 1;
        }
        entry.count += 1;
        entry.sum += seconds;
    }

    /// How many series exist.
    pub fn series(&self) -> usize {
        self.series.lock().map(|s| s.values().map(HashMap::len).sum()).unwrap_or(0)
    }

    /// Numbers held in memory: per series its buckets, count and sum. Grows with new series
    /// only, never with the number of requests.
    pub fn values_held(&self) -> usize {
        self.series() * (DURATION_BUCKETS.len() + 2)
    }

    /// The histogram in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP http_request_duration_seconds Time to answer an HTTP request, by route template, method and status code.\n\
             # TYPE http_request_duration_seconds histogram\n",
        );
        let Ok(series) = self.series.lock() else { return out };
        let mut rows: Vec<_> = series
            .iter()
            .flat_map(|(route, by_route)| {
                by_route.iter().map(move |((method, status), b)| ((route, *method, *status), b))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for ((route, method, status), b) in rows {
            let labels = format!("route=\"{}\",method=\"{method}\",status=\"{status}\"", escape_label(route));
            let mut cumulative = 0;
            for (le, n) in DURATION_BUCKETS.iter().zip(b.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", b.count);
            let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {}", b.sum);
            let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {}", b.count);
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Records every request's duration under its route template (never the raw path) and its
/// method's label (never the raw method).
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    // A clone of the matched path is a reference count, not a copy of the text.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(route, method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// How often the exporter's upkeep runs (it folds what was recorded since the last pass, so
/// memory stays flat without a scraper).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The worker that runs the exporter's upkeep.
pub struct UpkeepJob;

impl Worker for UpkeepJob {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async {
            handle().run_upkeep();
            Ok(None)
        })
    }
}

/// Sets the pool gauges; called right before each scrape so they are current.
pub fn record_pool(pool: &sqlx::PgPool, max: u32) {
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections_in_use").set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_connections_idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections_max").set(f64::from(max));
}
