//! What each database action shows, against sessions and tables the tests make.

use std::time::Duration;

use sqlx::{Executor as _, PgPool};
use twisterlab_domain::runbook::Action;

use super::{TargetDatabase, cell, eventually, refused, rows_where, run};
use crate::target_db::diagnostics::idle_connections;
use crate::target_db::{APPLICATION_NAME, TargetDbError};

async fn pid(conn: &mut sqlx::PgConnection) -> String {
    let pid: i32 = sqlx::query_scalar("select pg_backend_pid()").fetch_one(conn).await.expect("pid");
    pid.to_string()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn connections_are_counted_by_state_against_max_connections(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let mut idle = target.session(&unique("api-idle")).await;
    let _ = pid(&mut idle).await;
    let max: String = sqlx::query_scalar("show max_connections").fetch_one(&pool).await.expect("max");

    let output = run(&app, Action::DbConnections, false).await;

    assert!(output.summary.contains(&format!(" of {max} connections in use")), "{}", output.summary);
    let table = output.table.expect("a table");
    assert_eq!(table.columns, ["State", "Connections", "Share of max_connections"]);
    let idle_row = rows_where(&table, "State", "idle");
    assert_eq!(idle_row.len(), 1, "{table:?}");
    assert!(cell(&table, idle_row[0], "Connections").parse::<i64>().expect("a count") >= 1);
    let total = rows_where(&table, "State", "total in use");
    let in_use: i64 = cell(&table, total[0], "Connections").parse().expect("a count");
    assert!(in_use >= 2, "the idle session and the diagnostics' own: {table:?}");
    assert!(cell(&table, total[0], "Share of max_connections").ends_with('%'));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_query_running_past_the_threshold_is_listed_with_its_pid_application_and_text(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let application = unique("api-slow");
    let mut slow = target.session(&application).await;
    let slow_pid = pid(&mut slow).await;
    let sleeper = tokio::spawn(async move {
        let _ = sqlx::query("select pg_sleep(30) /* the slow report */").execute(&mut slow).await;
    });
    let mut idle = target.session(&unique("api-idle")).await;
    let idle_pid = pid(&mut idle).await;

    let (summary, table) = eventually(Duration::from_secs(20), "the sleeping query is listed", || async {
        let output = run(&app, Action::DbLongQueries { min_seconds: 1 }, false).await;
        let table = output.table.expect("a table");
        (!rows_where(&table, "PID", &slow_pid).is_empty()).then_some((output.summary, table))
    })
    .await;

    assert!(summary.contains("active for more than 1 s"), "{summary}");
    let row = rows_where(&table, "PID", &slow_pid)[0];
    assert_eq!(cell(&table, row, "Application"), application);
    assert_eq!(cell(&table, row, "State"), "active");
    assert_eq!(cell(&table, row, "Database"), target.name);
    assert!(cell(&table, row, "Query").contains("select pg_sleep(30) /* the slow report */"), "{row:?}");
    assert!(cell(&table, row, "Running for").ends_with(" s"), "{row:?}");
    assert!(rows_where(&table, "PID", &idle_pid).is_empty(), "an idle session runs no query: {table:?}");
    assert!(
        !table.rows.iter().any(|row| cell(&table, row, "Application") == APPLICATION_NAME),
        "the diagnostics do not list themselves: {table:?}"
    );

    // The default threshold of the runbook (5 s) leaves out a query that just started.
    let output = run(&app, Action::DbLongQueries { min_seconds: 3600 }, false).await;
    let table = output.table.expect("a table");
    assert!(rows_where(&table, "PID", &slow_pid).is_empty());

    sleeper.abort();
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn long_idle_connections_are_listed_and_fresh_ones_are_not(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let leaky = unique("api-leak");
    let mut idle = target.session(&leaky).await;
    let idle_pid = pid(&mut idle).await;
    let mut in_transaction = target.session(&leaky).await;
    let in_transaction_pid = pid(&mut in_transaction).await;
    in_transaction.execute("begin; select 1").await.expect("open a transaction");

    // The runbook's threshold (10 minutes): a session idle for a moment is no leak.
    let output = run(&app, Action::DbIdleConnections { min_minutes: 10 }, false).await;
    let table = output.table.expect("a table");
    assert_eq!(
        table.columns,
        ["PID", "User", "Database", "Application", "Client", "State", "Idle for", "Connected for"]
    );
    assert!(rows_where(&table, "PID", &idle_pid).is_empty(), "{table:?}");

    // With a threshold the test can wait for, both show up, each with its state.
    let target_db = app.state.target_db.clone().expect("configured");
    let (summary, table) = eventually(Duration::from_secs(20), "the idle sessions are listed", || async {
        let output = idle_connections(&target_db, Duration::from_secs(1)).await.expect("runs");
        let table = output.table.expect("a table");
        let both = !rows_where(&table, "PID", &idle_pid).is_empty()
            && !rows_where(&table, "PID", &in_transaction_pid).is_empty();
        both.then_some((output.summary, table))
    })
    .await;
    let row = rows_where(&table, "PID", &idle_pid)[0];
    assert_eq!(cell(&table, row, "State"), "idle");
    assert_eq!(cell(&table, row, "Application"), leaky);
    assert_eq!(cell(&table, row, "Database"), target.name);
    let row = rows_where(&table, "PID", &in_transaction_pid)[0];
    assert_eq!(cell(&table, row, "State"), "idle in transaction");
    assert!(summary.contains(&format!("from {leaky}")), "{summary}");
    assert!(summary.contains("idle inside an open transaction"), "{summary}");
    assert!(summary.contains("idle for more than 1 s"), "{summary}");
}

/// `agents` with 400 live and 600 dead tuples (autovacuum off so they stay), and a smaller
/// `settings` table; waits until the statistics show the deletes.
async fn tables_with_dead_tuples(app: &crate::testing::TestApp, target: &TargetDatabase) {
    let mut conn = target.session("setup").await;
    conn.execute(
        "create table agents (id bigint primary key, name text not null) with (autovacuum_enabled = off);
         insert into agents select i, 'agent ' || i from generate_series(1, 1000) i;
         delete from agents where id <= 600;
         create table settings (key text primary key, value text) with (autovacuum_enabled = off);
         insert into settings values ('a', 'b');
         create view agent_names as select name from agents;",
    )
    .await
    .expect("tables");
    drop(conn);
    eventually(Duration::from_secs(20), "the statistics show 600 dead tuples", || async {
        let output = run(app, Action::DbTableSizes, false).await;
        let table = output.table?;
        let rows = rows_where(&table, "Table", "public.agents");
        (rows.first().map(|row| cell(&table, row, "Dead tuples")) == Some("600")).then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn table_sizes_list_the_biggest_first_with_dead_tuples_and_their_ratio(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    tables_with_dead_tuples(&app, &target).await;

    let output = run(&app, Action::DbTableSizes, false).await;

    let table = output.table.expect("a table");
    assert_eq!(
        table.columns,
        [
            "Table",
            "Total",
            "Table",
            "Indexes",
            "Live tuples",
            "Dead tuples",
            "Dead ratio",
            "Last vacuum",
            "Last analyze"
        ]
    );
    let names: Vec<&str> = table.rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(names, ["public.agents", "public.settings"], "biggest first, views left out");
    let agents = &table.rows[0];
    assert_eq!(cell(&table, agents, "Live tuples"), "400");
    assert_eq!(cell(&table, agents, "Dead ratio"), "60.0%");
    assert_eq!(cell(&table, agents, "Last vacuum"), "never");
    assert!(agents[1].ends_with("kB"), "sizes as PostgreSQL writes them: {agents:?}");
    assert!(output.summary.starts_with("2 tables, "), "{}", output.summary);
    assert!(output.summary.contains("the biggest: public.agents"), "{}", output.summary);
    assert!(output.summary.contains("autovacuum's default trigger"), "{}", output.summary);
    assert!(output.summary.contains("public.agents (60.0% dead)"), "{}", output.summary);
    assert!(!output.summary.contains("public.settings ("), "{}", output.summary);
}

async fn dead_tuples_and_last_vacuum(target: &TargetDatabase) -> (i64, bool) {
    let mut conn = target.session("check").await;
    sqlx::query_as(
        "select n_dead_tup, last_vacuum is not null from pg_stat_user_tables where relname = 'agents'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("statistics")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_vacuum_preview_changes_nothing_and_vacuum_analyze_removes_dead_tuples_with_its_duration(
    pool: PgPool,
) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    tables_with_dead_tuples(&app, &target).await;
    let vacuum = Action::DbVacuumAnalyze { table: "agents".into() };

    let preview = run(&app, vacuum.clone(), false).await;

    assert!(preview.summary.starts_with("Preview, nothing was run"), "{}", preview.summary);
    assert!(preview.summary.contains("VACUUM (ANALYZE) public.agents"), "{}", preview.summary);
    assert!(preview.summary.contains("600 dead tuples (60.0% of rows)"), "{}", preview.summary);
    let table = preview.table.expect("a table");
    assert_eq!(table.rows.len(), 1);
    assert_eq!(cell(&table, &table.rows[0], "Dead tuples"), "600");
    assert_eq!(dead_tuples_and_last_vacuum(&target).await, (600, false), "the preview vacuumed nothing");

    let done = run(&app, vacuum, true).await;

    assert!(done.summary.starts_with("VACUUM (ANALYZE) public.agents finished in "), "{}", done.summary);
    assert!(done.summary.ends_with(": dead tuples 600 → 0."), "{}", done.summary);
    let table = done.table.expect("a table");
    let when: Vec<&str> = table.rows.iter().map(|row| cell(&table, row, "When")).collect();
    assert_eq!(when, ["before", "after"]);
    assert_eq!(cell(&table, &table.rows[1], "Dead tuples"), "0");
    assert_eq!(cell(&table, &table.rows[1], "Live tuples"), "400", "ANALYZE counted the rows");
    assert_ne!(cell(&table, &table.rows[1], "Last vacuum"), "never");
    assert_eq!(dead_tuples_and_last_vacuum(&target).await, (0, true));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn vacuum_of_a_missing_table_a_view_or_a_malformed_name_is_refused_with_a_clear_message(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    tables_with_dead_tuples(&app, &target).await;

    for apply in [false, true] {
        let missing = refused(&app, Action::DbVacuumAnalyze { table: "public.agent".into() }, apply).await;
        assert!(matches!(missing, TargetDbError::Refused(_)), "{missing:?}");
        assert_eq!(
            missing.to_string(),
            "refused: there is no table \"public.agent\" in the monitored database: write it as the \
             table sizes step shows it (schema.table)"
        );
        let view = refused(&app, Action::DbVacuumAnalyze { table: "agent_names".into() }, apply).await;
        assert!(view.to_string().contains("public.agent_names is a view"), "{view}");
        let injection =
            refused(&app, Action::DbVacuumAnalyze { table: "agents; drop table settings".into() }, apply)
                .await;
        assert!(injection.to_string().starts_with("refused: table: "), "{injection}");
    }
    let output = run(&app, Action::DbTableSizes, false).await;
    assert_eq!(output.table.expect("a table").rows.len(), 2, "nothing was dropped");
    assert_eq!(dead_tuples_and_last_vacuum(&target).await, (600, false), "nothing was vacuumed");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_quoted_mixed_case_table_is_found_and_vacuumed_under_its_real_name(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let mut conn = target.session("setup").await;
    conn.execute("create schema ops; create table ops.runs (id int); insert into ops.runs values (1);")
        .await
        .expect("table");
    drop(conn);

    let output = run(&app, Action::DbVacuumAnalyze { table: "OPS.Runs".into() }, true).await;

    assert!(output.summary.starts_with("VACUUM (ANALYZE) ops.runs finished in "), "{}", output.summary);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_diagnostics_pool_is_read_only_and_names_itself(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let target_db = app.state.target_db.clone().expect("configured");

    let err = sqlx::query("create table intruder (id int)").execute(target_db.pool()).await.unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let (name, timeout): (String, String) =
        sqlx::query_as("select current_setting('application_name'), current_setting('statement_timeout')")
            .fetch_one(target_db.pool())
            .await
            .expect("settings");
    assert_eq!(name, APPLICATION_NAME);
    assert_eq!(timeout, "10s");
    let mut conn = target.session("check").await;
    let exists: bool = sqlx::query_scalar("select to_regclass('intruder') is not null")
        .fetch_one(&mut conn)
        .await
        .expect("lookup");
    assert!(!exists);
}
