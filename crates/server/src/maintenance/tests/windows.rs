//! Windows over HTTP with each role: bad input, the 48-hour rule and its override, the
//! checklist gate and its override, overlaps, the end of a window, refusals once finished.

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{location, post_expect, scheduled_window, started_window, state};
use crate::testing::builders::window;
use crate::testing::{TestApp, audit_actions, get};

/// A time `from_now` ahead as the form's `datetime-local` value in UTC (the default zone).
fn local(from_now: SignedDuration) -> String {
    (Timestamp::now() + from_now)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn windows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from maintenance_windows").fetch_one(pool).await.expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn bad_times_missing_or_unknown_components_are_field_errors_and_nothing_is_saved(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let api =
        crate::db::components::id_by_name(&pool, "API").await.expect("lookup").expect("API").to_string();

    let body = post_expect(
        &app,
        &commander,
        "/maintenance",
        &[
            ("title", " "),
            ("starts_at", &local(SignedDuration::from_hours(-2))),
            ("ends_at", &local(SignedDuration::from_hours(-3))),
        ],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for message in [
        "the title is empty",
        "the start is in the past: pick a time from now on",
        "the end must be after the start",
        "choose at least one affected component",
    ] {
        assert!(body.contains(message), "{message}: {body:.3000}");
    }
    assert!(body.contains(r#"id="ends_at-error""#), "the error sits next to its field");

    let too_long = post_expect(
        &app,
        &commander,
        "/maintenance",
        &[
            ("title", "Postgres 16 upgrade"),
            ("starts_at", &local(SignedDuration::from_hours(72))),
            ("ends_at", &local(SignedDuration::from_hours(72 + 13))),
            ("components", &api),
        ],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(too_long.contains("the window lasts 13 h; the longest allowed is 12 h"), "{too_long:.3000}");

    let unknown = post_expect(
        &app,
        &commander,
        "/maintenance",
        &[
            ("title", "Postgres 16 upgrade"),
            ("starts_at", &local(SignedDuration::from_hours(72))),
            ("ends_at", &local(SignedDuration::from_hours(75))),
            ("components", "0193a000-0000-7000-8000-00000000ffff"),
        ],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        unknown.contains("No component has the id 0193a000-0000-7000-8000-00000000ffff"),
        "{unknown:.3000}"
    );
    assert_eq!(windows(&pool).await, 0, "nothing saved half-way");

    let (response, _) = app
        .send(crate::testing::post_form(
            "/maintenance",
            Some(&commander),
            &[
                ("title", "Postgres 16 upgrade"),
                ("starts_at", &local(SignedDuration::from_hours(72))),
                ("ends_at", &local(SignedDuration::from_hours(75))),
                ("components", &api),
            ],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = location(&response).to_owned();
    let (_, html) = app.send(get(&page, Some(&commander))).await;
    assert!(html.contains("Draft created"), "{html:.2000}");
    assert!(html.contains("Back up the database") && html.contains("(needs evidence)"), "{html:.4000}");
    assert!(html.contains("Not on the status page until it is scheduled"), "{html:.4000}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn less_than_48_hours_notice_needs_a_manager_and_a_written_reason(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let manager = app.signed_in(Role::Manager).await;
    let responder = app.signed_in(Role::Responder).await;
    let id = window("Emergency kernel patch")
        .starting_in(SignedDuration::from_hours(20))
        .create(&pool, &commander.user)
        .await;
    let path = format!("/maintenance/{id}/schedule");

    post_expect(&app, &responder, &path, &[], StatusCode::FORBIDDEN).await;
    let body = post_expect(&app, &commander, &path, &[], StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.contains("A manager can schedule it anyway with a written reason"), "{body:.3000}");
    assert!(
        body.contains(" notice, ") && body.contains(" short of 48 h"),
        "the notice in words: {body:.3000}"
    );
    let body = post_expect(
        &app,
        &commander,
        &path,
        &[("short_notice_reason", "CVE under attack")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        body.contains("Only a manager or an admin can schedule a window with less than 48 hours&#39; notice")
            || body.contains(
                "Only a manager or an admin can schedule a window with less than 48 hours&#x27; notice"
            ),
        "{body:.3000}"
    );
    assert_eq!(super::state(&pool, id).await, "draft");

    post_expect(
        &app,
        &manager,
        &path,
        &[("short_notice_reason", "CVE-2026-1234 under active exploit")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert_eq!(state(&pool, id).await, "scheduled");
    let overrides = audit_actions(&pool, "maintenance.override_short_notice").await;
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].actor_user_id, Some(manager.user.id));
    assert_eq!(
        overrides[0].after.as_ref().and_then(|a| a["reason"].as_str()),
        Some("CVE-2026-1234 under active exploit")
    );
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(
        html.contains("Short notice approved") && html.contains("CVE-2026-1234 under active exploit"),
        "{html:.4000}"
    );
    // Scheduling is the announcement: the checklist says so.
    assert!(html.contains("☑ Announce the maintenance 48 hours in advance"), "{html:.6000}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_window_starts_only_when_every_item_is_ticked_unless_a_manager_overrides_with_a_reason(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let (id, commander) = scheduled_window(&app, "Database upgrade").await;
    let viewer = app.signed_in(Role::Viewer).await;
    let responder = app.signed_in(Role::Responder).await;
    let manager = app.signed_in(Role::Manager).await;
    let start = format!("/maintenance/{id}/start");

    let body = post_expect(&app, &commander, &start, &[], StatusCode::CONFLICT).await;
    assert!(body.contains("3 checklist items are not ticked (Back up the database, Test the rollback procedure, Prepare the rollback plan)"), "{body:.3000}");
    let body = post_expect(
        &app,
        &commander,
        &start,
        &[("override_reason", "we are in a hurry")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        body.contains("Only a manager or an admin can start a window before every checklist item is ticked"),
        "{body:.3000}"
    );

    let tick_backup = format!("/maintenance/{id}/checklist/database_backed_up/tick");
    post_expect(&app, &viewer, &tick_backup, &[("evidence", "x")], StatusCode::FORBIDDEN).await;
    let body =
        post_expect(&app, &responder, &tick_backup, &[("evidence", " ")], StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert!(body.contains("needs an evidence note: say where the backup is"), "{body:.3000}");
    assert!(body.contains(r#"id="evidence-error""#), "the error sits next to the item's field: {body:.3000}");
    post_expect(
        &app,
        &responder,
        &tick_backup,
        &[("evidence", "s3://twisterlab-backups/2026-12-05.sql.gz")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&viewer))).await;
    assert!(html.contains("s3://twisterlab-backups/2026-12-05.sql.gz"), "{html:.6000}");
    assert!(!html.contains("/tick\""), "viewers get no tick forms");

    post_expect(
        &app,
        &manager,
        &start,
        &[("override_reason", "rollback rehearsed on staging yesterday")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert_eq!(state(&pool, id).await, "in_progress");
    let overrides = audit_actions(&pool, "maintenance.override_checklist").await;
    assert_eq!(overrides.len(), 1);
    let after = overrides[0].after.clone().expect("after");
    assert_eq!(after["reason"], "rollback rehearsed on staging yesterday");
    assert_eq!(after["unticked"], serde_json::json!(["rollback_tested", "rollback_plan_ready"]));
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&viewer))).await;
    assert!(
        html.contains("Started with unticked items") && html.contains("rollback_tested, rollback_plan_ready"),
        "{html:.6000}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_ticked_window_starts_and_ends_completed_or_rolled_back_with_its_outcome_posted(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Deploy v2.0", &["API"]).await;
    assert_eq!(state(&pool, id).await, "in_progress");
    assert_eq!(audit_actions(&pool, "maintenance.override_checklist").await.len(), 0, "no override needed");
    post_expect(&app, &commander, &format!("/maintenance/{id}/verify"), &[], StatusCode::SEE_OTHER).await;
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/complete"),
        &[("outcome", "v2.0 is live.")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert_eq!(state(&pool, id).await, "completed");
    let updates = crate::db::maintenance::updates(&pool, id).await.expect("updates");
    let statuses: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
    assert_eq!(statuses, ["completed", "verifying", "in_progress", "scheduled"]);
    assert_eq!(updates[0].body, "v2.0 is live.");

    let (other, commander) = started_window(&app, "Deploy v2.1", &["Database"]).await;
    let rollback = format!("/maintenance/{other}/rollback");
    let body =
        post_expect(&app, &commander, &rollback, &[("outcome", "")], StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.contains("Write something: it is posted on the status page."), "{body:.3000}");
    post_expect(
        &app,
        &commander,
        &rollback,
        &[("outcome", "Migrations failed; v2.0 is back.")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert_eq!(state(&pool, other).await, "rolled_back");
    assert_eq!(audit_actions(&pool, "maintenance.roll_back").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn finished_and_cancelled_windows_refuse_changes_with_the_reason(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (done, commander) = started_window(&app, "Deploy v2.0", &["API"]).await;
    let body = post_expect(
        &app,
        &commander,
        &format!("/maintenance/{done}/cancel"),
        &[("reason", "oops")],
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body.contains("An in-progress window cannot be cancelled: roll it back instead"), "{body:.3000}");
    post_expect(&app, &commander, &format!("/maintenance/{done}/complete"), &[], StatusCode::SEE_OTHER).await;
    let body = post_expect(
        &app,
        &commander,
        &format!("/maintenance/{done}/checklist/rollback_tested/untick"),
        &[],
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body.contains("The window is completed: its checklist can no longer change"), "{body:.3000}");

    let (id, commander) = scheduled_window(&app, "Cache resize").await;
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/cancel"),
        &[("reason", "")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/cancel"),
        &[("reason", "vendor postponed")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let body =
        post_expect(&app, &commander, &format!("/maintenance/{id}/start"), &[], StatusCode::CONFLICT).await;
    assert!(body.contains("A cancelled window cannot start"), "{body:.3000}");
    let body = post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/checklist/rollback_tested/tick"),
        &[("evidence", "late")],
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body.contains("The window is cancelled: its checklist can no longer change"), "{body:.3000}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn overlapping_windows_on_one_component_need_a_reason(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (_, commander) = scheduled_window(&app, "Database upgrade").await;
    let other = window("API certificates")
        .on(&["API", "Agents"])
        .starting_in(SignedDuration::from_hours(73))
        .create(&pool, &commander.user)
        .await;
    let path = format!("/maintenance/{other}/schedule");
    let body = post_expect(&app, &commander, &path, &[], StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body.contains("This window overlaps 1 other window on the same components: give a reason to schedule it anyway (“Database upgrade”)"),
        "{body:.3000}"
    );
    post_expect(
        &app,
        &commander,
        &path,
        &[("overlap_reason", "same team, same night")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, html) = app.send(get(&format!("/maintenance/{other}"), Some(&commander))).await;
    assert!(html.contains("Overlaps accepted") && html.contains("same team, same night"), "{html:.4000}");
    let (_, list) = app.send(get("/maintenance", Some(&commander))).await;
    assert!(list.contains("Database upgrade") && list.contains("API certificates"), "{list:.4000}");
}
