//! `GET /admin` (every admin page, and the checklist whatever its state) and
//! `POST /admin/checklist/dismiss`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::checklist::{self, Item};
use super::service;
use crate::auth::CurrentUser;
use crate::db::setup;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::see_other_with_notice;
use crate::web::page::{Layout, render_page};

/// One admin page in the index.
pub(crate) struct AdminLink {
    pub label: &'static str,
    pub href: &'static str,
    pub what: &'static str,
}

/// Every admin-only page there is to open (forms reached from these pages are left out).
pub(crate) const ADMIN_PAGES: &[AdminLink] = &[
    AdminLink { label: "Users", href: "/admin/users", what: "accounts, roles, password resets, sessions" },
    AdminLink { label: "Audit log", href: "/admin/audit", what: "every change, who made it and from where" },
    AdminLink {
        label: "Probed services",
        href: "/admin/services",
        what: "what the portal probes, and the incidents failures open",
    },
    AdminLink {
        label: "Status page components",
        href: "/admin/components",
        what: "components and groups on the public status page, pins",
    },
    AdminLink {
        label: "SLA policy",
        href: "/admin/sla",
        what: "response and escalation targets, business hours",
    },
    AdminLink {
        label: "Notification channels",
        href: "/admin/channels",
        what: "Slack, webhooks and PagerDuty, per severity",
    },
    AdminLink {
        label: "Notification outbox",
        href: "/admin/notifications",
        what: "what was sent where, failures to retry",
    },
    AdminLink {
        label: "Alertmanager signals",
        href: "/admin/signals",
        what: "alert mappings and the deliveries received",
    },
    AdminLink {
        label: "On-call rotation: responders",
        href: "/oncall/rotations/responders",
        what: "who is primary and secondary on call, in order",
    },
    AdminLink {
        label: "On-call rotation: managers",
        href: "/oncall/rotations/managers",
        what: "the manager escalations reach",
    },
    AdminLink {
        label: "Runbooks",
        href: "/runbooks",
        what: "the procedures; admins edit them from each runbook's page",
    },
];

#[derive(Template)]
#[template(path = "admin/index.html")]
pub(crate) struct AdminIndexPage {
    pub layout: Layout,
    pub pages: &'static [AdminLink],
    pub items: Vec<Item>,
    pub dismissed: bool,
}

/// `GET /admin`.
pub(crate) async fn show_admin_index(
    State(app): State<AppState>,
    layout: Layout,
) -> Result<Response, AppError> {
    let facts = setup::facts(&app.pool).await?;
    let dismissed = setup::dismissed(&app.pool).await?.is_some();
    Ok(render_page(&AdminIndexPage {
        layout,
        pages: ADMIN_PAGES,
        items: checklist::items(&facts),
        dismissed,
    }))
}

/// `POST /admin/checklist/dismiss`: hides the checklist from every admin's overview.
pub(crate) async fn dismiss_checklist(
    State(app): State<AppState>,
    me: CurrentUser,
) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::dismiss(&mut tx, &me.actor).await?;
    tx.commit().await?;
    Ok(see_other_with_notice("/", "checklist_dismissed"))
}
