//! Failed sign-in counters: the `sign_in_throttle` table.

use jiff::Timestamp;
use sqlx::PgExecutor;
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

/// Forgets the failures of `key` after a successful sign-in.
pub(crate) async fn clear(db: impl PgExecutor<'_>, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_throttle where key = $1").bind(key).execute(db).await?;
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
