//! The signed-in user's own settings: password, API tokens, sessions.

use crate::auth::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
