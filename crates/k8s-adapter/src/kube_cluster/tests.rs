//! Exact request sequences, checked against kube's mock service (`tower_test::mock::pair`).

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::Handle;

use super::*;

type ApiHandle = Handle<Request<Body>, Response<Body>>;

fn mock_cluster() -> (KubeCluster, ApiHandle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "twisterlab");
    (KubeCluster::from_client(client, "twisterlab"), handle)
}

fn scale(replicas: i32) -> Vec<u8> {
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": { "name": "twisterlab-api", "namespace": "twisterlab", "resourceVersion": "884300" },
        "spec": { "replicas": replicas },
        "status": { "replicas": 3, "selector": "app=twisterlab-api" }
    })
    .to_string()
    .into_bytes()
}

fn ok(body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response
}

fn query(request: &Request<Body>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    pairs.sort();
    pairs
}

async fn json_body(request: Request<Body>) -> Value {
    let bytes = request.into_body().collect().await.expect("request body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON request body")
}

fn content_type(request: &Request<Body>) -> &str {
    request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Once the cluster (and its client) is gone, the mock must have seen no further request.
async fn assert_no_more_requests(mut handle: ApiHandle) {
    let next = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("the mock service is released when the client is dropped");
    assert!(next.is_none(), "unexpected extra request: {:?}", next.map(|(r, _)| r));
}

#[tokio::test]
async fn dry_run_scale_reads_the_scale_then_patches_it_with_dry_run_all() {
    let (cluster, mut handle) = mock_cluster();
    let api_server = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.expect("GET scale");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(
            request.uri().to_string(),
            "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api/scale"
        );
        respond.send_response(ok(scale(3)));

        let (request, respond) = handle.next_request().await.expect("PATCH scale");
        assert_eq!(request.method(), Method::PATCH);
        assert_eq!(
            request.uri().path(),
            "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api/scale"
        );
        assert_eq!(
            query(&request),
            [("dryRun".to_owned(), "All".to_owned()), ("fieldManager".to_owned(), FIELD_MANAGER.to_owned())]
        );
        assert_eq!(content_type(&request), "application/merge-patch+json");
        assert_eq!(json_body(request).await, json!({ "spec": { "replicas": 5 } }));
        respond.send_response(ok(scale(5)));
        handle
    });

    let change = cluster.scale_deployment("twisterlab-api", 5, true).await.expect("dry-run scale succeeds");
    assert_eq!(change, ScaleChange { deployment: "twisterlab-api".into(), from: 3, to: 5, dry_run: true });
    let handle = api_server.await.expect("mock API server task");
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[tokio::test]
async fn real_scale_patches_without_dry_run() {
    let (cluster, mut handle) = mock_cluster();
    let api_server = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.expect("GET scale");
        assert_eq!(request.method(), Method::GET);
        respond.send_response(ok(scale(3)));
        let (request, respond) = handle.next_request().await.expect("PATCH scale");
        assert_eq!(request.method(), Method::PATCH);
        assert_eq!(query(&request), [("fieldManager".to_owned(), FIELD_MANAGER.to_owned())]);
        assert_eq!(json_body(request).await, json!({ "spec": { "replicas": 0 } }));
        respond.send_response(ok(scale(0)));
    });
    let change = cluster.scale_deployment("twisterlab-api", 0, false).await.expect("scale succeeds");
    assert_eq!((change.from, change.to, change.dry_run), (3, 0, false));
    api_server.await.expect("mock API server task");
}

#[tokio::test]
async fn restart_patches_the_template_annotation_like_kubectl() {
    let (cluster, mut handle) = mock_cluster();
    let api_server = tokio::spawn(async move {
        let (request, respond) = handle.next_request().await.expect("GET deployment");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(
            request.uri().to_string(),
            "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api"
        );
        let before = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "twisterlab-api", "namespace": "twisterlab" },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "twisterlab-api" } },
                "template": { "metadata": { "annotations": { RESTARTED_AT_ANNOTATION: "2026-11-28T10:00:00Z" } } }
            }
        });
        respond.send_response(ok(before.to_string().into_bytes()));

        let (request, respond) = handle.next_request().await.expect("PATCH deployment");
        assert_eq!(request.method(), Method::PATCH);
        assert_eq!(request.uri().path(), "/apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api");
        assert_eq!(
            query(&request),
            [("dryRun".to_owned(), "All".to_owned()), ("fieldManager".to_owned(), FIELD_MANAGER.to_owned())]
        );
        assert_eq!(content_type(&request), "application/strategic-merge-patch+json");
        let body = json_body(request).await;
        let stamp = body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT_ANNOTATION]
            .as_str()
            .expect("restartedAt annotation")
            .to_owned();
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "twisterlab-api", "namespace": "twisterlab" },
            "spec": {
                "selector": { "matchLabels": { "app": "twisterlab-api" } },
                "template": { "metadata": { "annotations": { RESTARTED_AT_ANNOTATION: stamp } } }
            }
        });
        respond.send_response(ok(deployment.to_string().into_bytes()));
        stamp
    });
    let change = cluster.restart_deployment("twisterlab-api", true).await.expect("dry-run restart succeeds");
    let stamp = api_server.await.expect("mock API server task");
    assert_eq!(change.restarted_at.to_string(), stamp);
    assert_eq!(change.previous_restart.as_deref(), Some("2026-11-28T10:00:00Z"));
    assert_eq!(change.replicas, 3);
    assert!(change.dry_run);
    assert_eq!(change.restarted_at.subsec_nanosecond(), 0, "whole seconds, like kubectl");
}

#[tokio::test]
async fn invalid_names_and_negative_replicas_never_reach_the_api_server() {
    let (cluster, handle) = mock_cluster();
    for (name, replicas, field) in [
        ("../secrets", 1, "deployment"),
        ("Api", 1, "deployment"),
        ("", 1, "deployment"),
        ("twisterlab-api", -1, "replicas"),
        ("twisterlab-api", 10_000, "replicas"),
    ] {
        let err = cluster.scale_deployment(name, replicas, true).await.expect_err("refused");
        assert!(matches!(&err, ClusterError::InvalidArgument(e) if e.field == field), "{err:?}");
    }
    let err = cluster.restart_deployment("x/../y", true).await.expect_err("refused");
    assert!(matches!(err, ClusterError::InvalidArgument(_)), "{err:?}");
    let err = cluster.pod_logs("twisterlab-api/../x", 100).await.expect_err("refused");
    assert!(matches!(err, ClusterError::InvalidArgument(_)), "{err:?}");
    drop(cluster);
    assert_no_more_requests(handle).await;
}

#[test]
fn metrics_quantities_are_summed_over_containers() {
    let pod: PodMetrics = serde_json::from_value(json!({
        "metadata": { "name": "twisterlab-worker-5c6b7d8f9-q7wzk" },
        "timestamp": "2026-11-29T03:10:00Z",
        "window": "30s",
        "containers": [
            { "name": "worker", "usage": { "cpu": "123456789n", "memory": "900Mi" } },
            { "name": "log-shipper", "usage": { "cpu": "5m", "memory": "20480Ki" } }
        ]
    }))
    .expect("PodMetrics JSON");
    assert_eq!(
        pod_usage_of(pod),
        PodUsage {
            pod: "twisterlab-worker-5c6b7d8f9-q7wzk".into(),
            cpu_millicores: 129,
            memory_bytes: 900 * 1024 * 1024 + 20 * 1024 * 1024,
        }
    );
}
