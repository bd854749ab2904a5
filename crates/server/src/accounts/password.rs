//! `/account/password`: the signed-in user changes their own password.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::service::passwords::{self, PasswordChange};
use crate::auth::CurrentUser;
use crate::state::AppState;
use crate::validation::FieldErrors;
use crate::web::error::AppError;
use crate::web::form::{form_outcome, no_store, see_other_with_notice};
use crate::web::page::{Layout, render_page};

#[derive(Template)]
#[template(path = "account/password.html")]
pub(crate) struct PasswordPage {
    pub layout: Layout,
    pub email: String,
    /// The user was told to choose a new password (new account or reset by an admin).
    pub must_change: bool,
    pub errors: FieldErrors,
}

impl PasswordPage {
    fn of(layout: Layout, user: &CurrentUser, errors: FieldErrors) -> Self {
        Self { layout, email: user.user.email.clone(), must_change: user.user.must_change_password, errors }
    }
}

/// `GET /account/password`.
pub(super) async fn show_password_form(layout: Layout, user: CurrentUser) -> Response {
    no_store(render_page(&PasswordPage::of(layout, &user, FieldErrors::new())))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// `POST /account/password`: see [`passwords::change_password`].
pub(super) async fn change_password(
    State(app): State<AppState>,
    layout: Layout,
    user: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Response {
    let change = PasswordChange {
        current: &form.current_password,
        new: &form.new_password,
        confirm: &form.confirm_password,
    };
    let result = passwords::change_password(&app.pool, &user, &change).await;
    let result =
        result.map(|_| see_other_with_notice("/account", "password-changed")).map_err(AppError::from);
    no_store(form_outcome(result, |errors| render_page(&PasswordPage::of(layout, &user, errors))))
}
