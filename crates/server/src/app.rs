//! The HTTP application: every area's routes in one table, wrapped in the shared layers. `serve`
//! runs [`app`] and tests call the very same function.

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::{Extension, Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Access, Routes};
use crate::state::AppState;
use crate::web::{assets, error, metrics, page, security};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the portal with the access it requires, one area per line.
pub fn routes() -> Routes {
    Routes::new()
        .merge(crate::health::routes())
        .merge(crate::overview::routes().merge(crate::demo::routes()))
        .merge(crate::accounts::routes())
        .merge(crate::api::routes())
        .merge(crate::incidents::routes())
        .merge(crate::oncall::routes().merge(crate::escalation::routes()))
        .merge(crate::status_page::routes())
        .merge(crate::maintenance::routes())
        .merge(crate::runbooks::routes())
        .merge(crate::managers::routes())
        .merge(crate::alerts::routes())
        .merge(crate::setup::routes())
        .get("/static/{file}", Access::Public, assets::serve_asset)
}

/// The whole portal as one router; `main` serves it and tests call it directly.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let state_metrics = state.http_metrics.clone();
    // Requests for the status host go to the public status site, never to internal routes.
    let status_site = crate::status_page::StatusSite::new(&state);
    // Install the recorder before the first request so no observation is lost.
    let _ = metrics::handle();
    let (_, router) = routes().into_parts();
    let routes = router.fallback(crate::auth::not_found).layer(Extension(state.clone())).with_state(state);

    // Layers listed innermost first: the last one added runs first on the way in.
    let mut app = routes
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(
            error::ErrorPages { body_limit: config.body_limit },
            error::render_errors,
        ))
        .layer(middleware::from_fn(page::attach_layout))
        .layer(middleware::from_fn_with_state(state_metrics, metrics::track))
        .layer(CompressionLayer::new());
    for header in security::layers(config.public_url.starts_with("https://")) {
        app = app.layer(header);
    }
    let app = app
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            // The path only: query strings may carry tokens.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // A client's own X-Request-Id is replaced: logs and audit rows carry only ids the
        // portal made.
        .layer(SetRequestHeaderLayer::overriding(REQUEST_ID, |_: &axum::http::Request<axum::body::Body>| {
            axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok()
        }));
    // Outermost, so the status site's cached documents skip the per-request span (it has its
    // own lean stack: metrics, security headers).
    status_site.dispatch(app)
}
