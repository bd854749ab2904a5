//! One probe against the demo target in every mode, and against targets that fail below HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::Redirect;
use axum::routing::get;
use twisterlab_domain::health::FailureKind;

use super::{Demo, runbook_expect, serve};
use crate::overview::probe::{self, MAX_BODY_BYTES};

const TIMEOUT: Duration = Duration::from_millis(800);

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    probe::client().expect("probe client")
}

fn kind(outcome: &probe::Outcome) -> Option<FailureKind> {
    outcome.failure().map(|f| f.kind)
}

fn reason(outcome: &probe::Outcome) -> String {
    outcome.failure().map(|f| f.reason.clone()).unwrap_or_default()
}

#[tokio::test]
async fn the_demo_target_is_judged_right_in_every_mode() {
    let demo = Demo::start(Duration::from_millis(1500)).await;
    let client = client();
    let expect = runbook_expect();
    let url = demo.health_url();

    let healthy = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert!(healthy.ok(), "{healthy:?}");
    assert_eq!(healthy.http_status, Some(200));

    demo.mode("degraded").await;
    let degraded = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert_eq!(kind(&degraded), Some(FailureKind::Mismatch), "{degraded:?}");
    assert_eq!(
        reason(&degraded),
        r#"/redis is "disconnected", expected "connected"; /status is "degraded", expected "healthy""#
    );

    demo.mode("down").await;
    let down = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert_eq!(kind(&down), Some(FailureKind::HttpStatus), "{down:?}");
    let why = reason(&down);
    assert!(why.starts_with("HTTP 503 Service Unavailable; "), "{why}");
    assert!(why.contains(r#"/database is "disconnected", expected "connected""#), "{why}");
    assert!(down.excerpt.as_deref().is_some_and(|e| e.contains("unhealthy")), "{down:?}");

    demo.mode("slow").await;
    let slow = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert_eq!(kind(&slow), Some(FailureKind::Timeout), "{slow:?}");
    assert_eq!(reason(&slow), "no answer within the 800 ms timeout (the service hangs or is too slow)");
    assert!(slow.latency >= TIMEOUT && slow.latency < TIMEOUT + Duration::from_secs(2), "{slow:?}");

    demo.mode("slow 100ms").await;
    let slowish = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert!(slowish.ok(), "a delay under the timeout passes: {slowish:?}");
    assert!(slowish.latency >= Duration::from_millis(100));

    demo.mode("garbage").await;
    let garbage = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert_eq!(kind(&garbage), Some(FailureKind::NotJson), "{garbage:?}");
    assert!(reason(&garbage).contains("text/html"), "{garbage:?}");

    demo.mode("hang").await;
    let hang = probe::probe(&client, &url, TIMEOUT, &expect).await;
    assert_eq!(kind(&hang), Some(FailureKind::Timeout), "{hang:?}");
    assert!(hang.latency < TIMEOUT + Duration::from_secs(2), "a hang costs the timeout, no more: {hang:?}");

    demo.mode("healthy").await;
    assert!(probe::probe(&client, &url, TIMEOUT, &expect).await.ok());
}

#[tokio::test]
async fn a_closed_port_is_a_refused_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let outcome = probe::probe(&client(), &format!("http://{addr}/health"), TIMEOUT, &BTreeMap::new()).await;
    assert_eq!(kind(&outcome), Some(FailureKind::Connect), "{outcome:?}");
    assert_eq!(reason(&outcome), format!("connection refused by {addr}"));
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_failure() {
    let outcome = probe::probe(
        &client(),
        "http://no-such-host.invalid/health",
        Duration::from_secs(10),
        &BTreeMap::new(),
    )
    .await;
    assert_eq!(kind(&outcome), Some(FailureKind::Dns), "{outcome:?}");
    assert!(reason(&outcome).starts_with("the name no-such-host.invalid does not resolve"), "{outcome:?}");
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_failure() {
    let demo = Demo::start(Duration::from_millis(100)).await;
    let outcome =
        probe::probe(&client(), &format!("https://{}/health", demo.addr), TIMEOUT, &BTreeMap::new()).await;
    assert_eq!(kind(&outcome), Some(FailureKind::Tls), "{outcome:?}");
    assert!(reason(&outcome).starts_with("TLS failed with 127.0.0.1"), "{outcome:?}");
}

#[tokio::test]
async fn huge_bodies_and_redirect_loops_are_refused() {
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let app = Router::new()
        .route("/big", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], big) }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route("/hop", get(|| async { Redirect::temporary("/health") }))
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "healthy"})) }));
    let addr = serve(app).await;
    let client = client();
    let none = BTreeMap::new();
    let announced = probe::probe(&client, &format!("http://{addr}/big"), TIMEOUT, &none).await;
    assert_eq!(kind(&announced), Some(FailureKind::TooLarge), "{announced:?}");
    let streamed =
        probe::probe(&client, &format!("http://{}/health", chunked_server().await), TIMEOUT, &none).await;
    assert_eq!(kind(&streamed), Some(FailureKind::TooLarge), "{streamed:?}");
    let looping = probe::probe(&client, &format!("http://{addr}/loop"), TIMEOUT, &none).await;
    assert_eq!(kind(&looping), Some(FailureKind::Redirects), "{looping:?}");
    let one_hop = probe::probe(&client, &format!("http://{addr}/hop"), TIMEOUT, &none).await;
    assert!(one_hop.ok(), "a redirect within the limit is followed: {one_hop:?}");
}

/// A raw HTTP/1.1 server answering every connection with an endless chunked body (no
/// Content-Length), so the size limit must hold while reading.
async fn chunked_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await;
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    addr
}
