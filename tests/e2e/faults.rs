//! The fault suite: the real binary on a private PostgreSQL cluster the test stops and starts
//! under it. Each test asserts the figure the reliability issue sets.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, Portal, PrivatePortal, client};

const STATUS_HOST: &str = "status.twisterlab.local";

/// How fast a write must fail while PostgreSQL is gone.
const WRITE_FAILS_WITHIN: Duration = Duration::from_secs(3);
/// How soon writes must succeed again after PostgreSQL is back, without restarting the portal.
const WRITES_RECOVER_WITHIN: Duration = Duration::from_secs(10);

/// A commander's API token, made with the command line as an operator would.
fn commander_token(portal: &Portal) -> String {
    let email = format!("commander-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    support::create_user(&portal.database_url, &email, "commander", support::PASSWORD);
    let (code, stdout, stderr) = support::run_to_end(
        &["create-token", "--email", &email, "--name", "faults"],
        &[("DATABASE_URL", portal.database_url.as_str())],
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
    let token = commander_token(&p.portal);
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

/// Writes acknowledged before the kill in case 3.
const ACKED_BEFORE_KILL: usize = 60;
/// Concurrent writers in case 3, so that requests are in flight when the portal dies.
const WRITERS: usize = 4;
/// Rounds (declare, note, public update) one writer makes at most: the stream is bounded.
const MAX_ROUNDS: usize = 200;

/// What a client was told succeeded (a 2xx answer it read in full).
#[derive(Debug)]
enum Ack {
    Incident(i64),
    Event(uuid::Uuid),
}

/// Counters the writers share with the test body.
#[derive(Default)]
struct Stream {
    acks: std::sync::Mutex<Vec<Ack>>,
    acked: std::sync::atomic::AtomicUsize,
    in_flight: std::sync::atomic::AtomicUsize,
    /// Answers other than 2xx before the kill (a bug: these writes are all valid).
    refused: std::sync::Mutex<Vec<String>>,
}

impl Stream {
    fn ack(&self, ack: Ack) {
        self.acks.lock().expect("acks").push(ack);
        self.acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends one write; `Some(body)` on a 2xx answer read in full, `None` once the portal is
    /// gone (the stream ends there).
    async fn write(&self, request: reqwest::RequestBuilder) -> Option<serde_json::Value> {
        use std::sync::atomic::Ordering::SeqCst;
        self.in_flight.fetch_add(1, SeqCst);
        let answer = async {
            let response = request.send().await.ok()?;
            let status = response.status();
            let body = response.text().await.ok()?;
            Some((status, body))
        }
        .await;
        self.in_flight.fetch_sub(1, SeqCst);
        let (status, body) = answer?;
        if status.is_success() {
            Some(serde_json::from_str(&body).expect("a 2xx answer is JSON"))
        } else {
            self.refused.lock().expect("refused").push(format!("{status}: {body:.300}"));
            None
        }
    }
}

/// One writer: declares an incident, adds a note and a public update to it, and again.
async fn writer(stream: std::sync::Arc<Stream>, base: String, token: String, who: usize) {
    let http = client();
    for round in 0..MAX_ROUNDS {
        let declared = http
            .post(format!("{base}/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("Kill stream {who}.{round}"), "severity": "P3", "summary": "Written while the portal dies."}));
        let Some(incident) = stream.write(declared).await else { return };
        let number = incident["number"].as_i64().expect("the incident's number");
        stream.ack(Ack::Incident(number));
        for (kind, body) in [("note", "An internal note."), ("public_update", "We are looking into it.")] {
            let event = http
                .post(format!("{base}/api/v1/incidents/{number}/events"))
                .bearer_auth(&token)
                .json(&json!({"kind": kind, "body": body}));
            let Some(event) = stream.write(event).await else { return };
            let id = event["id"].as_str().and_then(|id| id.parse().ok()).expect("the event's id");
            stream.ack(Ack::Event(id));
        }
    }
}

/// Case 3 of the fault suite: the portal killed with SIGKILL during a stream of writes.
///
/// The invariant checked after the restart, from how `incidents::service` writes (each use case
/// in one transaction, committed before the API answers):
/// - every incident a client was told about (201) exists, and every event id it was given;
/// - every incident has exactly one `declared` timeline event and its `incident.declare` audit
///   row (target `incident:INC-<number>`), written in `declare`'s transaction;
/// - every `note` and `public_update` event has its audit row (`incident.note` /
///   `incident.public_update` whose `after.event` is the event's id), and every such audit row
///   has its event: nothing is half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_killed_mid_stream_keeps_every_acknowledged_write_and_leaves_nothing_half_written() {
    use std::sync::atomic::Ordering::SeqCst;
    let url = support::fresh_database().await;
    let mut portal = Portal::start_with(&url, &[]).await;
    let token = commander_token(&portal);
    let stream = std::sync::Arc::new(Stream::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|who| tokio::spawn(writer(stream.clone(), portal.base.clone(), token.clone(), who)))
        .collect();

    // Kill once enough writes are acknowledged, at a moment a request is in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stream.acked.load(SeqCst) < ACKED_BEFORE_KILL || stream.in_flight.load(SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "only {} writes acknowledged within 60 s; refused: {:?}; logs:\n{}",
            stream.acked.load(SeqCst),
            stream.refused.lock().expect("refused"),
            portal.logs()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_flight = stream.in_flight.load(SeqCst);
    let status = portal.kill_now();
    for w in writers {
        w.await.expect("a writer ends once the portal is gone");
    }
    let refused = stream.refused.lock().expect("refused").clone();
    assert!(refused.is_empty(), "valid writes refused before the kill: {refused:?}");
    let acks = std::mem::take(&mut *stream.acks.lock().expect("acks"));
    println!("killed ({status}) after {} acknowledged writes, {in_flight} in flight", acks.len());
    assert!(acks.len() >= ACKED_BEFORE_KILL);

    let portal = Portal::start_with(&url, &[]).await;
    let mut db = support::connect(&url).await;
    // Every acknowledged incident, read back through the API, and every acknowledged event.
    for ack in &acks {
        match ack {
            Ack::Incident(number) => {
                let response = client()
                    .get(portal.url(&format!("/api/v1/incidents/{number}")))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("GET the incident");
                assert_eq!(response.status(), 200, "acknowledged INC-{number} is missing after the restart");
            }
            Ack::Event(id) => {
                let found: i64 = sqlx::query_scalar("select count(*) from timeline_events where id = $1")
                    .bind(id)
                    .fetch_one(&mut db)
                    .await
                    .expect("event");
                assert_eq!(found, 1, "acknowledged event {id} is missing after the restart");
            }
        }
    }
    // Nothing half-written, acknowledged or not.
    let without_declared: Vec<i64> = sqlx::query_scalar(
        "select i.number from incidents i
          where (select count(*) from timeline_events e where e.incident_id = i.id and e.kind = 'declared') <> 1
             or not exists (select 1 from audit_log a
                             where a.action = 'incident.declare' and a.target = 'incident:INC-' || i.number)
          order by 1",
    )
    .fetch_all(&mut db)
    .await
    .expect("incidents without their declaration");
    assert!(
        without_declared.is_empty(),
        "incidents without one declared event or its audit row: {without_declared:?}"
    );
    let without_audit: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "select e.id, e.kind from timeline_events e
          where e.kind in ('note', 'public_update')
            and not exists (select 1 from audit_log a
                             where a.action = 'incident.' || e.kind and a.after->>'event' = e.id::text)",
    )
    .fetch_all(&mut db)
    .await
    .expect("events without their audit row");
    assert!(without_audit.is_empty(), "events without their audit row: {without_audit:?}");
    let audit_without_event: Vec<(String, String)> = sqlx::query_as(
        "select a.action, a.after->>'event' from audit_log a
          where a.action in ('incident.note', 'incident.public_update')
            and not exists (select 1 from timeline_events e where e.id::text = a.after->>'event')",
    )
    .fetch_all(&mut db)
    .await
    .expect("audit rows without their event");
    assert!(audit_without_event.is_empty(), "audit rows without their event: {audit_without_event:?}");
    let (incidents, events): (i64, i64) = sqlx::query_as(
        "select (select count(*) from incidents),
                (select count(*) from timeline_events where kind in ('note', 'public_update'))",
    )
    .fetch_one(&mut db)
    .await
    .expect("counts");
    println!("after the restart: {incidents} incidents, {events} notes and public updates");

    // And the restarted portal takes writes again.
    let answer = client()
        .post(portal.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({"title": "After the kill", "severity": "P3"}))
        .send()
        .await
        .expect("a write after the restart");
    assert_eq!(answer.status(), 201, "logs:\n{}", portal.logs());
}

/// Services probing a healthy target in case 8.
const STEADY: usize = 8;
/// Their interval (the smallest the portal allows).
const INTERVAL: Duration = Duration::from_secs(5);
/// The least spread of the first probes after a restart. The scheduler resumes probes that
/// came due while the portal was down at random points of their interval (uniform over 5 s);
/// all 8 first probes falling within 0.5 s has a probability below 1e-6 (8·0.1⁷), while probes
/// started together at the first tick land within a few milliseconds of each other.
const FIRST_PROBES_SPREAD: Duration = Duration::from_millis(500);

/// A local target: `/ok` answers healthy JSON, `/broken` 503.
async fn start_target() -> String {
    let app = axum::Router::new()
        .route("/ok", axum::routing::get(|| async { axum::Json(json!({"status": "healthy"})) }))
        .route(
            "/broken",
            axum::routing::get(|| async {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down for the test")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the target");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// A webhook receiver counting each idempotency key it is sent.
async fn start_receiver()
-> (String, std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>) {
    let keys: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Default::default();
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

/// Polls `query` (one boolean) until it is true, up to `limit`.
async fn wait_until(db: &mut sqlx::PgConnection, query: &str, limit: Duration, what: &str, portal: &Portal) {
    let deadline = Instant::now() + limit;
    loop {
        let done: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut *db)
            .await
            .expect("poll query");
        if done == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}; logs:\n{}", portal.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alertmanager's webhook (version 4) with one firing alert, as it sends it again at every
/// repeat interval.
fn firing_alert(starts_at: &str) -> serde_json::Value {
    json!({"version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "twisterlab-portal", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HighLatency", "service": "twisterlab-api", "severity": "critical"},
        "annotations": {"summary": "API p95 latency above 500 ms"},
        "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up", "fingerprint": "faults0000000008"
    }]})
}

/// Delivers `body` to the portal's Alertmanager receiver; returns the answer's `declared`.
async fn deliver_alert(portal: &Portal, token: &str, body: &serde_json::Value) -> usize {
    let answer = client()
        .post(portal.url("/api/v1/alertmanager"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("deliver the alert");
    let status = answer.status();
    let outcome: serde_json::Value = answer.json().await.expect("the receiver answers JSON");
    assert_eq!(status, 200, "{outcome}");
    outcome["declared"].as_array().map_or(0, Vec::len)
}

/// Every notification row delivered, and at least `min` of them.
fn outbox_idle(min: usize) -> String {
    format!(
        "select count(*) >= {min} and count(*) filter (where state <> 'delivered') = 0 from notifications"
    )
}

/// Case 8 of the fault suite: a restart (SIGTERM, then start) with incidents open (declared
/// through the API) and an alert open (a probe that fails and declared its incident).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_with_incidents_and_alerts_open_no_notification_is_sent_twice_and_probes_resume_spread_out()
 {
    let target = start_target().await;
    let (hook, received) = start_receiver().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("portal.toml");
    let interval = INTERVAL.as_secs();
    let mut services = String::new();
    for i in 0..STEADY {
        services.push_str(&format!(
            "[[services]]\nname = \"steady-{i}\"\nurl = \"{target}/ok\"\ninterval_seconds = {interval}\ntimeout_ms = 1000\n\n"
        ));
    }
    services.push_str(&format!(
        "[[services]]\nname = \"broken\"\nurl = \"{target}/broken\"\ninterval_seconds = {interval}\ntimeout_ms = 1000\n\
         failures_before_down = 1\nopen_incident = \"P2\"\n"
    ));
    std::fs::write(&file, services).expect("write the configuration file");
    let config = file.to_string_lossy().into_owned();
    let env = [
        ("TWISTERLAB_CONFIG", config.as_str()),
        ("TWISTERLAB_KUBE_ENABLED", "false"),
        ("TWISTERLAB_WEBHOOK_URL", hook.as_str()),
        ("TWISTERLAB_WEBHOOK_SECRET", "e2e-signing-secret-0123456789"),
    ];
    let url = support::fresh_database().await;
    let mut portal = Portal::start_with(&url, &env).await;
    let mut db = support::connect(&url).await;
    let token = commander_token(&portal);
    for i in 0..3 {
        let answer = client()
            .post(portal.url("/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("Open across the restart {i}"), "severity": "P3"}))
            .send()
            .await
            .expect("declare");
        assert_eq!(answer.status(), 201, "logs:\n{}", portal.logs());
    }

    let starts_at = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1)).to_string();
    let alert = firing_alert(&starts_at);
    assert_eq!(deliver_alert(&portal, &token, &alert).await, 1, "the firing alert declares an incident");

    // The probe's incident is declared, every service probed, every notification delivered.
    wait_until(
        &mut db,
        "select exists (select 1 from incidents where title like 'broken is down%')",
        Duration::from_secs(30),
        "the failing probe declares its incident",
        &portal,
    )
    .await;
    wait_until(&mut db, &outbox_idle(4), Duration::from_secs(30), "the outbox delivers", &portal).await;
    let before: usize = received.lock().expect("keys").values().sum();

    // SIGTERM, then wait until every steady service missed a whole interval (its phase is gone:
    // it comes back as after any longer outage).
    portal.terminate();
    let status = portal.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "the portal ends cleanly on SIGTERM: {status}");
    wait_until(
        &mut db,
        "select bool_and(st.next_run_at < now() - make_interval(secs => s.interval_seconds))
           from health_service_state st join health_services s on s.id = st.service_id
          where s.name like 'steady-%'",
        Duration::from_secs(30),
        "every steady service is more than an interval behind",
        &portal,
    )
    .await;
    let (restarted_at, restarted_text): (time::OffsetDateTime, String) =
        sqlx::query_as("select now(), now()::text").fetch_one(&mut db).await.expect("now");
    let portal = Portal::start_with(&url, &env).await;

    // Probes resume: the first probe of each steady service after the restart.
    let first_probes = format!(
        "select count(distinct r.service_id) = {STEADY}
           from health_probe_results r join health_services s on s.id = r.service_id
          where s.name like 'steady-%' and r.started_at > '{restarted_text}'::timestamptz"
    );
    wait_until(
        &mut db,
        &first_probes,
        Duration::from_secs(30),
        "every steady service is probed again",
        &portal,
    )
    .await;
    let firsts: Vec<(String, time::OffsetDateTime)> = sqlx::query_as(
        "select s.name, min(r.started_at)
           from health_probe_results r join health_services s on s.id = r.service_id
          where s.name like 'steady-%' and r.started_at > $1
          group by s.name order by 2",
    )
    .bind(restarted_at)
    .fetch_all(&mut db)
    .await
    .expect("first probes");
    let spread = firsts.last().expect("probes").1 - firsts.first().expect("probes").1;
    println!(
        "first probes after the restart, from {restarted_at}: {:?}",
        firsts
            .iter()
            .map(|(n, t)| format!("{n} +{:.3} s", (*t - restarted_at).as_seconds_f64()))
            .collect::<Vec<_>>()
    );
    assert!(
        spread >= FIRST_PROBES_SPREAD,
        "the first probes after the restart all came within {spread} (at least {FIRST_PROBES_SPREAD:?} expected): {firsts:?}"
    );

    // Alertmanager repeats the firing alert to the restarted portal: it changes nothing. The
    // broken service was probed again after the restart (its alert is still open), and the
    // outbox is idle: nothing new to send, nothing sent again.
    assert_eq!(deliver_alert(&portal, &token, &alert).await, 0, "the repeated alert declares nothing");
    wait_until(
        &mut db,
        &format!(
            "select count(*) >= 2 from health_probe_results r join health_services s on s.id = r.service_id
              where s.name = 'broken' and r.started_at > '{restarted_text}'::timestamptz"
        ),
        Duration::from_secs(30),
        "the failing service is probed twice after the restart",
        &portal,
    )
    .await;
    wait_until(&mut db, &outbox_idle(4), Duration::from_secs(30), "the outbox is idle", &portal).await;
    let open: i64 = sqlx::query_scalar("select count(*) from incidents where title like 'broken is down%'")
        .fetch_one(&mut db)
        .await
        .expect("probe incidents");
    assert_eq!(open, 1, "the open probe alert declared no second incident after the restart");
    let alerted: i64 =
        sqlx::query_scalar("select count(*) from incidents where 'alertmanager' = any(labels)")
            .fetch_one(&mut db)
            .await
            .expect("alert incidents");
    assert_eq!(alerted, 1, "the repeated Alertmanager alert declared no second incident");
    let ids: Vec<String> = sqlx::query_scalar("select id::text from notifications order by created_at")
        .fetch_all(&mut db)
        .await
        .expect("notifications");
    let received = received.lock().expect("keys").clone();
    let twice: Vec<(&String, &usize)> = received.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "{} notifications, {before} received before the restart, {} after",
        ids.len(),
        received.values().sum::<usize>()
    );
    assert!(twice.is_empty(), "notifications received more than once: {twice:?}");
    let mut sent: Vec<String> = received.keys().cloned().collect();
    sent.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sent, expected, "the receiver got exactly the outbox's notifications, by idempotency key");
}
