//! `/account/tokens`: the signed-in user's API tokens — list, create (the secret is shown once,
//! in the response to the POST), revoke.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use twisterlab_domain::role::Role;
use uuid::Uuid;

use super::service::AccountError;
use super::service::tokens::{self, Revocation, TOKEN, TokenRequest};
use crate::auth::CurrentUser;
use crate::db::api_tokens::{self, ApiToken};
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{Choice, NoticeQuery, Notices, no_store, parse_id, see_other_with_notice};
use crate::web::page::{Layout, render_page};
use crate::web::time::Moment;

/// Notices of the token page.
pub(super) const NOTICES: Notices = &[
    ("token-revoked", "The token is revoked; it no longer works."),
    ("token-already-revoked", "That token was already revoked."),
];

/// One row of the token list.
#[derive(Clone, Debug)]
pub(crate) struct TokenRow {
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
    pub(crate) fn state_class(&self) -> &'static str {
        match self.state {
            "live" => "state-ok",
            "expired" => "state-unknown",
            _ => "state-down",
        }
    }
}

/// The values typed into the creation form, kept when it is shown again with errors.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub expires_days: String,
}

impl TokenForm {
    /// Least privilege by default; 90 days unless the user clears it.
    fn fresh() -> Self {
        Self { name: String::new(), role: Role::Viewer.as_str().into(), expires_days: "90".into() }
    }
}

/// A token to show once, right after it was made.
#[derive(Clone, Debug)]
pub(crate) struct NewTokenShown {
    pub name: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
pub(crate) struct TokensPage {
    pub layout: Layout,
    pub tokens: Vec<TokenRow>,
    /// The roles the user may give a token (theirs and below).
    pub roles: Vec<Choice>,
    pub form: TokenForm,
    pub errors: FieldErrors,
    pub created: Option<NewTokenShown>,
    pub notice: Option<&'static str>,
}

async fn tokens_page(
    app: &AppState,
    layout: Layout,
    user: &CurrentUser,
    form: TokenForm,
    errors: FieldErrors,
    created: Option<NewTokenShown>,
    notice: Option<&'static str>,
) -> Result<TokensPage, AppError> {
    let now = Timestamp::now();
    let tokens = api_tokens::list_for_user(&app.pool, user.user.id)
        .await?
        .iter()
        .map(|t| TokenRow::of(t, now, &app.config.timezone))
        .collect();
    let roles = Role::ALL
        .into_iter()
        .filter(|r| user.role.allows(*r))
        .map(|r| Choice::new(r.as_str(), r.as_str(), form.role == r.as_str()))
        .collect();
    Ok(TokensPage { layout, tokens, roles, form, errors, created, notice })
}

/// `GET /account/tokens`.
pub(super) async fn list_tokens(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let page =
        tokens_page(&app, layout, &user, TokenForm::fresh(), FieldErrors::new(), None, q.text(NOTICES))
            .await?;
    Ok(no_store(render_page(&page)))
}

/// `POST /account/tokens`: the new token is rendered in this response only, never redirected
/// to or put in a URL.
pub(super) async fn create_token(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let request = TokenRequest { name: &form.name, role: &form.role, expires_days: &form.expires_days };
    let mut tx = app.pool.begin().await?;
    let issued = match tokens::issue_token(&mut tx, &user.actor, &user.user, user.role, &request).await {
        Ok(issued) => issued,
        Err(AccountError::Invalid(errors)) => {
            // The form again, with what was typed and a message per field.
            drop(tx);
            let page = tokens_page(&app, layout, &user, form, errors.into(), None, None).await?;
            return Ok(no_store((StatusCode::UNPROCESSABLE_ENTITY, render_page(&page)).into_response()));
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    tracing::info!(api_token.id = %issued.token.id, api_token.role = %issued.token.role, "API token created");
    let created = NewTokenShown { name: issued.token.name.clone(), secret: issued.secret };
    let page =
        tokens_page(&app, layout, &user, TokenForm::fresh(), FieldErrors::new(), Some(created), None).await?;
    Ok(no_store((StatusCode::CREATED, render_page(&page)).into_response()))
}

/// `POST /account/tokens/{id}/revoke`: only the caller's own tokens.
pub(super) async fn revoke_token(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id, TOKEN)?;
    let mut tx = app.pool.begin().await?;
    let revocation = tokens::revoke_token(&mut tx, &user.actor, &user.user, id).await?;
    tx.commit().await?;
    Ok(match revocation {
        Revocation::Revoked => {
            tracing::info!(api_token.id = %id, "API token revoked");
            see_other_with_notice("/account/tokens", "token-revoked")
        }
        Revocation::AlreadyRevoked => see_other_with_notice("/account/tokens", "token-already-revoked"),
    })
}
