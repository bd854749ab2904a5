//! The home page `/`: the health overview on one screen — overall state, services, key
//! metrics, the Kubernetes summary with problems first, open incidents, Grafana links.
//! Everything comes from Postgres (probe state, worker snapshots); nothing waits on a target.

use askama::Template;
use axum::extract::{Query, State};
use jiff::Timestamp;
use twisterlab_domain::health::{MetricState, Overall, Picture, ServiceState};
use twisterlab_domain::role::Role;

use super::cluster::{DeploymentRow, KubeSnapshot, PodRow};
use super::key_metrics::{DashboardLink, MetricsSnapshot, Reading};
use super::view::{self, ServiceView, service_views};
use crate::db::health_snapshots::{self, SnapshotKind};
use crate::db::incidents::{self, ListFilter};
use crate::setup::checklist::{self, Checklist};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices};
use crate::web::page::{Layout, Page};
use crate::web::time::Moment;

/// Open incidents listed on the overview.
const INCIDENTS_SHOWN: i64 = 10;
/// Problem pods and warning events listed in the Kubernetes summary.
const PODS_SHOWN: usize = 10;
const EVENTS_SHOWN: usize = 5;
/// A snapshot older than this is marked stale (its worker refreshes every 15 s), in seconds.
const STALE_AFTER_SECONDS: i64 = 60;

/// An open incident in the overview's list.
pub(crate) struct IncidentRow {
    pub number: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub started: Moment,
}

/// The key metrics panel.
pub(crate) struct MetricsPanel {
    pub configured: bool,
    pub prometheus_url: Option<String>,
    pub readings: Vec<Reading>,
    /// When the snapshot was taken; `None` before the first one.
    pub read: Option<Moment>,
    pub stale: bool,
    /// Per reading (same order): its signal (`ok`, `pending`, `firing`, `unknown`) and its
    /// 24-hour trend.
    pub trends: Vec<MetricTrend>,
}

/// One active signal on the overview, whatever its source.
pub(crate) struct SignalRow {
    /// `probe`, `key metric` or `Alertmanager`.
    pub source: &'static str,
    pub what: String,
    /// Where to read more.
    pub href: String,
    /// `down`, `failing`, `firing`, `pending`, `unknown`.
    pub state: &'static str,
    pub css: &'static str,
    pub since: Option<Moment>,
    pub incident: Option<i64>,
}

/// Firing Alertmanager alerts listed.
const ALERTS_SHOWN: i64 = 20;

/// The signals from probes, key metrics and Alertmanager, together, with their source.
async fn active_signals(
    app: &AppState,
    services: &[ServiceView],
    trends: &[MetricTrend],
    readings: &[Reading],
    now: Timestamp,
) -> Result<Vec<SignalRow>, AppError> {
    let zone = &app.config.timezone;
    let mut out = vec![];
    for s in
        services.iter().filter(|s| s.enabled && matches!(s.state, ServiceState::Down | ServiceState::Failing))
    {
        out.push(SignalRow {
            source: "probe",
            what: s.name.clone(),
            href: format!("/health/services/{}", s.name),
            state: s.state.as_str(),
            css: if s.state == ServiceState::Down {
                "state-major_outage"
            } else {
                "state-degraded_performance"
            },
            since: Some(s.since.clone()),
            incident: None,
        });
    }
    for (t, r) in trends.iter().zip(readings) {
        if t.signal != "ok" {
            out.push(SignalRow {
                source: "key metric",
                what: r.label.clone(),
                href: format!("/health/metrics/{}", r.name),
                state: t.signal,
                css: t.css,
                since: None,
                incident: None,
            });
        }
    }
    for a in crate::db::alertmanager::firing(&app.pool, ALERTS_SHOWN).await? {
        out.push(SignalRow {
            source: "Alertmanager",
            what: match &a.service {
                Some(s) => format!("{} on {s}", a.alertname),
                None => a.alertname.clone(),
            },
            href: format!("/incidents/{}", a.incident_number),
            state: "firing",
            css: "state-major_outage",
            since: Some(Moment::new(a.starts_at, zone, now)),
            incident: Some(a.incident_number),
        });
    }
    Ok(out)
}

/// A key metric's signal and 24-hour trend on the overview.
pub(crate) struct MetricTrend {
    pub name: String,
    pub signal: &'static str,
    pub css: &'static str,
    pub chart: super::trend::Trend,
}

/// A Warning event as the Kubernetes panel lists it.
pub(crate) struct EventView {
    pub reason: String,
    pub message: String,
    /// `Pod/twisterlab-api-7d9f8b6c5d-x2x4q`.
    pub object: String,
    pub count: i32,
    pub last_seen: Option<Moment>,
}

/// The Kubernetes panel.
pub(crate) struct KubePanel {
    /// `None` before the worker's first snapshot.
    pub snapshot: Option<KubeSnapshot>,
    /// When the snapshot was taken.
    pub taken: Option<Moment>,
    pub stale: bool,
    pub can_read_logs: bool,
    /// The newest warning events, at most [`EVENTS_SHOWN`].
    pub events: Vec<EventView>,
}

impl KubePanel {
    /// Deployments with fewer ready pods than desired or a stalled rollout, first.
    pub(crate) fn deployments(&self) -> Vec<&DeploymentRow> {
        let mut rows: Vec<&DeploymentRow> =
            self.snapshot.iter().flat_map(|s| s.deployments.data.iter().flatten()).collect();
        rows.sort_by_key(|d| (!d.troubled(), d.name.clone()));
        rows
    }

    /// Pods with a problem (already sorted most telling first), at most [`PODS_SHOWN`].
    pub(crate) fn problem_pods(&self) -> Vec<&PodRow> {
        self.snapshot
            .iter()
            .flat_map(|s| s.pods.data.iter().flatten())
            .filter(|p| p.problem.is_some())
            .take(PODS_SHOWN)
            .collect()
    }

    /// (pods, pods with a problem).
    pub(crate) fn pod_counts(&self) -> (usize, usize) {
        let pods: Vec<&PodRow> = self.snapshot.iter().flat_map(|s| s.pods.data.iter().flatten()).collect();
        (pods.len(), pods.iter().filter(|p| p.problem.is_some()).count())
    }

    /// The errors of the latest refresh, part by part.
    pub(crate) fn errors(&self) -> Vec<String> {
        let Some(s) = &self.snapshot else { return vec![] };
        [
            ("deployments", &s.deployments.error),
            ("pods", &s.pods.error),
            ("events", &s.events.error),
            ("CPU and memory", &s.usage.error),
        ]
        .into_iter()
        .filter_map(|(what, e)| e.as_ref().map(|e| format!("{what}: {e}")))
        .collect()
    }

    /// "api-7d9f: 250 m CPU, 128 MiB" per pod, or why there is none.
    pub(crate) fn usage(&self) -> Result<Vec<String>, &'static str> {
        let Some(s) = &self.snapshot else { return Err("no snapshot yet") };
        match &s.usage.data {
            None => Err("not read yet"),
            Some(usage) if !usage.served => {
                Err("the cluster does not serve metrics.k8s.io (no metrics-server)")
            }
            Some(usage) => Ok(usage
                .pods
                .iter()
                .map(|u| {
                    format!("{}: {} m CPU, {} MiB", u.pod, u.cpu_millicores, u.memory_bytes / (1024 * 1024))
                })
                .collect()),
        }
    }

    /// Whether the usage list is available (for the template).
    pub(crate) fn has_usage(&self) -> bool {
        self.usage().is_ok()
    }

    pub(crate) fn usage_rows(&self) -> Vec<String> {
        self.usage().unwrap_or_default()
    }

    pub(crate) fn usage_note(&self) -> &'static str {
        self.usage().err().unwrap_or("")
    }
}

#[derive(Template)]
#[template(path = "overview/index.html")]
pub(crate) struct OverviewPage {
    pub layout: Layout,
    pub services: Vec<ServiceView>,
    pub metrics: MetricsPanel,
    pub kube: KubePanel,
    pub incidents: Vec<IncidentRow>,
    pub dashboards: Vec<DashboardLink>,
    pub is_admin: bool,
    pub time_zone: String,
    pub now: Moment,
    /// The portal itself: its database and schema, and how long it has run.
    pub portal: PortalFacts,
    /// Active signals from probes, key metrics and Alertmanager, with their source.
    pub signals: Vec<SignalRow>,
    /// Maintenance in progress and overdue recurring tasks (`maintenance/overview.html`).
    pub maintenance: crate::maintenance::view::OverviewSection,
    /// The banner's words and colour: never "All systems healthy" while an incident is open.
    pub banner: Banner,
    /// Services back up while the incident they declared is still open: what to do next.
    pub recovered: Vec<RecoveredHint>,
    /// The first-run checklist, for admins until it is done or dismissed.
    pub checklist: Option<Checklist>,
    pub notice: Option<&'static str>,
}

/// The overview's flashes after a redirect.
const NOTICES: Notices =
    &[("checklist_dismissed", "Checklist dismissed for every admin. It stays on the Admin page.")];

/// Recovery hints listed at most.
const RECOVERED_SHOWN: i64 = 10;

/// "twisterlab-api recovered 3 min ago — resolve INC-4?".
pub(crate) struct RecoveredHint {
    pub service: String,
    pub since: Moment,
    pub number: i64,
}

/// The top banner of the overview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Banner {
    pub text: String,
    pub css: &'static str,
}

/// The banner for what the signals say and how many open incidents the reader can see (`more`:
/// there are more than `open`). Signals can be quiet while people still work an incident (a
/// declared one, or one whose service came back), so the banner then says the incident is open
/// rather than "All systems healthy".
pub(crate) fn banner(overall: Overall, headline: &str, open: usize, more: bool) -> Banner {
    let incidents = match (open, more) {
        (0, _) => None,
        (1, false) => Some("1 incident is open".to_owned()),
        (n, false) => Some(format!("{n} incidents are open")),
        (n, true) => Some(format!("more than {n} incidents are open")),
    };
    match (overall, incidents) {
        (_, None) => Banner {
            text: if headline.is_empty() {
                overall.label().to_owned()
            } else {
                format!("{}: {headline}", overall.label())
            },
            css: view::overall_css(overall),
        },
        (Overall::Healthy, Some(i)) => {
            Banner { text: format!("Signals healthy, but {i}"), css: "state-degraded" }
        }
        (Overall::Unknown, Some(i)) => {
            Banner { text: format!("{}; {i}", overall.label()), css: "state-degraded" }
        }
        (_, Some(i)) => Banner {
            text: if headline.is_empty() {
                format!("{}; {i}", overall.label())
            } else {
                format!("{}: {headline}; {i}", overall.label())
            },
            css: view::overall_css(overall),
        },
    }
}

impl OverviewPage {
    /// Askama hands method arguments over by reference.
    fn metric_css(&self, state: &MetricState) -> &'static str {
        view::metric_css(*state)
    }
}

/// The portal's own health, in one line at the bottom of the overview.
pub(crate) struct PortalFacts {
    pub database_connected: bool,
    pub migrations_applied: usize,
    pub migrations_known: usize,
    /// "3 h 12 min".
    pub uptime: String,
}

fn stale(taken_at: Timestamp, now: Timestamp) -> bool {
    crate::clock::between(taken_at, now).as_secs() > STALE_AFTER_SECONDS
}

/// Each reading's signal and 24-hour trend.
async fn metric_trends(
    app: &AppState,
    readings: &[Reading],
    now: Timestamp,
) -> Result<Vec<MetricTrend>, AppError> {
    let signals = crate::db::metric_signals::signals(&app.pool).await?;
    let day = jiff::SignedDuration::from_hours(24);
    let mut out = Vec::with_capacity(readings.len());
    for r in readings {
        let reads = crate::db::metric_signals::readings(&app.pool, &r.name, now - day).await?;
        let signal = signals
            .iter()
            .find(|s| s.metric == r.name)
            .map(|s| twisterlab_domain::health::signal_label(s.signal, s.last_state))
            .unwrap_or("unknown");
        out.push(MetricTrend {
            name: r.name.clone(),
            signal,
            css: super::pages::signal_css(signal),
            chart: super::trend::draw(&reads, day, "24 h", r.threshold, r.unit, now),
        });
    }
    Ok(out)
}

/// `GET /`.
pub(crate) async fn show_overview(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Page<OverviewPage>, AppError> {
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let role = layout.user.as_ref().map(|u| u.role).unwrap_or(Role::Viewer);

    let services = service_views(&app, now).await?;

    let metrics = match health_snapshots::load::<MetricsSnapshot>(&app.pool, SnapshotKind::KeyMetrics).await?
    {
        Some((snapshot, taken_at)) => MetricsPanel {
            configured: snapshot.configured,
            prometheus_url: snapshot.prometheus_url,
            readings: snapshot.readings,
            read: Some(Moment::new(taken_at, zone, now)),
            stale: stale(taken_at, now),
            trends: vec![],
        },
        None => MetricsPanel {
            configured: app.config.prometheus_url.is_some(),
            prometheus_url: app.config.prometheus_url.clone(),
            readings: vec![],
            read: None,
            stale: false,
            trends: vec![],
        },
    };
    let mut metrics = metrics;
    metrics.trends = metric_trends(&app, &metrics.readings, now).await?;
    let signals = active_signals(&app, &services, &metrics.trends, &metrics.readings, now).await?;

    let can_read_logs = role.allows(Role::Responder);
    let kube = match health_snapshots::load::<KubeSnapshot>(&app.pool, SnapshotKind::Kubernetes).await? {
        Some((snapshot, taken_at)) => KubePanel {
            events: snapshot
                .events
                .data
                .iter()
                .flatten()
                .take(EVENTS_SHOWN)
                .map(|e| EventView {
                    reason: e.reason.clone(),
                    message: e.message.clone(),
                    object: e.object.clone(),
                    count: e.count,
                    last_seen: e.last_seen.map(|t| Moment::new(t, zone, now)),
                })
                .collect(),
            snapshot: Some(snapshot),
            taken: Some(Moment::new(taken_at, zone, now)),
            stale: stale(taken_at, now),
            can_read_logs,
        },
        None => KubePanel { snapshot: None, taken: None, stale: false, can_read_logs, events: vec![] },
    };

    // The incident read rule decides which open incidents the caller sees.
    let mut filter = ListFilter { open: Some(true), ..ListFilter::default() };
    crate::incidents::service::ReadScope::for_role(role).restrict(&mut filter);
    let mut listed = incidents::list(&app.pool, &filter, None, INCIDENTS_SHOWN + 1).await?;
    let more_incidents = listed.len() > usize::try_from(INCIDENTS_SHOWN).unwrap_or(usize::MAX);
    listed.truncate(usize::try_from(INCIDENTS_SHOWN).unwrap_or(usize::MAX));
    let incidents: Vec<IncidentRow> = listed
        .into_iter()
        .map(|i| IncidentRow {
            number: i.number.get(),
            title: i.title,
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            started: Moment::new(i.started_at, zone, now),
        })
        .collect();

    let picture = Picture {
        services: services
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.name.as_str(), s.state))
            .collect::<Vec<(&str, ServiceState)>>(),
        metrics: metrics.readings.iter().map(|r| (r.label.as_str(), r.state)).collect(),
        pod_problems: kube.snapshot.as_ref().map_or(0, KubeSnapshot::problem_pods),
    };
    let (overall, headline) = (picture.overall(), picture.headline());
    let banner = banner(overall, &headline, incidents.len(), more_incidents);

    let scope = crate::incidents::service::ReadScope::for_role(role);
    let recovered = crate::db::health::recovered_with_open_incident(&app.pool, RECOVERED_SHOWN)
        .await?
        .into_iter()
        .filter(|r| scope.may_read_flag(r.private))
        .map(|r| RecoveredHint {
            service: r.service,
            since: Moment::new(r.since, zone, now),
            number: r.number,
        })
        .collect();

    let is_admin = role.allows(Role::Admin);
    let checklist = if is_admin {
        let facts = crate::db::setup::facts(&app.pool).await?;
        let dismissed = crate::db::setup::dismissed(&app.pool).await?.is_some();
        checklist::shown(&facts, dismissed)
    } else {
        None
    };

    let applied = crate::db::applied_count(&app.pool).await;
    let up = app.lifecycle.started.elapsed().as_secs();
    let portal = PortalFacts {
        database_connected: applied.is_ok(),
        migrations_applied: applied.unwrap_or(0),
        migrations_known: crate::db::MIGRATOR.iter().count(),
        uptime: format!("{} h {} min", up / 3600, (up % 3600) / 60),
    };

    let maintenance = crate::maintenance::view::overview_section(&app.pool, zone, now).await?;
    Ok(Page(OverviewPage {
        signals,
        maintenance,
        portal,
        is_admin,
        banner,
        recovered,
        checklist,
        notice: q.text(NOTICES),
        services,
        metrics,
        kube,
        incidents,
        dashboards: app.config.grafana_dashboards(),
        time_zone: app.config.timezone_name.clone(),
        now: Moment::new(now, zone, now),
        layout,
    }))
}
