//! A pod and its events as `kubectl describe pod` shows them.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState as KubeContainerState, ContainerStateTerminated, ContainerStatus, Event, Pod,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{event_summary, pod_problem, pod_summary, timestamp};
use crate::model::{
    ContainerDescription, ContainerResources, ContainerState, PodCondition, PodDescription, Termination,
};

/// The most events a pod description keeps (newest first).
pub const MAX_DESCRIBE_EVENTS: usize = 50;

/// Describes `pod` with `events` (those about it, in any order).
pub(crate) fn pod_description(pod: &Pod, events: &[Event]) -> PodDescription {
    let summary = pod_summary(pod);
    let problem = pod_problem(&summary);
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let container_statuses: &[ContainerStatus] =
        status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let init_statuses: &[ContainerStatus] =
        status.and_then(|s| s.init_container_statuses.as_deref()).unwrap_or_default();

    let mut events: Vec<_> = events.iter().map(event_summary).collect();
    events.sort_by_key(|e| Reverse(e.last_seen));
    events.truncate(MAX_DESCRIBE_EVENTS);

    PodDescription {
        problem,
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        qos_class: status.and_then(|s| s.qos_class.clone()),
        conditions: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| PodCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition: c.last_transition_time.as_ref().and_then(|t| timestamp(&t.0)),
            })
            .collect(),
        init_containers: spec
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .map(|c| container_description(c, init_statuses))
            .collect(),
        containers: spec
            .into_iter()
            .flat_map(|s| &s.containers)
            .map(|c| container_description(c, container_statuses))
            .collect(),
        events,
        pod: summary,
    }
}

fn container_description(container: &Container, statuses: &[ContainerStatus]) -> ContainerDescription {
    let status = statuses.iter().find(|s| s.name == container.name);
    ContainerDescription {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        ready: status.is_some_and(|s| s.ready),
        restart_count: status.map_or(0, |s| s.restart_count),
        state: status.and_then(|s| s.state.as_ref()).map_or(ContainerState::Unknown, container_state),
        last_termination: status
            .and_then(|s| s.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .map(termination),
        resources: container_resources(container),
    }
}

fn container_state(state: &KubeContainerState) -> ContainerState {
    if let Some(terminated) = &state.terminated {
        ContainerState::Terminated(termination(terminated))
    } else if let Some(waiting) = &state.waiting {
        ContainerState::Waiting { reason: waiting.reason.clone(), message: waiting.message.clone() }
    } else if let Some(running) = &state.running {
        ContainerState::Running { started_at: running.started_at.as_ref().and_then(|t| timestamp(&t.0)) }
    } else {
        ContainerState::Unknown
    }
}

fn termination(terminated: &ContainerStateTerminated) -> Termination {
    Termination {
        reason: terminated.reason.clone(),
        exit_code: terminated.exit_code,
        signal: terminated.signal,
        message: terminated.message.clone(),
        started_at: terminated.started_at.as_ref().and_then(|t| timestamp(&t.0)),
        finished_at: terminated.finished_at.as_ref().and_then(|t| timestamp(&t.0)),
    }
}

/// A container's requests and limits as written in its spec.
pub(crate) fn container_resources(container: &Container) -> ContainerResources {
    let resources = container.resources.as_ref();
    let get = |map: Option<&BTreeMap<String, Quantity>>, key: &str| {
        map.and_then(|m| m.get(key)).map(|q| q.0.clone())
    };
    let requests = resources.and_then(|r| r.requests.as_ref());
    let limits = resources.and_then(|r| r.limits.as_ref());
    ContainerResources {
        cpu_request: get(requests, "cpu"),
        cpu_limit: get(limits, "cpu"),
        memory_request: get(requests, "memory"),
        memory_limit: get(limits, "memory"),
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use kube::core::ObjectList;

    use super::*;
    use crate::model::{PodPhase, Problem};

    fn ts(s: &str) -> Option<Timestamp> {
        Some(s.parse().expect("valid timestamp"))
    }

    fn crash_looping_pod() -> PodDescription {
        let pod: Pod = serde_json::from_str(include_str!("../../fixtures/pod_crashloop.json")).expect("pod");
        let events: ObjectList<Event> =
            serde_json::from_str(include_str!("../../fixtures/events_crashloop_pod.json")).expect("events");
        pod_description(&pod, &events.items)
    }

    #[test]
    fn described_crash_loop_shows_the_waiting_state_and_the_previous_exit() {
        let described = crash_looping_pod();
        assert_eq!(described.pod.phase, PodPhase::Running);
        assert_eq!(described.pod.restarts, 12);
        assert_eq!(
            described.problem,
            Some(Problem::CrashLoopBackOff { restarts: 12, last_termination_reason: Some("Error".into()) })
        );
        assert_eq!(described.qos_class.as_deref(), Some("Burstable"));
        let api = &described.containers[0];
        assert_eq!(api.name, "api");
        assert!(!api.ready);
        assert_eq!(api.restart_count, 12);
        assert_eq!(api.state.to_string(), "waiting (CrashLoopBackOff)");
        assert_eq!(
            api.last_termination,
            Some(Termination {
                reason: Some("Error".into()),
                exit_code: 1,
                signal: None,
                message: None,
                started_at: ts("2026-11-29T03:07:12Z"),
                finished_at: ts("2026-11-29T03:07:14Z"),
            })
        );
        assert_eq!(
            api.resources,
            ContainerResources {
                cpu_request: Some("250m".into()),
                cpu_limit: Some("1".into()),
                memory_request: Some("256Mi".into()),
                memory_limit: Some("512Mi".into()),
            }
        );
    }

    #[test]
    fn described_pod_lists_its_conditions_in_api_order() {
        let described = crash_looping_pod();
        let ready = described.conditions.iter().find(|c| c.type_ == "Ready").expect("Ready condition");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(ready.last_transition, ts("2026-11-29T03:02:44Z"));
        assert_eq!(described.conditions.len(), 5);
    }

    #[test]
    fn described_pod_events_are_newest_first() {
        let described = crash_looping_pod();
        let reasons: Vec<_> = described.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["BackOff", "Unhealthy", "Pulled", "Scheduled"]);
        assert_eq!(described.events[0].count, 27);
    }

    #[test]
    fn oom_killed_container_shows_exit_code_137_and_its_limit() {
        let pod: Pod = serde_json::from_str(include_str!("../../fixtures/pod_oomkilled.json")).expect("pod");
        let described = pod_description(&pod, &[]);
        let worker = described.containers.iter().find(|c| c.name == "worker").expect("worker container");
        assert_eq!(worker.state, ContainerState::Running { started_at: ts("2026-11-29T03:01:50Z") });
        let last = worker.last_termination.as_ref().expect("previous run");
        assert_eq!((last.reason.as_deref(), last.exit_code), (Some("OOMKilled"), 137));
        assert_eq!(worker.resources.memory_limit.as_deref(), Some("1Gi"));
        assert_eq!(described.problem, Some(Problem::OomKilled { restarts: 3 }));
        assert!(described.events.is_empty());
    }

    #[test]
    fn completed_init_container_is_described_as_terminated() {
        let pod: Pod = serde_json::from_str(include_str!("../../fixtures/pod_healthy.json")).expect("pod");
        let described = pod_description(&pod, &[]);
        assert_eq!(described.init_containers.len(), 1);
        assert_eq!(described.init_containers[0].state.to_string(), "terminated (Completed, exit code 0)");
        assert_eq!(described.problem, None);
    }

    #[test]
    fn container_without_status_yet_is_unknown() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"new"},"spec":{"containers":[{"name":"api","image":"api:1"}]},
                "status":{"phase":"Pending"}}"#,
        )
        .expect("pod");
        let described = pod_description(&pod, &[]);
        assert_eq!(described.containers[0].state, ContainerState::Unknown);
        assert_eq!(described.containers[0].image, "api:1");
    }
}
