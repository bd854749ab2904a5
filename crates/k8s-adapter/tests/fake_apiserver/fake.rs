//! The fake API server: Kubernetes REST over plain HTTP on 127.0.0.1, holding a small world
//! of objects, recording every request (method, URL, content type, body), and refusing like
//! RBAC every request that [`API_REQUESTS`] does not list, so no test can pass with a
//! request the Role does not grant.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use twisterlab_k8s::{API_REQUESTS, KubeCluster, parse_cpu_millicores, parse_memory_bytes};

pub const NS: &str = "twisterlab";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, exactly as sent.
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// `METHOD path?query`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.uri)
    }

    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }
}

/// An answer that replaces the fake's normal one for a method and path.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A `metav1.Status` failure.
    Status(u16, &'static str, String),
    /// Never answers.
    Hang,
}

#[derive(Debug, Clone)]
struct Fault {
    method: Method,
    path: String,
    answer: Answer,
}

/// What the fake cluster holds; handlers read and change it like the real API server would.
#[derive(Default)]
pub struct World {
    pub deployments: BTreeMap<String, Value>,
    pub pods: Vec<Value>,
    pub events: Vec<Value>,
    /// Log text per `pod/container`.
    pub logs: HashMap<String, String>,
    /// `PodMetricsList` items; `None` = metrics.k8s.io not served.
    pub metrics: Option<Vec<Value>>,
    pub services: BTreeMap<String, Value>,
    pub endpoint_slices: Vec<Value>,
    pub secrets: BTreeMap<String, Value>,
    pub network_policies: Vec<Value>,
    pub config_maps: BTreeMap<String, Value>,
    pub ingresses: BTreeMap<String, Value>,
    /// Deployment statuses served one per GET (the last one stays), to play a rollout.
    pub rollout_script: HashMap<String, VecDeque<Value>>,
    faults: Vec<Fault>,
    requests: Vec<Recorded>,
}

#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<World>>);

impl Fake {
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.0.lock().expect("fake world lock")
    }

    /// Every request as `METHOD path?query`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.world().requests.iter().map(Recorded::line).collect()
    }

    /// Every request with its content type and body, in order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.world().requests.clone()
    }

    /// From now on, answer `method path` with `answer` instead.
    pub fn fail(&self, method: Method, path: &str, answer: Answer) {
        self.world().faults.push(Fault { method, path: path.to_owned(), answer });
    }

    /// The standard incident night: an API deployment stalled with a crash-looping pod,
    /// a worker whose pod was OOM-killed, a web deployment that cannot pull its image, their
    /// Services, Ingresses, NetworkPolicies, a
    /// ConfigMap and the application's Secret.
    pub fn incident_night() -> Self {
        let fake = Self::default();
        {
            let mut world = fake.world();
            for deployment in [
                fixture(include_str!("../../fixtures/deployment_stalled.json")),
                fixture(include_str!("../../fixtures/deployment_complete.json")),
            ] {
                world.deployments.insert(name_of(&deployment), deployment);
            }
            world.pods = [
                include_str!("../../fixtures/pod_oomkilled.json"),
                include_str!("../../fixtures/pod_healthy.json"),
                include_str!("../../fixtures/pod_crashloop.json"),
                include_str!("../../fixtures/pod_image_pull.json"),
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
            world.events[3]["involvedObject"]["name"] = json!("twisterlab-web-6f7c9d8b4-tt9zr");
            world.events[3]["involvedObject"]["uid"] = json!("web-pod-uid");
            let mut crash_log: Vec<String> =
                (1..=150).map(|i| format!("2026-11-29T03:07:{:02}Z line {i}", i % 60)).collect();
            crash_log[20] = "2026-11-29T03:07:21Z ERROR could not connect to postgres:5432".to_owned();
            crash_log[120] = "2026-11-29T03:07:01Z error: connection pool exhausted".to_owned();
            world.logs.insert(
                "twisterlab-api-7d9f8b6c5d-x2x4q/api".into(),
                crash_log.join("\n") + "\nFATAL: remaining connection slots are reserved\n",
            );
            world.logs.insert("twisterlab-api-7d9f8b6c5d-m8k2p/api".into(), "GET /health 200\n".into());

            for service in [
                fixture(include_str!("../../fixtures/service_api.json")),
                service("mcp-unified", json!({ "app": "mcp-unified" })),
                service("twisterlab-portal", json!({ "app.kubernetes.io/name": "twisterlab-portal" })),
            ] {
                world.services.insert(name_of(&service), service);
            }
            world.endpoint_slices = items(include_str!("../../fixtures/endpointslices_api.json"));
            world.endpoint_slices.push(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": { "name": "mcp-unified-abcde", "namespace": NS,
                              "labels": { "kubernetes.io/service-name": "mcp-unified" } },
                "addressType": "IPv4",
                "endpoints": [ { "addresses": ["10.244.1.40"], "conditions": { "ready": true } } ]
            }));
            let secret = fixture(include_str!("../../fixtures/secret_twisterlab.json"));
            world.secrets.insert(name_of(&secret), secret);
            world.secrets.insert(
                "twisterlab-portal-secrets".into(),
                json!({ "apiVersion": "v1", "kind": "Secret",
                        "metadata": { "name": "twisterlab-portal-secrets", "namespace": NS },
                        "data": { "DATABASE_URL": PORTAL_SECRET_VALUE } }),
            );
            world.network_policies = items(include_str!("../../fixtures/networkpolicies.json"));
            let config = fixture(include_str!("../../fixtures/configmap_twisterlab_config.json"));
            world.config_maps.insert(name_of(&config), config);
            for ingress in [
                fixture(include_str!("../../fixtures/ingress_twisterlab.json")),
                ingress("twisterlab-api-admin", "admin.twisterlab.local", "twisterlab-api", "admin-uid"),
                ingress("twisterlab-portal", "ops.twisterlab.local", "twisterlab-portal", "portal-uid"),
            ] {
                world.ingresses.insert(name_of(&ingress), ingress);
            }
        }
        fake
    }

    /// Serves the whole fake API on 127.0.0.1.
    pub async fn serve(&self) -> SocketAddr {
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
            .route("/api/v1/namespaces/{ns}/services", get(list_services))
            .route("/api/v1/namespaces/{ns}/services/{name}", get(get_service))
            .route("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", get(list_endpoint_slices))
            .route("/api/v1/namespaces/{ns}/secrets/{name}", get(get_secret))
            .route("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", get(list_network_policies))
            .route("/api/v1/namespaces/{ns}/configmaps/{name}", get(get_config_map))
            .route("/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", get(list_ingresses))
            .route(
                "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}",
                axum::routing::delete(delete_ingress),
            )
            .fallback(|| async {
                status(404, "NotFound", "the server could not find the requested resource")
            })
            .with_state(self.clone());
        self.serve_router(app).await
    }

    /// Serves `app` behind this fake's recording, RBAC and fault layer.
    pub async fn serve_router(&self, app: Router) -> SocketAddr {
        let app = app.layer(middleware::from_fn_with_state(self.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }
}

/// The portal's own Secret value, which no test may ever see in an answer.
pub const PORTAL_SECRET_VALUE: &str = "cG9ydGFsLW93bi1zZWNyZXQ=";

pub fn fixture(json: &str) -> Value {
    serde_json::from_str(json).expect("fixture JSON")
}

fn items(list_json: &str) -> Vec<Value> {
    fixture(list_json)["items"].as_array().cloned().unwrap_or_default()
}

fn name_of(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

fn event(name: &str, type_: &str, reason: &str, last: &str, count: i32) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": name, "namespace": NS },
        "involvedObject": { "kind": "Pod", "name": "twisterlab-api-7d9f8b6c5d-x2x4q", "namespace": NS,
                            "uid": "5b0c7f0e-2d7a-4c4e-9d1e-0f5a1b2c3d4e" },
        "type": type_, "reason": reason, "message": format!("{reason} happened"),
        "lastTimestamp": last, "count": count
    })
}

/// An MCP deployment with one container and no API_URL (added by the tests that set it).
pub fn mcp_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "mcp-unified", "namespace": NS, "generation": 2 },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": "mcp-unified" } },
            "template": {
                "metadata": { "labels": { "app": "mcp-unified" } },
                "spec": { "containers": [ {
                    "name": "mcp", "image": "registry.twisterlab.local/mcp-unified:1.4.0",
                    "env": [ { "name": "MCP_MODE", "value": "MOCK" } ]
                } ] }
            }
        },
        "status": { "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1 }
    })
}

fn service(name: &str, selector: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "type": "ClusterIP", "clusterIP": "10.96.0.77", "selector": selector,
                  "ports": [ { "port": 80, "targetPort": 8080, "protocol": "TCP" } ] }
    })
}

fn ingress(name: &str, host: &str, service: &str, uid: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "name": name, "namespace": NS, "uid": uid },
        "spec": { "rules": [ { "host": host, "http": { "paths": [ {
            "path": "/", "pathType": "Prefix",
            "backend": { "service": { "name": service, "port": { "number": 80 } } }
        } ] } } ] }
    })
}

/// The (group, resource, verb, name) RBAC sees for a request, or `None` for a URL outside
/// the namespaced API.
pub fn rbac_attributes(
    method: &Method,
    path: &str,
    query: &str,
) -> Option<(String, String, String, Option<String>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", "namespaces", _ns, rest @ ..] => ("", rest),
        ["apis", group, _version, "namespaces", _ns, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (resource, name) = match rest {
        [resource] => ((*resource).to_owned(), None),
        [resource, name] => ((*resource).to_owned(), Some((*name).to_owned())),
        [resource, name, sub] => (format!("{resource}/{sub}"), Some((*name).to_owned())),
        _ => return None,
    };
    let verb = match (method.as_str(), &name) {
        ("GET", Some(_)) => "get",
        ("GET", None) if query.split('&').any(|p| p == "watch=true" || p == "watch=1") => "watch",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return None,
    };
    Some((group.to_owned(), resource, verb.to_owned(), name))
}

/// Whether the adapter's table (and so the Role) allows the request.
pub fn listed(method: &Method, path: &str, query: &str) -> bool {
    let Some((group, resource, verb, name)) = rbac_attributes(method, path, query) else {
        return false;
    };
    API_REQUESTS.iter().any(|r| {
        r.group == group
            && r.resource == resource
            && r.verb == verb
            && match &name {
                Some(name) => r.allows_name(name),
                None => r.resource_names.is_empty(),
            }
    })
}

async fn record(State(fake): State<Fake>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return status(413, "RequestEntityTooLarge", "body over 1 MiB");
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let fault = {
        let mut world = fake.world();
        world.requests.push(Recorded {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: bytes.to_vec(),
        });
        world.faults.iter().find(|f| f.method == parts.method && f.path == path).map(|f| f.answer.clone())
    };
    if !listed(&parts.method, &path, &query) {
        return status(
            403,
            "Forbidden",
            &format!(
                "{} {path} is not in twisterlab_k8s::API_REQUESTS, so the Role does not grant it",
                parts.method
            ),
        );
    }
    match fault {
        Some(Answer::Status(code, reason, message)) => status(code, reason, &message),
        Some(Answer::Hang) => std::future::pending().await,
        None => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// A `metav1.Status` failure, as the API server sends for every error.
pub fn status(code: u16, reason: &str, message: &str) -> Response {
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

fn invalid(kind: &str, name: &str, details: &str) -> Response {
    status(422, "Invalid", &format!("{kind} \"{name}\" is invalid: {details}"))
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

/// `labelSelector` with equality terms only (`a=b,c=d`), which is what matchLabels become.
fn matches_selector(object: &Value, selector: &str) -> Option<bool> {
    let mut all = true;
    for term in selector.split(',').filter(|t| !t.is_empty()) {
        let (key, value) = term.split_once("==").or_else(|| term.split_once('='))?;
        all &= object["metadata"]["labels"][key].as_str() == Some(value);
    }
    Some(all)
}

/// A refusal the fake answers with (boxed: a `Response` is large).
type Refusal = Box<Response>;

fn selected(objects: &[Value], params: &HashMap<String, String>) -> Result<Vec<Value>, Refusal> {
    let selector = params.get("labelSelector").cloned().unwrap_or_default();
    let mut items = Vec::new();
    for object in objects {
        match matches_selector(object, &selector) {
            Some(true) => items.push(object.clone()),
            Some(false) => {}
            None => {
                return Err(Box::new(status(400, "BadRequest", "unsupported label selector in the fake")));
            }
        }
    }
    Ok(items)
}

async fn list_deployments(State(fake): State<Fake>, Path(ns): Path<String>) -> Response {
    let items = if ns == NS { fake.world().deployments.values().cloned().collect() } else { Vec::new() };
    list("DeploymentList", "apps/v1", items)
}

async fn get_deployment(State(fake): State<Fake>, Path((ns, name)): Path<(String, String)>) -> Response {
    let mut world = fake.world();
    let next_status = world
        .rollout_script
        .get_mut(&name)
        .and_then(|script| if script.len() > 1 { script.pop_front() } else { script.front().cloned() });
    match world.deployments.get_mut(&name).filter(|_| ns == NS) {
        Some(deployment) => {
            if let Some(status) = next_status {
                deployment["status"] = status;
            }
            axum::Json(deployment.clone()).into_response()
        }
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
    if let Err(response) = strategic_merge(&name, &mut updated, &patch) {
        return *response;
    }
    if updated["spec"] != stored["spec"] {
        updated["metadata"]["generation"] = json!(stored["metadata"]["generation"].as_i64().unwrap_or(1) + 1);
    }
    if !dry_run(&params) {
        world.deployments.insert(name, updated.clone());
    }
    axum::Json(updated).into_response()
}

/// The part of a strategic merge patch the adapter sends: the deployment's and the template's
/// annotations, and containers merged by name with their image, resources (by key) and env (by
/// name; null removes).
fn strategic_merge(name: &str, deployment: &mut Value, patch: &Value) -> Result<(), Refusal> {
    if let Some(annotations) = patch["metadata"]["annotations"].as_object() {
        for (key, value) in annotations {
            deployment["metadata"]["annotations"][key] = value.clone();
        }
    }
    if let Some(annotations) = patch["spec"]["template"]["metadata"]["annotations"].as_object() {
        for (key, value) in annotations {
            deployment["spec"]["template"]["metadata"]["annotations"][key] = value.clone();
        }
    }
    let patched_containers =
        patch["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
    for patched in patched_containers {
        let containers = deployment["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .ok_or_else(|| Box::new(status(500, "InternalError", "fake deployment has no containers")))?;
        let index = containers.len();
        let Some(container) = containers.iter_mut().find(|c| c["name"] == patched["name"]) else {
            return Err(Box::new(invalid(
                "Deployment.apps",
                name,
                &format!("spec.template.spec.containers[{index}].image: Required value"),
            )));
        };
        if let Some(image) = patched.get("image") {
            container["image"] = image.clone();
        }
        for section in ["requests", "limits"] {
            if let Some(values) = patched["resources"][section].as_object() {
                for (key, value) in values {
                    container["resources"][section][key] = value.clone();
                }
            }
        }
        for patched_var in patched["env"].as_array().into_iter().flatten() {
            let env = container["env"].as_array_mut();
            let existing = match env {
                Some(env) => env.iter_mut().find(|v| v["name"] == patched_var["name"]),
                None => {
                    container["env"] = json!([]);
                    None
                }
            };
            match existing {
                Some(var) => {
                    for (key, value) in patched_var.as_object().into_iter().flatten() {
                        if value.is_null() {
                            var.as_object_mut().map(|o| o.remove(key));
                        } else {
                            var[key] = value.clone();
                        }
                    }
                }
                None => {
                    let mut var = patched_var.clone();
                    if let Some(fields) = var.as_object_mut() {
                        fields.retain(|_, v| !v.is_null());
                    }
                    if let Some(env) = container["env"].as_array_mut() {
                        env.push(var);
                    }
                }
            }
        }
    }
    validate_containers(name, deployment)
}

/// What the API server checks that the adapter's changes could break.
type Parse = fn(&str) -> Option<u64>;

fn validate_containers(name: &str, deployment: &Value) -> Result<(), Refusal> {
    let containers =
        deployment["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
    for (i, container) in containers.iter().enumerate() {
        let parsers: [(&str, Parse); 2] = [("cpu", parse_cpu_millicores), ("memory", parse_memory_bytes)];
        for (resource, parse) in parsers {
            let request = container["resources"]["requests"][resource].as_str();
            let limit = container["resources"]["limits"][resource].as_str();
            if let (Some(request), Some(limit)) = (request, limit)
                && parse(request) > parse(limit)
            {
                return Err(Box::new(invalid(
                    "Deployment.apps",
                    name,
                    &format!(
                        "spec.template.spec.containers[{i}].resources.requests: Invalid value: \"{request}\": \
                         must be less than or equal to {resource} limit of {limit}"
                    ),
                )));
            }
        }
        for (j, var) in container["env"].as_array().into_iter().flatten().enumerate() {
            if var.get("value").is_some() && var.get("valueFrom").is_some() {
                return Err(Box::new(invalid(
                    "Deployment.apps",
                    name,
                    &format!(
                        "spec.template.spec.containers[{i}].env[{j}].valueFrom: Invalid value: \"\": \
                         may not be specified when `value` is not empty"
                    ),
                )));
            }
        }
    }
    Ok(())
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

async fn list_pods(State(fake): State<Fake>, Path(ns): Path<String>, Query(params): Params) -> Response {
    let pods = if ns == NS { fake.world().pods.clone() } else { Vec::new() };
    match selected(&pods, &params) {
        Ok(items) => list("PodList", "v1", items),
        Err(response) => *response,
    }
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

/// `fieldSelector` terms the fake understands: `type`, `involvedObject.kind|name|uid`.
fn event_matches(event: &Value, selector: &str) -> Option<bool> {
    let mut all = true;
    for term in selector.split(',').filter(|t| !t.is_empty()) {
        let (path, value) = term.split_once('=')?;
        let actual = match path.split_once('.') {
            None => &event[path],
            Some(("involvedObject", field)) => &event["involvedObject"][field],
            Some(_) => return None,
        };
        all &= actual.as_str() == Some(value);
    }
    Some(all)
}

async fn list_events(State(fake): State<Fake>, Query(params): Params) -> Response {
    let selector = params.get("fieldSelector").cloned().unwrap_or_default();
    let mut items = Vec::new();
    for event in &fake.world().events {
        match event_matches(event, &selector) {
            Some(true) => items.push(event.clone()),
            Some(false) => {}
            None => return status(400, "BadRequest", "unsupported field selector in the fake"),
        }
    }
    list("EventList", "v1", items)
}

async fn pod_metrics(State(fake): State<Fake>) -> Response {
    match fake.world().metrics.clone() {
        Some(items) => list("PodMetricsList", "metrics.k8s.io/v1beta1", items),
        None => status(404, "NotFound", "the server could not find the requested resource"),
    }
}

async fn list_services(State(fake): State<Fake>) -> Response {
    list("ServiceList", "v1", fake.world().services.values().cloned().collect())
}

async fn get_service(State(fake): State<Fake>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match fake.world().services.get(&name) {
        Some(service) => axum::Json(service.clone()).into_response(),
        None => not_found("services", &name),
    }
}

async fn list_endpoint_slices(State(fake): State<Fake>, Query(params): Params) -> Response {
    let slices = fake.world().endpoint_slices.clone();
    match selected(&slices, &params) {
        Ok(items) => list("EndpointSliceList", "discovery.k8s.io/v1", items),
        Err(response) => *response,
    }
}

async fn get_secret(State(fake): State<Fake>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match fake.world().secrets.get(&name) {
        Some(secret) => axum::Json(secret.clone()).into_response(),
        None => not_found("secrets", &name),
    }
}

async fn list_network_policies(State(fake): State<Fake>) -> Response {
    list("NetworkPolicyList", "networking.k8s.io/v1", fake.world().network_policies.clone())
}

async fn get_config_map(State(fake): State<Fake>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match fake.world().config_maps.get(&name) {
        Some(config_map) => axum::Json(config_map.clone()).into_response(),
        None => not_found("configmaps", &name),
    }
}

async fn list_ingresses(State(fake): State<Fake>) -> Response {
    list("IngressList", "networking.k8s.io/v1", fake.world().ingresses.values().cloned().collect())
}

/// Like the real API server: DeleteOptions from the body when there is one (the query is
/// then ignored), else from the query.
async fn delete_ingress(
    State(fake): State<Fake>,
    Path((_ns, name)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Response {
    let (dry, uid) = if body.is_empty() {
        (dry_run(&params), None)
    } else {
        let Ok(options) = serde_json::from_slice::<Value>(&body) else {
            return status(400, "BadRequest", "DeleteOptions is not JSON");
        };
        let dry = options["dryRun"].as_array().is_some_and(|d| d.iter().any(|v| v == "All"));
        (dry, options["preconditions"]["uid"].as_str().map(str::to_owned))
    };
    let mut world = fake.world();
    let Some(stored) = world.ingresses.get(&name).cloned() else {
        return not_found("ingresses.networking.k8s.io", &name);
    };
    if let Some(uid) = uid {
        let actual = stored["metadata"]["uid"].as_str().unwrap_or_default();
        if uid != actual {
            return status(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on ingresses.networking.k8s.io \"{name}\": Precondition failed: \
                     UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            );
        }
    }
    if !dry {
        world.ingresses.remove(&name);
    }
    axum::Json(stored).into_response()
}

// ---------------------------------------------------------------------------------------
// Clusters pointed at fakes
// ---------------------------------------------------------------------------------------

pub fn cluster_at(addr: SocketAddr) -> KubeCluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://{addr}").parse().expect("cluster URL");
    let mut config = kube::Config::new(url);
    // The error tests answer 5xx on purpose; they should see the answer, not retries.
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("kube client for the fake");
    KubeCluster::from_client(client, NS)
}

pub async fn incident_cluster() -> (Fake, KubeCluster) {
    let fake = Fake::incident_night();
    let addr = fake.serve().await;
    (fake, cluster_at(addr))
}

/// A cluster whose API server answers every (listed) request with `response`.
pub async fn cluster_answering(response: fn() -> Response) -> KubeCluster {
    let app = Router::new().fallback(move || async move { response() });
    cluster_at(Fake::default().serve_router(app).await)
}

/// A cluster whose API server never answers.
pub async fn hanging_cluster() -> (Fake, KubeCluster) {
    let fake = Fake::default();
    let app = Router::new().fallback(std::future::pending::<Response>);
    let addr = fake.serve_router(app).await;
    (fake, cluster_at(addr))
}

pub async fn desired_replicas(cluster: &KubeCluster, name: &str) -> i32 {
    use twisterlab_k8s::Cluster as _;
    cluster
        .deployments()
        .await
        .expect("list deployments")
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.desired)
        .expect("deployment listed")
}
