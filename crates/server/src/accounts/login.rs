//! Sign-in (argon2 check, throttling, a new session) and sign-out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;

use crate::auth::password::{self, Verification};
use crate::auth::{self, CurrentUser, RequestMeta, token};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::db::sessions::{self, NewSession};
use crate::db::{throttle, users};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};

/// Cookie holding the pre-session CSRF token of the sign-in form (double submit).
fn login_csrf_cookie(secure: bool) -> &'static str {
    if secure { "__Host-twisterlab_login" } else { "twisterlab_login" }
}

#[derive(Template)]
#[template(path = "accounts/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub csrf_token: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// `GET /login`.
pub async fn show_login(
    State(app): State<AppState>,
    headers: HeaderMap,
    layout: Layout,
    Query(q): Query<LoginQuery>,
) -> Response {
    let secure = app.config.cookies_secure();
    let existing =
        auth::cookie(&headers, login_csrf_cookie(secure)).filter(|t| t.len() >= 32).map(str::to_owned);
    let csrf_token = existing.clone().unwrap_or_else(token::random_secret);
    let page = LoginPage {
        layout,
        email: String::new(),
        next: auth::safe_next(q.next.as_deref()),
        csrf_token: csrf_token.clone(),
        error: None,
        notice: q.signed_out.map(|_| "You are signed out."),
    };
    let response = render_page(&page);
    if existing.is_some() {
        return response;
    }
    auth::with_cookie(response, &login_cookie(&csrf_token, secure))
}

fn login_cookie(value: &str, secure: bool) -> String {
    let secure_attr = if secure { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure_attr}",
        login_csrf_cookie(secure)
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /login`.
pub async fn sign_in(
    State(app): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    layout: Layout,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let secure = app.config.cookies_secure();
    let expected = auth::cookie(&headers, login_csrf_cookie(secure)).unwrap_or("");
    if expected.is_empty() || !token::constant_time_eq(expected, &form.csrf_token) {
        return Err(AppError::CsrfRejected);
    }
    let email: String = form.email.trim().chars().take(300).collect();
    let next = auth::safe_next(Some(&form.next));
    let retry = |error: String, status: StatusCode| {
        let page = LoginPage {
            layout: layout.clone(),
            email: email.clone(),
            next: next.clone(),
            csrf_token: form.csrf_token.clone(),
            error: Some(error),
            notice: None,
        };
        (status, render_page(&page)).into_response()
    };
    if email.is_empty() || form.password.is_empty() {
        return Ok(retry("Enter your e-mail address and password.".into(), StatusCode::UNPROCESSABLE_ENTITY));
    }

    let account_key = format!("account:{}", email.to_lowercase());
    let address_key = format!("address:{}", meta.client_addr.as_deref().unwrap_or("unknown"));
    let keys = [account_key.clone(), address_key.clone()];
    if let Some(until) = throttle::locked_until(&app.pool, &keys).await? {
        // Refused without checking the password; recorded so the lock's effect is visible.
        let after = json!({"locked_until": until.as_second()});
        let entry = Entry {
            action: "auth.sign_in_locked",
            target: account_key.clone(),
            before: None,
            after: Some(after),
        };
        audit::record(&app.pool, &meta.anonymous_actor("anonymous"), entry).await?;
        return Ok(retry(locked_message(until), StatusCode::TOO_MANY_REQUESTS));
    }

    let found = users::find_with_hash(&app.pool, &email).await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password = Secret::new(form.password);
    // Always verify, even for unknown or inactive accounts, so timing tells nothing.
    let verdict = password::verify(&password, stored).await;

    let (user, rehash) = match (user, verdict) {
        (Some(user), Verification::Valid { rehash }) if user.active => (user, rehash),
        _ => {
            let mut tx = app.pool.begin().await?;
            let mut lock = None;
            for key in &keys {
                let failures = throttle::record_failure(&mut *tx, key).await?;
                if let Some(seconds) = throttle::lock_seconds(failures) {
                    let until = throttle::lock(&mut *tx, key, seconds).await?;
                    lock = Some(lock.map_or(until, |l: Timestamp| l.max(until)));
                }
            }
            let actor = meta.anonymous_actor("anonymous");
            // `locked_until` is set on the failure that started a lock.
            let after = json!({"locked_until": lock.map(|l| l.as_second())});
            let entry = Entry {
                action: "auth.sign_in_failed",
                target: account_key.clone(),
                before: None,
                after: Some(after),
            };
            audit::record(&mut *tx, &actor, entry).await?;
            tx.commit().await?;
            return Ok(match lock {
                Some(until) => retry(locked_message(until), StatusCode::TOO_MANY_REQUESTS),
                None => {
                    retry("The e-mail address or the password is wrong.".into(), StatusCode::UNAUTHORIZED)
                }
            });
        }
    };

    let session_token = token::random_secret();
    let absolute = app.config.session_absolute_timeout;
    let lifetime = SignedDuration::try_from(absolute).unwrap_or(SignedDuration::MAX);
    let expires_at = Timestamp::now().saturating_add(lifetime).unwrap_or(Timestamp::MAX);
    let mut tx = app.pool.begin().await?;
    if rehash {
        let new_hash = password::hash(&password).await?;
        users::set_password(&mut *tx, user.id, &new_hash, user.must_change_password).await?;
    }
    let csrf = token::random_secret();
    let new = NewSession {
        token_hash: &token::digest(&session_token),
        user_id: user.id,
        csrf_token: &csrf,
        expires_at,
        client_addr: meta.client_addr.as_deref(),
        user_agent: meta.user_agent.as_deref(),
    };
    sessions::insert(&mut *tx, &new).await?;
    users::record_sign_in(&mut *tx, user.id).await?;
    throttle::clear(&mut *tx, &account_key).await?;
    let mut actor = meta.anonymous_actor(user.email.clone());
    actor.user_id = Some(user.id);
    audit::record(
        &mut *tx,
        &actor,
        Entry {
            action: "auth.sign_in",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"rehashed": rehash})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %user.id, rehashed = rehash, "signed in");

    let to = if user.must_change_password { "/account/password".to_owned() } else { next };
    let response = see_other(&to);
    let response =
        auth::with_cookie(response, &auth::session_cookie(&session_token, secure, absolute.as_secs()));
    Ok(auth::with_cookie(response, &login_cookie("", secure).replace("Max-Age=3600", "Max-Age=0")))
}

fn locked_message(until: Timestamp) -> String {
    let seconds = until.duration_since(Timestamp::now()).as_secs().max(1);
    let wait = if seconds >= 60 { format!("{} min", (seconds + 59) / 60) } else { format!("{seconds} s") };
    format!(
        "Too many failed sign-ins for this account or from this address. Sign-in is locked: try again in {wait}."
    )
}

/// `POST /logout`.
pub async fn sign_out(State(app): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    if let Some(id) = user.session_id() {
        sessions::delete(&mut *tx, id).await?;
    }
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "auth.sign_out",
            target: format!("user:{}", user.user.email),
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    let secure = app.config.cookies_secure();
    Ok(auth::with_cookie(see_other("/login?signed_out=1"), &auth::clear_session_cookie(secure)))
}
