//! Editing a draft and rescheduling a scheduled window: over the pages with each role (the
//! 48-hour rule from the original announcement, stale versions, started windows refused), the
//! public effect (update, Statuspage JSON, calendar SEQUENCE), the JSON API's PATCH, and the
//! guided run's step changes on the window's log.

use axum::http::{Method, StatusCode};
use icalendar::Component as _;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::public::{calendar, json as public_json};
use super::{post_expect, scheduled_window, started_window};
use crate::db::maintenance::{self as store, Window};
use crate::testing::builders::window;
use crate::testing::{Browser, TestApp, api_request, api_token, audit_actions, get, user};

const API: &str = "0193a000-0000-7000-8000-000000000011";
const DATABASE: &str = "0193a000-0000-7000-8000-000000000015";

async fn stored(pool: &PgPool, id: Uuid) -> Window {
    store::find(pool, id).await.expect("find").expect("window")
}

/// `t` as the form's `datetime-local` value in UTC (the test app's zone).
fn minute(t: Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// Posts the edit form of window `w` as `who`, with `changes` over the window's current values.
async fn save(
    app: &TestApp,
    who: &Browser,
    w: &Window,
    changes: &[(&str, &str)],
    status: StatusCode,
) -> String {
    let (starts, ends, version) = (minute(w.starts_at), minute(w.ends_at), w.version.to_string());
    let mut fields: Vec<(&str, &str)> = vec![
        ("title", &w.title),
        ("description", &w.description),
        ("starts_at", &starts),
        ("ends_at", &ends),
        ("version", &version),
        ("log_seen", "0"),
    ];
    fields.retain(|(name, _)| !changes.iter().any(|(changed, _)| changed == name));
    fields.extend_from_slice(changes);
    if !changes.iter().any(|(name, _)| *name == "components") {
        fields.push(("components", API));
    }
    post_expect(app, who, &format!("/maintenance/{}/edit", w.id), &fields, status).await
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_commander_fixes_a_drafts_title_and_components_and_the_log_shows_before_and_after(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let responder = app.signed_in(Role::Responder).await;
    let id = window("Databse upgrade").create(&pool, &commander.user).await;
    let draft = stored(&pool, id).await;

    let (response, html) = app.send(get(&format!("/maintenance/{id}/edit"), Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(html.contains("Databse upgrade") && html.contains(&minute(draft.starts_at)), "{html:.3000}");
    let (response, _) = app.send(get(&format!("/maintenance/{id}/edit"), Some(&responder))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let bad = save(
        &app,
        &commander,
        &draft,
        &[("title", " "), ("ends_at", "2020-01-01T00:00")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(bad.contains("the title is empty") && bad.contains("Databse upgrade"), "{bad:.3000}");
    assert_eq!(stored(&pool, id).await.version, draft.version, "nothing saved");

    let (_, show) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(show.contains(&format!("/maintenance/{id}/edit")), "a draft has an edit link");
    let (_, show) = app.send(get(&format!("/maintenance/{id}"), Some(&responder))).await;
    assert!(!show.contains(&format!("/maintenance/{id}/edit")), "only commanders edit");

    let fields = [("title", "Database upgrade"), ("components", API), ("components", DATABASE)];
    save(&app, &commander, &draft, &fields, StatusCode::SEE_OTHER).await;
    let edited = stored(&pool, id).await;
    assert_eq!(edited.title, "Database upgrade");
    assert_eq!((edited.starts_at, edited.ends_at), (draft.starts_at, draft.ends_at), "times left as shown");
    assert_eq!(edited.version, draft.version + 1);
    let names: Vec<String> =
        store::components(&pool, id).await.expect("components").into_iter().map(|c| c.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(store::updates(&pool, id).await.expect("updates").is_empty(), "a draft is not public");
    let (_, show) = app.send(get(&format!("/maintenance/{id}?notice=edited"), Some(&commander))).await;
    assert!(
        show.contains("edited the window: title \u{201c}Databse upgrade\u{201d} \u{2192} \u{201c}Database upgrade\u{201d}"),
        "{show:.6000}"
    );
    assert!(show.contains("components API \u{2192} API, Database"), "{show:.6000}");
    let audit = audit_actions(&pool, "maintenance.edit").await;
    assert_eq!(audit.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn rescheduling_later_posts_a_public_update_and_the_calendar_sequence_increases(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = scheduled_window(&app, "Database upgrade").await;
    let before = stored(&pool, id).await;
    let sequence = |cal: &icalendar::Calendar| {
        cal.events().next().and_then(|e| e.property_value("SEQUENCE")).and_then(|s| s.parse::<i32>().ok())
    };
    let old_sequence = sequence(&calendar(&app).await).expect("SEQUENCE");

    let new_start = before.starts_at + SignedDuration::from_hours(24);
    let new_end = new_start + SignedDuration::from_hours(2);
    let (starts, ends) = (minute(new_start), minute(new_end));
    save(&app, &commander, &before, &[("starts_at", &starts), ("ends_at", &ends)], StatusCode::SEE_OTHER)
        .await;

    let after = stored(&pool, id).await;
    assert_eq!(minute(after.starts_at), starts);
    assert_eq!(after.announced_at, before.announced_at, "the announcement stays the original one");
    let updates = store::updates(&pool, id).await.expect("updates");
    let words = format!(
        "Rescheduled: now {}\u{2013}{} (was ",
        new_start.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%a %Y-%m-%d %H:%M"),
        new_end.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%H:%M UTC")
    );
    assert!(updates[0].body.starts_with(&words), "{:?}", updates[0].body);

    let upcoming = public_json(&app, "/api/v2/scheduled-maintenances/upcoming.json").await;
    let m = &upcoming["scheduled_maintenances"][0];
    let scheduled_for = m["scheduled_for"].as_str().and_then(|s| s.parse::<Timestamp>().ok());
    assert_eq!(scheduled_for.map(minute), Some(starts.clone()), "{m}");
    assert!(m["incident_updates"].to_string().contains("Rescheduled: now"), "{m}");
    let cal = calendar(&app).await;
    assert!(sequence(&cal).is_some_and(|s| s > old_sequence), "SEQUENCE grows: {:?}", sequence(&cal));
    assert_eq!(audit_actions(&pool, "maintenance.edit").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn moving_the_start_earlier_under_48_hours_needs_a_manager_and_a_written_reason(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = scheduled_window(&app, "Kernel patch").await;
    let manager = app.signed_in(Role::Manager).await;
    let before = stored(&pool, id).await;
    let earlier = Timestamp::now() + SignedDuration::from_hours(30);
    let (starts, ends) = (minute(earlier), minute(earlier + SignedDuration::from_hours(2)));
    let times = [("starts_at", starts.as_str()), ("ends_at", ends.as_str())];

    let body = save(&app, &commander, &before, &times, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.contains("A manager can move it anyway with a written reason"), "{body:.4000}");
    assert!(body.contains(" short of 48 h"), "the notice from the announcement: {body:.4000}");
    let with_reason = [times[0], times[1], ("short_notice_reason", "disk failing")];
    let body = save(&app, &commander, &before, &with_reason, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body.contains("Only a manager or an admin can move a window&#") && body.contains("disk failing"),
        "the commander is refused the override and the reason is kept: {body:.4000}"
    );
    save(&app, &manager, &before, &times, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(stored(&pool, id).await.starts_at, before.starts_at, "nothing saved");

    save(&app, &manager, &before, &with_reason, StatusCode::SEE_OTHER).await;
    let after = stored(&pool, id).await;
    assert_eq!(minute(after.starts_at), starts);
    let approval = after.short_notice.expect("recorded on the window");
    assert_eq!(approval.reason, "disk failing");
    let audit = audit_actions(&pool, "maintenance.override_short_notice").await;
    assert_eq!(audit.len(), 1, "audited");
    let (_, show) = app.send(get(&format!("/maintenance/{id}"), Some(&manager))).await;
    assert!(show.contains("earlier start approved") && show.contains("disk failing"), "{show:.6000}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_stale_version_is_a_409_that_keeps_the_typed_values_and_says_what_changed(pool: PgPool) {
    let app = TestApp::new(&pool);
    let alice = app.signed_in(Role::Commander).await;
    let bob = app.signed_in(Role::Commander).await;
    let id = window("Cache resize").create(&pool, &alice.user).await;
    let opened = stored(&pool, id).await;
    let seen = store::events(&pool, id).await.expect("events").len().to_string();
    save(&app, &bob, &opened, &[("title", "Cache resize to 8 GB")], StatusCode::SEE_OTHER).await;

    let fields = [("title", "Cache resize (Redis 7)"), ("log_seen", seen.as_str())];
    let body = save(&app, &alice, &opened, &fields, StatusCode::CONFLICT).await;
    assert!(body.contains("Cache resize (Redis 7)"), "the typed title is kept: {body:.4000}");
    assert!(body.contains("changed since you opened this form"), "{body:.4000}");
    assert!(body.contains("\u{201c}Cache resize to 8 GB\u{201d}"), "what changed: {body:.4000}");
    let now = stored(&pool, id).await;
    assert_eq!(now.title, "Cache resize to 8 GB", "nothing saved");
    assert!(
        body.contains(&format!("name=\"version\" value=\"{}\"", now.version)),
        "saving again is possible"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_started_window_cannot_be_edited_and_offers_no_edit_link(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Deploy v2.1", &["API"]).await;
    let (response, body) = app.send(get(&format!("/maintenance/{id}/edit"), Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(body.contains("An in-progress window cannot be edited"), "{body:.3000}");
    let w = stored(&pool, id).await;
    let body = save(&app, &commander, &w, &[("title", "Deploy v2.2")], StatusCode::CONFLICT).await;
    assert!(body.contains("cannot be edited"), "{body:.3000}");
    assert_eq!(stored(&pool, id).await.title, "Deploy v2.1");
    let (_, show) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(!show.contains(&format!("/maintenance/{id}/edit")), "no edit link once started");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_windows_log_shows_its_guided_runs_step_changes_with_who(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Upgrade to v2.0", &["API"]).await;
    let run = stored(&pool, id).await.run_id.expect("run");
    let responder = app.signed_in(Role::Responder).await;
    let base = format!("/runs/{run}/steps");
    post_expect(&app, &responder, &format!("{base}/announce-48-hours/complete"), &[], StatusCode::SEE_OTHER)
        .await;
    post_expect(
        &app,
        &responder,
        &format!("{base}/update-status-page/skip"),
        &[("update-status-page--reason", "done at scheduling")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, show) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    let who = &responder.user.email;
    assert!(
        show.contains(&format!("{who} marked step \u{201c}Announce maintenance 48 hours in advance\u{201d} of the guided run done")),
        "{show:.8000}"
    );
    assert!(
        show.contains("\u{201c}Update status page\u{201d} of the guided run skipped: done at scheduling"),
        "{show:.8000}"
    );
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (response, text) = app.send(api_request(method, path, Some(token), body.as_ref())).await;
    (response.status(), serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn at(from_now: SignedDuration) -> String {
    crate::clock::iso(Timestamp::now() + from_now)
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_api_patch_edits_reschedules_and_refuses_as_the_pages_do(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = api_token(&pool, &user(&pool, Role::Commander).await, "deploy bot").await;
    let manager = api_token(&pool, &user(&pool, Role::Manager).await, "ops lead").await;
    let viewer = api_token(&pool, &user(&pool, Role::Viewer).await, "dashboard").await;
    let h = SignedDuration::from_hours;
    let new = json!({"title": "Databse upgrade", "starts_at": at(h(72)), "ends_at": at(h(75)), "components": [API]});
    let (status, created) = call(&app, Method::POST, "/api/v1/maintenance", &commander, Some(new)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = created["url"].as_str().unwrap_or_default().to_owned();
    let v1 = created["version"].as_i64().unwrap_or_default();

    let (status, _) = call(&app, Method::PATCH, &path, &viewer, Some(json!({"title": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&app, Method::PATCH, &path, &commander, Some(json!({"version": v1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty patch: {body}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &path,
        &commander,
        Some(json!({"title": "Database upgrade", "version": v1})),
    )
    .await;
    assert_eq!((status, body["title"].as_str()), (StatusCode::OK, Some("Database upgrade")), "{body}");
    assert_eq!(body["version"].as_i64(), Some(v1 + 1));
    assert_eq!(body["components"][0]["id"].as_str(), Some(API), "left out: unchanged");
    let (status, body) =
        call(&app, Method::PATCH, &path, &commander, Some(json!({"title": "Stale", "version": v1}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "stale: {body}");
    let (status, body) =
        call(&app, Method::PATCH, &path, &commander, Some(json!({"ends_at": at(h(70))}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "ends_at", "{body}");

    let (status, body) = call(&app, Method::POST, &format!("{path}/schedule"), &commander, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let earlier = json!({"starts_at": at(h(30)), "ends_at": at(h(32))});
    let (status, body) = call(&app, Method::PATCH, &path, &commander, Some(earlier.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "the state asks for a reason: {body}");
    assert_eq!(body["errors"][0]["field"], "short_notice_reason", "{body}");
    let mut with_reason = earlier.clone();
    with_reason["short_notice_reason"] = json!("disk failing");
    let (status, body) = call(&app, Method::PATCH, &path, &commander, Some(with_reason.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a commander cannot override: {body}");
    let (status, body) = call(&app, Method::PATCH, &path, &manager, Some(with_reason)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["short_notice_override"]["reason"], "disk failing", "{body}");
    assert!(
        body["updates"][0]["body"].as_str().is_some_and(|b| b.starts_with("Rescheduled: now ")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        Method::PATCH,
        &path,
        &commander,
        Some(json!({"starts_at": at(h(40)), "ends_at": at(h(41))})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "later is always fine: {body}");

    let (started, _) = started_window(&app, "Deploy v2.1", &["API"]).await;
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/maintenance/{started}"),
        &commander,
        Some(json!({"title": "Deploy v2.2"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("cannot be edited")), "{body}");
}
