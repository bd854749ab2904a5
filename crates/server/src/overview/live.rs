//! `GET /live`: a cheap change marker for pages that change during an incident (overview,
//! incident list, incident page). `static/live.js` polls it with `If-None-Match` and reloads the
//! page only when the marker moved; the pages work the same without the script.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use crate::web::error::AppError;

/// The marker as a strong ETag; `304 Not Modified` when the client already has it.
pub(crate) async fn show_marker(
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let marker = crate::db::live::marker(&app.pool).await?;
    let etag = format!("\"{marker}\"");
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| AppError::Internal(e.into()))?;
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == etag || tag.strip_prefix("W/") == Some(etag.as_str()) || tag == "*");
    // The marker reveals nothing about what changed, but it is only for signed-in readers:
    // private, and revalidated on every poll.
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value), cache]).into_response());
    }
    Ok(([(header::ETAG, etag_value), cache], axum::Json(serde_json::json!({ "version": marker })))
        .into_response())
}
