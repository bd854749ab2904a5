//! Forms and path parameters, one way for every area: typed path extractors whose rejection is
//! the portal's "not found" page, flash notices looked up by key (no request text is ever
//! reflected), and the end of every form POST — a redirect, or the form again with its field
//! errors.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use twisterlab_domain::incident::IncidentNumber;
use uuid::Uuid;

use super::error::AppError;
use crate::validation::FieldErrors;

/// The UUID in the route's `{id}` segment. Anything else is "not found": a mistyped address
/// is a missing page, not a malformed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathId(pub Uuid);

/// The incident number in the route's `{number}` segment (`INC-42` or `42`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathNumber(pub IncidentNumber);

async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_owned())
}

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "id").await.unwrap_or_default();
        parse_id(&raw, "This item").map(PathId)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathNumber {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "number").await.unwrap_or_default();
        parse_number(&raw).map(PathNumber)
    }
}

/// A UUID from a path or form; anything else is `what` not found ("This user does not exist.").
///
/// Only the hyphenated form the portal writes in its links (`Uuid` would also take the braced,
/// URN and unhyphenated forms and surrounding spaces): the API document promises `format: uuid`,
/// and an address the portal never made is not one of its pages.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, AppError> {
    parse_uuid(raw).ok_or_else(|| AppError::NotFoundThing { what: what.to_owned() })
}

/// A UUID as the API document's `format: uuid` has it: the hyphenated form only (not braced, URN
/// or 32 bare digits).
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let hyphens =
        text.len() == 36 && text.char_indices().all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
    hyphens.then(|| Uuid::parse_str(text).ok()).flatten()
}

/// "INC-42" or "42"; anything else is an incident that does not exist.
/// Exactly that: the domain's parser forgives spaces around a typed number, an address does not
/// (the API document's pattern has none).
pub fn parse_number(raw: &str) -> Result<IncidentNumber, AppError> {
    let not_found =
        || AppError::NotFoundThing { what: format!("Incident {}", raw.chars().take(40).collect::<String>()) };
    if raw.trim() != raw {
        return Err(not_found());
    }
    raw.parse::<IncidentNumber>().map_err(|_| not_found())
}

/// One choice of a select or radio group (the `select` macro of `templates/macros.html`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Self {
        Self { value: value.into(), label: label.into(), selected }
    }
}

/// An area's flash notices: the key a redirect carries (`?notice=saved`) and the text shown.
pub type Notices = &'static [(&'static str, &'static str)];

/// The `?notice=` of a page reached by a redirect.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

impl NoticeQuery {
    /// The text for the key in `notices`; an unknown key shows nothing.
    pub fn text(&self, notices: Notices) -> Option<&'static str> {
        let key = self.notice.as_deref()?;
        notices.iter().find(|(k, _)| *k == key).map(|(_, text)| *text)
    }
}

/// A 303 redirect (post/redirect/get).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A 303 redirect to `path` that shows the notice `key` there.
pub fn see_other_with_notice(path: &str, key: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{separator}notice={key}"))
}

/// Marks a page that shows a secret or personal details: browsers and proxies must not keep it.
pub fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The end of a form POST: the success response (usually a redirect); on invalid input the
/// form again, rendered by `form_again` with the field errors and status 422; any other error
/// as its own page.
pub fn form_outcome(
    result: Result<Response, AppError>,
    form_again: impl FnOnce(FieldErrors) -> Response,
) -> Response {
    match result {
        Ok(response) => response,
        Err(AppError::Validation(errors)) => {
            let mut response = form_again(errors.into());
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;
    use crate::validation::FieldErrors;
    use crate::web::time::Moment;

    /// Every macro of `templates/macros.html`, rendered once.
    #[derive(Template)]
    #[template(
        source = r#"{% import "macros.html" as m %}{% call m::input(errors, "title", "Title", value, required=true, maxlength=200, hint="What broke") %}{% endcall %}{% call m::textarea(errors, "summary", "Summary", value) %}{% endcall %}{% call m::select(errors, "role", "Role", choices) %}{% endcall %}{% call m::checkbox(errors, "private", "Private", true) %}{% endcall %}{% call m::form_errors(errors) %}{% endcall %}{% call m::moment(at) %}{% endcall %}"#,
        ext = "html"
    )]
    struct Fields {
        errors: FieldErrors,
        value: String,
        choices: Vec<Choice>,
        at: Moment,
    }

    #[test]
    fn a_field_with_an_error_says_so_next_to_it_and_others_stay_quiet() {
        let mut errors = FieldErrors::new();
        errors.push("title", "Write a title.");
        let now = jiff::Timestamp::UNIX_EPOCH;
        let page = Fields {
            errors,
            value: "<b>x</b>".into(),
            choices: vec![Choice::new("admin", "Admin", true)],
            at: Moment::new(now, &jiff::tz::TimeZone::UTC, now),
        };
        let html = page.render().expect("renders");
        assert!(html.contains(r#"aria-describedby="title-hint title-error" aria-invalid="true""#), "{html}");
        assert!(html.contains(r#"<p class="field-error" id="title-error">Write a title.</p>"#), "{html}");
        assert!(!html.contains("summary-error") && !html.contains("role-error"), "{html}");
        assert!(
            html.contains("&#60;b&#62;x&#60;/b&#62;") || html.contains("&lt;b&gt;"),
            "values are escaped: {html}"
        );
        assert!(html.contains(r#"<option value="admin" selected>Admin</option>"#), "{html}");
        assert!(html.contains("Nothing was saved: correct the fields marked below."), "{html}");
        assert!(html.contains("(just now)"), "{html}");
    }

    const NOTICES: Notices = &[("saved", "Saved.")];

    #[test]
    fn only_known_notice_keys_show_text() {
        let q = |k: &str| NoticeQuery { notice: Some(k.to_owned()) };
        assert_eq!(q("saved").text(NOTICES), Some("Saved."));
        assert_eq!(q("<script>").text(NOTICES), None);
        assert_eq!(NoticeQuery::default().text(NOTICES), None);
    }

    #[test]
    fn malformed_ids_and_numbers_are_not_found() {
        assert!(matches!(parse_id("nope", "This user"), Err(AppError::NotFoundThing { .. })));
        assert!(matches!(parse_number("INC-x"), Err(AppError::NotFoundThing { .. })));
        assert_eq!(parse_number("INC-42").map(|n| n.get()).ok(), Some(42));
    }

    #[test]
    fn a_notice_redirect_keeps_the_query() {
        let r = see_other_with_notice("/admin/users?page=2", "saved");
        assert_eq!(r.headers()[header::LOCATION], "/admin/users?page=2&notice=saved");
    }
}
