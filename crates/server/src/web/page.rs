//! What every internal page shares: the layout (navigation, assets, signed-in user) and the one
//! function that turns a template into a response.

use askama::Template;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use twisterlab_domain::role::Role;

use super::assets;
use crate::identity::CurrentUser;

/// One entry of the main navigation.
#[derive(Clone, Debug)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    /// URL prefix that marks this entry as the current area.
    pub prefix: &'static str,
    /// Lowest role that sees the entry.
    pub min_role: Role,
}

/// The product areas that exist. An area appears here only once it has real pages.
pub const NAVIGATION: &[NavItem] = &[
    NavItem { label: "Overview", href: "/", prefix: "/", min_role: Role::Viewer },
    NavItem { label: "Incidents", href: "/incidents", prefix: "/incidents", min_role: Role::Viewer },
    NavItem { label: "On call", href: "/oncall", prefix: "/oncall", min_role: Role::Viewer },
    NavItem { label: "Maintenance", href: "/maintenance", prefix: "/maintenance", min_role: Role::Viewer },
    NavItem { label: "Escalations", href: "/escalations", prefix: "/escalations", min_role: Role::Manager },
    NavItem { label: "Reports", href: "/reports", prefix: "/reports", min_role: Role::Manager },
    // One entry for every admin page: `/admin` lists them (users, audit, services, components,
    // SLA, channels, outbox, signals, rotations), so the menu works without scripts.
    NavItem { label: "Admin", href: "/admin", prefix: "/admin", min_role: Role::Admin },
];

/// Who is on call now, as the header line shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnCallLine {
    pub primary: Option<String>,
    pub secondary: Option<String>,
    pub manager: Option<String>,
}

impl OnCallLine {
    /// Whether anyone at all is on call (else the header invites to set up a rotation).
    pub fn anyone(&self) -> bool {
        self.primary.is_some() || self.manager.is_some()
    }
}

/// The signed-in user as the layout shows them.
#[derive(Clone, Debug)]
pub struct LayoutUser {
    pub display_name: String,
    pub email: String,
    pub role: Role,
    /// For the sign-out form in the header (and any form of the page).
    pub csrf_token: String,
}

impl LayoutUser {
    pub fn of(user: &CurrentUser) -> Self {
        Self {
            display_name: user.user.display_name.clone(),
            email: user.user.email.clone(),
            role: user.role,
            csrf_token: user.csrf_token().to_owned(),
        }
    }
}

/// Shared page data, built per request by [`attach_layout`] and read by every template.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Request path, to mark the current navigation entry.
    pub path: String,
    pub version: &'static str,
    /// Set by the route guard on signed-in routes.
    pub user: Option<LayoutUser>,
    /// Who is on call, for signed-in pages; set with the user, from memory, never a query.
    pub oncall: Option<OnCallLine>,
    /// How many escalations nobody has reviewed, for managers' pages (set by the guard).
    pub unreviewed_escalations: Option<i64>,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            path: "/".into(),
            version: env!("CARGO_PKG_VERSION"),
            user: None,
            oncall: None,
            unreviewed_escalations: None,
        }
    }
}

impl Layout {
    /// Navigation entries the signed-in user may open; none for anonymous visitors.
    pub fn nav(&self) -> Vec<&'static NavItem> {
        match &self.user {
            Some(user) => NAVIGATION.iter().filter(|item| user.role.allows(item.min_role)).collect(),
            None => vec![],
        }
    }

    /// Whether `item` is the area the page belongs to (for `aria-current`).
    pub fn is_current(&self, item: &NavItem) -> bool {
        if item.prefix == "/" { self.path == "/" } else { self.path.starts_with(item.prefix) }
    }

    /// The count shown beside a navigation entry (unreviewed escalations), when above zero.
    pub fn badge(&self, item: &NavItem) -> Option<i64> {
        if item.href == "/escalations" { self.unreviewed_escalations.filter(|n| *n > 0) } else { None }
    }

    /// URL of an embedded asset under its content-hashed name.
    pub fn asset(&self, name: &str) -> String {
        assets::url(name)
    }

    /// The CSRF token for forms on this page (empty when signed out).
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map(|u| u.csrf_token.as_str()).unwrap_or("")
    }
}

/// Builds the [`Layout`] for the request before any handler or error page needs it.
pub async fn attach_layout(mut request: Request, next: Next) -> Response {
    let layout = Layout { path: request.uri().path().to_owned(), ..Layout::default() };
    request.extensions_mut().insert(layout);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Layout {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Layout>().cloned().unwrap_or_default())
    }
}

/// Renders a template as an HTML response; a render failure is logged and becomes a plain 500.
pub fn render_page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = html.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, template = std::any::type_name_of_val(template), "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The page failed to render; the error was logged.",
            )
                .into_response()
        }
    }
}

/// A rendered page as a handler return value.
pub struct Page<T>(pub T);

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        render_page(&self.0)
    }
}
