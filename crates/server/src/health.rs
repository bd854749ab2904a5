//! The portal's own health: `/health` in the runbook's shape, `/livez`, `/readyz`, `/metrics`.

use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
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

/// `/metrics`: with `TWISTERLAB_METRICS_TOKEN` set, for callers with that bearer token;
/// without it, for clients on this host only. Anyone else gets 404, as if there were none.
async fn prometheus_metrics(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let allowed = match &state.config.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|sent| crate::auth::token::constant_time_eq(sent.trim(), token.expose())),
        None => peer.is_some_and(|Extension(ConnectInfo(addr))| addr.ip().to_canonical().is_loopback()),
    };
    if !allowed {
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "not found").into_response();
    }
    metrics::record_pool(&state.pool, state.config.db_pool_max);
    let mut text = metrics::handle().render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&state.http_metrics.render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use axum::body::Body;
    use axum::http::Request;
    use sqlx::PgPool;

    use crate::testing::{self, send};

    /// A scrape from this host.
    pub(super) fn scrape() -> Request<Body> {
        let mut request = Request::get("/metrics").body(Body::empty()).expect("request");
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
        request
    }

    /// The distinct `method` labels of the request-duration series in a `/metrics` text.
    fn methods(metrics: &str) -> HashSet<String> {
        metrics
            .lines()
            .filter(|l| l.starts_with("http_request_duration_seconds_count{"))
            .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next().map(str::to_owned))
            .collect()
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn random_http_methods_do_not_create_new_metric_series(pool: PgPool) {
        let app = testing::TestApp::new(&pool);
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let method: String = (0..8).map(|i| char::from(b'A' + ((seed >> (i * 5)) % 26) as u8)).collect();
            let request = Request::builder()
                .method(method.as_str())
                .uri("/livez")
                .body(Body::empty())
                .expect("request");
            send(&app.router, request).await;
        }
        let (_, text) = send(&app.router, scrape()).await;
        let seen = methods(&text);
        let allowed: HashSet<String> =
            ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"].map(String::from).into();
        assert!(!seen.is_empty(), "the requests are measured: {text:.500}");
        assert!(seen.is_subset(&allowed), "methods outside the fixed set: {:?}", seen.difference(&allowed));
    }
}

#[cfg(test)]
mod memory_tests {
    use axum::body::Body;
    use axum::http::Request;
    use sqlx::PgPool;

    use crate::testing::{self, send};

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn request_metrics_hold_no_more_values_after_many_requests_without_a_scrape(pool: PgPool) {
        let app = testing::TestApp::new(&pool);
        let metrics = app.state.http_metrics.clone();
        let burst = |n: usize| {
            let router = app.router.clone();
            async move {
                for i in 0..n {
                    let path = if i % 2 == 0 { "/livez" } else { "/no-such-page" };
                    send(&router, Request::get(path).body(Body::empty()).expect("request")).await;
                }
            }
        };
        burst(200).await;
        let (series, held) = (metrics.series(), metrics.values_held());
        assert!(series >= 2, "both routes are measured");
        burst(2_000).await;
        assert_eq!(metrics.series(), series, "no new series for the same requests");
        assert_eq!(metrics.values_held(), held, "ten times the requests, the same memory");
        let (_, text) = send(&app.router, super::tests::scrape()).await;
        let livez = text
            .lines()
            .find(|l| {
                l.starts_with(
                    "http_request_duration_seconds_count{route=\"/livez\",method=\"GET\",status=\"200\"}",
                )
            })
            .expect("the /livez series");
        assert!(livez.ends_with(" 1100"), "every request is counted: {livez}");
    }
}

#[cfg(test)]
mod exposure_tests {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{Request, header};
    use sqlx::PgPool;

    use crate::config::{Config, Sources};
    use crate::testing::{self, send};

    fn from(addr: [u8; 4], token: Option<&str>) -> Request<Body> {
        let mut builder = Request::get("/metrics");
        if let Some(t) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut request = builder.body(Body::empty()).expect("request");
        request.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from((addr, 40000))));
        request
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn metrics_are_not_public_on_the_internet_facing_port(pool: PgPool) {
        let app = testing::TestApp::new(&pool);
        let (response, body) = send(&app.router, from([203, 0, 113, 5], None)).await;
        assert_eq!(response.status(), 404, "{body:.200}");
        let (response, _) = send(&app.router, from([127, 0, 0, 1], None)).await;
        assert_eq!(response.status(), 200, "this host may scrape without a token");

        let sources =
            Sources::from_pairs([("TWISTERLAB_METRICS_TOKEN", "scrape-me-0123456789")], toml::Table::new());
        let app = testing::TestApp::with_config(&pool, Config::from_sources(&sources).expect("valid"));
        let (response, _) = send(&app.router, from([10, 244, 0, 9], None)).await;
        assert_eq!(response.status(), 404, "no token, no metrics");
        let (response, _) = send(&app.router, from([10, 244, 0, 9], Some("wrong-token-0123456789"))).await;
        assert_eq!(response.status(), 404);
        let (response, body) = send(&app.router, from([10, 244, 0, 9], Some("scrape-me-0123456789"))).await;
        assert_eq!(response.status(), 200);
        assert!(body.contains("db_pool_connections_max"), "{body:.300}");
    }
}
