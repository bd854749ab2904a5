use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{load, start_on_incident};
use crate::testing::{self, TestApp, api_request};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let (response, text) = app.send(api_request(method, path, Some(token), body)).await;
    (response.status(), serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn runbooks_and_runs_are_read_started_and_completed_through_the_api(pool: PgPool) {
    load(&pool).await;
    let app = TestApp::new(&pool);
    let viewer = testing::user(&pool, Role::Viewer).await;
    let viewer = testing::api_token(&pool, &viewer, "read").await;
    let commander_user = testing::user(&pool, Role::Commander).await;
    let commander = testing::api_token(&pool, &commander_user, "ops").await;

    let (status, list) = call(&app, Method::GET, "/api/v1/runbooks", &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(10));
    let (status, rb) = call(&app, Method::GET, "/api/v1/runbooks/api-pods-crashing", &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rb["sections"][0]["kind"], "diagnosis");
    let (status, _) = call(&app, Method::GET, "/api/v1/runbooks/nope", &viewer, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let incident = testing::builders::incident("API down").declare(&pool).await;
    let n = incident.number.get();
    let start = json!({"runbook": "api-pods-crashing"});
    let (status, _) =
        call(&app, Method::POST, &format!("/api/v1/incidents/{n}/runs"), &viewer, Some(&start)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/incidents/{n}/runs"),
        &commander,
        Some(&json!({"runbook": "api-pods-crashing", "x": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, run) =
        call(&app, Method::POST, &format!("/api/v1/incidents/{n}/runs"), &commander, Some(&start)).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    assert_eq!(run["incident"], n);
    let id = run["id"].as_str().expect("id").to_owned();
    let step = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["key"] == "check-env-vars")
        .expect("step")
        .clone();
    let version = step["version"].as_i64().expect("version");

    let path = format!("/api/v1/runs/{id}/steps/check-env-vars");
    let (status, body) = call(&app, Method::POST, &path, &commander, Some(&json!({"change": "skip"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "reason");
    let (status, run) = call(
        &app,
        Method::POST,
        &path,
        &commander,
        Some(&json!({"change": "complete", "version": version, "note": "env is right"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let done = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["key"] == "check-env-vars")
        .expect("step")
        .clone();
    assert_eq!((done["status"].as_str(), done["note"].as_str()), (Some("done"), Some("env is right")));
    let (status, body) =
        call(&app, Method::POST, &path, &commander, Some(&json!({"change": "complete", "version": version})))
            .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("done")), "{body}");

    let (status, runs) = call(&app, Method::GET, &format!("/api/v1/incidents/{n}/runs"), &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(runs.as_array().map(Vec::len), Some(1));
    let (status, _) = call(&app, Method::GET, &format!("/api/v1/runs/{id}"), &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, Method::GET, "/api/v1/runs/not-a-uuid", &viewer, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _ = start_on_incident;
}
