//! `KubeCluster` through a real `kube::Client` against a fake API server that speaks the
//! Kubernetes REST protocol over plain HTTP on 127.0.0.1.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use twisterlab_k8s::{
    Cluster, ClusterError, DEFAULT_TAIL_LINES, KubeCluster, PodUsage, Problem, RESTARTED_AT_ANNOTATION,
    RolloutState, ScaleChange,
};

const NS: &str = "twisterlab";

// ---------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------

/// What the fake cluster holds; handlers read and change it like the real API server would.
#[derive(Default)]
struct World {
    deployments: BTreeMap<String, Value>,
    pods: Vec<Value>,
    events: Vec<Value>,
    /// Log text per `pod/container`.
    logs: HashMap<String, String>,
    /// `PodMetricsList` items; `None` = metrics.k8s.io not served.
    metrics: Option<Vec<Value>>,
    /// Every request as `METHOD path?query`, in order.
    requests: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl Fake {
    fn world(&self) -> MutexGuard<'_, World> {
        self.0.lock().expect("fake world lock")
    }

    fn requests(&self) -> Vec<String> {
        self.world().requests.clone()
    }

    /// The standard incident night: an API deployment stalled with a crash-looping pod,
    /// a worker whose pod was OOM-killed, a web deployment that cannot pull its image.
    fn incident_night() -> Self {
        let fake = Self::default();
        {
            let mut world = fake.world();
            for json in [
                include_str!("../fixtures/deployment_stalled.json"),
                include_str!("../fixtures/deployment_complete.json"),
            ] {
                let deployment = fixture(json);
                let name = deployment["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                world.deployments.insert(name, deployment);
            }
            world.pods = [
                include_str!("../fixtures/pod_oomkilled.json"),
                include_str!("../fixtures/pod_healthy.json"),
                include_str!("../fixtures/pod_crashloop.json"),
                include_str!("../fixtures/pod_image_pull.json"),
            ]
            .into_iter()
            .map(fixture)
            .collect();
            world.events = vec![
                event("api-backoff", "Warning", "BackOff", "2026-11-29T03:07:30Z", 27),
                event("api-probe", "Warning", "Unhealthy", "2026-11-29T03:09:00Z", 4),
                event("api-pulled", "Normal", "Pulled", "2026-11-29T03:10:00Z", 1),
                event("web-pull", "Warning", "Failed", "2026-11-29T03:05:00Z", 9),
            ];
            let crash_log: Vec<String> =
                (1..=150).map(|i| format!("2026-11-29T03:07:{:02}Z line {i}", i % 60)).collect();
            world.logs.insert(
                "twisterlab-api-7d9f8b6c5d-x2x4q/api".into(),
                crash_log.join("\n") + "\nFATAL: remaining connection slots are reserved\n",
            );
            world.logs.insert("twisterlab-api-7d9f8b6c5d-m8k2p/api".into(), "GET /health 200\n".into());
        }
        fake
    }

    async fn serve(&self) -> SocketAddr {
        let app = Router::new()
            .route("/apis/apps/v1/namespaces/{ns}/deployments", get(list_deployments))
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                get(get_deployment).patch(patch_deployment),
            )
            .route(
                "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
                get(get_scale).put(put_scale).patch(patch_scale),
            )
            .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
            .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route("/api/v1/namespaces/{ns}/events", get(list_events))
            .route("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", get(pod_metrics))
            .fallback(|| async {
                status(404, "NotFound", "the server could not find the requested resource")
            })
            .layer(middleware::from_fn_with_state(self.clone(), record))
            .with_state(self.clone());
        serve(app).await
    }
}

fn fixture(json: &str) -> Value {
    serde_json::from_str(json).expect("fixture JSON")
}

fn event(name: &str, type_: &str, reason: &str, last: &str, count: i32) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": name, "namespace": NS },
        "involvedObject": { "kind": "Pod", "name": "twisterlab-api-7d9f8b6c5d-x2x4q", "namespace": NS },
        "type": type_, "reason": reason, "message": format!("{reason} happened"),
        "lastTimestamp": last, "count": count
    })
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

async fn record(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    fake.world().requests.push(line);
    next.run(request).await
}

/// A `metav1.Status` failure, as the API server sends for every error.
fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

fn not_found(resource: &str, name: &str) -> Response {
    status(404, "NotFound", &format!("{resource} \"{name}\" not found"))
}

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Response {
    axum::Json(json!({
        "kind": kind, "apiVersion": api_version,
        "metadata": { "resourceVersion": "884400" },
        "items": items
    }))
    .into_response()
}

type Params = Query<HashMap<String, String>>;

fn dry_run(params: &HashMap<String, String>) -> bool {
    params.get("dryRun").map(String::as_str) == Some("All")
}

fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) == Some(expected)
}

async fn list_deployments(State(fake): State<Fake>, Path(ns): Path<String>) -> Response {
    let items = if ns == NS { fake.world().deployments.values().cloned().collect() } else { Vec::new() };
    list("DeploymentList", "apps/v1", items)
}

async fn get_deployment(State(fake): State<Fake>, Path((ns, name)): Path<(String, String)>) -> Response {
    match fake.world().deployments.get(&name).filter(|_| ns == NS) {
        Some(d) => axum::Json(d.clone()).into_response(),
        None => not_found("deployments.apps", &name),
    }
}

async fn patch_deployment(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !content_type_is(&headers, "application/strategic-merge-patch+json") {
        return status(415, "UnsupportedMediaType", "only strategic merge patches are faked");
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "patch is not JSON");
    };
    let mut world = fake.world();
    let Some(stored) = world.deployments.get(&name) else {
        return not_found("deployments.apps", &name);
    };
    let mut updated = stored.clone();
    if let Some(annotations) = patch["spec"]["template"]["metadata"]["annotations"].as_object() {
        for (key, value) in annotations {
            updated["spec"]["template"]["metadata"]["annotations"][key] = value.clone();
        }
    }
    if !dry_run(&params) {
        world.deployments.insert(name, updated.clone());
    }
    axum::Json(updated).into_response()
}

fn scale_of(name: &str, deployment: &Value) -> Value {
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "replicas": deployment["spec"]["replicas"] },
        "status": { "replicas": deployment["status"]["replicas"], "selector": "app=twisterlab-api" }
    })
}

async fn get_scale(State(fake): State<Fake>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match fake.world().deployments.get(&name) {
        Some(d) => axum::Json(scale_of(&name, d)).into_response(),
        None => not_found("deployments.apps", &name),
    }
}

fn apply_scale(fake: &Fake, name: &str, replicas: Option<i64>, dry_run: bool) -> Response {
    let Some(replicas) = replicas.filter(|r| *r >= 0) else {
        return status(422, "Invalid", "spec.replicas: Invalid value: must be greater than or equal to 0");
    };
    let mut world = fake.world();
    let Some(stored) = world.deployments.get(name) else {
        return not_found("deployments.apps", name);
    };
    let mut updated = stored.clone();
    updated["spec"]["replicas"] = json!(replicas);
    let scale = scale_of(name, &updated);
    if !dry_run {
        world.deployments.insert(name.to_owned(), updated);
    }
    axum::Json(scale).into_response()
}

async fn put_scale(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let Ok(scale) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "body is not a Scale");
    };
    apply_scale(&fake, &name, scale["spec"]["replicas"].as_i64(), dry_run(&params))
}

async fn patch_scale(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !content_type_is(&headers, "application/merge-patch+json") {
        return status(415, "UnsupportedMediaType", "only merge patches are faked for scale");
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "patch is not JSON");
    };
    apply_scale(&fake, &name, patch["spec"]["replicas"].as_i64(), dry_run(&params))
}

/// `labelSelector` with equality terms only (`a=b,c=d`), which is what matchLabels become.
fn matches_selector(pod: &Value, selector: &str) -> Option<bool> {
    let mut all = true;
    for term in selector.split(',').filter(|t| !t.is_empty()) {
        let (key, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        all &= pod["metadata"]["labels"][key].as_str() == Some(value);
    }
    Some(all)
}

async fn list_pods(State(fake): State<Fake>, Path(ns): Path<String>, Query(params): Params) -> Response {
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let world = fake.world();
    let mut items = Vec::new();
    for pod in world.pods.iter().filter(|_| ns == NS) {
        match matches_selector(pod, &selector) {
            Some(true) => items.push(pod.clone()),
            Some(false) => {}
            None => return status(400, "BadRequest", "unsupported label selector in the fake"),
        }
    }
    list("PodList", "v1", items)
}

fn find_pod(world: &World, name: &str) -> Option<Value> {
    world.pods.iter().find(|p| p["metadata"]["name"].as_str() == Some(name)).cloned()
}

async fn get_pod(State(fake): State<Fake>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match find_pod(&fake.world(), &name) {
        Some(pod) => axum::Json(pod).into_response(),
        None => not_found("pods", &name),
    }
}

async fn pod_log(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    let world = fake.world();
    let Some(pod) = find_pod(&world, &name) else {
        return not_found("pods", &name);
    };
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match params.get("container") {
        Some(c) if containers.contains(&c.as_str()) => c.clone(),
        Some(c) => return status(400, "BadRequest", &format!("container {c} is not valid for pod {name}")),
        None if containers.len() == 1 => containers[0].to_owned(),
        None => return status(400, "BadRequest", "a container name must be specified"),
    };
    let text = world.logs.get(&format!("{name}/{container}")).cloned().unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = params.get("tailLines").and_then(|t| t.parse::<usize>().ok()).unwrap_or(lines.len());
    let kept = &lines[lines.len().saturating_sub(tail)..];
    let mut body = kept.join("\n");
    if !kept.is_empty() {
        body.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

async fn list_events(State(fake): State<Fake>, Query(params): Params) -> Response {
    let wanted_type = params.get("fieldSelector").and_then(|s| s.strip_prefix("type=")).map(str::to_owned);
    let items = fake
        .world()
        .events
        .iter()
        .filter(|e| wanted_type.as_deref().is_none_or(|t| e["type"].as_str() == Some(t)))
        .cloned()
        .collect();
    list("EventList", "v1", items)
}

async fn pod_metrics(State(fake): State<Fake>) -> Response {
    match fake.world().metrics.clone() {
        Some(items) => list("PodMetricsList", "metrics.k8s.io/v1beta1", items),
        None => status(404, "NotFound", "the server could not find the requested resource"),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn cluster_at(addr: SocketAddr) -> KubeCluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://{addr}").parse().expect("cluster URL");
    let mut config = kube::Config::new(url);
    // The error tests answer 5xx on purpose; they should see the answer, not retries.
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("kube client for the fake");
    KubeCluster::from_client(client, NS)
}

async fn incident_cluster() -> (Fake, KubeCluster) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    (fake, cluster_at(addr))
}

/// A cluster whose API server answers every request with `response`.
async fn cluster_answering(response: fn() -> Response) -> KubeCluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = Router::new().fallback(move || async move { response() });
    cluster_at(serve(app).await)
}

async fn desired_replicas(cluster: &KubeCluster, name: &str) -> i32 {
    cluster
        .deployments()
        .await
        .expect("list deployments")
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.desired)
        .expect("deployment listed")
}

// ---------------------------------------------------------------------------------------
// Reading the cluster
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn deployments_are_listed_by_name_with_their_rollout_state() {
    let (fake, cluster) = incident_cluster().await;
    let deployments = cluster.deployments().await.expect("list deployments");
    let names: Vec<_> = deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["twisterlab-api", "twisterlab-worker"]);
    assert_eq!(
        deployments[0].rollout,
        RolloutState::Stalled {
            reason: "ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing.".into()
        }
    );
    assert_eq!((deployments[0].desired, deployments[0].ready), (3, 2));
    assert_eq!(deployments[1].rollout, RolloutState::Complete);
    assert_eq!(fake.requests(), ["GET /apis/apps/v1/namespaces/twisterlab/deployments?"]);
}

#[tokio::test]
async fn pods_are_listed_by_name_and_their_problems_diagnosed() {
    let (_fake, cluster) = incident_cluster().await;
    let pods = cluster.pods().await.expect("list pods");
    let diagnosis: Vec<(&str, Option<String>)> = pods
        .iter()
        .map(|p| {
            let problem = twisterlab_k8s::pod_problem(p).map(|problem| problem.code().to_owned());
            (p.name.as_str(), problem)
        })
        .collect();
    assert_eq!(
        diagnosis,
        [
            ("twisterlab-api-7d9f8b6c5d-m8k2p", None),
            ("twisterlab-api-7d9f8b6c5d-x2x4q", Some("CrashLoopBackOff".into())),
            ("twisterlab-web-6f7c9d8b4-tt9zr", Some("ImagePullBackOff".into())),
            ("twisterlab-worker-5c6b7d8f9-q7wzk", Some("OOMKilled".into())),
        ]
    );
    let oom = pods.last().expect("worker pod");
    assert_eq!(twisterlab_k8s::pod_problem(oom), Some(Problem::OomKilled { restarts: 3 }));
    assert_eq!(oom.deployment.as_deref(), Some("twisterlab-worker"));
}

#[tokio::test]
async fn warning_events_are_selected_by_the_api_server_and_returned_newest_first() {
    let (fake, cluster) = incident_cluster().await;
    let events = cluster.warning_events(2).await.expect("list events");
    let reasons: Vec<_> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["Unhealthy", "BackOff"]);
    assert!(events.iter().all(|e| e.type_ == "Warning"));
    assert_eq!(events[1].count, 27);
    assert_eq!(events[1].object.to_string(), "Pod/twisterlab-api-7d9f8b6c5d-x2x4q");
    assert_eq!(fake.requests(), ["GET /api/v1/namespaces/twisterlab/events?&fieldSelector=type%3DWarning"]);
}

#[tokio::test]
async fn logs_of_a_deployment_come_from_its_crash_looping_pod() {
    let (fake, cluster) = incident_cluster().await;
    let logs = cluster.pod_logs("twisterlab-api", DEFAULT_TAIL_LINES).await.expect("deployment logs");
    assert_eq!(logs.pod, "twisterlab-api-7d9f8b6c5d-x2x4q");
    assert_eq!(logs.container.as_deref(), Some("api"));
    let lines: Vec<_> = logs.text.lines().collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines.first(), Some(&"2026-11-29T03:07:52Z line 52"));
    assert_eq!(lines.last(), Some(&"FATAL: remaining connection slots are reserved"));
    assert_eq!(
        fake.requests(),
        [
            "GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api",
            "GET /api/v1/namespaces/twisterlab/pods?&labelSelector=app%3Dtwisterlab-api",
            "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q/log?&container=api&limitBytes=524288&tailLines=100",
        ]
    );
}

#[tokio::test]
async fn logs_of_a_named_pod_are_read_directly() {
    let (_fake, cluster) = incident_cluster().await;
    let logs = cluster.pod_logs("twisterlab-api-7d9f8b6c5d-m8k2p", 10).await.expect("pod logs");
    assert_eq!(logs.pod, "twisterlab-api-7d9f8b6c5d-m8k2p");
    assert_eq!(logs.text, "GET /health 200\n");
}

#[tokio::test]
async fn logs_of_an_unknown_name_are_not_found() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.pod_logs("no-such-thing", DEFAULT_TAIL_LINES).await.expect_err("nothing to read");
    assert_eq!(
        err,
        ClusterError::NotFound { resource: "deployments or pods".into(), name: "no-such-thing".into() }
    );
}

#[tokio::test]
async fn pod_usage_is_read_from_the_metrics_api() {
    let (fake, cluster) = incident_cluster().await;
    fake.world().metrics = Some(vec![
        json!({
            "metadata": { "name": "twisterlab-worker-5c6b7d8f9-q7wzk", "namespace": NS },
            "timestamp": "2026-11-29T03:10:00Z", "window": "30s",
            "containers": [
                { "name": "worker", "usage": { "cpu": "912345678n", "memory": "1000Mi" } },
                { "name": "log-shipper", "usage": { "cpu": "2m", "memory": "24Mi" } }
            ]
        }),
        json!({
            "metadata": { "name": "twisterlab-api-7d9f8b6c5d-m8k2p", "namespace": NS },
            "timestamp": "2026-11-29T03:10:00Z", "window": "30s",
            "containers": [ { "name": "api", "usage": { "cpu": "250m", "memory": "128Mi" } } ]
        }),
    ]);
    let usage = cluster.pod_usage().await.expect("metrics call succeeds");
    assert_eq!(
        usage,
        Some(vec![
            PodUsage {
                pod: "twisterlab-api-7d9f8b6c5d-m8k2p".into(),
                cpu_millicores: 250,
                memory_bytes: 128 * 1024 * 1024,
            },
            PodUsage {
                pod: "twisterlab-worker-5c6b7d8f9-q7wzk".into(),
                cpu_millicores: 915,
                memory_bytes: 1024 * 1024 * 1024,
            },
        ])
    );
    assert_eq!(fake.requests(), ["GET /apis/metrics.k8s.io/v1beta1/namespaces/twisterlab/pods?"]);
}

#[tokio::test]
async fn missing_metrics_api_means_no_metrics_not_an_error() {
    let (_fake, cluster) = incident_cluster().await;
    assert_eq!(cluster.pod_usage().await, Ok(None));
}

// ---------------------------------------------------------------------------------------
// Changing the cluster
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// When the API server says no, fails, hangs or is gone
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn rbac_denial_is_forbidden_with_verb_and_resource() {
    let cluster = cluster_answering(|| {
        status(
            403,
            "Forbidden",
            "pods is forbidden: User \"system:serviceaccount:twisterlab:portal\" cannot list resource \"pods\"",
        )
    })
    .await;
    let err = cluster.pods().await.expect_err("forbidden");
    assert_eq!(err, ClusterError::Forbidden { verb: "list".into(), resource: "pods".into() });
    assert_eq!(err.to_string(), "the portal is not allowed to list pods (forbidden by Kubernetes RBAC)");
    let err = cluster.scale_deployment("twisterlab-api", 5, true).await.expect_err("forbidden");
    assert_eq!(err, ClusterError::Forbidden { verb: "get".into(), resource: "deployments/scale".into() });
}

#[tokio::test]
async fn server_error_is_an_api_error_with_the_servers_message() {
    let cluster = cluster_answering(|| status(500, "InternalError", "etcdserver: request timed out")).await;
    let err = cluster.deployments().await.expect_err("server error");
    assert_eq!(err, ClusterError::Api { status: 500, message: "etcdserver: request timed out".into() });
}

#[tokio::test]
async fn plain_text_server_error_is_an_api_error_too() {
    let cluster =
        cluster_answering(|| (StatusCode::INTERNAL_SERVER_ERROR, "upstream connect error").into_response())
            .await;
    let err = cluster.warning_events(10).await.expect_err("server error");
    assert_eq!(err, ClusterError::Api { status: 500, message: "upstream connect error".into() });
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

#[tokio::test]
async fn hanging_api_server_times_out_within_the_configured_timeout() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = Router::new().fallback(std::future::pending::<Response>);
    let timeout = Duration::from_millis(300);
    let cluster = cluster_at(serve(app).await).with_timeout(timeout);

    let started = Instant::now();
    // The outer bound turns a regression into a failure rather than a hung test run.
    let result = tokio::time::timeout(Duration::from_secs(10), cluster.pods())
        .await
        .expect("the adapter's own timeout fires first");
    assert_eq!(result, Err(ClusterError::Timeout { after: timeout }));
    assert!(started.elapsed() >= timeout);
    let result =
        tokio::time::timeout(Duration::from_secs(10), cluster.scale_deployment("twisterlab-api", 5, false))
            .await
            .expect("the adapter's own timeout fires first");
    assert_eq!(result, Err(ClusterError::Timeout { after: timeout }));
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
// Finding the cluster (kubeconfig / in-cluster); each runs in a child process because
// the environment cannot be changed safely inside a multi-threaded test process.
// ---------------------------------------------------------------------------------------

const CHILD_MARKER: &str = "TWISTERLAB_K8S_TEST_CHILD";

/// Runs the `#[ignore]`d test `name` of this binary in a child process with `KUBECONFIG`
/// set to `kubeconfig` and no in-cluster environment, and asserts that it passed.
async fn run_child(name: &str, kubeconfig: &std::path::Path) {
    let exe = std::env::current_exe().expect("test binary path");
    let output = tokio::process::Command::new(exe)
        .args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .env("KUBECONFIG", kubeconfig)
        .env(CHILD_MARKER, "1")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .await
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child test {name} failed:\n{stdout}\n{stderr}"
    );
}

fn is_child() -> bool {
    let child = std::env::var_os(CHILD_MARKER).is_some();
    if !child {
        eprintln!("helper of another test: runs only in the child process that test starts");
    }
    child
}

fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("twisterlab-k8s-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test]
async fn infer_without_kubeconfig_or_service_account_is_not_configured() {
    let missing = scratch_dir("no-config").join("no-such-kubeconfig");
    run_child("child_infer_finds_no_configuration", &missing).await;
}

#[tokio::test]
#[ignore = "helper: run in a child process by infer_without_kubeconfig_or_service_account_is_not_configured"]
async fn child_infer_finds_no_configuration() {
    if !is_child() {
        return;
    }
    let err = KubeCluster::infer(None).await.expect_err("nothing to find");
    assert!(matches!(err, ClusterError::NotConfigured(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("no cluster configured: found neither a kubeconfig"), "{text}");
}

#[tokio::test]
async fn infer_uses_the_kubeconfig_and_its_context_namespace() {
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    let dir = scratch_dir("kubeconfig");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
             users:\n- name: portal\n  user: {{}}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: portal\n    namespace: {NS}\n\
             current-context: fake\n"
        ),
    )
    .expect("write kubeconfig");
    run_child("child_infer_reads_the_kubeconfig", &kubeconfig).await;
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        fake.requests().contains(&format!("GET /apis/apps/v1/namespaces/{NS}/deployments?")),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
#[ignore = "helper: run in a child process by infer_uses_the_kubeconfig_and_its_context_namespace"]
async fn child_infer_reads_the_kubeconfig() {
    if !is_child() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = KubeCluster::infer(None).await.expect("kubeconfig found");
    assert_eq!(cluster.namespace(), Some(NS));
    assert_eq!(cluster.timeout(), twisterlab_k8s::DEFAULT_TIMEOUT);
    let deployments = cluster.deployments().await.expect("deployments through the kubeconfig");
    assert_eq!(deployments.len(), 2);

    let other = KubeCluster::infer(Some("staging")).await.expect("kubeconfig found");
    assert_eq!(other.namespace(), Some("staging"));
}
