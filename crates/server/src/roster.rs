//! Who is on call now, for every internal page's header: the rotations as last read from the
//! database, held in memory (one per process, in `AppState`) so pages never query for them.
//! The on-call refresh worker keeps it current.

use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use sqlx::PgPool;

use crate::db::oncall::{self, Team};
use crate::web::page::OnCallLine;

/// The rotations as last read; cheap to read from every request.
#[derive(Default)]
pub struct OnCallCache {
    team: RwLock<Option<Arc<Team>>>,
}

impl OnCallCache {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Replaces what the header shows.
    pub(crate) fn store(&self, team: Team) {
        if let Ok(mut slot) = self.team.write() {
            *slot = Some(Arc::new(team));
        }
    }

    /// Who is on call at `t`, as the header shows it; `None` until the first load.
    pub(crate) fn header(&self, t: Timestamp) -> Option<OnCallLine> {
        let team = self.team.read().ok()?.clone()?;
        let now = team.at(t);
        Some(OnCallLine {
            primary: now.primary().map(|p| p.name.clone()),
            secondary: now.secondary().map(|p| p.name.clone()),
            manager: now.manager().map(|p| p.name.clone()),
        })
    }

    /// Reloads from the database.
    pub(crate) async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let team = oncall::team(&mut conn, Timestamp::now()).await?;
        self.store(team);
        Ok(())
    }
}
