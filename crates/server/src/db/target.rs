//! Queries against the monitored TwisterLab database (not the portal's own): its activity and
//! table statistics, and `VACUUM ANALYZE` of a table looked up in its catalog. The connections
//! come from `target_db`; everything here but [`vacuum_analyze`] only reads.

use std::time::Duration;

use jiff::Timestamp;
use sqlx::PgConnection;
use sqlx::postgres::types::Oid;
use time::OffsetDateTime;

use crate::clock::to_jiff;

/// How many client connections are in one state (`None`: a state this account may not see).
#[derive(Debug, Clone)]
pub struct StateCount {
    pub state: Option<String>,
    pub connections: i64,
}

/// The server's connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: i64,
    /// Of `max_connections`, the slots only superusers may take.
    pub superuser_reserved: i64,
}

/// Client connections by state, most first.
pub async fn connections_by_state(conn: &mut PgConnection) -> Result<Vec<StateCount>, sqlx::Error> {
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
        "select state, count(*)::bigint as connections
         from pg_stat_activity
         where backend_type = 'client backend'
         group by state
         order by count(*) desc, state",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(state, connections)| StateCount { state, connections }).collect())
}

/// `max_connections` and `superuser_reserved_connections`.
pub async fn limits(conn: &mut PgConnection) -> Result<Limits, sqlx::Error> {
    let (max_connections, superuser_reserved): (i64, i64) = sqlx::query_as(
        "select current_setting('max_connections')::bigint,
                current_setting('superuser_reserved_connections')::bigint",
    )
    .fetch_one(conn)
    .await?;
    Ok(Limits { max_connections, superuser_reserved })
}

/// One client session from `pg_stat_activity`.
#[derive(Debug, Clone)]
pub struct Session {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application: String,
    /// The client's address; `None` for a Unix socket (or a session this account may not see).
    pub client: Option<String>,
    pub state: Option<String>,
    /// What it waits for (`Lock: transactionid`), when it waits.
    pub waiting_on: Option<String>,
    /// The current or last statement, at most 2000 characters as stored.
    pub query: Option<String>,
    /// Since its current (or last) statement started.
    pub running_for: Option<Duration>,
    /// Since its state last changed (how long it has been idle, for idle sessions).
    pub in_state_for: Option<Duration>,
    /// Since it connected.
    pub connected_for: Option<Duration>,
    /// How many sessions matched, of which at most the limit are returned.
    pub matched: i64,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    pid: i32,
    user_name: Option<String>,
    database: Option<String>,
    application: Option<String>,
    client: Option<String>,
    state: Option<String>,
    waiting_on: Option<String>,
    query: Option<String>,
    running_ms: Option<i64>,
    in_state_ms: Option<i64>,
    connected_ms: Option<i64>,
    matched: i64,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        let duration = |ms: Option<i64>| ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        Session {
            pid: r.pid,
            user: r.user_name,
            database: r.database,
            application: r.application.unwrap_or_default(),
            client: r.client,
            state: r.state,
            waiting_on: r.waiting_on,
            query: r.query,
            running_for: duration(r.running_ms),
            in_state_for: duration(r.in_state_ms),
            connected_for: duration(r.connected_ms),
            matched: r.matched,
        }
    }
}

const SESSION_COLUMNS: &str = "pid, usename as user_name, datname as database,
    application_name as application, host(client_addr) as client, state,
    wait_event_type || ': ' || wait_event as waiting_on, left(query, 2000) as query,
    (extract(epoch from now() - query_start) * 1000)::bigint as running_ms,
    (extract(epoch from now() - state_change) * 1000)::bigint as in_state_ms,
    (extract(epoch from now() - backend_start) * 1000)::bigint as connected_ms,
    count(*) over () as matched";

/// Statements running (state `active`) for longer than `min`, longest first, at most `limit`;
/// the session asking is left out.
pub async fn long_queries(
    conn: &mut PgConnection,
    min: Duration,
    limit: i64,
) -> Result<Vec<Session>, sqlx::Error> {
    let sql = format!(
        "select {SESSION_COLUMNS}
         from pg_stat_activity
         where backend_type = 'client backend' and state = 'active' and pid <> pg_backend_pid()
           and query_start < now() - make_interval(secs => $1::float8)
         order by query_start, pid
         limit $2"
    );
    let rows: Vec<SessionRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(min.as_secs_f64()).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Session::from).collect())
}

/// Sessions idle (or idle in a transaction) for longer than `min`, longest first, at most
/// `limit`; the session asking is left out.
pub async fn idle_sessions(
    conn: &mut PgConnection,
    min: Duration,
    limit: i64,
) -> Result<Vec<Session>, sqlx::Error> {
    let sql = format!(
        "select {SESSION_COLUMNS}
         from pg_stat_activity
         where backend_type = 'client backend'
           and state in ('idle', 'idle in transaction', 'idle in transaction (aborted)')
           and pid <> pg_backend_pid()
           and state_change < now() - make_interval(secs => $1::float8)
         order by state_change, pid
         limit $2"
    );
    let rows: Vec<SessionRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(min.as_secs_f64()).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(Session::from).collect())
}

/// A user table's size and tuple statistics.
#[derive(Debug, Clone)]
pub struct TableStats {
    pub schema: String,
    pub name: String,
    /// Table, indexes and TOAST, in bytes.
    pub total_bytes: i64,
    /// The same, as PostgreSQL writes sizes (`1234 kB`).
    pub total: String,
    pub table: String,
    pub indexes: String,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    /// The last manual `VACUUM`.
    pub last_vacuum: Option<Timestamp>,
    /// The last vacuum, manual or by autovacuum.
    pub last_any_vacuum: Option<Timestamp>,
    /// The last analyze, manual or by autovacuum.
    pub last_any_analyze: Option<Timestamp>,
    /// How many user tables there are, of which at most the limit are returned.
    pub tables: i64,
    /// All user tables together (`1234 MB`).
    pub all_tables_total: String,
}

#[derive(sqlx::FromRow)]
struct TableRow {
    schema: String,
    name: String,
    total_bytes: Option<i64>,
    total: Option<String>,
    table_size: Option<String>,
    indexes: Option<String>,
    live: i64,
    dead: i64,
    last_vacuum: Option<OffsetDateTime>,
    last_any_vacuum: Option<OffsetDateTime>,
    last_any_analyze: Option<OffsetDateTime>,
    tables: i64,
    all_tables_total: Option<String>,
}

impl From<TableRow> for TableStats {
    fn from(r: TableRow) -> Self {
        TableStats {
            schema: r.schema,
            name: r.name,
            total_bytes: r.total_bytes.unwrap_or(0),
            total: r.total.unwrap_or_default(),
            table: r.table_size.unwrap_or_default(),
            indexes: r.indexes.unwrap_or_default(),
            live_tuples: r.live,
            dead_tuples: r.dead,
            last_vacuum: r.last_vacuum.map(to_jiff),
            last_any_vacuum: r.last_any_vacuum.map(to_jiff),
            last_any_analyze: r.last_any_analyze.map(to_jiff),
            tables: r.tables,
            all_tables_total: r.all_tables_total.unwrap_or_default(),
        }
    }
}

const TABLE_STATS: &str = "select s.schemaname as schema, s.relname as name,
        pg_total_relation_size(s.relid) as total_bytes,
        pg_size_pretty(pg_total_relation_size(s.relid)) as total,
        pg_size_pretty(pg_table_size(s.relid)) as table_size,
        pg_size_pretty(pg_indexes_size(s.relid)) as indexes,
        s.n_live_tup as live, s.n_dead_tup as dead,
        s.last_vacuum,
        greatest(s.last_vacuum, s.last_autovacuum) as last_any_vacuum,
        greatest(s.last_analyze, s.last_autoanalyze) as last_any_analyze,
        count(*) over () as tables,
        pg_size_pretty(sum(pg_total_relation_size(s.relid)) over ()) as all_tables_total
    from pg_stat_user_tables s";

/// The user tables, biggest first (at most `limit`).
pub async fn table_sizes(conn: &mut PgConnection, limit: i64) -> Result<Vec<TableStats>, sqlx::Error> {
    let sql = format!(
        "{TABLE_STATS}
         order by pg_total_relation_size(s.relid) desc nulls last, s.schemaname, s.relname
         limit $1"
    );
    let rows: Vec<TableRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(conn).await?;
    Ok(rows.into_iter().map(TableStats::from).collect())
}

/// The statistics of the table `target` names (`None` if it is gone or has none, like a
/// partitioned parent).
pub async fn table_stats(
    conn: &mut PgConnection,
    target: &VacuumTarget,
) -> Result<Option<TableStats>, sqlx::Error> {
    let sql = format!("{TABLE_STATS} where s.relid = $1");
    let row: Option<TableRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(target.oid).fetch_optional(conn).await?;
    Ok(row.map(TableStats::from))
}

/// A relation found in the target's catalog by the name a person gave. Only [`resolve_table`]
/// makes one, so [`vacuum_analyze`] runs on a name PostgreSQL itself quoted.
#[derive(Debug, Clone)]
pub struct VacuumTarget {
    oid: Oid,
    /// `schema.name`, each part quoted by PostgreSQL's `quote_ident` where needed.
    qualified: String,
    /// `pg_class.relkind`: `r` table, `p` partitioned table, `m` materialized view, `v` view, …
    pub kind: String,
    /// Whether the connected account may vacuum it: its owner, the database's owner (except
    /// shared catalogs), a superuser, or (PostgreSQL 17) a holder of MAINTAIN.
    pub may_vacuum: bool,
    /// The account connected (`current_user`).
    pub account: String,
}

impl VacuumTarget {
    /// `schema.table` as it would be written in SQL.
    pub fn qualified(&self) -> &str {
        &self.qualified
    }
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    oid: Oid,
    qualified: String,
    kind: String,
    may_vacuum: bool,
    account: String,
}

/// The relation `name` (`table` on the search path, or `schema.table`) resolves to, as
/// `to_regclass` reads it; `None` when there is none. `name` is bound, never spliced.
pub async fn resolve_table(conn: &mut PgConnection, name: &str) -> Result<Option<VacuumTarget>, sqlx::Error> {
    let row: Option<TargetRow> = sqlx::query_as(
        "select c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as qualified,
                c.relkind::text as kind, current_user::text as account,
                (pg_has_role(c.relowner, 'USAGE')
                 or (not c.relisshared and pg_has_role(d.datdba, 'USAGE'))
                 or case when current_setting('server_version_num')::int >= 170000
                         then has_table_privilege(c.oid, 'MAINTAIN') else false end) as may_vacuum
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_database d on d.datname = current_database()
         where c.oid = to_regclass($1)",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| VacuumTarget {
        oid: r.oid,
        qualified: r.qualified,
        kind: r.kind,
        may_vacuum: r.may_vacuum,
        account: r.account,
    }))
}

/// `VACUUM (ANALYZE)` of `target`, on a connection outside any transaction with read-only off
/// (the simple protocol: VACUUM cannot run in a transaction block).
pub async fn vacuum_analyze(conn: &mut PgConnection, target: &VacuumTarget) -> Result<(), sqlx::Error> {
    let sql = format!("vacuum (analyze) {}", target.qualified);
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}
