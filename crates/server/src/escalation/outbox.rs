//! The notification outbox (`notifications`): rows written in the transaction of their cause,
//! and the worker that delivers them with per-attempt timeouts, exponential backoff with
//! jitter, a maximum number of attempts and a dead-letter state.
//!
//! A worker claims a row (SKIP LOCKED) by setting it `delivering` with a lease, commits, sends,
//! then records the outcome. A process that dies mid-send leaves the lease to expire, and the
//! row is claimed again: delivery is at least once, and the idempotency key (the row's id, the
//! same on every attempt) lets receivers drop repeats. Rows of one incident to one channel go
//! out in creation order: a row waits while an earlier one is still undelivered. A failed
//! attempt is a retry (state `failed`, tried again after the backoff), not the end; only the
//! last attempt or a permanent error makes a row `dead`. The queries are in
//! `db::notifications`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinSet;
use twisterlab_domain::contact::ContactKind;
use twisterlab_domain::notification::{ChannelKind, EventKind};
use uuid::Uuid;

use super::events::Facts;
use super::render;
use crate::config::{Config, Secret};
use crate::db::channels;
use crate::db::incidents::Incident;
use crate::db::notifications::{self as store, AttemptRecord, Claimed, Destination, State, To};
use crate::workers::wake::Wakeup;
use crate::workers::{BoxFuture, Cadence, NextPass, Stop, Worker};

pub(crate) use crate::db::notifications::NOTIFY_CHANNEL;

/// Longest idle sleep between checks when no notification arrives (a safety net for a lost
/// `NOTIFY`).
/// Bytes of a receiver's answer read at most (the error text keeps 200 characters of it).
pub(crate) const MAX_RESPONSE_BYTES: usize = 4096;
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(5);

/// One outbox row written for an event: the channel's name (or "Maya's PagerDuty"), its kind
/// and the row's id (whose delivery state the incident page shows).
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub(crate) channel: String,
    pub(crate) kind: ChannelKind,
    pub(crate) notification_id: Uuid,
}

/// Writes one outbox row per channel subscribed to the event at the incident's severity, in
/// the caller's transaction; returns what was queued where (empty: nobody is told).
pub(crate) async fn enqueue(
    tx: &mut PgConnection,
    incident: &Incident,
    facts: &Facts,
) -> Result<Vec<Queued>, sqlx::Error> {
    let Some(kind) = facts.kind() else { return Ok(vec![]) };
    let subscribed = channels::subscribed(&mut *tx, incident.severity, kind).await?;
    if subscribed.is_empty() {
        return Ok(vec![]);
    }
    let payload = serde_json::to_value(facts).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let targets: Vec<To> = subscribed.iter().map(|c| To::Channel(c.id)).collect();
    let rows = store::enqueue(tx, &targets, incident.id, kind.as_str(), &payload).await?;
    Ok(subscribed
        .into_iter()
        .zip(rows)
        .map(|(c, notification_id)| Queued { channel: c.name, kind: c.kind, notification_id })
        .collect())
}

/// Retries, timeouts and parallelism of deliveries.
#[derive(Clone, Debug)]
pub(crate) struct DeliveryPolicy {
    /// Longest one attempt may take, connection to last byte.
    pub(crate) attempt_timeout: Duration,
    /// Attempts before a notification is dead.
    pub(crate) max_attempts: i32,
    /// Wait after the first failure; doubles with each further one.
    pub(crate) base_backoff: Duration,
    /// Longest wait between attempts.
    pub(crate) max_backoff: Duration,
    /// Deliveries in flight per process.
    pub(crate) concurrency: usize,
}

impl Default for DeliveryPolicy {
    /// 10 s per attempt, 8 attempts, waits from 5 s doubling up to 10 min (about 20 min in all),
    /// 4 in flight.
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            max_attempts: 8,
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            concurrency: 4,
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): `base · 2^(attempt-1)`, capped,
    /// then scaled into its upper half by `jitter` in [0, 1) so retries of many rows spread out.
    pub(crate) fn backoff(&self, attempt: i32, jitter: f64) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let full = self.base_backoff.saturating_mul(2u32.saturating_pow(exponent)).min(self.max_backoff);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// How long a claim lasts before another worker may take the row again: the attempt, plus
    /// 5 s to record its outcome. A process killed mid-attempt delays its rows by this much.
    pub(crate) fn lease(&self) -> Duration {
        self.attempt_timeout + Duration::from_secs(5)
    }
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered {
        status: u16,
    },
    /// Worth trying again later (timeout, connection refused, 5xx, 408, 429).
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Never going to work as it stands (4xx, missing configuration).
    Permanent {
        status: Option<u16>,
        error: String,
    },
}

/// Where configured channels send, from the process's configuration.
#[derive(Clone, Debug)]
struct Targets {
    public_url: String,
    slack_webhook_url: Option<Secret>,
    webhook_url: Option<Secret>,
    webhook_secret: Option<Secret>,
    pagerduty_events_url: String,
    pagerduty_routing_key: Option<Secret>,
    slack_bot_token: Option<Secret>,
    slack_api_url: String,
}

/// One HTTP request to send.
struct Request {
    url: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// Slack's Web API, which answers 200 with `{"ok": false, "error": …}` when it refuses.
    slack_api: bool,
    /// Whether errors quote the start of the receiver's answer. Not for people's own contact
    /// methods: anyone may set one, and the answer of an address they chose is not theirs to read.
    quote_answer: bool,
}

/// Why a person's e-mail contact method cannot be sent: the portal has no mail client.
pub(crate) const EMAIL_NOT_SET_UP: &str = "e-mail is not set up: set TWISTERLAB_SMTP_URL";

/// Why a Slack member ID gets no message of its own: the portal sends no direct messages.
pub(crate) const SLACK_DM_NOT_SET_UP: &str = "Slack direct messages are not set up: TWISTERLAB_SLACK_BOT_TOKEN is not set in this process (pages mention the member ID in the Slack channels that carry them)";

/// Sends one message to one destination, with one attempt's timeout: the single place both the
/// delivery worker and the "Send a test" buttons send through. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sender {
    http: reqwest::Client,
    targets: Arc<Targets>,
    attempt_timeout: Duration,
}

/// What a test message came to, in words for the page ("Delivered: HTTP 202 in 143 ms").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestResult {
    pub(crate) delivered: bool,
    pub(crate) text: String,
}

impl Sender {
    /// A sender linking to `config.public_url`, sending configured channels to the configured
    /// endpoints, each attempt bounded by `attempt_timeout`.
    pub(crate) fn new(config: &Config, attempt_timeout: Duration) -> Self {
        // ring everywhere; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("TwisterLab-Ops-Portal/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(attempt_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let targets = Targets {
            public_url: config.public_url.clone(),
            slack_webhook_url: config.slack_webhook_url.clone(),
            webhook_url: config.webhook_url.clone(),
            webhook_secret: config.webhook_secret.clone(),
            pagerduty_events_url: config.pagerduty_events_url.clone(),
            pagerduty_routing_key: config.pagerduty_routing_key.clone(),
            slack_bot_token: config.slack_bot_token.clone(),
            slack_api_url: config.slack_api_url.clone(),
        };
        Self { http, targets: Arc::new(targets), attempt_timeout }
    }

    /// The `source` of PagerDuty events: the portal's host name.
    fn source(&self) -> String {
        reqwest::Url::parse(&self.targets.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "twisterlab-ops-portal".into())
    }

    /// The signed webhook request of `facts` (documented in docs/WEBHOOKS.md).
    fn webhook(
        &self,
        id: Uuid,
        url: String,
        secret: &Secret,
        facts: &Facts,
        link: &str,
    ) -> Result<Request, String> {
        let body = serde_json::to_vec(&render::webhook_body(id, facts, link)).map_err(|e| e.to_string())?;
        let timestamp = jiff::Timestamp::now().as_second();
        let headers = vec![
            (render::IDEMPOTENCY_HEADER, id.to_string()),
            (render::TIMESTAMP_HEADER, timestamp.to_string()),
            (render::SIGNATURE_HEADER, render::signature(secret.expose().as_bytes(), timestamp, &body)),
            (render::EVENT_HEADER, format!("incident.{}", facts.event)),
        ];
        Ok(Request { url, body, headers, slack_api: false, quote_answer: true })
    }

    /// The request for message `id` (the idempotency key) of `facts` to `to`.
    fn request(&self, id: Uuid, to: &Destination, facts: &Facts) -> Result<Request, String> {
        let mut request = self.build_request(id, to, facts)?;
        request.quote_answer = matches!(to, Destination::Channel { .. });
        Ok(request)
    }

    fn build_request(&self, id: Uuid, to: &Destination, facts: &Facts) -> Result<Request, String> {
        let link = render::incident_url(&self.targets.public_url, facts);
        let missing =
            |env: &str| format!("{env} is not set in this process, so this configured channel cannot send");
        let headers = vec![(render::IDEMPOTENCY_HEADER, id.to_string())];
        let json = |v: &Value| serde_json::to_vec(v).map_err(|e| e.to_string());
        match to {
            Destination::Channel { kind, config_key, url, secret } => {
                let configured = config_key.is_some();
                match kind {
                    ChannelKind::Slack => {
                        let url = if configured {
                            self.targets.slack_webhook_url.as_ref().map(|s| s.expose().to_owned())
                        } else {
                            url.clone()
                        }
                        .ok_or_else(|| missing("TWISTERLAB_SLACK_WEBHOOK_URL"))?;
                        Ok(Request {
                            url,
                            body: json(&render::slack_message(facts, &link))?,
                            headers,
                            slack_api: false,
                            quote_answer: true,
                        })
                    }
                    ChannelKind::Webhook => {
                        let (url, secret) = if configured {
                            (
                                self.targets.webhook_url.as_ref().map(|s| s.expose().to_owned()),
                                self.targets.webhook_secret.clone(),
                            )
                        } else {
                            (url.clone(), secret.clone())
                        };
                        let url = url.ok_or_else(|| missing("TWISTERLAB_WEBHOOK_URL"))?;
                        let secret = secret.ok_or_else(|| missing("TWISTERLAB_WEBHOOK_SECRET"))?;
                        self.webhook(id, url, &secret, facts, &link)
                    }
                    ChannelKind::Pagerduty => {
                        let (url, key) = if configured {
                            (
                                Some(self.targets.pagerduty_events_url.clone()),
                                self.targets.pagerduty_routing_key.clone(),
                            )
                        } else {
                            (url.clone(), secret.clone())
                        };
                        let url = url
                            .filter(|u| !u.is_empty())
                            .ok_or_else(|| missing("TWISTERLAB_PAGERDUTY_EVENTS_URL"))?;
                        let key = key.ok_or_else(|| missing("TWISTERLAB_PAGERDUTY_ROUTING_KEY"))?;
                        let event = render::pagerduty_event(facts, key.expose(), &link, &self.source())
                            .ok_or_else(|| {
                                format!("PagerDuty has no action for the event {:?}", facts.event)
                            })?;
                        Ok(Request {
                            url,
                            body: json(&event)?,
                            headers,
                            slack_api: false,
                            quote_answer: true,
                        })
                    }
                }
            }
            Destination::Contact { kind, target, secret } => match kind {
                ContactKind::Webhook => {
                    let secret = secret.as_ref().ok_or("this webhook has no signing secret")?;
                    self.webhook(id, target.clone(), secret, facts, &link)
                }
                ContactKind::Pagerduty => {
                    let url = Some(self.targets.pagerduty_events_url.clone())
                        .filter(|u| !u.is_empty())
                        .ok_or_else(|| missing("TWISTERLAB_PAGERDUTY_EVENTS_URL"))?;
                    // A page triggers; acknowledging and resolving the incident follow it there.
                    let event = match facts.kind().and_then(EventKind::pagerduty_action) {
                        Some("acknowledge" | "resolve") => {
                            render::pagerduty_event(facts, target, &link, &self.source())
                                .ok_or("PagerDuty has no action for this event")?
                        }
                        _ => render::pagerduty_page(facts, target, &link, &self.source()),
                    };
                    Ok(Request { url, body: json(&event)?, headers, slack_api: false, quote_answer: true })
                }
                ContactKind::Slack => {
                    let token = self.targets.slack_bot_token.as_ref().ok_or(SLACK_DM_NOT_SET_UP)?;
                    let url =
                        format!("{}/chat.postMessage", self.targets.slack_api_url.trim_end_matches('/'));
                    let mut message = render::slack_message(facts, &link);
                    message["channel"] = Value::String(target.clone());
                    let mut headers = headers;
                    headers.push(("authorization", format!("Bearer {}", token.expose())));
                    Ok(Request { url, body: json(&message)?, headers, slack_api: true, quote_answer: true })
                }
                ContactKind::Email => Err(EMAIL_NOT_SET_UP.into()),
            },
        }
    }

    /// One attempt of message `id` of `facts` to `to`, bounded by the attempt timeout; never
    /// returns an error, only an outcome.
    pub(crate) async fn send(&self, id: Uuid, to: &Destination, facts: &Facts) -> Outcome {
        match self.request(id, to, facts) {
            Ok(request) => self.exchange(request).await,
            Err(error) => Outcome::Permanent { status: None, error },
        }
    }

    /// Sends a test message to `to` now (one attempt, bounded by the attempt timeout) and says
    /// what came of it, with a hint when it failed.
    pub(crate) async fn test(&self, to: &Destination, actor: &str) -> TestResult {
        let facts = Facts::test(actor);
        let id = Uuid::now_v7();
        let request = match self.request(id, to, &facts) {
            Ok(r) => r,
            Err(error) => return TestResult { delivered: false, text: format!("Not sent: {error}.") },
        };
        let host = reqwest::Url::parse(&request.url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| "the receiver".into());
        let started = std::time::Instant::now();
        let outcome = self.exchange(request).await;
        let ms = started.elapsed().as_millis();
        match outcome {
            Outcome::Delivered { status } => {
                TestResult { delivered: true, text: format!("Delivered: HTTP {status} in {ms} ms") }
            }
            Outcome::Retry { status: None, error, .. } | Outcome::Permanent { status: None, error } => {
                let lower = error.to_lowercase();
                let what = if lower.contains("connection refused") {
                    format!("connection refused to {host}")
                } else if lower.contains("dns") {
                    format!("cannot resolve the host of {host}")
                } else if lower.starts_with("no answer within") {
                    format!("{error} from {host}")
                } else {
                    format!("{error} ({host})")
                };
                TestResult { delivered: false, text: format!("Failed: {what} — check the URL") }
            }
            Outcome::Retry { status: Some(_), error, .. } => TestResult {
                delivered: false,
                text: format!(
                    "Failed: {error} from {host} in {ms} ms — the receiver had a problem; try again later"
                ),
            },
            Outcome::Permanent { status: Some(_), error } => TestResult {
                delivered: false,
                text: format!("Failed: {error} from {host} in {ms} ms — check the URL and the key"),
            },
        }
    }

    /// Sends `request` and reads the start of the answer, bounded by the attempt timeout.
    async fn exchange(&self, request: Request) -> Outcome {
        let Request { url, body, headers, slack_api, quote_answer } = request;
        let mut request =
            self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Only the start of the answer is kept (200 characters go into `last_error`): a
            // receiver that sends an endless body cannot hold the attempt or the memory.
            let mut response = response;
            let mut head = Vec::new();
            while head.len() < MAX_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            head.truncate(MAX_RESPONSE_BYTES);
            let text = String::from_utf8_lossy(&head).into_owned();
            Ok::<_, reqwest::Error>((status, retry_after, text))
        };
        match tokio::time::timeout(self.attempt_timeout, exchange).await {
            Err(_) => Outcome::Retry {
                status: None,
                error: format!("no answer within {} ms", self.attempt_timeout.as_millis()),
                retry_after: None,
            },
            // Without the URL: a Slack webhook URL is itself a secret.
            Ok(Err(e)) => Outcome::Retry {
                status: None,
                error: crate::telemetry::error_chain(&e.without_url()),
                retry_after: None,
            },
            Ok(Ok((status, retry_after, text))) => {
                let code = status.as_u16();
                let said: String = if quote_answer {
                    text.chars().filter(|c| !c.is_control()).take(200).collect()
                } else {
                    String::new()
                };
                let error = format!(
                    "HTTP {code}{}",
                    if said.is_empty() { String::new() } else { format!(": {said}") }
                );
                if status.is_success() && slack_api {
                    slack_outcome(code, &text)
                } else if status.is_success() {
                    Outcome::Delivered { status: code }
                } else if status.is_server_error() || code == 408 || code == 429 {
                    Outcome::Retry { status: Some(code), error, retry_after }
                } else {
                    Outcome::Permanent { status: Some(code), error }
                }
            }
        }
    }
}

/// What a 2xx answer of Slack's Web API means: `{"ok": true}` delivered, `{"ok": false,
/// "error": "ratelimited"}` a retry, any other error permanent (`channel_not_found`,
/// `invalid_auth`, …).
fn slack_outcome(code: u16, text: &str) -> Outcome {
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match (answer.get("ok").and_then(Value::as_bool), answer.get("error").and_then(Value::as_str)) {
        (Some(false), Some("ratelimited")) => {
            Outcome::Retry { status: Some(code), error: "Slack: ratelimited".into(), retry_after: None }
        }
        (Some(false), error) => {
            Outcome::Permanent { status: Some(code), error: format!("Slack: {}", error.unwrap_or("refused")) }
        }
        _ => Outcome::Delivered { status: code },
    }
}

/// Delivers outbox rows; cheap to clone.
#[derive(Clone)]
pub(crate) struct DeliveryWorker {
    pub(crate) pool: PgPool,
    pub(crate) policy: DeliveryPolicy,
    sender: Sender,
}

impl DeliveryWorker {
    /// A worker with `policy`, sending links to `config.public_url` and configured channels to
    /// the configured endpoints.
    pub(crate) fn new(pool: PgPool, config: &Config, policy: DeliveryPolicy) -> Self {
        let sender = Sender::new(config, policy.attempt_timeout);
        Self { pool, policy, sender }
    }

    /// Claims up to `limit` rows that are due and head their queue, for one attempt each
    /// (see `db::notifications::claim`).
    pub(crate) async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
        store::claim(&self.pool, limit, self.policy.lease()).await
    }

    /// One attempt, bounded by the policy's timeout; never returns an error, only an outcome.
    pub(crate) async fn attempt(&self, c: &Claimed) -> Outcome {
        match serde_json::from_value::<Facts>(c.payload.clone()) {
            Ok(facts) => self.sender.send(c.id, &c.destination, &facts).await,
            Err(e) => {
                Outcome::Permanent { status: None, error: format!("the stored event is unreadable: {e}") }
            }
        }
    }

    /// Records an attempt's outcome, unless the claim was lost to an expired lease.
    pub(crate) async fn record(&self, c: &Claimed, outcome: &Outcome) -> Result<(), sqlx::Error> {
        let record = match outcome {
            Outcome::Delivered { status } => AttemptRecord {
                state: State::Delivered,
                status: Some(*status),
                error: None,
                wait: Duration::ZERO,
            },
            Outcome::Retry { status, error, .. } if c.attempts >= self.policy.max_attempts => {
                let error = format!("{error} (gave up after {} attempts)", c.attempts);
                return self.record_dead(c, *status, &error).await;
            }
            Outcome::Retry { status, error, retry_after } => {
                let wait = self.policy.backoff(c.attempts, rand::random::<f64>());
                let wait = retry_after.map_or(wait, |r| r.min(self.policy.max_backoff).max(wait));
                metrics::counter!("twisterlab_notifications_retried_total").increment(1);
                tracing::warn!(notification.id = %c.id, channel = %c.channel_name, notification.event = %c.event, attempts = c.attempts, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), error = %error, "a delivery failed; retrying");
                AttemptRecord { state: State::Failed, status: *status, error: Some(error), wait }
            }
            Outcome::Permanent { status, error } => return self.record_dead(c, *status, error).await,
        };
        store::record_attempt(&self.pool, c.id, c.attempts, &record).await?;
        // A later row of the same incident may have waited for this one: the loop that ran
        // this attempt claims again as soon as it finishes, so no NOTIFY (which would wake
        // every process for every delivery).
        if record.state == State::Delivered {
            metrics::counter!("twisterlab_notifications_delivered_total").increment(1);
        }
        Ok(())
    }

    /// Gives up on a row: `dead` until an admin retries it.
    async fn record_dead(&self, c: &Claimed, status: Option<u16>, error: &str) -> Result<(), sqlx::Error> {
        let record = AttemptRecord { state: State::Dead, status, error: Some(error), wait: Duration::ZERO };
        store::record_attempt(&self.pool, c.id, c.attempts, &record).await?;
        metrics::counter!("twisterlab_notifications_dead_total").increment(1);
        tracing::warn!(notification.id = %c.id, channel = %c.channel_name, notification.event = %c.event, attempts = c.attempts, error = %error, "a notification is dead; an admin can retry it from /admin/notifications");
        Ok(())
    }

    /// One pass: claims up to `concurrency` rows, attempts them in parallel, records the
    /// outcomes; returns the number attempted.
    pub(crate) async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let claimed = self.claim(self.policy.concurrency.max(1)).await?;
        let n = claimed.len();
        let mut attempts = JoinSet::new();
        for c in claimed {
            let worker = self.clone();
            attempts.spawn(async move {
                let outcome = worker.attempt(&c).await;
                worker.record(&c, &outcome).await
            });
        }
        while let Some(result) = attempts.join_next().await {
            match result {
                Ok(recorded) => recorded?,
                Err(e) => tracing::error!(error = %e, "a delivery task panicked"),
            }
        }
        Ok(n)
    }

    /// Time until the next queue head is due to be tried, by the database's clock.
    pub(crate) async fn next_due_in(&self) -> Result<Option<Duration>, sqlx::Error> {
        store::next_due_in(&self.pool).await
    }
}

impl DeliveryWorker {
    /// Delivers until `stop` turns true, keeping up to `concurrency` attempts in flight; woken
    /// by `NOTIFY twisterlab_outbox`. In-flight attempts finish before it returns.
    async fn deliver(self: Arc<Self>, mut wake: Wakeup, mut stop: Stop) {
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            let free = self.policy.concurrency.max(1).saturating_sub(in_flight.len());
            if free > 0 {
                match self.claim(free).await {
                    Ok(claimed) => {
                        for c in claimed {
                            let worker = self.clone();
                            in_flight.spawn(async move {
                                let outcome = worker.attempt(&c).await;
                                if let Err(e) = worker.record(&c, &outcome).await {
                                    tracing::warn!(error = %e, notification.id = %c.id, "cannot record a delivery attempt; the lease will expire and it is tried again");
                                }
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot claim notifications; retrying"),
                }
            }
            let wait = if in_flight.len() >= self.policy.concurrency.max(1) {
                IDLE_CHECK
            } else {
                match self.next_due_in().await {
                    Ok(Some(d)) => d.min(IDLE_CHECK),
                    Ok(None) => IDLE_CHECK,
                    Err(_) => Duration::from_secs(1),
                }
            };
            // Rows due now but not claimable wait for an earlier row or a lease; don't spin.
            let wait = wait.max(Duration::from_millis(20));
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = wake.wait(wait) => {}
                changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            }
        }
        while in_flight.join_next().await.is_some() {}
        tracing::debug!(worker = "notification delivery", "stopped");
    }
}

impl Worker for DeliveryWorker {
    fn run_once(&self) -> BoxFuture<'_, anyhow::Result<NextPass>> {
        Box::pin(async move {
            DeliveryWorker::run_once(self).await?;
            Ok(None)
        })
    }

    /// Its own loop: attempts stay in flight across passes, so a slow channel never holds up
    /// the others.
    fn run(
        self: Arc<Self>,
        _name: &'static str,
        cadence: Cadence,
        listen: PgPool,
        stop: Stop,
    ) -> BoxFuture<'static, ()> {
        let channel = match cadence {
            Cadence::Notified { channel, .. } => channel,
            Cadence::Every(_) => NOTIFY_CHANNEL,
        };
        Box::pin(self.deliver(Wakeup::new(listen, channel), stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_web_api_refusals_in_a_200_are_failures() {
        assert_eq!(slack_outcome(200, r#"{"ok":true,"channel":"D1"}"#), Outcome::Delivered { status: 200 });
        assert_eq!(
            slack_outcome(200, r#"{"ok":false,"error":"channel_not_found"}"#),
            Outcome::Permanent { status: Some(200), error: "Slack: channel_not_found".into() }
        );
        assert!(matches!(slack_outcome(200, r#"{"ok":false,"error":"ratelimited"}"#), Outcome::Retry { .. }));
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_jitter_in_the_upper_half() {
        let p = DeliveryPolicy {
            base_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            ..Default::default()
        };
        assert_eq!(p.backoff(1, 0.999_999).as_secs(), 4, "just under 5 s");
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(2500));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(5));
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(10));
        assert_eq!(p.backoff(10, 0.0), Duration::from_secs(300), "capped at 600 s before jitter");
        assert_eq!(p.backoff(1_000, 0.0), Duration::from_secs(300));
        assert!(p.backoff(4, 0.5) > p.backoff(4, 0.1));
    }
}
