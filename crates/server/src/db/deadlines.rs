//! The escalation deadlines (`escalation_deadlines`): scheduling, moving and cancelling them in
//! the incident's transaction, and claiming a due one with `FOR UPDATE SKIP LOCKED` so each
//! fires exactly once however many processes run the worker.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::incident::IncidentNumber;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// `NOTIFY` channel that wakes the workers when a deadline is written or moved.
pub(crate) const NOTIFY_CHANNEL: &str = "twisterlab_deadlines";

/// What a deadline does when it comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DeadlineKind {
    /// Pages the secondary on call, unless the incident was acknowledged.
    PageSecondary,
    /// Escalates to the manager on call, unless the incident was resolved.
    EscalateManager,
    /// Records a response SLA breach, unless the incident was acknowledged.
    ResponseSla,
}

impl DeadlineKind {
    pub(crate) const ALL: [DeadlineKind; 3] =
        [DeadlineKind::PageSecondary, DeadlineKind::EscalateManager, DeadlineKind::ResponseSla];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::PageSecondary => "page_secondary",
            Self::EscalateManager => "escalate_manager",
            Self::ResponseSla => "response_sla",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A due deadline as the worker took it.
#[derive(Clone, Debug)]
pub(crate) struct Deadline {
    pub(crate) id: Uuid,
    pub(crate) incident_id: Uuid,
    /// `None` when the incident is gone.
    pub(crate) incident_number: Option<IncidentNumber>,
    pub(crate) kind: DeadlineKind,
    pub(crate) due_at: Timestamp,
}

/// Schedules (or moves) the incident's pending deadline of `kind` to `due_at`.
pub(crate) async fn schedule(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: DeadlineKind,
    due_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into escalation_deadlines (id, incident_id, kind, due_at) values ($1, $2, $3, $4)
         on conflict (incident_id, kind) where state = 'pending' do update set due_at = excluded.due_at",
    )
    .bind(Uuid::now_v7())
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(from_jiff(due_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Cancels the incident's pending deadlines of `kinds`; returns how many.
pub(crate) async fn cancel(
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
pub(crate) async fn reschedule(
    tx: &mut PgConnection,
    incident_id: Uuid,
    kind: DeadlineKind,
    due_at: Timestamp,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update escalation_deadlines set due_at = $3 where incident_id = $1 and kind = $2 and state = 'pending'",
    )
    .bind(incident_id)
    .bind(kind.as_str())
    .bind(from_jiff(due_at))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0)
}

/// Whether a deadline of `kind` already fired for the incident.
pub(crate) async fn has_fired(
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
pub(crate) async fn notify(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(NOTIFY_CHANNEL).execute(&mut *tx).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: Uuid,
    incident_id: Uuid,
    incident_number: Option<i64>,
    kind: String,
    due_at: OffsetDateTime,
}

/// Takes the earliest due deadline nobody else holds, locked until the transaction ends
/// (`FOR UPDATE SKIP LOCKED`: a row another worker holds is skipped, not waited for).
pub(crate) async fn claim_due(tx: &mut PgConnection) -> Result<Option<Deadline>, sqlx::Error> {
    // The incident's number is a sub-select of the target list, not a join: only the deadline
    // row is locked, exactly as before.
    let row: Option<DueRow> = sqlx::query_as(
        "select d.id, d.incident_id, (select i.number from incidents i where i.id = d.incident_id) as incident_number,
                d.kind, d.due_at
           from escalation_deadlines d
          where d.state = 'pending' and d.due_at <= clock_timestamp()
          order by d.due_at
          limit 1
          for update skip locked",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let kind = DeadlineKind::parse(&r.kind)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown deadline kind {:?}", r.kind).into()))?;
    Ok(Some(Deadline {
        id: r.id,
        incident_id: r.incident_id,
        incident_number: r.incident_number.and_then(|n| IncidentNumber::new(n).ok()),
        kind,
        due_at: to_jiff(r.due_at),
    }))
}

/// Marks a claimed deadline done, fired by `fired_by` (`host:pid`).
pub(crate) async fn mark_fired(tx: &mut PgConnection, id: Uuid, fired_by: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update escalation_deadlines set state = 'done', fired_at = clock_timestamp(), fired_by = $2 where id = $1",
    )
    .bind(id)
    .bind(fired_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks a claimed deadline cancelled because its condition no longer held.
pub(crate) async fn mark_cancelled(tx: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update escalation_deadlines set state = 'cancelled', cancelled_at = clock_timestamp(), cancel_reason = $2 where id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a deadline that failed to fire `after` into the future (by the database's clock), if it
/// is still pending; returns whether it was.
pub(crate) async fn postpone(
    db: impl PgExecutor<'_>,
    id: Uuid,
    after: Duration,
) -> Result<bool, sqlx::Error> {
    let ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "update escalation_deadlines set due_at = clock_timestamp() + make_interval(secs => $2::double precision / 1000)
          where id = $1 and state = 'pending'",
    )
    .bind(id)
    .bind(ms)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// Time until the next pending deadline by the database's clock (zero when one is due).
pub(crate) async fn next_due_in(db: impl PgExecutor<'_>) -> Result<Option<Duration>, sqlx::Error> {
    let ms: Option<f64> = sqlx::query_scalar(
        "select (extract(epoch from min(due_at) - clock_timestamp()) * 1000)::double precision
           from escalation_deadlines where state = 'pending'",
    )
    .fetch_one(db)
    .await?;
    Ok(ms.map(|ms| Duration::from_millis(ms.max(0.0).ceil() as u64)))
}
