//! Every declared route against every role.
//!
//! The table comes from `app::routes()`, so a route added anywhere is checked here without
//! editing this file: anonymous callers, the role just below the minimum, the minimum role, a
//! state change without the CSRF token and one from another origin.

use std::fmt::Write as _;

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use crate::auth::{Access, RouteSpec, form_urlencoded_value, token};
use crate::db::api_tokens::{self, NewToken};
use crate::testing::{self, Browser, send};

/// `path` with each `{param}` replaced by a plausible value.
fn concrete_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else { break };
        let name = rest[start + 1..start + len].trim_start_matches('*');
        match name {
            "id" => out.push_str(&uuid::Uuid::new_v4().to_string()),
            "file" => out.push_str("app.css"),
            _ => out.push('1'),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// How the request proves who sends it.
enum Caller<'a> {
    Anonymous,
    Session { browser: &'a Browser, csrf: bool },
    Bearer(&'a str),
}

/// A request to `path` as a browser (`accept` text/html) or an API client would send it.
fn request(method: &Method, path: &str, accept: &str, caller: &Caller<'_>, origin: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::ACCEPT, accept)
        .header(header::HOST, "localhost");
    let mut body = String::new();
    match caller {
        Caller::Anonymous => {}
        Caller::Session { browser, csrf } => {
            builder = builder.header(header::COOKIE, &browser.cookie);
            if *csrf {
                body = format!("csrf_token={}", crate::auth::urlencode(&browser.csrf));
            }
        }
        Caller::Bearer(token) => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
    }
    if !is_safe(method) {
        builder = builder
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    builder.body(Body::from(body)).expect("request")
}

const SAME_ORIGIN: &str = "http://localhost";
const EVIL_ORIGIN: &str = "https://evil.example";

/// An API token for a new user with `role`, at `role`.
async fn bearer_for(pool: &PgPool, role: Role) -> String {
    let user = testing::user(pool, role).await;
    let secret = token::new_api_token();
    let new = NewToken {
        user_id: user.id,
        name: "route matrix",
        role,
        token_hash: &token::digest(&secret),
        prefix: &secret[..8],
        expires_at: None,
    };
    api_tokens::insert(pool, &new).await.expect("insert token").expect("new token name");
    secret
}

async fn audit_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log").fetch_one(pool).await.expect("count audit rows")
}

fn content_type(response: &Response<Body>) -> &str {
    response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn location(response: &Response<Body>) -> &str {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The role just below `role`, if any.
fn below(role: Role) -> Option<Role> {
    let i = Role::ALL.iter().position(|r| *r == role)?;
    i.checked_sub(1).map(|j| Role::ALL[j])
}

/// Checks one route; appends what is wrong to `failures`.
async fn check_route(pool: &PgPool, app: &axum::Router, spec: &RouteSpec, failures: &mut Vec<String>) {
    let method = &spec.method;
    let path = concrete_path(spec.path);
    let api = is_api(&path);
    let label = format!("{method} {} ({path}, {:?})", spec.path, spec.access);
    let mut fail = |what: String| failures.push(format!("{label}: {what}"));

    match spec.access {
        Access::Public => {
            // Public forms carry the pre-session double-submit pair a browser got with the form.
            let mut req = request(method, &path, "text/html", &Caller::Anonymous, SAME_ORIGIN);
            if !is_safe(method) {
                let secret = token::random_secret();
                req.headers_mut().insert(
                    header::COOKIE,
                    format!("twisterlab_login={secret}").parse().expect("cookie header"),
                );
                *req.body_mut() = Body::from(format!("csrf_token={secret}"));
            }
            let (response, body) = send(app, req).await;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                fail(format!("anonymous got {status}, expected a public answer: {body:.300}"));
            }
            if location(&response).starts_with("/login?next=") {
                fail("anonymous was sent to sign in, but the route is public".into());
            }
        }
        Access::Role(min) => {
            // Anonymous, as a browser.
            if !api {
                let req = request(method, &path, "text/html", &Caller::Anonymous, SAME_ORIGIN);
                let (response, _) = send(app, req).await;
                let next = location(&response)
                    .strip_prefix("/login?")
                    .and_then(|q| form_urlencoded_value(q.as_bytes(), "next"));
                if response.status() != StatusCode::SEE_OTHER || next.as_deref() != Some(path.as_str()) {
                    fail(format!(
                        "anonymous HTML got {} to {:?}, expected 303 to /login?next={path}",
                        response.status(),
                        location(&response)
                    ));
                }
            }
            // Anonymous, as an API client (and, for /api/, even when it asks for HTML).
            let accepts: &[&str] =
                if api { &["application/json", "text/html"] } else { &["application/json"] };
            for accept in accepts {
                let req = request(method, &path, accept, &Caller::Anonymous, SAME_ORIGIN);
                let (response, body) = send(app, req).await;
                if response.status() != StatusCode::UNAUTHORIZED
                    || !content_type(&response).starts_with("application/problem+json")
                {
                    fail(format!(
                        "anonymous with Accept {accept} got {} ({}), expected 401 problem+json: {body:.300}",
                        response.status(),
                        content_type(&response)
                    ));
                }
            }

            // The role just below the minimum.
            if let Some(lower) = below(min) {
                let (response, body) = if api {
                    let bearer = bearer_for(pool, lower).await;
                    send(
                        app,
                        request(method, &path, "application/json", &Caller::Bearer(&bearer), SAME_ORIGIN),
                    )
                    .await
                } else {
                    let browser = testing::signed_in(pool, lower).await;
                    let caller = Caller::Session { browser: &browser, csrf: true };
                    send(app, request(method, &path, "text/html", &caller, SAME_ORIGIN)).await
                };
                if response.status() != StatusCode::FORBIDDEN {
                    fail(format!("{lower} got {}, expected 403: {body:.300}", response.status()));
                }
            }

            // Exactly the minimum role.
            let (response, body) = if api {
                let bearer = bearer_for(pool, min).await;
                send(app, request(method, &path, "application/json", &Caller::Bearer(&bearer), SAME_ORIGIN))
                    .await
            } else {
                let browser = testing::signed_in(pool, min).await;
                let caller = Caller::Session { browser: &browser, csrf: true };
                send(app, request(method, &path, "text/html", &caller, SAME_ORIGIN)).await
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                fail(format!("{min} (the minimum) got {status}: {body:.300}"));
            }
        }
    }

    // State changes from a browser session: the token and the origin are both required.
    if !is_safe(method) && !api {
        let role = match spec.access {
            Access::Role(min) => min,
            Access::Public => Role::Viewer,
        };
        let before = audit_rows(pool).await;
        let browser = testing::signed_in(pool, role).await;
        let without_token = Caller::Session { browser: &browser, csrf: false };
        let (response, body) =
            send(app, request(method, &path, "text/html", &without_token, SAME_ORIGIN)).await;
        if response.status() != StatusCode::FORBIDDEN {
            fail(format!(
                "{role} without the CSRF token got {}, expected 403: {body:.300}",
                response.status()
            ));
        }
        let with_token = Caller::Session { browser: &browser, csrf: true };
        let (response, body) = send(app, request(method, &path, "text/html", &with_token, EVIL_ORIGIN)).await;
        if response.status() != StatusCode::FORBIDDEN {
            fail(format!(
                "{role} with the token but Origin {EVIL_ORIGIN} got {}, expected 403: {body:.300}",
                response.status()
            ));
        }
        let anonymous = Caller::Anonymous;
        let (response, _) = send(app, request(method, &path, "text/html", &anonymous, EVIL_ORIGIN)).await;
        if response.status() != StatusCode::FORBIDDEN {
            fail(format!("anonymous from Origin {EVIL_ORIGIN} got {}, expected 403", response.status()));
        }
        let after = audit_rows(pool).await;
        if after != before {
            fail(format!("rejected state changes wrote {} audit row(s)", after - before));
        }
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_route_enforces_its_role_csrf_and_origin(pool: PgPool) {
    let (specs, _) = crate::app::routes().into_parts();
    let declared = |method: Method, path: &str| specs.iter().any(|s| s.method == method && s.path == path);
    assert!(
        declared(Method::GET, "/login") && declared(Method::POST, "/login"),
        "the table has no sign-in: {specs:?}"
    );
    assert!(declared(Method::POST, "/logout"), "the table has no sign-out: {specs:?}");
    assert!(declared(Method::GET, "/"), "the table has no overview: {specs:?}");

    let app = testing::app(&pool);
    let mut failures = vec![];
    let mut summary = String::new();
    for spec in &specs {
        check_route(&pool, &app, spec, &mut failures).await;
        let _ = writeln!(summary, "  {:6} {:40} {:?}", spec.method.as_str(), spec.path, spec.access);
    }
    println!("route matrix: {} routes checked\n{summary}", specs.len());
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn routes_are_declared_once_each() {
    let (specs, _) = crate::app::routes().into_parts();
    let mut seen = std::collections::HashSet::new();
    let dupes: Vec<String> = specs
        .iter()
        .filter(|s| !seen.insert((s.method.clone(), s.path)))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(dupes.is_empty(), "declared twice: {dupes:?}");
}

#[test]
fn path_parameters_get_plausible_values() {
    let p = concrete_path("/incidents/{id}/notes/{note}");
    let id = p.trim_start_matches("/incidents/").split('/').next().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{p}");
    assert!(p.ends_with("/notes/1"), "{p}");
    assert_eq!(concrete_path("/static/{file}"), "/static/app.css");
    assert_eq!(concrete_path("/login"), "/login");
}

#[test]
fn the_role_below_follows_the_declared_order() {
    assert_eq!(below(Role::Viewer), None);
    assert_eq!(below(Role::Responder), Some(Role::Viewer));
    assert_eq!(below(Role::Admin), Some(Role::Manager));
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_matrix_notices_a_route_that_is_not_guarded_as_declared(pool: PgPool) {
    // Declared stricter than the router enforces: the checks must complain.
    let app = testing::app(&pool);
    let mut failures = vec![];
    let wrong = [
        RouteSpec { method: Method::GET, path: "/", access: Access::Role(Role::Admin) },
        RouteSpec { method: Method::GET, path: "/health", access: Access::Role(Role::Viewer) },
    ];
    for spec in &wrong {
        check_route(&pool, &app, spec, &mut failures).await;
    }
    assert!(failures.iter().any(|f| f.contains("GET / ") && f.contains("manager got 200")), "{failures:#?}");
    assert!(
        failures.iter().any(|f| f.contains("GET /health") && f.contains("anonymous HTML")),
        "{failures:#?}"
    );
}

/// A word only the private incident's title and summary contain.
const PRIVATE_WORD: &str = "zebracredentialleak";

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn viewers_and_viewer_tokens_never_read_a_private_incident_on_any_route(pool: PgPool) {
    let commander = testing::user(&pool, Role::Commander).await;
    let private = testing::builders::incident(&format!("Leaked {PRIVATE_WORD} keys"))
        .summary(&format!("The {PRIVATE_WORD} rotation"))
        .private(true)
        .by(&commander)
        .declare(&pool)
        .await;
    assert_eq!(private.number.get(), 1, "the matrix's paths name incident 1");
    let app = testing::app(&pool);
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let viewer_token = bearer_for(&pool, Role::Viewer).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;

    let (specs, _) = crate::app::routes().into_parts();
    let mut failures = vec![];
    let mut checked = 0;
    // The permalink of one of the private incident's own events: a made-up id would be a 404
    // for everyone and prove nothing.
    let event_id: uuid::Uuid =
        sqlx::query_scalar("select id from timeline_events where incident_id = $1 order by at limit 1")
            .bind(private.id)
            .fetch_one(&pool)
            .await
            .expect("the declared event");
    for spec in specs.iter().filter(|s| s.method == Method::GET && s.access == Access::Role(Role::Viewer)) {
        let path = if spec.path == "/incidents/{number}/events/{id}" {
            format!("/incidents/1/events/{event_id}")
        } else {
            concrete_path(spec.path)
        };
        let names_incident = spec.path.contains("incidents/{number}");
        // Lists are also searched for the private incident's words.
        let paths = if names_incident {
            vec![path.clone()]
        } else {
            vec![path.clone(), format!("{path}?q={PRIVATE_WORD}")]
        };
        for path in paths {
            let caller = if is_api(&path) {
                Caller::Bearer(&viewer_token)
            } else {
                Caller::Session { browser: &viewer, csrf: false }
            };
            let accept = if is_api(&path) { "application/json" } else { "text/html" };
            let (response, body) =
                send(&app, request(&Method::GET, &path, accept, &caller, SAME_ORIGIN)).await;
            checked += 1;
            // The search form shows the searched word back; the incident's own texts must not appear.
            if body.contains(&format!("Leaked {PRIVATE_WORD}"))
                || body.contains(&format!("{PRIVATE_WORD} rotation"))
            {
                failures.push(format!("GET {path}: the viewer read the private incident: {body:.300}"));
            }
            if names_incident && response.status() != StatusCode::NOT_FOUND {
                failures.push(format!("GET {path}: the viewer got {}, expected 404", response.status()));
            }
        }
        if names_incident && !is_api(&path) {
            let caller = Caller::Session { browser: &responder, csrf: false };
            let (response, _) =
                send(&app, request(&Method::GET, &path, "text/html", &caller, SAME_ORIGIN)).await;
            // A permalink answers with the way to the page that holds its event.
            let expected =
                if spec.path.ends_with("/events/{id}") { StatusCode::SEE_OTHER } else { StatusCode::OK };
            if response.status() != expected {
                failures.push(format!(
                    "GET {path}: the responder got {}, expected {expected}",
                    response.status()
                ));
            }
        }
    }
    // The responder still finds it by its words.
    let caller = Caller::Session { browser: &responder, csrf: false };
    let search = format!("/incidents?q={PRIVATE_WORD}");
    let (_, body) = send(&app, request(&Method::GET, &search, "text/html", &caller, SAME_ORIGIN)).await;
    if !body.contains(&format!("Leaked {PRIVATE_WORD}")) {
        failures.push(format!("the responder's search does not find the private incident: {body:.300}"));
    }
    assert!(checked > 6, "the walk checked too few routes ({checked})");
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}
