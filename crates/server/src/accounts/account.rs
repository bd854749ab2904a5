//! The signed-in user's own settings: profile, password, API tokens, sessions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use crate::auth::password::{self, Verification};
use crate::auth::{self, Access, CurrentUser, Routes, token};
use crate::config::Secret;
use crate::db::api_tokens::{self, ApiToken, NewToken};
use crate::db::audit::{self, Actor, Entry};
use crate::db::users::User;
use crate::db::{sessions, throttle, users};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, Page, render_page};
use crate::web::time::Moment;

/// The account routes; every one is the caller's own business, so the lowest role suffices.
pub fn routes() -> Routes {
    let viewer = Access::Role(Role::Viewer);
    Routes::new()
        .get("/account", viewer, show_account)
        .get("/account/password", viewer, show_password_form)
        .post("/account/password", viewer, change_password)
        .get("/account/tokens", viewer, list_tokens)
        .post("/account/tokens", viewer, create_token)
        .post("/account/tokens/{id}/revoke", viewer, revoke_token)
        .get("/account/sessions", viewer, list_sessions)
        .post("/account/sessions/{id}/end", viewer, end_session)
}

/// Notices shown after a redirect, looked up by key so no request text is ever reflected.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "password-changed" => Some("Your password is changed. Your other sessions were signed out."),
        "token-revoked" => Some("The token is revoked; it no longer works."),
        "token-already-revoked" => Some("That token was already revoked."),
        "session-ended" => Some("The session is ended; that browser is signed out."),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// The message for `field`, if any.
fn error_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

/// A path id; anything that is not a UUID is simply not found.
fn parse_id(raw: &str, what: &str) -> Result<Uuid, AppError> {
    raw.parse().map_err(|_| AppError::NotFoundThing { what: what.to_owned() })
}

/// Pages that hold secrets or personal details must not be kept by caches.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// Profile

#[derive(Template)]
#[template(path = "account/show.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub member_since: Moment,
    pub last_sign_in: Option<Moment>,
    pub live_tokens: usize,
    pub live_sessions: usize,
    pub notice: Option<&'static str>,
}

/// `GET /account`.
async fn show_account(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let live_tokens =
        api_tokens::list_for_user(&app.pool, user.user.id).await?.iter().filter(|t| t.is_live(now)).count();
    let live_sessions = live_sessions(&app, user.user.id).await?.len();
    let u = &user.user;
    let page = AccountPage {
        layout,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        member_since: Moment::new(u.created_at, tz, now),
        last_sign_in: u.last_sign_in_at.map(|t| Moment::new(t, tz, now)),
        live_tokens,
        live_sessions,
        notice: notice_text(q.notice.as_deref()),
    };
    Ok(no_store(render_page(&page)))
}

// ---------------------------------------------------------------------------------------------
// Password

#[derive(Template)]
#[template(path = "account/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub email: String,
    /// The user was told to choose a new password (new account or reset by an admin).
    pub must_change: bool,
    pub errors: Vec<FieldError>,
}

impl PasswordPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }
}

/// `GET /account/password`.
async fn show_password_form(layout: Layout, user: CurrentUser) -> Response {
    no_store(render_page(&PasswordPage {
        layout,
        email: user.user.email.clone(),
        must_change: user.user.must_change_password,
        errors: vec![],
    }))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: verify the current password, store the new one, sign out the
/// user's other sessions, all in one transaction with its audit row.
async fn change_password(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let email = user.user.email.clone();
    let mut errors = vec![];
    if let Err(m) = password::check_new_password(&form.new_password, &email) {
        errors.push(FieldError::new("new_password", m));
    } else if form.new_password == form.current_password {
        errors.push(FieldError::new("new_password", "Choose a password different from your current one."));
    }
    if form.confirm_password != form.new_password {
        errors.push(FieldError::new(
            "confirm_password",
            "This does not match the new password; type the same password twice.",
        ));
    }
    // The same per-account counter as sign-in: a borrowed session must not become a way to
    // guess the password without limit.
    let account_key = format!("account:{}", email.to_lowercase());
    if form.current_password.is_empty() {
        errors.push(FieldError::new("current_password", "Enter your current password."));
    } else if let Some(until) = throttle::locked_until(&app.pool, std::slice::from_ref(&account_key)).await? {
        let minutes = (until.duration_since(Timestamp::now()).as_secs().max(1) + 59) / 60;
        errors.push(FieldError::new(
            "current_password",
            format!("Too many wrong passwords for this account. Try again in {minutes} min."),
        ));
    } else {
        let stored = users::find_with_hash(&app.pool, &email)
            .await?
            .filter(|(found, _)| found.id == user.user.id)
            .map(|(_, hash)| hash);
        let verdict = password::verify(&Secret::new(form.current_password.clone()), stored).await;
        if verdict == Verification::Invalid {
            let mut tx = app.pool.begin().await?;
            let failures = throttle::record_failure(&mut *tx, &account_key).await?;
            if let Some(seconds) = throttle::lock_seconds(failures) {
                throttle::lock(&mut *tx, &account_key, seconds).await?;
            }
            audit::record(
                &mut *tx,
                &user.actor,
                Entry {
                    action: "user.password_change_failed",
                    target: format!("user:{email}"),
                    before: None,
                    after: Some(json!({"reason": "wrong current password", "failures": failures})),
                },
            )
            .await?;
            tx.commit().await?;
            errors.push(FieldError::new("current_password", "This is not your current password."));
        }
    }
    if !errors.is_empty() {
        let page = PasswordPage { layout, email, must_change: user.user.must_change_password, errors };
        return Ok(no_store((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()));
    }

    let hash = password::hash(&Secret::new(form.new_password)).await?;
    let mut tx = app.pool.begin().await?;
    let Some(locked) = users::find_for_update(&mut *tx, user.user.id).await? else {
        return Err(AppError::NotFoundThing { what: "Your account".into() });
    };
    users::set_password(&mut *tx, locked.id, &hash, false).await?;
    let ended = match user.session_id() {
        Some(keep) => sessions::delete_others(&mut *tx, locked.id, keep).await?,
        None => sessions::delete_all_for_user(&mut *tx, locked.id).await?,
    };
    throttle::clear(&mut *tx, &account_key).await?;
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "user.password_change",
            target: format!("user:{email}"),
            before: Some(json!({"must_change_password": locked.must_change_password})),
            after: Some(json!({"must_change_password": false, "other_sessions_ended": ended})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %locked.id, sessions.ended = ended, "password changed");
    Ok(see_other("/account?notice=password-changed"))
}

// ---------------------------------------------------------------------------------------------
// API tokens: rules shared by the page and `twisterlab-portal create-token`

/// Longest token name, in characters.
pub const MAX_TOKEN_NAME: usize = 60;
/// Longest token lifetime, in days.
pub const MAX_TOKEN_DAYS: u32 = 365;
/// Characters of the secret (after `tlp_`) kept to tell tokens apart.
pub const TOKEN_PREFIX_CHARS: usize = 8;

/// A token request that follows the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenDraft {
    pub name: String,
    pub role: Role,
    /// Lifetime in days; `None` never expires.
    pub expires_days: Option<u32>,
}

/// Checks a token request from its raw fields (`name`, `role`, `expires_days`) against the
/// owner's role. Errors name the form fields.
pub fn token_draft(
    name: &str,
    role: &str,
    expires_days: &str,
    owner_role: Role,
) -> Result<TokenDraft, Vec<FieldError>> {
    let mut errors = vec![];
    let name = validate_token_name(name).map_err(|m| errors.push(FieldError::new("name", m))).ok();
    let role =
        validate_token_role(role, owner_role).map_err(|m| errors.push(FieldError::new("role", m))).ok();
    let days =
        validate_expiry_days(expires_days).map_err(|m| errors.push(FieldError::new("expires_days", m))).ok();
    match (name, role, days) {
        (Some(name), Some(role), Some(expires_days)) => Ok(TokenDraft { name, role, expires_days }),
        _ => Err(errors),
    }
}

/// A trimmed token name of 1 to 60 characters without control characters.
pub fn validate_token_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter a name that says where the token is used, for example “alertmanager”.".into());
    }
    if name.chars().count() > MAX_TOKEN_NAME {
        return Err(format!("Use at most {MAX_TOKEN_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Remove the control characters.".into());
    }
    Ok(name.to_owned())
}

/// A role no higher than the owner's.
pub fn validate_token_role(raw: &str, owner_role: Role) -> Result<Role, String> {
    if raw.trim().is_empty() {
        return Err("Choose a role.".into());
    }
    let role: Role =
        raw.parse().map_err(|_| "Use one of viewer, responder, commander, manager or admin.".to_owned())?;
    if !owner_role.allows(role) {
        return Err(format!(
            "A token cannot have a higher role than its owner ({owner_role}); choose {owner_role} or lower."
        ));
    }
    Ok(role)
}

/// Blank for a token that never expires, else a whole number of days from 1 to 365.
pub fn validate_expiry_days(raw: &str) -> Result<Option<u32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Enter a whole number of days from 1 to {MAX_TOKEN_DAYS}, or leave it blank for no expiry."
        )),
    }
}

/// The displayed start of a token: the characters after `tlp_`.
pub fn token_prefix(secret: &str) -> String {
    secret.strip_prefix(token::API_TOKEN_PREFIX).unwrap_or(secret).chars().take(TOKEN_PREFIX_CHARS).collect()
}

/// A token just created, with its secret (never stored; shown once).
#[derive(Debug)]
pub struct IssuedToken {
    pub token: ApiToken,
    pub secret: String,
}

/// Why a token was not created.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates a token for `owner` from a checked draft, with its audit row, on `tx` (the caller
/// commits). `owner_role` is the role the owner holds right now.
pub async fn issue_token(
    tx: &mut PgConnection,
    actor: &Actor,
    owner: &User,
    owner_role: Role,
    draft: &TokenDraft,
) -> Result<IssuedToken, IssueTokenError> {
    // Checked by `token_draft` already; repeated here because this is where the row is made.
    if !owner_role.allows(draft.role) || !owner.role.allows(draft.role) {
        return Err(IssueTokenError::Invalid(vec![FieldError::new(
            "role",
            format!("A token cannot have a higher role than its owner ({owner_role})."),
        )]));
    }
    let secret = token::new_api_token();
    let prefix = token_prefix(&secret);
    let expires_at =
        draft.expires_days.map(|d| Timestamp::now() + SignedDuration::from_hours(24 * i64::from(d)));
    let new = NewToken {
        user_id: owner.id,
        name: &draft.name,
        role: draft.role,
        token_hash: &token::digest(&secret),
        prefix: &prefix,
        expires_at,
    };
    let Some(token) = api_tokens::insert(&mut *tx, &new).await? else {
        return Err(IssueTokenError::Invalid(vec![FieldError::new(
            "name",
            "A token with this name already exists and is not revoked; revoke it or choose another name.",
        )]));
    };
    audit::record(
        &mut *tx,
        actor,
        Entry {
            action: "api_token.create",
            target: format!("api_token:{}", token.id),
            before: None,
            // Never the secret: only what the owner sees in the list.
            after: Some(json!({
                "owner": owner.email,
                "name": token.name,
                "role": token.role.as_str(),
                "prefix": token.prefix,
                "expires_at": token.expires_at.map(|t| t.as_second()),
            })),
        },
    )
    .await?;
    Ok(IssuedToken { token, secret })
}

// ---------------------------------------------------------------------------------------------
// API tokens: the page

/// One row of the token list.
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created: Moment,
    pub expires: Option<Moment>,
    pub last_used: Option<Moment>,
    /// "live", "expired" or "revoked".
    pub state: &'static str,
    /// Not revoked yet (an expired token can still be revoked, which frees its name).
    pub revocable: bool,
}

impl TokenRow {
    fn of(t: &ApiToken, now: Timestamp, tz: &jiff::tz::TimeZone) -> Self {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.is_live(now) {
            "live"
        } else {
            "expired"
        };
        Self {
            id: t.id,
            name: t.name.clone(),
            role: t.role,
            prefix: t.prefix.clone(),
            created: Moment::new(t.created_at, tz, now),
            expires: t.expires_at.map(|e| Moment::new(e, tz, now)),
            last_used: t.last_used_at.map(|e| Moment::new(e, tz, now)),
            state,
            revocable: t.revoked_at.is_none(),
        }
    }

    /// CSS class of the state badge.
    pub fn state_class(&self) -> &'static str {
        match self.state {
            "live" => "state-ok",
            "expired" => "state-unknown",
            _ => "state-down",
        }
    }
}

/// The values typed into the creation form, kept when it is shown again with errors.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub expires_days: String,
}

/// A token to show once, right after it was made.
#[derive(Clone, Debug)]
pub struct NewTokenShown {
    pub name: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<TokenRow>,
    /// The roles the user may give a token (theirs and below).
    pub roles: Vec<Role>,
    pub form: TokenForm,
    pub errors: Vec<FieldError>,
    pub created: Option<NewTokenShown>,
    pub notice: Option<&'static str>,
}

impl TokensPage {
    pub fn error(&self, field: &str) -> Option<&str> {
        error_for(&self.errors, field)
    }

    pub fn is_selected(&self, role: &Role) -> bool {
        self.form.role == role.as_str()
    }
}

async fn tokens_page(
    app: &AppState,
    layout: Layout,
    user: &CurrentUser,
    form: TokenForm,
    errors: Vec<FieldError>,
    created: Option<NewTokenShown>,
    notice: Option<&'static str>,
) -> Result<TokensPage, AppError> {
    let now = Timestamp::now();
    let tokens = api_tokens::list_for_user(&app.pool, user.user.id)
        .await?
        .iter()
        .map(|t| TokenRow::of(t, now, &app.config.timezone))
        .collect();
    let roles = Role::ALL.into_iter().filter(|r| user.role.allows(*r)).collect();
    Ok(TokensPage { layout, tokens, roles, form, errors, created, notice })
}

/// `GET /account/tokens`.
async fn list_tokens(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    // Least privilege by default; 90 days unless the user clears it.
    let form =
        TokenForm { name: String::new(), role: Role::Viewer.as_str().into(), expires_days: "90".into() };
    let page = tokens_page(&app, layout, &user, form, vec![], None, notice_text(q.notice.as_deref())).await?;
    Ok(no_store(render_page(&page)))
}

/// `POST /account/tokens`: the new token is rendered in this response only, never redirected
/// to or put in a URL.
async fn create_token(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let draft = match token_draft(&form.name, &form.role, &form.expires_days, user.role) {
        Ok(draft) => draft,
        Err(errors) => return invalid_token_form(&app, layout, &user, form, errors).await,
    };
    let mut tx = app.pool.begin().await?;
    let issued = match issue_token(&mut tx, &user.actor, &user.user, user.role, &draft).await {
        Ok(issued) => issued,
        Err(IssueTokenError::Invalid(errors)) => {
            drop(tx);
            return invalid_token_form(&app, layout, &user, form, errors).await;
        }
        Err(IssueTokenError::Database(e)) => return Err(e.into()),
    };
    tx.commit().await?;
    tracing::info!(api_token.id = %issued.token.id, api_token.role = %issued.token.role, "API token created");
    let created = NewTokenShown { name: issued.token.name.clone(), secret: issued.secret };
    let fresh =
        TokenForm { name: String::new(), role: Role::Viewer.as_str().into(), expires_days: "90".into() };
    let page = tokens_page(&app, layout, &user, fresh, vec![], Some(created), None).await?;
    Ok(no_store((StatusCode::CREATED, render_page(&page)).into_response()))
}

/// The creation form again, with what was typed and a message per field.
async fn invalid_token_form(
    app: &AppState,
    layout: Layout,
    user: &CurrentUser,
    form: TokenForm,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let page = tokens_page(app, layout, user, form, errors, None, None).await?;
    Ok(no_store((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()))
}

/// `POST /account/tokens/{id}/revoke`: only the caller's own tokens.
async fn revoke_token(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    const WHAT: &str = "This API token";
    let id = parse_id(&id, WHAT)?;
    let mut tx = app.pool.begin().await?;
    let Some(revoked) = api_tokens::revoke(&mut *tx, user.user.id, id).await? else {
        let mine = api_tokens::list_for_user(&mut *tx, user.user.id).await?.iter().any(|t| t.id == id);
        return if mine {
            Ok(see_other("/account/tokens?notice=token-already-revoked"))
        } else {
            Err(AppError::NotFoundThing { what: WHAT.into() })
        };
    };
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "api_token.revoke",
            target: format!("api_token:{}", revoked.id),
            before: Some(json!({
                "owner": user.user.email,
                "name": revoked.name,
                "role": revoked.role.as_str(),
                "prefix": revoked.prefix,
            })),
            after: Some(json!({"revoked": true})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(api_token.id = %revoked.id, "API token revoked");
    Ok(see_other("/account/tokens?notice=token-revoked"))
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// "Firefox on Linux", "curl": enough to recognise a device without the whole header.
pub fn short_user_agent(ua: Option<&str>) -> String {
    let Some(ua) = ua.map(str::trim).filter(|u| !u.is_empty()) else {
        return "Unknown client".into();
    };
    let browser = if ua.contains("Edg/") {
        Some("Edge")
    } else if ua.contains("OPR/") {
        Some("Opera")
    } else if ua.contains("Firefox/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let os = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        _ => {
            // A tool ("curl/8.5.0"): its first word, bounded.
            let first = ua.split_whitespace().next().unwrap_or(ua);
            let short: String = first.chars().take(40).collect();
            if short.chars().count() < first.chars().count() { format!("{short}…") } else { short }
        }
    }
}

/// One row of the session list.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub id: Uuid,
    pub created: Moment,
    pub last_seen: Moment,
    pub client_addr: String,
    pub client: String,
    /// The full user agent, for the tooltip.
    pub user_agent: String,
    /// The session this page was requested with.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
pub struct SessionsPage {
    pub layout: Layout,
    pub sessions: Vec<SessionRow>,
    pub notice: Option<&'static str>,
}

/// Sessions of `user_id` that still sign someone in: not past the absolute nor the idle timeout.
async fn live_sessions(app: &AppState, user_id: Uuid) -> Result<Vec<sessions::Session>, AppError> {
    let idle = i64::try_from(app.config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX);
    Ok(sessions::list_live_for_user(&app.pool, user_id, idle).await?)
}

/// `GET /account/sessions`.
async fn list_sessions(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Page<SessionsPage>, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let current = user.session_id();
    let mut sessions: Vec<SessionRow> = live_sessions(&app, user.user.id)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            created: Moment::new(s.created_at, tz, now),
            last_seen: Moment::new(s.last_seen_at, tz, now),
            client_addr: s.client_addr.clone().unwrap_or_else(|| "unknown".into()),
            client: short_user_agent(s.user_agent.as_deref()),
            user_agent: s.user_agent.clone().unwrap_or_default(),
            current: Some(s.id) == current,
        })
        .collect();
    // This browser first; the rest stay most recently seen first (a stable sort).
    sessions.sort_by_key(|s| !s.current);
    Ok(Page(SessionsPage { layout, sessions, notice: notice_text(q.notice.as_deref()) }))
}

/// `POST /account/sessions/{id}/end`: only the caller's own sessions; ending the current one
/// signs out.
async fn end_session(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    const WHAT: &str = "This session";
    let id = parse_id(&id, WHAT)?;
    let current = user.session_id() == Some(id);
    let mut tx = app.pool.begin().await?;
    if !sessions::delete_own(&mut *tx, user.user.id, id).await? {
        return Err(AppError::NotFoundThing { what: WHAT.into() });
    }
    audit::record(
        &mut *tx,
        &user.actor,
        Entry {
            action: "session.end",
            target: format!("session:{id}"),
            before: Some(json!({"user": user.user.email})),
            after: Some(json!({"ended": true, "current": current})),
        },
    )
    .await?;
    tx.commit().await?;
    if current {
        let secure = app.config.cookies_secure();
        return Ok(auth::with_cookie(see_other("/login?signed_out=1"), &auth::clear_session_cookie(secure)));
    }
    Ok(see_other("/account/sessions?notice=session-ended"))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use jiff::tz::TimeZone;
    use sqlx::PgPool;
    use time::macros::datetime;
    use twisterlab_domain::role::Role;
    use uuid::Uuid;

    use super::*;
    use crate::testing::{self, Browser, audit_actions, get, post_form, send};

    const NEW_PASSWORD: &str = "Blue-Tractor-Under-7-Moons";

    // --- helpers --------------------------------------------------------------------------

    /// A same-origin form POST with the session cookie but no CSRF token.
    fn post_without_csrf(path: &str, b: &Browser, fields: &[(&str, &str)]) -> Request<Body> {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", crate::auth::urlencode(k), crate::auth::urlencode(v)))
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

    fn api_get(path: &str, bearer: &str) -> Request<Body> {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(header::HOST, "localhost")
            .body(Body::empty())
            .expect("request")
    }

    /// The token shown on the page right after creation.
    fn shown_token(html: &str) -> String {
        let start = html.find("id=\"new-token\"").expect("the new token is shown");
        let rest = &html[start..];
        let value = rest.find("value=\"").expect("a value") + "value=\"".len();
        rest[value..].split('"').next().expect("a closing quote").to_owned()
    }

    async fn create_via_page(app: &axum::Router, b: &Browser, name: &str, role: &str, days: &str) -> String {
        let (response, html) = send(
            app,
            post_form("/account/tokens", Some(b), &[("name", name), ("role", role), ("expires_days", days)]),
        )
        .await;
        assert_eq!(response.status(), 201, "{html}");
        shown_token(&html)
    }

    async fn session_id(pool: &PgPool, b: &Browser) -> Uuid {
        let secret = b.cookie.split_once('=').expect("a cookie").1;
        sqlx::query_scalar("select id from sessions where token_hash = $1")
            .bind(token::digest(secret))
            .fetch_one(pool)
            .await
            .expect("the session exists")
    }

    async fn token_count(pool: &PgPool, user_id: Uuid) -> i64 {
        sqlx::query_scalar("select count(*) from api_tokens where user_id = $1")
            .bind(user_id)
            .fetch_one(pool)
            .await
            .expect("count")
    }

    async fn password_is(pool: &PgPool, email: &str, candidate: &str) -> bool {
        let (_, hash) = users::find_with_hash(pool, email).await.expect("query").expect("user");
        matches!(password::verify(&Secret::new(candidate), Some(hash)).await, Verification::Valid { .. })
    }

    async fn signed_in_still(app: &axum::Router, b: &Browser) -> bool {
        let (response, _) = send(app, get("/", Some(b))).await;
        response.status() == 200
    }

    // --- times, rules and helpers ---------------------------------------------------------

    /// These assertions read "1 day ago", "45 days ago", "3 months ago", "in 3 days" and "in
    /// less than a minute" before issue 10; every page now words times the one way of
    /// `crate::clock`, so the account pages read like the incident pages.
    #[test]
    fn account_times_show_the_team_zone_and_the_portals_one_relative_wording() {
        let at = datetime!(2026-11-29 14:05:59 UTC);
        let m = Moment::new(at, &TimeZone::UTC, at);
        assert_eq!(m.absolute, "2026-11-29 14:05 UTC");
        assert_eq!(m.iso, "2026-11-29T14:05:59Z");
        let berlin = TimeZone::get("Europe/Berlin").expect("zone");
        assert_eq!(Moment::new(at, &berlin, at).absolute, "2026-11-29 15:05 CET");

        let now = datetime!(2026-11-29 14:05 UTC);
        let ago = |d: time::Duration| Moment::new(now - d, &TimeZone::UTC, now).relative;
        assert_eq!(ago(time::Duration::seconds(20)), "just now");
        assert_eq!(ago(time::Duration::minutes(4)), "4 min ago");
        assert_eq!(ago(time::Duration::hours(3)), "3 h ago");
        assert_eq!(ago(time::Duration::days(1)), "1 d ago");
        assert_eq!(ago(time::Duration::days(45)), "45 d ago");
        assert_eq!(ago(time::Duration::days(90)), "90 d ago");
        assert_eq!(ago(time::Duration::days(800)), "800 d ago");
        assert_eq!(ago(-time::Duration::days(3)), "in 3 d");
        assert_eq!(ago(-time::Duration::seconds(5)), "just now");
    }

    #[test]
    fn token_names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(validate_token_name("  alertmanager "), Ok("alertmanager".into()));
        assert_eq!(validate_token_name("<b>ci</b> '; drop table x"), Ok("<b>ci</b> '; drop table x".into()));
        assert!(validate_token_name("   ").is_err());
        assert!(validate_token_name(&"x".repeat(61)).is_err());
        assert_eq!(validate_token_name(&"é".repeat(60)), Ok("é".repeat(60)));
        assert!(validate_token_name("tab\there").is_err());
    }

    #[test]
    fn a_token_role_may_not_exceed_the_owners() {
        assert_eq!(validate_token_role("viewer", Role::Commander), Ok(Role::Viewer));
        assert_eq!(validate_token_role("commander", Role::Commander), Ok(Role::Commander));
        let err = validate_token_role("admin", Role::Viewer).expect_err("too high");
        assert!(err.contains("viewer"), "{err}");
        assert!(validate_token_role("root", Role::Admin).is_err());
        assert!(validate_token_role("", Role::Admin).is_err());
    }

    #[test]
    fn expiry_is_blank_or_one_to_365_days() {
        assert_eq!(validate_expiry_days(""), Ok(None));
        assert_eq!(validate_expiry_days(" 30 "), Ok(Some(30)));
        assert_eq!(validate_expiry_days("365"), Ok(Some(365)));
        for bad in ["0", "366", "-1", "1.5", "soon", "99999999999"] {
            assert!(validate_expiry_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_draft_reports_every_bad_field_at_once() {
        let errors = token_draft("", "admin", "0", Role::Viewer).expect_err("three errors");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "role", "expires_days"]);
        assert_eq!(
            token_draft("ci", "viewer", "", Role::Viewer),
            Ok(TokenDraft { name: "ci".into(), role: Role::Viewer, expires_days: None })
        );
    }

    #[test]
    fn the_displayed_prefix_is_the_first_eight_characters_after_tlp() {
        assert_eq!(token_prefix("tlp_abcdefghijk"), "abcdefgh");
        let secret = token::new_api_token();
        assert_eq!(token_prefix(&secret), secret[4..12]);
    }

    #[test]
    fn user_agents_are_shortened_to_browser_and_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let edge = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
        assert_eq!(short_user_agent(Some(firefox)), "Firefox on Linux");
        assert_eq!(short_user_agent(Some(chrome)), "Chrome on Windows");
        assert_eq!(short_user_agent(Some(safari)), "Safari on iOS");
        assert_eq!(short_user_agent(Some(edge)), "Edge on macOS");
        assert_eq!(short_user_agent(Some("curl/8.5.0")), "curl/8.5.0");
        assert_eq!(short_user_agent(None), "Unknown client");
        assert_eq!(short_user_agent(Some(&"x".repeat(100))), format!("{}…", "x".repeat(40)));
    }

    #[test]
    fn notices_are_fixed_texts_and_unknown_keys_show_nothing() {
        assert!(notice_text(Some("password-changed")).is_some());
        assert_eq!(notice_text(Some("<script>alert(1)</script>")), None);
        assert_eq!(notice_text(None), None);
    }

    // --- profile --------------------------------------------------------------------------

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

    // --- password -------------------------------------------------------------------------

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn changing_the_password_keeps_this_session_ends_the_others_and_is_audited(pool: PgPool) {
        let app = testing::app(&pool);
        let b = testing::signed_in(&pool, Role::Viewer).await;
        let other = testing::session_for(&pool, b.user.clone()).await;
        let stranger = testing::signed_in(&pool, Role::Viewer).await;
        let (response, html) = send(
            &app,
            post_form(
                "/account/password",
                Some(&b),
                &[
                    ("current_password", testing::PASSWORD),
                    ("new_password", NEW_PASSWORD),
                    ("confirm_password", NEW_PASSWORD),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 303, "{html}");
        assert_eq!(response.headers()["location"], "/account?notice=password-changed");

        assert!(password_is(&pool, &b.user.email, NEW_PASSWORD).await);
        assert!(signed_in_still(&app, &b).await, "this session is kept");
        assert!(!signed_in_still(&app, &other).await, "the other session is ended");
        assert!(signed_in_still(&app, &stranger).await, "other users are not touched");

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
        let (response, html) = send(
            &app,
            post_form(
                "/account/password",
                Some(&b),
                &[
                    ("current_password", "not my password at all"),
                    ("new_password", NEW_PASSWORD),
                    ("confirm_password", NEW_PASSWORD),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(html.contains("id=\"current_password-error\">This is not your current password."), "{html}");
        assert!(html.contains("aria-describedby=\"current_password-error\""), "{html}");
        assert!(password_is(&pool, &b.user.email, testing::PASSWORD).await);
        assert!(signed_in_still(&app, &other).await);
        assert!(audit_actions(&pool, "user.password_change").await.is_empty());
        assert_eq!(audit_actions(&pool, "user.password_change_failed").await.len(), 1);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_weak_or_mistyped_new_password_gets_field_messages(pool: PgPool) {
        let app = testing::app(&pool);
        let b = testing::signed_in(&pool, Role::Viewer).await;
        let (response, html) = send(
            &app,
            post_form(
                "/account/password",
                Some(&b),
                &[
                    ("current_password", testing::PASSWORD),
                    ("new_password", "password1234"),
                    ("confirm_password", "password1234"),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(
            html.contains("id=\"new_password-error\">This is one of the most common passwords"),
            "{html}"
        );
        assert!(html.contains("aria-describedby=\"new_password-hint new_password-error\""), "{html}");

        let (response, html) = send(
            &app,
            post_form(
                "/account/password",
                Some(&b),
                &[
                    ("current_password", testing::PASSWORD),
                    ("new_password", "short"),
                    ("confirm_password", "shorter"),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(html.contains("Use at least 12 characters"), "{html}");
        assert!(html.contains("id=\"confirm_password-error\""), "{html}");
        assert!(password_is(&pool, &b.user.email, testing::PASSWORD).await);
        assert!(audit_actions(&pool, "user.password_change").await.is_empty());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_user_who_must_change_their_password_is_sent_to_the_form_then_reaches_the_overview(
        pool: PgPool,
    ) {
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

        let (response, _) = send(
            &app,
            post_form(
                "/account/password",
                Some(&b),
                &[
                    ("current_password", testing::PASSWORD),
                    ("new_password", NEW_PASSWORD),
                    ("confirm_password", NEW_PASSWORD),
                ],
            ),
        )
        .await;
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

    // --- API tokens -----------------------------------------------------------------------

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_new_token_is_shown_once_stored_hashed_and_audited_without_the_secret(pool: PgPool) {
        let app = testing::app(&pool);
        let b = testing::signed_in(&pool, Role::Responder).await;
        let (response, html) = send(
            &app,
            post_form(
                "/account/tokens",
                Some(&b),
                &[("name", "alertmanager"), ("role", "responder"), ("expires_days", "30")],
            ),
        )
        .await;
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
        let id: Uuid = sqlx::query_scalar("select id from api_tokens where user_id = $1")
            .bind(b.user.id)
            .fetch_one(&pool)
            .await
            .expect("token");

        let (response, _) =
            send(&app, post_form(&format!("/account/tokens/{id}/revoke"), Some(&b), &[])).await;
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
        let (response, _) =
            send(&app, post_form(&format!("/account/tokens/{id}/revoke"), Some(&b), &[])).await;
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
        let (response, html) = send(
            &app,
            post_form(
                "/account/tokens",
                Some(&b),
                &[("name", "sneaky"), ("role", "admin"), ("expires_days", "")],
            ),
        )
        .await;
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
        let (response, html) = send(
            &app,
            post_form(
                "/account/tokens",
                Some(&b),
                &[("name", &long), ("role", "viewer"), ("expires_days", "400")],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(html.contains("id=\"name-error\">Use at most 60 characters."), "{html}");
        assert!(html.contains("id=\"expires_days-error\""), "{html}");
        assert!(html.contains("aria-describedby=\"name-hint name-error\""), "{html}");

        create_via_page(&app, &b, "ci", "viewer", "").await;
        let (response, html) = send(
            &app,
            post_form(
                "/account/tokens",
                Some(&b),
                &[("name", "CI"), ("role", "viewer"), ("expires_days", "")],
            ),
        )
        .await;
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
        let (response, html) = send(
            &app,
            post_form(
                "/account/tokens",
                Some(&b),
                &[("name", name), ("role", "viewer"), ("expires_days", "")],
            ),
        )
        .await;
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

    // --- sessions -------------------------------------------------------------------------

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
        assert!(!signed_in_still(&app, &other).await);
        assert!(signed_in_still(&app, &b).await);
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
        let (response, _) =
            send(&app, post_form(&format!("/account/sessions/{id}/end"), Some(&b), &[])).await;
        assert_eq!(response.status(), 303);
        assert!(response.headers()["location"].to_str().expect("ascii").starts_with("/login"));
        let cleared = response.headers()["set-cookie"].to_str().expect("ascii");
        assert!(cleared.starts_with("twisterlab_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
        assert!(!signed_in_still(&app, &b).await);
        assert_eq!(audit_actions(&pool, "session.end").await.len(), 1);
    }

    // --- other users' objects and CSRF ----------------------------------------------------

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn another_users_token_or_session_is_not_found_and_stays_untouched(pool: PgPool) {
        let app = testing::app(&pool);
        let owner = testing::signed_in(&pool, Role::Admin).await;
        let intruder = testing::signed_in(&pool, Role::Admin).await;
        let secret = create_via_page(&app, &owner, "ci", "viewer", "").await;
        let token_id: Uuid = sqlx::query_scalar("select id from api_tokens where user_id = $1")
            .bind(owner.user.id)
            .fetch_one(&pool)
            .await
            .expect("token");
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
        assert!(signed_in_still(&app, &owner).await, "the session still works");
        assert!(audit_actions(&pool, "api_token.revoke").await.is_empty());
        assert!(audit_actions(&pool, "session.end").await.is_empty());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn posts_without_the_csrf_token_are_refused_and_change_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let b = testing::signed_in(&pool, Role::Viewer).await;
        let other = testing::session_for(&pool, b.user.clone()).await;
        let secret = create_via_page(&app, &b, "ci", "viewer", "").await;
        let token_id: Uuid = sqlx::query_scalar("select id from api_tokens where user_id = $1")
            .bind(b.user.id)
            .fetch_one(&pool)
            .await
            .expect("token");
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
        assert!(signed_in_still(&app, &other).await);
        for action in ["user.password_change", "api_token.revoke", "session.end"] {
            assert!(audit_actions(&pool, action).await.is_empty(), "{action}");
        }
        assert_eq!(audit_actions(&pool, "api_token.create").await.len(), 1);
    }
}
