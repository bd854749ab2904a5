//! Recurring tasks: one per period in the team's zone across DST, created once however many
//! processes try, overdue ones on the overview, completing one records who and when.

use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sqlx::PgPool;
use twisterlab_domain::recurrence::DEFAULT_TASKS;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::post_expect;
use crate::maintenance::tasks::generate;
use crate::testing::{TestApp, audit_actions, get};

fn utc(s: &str) -> Timestamp {
    s.parse().expect("RFC 3339")
}

async fn created_since(pool: &PgPool, at: &str) {
    sqlx::query("update maintenance_schedules set created_at = $1::timestamptz")
        .bind(at)
        .execute(pool)
        .await
        .expect("backdate the schedules");
}

/// The due times of `key`'s tasks, oldest first, in `zone`.
async fn due(pool: &PgPool, key: &str, zone: &TimeZone) -> Vec<String> {
    let rows: Vec<time::OffsetDateTime> = sqlx::query_scalar(
        "select t.due_at from maintenance_tasks t join maintenance_schedules s on s.id = t.schedule_id
          where s.key = $1 order by t.due_at",
    )
    .bind(key)
    .fetch_all(pool)
    .await
    .expect("tasks");
    rows.into_iter()
        .map(|t| {
            crate::clock::to_jiff(t)
                .to_zoned_datetime(zone.clone())
                .strftime("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .collect()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_seeded_schedules_are_the_runbooks_weekly_vacuum_and_log_cleanup(pool: PgPool) {
    let schedules = crate::db::maintenance_tasks::schedules(&pool).await.expect("schedules");
    for task in DEFAULT_TASKS {
        let s =
            schedules.iter().find(|s| s.key == task.key).unwrap_or_else(|| panic!("{} is seeded", task.key));
        assert_eq!((s.title.as_str(), s.recurrence, s.grace), (task.title, task.recurrence, task.grace));
        assert!(!s.checklist.is_empty() && s.runbook_slug.is_some());
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_weekly_vacuum_stays_at_three_oclock_in_berlin_across_the_spring_change(pool: PgPool) {
    let berlin = TimeZone::get("Europe/Berlin").expect("zone");
    created_since(&pool, "2027-03-10T00:00:00Z").await;
    let mut conn = pool.acquire().await.expect("connection");
    // Saturday before the Sunday the clocks spring forward (2027-03-28): the next day's task
    // is created a day ahead.
    let first = generate(&mut conn, &berlin, utc("2027-03-20T12:00:00Z")).await.expect("generate");
    assert_eq!(first, 4, "the missed 14th and the coming 21st, for both tasks");
    generate(&mut conn, &berlin, utc("2027-03-27T12:00:00Z")).await.expect("generate");
    assert_eq!(
        due(&pool, "vacuum_analyze", &berlin).await,
        ["Sun 2027-03-14 03:00 CET", "Sun 2027-03-21 03:00 CET", "Sun 2027-03-28 03:00 CEST"]
    );
    assert_eq!(
        due(&pool, "log_cleanup", &berlin).await.last().map(String::as_str),
        Some("Sun 2027-03-28 04:00 CEST")
    );
    // Autumn: 03:00 CET again, 169 hours after the week before.
    generate(&mut conn, &berlin, utc("2027-10-30T12:00:00Z")).await.expect("generate");
    let autumn = due(&pool, "vacuum_analyze", &berlin).await;
    assert_eq!(autumn.last().map(String::as_str), Some("Sun 2027-10-31 03:00 CET"));
    assert!(autumn.contains(&"Sun 2027-10-24 03:00 CEST".to_owned()), "{autumn:?}");
    // Again at the same moment, or from two processes at once: nothing more.
    let (a, b) = tokio::join!(
        async {
            let mut c = pool.acquire().await.expect("connection");
            generate(&mut c, &berlin, utc("2027-10-30T12:00:00Z")).await.expect("generate")
        },
        async {
            let mut c = pool.acquire().await.expect("connection");
            generate(&mut c, &berlin, utc("2027-10-30T12:00:00Z")).await.expect("generate")
        }
    );
    assert_eq!(a + b, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_overdue_task_stands_out_on_the_overview_until_someone_completes_it(pool: PgPool) {
    let now = Timestamp::now();
    created_since(&pool, &crate::clock::iso(now - jiff::SignedDuration::from_hours(24 * 9))).await;
    let mut conn = pool.acquire().await.expect("connection");
    generate(&mut conn, &TimeZone::UTC, now).await.expect("generate");
    drop(conn);
    let app = TestApp::new(&pool);
    let viewer = app.signed_in(Role::Viewer).await;
    let responder = app.signed_in(Role::Responder).await;

    let (_, home) = app.send(get("/", Some(&viewer))).await;
    assert!(home.contains("Database vacuum and analyze") && home.contains("overdue by"), "{home:.8000}");

    let overdue = crate::db::maintenance_tasks::overdue(&pool, now).await.expect("overdue");
    let task = overdue.iter().find(|t| t.title == "Database vacuum and analyze").expect("vacuum overdue");
    let path = format!("/maintenance/tasks/{}/complete", task.id);
    post_expect(&app, &viewer, &path, &[("item", "0"), ("item", "1")], StatusCode::FORBIDDEN).await;
    let body = post_expect(&app, &responder, &path, &[("item", "0")], StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body.contains("Confirm every item before completing the task; not confirmed: Check table bloat"),
        "{body:.3000}"
    );
    post_expect(
        &app,
        &responder,
        &path,
        &[("item", "0"), ("item", "1"), ("note", "users table 40 GB")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let again =
        post_expect(&app, &responder, &path, &[("item", "0"), ("item", "1")], StatusCode::CONFLICT).await;
    assert!(again.contains("already completed this task"), "{again:.2000}");

    let done = crate::db::maintenance_tasks::find_task(&pool, task.id).await.expect("find").expect("task");
    assert_eq!(done.completed_by.as_deref(), Some(responder.user.email.as_str()));
    assert!(done.completed_at.is_some_and(|at| at >= now));
    assert_eq!(audit_actions(&pool, "maintenance.task_complete").await.len(), 1);
    let still_overdue: Vec<Uuid> = crate::db::maintenance_tasks::overdue(&pool, Timestamp::now())
        .await
        .expect("overdue")
        .iter()
        .map(|t| t.id)
        .collect();
    assert!(!still_overdue.contains(&task.id));
    let (_, tasks) = app.send(get("/maintenance/tasks", Some(&viewer))).await;
    assert!(tasks.contains("done late") && tasks.contains("users table 40 GB"), "{tasks:.6000}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_adds_a_recurring_task_and_bad_schedules_are_field_errors(pool: PgPool) {
    let app = TestApp::new(&pool);
    let admin = app.signed_in(Role::Admin).await;
    let manager = app.signed_in(Role::Manager).await;
    let fields = [
        ("title", "Rotate TLS certificates"),
        ("cadence", "monthly"),
        ("day_of_month", "31"),
        ("at", "02:30"),
        ("grace_hours", "48"),
        ("checklist", "Renew the certificate\nReload the ingress"),
    ];
    post_expect(&app, &manager, "/maintenance/schedules", &fields, StatusCode::FORBIDDEN).await;
    let body = post_expect(
        &app,
        &admin,
        "/maintenance/schedules",
        &[("title", "x"), ("cadence", "weekly"), ("at", "25:00"), ("grace_hours", "-1")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for field in ["weekday-error", "at-error", "grace_hours-error"] {
        assert!(body.contains(field), "{field}: {body:.3000}");
    }
    post_expect(&app, &admin, "/maintenance/schedules", &fields, StatusCode::SEE_OTHER).await;
    let (_, page) = app.send(get("/maintenance/tasks", Some(&admin))).await;
    assert!(page.contains("every month on day 31 (the last day in shorter months) at 02:30"), "{page:.6000}");
    let dup =
        post_expect(&app, &admin, "/maintenance/schedules", &fields, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(dup.contains("A recurring task with this name exists already"), "{dup:.3000}");
}
