//! The sign-in page (with its double-submit CSRF cookie) and sign-out; the work is in
//! `service::sessions`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;

use super::service::{self, sessions::SignIn};
use crate::auth::{self, CurrentUser, RequestMeta, token};
use crate::config::Secret;
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
pub(crate) struct LoginPage {
    pub layout: Layout,
    pub email: String,
    pub next: String,
    pub csrf_token: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// `GET /login`.
pub(super) async fn show_login(
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
pub(crate) struct SignInForm {
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
pub(super) async fn sign_in(
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

    let lifetime = app.config.session_absolute_timeout;
    let attempt = service::sessions::Attempt {
        email: &email,
        password: Secret::new(form.password),
        device: auth::cookie(&headers, device_cookie_name(secure)),
        lifetime,
    };
    let outcome = service::sessions::sign_in(&app.pool, &app.hasher, &meta, attempt).await?;
    let (user, session_token, device_token) = match outcome {
        SignIn::SignedIn { user, session_token, device_token } => (user, session_token, device_token),
        SignIn::Locked { until } => return Ok(retry(locked_message(until), StatusCode::TOO_MANY_REQUESTS)),
        SignIn::Wrong => {
            let wrong = "The e-mail address or the password is wrong.".to_owned();
            return Ok(retry(wrong, StatusCode::UNAUTHORIZED));
        }
        SignIn::Busy { retry_after_seconds } => {
            let busy = format!(
                "The portal is checking many sign-ins right now. Try again in {retry_after_seconds} s."
            );
            let mut response = retry(busy, StatusCode::TOO_MANY_REQUESTS);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            return Ok(response);
        }
    };
    let to = if user.must_change_password { "/account/password".to_owned() } else { next };
    let response = see_other(&to);
    let response =
        auth::with_cookie(response, &auth::session_cookie(&session_token, secure, lifetime.as_secs()));
    let response = match device_token {
        Some(device) => auth::with_cookie(response, &device_cookie(&device, secure)),
        None => response,
    };
    Ok(auth::with_cookie(response, &login_cookie("", secure).replace("Max-Age=3600", "Max-Age=0")))
}

/// Cookie that marks a browser which signed in successfully (a random token; the database
/// keeps its hash): a correct password from it passes a lock strangers put on the account.
fn device_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-twisterlab_device" } else { "twisterlab_device" }
}

fn device_cookie(value: &str, secure: bool) -> String {
    let secure_attr = if secure { "; Secure" } else { "" };
    let max_age = i64::from(crate::db::devices::FORGET_AFTER_DAYS) * 86_400;
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure_attr}",
        device_cookie_name(secure)
    )
}

fn locked_message(until: Timestamp) -> String {
    let seconds = until.duration_since(Timestamp::now()).as_secs().max(1);
    let wait = if seconds >= 60 { format!("{} min", (seconds + 59) / 60) } else { format!("{seconds} s") };
    format!(
        "Too many failed sign-ins for this account or from this address. Sign-in is locked: try again in {wait}."
    )
}

/// `POST /logout`.
pub(super) async fn sign_out(State(app): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let mut tx = app.pool.begin().await?;
    service::sessions::sign_out(&mut tx, &user).await?;
    tx.commit().await?;
    let secure = app.config.cookies_secure();
    Ok(auth::with_cookie(see_other("/login?signed_out=1"), &auth::clear_session_cookie(secure)))
}
