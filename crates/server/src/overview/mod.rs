//! The health overview — the home page `/`: probes of TwisterLab's services, the runbook's key
//! metrics from Prometheus, the Kubernetes picture, and the signals they raise into incidents.
//!
//! Workers write, pages read: the probe scheduler keeps each service's state and results in
//! Postgres, and the key-metrics and Kubernetes workers store snapshots there, so no page ever
//! waits on a target, Prometheus or the API server (only the on-demand log page asks the
//! cluster, within the adapter's timeout). The rules (judging an answer, stepping a service's
//! state, thresholds, the overall verdict) are in `twisterlab_domain::health`; the queries in
//! `crate::db::{health, probe_results, health_snapshots}`.

pub(crate) mod admin;
pub(crate) mod cluster;
pub mod definition;
pub(crate) mod home;
pub(crate) mod jobs;
pub mod key_metrics;
pub(crate) mod live;
pub(crate) mod pages;
pub(crate) mod probe;
pub(crate) mod scheduler;
pub(crate) mod service;
pub(crate) mod signals;
pub(crate) mod sparkline;
pub(crate) mod trend;
pub(crate) mod view;

#[cfg(test)]
pub(crate) mod tests;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};

/// The overview's routes: `/` and the pages below it, and the admin pages of services.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .get("/", Access::Role(Role::Viewer), home::show_overview)
        // Polled by `static/live.js` on pages that change during an incident.
        .get("/live", Access::Role(Role::Viewer), live::show_marker)
        .get("/health/services/{name}", Access::Role(Role::Viewer), pages::show_service)
        .get("/health/metrics/{name}", Access::Role(Role::Viewer), pages::show_metric)
        // Logs can carry tokens and customer data: responders and up.
        .get("/kubernetes/logs/{deployment}", Access::Role(Role::Responder), pages::show_logs)
        .merge(admin::routes())
}
