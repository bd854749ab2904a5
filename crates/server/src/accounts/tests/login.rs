//! Sign-in and sign-out: throttling, sessions, CSRF, re-hashing, audit.

use std::net::SocketAddr;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, header};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::{count_with, sessions_of};
use crate::auth::token;
use crate::db::users::{self, NewUser, User};
use crate::testing::{self, Browser, PASSWORD, get, post_form, send};

const WRONG: &str = "The e-mail address or the password is wrong.";
const LOCKED: &str = "Sign-in is locked: try again in";

/// The sign-in form as a browser gets it: its double-submit cookie value and the form's token.
async fn login_form(app: &Router, path: &str) -> (String, String, String) {
    let (response, html) = send(app, get(path, None)).await;
    assert_eq!(response.status(), 200, "{html}");
    let cookie = set_cookie(&response, "twisterlab_login").expect("the form sets its double-submit cookie");
    let value = cookie.split(';').next().and_then(|c| c.split_once('=')).map(|(_, v)| v.to_owned());
    (value.expect("cookie value"), hidden(&html, "csrf_token"), hidden(&html, "next"))
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}")) + marker.len();
    html[start..].split('"').next().unwrap_or_default().to_owned()
}

/// The full `Set-Cookie` value for cookie `name`.
fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The session token the response set, if any.
fn session_token(response: &Response<Body>) -> Option<String> {
    let cookie = set_cookie(response, "twisterlab_session")?;
    let value = cookie.split(';').next()?.split_once('=')?.1;
    (!value.is_empty()).then(|| value.to_owned())
}

/// A sign-in attempt from client address `from`, with a valid double-submit pair.
fn sign_in(email: &str, password: &str, next: &str, from: &str) -> Request<Body> {
    sign_in_with(email, password, next, from, &token::random_secret())
}

/// A sign-in attempt whose cookie and form both carry `pair`, as the sign-in form sets them.
fn sign_in_with(email: &str, password: &str, next: &str, from: &str, pair: &str) -> Request<Body> {
    let fields = [("email", email), ("password", password), ("next", next), ("csrf_token", pair)];
    let mut request = post_form("/login", None, &fields);
    request.headers_mut().insert(header::COOKIE, format!("twisterlab_login={pair}").parse().expect("cookie"));
    let addr: SocketAddr = format!("{from}:40000").parse().expect("client address");
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

/// The error paragraph of the sign-in page.
fn error_message(html: &str) -> &str {
    let start = html.find("id=\"login-error\">").unwrap_or_else(|| panic!("no error in {html}"));
    html[start..].split("</p>").next().unwrap_or_default()
}

/// The browser a successful sign-in left behind (without its CSRF token).
fn browser_of(user: &User, token: &str) -> Browser {
    Browser { user: user.clone(), cookie: format!("twisterlab_session={token}"), csrf: String::new() }
}

async fn assert_signed_out(app: &Router, browser: &Browser) {
    let (response, html) = send(app, get("/", Some(browser))).await;
    assert_eq!(response.status(), 303, "{html}");
    assert_eq!(response.headers()["location"], "/login?next=/");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn signing_in_sets_an_http_only_lax_cookie_and_stores_only_its_hash(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    let (cookie, csrf, next) = login_form(&app, "/login").await;
    assert_eq!(cookie, csrf, "double submit: the cookie and the form carry the same token");
    assert_eq!(next, "/");

    let request = sign_in_with(&user.email, PASSWORD, &next, "192.0.2.1", &cookie);
    let (response, html) = send(&app, request).await;
    assert_eq!(response.status(), 303, "{html}");
    assert_eq!(response.headers()["location"], "/");
    let set = set_cookie(&response, "twisterlab_session").expect("a session cookie");
    assert!(
        set.contains("; HttpOnly") && set.contains("; SameSite=Lax") && set.contains("; Path=/"),
        "{set}"
    );
    assert!(set.contains("Max-Age=604800"), "the cookie lives as long as the absolute timeout: {set}");
    assert!(!set.contains("Secure"), "local HTTP by default: {set}");
    let cleared = set_cookie(&response, "twisterlab_login").expect("the double-submit cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    let token = session_token(&response).expect("a session token");
    assert_eq!(token.len(), 43, "256 random bits in base64");
    let by_hash: i64 =
        sqlx::query_scalar("select count(*) from sessions where token_hash = $1 and user_id = $2")
            .bind(token::digest(&token))
            .bind(user.id)
            .fetch_one(&pool)
            .await
            .expect("find by hash");
    assert_eq!(by_hash, 1, "the session is found by the token's SHA-256");
    let in_clear =
        count_with(&pool, "select count(*) from sessions s where position($1 in s::text) > 0", &token).await;
    assert_eq!(in_clear, 0, "the token itself is stored nowhere in the row");

    let stored = users::find(&pool, user.id).await.expect("find").expect("user");
    assert!(stored.last_sign_in_at.is_some(), "last sign-in recorded");
    let audit = testing::audit_actions(&pool, "auth.sign_in").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_user_id, Some(user.id));
    assert_eq!(audit[0].target, format!("user:{}", user.email));
    assert_eq!(audit[0].client_addr.as_deref(), Some("192.0.2.1"));

    let (response, html) = send(&app, get("/", Some(&browser_of(&user, &token)))).await;
    assert_eq!(response.status(), 200, "the new cookie opens the overview: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_sign_in_gets_a_new_session_token(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Responder).await;
    let (first, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.2")).await;
    let (second, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.2")).await;
    let (first, second) = (session_token(&first).expect("first"), session_token(&second).expect("second"));
    assert_ne!(first, second);
    assert_eq!(sessions_of(&pool, user.id).await, 2, "both sessions exist");
    for token in [&first, &second] {
        let (response, _) = send(&app, get("/", Some(&browser_of(&user, token)))).await;
        assert_eq!(response.status(), 200);
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    let (wrong, wrong_html) =
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.3")).await;
    let (unknown, unknown_html) =
        send(&app, sign_in("nobody@twisterlab.test", PASSWORD, "/", "192.0.2.4")).await;
    for (response, html) in [(&wrong, &wrong_html), (&unknown, &unknown_html)] {
        assert_eq!(response.status(), 401, "{html}");
        assert!(html.contains(WRONG), "{html}");
        assert!(session_token(response).is_none());
    }
    assert_eq!(
        error_message(&wrong_html),
        error_message(&unknown_html),
        "nothing tells which of the two was wrong"
    );
    assert_eq!(sessions_of(&pool, user.id).await, 0);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_inactive_user_cannot_sign_in(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Admin).await;
    sqlx::query("update users set active = false where id = $1")
        .bind(user.id)
        .execute(&pool)
        .await
        .expect("deactivate");
    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.5")).await;
    assert_eq!(response.status(), 401, "{html}");
    assert!(html.contains(WRONG), "{html}");
    assert_eq!(sessions_of(&pool, user.id).await, 0);
    assert!(testing::audit_actions(&pool, "auth.sign_in").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_sign_in_form_needs_its_double_submit_token(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    let fields = |csrf: &'static str| {
        vec![
            ("email", user.email.clone()),
            ("password", PASSWORD.to_owned()),
            ("csrf_token", csrf.to_owned()),
        ]
    };
    let form = |fields: Vec<(&'static str, String)>, cookie: Option<&str>| {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut request = post_form("/login", None, &pairs);
        if let Some(c) = cookie {
            request.headers_mut().insert(header::COOKIE, c.parse().expect("cookie"));
        }
        request
    };
    let pair = "k7Hq2v9Zb3Xc8Lm1Np4Rs6Tu0Wy5Ae7Gi2Jo9Qd3Fh";
    let cases = [
        ("no cookie, no field", form(fields(""), None)),
        ("no cookie", form(fields(pair), None)),
        ("no field", form(fields(""), Some(&format!("twisterlab_login={pair}")))),
        (
            "a different token",
            form(
                fields("Zz7Hq2v9Zb3Xc8Lm1Np4Rs6Tu0Wy5Ae7Gi2Jo9Qd3F"),
                Some(&format!("twisterlab_login={pair}")),
            ),
        ),
    ];
    for (what, request) in cases {
        let (response, html) = send(&app, request).await;
        assert_eq!(response.status(), 403, "{what}: {html}");
        assert!(html.contains("Nothing was changed"), "{what}: the page says what happened: {html}");
        assert!(session_token(&response).is_none(), "{what}");
    }
    assert_eq!(sessions_of(&pool, user.id).await, 0);
    let audit: i64 =
        sqlx::query_scalar("select count(*) from audit_log").fetch_one(&pool).await.expect("audit");
    assert_eq!(audit, 0, "a forged form changes nothing");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn five_failures_lock_the_account_even_for_the_right_password(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Commander).await;
    for attempt in 1..=4 {
        let (response, html) =
            send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.10")).await;
        assert_eq!(response.status(), 401, "attempt {attempt} is a plain failure: {html}");
    }
    let (fifth, html) =
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.10")).await;
    assert!(session_token(&fifth).is_none(), "{html}");
    assert!(matches!(fifth.status().as_u16(), 401 | 429), "the fifth failure: {html}");

    let (sixth, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.10")).await;
    assert_eq!(sixth.status(), 429, "{html}");
    assert!(html.contains(LOCKED), "the page says it is a lock and for how long: {html}");
    let wait: Option<i64> = html
        .split("try again in ")
        .nth(1)
        .and_then(|rest| rest.split(" s.").next())
        .and_then(|n| n.parse().ok());
    assert!(wait.is_some_and(|s| (1..=30).contains(&s)), "the first lock is 30 s: {html}");
    assert!(session_token(&sixth).is_none());
    assert_eq!(sessions_of(&pool, user.id).await, 0);
    assert!(testing::audit_actions(&pool, "auth.sign_in").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn five_failures_and_the_lock_are_in_the_audit_log(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Commander).await;
    for _ in 1..=5 {
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.11")).await;
    }
    let (sixth, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.11")).await;
    assert_eq!(sixth.status(), 429);

    let failed = testing::audit_actions(&pool, "auth.sign_in_failed").await;
    let locked = testing::audit_actions(&pool, "auth.sign_in_locked").await;
    let target = format!("account:{}", user.email.to_lowercase());
    assert!(
        failed
            .iter()
            .chain(&locked)
            .all(|r| r.target == target && r.client_addr.as_deref() == Some("192.0.2.11"))
    );
    assert!(
        locked.iter().any(|r| r.after.as_ref().is_some_and(|a| a["locked_until"].is_i64())),
        "the lock is recorded with its end: {locked:?}"
    );
    assert_eq!(failed.len(), 5, "each of the five wrong passwords is an auth.sign_in_failed row");
    let last_failure = failed.iter().map(|r| r.id).max().unwrap_or(0);
    assert!(
        locked.iter().any(|r| r.id > last_failure),
        "the refused sixth attempt (with the right password) is an auth.sign_in_locked row"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_address_with_five_failures_is_locked_for_every_account(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    // Five different accounts, one failure each: only the address key reaches five.
    for i in 1..=5 {
        let email = format!("guess-{i}@twisterlab.test");
        send(&app, sign_in(&email, "wrong horse battery staple", "/", "198.51.100.7")).await;
    }
    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "198.51.100.7")).await;
    assert_eq!(response.status(), 429, "{html}");
    assert!(html.contains(LOCKED), "{html}");
    let address_failures = count_with(
        &pool,
        "select failures::bigint from sign_in_throttle where key = $1",
        "address:198.51.100.7",
    )
    .await;
    assert_eq!(address_failures, 5);

    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "198.51.100.8")).await;
    assert_eq!(response.status(), 303, "the same account from elsewhere is not locked: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_account_with_five_failures_is_locked_from_every_address(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Manager).await;
    for i in 1..=5 {
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", &format!("203.0.113.{i}"))).await;
    }
    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "203.0.113.99")).await;
    assert_eq!(response.status(), 429, "{html}");
    assert!(html.contains(LOCKED), "{html}");
    let other = testing::user(&pool, Role::Viewer).await;
    let (response, html) = send(&app, sign_in(&other.email, PASSWORD, "/", "203.0.113.1")).await;
    assert_eq!(response.status(), 303, "another account from one of those addresses is not locked: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn after_the_lock_expires_the_right_password_works_and_clears_the_account_counter(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    for _ in 1..=5 {
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.20")).await;
    }
    let (response, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.20")).await;
    assert_eq!(response.status(), 429);

    sqlx::query("update sign_in_throttle set locked_until = now() - interval '1 second' where locked_until is not null")
        .execute(&pool)
        .await
        .expect("expire the locks");
    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.20")).await;
    assert_eq!(response.status(), 303, "{html}");
    assert!(session_token(&response).is_some());
    let account = format!("account:{}", user.email.to_lowercase());
    assert_eq!(count_with(&pool, "select count(*) from sign_in_throttle where key = $1", &account).await, 0);

    // The counter starts again: four more failures are plain failures, not a lock.
    for attempt in 1..=4 {
        let (response, _) =
            send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.21")).await;
        assert_eq!(response.status(), 401, "attempt {attempt} after the reset");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_session_idle_for_thirteen_hours_is_signed_out(pool: PgPool) {
    let app = testing::app(&pool);
    let browser = testing::signed_in(&pool, Role::Viewer).await;
    let (response, _) = send(&app, get("/", Some(&browser))).await;
    assert_eq!(response.status(), 200, "live before");
    sqlx::query("update sessions set last_seen_at = now() - interval '13 hours' where user_id = $1")
        .bind(browser.user.id)
        .execute(&pool)
        .await
        .expect("age the session");
    assert_signed_out(&app, &browser).await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_session_past_its_absolute_expiry_is_signed_out(pool: PgPool) {
    let app = testing::app(&pool);
    let browser = testing::signed_in(&pool, Role::Viewer).await;
    sqlx::query("update sessions set expires_at = now() - interval '1 second', last_seen_at = now() where user_id = $1")
        .bind(browser.user.id)
        .execute(&pool)
        .await
        .expect("expire the session");
    assert_signed_out(&app, &browser).await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_session_still_used_within_the_idle_timeout_stays_signed_in(pool: PgPool) {
    let app = testing::app(&pool);
    let browser = testing::signed_in(&pool, Role::Viewer).await;
    sqlx::query("update sessions set last_seen_at = now() - interval '11 hours' where user_id = $1")
        .bind(browser.user.id)
        .execute(&pool)
        .await
        .expect("age the session");
    let (response, _) = send(&app, get("/", Some(&browser))).await;
    assert_eq!(response.status(), 200);
    let idle: bool = sqlx::query_scalar(
        "select last_seen_at > now() - interval '1 minute' from sessions where user_id = $1",
    )
    .bind(browser.user.id)
    .fetch_one(&pool)
    .await
    .expect("last seen");
    assert!(idle, "using the session moves last_seen_at");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_tampered_session_cookie_is_treated_as_signed_out(pool: PgPool) {
    let app = testing::app(&pool);
    let browser = testing::signed_in(&pool, Role::Admin).await;
    let value = browser.cookie.trim_start_matches("twisterlab_session=");
    let mut chars: Vec<char> = value.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for cookie in [tampered.clone(), format!("{value}x"), String::new(), "%00".into(), "a".repeat(4000)] {
        let forged = Browser { cookie: format!("twisterlab_session={cookie}"), ..browser.clone() };
        assert_signed_out(&app, &forged).await;
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn signing_out_deletes_the_session_and_the_old_cookie_stops_working(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    let (response, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.30")).await;
    let token = session_token(&response).expect("signed in");
    let csrf: String = sqlx::query_scalar("select csrf_token from sessions where token_hash = $1")
        .bind(token::digest(&token))
        .fetch_one(&pool)
        .await
        .expect("session");
    let browser = Browser { csrf, ..browser_of(&user, &token) };

    let (response, html) = send(&app, post_form("/logout", Some(&browser), &[])).await;
    assert_eq!(response.status(), 303, "{html}");
    assert_eq!(response.headers()["location"], "/login?signed_out=1");
    let cleared = set_cookie(&response, "twisterlab_session").expect("the cookie is cleared");
    assert!(cleared.starts_with("twisterlab_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(sessions_of(&pool, user.id).await, 0, "the session row is gone");
    assert_eq!(testing::audit_actions(&pool, "auth.sign_out").await.len(), 1);

    assert_signed_out(&app, &browser).await;
    let (response, _) = send(&app, post_form("/logout", Some(&browser), &[])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login?next=/logout");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_old_argon2_hash_is_rehashed_at_the_next_sign_in(pool: PgPool) {
    let app = testing::app(&pool);
    let params = Params::new(4096, 3, 1, None).expect("params");
    let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes())
        .expect("old hash")
        .to_string();
    assert!(old.starts_with("$argon2id$v=19$m=4096,t=3,p=1$"), "{old}");
    let new = NewUser {
        email: "old-admin@twisterlab.test",
        display_name: "Old admin",
        role: Role::Admin,
        password_hash: &old,
        must_change_password: false,
    };
    let admin = users::insert(&pool, &new).await.expect("insert").expect("new");

    let (response, html) = send(&app, sign_in(&admin.email, PASSWORD, "/", "192.0.2.40")).await;
    assert_eq!(response.status(), 303, "the old hash still verifies: {html}");
    let stored: String = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(admin.id)
        .fetch_one(&pool)
        .await
        .expect("hash");
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "re-hashed with today's parameters: {stored}"
    );
    let audit = testing::audit_actions(&pool, "auth.sign_in").await;
    assert_eq!(audit[0].after.as_ref().map(|a| a["rehashed"].clone()), Some(serde_json::json!(true)));

    let (response, _) = send(&app, sign_in(&admin.email, PASSWORD, "/", "192.0.2.40")).await;
    assert_eq!(response.status(), 303, "the new hash verifies too");
    let again: String = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(admin.id)
        .fetch_one(&pool)
        .await
        .expect("hash");
    assert_eq!(again, stored, "no second re-hash");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn next_returns_to_a_local_page_but_never_to_another_site(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Admin).await;
    let (_, _, next) = login_form(&app, "/login?next=/admin/users").await;
    assert_eq!(next, "/admin/users");
    let (response, _) = send(&app, sign_in(&user.email, PASSWORD, &next, "192.0.2.50")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/users");

    let (_, _, next) = login_form(&app, "/login?next=//evil.example").await;
    assert_eq!(next, "/", "the form does not carry a foreign target");
    for forged in ["//evil.example", "https://evil.example/", "/\\evil.example"] {
        let (response, _) = send(&app, sign_in(&user.email, PASSWORD, forged, "192.0.2.50")).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/", "{forged}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_sign_in_whose_session_cannot_be_stored_leaves_no_audit_row(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    sqlx::raw_sql(
        "create function refuse_sessions() returns trigger language plpgsql as $$
         begin raise exception 'no sessions today'; end; $$;
         create trigger refuse_sessions before insert on sessions for each row execute function refuse_sessions();",
    )
    .execute(&pool)
    .await
    .expect("install the failing trigger");

    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.60")).await;
    assert_eq!(response.status(), 500, "{html}");
    assert!(!html.contains("no sessions today"), "the cause is logged, not shown: {html}");
    assert!(session_token(&response).is_none());
    assert!(
        testing::audit_actions(&pool, "auth.sign_in").await.is_empty(),
        "the audit row went with the change"
    );
    let stored = users::find(&pool, user.id).await.expect("find").expect("user");
    assert!(stored.last_sign_in_at.is_none(), "nothing of the sign-in remains");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_audit_log_refuses_update_and_delete(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.70")).await;
    assert_eq!(testing::audit_actions(&pool, "auth.sign_in").await.len(), 1);

    for sql in ["update audit_log set action = 'auth.nothing'", "delete from audit_log", "truncate audit_log"]
    {
        let err = sqlx::query(sql).execute(&pool).await.expect_err(sql);
        assert!(err.to_string().contains("audit_log is append-only"), "{sql}: {err}");
    }
    assert_eq!(testing::audit_actions(&pool, "auth.sign_in").await.len(), 1, "the row is unchanged");
}

/// The app as deployed behind the ingress: its pods' network is a trusted proxy.
fn behind_ingress(pool: &PgPool) -> testing::TestApp {
    let sources = crate::config::Sources::from_pairs(
        [("TWISTERLAB_TRUSTED_PROXIES", "10.244.0.0/16")],
        toml::Table::new(),
    );
    let config = crate::config::Config::from_sources(&sources).expect("valid configuration");
    testing::TestApp::with_config(pool, config)
}

/// A sign-in that reaches the portal through the ingress pod 10.244.1.7 with `forwarded_for`.
fn through_ingress(email: &str, password: &str, forwarded_for: &str) -> Request<Body> {
    let mut request = sign_in(email, password, "/", "10.244.1.7");
    request.headers_mut().insert("x-forwarded-for", forwarded_for.parse().expect("header"));
    request
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn behind_the_ingress_one_clients_failures_do_not_lock_out_other_clients(pool: PgPool) {
    let app = behind_ingress(&pool);
    let victim = testing::user(&pool, Role::Commander).await;
    // The attacker guesses other accounts (and forges an earlier hop) through the ingress.
    for i in 1..=6 {
        let email = format!("guess-{i}@twisterlab.test");
        app.send(through_ingress(&email, "wrong horse battery staple", "192.0.2.1, 198.51.100.66")).await;
    }
    let (response, html) = app.send(through_ingress(&victim.email, PASSWORD, "203.0.113.40")).await;
    assert_eq!(response.status(), 303, "another client behind the same ingress signs in: {html}");
    let failed = testing::audit_actions(&pool, "auth.sign_in_failed").await;
    assert!(
        failed.iter().all(|r| r.client_addr.as_deref() == Some("198.51.100.66")),
        "the client is the right-most hop the ingress added, not the forged one: {failed:?}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn forwarded_for_from_an_untrusted_peer_is_ignored(pool: PgPool) {
    let app = behind_ingress(&pool);
    let mut request = sign_in("nobody@twisterlab.test", "wrong horse battery staple", "/", "198.51.100.9");
    request.headers_mut().insert("x-forwarded-for", "203.0.113.1".parse().expect("header"));
    app.send(request).await;
    let failed = testing::audit_actions(&pool, "auth.sign_in_failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].client_addr.as_deref(),
        Some("198.51.100.9"),
        "a direct client cannot pick its address"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_correct_password_from_a_known_device_passes_the_account_lock(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::user(&pool, Role::Commander).await;
    let (first, html) = send(&app, sign_in(&commander.email, PASSWORD, "/", "192.0.2.50")).await;
    assert_eq!(first.status(), 303, "{html}");
    let device = set_cookie(&first, "twisterlab_device").expect("a successful sign-in remembers the device");
    assert!(device.contains("HttpOnly") && device.contains("SameSite=Strict"), "{device}");
    let device = device.split(';').next().expect("name=value").to_owned();

    // An attacker locks the account from elsewhere.
    for i in 1..=8 {
        send(&app, sign_in(&commander.email, "wrong horse battery staple", "/", &format!("203.0.113.{i}")))
            .await;
    }
    let (locked, html) = send(&app, sign_in(&commander.email, PASSWORD, "/", "192.0.2.51")).await;
    assert_eq!(locked.status(), 429, "without the device cookie the account is locked: {html}");

    let mut request = sign_in(&commander.email, PASSWORD, "/", "192.0.2.51");
    let cookies = format!("{}; {device}", request.headers()[header::COOKIE].to_str().expect("cookie"));
    request.headers_mut().insert(header::COOKIE, cookies.parse().expect("cookie"));
    let (response, html) = send(&app, request).await;
    assert_eq!(response.status(), 303, "the commander's known device still signs in: {html}");
    assert!(session_token(&response).is_some());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_successful_sign_in_clears_the_address_counter(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    for i in 1..=3 {
        let email = format!("typo-{i}@twisterlab.test");
        send(&app, sign_in(&email, "wrong horse battery staple", "/", "192.0.2.60")).await;
    }
    let (response, html) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.60")).await;
    assert_eq!(response.status(), 303, "{html}");
    let left =
        count_with(&pool, "select count(*) from sign_in_throttle where key = $1", "address:192.0.2.60").await;
    assert_eq!(left, 0, "the address starts again from zero");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn concurrent_wrong_guesses_verify_at_most_the_free_failures(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Commander).await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 1..=20 {
        let request =
            sign_in(&user.email, &format!("wrong horse battery {i}"), "/", &format!("203.0.113.{i}"));
        let app = app.clone();
        guesses.spawn(async move { send(&app, request).await.0.status() });
    }
    while let Some(status) = guesses.join_next().await {
        let status = status.expect("the guess finishes");
        assert!(status == 401 || status == 429, "{status}");
    }
    let verified = testing::audit_actions(&pool, "auth.sign_in_failed").await.len();
    assert!(
        verified <= crate::db::throttle::FREE_FAILURES as usize,
        "{verified} concurrent guesses were verified; the limit is {}",
        crate::db::throttle::FREE_FAILURES
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn signed_in_pages_are_never_stored_by_a_cache(pool: PgPool) {
    let app = testing::app(&pool);
    let browser = testing::signed_in(&pool, Role::Admin).await;
    for path in ["/", "/incidents", "/account", "/admin/users", "/admin/audit"] {
        let (response, html) = send(&app, get(path, Some(&browser))).await;
        assert_eq!(response.status(), 200, "{path}: {html:.200}");
        let cache = response.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(cache.contains("no-store"), "{path} has Cache-Control {cache:?}");
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_client_supplied_request_id_never_reaches_the_audit_log(pool: PgPool) {
    let app = testing::app(&pool);
    let mut request = sign_in("nobody@twisterlab.test", "wrong horse battery staple", "/", "192.0.2.70");
    request.headers_mut().insert("x-request-id", "admin-approved-this".parse().expect("header"));
    let (response, _) = send(&app, request).await;
    let answered = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let failed = testing::audit_actions(&pool, "auth.sign_in_failed").await;
    assert_eq!(failed.len(), 1);
    let stored = failed[0].request_id.clone().expect("a request id");
    assert_ne!(stored, "admin-approved-this");
    assert!(uuid::Uuid::parse_str(&stored).is_ok(), "the portal's own id: {stored}");
    assert_eq!(answered.as_deref(), Some(stored.as_str()), "the response names the id the logs use");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn attempts_while_locked_write_one_audit_row_per_lock(pool: PgPool) {
    let app = testing::app(&pool);
    let user = testing::user(&pool, Role::Viewer).await;
    for _ in 1..=5 {
        send(&app, sign_in(&user.email, "wrong horse battery staple", "/", "192.0.2.80")).await;
    }
    for _ in 1..=30 {
        let (response, _) = send(&app, sign_in(&user.email, PASSWORD, "/", "192.0.2.80")).await;
        assert_eq!(response.status(), 429);
    }
    let locked = testing::audit_actions(&pool, "auth.sign_in_locked").await;
    assert_eq!(locked.len(), 1, "thirty refusals during one lock are one row: {locked:?}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn control_characters_an_anonymous_caller_types_never_reach_the_audit_log(pool: PgPool) {
    let app = testing::app(&pool);
    let typed = "root@x\n2026-01-01 auth.sign_in admin@twisterlab\u{1b}[2J\u{202e}";
    send(&app, sign_in(typed, "wrong horse battery staple", "/", "192.0.2.81")).await;
    let failed = testing::audit_actions(&pool, "auth.sign_in_failed").await;
    assert_eq!(failed.len(), 1);
    let target = &failed[0].target;
    assert!(!target.chars().any(|c| c.is_control() || c == '\u{202e}'), "{target:?}");
    assert!(target.starts_with("account:root@x 2026-01-01"), "{target:?}");
}
