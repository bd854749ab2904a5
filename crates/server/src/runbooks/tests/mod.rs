//! Runbooks and guided runs against real PostgreSQL: loading the shipped files, pages and
//! edits, runs with manual steps, the permission matrix, concurrency, Kubernetes actions
//! through the adapter against a fake API server (previews and confirmations), secrets.

mod api;
mod fake_kube;
mod loader;
mod pages;
mod runs;

use axum::http::{Response, header};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::runbook_runs::Subject;
use crate::testing::{self, Browser};

/// The redirect target of a 303.
pub(super) fn location<B>(response: &Response<B>) -> String {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Loads the shipped runbooks.
pub(super) async fn load(pool: &PgPool) {
    crate::runbooks::loader::load_shipped(pool).await.expect("the shipped runbooks load");
}

/// Starts `slug` on a new incident as a commander; returns (incident number, run id).
pub(super) async fn start_on_incident(pool: &PgPool, commander: &Browser, slug: &str) -> (i64, Uuid) {
    let incident = testing::builders::incident("API pods crash-looping").declare(pool).await;
    let mut tx = pool.begin().await.expect("begin");
    let id = crate::runbooks::service::start_run(
        &mut tx,
        &testing::actor(&commander.user),
        commander.user.role,
        slug,
        Subject::Incident(incident.id),
    )
    .await
    .expect("started");
    tx.commit().await.expect("commit");
    (incident.number.get(), id)
}

/// The current version of step `key` of run `id`.
pub(super) async fn step_version(pool: &PgPool, id: Uuid, key: &str) -> i32 {
    crate::db::runbook_runs::steps(pool, id)
        .await
        .expect("steps")
        .into_iter()
        .find(|s| s.key.as_str() == key)
        .map(|s| s.version)
        .expect("the step exists")
}
