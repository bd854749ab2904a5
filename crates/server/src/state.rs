//! The state every handler and worker shares, and the narrow views handlers extract from it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::cluster::ClusterHandle;
use crate::config::Config;
use crate::roster::OnCallCache;
use crate::status_page::cache::{Settings, StatusCache};
use crate::target_db::TargetDb;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub lifecycle: Arc<Lifecycle>,
    /// The Kubernetes cluster, connected at first use; pages and the snapshot worker share it.
    pub cluster: ClusterHandle,
    /// Who is on call, for the page header; the refresh worker keeps it current.
    pub oncall: Arc<OnCallCache>,
    /// The public status documents; the status page worker rebuilds them.
    pub status: Arc<StatusCache>,
    /// The monitored TwisterLab database for the runbooks' diagnostics (connected at first use);
    /// `None` without `TWISTERLAB_TARGET_DATABASE_URL`.
    pub(crate) target_db: Option<TargetDb>,
    /// The argon2 threads and their bounded queue (sign-in answers 429 when it is full).
    pub hasher: crate::auth::password::Hasher,
    /// Request durations for `/metrics`, counted into fixed buckets.
    pub http_metrics: Arc<crate::web::metrics::HttpMetrics>,
    /// The simulated services of `serve --demo`; `None` (no demo panel, demo services never
    /// probed) otherwise.
    pub(crate) demo: Option<Arc<crate::demo::Simulated>>,
}

impl AppState {
    /// Builds everything the process shares, once.
    pub fn new(pool: PgPool, config: Config, db_location: String) -> Self {
        let config = Arc::new(config);
        let status = Arc::new(StatusCache::new(pool.clone(), Settings::from_config(&config)));
        Self {
            target_db: config.target_database_url.as_ref().map(TargetDb::new),
            cluster: ClusterHandle::new(config.clone()),
            oncall: Arc::new(OnCallCache::new()),
            status,
            lifecycle: Arc::new(Lifecycle::new(db_location)),
            config,
            pool,
            hasher: crate::auth::password::Hasher::shared(),
            http_metrics: Arc::new(crate::web::metrics::HttpMetrics::new()),
            demo: None,
        }
    }

    /// Demo mode (`serve --demo`) over `simulated`.
    pub(crate) fn with_demo(self, simulated: crate::demo::Simulated) -> Self {
        Self { demo: Some(Arc::new(simulated)), ..self }
    }

    /// Uses `hasher` instead of the process's shared hashing threads (tests of a full queue).
    pub fn with_hasher(self, hasher: crate::auth::password::Hasher) -> Self {
        Self { hasher, ..self }
    }

    /// Uses `cluster` instead of the one the configuration names (tests, tools).
    pub fn with_cluster(self, cluster: Arc<dyn twisterlab_k8s::Cluster>) -> Self {
        Self { cluster: ClusterHandle::fixed(cluster, self.config.clone()), ..self }
    }

    /// The Kubernetes cluster the configuration names (or an unconfigured one saying why).
    pub async fn cluster(&self) -> Arc<dyn twisterlab_k8s::Cluster> {
        self.cluster.get().await
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
