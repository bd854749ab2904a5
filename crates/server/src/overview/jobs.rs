//! The overview's background jobs: the probe scheduler, the key-metrics and Kubernetes
//! snapshots, and the daily roll-up with raw-result pruning. Each is a row of the worker table
//! (`crate::workers`) with a `run_once` tests call.

use std::time::Duration;

use sqlx::PgPool;

use super::cluster::{self, KubeSnapshot};
use super::key_metrics::{self, KeyMetricSpec, MetricsSnapshot, Prometheus};
use super::{snapshots, store};
use crate::cluster::ClusterHandle;
use crate::config::Config;
use crate::workers::{BoxFuture, NextPass, Worker};

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
    pub cluster: ClusterHandle,
    pub min_age: Duration,
}

impl KubeSnapshotJob {
    /// One refresh; `Ok(None)` when another process holds it or it is fresh enough.
    pub async fn run_once(&self) -> Result<Option<KubeSnapshot>, sqlx::Error> {
        if !snapshots::claim(&self.pool, snapshots::KUBERNETES, self.min_age, SNAPSHOT_LEASE).await? {
            return Ok(None);
        }
        let previous = snapshots::load::<KubeSnapshot>(&self.pool, snapshots::KUBERNETES).await?;
        let cluster = self.cluster.get().await;
        let snapshot = cluster::take_snapshot(cluster.as_ref(), previous.as_ref().map(|(s, _)| s)).await;
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

impl Worker for KeyMetricsJob {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            KeyMetricsJob::run_once(self).await?;
            Ok(None)
        })
    }
}

impl Worker for KubeSnapshotJob {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            KubeSnapshotJob::run_once(self).await?;
            Ok(None)
        })
    }
}

impl Worker for RollupJob {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            let (_, pruned) = RollupJob::run_once(self).await?;
            if pruned > 0 {
                tracing::info!(probe_results.pruned = pruned, "probe results pruned");
            }
            Ok(None)
        })
    }
}
