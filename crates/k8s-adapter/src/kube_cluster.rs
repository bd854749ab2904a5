//! [`KubeCluster`]: the [`Cluster`] trait on a real API server through kube-rs.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use kube::core::Selector;
use kube::{Client, Config};
use serde::Deserialize;

use crate::cluster::{BoxFuture, Cluster};
use crate::error::ClusterError;
use crate::mappers::{deployment_summary, event_summary, pod_problem, pod_summary};
use crate::model::{
    DeploymentSummary, EventSummary, PodLogs, PodPhase, PodSummary, PodUsage, RestartChange, ScaleChange,
};
use crate::quantity::{parse_cpu_millicores, parse_memory_bytes};

/// How long one [`Cluster`] call may take, all its API requests included, unless
/// [`KubeCluster::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The field manager the portal's changes are recorded under (`metadata.managedFields`).
pub const FIELD_MANAGER: &str = "twisterlab-portal";

/// The pod template annotation `kubectl rollout restart` sets; changing it rolls the pods.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// The pod annotation naming the container `kubectl logs` reads by default.
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Upper bound on one log fetch, so a pod printing megabyte lines cannot bloat a page.
const LOG_LIMIT_BYTES: i64 = 512 * 1024;

/// A namespace of a real cluster, reached through a [`kube::Client`].
///
/// Cheap to clone (the client is a handle). Every call is bounded by the timeout.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    namespace: String,
    timeout: Duration,
}

impl fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCluster")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Wraps an existing client; calls go to `namespace`, with [`DEFAULT_TIMEOUT`].
    pub fn from_client(client: Client, namespace: impl Into<String>) -> Self {
        Self { client, namespace: namespace.into(), timeout: DEFAULT_TIMEOUT }
    }

    /// Connects the way kubectl would: `$KUBECONFIG` or `~/.kube/config` first, then the
    /// in-cluster service account. `namespace` overrides the configuration's default
    /// namespace (the kubeconfig context's, or the service account's own).
    ///
    /// Nothing is sent to the API server yet: a configured but unreachable cluster is a
    /// [`ClusterError::Unreachable`] on the first call, not an error here. Needs a rustls
    /// crypto provider installed (ring, done at the start of `main`).
    ///
    /// # Errors
    /// [`ClusterError::NotConfigured`] when there is neither a kubeconfig nor an in-cluster
    /// environment, or the configuration found cannot be used; the text says why.
    pub async fn infer(namespace: Option<&str>) -> Result<Self, ClusterError> {
        let config = Config::infer().await.map_err(|err| {
            ClusterError::NotConfigured(format!(
                "found neither a kubeconfig ($KUBECONFIG, ~/.kube/config) nor an in-cluster \
                 service account ({err})"
            ))
        })?;
        let namespace = namespace.map_or_else(|| config.default_namespace.clone(), str::to_owned);
        let client = Client::try_from(config).map_err(|err| {
            ClusterError::NotConfigured(format!("the Kubernetes configuration cannot be used: {err}"))
        })?;
        Ok(Self::from_client(client, namespace))
    }

    /// Sets the per-call timeout (all API requests of one [`Cluster`] call together).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Boxes `op`, bounded by the per-call timeout.
    fn call<'a, T, F>(&'a self, what: &'static str, op: F) -> BoxFuture<'a, T>
    where
        T: Send + 'a,
        F: Future<Output = Result<T, ClusterError>> + Send + 'a,
    {
        let after = self.timeout;
        Box::pin(async move {
            tokio::time::timeout(after, op).await.unwrap_or_else(|_| {
                tracing::debug!(k8s.call = what, timeout = ?after, "kubernetes call timed out");
                Err(ClusterError::Timeout { after })
            })
        })
    }

    fn deployments_api(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn list_deployments(&self) -> Result<Vec<DeploymentSummary>, ClusterError> {
        let list = self
            .deployments_api()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, "list", "deployments", None))?;
        let mut summaries: Vec<_> = list.items.iter().map(deployment_summary).collect();
        summaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(summaries)
    }

    async fn list_pods(&self) -> Result<Vec<PodSummary>, ClusterError> {
        let list = self
            .pods_api()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, "list", "pods", None))?;
        let mut summaries: Vec<_> = list.items.iter().map(pod_summary).collect();
        summaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(summaries)
    }

    async fn list_warning_events(&self, limit: usize) -> Result<Vec<EventSummary>, ClusterError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        // The API cannot sort, so take every warning (events expire after an hour) and
        // keep the newest.
        let list = api
            .list(&ListParams::default().fields("type=Warning"))
            .await
            .map_err(|e| ClusterError::from_kube(e, "list", "events", None))?;
        let mut summaries: Vec<_> = list.items.iter().map(event_summary).collect();
        summaries.sort_by_key(|e| Reverse(e.last_seen));
        summaries.truncate(limit);
        Ok(summaries)
    }

    async fn fetch_pod_logs(&self, target: &str, tail_lines: i64) -> Result<PodLogs, ClusterError> {
        validate_name(target)?;
        if tail_lines < 0 {
            return Err(ClusterError::InvalidArgument(format!(
                "tail_lines must be 0 or more, not {tail_lines}"
            )));
        }
        let pods = self.pods_api();
        let deployment = self
            .deployments_api()
            .get_opt(target)
            .await
            .map_err(|e| ClusterError::from_kube(e, "get", "deployments", Some(target)))?;
        let pod = match deployment {
            Some(deployment) => self.pick_pod_of(&deployment, target).await?,
            None => pods
                .get_opt(target)
                .await
                .map_err(|e| ClusterError::from_kube(e, "get", "pods", Some(target)))?
                .ok_or_else(|| ClusterError::NotFound {
                    resource: "deployments or pods".to_owned(),
                    name: target.to_owned(),
                })?,
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let container = default_container(&pod);
        let params = LogParams {
            container: container.clone(),
            tail_lines: Some(tail_lines),
            limit_bytes: Some(LOG_LIMIT_BYTES),
            ..LogParams::default()
        };
        let text = pods
            .logs(&pod_name, &params)
            .await
            .map_err(|e| ClusterError::from_kube(e, "get", "pods/log", Some(&pod_name)))?;
        Ok(PodLogs { pod: pod_name, container, text })
    }

    /// One pod of `deployment` to read logs from, found through its label selector.
    async fn pick_pod_of(&self, deployment: &Deployment, name: &str) -> Result<Pod, ClusterError> {
        let selector = deployment
            .spec
            .as_ref()
            .map(|s| Selector::try_from(s.selector.clone()))
            .transpose()
            .map_err(|e| ClusterError::InvalidResponse(format!("deployment {name} has a bad selector: {e}")))?
            .filter(|s| !s.selects_all())
            .ok_or_else(|| ClusterError::InvalidResponse(format!("deployment {name} selects no pods")))?;
        let list = self
            .pods_api()
            .list(&ListParams::default().labels(&selector.to_string()))
            .await
            .map_err(|e| ClusterError::from_kube(e, "list", "pods", None))?;
        list.items.into_iter().min_by_key(log_preference).ok_or_else(|| ClusterError::NotFound {
            resource: "pods of deployment".to_owned(),
            name: name.to_owned(),
        })
    }

    async fn fetch_pod_usage(&self) -> Result<Option<Vec<PodUsage>>, ClusterError> {
        let url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods", self.namespace);
        let request = kube::core::Request::new(url)
            .list(&ListParams::default())
            .map_err(|e| ClusterError::InvalidArgument(e.to_string()))?;
        let list = match self.client.request::<PodMetricsList>(request).await {
            Ok(list) => list,
            // 404: metrics.k8s.io is not registered; 503: registered, but metrics-server
            // is down. Either way there are no metrics, which the panel shows as such.
            Err(kube::Error::Api(status))
                if matches!(status.code, 404 | 503)
                    || matches!(status.reason.as_str(), "NotFound" | "ServiceUnavailable") =>
            {
                tracing::debug!(code = status.code, "metrics.k8s.io is not available");
                return Ok(None);
            }
            Err(err) => {
                return Err(ClusterError::from_kube(err, "list", "pods.metrics.k8s.io", None));
            }
        };
        let mut usage: Vec<_> = list.items.into_iter().map(pod_usage_of).collect();
        usage.sort_by(|a, b| a.pod.cmp(&b.pod));
        Ok(Some(usage))
    }

    async fn scale(&self, name: &str, replicas: i32, dry_run: bool) -> Result<ScaleChange, ClusterError> {
        validate_name(name)?;
        if replicas < 0 {
            return Err(ClusterError::InvalidArgument(format!("replicas must be 0 or more, not {replicas}")));
        }
        let api = self.deployments_api();
        let current = api
            .get_scale(name)
            .await
            .map_err(|e| ClusterError::from_kube(e, "get", "deployments/scale", Some(name)))?;
        let from = current.spec.and_then(|s| s.replicas).or(current.status.map(|s| s.replicas)).unwrap_or(0);
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
        let scaled = api
            .patch_scale(name, &patch_params(dry_run), &patch)
            .await
            .map_err(|e| ClusterError::from_kube(e, "patch", "deployments/scale", Some(name)))?;
        let to = scaled.spec.and_then(|s| s.replicas).unwrap_or(replicas);
        tracing::debug!(k8s.deployment = name, from, to, dry_run, "scaled deployment");
        Ok(ScaleChange { deployment: name.to_owned(), from, to, dry_run })
    }

    async fn restart(&self, name: &str, dry_run: bool) -> Result<RestartChange, ClusterError> {
        validate_name(name)?;
        let now = Timestamp::now();
        // Whole seconds, as kubectl writes it (RFC 3339).
        let restarted_at = Timestamp::from_second(now.as_second()).unwrap_or(now);
        let patch = Patch::Strategic(serde_json::json!({
            "spec": { "template": { "metadata": { "annotations": {
                RESTARTED_AT_ANNOTATION: restarted_at.to_string()
            } } } }
        }));
        self.deployments_api()
            .patch(name, &patch_params(dry_run), &patch)
            .await
            .map_err(|e| ClusterError::from_kube(e, "patch", "deployments", Some(name)))?;
        tracing::debug!(k8s.deployment = name, dry_run, "restarted deployment");
        Ok(RestartChange { deployment: name.to_owned(), restarted_at, dry_run })
    }
}

impl Cluster for KubeCluster {
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace)
    }

    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentSummary>> {
        self.call("deployments", self.list_deployments())
    }

    fn pods(&self) -> BoxFuture<'_, Vec<PodSummary>> {
        self.call("pods", self.list_pods())
    }

    fn warning_events(&self, limit: usize) -> BoxFuture<'_, Vec<EventSummary>> {
        self.call("warning_events", self.list_warning_events(limit))
    }

    fn pod_logs<'a>(&'a self, deployment_or_pod: &'a str, tail_lines: i64) -> BoxFuture<'a, PodLogs> {
        self.call("pod_logs", self.fetch_pod_logs(deployment_or_pod, tail_lines))
    }

    fn pod_usage(&self) -> BoxFuture<'_, Option<Vec<PodUsage>>> {
        self.call("pod_usage", self.fetch_pod_usage())
    }

    fn scale_deployment<'a>(
        &'a self,
        name: &'a str,
        replicas: i32,
        dry_run: bool,
    ) -> BoxFuture<'a, ScaleChange> {
        self.call("scale_deployment", self.scale(name, replicas, dry_run))
    }

    fn restart_deployment<'a>(&'a self, name: &'a str, dry_run: bool) -> BoxFuture<'a, RestartChange> {
        self.call("restart_deployment", self.restart(name, dry_run))
    }
}

fn patch_params(dry_run: bool) -> PatchParams {
    PatchParams { dry_run, field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() }
}

/// Refuses names the API server would refuse anyway (RFC 1123 subdomains), before they
/// reach a URL.
fn validate_name(name: &str) -> Result<(), ClusterError> {
    let valid_chars =
        name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if name.len() <= 253 && valid_chars && alnum(name.as_bytes().first()) && alnum(name.as_bytes().last()) {
        Ok(())
    } else {
        Err(ClusterError::InvalidArgument(format!(
            "{name:?} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"
        )))
    }
}

/// Sort key for choosing the pod whose logs explain most: live troubled pods first (most
/// restarts first), then live healthy ones, then finished or terminating ones; by name
/// within a group so the choice is stable.
fn log_preference(pod: &Pod) -> (u8, Reverse<i32>, String) {
    let summary = pod_summary(pod);
    let finished = matches!(summary.phase, PodPhase::Succeeded | PodPhase::Failed)
        || pod.metadata.deletion_timestamp.is_some();
    let group = if finished {
        2
    } else if pod_problem(&summary).is_some() {
        0
    } else {
        1
    };
    (group, Reverse(summary.restarts), summary.name)
}

/// The container `kubectl logs` would read: the annotated default, else the first.
fn default_container(pod: &Pod) -> Option<String> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
        .cloned()
        .or_else(|| pod.spec.as_ref()?.containers.first().map(|c| c.name.clone()))
}

/// metrics.k8s.io/v1beta1 `PodMetricsList`, only the fields the portal reads.
#[derive(Debug, Deserialize)]
struct PodMetricsList {
    #[serde(default)]
    items: Vec<PodMetrics>,
}

#[derive(Debug, Deserialize)]
struct PodMetrics {
    #[serde(default)]
    metadata: MetricsMeta,
    #[serde(default)]
    containers: Vec<ContainerMetrics>,
}

#[derive(Debug, Default, Deserialize)]
struct MetricsMeta {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct ContainerMetrics {
    #[serde(default)]
    usage: BTreeMap<String, String>,
}

fn pod_usage_of(pod: PodMetrics) -> PodUsage {
    let mut usage = PodUsage { pod: pod.metadata.name, cpu_millicores: 0, memory_bytes: 0 };
    for container in &pod.containers {
        let quantity = |key: &str, parse: fn(&str) -> Option<u64>| {
            let raw = container.usage.get(key)?;
            let parsed = parse(raw);
            if parsed.is_none() {
                tracing::debug!(k8s.pod = %usage.pod, key, raw, "unreadable metrics quantity");
            }
            parsed
        };
        usage.cpu_millicores =
            usage.cpu_millicores.saturating_add(quantity("cpu", parse_cpu_millicores).unwrap_or(0));
        usage.memory_bytes =
            usage.memory_bytes.saturating_add(quantity("memory", parse_memory_bytes).unwrap_or(0));
    }
    usage
}

#[cfg(test)]
mod tests;
