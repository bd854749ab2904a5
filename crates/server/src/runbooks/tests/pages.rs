use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{load, location};
use crate::db::runbooks as store;
use crate::testing::{TestApp, get, post_form};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_runbook_list_and_page_show_symptoms_sections_steps_and_commands(pool: PgPool) {
    load(&pool).await;
    let app = TestApp::new(&pool);
    let viewer = app.signed_in(Role::Viewer).await;
    let (response, html) = app.send(get("/runbooks", Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(html.matches("href=\"/runbooks/").count(), 10, "{html}");
    assert!(html.contains("Pods in CrashLoopBackOff state") || html.contains("CrashLoopBackOff"), "{html}");
    let (response, html) = app.send(get("/runbooks/api-pods-crashing", Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("<pre><code>kubectl") && html.contains("Revision 1"), "{html}");
    assert!(!html.contains("/edit"), "viewers do not edit");
    let (response, _) = app.send(get("/runbooks/no-such-runbook", Some(&viewer))).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admins_edit_is_audited_makes_a_new_revision_and_bad_text_is_a_field_error(pool: PgPool) {
    load(&pool).await;
    let app = TestApp::new(&pool);
    let admin = app.signed_in(Role::Admin).await;
    let (response, html) = app.send(get("/runbooks/high-api-latency/edit", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("slug = ") && html.contains("high-api-latency"), "the form holds the TOML: {html}");
    let stored = store::latest(&pool, "high-api-latency").await.expect("read").expect("stored");
    let text = twisterlab_domain::runbook::to_toml(&stored.runbook);
    let broken = text.replacen("kind = \"", "kind = \"no_such_", 1);
    let (response, html) =
        app.send(post_form("/runbooks/high-api-latency/edit", Some(&admin), &[("content", &broken)])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("line ") && html.contains("field-error"), "{html}");
    let (response, _) =
        app.send(post_form("/runbooks/high-api-latency/edit", Some(&admin), &[("content", &text)])).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "nothing changed");
    let edited = text.replacen("summary = \"", "summary = \"Edited. ", 1);
    let (response, body) =
        app.send(post_form("/runbooks/high-api-latency/edit", Some(&admin), &[("content", &edited)])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    assert!(location(&response).starts_with("/runbooks/high-api-latency"));
    let latest = store::latest(&pool, "high-api-latency").await.expect("read").expect("stored");
    assert_eq!(latest.runbook.revision.get(), 2);
    assert!(latest.runbook.summary.starts_with("Edited."));
    assert_eq!(crate::testing::audit_actions(&pool, "runbook.edit").await.len(), 1);
    let commander = app.signed_in(Role::Commander).await;
    let (response, _) = app
        .send(post_form("/runbooks/high-api-latency/edit", Some(&commander), &[("content", &edited)]))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // The file (revision 1) is older than the edit: loading keeps the edit.
    load(&pool).await;
    assert_eq!(
        store::latest(&pool, "high-api-latency").await.expect("read").expect("stored").runbook.revision.get(),
        2
    );
}
