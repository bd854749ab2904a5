//! The public side of a window in every state: the status page HTML, each Statuspage JSON
//! document, the components' status and recorded history, and `/maintenance.ics` read by an
//! iCalendar parser as a calendar program would.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use icalendar::Component as _;
use serde_json::Value;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{post_expect, started_window, tick_all};
use crate::config::{Config, Sources};
use crate::testing::{TestApp, builders::window};

const STATUS_HOST: &str = "status.twisterlab.local";

fn berlin() -> Config {
    Config::from_sources(&Sources::from_pairs([("TWISTERLAB_TIMEZONE", "Europe/Berlin")], toml::Table::new()))
        .expect("valid configuration")
}

/// The status host's `path`, after a rebuild of the cache.
async fn public(app: &TestApp, path: &str) -> String {
    app.status_worker().run_once().await.expect("rebuild");
    let request = Request::get(path).header(header::HOST, STATUS_HOST).body(Body::empty()).expect("request");
    let (response, body) = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}: {body:.500}");
    body
}

pub(super) async fn json(app: &TestApp, path: &str) -> Value {
    serde_json::from_str(&public(app, path).await).expect("JSON")
}

/// `scheduled_maintenances` of `doc` as (id, status) pairs.
async fn listed(app: &TestApp, doc: &str) -> Vec<(String, String)> {
    json(app, doc).await["scheduled_maintenances"]
        .as_array()
        .expect("scheduled_maintenances")
        .iter()
        .map(|m| (m["id"].as_str().unwrap_or("").to_owned(), m["status"].as_str().unwrap_or("").to_owned()))
        .collect()
}

async fn api_status(app: &TestApp) -> String {
    let doc = json(app, "/api/v2/components.json").await;
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["name"] == "API")
        .map(|c| c["status"].as_str().unwrap_or("").to_owned())
        .expect("API listed")
}

async fn history_of_api(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "select h.status from component_status_history h join components c on c.id = h.component_id
          where c.name = 'API' order by h.at, h.id",
    )
    .fetch_all(pool)
    .await
    .expect("history")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_status_page_and_each_statuspage_document_follow_a_window_through_every_state(pool: PgPool) {
    let app = TestApp::with_config(&pool, berlin());
    let commander = app.signed_in(Role::Commander).await;
    let id = window("Database upgrade").on(&["API", "Database"]).create(&pool, &commander.user).await;
    let sid = id.to_string();
    let docs = [
        "/api/v2/summary.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
    ];

    // Draft: nowhere public.
    for doc in docs {
        assert!(listed(&app, doc).await.is_empty(), "{doc} lists a draft");
    }
    assert!(!public(&app, "/").await.contains("Database upgrade"));

    // Scheduled: upcoming, with its times (team zone and UTC) and components.
    post_expect(&app, &commander, &format!("/maintenance/{id}/schedule"), &[], StatusCode::SEE_OTHER).await;
    let scheduled = vec![(sid.clone(), "scheduled".to_owned())];
    assert_eq!(listed(&app, "/api/v2/summary.json").await, scheduled);
    assert_eq!(listed(&app, "/api/v2/scheduled-maintenances.json").await, scheduled);
    assert_eq!(listed(&app, "/api/v2/scheduled-maintenances/upcoming.json").await, scheduled);
    assert!(listed(&app, "/api/v2/scheduled-maintenances/active.json").await.is_empty());
    let stored = crate::db::maintenance::find(&pool, id).await.expect("find").expect("window");
    let m =
        json(&app, "/api/v2/scheduled-maintenances/upcoming.json").await["scheduled_maintenances"][0].clone();
    assert_eq!(m["name"], "Database upgrade");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(m["scheduled_for"], crate::clock::iso(stored.starts_at));
    assert_eq!(m["scheduled_until"], crate::clock::iso(stored.ends_at));
    assert_eq!(m["resolved_at"], Value::Null);
    assert_eq!(m["shortlink"], format!("http://{STATUS_HOST}/incidents/{sid}"));
    let names: Vec<&str> =
        m["components"].as_array().expect("components").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["API", "Database"]);
    assert_eq!(m["incident_updates"][0]["status"], "scheduled");
    assert_eq!(m["incident_updates"][0]["incident_id"], sid.as_str());
    let page = public(&app, "/").await;
    let berlin_start =
        crate::clock::absolute(stored.starts_at, &jiff::tz::TimeZone::get("Europe/Berlin").expect("zone"));
    let utc_start = crate::clock::absolute(stored.starts_at, &jiff::tz::TimeZone::UTC);
    assert!(page.contains("Database upgrade") && page.contains("affects API, Database"), "{page:.4000}");
    assert!(page.contains(&berlin_start) && page.contains(&utc_start), "team zone and UTC: {page:.4000}");
    assert_eq!(api_status(&app).await, "operational", "announced is not under maintenance yet");
    let own_page = public(&app, &format!("/incidents/{sid}")).await;
    assert!(own_page.contains("Database upgrade") && own_page.contains("Scheduled"), "{own_page:.3000}");

    // In progress: the components are under maintenance, the page says so, history records it.
    tick_all(&app, &commander, id).await;
    post_expect(&app, &commander, &format!("/maintenance/{id}/start"), &[], StatusCode::SEE_OTHER).await;
    let active = vec![(sid.clone(), "in_progress".to_owned())];
    assert_eq!(listed(&app, "/api/v2/scheduled-maintenances/active.json").await, active);
    assert!(listed(&app, "/api/v2/scheduled-maintenances/upcoming.json").await.is_empty());
    assert_eq!(listed(&app, "/api/v2/summary.json").await, active);
    assert_eq!(api_status(&app).await, "under_maintenance");
    let summary = json(&app, "/api/v2/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(summary["status"]["description"], "Service Under Maintenance");
    let page = public(&app, "/").await;
    assert!(
        page.contains("Some systems are under maintenance") && page.contains("Under maintenance"),
        "{page:.4000}"
    );
    assert_eq!(history_of_api(&pool).await.last().map(String::as_str), Some("under_maintenance"));

    // Verifying: still active.
    post_expect(&app, &commander, &format!("/maintenance/{id}/verify"), &[], StatusCode::SEE_OTHER).await;
    let verifying = vec![(sid.clone(), "verifying".to_owned())];
    assert_eq!(listed(&app, "/api/v2/scheduled-maintenances/active.json").await, verifying);
    let m =
        json(&app, "/api/v2/scheduled-maintenances/active.json").await["scheduled_maintenances"][0].clone();
    assert!(m["monitoring_at"].is_string(), "{m}");

    // Completed: history only; the components are operational again.
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/complete"),
        &[("outcome", "PostgreSQL 16 is live.")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert!(listed(&app, "/api/v2/summary.json").await.is_empty());
    assert!(listed(&app, "/api/v2/scheduled-maintenances/active.json").await.is_empty());
    assert_eq!(
        listed(&app, "/api/v2/scheduled-maintenances.json").await,
        vec![(sid.clone(), "completed".to_owned())]
    );
    let m = json(&app, "/api/v2/scheduled-maintenances.json").await["scheduled_maintenances"][0].clone();
    assert!(m["resolved_at"].is_string());
    assert_eq!(m["incident_updates"][0]["body"], "PostgreSQL 16 is live.");
    let statuses: Vec<&str> = m["incident_updates"]
        .as_array()
        .expect("updates")
        .iter()
        .filter_map(|u| u["status"].as_str())
        .collect();
    assert_eq!(statuses, ["completed", "verifying", "in_progress", "scheduled"]);
    assert_eq!(api_status(&app).await, "operational");
    assert_eq!(history_of_api(&pool).await.last().map(String::as_str), Some("operational"));
    let page = public(&app, "/").await;
    assert!(!page.contains("Database upgrade"), "off the front page once over: {page:.3000}");
    let history = public(&app, "/history").await;
    assert!(
        history.contains("Database upgrade") && history.contains("PostgreSQL 16 is live."),
        "{history:.4000}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_rolled_back_window_is_completed_publicly_and_a_cancelled_one_leaves_the_page(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (rolled, commander) = started_window(&app, "Deploy v2.1", &["API"]).await;
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{rolled}/rollback"),
        &[("outcome", "Rolled back to v2.0.")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let m = json(&app, "/api/v2/scheduled-maintenances.json").await["scheduled_maintenances"][0].clone();
    assert_eq!(
        (m["status"].as_str(), m["incident_updates"][0]["body"].as_str()),
        (Some("completed"), Some("Rolled back to v2.0."))
    );

    let cancelled = window("Cache resize").on(&["Cache"]).create(&pool, &commander.user).await;
    post_expect(&app, &commander, &format!("/maintenance/{cancelled}/schedule"), &[], StatusCode::SEE_OTHER)
        .await;
    assert_eq!(listed(&app, "/api/v2/scheduled-maintenances/upcoming.json").await.len(), 1);
    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{cancelled}/cancel"),
        &[("reason", "vendor postponed")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert!(listed(&app, "/api/v2/scheduled-maintenances/upcoming.json").await.is_empty());
    let all = listed(&app, "/api/v2/scheduled-maintenances.json").await;
    assert_eq!(all, vec![(rolled.to_string(), "completed".to_owned())]);
    assert!(!public(&app, "/").await.contains("Cache resize"));
    let request = Request::get(format!("/incidents/{cancelled}"))
        .header(header::HOST, STATUS_HOST)
        .body(Body::empty())
        .expect("request");
    assert_eq!(app.send(request).await.0.status(), StatusCode::NOT_FOUND);
}

/// Parses `/maintenance.ics` as a calendar program would.
pub(super) async fn calendar(app: &TestApp) -> icalendar::Calendar {
    let body = public(app, "/maintenance.ics").await;
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"), "{body:.300}");
    for line in body.split("\r\n") {
        assert!(line.len() <= 75, "a line longer than 75 octets: {line:?}");
        assert!(!line.contains('\n'), "bare LF in {line:?}");
    }
    let unfolded = icalendar::parser::unfold(&body);
    let parsed = icalendar::parser::read_calendar(&unfolded).expect("RFC 5545");
    parsed.into()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_maintenance_calendar_lists_announced_windows_and_withdraws_cancelled_ones(pool: PgPool) {
    let app = TestApp::with_config(&pool, berlin());
    let commander = app.signed_in(Role::Commander).await;
    let long_title = "Database upgrade to PostgreSQL 16, with a title long enough to be folded; really";
    let id = window(long_title).on(&["API", "Database"]).create(&pool, &commander.user).await;
    let _draft = window("Not announced yet").on(&["Cache"]).create(&pool, &commander.user).await;
    post_expect(&app, &commander, &format!("/maintenance/{id}/schedule"), &[], StatusCode::SEE_OTHER).await;

    let cal = calendar(&app).await;
    let events: Vec<&icalendar::Event> = cal.events().collect();
    assert_eq!(events.len(), 1, "drafts are not announced");
    let event = events[0];
    let stored = crate::db::maintenance::find(&pool, id).await.expect("find").expect("window");
    assert_eq!(event.get_uid(), Some(format!("{id}@{STATUS_HOST}").as_str()));
    assert_eq!(event.get_summary(), Some(format!("Maintenance: {long_title}").as_str()));
    let utc_seconds = |d: Option<icalendar::DatePerhapsTime>| match d {
        Some(icalendar::DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(t))) => t.timestamp(),
        other => panic!("expected a UTC time, got {other:?}"),
    };
    assert_eq!(utc_seconds(event.get_start()), stored.starts_at.as_second());
    assert_eq!(utc_seconds(event.get_end()), stored.ends_at.as_second());
    assert!(event.get_timestamp().is_some(), "DTSTAMP");
    assert_eq!(event.get_status(), Some(icalendar::EventStatus::Confirmed));
    let description = event.get_description().unwrap_or_default().to_owned();
    assert!(description.contains("Status: Scheduled."), "{description}");
    assert!(description.contains("API") && description.contains("Database"), "{description}");

    post_expect(
        &app,
        &commander,
        &format!("/maintenance/{id}/cancel"),
        &[("reason", "postponed")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let cal = calendar(&app).await;
    let event = cal.events().next().expect("still listed, to be withdrawn");
    assert_eq!(event.get_status(), Some(icalendar::EventStatus::Cancelled));
    assert!(event.property_value("SEQUENCE").and_then(|s| s.parse::<i32>().ok()).is_some_and(|s| s >= 2));
}
