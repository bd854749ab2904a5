//! The public status page against the real binary: freshness across two processes on one
//! database, stale serving while PostgreSQL is stopped, and the page in headless Chromium
//! with JavaScript disabled.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, Portal, client, fresh_database};

const STATUS_HOST: &str = "status.twisterlab.local";

/// The status page of `portal`, asked for by the status host name.
async fn status_page(portal: &Portal, path: &str) -> (u16, String) {
    let response =
        client().get(portal.url(path)).header("host", STATUS_HOST).send().await.expect("GET status page");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Polls `path` on the status host until the body satisfies `done`, at most `limit`.
async fn wait_for_page(
    portal: &Portal,
    path: &str,
    limit: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> (u16, String, Duration) {
    let started = Instant::now();
    loop {
        let (status, body) = status_page(portal, path).await;
        if done(status, &body) {
            return (status, body, started.elapsed());
        }
        assert!(
            started.elapsed() < limit,
            "{path} did not change within {limit:?}; last answer {status}:\n{body:.2000}\nlogs:\n{}",
            portal.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A commander's API token, made with the command line as an operator would.
fn commander_token(portal: &Portal) -> String {
    let email = format!("commander-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    support::create_user(&portal.database_url, &email, "commander", support::PASSWORD);
    let (code, stdout, stderr) = support::run_to_end(
        &["create-token", "--email", &email, "--name", "status-e2e"],
        &[("DATABASE_URL", portal.database_url.as_str())],
    );
    assert_eq!(code, Some(0), "create-token failed:\n{stdout}\n{stderr}");
    stdout.trim().to_owned()
}

/// Declares a public incident and posts a public update through the JSON API of `portal`.
async fn post_update_through_api(portal: &Portal, token: &str, title: &str, body: &str) {
    let http = client();
    let declared = http
        .post(portal.url("/api/v1/incidents"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": title, "severity": "P2",
                                  "components": [{"id": "0193a000-0000-7000-8000-000000000013", "impact": "degraded_performance"}]}))
        .send()
        .await
        .expect("declare");
    assert_eq!(declared.status(), 201, "{}", declared.text().await.unwrap_or_default());
    let number =
        declared.json::<serde_json::Value>().await.expect("JSON")["number"].as_i64().expect("number");
    let update = http
        .post(portal.url(&format!("/api/v1/incidents/{number}/events")))
        .bearer_auth(token)
        .json(&serde_json::json!({"kind": "public_update", "body": body}))
        .send()
        .await
        .expect("public update");
    assert_eq!(update.status(), 201, "{}", update.text().await.unwrap_or_default());
}

#[tokio::test]
async fn a_public_update_through_one_process_is_served_by_another_within_a_second() {
    let url = fresh_database().await;
    let a = Portal::start_with(&url, &[]).await;
    let b = Portal::start_with(&url, &[]).await;
    for portal in [&a, &b] {
        wait_for_page(portal, "/", Duration::from_secs(30), |s, body| {
            s == 200 && body.contains("All systems operational")
        })
        .await;
    }

    let token = commander_token(&a);
    post_update_through_api(&a, &token, "Agents answer slowly", "E2E-FRESH-7d7d: we are looking into it.")
        .await;
    // Timed from the API's answer (the commit), not from the request.
    let (_, body, lag) =
        wait_for_page(&b, "/", Duration::from_secs(5), |_, body| body.contains("E2E-FRESH-7d7d")).await;
    println!("process B showed the update after {lag:?}");
    assert!(body.contains("Agents answer slowly") && body.contains("Degraded performance"), "{body}");
    let (_, json, _) =
        wait_for_page(&a, "/api/v2/incidents/unresolved.json", Duration::from_secs(5), |_, body| {
            body.contains("E2E-FRESH-7d7d")
        })
        .await;
    assert!(json.contains("\"status\":\"investigating\""));
    // The internal host of the other process shows it too.
    let internal =
        client().get(b.url("/status")).send().await.expect("GET /status").text().await.expect("body");
    assert!(internal.contains("E2E-FRESH-7d7d"));
}

/// The directory with `pg_ctl`, as the portal finds it.
fn pg_bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
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

/// `pg_ctl -D <data> -m immediate stop`, as the cluster's owner.
fn stop_cluster_now(data: &Path) {
    let pg_ctl = pg_bin_dir().join("pg_ctl");
    let mut cmd = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        c
    } else {
        Command::new(&pg_ctl)
    };
    let out = cmd.arg("-D").arg(data).args(["-m", "immediate", "-w", "stop"]).output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl stop failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn while_postgres_is_stopped_the_last_page_is_served_with_a_stale_note() {
    let dir = tempfile::Builder::new().prefix("tl-status-").tempdir_in("/tmp").expect("tempdir");
    // The cluster may run as the `postgres` user (when the tests run as root): let it in.
    Command::new("chmod").arg("0755").arg(dir.path()).status().expect("chmod");
    let data_dir = dir.path().to_str().expect("utf-8").to_owned();
    let mut cmd = Command::new(support::BINARY);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TWISTERLAB_BIND", "127.0.0.1:0")
        .env("TWISTERLAB_DATA_DIR", &data_dir)
        .env("TWISTERLAB_LOCAL_POSTGRES", "127.0.0.1:1")
        .env("TWISTERLAB_LOG_FORMAT", "json")
        .env("TWISTERLAB_SHUTDOWN_GRACE", "2");
    let (mut child, logs, base) = support::spawn_until_listening(cmd);
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let r = client().get(url).header("host", STATUS_HOST).send().await.expect("GET");
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let started = Instant::now();
    loop {
        let (status, body) = get("/").await;
        if status == 200 && body.contains("All systems operational") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no status page: {status} {body:.500}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    stop_cluster_now(&dir.path().join("pgdata"));
    let started = Instant::now();
    let body = loop {
        let (status, body) = get("/").await;
        assert_eq!(status, 200, "the page keeps answering while the database is down: {body:.500}");
        if body.contains("This page may be out of date since") {
            break body;
        }
        let logs = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(20), "no stale note after 20 s; logs:\n{logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("stale note after {:?}", started.elapsed());
    assert!(body.contains("All systems operational"), "the last known state is still there");
    let (status, json) = get("/api/v2/summary.json").await;
    assert_eq!(status, 200);
    assert!(json.contains("\"indicator\":\"none\""));

    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium, JavaScript off.

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A running chromedriver, stopped on drop.
pub(crate) struct Driver {
    child: Child,
    pub(crate) url: String,
    /// Chromium's profile and temporary files (it leaves them behind otherwise); removed on drop.
    pub(crate) scratch: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_chromedriver() -> Driver {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} (Debian package {package}) is missing: the browser tests need Debian's headless Chromium. Install it with `apt-get install -y chromium chromium-driver` (scripts/test does)."
        );
    }
    let port = free_port();
    let scratch = tempfile::Builder::new().prefix("tl-chromium-").tempdir().expect("tempdir");
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .env("TMPDIR", scratch.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}"), scratch };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen on {port} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

#[tokio::test]
async fn the_status_page_works_in_chromium_with_javascript_disabled() {
    let driver = start_chromedriver().await;
    // The status host is `localhost` here, so the browser reaches the status site at `/`.
    let url = fresh_database().await;
    let portal = Portal::start_with(&url, &[("TWISTERLAB_STATUS_HOST", "localhost")]).await;
    let port = portal.base.rsplit(':').next().expect("port").to_owned();
    let page = format!("http://localhost:{port}/");

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [format!("--user-data-dir={}", driver.scratch.path().join("profile").display()),
                     "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic"],
            "prefs": {"profile.managed_default_content_settings.javascript": 2}
        }),
    );
    let browser = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium");
    let result = async {
        browser.goto(&page).await?;
        let banner = browser.find(fantoccini::Locator::Css("h1.banner")).await?.text().await?;
        let components = browser.find(fantoccini::Locator::Css("ul.components")).await?.text().await?;
        let footer = browser.find(fantoccini::Locator::Css("footer")).await?.text().await?;
        browser.goto(&format!("http://localhost:{port}/history")).await?;
        let history = browser.find(fantoccini::Locator::Css("h1")).await?.text().await?;
        Ok::<_, fantoccini::error::CmdError>((banner, components, footer, history))
    }
    .await;
    let _ = browser.close().await;
    let (banner, components, footer, history) = result.expect("the page loads and has its parts");
    assert_eq!(banner, "All systems operational");
    for name in ["API", "MCP tools", "Agents", "LLM backend"] {
        assert!(components.contains(name), "{name} missing from {components:?}");
    }
    assert!(components.contains("Operational"), "state in words: {components:?}");
    assert!(footer.contains("Incident history") && footer.contains("JSON API"), "{footer:?}");
    assert_eq!(history, "Incident history");
    drop(driver);
}
