//! The admin audit log page: filters and keyset pagination.

use crate::auth::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
