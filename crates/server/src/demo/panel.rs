//! The "break it" panel (`/admin/demo`): each simulated service with its mode and its demo
//! service's probe state, and one plain form per service whose buttons set a mode. Only present
//! in a portal started with `--demo` (404 otherwise).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{MODES, Simulated, service};
use crate::auth::CurrentUser;
use crate::db::health;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, see_other_with_notice};
use crate::web::page::{Layout, render_page};

const NOTICES: Notices =
    &[("switched", "Mode switched. The demo services probe every 5 s and are down after 2 failed checks.")];

/// The simulated services, or 404 when the portal runs without `--demo`.
fn simulated(app: &AppState) -> Result<&Simulated, AppError> {
    app.demo.as_deref().ok_or(AppError::NotFound)
}

/// One simulated service on the panel.
pub(crate) struct PanelRow {
    pub name: String,
    pub simulates: &'static str,
    pub url: String,
    pub mode: String,
    /// The demo service's probe state in words ("up", "failing (1 of 2)", "disabled").
    pub state: String,
    pub state_css: &'static str,
    pub reason: Option<String>,
}

impl PanelRow {
    /// Whether the simulated service is in `mode` now (`slow` is shown as `slow 1500ms`).
    pub fn is_in(&self, mode: &str) -> bool {
        self.mode.split(' ').next() == Some(mode)
    }
}

#[derive(Template)]
#[template(path = "admin/demo.html")]
pub(crate) struct PanelPage {
    pub layout: Layout,
    pub rows: Vec<PanelRow>,
    pub modes: &'static [(&'static str, &'static str)],
    pub notice: Option<&'static str>,
}

/// `GET /admin/demo`.
pub(crate) async fn show_panel(
    State(app): State<AppState>,
    layout: Layout,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let simulated = simulated(&app)?;
    let services = health::list(&app.pool).await?;
    let rows = simulated
        .services()
        .iter()
        .map(|s| {
            let found = services.iter().find(|f| f.name == s.blueprint.name);
            let (state, state_css, reason) = match found {
                Some(f) if !f.enabled => ("disabled".to_owned(), "state-unknown", None),
                Some(f) => {
                    let view = crate::overview::view::service_css(f.state);
                    let text = match f.state {
                        twisterlab_domain::health::ServiceState::Failing => {
                            format!("failing ({} of {})", f.consecutive_failures, f.failures_before_down)
                        }
                        other => other.label().to_owned(),
                    };
                    (text, view, f.last_reason.clone())
                }
                None => ("deleted: restart with --demo to recreate it".to_owned(), "state-unknown", None),
            };
            PanelRow {
                name: s.blueprint.name.to_owned(),
                simulates: s.blueprint.simulates,
                url: s.health_url(),
                mode: s.target.mode(),
                state,
                state_css,
                reason,
            }
        })
        .collect();
    Ok(render_page(&PanelPage { layout, rows, modes: &MODES, notice: q.text(NOTICES) }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModeForm {
    #[serde(default)]
    mode: String,
}

/// `POST /admin/demo/{name}/mode`.
pub(crate) async fn switch_mode(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(name): Path<String>,
    Form(form): Form<ModeForm>,
) -> Result<Response, AppError> {
    let simulated = simulated(&app)?;
    let mut tx = app.pool.begin().await?;
    let before = service::switch_mode(&mut tx, &me.actor, simulated, &name, form.mode.trim()).await?;
    tx.commit().await?;
    tracing::info!(demo.service = %name, demo.from = %before, demo.to = %form.mode.trim(), by = %me.user.id, "admin switched a simulated demo service");
    Ok(see_other_with_notice("/admin/demo", "switched"))
}
