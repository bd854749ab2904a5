//! Probed services: `health_services` (the definitions), `health_service_state` (each one's
//! state and its scheduling lease), the status page's view of them, and
//! `health_signal_incidents` (the incidents their failures declared).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{Connection as _, PgConnection, PgExecutor};
use time::OffsetDateTime;
use twisterlab_domain::health::ServiceState;
use twisterlab_domain::incident::{ComponentStatus, Impact};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use crate::clock::{from_jiff, to_jiff};

/// The unique constraint on service names.
const NAME_UNIQUE: &str = "health_services_name_key";
/// The foreign key from a service to its status-page component.
const COMPONENT_KEY: &str = "health_services_component_id_fkey";

/// A service with its current state, as pages and workers read it.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// JSON pointer → expected JSON value.
    pub expect: BTreeMap<String, Value>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub failures_before_down: i32,
    pub component_id: Option<Uuid>,
    pub component_name: Option<String>,
    pub impact: Impact,
    /// Severity of the incident a down service declares; `None`: never.
    pub open_incident: Option<Severity>,
    /// Passing checks in a row that bring a down service's component back.
    pub passes_before_up: i32,
    /// Whether the incidents it declares are public at once.
    pub public_incidents: bool,
    pub enabled: bool,
    pub managed_by_file: bool,
    /// Shipped with the portal (the runbook's services), offered ready-made while disabled.
    pub ready_made: bool,
    /// Created by `serve --demo` for a simulated service; probed only in demo mode.
    pub demo: bool,
    pub state: ServiceState,
    pub state_since: Timestamp,
    pub consecutive_failures: i32,
    /// Whether it counts against its component on the status page (down, not yet recovered).
    pub counts_down: bool,
    pub last_checked_at: Option<Timestamp>,
    pub last_latency_ms: Option<i32>,
    /// Why the last probe failed (`None` after a success).
    pub last_reason: Option<String>,
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
    passes_before_up: i32,
    public_incidents: bool,
    enabled: bool,
    managed_by_file: bool,
    ready_made: bool,
    demo: bool,
    state: Option<String>,
    counts_down: Option<bool>,
    state_since: Option<OffsetDateTime>,
    consecutive_failures: Option<i32>,
    last_checked_at: Option<OffsetDateTime>,
    last_latency_ms: Option<i32>,
    last_reason: Option<String>,
    updated_at: OffsetDateTime,
}

/// `{"/status": "healthy"}` → a map; anything else (never stored, the table checks it) → empty.
fn expect_map(value: &Value) -> BTreeMap<String, Value> {
    value.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

fn expect_json(expect: &BTreeMap<String, Value>) -> Value {
    Value::Object(expect.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn decode_err(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unexpected {what} {value:?} in health_services").into())
}

fn state_of(stored: &str) -> Result<ServiceState, sqlx::Error> {
    ServiceState::parse(stored).ok_or_else(|| decode_err("state", stored))
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
            // No state row yet: a service is unknown until its first probe, since its last change.
            state: r.state.as_deref().map(state_of).transpose()?.unwrap_or(ServiceState::Unknown),
            state_since: to_jiff(r.state_since.unwrap_or(r.updated_at)),
            consecutive_failures: r.consecutive_failures.unwrap_or(0),
            counts_down: r.counts_down.unwrap_or(false),
            passes_before_up: r.passes_before_up,
            public_incidents: r.public_incidents,
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
            ready_made: r.ready_made,
            demo: r.demo,
            last_checked_at: r.last_checked_at.map(to_jiff),
            last_latency_ms: r.last_latency_ms,
            last_reason: r.last_reason,
        })
    }
}

const SELECT: &str =
    "select s.id, s.name, s.url, s.expect, s.interval_seconds, s.timeout_ms, s.failures_before_down,
        s.component_id, c.name as component_name, s.impact, s.open_incident, s.passes_before_up,
        s.public_incidents, s.enabled, s.managed_by_file, s.ready_made, s.demo, st.state, st.counts_down, st.state_since, st.consecutive_failures, st.last_checked_at, st.last_latency_ms,
        st.last_reason, s.updated_at
   from health_services s
   left join health_service_state st on st.service_id = s.id
   left join components c on c.id = s.component_id";

/// Every service, by name.
pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Service>, sqlx::Error> {
    let rows: Vec<ServiceRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} order by s.name"))).fetch_all(db).await?;
    rows.into_iter().map(Service::try_from).collect()
}

/// The service called `name`.
pub(crate) async fn find_by_name(
    db: impl PgExecutor<'_>,
    name: &str,
) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where s.name = $1")))
        .bind(name)
        .fetch_optional(db)
        .await?;
    row.map(Service::try_from).transpose()
}

/// The service with `id`.
pub(crate) async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where s.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(Service::try_from).transpose()
}

/// The service called `name`, its definition row locked until the transaction ends, so two
/// edits of one service apply one after the other.
pub(crate) async fn lock_by_name(db: &mut PgConnection, name: &str) -> Result<Option<Service>, sqlx::Error> {
    let row: Option<ServiceRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where s.name = $1 for update of s")))
            .bind(name)
            .fetch_optional(&mut *db)
            .await?;
    row.map(Service::try_from).transpose()
}

/// A service's definition as written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Definition<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub expect: &'a BTreeMap<String, Value>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub failures_before_down: i32,
    pub component_id: Option<Uuid>,
    pub impact: Impact,
    pub open_incident: Option<Severity>,
    pub passes_before_up: i32,
    pub public_incidents: bool,
    pub enabled: bool,
    /// Written by the configuration file's reconciliation (read-only in the pages).
    pub managed_by_file: bool,
    /// Demo data (`serve --demo`); set when the service is created, never changed.
    pub demo: bool,
}

/// Why a definition was not written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// Another service has the name (`health_services_name_key`).
    #[error("another service has this name")]
    NameTaken,
    /// The component does not exist (any more).
    #[error("the component does not exist")]
    NoSuchComponent,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Runs one write in a savepoint, so a refused write leaves the caller's transaction usable,
/// and maps the constraints a user can hit to [`WriteError`].
async fn refusable(
    db: &mut PgConnection,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<u64, WriteError> {
    let mut savepoint = db.begin().await?;
    match query.execute(&mut *savepoint).await {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(done.rows_affected())
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(match super::constraint_violated(&e) {
                Some(NAME_UNIQUE) => WriteError::NameTaken,
                Some(COMPONENT_KEY) => WriteError::NoSuchComponent,
                _ => WriteError::Database(e),
            })
        }
    }
}

/// Inserts a service and its state row; its first probe comes at a random point of its first
/// interval (jitter).
pub(crate) async fn insert(db: &mut PgConnection, d: &Definition<'_>) -> Result<Uuid, WriteError> {
    let id = Uuid::now_v7();
    let query = sqlx::query(
        "insert into health_services (id, name, url, expect, interval_seconds, timeout_ms, failures_before_down,
                                      component_id, impact, open_incident, enabled, managed_by_file,
                                      passes_before_up, public_incidents, demo)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(id)
    .bind(d.name)
    .bind(d.url)
    .bind(expect_json(d.expect))
    .bind(d.interval_seconds)
    .bind(d.timeout_ms)
    .bind(d.failures_before_down)
    .bind(d.component_id)
    .bind(d.impact.as_str())
    .bind(d.open_incident.map(|sev| sev.as_str()))
    .bind(d.enabled)
    .bind(d.managed_by_file)
    .bind(d.passes_before_up)
    .bind(d.public_incidents)
    .bind(d.demo);
    refusable(db, query).await?;
    sqlx::query(
        "insert into health_service_state (service_id, next_run_at)
         values ($1, now() + make_interval(secs => $2 * random()))",
    )
    .bind(id)
    .bind(f64::from(d.interval_seconds))
    .execute(&mut *db)
    .await?;
    Ok(id)
}

/// Replaces a service's definition; `false` when it no longer exists.
pub(crate) async fn update(db: &mut PgConnection, id: Uuid, d: &Definition<'_>) -> Result<bool, WriteError> {
    let query = sqlx::query(
        "update health_services set name = $2, url = $3, expect = $4, interval_seconds = $5, timeout_ms = $6,
                failures_before_down = $7, component_id = $8, impact = $9, open_incident = $10, enabled = $11,
                managed_by_file = $12, passes_before_up = $13, public_incidents = $14, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(d.name)
    .bind(d.url)
    .bind(expect_json(d.expect))
    .bind(d.interval_seconds)
    .bind(d.timeout_ms)
    .bind(d.failures_before_down)
    .bind(d.component_id)
    .bind(d.impact.as_str())
    .bind(d.open_incident.map(|sev| sev.as_str()))
    .bind(d.enabled)
    .bind(d.managed_by_file)
    .bind(d.passes_before_up)
    .bind(d.public_incidents);
    Ok(refusable(db, query).await? > 0)
}

/// Moves a service's next probe to a random point of its (new) interval.
pub(crate) async fn reschedule(
    db: impl PgExecutor<'_>,
    id: Uuid,
    interval_seconds: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update health_service_state set next_run_at = now() + make_interval(secs => $2 * random())
          where service_id = $1",
    )
    .bind(id)
    .bind(f64::from(interval_seconds))
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes a service with its state, results and roll-ups (its incidents stay).
pub(crate) async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from health_services where id = $1").bind(id).execute(db).await?.rows_affected()
        > 0)
}

/// Serialises reconciliations of the configuration file's services until the transaction
/// ends, so processes starting together apply the file once.
pub(crate) async fn lock_file_reconciliation(db: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('twisterlab.file_services'))").execute(db).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scheduling and state

/// A probe claimed by one process: what to probe and when it was due.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    pub service_id: Uuid,
    pub name: String,
    pub url: String,
    pub expect: BTreeMap<String, Value>,
    pub timeout: Duration,
    /// When the probe was due; lateness is measured from here.
    pub scheduled_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    service_id: Uuid,
    name: String,
    url: String,
    expect: Value,
    timeout_ms: i32,
    scheduled_at: OffsetDateTime,
}

/// Claims at most `limit` enabled probes due within `lookahead` for `owner` (demo services only
/// with `include_demo`, which only a portal started with `--demo` passes): moves each one's
/// next run one interval on and leases it until its timeout plus `lease_margin` has passed, in
/// one statement (`SKIP LOCKED`, so concurrent processes split the work instead of doubling
/// it). A service that fell more than an interval behind (the portal was down) restarts at a
/// random point of its next interval.
pub(crate) async fn claim_due(
    db: impl PgExecutor<'_>,
    owner: Uuid,
    lookahead: Duration,
    limit: i64,
    lease_margin: Duration,
    include_demo: bool,
) -> Result<Vec<Claim>, sqlx::Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "with due as (
             select st.service_id, st.next_run_at
               from health_service_state st
               join health_services s on s.id = st.service_id
              where s.enabled
                and (not s.demo or $5)
                and st.next_run_at <= now() + make_interval(secs => $2)
                and (st.lease_until is null or st.lease_until < now())
              order by st.next_run_at
              limit $3
              for update of st skip locked
         )
         update health_service_state st
            set lease_owner = $1,
                lease_until = greatest(due.next_run_at, now()) + make_interval(secs => s.timeout_ms / 1000.0 + $4),
                next_run_at = case
                    when due.next_run_at + make_interval(secs => s.interval_seconds) > now()
                        then due.next_run_at + make_interval(secs => s.interval_seconds)
                    else now() + make_interval(secs => s.interval_seconds * random()) end
           from due, health_services s
          where st.service_id = due.service_id and s.id = st.service_id
      returning st.service_id, s.name, s.url, s.expect, s.timeout_ms,
                case when due.next_run_at < now() - make_interval(secs => s.interval_seconds)
                     then now() else due.next_run_at end as scheduled_at",
    )
    .bind(owner)
    .bind(lookahead.as_secs_f64())
    .bind(limit)
    .bind(lease_margin.as_secs_f64())
    .bind(include_demo)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claim {
            service_id: r.service_id,
            expect: expect_map(&r.expect),
            // The table keeps timeouts between 100 ms and 60 s.
            timeout: Duration::from_millis(u64::try_from(r.timeout_ms).unwrap_or(2000)),
            name: r.name,
            url: r.url,
            scheduled_at: to_jiff(r.scheduled_at),
        })
        .collect())
}

/// Spreads the enabled probes late by more than `late_by` (they came due while no portal ran)
/// over their interval: each one's next run moves to a random point of its next interval, so
/// that after a restart they resume spread out instead of all at the first claim. Leased probes
/// and probes merely due now are left alone (demo services only with `include_demo`). Returns
/// how many moved.
pub(crate) async fn spread_late(
    db: impl PgExecutor<'_>,
    late_by: Duration,
    include_demo: bool,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "update health_service_state st
            set next_run_at = now() + make_interval(secs => s.interval_seconds * random())
           from health_services s
          where s.id = st.service_id
            and s.enabled
            and (not s.demo or $2)
            and st.next_run_at < now() - make_interval(secs => $1)
            and (st.lease_until is null or st.lease_until < now())",
    )
    .bind(late_by.as_secs_f64())
    .bind(include_demo)
    .execute(db)
    .await?
    .rows_affected())
}

/// A service's state row as locked for a probe result.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Locked {
    pub state: ServiceState,
    pub consecutive_failures: i32,
    pub state_since: Timestamp,
    pub failures_before_down: i32,
    pub consecutive_passes: i32,
    pub counts_down: bool,
    pub passes_before_up: i32,
    /// The component it counts against, if any.
    pub component_id: Option<Uuid>,
}

/// The state row of a service, locked until the transaction ends. Every state change and
/// every signal goes through this lock, which is what keeps one open incident per service.
pub(crate) async fn lock_state(
    db: &mut PgConnection,
    service_id: Uuid,
) -> Result<Option<Locked>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let row: Option<(String, i32, OffsetDateTime, i32, i32, bool, i32, Option<Uuid>)> = sqlx::query_as(
        "select st.state, st.consecutive_failures, st.state_since, s.failures_before_down,
                st.consecutive_passes, st.counts_down, s.passes_before_up, s.component_id
           from health_service_state st join health_services s on s.id = st.service_id
          where st.service_id = $1 for update of st",
    )
    .bind(service_id)
    .fetch_optional(&mut *db)
    .await?;
    row.map(|(s, n, since, threshold, passes, counts_down, passes_before_up, component_id)| {
        Ok(Locked {
            state: state_of(&s)?,
            consecutive_failures: n,
            state_since: to_jiff(since),
            failures_before_down: threshold,
            consecutive_passes: passes,
            counts_down,
            passes_before_up,
            component_id,
        })
    })
    .transpose()
}

/// A service's state after one probe.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewState<'a> {
    pub state: ServiceState,
    /// The state differs from the one before: its "since" becomes now.
    pub changed: bool,
    pub consecutive_failures: i32,
    pub consecutive_passes: i32,
    pub counts_down: bool,
    /// When the probe started.
    pub checked_at: Timestamp,
    pub ok: bool,
    pub latency_ms: i32,
    pub reason: Option<&'a str>,
}

/// Moves a service's state row on after a probe and releases `owner`'s lease (another
/// process's newer lease stays).
pub(crate) async fn record_state(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    new: &NewState<'_>,
    owner: Uuid,
) -> Result<(), sqlx::Error> {
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
                lease_until = case when lease_owner = $9 then null else lease_until end,
                consecutive_passes = $10,
                counts_down = $11
          where service_id = $1",
    )
    .bind(service_id)
    .bind(new.state.as_str())
    .bind(new.changed)
    .bind(new.consecutive_failures)
    .bind(from_jiff(new.checked_at))
    .bind(new.ok)
    .bind(new.latency_ms)
    .bind(new.reason)
    .bind(owner)
    .bind(new.consecutive_passes)
    .bind(new.counts_down)
    .execute(db)
    .await?;
    Ok(())
}

/// For the status page's roll-up: the components of `ids` (every one with `None`) that enabled
/// services count against (down and not yet recovered), each with the worst of those
/// services' configured impacts.
pub(crate) async fn components_down(
    db: impl PgExecutor<'_>,
    ids: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, ComponentStatus>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "select s.component_id, s.impact from health_services s
           join health_service_state st on st.service_id = s.id
          where s.enabled and st.counts_down and s.component_id is not null
            and ($1::uuid[] is null or s.component_id = any($1))
          order by s.component_id, s.name",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut out: HashMap<Uuid, ComponentStatus> = HashMap::new();
    for (id, impact) in rows {
        let status = ComponentStatus::from_impact(
            impact.parse::<Impact>().map_err(|_| decode_err("impact", &impact))?,
        );
        let slot = out.entry(id).or_insert(status);
        *slot = ComponentStatus::worst([*slot, status]);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Incidents declared by signals

/// The open incident a service's failures declared, if any: its id and number.
pub(crate) async fn open_signal_incident(
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

/// Records that `service_id`'s failures declared `incident_id`.
pub(crate) async fn link_signal_incident(
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

/// An incident a service's failures declared.
#[derive(Clone, Debug)]
pub(crate) struct SignalIncident {
    pub number: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub opened_at: Timestamp,
}

/// The incidents a service's failures declared, newest first.
pub(crate) async fn signal_incidents(
    db: impl PgExecutor<'_>,
    service_id: Uuid,
    limit: i64,
) -> Result<Vec<SignalIncident>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String, OffsetDateTime)> = sqlx::query_as(
        "select i.number, i.title, i.severity, i.status, h.opened_at from health_signal_incidents h
           join incidents i on i.id = h.incident_id
          where h.service_id = $1 order by h.opened_at desc limit $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(number, title, severity, status, opened_at)| SignalIncident {
            number,
            title,
            severity,
            status,
            opened_at: to_jiff(opened_at),
        })
        .collect())
}

/// An enabled service that is up again while the incident its failures declared is still open.
#[derive(Clone, Debug)]
pub(crate) struct Recovered {
    pub service: String,
    /// When it came back up.
    pub since: Timestamp,
    pub number: i64,
    pub private: bool,
}

/// Services that recovered after their open incident was declared, most recent recovery first.
pub(crate) async fn recovered_with_open_incident(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<Recovered>, sqlx::Error> {
    let rows: Vec<(String, OffsetDateTime, i64, bool)> = sqlx::query_as(
        "select s.name, st.state_since, i.number, i.private
           from health_services s
           join health_service_state st on st.service_id = s.id
           join health_signal_incidents h on h.service_id = s.id
           join incidents i on i.id = h.incident_id
          where s.enabled and st.state = 'up' and i.status <> 'resolved' and st.state_since >= h.opened_at
          order by st.state_since desc, i.number
          limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(service, since, number, private)| Recovered {
            service,
            since: to_jiff(since),
            number,
            private,
        })
        .collect())
}
