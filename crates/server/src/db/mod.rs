//! The database: finding or starting PostgreSQL, the connection pool and the embedded migrations.

pub mod alertmanager;
pub mod api_tokens;
pub mod audit;
pub mod channels;
pub mod components;
pub mod contact_methods;
pub mod deadlines;
pub mod devices;
pub mod escalations;
pub mod health;
pub mod health_snapshots;
pub mod incidents;
pub mod live;
pub mod maintenance;
pub mod maintenance_tasks;
pub mod metric_signals;
pub mod notifications;
pub mod oncall;
pub mod postmortems;
mod private_cluster;
pub mod probe_results;
pub mod reports;
pub mod runbook_runs;
pub mod runbooks;
pub mod sessions;
pub mod setup;
pub mod sla;
pub mod status;
pub mod target;
pub mod throttle;
pub mod users;

use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::{Config, mask_url};
pub use private_cluster::PrivateCluster;

/// Every migration in `migrations/`, compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Name of the database the portal creates when it finds a PostgreSQL of its own accord.
pub const DEFAULT_DATABASE: &str = "twisterlab";

/// A connected pool, and the private cluster behind it when the portal started one.
pub struct Database {
    pub pool: PgPool,
    /// Where the pool points, with the password masked (for logs and `/health`).
    pub location: String,
    cluster: Option<PrivateCluster>,
}

impl Database {
    /// Closes the pool, then stops the private cluster if this process started it.
    pub async fn shutdown(self) {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
    }
}

/// Why the portal has no database; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "DATABASE_URL is not a valid PostgreSQL URL ({0}): expected postgres://USER:PASSWORD@HOST:5432/DATABASE"
    )]
    BadUrl(String),
    #[error(
        "cannot reach PostgreSQL at {location} after {waited:?}: {cause}. Start it (for example `sudo pg_ctlcluster 15 main start` or `docker compose up -d postgres`) or set DATABASE_URL to a reachable server"
    )]
    Unreachable { location: String, waited: Duration, cause: String },
    #[error(
        "PostgreSQL at {location} refused the connection: {cause}. Set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/twisterlab with an account that may connect"
    )]
    Refused { location: String, cause: String },
    #[error(
        "no PostgreSQL found: nothing answers at TWISTERLAB_LOCAL_POSTGRES (default 127.0.0.1:5432) and PostgreSQL's programs (initdb, pg_ctl) are not installed. Install it (`sudo apt-get install postgresql`) and run this again, or set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/twisterlab"
    )]
    NothingFound,
    #[error("cannot start a private PostgreSQL cluster: {0}")]
    PrivateCluster(String),
    #[error("{0}")]
    Migration(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Finds the database as configured (see `Config::database_url`) and returns a pool to it.
///
/// With `DATABASE_URL` set, retries with backoff for `db_connect_timeout`. Without it, tries the
/// local server (`TWISTERLAB_LOCAL_POSTGRES`, creating the `twisterlab` database when missing),
/// then a private cluster in the data directory.
pub async fn connect(config: &Config) -> Result<Database, DbError> {
    if let Some(url) = &config.database_url {
        let options: PgConnectOptions =
            url.expose().parse().map_err(|e: sqlx::Error| DbError::BadUrl(e.to_string()))?;
        let location = mask_url(url.expose());
        let pool = connect_with_retry(config, options, &location).await?;
        return Ok(Database { pool, location, cluster: None });
    }

    let refusal = match local_server(config).await? {
        Local::Found(db) => return Ok(db),
        Local::NothingListening => None,
        Local::Refused(cause) => {
            tracing::warn!(db.location = %config.local_postgres, cause = %cause, "the local PostgreSQL refused us; trying a private cluster instead");
            Some(cause)
        }
    };
    let cluster = match PrivateCluster::find_or_start(config).await {
        Ok(cluster) => cluster,
        Err(e) => {
            return Err(match refusal {
                Some(cause) => DbError::Refused {
                    location: config.local_postgres.to_string(),
                    cause: format!("{cause}; and {e}"),
                },
                None => e,
            });
        }
    };
    ensure_database(cluster.connect_options("postgres"), DEFAULT_DATABASE).await?;
    let location = cluster.describe();
    let pool = connect_with_retry(config, cluster.connect_options(DEFAULT_DATABASE), &location).await?;
    Ok(Database { pool, location, cluster: Some(cluster) })
}

enum Local {
    Found(Database),
    NothingListening,
    Refused(String),
}

/// A PostgreSQL already listening at `local_postgres`, as the current OS user or `postgres`.
async fn local_server(config: &Config) -> Result<Local, DbError> {
    let mut users = vec![];
    if let Ok(user) = std::env::var("USER") {
        users.push(user);
    }
    users.push("postgres".to_owned());
    users.dedup();

    let addr = config.local_postgres;
    let mut refusal = String::new();
    for user in &users {
        let admin = PgConnectOptions::new()
            .host(&addr.ip().to_string())
            .port(addr.port())
            .username(user)
            .database("postgres");
        match try_once(admin.clone()).await {
            Ok(()) => {
                ensure_database(admin.clone(), DEFAULT_DATABASE).await?;
                let location = format!("postgres://{user}@{addr}/{DEFAULT_DATABASE}");
                let pool = connect_with_retry(config, admin.database(DEFAULT_DATABASE), &location).await?;
                tracing::info!(db.location = %location, "using the local PostgreSQL");
                return Ok(Local::Found(Database { pool, location, cluster: None }));
            }
            Err(e) if is_connection_refused(&e) => return Ok(Local::NothingListening),
            Err(e) => refusal = format!("user {user}: {e}"),
        }
    }
    Ok(Local::Refused(refusal))
}

async fn try_once(options: PgConnectOptions) -> Result<(), sqlx::Error> {
    let conn = tokio::time::timeout(Duration::from_secs(3), options.connect())
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    drop(conn);
    Ok(())
}

fn is_connection_refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound))
        || matches!(e, sqlx::Error::PoolTimedOut)
}

/// Creates `name` unless it exists. Concurrent starts may race; "already exists" is success.
async fn ensure_database(admin: PgConnectOptions, name: &str) -> Result<(), DbError> {
    let mut conn = admin.connect().await?;
    let exists: bool = sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        // Identifiers cannot be bound; `name` is a constant of ours, quoted anyway.
        let sql = format!("create database \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
            Ok(_) => tracing::info!(db.name = name, "created the database"),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Connects the pool, retrying with exponential backoff until `db_connect_timeout` has passed.
pub async fn connect_with_retry(
    config: &Config,
    options: PgConnectOptions,
    location: &str,
) -> Result<PgPool, DbError> {
    let options = options.application_name("twisterlab-portal");
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let result = pool_options(config).connect_with(options.clone()).await;
        match result {
            Ok(pool) => return Ok(pool),
            Err(sqlx::Error::Database(e)) => {
                return Err(DbError::Refused { location: location.to_owned(), cause: e.to_string() });
            }
            Err(e) => {
                let waited = started.elapsed();
                if waited + delay > config.db_connect_timeout {
                    return Err(DbError::Unreachable {
                        location: location.to_owned(),
                        waited,
                        cause: e.to_string(),
                    });
                }
                tracing::warn!(db.location = location, attempt, retry_in_ms = delay.as_millis() as u64, error = %e, "PostgreSQL is not reachable yet, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
        }
    }
}

/// Pool settings from the configuration.
pub fn pool_options(config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_pool_max)
        .min_connections(0)
        .acquire_timeout(config.db_acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(600)))
}

/// The constraint a statement violated (`notification_channels_name_key`), so the query that
/// ran it can turn a taken name into the caller's error. Note that the failed statement aborts
/// the transaction it ran in: the caller reports the error and rolls back.
pub(crate) fn constraint_violated(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) => d.constraint(),
        _ => None,
    }
}

/// Applies pending migrations; a changed or failed migration stops the start with an explanation.
pub async fn migrate(pool: &PgPool) -> Result<usize, DbError> {
    use sqlx::migrate::MigrateError as M;
    let before = applied_count(pool).await.unwrap_or(0);
    MIGRATOR.run(pool).await.map_err(|e| {
        DbError::Migration(match e {
            M::VersionMismatch(v) => format!(
                "migration {v} ({}) was changed after it was applied to this database. Migrations are append-only: restore the original file and add a new migration for the change",
                migration_name(v)
            ),
            M::VersionMissing(v) => format!(
                "the database has migration {v} applied, but this build does not know it: this binary is older than the database. Run the newer release"
            ),
            M::ExecuteMigration(err, v) => format!(
                "migration {v} ({}) failed and was rolled back: {err}. Fix the migration (or the data it trips over) and start again",
                migration_name(v)
            ),
            M::Dirty(v) => format!("migration {v} is marked as partially applied; inspect _sqlx_migrations and the schema, then retry"),
            other => format!("migrations failed: {other}"),
        })
    })?;
    let after = applied_count(pool).await.unwrap_or(0);
    Ok(after.saturating_sub(before))
}

fn migration_name(version: i64) -> String {
    MIGRATOR
        .iter()
        .find(|m| m.version == version)
        .map(|m| m.description.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// How many migrations have been applied successfully.
pub(crate) async fn applied_count(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success").fetch_one(pool).await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Whether every embedded migration has been applied (for `/readyz`).
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success").fetch_one(pool).await?;
    Ok(applied.unwrap_or(0) >= latest)
}
