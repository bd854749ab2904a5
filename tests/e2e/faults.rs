//! The fault suite: the real binary on a private PostgreSQL cluster the test stops and starts
//! under it. Each test asserts the figure the reliability issue sets.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, PrivatePortal, client};

const STATUS_HOST: &str = "status.twisterlab.local";

/// How fast a write must fail while PostgreSQL is gone.
const WRITE_FAILS_WITHIN: Duration = Duration::from_secs(3);
/// How soon writes must succeed again after PostgreSQL is back, without restarting the portal.
const WRITES_RECOVER_WITHIN: Duration = Duration::from_secs(10);

/// A commander's API token, made with the command line as an operator would.
fn commander_token(p: &PrivatePortal) -> String {
    let email = format!("commander-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    support::create_user(&p.portal.database_url, &email, "commander", support::PASSWORD);
    let (code, stdout, stderr) = support::run_to_end(
        &["create-token", "--email", &email, "--name", "faults"],
        &[("DATABASE_URL", p.portal.database_url.as_str())],
    );
    assert_eq!(code, Some(0), "create-token failed:\n{stdout}\n{stderr}");
    stdout.trim().to_owned()
}

/// Declares an incident through the API; returns the status code and how long the answer took.
async fn declare(p: &PrivatePortal, token: &str, title: &str) -> (u16, Duration) {
    let started = Instant::now();
    let response = client()
        .post(p.portal.url("/api/v1/incidents"))
        .bearer_auth(token)
        .json(&json!({"title": title, "severity": "P3", "summary": "Fault suite write."}))
        .send()
        .await
        .expect("the portal answers a write");
    (response.status().as_u16(), started.elapsed())
}

async fn get(p: &PrivatePortal, path: &str, host: Option<&str>) -> (u16, String) {
    let mut request = client().get(p.portal.url(path));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.expect("the portal answers a read");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Case 1 of the fault suite: PostgreSQL restarted, first "fast" then "immediate".
#[tokio::test]
async fn during_a_postgres_restart_writes_fail_within_3_s_reads_from_memory_keep_working_and_writes_recover_within_10_s()
 {
    let p = PrivatePortal::start(&[]);
    let token = commander_token(&p);
    let (status, _) = declare(&p, &token, "Before the outage").await;
    assert_eq!(status, 201, "logs:\n{}", p.portal.logs());

    for mode in ["fast", "immediate"] {
        p.stop_postgres(mode);

        // Writes fail fast, every time (the first one, and the ones after it).
        for attempt in 0..3 {
            let (status, took) = declare(&p, &token, "During the outage").await;
            println!("{mode} stop, write {attempt}: {status} after {took:?}");
            assert_eq!(status, 503, "a write while PostgreSQL is down ({mode}) answers 503");
            assert!(took <= WRITE_FAILS_WITHIN, "a write during the outage took {took:?} ({mode})");
        }
        // Reads from memory keep working: the status page, with the stale note once it notices.
        let started = Instant::now();
        loop {
            let (status, body) = get(&p, "/", Some(STATUS_HOST)).await;
            assert_eq!(status, 200, "the status page answers during the outage ({mode}): {body:.500}");
            if body.contains("This page may be out of date since") {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no stale note within 20 s ({mode})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, _) = get(&p, "/livez", None).await;
        assert_eq!(status, 200, "/livez stays 200 during the outage ({mode})");
        let (status, body) = get(&p, "/readyz", None).await;
        assert_eq!((status, body.as_str()), (503, "database unreachable"), "/readyz reports the outage");

        p.start_postgres();
        let back = Instant::now();
        loop {
            let (status, _) = declare(&p, &token, "After the outage").await;
            if status == 201 {
                println!("{mode} stop: writes succeed again {:?} after PostgreSQL returned", back.elapsed());
                break;
            }
            assert!(
                back.elapsed() < WRITES_RECOVER_WITHIN,
                "writes still answer {status} {:?} after PostgreSQL returned ({mode}); logs:\n{}",
                back.elapsed(),
                p.portal.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, _) = get(&p, "/readyz", None).await;
        assert_eq!(status, 200, "/readyz is ready again ({mode})");
        // The status page drops its stale note again.
        let started = Instant::now();
        loop {
            let (_, body) = get(&p, "/", Some(STATUS_HOST)).await;
            if !body.contains("This page may be out of date since") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the stale note stays after recovery ({mode})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
