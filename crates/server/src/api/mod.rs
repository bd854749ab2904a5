//! The token-authenticated JSON API under `/api/v1`.

use crate::auth::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
