//! The managers' report figures, aggregated in SQL over the incidents started in a period
//! (`percentile_disc` like `twisterlab_domain::period::figures`, which defines them).
//!
//! The percentiles order the durations as intervals and convert only the picked one to seconds:
//! a timestamp difference is days and microseconds, so intervals sort as their seconds do and
//! the figure is the very value a per-row `extract(epoch …)` would have picked, while `extract`
//! (numeric since PostgreSQL 14) then runs once per group instead of once per incident, which
//! over the trend's twelve periods is every incident (bench/README.md, Managers).

use jiff::Timestamp;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::clock::from_jiff;

/// Turns PostgreSQL's JIT compilation off for the rest of the caller's transaction. The
/// report's aggregates cost more than `jit_above_cost` on a large table, and compiling them
/// took ~100 ms per query in `bench/managers.sh` while each runs in tens of milliseconds.
pub(crate) async fn without_jit(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    Ok(())
}

/// The figures of one severity (or of all, `severity: None`) in a period.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub(crate) struct SeverityFigures {
    pub severity: Option<String>,
    pub declared: i64,
    /// Seconds from start to acknowledgement; `None` when nothing was acknowledged.
    pub mtta_median: Option<f64>,
    pub mtta_p90: Option<f64>,
    /// Seconds from start to resolution; `None` when nothing was resolved.
    pub mttr_median: Option<f64>,
    pub mttr_p90: Option<f64>,
    /// Incidents acknowledged by their response target.
    pub within_target: i64,
    /// Incidents that reached the manager on call.
    pub escalated_to_manager: i64,
    /// Incidents whose response target passed without an acknowledgement (acknowledged late,
    /// or not yet and the target is past at `now`).
    pub sla_breaches: i64,
}

/// Per-severity figures and the total over them (last, `severity: None`), for incidents
/// started in `[from, until)`; `severity` narrows to one.
pub(crate) async fn by_severity(
    db: impl PgExecutor<'_>,
    from: Timestamp,
    until: Timestamp,
    severity: Option<&str>,
    now: Timestamp,
) -> Result<Vec<SeverityFigures>, sqlx::Error> {
    sqlx::query_as(
        "with inc as (
             select i.severity, i.acknowledged_at, i.respond_by,
                    i.acknowledged_at - i.started_at as tta,
                    i.resolved_at - i.started_at as ttr,
                    exists (select 1 from escalations e where e.incident_id = i.id and e.kind = 'manager_escalation') as to_manager
               from incidents i
              where i.started_at >= $1 and i.started_at < $2 and ($3::text is null or i.severity = $3)
         )
         select severity, count(*) as declared,
                extract(epoch from percentile_disc(0.5) within group (order by tta))::float8 as mtta_median,
                extract(epoch from percentile_disc(0.9) within group (order by tta))::float8 as mtta_p90,
                extract(epoch from percentile_disc(0.5) within group (order by ttr))::float8 as mttr_median,
                extract(epoch from percentile_disc(0.9) within group (order by ttr))::float8 as mttr_p90,
                count(*) filter (where acknowledged_at <= respond_by) as within_target,
                count(*) filter (where to_manager) as escalated_to_manager,
                count(*) filter (where coalesce(acknowledged_at, $4) > respond_by) as sla_breaches
           from inc
          group by grouping sets ((severity), ())
          order by severity nulls last",
    )
    .bind(from_jiff(from))
    .bind(from_jiff(until))
    .bind(severity)
    .bind(from_jiff(now))
    .fetch_all(db)
    .await
}

/// Incidents per component and severity in a period.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ComponentCount {
    pub component: String,
    pub severity: String,
    pub incidents: i64,
}

pub(crate) async fn by_component(
    db: impl PgExecutor<'_>,
    from: Timestamp,
    until: Timestamp,
    severity: Option<&str>,
) -> Result<Vec<ComponentCount>, sqlx::Error> {
    sqlx::query_as(
        "select c.name as component, i.severity, count(*) as incidents
           from incidents i
           join incident_components ic on ic.incident_id = i.id
           join components c on c.id = ic.component_id
          where i.started_at >= $1 and i.started_at < $2 and ($3::text is null or i.severity = $3)
          group by c.name, c.position, i.severity
          order by c.position, c.name, i.severity",
    )
    .bind(from_jiff(from))
    .bind(from_jiff(until))
    .bind(severity)
    .fetch_all(db)
    .await
}

/// One person's pages in a period.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct OnCallLoad {
    pub user_id: Uuid,
    pub name: String,
    pub pages: i64,
    /// Outside the team's business hours (`business_hours`, in `zone`).
    pub outside_hours: i64,
    /// From 22:00 to 07:00 in `zone`.
    pub night: i64,
}

/// Pages (the primary page at declaration, secondary and manager escalations) per person sent
/// in `[from, until)`, most paged first; `zone` is the team's IANA zone.
pub(crate) async fn oncall_load(
    db: impl PgExecutor<'_>,
    from: Timestamp,
    until: Timestamp,
    severity: Option<&str>,
    zone: &str,
) -> Result<Vec<OnCallLoad>, sqlx::Error> {
    sqlx::query_as(
        "with pages as (
             select (t.data ->> 'user_id')::uuid as user_id, (t.at at time zone $4) as local
               from timeline_events t
              where t.kind in ('notified', 'escalated') and t.at >= $1 and t.at < $2
                and t.data ->> 'user_id' is not null
                -- Only a severity filter needs the incident: no join per page without one.
                and ($3::text is null
                     or exists (select 1 from incidents i where i.id = t.incident_id and i.severity = $3))
         )
         select u.id as user_id, u.display_name as name, count(*) as pages,
                count(*) filter (where not (extract(isodow from p.local)::smallint = any (bh.days)
                                            and p.local::time >= bh.opens_at and p.local::time < bh.closes_at)) as outside_hours,
                count(*) filter (where p.local::time >= time '22:00' or p.local::time < time '07:00') as night
           from pages p
           join users u on u.id = p.user_id
           cross join business_hours bh
          group by u.id, u.display_name
          order by pages desc, u.display_name",
    )
    .bind(from_jiff(from))
    .bind(from_jiff(until))
    .bind(severity)
    .bind(zone)
    .fetch_all(db)
    .await
}

/// The trend figures of one period.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub(crate) struct TrendPoint {
    /// 1-based position in the periods passed.
    pub idx: i64,
    pub declared: i64,
    pub mtta_median: Option<f64>,
    pub mttr_median: Option<f64>,
    pub within_target: i64,
}

/// Declared, MTTA and MTTR medians and acknowledgements within target for each of `periods`
/// (`[start, end)` each), in one query.
pub(crate) async fn trend(
    db: impl PgExecutor<'_>,
    periods: &[(Timestamp, Timestamp)],
    severity: Option<&str>,
) -> Result<Vec<TrendPoint>, sqlx::Error> {
    let starts: Vec<_> = periods.iter().map(|(s, _)| from_jiff(*s)).collect();
    let ends: Vec<_> = periods.iter().map(|(_, e)| from_jiff(*e)).collect();
    sqlx::query_as(
        "select p.idx, count(i.id) as declared,
                extract(epoch from percentile_disc(0.5) within group (order by i.acknowledged_at - i.started_at))::float8 as mtta_median,
                extract(epoch from percentile_disc(0.5) within group (order by i.resolved_at - i.started_at))::float8 as mttr_median,
                count(i.id) filter (where i.acknowledged_at <= i.respond_by) as within_target
           from unnest($1::timestamptz[], $2::timestamptz[]) with ordinality as p (start_at, end_at, idx)
           left join incidents i
             on i.started_at >= p.start_at and i.started_at < p.end_at and ($3::text is null or i.severity = $3)
          group by p.idx
          order by p.idx",
    )
    .bind(starts)
    .bind(ends)
    .bind(severity)
    .fetch_all(db)
    .await
}
