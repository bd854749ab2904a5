//! Probe results: `health_probe_results` (every probe, kept a few days) and
//! `health_probe_daily` (per service and UTC day, kept for the long view).

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use twisterlab_domain::health::FailureKind;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// One probe's result to store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewResult<'a> {
    pub service_id: Uuid,
    pub scheduled_at: Timestamp,
    pub started_at: Timestamp,
    pub ok: bool,
    pub latency_ms: i32,
    pub http_status: Option<u16>,
    pub failure: Option<FailureKind>,
    pub reason: Option<&'a str>,
    /// The first characters of the body, as evidence.
    pub excerpt: Option<&'a str>,
}

/// Appends one raw result.
pub(crate) async fn insert(db: impl PgExecutor<'_>, result: &NewResult<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into health_probe_results (service_id, scheduled_at, started_at, ok, latency_ms, http_status, failure, reason, excerpt)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(result.service_id)
    .bind(from_jiff(result.scheduled_at))
    .bind(from_jiff(result.started_at))
    .bind(result.ok)
    .bind(result.latency_ms)
    // HTTP statuses are three digits; anything wider is stored as the column's maximum.
    .bind(result.http_status.map(|s| i16::try_from(s).unwrap_or(i16::MAX)))
    .bind(result.failure.map(FailureKind::as_str))
    .bind(result.reason)
    .bind(result.excerpt)
    .execute(db)
    .await?;
    Ok(())
}

/// A stored result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProbeResult {
    pub scheduled_at: Timestamp,
    pub started_at: Timestamp,
    pub ok: bool,
    pub latency_ms: Option<i32>,
    pub http_status: Option<u16>,
    pub failure: Option<FailureKind>,
    pub reason: Option<String>,
    pub excerpt: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    scheduled_at: OffsetDateTime,
    started_at: OffsetDateTime,
    ok: bool,
    latency_ms: Option<i32>,
    http_status: Option<i16>,
    failure: Option<String>,
    reason: Option<String>,
    excerpt: Option<String>,
}

impl TryFrom<ResultRow> for ProbeResult {
    type Error = sqlx::Error;
    fn try_from(r: ResultRow) -> Result<Self, Self::Error> {
        let failure = r
            .failure
            .as_deref()
            .map(|f| {
                FailureKind::parse(f).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unexpected failure {f:?} in health_probe_results").into())
                })
            })
            .transpose()?;
        Ok(ProbeResult {
            scheduled_at: to_jiff(r.scheduled_at),
            started_at: to_jiff(r.started_at),
            ok: r.ok,
            latency_ms: r.latency_ms,
            http_status: r.http_status.and_then(|s| u16::try_from(s).ok()),
            failure,
            reason: r.reason,
            excerpt: r.excerpt,
        })
    }
}

/// The newest `limit` results of a service, newest first.
pub(crate) async fn recent(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> Result<Vec<ProbeResult>, sqlx::Error> {
    let rows: Vec<ResultRow> = sqlx::query_as(
        "select scheduled_at, started_at, ok, latency_ms, http_status, failure, reason, excerpt
           from health_probe_results where service_id = $1 order by started_at desc, id desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(ProbeResult::try_from).collect()
}

/// One bucket of a service's results over a span of time (the sparkline's half hours).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bucket {
    /// Index from the oldest (0).
    pub index: i32,
    pub checks: i64,
    pub failures: i64,
    /// Mean latency of successful checks, ms.
    pub mean_latency_ms: Option<f64>,
}

/// Results since `since`, grouped per service into buckets of `bucket_seconds`; one service
/// only when `service_id` is given.
pub(crate) async fn buckets(
    db: impl PgExecutor<'_>,
    since: Timestamp,
    bucket_seconds: i32,
    service_id: Option<Uuid>,
) -> Result<HashMap<Uuid, Vec<Bucket>>, sqlx::Error> {
    let rows: Vec<(Uuid, i32, i64, i64, Option<f64>)> = sqlx::query_as(
        "select service_id,
                (floor(extract(epoch from started_at - $1) / $2))::integer as bucket,
                count(*), count(*) filter (where not ok), avg(latency_ms) filter (where ok)::float8
           from health_probe_results
          where started_at >= $1 and ($3::uuid is null or service_id = $3)
          group by 1, 2 order by 1, 2",
    )
    .bind(from_jiff(since))
    .bind(f64::from(bucket_seconds))
    .bind(service_id)
    .fetch_all(db)
    .await?;
    let mut out: HashMap<Uuid, Vec<Bucket>> = HashMap::new();
    for (id, index, checks, failures, mean) in rows {
        out.entry(id).or_default().push(Bucket { index, checks, failures, mean_latency_ms: mean });
    }
    Ok(out)
}

/// A UTC day of a service's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Day {
    pub day: jiff::civil::Date,
    pub checks: i32,
    pub successes: i32,
    /// Latency percentiles of the successful checks, ms.
    pub latency_p50_ms: Option<i32>,
    pub latency_p95_ms: Option<i32>,
    pub latency_p99_ms: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct DayRow {
    day: time::Date,
    checks: i32,
    successes: i32,
    latency_p50_ms: Option<i32>,
    latency_p95_ms: Option<i32>,
    latency_p99_ms: Option<i32>,
}

impl TryFrom<DayRow> for Day {
    type Error = sqlx::Error;
    fn try_from(r: DayRow) -> Result<Self, Self::Error> {
        let d = r.day;
        let day = i16::try_from(d.year())
            .ok()
            .and_then(|year| jiff::civil::Date::new(year, u8::from(d.month()) as i8, d.day() as i8).ok())
            .ok_or_else(|| sqlx::Error::Decode(format!("day {d} is out of range").into()))?;
        Ok(Day {
            day,
            checks: r.checks,
            successes: r.successes,
            latency_p50_ms: r.latency_p50_ms,
            latency_p95_ms: r.latency_p95_ms,
            latency_p99_ms: r.latency_p99_ms,
        })
    }
}

/// The service's daily roll-ups, newest first.
pub(crate) async fn days(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> Result<Vec<Day>, sqlx::Error> {
    let rows: Vec<DayRow> = sqlx::query_as(
        "select day, checks, successes, latency_p50_ms, latency_p95_ms, latency_p99_ms
           from health_probe_daily where service_id = $1 order by day desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(Day::try_from).collect()
}

/// Recomputes the roll-ups of today and yesterday (UTC) from the raw results; idempotent.
/// Raw results are kept longer than two days, so both days are complete when recomputed.
pub(crate) async fn roll_up(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "insert into health_probe_daily (service_id, day, checks, successes, latency_p50_ms, latency_p95_ms, latency_p99_ms)
         select service_id, (started_at at time zone 'UTC')::date,
                count(*), count(*) filter (where ok),
                (percentile_cont(0.50) within group (order by latency_ms) filter (where ok))::integer,
                (percentile_cont(0.95) within group (order by latency_ms) filter (where ok))::integer,
                (percentile_cont(0.99) within group (order by latency_ms) filter (where ok))::integer
           from health_probe_results
          where started_at >= ((now() at time zone 'UTC')::date - 1)::timestamp at time zone 'UTC'
          group by 1, 2
         on conflict (service_id, day) do update
            set checks = excluded.checks, successes = excluded.successes, latency_p50_ms = excluded.latency_p50_ms,
                latency_p95_ms = excluded.latency_p95_ms, latency_p99_ms = excluded.latency_p99_ms",
    )
    .execute(db)
    .await?
    .rows_affected())
}

/// Deletes raw results older than `keep_days` days, at most `batch` rows (short transactions).
pub(crate) async fn prune(db: impl PgExecutor<'_>, keep_days: i32, batch: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from health_probe_results where id in (
             select id from health_probe_results where started_at < now() - make_interval(days => $1)
              order by started_at limit $2)",
    )
    .bind(keep_days)
    .bind(batch)
    .execute(db)
    .await?
    .rows_affected())
}
