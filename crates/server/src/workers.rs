//! Background jobs, each a struct with a `run_once` that tests call directly, supervised here.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;

/// How often expired sessions and old throttle counters are removed.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Deletes expired sessions and sign-in counters nobody has touched for a day.
pub struct Housekeeping {
    pub pool: PgPool,
    pub idle_timeout: Duration,
}

impl Housekeeping {
    /// One pass; returns (sessions, counters) removed.
    pub async fn run_once(&self) -> Result<(u64, u64), sqlx::Error> {
        let idle = i64::try_from(self.idle_timeout.as_secs()).unwrap_or(i64::MAX);
        let sessions = crate::db::sessions::delete_expired(&self.pool, idle).await?;
        let counters = sqlx::query(
            "delete from sign_in_throttle where last_failure_at < now() - interval '1 day' and (locked_until is null or locked_until < now())",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok((sessions, counters))
    }
}

/// The running workers.
pub struct Workers {
    tasks: JoinSet<()>,
}

impl Workers {
    /// Waits for every worker to notice the stop signal and finish its current pass.
    pub async fn stop(mut self) {
        while let Some(result) = self.tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a worker panicked");
            }
        }
    }
}

/// Starts every worker; each stops when `stop` turns true.
pub fn spawn_all(pool: PgPool, config: Config, stop: watch::Receiver<bool>) -> Workers {
    let mut tasks = JoinSet::new();
    crate::escalation::spawn_workers(&mut tasks, &pool, &config, &stop);
    crate::oncall::spawn_refresh(&mut tasks, &pool, &stop);
    let (pool_for_overview, stop_for_overview) = (pool.clone(), stop.clone());
    tasks.spawn(crate::status_page::worker::StatusPageWorker::new(&pool, &config).run(stop.clone()));
    let housekeeping = Housekeeping { pool, idle_timeout: config.session_idle_timeout };
    tasks.spawn(every(HOUSEKEEPING_INTERVAL, stop, "housekeeping", move || {
        let job = Housekeeping { pool: housekeeping.pool.clone(), idle_timeout: housekeeping.idle_timeout };
        async move {
            match job.run_once().await {
                Ok((sessions, counters)) if sessions + counters > 0 => {
                    tracing::info!(sessions.removed = sessions, throttle.removed = counters, "housekeeping")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; retrying next interval"),
            }
        }
    }));
    crate::overview::jobs::spawn(&mut tasks, pool_for_overview, &config, stop_for_overview);
    Workers { tasks }
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
