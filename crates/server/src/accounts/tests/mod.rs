//! Accounts behaviour through the app, one file per topic, and the set-up they share.

mod account;
mod admin_audit;
mod admin_users;
mod login;
mod password_change;
mod sessions;
mod times;
mod tokens;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::password::Verification;
use crate::auth::{password, token, urlencode};
use crate::config::Secret;
use crate::db::users::{self, User};
use crate::testing::{Browser, get, post_form, send};

/// A second password that passes the rules.
const NEW_PASSWORD: &str = "Blue-Tractor-Under-7-Moons";

/// Whether the browser's session still works: the overview answers 200, not a sign-in redirect.
async fn still_signed_in(app: &Router, browser: &Browser) -> bool {
    let (response, _) = send(app, get("/", Some(browser))).await;
    if response.status() == 303 {
        assert!(response.headers()["location"].to_str().expect("ascii").starts_with("/login"));
    }
    response.status() == 200
}

/// Whether `candidate` is the stored password of `email`.
async fn password_is(pool: &PgPool, email: &str, candidate: &str) -> bool {
    let (_, hash) = users::find_with_hash(pool, email).await.expect("query").expect("user");
    matches!(password::verify(&Secret::new(candidate), Some(hash)).await, Verification::Valid { .. })
}

/// The user as stored now.
async fn stored(pool: &PgPool, id: Uuid) -> User {
    users::find(pool, id).await.expect("find").expect("the user exists")
}

/// Sessions of `user_id` in the database, live or not.
async fn sessions_of(pool: &PgPool, user_id: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from sessions where user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .expect("count sessions")
}

/// The id of the session behind the browser's cookie.
async fn session_id(pool: &PgPool, b: &Browser) -> Uuid {
    let secret = b.cookie.split_once('=').expect("a cookie").1;
    sqlx::query_scalar("select id from sessions where token_hash = $1")
        .bind(token::digest(secret))
        .fetch_one(pool)
        .await
        .expect("the session exists")
}

/// A count query without parameters.
async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// A count query with one text parameter.
async fn count_with(pool: &PgPool, sql: &'static str, bind: &str) -> i64 {
    sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await.expect(sql)
}

/// A same-origin form POST with the session cookie but no CSRF token.
fn post_without_csrf(path: &str, b: &Browser, fields: &[(&str, &str)]) -> Request<Body> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost")
        .header(header::COOKIE, &b.cookie)
        .body(Body::from(body))
        .expect("request")
}

/// An API call with a bearer token.
fn api_get(path: &str, bearer: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request")
}

/// `POST /account/password` with the three fields.
async fn change_password(
    app: &Router,
    b: &Browser,
    current: &str,
    new: &str,
    confirm: &str,
) -> (Response<Body>, String) {
    let fields = [("current_password", current), ("new_password", new), ("confirm_password", confirm)];
    send(app, post_form("/account/password", Some(b), &fields)).await
}

/// `POST /account/tokens` with the three fields.
async fn create_token(
    app: &Router,
    b: &Browser,
    name: &str,
    role: &str,
    days: &str,
) -> (Response<Body>, String) {
    let fields = [("name", name), ("role", role), ("expires_days", days)];
    send(app, post_form("/account/tokens", Some(b), &fields)).await
}

/// The token shown on the page right after creation.
fn shown_token(html: &str) -> String {
    let start = html.find("id=\"new-token\"").expect("the new token is shown");
    let rest = &html[start..];
    let value = rest.find("value=\"").expect("a value") + "value=\"".len();
    rest[value..].split('"').next().expect("a closing quote").to_owned()
}

/// Creates a token through the page; returns its secret.
async fn create_via_page(app: &Router, b: &Browser, name: &str, role: &str, days: &str) -> String {
    let (response, html) = create_token(app, b, name, role, days).await;
    assert_eq!(response.status(), 201, "{html}");
    shown_token(&html)
}

/// The only token of `user_id` (tests that made exactly one).
async fn token_id(pool: &PgPool, user_id: Uuid) -> Uuid {
    sqlx::query_scalar("select id from api_tokens where user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .expect("token")
}

async fn token_count(pool: &PgPool, user_id: Uuid) -> i64 {
    sqlx::query_scalar("select count(*) from api_tokens where user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// `POST /admin/users/{id}`: the edit form.
async fn edit_user(
    app: &Router,
    admin: &Browser,
    id: Uuid,
    name: &str,
    role: &str,
    state: &str,
) -> (Response<Body>, String) {
    let fields = [("display_name", name), ("role", role), ("state", state)];
    send(app, post_form(&format!("/admin/users/{id}"), Some(admin), &fields)).await
}

/// `POST /admin/users/{id}/password`: a reset (blank `password` generates one).
async fn reset_password(app: &Router, admin: &Browser, id: Uuid, password: &str) -> (Response<Body>, String) {
    send(app, post_form(&format!("/admin/users/{id}/password"), Some(admin), &[("password", password)])).await
}

/// The temporary password a result page shows once.
fn shown_password(html: &str) -> Option<String> {
    let start = html.find("<code id=\"temporary-password\">")? + "<code id=\"temporary-password\">".len();
    let end = html[start..].find("</code>")?;
    Some(html[start..start + end].to_owned())
}
