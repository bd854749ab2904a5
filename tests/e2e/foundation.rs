//! The foundation as an operator meets it: start-up, health, metrics, errors, limits, shutdown.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

use crate::support::{self, Portal, client, connect, fresh_database, run_to_end};

#[tokio::test]
async fn health_answers_in_the_runbook_shape_when_the_database_is_up() {
    let portal = Portal::start().await;
    let response = client().get(portal.url("/health")).send().await.expect("GET /health");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "connected");
    assert_eq!(body["migrations"], "current");

    let livez = client().get(portal.url("/livez")).send().await.expect("GET /livez");
    assert_eq!(livez.status(), 200);
    let readyz = client().get(portal.url("/readyz")).send().await.expect("GET /readyz");
    assert_eq!(readyz.status(), 200);
}

#[tokio::test]
async fn health_turns_unhealthy_when_postgres_is_gone_and_recovers() {
    let portal = Portal::start().await;
    let name = portal.database_url.rsplit('/').next().expect("database name").to_owned();
    let mut admin = connect(&support::admin_url()).await;

    // Cut the portal off: refuse new connections and end the ones it holds.
    let cut = format!("alter database {name} allow_connections false");
    sqlx::query(sqlx::AssertSqlSafe(cut)).execute(&mut admin).await.expect("refuse connections");
    // pg_terminate_backend only signals: wait until the backends are really gone, or a health
    // check racing the signal still gets its answer from a dying connection.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (left,): (i64,) = sqlx::query_as(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("terminate connections");
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} connections still open after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let response = client().get(portal.url("/health")).send().await.expect("GET /health");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("JSON body");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["database"], "disconnected");
    let readyz = client().get(portal.url("/readyz")).send().await.expect("GET /readyz");
    assert_eq!(readyz.status(), 503);
    assert_eq!(readyz.text().await.expect("body"), "database unreachable");
    let livez = client().get(portal.url("/livez")).send().await.expect("GET /livez");
    assert_eq!(livez.status(), 200, "liveness must not depend on the database");

    let restore = format!("alter database {name} allow_connections true");
    sqlx::query(sqlx::AssertSqlSafe(restore)).execute(&mut admin).await.expect("allow connections");
    let response = client().get(portal.url("/health")).send().await.expect("GET /health");
    assert_eq!(response.status(), 200, "the portal reconnects by itself");
}

#[tokio::test]
async fn metrics_pass_promtool_and_are_labelled_by_route_template() {
    let portal = Portal::start().await;
    let http = client();
    http.get(portal.url("/static/not-a-real-asset.css")).send().await.expect("GET asset");
    http.get(portal.url("/no/such/page/12345")).send().await.expect("GET unknown");
    http.get(portal.url("/health")).send().await.expect("GET /health");
    let text =
        http.get(portal.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("body");

    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    assert!(text.contains(r#"route="/static/{file}""#), "route templates, not raw paths:\n{text}");
    assert!(text.contains(r#"route="/health""#), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(
        !text.contains("not-a-real-asset") && !text.contains("12345"),
        "raw paths leaked into labels:\n{text}"
    );
    for gauge in ["db_pool_connections_in_use", "db_pool_connections_idle", "db_pool_connections_max 10"] {
        assert!(text.contains(gauge), "missing {gauge}:\n{text}");
    }

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed: install Debian's `prometheus` package (scripts/test does)");
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write metrics");
    let out = promtool.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool rejected /metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_overview_page_renders_with_a_cacheable_stylesheet_and_security_headers() {
    let portal = Portal::start().await;
    let http = support::signed_in(&portal, "viewer").await;
    let response = http.get(portal.url("/")).header("accept", "text/html").send().await.expect("GET /");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("referrer-policy"));
    assert!(headers.contains_key("x-request-id"));

    let html = response.text().await.expect("body");
    assert!(html.contains("<h1>Overview</h1>"), "{html}");
    assert!(html.contains("connected"), "{html}");
    let css_path = html
        .split("href=\"/static/app.")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("stylesheet link");
    let css = http.get(portal.url(&format!("/static/app.{css_path}"))).send().await.expect("GET css");
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(css.headers()["content-type"].to_str().expect("ascii").starts_with("text/css"));
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_replaced_by_the_portals_own() {
    // A client-chosen id would reach logs and audit rows unchecked (security review, item 8).
    let portal = Portal::start().await;
    let response =
        client().get(portal.url("/livez")).header("x-request-id", "trace-me-42").send().await.expect("GET");
    let id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_ne!(id, "trace-me-42");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "the portal's own id: {id}");
}

#[tokio::test]
async fn an_unknown_address_gets_the_404_page() {
    let portal = Portal::start().await;
    let response = client()
        .get(portal.url("/definitely/not/here"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let html = response.text().await.expect("body");
    assert!(html.contains("Not Found") && html.contains("There is no page at this address"), "{html}");
    assert!(html.contains("Request id"), "the page shows the request id for support: {html}");
}

#[tokio::test]
async fn json_clients_get_problem_details() {
    let portal = Portal::start().await;
    let response = client()
        .get(portal.url("/definitely/not/here"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not Found");
    assert_eq!(body["instance"], "/definitely/not/here");
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_allow() {
    let portal = Portal::start().await;
    let response = client()
        .delete(portal.url("/health"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 405);
    assert!(response.headers().contains_key("allow"));
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn an_oversized_body_gets_413_with_a_clear_message() {
    let portal = Portal::start_with(&fresh_database().await, &[("TWISTERLAB_BODY_LIMIT", "65536")]).await;
    let body = vec![b'x'; 200 * 1024];
    let response = client()
        .post(portal.url("/health"))
        .header("accept", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 413);
    let problem: serde_json::Value = response.json().await.expect("JSON");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("64 KiB")), "{problem}");

    let html =
        client().post(portal.url("/")).header("accept", "text/html").body(body).send().await.expect("POST");
    assert_eq!(html.status(), 413);
    assert!(html.text().await.expect("body").contains("larger than the limit"));
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let mut portal = Portal::start().await;
    // Make /readyz slow for real: hold a lock on the table it reads.
    let mut blocker = connect(&portal.database_url).await;
    let mut tx = blocker.begin().await.expect("begin");
    sqlx::query("lock table _sqlx_migrations in access exclusive mode")
        .execute(&mut *tx)
        .await
        .expect("lock");

    let url = portal.url("/readyz");
    let request = tokio::spawn(async move { client().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    portal.terminate();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!request.is_finished(), "the request must still be waiting on the database");
    tx.rollback().await.expect("release the lock");

    let response = request.await.expect("task").expect("the in-flight request got an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "ready");
    let status = portal.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}; logs:\n{}", portal.logs());
    assert!(portal.logs().contains("stopped cleanly"), "{}", portal.logs());
}

#[tokio::test]
async fn malformed_configuration_exits_with_code_2_naming_the_field() {
    let (code, _, stderr) = run_to_end(&["serve"], &[("TWISTERLAB_BIND", "not-an-address")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TWISTERLAB_BIND"), "{stderr}");

    let (code, _, stderr) = run_to_end(&["serve"], &[("TWISTERLAB_DB_POOL_MAX", "lots")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TWISTERLAB_DB_POOL_MAX"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("portal.toml");
    std::fs::write(&file, "timezone = \"Atlantis/Lost\"\n").expect("write");
    let (code, _, stderr) = run_to_end(&["--config", file.to_str().expect("utf-8"), "check-config"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("timezone") && stderr.contains("TWISTERLAB_TIMEZONE"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_database_fails_after_bounded_retries_with_advice() {
    let started = std::time::Instant::now();
    let (code, _, stderr) = run_to_end(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://app:hunter2-secret@127.0.0.1:1/twisterlab"),
            ("TWISTERLAB_DB_CONNECT_TIMEOUT", "2"),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "the retry is bounded");
    assert!(
        stderr.contains("cannot reach PostgreSQL at postgres://app:****@127.0.0.1:1/twisterlab"),
        "{stderr}"
    );
    assert!(stderr.contains("set DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn check_config_prints_effective_values_with_secrets_masked() {
    let (code, stdout, stderr) = run_to_end(
        &["check-config"],
        &[
            ("DATABASE_URL", "postgres://app:hunter2-secret@db:5432/twisterlab"),
            ("TWISTERLAB_TIMEZONE", "Europe/Berlin"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("postgres://app:****@db:5432/twisterlab"), "{stdout}");
    assert!(stdout.contains("Europe/Berlin  (environment"), "{stdout}");
    assert!(stdout.contains("TWISTERLAB_BIND") && stdout.contains("127.0.0.1:8080  (default"), "{stdout}");
    assert!(!stdout.contains("hunter2-secret"), "{stdout}");
}

#[tokio::test]
async fn logs_are_json_and_never_contain_the_database_password() {
    // Trust authentication ignores the password, so a fake one still connects.
    let url =
        fresh_database().await.replacen("postgres://postgres@", "postgres://postgres:hunter2-secret@", 1);
    if !url.contains("hunter2-secret") {
        panic!("the test expects DATABASE_URL of the form postgres://postgres@host/db, got {url}");
    }
    let portal = Portal::start_with(&url, &[]).await;
    client().get(portal.url("/health")).send().await.expect("GET");
    let logs = portal.logs();
    assert!(!logs.contains("hunter2-secret"), "{logs}");
    let first = logs.lines().next().expect("a log line");
    let line: serde_json::Value = serde_json::from_str(first).expect("JSON log line");
    assert!(line.get("level").is_some() && line.get("message").is_some(), "{first}");
}

#[tokio::test]
async fn a_modified_migration_stops_the_start() {
    let url = fresh_database().await;
    drop(Portal::start_with(&url, &[]).await);
    let mut conn = connect(&url).await;
    sqlx::query("update _sqlx_migrations set checksum = '\\x00' where version = 1")
        .execute(&mut conn)
        .await
        .expect("tamper");
    let (code, _, stderr) =
        run_to_end(&["serve"], &[("DATABASE_URL", &url), ("TWISTERLAB_BIND", "127.0.0.1:0")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("migration 1") && stderr.contains("was changed after it was applied"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failing_migration_stops_the_start_and_names_it() {
    let url = fresh_database().await;
    let mut conn = connect(&url).await;
    // Something in the way of migration 1.
    sqlx::query("create table audit_log (x int)").execute(&mut conn).await.expect("arrange");
    let (code, _, stderr) =
        run_to_end(&["serve"], &[("DATABASE_URL", &url), ("TWISTERLAB_BIND", "127.0.0.1:0")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("migration 1") && stderr.contains("failed and was rolled back"), "{stderr}");
}

#[tokio::test]
async fn migrate_applies_the_schema_and_reports_it() {
    let url = fresh_database().await;
    let (code, stdout, stderr) = run_to_end(&["migrate"], &[("DATABASE_URL", &url)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("the schema is current"), "{stdout}");
    let mut conn = connect(&url).await;
    let n: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(n >= 1);
}

#[tokio::test]
async fn without_database_url_a_private_cluster_is_started_and_stopped() {
    let dir = tempfile::Builder::new().prefix("tl-").tempdir_in("/tmp").expect("tempdir");
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
        .env("TWISTERLAB_LOG_FORMAT", "json");
    let (mut child, logs, base) = support::spawn_until_listening(cmd);
    let health: serde_json::Value =
        client().get(format!("{base}/health")).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(health["status"], "healthy", "{health}");
    let pid_file = dir.path().join("pgdata/postmaster.pid");
    assert!(pid_file.exists(), "the private cluster runs");

    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
    let status = child.wait().expect("wait");
    let logs = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(status.success(), "{logs}");
    assert!(!pid_file.exists(), "the cluster was stopped on shutdown:\n{logs}");
    assert!(logs.contains("stopped the private PostgreSQL cluster"), "{logs}");
}
