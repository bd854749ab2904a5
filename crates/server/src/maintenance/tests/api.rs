//! `/api/v1/maintenance` with bearer tokens: a window from draft to completed, the checklist
//! gate, field errors and refusals as problem details.

use axum::http::{Method, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::testing::{TestApp, api_request, api_token, user};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let (response, text) = app.send(api_request(method, path, Some(token), body.as_ref())).await;
    let location =
        response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (response.status(), serde_json::from_str(&text).unwrap_or(Value::Null), location)
}

fn at(hours: i64) -> String {
    crate::clock::iso(Timestamp::now() + SignedDuration::from_hours(hours))
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_token_takes_a_window_from_draft_to_completed_behind_the_checklist(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = api_token(&pool, &user(&pool, Role::Commander).await, "deploy bot").await;
    let responder = api_token(&pool, &user(&pool, Role::Responder).await, "ops").await;
    let viewer = api_token(&pool, &user(&pool, Role::Viewer).await, "dashboard").await;
    let api = "0193a000-0000-7000-8000-000000000011";
    let new = json!({"title": "Database upgrade", "description": "PostgreSQL 16.", "starts_at": at(72), "ends_at": at(75), "components": [api]});

    let (status, _, _) = call(&app, Method::POST, "/api/v1/maintenance", &viewer, Some(new.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body, location) =
        call(&app, Method::POST, "/api/v1/maintenance", &commander, Some(new)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["state"].as_str(), body["public_status"].clone()), (Some("draft"), Value::Null));
    assert_eq!(body["checklist"]["items"].as_array().map(Vec::len), Some(5));
    assert_eq!(location, body["url"].as_str().unwrap_or_default());
    let base = location;

    let (status, body, _) = call(&app, Method::POST, &format!("{base}/schedule"), &commander, None).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("scheduled")), "{body}");
    let (status, body, _) =
        call(&app, Method::POST, &format!("{base}/start"), &commander, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("checklist items are not ticked")), "{body}");

    let tick = |key: &str| format!("{base}/checklist/{key}/tick");
    let (status, body, _) =
        call(&app, Method::POST, &tick("database_backed_up"), &responder, Some(json!({"evidence": ""})))
            .await;
    // The same empty body ticks other items: the item's state refuses it (409), naming the field.
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errors"][0]["field"], "evidence", "{body}");
    for (key, evidence) in [
        ("database_backed_up", "s3://backups/pre-16.sql.gz"),
        ("rollback_tested", "staging"),
        ("rollback_plan_ready", "wiki/rollback"),
    ] {
        let (status, body, _) =
            call(&app, Method::POST, &tick(key), &responder, Some(json!({"evidence": evidence}))).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
    }
    let (_, checklist, _) = call(&app, Method::GET, &format!("{base}/checklist"), &viewer, None).await;
    assert_eq!(checklist["complete"], true, "{checklist}");

    let (status, body, _) = call(&app, Method::POST, &format!("{base}/start"), &commander, None).await;
    assert_eq!((status, body["public_status"].as_str()), (StatusCode::OK, Some("in_progress")), "{body}");
    let (status, update, _) = call(
        &app,
        Method::POST,
        &format!("{base}/updates"),
        &commander,
        Some(json!({"body": "Halfway there."})),
    )
    .await;
    assert_eq!((status, update["status"].as_str()), (StatusCode::CREATED, Some("in_progress")), "{update}");
    let (_, body, _) = call(&app, Method::POST, &format!("{base}/verify"), &commander, None).await;
    assert_eq!(body["public_status"], "verifying", "{body}");
    let (status, body, _) =
        call(&app, Method::POST, &format!("{base}/complete"), &commander, Some(json!({"version": 1}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale version changes nothing: {body}");
    let version = body["detail"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(version.contains("changed since you loaded it"), "{version}");
    let (status, body, _) = call(&app, Method::POST, &format!("{base}/complete"), &commander, None).await;
    assert_eq!(
        (status, body["state"].as_str(), body["public_status"].as_str()),
        (StatusCode::OK, Some("completed"), Some("completed"))
    );
    assert_eq!(body["updates"][0]["body"], "The scheduled maintenance has been completed.");

    let (status, body, _) =
        call(&app, Method::POST, &tick("rollback_tested"), &responder, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list, _) = call(&app, Method::GET, "/api/v1/maintenance", &viewer, None).await;
    assert_eq!(list["windows"].as_array().map(Vec::len), Some(1));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn bad_windows_are_field_errors_and_unknown_ones_are_not_found(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = api_token(&pool, &user(&pool, Role::Commander).await, "deploy bot").await;
    let bad = json!({"title": "Upgrade", "starts_at": at(75), "ends_at": at(72), "components": ["0193a000-0000-7000-8000-00000000ffff"]});
    let (status, body, _) = call(&app, Method::POST, "/api/v1/maintenance", &commander, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["ends_at", "components"], "{body}");
    let (status, body, _) = call(
        &app,
        Method::POST,
        "/api/v1/maintenance",
        &commander,
        Some(json!({"title": "x", "colour": "red"})),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("colour"))
    );
    let (status, _, _) = call(&app, Method::GET, "/api/v1/maintenance/not-a-uuid", &commander, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &app,
        Method::POST,
        "/api/v1/maintenance/0193a000-0000-7000-8000-00000000ffff/start",
        &commander,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
