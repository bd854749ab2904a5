//! The overview's pages besides `/` (which `crate::home` renders from the same views): one
//! service with its history and raw results, and a deployment's last log lines on demand.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use time::OffsetDateTime;
use twisterlab_k8s::{ClusterError, DEFAULT_TAIL_LINES};
use uuid::Uuid;

use super::rules::{FailureKind, ServiceState};
use super::sparkline::{self, Sparkline};
use super::store::{self, Bucket, Service};
use super::{definition, signals};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::page::{Layout, render_page};

/// A moment as pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct When {
    /// For `<time datetime>`.
    pub iso: String,
    /// "2026-11-29 03:12 UTC".
    pub absolute: String,
    /// "4 min ago".
    pub relative: String,
}

impl When {
    pub fn of(at: OffsetDateTime, zone: &jiff::tz::TimeZone, now: OffsetDateTime) -> Self {
        Self {
            iso: crate::clock::iso(at),
            absolute: crate::clock::absolute(at, zone),
            relative: crate::clock::relative(at, now),
        }
    }
}

/// "3 min", "12 s": how old something is.
pub fn age(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - at).whole_seconds().max(0);
    match secs {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", (s + 30) / 60),
        s => format!("{} h", (s + 1800) / 3600),
    }
}

/// A service as the overview and its page show it.
#[derive(Clone, Debug)]
pub struct ServiceView {
    pub name: String,
    /// Link to the service page.
    pub href: String,
    pub url: String,
    pub state: ServiceState,
    /// "down", "failing (2 of 3)", "healthy", "not checked yet", "disabled".
    pub state_text: String,
    pub css: &'static str,
    pub reason: Option<String>,
    pub latency: String,
    pub last_check: Option<When>,
    pub since: When,
    pub component: Option<String>,
    pub enabled: bool,
    pub sparkline: Sparkline,
}

impl ServiceView {
    pub fn of(s: &Service, buckets: &[Bucket], zone: &jiff::tz::TimeZone, now: OffsetDateTime) -> Self {
        let state_text = match (s.enabled, s.state) {
            (false, _) => "disabled".to_owned(),
            (true, ServiceState::Failing) => {
                format!("failing ({} of {})", s.consecutive_failures, s.failures_before_down)
            }
            (true, state) => state.label().to_owned(),
        };
        Self {
            name: s.name.clone(),
            href: format!("/health/services/{}", crate::auth::urlencode(&s.name)),
            url: s.url.clone(),
            state: s.state,
            css: if s.enabled { s.state.css() } else { "state-unknown" },
            state_text,
            reason: s.last_reason.clone().filter(|_| s.state != ServiceState::Up),
            latency: s.last_latency_ms.map(|l| format!("{l} ms")).unwrap_or_else(|| "–".into()),
            last_check: s.last_checked_at.map(|at| When::of(at, zone, now)),
            since: When::of(s.state_since, zone, now),
            component: s.component_name.clone().map(|c| format!("{c}: {} when down", s.impact.label())),
            enabled: s.enabled,
            sparkline: sparkline::draw(buckets),
        }
    }
}

/// Every service's view with its sparkline, what needs action first.
pub async fn service_views(app: &AppState, now: OffsetDateTime) -> Result<Vec<ServiceView>, AppError> {
    let services = store::list(&app.pool).await?;
    let since = sparkline_start(now);
    let buckets = store::buckets(&app.pool, since, sparkline::BUCKET_SECONDS, None).await?;
    let zone = &app.config.timezone;
    let mut views: Vec<(u8, ServiceView)> = services
        .iter()
        .map(|s| {
            let key = if s.enabled { s.state.urgency() } else { 9 };
            (key, ServiceView::of(s, buckets.get(&s.id).map(Vec::as_slice).unwrap_or(&[]), zone, now))
        })
        .collect();
    views.sort_by(|(a, x), (b, y)| (a, &x.name).cmp(&(b, &y.name)));
    Ok(views.into_iter().map(|(_, v)| v).collect())
}

/// The start of the sparkline: 24 h back, aligned to a bucket so buckets do not slide.
pub fn sparkline_start(now: OffsetDateTime) -> OffsetDateTime {
    let bucket = i64::from(sparkline::BUCKET_SECONDS);
    let end = (now.unix_timestamp() / bucket + 1) * bucket;
    let start = end - i64::from(sparkline::BUCKETS) * bucket;
    OffsetDateTime::from_unix_timestamp(start).unwrap_or(now)
}

// ---------------------------------------------------------------------------------------------
// GET /health/services/{name}

/// One raw result as the service page lists it.
pub struct ResultView {
    pub at: When,
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
pub struct DayView {
    pub day: String,
    pub uptime: String,
    pub checks: i32,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

/// An incident the service's failures declared.
pub struct SignalIncident {
    pub number: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub opened: When,
}

#[derive(Template)]
#[template(path = "overview/service.html")]
pub struct ServicePage {
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

/// `GET /health/services/{name}`.
pub async fn show_service(
    State(app): State<AppState>,
    layout: Layout,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let service = store::find_by_name(&app.pool, &name)
        .await?
        .ok_or_else(|| AppError::NotFoundThing { what: format!("Service {name}") })?;
    let now = OffsetDateTime::now_utc();
    let zone = &app.config.timezone;
    let buckets: HashMap<Uuid, Vec<Bucket>> =
        store::buckets(&app.pool, sparkline_start(now), sparkline::BUCKET_SECONDS, Some(service.id)).await?;
    let view =
        ServiceView::of(&service, buckets.get(&service.id).map(Vec::as_slice).unwrap_or(&[]), zone, now);
    let results = store::recent_results(&app.pool, service.id, RESULTS_SHOWN)
        .await?
        .into_iter()
        .map(|r| ResultView {
            at: When::of(r.started_at, zone, now),
            ok: r.ok,
            latency: r.latency_ms.map(|l| format!("{l} ms")).unwrap_or_else(|| "–".into()),
            http_status: r.http_status.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
            failure: r.failure.as_deref().and_then(FailureKind::parse).map(FailureKind::label),
            reason: r.reason.unwrap_or_default(),
            excerpt: r.excerpt,
            lateness_ms: i64::try_from((r.started_at - r.scheduled_at).whole_milliseconds()).unwrap_or(0),
        })
        .collect();
    let ms = |v: Option<i32>| v.map(|l| format!("{l} ms")).unwrap_or_else(|| "–".into());
    let days = store::days(&app.pool, service.id, DAYS_SHOWN)
        .await?
        .into_iter()
        .map(|d| DayView {
            day: d.day.to_string(),
            uptime: d.uptime(),
            checks: d.checks,
            p50: ms(d.latency_p50_ms),
            p95: ms(d.latency_p95_ms),
            p99: ms(d.latency_p99_ms),
        })
        .collect();
    let incidents = store::signal_incidents(&app.pool, service.id, 10)
        .await?
        .into_iter()
        .map(|(number, title, severity, status, opened)| SignalIncident {
            number,
            title,
            severity,
            status,
            opened: When::of(opened, zone, now),
        })
        .collect();
    let is_admin = layout.user.as_ref().is_some_and(|u| u.role.allows(twisterlab_domain::role::Role::Admin));
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
pub struct LogsPage {
    pub layout: Layout,
    pub deployment: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub text: Option<String>,
    pub lines: usize,
    /// Why there are no lines.
    pub error: Option<String>,
    pub fetched: When,
}

/// `GET /kubernetes/logs/{deployment}`: the last 100 lines of one of the deployment's pods (a
/// troubled one first), read from the API server now, within the adapter's timeout. Logs may
/// hold secrets, so they are shown to responders and never logged.
pub async fn show_logs(
    State(app): State<AppState>,
    layout: Layout,
    Path(deployment): Path<String>,
) -> Result<Response, AppError> {
    let cluster = app.cluster().await;
    let now = OffsetDateTime::now_utc();
    let fetched = When::of(now, &app.config.timezone, now);
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
