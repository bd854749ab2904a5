//! Keeps the status cache fresh: a row of the worker table woken by `twisterlab_status`, which
//! rebuilds shortly after each burst of notifications, after every (re)connection of its
//! listener (notifications may have been missed) and every minute as a safety net.

use std::sync::Arc;
use std::time::Duration;

use super::cache::{RebuildError, StatusCache};
use crate::workers::{BoxFuture, NextPass, Worker};

/// The channel status-relevant changes notify (`db::status::notify`).
pub(crate) use crate::db::status::CHANNEL;

/// How long after a notification the rebuild starts, collecting the rest of a burst: every
/// change within this window is folded into one rebuild (the issue asks for 100–200 ms). With
/// one worker per process and the cache's build lock, at most one rebuild is in flight, and a
/// change is on the page within this window plus one rebuild (well inside the 1 s freshness).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Rebuild at least this often, so relative times and the uptime days move on.
pub const SAFETY_INTERVAL: Duration = Duration::from_secs(60);

/// Wait before another rebuild after a failed one (the database is down or slow).
pub const RETRY: Duration = Duration::from_secs(1);

/// The status page worker of one process: rebuilds the cache it shares with the pages.
pub struct StatusPageWorker {
    pub cache: Arc<StatusCache>,
}

impl StatusPageWorker {
    /// One rebuild of every document (what a notification triggers). A failure is logged by
    /// the cache, which keeps serving the last good documents with a "may be out of date" note.
    pub async fn run_once(&self) -> Result<(), RebuildError> {
        self.cache.rebuild().await
    }
}

impl Worker for StatusPageWorker {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            match StatusPageWorker::run_once(self).await {
                Ok(()) => Ok(None),
                // Already logged by the cache; try again soon rather than at the next interval.
                Err(_) => Ok(Some(RETRY)),
            }
        })
    }
}
