//! Background work. Every worker is one row of [`table`]: a name, a cadence and a job whose
//! `run_once` is one idempotent pass (tests call it directly). `serve` spawns every row the
//! same way and supervises it: a worker that returns or panics while the portal is running is
//! logged by name and restarted after a backoff (1 s, doubling to 1 min), because an
//! escalation worker that silently stopped would page nobody.
//!
//! Workers that listen for `NOTIFY` do so on a small pool of their own, so listening never
//! holds a connection that requests need.

pub mod housekeeping;
pub mod wake;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::state::AppState;
use wake::Wakeup;

/// A boxed future, so the [`Worker`] trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one pass returns: `Some(d)` when the next pass is due within `d`, sooner than the
/// cadence's interval (a deadline coming up, a retry).
pub type NextPass = Option<Duration>;

/// The stop signal every worker watches; it turns `true` once, at shutdown.
pub type Stop = watch::Receiver<bool>;

/// When a worker's passes run.
#[derive(Clone, Copy, Debug)]
pub enum Cadence {
    /// A pass every `interval` (or sooner when a pass asks).
    Every(Duration),
    /// A pass after each `NOTIFY` on `channel`, with the notifications that arrive within
    /// `coalesce` folded into the same pass, and at least every `interval`.
    Notified { channel: &'static str, interval: Duration, coalesce: Duration },
}

impl Cadence {
    /// The longest time between two passes.
    pub fn interval(self) -> Duration {
        match self {
            Cadence::Every(interval) | Cadence::Notified { interval, .. } => interval,
        }
    }
}

/// A background job.
pub trait Worker: Send + Sync + 'static {
    /// One idempotent pass, safe to run on several replicas at once.
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>>;

    /// Runs until `stop` turns true. The default runs [`Worker::run_once`] by the cadence;
    /// workers that keep work in flight between passes (probes, deliveries) override it.
    fn run(
        self: Arc<Self>,
        name: &'static str,
        cadence: Cadence,
        listen: PgPool,
        stop: Stop,
    ) -> BoxFuture<'static, ()> {
        Box::pin(drive(self, name, cadence, listen, stop))
    }
}

/// One row of the table.
pub struct WorkerRow {
    pub name: &'static str,
    pub cadence: Cadence,
    pub worker: Arc<dyn Worker>,
}

/// A row for `worker`.
pub fn row(name: &'static str, cadence: Cadence, worker: impl Worker) -> WorkerRow {
    WorkerRow { name, cadence, worker: Arc::new(worker) }
}

/// Every worker of the portal, built from the shared state.
pub fn table(state: &AppState) -> anyhow::Result<Vec<WorkerRow>> {
    use crate::escalation::{deadlines, outbox};
    use crate::overview::{jobs, scheduler};
    let pool = &state.pool;
    let config = &state.config;
    Ok(vec![
        row(
            "escalation_deadlines",
            Cadence::Notified {
                channel: deadlines::NOTIFY_CHANNEL,
                interval: deadlines::MAX_SLEEP,
                coalesce: Duration::ZERO,
            },
            deadlines::DeadlineWorker::new(pool.clone()),
        ),
        row(
            "notification_delivery",
            Cadence::Notified {
                channel: outbox::NOTIFY_CHANNEL,
                interval: outbox::IDLE_CHECK,
                coalesce: Duration::ZERO,
            },
            outbox::DeliveryWorker::new(pool.clone(), config, outbox::DeliveryPolicy::default()),
        ),
        row(
            "oncall_cache",
            Cadence::Notified {
                channel: crate::oncall::NOTIFY_CHANNEL,
                interval: crate::oncall::REFRESH_INTERVAL,
                coalesce: Duration::ZERO,
            },
            crate::oncall::OnCallRefresh { pool: pool.clone(), cache: state.oncall.clone() },
        ),
        row(
            "status_page",
            Cadence::Notified {
                channel: crate::status_page::worker::CHANNEL,
                interval: crate::status_page::worker::SAFETY_INTERVAL,
                coalesce: crate::status_page::worker::DEBOUNCE,
            },
            crate::status_page::worker::StatusPageWorker { cache: state.status.clone() },
        ),
        row(
            "probe_scheduler",
            Cadence::Every(scheduler::TICK),
            scheduler::ProbeScheduler::new(pool.clone(), config.probe_concurrency, config.timezone.clone())
                .map_err(|e| anyhow::anyhow!("cannot build the probe HTTP client: {e}"))?
                .including_demo(state.demo.is_some()),
        ),
        row(
            "key_metrics",
            Cadence::Every(jobs::METRICS_INTERVAL),
            jobs::KeyMetricsJob::new(pool.clone(), config),
        ),
        row(
            "kubernetes_snapshot",
            Cadence::Every(jobs::KUBE_INTERVAL),
            jobs::KubeSnapshotJob {
                pool: pool.clone(),
                cluster: state.cluster.clone(),
                min_age: jobs::KUBE_INTERVAL / 2,
            },
        ),
        row("probe_rollup", Cadence::Every(jobs::ROLLUP_INTERVAL), jobs::RollupJob { pool: pool.clone() }),
        row(
            "maintenance_tasks",
            Cadence::Every(crate::maintenance::tasks::INTERVAL),
            crate::maintenance::tasks::TaskWorker { pool: pool.clone(), zone: config.timezone.clone() },
        ),
        row(
            "metric_readings_prune",
            Cadence::Every(jobs::READING_PRUNE_INTERVAL),
            jobs::ReadingPruneJob { pool: pool.clone() },
        ),
        row(
            "metrics_upkeep",
            Cadence::Every(crate::web::metrics::UPKEEP_INTERVAL),
            crate::web::metrics::UpkeepJob,
        ),
        row(
            "housekeeping",
            Cadence::Every(housekeeping::INTERVAL),
            housekeeping::Housekeeping { pool: pool.clone(), idle_timeout: config.session_idle_timeout },
        ),
    ])
}

/// The default loop: a pass, then wait for the next one (the pass's request, the cadence's
/// interval or a notification), until stopped. A failed pass is logged and retried at the
/// next one.
async fn drive<W: Worker + ?Sized>(
    worker: Arc<W>,
    name: &'static str,
    cadence: Cadence,
    listen: PgPool,
    mut stop: Stop,
) {
    let mut wake = match cadence {
        Cadence::Notified { channel, .. } => Some(Wakeup::new(listen, channel)),
        Cadence::Every(_) => None,
    };
    loop {
        let next = match worker.run_once().await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(worker = name, error = format!("{e:#}"), "worker pass failed; retrying");
                Some(Duration::from_secs(1))
            }
        };
        let wait = next.unwrap_or(cadence.interval()).min(cadence.interval());
        let waited = async {
            match (&mut wake, cadence) {
                (Some(wake), Cadence::Notified { coalesce, .. }) => {
                    if wake.wait(wait).await && !coalesce.is_zero() {
                        wake.absorb(coalesce).await;
                    }
                }
                _ => tokio::time::sleep(wait).await,
            }
        };
        tokio::select! {
            () = waited => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
    }
    tracing::debug!(worker = name, "stopped");
}

/// The running workers.
pub struct Workers {
    supervisor: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Waits for every worker to notice the stop signal and finish its current pass.
    pub async fn stop(self) {
        if let Err(e) = self.supervisor.await {
            tracing::error!(error = %e, "the worker supervisor failed");
        }
    }
}

/// First wait before restarting a worker that stopped, doubled on each further stop.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);
/// A worker that ran this long before stopping starts again from [`RESTART_MIN`].
const RESTART_RESET: Duration = Duration::from_secs(600);

/// A pool for `LISTEN` connections beside `pool`, with room for `listeners` of them.
fn listen_pool(pool: &PgPool, listeners: usize) -> PgPool {
    PgPoolOptions::new()
        .max_connections(u32::try_from(listeners.max(1)).unwrap_or(4))
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// Starts every row and supervises them until `stop` turns true.
pub fn spawn_all(rows: Vec<WorkerRow>, pool: &PgPool, stop: Stop) -> Workers {
    let notified = rows.iter().filter(|r| matches!(r.cadence, Cadence::Notified { .. })).count();
    let listen = listen_pool(pool, notified);
    Workers { supervisor: tokio::spawn(supervise(rows, listen, stop)) }
}

/// Runs one worker by its cadence until `stop` turns true, unsupervised (tests).
#[cfg(test)]
pub fn spawn_one(row: WorkerRow, pool: &PgPool, stop: Stop) -> tokio::task::JoinHandle<()> {
    let WorkerRow { name, cadence, worker } = row;
    tokio::spawn(worker.run(name, cadence, listen_pool(pool, 1), stop))
}

struct Running {
    row: usize,
    started: Instant,
    backoff: Duration,
}

async fn supervise(rows: Vec<WorkerRow>, listen: PgPool, stop: Stop) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Running> = HashMap::new();
    let start = |tasks: &mut JoinSet<()>, i: usize, backoff: Duration, delay: Duration, stop: &Stop| {
        let WorkerRow { name, cadence, worker } = &rows[i];
        let run = worker.clone().run(name, *cadence, listen.clone(), stop.clone());
        let mut stop = stop.clone();
        let handle = tasks.spawn(async move {
            if !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
            }
            run.await;
        });
        (handle.id(), Running { row: i, started: Instant::now() + delay, backoff })
    };
    for i in 0..rows.len() {
        let (id, r) = start(&mut tasks, i, RESTART_MIN, Duration::ZERO, &stop);
        running.insert(id, r);
    }
    tracing::info!(workers = rows.len(), "background workers started");
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, outcome) = match joined {
            Ok((id, ())) => (id, "returned".to_owned()),
            Err(e) => (e.id(), if e.is_panic() { "panicked".to_owned() } else { e.to_string() }),
        };
        let Some(ended) = running.remove(&id) else { continue };
        if *stop.borrow() {
            continue;
        }
        let name = rows[ended.row].name;
        let backoff = if ended.started.elapsed() > RESTART_RESET { RESTART_MIN } else { ended.backoff };
        tracing::error!(
            worker = name,
            outcome,
            restart_in_s = backoff.as_secs(),
            "a worker stopped while the portal runs; restarting it"
        );
        let (id, r) = start(&mut tasks, ended.row, (backoff * 2).min(RESTART_MAX), backoff, &stop);
        running.insert(id, r);
    }
    listen.close().await;
}
