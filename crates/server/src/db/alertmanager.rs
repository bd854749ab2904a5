//! Alertmanager deliveries, alerts and alert groups: `alertmanager_deliveries` (each webhook
//! delivery as received, with its outcome), `alertmanager_alerts` (one row per fingerprint and
//! start) and `alertmanager_groups` (the incident each group key opened).

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// Serialises the processing of deliveries across processes (groups are looked up, then
/// maybe opened): a transaction-scoped advisory lock.
pub(crate) async fn lock_processing(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('twisterlab.alertmanager'))").execute(db).await?;
    Ok(())
}

/// Stores a delivery as received; returns its id.
pub(crate) async fn insert_delivery(
    db: impl PgExecutor<'_>,
    user_id: Option<Uuid>,
    body: &str,
    outcome: &str,
    detail: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into alertmanager_deliveries (user_id, body, outcome, detail) values ($1, $2, $3, $4) returning id",
    )
    .bind(user_id)
    .bind(body)
    .bind(outcome)
    .bind(detail)
    .fetch_one(db)
    .await
}

/// Sets what a processed delivery did.
pub(crate) async fn set_detail(db: impl PgExecutor<'_>, id: i64, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update alertmanager_deliveries set detail = $2 where id = $1")
        .bind(id)
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}

/// A delivery as the admin page lists it.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub id: i64,
    pub received_at: Timestamp,
    pub by: Option<String>,
    pub bytes: i64,
    pub outcome: String,
    pub detail: String,
    /// The first characters of the body.
    pub excerpt: String,
}

/// The last `limit` deliveries, newest first.
pub(crate) async fn recent_deliveries(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(i64, OffsetDateTime, Option<String>, i32, String, String, String)> = sqlx::query_as(
        "select d.id, d.received_at, u.email, octet_length(d.body), d.outcome, d.detail, left(d.body, 200)
           from alertmanager_deliveries d left join users u on u.id = d.user_id
          order by d.received_at desc, d.id desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, by, bytes, outcome, detail, excerpt)| Delivery {
            id,
            received_at: to_jiff(at),
            by,
            bytes: i64::from(bytes),
            outcome,
            detail,
            excerpt,
        })
        .collect())
}

/// A stored alert occurrence.
#[derive(Clone, Debug)]
pub(crate) struct StoredAlert {
    pub incident_id: Uuid,
    pub incident_number: i64,
    pub firing: bool,
}

/// The alert `fingerprint` that started at `starts_at`, locked until the transaction ends.
pub(crate) async fn lock_alert(
    db: &mut PgConnection,
    fingerprint: &str,
    starts_at: Timestamp,
) -> Result<Option<StoredAlert>, sqlx::Error> {
    let row: Option<(Uuid, i64, String)> = sqlx::query_as(
        "select a.incident_id, i.number, a.status from alertmanager_alerts a join incidents i on i.id = a.incident_id
          where a.fingerprint = $1 and a.starts_at = $2 for update of a",
    )
    .bind(fingerprint)
    .bind(from_jiff(starts_at))
    .fetch_optional(&mut *db)
    .await?;
    Ok(row.map(|(incident_id, incident_number, status)| StoredAlert {
        incident_id,
        incident_number,
        firing: status == "firing",
    }))
}

/// A firing alert as stored.
pub(crate) struct NewAlert<'a> {
    pub fingerprint: &'a str,
    pub starts_at: Timestamp,
    pub incident_id: Uuid,
    pub group_key: &'a str,
    pub labels: serde_json::Value,
    pub annotations: serde_json::Value,
    pub generator_url: Option<&'a str>,
}

/// Stores a newly firing alert.
pub(crate) async fn insert_alert(db: impl PgExecutor<'_>, a: &NewAlert<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into alertmanager_alerts (fingerprint, starts_at, incident_id, group_key, status, labels, annotations, generator_url)
         values ($1, $2, $3, $4, 'firing', $5, $6, $7)",
    )
    .bind(a.fingerprint)
    .bind(from_jiff(a.starts_at))
    .bind(a.incident_id)
    .bind(a.group_key)
    .bind(&a.labels)
    .bind(&a.annotations)
    .bind(a.generator_url)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks an alert resolved at `ends_at`.
pub(crate) async fn resolve_alert(
    db: impl PgExecutor<'_>,
    fingerprint: &str,
    starts_at: Timestamp,
    ends_at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update alertmanager_alerts set status = 'resolved', ends_at = $3 where fingerprint = $1 and starts_at = $2",
    )
    .bind(fingerprint)
    .bind(from_jiff(starts_at))
    .bind(from_jiff(ends_at))
    .execute(db)
    .await?;
    Ok(())
}

/// How many alerts of `incident_id` still fire.
pub(crate) async fn firing_count(db: impl PgExecutor<'_>, incident_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from alertmanager_alerts where incident_id = $1 and status = 'firing'",
    )
    .bind(incident_id)
    .fetch_one(db)
    .await
}

/// The open incident of a group key, if any: its id and number.
pub(crate) async fn open_group_incident(
    db: impl PgExecutor<'_>,
    group_key: &str,
) -> Result<Option<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.number from alertmanager_groups g join incidents i on i.id = g.incident_id
          where g.group_key = $1 and i.status <> 'resolved' order by g.opened_at desc limit 1",
    )
    .bind(group_key)
    .fetch_optional(db)
    .await
}

/// Records that a group key opened `incident_id`.
pub(crate) async fn link_group(
    db: impl PgExecutor<'_>,
    group_key: &str,
    incident_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into alertmanager_groups (incident_id, group_key) values ($1, $2)")
        .bind(incident_id)
        .bind(group_key)
        .execute(db)
        .await?;
    Ok(())
}

/// A firing alert as the overview lists it.
#[derive(Clone, Debug)]
pub(crate) struct FiringAlert {
    pub alertname: String,
    pub service: Option<String>,
    pub starts_at: Timestamp,
    pub incident_number: i64,
}

/// Alerts that still fire, newest first.
pub(crate) async fn firing(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<FiringAlert>, sqlx::Error> {
    let rows: Vec<(Option<String>, Option<String>, OffsetDateTime, i64)> = sqlx::query_as(
        "select a.labels->>'alertname', a.labels->>'service', a.starts_at, i.number
           from alertmanager_alerts a join incidents i on i.id = a.incident_id
          where a.status = 'firing' order by a.starts_at desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, service, at, number)| FiringAlert {
            alertname: name.unwrap_or_else(|| "alert".into()),
            service,
            starts_at: to_jiff(at),
            incident_number: number,
        })
        .collect())
}
