//! The internal home page `/`: the health overview on one screen — overall state, services,
//! key metrics, the Kubernetes summary with problems first, open incidents, Grafana links.
//! Everything comes from Postgres (probe state, worker snapshots); nothing waits on a target.

use askama::Template;
use axum::extract::State;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use crate::db::incidents::{self, ListFilter};
use crate::overview::cluster::{DeploymentRow, EventRow, KubeSnapshot, PodRow};
use crate::overview::key_metrics::{DashboardLink, MetricsSnapshot, Reading};
use crate::overview::pages::{ServiceView, When, age, service_views};
use crate::overview::rules::{self, Overall, ServiceState};
use crate::overview::snapshots;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::page::{Layout, Page};

pub fn routes() -> Routes {
    Routes::new().get("/", Access::Role(Role::Viewer), show_overview)
}

/// Open incidents listed on the overview.
const INCIDENTS_SHOWN: i64 = 10;
/// Problem pods, deployments and events listed in the Kubernetes summary.
const PODS_SHOWN: usize = 10;
const EVENTS_SHOWN: usize = 5;
/// A snapshot older than this is marked stale (its worker refreshes every 15 s).
const STALE_AFTER_SECONDS: i64 = 60;

/// An open incident in the overview's list.
pub struct IncidentRow {
    pub number: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub started: When,
}

/// The key metrics panel.
pub struct MetricsPanel {
    pub configured: bool,
    pub prometheus_url: Option<String>,
    pub readings: Vec<Reading>,
    /// "12 s" since the snapshot; `None` before the first one.
    pub age: Option<String>,
    pub stale: bool,
}

/// The Kubernetes panel.
pub struct KubePanel {
    /// `None` before the worker's first snapshot.
    pub snapshot: Option<KubeSnapshot>,
    pub age: Option<String>,
    pub stale: bool,
    pub can_read_logs: bool,
}

impl KubePanel {
    /// Deployments with fewer ready pods than desired or a stalled rollout, first.
    pub fn deployments(&self) -> Vec<&DeploymentRow> {
        let mut rows: Vec<&DeploymentRow> =
            self.snapshot.iter().flat_map(|s| s.deployments.data.iter().flatten()).collect();
        rows.sort_by_key(|d| (!d.troubled(), d.name.clone()));
        rows
    }

    /// Pods with a problem (already sorted most telling first), at most [`PODS_SHOWN`].
    pub fn problem_pods(&self) -> Vec<&PodRow> {
        self.snapshot
            .iter()
            .flat_map(|s| s.pods.data.iter().flatten())
            .filter(|p| p.problem.is_some())
            .take(PODS_SHOWN)
            .collect()
    }

    pub fn pod_counts(&self) -> (usize, usize) {
        let pods: Vec<&PodRow> = self.snapshot.iter().flat_map(|s| s.pods.data.iter().flatten()).collect();
        (pods.len(), pods.iter().filter(|p| p.problem.is_some()).count())
    }

    pub fn events(&self) -> Vec<&EventRow> {
        self.snapshot.iter().flat_map(|s| s.events.data.iter().flatten()).take(EVENTS_SHOWN).collect()
    }

    /// The errors of the latest refresh, part by part.
    pub fn errors(&self) -> Vec<String> {
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
    pub fn usage(&self) -> Result<Vec<String>, &'static str> {
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
    pub fn has_usage(&self) -> bool {
        self.usage().is_ok()
    }

    pub fn usage_rows(&self) -> Vec<String> {
        self.usage().unwrap_or_default()
    }

    pub fn usage_note(&self) -> &'static str {
        self.usage().err().unwrap_or("")
    }
}

#[derive(Template)]
#[template(path = "overview/index.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub overall: Overall,
    /// What is wrong, in a few words ("twisterlab-api down; error rate over threshold").
    pub headline: String,
    pub services: Vec<ServiceView>,
    pub metrics: MetricsPanel,
    pub kube: KubePanel,
    pub incidents: Vec<IncidentRow>,
    pub dashboards: Vec<DashboardLink>,
    pub is_admin: bool,
    pub time_zone: String,
    pub now: When,
    /// The portal itself: its database and schema, and how long it has run.
    pub portal: PortalFacts,
}

/// The portal's own health, in one line at the bottom of the overview.
pub struct PortalFacts {
    pub database_connected: bool,
    pub migrations_applied: i64,
    pub migrations_known: usize,
    pub uptime: String,
}

async fn show_overview(State(app): State<AppState>, layout: Layout) -> Result<Page<OverviewPage>, AppError> {
    let now = OffsetDateTime::now_utc();
    let zone = &app.config.timezone;
    let role = layout.user.as_ref().map(|u| u.role).unwrap_or(Role::Viewer);

    let services = service_views(&app, now).await?;

    let metrics = match snapshots::load::<MetricsSnapshot>(&app.pool, snapshots::KEY_METRICS).await? {
        Some((snapshot, taken_at)) => MetricsPanel {
            configured: snapshot.configured,
            prometheus_url: snapshot.prometheus_url,
            readings: snapshot.readings,
            age: Some(age(taken_at, now)),
            stale: (now - taken_at).whole_seconds() > STALE_AFTER_SECONDS,
        },
        None => MetricsPanel {
            configured: app.config.prometheus_url.is_some(),
            prometheus_url: app.config.prometheus_url.clone(),
            readings: vec![],
            age: None,
            stale: false,
        },
    };

    let kube = match snapshots::load::<KubeSnapshot>(&app.pool, snapshots::KUBERNETES).await? {
        Some((snapshot, taken_at)) => KubePanel {
            snapshot: Some(snapshot),
            age: Some(age(taken_at, now)),
            stale: (now - taken_at).whole_seconds() > STALE_AFTER_SECONDS,
            can_read_logs: role.allows(Role::Responder),
        },
        None => {
            KubePanel { snapshot: None, age: None, stale: false, can_read_logs: role.allows(Role::Responder) }
        }
    };

    // Viewers see public incidents only: private ones (security) stay with responders.
    let filter =
        ListFilter { open: Some(true), public_only: !role.allows(Role::Responder), ..ListFilter::default() };
    let incidents = incidents::list(&app.pool, &filter, None, INCIDENTS_SHOWN)
        .await?
        .into_iter()
        .map(|i| IncidentRow {
            number: i.number.get(),
            title: i.title,
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            started: When::of(crate::clock::from_jiff(i.started_at), zone, now),
        })
        .collect();

    let states: Vec<ServiceState> = services.iter().filter(|s| s.enabled).map(|s| s.state).collect();
    let metric_states: Vec<rules::MetricState> = metrics.readings.iter().map(|r| r.state).collect();
    let (_, problem_pods) = kube.pod_counts();
    let overall = rules::overall(&states, &metric_states, problem_pods);
    let mut what = vec![];
    let names = |state: ServiceState| -> Vec<String> {
        services.iter().filter(|s| s.enabled && s.state == state).map(|s| s.name.clone()).collect()
    };
    let down = names(ServiceState::Down);
    if !down.is_empty() {
        what.push(format!("{} down", down.join(", ")));
    }
    let failing = names(ServiceState::Failing);
    if !failing.is_empty() {
        what.push(format!("{} failing", failing.join(", ")));
    }
    let breached: Vec<String> = metrics
        .readings
        .iter()
        .filter(|r| r.state == rules::MetricState::Breach)
        .map(|r| r.label.clone())
        .collect();
    if !breached.is_empty() {
        what.push(format!("{} over threshold", breached.join(", ")));
    }
    if problem_pods > 0 {
        what.push(format!("{problem_pods} pod{} with problems", if problem_pods == 1 { "" } else { "s" }));
    }

    let applied: Result<i64, _> =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success").fetch_one(&app.pool).await;
    let up = app.lifecycle.started.elapsed().as_secs();
    let portal = PortalFacts {
        database_connected: applied.is_ok(),
        migrations_applied: applied.unwrap_or(0),
        migrations_known: crate::db::MIGRATOR.iter().count(),
        uptime: format!("{} h {} min", up / 3600, (up % 3600) / 60),
    };

    Ok(Page(OverviewPage {
        portal,
        is_admin: role.allows(Role::Admin),
        headline: what.join("; "),
        overall,
        services,
        metrics,
        kube,
        incidents,
        dashboards: app.config.grafana_dashboards(),
        time_zone: app.config.timezone_name.clone(),
        now: When::of(now, zone, now),
        layout,
    }))
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;
    use twisterlab_domain::role::Role;

    use crate::testing::{self, get, send};

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn anonymous_visitors_are_sent_to_sign_in(pool: PgPool) {
        let (response, _) = send(&testing::app(&pool), get("/", None)).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/login?next=/");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_viewer_sees_the_overview_with_their_name_and_a_sign_out_form(pool: PgPool) {
        let browser = testing::signed_in(&pool, Role::Viewer).await;
        let (response, html) = send(&testing::app(&pool), get("/", Some(&browser))).await;
        assert_eq!(response.status(), 200);
        assert!(html.contains("<h1>Overview</h1>"), "{html}");
        assert!(html.contains(&browser.user.display_name) && html.contains("Sign out"), "{html}");
        assert!(!html.contains("/admin/users"), "viewers do not see admin navigation: {html}");
        // The seeded services, not probed yet, and the panels before their first snapshot.
        assert!(html.contains("twisterlab-api") && html.contains("not checked yet"), "{html}");
        assert!(html.contains("Key metrics") && html.contains("Kubernetes"), "{html}");
        assert!(html.contains("http://grafana.twisterlab.local/d/system-overview"), "{html}");
    }
}
