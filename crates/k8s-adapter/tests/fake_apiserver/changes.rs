//! Changing the cluster: each action's dry run (`dryRun=All`, nothing changes) and real run,
//! with the exact requests, patch content types and bodies.

use serde_json::json;
use twisterlab_k8s::{
    ChangeSummary, Cluster, ClusterError, EnvValue, FIELD_MANAGER, IngressRoute, RESTARTED_AT_ANNOTATION,
    ResourceChange, ResourceField, ScaleChange, SetEnv, SetResources,
};

use crate::fake::{Fake, desired_replicas, incident_cluster, mcp_deployment};

const API: &str = "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api";

#[tokio::test]
async fn dry_run_scale_shows_the_change_and_changes_nothing() {
    let (fake, cluster) = incident_cluster().await;
    let change = cluster.scale_deployment("twisterlab-api", 5, true).await.expect("dry-run scale");
    assert_eq!(change, ScaleChange { deployment: "twisterlab-api".into(), from: 3, to: 5, dry_run: true });
    assert_eq!(desired_replicas(&cluster, "twisterlab-api").await, 3);
    let requests = fake.requests();
    assert_eq!(
        requests[..2],
        [
            "GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api/scale",
            "PATCH /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api/scale?&dryRun=All&fieldManager=twisterlab-portal",
        ]
    );
}

#[tokio::test]
async fn scale_changes_the_replicas() {
    let (_fake, cluster) = incident_cluster().await;
    let change = cluster.scale_deployment("twisterlab-api", 5, false).await.expect("scale");
    assert_eq!((change.from, change.to, change.dry_run), (3, 5, false));
    assert_eq!(desired_replicas(&cluster, "twisterlab-api").await, 5);

    let back = cluster.scale_deployment("twisterlab-api", 3, true).await.expect("dry-run scale back");
    assert_eq!((back.from, back.to), (5, 3));
    assert_eq!(desired_replicas(&cluster, "twisterlab-api").await, 5);
}

#[tokio::test]
async fn scaling_a_missing_deployment_is_not_found() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.scale_deployment("twisterlab-ghost", 2, true).await.expect_err("no such deployment");
    assert_eq!(
        err,
        ClusterError::NotFound { resource: "deployments/scale".into(), name: "twisterlab-ghost".into() }
    );
    assert_eq!(err.to_string(), "deployments/scale \"twisterlab-ghost\" not found");
}

#[tokio::test]
async fn restart_stamps_the_pod_template_and_dry_run_does_not() {
    let (fake, cluster) = incident_cluster().await;
    let annotation = |fake: &Fake| {
        fake.world().deployments["twisterlab-worker"]["spec"]["template"]["metadata"]["annotations"]
            [RESTARTED_AT_ANNOTATION]
            .as_str()
            .map(str::to_owned)
    };

    let dry = cluster.restart_deployment("twisterlab-worker", true).await.expect("dry-run restart");
    assert!(dry.dry_run);
    assert_eq!(annotation(&fake), None);

    let done = cluster.restart_deployment("twisterlab-worker", false).await.expect("restart");
    assert!(!done.dry_run);
    assert_eq!(annotation(&fake), Some(done.restarted_at.to_string()));
}

#[tokio::test]
async fn scale_sends_a_merge_patch_of_the_replicas_to_the_scale_subresource() {
    let (fake, cluster) = incident_cluster().await;
    cluster.scale_deployment("twisterlab-api", 5, false).await.expect("scale");
    let recorded = fake.recorded();
    assert_eq!(recorded[1].line(), format!("PATCH {API}/scale?&fieldManager={FIELD_MANAGER}"));
    assert_eq!(recorded[1].content_type.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(recorded[1].json(), json!({ "spec": { "replicas": 5 } }));
}

#[tokio::test]
async fn restart_reads_the_last_restart_then_patches_the_template_annotation() {
    let (fake, cluster) = incident_cluster().await;
    let dry = cluster.restart_deployment("twisterlab-api", true).await.expect("dry-run restart");
    assert_eq!(dry.previous_restart, None);
    assert_eq!(dry.replicas, 3);
    assert_eq!(dry.changes()[0].before, "never");
    let recorded = fake.recorded();
    let lines: Vec<String> = recorded.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [format!("GET {API}"), format!("PATCH {API}?&dryRun=All&fieldManager={FIELD_MANAGER}")]
    );
    assert_eq!(recorded[1].content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    assert_eq!(
        recorded[1].json(),
        json!({ "spec": { "template": { "metadata": { "annotations": {
            RESTARTED_AT_ANNOTATION: dry.restarted_at.to_string()
        } } } } })
    );

    let done = cluster.restart_deployment("twisterlab-api", false).await.expect("restart");
    let again = cluster.restart_deployment("twisterlab-api", true).await.expect("preview of another restart");
    assert_eq!(again.previous_restart, Some(done.restarted_at.to_string()));
}

fn memory_limit(to: &str) -> SetResources {
    SetResources {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        memory_limit: Some(to.into()),
        ..SetResources::default()
    }
}

fn stored_memory_limit(fake: &Fake) -> serde_json::Value {
    fake.world().deployments["twisterlab-api"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        ["memory"]
        .clone()
}

#[tokio::test]
async fn dry_run_resources_preview_the_memory_limit_and_change_nothing() {
    let (fake, cluster) = incident_cluster().await;
    let preview = cluster.set_resources(&memory_limit("2Gi"), true).await.expect("preview");
    assert!(preview.dry_run);
    assert_eq!(preview.container, "api");
    assert_eq!(
        preview.changes,
        [ResourceChange {
            field: ResourceField::MemoryLimit,
            before: Some("1Gi".into()),
            after: Some("2Gi".into())
        }]
    );
    assert_eq!(ChangeSummary::changes(&preview)[0].to_string(), "limits.memory of container api: 1Gi → 2Gi");
    assert_eq!(stored_memory_limit(&fake), "1Gi");
    let recorded = fake.recorded();
    let lines: Vec<String> = recorded.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [format!("GET {API}"), format!("PATCH {API}?&dryRun=All&fieldManager={FIELD_MANAGER}")]
    );
    assert_eq!(recorded[1].content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    assert_eq!(
        recorded[1].json(),
        json!({ "spec": { "template": { "spec": { "containers": [
            { "name": "api", "resources": { "limits": { "memory": "2Gi" } } }
        ] } } } })
    );
}

#[tokio::test]
async fn resources_are_set_with_requests_and_limits_together() {
    let (fake, cluster) = incident_cluster().await;
    let change = SetResources {
        memory_request: Some("1Gi".into()),
        memory_limit: Some("2Gi".into()),
        ..memory_limit("2Gi")
    };
    let done = cluster.set_resources(&change, false).await.expect("set resources");
    assert!(!done.dry_run);
    let lines: Vec<String> =
        done.changes.iter().map(|c| format!("{}: {:?} → {:?}", c.field, c.before, c.after)).collect();
    assert_eq!(
        lines,
        ["requests.memory: Some(\"512Mi\") → Some(\"1Gi\")", "limits.memory: Some(\"1Gi\") → Some(\"2Gi\")",]
    );
    assert_eq!(stored_memory_limit(&fake), "2Gi");
    assert_eq!(
        fake.recorded()[1].json()["spec"]["template"]["spec"]["containers"][0]["resources"],
        json!({ "requests": { "memory": "1Gi" }, "limits": { "memory": "2Gi" } })
    );
}

#[tokio::test]
async fn a_request_above_the_limit_is_refused_after_reading_and_before_patching() {
    let (fake, cluster) = incident_cluster().await;
    let change =
        SetResources { memory_limit: None, memory_request: Some("2Gi".into()), ..memory_limit("2Gi") };
    let err = cluster.set_resources(&change, true).await.expect_err("above the 1Gi limit");
    assert!(
        matches!(&err, ClusterError::InvalidArgument(e) if e.field == "resources.requests.memory"),
        "{err:?}"
    );
    assert_eq!(fake.requests(), [format!("GET {API}")]);
}

#[tokio::test]
async fn a_container_must_be_named_when_the_deployment_has_several() {
    let (fake, cluster) = incident_cluster().await;
    let change = SetResources { container: None, ..memory_limit("2Gi") };
    let err = cluster.set_resources(&change, true).await.expect_err("two containers");
    assert_eq!(
        err.to_string(),
        "invalid container: deployment twisterlab-api has 2 containers (api, pgbouncer): name the one to change"
    );
    assert_eq!(fake.requests().len(), 1, "only the read");
}

fn api_url(dry_run_value: &str) -> SetEnv {
    SetEnv {
        deployment: "mcp-unified".into(),
        container: None,
        name: "API_URL".into(),
        value: dry_run_value.into(),
    }
}

#[tokio::test]
async fn setting_an_unset_variable_previews_unset_to_the_value_then_applies_it() {
    let (fake, cluster) = incident_cluster().await;
    fake.world().deployments.insert("mcp-unified".into(), mcp_deployment());
    let preview = cluster.set_env(&api_url("http://twisterlab-api:8000"), true).await.expect("preview");
    assert_eq!((preview.container.as_str(), &preview.before), ("mcp", &EnvValue::Unset));
    assert_eq!(preview.after, EnvValue::Value("http://twisterlab-api:8000".into()));
    assert_eq!(
        ChangeSummary::changes(&preview)[0].to_string(),
        "env API_URL of container mcp: unset → http://twisterlab-api:8000"
    );
    let env = |fake: &Fake| {
        fake.world().deployments["mcp-unified"]["spec"]["template"]["spec"]["containers"][0]["env"].clone()
    };
    assert_eq!(env(&fake), json!([{ "name": "MCP_MODE", "value": "MOCK" }]), "a preview changes nothing");
    let recorded = fake.recorded();
    assert_eq!(
        recorded[1].line(),
        format!(
            "PATCH /apis/apps/v1/namespaces/twisterlab/deployments/mcp-unified?&dryRun=All&fieldManager={FIELD_MANAGER}"
        )
    );
    assert_eq!(recorded[1].content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    assert_eq!(
        recorded[1].json(),
        json!({ "spec": { "template": { "spec": { "containers": [
            { "name": "mcp", "env": [ { "name": "API_URL", "value": "http://twisterlab-api:8000" } ] }
        ] } } } })
    );

    let done = cluster.set_env(&api_url("http://twisterlab-api:8000"), false).await.expect("set env");
    assert!(!done.dry_run);
    assert_eq!(
        env(&fake),
        json!([{ "name": "MCP_MODE", "value": "MOCK" }, { "name": "API_URL", "value": "http://twisterlab-api:8000" }])
    );
}

#[tokio::test]
async fn replacing_a_secret_reference_with_a_value_removes_the_reference() {
    let (fake, cluster) = incident_cluster().await;
    let change = SetEnv {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        name: "DATABASE_URL".into(),
        value: "postgresql://postgres:5432/twisterlab".into(),
    };
    let preview = cluster.set_env(&change, true).await.expect("preview");
    assert_eq!(preview.before, EnvValue::From("Secret twisterlab-secrets key DATABASE_URL".into()));
    assert_eq!(preview.after, EnvValue::Value("postgresql://postgres:5432/twisterlab".into()));
    assert_eq!(
        fake.recorded()[1].json()["spec"]["template"]["spec"]["containers"][0]["env"],
        json!([{ "name": "DATABASE_URL", "value": "postgresql://postgres:5432/twisterlab", "valueFrom": null }])
    );
}

#[tokio::test]
async fn isolation_preview_lists_the_replicas_and_every_ingress_to_its_service_and_changes_nothing() {
    let (fake, cluster) = incident_cluster().await;
    let preview = cluster.isolate_deployment("twisterlab-api", true).await.expect("preview");
    assert!(preview.dry_run);
    assert_eq!((preview.replicas_before, preview.replicas_after), (3, 0));
    assert_eq!(preview.services, ["twisterlab-api"]);
    assert_eq!(
        preview.ingresses,
        [
            IngressRoute {
                name: "twisterlab-api-admin".into(),
                hosts: vec!["admin.twisterlab.local".into()],
                services: vec!["twisterlab-api".into()],
            },
            IngressRoute {
                name: "twisterlab-ingress".into(),
                hosts: vec!["api.twisterlab.local".into()],
                services: vec!["mcp-unified".into(), "twisterlab-api".into()],
            },
        ]
    );
    let ingresses = "/apis/networking.k8s.io/v1/namespaces/twisterlab/ingresses";
    let recorded = fake.recorded();
    let lines: Vec<String> = recorded.iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            format!("GET {API}"),
            format!("GET {API}/scale"),
            "GET /api/v1/namespaces/twisterlab/services?".to_owned(),
            format!("GET {ingresses}?"),
            format!("PATCH {API}/scale?&dryRun=All&fieldManager={FIELD_MANAGER}"),
            format!("DELETE {ingresses}/twisterlab-api-admin?dryRun=All"),
            format!("DELETE {ingresses}/twisterlab-ingress?dryRun=All"),
        ]
    );
    assert_eq!(recorded[4].json(), json!({ "spec": { "replicas": 0 } }));
    // The API server reads DeleteOptions from the body when there is one: dryRun is there too.
    assert_eq!(recorded[5].json(), json!({ "dryRun": ["All"], "preconditions": { "uid": "admin-uid" } }));
    assert_eq!(
        recorded[6].json(),
        json!({ "dryRun": ["All"], "preconditions": { "uid": "1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e" } })
    );
    assert_eq!(desired_replicas(&cluster, "twisterlab-api").await, 3);
    assert_eq!(fake.world().ingresses.len(), 3, "nothing deleted");
}

#[tokio::test]
async fn isolation_scales_to_zero_and_deletes_only_the_ingresses_to_its_service() {
    let (fake, cluster) = incident_cluster().await;
    let done = cluster.isolate_deployment("twisterlab-api", false).await.expect("isolate");
    assert!(!done.dry_run);
    let lines: Vec<String> = done.changes().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "replicas: 3 → 0",
            "Ingress twisterlab-api-admin (admin.twisterlab.local; routes to twisterlab-api): present → deleted",
            "Ingress twisterlab-ingress (api.twisterlab.local; routes to mcp-unified, twisterlab-api): present → deleted",
        ]
    );
    assert_eq!(desired_replicas(&cluster, "twisterlab-api").await, 0);
    let left: Vec<String> = fake.world().ingresses.keys().cloned().collect();
    assert_eq!(left, ["twisterlab-portal"], "the portal's own Ingress stays");
    let deletes: Vec<_> = fake.recorded().into_iter().filter(|r| r.method == "DELETE").collect();
    assert!(deletes.iter().all(|r| !r.uri.contains("dryRun") && r.json().get("dryRun").is_none()));
}

#[tokio::test]
async fn parameters_out_of_bounds_never_reach_the_api_server() {
    let (fake, cluster) = incident_cluster().await;
    let refused = |err: ClusterError| match err {
        ClusterError::InvalidArgument(e) => e.field,
        other => panic!("not a field error: {other:?}"),
    };
    assert_eq!(
        refused(cluster.scale_deployment("twisterlab-api", -1, true).await.expect_err("-1")),
        "replicas"
    );
    assert_eq!(
        refused(cluster.scale_deployment("twisterlab-api", 10_000, true).await.expect_err("10k")),
        "replicas"
    );
    assert_eq!(
        refused(cluster.set_resources(&memory_limit("2Gx"), true).await.expect_err("2Gx")),
        "resources.limits.memory"
    );
    let spaced = SetEnv { name: "API URL".into(), ..api_url("x") };
    assert_eq!(refused(cluster.set_env(&spaced, true).await.expect_err("space")), "env.name");
    assert_eq!(
        refused(cluster.isolate_deployment("Twisterlab", true).await.expect_err("upper case")),
        "deployment"
    );
    assert_eq!(
        refused(cluster.tail_logs("twisterlab-api", Some("error"), 0).await.expect_err("0 lines")),
        "lines"
    );
    assert_eq!(refused(cluster.describe_pod("../x").await.expect_err("path")), "pod");
    assert_eq!(refused(cluster.secret_has_key("twisterlab-secrets", "a b").await.expect_err("key")), "key");
    assert_eq!(
        refused(
            cluster
                .wait_for_rollout("twisterlab-api", std::time::Duration::from_millis(1), &|_| {})
                .await
                .expect_err("too short")
        ),
        "timeout"
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn set_image_previews_the_old_and_new_image_then_applies_it() {
    let (fake, cluster) = incident_cluster().await;
    let change = twisterlab_k8s::SetImage {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        image: "twisterlab-api:v2.0".into(),
    };
    let before =
        fake.world().deployments["twisterlab-api"]["spec"]["template"]["spec"]["containers"][0]["image"]
            .clone();
    let preview = cluster.set_image(&change, true).await.expect("preview");
    assert!(preview.dry_run);
    assert_eq!(Some(preview.before.as_str()), before.as_str());
    assert_eq!(preview.after, "twisterlab-api:v2.0");
    let image = |fake: &Fake| {
        fake.world().deployments["twisterlab-api"]["spec"]["template"]["spec"]["containers"][0]["image"]
            .clone()
    };
    assert_eq!(image(&fake), before, "a preview changes nothing");
    let recorded = fake.recorded();
    let patch = recorded.iter().find(|r| r.method == "PATCH").expect("a patch");
    assert_eq!(patch.line(), format!("PATCH {API}?&dryRun=All&fieldManager={FIELD_MANAGER}"));
    assert_eq!(patch.content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    let container = preview.container.clone();
    assert_eq!(
        patch.json(),
        json!({ "spec": { "template": { "spec": { "containers": [
            { "name": container, "image": "twisterlab-api:v2.0" }
        ] } } } })
    );
    let done = cluster.set_image(&change, false).await.expect("set image");
    assert!(!done.dry_run);
    assert_eq!(image(&fake), json!("twisterlab-api:v2.0"));
    let bad = twisterlab_k8s::SetImage { image: "twisterlab api:v2".into(), ..change };
    assert!(
        matches!(cluster.set_image(&bad, true).await, Err(ClusterError::InvalidArgument(e)) if e.field == "image")
    );
}

#[tokio::test]
async fn annotate_previews_unset_to_the_value_then_sets_it_on_the_deployment() {
    let (fake, cluster) = incident_cluster().await;
    let preview =
        cluster.annotate("twisterlab-api", "maintenance", "in-progress", true).await.expect("preview");
    assert_eq!((preview.before.as_deref(), preview.after.as_deref()), (None, Some("in-progress")));
    assert_eq!(
        ChangeSummary::changes(&preview)[0].to_string(),
        "annotation maintenance: unset → in-progress"
    );
    let annotation = |fake: &Fake| {
        fake.world().deployments["twisterlab-api"]["metadata"]["annotations"]["maintenance"].clone()
    };
    assert!(annotation(&fake).is_null(), "a preview changes nothing");
    let recorded = fake.recorded();
    let patch = recorded.iter().find(|r| r.method == "PATCH").expect("a patch");
    assert_eq!(patch.line(), format!("PATCH {API}?&dryRun=All&fieldManager={FIELD_MANAGER}"));
    assert_eq!(patch.content_type.as_deref(), Some("application/strategic-merge-patch+json"));
    assert_eq!(patch.json(), json!({ "metadata": { "annotations": { "maintenance": "in-progress" } } }));
    let done = cluster.annotate("twisterlab-api", "maintenance", "complete", false).await.expect("annotate");
    assert_eq!(done.after.as_deref(), Some("complete"));
    assert_eq!(annotation(&fake), json!("complete"));
    assert!(matches!(
        cluster.annotate("twisterlab-api", "bad key", "x", true).await,
        Err(ClusterError::InvalidArgument(e)) if e.field == "annotation.key"
    ));
}
