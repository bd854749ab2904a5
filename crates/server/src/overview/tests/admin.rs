//! The admin pages for services (audited), and services kept as code in the configuration file.

use sqlx::PgPool;
use twisterlab_domain::role::Role;

use super::without_seeded_services;
use crate::config::{Config, ConfigError, Sources};
use crate::db::{components, health as store};
use crate::overview::definition::services_from_file;
use crate::overview::service::{Reconciled, reconcile_file_services};
use crate::testing::{self, audit_actions, get, post_form, send};

fn form<'a>(name: &'a str, url: &'a str, api: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("url", url),
        ("expect", "/status = healthy\n/database = connected"),
        ("interval_seconds", "30"),
        ("timeout_ms", "2000"),
        ("failures_before_down", "3"),
        ("component", api),
        ("impact", "major_outage"),
        ("open_incident", "P1"),
        ("enabled", "on"),
    ]
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn an_admin_creates_edits_and_deletes_a_service_and_each_change_is_audited(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let api = components::id_by_name(&pool, "API").await.expect("lookup").expect("API").to_string();

    let (response, html) = send(&app, get("/admin/services", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("twisterlab-api") && html.contains("edgeserver.twisterlab.local:30001"),
        "seeded: {html}"
    );

    let (response, html) = send(
        &app,
        post_form("/admin/services", Some(&admin), &form("staging-api", "http://staging:8000/health", &api)),
    )
    .await;
    assert_eq!(response.status(), 303, "{html}");
    let created = store::find_by_name(&pool, "staging-api").await.expect("query").expect("created");
    assert_eq!(created.expect.len(), 2);
    assert_eq!(created.component_name.as_deref(), Some("API"));
    assert_eq!(created.open_incident.map(|s| s.as_str()), Some("P1"));
    let audit = audit_actions(&pool, "service.create").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, "service:staging-api");

    let mut edited = form("staging-api", "http://staging:8000/healthz", &api);
    edited.retain(|(k, _)| *k != "enabled");
    let (response, _) = send(&app, post_form("/admin/services/staging-api", Some(&admin), &edited)).await;
    assert_eq!(response.status(), 303);
    let updated = store::find_by_name(&pool, "staging-api").await.expect("query").expect("still there");
    assert_eq!((updated.url.as_str(), updated.enabled), ("http://staging:8000/healthz", false));
    assert_eq!(audit_actions(&pool, "service.update").await.len(), 1);

    // Deleting asks first: the edit page links to a confirmation page, and a POST without the
    // confirmation deletes nothing.
    let (_, html) = send(&app, get("/admin/services/staging-api", Some(&admin))).await;
    assert!(html.contains("href=\"/admin/services/staging-api/delete\""), "{html}");
    let (response, _) = send(&app, post_form("/admin/services/staging-api/delete", Some(&admin), &[])).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/services/staging-api/delete");
    assert!(
        store::find_by_name(&pool, "staging-api").await.expect("query").is_some(),
        "not deleted unconfirmed"
    );
    let (response, html) = send(&app, get("/admin/services/staging-api/delete", Some(&admin))).await;
    assert_eq!(response.status(), 200);
    assert!(
        html.contains("Delete the service staging-api?")
            && html.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">")
            && html.contains("action=\"/admin/services/staging-api/delete\"")
            && html.contains("href=\"/admin/services/staging-api\">Keep it</a>"),
        "{html}"
    );
    assert!(audit_actions(&pool, "service.delete").await.is_empty());
    let (response, _) =
        send(&app, post_form("/admin/services/staging-api/delete", Some(&admin), &[("confirm", "yes")]))
            .await;
    assert_eq!(response.status(), 303);
    assert!(store::find_by_name(&pool, "staging-api").await.expect("query").is_none());
    assert_eq!(audit_actions(&pool, "service.delete").await.len(), 1);
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn invalid_forms_are_shown_again_with_every_problem_and_nothing_is_stored(pool: PgPool) {
    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let mut bad = form("Bad Name", "ftp://nowhere", "");
    bad.retain(|(k, _)| !matches!(*k, "interval_seconds" | "expect"));
    bad.push(("interval_seconds", "1"));
    bad.push(("expect", "status healthy"));
    let (response, html) = send(&app, post_form("/admin/services", Some(&admin), &bad)).await;
    assert_eq!(response.status(), 422, "{html}");
    for id in ["name-error", "url-error", "expect-error", "interval_seconds-error"] {
        assert!(html.contains(id), "{id} missing: {html}");
    }
    assert!(html.contains("ftp://nowhere"), "typed values are kept");
    let (response, html) = send(
        &app,
        post_form("/admin/services", Some(&admin), &form("twisterlab-api", "http://x:1/health", "")),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(html.contains("exists already"), "{html}");
    assert!(audit_actions(&pool, "service.create").await.is_empty());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn viewers_and_responders_cannot_open_the_admin_pages(pool: PgPool) {
    let app = testing::app(&pool);
    for role in [Role::Viewer, Role::Responder, Role::Manager] {
        let browser = testing::signed_in(&pool, role).await;
        let (response, _) = send(&app, get("/admin/services", Some(&browser))).await;
        assert_eq!(response.status(), 403, "{role}");
    }
}

const FILE: &str = r#"
[[services]]
name = "twisterlab-api"
url = "http://edgeserver.twisterlab.local:30001/health"
interval_seconds = 30
timeout_ms = 2000
failures_before_down = 3
component = "API"
impact = "major_outage"
open_incident = "P1"          # omit to never open incidents
expect = { "/status" = "healthy", "/database" = "connected", "/redis" = "connected", "/agents" = "operational" }

[[services]]
name = "gpu-worker"
url = "http://gpu-worker:9000/health"
component = "No Such Component"
"#;

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn file_services_are_reconciled_marked_and_read_only_in_the_pages(pool: PgPool) {
    let file: toml::Table = FILE.parse().expect("toml");
    let config = Config::from_sources(&Sources::from_pairs([], file)).expect("valid configuration");
    assert_eq!(config.services.len(), 2);

    // The seeded twisterlab-api is taken over; gpu-worker is created (its unknown component is
    // left out with a warning).
    assert_eq!(
        reconcile_file_services(&pool, &config.services).await.expect("reconcile"),
        Reconciled { created: 1, updated: 1, deleted: 0 }
    );
    assert_eq!(
        reconcile_file_services(&pool, &config.services).await.expect("again"),
        Reconciled::default(),
        "idempotent"
    );
    let api = store::find_by_name(&pool, "twisterlab-api").await.expect("query").expect("api");
    assert!(api.managed_by_file);
    assert_eq!(api.impact.as_str(), "major_outage");
    let gpu = store::find_by_name(&pool, "gpu-worker").await.expect("query").expect("gpu");
    assert!(gpu.managed_by_file && gpu.component_id.is_none());
    let audit = audit_actions(&pool, "service.update").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor_label, "configuration file");

    let admin = testing::signed_in(&pool, Role::Admin).await;
    let app = testing::app(&pool);
    let (_, html) = send(&app, get("/admin/services/twisterlab-api", Some(&admin))).await;
    assert!(
        html.contains("defined in the configuration file") && html.contains("<fieldset disabled>"),
        "{html}"
    );
    let (response, _) = send(
        &app,
        post_form("/admin/services/twisterlab-api", Some(&admin), &form("twisterlab-api", "http://x:1/", "")),
    )
    .await;
    assert_eq!(response.status(), 409);
    let (response, _) =
        send(&app, post_form("/admin/services/twisterlab-api/delete", Some(&admin), &[("confirm", "yes")]))
            .await;
    assert_eq!(response.status(), 409);
    let (response, _) = send(&app, get("/admin/services/twisterlab-api/delete", Some(&admin))).await;
    assert_eq!(response.status(), 409, "no confirmation page for a service the file keeps");

    // Dropped from the file: deleted. Services made in the pages are never touched.
    let only_gpu: Vec<_> = config.services.iter().filter(|s| s.name == "gpu-worker").cloned().collect();
    assert_eq!(
        reconcile_file_services(&pool, &only_gpu).await.expect("reconcile"),
        Reconciled { created: 0, updated: 0, deleted: 1 }
    );
    assert!(store::find_by_name(&pool, "twisterlab-api").await.expect("query").is_none());
    assert!(store::find_by_name(&pool, "mcp-unified").await.expect("query").is_some());
    without_seeded_services(&pool).await;
}

#[test]
fn a_bad_services_table_stops_the_start_with_the_entry_named() {
    let file: toml::Table =
        "[[services]]\nname = \"api\"\nurl = \"http://x\"\nopen_incident = \"P9\"\n".parse().expect("toml");
    let err = Config::from_sources(&Sources::from_pairs([], file.clone())).expect_err("invalid");
    assert!(matches!(err, ConfigError::Table(_)), "{err:?}");
    assert!(err.to_string().contains("[[services]] entry 1") && err.to_string().contains("P9"), "{err}");
    assert!(services_from_file(&toml::Table::new()).expect("no services").is_empty());
}

#[test]
fn the_new_settings_have_their_documented_defaults() {
    let c = testing::config();
    assert_eq!(c.prometheus_url, None);
    assert_eq!(c.kube_enabled, crate::config::KubeEnabled::Auto);
    assert_eq!(c.probe_concurrency, 256);
    let links: Vec<_> = c.grafana_dashboards().into_iter().map(|d| (d.label, d.url)).collect();
    assert_eq!(
        links,
        [
            ("System Overview", "http://grafana.twisterlab.local/d/system-overview".to_owned()),
            ("Agent Performance", "http://grafana.twisterlab.local/d/agent-perf".to_owned()),
            ("Database Metrics", "http://grafana.twisterlab.local/d/database".to_owned()),
        ]
    );
    let file: toml::Table = "grafana_database_metrics_url = \"\"".parse().expect("toml");
    let c = Config::from_sources(&Sources::from_pairs(
        [("TWISTERLAB_PROMETHEUS_URL", "http://prometheus:9090/")],
        file,
    ))
    .expect("valid");
    assert_eq!(c.prometheus_url.as_deref(), Some("http://prometheus:9090"));
    assert_eq!(c.grafana_dashboards().len(), 2);
    let err = Config::from_sources(&Sources::from_pairs(
        [("TWISTERLAB_PROMETHEUS_URL", "prometheus:9090")],
        toml::Table::new(),
    ))
    .expect_err("invalid");
    assert!(err.to_string().contains("TWISTERLAB_PROMETHEUS_URL"), "{err}");
}
