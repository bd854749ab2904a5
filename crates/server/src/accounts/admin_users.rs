//! Admin pages for users: list, create, edit role, deactivate, reset password, end sessions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::{CreateUserError, UserDraft, validate_display_name, validate_email};
use crate::auth::{Access, CurrentUser, Routes, password, token, urlencode};
use crate::config::Secret;
use crate::db::audit::{self, Entry};
use crate::db::sessions;
use crate::db::users::{self, User};
use crate::state::AppState;
use crate::validation::FieldError;
use crate::web::error::AppError;
use crate::web::form::see_other;
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

pub fn routes() -> Routes {
    let admin = Access::Role(Role::Admin);
    Routes::new()
        .get("/admin/users", admin, list_users)
        .post("/admin/users", admin, create_user)
        .get("/admin/users/new", admin, new_user)
        .get("/admin/users/{id}", admin, show_user)
        .post("/admin/users/{id}", admin, update_user)
        .post("/admin/users/{id}/password", admin, reset_password)
        .post("/admin/users/{id}/sessions/end", admin, end_sessions)
}

// ---------------------------------------------------------------------------------------------
// Views shared by the pages.

/// One choice of the role select.
pub struct RoleOption {
    pub value: &'static str,
    pub selected: bool,
}

fn role_options(selected: &str) -> Vec<RoleOption> {
    Role::ALL
        .iter()
        .map(|r| RoleOption { value: r.as_str(), selected: r.as_str().eq_ignore_ascii_case(selected.trim()) })
        .collect()
}

/// A user as the admin pages show them.
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
    pub active: bool,
    pub must_change_password: bool,
    pub created: Moment,
    pub last_sign_in: Option<Moment>,
}

impl UserView {
    fn of(user: &User, tz: &jiff::tz::TimeZone, now: Timestamp) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            role: user.role.as_str(),
            active: user.active,
            must_change_password: user.must_change_password,
            created: Moment::new(user.created_at, tz, now),
            last_sign_in: user.last_sign_in_at.map(|at| Moment::new(at, tz, now)),
        }
    }
}

/// A live session in the user's page (no token, no CSRF secret).
pub struct SessionView {
    pub created: Moment,
    pub last_seen: Moment,
    pub expires: Moment,
    pub client_addr: String,
    pub user_agent: String,
}

fn first_error<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

fn parse_id(raw: &str) -> Result<Uuid, AppError> {
    raw.parse::<Uuid>().map_err(|_| AppError::NotFoundThing { what: "This user".into() })
}

fn parse_role(raw: &str) -> Result<Role, FieldError> {
    raw.parse::<Role>().map_err(|_| FieldError::new("role", "Choose one of the listed roles."))
}

/// The page shows a password once: it must not be stored by the browser or a proxy.
fn no_store(status: StatusCode, page: &impl Template) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], render_page(page)).into_response()
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users

#[derive(Template)]
#[template(path = "admin/users/list.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub users: Vec<UserView>,
    pub time_zone: String,
}

/// `GET /admin/users`: every user, active first.
async fn list_users(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let users = users::list(&app.pool).await?.iter().map(|u| UserView::of(u, tz, now)).collect();
    Ok(render_page(&UsersPage { layout, users, time_zone: app.config.timezone_name.clone() }))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users/new, POST /admin/users

#[derive(Debug, Default, Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    /// Blank: the portal generates one and shows it once.
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin/users/new.html")]
pub struct NewUserPage {
    pub layout: Layout,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<RoleOption>,
    pub errors: Vec<FieldError>,
}

impl NewUserPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

/// `GET /admin/users/new`.
async fn new_user(layout: Layout) -> Response {
    render_page(&NewUserPage {
        layout,
        email: String::new(),
        display_name: String::new(),
        roles: role_options(Role::Viewer.as_str()),
        errors: vec![],
    })
}

#[derive(Template)]
#[template(path = "admin/users/created.html")]
pub struct UserCreatedPage {
    pub layout: Layout,
    pub user: UserView,
    /// The generated temporary password, shown on this page only.
    pub password: Option<String>,
}

/// `POST /admin/users`: creates a user who must choose a new password at first sign-in.
async fn create_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    let generated = form.password.is_empty();
    let password = Secret::new(if generated { token::random_secret() } else { form.password.clone() });
    let retry = |errors: Vec<FieldError>| {
        let page = NewUserPage {
            layout: layout.clone(),
            email: form.email.clone(),
            display_name: form.display_name.clone(),
            roles: role_options(&form.role),
            errors,
        };
        (StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()
    };

    let role = match parse_role(&form.role) {
        Ok(role) => role,
        Err(role_error) => {
            // Report every field at once without inserting anything.
            let mut errors = vec![];
            if let Err(m) = validate_email(&form.email) {
                errors.push(FieldError::new("email", m));
            }
            if !form.display_name.trim().is_empty()
                && let Err(m) = validate_display_name(&form.display_name)
            {
                errors.push(FieldError::new("display_name", m));
            }
            errors.push(role_error);
            if let Err(m) = password::check_new_password(password.expose(), &form.email) {
                errors.push(FieldError::new("password", m));
            }
            return Ok(retry(errors));
        }
    };

    let draft = UserDraft {
        email: &form.email,
        display_name: &form.display_name,
        role,
        password: &password,
        must_change_password: true,
    };
    let mut tx = app.pool.begin().await?;
    let user = match super::create_user(&mut tx, &me.actor, &draft).await {
        Ok(user) => user,
        Err(CreateUserError::Invalid(errors)) => return Ok(retry(errors)),
        Err(CreateUserError::Database(e)) => return Err(e.into()),
        Err(CreateUserError::Other(e)) => return Err(AppError::Internal(e)),
    };
    tx.commit().await?;
    tracing::info!(user.id = %user.id, user.role = %user.role, by = %me.user.id, "admin created a user");

    let now = Timestamp::now();
    let page = UserCreatedPage {
        layout,
        user: UserView::of(&user, &app.config.timezone, now),
        password: generated.then(|| password.expose().to_owned()),
    };
    Ok(no_store(StatusCode::CREATED, &page))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users/{id}

#[derive(Template)]
#[template(path = "admin/users/show.html")]
pub struct UserPage {
    pub layout: Layout,
    pub user: UserView,
    /// Values of the edit form (as stored, or as typed when they were refused).
    pub display_name: String,
    pub roles: Vec<RoleOption>,
    pub active: bool,
    pub errors: Vec<FieldError>,
    pub notice: Option<String>,
    pub sessions: Vec<SessionView>,
    /// Link to this user's entries in the audit log.
    pub audit_href: String,
    /// Whether the page shows the signed-in admin themself.
    pub is_me: bool,
    pub time_zone: String,
}

impl UserPage {
    fn error(&self, field: &str) -> Option<&str> {
        first_error(&self.errors, field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
    ended: Option<String>,
}

/// What a redirect back to the user page announces; only these fixed messages, never text from
/// the query string.
fn notice_text(q: &ShowQuery) -> Option<String> {
    match q.notice.as_deref()? {
        "saved" => Some("Saved.".into()),
        "unchanged" => Some("Nothing to save: the form had no changes.".into()),
        "sessions-ended" => {
            let n = q.ended.as_deref().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            Some(match n {
                0 => "There were no sessions to end.".into(),
                1 => "Ended 1 session.".into(),
                n => format!("Ended {n} sessions."),
            })
        }
        _ => None,
    }
}

/// Values of the edit form when it is re-shown.
struct EditValues {
    display_name: String,
    role: String,
    active: bool,
}

/// Builds the user page with the sessions of `user` read from the pool.
async fn user_page(
    app: &AppState,
    me: &CurrentUser,
    layout: Layout,
    user: &User,
    values: Option<EditValues>,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Result<UserPage, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    // Idle sessions no longer authenticate; the clean-up worker removes them later.
    let idle = i64::try_from(app.config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let sessions = sessions::list_live_for_user(&app.pool, user.id, idle)
        .await?
        .iter()
        .map(|s| SessionView {
            created: Moment::new(s.created_at, tz, now),
            last_seen: Moment::new(s.last_seen_at, tz, now),
            expires: Moment::new(s.expires_at, tz, now),
            client_addr: s.client_addr.clone().unwrap_or_else(|| "unknown".into()),
            user_agent: s.user_agent.clone().unwrap_or_default(),
        })
        .collect();
    let values = values.unwrap_or_else(|| EditValues {
        display_name: user.display_name.clone(),
        role: user.role.as_str().to_owned(),
        active: user.active,
    });
    Ok(UserPage {
        layout,
        user: UserView::of(user, tz, now),
        display_name: values.display_name,
        roles: role_options(&values.role),
        active: values.active,
        errors,
        notice,
        sessions,
        audit_href: format!("/admin/audit?target={}", urlencode(&format!("user:{}", user.email))),
        is_me: me.user.id == user.id,
        time_zone: app.config.timezone_name.clone(),
    })
}

/// `GET /admin/users/{id}`: details, edit form, password reset and live sessions.
async fn show_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let Some(user) = users::find(&app.pool, id).await? else {
        return Err(AppError::NotFoundThing { what: "This user".into() });
    };
    let page = user_page(&app, &me, layout, &user, None, vec![], notice_text(&q)).await?;
    Ok(render_page(&page))
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}

#[derive(Debug, Default, Deserialize)]
pub struct EditUserForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    /// "active" or "deactivated".
    #[serde(default)]
    state: String,
}

/// `POST /admin/users/{id}`: name, role and active flag. Deactivating ends the user's sessions;
/// the last active admin can be neither demoted nor deactivated.
async fn update_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<EditUserForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let mut errors = vec![];
    let name = validate_display_name(&form.display_name)
        .map_err(|m| errors.push(FieldError::new("display_name", m)))
        .ok();
    let role = parse_role(&form.role).map_err(|e| errors.push(e)).ok();
    let active = match form.state.as_str() {
        "active" => Some(true),
        "deactivated" => Some(false),
        _ => {
            errors.push(FieldError::new("state", "Choose active or deactivated."));
            None
        }
    };
    let typed = EditValues {
        display_name: form.display_name.clone(),
        role: form.role.clone(),
        active: active.unwrap_or(true),
    };

    let mut tx = app.pool.begin().await?;
    // Locked until commit: the checks below and the update see the same row.
    let Some(before) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AppError::NotFoundThing { what: "This user".into() });
    };
    let (Some(name), Some(role), Some(active)) = (name, role, active) else {
        drop(tx);
        let page = user_page(&app, &me, layout, &before, Some(typed), errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    };
    if name == before.display_name && role == before.role && active == before.active {
        return Ok(see_other(&format!("/admin/users/{id}?notice=unchanged")));
    }

    let removes_an_admin = before.role == Role::Admin && before.active && !(role == Role::Admin && active);
    if removes_an_admin {
        users::lock_admin_changes(&mut *tx).await?;
        if users::count_other_active_admins(&mut *tx, id).await? == 0 {
            drop(tx);
            let (field, message) = if role != Role::Admin {
                (
                    "role",
                    "This is the last active admin: make another user an admin before changing this role.",
                )
            } else {
                (
                    "state",
                    "This is the last active admin: make another user an admin before deactivating this one.",
                )
            };
            let errors = vec![FieldError::new(field, message)];
            let page = user_page(&app, &me, layout, &before, Some(typed), errors, None).await?;
            return Ok((StatusCode::CONFLICT, render_page(&page)).into_response());
        }
    }

    users::update_profile(&mut *tx, id, &name, role, active).await?;
    let ended = if before.active && !active {
        Some(sessions::delete_all_for_user(&mut *tx, id).await?)
    } else {
        None
    };
    let mut after = json!({"display_name": name, "role": role.as_str(), "active": active});
    if let (Some(n), Some(obj)) = (ended, after.as_object_mut()) {
        obj.insert("sessions_ended".into(), json!(n));
    }
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "user.update",
            target: format!("user:{}", before.email),
            before: Some(json!({
                "display_name": before.display_name,
                "role": before.role.as_str(),
                "active": before.active,
            })),
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %id, user.role = %role, user.active = active, by = %me.user.id, "admin updated a user");

    if id == me.user.id && !(role == Role::Admin && active) {
        // They just gave up the right to see this page.
        return Ok(see_other("/"));
    }
    Ok(see_other(&format!("/admin/users/{id}?notice=saved")))
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}/password

#[derive(Debug, Default, Deserialize)]
pub struct ResetPasswordForm {
    /// Blank: the portal generates one and shows it once.
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin/users/password_reset.html")]
pub struct PasswordResetPage {
    pub layout: Layout,
    pub user: UserView,
    /// The generated temporary password, shown on this page only.
    pub password: Option<String>,
    pub sessions_ended: u64,
}

/// `POST /admin/users/{id}/password`: a temporary password that must be changed at the next
/// sign-in; the user's sessions end.
async fn reset_password(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<ResetPasswordForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let Some(target) = users::find(&app.pool, id).await? else {
        return Err(AppError::NotFoundThing { what: "This user".into() });
    };
    let generated = form.password.is_empty();
    if !generated && let Err(m) = password::check_new_password(&form.password, &target.email) {
        let errors = vec![FieldError::new("password", m)];
        let page = user_page(&app, &me, layout, &target, None, errors, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
    }
    let secret = Secret::new(if generated { token::random_secret() } else { form.password });
    // Hashed before the transaction, so the row lock is not held for the argon2 time.
    let hash = password::hash(&secret).await?;

    let mut tx = app.pool.begin().await?;
    let Some(user) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AppError::NotFoundThing { what: "This user".into() });
    };
    users::set_password(&mut *tx, id, &hash, true).await?;
    let ended = sessions::delete_all_for_user(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "user.password_reset",
            target: format!("user:{}", user.email),
            before: Some(json!({"must_change_password": user.must_change_password})),
            after: Some(
                json!({"must_change_password": true, "generated": generated, "sessions_ended": ended}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %id, sessions_ended = ended, by = %me.user.id, "admin reset a password");

    let user = User { must_change_password: true, ..user };
    let page = PasswordResetPage {
        layout,
        user: UserView::of(&user, &app.config.timezone, Timestamp::now()),
        password: generated.then(|| secret.expose().to_owned()),
        sessions_ended: ended,
    };
    Ok(no_store(StatusCode::OK, &page))
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}/sessions/end

/// `POST /admin/users/{id}/sessions/end`: signs the user out everywhere.
async fn end_sessions(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let mut tx = app.pool.begin().await?;
    let Some(user) = users::find_for_update(&mut *tx, id).await? else {
        return Err(AppError::NotFoundThing { what: "This user".into() });
    };
    let ended = sessions::delete_all_for_user(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        &me.actor,
        Entry {
            action: "user.sessions_end",
            target: format!("user:{}", user.email),
            before: None,
            after: Some(json!({"sessions_ended": ended})),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user.id = %id, sessions_ended = ended, by = %me.user.id, "admin ended a user's sessions");
    Ok(see_other(&format!("/admin/users/{id}?notice=sessions-ended&ended={ended}")))
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;
    use twisterlab_domain::role::Role;

    use super::*;
    use crate::auth::password::Verification;
    use crate::testing::{self, Browser, audit_actions, get, post_form, send};

    async fn count(pool: &PgPool, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.expect("count")
    }

    async fn sessions_of(pool: &PgPool, id: Uuid) -> i64 {
        sqlx::query_scalar("select count(*) from sessions where user_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .expect("count sessions")
    }

    async fn stored(pool: &PgPool, id: Uuid) -> User {
        users::find(pool, id).await.expect("find").expect("the user exists")
    }

    /// The temporary password a result page shows once.
    fn shown_password(html: &str) -> Option<String> {
        let start = html.find("<code id=\"temporary-password\">")? + "<code id=\"temporary-password\">".len();
        let end = html[start..].find("</code>")?;
        Some(html[start..start + end].to_owned())
    }

    /// Whether the browser's session still works: the overview answers 200, not a sign-in redirect.
    async fn still_signed_in(app: &axum::Router, browser: &Browser) -> bool {
        let (response, _) = send(app, get("/", Some(browser))).await;
        if response.status() == 303 {
            assert!(response.headers()["location"].to_str().expect("ascii").starts_with("/login"));
        }
        response.status() == 200
    }

    /// Before issue 10 these read "3 days ago", "24 h ago" and "13 months ago": the admin
    /// pages had their own rounding. They now use the portal's one wording (`crate::clock`).
    #[test]
    fn times_show_the_team_zone_and_how_long_ago() {
        let tz = jiff::tz::TimeZone::get("Europe/Berlin").expect("zone");
        let now = time::macros::datetime!(2025-07-01 12:00 UTC);
        let m = Moment::new(time::macros::datetime!(2025-07-01 11:56 UTC), &tz, now);
        assert_eq!(m.absolute, "2025-07-01 13:56 CEST");
        assert_eq!(m.relative, "4 min ago");
        assert_eq!(m.iso, "2025-07-01T11:56:00Z");
        let winter = Moment::new(time::macros::datetime!(2025-01-15 08:00 UTC), &tz, now);
        assert_eq!(winter.absolute, "2025-01-15 09:00 CET");
        let relative = |age: i64| Moment::new(now - time::Duration::seconds(age), &tz, now).relative;
        assert_eq!(relative(10), "just now");
        assert_eq!(relative(3 * 3600), "3 h ago");
        assert_eq!(relative(86_400 * 3), "3 d ago");
        assert_eq!(relative(86_400), "1 d ago");
        assert_eq!(relative(-600), "in 10 min");
        assert_eq!(relative(400 * 86_400), "400 d ago");
        assert_eq!(relative(800 * 86_400), "800 d ago");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn non_admins_are_refused_every_user_page_and_change(pool: PgPool) {
        let app = testing::app(&pool);
        let target = testing::user(&pool, Role::Viewer).await;
        let id = target.id.to_string();
        for role in [Role::Viewer, Role::Responder, Role::Commander, Role::Manager] {
            let b = testing::signed_in(&pool, role).await;
            for path in ["/admin/users".to_owned(), "/admin/users/new".into(), format!("/admin/users/{id}")] {
                let (response, _) = send(&app, get(&path, Some(&b))).await;
                assert_eq!(response.status(), 403, "{role} GET {path}");
            }
            let posts: [(String, Vec<(&str, &str)>); 4] = [
                (
                    "/admin/users".into(),
                    vec![("email", "sneaky@twisterlab.test"), ("role", "admin"), ("password", "")],
                ),
                (
                    format!("/admin/users/{id}"),
                    vec![("display_name", "x"), ("role", "admin"), ("state", "active")],
                ),
                (format!("/admin/users/{id}/password"), vec![("password", "")]),
                (format!("/admin/users/{id}/sessions/end"), vec![]),
            ];
            for (path, fields) in &posts {
                let (response, _) = send(&app, post_form(path, Some(&b), fields)).await;
                assert_eq!(response.status(), 403, "{role} POST {path}");
            }
        }
        assert_eq!(stored(&pool, target.id).await.role, Role::Viewer);
        assert_eq!(
            count(&pool, "select count(*) from users where email = 'sneaky@twisterlab.test'").await,
            0
        );
        assert_eq!(count(&pool, "select count(*) from audit_log where action like 'user.%'").await, 0);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_user_list_shows_each_user_with_role_state_and_times(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let gone = testing::user(&pool, Role::Responder).await;
        users::update_profile(&pool, gone.id, "Gone Person", Role::Responder, false).await.expect("update");
        let (response, html) = send(&app, get("/admin/users", Some(&admin))).await;
        assert_eq!(response.status(), 200);
        assert!(html.contains(&format!("<a href=\"/admin/users/{}\">Gone Person</a>", gone.id)), "{html}");
        assert!(html.contains(&gone.email) && html.contains(&admin.user.email), "{html}");
        assert!(html.contains(">deactivated</span>") && html.contains(">active</span>"), "{html}");
        assert!(
            html.contains(">never</span>") && html.contains("UTC") && html.contains("just now"),
            "{html}"
        );
        assert!(html.contains("href=\"/admin/users/new\""), "{html}");

        let (response, html) = send(&app, get("/admin/users/new", Some(&admin))).await;
        assert_eq!(response.status(), 200);
        for field in ["email", "display_name", "role", "password"] {
            assert!(html.contains(&format!("<label for=\"{field}\"")), "{field}: {html}");
        }
        assert!(html.contains(&format!("value=\"{}\"", admin.csrf)), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn an_admin_creates_a_user_who_must_change_the_generated_password(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let (response, html) = send(
            &app,
            post_form(
                "/admin/users",
                Some(&admin),
                &[
                    ("email", " New.Person@Example.com "),
                    ("display_name", "New Person"),
                    ("role", "responder"),
                    ("password", ""),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 201, "{html}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let shown = shown_password(&html).expect("the generated password is shown");
        assert!(shown.len() >= 40, "{shown}");

        let (user, hash) =
            users::find_with_hash(&pool, "new.person@example.com").await.expect("find").expect("created");
        assert_eq!(user.email, "New.Person@Example.com");
        assert_eq!(
            (user.display_name.as_str(), user.role, user.active),
            ("New Person", Role::Responder, true)
        );
        assert!(user.must_change_password, "the first sign-in must choose a new password");
        assert!(matches!(
            password::verify(&Secret::new(shown.clone()), Some(hash)).await,
            Verification::Valid { .. }
        ));

        let rows = audit_actions(&pool, "user.create").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor_label, admin.user.email);
        assert_eq!(rows[0].target, "user:New.Person@Example.com");
        assert!(!serde_json::to_string(&rows[0].after).expect("json").contains(&shown));
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_typed_temporary_password_is_used_and_not_shown_again(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let typed = "violet kettle under ninety lamps";
        let (response, html) = send(
            &app,
            post_form(
                "/admin/users",
                Some(&admin),
                &[
                    ("email", "typed@example.com"),
                    ("display_name", ""),
                    ("role", "viewer"),
                    ("password", typed),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 201, "{html}");
        assert!(shown_password(&html).is_none() && !html.contains(typed), "{html}");
        let (user, hash) =
            users::find_with_hash(&pool, "typed@example.com").await.expect("find").expect("created");
        assert_eq!(user.display_name, "typed", "defaults to the e-mail's local part");
        assert!(user.must_change_password);
        assert!(matches!(
            password::verify(&Secret::new(typed), Some(hash)).await,
            Verification::Valid { .. }
        ));
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_duplicate_email_in_any_case_is_a_field_error_and_creates_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let existing = testing::user(&pool, Role::Viewer).await;
        let users_before = count(&pool, "select count(*) from users").await;
        let (response, html) = send(
            &app,
            post_form(
                "/admin/users",
                Some(&admin),
                &[
                    ("email", &existing.email.to_uppercase()),
                    ("display_name", "Twin"),
                    ("role", "viewer"),
                    ("password", ""),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(html.contains("id=\"email-error\"") && html.contains("already exists"), "{html}");
        assert!(html.contains("aria-describedby=\"email-error\""), "{html}");
        assert!(
            html.contains(&format!("value=\"{}\"", existing.email.to_uppercase())),
            "kept as typed: {html}"
        );
        assert_eq!(count(&pool, "select count(*) from users").await, users_before);
        assert!(audit_actions(&pool, "user.create").await.is_empty());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn invalid_fields_are_reported_each_beside_its_field_and_create_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let users_before = count(&pool, "select count(*) from users").await;
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let long_name = "n".repeat(101);
        let long_email = format!("{}@example.com", "e".repeat(250));
        let cases: [(Fields, &[&str]); 6] = [
            (&[("email", "<script>alert(1)</script>"), ("role", "viewer"), ("password", "")], &["email"]),
            (
                &[("email", "weak@example.com"), ("role", "viewer"), ("password", "password123")],
                &["password"],
            ),
            (&[("email", "short@example.com"), ("role", "viewer"), ("password", "tiny")], &["password"]),
            (
                &[
                    ("email", "no-at-sign"),
                    ("display_name", "Role <b>"),
                    ("role", "superuser"),
                    ("password", "x"),
                ],
                &["email", "role", "password"],
            ),
            (
                &[("email", "long@example.com"), ("display_name", &long_name), ("role", "viewer")],
                &["display_name"],
            ),
            (
                &[("email", &long_email), ("display_name", ""), ("role", "viewer"), ("password", "")],
                &["email"],
            ),
        ];
        for (fields, bad) in cases {
            let (response, html) = send(&app, post_form("/admin/users", Some(&admin), fields)).await;
            assert_eq!(response.status(), 422, "{fields:?}");
            for field in bad {
                assert!(
                    html.contains(&format!("<p class=\"field-error\" id=\"{field}-error\">")),
                    "{field}: {html}"
                );
            }
            assert!(
                !html.contains("<script>alert(1)</script>") && !html.contains("Role <b>"),
                "escaped: {html}"
            );
        }
        let (_, html) = send(
            &app,
            post_form(
                "/admin/users",
                Some(&admin),
                &[("email", "<script>alert(1)</script>"), ("role", "viewer")],
            ),
        )
        .await;
        assert!(
            html.contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62;\""),
            "typed, escaped: {html}"
        );
        assert_eq!(count(&pool, "select count(*) from users").await, users_before);
        assert!(audit_actions(&pool, "user.create").await.is_empty());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn names_with_script_tags_and_sql_are_stored_as_typed_and_shown_escaped(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let name = "<script>alert('x')</script> O'Brien\"; drop table users; --";
        let (response, html) = send(
            &app,
            post_form(
                "/admin/users",
                Some(&admin),
                &[
                    ("email", "obrien@example.com"),
                    ("display_name", name),
                    ("role", "viewer"),
                    ("password", ""),
                ],
            ),
        )
        .await;
        assert_eq!(response.status(), 201, "{html}");
        let user = users::find_by_email(&pool, "obrien@example.com").await.expect("find").expect("created");
        assert_eq!(user.display_name, name);
        for path in ["/admin/users".to_owned(), format!("/admin/users/{}", user.id)] {
            let (response, html) = send(&app, get(&path, Some(&admin))).await;
            assert_eq!(response.status(), 200);
            assert!(!html.contains("<script>alert"), "{path}: {html}");
            assert!(html.contains("alert(") && html.contains("drop table users"), "{path}: {html}");
        }
        // Renaming through the edit form stores it as typed as well.
        let renamed = "Robert'); DROP TABLE students;-- <img src=x onerror=alert(1)>";
        let (response, _) = send(
            &app,
            post_form(
                &format!("/admin/users/{}", user.id),
                Some(&admin),
                &[("display_name", renamed), ("role", "viewer"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.status(), 303);
        assert_eq!(stored(&pool, user.id).await.display_name, renamed);
        let (_, html) = send(&app, get(&format!("/admin/users/{}", user.id), Some(&admin))).await;
        assert!(!html.contains("<img src=x") && html.contains("DROP TABLE students"), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn unknown_or_malformed_user_ids_are_not_found(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let unknown = Uuid::now_v7();
        for path in [
            "/admin/users/not-a-uuid".to_owned(),
            format!("/admin/users/{unknown}"),
            "/admin/users/1' or '1'='1".into(),
        ] {
            let path = path.replace(' ', "%20").replace('\'', "%27");
            let (response, _) = send(&app, get(&path, Some(&admin))).await;
            assert_eq!(response.status(), 404, "GET {path}");
        }
        for path in [
            format!("/admin/users/{unknown}"),
            format!("/admin/users/{unknown}/password"),
            format!("/admin/users/{unknown}/sessions/end"),
            "/admin/users/nope/sessions/end".into(),
        ] {
            let fields = [("display_name", "x"), ("role", "viewer"), ("state", "active"), ("password", "")];
            let (response, _) = send(&app, post_form(&path, Some(&admin), &fields)).await;
            assert_eq!(response.status(), 404, "POST {path}");
        }
        assert_eq!(count(&pool, "select count(*) from audit_log").await, 0);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn changing_a_role_is_audited_with_before_and_after(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Viewer).await;
        let path = format!("/admin/users/{}", target.user.id);
        let (response, _) = send(
            &app,
            post_form(
                &path,
                Some(&admin),
                &[("display_name", "Vera Viewer"), ("role", "manager"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], format!("{path}?notice=saved").as_str());
        let user = stored(&pool, target.user.id).await;
        assert_eq!(
            (user.role, user.display_name.as_str(), user.active),
            (Role::Manager, "Vera Viewer", true)
        );
        assert!(still_signed_in(&app, &target).await, "a role change keeps the sessions");

        let rows = audit_actions(&pool, "user.update").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor_user_id, Some(admin.user.id));
        assert_eq!(rows[0].target, format!("user:{}", target.user.email));
        assert_eq!(rows[0].before, Some(json!({"display_name": "viewer", "role": "viewer", "active": true})));
        assert_eq!(
            rows[0].after,
            Some(json!({"display_name": "Vera Viewer", "role": "manager", "active": true}))
        );

        let (_, html) = send(&app, get(&format!("{path}?notice=saved"), Some(&admin))).await;
        assert!(html.contains("class=\"flash\" role=\"status\">Saved.</p>"), "{html}");
        // Sending the same values again changes and records nothing.
        let (response, _) = send(
            &app,
            post_form(
                &path,
                Some(&admin),
                &[("display_name", "Vera Viewer"), ("role", "manager"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.headers()["location"], format!("{path}?notice=unchanged").as_str());
        assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn invalid_edits_are_field_errors_and_change_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::user(&pool, Role::Viewer).await;
        let path = format!("/admin/users/{}", target.id);
        let (response, html) = send(
            &app,
            post_form(&path, Some(&admin), &[("display_name", "   "), ("role", "root"), ("state", "gone")]),
        )
        .await;
        assert_eq!(response.status(), 422);
        for field in ["display_name", "role", "state"] {
            assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}: {html}");
        }
        assert_eq!(stored(&pool, target.id).await.role, Role::Viewer);
        assert!(audit_actions(&pool, "user.update").await.is_empty());
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn deactivating_a_user_ends_their_sessions(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Responder).await;
        let second = testing::session_for(&pool, target.user.clone()).await;
        assert!(still_signed_in(&app, &target).await);

        let (response, _) = send(
            &app,
            post_form(
                &format!("/admin/users/{}", target.user.id),
                Some(&admin),
                &[("display_name", "responder"), ("role", "responder"), ("state", "deactivated")],
            ),
        )
        .await;
        assert_eq!(response.status(), 303);
        assert!(!stored(&pool, target.user.id).await.active);
        assert_eq!(sessions_of(&pool, target.user.id).await, 0);
        assert!(!still_signed_in(&app, &target).await && !still_signed_in(&app, &second).await);

        let rows = audit_actions(&pool, "user.update").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].before.as_ref().and_then(|b| b.get("active")), Some(&json!(true)));
        assert_eq!(
            rows[0].after,
            Some(
                json!({"display_name": "responder", "role": "responder", "active": false, "sessions_ended": 2})
            )
        );
        let (_, html) = send(&app, get(&format!("/admin/users/{}", target.user.id), Some(&admin))).await;
        assert!(html.contains(">deactivated</span>") && html.contains("No live sessions"), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        // An inactive admin does not count.
        let dormant = testing::user(&pool, Role::Admin).await;
        users::update_profile(&pool, dormant.id, "dormant", Role::Admin, false).await.expect("deactivate");
        let path = format!("/admin/users/{}", admin.user.id);

        let (response, html) = send(
            &app,
            post_form(
                &path,
                Some(&admin),
                &[("display_name", "Me"), ("role", "manager"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.status(), 409);
        assert!(html.contains("id=\"role-error\"") && html.contains("last active admin"), "{html}");
        let (response, html) = send(
            &app,
            post_form(
                &path,
                Some(&admin),
                &[("display_name", "Me"), ("role", "admin"), ("state", "deactivated")],
            ),
        )
        .await;
        assert_eq!(response.status(), 409);
        assert!(html.contains("id=\"state-error\"") && html.contains("last active admin"), "{html}");

        let me = stored(&pool, admin.user.id).await;
        assert_eq!((me.role, me.active, me.display_name.as_str()), (Role::Admin, true, "admin"));
        assert!(audit_actions(&pool, "user.update").await.is_empty(), "a refused change leaves no audit row");
        assert!(still_signed_in(&app, &admin).await);

        // With another active admin, stepping down is allowed (and leads away from admin pages).
        let other = testing::user(&pool, Role::Admin).await;
        let (response, _) = send(
            &app,
            post_form(
                &path,
                Some(&admin),
                &[("display_name", "admin"), ("role", "manager"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/");
        assert_eq!(stored(&pool, admin.user.id).await.role, Role::Manager);
        assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);

        // ...and now `other` is the last one.
        let boss = testing::session_for(&pool, other.clone()).await;
        let (response, _) = send(
            &app,
            post_form(
                &format!("/admin/users/{}", other.id),
                Some(&boss),
                &[("display_name", "admin"), ("role", "viewer"), ("state", "active")],
            ),
        )
        .await;
        assert_eq!(response.status(), 409);
        assert_eq!(stored(&pool, other.id).await.role, Role::Admin);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn two_admins_demoting_each_other_at_once_leave_one_admin(pool: PgPool) {
        let app = testing::app(&pool);
        let a = testing::signed_in(&pool, Role::Admin).await;
        let b = testing::signed_in(&pool, Role::Admin).await;
        let demote = |by: &Browser, whom: &Browser| {
            post_form(
                &format!("/admin/users/{}", whom.user.id),
                Some(by),
                &[("display_name", "admin"), ("role", "viewer"), ("state", "active")],
            )
        };
        // Hold the admin-change lock so both requests get past their own checks' start together.
        let mut gate = pool.begin().await.expect("begin");
        users::lock_admin_changes(&mut *gate).await.expect("lock");
        let first = tokio::spawn({
            let (app, request) = (app.clone(), demote(&a, &b));
            async move { send(&app, request).await.0.status().as_u16() }
        });
        let second = tokio::spawn({
            let (app, request) = (app.clone(), demote(&b, &a));
            async move { send(&app, request).await.0.status().as_u16() }
        });
        for _ in 0..100 {
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted",
            )
            .fetch_one(&pool)
            .await
            .expect("pg_locks");
            if waiting == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        gate.commit().await.expect("release");
        let mut statuses = [first.await.expect("first"), second.await.expect("second")];
        statuses.sort_unstable();
        assert_eq!(statuses, [303, 409]);
        assert_eq!(count(&pool, "select count(*) from users where role = 'admin' and active").await, 1);
        assert_eq!(audit_actions(&pool, "user.update").await.len(), 1);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn resetting_a_password_forces_a_change_and_ends_sessions(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Commander).await;
        let (response, html) = send(
            &app,
            post_form(
                &format!("/admin/users/{}/password", target.user.id),
                Some(&admin),
                &[("password", "")],
            ),
        )
        .await;
        assert_eq!(response.status(), 200, "{html}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let shown = shown_password(&html).expect("the generated password is shown once");
        assert!(html.contains("1 session was ended"), "{html}");

        let (user, hash) =
            users::find_with_hash(&pool, &target.user.email).await.expect("find").expect("exists");
        assert!(user.must_change_password);
        assert!(matches!(
            password::verify(&Secret::new(shown.clone()), Some(hash)).await,
            Verification::Valid { .. }
        ));
        assert_eq!(sessions_of(&pool, target.user.id).await, 0);
        assert!(!still_signed_in(&app, &target).await);

        let rows = audit_actions(&pool, "user.password_reset").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].target, format!("user:{}", target.user.email));
        assert_eq!(
            rows[0].after,
            Some(json!({"must_change_password": true, "generated": true, "sessions_ended": 1}))
        );
        let everything = serde_json::to_string(&(&rows[0].before, &rows[0].after)).expect("json");
        assert!(!everything.contains(&shown), "never the password");

        // A fresh sign-in session is sent to choose a new password before anything else.
        let back = testing::session_for(&pool, user).await;
        let (response, _) = send(&app, get("/", Some(&back))).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers()["location"], "/account/password");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn a_weak_typed_reset_password_is_refused_and_changes_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Viewer).await;
        let (response, html) = send(
            &app,
            post_form(
                &format!("/admin/users/{}/password", target.user.id),
                Some(&admin),
                &[("password", "qwerty123456")],
            ),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert!(
            html.contains("id=\"password-error\"")
                && html.contains("aria-describedby=\"password-hint password-error\""),
            "{html}"
        );
        assert!(!stored(&pool, target.user.id).await.must_change_password);
        assert!(still_signed_in(&app, &target).await);
        assert!(audit_actions(&pool, "user.password_reset").await.is_empty());

        let typed = "amber pelican juggles seven oars";
        let (response, html) = send(
            &app,
            post_form(
                &format!("/admin/users/{}/password", target.user.id),
                Some(&admin),
                &[("password", typed)],
            ),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert!(shown_password(&html).is_none() && !html.contains(typed), "{html}");
        assert!(stored(&pool, target.user.id).await.must_change_password);
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn ending_sessions_signs_the_user_out_everywhere_and_is_audited(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Responder).await;
        let _second = testing::session_for(&pool, target.user.clone()).await;
        let page = format!("/admin/users/{}", target.user.id);
        let (_, html) = send(&app, get(&page, Some(&admin))).await;
        assert!(html.contains("2 live;") && html.contains("127.0.0.1"), "{html}");
        assert!(!html.contains(&target.csrf), "never another user's CSRF token: {html}");

        let (response, _) = send(&app, post_form(&format!("{page}/sessions/end"), Some(&admin), &[])).await;
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().expect("ascii").to_owned();
        assert_eq!(location, format!("{page}?notice=sessions-ended&ended=2"));
        assert_eq!(sessions_of(&pool, target.user.id).await, 0);
        assert!(!still_signed_in(&app, &target).await);
        assert!(stored(&pool, target.user.id).await.active, "ending sessions does not deactivate");

        let rows = audit_actions(&pool, "user.sessions_end").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].after, Some(json!({"sessions_ended": 2})));
        let (_, html) = send(&app, get(&location, Some(&admin))).await;
        assert!(html.contains("Ended 2 sessions.") && html.contains("No live sessions"), "{html}");
    }

    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn admin_forms_without_the_csrf_token_change_nothing(pool: PgPool) {
        let app = testing::app(&pool);
        let admin = testing::signed_in(&pool, Role::Admin).await;
        let target = testing::signed_in(&pool, Role::Viewer).await;
        let forged = Browser { csrf: "forged".into(), ..admin.clone() };
        let (response, _) = send(
            &app,
            post_form(&format!("/admin/users/{}/sessions/end", target.user.id), Some(&forged), &[]),
        )
        .await;
        assert_eq!(response.status(), 403);
        assert!(still_signed_in(&app, &target).await);
        assert!(audit_actions(&pool, "user.sessions_end").await.is_empty());
    }
}
