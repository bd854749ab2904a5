//! The [`Cluster`] trait the server depends on, and [`Unconfigured`] for running without one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::ClusterError;
use crate::model::{AnnotationChange, ImageChange, SetImage};
use crate::model::{
    ConfigMapData, DeploymentPods, DeploymentSummary, EnvChange, EventSummary, IsolationChange, LogTail,
    NetworkPolicySummary, PodDescription, PodLogs, PodSummary, PodUsage, ResourcesChange, RestartChange,
    RolloutStatus, RolloutWait, ScaleChange, SecretKeyCheck, ServiceEndpoints, SetEnv, SetResources,
};

/// The future every [`Cluster`] method returns: boxed so the trait stays object-safe
/// (`Arc<dyn Cluster>`), `Send` so handlers and workers can await it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClusterError>> + Send + 'a>>;

/// How many log lines [`Cluster::pod_logs`] callers ask for unless told otherwise.
pub const DEFAULT_TAIL_LINES: i64 = 100;

/// Called by [`Cluster::wait_for_rollout`] with each new rollout snapshot.
pub type RolloutProgressFn<'a> = &'a (dyn Fn(&RolloutStatus) + Send + Sync);

/// What the portal reads from and does to one Kubernetes namespace.
///
/// Every method answers within the implementation's timeout (a hanging API server is a
/// [`ClusterError::Timeout`], never a stuck caller).
pub trait Cluster: Send + Sync + 'static {
    /// The namespace this cluster handle works in; `None` when no cluster is configured.
    fn namespace(&self) -> Option<&str>;

    /// Every Deployment in the namespace, sorted by name.
    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentSummary>>;

    /// Every pod in the namespace, sorted by name.
    fn pods(&self) -> BoxFuture<'_, Vec<PodSummary>>;

    /// The `limit` most recent Warning events, newest first.
    fn warning_events(&self, limit: usize) -> BoxFuture<'_, Vec<EventSummary>>;

    /// The last `tail_lines` lines ([`DEFAULT_TAIL_LINES`] is the usual choice) of a pod's
    /// default container. `deployment_or_pod` names a Deployment (one of its pods is picked,
    /// a troubled one first) or, failing that, a pod.
    fn pod_logs<'a>(&'a self, deployment_or_pod: &'a str, tail_lines: i64) -> BoxFuture<'a, PodLogs>;

    /// CPU and memory per pod from metrics.k8s.io, sorted by pod name; `Ok(None)` when the
    /// metrics API is not served (no metrics-server installed), which is not an error.
    fn pod_usage(&self) -> BoxFuture<'_, Option<Vec<PodUsage>>>;

    /// Sets a Deployment's replicas through its scale subresource. With `dry_run` the API
    /// server validates the change (`dryRun=All`) and nothing changes.
    fn scale_deployment<'a>(
        &'a self,
        name: &'a str,
        replicas: i32,
        dry_run: bool,
    ) -> BoxFuture<'a, ScaleChange>;

    /// Restarts a Deployment's pods like `kubectl rollout restart`: stamps the pod template
    /// with a `kubectl.kubernetes.io/restartedAt` annotation, which starts a rolling update.
    /// With `dry_run` the API server validates the change and nothing changes.
    fn restart_deployment<'a>(&'a self, name: &'a str, dry_run: bool) -> BoxFuture<'a, RestartChange>;

    /// The pods a Deployment's selector picks, sorted by name, each with its problem.
    fn deployment_pods<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, DeploymentPods>;

    /// The last `lines` lines (1 to [`crate::MAX_LOG_LINES`]) of a pod's default container,
    /// or only the last `lines` lines containing `filter` (case-insensitive) among the last
    /// [`crate::LOG_FILTER_SCAN_LINES`]. `deployment_or_pod` names a Deployment (a troubled
    /// pod of it is picked first) or, failing that, a pod.
    fn tail_logs<'a>(
        &'a self,
        deployment_or_pod: &'a str,
        filter: Option<&'a str>,
        lines: u32,
    ) -> BoxFuture<'a, LogTail>;

    /// One pod like `kubectl describe pod`: conditions, each container's state, last
    /// termination, restarts and resources, and its events newest first.
    fn describe_pod<'a>(&'a self, pod: &'a str) -> BoxFuture<'a, PodDescription>;

    /// Sets CPU and memory requests and limits of one container of a Deployment (a
    /// strategic-merge patch of the pod template, which rolls the pods). With `dry_run` the
    /// API server validates the change (`dryRun=All`) and nothing changes.
    fn set_resources<'a>(&'a self, change: &'a SetResources, dry_run: bool)
    -> BoxFuture<'a, ResourcesChange>;

    /// Sets (or changes) one environment variable of one container of a Deployment (a
    /// strategic-merge patch of the pod template, which rolls the pods). With `dry_run` the
    /// API server validates the change (`dryRun=All`) and nothing changes.
    fn set_env<'a>(&'a self, change: &'a SetEnv, dry_run: bool) -> BoxFuture<'a, EnvChange>;

    /// A Deployment's rollout as it stands now.
    fn rollout_status<'a>(&'a self, deployment: &'a str) -> BoxFuture<'a, RolloutStatus>;

    /// Polls [`Cluster::rollout_status`] until the rollout is done or failed or `timeout`
    /// (1 s to [`crate::MAX_ROLLOUT_WAIT`]) has passed, calling `progress` with every snapshot
    /// that differs from the one before. Ends within `timeout`; a rollout still running then
    /// is `Ok` with `timed_out` set, not an error.
    fn wait_for_rollout<'a>(
        &'a self,
        deployment: &'a str,
        timeout: Duration,
        progress: RolloutProgressFn<'a>,
    ) -> BoxFuture<'a, RolloutWait>;

    /// A Service and the ready and not-ready addresses of its EndpointSlices.
    fn service_endpoints<'a>(&'a self, service: &'a str) -> BoxFuture<'a, ServiceEndpoints>;

    /// Whether Secret `secret` has `key`, from key names only: values never leave the
    /// adapter. Only the Secrets in [`crate::CHECKABLE_SECRETS`] may be checked.
    fn secret_has_key<'a>(&'a self, secret: &'a str, key: &'a str) -> BoxFuture<'a, SecretKeyCheck>;

    /// Every NetworkPolicy in the namespace, sorted by name.
    fn network_policies(&self) -> BoxFuture<'_, Vec<NetworkPolicySummary>>;

    /// A ConfigMap's keys and values.
    fn config_map<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ConfigMapData>;

    /// Isolates a Deployment for the security procedure: scales it to 0, then deletes every
    /// Ingress that routes to a Service selecting its pods. With `dry_run` every request is
    /// validated (`dryRun=All`) and nothing changes. When a step fails after another was
    /// applied the answer is [`ClusterError::PartiallyApplied`], naming what was done.
    fn isolate_deployment<'a>(&'a self, deployment: &'a str, dry_run: bool)
    -> BoxFuture<'a, IsolationChange>;

    /// Sets one container's image like `kubectl set image` (a strategic-merge patch of the pod
    /// template, which rolls the pods). With `dry_run` the API server validates the change
    /// (`dryRun=All`) and nothing changes.
    fn set_image<'a>(&'a self, change: &'a SetImage, dry_run: bool) -> BoxFuture<'a, ImageChange>;

    /// Sets an annotation on a Deployment's metadata like `kubectl annotate --overwrite` (a
    /// strategic-merge patch of its metadata). With `dry_run` the API server validates the change and nothing changes.
    fn annotate<'a>(
        &'a self,
        deployment: &'a str,
        key: &'a str,
        value: &'a str,
        dry_run: bool,
    ) -> BoxFuture<'a, AnnotationChange>;
}

/// The cluster the server uses when none is configured: every call answers
/// [`ClusterError::NotConfigured`] at once, so the panel can say "no cluster configured".
#[derive(Debug, Clone)]
pub struct Unconfigured {
    reason: String,
}

impl Unconfigured {
    /// No cluster, for the plain reason that none was configured.
    pub fn new() -> Self {
        Self::because("no Kubernetes cluster is configured for the portal")
    }

    /// No cluster, with the explanation to show (e.g. why [`crate::KubeCluster::infer`]
    /// failed).
    pub fn because(reason: impl Into<String>) -> Self {
        Self { reason: reason.into() }
    }

    /// The explanation every call returns.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn refuse<'a, T: Send + 'a>(&self) -> BoxFuture<'a, T> {
        let err = ClusterError::NotConfigured(self.reason.clone());
        Box::pin(std::future::ready(Err(err)))
    }
}

impl Default for Unconfigured {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster for Unconfigured {
    fn namespace(&self) -> Option<&str> {
        None
    }

    fn deployments(&self) -> BoxFuture<'_, Vec<DeploymentSummary>> {
        self.refuse()
    }

    fn pods(&self) -> BoxFuture<'_, Vec<PodSummary>> {
        self.refuse()
    }

    fn warning_events(&self, _limit: usize) -> BoxFuture<'_, Vec<EventSummary>> {
        self.refuse()
    }

    fn pod_logs<'a>(&'a self, _target: &'a str, _tail_lines: i64) -> BoxFuture<'a, PodLogs> {
        self.refuse()
    }

    fn pod_usage(&self) -> BoxFuture<'_, Option<Vec<PodUsage>>> {
        self.refuse()
    }

    fn scale_deployment<'a>(
        &'a self,
        _name: &'a str,
        _replicas: i32,
        _dry_run: bool,
    ) -> BoxFuture<'a, ScaleChange> {
        self.refuse()
    }

    fn restart_deployment<'a>(&'a self, _name: &'a str, _dry_run: bool) -> BoxFuture<'a, RestartChange> {
        self.refuse()
    }

    fn deployment_pods<'a>(&'a self, _deployment: &'a str) -> BoxFuture<'a, DeploymentPods> {
        self.refuse()
    }

    fn tail_logs<'a>(
        &'a self,
        _target: &'a str,
        _filter: Option<&'a str>,
        _lines: u32,
    ) -> BoxFuture<'a, LogTail> {
        self.refuse()
    }

    fn describe_pod<'a>(&'a self, _pod: &'a str) -> BoxFuture<'a, PodDescription> {
        self.refuse()
    }

    fn set_resources<'a>(
        &'a self,
        _change: &'a SetResources,
        _dry_run: bool,
    ) -> BoxFuture<'a, ResourcesChange> {
        self.refuse()
    }

    fn set_env<'a>(&'a self, _change: &'a SetEnv, _dry_run: bool) -> BoxFuture<'a, EnvChange> {
        self.refuse()
    }

    fn rollout_status<'a>(&'a self, _deployment: &'a str) -> BoxFuture<'a, RolloutStatus> {
        self.refuse()
    }

    fn wait_for_rollout<'a>(
        &'a self,
        _deployment: &'a str,
        _timeout: Duration,
        _progress: RolloutProgressFn<'a>,
    ) -> BoxFuture<'a, RolloutWait> {
        self.refuse()
    }

    fn service_endpoints<'a>(&'a self, _service: &'a str) -> BoxFuture<'a, ServiceEndpoints> {
        self.refuse()
    }

    fn secret_has_key<'a>(&'a self, _secret: &'a str, _key: &'a str) -> BoxFuture<'a, SecretKeyCheck> {
        self.refuse()
    }

    fn network_policies(&self) -> BoxFuture<'_, Vec<NetworkPolicySummary>> {
        self.refuse()
    }

    fn config_map<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, ConfigMapData> {
        self.refuse()
    }

    fn isolate_deployment<'a>(
        &'a self,
        _deployment: &'a str,
        _dry_run: bool,
    ) -> BoxFuture<'a, IsolationChange> {
        self.refuse()
    }

    fn set_image<'a>(&'a self, _change: &'a SetImage, _dry_run: bool) -> BoxFuture<'a, ImageChange> {
        self.refuse()
    }

    fn annotate<'a>(
        &'a self,
        _deployment: &'a str,
        _key: &'a str,
        _value: &'a str,
        _dry_run: bool,
    ) -> BoxFuture<'a, AnnotationChange> {
        self.refuse()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn unconfigured_cluster_refuses_every_call_with_not_configured() {
        let cluster: Arc<dyn Cluster> = Arc::new(Unconfigured::new());
        assert_eq!(cluster.namespace(), None);
        let not_configured = |e: ClusterError| matches!(e, ClusterError::NotConfigured(_));
        assert!(cluster.deployments().await.is_err_and(not_configured));
        assert!(cluster.pods().await.is_err_and(not_configured));
        assert!(cluster.warning_events(10).await.is_err_and(not_configured));
        assert!(cluster.pod_logs("twisterlab-api", DEFAULT_TAIL_LINES).await.is_err_and(not_configured));
        assert!(cluster.pod_usage().await.is_err_and(not_configured));
        assert!(cluster.scale_deployment("twisterlab-api", 5, true).await.is_err_and(not_configured));
        assert!(cluster.restart_deployment("twisterlab-api", false).await.is_err_and(not_configured));
        assert!(cluster.deployment_pods("twisterlab-api").await.is_err_and(not_configured));
        assert!(cluster.tail_logs("twisterlab-api", Some("error"), 100).await.is_err_and(not_configured));
        assert!(cluster.describe_pod("twisterlab-api-7d9f8b6c5d-x2x4q").await.is_err_and(not_configured));
        let resources = SetResources {
            deployment: "twisterlab-api".into(),
            memory_limit: Some("2Gi".into()),
            ..SetResources::default()
        };
        assert!(cluster.set_resources(&resources, true).await.is_err_and(not_configured));
        let env = SetEnv {
            deployment: "mcp-unified".into(),
            container: None,
            name: "API_URL".into(),
            value: "http://twisterlab-api:8000".into(),
        };
        assert!(cluster.set_env(&env, true).await.is_err_and(not_configured));
        assert!(cluster.rollout_status("twisterlab-api").await.is_err_and(not_configured));
        let wait = cluster.wait_for_rollout("twisterlab-api", Duration::from_secs(60), &|_| {});
        assert!(wait.await.is_err_and(not_configured));
        assert!(cluster.service_endpoints("twisterlab-api").await.is_err_and(not_configured));
        assert!(
            cluster.secret_has_key("twisterlab-secrets", "DATABASE_URL").await.is_err_and(not_configured)
        );
        assert!(cluster.network_policies().await.is_err_and(not_configured));
        assert!(cluster.config_map("twisterlab-config").await.is_err_and(not_configured));
        assert!(cluster.isolate_deployment("twisterlab-api", true).await.is_err_and(not_configured));
        let image = SetImage {
            deployment: "twisterlab-api".into(),
            container: None,
            image: "twisterlab-api:v2.0".into(),
        };
        assert!(cluster.set_image(&image, true).await.is_err_and(not_configured));
        assert!(
            cluster
                .annotate("twisterlab-api", "maintenance", "complete", true)
                .await
                .is_err_and(not_configured)
        );
    }

    #[tokio::test]
    async fn unconfigured_cluster_explains_itself() {
        let err = Unconfigured::because("no kubeconfig at /nonexistent").pods().await.expect_err("refused");
        assert_eq!(err.to_string(), "no cluster configured: no kubeconfig at /nonexistent");
    }
}
