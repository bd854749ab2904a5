//! `/account/sessions`: the browsers where the signed-in user is signed in, and ending them.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::Timestamp;
use uuid::Uuid;

use super::service::sessions::{self as service, SESSION};
use crate::auth::{self, CurrentUser};
use crate::db::sessions;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::form::{NoticeQuery, Notices, parse_id, see_other, see_other_with_notice};
use crate::web::page::{Layout, Page};
use crate::web::time::Moment;

/// Notices of the sessions page.
pub(super) const NOTICES: Notices = &[("session-ended", "The session is ended; that browser is signed out.")];

/// "Firefox on Linux", "curl": enough to recognise a device without the whole header.
pub(crate) fn short_user_agent(ua: Option<&str>) -> String {
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
pub(crate) struct SessionRow {
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
pub(crate) struct SessionsPage {
    pub layout: Layout,
    pub sessions: Vec<SessionRow>,
    pub notice: Option<&'static str>,
}

/// `GET /account/sessions`.
pub(super) async fn list_sessions(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Page<SessionsPage>, AppError> {
    let now = Timestamp::now();
    let tz = &app.config.timezone;
    let current = user.session_id();
    let mut sessions: Vec<SessionRow> =
        sessions::list_live_for_user(&app.pool, user.user.id, super::idle_seconds(&app))
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
    Ok(Page(SessionsPage { layout, sessions, notice: q.text(NOTICES) }))
}

/// `POST /account/sessions/{id}/end`: only the caller's own sessions; ending the current one
/// signs out.
pub(super) async fn end_session(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, SESSION)?;
    let mut tx = app.pool.begin().await?;
    let current = service::end_own_session(&mut tx, &user, id).await?;
    tx.commit().await?;
    if current {
        let secure = app.config.cookies_secure();
        return Ok(auth::with_cookie(see_other("/login?signed_out=1"), &auth::clear_session_cookie(secure)));
    }
    Ok(see_other_with_notice("/account/sessions", "session-ended"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
