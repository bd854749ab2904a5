//! On call: the responders' and managers' rotations with their overrides (admin-edited,
//! audited), the `/oncall` page with the next four weeks, and the process-wide cache behind the
//! "who is on call now" line in every internal page's header.

pub mod pages;
pub mod store;
#[cfg(test)]
mod tests;

use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::watch;
use twisterlab_domain::role::Role;

use crate::auth::{Access, Routes};
use store::Team;

/// `NOTIFY` channel announcing a rotation or override change to every process.
pub const NOTIFY_CHANNEL: &str = "twisterlab_oncall";
/// How often the header cache is reloaded even without a notification.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Every on-call route.
pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/oncall", Access::Role(Role::Viewer), pages::show_oncall)
        .get("/oncall/rotations/{kind}", admin, pages::edit_rotation)
        .post("/oncall/rotations/{kind}", admin, pages::save_rotation)
        .post("/oncall/rotations/{kind}/overrides", admin, pages::add_override)
        .post("/oncall/overrides/{id}/delete", admin, pages::delete_override)
}

/// Who is on call, as the page header shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnCallNow {
    pub primary: Option<String>,
    pub secondary: Option<String>,
    pub manager: Option<String>,
}

impl OnCallNow {
    /// The names on call in `team` at `t`.
    pub fn of(team: &Team, t: Timestamp) -> Self {
        let now = team.at(t);
        Self {
            primary: now.primary().map(|p| p.name.clone()),
            secondary: now.secondary().map(|p| p.name.clone()),
            manager: now.manager().map(|p| p.name.clone()),
        }
    }

    /// Whether anyone at all is on call (else the header invites to set up a rotation).
    pub fn anyone(&self) -> bool {
        self.primary.is_some() || self.manager.is_some()
    }
}

/// The rotations as last read from the database, shared by every request of the process; pages
/// compute who is on call from it without a query.
#[derive(Default)]
pub struct OnCallCache {
    team: RwLock<Option<Arc<Team>>>,
}

impl OnCallCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's cache, which the refresh worker keeps current.
    pub fn global() -> Arc<OnCallCache> {
        static GLOBAL: LazyLock<Arc<OnCallCache>> = LazyLock::new(|| Arc::new(OnCallCache::new()));
        GLOBAL.clone()
    }

    pub fn store(&self, team: Team) {
        if let Ok(mut slot) = self.team.write() {
            *slot = Some(Arc::new(team));
        }
    }

    /// Who is on call at `t`; `None` until the first load.
    pub fn header(&self, t: Timestamp) -> Option<OnCallNow> {
        let team = self.team.read().ok()?.clone()?;
        Some(OnCallNow::of(&team, t))
    }

    /// Reloads from the database.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let team = store::team(&mut conn, OffsetDateTime::now_utc()).await?;
        self.store(team);
        Ok(())
    }
}

/// Keeps an [`OnCallCache`] current: every [`REFRESH_INTERVAL`] and on `NOTIFY twisterlab_oncall`.
pub struct OnCallRefresh {
    pub pool: PgPool,
    pub cache: Arc<OnCallCache>,
}

impl OnCallRefresh {
    pub async fn run_once(&self) -> Result<(), sqlx::Error> {
        self.cache.refresh(&self.pool).await
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut wake = crate::escalation::wake::Wakeup::new(self.pool.clone(), NOTIFY_CHANNEL);
        loop {
            if let Err(e) = self.run_once().await {
                tracing::warn!(error = %e, "cannot reload the on-call rotations; the header keeps the last ones");
            }
            tokio::select! {
                _ = wake.wait(REFRESH_INTERVAL) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
        }
        tracing::debug!(worker = "on-call cache", "stopped");
    }
}

/// Starts the refresh worker for the process-wide cache.
pub fn spawn_refresh(tasks: &mut tokio::task::JoinSet<()>, pool: &PgPool, stop: &watch::Receiver<bool>) {
    let job = OnCallRefresh { pool: pool.clone(), cache: OnCallCache::global() };
    tasks.spawn(job.run(stop.clone()));
}
