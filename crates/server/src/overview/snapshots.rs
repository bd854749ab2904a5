//! The `health_snapshots` rows: what the background workers last saw of Prometheus and
//! Kubernetes. Pages read them and never call either service; a lease keeps several portal
//! processes from refreshing the same snapshot at once.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgExecutor;
use time::OffsetDateTime;

/// The key metrics snapshot.
pub const KEY_METRICS: &str = "key_metrics";
/// The Kubernetes snapshot.
pub const KUBERNETES: &str = "kubernetes";

/// Takes the refresh of `kind` for this process when the snapshot is older than `min_age` and
/// nobody else holds it; the lease ends after `lease` even if this process dies.
pub async fn claim(
    db: impl PgExecutor<'_>,
    kind: &str,
    min_age: Duration,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "update health_snapshots set lease_until = now() + make_interval(secs => $3)
          where kind = $1
            and (lease_until is null or lease_until < now())
            and (taken_at is null or taken_at <= now() - make_interval(secs => $2))",
    )
    .bind(kind)
    .bind(min_age.as_secs_f64())
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Stores a fresh snapshot and releases the lease.
pub async fn save<T: Serialize>(db: impl PgExecutor<'_>, kind: &str, body: &T) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "update health_snapshots set body = $2, taken_at = now(), lease_until = null where kind = $1",
    )
    .bind(kind)
    .bind(json)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives the lease back without a new snapshot (the refresh failed to run at all).
pub async fn release(db: impl PgExecutor<'_>, kind: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update health_snapshots set lease_until = null where kind = $1")
        .bind(kind)
        .execute(db)
        .await?;
    Ok(())
}

/// The last snapshot of `kind` and when it was taken; `None` before the first one (or when its
/// JSON no longer fits the type, after an upgrade: the next refresh replaces it).
pub async fn load<T: DeserializeOwned>(
    db: impl PgExecutor<'_>,
    kind: &str,
) -> Result<Option<(T, OffsetDateTime)>, sqlx::Error> {
    let row: Option<(serde_json::Value, Option<OffsetDateTime>)> =
        sqlx::query_as("select body, taken_at from health_snapshots where kind = $1")
            .bind(kind)
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(body, taken_at)| {
        let taken_at = taken_at?;
        match serde_json::from_value(body) {
            Ok(value) => Some((value, taken_at)),
            Err(e) => {
                tracing::debug!(snapshot = kind, error = %e, "stored snapshot does not fit; waiting for the next refresh");
                None
            }
        }
    }))
}
