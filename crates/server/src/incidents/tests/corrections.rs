//! Incidents people can correct: title and summary with before and after on the timeline, and a
//! public incident declared by mistake withdrawn from the status page with a reason.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{API_COMPONENT, declare_via_form, version_on};
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_commander_corrects_title_and_summary_and_the_timeline_keeps_before_and_after(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "Databse down"), ("severity", "P2"), ("summary", "Writes fail.")],
    )
    .await;

    let fields = [("title", "Database read-only"), ("summary", "Writes fail; reads work.")];
    let (response, _) = send(&app, post_form(&format!("{path}/details"), Some(&responder), &fields)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a responder who does not command it cannot");

    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    let version = version_on(&html);
    let mut with_version = fields.to_vec();
    with_version.push(("version", &version));
    let (response, body) =
        send(&app, post_form(&format!("{path}/details"), Some(&commander), &with_version)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");

    let (_, html) = send(&app, get(&path, Some(&responder))).await;
    assert!(html.contains("Database read-only</h1>"), "the incident shows the new title: {html}");
    assert!(html.contains("Title corrected") && html.contains("Summary corrected"), "{html}");
    assert!(
        html.contains("<dt>before</dt><dd>Databse down</dd>")
            && html.contains("<dt>after</dt><dd>Database read-only</dd>"),
        "before and after: {html}"
    );
    assert!(html.contains("<dd>Writes fail.</dd>"), "the old summary stays on the timeline: {html}");
    let audit = audit_actions(&pool, "incident.correct_details").await;
    assert_eq!(audit.len(), 1);

    let (response, html) = send(&app, post_form(&format!("{path}/details"), Some(&commander), &fields)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{html}");
    assert!(html.contains("nothing changed"), "{html}");
    let (response, html) = send(
        &app,
        post_form(&format!("{path}/details"), Some(&commander), &[("title", " "), ("summary", "x")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{html}");
}

fn status_page(path: &str) -> Request<Body> {
    Request::builder().uri(path).header("host", "localhost").body(Body::empty()).expect("request")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_public_incident_declared_by_mistake_is_withdrawn_from_the_status_page_with_a_reason(pool: PgPool) {
    let test_app = testing::TestApp::new(&pool);
    let worker = test_app.status_worker();
    let app = test_app.router.clone();
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let impact_field = format!("impact_{API_COMPONENT}");
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "Mistaken API outage"), ("severity", "P1"), (&impact_field, "major_outage")],
    )
    .await;
    worker.run_once().await.expect("build");
    let (_, public) = send(&app, status_page("/status")).await;
    assert!(public.contains("Mistaken API outage"), "on the status page first: {public}");

    let (response, html) =
        send(&app, post_form(&format!("{path}/withdraw"), Some(&commander), &[("reason", "")])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a reason is required: {html}");
    let (response, body) = send(
        &app,
        post_form(
            &format!("{path}/withdraw"),
            Some(&commander),
            &[("reason", "Declared by mistake: the probe was misconfigured")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");

    worker.run_once().await.expect("rebuild");
    let (_, public) = send(&app, status_page("/status")).await;
    assert!(!public.contains("Mistaken API outage"), "the status page dropped it: {public}");
    assert!(public.contains("All systems operational"), "{public}");
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(
        html.contains("Withdrawn from the status page: Declared by mistake: the probe was misconfigured")
            && html.contains("private: not on the status page"),
        "{html}"
    );
    let audit = audit_actions(&pool, "incident.withdraw").await;
    assert_eq!(audit.len(), 1);

    // Published again, it comes back, recorded as a correction of its visibility.
    let (response, _) = send(&app, post_form(&format!("{path}/publish"), Some(&commander), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    worker.run_once().await.expect("rebuild");
    let (_, public) = send(&app, status_page("/status")).await;
    assert!(public.contains("Mistaken API outage"), "{public}");
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("Made public (was private)"), "{html}");
}
