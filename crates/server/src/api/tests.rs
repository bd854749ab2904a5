//! HTTP tests of the JSON API through `app().oneshot()` on a fresh database: every endpoint with
//! its role checks, problem details for bad input, optimistic concurrency, and JSON that is
//! returned exactly as written.

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::db::users::User;
use crate::testing::{self, api_request, send};

const API_COMPONENT: &str = "0193a000-0000-7000-8000-000000000011";
const DATABASE_COMPONENT: &str = "0193a000-0000-7000-8000-000000000015";

/// A user with `role` and an API token acting at that role.
async fn caller(pool: &PgPool, role: Role) -> (User, String) {
    let user = testing::user(pool, role).await;
    let token = testing::api_token(pool, &user, "api tests").await;
    (user, token)
}

async fn bearer(pool: &PgPool, role: Role) -> String {
    caller(pool, role).await.1
}

/// Sends the request; returns the response (without body) and the body as JSON.
async fn call(app: &axum::Router, req: Request<Body>) -> (Response<Body>, Value) {
    let (response, text) = send(app, req).await;
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (response, value)
}

fn content_type(response: &Response<Body>) -> &str {
    response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn etag(response: &Response<Body>) -> &str {
    response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Asserts a problem+json answer with `status`; returns the problem.
#[track_caller]
fn assert_problem(response: &Response<Body>, body: &Value, status: StatusCode) {
    assert_eq!(response.status(), status, "{body:#}");
    assert!(
        content_type(response).starts_with("application/problem+json"),
        "{}: {body:#}",
        content_type(response)
    );
    assert_eq!(body["status"], status.as_u16(), "{body:#}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body:#}");
}

/// The `field`s named in a problem's `errors`.
fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

/// Declares a P1 on the API component as a new commander; returns the incident JSON.
async fn declare(app: &axum::Router, token: &str, body: Value) -> Value {
    let (response, incident) =
        call(app, api_request(Method::POST, "/api/v1/incidents", Some(token), Some(&body))).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{incident:#}");
    incident
}

fn p1() -> Value {
    json!({"title": "API returns 500 on login", "severity": "P1", "summary": "Errors since 03:12.",
           "components": [{"id": API_COMPONENT, "impact": "partial_outage"}]})
}

async fn incident_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from incidents").fetch_one(pool).await.expect("count")
}

/// The kinds of the timeline's events that people caused (the portal's own, such as
/// `notified` for the page sent at declaration, are left out).
fn kinds(incident: &Value) -> Vec<&str> {
    incident["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["actor"] != "system")
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect()
}

fn path(incident: &Value, tail: &str) -> String {
    format!("/api/v1/incidents/{}{tail}", incident["number"])
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_commander_declares_an_incident_and_gets_its_number_reference_and_location(pool: PgPool) {
    let app = testing::app(&pool);
    let (commander, token) = caller(&pool, Role::Commander).await;
    let body = json!({"title": "API returns 500 on login", "severity": "P1", "summary": "Since **03:12**.",
                      "components": [{"id": API_COMPONENT, "impact": "partial_outage"}, {"id": DATABASE_COMPONENT, "impact": "major_outage"}],
                      "labels": ["database", "login"], "started_at": "2020-01-01T00:00:00Z"});
    // Backdating past the 90-day limit is the service's rule, reported like any field.
    let (response, problem) =
        call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&token), Some(&body))).await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["started_at"]);

    let started = (time::OffsetDateTime::now_utc() - time::Duration::minutes(20))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let mut body = body;
    body["started_at"] = json!(started);
    let (response, incident) =
        call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&token), Some(&body))).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{incident:#}");
    assert_eq!(content_type(&response), "application/json");
    let number = incident["number"].as_i64().expect("number");
    assert!(number >= 1);
    assert_eq!(incident["reference"], format!("INC-{number}"));
    assert_eq!(response.headers()[header::LOCATION], format!("/api/v1/incidents/{number}"));
    assert_eq!(etag(&response), "\"1\"");
    assert_eq!(incident["version"], 1);
    assert_eq!(incident["status"], "triggered");
    assert_eq!(incident["severity"], "P1");
    assert_eq!(incident["summary"], "Since **03:12**.");
    assert_eq!(incident["private"], false);
    assert_eq!(incident["labels"], json!(["database", "login"]));
    assert_eq!(incident["commander"]["email"], commander.email);
    assert_eq!(incident["components"].as_array().expect("components").len(), 2);
    assert!(
        incident["components"]
            .as_array()
            .expect("components")
            .iter()
            .any(|c| c["id"] == DATABASE_COMPONENT && c["impact"] == "major_outage")
    );
    assert_eq!(kinds(&incident), ["declared", "component_impact_changed", "component_impact_changed"]);
    // Started 20 minutes ago, a P1's 15-minute response target has already passed.
    assert_eq!(incident["sla"]["response_overdue"], true, "{incident:#}");
    assert_eq!(incident["sla"]["acknowledged_within_sla"], Value::Null);
    assert!(incident["sla"]["respond_by"].as_str().is_some_and(|t| t.ends_with('Z')), "{incident:#}");
    let actor = incident["timeline"][0]["actor"].as_str().expect("actor");
    assert!(actor.contains(&commander.email) && actor.contains("(token api tests)"), "{actor}");

    let audit = testing::audit_actions(&pool, "incident.declare").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_user_id, Some(commander.id));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn declaring_needs_a_commander_token(pool: PgPool) {
    let app = testing::app(&pool);
    for role in [Role::Viewer, Role::Responder] {
        let token = bearer(&pool, role).await;
        let (response, problem) =
            call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&token), Some(&p1()))).await;
        assert_problem(&response, &problem, StatusCode::FORBIDDEN);
        assert!(problem["detail"].as_str().expect("detail").contains("commander"), "{problem:#}");
    }
    let (response, problem) =
        call(&app, api_request(Method::POST, "/api/v1/incidents", None, Some(&p1()))).await;
    assert_problem(&response, &problem, StatusCode::UNAUTHORIZED);
    assert!(response.headers()[header::WWW_AUTHENTICATE].to_str().expect("ascii").starts_with("Bearer"));
    let (response, problem) =
        call(&app, api_request(Method::POST, "/api/v1/incidents", Some("tlp_not-a-real-token"), Some(&p1())))
            .await;
    assert_problem(&response, &problem, StatusCode::UNAUTHORIZED);
    assert_eq!(incident_count(&pool).await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_declarations_are_422_problems_naming_each_field_and_write_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let token = bearer(&pool, Role::Commander).await;
    let long = "x".repeat(10_000);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"title": "Outage", "severity": "P9"}), "severity"),
        (json!({"title": "Outage", "severity": "critical"}), "severity"),
        (json!({"title": "", "severity": "P1"}), "title"),
        (json!({"title": "   ", "severity": "P1"}), "title"),
        (json!({"title": long, "severity": "P1"}), "title"),
        (json!({"severity": "P1"}), "title"),
        (json!({"title": "Outage"}), "severity"),
        (
            json!({"title": "Outage", "severity": "P1", "components": [{"id": "0193a000-0000-7000-8000-0000000000ff", "impact": "major_outage"}]}),
            "components",
        ),
        (
            json!({"title": "Outage", "severity": "P1", "components": [{"id": "api", "impact": "major_outage"}]}),
            "components[0].id",
        ),
        (
            json!({"title": "Outage", "severity": "P1", "components": [{"id": API_COMPONENT, "impact": "on_fire"}]}),
            "components[0].impact",
        ),
        (
            json!({"title": "Outage", "severity": "P1", "components": [{"id": API_COMPONENT}]}),
            "components[0].impact",
        ),
        (
            json!({"title": "Outage", "severity": "P1", "components": [{"id": API_COMPONENT, "impact": "major_outage", "x": 1}]}),
            "components[0].x",
        ),
        (json!({"title": "Outage", "severity": "P1", "colour": "red"}), "colour"),
        (json!({"title": "Outage", "severity": "P1", "private": "yes"}), "private"),
        (json!({"title": 42, "severity": "P1"}), "title"),
        (json!({"title": "Outage", "severity": "P1", "started_at": "yesterday"}), "started_at"),
        (json!({"title": "Outage", "severity": "P1", "commander": "nobody@twisterlab.test"}), "commander"),
        (json!({"title": "Outage", "severity": "P1", "summary": "s".repeat(20_001)}), "summary"),
        (json!({"title": "Outage", "severity": "P1", "labels": ["l".repeat(41)]}), "labels"),
    ];
    for (body, field) in cases {
        let (response, problem) =
            call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&token), Some(&body))).await;
        assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        let fields = error_fields(&problem);
        assert!(
            fields.iter().any(|f| f == field),
            "expected an error on {field} for {body:.200}, got {problem:#}"
        );
    }
    // Several mistakes at once are all reported.
    let body = json!({"title": "", "severity": "P9", "components": [{"id": API_COMPONENT, "impact": "bad"}]});
    let (response, problem) =
        call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&token), Some(&body))).await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_fields(&problem);
    for field in ["title", "severity", "components[0].impact"] {
        assert!(fields.iter().any(|f| f == field), "{field} missing from {problem:#}");
    }
    assert_eq!(incident_count(&pool).await, 0);
    assert!(testing::audit_actions(&pool, "incident.declare").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn malformed_json_wrong_content_types_and_huge_bodies_are_clear_problems(pool: PgPool) {
    let app = testing::app(&pool);
    let token = bearer(&pool, Role::Commander).await;
    let raw = |body: &'static str, content_type: &'static str| {
        Request::post("/api/v1/incidents")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let (response, problem) =
        call(&app, raw("{\"title\": \"Outage\",\n \"severity\": }", "application/json")).await;
    assert_problem(&response, &problem, StatusCode::BAD_REQUEST);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("line 2 column"), "the position is named: {detail}");

    let (response, problem) = call(&app, raw("[1, 2]", "application/json")).await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);

    let (response, problem) =
        call(&app, raw("title=Outage&severity=P1", "application/x-www-form-urlencoded")).await;
    assert_problem(&response, &problem, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(problem["detail"].as_str().expect("detail").contains("application/json"), "{problem:#}");
    let (response, problem) = call(
        &app,
        Request::post("/api/v1/incidents")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A 5 MB note: larger than the body limit.
    let incident = declare(&app, &token, p1()).await;
    let note = json!({"kind": "note", "body": "a".repeat(5 * 1024 * 1024)});
    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&incident, "/events"), Some(&token), Some(&note))).await;
    assert_problem(&response, &problem, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, after) = call(&app, api_request(Method::GET, &path(&incident, ""), Some(&token), None)).await;
    assert_eq!(kinds(&after), ["declared", "component_impact_changed"], "nothing half-written");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_viewer_reads_an_incident_with_components_sla_and_the_whole_timeline(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let viewer = bearer(&pool, Role::Viewer).await;
    let declared = declare(&app, &commander, p1()).await;
    let number = declared["number"].as_i64().expect("number");

    for address in [format!("/api/v1/incidents/{number}"), format!("/api/v1/incidents/INC-{number}")] {
        let (response, incident) = call(&app, api_request(Method::GET, &address, Some(&viewer), None)).await;
        assert_eq!(response.status(), StatusCode::OK, "{incident:#}");
        assert_eq!(content_type(&response), "application/json");
        assert_eq!(etag(&response), "\"1\"");
        assert_eq!(incident["number"], number);
        assert_eq!(incident["components"][0]["name"], "API");
        assert_eq!(incident["links"], json!([]));
        for key in ["respond_by", "escalate_by", "acknowledged_within_sla", "response_overdue"] {
            assert!(incident["sla"].get(key).is_some(), "sla.{key} missing: {incident:#}");
        }
        let first = &incident["timeline"][0];
        for key in ["id", "at", "kind", "actor", "body", "public", "public_status", "corrects", "data"] {
            assert!(first.get(key).is_some(), "timeline event lacks {key}: {first:#}");
        }
        let at = first["at"].as_str().expect("at");
        assert!(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
            "{at}"
        );
        assert_eq!(at.len(), "2026-03-01T14:05:06.123Z".len(), "milliseconds, UTC: {at}");
        assert_eq!(first["kind"], "declared");
        assert_eq!(first["data"]["severity"], "P1");
    }

    for missing in ["/api/v1/incidents/999999", "/api/v1/incidents/INC-0", "/api/v1/incidents/abc"] {
        let (response, problem) = call(&app, api_request(Method::GET, missing, Some(&viewer), None)).await;
        assert_problem(&response, &problem, StatusCode::NOT_FOUND);
    }
    let (response, problem) =
        call(&app, api_request(Method::GET, "/api/v1/incidents/999999", Some(&viewer), None)).await;
    assert_problem(&response, &problem, StatusCode::NOT_FOUND);
    assert!(problem["detail"].as_str().expect("detail").contains("INC-999999"), "{problem:#}");
    let (response, problem) =
        call(&app, api_request(Method::GET, &format!("/api/v1/incidents/{number}"), None, None)).await;
    assert_problem(&response, &problem, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_list_filters_and_pages_with_an_opaque_cursor(pool: PgPool) {
    let app = testing::app(&pool);
    let (commander, token) = caller(&pool, Role::Commander).await;
    let (other, other_token) = caller(&pool, Role::Commander).await;
    let viewer = bearer(&pool, Role::Viewer).await;
    let mut numbers = vec![];
    for (i, severity) in ["P0", "P1", "P2", "P3", "P1"].iter().enumerate() {
        let started = (time::OffsetDateTime::now_utc()
            - time::Duration::hours(i64::try_from(i).expect("small") + 1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
        let token = if i == 4 { &other_token } else { &token };
        let title = if i == 2 { "Cache eviction storm".to_owned() } else { format!("Outage number {i}") };
        let incident =
            declare(&app, token, json!({"title": title, "severity": severity, "started_at": started})).await;
        numbers.push(incident["number"].as_i64().expect("number"));
    }
    // The newest incident is resolved, so it comes after every open one.
    let (response, _) = call(
        &app,
        api_request(Method::POST, &format!("/api/v1/incidents/{}/resolve", numbers[0]), Some(&token), None),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let list = |query: &str| {
        let app = app.clone();
        let uri = format!("/api/v1/incidents{query}");
        let viewer = viewer.clone();
        async move { call(&app, api_request(Method::GET, &uri, Some(&viewer), None)).await }
    };
    let got = |page: &Value| -> Vec<i64> {
        page["incidents"]
            .as_array()
            .expect("incidents")
            .iter()
            .map(|i| i["number"].as_i64().expect("number"))
            .collect()
    };

    let (response, page) = list("").await;
    assert_eq!(response.status(), StatusCode::OK, "{page:#}");
    assert_eq!(got(&page), [numbers[1], numbers[2], numbers[3], numbers[4], numbers[0]]);
    assert_eq!(page["next_cursor"], Value::Null);
    assert!(page["incidents"][0].get("timeline").is_none(), "lists leave the timeline out");

    let mut seen = vec![];
    let mut query = "?limit=2".to_owned();
    loop {
        let (response, page) = list(&query).await;
        assert_eq!(response.status(), StatusCode::OK, "{page:#}");
        let numbers = got(&page);
        assert!(numbers.len() <= 2);
        seen.extend(numbers);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={}", crate::auth::urlencode(cursor)),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [numbers[1], numbers[2], numbers[3], numbers[4], numbers[0]],
        "pages cover everything once, in order"
    );

    assert_eq!(got(&list("?status=resolved").await.1), [numbers[0]]);
    assert_eq!(got(&list("?status=open").await.1).len(), 4);
    assert_eq!(got(&list("?status=triggered&severity=P1").await.1), [numbers[1], numbers[4]]);
    assert_eq!(got(&list("?severity=p3").await.1), [numbers[3]]);
    assert_eq!(
        got(&list(&format!("?commander={}", crate::auth::urlencode(&other.email))).await.1),
        [numbers[4]]
    );
    assert_eq!(
        got(&list(&format!("?commander={}&severity=P2", crate::auth::urlencode(&commander.email))).await.1),
        [numbers[2]]
    );
    assert_eq!(got(&list("?q=cache%20storm").await.1), [numbers[2]]);
    let cutoff = (time::OffsetDateTime::now_utc() - time::Duration::minutes(150))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let cutoff = crate::auth::urlencode(&cutoff);
    assert_eq!(got(&list(&format!("?from={cutoff}")).await.1), [numbers[1], numbers[0]]);
    assert_eq!(got(&list(&format!("?until={cutoff}")).await.1), [numbers[2], numbers[3], numbers[4]]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn bad_list_parameters_are_400_problems_naming_the_parameter(pool: PgPool) {
    let app = testing::app(&pool);
    let viewer = bearer(&pool, Role::Viewer).await;
    let long = format!("q={}", "q".repeat(201));
    let cases: [(&str, &str); 17] = [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("status=on_fire", "status"),
        ("severity=P7", "severity"),
        ("from=yesterday", "from"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("from=%202026-03-02T00:00:00Z", "from"),
        ("status=OPEN", "status"),
        ("severity=P1%20", "severity"),
        ("cursor=%2B0.1.1", "cursor"),
        ("q=a%00b", "q"),
        ("cursor=not-a-cursor", "cursor"),
        ("commander=nobody%40twisterlab.test", "commander"),
        ("sort=title", "sort"),
        ("limit=1&limit=2", "limit"),
        (long.as_str(), "q"),
    ];
    for (query, field) in cases {
        let (response, problem) =
            call(&app, api_request(Method::GET, &format!("/api/v1/incidents?{query}"), Some(&viewer), None))
                .await;
        assert_problem(&response, &problem, StatusCode::BAD_REQUEST);
        assert_eq!(error_fields(&problem), [field], "{query}: {problem:#}");
    }
    // `until` at or before `from` is an empty range, not a mistake.
    let (response, page) = call(
        &app,
        api_request(
            Method::GET,
            "/api/v1/incidents?from=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z",
            Some(&viewer),
            None,
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{page:#}");
    assert_eq!(page["incidents"], json!([]));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn acknowledging_needs_a_responder_and_works_once(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let responder = bearer(&pool, Role::Responder).await;
    let viewer = bearer(&pool, Role::Viewer).await;
    let incident = declare(&app, &commander, p1()).await;
    let ack = path(&incident, "/acknowledge");

    let (response, problem) = call(&app, api_request(Method::POST, &ack, Some(&viewer), None)).await;
    assert_problem(&response, &problem, StatusCode::FORBIDDEN);
    let (response, problem) = call(&app, api_request(Method::POST, &ack, None, None)).await;
    assert_problem(&response, &problem, StatusCode::UNAUTHORIZED);

    let (response, acknowledged) = call(&app, api_request(Method::POST, &ack, Some(&responder), None)).await;
    assert_eq!(response.status(), StatusCode::OK, "{acknowledged:#}");
    assert_eq!(acknowledged["status"], "acknowledged");
    assert_eq!(acknowledged["sla"]["acknowledged_within_sla"], true);
    assert_eq!(acknowledged["sla"]["response_overdue"], false);
    assert!(acknowledged["acknowledged_at"].is_string());
    assert_eq!(acknowledged["version"], 2);
    assert_eq!(etag(&response), "\"2\"");
    assert_eq!(kinds(&acknowledged).last(), Some(&"acknowledged"));

    let (response, problem) =
        call(&app, api_request(Method::POST, &ack, Some(&responder), Some(&json!({})))).await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().expect("detail").contains("already acknowledged"), "{problem:#}");

    let (response, problem) =
        call(&app, api_request(Method::POST, "/api/v1/incidents/424242/acknowledge", Some(&responder), None))
            .await;
    assert_problem(&response, &problem, StatusCode::NOT_FOUND);
    let (response, problem) = call(
        &app,
        api_request(Method::POST, &ack, Some(&responder), Some(&json!({"version": 2, "force": true}))),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["force"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn acknowledging_a_resolved_incident_is_a_409_that_says_why(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let responder = bearer(&pool, Role::Responder).await;
    let incident = declare(&app, &commander, p1()).await;

    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&incident, "/resolve"), Some(&responder), None)).await;
    assert_problem(&response, &problem, StatusCode::FORBIDDEN);
    let (response, resolved) = call(
        &app,
        api_request(
            Method::POST,
            &path(&incident, "/resolve"),
            Some(&commander),
            Some(&json!({"version": 1})),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{resolved:#}");
    assert_eq!(resolved["status"], "resolved");
    assert!(resolved["resolved_at"].is_string());

    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&incident, "/acknowledge"), Some(&responder), None)).await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("resolved") && detail.contains("reopen"), "{detail}");
    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&incident, "/resolve"), Some(&commander), None)).await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn notes_need_a_responder_and_public_updates_a_commander(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let responder = bearer(&pool, Role::Responder).await;
    let viewer = bearer(&pool, Role::Viewer).await;
    let incident = declare(&app, &commander, p1()).await;
    let events = path(&incident, "/events");

    let note = json!({"kind": "note", "body": "Checked `pg_stat_activity`: 97 of 100 connections busy."});
    let (response, problem) =
        call(&app, api_request(Method::POST, &events, Some(&viewer), Some(&note))).await;
    assert_problem(&response, &problem, StatusCode::FORBIDDEN);
    let (response, event) =
        call(&app, api_request(Method::POST, &events, Some(&responder), Some(&note))).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{event:#}");
    assert_eq!(event["kind"], "note");
    assert_eq!(event["public"], false);
    assert_eq!(event["body"], note["body"]);
    assert_eq!(etag(&response), "\"1\"", "a note is an append: it leaves the version alone");

    let update = json!({"kind": "public_update", "body": "Investigating elevated API errors.", "status": "identified"});
    let (response, problem) =
        call(&app, api_request(Method::POST, &events, Some(&responder), Some(&update))).await;
    assert_problem(&response, &problem, StatusCode::FORBIDDEN);
    assert!(problem["detail"].as_str().expect("detail").contains("commander"), "{problem:#}");
    let (response, event) =
        call(&app, api_request(Method::POST, &events, Some(&commander), Some(&update))).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{event:#}");
    assert_eq!(event["kind"], "public_update");
    assert_eq!(event["public"], true);
    assert_eq!(event["public_status"], "identified");
    let (_, current) = call(&app, api_request(Method::GET, &path(&incident, ""), Some(&viewer), None)).await;
    assert_eq!(current["status"], "identified", "the update moved the incident");

    let bad: [(Value, &str); 5] = [
        (json!({"kind": "note", "body": ""}), "body"),
        (json!({"kind": "note", "body": "x", "status": "monitoring"}), "status"),
        (json!({"kind": "tweet", "body": "x"}), "kind"),
        (json!({"body": "x"}), "kind"),
        (json!({"kind": "public_update", "body": "x", "status": "triggered"}), "status"),
    ];
    for (body, field) in bad {
        let (response, problem) =
            call(&app, api_request(Method::POST, &events, Some(&commander), Some(&body))).await;
        assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&problem), [field], "{body}: {problem:#}");
    }

    // Private incidents never reach the status page.
    let private =
        declare(&app, &commander, json!({"title": "Credential leak", "severity": "P0", "security": true}))
            .await;
    assert_eq!(private["private"], true);
    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&private, "/events"), Some(&commander), Some(&update)))
            .await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().expect("detail").contains("private"), "{problem:#}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_script_in_a_note_comes_back_verbatim_because_json_is_not_html(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident =
        declare(&app, &commander, json!({"title": "<img src=x onerror=alert(1)>", "severity": "P2"})).await;
    assert_eq!(incident["title"], "<img src=x onerror=alert(1)>");
    let script = "<script>alert(1)</script>";
    let (response, event) = call(
        &app,
        api_request(
            Method::POST,
            &path(&incident, "/events"),
            Some(&commander),
            Some(&json!({"kind": "note", "body": script})),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{event:#}");
    assert_eq!(content_type(&response), "application/json", "never text/html");
    assert_eq!(event["body"], script);
    let (response, current) =
        call(&app, api_request(Method::GET, &path(&incident, ""), Some(&commander), None)).await;
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(current["timeline"].as_array().expect("timeline").last().expect("event")["body"], script);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_patch_changes_severity_status_and_commander_together(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let (successor, _) = caller(&pool, Role::Commander).await;
    let responder = bearer(&pool, Role::Responder).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");
    let respond_by_p1 = incident["sla"]["respond_by"].as_str().expect("respond_by").to_owned();

    let patch =
        json!({"severity": "P0", "status": "investigating", "commander": successor.email, "version": 1});
    let (response, problem) =
        call(&app, api_request(Method::PATCH, &address, Some(&responder), Some(&patch))).await;
    assert_problem(&response, &problem, StatusCode::FORBIDDEN);
    let (response, changed) =
        call(&app, api_request(Method::PATCH, &address, Some(&commander), Some(&patch))).await;
    assert_eq!(response.status(), StatusCode::OK, "{changed:#}");
    assert_eq!(changed["severity"], "P0");
    assert_eq!(changed["status"], "investigating");
    assert_eq!(changed["commander"]["email"], successor.email);
    assert!(changed["acknowledged_at"].is_string(), "moving past triggered is the first response");
    assert_ne!(changed["sla"]["respond_by"], respond_by_p1, "deadlines follow the new severity");
    assert_eq!(
        &kinds(&changed)[2..],
        ["role_assigned", "severity_changed", "acknowledged", "status_changed"],
        "{changed:#}"
    );
    let version = changed["version"].as_i64().expect("version");
    assert_eq!(etag(&response), format!("\"{version}\""));

    // Values already in place are left alone: nothing changes, nothing is appended.
    let (response, same) =
        call(&app, api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"severity": "P0"}))))
            .await;
    assert_eq!(response.status(), StatusCode::OK, "{same:#}");
    assert_eq!(same["version"], version);
    assert_eq!(kinds(&same).len(), kinds(&changed).len());

    // Resolving through PATCH, and reopening: a resolved incident reopens to a working status
    // (investigating, identified or monitoring), never back to triggered or acknowledged.
    let (_, resolved) = call(
        &app,
        api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"status": "resolved"}))),
    )
    .await;
    assert_eq!(resolved["status"], "resolved", "{resolved:#}");
    let (response, problem) = call(
        &app,
        api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"status": "acknowledged"}))),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    let (_, reopened) = call(
        &app,
        api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"status": "monitoring"}))),
    )
    .await;
    assert_eq!(reopened["status"], "monitoring", "{reopened:#}");
    assert_eq!(kinds(&reopened).last(), Some(&"reopened"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_patch_is_all_or_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");
    let (response, _) =
        call(&app, api_request(Method::POST, &path(&incident, "/acknowledge"), Some(&commander), None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, before) = call(&app, api_request(Method::GET, &address, Some(&commander), None)).await;

    // The severity change is valid, the status change is not: neither is kept.
    let (response, problem) = call(
        &app,
        api_request(
            Method::PATCH,
            &address,
            Some(&commander),
            Some(&json!({"severity": "P0", "status": "triggered"})),
        ),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    assert!(problem["detail"].as_str().expect("detail").contains("triggered"), "{problem:#}");
    let (_, after) = call(&app, api_request(Method::GET, &address, Some(&commander), None)).await;
    assert_eq!(after["severity"], "P1");
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["timeline"], before["timeline"]);
    assert!(testing::audit_actions(&pool, "incident.severity").await.is_empty());

    let cases: [(Value, StatusCode, &str); 5] = [
        (json!({}), StatusCode::BAD_REQUEST, "body"),
        (json!({"version": 2}), StatusCode::BAD_REQUEST, "body"),
        (json!({"severity": "P5"}), StatusCode::UNPROCESSABLE_ENTITY, "severity"),
        (json!({"status": "panicking"}), StatusCode::UNPROCESSABLE_ENTITY, "status"),
        (json!({"title": "Renamed"}), StatusCode::UNPROCESSABLE_ENTITY, "title"),
    ];
    for (body, status, field) in cases {
        let (response, problem) =
            call(&app, api_request(Method::PATCH, &address, Some(&commander), Some(&body))).await;
        assert_problem(&response, &problem, status);
        assert_eq!(error_fields(&problem), [field], "{body}: {problem:#}");
    }
    let (response, problem) = call(
        &app,
        api_request(
            Method::PATCH,
            &address,
            Some(&commander),
            Some(&json!({"commander": "ghost@twisterlab.test"})),
        ),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["commander"]);
    let (response, problem) = call(
        &app,
        api_request(
            Method::PATCH,
            "/api/v1/incidents/424242",
            Some(&commander),
            Some(&json!({"severity": "P0"})),
        ),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_stale_version_is_a_409_that_names_what_changed(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let (responder_user, responder) = caller(&pool, Role::Responder).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");
    let (response, _) =
        call(&app, api_request(Method::POST, &path(&incident, "/acknowledge"), Some(&responder), None)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let (response, problem) = call(
        &app,
        api_request(
            Method::PATCH,
            &address,
            Some(&commander),
            Some(&json!({"severity": "P0", "version": 1})),
        ),
    )
    .await;
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("version 2")
            && detail.contains("acknowledged")
            && detail.contains(&responder_user.email),
        "{detail}"
    );

    // Appends never conflict: a stale version on a note or a plain public update is no reason
    // to drop what someone wrote.
    for body in
        [json!({"kind": "note", "body": "Looking."}), json!({"kind": "public_update", "body": "Looking."})]
    {
        let mut req = api_request(Method::POST, &path(&incident, "/events"), Some(&commander), Some(&body));
        req.headers_mut().insert(header::IF_MATCH, "\"1\"".parse().expect("header"));
        let (response, event) = call(&app, req).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{event:#}");
    }
    // The same through If-Match, on every state change that takes a version (a public update
    // that also moves the status is one).
    for (method, tail, body) in [
        (Method::PATCH, "", Some(json!({"severity": "P0"}))),
        (Method::POST, "/resolve", None),
        (
            Method::POST,
            "/events",
            Some(json!({"kind": "public_update", "body": "Looking.", "status": "identified"})),
        ),
    ] {
        let mut req = api_request(method.clone(), &path(&incident, tail), Some(&commander), body.as_ref());
        req.headers_mut().insert(header::IF_MATCH, "\"1\"".parse().expect("header"));
        let (response, problem) = call(&app, req).await;
        assert_problem(&response, &problem, StatusCode::CONFLICT);
        assert!(
            problem["detail"].as_str().expect("detail").contains("acknowledged"),
            "{method} {tail}: {problem:#}"
        );
    }
    let (_, current) = call(&app, api_request(Method::GET, &address, Some(&commander), None)).await;
    assert_eq!(current["version"], 2, "nothing was applied: {current:#}");

    let mut req = api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"severity": "P0"})));
    req.headers_mut().insert(header::IF_MATCH, "\"2\"".parse().expect("header"));
    let (response, changed) = call(&app, req).await;
    assert_eq!(response.status(), StatusCode::OK, "{changed:#}");
    assert_eq!(etag(&response), "\"3\"");

    let mut req = api_request(
        Method::PATCH,
        &address,
        Some(&commander),
        Some(&json!({"severity": "P2", "version": 3})),
    );
    req.headers_mut().insert(header::IF_MATCH, "\"2\"".parse().expect("header"));
    let (response, problem) = call(&app, req).await;
    // At most one of two different versions is current: a conflict, whichever it is.
    assert_problem(&response, &problem, StatusCode::CONFLICT);
    let mut req = api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"severity": "P2"})));
    req.headers_mut().insert(header::IF_MATCH, "three".parse().expect("header"));
    let (response, problem) = call(&app, req).await;
    assert_problem(&response, &problem, StatusCode::BAD_REQUEST);
    assert_eq!(error_fields(&problem), ["If-Match"]);
}

/// Sends both PATCHes at once from two tasks; returns their statuses in order of the bodies.
async fn patch_concurrently(
    app: &axum::Router,
    address: &str,
    token: &str,
    bodies: [Value; 2],
) -> Vec<StatusCode> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let app = app.clone();
            let req = api_request(Method::PATCH, address, Some(token), Some(&body));
            tokio::spawn(async move { call(&app, req).await })
        })
        .collect();
    let mut tasks = tasks.into_iter();
    let (Some(a), Some(b)) = (tasks.next(), tasks.next()) else { unreachable!("two tasks") };
    let (a, b) = tokio::join!(a, b);
    let ((ra, ba), (rb, bb)) = (a.expect("task a"), b.expect("task b"));
    for (r, b) in [(&ra, &ba), (&rb, &bb)] {
        assert!(r.status() == StatusCode::OK || r.status() == StatusCode::CONFLICT, "{}: {b:#}", r.status());
    }
    vec![ra.status(), rb.status()]
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn two_concurrent_patches_with_the_same_version_exactly_one_wins(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");

    let statuses = patch_concurrently(
        &app,
        &address,
        &commander,
        [json!({"severity": "P0", "version": 1}), json!({"status": "investigating", "version": 1})],
    )
    .await;
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [StatusCode::OK, StatusCode::CONFLICT], "{statuses:?}");
    let (_, current) = call(&app, api_request(Method::GET, &address, Some(&commander), None)).await;
    let severity_won = statuses[0] == StatusCode::OK;
    assert_eq!(current["severity"], if severity_won { "P0" } else { "P1" }, "{current:#}");
    assert_eq!(current["status"], if severity_won { "triggered" } else { "investigating" }, "{current:#}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn two_concurrent_patches_without_a_version_both_apply_and_neither_is_lost(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");

    let statuses = patch_concurrently(
        &app,
        &address,
        &commander,
        [json!({"severity": "P0"}), json!({"status": "investigating"})],
    )
    .await;
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK]);
    let (_, current) = call(&app, api_request(Method::GET, &address, Some(&commander), None)).await;
    assert_eq!(current["severity"], "P0", "{current:#}");
    assert_eq!(current["status"], "investigating", "{current:#}");
    let timeline = kinds(&current);
    for kind in ["severity_changed", "acknowledged", "status_changed"] {
        assert!(timeline.contains(&kind), "{kind} missing: {timeline:?}");
    }
    // Version 1, plus one for the severity and one for the status change.
    assert_eq!(current["version"], 3, "{current:#}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_openapi_document_is_public_json(pool: PgPool) {
    let app = testing::app(&pool);
    let (response, doc) = call(&app, api_request(Method::GET, "/api/v1/openapi.json", None, None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/incidents/{number}"]["patch"].is_object());
}

// The contract: the server refuses what the OpenAPI document calls invalid and takes what it
// calls valid (scripts/api-contract checks it at large; these are the rules it found).

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_version_is_an_int32_from_one_and_an_integral_number_like_1_0_counts(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "/acknowledge");
    for (version, status) in [
        (json!(2147483648_i64), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(0), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(1.5), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(null), StatusCode::UNPROCESSABLE_ENTITY),
        (json!(2147483647), StatusCode::CONFLICT),
    ] {
        let body = json!({"version": version});
        let (response, problem) =
            call(&app, api_request(Method::POST, &address, Some(&commander), Some(&body))).await;
        assert_problem(&response, &problem, status);
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(error_fields(&problem), ["version"], "{body}: {problem:#}");
        }
    }
    let body = json!({"version": 1.0});
    let (response, acknowledged) =
        call(&app, api_request(Method::POST, &address, Some(&commander), Some(&body))).await;
    assert_eq!(response.status(), StatusCode::OK, "{acknowledged:#}");
    assert_eq!(acknowledged["status"], "acknowledged");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn null_is_not_a_way_to_leave_a_field_out_and_nul_characters_are_refused(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let mut cases = vec![];
    for field in ["commander", "started_at", "private", "severity"] {
        let mut body = p1();
        body[field] = Value::Null;
        cases.push((body, field.to_owned()));
    }
    let mut body = p1();
    body["summary"] = json!("before\u{0}after");
    cases.push((body, "summary".to_owned()));
    let mut body = p1();
    body["labels"] = json!(["ok", "bad\u{0}"]);
    cases.push((body, "labels[1]".to_owned()));
    for (body, field) in cases {
        let (response, problem) =
            call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&commander), Some(&body))).await;
        assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&problem), std::slice::from_ref(&field), "{body}: {problem:#}");
    }
    assert_eq!(incident_count(&pool).await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn names_times_and_ids_are_taken_exactly_as_the_document_writes_them(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let with = |field: &str, value: Value| {
        let mut body = p1();
        body[field] = value;
        body
    };
    let braced = format!("{{{API_COMPONENT}}}");
    for (body, field) in [
        (with("severity", json!(" P1")), "severity"),
        (
            with("components", json!([{"id": API_COMPONENT, "impact": "Partial_Outage"}])),
            "components[0].impact",
        ),
        (with("components", json!([{"id": braced, "impact": "partial_outage"}])), "components[0].id"),
        (with("started_at", json!(" 2026-03-01T00:00:00Z")), "started_at"),
    ] {
        let (response, problem) =
            call(&app, api_request(Method::POST, "/api/v1/incidents", Some(&commander), Some(&body))).await;
        assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error_fields(&problem).contains(&field.to_owned()), "{body}: {problem:#}");
    }
    // Lowercase severities are documented (`SeverityInput`) and taken.
    let incident = declare(&app, &commander, with("severity", json!("p2"))).await;
    assert_eq!(incident["severity"], "P2");
    // A note that announces a status is not a note the document describes.
    let body = json!({"kind": "note", "body": "Looking.", "status": "identified"});
    let (response, problem) =
        call(&app, api_request(Method::POST, &path(&incident, "/events"), Some(&commander), Some(&body)))
            .await;
    assert_problem(&response, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["status"]);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn if_match_is_nothing_a_star_or_one_canonical_version_tag(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = bearer(&pool, Role::Commander).await;
    let incident = declare(&app, &commander, p1()).await;
    let address = path(&incident, "");
    let patch = |tag: &'static str, severity: &str| {
        let mut req =
            api_request(Method::PATCH, &address, Some(&commander), Some(&json!({"severity": severity})));
        req.headers_mut().insert(header::IF_MATCH, tag.parse().expect("header"));
        req
    };
    for tag in ["\"01\"", "\"2147483648\"", "\"-1\"", "1", "\"1\", \"2\""] {
        let (response, problem) = call(&app, patch(tag, "P2")).await;
        assert_problem(&response, &problem, StatusCode::BAD_REQUEST);
        assert_eq!(error_fields(&problem), ["If-Match"], "{tag}: {problem:#}");
    }
    let (response, changed) = call(&app, patch("", "P2")).await;
    assert_eq!(response.status(), StatusCode::OK, "an empty If-Match asks for nothing: {changed:#}");
    let (response, changed) = call(&app, patch("W/\"2\"", "P3")).await;
    assert_eq!(response.status(), StatusCode::OK, "{changed:#}");
    assert_eq!(changed["severity"], "P3");
}
