//! Accounts as an operator meets them: the first admin from the environment, the password
//! rules at the command line, and secrets kept out of the logs.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BINARY, Portal, browser, connect, fresh_database, hidden_value};

const ADMIN_EMAIL: &str = "first-admin@twisterlab.test";
const ADMIN_PASSWORD: &str = "violet lantern orbits quietly";

/// Signs in through the form; returns the response to `POST /login`.
async fn sign_in(portal: &Portal, http: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    let form = http.get(portal.url("/login")).send().await.expect("GET /login").text().await.expect("body");
    let csrf = hidden_value(&form, "csrf_token");
    http.post(portal.url("/login"))
        .header("origin", &portal.base)
        .form(&[("email", email), ("password", password), ("next", "/"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("POST /login")
}

/// Runs the binary with `args`, `env` and `stdin` until it exits, at most `limit`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &str, limit: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(BINARY);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the portal binary");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{args:?} did not exit within {limit:?}; output:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[tokio::test]
async fn the_first_admin_from_the_environment_can_sign_in_and_the_password_is_never_logged() {
    let url = fresh_database().await;
    let portal = Portal::start_with(
        &url,
        &[("TWISTERLAB_ADMIN_EMAIL", ADMIN_EMAIL), ("TWISTERLAB_ADMIN_PASSWORD", ADMIN_PASSWORD)],
    )
    .await;
    let http = browser();
    let response = sign_in(&portal, &http, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap_or_default());
    assert_eq!(response.headers()["location"], "/");
    let overview = http.get(portal.url("/")).send().await.expect("GET /");
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.expect("body");
    assert!(html.contains("/admin/users"), "an admin sees the admin navigation: {html}");

    let mut db = connect(&url).await;
    let (role, hash): (String, String) =
        sqlx::query_as("select role, password_hash from users where lower(email) = lower($1)")
            .bind(ADMIN_EMAIL)
            .fetch_one(&mut db)
            .await
            .expect("the admin row");
    assert_eq!(role, "admin");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let created: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'user.create' and actor_label = 'system'",
    )
    .fetch_one(&mut db)
    .await
    .expect("audit");
    assert_eq!(created, 1, "the bootstrap is audited");

    // A wrong password and a restart with the variables still set change nothing.
    let wrong = sign_in(&portal, &browser(), ADMIN_EMAIL, "not the admin password at all").await;
    assert_eq!(wrong.status(), 401);
    let logs = portal.logs();
    drop(portal);
    let again = Portal::start_with(
        &url,
        &[
            ("TWISTERLAB_ADMIN_EMAIL", "second-admin@twisterlab.test"),
            ("TWISTERLAB_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
    .await;
    let users: i64 =
        sqlx::query_scalar("select count(*) from users").fetch_one(&mut db).await.expect("count");
    assert_eq!(users, 1, "with users present the variables are ignored");
    let logs = format!("{logs}\n{}", again.logs());
    assert!(logs.contains(ADMIN_EMAIL) || logs.contains("first admin"), "the bootstrap is logged: {logs}");
    assert!(!logs.contains(ADMIN_PASSWORD), "the admin password appears in the logs:\n{logs}");
    assert!(!logs.contains("not the admin password at all"), "a typed password appears in the logs:\n{logs}");
}

#[tokio::test]
async fn a_too_weak_admin_password_stops_the_start_naming_the_variable() {
    let url = fresh_database().await;
    let weak = "changeme123";
    let (code, output) = run(
        &["serve"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("TWISTERLAB_BIND", "127.0.0.1:0"),
            ("TWISTERLAB_ADMIN_EMAIL", ADMIN_EMAIL),
            ("TWISTERLAB_ADMIN_PASSWORD", weak),
        ],
        "",
        Duration::from_secs(60),
    );
    assert!(matches!(code, Some(c) if c != 0), "the start must fail: {code:?}\n{output}");
    assert!(output.contains("TWISTERLAB_ADMIN_PASSWORD"), "the message names the variable:\n{output}");
    assert!(output.contains("12 characters"), "and says what is wrong:\n{output}");
    assert!(!output.contains("listening on"), "it never served:\n{output}");
    assert!(!output.contains(weak), "the password is not echoed:\n{output}");

    let mut db = connect(&url).await;
    let users: i64 =
        sqlx::query_scalar("select count(*) from users").fetch_one(&mut db).await.expect("count");
    assert_eq!(users, 0, "no admin was created");
}

#[tokio::test]
async fn create_user_refuses_a_weak_password_with_a_field_message() {
    let url = fresh_database().await;
    for (weak, why) in [("short-pw", "12 characters"), ("password1234", "common")] {
        let (code, output) = run(
            &["create-user", "--email", "weak@twisterlab.test", "--role", "viewer", "--password-stdin"],
            &[("DATABASE_URL", url.as_str())],
            &format!("{weak}\n"),
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(1), "{weak}: {output}");
        assert!(output.contains("--password"), "{weak}: the message names the field:\n{output}");
        assert!(output.contains(why), "{weak}: and says why:\n{output}");
        assert!(!output.contains(weak), "{weak}: the password is not echoed:\n{output}");
    }
    let mut db = connect(&url).await;
    let users: i64 =
        sqlx::query_scalar("select count(*) from users").fetch_one(&mut db).await.expect("count");
    assert_eq!(users, 0);

    let (code, output) = run(
        &["create-user", "--email", "strong@twisterlab.test", "--role", "responder", "--password-stdin"],
        &[("DATABASE_URL", url.as_str())],
        &format!("{ADMIN_PASSWORD}\n"),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(!output.contains(ADMIN_PASSWORD), "{output}");
}

#[tokio::test]
async fn check_config_masks_the_admin_password() {
    let (code, output) = run(
        &["check-config"],
        &[("TWISTERLAB_ADMIN_EMAIL", ADMIN_EMAIL), ("TWISTERLAB_ADMIN_PASSWORD", ADMIN_PASSWORD)],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("TWISTERLAB_ADMIN_PASSWORD"), "{output}");
    assert!(!output.contains(ADMIN_PASSWORD), "check-config prints the admin password:\n{output}");
}
