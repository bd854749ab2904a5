//! App-level tests of the status page: `app().oneshot()` against a fresh database, the worker's
//! `run_once` for rebuilds, no sleeping.

use std::io::Read as _;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tower::ServiceExt as _;
use twisterlab_domain::incident::{Impact, IncidentNumber, IncidentStatus};
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::cache::ApiDoc;
use super::html::STALE_NOTE;
use super::worker::StatusPageWorker;
use crate::db::users::User;
use crate::incidents::service;
use crate::state::AppState;
use crate::testing::builders::incident;
use crate::testing::{self, send};

const STATUS_HOST: &str = "status.twisterlab.local";
const API: &str = "0193a000-0000-7000-8000-000000000011";
const DATABASE: &str = "0193a000-0000-7000-8000-000000000015";
const CACHE: &str = "0193a000-0000-7000-8000-000000000016";

fn id(s: &str) -> Uuid {
    s.parse().expect("uuid")
}

/// A GET to the status host with extra headers.
fn status_get(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    host_request(Method::GET, STATUS_HOST, path, headers)
}

/// A request to `host` with any method and headers (the harness's `get` and `post_form` are
/// browser requests to the internal host).
fn host_request(method: Method, host: &str, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, host);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::empty()).expect("request")
}

/// Sends and returns status, headers and the raw body bytes.
async fn fetch(app: &axum::Router, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.expect("the app answers");
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.expect("body");
    (parts.status, parts.headers, bytes.to_vec())
}

async fn text(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let (status, _, body) = fetch(app, request).await;
    (status, String::from_utf8(body).expect("utf-8"))
}

/// The app and a worker for it, built once.
async fn built(pool: &PgPool) -> (axum::Router, StatusPageWorker) {
    let test_app = testing::TestApp::new(pool);
    let worker = test_app.status_worker();
    worker.run_once().await.expect("first build");
    (test_app.router, worker)
}

async fn public_update(
    pool: &PgPool,
    by: &User,
    number: IncidentNumber,
    body: &str,
    status: Option<IncidentStatus>,
) {
    let mut tx = pool.begin().await.expect("begin");
    service::post_public_update(&mut tx, &testing::actor(by), number, body, status, None)
        .await
        .expect("public update");
    tx.commit().await.expect("commit");
}

// ---------------------------------------------------------------------------------------------
// Routing.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_status_host_serves_the_status_page_and_nothing_internal(pool: PgPool) {
    let (app, _worker) = built(&pool).await;
    let (status, body) = text(&app, status_get("/", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("All systems operational"), "{body}");
    for name in ["API", "MCP tools", "Agents", "LLM backend", "Database", "Cache"] {
        assert!(body.contains(name), "{name} missing");
    }
    assert!(!body.contains("Sign in") && !body.contains("/login"), "an internal link leaked: {body}");
    // The port and the case of the host do not matter.
    let (status, body) =
        text(&app, host_request(Method::GET, "STATUS.TwisterLab.local:8080", "/", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("All systems operational"));
    for path in [
        "/login",
        "/admin/users",
        "/admin/components",
        "/health",
        "/metrics",
        "/status",
        "/api/v1/me",
        "/nope",
    ] {
        let (status, body) = text(&app, status_get(path, &[])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} on the status host: {body:.200}");
        assert!(!body.contains("Sign in"), "{path}: {body}");
    }
    // The internal host keeps its own pages and serves the status page under /status.
    let (status, body) = text(&app, host_request(Method::GET, "localhost", "/status", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("All systems operational") && body.contains("href=\"/status/history\""), "{body}");
    let (status, body) =
        text(&app, host_request(Method::GET, "localhost", "/", &[("accept", "text/html")])).await;
    assert!(
        !body.contains("All systems operational"),
        "{status}: the internal / is the overview, not the status page"
    );
}

/// The status host answers its cached documents on a path of their own (no router, no layers):
/// they must still carry every security header and count in the request metrics under their
/// route, like the pages the router answers.
#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_status_host_answer_carries_the_security_headers_and_counts_in_the_metrics(pool: PgPool) {
    let test_app = testing::TestApp::new(&pool);
    test_app.status_worker().run_once().await.expect("first build");
    let app = test_app.router.clone();
    let (_, page, _) = fetch(&app, status_get("/", &[])).await;
    let etag = page[header::ETAG].to_str().expect("etag").to_owned();
    let requests = [
        ("/", status_get("/", &[])),
        ("/", status_get("/?utm_source=mail", &[("accept-encoding", "br")])),
        ("/", status_get("/", &[("if-none-match", etag.as_str())])),
        ("/api/v2/summary.json", status_get("/api/v2/summary.json", &[])),
        ("/history.atom", status_get("/history.atom", &[])),
        ("/history", status_get("/history", &[])),
        ("/static/{file}", status_get("/static/status.css", &[])),
        ("HEAD /", host_request(Method::HEAD, STATUS_HOST, "/", &[])),
        ("404", status_get("/nope", &[])),
    ];
    for (what, request) in requests {
        let (status, headers, _) = fetch(&app, request).await;
        for (name, value) in crate::web::security::headers(false) {
            assert_eq!(headers.get(&name), Some(&value), "{what} ({status}) lacks {name}");
        }
    }
    let metrics = test_app.state.http_metrics.render();
    for series in [
        "route=\"/\",method=\"GET\",status=\"200\"",
        "route=\"/\",method=\"GET\",status=\"304\"",
        "route=\"/api/v2/summary.json\",method=\"GET\",status=\"200\"",
        "route=\"/history.atom\",method=\"GET\",status=\"200\"",
    ] {
        let count = metrics
            .lines()
            .find(|l| l.starts_with("http_request_duration_seconds_count{") && l.contains(series))
            .unwrap_or_else(|| panic!("no series {series} in:\n{metrics}"));
        assert!(!count.ends_with(" 0"), "{count}");
    }
    let home_200 = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_request_duration_seconds_count{route=\"/\",method=\"GET\",status=\"200\"}")
        })
        .expect("series");
    assert!(home_200.ends_with(" 3"), "three 200s of / (one before the loop, two in it): {home_200}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_status_documents_are_get_only(pool: PgPool) {
    let (app, _worker) = built(&pool).await;
    for path in ["/", "/history", "/api/v2/summary.json", "/history.atom"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (status, _, _) = fetch(&app, host_request(method.clone(), STATUS_HOST, path, &[])).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
        let (status, _, body) = fetch(&app, host_request(Method::HEAD, STATUS_HOST, path, &[])).await;
        assert_eq!(status, StatusCode::OK, "HEAD {path}");
        assert!(body.is_empty());
    }
    let (status, _, _) =
        fetch(&app, host_request(Method::POST, "localhost", "/api/v2/status.json", &[])).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn before_the_first_build_the_status_site_answers_503(_pool: PgPool) {
    // A database that is never reachable: no build can succeed.
    let dead = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nowhere")
        .expect("lazy pool");
    let app = crate::app(AppState::new(dead, testing::config(), "nowhere".into()));
    let (status, headers, body) = fetch(&app, status_get("/", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("text/plain; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&body).contains("no data yet"));
    let (status, _, _) =
        fetch(&app, host_request(Method::GET, "localhost", "/api/v2/status.json", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

// ---------------------------------------------------------------------------------------------
// Roll-up, page content, history.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_open_public_incident_turns_its_components_and_the_banner(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let number = incident("Elevated API errors")
        .severity(Severity::P2)
        .affecting(id(API), Impact::PartialOutage)
        .by(&commander)
        .declare(&pool)
        .await
        .number;
    public_update(&pool, &commander, number, "We are **investigating** elevated error rates.", None).await;
    public_update(
        &pool,
        &commander,
        number,
        "The cause is a connection pool limit.",
        Some(IncidentStatus::Identified),
    )
    .await;
    let (app, worker) = built(&pool).await;
    let (_, body) = text(&app, status_get("/", &[])).await;
    assert!(body.contains("Partial system outage"), "{body}");
    assert!(body.contains("Elevated API errors"));
    assert!(body.contains("<strong>investigating</strong>"), "Markdown renders: {body}");
    let newest = body.find("connection pool limit").expect("newest update");
    let oldest = body.find("elevated error rates").expect("oldest update");
    assert!(newest < oldest, "updates are newest first");
    assert!(body.contains("state-partial_outage\">Partial outage"), "the state is spelled out: {body}");
    assert!(
        body.contains(" · began <time datetime=\"")
            && body.contains(" UTC</time> <span class=\"muted\">(just now)</span>"),
        "times read as on every portal page: {body}"
    );

    // Resolving clears the component and the banner after the next rebuild.
    let mut tx = pool.begin().await.expect("begin");
    service::resolve(&mut tx, &testing::actor(&commander), number, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    worker.run_once().await.expect("rebuild");
    let (_, body) = text(&app, status_get("/", &[])).await;
    assert!(body.contains("All systems operational"), "{body}");
    assert!(body.contains("Resolved in the last 7 days") && body.contains("Elevated API errors"));
}

async fn history_rows(pool: &PgPool, component: &str) -> Vec<String> {
    sqlx::query_scalar("select status from component_status_history where component_id = $1 order by at, id")
        .bind(id(component))
        .fetch_all(pool)
        .await
        .expect("history")
}

async fn all_history_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from component_status_history").fetch_one(pool).await.expect("count")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_rebuild_reads_the_history_and_never_writes_it(pool: PgPool) {
    // Every component's history starts at its creation: the seeded ones from the migrations.
    assert_eq!(all_history_rows(&pool).await, 6, "one row per component before any rebuild");
    let (app, worker) = built(&pool).await;
    worker.run_once().await.expect("rebuild");
    assert_eq!(all_history_rows(&pool).await, 6, "building the page wrote nothing");
    // A status changed behind the portal's back (by hand in SQL): the page computes and shows
    // it, and still records nothing; only a use case (or the next start) records.
    sqlx::query("update components set manual_status = 'major_outage', manual_reason = 'test' where id = $1")
        .bind(id(DATABASE))
        .execute(&pool)
        .await
        .expect("pin by hand");
    worker.run_once().await.expect("rebuild");
    worker.run_once().await.expect("rebuild");
    let (_, body) = text(&app, status_get("/", &[])).await;
    assert!(body.contains("Major service outage"), "the page computes the status: {body:.2000}");
    assert_eq!(all_history_rows(&pool).await, 6, "rebuilding wrote nothing");
    assert_eq!(history_rows(&pool, DATABASE).await, vec!["operational"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_status_change_records_history_in_its_own_transaction(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let number = incident("API errors")
        .severity(Severity::P2)
        .affecting(id(API), Impact::PartialOutage)
        .by(&commander)
        .declare(&pool)
        .await
        .number;
    // No rebuild has run: the declaration itself recorded the change.
    assert_eq!(history_rows(&pool, API).await, vec!["operational", "partial_outage"]);
    // A private incident does not reach the page, so it changes no public status.
    incident("Private DB issue")
        .severity(Severity::P1)
        .affecting(id(DATABASE), Impact::MajorOutage)
        .private(true)
        .by(&commander)
        .declare(&pool)
        .await;
    assert_eq!(history_rows(&pool, DATABASE).await, vec!["operational"]);

    // A change that is rolled back records nothing.
    let mut tx = pool.begin().await.expect("begin");
    service::set_component_impact(
        &mut tx,
        &testing::actor(&commander),
        number,
        id(API),
        Some(Impact::MajorOutage),
    )
    .await
    .expect("impact");
    tx.rollback().await.expect("rollback");
    assert_eq!(history_rows(&pool, API).await, vec!["operational", "partial_outage"]);

    let mut tx = pool.begin().await.expect("begin");
    service::set_component_impact(
        &mut tx,
        &testing::actor(&commander),
        number,
        id(API),
        Some(Impact::MajorOutage),
    )
    .await
    .expect("impact");
    tx.commit().await.expect("commit");
    assert_eq!(history_rows(&pool, API).await, vec!["operational", "partial_outage", "major_outage"]);

    let mut tx = pool.begin().await.expect("begin");
    service::resolve(&mut tx, &testing::actor(&commander), number, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    let mut tx = pool.begin().await.expect("begin");
    service::reopen(&mut tx, &testing::actor(&commander), number, None).await.expect("reopen");
    tx.commit().await.expect("commit");
    assert_eq!(
        history_rows(&pool, API).await,
        vec!["operational", "partial_outage", "major_outage", "operational", "major_outage"],
        "resolve and reopen each record the status they lead to"
    );
    // An action that changes no status records nothing.
    public_update(&pool, &commander, number, "Still looking.", None).await;
    assert_eq!(history_rows(&pool, API).await.len(), 5);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn start_up_records_a_status_that_changed_while_the_portal_was_stopped(pool: PgPool) {
    sqlx::query(
        "update components set manual_status = 'degraded_performance', manual_reason = 'test' where id = $1",
    )
    .bind(id(DATABASE))
    .execute(&pool)
    .await
    .expect("pin by hand");
    let changed = super::history::reconcile(&pool).await.expect("reconcile");
    assert_eq!(
        changed,
        vec![(id(DATABASE), twisterlab_domain::incident::ComponentStatus::DegradedPerformance)]
    );
    assert_eq!(history_rows(&pool, DATABASE).await, vec!["operational", "degraded_performance"]);
    assert!(super::history::reconcile(&pool).await.expect("again").is_empty(), "nothing left to record");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn concurrent_recordings_record_a_change_once(pool: PgPool) {
    sqlx::query(
        "update components set manual_status = 'partial_outage', manual_reason = 'test' where id = $1",
    )
    .bind(id(DATABASE))
    .execute(&pool)
    .await
    .expect("pin by hand");
    let record = || async {
        let mut tx = pool.begin().await.expect("begin");
        let changed = super::history::record(&mut tx, &[id(DATABASE)]).await.expect("record");
        tx.commit().await.expect("commit");
        changed.len()
    };
    let (a, b) = tokio::join!(record(), record());
    assert_eq!(a + b, 1, "one of the two recorded the change, the other found it recorded");
    assert_eq!(history_rows(&pool, DATABASE).await, vec!["operational", "partial_outage"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_uptime_bars_follow_the_recorded_history(pool: PgPool) {
    // Yesterday: two hours of major outage for the API, recorded in the history.
    sqlx::query(
        "insert into component_status_history (component_id, status, at) values
            ($1, 'operational', date_trunc('day', now()) - interval '3 days'),
            ($1, 'major_outage', date_trunc('day', now()) - interval '1 day' + interval '10 hours'),
            ($1, 'operational', date_trunc('day', now()) - interval '1 day' + interval '12 hours')",
    )
    .bind(id(API))
    .execute(&pool)
    .await
    .expect("history");
    let (app, _worker) = built(&pool).await;
    let (_, body) = text(&app, status_get("/", &[])).await;
    assert!(
        body.contains("91.66 % uptime; major outage 2 h</title>"),
        "the day's figure is in its title: {body:.3000}"
    );
    assert!(body.contains("day with problems") || body.contains("days with problems"));
    assert!(body.contains("class=\"s3\""), "the day is coloured as a major outage");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn history_is_paginated_and_incident_pages_exist(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let recent = incident("Recent cache hiccup").severity(Severity::P3).by(&commander).declare(&pool).await;
    let recent_id = recent.id;
    // An old incident, 200 days ago: the store allows it, the service would refuse to backdate that far.
    let old_id = Uuid::now_v7();
    sqlx::query(
        "insert into incidents (id, title, severity, status, started_at, detected_at, resolved_at, respond_by, escalate_by)
         values ($1, 'Ancient database outage', 'P1', 'resolved', now() - interval '200 days', now() - interval '200 days',
                 now() - interval '199 days', now(), now())",
    )
    .bind(old_id)
    .execute(&pool)
    .await
    .expect("old incident");
    let private =
        incident("Private thing").severity(Severity::P1).private(true).by(&commander).declare(&pool).await;
    let private_id = private.id;
    let (app, _worker) = built(&pool).await;

    let (status, page1) = text(&app, status_get("/history", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page1.contains("Recent cache hiccup") && page1.contains("Ancient database outage"), "{page1}");
    assert!(!page1.contains("Private thing") && !page1.contains("rel=\"next\""), "one page: {page1}");
    let (status, _) = text(&app, status_get(&format!("/history?after={private_id}"), &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a private incident is no page of the history");
    let (status, page) = text(&app, status_get(&format!("/history?after={recent_id}"), &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ancient database outage") && !page.contains("Recent cache hiccup"), "{page}");

    let (status, page) = text(&app, status_get(&format!("/incidents/{recent_id}"), &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Recent cache hiccup") && page.contains("Investigating"));
    let (status, page) = text(&app, status_get(&format!("/incidents/{old_id}"), &[])).await;
    assert_eq!(status, StatusCode::OK, "an old incident is read and rendered on demand");
    assert!(page.contains("Resolved"));
    for missing in [private_id.to_string(), Uuid::now_v7().to_string(), "INC-1".into()] {
        let (status, _) = text(&app, status_get(&format!("/incidents/{missing}"), &[])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    let (status, page) =
        text(&app, host_request(Method::GET, "localhost", &format!("/status/incidents/{recent_id}"), &[]))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("href=\"/status/history\""));
}

/// `count` public incidents resolved 1, 2, … `count` hours ago, each after half an hour,
/// titled "Blip n done" (n = 1 is the most recent).
async fn resolved_blips(pool: &PgPool, count: i32) {
    sqlx::query(
        "insert into incidents (id, title, severity, status, started_at, detected_at, resolved_at, respond_by, escalate_by)
         select gen_random_uuid(), 'Blip ' || g || ' done', 'P3', 'resolved',
                now() - g * interval '1 hour' - interval '30 minutes', now() - g * interval '1 hour' - interval '30 minutes',
                now() - g * interval '1 hour', now(), now()
           from generate_series(1, $1) g",
    )
    .bind(count)
    .execute(pool)
    .await
    .expect("resolved incidents");
}

/// A public incident started `days` ago, resolved a day later unless `open`.
async fn incident_days_ago(pool: &PgPool, title: &str, days: i32, open: bool) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into incidents (id, title, severity, status, started_at, detected_at, resolved_at, respond_by, escalate_by)
         values ($1, $2, 'P2', $3, now() - $4 * interval '1 day', now() - $4 * interval '1 day',
                 case when $3 = 'resolved' then now() - ($4 - 1) * interval '1 day' end, now(), now())",
    )
    .bind(id)
    .bind(title)
    .bind(if open { "investigating" } else { "resolved" })
    .bind(days)
    .execute(pool)
    .await
    .expect("incident");
    id
}

fn incident_names(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).expect("json");
    v["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_owned())
        .collect()
}

fn blips(range: std::ops::RangeInclusive<i32>) -> Vec<String> {
    range.map(|n| format!("Blip {n} done")).collect()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn with_more_than_50_recently_resolved_the_page_and_incidents_json_show_the_latest_50(pool: PgPool) {
    resolved_blips(&pool, 60).await;
    let (app, _worker) = built(&pool).await;

    let (status, json) = text(&app, status_get("/api/v2/incidents.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(incident_names(&json), blips(1..=50), "the 50 most recently resolved, newest first");

    let (_, page) = text(&app, status_get("/", &[])).await;
    for n in 1..=60 {
        assert_eq!(page.contains(&format!(">Blip {n} done<")), n <= 50, "Blip {n} on the status page");
    }
    let (_, feed) = text(&app, status_get("/history.atom", &[])).await;
    assert_eq!(feed.matches("<entry>").count(), 50, "the feed lists the same 50");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_incident_resolved_15_days_ago_is_only_in_the_history_and_an_old_open_one_stays_on_the_page(
    pool: PgPool,
) {
    resolved_blips(&pool, 60).await;
    let fortnight = incident_days_ago(&pool, "Fortnight-old outage", 16, false).await;
    incident_days_ago(&pool, "Slow burning leak", 100, true).await;
    let (app, _worker) = built(&pool).await;

    let (_, page) = text(&app, status_get("/", &[])).await;
    assert!(page.contains("Slow burning leak"), "an open incident is on the page whatever its age");
    assert!(!page.contains("Fortnight-old outage"), "resolved 15 days ago: off the page");
    let (_, json) = text(&app, status_get("/api/v2/incidents.json", &[])).await;
    let names = incident_names(&json);
    assert_eq!(names.len(), 50, "at most 50, as Statuspage");
    assert!(
        names.contains(&"Slow burning leak".to_owned())
            && !names.contains(&"Fortnight-old outage".to_owned())
    );
    let (_, json) = text(&app, status_get("/api/v2/incidents/unresolved.json", &[])).await;
    assert_eq!(incident_names(&json), vec!["Slow burning leak"]);

    // The history pages, followed by their "Older" links, reach the oldest incident.
    let mut history = String::new();
    let mut next = Some("/history".to_owned());
    let mut pages = 0;
    while let Some(href) = next {
        let (status, page) = text(&app, status_get(&href, &[])).await;
        assert_eq!(status, StatusCode::OK, "{href}");
        pages += 1;
        next = page
            .split("\" rel=\"next\"")
            .next()
            .filter(|_| page.contains("rel=\"next\""))
            .and_then(|before| before.rsplit("href=\"").next())
            .map(str::to_owned);
        history.push_str(&page);
    }
    assert_eq!(pages, 2, "62 incidents, 50 a page");
    for title in blips(1..=60).iter().map(String::as_str).chain(["Fortnight-old outage", "Slow burning leak"])
    {
        assert_eq!(history.matches(&format!(">{title}<")).count(), 1, "{title} once in the history");
    }
    let (status, page) = text(&app, status_get(&format!("/incidents/{fortnight}"), &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Fortnight-old outage"));
}

// ---------------------------------------------------------------------------------------------
// The Statuspage-compatible API.

const COMPONENT_STATUSES: [&str; 5] =
    ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"];
const INCIDENT_STATUSES: [&str; 5] = ["investigating", "identified", "monitoring", "resolved", "postmortem"];
const LEVELS: [&str; 4] = ["none", "minor", "major", "critical"];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort();
    k
}

fn has_keys(v: &Value, required: &[&str], what: &str) {
    let present = keys(v);
    for key in required {
        assert!(present.contains(key), "{what} lacks {key}: {v}");
    }
}

fn timestamp(v: &Value, what: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    s.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("{what} = {s} is not ISO 8601: {e}"));
}

fn optional_timestamp(v: &Value, what: &str) {
    if !v.is_null() {
        timestamp(v, what);
    }
}

fn check_page(page: &Value) {
    has_keys(page, &["id", "name", "url", "time_zone", "updated_at"], "page");
    assert_eq!(page["name"], "TwisterLab");
    assert_eq!(page["url"], "http://status.twisterlab.local");
    timestamp(&page["updated_at"], "page.updated_at");
}

fn check_component(c: &Value) {
    has_keys(
        c,
        &[
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "position",
            "description",
            "showcase",
            "start_date",
            "group_id",
            "page_id",
            "group",
            "only_show_if_degraded",
        ],
        "component",
    );
    assert!(COMPONENT_STATUSES.contains(&c["status"].as_str().unwrap_or("")), "{c}");
    timestamp(&c["created_at"], "component.created_at");
    timestamp(&c["updated_at"], "component.updated_at");
    assert!(
        c["position"].is_i64()
            && c["group"].is_boolean()
            && (c["description"].is_null() || c["description"].is_string())
    );
    if c["group"] == true {
        assert!(c["components"].is_array(), "a group lists its components: {c}");
    }
}

fn check_incident(i: &Value) {
    has_keys(
        i,
        &[
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "monitoring_at",
            "resolved_at",
            "impact",
            "shortlink",
            "started_at",
            "page_id",
            "incident_updates",
            "components",
        ],
        "incident",
    );
    assert!(INCIDENT_STATUSES.contains(&i["status"].as_str().unwrap_or("")), "{i}");
    assert!(LEVELS.contains(&i["impact"].as_str().unwrap_or("")), "{i}");
    for k in ["created_at", "updated_at", "started_at"] {
        timestamp(&i[k], k);
    }
    optional_timestamp(&i["monitoring_at"], "monitoring_at");
    optional_timestamp(&i["resolved_at"], "resolved_at");
    assert!(
        i["shortlink"].as_str().is_some_and(|s| s.starts_with("http://status.twisterlab.local/incidents/"))
    );
    for u in i["incident_updates"].as_array().expect("updates") {
        has_keys(
            u,
            &[
                "id",
                "status",
                "body",
                "incident_id",
                "created_at",
                "updated_at",
                "display_at",
                "affected_components",
                "deliver_notifications",
                "custom_tweet",
                "tweet_id",
            ],
            "incident update",
        );
        assert!(INCIDENT_STATUSES.contains(&u["status"].as_str().unwrap_or("")), "{u}");
        assert_eq!(u["incident_id"], i["id"]);
        timestamp(&u["created_at"], "update.created_at");
        timestamp(&u["display_at"], "update.display_at");
    }
    for c in i["components"].as_array().expect("components") {
        check_component(c);
    }
}

fn check_status(s: &Value) {
    has_keys(s, &["indicator", "description"], "status");
    assert!(LEVELS.contains(&s["indicator"].as_str().unwrap_or("")), "{s}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_json_document_has_statuspages_shape(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let open = incident("API latency")
        .severity(Severity::P2)
        .affecting(id(API), Impact::DegradedPerformance)
        .by(&commander)
        .declare(&pool)
        .await
        .number;
    public_update(&pool, &commander, open, "Looking into it.", None).await;
    public_update(&pool, &commander, open, "A fix is deployed; watching.", Some(IncidentStatus::Monitoring))
        .await;
    let done = incident("Database failover")
        .severity(Severity::P0)
        .affecting(id(DATABASE), Impact::MajorOutage)
        .by(&commander)
        .declare(&pool)
        .await
        .number;
    public_update(&pool, &commander, done, "Fixed.", Some(IncidentStatus::Resolved)).await;
    let (app, _worker) = built(&pool).await;

    let mut seen = std::collections::HashMap::new();
    for doc in ApiDoc::ALL {
        let (status, headers, body) = fetch(&app, status_get(doc.path(), &[])).await;
        assert_eq!(status, StatusCode::OK, "{}", doc.path());
        assert_eq!(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("application/json"));
        assert_eq!(
            headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).and_then(|v| v.to_str().ok()),
            Some("*"),
            "CORS is open"
        );
        let json: Value = serde_json::from_slice(&body).expect("JSON");
        check_page(&json["page"]);
        seen.insert(doc, json);
    }
    let summary = &seen[&ApiDoc::Summary];
    assert_eq!(keys(summary), vec!["components", "incidents", "page", "scheduled_maintenances", "status"]);
    check_status(&summary["status"]);
    assert_eq!(
        summary["status"]["indicator"], "minor",
        "degraded performance is minor: {}",
        summary["status"]
    );
    assert_eq!(summary["status"]["description"], "Minor Service Outage");
    let components = summary["components"].as_array().expect("components");
    assert_eq!(components.len(), 8, "six components and two groups");
    components.iter().for_each(check_component);
    let api = components.iter().find(|c| c["name"] == "API").expect("API");
    assert_eq!(api["status"], "degraded_performance");
    let platform = components.iter().find(|c| c["name"] == "Platform").expect("group");
    assert_eq!(
        (platform["group"].clone(), platform["status"].clone()),
        (Value::Bool(true), Value::from("degraded_performance"))
    );
    assert_eq!(api["group_id"], platform["id"]);
    let incidents = summary["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 1, "only unresolved incidents: {incidents:?}");
    incidents.iter().for_each(check_incident);
    assert_eq!(incidents[0]["status"], "monitoring");
    assert_eq!(incidents[0]["impact"], "minor");
    let updates = incidents[0]["incident_updates"].as_array().expect("updates");
    assert_eq!(updates[0]["body"], "A fix is deployed; watching.", "newest first");
    timestamp(&incidents[0]["monitoring_at"], "monitoring_at");

    check_status(&seen[&ApiDoc::Status]["status"]);
    assert_eq!(keys(&seen[&ApiDoc::Status]), vec!["page", "status"]);
    assert_eq!(keys(&seen[&ApiDoc::Components]), vec!["components", "page"]);
    let all = seen[&ApiDoc::Incidents]["incidents"].as_array().expect("incidents");
    assert_eq!(all.len(), 2);
    all.iter().for_each(check_incident);
    let failover = all.iter().find(|i| i["name"] == "Database failover").expect("resolved incident");
    assert_eq!(
        (failover["status"].clone(), failover["impact"].clone()),
        (Value::from("resolved"), Value::from("critical"))
    );
    timestamp(&failover["resolved_at"], "resolved_at");
    let failover_updates = failover["incident_updates"].as_array().expect("updates");
    assert_eq!(
        failover_updates.len(),
        1,
        "the resolve posted with the update is not repeated: {failover_updates:?}"
    );
    assert_eq!(seen[&ApiDoc::UnresolvedIncidents]["incidents"].as_array().map(Vec::len), Some(1));
    for doc in [ApiDoc::ScheduledMaintenances, ApiDoc::UpcomingMaintenances, ApiDoc::ActiveMaintenances] {
        assert_eq!(keys(&seen[&doc]), vec!["page", "scheduled_maintenances"]);
        assert_eq!(seen[&doc]["scheduled_maintenances"], Value::Array(vec![]));
    }
    // The internal host serves the same bytes.
    let (_, _, public) = fetch(&app, status_get("/api/v2/summary.json", &[])).await;
    let (_, _, internal) =
        fetch(&app, host_request(Method::GET, "localhost", "/api/v2/summary.json", &[])).await;
    assert_eq!(public, internal);
}

// ---------------------------------------------------------------------------------------------
// Leaks.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn nothing_private_reaches_any_public_document(pool: PgPool) {
    // Their e-mail addresses are `zelda.commanderson-…@` and `oscar.oncallperson-…@`.
    let commander = testing::person(&pool, "Zelda Commanderson", Role::Commander).await;
    let oncall = testing::person(&pool, "Oscar Oncallperson", Role::Responder).await;
    // A public incident with an internal note, a summary, a label, a second role and a public update.
    let declared = incident("Public API trouble")
        .summary("SUMMARY-MARKER-4c1d internal summary")
        .severity(Severity::P1)
        .private(false)
        .affecting(id(API), Impact::PartialOutage)
        .label("LABEL-MARKER-77aa")
        .by(&commander)
        .declare(&pool)
        .await;
    let public = declared.number;
    let mut tx = pool.begin().await.expect("begin");
    service::add_note(&mut tx, &testing::actor(&oncall), public, "NOTE-MARKER-9f3e the primary is Oscar")
        .await
        .expect("note");
    service::assign_role(
        &mut tx,
        &testing::actor(&commander),
        public,
        service::IncidentRole::Scribe,
        Some(oncall.id),
        None,
    )
    .await
    .expect("role");
    service::add_link(
        &mut tx,
        &testing::actor(&commander),
        public,
        "slack",
        "https://slack.example/LINK-MARKER-5b5b",
        "",
    )
    .await
    .expect("link");
    service::post_public_update(
        &mut tx,
        &testing::actor(&commander),
        public,
        "We are looking into API errors.",
        None,
        None,
    )
    .await
    .expect("update");
    tx.commit().await.expect("commit");
    // A private incident, with a public-flagged event forced in by SQL: the worst case.
    let private = incident("PRIVATE-MARKER-1a2b security breach")
        .severity(Severity::P0)
        .affecting(id(DATABASE), Impact::MajorOutage)
        .private(true)
        .by(&commander)
        .declare(&pool)
        .await;
    let private_id = private.id;
    sqlx::query(
        "insert into timeline_events (id, incident_id, kind, actor_label, body, public, public_status)
         values ($1, $2, 'public_update', 'x', 'PRIVATE-UPDATE-MARKER-3c4d', true, 'investigating')",
    )
    .bind(Uuid::now_v7())
    .bind(private_id)
    .execute(&pool)
    .await
    .expect("forced event");
    // Component internals.
    sqlx::query("update components set manual_status = 'degraded_performance', manual_reason = 'REASON-MARKER-6e6e' where id = $1")
        .bind(id(DATABASE))
        .execute(&pool)
        .await
        .expect("pin");
    sqlx::query("update components set description = 'DESCRIPTION-MARKER-8d8d internal' where id = $1")
        .bind(id(API))
        .execute(&pool)
        .await
        .expect("desc");
    let (app, _worker) = built(&pool).await;

    let public_id = declared.id;
    let mut paths: Vec<String> = vec![
        "/".into(),
        "/?refresh=1".into(),
        "/history".into(),
        format!("/incidents/{public_id}"),
        "/history.atom".into(),
        "/history.rss".into(),
    ];
    paths.extend(ApiDoc::ALL.iter().map(|d| d.path().to_owned()));
    let markers = [
        "SUMMARY-MARKER-4c1d",
        "LABEL-MARKER-77aa",
        "NOTE-MARKER-9f3e",
        "LINK-MARKER-5b5b",
        "PRIVATE-MARKER-1a2b",
        "PRIVATE-UPDATE-MARKER-3c4d",
        "REASON-MARKER-6e6e",
        "DESCRIPTION-MARKER-8d8d",
        "Zelda",
        "Commanderson",
        "Oscar",
        "Oncallperson",
        "zelda.commanderson",
        "oscar.oncallperson",
        "P0",
        "P1",
        "INC-",
    ];
    let mut checked = 0;
    for (host, prefix) in [(STATUS_HOST, ""), ("localhost", "/status")] {
        for path in &paths {
            let path = if prefix.is_empty() || path.starts_with("/api/") || path.starts_with("/history.") {
                path.clone()
            } else if path == "/" {
                prefix.to_owned()
            } else if let Some(q) = path.strip_prefix("/?") {
                format!("{prefix}?{q}")
            } else {
                format!("{prefix}{path}")
            };
            let (status, body) = text(&app, host_request(Method::GET, host, &path, &[])).await;
            assert_eq!(status, StatusCode::OK, "{host}{path}");
            for marker in markers {
                assert!(!body.contains(marker), "{marker} leaked on {host}{path}:\n{body}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, paths.len() * 2);
    // The public facts are there (positive control), and the private incident has no page.
    let (_, body) = text(&app, status_get("/", &[])).await;
    assert!(body.contains("We are looking into API errors.") && body.contains("Public API trouble"));
    assert!(body.contains("Degraded performance"), "a pinned status shows, its reason does not");
    let (status, _) = text(&app, status_get(&format!("/incidents/{private_id}"), &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A description an admin marks public does show.
    sqlx::query("update components set description_public = true where id = $1")
        .bind(id(API))
        .execute(&pool)
        .await
        .expect("public");
    _worker.run_once().await.expect("rebuild");
    let (_, body) = text(&app, status_get("/api/v2/components.json", &[])).await;
    assert!(body.contains("DESCRIPTION-MARKER-8d8d"));
}

// ---------------------------------------------------------------------------------------------
// Caching.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_known_etag_gets_304_and_query_strings_change_nothing(pool: PgPool) {
    let (app, _worker) = built(&pool).await;
    for path in ["/", "/history", "/api/v2/summary.json", "/history.rss"] {
        let (status, headers, body) = fetch(&app, status_get(path, &[])).await;
        assert_eq!(status, StatusCode::OK);
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).expect("ETag").to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("W/"), "a strong ETag: {etag}");
        assert_eq!(
            headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()),
            Some("public, max-age=10")
        );
        assert_eq!(headers.get(header::VARY).and_then(|v| v.to_str().ok()), Some("Accept-Encoding"));
        let (status, again, empty) = fetch(&app, status_get(path, &[("if-none-match", &etag)])).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(empty.is_empty());
        assert_eq!(again.get(header::ETAG).and_then(|v| v.to_str().ok()), Some(etag.as_str()));
        let (status, _, _) = fetch(&app, status_get(path, &[("if-none-match", "\"something-else\"")])).await;
        assert_eq!(status, StatusCode::OK);

        let noisy = format!("{path}?utm_source=x&utm_medium={}&fbclid=1", Uuid::new_v4());
        let (_, noisy_headers, noisy_body) =
            fetch(&app, status_get(&noisy, &[("cookie", "a=b"), ("user-agent", "x")])).await;
        assert_eq!(noisy_body, body, "{noisy} served other bytes");
        assert_eq!(noisy_headers.get(header::ETAG), headers.get(header::ETAG));
    }
    let (_, with_refresh) = text(&app, status_get("/?refresh=1&utm_source=y", &[])).await;
    assert!(with_refresh.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
    let (_, without) = text(&app, status_get("/", &[])).await;
    assert!(!without.contains("http-equiv=\"refresh\""));
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("br") => {
            brotli::Decompressor::new(body, 4096).read_to_end(&mut out).map(|_| ()).expect("brotli")
        }
        Some("gzip") => flate2::read::GzDecoder::new(body).read_to_end(&mut out).map(|_| ()).expect("gzip"),
        None => out.extend_from_slice(body),
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn gzip_and_brotli_variants_decode_to_the_same_document_compressed_once(pool: PgPool) {
    let (app, _worker) = built(&pool).await;
    for (host, path) in [
        (STATUS_HOST, "/"),
        (STATUS_HOST, "/api/v2/summary.json"),
        ("localhost", "/status"),
        ("localhost", "/history.atom"),
    ] {
        let (_, plain_headers, plain) = fetch(&app, host_request(Method::GET, host, path, &[])).await;
        assert!(plain_headers.get(header::CONTENT_ENCODING).is_none());
        let mut tags = vec![plain_headers[header::ETAG].clone()];
        for (accept, expected) in [
            ("gzip", "gzip"),
            ("br", "br"),
            ("gzip, deflate, br, zstd", "br"),
            ("gzip;q=1, br;q=0.1", "gzip"),
        ] {
            let (status, headers, body) =
                fetch(&app, host_request(Method::GET, host, path, &[("accept-encoding", accept)])).await;
            assert_eq!(status, StatusCode::OK);
            let encodings: Vec<&str> =
                headers.get_all(header::CONTENT_ENCODING).iter().filter_map(|v| v.to_str().ok()).collect();
            assert_eq!(encodings, vec![expected], "{host}{path} with {accept}: compressed exactly once");
            assert_eq!(decode(Some(expected), &body), plain, "{host}{path} {accept}");
            assert!(body.len() < plain.len());
            tags.push(headers[header::ETAG].clone());
        }
        tags.dedup();
        assert_eq!(tags.len(), 4, "each coding has its own strong ETag: {tags:?}");
    }
    // The page stays well under 30 KB on the wire.
    let (_, _, body) = fetch(&app, status_get("/", &[("accept-encoding", "gzip")])).await;
    assert!(body.len() < 30 * 1024, "{} bytes", body.len());
    // The stylesheet is the only other request, compressed by the layer.
    let (_, _, html) = fetch(&app, status_get("/", &[])).await;
    let html = String::from_utf8(html).expect("utf-8");
    let css = html
        .split("href=\"")
        .find(|s| s.starts_with("/static/status."))
        .and_then(|s| s.split('"').next())
        .expect("status.css link");
    let (status, headers, _) = fetch(&app, status_get(css, &[("accept-encoding", "gzip")])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()), Some("gzip"));
    assert!(!html.contains("app.") && !html.contains("<script"), "one stylesheet, no scripts");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn waiting_requests_share_one_first_build(pool: PgPool) {
    let test_app = testing::TestApp::new(&pool);
    let (app, cache) = (test_app.router.clone(), test_app.state.status.clone());
    let requests = (0..16).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { fetch(&app, status_get("/", &[])).await.0 })
    });
    for r in requests {
        assert_eq!(r.await.expect("task"), StatusCode::OK);
    }
    assert_eq!(cache.attempts(), 1, "one build for sixteen waiting requests");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn declaring_a_public_incident_tells_every_status_page_and_a_private_one_does_not(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let mut listener = PgListener::connect_with(&pool).await.expect("listener");
    listener.listen(super::worker::CHANNEL).await.expect("listen");
    let next = async |listener: &mut PgListener| {
        tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("NOTIFY within 5 s")
            .expect("notification")
            .payload()
            .to_owned()
    };
    incident("Private trouble").severity(Severity::P2).private(true).by(&commander).declare(&pool).await;
    // Notifications arrive in commit order: had the private declaration notified, its empty
    // payload would come before this marker.
    sqlx::query("select pg_notify($1, 'marker')")
        .bind(super::worker::CHANNEL)
        .execute(&pool)
        .await
        .expect("marker");
    assert_eq!(next(&mut listener).await, "marker", "the private declaration notified nobody");
    incident("Public trouble").severity(Severity::P2).by(&commander).declare(&pool).await;
    assert_eq!(next(&mut listener).await, "", "the public declaration notified the status pages");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_public_update_appears_after_the_notify(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let number =
        incident("Agents are slow").severity(Severity::P2).by(&commander).declare(&pool).await.number;
    let (app, worker) = built(&pool).await;
    let (_, before) = text(&app, status_get("/", &[])).await;
    assert!(!before.contains("FRESH-UPDATE-0b1c"));

    let mut listener = PgListener::connect_with(&pool).await.expect("listener");
    listener.listen(super::worker::CHANNEL).await.expect("listen");
    public_update(&pool, &commander, number, "FRESH-UPDATE-0b1c: queue drained.", None).await;
    let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("NOTIFY within 5 s")
        .expect("notification");
    assert_eq!(notification.channel(), super::worker::CHANNEL);
    // Cached until the worker rebuilds: requests never query the database themselves.
    let (_, stale) = text(&app, status_get("/", &[])).await;
    assert!(!stale.contains("FRESH-UPDATE-0b1c"));
    worker.run_once().await.expect("rebuild");
    let (_, after) = text(&app, status_get("/", &[])).await;
    assert!(after.contains("FRESH-UPDATE-0b1c"), "{after}");
    let (_, json) = text(&app, status_get("/api/v2/incidents/unresolved.json", &[])).await;
    assert!(json.contains("FRESH-UPDATE-0b1c"));
    let (_, feed) = text(&app, status_get("/history.atom", &[])).await;
    assert!(feed.contains("FRESH-UPDATE-0b1c"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_failed_rebuild_keeps_the_last_page_with_a_stale_note(pool: PgPool) {
    // A pool of its own that the test can close, as if the database went away.
    let own = PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("pool");
    let config = testing::config();
    let test_app = testing::TestApp::with_state(AppState::new(own.clone(), config, "test".into()));
    let (app, worker) = (test_app.router.clone(), test_app.status_worker());
    worker.run_once().await.expect("first build");
    let (_, fresh) = text(&app, status_get("/", &[])).await;
    assert!(!fresh.contains(STALE_NOTE));
    let (_, _, json_before) = fetch(&app, status_get("/api/v2/summary.json", &[])).await;

    own.close().await;
    assert!(worker.run_once().await.is_err(), "the rebuild fails without a database");
    for (host, path) in [(STATUS_HOST, "/"), (STATUS_HOST, "/history"), ("localhost", "/status")] {
        let (status, body) = text(&app, host_request(Method::GET, host, path, &[])).await;
        assert_eq!(status, StatusCode::OK, "{host}{path}");
        assert!(body.contains(STALE_NOTE), "{host}{path}: {body}");
        assert!(
            path == "/history" || body.contains("All systems operational"),
            "the last known state is still shown: {body}"
        );
    }
    let (status, _, json_after) = fetch(&app, status_get("/api/v2/summary.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_after, json_before, "the JSON keeps its last good bytes");
}

// ---------------------------------------------------------------------------------------------
// Feeds.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_feeds_are_valid_atom_and_rss(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let declared = incident("Feed <test> & \"quotes\"")
        .severity(Severity::P2)
        .affecting(id(API), Impact::PartialOutage)
        .by(&commander)
        .declare(&pool)
        .await;
    let number = declared.number;
    public_update(
        &pool,
        &commander,
        number,
        "Update with <b>markup</b> & a [link](https://example.com)\u{1}.",
        None,
    )
    .await;
    let (app, _worker) = built(&pool).await;
    let incident = declared.id;

    let (status, headers, atom) = fetch(&app, status_get("/history.atom", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/atom+xml; charset=utf-8")
    );
    let feed = feed_rs::parser::parse(&atom[..]).expect("a valid Atom feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().map(|t| t.content.as_str()),
        Some("[Investigating] Feed <test> & \"quotes\"")
    );
    assert_eq!(entry.id, format!("http://status.twisterlab.local/incidents/{incident}"));
    assert!(entry.updated.is_some() && entry.published.is_some());
    let content = entry.content.as_ref().and_then(|c| c.body.clone()).unwrap_or_default();
    assert!(
        content.contains("&lt;b&gt;markup&lt;/b&gt;") && content.contains("href=\"https://example.com\""),
        "{content}"
    );
    let text_atom = String::from_utf8(atom.clone()).expect("utf-8");
    assert!(
        text_atom.contains("<link rel=\"self\"") && text_atom.contains("<author>"),
        "RFC 4287 needs self and author"
    );

    let (status, headers, rss) = fetch(&app, status_get("/history.rss", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/rss+xml; charset=utf-8")
    );
    let feed = feed_rs::parser::parse(&rss[..]).expect("a valid RSS feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::RSS2);
    assert_eq!(feed.entries.len(), 1);
    assert!(feed.entries[0].published.is_some(), "pubDate is RFC 822");
    assert!(feed.entries[0].links.iter().any(|l| l.href.ends_with(&incident.to_string())));
    assert!(feed.updated.is_some(), "lastBuildDate is RFC 822");
}

// ---------------------------------------------------------------------------------------------
// Admin pages.

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn admins_manage_components_with_audit_and_the_page_follows(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let (app, worker) = built(&pool).await;
    let (response, body) = send(&app, testing::get("/admin/components", Some(&admin))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body.contains("LLM backend") && body.contains("state-operational\">operational"), "{body}");

    // Create a group and a component in it.
    let (response, _) = send(
        &app,
        testing::post_form("/admin/component-groups", Some(&admin), &[("name", "Edge"), ("position", "3")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let group: Uuid = sqlx::query_scalar("select id from component_groups where name = 'Edge'")
        .fetch_one(&pool)
        .await
        .expect("group");
    let (response, _) = send(
        &app,
        testing::post_form(
            "/admin/components",
            Some(&admin),
            &[
                ("name", "CDN"),
                ("description", "Static files worldwide"),
                ("description_public", "on"),
                ("group", &group.to_string()),
                ("position", "1"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cdn: Uuid = sqlx::query_scalar("select id from components where name = 'CDN'")
        .fetch_one(&pool)
        .await
        .expect("component");
    // Invalid input is refused with the reasons.
    let (response, body) = send(
        &app,
        testing::post_form("/admin/components", Some(&admin), &[("name", "CDN"), ("position", "x")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("whole number"), "{body}");

    // Pin a status with a reason; the page shows the status, never the reason.
    let (response, _) = send(
        &app,
        testing::post_form(
            &format!("/admin/components/{cdn}/pin"),
            Some(&admin),
            &[("status", "partial_outage"), ("reason", "Vendor incident PIN-REASON-2f2f")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (response, _) = send(
        &app,
        testing::post_form(
            &format!("/admin/components/{cdn}/pin"),
            Some(&admin),
            &[("status", "partial_outage"), ("reason", " ")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a pin needs a reason");
    worker.run_once().await.expect("rebuild");
    let (_, page) = text(&app, status_get("/", &[])).await;
    assert!(
        page.contains("Edge") && page.contains("CDN") && page.contains("Static files worldwide"),
        "{page}"
    );
    assert!(page.contains("Partial system outage"));
    assert!(!page.contains("PIN-REASON-2f2f"));
    let (_, admin_page) = send(&app, testing::get(&format!("/admin/components/{cdn}"), Some(&admin))).await;
    assert!(admin_page.contains("PIN-REASON-2f2f") && admin_page.contains("partial outage"), "{admin_page}");

    // Edit and unpin.
    let (response, _) = send(
        &app,
        testing::post_form(
            &format!("/admin/components/{cdn}"),
            Some(&admin),
            &[
                ("name", "Content delivery"),
                ("description", "Internal only"),
                ("group", ""),
                ("position", "9"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (response, _) =
        send(&app, testing::post_form(&format!("/admin/components/{cdn}/unpin"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    worker.run_once().await.expect("rebuild");
    let (_, page) = text(&app, status_get("/", &[])).await;
    assert!(
        page.contains("Content delivery")
            && !page.contains("Internal only")
            && page.contains("All systems operational")
    );

    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_log where action like 'component%' order by id")
            .fetch_all(&pool)
            .await
            .expect("audit");
    assert_eq!(
        actions,
        vec![
            "component_group.create",
            "component.create",
            "component.pin",
            "component.update",
            "component.unpin"
        ]
    );

    // Viewers may not.
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (response, _) = send(&app, testing::get("/admin/components", Some(&viewer))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_pinned_status_overrides_the_incidents_on_the_page_and_in_the_json(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let commander = testing::user(&pool, Role::Commander).await;
    incident("API down")
        .severity(Severity::P1)
        .affecting(id(API), Impact::MajorOutage)
        .by(&commander)
        .declare(&pool)
        .await;
    let (app, worker) = built(&pool).await;
    let component_status = async |name: &str| {
        let (_, json) = text(&app, status_get("/api/v2/components.json", &[])).await;
        let json: Value = serde_json::from_str(&json).expect("JSON");
        let components = json["components"].as_array().expect("components").clone();
        let c = components.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name} listed"));
        c["status"].as_str().expect("status").to_owned()
    };
    assert_eq!(component_status("API").await, "major_outage");

    // The incident's impact turned out wrong for the API: an admin pins it operational. And the
    // cache is failing although no incident says so: pinned as a major outage.
    for (component, status) in [(API, "operational"), (CACHE, "major_outage")] {
        let (response, body) = send(
            &app,
            testing::post_form(
                &format!("/admin/components/{component}/pin"),
                Some(&admin),
                &[("status", status), ("reason", "checked by hand")],
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    }
    worker.run_once().await.expect("rebuild");

    let (_, page) = text(&app, status_get("/", &[])).await;
    assert!(
        page.contains(
            r#"<span class="name">API</span> <span class="state state-operational">Operational</span>"#
        ),
        "the pin wins over the incident's major outage: {page}"
    );
    assert!(
        page.contains(
            r#"<span class="name">Cache</span> <span class="state state-major_outage">Major outage</span>"#
        ),
        "the pin wins over a quiet component: {page}"
    );
    assert!(page.contains("API down"), "the incident itself is still shown");
    assert_eq!(component_status("API").await, "operational");
    assert_eq!(component_status("Cache").await, "major_outage");
    // The history follows the pins, recorded by the pin itself.
    assert_eq!(history_rows(&pool, API).await, vec!["operational", "major_outage", "operational"]);
    assert_eq!(history_rows(&pool, CACHE).await, vec!["operational", "major_outage"]);

    // Unpinned, the incident counts again.
    let (response, _) =
        send(&app, testing::post_form(&format!("/admin/components/{API}/unpin"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    worker.run_once().await.expect("rebuild");
    assert_eq!(component_status("API").await, "major_outage");
    assert_eq!(history_rows(&pool, API).await.last().map(String::as_str), Some("major_outage"));
}

const DATA_GROUP: &str = "0193a000-0000-7000-8000-000000000002";

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_refused_admin_form_comes_back_with_each_error_next_to_its_field(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let post = async |path: &str, fields: &[(&str, &str)]| {
        let (response, body) = send(&app, testing::post_form(path, Some(&admin), fields)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        body
    };

    let body = post("/admin/components", &[("name", " "), ("position", "x"), ("description", "kept")]).await;
    assert!(body.contains("Nothing was saved: correct the fields marked below."), "{body}");
    assert!(body.contains(r#"<p class="field-error" id="name-error">Enter a name.</p>"#), "{body}");
    assert!(body.contains(r#"id="position-error">Enter a whole number from -1000 to 100000.</p>"#), "{body}");
    assert!(body.contains(">kept</textarea>"), "what was typed is kept: {body}");

    // Unique names are mapped from the constraint that refused them.
    let body = post("/admin/components", &[("name", "API")]).await;
    assert!(body.contains(r#"id="name-error">A component with this name exists already.</p>"#), "{body}");
    let body = post("/admin/component-groups", &[("name", "Platform")]).await;
    assert!(body.contains(r#"id="group_name-error">A group with this name exists already.</p>"#), "{body}");
    // A group's own form shows its error beside it, with what was typed.
    let body =
        post(&format!("/admin/component-groups/{DATA_GROUP}"), &[("name", "Platform"), ("position", "2")])
            .await;
    assert!(
        body.contains(&format!(r#"id="g-{DATA_GROUP}-name-error">Another group has this name.</p>"#)),
        "{body}"
    );
    assert!(body.contains(&format!(r#"id="g-{DATA_GROUP}-name" name="name" type="text" required maxlength="100" value="Platform" aria-describedby="g-{DATA_GROUP}-name-error" aria-invalid="true""#)), "{body}");

    let body =
        post(&format!("/admin/components/{API}/pin"), &[("status", "on_fire"), ("reason", "REASON-KEPT")])
            .await;
    assert!(body.contains(r#"id="status-error">Choose one of the listed states.</p>"#), "{body}");
    assert!(body.contains(">REASON-KEPT</textarea>"), "{body}");
    let body = post(&format!("/admin/components/{API}"), &[("name", "x".repeat(101).as_str())]).await;
    assert!(body.contains("Nothing was changed: correct the fields marked below."), "{body}");
    assert!(body.contains(r#"id="name-error">Use at most 100 characters.</p>"#), "{body}");
    assert!(testing::audit_actions(&pool, "component.create").await.is_empty(), "nothing was written");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn components_no_incident_names_can_be_deleted_and_a_deleted_group_keeps_its_components(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    incident("API errors").affecting(id(API), Impact::DegradedPerformance).declare(&pool).await;
    let (app, worker) = built(&pool).await;
    let (response, _) =
        send(&app, testing::post_form("/admin/components", Some(&admin), &[("name", "Edge CDN")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cdn: Uuid = sqlx::query_scalar("select id from components where name = 'Edge CDN'")
        .fetch_one(&pool)
        .await
        .expect("component");
    assert_eq!(
        sqlx::query_scalar::<_, String>(
            "select status from component_status_history where component_id = $1"
        )
        .bind(cdn)
        .fetch_all(&pool)
        .await
        .expect("history"),
        vec!["operational"],
        "a new component's history starts when it is created"
    );

    let (response, _) =
        send(&app, testing::post_form(&format!("/admin/components/{cdn}/delete"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()),
        Some("/admin/components?notice=deleted")
    );
    worker.run_once().await.expect("rebuild");
    let (_, page) = text(&app, status_get("/", &[])).await;
    assert!(page.contains("API") && !page.contains("Edge CDN"), "{page}");

    // An incident names the API: its record keeps it.
    let (response, body) =
        send(&app, testing::post_form(&format!("/admin/components/{API}/delete"), Some(&admin), &[])).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{body}");
    assert!(body.contains("API is named by 1 incident") && body.contains("Rename it instead"), "{body}");

    let (response, _) = send(
        &app,
        testing::post_form(&format!("/admin/component-groups/{DATA_GROUP}/delete"), Some(&admin), &[]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    worker.run_once().await.expect("rebuild");
    let (_, json) = text(&app, status_get("/api/v2/components.json", &[])).await;
    let json: Value = serde_json::from_str(&json).expect("JSON");
    let components = json["components"].as_array().expect("components");
    assert!(components.iter().all(|c| c["name"] != "Data"), "the group is gone: {json}");
    let database = components.iter().find(|c| c["name"] == "Database").expect("Database stays");
    assert_eq!(database["group_id"], Value::Null);

    for action in ["component.create", "component.delete", "component_group.delete"] {
        assert_eq!(testing::audit_actions(&pool, action).await.len(), 1, "{action}");
    }
    assert!(testing::audit_actions(&pool, "component.delete").await[0].target.contains("Edge CDN"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_burst_of_changes_within_the_coalescing_window_is_folded_into_one_rebuild(pool: PgPool) {
    use std::time::Instant;
    let test_app = testing::TestApp::new(&pool);
    let cache = test_app.state.status.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cadence = crate::workers::Cadence::Notified {
        channel: super::worker::CHANNEL,
        interval: super::worker::SAFETY_INTERVAL,
        coalesce: super::worker::DEBOUNCE,
    };
    let worker = StatusPageWorker { cache: cache.clone() };
    let running =
        crate::workers::spawn_one(crate::workers::row("status_page", cadence, worker), &pool, stop_rx);

    // Wait until the worker listens (pg_stat_activity shows it) and its first pass is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening: bool = sqlx::query_scalar(
            "select exists(select 1 from pg_stat_activity
                            where datname = current_database() and query ilike 'listen%')",
        )
        .fetch_one(&pool)
        .await
        .expect("pg_stat_activity");
        if listening && cache.snapshot().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the status worker did not start listening within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let a pass started by the listener's connection finish before counting.
    tokio::time::sleep(super::worker::DEBOUNCE * 4).await;
    let before = cache.attempts();

    // Ten changes back to back on one connection, well inside the window.
    let mut conn = pool.acquire().await.expect("a connection");
    let burst = Instant::now();
    for _ in 0..10 {
        crate::db::status::notify(&mut *conn).await.expect("notify");
    }
    let burst_took = burst.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.attempts() == before {
        assert!(Instant::now() < deadline, "no rebuild within 5 s of the burst");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fresh_after = burst.elapsed();
    assert!(fresh_after < Duration::from_secs(1), "the rebuild came {fresh_after:?} after the burst");
    // Nothing else is pending: no second rebuild follows within several windows.
    tokio::time::sleep(super::worker::DEBOUNCE * 4).await;
    // On a machine so loaded that the burst outlasted the window, its tail may be a second pass.
    let expected = if burst_took < super::worker::DEBOUNCE { 1 } else { 2 };
    assert!(
        cache.attempts() - before <= expected,
        "ten changes in {burst_took:?} were {} rebuilds",
        cache.attempts() - before
    );

    let _ = stop_tx.send(true);
    running.await.expect("the worker stops");
}
