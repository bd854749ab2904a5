//! The notification outbox (`notifications`): rows written in their cause's transaction, claimed
//! for one attempt with a lease (`FOR UPDATE SKIP LOCKED`), their outcomes, and what the admin
//! page lists and retries.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use twisterlab_domain::contact::ContactKind;
use twisterlab_domain::notification::ChannelKind;

use crate::clock::to_jiff;
use crate::config::Secret;

/// `NOTIFY` channel that wakes delivery workers when rows are written or retried.
pub(crate) const NOTIFY_CHANNEL: &str = "twisterlab_outbox";

/// A notification's delivery state, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum State {
    /// Written, never tried.
    Pending,
    /// Claimed by a worker until its lease ends.
    Delivering,
    /// An attempt failed; it is tried again at `next_attempt_at` (a retry, not the end).
    Failed,
    Delivered,
    /// Given up on: a permanent error or the last attempt failed. Only an admin retry revives it.
    Dead,
}

impl State {
    pub(crate) const ALL: [State; 5] =
        [State::Pending, State::Delivering, State::Failed, State::Delivered, State::Dead];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

fn decode_state(s: &str) -> Result<State, sqlx::Error> {
    State::parse(s).ok_or_else(|| sqlx::Error::Decode(format!("unknown notification state {s:?}").into()))
}

/// Where an outbox row goes: a shared channel or one person's contact method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum To {
    Channel(Uuid),
    Contact(Uuid),
}

impl To {
    fn columns(self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Self::Channel(id) => (Some(id), None),
            Self::Contact(id) => (None, Some(id)),
        }
    }
}

/// Writes one notification of `event` about the incident to each of `targets`, with the
/// event's `payload`, and wakes the delivery workers at commit; returns the rows' ids in the
/// order of `targets`.
pub(crate) async fn enqueue(
    tx: &mut PgConnection,
    targets: &[To],
    incident_id: Uuid,
    event: &str,
    payload: &Value,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut ids = Vec::with_capacity(targets.len());
    for to in targets {
        let id = Uuid::now_v7();
        ids.push(id);
        let (channel, contact) = to.columns();
        sqlx::query(
            "insert into notifications (id, channel_id, contact_method_id, incident_id, event, payload)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(channel)
        .bind(contact)
        .bind(incident_id)
        .bind(event)
        .bind(payload)
        .execute(&mut *tx)
        .await?;
    }
    if !ids.is_empty() {
        wake(&mut *tx).await?;
    }
    Ok(ids)
}

/// The enabled PagerDuty contact methods a page about the incident was queued for: their
/// alerts follow the incident (acknowledge, resolve).
pub(crate) async fn paged_pagerduty_contacts(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select distinct m.id from notifications n join contact_methods m on m.id = n.contact_method_id
          where n.incident_id = $1 and m.kind = 'pagerduty' and m.enabled and n.event in ('declared', 'escalated')
          order by m.id",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// Writes a notification to a contact method that cannot be sent (e-mail without a mail
/// server) as dead at once with `reason`: the attempt is on record and reads as not delivered.
pub(crate) async fn enqueue_dead(
    tx: &mut PgConnection,
    contact_method_id: Uuid,
    incident_id: Uuid,
    event: &str,
    payload: &Value,
    reason: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into notifications (id, contact_method_id, incident_id, event, payload, state, last_error, last_attempt_at)
         values ($1, $2, $3, $4, $5, 'dead', $6, now())",
    )
    .bind(id)
    .bind(contact_method_id)
    .bind(incident_id)
    .bind(event)
    .bind(payload)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Where a claimed row is sent, with what its target stores.
#[derive(Clone, Debug)]
pub(crate) enum Destination {
    /// A shared channel; a configured one (`config_key`) takes its URL and secret from settings.
    Channel { kind: ChannelKind, config_key: Option<String>, url: Option<String>, secret: Option<Secret> },
    /// One person's contact method: member ID, URL, routing key or address, and a webhook's key.
    Contact { kind: ContactKind, target: String, secret: Option<Secret> },
}

/// A row claimed for one attempt, with where it goes.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub(crate) id: Uuid,
    pub(crate) seq: i64,
    pub(crate) event: String,
    pub(crate) payload: Value,
    /// Including this one.
    pub(crate) attempts: i32,
    /// The channel's name, or "Maya's PagerDuty".
    pub(crate) channel_name: String,
    pub(crate) destination: Destination,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    seq: i64,
    event: String,
    payload: Value,
    attempts: i32,
    channel_kind: Option<String>,
    contact_kind: Option<String>,
    name: String,
    config_key: Option<String>,
    url: Option<String>,
    secret: Option<String>,
}

impl ClaimRow {
    fn destination(&self) -> Option<Destination> {
        let secret = self.secret.clone().map(Secret::new);
        match (&self.channel_kind, &self.contact_kind) {
            (Some(kind), _) => Some(Destination::Channel {
                kind: ChannelKind::parse(kind)?,
                config_key: self.config_key.clone(),
                url: self.url.clone(),
                secret,
            }),
            (None, Some(kind)) => Some(Destination::Contact {
                kind: ContactKind::parse(kind)?,
                target: self.url.clone().unwrap_or_default(),
                secret,
            }),
            (None, None) => None,
        }
    }
}

/// The name of a row's target, in queries over `notifications n` with [`TARGET_JOINS`]: the
/// channel's name or "Maya's PagerDuty".
const TARGET_NAME: &str = "coalesce(c.name, u.display_name || '''s ' || m.label, '(deleted)')";
const TARGET_JOINS: &str = "left join notification_channels c on c.id = n.channel_id
           left join contact_methods m on m.id = n.contact_method_id
           left join users u on u.id = m.user_id";

/// Claims up to `limit` rows that are due, whose channel is enabled and that are the head of
/// their queue (no earlier undelivered row for the same incident and channel), for `lease`;
/// in creation order.
///
/// The heads are found once per claim, in one ordered pass over the queued rows (`distinct
/// on`, evaluated once as an array), whose cost does not depend on statistics; a per-row
/// `not exists` degenerated into a scan of the queue per row when a burst arrived before
/// `ANALYZE` had seen it. A head found in the snapshot is still the head when locked (new
/// rows only join the end of a queue), and the locking `where` re-checks that nobody claimed
/// it meanwhile.
pub(crate) async fn claim(
    db: impl PgExecutor<'_>,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "with next as (
             select n.id from notifications n
              where n.id = any(array(
                      select h.id from (
                          select distinct on (q.target_id, q.incident_id) q.id, q.seq, q.next_attempt_at
                            from notifications q
                            left join notification_channels c on c.id = q.channel_id
                            left join contact_methods m on m.id = q.contact_method_id
                           where q.state in ('pending', 'failed', 'delivering') and (c.enabled or m.enabled)
                           order by q.target_id, q.incident_id, q.seq) h
                       where h.next_attempt_at <= now()
                       order by h.seq
                       limit $1 * 4))
                and n.state in ('pending', 'failed', 'delivering') and n.next_attempt_at <= now()
              order by n.seq
              limit $1
              for update of n skip locked),
         claimed as (
             update notifications n
                set state = 'delivering', attempts = n.attempts + 1, last_attempt_at = now(),
                    next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
               from next
              where n.id = next.id
          returning n.id, n.seq, n.event, n.payload, n.attempts, n.channel_id, n.contact_method_id)
         select n.id, n.seq, n.event, n.payload, n.attempts, c.kind as channel_kind, m.kind as contact_kind,
                coalesce(c.name, u.display_name || '''s ' || m.label) as name, c.config_key,
                coalesce(c.url, m.target) as url, coalesce(c.secret, m.secret) as secret
           from claimed n
           left join notification_channels c on c.id = n.channel_id
           left join contact_methods m on m.id = n.contact_method_id
           left join users u on u.id = m.user_id",
    )
    .bind(i64::try_from(limit).unwrap_or(1))
    .bind(lease_ms)
    .fetch_all(db)
    .await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .filter_map(|r| {
            Some(Claimed {
                destination: r.destination()?,
                id: r.id,
                seq: r.seq,
                event: r.event,
                payload: r.payload,
                attempts: r.attempts,
                channel_name: r.name,
            })
        })
        .collect();
    claimed.sort_by_key(|c| c.seq);
    Ok(claimed)
}

/// An attempt's result, as stored.
#[derive(Clone, Debug)]
pub(crate) struct AttemptRecord<'a> {
    /// [`State::Delivered`], [`State::Failed`] (tried again after `wait`) or [`State::Dead`].
    pub(crate) state: State,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<&'a str>,
    pub(crate) wait: Duration,
}

/// Records the outcome of attempt number `attempts` of a claimed row, unless the claim was lost
/// to an expired lease (another worker claimed it since); returns whether it was recorded.
pub(crate) async fn record_attempt(
    db: impl PgExecutor<'_>,
    id: Uuid,
    attempts: i32,
    r: &AttemptRecord<'_>,
) -> Result<bool, sqlx::Error> {
    let wait_ms = i64::try_from(r.wait.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "update notifications
            set state = $3, last_status = $4, last_error = $5,
                delivered_at = case when $3 = 'delivered' then now() else delivered_at end,
                next_attempt_at = now() + make_interval(secs => $6::double precision / 1000)
          where id = $1 and attempts = $2 and state = 'delivering'",
    )
    .bind(id)
    .bind(attempts)
    .bind(r.state.as_str())
    .bind(r.status.map(i32::from))
    .bind(r.error)
    .bind(wait_ms)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}

/// Time until the next queue head is due to be tried, by the database's clock (rows behind
/// an undelivered one do not count: they wait for it).
pub(crate) async fn next_due_in(db: impl PgExecutor<'_>) -> Result<Option<Duration>, sqlx::Error> {
    let ms: Option<f64> = sqlx::query_scalar(
        "select (extract(epoch from min(h.next_attempt_at) - clock_timestamp()) * 1000)::double precision
           from (select distinct on (q.target_id, q.incident_id) q.next_attempt_at
                   from notifications q
                   left join notification_channels c on c.id = q.channel_id
                   left join contact_methods m on m.id = q.contact_method_id
                  where q.state in ('pending', 'failed', 'delivering') and (c.enabled or m.enabled)
                  order by q.target_id, q.incident_id, q.seq) h",
    )
    .fetch_one(db)
    .await?;
    Ok(ms.map(|ms| Duration::from_millis(ms.max(0.0) as u64)))
}

/// A notification as the admin page lists it.
#[derive(Clone, Debug)]
pub(crate) struct Listed {
    pub(crate) id: Uuid,
    pub(crate) seq: i64,
    pub(crate) channel_name: String,
    pub(crate) incident_number: Option<i64>,
    pub(crate) event: String,
    pub(crate) state: State,
    pub(crate) attempts: i32,
    pub(crate) next_attempt_at: Timestamp,
    pub(crate) last_attempt_at: Option<Timestamp>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    id: Uuid,
    seq: i64,
    channel_name: String,
    incident_number: Option<i64>,
    event: String,
    state: String,
    attempts: i32,
    next_attempt_at: OffsetDateTime,
    last_attempt_at: Option<OffsetDateTime>,
    last_error: Option<String>,
    created_at: OffsetDateTime,
}

/// Notifications in `states`, newest first, at most `limit`.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    states: &[State],
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let sql = format!(
        "select n.id, n.seq, {TARGET_NAME} as channel_name, i.number as incident_number, n.event, n.state, n.attempts,
                n.next_attempt_at, n.last_attempt_at, n.last_error, n.created_at
           from notifications n
           {TARGET_JOINS}
           left join incidents i on i.id = n.incident_id
          where n.state = any($1)
          order by n.seq desc
          limit $2",
    );
    let rows: Vec<ListedRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&states).bind(limit).fetch_all(db).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Listed {
                id: r.id,
                seq: r.seq,
                channel_name: r.channel_name,
                incident_number: r.incident_number,
                event: r.event,
                state: decode_state(&r.state)?,
                attempts: r.attempts,
                next_attempt_at: to_jiff(r.next_attempt_at),
                last_attempt_at: r.last_attempt_at.map(to_jiff),
                last_error: r.last_error,
                created_at: to_jiff(r.created_at),
            })
        })
        .collect()
}

/// Every notification about one incident, oldest first (at most `limit`): what the incident
/// page shows of its paging and deliveries.
pub(crate) async fn for_incident(
    db: impl PgExecutor<'_>,
    incident_id: Uuid,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let sql = format!(
        "select n.id, n.seq, {TARGET_NAME} as channel_name, i.number as incident_number, n.event, n.state, n.attempts,
                n.next_attempt_at, n.last_attempt_at, n.last_error, n.created_at
           from notifications n
           {TARGET_JOINS}
           left join incidents i on i.id = n.incident_id
          where n.incident_id = $1
          order by n.seq
          limit $2",
    );
    let rows: Vec<ListedRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).bind(limit).fetch_all(db).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Listed {
                id: r.id,
                seq: r.seq,
                channel_name: r.channel_name,
                incident_number: r.incident_number,
                event: r.event,
                state: decode_state(&r.state)?,
                attempts: r.attempts,
                next_attempt_at: to_jiff(r.next_attempt_at),
                last_attempt_at: r.last_attempt_at.map(to_jiff),
                last_error: r.last_error,
                created_at: to_jiff(r.created_at),
            })
        })
        .collect()
}

/// How many notifications are in each state.
pub(crate) async fn counts(db: impl PgExecutor<'_>) -> Result<Vec<(State, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from notifications group by state order by state")
            .fetch_all(db)
            .await?;
    rows.into_iter().map(|(s, n)| Ok((decode_state(&s)?, n))).collect()
}

/// A notification's delivery facts, locked for a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Locked {
    pub(crate) state: State,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
}

/// Locks a notification; `None` when it does not exist.
pub(crate) async fn find_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<Locked>, sqlx::Error> {
    let row: Option<(String, i32, Option<String>)> =
        sqlx::query_as("select state, attempts, last_error from notifications where id = $1 for update")
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(|(state, attempts, last_error)| Ok(Locked { state: decode_state(&state)?, attempts, last_error }))
        .transpose()
}

/// Puts a notification back in line for an immediate attempt with a fresh count, and wakes the
/// delivery workers at commit.
pub(crate) async fn requeue(tx: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update notifications set state = 'pending', attempts = 0, next_attempt_at = now() where id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    wake(&mut *tx).await
}

/// Wakes every process's delivery worker at commit (new or revived rows to send).
pub(crate) async fn wake(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')").bind(NOTIFY_CHANNEL).execute(db).await?;
    Ok(())
}
