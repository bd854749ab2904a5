//! The overview's background jobs: the probe scheduler, the key-metrics and Kubernetes
//! snapshots, and the daily roll-up with raw-result pruning. Each has a `run_once` tests call.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;
use twisterlab_k8s::Cluster;

use super::cluster::{self, KubeSnapshot};
use super::key_metrics::{self, KeyMetricSpec, MetricsSnapshot, Prometheus};
use super::scheduler::ProbeScheduler;
use super::{admin, snapshots, store};
use crate::config::Config;

/// How often the key metrics are read from Prometheus.
pub const METRICS_INTERVAL: Duration = Duration::from_secs(15);
/// How often the Kubernetes snapshot is refreshed.
pub const KUBE_INTERVAL: Duration = Duration::from_secs(15);
/// How often today's and yesterday's roll-ups are recomputed and old raw results pruned.
pub const ROLLUP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Days raw probe results are kept (more than two, so yesterday's roll-up is complete).
pub const RAW_RESULT_DAYS: i32 = 3;
/// Rows deleted per pruning statement.
const PRUNE_BATCH: i64 = 50_000;
/// A snapshot lease outlives a refresh by far: the adapter and Prometheus calls time out first.
const SNAPSHOT_LEASE: Duration = Duration::from_secs(60);

/// Reads the key metrics into the `key_metrics` snapshot.
pub struct KeyMetricsJob {
    pub pool: PgPool,
    pub prometheus: Option<Prometheus>,
    pub specs: Vec<KeyMetricSpec>,
    /// A snapshot younger than this is not refreshed (another process just did it).
    pub min_age: Duration,
}

impl KeyMetricsJob {
    pub fn new(pool: PgPool, config: &Config) -> Self {
        let prometheus = config.prometheus_url.as_deref().and_then(|url| match Prometheus::new(url) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the Prometheus client; key metrics stay unknown");
                None
            }
        });
        Self { pool, prometheus, specs: config.key_metrics.clone(), min_age: METRICS_INTERVAL / 2 }
    }

    /// One refresh; `Ok(None)` when another process holds it or it is fresh enough.
    pub async fn run_once(&self) -> Result<Option<MetricsSnapshot>, sqlx::Error> {
        if !snapshots::claim(&self.pool, snapshots::KEY_METRICS, self.min_age, SNAPSHOT_LEASE).await? {
            return Ok(None);
        }
        let snapshot = key_metrics::take_snapshot(self.prometheus.as_ref(), &self.specs).await;
        snapshots::save(&self.pool, snapshots::KEY_METRICS, &snapshot).await?;
        Ok(Some(snapshot))
    }
}

/// Refreshes the `kubernetes` snapshot through the adapter.
pub struct KubeSnapshotJob {
    pub pool: PgPool,
    pub cluster: Arc<dyn Cluster>,
    pub min_age: Duration,
}

impl KubeSnapshotJob {
    /// One refresh; `Ok(None)` when another process holds it or it is fresh enough.
    pub async fn run_once(&self) -> Result<Option<KubeSnapshot>, sqlx::Error> {
        if !snapshots::claim(&self.pool, snapshots::KUBERNETES, self.min_age, SNAPSHOT_LEASE).await? {
            return Ok(None);
        }
        let previous = snapshots::load::<KubeSnapshot>(&self.pool, snapshots::KUBERNETES).await?;
        let snapshot = cluster::take_snapshot(self.cluster.as_ref(), previous.as_ref().map(|(s, _)| s)).await;
        snapshots::save(&self.pool, snapshots::KUBERNETES, &snapshot).await?;
        Ok(Some(snapshot))
    }
}

/// Recomputes the daily roll-ups and prunes raw results past [`RAW_RESULT_DAYS`].
pub struct RollupJob {
    pub pool: PgPool,
}

impl RollupJob {
    /// Returns (roll-up rows written, raw results deleted).
    pub async fn run_once(&self) -> Result<(u64, u64), sqlx::Error> {
        let rolled = store::roll_up(&self.pool).await?;
        let mut pruned = 0;
        loop {
            let n = store::prune(&self.pool, RAW_RESULT_DAYS, PRUNE_BATCH).await?;
            pruned += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
        }
        Ok((rolled, pruned))
    }
}

/// Starts the overview's workers on `tasks`; each stops when `stop` turns true. The file's
/// `[[services]]` are reconciled into the database first.
pub fn spawn(tasks: &mut JoinSet<()>, pool: PgPool, config: &Config, stop: watch::Receiver<bool>) {
    let config = config.clone();
    let scheduler_stop = stop.clone();
    let scheduler_pool = pool.clone();
    let scheduler_config = config.clone();
    tasks.spawn(async move {
        if let Err(e) = admin::reconcile_file_services(&scheduler_pool, &scheduler_config.services).await {
            tracing::error!(error = %e, "cannot reconcile [[services]] from the configuration file; probing what is stored");
        }
        match ProbeScheduler::new(scheduler_pool, scheduler_config.probe_concurrency, scheduler_config.timezone.clone()) {
            Ok(scheduler) => scheduler.run(scheduler_stop).await,
            Err(e) => tracing::error!(error = %e, "cannot build the probe HTTP client; no probes run"),
        }
    });

    let metrics = Arc::new(KeyMetricsJob::new(pool.clone(), &config));
    tasks.spawn(every(METRICS_INTERVAL, stop.clone(), "key_metrics", move || {
        let job = metrics.clone();
        async move {
            if let Err(e) = job.run_once().await {
                tracing::warn!(error = %e, "key metrics snapshot not stored; retrying next interval");
            }
        }
    }));

    let kube_pool = pool.clone();
    let kube_stop = stop.clone();
    let kube_config = config.clone();
    tasks.spawn(async move {
        let job = Arc::new(KubeSnapshotJob {
            pool: kube_pool,
            cluster: cluster::connect(&kube_config).await,
            min_age: KUBE_INTERVAL / 2,
        });
        every(KUBE_INTERVAL, kube_stop, "kubernetes_snapshot", move || {
            let job = job.clone();
            async move {
                if let Err(e) = job.run_once().await {
                    tracing::warn!(error = %e, "Kubernetes snapshot not stored; retrying next interval");
                }
            }
        })
        .await;
    });

    let rollup = Arc::new(RollupJob { pool });
    tasks.spawn(every(ROLLUP_INTERVAL, stop, "probe_rollup", move || {
        let job = rollup.clone();
        async move {
            match job.run_once().await {
                Ok((_, pruned)) if pruned > 0 => {
                    tracing::info!(probe_results.pruned = pruned, "probe results pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "probe roll-up failed; retrying next interval"),
            }
        }
    }));
}

/// Runs `job` every `interval` until `stop` turns true.
async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, name: &'static str, job: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => job().await,
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
    }
    tracing::debug!(worker = name, "stopped");
}
