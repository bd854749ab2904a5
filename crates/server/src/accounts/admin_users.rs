//! Admin pages for users: list, create, edit role, deactivate, reset password, end sessions.

use crate::auth::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
