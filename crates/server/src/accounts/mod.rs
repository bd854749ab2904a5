//! Accounts: sign-in and sign-out, the user's own settings (profile, password, API tokens,
//! sessions), admin user management and the audit log page. The rules are in `rules`, every
//! state change in `service` (shared with the command line); the page modules read forms and
//! render.

pub(crate) mod admin_audit;
pub(crate) mod admin_users;
pub(crate) mod login;
pub(crate) mod password;
pub(crate) mod profile;
pub(crate) mod rules;
pub(crate) mod service;
pub(crate) mod sessions;
#[cfg(test)]
mod tests;
pub(crate) mod tokens;

use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use crate::state::AppState;

/// Every accounts route. The `/account` pages are the caller's own business, so the lowest
/// role suffices; the admin pages need an admin.
pub(crate) fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/login", Access::Public, login::show_login)
        .post("/login", Access::Public, login::sign_in)
        .post("/logout", viewer, login::sign_out)
        .get("/account", viewer, profile::show_account)
        .get("/account/password", viewer, password::show_password_form)
        .post("/account/password", viewer, password::change_password)
        .get("/account/tokens", viewer, tokens::list_tokens)
        .post("/account/tokens", viewer, tokens::create_token)
        .post("/account/tokens/{id}/revoke", viewer, tokens::revoke_token)
        .get("/account/sessions", viewer, sessions::list_sessions)
        .post("/account/sessions/{id}/end", viewer, sessions::end_session)
        .get("/admin/users", admin, admin_users::list_users)
        .post("/admin/users", admin, admin_users::create_user)
        .get("/admin/users/new", admin, admin_users::new_user)
        .get("/admin/users/{id}", admin, admin_users::show_user)
        .post("/admin/users/{id}", admin, admin_users::update_user)
        .post("/admin/users/{id}/password", admin, admin_users::reset_password)
        .post("/admin/users/{id}/sessions/end", admin, admin_users::end_sessions)
        .get("/admin/audit", admin, admin_audit::show_audit_log)
}

/// How long a session may sit unused before it stops signing anyone in, in seconds.
fn idle_seconds(app: &AppState) -> i64 {
    i64::try_from(app.config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX)
}
