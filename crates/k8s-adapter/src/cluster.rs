//! The [`Cluster`] trait the server depends on, and [`Unconfigured`] for running without one.

use std::future::Future;
use std::pin::Pin;

use crate::error::ClusterError;
use crate::model::{
    DeploymentSummary, EventSummary, PodLogs, PodSummary, PodUsage, RestartChange, ScaleChange,
};

/// The future every [`Cluster`] method returns: boxed so the trait stays object-safe
/// (`Arc<dyn Cluster>`), `Send` so handlers and workers can await it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClusterError>> + Send + 'a>>;

/// How many log lines [`Cluster::pod_logs`] callers ask for unless told otherwise.
pub const DEFAULT_TAIL_LINES: i64 = 100;

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
    }

    #[tokio::test]
    async fn unconfigured_cluster_explains_itself() {
        let err = Unconfigured::because("no kubeconfig at /nonexistent").pods().await.expect_err("refused");
        assert_eq!(err.to_string(), "no cluster configured: no kubeconfig at /nonexistent");
    }
}
