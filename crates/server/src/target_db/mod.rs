//! The monitored TwisterLab database (`TWISTERLAB_TARGET_DATABASE_URL`), which the runbooks'
//! database steps diagnose: connections by state, long-running queries, long-idle connections,
//! table sizes with dead tuples, and `VACUUM ANALYZE` of one table.
//!
//! Everything but the vacuum runs over a small pool whose sessions are read-only
//! (`default_transaction_read_only = on`), with a statement timeout and
//! `application_name = 'twisterlab-portal-diagnostics'` so the target's operators can tell the
//! portal's sessions apart. The pool connects lazily: a portal whose target is down starts and
//! serves as usual, and only the steps say why they cannot run. `VACUUM` cannot run in a
//! transaction block nor in a read-only session, so it gets a connection of its own, read-only
//! off, opened for it and closed after. The queries are in `db::target`.

pub(crate) mod diagnostics;

#[cfg(test)]
mod tests;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgConnection, PgPool};

use crate::config::TargetDatabaseUrl;

#[allow(unused_imports, reason = "the guided runs (runbooks), merged from their own branch, call it")]
pub(crate) use diagnostics::execute;

/// How the portal's diagnostics sessions name themselves in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "twisterlab-portal-diagnostics";

/// Most connections the diagnostics hold on the target: they must never add to an exhaustion
/// they are diagnosing.
const POOL_MAX: u32 = 2;

/// How long a step waits for a connection (or for the target to answer one) before saying the
/// database is unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a diagnostic query may run on the target (`statement_timeout`).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `VACUUM ANALYZE` of one table may run before PostgreSQL cancels it.
pub(crate) const VACUUM_TIMEOUT: Duration = Duration::from_secs(600);

/// How long `VACUUM` waits for its lock (another vacuum or a schema change holding the table)
/// before giving up, rather than queueing behind it.
const VACUUM_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle diagnostics connections are closed after this, so they do not show up as leaks.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The monitored database: the read-only pool and how to open the vacuum's connection.
#[derive(Clone)]
pub(crate) struct TargetDb {
    pool: PgPool,
    maintenance: PgConnectOptions,
    location: String,
}

impl TargetDb {
    /// The pool for `url`; nothing is connected until a step needs it.
    pub(crate) fn new(url: &TargetDatabaseUrl) -> Self {
        let base = url.connect_options().clone().application_name(APPLICATION_NAME);
        let read_only = base.clone().options([
            ("default_transaction_read_only", "on".to_owned()),
            ("statement_timeout", millis(STATEMENT_TIMEOUT)),
            ("lock_timeout", millis(STATEMENT_TIMEOUT)),
            ("idle_in_transaction_session_timeout", millis(STATEMENT_TIMEOUT)),
        ]);
        let maintenance = base.options([
            ("default_transaction_read_only", "off".to_owned()),
            ("statement_timeout", millis(VACUUM_TIMEOUT)),
            ("lock_timeout", millis(VACUUM_LOCK_TIMEOUT)),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_MAX)
            .min_connections(0)
            .acquire_timeout(CONNECT_TIMEOUT)
            .idle_timeout(Some(IDLE_TIMEOUT))
            .connect_lazy_with(read_only);
        Self { pool, maintenance, location: url.location().to_owned() }
    }

    /// Where it points, password masked.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    /// The read-only pool (tests check that it cannot write).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A read-only session, or why there is none.
    async fn read_only(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, TargetDbError> {
        match self.pool.acquire().await {
            Ok(conn) => Ok(conn),
            // The pool retries a refused connection until its timeout and then forgets why: one
            // direct attempt recovers the cause for the message.
            Err(sqlx::Error::PoolTimedOut) => Err(self.diagnose(self.pool.connect_options().as_ref()).await),
            Err(e) => Err(self.error(e)),
        }
    }

    /// A session of its own with read-only off, for `VACUUM`.
    async fn writable(&self) -> Result<PgConnection, TargetDbError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.maintenance.connect()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(self.no_answer()),
        }
    }

    /// Why `options` cannot connect, after the pool gave up.
    async fn diagnose(&self, options: &PgConnectOptions) -> TargetDbError {
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(_)) => TargetDbError::Unreachable(format!(
                "no free diagnostics connection to {} within {} s (at most {POOL_MAX} run at once): \
                 wait for the running diagnostics to finish and try again",
                self.location,
                CONNECT_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => self.error(e),
            Err(_) => self.no_answer(),
        }
    }

    fn no_answer(&self) -> TargetDbError {
        TargetDbError::Unreachable(format!(
            "{} did not answer within {} s: check the host and port in TWISTERLAB_TARGET_DATABASE_URL \
             and that the portal may reach it (firewall, NetworkPolicy)",
            self.location,
            CONNECT_TIMEOUT.as_secs()
        ))
    }

    /// What a failure means for the person running the step, with what to do about it.
    fn error(&self, e: sqlx::Error) -> TargetDbError {
        let location = &self.location;
        match e {
            sqlx::Error::Database(db) => {
                let message = db.message().to_owned();
                match db.code().as_deref() {
                    Some("53300") => TargetDbError::Unreachable(format!(
                        "{location} has no free connection slot ({message}): this is the exhaustion the \
                         runbook diagnoses. Connect with psql as a superuser (reserved slots) or end \
                         idle sessions with pg_terminate_backend"
                    )),
                    Some("28P01" | "28000") => TargetDbError::Unreachable(format!(
                        "{location} refused the login ({message}): fix the user or password in \
                         TWISTERLAB_TARGET_DATABASE_URL"
                    )),
                    Some("3D000") => TargetDbError::Unreachable(format!(
                        "{location}: {message}. Name an existing database in TWISTERLAB_TARGET_DATABASE_URL"
                    )),
                    Some("57P03" | "57P01" | "57P02") => TargetDbError::Unreachable(format!(
                        "{location} is starting up or shutting down ({message}): try again in a moment"
                    )),
                    Some("57014") => TargetDbError::Unreachable(format!(
                        "{location} did not finish the query within its statement timeout ({message}): \
                         the database is overloaded or a lock blocks the statistics; try again, or \
                         look with psql"
                    )),
                    Some("55P03") => TargetDbError::Refused(format!(
                        "the table is locked by another session ({message}): another VACUUM or a \
                         schema change holds it; try again when it has finished"
                    )),
                    Some("42501") => TargetDbError::Refused(format!(
                        "the monitored database refused ({message}): grant the account in \
                         TWISTERLAB_TARGET_DATABASE_URL the privilege, or connect as the table's owner"
                    )),
                    _ => TargetDbError::Refused(format!("the monitored database refused: {message}")),
                }
            }
            sqlx::Error::PoolTimedOut => self.no_answer(),
            other => TargetDbError::Unreachable(format!(
                "cannot talk to {location}: {other}. Check TWISTERLAB_TARGET_DATABASE_URL and that \
                 PostgreSQL accepts connections there"
            )),
        }
    }
}

/// A duration as PostgreSQL's settings take it (`10000ms`).
fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Why a database step did not run; each message names the cause and what to do, never the
/// URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TargetDbError {
    /// `TWISTERLAB_TARGET_DATABASE_URL` is not set.
    #[error("not configured: set TWISTERLAB_TARGET_DATABASE_URL to the monitored database")]
    NotConfigured,
    /// No connection, or no answer in time.
    #[error("the monitored database is unreachable: {0}")]
    Unreachable(String),
    /// The input, or the database, refused this action (an unknown table, a missing privilege).
    #[error("refused: {0}")]
    Refused(String),
    /// The action is not one of the database actions (a caller's mistake).
    #[error(
        "not a database action: only db_connections, db_long_queries, db_idle_connections, \
         db_table_sizes and db_vacuum_analyze run against the monitored database"
    )]
    NotADbAction,
}
