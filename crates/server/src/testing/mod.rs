//! The one test harness of the crate: an app on a fresh database (from `#[sqlx::test]`),
//! signed-in browsers per role, requests through `app().oneshot()`, and builders for the
//! things tests arrange (users, incidents, the on-call team). Area tests use these rather
//! than keeping their own copies.

pub mod builders;

use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, header};
use sqlx::PgPool;
use tower::ServiceExt as _;
use twisterlab_domain::role::Role;

use crate::auth::token;
use crate::config::{Config, Sources};
use crate::db::audit::Actor;
use crate::db::sessions::{self, NewSession};
use crate::db::users::{self, NewUser, User};
use crate::state::AppState;

/// The defaults, as a fresh install has them.
pub fn config() -> Config {
    Config::from_sources(&Sources::from_pairs([], toml::Table::new())).expect("the defaults are valid")
}

/// The whole app on `pool`.
pub fn app(pool: &PgPool) -> axum::Router {
    TestApp::new(pool).router
}

/// The app with its state, for tests that also drive workers over the same caches.
#[derive(Clone)]
pub struct TestApp {
    pub state: AppState,
    pub router: axum::Router,
}

impl TestApp {
    /// The app on `pool` with a fresh install's configuration.
    pub fn new(pool: &PgPool) -> Self {
        Self::with_config(pool, config())
    }

    pub fn with_config(pool: &PgPool, config: Config) -> Self {
        Self::with_state(AppState::new(pool.clone(), config, "test database".into()))
    }

    pub fn with_state(state: AppState) -> Self {
        Self { router: crate::app(state.clone()), state }
    }

    pub fn pool(&self) -> &PgPool {
        &self.state.pool
    }

    /// A new user with `role` signed in to this app.
    pub async fn signed_in(&self, role: Role) -> Browser {
        signed_in(self.pool(), role).await
    }

    /// Sends `request`; returns the response (body taken) and the body as text.
    pub async fn send(&self, request: Request<Body>) -> (Response<Body>, String) {
        send(&self.router, request).await
    }

    /// The status page worker over this app's status cache.
    pub fn status_worker(&self) -> crate::status_page::worker::StatusPageWorker {
        crate::status_page::worker::StatusPageWorker { cache: self.state.status.clone() }
    }
}

/// A password hash computed once: argon2 at OWASP cost is slow in debug builds.
pub async fn password_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        crate::auth::password::hash(&crate::config::Secret::new(PASSWORD)).await.expect("hash")
    })
    .await
    .clone()
}

/// The password of every user made by [`user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// A new active user with `role`, named after it.
pub async fn user(pool: &PgPool, role: Role) -> User {
    person(pool, role.as_str(), role).await
}

/// A new active user called `name` (e-mail `name-<random>@twisterlab.test`) with `role`.
pub async fn person(pool: &PgPool, name: &str, role: Role) -> User {
    let email = format!(
        "{}-{}@twisterlab.test",
        name.to_lowercase().replace(' ', "."),
        uuid::Uuid::new_v4().simple()
    );
    let hash = password_hash().await;
    let new = NewUser {
        email: &email,
        display_name: name,
        role,
        password_hash: &hash,
        must_change_password: false,
    };
    users::insert(pool, &new).await.expect("insert user").expect("unique e-mail")
}

/// An actor for changes made as `user` outside a request.
pub fn actor(user: &User) -> Actor {
    Actor { user_id: Some(user.id), label: user.email.clone(), client_addr: None, request_id: None }
}

/// A signed-in browser: the cookie header and the session's CSRF token.
#[derive(Clone, Debug)]
pub struct Browser {
    pub user: User,
    pub cookie: String,
    pub csrf: String,
}

/// A user with `role` and a live session.
pub async fn signed_in(pool: &PgPool, role: Role) -> Browser {
    let user = user(pool, role).await;
    session_for(pool, user).await
}

/// A live session for `user`.
pub async fn session_for(pool: &PgPool, user: User) -> Browser {
    let secret = token::random_secret();
    let csrf = token::random_secret();
    let new = NewSession {
        token_hash: &token::digest(&secret),
        user_id: user.id,
        csrf_token: &csrf,
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24),
        client_addr: Some("127.0.0.1"),
        user_agent: Some("test"),
    };
    sessions::insert(pool, &new).await.expect("insert session");
    Browser { user, cookie: format!("twisterlab_session={secret}"), csrf }
}

/// A GET as a browser would send it (HTML wanted).
pub fn get(path: &str, browser: Option<&Browser>) -> Request<Body> {
    let mut builder =
        Request::get(path).header(header::ACCEPT, "text/html").header(header::HOST, "localhost");
    if let Some(b) = browser {
        builder = builder.header(header::COOKIE, &b.cookie);
    }
    builder.body(Body::empty()).expect("request")
}

/// A same-origin form POST with the session's CSRF token added.
pub fn post_form(path: &str, browser: Option<&Browser>, fields: &[(&str, &str)]) -> Request<Body> {
    let mut pairs: Vec<(String, String)> =
        fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    if let Some(b) = browser {
        pairs.push(("csrf_token".into(), b.csrf.clone()));
    }
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", crate::auth::urlencode(k), crate::auth::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut builder = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, "http://localhost");
    if let Some(b) = browser {
        builder = builder.header(header::COOKIE, &b.cookie);
    }
    builder.body(Body::from(body)).expect("request")
}

/// Sends `request` through the app; returns the response and its body as text.
pub async fn send(app: &axum::Router, request: Request<Body>) -> (Response<Body>, String) {
    let response = app.clone().oneshot(request).await.expect("the app answers");
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.expect("body");
    (Response::from_parts(parts, Body::empty()), String::from_utf8_lossy(&bytes).into_owned())
}

/// Audit rows with `action`, oldest first.
pub async fn audit_actions(pool: &PgPool, action: &str) -> Vec<crate::db::audit::AuditRow> {
    crate::db::audit::with_action(pool, action).await.expect("audit rows")
}

/// Whether two floating-point readings agree to a relative 1e-9 (absolute near zero): the same
/// value computed twice, or stored as JSON and read back, may differ in its last bits.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}
