use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::unanswered;
use crate::testing::builders::team;
use crate::testing::{TestApp, api_request, api_token, get, user};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_api_lists_and_reviews_escalations_for_managers_only_and_refuses_bad_input_with_problems(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    unanswered(&pool, "Search slow", Severity::P1).await;
    let manager = user(&pool, Role::Manager).await;
    let commander = user(&pool, Role::Commander).await;
    let token = api_token(&pool, &manager, "ci").await;
    let commander_token = api_token(&pool, &commander, "ci").await;

    let (response, body) =
        app.send(api_request(Method::GET, "/api/v1/escalations", Some(&token), None)).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["escalations"].as_array().expect("array").len(), 3);
    assert_eq!(list["next"], serde_json::Value::Null);
    let id = list["escalations"][0]["id"].as_str().expect("id").to_owned();

    let (response, _) =
        app.send(api_request(Method::GET, "/api/v1/escalations", Some(&commander_token), None)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let path = format!("/api/v1/escalations/{id}/review");
    let (response, _) = app
        .send(api_request(Method::POST, &path, Some(&commander_token), Some(&json!({"comment": "ok"}))))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let (response, body) = app
        .send(api_request(Method::POST, &path, Some(&token), Some(&json!({"comment": "x".repeat(10_001)}))))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("\"comment\""));
    let (response, _) = app
        .send(api_request(Method::POST, &path, Some(&token), Some(&json!({"comment": "ok", "extra": 1}))))
        .await;
    assert!(response.status().is_client_error());

    let (response, body) = app
        .send(api_request(
            Method::POST,
            &path,
            Some(&token),
            Some(&json!({"comment": "Seen", "follow_up": "Fix the pager"})),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let reviewed: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(reviewed["review"]["comment"], "Seen");
    assert_eq!(reviewed["review"]["follow_up"], "Fix the pager");

    let (response, body) =
        app.send(api_request(Method::GET, "/api/v1/escalations?severity=P9", Some(&token), None)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_report_api_returns_the_page_tables_cell_for_cell(pool: PgPool) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    unanswered(&pool, "Login loop", Severity::P1).await;
    let manager = user(&pool, Role::Manager).await;
    let token = api_token(&pool, &manager, "ci").await;
    let browser = crate::testing::session_for(&pool, manager.clone()).await;

    let (response, body) =
        app.send(api_request(Method::GET, "/api/v1/reports?kind=week", Some(&token), None)).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    let (_, html) = app.send(get("/reports?kind=week", Some(&browser))).await;
    for table in report["tables"].as_array().expect("tables") {
        let id = table["id"].as_str().expect("id");
        let rows: Vec<Vec<String>> = serde_json::from_value(table["rows"].clone()).expect("rows");
        assert_eq!(rows, super::reports::table_cells(&html, id), "{id}");
    }
    assert_eq!(report["tables"][0]["rows"][1][1], "1", "one P1 declared this week");

    let (response, body) = app
        .send(api_request(
            Method::GET,
            "/api/v1/reports?kind=custom&start=2026-11-30&end=2026-11-01",
            Some(&token),
            None,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("\"end\""), "{body}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_api_takes_an_open_range_and_refuses_a_repeated_empty_or_padded_parameter_as_a_field_error(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    unanswered(&pool, "Queue stuck", Severity::P2).await;
    let manager = user(&pool, Role::Manager).await;
    let token = api_token(&pool, &manager, "ci").await;
    let (response, body) =
        app.send(api_request(Method::GET, "/api/v1/escalations?end=2999-12-31", Some(&token), None)).await;
    assert_eq!(response.status(), StatusCode::OK, "an end without a start: {body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(list["escalations"].as_array().expect("array").len(), 3);

    for (path, field) in [
        ("/api/v1/escalations?severity=P1&severity=P2", "severity"),
        ("/api/v1/escalations?start=", "start"),
        ("/api/v1/escalations?severity=%20P1", "severity"),
        ("/api/v1/escalations?after=1.2", "after"),
        ("/api/v1/reports?kind=week&kind=month", "kind"),
        ("/api/v1/reports?start=null", "start"),
        ("/api/v1/reports?kind=quarter&date=20261203", "date"),
    ] {
        let (response, body) = app.send(api_request(Method::GET, path, Some(&token), None)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(
            response.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{path}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {body}");
    }
}

/// The document promises `format: uuid` (hyphenated) and a number without spaces; the contract
/// run once found another spelling of an existing escalation's id accepted.
#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn only_the_documented_spelling_of_an_id_or_number_addresses_an_existing_thing(pool: PgPool) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    unanswered(&pool, "Search slow", Severity::P1).await;
    let manager = user(&pool, Role::Manager).await;
    let token = api_token(&pool, &manager, "ci").await;
    let (_, body) = app.send(api_request(Method::GET, "/api/v1/escalations", Some(&token), None)).await;
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = list["escalations"][0]["id"].as_str().expect("id").to_owned();
    let number = list["escalations"][0]["incident_number"].as_i64().expect("number");

    let review = json!({"comment": "Seen"});
    for spelling in [id.replace('-', ""), format!("{{{id}}}"), format!("urn:uuid:{id}"), format!("%20{id}")] {
        let path = format!("/api/v1/escalations/{spelling}/review");
        let (response, body) = app.send(api_request(Method::POST, &path, Some(&token), Some(&review))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}: {body}");
    }
    for spelling in [format!("%20{number}"), format!("{number}%20"), format!("INC-{number}%09")] {
        let path = format!("/api/v1/incidents/{spelling}");
        let (response, body) = app.send(api_request(Method::GET, &path, Some(&token), None)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (response, body) = app
        .send(api_request(Method::GET, &format!("/api/v1/incidents/INC-{number}"), Some(&token), None))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let path = format!("/api/v1/escalations/{id}/review");
    let (response, body) = app.send(api_request(Method::POST, &path, Some(&token), Some(&review))).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
}
