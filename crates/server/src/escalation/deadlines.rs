//! The deadline engine (`escalation_deadlines`): each pending page, escalation and SLA check is
//! a row with `due_at`. Every process runs a [`DeadlineWorker`]; it takes due rows with
//! `FOR UPDATE SKIP LOCKED`, acts and marks them done in one transaction (so each fires exactly
//! once however many processes run), then sleeps until the next `due_at` or a
//! `NOTIFY twisterlab_deadlines` that announces a nearer one.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::workers::{BoxFuture, NextPass, Worker};

/// `NOTIFY` channel that wakes the workers when a deadline is written or moved.
pub const NOTIFY_CHANNEL: &str = "twisterlab_deadlines";
/// Longest sleep without a check, a safety net for a notification lost while reconnecting.
pub const MAX_SLEEP: Duration = Duration::from_secs(5);
/// Pause when due rows exist but other processes hold them (they are firing them right now,
/// or a process died mid-transaction and PostgreSQL has yet to notice).
pub const LOCKED_RETRY: Duration = Duration::from_millis(50);

/// What a deadline does when it comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadlineKind {
    /// Pages the secondary on call, unless the incident was acknowledged.
    PageSecondary,
    /// Escalates to the manager on call, unless the incident was resolved.
    EscalateManager,
    /// Records a response SLA breach, unless the incident was acknowledged.
    ResponseSla,
}

impl DeadlineKind {
    pub const ALL: [DeadlineKind; 3] =
        [DeadlineKind::PageSecondary, DeadlineKind::EscalateManager, DeadlineKind::ResponseSla];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PageSecondary => "page_secondary",
            Self::EscalateManager => "escalate_manager",
            Self::ResponseSla => "response_sla",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A due deadline as the worker took it.
#[derive(Clone, Debug)]
pub struct Deadline {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub kind: DeadlineKind,
    pub due_at: OffsetDateTime,
}

/// What firing a deadline came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// It acted: timeline event and notifications written.
    Fired,
    /// Its condition no longer held (acknowledged, resolved, gone); nothing was sent.
    Cancelled(&'static str),
}

/// Schedules (or moves) the incident's pending deadline of `kind` to `due_at`.
pub async fn schedule(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: DeadlineKind,
    due_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into escalation_deadlines (id, incident_id, kind, due_at) values ($1, $2, $3, $4)
         on conflict (incident_id, kind) where state = 'pending' do update set due_at = excluded.due_at",
    )
    .bind(Uuid::now_v7())
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(due_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Cancels the incident's pending deadlines of `kinds`; returns how many.
pub async fn cancel(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kinds: &[DeadlineKind],
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    Ok(sqlx::query(
        "update escalation_deadlines set state = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = $3
          where incident_id = $1 and state = 'pending' and kind = any($2)",
    )
    .bind(incident_id)
    .bind(&kinds)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Moves the incident's pending deadline of `kind` to `due_at`; returns whether one was pending.
pub async fn reschedule(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: DeadlineKind,
    due_at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update escalation_deadlines set due_at = $3 where incident_id = $1 and kind = $2 and state = 'pending'",
    )
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(due_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0)
}

/// Whether a deadline of `kind` already fired for the incident.
pub async fn has_fired(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: DeadlineKind,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from escalation_deadlines where incident_id = $1 and kind = $2 and state = 'done')",
    )
    .bind(incident_id)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await
}

/// Wakes every process's worker at commit, so a nearer deadline is not slept through.
pub async fn notify(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(NOTIFY_CHANNEL).execute(&mut *tx).await?;
    Ok(())
}

/// A deadline row as pages and tests read it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeadlineRow {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub kind: String,
    pub due_at: OffsetDateTime,
    pub state: String,
    pub fired_at: Option<OffsetDateTime>,
    pub fired_by: Option<String>,
    pub cancel_reason: Option<String>,
}

/// Every deadline of an incident, by due time.
pub async fn for_incident(db: &mut PgConnection, incident_id: Uuid) -> Result<Vec<DeadlineRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, incident_id, kind, due_at, state, fired_at, fired_by, cancel_reason
           from escalation_deadlines where incident_id = $1 order by due_at, kind",
    )
    .bind(incident_id)
    .fetch_all(&mut *db)
    .await
}

/// Fires due deadlines; see the module documentation.
pub struct DeadlineWorker {
    pub pool: PgPool,
    /// Recorded in `fired_by`: `host:pid` by default.
    pub label: String,
}

impl DeadlineWorker {
    pub fn new(pool: PgPool) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        let host = if host.is_empty() { "localhost" } else { host };
        Self { pool, label: format!("{host}:{}", std::process::id()) }
    }

    /// Fires every deadline due now, each in its own transaction; returns how many were taken.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let mut taken = 0;
        while self.fire_one().await?.is_some() {
            taken += 1;
        }
        Ok(taken)
    }

    /// Takes one due deadline nobody else holds, acts and marks it, all in one transaction.
    pub async fn fire_one(&self) -> Result<Option<(Deadline, Action)>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(Uuid, Uuid, String, OffsetDateTime)> = sqlx::query_as(
            "select id, incident_id, kind, due_at from escalation_deadlines
              where state = 'pending' and due_at <= clock_timestamp()
              order by due_at
              limit 1
              for update skip locked",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, incident_id, kind, due_at)) = row else {
            return Ok(None);
        };
        let Some(kind) = DeadlineKind::parse(&kind) else {
            return Err(sqlx::Error::Decode(format!("unknown deadline kind {kind:?}").into()));
        };
        let deadline = Deadline { id, incident_id, kind, due_at };
        let action = match super::act_on_deadline(&mut tx, &deadline).await {
            Ok(action) => action,
            Err(e) => {
                drop(tx);
                // Try again a little later rather than stall every other deadline behind it.
                tracing::warn!(error = %e, deadline.id = %id, deadline.kind = kind.as_str(), "a deadline failed to fire; retrying in 30 s");
                sqlx::query(
                    "update escalation_deadlines set due_at = clock_timestamp() + interval '30 seconds' where id = $1 and state = 'pending'",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                return Ok(Some((deadline, Action::Cancelled("failed; retrying"))));
            }
        };
        match &action {
            Action::Fired => {
                sqlx::query(
                    "update escalation_deadlines set state = 'done', fired_at = clock_timestamp(), fired_by = $2 where id = $1",
                )
                .bind(id)
                .bind(&self.label)
                .execute(&mut *tx)
                .await?;
            }
            Action::Cancelled(reason) => {
                sqlx::query(
                    "update escalation_deadlines set state = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = $2 where id = $1",
                )
                .bind(id)
                .bind(*reason)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        if action == Action::Fired {
            let late = (OffsetDateTime::now_utc() - due_at).whole_milliseconds();
            metrics::counter!("twisterlab_deadlines_fired_total", "kind" => kind.as_str()).increment(1);
            tracing::info!(deadline.kind = kind.as_str(), incident.id = %incident_id, late_ms = late, "deadline fired");
        }
        Ok(Some((deadline, action)))
    }

    /// Time until the next pending deadline by the database's clock (zero when one is due).
    pub async fn next_due_in(&self) -> Result<Option<Duration>, sqlx::Error> {
        let ms: Option<f64> = sqlx::query_scalar(
            "select (extract(epoch from min(due_at) - clock_timestamp()) * 1000)::double precision
               from escalation_deadlines where state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(ms.map(|ms| Duration::from_millis(ms.max(0.0).ceil() as u64)))
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
