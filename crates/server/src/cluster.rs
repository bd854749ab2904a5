//! The Kubernetes cluster the configuration names, connected once per process (held in
//! `AppState`); without one, an `Unconfigured` cluster that says why, so nothing hangs or crashes.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::OnceCell;
use twisterlab_k8s::{Cluster, ClusterError, KubeCluster, Unconfigured};

use crate::config::{Config, KubeEnabled};

/// The process's cluster: connected at first use (pages and workers share it), or one given by
/// a test.
#[derive(Clone)]
pub struct ClusterHandle {
    cell: Arc<OnceCell<Arc<dyn Cluster>>>,
    config: Arc<Config>,
}

impl ClusterHandle {
    /// The cluster the configuration names, connected when first needed.
    pub fn new(config: Arc<Config>) -> Self {
        Self { cell: Arc::new(OnceCell::new()), config }
    }

    /// Always `cluster` (tests, tools).
    pub fn fixed(cluster: Arc<dyn Cluster>, config: Arc<Config>) -> Self {
        Self { cell: Arc::new(OnceCell::new_with(Some(cluster))), config }
    }

    pub async fn get(&self) -> Arc<dyn Cluster> {
        self.cell.get_or_init(|| connect(&self.config)).await.clone()
    }
}

/// The cluster the configuration names: `TWISTERLAB_KUBE_ENABLED=false` → none; a kubeconfig
/// file from `TWISTERLAB_KUBECONFIG`; otherwise kubectl's way ($KUBECONFIG, ~/.kube/config,
/// in-cluster service account). Without one, an [`Unconfigured`] that says why.
pub async fn connect(config: &Config) -> Arc<dyn Cluster> {
    let namespace = config.kube_namespace.as_str();
    let found = match (config.kube_enabled, &config.kubeconfig) {
        (KubeEnabled::Never, _) => {
            return Arc::new(Unconfigured::because(
                "the Kubernetes panel is turned off (TWISTERLAB_KUBE_ENABLED=false)",
            ));
        }
        (_, Some(path)) => from_kubeconfig(path, namespace).await,
        (_, None) => KubeCluster::infer(Some(namespace)).await,
    };
    match found {
        Ok(cluster) => {
            tracing::info!(k8s.namespace = namespace, "Kubernetes cluster configured");
            Arc::new(cluster)
        }
        Err(e) => {
            let reason = match e {
                ClusterError::NotConfigured(reason) => reason,
                other => other.to_string(),
            };
            if config.kube_enabled == KubeEnabled::Always {
                tracing::error!(reason = %reason, "TWISTERLAB_KUBE_ENABLED=true but no usable Kubernetes configuration was found");
            } else {
                tracing::info!(reason = %reason, "no Kubernetes cluster configured; the panel says so");
            }
            Arc::new(Unconfigured::because(reason))
        }
    }
}

async fn from_kubeconfig(path: &Path, namespace: &str) -> Result<KubeCluster, ClusterError> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
        ClusterError::NotConfigured(format!("cannot read the kubeconfig {}: {e}", path.display()))
    })?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| {
        ClusterError::NotConfigured(format!("the kubeconfig {} cannot be used: {e}", path.display()))
    })?;
    let client = kube::Client::try_from(config).map_err(|e| {
        ClusterError::NotConfigured(format!("the kubeconfig {} cannot be used: {e}", path.display()))
    })?;
    Ok(KubeCluster::from_client(client, namespace))
}
