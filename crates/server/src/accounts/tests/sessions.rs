//! One's own sessions: listed, ended.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::*;
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn my_sessions_are_listed_with_this_one_marked(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let _other = testing::session_for(&pool, b.user.clone()).await;
    let stranger = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = send(&app, get("/account/sessions", Some(&b))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(html.matches("(this session)").count(), 1, "{html}");
    assert_eq!(html.matches("/end\"").count(), 2, "{html}");
    let mine = html.find("(this session)").expect("marked");
    assert!(html.find(">End session<").is_some_and(|other| mine < other), "this session first: {html}");
    let stranger_id = session_id(&pool, &stranger).await;
    assert!(!html.contains(&stranger_id.to_string()), "only my own sessions");
    assert!(html.contains("127.0.0.1") && html.contains("just now"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn ending_another_of_my_sessions_signs_that_browser_out(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let other = testing::session_for(&pool, b.user.clone()).await;
    let other_id = session_id(&pool, &other).await;
    let (response, _) =
        send(&app, post_form(&format!("/account/sessions/{other_id}/end"), Some(&b), &[])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/sessions?notice=session-ended");
    assert!(!still_signed_in(&app, &other).await);
    assert!(still_signed_in(&app, &b).await);
    let rows = audit_actions(&pool, "session.end").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_user_id, Some(b.user.id));
    assert_eq!(rows[0].target, format!("session:{other_id}"));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn ending_this_session_signs_me_out(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let id = session_id(&pool, &b).await;
    let (response, _) = send(&app, post_form(&format!("/account/sessions/{id}/end"), Some(&b), &[])).await;
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"].to_str().expect("ascii").starts_with("/login"));
    let cleared = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cleared.starts_with("twisterlab_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert!(!still_signed_in(&app, &b).await);
    assert_eq!(audit_actions(&pool, "session.end").await.len(), 1);
}
