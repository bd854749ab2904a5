//! The state every handler and worker shares, and the narrow views handlers extract from it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::config::Config;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub lifecycle: Arc<Lifecycle>,
    /// The Kubernetes cluster for on-demand reads (pod logs), found at first use; the overview's
    /// snapshot worker holds its own handle.
    pub cluster: Arc<tokio::sync::OnceCell<Arc<dyn twisterlab_k8s::Cluster>>>,
    /// Who is on call, for the page header; the process-wide cache the refresh worker keeps current.
    pub oncall: Arc<crate::oncall::OnCallCache>,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config, db_location: String) -> Self {
        Self {
            pool,
            config: Arc::new(config),
            lifecycle: Arc::new(Lifecycle::new(db_location)),
            cluster: Arc::new(tokio::sync::OnceCell::new()),
            oncall: crate::oncall::OnCallCache::global(),
        }
    }

    /// Uses `cluster` instead of the one the configuration names (tests, tools).
    pub fn with_cluster(self, cluster: Arc<dyn twisterlab_k8s::Cluster>) -> Self {
        Self { cluster: Arc::new(tokio::sync::OnceCell::new_with(Some(cluster))), ..self }
    }

    /// The Kubernetes cluster the configuration names (or an unconfigured one saying why).
    pub async fn cluster(&self) -> Arc<dyn twisterlab_k8s::Cluster> {
        self.cluster.get_or_init(|| crate::overview::cluster::connect(&self.config)).await.clone()
    }
}

/// Process facts for the portal's own health endpoints.
#[derive(Debug)]
pub struct Lifecycle {
    pub started: Instant,
    /// Where the database is, password masked.
    pub db_location: String,
    shutting_down: AtomicBool,
}

impl Lifecycle {
    pub fn new(db_location: String) -> Self {
        Self { started: Instant::now(), db_location, shutting_down: AtomicBool::new(false) }
    }

    /// From now on `/readyz` answers 503, so load balancers stop sending new requests.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}
