//! What a step says when the monitored database is not configured, cannot be reached, never
//! answers, or refuses the login; and that its password never shows.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use twisterlab_domain::runbook::Action;

use super::{TargetDatabase, app_with_target, refused};
use crate::target_db::{CONNECT_TIMEOUT, TargetDbError};
use crate::testing::TestApp;

fn every_db_action() -> [Action; 5] {
    [
        Action::DbConnections,
        Action::DbLongQueries { min_seconds: 5 },
        Action::DbIdleConnections { min_minutes: 10 },
        Action::DbTableSizes,
        Action::DbVacuumAnalyze { table: "agents".into() },
    ]
}

/// How long a step may take to report an unreachable database: the pool's wait, then one
/// direct attempt for the cause, with room for a loaded machine.
const REPORTED_WITHIN: Duration = Duration::from_secs(2 * CONNECT_TIMEOUT.as_secs() + 5);

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn without_a_target_url_every_database_step_says_not_configured(pool: PgPool) {
    let app = TestApp::new(&pool);
    assert!(app.state.target_db.is_none());
    for action in every_db_action() {
        for apply in [false, true] {
            let err = refused(&app, action.clone(), apply).await;
            assert_eq!(err, TargetDbError::NotConfigured);
            assert_eq!(
                err.to_string(),
                "not configured: set TWISTERLAB_TARGET_DATABASE_URL to the monitored database"
            );
        }
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_kubernetes_action_is_not_a_database_action(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let app = target.app(&pool);
    let err = refused(&app, Action::ListPods { deployment: "twisterlab-api".into() }, false).await;
    assert_eq!(err, TargetDbError::NotADbAction);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn out_of_bounds_parameters_are_refused_naming_the_field_before_connecting(pool: PgPool) {
    // A closed port: had it connected, the answer would be "unreachable", not the field.
    let app = app_with_target(&pool, &format!("postgres://app:pw@127.0.0.1:{}/x", closed_port()));
    let err = refused(&app, Action::DbLongQueries { min_seconds: 0 }, false).await;
    assert!(err.to_string().starts_with("refused: min_seconds: "), "{err}");
    let err = refused(&app, Action::DbIdleConnections { min_minutes: 1441 }, false).await;
    assert!(err.to_string().starts_with("refused: min_minutes: "), "{err}");
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_unreachable_target_names_the_cause_within_the_timeout_and_never_the_password(pool: PgPool) {
    let port = closed_port();
    let app = app_with_target(&pool, &format!("postgres://monitor:s3cr3t-pw@127.0.0.1:{port}/twisterlab"));
    // The read-only pool (a diagnostic, the vacuum's preview) and the vacuum's own connection.
    let vacuum = Action::DbVacuumAnalyze { table: "agents".into() };
    for (action, apply) in [(Action::DbConnections, false), (vacuum.clone(), false), (vacuum, true)] {
        let started = Instant::now();
        let err = refused(&app, action, apply).await;
        let message = err.to_string();
        assert!(started.elapsed() < REPORTED_WITHIN, "{:?}: {message}", started.elapsed());
        assert!(matches!(err, TargetDbError::Unreachable(_)), "{err:?}");
        assert!(message.starts_with("the monitored database is unreachable: "), "{message}");
        assert!(message.contains(&format!("monitor:****@127.0.0.1:{port}/twisterlab")), "{message}");
        assert!(message.to_lowercase().contains("connection refused"), "{message}");
        assert!(message.contains("TWISTERLAB_TARGET_DATABASE_URL"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_target_that_never_answers_is_reported_after_the_connect_timeout(pool: PgPool) {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = app_with_target(&pool, &format!("postgres://monitor:s3cr3t-pw@127.0.0.1:{port}/twisterlab"));

    for apply in [false, true] {
        let started = Instant::now();
        let err = refused(&app, Action::DbVacuumAnalyze { table: "agents".into() }, apply).await;
        let message = err.to_string();
        assert!(started.elapsed() < REPORTED_WITHIN, "{:?}: {message}", started.elapsed());
        assert!(matches!(err, TargetDbError::Unreachable(_)), "{err:?}");
        assert!(message.contains("did not answer within 5 s"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
    silent.abort();
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_missing_target_database_is_named_with_the_fix(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let mut url = reqwest::Url::parse(&target.url).expect("URL");
    url.set_path("no_such_database_here");
    let app = app_with_target(&pool, url.as_str());

    let err = refused(&app, Action::DbConnections, false).await;

    assert!(matches!(err, TargetDbError::Unreachable(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("no_such_database_here"), "{message}");
    assert!(message.contains("Name an existing database in TWISTERLAB_TARGET_DATABASE_URL"), "{message}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_account_that_does_not_own_the_table_is_refused_before_vacuuming(pool: PgPool) {
    let target = TargetDatabase::create(&pool).await;
    let role = format!("twisterlab_monitor_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut conn = target.session("setup").await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create table agents (id int); create role {role} login; grant select on agents to {role};"
    )))
    .execute(&mut conn)
    .await
    .expect("setup");
    let mut url = reqwest::Url::parse(&target.url).expect("URL");
    url.set_username(&role).expect("user");
    let app = app_with_target(&pool, url.as_str());

    let outcome = async {
        let preview = refused(&app, Action::DbVacuumAnalyze { table: "agents".into() }, false).await;
        let applied = refused(&app, Action::DbVacuumAnalyze { table: "agents".into() }, true).await;
        (preview, applied)
    }
    .await;
    // The role goes before the database does (it is the server's, not the database's).
    if let Some(target_db) = &app.state.target_db {
        target_db.pool().close().await;
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "revoke all on agents from {role}; select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}';"
    )))
    .execute(&mut conn)
    .await
    .expect("revoke");
    drop(conn);
    drop(target);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop role if exists {role}")))
        .execute(&pool)
        .await
        .expect("drop the role");

    for err in [outcome.0, outcome.1] {
        assert_eq!(
            err.to_string(),
            format!(
                "refused: the account {role} may not vacuum public.agents: only its owner, the \
                 database's owner or a superuser may; connect TWISTERLAB_TARGET_DATABASE_URL as the owner"
            )
        );
    }
}
