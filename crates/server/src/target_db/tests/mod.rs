//! The database diagnostics against a real second PostgreSQL database standing in for the
//! monitored TwisterLab database: sessions the tests open (idle, idle in a transaction, a long
//! `pg_sleep`), tables with dead tuples, `VACUUM ANALYZE`, and the faults (no URL, a closed port,
//! a server that never answers, a missing database).

mod diagnostics;
mod faults;

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, PgConnection, PgPool};
use twisterlab_domain::runbook::Action;

use super::TargetDbError;
use crate::config::{Config, Sources};
use crate::runbooks::output::{ActionOutput, Table};
use crate::testing::TestApp;

/// A database of its own on the test server, dropped (with its sessions) when the value is,
/// even when the test fails.
pub(super) struct TargetDatabase {
    name: String,
    admin: PgConnectOptions,
    /// `postgres://…/<name>`, as `TWISTERLAB_TARGET_DATABASE_URL` would say it.
    pub url: String,
}

impl TargetDatabase {
    /// A new empty database beside the test's own.
    pub async fn create(pool: &PgPool) -> Self {
        let name = format!("twisterlab_target_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
            .execute(pool)
            .await
            .expect("create the target database");
        let base = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL names the test server (see docs/DEVELOPMENT.md)");
        let mut url = reqwest::Url::parse(&base).expect("DATABASE_URL is a URL");
        url.set_path(&name);
        Self { name, admin: pool.connect_options().as_ref().clone(), url: url.to_string() }
    }

    /// The app with `TWISTERLAB_TARGET_DATABASE_URL` pointing here.
    pub fn app(&self, pool: &PgPool) -> TestApp {
        app_with_target(pool, &self.url)
    }

    /// A session on the target as `application`, as the monitored API's would be.
    pub async fn session(&self, application: &str) -> PgConnection {
        self.admin
            .clone()
            .database(&self.name)
            .application_name(application)
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for TargetDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone().database("postgres");
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let mut conn = admin.connect().await.map_err(std::io::Error::other)?;
                sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{name}\" with (force)")))
                    .execute(&mut conn)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<(), std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test's target database {}: {dropped:?}", self.name);
        }
    }
}

/// The app with `TWISTERLAB_TARGET_DATABASE_URL=url`.
pub(super) fn app_with_target(pool: &PgPool, url: &str) -> TestApp {
    let config = Config::from_sources(&Sources::from_pairs(
        [("TWISTERLAB_TARGET_DATABASE_URL", url)],
        toml::Table::new(),
    ))
    .expect("a valid target URL");
    TestApp::with_config(pool, config)
}

/// Runs `action` against the app's target, expecting it to work.
pub(super) async fn run(app: &TestApp, action: Action, apply: bool) -> ActionOutput {
    match super::execute(&app.state, &action, apply).await {
        Ok(output) => output,
        Err(e) => panic!("{action:?} failed: {e}"),
    }
}

/// Runs `action` and expects it to fail.
pub(super) async fn refused(app: &TestApp, action: Action, apply: bool) -> TargetDbError {
    match super::execute(&app.state, &action, apply).await {
        Ok(output) => panic!("{action:?} should have failed, but said: {}", output.summary),
        Err(e) => e,
    }
}

/// Polls `check` until it returns something, failing after `within` with `what`.
pub(super) async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The cell of `row` under `column`.
pub(super) fn cell<'a>(table: &Table, row: &'a [String], column: &str) -> &'a str {
    let index = table
        .columns
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column:?} in {:?}", table.columns));
    &row[index]
}

/// The rows whose `column` reads `value`.
pub(super) fn rows_where<'a>(table: &'a Table, column: &str, value: &str) -> Vec<&'a Vec<String>> {
    table.rows.iter().filter(|row| cell(table, row, column) == value).collect()
}
