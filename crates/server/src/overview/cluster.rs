//! The Kubernetes panel's data: the
//! snapshot the background worker takes through the adapter — deployments, pods with their
//! problems first, recent Warning events, CPU and memory when metrics.k8s.io is served.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use twisterlab_k8s::{
    Cluster, ClusterError, DeploymentSummary, EventSummary, PodSummary, PodUsage, Problem, RolloutState,
    pod_problem,
};

/// Warning events kept in a snapshot.
pub(crate) const EVENTS: usize = 20;

/// One part of the snapshot: the last data that arrived and when, and the error of the latest
/// attempt if it failed (the older data is then still shown, marked with its age).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Part<T> {
    pub data: Option<T>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub fetched_at: Option<OffsetDateTime>,
    pub error: Option<String>,
}

impl<T> Default for Part<T> {
    fn default() -> Self {
        Self { data: None, fetched_at: None, error: None }
    }
}

impl<T: Clone> Part<T> {
    /// The part after an attempt: new data, or the old data with the new error.
    fn after(previous: Option<&Part<T>>, attempt: Result<T, ClusterError>, now: OffsetDateTime) -> Part<T> {
        match attempt {
            Ok(data) => Part { data: Some(data), fetched_at: Some(now), error: None },
            Err(e) => {
                let previous = previous.cloned().unwrap_or_default();
                Part { data: previous.data, fetched_at: previous.fetched_at, error: Some(e.to_string()) }
            }
        }
    }
}

/// A deployment as the panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeploymentRow {
    pub name: String,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    /// "complete", "progressing", "stalled: …".
    pub rollout: String,
    pub stalled: bool,
    pub images: Vec<String>,
}

impl From<&DeploymentSummary> for DeploymentRow {
    fn from(d: &DeploymentSummary) -> Self {
        Self {
            name: d.name.clone(),
            desired: d.desired,
            ready: d.ready,
            updated: d.updated,
            available: d.available,
            rollout: d.rollout.to_string(),
            stalled: matches!(d.rollout, RolloutState::Stalled { .. }),
            images: d.images.clone(),
        }
    }
}

impl DeploymentRow {
    /// Fewer ready pods than desired, or a stalled rollout.
    pub(crate) fn troubled(&self) -> bool {
        self.stalled || self.ready < self.desired
    }
}

/// A pod as the panel shows it, with its problem (if any) already diagnosed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PodRow {
    pub name: String,
    pub deployment: Option<String>,
    pub phase: String,
    pub ready: bool,
    pub ready_containers: u32,
    pub total_containers: u32,
    pub restarts: i32,
    pub waiting_reason: Option<String>,
    pub last_termination_reason: Option<String>,
    pub node: Option<String>,
    pub started_at: Option<Timestamp>,
    /// `OOMKilled`, `CrashLoopBackOff`, `ImagePullBackOff`, `NotReady`, `Restarts`.
    pub problem: Option<String>,
    /// The problem in words.
    pub problem_text: Option<String>,
    /// Sort key: most telling problem first, healthy pods last.
    pub rank: u8,
}

fn rank(problem: Option<&Problem>) -> u8 {
    match problem {
        Some(Problem::OomKilled { .. }) => 0,
        Some(Problem::CrashLoopBackOff { .. }) => 1,
        Some(Problem::ImagePull { .. }) => 2,
        Some(Problem::NotReady { .. }) => 3,
        Some(Problem::ManyRestarts { .. }) => 4,
        None => 5,
    }
}

impl From<&PodSummary> for PodRow {
    fn from(p: &PodSummary) -> Self {
        let problem = pod_problem(p);
        Self {
            name: p.name.clone(),
            deployment: p.deployment.clone(),
            phase: p.phase.to_string(),
            ready: p.ready,
            ready_containers: p.ready_containers,
            total_containers: p.total_containers,
            restarts: p.restarts,
            waiting_reason: p.waiting_reason.clone(),
            last_termination_reason: p.last_termination_reason.clone(),
            node: p.node.clone(),
            started_at: p.started_at,
            problem: problem.as_ref().map(|x| x.code().to_owned()),
            problem_text: problem.as_ref().map(ToString::to_string),
            rank: rank(problem.as_ref()),
        }
    }
}

/// A Warning event as the panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRow {
    pub reason: String,
    pub message: String,
    /// `Pod/twisterlab-api-7d9f8b6c5d-x2x4q`.
    pub object: String,
    pub count: i32,
    pub last_seen: Option<Timestamp>,
}

impl From<&EventSummary> for EventRow {
    fn from(e: &EventSummary) -> Self {
        Self {
            reason: e.reason.clone(),
            message: e.message.clone(),
            object: e.object.to_string(),
            count: e.count,
            last_seen: e.last_seen,
        }
    }
}

/// CPU and memory of one pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsageRow {
    pub pod: String,
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

impl From<&PodUsage> for UsageRow {
    fn from(u: &PodUsage) -> Self {
        Self { pod: u.pod.clone(), cpu_millicores: u.cpu_millicores, memory_bytes: u.memory_bytes }
    }
}

/// CPU and memory per pod, when the cluster serves metrics.k8s.io.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Usage {
    /// `false`: no metrics-server (metrics.k8s.io is not served), which is no error.
    pub served: bool,
    pub pods: Vec<UsageRow>,
}

/// What the panel shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct KubeSnapshot {
    /// A cluster is configured; otherwise `not_configured` says why not.
    pub configured: bool,
    pub not_configured: Option<String>,
    pub namespace: Option<String>,
    pub deployments: Part<Vec<DeploymentRow>>,
    /// Problems first.
    pub pods: Part<Vec<PodRow>>,
    /// Newest first.
    pub events: Part<Vec<EventRow>>,
    pub usage: Part<Usage>,
}

impl KubeSnapshot {
    /// Pods with a problem.
    pub(crate) fn problem_pods(&self) -> usize {
        self.pods.data.as_ref().map(|p| p.iter().filter(|p| p.problem.is_some()).count()).unwrap_or(0)
    }
}

/// Reads the cluster through the adapter (all four calls at once, each bounded by the
/// adapter's timeout) and merges the answers into the previous snapshot: a failed call keeps
/// the older data and records its error.
pub(crate) async fn take_snapshot(cluster: &dyn Cluster, previous: Option<&KubeSnapshot>) -> KubeSnapshot {
    let Some(namespace) = cluster.namespace().map(str::to_owned) else {
        let reason = match cluster.pods().await {
            Err(ClusterError::NotConfigured(reason)) => reason,
            Err(other) => other.to_string(),
            Ok(_) => "no namespace".into(),
        };
        return KubeSnapshot { configured: false, not_configured: Some(reason), ..KubeSnapshot::default() };
    };
    let (deployments, pods, events, usage) = tokio::join!(
        cluster.deployments(),
        cluster.pods(),
        cluster.warning_events(EVENTS),
        cluster.pod_usage()
    );
    let now = OffsetDateTime::now_utc();
    let previous = previous.filter(|p| p.configured && p.namespace.as_deref() == Some(namespace.as_str()));
    let mut pods: Result<Vec<PodRow>, ClusterError> = pods.map(|p| p.iter().map(PodRow::from).collect());
    if let Ok(rows) = &mut pods {
        rows.sort_by(|a, b| (a.rank, &a.name).cmp(&(b.rank, &b.name)));
    }
    KubeSnapshot {
        configured: true,
        not_configured: None,
        deployments: Part::after(
            previous.map(|p| &p.deployments),
            deployments.map(|d| d.iter().map(DeploymentRow::from).collect()),
            now,
        ),
        pods: Part::after(previous.map(|p| &p.pods), pods, now),
        events: Part::after(
            previous.map(|p| &p.events),
            events.map(|e| e.iter().map(EventRow::from).collect()),
            now,
        ),
        usage: Part::after(
            previous.map(|p| &p.usage),
            usage.map(|u| Usage {
                served: u.is_some(),
                pods: u.iter().flatten().map(UsageRow::from).collect(),
            }),
            now,
        ),
        namespace: Some(namespace),
    }
}
