//! [`KubeCluster`]: the [`Cluster`] trait on a real API server through kube-rs.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams, PatchParams};
use kube::core::Selector;
use kube::{Client, Config};
use serde::Deserialize;

use crate::cluster::{BoxFuture, Cluster, RolloutProgressFn};
use crate::error::ClusterError;
use crate::mappers::{deployment_summary, event_summary, pod_problem, pod_summary};
use crate::model::{AnnotationChange, ImageChange, SetImage};
use crate::model::{
    ConfigMapData, DeploymentPods, DeploymentSummary, EnvChange, EventSummary, IsolationChange, LogTail,
    NetworkPolicySummary, PodDescription, PodLogs, PodPhase, PodSummary, PodUsage, ResourcesChange,
    RestartChange, RolloutStatus, RolloutWait, ScaleChange, SecretKeyCheck, ServiceEndpoints, SetEnv,
    SetResources,
};
use crate::quantity::{parse_cpu_millicores, parse_memory_bytes};
use crate::requests::{
    GET_DEPLOYMENT, GET_POD, GET_POD_LOG, LIST_DEPLOYMENTS, LIST_EVENTS, LIST_POD_METRICS, LIST_PODS,
};
use crate::validate::{FieldError, validate_object_name};

mod change;
mod diagnose;

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

/// How many lines from the end of a log a filtered [`Cluster::tail_logs`] searches: the
/// API server cannot filter, so the adapter reads this many and keeps the matching ones.
pub const LOG_FILTER_SCAN_LINES: i64 = 5000;

/// Upper bound on a filtered log fetch ([`LOG_FILTER_SCAN_LINES`] lines).
const LOG_SCAN_LIMIT_BYTES: i64 = 4 * 1024 * 1024;

/// How often [`Cluster::wait_for_rollout`] polls, unless [`KubeCluster::with_poll_interval`]
/// says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A namespace of a real cluster, reached through a [`kube::Client`].
///
/// Cheap to clone (the client is a handle). Every call is bounded by the timeout.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    namespace: String,
    timeout: Duration,
    poll_interval: Duration,
}

impl fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCluster")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Wraps an existing client; calls go to `namespace`, with [`DEFAULT_TIMEOUT`].
    pub fn from_client(client: Client, namespace: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            timeout: DEFAULT_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
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

    /// Sets how often [`Cluster::wait_for_rollout`] polls the rollout status.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// `op` bounded by the per-call timeout, unboxed (for steps inside a call).
    async fn bounded<T>(&self, op: impl Future<Output = Result<T, ClusterError>>) -> Result<T, ClusterError> {
        let after = self.timeout;
        tokio::time::timeout(after, op).await.unwrap_or(Err(ClusterError::Timeout { after }))
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// One Deployment; a missing one is [`ClusterError::NotFound`].
    async fn get_deployment(&self, name: &str) -> Result<Deployment, ClusterError> {
        self.deployments_api()
            .get(name)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_DEPLOYMENT, Some(name)))
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
            .map_err(|e| ClusterError::from_kube(e, &LIST_DEPLOYMENTS, None))?;
        let mut summaries: Vec<_> = list.items.iter().map(deployment_summary).collect();
        summaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(summaries)
    }

    async fn list_pods(&self) -> Result<Vec<PodSummary>, ClusterError> {
        let list = self
            .pods_api()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_PODS, None))?;
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
            .map_err(|e| ClusterError::from_kube(e, &LIST_EVENTS, None))?;
        let mut summaries: Vec<_> = list.items.iter().map(event_summary).collect();
        summaries.sort_by_key(|e| Reverse(e.last_seen));
        summaries.truncate(limit);
        Ok(summaries)
    }

    async fn fetch_pod_logs(&self, target: &str, tail_lines: i64) -> Result<PodLogs, ClusterError> {
        validate_object_name("deployment or pod", target)?;
        if tail_lines < 0 {
            return Err(FieldError::new("lines", format!("must be 0 or more, not {tail_lines}")).into());
        }
        let pod = self.resolve_pod(target).await?;
        let (pod, container, text) = self.read_log(&pod, tail_lines, LOG_LIMIT_BYTES).await?;
        Ok(PodLogs { pod, container, text })
    }

    /// The pod `target` names: a pod of the Deployment of that name (a troubled one first),
    /// else the pod of that name.
    async fn resolve_pod(&self, target: &str) -> Result<Pod, ClusterError> {
        let deployment = self
            .deployments_api()
            .get_opt(target)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_DEPLOYMENT, Some(target)))?;
        match deployment {
            Some(deployment) => self.pick_pod_of(&deployment, target).await,
            None => self
                .pods_api()
                .get_opt(target)
                .await
                .map_err(|e| ClusterError::from_kube(e, &GET_POD, Some(target)))?
                .ok_or_else(|| ClusterError::NotFound {
                    resource: "deployments or pods".to_owned(),
                    name: target.to_owned(),
                }),
        }
    }

    /// The last `tail_lines` lines of `pod`'s default container, at most `limit_bytes`:
    /// (pod name, container, text).
    async fn read_log(
        &self,
        pod: &Pod,
        tail_lines: i64,
        limit_bytes: i64,
    ) -> Result<(String, Option<String>, String), ClusterError> {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let container = default_container(pod);
        let params = LogParams {
            container: container.clone(),
            tail_lines: Some(tail_lines),
            limit_bytes: Some(limit_bytes),
            ..LogParams::default()
        };
        let text = self
            .pods_api()
            .logs(&pod_name, &params)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_POD_LOG, Some(&pod_name)))?;
        Ok((pod_name, container, text))
    }

    /// One pod of `deployment` to read logs from, found through its label selector.
    async fn pick_pod_of(&self, deployment: &Deployment, name: &str) -> Result<Pod, ClusterError> {
        let selector = selector_of(deployment, name)?;
        let list = self
            .pods_api()
            .list(&ListParams::default().labels(&selector.to_string()))
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_PODS, None))?;
        list.items.into_iter().min_by_key(log_preference).ok_or_else(|| ClusterError::NotFound {
            resource: "pods of deployment".to_owned(),
            name: name.to_owned(),
        })
    }

    async fn fetch_pod_usage(&self) -> Result<Option<Vec<PodUsage>>, ClusterError> {
        let url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods", self.namespace);
        let request = kube::core::Request::new(url)
            .list(&ListParams::default())
            .map_err(|e| FieldError::new("request", e.to_string()))?;
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
                return Err(ClusterError::from_kube(err, &LIST_POD_METRICS, None));
            }
        };
        let mut usage: Vec<_> = list.items.into_iter().map(pod_usage_of).collect();
        usage.sort_by(|a, b| a.pod.cmp(&b.pod));
        Ok(Some(usage))
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

    fn deployment_pods<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, DeploymentPods> {
        self.call("deployment_pods", self.list_deployment_pods(deployment))
    }

    fn tail_logs<'a>(
        &'a self,
        deployment_or_pod: &'a str,
        filter: Option<&'a str>,
        lines: u32,
    ) -> BoxFuture<'a, LogTail> {
        self.call("tail_logs", self.read_log_tail(deployment_or_pod, filter, lines))
    }

    fn describe_pod<'a>(&'a self, pod: &'a str) -> BoxFuture<'a, PodDescription> {
        self.call("describe_pod", self.describe(pod))
    }

    fn set_resources<'a>(
        &'a self,
        change: &'a SetResources,
        dry_run: bool,
    ) -> BoxFuture<'a, ResourcesChange> {
        self.call("set_resources", self.patch_resources(change, dry_run))
    }

    fn set_env<'a>(&'a self, change: &'a SetEnv, dry_run: bool) -> BoxFuture<'a, EnvChange> {
        self.call("set_env", self.patch_env(change, dry_run))
    }

    fn set_image<'a>(&'a self, change: &'a SetImage, dry_run: bool) -> BoxFuture<'a, ImageChange> {
        self.call("set_image", self.patch_image(change, dry_run))
    }

    fn annotate<'a>(
        &'a self,
        deployment: &'a str,
        key: &'a str,
        value: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, AnnotationChange> {
        self.call("annotate", self.patch_annotation(deployment, key, value, dry_run))
    }

    fn rollout_status<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, RolloutStatus> {
        self.call("rollout_status", self.read_rollout_status(deployment))
    }

    fn wait_for_rollout<'a>(
        &'a self,
        deployment: &'a str,
        timeout: Duration,
        progress: RolloutProgressFn<'a>,
    ) -> BoxFuture<'a, RolloutWait> {
        // Bounded by `timeout` itself, not by the per-call timeout (each poll is).
        Box::pin(self.wait_rollout(deployment, timeout, progress))
    }

    fn service_endpoints<'a>(&'a self, service: &'a str) -> BoxFuture<'a, ServiceEndpoints> {
        self.call("service_endpoints", self.read_service_endpoints(service))
    }

    fn secret_has_key<'a>(&'a self, secret: &'a str, key: &'a str) -> BoxFuture<'a, SecretKeyCheck> {
        self.call("secret_has_key", self.check_secret_key(secret, key))
    }

    fn network_policies(&self) -> BoxFuture<'_, Vec<NetworkPolicySummary>> {
        self.call("network_policies", self.list_network_policies())
    }

    fn config_map<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ConfigMapData> {
        self.call("config_map", self.read_config_map(name))
    }

    fn isolate_deployment<'a>(
        &'a self,
        deployment: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, IsolationChange> {
        // Bounded inside, step by step, so a timeout can still say which steps were applied.
        Box::pin(self.isolate(deployment, dry_run))
    }
}

fn patch_params(dry_run: bool) -> PatchParams {
    PatchParams { dry_run, field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() }
}

/// A Deployment's label selector; one that selects every pod is refused (it would mean a
/// malformed Deployment, and acting on every pod of the namespace).
fn selector_of(deployment: &Deployment, name: &str) -> Result<Selector, ClusterError> {
    deployment
        .spec
        .as_ref()
        .map(|s| Selector::try_from(s.selector.clone()))
        .transpose()
        .map_err(|e| ClusterError::InvalidResponse(format!("deployment {name} has a bad selector: {e}")))?
        .filter(|s| !s.selects_all())
        .ok_or_else(|| ClusterError::InvalidResponse(format!("deployment {name} selects no pods")))
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
