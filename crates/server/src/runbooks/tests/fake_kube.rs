//! A small fake Kubernetes API server for run tests: the deployment `twisterlab-api`, its
//! pods, their logs and events, PATCH of deployments (recorded with query, content type and
//! body), and answers that refuse (403, 404, 409, 422) or hang.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use twisterlab_k8s::{Cluster, KubeCluster};

const NS: &str = "twisterlab";

/// How PATCH requests are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patching {
    Accept,
    Forbidden,
    Conflict,
    Invalid,
    Hang,
}

/// One request the fake received that changes (or would change) something.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

#[derive(Clone)]
pub(crate) struct FakeKube {
    pub patching: Arc<Mutex<Patching>>,
    pub recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeKube {
    pub(crate) fn set(&self, p: Patching) {
        *self.patching.lock().expect("lock") = p;
    }

    pub(crate) fn patches(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("lock").clone()
    }
}

fn fixture(json: &str) -> Value {
    serde_json::from_str(json).expect("fixture JSON")
}

fn deployment() -> Value {
    let mut d = fixture(include_str!("../../../../k8s-adapter/fixtures/deployment_complete.json"));
    d["metadata"]["name"] = json!("twisterlab-api");
    d["spec"]["selector"] = json!({"matchLabels": {"app": "twisterlab-api"}});
    d["spec"]["template"]["metadata"]["labels"] = json!({"app": "twisterlab-api"});
    d
}

fn pods() -> Vec<Value> {
    vec![
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_healthy.json")),
        fixture(include_str!("../../../../k8s-adapter/fixtures/pod_crashloop.json")),
    ]
}

fn list(kind: &str, items: Vec<Value>) -> Response {
    axum::Json(
        json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
    )
    .into_response()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body))
        .into_response()
}

async fn deployment_route(
    State(fake): State<FakeKube>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path((_ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if name != "twisterlab-api" {
        return status(404, "NotFound", &format!("deployments.apps \"{name}\" not found"));
    }
    if method == Method::PATCH {
        fake.recorded.lock().expect("lock").push(Recorded {
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let patching = *fake.patching.lock().expect("lock");
        match patching {
            Patching::Accept => {}
            Patching::Forbidden => {
                return status(
                    403,
                    "Forbidden",
                    "deployments.apps \"twisterlab-api\" is forbidden: cannot patch",
                );
            }
            Patching::Conflict => {
                return status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled: the object has been modified",
                );
            }
            Patching::Invalid => {
                return status(
                    422,
                    "Invalid",
                    "Deployment.apps \"twisterlab-api\" is invalid: spec.template: Invalid value",
                );
            }
            Patching::Hang => std::future::pending::<()>().await,
        }
    }
    axum::Json(deployment()).into_response()
}

type Params = Query<HashMap<String, String>>;

/// Starts the fake; returns it and a cluster client with a 1 s timeout.
pub(crate) async fn start() -> (FakeKube, Arc<dyn Cluster>) {
    let fake = FakeKube {
        patching: Arc::new(Mutex::new(Patching::Accept)),
        recorded: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/apis/apps/v1/namespaces/{ns}/deployments/{name}", get(deployment_route).patch(deployment_route))
        .route(
            "/api/v1/namespaces/{ns}/pods",
            get(|Query(params): Params| async move {
                let selector = params.get("labelSelector").cloned().unwrap_or_default();
                let items = pods()
                    .into_iter()
                    .filter(|p| {
                        selector.split(',').filter_map(|t| t.split_once('=')).all(|(k, v)| p["metadata"]["labels"][k].as_str() == Some(v))
                    })
                    .collect();
                list("PodList", items)
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
            get(|Path((_ns, name)): Path<(String, String)>| async move {
                let body = format!("{name} starting\nERROR: could not connect to the database\n{name} retrying\n");
                ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/secrets/{name}",
            get(|Path((_ns, name)): Path<(String, String)>| async move {
                if name == "twisterlab-secrets" {
                    axum::Json(fixture(include_str!("../../../../k8s-adapter/fixtures/secret_twisterlab.json"))).into_response()
                } else {
                    status(404, "NotFound", &format!("secrets \"{name}\" not found"))
                }
            }),
        )
        .route(
            "/api/v1/namespaces/{ns}/events",
            get(|| async {
                list(
                    "EventList",
                    vec![json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": NS},
                        "involvedObject": {"kind": "Pod", "name": "twisterlab-api-7d9f8b6c5d-x2x4q", "namespace": NS},
                        "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
                        "lastTimestamp": "2026-11-29T03:07:30Z", "count": 27})],
                )
            }),
        )
        .with_state(fake.clone());
    let addr: SocketAddr = crate::overview::tests::serve(app).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(format!("http://{addr}").parse().expect("url"));
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("kube client");
    let cluster: Arc<dyn Cluster> =
        Arc::new(KubeCluster::from_client(client, NS).with_timeout(Duration::from_secs(1)));
    (fake, cluster)
}
