//! Escalation against real PostgreSQL and real HTTP receivers: the paging chain on the
//! timeline, deadlines firing once (also with racing workers), cancellation and recomputation
//! in the incident's transaction, deliveries through failures and a hang, channel payloads, and
//! the admin pages.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sha2::Sha256;
use sqlx::PgPool;
use time::OffsetDateTime;
use twisterlab_domain::incident::{IncidentStatus, TimelineKind};
use twisterlab_domain::notification::{ChannelKind, EventKind, Routing};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::channels;
use super::deadlines::{self, DeadlineWorker, Outcome};
use super::outbox::{DeliveryPolicy, DeliveryWorker};
use crate::clock::{Instant, from_jiff};
use crate::config::{Config, Sources};
use crate::db::audit::Actor;
use crate::db::channels::{self as channel_store, ChannelDraft};
use crate::db::incidents::{self as store, Incident};
use crate::incidents::service;
use crate::testing::builders::{incident, team};
use crate::testing::{self, send};

mod contacts;

// ---------------------------------------------------------------------------------------------
// Arranging

/// A P-`severity` incident declared now (the title says what it is about).
async fn declared(pool: &PgPool, severity: Severity) -> Incident {
    incident("API database disconnected").severity(severity).declare(pool).await
}

async fn channel(pool: &PgPool, kind: ChannelKind, url: &str, secret: Option<&str>) -> Uuid {
    let routing = Routing::all(kind);
    let draft = ChannelDraft {
        kind,
        name: &format!("{} {}", kind.as_str(), Uuid::new_v4().simple()),
        enabled: true,
        url: Some(url),
        secret,
        routing: &routing,
    };
    channel_store::insert(pool, &draft).await.expect("insert channel").expect("unique name")
}

/// Makes every pending deadline due a second ago.
async fn make_all_due(pool: &PgPool) {
    sqlx::query(
        "update escalation_deadlines set due_at = now() - interval '1 second' where state = 'pending'",
    )
    .execute(pool)
    .await
    .expect("move deadlines");
}

async fn events_of(pool: &PgPool, incident: &Incident, kind: TimelineKind) -> Vec<Value> {
    store::timeline(pool, incident.id, &Default::default())
        .await
        .expect("timeline")
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.data)
        .collect()
}

/// Each deadline of the incident by kind: its state and when it is due.
async fn deadline_states(pool: &PgPool, incident: &Incident) -> HashMap<String, (String, Timestamp)> {
    let rows: Vec<(String, String, OffsetDateTime)> = sqlx::query_as(
        "select kind, state, due_at from escalation_deadlines where incident_id = $1 order by due_at, kind",
    )
    .bind(incident.id)
    .fetch_all(pool)
    .await
    .expect("deadlines");
    rows.into_iter().map(|(kind, state, due)| (kind, (state, crate::clock::to_jiff(due)))).collect()
}

async fn outbox_events(pool: &PgPool, incident: &Incident) -> Vec<String> {
    sqlx::query_scalar("select event from notifications where incident_id = $1 order by seq")
        .bind(incident.id)
        .fetch_all(pool)
        .await
        .expect("outbox")
}

/// Waits (up to 10 s) until a connection to this test's database has run `LISTEN channel`.
async fn wait_until_listening(pool: &PgPool, channel: &str) {
    for _ in 0..200 {
        let listening: bool = sqlx::query_scalar(
            "select exists (select 1 from pg_stat_activity
                             where datname = current_database() and query ilike 'listen%' and query like '%' || $1 || '%')",
        )
        .bind(channel)
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity");
        if listening {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing LISTENs on {channel} after 10 s");
}

fn worker(pool: &PgPool, label: &str) -> DeadlineWorker {
    DeadlineWorker { pool: pool.clone(), label: label.into() }
}

/// Within a millisecond (the database keeps microseconds).
fn close(a: impl Instant, b: impl Instant) -> bool {
    crate::clock::between(a, b).abs() < SignedDuration::from_millis(1)
}

// ---------------------------------------------------------------------------------------------
// The paging chain and the deadline engine

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn declaring_pages_the_primary_and_schedules_secondary_manager_and_sla_checks(pool: PgPool) {
    let t = team(&pool).await;
    let before = Timestamp::now();
    let incident = declared(&pool, Severity::P1).await;

    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["to"], "primary");
    assert_eq!(notified[0]["user_id"], t.alice.id.to_string());

    let d = deadline_states(&pool, &incident).await;
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(d.values().all(|(state, _)| state == "pending"));
    let secondary_at = d["page_secondary"].1;
    assert!(
        secondary_at >= before + SignedDuration::from_mins(15)
            && secondary_at <= Timestamp::now() + SignedDuration::from_mins(15)
    );
    assert!(close(d["escalate_manager"].1, from_jiff(incident.escalate_by)));
    assert!(close(d["response_sla"].1, from_jiff(incident.respond_by)));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn due_deadlines_fire_once_each_with_their_timeline_events_and_notifications(pool: PgPool) {
    let t = team(&pool).await;
    channel(&pool, ChannelKind::Webhook, "http://127.0.0.1:9/never", Some("0123456789abcdef")).await;
    let incident = declared(&pool, Severity::P1).await;
    assert_eq!(outbox_events(&pool, &incident).await, ["declared"]);
    make_all_due(&pool).await;

    let w = worker(&pool, "test-1");
    assert_eq!(w.run_once().await.expect("pass"), 3);
    assert_eq!(w.run_once().await.expect("second pass"), 0, "nothing fires twice");

    let escalated = events_of(&pool, &incident, TimelineKind::Escalated).await;
    let to: Vec<(&str, &str)> = escalated
        .iter()
        .map(|e| (e["to"].as_str().unwrap_or(""), e["user_id"].as_str().unwrap_or("")))
        .collect();
    let (bob, mia) = (t.bob.id.to_string(), t.mia.id.to_string());
    assert!(to.contains(&("secondary", bob.as_str())), "{escalated:?}");
    assert!(to.contains(&("manager", mia.as_str())), "{escalated:?}");
    let breached = events_of(&pool, &incident, TimelineKind::SlaBreached).await;
    assert_eq!(breached.len(), 1);
    assert_eq!(breached[0]["target"], "response");

    let d = deadline_states(&pool, &incident).await;
    assert!(d.values().all(|(state, _)| state == "done"), "{d:?}");
    let fired_by: Vec<String> = sqlx::query_scalar(
        "select fired_by from escalation_deadlines where fired_at is not null and incident_id = $1",
    )
    .bind(incident.id)
    .fetch_all(&pool)
    .await
    .expect("fired_by");
    assert_eq!(fired_by, ["test-1", "test-1", "test-1"]);
    let mut sent = outbox_events(&pool, &incident).await;
    sent.sort();
    assert_eq!(sent, ["declared", "escalated", "escalated", "sla_breached"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_backdated_incident_fires_its_past_deadlines_at_the_first_pass(pool: PgPool) {
    team(&pool).await;
    // P0 started 10 minutes ago: manager escalation (immediately) and response (5 min) are past.
    let incident = incident("API database disconnected")
        .severity(Severity::P0)
        .started_ago(time::Duration::minutes(10))
        .declare(&pool)
        .await;
    assert_eq!(worker(&pool, "w").run_once().await.expect("pass"), 2);
    let d = deadline_states(&pool, &incident).await;
    assert_eq!(d["escalate_manager"].0, "done");
    assert_eq!(d["response_sla"].0, "done");
    assert_eq!(d["page_secondary"].0, "pending", "15 minutes after the page, not after the start");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_deadline_that_fails_to_fire_is_retried_later_not_cancelled(pool: PgPool) {
    team(&pool).await;
    let incident = incident("API database disconnected")
        .severity(Severity::P0)
        .started_ago(time::Duration::minutes(10))
        .declare(&pool)
        .await;
    // The timeline refuses new events for a while: acting on a deadline fails and rolls back.
    sqlx::raw_sql(
        "create function refuse_events() returns trigger language plpgsql as
           $$ begin raise exception 'the timeline is closed for this test'; end $$;
         create trigger refuse_events before insert on timeline_events for each row execute function refuse_events();",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let w = worker(&pool, "w");
    let before = Timestamp::now();
    let (deadline, outcome) = w.fire_one().await.expect("pass").expect("a due deadline");
    match &outcome {
        Outcome::Retrying { after, error } => {
            assert_eq!(*after, deadlines::FAILED_RETRY);
            assert!(error.contains("the timeline is closed for this test"), "{error}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    let d = deadline_states(&pool, &incident).await;
    let (state, due) = &d[deadline.kind.as_str()];
    assert_eq!(state, "pending", "a failed deadline stays pending: it is not cancelled");
    assert!(*due >= before + SignedDuration::from_secs(29), "due again about 30 s later, not now: {due}");
    assert!(d.values().all(|(state, _)| state != "cancelled"), "{d:?}");
    assert!(events_of(&pool, &incident, TimelineKind::Escalated).await.is_empty());

    // Once acting works again, it fires.
    sqlx::raw_sql("drop trigger refuse_events on timeline_events").execute(&pool).await.expect("drop");
    make_all_due(&pool).await;
    assert_eq!(w.run_once().await.expect("pass"), 3, "the retried deadline with the other two");
    let d = deadline_states(&pool, &incident).await;
    assert!(d.values().all(|(state, _)| state == "done"), "{d:?}");
    assert_eq!(events_of(&pool, &incident, TimelineKind::Escalated).await.len(), 2);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn racing_workers_fire_each_deadline_exactly_once(pool: PgPool) {
    team(&pool).await;
    let mut incidents = vec![];
    for _ in 0..15 {
        incidents.push(declared(&pool, Severity::P1).await);
    }
    make_all_due(&pool).await;
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..4 {
        let w = worker(&pool, &format!("racer-{i}"));
        racers.spawn(async move { w.run_once().await.expect("pass") });
    }
    let mut taken = 0;
    while let Some(n) = racers.join_next().await {
        taken += n.expect("racer");
    }
    assert_eq!(taken, 45, "15 incidents × 3 deadlines, each taken by one worker");
    let (escalated, breached): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where kind = 'escalated'), count(*) filter (where kind = 'sla_breached') from timeline_events",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!((escalated, breached), (30, 15));
    let per_deadline: Vec<i64> = sqlx::query_scalar(
        "select count(*) from timeline_events where kind in ('escalated', 'sla_breached') group by incident_id, kind, data->>'to'",
    )
    .fetch_all(&pool)
    .await
    .expect("per deadline");
    assert!(per_deadline.iter().all(|n| *n == 1), "{per_deadline:?}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn acknowledging_cancels_the_secondary_page_and_the_sla_check_in_the_same_transaction(pool: PgPool) {
    let t = team(&pool).await;
    let incident = declared(&pool, Severity::P1).await;
    let actor = Actor {
        user_id: Some(t.alice.id),
        label: t.alice.email.clone(),
        client_addr: None,
        request_id: None,
    };

    // Rolled back: nothing is cancelled.
    let mut tx = pool.begin().await.expect("begin");
    service::acknowledge(&mut tx, &actor, incident.number, None).await.expect("ack");
    tx.rollback().await.expect("rollback");
    assert!(deadline_states(&pool, &incident).await.values().all(|(s, _)| s == "pending"));

    let mut tx = pool.begin().await.expect("begin");
    service::acknowledge(&mut tx, &actor, incident.number, None).await.expect("ack");
    tx.commit().await.expect("commit");
    let d = deadline_states(&pool, &incident).await;
    assert_eq!(d["page_secondary"].0, "cancelled");
    assert_eq!(d["response_sla"].0, "cancelled");
    assert_eq!(d["escalate_manager"].0, "pending", "the manager still hears of an incident left unresolved");

    make_all_due(&pool).await;
    assert_eq!(worker(&pool, "w").run_once().await.expect("pass"), 1);
    let escalated = events_of(&pool, &incident, TimelineKind::Escalated).await;
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0]["to"], "manager");
    assert!(events_of(&pool, &incident, TimelineKind::SlaBreached).await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn moving_past_acknowledged_is_a_first_response_that_stops_the_chain_too(pool: PgPool) {
    team(&pool).await;
    let incident = declared(&pool, Severity::P2).await;
    let mut tx = pool.begin().await.expect("begin");
    service::change_status(&mut tx, &Actor::system(), incident.number, IncidentStatus::Investigating, None)
        .await
        .expect("investigating");
    tx.commit().await.expect("commit");
    let d = deadline_states(&pool, &incident).await;
    assert_eq!((d["page_secondary"].0.as_str(), d["response_sla"].0.as_str()), ("cancelled", "cancelled"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn resolving_cancels_everything_pending_and_reopening_brings_the_manager_escalation_back(pool: PgPool) {
    team(&pool).await;
    channel(&pool, ChannelKind::Slack, "http://127.0.0.1:9/slack", None).await;
    let incident = declared(&pool, Severity::P2).await;
    let mut tx = pool.begin().await.expect("begin");
    service::resolve(&mut tx, &Actor::system(), incident.number, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    let d = deadline_states(&pool, &incident).await;
    assert!(d.values().all(|(s, _)| s == "cancelled"), "{d:?}");
    make_all_due(&pool).await;
    assert_eq!(worker(&pool, "w").run_once().await.expect("pass"), 0);
    assert_eq!(outbox_events(&pool, &incident).await, ["declared", "resolved"]);

    let mut tx = pool.begin().await.expect("begin");
    service::reopen(&mut tx, &Actor::system(), incident.number, None).await.expect("reopen");
    tx.commit().await.expect("commit");
    let pending: Vec<(String, OffsetDateTime)> = sqlx::query_as(
        "select kind, due_at from escalation_deadlines where incident_id = $1 and state = 'pending'",
    )
    .bind(incident.id)
    .fetch_all(&pool)
    .await
    .expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, "escalate_manager");
    assert!(close(pending[0].1, from_jiff(incident.escalate_by)));
    assert_eq!(outbox_events(&pool, &incident).await, ["declared", "resolved", "reopened"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn changing_severity_moves_pending_deadlines_to_the_new_targets(pool: PgPool) {
    team(&pool).await;
    let incident = incident("API database disconnected")
        .severity(Severity::P3)
        .started_ago(time::Duration::minutes(20))
        .declare(&pool)
        .await;
    let d = deadline_states(&pool, &incident).await;
    let secondary_before = d["page_secondary"].1;

    let mut tx = pool.begin().await.expect("begin");
    let changed = service::change_severity(
        &mut tx,
        &Actor::system(),
        &jiff::tz::TimeZone::UTC,
        incident.number,
        Severity::P1,
        None,
    )
    .await
    .expect("P3 → P1");
    tx.commit().await.expect("commit");
    let d = deadline_states(&pool, &incident).await;
    let started = incident.started_at.timestamp();
    assert!(close(d["response_sla"].1, started + SignedDuration::from_mins(15)));
    assert!(close(d["response_sla"].1, changed.respond_by));
    assert!(close(d["escalate_manager"].1, started + SignedDuration::from_mins(30)));
    assert!(close(d["page_secondary"].1, secondary_before), "the secondary page counts from the page");

    // P1 → P0 after 20 minutes: both targets are now past and fire at once.
    let mut tx = pool.begin().await.expect("begin");
    service::change_severity(
        &mut tx,
        &Actor::system(),
        &jiff::tz::TimeZone::UTC,
        incident.number,
        Severity::P0,
        None,
    )
    .await
    .expect("P1 → P0");
    tx.commit().await.expect("commit");
    assert_eq!(worker(&pool, "w").run_once().await.expect("pass"), 2);
    assert_eq!(events_of(&pool, &incident, TimelineKind::SlaBreached).await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_running_worker_is_woken_by_notify_for_a_nearer_deadline(pool: PgPool) {
    team(&pool).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cadence = crate::workers::Cadence::Notified {
        channel: deadlines::NOTIFY_CHANNEL,
        interval: deadlines::MAX_SLEEP,
        coalesce: Duration::ZERO,
    };
    let row = crate::workers::row("escalation_deadlines", cadence, worker(&pool, "runner"));
    let running = crate::workers::spawn_one(row, &pool, stop_rx);
    // It listens after its first pass, then settles into its idle sleep (up to MAX_SLEEP, 5 s).
    wait_until_listening(&pool, deadlines::NOTIFY_CHANNEL).await;
    let incident = declared(&pool, Severity::P0).await;
    // P0 escalates to the manager immediately; without the wake-up it would wait up to 5 s.
    let mut fired = false;
    for _ in 0..80 {
        let d = deadline_states(&pool, &incident).await;
        if d["escalate_manager"].0 == "done" {
            fired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    running.await.expect("the worker stops");
    assert!(fired, "the manager escalation did not fire within 4 s of being written");
}

// ---------------------------------------------------------------------------------------------
// A local receiver: scripted failures, a hang, acceptance; de-duplicates by idempotency key.

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Fail(u16),
    Hang,
    Accept,
}

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// Answered 2xx (a hang or a failure is not).
    accepted: bool,
}

#[derive(Default)]
struct Script {
    plan: VecDeque<Behaviour>,
    /// After the plan: fail every request with this status instead of accepting.
    then_fail: Option<u16>,
    requests: Vec<Received>,
    accepted_keys: Vec<String>,
    duplicates: usize,
}

struct Receiver {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start(plan: &[Behaviour], then_fail: Option<u16>) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            plan: plan.iter().copied().collect(),
            then_fail,
            ..Default::default()
        }));
        let shared = script.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let script = shared.clone();
            async move {
                let behaviour = {
                    let mut s = script.lock().expect("lock");
                    let b = s.plan.pop_front().unwrap_or(match s.then_fail {
                        Some(code) => Behaviour::Fail(code),
                        None => Behaviour::Accept,
                    });
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let accepted = matches!(b, Behaviour::Accept);
                    if accepted && let Some(key) = key {
                        if s.accepted_keys.contains(&key) {
                            s.duplicates += 1;
                        } else {
                            s.accepted_keys.push(key);
                        }
                    }
                    s.requests.push(Received { headers, body, accepted });
                    b
                };
                match behaviour {
                    Behaviour::Accept => StatusCode::ACCEPTED.into_response(),
                    Behaviour::Fail(code) => {
                        (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "try later")
                            .into_response()
                    }
                    Behaviour::Hang => {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        StatusCode::OK.into_response()
                    }
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, script }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Received> {
        self.script.lock().expect("lock").requests.clone()
    }

    fn accepted_keys(&self) -> Vec<String> {
        self.script.lock().expect("lock").accepted_keys.clone()
    }

    fn duplicates(&self) -> usize {
        self.script.lock().expect("lock").duplicates
    }

    fn set_then_fail(&self, code: Option<u16>) {
        self.script.lock().expect("lock").then_fail = code;
    }
}

fn quick_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        attempt_timeout: Duration::from_millis(300),
        max_attempts: 10,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        concurrency: 4,
    }
}

fn config_with(env: &[(&str, &str)]) -> Config {
    Config::from_sources(&Sources::from_pairs(env.iter().copied(), toml::Table::new()))
        .expect("valid configuration")
}

/// Runs the delivery worker until nothing is pending or failed (or 30 s pass).
async fn deliver_all(w: &DeliveryWorker) {
    for _ in 0..600 {
        w.run_once().await.expect("delivery pass");
        let open: i64 = sqlx::query_scalar(
            "select count(*) from notifications where state in ('pending', 'failed', 'delivering')",
        )
        .fetch_one(&w.pool)
        .await
        .expect("count");
        if open == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("notifications were still undelivered after 30 s");
}

/// A short life of an incident: declare, acknowledge, status change, public update, resolve.
async fn incident_story(pool: &PgPool) -> Incident {
    let incident = declared(pool, Severity::P1).await;
    let actor = Actor::system();
    let mut tx = pool.begin().await.expect("begin");
    service::acknowledge(&mut tx, &actor, incident.number, None).await.expect("ack");
    service::change_status(&mut tx, &actor, incident.number, IncidentStatus::Identified, None)
        .await
        .expect("identified");
    service::post_public_update(&mut tx, &actor, incident.number, "We found the cause.", None, None)
        .await
        .expect("update");
    service::resolve(&mut tx, &actor, incident.number, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    incident
}

/// The documented recipe (docs/WEBHOOKS.md): HMAC-SHA256 over `<timestamp>.<body>`.
fn verify_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(ts), Some(sig)) = (
        headers.get("x-twisterlab-timestamp").and_then(|v| v.to_str().ok()),
        headers.get("x-twisterlab-signature").and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some(hex_sig) = sig.strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex_sig) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn deliveries_survive_failures_and_a_hang_and_arrive_once_each_in_order(pool: PgPool) {
    team(&pool).await;
    let secret = "whsec-0123456789abcdef";
    let receiver = Receiver::start(
        &[Behaviour::Fail(500), Behaviour::Fail(503), Behaviour::Fail(500), Behaviour::Hang],
        None,
    )
    .await;
    channel(&pool, ChannelKind::Webhook, &receiver.url("/hook"), Some(secret)).await;
    let a = incident_story(&pool).await;
    let b = incident_story(&pool).await;
    let rows: Vec<(Uuid, i64, Uuid)> =
        sqlx::query_as("select id, seq, incident_id from notifications order by seq")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(rows.len(), 10, "5 events × 2 incidents");

    let w = DeliveryWorker::new(pool.clone(), &testing::config(), quick_policy());
    deliver_all(&w).await;

    let states: Vec<String> = sqlx::query_scalar("select distinct state from notifications")
        .fetch_all(&pool)
        .await
        .expect("states");
    assert_eq!(states, ["delivered"]);
    let mut accepted = receiver.accepted_keys();
    assert_eq!(receiver.duplicates(), 0);
    assert_eq!(accepted.len(), 10, "every notification accepted once");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 10 + 4, "the three failures and the hang were tried again");
    assert!(requests.iter().all(|r| r.headers.contains_key("idempotency-key")));
    for r in requests.iter().filter(|r| r.accepted) {
        assert!(verify_signature(secret, &r.headers, &r.body), "a delivery did not verify");
        assert_eq!(r.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    }
    // In order per incident: accepted keys of each incident follow the outbox order.
    for incident in [&a, &b] {
        let expected: Vec<String> =
            rows.iter().filter(|(_, _, i)| *i == incident.id).map(|(id, _, _)| id.to_string()).collect();
        let got: Vec<String> = accepted.iter().filter(|k| expected.contains(k)).cloned().collect();
        assert_eq!(got, expected, "INC-{} arrived out of order", incident.number.get());
    }
    accepted.sort();
    let mut all: Vec<String> = rows.iter().map(|(id, _, _)| id.to_string()).collect();
    all.sort();
    assert_eq!(accepted, all);
    let hung: Option<String> =
        sqlx::query_scalar("select last_error from notifications where last_error like 'no answer within%'")
            .fetch_optional(&pool)
            .await
            .expect("q");
    assert!(hung.is_none(), "a delivered row keeps no error");
    let attempts: i64 =
        sqlx::query_scalar("select sum(attempts) from notifications").fetch_one(&pool).await.expect("sum");
    assert_eq!(attempts, 14, "10 deliveries + 3 failures + 1 timeout");
    let body: Value =
        serde_json::from_slice(&requests.iter().find(|r| r.accepted).expect("one").body).expect("json");
    assert_eq!(body["type"], "incident.declared");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_notification_that_keeps_failing_goes_dead_and_an_admin_retry_delivers_it(pool: PgPool) {
    team(&pool).await;
    let receiver = Receiver::start(&[], Some(500)).await;
    channel(&pool, ChannelKind::Slack, &receiver.url("/services/T0/B0/s3cr3t"), None).await;
    let incident = declared(&pool, Severity::P2).await;
    let w = DeliveryWorker::new(
        pool.clone(),
        &testing::config(),
        DeliveryPolicy { max_attempts: 3, ..quick_policy() },
    );
    deliver_all(&w).await;
    let (state, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("select state, attempts, last_error from notifications")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((state.as_str(), attempts), ("dead", 3));
    let error = error.expect("an error");
    assert!(error.contains("HTTP 500") && error.contains("gave up after 3 attempts"), "{error}");

    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let (response, html) = send(&app, testing::get("/admin/notifications", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains("dead") && html.contains("HTTP 500") && html.contains("Retry now"), "{html}");
    assert!(html.contains(&format!("INC-{}", incident.number.get())));
    assert!(!html.contains("s3cr3t"), "the Slack URL is a secret");

    let id: Uuid = sqlx::query_scalar("select id from notifications").fetch_one(&pool).await.expect("id");
    receiver.set_then_fail(None);
    let (response, _) =
        send(&app, testing::post_form(&format!("/admin/notifications/{id}/retry"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let audit = testing::audit_actions(&pool, "notification.retry").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, format!("notification:{id}"));
    deliver_all(&w).await;
    let state: String =
        sqlx::query_scalar("select state from notifications").fetch_one(&pool).await.expect("state");
    assert_eq!(state, "delivered");
    assert_eq!(receiver.accepted_keys(), [id.to_string()]);

    // Delivered notifications cannot be retried.
    let (response, _) =
        send(&app, testing::post_form(&format!("/admin/notifications/{id}/retry"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_failed_delivery_reads_as_retrying_with_its_next_attempt(pool: PgPool) {
    team(&pool).await;
    let receiver = Receiver::start(&[Behaviour::Fail(503)], None).await;
    channel(&pool, ChannelKind::Slack, &receiver.url("/services/T0/B0/x"), None).await;
    declared(&pool, Severity::P2).await;
    let w = DeliveryWorker::new(
        pool.clone(),
        &testing::config(),
        DeliveryPolicy {
            base_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(120),
            ..quick_policy()
        },
    );
    assert_eq!(w.run_once().await.expect("pass"), 1);
    let (state, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from notifications").fetch_one(&pool).await.expect("row");
    assert_eq!((state.as_str(), attempts), ("failed", 1), "kept for another attempt");

    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let (response, html) = send(&app, testing::get("/admin/notifications", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains(">retrying</span>") && html.contains("next attempt"), "{html}");
    assert!(html.contains("retrying (1)") && html.contains("HTTP 503"), "{html}");
    assert!(!html.contains("cancelled"), "{html}");
    let (_, html) = send(&app, testing::get("/admin/notifications?state=retrying", Some(&admin))).await;
    assert!(html.contains("HTTP 503") && html.contains("Retry now"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_client_error_is_not_retried(pool: PgPool) {
    team(&pool).await;
    let receiver = Receiver::start(&[Behaviour::Fail(404)], None).await;
    channel(&pool, ChannelKind::Slack, &receiver.url("/gone"), None).await;
    declared(&pool, Severity::P2).await;
    let w = DeliveryWorker::new(pool.clone(), &testing::config(), quick_policy());
    deliver_all(&w).await;
    let (state, attempts): (String, i32) =
        sqlx::query_as("select state, attempts from notifications").fetch_one(&pool).await.expect("row");
    assert_eq!((state.as_str(), attempts), ("dead", 1));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn slack_and_pagerduty_get_their_documented_payloads(pool: PgPool) {
    team(&pool).await;
    let slack = Receiver::start(&[], None).await;
    let pagerduty = Receiver::start(&[], None).await;
    channel(&pool, ChannelKind::Slack, &slack.url("/services/T0/B0/x"), None).await;
    channel(&pool, ChannelKind::Pagerduty, &pagerduty.url("/v2/enqueue"), Some("R0UTINGKEY")).await;
    let incident = incident_story(&pool).await;
    let config = config_with(&[("TWISTERLAB_PUBLIC_URL", "https://ops.twisterlab.local")]);
    deliver_all(&DeliveryWorker::new(pool.clone(), &config, quick_policy())).await;

    let link = format!("https://ops.twisterlab.local/incidents/{}", incident.number.get());
    let slack_bodies: Vec<Value> =
        slack.requests().iter().map(|r| serde_json::from_slice(&r.body).expect("json")).collect();
    assert_eq!(slack_bodies.len(), 5, "declared, acknowledged, status changed, public update, resolved");
    for m in &slack_bodies {
        let text = m["text"].as_str().expect("text");
        assert!(
            text.contains(&format!("INC-{}", incident.number.get()))
                && text.contains("[P1]")
                && text.contains(&link),
            "{text}"
        );
        let blocks = m["blocks"].as_array().expect("blocks");
        assert!(!blocks.is_empty() && blocks.iter().all(|b| b["type"].is_string()));
        assert_eq!(blocks[0]["type"], "header");
    }
    assert!(slack_bodies[0]["text"].as_str().expect("text").contains("Paged the primary on call Alice"));
    let update = slack_bodies
        .iter()
        .find(|m| m["text"].as_str().unwrap_or("").contains("Public update"))
        .expect("update");
    assert!(update["text"].as_str().expect("text").contains("We found the cause."));

    let events: Vec<Value> =
        pagerduty.requests().iter().map(|r| serde_json::from_slice(&r.body).expect("json")).collect();
    let actions: Vec<&str> = events.iter().map(|e| e["event_action"].as_str().expect("action")).collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    for e in &events {
        assert_eq!(e["routing_key"], "R0UTINGKEY");
        assert_eq!(e["dedup_key"], format!("INC-{}", incident.number.get()));
    }
    let payload = &events[0]["payload"];
    assert!(payload["summary"].as_str().is_some_and(|s| !s.is_empty() && s.len() <= 1024));
    assert_eq!(payload["source"], "ops.twisterlab.local");
    assert!(
        ["critical", "error", "warning", "info"].contains(&payload["severity"].as_str().expect("severity"))
    );
    assert_eq!(payload["severity"], "error");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn channels_from_the_configuration_send_to_the_configured_address(pool: PgPool) {
    team(&pool).await;
    let receiver = Receiver::start(&[], None).await;
    let url = receiver.url("/services/T0/B0/envsecret");
    let config = config_with(&[("TWISTERLAB_SLACK_WEBHOOK_URL", url.as_str())]);
    assert_eq!(channels::sync_configured(&pool, &config).await.expect("sync"), 1);
    assert_eq!(channels::sync_configured(&pool, &config).await.expect("again"), 0, "idempotent");
    let (key, stored_url): (Option<String>, Option<String>) =
        sqlx::query_as("select config_key, url from notification_channels")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((key.as_deref(), stored_url), (Some("slack"), None), "the URL stays in the configuration");
    declared(&pool, Severity::P0).await;
    deliver_all(&DeliveryWorker::new(pool.clone(), &config, quick_policy())).await;
    assert_eq!(receiver.accepted_keys().len(), 1);

    // A process without the variable cannot send for it: dead at once, saying why.
    declared(&pool, Severity::P0).await;
    deliver_all(&DeliveryWorker::new(pool.clone(), &testing::config(), quick_policy())).await;
    let error: Option<String> =
        sqlx::query_scalar("select last_error from notifications where state = 'dead'")
            .fetch_one(&pool)
            .await
            .expect("dead");
    assert!(error.unwrap_or_default().contains("TWISTERLAB_SLACK_WEBHOOK_URL is not set"));
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = crate::app(crate::state::AppState::new(pool.clone(), config, "test".into()));
    let (_, html) = send(&app, testing::get("/admin/channels", Some(&admin))).await;
    assert!(html.contains("TWISTERLAB_SLACK_WEBHOOK_URL") && !html.contains("envsecret"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn only_channels_routed_for_the_event_and_severity_get_a_row(pool: PgPool) {
    team(&pool).await;
    let mut routing = Routing::default();
    routing.set(Severity::P0, EventKind::Declared);
    let draft = ChannelDraft {
        kind: ChannelKind::Slack,
        name: "P0 declarations only",
        enabled: true,
        url: Some("http://127.0.0.1:9/x"),
        secret: None,
        routing: &routing,
    };
    channel_store::insert(&pool, &draft).await.expect("insert").expect("new");
    let p2 = declared(&pool, Severity::P2).await;
    let p0 = declared(&pool, Severity::P0).await;
    let mut tx = pool.begin().await.expect("begin");
    service::resolve(&mut tx, &Actor::system(), p0.number, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    assert!(outbox_events(&pool, &p2).await.is_empty());
    assert_eq!(outbox_events(&pool, &p0).await, ["declared"]);
}

// ---------------------------------------------------------------------------------------------
// The channel admin pages

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_bad_channel_url_is_a_field_error_and_nothing_is_saved(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let (response, html) = send(
        &app,
        testing::post_form(
            "/admin/channels",
            Some(&admin),
            &[("kind", "slack"), ("name", "Slack"), ("enabled", "on"), ("url", "hooks.slack.com/services/x")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("field-error") && html.contains("This is not a valid URL"), "{html}");
    let (response, html) = send(
        &app,
        testing::post_form(
            "/admin/channels",
            Some(&admin),
            &[("kind", "webhook"), ("name", "Hook"), ("url", "ftp://example.com/x"), ("secret", "short")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Use an http:// or https:// address.") && html.contains("16 to 200 characters"),
        "{html}"
    );
    let n: i64 =
        sqlx::query_scalar("select count(*) from notification_channels").fetch_one(&pool).await.expect("n");
    assert_eq!(n, 0);
    assert!(testing::audit_actions(&pool, "channel.create").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn channel_secrets_never_reach_a_page_or_the_audit_log(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let (response, _) = send(
        &app,
        testing::post_form(
            "/admin/channels",
            Some(&admin),
            &[
                ("kind", "webhook"),
                ("name", "Ops hook"),
                ("enabled", "on"),
                ("url", "https://hooks.example.com/in/T0K3N?sig=Q5ERY"),
                ("secret", "s3cr3t-signing-key-123"),
                ("route", "P0:declared"),
                ("route", "P1:escalated"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id: Uuid =
        sqlx::query_scalar("select id from notification_channels").fetch_one(&pool).await.expect("id");
    for path in ["/admin/channels".to_owned(), format!("/admin/channels/{id}")] {
        let (response, html) = send(&app, testing::get(&path, Some(&admin))).await;
        assert_eq!(response.status(), StatusCode::OK);
        for secret in ["s3cr3t-signing-key-123", "T0K3N", "Q5ERY"] {
            assert!(!html.contains(secret), "{path} shows {secret}");
        }
        assert!(html.contains("https://hooks.example.com/…"), "{html}");
    }
    // Saving with blank URL and secret keeps both.
    let (response, _) = send(
        &app,
        testing::post_form(
            &format!("/admin/channels/{id}"),
            Some(&admin),
            &[("name", "Ops hook 2"), ("route", "P2:resolved")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let channel = channel_store::find(&pool, id).await.expect("find").expect("exists");
    assert_eq!(channel.name, "Ops hook 2");
    assert!(!channel.enabled);
    assert_eq!(channel.url.as_deref(), Some("https://hooks.example.com/in/T0K3N?sig=Q5ERY"));
    assert_eq!(channel.secret.as_ref().map(|s| s.expose()), Some("s3cr3t-signing-key-123"));
    assert!(channel.routing.allows(Severity::P2, EventKind::Resolved));
    assert!(!channel.routing.allows(Severity::P0, EventKind::Declared));
    let rows: Vec<String> = sqlx::query_scalar("select coalesce(before::text, '') || coalesce(after::text, '') from audit_log where action like 'channel.%'")
        .fetch_all(&pool)
        .await
        .expect("audit");
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(!row.contains("s3cr3t") && !row.contains("T0K3N"), "{row}");
    }
    // Deleting asks first; a POST without the confirmation deletes nothing.
    let delete = format!("/admin/channels/{id}/delete");
    let (response, _) = send(&app, testing::post_form(&delete, Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], delete.as_str());
    assert!(testing::audit_actions(&pool, "channel.delete").await.is_empty(), "not deleted unconfirmed");
    let (response, html) = send(&app, testing::get(&delete, Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        html.contains("Delete the channel ")
            && html.contains("undelivered notifications are dropped")
            && html.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">"),
        "{html}"
    );
    let (response, _) = send(&app, testing::post_form(&delete, Some(&admin), &[("confirm", "yes")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(testing::audit_actions(&pool, "channel.delete").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_taken_channel_name_is_a_field_error_on_create_and_on_edit(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let create = |name: &'static str| {
        testing::post_form(
            "/admin/channels",
            Some(&admin),
            &[
                ("kind", "slack"),
                ("name", name),
                ("enabled", "on"),
                ("url", "https://hooks.slack.com/services/x"),
            ],
        )
    };
    let (response, _) = send(&app, create("Ops")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (response, html) = send(&app, create("Ops")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"<p class="field-error" id="name-error">Another channel has this name.</p>"#),
        "{html}"
    );

    let (response, _) = send(&app, create("Ops 2")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id: Uuid = sqlx::query_scalar("select id from notification_channels where name = 'Ops 2'")
        .fetch_one(&pool)
        .await
        .expect("id");
    let (response, html) =
        send(&app, testing::post_form(&format!("/admin/channels/{id}"), Some(&admin), &[("name", "Ops")]))
            .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Another channel has this name.") && html.contains(r#"value="Ops""#), "{html}");
    assert_eq!(testing::audit_actions(&pool, "channel.create").await.len(), 2);
    assert!(testing::audit_actions(&pool, "channel.update").await.is_empty());
}

/// A receiver that answers `status` with a body that never ends.
async fn endless_body(status: u16) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 {status} Nope\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    addr
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_receiver_answering_with_an_endless_body_is_read_only_up_to_a_cap(pool: PgPool) {
    team(&pool).await;
    let addr = endless_body(400).await;
    channel(&pool, ChannelKind::Webhook, &format!("http://{addr}/hook"), Some("s3cret-s3cret-s3cret")).await;
    declared(&pool, Severity::P2).await;
    let w = DeliveryWorker::new(pool.clone(), &testing::config(), quick_policy());
    deliver_all(&w).await;
    let (state, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("select state, attempts, last_error from notifications")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((state.as_str(), attempts), ("dead", 1), "the 400 is read, not the endless body: {error:?}");
    assert!(error.as_deref().is_some_and(|e| e.starts_with("HTTP 400")), "{error:?}");
}

// ---------------------------------------------------------------------------------------------
// What the incident page says about paging

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_page_with_no_channel_configured_records_that_nobody_was_notified(pool: PgPool) {
    let t = team(&pool).await;
    let incident = declared(&pool, Severity::P1).await;
    let notified = events_of(&pool, &incident, TimelineKind::Notified).await;
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0]["notified"], false);
    assert_eq!(notified[0]["channels"], serde_json::json!([]));

    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = format!("/incidents/{}", incident.number);
    let (_, html) = send(&app, testing::get(&path, Some(&viewer))).await;
    assert!(
        html.contains(&format!(
            "Nobody was notified: no notification channel carries this page ({} is primary on call and was not told)",
            t.alice.display_name
        )),
        "{html}"
    );
    assert!(!html.contains("<dt>email</dt>"), "never \"Notified alice@…\" when nothing was sent: {html}");
    assert!(html.contains("class=\"flash error unreached\""), "said prominently: {html}");
    assert!(html.contains("Nobody could be reached: no notification channel carries"), "{html}");

    // The escalation continues, and says the same truth.
    make_all_due(&pool).await;
    worker(&pool, "test").run_once().await.expect("fire");
    let (_, html) = send(&app, testing::get(&path, Some(&viewer))).await;
    assert!(html.contains("nobody was notified") || html.contains("Nobody was notified"), "{html}");
    assert!(
        html.contains(&format!("({} is secondary on call and was not told)", t.bob.display_name)),
        "{html}"
    );

    // Once someone responds, the warning goes.
    let mut tx = pool.begin().await.expect("begin");
    service::acknowledge(&mut tx, &testing::actor(&t.alice), incident.number, None).await.expect("ack");
    tx.commit().await.expect("commit");
    let (_, html) = send(&app, testing::get(&path, Some(&viewer))).await;
    assert!(!html.contains("Nobody could be reached"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn delivery_failures_show_on_the_incident_page_not_only_in_the_outbox(pool: PgPool) {
    let t = team(&pool).await;
    let receiver = Receiver::start(&[], Some(500)).await;
    channel(&pool, ChannelKind::Slack, &receiver.url("/services/T0/B0/s3cr3t"), None).await;
    let incident = declared(&pool, Severity::P2).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = format!("/incidents/{}", incident.number);

    let (_, html) = send(&app, testing::get(&path, Some(&viewer))).await;
    assert!(
        html.contains(&format!("Paged {} (primary on call) through slack ", t.alice.display_name)),
        "{html}"
    );
    assert!(html.contains("waiting to be sent") && !html.contains("Nobody could be reached"), "{html}");

    let w = DeliveryWorker::new(
        pool.clone(),
        &testing::config(),
        DeliveryPolicy { max_attempts: 2, ..quick_policy() },
    );
    deliver_all(&w).await;
    let (_, html) = send(&app, testing::get(&path, Some(&viewer))).await;
    assert!(html.contains("1 delivery failed"), "{html}");
    assert!(html.contains("not delivered, given up: HTTP 500"), "{html}");
    assert!(html.contains("Nobody could be reached: every page failed to deliver"), "{html}");
    assert!(!html.contains("s3cr3t"), "the Slack URL is a secret");
}
