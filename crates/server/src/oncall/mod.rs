//! On call: the responders' and managers' rotations with their overrides (edited by admins
//! through the use cases in `service`, audited), the `/oncall` page with the next four weeks,
//! and the worker that keeps the "who is on call now" cache (`crate::roster`, held in
//! `AppState`) current. The queries are in `db::oncall`.

pub(crate) mod pages;
pub(crate) mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use crate::roster::OnCallCache;
use crate::workers::{BoxFuture, NextPass, Worker};

pub(crate) use crate::db::oncall::NOTIFY_CHANNEL;

/// How often the header cache is reloaded even without a notification.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Every on-call route.
pub(crate) fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/oncall", Access::Role(Role::Viewer), pages::show_oncall)
        .get("/oncall/rotations/{kind}", admin, pages::edit_rotation)
        .post("/oncall/rotations/{kind}", admin, pages::save_rotation)
        .post("/oncall/rotations/{kind}/overrides", admin, pages::add_override)
        .post("/oncall/overrides/{id}/delete", admin, pages::delete_override)
}

/// Keeps an [`OnCallCache`] current: a worker-table row run every [`REFRESH_INTERVAL`] and on
/// `NOTIFY twisterlab_oncall`.
pub(crate) struct OnCallRefresh {
    pub(crate) pool: PgPool,
    pub(crate) cache: Arc<OnCallCache>,
}

impl OnCallRefresh {
    /// Reloads the cache once.
    pub(crate) async fn run_once(&self) -> Result<(), sqlx::Error> {
        self.cache.refresh(&self.pool).await
    }
}

impl Worker for OnCallRefresh {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            OnCallRefresh::run_once(self).await?;
            Ok(None)
        })
    }
}
