use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_domain::severity::Severity;

use crate::db::incidents::Incident;
use crate::testing::builders::incident;
use crate::testing::{TestApp, audit_actions, get, person, post_form, session_for};

const STATUS_HOST: &str = "status.twisterlab.local";

fn status_get(path: &str) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::HOST, STATUS_HOST)
        .body(Body::empty())
        .expect("request")
}

/// A public P1, resolved.
async fn resolved_p1(pool: &PgPool, title: &str) -> Incident {
    let inc = incident(title).severity(Severity::P1).private(false).declare(pool).await;
    sqlx::query("update incidents set status = 'resolved', acknowledged_at = now(), resolved_at = now() where id = $1")
        .bind(inc.id)
        .execute(pool)
        .await
        .expect("resolve");
    inc
}

async fn expect(app: &TestApp, req: Request<Body>, status: StatusCode) -> String {
    let (response, body) = app.send(req).await;
    assert_eq!(response.status(), status, "{body:.2000}");
    body
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_published_postmortem_shows_on_the_status_page_and_a_draft_or_one_in_review_never_does(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let worker = app.status_worker();
    let commander = app.signed_in(Role::Commander).await;
    let manager = app.signed_in(Role::Manager).await;
    let inc = resolved_p1(&pool, "Checkout down").await;
    let n = inc.number.get();
    let path = format!("/incidents/{n}/postmortem");

    let page = expect(&app, get(&format!("/incidents/{n}"), Some(&commander)), StatusCode::OK).await;
    assert!(page.contains("Postmortem due."), "a resolved P1 needs one");

    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;
    let event: uuid::Uuid =
        sqlx::query_scalar("select id from timeline_events where incident_id = $1 and kind = 'declared'")
            .bind(inc.id)
            .fetch_one(&pool)
            .await
            .expect("declared event");
    let event = event.to_string();
    expect(
        &app,
        post_form(
            &format!("{path}/save"),
            Some(&commander),
            &[
                ("summary", "Checkout failed for 40 minutes."),
                ("public_summary", "A bad deploy broke checkout; we added a canary."),
                ("event", &event),
            ],
        ),
        StatusCode::SEE_OTHER,
    )
    .await;
    expect(&app, post_form(&format!("{path}/submit"), Some(&commander), &[]), StatusCode::SEE_OTHER).await;

    // In review, no root cause: a manager cannot publish; a commander may not at all.
    expect(&app, post_form(&format!("{path}/publish"), Some(&commander), &[]), StatusCode::FORBIDDEN).await;
    let body = expect(
        &app,
        post_form(&format!("{path}/publish"), Some(&manager), &[]),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("id=\"root_cause-error\""), "{body:.2000}");

    worker.run_once().await.expect("rebuild");
    let id = inc.id;
    let (_, html) = app.send(status_get(&format!("/incidents/{id}"))).await;
    assert!(!html.contains("id=\"postmortem\""), "never a draft or one in review: {html:.1500}");
    let (_, json) = app.send(status_get("/api/v2/incidents.json")).await;
    assert!(!json.contains("postmortem_body"), "{json:.1500}");

    expect(
        &app,
        post_form(
            &format!("{path}/save"),
            Some(&commander),
            &[
                ("summary", "Checkout failed for 40 minutes."),
                ("root_cause", "A config flag flipped by the deploy."),
                ("public_summary", "A bad deploy broke checkout; we added a canary."),
                ("event", &event),
            ],
        ),
        StatusCode::SEE_OTHER,
    )
    .await;
    expect(&app, post_form(&format!("{path}/publish"), Some(&manager), &[]), StatusCode::SEE_OTHER).await;
    assert_eq!(audit_actions(&pool, "postmortem.publish").await.len(), 1);

    worker.run_once().await.expect("rebuild");
    let (_, html) = app.send(status_get(&format!("/incidents/{id}"))).await;
    let section = html.split("id=\"postmortem\"").nth(1).expect("the postmortem on the status page");
    assert!(section.contains("A bad deploy broke checkout; we added a canary."));
    assert!(!html.contains("config flag"), "only the public summary is public");
    let (_, json) = app.send(status_get("/api/v2/incidents.json")).await;
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    let found = doc["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .find(|i| i["id"] == id.to_string())
        .expect("listed");
    assert_eq!(found["status"], "postmortem");
    assert_eq!(found["postmortem_body"], "A bad deploy broke checkout; we added a canary.");

    let page = expect(&app, get(&format!("/incidents/{n}"), Some(&commander)), StatusCode::OK).await;
    assert!(!page.contains("Postmortem due."));
    let page = expect(&app, get(&path, Some(&commander)), StatusCode::OK).await;
    assert!(page.contains(&format!("/events/{event}\"")), "the excerpt links to the moment on the timeline");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_action_item_without_an_owner_is_a_field_error_and_an_overdue_one_shows_for_managers_and_its_owner(
    pool: PgPool,
) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let manager = app.signed_in(Role::Manager).await;
    let owner = session_for(&pool, person(&pool, "Olga", Role::Responder).await).await;
    let inc = resolved_p1(&pool, "Queue stuck").await;
    let path = format!("/incidents/{}/postmortem", inc.number.get());
    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;

    let body = expect(
        &app,
        post_form(
            &format!("{path}/actions"),
            Some(&commander),
            &[("title", "Alert on queue depth"), ("owner", ""), ("due_on", "2026-01-05")],
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("id=\"owner-error\""), "{body:.2000}");
    let body = expect(
        &app,
        post_form(
            &format!("{path}/actions"),
            Some(&commander),
            &[("title", "Alert"), ("owner", &uuid::Uuid::now_v7().to_string()), ("due_on", "2026-01-05")],
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("id=\"owner-error\""));
    let saved: i64 =
        sqlx::query_scalar("select count(*) from postmortem_actions").fetch_one(&pool).await.expect("count");
    assert_eq!(saved, 0, "nothing saved half-way");

    let owner_id = owner.user.id.to_string();
    expect(
        &app,
        post_form(
            &format!("{path}/actions"),
            Some(&commander),
            &[("title", "Alert on queue depth"), ("owner", &owner_id), ("due_on", "2020-01-06")],
        ),
        StatusCode::SEE_OTHER,
    )
    .await;
    let list = expect(&app, get("/postmortems/actions", Some(&manager)), StatusCode::OK).await;
    assert!(list.contains("Alert on queue depth") && list.contains("Olga"));
    expect(&app, get("/postmortems/actions", Some(&commander)), StatusCode::FORBIDDEN).await;
    let account = expect(&app, get("/account", Some(&owner)), StatusCode::OK).await;
    let mine = account.split("id=\"overdue-actions\"").nth(1).expect("on the owner's account page");
    assert!(mine.contains("Alert on queue depth"));
    let account = expect(&app, get("/account", Some(&manager)), StatusCode::OK).await;
    assert!(!account.contains("id=\"overdue-actions\""), "not someone else's");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_open_incident_has_no_postmortem_yet(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let inc = incident("Still burning").severity(Severity::P0).declare(&pool).await;
    let path = format!("/incidents/{}/postmortem", inc.number.get());
    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::CONFLICT).await;
    let page =
        expect(&app, get(&format!("/incidents/{}", inc.number.get()), Some(&commander)), StatusCode::OK)
            .await;
    assert!(!page.contains("Postmortem due."), "not before it is resolved");
}

/// Starts the latest version of `slug` on the incident as `by`.
async fn run_runbook(pool: &PgPool, by: &crate::db::users::User, slug: &str, inc: &Incident) {
    let mut tx = pool.begin().await.expect("begin");
    crate::runbooks::service::start_run(
        &mut tx,
        &crate::testing::actor(by),
        by.role,
        slug,
        crate::db::runbook_runs::Subject::Incident(inc.id),
    )
    .await
    .expect("started");
    tx.commit().await.expect("commit");
}

/// The checkboxes of the offered prevention steps: (title, checked).
fn offered(page: &str) -> Vec<(String, bool)> {
    let Some(section) = page.split("id=\"prevention\"").nth(1) else { return vec![] };
    let section = section.split("</section>").next().unwrap_or_default();
    section
        .split("name=\"prevention\" value=\"")
        .skip(1)
        .map(|rest| {
            let (title, after) = rest.split_once('"').expect("a value");
            (title.to_owned(), after.starts_with(" checked"))
        })
        .collect()
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_prevention_steps_of_the_runbook_run_are_offered_kept_and_the_kept_ones_become_action_items(
    pool: PgPool,
) {
    crate::runbooks::loader::load_shipped(&pool).await.expect("the shipped runbooks load");
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let owner = person(&pool, "Olga", Role::Responder).await;
    let inc = resolved_p1(&pool, "API slow").await;
    run_runbook(&pool, &commander.user, "high-api-latency", &inc).await;
    let path = format!("/incidents/{}/postmortem", inc.number.get());
    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;

    let page = expect(&app, get(&path, Some(&commander)), StatusCode::OK).await;
    let expected = [
        "Add database query monitoring",
        "Set query timeout limits",
        "Implement proper caching strategy",
        "Add indexes for frequently queried columns",
    ];
    let offers = offered(&page);
    assert_eq!(
        offers,
        expected.iter().map(|t| ((*t).to_owned(), true)).collect::<Vec<_>>(),
        "every prevention step of the run's runbook, kept until unchecked"
    );

    // No owner: a field error, the choice kept, nothing saved.
    let kept = [("prevention", expected[0]), ("prevention", expected[3])];
    let mut form = kept.to_vec();
    form.extend([("prevention_owner", ""), ("prevention_due_on", "2027-01-15")]);
    let body = expect(
        &app,
        post_form(&format!("{path}/actions/starting"), Some(&commander), &form),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("id=\"prevention_owner-error\""), "{body:.3000}");
    let checked: Vec<String> = offered(&body).into_iter().filter(|(_, c)| *c).map(|(t, _)| t).collect();
    assert_eq!(checked, [expected[0], expected[3]], "the unchecked steps stay unchecked");
    let saved: i64 =
        sqlx::query_scalar("select count(*) from postmortem_actions").fetch_one(&pool).await.expect("count");
    assert_eq!(saved, 0, "nothing saved half-way");

    // Nothing kept: a field error too.
    let owner_id = owner.id.to_string();
    let body = expect(
        &app,
        post_form(
            &format!("{path}/actions/starting"),
            Some(&commander),
            &[("prevention_owner", owner_id.as_str()), ("prevention_due_on", "2027-01-15")],
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("id=\"prevention-error\""), "{body:.3000}");

    let mut form = kept.to_vec();
    form.extend([("prevention_owner", owner_id.as_str()), ("prevention_due_on", "2027-01-15")]);
    expect(
        &app,
        post_form(&format!("{path}/actions/starting"), Some(&commander), &form),
        StatusCode::SEE_OTHER,
    )
    .await;
    let page = expect(&app, get(&path, Some(&commander)), StatusCode::OK).await;
    let items =
        page.split("id=\"action-items\"").nth(1).expect("action items").split("</ul>").next().expect("list");
    assert!(items.contains("Add database query monitoring · Olga · due 2027-01-15"), "{items}");
    assert!(items.contains("Add indexes for frequently queried columns · Olga · due 2027-01-15"), "{items}");
    assert!(!items.contains("Set query timeout limits"), "a removed step is no action item");
    let still: Vec<String> = offered(&page).into_iter().map(|(t, _)| t).collect();
    assert_eq!(still, [expected[1], expected[2]], "what became an action item is not offered again");
    assert_eq!(audit_actions(&pool, "postmortem.action.add").await.len(), 2);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_runbook_picked_from_the_list_offers_its_prevention_steps_when_none_ran(pool: PgPool) {
    crate::runbooks::loader::load_shipped(&pool).await.expect("the shipped runbooks load");
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let viewer = app.signed_in(Role::Viewer).await;
    let inc = resolved_p1(&pool, "Connections gone").await;
    let path = format!("/incidents/{}/postmortem", inc.number.get());
    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;

    let page = expect(&app, get(&path, Some(&commander)), StatusCode::OK).await;
    assert!(page.contains("No runbook ran on this incident"), "{page:.3000}");
    assert!(page.contains("<option value=\"database-connection-exhaustion\">"), "the pick list");
    assert!(offered(&page).is_empty());

    let picked = format!("{path}?runbook=database-connection-exhaustion");
    let page = expect(&app, get(&picked, Some(&commander)), StatusCode::OK).await;
    let titles: Vec<String> = offered(&page).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        titles,
        [
            "Set aggressive connection timeouts",
            "Monitor connection pool usage",
            "Use connection pooling (PgBouncer)"
        ]
    );
    let page = expect(&app, get(&picked, Some(&viewer)), StatusCode::OK).await;
    assert!(!page.contains("id=\"prevention\""), "only those who write the postmortem are offered items");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn each_postmortem_state_change_is_an_event_on_the_incident_timeline(pool: PgPool) {
    let app = TestApp::new(&pool);
    let commander = app.signed_in(Role::Commander).await;
    let manager = app.signed_in(Role::Manager).await;
    let inc = resolved_p1(&pool, "Disk full").await;
    let n = inc.number.get();
    let path = format!("/incidents/{n}/postmortem");
    let changes = || async {
        let rows: Vec<(Option<String>, String, String)> = sqlx::query_as(
            "select data->>'from', data->>'to', actor_label from timeline_events
              where incident_id = $1 and kind = 'postmortem_state_changed' order by at, id",
        )
        .bind(inc.id)
        .fetch_all(&pool)
        .await
        .expect("events");
        rows
    };

    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;
    expect(&app, post_form(&path, Some(&commander), &[]), StatusCode::SEE_OTHER).await;
    assert_eq!(changes().await.len(), 1, "starting an existing draft again changes nothing");
    expect(&app, post_form(&format!("{path}/submit"), Some(&commander), &[]), StatusCode::SEE_OTHER).await;
    expect(
        &app,
        post_form(&format!("{path}/publish"), Some(&manager), &[]),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(changes().await.len(), 2, "a refused publish is no event");
    expect(
        &app,
        post_form(
            &format!("{path}/save"),
            Some(&commander),
            &[("root_cause", "Logs never rotated."), ("public_summary", "Storage filled up.")],
        ),
        StatusCode::SEE_OTHER,
    )
    .await;
    expect(&app, post_form(&format!("{path}/publish"), Some(&manager), &[]), StatusCode::SEE_OTHER).await;

    let c = commander.user.email.clone();
    let m = manager.user.email.clone();
    assert_eq!(
        changes().await,
        [
            (None, "draft".to_owned(), c.clone()),
            (Some("draft".to_owned()), "in_review".to_owned(), c),
            (Some("in_review".to_owned()), "published".to_owned(), m),
        ]
    );
    let page = expect(&app, get(&format!("/incidents/{n}"), Some(&commander)), StatusCode::OK).await;
    for words in ["Postmortem draft started", "Postmortem sent to review", "Postmortem published"] {
        assert!(page.contains(words), "{words} on the incident's timeline");
    }
    let status = app.status_worker();
    status.run_once().await.expect("rebuild");
    let (_, html) = app.send(status_get(&format!("/incidents/{}", inc.id))).await;
    assert!(!html.contains("Postmortem draft started"), "the events stay internal");
}
