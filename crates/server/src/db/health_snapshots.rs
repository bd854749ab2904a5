//! `health_snapshots`: what the background workers last saw of Prometheus and Kubernetes, as
//! JSON. Pages read them and never call either service; a lease keeps several portal
//! processes from refreshing the same snapshot at once.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::clock::to_jiff;

/// Which snapshot (one row each, created by the migration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SnapshotKind {
    /// The key metrics read from Prometheus.
    KeyMetrics,
    /// The Kubernetes panel, read through the adapter.
    Kubernetes,
}

impl SnapshotKind {
    /// The row's `kind`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::KeyMetrics => "key_metrics",
            SnapshotKind::Kubernetes => "kubernetes",
        }
    }
}

/// Takes the refresh of `kind` for this process when the snapshot is older than `min_age` and
/// nobody else holds it; the lease ends after `lease` even if this process dies.
pub(crate) async fn claim(
    db: impl PgExecutor<'_>,
    kind: SnapshotKind,
    min_age: Duration,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "update health_snapshots set lease_until = now() + make_interval(secs => $3)
          where kind = $1
            and (lease_until is null or lease_until < now())
            and (taken_at is null or taken_at <= now() - make_interval(secs => $2))",
    )
    .bind(kind.as_str())
    .bind(min_age.as_secs_f64())
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Stores a fresh snapshot and releases the lease.
pub(crate) async fn save<T: Serialize>(
    db: impl PgExecutor<'_>,
    kind: SnapshotKind,
    body: &T,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_value(body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "update health_snapshots set body = $2, taken_at = now(), lease_until = null where kind = $1",
    )
    .bind(kind.as_str())
    .bind(json)
    .execute(db)
    .await?;
    Ok(())
}

/// The last snapshot of `kind` and when it was taken; `None` before the first one (or when its
/// JSON no longer fits the type, after an upgrade: the next refresh replaces it).
pub(crate) async fn load<T: DeserializeOwned>(
    db: impl PgExecutor<'_>,
    kind: SnapshotKind,
) -> Result<Option<(T, Timestamp)>, sqlx::Error> {
    let row: Option<(serde_json::Value, Option<OffsetDateTime>)> =
        sqlx::query_as("select body, taken_at from health_snapshots where kind = $1")
            .bind(kind.as_str())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(body, taken_at)| {
        let taken_at = taken_at?;
        match serde_json::from_value(body) {
            Ok(value) => Some((value, to_jiff(taken_at))),
            Err(e) => {
                tracing::debug!(snapshot = kind.as_str(), error = %e, "stored snapshot does not fit; waiting for the next refresh");
                None
            }
        }
    }))
}
