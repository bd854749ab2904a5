use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;
use uuid::Uuid;

use super::unanswered;
use crate::testing::builders::team;
use crate::testing::{TestApp, audit_actions, get, post_form};

async fn event_ids(pool: &PgPool, kind: &str) -> Vec<Uuid> {
    sqlx::query_scalar("select event_id from escalations where kind = $1 order by fired_at")
        .bind(kind)
        .fetch_all(pool)
        .await
        .expect("escalations")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_unanswered_incident_lists_its_missed_acknowledgement_escalation_and_breach_with_who_was_on_call_and_paged(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let team = team(&pool).await;
    let inc = unanswered(&pool, "Checkout times out", Severity::P1).await;
    let manager = app.signed_in(Role::Manager).await;

    let (response, body) = app.send(get("/escalations", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "{body:.2000}");
    let table = body.split("id=\"escalations\"").nth(1).expect("the table");
    for words in ["Missed acknowledgement", "Escalated to the manager", "Response SLA breached"] {
        assert!(table.contains(words), "{words} listed: {table:.3000}");
    }
    assert!(table.contains(&team.alice.display_name), "the primary on call is named");
    assert!(table.contains(&team.bob.display_name), "the secondary paged is named");
    assert!(table.contains(&team.mia.display_name), "the manager paged is named");
    assert!(table.contains("never acknowledged"));
    let missed = event_ids(&pool, "missed_acknowledgement").await;
    assert_eq!(missed.len(), 1);
    assert!(
        table.contains(&format!("href=\"/incidents/{}/events/{}\"", inc.number.get(), missed[0])),
        "the row links to the moment on the timeline"
    );
    // The anchor exists on the incident page.
    let (_, incident_page) = app.send(get(&format!("/incidents/{}", inc.number.get()), Some(&manager))).await;
    assert!(incident_page.contains(&format!("id=\"e-{}\"", missed[0])));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_commander_cannot_review_a_manager_can_and_the_review_is_audited_shown_on_the_incident_and_leaves_the_count(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    let inc = unanswered(&pool, "Queue backlog", Severity::P2).await;
    let commander = app.signed_in(Role::Commander).await;
    let manager = app.signed_in(Role::Manager).await;
    let id = event_ids(&pool, "missed_acknowledgement").await[0];
    let review = format!("/escalations/{id}/review");

    let (response, _) = app.send(get("/escalations", Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (response, _) = app.send(post_form(&review, Some(&commander), &[("comment", "fine")])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, body) = app.send(get("/incidents", Some(&commander))).await;
    assert!(!body.contains("href=\"/escalations\""), "commanders see no escalations entry");

    let (_, body) = app.send(get("/incidents", Some(&manager))).await;
    let badge = body.split("id=\"unreviewed-escalations\"").nth(1).expect("the manager sees the count");
    assert!(badge.contains(">3<"), "three unreviewed: {badge:.200}");

    let (response, body) = app
        .send(post_form(
            &review,
            Some(&manager),
            &[("comment", "Bob's phone was on silent."), ("follow_up", "Test paging at every hand-off")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body:.1000}");
    let audit = audit_actions(&pool, "escalation.review").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_user_id, Some(manager.user.id));
    assert_eq!(audit[0].target, format!("incident:INC-{}", inc.number.get()));

    let (_, body) = app.send(get(&format!("/incidents/{}", inc.number.get()), Some(&manager))).await;
    let reviews = body.split("id=\"escalation-reviews\"").nth(1).expect("reviews on the incident");
    assert!(
        reviews.contains("Bob&#39;s phone was on silent.") || reviews.contains("Bob's phone was on silent.")
    );
    assert!(reviews.contains("Test paging at every hand-off"));

    let (_, body) = app.send(get("/incidents", Some(&manager))).await;
    let badge = body.split("id=\"unreviewed-escalations\"").nth(1).expect("still two");
    assert!(badge.contains(">2<"), "{badge:.200}");

    let (_, body) = app.send(get("/escalations?reviewed=no", Some(&manager))).await;
    assert!(!body.contains(&format!("id=\"esc-{id}\"")), "a reviewed one leaves the unreviewed list");
    let (_, body) = app.send(get("/escalations?reviewed=yes", Some(&manager))).await;
    assert!(body.contains(&format!("id=\"esc-{id}\"")));

    // Reviewed once: a second review is refused and the first stays.
    let (response, _) = app.send(post_form(&review, Some(&manager), &[("comment", "again")])).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(audit_actions(&pool, "escalation.review").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_review_comment_over_10000_characters_or_empty_is_a_field_error_and_nothing_is_saved(pool: PgPool) {
    let app = TestApp::new(&pool);
    team(&pool).await;
    unanswered(&pool, "Disk full", Severity::P2).await;
    let manager = app.signed_in(Role::Manager).await;
    let id = event_ids(&pool, "sla_breach").await[0];
    let review = format!("/escalations/{id}/review");

    let long = "x".repeat(10_001);
    let (response, body) = app.send(post_form(&review, Some(&manager), &[("comment", &long)])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"comment-error\""), "{body:.2000}");
    assert!(body.contains("10000 characters"));
    let (response, body) = app.send(post_form(&review, Some(&manager), &[("comment", "  ")])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("id=\"comment-error\""));
    let reviewed: i64 = sqlx::query_scalar("select count(*) from escalations where reviewed_at is not null")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(reviewed, 0);
    assert!(audit_actions(&pool, "escalation.review").await.is_empty());

    let (response, body) =
        app.send(post_form(&review, Some(&manager), &[("comment", &"y".repeat(10_000))])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "exactly 10,000 is fine: {body:.500}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn unknown_person_or_severity_or_a_malformed_day_are_field_errors_and_an_inverted_range_matches_nothing(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let manager = app.signed_in(Role::Manager).await;
    let cases = [
        (format!("/escalations?person={}", Uuid::now_v7()), "person-error"),
        ("/escalations?person=nobody".to_owned(), "person-error"),
        ("/escalations?severity=P9".to_owned(), "severity-error"),
        ("/escalations?level=ceo".to_owned(), "level-error"),
        ("/escalations?start=yesterday".to_owned(), "start-error"),
        ("/escalations?end=1969-12-31".to_owned(), "end-error"),
        ("/escalations?start=2026-11-01&start=2026-11-02".to_owned(), "start-error"),
    ];
    for (path, field) in cases {
        let (response, body) = app.send(get(&path, Some(&manager))).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(body.contains(&format!("id=\"{field}\"")), "{path}: {body:.1500}");
    }
    team(&pool).await;
    unanswered(&pool, "Pager silent", Severity::P1).await;
    let (response, body) =
        app.send(get("/escalations?start=2999-12-31&end=1970-01-01", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "{body:.1500}");
    assert!(!body.contains("id=\"esc-"), "nothing fired after the start and before the end");
    let (response, body) = app.send(get("/escalations?end=2999-12-31", Some(&manager))).await;
    assert_eq!(response.status(), StatusCode::OK, "an open range");
    assert_eq!(body.matches("id=\"esc-").count(), 3, "{body:.1500}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn filters_narrow_the_list_and_keyset_pages_walk_every_escalation_once(pool: PgPool) {
    let app = TestApp::new(&pool);
    let team = team(&pool).await;
    let manager = app.signed_in(Role::Manager).await;
    // 18 unanswered incidents: 54 escalations, more than one page.
    for i in 0..18 {
        let severity = if i % 3 == 0 { Severity::P1 } else { Severity::P3 };
        unanswered(&pool, &format!("Incident {i}"), severity).await;
    }
    let mut seen = Vec::new();
    let mut path = "/escalations".to_owned();
    loop {
        let (response, body) = app.send(get(&path, Some(&manager))).await;
        assert_eq!(response.status(), StatusCode::OK);
        seen.extend(body.match_indices("id=\"esc-").map(|(i, _)| body[i + 8..i + 44].to_owned()));
        match body.split("rel=\"next\" href=\"").nth(1) {
            Some(rest) => path = rest.split('"').next().expect("href").replace("&amp;", "&"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 54);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 54, "no row on two pages");

    let (_, body) = app.send(get("/escalations?severity=P1&level=secondary", Some(&manager))).await;
    assert_eq!(body.matches("id=\"esc-").count(), 6);
    let (_, body) = app.send(get(&format!("/escalations?person={}", team.mia.id), Some(&manager))).await;
    assert_eq!(body.matches("id=\"esc-").count(), 18, "Mia was paged as manager 18 times");
}
