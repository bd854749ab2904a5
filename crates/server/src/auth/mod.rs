//! Who is asking and what they may do: sessions, API tokens, the per-route role guard, CSRF.
//!
//! Every route is declared through [`Routes`] with the [`Access`] it needs, so no route can be
//! added without stating its role, and the role-matrix test can enumerate them all.

pub mod password;
pub mod token;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use twisterlab_domain::role::Role;

use crate::config::Cidr;
use crate::db::audit::Actor;
use crate::db::{api_tokens, sessions, users};
pub use crate::identity::{CurrentUser, Via};
use crate::state::AppState;
use crate::web::error::{AppError, wants_json};
use crate::web::page::{Layout, LayoutUser};

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in page, health, the public status page).
    Public,
    /// A signed-in user (or API token) with at least this role.
    Role(Role),
}

/// One declared route, for the router and for the role-matrix and OpenAPI tests.
#[derive(Clone, Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "read by the route-matrix and OpenAPI tests"))]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// A table of routes, each with its required access, that becomes a router.
#[derive(Default)]
pub struct Routes {
    specs: Vec<RouteSpec>,
    router: Router<AppState>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// `GET` (and `HEAD`) `path`, guarded by `access`.
    pub fn get<H, T>(self, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, access, on(MethodFilter::GET, handler))
    }

    /// `POST` `path`, guarded by `access`; session-authenticated requests are CSRF-checked.
    pub fn post<H, T>(self, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, access, on(MethodFilter::POST, handler))
    }

    /// `PATCH` `path`, guarded by `access`.
    pub fn patch<H, T>(self, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PATCH, path, access, on(MethodFilter::PATCH, handler))
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        endpoint: MethodRouter<AppState>,
    ) -> Self {
        self.specs.push(RouteSpec { method, path, access });
        let endpoint = endpoint.route_layer(middleware::from_fn_with_state(access, guard));
        self.router = self.router.route(path, endpoint);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.specs.extend(other.specs);
        self.router = self.router.merge(other.router);
        self
    }

    pub fn into_parts(self) -> (Vec<RouteSpec>, Router<AppState>) {
        (self.specs, self.router)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(AppError::Unauthorized)
    }
}

/// Facts about the request for audit rows and throttling.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    fn from_parts(parts: &Parts, trusted_proxies: &[Cidr]) -> Self {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Self {
            client_addr: peer.map(|peer| client_addr(peer, &forwarded, trusted_proxies).to_string()),
            // The id the request-id layer gave this request (a client's own is replaced there).
            request_id: header("x-request-id"),
            user_agent: header("user-agent").map(|ua| ua.chars().take(200).collect()),
        }
    }

    /// An actor for changes made before anyone is signed in (sign-in itself).
    pub fn anonymous_actor(&self, label: impl Into<String>) -> Actor {
        Actor {
            user_id: None,
            label: label.into(),
            client_addr: self.client_addr.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, &state.config.trusted_proxies))
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` hop that is not a trusted proxy (each proxy appends the address it saw, so
/// hops left of the first untrusted one are whatever the client chose to send). A hop that is
/// not an address stops the walk at the last trusted one.
pub fn client_addr(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    for hop in forwarded_for.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    None
}

/// Name of the session cookie: `__Host-` prefixed (bound to this host, Secure, path /) over HTTPS.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-twisterlab_session" } else { "twisterlab_session" }
}

/// `Set-Cookie` value for a session token.
pub fn session_cookie(token: &str, secure: bool, max_age_seconds: u64) -> String {
    let name = session_cookie_name(secure);
    let secure_attr = if secure { "; Secure" } else { "" };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure_attr}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", secure, 0)
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Paths a user who must change their password may still use.
const PASSWORD_CHANGE_PATHS: &[&str] = &["/account/password", "/logout"];

/// The per-route guard: resolves the caller, enforces the role, CSRF-checks state changes.
async fn guard(State(access): State<Access>, request: Request, next: Next) -> Response {
    let Some(app) = request.extensions().get::<AppState>().cloned() else {
        return AppError::Internal(anyhow::anyhow!("AppState extension missing")).into_response();
    };
    let api = request.uri().path().starts_with("/api/");
    if !api && !is_safe(request.method()) && !same_origin(request.headers()) {
        return AppError::CsrfRejected.into_response();
    }
    let Access::Role(required) = access else {
        return next.run(request).await;
    };

    let (mut parts, body) = request.into_parts();
    let meta = RequestMeta::from_parts(&parts, &app.config.trusted_proxies);
    let caller = match authenticate(&app, &parts.headers, api, &meta).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let Some(caller) = caller else {
        if api || wants_json(parts.uri.path(), &parts.headers) {
            return AppError::Unauthorized.into_response();
        }
        let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        return Redirect::to(&format!("/login?next={}", urlencode(target))).into_response();
    };
    // Error pages keep the menu and the signed-in user: the layout travels with the response.
    let mut layout = parts.extensions.get::<Layout>().cloned().unwrap_or_default();
    layout.user = Some(LayoutUser::of(&caller));
    layout.oncall = app.oncall.header(jiff::Timestamp::now());
    if !caller.role.allows(required) {
        let mut response = AppError::Forbidden { have: caller.role, need: required }.into_response();
        response.extensions_mut().insert(layout);
        return response;
    }
    if caller.user.must_change_password
        && caller.session_id().is_some()
        && !PASSWORD_CHANGE_PATHS.contains(&parts.uri.path())
    {
        return Redirect::to("/account/password").into_response();
    }

    let body = if let (Via::Session { csrf_token, .. }, false) = (&caller.via, is_safe(&parts.method)) {
        match check_csrf_token(&parts.headers, body, csrf_token, app.config.body_limit).await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        }
    } else {
        body
    };

    if !api && is_safe(&parts.method) && caller.role.allows(twisterlab_domain::role::Role::Manager) {
        // One count over a partial index; a failure only hides the badge.
        layout.unreviewed_escalations = crate::db::escalations::unreviewed_count(&app.pool).await.ok();
    }
    if parts.extensions.get::<Layout>().is_some() {
        parts.extensions.insert(layout.clone());
    }
    parts.extensions.insert(caller);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if response.status().is_client_error() && response.extensions().get::<Layout>().is_none() {
        response.extensions_mut().insert(layout);
    }
    // What a signed-in caller sees is theirs: no shared or browser cache keeps it (the back
    // button after sign-out, a proxy).
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Unknown addresses: 404, with the menu and the signed-in user when a session cookie names one
/// (the API's 404 stays plain problem+json).
pub(crate) async fn not_found(request: Request) -> Response {
    let mut response = AppError::NotFound.into_response();
    let Some(app) = request.extensions().get::<AppState>().cloned() else { return response };
    let (parts, _) = request.into_parts();
    if parts.uri.path().starts_with("/api/") {
        return response;
    }
    let meta = RequestMeta::from_parts(&parts, &app.config.trusted_proxies);
    if let Ok(Some(caller)) = authenticate(&app, &parts.headers, false, &meta).await
        && let Some(mut layout) = parts.extensions.get::<Layout>().cloned()
    {
        layout.user = Some(LayoutUser::of(&caller));
        layout.oncall = app.oncall.header(jiff::Timestamp::now());
        response.extensions_mut().insert(layout);
    }
    response
}

/// Finds the caller: a bearer token for the API, the session cookie for pages.
async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    api: bool,
    meta: &RequestMeta,
) -> Result<Option<CurrentUser>, AppError> {
    if api {
        let Some(token) = bearer(headers) else { return Ok(None) };
        let Some(found) = api_tokens::find_live(&app.pool, &token::digest(token)).await? else {
            return Ok(None);
        };
        let Some(user) = users::find(&app.pool, found.user_id).await?.filter(|u| u.active) else {
            return Ok(None);
        };
        let role = found.role.min(user.role);
        let actor = Actor {
            user_id: Some(user.id),
            label: format!("{} (token {})", user.email, found.name),
            client_addr: meta.client_addr.clone(),
            request_id: meta.request_id.clone(),
        };
        return Ok(Some(CurrentUser { user, role, via: Via::Token { name: found.name }, actor }));
    }
    let secure = app.config.cookies_secure();
    let Some(token) = cookie(headers, session_cookie_name(secure)).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let idle = i64::try_from(app.config.session_idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let Some(session) = sessions::find_live(&app.pool, &token::digest(token), idle).await? else {
        return Ok(None);
    };
    let Some(user) = users::find(&app.pool, session.user_id).await?.filter(|u| u.active) else {
        return Ok(None);
    };
    let actor = Actor {
        user_id: Some(user.id),
        label: user.email.clone(),
        client_addr: meta.client_addr.clone(),
        request_id: meta.request_id.clone(),
    };
    Ok(Some(CurrentUser {
        role: user.role,
        user,
        via: Via::Session { id: session.id, csrf_token: session.csrf_token },
        actor,
    }))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Origin/Referer check (OWASP's defence in depth beside the token): a state-changing browser
/// request must come from a page of this same host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let source =
        headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|v| v.to_str().ok());
    match source {
        // Non-browser clients send neither; the synchronizer token still applies to them.
        None => true,
        Some("null") => false,
        Some(url) => url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host)),
    }
}

/// Checks the synchronizer token from the `x-csrf-token` header or the form's `csrf_token`
/// field, and hands the (buffered) body on.
async fn check_csrf_token(
    headers: &HeaderMap,
    body: Body,
    expected: &str,
    limit: usize,
) -> Result<Body, AppError> {
    if let Some(sent) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if token::constant_time_eq(sent, expected) { Ok(body) } else { Err(AppError::CsrfRejected) };
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::CsrfRejected);
    }
    let bytes = to_bytes(body, limit).await.map_err(|_| AppError::PayloadTooLarge)?;
    let sent = form_urlencoded_value(&bytes, "csrf_token");
    match sent {
        Some(sent) if token::constant_time_eq(&sent, expected) => Ok(Body::from(bytes)),
        _ => Err(AppError::CsrfRejected),
    }
}

/// The first value of `key` in an `application/x-www-form-urlencoded` body.
pub fn form_urlencoded_value(body: &[u8], key: &str) -> Option<String> {
    body.split(|b| *b == b'&').filter(|p| !p.is_empty()).find_map(|pair| {
        let mut it = pair.splitn(2, |b| *b == b'=');
        let k = percent_decode(it.next().unwrap_or_default());
        (k == key).then(|| percent_decode(it.next().unwrap_or_default()))
    })
}

fn percent_decode(input: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a value for a query string.
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A `next` target after sign-in: only local paths, never another site (`//evil`, `/\\evil`,
/// and `/\t/evil`, which browsers read as `//evil` once they drop the tab). Only visible ASCII
/// without backslashes is accepted; a real path arrives percent-encoded anyway.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Adds `Set-Cookie` to a response.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_posts_do_not() {
        assert!(same_origin(&headers(&[("host", "ops.example"), ("origin", "https://ops.example")])));
        assert!(same_origin(&headers(&[
            ("host", "ops.example"),
            ("referer", "https://ops.example/incidents?x=1")
        ])));
        assert!(!same_origin(&headers(&[("host", "ops.example"), ("origin", "https://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "ops.example"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("host", "ops.example"), ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[
            ("host", "ops.example"),
            ("origin", "https://ops.example.evil.com")
        ])));
    }

    #[test]
    fn the_client_is_the_right_most_hop_outside_the_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.244.0.0/16".parse().expect("cidr")];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let ingress = ip("10.244.3.4");
        assert_eq!(client_addr(ingress, &["203.0.113.9"], &trusted), ip("203.0.113.9"));
        assert_eq!(
            client_addr(ingress, &["6.6.6.6", " 203.0.113.9"], &trusted),
            ip("203.0.113.9"),
            "a forged hop"
        );
        assert_eq!(
            client_addr(ingress, &["203.0.113.9", "10.244.9.9"], &trusted),
            ip("203.0.113.9"),
            "two proxies"
        );
        assert_eq!(client_addr(ingress, &["junk", "10.244.9.9"], &trusted), ip("10.244.9.9"));
        assert_eq!(client_addr(ingress, &[], &trusted), ingress);
        assert_eq!(
            client_addr(ip("198.51.100.1"), &["203.0.113.9"], &trusted),
            ip("198.51.100.1"),
            "not a proxy"
        );
        assert_eq!(client_addr(ip("::ffff:10.244.0.1"), &["[2001:db8::1]:443"], &trusted), ip("2001:db8::1"));
        assert_eq!(client_addr(ingress, &["203.0.113.9"], &[]), ingress, "no proxy configured");
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_urlencoded_value(b"a=1&csrf_token=ab%2Bc+d&b=2", "csrf_token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_urlencoded_value(b"a=1", "csrf_token"), None);
        assert_eq!(form_urlencoded_value(b"csrf_token=%zz%", "csrf_token").as_deref(), Some("%zz%"));
    }

    #[test]
    fn next_only_allows_local_paths() {
        assert_eq!(safe_next(Some("/incidents?x=1")), "/incidents?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn next_refuses_what_a_browser_would_read_as_another_site() {
        // `next=/%09/evil.example`: browsers drop the tab and go to //evil.example.
        for bad in
            ["/\t/evil.example", "/\n/evil.example", "/ /evil.example", "/\u{0}/x", "/a\\b", "/\u{200b}/evil"]
        {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/incidents/7?x=a%20b#t")), "/incidents/7?x=a%20b#t");
    }

    #[test]
    fn cookies_are_http_only_lax_and_host_prefixed_over_https() {
        let c = session_cookie("tok", true, 60);
        assert!(
            c.starts_with("__Host-twisterlab_session=tok;")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax")
                && c.contains("Secure")
                && c.contains("Path=/")
        );
        let c = session_cookie("tok", false, 60);
        assert!(c.starts_with("twisterlab_session=tok;") && !c.contains("Secure"));
    }
}
