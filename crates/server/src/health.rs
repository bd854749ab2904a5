//! The portal's own health: `/health` in the runbook's shape, `/livez`, `/readyz`, `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use twisterlab_domain::health::{Connection, HealthStatus};

use crate::auth::{Access, Routes};
use crate::state::AppState;
use crate::web::error::KeepBody;
use crate::web::metrics;

/// How long a health check waits for the database before calling it disconnected.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Public on purpose: load balancers, Kubernetes and Prometheus call them without an account.
pub fn routes() -> Routes {
    Routes::new()
        .get("/health", Access::Public, health)
        .get("/livez", Access::Public, livez)
        .get("/readyz", Access::Public, readyz)
        .get("/metrics", Access::Public, prometheus_metrics)
}

/// The runbook's `/health` shape, for the portal itself.
#[derive(Debug, Serialize)]
pub struct PortalHealth {
    pub status: HealthStatus,
    pub database: Connection,
    pub migrations: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
}

async fn health(State(state): State<AppState>) -> Response {
    let database = database_state(&state).await;
    let migrations = match database {
        DbState::Current => "current",
        DbState::Pending => "pending",
        DbState::Down => "unknown",
    };
    let connected = !matches!(database, DbState::Down);
    let status =
        if matches!(database, DbState::Current) { HealthStatus::Healthy } else { HealthStatus::Unhealthy };
    let body = PortalHealth {
        status,
        database: if connected { Connection::Connected } else { Connection::Disconnected },
        migrations,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.lifecycle.started.elapsed().as_secs(),
    };
    let code = if status == HealthStatus::Healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Alive: the process answers. Never touches the database, so a database outage does not get
/// every replica restarted.
async fn livez() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok")
}

/// Ready: the database answers, migrations are applied and we are not shutting down.
async fn readyz(State(state): State<AppState>) -> Response {
    let (code, text) = if state.lifecycle.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        match database_state(&state).await {
            DbState::Current => (StatusCode::OK, "ready"),
            DbState::Pending => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
            DbState::Down => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        }
    };
    // A plain-text body on purpose: probes read the status code, people read the reason.
    let headers = [(header::CACHE_CONTROL, "no-store"), (header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    (code, headers, Extension(KeepBody), text).into_response()
}

async fn prometheus_metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::record_pool(&state.pool, state.config.db_pool_max);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::handle().render())
}

enum DbState {
    Current,
    Pending,
    Down,
}

async fn database_state(state: &AppState) -> DbState {
    match tokio::time::timeout(DB_CHECK_TIMEOUT, crate::db::migrations_current(&state.pool)).await {
        Ok(Ok(true)) => DbState::Current,
        Ok(Ok(false)) => DbState::Pending,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database query failed");
            DbState::Down
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = DB_CHECK_TIMEOUT.as_millis() as u64,
                "health check: database did not answer in time"
            );
            DbState::Down
        }
    }
}
