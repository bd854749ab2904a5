//! Declaring through the form: every field, and invalid input that writes nothing.

use sqlx::PgPool;
use time::OffsetDateTime;
use twisterlab_domain::role::Role;

use super::{API_COMPONENT, declare_via_form, incident_count, number_of};
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn declaring_with_every_field_and_a_backdated_start_shows_the_overdue_ack(pool: PgPool) {
    let app = testing::app(&pool);
    let me = testing::signed_in(&pool, Role::Commander).await;
    let other = testing::signed_in(&pool, Role::Commander).await;
    // A security incident is private: responders and above read it (a viewer gets 404).
    let reader = testing::signed_in(&pool, Role::Responder).await;
    let zone = jiff::tz::TimeZone::UTC;
    let started = crate::clock::to_jiff(OffsetDateTime::now_utc() - time::Duration::minutes(40))
        .to_zoned_datetime(zone.clone());
    let detected = crate::clock::to_jiff(OffsetDateTime::now_utc() - time::Duration::minutes(30))
        .to_zoned_datetime(zone);
    let started = started.strftime("%Y-%m-%dT%H:%M").to_string();
    let detected = detected.strftime("%Y-%m-%dT%H:%M").to_string();
    let impact_field = format!("impact_{API_COMPONENT}");
    let commander_id = other.user.id.to_string();
    let path = declare_via_form(
        &app,
        &me,
        &[
            ("title", "Login tokens leaked in logs"),
            ("severity", "P1"),
            ("summary", "Tokens were written to the *access log*."),
            ("started_at", &started),
            ("detected_at", &detected),
            ("security", "on"),
            (&impact_field, "partial_outage"),
            ("impact_0193a000-0000-7000-8000-000000000015", ""),
            ("labels", "security, logging , security"),
            ("commander", &commander_id),
        ],
    )
    .await;

    let (_, html) = send(&app, get(&path, Some(&reader))).await;
    assert!(
        html.contains("Login tokens leaked in logs")
            && html.contains("security incident")
            && html.contains("private: not on the status page"),
        "{html}"
    );
    assert!(html.contains("API <span class=\"state state-partial_outage\">partial outage</span>"), "{html}");
    assert!(
        html.contains("<span class=\"tag\">logging</span>")
            && html.contains("<span class=\"tag\">security</span>"),
        "{html}"
    );
    assert!(
        html.contains("ack overdue by 2"),
        "40 minutes after the start, a P1 ack is 25 minutes late: {html}"
    );
    let n = number_of(&path);
    let (commander_id, private, started_at): (Option<uuid::Uuid>, bool, OffsetDateTime) =
        sqlx::query_as("select commander_id, private, started_at from incidents where number = $1")
            .bind(n.get())
            .fetch_one(&pool)
            .await
            .expect("the incident");
    assert_eq!(commander_id, Some(other.user.id));
    assert!(private, "security incidents default to private");
    assert_eq!(crate::clock::to_jiff(started_at).strftime("%Y-%m-%dT%H:%M").to_string(), started);

    let (_, html) = send(&app, get("/incidents", Some(&reader))).await;
    assert!(html.contains("ack overdue by"), "{html}");
    assert!(html.contains("escalation due") || html.contains("escalates in"), "{html}");
    assert_eq!(audit_actions(&pool, "incident.declare").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_declarations_rerender_the_form_and_write_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "  "), ("severity", "P1"), ("summary", "kept <as typed>")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"title-error\">the title is empty"), "{html}");
    assert!(
        html.contains("kept &#60;as typed&#62;") || html.contains("kept &lt;as typed&gt;"),
        "what was typed stays: {html}"
    );

    let long = "x".repeat(10_000);
    let (response, html) =
        send(&app, post_form("/incidents", Some(&commander), &[("title", &long), ("severity", "P1")])).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("10000 characters long; the limit is 200"), "{html}");

    let (response, html) =
        send(&app, post_form("/incidents", Some(&commander), &[("title", "Fine"), ("severity", "P9")])).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"severity-error\">unknown severity"), "{html}");

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "Fine"), ("severity", "P1"), ("started_at", "yesterday")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"started_at-error\""), "{html}");

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "Fine"), ("severity", "P1"), (&format!("impact_{API_COMPONENT}"), "on_fire")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"components-error\""), "{html}");

    assert_eq!(incident_count(&pool).await, 0);
    assert!(audit_actions(&pool, "incident.declare").await.is_empty());
}
