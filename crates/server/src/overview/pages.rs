//! The overview's pages below `/`: one service with its history and raw results, and a
//! deployment's last log lines on demand.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use jiff::Timestamp;
use twisterlab_domain::health::{FailureKind, uptime_text};
use twisterlab_domain::role::Role;
use twisterlab_k8s::{ClusterError, DEFAULT_TAIL_LINES};

use super::view::{ServiceView, ms, sparkline_start};
use super::{definition, signals, sparkline};
use crate::db::{health, probe_results};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

// ---------------------------------------------------------------------------------------------
// GET /health/services/{name}

/// One raw result as the service page lists it.
pub(crate) struct ResultView {
    pub at: Moment,
    pub ok: bool,
    pub latency: String,
    pub http_status: String,
    pub failure: Option<&'static str>,
    pub reason: String,
    pub excerpt: Option<String>,
    /// Start minus due time, ms.
    pub lateness_ms: i64,
}

/// One day of history.
pub(crate) struct DayView {
    pub day: String,
    pub uptime: String,
    pub checks: i32,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

/// An incident the service's failures declared.
pub(crate) struct SignalIncident {
    pub number: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub opened: Moment,
}

#[derive(Template)]
#[template(path = "overview/service.html")]
pub(crate) struct ServicePage {
    pub layout: Layout,
    pub service: ServiceView,
    pub expect: String,
    pub schedule: String,
    pub open_incident: String,
    pub managed_by_file: bool,
    pub is_admin: bool,
    pub days: Vec<DayView>,
    pub results: Vec<ResultView>,
    pub incidents: Vec<SignalIncident>,
    pub time_zone: String,
}

/// Raw results listed on the service page.
const RESULTS_SHOWN: i64 = 50;
/// Days of roll-ups listed.
const DAYS_SHOWN: i64 = 30;

/// Incidents listed as declared by the service.
const INCIDENTS_SHOWN: i64 = 10;

/// `GET /health/services/{name}`.
pub(crate) async fn show_service(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = health::find_by_name(&app.pool, &name)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Service {name}") })?;
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let buckets =
        probe_results::buckets(&app.pool, sparkline_start(now), sparkline::BUCKET_SECONDS, Some(service.id))
            .await?;
    let view =
        ServiceView::of(&service, buckets.get(&service.id).map(Vec::as_slice).unwrap_or(&[]), zone, now);
    // What a target answered can be anything the target returns (internal data, a redirect
    // target's page): only admins, who choose the URLs, see the excerpt.
    let shows_excerpts = layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin));
    let results = probe_results::recent(&app.pool, service.id, RESULTS_SHOWN)
        .await?
        .into_iter()
        .map(|r| ResultView {
            at: Moment::new(r.started_at, zone, now),
            ok: r.ok,
            latency: ms(r.latency_ms),
            http_status: r.http_status.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
            failure: r.failure.map(FailureKind::label),
            reason: r.reason.unwrap_or_default(),
            excerpt: r.excerpt.filter(|_| shows_excerpts),
            lateness_ms: i64::try_from(r.started_at.duration_since(r.scheduled_at).as_millis()).unwrap_or(0),
        })
        .collect();
    let days = probe_results::days(&app.pool, service.id, DAYS_SHOWN)
        .await?
        .into_iter()
        .map(|d| DayView {
            day: d.day.to_string(),
            uptime: uptime_text(d.checks, d.successes),
            checks: d.checks,
            p50: ms(d.latency_p50_ms),
            p95: ms(d.latency_p95_ms),
            p99: ms(d.latency_p99_ms),
        })
        .collect();
    let incidents = health::signal_incidents(&app.pool, service.id, INCIDENTS_SHOWN)
        .await?
        .into_iter()
        .map(|i| SignalIncident {
            number: i.number,
            title: i.title,
            severity: i.severity,
            status: i.status,
            opened: Moment::new(i.opened_at, zone, now),
        })
        .collect();
    let is_admin = layout.user.as_ref().is_some_and(|u| u.role.allows(Role::Admin));
    let page = ServicePage {
        layout,
        expect: definition::expect_lines(&service.expect),
        schedule: format!(
            "every {} s, timeout {} ms, down after {} failures in a row",
            service.interval_seconds, service.timeout_ms, service.failures_before_down
        ),
        open_incident: match service.open_incident {
            Some(sev) => format!("declares a {sev} incident when down (label {})", signals::INCIDENT_LABEL),
            None => "opens no incident".into(),
        },
        managed_by_file: service.managed_by_file,
        is_admin,
        service: view,
        days,
        results,
        incidents,
        time_zone: app.config.timezone_name.clone(),
    };
    Ok(render_page(&page))
}

// ---------------------------------------------------------------------------------------------
// GET /kubernetes/logs/{deployment}

#[derive(Template)]
#[template(path = "overview/logs.html")]
pub(crate) struct LogsPage {
    pub layout: Layout,
    pub deployment: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub text: Option<String>,
    pub lines: usize,
    /// Why there are no lines.
    pub error: Option<String>,
    pub fetched: Moment,
}

/// `GET /kubernetes/logs/{deployment}`: the last 100 lines of one of the deployment's pods (a
/// troubled one first), read from the API server now, within the adapter's timeout. Logs may
/// hold secrets, so they are shown to responders and never logged.
pub(crate) async fn show_logs(
    State(app): State<AppState>,
    layout: Layout,
    Path(deployment): Path<String>,
) -> Result<Response, AppError> {
    let cluster = app.cluster().await;
    let now = Timestamp::now();
    let fetched = Moment::new(now, &app.config.timezone, now);
    let namespace = cluster.namespace().map(str::to_owned);
    let page = match cluster.pod_logs(&deployment, DEFAULT_TAIL_LINES).await {
        Ok(logs) => LogsPage {
            layout,
            deployment,
            namespace,
            lines: logs.text.lines().count(),
            pod: Some(logs.pod),
            container: logs.container,
            text: Some(logs.text),
            error: None,
            fetched,
        },
        Err(e) => {
            let status = match e {
                ClusterError::NotFound { .. } | ClusterError::InvalidArgument(_) => {
                    axum::http::StatusCode::NOT_FOUND
                }
                _ => axum::http::StatusCode::OK,
            };
            let page = LogsPage {
                layout,
                deployment,
                namespace,
                pod: None,
                container: None,
                text: None,
                lines: 0,
                error: Some(e.to_string()),
                fetched,
            };
            let mut response = render_page(&page);
            *response.status_mut() = status;
            return Ok(response);
        }
    };
    Ok(render_page(&page))
}

// ---------------------------------------------------------------------------------------------
// GET /health/metrics/{name}

#[derive(Template)]
#[template(path = "overview/metric.html")]
pub(crate) struct MetricPage {
    pub layout: Layout,
    pub label: String,
    pub name: String,
    pub query: String,
    pub threshold: String,
    pub hold: String,
    pub incident: String,
    /// `ok`, `pending`, `firing` or `unknown`.
    pub signal: &'static str,
    pub last_read: Option<Moment>,
    pub charts: Vec<super::trend::Trend>,
}

impl MetricPage {
    fn signal_css(&self) -> &'static str {
        signal_css(self.signal)
    }
}

/// CSS class of a metric signal's state.
pub(crate) fn signal_css(signal: &str) -> &'static str {
    match signal {
        "ok" => "state-operational",
        "pending" => "state-degraded_performance",
        "firing" => "state-major_outage",
        _ => "state-unknown",
    }
}

/// `GET /health/metrics/{name}`: a key metric's signal and its 24-hour and 7-day trends with
/// the threshold line.
pub(crate) async fn show_metric(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let spec = app
        .config
        .key_metrics
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Key metric {name}") })?;
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let week = jiff::SignedDuration::from_hours(24 * 7);
    let reads = crate::db::metric_signals::readings(&app.pool, &spec.name, now - week).await?;
    let charts = vec![
        super::trend::draw(
            &reads,
            jiff::SignedDuration::from_hours(24),
            "24 h",
            spec.threshold,
            spec.unit,
            now,
        ),
        super::trend::draw(&reads, week, "7 days", spec.threshold, spec.unit, now),
    ];
    let row =
        crate::db::metric_signals::signals(&app.pool).await?.into_iter().find(|s| s.metric == spec.name);
    let signal = row
        .as_ref()
        .map(|r| twisterlab_domain::health::signal_label(r.signal, r.last_state))
        .unwrap_or("unknown");
    let page = MetricPage {
        layout,
        label: spec.label.clone(),
        name: spec.name.clone(),
        query: spec.query.clone(),
        threshold: format!("{} {}", spec.direction.symbol(), spec.unit.format(spec.threshold)),
        hold: format!("{} s", spec.for_seconds),
        incident: match spec.open_incident {
            Some(s) => format!("declares a {} incident (private until published)", s.as_str()),
            None => "a signal on the overview only".into(),
        },
        signal,
        last_read: row.and_then(|r| r.last_read_at).map(|t| Moment::new(t, zone, now)),
        charts,
    };
    Ok(render_page(&page))
}
