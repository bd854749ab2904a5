//! Known devices: browsers that signed in successfully, remembered by the hash of a random
//! cookie (`known_devices`).

use sqlx::PgExecutor;
use uuid::Uuid;

/// A device unused this long is forgotten (days).
pub(crate) const FORGET_AFTER_DAYS: i32 = 180;

/// Whether `token_hash` is a known device of `user_id`.
pub(crate) async fn is_known(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    token_hash: &[u8],
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from known_devices where token_hash = $1 and user_id = $2
                          and last_used_at > now() - make_interval(days => $3))",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(FORGET_AFTER_DAYS)
    .fetch_one(db)
    .await
}

/// Remembers a device of `user_id` (or marks it used again).
pub(crate) async fn remember(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into known_devices (token_hash, user_id) values ($1, $2)
         on conflict (token_hash) do update set last_used_at = now() where known_devices.user_id = $2",
    )
    .bind(token_hash)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets devices unused for [`FORGET_AFTER_DAYS`]; returns how many.
pub(crate) async fn delete_stale(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("delete from known_devices where last_used_at < now() - make_interval(days => $1)")
            .bind(FORGET_AFTER_DAYS)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
