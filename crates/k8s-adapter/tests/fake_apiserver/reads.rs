//! Reading the cluster: the health overview's reads and the runbook's diagnosis steps, each
//! with the exact requests it makes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use twisterlab_k8s::{
    Cluster, ClusterError, ContainerState, DEFAULT_TAIL_LINES, NetworkPolicySummary, PodUsage, Problem,
    RolloutProgress, RolloutState, RolloutStatus,
};

use crate::fake::{NS, PORTAL_SECRET_VALUE, fixture, incident_cluster};

#[tokio::test]
async fn deployments_are_listed_by_name_with_their_rollout_state() {
    let (fake, cluster) = incident_cluster().await;
    let deployments = cluster.deployments().await.expect("list deployments");
    let names: Vec<_> = deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["twisterlab-api", "twisterlab-worker"]);
    assert_eq!(
        deployments[0].rollout,
        RolloutState::Stalled {
            reason: "ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing.".into()
        }
    );
    assert_eq!((deployments[0].desired, deployments[0].ready), (3, 2));
    assert_eq!(deployments[1].rollout, RolloutState::Complete);
    assert_eq!(fake.requests(), ["GET /apis/apps/v1/namespaces/twisterlab/deployments?"]);
}

#[tokio::test]
async fn pods_are_listed_by_name_and_their_problems_diagnosed() {
    let (_fake, cluster) = incident_cluster().await;
    let pods = cluster.pods().await.expect("list pods");
    let diagnosis: Vec<(&str, Option<String>)> = pods
        .iter()
        .map(|p| {
            let problem = twisterlab_k8s::pod_problem(p).map(|problem| problem.code().to_owned());
            (p.name.as_str(), problem)
        })
        .collect();
    assert_eq!(
        diagnosis,
        [
            ("twisterlab-api-7d9f8b6c5d-m8k2p", None),
            ("twisterlab-api-7d9f8b6c5d-x2x4q", Some("CrashLoopBackOff".into())),
            ("twisterlab-web-6f7c9d8b4-tt9zr", Some("ImagePullBackOff".into())),
            ("twisterlab-worker-5c6b7d8f9-q7wzk", Some("OOMKilled".into())),
        ]
    );
    let oom = pods.last().expect("worker pod");
    assert_eq!(twisterlab_k8s::pod_problem(oom), Some(Problem::OomKilled { restarts: 3 }));
    assert_eq!(oom.deployment.as_deref(), Some("twisterlab-worker"));
}

#[tokio::test]
async fn warning_events_are_selected_by_the_api_server_and_returned_newest_first() {
    let (fake, cluster) = incident_cluster().await;
    let events = cluster.warning_events(2).await.expect("list events");
    let reasons: Vec<_> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["Unhealthy", "BackOff"]);
    assert!(events.iter().all(|e| e.type_ == "Warning"));
    assert_eq!(events[1].count, 27);
    assert_eq!(events[1].object.to_string(), "Pod/twisterlab-api-7d9f8b6c5d-x2x4q");
    assert_eq!(fake.requests(), ["GET /api/v1/namespaces/twisterlab/events?&fieldSelector=type%3DWarning"]);
}

#[tokio::test]
async fn logs_of_a_deployment_come_from_its_crash_looping_pod() {
    let (fake, cluster) = incident_cluster().await;
    let logs = cluster.pod_logs("twisterlab-api", DEFAULT_TAIL_LINES).await.expect("deployment logs");
    assert_eq!(logs.pod, "twisterlab-api-7d9f8b6c5d-x2x4q");
    assert_eq!(logs.container.as_deref(), Some("api"));
    let lines: Vec<_> = logs.text.lines().collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines.first(), Some(&"2026-11-29T03:07:52Z line 52"));
    assert_eq!(lines.last(), Some(&"FATAL: remaining connection slots are reserved"));
    assert_eq!(
        fake.requests(),
        [
            "GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api",
            "GET /api/v1/namespaces/twisterlab/pods?&labelSelector=app%3Dtwisterlab-api",
            "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q/log?&container=api&limitBytes=524288&tailLines=100",
        ]
    );
}

#[tokio::test]
async fn logs_of_a_named_pod_are_read_directly() {
    let (_fake, cluster) = incident_cluster().await;
    let logs = cluster.pod_logs("twisterlab-api-7d9f8b6c5d-m8k2p", 10).await.expect("pod logs");
    assert_eq!(logs.pod, "twisterlab-api-7d9f8b6c5d-m8k2p");
    assert_eq!(logs.text, "GET /health 200\n");
}

#[tokio::test]
async fn logs_of_an_unknown_name_are_not_found() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.pod_logs("no-such-thing", DEFAULT_TAIL_LINES).await.expect_err("nothing to read");
    assert_eq!(
        err,
        ClusterError::NotFound { resource: "deployments or pods".into(), name: "no-such-thing".into() }
    );
}

#[tokio::test]
async fn pod_usage_is_read_from_the_metrics_api() {
    let (fake, cluster) = incident_cluster().await;
    fake.world().metrics = Some(vec![
        json!({
            "metadata": { "name": "twisterlab-worker-5c6b7d8f9-q7wzk", "namespace": NS },
            "timestamp": "2026-11-29T03:10:00Z", "window": "30s",
            "containers": [
                { "name": "worker", "usage": { "cpu": "912345678n", "memory": "1000Mi" } },
                { "name": "log-shipper", "usage": { "cpu": "2m", "memory": "24Mi" } }
            ]
        }),
        json!({
            "metadata": { "name": "twisterlab-api-7d9f8b6c5d-m8k2p", "namespace": NS },
            "timestamp": "2026-11-29T03:10:00Z", "window": "30s",
            "containers": [ { "name": "api", "usage": { "cpu": "250m", "memory": "128Mi" } } ]
        }),
    ]);
    let usage = cluster.pod_usage().await.expect("metrics call succeeds");
    assert_eq!(
        usage,
        Some(vec![
            PodUsage {
                pod: "twisterlab-api-7d9f8b6c5d-m8k2p".into(),
                cpu_millicores: 250,
                memory_bytes: 128 * 1024 * 1024,
            },
            PodUsage {
                pod: "twisterlab-worker-5c6b7d8f9-q7wzk".into(),
                cpu_millicores: 915,
                memory_bytes: 1024 * 1024 * 1024,
            },
        ])
    );
    assert_eq!(fake.requests(), ["GET /apis/metrics.k8s.io/v1beta1/namespaces/twisterlab/pods?"]);
}

#[tokio::test]
async fn missing_metrics_api_means_no_metrics_not_an_error() {
    let (_fake, cluster) = incident_cluster().await;
    assert_eq!(cluster.pod_usage().await, Ok(None));
}

// ---------------------------------------------------------------------------------------
// Diagnosis steps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn pods_of_a_deployment_are_found_by_its_selector_with_their_problems() {
    let (fake, cluster) = incident_cluster().await;
    let pods = cluster.deployment_pods("twisterlab-api").await.expect("pods of twisterlab-api");
    assert_eq!(pods.deployment, "twisterlab-api");
    assert_eq!(pods.selector, "app=twisterlab-api");
    let found: Vec<_> =
        pods.pods.iter().map(|p| (p.pod.name.as_str(), p.problem.as_ref().map(Problem::code))).collect();
    assert_eq!(
        found,
        [
            ("twisterlab-api-7d9f8b6c5d-m8k2p", None),
            ("twisterlab-api-7d9f8b6c5d-x2x4q", Some("CrashLoopBackOff"))
        ]
    );
    assert_eq!(pods.pods[1].pod.restarts, 12);
    assert!(!pods.pods[1].pod.ready);
    assert_eq!(
        fake.requests(),
        [
            "GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api",
            "GET /api/v1/namespaces/twisterlab/pods?&labelSelector=app%3Dtwisterlab-api",
        ]
    );
}

#[tokio::test]
async fn pods_of_a_missing_deployment_are_not_found() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.deployment_pods("twisterlab-ghost").await.expect_err("no such deployment");
    assert_eq!(err.to_string(), "deployments \"twisterlab-ghost\" not found");
}

#[tokio::test]
async fn filtered_logs_keep_the_last_matching_lines_of_a_wide_scan() {
    let (fake, cluster) = incident_cluster().await;
    let tail = cluster.tail_logs("twisterlab-api", Some("error"), 100).await.expect("filtered logs");
    assert_eq!(tail.pod, "twisterlab-api-7d9f8b6c5d-x2x4q");
    assert_eq!(tail.container.as_deref(), Some("api"));
    assert_eq!(tail.filter.as_deref(), Some("error"));
    assert_eq!(
        tail.lines,
        [
            "2026-11-29T03:07:21Z ERROR could not connect to postgres:5432",
            "2026-11-29T03:07:01Z error: connection pool exhausted",
        ]
    );
    assert_eq!(tail.scanned_lines, 151);
    assert!(!tail.truncated);
    assert_eq!(
        fake.requests()[2],
        "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q/log?&container=api&limitBytes=4194304&tailLines=5000"
    );

    let one = cluster.tail_logs("twisterlab-api", Some("ERROR"), 1).await.expect("last match");
    assert_eq!(one.lines, ["2026-11-29T03:07:01Z error: connection pool exhausted"]);
}

#[tokio::test]
async fn unfiltered_logs_ask_the_api_server_for_exactly_the_lines_wanted() {
    let (fake, cluster) = incident_cluster().await;
    let tail = cluster.tail_logs("twisterlab-api-7d9f8b6c5d-x2x4q", None, 3).await.expect("pod logs");
    assert_eq!(tail.lines.len(), 3);
    assert_eq!(tail.lines.last().map(String::as_str), Some("FATAL: remaining connection slots are reserved"));
    assert_eq!(tail.filter, None);
    assert_eq!(
        fake.requests(),
        [
            "GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api-7d9f8b6c5d-x2x4q",
            "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q",
            "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q/log?&container=api&limitBytes=524288&tailLines=3",
        ]
    );
}

#[tokio::test]
async fn described_pod_has_its_container_states_and_only_its_own_events() {
    let (fake, cluster) = incident_cluster().await;
    let described = cluster.describe_pod("twisterlab-api-7d9f8b6c5d-x2x4q").await.expect("describe");
    assert_eq!(described.pod.restarts, 12);
    assert_eq!(described.problem.as_ref().map(Problem::code), Some("CrashLoopBackOff"));
    let api = &described.containers[0];
    assert!(matches!(&api.state, ContainerState::Waiting { reason: Some(r), .. } if r == "CrashLoopBackOff"));
    assert_eq!(
        api.last_termination.as_ref().map(|t| (t.reason.as_deref(), t.exit_code)),
        Some((Some("Error"), 1))
    );
    assert_eq!(api.resources.memory_limit.as_deref(), Some("512Mi"));
    let events: Vec<_> = described.events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(events, ["Pulled", "Unhealthy", "BackOff"], "newest first, the web pod's event left out");
    assert_eq!(
        fake.requests(),
        [
            "GET /api/v1/namespaces/twisterlab/pods/twisterlab-api-7d9f8b6c5d-x2x4q",
            "GET /api/v1/namespaces/twisterlab/events?&fieldSelector=involvedObject.kind%3DPod%2CinvolvedObject.name%3Dtwisterlab-api-7d9f8b6c5d-x2x4q%2CinvolvedObject.uid%3D5b0c7f0e-2d7a-4c4e-9d1e-0f5a1b2c3d4e",
        ]
    );
}

#[tokio::test]
async fn describing_a_missing_pod_names_it() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.describe_pod("twisterlab-api-gone").await.expect_err("no such pod");
    assert_eq!(err, ClusterError::NotFound { resource: "pods".into(), name: "twisterlab-api-gone".into() });
}

#[tokio::test]
async fn rollout_status_of_the_stalled_deployment_is_failed_with_its_deadline() {
    let (fake, cluster) = incident_cluster().await;
    let status = cluster.rollout_status("twisterlab-api").await.expect("rollout status");
    assert_eq!(
        status.progress,
        RolloutProgress::Failed {
            reason: "ProgressDeadlineExceeded".into(),
            message: "ReplicaSet \"twisterlab-api-7d9f8b6c5d\" has timed out progressing.".into(),
        }
    );
    assert_eq!(fake.requests(), ["GET /apis/apps/v1/namespaces/twisterlab/deployments/twisterlab-api"]);
}

fn rollout(updated: i32, available: i32, replicas: i32) -> serde_json::Value {
    json!({
        "observedGeneration": 7, "replicas": replicas, "updatedReplicas": updated,
        "readyReplicas": available, "availableReplicas": available,
        "conditions": [ { "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated" } ]
    })
}

#[tokio::test]
async fn waiting_for_a_rollout_reports_each_new_snapshot_until_it_is_done() {
    let (fake, cluster) = incident_cluster().await;
    let cluster = cluster.with_poll_interval(Duration::from_millis(10));
    fake.world().rollout_script.insert(
        "twisterlab-api".into(),
        [rollout(1, 3, 4), rollout(1, 3, 4), rollout(2, 3, 4), rollout(3, 3, 3)].into(),
    );
    let seen: Mutex<Vec<RolloutStatus>> = Mutex::default();
    let record = |status: &RolloutStatus| seen.lock().expect("seen").push(status.clone());

    let wait =
        cluster.wait_for_rollout("twisterlab-api", Duration::from_secs(10), &record).await.expect("wait");
    assert!(wait.succeeded(), "{wait}");
    assert!(!wait.timed_out);
    assert_eq!(wait.to_string(), "deployment \"twisterlab-api\" successfully rolled out");
    let seen = seen.into_inner().expect("seen");
    let progress: Vec<String> = seen.iter().map(ToString::to_string).collect();
    assert_eq!(
        progress,
        [
            "waiting for deployment \"twisterlab-api\" rollout to finish: 1 out of 3 new replicas have been updated",
            "waiting for deployment \"twisterlab-api\" rollout to finish: 2 out of 3 new replicas have been updated",
            "deployment \"twisterlab-api\" successfully rolled out",
        ],
        "an unchanged snapshot is not reported twice"
    );
    assert_eq!(fake.requests().len(), 4, "one GET per poll");
}

#[tokio::test]
async fn waiting_for_a_failed_rollout_ends_at_once_with_the_reason() {
    let (fake, cluster) = incident_cluster().await;
    let started = Instant::now();
    let wait =
        cluster.wait_for_rollout("twisterlab-api", Duration::from_secs(60), &|_| {}).await.expect("wait");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!wait.timed_out && !wait.succeeded());
    assert!(
        matches!(&wait.last.progress, RolloutProgress::Failed { reason, .. } if reason == "ProgressDeadlineExceeded")
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn waiting_for_a_slow_rollout_times_out_with_the_last_snapshot() {
    let (fake, cluster) = incident_cluster().await;
    let cluster = cluster.with_poll_interval(Duration::from_millis(50));
    fake.world().rollout_script.insert("twisterlab-api".into(), [rollout(1, 3, 4)].into());
    let started = Instant::now();
    let wait =
        cluster.wait_for_rollout("twisterlab-api", Duration::from_secs(1), &|_| {}).await.expect("wait");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(wait.timed_out && !wait.succeeded());
    assert_eq!(
        wait.last.progress,
        RolloutProgress::InProgress { waiting_for: "1 out of 3 new replicas have been updated".into() }
    );
    assert!(wait.to_string().starts_with("not finished after 1 s: waiting for deployment"), "{wait}");
}

#[tokio::test]
async fn service_endpoints_count_ready_and_not_ready_addresses_of_its_slices_only() {
    let (fake, cluster) = incident_cluster().await;
    let endpoints = cluster.service_endpoints("twisterlab-api").await.expect("service endpoints");
    assert_eq!((endpoints.ready, endpoints.not_ready), (2, 1));
    assert_eq!(endpoints.addresses.len(), 3, "the mcp-unified slice is not counted");
    assert_eq!(endpoints.ports, ["http 8000→http/TCP"]);
    assert_eq!(
        fake.requests(),
        [
            "GET /api/v1/namespaces/twisterlab/services/twisterlab-api",
            "GET /apis/discovery.k8s.io/v1/namespaces/twisterlab/endpointslices?&labelSelector=kubernetes.io%2Fservice-name%3Dtwisterlab-api",
        ]
    );
}

#[tokio::test]
async fn a_missing_service_is_not_found() {
    let (_fake, cluster) = incident_cluster().await;
    let err = cluster.service_endpoints("twisterlab-apii").await.expect_err("typo");
    assert_eq!(err.to_string(), "services \"twisterlab-apii\" not found");
}

/// Every form a secret value of the fixture could take in an answer.
fn secret_values() -> Vec<String> {
    let secret = fixture(include_str!("../../fixtures/secret_twisterlab.json"));
    let mut values: Vec<String> = secret["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.as_str().map(str::to_owned))
        .collect();
    values.extend(["hunter2-s3cret".to_owned(), "r3dis-pa55word".to_owned(), PORTAL_SECRET_VALUE.to_owned()]);
    values
}

fn assert_no_secret_value(text: &str) {
    for value in secret_values() {
        assert!(!text.contains(&value), "a secret value leaked: {text}");
    }
}

#[tokio::test]
async fn a_secret_key_check_answers_presence_from_key_names_only() {
    let (fake, cluster) = incident_cluster().await;
    let check = cluster.secret_has_key("twisterlab-secrets", "DATABASE_URL").await.expect("secret check");
    assert!(check.present);
    assert_eq!(check.keys, ["DATABASE_URL", "REDIS_URL"]);
    let missing = cluster.secret_has_key("twisterlab-secrets", "API_KEY").await.expect("secret check");
    assert!(!missing.present);
    for shown in [format!("{check:?}"), format!("{missing:?}"), serde_json::to_string(&check).expect("json")]
    {
        assert_no_secret_value(&shown);
    }
    assert_eq!(
        fake.requests(),
        [
            "GET /api/v1/namespaces/twisterlab/secrets/twisterlab-secrets",
            "GET /api/v1/namespaces/twisterlab/secrets/twisterlab-secrets",
        ]
    );
}

#[tokio::test]
async fn the_portals_own_secret_is_never_asked_for() {
    let (fake, cluster) = incident_cluster().await;
    let err = cluster.secret_has_key("twisterlab-portal-secrets", "DATABASE_URL").await.expect_err("refused");
    assert!(matches!(&err, ClusterError::InvalidArgument(e) if e.field == "secret"), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid secret: the portal may only check the keys of twisterlab-secrets \
         (the Role grants reading no other Secret)"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn network_policies_are_listed_by_name() {
    let (fake, cluster) = incident_cluster().await;
    let policies = cluster.network_policies().await.expect("network policies");
    let names: Vec<_> = policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default-deny", "mcp-from-api", "twisterlab-api"]);
    assert_eq!(
        policies[0],
        NetworkPolicySummary {
            name: "default-deny".into(),
            pod_selector: "all pods".into(),
            policy_types: vec!["Ingress".into(), "Egress".into()],
            ingress_rules: 0,
            egress_rules: 0,
        }
    );
    assert_eq!(fake.requests(), ["GET /apis/networking.k8s.io/v1/namespaces/twisterlab/networkpolicies?"]);
}

#[tokio::test]
async fn a_config_map_is_read_with_its_values() {
    let (fake, cluster) = incident_cluster().await;
    let config = cluster.config_map("twisterlab-config").await.expect("configmap");
    assert_eq!(config.data.get("MCP_MODE").map(String::as_str), Some("REAL"));
    assert_eq!(fake.requests(), [format!("GET /api/v1/namespaces/{NS}/configmaps/twisterlab-config")]);
    let err = cluster.config_map("postgres-config").await.expect_err("missing");
    assert_eq!(err.to_string(), "configmaps \"postgres-config\" not found");
}
