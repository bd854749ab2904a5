//! The Markdown and JSON exports of an incident and its timeline.

use axum::http::header;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{declare_via_form, number_of};
use crate::testing::{self, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn exports_hold_every_step_in_order(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "API database connections exhausted"), ("severity", "P1")],
    )
    .await;
    let steps: [(&str, Vec<(&str, &str)>); 3] = [
        ("acknowledge", vec![]),
        ("updates", vec![("body", "Investigating elevated API errors"), ("status", "investigating")]),
        ("resolve", vec![("resolution", "Raised the pool size back to 100")]),
    ];
    for (action, fields) in steps {
        let (response, body) =
            send(&app, post_form(&format!("{path}/{action}"), Some(&commander), &fields)).await;
        assert_eq!(response.status(), 303, "{action}: {body}");
    }
    let n = number_of(&path);

    let (response, md) = send(&app, get(&format!("{path}/timeline.md"), Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/markdown"));
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{n}-timeline.md\"")
    );
    assert!(md.starts_with(&format!("# {n}: API database connections exhausted")), "{md}");
    assert!(
        md.contains("| Severity | P1 (critical feature) |") && md.contains("- Response (acknowledge): met"),
        "{md}"
    );
    let positions: Vec<usize> = [
        "· Declared ·",
        "· Acknowledged ·",
        "· Public update ·",
        "Investigating elevated API errors",
        "· Resolved ·",
    ]
    .iter()
    .map(|s| md.find(s).unwrap_or_else(|| panic!("{s} missing from {md}")))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order: {positions:?}\n{md}");

    let (response, json) =
        send(&app, get(&format!("/incidents/{}/timeline.json", n.get()), Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("the JSON export parses");
    assert_eq!(doc["incident"]["reference"], n.to_string());
    assert_eq!(doc["incident"]["status"], "resolved");
    let kinds: Vec<&str> =
        doc["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    let order = ["declared", "acknowledged", "public_update", "resolved"];
    let idx: Vec<usize> =
        order.iter().map(|k| kinds.iter().position(|x| x == k).expect("kind present")).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{kinds:?}");

    let (response, _) = send(&app, get("/incidents/INC-424242/timeline.md", Some(&viewer))).await;
    assert_eq!(response.status(), 404);
}
