//! Failed sign-in counters: the `sign_in_throttle` table.

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;

use crate::clock::to_jiff;

/// Failures allowed before sign-ins are delayed.
pub(crate) const FREE_FAILURES: i32 = 5;
/// A counter with no new failure for this long starts again from zero (seconds).
pub(crate) const FORGET_AFTER_SECONDS: f64 = 15.0 * 60.0;
/// First lock after the free failures, doubled per further failure, capped (seconds).
pub(crate) const FIRST_LOCK_SECONDS: i64 = 30;
pub(crate) const MAX_LOCK_SECONDS: i64 = 15 * 60;

/// How long a key stays locked after `failures` failures.
pub(crate) fn lock_seconds(failures: i32) -> Option<i64> {
    if failures < FREE_FAILURES {
        return None;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES).unwrap_or(u32::MAX).min(10);
    Some((FIRST_LOCK_SECONDS << doublings).min(MAX_LOCK_SECONDS))
}

/// The lock in force for any of `keys`, if any: the latest `locked_until`.
pub(crate) async fn locked_until(
    db: impl PgExecutor<'_>,
    keys: &[String],
) -> Result<Option<Timestamp>, sqlx::Error> {
    let until: Option<OffsetDateTime> = sqlx::query_scalar(
        "select max(locked_until) from sign_in_throttle where key = any($1) and locked_until > now()",
    )
    .bind(keys)
    .fetch_one(db)
    .await?;
    Ok(until.map(to_jiff))
}

/// Counts a failure for `key`; returns the failure count within the current window.
pub(crate) async fn record_failure(db: impl PgExecutor<'_>, key: &str) -> Result<i32, sqlx::Error> {
    // One statement, so concurrent failures on several replicas all count.
    let (failures,): (i32,) = sqlx::query_as(
        "insert into sign_in_throttle as t (key, failures, last_failure_at) values ($1, 1, now())
         on conflict (key) do update set
             failures = case when t.last_failure_at < now() - make_interval(secs => $2) then 1 else t.failures + 1 end,
             last_failure_at = now()
         returning failures",
    )
    .bind(key)
    .bind(FORGET_AFTER_SECONDS)
    .fetch_one(db)
    .await?;
    Ok(failures)
}

/// Locks `key` for `seconds`; returns when the lock ends.
pub(crate) async fn lock(db: impl PgExecutor<'_>, key: &str, seconds: i64) -> Result<Timestamp, sqlx::Error> {
    let until: OffsetDateTime = sqlx::query_scalar("update sign_in_throttle set locked_until = now() + make_interval(secs => $2) where key = $1 returning locked_until")
        .bind(key)
        .bind(seconds as f64)
        .fetch_one(db)
        .await?;
    Ok(to_jiff(until))
}

/// The outcome of [`reserve`].
#[derive(Debug)]
pub(crate) enum Reservation {
    /// The attempt is counted against every key as a failure in advance (a success clears
    /// the keys); `locked_until` is set when this attempt started a lock.
    Counted { locked_until: Option<Timestamp> },
    /// A key is locked: the attempt is refused without verifying. `first_refusal` is true for
    /// the first refusal of this lock period (the one that gets an audit row).
    Locked { until: Timestamp, first_refusal: bool },
}

#[derive(sqlx::FromRow)]
struct CounterRow {
    key: String,
    failures: i32,
    last_failure_at: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
    lock_audited: Option<OffsetDateTime>,
    now: OffsetDateTime,
}

/// Reserves a sign-in attempt for `keys` before the password is verified, on `tx`: the keys'
/// rows are locked (in key order, so concurrent attempts queue instead of deadlocking); if any
/// is locked the attempt is refused, otherwise it counts as a failure on every key now, so
/// concurrent guesses cannot all pass a check that is counted later. At most
/// [`FREE_FAILURES`] attempts per window reach the password check before the lock starts.
pub(crate) async fn reserve(tx: &mut PgConnection, keys: &[String]) -> Result<Reservation, sqlx::Error> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup();
    sqlx::query(
        "insert into sign_in_throttle (key, failures, last_failure_at)
         select k, 0, now() from unnest($1::text[]) as k order by k
         on conflict (key) do nothing",
    )
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<CounterRow> = sqlx::query_as(
        "select key, failures, last_failure_at, locked_until, lock_audited, now() as now
           from sign_in_throttle where key = any($1) order by key for update",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    let now = rows.first().map(|r| r.now);
    let locked = rows
        .iter()
        .filter(|r| r.locked_until.is_some_and(|until| Some(until) > now))
        .max_by_key(|r| r.locked_until);
    if let Some(row) = locked {
        let until = row.locked_until.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let first_refusal = row.lock_audited != Some(until);
        if first_refusal {
            sqlx::query("update sign_in_throttle set lock_audited = locked_until where key = $1")
                .bind(&row.key)
                .execute(&mut *tx)
                .await?;
        }
        return Ok(Reservation::Locked { until: to_jiff(until), first_refusal });
    }
    let mut started: Option<Timestamp> = None;
    for row in &rows {
        let forget = time::Duration::seconds_f64(FORGET_AFTER_SECONDS);
        let failures = if row.last_failure_at < row.now - forget { 1 } else { row.failures + 1 };
        let lock = lock_seconds(failures);
        let until: Option<OffsetDateTime> = sqlx::query_scalar(
            "update sign_in_throttle set failures = $2, last_failure_at = now(),
                    locked_until = case when $3::float8 is null then locked_until else now() + make_interval(secs => $3) end
              where key = $1 returning locked_until",
        )
        .bind(&row.key)
        .bind(failures)
        .bind(lock.map(|s| s as f64))
        .fetch_one(&mut *tx)
        .await?;
        if lock.is_some()
            && let Some(until) = until.map(to_jiff)
        {
            started = Some(started.map_or(until, |s| s.max(until)));
        }
    }
    Ok(Reservation::Counted { locked_until: started })
}

/// Gives back an attempt [`reserve`] counted but that was never verified (the hashing queue
/// was full).
pub(crate) async fn refund(db: impl PgExecutor<'_>, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("update sign_in_throttle set failures = greatest(failures - 1, 0) where key = any($1)")
        .bind(keys)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets the failures of `key` after a successful sign-in.
pub(crate) async fn clear(db: impl PgExecutor<'_>, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_throttle where key = $1").bind(key).execute(db).await?;
    Ok(())
}

/// Forgets the failures of every one of `keys` (a successful sign-in clears its account,
/// device and address counters).
pub(crate) async fn clear_all(db: impl PgExecutor<'_>, keys: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_throttle where key = any($1)").bind(keys).execute(db).await?;
    Ok(())
}

/// Deletes counters without a failure for a day and without a running lock; returns how many.
pub(crate) async fn delete_stale(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "delete from sign_in_throttle where last_failure_at < now() - interval '1 day' and (locked_until is null or locked_until < now())",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_the_lock_doubles_up_to_fifteen_minutes() {
        assert_eq!(lock_seconds(4), None);
        assert_eq!(lock_seconds(5), Some(30));
        assert_eq!(lock_seconds(6), Some(60));
        assert_eq!(lock_seconds(7), Some(120));
        assert_eq!(lock_seconds(20), Some(900));
    }
}
