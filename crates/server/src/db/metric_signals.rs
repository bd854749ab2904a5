//! Key-metric signals: `metric_readings` (every read, for the trend charts), `metric_signals`
//! (each metric's signal state, locked while a read is judged) and `metric_signal_incidents`
//! (the incidents a breach declared).

use jiff::Timestamp;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::health::{MetricSignal, MetricState};
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

fn state_str(state: MetricState) -> &'static str {
    match state {
        MetricState::Ok => "ok",
        MetricState::Breach => "breach",
        MetricState::Unknown => "unknown",
    }
}

fn state_of(s: &str) -> MetricState {
    match s {
        "ok" => MetricState::Ok,
        "breach" => MetricState::Breach,
        _ => MetricState::Unknown,
    }
}

/// Stores one read.
pub(crate) async fn insert_reading(
    db: impl PgExecutor<'_>,
    metric: &str,
    value: Option<f64>,
    threshold: f64,
    state: MetricState,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into metric_readings (metric, value, threshold, state) values ($1, $2, $3, $4)")
        .bind(metric)
        .bind(value.filter(|v| v.is_finite()))
        .bind(threshold)
        .bind(state_str(state))
        .execute(db)
        .await?;
    Ok(())
}

/// One stored read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StoredReading {
    pub read_at: Timestamp,
    pub value: Option<f64>,
    pub threshold: f64,
}

/// The reads of `metric` since `since`, oldest first.
pub(crate) async fn readings(
    db: impl PgExecutor<'_>,
    metric: &str,
    since: Timestamp,
) -> Result<Vec<StoredReading>, sqlx::Error> {
    let rows: Vec<(OffsetDateTime, Option<f64>, f64)> = sqlx::query_as(
        "select read_at, value, threshold from metric_readings where metric = $1 and read_at >= $2
          order by read_at, id",
    )
    .bind(metric)
    .bind(from_jiff(since))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, value, threshold)| StoredReading { read_at: to_jiff(at), value, threshold })
        .collect())
}

/// Deletes up to `batch` reads older than `days` days; returns how many.
pub(crate) async fn prune(db: impl PgExecutor<'_>, days: i32, batch: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from metric_readings where id in (
            select id from metric_readings where read_at < now() - make_interval(days => $1) limit $2)",
    )
    .bind(days)
    .bind(batch)
    .execute(db)
    .await?
    .rows_affected())
}

/// The signal row of `metric` (created on first use), locked until the transaction ends.
pub(crate) async fn lock_signal(db: &mut PgConnection, metric: &str) -> Result<MetricSignal, sqlx::Error> {
    sqlx::query("insert into metric_signals (metric) values ($1) on conflict (metric) do nothing")
        .bind(metric)
        .execute(&mut *db)
        .await?;
    let (firing, since): (bool, Option<OffsetDateTime>) =
        sqlx::query_as("select firing, breach_since from metric_signals where metric = $1 for update")
            .bind(metric)
            .fetch_one(&mut *db)
            .await?;
    Ok(MetricSignal { firing, breach_since: since.map(to_jiff) })
}

/// Stores a metric's signal after a read.
pub(crate) async fn save_signal(
    db: impl PgExecutor<'_>,
    metric: &str,
    signal: MetricSignal,
    state: MetricState,
    value: Option<f64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update metric_signals set firing = $2, breach_since = $3, last_state = $4, last_value = $5,
                last_read_at = now()
          where metric = $1",
    )
    .bind(metric)
    .bind(signal.firing)
    .bind(signal.breach_since.map(from_jiff))
    .bind(state_str(state))
    .bind(value.filter(|v| v.is_finite()))
    .execute(db)
    .await?;
    Ok(())
}

/// A metric's signal as the overview shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SignalRow {
    pub metric: String,
    pub signal: MetricSignal,
    pub last_state: MetricState,
    pub last_read_at: Option<Timestamp>,
}

/// Every metric's signal, by name.
pub(crate) async fn signals(db: impl PgExecutor<'_>) -> Result<Vec<SignalRow>, sqlx::Error> {
    let rows: Vec<(String, bool, Option<OffsetDateTime>, String, Option<OffsetDateTime>)> = sqlx::query_as(
        "select metric, firing, breach_since, last_state, last_read_at from metric_signals order by metric",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(metric, firing, since, state, at)| SignalRow {
            metric,
            signal: MetricSignal { firing, breach_since: since.map(to_jiff) },
            last_state: state_of(&state),
            last_read_at: at.map(to_jiff),
        })
        .collect())
}

/// The open incident a breach of `metric` declared, if any: its id and number.
pub(crate) async fn open_incident(
    db: impl PgExecutor<'_>,
    metric: &str,
) -> Result<Option<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.number from metric_signal_incidents m join incidents i on i.id = m.incident_id
          where m.metric = $1 and i.status <> 'resolved' order by m.opened_at desc limit 1",
    )
    .bind(metric)
    .fetch_optional(db)
    .await
}

/// Records that a breach of `metric` declared `incident_id`.
pub(crate) async fn link_incident(
    db: impl PgExecutor<'_>,
    metric: &str,
    incident_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into metric_signal_incidents (incident_id, metric) values ($1, $2)")
        .bind(incident_id)
        .bind(metric)
        .execute(db)
        .await?;
    Ok(())
}
