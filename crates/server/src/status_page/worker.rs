//! Keeps the status cache fresh: listens on `twisterlab_status`, rebuilds shortly after each
//! burst of notifications, rebuilds after every (re)connection (notifications may have been
//! missed) and every minute as a safety net.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::time::Instant;

use super::cache::{RebuildError, StatusCache, cache_for};
use crate::config::Config;

/// The channel `incidents::service::notify_status_change` notifies.
pub const CHANNEL: &str = "twisterlab_status";

/// How long after a notification the rebuild starts, collecting the rest of a burst.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Rebuild at least this often, so relative times and the uptime days move on.
pub const SAFETY_INTERVAL: Duration = Duration::from_secs(60);

/// Wait between attempts to reconnect the listener, doubling up to the maximum.
pub const RECONNECT_MIN: Duration = Duration::from_millis(500);
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// The status page worker of one process.
pub struct StatusPageWorker {
    pub cache: Arc<StatusCache>,
    /// A one-connection pool of its own, so listening never takes a request's connection.
    listen_pool: PgPool,
}

impl StatusPageWorker {
    pub fn new(pool: &PgPool, config: &Config) -> Self {
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(RECONNECT_MAX)
            .connect_lazy_with((*pool.connect_options()).clone());
        Self { cache: cache_for(pool, config), listen_pool }
    }

    /// One rebuild of every document (what a notification triggers).
    pub async fn run_once(&self) -> Result<(), RebuildError> {
        self.cache.rebuild().await
    }

    async fn rebuild(&self) {
        // Failures are logged by the cache, which keeps serving the last good documents.
        let _ = self.run_once().await;
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.listen_pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = RECONNECT_MIN;
        'connect: loop {
            if *stop.borrow() {
                break;
            }
            let mut listener = match self.listen().await {
                Ok(listener) => {
                    backoff = RECONNECT_MIN;
                    listener
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "status page: cannot listen for changes; retrying");
                    self.rebuild().await;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    continue;
                }
            };
            // Listening before building: nothing committed after this build can be missed.
            self.rebuild().await;
            let mut safety = tokio::time::interval_at(Instant::now() + SAFETY_INTERVAL, SAFETY_INTERVAL);
            safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut due: Option<Instant> = None;
            loop {
                let wait = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    changed = stop.changed() => if changed.is_err() || *stop.borrow() { break 'connect },
                    () = wait => {
                        due = None;
                        tracing::debug!("status page: rebuilding after notifications");
                        self.rebuild().await;
                    }
                    _ = safety.tick() => self.rebuild().await,
                    received = listener.try_recv() => match received {
                        Ok(Some(_)) => {
                            tracing::debug!(pending = due.is_some(), "status page: change notified");
                            due.get_or_insert(Instant::now() + DEBOUNCE);
                        }
                        // The connection dropped and was re-established: changes may have
                        // happened meanwhile.
                        Ok(None) => {
                            tracing::info!("status page: the listener reconnected; rebuilding");
                            due = Some(Instant::now());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "status page: lost the database listener; reconnecting");
                            self.rebuild().await;
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = stop.changed() => break 'connect,
                            }
                            continue 'connect;
                        }
                    },
                }
            }
        }
        self.listen_pool.close().await;
        tracing::debug!(worker = "status_page", "stopped");
    }
}
