//! `/account`: the signed-in user's profile and links to their security settings.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use twisterlab_domain::role::Role;

use crate::auth::CurrentUser;
use crate::db::{api_tokens, sessions};
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, no_store};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Notices of the profile page.
pub(super) const NOTICES: Notices =
    &[("password-changed", "Your password is changed. Your other sessions were signed out.")];

#[derive(Template)]
#[template(path = "account/show.html")]
pub(crate) struct AccountPage {
    pub layout: Layout,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub member_since: Moment,
    pub last_sign_in: Option<Moment>,
    pub live_tokens: usize,
    pub live_sessions: usize,
    pub notice: Option<&'static str>,
    /// The caller's overdue postmortem action items: (title, due day, incident number).
    pub overdue_actions: Vec<(String, String, i64)>,
}

/// `GET /account`.
pub(super) async fn show_account(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let live_tokens =
        api_tokens::list_for_user(&app.pool, user.user.id).await?.iter().filter(|t| t.is_live(now)).count();
    let idle = super::idle_seconds(&app);
    let live_sessions = sessions::list_live_for_user(&app.pool, user.user.id, idle).await?.len();
    let today = tz.to_datetime(now).date();
    let overdue_actions = crate::db::postmortems::overdue(&app.pool, today, Some(user.user.id))
        .await?
        .into_iter()
        .map(|a| (a.title, a.due_on.to_string(), a.incident_number))
        .collect();
    let u = &user.user;
    let page = AccountPage {
        overdue_actions,
        layout,
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        member_since: Moment::new(u.created_at, tz, now),
        last_sign_in: u.last_sign_in_at.map(|t| Moment::new(t, tz, now)),
        live_tokens,
        live_sessions,
        notice: q.text(NOTICES),
    };
    Ok(no_store(render_page(&page)))
}
