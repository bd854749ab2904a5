//! The five database actions of the runbooks, run against the monitored database and written
//! up as a summary sentence and a table.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use twisterlab_domain::runbook::Action;

use super::{TargetDb, TargetDbError};
use crate::db::target::{self as queries, Session, TableStats, VacuumTarget};
use crate::runbooks::output::{ActionOutput, Table};
use crate::state::AppState;

/// Most rows a session list shows (the summary says how many matched).
const MAX_SESSIONS: i64 = 200;

/// Most tables the table sizes show, biggest first.
const MAX_TABLES: i64 = 100;

/// Query texts are cut to this many characters in the tables.
const QUERY_CHARS: usize = 300;

/// The runbook's alert level for connections in use ("Database Connections: < 80%").
const CONNECTIONS_ALERT_PERCENT: f64 = 80.0;

/// Autovacuum's default trigger: a table is due when its dead tuples exceed this many plus
/// [`AUTOVACUUM_SCALE`] of its live ones (`autovacuum_vacuum_threshold`, `…_scale_factor`).
const AUTOVACUUM_THRESHOLD: i64 = 50;
const AUTOVACUUM_SCALE: f64 = 0.2;

/// Runs `action` (one of the five database actions) against the monitored database.
///
/// Read-only actions ignore `apply`. `DbVacuumAnalyze` with `apply = false` changes nothing: it
/// says what would run and shows the table's dead tuples now; with `apply = true` it runs
/// `VACUUM (ANALYZE)` and reports its duration and the dead tuples after. Whether the caller may
/// run it (a commander, confirmed) is the caller's to check. The action's parameters are
/// checked again here (an out-of-bounds value is `Refused`, naming the field).
#[allow(dead_code, reason = "called by the guided runs (runbooks), which land on their own branch")]
pub(crate) async fn execute(
    state: &AppState,
    action: &Action,
    apply: bool,
) -> Result<ActionOutput, TargetDbError> {
    if !action.kind().uses_target_database() {
        return Err(TargetDbError::NotADbAction);
    }
    if let Err(errors) = action.validate() {
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(TargetDbError::Refused(reasons.join("; ")));
    }
    let Some(target) = &state.target_db else {
        return Err(TargetDbError::NotConfigured);
    };
    match action {
        Action::DbConnections => connections(target).await,
        Action::DbLongQueries { min_seconds } => {
            long_queries(target, Duration::from_secs(u64::try_from(*min_seconds).unwrap_or(1))).await
        }
        Action::DbIdleConnections { min_minutes } => {
            idle_connections(target, Duration::from_secs(60 * u64::try_from(*min_minutes).unwrap_or(1))).await
        }
        Action::DbTableSizes => table_sizes(target).await,
        Action::DbVacuumAnalyze { table } if apply => vacuum(target, table).await,
        Action::DbVacuumAnalyze { table } => vacuum_preview(target, table).await,
        _ => Err(TargetDbError::NotADbAction),
    }
}

/// Client connections by state against `max_connections`.
async fn connections(target: &TargetDb) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.read_only().await?;
    let counts = queries::connections_by_state(&mut conn).await.map_err(|e| target.error(e))?;
    let limits = queries::limits(&mut conn).await.map_err(|e| target.error(e))?;
    let in_use: i64 = counts.iter().map(|c| c.connections).sum();
    let share = |n: i64| percent(n, limits.max_connections);

    let mut rows: Vec<Vec<String>> = counts
        .iter()
        .map(|c| {
            vec![
                c.state.clone().unwrap_or_else(|| "unknown (not visible to this account)".into()),
                c.connections.to_string(),
                format_percent(share(c.connections)),
            ]
        })
        .collect();
    rows.push(vec!["total in use".into(), in_use.to_string(), format_percent(share(in_use))]);

    let by_state: Vec<String> = counts
        .iter()
        .map(|c| format!("{} {}", c.connections, c.state.as_deref().unwrap_or("unknown")))
        .collect();
    let mut summary = format!(
        "{in_use} of {} connections in use ({}; {} reserved for superusers): {}.",
        limits.max_connections,
        format_percent(share(in_use)),
        limits.superuser_reserved,
        by_state.join(", ")
    );
    if share(in_use) >= CONNECTIONS_ALERT_PERCENT {
        summary.push_str(
            " Above the runbook's 80% alert level: look for leaks (idle connections) and long queries.",
        );
    }
    if counts.iter().any(|c| c.state.is_none()) {
        summary.push_str(
            " Some states are hidden from this account: grant it pg_read_all_stats to see every session.",
        );
    }
    Ok(ActionOutput {
        summary,
        table: Some(Table {
            columns: vec!["State".into(), "Connections".into(), "Share of max_connections".into()],
            rows,
        }),
    })
}

/// Statements active for longer than `min`.
async fn long_queries(target: &TargetDb, min: Duration) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.read_only().await?;
    let sessions = queries::long_queries(&mut conn, min, MAX_SESSIONS).await.map_err(|e| target.error(e))?;
    let threshold = format_duration(min);
    let summary = match sessions.first() {
        None => format!("No query has been active for more than {threshold}."),
        Some(longest) => format!(
            "{} active for more than {threshold}{}; the longest: pid {} ({}) for {}.",
            count(longest.matched, "query", "queries"),
            shown_of(sessions.len(), longest.matched),
            longest.pid,
            describe_client(longest),
            longest.running_for.map(format_duration).unwrap_or_else(|| "?".into()),
        ),
    };
    let rows = sessions
        .iter()
        .map(|s| {
            vec![
                s.pid.to_string(),
                s.user.clone().unwrap_or_default(),
                s.database.clone().unwrap_or_default(),
                s.application.clone(),
                client(s),
                s.running_for.map(format_duration).unwrap_or_default(),
                s.state.clone().unwrap_or_default(),
                s.waiting_on.clone().unwrap_or_default(),
                s.query.as_deref().map(query_text).unwrap_or_default(),
            ]
        })
        .collect();
    Ok(ActionOutput {
        summary,
        table: Some(Table {
            columns: [
                "PID",
                "User",
                "Database",
                "Application",
                "Client",
                "Running for",
                "State",
                "Waiting on",
                "Query",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }),
    })
}

/// Sessions idle (or idle in a transaction) for longer than `min`: the leaks of the runbook's
/// "connection exhaustion".
pub(super) async fn idle_connections(
    target: &TargetDb,
    min: Duration,
) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.read_only().await?;
    let sessions = queries::idle_sessions(&mut conn, min, MAX_SESSIONS).await.map_err(|e| target.error(e))?;
    let threshold = format_duration(min);
    let summary = match sessions.first() {
        None => format!("No connection has been idle for more than {threshold}."),
        Some(first) => {
            let mut by_app: Vec<(String, usize)> = Vec::new();
            for s in &sessions {
                let app = if s.application.is_empty() {
                    "no application name".into()
                } else {
                    s.application.clone()
                };
                match by_app.iter_mut().find(|(name, _)| *name == app) {
                    Some((_, n)) => *n += 1,
                    None => by_app.push((app, 1)),
                }
            }
            by_app.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let apps: Vec<String> = by_app.iter().take(3).map(|(app, n)| format!("{n} from {app}")).collect();
            let in_transaction = sessions.iter().filter(|s| s.state.as_deref() != Some("idle")).count();
            let mut summary = format!(
                "{} idle for more than {threshold}{} ({}): likely leaks; the applications should \
                 close or pool their connections.",
                count(first.matched, "connection", "connections"),
                shown_of(sessions.len(), first.matched),
                apps.join(", ")
            );
            if in_transaction > 0 {
                let _ = write!(
                    summary,
                    " {in_transaction} of them {} idle inside an open transaction, holding locks and \
                     holding back VACUUM.",
                    if in_transaction == 1 { "is" } else { "are" }
                );
            }
            summary
        }
    };
    let rows = sessions
        .iter()
        .map(|s| {
            vec![
                s.pid.to_string(),
                s.user.clone().unwrap_or_default(),
                s.database.clone().unwrap_or_default(),
                s.application.clone(),
                client(s),
                s.state.clone().unwrap_or_default(),
                s.in_state_for.map(format_duration).unwrap_or_default(),
                s.connected_for.map(format_duration).unwrap_or_default(),
            ]
        })
        .collect();
    Ok(ActionOutput {
        summary,
        table: Some(Table {
            columns: [
                "PID",
                "User",
                "Database",
                "Application",
                "Client",
                "State",
                "Idle for",
                "Connected for",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        }),
    })
}

/// The user tables by total size, with live and dead tuples.
async fn table_sizes(target: &TargetDb) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.read_only().await?;
    let tables = queries::table_sizes(&mut conn, MAX_TABLES).await.map_err(|e| target.error(e))?;
    let Some(biggest) = tables.first() else {
        return Ok(ActionOutput {
            summary: "The monitored database has no user tables.".into(),
            table: None,
        });
    };
    let mut summary = format!(
        "{}{}, {} in total; the biggest: {}.{} ({}).",
        count(biggest.tables, "table", "tables"),
        shown_of(tables.len(), biggest.tables),
        biggest.all_tables_total,
        biggest.schema,
        biggest.name,
        biggest.total
    );
    let due: Vec<String> = tables
        .iter()
        .filter(|t| vacuum_due(t))
        .map(|t| format!("{}.{} ({} dead)", t.schema, t.name, format_percent(dead_ratio(t))))
        .collect();
    if !due.is_empty() {
        let _ = write!(
            summary,
            " Past autovacuum's default trigger (50 dead tuples + 20% of live ones): {}; VACUUM \
             ANALYZE them, and check why autovacuum has not.",
            due.join(", ")
        );
    }
    let rows = tables
        .iter()
        .map(|t| {
            vec![
                format!("{}.{}", t.schema, t.name),
                t.total.clone(),
                t.table.clone(),
                t.indexes.clone(),
                t.live_tuples.to_string(),
                t.dead_tuples.to_string(),
                format_percent(dead_ratio(t)),
                moment(t.last_any_vacuum),
                moment(t.last_any_analyze),
            ]
        })
        .collect();
    Ok(ActionOutput { summary, table: Some(stats_table(&["Table"], rows)) })
}

/// What `VACUUM ANALYZE` of `table` would do, changing nothing.
async fn vacuum_preview(target: &TargetDb, table: &str) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.read_only().await?;
    let found = vacuum_target(target, &mut conn, table).await?;
    let stats = queries::table_stats(&mut conn, &found).await.map_err(|e| target.error(e))?;
    let mut summary = format!(
        "Preview, nothing was run: confirm to run VACUUM (ANALYZE) {} on the monitored database. \
         It runs online (reads and writes go on), removes dead tuples and refreshes the planner's \
         statistics.",
        found.qualified()
    );
    let rows = match &stats {
        Some(t) => {
            let _ = write!(
                summary,
                " Now: {} dead tuples ({} of rows), {} in total, last vacuum {}.",
                t.dead_tuples,
                format_percent(dead_ratio(t)),
                t.total,
                moment(t.last_any_vacuum)
            );
            vec![stats_row("now", t)]
        }
        None => Vec::new(),
    };
    Ok(ActionOutput { summary, table: stats.is_some().then(|| stats_table(&["When"], rows)) })
}

/// `VACUUM (ANALYZE)` of `table`, on a writable connection of its own.
async fn vacuum(target: &TargetDb, table: &str) -> Result<ActionOutput, TargetDbError> {
    let mut conn = target.writable().await?;
    let found = vacuum_target(target, &mut conn, table).await?;
    let before = queries::table_stats(&mut conn, &found).await.map_err(|e| target.error(e))?;
    let started = Instant::now();
    queries::vacuum_analyze(&mut conn, &found).await.map_err(|e| target.error(e))?;
    let took = started.elapsed();
    let after = queries::table_stats(&mut conn, &found).await.map_err(|e| target.error(e))?;
    // PostgreSQL skips a table the account may not vacuum with only a warning; the statistics
    // tell whether it really ran.
    if let (Some(before), Some(after)) = (&before, &after)
        && after.last_vacuum.is_none_or(|t| before.last_vacuum.is_some_and(|b| t <= b))
    {
        return Err(TargetDbError::Refused(format!(
            "PostgreSQL skipped {}: the account {} may not vacuum it (only its owner, the database's \
             owner or a superuser may); connect TWISTERLAB_TARGET_DATABASE_URL as the owner",
            found.qualified(),
            found.account
        )));
    }
    tracing::info!(
        db.table = found.qualified(),
        took_ms = took.as_millis() as u64,
        "VACUUM ANALYZE ran on the monitored database"
    );
    let mut summary = format!("VACUUM (ANALYZE) {} finished in {}", found.qualified(), format_duration(took));
    match (&before, &after) {
        (Some(b), Some(a)) => {
            let _ = write!(summary, ": dead tuples {} → {}.", b.dead_tuples, a.dead_tuples);
        }
        _ => summary.push('.'),
    }
    let rows: Vec<Vec<String>> = [("before", &before), ("after", &after)]
        .into_iter()
        .filter_map(|(when, stats)| stats.as_ref().map(|t| stats_row(when, t)))
        .collect();
    Ok(ActionOutput { summary, table: (!rows.is_empty()).then(|| stats_table(&["When"], rows)) })
}

/// The relation `table` names, if it is one VACUUM works on and the account may vacuum it.
async fn vacuum_target(
    target: &TargetDb,
    conn: &mut sqlx::PgConnection,
    table: &str,
) -> Result<VacuumTarget, TargetDbError> {
    let found = queries::resolve_table(conn, table).await.map_err(|e| target.error(e))?.ok_or_else(|| {
        TargetDbError::Refused(format!(
            "there is no table {table:?} in the monitored database: write it as the table sizes step \
             shows it (schema.table)"
        ))
    })?;
    let kind = match found.kind.as_str() {
        "r" | "p" | "m" => None,
        "v" => Some("a view"),
        "i" | "I" => Some("an index"),
        "S" => Some("a sequence"),
        "f" => Some("a foreign table"),
        "c" => Some("a composite type"),
        "t" => Some("a TOAST table"),
        _ => Some("not a table"),
    };
    if let Some(kind) = kind {
        return Err(TargetDbError::Refused(format!(
            "{} is {kind}: VACUUM ANALYZE works on tables and materialized views",
            found.qualified()
        )));
    }
    if !found.may_vacuum {
        return Err(TargetDbError::Refused(format!(
            "the account {} may not vacuum {}: only its owner, the database's owner or a superuser \
             may; connect TWISTERLAB_TARGET_DATABASE_URL as the owner",
            found.account,
            found.qualified()
        )));
    }
    Ok(found)
}

fn stats_table(first: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut columns: Vec<String> = first.iter().map(|c| (*c).to_owned()).collect();
    columns.extend(
        [
            "Total",
            "Table",
            "Indexes",
            "Live tuples",
            "Dead tuples",
            "Dead ratio",
            "Last vacuum",
            "Last analyze",
        ]
        .map(String::from),
    );
    Table { columns, rows }
}

fn stats_row(when: &str, t: &TableStats) -> Vec<String> {
    vec![
        when.to_owned(),
        t.total.clone(),
        t.table.clone(),
        t.indexes.clone(),
        t.live_tuples.to_string(),
        t.dead_tuples.to_string(),
        format_percent(dead_ratio(t)),
        moment(t.last_any_vacuum),
        moment(t.last_any_analyze),
    ]
}

/// Dead tuples as a share of all tuples, in percent.
fn dead_ratio(t: &TableStats) -> f64 {
    percent(t.dead_tuples, t.live_tuples + t.dead_tuples)
}

/// Whether autovacuum's default trigger would vacuum it now.
fn vacuum_due(t: &TableStats) -> bool {
    t.dead_tuples as f64 > AUTOVACUUM_THRESHOLD as f64 + AUTOVACUUM_SCALE * t.live_tuples as f64
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 }
}

fn format_percent(p: f64) -> String {
    format!("{p:.1}%")
}

/// "1 query", "3 queries".
fn count(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// " (showing the first 200)" when the list was cut.
fn shown_of(shown: usize, matched: i64) -> String {
    if i64::try_from(shown).unwrap_or(i64::MAX) < matched {
        format!(" (showing the first {shown})")
    } else {
        String::new()
    }
}

fn client(s: &Session) -> String {
    s.client.clone().unwrap_or_else(|| "local socket".into())
}

fn describe_client(s: &Session) -> String {
    let app = if s.application.is_empty() { "no application name" } else { &s.application };
    match &s.user {
        Some(user) => format!("{user}, {app}"),
        None => app.to_owned(),
    }
}

/// A statement on one line, cut to [`QUERY_CHARS`] characters.
fn query_text(query: &str) -> String {
    let one_line = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= QUERY_CHARS {
        one_line
    } else {
        let cut: String = one_line.chars().take(QUERY_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// A time in UTC to the second (the timeline shows it beside the step), or "never".
fn moment(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => "never".into(),
    }
}

/// "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min", "3 d 4 h".
pub(super) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match secs {
        0 => format!("{} ms", d.as_millis()),
        1..60 if d.subsec_millis() == 0 => format!("{secs} s"),
        1..60 => format!("{:.1} s", d.as_secs_f64()),
        60..3600 => two(secs / 60, "min", secs % 60, "s"),
        3600..86_400 => two(secs / 3600, "h", secs % 3600 / 60, "min"),
        _ => two(secs / 86_400, "d", secs % 86_400 / 3600, "h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_sensible_units() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4 min 5 s");
        assert_eq!(format_duration(Duration::from_secs(7380)), "2 h 3 min");
        assert_eq!(format_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3 d 4 h");
        assert_eq!(format_duration(Duration::from_secs(600)), "10 min");
        assert_eq!(format_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2 h");
    }

    #[test]
    fn query_texts_are_one_line_and_cut_with_an_ellipsis() {
        assert_eq!(query_text("select\n  1\tfrom   x"), "select 1 from x");
        let long = "é".repeat(QUERY_CHARS + 10);
        let cut = query_text(&long);
        assert_eq!(cut.chars().count(), QUERY_CHARS);
        assert!(cut.ends_with('…'));
    }
}
