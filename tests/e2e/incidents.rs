//! Incidents end to end: a P1 declared, acknowledged, updated and resolved through the JSON API
//! with a token from `create-token`, then exported as Markdown from a browser session.

use serde_json::{Value, json};

use crate::support::{PASSWORD, Portal, client, create_user, run_to_end, signed_in};

const API_COMPONENT: &str = "0193a000-0000-7000-8000-000000000011";
const UPDATE: &str = "Investigating elevated API errors";

/// A token printed by `twisterlab-portal create-token`, as an operator would script it.
fn create_token(portal: &Portal, email: &str, name: &str) -> String {
    let (code, stdout, stderr) = run_to_end(
        &["create-token", "--email", email, "--name", name],
        &[("DATABASE_URL", portal.database_url.as_str())],
    );
    assert_eq!(code, Some(0), "create-token failed:\n{stdout}\n{stderr}");
    let token = stdout.trim();
    assert!(
        token.starts_with("tlp_") && !token.contains(char::is_whitespace),
        "standard output is only the token: {stdout:?}"
    );
    token.to_owned()
}

/// Sends `request` with the token; returns the status and the JSON body.
async fn call(request: reqwest::RequestBuilder, token: &str) -> (reqwest::StatusCode, Value) {
    let response = request.bearer_auth(token).send().await.expect("the portal answers");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

/// Runs a P1 through its life with the API as a new commander; returns the incident as the API
/// shows it at the end.
async fn run_p1(portal: &Portal) -> Value {
    let email = format!("commander-{}@twisterlab.test", uuid::Uuid::new_v4().simple());
    create_user(&portal.database_url, &email, "commander", PASSWORD);
    let token = create_token(portal, &email, "e2e");
    let http = client();

    let declaration = json!({"title": "Database connections exhausted", "severity": "P1",
                             "summary": "`/health` reports `database: disconnected`.",
                             "components": [{"id": API_COMPONENT, "impact": "partial_outage"}]});
    let response = http
        .post(portal.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&declaration)
        .send()
        .await
        .expect("declare");
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    let declared: Value = response.json().await.expect("incident JSON");
    let number = declared["number"].as_i64().expect("number");
    assert_eq!(location, format!("/api/v1/incidents/{number}"));
    assert_eq!(declared["reference"], format!("INC-{number}"));

    let (status, acknowledged) =
        call(http.post(portal.url(&format!("{location}/acknowledge"))), &token).await;
    assert_eq!(status, 200, "{acknowledged:#}");
    assert_eq!(acknowledged["status"], "acknowledged");

    let update = json!({"kind": "public_update", "body": UPDATE, "status": "investigating", "version": acknowledged["version"]});
    let (status, event) =
        call(http.post(portal.url(&format!("{location}/events"))).json(&update), &token).await;
    assert_eq!(status, 201, "{event:#}");
    assert_eq!(event["public_status"], "investigating");

    let (status, resolved) = call(http.post(portal.url(&format!("{location}/resolve"))), &token).await;
    assert_eq!(status, 200, "{resolved:#}");
    assert_eq!(resolved["status"], "resolved");

    let (status, current) = call(http.get(portal.url(&location)), &token).await;
    assert_eq!(status, 200, "{current:#}");
    current
}

/// Where each of `needles` first appears in `haystack`, each after the one before; panics naming
/// the first one missing.
fn positions_in_order(haystack: &str, needles: &[&str]) -> Vec<usize> {
    let mut from = 0;
    needles
        .iter()
        .map(|needle| {
            let at = haystack[from..]
                .find(needle)
                .map(|i| from + i)
                .unwrap_or_else(|| panic!("{needle:?} does not follow the steps before it in:\n{haystack}"));
            from = at + needle.len();
            at
        })
        .collect()
}

#[tokio::test]
async fn the_api_runs_a_p1_from_declaration_to_resolution_and_the_timeline_keeps_the_order() {
    let portal = Portal::start().await;
    let incident = run_p1(&portal).await;
    let steps: Vec<&str> = incident["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| ["declared", "acknowledged", "public_update", "resolved"].contains(k))
        .collect();
    assert_eq!(steps, ["declared", "acknowledged", "public_update", "resolved"], "{incident:#}");
    let times: Vec<&str> =
        incident["timeline"].as_array().expect("timeline").iter().filter_map(|e| e["at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "events are oldest first");
    assert_eq!(incident["sla"]["acknowledged_within_sla"], true);

    // The real server sends problem details and the bearer challenge too.
    let response = client().get(portal.url("/api/v1/incidents")).send().await.expect("anonymous list");
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"].to_str().expect("ascii").starts_with("Bearer"));
    assert!(
        response.headers()["content-type"].to_str().expect("ascii").starts_with("application/problem+json")
    );
    let spec: Value = client()
        .get(portal.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("JSON");
    assert_eq!(spec["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_markdown_export_of_an_api_run_p1_lists_each_step_in_order() {
    let portal = Portal::start().await;
    let incident = run_p1(&portal).await;
    let number = incident["number"].as_i64().expect("number");

    let browser = signed_in(&portal, "viewer").await;
    let response = browser
        .get(portal.url(&format!("/incidents/{number}/timeline.md")))
        .send()
        .await
        .expect("GET timeline.md");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    let markdown = response.text().await.expect("body");
    assert!(markdown.contains("Database connections exhausted"), "{markdown}");

    // Only the timeline section: the header table also says "Acknowledged" and "Resolved".
    let timeline = markdown.find("## Timeline").map_or(markdown.as_str(), |i| &markdown[i..]).to_lowercase();
    positions_in_order(
        &timeline,
        &["declared", "acknowledged", "public update", &UPDATE.to_lowercase(), "resolved"],
    );
}
