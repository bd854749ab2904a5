//! The account pages as a whole: the profile, notices, and other users' objects and CSRF.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::*;
use crate::testing::{self, audit_actions, get, post_form, send};

/// Each page's notices are fixed texts looked up by key (`web::form::Notices`).
#[test]
fn notices_are_fixed_texts_and_unknown_keys_show_nothing() {
    use crate::accounts::{profile, sessions, tokens};
    use crate::web::form::NoticeQuery;
    let q = |key: Option<&str>| NoticeQuery { notice: key.map(str::to_owned) };
    assert!(q(Some("password-changed")).text(profile::NOTICES).is_some());
    assert!(q(Some("token-revoked")).text(tokens::NOTICES).is_some());
    assert!(q(Some("session-ended")).text(sessions::NOTICES).is_some());
    assert_eq!(q(Some("<script>alert(1)</script>")).text(profile::NOTICES), None);
    assert_eq!(q(None).text(profile::NOTICES), None);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_account_page_shows_my_profile_and_links_to_my_settings(pool: PgPool) {
    let b = testing::signed_in(&pool, Role::Responder).await;
    let (response, html) =
        send(&testing::app(&pool), get("/account?notice=%3Cb%3Eowned%3C%2Fb%3E", Some(&b))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("<h1>Your account</h1>") && html.contains(&b.user.email), "{html}");
    assert!(html.contains("<dd>responder</dd>"), "{html}");
    for link in ["/account/password", "/account/tokens", "/account/sessions"] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}: {html}");
    }
    assert!(html.contains("1 signed in"), "{html}");
    assert!(!html.contains("owned"), "unknown notices are not reflected: {html}");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn another_users_token_or_session_is_not_found_and_stays_untouched(pool: PgPool) {
    let app = testing::app(&pool);
    let owner = testing::signed_in(&pool, Role::Admin).await;
    let intruder = testing::signed_in(&pool, Role::Admin).await;
    let secret = create_via_page(&app, &owner, "ci", "viewer", "").await;
    let token_id = token_id(&pool, owner.user.id).await;
    let session = session_id(&pool, &owner).await;

    let (response, _) =
        send(&app, post_form(&format!("/account/tokens/{token_id}/revoke"), Some(&intruder), &[])).await;
    assert_eq!(response.status(), 404);
    let (response, _) =
        send(&app, post_form(&format!("/account/sessions/{session}/end"), Some(&intruder), &[])).await;
    assert_eq!(response.status(), 404);
    let (response, _) =
        send(&app, post_form("/account/tokens/not-a-uuid/revoke", Some(&intruder), &[])).await;
    assert_eq!(response.status(), 404);

    let (response, _) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 200, "the token still works");
    assert!(still_signed_in(&app, &owner).await, "the session still works");
    assert!(audit_actions(&pool, "api_token.revoke").await.is_empty());
    assert!(audit_actions(&pool, "session.end").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn posts_without_the_csrf_token_are_refused_and_change_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let b = testing::signed_in(&pool, Role::Viewer).await;
    let other = testing::session_for(&pool, b.user.clone()).await;
    let secret = create_via_page(&app, &b, "ci", "viewer", "").await;
    let token_id = token_id(&pool, b.user.id).await;
    let other_id = session_id(&pool, &other).await;

    let attempts = [
        post_without_csrf(
            "/account/password",
            &b,
            &[
                ("current_password", testing::PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        ),
        post_without_csrf("/account/tokens", &b, &[("name", "forged"), ("role", "viewer")]),
        post_without_csrf(&format!("/account/tokens/{token_id}/revoke"), &b, &[]),
        post_without_csrf(&format!("/account/sessions/{other_id}/end"), &b, &[]),
    ];
    for attempt in attempts {
        let path = attempt.uri().path().to_owned();
        let (response, html) = send(&app, attempt).await;
        assert_eq!(response.status(), 403, "{path}");
        assert!(html.contains("Nothing was changed"), "{path}: {html}");
    }
    assert!(password_is(&pool, &b.user.email, testing::PASSWORD).await);
    assert_eq!(token_count(&pool, b.user.id).await, 1);
    let (response, _) = send(&app, api_get("/api/v1/me", &secret)).await;
    assert_eq!(response.status(), 200);
    assert!(still_signed_in(&app, &other).await);
    for action in ["user.password_change", "api_token.revoke", "session.end"] {
        assert!(audit_actions(&pool, action).await.is_empty(), "{action}");
    }
    assert_eq!(audit_actions(&pool, "api_token.create").await.len(), 1);
}
