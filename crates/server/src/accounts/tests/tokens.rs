//! API tokens: created on the account page, used on the API, revoked.

use serde_json::json;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::*;
use crate::testing::{self, audit_actions, get, post_form, send};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_new_token_is_shown_once_stored_hashed_and_audited_without_the_secret(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Responder).await;
    let (response, html) = create_token(&app, &b, "alertmanager", "responder", "30").await;
    assert_eq!(response.status(), 201, "{html}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().get("location").is_none());
    let secret = shown_token(&html);
    assert!(secret.starts_with("tlp_") && secret.len() == 47, "{secret}");
    assert!(html.contains("shown only this once"), "{html}");

    let (stored, prefix, role): (Vec<u8>, String, String) =
        sqlx::query_as("select token_hash, prefix, role from api_tokens where user_id = $1")
            .bind(b.user.id)
            .fetch_one(&pool)
            .await
            .expect("one token");
    assert_eq!(stored, token::digest(&secret));
    assert_eq!(prefix, secret[4..12]);
    assert_eq!(role, "responder");

    let (response, html) = send(&app, get("/account/tokens", Some(&b))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("alertmanager") && html.contains(&format!("tlp_{prefix}…")), "{html}");
    assert!(!html.contains(&secret), "the list never shows the token again");
    assert!(html.contains("state-ok\">live<"), "{html}");
    // "in 29 days" before issue 10; now the portal's one wording.
    assert!(html.contains("(in 29 d 23 h)") || html.contains("(in 30 d)"), "{html}");

    let rows = audit_actions(&pool, "api_token.create").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_user_id, Some(b.user.id));
    assert!(!format!("{:?}", rows[0]).contains(&secret[4..]), "no secret in the audit log");
    assert_eq!(rows[0].after.as_ref().expect("after")["name"], "alertmanager");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_token_authenticates_api_v1_me_with_bearer(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Commander).await;
    let secret = create_via_page(&app, &b, "ci", "responder", "").await;
    let (response, body) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 200, "{body}");
    let me: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        me,
        json!({
            "email": b.user.email,
            "display_name": b.user.display_name,
            "role": "responder",
            "authenticated_by": "token",
            "token_name": "ci",
        })
    );
    let last_used: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select last_used_at from api_tokens where user_id = $1")
            .bind(b.user.id)
            .fetch_one(&pool)
            .await
            .expect("token");
    assert!(last_used.is_some(), "use is recorded");

    let (response, _) = send(&app, api_get("/api/v1/me", "tlp_not-a-real-token")).await;
    assert_eq!(response.status(), 401);
    let mut cookie_only = get("/api/v1/me", Some(&b));
    cookie_only.headers_mut().remove(header::ACCEPT);
    let (response, _) = send(&app, cookie_only).await;
    assert_eq!(response.status(), 401, "the API takes bearer tokens only");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_revoked_token_is_refused_and_the_revocation_is_audited(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let secret = create_via_page(&app, &b, "ci", "viewer", "").await;
    let id = token_id(&pool, b.user.id).await;

    let (response, _) = send(&app, post_form(&format!("/account/tokens/{id}/revoke"), Some(&b), &[])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account/tokens?notice=token-revoked");
    let (response, _) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 401);

    let rows = audit_actions(&pool, "api_token.revoke").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_user_id, Some(b.user.id));
    assert_eq!(rows[0].target, format!("api_token:{id}"));

    let (_, html) = send(&app, get("/account/tokens?notice=token-revoked", Some(&b))).await;
    assert!(html.contains("state-down\">revoked<") && html.contains("The token is revoked"), "{html}");
    assert!(!html.contains(&format!("/account/tokens/{id}/revoke")), "no second revoke button");

    // Revoking again is harmless and writes nothing.
    let (response, _) = send(&app, post_form(&format!("/account/tokens/{id}/revoke"), Some(&b), &[])).await;
    assert_eq!(response.headers()["location"], "/account/tokens?notice=token-already-revoked");
    assert_eq!(audit_actions(&pool, "api_token.revoke").await.len(), 1);

    // The name is free again.
    create_via_page(&app, &b, "ci", "viewer", "").await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_expired_token_is_refused_and_listed_as_expired(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let secret = create_via_page(&app, &b, "old", "viewer", "1").await;
    let (response, _) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 200);
    sqlx::query("update api_tokens set expires_at = now() - interval '1 minute' where user_id = $1")
        .bind(b.user.id)
        .execute(&pool)
        .await
        .expect("expire");
    let (response, _) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 401);
    let (_, html) = send(&app, get("/account/tokens", Some(&b))).await;
    assert!(html.contains("state-unknown\">expired<") && html.contains("1 min ago"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_viewer_cannot_create_an_admin_token(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let (response, html) = create_token(&app, &b, "sneaky", "admin", "").await;
    assert_eq!(response.status(), 422);
    assert!(
        html.contains("id=\"role-error\">A token cannot have a higher role than its owner (viewer)"),
        "{html}"
    );
    assert!(html.contains("value=\"sneaky\""), "what was typed is kept: {html}");
    assert!(!html.contains("<option value=\"admin\""), "only allowed roles are offered: {html}");
    assert_eq!(token_count(&pool, b.user.id).await, 0);
    assert!(audit_actions(&pool, "api_token.create").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn bad_token_fields_and_duplicate_live_names_get_field_messages(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let long = "n".repeat(61);
    let (response, html) = create_token(&app, &b, &long, "viewer", "400").await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"name-error\">Use at most 60 characters."), "{html}");
    assert!(html.contains("id=\"expires_days-error\""), "{html}");
    assert!(html.contains("aria-describedby=\"name-hint name-error\""), "{html}");

    create_via_page(&app, &b, "ci", "viewer", "").await;
    let (response, html) = create_token(&app, &b, "CI", "viewer", "").await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"name-error\">A token with this name already exists"), "{html}");
    assert_eq!(token_count(&pool, b.user.id).await, 1);
    assert_eq!(audit_actions(&pool, "api_token.create").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_token_role_is_capped_by_the_owners_current_role(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Commander).await;
    let secret = create_via_page(&app, &b, "deploy", "commander", "").await;
    sqlx::query("update users set role = 'viewer' where id = $1")
        .bind(b.user.id)
        .execute(&pool)
        .await
        .expect("demote");
    let (response, body) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(me["role"], "viewer");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_script_in_a_token_name_is_rendered_escaped(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let name = "<script>alert(1)</script>";
    let (response, html) = create_token(&app, &b, name, "viewer", "").await;
    assert_eq!(response.status(), 201);
    assert!(!html.contains(name) && html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    let (_, html) = send(&app, get("/account/tokens", Some(&b))).await;
    assert!(!html.contains("<script>") && html.contains("&#60;script&#62;"), "{html}");
    let stored: String = sqlx::query_scalar("select name from api_tokens where user_id = $1")
        .bind(b.user.id)
        .fetch_one(&pool)
        .await
        .expect("token");
    assert_eq!(stored, name, "stored as typed");
}
