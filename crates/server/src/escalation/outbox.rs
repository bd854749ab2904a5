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
use twisterlab_domain::notification::ChannelKind;
use uuid::Uuid;

use super::events::Facts;
use super::render;
use crate::config::{Config, Secret};
use crate::db::channels;
use crate::db::incidents::Incident;
use crate::db::notifications::{self as store, AttemptRecord, Claimed, State};
use crate::workers::wake::Wakeup;
use crate::workers::{BoxFuture, Cadence, NextPass, Stop, Worker};

pub(crate) use crate::db::notifications::NOTIFY_CHANNEL;

/// Longest idle sleep between checks when no notification arrives (a safety net for a lost
/// `NOTIFY`).
/// Bytes of a receiver's answer read at most (the error text keeps 200 characters of it).
pub(crate) const MAX_RESPONSE_BYTES: usize = 4096;
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(5);

/// One outbox row written for an event: the channel's name and the row's id (whose delivery
/// state the incident page shows).
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub(crate) channel: String,
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
    let ids: Vec<Uuid> = subscribed.iter().map(|c| c.id).collect();
    let rows = store::enqueue(tx, &ids, incident.id, kind.as_str(), &payload).await?;
    Ok(subscribed
        .into_iter()
        .zip(rows)
        .map(|(c, notification_id)| Queued { channel: c.name, notification_id })
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
}

/// One HTTP request to send.
struct Request {
    url: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// Delivers outbox rows; cheap to clone.
#[derive(Clone)]
pub(crate) struct DeliveryWorker {
    pub(crate) pool: PgPool,
    pub(crate) policy: DeliveryPolicy,
    http: reqwest::Client,
    targets: Arc<Targets>,
}

impl DeliveryWorker {
    /// A worker with `policy`, sending links to `config.public_url` and configured channels to
    /// the configured endpoints.
    pub(crate) fn new(pool: PgPool, config: &Config, policy: DeliveryPolicy) -> Self {
        // ring everywhere; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("TwisterLab-Ops-Portal/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.attempt_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let targets = Targets {
            public_url: config.public_url.clone(),
            slack_webhook_url: config.slack_webhook_url.clone(),
            webhook_url: config.webhook_url.clone(),
            webhook_secret: config.webhook_secret.clone(),
            pagerduty_events_url: config.pagerduty_events_url.clone(),
            pagerduty_routing_key: config.pagerduty_routing_key.clone(),
        };
        Self { pool, policy, http, targets: Arc::new(targets) }
    }

    /// Claims up to `limit` rows that are due and head their queue, for one attempt each
    /// (see `db::notifications::claim`).
    pub(crate) async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
        store::claim(&self.pool, limit, self.policy.lease()).await
    }

    /// The request for a claimed row.
    fn request(&self, c: &Claimed) -> Result<Request, String> {
        let facts: Facts = serde_json::from_value(c.payload.clone())
            .map_err(|e| format!("the stored event is unreadable: {e}"))?;
        let link = render::incident_url(&self.targets.public_url, &facts);
        let missing =
            |env: &str| format!("{env} is not set in this process, so this configured channel cannot send");
        let configured = c.config_key.is_some();
        let mut headers = vec![(render::IDEMPOTENCY_HEADER, c.id.to_string())];
        let json = |v: &Value| serde_json::to_vec(v).map_err(|e| e.to_string());
        match c.channel_kind {
            ChannelKind::Slack => {
                let url = if configured {
                    self.targets.slack_webhook_url.as_ref().map(|s| s.expose().to_owned())
                } else {
                    c.url.clone()
                }
                .ok_or_else(|| missing("TWISTERLAB_SLACK_WEBHOOK_URL"))?;
                Ok(Request { url, body: json(&render::slack_message(&facts, &link))?, headers })
            }
            ChannelKind::Webhook => {
                let (url, secret) = if configured {
                    (
                        self.targets.webhook_url.as_ref().map(|s| s.expose().to_owned()),
                        self.targets.webhook_secret.clone(),
                    )
                } else {
                    (c.url.clone(), c.secret.clone())
                };
                let url = url.ok_or_else(|| missing("TWISTERLAB_WEBHOOK_URL"))?;
                let secret = secret.ok_or_else(|| missing("TWISTERLAB_WEBHOOK_SECRET"))?;
                let body = json(&render::webhook_body(c.id, &facts, &link))?;
                let timestamp = jiff::Timestamp::now().as_second();
                headers.push((render::TIMESTAMP_HEADER, timestamp.to_string()));
                headers.push((
                    render::SIGNATURE_HEADER,
                    render::signature(secret.expose().as_bytes(), timestamp, &body),
                ));
                headers.push((render::EVENT_HEADER, format!("incident.{}", facts.event)));
                Ok(Request { url, body, headers })
            }
            ChannelKind::Pagerduty => {
                let (url, key) = if configured {
                    (
                        Some(self.targets.pagerduty_events_url.clone()),
                        self.targets.pagerduty_routing_key.clone(),
                    )
                } else {
                    (c.url.clone(), c.secret.clone())
                };
                let url = url
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| missing("TWISTERLAB_PAGERDUTY_EVENTS_URL"))?;
                let key = key.ok_or_else(|| missing("TWISTERLAB_PAGERDUTY_ROUTING_KEY"))?;
                let source = reqwest::Url::parse(&self.targets.public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "twisterlab-ops-portal".into());
                let event = render::pagerduty_event(&facts, key.expose(), &link, &source)
                    .ok_or_else(|| format!("PagerDuty has no action for the event {:?}", facts.event))?;
                Ok(Request { url, body: json(&event)?, headers })
            }
        }
    }

    /// One attempt, bounded by the policy's timeout; never returns an error, only an outcome.
    pub(crate) async fn attempt(&self, c: &Claimed) -> Outcome {
        let Request { url, body, headers } = match self.request(c) {
            Ok(r) => r,
            Err(error) => return Outcome::Permanent { status: None, error },
        };
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
        match tokio::time::timeout(self.policy.attempt_timeout, exchange).await {
            Err(_) => Outcome::Retry {
                status: None,
                error: format!("no answer within {} ms", self.policy.attempt_timeout.as_millis()),
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
                let said: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
                let error = format!(
                    "HTTP {code}{}",
                    if said.is_empty() { String::new() } else { format!(": {said}") }
                );
                if status.is_success() {
                    Outcome::Delivered { status: code }
                } else if status.is_server_error() || code == 408 || code == 429 {
                    Outcome::Retry { status: Some(code), error, retry_after }
                } else {
                    Outcome::Permanent { status: Some(code), error }
                }
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
