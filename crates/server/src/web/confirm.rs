//! Confirmation before something that cannot be undone (deleting a service or a channel): a
//! page that says what will be lost, with the one form that does it — no script needed. The
//! POST that deletes acts only with `confirm=yes`; without it, it sends the browser to the
//! confirmation page, so an old form or a stray click deletes nothing.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;

use super::form::see_other;
use super::page::{Layout, render_page};

/// The confirmation page.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    /// "Delete the service twisterlab-api?"
    pub question: String,
    /// What is lost, and what stays.
    pub consequences: Vec<String>,
    /// Where the confirmed form posts.
    pub action: String,
    /// The fields of the form that asked, sent again as they were typed.
    pub carried: Vec<(String, String)>,
    /// The button's words ("Delete twisterlab-api").
    pub button: String,
    /// Where "Keep it" goes back to.
    pub cancel: String,
}

impl ConfirmPage {
    pub fn render(self) -> Response {
        render_page(&self)
    }
}

/// The confirmation a destructive POST carries.
#[derive(Debug, Default, Deserialize)]
pub struct Confirmation {
    #[serde(default)]
    pub confirm: String,
}

impl Confirmation {
    /// `None` when confirmed; else the redirect to the confirmation page at `page`.
    pub fn required(&self, page: &str) -> Option<Response> {
        (self.confirm != "yes").then(|| see_other(page))
    }
}
