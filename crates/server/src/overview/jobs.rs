//! The overview's periodic jobs besides the probe scheduler (`super::scheduler`): the
//! key-metrics and Kubernetes snapshots, and the daily roll-up with raw-result pruning. Each is
//! a row of the worker table (`crate::workers::table`) with a `run_once` that tests call.
//!
//! A snapshot refresh is leased in `health_snapshots` (see [`refresh`]): with several portal
//! processes, one of them refreshes and the others skip the round.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use super::cluster::{self, KubeSnapshot};
use super::key_metrics::{self, KeyMetricSpec, MetricsSnapshot, Prometheus};
use crate::cluster::ClusterHandle;
use crate::config::Config;
use crate::db::health_snapshots::{self, SnapshotKind};
use crate::db::probe_results;
use crate::workers::{BoxFuture, NextPass, Worker};

/// How often the key metrics are read from Prometheus.
pub(crate) const METRICS_INTERVAL: Duration = Duration::from_secs(15);
/// How often the Kubernetes snapshot is refreshed.
pub(crate) const KUBE_INTERVAL: Duration = Duration::from_secs(15);
/// How often today's and yesterday's roll-ups are recomputed and old raw results pruned.
pub(crate) const ROLLUP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Days raw probe results are kept (more than two, so yesterday's roll-up is complete).
pub(crate) const RAW_RESULT_DAYS: i32 = 3;
/// Rows deleted per pruning statement.
const PRUNE_BATCH: i64 = 50_000;
/// A snapshot lease outlives a refresh by far: the adapter and Prometheus calls time out first.
const SNAPSHOT_LEASE: Duration = Duration::from_secs(60);

/// One leased refresh of the snapshot `kind`: `Ok(None)` when another process holds the lease
/// or the snapshot is younger than `min_age`; otherwise takes it with `take` and stores it.
async fn refresh<T, F>(
    pool: &PgPool,
    kind: SnapshotKind,
    min_age: Duration,
    take: F,
) -> Result<Option<T>, sqlx::Error>
where
    T: Serialize,
    F: Future<Output = Result<T, sqlx::Error>>,
{
    if !health_snapshots::claim(pool, kind, min_age, SNAPSHOT_LEASE).await? {
        return Ok(None);
    }
    let snapshot = take.await?;
    health_snapshots::save(pool, kind, &snapshot).await?;
    Ok(Some(snapshot))
}

/// Reads the key metrics into the `key_metrics` snapshot.
pub(crate) struct KeyMetricsJob {
    pub pool: PgPool,
    /// `None` without `TWISTERLAB_PROMETHEUS_URL`: every metric is unknown.
    pub prometheus: Option<Prometheus>,
    pub specs: Vec<KeyMetricSpec>,
    /// A snapshot younger than this is not refreshed (another process just did it).
    pub min_age: Duration,
    /// The team's zone (incident deadlines in business hours).
    pub zone: jiff::tz::TimeZone,
}

impl KeyMetricsJob {
    /// The job as the configuration sets it up.
    pub(crate) fn new(pool: PgPool, config: &Config) -> Self {
        let prometheus = config.prometheus_url.as_deref().and_then(|url| match Prometheus::new(url) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the Prometheus client; key metrics stay unknown");
                None
            }
        });
        Self {
            pool,
            prometheus,
            specs: config.key_metrics.clone(),
            min_age: METRICS_INTERVAL / 2,
            zone: config.timezone.clone(),
        }
    }

    /// One refresh; `Ok(None)` when another process holds it or it is fresh enough.
    /// The process that refreshes also stores each read and steps each metric's signal
    /// (`signals::on_metric_read`).
    pub(crate) async fn run_once(&self) -> Result<Option<MetricsSnapshot>, sqlx::Error> {
        let taken = refresh(&self.pool, SnapshotKind::KeyMetrics, self.min_age, async {
            Ok(key_metrics::take_snapshot(self.prometheus.as_ref(), &self.specs).await)
        })
        .await?;
        if let Some(snapshot) = &taken {
            for (spec, reading) in self.specs.iter().zip(&snapshot.readings) {
                if let Err(e) = super::signals::on_metric_read(&self.pool, &self.zone, spec, reading).await {
                    tracing::warn!(metric = %spec.name, error = %crate::telemetry::error_chain(&e), "key metric signal not recorded");
                }
            }
        }
        Ok(taken)
    }
}

/// Refreshes the `kubernetes` snapshot through the adapter.
pub(crate) struct KubeSnapshotJob {
    pub pool: PgPool,
    pub cluster: ClusterHandle,
    /// A snapshot younger than this is not refreshed (another process just did it).
    pub min_age: Duration,
}

impl KubeSnapshotJob {
    /// One refresh, merged into the previous snapshot (a failed call keeps the older data);
    /// `Ok(None)` when another process holds it or it is fresh enough.
    pub(crate) async fn run_once(&self) -> Result<Option<KubeSnapshot>, sqlx::Error> {
        refresh(&self.pool, SnapshotKind::Kubernetes, self.min_age, async {
            let previous =
                health_snapshots::load::<KubeSnapshot>(&self.pool, SnapshotKind::Kubernetes).await?;
            let cluster = self.cluster.get().await;
            Ok(cluster::take_snapshot(cluster.as_ref(), previous.as_ref().map(|(s, _)| s)).await)
        })
        .await
    }
}

/// Days key-metric readings are kept for the trend charts.
pub(crate) const READING_DAYS: i32 = 30;
/// How often old key-metric readings are pruned.
pub(crate) const READING_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Prunes key-metric readings older than [`READING_DAYS`].
pub(crate) struct ReadingPruneJob {
    pub pool: PgPool,
}

impl ReadingPruneJob {
    /// Returns the number of readings deleted.
    pub(crate) async fn run_once(&self) -> Result<u64, sqlx::Error> {
        let mut pruned = 0;
        loop {
            let n = crate::db::metric_signals::prune(&self.pool, READING_DAYS, PRUNE_BATCH).await?;
            pruned += n;
            if n < PRUNE_BATCH.unsigned_abs() {
                break;
            }
        }
        Ok(pruned)
    }
}

impl Worker for ReadingPruneJob {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            ReadingPruneJob::run_once(self).await?;
            Ok(None)
        })
    }
}

/// Recomputes the daily roll-ups and prunes raw results past [`RAW_RESULT_DAYS`].
pub(crate) struct RollupJob {
    pub pool: PgPool,
}

impl RollupJob {
    /// Returns (roll-up rows written, raw results deleted).
    pub(crate) async fn run_once(&self) -> Result<(u64, u64), sqlx::Error> {
        let rolled = probe_results::roll_up(&self.pool).await?;
        let mut pruned = 0;
        // In batches, so no statement holds locks on a large table for long.
        loop {
            let n = probe_results::prune(&self.pool, RAW_RESULT_DAYS, PRUNE_BATCH).await?;
            pruned += n;
            if n < PRUNE_BATCH.unsigned_abs() {
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
