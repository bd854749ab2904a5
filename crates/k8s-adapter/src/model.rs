//! The adapter's own view of the cluster: what the portal shows, no kube types.
//!
//! The health overview's summaries live here; what runbook steps read is in
//! [`diagnosis`], and what they change (with before → after) in [`changes`].

mod changes;
mod diagnosis;

pub use changes::{AnnotationChange, ImageChange, SetImage};
pub use changes::{
    ChangeSummary, EnvChange, EnvValue, FieldChange, IngressRoute, IsolationChange, ResourceChange,
    ResourceField, ResourcesChange, RestartChange, ScaleChange, SetEnv, SetResources,
};
pub use diagnosis::{
    ConfigMapData, ContainerDescription, ContainerResources, ContainerState, DeploymentPods, EndpointAddress,
    LogTail, NetworkPolicySummary, PodCondition, PodDescription, PodDiagnosis, RolloutCondition,
    RolloutProgress, RolloutStatus, RolloutWait, SecretKeyCheck, ServiceEndpoints, Termination,
};

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

/// One Deployment as the health overview shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentSummary {
    /// `metadata.name`.
    pub name: String,
    /// Replicas asked for (`spec.replicas`, 1 when unset, as the API server defaults it).
    pub desired: i32,
    /// Pods passing their readiness probe (`status.readyReplicas`).
    pub ready: i32,
    /// Pods already on the current pod template (`status.updatedReplicas`).
    pub updated: i32,
    /// Pods ready for at least `minReadySeconds` (`status.availableReplicas`).
    pub available: i32,
    /// Where the current rollout stands.
    pub rollout: RolloutState,
    /// Container images of the pod template, in declaration order.
    pub images: Vec<String>,
}

/// Where a Deployment's rollout stands, decided like `kubectl rollout status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RolloutState {
    /// Every desired replica is updated and available, and no old pod is left.
    Complete,
    /// New pods are still coming up or old ones still going away.
    Progressing,
    /// The rollout stopped making progress (`ProgressDeadlineExceeded`, a `ReplicaFailure`
    /// such as an exceeded quota). `reason` is the API server's explanation.
    Stalled {
        /// Human-readable cause, e.g. `ReplicaSet "api-7d9f" has timed out progressing.`
        reason: String,
    },
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Complete => f.write_str("complete"),
            Self::Progressing => f.write_str("progressing"),
            Self::Stalled { reason } => write!(f, "stalled: {reason}"),
        }
    }
}

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PodPhase {
    /// Accepted, but not all containers are running yet (scheduling, image pulls).
    Pending,
    /// Bound to a node, at least one container running or restarting.
    Running,
    /// Every container exited 0 and will not restart.
    Succeeded,
    /// Every container exited and at least one failed.
    Failed,
    /// The node stopped reporting, or the phase was missing or unrecognised.
    Unknown,
}

impl PodPhase {
    /// Parses the API's phase string; anything unexpected is `Unknown`.
    pub fn parse(phase: &str) -> Self {
        match phase {
            "Pending" => Self::Pending,
            "Running" => Self::Running,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            _ => Self::Unknown,
        }
    }

    /// The phase as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for PodPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes object named by kind and name, e.g. `Pod/api-7d9f-x2x`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    /// `Pod`, `Deployment`, `ReplicaSet`… (empty when the API left it out).
    pub kind: String,
    /// The object's name (empty when the API left it out).
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// One pod as the health overview shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    /// `metadata.name`.
    pub name: String,
    /// The Deployment the pod belongs to: from its owning ReplicaSet's name, else from
    /// its `app.kubernetes.io/name` or `app` label when it has no controller.
    pub deployment: Option<String>,
    /// The controlling owner as the API reports it (`ReplicaSet/api-7d9f`,
    /// `StatefulSet/postgres`), for pods that are not part of a Deployment.
    pub controller: Option<ObjectRef>,
    /// `status.phase`.
    pub phase: PodPhase,
    /// The pod's `Ready` condition is `True` (it receives Service traffic).
    pub ready: bool,
    /// Containers reporting ready.
    pub ready_containers: u32,
    /// Containers in the pod spec (init containers excluded).
    pub total_containers: u32,
    /// Restarts summed over all containers, init containers included.
    pub restarts: i32,
    /// Why a container is waiting: `CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull`,
    /// `CreateContainerConfigError`… (`ContainerCreating` too, which is normal briefly).
    pub waiting_reason: Option<String>,
    /// Why a container last stopped: `OOMKilled`, `Error`, `Completed`…
    pub last_termination_reason: Option<String>,
    /// The node the pod is scheduled on.
    pub node: Option<String>,
    /// When the kubelet accepted the pod (`status.startTime`).
    pub started_at: Option<Timestamp>,
}

/// What is wrong with a pod, the most telling problem first (see [`crate::pod_problem`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// A container was killed for exceeding its memory limit.
    OomKilled {
        /// Restarts so far, all containers.
        restarts: i32,
    },
    /// A container keeps crashing and the kubelet backs off restarting it.
    CrashLoopBackOff {
        /// Restarts so far, all containers.
        restarts: i32,
        /// Why the container last stopped (`Error`, …), when known.
        last_termination_reason: Option<String>,
    },
    /// The image cannot be pulled (`ImagePullBackOff`, `ErrImagePull`, `InvalidImageName`…).
    ImagePull {
        /// The waiting reason as the kubelet reports it.
        reason: String,
    },
    /// The pod is not ready (pending, failed, or failing its readiness probe).
    NotReady {
        /// The pod's phase.
        phase: PodPhase,
        /// Why a container is waiting, when one is.
        waiting_reason: Option<String>,
    },
    /// Ready now, but restarted often ([`crate::MANY_RESTARTS`] or more).
    ManyRestarts {
        /// Restarts so far, all containers.
        restarts: i32,
    },
}

impl Problem {
    /// A short code for badges and filters: `OOMKilled`, `CrashLoopBackOff`, the image pull
    /// reason, `NotReady` or `Restarts`.
    pub fn code(&self) -> &str {
        match self {
            Self::OomKilled { .. } => "OOMKilled",
            Self::CrashLoopBackOff { .. } => "CrashLoopBackOff",
            Self::ImagePull { reason } => reason,
            Self::NotReady { .. } => "NotReady",
            Self::ManyRestarts { .. } => "Restarts",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OomKilled { restarts } => {
                write!(f, "killed for exceeding its memory limit (OOMKilled), {restarts} restarts")
            }
            Self::CrashLoopBackOff { restarts, last_termination_reason: Some(reason) } => {
                write!(f, "crash-looping (CrashLoopBackOff), {restarts} restarts, last exit: {reason}")
            }
            Self::CrashLoopBackOff { restarts, .. } => {
                write!(f, "crash-looping (CrashLoopBackOff), {restarts} restarts")
            }
            Self::ImagePull { reason } => write!(f, "image cannot be pulled ({reason})"),
            Self::NotReady { phase, waiting_reason: Some(reason) } => {
                write!(f, "not ready ({phase}, {reason})")
            }
            Self::NotReady { phase, .. } => write!(f, "not ready ({phase})"),
            Self::ManyRestarts { restarts } => write!(f, "restarted {restarts} times"),
        }
    }
}

/// One event, deduplicated by the API server into a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// `Warning` or `Normal`.
    pub type_: String,
    /// Machine-readable reason: `BackOff`, `FailedScheduling`, `Unhealthy`…
    pub reason: String,
    /// What happened, in the reporter's words.
    pub message: String,
    /// The object the event is about.
    pub object: ObjectRef,
    /// How many times it happened (at least 1).
    pub count: i32,
    /// When it last happened.
    pub last_seen: Option<Timestamp>,
}

/// Current resource use of one pod, from metrics.k8s.io (summed over its containers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodUsage {
    /// Pod name.
    pub pod: String,
    /// CPU in millicores (1000 = one core), rounded up like `kubectl top`.
    pub cpu_millicores: u64,
    /// Working-set memory in bytes.
    pub memory_bytes: u64,
}

/// The tail of one container's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodLogs {
    /// The pod the lines come from (picked from the Deployment when one was named).
    pub pod: String,
    /// The container the lines come from (the pod's default container).
    pub container: Option<String>,
    /// The log text, newest line last. Possibly secrets-bearing: show, never log it.
    pub text: String,
}
