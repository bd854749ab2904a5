//! The public status page: its own host (`TWISTERLAB_STATUS_HOST`), the same pages under
//! `/status` on the internal host, the Statuspage-compatible JSON API, Atom and RSS feeds, the
//! maintenance calendar (`/maintenance.ics`),
//! all served from an in-memory cache rebuilt on `NOTIFY twisterlab_status`; the admin pages
//! and use cases for components and groups (`admin`, `service`); and the component status
//! history the uptime bars come from, written where a status changes (`history`), never by a
//! rebuild.
//!
//! Requests for the status host never reach the internal router: [`StatusSite::dispatch`]
//! sends them to a small router of their own with nothing but public documents, so no
//! session is looked up and no internal page can answer there.

mod admin;
pub mod cache;
mod calendar;
pub(crate) mod data;
mod feeds;
pub(crate) mod history;
mod html;
mod render;
pub(crate) mod service;
mod statuspage_api;
#[cfg(test)]
mod tests;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use uuid::Uuid;

use crate::auth::{Access, Routes};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::{assets, security};
use cache::{ApiDoc, Doc, DocKey, Site, StatusCache};

/// Routes of the internal host: the status pages under `/status`, the JSON API, the feeds and
/// the admin pages. The public ones never touch the session tables (`Access::Public`).
pub(crate) fn routes() -> Routes {
    let mut routes = Routes::new()
        .get("/status", Access::Public, internal_home)
        .get("/status/history", Access::Public, internal_history)
        .get("/status/incidents/{id}", Access::Public, internal_incident)
        .get("/history.atom", Access::Public, |State(app): State<AppState>, request: Request| async move {
            serve(&app.status, Site::Internal, Doc::Atom, request.headers()).await
        })
        .get("/history.rss", Access::Public, |State(app): State<AppState>, request: Request| async move {
            serve(&app.status, Site::Internal, Doc::Rss, request.headers()).await
        })
        .get(
            "/maintenance.ics",
            Access::Public,
            |State(app): State<AppState>, request: Request| async move {
                serve(&app.status, Site::Internal, Doc::Calendar, request.headers()).await
            },
        );
    for api in ApiDoc::ALL {
        routes = routes.get(
            api.path(),
            Access::Public,
            move |State(app): State<AppState>, request: Request| async move {
                serve(&app.status, Site::Internal, Doc::Api(api), request.headers()).await
            },
        );
    }
    routes.merge(admin::routes())
}

/// The host part of a `Host` value or configured host name: no port, no trailing dot.
pub fn bare_host(value: &str) -> &str {
    let value = value.trim();
    let host = if value.starts_with('[') {
        value.find(']').map(|i| &value[..=i]).unwrap_or(value)
    } else {
        value.split(':').next().unwrap_or(value)
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// Whether the request is for the status host (port ignored, case-insensitive).
pub(crate) fn is_status_host(request: &Request, status_host: &str) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|h| bare_host(h).eq_ignore_ascii_case(status_host))
}

/// The public status site and the host it answers for.
#[derive(Clone)]
pub(crate) struct StatusSite {
    router: Router,
    host: String,
    documents: Arc<Documents>,
}

/// The status host's cached documents answered without the site router: nearly every request
/// the host gets. Profiled, the layers around a handler (a router clone, compression of bytes
/// already compressed, one layer per security header) cost more than the handler; this path
/// does what they do for these documents — the same metrics series, the same security headers —
/// and nothing else. Anything it does not know (HEAD, 404s, history, incidents, static files)
/// goes to the router.
struct Documents {
    cache: Arc<StatusCache>,
    metrics: Arc<crate::web::metrics::HttpMetrics>,
    security_headers: Vec<(axum::http::HeaderName, HeaderValue)>,
}

impl Documents {
    /// The document a GET asks for, with its route template (the metrics label the router
    /// would give it).
    fn of(request: &Request) -> Option<(Doc, &'static str)> {
        if request.method() != axum::http::Method::GET {
            return None;
        }
        let path = request.uri().path();
        match path {
            "/" => Some((Doc::Home { refresh: wants_refresh(request.uri()) }, "/")),
            "/history.atom" => Some((Doc::Atom, "/history.atom")),
            "/history.rss" => Some((Doc::Rss, "/history.rss")),
            "/maintenance.ics" => Some((Doc::Calendar, "/maintenance.ics")),
            _ => {
                ApiDoc::ALL.into_iter().find(|api| api.path() == path).map(|api| (Doc::Api(api), api.path()))
            }
        }
    }

    async fn answer(&self, doc: Doc, route: &'static str, request: Request) -> Response {
        let started = std::time::Instant::now();
        let mut response = serve(&self.cache, Site::Public, doc, request.headers()).await;
        security::add_missing(response.headers_mut(), &self.security_headers);
        self.metrics.record(route, "GET", response.status().as_u16(), started.elapsed().as_secs_f64());
        response
    }
}

impl StatusSite {
    /// The site for this state's status cache (the one the status page worker rebuilds).
    pub fn new(state: &AppState) -> Self {
        let cache = state.status.clone();
        let https = state.config.public_url.starts_with("https://");
        Self {
            host: cache.settings.host.clone(),
            router: site_router(cache.clone(), https, state.http_metrics.clone()),
            documents: Arc::new(Documents {
                cache,
                metrics: state.http_metrics.clone(),
                security_headers: security::headers(https),
            }),
        }
    }

    /// Routes status-host requests to the status site, everything else to `internal`.
    pub fn dispatch(self, internal: Router) -> Router {
        let StatusSite { router, host, documents } = self;
        Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let target = if !is_status_host(&request, &host) {
                Err(internal.clone())
            } else if let Some((doc, route)) = Documents::of(&request) {
                Ok((documents.clone(), doc, route))
            } else {
                Err(router.clone())
            };
            async move {
                match target {
                    Ok((documents, doc, route)) => Ok(documents.answer(doc, route, request).await),
                    Err(router) => router.oneshot(request).await,
                }
            }
        }))
    }
}

/// The router of the status host: GET (and HEAD) of public documents only; anything else
/// is 404 (unknown path) or 405 (known path, other method).
fn site_router(
    cache: Arc<StatusCache>,
    https: bool,
    metrics: Arc<crate::web::metrics::HttpMetrics>,
) -> Router {
    let mut router = Router::new()
        .route("/", get(site_home))
        .route("/history", get(site_history))
        .route("/incidents/{id}", get(site_incident))
        .route(
            "/history.atom",
            get(|State(c): State<Arc<StatusCache>>, r: Request| async move {
                serve(&c, Site::Public, Doc::Atom, r.headers()).await
            }),
        )
        .route(
            "/history.rss",
            get(|State(c): State<Arc<StatusCache>>, r: Request| async move {
                serve(&c, Site::Public, Doc::Rss, r.headers()).await
            }),
        )
        .route(
            "/maintenance.ics",
            get(|State(c): State<Arc<StatusCache>>, r: Request| async move {
                serve(&c, Site::Public, Doc::Calendar, r.headers()).await
            }),
        )
        .route("/static/{file}", get(assets::serve_asset));
    for api in ApiDoc::ALL {
        router = router.route(
            api.path(),
            get(move |State(c): State<Arc<StatusCache>>, r: Request| async move {
                serve(&c, Site::Public, Doc::Api(api), r.headers()).await
            }),
        );
    }
    let mut router = router
        .fallback(|| async { not_found(Site::Public) })
        .with_state(cache)
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(metrics, crate::web::metrics::track))
        // Documents arrive precompressed with Content-Encoding set, which this layer skips;
        // it only compresses the stylesheet and the small error pages.
        .layer(CompressionLayer::new());
    // No request id or span: these documents are served from memory and never logged one by one.
    for header in security::layers(https) {
        router = router.layer(header);
    }
    router
}

/// The value of `key` in the query string, if present.
fn query_value<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// `?refresh=1`: the page reloads itself every minute. Other parameters are ignored, so
/// `?utm_source=…` gets the very same bytes.
fn wants_refresh(uri: &Uri) -> bool {
    matches!(query_value(uri, "refresh"), Some("1" | "true" | "on" | "yes"))
}

/// `?after=<incident id>`: the history page after that incident; anything unreadable is the
/// first page.
fn history_after(uri: &Uri) -> Option<Uuid> {
    query_value(uri, "after").and_then(|p| p.parse::<Uuid>().ok())
}

/// Answers with the cached document, 503 before the first build, 404 when it does not exist.
async fn serve(cache: &StatusCache, site: Site, doc: Doc, headers: &HeaderMap) -> Response {
    let Some(snapshot) = cache.snapshot_or_build().await else {
        return cache::unavailable();
    };
    match snapshot.get(&cache.settings, &cache.pool, DocKey::new(site, doc)).await {
        Ok(Some(document)) => document.respond(headers),
        Ok(None) => not_found(site),
        Err(e) => {
            tracing::warn!(error = %e, doc = ?doc, "status page: a document's own read failed");
            cache::unreadable()
        }
    }
}

fn not_found(site: Site) -> Response {
    match site {
        Site::Internal => AppError::NotFound.into_response(),
        Site::Public => {
            let mut response = (StatusCode::NOT_FOUND, html::not_found_page()).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache::CACHE_CONTROL));
            response
        }
    }
}

fn incident_doc(id: &str) -> Option<Doc> {
    id.parse::<Uuid>().ok().map(Doc::Incident)
}

// Handlers take the request itself: extracting `HeaderMap` or `Uri` would copy them, and
// this is the hottest path of the portal.

async fn site_home(State(cache): State<Arc<StatusCache>>, request: Request) -> Response {
    let doc = Doc::Home { refresh: wants_refresh(request.uri()) };
    serve(&cache, Site::Public, doc, request.headers()).await
}

async fn site_history(State(cache): State<Arc<StatusCache>>, request: Request) -> Response {
    let doc = Doc::History { after: history_after(request.uri()) };
    serve(&cache, Site::Public, doc, request.headers()).await
}

async fn site_incident(
    State(cache): State<Arc<StatusCache>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    match incident_doc(&id) {
        Some(doc) => serve(&cache, Site::Public, doc, request.headers()).await,
        None => not_found(Site::Public),
    }
}

/// `GET /status` on the internal host.
async fn internal_home(State(app): State<AppState>, request: Request) -> Response {
    let doc = Doc::Home { refresh: wants_refresh(request.uri()) };
    serve(&app.status, Site::Internal, doc, request.headers()).await
}

/// `GET /status/history`.
async fn internal_history(State(app): State<AppState>, request: Request) -> Response {
    let doc = Doc::History { after: history_after(request.uri()) };
    serve(&app.status, Site::Internal, doc, request.headers()).await
}

/// `GET /status/incidents/{id}`.
async fn internal_incident(
    State(app): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    match incident_doc(&id) {
        Some(doc) => serve(&app.status, Site::Internal, doc, request.headers()).await,
        None => not_found(Site::Internal),
    }
}
