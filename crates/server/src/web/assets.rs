//! Static files compiled into the binary under content-hashed names, served with a one-year
//! immutable cache lifetime (a changed file gets a new name, so no client ever sees a stale one).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::AppError;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Name in `static/` (`app.css`).
    pub name: &'static str,
    /// Name it is served under (`app.1a2b3c4d5e.css`).
    pub hashed_name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Path prefix of every asset.
pub const PREFIX: &str = "/static/";

/// URL of the asset named `name` in `static/`; an unknown name is a programming error caught by
/// the tests that render every page.
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => format!("{PREFIX}{}", a.hashed_name),
        None => {
            tracing::error!(asset = name, "template refers to an asset that does not exist");
            format!("{PREFIX}{name}")
        }
    }
}

/// `GET /static/{file}`.
pub async fn serve_asset(Path(file): Path<String>) -> Result<Response, AppError> {
    let asset = ASSETS.iter().find(|a| a.hashed_name == file).ok_or(AppError::NotFound)?;
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_served_under_a_hashed_name() {
        let css = url("app.css");
        assert!(
            css.starts_with("/static/app.")
                && css.ends_with(".css")
                && css.len() > "/static/app..css".len() + 8,
            "{css}"
        );
    }
}
