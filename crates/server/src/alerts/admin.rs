//! `/admin/signals`: how external alerts become incidents — the severity, grouping and component
//! mappings, an `alertmanager.yml` receiver with the Authorization header, and the last 100
//! webhook deliveries with their outcome.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;

use crate::db::alertmanager as store;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Deliveries listed.
pub(crate) const DELIVERIES_SHOWN: i64 = 100;

pub(crate) struct DeliveryView {
    pub id: i64,
    pub received: Moment,
    pub by: String,
    pub bytes: i64,
    pub outcome: String,
    pub detail: String,
    pub excerpt: String,
}

#[derive(Template)]
#[template(path = "admin/signals.html")]
pub(crate) struct SignalsPage {
    pub layout: Layout,
    pub severities: Vec<(String, &'static str)>,
    pub group_by: String,
    pub components: Vec<(String, String)>,
    pub on_resolved: &'static str,
    pub receiver_yaml: String,
    pub endpoint: String,
    pub deliveries: Vec<DeliveryView>,
}

/// `GET /admin/signals`.
pub(crate) async fn show_signals(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let zone = &app.config.timezone;
    let endpoint = format!("{}/api/v1/alertmanager", app.config.public_url);
    let receiver_yaml = format!(
        "route:\n  receiver: twisterlab-portal\n  group_by: [{}]\nreceivers:\n  - name: twisterlab-portal\n    webhook_configs:\n      - url: {endpoint}\n        send_resolved: true\n        max_alerts: {}\n        http_config:\n          authorization:\n            type: Bearer\n            credentials: <API token of a responder, from /profile/tokens>\n",
        app.config.alertmanager_group_by.join(", "),
        twisterlab_domain::alerting::MAX_ALERTS,
    );
    let deliveries = store::recent_deliveries(&app.pool, DELIVERIES_SHOWN)
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            id: d.id,
            received: Moment::new(d.received_at, zone, now),
            by: d.by.unwrap_or_else(|| "a deleted user".into()),
            bytes: d.bytes,
            outcome: d.outcome,
            detail: d.detail,
            excerpt: d.excerpt,
        })
        .collect();
    let page = SignalsPage {
        layout,
        severities: app.config.alertmanager_severities.iter().map(|(l, s)| (l.clone(), s.as_str())).collect(),
        group_by: app.config.alertmanager_group_by.join(", "),
        components: app.config.alertmanager_components.clone(),
        on_resolved: if app.config.alertmanager_on_resolved == "resolve" {
            "the incident is resolved"
        } else {
            "the incident moves to monitoring"
        },
        receiver_yaml,
        endpoint,
        deliveries,
    };
    Ok(render_page(&page))
}
