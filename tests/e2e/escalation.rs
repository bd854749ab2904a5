//! Exactly once, on time: three real portal processes on one database fire 100 escalation
//! deadlines (50 due at once, 50 due within a few seconds) while one process is killed and
//! restarted at random; each fires exactly once, within a second of its due time, and every
//! resulting webhook notification reaches a local receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use time::OffsetDateTime;
use twisterlab_domain::severity::Severity;
use twisterlab_server::db::audit::Actor;
use twisterlab_server::incidents::service::{self, Declaration};

use crate::support::{Portal, connect, fresh_database};

/// Incidents declared; each has a manager escalation due at once (P0) and a response-SLA check
/// due a few seconds later.
const INCIDENTS: usize = 50;
/// The first response deadline comes this long after the arrangement starts.
const FIRST_DUE: Duration = Duration::from_secs(4);
/// Spacing of the response deadlines (50 × 60 ms: the last is due about 7 s in).
const SPACING: Duration = Duration::from_millis(60);

/// Counts idempotency keys a webhook receiver accepted.
async fn start_receiver() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let keys: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = keys.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok())
                && let Ok(mut seen) = seen.lock()
            {
                *seen.entry(key.to_owned()).or_default() += 1;
            }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_fire_each_deadline_exactly_once_and_on_time_through_a_restart() {
    let url = fresh_database().await;
    let (hook, received) = start_receiver().await;
    let env = [
        ("TWISTERLAB_WEBHOOK_URL", hook.as_str()),
        ("TWISTERLAB_WEBHOOK_SECRET", "e2e-signing-secret-0123456789"),
    ];
    let mut portals = vec![Portal::start_with(&url, &env).await];
    portals.push(Portal::start_with(&url, &env).await);
    portals.push(Portal::start_with(&url, &env).await);
    let mut db = connect(&url).await;
    // The configured webhook channel is recorded by each process's delivery worker at start.
    for _ in 0..100 {
        let n: i64 =
            sqlx::query_scalar("select count(*) from notification_channels where config_key = 'webhook'")
                .fetch_one(&mut db)
                .await
                .expect("channels");
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // P0 incidents that started 5 minutes before their response deadline: the manager
    // escalation (immediately) is already past, the response deadline a few seconds ahead.
    let base = OffsetDateTime::now_utc() + FIRST_DUE;
    for i in 0..INCIDENTS {
        let due = base + SPACING * u32::try_from(i).expect("small");
        let declaration = Declaration {
            title: format!("Escalation run {i}"),
            severity: Some(Severity::P0),
            started_at: Some(due - time::Duration::minutes(5)),
            ..Default::default()
        };
        let mut tx = sqlx::Connection::begin(&mut db).await.expect("begin");
        service::declare(&mut tx, &Actor::system(), &jiff::tz::TimeZone::UTC, &declaration)
            .await
            .expect("declare");
        tx.commit().await.expect("commit");
    }
    if OffsetDateTime::now_utc() > base {
        // A loaded machine: some deadlines were already due when written; lateness below is
        // then measured from when they were written.
        println!("arranging took longer than {FIRST_DUE:?}");
    }

    // Kill one process at random while the deadlines come due, and start it again a second later.
    let victim = rand::random_range(0..portals.len());
    let kill_at = FIRST_DUE + SPACING * rand::random_range(0..u32::try_from(INCIDENTS).expect("small"));
    tokio::time::sleep(kill_at.saturating_sub(Duration::from_millis(500))).await;
    let killed_pid = portals[victim].pid();
    drop(portals.remove(victim)); // SIGKILL, mid-work if it was firing
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    portals.push(Portal::start_with(&url, &env).await);
    println!(
        "killed process {killed_pid} (portal {victim}) and restarted it {:?} later",
        killed_at.elapsed()
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done: i64 = sqlx::query_scalar("select count(*) from escalation_deadlines where state = 'done'")
            .fetch_one(&mut db)
            .await
            .expect("done");
        if done >= 2 * i64::try_from(INCIDENTS).expect("small") || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Exactly once: one done row per deadline, one timeline event and one notification each.
    let kinds: Vec<(String, String, i64)> = sqlx::query_as(
        "select kind, state, count(*) from escalation_deadlines group by kind, state order by kind, state",
    )
    .fetch_all(&mut db)
    .await
    .expect("deadline states");
    let n = i64::try_from(INCIDENTS).expect("small");
    assert_eq!(
        kinds,
        [
            ("escalate_manager".to_owned(), "done".to_owned(), n),
            ("page_secondary".to_owned(), "pending".to_owned(), n),
            ("response_sla".to_owned(), "done".to_owned(), n),
        ],
        "{}",
        portals.iter().map(Portal::logs).collect::<Vec<_>>().join("\n")
    );
    let per_incident: Vec<(i64, i64)> = sqlx::query_as(
        "select count(*) filter (where kind = 'escalated' and data->>'to' = 'manager'),
                count(*) filter (where kind = 'sla_breached')
           from incidents i left join timeline_events e on e.incident_id = i.id
          group by i.id",
    )
    .fetch_all(&mut db)
    .await
    .expect("timeline counts");
    assert_eq!(per_incident.len(), INCIDENTS);
    assert!(
        per_incident.iter().all(|c| *c == (1, 1)),
        "an escalation fired twice or never: {per_incident:?}"
    );
    let outbox: Vec<(String, i64)> =
        sqlx::query_as("select event, count(*) from notifications group by event order by event")
            .fetch_all(&mut db)
            .await
            .expect("outbox");
    assert_eq!(
        outbox,
        [("declared".to_owned(), n), ("escalated".to_owned(), n), ("sla_breached".to_owned(), n)]
    );

    // On time: within a second of the due time (or of being written, for those due already).
    let lateness: Vec<(String, f64, String)> = sqlx::query_as(
        "select kind, extract(epoch from fired_at - greatest(due_at, created_at))::double precision, fired_by
           from escalation_deadlines where state = 'done' order by 2 desc",
    )
    .fetch_all(&mut db)
    .await
    .expect("lateness");
    let mut by_process: HashMap<&str, usize> = HashMap::new();
    for (_, _, by) in &lateness {
        *by_process.entry(by.as_str()).or_default() += 1;
    }
    let late: Vec<f64> = lateness.iter().map(|(_, s, _)| *s).collect();
    println!(
        "lateness max {:.3} s, median {:.3} s over {} deadlines; fired per process: {by_process:?}",
        late[0],
        late[late.len() / 2],
        late.len()
    );
    assert!(late[0] <= 1.0, "fired more than 1 s late: {:?}", &lateness[..lateness.len().min(5)]);

    // Every notification reaches the receiver (at least once; the idempotency key lets it drop
    // a repeat after the kill).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let undelivered: i64 =
            sqlx::query_scalar("select count(*) from notifications where state <> 'delivered'")
                .fetch_one(&mut db)
                .await
                .expect("undelivered");
        if undelivered == 0 || Instant::now() > deadline {
            assert_eq!(undelivered, 0, "notifications still undelivered after 30 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: Vec<String> =
        sqlx::query_scalar("select id::text from notifications").fetch_all(&mut db).await.expect("ids");
    let received = received.lock().expect("lock").clone();
    assert!(
        ids.iter().all(|id| received.contains_key(id)),
        "a delivered notification never reached the receiver"
    );
    assert_eq!(received.len(), ids.len(), "the receiver saw keys that are not in the outbox");
    let repeats: usize = received.values().map(|n| n - 1).sum();
    println!(
        "{} notifications received, {repeats} repeated delivery attempt(s) after the kill",
        received.len()
    );
}
