//! What runbook diagnosis steps read: a deployment's pods, log tails, a described pod, rollout
//! status, a Service's endpoints, a Secret's key names, NetworkPolicies, a ConfigMap.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{EventSummary, PodSummary, Problem};

/// A pod of a deployment and what is wrong with it, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodDiagnosis {
    /// Phase, readiness, restarts, waiting and termination reasons.
    #[serde(flatten)]
    pub pod: PodSummary,
    /// The most telling problem (see [`crate::pod_problem`]).
    pub problem: Option<Problem>,
}

/// The pods a deployment's selector picks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentPods {
    /// Deployment name.
    pub deployment: String,
    /// Its label selector, as `kubectl get pods -l` takes it (`app=twisterlab-api`).
    pub selector: String,
    /// The pods, sorted by name.
    pub pods: Vec<PodDiagnosis>,
}

/// The last lines of one container's log, optionally only those matching a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogTail {
    /// The pod the lines come from (picked from the deployment when one was named: a
    /// troubled pod first).
    pub pod: String,
    /// The container the lines come from (the pod's default container).
    pub container: Option<String>,
    /// The case-insensitive filter applied, if any.
    pub filter: Option<String>,
    /// The lines, oldest first, newest last. Possibly secrets-bearing: show, never log them.
    pub lines: Vec<String>,
    /// Lines read from the end of the log before filtering.
    pub scanned_lines: usize,
    /// The read hit the adapter's byte limit, so very long lines may have cut the scan short.
    pub truncated: bool,
}

/// One pod condition (`Ready`, `ContainersReady`, `PodScheduled`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodCondition {
    /// The condition type.
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason (`ContainersNotReady`).
    pub reason: Option<String>,
    /// Human-readable explanation.
    pub message: Option<String>,
    /// When the status last changed.
    pub last_transition: Option<Timestamp>,
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Termination {
    /// `OOMKilled`, `Error`, `Completed`…
    pub reason: Option<String>,
    /// The process's exit code (137 for a SIGKILL, as after an OOM kill).
    pub exit_code: i32,
    /// The signal that ended it, when the runtime reports one.
    pub signal: Option<i32>,
    /// The runtime's message, if any.
    pub message: Option<String>,
    /// When the run started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ContainerState {
    /// Not running yet or again: `CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`…
    Waiting {
        /// Why it waits.
        reason: Option<String>,
        /// The kubelet's explanation.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When it started.
        started_at: Option<Timestamp>,
    },
    /// Ended and not (yet) restarted.
    Terminated(Termination),
    /// No status reported yet (the pod is being scheduled).
    Unknown,
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Waiting { reason, .. } => {
                write!(f, "waiting ({})", reason.as_deref().unwrap_or("no reason"))
            }
            Self::Running { .. } => f.write_str("running"),
            Self::Terminated(t) => write!(
                f,
                "terminated ({}, exit code {})",
                t.reason.as_deref().unwrap_or("no reason"),
                t.exit_code
            ),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// A container's CPU and memory requests and limits, as written in its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerResources {
    /// `resources.requests.cpu`.
    pub cpu_request: Option<String>,
    /// `resources.limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `resources.requests.memory`.
    pub memory_request: Option<String>,
    /// `resources.limits.memory`.
    pub memory_limit: Option<String>,
}

/// One container of a described pod: spec and status together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDescription {
    /// Container name.
    pub name: String,
    /// Image reference from the spec.
    pub image: String,
    /// Passing its readiness probe.
    pub ready: bool,
    /// Restarts of this container.
    pub restart_count: i32,
    /// What it is doing now.
    pub state: ContainerState,
    /// How its previous run ended (`OOMKilled`, exit code 137), if it restarted.
    pub last_termination: Option<Termination>,
    /// Requests and limits.
    pub resources: ContainerResources,
}

/// One pod, described like `kubectl describe pod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodDescription {
    /// Phase, readiness, restarts, node, deployment, last termination reason.
    #[serde(flatten)]
    pub pod: PodSummary,
    /// The most telling problem (see [`crate::pod_problem`]).
    pub problem: Option<Problem>,
    /// Why the pod is in its phase, when the kubelet says (`Evicted`).
    pub reason: Option<String>,
    /// The kubelet's message for that reason.
    pub message: Option<String>,
    /// `Guaranteed`, `Burstable` or `BestEffort`.
    pub qos_class: Option<String>,
    /// The pod's conditions, in the order the API reports them.
    pub conditions: Vec<PodCondition>,
    /// Init containers, in order.
    pub init_containers: Vec<ContainerDescription>,
    /// Containers, in spec order.
    pub containers: Vec<ContainerDescription>,
    /// The pod's events, newest first (at most [`crate::MAX_DESCRIBE_EVENTS`]).
    pub events: Vec<EventSummary>,
}

/// The `Progressing` condition of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutCondition {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `NewReplicaSetAvailable`, `ReplicaSetUpdated`, `ProgressDeadlineExceeded`…
    pub reason: Option<String>,
    /// Human-readable explanation.
    pub message: Option<String>,
}

/// Where a rollout stands, decided like `kubectl rollout status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum RolloutProgress {
    /// Every replica is updated and available; no old pod is left.
    Done,
    /// Still rolling; `waiting_for` says on what, like kubectl does.
    InProgress {
        /// E.g. `1 out of 3 new replicas have been updated`.
        waiting_for: String,
    },
    /// The rollout gave up.
    Failed {
        /// The condition reason, e.g. `ProgressDeadlineExceeded`.
        reason: String,
        /// The API server's explanation.
        message: String,
    },
}

/// A snapshot of a deployment's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutStatus {
    /// Deployment name.
    pub deployment: String,
    /// `metadata.generation`: bumped by every spec change.
    pub generation: i64,
    /// `status.observedGeneration`: the generation the controller has acted on.
    pub observed_generation: i64,
    /// Replicas asked for.
    pub desired: i32,
    /// Pods of the deployment, old and new (`status.replicas`).
    pub current: i32,
    /// Pods on the newest template.
    pub updated: i32,
    /// Pods passing their readiness probe.
    pub ready: i32,
    /// Pods ready for at least `minReadySeconds`.
    pub available: i32,
    /// The `Progressing` condition, when reported.
    pub progressing: Option<RolloutCondition>,
    /// The `ReplicaFailure` condition's message, when pods cannot be created (quota…).
    pub replica_failure: Option<String>,
    /// Done, in progress or failed.
    pub progress: RolloutProgress,
}

impl RolloutStatus {
    /// The rollout is done or failed: waiting longer changes nothing.
    pub fn is_finished(&self) -> bool {
        !matches!(self.progress, RolloutProgress::InProgress { .. })
    }
}

impl fmt::Display for RolloutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.deployment;
        match &self.progress {
            RolloutProgress::Done => write!(f, "deployment \"{name}\" successfully rolled out"),
            RolloutProgress::InProgress { waiting_for } => {
                write!(f, "waiting for deployment \"{name}\" rollout to finish: {waiting_for}")
            }
            RolloutProgress::Failed { reason, message } => {
                write!(f, "deployment \"{name}\" rollout failed ({reason}): {message}")
            }
        }
    }
}

/// How a wait for a rollout ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutWait {
    /// The last snapshot seen.
    pub last: RolloutStatus,
    /// The wait ended before the rollout finished; `last` says where it stood.
    pub timed_out: bool,
    /// How long the wait took.
    pub waited: Duration,
}

impl RolloutWait {
    /// The rollout finished successfully within the wait.
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.last.progress == RolloutProgress::Done
    }
}

impl fmt::Display for RolloutWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out {
            write!(f, "not finished after {} s: {}", self.waited.as_secs(), self.last)
        } else {
            write!(f, "{}", self.last)
        }
    }
}

/// One address of a Service's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointAddress {
    /// The IP address.
    pub address: String,
    /// Receives traffic (`conditions.ready`; unset counts as ready, as the API defines it).
    pub ready: bool,
    /// The pod behind it, when the slice names one.
    pub pod: Option<String>,
    /// The node it runs on.
    pub node: Option<String>,
}

/// A Service and how many addresses back it, from its EndpointSlices (discovery.k8s.io).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEndpoints {
    /// Service name.
    pub service: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub type_: String,
    /// The cluster IP (`None` for a headless Service shows as `None` too).
    pub cluster_ip: Option<String>,
    /// Ports, e.g. `http 80→8000/TCP`.
    pub ports: Vec<String>,
    /// Its pod selector (`app=twisterlab-api`); `None` when endpoints are managed by hand.
    pub selector: Option<String>,
    /// Addresses ready to receive traffic.
    pub ready: u32,
    /// Addresses not ready (failing readiness, terminating).
    pub not_ready: u32,
    /// Every address, sorted.
    pub addresses: Vec<EndpointAddress>,
}

/// Whether a Secret has a key. Built from key names only: the Secret's values are dropped
/// inside the adapter and never reach this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretKeyCheck {
    /// Secret name.
    pub secret: String,
    /// The key looked for.
    pub key: String,
    /// The key is present.
    pub present: bool,
    /// Every key name the Secret has, sorted (names only).
    pub keys: Vec<String>,
}

/// One NetworkPolicy, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPolicySummary {
    /// Policy name.
    pub name: String,
    /// The pods it applies to, as a label selector (`app=twisterlab-api`), or `all pods`.
    pub pod_selector: String,
    /// `Ingress`, `Egress` or both; when the policy leaves them out, what the API server
    /// assumes (Ingress, plus Egress when it has egress rules).
    pub policy_types: Vec<String>,
    /// Ingress rules (0 with an `Ingress` type: all ingress to the pods is denied).
    pub ingress_rules: u32,
    /// Egress rules (0 with an `Egress` type: all egress from the pods is denied).
    pub egress_rules: u32,
}

/// A ConfigMap's content (ConfigMaps are not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigMapData {
    /// ConfigMap name.
    pub name: String,
    /// Text keys and values, sorted by key.
    pub data: BTreeMap<String, String>,
    /// Keys of binary values (not shown), sorted.
    pub binary_keys: Vec<String>,
}
