//! The token-authenticated JSON API under `/api/v1`.

pub(crate) mod error;
pub(crate) mod incidents;
pub(crate) mod maintenance;
pub(crate) mod openapi;
pub(crate) mod request;
pub(crate) mod runbooks;
#[cfg(test)]
mod tests;

use axum::Json;
use serde::Serialize;
use twisterlab_domain::role::Role;

use crate::auth::{Access, CurrentUser, Routes, Via};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/me", Access::Role(Role::Viewer), show_me)
        .get("/api/v1/openapi.json", Access::Public, openapi::serve_openapi)
        .merge(incidents::routes())
        .merge(maintenance::routes())
        .merge(runbooks::routes())
}

/// Who the caller of the API is.
#[derive(Debug, Serialize)]
pub struct Me {
    pub email: String,
    pub display_name: String,
    /// The role that applies to this call: the lower of the token's and the owner's.
    pub role: Role,
    /// `"token"` (the guard authenticates `/api/` with bearer tokens only).
    pub authenticated_by: &'static str,
    pub token_name: Option<String>,
}

/// `GET /api/v1/me`: lets a script check its token before relying on it.
async fn show_me(user: CurrentUser) -> Json<Me> {
    let (authenticated_by, token_name) = match user.via {
        Via::Token { name, .. } => ("token", Some(name)),
        Via::Session { .. } => ("session", None),
    };
    Json(Me {
        email: user.user.email,
        display_name: user.user.display_name,
        role: user.role,
        authenticated_by,
        token_name,
    })
}
