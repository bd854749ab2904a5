//! Changing one's own password.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::*;
use crate::testing::{self, audit_actions, get, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn changing_the_password_keeps_this_session_ends_the_others_and_is_audited(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let other = testing::session_for(&pool, b.user.clone()).await;
    let stranger = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = change_password(&app, &b, testing::PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 303, "{html}");
    assert_eq!(response.headers()["location"], "/account?notice=password-changed");

    assert!(password_is(&pool, &b.user.email, NEW_PASSWORD).await);
    assert!(still_signed_in(&app, &b).await, "this session is kept");
    assert!(!still_signed_in(&app, &other).await, "the other session is ended");
    assert!(still_signed_in(&app, &stranger).await, "other users are not touched");

    let (_, html) = send(&app, get("/account?notice=password-changed", Some(&b))).await;
    assert!(html.contains("Your password is changed."), "{html}");

    let rows = audit_actions(&pool, "user.password_change").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_user_id, Some(b.user.id));
    assert_eq!(rows[0].actor_label, b.user.email);
    assert_eq!(rows[0].after.as_ref().expect("after")["other_sessions_ended"], 1);
    assert!(!format!("{:?}", rows[0]).contains(NEW_PASSWORD), "no password in the audit log");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_wrong_current_password_changes_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let other = testing::session_for(&pool, b.user.clone()).await;
    let (response, html) =
        change_password(&app, &b, "not my password at all", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"current_password-error\">This is not your current password."), "{html}");
    assert!(html.contains("aria-describedby=\"current_password-error\""), "{html}");
    assert!(password_is(&pool, &b.user.email, testing::PASSWORD).await);
    assert!(still_signed_in(&app, &other).await);
    assert!(audit_actions(&pool, "user.password_change").await.is_empty());
    assert_eq!(audit_actions(&pool, "user.password_change_failed").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_weak_or_mistyped_new_password_gets_field_messages(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = change_password(&app, &b, testing::PASSWORD, "password1234", "password1234").await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"new_password-error\">This is one of the most common passwords"), "{html}");
    assert!(html.contains("aria-describedby=\"new_password-hint new_password-error\""), "{html}");

    let (response, html) = change_password(&app, &b, testing::PASSWORD, "short", "shorter").await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("Use at least 12 characters"), "{html}");
    assert!(html.contains("id=\"confirm_password-error\""), "{html}");
    assert!(password_is(&pool, &b.user.email, testing::PASSWORD).await);
    assert!(audit_actions(&pool, "user.password_change").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_user_who_must_change_their_password_is_sent_to_the_form_then_reaches_the_overview(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Commander).await;
    sqlx::query("update users set must_change_password = true where id = $1")
        .bind(user.id)
        .execute(&pool)
        .await
        .expect("flag");
    let b = testing::session_for(&pool, user).await;

    let (response, _) = send(&app, get("/", Some(&b))).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/password");
    let (response, _) = send(&app, get("/account/tokens", Some(&b))).await;
    assert_eq!(response.headers()["location"], "/account/password", "every other page waits");

    let (response, html) = send(&app, get("/account/password", Some(&b))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("You must choose a new password now."), "{html}");

    let (response, _) = change_password(&app, &b, testing::PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(&app, get("/", Some(&b))).await;
    assert_eq!(response.status(), 200, "{html}");
    let flagged: bool = sqlx::query_scalar("select must_change_password from users where id = $1")
        .bind(b.user.id)
        .fetch_one(&pool)
        .await
        .expect("user");
    assert!(!flagged);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn changing_the_password_revokes_the_users_api_tokens(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let token = testing::api_token(&pool, &b.user, "laptop script").await;
    let stranger = testing::user(&pool, Role::Viewer).await;
    let strangers = testing::api_token(&pool, &stranger, "other script").await;
    let (response, html) = change_password(&app, &b, testing::PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 303, "{html}");
    let call = |t: &str| testing::api_request(axum::http::Method::GET, "/api/v1/incidents", Some(t), None);
    let (response, _) = send(&app, call(&token)).await;
    assert_eq!(response.status(), 401, "a stolen token dies with the old password");
    let (response, _) = send(&app, call(&strangers)).await;
    assert_eq!(response.status(), 200, "other users' tokens are not touched");
}
