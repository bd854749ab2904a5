//! Everything the portal says to Kubernetes, behind the [`Cluster`] trait.
//!
//! The server holds an `Arc<dyn Cluster>`: a [`KubeCluster`] when a cluster is configured
//! (kubeconfig or in-cluster service account), an [`Unconfigured`] otherwise. Only this
//! crate's own types cross the trait; kube and k8s-openapi types stay inside.
//!
//! Every request the adapter can make is listed in [`API_REQUESTS`], which `k8s/role.yaml`
//! must grant exactly. Parameters are checked before anything is sent, by the public
//! validators in [`validate`] (forms use the same ones to show field errors).
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
mod requests;
mod secret_keys;
pub mod validate;

pub use cluster::{BoxFuture, Cluster, DEFAULT_TAIL_LINES, RolloutProgressFn, Unconfigured};
pub use error::ClusterError;
pub use kube_cluster::{
    DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, FIELD_MANAGER, KubeCluster, LOG_FILTER_SCAN_LINES,
    RESTARTED_AT_ANNOTATION,
};
pub use mappers::{
    MANY_RESTARTS, MAX_DESCRIBE_EVENTS, deployment_of_pod, deployment_summary, event_summary, pod_problem,
    pod_summary,
};
pub use model::{AnnotationChange, ImageChange, SetImage};
pub use model::{
    ChangeSummary, ConfigMapData, ContainerDescription, ContainerResources, ContainerState, DeploymentPods,
    DeploymentSummary, EndpointAddress, EnvChange, EnvValue, EventSummary, FieldChange, IngressRoute,
    IsolationChange, LogTail, NetworkPolicySummary, ObjectRef, PodCondition, PodDescription, PodDiagnosis,
    PodLogs, PodPhase, PodSummary, PodUsage, Problem, ResourceChange, ResourceField, ResourcesChange,
    RestartChange, RolloutCondition, RolloutProgress, RolloutState, RolloutStatus, RolloutWait, ScaleChange,
    SecretKeyCheck, ServiceEndpoints, SetEnv, SetResources, Termination,
};
pub use quantity::{parse_cpu_millicores, parse_memory_bytes};
pub use requests::{API_REQUESTS, ApiRequest, CHECKABLE_SECRETS};
pub use validate::{
    FieldError, MAX_LOG_LINES, MAX_REPLICAS, MAX_ROLLOUT_WAIT, parse_replicas, validate_annotation,
    validate_container_name, validate_cpu_quantity, validate_data_key, validate_env_name, validate_env_value,
    validate_image, validate_log_filter, validate_log_lines, validate_memory_quantity, validate_object_name,
    validate_replicas, validate_rollout_wait,
};
