//! HTTP tests of the incident pages, exports and the SLA admin page, on a fresh database each.

use axum::http::{StatusCode, header};
use sqlx::PgPool;
use time::OffsetDateTime;
use twisterlab_domain::incident::IncidentNumber;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use super::service::{self, Declaration};
use crate::db::audit::Actor;
use crate::db::incidents::Incident;
use crate::db::users::{self, NewUser, User};
use crate::testing::{self, Browser, audit_actions, get, post_form, send};

const API_COMPONENT: &str = "0193a000-0000-7000-8000-000000000011";

fn actor(user: &User) -> Actor {
    Actor { user_id: Some(user.id), label: user.email.clone(), client_addr: None, request_id: None }
}

/// Declares straight through the service (fast set-up for list tests).
async fn declare_direct(
    pool: &PgPool,
    user: &User,
    title: &str,
    severity: Severity,
    started_minutes_ago: i64,
) -> Incident {
    let mut tx = pool.begin().await.expect("begin");
    let d = Declaration {
        title: title.into(),
        severity: Some(severity),
        started_at: Some(OffsetDateTime::now_utc() - time::Duration::minutes(started_minutes_ago)),
        ..Default::default()
    };
    let incident =
        service::declare(&mut tx, &actor(user), &jiff::tz::TimeZone::UTC, &d).await.expect("declare");
    tx.commit().await.expect("commit");
    incident
}

fn location(response: &axum::http::Response<axum::body::Body>) -> String {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Declares through the form; returns the incident's path (`/incidents/INC-n`).
async fn declare_via_form(app: &axum::Router, commander: &Browser, fields: &[(&str, &str)]) -> String {
    let (response, body) = send(app, post_form("/incidents", Some(commander), fields)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{body}");
    let to = location(&response);
    assert!(to.starts_with("/incidents/INC-"), "{to}");
    to
}

/// The `version` hidden field of the first form on the page.
fn version_on(html: &str) -> String {
    let at =
        html.find("name=\"version\" value=\"").expect("a version field") + "name=\"version\" value=\"".len();
    html[at..].split('"').next().expect("value").to_owned()
}

async fn incident_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from incidents").fetch_one(pool).await.expect("count")
}

fn number_of(path: &str) -> IncidentNumber {
    path.trim_start_matches("/incidents/")
        .split('#')
        .next()
        .expect("number")
        .parse()
        .expect("an incident number")
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn every_page_renders_for_a_viewer(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "Checkout is slow"), ("severity", "P2"), ("summary", "**Slow** checkout")],
    )
    .await;
    let n = number_of(&path);

    let (response, html) = send(&app, get("/incidents", Some(&viewer))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert!(
        html.contains(&n.to_string())
            && html.contains("Checkout is slow")
            && html.contains("P2</span> major"),
        "{html}"
    );
    assert!(html.contains("aria-current=\"page\">Incidents<"), "the navigation marks Incidents: {html}");
    assert!(!html.contains("Declare an incident"), "viewers are not offered the declare form: {html}");

    for p in [path.clone(), format!("/incidents/{}", n.get())] {
        let (response, html) = send(&app, get(&p, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{p}: {html}");
        assert!(
            html.contains("Checkout is slow") && html.contains("<strong>Slow</strong> checkout"),
            "{html}"
        );
        assert!(html.contains("ack due in") && html.contains("escalates in"), "{html}");
        assert!(html.contains("Declared as P2") && html.contains("id=\"e-"), "{html}");
        assert!(
            !html.contains("/acknowledge\"") && !html.contains("/notes\""),
            "viewers see no actions: {html}"
        );
    }

    let (response, _) = send(&app, get("/incidents/new", Some(&viewer))).await;
    assert_eq!(response.status(), 403);
    let (response, html) = send(&app, get("/incidents/INC-999999", Some(&viewer))).await;
    assert_eq!(response.status(), 404, "{html}");
    assert!(html.contains("INC-999999 does not exist"), "{html}");
    let (response, _) = send(&app, get("/incidents/not-a-number", Some(&viewer))).await;
    assert_eq!(response.status(), 404);

    let (response, html) = send(&app, get("/incidents/new", Some(&commander))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("system down")
            && html.contains("acknowledge within 15 min, escalate to a manager after 30 min"),
        "{html}"
    );
    assert!(
        html.contains(&format!("value=\"{}\" selected", commander.user.id)),
        "the commander defaults to me: {html}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn each_action_is_refused_to_roles_below_it(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let other_responder = testing::signed_in(&pool, Role::Responder).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(&app, &commander, &[("title", "Queue backlog"), ("severity", "P3")]).await;

    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&viewer), &[])).await;
    assert_eq!(response.status(), 403, "viewers cannot acknowledge");
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&responder), &[("severity", "P1")])).await;
    assert_eq!(response.status(), 403, "responders cannot change severity");
    for action in ["status", "roles", "updates", "components", "links", "resolve", "reopen"] {
        let (response, _) = send(&app, post_form(&format!("{path}/{action}"), Some(&responder), &[])).await;
        assert_eq!(response.status(), 403, "responders cannot {action}");
    }
    let (response, _) =
        send(&app, post_form("/incidents", Some(&responder), &[("title", "x"), ("severity", "P1")])).await;
    assert_eq!(response.status(), 403, "responders cannot declare");

    // A responder notes and acknowledges, and corrects only their own notes.
    let (response, body) = send(
        &app,
        post_form(&format!("{path}/notes"), Some(&responder), &[("body", "Looking at the consumers")]),
    )
    .await;
    assert_eq!(response.status(), 303, "{body}");
    let note_anchor = location(&response);
    let note_id = note_anchor.rsplit("#e-").next().expect("anchor").to_owned();
    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&responder), &[])).await;
    assert_eq!(response.status(), 303);

    let correct = format!("{path}/events/{note_id}/correct");
    let (response, html) =
        send(&app, post_form(&correct, Some(&other_responder), &[("body", "not mine")])).await;
    assert_eq!(response.status(), 403, "{html}");
    assert!(html.contains("their own notes"), "{html}");
    let (response, _) =
        send(&app, post_form(&correct, Some(&responder), &[("body", "Looking at the *producers*")])).await;
    assert_eq!(response.status(), 303);
    let (response, _) =
        send(&app, post_form(&correct, Some(&commander), &[("body", "Commander's correction")])).await;
    assert_eq!(response.status(), 303, "commanders correct anyone's notes");

    let (_, html) = send(&app, get(&path, Some(&other_responder))).await;
    assert!(html.contains("Corrected below") && html.contains("correction of the note by"), "{html}");
    assert!(html.contains("<em>producers</em>"), "{html}");
    let (_, html) = send(&app, get(&path, Some(&responder))).await;
    assert!(html.contains("/correct\""), "the author is offered a correct form: {html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn declaring_with_every_field_and_a_backdated_start_shows_the_overdue_ack(pool: PgPool) {
    let app = testing::app(&pool);
    let me = testing::signed_in(&pool, Role::Commander).await;
    let other = testing::signed_in(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let zone = jiff::tz::TimeZone::UTC;
    let started = crate::clock::to_jiff(OffsetDateTime::now_utc() - time::Duration::minutes(40))
        .to_zoned_datetime(zone.clone());
    let detected = crate::clock::to_jiff(OffsetDateTime::now_utc() - time::Duration::minutes(30))
        .to_zoned_datetime(zone);
    let started = started.strftime("%Y-%m-%dT%H:%M").to_string();
    let detected = detected.strftime("%Y-%m-%dT%H:%M").to_string();
    let impact_field = format!("impact_{API_COMPONENT}");
    let commander_id = other.user.id.to_string();
    let path = declare_via_form(
        &app,
        &me,
        &[
            ("title", "Login tokens leaked in logs"),
            ("severity", "P1"),
            ("summary", "Tokens were written to the *access log*."),
            ("started_at", &started),
            ("detected_at", &detected),
            ("security", "on"),
            (&impact_field, "partial_outage"),
            ("impact_0193a000-0000-7000-8000-000000000015", ""),
            ("labels", "security, logging , security"),
            ("commander", &commander_id),
        ],
    )
    .await;

    let (_, html) = send(&app, get(&path, Some(&viewer))).await;
    assert!(
        html.contains("Login tokens leaked in logs")
            && html.contains("security incident")
            && html.contains("private: not on the status page"),
        "{html}"
    );
    assert!(html.contains("API <span class=\"state state-partial_outage\">partial outage</span>"), "{html}");
    assert!(
        html.contains("<span class=\"tag\">logging</span>")
            && html.contains("<span class=\"tag\">security</span>"),
        "{html}"
    );
    assert!(
        html.contains("ack overdue by 2"),
        "40 minutes after the start, a P1 ack is 25 minutes late: {html}"
    );
    let n = number_of(&path);
    let (commander_id, private, started_at): (Option<uuid::Uuid>, bool, OffsetDateTime) =
        sqlx::query_as("select commander_id, private, started_at from incidents where number = $1")
            .bind(n.get())
            .fetch_one(&pool)
            .await
            .expect("the incident");
    assert_eq!(commander_id, Some(other.user.id));
    assert!(private, "security incidents default to private");
    assert_eq!(crate::clock::to_jiff(started_at).strftime("%Y-%m-%dT%H:%M").to_string(), started);

    let (_, html) = send(&app, get("/incidents", Some(&viewer))).await;
    assert!(html.contains("ack overdue by"), "{html}");
    assert!(html.contains("escalation due") || html.contains("escalates in"), "{html}");
    assert_eq!(audit_actions(&pool, "incident.declare").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_declarations_rerender_the_form_and_write_nothing(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "  "), ("severity", "P1"), ("summary", "kept <as typed>")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"title-error\">the title is empty"), "{html}");
    assert!(
        html.contains("kept &#60;as typed&#62;") || html.contains("kept &lt;as typed&gt;"),
        "what was typed stays: {html}"
    );

    let long = "x".repeat(10_000);
    let (response, html) =
        send(&app, post_form("/incidents", Some(&commander), &[("title", &long), ("severity", "P1")])).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("10000 characters long; the limit is 200"), "{html}");

    let (response, html) =
        send(&app, post_form("/incidents", Some(&commander), &[("title", "Fine"), ("severity", "P9")])).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"severity-error\">unknown severity"), "{html}");

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "Fine"), ("severity", "P1"), ("started_at", "yesterday")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"started_at-error\""), "{html}");

    let (response, html) = send(
        &app,
        post_form(
            "/incidents",
            Some(&commander),
            &[("title", "Fine"), ("severity", "P1"), (&format!("impact_{API_COMPONENT}"), "on_fire")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"components-error\""), "{html}");

    assert_eq!(incident_count(&pool).await, 0);
    assert!(audit_actions(&pool, "incident.declare").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn refused_actions_explain_themselves_with_409(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let rival = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Cache evictions"), ("severity", "P2")]).await;

    let (response, _) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("already acknowledged") && html.contains(&format!("href=\"{path}\"")), "{html}");

    // A stale page: the rival changes severity after we loaded the page.
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    let version = version_on(&html);
    let (response, _) =
        send(&app, post_form(&format!("{path}/severity"), Some(&rival), &[("severity", "P1")])).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/status"),
            Some(&commander),
            &[("status", "identified"), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), 409, "{html}");
    assert!(
        html.contains("changed since you loaded it") && html.contains("changed severity P2 → P1"),
        "{html}"
    );
    let (response, html) = send(
        &app,
        post_form(
            &format!("{path}/components"),
            Some(&commander),
            &[("component", API_COMPONENT), ("impact", "major_outage"), ("version", &version)],
        ),
    )
    .await;
    assert_eq!(response.status(), 409, "{html}");
    assert!(html.contains("changed severity P2 → P1"), "{html}");
    let (response, _) =
        send(&app, post_form(&format!("{path}/status"), Some(&commander), &[("status", "bogus")])).await;
    assert_eq!(response.status(), 422);

    let (response, _) = send(&app, post_form(&format!("{path}/resolve"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 303);
    let (response, html) = send(&app, post_form(&format!("{path}/acknowledge"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 409);
    assert!(html.contains("is resolved"), "{html}");
    let (response, _) = send(&app, post_form(&format!("{path}/reopen"), Some(&commander), &[])).await;
    assert_eq!(response.status(), 303);
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("Reopened as investigating"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_five_megabyte_note_is_refused_whole(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let path = declare_via_form(&app, &commander, &[("title", "Big note"), ("severity", "P3")]).await;
    let huge = "a".repeat(5 * 1024 * 1024);
    let (response, _) =
        send(&app, post_form(&format!("{path}/notes"), Some(&commander), &[("body", &huge)])).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let long = "b".repeat(service::MAX_BODY + 1);
    let (response, html) =
        send(&app, post_form(&format!("{path}/notes"), Some(&commander), &[("body", &long)])).await;
    assert_eq!(response.status(), 422, "{html}");
    assert!(
        html.contains("Use at most 20000 characters") && html.contains(&format!("href=\"{path}\"")),
        "{html}"
    );
    assert!(audit_actions(&pool, "incident.note").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn free_text_never_becomes_markup_or_script_links(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let hash = testing::password_hash().await;
    let evil = users::insert(
        &pool,
        &NewUser {
            email: "evil@twisterlab.test",
            display_name: "<script>alert('name')</script>",
            role: Role::Responder,
            password_hash: &hash,
            must_change_password: false,
        },
    )
    .await
    .expect("insert")
    .expect("new");
    let script = "<script>alert(1)</script>";
    let path = declare_via_form(
        &app,
        &commander,
        &[
            ("title", script),
            ("severity", "P2"),
            ("summary", "<script>alert(2)</script> [x](javascript:alert(3))"),
            ("labels", "<script>alert(4)</script>"),
        ],
    )
    .await;
    for (action, fields) in [
        (
            "notes",
            vec![("body", "<script>alert(5)</script> [y](javascript:alert(6)) <img src=x onerror=alert(7)>")],
        ),
        ("updates", vec![("body", "<script>alert(8)</script> [z](JavaScript:alert(9))")]),
        (
            "links",
            vec![
                ("kind", "grafana"),
                ("url", "https://grafana.twisterlab.local/d/api"),
                ("label", "<script>alert(10)</script>"),
            ],
        ),
    ] {
        let (response, body) =
            send(&app, post_form(&format!("{path}/{action}"), Some(&commander), &fields)).await;
        assert_eq!(response.status(), 303, "{action}: {body}");
    }
    let (response, _) = send(
        &app,
        post_form(
            &format!("{path}/links"),
            Some(&commander),
            &[("kind", "other"), ("url", "javascript:alert(11)")],
        ),
    )
    .await;
    assert_eq!(response.status(), 422, "javascript: links are refused");
    let evil_id = evil.id.to_string();
    let (response, _) = send(
        &app,
        post_form(&format!("{path}/roles"), Some(&commander), &[("role", "scribe"), ("user", &evil_id)]),
    )
    .await;
    assert_eq!(response.status(), 303);

    for page in [path.clone(), "/incidents".into(), format!("{path}?kind=note")] {
        let (_, html) = send(&app, get(&page, Some(&commander))).await;
        assert!(!html.contains("<script>") && !html.contains("<img src=x"), "{page}: {html}");
        assert!(!html.to_ascii_lowercase().contains("href=\"javascript:"), "{page}: {html}");
        assert!(
            html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
            "shown as text: {html}"
        );
    }
    let (_, html) = send(&app, get(&path, Some(&commander))).await;
    assert!(html.contains("href=\"https://grafana.twisterlab.local/d/api\""), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_list_filters_and_pages_without_gaps_or_duplicates(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::user(&pool, Role::Commander).await;
    let other = testing::user(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let mut numbers = vec![];
    for i in 0..30i64 {
        let severity = Severity::ALL[usize::try_from(i % 4).expect("small")];
        let owner = if i % 5 == 0 { &other } else { &commander };
        let title = if i == 7 {
            "Replication lag on the database".to_owned()
        } else {
            format!("Incident number {i}")
        };
        let incident = declare_direct(&pool, owner, &title, severity, 60 + i * 10).await;
        if i % 3 == 0 {
            let mut tx = pool.begin().await.expect("begin");
            service::resolve(&mut tx, &actor(owner), incident.number, None).await.expect("resolve");
            tx.commit().await.expect("commit");
        }
        numbers.push(incident.number.get());
    }

    // Page through 7 at a time.
    let mut seen: Vec<String> = vec![];
    let mut next = Some("/incidents?limit=7".to_owned());
    let mut pages = 0;
    while let Some(url) = next.take() {
        let (response, html) = send(&app, get(&url, Some(&viewer))).await;
        assert_eq!(response.status(), 200, "{url}: {html}");
        for chunk in html.split("<td><a href=\"/incidents/").skip(1) {
            seen.push(chunk.split('"').next().expect("number").to_owned());
        }
        next = html.find("\" rel=\"next\"").map(|end| {
            let start = html[..end].rfind("href=\"").expect("the next link's href") + "href=\"".len();
            html[start..end].replace("&#38;", "&").replace("&amp;", "&")
        });
        pages += 1;
        assert!(pages < 10, "pagination never ends");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 30, "{seen:?}");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 30, "no duplicates: {seen:?}");
    // Open first (i % 3 != 0), each group newest first (smaller i started later).
    let expected: Vec<String> = (0..30i64)
        .filter(|i| i % 3 != 0)
        .chain((0..30i64).filter(|i| i % 3 == 0))
        .map(|i| format!("INC-{}", numbers[usize::try_from(i).expect("small")]))
        .collect();
    assert_eq!(seen, expected);

    let count = |html: &str| html.matches("<td><a href=\"/incidents/").count();
    let (_, html) = send(&app, get("/incidents?severity=P1&limit=200", Some(&viewer))).await;
    assert_eq!(count(&html), 8, "{html}");
    assert!(!html.contains("P0</span>"), "{html}");
    let (_, html) = send(&app, get("/incidents?status=resolved", Some(&viewer))).await;
    assert_eq!(count(&html), 10);
    let (_, html) = send(&app, get("/incidents?status=open", Some(&viewer))).await;
    assert_eq!(count(&html), 20);
    let (_, html) = send(&app, get(&format!("/incidents?commander={}", other.id), Some(&viewer))).await;
    assert_eq!(count(&html), 6);
    let (_, html) = send(&app, get("/incidents?q=replication", Some(&viewer))).await;
    assert_eq!(count(&html), 1, "{html}");
    assert!(html.contains("Replication lag"), "{html}");
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let yesterday = today.yesterday().expect("a date");
    let (_, html) =
        send(&app, get(&format!("/incidents?from={yesterday}&until={today}&limit=100"), Some(&viewer))).await;
    assert_eq!(count(&html), 30, "{html}");
    let (_, html) = send(&app, get("/incidents?from=2001-01-01&until=2001-01-02", Some(&viewer))).await;
    assert_eq!(count(&html), 0);
    assert!(html.contains("No incident matches these filters"), "{html}");

    for (query, field) in [
        ("severity=P9", "severity"),
        ("status=sleeping", "status"),
        ("commander=bob", "commander"),
        ("from=yesterday", "from"),
        ("after=garbage", "after"),
        ("limit=0", "limit"),
        ("from=2026-02-02&until=2026-01-01", "until"),
    ] {
        let (response, html) = send(&app, get(&format!("/incidents?{query}"), Some(&viewer))).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(
            html.contains(&format!("id=\"{field}-error\""))
                || html.contains(&format!("<strong>{field}</strong>")),
            "{query}: {html}"
        );
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_empty_list_says_why(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let (response, html) = send(&app, get("/incidents", Some(&commander))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("No incidents have been declared yet") && html.contains("href=\"/incidents/new\""),
        "{html}"
    );
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn exports_hold_every_step_in_order(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let path = declare_via_form(
        &app,
        &commander,
        &[("title", "API database connections exhausted"), ("severity", "P1")],
    )
    .await;
    let steps: [(&str, Vec<(&str, &str)>); 3] = [
        ("acknowledge", vec![]),
        ("updates", vec![("body", "Investigating elevated API errors"), ("status", "investigating")]),
        ("resolve", vec![]),
    ];
    for (action, fields) in steps {
        let (response, body) =
            send(&app, post_form(&format!("{path}/{action}"), Some(&commander), &fields)).await;
        assert_eq!(response.status(), 303, "{action}: {body}");
    }
    let n = number_of(&path);

    let (response, md) = send(&app, get(&format!("{path}/timeline.md"), Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/markdown"));
    assert_eq!(
        response.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{n}-timeline.md\"")
    );
    assert!(md.starts_with(&format!("# {n}: API database connections exhausted")), "{md}");
    assert!(
        md.contains("| Severity | P1 (critical feature) |") && md.contains("- Response (acknowledge): met"),
        "{md}"
    );
    let positions: Vec<usize> = [
        "· Declared ·",
        "· Acknowledged ·",
        "· Public update ·",
        "Investigating elevated API errors",
        "· Resolved ·",
    ]
    .iter()
    .map(|s| md.find(s).unwrap_or_else(|| panic!("{s} missing from {md}")))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order: {positions:?}\n{md}");

    let (response, json) =
        send(&app, get(&format!("/incidents/{}/timeline.json", n.get()), Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("the JSON export parses");
    assert_eq!(doc["incident"]["reference"], n.to_string());
    assert_eq!(doc["incident"]["status"], "resolved");
    let kinds: Vec<&str> =
        doc["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    let order = ["declared", "acknowledged", "public_update", "resolved"];
    let idx: Vec<usize> =
        order.iter().map(|k| kinds.iter().position(|x| x == k).expect("kind present")).collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{kinds:?}");

    let (response, _) = send(&app, get("/incidents/INC-424242/timeline.md", Some(&viewer))).await;
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_timeline_filters_by_kind_and_actor(pool: PgPool) {
    let app = testing::app(&pool);
    let commander = testing::signed_in(&pool, Role::Commander).await;
    let responder = testing::signed_in(&pool, Role::Responder).await;
    let path = declare_via_form(&app, &commander, &[("title", "Agents stuck"), ("severity", "P2")]).await;
    let (response, _) =
        send(&app, post_form(&format!("{path}/notes"), Some(&responder), &[("body", "Restarted agent-7")]))
            .await;
    assert_eq!(response.status(), 303);

    let (_, html) = send(&app, get(&format!("{path}?kind=note"), Some(&commander))).await;
    assert!(html.contains("Restarted agent-7") && !html.contains("Declared as P2"), "{html}");
    let (_, html) = send(&app, get(&format!("{path}?actor={}", commander.user.id), Some(&commander))).await;
    assert!(!html.contains("Restarted agent-7") && html.contains("Declared as P2"), "{html}");
    let (response, html) = send(&app, get(&format!("{path}?kind=party"), Some(&commander))).await;
    assert_eq!(response.status(), 400);
    assert!(html.contains("kind"), "{html}");
    let (response, _) = send(&app, get(&format!("{path}?actor=someone"), Some(&commander))).await;
    assert_eq!(response.status(), 400);
}

fn sla_form<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("response_P0", "5"),
        ("escalation_P0", "immediately"),
        ("response_P1", "15"),
        ("escalation_P1", "after"),
        ("escalation_minutes_P1", "30"),
        ("response_P2", "60"),
        ("escalation_P2", "after"),
        ("escalation_minutes_P2", "120"),
        ("response_P3", "240"),
        ("escalation_P3", "next_business_day"),
        ("days", "1"),
        ("days", "2"),
        ("days", "3"),
        ("days", "4"),
        ("days", "5"),
        ("opens", "09:00"),
        ("closes", "17:00"),
    ];
    for (k, v) in overrides {
        fields.retain(|(key, _)| key != k);
        fields.push((k, v));
    }
    fields
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn admins_edit_the_sla_policy_and_new_incidents_follow_it(pool: PgPool) {
    let app = testing::app(&pool);
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let manager = testing::signed_in(&pool, Role::Manager).await;

    let (response, html) = send(&app, get("/admin/sla", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("declared from now on") && html.contains("value=\"15\""), "{html}");
    let (response, _) = send(&app, get("/admin/sla", Some(&manager))).await;
    assert_eq!(response.status(), 403);

    for (overrides, field) in [
        (vec![("response_P1", "0")], "response_P1"),
        (vec![("response_P1", "abc")], "response_P1"),
        (vec![("response_P2", "20000")], "response_P2"),
        (vec![("escalation_minutes_P1", "-5")], "escalation_P1"),
        (vec![("escalation_P0", "sometimes")], "escalation_P0"),
        (vec![("opens", "18:00")], "closes"),
        (vec![("opens", "9 o'clock")], "opens"),
    ] {
        let (response, html) = send(&app, post_form("/admin/sla", Some(&admin), &sla_form(&overrides))).await;
        assert_eq!(response.status(), 422, "{overrides:?}");
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{overrides:?}: {html}");
    }
    let mut no_days = sla_form(&[]);
    no_days.retain(|(k, _)| *k != "days");
    let (response, html) = send(&app, post_form("/admin/sla", Some(&admin), &no_days)).await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("id=\"days-error\""), "{html}");
    assert!(audit_actions(&pool, "sla.update").await.is_empty(), "nothing saved");

    let (response, _) = send(
        &app,
        post_form(
            "/admin/sla",
            Some(&admin),
            &sla_form(&[("response_P1", "7"), ("escalation_minutes_P1", "45"), ("closes", "18:30")]),
        ),
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/sla?notice=saved");
    let rows = audit_actions(&pool, "sla.update").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].before.as_ref().expect("before")["P1"]["response_minutes"], 15);
    assert_eq!(rows[0].after.as_ref().expect("after")["P1"]["response_minutes"], 7);
    assert_eq!(rows[0].after.as_ref().expect("after")["business_hours"]["closes"], "18:30");
    let (_, html) = send(&app, get("/admin/sla?notice=saved", Some(&admin))).await;
    assert!(
        html.contains("was saved") && html.contains("value=\"7\"") && html.contains("value=\"18:30\""),
        "{html}"
    );

    let commander = testing::user(&pool, Role::Commander).await;
    let incident = declare_direct(&pool, &commander, "After the policy change", Severity::P1, 0).await;
    assert_eq!((incident.respond_by - incident.started_at).whole_minutes(), 7);
    assert_eq!((incident.escalate_by - incident.started_at).whole_minutes(), 45);
}
