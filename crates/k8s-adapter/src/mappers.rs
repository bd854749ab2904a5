//! Pure mappers from k8s-openapi objects to the adapter's own types, and pod diagnosis.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};

use crate::model::{DeploymentSummary, EventSummary, ObjectRef, PodPhase, PodSummary, Problem, RolloutState};

mod describe;
mod network;
mod rollout;

pub use describe::MAX_DESCRIBE_EVENTS;
pub(crate) use describe::{container_resources, pod_description};
pub(crate) use network::{
    config_map_data, ingress_route, network_policy_summary, service_endpoints, service_selects,
};
pub(crate) use rollout::rollout_status;

/// From this many restarts on, a pod that is otherwise fine is still reported
/// ([`Problem::ManyRestarts`]).
pub const MANY_RESTARTS: i32 = 5;

/// Waiting reasons that mean the image cannot be pulled.
const IMAGE_PULL_REASONS: &[&str] =
    &["ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"];

/// Waiting reasons that are a normal step of starting up, reported only when nothing
/// more telling is waiting.
const STARTUP_REASONS: &[&str] = &["ContainerCreating", "PodInitializing"];

/// Maps a k8s-openapi (jiff 0.2) timestamp to our jiff 1.0 one.
fn timestamp(ts: &k8s_openapi::jiff::Timestamp) -> Option<Timestamp> {
    Timestamp::from_nanosecond(ts.as_nanosecond()).ok()
}

/// Summarises a pod for the health overview.
pub fn pod_summary(pod: &Pod) -> PodSummary {
    let status = pod.status.as_ref();
    let containers: &[ContainerStatus] =
        status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let init_containers: &[ContainerStatus] =
        status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();

    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");

    let waiting: Vec<&str> = init_containers
        .iter()
        .chain(containers)
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref())
        .collect();
    let waiting_reason =
        waiting.iter().find(|r| !STARTUP_REASONS.contains(r)).or(waiting.first()).map(|r| (*r).to_owned());

    // An init container that completed is the normal case, not a termination to report;
    // a regular container that completed is (a finished Job pod).
    let terminations: Vec<&str> = containers
        .iter()
        .filter_map(termination_reason)
        .chain(init_containers.iter().filter_map(termination_reason).filter(|reason| *reason != "Completed"))
        .collect();
    let last_termination_reason = terminations
        .iter()
        .find(|r| **r == "OOMKilled")
        .or_else(|| terminations.iter().find(|r| **r != "Completed"))
        .or(terminations.first())
        .map(|r| (*r).to_owned());

    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        deployment: deployment_of_pod(pod),
        controller: controller_of(pod),
        phase: status.and_then(|s| s.phase.as_deref()).map_or(PodPhase::Unknown, PodPhase::parse),
        ready,
        ready_containers: count(containers.iter().filter(|c| c.ready)),
        total_containers: pod.spec.as_ref().map_or(0, |s| count(s.containers.iter())),
        restarts: init_containers
            .iter()
            .chain(containers)
            .map(|c| c.restart_count)
            .fold(0, i32::saturating_add),
        waiting_reason,
        last_termination_reason,
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        started_at: status.and_then(|s| s.start_time.as_ref()).and_then(|t| timestamp(&t.0)),
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// The reason the container is terminated now, else the reason it last terminated.
fn termination_reason(status: &ContainerStatus) -> Option<&str> {
    let current = status.state.as_ref().and_then(|s| s.terminated.as_ref());
    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    current.and_then(|t| t.reason.as_deref()).or_else(|| last.and_then(|t| t.reason.as_deref()))
}

/// The pod's controlling owner (`controller: true`), else its first owner.
fn controller_of(pod: &Pod) -> Option<ObjectRef> {
    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first())
        .map(|o| ObjectRef { kind: o.kind.clone(), name: o.name.clone() })
}

/// The Deployment a pod belongs to.
///
/// A Deployment's ReplicaSet is named `<deployment>-<pod-template-hash>`, so the owner's
/// name minus that suffix is the Deployment. A pod with no owner at all falls back to its
/// `app.kubernetes.io/name` or `app` label. Pods of StatefulSets, DaemonSets and Jobs
/// belong to no Deployment.
pub fn deployment_of_pod(pod: &Pod) -> Option<String> {
    let labels = pod.metadata.labels.as_ref();
    match controller_of(pod) {
        Some(owner) if owner.kind == "ReplicaSet" => {
            let hash = labels.and_then(|l| l.get("pod-template-hash"));
            let by_hash = hash.and_then(|h| owner.name.strip_suffix(&format!("-{h}")));
            let name = by_hash
                .or_else(|| owner.name.rsplit_once('-').map(|(prefix, _)| prefix))
                .unwrap_or(&owner.name);
            Some(name.to_owned())
        }
        Some(_) => None,
        None => labels.and_then(|l| l.get("app.kubernetes.io/name").or_else(|| l.get("app"))).cloned(),
    }
}

/// Summarises a Deployment for the health overview.
pub fn deployment_summary(deployment: &Deployment) -> DeploymentSummary {
    let spec = deployment.spec.as_ref();
    let status = deployment.status.as_ref();
    DeploymentSummary {
        name: deployment.metadata.name.clone().unwrap_or_default(),
        desired: spec.and_then(|s| s.replicas).unwrap_or(1),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        available: status.and_then(|s| s.available_replicas).unwrap_or(0),
        rollout: rollout_state(deployment),
        images: spec
            .and_then(|s| s.template.spec.as_ref())
            .map(|pod| pod.containers.iter().filter_map(|c| c.image.clone()).collect())
            .unwrap_or_default(),
    }
}

/// The rollout state, by the rules of `kubectl rollout status`.
fn rollout_state(deployment: &Deployment) -> RolloutState {
    let status = deployment.status.as_ref();
    let conditions: &[DeploymentCondition] = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let explain = |c: &DeploymentCondition| {
        c.message.clone().or_else(|| c.reason.clone()).unwrap_or_else(|| c.type_.clone())
    };
    if let Some(c) = conditions
        .iter()
        .find(|c| c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    {
        return RolloutState::Stalled { reason: explain(c) };
    }
    if let Some(c) = conditions.iter().find(|c| c.type_ == "ReplicaFailure" && c.status == "True") {
        return RolloutState::Stalled { reason: explain(c) };
    }

    let generation = deployment.metadata.generation.unwrap_or(0);
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let replicas = status.and_then(|s| s.replicas).unwrap_or(0);
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    if observed < generation || updated < desired || replicas > updated || available < updated {
        RolloutState::Progressing
    } else {
        RolloutState::Complete
    }
}

/// Summarises a core/v1 Event.
pub fn event_summary(event: &Event) -> EventSummary {
    let series = event.series.as_ref();
    let last_seen = series
        .and_then(|s| s.last_observed_time.as_ref())
        .map(|t| &t.0)
        .or(event.last_timestamp.as_ref().map(|t| &t.0))
        .or(event.event_time.as_ref().map(|t| &t.0))
        .or(event.first_timestamp.as_ref().map(|t| &t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| &t.0))
        .and_then(timestamp);
    let count = series.and_then(|s| s.count).into_iter().chain(event.count).max().unwrap_or(1).max(1);
    EventSummary {
        type_: event.type_.clone().unwrap_or_default(),
        reason: event.reason.clone().unwrap_or_default(),
        message: event.message.clone().unwrap_or_default(),
        object: ObjectRef {
            kind: event.involved_object.kind.clone().unwrap_or_default(),
            name: event.involved_object.name.clone().unwrap_or_default(),
        },
        count,
        last_seen,
    }
}

/// What is wrong with a pod, if anything, the most telling problem first: OOMKilled (the
/// cause of many crash loops), CrashLoopBackOff, image pull failures, not ready, then many
/// restarts. A pod that completed (`Succeeded`) has no problem.
pub fn pod_problem(pod: &PodSummary) -> Option<Problem> {
    if pod.phase == PodPhase::Succeeded {
        return None;
    }
    let waiting = pod.waiting_reason.as_deref();
    if pod.last_termination_reason.as_deref() == Some("OOMKilled") {
        return Some(Problem::OomKilled { restarts: pod.restarts });
    }
    if waiting == Some("CrashLoopBackOff") {
        return Some(Problem::CrashLoopBackOff {
            restarts: pod.restarts,
            last_termination_reason: pod.last_termination_reason.clone(),
        });
    }
    if let Some(reason) = waiting.filter(|r| IMAGE_PULL_REASONS.contains(r)) {
        return Some(Problem::ImagePull { reason: reason.to_owned() });
    }
    if !pod.ready {
        return Some(Problem::NotReady { phase: pod.phase, waiting_reason: pod.waiting_reason.clone() });
    }
    if pod.restarts >= MANY_RESTARTS {
        return Some(Problem::ManyRestarts { restarts: pod.restarts });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).expect("fixture parses as a k8s-openapi object")
    }

    fn pod(json: &str) -> Pod {
        fixture(json)
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Some(s.parse().expect("valid timestamp"))
    }

    #[test]
    fn crash_looping_pod_is_summarised_with_its_back_off_and_exit_reason() {
        let summary = pod_summary(&pod(include_str!("../fixtures/pod_crashloop.json")));
        assert_eq!(
            summary,
            PodSummary {
                name: "twisterlab-api-7d9f8b6c5d-x2x4q".into(),
                deployment: Some("twisterlab-api".into()),
                controller: Some(ObjectRef {
                    kind: "ReplicaSet".into(),
                    name: "twisterlab-api-7d9f8b6c5d".into(),
                }),
                phase: PodPhase::Running,
                ready: false,
                ready_containers: 0,
                total_containers: 1,
                restarts: 12,
                waiting_reason: Some("CrashLoopBackOff".into()),
                last_termination_reason: Some("Error".into()),
                node: Some("worker-2".into()),
                started_at: ts("2026-11-29T02:41:07Z"),
            }
        );
    }

    #[test]
    fn crash_looping_pod_is_a_crash_loop_problem() {
        let summary = pod_summary(&pod(include_str!("../fixtures/pod_crashloop.json")));
        let problem = pod_problem(&summary);
        assert_eq!(
            problem,
            Some(Problem::CrashLoopBackOff { restarts: 12, last_termination_reason: Some("Error".into()) })
        );
        let problem = problem.expect("a problem");
        assert_eq!(problem.code(), "CrashLoopBackOff");
        assert_eq!(problem.to_string(), "crash-looping (CrashLoopBackOff), 12 restarts, last exit: Error");
    }

    #[test]
    fn oom_killed_container_is_reported_even_after_it_came_back_ready() {
        let summary = pod_summary(&pod(include_str!("../fixtures/pod_oomkilled.json")));
        assert_eq!(summary.deployment.as_deref(), Some("twisterlab-worker"));
        assert!(summary.ready);
        assert_eq!((summary.ready_containers, summary.total_containers), (2, 2));
        assert_eq!(summary.restarts, 3);
        assert_eq!(summary.waiting_reason, None);
        assert_eq!(summary.last_termination_reason.as_deref(), Some("OOMKilled"));
        assert_eq!(pod_problem(&summary), Some(Problem::OomKilled { restarts: 3 }));
    }

    #[test]
    fn oom_kill_explains_a_crash_loop_better_than_the_back_off() {
        let mut summary = pod_summary(&pod(include_str!("../fixtures/pod_crashloop.json")));
        summary.last_termination_reason = Some("OOMKilled".into());
        assert_eq!(pod_problem(&summary), Some(Problem::OomKilled { restarts: 12 }));
    }

    #[test]
    fn healthy_pod_has_no_problem_and_its_completed_init_container_is_not_a_termination() {
        let summary = pod_summary(&pod(include_str!("../fixtures/pod_healthy.json")));
        assert_eq!(summary.name, "twisterlab-api-7d9f8b6c5d-m8k2p");
        assert_eq!(summary.deployment.as_deref(), Some("twisterlab-api"));
        assert_eq!(summary.phase, PodPhase::Running);
        assert!(summary.ready);
        assert_eq!((summary.ready_containers, summary.total_containers), (1, 1));
        assert_eq!(summary.restarts, 0);
        assert_eq!(summary.waiting_reason, None);
        assert_eq!(summary.last_termination_reason, None);
        assert_eq!(summary.node.as_deref(), Some("worker-1"));
        assert_eq!(pod_problem(&summary), None);
    }

    #[test]
    fn image_pull_back_off_is_an_image_problem() {
        let summary = pod_summary(&pod(include_str!("../fixtures/pod_image_pull.json")));
        assert_eq!(summary.phase, PodPhase::Pending);
        assert_eq!(summary.waiting_reason.as_deref(), Some("ImagePullBackOff"));
        assert_eq!(pod_problem(&summary), Some(Problem::ImagePull { reason: "ImagePullBackOff".into() }));
    }

    #[test]
    fn ready_pod_with_many_restarts_is_still_reported() {
        let mut summary = pod_summary(&pod(include_str!("../fixtures/pod_healthy.json")));
        summary.restarts = MANY_RESTARTS - 1;
        assert_eq!(pod_problem(&summary), None);
        summary.restarts = MANY_RESTARTS;
        assert_eq!(pod_problem(&summary), Some(Problem::ManyRestarts { restarts: MANY_RESTARTS }));
    }

    #[test]
    fn unready_pod_without_a_waiting_container_is_not_ready() {
        let mut summary = pod_summary(&pod(include_str!("../fixtures/pod_healthy.json")));
        summary.ready = false;
        assert_eq!(
            pod_problem(&summary),
            Some(Problem::NotReady { phase: PodPhase::Running, waiting_reason: None })
        );
    }

    #[test]
    fn completed_pod_has_no_problem() {
        let summary = pod_summary(&pod(r#"{"metadata":{"name":"vacuum-29012-abcde","ownerReferences":[
                {"apiVersion":"batch/v1","kind":"Job","name":"vacuum-29012","uid":"j","controller":true}]},
               "spec":{"containers":[{"name":"vacuum","image":"postgres:15"}]},
               "status":{"phase":"Succeeded","conditions":[{"type":"Ready","status":"False","reason":"PodCompleted"}],
                 "containerStatuses":[{"name":"vacuum","image":"postgres:15","imageID":"","ready":false,"restartCount":0,
                   "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}}"#));
        assert_eq!(summary.deployment, None);
        assert_eq!(summary.controller, Some(ObjectRef { kind: "Job".into(), name: "vacuum-29012".into() }));
        assert_eq!(summary.last_termination_reason.as_deref(), Some("Completed"));
        assert_eq!(pod_problem(&summary), None);
    }

    #[test]
    fn bare_pod_belongs_to_the_deployment_named_by_its_app_label() {
        let bare = pod(r#"{"metadata":{"name":"debug","labels":{"app":"twisterlab-api"}}}"#);
        assert_eq!(deployment_of_pod(&bare).as_deref(), Some("twisterlab-api"));
        let summary = pod_summary(&bare);
        assert_eq!(summary.phase, PodPhase::Unknown);
        assert!(!summary.ready);
        assert_eq!(summary.started_at, None);
    }

    #[test]
    fn replica_set_without_hash_label_loses_its_last_name_segment() {
        let orphan_label = pod(r#"{"metadata":{"name":"x","ownerReferences":[
                {"apiVersion":"apps/v1","kind":"ReplicaSet","name":"my-app-5f6d7c","uid":"u"}]}}"#);
        assert_eq!(deployment_of_pod(&orphan_label).as_deref(), Some("my-app"));
    }

    #[test]
    fn stateful_set_pod_belongs_to_no_deployment() {
        let db = pod(r#"{"metadata":{"name":"postgres-0","labels":{"app":"postgres"},"ownerReferences":[
                {"apiVersion":"apps/v1","kind":"StatefulSet","name":"postgres","uid":"u","controller":true}]}}"#);
        assert_eq!(deployment_of_pod(&db), None);
    }

    #[test]
    fn stalled_rollout_reports_the_progress_deadline_message() {
        let deployment: Deployment = fixture(include_str!("../fixtures/deployment_stalled.json"));
        assert_eq!(
            deployment_summary(&deployment),
            DeploymentSummary {
                name: "twisterlab-api".into(),
                desired: 3,
                ready: 2,
                updated: 2,
                available: 2,
                rollout: RolloutState::Stalled {
                    reason: "ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing.".into()
                },
                images: vec![
                    "registry.twisterlab.local/twisterlab-api:2.14.1".into(),
                    "bitnami/pgbouncer:1.23.1".into(),
                ],
            }
        );
    }

    #[test]
    fn finished_rollout_is_complete() {
        let deployment: Deployment = fixture(include_str!("../fixtures/deployment_complete.json"));
        let summary = deployment_summary(&deployment);
        assert_eq!(summary.rollout, RolloutState::Complete);
        assert_eq!((summary.desired, summary.ready, summary.updated, summary.available), (2, 2, 2, 2));
    }

    #[test]
    fn rollout_is_progressing_while_old_pods_remain_or_the_spec_is_unobserved() {
        let complete: Deployment = fixture(include_str!("../fixtures/deployment_complete.json"));

        let mut old_pods_left = complete.clone();
        if let Some(status) = old_pods_left.status.as_mut() {
            status.replicas = Some(3);
        }
        assert_eq!(rollout_state(&old_pods_left), RolloutState::Progressing);

        let mut unobserved = complete.clone();
        unobserved.metadata.generation = Some(4);
        assert_eq!(rollout_state(&unobserved), RolloutState::Progressing);

        let mut scaled_up = complete.clone();
        if let Some(spec) = scaled_up.spec.as_mut() {
            spec.replicas = Some(5);
        }
        assert_eq!(rollout_state(&scaled_up), RolloutState::Progressing);

        let mut unavailable = complete;
        if let Some(status) = unavailable.status.as_mut() {
            status.available_replicas = Some(1);
        }
        assert_eq!(rollout_state(&unavailable), RolloutState::Progressing);
    }

    #[test]
    fn replica_failure_stalls_the_rollout() {
        let deployment: Deployment = fixture(
            r#"{"metadata":{"name":"web","generation":2},
                "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{}},
                "status":{"observedGeneration":2,"replicas":1,"updatedReplicas":1,"availableReplicas":1,
                  "conditions":[{"type":"ReplicaFailure","status":"True","reason":"FailedCreate",
                    "message":"pods \"web-1\" is forbidden: exceeded quota: compute-resources"}]}}"#,
        );
        assert_eq!(
            rollout_state(&deployment),
            RolloutState::Stalled {
                reason: "pods \"web-1\" is forbidden: exceeded quota: compute-resources".into()
            }
        );
    }

    #[test]
    fn warning_event_is_summarised_with_its_count_and_last_time() {
        let event: Event = fixture(include_str!("../fixtures/event_backoff.json"));
        assert_eq!(
            event_summary(&event),
            EventSummary {
                type_: "Warning".into(),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container api in pod twisterlab-api-7d9f8b6c5d-x2x4q_twisterlab(5b0c7f0e-2d7a-4c4e-9d1e-0f5a1b2c3d4e)".into(),
                object: ObjectRef {
                    kind: "Pod".into(),
                    name: "twisterlab-api-7d9f8b6c5d-x2x4q".into()
                },
                count: 27,
                last_seen: ts("2026-11-29T03:07:30Z"),
            }
        );
    }

    #[test]
    fn event_series_wins_over_the_deprecated_count_and_timestamp() {
        let event: Event = fixture(
            r#"{"metadata":{"name":"e"},"involvedObject":{"kind":"Deployment","name":"api"},
                "type":"Warning","reason":"Unhealthy","eventTime":"2026-11-29T03:00:00.000000Z",
                "series":{"count":4,"lastObservedTime":"2026-11-29T03:10:00.123456Z"}}"#,
        );
        let summary = event_summary(&event);
        assert_eq!(summary.count, 4);
        assert_eq!(summary.last_seen, ts("2026-11-29T03:10:00.123456Z"));
        assert_eq!(summary.object.to_string(), "Deployment/api");
    }
}
