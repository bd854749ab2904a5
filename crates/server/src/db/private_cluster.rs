//! A PostgreSQL cluster of the portal's own in `<data_dir>/pgdata`, for machines with PostgreSQL
//! installed but not running. It listens only on a Unix socket inside its 0700 data directory,
//! so `trust` authentication admits nobody but its owner (and root).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sqlx::postgres::PgConnectOptions;
use tokio::process::Command;

use super::DbError;
use crate::config::Config;

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A running private cluster.
pub struct PrivateCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    /// Run the server programs as the `postgres` system user (we are root; initdb refuses root).
    as_postgres: bool,
    /// Stop it at shutdown only if this process started it; an adopted one serves others too.
    started_here: bool,
}

impl PrivateCluster {
    /// Starts the cluster in `<data_dir>/pgdata`, initialising it on first use, or adopts it when
    /// it is already running.
    pub async fn find_or_start(config: &Config) -> Result<Self, DbError> {
        let bin_dir = find_bin_dir().ok_or(DbError::NothingFound)?;
        let fail = |msg: String| DbError::PrivateCluster(msg);

        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            fail(format!(
                "cannot create {}: {e}; set TWISTERLAB_DATA_DIR to a writable directory",
                config.data_dir.display()
            ))
        })?;
        let base = config
            .data_dir
            .canonicalize()
            .map_err(|e| fail(format!("{}: {e}", config.data_dir.display())))?;
        let data_dir = base.join("pgdata");
        let socket = format!("{}/.s.PGSQL.{}", data_dir.display(), config.private_pg_port);
        if socket.len() > MAX_SOCKET_PATH {
            return Err(fail(format!(
                "the socket path {socket} is longer than the {MAX_SOCKET_PATH} bytes Unix allows; set TWISTERLAB_DATA_DIR to a shorter path"
            )));
        }

        let as_postgres = running_as_root();
        let cluster =
            Self { bin_dir, data_dir, port: config.private_pg_port, as_postgres, started_here: false };
        cluster.prepare_directory().await?;

        if !cluster.data_dir.join("PG_VERSION").exists() {
            tracing::info!(pg.data_dir = %cluster.data_dir.display(), "initialising a private PostgreSQL cluster (first start only, a few seconds)");
            let data = cluster.data_dir.display().to_string();
            cluster
                .run(
                    "initdb",
                    &["-D", &data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"],
                )
                .await?;
        }

        if cluster.is_running().await {
            tracing::info!(pg.data_dir = %cluster.data_dir.display(), "using the private PostgreSQL cluster that is already running");
            return Ok(cluster);
        }

        tracing::info!(pg.data_dir = %cluster.data_dir.display(), "starting the private PostgreSQL cluster");
        let data = cluster.data_dir.display().to_string();
        let log = cluster.data_dir.join("postgres.log").display().to_string();
        let options = format!("-c listen_addresses='' -k '{data}' -p {}", cluster.port);
        cluster
            .run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"])
            .await
            .map_err(|e| fail(format!("{e}; its log is {log}")))?;
        Ok(Self { started_here: true, ..cluster })
    }

    /// Connection options for `database` over the cluster's socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.data_dir).port(self.port).username("postgres").database(database)
    }

    /// Where it is, for logs and `/health`.
    pub fn describe(&self) -> String {
        format!("private cluster in {} (socket, port {})", self.data_dir.display(), self.port)
    }

    /// Stops the cluster if this process started it ("fast": open sessions are ended cleanly).
    pub async fn stop(self) {
        if !self.started_here {
            return;
        }
        let data = self.data_dir.display().to_string();
        match self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]).await {
            Ok(()) => tracing::info!(pg.data_dir = %data, "stopped the private PostgreSQL cluster"),
            Err(e) => {
                tracing::error!(pg.data_dir = %data, error = %e, "could not stop the private PostgreSQL cluster")
            }
        }
    }

    async fn is_running(&self) -> bool {
        let data = self.data_dir.display().to_string();
        self.data_dir.join("postmaster.pid").exists()
            && self.run("pg_ctl", &["-D", &data, "status"]).await.is_ok()
    }

    async fn prepare_directory(&self) -> Result<(), DbError> {
        let fail = |msg: String| DbError::PrivateCluster(msg);
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", self.data_dir.display())))?;
        if !self.as_postgres {
            return Ok(());
        }
        let exists = Command::new("id")
            .arg("-u")
            .arg("postgres")
            .output()
            .await
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !exists {
            return Err(fail(
                "the portal runs as root, and PostgreSQL refuses to run as root, so it would run the cluster as the `postgres` system user, which does not exist. Create it (`useradd --system --home-dir /var/lib/postgresql postgres`), run the portal as an ordinary user, or set DATABASE_URL".into(),
            ));
        }
        let data = self.data_dir.display().to_string();
        command_ok(Command::new("chown").args(["-R", "postgres:postgres", &data])).await.map_err(fail)?;
        command_ok(Command::new("chmod").args(["0700", &data])).await.map_err(fail)?;
        let reachable =
            command_ok(Command::new("runuser").args(["-u", "postgres", "--", "test", "-w", &data])).await;
        if reachable.is_err() {
            return Err(fail(format!(
                "the portal runs as root, so the cluster runs as the `postgres` system user, but that user cannot reach {data} (a parent directory is private to root). Set TWISTERLAB_DATA_DIR to a directory it can reach, such as /var/lib/twisterlab, run the portal as an ordinary user, or set DATABASE_URL"
            )));
        }
        Ok(())
    }

    async fn run(&self, program: &str, args: &[&str]) -> Result<(), DbError> {
        let path = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir("/");
        command_ok(&mut cmd).await.map_err(|e| DbError::PrivateCluster(format!("{program} failed: {e}")))
    }
}

async fn command_ok(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.as_std().get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let text = if stderr.trim().is_empty() { stdout } else { stderr };
        Err(format!("{} ({})", text.trim(), out.status))
    }
}

fn running_as_root() -> bool {
    // /proc/self belongs to the effective user; this avoids libc calls (unsafe is forbidden).
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// The directory with `initdb` and `pg_ctl`: from PATH, else the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| complete(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
