//! The one error type handlers return, and the middleware that renders every error — ours or the
//! framework's (405, 413, 408, a panic) — as an HTML page or RFC 9457 problem details.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::page::{Layout, render_page};
use crate::validation::FieldError;

/// What went wrong, as the user sees it. The cause of an internal error is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    #[error("sign-in required")]
    Unauthorized,
    #[error("role {have} cannot do this; it needs {need}")]
    Forbidden { have: twisterlab_domain::role::Role, need: twisterlab_domain::role::Role },
    #[error("the request failed the cross-site request forgery check")]
    CsrfRejected,
    #[error("{what} not found")]
    NotFoundThing { what: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the database is unavailable")]
    DatabaseUnavailable,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(error = %e, "database unavailable");
                AppError::DatabaseUnavailable
            }
            other => AppError::Internal(other.into()),
        }
    }
}

/// RFC 9457 problem details; also what the HTML error page shows.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let slug = title.to_ascii_lowercase().replace(' ', "-");
        Self {
            type_: format!("https://twisterlab.local/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            request_id: None,
            errors: vec![],
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl AppError {
    fn problem(&self) -> Problem {
        use AppError::*;
        match self {
            NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "There is no page at this address. Check the link, or start from the overview.",
            ),
            Unauthorized => Problem::new(
                StatusCode::UNAUTHORIZED,
                "Sign in first. API clients send `Authorization: Bearer <token>` with a live token from their account page.",
            ),
            Forbidden { have, need } => Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Your role ({have}) cannot do this: it needs {need} or higher. Ask an admin if you need it."
                ),
            ),
            CsrfRejected => Problem::new(
                StatusCode::FORBIDDEN,
                "Nothing was changed: the form was stale, came from another site, or its security token was missing. Go back, reload the page and try again.",
            ),
            NotFoundThing { what } => Problem::new(StatusCode::NOT_FOUND, format!("{what} does not exist.")),
            PayloadTooLarge => payload_too_large(None),
            BadRequest(msg) => Problem::new(StatusCode::BAD_REQUEST, msg.clone()),
            Validation(errors) => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Some fields are not valid; see `errors`.",
                );
                p.errors = errors.clone();
                p
            }
            Conflict(msg) => Problem::new(StatusCode::CONFLICT, msg.clone()),
            DatabaseUnavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The portal cannot reach its database right now. Try again in a moment; the operators have been told by /health.",
            ),
            Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. The error was logged with the request id below.",
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(cause) = &self {
            // Logged once, inside the request span (which carries the request id).
            tracing::error!(error = ?cause, "request failed");
        }
        let problem = self.problem();
        let mut response = problem.status().into_response();
        response.extensions_mut().insert(problem);
        response
    }
}

fn payload_too_large(limit: Option<usize>) -> Problem {
    let limit = limit.map(|l| format!(" of {}", human_bytes(l))).unwrap_or_default();
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The request body is larger than the limit{limit}. Send less data, or attach large files elsewhere and link them."
        ),
    )
}

fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Whether the client prefers JSON: an API path, or an `Accept` that names JSON before HTML.
pub fn wants_json(path: &str, headers: &HeaderMap) -> bool {
    if path.starts_with("/api/") {
        return true;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let json = accept.find("json");
    let html = accept.find("text/html");
    match (json, html) {
        (Some(j), Some(h)) => j < h,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Marks an error response whose body is deliberate (e.g. `/readyz`'s plain-text reason), so the
/// error middleware leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct KeepBody;

/// Settings the error middleware needs.
#[derive(Clone)]
pub struct ErrorPages {
    pub body_limit: usize,
}

/// Renders error responses: a `Problem` attached by [`AppError`], or a bare error status from the
/// framework. Successful responses and already-rendered errors pass through untouched.
pub async fn render_errors(
    axum::extract::State(pages): axum::extract::State<ErrorPages>,
    request: Request,
    next: Next,
) -> Response {
    let json = wants_json(request.uri().path(), request.headers());
    let path = request.uri().path().to_owned();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let layout = request.extensions().get::<Layout>().cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None if response.extensions().get::<KeepBody>().is_some() || is_rendered(response.headers()) => {
            return response;
        }
        None => framework_problem(status, &pages),
    };
    // A layout the route's guard attached (with the signed-in user) wins over the bare one.
    let layout = response.extensions().get::<Layout>().cloned().or(layout);
    let mut problem = problem;
    problem.instance = Some(path);
    problem.request_id = request_id;

    let mut out = if json {
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        r
    } else {
        render_page(&ErrorPage { layout: layout.unwrap_or_default(), problem: problem.clone() })
    };
    *out.status_mut() = problem.status();
    if problem.status == 401 {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"twisterlab\""));
    }
    // Keep headers that matter to the client (Allow on 405, Retry-After, WWW-Authenticate, Location).
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE, header::LOCATION] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

fn is_rendered(headers: &HeaderMap) -> bool {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.starts_with("text/html")
        || ct.starts_with("application/problem+json")
        || ct.starts_with("application/json")
}

fn framework_problem(status: StatusCode, pages: &ErrorPages) -> Problem {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(Some(pages.body_limit)),
        StatusCode::NOT_FOUND => AppError::NotFound.problem(),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "This address does not accept that method; the Allow header lists the ones it does.",
        ),
        StatusCode::REQUEST_TIMEOUT => Problem::new(
            status,
            "The request took too long and was stopped. Try again; if it keeps happening, the portal's logs name the cause.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Problem::new(status, "The request body has a content type this address does not accept.")
        }
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Problem::new(
            status,
            "The request could not be understood: a field is missing or has the wrong form.",
        ),
        StatusCode::INTERNAL_SERVER_ERROR => AppError::Internal(anyhow::anyhow!("unhandled")).problem(),
        other => Problem::new(other, other.canonical_reason().unwrap_or("Error")),
    }
}

/// The HTML error page.
#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub problem: Problem,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn browsers_get_html_and_api_clients_get_json() {
        let browser = accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        assert!(!wants_json("/incidents", &browser));
        assert!(wants_json("/incidents", &accept("application/json")));
        assert!(wants_json("/incidents", &accept("application/problem+json")));
        assert!(wants_json("/api/v1/incidents", &browser));
        assert!(!wants_json("/incidents", &HeaderMap::new()));
    }

    #[test]
    fn the_413_detail_states_the_limit() {
        let p = payload_too_large(Some(1024 * 1024));
        assert_eq!(p.status, 413);
        assert!(p.detail.contains("1 MiB"), "{}", p.detail);
    }
}
