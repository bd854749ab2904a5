//! Queries of the health overview: services and their state, probe results, daily roll-ups,
//! sparkline buckets, the incidents signals opened, and the component health the status page
//! reads.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::{Date, OffsetDateTime};
use twisterlab_domain::incident::Impact;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::definition::ServiceSpec;
use super::rules::{FailureKind, ServiceState};

/// A service with its current state, as pages and workers read it.
#[derive(Clone, Debug)]
pub struct Service {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub expect: BTreeMap<String, Value>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub failures_before_down: i32,
    pub component_id: Option<Uuid>,
    pub component_name: Option<String>,
    pub impact: Impact,
    pub open_incident: Option<Severity>,
    pub enabled: bool,
    pub managed_by_file: bool,
    pub state: ServiceState,
    pub state_since: OffsetDateTime,
    pub consecutive_failures: i32,
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_ok_at: Option<OffsetDateTime>,
    pub last_latency_ms: Option<i32>,
    pub last_reason: Option<String>,
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: Uuid,
    name: String,
    url: String,
    expect: Value,
    interval_seconds: i32,
    timeout_ms: i32,
    failures_before_down: i32,
    component_id: Option<Uuid>,
    component_name: Option<String>,
    impact: String,
    open_incident: Option<String>,
    enabled: bool,
    managed_by_file: bool,
    state: Option<String>,
    state_since: Option<OffsetDateTime>,
    consecutive_failures: Option<i32>,
    last_checked_at: Option<OffsetDateTime>,
    last_ok_at: Option<OffsetDateTime>,
    last_latency_ms: Option<i32>,
    last_reason: Option<String>,
    updated_at: OffsetDateTime,
}

/// `{"/status": "healthy"}` → a map; anything else (never stored, the table checks it) → empty.
pub fn expect_map(value: &Value) -> BTreeMap<String, Value> {
    value.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value:?} in health_services").into())
}

impl TryFrom<ServiceRow> for Service {
    type Error = sqlx::Error;
    fn try_from(r: ServiceRow) -> Result<Self, Self::Error> {
        Ok(Service {
            expect: expect_map(&r.expect),
            impact: r.impact.parse().map_err(|_| decode_err("impact", &r.impact))?,
            open_incident: r
                .open_incident
                .as_deref()
                .map(|s| s.parse::<Severity>().map_err(|_| decode_err("severity", s)))
                .transpose()?,
            state: ServiceState::parse(r.state.as_deref().unwrap_or("unknown")),
            state_since: r.state_since.unwrap_or(r.updated_at),
            consecutive_failures: r.consecutive_failures.unwrap_or(0),
            id: r.id,
            name: r.name,
            url: r.url,
            interval_seconds: r.interval_seconds,
            timeout_ms: r.timeout_ms,
            failures_before_down: r.failures_before_down,
            component_id: r.component_id,
            component_name: r.component_name,
            enabled: r.enabled,
            managed_by_file: r.managed_by_file,
            last_checked_at: r.last_checked_at,
            last_ok_at: r.last_ok_at,
            last_latency_ms: r.last_latency_ms,
            last_reason: r.last_reason,
            updated_at: r.updated_at,
        })
    }
}

const SELECT: &str = "select s.id, s.name, s.url, s.expect, s.interval_seconds, s.timeout_ms, s.failures_before_down,
        s.component_id, c.name as component_name, s.impact, s.open_incident, s.enabled, s.managed_by_file,
        st.state, st.state_since, st.consecutive_failures, st.last_checked_at, st.last_ok_at, st.last_latency_ms,
        st.last_reason, s.updated_at
   from health_services s
   left join health_service_state st on st.service_id = s.id
   left join components c on c.id = s.component_id";

/// Every service, by name.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Service>, sqlx::Error> {
    let rows: Vec<ServiceRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by s.name"))).fetch_all(db).await?;
    rows.into_iter().map(Service::try_from).collect()
}

pub async fn find_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where s.name = $1")))
        .bind(name)
        .fetch_optional(db)
        .await?;
    row.map(Service::try_from).transpose()
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where s.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(Service::try_from).transpose()
}

/// What is written for a service: the spec with its component resolved to an id.
#[derive(Clone, Debug)]
pub struct Draft<'a> {
    pub spec: &'a ServiceSpec,
    pub component_id: Option<Uuid>,
    pub managed_by_file: bool,
}

fn expect_json(spec: &ServiceSpec) -> Value {
    Value::Object(spec.expect.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Inserts a service and its state row; its first probe comes at a random point of its first
/// interval (jitter). `None` when the name is taken.
pub async fn insert(db: &mut PgConnection, draft: &Draft<'_>) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::now_v7();
    let s = draft.spec;
    let inserted = sqlx::query(
        "insert into health_services (id, name, url, expect, interval_seconds, timeout_ms, failures_before_down,
                                      component_id, impact, open_incident, enabled, managed_by_file)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (name) do nothing",
    )
    .bind(id)
    .bind(&s.name)
    .bind(&s.url)
    .bind(expect_json(s))
    .bind(s.interval_seconds)
    .bind(s.timeout_ms)
    .bind(s.failures_before_down)
    .bind(draft.component_id)
    .bind(s.impact.as_str())
    .bind(s.open_incident.map(|sev| sev.as_str()))
    .bind(s.enabled)
    .bind(draft.managed_by_file)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    sqlx::query(
        "insert into health_service_state (service_id, next_run_at)
         values ($1, now() + make_interval(secs => $2 * random()))",
    )
    .bind(id)
    .bind(f64::from(s.interval_seconds))
    .execute(&mut *db)
    .await?;
    Ok(Some(id))
}

/// Changes a service's definition. A changed interval reschedules it within the new interval.
pub async fn update(db: &mut PgConnection, id: Uuid, draft: &Draft<'_>) -> Result<bool, sqlx::Error> {
    let s = draft.spec;
    let before: Option<i32> =
        sqlx::query_scalar("select interval_seconds from health_services where id = $1")
            .bind(id)
            .fetch_optional(&mut *db)
            .await?;
    let Some(old_interval) = before else { return Ok(false) };
    sqlx::query(
        "update health_services set name = $2, url = $3, expect = $4, interval_seconds = $5, timeout_ms = $6,
                failures_before_down = $7, component_id = $8, impact = $9, open_incident = $10, enabled = $11,
                managed_by_file = $12, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(&s.name)
    .bind(&s.url)
    .bind(expect_json(s))
    .bind(s.interval_seconds)
    .bind(s.timeout_ms)
    .bind(s.failures_before_down)
    .bind(draft.component_id)
    .bind(s.impact.as_str())
    .bind(s.open_incident.map(|sev| sev.as_str()))
    .bind(s.enabled)
    .bind(draft.managed_by_file)
    .execute(&mut *db)
    .await?;
    if old_interval != s.interval_seconds {
        sqlx::query(
            "update health_service_state set next_run_at = now() + make_interval(secs => $2 * random())
              where service_id = $1",
        )
        .bind(id)
        .bind(f64::from(s.interval_seconds))
        .execute(&mut *db)
        .await?;
    }
    Ok(true)
}

/// Deletes a service with its state, results and roll-ups (its incidents stay).
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from health_services where id = $1").bind(id).execute(db).await?.rows_affected()
        > 0)
}

/// A component by its name, for `component = "API"` in the file.
pub async fn component_id_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from components where lower(name) = lower($1)")
        .bind(name)
        .fetch_optional(db)
        .await
}

/// A service's state row as locked for a probe result.
#[derive(Clone, Copy, Debug)]
pub struct Locked {
    pub state: ServiceState,
    pub consecutive_failures: i32,
    pub state_since: OffsetDateTime,
    pub failures_before_down: i32,
}

/// The state row of a service, locked until the transaction ends. Every state change and
/// every signal goes through this lock, which is what keeps one open incident per service.
pub async fn lock_state(db: &mut PgConnection, service_id: Uuid) -> Result<Option<Locked>, sqlx::Error> {
    let row: Option<(String, i32, OffsetDateTime, i32)> = sqlx::query_as(
        "select st.state, st.consecutive_failures, st.state_since, s.failures_before_down
           from health_service_state st join health_services s on s.id = st.service_id
          where st.service_id = $1 for update of st",
    )
    .bind(service_id)
    .fetch_optional(&mut *db)
    .await?;
    Ok(row.map(|(s, n, since, threshold)| Locked {
        state: ServiceState::parse(&s),
        consecutive_failures: n,
        state_since: since,
        failures_before_down: threshold,
    }))
}

/// One probe's result to store.
#[derive(Clone, Debug)]
pub struct NewResult<'a> {
    pub service_id: Uuid,
    pub scheduled_at: OffsetDateTime,
    pub started_at: OffsetDateTime,
    pub ok: bool,
    pub latency_ms: i32,
    pub http_status: Option<u16>,
    pub failure: Option<FailureKind>,
    pub reason: Option<&'a str>,
    pub excerpt: Option<&'a str>,
}

/// Appends a raw result and moves the state row on; releases `owner`'s lease.
pub async fn save_result(
    db: &mut PgConnection,
    result: &NewResult<'_>,
    state: ServiceState,
    state_changed: bool,
    consecutive_failures: i32,
    owner: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into health_probe_results (service_id, scheduled_at, started_at, ok, latency_ms, http_status, failure, reason, excerpt)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(result.service_id)
    .bind(result.scheduled_at)
    .bind(result.started_at)
    .bind(result.ok)
    .bind(result.latency_ms)
    .bind(result.http_status.map(|s| i16::try_from(s).unwrap_or(i16::MAX)))
    .bind(result.failure.map(FailureKind::as_str))
    .bind(result.reason)
    .bind(result.excerpt)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "update health_service_state
            set state = $2,
                state_since = case when $3 then now() else state_since end,
                consecutive_failures = $4,
                last_checked_at = $5,
                last_ok_at = case when $6 then $5 else last_ok_at end,
                last_latency_ms = $7,
                last_reason = $8,
                lease_owner = case when lease_owner = $9 then null else lease_owner end,
                lease_until = case when lease_owner = $9 then null else lease_until end
          where service_id = $1",
    )
    .bind(result.service_id)
    .bind(state.as_str())
    .bind(state_changed)
    .bind(consecutive_failures)
    .bind(result.started_at)
    .bind(result.ok)
    .bind(result.latency_ms)
    .bind(result.reason)
    .bind(owner)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A stored result.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ResultRow {
    pub scheduled_at: OffsetDateTime,
    pub started_at: OffsetDateTime,
    pub ok: bool,
    pub latency_ms: Option<i32>,
    pub http_status: Option<i16>,
    pub failure: Option<String>,
    pub reason: Option<String>,
    pub excerpt: Option<String>,
}

/// The newest `limit` results of a service, newest first.
pub async fn recent_results(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> Result<Vec<ResultRow>, sqlx::Error> {
    sqlx::query_as(
        "select scheduled_at, started_at, ok, latency_ms, http_status, failure, reason, excerpt
           from health_probe_results where service_id = $1 order by started_at desc, id desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One bucket of the 24-hour sparkline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Index from the oldest (0).
    pub index: i32,
    pub checks: i64,
    pub failures: i64,
    /// Mean latency of successful checks, ms.
    pub mean_latency_ms: Option<f64>,
}

/// Results since `since`, grouped per service into buckets of `bucket_seconds`.
pub async fn buckets(
    db: impl PgExecutor<'_>,
    since: OffsetDateTime,
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
    .bind(since)
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

/// A day of a service's history.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Day {
    pub day: Date,
    pub checks: i32,
    pub successes: i32,
    pub latency_p50_ms: Option<i32>,
    pub latency_p95_ms: Option<i32>,
    pub latency_p99_ms: Option<i32>,
}

impl Day {
    /// "99.86 %".
    pub fn uptime(&self) -> String {
        if self.checks == 0 {
            return "–".into();
        }
        let share = f64::from(self.successes) / f64::from(self.checks) * 100.0;
        if self.successes == self.checks { "100 %".into() } else { format!("{share:.2} %") }
    }
}

/// The service's daily roll-ups, newest first.
pub async fn days(db: impl PgExecutor<'_>, service_id: Uuid, limit: i64) -> Result<Vec<Day>, sqlx::Error> {
    sqlx::query_as(
        "select day, checks, successes, latency_p50_ms, latency_p95_ms, latency_p99_ms
           from health_probe_daily where service_id = $1 order by day desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Recomputes the roll-ups of today and yesterday (UTC) from the raw results; idempotent.
/// Raw results are kept longer than two days, so both days are complete when recomputed.
pub async fn roll_up(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
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
pub async fn prune(db: impl PgExecutor<'_>, keep_days: i32, batch: i64) -> Result<u64, sqlx::Error> {
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

/// The open incident a service's failures declared, if any (number and id).
pub async fn open_signal_incident(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
) -> Result<Option<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.number from health_signal_incidents h join incidents i on i.id = h.incident_id
          where h.service_id = $1 and i.status <> 'resolved' order by h.opened_at desc limit 1",
    )
    .bind(service_id)
    .fetch_optional(db)
    .await
}

pub async fn link_signal_incident(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    incident_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into health_signal_incidents (incident_id, service_id) values ($1, $2)")
        .bind(incident_id)
        .bind(service_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Incidents a service's failures declared, newest first: (number, title, status, opened).
pub async fn signal_incidents(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> Result<Vec<(i64, String, String, String, OffsetDateTime)>, sqlx::Error> {
    sqlx::query_as(
        "select i.number, i.title, i.severity, i.status, h.opened_at from health_signal_incidents h
           join incidents i on i.id = h.incident_id
          where h.service_id = $1 order by h.opened_at desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// For the status page's roll-up: every component a down (enabled) service maps to, with the
/// impact it declares. Several services on one component each appear.
pub async fn component_health(db: impl PgExecutor<'_>) -> Result<Vec<(Uuid, Option<Impact>)>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select s.component_id, s.impact from health_services s
           join health_service_state st on st.service_id = s.id
          where s.enabled and st.state = 'down' and s.component_id is not null
          order by s.component_id, s.name",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, impact)| (id, impact.parse::<Impact>().ok())).collect())
}
