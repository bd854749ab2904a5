//! Starting the real binary against a fresh database, and talking to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Path of the binary cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_twisterlab-portal");

/// The server tests create their databases on: `DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new, empty database; returns its URL. Migrations are left to the portal under test.
pub async fn fresh_database() -> String {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("cannot reach PostgreSQL at {admin}: {e}. Run the tests with scripts/test (it starts PostgreSQL) or set DATABASE_URL")
    });
    // Named after the run (`scripts/test` sets TWISTERLAB_TEST_RUN and drops exactly its own).
    let run = std::env::var("TWISTERLAB_TEST_RUN")
        .ok()
        .filter(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "adhoc".into());
    // PostgreSQL cuts identifiers at 63 bytes, silently for `create database` but not for a
    // name compared as a value (`pg_stat_activity.datname = $1`): stay well under it.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("twisterlab_e2e_{run}_{}", &unique[..16]);
    assert!(name.len() <= 63, "database name {name} is longer than PostgreSQL's 63 bytes");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    database_url(&admin, &name)
}

/// `admin` with its database name replaced.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    format!("{prefix}/{name}{query}")
}

/// A direct connection to the database behind `url`, for arranging and inspecting state.
pub async fn connect(url: &str) -> PgConnection {
    let options: PgConnectOptions = url.parse().expect("valid database URL");
    options.connect().await.expect("connect to the test database")
}

/// A running `twisterlab-portal serve`.
pub struct Portal {
    child: Child,
    pub base: String,
    pub database_url: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Portal {
    /// Starts the portal on a free port against a fresh database.
    pub async fn start() -> Portal {
        let url = fresh_database().await;
        Portal::start_with(&url, &[]).await
    }

    /// Starts the portal on `database_url` with extra environment variables.
    pub async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Portal {
        Portal::start_serving(database_url, &[], env).await
    }

    /// Starts `serve` with extra arguments (`--demo`) on `database_url`.
    pub async fn start_serving(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Portal {
        let mut cmd = Command::new(BINARY);
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("TWISTERLAB_BIND", "127.0.0.1:0")
            .env("TWISTERLAB_LOG_FORMAT", "json")
            .env("TWISTERLAB_SHUTDOWN_GRACE", "10");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, logs, base) = spawn_until_listening(cmd);
        Portal { child, base, database_url: database_url.to_owned(), logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as Kubernetes does.
    pub fn terminate(&self) {
        let status =
            Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Sends SIGKILL (no grace: in-flight requests and open transactions are cut) and reaps the
    /// process. Start it again on the same database with [`Portal::start_with`].
    pub fn kill_now(&mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL the portal");
        self.child.wait().expect("reap the portal")
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the portal") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the portal did not exit within {limit:?}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the portal has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with piped output and waits for its "listening on http://…" line.
pub fn spawn_until_listening(mut cmd: Command) -> (Child, Arc<Mutex<Vec<String>>>, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let mut child = cmd.spawn().expect("start the portal binary");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let logs = logs.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    let url: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
                    let _ = tx.send(url);
                }
                if let Ok(mut l) = logs.lock() {
                    l.push(line);
                }
            }
        });
    }
    let base = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            let output = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
            panic!("the process did not report its address within 60 s; output:\n{output}");
        }
    };
    (child, logs, base)
}

/// Runs the binary to completion with `args` and `env`; returns (exit code, stdout, stderr).
pub fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BINARY);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the portal binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates a user with the command line, as an operator would.
pub fn create_user(database_url: &str, email: &str, role: &str, password: &str) {
    use std::io::Write as _;
    let mut child = Command::new(BINARY)
        .args(["create-user", "--email", email, "--role", role, "--password-stdin"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run create-user");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write password");
    let out = child.wait_with_output().expect("create-user finished");
    assert!(out.status.success(), "create-user failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A password that passes the portal's rules.
pub const PASSWORD: &str = "correct horse battery staple";

/// A client with a cookie jar, signed in as a new user with `role`.
pub async fn signed_in(portal: &Portal, role: &str) -> reqwest::Client {
    signed_in_as(portal, role).await.0
}

/// Like [`signed_in`], with the new user's email: the portal names the person by it on the
/// timeline and in the audit log.
pub async fn signed_in_as(portal: &Portal, role: &str) -> (reqwest::Client, String) {
    let email = format!("{role}-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    create_user(&portal.database_url, &email, role, PASSWORD);
    let http = browser();
    let form = http.get(portal.url("/login")).send().await.expect("GET /login").text().await.expect("body");
    let csrf = hidden_value(&form, "csrf_token");
    let response = http
        .post(portal.url("/login"))
        .header("origin", &portal.base)
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("next", "/"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), 303, "sign-in failed: {}", response.text().await.unwrap_or_default());
    (http, email)
}

/// A client that keeps cookies and does not follow redirects, like a browser tab under test.
pub fn browser() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

/// The `value` of the hidden input called `name` in an HTML page.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_owned()
}

/// An HTTP client that does not follow redirects, so tests see them.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build the HTTP client")
}

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL cluster the test can stop and start under a running portal.

/// The directory with `pg_ctl`, as the portal finds it.
pub fn pg_bin_dir() -> std::path::PathBuf {
    let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("a pg_ctl under /usr/lib/postgresql/*/bin")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The socket name (port) of the portal's private cluster in these tests.
const PRIVATE_PG_PORT: &str = "5432";

/// A portal whose database is a private cluster in a temporary directory (the portal starts it),
/// and that cluster's controls.
pub struct PrivatePortal {
    pub portal: Portal,
    /// `<data dir>/pgdata`.
    pub pgdata: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivatePortal {
    /// Starts the portal with `TWISTERLAB_DATA_DIR` in a new temporary directory and no local
    /// PostgreSQL, so it initialises and starts a private cluster of its own.
    pub fn start(env: &[(&str, &str)]) -> PrivatePortal {
        let dir = tempfile::Builder::new().prefix("tl-fault-").tempdir_in("/tmp").expect("tempdir");
        // The cluster may run as the `postgres` user (when the tests run as root): let it in.
        Command::new("chmod").arg("0755").arg(dir.path()).status().expect("chmod");
        let data_dir = dir.path().to_str().expect("utf-8").to_owned();
        let mut cmd = Command::new(BINARY);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TWISTERLAB_BIND", "127.0.0.1:0")
            .env("TWISTERLAB_DATA_DIR", &data_dir)
            .env("TWISTERLAB_LOCAL_POSTGRES", "127.0.0.1:1")
            .env("TWISTERLAB_PRIVATE_PG_PORT", PRIVATE_PG_PORT)
            .env("TWISTERLAB_LOG_FORMAT", "json")
            .env("TWISTERLAB_SHUTDOWN_GRACE", "2");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, logs, base) = spawn_until_listening(cmd);
        let pgdata = dir.path().join("pgdata");
        // The command line and the test's own connections reach the cluster over its socket.
        let database_url = format!(
            "postgres://postgres@localhost/twisterlab?host={}&port={PRIVATE_PG_PORT}",
            pgdata.display()
        );
        PrivatePortal { portal: Portal { child, base, database_url, logs }, pgdata, _dir: dir }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let pg_ctl = pg_bin_dir().join("pg_ctl");
        let mut cmd = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let out = cmd.arg("-D").arg(&self.pgdata).args(args).current_dir("/").output().expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl stop -m <mode>` ("fast" or "immediate").
    pub fn stop_postgres(&self, mode: &str) {
        self.pg_ctl(&["-m", mode, "-w", "stop"]);
    }

    /// Starts the cluster again as the portal did.
    pub fn start_postgres(&self) {
        let data = self.pgdata.display().to_string();
        let log = self.pgdata.join("postgres.log").display().to_string();
        let options = format!("-c listen_addresses='' -k '{data}' -p {PRIVATE_PG_PORT}");
        self.pg_ctl(&["-l", &log, "-w", "-t", "60", "-o", &options, "start"]);
    }
}

impl Drop for PrivatePortal {
    fn drop(&mut self) {
        let _ = self.portal.child.kill();
        let _ = self.portal.child.wait();
        if self.pgdata.join("postmaster.pid").exists() {
            let pg_ctl = pg_bin_dir().join("pg_ctl");
            let mut cmd = if running_as_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
                c
            } else {
                Command::new(&pg_ctl)
            };
            let _ = cmd.arg("-D").arg(&self.pgdata).args(["-m", "immediate", "-w", "stop"]).output();
        }
    }
}

/// Idempotency keys a local receiver was sent, each with how many times.
pub type KeyCounts = Arc<Mutex<std::collections::HashMap<String, usize>>>;

/// A local webhook receiver (Slack's or the generic webhook's) answering 200 "ok" and counting
/// each idempotency key it is sent; returns its URL and the counts.
pub async fn start_key_counter() -> (String, KeyCounts) {
    let keys: KeyCounts = Arc::default();
    let seen = keys.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let seen = seen.clone();
        async move {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("(none)");
            *seen.lock().expect("keys").entry(key.to_owned()).or_default() += 1;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, keys)
}
