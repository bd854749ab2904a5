//! The scheduler on real Postgres: leases, recorded results and states, signals into incidents.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sqlx::PgPool;
use twisterlab_domain::health::{Failure, FailureKind, ServiceState, uptime_text};
use twisterlab_domain::incident::{ComponentStatus, Impact, IncidentNumber};
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::{Demo, make_due, probing, without_seeded_services};
use crate::db::{components, health, probe_results};
use crate::overview::jobs::RollupJob;
use crate::overview::probe::Outcome;
use crate::overview::scheduler::{Claim, ProbeScheduler};
use crate::overview::signals::Signal;
use crate::testing::builders;

fn scheduler(pool: &PgPool) -> ProbeScheduler {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ProbeScheduler::new(pool.clone(), 16, jiff::tz::TimeZone::UTC).expect("scheduler")
}

/// Makes everything due and runs one round of probes.
async fn round(s: &ProbeScheduler) -> usize {
    make_due(&s.pool).await;
    s.run_once().await.expect("probe round")
}

async fn probe_incidents(pool: &PgPool) -> Vec<(Uuid, i64, String, String, String)> {
    sqlx::query_as(
        "select id, number, title, severity, status from incidents where 'health-probe' = any(labels) order by number",
    )
    .fetch_all(pool)
    .await
    .expect("incidents")
}

async fn signals(pool: &PgPool, incident_id: Uuid) -> Vec<(Option<String>, Value)> {
    sqlx::query_as(
        "select body, data from timeline_events where incident_id = $1 and kind = 'health_signal' order by at, id",
    )
    .bind(incident_id)
    .fetch_all(pool)
    .await
    .expect("signals")
}

async fn state(pool: &PgPool, name: &str) -> health::Service {
    health::find_by_name(pool, name).await.expect("query").expect("service exists")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_down_service_declares_one_incident_with_evidence_and_recovery_only_adds_an_event(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    probing("api-under-test", &demo.health_url(), 3).opens(Severity::P1).component("API").create(&pool).await;
    let s = scheduler(&pool);

    assert_eq!(round(&s).await, 1);
    assert_eq!(state(&pool, "api-under-test").await.state, ServiceState::Up);

    demo.mode("down").await;
    round(&s).await;
    round(&s).await;
    let failing = state(&pool, "api-under-test").await;
    assert_eq!((failing.state, failing.consecutive_failures), (ServiceState::Failing, 2));
    assert!(probe_incidents(&pool).await.is_empty(), "below the threshold: no incident yet");

    round(&s).await;
    let down = state(&pool, "api-under-test").await;
    assert_eq!(down.state, ServiceState::Down);
    assert!(down.last_reason.as_deref().is_some_and(|r| r.starts_with("HTTP 503")), "{down:?}");
    let incidents = probe_incidents(&pool).await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let (incident_id, _, title, severity, status) = incidents[0].clone();
    assert_eq!(title, "api-under-test is down");
    assert_eq!((severity.as_str(), status.as_str()), ("P1", "triggered"));
    let affected = crate::db::incidents::components(&pool, incident_id).await.expect("components");
    assert_eq!(affected.len(), 1);
    assert_eq!((affected[0].name.as_str(), affected[0].impact), ("API", Impact::PartialOutage));
    let evidence = signals(&pool, incident_id).await;
    assert_eq!(evidence.len(), 1);
    let (body, data) = &evidence[0];
    assert_eq!(data["state"], "down");
    assert_eq!(data["checks"].as_array().map(Vec::len), Some(3));
    assert!(
        body.as_deref().is_some_and(|b| b.contains(r#"/database is "disconnected", expected "connected""#)),
        "{body:?}"
    );
    let api = components::id_by_name(&pool, "API").await.expect("lookup").expect("API component");
    assert_eq!(
        crate::db::health::components_down(&pool, None).await.expect("health"),
        HashMap::from([(api, ComponentStatus::PartialOutage)])
    );

    // Staying down adds nothing: no flood.
    for _ in 0..3 {
        round(&s).await;
    }
    assert_eq!(probe_incidents(&pool).await.len(), 1);
    assert_eq!(signals(&pool, incident_id).await.len(), 1);

    demo.mode("healthy").await;
    round(&s).await;
    assert_eq!(state(&pool, "api-under-test").await.state, ServiceState::Up);
    let evidence = signals(&pool, incident_id).await;
    assert_eq!(evidence.len(), 2);
    assert_eq!(evidence[1].1["state"], "up");
    let incidents = probe_incidents(&pool).await;
    assert_eq!(incidents[0].4, "triggered", "recovery does not resolve");
    assert_eq!(
        crate::db::health::components_down(&pool, None).await.expect("health").len(),
        1,
        "one passing check of the two it takes: the component still follows the outage"
    );
    round(&s).await;
    assert!(crate::db::health::components_down(&pool, None).await.expect("health").is_empty());

    // Down again while the incident is still open: its timeline, not a second incident.
    demo.mode("down").await;
    for _ in 0..3 {
        round(&s).await;
    }
    assert_eq!(probe_incidents(&pool).await.len(), 1);
    assert_eq!(signals(&pool, incident_id).await.len(), 3);

    // Once resolved, the next outage declares a new one.
    let mut tx = pool.begin().await.expect("begin");
    crate::incidents::service::resolve(
        &mut tx,
        &crate::db::audit::Actor::system(),
        IncidentNumber::new(incidents[0].1).expect("number"),
        None,
    )
    .await
    .expect("resolve");
    tx.commit().await.expect("commit");
    demo.mode("healthy").await;
    round(&s).await;
    demo.mode("down").await;
    for _ in 0..3 {
        round(&s).await;
    }
    assert_eq!(probe_incidents(&pool).await.len(), 2);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_service_without_auto_open_goes_down_without_an_incident(pool: PgPool) {
    without_seeded_services(&pool).await;
    let demo = Demo::start(Duration::from_millis(100)).await;
    demo.mode("garbage").await;
    probing("quiet", &demo.health_url(), 1).component("Cache").create(&pool).await;
    round(&scheduler(&pool)).await;
    let quiet = state(&pool, "quiet").await;
    assert_eq!(quiet.state, ServiceState::Down);
    assert!(quiet.last_reason.as_deref().is_some_and(|r| r.starts_with("the body is not JSON")));
    assert!(probe_incidents(&pool).await.is_empty());
    assert_eq!(crate::db::health::components_down(&pool, None).await.expect("health").len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn two_processes_claim_each_due_probe_once(pool: PgPool) {
    without_seeded_services(&pool).await;
    for i in 0..40 {
        builders::service(&format!("svc-{i}")).create(&pool).await;
    }
    make_due(&pool).await;
    let (a, b) = (scheduler(&pool), scheduler(&pool));
    let (first, second) = tokio::join!(a.claim(Duration::ZERO), b.claim(Duration::ZERO));
    let (first, second) = (first.expect("claim a"), second.expect("claim b"));
    let ids: Vec<Uuid> = first.iter().chain(second.iter()).map(|c| c.service_id).collect();
    let unique: HashSet<&Uuid> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (40, 40), "every probe claimed exactly once");
    let (again_a, again_b) = tokio::join!(a.claim(Duration::ZERO), b.claim(Duration::ZERO));
    assert!(
        again_a.expect("claim").is_empty() && again_b.expect("claim").is_empty(),
        "claimed until next interval"
    );

    // The next run is exactly one interval after the due time (the rhythm is kept, no drift),
    // however long the claim took.
    let next_runs: HashMap<Uuid, time::OffsetDateTime> =
        sqlx::query_as("select service_id, next_run_at from health_service_state")
            .fetch_all(&pool)
            .await
            .expect("next runs")
            .into_iter()
            .collect();
    for claim in first.iter().chain(second.iter()) {
        let next = crate::clock::to_jiff(next_runs[&claim.service_id]);
        assert_eq!(next.duration_since(claim.scheduled_at), SignedDuration::from_secs(5), "{claim:?}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn probes_missed_while_no_portal_ran_resume_spread_over_their_interval_not_all_at_once(pool: PgPool) {
    without_seeded_services(&pool).await;
    let mut late = vec![];
    for i in 0..20 {
        late.push(builders::service(&format!("late-{i}")).create(&pool).await);
    }
    let due = builders::service("due-now").create(&pool).await;
    let leased = builders::service("leased").create(&pool).await;
    let disabled = builders::service("disabled").create(&pool).await;
    // The portal was down for an hour; `due-now` came due just now (a running scheduler's
    // work); `leased` is held by another process.
    sqlx::query("update health_service_state set next_run_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .expect("late");
    sqlx::query("update health_service_state set next_run_at = now() - interval '100 milliseconds' where service_id = $1")
        .bind(due)
        .execute(&pool)
        .await
        .expect("due");
    sqlx::query(
        "update health_service_state set lease_until = now() + interval '1 minute' where service_id = $1",
    )
    .bind(leased)
    .execute(&pool)
    .await
    .expect("leased");
    sqlx::query("update health_services set enabled = false where id = $1")
        .bind(disabled)
        .execute(&pool)
        .await
        .expect("disabled");
    let before: HashMap<Uuid, time::OffsetDateTime> =
        sqlx::query_as("select service_id, next_run_at from health_service_state")
            .fetch_all(&pool)
            .await
            .expect("next runs")
            .into_iter()
            .collect();

    let started = time::OffsetDateTime::now_utc();
    let moved = scheduler(&pool).spread_late().await.expect("spread");
    let after: HashMap<Uuid, time::OffsetDateTime> =
        sqlx::query_as("select service_id, next_run_at from health_service_state")
            .fetch_all(&pool)
            .await
            .expect("next runs")
            .into_iter()
            .collect();
    assert_eq!(moved, 20, "only the late, enabled, unleased probes move");
    for id in [due, leased, disabled] {
        assert_eq!(after[&id], before[&id], "left alone: {id}");
    }
    // Each late probe now comes at a random point of its next 5 s, not at once: 20 uniform
    // points all within 1 s of each other has a probability below 1e-12.
    let next: Vec<time::OffsetDateTime> = late.iter().map(|id| after[id]).collect();
    for at in &next {
        let ahead = *at - started;
        assert!(
            ahead >= time::Duration::seconds(-1) && ahead <= time::Duration::seconds(6),
            "within the next interval: {ahead}"
        );
    }
    let spread = *next.iter().max().expect("late") - *next.iter().min().expect("late");
    assert!(spread >= time::Duration::seconds(1), "spread over the interval, not together: {spread}");
}

fn failed_outcome() -> Outcome {
    Outcome {
        result: Err(Failure::new(FailureKind::Connect, "connection refused by 127.0.0.1:9")),
        latency: Duration::from_millis(1),
        http_status: None,
        excerpt: None,
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn results_recorded_at_once_by_two_processes_open_one_incident(pool: PgPool) {
    without_seeded_services(&pool).await;
    let id = builders::service("racy").down_after(1).opens(Severity::P2).create(&pool).await;
    let claim = Claim {
        service_id: id,
        name: "racy".into(),
        url: "http://127.0.0.1:9/health".into(),
        expect: Default::default(),
        timeout: Duration::from_millis(100),
        scheduled_at: Timestamp::now(),
    };
    let (a, b) = (scheduler(&pool), scheduler(&pool));
    let now = Timestamp::now();
    let outcome = failed_outcome();
    let (x, y) = tokio::join!(a.record(&claim, now, &outcome), b.record(&claim, now, &outcome));
    let signals = [x.expect("record a"), y.expect("record b")];
    assert_eq!(signals.iter().filter(|s| matches!(s, Signal::Declared(_))).count(), 1, "{signals:?}");
    assert_eq!(probe_incidents(&pool).await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn raw_results_roll_up_per_day_and_old_ones_are_pruned(pool: PgPool) {
    without_seeded_services(&pool).await;
    let id = builders::service("rolled").create(&pool).await;
    for (age_hours, ok, latency) in
        [(0, true, 10), (0, true, 30), (0, false, 900), (0, true, 20), (100, true, 5)]
    {
        sqlx::query(
            "insert into health_probe_results (service_id, scheduled_at, started_at, ok, latency_ms)
             values ($1, now() - make_interval(hours => $2), now() - make_interval(hours => $2), $3, $4)",
        )
        .bind(id)
        .bind(age_hours)
        .bind(ok)
        .bind(latency)
        .execute(&pool)
        .await
        .expect("insert result");
    }
    let (rolled, pruned) = RollupJob { pool: pool.clone() }.run_once().await.expect("roll up");
    assert!(rolled >= 1);
    assert_eq!(pruned, 1, "the 100-hour-old result is past the retention");
    let days = probe_results::days(&pool, id, 5).await.expect("days");
    let today = days.iter().find(|d| d.checks == 4).expect("today's roll-up");
    assert_eq!((today.successes, today.latency_p50_ms), (3, Some(20)));
    assert_eq!(uptime_text(today.checks, today.successes), "75.00 %");
    // Idempotent.
    RollupJob { pool: pool.clone() }.run_once().await.expect("roll up again");
    assert_eq!(
        probe_results::days(&pool, id, 5).await.expect("days").iter().map(|d| d.checks).sum::<i32>(),
        4
    );
}
