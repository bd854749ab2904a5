//! Tests of maintenance windows and recurring tasks against real Postgres: the pages over HTTP
//! with each role, the public side (status page, Statuspage JSON, the calendar), signals held
//! back during a window (with the demo target), task generation across DST, and the JSON API.

mod api;
mod edit;
mod public;
mod run;
mod suppression;
mod tasks;
mod windows;

use axum::http::{Response, StatusCode, header};
use sqlx::PgPool;
use twisterlab_domain::maintenance::DefaultItem;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::testing::{Browser, TestApp, post_form};

/// The redirect target of a 303.
pub(super) fn location<B>(response: &Response<B>) -> &str {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Posts a form as `who` to `path` and expects `status`; returns the body.
pub(super) async fn post_expect(
    app: &TestApp,
    who: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    status: StatusCode,
) -> String {
    let (response, body) = app.send(post_form(path, Some(who), fields)).await;
    assert_eq!(response.status(), status, "POST {path} as {}: {body:.1500}", who.user.role);
    body
}

/// Ticks every unticked item of window `id` as `who` (a responder or higher), with evidence.
pub(super) async fn tick_all(app: &TestApp, who: &Browser, id: Uuid) {
    let (checklist, _) = crate::db::maintenance::checklist(app.pool(), id).await.expect("checklist");
    for item in checklist.unticked() {
        let evidence = if item.key.as_str() == DefaultItem::DatabaseBackedUp.key() {
            "s3://twisterlab-backups/pre-upgrade.sql.gz"
        } else {
            "done"
        };
        post_expect(
            app,
            who,
            &format!("/maintenance/{id}/checklist/{}/tick", item.key),
            &[("evidence", evidence)],
            StatusCode::SEE_OTHER,
        )
        .await;
    }
}

/// A draft window on API starting in 72 h, scheduled by a fresh commander; returns its id and
/// the commander.
pub(super) async fn scheduled_window(app: &TestApp, title: &str) -> (Uuid, Browser) {
    let commander = app.signed_in(Role::Commander).await;
    let id = crate::testing::builders::window(title).create(app.pool(), &commander.user).await;
    post_expect(app, &commander, &format!("/maintenance/{id}/schedule"), &[], StatusCode::SEE_OTHER).await;
    (id, commander)
}

/// A scheduled window with every item ticked, started by its commander.
pub(super) async fn started_window(app: &TestApp, title: &str, components: &[&str]) -> (Uuid, Browser) {
    let commander = app.signed_in(Role::Commander).await;
    let id = crate::testing::builders::window(title).on(components).create(app.pool(), &commander.user).await;
    post_expect(app, &commander, &format!("/maintenance/{id}/schedule"), &[], StatusCode::SEE_OTHER).await;
    tick_all(app, &commander, id).await;
    post_expect(app, &commander, &format!("/maintenance/{id}/start"), &[], StatusCode::SEE_OTHER).await;
    (id, commander)
}

/// The window's state as stored.
pub(super) async fn state(pool: &PgPool, id: Uuid) -> String {
    crate::db::maintenance::find(pool, id).await.expect("find").expect("exists").state.as_str().to_owned()
}
