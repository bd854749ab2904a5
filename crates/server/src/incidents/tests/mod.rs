//! HTTP tests of the incident pages, exports and the SLA admin page, on a fresh database each,
//! by topic; the helpers here drive the pages as a browser would.

mod actions;
mod corrections;
mod declare;
mod export;
mod list;
mod running;
mod show;
mod sla;
mod timeline;

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use sqlx::PgPool;
use twisterlab_domain::incident::IncidentNumber;

use crate::testing::{Browser, post_form, send};

/// A status-page component of the seeded install.
const API_COMPONENT: &str = "0193a000-0000-7000-8000-000000000011";

fn location(response: &Response<Body>) -> String {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Declares through the form; returns the incident's path (`/incidents/INC-n`).
async fn declare_via_form(app: &axum::Router, commander: &Browser, fields: &[(&str, &str)]) -> String {
    let (response, body) = send(app, post_form("/incidents", Some(commander), fields)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    let to = location(&response);
    assert!(to.starts_with("/incidents/INC-"), "{to}");
    to
}

/// The `version` hidden field of the first form on the page.
fn version_on(html: &str) -> String {
    let at =
        html.find("name=\"version\" value=\"").expect("a version field") + "name=\"version\" value=\"".len();
    html[at..].split('"').next().expect("value").to_owned()
}

async fn incident_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from incidents").fetch_one(pool).await.expect("count")
}

fn number_of(path: &str) -> IncidentNumber {
    path.trim_start_matches("/incidents/")
        .split('#')
        .next()
        .expect("number")
        .parse()
        .expect("an incident number")
}
