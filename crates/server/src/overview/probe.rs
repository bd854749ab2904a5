//! One probe: `GET` a health URL with a timeout, a redirect limit and a body size limit, then
//! judge the answer. Every way it can fail is a [`Failure`] with its own reason; a hanging or
//! garbage-returning target costs at most its timeout.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use twisterlab_domain::health::{Answer as Judged, Failure, FailureKind, excerpt, judge_answer, status_line};

/// Largest body read, in bytes; a health answer is a few hundred.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Redirects followed before giving up.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// Characters of the body kept as evidence.
pub(crate) const EXCERPT_CHARS: usize = 300;

/// What one probe found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    /// `Ok` or why not.
    pub result: Result<(), Failure>,
    /// Time to the complete answer (or to the failure).
    pub latency: Duration,
    /// The answer's status, when there was one.
    pub http_status: Option<u16>,
    /// The first characters of the body, when there was one.
    pub excerpt: Option<String>,
}

impl Outcome {
    /// The answer was right.
    pub(crate) fn ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The latency in milliseconds (saturating).
    pub(crate) fn latency_ms(&self) -> i32 {
        i32::try_from(self.latency.as_millis()).unwrap_or(i32::MAX)
    }

    /// Why the probe failed, if it did.
    pub(crate) fn failure(&self) -> Option<&Failure> {
        self.result.as_ref().err()
    }
}

/// The HTTP client all probes share (connections are reused between probes of one host).
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        // Probes go straight to the target: a proxy from the environment would test the proxy.
        .no_proxy()
        .user_agent(concat!("twisterlab-portal/", env!("CARGO_PKG_VERSION"), " health-probe"))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
}

/// Probes `url` once: 2xx, JSON, and every field of `expect`, all within `timeout`.
pub(crate) async fn probe(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    expect: &BTreeMap<String, Value>,
) -> Outcome {
    let started = Instant::now();
    // The client's own timeout covers headers and body; the outer one is a backstop so no
    // target can hold a probe longer than its timeout, whatever the transport does.
    let attempt = fetch(client, url, timeout);
    let fetched = match tokio::time::timeout(timeout + Duration::from_millis(200), attempt).await {
        Ok(fetched) => fetched,
        Err(_) => Err(Failure::new(FailureKind::Timeout, timeout_reason(timeout, false))),
    };
    let latency = started.elapsed();
    match fetched {
        Ok(answer) => {
            let judged = Judged {
                status: answer.status,
                reason: reason_phrase(answer.status),
                content_type: &answer.content_type,
                body: &answer.body,
            };
            let result = judge_answer(&judged, expect);
            Outcome {
                result,
                latency,
                http_status: Some(answer.status),
                excerpt: Some(excerpt(&answer.body, EXCERPT_CHARS)).filter(|e| !e.is_empty()),
            }
        }
        Err(failure) => Outcome { result: Err(failure), latency, http_status: None, excerpt: None },
    }
}

/// The standard reason phrase of an HTTP status ("Service Unavailable").
fn reason_phrase(status: u16) -> Option<&'static str> {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason())
}

/// "503 Service Unavailable".
pub(crate) fn status_text(status: u16) -> String {
    status_line(status, reason_phrase(status))
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<Answer, Failure> {
    let response = client
        .get(url)
        .timeout(timeout)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| classify(&e, url, timeout, false))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Some(length) = response.content_length()
        && length > MAX_BODY_BYTES as u64
    {
        return Err(too_large(Some(length)));
    }
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large(None));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(classify(&e, url, timeout, true)),
        }
    }
    Ok(Answer { status, content_type, body })
}

fn too_large(length: Option<u64>) -> Failure {
    let size = length.map(|l| format!(" ({l} bytes)")).unwrap_or_default();
    Failure::new(
        FailureKind::TooLarge,
        format!(
            "the body is larger than {} KiB{size}; a health answer should be small",
            MAX_BODY_BYTES / 1024
        ),
    )
}

fn timeout_reason(timeout: Duration, reading_body: bool) -> String {
    if reading_body {
        format!("the body did not arrive within the {} ms timeout", timeout.as_millis())
    } else {
        format!("no answer within the {} ms timeout (the service hangs or is too slow)", timeout.as_millis())
    }
}

/// Names the failure of a request: timeout, redirects, TLS, DNS, refused connection…
fn classify(err: &reqwest::Error, url: &str, timeout: Duration, reading_body: bool) -> Failure {
    if err.is_timeout() {
        return Failure::new(FailureKind::Timeout, timeout_reason(timeout, reading_body));
    }
    if err.is_redirect() {
        return Failure::new(FailureKind::Redirects, format!("more than {MAX_REDIRECTS} redirects"));
    }
    let text = error_text(err);
    let host =
        reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    if let Some(tls) = err.source().and_then(find_rustls) {
        return Failure::new(FailureKind::Tls, format!("TLS failed with {host}: {tls}"));
    }
    if err.source().is_some_and(refused) {
        return Failure::new(FailureKind::Connect, format!("connection refused by {}", authority(url)));
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return Failure::new(FailureKind::Dns, format!("the name {host} does not resolve: {text}"));
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return Failure::new(FailureKind::Tls, format!("TLS failed with {host}: {text}"));
    }
    if err.is_connect() {
        return Failure::new(FailureKind::Connect, format!("cannot connect to {}: {text}", authority(url)));
    }
    Failure::new(FailureKind::Transport, text)
}

/// The rustls error somewhere in the chain. `io::Error` hides the error it wraps from
/// `source()` (it returns the wrapped error's source), so wrapped errors are searched too.
fn find_rustls<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        let inner: &(dyn std::error::Error + 'static) = inner;
        if let Some(tls) = find_rustls(inner) {
            return Some(tls);
        }
    }
    err.source().and_then(find_rustls)
}

/// Whether the chain holds a refused connection.
fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::ConnectionRefused {
            return true;
        }
        if let Some(inner) = io.get_ref() {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if refused(inner) {
                return true;
            }
        }
    }
    err.source().is_some_and(refused)
}

fn authority(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// An error with its causes (`error sending request: client error (Connect): tcp connect
/// error: Connection refused`), since the useful part is usually deep in the chain. The URL is
/// left out: it is shown beside the reason anyway.
pub(crate) fn error_text(err: &reqwest::Error) -> String {
    let text = crate::telemetry::error_chain(err);
    match err.url() {
        Some(url) => text.replace(&format!(" for url ({url})"), ""),
        None => text,
    }
}
