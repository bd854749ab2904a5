//! Everything the portal says to Kubernetes, behind the [`Cluster`] trait.
//!
//! The server holds an `Arc<dyn Cluster>`: a [`KubeCluster`] when a cluster is configured
//! (kubeconfig or in-cluster service account), an [`Unconfigured`] otherwise. Only this
//! crate's own types cross the trait; kube and k8s-openapi types stay inside.
//!
//! ```no_run
//! # async fn wiring() {
//! use std::sync::Arc;
//! use twisterlab_k8s::{Cluster, KubeCluster, Unconfigured};
//!
//! let cluster: Arc<dyn Cluster> = match KubeCluster::infer(Some("twisterlab")).await {
//!     Ok(kube) => Arc::new(kube),
//!     Err(err) => Arc::new(Unconfigured::because(err.to_string())),
//! };
//! # let _ = cluster;
//! # }
//! ```

mod cluster;
mod error;
mod kube_cluster;
mod mappers;
mod model;
mod quantity;

pub use cluster::{BoxFuture, Cluster, DEFAULT_TAIL_LINES, Unconfigured};
pub use error::ClusterError;
pub use kube_cluster::{DEFAULT_TIMEOUT, FIELD_MANAGER, KubeCluster, RESTARTED_AT_ANNOTATION};
pub use mappers::{
    MANY_RESTARTS, deployment_of_pod, deployment_summary, event_summary, pod_problem, pod_summary,
};
pub use model::{
    DeploymentSummary, EventSummary, ObjectRef, PodLogs, PodPhase, PodSummary, PodUsage, Problem,
    RestartChange, RolloutState, ScaleChange,
};
pub use quantity::{parse_cpu_millicores, parse_memory_bytes};
