//! The overview says what to do: a recovered service with its incident still open asks to
//! resolve it, the banner never says "All systems healthy" while an incident is open, and the
//! change marker the pages poll answers 304 until something changes.

use axum::http::{StatusCode, header};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::without_seeded_services;
use crate::db::audit::Actor;
use crate::testing::{self, builders, get, send};

/// A service whose failures declared an open incident; returns the incident's number.
async fn service_with_its_incident(pool: &PgPool, name: &str, private: bool) -> i64 {
    let service = builders::service(name).create(pool).await;
    let incident = builders::incident(&format!("{name} is down")).private(private).declare(pool).await;
    crate::db::health::link_signal_incident(pool, service, incident.id).await.expect("link");
    sqlx::query(
        "update health_signal_incidents set opened_at = now() - interval '10 minutes' where incident_id = $1",
    )
    .bind(incident.id)
    .execute(pool)
    .await
    .expect("opened 10 min ago");
    incident.number.get()
}

/// The probes' verdict, as the scheduler records it.
async fn service_is(pool: &PgPool, name: &str, state: &str, minutes_ago: i32) {
    sqlx::query(
        "update health_service_state set state = $2, state_since = now() - make_interval(mins => $3)
          where service_id = (select id from health_services where name = $1)",
    )
    .bind(name)
    .bind(state)
    .bind(minutes_ago)
    .execute(pool)
    .await
    .expect("set state");
}

fn banner(html: &str) -> &str {
    let start = html.find("id=\"overall\">").expect("a banner") + "id=\"overall\">".len();
    &html[start..start + html[start..].find("</p>").expect("banner ends")]
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_service_back_up_while_its_incident_is_open_asks_to_resolve_it_and_not_otherwise(pool: PgPool) {
    without_seeded_services(&pool).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let number = service_with_its_incident(&pool, "twisterlab-api", false).await;

    // Still down: nothing to resolve yet.
    service_is(&pool, "twisterlab-api", "down", 8).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert!(!html.contains("resolve INC-"), "down, no hint: {html}");

    service_is(&pool, "twisterlab-api", "up", 3).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert!(
        html.contains("twisterlab-api</a> recovered <time")
            && html.contains("3 min ago</time> — <a href=\"/incidents/")
            && html.contains(&format!("<a href=\"/incidents/{number}\">resolve INC-{number}?</a>")),
        "{html}"
    );

    // Resolved: nothing left to do.
    let mut tx = pool.begin().await.expect("begin");
    let n = twisterlab_domain::incident::IncidentNumber::new(number).expect("number");
    crate::incidents::service::resolve(&mut tx, &Actor::system(), n, None).await.expect("resolve");
    tx.commit().await.expect("commit");
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert!(!html.contains("resolve INC-"), "resolved, no hint: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_recovery_hint_of_a_private_incident_is_only_for_those_who_may_read_it(pool: PgPool) {
    without_seeded_services(&pool).await;
    let app = testing::app(&pool);
    let number = service_with_its_incident(&pool, "twisterlab-db", true).await;
    service_is(&pool, "twisterlab-db", "up", 1).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert!(!html.contains("resolve INC-"), "a viewer does not read private incidents: {html}");
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let (_, html) = send(&app, get("/", Some(&responder))).await;
    assert!(html.contains(&format!("resolve INC-{number}?")), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_banner_never_says_all_systems_healthy_while_an_incident_is_open(pool: PgPool) {
    without_seeded_services(&pool).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    builders::service("twisterlab-api").create(&pool).await;
    service_is(&pool, "twisterlab-api", "up", 5).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert_eq!(banner(&html), "All systems healthy");

    let incident = builders::incident("Customers report slow exports").declare(&pool).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert_eq!(banner(&html), "Signals healthy, but 1 incident is open");
    assert!(!html.contains("All systems healthy"), "{html}");
    assert!(html.contains("class=\"banner state-degraded\""), "{html}");

    builders::incident("Second one").declare(&pool).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert_eq!(banner(&html), "Signals healthy, but 2 incidents are open");

    service_is(&pool, "twisterlab-api", "down", 1).await;
    let (_, html) = send(&app, get("/", Some(&viewer))).await;
    assert_eq!(banner(&html), "Outage: twisterlab-api down; 2 incidents are open");
    let _ = incident;
}

#[test]
fn banner_words_for_each_verdict_with_and_without_open_incidents() {
    use super::super::home::banner;
    use twisterlab_domain::health::Overall;
    assert_eq!(banner(Overall::Healthy, "", 0, false).text, "All systems healthy");
    assert_eq!(
        banner(Overall::Healthy, "", 11, true).text,
        "Signals healthy, but more than 11 incidents are open"
    );
    assert_eq!(banner(Overall::Unknown, "", 1, false).text, "Not known yet; 1 incident is open");
    assert_eq!(
        banner(Overall::Degraded, "error rate over threshold", 0, false).text,
        "Degraded: error rate over threshold"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_change_marker_answers_304_until_something_changes_then_a_new_etag(pool: PgPool) {
    without_seeded_services(&pool).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let poll = |etag: Option<String>| {
        let mut request = get("/live", Some(&viewer));
        request.headers_mut().insert(header::ACCEPT, "application/json".parse().expect("header"));
        if let Some(tag) = etag {
            request.headers_mut().insert(header::IF_NONE_MATCH, tag.parse().expect("header"));
        }
        send(&app, request)
    };
    let (response, body) = poll(None).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let first = response.headers()[header::ETAG].to_str().expect("ascii").to_owned();
    assert!(first.starts_with('"') && body.contains("\"version\""), "{first} {body}");

    let (response, body) = poll(Some(first.clone())).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(response.headers()[header::ETAG].to_str().expect("ascii"), first);

    // An incident is declared: the pages must reload.
    builders::incident("Exports fail").declare(&pool).await;
    let (response, _) = poll(Some(first.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second = response.headers()[header::ETAG].to_str().expect("ascii").to_owned();
    assert_ne!(second, first);

    // A service changes state: again.
    builders::service("twisterlab-api").create(&pool).await;
    let (response, _) = poll(Some(second.clone())).await;
    let third = response.headers()[header::ETAG].to_str().expect("ascii").to_owned();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(third, second);
    service_is(&pool, "twisterlab-api", "down", 0).await;
    let (response, _) = poll(Some(third.clone())).await;
    assert_eq!(response.status(), StatusCode::OK, "a state change moves the marker");

    // Signed out: no marker.
    let mut request = get("/live", None);
    request.headers_mut().insert(header::ACCEPT, "application/json".parse().expect("header"));
    let (response, _) = send(&app, request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_pages_that_change_during_an_incident_carry_the_optional_refresh_script(pool: PgPool) {
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let incident = builders::incident("Exports fail").declare(&pool).await;
    let show = format!("/incidents/{}", incident.number.get());
    for path in ["/", "/incidents", show.as_str()] {
        let (response, html) = send(&app, get(path, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(html.contains("id=\"live\" hidden") && html.contains("/static/live."), "{path}: {html}");
        assert!(!html.contains("<script>"), "no inline script under the CSP: {path}");
    }
    let (_, html) = send(&app, get("/oncall", Some(&viewer))).await;
    assert!(!html.contains("id=\"live\""), "pages that do not change during an incident poll nothing");
}
