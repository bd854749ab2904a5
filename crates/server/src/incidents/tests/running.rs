//! Running an incident at 3 a.m.: typing is never lost to a teammate's append, the person on
//! call can take command and run it, resolving asks for a note on a confirmation page, and the
//! SLA words say what happened.

use axum::http::{Method, StatusCode};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{declare_via_form, location, number_of, version_on};
use crate::escalation::deadlines::DeadlineWorker;
use crate::testing::builders::{incident, team};
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_teammates_note_while_the_public_update_form_is_open_does_not_stop_the_update(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let teammate = testing::signed_in(&pool, Role::Responder).await;
    let path = declare_via_form(&app, &commander, &[("title", "Checkout errors"), ("severity", "P2")]).await;

    // The commander opens the page (and its public-update form) …
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    let version = version_on(&html);
    // … a teammate adds a note meanwhile …
    let (response, body) = send(
        &app,
        post_form(&format!("{path}/notes"), Some(&teammate), &[("body", "Payments provider is slow")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    // … and the update the commander was typing still goes out.
    let (response, body) = send(
        &app,
        post_form(
            &format!("{path}/updates"),
            Some(&commander),
            &[("body", "Some payments fail; we are on it."), ("status", ""), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    let (_, html) = send(&app, get(&path, Some(&teammate))).await;
    assert!(
        html.contains("Payments provider is slow") && html.contains("Some payments fail; we are on it."),
        "{html}"
    );
    // A second note from the other side works with the version read before both.
    let (response, _) = send(
        &app,
        post_form(
            &format!("{path}/notes"),
            Some(&commander),
            &[("body", "Paged the provider"), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_colliding_state_change_is_a_conflict_that_keeps_the_typed_text_and_says_what_changed(
    pool: PgPool,
) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let rival = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Login loop"), ("severity", "P2")]).await;

    let (_, html) = send(&app, get(&format!("{path}/resolve"), Some(&commander))).await;
    let version = version_on(&html);
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&rival), &[("severity", "P1")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let typed = "Rolled back the session cookie change; logins work again.";
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/resolve"),
            Some(&commander),
            &[("resolution", typed), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{html}");
    assert!(html.contains("changed severity P2 → P1"), "what changed since: {html}");
    assert!(html.contains("Your text is kept") && html.contains(typed), "{html}");
    // The kept form carries the current version: sending it again resolves.
    let current = version_on(&html);
    assert_ne!(current, version);
    let (response, body) = send(
        &app,
        post_form(
            &format!("{path}/resolve"),
            Some(&commander),
            &[("resolution", typed), ("version", &current)],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    let (response, html) = send(
        &app,
        post_form(&format!("{path}/resolve"), Some(&rival), &[("resolution", "done"), ("version", &current)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "resolving twice collides: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn resolving_asks_for_a_resolution_note_on_a_confirmation_page(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Search is slow"), ("severity", "P3")]).await;

    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains(&format!("href=\"{path}/resolve\"")), "Resolve leads to the confirmation: {html}");
    let (response, html) = send(&app, get(&format!("{path}/resolve"), Some(&commander))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        html.contains("Resolution note: what fixed it")
            && html.contains(&format!("action=\"{path}/resolve\""))
            && html.contains("Cancel, keep it open"),
        "{html}"
    );

    let (response, html) =
        send(&app, post_form(&format!("{path}/resolve"), Some(&commander), &[("resolution", "  ")])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("Write something."), "{html}");
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(!html.contains("resolved</span>"), "still open");

    let (response, _) = send(
        &app,
        post_form(
            &format!("{path}/resolve"),
            Some(&commander),
            &[("resolution", "Reindexed the *catalogue*.")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("Reindexed the <em>catalogue</em>."), "the note is on the timeline: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_responder_on_call_takes_command_and_runs_their_incident(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let other = testing::signed_in(&pool, Role::Responder).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(&app, &commander, &[("title", "Queue backlog"), ("severity", "P2")]).await;

    let (_, html) = send(&app, get(&path, Some(&responder))).await;
    assert!(html.contains("Take command") && !html.contains("Change severity"), "{html}");
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&responder), &[("severity", "P1")])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "not theirs yet");

    let (response, _) = send(&app, post_form(&format!("{path}/take-command"), Some(&viewer), &[])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "viewers never command");
    let (response, body) =
        send(&app, post_form(&format!("{path}/take-command"), Some(&responder), &[])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    let audit = audit_actions(&pool, "incident.take_command").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, format!("incident:{}", number_of(&path)));

    let (_, html) = send(&app, get(&path, Some(&responder))).await;
    assert!(html.contains("Change severity") && !html.contains(">Take command<"), "{html}");
    for (action, fields) in [
        ("severity", vec![("severity", "P1")]),
        ("status", vec![("status", "investigating")]),
        ("updates", vec![("body", "Looking into it"), ("status", "")]),
    ] {
        let (response, body) =
            send(&app, post_form(&format!("{path}/{action}"), Some(&responder), &fields)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{action}: {body}");
    }
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&other), &[("severity", "P0")])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "another responder still cannot");
    let (response, body) =
        send(&app, post_form(&format!("{path}/resolve"), Some(&responder), &[("resolution", "Drained")]))
            .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    assert!(location(&response).starts_with(&path));

    // The same rule through the API.
    let api =
        incident("API-run incident").by(&commander.user).commander(&responder.user).declare(&pool).await;
    let token = testing::api_token(&pool, &responder.user, "phone").await;
    let other_token = testing::api_token(&pool, &other.user, "phone").await;
    let uri = format!("/api/v1/incidents/{}", api.number.get());
    let change = serde_json::json!({"severity": "P1"});
    let (response, body) =
        send(&app, testing::api_request(Method::PATCH, &uri, Some(&other_token), Some(&change))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
    let (response, body) =
        send(&app, testing::api_request(Method::PATCH, &uri, Some(&token), Some(&change))).await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_commander_picker_offers_only_people_allowed_to_command(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let reader = testing::person(&pool, "Victor Viewer", Role::Viewer).await;
    let oncall = testing::person(&pool, "Rita Responder", Role::Responder).await;
    let path = declare_via_form(&app, &commander, &[("title", "Disk full"), ("severity", "P3")]).await;

    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    let picker =
        html.split("id=\"commander-user\"").nth(1).and_then(|s| s.split("</select>").next()).expect("picker");
    assert!(picker.contains("Rita Responder") && !picker.contains("Victor Viewer"), "{picker}");
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/roles"),
            Some(&commander),
            &[("role", "commander"), ("user", &reader.id.to_string())],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("cannot command an incident"), "{html}");
    let (response, _) = send(
        &app,
        post_form(
            &format!("{path}/roles"),
            Some(&commander),
            &[("role", "commander"), ("user", &oncall.id.to_string())],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn resolving_without_acknowledgement_says_so_instead_of_a_met_target(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "False alarm"), ("severity", "P3")]).await;
    let (response, _) = send(
        &app,
        post_form(&format!("{path}/resolve"), Some(&commander), &[("resolution", "Probe misfired")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for page in [path.as_str(), "/incidents"] {
        let (_, html) = send(&app, get(page, Some(&commander))).await;
        assert!(html.contains("resolved without acknowledgement"), "{page}: {html}");
        assert!(!html.contains("acknowledged after"), "{page}: {html}");
        assert!(!html.contains("target met"), "{page}: {html}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_fired_escalation_reads_as_who_was_paged_and_when_not_as_overdue(pool: PgPool) {
    let t = team(&pool).await;
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let incident = incident("Replication lag").declare(&pool).await;
    sqlx::query(
        "update escalation_deadlines set due_at = now() - interval '1 second' where state = 'pending'",
    )
    .execute(&pool)
    .await
    .expect("make due");
    let worker = DeadlineWorker { pool: pool.clone(), label: "test".into() };
    worker.run_once().await.expect("fire");
    let at: time::OffsetDateTime = sqlx::query_scalar(
        "select at from timeline_events where incident_id = $1 and kind = 'escalated' and data->>'to' = 'manager'",
    )
    .bind(incident.id)
    .fetch_one(&pool)
    .await
    .expect("escalated");
    let hhmm = crate::clock::time_of_day(crate::clock::to_jiff(at), &jiff::tz::TimeZone::UTC);
    let expected = format!("escalated to {} at {hhmm}", t.mia.display_name);
    for page in [format!("/incidents/{}", incident.number), "/incidents".to_owned()] {
        let (_, html) = send(&app, get(&page, Some(&viewer))).await;
        assert!(html.contains(&expected), "{page} should say {expected:?}: {html}");
        assert!(!html.contains("escalation due"), "{page}: {html}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn error_pages_keep_the_menu_and_the_signed_in_user(pool: PgPool) {
    let app = testing::app(&pool);
    let responder = testing::person(&pool, "Rosa Responder", Role::Responder).await;
    let browser = testing::session_for(&pool, responder).await;
    for (path, status) in [
        ("/incidents/new", StatusCode::FORBIDDEN),
        ("/incidents/INC-999", StatusCode::NOT_FOUND),
        ("/no-such-page", StatusCode::NOT_FOUND),
    ] {
        let (response, html) = send(&app, get(path, Some(&browser))).await;
        assert_eq!(response.status(), status, "{path}");
        assert!(
            html.contains("aria-label=\"Product areas\"") && html.contains(">Rosa Responder</a>"),
            "{path} keeps the menu and who is signed in: {html}"
        );
    }
    // Without a session the 404 stays a plain page.
    let (response, html) = send(&app, get("/no-such-page", None)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!html.contains("aria-label=\"Product areas\""), "{html}");
}
