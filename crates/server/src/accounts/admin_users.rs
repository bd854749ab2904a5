//! Admin pages for users: list, create, edit role and state, reset password, end sessions. The
//! changes themselves are `service::users`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::rules::{self, UserEdit};
use super::service::AccountError;
use super::service::users::{self as service, TemporaryPassword, USER, UserDraft, UserUpdate};
use crate::auth::{CurrentUser, urlencode};
use crate::db::sessions;
use crate::db::users::{self, User};
use crate::state::AppState;
use crate::validation::{FieldError, FieldErrors};
use crate::web::confirm::ConfirmPage;
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, no_store, parse_id, see_other, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Notices of the user page (besides "sessions-ended", which says how many).
pub(super) const NOTICES: Notices =
    &[("saved", "Saved."), ("unchanged", "Nothing to save: the form had no changes.")];

/// The role select, with `selected` chosen.
fn role_choices(selected: &str) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| Choice::new(r.as_str(), r.as_str(), r.as_str().eq_ignore_ascii_case(selected.trim())))
        .collect()
}

/// A user as the admin pages show them.
pub(crate) struct UserView {
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
pub(crate) struct SessionView {
    pub created: Moment,
    pub last_seen: Moment,
    pub expires: Moment,
    pub client_addr: String,
    pub user_agent: String,
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users

#[derive(Template)]
#[template(path = "admin/users/list.html")]
pub(crate) struct UsersPage {
    pub layout: Layout,
    pub users: Vec<UserView>,
    pub time_zone: String,
}

/// `GET /admin/users`: every user, active first.
pub(super) async fn list_users(State(app): State<AppState>, layout: Layout) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let users = users::list(&app.pool).await?.iter().map(|u| UserView::of(u, tz, now)).collect();
    Ok(render_page(&UsersPage { layout, users, time_zone: app.config.timezone_name.clone() }))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users/new, POST /admin/users

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NewUserForm {
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
pub(crate) struct NewUserPage {
    pub layout: Layout,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Choice>,
    pub errors: FieldErrors,
}

/// `GET /admin/users/new`.
pub(super) async fn new_user(layout: Layout) -> Response {
    render_page(&NewUserPage {
        layout,
        email: String::new(),
        display_name: String::new(),
        roles: role_choices(Role::Viewer.as_str()),
        errors: FieldErrors::new(),
    })
}

#[derive(Template)]
#[template(path = "admin/users/created.html")]
pub(crate) struct UserCreatedPage {
    pub layout: Layout,
    pub user: UserView,
    /// The generated temporary password, shown on this page only.
    pub password: Option<String>,
}

/// `POST /admin/users`: creates a user who must choose a new password at first sign-in.
pub(super) async fn create_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Form(form): Form<NewUserForm>,
) -> Result<Response, AppError> {
    let password = TemporaryPassword::from_form(&form.password);
    let draft = |role| UserDraft {
        email: &form.email,
        display_name: &form.display_name,
        role,
        password: &password.secret,
        must_change_password: true,
    };
    let created = match rules::role_field(&form.role) {
        Ok(role) => {
            let mut tx = app.pool.begin().await?;
            let created = service::create_user(&mut tx, &me.actor, &draft(role)).await;
            if created.is_ok() {
                tx.commit().await?;
            }
            created
        }
        Err(role_error) => {
            // Every field at once, nothing inserted: the others are checked as if the role were
            // valid (it does not change their rules).
            let mut errors = service::check_user_draft(&draft(Role::Viewer)).err().unwrap_or_default();
            errors.push(role_error);
            Err(AccountError::Invalid(errors))
        }
    };
    let user = match created {
        Ok(user) => user,
        Err(AccountError::Invalid(errors)) => {
            let page = NewUserPage {
                layout,
                email: form.email.clone(),
                display_name: form.display_name.clone(),
                roles: role_choices(&form.role),
                errors: errors.into(),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user.id = %user.id, user.role = %user.role, by = %me.user.id, "admin created a user");

    let page = UserCreatedPage {
        layout,
        user: UserView::of(&user, &app.config.timezone, Timestamp::now()),
        password: password.generated.then(|| password.secret.expose().to_owned()),
    };
    // The page shows a password once: no browser or proxy may keep it.
    Ok(no_store((StatusCode::CREATED, render_page(&page)).into_response()))
}

// ---------------------------------------------------------------------------------------------
// GET /admin/users/{id}

#[derive(Template)]
#[template(path = "admin/users/show.html")]
pub(crate) struct UserPage {
    pub layout: Layout,
    pub user: UserView,
    /// Values of the edit form (as stored, or as typed when they were refused).
    pub display_name: String,
    pub roles: Vec<Choice>,
    pub active: bool,
    pub errors: FieldErrors,
    pub notice: Option<String>,
    pub sessions: Vec<SessionView>,
    /// Link to this user's entries in the audit log.
    pub audit_href: String,
    /// Whether the page shows the signed-in admin themself.
    pub is_me: bool,
    pub time_zone: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    notice: Option<String>,
    /// How many sessions "sessions-ended" reports.
    ended: Option<String>,
}

/// What a redirect back to the user page announces; only fixed messages, never text from the
/// query string.
fn notice_text(q: &ShowQuery) -> Option<String> {
    if q.notice.as_deref() == Some("sessions-ended") {
        let n = q.ended.as_deref().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        return Some(match n {
            0 => "There were no sessions to end.".into(),
            1 => "Ended 1 session.".into(),
            n => format!("Ended {n} sessions."),
        });
    }
    NoticeQuery { notice: q.notice.clone() }.text(NOTICES).map(str::to_owned)
}

/// Values of the edit form when it is shown again.
struct EditValues {
    display_name: String,
    role: String,
    active: bool,
}

/// The user page, with the live sessions of `user` read from the pool.
async fn user_page(
    app: &AppState,
    me: &CurrentUser,
    layout: Layout,
    user: &User,
    values: Option<EditValues>,
    errors: FieldErrors,
    notice: Option<String>,
) -> Result<UserPage, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let sessions = sessions::list_live_for_user(&app.pool, user.id, super::idle_seconds(app))
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
        roles: role_choices(&values.role),
        active: values.active,
        errors,
        notice,
        sessions,
        audit_href: format!("/admin/audit?target={}", urlencode(&format!("user:{}", user.email))),
        is_me: me.user.id == user.id,
        time_zone: app.config.timezone_name.clone(),
    })
}

/// The user with the id in the path, or the not-found page.
async fn find_user(app: &AppState, raw_id: &str) -> Result<User, AppError> {
    let id = parse_id(raw_id, USER)?;
    users::find(&app.pool, id).await?.ok_or(AppError::NotFoundThing { what: USER.into() })
}

/// `GET /admin/users/{id}`: details, edit form, password reset and live sessions.
pub(super) async fn show_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, AppError> {
    let user = find_user(&app, &id).await?;
    let page = user_page(&app, &me, layout, &user, None, FieldErrors::new(), notice_text(&q)).await?;
    Ok(render_page(&page))
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EditUserForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    /// "active" or "deactivated".
    #[serde(default)]
    state: String,
    /// "yes" from the confirmation page that deactivating an active user asks for.
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/users/{id}`: see [`service::update_user`]. A refused change shows the form
/// again as typed: 422 for bad fields, 409 for the last-admin rule.
pub(super) async fn update_user(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(raw_id): Path<String>,
    Form(form): Form<EditUserForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&raw_id, USER)?;
    let edit = match rules::user_edit(&form.display_name, &form.role, &form.state) {
        Ok(edit) => edit,
        Err(errors) => {
            return edit_form_again(
                &app,
                &me,
                layout,
                &raw_id,
                &form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut tx = app.pool.begin().await?;
    match service::update_user(&mut tx, &me.actor, id, &edit).await {
        Ok(UserUpdate::Unchanged) => Ok(see_other_with_notice(&format!("/admin/users/{id}"), "unchanged")),
        Ok(UserUpdate::Saved { sessions_ended: Some(_) }) if form.confirm != "yes" => {
            // Deactivating is what stands for deleting a user (their incidents and audit rows
            // keep naming them): the change passed every rule, and is asked for once more.
            drop(tx);
            let name = users::find(&app.pool, id).await?.map(|u| u.display_name).unwrap_or_default();
            Ok(ConfirmPage {
                layout,
                question: format!("Deactivate {name}?"),
                consequences: vec![
                    "They can no longer sign in, and every session they have open ends now.".into(),
                    "Their API tokens stop working.".into(),
                    "Incidents, notes and audit rows keep their name; an admin can activate them again."
                        .into(),
                ],
                action: format!("/admin/users/{id}"),
                carried: vec![
                    ("display_name".into(), form.display_name.clone()),
                    ("role".into(), form.role.clone()),
                    ("state".into(), form.state.clone()),
                ],
                button: format!("Deactivate {name}"),
                cancel: format!("/admin/users/{id}"),
            }
            .render())
        }
        Ok(UserUpdate::Saved { .. }) => {
            tx.commit().await?;
            let UserEdit { role, active, .. } = edit;
            tracing::info!(user.id = %id, user.role = %role, user.active = active, by = %me.user.id, "admin updated a user");
            if id == me.user.id && !(role == Role::Admin && active) {
                // They just gave up the right to see this page.
                return Ok(see_other("/"));
            }
            Ok(see_other_with_notice(&format!("/admin/users/{id}"), "saved"))
        }
        Err(AccountError::Invalid(errors)) => {
            drop(tx);
            edit_form_again(&app, &me, layout, &raw_id, &form, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AccountError::LastAdmin(error)) => {
            drop(tx);
            edit_form_again(&app, &me, layout, &raw_id, &form, vec![error], StatusCode::CONFLICT).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The user page again with the edit form as typed and its messages.
async fn edit_form_again(
    app: &AppState,
    me: &CurrentUser,
    layout: Layout,
    raw_id: &str,
    form: &EditUserForm,
    errors: Vec<FieldError>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let user = find_user(app, raw_id).await?;
    let typed = EditValues {
        display_name: form.display_name.clone(),
        role: form.role.clone(),
        active: form.state != "deactivated",
    };
    let page = user_page(app, me, layout, &user, Some(typed), errors.into(), None).await?;
    Ok((status, render_page(&page)).into_response())
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}/password

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResetPasswordForm {
    /// Blank: the portal generates one and shows it once.
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin/users/password_reset.html")]
pub(crate) struct PasswordResetPage {
    pub layout: Layout,
    pub user: UserView,
    /// The generated temporary password, shown on this page only.
    pub password: Option<String>,
    pub sessions_ended: u64,
}

/// `POST /admin/users/{id}/password`: see [`service::reset_password`]; a generated password is
/// shown on this page only.
pub(super) async fn reset_password(
    State(app): State<AppState>,
    me: CurrentUser,
    layout: Layout,
    Path(id): Path<String>,
    Form(form): Form<ResetPasswordForm>,
) -> Result<Response, AppError> {
    let target = find_user(&app, &id).await?;
    let password = TemporaryPassword::from_form(&form.password);
    let hash = match service::hash_new_password(&password.secret, &target.email, "password").await {
        Ok(hash) => hash,
        Err(AccountError::Invalid(errors)) => {
            let page = user_page(&app, &me, layout, &target, None, errors.into(), None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let mut tx = app.pool.begin().await?;
    let reset = service::reset_password(&mut tx, &me.actor, target.id, &hash, password.generated).await?;
    tx.commit().await?;
    tracing::info!(user.id = %target.id, sessions_ended = reset.sessions_ended, by = %me.user.id, "admin reset a password");

    let page = PasswordResetPage {
        layout,
        user: UserView::of(&reset.user, &app.config.timezone, Timestamp::now()),
        password: password.generated.then(|| password.secret.expose().to_owned()),
        sessions_ended: reset.sessions_ended,
    };
    Ok(no_store(render_page(&page)))
}

// ---------------------------------------------------------------------------------------------
// POST /admin/users/{id}/sessions/end

/// `POST /admin/users/{id}/sessions/end`: signs the user out everywhere.
pub(super) async fn end_sessions(
    State(app): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, USER)?;
    let mut tx = app.pool.begin().await?;
    let ended = service::end_sessions(&mut tx, &me.actor, id).await?;
    tx.commit().await?;
    tracing::info!(user.id = %id, sessions_ended = ended, by = %me.user.id, "admin ended a user's sessions");
    Ok(see_other(&format!("/admin/users/{id}?notice=sessions-ended&ended={ended}")))
}
