//! A simulated TwisterLab API (`/health`, `/metrics`, `/mode`) for demos and tests of the portal.
//!
//! `twisterlab-portal demo-target --bind 127.0.0.1:9000` serves it, and
//! `curl -d down http://127.0.0.1:9000/mode` changes what it pretends to be:
//!
//! | mode | `GET /health` | simulated traffic in `/metrics` |
//! |---|---|---|
//! | `healthy` | 200, all connected | p95 ≈ 140 ms, 0.2 % errors, 99 % agent success |
//! | `degraded` | 200, `status: degraded`, `redis: disconnected` | p95 ≈ 700 ms, 3 % errors, 92 % agent success, DB pool 75–85 % |
//! | `down` | 503, `status: unhealthy`, `database: disconnected`, `agents: degraded` | 85 % errors (503), 20 % agent success, DB pool exhausted, memory ≈ 90 % |
//! | `slow` | the healthy answer after a delay | latency around the delay |
//! | `garbage` | 200 with an HTML body, not JSON | like `healthy` |
//! | `hang` | no answer until the server shuts down | 95 % timeouts (504) |
//!
//! `slow` waits [`DemoTargetOptions::slow_delay`] unless `POST /mode` names a delay, as a
//! second word (`slow 500ms`, `slow 2s`) or as `?delay_ms=500`. `GET /mode` answers the
//! current mode in the same words.
//!
//! Metrics (Prometheus text format): each scrape first adds the simulated traffic since the
//! previous scrape (20 requests a second, at least 50 per scrape), so rates are never zero;
//! real `GET /health` requests are counted too (`handler="/health"`), `/mode` and `/metrics`
//! are not. The simulation is deterministic (evenly spread latencies, errors at exactly the
//! mode's rate), so tests can rely on it. `demo_target_mode{mode}` is 1 for the current
//! mode. The runbook's key metrics read:
//!
//! - latency: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`
//! - error rate: `sum(rate(http_request_errors_total[5m])) / sum(rate(http_requests_total[5m]))`
//!   (errors are answers with a 5xx status)
//! - agent success: `sum(rate(agent_executions_total{outcome="success"}[5m])) / sum(rate(agent_executions_total[5m]))`
//! - DB connections: `db_connections_in_use / db_connections_max`
//! - memory: `container_memory_usage_bytes / container_memory_limit_bytes`

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How long `slow` mode waits when `POST /mode` names no delay.
const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(3);

/// Simulated API requests per second of wall time between two scrapes.
const SIMULATED_REQUESTS_PER_SECOND: f64 = 20.0;

/// Simulated requests added by every scrape, however close to the previous one.
const MIN_SIMULATED_BATCH: u64 = 50;

/// At most this many simulated requests per scrape (ten minutes of traffic).
const MAX_SIMULATED_BATCH: u64 = 12_000;

/// Version reported by `/health`.
const SIMULATED_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-demo");

/// The names `POST /mode` accepts, for error messages.
const VALID_MODES: &str = "healthy, degraded, down, slow, garbage, hang";

/// Upper bounds of the latency histogram buckets, in seconds (Prometheus' defaults plus 0.75).
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0];

/// The handler label of the real health endpoint.
const HEALTH_HANDLER: &str = "/health";

/// Simulated API endpoints (method, handler), from the runbook's API.
const SIMULATED_ENDPOINTS: [(&str, &str); 4] = [
    ("GET", "/mcp/list_autonomous_agents"),
    ("POST", "/mcp/classify_ticket"),
    ("POST", "/mcp/resolve_ticket"),
    ("POST", "/mcp/monitor_system_health"),
];

/// The TwisterLab agents whose executions are simulated.
const AGENTS: [&str; 7] = [
    "classify_ticket",
    "resolve_ticket",
    "monitor_system_health",
    "create_backup",
    "sync_cache",
    "execute_desktop_command",
    "analyze_sentiment",
];

/// Size of the simulated database connection pool.
const DB_CONNECTIONS_MAX: u64 = 20;

/// Simulated container memory limit: 2 GiB, as in the runbook's deployment.
const MEMORY_LIMIT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Labels of the simulated container's memory series.
const CONTAINER_LABELS: &str =
    r#"namespace="twisterlab",pod="twisterlab-api-demo",container="twisterlab-api""#;

const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Options of the simulated API.
#[derive(Debug, Clone)]
pub struct DemoTargetOptions {
    /// How long `slow` mode waits before answering `/health` when `POST /mode` names no
    /// delay. Default 3 s.
    pub slow_delay: Duration,
}

impl Default for DemoTargetOptions {
    fn default() -> Self {
        Self { slow_delay: DEFAULT_SLOW_DELAY }
    }
}

/// The simulated API's router (state inside), for tests and for `serve`.
pub fn router(options: DemoTargetOptions) -> Router {
    app(DemoState::new(options))
}

/// Binds and serves until `shutdown` resolves; logs the address it listens on.
///
/// When `shutdown` resolves, requests held by `hang` (or waiting in `slow`) are answered
/// 503 at once, so the server returns promptly instead of waiting for them.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: DemoTargetOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    DemoTarget::new(options).serve(listener, shutdown).await
}

/// One simulated API whose mode its owner switches in process (the portal's `--demo` panel)
/// as well as through `POST /mode`. Clones share the mode.
#[derive(Clone)]
pub struct DemoTarget {
    state: DemoState,
}

impl DemoTarget {
    /// A simulated API in `healthy` mode.
    pub fn new(options: DemoTargetOptions) -> Self {
        Self { state: DemoState::new(options) }
    }

    /// The current mode, in the words `POST /mode` accepts (`slow 3000ms`).
    pub fn mode(&self) -> String {
        self.state.mode().to_string()
    }

    /// Switches the mode as `POST /mode` does with `text` as its body; returns the new mode in
    /// the words [`DemoTarget::mode`] uses.
    pub fn set_mode(&self, text: &str) -> Result<String, ModeError> {
        let mode = parse_mode(text, None, self.state.shared.default_slow_delay)?;
        let previous = self.state.replace_mode(mode);
        tracing::info!(
            demo_target.mode = %mode,
            demo_target.previous_mode = %previous,
            "demo target mode changed"
        );
        Ok(mode.to_string())
    }

    /// Serves this target on `listener` until `shutdown` resolves (see [`serve`]).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state;
        let address = listener.local_addr()?;
        tracing::info!(
            demo_target.address = %address,
            demo_target.mode = %state.mode(),
            "demo target listening"
        );
        let releaser = state.clone();
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async move {
                shutdown.await;
                releaser.begin_shutdown();
            })
            .await?;
        tracing::info!(demo_target.address = %address, "demo target stopped");
        Ok(())
    }
}

fn app(state: DemoState) -> Router {
    Router::new()
        .route("/health", get(get_health))
        .route("/mode", get(get_mode).post(change_mode))
        .route("/metrics", get(get_metrics))
        .with_state(state)
}

/// What the simulated API pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy,
    Degraded,
    Down,
    /// Healthy, after this delay.
    Slow(Duration),
    Garbage,
    Hang,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Healthy => "healthy",
            Mode::Degraded => "degraded",
            Mode::Down => "down",
            Mode::Slow(_) => "slow",
            Mode::Garbage => "garbage",
            Mode::Hang => "hang",
        }
    }
}

/// The words `POST /mode` accepts back.
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Slow(delay) => write!(f, "slow {}ms", delay.as_millis()),
            other => f.write_str(other.name()),
        }
    }
}

/// Why a mode was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("no mode given; valid modes: {modes}", modes = VALID_MODES)]
    Missing,
    #[error("unknown mode `{0}`; valid modes: {modes}", modes = VALID_MODES)]
    Unknown(String),
    #[error("cannot read the delay `{0}`; write it as `500ms` or `2s`")]
    BadDelay(String),
    #[error("only the slow mode takes a delay")]
    DelayWithoutSlow,
    #[error("`{0}` has too many words; send a mode name, for slow optionally a delay")]
    TooManyWords(String),
}

/// Reads a `POST /mode` body: a mode name, for `slow` optionally a delay (`slow 500ms`);
/// `delay_ms` from the query string wins over the body's delay. Accepts curl's raw `-d`
/// bodies, `mode=...` forms and `+` for spaces.
fn parse_mode(body: &str, delay_ms: Option<u64>, default_delay: Duration) -> Result<Mode, ModeError> {
    let text = body.trim();
    let text = text.strip_prefix("mode=").unwrap_or(text);
    let mut words = text.split(|c: char| c.is_whitespace() || c == '+').filter(|word| !word.is_empty());
    let name = words.next().ok_or(ModeError::Missing)?;
    let delay_word = words.next();
    if words.next().is_some() {
        return Err(ModeError::TooManyWords(text.to_owned()));
    }
    let delay = match (delay_ms, delay_word) {
        (Some(ms), _) => Some(Duration::from_millis(ms)),
        (None, Some(word)) => Some(parse_delay(word)?),
        (None, None) => None,
    };
    let mode = match name.to_ascii_lowercase().as_str() {
        "healthy" => Mode::Healthy,
        "degraded" => Mode::Degraded,
        "down" => Mode::Down,
        "slow" => return Ok(Mode::Slow(delay.unwrap_or(default_delay))),
        "garbage" => Mode::Garbage,
        "hang" => Mode::Hang,
        _ => return Err(ModeError::Unknown(name.to_owned())),
    };
    match delay {
        Some(_) => Err(ModeError::DelayWithoutSlow),
        None => Ok(mode),
    }
}

/// `500ms`, `2s` or `1.5s`.
fn parse_delay(word: &str) -> Result<Duration, ModeError> {
    let parsed = if let Some(ms) = word.strip_suffix("ms") {
        ms.parse::<u64>().ok().map(Duration::from_millis)
    } else if let Some(seconds) = word.strip_suffix('s') {
        seconds.parse::<f64>().ok().and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
    } else {
        None
    };
    parsed.ok_or_else(|| ModeError::BadDelay(word.to_owned()))
}

#[derive(Clone)]
struct DemoState {
    shared: Arc<Shared>,
}

struct Shared {
    default_slow_delay: Duration,
    started: Instant,
    mode: Mutex<Mode>,
    metrics: Mutex<Metrics>,
    /// Becomes `true` when the server starts shutting down; `hang` and `slow` wait on it.
    shutting_down: watch::Sender<bool>,
}

impl DemoState {
    fn new(options: DemoTargetOptions) -> Self {
        let now = Instant::now();
        let (shutting_down, _) = watch::channel(false);
        Self {
            shared: Arc::new(Shared {
                default_slow_delay: options.slow_delay,
                started: now,
                mode: Mutex::new(Mode::Healthy),
                metrics: Mutex::new(Metrics::new(now)),
                shutting_down,
            }),
        }
    }

    fn mode(&self) -> Mode {
        *lock(&self.shared.mode)
    }

    /// Sets the mode and returns the previous one.
    fn replace_mode(&self, mode: Mode) -> Mode {
        std::mem::replace(&mut *lock(&self.shared.mode), mode)
    }

    fn uptime_seconds(&self) -> u64 {
        self.shared.started.elapsed().as_secs()
    }

    fn begin_shutdown(&self) {
        self.shared.shutting_down.send_replace(true);
    }

    /// Resolves once the server shuts down (never, for a router without `serve`).
    async fn shutdown_started(&self) {
        let mut receiver = self.shared.shutting_down.subscribe();
        // An error means the sender is gone, which `self` prevents.
        let _ = receiver.wait_for(|shutting_down| *shutting_down).await;
    }

    fn record_request(
        &self,
        method: &'static str,
        handler: &'static str,
        status: StatusCode,
        took: Duration,
    ) {
        let labels = RequestLabels { handler, method, status: status.as_u16() };
        lock(&self.shared.metrics).record(labels, took.as_secs_f64());
    }

    /// Adds the simulated traffic since the last scrape and renders every metric.
    fn scrape(&self) -> Result<String, fmt::Error> {
        let mode = self.mode();
        let mut metrics = lock(&self.shared.metrics);
        metrics.simulate_until(Instant::now(), mode);
        metrics.render(mode)
    }
}

/// The state stays usable after a panic elsewhere: every update is a few plain writes.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn get_health(State(state): State<DemoState>) -> Response {
    let started = Instant::now();
    let response = match state.mode() {
        Mode::Hang => {
            state.shutdown_started().await;
            shutting_down()
        }
        Mode::Slow(delay) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => health_report(&state, Mode::Slow(delay)),
                () = state.shutdown_started() => shutting_down(),
            }
        }
        Mode::Garbage => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<html>oops").into_response(),
        mode => health_report(&state, mode),
    };
    state.record_request("GET", HEALTH_HANDLER, response.status(), started.elapsed());
    response
}

/// The runbook's health JSON.
#[derive(Serialize)]
struct HealthReport {
    status: &'static str,
    database: &'static str,
    redis: &'static str,
    agents: &'static str,
    version: &'static str,
    uptime_seconds: u64,
}

fn health_report(state: &DemoState, mode: Mode) -> Response {
    // Without the database most agent executions fail: the fleet reports `degraded`.
    let (code, status, database, redis, agents) = match mode {
        Mode::Degraded => (StatusCode::OK, "degraded", "connected", "disconnected", "operational"),
        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "disconnected", "connected", "degraded"),
        _ => (StatusCode::OK, "healthy", "connected", "connected", "operational"),
    };
    let report = HealthReport {
        status,
        database,
        redis,
        agents,
        version: SIMULATED_VERSION,
        uptime_seconds: state.uptime_seconds(),
    };
    (code, Json(report)).into_response()
}

fn shutting_down() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
}

async fn get_mode(State(state): State<DemoState>) -> String {
    format!("{}\n", state.mode())
}

#[derive(Deserialize)]
struct ModeQuery {
    /// Delay of the `slow` mode, in milliseconds.
    delay_ms: Option<u64>,
}

/// Any content type: `curl -d down` sends its raw text as a form.
async fn change_mode(
    State(state): State<DemoState>,
    Query(query): Query<ModeQuery>,
    body: String,
) -> Response {
    match parse_mode(&body, query.delay_ms, state.shared.default_slow_delay) {
        Ok(mode) => {
            let previous = state.replace_mode(mode);
            tracing::info!(
                demo_target.mode = %mode,
                demo_target.previous_mode = %previous,
                "demo target mode changed"
            );
            format!("{mode}\n").into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}

async fn get_metrics(State(state): State<DemoState>) -> Response {
    match state.scrape() {
        Ok(text) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the demo target's metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// How the simulated traffic behaves in a mode.
struct TrafficProfile {
    /// Latency quantile function as (quantile, latency) knots, quantiles from 0 to 1,
    /// latencies in units of `latency_unit`; linear in between.
    latency_knots: &'static [(f64, f64)],
    /// Seconds per latency unit.
    latency_unit: f64,
    /// Share of requests that fail, 0 to 1.
    error_rate: f64,
    /// Status code of the failing requests.
    error_status: u16,
    /// Share of agent executions that fail, 0 to 1.
    agent_failure_rate: f64,
    /// Connections in use before the per-scrape wiggle of 0 to 2.
    db_connections_in_use: u64,
    /// Memory in use as a share of the limit, before the per-scrape wiggle of 0 to 2 %.
    memory_share: f64,
}

const HEALTHY_LATENCY: &[(f64, f64)] =
    &[(0.0, 0.018), (0.5, 0.055), (0.9, 0.105), (0.95, 0.140), (0.99, 0.280), (1.0, 0.450)];

impl TrafficProfile {
    fn of(mode: Mode) -> Self {
        match mode {
            Mode::Healthy | Mode::Garbage => Self {
                latency_knots: HEALTHY_LATENCY,
                latency_unit: 1.0,
                error_rate: 0.002,
                error_status: 500,
                agent_failure_rate: 0.01,
                db_connections_in_use: 6,
                memory_share: 0.45,
            },
            Mode::Degraded => Self {
                latency_knots: &[
                    (0.0, 0.040),
                    (0.5, 0.220),
                    (0.9, 0.480),
                    (0.95, 0.700),
                    (0.99, 1.300),
                    (1.0, 2.200),
                ],
                latency_unit: 1.0,
                error_rate: 0.03,
                error_status: 500,
                agent_failure_rate: 0.08,
                db_connections_in_use: 15,
                memory_share: 0.72,
            },
            Mode::Down => Self {
                latency_knots: &[(0.0, 0.002), (0.5, 0.012), (0.8, 0.060), (0.95, 2.0), (1.0, 5.0)],
                latency_unit: 1.0,
                error_rate: 0.85,
                error_status: 503,
                agent_failure_rate: 0.8,
                db_connections_in_use: DB_CONNECTIONS_MAX,
                memory_share: 0.88,
            },
            Mode::Slow(delay) => Self {
                latency_knots: &[(0.0, 0.85), (0.5, 1.0), (0.95, 1.2), (1.0, 1.5)],
                latency_unit: delay.as_secs_f64(),
                error_rate: 0.005,
                error_status: 504,
                agent_failure_rate: 0.03,
                db_connections_in_use: 12,
                memory_share: 0.55,
            },
            Mode::Hang => Self {
                latency_knots: &[(0.0, 8.0), (1.0, 10.0)],
                latency_unit: 1.0,
                error_rate: 0.95,
                error_status: 504,
                agent_failure_rate: 0.9,
                db_connections_in_use: 19,
                memory_share: 0.93,
            },
        }
    }

    /// The latency at quantile `u` (0 to 1), in seconds.
    fn latency(&self, u: f64) -> f64 {
        let mut previous = (0.0, 0.0);
        for &(quantile, value) in self.latency_knots {
            if u <= quantile {
                let (q0, v0) = previous;
                let share = if quantile > q0 { (u - q0) / (quantile - q0) } else { 1.0 };
                return (v0 + (value - v0) * share) * self.latency_unit;
            }
            previous = (quantile, value);
        }
        previous.1 * self.latency_unit
    }
}

/// The i-th point of an additive recurrence: spreads any run of points evenly over [0, 1).
fn spread(i: u64, step: f64) -> f64 {
    (i as f64 * step).fract()
}

/// Golden ratio conjugate and plastic number conjugate: two independent even spreads.
const LATENCY_STEP: f64 = 0.618_033_988_749_894_9;
const ENDPOINT_STEP: f64 = 0.754_877_666_246_692_7;

/// Errors at exactly `rate` in the long run: true whenever the accumulated debt reaches one.
fn take_quota(debt: &mut f64, rate: f64) -> bool {
    *debt += rate;
    if *debt >= 1.0 {
        *debt -= 1.0;
        true
    } else {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RequestLabels {
    handler: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket, not cumulative; above the last bound only in `count`.
    per_bucket: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.per_bucket[index] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

struct Metrics {
    requests: BTreeMap<RequestLabels, Histogram>,
    /// 5xx answers per handler; every known handler starts at zero.
    errors: BTreeMap<&'static str, u64>,
    /// (successes, failures) per agent, in the order of `AGENTS`.
    agent_executions: [(u64, u64); AGENTS.len()],
    simulated_requests: u64,
    simulated_agent_runs: u64,
    error_debt: f64,
    agent_failure_debt: f64,
    scrapes: u64,
    simulated_until: Instant,
}

impl Metrics {
    fn new(now: Instant) -> Self {
        let errors = std::iter::once(HEALTH_HANDLER)
            .chain(SIMULATED_ENDPOINTS.iter().map(|(_, handler)| *handler))
            .map(|handler| (handler, 0))
            .collect();
        Self {
            requests: BTreeMap::new(),
            errors,
            agent_executions: [(0, 0); AGENTS.len()],
            simulated_requests: 0,
            simulated_agent_runs: 0,
            error_debt: 0.0,
            agent_failure_debt: 0.0,
            scrapes: 0,
            simulated_until: now,
        }
    }

    fn record(&mut self, labels: RequestLabels, seconds: f64) {
        self.requests.entry(labels).or_default().observe(seconds);
        if labels.status >= 500 {
            *self.errors.entry(labels.handler).or_default() += 1;
        }
    }

    /// Adds the traffic `mode` would have served since the last call.
    fn simulate_until(&mut self, now: Instant, mode: Mode) {
        let elapsed = now.saturating_duration_since(self.simulated_until);
        self.simulated_until = now;
        // Saturating float-to-int cast; the clamp bounds it anyway.
        let requests = ((elapsed.as_secs_f64() * SIMULATED_REQUESTS_PER_SECOND).round() as u64)
            .clamp(MIN_SIMULATED_BATCH, MAX_SIMULATED_BATCH);
        let profile = TrafficProfile::of(mode);
        for _ in 0..requests {
            self.simulated_requests += 1;
            let i = self.simulated_requests;
            let endpoint = (spread(i, ENDPOINT_STEP) * SIMULATED_ENDPOINTS.len() as f64) as usize;
            let (method, handler) = SIMULATED_ENDPOINTS[endpoint.min(SIMULATED_ENDPOINTS.len() - 1)];
            let status =
                if take_quota(&mut self.error_debt, profile.error_rate) { profile.error_status } else { 200 };
            let labels = RequestLabels { handler, method, status };
            self.record(labels, profile.latency(spread(i, LATENCY_STEP)));
        }
        let runs = (requests / 4).max(AGENTS.len() as u64);
        for _ in 0..runs {
            let agent = (self.simulated_agent_runs % AGENTS.len() as u64) as usize;
            self.simulated_agent_runs += 1;
            let counts = &mut self.agent_executions[agent];
            if take_quota(&mut self.agent_failure_debt, profile.agent_failure_rate) {
                counts.1 += 1;
            } else {
                counts.0 += 1;
            }
        }
        self.scrapes += 1;
    }

    /// The Prometheus text exposition of every metric.
    fn render(&self, mode: Mode) -> Result<String, fmt::Error> {
        let mut out = String::new();
        let profile = TrafficProfile::of(mode);
        let wiggle = self.scrapes % 3;

        family(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Duration of TwisterLab API requests (simulated traffic plus real /health requests).",
        )?;
        for (labels, histogram) in &self.requests {
            let series = labels.to_prometheus();
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.per_bucket) {
                cumulative += count;
                writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{series},le=\"{bound}\"}} {cumulative}"
                )?;
            }
            let count = histogram.count;
            writeln!(out, "http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} {count}")?;
            writeln!(out, "http_request_duration_seconds_sum{{{series}}} {}", histogram.sum)?;
            writeln!(out, "http_request_duration_seconds_count{{{series}}} {count}")?;
        }

        family(
            &mut out,
            "http_requests_total",
            "counter",
            "TwisterLab API requests answered, by method, handler and status.",
        )?;
        for (labels, histogram) in &self.requests {
            writeln!(out, "http_requests_total{{{}}} {}", labels.to_prometheus(), histogram.count)?;
        }

        family(
            &mut out,
            "http_request_errors_total",
            "counter",
            "TwisterLab API requests answered with a 5xx status; divided by http_requests_total gives the error rate.",
        )?;
        for (handler, count) in &self.errors {
            writeln!(out, "http_request_errors_total{{handler=\"{}\"}} {count}", escape(handler))?;
        }

        family(
            &mut out,
            "agent_executions_total",
            "counter",
            "TwisterLab agent executions by agent and outcome (success or failure).",
        )?;
        for (agent, (successes, failures)) in AGENTS.iter().zip(self.agent_executions) {
            writeln!(out, "agent_executions_total{{agent=\"{agent}\",outcome=\"success\"}} {successes}")?;
            writeln!(out, "agent_executions_total{{agent=\"{agent}\",outcome=\"failure\"}} {failures}")?;
        }

        family(&mut out, "db_connections_in_use", "gauge", "Database connections checked out of the pool.")?;
        let in_use = (profile.db_connections_in_use + wiggle).min(DB_CONNECTIONS_MAX);
        writeln!(out, "db_connections_in_use {in_use}")?;
        family(&mut out, "db_connections_max", "gauge", "Size of the database connection pool.")?;
        writeln!(out, "db_connections_max {DB_CONNECTIONS_MAX}")?;

        family(
            &mut out,
            "container_memory_usage_bytes",
            "gauge",
            "Memory used by the API container, in bytes.",
        )?;
        let share = profile.memory_share + 0.01 * wiggle as f64;
        let used = (MEMORY_LIMIT_BYTES as f64 * share) as u64;
        writeln!(out, "container_memory_usage_bytes{{{CONTAINER_LABELS}}} {used}")?;
        family(
            &mut out,
            "container_memory_limit_bytes",
            "gauge",
            "Memory limit of the API container, in bytes.",
        )?;
        writeln!(out, "container_memory_limit_bytes{{{CONTAINER_LABELS}}} {MEMORY_LIMIT_BYTES}")?;

        family(
            &mut out,
            "demo_target_mode",
            "gauge",
            "1 for the demo target's current mode, 0 for the others.",
        )?;
        for name in ["healthy", "degraded", "down", "slow", "garbage", "hang"] {
            let current = u8::from(name == mode.name());
            writeln!(out, "demo_target_mode{{mode=\"{name}\"}} {current}")?;
        }
        Ok(out)
    }
}

impl RequestLabels {
    fn to_prometheus(self) -> String {
        format!(
            "handler=\"{}\",method=\"{}\",status=\"{}\"",
            escape(self.handler),
            escape(self.method),
            self.status
        )
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// Escapes a label value for the text exposition format.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use axum::body::Body;
    use http::{Method, Request, header::CONTENT_TYPE};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    const TEST_DELAY: Duration = Duration::from_millis(200);
    const FORM: &str = "application/x-www-form-urlencoded";

    fn test_router() -> Router {
        router(DemoTargetOptions { slow_delay: TEST_DELAY })
    }

    async fn send(app: &Router, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(CONTENT_TYPE, FORM)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn set_mode(app: &Router, mode: &str) {
        let (status, body) = send(app, Method::POST, "/mode", mode).await;
        assert_eq!(status, StatusCode::OK, "POST /mode {mode}: {body}");
    }

    async fn health(app: &Router) -> (StatusCode, String) {
        send(app, Method::GET, "/health", "").await
    }

    async fn health_json(app: &Router) -> (StatusCode, serde_json::Value) {
        let (status, body) = health(app).await;
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    async fn scrape(app: &Router) -> String {
        let (status, body) = send(app, Method::GET, "/metrics", "").await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    fn assert_report(json: &serde_json::Value, status: &str, database: &str, redis: &str, agents: &str) {
        assert_eq!(json["status"], status, "{json}");
        assert_eq!(json["database"], database, "{json}");
        assert_eq!(json["redis"], redis, "{json}");
        assert_eq!(json["agents"], agents, "{json}");
        assert!(json["version"].is_string(), "{json}");
        assert!(json["uptime_seconds"].is_u64(), "{json}");
    }

    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    impl Sample {
        fn label(&self, name: &str) -> &str {
            self.labels.get(name).map_or("", String::as_str)
        }
    }

    /// A tiny exposition-format checker: every sample belongs to a family with HELP and
    /// TYPE given before it; counters end in `_total`; histogram buckets rise to `+Inf`,
    /// are cumulative, and `_count` equals the `+Inf` bucket. Returns the samples.
    fn check_exposition(text: &str) -> Vec<Sample> {
        let mut help: HashMap<String, String> = HashMap::new();
        let mut kinds: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        // Per histogram series (family + labels without le): bucket (le, value) in order.
        let mut buckets: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
        let mut sums: BTreeMap<(String, String), f64> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').expect("HELP has a text");
                assert!(!text.trim().is_empty(), "empty HELP for {name}");
                assert!(help.insert(name.to_owned(), text.to_owned()).is_none(), "second HELP for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has a kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "TYPE {kind} of {name}");
                assert!(kinds.insert(name.to_owned(), kind.to_owned()).is_none(), "second TYPE for {name}");
                continue;
            }
            assert!(!line.starts_with('#') && !line.trim().is_empty(), "unexpected line {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value.parse().unwrap_or_else(|e| panic!("{e}: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inside = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    let labels = inside
                        .split(',')
                        .map(|pair| {
                            let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("label {pair}"));
                            let value = value
                                .strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .unwrap_or_else(|| panic!("unquoted label value: {line}"));
                            (key.to_owned(), value.to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            let family = if kinds.contains_key(&name) {
                name.clone()
            } else {
                let stem = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or_else(|| panic!("sample {name} has no TYPE before it"));
                assert_eq!(kinds.get(stem).map(String::as_str), Some("histogram"), "{line}");
                stem.to_owned()
            };
            assert!(help.contains_key(&family), "no HELP before {line}");
            let kind = kinds[&family].as_str();
            if kind == "counter" {
                assert!(family.ends_with("_total"), "counter {family} should end in _total");
                assert!(value >= 0.0, "negative counter: {line}");
            }
            if kind == "histogram" {
                let mut without_le = labels.clone();
                let le = without_le.remove("le");
                let key = (family.clone(), format!("{without_le:?}"));
                if name.ends_with("_bucket") {
                    let le = le.unwrap_or_else(|| panic!("bucket without le: {line}"));
                    let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                    buckets.entry(key).or_default().push((bound, value));
                } else if name.ends_with("_count") {
                    counts.insert(key, value);
                } else {
                    sums.insert(key, value);
                }
            }
            samples.push(Sample { name, labels, value });
        }
        for name in kinds.keys() {
            assert!(help.contains_key(name), "TYPE without HELP for {name}");
        }
        for (key, series) in &buckets {
            for pair in series.windows(2) {
                assert!(pair[0].0 < pair[1].0, "le not increasing in {key:?}: {series:?}");
                assert!(pair[0].1 <= pair[1].1, "buckets not cumulative in {key:?}: {series:?}");
            }
            let last = series.last().unwrap();
            assert_eq!(last.0, f64::INFINITY, "last bucket of {key:?} is not +Inf");
            assert_eq!(counts.get(key), Some(&last.1), "_count differs from +Inf bucket in {key:?}");
            assert!(sums.contains_key(key), "no _sum for {key:?}");
        }
        assert_eq!(counts.len(), buckets.len(), "_count without buckets");
        samples
    }

    fn total(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> f64 {
        samples.iter().filter(|s| s.name == name && keep(s)).map(|s| s.value).sum()
    }

    fn value(samples: &[Sample], name: &str) -> f64 {
        samples.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}")).value
    }

    fn error_rate(samples: &[Sample]) -> f64 {
        total(samples, "http_request_errors_total", |_| true)
            / total(samples, "http_requests_total", |_| true)
    }

    fn agent_success(samples: &[Sample]) -> f64 {
        total(samples, "agent_executions_total", |s| s.label("outcome") == "success")
            / total(samples, "agent_executions_total", |_| true)
    }

    /// Share of simulated API requests that took at most `bound` seconds.
    fn share_within(samples: &[Sample], bound: &str) -> f64 {
        let simulated = |s: &Sample| s.label("handler") != HEALTH_HANDLER;
        total(samples, "http_request_duration_seconds_bucket", |s| simulated(s) && s.label("le") == bound)
            / total(samples, "http_request_duration_seconds_count", simulated)
    }

    /// Scrapes ten times in `mode` (from a fresh router) and returns the last scrape.
    async fn traffic_in(mode: &str) -> Vec<Sample> {
        let app = test_router();
        set_mode(&app, mode).await;
        let mut text = String::new();
        for _ in 0..10 {
            text = scrape(&app).await;
        }
        check_exposition(&text)
    }

    #[tokio::test]
    async fn healthy_mode_answers_200_with_everything_connected() {
        let app = test_router();
        let (status, json) = health_json(&app).await;
        assert_eq!(status, StatusCode::OK);
        assert_report(&json, "healthy", "connected", "connected", "operational");
        assert_eq!(json["version"], SIMULATED_VERSION);
    }

    #[tokio::test]
    async fn degraded_mode_answers_200_with_redis_disconnected() {
        let app = test_router();
        set_mode(&app, "degraded").await;
        let (status, json) = health_json(&app).await;
        assert_eq!(status, StatusCode::OK);
        assert_report(&json, "degraded", "connected", "disconnected", "operational");
    }

    #[tokio::test]
    async fn down_mode_answers_503_with_the_database_disconnected() {
        let app = test_router();
        set_mode(&app, "down").await;
        let (status, json) = health_json(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_report(&json, "unhealthy", "disconnected", "connected", "degraded");
    }

    #[tokio::test]
    async fn garbage_mode_answers_200_with_a_body_that_is_not_json() {
        let app = test_router();
        set_mode(&app, "garbage").await;
        let (status, body) = health(&app).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with("<html>"), "{body}");
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
    }

    #[tokio::test]
    async fn slow_mode_answers_healthy_after_the_configured_delay() {
        let app = test_router();
        set_mode(&app, "slow").await;
        let started = Instant::now();
        let (status, json) = health_json(&app).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::OK);
        assert_report(&json, "healthy", "connected", "connected", "operational");
        assert!(took >= TEST_DELAY, "answered after {took:?}, before the {TEST_DELAY:?} delay");
    }

    #[tokio::test]
    async fn slow_mode_takes_a_delay_from_the_query_or_the_body() {
        let app = test_router();
        set_mode(&app, "slow").await;
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "slow 200ms\n");

        let (status, body) = send(&app, Method::POST, "/mode?delay_ms=250", "slow").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "slow 250ms\n"));
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "slow 250ms\n");

        set_mode(&app, "slow 2s").await;
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "slow 2000ms\n");
        set_mode(&app, "slow 1.5s").await;
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "slow 1500ms\n");
        set_mode(&app, "slow+300ms").await;
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "slow 300ms\n");
    }

    #[tokio::test]
    async fn hang_mode_never_answers_health_while_mode_still_answers() {
        let app = test_router();
        set_mode(&app, "hang").await;
        let request = Request::get("/health").body(Body::empty()).unwrap();
        let mut pending = tokio::spawn(app.clone().oneshot(request));

        let (status, body) = send(&app, Method::GET, "/mode", "").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "hang\n"));
        let (status, _) = send(&app, Method::GET, "/metrics", "").await;
        assert_eq!(status, StatusCode::OK);

        let answer = tokio::time::timeout(Duration::from_millis(300), &mut pending).await;
        assert!(answer.is_err(), "hang mode answered /health: {answer:?}");
        pending.abort();
    }

    #[tokio::test]
    async fn an_unknown_mode_is_refused_with_400_listing_the_valid_modes() {
        let app = test_router();
        let (status, body) = send(&app, Method::POST, "/mode", "sideways").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("sideways"), "{body}");
        for mode in ["healthy", "degraded", "down", "slow", "garbage", "hang"] {
            assert!(body.contains(mode), "{mode} missing from {body}");
        }
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "healthy\n");
    }

    #[tokio::test]
    async fn an_empty_mode_or_a_bad_delay_is_refused_with_400() {
        let app = test_router();
        for (uri, body) in [
            ("/mode", ""),
            ("/mode", "slow soon"),
            ("/mode", "slow -2s"),
            ("/mode", "down 2s"),
            ("/mode?delay_ms=100", "healthy"),
            ("/mode", "slow 2s please"),
        ] {
            let (status, answer) = send(&app, Method::POST, uri, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body:?}: {answer}");
        }
        assert_eq!(send(&app, Method::GET, "/mode", "").await.1, "healthy\n");
    }

    #[tokio::test]
    async fn mode_accepts_curl_bodies_with_whitespace_any_case_and_mode_forms() {
        let app = test_router();
        for (body, expected) in [
            ("  down\n", "down\n"),
            ("Degraded", "degraded\n"),
            ("mode=garbage", "garbage\n"),
            ("healthy", "healthy\n"),
        ] {
            set_mode(&app, body).await;
            assert_eq!(send(&app, Method::GET, "/mode", "").await.1, expected, "after {body:?}");
        }
    }

    #[test]
    fn parse_mode_reads_names_and_delays() {
        let default = Duration::from_secs(3);
        assert_eq!(parse_mode("hang", None, default), Ok(Mode::Hang));
        assert_eq!(parse_mode("slow", None, default), Ok(Mode::Slow(default)));
        assert_eq!(parse_mode("slow 2s", Some(40), default), Ok(Mode::Slow(Duration::from_millis(40))));
        assert_eq!(parse_mode("up", None, default), Err(ModeError::Unknown("up".to_owned())));
        assert_eq!(parse_mode("  ", None, default), Err(ModeError::Missing));
    }

    #[tokio::test]
    async fn metrics_are_valid_exposition_text_in_every_mode() {
        let app = test_router();
        for mode in ["healthy", "degraded", "down", "slow", "garbage", "hang"] {
            set_mode(&app, mode).await;
            if mode != "hang" {
                health(&app).await;
            }
            let samples = check_exposition(&scrape(&app).await);
            for family in [
                "http_request_duration_seconds_bucket",
                "http_requests_total",
                "http_request_errors_total",
                "agent_executions_total",
                "db_connections_in_use",
                "db_connections_max",
                "container_memory_usage_bytes",
                "container_memory_limit_bytes",
            ] {
                assert!(samples.iter().any(|s| s.name == family), "no {family} in {mode}");
            }
            assert_eq!(
                total(&samples, "demo_target_mode", |s| s.label("mode") == mode),
                1.0,
                "demo_target_mode in {mode}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "buckets not cumulative")]
    fn the_checker_rejects_buckets_that_are_not_cumulative() {
        check_exposition(
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\n\
             h_seconds_sum 1\nh_seconds_count 1\n",
        );
    }

    #[test]
    #[should_panic(expected = "_count differs")]
    fn the_checker_rejects_a_count_other_than_the_inf_bucket() {
        check_exposition(
            "# HELP h_seconds h\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n\
             h_seconds_sum 1\nh_seconds_count 3\n",
        );
    }

    #[test]
    #[should_panic(expected = "no HELP")]
    fn the_checker_rejects_a_family_without_help() {
        check_exposition("# TYPE up gauge\nup 1\n");
    }

    #[tokio::test]
    async fn metrics_pass_promtool_check_metrics() {
        let app = test_router();
        let mut text = String::new();
        for mode in ["healthy", "degraded", "down", "slow", "garbage", "hang"] {
            set_mode(&app, mode).await;
            if mode != "hang" {
                health(&app).await;
            }
            text = scrape(&app).await;
        }
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) => panic!(
                "cannot run promtool ({error}); install it with `apt-get install prometheus` (Debian) \
                 so this test can check the metrics"
            ),
        };
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "promtool check metrics failed:\n{}{}\n--- metrics ---\n{text}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }

    #[tokio::test]
    async fn healthy_traffic_meets_every_runbook_threshold() {
        let samples = traffic_in("healthy").await;
        assert!(error_rate(&samples) < 0.01, "error rate {}", error_rate(&samples));
        assert!(agent_success(&samples) > 0.95, "agent success {}", agent_success(&samples));
        assert!(share_within(&samples, "0.5") >= 0.95, "p95 above 500 ms");
        assert!(share_within(&samples, "1") >= 0.99, "p99 above 1 s");
        assert!(share_within(&samples, "0.025") < 0.5, "implausibly fast");
        let pool = value(&samples, "db_connections_in_use") / value(&samples, "db_connections_max");
        assert!(pool < 0.8, "DB pool at {pool}");
        let memory =
            value(&samples, "container_memory_usage_bytes") / value(&samples, "container_memory_limit_bytes");
        assert!(memory < 0.8, "memory at {memory}");
    }

    #[tokio::test]
    async fn degraded_traffic_has_a_p95_latency_around_700_ms_and_elevated_errors() {
        let samples = traffic_in("degraded").await;
        assert!(share_within(&samples, "0.5") < 0.95, "p95 below 500 ms");
        assert!(share_within(&samples, "1") >= 0.95, "p95 above 1 s");
        let errors = error_rate(&samples);
        assert!((0.01..0.1).contains(&errors), "error rate {errors}");
        assert!(agent_success(&samples) < 0.95, "agent success {}", agent_success(&samples));
    }

    #[tokio::test]
    async fn down_traffic_is_mostly_failures() {
        let samples = traffic_in("down").await;
        assert!(error_rate(&samples) > 0.5, "error rate {}", error_rate(&samples));
        assert!(agent_success(&samples) < 0.5, "agent success {}", agent_success(&samples));
        assert_eq!(value(&samples, "db_connections_in_use"), value(&samples, "db_connections_max"));
    }

    #[tokio::test]
    async fn slow_traffic_takes_about_the_delay() {
        let samples = traffic_in("slow").await;
        // The test delay is 200 ms: simulated latencies spread from 170 to 300 ms.
        assert_eq!(share_within(&samples, "0.1"), 0.0);
        assert!(share_within(&samples, "0.25") > 0.5);
        assert_eq!(share_within(&samples, "0.5"), 1.0);
    }

    #[tokio::test]
    async fn counters_advance_on_every_scrape() {
        let app = test_router();
        let first = check_exposition(&scrape(&app).await);
        let second = check_exposition(&scrape(&app).await);
        for name in ["http_requests_total", "agent_executions_total"] {
            let (before, after) = (total(&first, name, |_| true), total(&second, name, |_| true));
            assert!(after > before, "{name} went from {before} to {after}");
        }
    }

    #[tokio::test]
    async fn health_requests_count_into_the_metrics() {
        let app = test_router();
        for _ in 0..3 {
            health(&app).await;
        }
        set_mode(&app, "down").await;
        health(&app).await;
        let samples = check_exposition(&scrape(&app).await);
        let health_with = |status: &'static str| {
            move |s: &Sample| s.label("handler") == HEALTH_HANDLER && s.label("status") == status
        };
        assert_eq!(total(&samples, "http_requests_total", health_with("200")), 3.0);
        assert_eq!(total(&samples, "http_requests_total", health_with("503")), 1.0);
        assert_eq!(total(&samples, "http_request_duration_seconds_count", health_with("200")), 3.0);
        assert_eq!(
            total(&samples, "http_request_errors_total", |s| s.label("handler") == HEALTH_HANDLER),
            1.0
        );
    }

    #[tokio::test]
    async fn serve_switches_modes_like_curl_and_stops_promptly_while_a_request_hangs() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = DemoTargetOptions { slow_delay: TEST_DELAY };
        let server = tokio::spawn(serve(listener, options, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();

        for (mode, expected) in [("degraded", 200), ("down", 503), ("garbage", 200), ("healthy", 200)] {
            let answer = client
                .post(format!("{base}/mode"))
                .header(CONTENT_TYPE, FORM)
                .body(mode)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "POST /mode {mode}");
            let mode_now = client.get(format!("{base}/mode")).send().await.unwrap();
            assert_eq!(mode_now.text().await.unwrap(), format!("{mode}\n"));
            let health = client.get(format!("{base}/health")).send().await.unwrap();
            assert_eq!(health.status().as_u16(), expected, "GET /health in {mode}");
        }

        let answer =
            client.post(format!("{base}/mode")).header(CONTENT_TYPE, FORM).body("hang").send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let mut hanging = tokio::spawn(client.get(format!("{base}/health")).send());
        let early = tokio::time::timeout(Duration::from_millis(300), &mut hanging).await;
        assert!(early.is_err(), "hang mode answered over TCP: {early:?}");

        stop.send(()).unwrap();
        let served = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve still running 5 s after shutdown");
        served.unwrap().unwrap();
        let hung = tokio::time::timeout(Duration::from_secs(5), hanging)
            .await
            .expect("the hanging request was not released at shutdown")
            .unwrap();
        if let Ok(response) = hung {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}
