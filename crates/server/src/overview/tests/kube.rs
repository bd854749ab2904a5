//! The Kubernetes panel through the adapter and a real kube `Client`, against a fake API server
//! speaking the REST shapes over HTTP: an incident night (CrashLoopBackOff, OOMKilled, an image
//! that cannot be pulled), then 403, 500 and a hang.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sqlx::PgPool;
use twisterlab_domain::role::Role;
use twisterlab_k8s::{Cluster, KubeCluster, Unconfigured};

use super::serve;
use crate::cluster::ClusterHandle;
use crate::overview::cluster::KubeSnapshot;
use crate::overview::jobs::KubeSnapshotJob;
use crate::state::AppState;
use crate::testing::{self, TestApp, get as get_page, send};

const NS: &str = "twisterlab";

/// How the fake API server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Normal,
    Forbidden,
    Broken,
    Hang,
}

#[derive(Clone)]
struct Fake {
    behaviour: Arc<Mutex<Behaviour>>,
    metrics_served: bool,
}

impl Fake {
    fn set(&self, b: Behaviour) {
        *self.behaviour.lock().expect("lock") = b;
    }
}

fn fixture(json: &str) -> Value {
    serde_json::from_str(json).expect("fixture JSON")
}

fn deployments() -> Vec<Value> {
    vec![
        fixture(include_str!("../../../../k8s-adapter/fixtures/deployment_stalled.json")),
        fixture(include_str!("../../../../k8s-adapter/fixtures/deployment_complete.json")),
    ]
}

fn pods() -> Vec<Value> {
    vec![
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_healthy.json")),
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_crashloop.json")),
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_oomkilled.json")),
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_image_pull.json")),
    ]
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Response {
    axum::Json(json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items}))
        .into_response()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body))
        .into_response()
}

async fn behave(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let behaviour = *fake.behaviour.lock().expect("lock");
    match behaviour {
        Behaviour::Normal => next.run(request).await,
        Behaviour::Forbidden => status(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:serviceaccount:twisterlab:portal\" cannot list resource \"pods\"",
        ),
        Behaviour::Broken => status(500, "InternalError", "etcdserver: request timed out"),
        Behaviour::Hang => std::future::pending().await,
    }
}

type Params = Query<HashMap<String, String>>;

async fn fake_api(fake: Fake) -> SocketAddr {
    let app = Router::new()
        .route("/apis/apps/v1/namespaces/{ns}/deployments", get(|| async { list("DeploymentList", "apps/v1", deployments()) }))
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            get(|Path((_ns, name)): Path<(String, String)>| async move {
                match deployments().into_iter().find(|d| d["metadata"]["name"] == name.as_str()) {
                    Some(d) => axum::Json(d).into_response(),
                    None => status(404, "NotFound", &format!("deployments.apps \"{name}\" not found")),
                }
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods",
            get(|Query(params): Params| async move {
                let selector = params.get("labelSelector").cloned().unwrap_or_default();
                let wanted: Vec<(String, String)> = selector
                    .split(',')
                    .filter_map(|t| t.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect();
                let items = pods()
                    .into_iter()
                    .filter(|p| wanted.iter().all(|(k, v)| p["metadata"]["labels"][k].as_str() == Some(v)))
                    .collect();
                list("PodList", "v1", items)
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            get(|Path((_ns, name)): Path<(String, String)>| async move {
                match pods().into_iter().find(|p| p["metadata"]["name"] == name.as_str()) {
                    Some(p) => axum::Json(p).into_response(),
                    None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
                }
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/log",
            get(|Path((_ns, name)): Path<(String, String)>, Query(params): Params| async move {
                let lines: Vec<String> = (1..=150).map(|i| format!("{name} line {i}")).collect();
                let tail = params.get("tailLines").and_then(|t| t.parse::<usize>().ok()).unwrap_or(lines.len());
                let mut body = lines[lines.len().saturating_sub(tail)..].join("\n");
                body.push_str("\nFATAL: remaining connection slots are reserved\n");
                ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/events",
            get(|| async {
                let event = |name: &str, reason: &str, last: &str, count: i32| {
                    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
                           "involvedObject": {"kind": "Pod", "name": "twisterlab-api-7d9f8b6c5d-x2x4q", "namespace": NS},
                           "type": "Warning", "reason": reason, "message": format!("{reason} happened"),
                           "lastTimestamp": last, "count": count})
                };
                list(
                    "EventList",
                    "v1",
                    vec![event("a", "BackOff", "2026-11-29T03:07:30Z", 27), event("b", "OOMKilling", "2026-11-29T03:09:00Z", 3)],
                )
            }),
        )
        .route(
            "/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
            get(|State(fake): State<Fake>| async move {
                if !fake.metrics_served {
                    return status(404, "NotFound", "the server could not find the requested resource");
                }
                list(
                    "PodMetricsList",
                    "metrics.k8s.io/v1beta1",
                    vec![json!({"metadata": {"name": "twisterlab-worker-5c6b7d8f9-q7wzk", "namespace": NS},
                                "timestamp": "2026-11-29T03:10:00Z", "window": "30s",
                                "containers": [{"name": "worker", "usage": {"cpu": "912345678n", "memory": "1000Mi"}}]})],
                )
            }),
        )
        .layer(middleware::from_fn_with_state(fake.clone(), behave))
        .with_state(fake);
    serve(app).await
}

/// A real kube client to the fake, with `timeout` per adapter call.
fn cluster_at(addr: SocketAddr, timeout: Duration) -> Arc<dyn Cluster> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(format!("http://{addr}").parse().expect("url"));
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("kube client");
    Arc::new(KubeCluster::from_client(client, NS).with_timeout(timeout))
}

async fn setup(pool: &PgPool, metrics_served: bool) -> (Fake, Arc<dyn Cluster>, KubeSnapshotJob) {
    let fake = Fake { behaviour: Arc::new(Mutex::new(Behaviour::Normal)), metrics_served };
    let cluster = cluster_at(fake_api(fake.clone()).await, Duration::from_millis(500));
    let handle = ClusterHandle::fixed(cluster.clone(), Arc::new(testing::config()));
    let job = KubeSnapshotJob { pool: pool.clone(), cluster: handle, min_age: Duration::ZERO };
    (fake, cluster, job)
}

async fn overview_html(pool: &PgPool, role: Role) -> String {
    let browser = testing::signed_in(pool, role).await;
    let app = testing::app(pool);
    // The page reads the stored snapshot; an outer bound turns a regression into a failure.
    let (response, html) =
        tokio::time::timeout(Duration::from_secs(20), send(&app, get_page("/", Some(&browser))))
            .await
            .expect("the overview answers without waiting on the API server");
    assert_eq!(response.status(), 200, "{html}");
    html
}

fn position(html: &str, needle: &str) -> usize {
    html.find(needle).unwrap_or_else(|| panic!("{needle:?} not on the page"))
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn the_snapshot_puts_oom_killed_and_crash_looping_pods_first(pool: PgPool) {
    let (_fake, _cluster, job) = setup(&pool, true).await;
    let snapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert!(snapshot.configured);
    let pods = snapshot.pods.data.as_ref().expect("pods");
    let order: Vec<(&str, Option<&str>)> =
        pods.iter().map(|p| (p.name.as_str(), p.problem.as_deref())).collect();
    assert_eq!(
        order,
        [
            ("twisterlab-worker-5c6b7d8f9-q7wzk", Some("OOMKilled")),
            ("twisterlab-api-7d9f8b6c5d-x2x4q", Some("CrashLoopBackOff")),
            ("twisterlab-web-6f7c9d8b4-tt9zr", Some("ImagePullBackOff")),
            ("twisterlab-api-7d9f8b6c5d-m8k2p", None),
        ]
    );
    assert_eq!(snapshot.problem_pods(), 3);
    let api = &snapshot.deployments.data.as_ref().expect("deployments")[0];
    assert!(api.stalled && api.troubled(), "{api:?}");
    assert_eq!(snapshot.events.data.as_ref().expect("events")[0].reason, "OOMKilling", "newest first");
    let usage = snapshot.usage.data.as_ref().expect("usage read");
    assert!(usage.served);
    assert_eq!((usage.pods[0].cpu_millicores, usage.pods[0].memory_bytes), (913, 1000 * 1024 * 1024));

    let html = overview_html(&pool, Role::Viewer).await;
    assert!(position(&html, "OOMKilled") < position(&html, "CrashLoopBackOff"), "problems first");
    assert!(position(&html, "CrashLoopBackOff") < position(&html, "ImagePullBackOff"));
    assert!(html.contains("stalled: ReplicaSet"), "{html}");
    assert!(html.contains("913 m CPU, 1000 MiB"), "{html}");
    // One wording for times: a snapshot taken moments ago reads "just now", however slow the test.
    let taken = position(&html, "Snapshot taken");
    assert!(html[taken..].find("(just now)").is_some_and(|at| at < 300), "{html}");
    assert!(!html.contains("/kubernetes/logs/"), "viewers get no log links");
    let html = overview_html(&pool, Role::Responder).await;
    assert!(html.contains("/kubernetes/logs/twisterlab-worker"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn without_metrics_k8s_io_the_panel_says_so(pool: PgPool) {
    let (_fake, _cluster, job) = setup(&pool, false).await;
    let snapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert_eq!(snapshot.usage.data.as_ref().map(|u| u.served), Some(false));
    let html = overview_html(&pool, Role::Viewer).await;
    assert!(html.contains("does not serve metrics.k8s.io"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn forbidden_failing_and_hanging_api_servers_are_shown_and_never_block_the_page(pool: PgPool) {
    let (fake, _cluster, job) = setup(&pool, true).await;
    job.run_once().await.expect("stored").expect("first snapshot");

    fake.set(Behaviour::Forbidden);
    let snapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert_eq!(
        snapshot.pods.error.as_deref(),
        Some("the portal is not allowed to list pods (forbidden by Kubernetes RBAC)")
    );
    assert_eq!(snapshot.pods.data.as_ref().map(Vec::len), Some(4), "the last good pods are kept");
    let html = overview_html(&pool, Role::Viewer).await;
    assert!(html.contains("The API server failed on pods: the portal is not allowed to list pods"), "{html}");
    assert!(html.contains("CrashLoopBackOff"), "older data still shown: {html}");

    fake.set(Behaviour::Broken);
    let snapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert_eq!(
        snapshot.deployments.error.as_deref(),
        Some("the Kubernetes API answered 500: etcdserver: request timed out")
    );
    assert!(overview_html(&pool, Role::Viewer).await.contains("etcdserver: request timed out"));

    fake.set(Behaviour::Hang);
    let refresh = tokio::time::timeout(Duration::from_secs(20), job.run_once())
        .await
        .expect("the adapter's timeout ends the refresh");
    let snapshot = refresh.expect("stored").expect("refreshed");
    assert!(snapshot.events.error.as_deref().is_some_and(|e| e.contains("did not answer")), "{snapshot:?}");
    assert!(overview_html(&pool, Role::Viewer).await.contains("did not answer within"));

    fake.set(Behaviour::Normal);
    let snapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert!(snapshot.pods.error.is_none() && snapshot.events.error.is_none());
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn no_cluster_configured_is_what_the_panel_says(pool: PgPool) {
    let job = KubeSnapshotJob {
        pool: pool.clone(),
        cluster: ClusterHandle::fixed(
            Arc::new(Unconfigured::because("found neither a kubeconfig nor an in-cluster service account")),
            Arc::new(testing::config()),
        ),
        min_age: Duration::ZERO,
    };
    let snapshot: KubeSnapshot = job.run_once().await.expect("stored").expect("refreshed");
    assert!(!snapshot.configured);
    let html = overview_html(&pool, Role::Viewer).await;
    assert!(html.contains("no cluster configured") && html.contains("found neither a kubeconfig"), "{html}");
}

#[sqlx::test(migrator = "crate::db::MIGRATOR")]
async fn responders_read_the_last_100_log_lines_of_a_deployment(pool: PgPool) {
    let (fake, cluster, _job) = setup(&pool, true).await;
    let app = TestApp::with_state(
        AppState::new(pool.clone(), testing::config(), "test".into()).with_cluster(cluster),
    )
    .router;

    let responder = testing::signed_in(&pool, Role::Responder).await;
    let (response, html) = send(&app, get_page("/kubernetes/logs/twisterlab-api", Some(&responder))).await;
    assert_eq!(response.status(), 200, "{html}");
    assert!(html.contains("twisterlab-api-7d9f8b6c5d-x2x4q"), "the crash-looping pod is picked: {html}");
    assert!(html.contains("FATAL: remaining connection slots are reserved"), "{html}");
    assert!(html.contains("line 150") && !html.contains("line 50\n"), "{html}");

    let viewer = testing::signed_in(&pool, Role::Viewer).await;
    let (response, _) = send(&app, get_page("/kubernetes/logs/twisterlab-api", Some(&viewer))).await;
    assert_eq!(response.status(), 403);

    let (response, html) =
        send(&app, get_page("/kubernetes/logs/no-such-deployment", Some(&responder))).await;
    assert_eq!(response.status(), 404);
    assert!(html.contains("not found"), "{html}");

    fake.set(Behaviour::Forbidden);
    let (response, html) = send(&app, get_page("/kubernetes/logs/twisterlab-api", Some(&responder))).await;
    assert_eq!(response.status(), 200);
    assert!(html.contains("No logs: the portal is not allowed to"), "{html}");
}
