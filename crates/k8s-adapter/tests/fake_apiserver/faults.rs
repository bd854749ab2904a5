//! When the API server says no (403, 404, 409, 422), fails (5xx, garbage), hangs or is gone:
//! each answer becomes a `ClusterError` a responder can act on, within the adapter's timeout,
//! and nothing half-done is reported as done.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use twisterlab_k8s::{Cluster, ClusterError, KubeCluster, SetEnv, SetResources};

use crate::fake::{
    Answer, Fake, PORTAL_SECRET_VALUE, cluster_answering, cluster_at, fixture, hanging_cluster,
    incident_cluster, status,
};

const API: &str = "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api";
const INGRESSES: &str = "/apis/networking.k8s.io/v1/namespaces/twisterlab/ingresses";

#[tokio::test]
async fn rbac_denial_is_forbidden_with_verb_resource_and_group() {
    let cluster = cluster_answering(|| {
        status(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:serviceaccount:twisterlab:portal\" cannot list resource \"pods\"",
        )
    })
    .await;
    let err = cluster.pods().await.expect_err("forbidden");
    assert_eq!(
        err,
        ClusterError::Forbidden { verb: "list".into(), resource: "pods".into(), group: String::new() }
    );
    assert_eq!(err.to_string(), "the portal is not allowed to list pods (forbidden by Kubernetes RBAC)");
    let err = cluster.scale_deployment("twisterlab-api", 5, true).await.expect_err("forbidden");
    assert_eq!(
        err.to_string(),
        "the portal is not allowed to get deployments/scale in API group apps (forbidden by Kubernetes RBAC)"
    );
}

#[tokio::test]
async fn a_forbidden_change_names_the_verb_the_role_lacks() {
    let (fake, cluster) = incident_cluster().await;
    fake.fail(Method::PATCH, API, Answer::Status(403, "Forbidden", "deployments.apps is forbidden".into()));
    let err = cluster.restart_deployment("twisterlab-api", true).await.expect_err("forbidden");
    assert_eq!(
        err,
        ClusterError::Forbidden {
            verb: "patch".into(),
            resource: "deployments".into(),
            group: "apps".into()
        }
    );
}

#[tokio::test]
async fn a_conflict_says_someone_else_changed_the_object() {
    let (fake, cluster) = incident_cluster().await;
    let message = "Operation cannot be fulfilled on deployments.apps \"twisterlab-api\": the object has been modified; \
                   please apply your changes to the latest version and try again";
    fake.fail(Method::PATCH, API, Answer::Status(409, "Conflict", message.into()));
    let err = cluster.restart_deployment("twisterlab-api", false).await.expect_err("conflict");
    assert_eq!(
        err,
        ClusterError::Conflict {
            resource: "deployments".into(),
            name: "twisterlab-api".into(),
            message: message.into()
        }
    );
    assert!(
        err.to_string()
            .starts_with("deployments \"twisterlab-api\" was changed by someone else at the same time")
    );
    assert!(err.to_string().ends_with("look at its current state, then try again"));
}

#[tokio::test]
async fn an_invalid_change_carries_the_api_servers_message() {
    let (fake, cluster) = incident_cluster().await;
    let message = "Deployment.apps \"twisterlab-api\" is invalid: spec.template.spec.containers[0].resources.limits: \
                   Invalid value: \"2Gi\": exceeds the namespace's LimitRange maximum of 1536Mi";
    fake.fail(Method::PATCH, API, Answer::Status(422, "Invalid", message.into()));
    let change = SetResources {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        memory_limit: Some("2Gi".into()),
        ..SetResources::default()
    };
    let err = cluster.set_resources(&change, true).await.expect_err("invalid");
    assert_eq!(
        err,
        ClusterError::Invalid {
            resource: "deployments".into(),
            name: "twisterlab-api".into(),
            message: message.into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("Kubernetes refused the change to deployments \"twisterlab-api\" as invalid: {message}")
    );
}

#[tokio::test]
async fn the_fakes_own_validation_answers_422_like_the_api_server() {
    let (fake, cluster) = incident_cluster().await;
    // The adapter checks request ≤ limit for the container it changes; a bad value already
    // stored elsewhere is the API server's to refuse.
    fake.world().deployments.get_mut("twisterlab-api").expect("api")["spec"]["template"]["spec"]["containers"]
        [1]["resources"] = serde_json::json!({ "requests": { "cpu": "2" }, "limits": { "cpu": "1" } });
    let change = SetEnv {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        name: "LOG_LEVEL".into(),
        value: "debug".into(),
    };
    let err = cluster.set_env(&change, true).await.expect_err("invalid pgbouncer resources");
    assert!(
        matches!(&err, ClusterError::Invalid { message, .. } if message.contains("containers[1].resources.requests")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_deployment_is_named() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.scale_deployment("twisterlab-ghost", 2, true).await.expect_err("no such deployment");
    assert_eq!(
        err,
        ClusterError::NotFound { resource: "deployments/scale".into(), name: "twisterlab-ghost".into() }
    );
    assert_eq!(err.to_string(), "deployments/scale \"twisterlab-ghost\" not found");
    let err = cluster.isolate_deployment("twisterlab-ghost", true).await.expect_err("no such deployment");
    assert_eq!(err.to_string(), "deployments \"twisterlab-ghost\" not found");
}

#[tokio::test]
async fn server_error_on_a_read_carries_the_servers_message() {
    let cluster = cluster_answering(|| status(500, "InternalError", "etcdserver: request timed out")).await;
    let err = cluster.deployments().await.expect_err("server error");
    assert_eq!(
        err,
        ClusterError::ServerError {
            status: 500,
            message: "etcdserver: request timed out".into(),
            change: false
        }
    );
    assert_eq!(err.to_string(), "the Kubernetes API answered 500: etcdserver: request timed out");
}

#[tokio::test]
async fn server_error_on_a_change_says_the_outcome_is_unknown() {
    let (fake, cluster) = incident_cluster().await;
    fake.fail(
        Method::PATCH,
        &format!("{API}/scale"),
        Answer::Status(503, "ServiceUnavailable", "etcd leader changed".into()),
    );
    let err = cluster.scale_deployment("twisterlab-api", 5, false).await.expect_err("server error");
    assert_eq!(
        err.to_string(),
        "the Kubernetes API answered 503: etcd leader changed \
         (the change may or may not have been applied: look before retrying)"
    );
}

#[tokio::test]
async fn plain_text_server_error_is_a_server_error_too() {
    let cluster =
        cluster_answering(|| (StatusCode::INTERNAL_SERVER_ERROR, "upstream connect error").into_response())
            .await;
    let err = cluster.warning_events(10).await.expect_err("server error");
    assert_eq!(
        err,
        ClusterError::ServerError { status: 500, message: "upstream connect error".into(), change: false }
    );
}

#[tokio::test]
async fn garbage_answer_is_an_invalid_response() {
    let cluster = cluster_answering(|| {
        ([(header::CONTENT_TYPE, "text/html")], "<html>proxy login</html>").into_response()
    })
    .await;
    let err = cluster.pods().await.expect_err("garbage");
    assert!(matches!(err, ClusterError::InvalidResponse(_)), "{err:?}");
}

/// `call` must end in a `Timeout` after about `timeout`; the outer bound turns a regression
/// into a failure rather than a hung test run.
async fn times_out<T: std::fmt::Debug>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, ClusterError>>,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the adapter's own timeout fires first");
    assert!(matches!(result, Err(ClusterError::Timeout { after }) if after == timeout), "{result:?}");
    assert!(started.elapsed() >= timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn hanging_api_server_times_out_every_call_within_the_configured_timeout() {
    let timeout = Duration::from_millis(300);
    let (_fake, cluster) = hanging_cluster().await;
    let cluster = cluster.with_timeout(timeout);
    let env =
        SetEnv { deployment: "mcp-unified".into(), container: None, name: "A".into(), value: "b".into() };
    // All at once: each must time out on its own clock, and the test stays short.
    tokio::join!(
        times_out(timeout, cluster.pods()),
        times_out(timeout, cluster.scale_deployment("twisterlab-api", 5, false)),
        times_out(timeout, cluster.deployment_pods("twisterlab-api")),
        times_out(timeout, cluster.tail_logs("twisterlab-api", Some("error"), 100)),
        times_out(timeout, cluster.describe_pod("twisterlab-api-7d9f8b6c5d-x2x4q")),
        times_out(timeout, cluster.rollout_status("twisterlab-api")),
        times_out(timeout, cluster.service_endpoints("twisterlab-api")),
        times_out(timeout, cluster.secret_has_key("twisterlab-secrets", "DATABASE_URL")),
        times_out(timeout, cluster.network_policies()),
        times_out(timeout, cluster.config_map("twisterlab-config")),
        times_out(timeout, cluster.isolate_deployment("twisterlab-api", false)),
        times_out(timeout, cluster.set_env(&env, true)),
    );
}

#[tokio::test]
async fn waiting_on_a_hanging_api_server_ends_with_the_wait() {
    let (_fake, cluster) = hanging_cluster().await;
    let cluster =
        cluster.with_timeout(Duration::from_millis(200)).with_poll_interval(Duration::from_millis(10));
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        cluster.wait_for_rollout("twisterlab-api", Duration::from_secs(1), &|_| {}),
    )
    .await
    .expect("the wait's own timeout fires first");
    assert!(matches!(result, Err(ClusterError::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = cluster_at(addr).deployments().await.expect_err("nothing listens");
    assert!(matches!(&err, ClusterError::Unreachable(text) if !text.is_empty()), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Isolation stopped part way
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn isolation_refused_on_one_ingress_reports_exactly_what_was_done() {
    let (fake, cluster) = incident_cluster().await;
    fake.fail(
        Method::DELETE,
        &format!("{INGRESSES}/twisterlab-ingress"),
        Answer::Status(
            403,
            "Forbidden",
            "ingresses.networking.k8s.io \"twisterlab-ingress\" is forbidden".into(),
        ),
    );
    let err = cluster.isolate_deployment("twisterlab-api", false).await.expect_err("partly applied");
    let ClusterError::PartiallyApplied { action, done, failed, not_attempted } = &err else {
        panic!("not a partial application: {err:?}");
    };
    assert_eq!(action, "isolate deployment twisterlab-api");
    assert_eq!(
        done,
        &["scaled deployment twisterlab-api from 3 to 0 replicas", "deleted Ingress twisterlab-api-admin"]
    );
    assert_eq!(
        failed,
        &["delete Ingress twisterlab-ingress: the portal is not allowed to delete ingresses in API group \
           networking.k8s.io (forbidden by Kubernetes RBAC)"]
    );
    assert!(not_attempted.is_empty());
    let world = fake.world();
    assert!(
        world.ingresses.contains_key("twisterlab-ingress")
            && !world.ingresses.contains_key("twisterlab-api-admin")
    );
}

#[tokio::test]
async fn isolation_hanging_part_way_says_which_steps_were_applied_and_which_not() {
    let (fake, cluster) = incident_cluster().await;
    let timeout = Duration::from_millis(500);
    let cluster = cluster.with_timeout(timeout);
    fake.fail(Method::DELETE, &format!("{INGRESSES}/twisterlab-api-admin"), Answer::Hang);
    let started = Instant::now();
    let err = cluster.isolate_deployment("twisterlab-api", false).await.expect_err("partly applied");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let ClusterError::PartiallyApplied { done, failed, not_attempted, .. } = &err else {
        panic!("not a partial application: {err:?}");
    };
    assert_eq!(done, &["scaled deployment twisterlab-api from 3 to 0 replicas"]);
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .starts_with("delete Ingress twisterlab-api-admin: the Kubernetes API server did not answer"),
        "{failed:?}"
    );
    assert_eq!(not_attempted, &["delete Ingress twisterlab-ingress"]);
    assert!(err.to_string().contains("Not attempted: delete Ingress twisterlab-ingress"), "{err}");
}

#[tokio::test]
async fn isolation_preview_refused_is_the_refusal_and_changes_nothing() {
    let (fake, cluster) = incident_cluster().await;
    fake.fail(
        Method::DELETE,
        &format!("{INGRESSES}/twisterlab-ingress"),
        Answer::Status(403, "Forbidden", "forbidden".into()),
    );
    let err = cluster.isolate_deployment("twisterlab-api", true).await.expect_err("preview refused");
    assert!(matches!(err, ClusterError::Forbidden { .. }), "{err:?}");
    assert_eq!(fake.world().ingresses.len(), 3);
}

#[tokio::test]
async fn an_ingress_replaced_since_it_was_read_is_a_conflict() {
    let (fake, cluster) = incident_cluster().await;
    // Another object now has the name: the uid precondition stops the delete.
    fake.fail(
        Method::DELETE,
        &format!("{INGRESSES}/twisterlab-api-admin"),
        Answer::Status(
            409,
            "Conflict",
            "Precondition failed: UID in precondition: admin-uid, UID in object meta: new".into(),
        ),
    );
    let err = cluster.isolate_deployment("twisterlab-api", false).await.expect_err("partly applied");
    let ClusterError::PartiallyApplied { failed, .. } = &err else { panic!("{err:?}") };
    assert!(failed[0].contains("was changed by someone else at the same time"), "{failed:?}");
}

// ---------------------------------------------------------------------------------------
// Secret values never leave the adapter, whatever the answer
// ---------------------------------------------------------------------------------------

fn secret_values() -> Vec<String> {
    let secret = fixture(include_str!("../../fixtures/secret_twisterlab.json"));
    let mut values: Vec<String> = secret["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.as_str().map(str::to_owned))
        .collect();
    values.extend(["hunter2-s3cret".to_owned(), PORTAL_SECRET_VALUE.to_owned()]);
    values
}

async fn secret_check_error(cluster: &KubeCluster) -> String {
    let err = cluster.secret_has_key("twisterlab-secrets", "DATABASE_URL").await.expect_err("refused");
    format!("{err} {err:?}")
}

#[tokio::test]
async fn secret_values_never_appear_in_an_error() {
    let value = secret_values()[0].clone();
    // An answer that is not a Secret but carries a value where a map belongs.
    let garbled = Fake::default();
    let leaky = axum::Router::new().fallback(move || {
        let value = value.clone();
        async move { axum::Json(serde_json::json!({ "kind": "Secret", "data": value })).into_response() }
    });
    let cluster = cluster_at(garbled.serve_router(leaky).await);
    let shown = secret_check_error(&cluster).await;
    assert!(shown.contains("is not a readable Secret (its content is not shown)"), "{shown}");

    let mut errors = vec![shown];
    for code in [403, 404, 409, 422, 500] {
        let (fake, cluster) = incident_cluster().await;
        fake.fail(
            Method::GET,
            "/api/v1/namespaces/twisterlab/secrets/twisterlab-secrets",
            Answer::Status(code, "Failure", "secrets \"twisterlab-secrets\" refused".into()),
        );
        errors.push(secret_check_error(&cluster).await);
    }
    for text in errors {
        for value in secret_values() {
            assert!(!text.contains(&value), "a secret value leaked: {text}");
        }
    }
}

#[tokio::test]
async fn set_image_and_annotate_carry_each_refusal_of_the_patch_and_change_nothing() {
    let image = twisterlab_k8s::SetImage {
        deployment: "twisterlab-api".into(),
        container: Some("api".into()),
        image: "twisterlab-api:v2.0".into(),
    };
    let answers: [(u16, &'static str, &str); 3] = [
        (403, "Forbidden", "deployments.apps \"twisterlab-api\" is forbidden: cannot patch"),
        (409, "Conflict", "the object has been modified; please apply your changes to the latest version"),
        (
            422,
            "Invalid",
            "Deployment.apps \"twisterlab-api\" is invalid: spec.template.spec.containers[0].image: Invalid value",
        ),
    ];
    for (code, reason, message) in answers {
        let (fake, cluster) = incident_cluster().await;
        fake.fail(Method::PATCH, API, Answer::Status(code, reason, message.into()));
        let before = fake.world().deployments["twisterlab-api"].clone();
        let err = cluster.set_image(&image, false).await.expect_err("refused");
        let shown = err.to_string();
        match code {
            403 => assert!(matches!(err, ClusterError::Forbidden { .. }), "{err:?}"),
            409 => {
                assert!(matches!(err, ClusterError::Conflict { .. }) && shown.contains(message), "{err:?}")
            }
            _ => assert!(shown.contains("is invalid"), "{shown}"),
        }
        let err =
            cluster.annotate("twisterlab-api", "maintenance", "complete", false).await.expect_err("refused");
        assert!(!err.to_string().is_empty());
        assert_eq!(fake.world().deployments["twisterlab-api"], before, "nothing changed after {code}");
    }
    let (_fake, cluster) = incident_cluster().await;
    let missing = twisterlab_k8s::SetImage { deployment: "no-such-api".into(), ..image.clone() };
    assert!(matches!(cluster.set_image(&missing, true).await, Err(ClusterError::NotFound { .. })));

    let (_fake, cluster) = hanging_cluster().await;
    let cluster = cluster.with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    assert!(matches!(cluster.set_image(&image, true).await, Err(ClusterError::Timeout { .. })));
    assert!(matches!(
        cluster.annotate("twisterlab-api", "maintenance", "complete", true).await,
        Err(ClusterError::Timeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}
