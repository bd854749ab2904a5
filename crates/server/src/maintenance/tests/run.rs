//! Starting a window starts the maintenance runbook as a guided run whose subject is the window.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::started_window;
use crate::testing::{TestApp, get};

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn starting_a_window_starts_the_maintenance_runbook_as_a_guided_run(pool: PgPool) {
    let app = TestApp::new(&pool);
    let (id, commander) = started_window(&app, "Upgrade to v2.0", &["API"]).await;
    let window = crate::db::maintenance::find(&pool, id).await.expect("find").expect("exists");
    let run_id = window.run_id.expect("the window names its run");
    let run = crate::db::runbook_runs::find(&pool, run_id).await.expect("find").expect("run");
    assert_eq!((run.slug.as_str(), run.window_id, run.incident_id), ("planned-maintenance", Some(id), None));
    let (_, html) = app.send(get(&format!("/maintenance/{id}"), Some(&commander))).await;
    assert!(html.contains(&format!("/runs/{run_id}")) && html.contains("0 of "), "{html}");
    let viewer = app.signed_in(Role::Viewer).await;
    let (response, html) = app.send(get(&format!("/runs/{run_id}"), Some(&viewer))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("Maintenance: Upgrade to v2.0"), "{html}");
}
