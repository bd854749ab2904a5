//! Housekeeping: removes expired sessions and sign-in counters nobody has touched for a day.

use std::time::Duration;

use sqlx::PgPool;

use super::{BoxFuture, NextPass, Worker};

/// How often expired sessions and old throttle counters are removed.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Deletes expired sessions and stale sign-in counters.
pub struct Housekeeping {
    pub pool: PgPool,
    pub idle_timeout: Duration,
}

impl Housekeeping {
    /// One pass; returns (sessions, counters) removed.
    pub async fn sweep(&self) -> Result<(u64, u64), sqlx::Error> {
        let idle = i64::try_from(self.idle_timeout.as_secs()).unwrap_or(i64::MAX);
        let sessions = crate::db::sessions::delete_expired(&self.pool, idle).await?;
        let counters = crate::db::throttle::delete_stale(&self.pool).await?;
        // Known devices unused for half a year are forgotten with the counters.
        let devices = crate::db::devices::delete_stale(&self.pool).await?;
        Ok((sessions, counters + devices))
    }
}

impl Worker for Housekeeping {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            let (sessions, counters) = self.sweep().await?;
            if sessions + counters > 0 {
                tracing::info!(sessions.removed = sessions, throttle.removed = counters, "housekeeping");
            }
            Ok(None)
        })
    }
}
