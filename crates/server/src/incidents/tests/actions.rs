//! The quick actions: who may do what, refusals that explain themselves, size limits.

use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{API_COMPONENT, declare_via_form, location, version_on};
use crate::incidents::service;
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn each_action_is_refused_to_roles_below_it(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let other_responder = testing::signed_in(&pool, Role::Responder).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(&app, &commander, &[("title", "Queue backlog"), ("severity", "P3")]).await;

    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&viewer), &[])).await;
    assert_eq!(response.status(), 403, "viewers cannot acknowledge");
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&responder), &[("severity", "P1")])).await;
    assert_eq!(response.status(), 403, "responders cannot change severity");
    for action in ["status", "roles", "updates", "components", "links", "resolve", "reopen"] {
        let (response, _) = send(&app, post_form(&format!("{path}/{action}"), Some(&responder), &[])).await;
        assert_eq!(response.status(), 403, "responders cannot {action}");
    }
    let (response, _) =
        send(&app, post_form("/incidents", Some(&responder), &[("title", "x"), ("severity", "P1")])).await;
    assert_eq!(response.status(), 403, "responders cannot declare");

    // A responder notes and acknowledges, and corrects only their own notes.
    let (response, body) = send(
        &app,
        post_form(&format!("{path}/notes"), Some(&responder), &[("body", "Looking at the consumers")]),
    )
    .await;
    assert_eq!(response.status(), 303, "{body}");
    let note_anchor = location(&response);
    let note_id = note_anchor.rsplit("#e-").next().expect("anchor").to_owned();
    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&responder), &[])).await;
    assert_eq!(response.status(), 303);

    let correct = format!("{path}/events/{note_id}/correct");
    let (response, html) =
        send(&app, post_form(&correct, Some(&other_responder), &[("body", "not mine")])).await;
    assert_eq!(response.status(), 403, "{html}");
    assert!(html.contains("their own notes"), "{html}");
    let (response, _) =
        send(&app, post_form(&correct, Some(&responder), &[("body", "Looking at the *producers*")])).await;
    assert_eq!(response.status(), 303);
    let (response, _) =
        send(&app, post_form(&correct, Some(&commander), &[("body", "Commander's correction")])).await;
    assert_eq!(response.status(), 303, "commanders correct anyone's notes");

    let (_, html) = send(&app, get(&path, Some(&other_responder))).await;
    assert!(html.contains("Corrected below") && html.contains("correction of the note by"), "{html}");
    assert!(html.contains("<em>producers</em>"), "{html}");
    let (_, html) = send(&app, get(&path, Some(&responder))).await;
    assert!(html.contains("/correct\""), "the author is offered a correct form: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn refused_actions_explain_themselves_with_409(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let rival = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Cache evictions"), ("severity", "P2")]).await;

    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("already acknowledged") && html.contains(&format!("href=\"{path}\"")), "{html}");

    // A stale page: the rival changes severity after we loaded the page.
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    let version = version_on(&html);
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&rival), &[("severity", "P1")])).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/status"),
            Some(&commander),
            &[("status", "identified"), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), 409, "{html}");
    assert!(
        html.contains("changed since you loaded it") && html.contains("changed severity P2 → P1"),
        "{html}"
    );
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/components"),
            Some(&commander),
            &[("component", API_COMPONENT), ("impact", "major_outage"), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), 409, "{html}");
    assert!(html.contains("changed severity P2 → P1"), "{html}");
    let (response, _) =
        send(&app, post_form(&format!("{path}/status"), Some(&commander), &[("status", "bogus")])).await;
    assert_eq!(response.status(), 422);

    let (response, _) = send(
        &app,
        post_form(&format!("{path}/resolve"), Some(&commander), &[("resolution", "Evicted the bad keys")]),
    )
    .await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("is resolved"), "{html}");
    let (response, _) = send(&app, post_form(&format!("{path}/reopen"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 303);
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("Reopened as investigating"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_five_megabyte_note_is_refused_whole(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Big note"), ("severity", "P3")]).await;
    let huge = "a".repeat(5 * 1024 * 1024);
    let (response, _) =
        send(&app, post_form(&format!("{path}/notes"), Some(&commander), &[("body", &huge)])).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let long = "b".repeat(service::MAX_BODY + 1);
    let (response, html) =
        send(&app, post_form(&format!("{path}/notes"), Some(&commander), &[("body", &long)])).await;
    assert_eq!(response.status(), 422, "{html}");
    assert!(
        html.contains("Use at most 20000 characters") && html.contains(&format!("href=\"{path}\"")),
        "{html}"
    );
    assert!(audit_actions(&pool, "incident.note").await.is_empty());
}
