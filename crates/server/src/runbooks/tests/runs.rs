use axum::http::StatusCode;
use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::fake_kube::{self, Patching};
use super::{load, location, start_on_incident, step_version};
use crate::state::AppState;
use crate::testing::{self, Browser, TestApp, get, post_form};

async fn app_with_fake(pool: &PgPool) -> (TestApp, fake_kube::FakeKube) {
    load(pool).await;
    let (fake, cluster) = fake_kube::start().await;
    let state = AppState::new(pool.clone(), testing::config(), "test".into()).with_cluster(cluster);
    (TestApp::with_state(state), fake)
}

async fn timeline(pool: &PgPool, number: i64) -> Vec<(String, String, serde_json::Value)> {
    sqlx::query_as(
        "select e.kind, coalesce(e.body, ''), e.data from timeline_events e join incidents i on i.id = e.incident_id
         where i.number = $1 order by e.at, e.id",
    )
    .bind(number)
    .fetch_all(pool)
    .await
    .expect("timeline")
}

async fn post(
    app: &TestApp,
    who: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    status: StatusCode,
) -> String {
    let (response, body) = app.send(post_form(path, Some(who), fields)).await;
    assert_eq!(response.status(), status, "POST {path} as {}: {body:.2000}", who.user.role);
    if status == StatusCode::SEE_OTHER { location(&response) } else { body }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_commander_starts_a_suggested_runbook_and_each_manual_step_is_on_the_timeline(pool: PgPool) {
    let (app, _fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let incident = testing::builders::incident("API down").declare(&pool).await;
    let n = incident.number.get();

    let (response, html) = app.send(get(&format!("/incidents/{n}/runs/new"), Some(&commander))).await;
    assert_eq!(response.status(), 200, "{html}");
    let suggested = html.find("Suggested").expect("suggestions");
    let others = html.find("Every other runbook").expect("others");
    let crash = html.find("value=\"api-pods-crashing\"").expect("offered");
    assert!(suggested < crash && crash < others, "a crash-looping pod suggests api-pods-crashing: {html}");
    assert!(html.contains("CrashLoopBackOff"), "{html}");

    let to = post(
        &app,
        &commander,
        &format!("/incidents/{n}/runs"),
        &[("runbook", "api-pods-crashing")],
        StatusCode::SEE_OTHER,
    )
    .await;
    assert!(to.starts_with("/runs/"), "{to}");
    let (_, html) = app.send(get(&format!("/incidents/{n}"), Some(&commander))).await;
    assert!(
        html.contains("0 of ") && html.contains("API pods crashing"),
        "progress on the incident page: {html}"
    );
    let run_path = to.split('?').next().expect("path").to_owned();

    let responder = app.signed_in(Role::Responder).await;
    let id: uuid::Uuid = run_path.trim_start_matches("/runs/").parse().expect("run id");
    let v = step_version(&pool, id, "test-database-connectivity").await.to_string();
    post(
        &app,
        &responder,
        &format!("{run_path}/steps/test-database-connectivity/complete"),
        &[("version", &v), ("test-database-connectivity--note", "psql connects fine")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let v = step_version(&pool, id, "check-env-vars").await.to_string();
    post(
        &app,
        &responder,
        &format!("{run_path}/steps/check-env-vars/skip"),
        &[("version", &v), ("check-env-vars--reason", "")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    post(
        &app,
        &responder,
        &format!("{run_path}/steps/check-env-vars/skip"),
        &[("version", &v), ("check-env-vars--reason", "not a config problem")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, html) = app.send(get(&run_path, Some(&responder))).await;
    assert!(html.contains("psql connects fine") && html.contains("not a config problem"), "{html}");
    assert!(html.contains("2 of "), "{html}");

    let events = timeline(&pool, n).await;
    let steps: Vec<_> = events.iter().filter(|(k, _, _)| k == "runbook_step").collect();
    assert_eq!(steps.len(), 3, "started, done, skipped: {events:?}");
    assert_eq!(steps[1].2["status"], "done");
    assert_eq!(steps[1].2["note"], "psql connects fine");
    assert_eq!(steps[2].2["status"], "skipped");
    assert_eq!(testing::audit_actions(&pool, "runbook_step.change").await.len(), 2);
    assert_eq!(testing::audit_actions(&pool, "runbook_run.start").await.len(), 1);

    let commander_run = format!("{run_path}/abandon");
    post(&app, &responder, &commander_run, &[("reason", "x")], StatusCode::FORBIDDEN).await;
    post(&app, &commander, &commander_run, &[("reason", "")], StatusCode::UNPROCESSABLE_ENTITY).await;
    post(&app, &commander, &commander_run, &[("reason", "a rollback fixed it")], StatusCode::SEE_OTHER).await;
    let body =
        post(&app, &responder, &format!("{run_path}/steps/check-events/complete"), &[], StatusCode::CONFLICT)
            .await;
    assert!(body.contains("abandoned"), "{body}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn roles_decide_who_reads_runs_starts_them_completes_changing_steps_and_isolates(pool: PgPool) {
    let (app, _fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (n, id) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    let viewer = app.signed_in(Role::Viewer).await;
    let responder = app.signed_in(Role::Responder).await;

    let (response, html) = app.send(get(&format!("/runs/{id}"), Some(&viewer))).await;
    assert_eq!(response.status(), 200, "viewers read runs");
    assert!(!html.contains("Mark done"), "no forms for viewers");
    let (response, _) = app.send(get("/runbooks/api-pods-crashing", Some(&viewer))).await;
    assert_eq!(response.status(), 200, "viewers read runbooks");
    post(&app, &viewer, &format!("/runs/{id}/steps/check-events/complete"), &[], StatusCode::FORBIDDEN).await;
    post(
        &app,
        &responder,
        &format!("/incidents/{n}/runs"),
        &[("runbook", "api-pods-crashing")],
        StatusCode::FORBIDDEN,
    )
    .await;

    // A changing step needs a commander, to complete as to run; a responder may skip it.
    let body = post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/restart-api-after-secret/complete"),
        &[],
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(body.contains("commander"), "{body}");
    post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/restart-api-after-secret/preview"),
        &[],
        StatusCode::FORBIDDEN,
    )
    .await;
    post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/restart-api-after-secret/skip"),
        &[("restart-api-after-secret--reason", "the secret is fine")],
        StatusCode::SEE_OTHER,
    )
    .await;

    // Isolating a deployment (security procedure) needs a manager.
    let (_, security) = start_on_incident(&pool, &commander, "security-breach").await;
    let run = crate::runbooks::service::load_run(&mut pool.acquire().await.expect("conn"), security)
        .await
        .expect("run");
    let isolate = run
        .runbook
        .steps()
        .find(|(_, s)| {
            s.action
                .as_ref()
                .is_some_and(|a| a.action.kind() == twisterlab_domain::runbook::ActionKind::Isolate)
        })
        .map(|(_, s)| s.key.to_string())
        .expect("the security runbook isolates");
    let body = post(
        &app,
        &commander,
        &format!("/runs/{security}/steps/{isolate}/complete"),
        &[],
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(body.contains("manager"), "{body}");
    let manager = app.signed_in(Role::Manager).await;
    post(&app, &manager, &format!("/runs/{security}/steps/{isolate}/complete"), &[], StatusCode::SEE_OTHER)
        .await;
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn of_two_people_completing_one_step_only_the_first_wins_and_the_second_sees_why(pool: PgPool) {
    let (app, _fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (_, id) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    let ada = testing::person(&pool, "Ada", Role::Responder).await;
    let ada = testing::session_for(&pool, ada).await;
    let bob = app.signed_in(Role::Responder).await;
    let v = step_version(&pool, id, "test-database-connectivity").await.to_string();
    let path = format!("/runs/{id}/steps/test-database-connectivity/complete");
    let (first, second) = tokio::join!(
        app.send(post_form(&path, Some(&ada), &[("version", &v)])),
        app.send(post_form(&path, Some(&bob), &[("version", &v)])),
    );
    let statuses = [first.0.status(), second.0.status()];
    assert!(
        statuses.contains(&StatusCode::SEE_OTHER) && statuses.contains(&StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let loser = if first.0.status() == StatusCode::CONFLICT { &first.1 } else { &second.1 };
    assert!(loser.contains("already finished by someone else") && loser.contains("done by"), "{loser}");

    // A stale version is refused even when the change would be allowed.
    let v = step_version(&pool, id, "check-env-vars").await;
    post(
        &app,
        &bob,
        &format!("/runs/{id}/steps/check-env-vars/fail"),
        &[("version", &v.to_string()), ("check-env-vars--message", "kubectl timed out")],
        StatusCode::SEE_OTHER,
    )
    .await;
    let body = post(
        &app,
        &ada,
        &format!("/runs/{id}/steps/check-env-vars/complete"),
        &[("version", &v.to_string())],
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body.contains("Someone else changed this step") && body.contains("kubectl timed out"), "{body}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_changing_action_applies_only_with_its_previews_confirmation(pool: PgPool) {
    let (app, fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (n, id) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    let step = format!("/runs/{id}/steps/restart-api-after-secret");

    let body = post(&app, &commander, &format!("{step}/apply"), &[("token", "")], StatusCode::CONFLICT).await;
    assert!(body.contains("Nothing to confirm"), "{body}");
    let body = post(&app, &commander, &format!("{step}/run"), &[], StatusCode::CONFLICT).await;
    assert!(body.contains("dry run"), "{body}");
    assert!(fake.patches().is_empty(), "nothing was sent");

    let html = post(&app, &commander, &format!("{step}/preview"), &[], StatusCode::OK).await;
    assert!(html.contains("restartedAt") && html.contains("dry run"), "{html}");
    let patches = fake.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].path, "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api");
    assert!(patches[0].query.contains("dryRun=All"), "{:?}", patches[0]);
    assert_eq!(patches[0].content_type, "application/strategic-merge-patch+json");
    assert!(
        patches[0].body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    let token = html
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("token")
        .to_owned();
    let version = html
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("version")
        .to_owned();

    let body = post(
        &app,
        &commander,
        &format!("{step}/apply"),
        &[("token", "forged"), ("version", &version)],
        StatusCode::CONFLICT,
    )
    .await;
    assert!(body.contains("Nothing to confirm"), "{body}");
    assert_eq!(fake.patches().len(), 1);
    post(
        &app,
        &commander,
        &format!("{step}/apply"),
        &[("token", &token), ("version", &version)],
        StatusCode::SEE_OTHER,
    )
    .await;
    let patches = fake.patches();
    assert_eq!(patches.len(), 2);
    assert!(!patches[1].query.contains("dryRun"), "{:?}", patches[1]);
    post(&app, &commander, &format!("{step}/apply"), &[("token", &token)], StatusCode::CONFLICT).await;
    assert_eq!(fake.patches().len(), 2, "a confirmation applies once");

    let events = timeline(&pool, n).await;
    let kube: Vec<_> = events.iter().filter(|(k, _, _)| k == "kubernetes_action").collect();
    assert_eq!(kube.len(), 2, "{events:?}");
    assert_eq!(
        (kube[0].2["dry_run"].as_bool(), kube[0].2["outcome"].as_str()),
        (Some(true), Some("success"))
    );
    assert_eq!(
        (kube[1].2["dry_run"].as_bool(), kube[1].2["outcome"].as_str()),
        (Some(false), Some("success"))
    );
    assert_eq!(testing::audit_actions(&pool, "kubernetes.apply").await.len(), 1);
    let (_, html) = app.send(get(&format!("/runs/{id}"), Some(&commander))).await;
    assert!(html.contains("step-done") && html.contains("Deployment/twisterlab-api changed"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_api_server_refusal_or_hang_fails_the_step_with_the_servers_message(pool: PgPool) {
    let (app, fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (n, id) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    for (patching, expected) in [
        (Patching::Invalid, "is invalid"),
        (Patching::Forbidden, "not allowed to patch"),
        (Patching::Conflict, "changed by someone else"),
        (Patching::Hang, "did not answer"),
    ] {
        fake.set(patching);
        post(
            &app,
            &commander,
            &format!("/runs/{id}/steps/restart-api-after-config/preview"),
            &[],
            StatusCode::SEE_OTHER,
        )
        .await;
        let steps = crate::db::runbook_runs::steps(&pool, id).await.expect("steps");
        let state = &steps.iter().find(|s| s.key.as_str() == "restart-api-after-config").expect("step").state;
        match state {
            twisterlab_domain::runbook::StepState::Failed { message } => {
                assert!(message.contains(expected), "{patching:?}: {message}");
            }
            other => panic!("{patching:?}: the step is {other:?}, not failed"),
        }
    }
    let events = timeline(&pool, n).await;
    assert!(
        events.iter().filter(|(k, _, _)| k == "kubernetes_action").all(|(_, _, d)| d["outcome"] == "failure")
    );
    // Parameters out of bounds are field errors before anything is sent.
    let before = fake.patches().len();
    let body = post(
        &app,
        &commander,
        &format!("/runs/{id}/steps/increase-memory-limits/preview"),
        &[("increase-memory-limits--p-memory_limit", "2Gx")],
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body.contains("field-error"), "{body}");
    assert_eq!(fake.patches().len(), before);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn read_only_actions_run_at_once_and_never_show_a_secrets_value(pool: PgPool) {
    let (app, _fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (n, id) = start_on_incident(&pool, &commander, "api-pods-crashing").await;
    let responder = app.signed_in(Role::Responder).await;
    post(&app, &responder, &format!("/runs/{id}/steps/check-events/run"), &[], StatusCode::SEE_OTHER).await;
    post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/check-recent-logs/run"),
        &[("check-recent-logs--p-filter", "error"), ("check-recent-logs--p-lines", "50")],
        StatusCode::SEE_OTHER,
    )
    .await;
    post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/verify-database-url-secret/run"),
        &[],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, html) = app.send(get(&format!("/runs/{id}"), Some(&responder))).await;
    assert!(
        html.contains("CrashLoopBackOff") && html.contains("Back-off restarting failed container"),
        "{html}"
    );
    assert!(html.contains("ERROR: could not connect to the database"), "{html}");
    assert!(html.contains("has the key DATABASE_URL"), "{html}");
    let events = serde_json::to_string(&timeline(&pool, n).await).expect("json");
    let audit = serde_json::to_string(
        &sqlx::query_scalar::<_, serde_json::Value>("select coalesce(after, 'null') from audit_log")
            .fetch_all(&pool)
            .await
            .expect("audit"),
    )
    .expect("json");
    for body in [&html, &events, &audit] {
        for secret in ["hunter2", "cG9zdGdyZXNxbCthc3luY3Bn", "r3dis-pa55word"] {
            assert!(!body.contains(secret), "a secret value leaked: {secret}");
        }
    }
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn a_database_step_without_a_monitored_database_says_not_configured(pool: PgPool) {
    let (app, _fake) = app_with_fake(&pool).await;
    let commander = app.signed_in(Role::Commander).await;
    let (n, id) = start_on_incident(&pool, &commander, "database-connection-exhaustion").await;
    let responder = app.signed_in(Role::Responder).await;
    post(
        &app,
        &responder,
        &format!("/runs/{id}/steps/check-current-connections/run"),
        &[],
        StatusCode::SEE_OTHER,
    )
    .await;
    let (_, html) = app.send(get(&format!("/runs/{id}"), Some(&responder))).await;
    assert!(html.contains("not configured: set TWISTERLAB_TARGET_DATABASE_URL"), "{html}");
    let events = timeline(&pool, n).await;
    assert!(events.iter().any(|(k, _, d)| k == "runbook_step" && d["status"] == "failed"), "{events:?}");
    assert!(!events.iter().any(|(k, _, _)| k == "kubernetes_action"), "no Kubernetes call: {events:?}");
}
