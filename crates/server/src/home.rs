//! The internal home page: what the portal knows about itself until the health overview exists.

use askama::Template;
use axum::extract::State;
use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::page::{Layout, Page};

pub fn routes() -> Routes {
    Routes::new().get("/", Access::Role(Role::Viewer), show_overview)
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub database_connected: bool,
    pub migrations_applied: i64,
    pub migrations_known: usize,
    pub uptime: String,
    pub time_zone: String,
    pub status_host: String,
}

async fn show_overview(
    State(state): State<AppState>,
    layout: Layout,
) -> Result<Page<OverviewPage>, AppError> {
    let applied: Result<i64, _> = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&state.pool)
        .await;
    let uptime = state.lifecycle.started.elapsed().as_secs();
    Ok(Page(OverviewPage {
        layout,
        database_connected: applied.is_ok(),
        migrations_applied: applied.unwrap_or(0),
        migrations_known: crate::db::MIGRATOR.iter().count(),
        uptime: format!("{} h {} min", uptime / 3600, (uptime % 3600) / 60),
        time_zone: state.config.timezone_name.clone(),
        status_host: state.config.status_host.clone(),
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
    }
}
