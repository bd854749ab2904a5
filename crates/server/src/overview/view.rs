//! How the overview's pages show services and states: the service row shared by the overview
//! and a service's page, the sparkline's time span, and the stylesheet class of each state.

use jiff::Timestamp;
use twisterlab_domain::health::{MetricState, Overall, ServiceState};

use super::sparkline::{self, Sparkline};
use crate::db::health::Service;
use crate::db::probe_results::{self, Bucket};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::time::Moment;

/// The stylesheet's class for a service state.
pub(crate) const fn service_css(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Unknown => "state-unknown",
        ServiceState::Up => "state-ok",
        ServiceState::Failing => "state-degraded",
        ServiceState::Down => "state-down",
    }
}

/// The stylesheet's class for a key metric's state.
pub(crate) const fn metric_css(state: MetricState) -> &'static str {
    match state {
        MetricState::Ok => "state-ok",
        MetricState::Breach => "state-critical",
        MetricState::Unknown => "state-unknown",
    }
}

/// The stylesheet's class for the overall verdict.
pub(crate) const fn overall_css(overall: Overall) -> &'static str {
    match overall {
        Overall::Healthy => "state-ok",
        Overall::Degraded => "state-degraded",
        Overall::Down => "state-down",
        Overall::Unknown => "state-unknown",
    }
}

/// "412 ms", or "–" without a value.
pub(crate) fn ms(latency: Option<i32>) -> String {
    latency.map(|l| format!("{l} ms")).unwrap_or_else(|| "–".into())
}

/// A service as the overview and its page show it.
#[derive(Clone, Debug)]
pub(crate) struct ServiceView {
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
    pub last_check: Option<Moment>,
    pub since: Moment,
    pub component: Option<String>,
    pub enabled: bool,
    pub sparkline: Sparkline,
}

impl ServiceView {
    pub(crate) fn of(s: &Service, buckets: &[Bucket], zone: &jiff::tz::TimeZone, now: Timestamp) -> Self {
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
            css: if s.enabled { service_css(s.state) } else { "state-unknown" },
            state_text,
            reason: s.last_reason.clone().filter(|_| s.state != ServiceState::Up),
            latency: ms(s.last_latency_ms),
            last_check: s.last_checked_at.map(|at| Moment::new(at, zone, now)),
            since: Moment::new(s.state_since, zone, now),
            component: s.component_name.clone().map(|c| format!("{c}: {} when down", s.impact.label())),
            enabled: s.enabled,
            sparkline: sparkline::draw(buckets),
        }
    }
}

/// Every service's view with its sparkline, what needs action first (disabled ones last).
pub(crate) async fn service_views(app: &AppState, now: Timestamp) -> Result<Vec<ServiceView>, AppError> {
    let services = crate::db::health::list(&app.pool).await?;
    let buckets =
        probe_results::buckets(&app.pool, sparkline_start(now), sparkline::BUCKET_SECONDS, None).await?;
    let zone = &app.config.timezone;
    let mut views: Vec<(u8, ServiceView)> = services
        .iter()
        .map(|s| {
            let key = if s.enabled { s.state.urgency() } else { u8::MAX };
            (key, ServiceView::of(s, buckets.get(&s.id).map(Vec::as_slice).unwrap_or(&[]), zone, now))
        })
        .collect();
    views.sort_by(|(a, x), (b, y)| (a, &x.name).cmp(&(b, &y.name)));
    Ok(views.into_iter().map(|(_, v)| v).collect())
}

/// The start of the sparkline: 24 h back, aligned to a bucket so buckets do not slide.
pub(crate) fn sparkline_start(now: Timestamp) -> Timestamp {
    let bucket = i64::from(sparkline::BUCKET_SECONDS);
    let end = (now.as_second() / bucket + 1) * bucket;
    let start = end - i64::from(sparkline::BUCKETS) * bucket;
    Timestamp::from_second(start).unwrap_or(now)
}
