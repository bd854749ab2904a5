//! The deadline engine (`escalation_deadlines`): each pending page, escalation and SLA check is
//! a row with `due_at`. Every process runs a [`DeadlineWorker`]; it takes due rows with
//! `FOR UPDATE SKIP LOCKED`, acts and marks them done in one transaction (so each fires exactly
//! once however many processes run), then sleeps until the next `due_at` or a
//! `NOTIFY twisterlab_deadlines` that announces a nearer one. A deadline whose action fails is
//! rolled back and stays pending, due again [`FAILED_RETRY`] later: it is retried, never
//! cancelled. The queries are in `db::deadlines`.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::PgPool;

use crate::db::deadlines::{self as store, Deadline};
use crate::workers::{BoxFuture, NextPass, Worker};

pub(crate) use crate::db::deadlines::NOTIFY_CHANNEL;

/// Longest sleep without a check, a safety net for a notification lost while reconnecting.
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(5);
/// Pause when due rows exist but other processes hold them (they are firing them right now,
/// or a process died mid-transaction and PostgreSQL has yet to notice).
pub(crate) const LOCKED_RETRY: Duration = Duration::from_millis(50);
/// How long a deadline that failed to fire waits before it is tried again.
pub(crate) const FAILED_RETRY: Duration = Duration::from_secs(30);

/// What acting on a due deadline decided, in the worker's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// It acted: timeline event and notifications written.
    Fired,
    /// Its condition no longer held (acknowledged, resolved, gone); nothing was sent.
    Cancelled(&'static str),
}

/// What taking a due deadline came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It acted and is done.
    Fired,
    /// Its condition no longer held; it is cancelled with this reason.
    Cancelled(&'static str),
    /// Acting failed and was rolled back: it stays pending, due again in `after`. Not a
    /// cancellation: the page or escalation still goes out.
    Retrying { after: Duration, error: String },
}

impl From<Action> for Outcome {
    fn from(action: Action) -> Self {
        match action {
            Action::Fired => Outcome::Fired,
            Action::Cancelled(reason) => Outcome::Cancelled(reason),
        }
    }
}

/// Fires due deadlines; see the module documentation.
pub(crate) struct DeadlineWorker {
    pub(crate) pool: PgPool,
    /// Recorded in `fired_by`: `host:pid` by default.
    pub(crate) label: String,
}

impl DeadlineWorker {
    pub(crate) fn new(pool: PgPool) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let host = if host.is_empty() { "localhost" } else { host };
        Self { pool, label: format!("{host}:{}", std::process::id()) }
    }

    /// Fires every deadline due now, each in its own transaction; returns how many were taken.
    pub(crate) async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let mut taken = 0;
        while self.fire_one().await?.is_some() {
            taken += 1;
        }
        Ok(taken)
    }

    /// Takes one due deadline nobody else holds, acts and marks it, all in one transaction.
    pub(crate) async fn fire_one(&self) -> Result<Option<(Deadline, Outcome)>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some(deadline) = store::claim_due(&mut tx).await? else {
            return Ok(None);
        };
        let kind = deadline.kind.as_str();
        let action = match super::act_on_deadline(&mut tx, &deadline).await {
            Ok(action) => action,
            Err(e) => {
                drop(tx);
                // Try again a little later rather than stall every other deadline behind it.
                let error = crate::telemetry::error_chain(&e);
                tracing::warn!(error = %error, deadline.id = %deadline.id, deadline.kind = kind, retry_in_s = FAILED_RETRY.as_secs(), "a deadline failed to fire; retrying");
                metrics::counter!("twisterlab_deadlines_retried_total", "kind" => kind).increment(1);
                store::postpone(&self.pool, deadline.id, FAILED_RETRY).await?;
                return Ok(Some((deadline, Outcome::Retrying { after: FAILED_RETRY, error })));
            }
        };
        match &action {
            Action::Fired => store::mark_fired(&mut tx, deadline.id, &self.label).await?,
            Action::Cancelled(reason) => store::mark_cancelled(&mut tx, deadline.id, reason).await?,
        }
        tx.commit().await?;
        if action == Action::Fired {
            let late = i64::try_from(Timestamp::now().duration_since(deadline.due_at).as_millis())
                .unwrap_or(i64::MAX);
            metrics::counter!("twisterlab_deadlines_fired_total", "kind" => kind).increment(1);
            tracing::info!(deadline.kind = kind, incident.id = %deadline.incident_id, late_ms = late, "deadline fired");
        }
        Ok(Some((deadline, action.into())))
    }

    /// Time until the next pending deadline by the database's clock (zero when one is due).
    pub(crate) async fn next_due_in(&self) -> Result<Option<Duration>, sqlx::Error> {
        store::next_due_in(&self.pool).await
    }
}

impl Worker for DeadlineWorker {
    /// Fires what is due, then asks to run again when the next deadline falls (the cadence's
    /// interval bounds the wait; a `NOTIFY` for a new deadline wakes it earlier).
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            DeadlineWorker::run_once(self).await?;
            Ok(Some(match self.next_due_in().await? {
                Some(d) if d.is_zero() => LOCKED_RETRY,
                Some(d) => d.min(MAX_SLEEP),
                None => MAX_SLEEP,
            }))
        })
    }
}
