//! The read side of runbook steps: a deployment's pods, log tails, a described pod, rollout
//! status and waiting for it, a Service's endpoints, a Secret's key names, NetworkPolicies
//! and ConfigMaps.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{GetParams, ListParams};

use super::{KubeCluster, LOG_FILTER_SCAN_LINES, LOG_LIMIT_BYTES, LOG_SCAN_LIMIT_BYTES, selector_of};
use crate::cluster::RolloutProgressFn;
use crate::error::ClusterError;
use crate::mappers::{
    config_map_data, network_policy_summary, pod_description, pod_problem, pod_summary, rollout_status,
    service_endpoints,
};
use crate::model::{
    ConfigMapData, DeploymentPods, LogTail, NetworkPolicySummary, PodDescription, PodDiagnosis,
    RolloutStatus, RolloutWait, SecretKeyCheck, ServiceEndpoints,
};
use crate::requests::{
    CHECKABLE_SECRETS, GET_CONFIG_MAP, GET_POD, GET_SECRET, GET_SERVICE, LIST_ENDPOINT_SLICES, LIST_EVENTS,
    LIST_NETWORK_POLICIES, LIST_PODS,
};
use crate::secret_keys::SecretKeyNames;
use crate::validate::{
    FieldError, validate_data_key, validate_log_filter, validate_log_lines, validate_object_name,
    validate_rollout_wait,
};

impl KubeCluster {
    pub(super) async fn list_deployment_pods(&self, name: &str) -> Result<DeploymentPods, ClusterError> {
        validate_object_name("deployment", name)?;
        let deployment = self.get_deployment(name).await?;
        let selector = selector_of(&deployment, name)?.to_string();
        let list = self
            .pods_api()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_PODS, None))?;
        let mut pods: Vec<PodDiagnosis> = list
            .items
            .iter()
            .map(|pod| {
                let pod = pod_summary(pod);
                PodDiagnosis { problem: pod_problem(&pod), pod }
            })
            .collect();
        pods.sort_by(|a, b| a.pod.name.cmp(&b.pod.name));
        Ok(DeploymentPods { deployment: name.to_owned(), selector, pods })
    }

    pub(super) async fn read_log_tail(
        &self,
        target: &str,
        filter: Option<&str>,
        lines: u32,
    ) -> Result<LogTail, ClusterError> {
        validate_object_name("deployment or pod", target)?;
        let lines = validate_log_lines(i64::from(lines))?;
        if let Some(filter) = filter {
            validate_log_filter(filter)?;
        }
        let pod = self.resolve_pod(target).await?;
        let (tail, limit) = match filter {
            Some(_) => (LOG_FILTER_SCAN_LINES, LOG_SCAN_LIMIT_BYTES),
            None => (i64::from(lines), LOG_LIMIT_BYTES),
        };
        let (pod, container, text) = self.read_log(&pod, tail, limit).await?;
        let truncated = i64::try_from(text.len()).unwrap_or(i64::MAX) >= limit;
        Ok(log_tail(pod, container, &text, filter, lines, truncated))
    }

    pub(super) async fn describe(&self, name: &str) -> Result<PodDescription, ClusterError> {
        validate_object_name("pod", name)?;
        let pod =
            self.pods_api().get(name).await.map_err(|e| ClusterError::from_kube(e, &GET_POD, Some(name)))?;
        // The uid keeps events of an earlier pod with the same name (StatefulSets) out.
        let mut fields = format!("involvedObject.kind=Pod,involvedObject.name={name}");
        if let Some(uid) = &pod.metadata.uid {
            fields.push_str(",involvedObject.uid=");
            fields.push_str(uid);
        }
        let events = self
            .api::<Event>()
            .list(&ListParams::default().fields(&fields))
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_EVENTS, None))?;
        Ok(pod_description(&pod, &events.items))
    }

    pub(super) async fn read_rollout_status(&self, name: &str) -> Result<RolloutStatus, ClusterError> {
        validate_object_name("deployment", name)?;
        Ok(rollout_status(&self.get_deployment(name).await?))
    }

    pub(super) async fn wait_rollout(
        &self,
        name: &str,
        timeout: Duration,
        progress: RolloutProgressFn<'_>,
    ) -> Result<RolloutWait, ClusterError> {
        validate_object_name("deployment", name)?;
        validate_rollout_wait(timeout)?;
        let started = tokio::time::Instant::now();
        let mut last = None;
        let mut last_error = None;
        let polled =
            tokio::time::timeout(timeout, self.poll_rollout(name, progress, &mut last, &mut last_error))
                .await;
        match (polled, last) {
            (Ok(finished), _) => {
                finished.map(|last| RolloutWait { last, timed_out: false, waited: started.elapsed() })
            }
            (Err(_), Some(last)) => Ok(RolloutWait { last, timed_out: true, waited: timeout }),
            (Err(_), None) => Err(last_error.unwrap_or(ClusterError::Timeout { after: timeout })),
        }
    }

    /// Polls until the rollout is finished, keeping the last snapshot (and the last passing
    /// failure) where the caller can still read them when its timeout ends the poll.
    async fn poll_rollout(
        &self,
        name: &str,
        progress: RolloutProgressFn<'_>,
        last: &mut Option<RolloutStatus>,
        last_error: &mut Option<ClusterError>,
    ) -> Result<RolloutStatus, ClusterError> {
        loop {
            match self.bounded(self.read_rollout_status(name)).await {
                Ok(status) => {
                    if last.as_ref() != Some(&status) {
                        progress(&status);
                    }
                    if status.is_finished() {
                        return Ok(status);
                    }
                    *last = Some(status);
                }
                // A slow or failing API server during a rollout is worth another poll; a
                // missing deployment or a refusal is not.
                Err(err @ (ClusterError::Timeout { .. } | ClusterError::ServerError { .. })) => {
                    tracing::debug!(k8s.deployment = name, error = %err, "rollout poll failed, polling again");
                    *last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    pub(super) async fn read_service_endpoints(&self, name: &str) -> Result<ServiceEndpoints, ClusterError> {
        validate_object_name("service", name)?;
        let service = self
            .api::<Service>()
            .get(name)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_SERVICE, Some(name)))?;
        let slices = self
            .api::<EndpointSlice>()
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={name}")))
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_ENDPOINT_SLICES, None))?;
        Ok(service_endpoints(&service, &slices.items))
    }

    pub(super) async fn check_secret_key(
        &self,
        name: &str,
        key: &str,
    ) -> Result<SecretKeyCheck, ClusterError> {
        validate_object_name("secret", name)?;
        validate_data_key("key", key)?;
        if !GET_SECRET.allows_name(name) {
            return Err(FieldError::new(
                "secret",
                format!(
                    "the portal may only check the keys of {} (the Role grants reading no other Secret)",
                    CHECKABLE_SECRETS.join(", ")
                ),
            )
            .into());
        }
        let url = format!("/api/v1/namespaces/{}/secrets", self.namespace);
        let request = kube::core::Request::new(url)
            .get(name, &GetParams::default())
            .map_err(|e| FieldError::new("secret", e.to_string()))?;
        // Not `Client::request`: it logs the whole body when it cannot parse it.
        let body = self
            .client
            .request_text(request)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_SECRET, Some(name)))?;
        let parsed = SecretKeyNames::parse(&body);
        drop(body);
        let keys = parsed
            .map_err(|_| {
                ClusterError::InvalidResponse(format!(
                    "the answer for Secret {name} is not a readable Secret (its content is not shown)"
                ))
            })?
            .into_sorted();
        Ok(SecretKeyCheck {
            secret: name.to_owned(),
            key: key.to_owned(),
            present: keys.iter().any(|k| k == key),
            keys,
        })
    }

    pub(super) async fn list_network_policies(&self) -> Result<Vec<NetworkPolicySummary>, ClusterError> {
        let list = self
            .api::<NetworkPolicy>()
            .list(&ListParams::default())
            .await
            .map_err(|e| ClusterError::from_kube(e, &LIST_NETWORK_POLICIES, None))?;
        let mut summaries: Vec<_> = list.items.iter().map(network_policy_summary).collect();
        summaries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(summaries)
    }

    pub(super) async fn read_config_map(&self, name: &str) -> Result<ConfigMapData, ClusterError> {
        validate_object_name("configmap", name)?;
        let config_map = self
            .api::<ConfigMap>()
            .get(name)
            .await
            .map_err(|e| ClusterError::from_kube(e, &GET_CONFIG_MAP, Some(name)))?;
        Ok(config_map_data(&config_map))
    }
}

/// The last `lines` lines of `text` (only those containing `filter`, ignoring case, when
/// one is given).
fn log_tail(
    pod: String,
    container: Option<String>,
    text: &str,
    filter: Option<&str>,
    lines: u32,
    truncated: bool,
) -> LogTail {
    let all: Vec<&str> = text.lines().collect();
    let filter = filter.map(str::trim).filter(|f| !f.is_empty());
    let needle = filter.map(str::to_lowercase);
    let matching: Vec<&str> = match &needle {
        Some(needle) => all.iter().copied().filter(|line| line.to_lowercase().contains(needle)).collect(),
        None => all.clone(),
    };
    let keep = usize::try_from(lines).unwrap_or(usize::MAX);
    let kept = &matching[matching.len().saturating_sub(keep)..];
    LogTail {
        pod,
        container,
        filter: filter.map(str::to_owned),
        lines: kept.iter().map(|line| (*line).to_owned()).collect(),
        scanned_lines: all.len(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str =
        "GET /health 200\nERROR db timeout\nGET /health 200\nerror: pool exhausted\nWarning: slow\n";

    #[test]
    fn a_filter_keeps_the_last_matching_lines_ignoring_case() {
        let tail = log_tail("api-1".into(), Some("api".into()), LOG, Some(" Error "), 100, false);
        assert_eq!(tail.lines, ["ERROR db timeout", "error: pool exhausted"]);
        assert_eq!(tail.filter.as_deref(), Some("Error"));
        assert_eq!(tail.scanned_lines, 5);

        let last = log_tail("api-1".into(), None, LOG, Some("error"), 1, false);
        assert_eq!(last.lines, ["error: pool exhausted"]);
    }

    #[test]
    fn without_a_filter_the_last_lines_are_kept_in_order() {
        let tail = log_tail("api-1".into(), None, LOG, None, 2, false);
        assert_eq!(tail.lines, ["error: pool exhausted", "Warning: slow"]);
        assert_eq!(tail.filter, None);
        let empty = log_tail("api-1".into(), None, "", Some("error"), 10, false);
        assert!(empty.lines.is_empty());
        assert_eq!(empty.scanned_lines, 0);
    }
}
